//! `flashback compliance verify`: a light-client command (through `flashback-client`).

use std::time::Duration;

use flashback_client::http::HttpClient;
use flashback_client::{Client, DocumentOutcome, parse_duration, parse_size};
use serde_json::json;

use crate::cli_trust::ComplianceVerifyArgs;
use crate::cmd::cert::parse_key;
use crate::cmd::node::node_addr;
use crate::output;

pub(crate) async fn verify(args: ComplianceVerifyArgs) -> anyhow::Result<()> {
    let provider = parse_key("provider key", &args.provider)?;
    let max_bytes = usize::try_from(parse_size("--max-size", &args.max_size)?)?;
    let http = HttpClient::new(Duration::from_secs(parse_duration(
        "--timeout",
        &args.timeout,
    )?));
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let result = client.verify_compliance(provider, &http, max_bytes).await;
    client.close().await;
    let report = result?;
    let claim = |c: &flashback_types::Claim| format!("{}={}", c.name, c.value);
    if args.json {
        output::json(&json!({
            "provider": provider.to_string(),
            "passed": report.passed(),
            "declared_jurisdictions": report.declared.iter().map(|j| j.as_str()).collect::<Vec<_>>(),
            "verified": report.verified.iter().map(claim).collect::<Vec<_>>(),
            "documents": report.documents.iter().map(|d| json!({
                "title": d.document.title.as_str(),
                "url": d.document.url.as_str(),
                "digest": d.document.digest.to_string(),
                "offers": d.offers.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
                "outcome": d.outcome.code(),
                "detail": detail(&d.outcome),
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        let declared: Vec<&str> = report.declared.iter().map(|j| j.as_str()).collect();
        let verified: Vec<String> = report.verified.iter().map(claim).collect();
        output::line(format_args!("provider {provider}"));
        output::line(format_args!(
            "  jurisdictions declared: {}",
            if declared.is_empty() {
                "none".into()
            } else {
                declared.join(", ")
            }
        ));
        output::line(format_args!(
            "  verified by trusted certificates: {}",
            if verified.is_empty() {
                "none".into()
            } else {
                verified.join(", ")
            }
        ));
        if report.documents.is_empty() {
            output::line("  no compliance documents declared");
        }
        for d in &report.documents {
            output::line(format_args!(
                "  {:<11} {:?} {}{}",
                d.outcome.code(),
                d.document.title.as_str(),
                d.document.url,
                detail(&d.outcome)
                    .map(|t| format!(": {t}"))
                    .unwrap_or_default()
            ));
        }
    }
    let failed: Vec<String> = report
        .documents
        .iter()
        .filter(|d| d.outcome != DocumentOutcome::Match)
        .map(|d| {
            format!(
                "{:?} ({}: {})",
                d.document.title.as_str(),
                d.document.url,
                d.outcome.code()
            )
        })
        .collect();
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} compliance documents did not check out: {}",
            failed.len(),
            report.documents.len(),
            failed.join("; ")
        );
    }
    Ok(())
}

fn detail(outcome: &DocumentOutcome) -> Option<String> {
    match outcome {
        DocumentOutcome::Match => None,
        DocumentOutcome::Mismatch { got, bytes } => Some(format!(
            "served {bytes} bytes with blake3 {got}, not the signed digest"
        )),
        DocumentOutcome::Unreachable(why) | DocumentOutcome::Unsupported(why) => Some(why.clone()),
    }
}
