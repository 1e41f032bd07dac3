//! The scenario's events during the activity phase: churn, a partition, a flood.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flashback_node::prometheus;
use flashback_types::clock::now_ms;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom as _, SliceRandom as _};
use rand::{RngExt as _, SeedableRng as _};
use tokio_util::sync::CancellationToken;

use crate::observe::{Ctx, lock};
use crate::participants::{self, Provider};
use crate::report::{ChurnEvent, FloodReport, PartitionReport, Republish};
use crate::scenario::{ChurnSpec, FloodSpec, PartitionSpec, Scenario};
use crate::{TestnetError, flood};

use super::{Events, wait_ready};

/// Sleeps until `fraction` of the activity phase.
async fn at(ctx: &Ctx, s: &Scenario, fraction: f64) {
    let start = lock(&ctx.activity_start).unwrap_or_else(Instant::now);
    tokio::time::sleep_until((start + s.duration.0.mul_f64(fraction)).into()).await;
}

pub(super) async fn scenario_events(
    ctx: Arc<Ctx>,
    s: Scenario,
    edges: Vec<(usize, usize)>,
    churn_pool: Vec<usize>,
    flood_target: Option<usize>,
    republisher: Option<Arc<Provider>>,
    mut rng: StdRng,
) -> Result<Events, TestnetError> {
    let (churn_rng, partition_rng, flood_rng) = (rng.fork(), rng.fork(), rng.fork());
    let churn = async {
        match &s.churn {
            Some(spec) => churn(&ctx, &s, spec, &churn_pool, churn_rng).await,
            None => Ok(Vec::new()),
        }
    };
    let partition = async {
        match &s.partition {
            Some(spec) => partition(&ctx, &s, spec, &edges, partition_rng)
                .await
                .map(Some),
            None => Ok(None),
        }
    };
    let flood = async {
        match (&s.flood, flood_target) {
            (Some(spec), Some(target)) => {
                flood(&ctx, &s, spec, target, republisher.as_deref(), flood_rng)
                    .await
                    .map(Some)
            }
            _ => Ok(None),
        }
    };
    let (churn, partition, flood) = tokio::join!(churn, partition, flood);
    Ok(Events {
        churn: churn?,
        partition: partition?,
        flood: flood?,
    })
}

/// Restarts node `i` with bootstrap peers among the running nodes.
async fn restart(ctx: &Ctx, s: &Scenario, i: usize, rng: &mut StdRng) -> Result<(), TestnetError> {
    let up: Vec<usize> = ctx.up_nodes().into_iter().filter(|&j| j != i).collect();
    let boot = up
        .sample(rng, s.network.bootstrap_degree.max(1))
        .copied()
        .collect::<Vec<_>>();
    let addrs: Vec<String> = boot.iter().filter_map(|&j| ctx.addr(j)).collect();
    {
        let mut fleet = lock(&ctx.fleet);
        fleet.members[i].restarts += 1;
        fleet.start(i, addrs)?;
    }
    wait_ready(ctx, &[i], s.network.start_timeout.0).await
}

async fn churn(
    ctx: &Ctx,
    s: &Scenario,
    spec: &ChurnSpec,
    pool: &[usize],
    mut rng: StdRng,
) -> Result<Vec<ChurnEvent>, TestnetError> {
    let mut events = Vec::new();
    if pool.is_empty() {
        ctx.say("churn: no node may be killed (every node is a provider or a consumer's home)");
        return Ok(events);
    }
    for k in 0..spec.kills {
        let fraction = if spec.kills > 1 {
            spec.from + (spec.until - spec.from) * k as f64 / (spec.kills - 1) as f64
        } else {
            spec.from
        };
        at(ctx, s, fraction).await;
        let up: Vec<usize> = pool.iter().copied().filter(|&i| ctx.is_up(i)).collect();
        if up.is_empty() {
            continue;
        }
        let victim = up[rng.random_range(0..up.len())];
        let killed_at = Instant::now();
        let killed_at_ms = ctx.activity_ms();
        lock(&ctx.fleet).kill_now(victim)?;
        ctx.forget(victim);
        ctx.say(format!("churn: killed {} (SIGKILL)", ctx.name(victim)));
        tokio::time::sleep(spec.down_for.0).await;
        // No new objects while the restarted node catches up: the time measured is the
        // network's, not a moving target's.
        let _closed = ctx.gate.write().await;
        restart(ctx, s, victim, &mut rng).await?;
        let down_ms = u64::try_from(killed_at.elapsed().as_millis()).unwrap_or(u64::MAX);
        let converged = ctx
            .wait_converged(&ctx.up_nodes(), s.expect.converge_within.0)
            .await;
        ctx.say(format!(
            "churn: {} back after {:.1} s; {}",
            ctx.name(victim),
            down_ms as f64 / 1000.0,
            converged.map_or_else(
                || "listings did NOT converge".to_owned(),
                |t| format!(
                    "every listing agrees {:.2} s after the restart",
                    t.as_secs_f64()
                )
            )
        ));
        events.push(ChurnEvent {
            node: ctx.name(victim),
            killed_at_ms,
            down_ms,
            converged_ms: converged.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        });
    }
    Ok(events)
}

/// Makes every node of each half block (or unblock) every node of the other half.
async fn set_partition(
    ctx: &Ctx,
    halves: &[Vec<usize>; 2],
    blocked: bool,
) -> Result<(), TestnetError> {
    let verb = if blocked { "block" } else { "unblock" };
    let peers: Vec<Option<String>> = (0..ctx.nodes()).map(|i| ctx.peer_id(i)).collect();
    let jobs = (0..2).flat_map(|side| halves[side].iter().map(move |&i| (i, &halves[1 - side])));
    let results = futures::future::join_all(jobs.map(|(i, others)| {
        let peers = &peers;
        async move {
            for &j in others {
                if let Some(peer) = &peers[j] {
                    ctx.admin_post(i, &format!("/admin/{verb}/{peer}"), "")
                        .await?;
                }
            }
            Ok::<(), TestnetError>(())
        }
    }))
    .await;
    results.into_iter().collect()
}

async fn partition(
    ctx: &Ctx,
    s: &Scenario,
    spec: &PartitionSpec,
    edges: &[(usize, usize)],
    mut rng: StdRng,
) -> Result<PartitionReport, TestnetError> {
    let mut order: Vec<usize> = (0..ctx.nodes()).collect();
    order.shuffle(&mut rng);
    let (a, b) = order.split_at(order.len() / 2);
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_unstable();
    b.sort_unstable();
    let halves = [a, b];
    let names = |side: &[usize]| side.iter().map(|&i| ctx.name(i)).collect::<Vec<_>>();
    let mut report = PartitionReport {
        groups: [names(&halves[0]), names(&halves[1])],
        ..PartitionReport::default()
    };

    at(ctx, s, spec.split_at).await;
    report.split_at_ms = ctx.activity_ms();
    set_partition(ctx, &halves, true).await?;
    ctx.say(format!(
        "partition: {{{}}} | {{{}}}",
        report.groups[0].join(" "),
        report.groups[1].join(" ")
    ));
    // Verify: no node keeps a peer of the other half.
    let side_of: HashMap<String, usize> = (0..2)
        .flat_map(|side| {
            halves[side]
                .iter()
                .filter_map(move |&i| ctx.peer_id(i).map(|p| (p, side)))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut crossing = 0;
        for (side, half) in halves.iter().enumerate() {
            for &i in half {
                for peer in ctx.admin_peers(i).await? {
                    if side_of.get(&peer).is_some_and(|&other| other != side) {
                        crossing += 1;
                    }
                }
            }
        }
        if crossing == 0 {
            report.split_verified = true;
            break;
        }
        if Instant::now() >= deadline {
            ctx.say(format!(
                "partition: {crossing} connections still cross the split"
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    at(ctx, s, spec.heal_at).await;
    let _closed = ctx.gate.write().await;
    let mut distinct: [HashSet<String>; 2] = [HashSet::new(), HashSet::new()];
    for (half, digests) in halves.iter().zip(distinct.iter_mut()) {
        for (_, st) in ctx.statuses(half).await {
            if let Some(st) = st {
                digests.insert(st.listing_digest.to_string());
            }
        }
    }
    report.digests_before_heal = [distinct[0].len(), distinct[1].len()];
    report.diverged = distinct[0].is_disjoint(&distinct[1]);
    set_partition(ctx, &halves, false).await?;
    report.healed_at_ms = ctx.activity_ms();
    let heal_start = Instant::now();
    // The links the bootstrap graph had across the split come back.
    for &(i, j) in edges {
        let crosses = halves[0].contains(&i) != halves[0].contains(&j);
        if crosses && let Some(addr) = ctx.addr(j) {
            ctx.admin_post(i, "/admin/dial", &addr).await?;
            report.redialled += 1;
        }
    }
    let converged = ctx
        .wait_converged(
            &(0..ctx.nodes()).collect::<Vec<_>>(),
            s.expect.converge_within.0,
        )
        .await
        .map(|_| heal_start.elapsed());
    report.converged_after_heal_ms =
        converged.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
    ctx.say(format!(
        "partition healed ({} links dialled again); {}",
        report.redialled,
        converged.map_or_else(
            || "listings did NOT converge".to_owned(),
            |t| format!(
                "every listing agrees {:.2} s after the heal",
                t.as_secs_f64()
            )
        )
    ));
    Ok(report)
}

/// Rejected objects per node and outcome, from `/metrics`.
async fn rejections(ctx: &Ctx) -> Vec<Vec<(String, f64)>> {
    futures::future::join_all((0..ctx.nodes()).map(|i| async move {
        ctx.metrics(i)
            .await
            .map(|text| {
                prometheus::group(
                    &text,
                    "flashback_objects_total",
                    &[("verdict", "reject")],
                    "outcome",
                )
            })
            .unwrap_or_default()
    }))
    .await
}

async fn flood(
    ctx: &Ctx,
    s: &Scenario,
    spec: &FloodSpec,
    target: usize,
    republisher: Option<&Provider>,
    rng: StdRng,
) -> Result<(FloodReport, u64, u64), TestnetError> {
    at(ctx, s, spec.from).await;
    let before = rejections(ctx).await;
    let from_unix = now_ms();
    let from_ms = ctx.activity_ms();
    let (Some(addr), Some(peer)) = (ctx.addr(target), ctx.peer_id(target)) else {
        return Err(TestnetError::Node(format!(
            "{} is not running",
            ctx.name(target)
        )));
    };
    let peer = peer
        .parse()
        .map_err(|e| TestnetError::Internal(format!("peer id {peer}: {e}")))?;
    ctx.say(format!("flood: attacking {}", ctx.name(target)));
    let stop = CancellationToken::new();
    let stall_target = addr.clone();
    let stalls = stall_and_query(&stall_target, spec, stop.clone());
    let attack = flood::run(
        addr,
        peer,
        spec.rate_per_sec,
        spec.max_messages,
        spec.submits,
        rng,
        stop.clone(),
    );
    let until = async {
        at(ctx, s, spec.until).await;
        stop.cancel();
    };
    // Meanwhile an honest provider republishes as fast as it can.
    let republish = async {
        match republisher {
            Some(p) => participants::republish(ctx, p).await,
            None => Republish::default(),
        }
    };
    let (sent, (), (stalled_opened, light_queries, light_queries_answered), republish) =
        tokio::join!(attack, until, stalls, republish);
    if let Some(e) = &republish.error {
        ctx.say(format!("flood: the honest republish stopped: {e}"));
    }
    let sent = sent?;
    let until_unix = now_ms();
    let until_ms = ctx.activity_ms();
    // Give the nodes' counters the last in-flight junk: wait until the target's count settles.
    let mut after = rejections(ctx).await;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let again = rejections(ctx).await;
        if again == after {
            break;
        }
        after = again;
    }
    let mut by_outcome: BTreeMap<String, u64> = BTreeMap::new();
    let (mut at_target, mut elsewhere) = (0u64, 0u64);
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        for (outcome, count) in a {
            let was = b
                .iter()
                .find(|(o, _)| o == outcome)
                .map_or(0.0, |(_, c)| *c);
            let delta = (count - was).max(0.0) as u64;
            *by_outcome.entry(outcome.clone()).or_default() += delta;
            if i == target {
                at_target += delta;
            } else {
                elsewhere += delta;
            }
        }
    }
    by_outcome.retain(|_, v| *v > 0);
    ctx.say(format!(
        "flood over: {} gossip messages sent, {} rejected at {}, {} elsewhere",
        sent.gossip.values().sum::<u64>(),
        at_target,
        ctx.name(target),
        elsewhere
    ));
    Ok((
        FloodReport {
            target: ctx.name(target),
            from_ms,
            until_ms,
            sent: sent.gossip.clone(),
            send_errors: sent.send_errors,
            submits_refused: sent.submits_refused,
            submits_unanswered: sent.submits_unanswered,
            rejected_by_outcome: by_outcome,
            rejected_at_target: at_target,
            gossip_rejected: at_target.saturating_sub(sent.submits_refused),
            gossip_unvalidated: sent
                .gossip
                .values()
                .sum::<u64>()
                .saturating_sub(at_target.saturating_sub(sent.submits_refused)),
            rejected_elsewhere: elsewhere,
            republish,
            honest_offers: 0,
            honest_delivered_everywhere: 0,
            stalled_handshakes: spec.stalled_handshakes,
            stalled_opened,
            light_queries,
            light_queries_answered,
        },
        from_unix,
        until_unix,
    ))
}

/// While `stop` is not cancelled: holds `spec.stalled_handshakes` stalled handshakes against
/// the node at `addr` from 127.0.0.2 and, every half second, queries it from a new light
/// client. Returns the connections the attacker opened, the queries tried and answered.
async fn stall_and_query(addr: &str, spec: &FloodSpec, stop: CancellationToken) -> (u64, u64, u64) {
    use std::sync::atomic::Ordering;
    let Some(target) = tcp_socket_addr(addr).filter(|_| spec.stalled_handshakes > 0) else {
        return (0, 0, 0);
    };
    let staller = crate::Staller::start(
        target,
        std::net::IpAddr::from([127, 0, 0, 2]),
        spec.stalled_handshakes,
        spec.stalled_reopen_per_sec,
    );
    let (mut tried, mut answered) = (0u64, 0u64);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        // A query counts once the attack is under way.
        if staller.counts().opened.load(Ordering::Relaxed) < spec.stalled_handshakes as u64 {
            continue;
        }
        tried += 1;
        let query = async {
            let client = flashback_client::Client::connect(&[addr.to_owned()]).await?;
            let page = client
                .query_offers(&flashback_types::OfferQuery::default())
                .await;
            client.close().await;
            page
        };
        if matches!(
            tokio::time::timeout(Duration::from_secs(30), query).await,
            Ok(Ok(_))
        ) {
            answered += 1;
        }
    }
    let counts = staller.stop().await;
    (counts.opened.load(Ordering::Relaxed), tried, answered)
}

/// The TCP socket address of a `/ip4/…/tcp/…` multiaddr.
fn tcp_socket_addr(addr: &str) -> Option<std::net::SocketAddr> {
    use flashback_net::multiaddr::Protocol;
    let addr: flashback_net::Multiaddr = addr.parse().ok()?;
    let mut ip = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(std::net::IpAddr::V4(a)),
            Protocol::Ip6(a) => ip = Some(std::net::IpAddr::V6(a)),
            Protocol::Tcp(port) => return Some(std::net::SocketAddr::new(ip?, port)),
            _ => {}
        }
    }
    None
}
