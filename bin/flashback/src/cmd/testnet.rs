//! `flashback testnet up|down|report`: the CLI face of `flashback-testnet`.

use std::sync::Arc;

use anyhow::Context;
use flashback_testnet::{Counts, Report, Scenario, Span, UpOptions};

use crate::cli::{TestnetDirArgs, TestnetUpArgs};
use crate::output;

pub(crate) async fn up(args: TestnetUpArgs) -> anyhow::Result<()> {
    // The runner's own logs: warnings only; progress goes to stderr, the summary to stdout.
    crate::cmd::init_logging("warn");
    let mut scenario = Scenario::load(&args.scenario)?;
    if let Some(n) = args.nodes {
        scenario.nodes = n;
    }
    if args.providers.is_some() {
        scenario.providers = args.providers;
    }
    if args.consumers.is_some() {
        scenario.consumers = args.consumers;
    }
    if let Some(d) = &args.duration {
        scenario.duration = d.parse::<Span>()?;
    }
    if args.seed.is_some() {
        scenario.seed = args.seed;
    }
    if let Some(links) = &args.links {
        scenario.links.mode = links.parse()?;
    }
    scenario.check()?;
    let binary = std::env::current_exe().context("cannot find the flashback binary itself")?;
    let options = UpOptions {
        scenario,
        out: args.out.clone(),
        binary,
    };
    let report =
        flashback_testnet::up(options, Arc::new(|line: &str| output::progress(line))).await?;
    if args.json {
        output::json(&report)?;
    } else {
        summary(&report);
    }
    if !report.ok {
        let failed: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name.as_str())
            .collect();
        anyhow::bail!(
            "the testnet failed: {}; details in {}",
            failed.join(", "),
            args.out.join(flashback_testnet::files::REPORT_MD).display()
        );
    }
    Ok(())
}

fn summary(r: &Report) {
    let p = &r.propagation;
    let c = &r.counts;
    output::line(format!(
        "{}: {} nodes, {} offers, {} agreements, {} attestations; {} rejected and {} ignored by the nodes",
        if r.ok { "PASS" } else { "FAIL" },
        c.nodes,
        c.offers,
        c.agreements,
        c.attestations,
        Counts::with_outcomes(c.rejected, &c.rejected_by),
        Counts::with_outcomes(c.ignored, &c.ignored_by)
    ));
    output::line(format!(
        "propagation: p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} samples, {} missing)",
        p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms, p.samples, p.missing
    ));
    let v = &r.convergence;
    output::line(format!(
        "convergence: {} ({} distinct digests){}",
        v.time_ms.map_or_else(
            || "none".to_owned(),
            |t| format!("{t} ms after the activity phase")
        ),
        v.distinct_digests,
        v.after_heal_ms
            .map(|t| format!("; {t} ms after the heal"))
            .unwrap_or_default()
    ));
    if !v.after_churn_ms.is_empty() {
        let times: Vec<String> = v
            .after_churn_ms
            .iter()
            .map(|t| t.map_or_else(|| "none".to_owned(), |t| format!("{t} ms")))
            .collect();
        output::line(format!("after churn restarts: {}", times.join(", ")));
    }
    for row in &r.reputation {
        output::line(format!(
            "reputation {} {:<8} {} ({}/{} probes ok){}",
            row.node,
            if row.flaky { "flaky" } else { "healthy" },
            row.score
                .map_or_else(|| "unrated".to_owned(), |s| format!("{s:.3}")),
            row.successes,
            row.probes,
            if row.flaky {
                format!(", failure rate {:.2}", row.failure_rate)
            } else {
                String::new()
            }
        ));
    }
    if let Some(deals) = &r.deals {
        for d in &deals.deals {
            let consumer = d.consumer.get(..12).unwrap_or(&d.consumer);
            if let Some(e) = &d.error {
                output::line(format!("deal {consumer}… (home {}): none: {e}", d.home));
                continue;
            }
            let held: Vec<String> = d
                .agreements
                .iter()
                .map(|a| format!("{} {}", a.node, a.region))
                .collect();
            let bad: Vec<String> = d
                .bad
                .iter()
                .map(|b| format!("{} {} {}", b.quality, b.node, b.outcome))
                .collect();
            output::line(format!(
                "deal {consumer}… (home {}): {}/{} agreements ({}), total {}; {}",
                d.home,
                d.agreements.len(),
                d.wanted,
                held.join(", "),
                flashback_client::human::amount(d.total_cost, &d.asset),
                bad.join(", ")
            ));
        }
    }
    for check in &r.checks {
        output::line(format!(
            "{} {}: {}",
            if check.ok { "ok  " } else { "FAIL" },
            check.name,
            check.detail
        ));
    }
    output::line(format!("report: {}/report.md", r.run.out));
}

pub(crate) fn down(args: &TestnetDirArgs) -> anyhow::Result<()> {
    let report = flashback_testnet::down(&args.out)?;
    if args.json {
        return output::json(&report);
    }
    if let Some(pid) = report.runner {
        output::line(format!(
            "asked the testnet runner still running (pid {pid}) to stop; it stopped its nodes"
        ));
    }
    if !report.netns_removed.is_empty() {
        output::line(format!(
            "removed {} network namespaces and links: {}",
            report.netns_removed.len(),
            report.netns_removed.join(", ")
        ));
    }
    if report.stopped.is_empty() && report.runner.is_none() && report.netns_removed.is_empty() {
        output::line(format!("nothing was running from {}", args.out.display()));
    } else if !report.stopped.is_empty() {
        output::line(format!(
            "stopped {} processes: {}",
            report.stopped.len(),
            report.stopped.join(", ")
        ));
        if !report.forced.is_empty() {
            output::line(format!("killed with SIGKILL: {}", report.forced.join(", ")));
        }
    }
    Ok(())
}

pub(crate) fn report(args: &TestnetDirArgs) -> anyhow::Result<()> {
    let report = flashback_testnet::render(&args.out)?;
    if args.json {
        return output::json(&report);
    }
    output::line(format!(
        "wrote {} and the plots in {}",
        flashback_testnet::files::REPORT_MD,
        args.out.display()
    ));
    Ok(())
}
