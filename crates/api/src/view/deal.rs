//! Demands, quotes and deals as JSON.

use flashback_types::{Demand, Quote, Signed};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Amount, PriceView, Time, kind_name, protocol_name};

/// A consumer's demand: a request for quotes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DemandView {
    /// The demand's id, hex.
    pub demand_id: String,
    /// Consumer key, hex.
    pub consumer: String,
    /// `storage` or `compute`.
    pub kind: String,
    /// Bytes (storage) or units (compute).
    pub volume: u64,
    /// Seconds of service.
    pub duration_secs: u64,
    /// Copies wanted.
    pub redundancy: u8,
    /// Acceptable regions (empty: any).
    pub regions: Vec<String>,
    /// Acceptable protocols (empty: any).
    pub protocols: Vec<String>,
    /// Highest acceptable unit price.
    pub max_price: PriceView,
    /// When it closes.
    pub expires_at: Time,
}

impl From<&Signed<Demand>> for DemandView {
    fn from(d: &Signed<Demand>) -> Self {
        let b = d.body();
        Self {
            demand_id: d.id().to_string(),
            consumer: b.consumer.to_string(),
            kind: kind_name(b.kind).to_owned(),
            volume: b.volume,
            duration_secs: b.duration_secs,
            redundancy: b.redundancy,
            regions: b.regions.iter().map(|r| r.as_str().to_owned()).collect(),
            protocols: b.protocols.iter().map(protocol_name).collect(),
            max_price: PriceView::from(&b.max_price),
            expires_at: b.expires_at.into(),
        }
    }
}

/// A provider's quote answering a demand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuoteView {
    /// The quote's id, hex.
    pub quote_id: String,
    /// Provider key, hex.
    pub provider: String,
    /// The demand answered, hex.
    pub demand_id: String,
    /// The offer it draws on, hex.
    pub offer_id: String,
    /// That offer's seq.
    pub offer_seq: u64,
    /// Unit price quoted.
    pub price: PriceView,
    /// When signed.
    pub created_at: Time,
    /// Until when it holds.
    pub expires_at: Time,
}

impl From<&Signed<Quote>> for QuoteView {
    fn from(q: &Signed<Quote>) -> Self {
        let b = q.body();
        Self {
            quote_id: q.id().to_string(),
            provider: b.provider.to_string(),
            demand_id: b.demand_id.to_string(),
            offer_id: b.offer_id.to_string(),
            offer_seq: b.offer_seq,
            price: PriceView::from(&b.price),
            created_at: b.created_at.into(),
            expires_at: b.expires_at.into(),
        }
    }
}

/// One agreement of a deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DealAgreementView {
    /// The agreement's id (its proposal's), hex.
    pub agreement_id: String,
    /// Provider key, hex.
    pub provider: String,
    /// The offer, hex.
    pub offer_id: String,
    /// The region it was placed in.
    pub region: String,
    /// Unit price agreed.
    pub price: PriceView,
    /// Its total for the volume and duration.
    pub cost: Amount,
    /// The offer's availability, basis points.
    pub availability_bp: u16,
    /// Whether the price came from the provider's quote (else the listed offer's).
    pub quoted: bool,
    /// Where it stands now (`active`, `terminated`, …); `null` when not looked up.
    pub status: Option<String>,
}

/// A pick that failed during a deal, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DealFailureView {
    /// Provider key, hex.
    pub provider: String,
    /// The offer, hex.
    pub offer_id: String,
    /// `check` (before proposing), `rejected`, `timeout` or `verification` (accepted, then
    /// failed the data-plane check).
    pub stage: String,
    /// Why, for people.
    pub reason: String,
}

/// A deal: the agreements one request ended with, what failed on the way, the cost and the
/// availability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DealView {
    /// The demand published, hex.
    pub demand_id: String,
    /// When the deal was made.
    pub made_at: Time,
    /// Quotes received in the window.
    pub quotes: usize,
    /// Agreements asked for.
    pub wanted: usize,
    /// Agreements held, each verified on its data plane.
    pub agreements: Vec<DealAgreementView>,
    /// Picks that failed and were replaced, in order.
    pub failures: Vec<DealFailureView>,
    /// Agreements the consumer terminated (failed verification, or accepted too late), hex.
    pub terminated: Vec<String>,
    /// Total cost of the agreements held.
    pub total_cost: Amount,
    /// Availability of the data with those agreements (copies failing independently).
    pub availability: f64,
    /// Why the deal is short of `wanted`; `null` when it is complete.
    pub short: Option<String>,
}

/// One step of a deal in progress (`GET /api/v1/deals/{id}`), as `flashback deal make` prints
/// them on stderr.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DealStepView {
    /// When it happened.
    pub at: Time,
    /// What happened, stable: `feasible`, `demand_published`, `quote`, `quotes_closed`,
    /// `proposing`, `accepted`, `verified`, `failed` (a pick, replaced), `terminated`.
    pub step: String,
    /// The step for people.
    pub detail: String,
}

/// A deal the node makes (or made) in the background for `POST /api/v1/deals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DealJobView {
    /// The deal's handle, hex: `GET /api/v1/deals/{deal_id}`.
    pub deal_id: String,
    /// The account the node signs with.
    pub account: String,
    /// `running`, `done` (every replica asked for is held and verified) or `failed` (no deal,
    /// see `error`; or fewer agreements than asked for, see `deal.short`).
    pub state: String,
    /// When the request was accepted.
    pub started_at: Time,
    /// When it ended; `null` while running.
    pub finished_at: Option<Time>,
    /// The steps so far, oldest first (the latest 200 at most).
    pub progress: Vec<DealStepView>,
    /// The deal once it ends with agreements: each agreement, the total cost, the
    /// availability, and every pick that failed and why.
    pub deal: Option<DealView>,
    /// Why no deal was made (an impossible request, no quotes, an unreachable market).
    pub error: Option<crate::ErrorDetail>,
}

impl DealJobView {
    /// `state` of a deal still running.
    pub const RUNNING: &'static str = "running";
    /// `state` of a deal that holds every replica asked for.
    pub const DONE: &'static str = "done";
    /// `state` of a deal that ended short or without agreements.
    pub const FAILED: &'static str = "failed";
}
