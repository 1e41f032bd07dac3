//! The report of a run: what `report.json` holds, and its Markdown rendering.

use std::collections::{BTreeMap, HashMap};

use flashback_types::stats::percentile;
use serde::{Deserialize, Serialize};

mod deals;
mod markdown;
mod wan;

pub use deals::{
    BadOutcome, DealAgreementRow, DealFailureRow, DealProviderRow, DealRow, DealsReport,
};
pub(crate) use wan::by_rtt;
pub use wan::{LinksReport, NatReport, NatRow, RttBucket, TrafficRow};

/// Everything a run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    /// Every check passed.
    pub ok: bool,
    /// Named pass/fail checks.
    pub checks: Vec<Check>,
    /// What was run.
    pub run: RunInfo,
    /// Counts of objects and verdicts.
    pub counts: Counts,
    /// Time from publish to presence in each node's listing.
    pub propagation: Propagation,
    /// Listing digests.
    pub convergence: Convergence,
    /// Reputation per provider, best first.
    pub reputation: Vec<ReputationRow>,
    /// Memory and CPU per node.
    pub resources: Vec<ResourceRow>,
    /// Kills and restarts (churn scenario).
    pub churn: Vec<ChurnEvent>,
    /// The split and heal (partition scenario).
    pub partition: Option<PartitionReport>,
    /// The attack (flood scenario).
    pub flood: Option<FloodReport>,
    /// The withholding node and the cross-check that must name it.
    pub withholding: Option<WithholdReport>,
    /// Process hygiene.
    pub processes: Processes,
    /// How the nodes were linked (loopback or WAN), and what carried the links' properties.
    pub links: Option<LinksReport>,
    /// Bytes each node sent and received per offer published.
    pub traffic: Vec<TrafficRow>,
    /// NAT traversal (nat scenario).
    pub nat: Option<NatReport>,
    /// Payments (scenarios with `[payments]`).
    pub payments: Option<PaymentRun>,
    /// Deals through demands (scenarios with `[deals]`).
    pub deals: Option<DealsReport>,
}

/// One named check.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Check {
    /// Name.
    pub name: String,
    /// Passed.
    pub ok: bool,
    /// The figures behind it.
    pub detail: String,
}

/// What was run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    /// Scenario name.
    pub scenario: String,
    /// Scenario description.
    pub description: String,
    /// Seed (rerun with `--seed` to make the same choices).
    pub seed: u64,
    /// The command that plays this run again: scenario, node, provider and consumer counts,
    /// duration and seed.
    pub rerun: String,
    /// Node processes.
    pub nodes: usize,
    /// Providers.
    pub providers: usize,
    /// Flaky providers among them.
    pub flaky_providers: usize,
    /// Consumers.
    pub consumers: usize,
    /// Activity phase, seconds.
    pub duration_secs: f64,
    /// Output dir.
    pub out: String,
    /// Start, Unix seconds.
    pub started_at: u64,
    /// Start-up of all nodes, seconds.
    pub startup_secs: f64,
    /// Set-up (offers and agreements), seconds.
    pub setup_secs: f64,
    /// The whole run, seconds.
    pub wall_secs: f64,
    /// Edges of the bootstrap graph, `node -> node it dialled`.
    pub bootstrap_edges: usize,
    /// CPU cores of the machine.
    pub cores: usize,
}

/// Counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    /// Node processes.
    pub nodes: usize,
    /// Offers published by providers.
    pub offers: usize,
    /// Live offers in the first node's listing at the end.
    pub offers_listed: u64,
    /// SLA proposals sent.
    pub proposals: usize,
    /// Accepted proposals (agreements).
    pub agreements: usize,
    /// Rejected proposals.
    pub rejected_proposals: usize,
    /// Attestations signed and submitted.
    pub attestations: usize,
    /// Objects the runner could not submit (node down, refused).
    pub submit_failures: usize,
    /// Objects stored, summed over nodes (`verdict="accept"` in `/metrics`).
    pub accepted: u64,
    /// Objects rejected, summed over nodes (`verdict="reject"`).
    pub rejected: u64,
    /// Objects ignored, summed over nodes (`verdict="ignore"`: duplicates, superseded…).
    pub ignored: u64,
    /// `rejected`, by the rule that failed (the `outcome` label).
    pub rejected_by: BTreeMap<String, u64>,
    /// `ignored`, by the rule that applied (`duplicate`, `superseded`, `expired`…).
    pub ignored_by: BTreeMap<String, u64>,
}

impl Counts {
    /// `"3 (duplicate 2, superseded 1)"`, or `"0"`.
    pub fn with_outcomes(total: u64, by: &BTreeMap<String, u64>) -> String {
        let parts: Vec<String> = by
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(outcome, n)| format!("{outcome} {n}"))
            .collect();
        if parts.is_empty() {
            total.to_string()
        } else {
            format!("{total} ({})", parts.join(", "))
        }
    }
}

/// Latency from publish to presence in each node's listing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Propagation {
    /// Objects measured.
    pub objects: usize,
    /// (object, node) pairs measured.
    pub samples: usize,
    /// (object, node) pairs where the node never logged the object.
    pub missing: usize,
    /// Median, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Maximum, ms.
    pub max_ms: f64,
    /// Per object kind.
    pub by_kind: Vec<KindLatency>,
    /// The CDF, `[latency ms, fraction]`, 201 points (for the plot).
    pub cdf: Vec<[f64; 2]>,
}

/// Latency of one kind of object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KindLatency {
    /// Kind name.
    pub kind: String,
    /// Objects.
    pub objects: usize,
    /// Samples.
    pub samples: usize,
    /// Missing.
    pub missing: usize,
    /// Median, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Maximum, ms.
    pub max_ms: f64,
}

/// Convergence of the listings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Convergence {
    /// Every node's digest equal at the end.
    pub converged: bool,
    /// Time from the end of the activity phase until all digests were equal, ms.
    pub time_ms: Option<u64>,
    /// Distinct digests at the end (1 when converged).
    pub distinct_digests: usize,
    /// Every node's digest at the end.
    pub digests: Vec<NodeDigest>,
    /// Time to converge after each churn restart, ms (`null`: did not within the deadline).
    pub after_churn_ms: Vec<Option<u64>>,
    /// Time to converge after the heal, ms.
    pub after_heal_ms: Option<u64>,
}

/// One node's digest.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeDigest {
    /// Node name.
    pub node: String,
    /// Listing digest (hex), `null` when the node did not answer.
    pub digest: Option<String>,
    /// Live offers.
    pub offers: u64,
    /// Connected peers.
    pub peers: u32,
    /// Providers it holds equivocation evidence against.
    pub flagged_providers: u64,
}

/// One provider's reputation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ReputationRow {
    /// Node name.
    pub node: String,
    /// Provider key (hex).
    pub provider: String,
    /// Configured to fail probes.
    pub flaky: bool,
    /// Its data plane's failure rate.
    pub failure_rate: f64,
    /// Latency its data plane adds, ms.
    pub added_latency_ms: u64,
    /// Price of its main offer: amount in minor units, asset and pricing unit.
    pub price: Option<flashback_types::Price>,
    /// Regions of its main offer.
    pub regions: Vec<String>,
    /// Agreements as provider.
    pub agreements: usize,
    /// Attestations that counted.
    pub counted: usize,
    /// Probes in counted attestations.
    pub probes: u64,
    /// Successful probes in counted attestations.
    pub successes: u64,
    /// Reputation score, 0 to 1; `None` when the node rates the provider "unrated" (too little
    /// counted evidence).
    pub score: Option<f64>,
    /// Counted evidence behind the score (one anchored attester weighs 1).
    pub evidence: f64,
    /// Beta mean.
    pub beta_mean: f64,
    /// SLA compliance.
    pub compliance: f64,
}

/// One node's resource use.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceRow {
    /// Node name.
    pub node: String,
    /// provider, flaky provider, consumer home, flood target or relay.
    pub role: String,
    /// Restarts (churn).
    pub restarts: u32,
    /// Peak RSS, MiB.
    pub rss_max_mib: f64,
    /// Last RSS, MiB.
    pub rss_last_mib: f64,
    /// CPU seconds (user + system).
    pub cpu_secs: f64,
    /// Average CPU while alive, % of one core.
    pub cpu_percent: f64,
}

/// One kill and restart.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ChurnEvent {
    /// Node killed.
    pub node: String,
    /// When killed, ms after the activity phase began.
    pub killed_at_ms: u64,
    /// How long it was down (kill to restarted and serving), ms.
    pub down_ms: u64,
    /// Time from restart until every digest agreed, ms.
    pub converged_ms: Option<u64>,
}

/// The partition.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PartitionReport {
    /// The two halves.
    pub groups: [Vec<String>; 2],
    /// Split, ms after the activity phase began.
    pub split_at_ms: u64,
    /// Heal, ms after the activity phase began.
    pub healed_at_ms: u64,
    /// No node had a peer from the other half after the split.
    pub split_verified: bool,
    /// The halves' listings differed before the heal.
    pub diverged: bool,
    /// Distinct digests in each half just before the heal.
    pub digests_before_heal: [usize; 2],
    /// Former links dialled again at the heal.
    pub redialled: usize,
    /// Time from heal to equal digests, ms.
    pub converged_after_heal_ms: Option<u64>,
}

/// The flood.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FloodReport {
    /// Node attacked.
    pub target: String,
    /// Start, ms after the activity phase began.
    pub from_ms: u64,
    /// End, ms after the activity phase began.
    pub until_ms: u64,
    /// Gossip messages sent, by kind of junk.
    pub sent: BTreeMap<String, u64>,
    /// Gossip publishes the attacker's own stack refused or could not send.
    pub send_errors: u64,
    /// Junk submitted through `/flashback/submit/1` and refused by the node.
    pub submits_refused: u64,
    /// Submits that got no answer (rate-limited or dropped).
    pub submits_unanswered: u64,
    /// Objects rejected during the flood, summed over nodes, by outcome.
    pub rejected_by_outcome: BTreeMap<String, u64>,
    /// Objects rejected during the flood at the target.
    pub rejected_at_target: u64,
    /// Of those, gossip messages (the rest came through submit).
    pub gossip_rejected: u64,
    /// Gossip junk sent that the target never validated: once a few invalid messages pushed
    /// the attacker's gossipsub score under the graylist threshold, the target drops its
    /// messages unread.
    pub gossip_unvalidated: u64,
    /// Objects rejected during the flood at the other nodes (0: nothing invalid was relayed).
    pub rejected_elsewhere: u64,
    /// An honest provider republishing during the flood: two versions of one offer in the
    /// same second, a withdrawal and a third version, each at the next free seq.
    pub republish: Republish,
    /// Honest offers published while the flood ran.
    pub honest_offers: usize,
    /// Of those, the ones every node stored.
    pub honest_delivered_everywhere: usize,
    /// Stalled handshakes the attacker held against the target (0 when the scenario has none).
    pub stalled_handshakes: usize,
    /// Stalled connections the attacker opened in all (the target closes them: at once over
    /// its per-source limit, else at its handshake timeout).
    pub stalled_opened: u64,
    /// Light-client queries tried against the target while the handshakes stalled, each from a
    /// new client.
    pub light_queries: u64,
    /// Of those, the ones answered.
    pub light_queries_answered: u64,
}

/// An honest provider's fast republishes (flood scenario): none may get it flagged.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Republish {
    /// The provider (hex).
    pub provider: String,
    /// The seqs it signed, in order (publish, publish, withdraw, publish).
    pub seqs: Vec<u64>,
    /// Seconds from the first signature to the last.
    pub within_secs: u64,
    /// Why it stopped short, if it did.
    pub error: Option<String>,
    /// Nodes that flag any provider for equivocation at the end (0 when it held).
    pub flagging_nodes: usize,
}

/// The withholding node and the light client's cross-check.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WithholdReport {
    /// The withholding node's peer id.
    pub withholder: String,
    /// The node whose answers it relays.
    pub relays: String,
    /// The honest node the light client compared it with.
    pub honest: String,
    /// The provider whose offers it drops.
    pub victim: String,
    /// The victim's offers the honest node lists.
    pub victim_offers: usize,
    /// Differences found, by kind (`missing`, `stale`, `forked`, `hidden`), with the node
    /// (`n03`, or `withholder`).
    pub gaps: BTreeMap<String, usize>,
    /// Differences held against a node (not recent, not a provider's fork).
    pub held: usize,
    /// The nodes the cross-check named as withholding (`withholder` or node names).
    pub named: Vec<String>,
    /// Whether the two listing digests agreed.
    pub digests_agree: bool,
    /// Why the check could not run, if it could not.
    pub error: Option<String>,
}

/// The payment phase: what each provider was due, credited and paid, and how each consumer
/// stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PaymentRun {
    /// The providers' consumer-score floor, basis points.
    pub floor_bp: u16,
    /// One billing period, seconds (a quarter of the activity phase).
    pub period_secs: u64,
    /// Per provider, as its own node computes it (USD minor units).
    pub providers: Vec<PaymentProviderRow>,
    /// Per consumer.
    pub consumers: Vec<PaymentConsumerRow>,
    /// Why the phase stopped, if it did.
    pub error: Option<String>,
}

/// What one provider was due, credited and paid (USD cents).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PaymentProviderRow {
    /// Its key.
    pub provider: String,
    /// Its node.
    pub node: String,
    /// Its data plane is flaky.
    pub flaky: bool,
    /// Agreements its node accounts for.
    pub agreements: usize,
    /// Agreements made in set-up.
    pub deals: usize,
    /// Share of the totals delivered.
    pub due: u64,
    /// SLA credits.
    pub credited: u64,
    /// Due less credits.
    pub earned: u64,
    /// Paid by vouchers.
    pub paid: u64,
    /// Not paid yet.
    pub outstanding: u64,
    /// Not paid a billing period after it was due.
    pub overdue: u64,
}

impl PaymentProviderRow {
    /// Share of what was due that it earned (after credits), when anything was due.
    pub fn earned_share(&self) -> Option<f64> {
        (self.due > 0).then(|| self.earned as f64 / self.due as f64)
    }
}

/// How one consumer paid and stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PaymentConsumerRow {
    /// Its key.
    pub consumer: String,
    /// It pays (the non-payers never do).
    pub pays: bool,
    /// Vouchers it signed in the payment phase.
    pub vouchers: usize,
    /// Its payment score at its home node, basis points.
    pub score_bp: u16,
    /// Its agreements in arrears.
    pub in_arrears: u32,
    /// A non-payer's next proposal: `accepted` or the rejection's reason code.
    pub next_proposal: Option<String>,
}

/// Process hygiene.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Processes {
    /// Node processes started (restarts included).
    pub started: usize,
    /// Nodes that did not stop on SIGTERM within the grace period and were killed.
    pub forced_kills: Vec<String>,
    /// Pids still running after the runner stopped everything (should be empty).
    pub left_running: Vec<u32>,
}

/// 201-point CDF of sorted values.
pub(crate) fn cdf(sorted: &[f64]) -> Vec<[f64; 2]> {
    if sorted.is_empty() {
        return Vec::new();
    }
    (0..=200)
        .map(|i| {
            let q = f64::from(i) / 200.0;
            [
                percentile(sorted, q.max(1.0 / sorted.len() as f64)).unwrap_or(0.0),
                q,
            ]
        })
        .collect()
}

/// One object whose spread is measured.
#[derive(Debug, Clone)]
pub(crate) struct Traced {
    pub(crate) id: String,
    pub(crate) kind: String,
    /// When it entered the network (the runner's submit, or its first appearance in any log).
    pub(crate) origin_ms: u64,
    /// The node it entered through (not measured).
    pub(crate) origin_node: Option<usize>,
}

/// Computes propagation from every node's log (`id -> first ms`).
pub(crate) fn propagation(
    traced: &[Traced],
    logs: &[HashMap<String, u64>],
    counted_nodes: &[bool],
) -> Propagation {
    let mut all = Vec::new();
    let mut kinds: BTreeMap<String, (usize, Vec<f64>, usize)> = BTreeMap::new();
    let mut missing = 0;
    for t in traced {
        let entry = kinds.entry(t.kind.clone()).or_default();
        entry.0 += 1;
        for (node, log) in logs.iter().enumerate() {
            if Some(node) == t.origin_node || !counted_nodes.get(node).copied().unwrap_or(true) {
                continue;
            }
            match log.get(&t.id) {
                Some(at) => {
                    let ms = at.saturating_sub(t.origin_ms) as f64;
                    all.push(ms);
                    entry.1.push(ms);
                }
                None => {
                    missing += 1;
                    entry.2 += 1;
                }
            }
        }
    }
    all.sort_by(f64::total_cmp);
    let by_kind = kinds
        .into_iter()
        .map(|(kind, (objects, mut v, missing))| {
            v.sort_by(f64::total_cmp);
            KindLatency {
                kind,
                objects,
                samples: v.len(),
                missing,
                p50_ms: percentile(&v, 0.5).unwrap_or(0.0),
                p95_ms: percentile(&v, 0.95).unwrap_or(0.0),
                p99_ms: percentile(&v, 0.99).unwrap_or(0.0),
                max_ms: v.last().copied().unwrap_or(0.0),
            }
        })
        .collect();
    Propagation {
        objects: traced.len(),
        samples: all.len(),
        missing,
        p50_ms: percentile(&all, 0.5).unwrap_or(0.0),
        p95_ms: percentile(&all, 0.95).unwrap_or(0.0),
        p99_ms: percentile(&all, 0.99).unwrap_or(0.0),
        max_ms: all.last().copied().unwrap_or(0.0),
        by_kind,
        cdf: cdf(&all),
    }
}

/// Parses an `applied.log`: the first time each id was stored, and the kinds seen.
pub(crate) fn parse_applied_log(text: &str) -> (HashMap<String, u64>, HashMap<String, String>) {
    let mut first = HashMap::new();
    let mut kinds = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(ms), Some(id), kind) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Ok(ms) = ms.parse::<u64>() else { continue };
        first
            .entry(id.to_owned())
            .and_modify(|t: &mut u64| *t = (*t).min(ms))
            .or_insert(ms);
        if let Some(kind) = kind
            && !kinds.contains_key(id)
        {
            kinds.insert(id.to_owned(), kind.to_owned());
        }
    }
    (first, kinds)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_cdf_gives_nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let c = cdf(&v);
        assert_eq!(c.len(), 201);
        assert_eq!(c[0], [1.0, 0.0]);
        assert_eq!(c[100], [50.0, 0.5]);
        assert_eq!(c[190], [95.0, 0.95]);
        assert_eq!(c[198], [99.0, 0.99]);
        assert_eq!(c[200], [100.0, 1.0]);
        assert!(cdf(&[]).is_empty());
    }

    #[test]
    fn propagation_skips_the_origin_and_counts_missing() {
        let logs = vec![
            parse_applied_log("1000 aa offer\n# lagged 3\n").0,
            parse_applied_log("1040 aa offer\n1100 bb offer\n").0,
            parse_applied_log("1200 aa offer\n990 aa offer\n").0,
        ];
        assert_eq!(parse_applied_log("5 cc agreement\n").1["cc"], "agreement");
        let traced = vec![
            Traced {
                id: "aa".into(),
                kind: "offer".into(),
                origin_ms: 980,
                origin_node: Some(0),
            },
            Traced {
                id: "bb".into(),
                kind: "offer".into(),
                origin_ms: 1000,
                origin_node: Some(1),
            },
        ];
        let p = propagation(&traced, &logs, &[true, true, true]);
        // aa: node 1 at 60 ms, node 2 at 10 ms (first entry wins); bb: missing at 0 and 2.
        assert_eq!(p.samples, 2);
        assert_eq!(p.missing, 2);
        assert_eq!(p.max_ms, 60.0);
        assert_eq!(p.by_kind[0].kind, "offer");
    }

    #[test]
    fn markdown_mentions_the_verdict_and_every_section() {
        let mut r = Report {
            ok: true,
            ..Report::default()
        };
        r.run.scenario = "smoke".into();
        r.checks.push(Check {
            name: "converged".into(),
            ok: true,
            detail: "1 digest".into(),
        });
        r.flood = Some(FloodReport::default());
        r.partition = Some(PartitionReport::default());
        r.counts.ignored = 3;
        r.counts.ignored_by = [("duplicate".to_owned(), 2), ("superseded".to_owned(), 1)].into();
        let md = r.markdown();
        for needle in [
            "PASS",
            "| objects ignored (all nodes) | 3 (duplicate 2, superseded 1) |",
            "| objects rejected (all nodes) | 0 |",
            "## Checks",
            "## Propagation",
            "## Reputation",
            "## Flood",
            "## Partition",
            "## Resources",
        ] {
            assert!(md.contains(needle), "{needle}");
        }
    }
}
