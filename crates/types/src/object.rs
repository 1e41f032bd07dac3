//! [`Object`]: the sum of every kind, with the one decode function for bytes from the network
//! ([`Object::decode`]) and the trusted one for bytes the store kept ([`Object::decode_trusted`]).

use crate::bodies::{
    AccessGrant, Certificate, Demand, Dispute, ObjectId, Offer, PaymentVoucher, QosAttestation,
    Quote, Revocation, Ruling, SlaDecision, SlaProposal, Termination, Timestamp,
};
use crate::composite::{Agreement, EquivocationEvidence};
use crate::keys::KeyCache;
use crate::kind::Kind;
use crate::signed::Signed;
use crate::validate::{ObjectError, Rule, TimeRules};

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
    /// A provider's quote answering a demand.
    Quote(Signed<Quote>),
    /// A termination.
    Termination(Signed<Termination>),
    /// An access grant.
    AccessGrant(Signed<AccessGrant>),
    /// A payment voucher.
    PaymentVoucher(Signed<PaymentVoucher>),
    /// A dispute.
    Dispute(Signed<Dispute>),
    /// A ruling.
    Ruling(Signed<Ruling>),
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
            Object::Quote($o) => $e,
            Object::Termination($o) => $e,
            Object::AccessGrant($o) => $e,
            Object::PaymentVoucher($o) => $e,
            Object::Dispute($o) => $e,
            Object::Ruling($o) => $e,
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
            Kind::Quote => Object::Quote(Signed::decode_with(bytes, keys)?),
            Kind::Termination => Object::Termination(Signed::decode_with(bytes, keys)?),
            Kind::AccessGrant => Object::AccessGrant(Signed::decode_with(bytes, keys)?),
            Kind::PaymentVoucher => Object::PaymentVoucher(Signed::decode_with(bytes, keys)?),
            Kind::Dispute => Object::Dispute(Signed::decode_with(bytes, keys)?),
            Kind::Ruling => Object::Ruling(Signed::decode_with(bytes, keys)?),
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
            Kind::Agreement => Object::Agreement(Agreement::decode_trusted(bytes)?),
            Kind::QosAttestation => Object::QosAttestation(Signed::decode_trusted(bytes)?),
            Kind::Certificate => Object::Certificate(Signed::decode_trusted(bytes)?),
            Kind::Revocation => Object::Revocation(Signed::decode_trusted(bytes)?),
            Kind::EquivocationEvidence => {
                Object::EquivocationEvidence(EquivocationEvidence::decode_trusted(bytes)?)
            }
            Kind::Quote => Object::Quote(Signed::decode_trusted(bytes)?),
            Kind::Termination => Object::Termination(Signed::decode_trusted(bytes)?),
            Kind::AccessGrant => Object::AccessGrant(Signed::decode_trusted(bytes)?),
            Kind::PaymentVoucher => Object::PaymentVoucher(Signed::decode_trusted(bytes)?),
            Kind::Dispute => Object::Dispute(Signed::decode_trusted(bytes)?),
            Kind::Ruling => Object::Ruling(Signed::decode_trusted(bytes)?),
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
            Object::Quote(_) => Kind::Quote,
            Object::Termination(_) => Kind::Termination,
            Object::AccessGrant(_) => Kind::AccessGrant,
            Object::PaymentVoucher(_) => Kind::PaymentVoucher,
            Object::Dispute(_) => Kind::Dispute,
            Object::Ruling(_) => Kind::Ruling,
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
    Quote(Signed<Quote>),
    Termination(Signed<Termination>),
    AccessGrant(Signed<AccessGrant>),
    PaymentVoucher(Signed<PaymentVoucher>),
    Dispute(Signed<Dispute>),
    Ruling(Signed<Ruling>),
);
