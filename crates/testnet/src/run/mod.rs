//! `testnet up`: plan, start the nodes, set up the market, play the activity phase and the
//! scenario's events, check convergence, stop everything, measure and report.
//!
//! - [`plan`](mod@plan): who plays what, from the run's seed;
//! - this module: starting the nodes and playing the run;
//! - [`events`]: churn, partitions and the flood, during the activity phase;
//! - [`withholding`]: the withholding node and the cross-check that must name it, at the end;
//! - [`finish`](mod@finish): reputation, logs, checks and the report, once the nodes stopped.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flashback_types::clock;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom as _;
use rand::{Rng as _, SeedableRng as _};
use tokio_util::sync::CancellationToken;

use crate::fleet::{self, Fleet};
use crate::observe::{Ctx, lock};
use crate::participants::{self, Deal};
use crate::report::{
    ChurnEvent, FloodReport, NodeDigest, PartitionReport, Report, ReputationRow, RunInfo,
    WithholdReport,
};
use crate::scenario::Scenario;
use crate::{Progress, TestnetError, UpOptions};

mod events;
mod finish;
mod market;
mod payments;
mod plan;
mod wan;
mod withholding;

pub(crate) use payments::Billing;

use events::scenario_events;
use finish::{finish, reputation};
use plan::{Plan, plan};

/// Grace period between SIGTERM and SIGKILL when stopping the nodes.
const STOP_GRACE: Duration = Duration::from_secs(10);

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
    setup: participants::Setup,
    attestations: usize,
    events: Events,
    final_convergence: Option<Duration>,
    digests: Vec<NodeDigest>,
    metrics: Vec<Option<String>>,
    /// Bytes (sent, received) on each node's interface (WAN links).
    wire: Vec<Option<(u64, u64)>>,
    reputation: Vec<ReputationRow>,
    withholding: Option<WithholdReport>,
    offers_listed: u64,
    payments: Option<crate::report::PaymentRun>,
    deals: Option<crate::report::DealsReport>,
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
    // A fresh seed is kept short, to be read and typed back (`--seed`).
    let seed = scenario
        .seed
        .unwrap_or_else(|| rand::random::<u64>() % 1_000_000_000);
    scenario.seed = Some(seed);
    if let Ok(text) = toml::to_string_pretty(&scenario) {
        fleet::write(&out.join("scenario.toml"), text.as_bytes())?;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let (plan, mut configs) = plan(&scenario, &out, seed, &mut rng)?;
    let mut fleet = Fleet::new(&out, &binary);
    let (wan, fallback) = {
        let (s, out, plan, progress) = (scenario.clone(), out.clone(), &plan, progress.clone());
        let mut link_rng = rng.fork();
        // `ip`, `tc` and `nft` are run one after the other, off the async threads.
        tokio::task::block_in_place(|| {
            wan::set_up(&s, &out, plan, &mut configs, &mut link_rng, &progress)
        })?
    };
    for (name, config) in configs {
        fleet.add(name, config);
    }
    let wan = wan.map(|(run, network)| {
        for (i, m) in fleet.members.iter_mut().enumerate() {
            m.netns = Some(network.node_ns(i));
        }
        fleet.network = Some(network);
        run
    });
    let ctx = Arc::new(Ctx::new(fleet, progress, wan));
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
    // The namespaces go once the processes are gone, on every path (errors and panics: the
    // fleet's drop).
    let (prefix, left_behind) = tokio::task::block_in_place(|| {
        lock(&ctx.fleet)
            .network
            .take()
            .map(|mut network| (Some(network.prefix().to_owned()), network.remove()))
            .unwrap_or_default()
    });
    let mut played = outcome?;
    played.info.wall_secs = started.elapsed().as_secs_f64();

    let mut report = finish(&ctx, &scenario, &plan, played, forced, left_running, &out);
    if let Some(links) = &mut report.links {
        links.fallback = links.fallback.take().or(fallback);
        links.left_behind = left_behind;
        links.prefix = prefix;
        if ctx.wan.is_some() {
            report.checks.push(crate::report::Check {
                name: "no namespace or link left".into(),
                ok: links.left_behind.is_empty(),
                detail: format!("{} left", links.left_behind.len()),
            });
            report.ok = report.checks.iter().all(|c| c.ok);
        }
    }
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
    rng: &mut StdRng,
) -> Result<Vec<(usize, usize)>, TestnetError> {
    let n = ctx.nodes();
    let mut up: Vec<usize> = Vec::new();
    let mut edges = Vec::new();
    let mut wave = 1;
    while up.len() < n {
        let batch: Vec<usize> = (up.len()..(up.len() + wave).min(n)).collect();
        for &i in &batch {
            let boot = up
                .sample(rng, s.network.bootstrap_degree.max(1))
                .copied()
                .collect::<Vec<_>>();
            let addrs: Vec<String> = boot.iter().filter_map(|&j| ctx.boot_addr(j)).collect();
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
    mut rng: StdRng,
) -> Result<Played, TestnetError> {
    let t0 = Instant::now();
    let n = ctx.nodes();
    let all: Vec<usize> = (0..n).collect();

    // Resource sampling and a progress line every few seconds, for the whole run.
    let sampling = CancellationToken::new();
    let mut background = tokio::task::JoinSet::new();
    background.spawn(sample(ctx.clone(), sampling.clone()));

    let edges = if s.nat.is_some() {
        wan::start_with_nat(ctx, s, &mut rng).await?
    } else {
        start_nodes(ctx, s, &mut rng).await?
    };
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
    let mains = participants::publish_main(ctx, providers).await?;
    ctx.say(format!(
        "{} providers published their offers ({} flaky)",
        providers.len(),
        providers.iter().filter(|p| p.flaky).count()
    ));
    let (setup, deals) = match &s.deals {
        // Deals through demands, as `deal make` makes them.
        Some(spec) => {
            let certified = market::certify(ctx, spec, plan).await?;
            ctx.say(format!(
                "the certifier certified {certified} providers with {}",
                spec.claim
            ));
            let (setup, deals) = market::make_deals(ctx, s, spec, plan, &mains).await?;
            (setup, Some(deals))
        }
        None => {
            let setup = participants::make_agreements(
                ctx,
                &plan.consumers,
                providers,
                &mains,
                s.expect.converge_within.0,
                s.payments
                    .as_ref()
                    .map(|_| payments::Billing::of(s.duration.0)),
            )
            .await?;
            (setup, None)
        }
    };
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
        publishers.spawn(participants::spot_publisher(
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
        probers.spawn(participants::prober(
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
        let republisher = plan.providers.first().cloned();
        tokio::spawn(async move {
            scenario_events(ctx, s, edges, pool, target, republisher, events_rng).await
        })
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
            flagged_providers: st.as_ref().map_or(0, |s| s.flagged_providers),
        })
        .collect();
    let offers_listed = statuses
        .iter()
        .find_map(|(_, st)| st.as_ref().map(|s| s.offers))
        .unwrap_or(0);
    let metrics =
        futures::future::join_all(all.iter().map(|&i| async move { ctx.metrics(i).await })).await;
    let wire = tokio::task::block_in_place(|| wan::wire_bytes(ctx));
    let reputation = reputation(ctx, plan, &setup).await;
    let withholding = match &s.withhold {
        Some(spec) => Some(withholding::check(ctx, plan, spec).await),
        None => None,
    };
    let payments = match &s.payments {
        Some(spec) => Some(payments::settle(ctx, s, spec, plan, &setup, &mains).await),
        None => None,
    };
    sampling.cancel();
    background.join_all().await;

    Ok(Played {
        info: RunInfo {
            scenario: s.name.clone(),
            description: s.description.clone(),
            seed,
            rerun: rerun(s, n, plan, duration, seed),
            nodes: n,
            providers: plan.providers.len(),
            flaky_providers: plan.providers.iter().filter(|p| p.flaky).count(),
            consumers: plan.consumers.len(),
            duration_secs: duration.as_secs_f64(),
            out: String::new(),
            started_at: clock::now() - t0.elapsed().as_secs(),
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
        wire,
        reputation,
        withholding,
        offers_listed,
        payments,
        deals,
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
    if s.withhold.is_some() {
        parts.push("a withholding node at the end".to_owned());
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

/// The command line that plays a run again: every count and the seed made explicit.
fn rerun(s: &Scenario, nodes: usize, plan: &Plan, duration: Duration, seed: u64) -> String {
    let scenario = if s.source.is_empty() {
        &s.name
    } else {
        &s.source
    };
    let quote = |t: String| {
        if t.contains(char::is_whitespace) {
            format!("\"{t}\"")
        } else {
            t
        }
    };
    format!(
        "flashback testnet up --scenario {} --nodes {nodes} --providers {} --consumers {} \
         --duration {} --seed {seed}",
        quote(scenario.clone()),
        plan.providers.len(),
        plan.consumers.len(),
        quote(crate::scenario::Span(duration).to_string()),
    )
}
