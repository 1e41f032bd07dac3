//! `testnet up`: plan, start the nodes, set up the market, play the activity phase and the
//! scenario's events, check convergence, stop everything, measure and report.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flashback_node::{BlobConfig, NodeConfig};
use flashback_types::{SecretKey, keyfile};
use tokio_util::sync::CancellationToken;

use crate::fleet::{self, Fleet};
use crate::market::{self, Consumer, Deal, Provider};
use crate::observe::{Ctx, lock, unix_ms};
use crate::report::{
    self, Check, ChurnEvent, Convergence, Counts, FloodReport, NodeDigest, PartitionReport,
    Processes, Report, ReputationRow, ResourceRow, RunInfo, Traced,
};
use crate::rng::{self, Rng};
use crate::scenario::{ChurnSpec, FloodSpec, PartitionSpec, Scenario};
use crate::{Progress, TestnetError, UpOptions, flood, http};

/// Grace period between SIGTERM and SIGKILL when stopping the nodes.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Who plays what.
struct Plan {
    providers: Vec<Arc<Provider>>,
    consumers: Vec<Consumer>,
    flood_target: Option<usize>,
    churn_pool: Vec<usize>,
    roles: Vec<String>,
}

/// What the scenario's events measured.
#[derive(Default)]
struct Events {
    churn: Vec<ChurnEvent>,
    partition: Option<PartitionReport>,
    flood: Option<(FloodReport, u64, u64)>,
}

/// Everything measured while the nodes ran.
struct Played {
    info: RunInfo,
    setup: market::Setup,
    attestations: usize,
    events: Events,
    final_convergence: Option<Duration>,
    digests: Vec<NodeDigest>,
    metrics: Vec<Option<String>>,
    reputation: Vec<ReputationRow>,
    offers_listed: u64,
}

pub(crate) async fn up(options: UpOptions, progress: Progress) -> Result<Report, TestnetError> {
    let UpOptions {
        mut scenario,
        out,
        binary,
    } = options;
    scenario.check()?;
    fleet::prepare_out(&out)?;
    let out = out.canonicalize().map_err(|source| TestnetError::Io {
        path: out.clone(),
        source,
    })?;
    let seed = scenario.seed.unwrap_or_else(rng::fresh_seed);
    scenario.seed = Some(seed);
    if let Ok(text) = toml::to_string_pretty(&scenario) {
        fleet::write(&out.join("scenario.toml"), text.as_bytes())?;
    }
    let mut rng = Rng::new(seed);
    let (plan, configs) = plan(&scenario, &out, seed, &mut rng)?;
    let mut fleet = Fleet::new(&out, &binary);
    for (name, config) in configs {
        fleet.add(name, config);
    }
    let ctx = Arc::new(Ctx::new(fleet, progress));
    ctx.say(format!(
        "testnet {:?}: {} nodes ({} providers, {} consumers), seed {seed}, output in {}",
        scenario.name,
        scenario.nodes,
        plan.providers.len(),
        plan.consumers.len(),
        out.display()
    ));

    let started = Instant::now();
    let outcome = tokio::select! {
        played = play(&ctx, &scenario, &plan, seed, rng) => played,
        () = interrupted() => Err(TestnetError::Interrupted),
    };

    // Every exit path: stop the nodes (SIGTERM, then SIGKILL after the grace period) and reap
    // them. Errors and panics are covered by `Fleet`'s drop as well.
    ctx.say("stopping every node");
    ctx.forget_all();
    let stopper = ctx.clone();
    let forced = tokio::task::spawn_blocking(move || lock(&stopper.fleet).stop_all(STOP_GRACE))
        .await
        .map_err(|e| TestnetError::Internal(format!("stopping the nodes: {e}")))?;
    let left_running: Vec<u32> = lock(&ctx.fleet)
        .running()
        .into_iter()
        .filter(|pid| Path::new(&format!("/proc/{pid}")).exists())
        .collect();
    let mut played = outcome?;
    played.info.wall_secs = started.elapsed().as_secs_f64();

    let report = finish(&ctx, &scenario, &plan, played, forced, left_running, &out);
    crate::write_outputs(&out, &report, true)?;
    ctx.say(format!(
        "{}: report in {}",
        if report.ok { "PASS" } else { "FAIL" },
        out.join(crate::files::REPORT_MD).display()
    ));
    Ok(report)
}

async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        // Without a SIGTERM handler, Ctrl-C still works.
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn node_name(i: usize, n: usize) -> String {
    if n > 100 {
        format!("n{i:03}")
    } else {
        format!("n{i:02}")
    }
}

/// Chooses roles, writes every node's key, and builds its configuration.
fn plan(
    s: &Scenario,
    out: &Path,
    seed: u64,
    rng: &mut Rng,
) -> Result<(Plan, Vec<(String, NodeConfig)>), TestnetError> {
    let n = s.nodes;
    let all: Vec<usize> = (0..n).collect();
    let provider_nodes = rng.choose(&all, s.provider_count());
    let flaky = s.flaky_count(provider_nodes.len());
    let m = &s.market;
    let mut keys = Vec::new();
    let mut configs = Vec::new();
    for i in 0..n {
        let name = node_name(i, n);
        let dir = out.join("nodes").join(&name);
        std::fs::create_dir_all(&dir).map_err(|source| TestnetError::Io {
            path: dir.clone(),
            source,
        })?;
        let key = SecretKey::generate();
        write_key(&dir.join("node.key"), &key)?;
        keys.push(key);
        let mut c = NodeConfig {
            data_dir: dir,
            trace_applied: true,
            ..NodeConfig::default()
        };
        c.net.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        c.net.gossip_heartbeat_ms = s.network.gossip_heartbeat_ms;
        c.net.kad_bootstrap_interval_secs = 30;
        c.sync.interval_secs = s.network.sync_interval_secs;
        c.pipeline.verify_threads = s.network.verify_threads;
        c.metrics.enabled = true;
        c.metrics.listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        c.metrics.admin = true;
        configs.push((name, c));
    }
    let mut providers = Vec::new();
    for (k, &node) in provider_nodes.iter().enumerate() {
        let is_flaky = k < flaky;
        let count = 1 + rng.below(2);
        let regions = rng.choose(&m.regions, count);
        let (failure_rate, added_latency_ms) = if is_flaky {
            (m.flaky_failure_rate, m.flaky_added_latency_ms)
        } else {
            (0.0, 0)
        };
        configs[node].1.blobs = BlobConfig {
            enabled: true,
            capacity_bytes: 256 << 20,
            max_blob_bytes: 1 << 20,
            added_latency_ms,
            failure_rate,
            seed: Some(seed ^ node as u64),
            ..BlobConfig::default()
        };
        providers.push(Arc::new(Provider {
            node,
            key: keys[node].clone(),
            flaky: is_flaky,
            failure_rate,
            added_latency_ms,
            regions,
            price: rng.range(m.price_min, m.price_max),
        }));
    }

    let others: Vec<usize> = all
        .iter()
        .copied()
        .filter(|i| !provider_nodes.contains(i))
        .collect();
    let mut home_pool = if others.is_empty() {
        all.clone()
    } else {
        others.clone()
    };
    rng.shuffle(&mut home_pool);
    let c_count = s.consumer_count();
    let per = m.agreements_per_consumer.clamp(1, providers.len().max(1));
    let consumers: Vec<Consumer> = (0..c_count)
        .map(|c| Consumer {
            key: SecretKey::generate(),
            home: home_pool[c % home_pool.len()],
            // Round robin, so every provider gets consumers when there are enough picks.
            providers: (0..per).map(|j| (c * per + j) % providers.len()).collect(),
        })
        .collect();
    let homes: HashSet<usize> = consumers.iter().map(|c| c.home).collect();

    let flood_target = s.flood.as_ref().map(|f| {
        f.target.unwrap_or_else(|| {
            let quiet: Vec<usize> = others
                .iter()
                .copied()
                .filter(|i| !homes.contains(i))
                .collect();
            let pool = if !quiet.is_empty() {
                quiet
            } else if !others.is_empty() {
                others.clone()
            } else {
                all.clone()
            };
            pool[rng.below(pool.len())]
        })
    });
    let include_providers = s.churn.as_ref().is_some_and(|c| c.include_providers);
    let churn_pool: Vec<usize> = all
        .iter()
        .copied()
        .filter(|i| include_providers || !provider_nodes.contains(i))
        .filter(|i| !homes.contains(i) && Some(*i) != flood_target)
        .collect();

    let roles = (0..n)
        .map(|i| {
            if let Some(p) = providers.iter().find(|p| p.node == i) {
                if p.flaky {
                    "provider (flaky)"
                } else {
                    "provider"
                }
                .to_owned()
            } else if homes.contains(&i) {
                "consumer home".to_owned()
            } else if Some(i) == flood_target {
                "flood target".to_owned()
            } else {
                "relay".to_owned()
            }
        })
        .collect();
    Ok((
        Plan {
            providers,
            consumers,
            flood_target,
            churn_pool,
            roles,
        },
        configs,
    ))
}

fn write_key(path: &Path, key: &SecretKey) -> Result<(), TestnetError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(keyfile::encode(key).as_bytes()))
        .map_err(|source| TestnetError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// Waits until every node in `batch` wrote its node.json.
async fn wait_ready(ctx: &Ctx, batch: &[usize], timeout: Duration) -> Result<(), TestnetError> {
    let deadline = Instant::now() + timeout;
    let mut waiting: Vec<usize> = batch.to_vec();
    while !waiting.is_empty() {
        let mut still = Vec::new();
        for &i in &waiting {
            if lock(&ctx.fleet).poll_ready(i)?.is_none() {
                still.push(i);
            }
        }
        waiting = still;
        if waiting.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            let names: Vec<String> = waiting.iter().map(|&i| ctx.name(i)).collect();
            return Err(TestnetError::Node(format!(
                "nodes {} did not start within {timeout:?}; see their node.log",
                names.join(" ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Starts the nodes in doubling waves, each node bootstrapping to random nodes already up.
/// Returns the bootstrap edges.
async fn start_nodes(
    ctx: &Ctx,
    s: &Scenario,
    rng: &mut Rng,
) -> Result<Vec<(usize, usize)>, TestnetError> {
    let n = ctx.nodes();
    let mut up: Vec<usize> = Vec::new();
    let mut edges = Vec::new();
    let mut wave = 1;
    while up.len() < n {
        let batch: Vec<usize> = (up.len()..(up.len() + wave).min(n)).collect();
        for &i in &batch {
            let boot = rng.choose(&up, s.network.bootstrap_degree.max(1));
            let addrs: Vec<String> = boot.iter().filter_map(|&j| ctx.addr(j)).collect();
            edges.extend(boot.iter().map(|&j| (i, j)));
            lock(&ctx.fleet).start(i, addrs)?;
        }
        wait_ready(ctx, &batch, s.network.start_timeout.0).await?;
        up.extend(&batch);
        ctx.say(format!("{}/{n} nodes up", up.len()));
        wave = up.len();
    }
    Ok(edges)
}

async fn play(
    ctx: &Arc<Ctx>,
    s: &Scenario,
    plan: &Plan,
    seed: u64,
    mut rng: Rng,
) -> Result<Played, TestnetError> {
    let t0 = Instant::now();
    let n = ctx.nodes();
    let all: Vec<usize> = (0..n).collect();

    // Resource sampling and a progress line every few seconds, for the whole run.
    let sampling = CancellationToken::new();
    let mut background = tokio::task::JoinSet::new();
    background.spawn(sample(ctx.clone(), sampling.clone()));

    let edges = start_nodes(ctx, s, &mut rng).await?;
    let min_peers = 1.min(n as u32 - 1);
    if !ctx
        .wait_status(&all, s.expect.converge_within.0, |st| st.peers >= min_peers)
        .await
    {
        return Err(TestnetError::Node(
            "some nodes have no peer: the bootstrap graph did not connect".into(),
        ));
    }
    let startup_secs = t0.elapsed().as_secs_f64();
    ctx.say(format!(
        "all {n} nodes up and connected in {startup_secs:.1} s"
    ));

    // Set-up: offers, then agreements.
    let t_setup = Instant::now();
    let providers = &plan.providers;
    let mains = market::publish_main(ctx, providers).await?;
    ctx.say(format!(
        "{} providers published their offers ({} flaky)",
        providers.len(),
        providers.iter().filter(|p| p.flaky).count()
    ));
    let setup = market::make_agreements(
        ctx,
        &plan.consumers,
        providers,
        &mains,
        s.expect.converge_within.0,
    )
    .await?;
    ctx.say(format!(
        "{} consumers made {} agreements ({} proposals rejected)",
        plan.consumers.len(),
        setup.deals.len(),
        setup.rejected
    ));
    let setup_secs = t_setup.elapsed().as_secs_f64();

    // Activity phase.
    let duration = s.duration.0;
    *lock(&ctx.activity_start) = Some(Instant::now());
    ctx.say(format!(
        "activity phase: {:.0} s of offers, probes and attestations{}",
        duration.as_secs_f64(),
        events_summary(s)
    ));
    let activity = CancellationToken::new();
    let mut publishers = tokio::task::JoinSet::new();
    for p in &plan.providers {
        publishers.spawn(market::spot_publisher(
            ctx.clone(),
            p.clone(),
            s.market.clone(),
            rng.fork(),
            activity.clone(),
        ));
    }
    let mut probers = tokio::task::JoinSet::new();
    for (c_index, c) in plan.consumers.iter().enumerate() {
        let deals: Vec<Deal> = setup
            .deals
            .iter()
            .filter(|d| d.consumer == c_index)
            .cloned()
            .collect();
        probers.spawn(market::prober(
            ctx.clone(),
            c.key.clone(),
            c.home,
            deals,
            s.market.clone(),
            rng.next_u64(),
            activity.clone(),
        ));
    }
    let events = {
        let (ctx, s, edges) = (ctx.clone(), s.clone(), edges.clone());
        let (pool, target, events_rng) = (plan.churn_pool.clone(), plan.flood_target, rng.fork());
        tokio::spawn(async move { scenario_events(ctx, s, edges, pool, target, events_rng).await })
    };
    tokio::time::sleep(duration).await;
    activity.cancel();
    publishers.join_all().await;
    let attestations: usize = probers.join_all().await.into_iter().sum();
    let events = events
        .await
        .map_err(|e| TestnetError::Internal(format!("scenario events: {e}")))??;

    // Final convergence with nothing in flight.
    ctx.say("activity over; waiting for every listing digest to agree");
    let final_convergence = ctx.wait_converged(&all, s.expect.converge_within.0).await;
    match final_convergence {
        Some(t) => ctx.say(format!("converged in {:.2} s", t.as_secs_f64())),
        None => ctx.say(format!(
            "NOT converged within {:?}",
            s.expect.converge_within.0
        )),
    }

    // Final measurements.
    let statuses = ctx.statuses(&all).await;
    let digests: Vec<NodeDigest> = statuses
        .iter()
        .map(|(i, st)| NodeDigest {
            node: ctx.name(*i),
            digest: st.as_ref().map(|s| s.listing_digest.to_string()),
            offers: st.as_ref().map_or(0, |s| s.offers),
            peers: st.as_ref().map_or(0, |s| s.peers),
        })
        .collect();
    let offers_listed = statuses
        .iter()
        .find_map(|(_, st)| st.as_ref().map(|s| s.offers))
        .unwrap_or(0);
    let metrics =
        futures::future::join_all(all.iter().map(|&i| async move { ctx.metrics(i).await })).await;
    let reputation = reputation(ctx, plan, &setup).await;
    sampling.cancel();
    background.join_all().await;

    Ok(Played {
        info: RunInfo {
            scenario: s.name.clone(),
            description: s.description.clone(),
            seed,
            nodes: n,
            providers: plan.providers.len(),
            flaky_providers: plan.providers.iter().filter(|p| p.flaky).count(),
            consumers: plan.consumers.len(),
            duration_secs: duration.as_secs_f64(),
            out: String::new(),
            started_at: unix_ms() / 1000 - t0.elapsed().as_secs(),
            startup_secs,
            setup_secs,
            wall_secs: 0.0,
            bootstrap_edges: edges.len(),
            cores: std::thread::available_parallelism().map_or(1, usize::from),
        },
        setup,
        attestations,
        events,
        final_convergence,
        digests,
        metrics,
        reputation,
        offers_listed,
    })
}

fn events_summary(s: &Scenario) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &s.churn {
        parts.push(format!("{} kills", c.kills));
    }
    if s.partition.is_some() {
        parts.push("a partition".to_owned());
    }
    if s.flood.is_some() {
        parts.push("a flood".to_owned());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(", with {}", parts.join(", "))
    }
}

async fn sample(ctx: Arc<Ctx>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_said = Instant::now();
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let sampler = ctx.clone();
        let _ = tokio::task::spawn_blocking(move || lock(&sampler.fleet).sample()).await;
        if ctx.activity_ms() > 0 && last_said.elapsed() >= Duration::from_secs(5) {
            last_said = Instant::now();
            let published = lock(&ctx.published);
            let count = |kind: &str| published.iter().filter(|p| p.kind == kind).count();
            ctx.say(format!(
                "{} offers, {} attestations published; {}/{} nodes up",
                count("offer"),
                count("qos_attestation"),
                ctx.up_nodes().len(),
                ctx.nodes()
            ));
        }
    }
}

/// Sleeps until `fraction` of the activity phase.
async fn at(ctx: &Ctx, s: &Scenario, fraction: f64) {
    let start = lock(&ctx.activity_start).unwrap_or_else(Instant::now);
    tokio::time::sleep_until((start + s.duration.0.mul_f64(fraction)).into()).await;
}

async fn scenario_events(
    ctx: Arc<Ctx>,
    s: Scenario,
    edges: Vec<(usize, usize)>,
    churn_pool: Vec<usize>,
    flood_target: Option<usize>,
    mut rng: Rng,
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
            (Some(spec), Some(target)) => flood(&ctx, &s, spec, target, flood_rng).await.map(Some),
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
async fn restart(ctx: &Ctx, s: &Scenario, i: usize, rng: &mut Rng) -> Result<(), TestnetError> {
    let up: Vec<usize> = ctx.up_nodes().into_iter().filter(|&j| j != i).collect();
    let boot = rng.choose(&up, s.network.bootstrap_degree.max(1));
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
    mut rng: Rng,
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
        let victim = up[rng.below(up.len())];
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
    mut rng: Rng,
) -> Result<PartitionReport, TestnetError> {
    let mut order: Vec<usize> = (0..ctx.nodes()).collect();
    rng.shuffle(&mut order);
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
                http::group_metric(
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
    rng: Rng,
) -> Result<(FloodReport, u64, u64), TestnetError> {
    at(ctx, s, spec.from).await;
    let before = rejections(ctx).await;
    let from_unix = unix_ms();
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
    let (sent, ()) = tokio::join!(attack, until);
    let sent = sent?;
    let until_unix = unix_ms();
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
            honest_offers: 0,
            honest_delivered_everywhere: 0,
        },
        from_unix,
        until_unix,
    ))
}

/// Reputation of every provider, as a node computes it (best first).
async fn reputation(ctx: &Ctx, plan: &Plan, setup: &market::Setup) -> Vec<ReputationRow> {
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
            price: p.price,
            regions: p.regions.clone(),
            agreements: setup.deals.iter().filter(|d| d.provider == k).count(),
            counted: r.counted.len(),
            probes: r.counted.iter().map(|c| u64::from(c.probes)).sum(),
            successes: r.counted.iter().map(|c| u64::from(c.successes)).sum(),
            score: r.score,
            beta_mean: r.beta_mean,
            compliance: r.compliance,
        });
    }
    rows.sort_by(|a, b| b.score.total_cmp(&a.score));
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
fn finish(
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

    let metric_sum = |verdict: &str| -> u64 {
        played
            .metrics
            .iter()
            .flatten()
            .map(|m| http::sum_metric(m, "flashback_objects_total", &[("verdict", verdict)]) as u64)
            .sum()
    };
    let metric_by_outcome = |verdict: &str| -> BTreeMap<String, u64> {
        let mut by = BTreeMap::new();
        for m in played.metrics.iter().flatten() {
            let groups = http::group_metric(
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
        let worst_healthy = healthy
            .iter()
            .map(|r| r.score)
            .fold(f64::INFINITY, f64::min);
        let best_flaky = flaky
            .iter()
            .map(|r| r.score)
            .fold(f64::NEG_INFINITY, f64::max);
        let all_counted = played.reputation.iter().all(|r| r.counted > 0);
        checks.push(check(
            "flaky providers rank below healthy ones",
            best_flaky < worst_healthy && all_counted,
            format!(
                "best flaky score {best_flaky:.3} < worst healthy score {worst_healthy:.3}{}",
                if all_counted {
                    ""
                } else {
                    "; some provider has no counted attestation"
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
        processes: Processes {
            started: ctx.nodes() + restarts as usize,
            forced_kills: forced,
            left_running,
        },
    }
}
