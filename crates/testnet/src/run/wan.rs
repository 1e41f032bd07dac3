//! The WAN and NAT parts of a run: setting up the namespaces (or saying why not), starting
//! nodes behind NAT in order, and what the report says of links, traffic and traversal.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use flashback_node::{NodeConfig, prometheus};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom as _;

use crate::links::netns::{self, Netns};
use crate::links::{LinkMode, LinkPlan, WanRun};
use crate::observe::{Ctx, lock};
use crate::report::{LinksReport, NatReport, NatRow, TrafficRow};
use crate::scenario::Scenario;
use crate::{Progress, TestnetError};

use super::{Played, plan::Plan, wait_ready};

/// What [`set_up`] made: the WAN run and its namespaces, or `None`; and why WAN links fell back
/// to loopback, if they did.
pub(super) type SetUp = (Option<(WanRun, Netns)>, Option<String>);

/// The namespaces of a WAN run, ready, with every node's configuration updated; or `None`
/// (loopback links, or WAN links this machine cannot make, with the reason).
pub(super) fn set_up(
    s: &Scenario,
    out: &Path,
    plan: &Plan,
    configs: &mut [(String, NodeConfig)],
    rng: &mut StdRng,
    progress: &Progress,
) -> Result<SetUp, TestnetError> {
    if s.links.mode == LinkMode::Loopback {
        return Ok((None, None));
    }
    if let Some(why) = netns::unusable() {
        if s.nat.is_some() {
            return Err(TestnetError::Scenario(format!(
                "{}: nodes behind NAT need network namespaces: {why}",
                s.name
            )));
        }
        progress(&format!(
            "WAN links unavailable: {why}; falling back to loopback links"
        ));
        return Ok((None, Some(why)));
    }
    // Providers first behind NAT, then other nodes.
    let behind = s.nat.as_ref().map_or(0, |n| n.behind_nat);
    let providers: Vec<usize> = plan.providers.iter().map(|p| p.node).collect();
    let mut natted = providers.clone();
    natted.extend((0..s.nodes).filter(|i| !providers.contains(i)));
    natted.truncate(behind);
    let octet = netns::free_octet()?;
    let mut link_plan = LinkPlan::new(&s.links, s.nat.as_ref(), &natted, s.nodes, octet, rng);
    let mut network = Netns::new(out)?;
    let carriers = network.build(&mut link_plan)?;
    for (i, (_, config)) in configs.iter_mut().enumerate() {
        link_plan.configure(i, config);
    }
    progress(&format!(
        "WAN links: {} namespaces on 10.{octet}.0.0/16{}; delay by {}, loss by {}",
        s.nodes,
        if natted.is_empty() {
            String::new()
        } else {
            format!(", {} nodes behind NAT routers", natted.len())
        },
        if carriers.netem {
            "netem"
        } else {
            "the nodes' link-delay wrapper"
        },
        loss_by(carriers)
    ));
    Ok((
        Some((
            WanRun {
                plan: link_plan,
                carriers,
            },
            network,
        )),
        None,
    ))
}

fn loss_by(c: netns::Carriers) -> &'static str {
    if c.netem {
        "netem"
    } else if c.nft {
        "nftables (numgen random drop, each node's egress)"
    } else {
        "nothing (neither netem nor nft here)"
    }
}

/// Starts the nodes of a run with nodes behind NAT: the reachable ones (relays) in doubling
/// waves, then those behind NAT, which wait for a relay reservation; then one reachable node
/// and one behind NAT that dial the others' relayed addresses, to show both kinds of hole
/// punch. Returns the bootstrap edges.
pub(super) async fn start_with_nat(
    ctx: &Ctx,
    s: &Scenario,
    rng: &mut StdRng,
) -> Result<Vec<(usize, usize)>, TestnetError> {
    let Some(wan) = &ctx.wan else {
        return Err(TestnetError::Internal("NAT start without WAN links".into()));
    };
    let n = ctx.nodes();
    let (mut public, mut natted): (Vec<usize>, Vec<usize>) =
        (0..n).partition(|&i| !wan.plan.is_natted(i));
    let late_public = public.pop();
    let late_natted = if natted.len() > 1 { natted.pop() } else { None };
    let mut edges = Vec::new();
    let mut up: Vec<usize> = Vec::new();
    fn start(
        ctx: &Ctx,
        i: usize,
        boot: Vec<usize>,
        edges: &mut Vec<(usize, usize)>,
    ) -> Result<(), TestnetError> {
        let addrs: Vec<String> = boot.iter().filter_map(|&j| ctx.boot_addr(j)).collect();
        edges.extend(boot.iter().map(|&j| (i, j)));
        lock(&ctx.fleet).start(i, addrs)
    }
    let degree = s.network.bootstrap_degree.max(1);
    for &i in &public {
        let boot: Vec<usize> = up.sample(rng, degree).copied().collect();
        start(ctx, i, boot, &mut edges)?;
        wait_ready(ctx, &[i], s.network.start_timeout.0).await?;
        up.push(i);
    }
    ctx.say(format!("{} reachable nodes up", up.len()));
    for &i in &natted {
        let boot: Vec<usize> = public.sample(rng, degree.max(2)).copied().collect();
        start(ctx, i, boot, &mut edges)?;
    }
    wait_ready(ctx, &natted, s.network.start_timeout.0).await?;
    wait_relayed(ctx, &natted, s.expect.converge_within.0).await?;
    ctx.say(format!(
        "{} nodes behind NAT up, each listening through a relay",
        natted.len()
    ));
    // The late nodes dial every NATed node's relayed address, and one reachable node.
    let mut late = Vec::new();
    for i in late_public.into_iter().chain(late_natted) {
        let mut boot = natted.clone();
        boot.extend(public.choose(rng).copied());
        start(ctx, i, boot, &mut edges)?;
        late.push(i);
    }
    wait_ready(ctx, &late, s.network.start_timeout.0).await?;
    if let Some(&i) = late.iter().find(|&&i| wan.plan.is_natted(i)) {
        wait_relayed(ctx, &[i], s.expect.converge_within.0).await?;
    }
    public.extend(late.iter().filter(|&&i| !wan.plan.is_natted(i)));
    natted.extend(late.iter().filter(|&&i| wan.plan.is_natted(i)));
    ctx.say(format!(
        "all {n} nodes up: {} reachable, {} behind NAT",
        public.len(),
        natted.len()
    ));
    Ok(edges)
}

/// Waits until each node in `nodes` lists a relayed address in its node.json.
async fn wait_relayed(ctx: &Ctx, nodes: &[usize], within: Duration) -> Result<(), TestnetError> {
    let deadline = Instant::now() + within;
    loop {
        let waiting: Vec<usize> = nodes
            .iter()
            .copied()
            .filter(|&i| ctx.boot_addr(i).is_none())
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let names: Vec<String> = waiting.iter().map(|&i| ctx.name(i)).collect();
            return Err(TestnetError::Node(format!(
                "{} behind NAT got no relay reservation within {within:?} (AutoNAT must find \
                 them private and a relay must be public); see their node.log",
                names.join(" ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Bytes on each node's `eth0`, (sent, received), read inside its namespace.
pub(super) fn wire_bytes(ctx: &Ctx) -> Vec<Option<(u64, u64)>> {
    let namespaces: Vec<Option<String>> = lock(&ctx.fleet)
        .members
        .iter()
        .map(|m| m.netns.clone())
        .collect();
    namespaces
        .into_iter()
        .map(|ns| {
            let ns = ns?;
            let out = std::process::Command::new("ip")
                .args(["netns", "exec", &ns, "cat", "/proc/net/dev"])
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text.lines().find(|l| l.trim_start().starts_with("eth0:"))?;
            let fields: Vec<u64> = line
                .split_once(':')?
                .1
                .split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect();
            // /proc/net/dev: receive bytes is the first field, transmit bytes the ninth.
            Some((*fields.get(8)?, *fields.first()?))
        })
        .collect()
}

/// Bytes per offer, per node: gossip from each node's metrics, wire from `wire`.
pub(super) fn traffic(ctx: &Ctx, played: &Played, offers: usize) -> Vec<TrafficRow> {
    let per = |v: f64| v / offers.max(1) as f64;
    (0..ctx.nodes())
        .map(|i| {
            let metrics = played.metrics.get(i).cloned().flatten().unwrap_or_default();
            let sum = |name: &str| prometheus::sum_any_prefix(&metrics, name);
            let wire = played.wire.get(i).copied().flatten();
            TrafficRow {
                node: ctx.name(i),
                gossip_sent_per_offer: per(sum("topic_msg_sent_bytes_total")),
                gossip_received_per_offer: per(sum("topic_msg_recv_bytes_unfiltered_total")),
                wire_sent_per_offer: wire.map(|(sent, _)| per(sent as f64)),
                wire_received_per_offer: wire.map(|(_, received)| per(received as f64)),
            }
        })
        .collect()
}

/// The links section of the report.
pub(super) fn links_report(
    s: &Scenario,
    ctx: &Ctx,
    fallback: Option<String>,
    left_behind: Vec<String>,
    propagation_by_rtt: Vec<crate::report::RttBucket>,
) -> LinksReport {
    let l = &s.links;
    let profile = format!(
        "{} continents ({}), RTT {}–{} ms within one, {}–{} ms between two, jitter {} % of the \
         delay, loss {} %, access links {} Mbit/s",
        l.continents.len(),
        l.continents.join(", "),
        l.continental_rtt_ms[0],
        l.continental_rtt_ms[1],
        l.intercontinental_rtt_ms[0],
        l.intercontinental_rtt_ms[1],
        l.jitter_percent,
        l.loss_percent,
        l.rate_mbit
    );
    match &ctx.wan {
        None => LinksReport {
            mode: "loopback".into(),
            fallback,
            profile,
            delay_by: "none".into(),
            loss_by: "none".into(),
            rate_by: "none".into(),
            ..LinksReport::default()
        },
        Some(wan) => LinksReport {
            mode: "wan".into(),
            prefix: None,
            fallback: None,
            profile,
            delay_by: if wan.carriers.netem {
                "netem (htb class and netem qdisc per destination, each node's egress)".into()
            } else {
                "the nodes' link-delay wrapper (net.links, TCP; this kernel has no netem)".into()
            },
            loss_by: loss_by(wan.carriers).into(),
            rate_by: if l.rate_mbit > 0 {
                "tbf on both ends of each node's access link".into()
            } else {
                "none".into()
            },
            propagation_by_rtt,
            left_behind,
        },
    }
}

/// The NAT section of the report: every node's traversal counters and the traversals its log
/// tells of.
pub(super) fn nat_report(ctx: &Ctx, plan: &Plan, played: &Played) -> Option<NatReport> {
    let wan = ctx.wan.as_ref().filter(|w| w.plan.nat.is_some())?;
    let mut report = NatReport::default();
    let names: Vec<String> = (0..ctx.nodes()).map(|i| ctx.name(i)).collect();
    let peer_names: Vec<(String, String)> = (0..ctx.nodes())
        .filter_map(|i| ctx.peer_id(i).map(|p| (p, names[i].clone())))
        .collect();
    // The remote peer is the log line's `peer=` field.
    let name_of = |line: &str| -> String {
        let peer = line
            .split_once("peer=")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or("");
        peer_names
            .iter()
            .find(|(p, _)| !peer.is_empty() && p == peer)
            .map_or_else(|| "?".to_owned(), |(_, n)| n.clone())
    };
    let mut seen = HashSet::new();
    for (i, name) in names.iter().enumerate() {
        let m = played.metrics.get(i).cloned().flatten().unwrap_or_default();
        let count = |name: &str| prometheus::sum(&m, name, &[]) as u64;
        let agreements = plan
            .providers
            .iter()
            .position(|p| p.node == i)
            .map_or(0, |k| {
                played
                    .setup
                    .deals
                    .iter()
                    .filter(|d| d.provider == k)
                    .count()
            });
        report.nodes.push(NatRow {
            node: name.clone(),
            behind_nat: wan.plan.is_natted(i),
            reachability: match count("flashback_net_reachability") {
                1 => "public",
                2 => "private",
                _ => "unknown",
            }
            .into(),
            relay_reservations: count("flashback_net_relay_reservations_total"),
            relayed_connections: count("flashback_net_connections_relayed_total"),
            hole_punches_succeeded: count("flashback_net_hole_punches_succeeded_total"),
            hole_punches_failed: count("flashback_net_hole_punches_failed_total"),
            direct_after_relay: count("flashback_net_direct_after_relay_total"),
            agreements,
        });
        let dir = lock(&ctx.fleet).members[i].dir.clone();
        let log = std::fs::read_to_string(dir.join("node.log")).unwrap_or_default();
        for line in log.lines() {
            let event = if line.contains("connected through a relay") {
                format!("{} connected to {} through a relay", name, name_of(line))
            } else if line.contains("now connected directly to a peer reached through a relay") {
                format!(
                    "{} now connected directly to {}, first reached through a relay",
                    name,
                    name_of(line)
                )
            } else if line.contains("hole punch succeeded") {
                format!(
                    "{} and {}: hole punch succeeded, direct connection",
                    name,
                    name_of(line)
                )
            } else if let Some(pos) = line.find("error=") {
                if !line.contains("hole punch failed") {
                    continue;
                }
                let reason = line[pos + 6..].split(" hole punch").next().unwrap_or("");
                format!(
                    "{} and {}: hole punch failed: {}",
                    name,
                    name_of(line),
                    reason.trim()
                )
            } else {
                continue;
            };
            if seen.insert(event.clone()) && report.events.len() < 40 {
                report.events.push(event);
            }
        }
    }
    Some(report)
}
