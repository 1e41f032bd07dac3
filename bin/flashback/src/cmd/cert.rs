//! `flashback cert issue|revoke|list|show`: light-client commands (through `flashback-client`).

use std::str::FromStr;

use anyhow::Context;
use flashback_api::view::CertificateView;
use flashback_client::{Certify, Client, human, parse_duration};
use flashback_types::trust::Judged;
use flashback_types::{BoundedVec, CertQuery, Hash32, PublicKey, TrustStore};
use serde_json::{Value, json};

use crate::cli_trust::{CertIssueArgs, CertListArgs, CertRevokeArgs, CertShowArgs};
use crate::cmd::keys::read_key_file;
use crate::cmd::node::node_addr;
use crate::output;

/// A key given on the command line.
pub(crate) fn parse_key(flag: &str, text: &str) -> anyhow::Result<PublicKey> {
    PublicKey::from_str(text.trim()).map_err(|e| anyhow::anyhow!("{flag} {text:?}: {e}"))
}

fn parse_id(text: &str) -> anyhow::Result<Hash32> {
    Hash32::from_str(text.trim())
        .map_err(|e| anyhow::anyhow!("{text:?} is not a certificate id (64 hex): {e}"))
}

/// `--evidence`: a blake3 as 64 hex, or a file whose blake3 is taken.
fn evidence(text: &str) -> anyhow::Result<Hash32> {
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return parse_id(text);
    }
    let bytes = std::fs::read(text).with_context(|| {
        format!("--evidence {text:?}: not a blake3 (64 hex), and cannot read it as a file")
    })?;
    Ok(Hash32::of(&bytes))
}

/// A name for an issuer: its name in `trust`, else its short key.
fn issuer_name(trust: &TrustStore, key: &PublicKey) -> String {
    trust
        .issuer(key)
        .map_or_else(|| key.fmt_short(), |i| i.name.to_string())
}

/// A judged certificate as JSON (the same shape in `cert`, `register` and `provider show`).
pub(crate) fn cert_json(c: &Judged, trust: &TrustStore) -> Value {
    serde_json::to_value(CertificateView::new(c, trust)).unwrap_or_default()
}

/// A judged certificate on one line.
pub(crate) fn cert_line(c: &Judged, trust: &TrustStore) -> String {
    let b = c.certificate.body();
    let claims: Vec<String> = b
        .claims
        .iter()
        .map(|x| format!("{}={}", x.name, x.value))
        .collect();
    format!(
        "{}  about {}  by {}  {}  expires {}  {}",
        c.certificate.id().fmt_short(),
        b.subject.fmt_short(),
        issuer_name(trust, &b.issuer),
        claims.join(","),
        human::time(b.expires_at),
        c.status
    )
}

pub(crate) async fn issue(args: CertIssueArgs) -> anyhow::Result<()> {
    let key = read_key_file(&args.key)?;
    let certify = Certify {
        subject: parse_key("--subject", &args.subject)?,
        claims: args.claims.clone(),
        valid_for: parse_duration("--expires", &args.expires)?,
        evidence: args.evidence.as_deref().map(evidence).transpose()?,
        serial: args.serial,
    };
    // Checked before connecting: a mistake is reported without a node.
    certify.to_certificate(key.public(), flashback_types::clock::now())?;
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let result = client.issue_certificate(&key, &certify).await;
    client.close().await;
    let (cert, submitted) = result?;
    let b = cert.body();
    let claims: Vec<String> = b
        .claims
        .iter()
        .map(|x| format!("{}={}", x.name, x.value))
        .collect();
    if args.json {
        return output::json(&json!({
            "id": submitted.id.to_string(),
            "issuer": b.issuer.to_string(),
            "subject": b.subject.to_string(),
            "claims": claims,
            "serial": b.serial,
            "evidence": b.evidence.map(|e| e.to_string()),
            "expires_at": b.expires_at,
            "duplicate": submitted.duplicate,
        }));
    }
    output::line(format_args!(
        "issued certificate {} about {}: {} (expires {})",
        submitted.id,
        b.subject,
        claims.join(", "),
        human::time(b.expires_at)
    ));
    Ok(())
}

pub(crate) async fn revoke(args: CertRevokeArgs) -> anyhow::Result<()> {
    let key = read_key_file(&args.key)?;
    let id = parse_id(&args.id)?;
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let result = client.revoke_certificate(&key, id, &args.reason).await;
    client.close().await;
    let (revocation, submitted) = result?;
    if args.json {
        return output::json(&json!({
            "id": submitted.id.to_string(),
            "certificate": id.to_string(),
            "reason": revocation.body().reason.as_str(),
            "duplicate": submitted.duplicate,
        }));
    }
    output::line(format_args!(
        "revoked certificate {id}: {} (revocation {})",
        revocation.body().reason,
        submitted.id
    ));
    Ok(())
}

pub(crate) async fn list(args: CertListArgs) -> anyhow::Result<()> {
    let mut query = CertQuery {
        claim: args
            .claim
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--claim: {e}"))?,
        trusted_only: args.trusted,
        ..CertQuery::default()
    };
    if let Some(subject) = &args.subject {
        query.subjects = BoundedVec::try_from_vec(vec![parse_key("--subject", subject)?])?;
    }
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let result = async {
        if let Some(issuer) = &args.issuer {
            let key = match PublicKey::from_str(issuer.trim()) {
                Ok(key) => key,
                Err(_) => client.node_trust().await?.named(issuer.trim())?.key,
            };
            query.issuers = BoundedVec::try_from_vec(vec![key])?;
        }
        pages(args.limit, |after| {
            let query = CertQuery {
                after,
                ..query.clone()
            };
            let client = &client;
            async move {
                let page = client.certificates(&query).await?;
                Ok((page.certificates, page.trust, page.next))
            }
        })
        .await
    }
    .await;
    client.close().await;
    let (trust, found) = result?;
    if args.json {
        let items: Vec<Value> = found.iter().map(|c| cert_json(c, &trust)).collect();
        return output::json(&items);
    }
    if found.is_empty() {
        output::line("no certificates match");
    }
    for c in &found {
        output::line(cert_line(c, &trust));
    }
    Ok(())
}

/// Items from successive pages until `limit` or the last page, and the trust store of the
/// last: `fetch(after)` asks for the page after a cursor.
pub(crate) async fn pages<T, C, F, Fut>(
    limit: usize,
    mut fetch: F,
) -> anyhow::Result<(TrustStore, Vec<T>)>
where
    F: FnMut(Option<C>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(Vec<T>, TrustStore, Option<C>)>>,
{
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let (page, trust, next) = fetch(after.take()).await?;
        items.extend(page);
        match next {
            Some(cursor) if items.len() < limit => after = Some(cursor),
            _ => {
                items.truncate(limit);
                return Ok((trust, items));
            }
        }
    }
}

pub(crate) async fn show(args: CertShowArgs) -> anyhow::Result<()> {
    let id = parse_id(&args.id)?;
    let query = CertQuery {
        ids: BoundedVec::try_from_vec(vec![id])?,
        ..CertQuery::default()
    };
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let result = client.certificates(&query).await;
    client.close().await;
    let page = result?;
    let Some(c) = page.certificates.first() else {
        anyhow::bail!("the node knows no certificate {id}: check the id (`flashback cert list`)");
    };
    if args.json {
        return output::json(&cert_json(c, &page.trust));
    }
    let b = c.certificate.body();
    output::line(format_args!("certificate {id}"));
    output::line(format_args!(
        "  issuer   {} ({})",
        b.issuer,
        trust_label(&page.trust, &b.issuer)
    ));
    output::line(format_args!("  subject  {}", b.subject));
    for x in b.claims.iter() {
        output::line(format_args!("  claim    {}={}", x.name, x.value));
    }
    output::line(format_args!("  serial   {}", b.serial));
    if let Some(e) = b.evidence {
        output::line(format_args!("  evidence blake3 {e}"));
    }
    output::line(format_args!("  issued   {}", human::time(b.created_at)));
    output::line(format_args!("  expires  {}", human::time(b.expires_at)));
    output::line(format_args!("  status   {}", c.status));
    if let Some(r) = &c.revocation {
        output::line(format_args!(
            "  revoked  {} by revocation {}",
            human::time(r.body().created_at),
            r.id()
        ));
    }
    Ok(())
}

/// How the node's trust store sees an issuer: its name, roles and schemes, or untrusted.
fn trust_label(trust: &TrustStore, key: &PublicKey) -> String {
    match trust.issuer(key) {
        Some(i) => {
            let roles: Vec<&str> = i.roles.iter().map(|r| r.name()).collect();
            let schemes: Vec<&str> = i.schemes.iter().map(|s| s.as_str()).collect();
            format!(
                "trusted as {:?}: {}{}",
                i.name.as_str(),
                roles.join(", "),
                if schemes.is_empty() {
                    String::new()
                } else {
                    format!(" for {}", schemes.join(", "))
                }
            )
        }
        None => "not in the node's trust store".into(),
    }
}
