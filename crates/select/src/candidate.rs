//! What the optimizer chooses among: one [`Candidate`] per live offer, with the scores and
//! certificates the caller gathered for its provider. Plain data: the optimizer does not look
//! anything up.

use flashback_types::{Claim, ObjectId, Offer, Price, PublicKey, ResourceKind, ShortText};
use serde::{Deserialize, Serialize};

/// One offer as the optimizer sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The offer's object id (what `--why` and proposals refer to).
    pub offer: ObjectId,
    /// The provider; at most one pick per provider.
    pub provider: PublicKey,
    /// The operator behind the provider when declared (for instance in a certificate from a
    /// trusted issuer); at most one pick per operator.
    pub operator: Option<ShortText>,
    /// Storage or compute.
    pub kind: ResourceKind,
    /// Unit price.
    pub price: Price,
    /// Capacity offered (bytes or units).
    pub capacity: u64,
    /// Shortest agreement accepted, seconds.
    pub min_duration_secs: u64,
    /// Longest agreement accepted, seconds.
    pub max_duration_secs: u64,
    /// Regions served (an offer declaring none is placed in one shared "unspecified" region).
    pub regions: Vec<ShortText>,
    /// Availability, basis points (the offer's promise, or a measured figure).
    pub availability_bp: u16,
    /// p95 latency, ms (0 = not promised).
    pub p95_latency_ms: u32,
    /// Throughput, bytes per second (0 = not promised).
    pub throughput_bytes_per_sec: u64,
    /// The provider's reputation in `0.0..=1.0`, or `None` when it is unrated (no counted
    /// evidence: not the same as a low score).
    pub reputation: Option<f64>,
    /// Claims the provider holds in live certificates from issuers the caller trusts.
    pub claims: Vec<Claim>,
}

impl Candidate {
    /// A candidate from a verified offer, its provider's reputation and trusted claims.
    pub fn from_offer(
        offer: &Offer,
        id: ObjectId,
        reputation: Option<f64>,
        claims: Vec<Claim>,
        operator: Option<ShortText>,
    ) -> Self {
        Self {
            offer: id,
            provider: offer.provider,
            operator,
            kind: offer.kind,
            price: offer.price.clone(),
            capacity: offer.capacity,
            min_duration_secs: offer.min_duration_secs,
            max_duration_secs: offer.max_duration_secs,
            regions: offer.regions.iter().cloned().collect(),
            availability_bp: offer.qos.availability_bp,
            p95_latency_ms: offer.qos.p95_latency_ms,
            throughput_bytes_per_sec: offer.qos.throughput_bytes_per_sec,
            reputation,
            claims,
        }
    }

    /// The reputation as a number the optimizer can trust: NaN is unrated, the rest clamped
    /// to `0.0..=1.0`.
    pub(crate) fn rating(&self) -> Option<f64> {
        self.reputation
            .filter(|r| !r.is_nan())
            .map(|r| r.clamp(0.0, 1.0))
    }
}
