//! The bodies of Flashback's protocol objects.
//!
//! Units everywhere: sizes in bytes, durations in seconds, timestamps in Unix seconds (UTC),
//! availability in basis points (10 000 = 100 %), prices as integer minor units of an asset
//! per pricing unit. No `HashMap` appears in a signed body: sequences are sorted where their
//! order carries no meaning, so the encoding is deterministic.

use serde::{Deserialize, Serialize};

use crate::encoding::{BoundedString, BoundedVec};
use crate::keys::{Hash32, PublicKey};

/// Unix time in seconds.
pub type Timestamp = u64;

/// The id of an object: blake3 of its complete signed encoding.
pub type ObjectId = Hash32;

/// Seconds in a pricing month (30 days).
pub const MONTH_SECS: u64 = 30 * 24 * 3600;
/// Seconds in an hour.
pub const HOUR_SECS: u64 = 3600;
/// Bytes in a GiB.
pub const GIB: u64 = 1 << 30;

/// Short identifiers (offer keys, region codes, asset codes, claim names).
pub type ShortText = BoundedString<64>;
/// Longer free text (endpoints, claim values, reasons).
pub type Text = BoundedString<256>;
/// Titles (of compliance documents).
pub type Title = BoundedString<128>;

/// What is for sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// Storage capacity, measured in bytes, priced per GiB-month.
    Storage,
    /// Compute capacity, measured in units, priced per unit-hour.
    Compute,
}

/// The unit a price is quoted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceUnit {
    /// Per GiB (2^30 bytes) stored for one 30-day month.
    GibMonth,
    /// Per compute unit for one hour.
    UnitHour,
}

impl PriceUnit {
    /// The unit that goes with a resource kind.
    pub fn for_kind(kind: ResourceKind) -> Self {
        match kind {
            ResourceKind::Storage => PriceUnit::GibMonth,
            ResourceKind::Compute => PriceUnit::UnitHour,
        }
    }
}

/// A price: `amount` minor units of `asset` per `unit`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Price {
    /// Integer minor units (for example cents, or 10^-7 XLM).
    pub amount: u64,
    /// Asset code: 1 to 12 characters of `A-Z`, `0-9`.
    pub asset: BoundedString<12>,
    /// Pricing unit.
    pub unit: PriceUnit,
}

impl Price {
    /// The total price of `volume` (bytes for storage, units for compute) over `duration_secs`,
    /// rounded up to the next minor unit. `None` on overflow.
    pub fn total(&self, volume: u64, duration_secs: u64) -> Option<u64> {
        let (per, scale) = match self.unit {
            PriceUnit::GibMonth => (u128::from(GIB), u128::from(MONTH_SECS)),
            PriceUnit::UnitHour => (1u128, u128::from(HOUR_SECS)),
        };
        let num = u128::from(self.amount)
            .checked_mul(u128::from(volume))?
            .checked_mul(u128::from(duration_secs))?;
        let den = per * scale;
        u64::try_from(num.div_ceil(den)).ok()
    }
}

/// Data-plane protocols an offer can serve. The network only carries the declaration.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataProtocol {
    /// S3-compatible object API.
    S3,
    /// Plain HTTPS PUT/GET.
    Https,
    /// IPFS.
    Ipfs,
    /// SFTP.
    Sftp,
    /// Flashback's reference blob endpoint (HTTP, blobs addressed by blake3), used by testnets.
    FlashbackBlob,
    /// Anything else, named.
    Other(ShortText),
}

impl DataProtocol {
    /// The name users write and tools read (`s3`, `https`, `flashback_blob`, or the other
    /// protocol's own name).
    pub fn name(&self) -> &str {
        match self {
            DataProtocol::S3 => "s3",
            DataProtocol::Https => "https",
            DataProtocol::Ipfs => "ipfs",
            DataProtocol::Sftp => "sftp",
            DataProtocol::FlashbackBlob => "flashback_blob",
            DataProtocol::Other(name) => name.as_str(),
        }
    }
}

/// Quality-of-service targets (in offers, demands and proposals).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QosTargets {
    /// Availability in basis points (9 990 = 99.90 %). At most 10 000.
    pub availability_bp: u16,
    /// 95th-percentile request latency in milliseconds (0 = not promised).
    pub p95_latency_ms: u32,
    /// Durability as a count of nines (11 = 99.999999999 %). At most 20.
    pub durability_nines: u8,
    /// Sustained throughput in bytes per second (0 = not promised).
    pub throughput_bytes_per_sec: u64,
}

/// Compute capacity description (compute offers only).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ComputeSpec {
    /// Virtual CPUs per unit.
    pub vcpus: u32,
    /// Memory per unit, bytes.
    pub memory_bytes: u64,
    /// Accelerator model, empty when none.
    pub accelerator: ShortText,
}

/// A legal or compliance document an offer declares: anyone can fetch it from `url` and check
/// that its blake3 is `digest`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ComplianceDoc {
    /// What the document is, e.g. `GDPR data-processing agreement` (1 to 128 bytes).
    pub title: Title,
    /// Where it is published (1 to 256 bytes, no whitespace).
    pub url: Text,
    /// blake3 of the document's bytes.
    pub digest: Hash32,
}

/// A provider's offer. `(provider, offer_key)` names the offer; a higher `seq` supersedes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The provider's key; must be the signer.
    pub provider: PublicKey,
    /// The provider's name for this offer (1 to 64 bytes, `[A-Za-z0-9._-]`).
    pub offer_key: ShortText,
    /// Sequence number; the highest valid one per `(provider, offer_key)` wins.
    pub seq: u64,
    /// When true the offer is withdrawn (a tombstone); other fields are kept as published.
    pub withdrawn: bool,
    /// What is sold.
    pub kind: ResourceKind,
    /// Capacity offered: bytes for storage, units for compute.
    pub capacity: u64,
    /// Price per unit; `price.unit` must match `kind`.
    pub price: Price,
    /// Shortest agreement accepted, seconds.
    pub min_duration_secs: u64,
    /// Longest agreement accepted, seconds (at least `min_duration_secs`).
    pub max_duration_secs: u64,
    /// Region codes, sorted and unique (for example `eu-west`, `us-east`).
    pub regions: BoundedVec<ShortText, 16>,
    /// Data protocols served, sorted and unique, at least one.
    pub protocols: BoundedVec<DataProtocol, 8>,
    /// Where the data plane is reached (URL or multiaddr).
    pub endpoint: Text,
    /// QoS the provider commits to.
    pub qos: QosTargets,
    /// Copies kept by the provider (1 to 16).
    pub redundancy: u8,
    /// Ids of certificates about this provider, sorted and unique.
    pub certificates: BoundedVec<ObjectId, 16>,
    /// Jurisdictions the provider operates under (lowercase codes such as `eu`, `de`,
    /// `us-ca`), sorted and unique. Declared: a certificate with a `jurisdiction` claim from
    /// a trusted issuer is what verifies one.
    pub jurisdictions: BoundedVec<ShortText, 16>,
    /// Legal and compliance documents (terms, data-processing agreements…), each named by the
    /// blake3 of its bytes; sorted and unique.
    pub compliance_docs: BoundedVec<ComplianceDoc, 8>,
    /// Compute details; present exactly when `kind` is compute.
    pub compute: Option<ComputeSpec>,
    /// When signed.
    pub created_at: Timestamp,
    /// When it stops being valid.
    pub expires_at: Timestamp,
}

impl Offer {
    /// The highest `seq` a live offer may carry: the one above it stays free for the offer's
    /// withdrawal, so every live offer can be withdrawn (a node refuses a live offer above it).
    pub const MAX_LIVE_SEQ: u64 = u64::MAX - 1;

    /// The `seq` of the next version of an offer signed at `now`: above `taken`, the highest
    /// seq its provider is known to have signed for it (the node's current version, the
    /// signer's own record), and no lower than `now`, so that seqs follow the clock and a
    /// provider publishing from two machines still moves forward. A provider never signs two
    /// bodies with one seq (that is equivocation), so every new body takes a new seq, even
    /// within one second. `None` when no seq is left: above [`Offer::MAX_LIVE_SEQ`] for a live
    /// offer, above `u64::MAX` for a withdrawal.
    pub fn next_seq(taken: Option<u64>, now: Timestamp, withdrawn: bool) -> Option<u64> {
        let floor = match taken {
            Some(seq) => seq.checked_add(1)?,
            None => 0,
        };
        let seq = floor.max(now);
        let highest = if withdrawn {
            u64::MAX
        } else {
            Self::MAX_LIVE_SEQ
        };
        (seq <= highest).then_some(seq)
    }

    /// The tombstone that withdraws this offer, for its provider to sign at `now`: the same
    /// body marked withdrawn, with the seq [`Offer::next_seq`] gives above this version and
    /// `taken` (so it also supersedes a version signed since this one was read), created at
    /// `now` and valid for at least a second more. `None` when this version already holds the
    /// last seq (only a tombstone can).
    pub fn withdrawal(&self, now: Timestamp, taken: Option<u64>) -> Option<Offer> {
        let taken = taken.map_or(self.seq, |t| t.max(self.seq));
        Some(Offer {
            withdrawn: true,
            seq: Self::next_seq(Some(taken), now, true)?,
            created_at: now,
            expires_at: self.expires_at.max(now + 1),
            ..self.clone()
        })
    }
}

/// A consumer's open request for proposals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Demand {
    /// The consumer's key; must be the signer.
    pub consumer: PublicKey,
    /// What is wanted.
    pub kind: ResourceKind,
    /// Bytes (storage) or units (compute).
    pub volume: u64,
    /// Seconds.
    pub duration_secs: u64,
    /// Copies wanted (1 to 16).
    pub redundancy: u8,
    /// QoS wanted.
    pub qos: QosTargets,
    /// Acceptable regions, sorted and unique (empty = any).
    pub regions: BoundedVec<ShortText, 16>,
    /// Acceptable protocols, sorted and unique (empty = any).
    pub protocols: BoundedVec<DataProtocol, 8>,
    /// Highest acceptable unit price.
    pub max_price: Price,
    /// Random value that makes otherwise equal demands distinct.
    pub nonce: u64,
    /// When signed.
    pub created_at: Timestamp,
    /// When the demand closes.
    pub expires_at: Timestamp,
}

/// A provider's signed answer to a [`Demand`]: the price at which it would take the demand on
/// one of its offers, valid until `expires_at`. The consumer proposes an SLA on that offer at
/// this price; a quote never undercuts its offer (`price` is at least the offer's), so the
/// provider's node accepts the proposal by the offer's own terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// The provider's key; must be the signer and the offer's provider.
    pub provider: PublicKey,
    /// The consumer whose demand is answered.
    pub consumer: PublicKey,
    /// Id of the demand answered.
    pub demand_id: ObjectId,
    /// Id of the offer the quote draws on.
    pub offer_id: ObjectId,
    /// `seq` of that offer.
    pub offer_seq: u64,
    /// Unit price quoted (the offer's asset and unit, at least its amount).
    pub price: Price,
    /// When signed.
    pub created_at: Timestamp,
    /// Until when the quote holds (at most the demand's close).
    pub expires_at: Timestamp,
}

/// A consumer's signed proposal to a provider, referencing one offer version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaProposal {
    /// The consumer's key; must be the signer.
    pub consumer: PublicKey,
    /// The provider addressed.
    pub provider: PublicKey,
    /// Id of the offer object the proposal answers.
    pub offer_id: ObjectId,
    /// `seq` of that offer.
    pub offer_seq: u64,
    /// Bytes (storage) or units (compute).
    pub volume: u64,
    /// Seconds of service from `start`.
    pub duration_secs: u64,
    /// Copies wanted (1 to 16).
    pub redundancy: u8,
    /// QoS the consumer expects (normally the offer's).
    pub qos: QosTargets,
    /// Unit price proposed.
    pub price: Price,
    /// `price.total(volume, duration_secs)`, exactly.
    pub total: u64,
    /// Start of service.
    pub start: Timestamp,
    /// Random value that makes otherwise equal proposals distinct.
    pub nonce: u64,
    /// When signed.
    pub created_at: Timestamp,
    /// Deadline for the provider's decision.
    pub expires_at: Timestamp,
}

impl SlaProposal {
    /// When the service would end.
    pub fn end(&self) -> Timestamp {
        self.start.saturating_add(self.duration_secs)
    }

    /// The first term of `offer` this proposal breaks, given `promised`: the volume of the
    /// offer already promised in agreements still running. What a provider's node checks once
    /// it knows the offer is its live version, and what a client checks before it signs (with
    /// nothing promised, which it cannot know). `None` when every term holds.
    pub fn breaks_terms_of(&self, offer: &Offer, promised: u64) -> Option<RejectReason> {
        if self.price.asset != offer.price.asset
            || self.price.unit != offer.price.unit
            || self.redundancy > offer.redundancy
        {
            return Some(RejectReason::Terms);
        }
        if self.price.amount < offer.price.amount {
            return Some(RejectReason::Price);
        }
        if self.duration_secs < offer.min_duration_secs
            || self.duration_secs > offer.max_duration_secs
        {
            return Some(RejectReason::Duration);
        }
        if promised.saturating_add(self.volume) > offer.capacity {
            return Some(RejectReason::Capacity);
        }
        None
    }
}

/// Why a provider rejected a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Not enough capacity left after agreements already accepted.
    Capacity,
    /// Price below the offer's.
    Price,
    /// Duration outside the offer's bounds.
    Duration,
    /// The offer is unknown, superseded, withdrawn or expired.
    OfferUnavailable,
    /// The provider's policy refuses this consumer.
    ConsumerDenied,
    /// The proposal's terms do not match the offer (kind, redundancy, QoS, asset).
    Terms,
    /// The proposal expired before it could be decided.
    Expired,
    /// Any other reason.
    Other,
    /// The provider could not provision access to its data plane for this agreement (its
    /// provisioner failed or timed out). Appended in version 1 with access grants: a node
    /// older than them refuses a decision carrying it.
    Access,
    /// The consumer's payment standing is below the provider's floor (it owes overdue
    /// amounts or lost disputes; `flashback consumer show` explains it). Appended in version 1
    /// with payments.
    ConsumerStanding,
}

impl RejectReason {
    /// The stable lowercase code shown by the CLI (`capacity`, `price`, …).
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::Capacity => "capacity",
            RejectReason::Price => "price",
            RejectReason::Duration => "duration",
            RejectReason::OfferUnavailable => "offer_unavailable",
            RejectReason::ConsumerDenied => "consumer_denied",
            RejectReason::Terms => "terms",
            RejectReason::Expired => "expired",
            RejectReason::Other => "other",
            RejectReason::Access => "access",
            RejectReason::ConsumerStanding => "consumer_standing",
        }
    }
}

/// The provider's answer to a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Accepted: proposal + this decision form an [`crate::Agreement`].
    Accept,
    /// Rejected, with a reason code.
    Reject(RejectReason),
}

/// A provider's signed decision about one proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaDecision {
    /// The provider's key; must be the signer.
    pub provider: PublicKey,
    /// The consumer who proposed.
    pub consumer: PublicKey,
    /// Id of the proposal decided.
    pub proposal_id: ObjectId,
    /// The decision.
    pub decision: Decision,
    /// When signed (at most the proposal's `expires_at` for an acceptance).
    pub created_at: Timestamp,
    /// Until when the decision is kept (an acceptance: the end of service).
    pub expires_at: Timestamp,
}

/// A consumer's signed measurement of a provider over a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QosAttestation {
    /// Who measured; must be the signer.
    pub attester: PublicKey,
    /// The provider measured.
    pub subject: PublicKey,
    /// The agreement the measurement was made under (id of the accepted proposal), if any.
    pub agreement: Option<ObjectId>,
    /// Window start.
    pub window_start: Timestamp,
    /// Window end (after start, not after `created_at`).
    pub window_end: Timestamp,
    /// Probes made.
    pub probes: u32,
    /// Probes that succeeded (data returned and its blake3 matched).
    pub successes: u32,
    /// Median latency of successful probes, ms.
    pub latency_p50_ms: u32,
    /// 95th-percentile latency of successful probes, ms (at least p50).
    pub latency_p95_ms: u32,
    /// Measured throughput, bytes per second.
    pub throughput_bytes_per_sec: u64,
    /// Bytes read back and checked.
    pub bytes_checked: u64,
    /// When signed.
    pub created_at: Timestamp,
    /// When it stops counting.
    pub expires_at: Timestamp,
}

/// One claim in a certificate (`name = value`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Claim {
    /// Claim name, e.g. `iso27001`, `region`, `auditor` (1 to 64 of `[A-Za-z0-9._-]`): the
    /// scheme a trust store lets an issuer certify.
    pub name: ShortText,
    /// Claim value, e.g. `certified`, `eu-west` (1 to 256 bytes).
    pub value: Text,
}

/// A certifier's signed statement about another key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// The certifier; must be the signer.
    pub issuer: PublicKey,
    /// The key certified.
    pub subject: PublicKey,
    /// Claims, sorted by name then value, unique, at least one.
    pub claims: BoundedVec<Claim, 16>,
    /// Issuer's serial number.
    pub serial: u64,
    /// blake3 of the evidence behind the claims (an audit report, say), kept by the issuer
    /// and shown to whoever needs to check it; `None` when the issuer names none.
    pub evidence: Option<Hash32>,
    /// When signed (issued).
    pub created_at: Timestamp,
    /// When it stops being valid.
    pub expires_at: Timestamp,
}

/// A certifier's signed withdrawal of one of its certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The certifier; must be the signer and the certificate's issuer.
    pub issuer: PublicKey,
    /// Id of the certificate revoked.
    pub certificate: ObjectId,
    /// Why.
    pub reason: Text,
    /// When signed.
    pub created_at: Timestamp,
    /// How long nodes keep the revocation (at least the certificate's expiry).
    pub expires_at: Timestamp,
}

/// A party's signed end of an agreement before its term: the agreement stops counting against
/// the provider's capacity, and the provider revokes the consumer's access. It counts only when
/// its signer is the agreement's consumer or provider ([`Termination::ends`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Termination {
    /// Who ends it, the consumer or the provider; must be the signer.
    pub party: PublicKey,
    /// The agreement ended (the id of its accepted proposal).
    pub agreement: ObjectId,
    /// Why, in words (1 to 256 bytes).
    pub reason: Text,
    /// When signed; the agreement ends then.
    pub created_at: Timestamp,
    /// How long nodes keep it (normally the agreement's end).
    pub expires_at: Timestamp,
}

impl Termination {
    /// Whether this termination ends `agreement`: it names the agreement and its signer is one
    /// of the agreement's two parties. Anyone can sign a termination; only these count.
    pub fn ends(&self, agreement: &crate::Agreement) -> bool {
        self.agreement == agreement.proposal_id()
            && (&self.party == agreement.consumer() || &self.party == agreement.provider())
    }
}

/// Bytes sealed to one recipient (`crate::seal`): HPKE's encapsulated key and the AEAD
/// ciphertext of the plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The sender's ephemeral X25519 public key (HPKE `enc`).
    pub enc: [u8; 32],
    /// The ciphertext, its 16-byte tag included.
    pub ciphertext: BoundedVec<u8, { crate::seal::MAX_SEALED_BYTES }>,
}

/// A provider's signed delivery of access to its data plane for one agreement: credentials
/// sealed to the consumer's key, which only the consumer can open. It travels like any object
/// (gossip, sync); what it carries is readable by the consumer alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessGrant {
    /// The provider; must be the signer.
    pub provider: PublicKey,
    /// The consumer the credentials are sealed to.
    pub consumer: PublicKey,
    /// The agreement (the id of its accepted proposal).
    pub agreement: ObjectId,
    /// The data protocol the credentials open.
    pub protocol: DataProtocol,
    /// The credentials, sealed ([`crate::seal::AccessCredentials`]).
    pub sealed: Sealed,
    /// When signed.
    pub created_at: Timestamp,
    /// Until when the grant is kept (the agreement's end).
    pub expires_at: Timestamp,
}

/// A consumer's signed, cumulative promise to pay for one agreement, like the latest state of
/// a one-way payment channel: it says "in total, so far, I owe you `cumulative`". A provider
/// keeps only the best one per agreement (the highest `cumulative`), so a newer voucher never
/// needs the older ones and a lower one is worthless. What counts is checked against the
/// agreement by [`crate::payments::check_voucher`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentVoucher {
    /// The agreement's consumer; must be the signer.
    pub consumer: PublicKey,
    /// The agreement's provider (named so that a voucher is useless to anyone else).
    pub provider: PublicKey,
    /// The agreement (the id of its accepted proposal).
    pub agreement: ObjectId,
    /// The asset paid: the agreement's price asset (no conversion inside the protocol).
    pub asset: BoundedString<12>,
    /// Everything paid for the agreement so far, minor units; never above the agreement's
    /// total.
    pub cumulative: u64,
    /// Increases with each voucher the consumer signs for the agreement.
    pub sequence: u64,
    /// When signed: when the payment was made, for consumer reputation (on time or late).
    pub created_at: Timestamp,
    /// Until when nodes keep it (normally the agreement's end plus the redemption window).
    pub expires_at: Timestamp,
}

/// A party of a dispute or a ruling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// The agreement's consumer.
    Consumer,
    /// The agreement's provider.
    Provider,
}

impl Party {
    /// The stable lowercase name (`consumer`, `provider`).
    pub fn name(self) -> &'static str {
        match self {
            Party::Consumer => "consumer",
            Party::Provider => "provider",
        }
    }
}

/// A party's signed complaint about an agreement, for an arbiter to rule on. It counts only
/// when its signer is one of the agreement's parties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    /// Who complains, the consumer or the provider; must be the signer.
    pub party: PublicKey,
    /// The agreement disputed (the id of its accepted proposal).
    pub agreement: ObjectId,
    /// What is claimed, in words (1 to 256 bytes).
    pub claim: Text,
    /// Ids of the objects that support the claim (attestations, vouchers…), sorted and unique.
    pub evidence: BoundedVec<ObjectId, 16>,
    /// When signed.
    pub created_at: Timestamp,
    /// How long nodes keep it.
    pub expires_at: Timestamp,
}

/// An arbiter's signed ruling on a dispute: who is right, and the amount due for the whole
/// agreement from now on. It counts only at nodes whose trust store gives its signer the
/// `arbiter` role; elsewhere it is recorded and shown, and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruling {
    /// The arbiter; must be the signer.
    pub arbiter: PublicKey,
    /// The dispute ruled on.
    pub dispute: ObjectId,
    /// The agreement the dispute is about (repeated so that the ruling reads on its own).
    pub agreement: ObjectId,
    /// Who is right.
    pub in_favour_of: Party,
    /// The amount due for the agreement as a whole, in the agreement's asset, minor units
    /// (replaces the computed amount due, credits included; capped at the agreement's total).
    pub amount_due: u64,
    /// Why, in words (1 to 256 bytes).
    pub reason: Text,
    /// When signed.
    pub created_at: Timestamp,
    /// How long nodes keep it.
    pub expires_at: Timestamp,
}
