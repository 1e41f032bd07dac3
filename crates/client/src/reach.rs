//! Propagation feedback for providers: which nodes hold an offer's current version and how
//! fast they got it ([`Client::offer_status`]), as the node's peers answer it.

use flashback_types::stats::percentile;
use flashback_types::wire::{Held, OfferReach, QueryRequest, QueryResponse, truncated};
use flashback_types::{Object, ObjectId};
use serde::Serialize;

use crate::{Client, ClientError};

/// How many peers beyond the node's direct ones to ask by default.
pub const DEFAULT_SAMPLE: u16 = 16;

/// The answer, summed up.
#[derive(Debug, Clone, Serialize)]
pub struct OfferStatus {
    /// The offer version asked about (the node's current one).
    pub offer: ObjectId,
    /// Its seq.
    pub seq: u64,
    /// Nodes asked, the answering node included.
    pub asked: usize,
    /// Nodes that hold this seq, the answering node included.
    pub holding: usize,
    /// Full nodes asked from the node's address book (connected or not).
    pub direct: u32,
    /// Peers asked beyond those (the sample).
    pub sampled: u32,
    /// Median time from signing to the node's first sighting at a holder, ms (an upper bound:
    /// a peer may have got it before it was first asked).
    pub p50_seen_ms: Option<u64>,
    /// The slowest such time, ms.
    pub max_seen_ms: Option<u64>,
    /// Peers that do not hold it: ids and why.
    pub missing: Vec<Missing>,
    /// Everything the node answered.
    pub reach: OfferReach,
}

/// A peer without the current version.
#[derive(Debug, Clone, Serialize)]
pub struct Missing {
    /// Its peer id.
    pub peer_id: String,
    /// What it holds instead, or why it did not answer.
    pub held: Held,
    /// The node pushed the offer to it.
    pub pushed: bool,
}

impl Client {
    /// Which nodes hold the current version of the offer `id` names (any version of it): the
    /// node asks its peers and `sample` of their peers, and pushes it to those lacking it.
    pub async fn offer_status(
        &self,
        id: ObjectId,
        sample: u16,
    ) -> Result<OfferStatus, ClientError> {
        let offer = match self.get(&[id]).await?.into_iter().next() {
            Some(Object::Offer(o)) => o,
            Some(other) => {
                return Err(ClientError::InvalidInput(format!(
                    "{id} is a {}, not an offer",
                    other.kind()
                )));
            }
            None => {
                return Err(ClientError::NotFound(format!(
                    "the node holds no offer {id}"
                )));
            }
        };
        let body = offer.body();
        let node = self.first();
        let req = QueryRequest::OfferReach {
            provider: body.provider,
            offer_key: truncated(body.offer_key.as_str().to_owned()),
            sample,
        };
        let QueryResponse::OfferReach(reach) = self.query_node(node, &req).await? else {
            return Err(self.wrong(node));
        };
        Ok(summarise(reach))
    }
}

/// Counts and timings from the node's answer.
pub fn summarise(reach: OfferReach) -> OfferStatus {
    let signed_ms = reach.created_at.saturating_mul(1000);
    let mut seen: Vec<u64> = reach
        .peers
        .iter()
        .filter_map(|p| p.first_seen_ms)
        .map(|ms| ms.saturating_sub(signed_ms))
        .collect();
    seen.sort_unstable();
    let missing: Vec<Missing> = reach
        .peers
        .iter()
        .filter(|p| p.held != Held::Current)
        .map(|p| Missing {
            peer_id: p.peer_id.as_str().to_owned(),
            held: p.held.clone(),
            pushed: p.pushed,
        })
        .collect();
    OfferStatus {
        offer: reach.id,
        seq: reach.seq,
        asked: reach.peers.len() + 1,
        holding: reach.peers.len() - missing.len() + 1,
        direct: reach.direct,
        sampled: reach.sampled,
        p50_seen_ms: percentile(&seen, 0.5),
        max_seen_ms: seen.last().copied(),
        missing,
        reach,
    }
}
