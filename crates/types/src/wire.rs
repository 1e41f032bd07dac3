//! Request and response messages of the request-response protocols
//! (`/flashback/sync/1`, `/flashback/query/1`, `/flashback/submit/1`).
//!
//! Messages are bincode in the canonical configuration, each direction size-limited (the
//! protocol ids and limits are in [`crate::protocol`]). Objects inside responses travel as
//! their exact signed encodings (`Vec<u8>`), and the receiver decodes and verifies each one
//! with [`crate::Object::decode`]: a full node is never trusted for an object's content.

use serde::{Deserialize, Serialize};

use crate::bodies::{ObjectId, Party, Timestamp};
use crate::code::ErrorCode;
use crate::encoding::{BoundedString, BoundedVec, DecodeError};
use crate::keys::{Hash32, PublicKey};
use crate::kind::Kind;
use crate::protocol::{
    MAX_IDS, MAX_OBJECTS, MAX_PEERS_LISTED, MAX_PROVIDERS, MAX_QUERY_OBJECTS, MAX_REQUEST_BYTES,
    MAX_RESOLVED, MAX_RESPONSE_BYTES, MAX_SUMMARY_KINDS,
};
use crate::query::{CertQuery, Cursor, IdSpace, OfferQuery, RegisterQuery};
use crate::trust::{CertStatus, TrustStore};
use crate::validate::Rule;

/// One encoded object as carried in responses (at most the largest object).
pub type ObjectBytes = serde_bytes::ByteBuf;

/// `/flashback/sync/1` requests: anti-entropy between full nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// The responder's listing digest, per-kind digests, and a page of per-provider offer
    /// digests (providers after `after`, in key order).
    Summary {
        /// Continue after this provider.
        after: Option<PublicKey>,
    },
    /// The offers held for one provider: `(offer_key, seq, id)`, sorted by offer key.
    Provider {
        /// The provider.
        provider: PublicKey,
    },
    /// Ids of non-offer objects of a kind, sorted, after `after`.
    Ids {
        /// The kind (not offers; those go through `Provider`).
        kind: Kind,
        /// Continue after this id.
        after: Option<ObjectId>,
    },
    /// The objects with these ids (those the responder holds).
    Fetch {
        /// Ids wanted.
        ids: BoundedVec<ObjectId, MAX_IDS>,
    },
}

/// A kind as a sync summary names it: the same bytes as a [`Kind`] (bincode's variant index,
/// the tag − 1), but a kind this node does not know still decodes, to be skipped
/// ([`SummaryKind::kind`] is `None`). A newer peer's summary then names its newer kinds without
/// failing the whole round for an older node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SummaryKind(u32);

impl SummaryKind {
    /// The kind, if this node knows it.
    pub fn kind(self) -> Option<Kind> {
        u8::try_from(self.0)
            .ok()
            .and_then(|index| Kind::from_tag(index.checked_add(1)?))
    }
}

impl From<Kind> for SummaryKind {
    fn from(kind: Kind) -> Self {
        Self(u32::from(kind.tag()) - 1)
    }
}

impl Serialize for SummaryKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for SummaryKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u32::deserialize(deserializer).map(Self)
    }
}

/// `/flashback/sync/1` responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    /// Answer to [`SyncRequest::Summary`].
    Summary {
        /// Digest of everything the responder holds.
        listing: Hash32,
        /// Digest of the ids of each kind synced by ids ([`crate::SyncClass::ByIds`]).
        kinds: BoundedVec<(SummaryKind, Hash32), MAX_SUMMARY_KINDS>,
        /// Per-provider digests of their offers, in key order.
        providers: BoundedVec<(PublicKey, Hash32), MAX_PROVIDERS>,
        /// Whether more providers follow (ask again with `after` = last key).
        more: bool,
    },
    /// Answer to [`SyncRequest::Provider`].
    Provider {
        /// `(offer_key, seq, id)` for each offer, sorted by offer key.
        offers: BoundedVec<(BoundedString<64>, u64, ObjectId), MAX_IDS>,
    },
    /// Answer to [`SyncRequest::Ids`].
    Ids {
        /// Ids in increasing order.
        ids: BoundedVec<ObjectId, MAX_IDS>,
        /// Whether more follow.
        more: bool,
    },
    /// Answer to [`SyncRequest::Fetch`].
    Objects {
        /// Encoded objects.
        objects: BoundedVec<ObjectBytes, MAX_OBJECTS>,
    },
    /// The request could not be served.
    Error(ErrorReply),
}

/// `/flashback/query/1` requests: what light clients ask full nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // transient messages, built once per request
pub enum QueryRequest {
    /// Offers matching a query.
    Offers(OfferQuery),
    /// Objects by id.
    Get {
        /// Ids wanted.
        ids: BoundedVec<ObjectId, MAX_OBJECTS>,
    },
    /// Agreements where `party` is the consumer or the provider (all when `None`).
    Agreements {
        /// The party.
        party: Option<PublicKey>,
    },
    /// A provider's offers, agreements, reputation and its explanation.
    Provider {
        /// The provider.
        provider: PublicKey,
    },
    /// Wait up to `timeout_secs` (capped by the node) for the decision on a proposal.
    WaitDecision {
        /// The proposal.
        proposal_id: ObjectId,
        /// How long to wait.
        timeout_secs: u32,
    },
    /// The node's identity, addresses, peers, listing counts and sync state.
    Status,
    /// Certificates, each with its status under the node's trust store.
    Certificates(CertQuery),
    /// A register: certified providers, consumers or keys, with their certificates.
    Register(RegisterQuery),
    /// The node's trust store.
    Trust,
    /// The ids (or keys) of `space` that start with `prefix` (8 to 64 hex characters).
    Resolve {
        /// Among which ids.
        space: IdSpace,
        /// The start of the id, hex.
        prefix: BoundedString<64>,
    },
    /// The peers the node is connected to.
    Peers,
    /// What the node holds about one agreement, as encoded objects: its proposal, the
    /// provider's decision, the agreement, access grants and terminations. With
    /// `wait_grant_secs` > 0 the answer is held (capped by the node) until an access grant for
    /// it is stored. Appended with access grants: older nodes answer it with an error.
    AgreementRecord {
        /// The agreement (the id of its proposal).
        proposal_id: ObjectId,
        /// How long to wait for an access grant.
        wait_grant_secs: u32,
    },
    /// Which nodes hold the current version of one of the node's listed offers: the node asks
    /// its peers (and a sample of their peers) through `/flashback/sync/1`, and pushes the
    /// offer to those that lack it.
    OfferReach {
        /// The offer's provider.
        provider: PublicKey,
        /// The offer's key.
        offer_key: BoundedString<64>,
        /// How many peers beyond the direct ones to ask (capped by the node).
        sample: u16,
    },
    /// The payment accounts of `party`'s agreements (as consumer or provider), computed by the
    /// node from the objects it holds and its trust store's arbiters, and `party`'s standing as
    /// a consumer. With `agreement`, that one only, with its billing periods. Appended with
    /// payments: older nodes answer it with an error.
    Payments {
        /// The party.
        party: PublicKey,
        /// One agreement (the id of its proposal).
        agreement: Option<ObjectId>,
    },
    /// The quotes the node holds that answer one demand (at most [`MAX_OBJECTS`]), as encoded
    /// objects. Appended with quotes (variant 14): older nodes answer it with an error.
    Quotes {
        /// The demand.
        demand_id: ObjectId,
    },
}

/// `/flashback/query/1` responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QueryResponse {
    /// Offers (encoded signed objects), and the cursor of the next page.
    Offers {
        /// Encoded signed offers.
        offers: BoundedVec<ObjectBytes, MAX_QUERY_OBJECTS>,
        /// Where the next page starts, if there is one.
        next_cursor: Option<Cursor>,
    },
    /// Encoded objects.
    Objects {
        /// Encoded objects.
        objects: BoundedVec<ObjectBytes, MAX_OBJECTS>,
    },
    /// A provider's profile.
    Provider(ProviderReport),
    /// The decision on a proposal: `Some(encoded SlaDecision)`, or `None` if none arrived in time.
    Decision(Option<ObjectBytes>),
    /// Node status.
    Status(NodeStatus),
    /// The request could not be served.
    Error(ErrorReply),
    /// Answer to [`QueryRequest::Certificates`].
    Certificates(CertificatePage),
    /// Answer to [`QueryRequest::Register`].
    Register(RegisterPage),
    /// Answer to [`QueryRequest::Trust`].
    Trust(TrustStore),
    /// Answer to `Resolve`: the matches in increasing order (at most [`MAX_RESOLVED`]), and
    /// whether there are more.
    Resolved {
        /// Ids or keys (raw 32 bytes) that start with the prefix.
        matches: BoundedVec<Hash32, MAX_RESOLVED>,
        /// More matched than listed.
        more: bool,
    },
    /// Answer to `Peers`.
    Peers(BoundedVec<PeerInfo, MAX_PEERS_LISTED>),
    /// Answer to `OfferReach`.
    OfferReach(OfferReach),
    /// Answer to `Payments`.
    Payments(PaymentsReport),
}

/// Most accounts in one [`PaymentsReport`].
pub const MAX_ACCOUNTS: usize = 256;

/// A party's payment accounts and its standing as a consumer ([`QueryRequest::Payments`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentsReport {
    /// The party.
    pub party: PublicKey,
    /// The node's clock when it computed them.
    pub now: Timestamp,
    /// The party's standing as a consumer (over every agreement it is the consumer of).
    pub standing: crate::payments::ConsumerStanding,
    /// The accounts, by agreement id; billing periods only when one agreement was asked for.
    pub accounts: BoundedVec<crate::payments::Account, MAX_ACCOUNTS>,
    /// More agreements than listed.
    pub more: bool,
}

/// Who holds an offer's current version ([`QueryRequest::OfferReach`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferReach {
    /// The version the answering node holds (the current one as far as it knows).
    pub id: ObjectId,
    /// Its seq.
    pub seq: u64,
    /// When it was signed.
    pub created_at: Timestamp,
    /// The node's clock when it answered, Unix milliseconds.
    pub answered_at_ms: u64,
    /// Full nodes asked from the node's address book (connected or not).
    pub direct: u32,
    /// Peers asked beyond those: a sample of the direct peers' peers.
    pub sampled: u32,
    /// Every peer asked and its answer.
    pub peers: BoundedVec<PeerReach, MAX_PEERS_LISTED>,
}

/// One peer's answer about an offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerReach {
    /// Its peer id.
    pub peer_id: BoundedString<64>,
    /// In the answering node's address book; otherwise a sampled peer of a peer.
    pub direct: bool,
    /// What it holds.
    pub held: Held,
    /// When the answering node first saw it hold this version, Unix milliseconds (an upper
    /// bound of when it got it).
    pub first_seen_ms: Option<u64>,
    /// The answering node pushed the offer to it (`/flashback/submit/1`) because it lacked it.
    pub pushed: bool,
}

/// What a peer holds of an offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Held {
    /// The same version.
    Current,
    /// An older version (its seq).
    Older(u64),
    /// A newer version than the answering node's (its seq).
    Newer(u64),
    /// No version.
    Missing,
    /// It did not answer; why.
    NoAnswer(BoundedString<256>),
}

/// Certificates with the node's verdict on each, and everything a light client needs to
/// recompute it: the certificates and revocations (signed, re-verified by the client), the
/// trust store and the instant the node judged at.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CertificatePage {
    /// The node's trust store.
    pub trust: TrustStore,
    /// The node's clock when it judged.
    pub now: Timestamp,
    /// Encoded signed certificates, in id order (per key in a register).
    pub certificates: BoundedVec<ObjectBytes, MAX_OBJECTS>,
    /// The node's status of each certificate, in the same order.
    pub statuses: BoundedVec<CertStatus, MAX_OBJECTS>,
    /// The revocation that counts for each revoked certificate (encoded signed objects).
    pub revocations: BoundedVec<ObjectBytes, MAX_OBJECTS>,
    /// Where the next page starts (certificate queries), if there is one.
    pub next: Option<ObjectId>,
}

/// A page of a register: for each key (in key order), its certificates from trusted issuers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RegisterPage {
    /// The keys' certificates, grouped by subject.
    pub page: CertificatePage,
    /// The keys of this page, in order (a key is listed with all its certificates from
    /// trusted issuers, at most 256 in all per page).
    pub subjects: BoundedVec<PublicKey, 64>,
    /// Where the next page starts, if there is one.
    pub next: Option<PublicKey>,
}

/// A provider's profile as a node sees it. The objects are signed and re-verified by the
/// client; the reputation is the node's computation, explained item by item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderReport {
    /// The provider.
    pub provider: PublicKey,
    /// Its live offers (encoded).
    pub offers: BoundedVec<ObjectBytes, MAX_OBJECTS>,
    /// Its agreements (encoded).
    pub agreements: BoundedVec<ObjectBytes, MAX_OBJECTS>,
    /// Whether the node holds equivocation evidence against it.
    pub flagged: bool,
    /// Reputation score 0..=1; `None` when the provider is unrated (its counted evidence is
    /// below `rated_at`): unrated is not average, and has no number.
    pub score: Option<f64>,
    /// Beta-reputation component.
    pub beta_mean: f64,
    /// SLA compliance component.
    pub compliance: f64,
    /// Where the score comes from and what was discounted.
    pub evidence: ScoreEvidence,
    /// Attestations that counted.
    pub counted: BoundedVec<CountedAttestation, MAX_OBJECTS>,
    /// Attestations that did not count, with the reason.
    pub excluded: BoundedVec<ExcludedAttestation, MAX_OBJECTS>,
    /// What the score was multiplied by for trusted rulings against the provider (1 without
    /// one; decision 0115).
    pub ruling_factor: f64,
    /// Rulings on the provider's agreements, with what each did to the score.
    pub rulings: BoundedVec<ProviderRuling, MAX_OBJECTS>,
}

/// A ruling on one of a provider's agreements, and what it did to the provider's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderRuling {
    /// Ruling id.
    pub id: ObjectId,
    /// Who ruled.
    pub arbiter: PublicKey,
    /// The agreement (its proposal id).
    pub agreement: ObjectId,
    /// Who the arbiter found right.
    pub in_favour_of: Party,
    /// When it was signed.
    pub created_at: Timestamp,
    /// What it does, as a stable code: `against`, `in_favour`, `untrusted`, `superseded`.
    pub effect: BoundedString<32>,
    /// What the score was multiplied by for it (1 unless `against`).
    pub factor: f64,
    /// The same in words.
    pub why: BoundedString<256>,
}

/// An attestation that counted towards a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountedAttestation {
    /// Attestation id.
    pub id: ObjectId,
    /// Who attested.
    pub attester: PublicKey,
    /// Window end.
    pub window_end: Timestamp,
    /// Probes.
    pub probes: u32,
    /// Successes.
    pub successes: u32,
    /// What the attestation counts for, `0.0..=1.0`: its attester's standing times its
    /// agreement's stake, after the caps (decay and the probe cap apply on top).
    pub weight: f64,
    /// The attester's standing about this provider, `0.0..=1.0`.
    pub standing: f64,
    /// The value at stake in the attested agreement, `0.0..=1.0` (1 for the node's own keys
    /// and trusted auditors).
    pub stake: f64,
    /// How the attester came by its standing, as a stable code: `own`, `auditor`,
    /// `certified`, `earned`, `no_deals`, `only_this_provider`, `no_rated_counterparty`.
    pub standing_code: BoundedString<32>,
    /// The same in words, with the sources of earned standing and where the stake comes from.
    pub why: BoundedString<512>,
}

/// How much of a provider's score rests on evidence of independent standing, and how much was
/// discounted (decision 0059). One attester with full standing and a full stake weighs 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreEvidence {
    /// The counted weights, summed.
    pub total: f64,
    /// The part from anchored attesters (the node's own keys, trusted auditors, certified
    /// consumers); the rest was earned by deals with providers the anchors rate.
    pub anchored: f64,
    /// Evidence needed for a score.
    pub rated_at: f64,
    /// Whether the node trusts anyone at all (own keys, auditors or certifiers); without that,
    /// nobody has standing and no provider is rated.
    pub anchored_node: bool,
    /// Lost because attesters had no independent standing.
    pub no_standing: f64,
    /// Lost to small stakes.
    pub low_stake: f64,
    /// Lost to the caps on one source of standing and on captive consumers.
    pub capped: f64,
}

/// An attestation that did not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExcludedAttestation {
    /// Attestation id.
    pub id: ObjectId,
    /// Who attested.
    pub attester: PublicKey,
    /// Why it did not count (e.g. "no agreement").
    pub reason: BoundedString<128>,
}

/// What `Status` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node's key (its peer id derives from it).
    pub node_key: PublicKey,
    /// Listing digest.
    pub listing_digest: Hash32,
    /// Offers held: one per `(provider, offer_key)`, withdrawn ones included until collected.
    pub offers: u64,
    /// Connected peers (other than the client asking).
    pub peers: u32,
    /// The node's clock.
    pub now: Timestamp,
    /// The node's software version.
    pub version: BoundedString<32>,
    /// Where the node listens, each address ending in `/p2p/<peer id>`.
    pub listen_addrs: BoundedVec<BoundedString<256>, 16>,
    /// Objects held per kind (offers: one per `(provider, offer_key)`).
    pub counts: BoundedVec<(SummaryKind, u64), MAX_SUMMARY_KINDS>,
    /// Offers among `offers` that are withdrawn.
    pub withdrawn_offers: u64,
    /// Providers the node holds equivocation evidence against.
    pub flagged_providers: u64,
    /// Anti-entropy with peers.
    pub sync: SyncStatus,
    /// The reference blob endpoint the node serves (`[blobs]`), if any: what a provider puts
    /// in its offers' `endpoint`.
    pub blob_endpoint: Option<BoundedString<256>>,
}

/// Anti-entropy as a node reports it in [`NodeStatus`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// Rounds completed since the node started.
    pub rounds: u64,
    /// Rounds that failed (peer gone, timeout).
    pub failed_rounds: u64,
    /// When the last round completed.
    pub last_round_at: Option<Timestamp>,
    /// Objects the last round fetched.
    pub last_fetched: u64,
    /// When a round last found nothing to fetch: the listing matched that peer's.
    pub last_in_sync_at: Option<Timestamp>,
}

/// A connected peer, as `Peers` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Its peer id.
    pub peer_id: BoundedString<64>,
    /// The listen addresses it announced (identify), as far as the node remembers them.
    pub addrs: BoundedVec<BoundedString<256>, 8>,
    /// In the node's gossip mesh for offers.
    pub in_mesh: bool,
    /// Its gossipsub score at the node, when scored.
    pub score: Option<f64>,
}

/// `/flashback/submit/1` request: one encoded object to validate, store and publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitRequest {
    /// The encoded signed object.
    pub object: ObjectBytes,
}

/// `/flashback/submit/1` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubmitResponse {
    /// Stored and published (or already held: `duplicate` true).
    Accepted {
        /// The object id.
        id: ObjectId,
        /// The node already had it.
        duplicate: bool,
    },
    /// Refused by a validation rule.
    Refused {
        /// The rule.
        rule: Rule,
        /// What was wrong.
        detail: BoundedString<512>,
    },
    /// The node could not process it (storage error, overload).
    Error(ErrorReply),
}

/// A failure to serve a request, with a message for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// What went wrong.
    pub message: BoundedString<512>,
    /// Why, for programs.
    pub code: ErrorCode,
}

impl ErrorReply {
    /// The node could not serve the request ([`ErrorCode::NodeFailed`]), truncating the
    /// message to fit.
    pub fn new(message: impl Into<String>) -> Self {
        Self::with_code(ErrorCode::NodeFailed, message)
    }

    /// An error reply with its code, truncating the message to fit.
    pub fn with_code(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            message: truncated(message.into()),
            code,
        }
    }
}

/// Truncates `s` (at a character boundary) to fit a `BoundedString<N>`.
pub fn truncated<const N: usize>(mut s: String) -> BoundedString<N> {
    if s.len() > N {
        let mut cut = N;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    BoundedString::new(s).unwrap_or_default()
}

/// Encodes a protocol message.
pub fn encode_message<T: Serialize>(message: &T) -> Vec<u8> {
    crate::encoding::encode(message)
}

/// Decodes a request (at most [`MAX_REQUEST_BYTES`], no trailing bytes).
pub fn decode_request<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    crate::encoding::decode::<T, MAX_REQUEST_BYTES>(bytes)
}

/// Decodes a response (at most [`MAX_RESPONSE_BYTES`], no trailing bytes).
pub fn decode_response<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    crate::encoding::decode::<T, MAX_RESPONSE_BYTES>(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_reach_round_trips_with_its_variant_indexes_appended() {
        let provider = crate::SecretKey::from_seed(&[7; 32]).public();
        let req = QueryRequest::OfferReach {
            provider,
            offer_key: truncated("px".to_owned()),
            sample: 16,
        };
        let bytes = encode_message(&req);
        // Variant 12, after `AgreementRecord` (11): older variants keep their bytes.
        assert_eq!(bytes[0], 12);
        assert_eq!(decode_request::<QueryRequest>(&bytes).unwrap(), req);
        let held = [
            Held::Current,
            Held::Older(3),
            Held::Newer(9),
            Held::Missing,
            Held::NoAnswer(truncated("dial failed".to_owned())),
        ];
        let resp = QueryResponse::OfferReach(OfferReach {
            id: Hash32::of(b"offer"),
            seq: 5,
            created_at: 1_700_000_000,
            answered_at_ms: 1_700_000_000_250,
            direct: 4,
            sampled: 1,
            peers: BoundedVec::try_from_vec(
                held.into_iter()
                    .enumerate()
                    .map(|(i, held)| PeerReach {
                        peer_id: truncated(format!("peer-{i}")),
                        direct: i != 4,
                        first_seen_ms: (held == Held::Current).then_some(1_700_000_000_120),
                        pushed: held == Held::Missing,
                        held,
                    })
                    .collect(),
            )
            .unwrap(),
        });
        let bytes = encode_message(&resp);
        assert_eq!(bytes[0], 11);
        assert_eq!(decode_response::<QueryResponse>(&bytes).unwrap(), resp);
    }

    #[test]
    fn a_summary_kind_is_encoded_as_the_kind_and_unknown_ones_still_decode() {
        for kind in Kind::ALL {
            let bytes = encode_message(&SummaryKind::from(kind));
            assert_eq!(bytes, encode_message(&kind), "{kind}");
            let back: SummaryKind = crate::encoding::decode::<_, 8>(&bytes).unwrap();
            assert_eq!(back.kind(), Some(kind));
        }
        // A summary from a newer node, naming a kind this one does not know.
        let hash = Hash32::of(b"ids");
        let newer = u32::from(Kind::MAX_TAG);
        let summary = SyncResponse::Summary {
            listing: hash,
            kinds: BoundedVec::try_from_vec(vec![
                (SummaryKind::from(Kind::Demand), hash),
                (SummaryKind(newer), hash),
            ])
            .unwrap(),
            providers: BoundedVec::new(),
            more: false,
        };
        let decoded: SyncResponse = decode_response(&encode_message(&summary)).unwrap();
        let SyncResponse::Summary { kinds, .. } = decoded else {
            panic!("not a summary");
        };
        let known: Vec<Option<Kind>> = kinds.iter().map(|(k, _)| k.kind()).collect();
        assert_eq!(known, [Some(Kind::Demand), None]);
    }
}
