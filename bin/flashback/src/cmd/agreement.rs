//! `flashback sla status|access|terminate|renew`: an agreement's life after the proposal
//! (through `flashback-client`, which derives the status and opens the grant).

use std::time::Duration;

use flashback_client::{AgreementRecord, AgreementStatus, Client, human, parse_duration};
use flashback_types::clock::now;
use flashback_types::keyfile::{self, Existing};
use serde_json::json;

use crate::cli_sla::{SlaAccessArgs, SlaIdArgs, SlaRenewArgs, SlaTerminateArgs};
use crate::cmd::ids;
use crate::cmd::keys::read_key_file;
use crate::cmd::node::node_addr;
use crate::cmd::sla::propose_and_report;
use crate::output;

/// The status as JSON: its code, and for a rejection or termination what there is to say.
pub(crate) fn status_json(status: &AgreementStatus) -> serde_json::Value {
    match status {
        AgreementStatus::Rejected(reason) => json!({"status": "rejected", "reason": reason.code()}),
        AgreementStatus::Terminated { at, by, reason } => json!({
            "status": "terminated", "terminated_at": at, "terminated_by": by.to_string(),
            "reason": reason,
        }),
        other => json!({"status": other.code()}),
    }
}

/// The status in words.
pub(crate) fn status_text(status: &AgreementStatus) -> String {
    match status {
        AgreementStatus::Rejected(reason) => format!("rejected ({})", reason.code()),
        AgreementStatus::Terminated { at, by, reason } => format!(
            "terminated {} by {}: {reason}",
            human::time(*at),
            by.fmt_short()
        ),
        other => other.code().to_owned(),
    }
}

pub(crate) async fn status(args: SlaIdArgs) -> anyhow::Result<()> {
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let record = async {
        let id = ids::agreement(&client, &args.agreement).await?;
        anyhow::Ok((id, client.agreement_record(id, Duration::ZERO).await?))
    }
    .await;
    client.close().await;
    let (id, record) = record?;
    let status = record.status(now());
    let grant = record.grant().map(|g| g.body().protocol.name().to_owned());
    if args.json {
        let mut v = status_json(&status);
        v["agreement_id"] = json!(id.to_string());
        v["access"] = json!(grant);
        if let Some(a) = &record.agreement {
            v["consumer"] = json!(a.consumer().to_string());
            v["provider"] = json!(a.provider().to_string());
            v["start"] = json!(a.proposal().body().start);
            v["end"] = json!(a.expires_at());
        }
        return output::json(&v);
    }
    describe(&record, &status, grant.as_deref());
    Ok(())
}

fn describe(record: &AgreementRecord, status: &AgreementStatus, grant: Option<&str>) {
    output::line(format_args!(
        "agreement {}: {}",
        record.id,
        status_text(status)
    ));
    if let Some(a) = &record.agreement {
        let p = a.proposal().body();
        output::line(format_args!(
            "  consumer {}  provider {}  {} from {} to {}",
            p.consumer.fmt_short(),
            p.provider.fmt_short(),
            human::volume(p.volume, p.price.unit),
            human::time(p.start),
            human::time(p.end())
        ));
    }
    match grant {
        Some(protocol) => output::line(format_args!(
            "  access: {protocol} (flashback sla access {} --key <consumer key>)",
            record.id
        )),
        None if *status == AgreementStatus::Active => {
            output::line("  access: none delivered by the provider")
        }
        None => {}
    }
}

pub(crate) async fn access(args: SlaAccessArgs) -> anyhow::Result<()> {
    let key = read_key_file(&args.key)?;
    let wait = Duration::from_secs(parse_duration("--wait", &args.wait)?);
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let credentials = async {
        let id = ids::agreement(&client, &args.agreement).await?;
        anyhow::Ok((id, client.access(&key, id, wait).await?))
    }
    .await;
    client.close().await;
    let (id, c) = credentials?;
    if let Some(path) = &args.secret_file {
        keyfile::write_secret(path, c.secret.expose().as_bytes(), Existing::Keep)
            .map_err(|e| anyhow::anyhow!("cannot write the secret to {}: {e}", path.display()))?;
    }
    let expires = (c.expires_at != 0).then_some(c.expires_at);
    if args.json {
        let mut v = json!({
            "agreement_id": id.to_string(),
            "protocol": c.protocol.name(),
            "endpoint": c.endpoint.as_str(),
            "bucket": c.bucket.as_str(),
            "region": c.region.as_str(),
            "access_key": c.access_key.as_str(),
            "expires_at": expires,
            "secret_file": args.secret_file.as_ref().map(|p| p.display().to_string()),
        });
        if args.show_secret {
            v["secret"] = json!(c.secret.expose());
        }
        return output::json(&v);
    }
    output::line(format_args!("protocol    {}", c.protocol.name()));
    output::line(format_args!("endpoint    {}", c.endpoint));
    for (label, value) in [
        ("bucket     ", c.bucket.as_str()),
        ("region     ", c.region.as_str()),
        ("access key ", c.access_key.as_str()),
    ] {
        if !value.is_empty() {
            output::line(format_args!("{label} {value}"));
        }
    }
    if let Some(at) = expires {
        output::line(format_args!("expires     {}", human::time(at)));
    }
    match (&args.secret_file, args.show_secret) {
        (_, true) => output::line(format_args!("secret      {}", c.secret.expose())),
        (Some(path), false) => {
            output::line(format_args!("secret      written to {}", path.display()))
        }
        (None, false) => output::line(
            "secret      (hidden: --show-secret prints it, --secret-file FILE writes it)",
        ),
    }
    Ok(())
}

pub(crate) async fn terminate(args: SlaTerminateArgs) -> anyhow::Result<()> {
    let key = read_key_file(&args.key)?;
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let result = async {
        let id = ids::agreement(&client, &args.agreement).await?;
        anyhow::Ok((id, client.terminate(&key, id, &args.reason).await?))
    }
    .await;
    client.close().await;
    let (id, termination) = result?;
    let t = termination.body();
    if args.json {
        return output::json(&json!({
            "agreement_id": id.to_string(),
            "termination_id": termination.id().to_string(),
            "terminated_by": t.party.to_string(),
            "terminated_at": t.created_at,
            "reason": t.reason.as_str(),
            "status": "terminated",
        }));
    }
    output::line(format_args!(
        "terminated: agreement {id} ends now ({}); the provider releases its capacity and revokes \
         the access",
        t.reason
    ));
    Ok(())
}

pub(crate) async fn renew(args: SlaRenewArgs) -> anyhow::Result<()> {
    let key = read_key_file(&args.key)?;
    let duration = args
        .duration
        .as_deref()
        .map(|d| parse_duration("--duration", d))
        .transpose()?;
    let typed = args.duration.as_deref();
    propose_and_report(
        &args.node,
        &args.wait,
        typed,
        args.json,
        async |client, wait| {
            let id = ids::agreement(client, &args.agreement).await?;
            Ok(client
                .renew(&key, id, duration, wait.max(Duration::from_secs(60)))
                .await?)
        },
    )
    .await
}
