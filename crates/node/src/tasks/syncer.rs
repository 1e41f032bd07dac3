//! The syncer: runs anti-entropy rounds (`crate::sync::round`) with each peer that connects
//! and, every `sync.interval_secs`, with a few connected peers picked at random; one round per
//! peer at a time, `sync.max_concurrent` rounds at once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flashback_net::PeerId;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::SyncConfig;
use crate::metrics::Metrics;
use crate::service::Services;

pub(crate) async fn run(
    mut rx: mpsc::Receiver<PeerId>,
    services: Services,
    config: SyncConfig,
    metrics: Arc<Metrics>,
    tasks: TaskTracker,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(config.interval_secs.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let slots = Arc::new(Semaphore::new(config.max_concurrent.max(1)));
    let running = Arc::new(Mutex::new(HashSet::new()));
    loop {
        let peers = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            peer = rx.recv() => match peer {
                Some(p) => vec![p],
                None => break,
            },
            _ = tick.tick() => {
                let mut peers = services.net.connected_peers().await.unwrap_or_default();
                let mut rng: rand::rngs::StdRng = rand::make_rng();
                rand::seq::SliceRandom::shuffle(peers.as_mut_slice(), &mut rng);
                peers.truncate(config.peers_per_tick.max(1));
                peers
            }
        };
        for peer in peers {
            // One round per peer at a time.
            if !running.lock().map(|mut r| r.insert(peer)).unwrap_or(false) {
                continue;
            }
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let (services, metrics, running) = (services.clone(), metrics.clone(), running.clone());
            let batch = config.fetch_batch;
            // Tracked and never cancelled halfway (which would leave its store writes running
            // on a blocking thread after shutdown returned): once the network is down, its
            // next request fails at once and the round ends.
            tasks.spawn(async move {
                let _permit = permit;
                let Services {
                    net,
                    store,
                    validator,
                    ..
                } = &services;
                match crate::sync::round(net, store, validator, peer, batch).await {
                    Ok(stats) => {
                        services.sync.completed(&stats);
                        metrics.sync_round(stats.fetched as u64);
                        if stats.wanted > 0 {
                            tracing::info!(%peer, wanted = stats.wanted, stored = stats.stored, "synced");
                        }
                    }
                    Err(e) => {
                        services.sync.failed();
                        tracing::debug!(%peer, error = %e, "sync round failed");
                    }
                }
                if let Ok(mut r) = running.lock() {
                    r.remove(&peer);
                }
            });
        }
    }
}
