//! `flashback register providers|consumers`: light-client commands (through
//! `flashback-client`).

use flashback_client::Client;
use flashback_types::trust::RegisterEntry;
use flashback_types::{RegisterQuery, RegisterRole, TrustStore};
use serde_json::{Value, json};

use crate::cli_trust::RegisterArgs;
use crate::cmd::cert::{cert_json, cert_line, pages};
use crate::cmd::node::node_addr;
use crate::output;

pub(crate) async fn run(role: RegisterRole, args: RegisterArgs) -> anyhow::Result<()> {
    let query = RegisterQuery {
        role,
        claim: args
            .claim
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--claim: {e}"))?,
        issuer: args
            .issuer
            .as_deref()
            .map(|n| n.trim().try_into())
            .transpose()
            .map_err(|e| anyhow::anyhow!("--issuer: {e}"))?,
        include_uncertified: args.all,
        ..RegisterQuery::default()
    };
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let result = pages(args.limit, |after| {
        let query = RegisterQuery {
            after,
            ..query.clone()
        };
        let client = &client;
        async move {
            let page = client.register(&query).await?;
            Ok((page.entries, page.trust, page.next))
        }
    })
    .await;
    client.close().await;
    let (trust, entries) = result?;
    let role_name = match role {
        RegisterRole::Providers => "providers",
        RegisterRole::Consumers => "consumers",
        RegisterRole::Any => "keys",
    };
    if args.json {
        let items: Vec<Value> = entries.iter().map(|e| entry_json(e, &trust)).collect();
        return output::json(&json!({ "role": role_name, "entries": items }));
    }
    if entries.is_empty() {
        output::line(format_args!(
            "no certified {role_name} match (by this node's trust store: `flashback trust list \
             --node <addr>` shows it)"
        ));
    }
    for e in &entries {
        let held: Vec<String> = e
            .held
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        output::line(format_args!(
            "{}  {}",
            e.subject,
            if held.is_empty() {
                "holds no claim".into()
            } else {
                held.join(", ")
            }
        ));
        for c in &e.certificates {
            output::line(format_args!("  {}", cert_line(c, &trust)));
        }
    }
    Ok(())
}

fn entry_json(e: &RegisterEntry, trust: &TrustStore) -> Value {
    json!({
        "subject": e.subject.to_string(),
        "claims": e.held.iter().map(|c| format!("{}={}", c.name, c.value)).collect::<Vec<_>>(),
        "certificates": e.certificates.iter().map(|c| cert_json(c, trust)).collect::<Vec<_>>(),
    })
}
