//! Scenarios: what a testnet run does, as TOML (`testnet/scenarios/*.toml`). Every field has a
//! default, so a file only says what differs from the smoke run. Times of scenario events are
//! fractions of the activity phase, so a scenario works with any `--duration`.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use flashback_types::file::{MAX_CONFIG_BYTES, read_text_bounded};

use crate::TestnetError;
use crate::links::{LinkMode, LinkSpec, NatSpec};

/// The scenarios shipped with the binary, by name (also in `testnet/scenarios/`).
pub const BUILT_IN: [(&str, &str); 7] = [
    (
        "smoke",
        include_str!("../../../testnet/scenarios/smoke.toml"),
    ),
    (
        "churn",
        include_str!("../../../testnet/scenarios/churn.toml"),
    ),
    (
        "partition",
        include_str!("../../../testnet/scenarios/partition.toml"),
    ),
    (
        "flood",
        include_str!("../../../testnet/scenarios/flood.toml"),
    ),
    ("wan", include_str!("../../../testnet/scenarios/wan.toml")),
    ("nat", include_str!("../../../testnet/scenarios/nat.toml")),
    (
        "market",
        include_str!("../../../testnet/scenarios/market.toml"),
    ),
];

/// A duration written the human way in TOML and JSON (`"30s"`, `"1m 30s"`, `"500ms"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map(Span)
            .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a duration: {e}")))
    }
}

impl std::str::FromStr for Span {
    type Err = TestnetError;

    fn from_str(text: &str) -> Result<Self, TestnetError> {
        humantime::parse_duration(text)
            .map(Span)
            .map_err(|e| TestnetError::Scenario(format!("{text:?} is not a duration: {e}")))
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Span {
    /// Seconds.
    pub const fn secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }

    /// Milliseconds.
    pub const fn millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }
}

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// Short name (shown in the report).
    pub name: String,
    /// What the scenario shows.
    pub description: String,
    /// Node processes (`--nodes`).
    pub nodes: usize,
    /// Providers among the nodes (`--providers`); default about 40 % of the nodes, 2 to 12.
    pub providers: Option<usize>,
    /// Consumers, light clients run by the runner (`--consumers`); default about a quarter of
    /// the nodes, 2 to 8.
    pub consumers: Option<usize>,
    /// Length of the activity phase (`--duration`), after set-up and before the final
    /// convergence check.
    pub duration: Span,
    /// Seed of every random choice (`--seed`); default: random, printed in the report.
    pub seed: Option<u64>,
    /// How nodes are configured and connected.
    pub network: NetworkSpec,
    /// Providers, consumers, agreements and probes.
    pub market: MarketSpec,
    /// Kill and restart nodes during the activity phase.
    pub churn: Option<ChurnSpec>,
    /// Split the network in two during the activity phase, then heal it.
    pub partition: Option<PartitionSpec>,
    /// An attacker peer floods one node with invalid objects.
    pub flood: Option<FloodSpec>,
    /// A withholding node answers light clients without one provider's offers; a light
    /// client's cross-check with an honest node must name it.
    pub withhold: Option<WithholdSpec>,
    /// How the nodes are linked: loopback, or namespaces with WAN-like links (`--links`).
    pub links: LinkSpec,
    /// Some nodes behind NAT routers (needs `links.mode = "wan"`).
    pub nat: Option<NatSpec>,
    /// Consumers pay for delivered periods with vouchers; some stop paying and are refused.
    pub payments: Option<PaymentsSpec>,
    /// Consumers make multi-replica deals through demands and quotes (`deal make`'s code
    /// path), among providers of which four are bad: a dead data plane, a flaky one, one
    /// that rejects every proposal, one without the certificate the consumers require.
    pub deals: Option<DealsSpec>,
    /// What must hold for the run to pass (exit code 0).
    pub expect: Expect,
    /// Where it was loaded from: a built-in name or a file path (for the report's rerun line).
    #[serde(skip)]
    pub source: String,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            name: "custom".into(),
            description: String::new(),
            nodes: 10,
            providers: None,
            consumers: None,
            duration: Span::secs(30),
            seed: None,
            network: NetworkSpec::default(),
            market: MarketSpec::default(),
            churn: None,
            partition: None,
            flood: None,
            withhold: None,
            links: LinkSpec::default(),
            nat: None,
            payments: None,
            deals: None,
            expect: Expect::default(),
            source: String::new(),
        }
    }
}

/// The withholding node, started once the listings converged: it relays a node that is not
/// a provider and drops the first provider's offers from every answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WithholdSpec {
    /// Differences on offers signed less than this long before the cross-check are not held
    /// against a node (they may still be propagating).
    pub grace: Span,
}

impl Default for WithholdSpec {
    fn default() -> Self {
        Self {
            grace: Span::secs(5),
        }
    }
}

/// Payments on the testnet: agreements are billed in ten periods of a quarter of the activity
/// phase and start one period before they are proposed, so that several periods end, measured
/// by the probes, during the activity phase. Then every consumer but the last
/// `non_payers` pays what is due, and each non-payer proposes again to a provider whose
/// policy sets `floor_bp`: it must be refused for its payment standing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsSpec {
    /// Every provider's `sla.min_consumer_score_bp`.
    pub floor_bp: u16,
    /// Consumers that never pay (the last ones).
    pub non_payers: usize,
}

impl Default for PaymentsSpec {
    fn default() -> Self {
        Self {
            floor_bp: 5_000,
            non_payers: 1,
        }
    }
}

/// Deals through demands: a certifier key certifies every provider but one with `claim`,
/// every node trusts it, and each consumer asks its own node for `replicas` verified
/// agreements that hold the claim (`flashback deal make --require-claim`). The first four
/// providers are the bad ones, cheapest first so that the optimizer reaches for them: one
/// without the certificate, one whose data plane is dead, one whose SLA policy rejects every
/// consumer, one with a flaky data plane; the others are good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DealsSpec {
    /// Agreements each deal must hold.
    pub replicas: u8,
    /// Bytes stored, GiB.
    pub volume_gib: u64,
    /// How long the agreements last.
    pub duration: Span,
    /// Distinct regions among each deal's agreements.
    pub min_regions: u32,
    /// The claim (`name=value`) the consumers require from a trusted issuer.
    pub claim: String,
    /// How long quotes are collected after each demand is published.
    pub window: Span,
    /// How long each provider has to decide a proposal.
    pub decide_within: Span,
    /// Store-and-read-back probes on each new agreement's data plane, all of which must pass
    /// (`deal make --probes`): a flaky plane failing a share `f` of reads slips through with
    /// probability `(1 - f)^probes` per try.
    pub probes: u32,
}

impl Default for DealsSpec {
    fn default() -> Self {
        Self {
            replicas: 3,
            volume_gib: 10,
            duration: Span::secs(30 * 24 * 3600),
            min_regions: 2,
            claim: "audited=yes".into(),
            window: Span::secs(4),
            decide_within: Span::secs(20),
            probes: flashback_client::deal::DEFAULT_PROBES,
        }
    }
}

/// The bad providers of a deals scenario, in the order they are chosen among the providers.
pub(crate) const BAD_PROVIDERS: usize = 4;

/// Node configuration and the bootstrap graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSpec {
    /// Each node bootstraps to this many random nodes started before it.
    pub bootstrap_degree: usize,
    /// Gossipsub heartbeat of every node, ms.
    pub gossip_heartbeat_ms: u64,
    /// Seconds between anti-entropy rounds.
    pub sync_interval_secs: u64,
    /// Threads verifying signatures in each node (many processes share the machine).
    pub verify_threads: usize,
    /// How long a node may take to start.
    pub start_timeout: Span,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        Self {
            bootstrap_degree: 2,
            gossip_heartbeat_ms: 500,
            sync_interval_secs: 5,
            verify_threads: 1,
            start_timeout: Span::secs(30),
        }
    }
}

/// The market played on the testnet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarketSpec {
    /// Regions offers are spread over (each offer names one or two).
    pub regions: Vec<String>,
    /// Lowest price, USD cents per GiB-month.
    pub price_min: u64,
    /// Highest price, USD cents per GiB-month.
    pub price_max: u64,
    /// Share of the providers whose data plane is flaky (at least one when there are two or
    /// more providers).
    pub flaky_fraction: f64,
    /// Probability that a probe of a flaky provider fails (its node's `blobs.failure_rate`).
    pub flaky_failure_rate: f64,
    /// Latency added by a flaky provider's data plane, ms.
    pub flaky_added_latency_ms: u64,
    /// Every provider publishes a new offer this often during the activity phase
    /// (propagation samples).
    pub publish_interval: Span,
    /// Agreements each consumer makes (with distinct providers).
    pub agreements_per_consumer: usize,
    /// Length of one probe window; an attestation is signed at the end of each.
    pub probe_window: Span,
    /// Probes per provider per window.
    pub probes_per_window: u32,
}

impl Default for MarketSpec {
    fn default() -> Self {
        Self {
            regions: ["eu-west", "eu-central", "us-east", "us-west", "ap-south"]
                .map(String::from)
                .to_vec(),
            price_min: 40,
            price_max: 200,
            flaky_fraction: 0.34,
            flaky_failure_rate: 0.4,
            flaky_added_latency_ms: 120,
            publish_interval: Span::secs(4),
            agreements_per_consumer: 4,
            probe_window: Span::secs(5),
            probes_per_window: 12,
        }
    }
}

/// SIGKILL and restart random nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChurnSpec {
    /// Kills during the activity phase, spread evenly between `from` and `until`.
    pub kills: usize,
    /// Start, as a fraction of the activity phase.
    pub from: f64,
    /// End, as a fraction of the activity phase.
    pub until: f64,
    /// How long a killed node stays down.
    pub down_for: Span,
    /// Also kill providers' nodes (their data plane goes down with them, which hurts their
    /// reputation); by default only the other nodes churn.
    pub include_providers: bool,
}

impl Default for ChurnSpec {
    fn default() -> Self {
        Self {
            kills: 3,
            from: 0.15,
            until: 0.8,
            down_for: Span::secs(2),
            include_providers: false,
        }
    }
}

/// Split the network in two (application-level peer blocking), then heal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PartitionSpec {
    /// When to split, as a fraction of the activity phase.
    pub split_at: f64,
    /// When to heal, as a fraction of the activity phase.
    pub heal_at: f64,
}

impl Default for PartitionSpec {
    fn default() -> Self {
        Self {
            split_at: 0.25,
            heal_at: 0.7,
        }
    }
}

/// An attacker (a raw libp2p peer run by the runner) floods one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FloodSpec {
    /// The node attacked (index); default: a random node that is not a provider.
    pub target: Option<usize>,
    /// Start, as a fraction of the activity phase.
    pub from: f64,
    /// End, as a fraction of the activity phase.
    pub until: f64,
    /// Gossip messages per second, spread over the kinds of junk below.
    pub rate_per_sec: u32,
    /// Most gossip messages sent in all.
    pub max_messages: usize,
    /// Junk also handed to the node through `/flashback/submit/1`, requests in all.
    pub submits: usize,
    /// Stalled handshakes held open against the node from another loopback address
    /// (127.0.0.2) while the flood lasts, reopened as the node closes them; meanwhile a fresh
    /// light client queries the node every half second. 0: none.
    pub stalled_handshakes: usize,
    /// Most stalled connections reopened per second.
    pub stalled_reopen_per_sec: u32,
}

impl Default for FloodSpec {
    fn default() -> Self {
        Self {
            target: None,
            from: 0.2,
            until: 0.7,
            rate_per_sec: 200,
            max_messages: 4000,
            submits: 200,
            stalled_handshakes: 0,
            stalled_reopen_per_sec: 10,
        }
    }
}

/// Pass criteria.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Expect {
    /// Longest wait for every node's listing digest to agree at the end (and after each churn
    /// event or heal).
    pub converge_within: Span,
    /// Fewest agreements.
    pub min_agreements: usize,
    /// Fewest attestations.
    pub min_attestations: usize,
    /// Every flaky provider's reputation below every healthy one's.
    pub flaky_below_healthy: bool,
}

impl Default for Expect {
    fn default() -> Self {
        Self {
            converge_within: Span::secs(60),
            min_agreements: 1,
            min_attestations: 1,
            flaky_below_healthy: true,
        }
    }
}

impl Scenario {
    /// Parses a scenario file's text.
    pub fn parse(text: &str, origin: &str) -> Result<Self, TestnetError> {
        let mut scenario: Scenario = toml::from_str(text).map_err(|e| {
            TestnetError::Scenario(format!(
                "{origin}: {}",
                e.to_string().lines().collect::<Vec<_>>().join(" ")
            ))
        })?;
        scenario.check()?;
        scenario.source = origin.to_owned();
        Ok(scenario)
    }

    /// A built-in scenario by name, or a file.
    pub fn load(name_or_path: &str) -> Result<Self, TestnetError> {
        let path = Path::new(name_or_path);
        if path.exists() {
            let text =
                read_text_bounded(path, MAX_CONFIG_BYTES).map_err(|source| TestnetError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
            return Self::parse(&text, name_or_path);
        }
        match BUILT_IN.iter().find(|(name, _)| *name == name_or_path) {
            Some((name, text)) => Self::parse(text, name),
            None => Err(TestnetError::Scenario(format!(
                "no scenario file {name_or_path:?} and no built-in scenario of that name (built in: {})",
                BUILT_IN.map(|(n, _)| n).join(", ")
            ))),
        }
    }

    /// Checks the numbers make sense.
    pub fn check(&self) -> Result<(), TestnetError> {
        let bad = |msg: String| Err(TestnetError::Scenario(format!("{}: {msg}", self.name)));
        if self.nodes < 2 {
            return bad("a testnet needs at least 2 nodes".into());
        }
        if self.nodes > 500 {
            return bad("at most 500 nodes".into());
        }
        if let Some(p) = self.providers
            && (p == 0 || p > self.nodes)
        {
            return bad(format!("providers must be 1 to {} (the nodes)", self.nodes));
        }
        if self.consumers == Some(0) {
            return bad("at least one consumer".into());
        }
        if self.duration.0 < Duration::from_secs(2) {
            return bad("duration must be at least 2s".into());
        }
        let m = &self.market;
        if m.price_min == 0 || m.price_min > m.price_max {
            return bad("price_min must be 1 to price_max".into());
        }
        if m.regions.is_empty() {
            return bad("at least one region".into());
        }
        if !(0.0..=1.0).contains(&m.flaky_fraction) || !(0.0..=1.0).contains(&m.flaky_failure_rate)
        {
            return bad("flaky_fraction and flaky_failure_rate are between 0 and 1".into());
        }
        if m.probes_per_window == 0 || m.probe_window.0 < Duration::from_secs(1) {
            return bad("probes_per_window ≥ 1 and probe_window ≥ 1s".into());
        }
        if self.payments.is_some() && self.duration.0 < 2 * m.probe_window.0 {
            return bad(format!(
                "[payments] needs a duration of at least twice the probe window ({}): a shorter \
                 run ends no billing period the probes measured; pass a longer --duration",
                Span(2 * m.probe_window.0)
            ));
        }
        if m.publish_interval.0 < Duration::from_millis(100) {
            return bad("publish_interval must be at least 100ms".into());
        }
        let fractions =
            |a: f64, b: f64| (0.0..=1.0).contains(&a) && (0.0..=1.0).contains(&b) && a < b;
        if let Some(c) = &self.churn
            && !fractions(c.from, c.until)
        {
            return bad("churn: 0 ≤ from < until ≤ 1".into());
        }
        if let Some(p) = &self.partition
            && !fractions(p.split_at, p.heal_at)
        {
            return bad("partition: 0 ≤ split_at < heal_at ≤ 1".into());
        }
        if let Err(e) = self.links.check() {
            return bad(e);
        }
        let wan = self.links.mode == LinkMode::Wan;
        if wan && self.nodes > 250 {
            return bad("at most 250 nodes with WAN links".into());
        }
        if wan && self.partition.is_some() {
            return bad(
                "a partition needs loopback links: it blocks peers through each node's loopback admin endpoint"
                    .into(),
            );
        }
        if let Some(nat) = &self.nat {
            if !wan {
                return bad(
                    "nodes behind NAT need WAN links (links.mode = \"wan\", --links wan)".into(),
                );
            }
            if nat.behind_nat == 0 || nat.behind_nat + 2 > self.nodes {
                return bad(
                    "nat.behind_nat: at least 1, and at least 2 nodes not behind NAT".into(),
                );
            }
        }
        if let Some(d) = &self.deals {
            if d.replicas == 0 || d.volume_gib == 0 {
                return bad("deals: replicas and volume_gib at least 1".into());
            }
            let needed = BAD_PROVIDERS + usize::from(d.replicas);
            if self.provider_count() < needed {
                return bad(format!(
                    "deals: {} replicas next to the {BAD_PROVIDERS} bad providers need at least \
                     {needed} providers",
                    d.replicas
                ));
            }
            if flashback_types::trust::parse_claim(&d.claim).is_err() {
                return bad(format!("deals: claim {:?} is not name=value", d.claim));
            }
            if d.window.0 < Duration::from_secs(1) || d.decide_within.0 < Duration::from_secs(1) {
                return bad("deals: window and decide_within at least 1s".into());
            }
            let max = flashback_client::deal::MAX_PROBES;
            if !(1..=max).contains(&d.probes) {
                return bad(format!("deals: probes is 1 to {max}, got {}", d.probes));
            }
            if self.payments.is_some() {
                return bad("deals and payments are separate scenarios".into());
            }
        }
        if let Some(f) = &self.flood {
            if !fractions(f.from, f.until) {
                return bad("flood: 0 ≤ from < until ≤ 1".into());
            }
            if f.target.is_some_and(|t| t >= self.nodes) {
                return bad("flood: target is not a node index".into());
            }
        }
        Ok(())
    }

    /// Providers for this run.
    pub fn provider_count(&self) -> usize {
        self.providers
            .unwrap_or_else(|| (self.nodes * 2 / 5).clamp(2, 12))
            .min(self.nodes)
    }

    /// Consumers for this run.
    pub fn consumer_count(&self) -> usize {
        self.consumers
            .unwrap_or_else(|| (self.nodes / 4).clamp(2, 8))
    }

    /// Flaky providers among `providers`.
    pub fn flaky_count(&self, providers: usize) -> usize {
        if providers < 2 || self.market.flaky_fraction == 0.0 {
            return 0;
        }
        let n = (providers as f64 * self.market.flaky_fraction).round() as usize;
        n.clamp(1, providers - 1)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_built_in_scenario_parses() {
        for (name, _) in BUILT_IN {
            let s = Scenario::load(name).unwrap();
            assert_eq!(s.name, name);
        }
        assert!(Scenario::load("churn").unwrap().churn.is_some());
        assert!(Scenario::load("partition").unwrap().partition.is_some());
        assert!(Scenario::load("flood").unwrap().flood.is_some());
        assert!(Scenario::load("flood").unwrap().withhold.is_some());
        let market = Scenario::load("market").unwrap();
        assert_eq!(market.deals.as_ref().map(|d| d.probes), Some(5));
        assert!(market.nodes >= 20);
    }

    #[test]
    fn unknown_fields_and_bad_numbers_are_refused_with_the_reason() {
        let e = Scenario::parse("nodez = 3", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("nodez"), "{e}");
        let e = Scenario::parse("nodes = 1", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least 2 nodes"), "{e}");
        let e = Scenario::parse("duration = \"soon\"", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a duration"), "{e}");
        let e = Scenario::parse("nodes = 20\nproviders = 6\n[deals]", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least 7 providers"), "{e}");
        let e = Scenario::parse("providers = 8\n[deals]\nclaim = \"audited\"", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("name=value"), "{e}");
        let e = Scenario::parse("providers = 8\n[deals]\nprobes = 0", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("probes is 1 to 100, got 0"), "{e}");
        let e = Scenario::parse("[partition]\nsplit_at = 0.8\nheal_at = 0.2", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("split_at"), "{e}");
    }

    #[test]
    fn a_payment_run_too_short_for_a_measured_period_is_refused() {
        let mut s = Scenario::load("smoke").unwrap();
        s.duration = Span::secs(9);
        let e = s.check().unwrap_err().to_string();
        assert!(e.contains("at least twice the probe window (10s)"), "{e}");
        s.duration = Span::secs(10);
        s.check().unwrap();
        s.payments = None;
        s.duration = Span::secs(2);
        s.check().unwrap();
    }

    #[test]
    fn derived_counts_stay_in_range() {
        let mut s = Scenario::default();
        for nodes in [2, 5, 10, 50, 200] {
            s.nodes = nodes;
            let p = s.provider_count();
            assert!((1..=nodes).contains(&p));
            let f = s.flaky_count(p);
            assert!(f < p);
            assert!(f >= 1);
        }
        assert_eq!(s.flaky_count(1), 0);
    }
}
