//! `flashback probe`: the consumer's QoS prober (through `flashback-client`). Says what it will
//! do, then reports each window as it starts and each attestation as it is signed (on stderr,
//! so that `--json` output stays one document).

use std::time::Duration;

use flashback_client::probe::{ProbeConfig, ProbeEvent, probe_agreements_with};
use flashback_client::{Client, human, parse_duration};
use flashback_types::clock::now;
use flashback_types::{QosAttestation, Signed};
use serde_json::json;

use crate::cli::ProbeArgs;
use crate::cmd::keys::read_key_file;
use crate::cmd::node::node_addr;
use crate::output;

fn report(event: ProbeEvent) {
    match event {
        ProbeEvent::Plan {
            targets,
            windows,
            window,
            probes_per_window,
        } => {
            if targets.is_empty() {
                output::progress("no live agreements to probe for this key");
                return;
            }
            let each = human::duration(window.as_secs());
            output::progress(format_args!(
                "probing {} for {} of {each} ({probes_per_window} reads each), about {} in all; \
                 an attestation is signed per agreement at the end of each window",
                human::count(targets.len(), "agreement"),
                human::count(windows as usize, "window"),
                human::duration(window.as_secs().saturating_mul(u64::from(windows)))
            ));
            for t in targets {
                output::progress(format_args!(
                    "  agreement {}  provider {}  {} {}",
                    t.agreement.fmt_short(),
                    t.provider.fmt_short(),
                    t.protocol,
                    t.endpoint
                ));
            }
        }
        // Never skipped silently: each agreement not probed is named, with the reason.
        ProbeEvent::Skipped(s) => output::progress(format_args!(
            "skipping agreement {} with {}{}: {}",
            s.agreement.fmt_short(),
            s.provider.fmt_short(),
            s.protocol
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default(),
            s.reason
        )),
        ProbeEvent::WindowStarted {
            window,
            of,
            ends_at,
        } => output::progress(format_args!(
            "window {window}/{of} started; it ends at {} (in {}){}",
            human::time(ends_at),
            human::duration(ends_at.saturating_sub(now())),
            if window < of {
                "; the next window starts then"
            } else {
                ""
            }
        )),
        ProbeEvent::Attested(a) => output::progress(format_args!("  {}", attested(&a))),
    }
}

/// One signed attestation, for people.
fn attested(a: &Signed<QosAttestation>) -> String {
    let b = a.body();
    format!(
        "attested {}: provider {} {}/{} reads ok, p50 {} ms, p95 {} ms",
        a.id().fmt_short(),
        b.subject.fmt_short(),
        b.successes,
        b.probes,
        b.latency_p50_ms,
        b.latency_p95_ms
    )
}

pub(crate) async fn run(args: ProbeArgs) -> anyhow::Result<()> {
    let key = read_key_file(&args.key)?;
    let config = ProbeConfig {
        window: Duration::from_secs(parse_duration("--window", &args.window)?),
        probes_per_window: args.probes,
        ..ProbeConfig::default()
    };
    let addr = node_addr(&args.node)?;
    let client = Client::connect(&[addr]).await?;
    let result = probe_agreements_with(&client, &key, &config, args.windows, report).await;
    client.close().await;
    let report = result?;
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
    if attestations.is_empty() {
        output::line("no attestations signed: no live agreement of this key could be probed");
    }
    for a in &attestations {
        output::line(attested(a));
    }
    Ok(())
}
