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
//!      receives, duplicates included, before forwarding (`NetBuilder::signed_gossip`, cargo
//!      feature `bench` of `flashback-net`). This is
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
//! The networks are `flashback-harness`'s ([`Network`]); this file measures and reports.
//!
//! ```text
//! cargo bench -p flashback-harness --bench network
//! FLASHBACK_BENCH_NODES=100 FLASHBACK_BENCH_OFFERS=50 FLASHBACK_BENCH_INGEST=0 cargo bench …
//! # 1,000 nodes with 20 ms links (16 to 24 minutes on 2 cores, 10 GB; docs/bench/scale.md):
//! FLASHBACK_BENCH_NODES=1000 FLASHBACK_BENCH_KAD=0 FLASHBACK_BENCH_DIALS=8 \
//!   FLASHBACK_BENCH_MAX_CONN=32 FLASHBACK_BENCH_MESH_WAIT_S=180 FLASHBACK_BENCH_LINK_MS=20 \
//!   FLASHBACK_BENCH_MODES=baseline,full FLASHBACK_BENCH_OFFERS=20 FLASHBACK_BENCH_ROUNDS=2 \
//!   FLASHBACK_BENCH_WARMUP=2 FLASHBACK_BENCH_INGEST=0 cargo bench -p flashback-harness --bench network
//! ```
//!
//! Environment (all optional): `FLASHBACK_BENCH_NODES` (comma list, default `20,50,100`;
//! empty skips propagation), `FLASHBACK_BENCH_OFFERS` (M, default 50),
//! `FLASHBACK_BENCH_ROUNDS` (rounds M is split into, default 5), `FLASHBACK_BENCH_WARMUP`
//! (W, per network, default 3), `FLASHBACK_BENCH_LINK_MS`
//! (simulated one-way latency of every propagation link, default 0: the figures are then the
//! peers' CPU work alone; see `NetConfig::memory_link_delay_ms`), `FLASHBACK_BENCH_MESH_N`
//! (gossipsub mesh degree, default `NetConfig`'s), `FLASHBACK_BENCH_MAX_CONN` (connections each
//! peer keeps, default `NetConfig`'s 256; 1,000 peers in one process need a cap, e.g. 32),
//! `FLASHBACK_BENCH_KAD` (1, default: peers run Kademlia, as nodes do; 0: the connections are
//! those the topology dials, which scale runs need: see `NetworkSpec::kademlia`), `FLASHBACK_BENCH_DIALS` (default 0: each peer dials 2 or 3
//! random earlier peers at start; k: each dials k random peers among all, the later ones once
//! every peer has started, `Topology::Random`, which runs without Kademlia need),
//! `FLASHBACK_BENCH_MESH_WAIT_S` (most time the meshes may take to settle before the offers,
//! default 60), `FLASHBACK_BENCH_FLUSH_MS` (full nodes'
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

mod ingest;
mod propagation;

use std::str::FromStr;
use std::time::{Duration, Instant};

use flashback_harness::{NetworkSpec, Topology};
use flashback_net::NetConfig;
use flashback_node::{NodeConfig, PipelineConfig};
use serde_json::{Value, json};

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
    mesh_n: usize,
    max_connections: u32,
    kademlia: bool,
    dials: usize,
    /// Most time the meshes may take to form.
    mesh_wait: Duration,
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
            mesh_n: env_or("FLASHBACK_BENCH_MESH_N", NetConfig::default().gossip_mesh_n),
            max_connections: env_or(
                "FLASHBACK_BENCH_MAX_CONN",
                NetConfig::default().max_established,
            ),
            kademlia: env_or("FLASHBACK_BENCH_KAD", 1u8) != 0,
            dials: env_or("FLASHBACK_BENCH_DIALS", 0),
            mesh_wait: Duration::from_secs(env_or("FLASHBACK_BENCH_MESH_WAIT_S", 60)),
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
            propagation::run(&settings, &mut report).await;
        }
        if settings.ingest > 0 {
            ingest::run(&settings, &mut report).await;
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

fn network_spec(n: usize, settings: &Settings, link_ms: u64) -> NetworkSpec {
    NetworkSpec {
        nodes: n,
        topology: match settings.dials {
            0 => Topology::RandomEarlier {
                seed: settings.seed ^ n as u64,
            },
            dials => Topology::Random {
                seed: settings.seed ^ n as u64,
                dials,
            },
        },
        heartbeat_ms: settings.heartbeat_ms,
        link_delay_ms: link_ms,
        mesh_n: settings.mesh_n,
        max_connections: settings.max_connections,
        kademlia: settings.kademlia,
    }
}

/// A full node of the bench: the harness's, with the bench's gossip flush delay.
fn with_flush(config: NodeConfig, flush_ms: u64) -> NodeConfig {
    NodeConfig {
        pipeline: PipelineConfig {
            flush_delay_ms: flush_ms,
            ..PipelineConfig::default()
        },
        ..config
    }
}
