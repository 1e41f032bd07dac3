//! Network benchmark: how fast a signed offer spreads through an in-process network of N nodes,
//! with raw gossipsub and with the full node pipeline, and how fast one node ingests a burst of
//! offers, next to the raw `verify_strict` rate measured in the same run.
//!
//! 1. **Propagation.** N peers on libp2p's memory transport, each bootstrapping to 2 or 3
//!    random earlier peers (seeded), the node's default gossipsub heartbeat (1 s). Once the
//!    gossipsub meshes have formed, W unmeasured warm-up offers go through the network (the
//!    first offers through a fresh process pay one-off costs: thread pools growing, first page
//!    faults), then M offers are published one at a time from random peers.
//!    Per offer: the time until 95 % of the *other* N−1 peers hold it (t95), then p50 / p99
//!    of t95 over the M offers (and the p50 of t1, until the first of them does: the
//!    publisher's own latency plus one hop); and the full-message receptions per node per
//!    offer, duplicates included (libp2p's
//!    `topic_msg_recv_counts_unfiltered` ÷ (N × M)); and the CPU time the whole process spent
//!    per offer from just before its publish until every other peer held it (all threads, so
//!    all N peers and their background work), whose ratio between the modes shows how much of
//!    the t95 ratio is CPU work on the shared cores. Three modes:
//!    - *baseline*: plain `flashback_net` peers whose gossip validator accepts every message
//!      on the network task as it arrives, as gossipsub without validation forwards it
//!      (receipt = the instant of that call; no decoding, no store);
//!    - *signed*: the same peers with gossipsub's own message authentication, as libp2p ships
//!      it (`MessageAuthenticity::Signed`, `ValidationMode::Strict`): every message carries a
//!      signature by its publisher's peer key, which every peer checks on every copy it
//!      receives, duplicates included, before forwarding (`NetBuilder::signed_gossip`). This is
//!      what gossipsub costs out of the box; Flashback's protocol drops that per-copy check and
//!      has each node verify the object's own signature once instead;
//!    - *full*: real [`Node`]s (sled in temp dirs, metrics endpoint off); the publisher calls
//!      [`Node::submit`] (validate, store, publish); receipt = the instant the object entered
//!      that node's listing, verified and visible to queries ([`Node::subscribe_listed`]).
//!      The time until the harness hears it is also durable there
//!      ([`Node::subscribe_applied`]) is reported next to it (`dur95`).
//!
//!    Every receipt is stamped by the peer where it holds the message, not when a harness
//!    task gets round to reading it (that task runs behind every peer's work on the same
//!    runtime, which would add harness scheduling to the figures). The modes take turns in
//!    rounds (a fresh network per mode and round, the same topology for all, the order
//!    reversed every other round), so that the machine's drift over the run falls on all; the
//!    table pools the rounds, and the full node's ratios to each baseline follow, with each
//!    round's own p50 ratio. Under the *baseline* comparison, two floor lines: the baseline
//!    plus the CPU work every other node cannot skip, spread perfectly over the cores —
//!    decoding and verifying the offer (timed in this run), then that plus listing it,
//!    then plus flushing it to disk (process CPU time per offer in fresh stores in the temp
//!    dir, over 1,000 offers). None is a prediction; they show how much of the ratio that
//!    work alone takes on this machine.
//! 2. **Ingest.** A sender node publishes K distinct pre-signed offers to a receiver node,
//!    once as a burst (as fast as gossipsub takes them) and once paced by the harness (at most
//!    2048 published but not yet stored); the receiver validates and stores them. What gossip
//!    drops under load (full queues, slow-peer scoring) is then fetched by anti-entropy
//!    (`sync_now`) from the sender, which holds all K. Then the same K offers fed straight to
//!    [`flashback_node::Validator::ingest`] of a fresh node in batches of 512, and raw
//!    `PublicKey::verify_strict` of a 32-byte message on one thread and on all threads.
//!
//! ```text
//! cargo bench -p flashback-node --bench network
//! FLASHBACK_BENCH_NODES=100 FLASHBACK_BENCH_OFFERS=50 FLASHBACK_BENCH_INGEST=0 cargo bench …
//! ```
//!
//! Environment (all optional): `FLASHBACK_BENCH_NODES` (comma list, default `20,50,100`;
//! empty skips propagation), `FLASHBACK_BENCH_OFFERS` (M, default 50),
//! `FLASHBACK_BENCH_ROUNDS` (rounds M is split into, default 5), `FLASHBACK_BENCH_WARMUP`
//! (W, per network, default 3), `FLASHBACK_BENCH_LINK_MS`
//! (simulated one-way latency of every propagation link, default 0: the figures are then the
//! peers' CPU work alone; see `NetConfig::memory_link_delay_ms`), `FLASHBACK_BENCH_MESH_N`
//! (gossipsub mesh degree, default `NetConfig`'s), `FLASHBACK_BENCH_FLUSH_MS` (full nodes'
//! `pipeline.flush_delay_ms`, the group-commit window for gossip, default the node's),
//! `FLASHBACK_BENCH_INGEST` (K, default 50000; 0 skips ingest), `FLASHBACK_BENCH_SEED`
//! (default 1), `FLASHBACK_BENCH_HEARTBEAT_MS` (default `NetConfig`'s, 1000: a shorter one
//! forms meshes sooner, but mesh upkeep in every node that often keeps the cores busy; at
//! 100 ms and 100 nodes, about 1.5 of the 2 cores before any offer), `FLASHBACK_BENCH_MODES`
//! (propagation modes, default `baseline,signed,full`; one mode alone is for profiling, with
//! no ratio). Stores go to the system temp dir; `TMPDIR=/dev/shm` takes the disk's flush latency
//! out of the figures.
//!
//! Output: a table on stdout, then one JSON object per figure, one per line. Progress goes to
//! stderr, with each round's t95 of every offer in publishing order. Everything runs in one
//! process on one tokio runtime: on a small machine the peers compete for the same cores, so
//! absolute times are an upper bound of a real deployment.

// This binary's output *is* its report: stdout for figures, stderr for progress.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::hint::black_box;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use flashback_net::{
    GossipValidator, Judged, Keypair, MessageId32, NetBuilder, NetConfig, NetEvent, NetHandle,
    PeerId, Registry, Validation, topics,
};
use flashback_node::{MetricsConfig, Node, NodeConfig, PipelineConfig, SyncConfig, Verdict};
use flashback_store::Applied;
use flashback_types::{Object, SecretKey, Signed, samples};
use futures::{Stream, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;

/// Offers that reached fewer than this share of the other peers count as not propagated.
const COVERAGE: f64 = 0.95;
/// Most time one offer may take to reach every peer before the bench moves on.
const OFFER_DEADLINE: Duration = Duration::from_secs(10);
/// Most time the meshes may take to form.
const MESH_DEADLINE: Duration = Duration::from_secs(60);
/// Smallest mesh a settled peer has: gossipsub's `mesh_n_low` for our mesh degree (a peer
/// with fewer connections can only mesh with what it has).
fn min_mesh() -> usize {
    (flashback_net::NetConfig::default().gossip_mesh_n * 3 / 4).max(1)
}
/// Pause between two measured offers, so one offer's trailing duplicates do not queue in front
/// of the next. Spacing, not synchronisation.
const OFFER_GAP: Duration = Duration::from_millis(50);
/// Offers per provider in the ingest burst: anti-entropy lists at most 1024 offers per provider
/// and asks one request per provider, so a few hundred each keeps it efficient.
const OFFERS_PER_PROVIDER: usize = 500;
/// Paced ingest: most offers published but not yet stored by the receiver. Below gossipsub's
/// per-peer send queue (5000) and the receiver's queues (1024 + 8192), so nothing is dropped.
const PACED_WINDOW: usize = 2048;
/// Batch size of the direct `Validator::ingest` measurement (the pipeline's `max_batch`).
const INGEST_BATCH: usize = 512;

#[derive(Clone)]
struct Settings {
    nodes: Vec<usize>,
    offers: usize,
    rounds: usize,
    warmup: usize,
    ingest: usize,
    seed: u64,
    heartbeat_ms: u64,
    link_ms: u64,
    flush_ms: u64,
    modes: Vec<String>,
}

impl Settings {
    fn from_env() -> Self {
        let nodes = std::env::var("FLASHBACK_BENCH_NODES").unwrap_or_else(|_| "20,50,100".into());
        Self {
            nodes: nodes
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    s.trim()
                        .parse()
                        .expect("FLASHBACK_BENCH_NODES: comma-separated node counts")
                })
                .filter(|&n| n >= 2)
                .collect(),
            offers: env_or("FLASHBACK_BENCH_OFFERS", 50).max(1),
            rounds: env_or("FLASHBACK_BENCH_ROUNDS", 5).max(1),
            warmup: env_or("FLASHBACK_BENCH_WARMUP", 3),
            ingest: env_or("FLASHBACK_BENCH_INGEST", 50_000),
            seed: env_or("FLASHBACK_BENCH_SEED", 1),
            heartbeat_ms: env_or(
                "FLASHBACK_BENCH_HEARTBEAT_MS",
                NetConfig::default().gossip_heartbeat_ms,
            )
            .max(1),
            link_ms: env_or("FLASHBACK_BENCH_LINK_MS", 0),
            flush_ms: env_or(
                "FLASHBACK_BENCH_FLUSH_MS",
                PipelineConfig::default().flush_delay_ms,
            ),
            modes: std::env::var("FLASHBACK_BENCH_MODES")
                .unwrap_or_else(|_| "baseline,signed,full".into())
                .split(',')
                .map(|m| m.trim().to_owned())
                .collect(),
        }
    }
}

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
        Err(_) => default,
    }
}

/// SplitMix64: a seeded, dependency-free generator; good enough to pick peers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The figures of a run: rows of the table and one JSON object per figure.
#[derive(Default)]
struct Report {
    table: String,
    json: Vec<Value>,
}

impl Report {
    fn row(&mut self, line: String) {
        eprintln!("  {line}");
        self.table.push_str(&line);
        self.table.push('\n');
    }

    fn figure(&mut self, figure: &str, value: f64, unit: &str, context: Value) {
        let mut object =
            json!({ "bench": "network", "figure": figure, "value": round3(value), "unit": unit });
        if let (Some(map), Value::Object(extra)) = (object.as_object_mut(), context) {
            map.extend(extra);
        }
        self.json.push(object);
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn main() {
    let settings = Settings::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut report = Report::default();
    report.row(format!(
        "machine: {cores} cores, load average at start {}; temp dir {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        std::env::temp_dir().display()
    ));

    runtime.block_on(async {
        if !settings.nodes.is_empty() {
            propagation(&settings, &mut report).await;
        }
        if settings.ingest > 0 {
            ingest(&settings, &mut report).await;
        }
        // Every peer and node was shut down above; what is still alive is a leak.
        let alive = wait_for_idle_runtime().await;
        report.row(format!(
            "tasks still alive on the runtime after every shutdown: {alive}"
        ));
        report.figure("leftover_tasks", alive as f64, "tasks", json!({}));
    });
    drop(runtime);

    println!("\n{}", report.table);
    for figure in &report.json {
        println!("{figure}");
    }
}

async fn wait_for_idle_runtime() -> usize {
    let metrics = tokio::runtime::Handle::current().metrics();
    let deadline = Instant::now() + Duration::from_secs(15);
    while metrics.num_alive_tasks() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    metrics.num_alive_tasks()
}

/// User + system CPU time of this process so far (Linux `/proc/self/stat`; `None` elsewhere).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux target we run on (reading it needs libc's sysconf).
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time of this process's live threads so far, to the nanosecond (Linux
/// `/proc/self/task/*/schedstat`; `None` elsewhere). Threads that ended are not counted, so
/// take differences over short spans only.
fn threads_cpu() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let Ok(task) = task else { continue };
        // A thread may end between listing and reading: skip it.
        let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

// ---------------------------------------------------------------------------------------------
// Offers

/// `count` distinct valid offers from `count / per_provider` providers, signed on every core.
fn sign_offers(count: usize, per_provider: usize, label: &str) -> Vec<Object> {
    let now = flashback_node::now();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let providers: Vec<SecretKey> = (0..count.div_ceil(per_provider))
        .map(|p| {
            let mut seed = *blake3::hash(format!("{label}/{p}").as_bytes()).as_bytes();
            seed[0] ^= 1;
            SecretKey::from_seed(&seed)
        })
        .collect();
    let chunk = count.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|start| {
                let providers = &providers;
                scope.spawn(move || {
                    (start..(start + chunk).min(count))
                        .map(|i| {
                            let key = &providers[i / per_provider];
                            let body =
                                samples::offer(key.public(), &format!("{label}-{i}"), 1, now);
                            Object::Offer(Signed::sign(body, key).expect("sample offers are valid"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("signing thread"))
            .collect()
    })
}

// ---------------------------------------------------------------------------------------------
// Propagation

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

/// One peer received one object (first copy only).
struct Receipt {
    node: usize,
    key: [u8; 32],
    at: Instant,
    /// A full node's second receipt of the object: durable in its store.
    durable: bool,
}

struct RawPeer {
    net: NetHandle,
    registry: Registry,
}

enum Peers {
    Raw(Vec<RawPeer>),
    Full(Vec<Node>),
}

/// N running peers of one mode, with the tasks that report receipts.
struct Network {
    mode: Mode,
    peers: Peers,
    nets: Vec<NetHandle>,
    reporters: JoinSet<()>,
    _dir: Option<tempfile::TempDir>,
}

fn memory_net_config(bootstrap: Vec<String>, heartbeat_ms: u64, link_ms: u64) -> NetConfig {
    let defaults = NetConfig::default();
    NetConfig {
        memory_transport: true,
        memory_link_delay_ms: link_ms,
        listen: vec!["/memory/0".into()],
        bootstrap,
        gossip_heartbeat_ms: heartbeat_ms,
        gossip_mesh_n: env_or("FLASHBACK_BENCH_MESH_N", defaults.gossip_mesh_n),
        ..defaults
    }
}

/// A full node of the bench: default settings but the network's and the gossip flush delay,
/// no metrics endpoint.
fn node_config(data_dir: std::path::PathBuf, net: NetConfig, flush_ms: u64) -> NodeConfig {
    NodeConfig {
        data_dir,
        net,
        metrics: MetricsConfig {
            enabled: false,
            ..MetricsConfig::default()
        },
        pipeline: PipelineConfig {
            flush_delay_ms: flush_ms,
            ..PipelineConfig::default()
        },
        ..NodeConfig::default()
    }
}

/// Each peer after the first bootstraps to 2 or 3 distinct random earlier peers.
fn bootstrap_graph(n: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    (0..n)
        .map(|i| {
            let want = (2 + rng.below(2)).min(i);
            let mut picked = Vec::new();
            while picked.len() < want {
                let j = rng.below(i);
                if !picked.contains(&j) {
                    picked.push(j);
                }
            }
            picked
        })
        .collect()
}

impl Network {
    async fn start(
        mode: Mode,
        n: usize,
        settings: &Settings,
        receipts: mpsc::Sender<Receipt>,
    ) -> Self {
        let mut rng = Rng(settings.seed ^ n as u64);
        let graph = bootstrap_graph(n, &mut rng);
        let mut addrs: Vec<String> = Vec::new();
        let mut nets = Vec::new();
        let mut reporters = JoinSet::new();
        let dir = (mode == Mode::Full).then(|| tempfile::tempdir().expect("temp dir"));
        let mut raw = Vec::new();
        let mut full = Vec::new();
        for (i, earlier) in graph.iter().enumerate() {
            let bootstrap = earlier.iter().map(|&j| addrs[j].clone()).collect();
            let config = memory_net_config(bootstrap, settings.heartbeat_ms, settings.link_ms);
            let receipts = receipts.clone();
            match mode {
                Mode::Baseline | Mode::Signed => {
                    let mut registry = Registry::default();
                    let (seen_tx, seen_rx) = mpsc::channel(1024);
                    let mut builder = NetBuilder::new(Keypair::generate_ed25519(), config)
                        .metrics(&mut registry)
                        .gossip_validator(Arc::new(AcceptAll(seen_tx)));
                    if mode == Mode::Signed {
                        builder = builder.signed_gossip();
                    }
                    let (net, events) = builder.spawn().await.expect("peer starts");
                    let listen = net.listen_addrs().await.expect("listen addrs");
                    addrs.push(format!("{}/p2p/{}", listen[0], net.local_peer_id()));
                    reporters.spawn(drain(events));
                    let mut seen_rx = seen_rx;
                    let seen = futures::stream::poll_fn(move |cx| seen_rx.poll_recv(cx));
                    reporters.spawn(report(i, seen, false, receipts, |(id, at)| (id.0, at)));
                    nets.push(net.clone());
                    raw.push(RawPeer { net, registry });
                }
                Mode::Full => {
                    let data_dir = dir
                        .as_ref()
                        .expect("full mode has a dir")
                        .path()
                        .join(format!("node-{i}"));
                    let node = Node::start(
                        node_config(data_dir, config, settings.flush_ms),
                        SecretKey::generate(),
                    )
                    .await
                    .expect("node starts");
                    addrs.push(node.info().listen_addrs[0].clone());
                    let listed = broadcast_stream(i, node.subscribe_listed());
                    reporters.spawn(report(i, listed, false, receipts.clone(), |l| {
                        (l.object.id().0, l.at)
                    }));
                    // Durable: stamped when the harness hears of it (an upper bound).
                    let applied = broadcast_stream(i, node.subscribe_applied());
                    reporters.spawn(report(i, applied, true, receipts, |o| {
                        (o.id().0, Instant::now())
                    }));
                    nets.push(node.net().clone());
                    full.push(node);
                }
            }
        }
        Self {
            mode,
            peers: match mode {
                Mode::Baseline | Mode::Signed => Peers::Raw(raw),
                Mode::Full => Peers::Full(full),
            },
            nets,
            reporters,
            _dir: dir,
        }
    }

    /// The key under which receipts of `offer` are reported.
    fn key(&self, offer: &Object) -> [u8; 32] {
        match self.mode {
            Mode::Baseline | Mode::Signed => MessageId32::of(offer.encoded()).0,
            Mode::Full => offer.id().0,
        }
    }

    async fn publish(&self, from: usize, offer: &Object) -> Result<(), String> {
        match &self.peers {
            Peers::Raw(peers) => peers[from]
                .net
                .publish(topics::OFFERS, offer.encoded().to_vec())
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Peers::Full(nodes) => match nodes[from].submit(offer).await {
                Verdict::Stored(Applied::Applied) => Ok(()),
                other => Err(format!("submit: {other:?}")),
            },
        }
    }

    /// Gossip messages received by all peers: (with duplicates, first copies only).
    fn receptions(&self) -> (u64, u64) {
        let texts: Vec<String> = match &self.peers {
            Peers::Raw(peers) => peers
                .iter()
                .map(|p| {
                    let mut text = String::new();
                    prometheus_client::encoding::text::encode(&mut text, &p.registry)
                        .expect("encode metrics");
                    text
                })
                .collect(),
            Peers::Full(nodes) => nodes.iter().map(Node::encode_metrics).collect(),
        };
        texts.iter().fold((0, 0), |(raw, first), text| {
            (
                raw + counter_sum(text, "topic_msg_recv_counts_unfiltered_total"),
                first + counter_sum(text, "topic_msg_recv_counts_total"),
            )
        })
    }

    async fn shutdown(mut self) {
        match self.peers {
            Peers::Raw(peers) => {
                futures::future::join_all(peers.iter().map(|p| p.net.shutdown())).await;
            }
            Peers::Full(nodes) => {
                futures::future::join_all(nodes.into_iter().map(Node::shutdown)).await;
            }
        }
        drop(self.nets);
        // The reporters end when their peer's event stream or applied channel closes.
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            while self.reporters.join_next().await.is_some() {}
        })
        .await;
        if ended.is_err() {
            eprintln!("  warning: some receipt reporters did not end; aborting them");
            self.reporters.shutdown().await;
        }
    }
}

/// Sums the samples of a counter in Prometheus text, whatever the prefix and labels.
fn counter_sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (metric, value) = line.rsplit_once(' ')?;
            let metric = metric.split('{').next()?;
            let matches = metric == name || metric.ends_with(&format!("_{name}"));
            matches.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum::<f64>() as u64
}

/// The baseline peer's gossip validator: no decoding, no store; every message is accepted on
/// the network task as it arrives, as gossipsub without validation would forward it. It
/// holds the message from that instant.
struct AcceptAll(mpsc::Sender<(MessageId32, Instant)>);

impl GossipValidator for AcceptAll {
    fn validate(&self, _topic: &str, data: &[u8]) -> Option<Judged> {
        let _ = self.0.try_send((MessageId32::of(data), Instant::now()));
        Some(Validation::Accept.into())
    }
}

/// Forwards a peer's receipts to the harness: `stamp` gives the key and the instant the peer
/// held the object. The instant is taken by the peer itself, so the harness's own scheduling
/// (this task runs behind every peer's work) does not count.
async fn report<T: Clone>(
    node: usize,
    items: impl Stream<Item = T>,
    durable: bool,
    receipts: mpsc::Sender<Receipt>,
    stamp: fn(T) -> ([u8; 32], Instant),
) {
    let mut items = std::pin::pin!(items);
    while let Some(item) = items.next().await {
        let (key, at) = stamp(item);
        let _ = receipts.try_send(Receipt {
            node,
            key,
            at,
            durable,
        });
    }
}

/// Drains a baseline peer's events, which it does not use.
async fn drain(mut events: mpsc::Receiver<NetEvent>) {
    while events.recv().await.is_some() {}
}

/// A broadcast channel as a stream; a receiver that lags says so and goes on.
fn broadcast_stream<T: Clone + Send + 'static>(
    node: usize,
    rx: broadcast::Receiver<T>,
) -> impl Stream<Item = T> {
    futures::stream::unfold(rx, move |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(item) => return Some((item, rx)),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    eprintln!("  warning: node {node} receipt reporter lagged by {missed}");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

struct MeshState {
    formed: bool,
    elapsed: Duration,
    mesh_avg: f64,
    mesh_min: usize,
    connected_avg: f64,
}

/// Polls every peer's mesh for the offers topic until each has at least
/// `min(min_mesh(), connections)` mesh peers, the mesh graph is connected, and the number of mesh
/// links did not change since the previous poll (two heartbeats earlier); or the deadline.
async fn wait_for_mesh(nets: &[NetHandle], heartbeat: Duration) -> MeshState {
    let start = Instant::now();
    let index: HashMap<PeerId, usize> = nets
        .iter()
        .enumerate()
        .map(|(i, n)| (n.local_peer_id(), i))
        .collect();
    let mut previous_links = usize::MAX;
    loop {
        let mut meshes = Vec::with_capacity(nets.len());
        let mut connected = Vec::with_capacity(nets.len());
        for net in nets {
            meshes.push(net.mesh_peers(topics::OFFERS).await.unwrap_or_default());
            connected.push(net.connected_peers().await.map_or(0, |c| c.len()));
        }
        let big_enough = meshes
            .iter()
            .zip(&connected)
            .all(|(mesh, &conn)| mesh.len() >= min_mesh().min(conn).max(1));
        let links: usize = meshes.iter().map(Vec::len).sum();
        let formed = big_enough && links == previous_links && mesh_connected(&meshes, &index);
        previous_links = links;
        if formed || start.elapsed() > MESH_DEADLINE {
            let n = nets.len() as f64;
            return MeshState {
                formed,
                elapsed: start.elapsed(),
                mesh_avg: links as f64 / n,
                mesh_min: meshes.iter().map(Vec::len).min().unwrap_or(0),
                connected_avg: connected.iter().sum::<usize>() as f64 / n,
            };
        }
        tokio::time::sleep(heartbeat * 2).await;
    }
}

fn mesh_connected(meshes: &[Vec<PeerId>], index: &HashMap<PeerId, usize>) -> bool {
    let mut adjacency = vec![HashSet::new(); meshes.len()];
    for (i, mesh) in meshes.iter().enumerate() {
        for peer in mesh {
            if let Some(&j) = index.get(peer) {
                adjacency[i].insert(j);
                adjacency[j].insert(i);
            }
        }
    }
    let mut seen = vec![false; meshes.len()];
    let mut queue = VecDeque::from([0]);
    seen[0] = true;
    while let Some(i) = queue.pop_front() {
        for &j in &adjacency[i] {
            if !seen[j] {
                seen[j] = true;
                queue.push_back(j);
            }
        }
    }
    seen.iter().all(|&s| s)
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
    publish_errors: usize,
}

impl Propagation {
    fn sorted(samples: &[Option<Duration>]) -> Vec<Duration> {
        let mut sorted: Vec<Duration> = samples.iter().flatten().copied().collect();
        sorted.sort();
        sorted
    }

    fn t95(&self, p: f64) -> Option<Duration> {
        percentile(&Self::sorted(&self.t95), p)
    }

    fn t100(&self, p: f64) -> Option<Duration> {
        percentile(&Self::sorted(&self.t100), p)
    }

    fn t1(&self, p: f64) -> Option<Duration> {
        percentile(&Self::sorted(&self.t1), p)
    }

    fn durable95(&self, p: f64) -> Option<Duration> {
        percentile(&Self::sorted(&self.durable95), p)
    }

    fn publish_call(&self, p: f64) -> Option<Duration> {
        let mut sorted = self.publish_call.clone();
        sorted.sort();
        percentile(&sorted, p)
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
        self.publish_errors += other.publish_errors;
    }

    fn receptions_per_node_per_offer(&self) -> f64 {
        self.raw_receptions as f64 / (self.nodes * self.t95.len()) as f64
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
    let (receipts_tx, mut receipts) = mpsc::channel(1 << 16);
    let started = Instant::now();
    let network = Network::start(mode, n, settings, receipts_tx).await;
    eprintln!(
        "  {} × {n}: started in {:.1} s, waiting for meshes",
        mode.name(),
        started.elapsed().as_secs_f64()
    );
    let mesh = wait_for_mesh(&network.nets, heartbeat).await;
    if !mesh.formed {
        eprintln!(
            "  warning: meshes not settled after {} s; measuring anyway",
            MESH_DEADLINE.as_secs()
        );
    }

    let mut rng = Rng(settings.seed.wrapping_mul(31) ^ n as u64);
    // Unmeasured offers first: the first ones through a fresh process pay one-off costs
    // (thread pools growing, first page faults), up to a few hundred milliseconds each.
    for offer in warmup {
        let from = rng.below(n);
        let key = network.key(offer);
        if let Err(e) = network.publish(from, offer).await {
            eprintln!("  warning: warm-up publish from peer {from} failed: {e}");
        }
        let deadline = Instant::now() + OFFER_DEADLINE;
        let mut holders = HashSet::new();
        while holders.len() < n - 1 {
            let Ok(Some(receipt)) = tokio::time::timeout_at(deadline.into(), receipts.recv()).await
            else {
                eprintln!(
                    "  warning: a warm-up offer reached {} of {} peers",
                    holders.len(),
                    n - 1
                );
                break;
            };
            if receipt.key == key && !receipt.durable && receipt.node != from {
                holders.insert(receipt.node);
            }
        }
        tokio::time::sleep(OFFER_GAP).await;
    }
    // Anything received so far is not part of the measurement.
    while receipts.try_recv().is_ok() {}
    let (raw_before, first_before) = network.receptions();
    let needed = ((n - 1) as f64 * COVERAGE).ceil() as usize;
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
        publish_errors: 0,
    };
    let cpu_before = (Instant::now(), process_cpu());
    for offer in offers {
        let from = rng.below(n);
        let key = network.key(offer);
        let mut arrived = vec![None; n];
        let mut durable = vec![None; n];
        let mut count = 0;
        // Baseline peers have no store: nothing to wait for.
        let mut durable_count = if mode == Mode::Full { 0 } else { n - 1 };
        let cpu0 = threads_cpu();
        let mut wave_cpu = None;
        let t0 = Instant::now();
        if let Err(e) = network.publish(from, offer).await {
            eprintln!("  warning: publish from peer {from} failed: {e}");
            result.publish_errors += 1;
        }
        result.publish_call.push(t0.elapsed());
        let deadline = t0 + OFFER_DEADLINE;
        while count < n - 1 || durable_count < n - 1 {
            let Ok(Some(receipt)) = tokio::time::timeout_at(deadline.into(), receipts.recv()).await
            else {
                break;
            };
            let slot = if receipt.durable {
                &mut durable[receipt.node]
            } else {
                &mut arrived[receipt.node]
            };
            if receipt.key != key || receipt.node == from || slot.is_some() {
                continue;
            }
            *slot = Some(receipt.at.saturating_duration_since(t0));
            if receipt.durable {
                durable_count += 1;
            } else {
                count += 1;
                if count == n - 1 {
                    wave_cpu = cpu0.zip(threads_cpu()).map(|(a, b)| b.saturating_sub(a));
                }
            }
        }
        result.wave_cpu.push(wave_cpu);
        let sorted = |arrived: &[Option<Duration>]| {
            let mut times: Vec<Duration> = arrived.iter().flatten().copied().collect();
            times.sort();
            times
        };
        let times = sorted(&arrived);
        result
            .t95
            .push((times.len() >= needed).then(|| times[needed - 1]));
        result.t100.push((count == n - 1).then(|| times[n - 2]));
        result.t1.push(times.first().copied());
        if mode == Mode::Full {
            let times = sorted(&durable);
            result
                .durable95
                .push((times.len() >= needed).then(|| times[needed - 1]));
        }
        tokio::time::sleep(OFFER_GAP).await;
    }
    if let (Some(before), Some(after)) = (cpu_before.1, process_cpu()) {
        result.cores_busy =
            Some(after.saturating_sub(before).as_secs_f64() / cpu_before.0.elapsed().as_secs_f64());
    }
    // Let trailing duplicates land before reading the counters.
    tokio::time::sleep(heartbeat * 5).await;
    let (raw_after, first_after) = network.receptions();
    result.raw_receptions = raw_after - raw_before;
    result.first_receptions = first_after - first_before;
    network.shutdown().await;
    result
}

/// Mean time of one full decode + strict verification of `offer` on this machine, now.
fn decode_verify_time(offer: &Object) -> Duration {
    const ROUNDS: u32 = 500;
    let rules = flashback_types::TimeRules::default();
    let now = flashback_node::now();
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
    let now = flashback_node::now();
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

async fn propagation(settings: &Settings, report: &mut Report) {
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
        "\nPROPAGATION: memory transport, link delay {} ms one way, heartbeat {} ms, gossip flush delay {} ms, {} offers of {} bytes per run; t95 = until \
         95% of the other N-1 nodes hold it (full: verified, in the listing); t1 = until the first \
         one does; dur95 = until it is durable there too; recv = full-message receptions incl. duplicates / (N x offers)",
        settings.link_ms,
        settings.heartbeat_ms,
        settings.flush_ms,
        offers.len(),
        offers[0].encoded().len()
    ));
    report.row(format!(
        "{:>5} {:>9} {:>13} {:>6} {:>8} {:>9} {:>9} {:>10} {:>10} {:>9} {:>5} {:>8} {:>6} {:>7}",
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
        "1st"
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
                "{:>5} {:>9} {:>13} {:>6.1} {:>8} {:>9} {:>9} {:>10} {:>10} {:>9} {:>5} {:>8} {:>6.2} {:>7.2}",
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
            ));
            if !run.mesh.formed {
                report.row(format!(
                    "      (meshes had not settled after {:.0} s)",
                    run.mesh.elapsed.as_secs_f64()
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
    let cpu = |run: &Propagation| percentile(&Propagation::sorted(&run.wave_cpu), 50.0);
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

// ---------------------------------------------------------------------------------------------
// Ingest

fn ingest_node_config(
    dir: &std::path::Path,
    bootstrap: Vec<String>,
    settings: &Settings,
) -> NodeConfig {
    NodeConfig {
        // Anti-entropy runs when the bench asks for it (after gossip stalls), so that what came
        // by gossip and what came by sync can be told apart.
        sync: SyncConfig {
            interval_secs: 24 * 3600,
            ..SyncConfig::default()
        },
        ..node_config(
            dir.to_path_buf(),
            memory_net_config(bootstrap, settings.heartbeat_ms, 0),
            settings.flush_ms,
        )
    }
}

/// Counts objects a node stores, from its applied channel (a lag counts the missed ones).
struct StoredCounter {
    stored: Arc<AtomicU64>,
    last_nanos: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl StoredCounter {
    fn start(node: &Node, base: Instant) -> Self {
        let stored = Arc::new(AtomicU64::new(0));
        let last_nanos = Arc::new(AtomicU64::new(0));
        let mut applied = node.subscribe_applied();
        let task = tokio::spawn({
            let (stored, last_nanos) = (stored.clone(), last_nanos.clone());
            async move {
                loop {
                    let n = match applied.recv().await {
                        Ok(_) => 1,
                        Err(broadcast::error::RecvError::Lagged(missed)) => missed,
                        Err(broadcast::error::RecvError::Closed) => break,
                    };
                    stored.fetch_add(n, Ordering::Relaxed);
                    last_nanos.store(base.elapsed().as_nanos() as u64, Ordering::Relaxed);
                }
            }
        });
        Self {
            stored,
            last_nanos,
            task,
        }
    }

    fn stored(&self) -> u64 {
        self.stored.load(Ordering::Relaxed)
    }

    /// When the last object was stored, from `base`.
    fn last(&self) -> Duration {
        Duration::from_nanos(self.last_nanos.load(Ordering::Relaxed))
    }
}

async fn ingest(settings: &Settings, report: &mut Report) {
    let k = settings.ingest;
    eprintln!("ingest: signing {k} offers");
    let signing = Instant::now();
    let offers = Arc::new(sign_offers(k, OFFERS_PER_PROVIDER, "ingest"));
    let signing = signing.elapsed();
    report.row(format!(
        "\nINGEST: {k} distinct offers from {} providers (pre-signed in {:.1} s on all cores); \
         receiver and sender are full nodes on the memory transport",
        k.div_ceil(OFFERS_PER_PROVIDER),
        signing.as_secs_f64()
    ));

    let burst = ingest_gossip(&offers, None, settings, report).await;
    let paced = ingest_gossip(&offers, Some(PACED_WINDOW), settings, report).await;
    let direct = ingest_direct(&offers, settings, report).await;
    let (verify_1, verify_all, threads) = verify_rates();

    report.row(format!(
        "raw verify_strict (32 B): {verify_1:.0}/s on 1 thread, {verify_all:.0}/s on {threads} threads"
    ));
    report.row(format!(
        "ingest rate / raw 1-thread verify rate: direct {:.2}; gossip paced {:.2}; gossip burst \
         end to end {:.2}",
        direct / verify_1,
        paced.end_to_end_rate / verify_1,
        burst.end_to_end_rate / verify_1,
    ));
    report.figure(
        "verify_strict_per_sec.1_thread",
        verify_1,
        "ops/s",
        json!({}),
    );
    report.figure(
        "verify_strict_per_sec.all_threads",
        verify_all,
        "ops/s",
        json!({ "threads": threads }),
    );
    let context = json!({ "offers": k });
    report.figure("ingest.direct_per_sec", direct, "offers/s", context.clone());
    report.figure(
        "ingest.direct_over_verify_1_thread",
        direct / verify_1,
        "x",
        context.clone(),
    );
    for (name, run) in [("burst", &burst), ("paced", &paced)] {
        report.figure(
            &format!("ingest.{name}.over_verify_1_thread"),
            run.end_to_end_rate / verify_1,
            "x",
            context.clone(),
        );
    }
}

/// What one gossip ingest run measured.
struct GossipIngest {
    /// All K stored (gossip, then anti-entropy) ÷ time from the first publish to the last store.
    end_to_end_rate: f64,
}

/// K offers from a sender node to a receiver node over gossip: as fast as the sender's
/// gossipsub takes them (`window = None`), or paced by the harness so that at most `window`
/// offers are published but not yet stored by the receiver (no protocol does this; it measures
/// what the receiver sustains without drops). Whatever gossip did not deliver is then fetched
/// by anti-entropy from the sender, which holds all K.
async fn ingest_gossip(
    offers: &Arc<Vec<Object>>,
    window: Option<usize>,
    settings: &Settings,
    report: &mut Report,
) -> GossipIngest {
    let name = if window.is_some() { "paced" } else { "burst" };
    let k = offers.len() as u64;
    let dir = tempfile::tempdir().expect("temp dir");
    let sender = Node::start(
        ingest_node_config(&dir.path().join("sender"), Vec::new(), settings),
        SecretKey::generate(),
    )
    .await
    .expect("sender starts");
    let receiver = Node::start(
        ingest_node_config(
            &dir.path().join("receiver"),
            vec![sender.info().listen_addrs[0].clone()],
            settings,
        ),
        SecretKey::generate(),
    )
    .await
    .expect("receiver starts");
    let mesh = wait_for_mesh(
        &[sender.net().clone(), receiver.net().clone()],
        Duration::from_millis(settings.heartbeat_ms),
    )
    .await;
    assert!(mesh.formed, "sender and receiver did not form a mesh");

    // The sender holds every offer, so anti-entropy can bring whatever gossip drops.
    eprintln!("ingest ({name}): loading the sender's store");
    let store = sender.store().clone();
    let preload = offers.clone();
    tokio::task::spawn_blocking(move || {
        let now = flashback_node::now();
        for chunk in preload.chunks(4096) {
            store
                .apply_batch(chunk, now)
                .expect("sender store takes the offers");
        }
    })
    .await
    .expect("preload task");

    eprintln!("ingest ({name}): publishing");
    let base = Instant::now();
    let counter = StoredCounter::start(&receiver, base);
    let mut publisher = tokio::spawn({
        let (net, offers, stored) = (sender.net().clone(), offers.clone(), counter.stored.clone());
        async move {
            let mut errors: HashMap<String, u64> = HashMap::new();
            for (i, offer) in offers.iter().enumerate() {
                if let Some(window) = window {
                    let mut progress = (stored.load(Ordering::Relaxed), Instant::now());
                    while i as u64 >= progress.0 + window as u64 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        let now_stored = stored.load(Ordering::Relaxed);
                        if now_stored != progress.0 {
                            progress = (now_stored, Instant::now());
                        } else if progress.1.elapsed() > Duration::from_secs(2) {
                            break; // something was dropped: stop waiting for it
                        }
                    }
                }
                if let Err(e) = net.publish(topics::OFFERS, offer.encoded().to_vec()).await {
                    let text = e.to_string();
                    // Group by the reason, not by the message id inside it.
                    let reason = match e {
                        flashback_net::NetError::InsufficientPeers { .. } => {
                            "InsufficientPeers (receiver below the publish score threshold)"
                                .to_owned()
                        }
                        _ => text.rsplit(':').next().unwrap_or(&text).trim().to_owned(),
                    };
                    *errors.entry(reason).or_default() += 1;
                }
            }
            (base.elapsed(), errors)
        }
    });
    // Gossip is done when the publisher has finished and nothing was stored for a second.
    let mut published = None;
    let mut last_progress = (0, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if published.is_none() && publisher.is_finished() {
            published = Some((&mut publisher).await.expect("publisher task"));
        }
        let stored = counter.stored();
        if stored != last_progress.0 {
            last_progress = (stored, Instant::now());
        }
        if stored >= k
            || (published.is_some() && last_progress.1.elapsed() > Duration::from_secs(1))
        {
            break;
        }
    }
    let (publish_time, publish_errors) = match published {
        Some(p) => p,
        None => publisher.await.expect("publisher task"),
    };
    let stored_gossip = counter.stored();
    let gossip_time = counter.last();
    let net_stats = receiver.net().stats();
    let received = counter_sum(&receiver.encode_metrics(), "topic_msg_recv_counts_total");

    // Anti-entropy for the rest: rounds until everything is stored (a request the sender drops
    // for being over its inbound rate is retried within the round; a round that still fails
    // keeps what it fetched, and the next one resumes).
    let sync_start = base.elapsed();
    let mut rounds = 0;
    let mut round_errors = 0;
    while counter.stored() < k && rounds < 30 {
        rounds += 1;
        if let Err(e) = receiver.sync_now().await {
            round_errors += 1;
            eprintln!("  sync round {rounds} failed: {e}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // The applied channel lags the store slightly.
        let wait = Instant::now();
        while counter.stored() < k && wait.elapsed() < Duration::from_millis(200) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let stored_total = counter.stored();
    let stored_sync = stored_total - stored_gossip;
    let total_time = counter.last();
    let sync_time = total_time.saturating_sub(sync_start);
    let end_to_end_rate = stored_total as f64 / total_time.as_secs_f64();
    let gossip_rate = stored_gossip as f64 / gossip_time.as_secs_f64();

    let mut errors = String::new();
    for (reason, count) in &publish_errors {
        let _ = write!(errors, " {count} x {reason};");
    }
    let how = match window {
        None => "burst (as fast as gossipsub takes them)".to_owned(),
        Some(w) => format!("paced (at most {w} published but not yet stored)"),
    };
    report.row(format!(
        "gossip, {how}: sender's publish calls took {:.2} s; publish errors:{}",
        publish_time.as_secs_f64(),
        if errors.is_empty() {
            " none".into()
        } else {
            errors
        }
    ));
    report.row(format!(
        "  receiver's gossipsub took {received} offers (first copies); dropped and reported Ignore: \
         {} at the network event queue, ~{} at the node's validation queue",
        net_stats.gossip_dropped,
        received
            .saturating_sub(net_stats.gossip_dropped)
            .saturating_sub(stored_gossip)
    ));
    report.row(format!(
        "  stored via gossip: {stored_gossip} in {:.2} s = {gossip_rate:.0} offers/s",
        gossip_time.as_secs_f64()
    ));
    report.row(format!(
        "  stored via anti-entropy (sync_now once gossip went quiet for 1 s): {stored_sync} in \
         {:.2} s ({rounds} rounds, {round_errors} failed)",
        sync_time.as_secs_f64()
    ));
    report.row(format!(
        "  all {stored_total}/{k} stored {:.2} s after the first publish = {end_to_end_rate:.0} \
         offers/s end to end",
        total_time.as_secs_f64()
    ));
    let context = json!({ "offers": k, "mode": name });
    for (figure, value, unit) in [
        ("end_to_end_per_sec", end_to_end_rate, "offers/s"),
        ("gossip_only_per_sec", gossip_rate, "offers/s"),
        ("stored_via_gossip", stored_gossip as f64, "offers"),
        ("stored_via_sync", stored_sync as f64, "offers"),
        (
            "publish_errors",
            publish_errors.values().sum::<u64>() as f64,
            "offers",
        ),
        (
            "dropped_at_net_queue",
            net_stats.gossip_dropped as f64,
            "offers",
        ),
    ] {
        report.figure(
            &format!("ingest.{name}.{figure}"),
            value,
            unit,
            context.clone(),
        );
    }

    counter.task.abort();
    futures::future::join(sender.shutdown(), receiver.shutdown()).await;
    GossipIngest { end_to_end_rate }
}

/// The same offers fed straight to a fresh node's validator, in batches of `INGEST_BATCH`.
async fn ingest_direct(offers: &[Object], settings: &Settings, report: &mut Report) -> f64 {
    eprintln!("ingest: direct Validator::ingest");
    let dir = tempfile::tempdir().expect("temp dir");
    let node = Node::start(
        ingest_node_config(dir.path(), Vec::new(), settings),
        SecretKey::generate(),
    )
    .await
    .expect("node starts");
    let batches: Vec<Vec<Vec<u8>>> = offers
        .chunks(INGEST_BATCH)
        .map(|chunk| chunk.iter().map(|o| o.encoded().to_vec()).collect())
        .collect();
    let start = Instant::now();
    let mut stored = 0usize;
    for batch in batches {
        stored += node
            .validator()
            .ingest(batch)
            .await
            .iter()
            .filter(|(v, _)| matches!(v, Verdict::Stored(Applied::Applied)))
            .count();
    }
    let elapsed = start.elapsed();
    let rate = stored as f64 / elapsed.as_secs_f64();
    report.row(format!(
        "direct Validator::ingest, batches of {INGEST_BATCH}: {stored}/{} stored in {:.2} s = {rate:.0} offers/s",
        offers.len(),
        elapsed.as_secs_f64()
    ));
    node.shutdown().await;
    rate
}

/// Raw `verify_strict` of a 32-byte message: (1 thread, all threads, thread count).
fn verify_rates() -> (f64, f64, usize) {
    const ITERATIONS: usize = 20_000;
    let key = SecretKey::from_seed(&[7; 32]);
    let public = key.public();
    let message = [0x5a_u8; 32];
    let signature = key.sign(&message);
    let run = || {
        for _ in 0..ITERATIONS {
            assert!(black_box(&public).verify_strict(black_box(&message), black_box(&signature)));
        }
    };
    run(); // warm-up
    let start = Instant::now();
    run();
    let one = ITERATIONS as f64 / start.elapsed().as_secs_f64();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(run);
        }
    });
    let all = (threads * ITERATIONS) as f64 / start.elapsed().as_secs_f64();
    (one, all, threads)
}
