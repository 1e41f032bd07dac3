//! `flashback probe`: the consumer's QoS prober (through `flashback-client`).

use std::time::Duration;

use flashback_client::Client;
use flashback_client::parse_duration;
use flashback_client::probe::{ProbeConfig, probe_agreements};
use serde_json::json;

use crate::cli::ProbeArgs;
use crate::cmd::keys::read_key_file;
use crate::cmd::node::node_addr;
use crate::output;

pub(crate) async fn run(args: ProbeArgs) -> anyhow::Result<()> {
    let key = read_key_file(&args.key)?;
    let config = ProbeConfig {
        window: Duration::from_secs(parse_duration("--window", &args.window)?),
        probes_per_window: args.probes,
        ..ProbeConfig::default()
    };
    let addr = node_addr(&args.node)?;
    let client = Client::connect(&[addr]).await?;
    let result = probe_agreements(&client, &key, &config, args.windows).await;
    client.close().await;
    let report = result?;
    // Never skipped silently: each agreement not probed is named, with the reason.
    for s in &report.skipped {
        output::warn(format_args!(
            "not probed: agreement {} with {}{}: {}",
            s.agreement,
            s.provider.fmt_short(),
            s.protocol
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default(),
            s.reason
        ));
    }
    let attestations = report.attestations;
    if args.json {
        return output::json(
            &attestations
                .iter()
                .map(|a| {
                    let b = a.body();
                    json!({
                        "id": a.id().to_string(),
                        "subject": b.subject.to_string(),
                        "agreement": b.agreement.map(|x| x.to_string()),
                        "window_start": b.window_start,
                        "window_end": b.window_end,
                        "probes": b.probes,
                        "successes": b.successes,
                        "latency_p50_ms": b.latency_p50_ms,
                        "latency_p95_ms": b.latency_p95_ms,
                        "throughput_bytes_per_sec": b.throughput_bytes_per_sec,
                    })
                })
                .collect::<Vec<_>>(),
        );
    }
    if attestations.is_empty() && report.skipped.is_empty() {
        output::line("no live agreements to probe for this key");
    }
    for a in &attestations {
        let b = a.body();
        output::line(format_args!(
            "attested {}: provider {} {}/{} reads ok, p50 {} ms, p95 {} ms",
            a.id().fmt_short(),
            b.subject.fmt_short(),
            b.successes,
            b.probes,
            b.latency_p50_ms,
            b.latency_p95_ms
        ));
    }
    Ok(())
}
