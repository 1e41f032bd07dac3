//! Agreements as JSON: the agreement, where it stands, and a provider's commitments.

use flashback_types::{
    Agreement, Decision, Signed, SlaDecision, SlaProposal, Termination, Timestamp,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Amount, PriceView, Time};

/// The termination that ends `agreement`: the earliest (then lowest id) signed by one of its two
/// parties. Anyone can sign a termination; only these count.
pub fn ending_termination<'a>(
    agreement: &Agreement,
    terminations: &'a [Signed<Termination>],
) -> Option<&'a Signed<Termination>> {
    terminations
        .iter()
        .filter(|t| t.body().ends(agreement))
        .min_by_key(|t| (t.body().created_at, t.id()))
}

/// An agreement: an accepted SLA proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgreementView {
    /// The agreement's id: the accepted proposal's id, hex.
    pub agreement_id: String,
    /// The id of the agreement object (proposal + acceptance), hex.
    pub object_id: String,
    /// Consumer key, hex.
    pub consumer: String,
    /// Provider key, hex.
    pub provider: String,
    /// The offer it answers, hex.
    pub offer_id: String,
    /// That offer's seq.
    pub offer_seq: u64,
    /// Bytes (storage) or units (compute).
    pub volume: u64,
    /// Seconds of service.
    pub duration_secs: u64,
    /// Start of service.
    pub start: Time,
    /// End of service.
    pub end: Time,
    /// Unit price agreed.
    pub price: PriceView,
    /// Total over the whole duration.
    pub total: Amount,
    /// When the provider accepted.
    pub accepted_at: Time,
    /// Where it stands: `active`, `expired` (its term is over) or `terminated` (a party
    /// ended it early).
    pub status: String,
    /// When it was terminated; `null` unless terminated.
    pub terminated_at: Option<Time>,
    /// Who terminated it (the consumer or the provider), hex; `null` unless terminated.
    pub terminated_by: Option<String>,
    /// Why, in the terminating party's words; `null` unless terminated.
    pub reason: Option<String>,
}

impl AgreementView {
    /// The view of `a` at `now`, given the terminations the node holds about it (any signer:
    /// only its parties' count, [`ending_termination`]).
    pub fn new(a: &Agreement, terminations: &[Signed<Termination>], now: Timestamp) -> Self {
        let p = a.proposal().body();
        let ended = ending_termination(a, terminations).map(|t| t.body());
        let status = match ended {
            Some(_) => "terminated",
            None if a.expires_at() <= now => "expired",
            None => "active",
        };
        Self {
            agreement_id: a.proposal_id().to_string(),
            object_id: a.id().to_string(),
            consumer: p.consumer.to_string(),
            provider: p.provider.to_string(),
            offer_id: p.offer_id.to_string(),
            offer_seq: p.offer_seq,
            volume: p.volume,
            duration_secs: p.duration_secs,
            start: p.start.into(),
            end: p.end().into(),
            price: PriceView::from(&p.price),
            total: Amount::new(p.total, p.price.asset.as_str()),
            accepted_at: a.created_at().into(),
            status: status.to_owned(),
            terminated_at: ended.map(|t| t.created_at.into()),
            terminated_by: ended.map(|t| t.party.to_string()),
            reason: ended.map(|t| t.reason.to_string()),
        }
    }
}

/// One of a provider's offers and what is promised on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommitmentView {
    /// The offer's current version, hex.
    pub offer_id: String,
    /// Its key.
    pub offer_key: String,
    /// Its capacity: bytes (storage) or units (compute).
    pub capacity: u64,
    /// Volume of its active agreements.
    pub committed: u64,
    /// Capacity new proposals can still take.
    pub free: u64,
    /// Agreements on it the node still holds.
    pub agreements: usize,
}

/// A provider's own agreements and what each of its offers has committed
/// (`flashback sla list --mine --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProviderAgreementsView {
    /// Its agreements.
    pub agreements: Vec<AgreementView>,
    /// Its offers.
    pub offers: Vec<CommitmentView>,
}

/// An SLA proposal and where it stands: what `POST /api/v1/proposals` signs and
/// `GET /api/v1/proposals/{id}` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProposalView {
    /// The proposal's id, hex (the agreement's id once accepted).
    pub proposal_id: String,
    /// Consumer key (the signer), hex.
    pub consumer: String,
    /// Provider key, hex.
    pub provider: String,
    /// The offer it answers, hex.
    pub offer_id: String,
    /// That offer's seq.
    pub offer_seq: u64,
    /// Bytes (storage) or units (compute).
    pub volume: u64,
    /// Seconds of service.
    pub duration_secs: u64,
    /// Start of service.
    pub start: Time,
    /// Unit price proposed (the offer's).
    pub price: PriceView,
    /// Total over the whole duration.
    pub total: Amount,
    /// The provider's deadline to decide.
    pub decide_by: Time,
    /// `pending` (no decision yet), `accepted` or `rejected`.
    pub status: String,
    /// Why it was rejected (`capacity`, `price`, `duration`, `offer_unavailable`, …); `null`
    /// unless rejected.
    pub reason: Option<String>,
    /// The agreement, once the node holds it; `null` before (an acceptance's agreement
    /// follows its decision by a moment).
    pub agreement: Option<AgreementView>,
}

impl ProposalView {
    /// The view of `proposal` given the decision, the agreement and its terminations the
    /// node holds about it, at `now`.
    pub fn new(
        proposal: &Signed<SlaProposal>,
        decision: Option<&Signed<SlaDecision>>,
        agreement: Option<(&Agreement, &[Signed<Termination>])>,
        now: Timestamp,
    ) -> Self {
        let p = proposal.body();
        let (status, reason) = match decision.map(|d| d.body().decision) {
            Some(Decision::Accept) => ("accepted", None),
            Some(Decision::Reject(r)) => ("rejected", Some(r.code().to_owned())),
            // An agreement is the provider's signed acceptance too.
            None if agreement.is_some() => ("accepted", None),
            None => ("pending", None),
        };
        Self {
            proposal_id: proposal.id().to_string(),
            consumer: p.consumer.to_string(),
            provider: p.provider.to_string(),
            offer_id: p.offer_id.to_string(),
            offer_seq: p.offer_seq,
            volume: p.volume,
            duration_secs: p.duration_secs,
            start: p.start.into(),
            price: PriceView::from(&p.price),
            total: Amount::new(p.total, p.price.asset.as_str()),
            decide_by: p.expires_at.into(),
            status: status.to_owned(),
            reason,
            agreement: agreement.map(|(a, ended)| AgreementView::new(a, ended, now)),
        }
    }
}

/// What `flashback sla propose --json` (and `sla renew --json`) prints: the proposal as
/// [`ProposalView`] gives it (the fields and meaning of `GET /api/v1/proposals/{id}`), and what
/// the command waited for besides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalOutcomeView {
    /// The proposal and where it stands.
    #[serde(flatten)]
    pub proposal: ProposalView,
    /// After an acceptance, the protocol of the provider's access grant (`s3`,
    /// `flashback_blob`, …); `null` while none arrived. The grant's secrets stay sealed.
    pub access: Option<String>,
    /// After a rejection, the offer's limits that its reason refers to, for people; `null`
    /// otherwise.
    pub offer_limits: Option<String>,
}
