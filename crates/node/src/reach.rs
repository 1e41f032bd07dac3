//! Propagation feedback (`QueryRequest::OfferReach`): which peers hold an offer's current
//! version. The node asks each full node it remembers (connected or not), and a sample of its
//! connected peers' own peers, with the sync protocol's `Provider` request (the same answer
//! anti-entropy reads, so no new peer protocol); it pushes the offer through
//! `/flashback/submit/1` to any peer that answers without it, and remembers when it first saw
//! each peer hold each version, so repeated checks tell how fast the version spread.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use flashback_net::{Multiaddr, PeerId};
use flashback_types::protocol::{MAX_PEERS_LISTED, Protocol};
use flashback_types::wire::{
    Held, ObjectBytes, OfferReach, PeerInfo, PeerReach, QueryRequest, QueryResponse, SubmitRequest,
    SubmitResponse, SyncRequest, SyncResponse, decode_response, encode_message, truncated,
};
use flashback_types::{Hash32, Object, ObjectId, PublicKey};

use crate::service::Services;
use crate::{NodeError, blocking, bounded};

/// Most peers beyond the direct ones one check asks.
pub(crate) const MAX_SAMPLE: usize = 64;

/// How long one peer has to answer (its sync request included retries).
const PEER_TIMEOUT: Duration = Duration::from_secs(8);

/// An offer has low reach when fewer than this share of the peers asked hold its version.
pub(crate) const LOW_REACH: f64 = 0.5;

/// Most (version, peer) first sightings and offers remembered; the oldest entries go first.
const MAX_REMEMBERED: usize = 65_536;

/// What the node remembers between checks.
#[derive(Debug, Default)]
pub(crate) struct ReachBook {
    /// (version, peer) → when first seen holding it, Unix ms.
    seen: Mutex<BTreeMap<(ObjectId, PeerId), u64>>,
    /// offer (provider, key) → whether its last check found low reach.
    low: Mutex<BTreeMap<(PublicKey, String), bool>>,
}

impl ReachBook {
    fn first_seen(&self, id: ObjectId, peer: PeerId, now_ms: u64) -> u64 {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_REMEMBERED && !seen.contains_key(&(id, peer)) {
            seen.pop_first();
        }
        *seen.entry((id, peer)).or_insert(now_ms)
    }

    /// Records the offer's latest verdict; returns how many offers have low reach.
    fn set_low(&self, offer: (PublicKey, String), low: bool) -> usize {
        let mut map = self.low.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_REMEMBERED && !map.contains_key(&offer) {
            map.pop_first();
        }
        map.insert(offer, low);
        map.values().filter(|&&l| l).count()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Answers `OfferReach` for `asking`.
pub(crate) async fn offer_reach(
    services: &Services,
    asking: PeerId,
    provider: PublicKey,
    offer_key: &str,
    sample: u16,
) -> Result<OfferReach, NodeError> {
    let store = services.store.clone();
    let key = offer_key.to_owned();
    let (seq, id, object) = blocking(move || {
        let Some((_, seq, id)) = store
            .provider_summary(&provider)
            .into_iter()
            .find(|(k, _, _)| k.as_str() == key)
        else {
            return Err(NodeError::Request(format!(
                "this node lists no offer {key:?} of provider {provider}: check the id, or \
                 ask the node you published through"
            )));
        };
        let object = store
            .get(&id)?
            .ok_or_else(|| NodeError::Internal(format!("offer {id} listed but not stored")))?;
        Ok((seq, id, object))
    })
    .await?;
    let Object::Offer(offer) = &object else {
        return Err(NodeError::Internal(format!("{id} is not an offer")));
    };
    let created_at = offer.body().created_at;

    // Direct peers: the full nodes the node remembers (they announced listen addresses, which
    // light clients do not), connected or not; not the one asking.
    let me = services.net.local_peer_id();
    let mut direct: BTreeSet<PeerId> = services.book.peers().into_iter().collect();
    direct.retain(|p| *p != me && *p != asking);
    let connected: Vec<PeerId> = services
        .net
        .connected_peers()
        .await?
        .into_iter()
        .filter(|p| direct.contains(p))
        .collect();

    // Beyond them: the connected peers' peers, a sample picked by a hash of the version and
    // the peer id (spread differently for every version, the same for repeated checks).
    let wanted = usize::from(sample).min(MAX_SAMPLE);
    let mut beyond: BTreeMap<Hash32, PeerInfo> = BTreeMap::new();
    if wanted > 0 {
        let asks = connected.iter().map(|&p| peers_of(services, p));
        for list in futures::future::join_all(asks).await {
            for info in list {
                let Ok(peer) = info.peer_id.as_str().parse::<PeerId>() else {
                    continue;
                };
                // No address announced: a light client, which holds no listing.
                if peer == me || peer == asking || direct.contains(&peer) || info.addrs.is_empty() {
                    continue;
                }
                let mut mixed = id.0.to_vec();
                mixed.extend_from_slice(&peer.to_bytes());
                beyond.insert(Hash32::of(&mixed), info);
            }
        }
    }
    let mut sampled: Vec<PeerId> = Vec::new();
    for info in beyond.into_values() {
        if sampled.len() == wanted {
            break;
        }
        let Ok(peer) = info.peer_id.as_str().parse::<PeerId>() else {
            continue;
        };
        if sampled.contains(&peer) {
            continue;
        }
        for addr in info.addrs.iter() {
            if let Ok(addr) = addr.as_str().parse::<Multiaddr>() {
                let _ = services.net.add_peer_address(peer, addr).await;
            }
        }
        sampled.push(peer);
    }

    let targets: Vec<(PeerId, bool)> = direct
        .iter()
        .map(|&p| (p, true))
        .chain(sampled.iter().map(|&p| (p, false)))
        .take(MAX_PEERS_LISTED)
        .collect();
    let checks = targets.iter().map(|&(peer, is_direct)| {
        check_peer(
            services, peer, is_direct, provider, offer_key, seq, id, &object,
        )
    });
    let peers: Vec<PeerReach> = futures::future::join_all(checks).await;

    let holding = peers.iter().filter(|p| p.held == Held::Current).count();
    let low = !peers.is_empty() && (holding as f64) < LOW_REACH * peers.len() as f64;
    let count = services
        .reach
        .set_low((provider, offer_key.to_owned()), low);
    services.metrics.set_low_reach(count);

    Ok(OfferReach {
        id,
        seq,
        created_at,
        answered_at_ms: now_ms(),
        direct: u32::try_from(direct.len()).unwrap_or(u32::MAX),
        sampled: u32::try_from(sampled.len()).unwrap_or(u32::MAX),
        peers: bounded(peers),
    })
}

/// A peer's connected peers, through the query protocol (empty when it does not answer).
async fn peers_of(services: &Services, peer: PeerId) -> Vec<PeerInfo> {
    let ask = services
        .net
        .request(peer, Protocol::Query, encode_message(&QueryRequest::Peers));
    match tokio::time::timeout(PEER_TIMEOUT, ask).await {
        Ok(Ok(bytes)) => match decode_response::<QueryResponse>(&bytes) {
            Ok(QueryResponse::Peers(list)) => list.into_inner(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Asks one peer which version of the offer it holds, and pushes ours when it holds none or
/// an older one.
#[allow(clippy::too_many_arguments)] // one call site; the values are the offer's facts
async fn check_peer(
    services: &Services,
    peer: PeerId,
    direct: bool,
    provider: PublicKey,
    offer_key: &str,
    seq: u64,
    id: ObjectId,
    object: &Object,
) -> PeerReach {
    let request = encode_message(&SyncRequest::Provider { provider });
    let ask = crate::sync::request_with_retry(&services.net, peer, request);
    let held = match tokio::time::timeout(PEER_TIMEOUT, ask).await {
        Err(_) => Held::NoAnswer(truncated("no answer in time".to_owned())),
        Ok(Err(e)) => Held::NoAnswer(truncated(e.to_string())),
        Ok(Ok(bytes)) => match decode_response::<SyncResponse>(&bytes) {
            Ok(SyncResponse::Provider { offers }) => {
                let theirs = offers
                    .iter()
                    .find(|(k, _, _)| k.as_str() == offer_key)
                    .map(|(_, s, i)| (*s, *i));
                match theirs {
                    None => Held::Missing,
                    Some((s, i)) if s == seq && i == id => Held::Current,
                    Some((s, _)) if s > seq => Held::Newer(s),
                    Some((s, _)) => Held::Older(s),
                }
            }
            Ok(_) => Held::NoAnswer(truncated("answered with the wrong message".to_owned())),
            Err(e) => Held::NoAnswer(truncated(format!("unreadable answer: {e}"))),
        },
    };
    let first_seen_ms =
        (held == Held::Current).then(|| services.reach.first_seen(id, peer, now_ms()));
    let pushed =
        matches!(held, Held::Missing | Held::Older(_)) && push(services, peer, object).await;
    PeerReach {
        peer_id: truncated(peer.to_string()),
        direct,
        held,
        first_seen_ms,
        pushed,
    }
}

/// Hands the offer to `peer` as a light client would; true when it took it.
async fn push(services: &Services, peer: PeerId, object: &Object) -> bool {
    let request = SubmitRequest {
        object: ObjectBytes::from(object.encoded().to_vec()),
    };
    let send = services
        .net
        .request(peer, Protocol::Submit, encode_message(&request));
    match tokio::time::timeout(PEER_TIMEOUT, send).await {
        Ok(Ok(bytes)) => matches!(
            decode_response::<SubmitResponse>(&bytes),
            Ok(SubmitResponse::Accepted { .. })
        ),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "could not push an offer to a peer lacking it");
            false
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_book_keeps_the_first_sighting_and_counts_offers_with_low_reach() {
        let book = ReachBook::default();
        let (id, peer) = (Hash32::of(b"v1"), PeerId::random());
        assert_eq!(book.first_seen(id, peer, 100), 100);
        assert_eq!(
            book.first_seen(id, peer, 900),
            100,
            "a later check keeps the first"
        );
        let key = |n: &str| {
            (
                flashback_types::SecretKey::from_seed(&[1; 32]).public(),
                n.to_owned(),
            )
        };
        assert_eq!(book.set_low(key("a"), true), 1);
        assert_eq!(book.set_low(key("b"), true), 2);
        assert_eq!(book.set_low(key("a"), false), 1, "a's reach recovered");
    }
}
