//! Anti-entropy over `/flashback/sync/1`: a node that joins, restarts or heals from a partition
//! compares digests with a peer and fetches only what differs, in bounded batches. Gossip only
//! reaches the nodes that were online; this reaches the rest.
//!
//! A round with one peer:
//! 1. `Summary` pages: the peer's listing digest, per-kind digests and per-provider digests.
//!    If everything equals ours, the round ends.
//! 2. For each provider whose digest differs: `Provider` → `(offer_key, seq, id)`; we want the
//!    ids with a higher seq than ours, or the same seq and another id (equivocation evidence).
//! 3. For each kind synced by ids ([`SyncClass::ByIds`]) whose digest differs: `Ids` pages;
//!    we want the ids we lack.
//! 4. `Fetch` in batches; every object goes through the validation pipeline like gossip.
//!
//! Both sides run rounds, so each side pulls what it lacks; nothing is pushed.

use std::collections::BTreeMap;

use flashback_net::{NetHandle, PeerId, Protocol};
use flashback_store::Store;
use flashback_types::protocol::{MAX_IDS, MAX_OBJECTS, MAX_PROVIDERS, MAX_RESPONSE_BYTES};
use flashback_types::wire::{
    ErrorReply, ObjectBytes, SyncRequest, SyncResponse, decode_request, decode_response,
    encode_message,
};
use flashback_types::{BoundedVec, ErrorCode, Hash32, Kind, ObjectId, PublicKey, SyncClass};

use crate::pipeline::{Validator, Verdict};
use crate::{NodeError, blocking, bounded};

/// Kinds reconciled by id lists, with a digest each in the summary ([`Kind::sync`]; offers
/// are reconciled per provider).
pub(crate) fn id_synced_kinds() -> impl Iterator<Item = Kind> {
    Kind::ALL
        .into_iter()
        .filter(|k| k.sync() == SyncClass::ByIds)
}

/// blake3 over the sorted ids of a kind.
pub(crate) fn kind_digest(store: &Store, kind: Kind) -> Result<Hash32, NodeError> {
    Ok(flashback_types::digest::kind_digest(
        &store.ids_by_kind(kind)?,
    ))
}

/// Answers one sync request from the local store.
pub(crate) fn serve(store: &Store, request: &[u8]) -> SyncResponse {
    match decode_request::<SyncRequest>(request) {
        Ok(req) => serve_request(store, req).unwrap_or_else(|e| {
            SyncResponse::Error(ErrorReply::new(format!("cannot serve sync request: {e}")))
        }),
        Err(e) => SyncResponse::Error(ErrorReply::with_code(
            ErrorCode::InvalidInput,
            format!("bad sync request: {e}"),
        )),
    }
}

fn serve_request(store: &Store, req: SyncRequest) -> Result<SyncResponse, NodeError> {
    Ok(match req {
        SyncRequest::Summary { after } => {
            let mut kinds = Vec::new();
            for kind in id_synced_kinds() {
                kinds.push((kind.into(), kind_digest(store, kind)?));
            }
            let all = store.provider_digests();
            let mut providers: Vec<(PublicKey, Hash32)> = all
                .into_iter()
                .filter(|(p, _)| after.is_none_or(|a| *p > a))
                .take(MAX_PROVIDERS + 1)
                .collect();
            let more = providers.len() > MAX_PROVIDERS;
            providers.truncate(MAX_PROVIDERS);
            SyncResponse::Summary {
                listing: store.listing_digest(),
                kinds: bounded(kinds),
                providers: bounded(providers),
                more,
            }
        }
        SyncRequest::Provider { provider } => {
            let mut offers = store.provider_summary(&provider);
            offers.truncate(MAX_IDS);
            SyncResponse::Provider {
                offers: bounded(offers),
            }
        }
        SyncRequest::Ids { kind, after } => {
            let mut ids: Vec<ObjectId> = store
                .ids_by_kind(kind)?
                .into_iter()
                .filter(|id| after.is_none_or(|a| *id > a))
                .take(MAX_IDS + 1)
                .collect();
            let more = ids.len() > MAX_IDS;
            ids.truncate(MAX_IDS);
            SyncResponse::Ids {
                ids: bounded(ids),
                more,
            }
        }
        SyncRequest::Fetch { ids } => SyncResponse::Objects {
            objects: bounded(fetch_objects(store, &ids)?),
        },
    })
}

/// Encoded objects for `ids` that the store holds, within one response's size budget.
pub(crate) fn fetch_objects(
    store: &Store,
    ids: &[ObjectId],
) -> Result<Vec<ObjectBytes>, NodeError> {
    // Leave room for framing: each entry costs its length prefix too.
    let budget = MAX_RESPONSE_BYTES - 4096;
    let mut used = 0;
    let mut out = Vec::new();
    for id in ids {
        if out.len() == MAX_OBJECTS {
            break;
        }
        if let Some(object) = store.get(id)? {
            let bytes = object.encoded();
            if used + bytes.len() + 8 > budget {
                break;
            }
            used += bytes.len() + 8;
            out.push(ObjectBytes::from(bytes.to_vec()));
        }
    }
    Ok(out)
}

/// What one round achieved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoundStats {
    /// Ids we asked for.
    pub wanted: usize,
    /// Objects received.
    pub fetched: usize,
    /// Objects that were new to us and stored.
    pub stored: usize,
}

impl RoundStats {
    /// Adds another round's (or batch's) counts to these.
    pub fn add(&mut self, other: RoundStats) {
        self.wanted += other.wanted;
        self.fetched += other.fetched;
        self.stored += other.stored;
    }
}

/// Runs one reconciliation round with `peer`.
pub(crate) async fn round(
    net: &NetHandle,
    store: &Store,
    validator: &Validator,
    peer: PeerId,
    fetch_batch: usize,
) -> Result<RoundStats, NodeError> {
    let ask = |req: SyncRequest| async move {
        let bytes = request_with_retry(net, peer, encode_message(&req)).await?;
        match decode_response::<SyncResponse>(&bytes) {
            Ok(SyncResponse::Error(e)) => Err(NodeError::Peer(format!(
                "{peer} refused sync: {}",
                e.message
            ))),
            Ok(resp) => Ok(resp),
            Err(e) => Err(NodeError::Peer(format!(
                "{peer} sent a bad sync response: {e}"
            ))),
        }
    };

    // 1. Summaries.
    let mut their_providers = Vec::new();
    let mut their_kinds = Vec::new();
    let mut their_listing = None;
    let mut after = None;
    loop {
        match ask(SyncRequest::Summary { after }).await? {
            SyncResponse::Summary {
                listing,
                kinds,
                providers,
                more,
            } => {
                their_listing.get_or_insert(listing);
                if their_kinds.is_empty() {
                    // Kinds this node does not know (a newer peer's) are skipped.
                    their_kinds = kinds
                        .into_inner()
                        .into_iter()
                        .filter_map(|(k, d)| Some((k.kind()?, d)))
                        .collect();
                }
                after = providers.last().map(|(p, _)| *p);
                their_providers.extend(providers.into_inner());
                if !more || after.is_none() {
                    break;
                }
            }
            _ => return Err(unexpected(peer)),
        }
    }
    let local = store.clone();
    let (our_listing, our_kinds, our_providers) = blocking(move || {
        let mut kinds = BTreeMap::new();
        for kind in id_synced_kinds() {
            kinds.insert(kind, kind_digest(&local, kind)?);
        }
        let providers: BTreeMap<PublicKey, Hash32> = local.provider_digests().into_iter().collect();
        Ok((local.listing_digest(), kinds, providers))
    })
    .await?;
    let kinds_equal = their_kinds
        .iter()
        .all(|(k, d)| our_kinds.get(k).is_some_and(|ours| ours == d));
    if their_listing == Some(our_listing) && kinds_equal {
        return Ok(RoundStats::default());
    }

    let mut stats = RoundStats::default();
    let fetch_batch = fetch_batch.clamp(1, MAX_OBJECTS);
    // Fetches as soon as a batch is wanted, so that a round cut short keeps what it fetched
    // and the next round starts from there.
    let fetch = |ids: Vec<ObjectId>| {
        let ask = &ask;
        async move {
            let wanted = ids.len();
            let ids = BoundedVec::try_from_vec(ids).unwrap_or_default();
            let SyncResponse::Objects { objects } = ask(SyncRequest::Fetch { ids }).await? else {
                return Err(unexpected(peer));
            };
            let batch: Vec<Vec<u8>> = objects
                .into_inner()
                .into_iter()
                .map(|b| b.into_vec())
                .collect();
            let fetched = batch.len();
            let mut stored = 0;
            for (verdict, _) in validator.ingest(batch).await {
                match verdict {
                    Verdict::Stored(flashback_store::Applied::Applied) => stored += 1,
                    Verdict::Invalid(e, _) => {
                        tracing::warn!(%peer, error = %e, "peer served an invalid object during sync");
                    }
                    _ => {}
                }
            }
            Ok::<_, NodeError>(RoundStats {
                wanted,
                fetched,
                stored,
            })
        }
    };

    // 2. Offers of providers whose digest differs.
    let mut wanted: Vec<ObjectId> = Vec::new();
    for (provider, digest) in their_providers {
        if our_providers.get(&provider) == Some(&digest) {
            continue;
        }
        let SyncResponse::Provider { offers } = ask(SyncRequest::Provider { provider }).await?
        else {
            return Err(unexpected(peer));
        };
        let local = store.clone();
        let ours: BTreeMap<String, (u64, ObjectId)> = blocking(move || {
            Ok(local
                .provider_summary(&provider)
                .into_iter()
                .map(|(k, seq, id)| (k.as_str().to_owned(), (seq, id)))
                .collect())
        })
        .await?;
        for (key, seq, id) in offers.into_inner() {
            let want = match ours.get(key.as_str()) {
                None => true,
                Some((our_seq, our_id)) => seq > *our_seq || (seq == *our_seq && id != *our_id),
            };
            if want {
                wanted.push(id);
            }
        }
        while wanted.len() >= fetch_batch {
            let rest = wanted.split_off(fetch_batch);
            stats.add(fetch(std::mem::replace(&mut wanted, rest)).await?);
        }
    }

    // 3. Other kinds whose digest differs.
    for (kind, digest) in their_kinds {
        if our_kinds.get(&kind) == Some(&digest) || kind.sync() != SyncClass::ByIds {
            continue;
        }
        let mut after = None;
        loop {
            let SyncResponse::Ids { ids, more } = ask(SyncRequest::Ids { kind, after }).await?
            else {
                return Err(unexpected(peer));
            };
            after = ids.last().copied();
            let local = store.clone();
            let ids = ids.into_inner();
            let missing = blocking(move || {
                let mut missing = Vec::new();
                for id in ids {
                    if local.get(&id)?.is_none() {
                        missing.push(id);
                    }
                }
                Ok(missing)
            })
            .await?;
            wanted.extend(missing);
            if !more || after.is_none() {
                break;
            }
        }
    }

    // 4. Fetch the rest in bounded batches; each object is validated like gossip.
    for chunk in wanted.chunks(fetch_batch) {
        stats.add(fetch(chunk.to_vec()).await?);
    }
    Ok(stats)
}

/// Attempts per sync request: a peer over its inbound rate drops the request (we see the
/// stream end), so a round waits a moment and asks again rather than failing.
const SYNC_ATTEMPTS: u32 = 4;

pub(crate) async fn request_with_retry(
    net: &NetHandle,
    peer: PeerId,
    request: Vec<u8>,
) -> Result<Vec<u8>, NodeError> {
    let mut attempt = 1;
    loop {
        match net.request(peer, Protocol::Sync, request.clone()).await {
            Ok(bytes) => return Ok(bytes),
            Err(e) if attempt < SYNC_ATTEMPTS && e.is_retryable() => {
                tracing::debug!(%peer, attempt, error = %e, "sync request failed; retrying");
                // 0.5 s, 1 s, 2 s: the default inbound rate (50/s) refills 25 to 100 requests.
                tokio::time::sleep(std::time::Duration::from_millis(250 << attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn unexpected(peer: PeerId) -> NodeError {
    NodeError::Peer(format!(
        "{peer} answered a sync request with the wrong message"
    ))
}

#[cfg(test)]
mod tests {
    use flashback_store::StoreConfig;

    use super::*;

    fn ask(store: &Store, request: SyncRequest) -> SyncResponse {
        let response = encode_message(&serve(store, &encode_message(&request)));
        decode_response(&response).expect("a response within the protocol's limits")
    }

    #[test]
    fn the_summary_has_a_digest_for_each_kind_synced_by_ids() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path().join("listing"), StoreConfig::default()).expect("open");
        let SyncResponse::Summary { kinds, .. } = ask(&store, SyncRequest::Summary { after: None })
        else {
            panic!("not a summary");
        };
        let listed: Vec<Option<Kind>> = kinds.iter().map(|(k, _)| k.kind()).collect();
        let by_ids: Vec<Kind> = Kind::ALL
            .into_iter()
            .filter(|k| k.sync() == SyncClass::ByIds)
            .collect();
        assert_eq!(listed, by_ids.iter().copied().map(Some).collect::<Vec<_>>());
        assert!(
            !listed.contains(&Some(Kind::Offer)),
            "offers sync per provider"
        );
        for kind in by_ids {
            let response = ask(&store, SyncRequest::Ids { kind, after: None });
            assert!(
                matches!(response, SyncResponse::Ids { ref ids, more: false } if ids.is_empty()),
                "{kind}: {response:?}"
            );
        }
    }
}
