//! After the nodes stopped: reputation, logs, checks and the report.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use flashback_node::prometheus;

use crate::observe::{Ctx, lock};
use crate::participants;
use crate::report::{
    self, Check, Convergence, Counts, PaymentConsumerRow, PaymentProviderRow, Processes, Report,
    ReputationRow, ResourceRow, Traced,
};
use crate::scenario::Scenario;

use super::{Plan, Played};

/// Reputation of every provider, as a node computes it (best first).
pub(super) async fn reputation(
    ctx: &Ctx,
    plan: &Plan,
    setup: &participants::Setup,
) -> Vec<ReputationRow> {
    let mut rows = Vec::new();
    let Some(&node) = ctx.up_nodes().first() else {
        return rows;
    };
    let Ok(client) = ctx.client(node).await else {
        return rows;
    };
    for (k, p) in plan.providers.iter().enumerate() {
        let report = match client.provider_report(p.key.public()).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "no provider report");
                continue;
            }
        };
        let r = &report.report;
        rows.push(ReputationRow {
            node: ctx.name(p.node),
            provider: p.key.public().to_string(),
            flaky: p.flaky,
            failure_rate: p.failure_rate,
            added_latency_ms: p.added_latency_ms,
            price: participants::usd(p.price).ok(),
            regions: p.regions.clone(),
            agreements: setup.deals.iter().filter(|d| d.provider == k).count(),
            counted: r.counted.len(),
            probes: r.counted.iter().map(|c| u64::from(c.probes)).sum(),
            successes: r.counted.iter().map(|c| u64::from(c.successes)).sum(),
            score: r.score,
            evidence: r.evidence.total,
            beta_mean: r.beta_mean,
            compliance: r.compliance,
        });
    }
    // Best first, the unrated last.
    rows.sort_by(|a, b| {
        let key = |s: Option<f64>| s.unwrap_or(f64::NEG_INFINITY);
        key(b.score).total_cmp(&key(a.score))
    });
    rows
}

fn read_logs(ctx: &Ctx) -> (Vec<HashMap<String, u64>>, HashMap<String, String>) {
    let dirs: Vec<PathBuf> = lock(&ctx.fleet)
        .members
        .iter()
        .map(|m| m.dir.clone())
        .collect();
    let mut logs = Vec::new();
    let mut kinds = HashMap::new();
    for dir in dirs {
        let text =
            std::fs::read_to_string(dir.join(flashback_node::APPLIED_LOG)).unwrap_or_default();
        let (first, k) = report::parse_applied_log(&text);
        logs.push(first);
        for (id, kind) in k {
            kinds.entry(id).or_insert(kind);
        }
    }
    (logs, kinds)
}

fn check(name: &str, ok: bool, detail: String) -> Check {
    Check {
        name: name.to_owned(),
        ok,
        detail,
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Reads the logs, computes the figures and the checks.
pub(super) fn finish(
    ctx: &Ctx,
    s: &Scenario,
    plan: &Plan,
    played: Played,
    forced: Vec<String>,
    left_running: Vec<u32>,
    out: &Path,
) -> Report {
    let (logs, kinds) = read_logs(ctx);
    let published = lock(&ctx.published).clone();
    let mut traced: Vec<Traced> = published
        .iter()
        .map(|p| Traced {
            id: p.id.clone(),
            kind: p.kind.to_owned(),
            origin_ms: p.at_ms,
            origin_node: Some(p.node),
        })
        .collect();
    // Objects the nodes made themselves (decisions, agreements, evidence): measured from
    // their first appearance, at the node that made them.
    let known: HashSet<&str> = published.iter().map(|p| p.id.as_str()).collect();
    for (id, kind) in &kinds {
        if known.contains(id.as_str()) {
            continue;
        }
        let first = logs
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.get(id).map(|t| (*t, i)))
            .min();
        if let Some((at, node)) = first {
            traced.push(Traced {
                id: id.clone(),
                kind: kind.clone(),
                origin_ms: at,
                origin_node: Some(node),
            });
        }
    }
    let propagation = report::propagation(&traced, &logs, &vec![true; logs.len()]);
    let by_rtt = ctx
        .wan
        .as_ref()
        .map(|w| report::by_rtt(&traced, &logs, &w.plan.rtt_ms, 40))
        .unwrap_or_default();

    let metric_sum = |verdict: &str| -> u64 {
        played
            .metrics
            .iter()
            .flatten()
            .map(|m| prometheus::sum(m, "flashback_objects_total", &[("verdict", verdict)]) as u64)
            .sum()
    };
    let metric_by_outcome = |verdict: &str| -> BTreeMap<String, u64> {
        let mut by = BTreeMap::new();
        for m in played.metrics.iter().flatten() {
            let groups = prometheus::group(
                m,
                "flashback_objects_total",
                &[("verdict", verdict)],
                "outcome",
            );
            for (outcome, n) in groups {
                *by.entry(outcome).or_insert(0) += n as u64;
            }
        }
        by
    };
    let count = |kind: &str| published.iter().filter(|p| p.kind == kind).count();
    let counts = Counts {
        nodes: ctx.nodes(),
        offers: count("offer"),
        offers_listed: played.offers_listed,
        proposals: played.setup.proposals,
        agreements: played.setup.deals.len(),
        rejected_proposals: played.setup.rejected,
        attestations: played.attestations,
        submit_failures: *lock(&ctx.submit_failures),
        accepted: metric_sum("accept"),
        rejected: metric_sum("reject"),
        ignored: metric_sum("ignore"),
        rejected_by: metric_by_outcome("reject"),
        ignored_by: metric_by_outcome("ignore"),
    };

    let distinct: HashSet<Option<&String>> =
        played.digests.iter().map(|d| d.digest.as_ref()).collect();
    let converged = played.final_convergence.is_some()
        && distinct.len() == 1
        && played.digests.iter().all(|d| d.digest.is_some());
    let convergence = Convergence {
        converged,
        time_ms: played.final_convergence.map(ms),
        distinct_digests: distinct.len(),
        digests: played.digests.clone(),
        after_churn_ms: played.events.churn.iter().map(|e| e.converged_ms).collect(),
        after_heal_ms: played
            .events
            .partition
            .as_ref()
            .and_then(|p| p.converged_after_heal_ms),
    };

    let mut flood = None;
    if let Some((mut f, from, until)) = played.events.flood.clone() {
        let honest: Vec<&str> = published
            .iter()
            .filter(|p| p.kind == "offer" && p.at_ms >= from && p.at_ms <= until)
            .map(|p| p.id.as_str())
            .collect();
        f.honest_offers = honest.len();
        f.honest_delivered_everywhere = honest
            .iter()
            .filter(|id| logs.iter().all(|l| l.contains_key(**id)))
            .count();
        f.republish.flagging_nodes = played
            .digests
            .iter()
            .filter(|d| d.flagged_providers > 0)
            .count();
        flood = Some(f);
    }

    let resources: Vec<ResourceRow> = {
        let fleet = lock(&ctx.fleet);
        fleet
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| ResourceRow {
                node: m.name.clone(),
                role: plan.roles[i].clone(),
                restarts: m.restarts,
                rss_max_mib: m.usage.rss_max_kib as f64 / 1024.0,
                rss_last_mib: m.usage.rss_last_kib as f64 / 1024.0,
                cpu_secs: m.usage.cpu_secs,
                cpu_percent: m.usage.cpu_percent(),
            })
            .collect()
    };
    let restarts: u32 = resources.iter().map(|r| r.restarts).sum();

    let mut checks = vec![
        check(
            "every listing converged",
            converged,
            format!(
                "{} distinct digest(s) among {} nodes; {}",
                distinct.len(),
                played.digests.len(),
                played.final_convergence.map_or_else(
                    || format!("not within {:?}", s.expect.converge_within.0),
                    |t| format!("agreed {} ms after the activity phase", ms(t))
                )
            ),
        ),
        check(
            "agreements made",
            counts.agreements >= s.expect.min_agreements,
            format!(
                "{} agreements of {} proposals (at least {} expected)",
                counts.agreements, counts.proposals, s.expect.min_agreements
            ),
        ),
        check(
            "attestations signed",
            counts.attestations >= s.expect.min_attestations,
            format!(
                "{} attestations (at least {} expected)",
                counts.attestations, s.expect.min_attestations
            ),
        ),
    ];
    let flaky: Vec<&ReputationRow> = played.reputation.iter().filter(|r| r.flaky).collect();
    let healthy: Vec<&ReputationRow> = played.reputation.iter().filter(|r| !r.flaky).collect();
    if s.expect.flaky_below_healthy && !flaky.is_empty() && !healthy.is_empty() {
        // An unrated provider fails the check: every provider was measured by the testnet's
        // consumers, which the nodes hold as their own keys.
        let worst_healthy = healthy
            .iter()
            .map(|r| r.score.unwrap_or(f64::NEG_INFINITY))
            .fold(f64::INFINITY, f64::min);
        let best_flaky = flaky
            .iter()
            .map(|r| r.score.unwrap_or(f64::NEG_INFINITY))
            .fold(f64::NEG_INFINITY, f64::max);
        let all_counted = played
            .reputation
            .iter()
            .all(|r| r.counted > 0 && r.score.is_some());
        checks.push(check(
            "flaky providers rank below healthy ones",
            best_flaky < worst_healthy && all_counted,
            format!(
                "best flaky score {best_flaky:.3} < worst healthy score {worst_healthy:.3}{}",
                if all_counted {
                    ""
                } else {
                    "; some provider has no counted attestation or is unrated"
                }
            ),
        ));
    }
    if let Some(spec) = &s.churn {
        let events = &played.events.churn;
        let all_converged = events.iter().all(|e| e.converged_ms.is_some());
        let worst = events.iter().filter_map(|e| e.converged_ms).max();
        checks.push(check(
            "converged after every churn restart",
            all_converged && events.len() == spec.kills,
            format!(
                "{} kills of {} planned; slowest convergence after a restart {}",
                events.len(),
                spec.kills,
                worst.map_or_else(|| "n/a".to_owned(), |w| format!("{w} ms"))
            ),
        ));
    }
    if let Some(p) = &played.events.partition {
        checks.push(check(
            "partition split, diverged and healed",
            p.split_verified && p.diverged && p.converged_after_heal_ms.is_some(),
            format!(
                "split verified: {}; diverged: {}; converged after heal: {}",
                p.split_verified,
                p.diverged,
                p.converged_after_heal_ms
                    .map_or_else(|| "no".to_owned(), |t| format!("{t} ms"))
            ),
        ));
    }
    if let Some(f) = flood.as_ref().filter(|f| f.stalled_handshakes > 0) {
        checks.push(check(
            "light clients reached the node under stalled handshakes",
            f.light_queries > 0 && f.light_queries_answered == f.light_queries,
            format!(
                "{}/{} light-client queries answered while {} stalled handshakes were held \
                 ({} opened in all)",
                f.light_queries_answered, f.light_queries, f.stalled_handshakes, f.stalled_opened
            ),
        ));
    }
    if let Some(f) = &flood {
        checks.push(check(
            "flood rejected, not relayed, honest offers delivered",
            f.rejected_at_target > 0
                && f.rejected_elsewhere == 0
                && f.honest_offers > 0
                && f.honest_delivered_everywhere == f.honest_offers,
            format!(
                "{} rejected at the target, {} elsewhere; {}/{} honest offers reached every node",
                f.rejected_at_target,
                f.rejected_elsewhere,
                f.honest_delivered_everywhere,
                f.honest_offers
            ),
        ));
        let r = &f.republish;
        let distinct: HashSet<u64> = r.seqs.iter().copied().collect();
        checks.push(check(
            "honest same-second republish never flagged",
            r.error.is_none() && r.seqs.len() == 4 && distinct.len() == 4 && r.flagging_nodes == 0,
            format!(
                "publish, publish, withdraw, publish within {} s at seqs {:?}{}; {} of {} nodes \
                 flag a provider",
                r.within_secs,
                r.seqs,
                r.error
                    .as_ref()
                    .map(|e| format!(" (stopped: {e})"))
                    .unwrap_or_default(),
                r.flagging_nodes,
                played.digests.len()
            ),
        ));
    }
    if let Some(w) = &played.withholding {
        let only_it = w.named == ["withholder"];
        checks.push(check(
            "withholding node named by a cross-check",
            w.error.is_none() && only_it && w.victim_offers > 0,
            match &w.error {
                Some(e) => format!("the cross-check could not run: {e}"),
                None => format!(
                    "named: {}; {} difference(s) held against a node, {:?}; the honest node \
                     lists {} offer(s) of the provider withheld",
                    if w.named.is_empty() {
                        "nobody".to_owned()
                    } else {
                        w.named.join(", ")
                    },
                    w.held,
                    w.gaps,
                    w.victim_offers
                ),
            },
        ));
    }
    let links = super::wan::links_report(s, ctx, None, Vec::new(), by_rtt);
    let traffic = super::wan::traffic(ctx, &played, counts.offers);
    let nat = super::wan::nat_report(ctx, plan, &played);
    if let Some(n) = &nat {
        let behind: Vec<&crate::report::NatRow> = n.nodes.iter().filter(|r| r.behind_nat).collect();
        let reserved = behind.iter().filter(|r| r.relay_reservations > 0).count();
        let relayed: u64 = n.nodes.iter().map(|r| r.relayed_connections).sum();
        checks.push(check(
            "nodes behind NAT reached through relays",
            reserved == behind.len() && relayed > 0,
            format!(
                "{reserved}/{} behind NAT held a relay reservation; {relayed} relayed connections",
                behind.len()
            ),
        ));
        let natted_providers: Vec<usize> = plan
            .providers
            .iter()
            .enumerate()
            .filter(|(_, p)| ctx.wan.as_ref().is_some_and(|w| w.plan.is_natted(p.node)))
            .map(|(k, _)| k)
            .collect();
        let answered = played
            .setup
            .deals
            .iter()
            .filter(|d| natted_providers.contains(&d.provider))
            .count();
        checks.push(check(
            "providers behind NAT published and answered proposals",
            natted_providers.is_empty() || answered > 0,
            format!(
                "{answered} agreements with the {} providers behind NAT",
                natted_providers.len()
            ),
        ));
        let ok: u64 = n.nodes.iter().map(|r| r.hole_punches_succeeded).sum();
        let failed: u64 = n.nodes.iter().map(|r| r.hole_punches_failed).sum();
        let direct: u64 = n.nodes.iter().map(|r| r.direct_after_relay).sum();
        checks.push(check(
            "peers reached through a relay, then directly, by hole punching",
            direct > 0 && ok > 0,
            format!(
                "{direct} times a node reached through a relay was then connected directly; \
                 hole punches: {ok} succeeded, {failed} failed (each with its reason in the NAT \
                 section)"
            ),
        ));
    }
    if let Some(pay) = &played.payments {
        let paid: u64 = pay.providers.iter().map(|r| r.paid).sum();
        checks.push(check(
            "consumers paid for delivered periods",
            pay.error.is_none() && paid > 0,
            format!(
                "{paid} USD cents paid by {} vouchers{}",
                pay.consumers.iter().map(|c| c.vouchers).sum::<usize>(),
                pay.error
                    .as_ref()
                    .map(|e| format!(" (stopped: {e})"))
                    .unwrap_or_default()
            ),
        ));
        let share = |flaky: bool| {
            pay.providers
                .iter()
                .filter(|r| r.flaky == flaky)
                .filter_map(PaymentProviderRow::earned_share)
                .collect::<Vec<f64>>()
        };
        let (flaky, healthy) = (share(true), share(false));
        if !flaky.is_empty() && !healthy.is_empty() {
            let best_flaky = flaky.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let worst_healthy = healthy.iter().copied().fold(f64::INFINITY, f64::min);
            checks.push(check(
                "flaky providers earn less of what was due",
                best_flaky < worst_healthy,
                format!(
                    "best flaky provider earned {:.0} % of what was due, worst healthy {:.0} %",
                    best_flaky * 100.0,
                    worst_healthy * 100.0
                ),
            ));
        }
        let non_payers: Vec<&PaymentConsumerRow> =
            pay.consumers.iter().filter(|c| !c.pays).collect();
        if !non_payers.is_empty() {
            let refused = non_payers
                .iter()
                .filter(|c| c.next_proposal.as_deref() == Some("consumer_standing"))
                .count();
            checks.push(check(
                "a consumer that stops paying is refused",
                refused == non_payers.len(),
                format!(
                    "{refused} of {} non-paying consumers refused for consumer_standing \
                     (scores {}; floor {})",
                    non_payers.len(),
                    non_payers
                        .iter()
                        .map(|c| format!("{} bp", c.score_bp))
                        .collect::<Vec<_>>()
                        .join(", "),
                    pay.floor_bp
                ),
            ));
        }
    }
    if let Some(deals) = &played.deals {
        let short = deals.short_deals();
        let held: usize = deals.deals.iter().map(|d| d.agreements.len()).sum();
        checks.push(check(
            "every deal holds its replicas",
            short == 0 && deals.deals.len() == plan.consumers.len(),
            format!(
                "{} deals of {} consumers, {held} agreements in all, {short} short of {} \
                 replicas",
                deals.deals.len(),
                plan.consumers.len(),
                deals.replicas
            ),
        ));
        let forbidden = deals.forbidden_held();
        let outcomes = |outcome: &str| {
            deals
                .deals
                .iter()
                .flat_map(|d| &d.bad)
                .filter(|b| b.outcome == outcome)
                .count()
        };
        checks.push(check(
            "no deal holds a dead, rejecting or uncertified provider",
            forbidden.is_empty(),
            if forbidden.is_empty() {
                format!(
                    "bad providers replaced {} times, avoided {} times, held {} times (flaky \
                     only)",
                    outcomes("replaced"),
                    outcomes("avoided"),
                    outcomes("held")
                )
            } else {
                forbidden
                    .iter()
                    .map(|(c, node, q)| {
                        format!("consumer {}… holds {q} {node}", &c[..12.min(c.len())])
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            },
        ));
    }
    checks.push(check(
        "no node process left running",
        left_running.is_empty(),
        format!(
            "{} processes started, {} stopped by SIGKILL after the grace period, {} left",
            ctx.nodes() + restarts as usize,
            forced.len(),
            left_running.len()
        ),
    ));

    let mut info = played.info;
    info.out = out.display().to_string();
    Report {
        ok: checks.iter().all(|c| c.ok),
        checks,
        run: info,
        counts,
        propagation,
        convergence,
        reputation: played.reputation,
        resources,
        churn: played.events.churn,
        partition: played.events.partition,
        flood,
        withholding: played.withholding,
        processes: Processes {
            started: ctx.nodes() + restarts as usize,
            forced_kills: forced,
            left_running,
        },
        links: Some(links),
        traffic,
        nat,
        payments: played.payments,
        deals: played.deals,
    }
}
