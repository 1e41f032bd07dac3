//! What a node says about itself to light clients: `Status` (identity, addresses, peers,
//! listing counts, anti-entropy) and `Peers` on `/flashback/query/1`.

use std::sync::{Arc, Mutex};

use flashback_net::PeerId;
use flashback_types::protocol::Topic;
use flashback_types::wire::{NodeStatus, PeerInfo, SummaryKind, SyncStatus, truncated};
use flashback_types::{BoundedVec, Kind};

use crate::info::dialable;
use crate::service::Services;
use crate::sync::RoundStats;
use crate::{NodeError, blocking, bounded};
use flashback_types::clock::now;

/// Anti-entropy as far as [`NodeStatus`] reports it, updated by the syncer after each round.
#[derive(Debug, Default)]
pub(crate) struct SyncTracker(Mutex<SyncStatus>);

impl SyncTracker {
    /// Records a round that completed with `stats`.
    pub(crate) fn completed(&self, stats: &RoundStats) {
        if let Ok(mut s) = self.0.lock() {
            let t = now();
            s.rounds += 1;
            s.last_round_at = Some(t);
            s.last_fetched = stats.fetched as u64;
            if stats.wanted == 0 {
                s.last_in_sync_at = Some(t);
            }
        }
    }

    /// Records a round that failed.
    pub(crate) fn failed(&self) {
        if let Ok(mut s) = self.0.lock() {
            s.failed_rounds += 1;
        }
    }

    fn get(&self) -> SyncStatus {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// The node's status, as told to `asking` (not counted among the peers).
pub(crate) async fn status(services: &Services, asking: PeerId) -> Result<NodeStatus, NodeError> {
    let peers = services
        .net
        .connected_peers()
        .await
        .map_or(0, |p| p.iter().filter(|&&p| p != asking).count());
    let addrs = services.net.listen_addrs().await.unwrap_or_default();
    let listen_addrs = dialable(addrs, services.net.local_peer_id())
        .into_iter()
        .map(truncated)
        .collect();
    let (store, node_key, sync) = (
        services.store.clone(),
        services.node_key,
        services.sync.get(),
    );
    let blob_endpoint = services.blob_endpoint.clone().map(truncated);
    blocking(move || {
        let counts = store.counts();
        Ok(NodeStatus {
            node_key,
            listing_digest: store.listing_digest(),
            offers: counts.of(Kind::Offer),
            peers: u32::try_from(peers).unwrap_or(u32::MAX),
            now: now(),
            version: truncated(env!("CARGO_PKG_VERSION").to_owned()),
            listen_addrs: bounded(listen_addrs),
            counts: bounded(
                Kind::ALL
                    .iter()
                    .map(|&k| (SummaryKind::from(k), counts.of(k)))
                    .collect(),
            ),
            withdrawn_offers: counts.withdrawn_offers,
            flagged_providers: counts.flagged_providers,
            sync,
            blob_endpoint,
        })
    })
    .await
}

/// The connected peers other than `asking`: id, remembered addresses, mesh membership and
/// score.
pub(crate) async fn peers(
    services: &Services,
    asking: PeerId,
) -> Result<BoundedVec<PeerInfo, { flashback_types::protocol::MAX_PEERS_LISTED }>, NodeError> {
    let net = &services.net;
    let mut connected = net.connected_peers().await?;
    connected.retain(|&p| p != asking);
    connected.sort();
    let mesh = net
        .mesh_peers(Topic::Offers.name())
        .await
        .unwrap_or_default();
    let mut out = Vec::with_capacity(connected.len());
    for peer in connected {
        let score = net.peer_score(peer).await.ok().flatten();
        out.push(PeerInfo {
            peer_id: truncated(peer.to_string()),
            addrs: bounded(
                services
                    .book
                    .addrs_of(&peer)
                    .into_iter()
                    .map(truncated)
                    .collect(),
            ),
            in_mesh: mesh.contains(&peer),
            score,
        });
    }
    Ok(bounded(out))
}

/// Shared between the syncer and the services.
pub(crate) type SharedSync = Arc<SyncTracker>;
