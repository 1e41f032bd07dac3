//! Composite objects ([`Agreement`], [`EquivocationEvidence`]) and [`Object`], the sum of every
//! kind with the one decode function for bytes from the network.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::encoding;
use crate::keys::{Hash32, KeyCache, PublicKey};
use crate::kind::{Kind, decode_limited};
use crate::objects::{
    Certificate, Decision, Demand, ObjectId, Offer, QosAttestation, Revocation, SlaDecision,
    SlaProposal, Timestamp,
};
use crate::signed::{Signed, check_lifetime};
use crate::validate::{ObjectError, Rule, TimeRules};

#[derive(Serialize, Deserialize)]
struct PairWire<'a> {
    kind: u8,
    #[serde(borrow, with = "serde_bytes")]
    first: &'a [u8],
    #[serde(borrow, with = "serde_bytes")]
    second: &'a [u8],
}

fn decode_pair(kind: Kind, bytes: &[u8]) -> Result<PairWire<'_>, ObjectError> {
    let wire: PairWire<'_> = decode_limited(kind, bytes)?;
    if wire.kind != kind.tag() {
        return Err(ObjectError::new(
            Rule::WrongKind,
            format!(
                "expected {kind} (tag {}), got tag {}",
                kind.tag(),
                wire.kind
            ),
        ));
    }
    Ok(wire)
}

fn encode_pair(kind: Kind, first: &[u8], second: &[u8]) -> Arc<[u8]> {
    encoding::encode(&PairWire {
        kind: kind.tag(),
        first,
        second,
    })
    .into()
}

fn mismatch(detail: impl Into<String>) -> ObjectError {
    ObjectError::new(Rule::PartsMismatch, detail)
}

/// A proposal and the provider's acceptance of it: verifiable by anyone, signed by no one as a
/// whole. Its id is blake3 of its encoding; [`Agreement::proposal_id`] is how attestations and
/// queries refer to it.
#[derive(Clone)]
pub struct Agreement {
    proposal: Signed<SlaProposal>,
    acceptance: Signed<SlaDecision>,
    encoded: Arc<[u8]>,
    id: ObjectId,
}

impl Agreement {
    /// Joins a proposal and a decision, checking that the decision accepts exactly this
    /// proposal, is signed by the proposal's provider, and came before the proposal's deadline.
    pub fn from_parts(
        proposal: Signed<SlaProposal>,
        acceptance: Signed<SlaDecision>,
    ) -> Result<Self, ObjectError> {
        let (p, d) = (proposal.body(), acceptance.body());
        if d.decision != Decision::Accept {
            return Err(ObjectError::new(
                Rule::NotAccepted,
                format!("decision is {:?}, not an acceptance", d.decision),
            ));
        }
        if d.proposal_id != proposal.id() {
            return Err(mismatch("decision is about another proposal"));
        }
        if d.provider != p.provider || d.consumer != p.consumer {
            return Err(mismatch("decision parties differ from the proposal's"));
        }
        if d.created_at > p.expires_at {
            return Err(mismatch(format!(
                "accepted at {} after the proposal's deadline {}",
                d.created_at, p.expires_at
            )));
        }
        let (created, expires) = (d.created_at, p.end());
        check_lifetime(Kind::Agreement, created, expires)?;
        let encoded = encode_pair(Kind::Agreement, proposal.encoded(), acceptance.encoded());
        let id = Hash32::of(&encoded);
        Ok(Self {
            proposal,
            acceptance,
            encoded,
            id,
        })
    }

    /// Decodes and verifies untrusted bytes: both signatures and every consistency rule.
    pub fn decode(bytes: &[u8]) -> Result<Self, ObjectError> {
        Self::decode_with(bytes, None)
    }

    /// [`Agreement::decode`], taking the signers' checked keys from `keys` when it holds them.
    pub fn decode_with(bytes: &[u8], keys: Option<&KeyCache>) -> Result<Self, ObjectError> {
        let wire = decode_pair(Kind::Agreement, bytes)?;
        let proposal = Signed::<SlaProposal>::decode_with(wire.first, keys)?;
        let acceptance = Signed::<SlaDecision>::decode_with(wire.second, keys)?;
        Self::from_parts(proposal, acceptance)
    }

    /// The consumer's proposal.
    pub fn proposal(&self) -> &Signed<SlaProposal> {
        &self.proposal
    }

    /// The provider's acceptance.
    pub fn acceptance(&self) -> &Signed<SlaDecision> {
        &self.acceptance
    }

    /// The id of the accepted proposal: the name attestations use for this agreement.
    pub fn proposal_id(&self) -> ObjectId {
        self.proposal.id()
    }

    /// The consumer.
    pub fn consumer(&self) -> &PublicKey {
        &self.proposal.body().consumer
    }

    /// The provider.
    pub fn provider(&self) -> &PublicKey {
        &self.proposal.body().provider
    }

    /// When the agreement was made (the acceptance's `created_at`).
    pub fn created_at(&self) -> Timestamp {
        self.acceptance.body().created_at
    }

    /// When the service ends (`start + duration_secs`).
    pub fn expires_at(&self) -> Timestamp {
        self.proposal.body().end()
    }

    /// blake3 of the encoding.
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// The encoding.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }
}

impl fmt::Debug for Agreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agreement")
            .field("id", &self.id)
            .field("proposal", &self.proposal)
            .field("acceptance", &self.acceptance)
            .finish()
    }
}

/// Proof that a provider signed two different offers with the same `(provider, offer_key,
/// seq)`. The two offers are kept in id order so the evidence has one encoding.
#[derive(Clone)]
pub struct EquivocationEvidence {
    first: Signed<Offer>,
    second: Signed<Offer>,
    encoded: Arc<[u8]>,
    id: ObjectId,
}

impl EquivocationEvidence {
    /// Builds evidence from two conflicting offers (in any order).
    pub fn from_offers(a: Signed<Offer>, b: Signed<Offer>) -> Result<Self, ObjectError> {
        let (first, second) = if a.id() <= b.id() { (a, b) } else { (b, a) };
        Self::check(&first, &second)?;
        let encoded = encode_pair(
            Kind::EquivocationEvidence,
            first.encoded(),
            second.encoded(),
        );
        let id = Hash32::of(&encoded);
        Ok(Self {
            first,
            second,
            encoded,
            id,
        })
    }

    fn check(first: &Signed<Offer>, second: &Signed<Offer>) -> Result<(), ObjectError> {
        if first.id() >= second.id() {
            return Err(mismatch("offers must be distinct and in id order"));
        }
        let (a, b) = (first.body(), second.body());
        if a.provider != b.provider || a.offer_key != b.offer_key || a.seq != b.seq {
            return Err(mismatch(
                "offers differ in (provider, offer_key, seq): no equivocation",
            ));
        }
        Ok(())
    }

    /// Decodes and verifies untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, ObjectError> {
        Self::decode_with(bytes, None)
    }

    /// [`EquivocationEvidence::decode`], taking the signer's checked key from `keys` when it
    /// holds it.
    pub fn decode_with(bytes: &[u8], keys: Option<&KeyCache>) -> Result<Self, ObjectError> {
        let wire = decode_pair(Kind::EquivocationEvidence, bytes)?;
        let first = Signed::<Offer>::decode_with(wire.first, keys)?;
        let second = Signed::<Offer>::decode_with(wire.second, keys)?;
        Self::check(&first, &second)?;
        Ok(Self {
            first,
            second,
            encoded: Arc::from(bytes),
            id: Hash32::of(bytes),
        })
    }

    /// The two conflicting offers, in id order.
    pub fn offers(&self) -> (&Signed<Offer>, &Signed<Offer>) {
        (&self.first, &self.second)
    }

    /// The provider who equivocated.
    pub fn provider(&self) -> &PublicKey {
        &self.first.body().provider
    }

    /// The later of the two offers' `created_at`.
    pub fn created_at(&self) -> Timestamp {
        self.first
            .body()
            .created_at
            .max(self.second.body().created_at)
    }

    /// The later of the two offers' `expires_at`.
    pub fn expires_at(&self) -> Timestamp {
        self.first
            .body()
            .expires_at
            .max(self.second.body().expires_at)
    }

    /// blake3 of the encoding.
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// The encoding.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }
}

impl fmt::Debug for EquivocationEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EquivocationEvidence")
            .field("id", &self.id)
            .field("first", &self.first)
            .field("second", &self.second)
            .finish()
    }
}

/// Any protocol object. [`Object::decode`] is the one entry point for bytes from the network.
#[derive(Clone, Debug)]
// Objects are held in batches and moved rarely; boxing every variant would cost an allocation
// per decode on the hot path for little gain.
#[allow(clippy::large_enum_variant)]
pub enum Object {
    /// An offer.
    Offer(Signed<Offer>),
    /// A demand.
    Demand(Signed<Demand>),
    /// An SLA proposal.
    SlaProposal(Signed<SlaProposal>),
    /// An SLA decision.
    SlaDecision(Signed<SlaDecision>),
    /// An agreement.
    Agreement(Agreement),
    /// A QoS attestation.
    QosAttestation(Signed<QosAttestation>),
    /// A certificate.
    Certificate(Signed<Certificate>),
    /// A revocation.
    Revocation(Signed<Revocation>),
    /// Equivocation evidence.
    EquivocationEvidence(EquivocationEvidence),
}

macro_rules! each_object {
    ($self:expr, $o:ident => $e:expr) => {
        match $self {
            Object::Offer($o) => $e,
            Object::Demand($o) => $e,
            Object::SlaProposal($o) => $e,
            Object::SlaDecision($o) => $e,
            Object::Agreement($o) => $e,
            Object::QosAttestation($o) => $e,
            Object::Certificate($o) => $e,
            Object::Revocation($o) => $e,
            Object::EquivocationEvidence($o) => $e,
        }
    };
}

impl Object {
    /// Decodes and verifies any object from untrusted bytes: the first byte names the kind,
    /// then that kind's size limit, structure, signatures and stateless rules apply. Never
    /// panics; never allocates beyond the kind's limit.
    pub fn decode(bytes: &[u8]) -> Result<Object, ObjectError> {
        Self::decode_with(bytes, None)
    }

    /// [`Object::decode`], taking signers' checked keys from `keys` when it holds them (and
    /// adding the ones it checks).
    pub fn decode_with(bytes: &[u8], keys: Option<&KeyCache>) -> Result<Object, ObjectError> {
        let Some(&tag) = bytes.first() else {
            return Err(ObjectError::new(Rule::Malformed, "empty input"));
        };
        let kind = Kind::from_tag(tag)
            .ok_or_else(|| ObjectError::new(Rule::Malformed, format!("unknown kind tag {tag}")))?;
        Ok(match kind {
            Kind::Offer => Object::Offer(Signed::decode_with(bytes, keys)?),
            Kind::Demand => Object::Demand(Signed::decode_with(bytes, keys)?),
            Kind::SlaProposal => Object::SlaProposal(Signed::decode_with(bytes, keys)?),
            Kind::SlaDecision => Object::SlaDecision(Signed::decode_with(bytes, keys)?),
            Kind::Agreement => Object::Agreement(Agreement::decode_with(bytes, keys)?),
            Kind::QosAttestation => Object::QosAttestation(Signed::decode_with(bytes, keys)?),
            Kind::Certificate => Object::Certificate(Signed::decode_with(bytes, keys)?),
            Kind::Revocation => Object::Revocation(Signed::decode_with(bytes, keys)?),
            Kind::EquivocationEvidence => {
                Object::EquivocationEvidence(EquivocationEvidence::decode_with(bytes, keys)?)
            }
        })
    }

    /// Rebuilds an object from bytes that were fully verified before and kept since under an
    /// integrity check (the store's database). Signatures, key validity, canonical encoding
    /// and field rules are **not** checked (see [`Signed::decode_trusted`]); composite parts
    /// must still belong together. **Never use it on bytes from the network**: use
    /// [`Object::decode`].
    pub fn decode_trusted(bytes: &[u8]) -> Result<Object, ObjectError> {
        let Some(&tag) = bytes.first() else {
            return Err(ObjectError::new(Rule::Malformed, "empty input"));
        };
        let kind = Kind::from_tag(tag)
            .ok_or_else(|| ObjectError::new(Rule::Malformed, format!("unknown kind tag {tag}")))?;
        Ok(match kind {
            Kind::Offer => Object::Offer(Signed::decode_trusted(bytes)?),
            Kind::Demand => Object::Demand(Signed::decode_trusted(bytes)?),
            Kind::SlaProposal => Object::SlaProposal(Signed::decode_trusted(bytes)?),
            Kind::SlaDecision => Object::SlaDecision(Signed::decode_trusted(bytes)?),
            Kind::Agreement => {
                let wire = decode_pair(kind, bytes)?;
                Object::Agreement(Agreement::from_parts(
                    Signed::decode_trusted(wire.first)?,
                    Signed::decode_trusted(wire.second)?,
                )?)
            }
            Kind::QosAttestation => Object::QosAttestation(Signed::decode_trusted(bytes)?),
            Kind::Certificate => Object::Certificate(Signed::decode_trusted(bytes)?),
            Kind::Revocation => Object::Revocation(Signed::decode_trusted(bytes)?),
            Kind::EquivocationEvidence => {
                let wire = decode_pair(kind, bytes)?;
                let first = Signed::<Offer>::decode_trusted(wire.first)?;
                let second = Signed::<Offer>::decode_trusted(wire.second)?;
                EquivocationEvidence::check(&first, &second)?;
                Object::EquivocationEvidence(EquivocationEvidence {
                    first,
                    second,
                    encoded: Arc::from(bytes),
                    id: Hash32::of(bytes),
                })
            }
        })
    }

    /// Decodes, verifies and checks the time rules against `now`.
    pub fn decode_at(
        bytes: &[u8],
        now: Timestamp,
        time: &TimeRules,
    ) -> Result<Object, ObjectError> {
        Self::decode_at_with(bytes, now, time, None)
    }

    /// [`Object::decode_at`] with [`Object::decode_with`]'s key cache.
    pub fn decode_at_with(
        bytes: &[u8],
        now: Timestamp,
        time: &TimeRules,
        keys: Option<&KeyCache>,
    ) -> Result<Object, ObjectError> {
        let object = Self::decode_with(bytes, keys)?;
        time.check(object.created_at(), object.expires_at(), now)?;
        Ok(object)
    }

    /// The kind.
    pub fn kind(&self) -> Kind {
        match self {
            Object::Offer(_) => Kind::Offer,
            Object::Demand(_) => Kind::Demand,
            Object::SlaProposal(_) => Kind::SlaProposal,
            Object::SlaDecision(_) => Kind::SlaDecision,
            Object::Agreement(_) => Kind::Agreement,
            Object::QosAttestation(_) => Kind::QosAttestation,
            Object::Certificate(_) => Kind::Certificate,
            Object::Revocation(_) => Kind::Revocation,
            Object::EquivocationEvidence(_) => Kind::EquivocationEvidence,
        }
    }

    /// The object id (blake3 of the encoding).
    pub fn id(&self) -> ObjectId {
        each_object!(self, o => o.id())
    }

    /// The exact encoding.
    pub fn encoded(&self) -> &[u8] {
        each_object!(self, o => o.encoded())
    }

    /// When it was made.
    pub fn created_at(&self) -> Timestamp {
        each_object!(self, o => o.created_at())
    }

    /// When it stops being valid.
    pub fn expires_at(&self) -> Timestamp {
        each_object!(self, o => o.expires_at())
    }
}

impl PartialEq for Object {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for Object {}

macro_rules! from_signed {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(impl From<$ty> for Object {
            fn from(o: $ty) -> Self {
                Object::$variant(o)
            }
        })*
    };
}

from_signed!(
    Offer(Signed<Offer>),
    Demand(Signed<Demand>),
    SlaProposal(Signed<SlaProposal>),
    SlaDecision(Signed<SlaDecision>),
    Agreement(Agreement),
    QosAttestation(Signed<QosAttestation>),
    Certificate(Signed<Certificate>),
    Revocation(Signed<Revocation>),
    EquivocationEvidence(EquivocationEvidence),
);
