//! Internet conditions on one machine: every node in its own network namespace, joined to the
//! others by a veth pair and a bridge, with a latency, jitter, loss and rate per link drawn
//! from a [`LinkSpec`] profile; and, with a [`NatSpec`], some nodes behind their own
//! masquerading router.
//!
//! - [`plan`](LinkPlan::new): each node's continent, address and the round-trip time of each
//!   pair of nodes, from the run's seed;
//! - [`netns`]: the namespaces, links, qdiscs and nftables rules, made and removed;
//! - [`LinkPlan::configure`]: what each node's configuration says about them (addresses, the
//!   link-delay rules when the kernel has no `netem`, NAT traversal).
//!
//! Which mechanism carried what (netem, the node's link-delay wrapper, nftables, tbf) is in
//! the report ([`crate::report::LinksReport`]).

pub(crate) mod netns;

use std::net::Ipv4Addr;

use flashback_net::{LinkRule, NatConfig};
use flashback_node::NodeConfig;
use rand::RngExt as _;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::TestnetError;

/// How the nodes are linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LinkMode {
    /// Every node on 127.0.0.1: links without latency, every node reachable.
    #[default]
    Loopback,
    /// Every node in its own network namespace, links shaped by the profile (needs root).
    Wan,
}

impl std::str::FromStr for LinkMode {
    type Err = TestnetError;

    fn from_str(text: &str) -> Result<Self, TestnetError> {
        match text {
            "loopback" => Ok(Self::Loopback),
            "wan" => Ok(Self::Wan),
            other => Err(TestnetError::Scenario(format!(
                "links {other:?}: expected loopback or wan"
            ))),
        }
    }
}

/// The links profile (scenario section `[links]`). The defaults are the documented WAN
/// profile: three continents, 10–40 ms round trips within one, 80–150 ms between two, jitter
/// of a tenth of the delay, 0.1 % loss and 100 Mbit/s access links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkSpec {
    /// `loopback` (default) or `wan` (`--links`).
    pub mode: LinkMode,
    /// Continents the nodes are spread over, round robin.
    pub continents: Vec<String>,
    /// Round-trip time of a link within one continent, ms: drawn uniformly per pair.
    pub continental_rtt_ms: [u64; 2],
    /// Round-trip time of a link between two continents, ms: drawn uniformly per pair.
    pub intercontinental_rtt_ms: [u64; 2],
    /// Jitter of each direction, in percent of its one-way delay.
    pub jitter_percent: u64,
    /// Packet loss of each direction, percent.
    pub loss_percent: f64,
    /// Rate of each node's access link, each direction, Mbit/s (0: unlimited).
    pub rate_mbit: u64,
}

impl Default for LinkSpec {
    fn default() -> Self {
        Self {
            mode: LinkMode::Loopback,
            continents: ["europe", "america", "asia"].map(String::from).to_vec(),
            continental_rtt_ms: [10, 40],
            intercontinental_rtt_ms: [80, 150],
            jitter_percent: 10,
            loss_percent: 0.1,
            rate_mbit: 100,
        }
    }
}

/// Nodes behind NAT (scenario section `[nat]`; needs `links.mode = "wan"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatSpec {
    /// Nodes placed behind NAT, each behind its own masquerading router; providers first.
    pub behind_nat: usize,
    /// Longest life of a relayed circuit, seconds (relays serve NATed nodes until the hole
    /// punch, or for good when it fails).
    pub relay_circuit_secs: u64,
    /// Most bytes one relayed circuit carries.
    pub relay_circuit_bytes: u64,
}

impl Default for NatSpec {
    fn default() -> Self {
        Self {
            behind_nat: 3,
            relay_circuit_secs: 600,
            relay_circuit_bytes: 64 << 20,
        }
    }
}

impl LinkSpec {
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.continents.is_empty() {
            return Err("links: at least one continent".into());
        }
        let range_ok = |[lo, hi]: [u64; 2]| lo <= hi && hi <= 10_000;
        if !range_ok(self.continental_rtt_ms) || !range_ok(self.intercontinental_rtt_ms) {
            return Err("links: RTT ranges are [low, high] with low ≤ high ≤ 10000".into());
        }
        if !(0.0..=50.0).contains(&self.loss_percent) || self.jitter_percent > 100 {
            return Err("links: loss_percent 0 to 50, jitter_percent 0 to 100".into());
        }
        Ok(())
    }
}

/// A WAN run's links as set up: the plan and what carries delay and loss.
#[derive(Debug)]
pub(crate) struct WanRun {
    pub(crate) plan: LinkPlan,
    pub(crate) carriers: netns::Carriers,
}

/// Where one node sits.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    pub(crate) continent: usize,
    /// The node's address: on the shared network, or behind its router.
    pub(crate) addr: Ipv4Addr,
    /// Behind NAT: the router's address on the shared network (what others see).
    pub(crate) router: Option<Ipv4Addr>,
}

impl Place {
    /// The address peers see this node's connections come from.
    pub(crate) fn seen_as(&self) -> Ipv4Addr {
        self.router.unwrap_or(self.addr)
    }
}

/// The links of one run: places and round-trip times, and how they are carried.
#[derive(Debug, Clone)]
pub(crate) struct LinkPlan {
    pub(crate) spec: LinkSpec,
    pub(crate) nat: Option<NatSpec>,
    /// Second octet of the shared network `10.B.0.0/16`; NATed nodes sit in `10.(B+1).k.0/24`.
    pub(crate) octet: u8,
    pub(crate) places: Vec<Place>,
    /// Round-trip time of each pair, ms (symmetric, 0 on the diagonal).
    pub(crate) rtt_ms: Vec<Vec<u64>>,
    /// Whether the kernel's `netem` carries delay, jitter and loss (else the node's wrapper
    /// carries delay and jitter, and nftables the loss).
    pub(crate) netem: bool,
}

impl LinkPlan {
    /// Places `n` nodes (the first `behind_nat` of `natted` behind NAT) and draws every
    /// pair's round trip.
    pub(crate) fn new(
        spec: &LinkSpec,
        nat: Option<&NatSpec>,
        natted: &[usize],
        n: usize,
        octet: u8,
        rng: &mut StdRng,
    ) -> Self {
        let mut places = Vec::with_capacity(n);
        let mut routers = 0u8;
        for i in 0..n {
            let continent = i % spec.continents.len();
            let place = if natted.contains(&i) {
                routers += 1;
                Place {
                    continent,
                    addr: Ipv4Addr::new(10, octet + 1, routers, 2),
                    router: Some(Ipv4Addr::new(10, octet, 250, routers)),
                }
            } else {
                Place {
                    continent,
                    addr: shared_addr(octet, i),
                    router: None,
                }
            };
            places.push(place);
        }
        let mut rtt_ms = vec![vec![0; n]; n];
        for a in 0..n {
            for b in a + 1..n {
                let [lo, hi] = if places[a].continent == places[b].continent {
                    spec.continental_rtt_ms
                } else {
                    spec.intercontinental_rtt_ms
                };
                let rtt = rng.random_range(lo..=hi);
                rtt_ms[a][b] = rtt;
                rtt_ms[b][a] = rtt;
            }
        }
        Self {
            spec: spec.clone(),
            nat: nat.cloned(),
            octet,
            places,
            rtt_ms,
            netem: false,
        }
    }

    /// The runner's own address on the shared network (the bridge's).
    pub(crate) fn runner_addr(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.octet, 0, 1)
    }

    pub(crate) fn is_natted(&self, i: usize) -> bool {
        self.places[i].router.is_some()
    }

    /// Whether `a` and `b` are on one continent.
    #[cfg(test)]
    pub(crate) fn same_continent(&self, a: usize, b: usize) -> bool {
        self.places[a].continent == self.places[b].continent
    }

    fn one_way(&self, rtt_ms: u64) -> (u64, u64) {
        let delay = rtt_ms / 2;
        (delay, delay * self.spec.jitter_percent / 100)
    }

    /// Writes what node `i`'s configuration needs: its addresses, its link rules (unless
    /// netem carries the delay), and NAT traversal.
    pub(crate) fn configure(&self, i: usize, c: &mut NodeConfig) {
        let me = &self.places[i];
        c.net.listen = vec![format!("/ip4/{}/tcp/0", me.addr)];
        c.metrics.listen = Some(std::net::SocketAddr::from((me.addr, 0)));
        // The admin endpoint serves on loopback only, which the runner cannot reach in
        // another namespace (partitions need loopback links).
        c.metrics.admin = false;
        c.blobs.listen = std::net::SocketAddr::from((me.addr, 0));
        if !self.netem {
            c.net.links = (0..self.places.len())
                .filter(|&j| j != i)
                .map(|j| {
                    let (delay_ms, jitter_ms) = self.one_way(self.rtt_ms[i][j]);
                    LinkRule {
                        prefix: format!("{}/32", self.places[j].seen_as()),
                        delay_ms,
                        jitter_ms,
                        // Loss is the kernel's (nftables), not emulated.
                        loss_percent: 0.0,
                    }
                })
                .collect();
        }
        if let Some(nat) = &self.nat {
            c.net.nat = if me.router.is_some() {
                NatConfig {
                    autonat_interval_secs: 2,
                    autonat_private_addresses: true,
                    ..NatConfig::behind_nat()
                }
            } else {
                NatConfig {
                    autonat: true,
                    autonat_interval_secs: 2,
                    autonat_private_addresses: true,
                    relay_server: true,
                    relay_max_circuit_secs: nat.relay_circuit_secs,
                    relay_max_circuit_bytes: nat.relay_circuit_bytes,
                    dcutr: true,
                    relay_client: true,
                    ..NatConfig::default()
                }
            };
        }
    }
}

/// Address of node `i` on the shared network `10.B.0.0/16` (`.0.1` is the bridge, `.250.*`
/// the NAT routers).
fn shared_addr(octet: u8, i: usize) -> Ipv4Addr {
    let i = u32::try_from(i).unwrap_or(0);
    Ipv4Addr::new(10, octet, (1 + i / 200) as u8, (2 + i % 200) as u8)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rand::SeedableRng as _;

    use super::*;

    #[test]
    fn round_trips_follow_the_profile_and_nat_places_nodes_behind_routers() {
        let spec = LinkSpec {
            mode: LinkMode::Wan,
            ..LinkSpec::default()
        };
        let plan = LinkPlan::new(
            &spec,
            Some(&NatSpec::default()),
            &[1, 4],
            6,
            120,
            &mut StdRng::seed_from_u64(3),
        );
        for a in 0..6 {
            for b in 0..6 {
                let rtt = plan.rtt_ms[a][b];
                assert_eq!(rtt, plan.rtt_ms[b][a]);
                if a == b {
                    assert_eq!(rtt, 0);
                } else if plan.same_continent(a, b) {
                    assert!((10..=40).contains(&rtt), "{rtt}");
                } else {
                    assert!((80..=150).contains(&rtt), "{rtt}");
                }
            }
        }
        assert!(plan.is_natted(1) && plan.is_natted(4) && !plan.is_natted(0));
        assert_eq!(plan.places[4].addr, Ipv4Addr::new(10, 121, 2, 2));
        assert_eq!(plan.places[4].seen_as(), Ipv4Addr::new(10, 120, 250, 2));
        let mut c = NodeConfig::default();
        plan.configure(0, &mut c);
        assert_eq!(c.net.listen, ["/ip4/10.120.1.2/tcp/0"]);
        let to_natted = c.net.links.iter().find(|r| r.prefix == "10.120.250.2/32");
        assert_eq!(to_natted.unwrap().delay_ms, plan.rtt_ms[0][4] / 2);
        assert!(c.net.nat.relay_server);
    }
}
