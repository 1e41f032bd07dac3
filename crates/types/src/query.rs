//! Listing queries: what a light client asks a full node for. Shared by the store (which
//! answers), the query protocol (which carries it) and the client (which builds it).

use serde::{Deserialize, Serialize};

use crate::bodies::{Certificate, DataProtocol, ObjectId, Price, ResourceKind, ShortText};
use crate::encoding::BoundedVec;
use crate::keys::PublicKey;
use crate::trust::{ClaimFilter, TrustStore};

/// Most results one query page may return.
pub const MAX_QUERY_LIMIT: u32 = 200;

/// Order of results. Ties are broken by object id so pages are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// Cheapest first (compared through the rate table; offers without a rate come last).
    #[default]
    Price,
    /// Highest reputation first; unrated providers last.
    Reputation,
    /// Largest capacity first.
    Capacity,
    /// Most recently created first.
    Newest,
}

/// Filters and order for an offer query. Every filter is optional; all given filters must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct OfferQuery {
    /// Only this kind.
    pub kind: Option<ResourceKind>,
    /// Offers serving at least one of these regions (empty = any).
    pub regions: BoundedVec<ShortText, 16>,
    /// Offers serving this protocol.
    pub protocol: Option<DataProtocol>,
    /// Unit price at most this (converted through the node's rate table when assets differ;
    /// offers whose asset has no rate are left out, never mispriced).
    pub max_price: Option<Price>,
    /// Capacity at least this (bytes or units).
    pub min_capacity: Option<u64>,
    /// Availability target at least this, basis points.
    pub min_availability_bp: Option<u16>,
    /// p95 latency target at most this, ms (offers promising nothing are left out).
    pub max_p95_latency_ms: Option<u32>,
    /// Provider holds a valid, unrevoked certificate from this certifier.
    pub certified_by: Option<PublicKey>,
    /// Provider holds every one of these claims under the node's trust store (trusted
    /// issuers, live, unrevoked, within their schemes, as many issuers as the claim needs).
    pub certified: BoundedVec<ClaimFilter, 8>,
    /// Offers declaring at least one of these jurisdictions (empty = any).
    pub jurisdictions: BoundedVec<ShortText, 16>,
    /// Provider reputation score at least this (0.0 ..= 1.0, scaled by 10 000: 7500 = 0.75).
    /// Unrated providers (no score: not enough counted evidence) are left out unless
    /// `include_unrated`.
    pub min_reputation_bp: Option<u16>,
    /// Only this provider's offers.
    pub provider: Option<PublicKey>,
    /// Include withdrawn offers (tombstones). Default false.
    pub include_withdrawn: bool,
    /// Order.
    pub sort: SortKey,
    /// At most this many results (capped at [`MAX_QUERY_LIMIT`]; 0 means the default of 20).
    pub limit: u32,
    /// Continue after this cursor (from the previous page).
    pub cursor: Option<Cursor>,
    /// With `min_reputation_bp`: keep unrated providers too (they have no score to compare).
    /// A reputation sort puts them last either way.
    pub include_unrated: bool,
}

impl OfferQuery {
    /// The effective page size.
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => 20,
            n => n.min(MAX_QUERY_LIMIT) as usize,
        }
    }
}

/// An opaque position in a sorted result list: the sort value and id of the last item
/// returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cursor {
    /// The sort value of the last item (meaning depends on [`SortKey`]).
    pub after_value: u64,
    /// The id of the last item.
    pub after_id: ObjectId,
}

/// Most certificates one certificate or register page returns.
pub const MAX_CERT_LIMIT: u32 = 256;

/// Certificates a light client asks a node for, each answered with its status under the
/// node's trust store. Every filter is optional; all given filters must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CertQuery {
    /// These certificates (empty = any).
    pub ids: BoundedVec<ObjectId, 256>,
    /// About one of these keys (empty = any).
    pub subjects: BoundedVec<PublicKey, 256>,
    /// Issued by one of these keys (empty = any).
    pub issuers: BoundedVec<PublicKey, 64>,
    /// Stating this claim.
    pub claim: Option<ClaimFilter>,
    /// Only from issuers in the node's trust store (leaves out what strangers say about a key).
    pub trusted_only: bool,
    /// At most this many (capped at [`MAX_CERT_LIMIT`]; 0 means the cap).
    pub limit: u32,
    /// Continue after this certificate id (results come in id order).
    pub after: Option<ObjectId>,
}

impl CertQuery {
    /// Whether the certificate `id` matches every filter (the cursor aside), with `trust`
    /// the answering node's trust store.
    pub fn matches(&self, id: &ObjectId, cert: &Certificate, trust: &TrustStore) -> bool {
        (self.ids.is_empty() || self.ids.contains(id))
            && (self.subjects.is_empty() || self.subjects.contains(&cert.subject))
            && (self.issuers.is_empty() || self.issuers.contains(&cert.issuer))
            && self
                .claim
                .as_ref()
                .is_none_or(|f| cert.claims.iter().any(|c| f.matches(c)))
            && (!self.trusted_only || trust.issuer(&cert.issuer).is_some())
    }

    /// The effective page size.
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => MAX_CERT_LIMIT as usize,
            n => n.min(MAX_CERT_LIMIT) as usize,
        }
    }
}

/// Whose register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterRole {
    /// Keys with at least one live offer.
    #[default]
    Providers,
    /// Keys that are the consumer of an agreement the node holds.
    Consumers,
    /// Every certified key.
    Any,
}

/// A register: certified keys of one role, by the node's trust store, in key order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RegisterQuery {
    /// Providers, consumers, or anyone.
    pub role: RegisterRole,
    /// Only keys holding this claim.
    pub claim: Option<ClaimFilter>,
    /// Only keys with a valid certificate from the issuer of this name in the node's trust
    /// store (an unknown name is an error).
    pub issuer: Option<ShortText>,
    /// Also keys whose certificates from trusted issuers all fail (their statuses say why).
    pub include_uncertified: bool,
    /// At most this many keys (capped at 64; 0 means 64).
    pub limit: u32,
    /// Continue after this key.
    pub after: Option<PublicKey>,
}

impl RegisterQuery {
    /// The effective number of keys per page.
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => 64,
            n => n.min(64) as usize,
        }
    }
}
