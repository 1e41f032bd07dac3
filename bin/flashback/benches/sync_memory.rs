//! Memory of a node that syncs a large listing from a peer: node A (a `flashback node run`
//! process) holds N offers; node B, empty, joins it over loopback and syncs them. B's RSS is
//! read from /proc every half second until it lists all N, then for 20 s more. Prints the
//! samples and a summary line (peak while syncing, settled after).
//!
//! ```text
//! cargo bench -p flashback --bench sync_memory                          # 1,000,000 offers
//! FLASHBACK_BENCH_OFFERS=100000 cargo bench -p flashback --bench sync_memory
//! FLASHBACK_BENCH_A_DIR=/var/tmp/a cargo bench -p flashback --bench sync_memory  # A kept
//! FLASHBACK_BENCH_B_CONFIG=b.toml cargo bench -p flashback --bench sync_memory   # B's config
//! ```
//!
//! A's store is written directly (signed on two threads, applied in batches of 1,000) before
//! A starts, so that only B's work is measured. Figures: docs/bench/memory.md.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // A bench binary.

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use flashback_node::NodeInfo;
use flashback_store::{Store, StoreConfig};
use flashback_types::{Object, SecretKey, Signed, clock::now, samples};

// The end-to-end tests' helpers: the same `node run` command line.
#[path = "../../../tests/common/mod.rs"]
mod common;

const OFFERS_PER_PROVIDER: u64 = 100;
const BATCH: u64 = 1000;

/// Kills the node when dropped.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn provider_key(p: u64) -> SecretKey {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&p.to_le_bytes());
    SecretKey::from_seed(&seed)
}

/// N offers, valid for a week from now, in A's store.
fn fill(path: &Path, n: u64) {
    let store = Store::open(path, StoreConfig::default()).unwrap();
    let t = now();
    let (tx, rx) = sync_channel::<Vec<Object>>(4);
    std::thread::scope(|s| {
        for thread in 0..2u64 {
            let tx = tx.clone();
            s.spawn(move || {
                let mut start = thread * BATCH;
                while start < n {
                    let batch = (start..(start + BATCH).min(n))
                        .map(|i| {
                            let key = provider_key(i / OFFERS_PER_PROVIDER);
                            let mut offer = samples::offer(
                                key.public(),
                                &format!("offer-{}", i % OFFERS_PER_PROVIDER),
                                1,
                                t - i % 3600,
                            );
                            offer.expires_at = t + 7 * 86_400;
                            offer.capacity = (1 + i % 1000) << 30;
                            Signed::sign(offer, &key).unwrap().into()
                        })
                        .collect();
                    if tx.send(batch).is_err() {
                        return;
                    }
                    start += 2 * BATCH;
                }
            });
        }
        drop(tx);
        for batch in rx {
            store.apply_batch(&batch, t).unwrap();
        }
    });
}

fn start_node(dir: &Path, bootstrap: Option<&str>) -> (Node, String) {
    let mut cmd = common::node_command(dir, &["--no-metrics"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(b) = bootstrap {
        cmd.args(["--bootstrap", b]);
        // B's configuration, to compare settings (FLASHBACK_BENCH_B_CONFIG, a node.toml).
        if let Some(config) = std::env::var_os("FLASHBACK_BENCH_B_CONFIG") {
            cmd.arg("--config").arg(config);
        }
    }
    let node = Node(cmd.spawn().unwrap());
    let pid = node.0.id();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Ok(info) = NodeInfo::load(dir)
            && info.pid == pid
            && let Some(addr) = info.dial_addr()
        {
            return (node, addr.to_owned());
        }
        assert!(
            Instant::now() < deadline,
            "node in {} never started",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let n: u64 = std::env::var("FLASHBACK_BENCH_OFFERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    // A's data dir can be kept between runs (FLASHBACK_BENCH_A_DIR): filling it is most of a
    // run's time, and B is what is measured.
    let a_dir = std::env::var_os("FLASHBACK_BENCH_A_DIR")
        .map_or_else(|| dir.path().join("a"), std::path::PathBuf::from);
    let b_dir = dir.path().join("b");
    if a_dir.join("store").exists() {
        println!("A's store: kept in {}", a_dir.display());
    } else {
        let started = Instant::now();
        fill(&a_dir.join("store"), n);
        println!("A's store: {n} offers written in {:.0?}", started.elapsed());
    }

    let (_a, a_addr) = start_node(&a_dir, None);
    let (b, b_addr) = start_node(&b_dir, Some(&a_addr));
    let pid = b.0.id();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt
        .block_on(flashback_client::Client::connect(&[b_addr]))
        .unwrap();
    let t0 = Instant::now();
    let (mut peak, mut synced_at, mut settled) = (0f64, None, Vec::new());
    let mut last_print = Duration::ZERO;
    println!("|   t s | B RSS MB | B offers |");
    println!("|------:|---------:|---------:|");
    loop {
        let t = t0.elapsed();
        let rss = rss_mb(pid);
        let offers = rt.block_on(client.status()).map(|s| s.offers).unwrap_or(0);
        if synced_at.is_none() {
            peak = peak.max(rss);
        } else {
            settled.push(rss);
        }
        if t - last_print >= Duration::from_secs(5) || (synced_at.is_none() && offers >= n) {
            println!("| {:5.1} | {rss:8.0} | {offers:8} |", t.as_secs_f64());
            last_print = t;
        }
        if synced_at.is_none() && offers >= n {
            synced_at = Some(t);
        }
        if synced_at.is_some_and(|s| t - s > Duration::from_secs(20)) {
            break;
        }
        assert!(
            t < Duration::from_secs(3600),
            "B did not sync within an hour"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let settled_max = settled.iter().copied().fold(0f64, f64::max);
    let settled_last = settled.last().copied().unwrap_or(0.0);
    println!(
        "\nB synced {n} offers in {:.0?}: peak RSS while syncing {peak:.0} MB; after, {settled_last:.0} MB (max {settled_max:.0} MB over 20 s)",
        synced_at.unwrap_or_default()
    );
    rt.block_on(client.close());
}
