//! Ingest: how fast one node takes a burst of offers, by gossip, by anti-entropy and fed to
//! its validator directly, next to raw `verify_strict`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use flashback_harness::{counter_sum, full_node_config, sign_offers, wait_for_mesh};
use flashback_node::{Node, NodeConfig, SyncConfig, Verdict};
use flashback_store::Applied;
use flashback_types::protocol::Topic;
use flashback_types::{Object, SecretKey};
use serde_json::json;
use tokio::sync::broadcast;

use crate::{Report, Settings, network_spec, with_flush};

/// Offers per provider in the ingest burst: anti-entropy lists at most 1024 offers per provider
/// and asks one request per provider, so a few hundred each keeps it efficient.
const OFFERS_PER_PROVIDER: usize = 500;
/// Paced ingest: most offers published but not yet stored by the receiver. Below gossipsub's
/// per-peer send queue (5000) and the receiver's queues (1024 + 8192), so nothing is dropped.
const PACED_WINDOW: usize = 2048;
/// Batch size of the direct `Validator::ingest` measurement (the pipeline's `max_batch`).
const INGEST_BATCH: usize = 512;

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
        ..with_flush(
            full_node_config(
                dir.to_path_buf(),
                network_spec(2, settings, 0).net_config(bootstrap),
            ),
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

pub(crate) async fn run(settings: &Settings, report: &mut Report) {
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
        &network_spec(2, settings, 0),
        settings.mesh_wait,
    )
    .await;
    assert!(mesh.formed, "sender and receiver did not form a mesh");

    // The sender holds every offer, so anti-entropy can bring whatever gossip drops.
    eprintln!("ingest ({name}): loading the sender's store");
    let store = sender.store().clone();
    let preload = offers.clone();
    tokio::task::spawn_blocking(move || {
        let now = flashback_types::clock::now();
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
                if let Err(e) = net
                    .publish(Topic::Offers.name(), offer.encoded().to_vec())
                    .await
                {
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
