//! Composite objects: pairs of signed objects that are not signed as a whole
//! ([`Agreement`], [`EquivocationEvidence`]). Their wire form is
//! `kind: u8 | first: varint length + signed object | second: varint length + signed object`.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::bodies::{Decision, ObjectId, Offer, SlaDecision, SlaProposal, Timestamp};
use crate::encoding;
use crate::keys::{Hash32, KeyCache, PublicKey};
use crate::kind::{Kind, decode_limited};
use crate::signed::{Signed, check_lifetime};
use crate::validate::{ObjectError, Rule};

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
    // Only the shortest length prefixes (see `Envelope::parse`): one pair, one id.
    let canonical = 1
        + encoding::varint_len(wire.first.len())
        + wire.first.len()
        + encoding::varint_len(wire.second.len())
        + wire.second.len();
    if bytes.len() != canonical {
        return Err(encoding::DecodeError::NonCanonical.into());
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

    /// Rebuilds an agreement from bytes verified before and kept under an integrity check (see
    /// [`crate::Object::decode_trusted`]): signatures are not checked again, but the parts must
    /// still belong together.
    pub(crate) fn decode_trusted(bytes: &[u8]) -> Result<Self, ObjectError> {
        let wire = decode_pair(Kind::Agreement, bytes)?;
        Self::from_parts(
            Signed::decode_trusted(wire.first)?,
            Signed::decode_trusted(wire.second)?,
        )
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
        Self::decode_parts(bytes, |part| Signed::decode_with(part, keys))
    }

    /// Decodes the pair, each offer with `offer`, and checks that they equivocate.
    fn decode_parts(
        bytes: &[u8],
        offer: impl Fn(&[u8]) -> Result<Signed<Offer>, ObjectError>,
    ) -> Result<Self, ObjectError> {
        let wire = decode_pair(Kind::EquivocationEvidence, bytes)?;
        let (first, second) = (offer(wire.first)?, offer(wire.second)?);
        Self::check(&first, &second)?;
        Ok(Self {
            first,
            second,
            encoded: Arc::from(bytes),
            id: Hash32::of(bytes),
        })
    }

    /// Rebuilds evidence from bytes verified before and kept under an integrity check (see
    /// [`crate::Object::decode_trusted`]): signatures are not checked again, the pairing is.
    pub(crate) fn decode_trusted(bytes: &[u8]) -> Result<Self, ObjectError> {
        Self::decode_parts(bytes, Signed::decode_trusted)
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
