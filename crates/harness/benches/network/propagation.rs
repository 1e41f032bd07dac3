//! Propagation: how fast one offer spreads through N peers, raw gossipsub against full nodes.

use std::hint::black_box;
use std::time::{Duration, Instant};

use flashback_harness::{MeshState, Network, Wait, process_cpu, sign_offers};
use flashback_types::Object;
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};
use serde_json::json;

use crate::{Report, Settings, ms, network_spec, with_flush};
use flashback_types::stats::percentile;

/// Offers that reached fewer than this share of the other peers count as not propagated.
const COVERAGE: f64 = 0.95;
/// Most time one offer may take to reach every peer before the bench moves on.
const OFFER_DEADLINE: Duration = Duration::from_secs(10);
/// Pause between two measured offers, so one offer's trailing duplicates do not queue in front
/// of the next. Spacing, not synchronisation.
const OFFER_GAP: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Gossipsub forwarding Flashback's unsigned messages, with no work of its own.
    Baseline,
    /// Gossipsub as libp2p ships it: every message signed by its publisher's peer key and
    /// checked on every copy received ([`flashback_net::NetBuilder::signed_gossip`]).
    Signed,
    /// Real nodes.
    Full,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Baseline => "baseline",
            Mode::Signed => "signed",
            Mode::Full => "full",
        }
    }
}

/// The network of a mode: N peers on the memory transport, each bootstrapping to 2 or 3
/// random earlier peers (seeded, the same topology for every mode).
async fn start_network(mode: Mode, n: usize, settings: &Settings) -> Network {
    let spec = network_spec(n, settings, settings.link_ms);
    let started = match mode {
        Mode::Baseline => Network::raw(&spec).await,
        Mode::Signed => Network::raw_with(&spec, |builder| builder.signed_gossip()).await,
        Mode::Full => {
            Network::full_with(&spec, |_, config| with_flush(config, settings.flush_ms)).await
        }
    };
    started.expect("network starts")
}

struct Propagation {
    nodes: usize,
    mesh: MeshState,
    /// Per offer, time until 95 % of the other peers held it (`None`: never within the deadline).
    t95: Vec<Option<Duration>>,
    /// Per offer, time until every other peer held it.
    t100: Vec<Option<Duration>>,
    /// Per offer, time until the first other peer held it: the publisher's own latency and one
    /// hop, before the spread.
    t1: Vec<Option<Duration>>,
    /// Full nodes only: per offer, time until 95 % of the other peers had it durable.
    durable95: Vec<Option<Duration>>,
    /// Per offer, how long the publish call took (for the full node: `submit`, which validates
    /// and stores the offer before publishing it).
    publish_call: Vec<Duration>,
    /// CPU time of the whole process (all N peers, background included) ÷ wall time, over the
    /// measurement: near the core count, the harness is CPU-bound and times are inflated.
    cores_busy: Option<f64>,
    /// Per offer, CPU time of the whole process from just before the publish until every other
    /// peer held the offer (`None`: not every peer did, or no per-thread CPU times here).
    wave_cpu: Vec<Option<Duration>>,
    raw_receptions: u64,
    first_receptions: u64,
    /// Gossip payload bytes received by all peers, duplicates included.
    bytes_received: u64,
    publish_errors: usize,
}

impl Propagation {
    fn sorted(samples: &[Option<Duration>]) -> Vec<Duration> {
        let mut sorted: Vec<Duration> = samples.iter().flatten().copied().collect();
        sorted.sort();
        sorted
    }

    fn t95(&self, p: f64) -> Option<Duration> {
        percentile(&Self::sorted(&self.t95), p / 100.0)
    }

    fn t100(&self, p: f64) -> Option<Duration> {
        percentile(&Self::sorted(&self.t100), p / 100.0)
    }

    fn t1(&self, p: f64) -> Option<Duration> {
        percentile(&Self::sorted(&self.t1), p / 100.0)
    }

    fn durable95(&self, p: f64) -> Option<Duration> {
        percentile(&Self::sorted(&self.durable95), p / 100.0)
    }

    fn publish_call(&self, p: f64) -> Option<Duration> {
        let mut sorted = self.publish_call.clone();
        sorted.sort();
        percentile(&sorted, p / 100.0)
    }

    /// Adds another round's samples to this one.
    fn merge(&mut self, other: Propagation) {
        let (mine, theirs) = (self.t95.len() as f64, other.t95.len() as f64);
        self.cores_busy = match (self.cores_busy, other.cores_busy) {
            (Some(a), Some(b)) => Some((a * mine + b * theirs) / (mine + theirs)),
            (a, b) => a.or(b),
        };
        self.mesh = other.mesh;
        self.t95.extend(other.t95);
        self.t100.extend(other.t100);
        self.t1.extend(other.t1);
        self.durable95.extend(other.durable95);
        self.wave_cpu.extend(other.wave_cpu);
        self.publish_call.extend(other.publish_call);
        self.raw_receptions += other.raw_receptions;
        self.first_receptions += other.first_receptions;
        self.bytes_received += other.bytes_received;
        self.publish_errors += other.publish_errors;
    }

    fn receptions_per_node_per_offer(&self) -> f64 {
        self.raw_receptions as f64 / (self.nodes * self.t95.len()) as f64
    }

    fn bytes_per_node_per_offer(&self) -> f64 {
        self.bytes_received as f64 / (self.nodes * self.t95.len()) as f64
    }
}

async fn run_propagation(
    mode: Mode,
    n: usize,
    warmup: &[Object],
    offers: &[Object],
    settings: &Settings,
) -> Propagation {
    let heartbeat = Duration::from_millis(settings.heartbeat_ms);
    let started = Instant::now();
    let mut network = start_network(mode, n, settings).await;
    eprintln!(
        "  {} × {n}: started in {:.1} s, waiting for meshes",
        mode.name(),
        started.elapsed().as_secs_f64()
    );
    let mesh = network.wait_for_mesh(settings.mesh_wait).await;
    if !mesh.formed {
        eprintln!(
            "  warning: meshes not settled after {} s ({} peers short of a mesh); measuring anyway",
            settings.mesh_wait.as_secs(),
            mesh.short_of_mesh
        );
    }

    let mut rng = StdRng::seed_from_u64(settings.seed.wrapping_mul(31) ^ n as u64);
    // Unmeasured offers first: the first ones through a fresh process pay one-off costs
    // (thread pools growing, first page faults), up to a few hundred milliseconds each.
    for offer in warmup {
        let from = rng.random_range(0..n);
        let wave = network
            .propagate(from, offer, Wait::listed(OFFER_DEADLINE))
            .await;
        if let Some(e) = &wave.publish_error {
            eprintln!("  warning: warm-up publish from peer {from} failed: {e}");
        }
        if wave.reached() < n - 1 {
            eprintln!(
                "  warning: a warm-up offer reached {} of {} peers",
                wave.reached(),
                n - 1
            );
        }
        tokio::time::sleep(OFFER_GAP).await;
    }
    // Anything received so far is not part of the measurement.
    network.drain_receipts();
    let before = network.gossip_totals();
    let mut result = Propagation {
        nodes: n,
        mesh,
        t95: Vec::new(),
        t100: Vec::new(),
        t1: Vec::new(),
        durable95: Vec::new(),
        publish_call: Vec::new(),
        cores_busy: None,
        wave_cpu: Vec::new(),
        raw_receptions: 0,
        first_receptions: 0,
        bytes_received: 0,
        publish_errors: 0,
    };
    let cpu_before = (Instant::now(), process_cpu());
    for offer in offers {
        let from = rng.random_range(0..n);
        let wave = network
            .propagate(from, offer, Wait::durable(OFFER_DEADLINE))
            .await;
        if let Some(e) = &wave.publish_error {
            eprintln!("  warning: publish from peer {from} failed: {e}");
            result.publish_errors += 1;
        }
        result.publish_call.push(wave.publish_call);
        result.wave_cpu.push(wave.cpu);
        result.t95.push(wave.time_to(COVERAGE));
        result.t100.push(wave.time_to(1.0));
        result.t1.push(wave.time_to_first());
        if mode == Mode::Full {
            result.durable95.push(wave.durable_time_to(COVERAGE));
        }
        tokio::time::sleep(OFFER_GAP).await;
    }
    if let (Some(before), Some(after)) = (cpu_before.1, process_cpu()) {
        result.cores_busy =
            Some(after.saturating_sub(before).as_secs_f64() / cpu_before.0.elapsed().as_secs_f64());
    }
    // Let trailing duplicates land before reading the counters.
    tokio::time::sleep(heartbeat * 5).await;
    let gossiped = network.gossip_totals() - before;
    result.raw_receptions = gossiped.receptions;
    result.first_receptions = gossiped.first_receptions;
    result.bytes_received = gossiped.bytes_received;
    if network.lagged_receipts() > 0 {
        eprintln!(
            "  warning: {} receipts lost by reporters that lagged",
            network.lagged_receipts()
        );
    }
    let aborted = network.shutdown().await;
    if aborted > 0 {
        eprintln!("  warning: {aborted} receipt reporters did not end; aborted them");
    }
    result
}

/// Mean time of one full decode + strict verification of `offer` on this machine, now.
fn decode_verify_time(offer: &Object) -> Duration {
    const ROUNDS: u32 = 500;
    let rules = flashback_types::TimeRules::default();
    let now = flashback_types::clock::now();
    let start = Instant::now();
    for _ in 0..ROUNDS {
        black_box(Object::decode_at(black_box(offer.encoded()), now, &rules).is_ok());
    }
    start.elapsed() / ROUNDS
}

/// What one full node's store costs per offer, as each node pays it for each offer at the
/// bench's spacing.
#[derive(Clone, Copy)]
struct ListingCost {
    /// Entering it in the listing: the in-memory indexes and the sled insert (wall-clock time,
    /// on one thread).
    stage: Duration,
    /// Making it durable on its own: one flush of the store (process CPU time, sled's I/O
    /// threads included).
    flush: Duration,
}

/// Measures [`ListingCost`] over `LISTINGS` distinct offers in fresh stores in the temp dir:
/// once staging and flushing each offer (process CPU time), once staging them all (wall-clock
/// time: in memory, on one thread) and flushing at the end. `None` where process CPU time
/// cannot be read.
fn listing_cost() -> Option<ListingCost> {
    const LISTINGS: usize = 1000;
    let offers = sign_offers(LISTINGS, 1, "listing-cost");
    let dir = tempfile::tempdir().expect("temp dir");
    let now = flashback_types::clock::now();
    let open = |name: &str| {
        flashback_store::Store::open(dir.path().join(name), Default::default())
            .expect("open a store")
    };
    let flushed = open("flushed");
    let before = process_cpu()?;
    for offer in &offers {
        flushed.apply(offer, now).expect("apply an offer");
    }
    let each = process_cpu()?.saturating_sub(before) / LISTINGS as u32;
    // In memory and on this thread: timed by the clock, finer than the CPU clock's 10 ms ticks.
    let staged = open("staged");
    let start = Instant::now();
    for offer in &offers {
        staged
            .stage_batch(std::slice::from_ref(offer), now)
            .expect("stage an offer");
    }
    let stage = start.elapsed() / LISTINGS as u32;
    staged.flush().expect("flush");
    Some(ListingCost {
        stage,
        flush: each.saturating_sub(stage),
    })
}

pub(crate) async fn run(settings: &Settings, report: &mut Report) {
    let offers = sign_offers(settings.offers, 1, "propagation");
    // The same warm-up offers go through every network: each starts with empty stores.
    let warmup = sign_offers(settings.warmup, 1, "propagation-warmup");
    // What the full node cannot avoid: every other node verifies every offer, and in this
    // harness all of them share the machine's cores.
    let verify = decode_verify_time(&offers[0]);
    // And every other node lists it and flushes it to disk.
    let listing = tokio::task::spawn_blocking(listing_cost)
        .await
        .expect("listing cost");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    report.row(format!(
        "\nPROPAGATION: memory transport, link delay {} ms one way, heartbeat {} ms, at most {} connections per peer, Kademlia {}, {} peers dialled by each, gossip flush delay {} ms, {} offers of {} bytes per run; t95 = until \
         95% of the other N-1 nodes hold it (full: verified, in the listing); t1 = until the first \
         one does; dur95 = until it is durable there too; recv = full-message receptions incl. duplicates / (N x offers); rx B = their payload bytes / (N x offers)",
        settings.link_ms,
        settings.heartbeat_ms,
        settings.max_connections,
        if settings.kademlia { "on" } else { "off (only the dialled connections)" },
        match settings.dials {
            0 => "2 or 3 earlier".to_owned(),
            dials => dials.to_string(),
        },
        settings.flush_ms,
        offers.len(),
        offers[0].encoded().len()
    ));
    report.row(format!(
        "{:>5} {:>9} {:>13} {:>6} {:>8} {:>9} {:>9} {:>10} {:>10} {:>9} {:>5} {:>8} {:>6} {:>7} {:>7}",
        "nodes",
        "mode",
        "mesh avg/min",
        "conn",
        "t1 p50",
        "t95 p50",
        "t95 p99",
        "t100 p50",
        "dur95 p50",
        "pub p50",
        "cores",
        "reached",
        "recv",
        "1st",
        "rx B"
    ));
    let modes: Vec<Mode> = [Mode::Baseline, Mode::Signed, Mode::Full]
        .into_iter()
        .filter(|m| settings.modes.iter().any(|name| name == m.name()))
        .collect();
    let per_round = offers.len().div_ceil(settings.rounds);
    for &n in &settings.nodes {
        eprintln!("propagation, {n} nodes");
        // The machine's speed drifts over a run (other tenants, thermal state), so the modes
        // take turns: each round starts a fresh network per mode (both on the same topology)
        // and publishes the round's share of the offers, the first mode alternating.
        let mut merged: Vec<Option<Propagation>> = modes.iter().map(|_| None).collect();
        // Per baseline mode, each round's p50 ratio full / that baseline.
        let mut round_ratios: Vec<(Mode, Vec<f64>)> = modes
            .iter()
            .filter(|&&m| m != Mode::Full)
            .map(|&m| (m, Vec::new()))
            .collect();
        for (round, chunk) in offers.chunks(per_round).enumerate() {
            let round_settings = Settings {
                seed: settings.seed.wrapping_add(round as u64),
                ..settings.clone()
            };
            let mut order: Vec<usize> = (0..modes.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            let mut p50 = vec![None; modes.len()];
            for i in order {
                let run = run_propagation(modes[i], n, &warmup, chunk, &round_settings).await;
                p50[i] = run.t95(50.0);
                eprintln!(
                    "    round {round} {}: t95 per offer (ms) {}",
                    modes[i].name(),
                    run.t95
                        .iter()
                        .map(|t| t.map_or("-".to_owned(), |t| format!("{:.1}", ms(t))))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                match &mut merged[i] {
                    Some(all) => all.merge(run),
                    slot @ None => *slot = Some(run),
                }
            }
            let p50_of = |mode: Mode| modes.iter().position(|&m| m == mode).and_then(|i| p50[i]);
            if let Some(f) = p50_of(Mode::Full) {
                for (mode, ratios) in &mut round_ratios {
                    if let Some(b) = p50_of(*mode).filter(|b| !b.is_zero()) {
                        ratios.push(f.as_secs_f64() / b.as_secs_f64());
                    }
                }
            }
        }
        let mut runs = Vec::new();
        for (mode, run) in modes.iter().copied().zip(merged) {
            let Some(run) = run else { continue };
            let fmt = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.1}ms", ms(d)));
            let reached = run.t95.iter().filter(|t| t.is_some()).count();
            report.row(format!(
                "{:>5} {:>9} {:>13} {:>6.1} {:>8} {:>9} {:>9} {:>10} {:>10} {:>9} {:>5} {:>8} {:>6.2} {:>7.2} {:>7.0}",
                n,
                mode.name(),
                format!("{:.1}/{}", run.mesh.mesh_avg, run.mesh.mesh_min),
                run.mesh.connected_avg,
                fmt(run.t1(50.0)),
                fmt(run.t95(50.0)),
                fmt(run.t95(99.0)),
                fmt(run.t100(50.0)),
                fmt(run.durable95(50.0)),
                fmt(run.publish_call(50.0)),
                run.cores_busy.map_or("-".to_owned(), |c| format!("{c:.2}")),
                format!("{reached}/{}", run.t95.len()),
                run.receptions_per_node_per_offer(),
                run.first_receptions as f64 / (n * run.t95.len()) as f64,
                run.bytes_per_node_per_offer(),
            ));
            if !run.mesh.formed {
                report.row(format!(
                    "      (meshes had not settled after {:.0} s: {} peers short of a mesh)",
                    run.mesh.elapsed.as_secs_f64(),
                    run.mesh.short_of_mesh
                ));
            }
            if run.publish_errors > 0 {
                report.row(format!("      ({} publish errors)", run.publish_errors));
            }
            let context = json!({ "nodes": n, "mode": mode.name(), "offers": run.t95.len(), "link_ms": settings.link_ms, "flush_ms": settings.flush_ms });
            for (name, value) in [
                ("t95_p50_ms", run.t95(50.0)),
                ("t95_p99_ms", run.t95(99.0)),
                ("durable95_p50_ms", run.durable95(50.0)),
                ("durable95_p99_ms", run.durable95(99.0)),
            ] {
                if let Some(value) = value {
                    report.figure(
                        &format!("propagation.{name}"),
                        ms(value),
                        "ms",
                        context.clone(),
                    );
                }
            }
            report.figure(
                "propagation.receptions_per_node_per_offer",
                run.receptions_per_node_per_offer(),
                "messages",
                context.clone(),
            );
            report.figure(
                "propagation.bytes_received_per_node_per_offer",
                run.bytes_per_node_per_offer(),
                "bytes",
                context.clone(),
            );
            if let Some(cores) = run.cores_busy {
                report.figure("propagation.cores_busy", cores, "cores", context.clone());
            }
            report.figure(
                "propagation.reached_95pct",
                reached as f64 / run.t95.len() as f64,
                "fraction",
                context,
            );
            runs.push((mode, run));
        }
        let find = |mode: Mode| runs.iter().find(|(m, _)| *m == mode).map(|(_, run)| run);
        if let Some(full) = find(Mode::Full) {
            for (base_mode, rounds) in &mut round_ratios {
                if let Some(base) = find(*base_mode) {
                    let floors = (*base_mode == Mode::Baseline).then_some((verify, listing, cores));
                    compare(
                        report,
                        settings,
                        n,
                        (*base_mode, base),
                        full,
                        rounds,
                        floors,
                    );
                }
            }
        }
    }
}

/// The full node's figures against one baseline's, from the same run: t95 ratios, CPU per
/// wave, each round's ratio, and (`floors`, for the unsigned baseline) the floor lines.
fn compare(
    report: &mut Report,
    settings: &Settings,
    n: usize,
    (base_mode, base): (Mode, &Propagation),
    full: &Propagation,
    round_ratios: &mut [f64],
    floors: Option<(Duration, Option<ListingCost>, usize)>,
) {
    let ratio = |p| match (full.t95(p), base.t95(p)) {
        (Some(f), Some(b)) if !b.is_zero() => Some(f.as_secs_f64() / b.as_secs_f64()),
        _ => None,
    };
    let (r50, r99) = (ratio(50.0), ratio(99.0));
    let show = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{r:.2}"));
    let base_name = base_mode.name();
    // Every figure of this comparison names its baseline.
    let context = json!({ "nodes": n, "baseline": base_name, "link_ms": settings.link_ms, "flush_ms": settings.flush_ms });
    report.row(format!(
        "{:>5} {:>9} full/{base_name} t95: p50 x{}  p99 x{}  (target <= 1.3); added p50 {:.1} ms",
        n,
        "ratio",
        show(r50),
        show(r99),
        match (full.t95(50.0), base.t95(50.0)) {
            (Some(f), Some(b)) => ms(f) - ms(b),
            _ => f64::NAN,
        }
    ));
    let cpu = |run: &Propagation| percentile(&Propagation::sorted(&run.wave_cpu), 0.5);
    if let (Some(f), Some(b)) = (cpu(full), cpu(base))
        && !b.is_zero()
    {
        let r = f.as_secs_f64() / b.as_secs_f64();
        report.row(format!(
            "{:>5} {:>9} CPU of the process per wave (publish until all N-1 hold it), p50: \
             {:.1} ms {base_name}, {:.1} ms full, x{r:.2}",
            n,
            "cpu",
            ms(b),
            ms(f)
        ));
        report.figure("propagation.ratio_wave_cpu_p50", r, "x", context.clone());
    }
    round_ratios.sort_by(f64::total_cmp);
    report.row(format!(
        "{:>5} {:>9} p50 ratio full/{base_name} of each round, sorted: {}",
        n,
        "rounds",
        round_ratios
            .iter()
            .map(|r| format!("x{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    for (name, r) in [("ratio_t95_p50", r50), ("ratio_t95_p99", r99)] {
        if let Some(r) = r {
            report.figure(&format!("propagation.{name}"), r, "x", context.clone());
        }
    }
    // Not a prediction: the verification work alone, spread perfectly over every
    // core, added to this run's baseline (noise in the baseline can beat it).
    let Some((verify, listing, cores)) = floors else {
        return;
    };
    let mut floor_context = context;
    floor_context["decode_verify_us"] = json!(verify.as_secs_f64() * 1e6);
    let per_node = |work: Duration| work * (n as u32 - 1) / cores as u32;
    let floor = per_node(verify);
    if let Some(b) = base.t95(50.0) {
        let ratio = |floor: Duration| (ms(b) + ms(floor)) / ms(b);
        report.row(format!(
            "{:>5} {:>9} verification alone: {} nodes x {:.0} us / {cores} cores = {:.1} ms, \
             a p50 ratio of x{:.2} over this baseline",
            n,
            "floor",
            n - 1,
            verify.as_secs_f64() * 1e6,
            ms(floor),
            ratio(floor),
        ));
        report.figure(
            "propagation.ratio_floor_p50",
            ratio(floor),
            "x",
            floor_context.clone(),
        );
        // The same with each node's listing of the offer added, then its flush too. A
        // node's flush waits `flush_ms` after the offer arrives, so it lands inside the
        // wave only where the wave outlasts that delay.
        if let Some(cost) = listing {
            let listed = per_node(verify + cost.stage);
            let flushed = per_node(verify + cost.stage + cost.flush);
            report.row(format!(
                "{:>5} {:>9} + listing ({:.0} us): x{:.2}; + flush ({:.0} us CPU), \
                 if every node's fell inside the wave: {:.1} ms, x{:.2}",
                n,
                "floor",
                cost.stage.as_secs_f64() * 1e6,
                ratio(listed),
                cost.flush.as_secs_f64() * 1e6,
                ms(flushed),
                ratio(flushed),
            ));
            let mut context = floor_context;
            context["stage_us"] = json!(cost.stage.as_secs_f64() * 1e6);
            context["flush_cpu_us"] = json!(cost.flush.as_secs_f64() * 1e6);
            for (name, floor) in [("listed", listed), ("flushed", flushed)] {
                report.figure(
                    &format!("propagation.ratio_floor_{name}_p50"),
                    ratio(floor),
                    "x",
                    context.clone(),
                );
            }
        }
    }
}
