//! [`Kind`]: every kind of object, and every per-kind rule of the protocol and the store.
//!
//! Each per-kind question is answered here by one exhaustive `match` (no `_` arm), so a new
//! kind is a compile error at each place that must decide about it, never an entry missing
//! from a list: its wire tag and signing domain, size and lifetime limits, gossip topic
//! ([`Kind::topic`]), how anti-entropy reconciles it ([`Kind::sync`]), whether the listing
//! digest covers it ([`Kind::in_listing_digest`]), the store tree it lives in
//! ([`Kind::store_tree`]) and when the store deletes it ([`Kind::gc`]). Tables over kinds are
//! built from [`Kind::ALL`] or held in a [`PerKind`], never written out by hand.
//!
//! Invariants between these answers are checked at compile time below (and in `tests`), so a
//! new kind with an inconsistent policy does not build.

use std::fmt;
use std::ops::{Index, IndexMut};

use serde::{Deserialize, Serialize};

use crate::encoding::{self, DecodeError};
use crate::protocol::Topic;

with_all! {
    /// The kinds of objects. The discriminant is the wire tag (the first byte of an encoded
    /// object). Tags increase in declaration order (checked at compile time) and may skip
    /// numbers reserved for kinds not built yet; inside protocol messages a kind is encoded
    /// as its tag − 1 (see the `Serialize` impl), so **new kinds are appended, never
    /// inserted.**
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    #[repr(u8)]
    pub enum Kind {
        /// [`crate::Offer`]
        Offer = 1,
        /// [`crate::Demand`]
        Demand = 2,
        /// [`crate::SlaProposal`]
        SlaProposal = 3,
        /// [`crate::SlaDecision`]
        SlaDecision = 4,
        /// [`crate::Agreement`] (proposal + acceptance; not signed as a whole)
        Agreement = 5,
        /// [`crate::QosAttestation`]
        QosAttestation = 6,
        /// [`crate::Certificate`]
        Certificate = 7,
        /// [`crate::Revocation`]
        Revocation = 8,
        /// [`crate::EquivocationEvidence`] (two offers; not signed as a whole)
        EquivocationEvidence = 9,
        /// [`crate::Quote`]
        Quote = 10,
        /// [`crate::PaymentVoucher`]
        PaymentVoucher = 11,
        /// [`crate::Dispute`]
        Dispute = 12,
        /// [`crate::Ruling`]
        Ruling = 13,
        /// [`crate::Termination`]
        Termination = 14,
        /// [`crate::AccessGrant`]
        AccessGrant = 15,
    }
}

/// How anti-entropy (`/flashback/sync/1`) reconciles a kind between two full nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncClass {
    /// Per provider: a digest of each provider's current `(offer_key, seq, id)`, then the
    /// versions that beat ours. For versioned kinds, where only the newest version counts.
    ByProvider,
    /// By id set: a digest of the kind's sorted ids in the sync summary, then the ids we lack,
    /// page by page.
    ByIds,
    /// Not reconciled: the kind travels by gossip only, and a node that was away when it was
    /// published never receives it.
    GossipOnly,
}

/// When the store deletes objects of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GcRule {
    /// Once `expires_at <= now`.
    AtExpiry,
    /// Versions of one `(provider, offer_key)`: a superseded version goes once it has expired;
    /// the newest (the head, possibly a tombstone) stays until **every** version of its key has
    /// expired, so that it keeps refusing older versions for as long as one could be valid.
    HeadOutlivesVersions,
}

const DAY: u64 = 24 * 3600;

impl Kind {
    /// How many kinds there are.
    pub const COUNT: usize = Kind::ALL.len();

    /// The largest encoded object of any kind.
    pub const MAX_OBJECT_BYTES: usize = {
        let mut max = 0;
        let mut i = 0;
        while i < Kind::COUNT {
            if Kind::ALL[i].max_bytes() > max {
                max = Kind::ALL[i].max_bytes();
            }
            i += 1;
        }
        max
    };

    /// The first byte of the wire form.
    pub const fn tag(self) -> u8 {
        self as u8
    }

    /// The highest tag of a kind this version knows.
    pub const MAX_TAG: u8 = Kind::ALL[Kind::COUNT - 1].tag();

    /// The kind for a wire tag (`None` for a tag this version does not know, reserved ones
    /// included).
    pub const fn from_tag(tag: u8) -> Option<Kind> {
        let mut i = 0;
        while i < Kind::COUNT {
            if Kind::ALL[i].tag() == tag {
                return Some(Kind::ALL[i]);
            }
            i += 1;
        }
        None
    }

    /// The kind's position in [`Kind::ALL`], for tables indexed by kind (not its tag − 1:
    /// tags may skip reserved numbers).
    pub const fn index(self) -> usize {
        let mut i = 0;
        while i < Kind::COUNT {
            if Kind::ALL[i] as u8 == self as u8 {
                return i;
            }
            i += 1;
        }
        // Every kind is in `ALL` (generated with the enum).
        0
    }

    /// Stable snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Offer => "offer",
            Kind::Demand => "demand",
            Kind::SlaProposal => "sla_proposal",
            Kind::SlaDecision => "sla_decision",
            Kind::Agreement => "agreement",
            Kind::QosAttestation => "qos_attestation",
            Kind::Certificate => "certificate",
            Kind::Revocation => "revocation",
            Kind::EquivocationEvidence => "equivocation_evidence",
            Kind::Quote => "quote",
            Kind::Termination => "termination",
            Kind::AccessGrant => "access_grant",
            Kind::PaymentVoucher => "payment_voucher",
            Kind::Dispute => "dispute",
            Kind::Ruling => "ruling",
        }
    }

    /// The signing domain, `flashback/v1/<kind>`.
    pub const fn domain(self) -> &'static str {
        match self {
            Kind::Offer => "flashback/v1/offer",
            Kind::Demand => "flashback/v1/demand",
            Kind::SlaProposal => "flashback/v1/sla_proposal",
            Kind::SlaDecision => "flashback/v1/sla_decision",
            Kind::Agreement => "flashback/v1/agreement",
            Kind::QosAttestation => "flashback/v1/qos_attestation",
            Kind::Certificate => "flashback/v1/certificate",
            Kind::Revocation => "flashback/v1/revocation",
            Kind::EquivocationEvidence => "flashback/v1/equivocation_evidence",
            Kind::Quote => "flashback/v1/quote",
            Kind::Termination => "flashback/v1/termination",
            Kind::AccessGrant => "flashback/v1/access_grant",
            Kind::PaymentVoucher => "flashback/v1/payment_voucher",
            Kind::Dispute => "flashback/v1/dispute",
            Kind::Ruling => "flashback/v1/ruling",
        }
    }

    /// Whether the kind is a pair of signed objects rather than one signed body: it has no
    /// signature (and no envelope) of its own, only its parts'.
    pub const fn is_composite(self) -> bool {
        match self {
            Kind::Agreement | Kind::EquivocationEvidence => true,
            Kind::Offer
            | Kind::Demand
            | Kind::SlaProposal
            | Kind::SlaDecision
            | Kind::QosAttestation
            | Kind::Certificate
            | Kind::Revocation
            | Kind::Quote
            | Kind::Termination
            | Kind::AccessGrant
            | Kind::PaymentVoucher
            | Kind::Dispute
            | Kind::Ruling => false,
        }
    }

    /// The largest valid encoding of an object of this kind, in bytes.
    pub const fn max_bytes(self) -> usize {
        match self {
            Kind::Offer | Kind::Certificate => 8 * 1024,
            Kind::Demand => 4 * 1024,
            Kind::SlaProposal => 2 * 1024,
            Kind::SlaDecision
            | Kind::QosAttestation
            | Kind::Revocation
            | Kind::Quote
            | Kind::Termination => 1024,
            Kind::PaymentVoucher | Kind::Ruling => 1024,
            // Sixteen evidence ids and the claim.
            Kind::Dispute => 2 * 1024,
            // The sealed credentials (at most `seal::MAX_SEALED_BYTES`) and the grant's fields.
            Kind::AccessGrant => 4 * 1024,
            // Both parts at their limits plus the envelope (tag and two length prefixes).
            Kind::Agreement => 2 * 1024 + 1024 + 16,
            Kind::EquivocationEvidence => 2 * 8 * 1024 + 16,
        }
    }

    /// The longest allowed `expires_at - created_at`, seconds.
    pub const fn max_lifetime_secs(self) -> u64 {
        match self {
            Kind::Offer | Kind::QosAttestation => 400 * DAY,
            Kind::Demand => 90 * DAY,
            Kind::SlaProposal => 30 * DAY,
            // A quote answers a demand, which closes within 90 days; a week is long enough
            // for a consumer to decide, and short enough that stale prices go.
            Kind::Quote => 7 * DAY,
            Kind::Certificate => 5 * 366 * DAY,
            Kind::SlaDecision | Kind::Agreement | Kind::Revocation => 10 * 366 * DAY,
            // Both live as long as the agreement they are about.
            Kind::Termination | Kind::AccessGrant => 10 * 366 * DAY,
            // Kept past the agreement's end for redemption, disputes and reputation.
            Kind::PaymentVoucher | Kind::Dispute | Kind::Ruling => 10 * 366 * DAY,
            Kind::EquivocationEvidence => 10 * 366 * DAY,
        }
    }

    /// The gossip topic objects of this kind travel on; on any other topic they are rejected.
    /// A new kind gets a new topic: nodes reject tags they do not know, so sharing a topic
    /// with older kinds would penalise honest relayers running an older version.
    pub const fn topic(self) -> Topic {
        match self {
            // Evidence travels with what it is about.
            Kind::Offer | Kind::EquivocationEvidence => Topic::Offers,
            Kind::Demand => Topic::Demands,
            Kind::Quote => Topic::Quotes,
            Kind::SlaProposal | Kind::SlaDecision => Topic::Sla,
            Kind::Agreement => Topic::Agreements,
            Kind::QosAttestation => Topic::Attestations,
            Kind::Certificate | Kind::Revocation => Topic::Certs,
            Kind::Termination => Topic::Terminations,
            Kind::AccessGrant => Topic::Access,
            // Introduced together, so no older node knows one of them and not the others.
            Kind::PaymentVoucher | Kind::Dispute | Kind::Ruling => Topic::Payments,
        }
    }

    /// How anti-entropy reconciles the kind.
    pub const fn sync(self) -> SyncClass {
        match self {
            Kind::Offer => SyncClass::ByProvider,
            // Negotiation messages are synced too: a provider's node that was away when a
            // proposal was gossiped must still see it to answer, and the consumer the decision.
            Kind::Demand | Kind::SlaProposal | Kind::SlaDecision => SyncClass::ByIds,
            // Like a decision: the consumer's node that missed the gossip still gets it.
            Kind::Quote => SyncClass::ByIds,
            Kind::Agreement
            | Kind::QosAttestation
            | Kind::Certificate
            | Kind::Revocation
            | Kind::EquivocationEvidence => SyncClass::ByIds,
            // A consumer that was away when its grant was gossiped still gets it, and a
            // provider's node the terminations of its agreements.
            Kind::Termination | Kind::AccessGrant => SyncClass::ByIds,
            // Amounts due and reputation are computed from these at every node: every node
            // must end up with the same ones.
            Kind::PaymentVoucher | Kind::Dispute | Kind::Ruling => SyncClass::ByIds,
        }
    }

    /// Whether the listing digest (the store's one-hash summary of what it lists, shown by
    /// `Status` and compared by testnets for convergence) covers the kind.
    ///
    /// It covers the lasting market state that queries and reputation read. It leaves out the
    /// short-lived negotiation messages (demands, proposals, decisions): the store keeps them
    /// on disk only, so a digest over them would cost a disk scan each time one arrives or
    /// expires. They are still reconciled, by their own per-kind digests ([`Kind::sync`]).
    pub const fn in_listing_digest(self) -> bool {
        match self {
            Kind::Offer
            | Kind::Agreement
            | Kind::QosAttestation
            | Kind::Certificate
            | Kind::Revocation
            | Kind::EquivocationEvidence
            | Kind::Termination
            | Kind::PaymentVoucher
            | Kind::Dispute
            | Kind::Ruling => true,
            // Grants are read by one consumer each, by agreement: kept on disk, like the
            // negotiation that produced them.
            Kind::Demand
            | Kind::SlaProposal
            | Kind::SlaDecision
            | Kind::Quote
            | Kind::AccessGrant => false,
        }
    }

    /// The name of the store's tree holding objects of this kind (an on-disk name: never
    /// change it for an existing kind).
    pub const fn store_tree(self) -> &'static str {
        match self {
            Kind::Offer => "offers",
            Kind::Demand => "demands",
            Kind::SlaProposal => "proposals",
            Kind::SlaDecision => "decisions",
            Kind::Agreement => "agreements",
            Kind::QosAttestation => "attestations",
            Kind::Certificate => "certificates",
            Kind::Revocation => "revocations",
            Kind::EquivocationEvidence => "evidence",
            Kind::Quote => "quotes",
            Kind::Termination => "terminations",
            Kind::AccessGrant => "access_grants",
            Kind::PaymentVoucher => "payment_vouchers",
            Kind::Dispute => "disputes",
            Kind::Ruling => "rulings",
        }
    }

    /// When the store deletes objects of this kind.
    pub const fn gc(self) -> GcRule {
        match self {
            Kind::Offer => GcRule::HeadOutlivesVersions,
            Kind::Demand
            | Kind::SlaProposal
            | Kind::SlaDecision
            | Kind::Agreement
            | Kind::QosAttestation
            | Kind::Certificate
            | Kind::Revocation
            | Kind::EquivocationEvidence
            | Kind::Quote
            | Kind::Termination
            | Kind::AccessGrant
            | Kind::PaymentVoucher
            | Kind::Dispute
            | Kind::Ruling => GcRule::AtExpiry,
        }
    }
}

// The invariants between the answers above, checked when the crate builds.
const _: () = {
    let mut i = 0;
    while i < Kind::COUNT {
        let kind = Kind::ALL[i];
        assert!(
            kind.tag() >= 1 && (i == 0 || kind.tag() > Kind::ALL[i - 1].tag()),
            "kind tags must increase in declaration order (append, never insert)"
        );
        // A kind in the listing digest must be reconciled, or digests could never converge.
        assert!(!kind.in_listing_digest() || !matches!(kind.sync(), SyncClass::GossipOnly));
        // Per-provider sync and head-outlives-versions GC both rest on the versions of one
        // `(provider, offer_key)`, which the store's offer index keeps: one goes with the other.
        assert!(
            matches!(kind.sync(), SyncClass::ByProvider)
                == matches!(kind.gc(), GcRule::HeadOutlivesVersions)
        );
        // A versioned kind is listed by its heads, which the listing digest covers.
        assert!(!matches!(kind.sync(), SyncClass::ByProvider) || kind.in_listing_digest());
        assert!(kind.max_bytes() >= 128 && kind.max_lifetime_secs() > 0);
        i += 1;
    }
};

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// Inside protocol messages a kind is its tag − 1 (what bincode wrote for the derived enum
// while tags had no gaps, so the bytes of existing kinds never changed); in human formats its
// stable name.
impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(self.name())
        } else {
            serializer.serialize_u32(u32::from(self.tag()) - 1)
        }
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        if deserializer.is_human_readable() {
            let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
            Kind::ALL
                .into_iter()
                .find(|k| k.name() == name)
                .ok_or_else(|| D::Error::custom(format!("unknown kind {name:?}")))
        } else {
            let index = u32::deserialize(deserializer)?;
            u8::try_from(index)
                .ok()
                .and_then(|i| i.checked_add(1))
                .and_then(Kind::from_tag)
                .ok_or_else(|| D::Error::custom(format!("unknown kind index {index}")))
        }
    }
}

/// One value per kind, indexed by [`Kind`]: a per-kind table that gets a slot for a new kind
/// without anyone listing it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PerKind<T>([T; Kind::COUNT]);

impl<T> PerKind<T> {
    /// A table with `f(kind)` for every kind.
    pub fn from_fn(mut f: impl FnMut(Kind) -> T) -> Self {
        Self(Kind::ALL.map(&mut f))
    }

    /// `(kind, value)` for every kind, in [`Kind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Kind, &T)> + '_ {
        Kind::ALL.into_iter().zip(self.0.iter())
    }
}

impl<T: Default> Default for PerKind<T> {
    fn default() -> Self {
        Self::from_fn(|_| T::default())
    }
}

impl<T> Index<Kind> for PerKind<T> {
    type Output = T;

    fn index(&self, kind: Kind) -> &T {
        &self.0[kind.index()]
    }
}

impl<T> IndexMut<Kind> for PerKind<T> {
    fn index_mut(&mut self, kind: Kind) -> &mut T {
        &mut self.0[kind.index()]
    }
}

impl<T: fmt::Debug> fmt::Debug for PerKind<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (k.name(), v)))
            .finish()
    }
}

/// Decodes with the size limit of `kind` (as a const, so bincode's allocation limit is the
/// kind's limit too).
pub(crate) fn decode_limited<'a, T: Deserialize<'a>>(
    kind: Kind,
    bytes: &'a [u8],
) -> Result<T, DecodeError> {
    fn go<'a, T: Deserialize<'a>, const LIMIT: usize>(bytes: &'a [u8]) -> Result<T, DecodeError> {
        if bytes.len() > LIMIT {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                limit: LIMIT,
            });
        }
        let cfg = encoding::config().with_limit::<LIMIT>();
        let (value, used) = bincode::serde::borrow_decode_from_slice::<T, _>(bytes, cfg)
            .map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if used != bytes.len() {
            return Err(DecodeError::Trailing(bytes.len() - used));
        }
        Ok(value)
    }
    match kind {
        Kind::Offer => go::<T, { Kind::Offer.max_bytes() }>(bytes),
        Kind::Demand => go::<T, { Kind::Demand.max_bytes() }>(bytes),
        Kind::SlaProposal => go::<T, { Kind::SlaProposal.max_bytes() }>(bytes),
        Kind::SlaDecision => go::<T, { Kind::SlaDecision.max_bytes() }>(bytes),
        Kind::Agreement => go::<T, { Kind::Agreement.max_bytes() }>(bytes),
        Kind::QosAttestation => go::<T, { Kind::QosAttestation.max_bytes() }>(bytes),
        Kind::Certificate => go::<T, { Kind::Certificate.max_bytes() }>(bytes),
        Kind::Revocation => go::<T, { Kind::Revocation.max_bytes() }>(bytes),
        Kind::EquivocationEvidence => go::<T, { Kind::EquivocationEvidence.max_bytes() }>(bytes),
        Kind::Quote => go::<T, { Kind::Quote.max_bytes() }>(bytes),
        Kind::Termination => go::<T, { Kind::Termination.max_bytes() }>(bytes),
        Kind::AccessGrant => go::<T, { Kind::AccessGrant.max_bytes() }>(bytes),
        Kind::PaymentVoucher => go::<T, { Kind::PaymentVoucher.max_bytes() }>(bytes),
        Kind::Dispute => go::<T, { Kind::Dispute.max_bytes() }>(bytes),
        Kind::Ruling => go::<T, { Kind::Ruling.max_bytes() }>(bytes),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn tags_names_and_domains_are_unique_and_consistent() {
        let mut tags = BTreeSet::new();
        let mut names = BTreeSet::new();
        let mut trees = BTreeSet::new();
        for kind in Kind::ALL {
            assert!(tags.insert(kind.tag()), "{kind}: tag reused");
            assert!(names.insert(kind.name()), "{kind}: name reused");
            assert!(trees.insert(kind.store_tree()), "{kind}: store tree shared");
            assert_eq!(Kind::from_tag(kind.tag()), Some(kind));
            assert_eq!(Kind::ALL[kind.index()], kind);
            let back: Kind =
                encoding::decode::<_, 8>(&encoding::encode(&kind)).unwrap_or(Kind::Offer);
            assert_eq!(back, kind);
            assert_eq!(kind.domain(), format!("flashback/v1/{}", kind.name()));
            assert_eq!(kind.to_string(), kind.name());
        }
        assert_eq!(Kind::from_tag(0), None);
        assert_eq!(Kind::from_tag(Kind::MAX_TAG + 1), None);
        assert_eq!(
            Kind::MAX_OBJECT_BYTES,
            Kind::ALL.iter().map(|k| k.max_bytes()).max().unwrap_or(0)
        );
    }

    #[test]
    fn kinds_encode_in_messages_as_their_tag_minus_one() {
        // Sync messages carry a `Kind` as bincode's variant index; appending kinds keeps the
        // bytes of existing ones, inserting one would not.
        for kind in Kind::ALL {
            assert_eq!(encoding::encode(&kind), [kind.tag() - 1], "{kind}");
        }
    }

    #[test]
    fn json_names_are_the_stable_names() {
        for kind in Kind::ALL {
            let json = serde_json::to_string(&kind).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", kind.name()));
            assert_eq!(serde_json::from_str::<Kind>(&json).ok(), Some(kind));
        }
    }

    #[test]
    fn every_topic_carries_some_kind() {
        for topic in Topic::ALL {
            assert!(
                Kind::ALL.iter().any(|k| k.topic() == topic),
                "{topic} carries no kind"
            );
        }
    }

    #[test]
    fn per_kind_tables_index_by_kind() {
        let mut counts: PerKind<u64> = PerKind::default();
        counts[Kind::Revocation] += 2;
        counts[Kind::Offer] += 1;
        assert_eq!(counts[Kind::Revocation], 2);
        assert_eq!(counts.iter().map(|(_, n)| n).sum::<u64>(), 3);
        let names = PerKind::from_fn(Kind::name);
        assert!(names.iter().all(|(k, n)| k.name() == *n));
        assert!(format!("{counts:?}").contains("\"revocation\": 2"));
    }
}
