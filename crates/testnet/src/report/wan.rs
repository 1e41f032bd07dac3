//! The parts of a report about links, NAT traversal and each node's traffic.

use std::collections::HashMap;
use std::fmt::Write as _;

use flashback_types::stats::percentile;
use serde::{Deserialize, Serialize};

use super::Traced;

/// How the nodes were linked and what carried each property of the links.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LinksReport {
    /// `loopback` or `wan`.
    pub mode: String,
    /// The prefix of every namespace and link the run made (WAN links).
    pub prefix: Option<String>,
    /// Why a WAN run fell back to loopback (no root, no `ip`…), if it did.
    pub fallback: Option<String>,
    /// The profile, in words.
    pub profile: String,
    /// What carried the latency and jitter (`netem`, or the nodes' link-delay wrapper).
    pub delay_by: String,
    /// What carried the packet loss.
    pub loss_by: String,
    /// What carried the rate limit.
    pub rate_by: String,
    /// Propagation by the round trip of the direct link between publisher and receiver.
    pub propagation_by_rtt: Vec<RttBucket>,
    /// Namespaces and links left after the run (should be none).
    pub left_behind: Vec<String>,
}

/// Propagation samples whose publisher–receiver link has a round trip in `[from, to)` ms.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RttBucket {
    /// Lowest round trip, ms.
    pub from_ms: u64,
    /// Highest round trip (excluded), ms.
    pub to_ms: u64,
    /// Samples.
    pub samples: usize,
    /// Median, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
}

/// What one node sent and received.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrafficRow {
    /// Node name.
    pub node: String,
    /// Gossip payload bytes sent (published and forwarded), all topics, per offer published.
    pub gossip_sent_per_offer: f64,
    /// Gossip payload bytes received, duplicates included, per offer published.
    pub gossip_received_per_offer: f64,
    /// Bytes on the node's network interface (headers and the runner's own traffic
    /// included), sent per offer published; WAN runs only.
    pub wire_sent_per_offer: Option<f64>,
    /// Likewise, received.
    pub wire_received_per_offer: Option<f64>,
}

/// What NAT traversal did, per node.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NatReport {
    /// One row per node.
    pub nodes: Vec<NatRow>,
    /// Traversals seen in the nodes' logs, in words ("n05 reached n02 through a relay", "hole
    /// punch … failed: …").
    pub events: Vec<String>,
}

/// One node's NAT traversal figures (from its metrics).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NatRow {
    /// Node name.
    pub node: String,
    /// Behind NAT.
    pub behind_nat: bool,
    /// What AutoNAT said last: unknown, public or private.
    pub reachability: String,
    /// Reservations accepted by relays it listens through.
    pub relay_reservations: u64,
    /// Connections through a relay.
    pub relayed_connections: u64,
    /// Relayed connections upgraded to direct ones.
    pub hole_punches_succeeded: u64,
    /// Hole punches that failed.
    pub hole_punches_failed: u64,
    /// Peers first reached through a relay, then connected directly (hole punch or dial).
    pub direct_after_relay: u64,
    /// Agreements made with it (providers).
    pub agreements: usize,
}

/// Propagation samples grouped by the round trip of the publisher–receiver link, in buckets
/// of `width` ms.
pub(crate) fn by_rtt(
    traced: &[Traced],
    logs: &[HashMap<String, u64>],
    rtt_ms: &[Vec<u64>],
    width: u64,
) -> Vec<RttBucket> {
    let mut buckets: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
    for t in traced {
        let Some(origin) = t.origin_node else {
            continue;
        };
        for (node, log) in logs.iter().enumerate() {
            let Some(rtt) = rtt_ms.get(origin).and_then(|r| r.get(node)) else {
                continue;
            };
            if node == origin {
                continue;
            }
            if let Some(at) = log.get(&t.id) {
                buckets
                    .entry(rtt / width)
                    .or_default()
                    .push(at.saturating_sub(t.origin_ms) as f64);
            }
        }
    }
    buckets
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by(f64::total_cmp);
            RttBucket {
                from_ms: k * width,
                to_ms: (k + 1) * width,
                samples: v.len(),
                p50_ms: percentile(&v, 0.5).unwrap_or(0.0),
                p95_ms: percentile(&v, 0.95).unwrap_or(0.0),
            }
        })
        .collect()
}

/// The Markdown sections for links, traffic and NAT.
pub(crate) fn markdown(
    s: &mut String,
    links: Option<&LinksReport>,
    traffic: &[TrafficRow],
    nat: Option<&NatReport>,
) {
    if let Some(l) = links {
        let _ = writeln!(s, "## Links\n");
        let _ = writeln!(s, "Mode: **{}**.", l.mode);
        if let Some(why) = &l.fallback {
            let _ = writeln!(s, "WAN links were asked for but not used: {why}.");
        }
        if l.mode == "wan" {
            let _ = writeln!(
                s,
                "Profile: {}. Delay and jitter: {}. Loss: {}. Rate: {}.\n",
                l.profile, l.delay_by, l.loss_by, l.rate_by
            );
            let _ = writeln!(
                s,
                "Propagation by the round trip of the direct publisher–receiver link:\n\n\
                 | RTT | samples | p50 | p95 |\n|---|---|---|---|"
            );
            for b in &l.propagation_by_rtt {
                let _ = writeln!(
                    s,
                    "| {}–{} ms | {} | {:.0} ms | {:.0} ms |",
                    b.from_ms, b.to_ms, b.samples, b.p50_ms, b.p95_ms
                );
            }
            let _ = writeln!(
                s,
                "\nNamespaces and links left after the run: {}.\n",
                if l.left_behind.is_empty() {
                    "none".to_owned()
                } else {
                    l.left_behind.join(", ")
                }
            );
        } else {
            let _ = writeln!(s);
        }
    }
    if !traffic.is_empty() {
        let _ = writeln!(
            s,
            "## Traffic per offer\n\nBytes per offer published: gossip payload (all topics, \
             duplicates included) and, on WAN links, the node's interface (headers and the \
             runner's traffic included).\n\n| node | gossip sent | gossip received | wire sent | \
             wire received |\n|---|---|---|---|---|"
        );
        let wire = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"));
        for t in traffic {
            let _ = writeln!(
                s,
                "| {} | {:.0} | {:.0} | {} | {} |",
                t.node,
                t.gossip_sent_per_offer,
                t.gossip_received_per_offer,
                wire(t.wire_sent_per_offer),
                wire(t.wire_received_per_offer)
            );
        }
        let _ = writeln!(s);
    }
    if let Some(n) = nat {
        let _ = writeln!(
            s,
            "## NAT traversal\n\n| node | behind NAT | AutoNAT | reservations | relayed \
             connections | then direct | hole punches ok | failed | agreements |\n|---|---|---|---|---|---|---|---|---|"
        );
        for r in &n.nodes {
            let behind = if r.behind_nat { "yes" } else { "no" };
            super::markdown::row(
                s,
                &[
                    &r.node,
                    &behind,
                    &r.reachability,
                    &r.relay_reservations,
                    &r.relayed_connections,
                    &r.direct_after_relay,
                    &r.hole_punches_succeeded,
                    &r.hole_punches_failed,
                    &r.agreements,
                ],
            );
        }
        let _ = writeln!(s, "\nFrom the nodes' logs:\n");
        for e in &n.events {
            let _ = writeln!(s, "- {e}");
        }
        let _ = writeln!(s);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn samples_go_to_their_links_bucket() {
        let logs = vec![
            HashMap::from([("a".to_owned(), 1000)]),
            HashMap::from([("a".to_owned(), 1030)]),
            HashMap::from([("a".to_owned(), 1090)]),
        ];
        let traced = vec![Traced {
            id: "a".into(),
            kind: "offer".into(),
            origin_ms: 1000,
            origin_node: Some(0),
        }];
        let rtt = vec![vec![0, 20, 120], vec![20, 0, 90], vec![120, 90, 0]];
        let b = by_rtt(&traced, &logs, &rtt, 40);
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].from_ms, b[0].p50_ms), (0, 30.0));
        assert_eq!((b[1].from_ms, b[1].p50_ms), (120, 90.0));
    }
}
