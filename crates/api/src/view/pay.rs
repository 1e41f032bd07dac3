//! Payments as JSON: accounts, totals per asset, a consumer's standing, vouchers issued,
//! disputes and rulings. Amounts are integers in the asset's minor units, named by `asset`
//! beside them; nothing is converted between assets. No view carries a key's secret.

use std::collections::BTreeMap;

use flashback_types::payments::{
    Account, AssetTotals, ConsumerStanding, PeriodLine, RulingInForce,
};
use flashback_types::wire::PaymentsReport;
use flashback_types::{Dispute, PaymentVoucher, PublicKey, Ruling, Signed, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Time;

/// One agreement's account: what is due, credited, paid and owed, computed by the node from
/// the signed objects (`flashback_types::payments::Account`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    /// The agreement (its proposal id), hex.
    pub agreement_id: String,
    /// Consumer key, hex.
    pub consumer: String,
    /// Provider key, hex.
    pub provider: String,
    /// The asset every amount here is in (minor units).
    pub asset: String,
    /// The agreement's total.
    pub total: u64,
    /// When service starts.
    pub start: Time,
    /// When service ends, as agreed.
    pub end: Time,
    /// Share of the total of the delivered periods.
    pub due: u64,
    /// SLA credits on the delivered periods.
    pub credited: u64,
    /// What the consumer owes so far (what the provider earned): due less credits, or the
    /// trusted ruling's amount.
    pub net_due: u64,
    /// The best voucher's cumulative amount.
    pub paid: u64,
    /// `net_due − paid`.
    pub outstanding: u64,
    /// What is still unpaid of what was due one billing period ago.
    pub overdue: u64,
    /// The best voucher came after the grace period of the last period it pays for.
    pub paid_late: bool,
    /// The best voucher's id, hex.
    pub best_voucher_id: Option<String>,
    /// The best voucher's sequence (0 without one).
    pub paid_sequence: u64,
    /// The trusted ruling in force, if any.
    pub ruling: Option<RulingInForceView>,
    /// Disputes about the agreement.
    pub disputes: u32,
    /// Rulings by arbiters the node does not trust (shown, no effect).
    pub untrusted_rulings: u32,
    /// The billing periods.
    pub periods: Vec<PeriodView>,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        Self {
            agreement_id: a.agreement.to_string(),
            consumer: a.consumer.to_string(),
            provider: a.provider.to_string(),
            asset: a.asset.clone(),
            total: a.total,
            start: a.start.into(),
            end: a.end.into(),
            due: a.due,
            credited: a.credited,
            net_due: a.net_due,
            paid: a.paid,
            outstanding: a.outstanding,
            overdue: a.overdue,
            paid_late: a.paid_late,
            best_voucher_id: a.best_voucher.map(|id| id.to_string()),
            paid_sequence: a.paid_sequence,
            ruling: a.ruling.as_ref().map(RulingInForceView::from),
            disputes: a.disputes,
            untrusted_rulings: a.untrusted_rulings,
            periods: a.periods.iter().map(PeriodView::from).collect(),
        }
    }
}

/// One billing period of an agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PeriodView {
    /// Position, from 0.
    pub index: u32,
    /// Start (inclusive).
    pub start: Time,
    /// End (exclusive): its amount is due from then.
    pub end: Time,
    /// Its share of the total.
    pub amount: u64,
    /// It has ended (and is due).
    pub delivered: bool,
    /// Availability the consumer measured in it, basis points; absent when nothing was.
    pub measured_bp: Option<u16>,
    /// The SLA credit tier applied, basis points of the period's amount.
    pub credit_bp: u16,
    /// Amount credited back.
    pub credited: u64,
}

impl From<&PeriodLine> for PeriodView {
    fn from(l: &PeriodLine) -> Self {
        Self {
            index: l.period.index,
            start: l.period.start.into(),
            end: l.period.end.into(),
            amount: l.period.amount,
            delivered: l.delivered,
            measured_bp: l.measured_bp,
            credit_bp: l.credit_bp,
            credited: l.credited,
        }
    }
}

/// The trusted ruling in force on an agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RulingInForceView {
    /// The ruling's id, hex.
    pub ruling_id: String,
    /// Its arbiter, hex.
    pub arbiter: String,
    /// Who is right: `consumer` or `provider`.
    pub in_favour_of: String,
    /// The amount due it fixes for the whole agreement.
    pub amount_due: u64,
    /// When it was signed.
    pub created_at: Time,
}

impl From<&RulingInForce> for RulingInForceView {
    fn from(r: &RulingInForce) -> Self {
        Self {
            ruling_id: r.id.to_string(),
            arbiter: r.arbiter.to_string(),
            in_favour_of: r.in_favour_of.name().to_owned(),
            amount_due: r.amount_due,
            created_at: r.created_at.into(),
        }
    }
}

/// Accounts added up for one asset (never across assets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AssetTotalsView {
    /// The asset.
    pub asset: String,
    /// Share of totals delivered.
    pub due: u64,
    /// SLA credits.
    pub credited: u64,
    /// Due less credits, or what arbiters ruled.
    pub earned: u64,
    /// Paid (best vouchers).
    pub paid: u64,
    /// Earned less paid.
    pub outstanding: u64,
    /// Unpaid a billing period after it was due.
    pub overdue: u64,
}

impl AssetTotalsView {
    /// One row per asset, in asset order.
    pub fn list(totals: &BTreeMap<String, AssetTotals>) -> Vec<Self> {
        totals
            .iter()
            .map(|(asset, t)| Self {
                asset: asset.clone(),
                due: t.due,
                credited: t.credited,
                earned: t.earned,
                paid: t.paid,
                outstanding: t.outstanding,
                overdue: t.overdue,
            })
            .collect()
    }
}

/// How a consumer pays (`flashback_types::payments::ConsumerStanding`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StandingView {
    /// Payment score, basis points (10 000: pays everything on time, no dispute lost).
    pub score_bp: u16,
    /// The lowest share paid of what was overdue over its agreements, basis points.
    pub worst_paid_bp: u16,
    /// Agreements counted.
    pub agreements: u32,
    /// Agreements with nothing overdue.
    pub current: u32,
    /// Agreements with an amount overdue.
    pub in_arrears: u32,
    /// Agreements paid after the grace period.
    pub paid_late: u32,
    /// Disputes a trusted arbiter ruled against it.
    pub disputes_lost: u32,
    /// Disputes a trusted arbiter ruled for it.
    pub disputes_won: u32,
}

impl From<&ConsumerStanding> for StandingView {
    fn from(s: &ConsumerStanding) -> Self {
        Self {
            score_bp: s.score_bp,
            worst_paid_bp: s.worst_paid_bp,
            agreements: s.agreements,
            current: s.current,
            in_arrears: s.in_arrears,
            paid_late: s.paid_late,
            disputes_lost: s.disputes_lost,
            disputes_won: s.disputes_won,
        }
    }
}

/// `pay status`: a party's accounts as consumer or provider, with totals per asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PaymentsView {
    /// The party, hex.
    pub party: String,
    /// The instant the node computed at.
    pub now: Time,
    /// Totals per asset over `agreements`.
    pub by_asset: Vec<AssetTotalsView>,
    /// The accounts.
    pub agreements: Vec<AccountView>,
    /// The party's standing as a consumer.
    pub standing: StandingView,
    /// More agreements exist than one answer lists.
    pub more: bool,
}

impl From<&PaymentsReport> for PaymentsView {
    fn from(r: &PaymentsReport) -> Self {
        Self {
            party: r.party.to_string(),
            now: r.now.into(),
            by_asset: AssetTotalsView::list(&flashback_types::payments::totals_by_asset(
                r.accounts.iter(),
            )),
            agreements: r.accounts.iter().map(AccountView::from).collect(),
            standing: StandingView::from(&r.standing),
            more: r.more,
        }
    }
}

/// `provider revenue`: a provider's accounts (those it is the provider of), with totals per
/// asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevenueView {
    /// The provider, hex.
    pub provider: String,
    /// The instant the node computed at.
    pub now: Time,
    /// Only agreements that started from then (`--period`).
    pub since: Option<Time>,
    /// Totals per asset over `agreements`.
    pub by_asset: Vec<AssetTotalsView>,
    /// The accounts.
    pub agreements: Vec<AccountView>,
}

impl RevenueView {
    /// The view of `provider`'s `accounts` (already selected) at `now`.
    pub fn new(
        provider: &PublicKey,
        now: Timestamp,
        since: Option<Timestamp>,
        accounts: &[&Account],
    ) -> Self {
        Self {
            provider: provider.to_string(),
            now: now.into(),
            since: since.map(Time::from),
            by_asset: AssetTotalsView::list(&flashback_types::payments::totals_by_asset(
                accounts.iter().copied(),
            )),
            agreements: accounts.iter().map(|a| AccountView::from(*a)).collect(),
        }
    }
}

/// `consumer show`: a consumer's standing and the accounts it is the consumer of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsumerView {
    /// The consumer, hex.
    pub consumer: String,
    /// The instant the node computed at.
    pub now: Time,
    /// Its standing.
    pub standing: StandingView,
    /// The accounts.
    pub agreements: Vec<AccountView>,
}

impl ConsumerView {
    /// The view of `consumer`'s standing and `accounts` at `now`.
    pub fn new(
        consumer: &PublicKey,
        now: Timestamp,
        standing: &ConsumerStanding,
        accounts: &[&Account],
    ) -> Self {
        Self {
            consumer: consumer.to_string(),
            now: now.into(),
            standing: StandingView::from(standing),
            agreements: accounts.iter().map(|a| AccountView::from(*a)).collect(),
        }
    }
}

/// A voucher `pay run` signed and submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PaymentView {
    /// The agreement (its proposal id), hex.
    pub agreement_id: String,
    /// Provider key, hex.
    pub provider: String,
    /// The asset (minor units).
    pub asset: String,
    /// The voucher's cumulative amount.
    pub cumulative: u64,
    /// What this voucher adds to the one before.
    pub this_payment: u64,
    /// The voucher's sequence.
    pub sequence: u64,
    /// The voucher's id, hex.
    pub voucher_id: String,
    /// The node already held it.
    pub duplicate: bool,
}

impl PaymentView {
    /// The view of `voucher`, which follows a best voucher of `paid_before`.
    pub fn new(voucher: &Signed<PaymentVoucher>, paid_before: u64, duplicate: bool) -> Self {
        let v = voucher.body();
        Self {
            agreement_id: v.agreement.to_string(),
            provider: v.provider.to_string(),
            asset: v.asset.as_str().to_owned(),
            cumulative: v.cumulative,
            this_payment: v.cumulative.saturating_sub(paid_before),
            sequence: v.sequence,
            voucher_id: voucher.id().to_string(),
            duplicate,
        }
    }
}

/// A dispute about an agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DisputeView {
    /// The dispute's id, hex.
    pub dispute_id: String,
    /// The agreement (its proposal id), hex.
    pub agreement_id: String,
    /// The party that opened it, hex.
    pub party: String,
    /// The claim.
    pub claim: String,
    /// Ids of the objects offered as evidence, hex.
    pub evidence: Vec<String>,
    /// When signed.
    pub created_at: Time,
    /// Until when nodes keep it.
    pub expires_at: Time,
}

impl From<&Signed<Dispute>> for DisputeView {
    fn from(d: &Signed<Dispute>) -> Self {
        let b = d.body();
        Self {
            dispute_id: d.id().to_string(),
            agreement_id: b.agreement.to_string(),
            party: b.party.to_string(),
            claim: b.claim.as_str().to_owned(),
            evidence: b.evidence.iter().map(|id| id.to_string()).collect(),
            created_at: b.created_at.into(),
            expires_at: b.expires_at.into(),
        }
    }
}

/// An arbiter's ruling on a dispute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RulingView {
    /// The ruling's id, hex.
    pub ruling_id: String,
    /// The dispute ruled on, hex.
    pub dispute_id: String,
    /// The agreement (its proposal id), hex.
    pub agreement_id: String,
    /// The arbiter, hex.
    pub arbiter: String,
    /// Who is right: `consumer` or `provider`.
    pub in_favour_of: String,
    /// The amount due for the whole agreement, minor units of its asset.
    pub amount_due: u64,
    /// Why.
    pub reason: String,
    /// When signed.
    pub created_at: Time,
    /// Until when nodes keep it.
    pub expires_at: Time,
}

impl From<&Signed<Ruling>> for RulingView {
    fn from(r: &Signed<Ruling>) -> Self {
        let b = r.body();
        Self {
            ruling_id: r.id().to_string(),
            dispute_id: b.dispute.to_string(),
            agreement_id: b.agreement.to_string(),
            arbiter: b.arbiter.to_string(),
            in_favour_of: b.in_favour_of.name().to_owned(),
            amount_due: b.amount_due,
            reason: b.reason.as_str().to_owned(),
            created_at: b.created_at.into(),
            expires_at: b.expires_at.into(),
        }
    }
}
