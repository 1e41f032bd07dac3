//! Payments on delivery: billing periods, SLA credits, the best voucher, the amount due and a
//! consumer's payment standing, each a pure function of signed objects (decision 0090).
//!
//! Every party (consumer, provider, any third node) computes the same [`Account`] from the same
//! objects, in any order: inputs are deduplicated by id and every choice between objects is a
//! total order on their contents. Nothing here reads a clock; `now` is an argument.
//!
//! - An agreement's total is due in [`billing_periods`]: a period is *delivered* once it has
//!   ended, and its share of the total is then due.
//! - [`credit_bp`]: the SLA credit tier schedule. A period whose measured availability (the
//!   consumer's attestations for the agreement, by the end of their window) is below the
//!   agreed availability has a share of its amount credited back.
//! - [`check_voucher`]: the rules a node applies to a voucher against the agreement and the
//!   best voucher it holds; [`best_voucher`] picks the same one from any set.
//! - A ruling by an arbiter the node trusts fixes the amount due for the agreement; another
//!   arbiter's ruling is shown and changes nothing.
//! - [`ConsumerStanding`]: how a consumer pays across its agreements, with a score a provider's
//!   policy can set a floor on. It takes the *worst* agreement, so agreements a consumer makes
//!   with its own provider keys cannot lift it (decision 0092).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bodies::{
    Dispute, ObjectId, Party, PaymentVoucher, QosAttestation, Ruling, Termination, Timestamp,
};
use crate::composite::Agreement;
use crate::keys::PublicKey;
use crate::signed::Signed;
use crate::validate::{ObjectError, Rule};

/// Seconds in a day.
const DAY: u64 = 24 * 3600;

/// Agreements of this length or more are billed daily.
pub const DAILY_BILLING_FROM_SECS: u64 = 10 * DAY;

/// Shorter agreements are billed in at most this many equal periods.
pub const SHORT_AGREEMENT_PERIODS: u64 = 10;

/// The shortest billing period of a short agreement, seconds: a timestamp's resolution, so
/// that an agreement of ten seconds or more has ten periods (decision 0116). Offers bound how
/// short an agreement may be (`min_duration_secs`).
pub const MIN_PERIOD_SECS: u64 = 1;

/// Most billing periods of one agreement (ten years of days): bounds every computation.
pub const MAX_PERIODS: u64 = 3660;

/// Score points (basis points) a consumer loses per dispute a trusted arbiter ruled against it.
pub const LOST_DISPUTE_PENALTY_BP: u16 = 2500;

/// Score points a consumer loses per agreement it paid late (after the grace period).
pub const LATE_PENALTY_BP: u16 = 500;

/// One billing period of an agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// Position, from 0.
    pub index: u32,
    /// Start (inclusive).
    pub start: Timestamp,
    /// End (exclusive): the period is delivered, and its amount due, from then.
    pub end: Timestamp,
    /// Its share of the total, minor units.
    pub amount: u64,
}

/// The billing periods of an agreement that starts at `start`, lasts `duration_secs` and costs
/// `total`: daily from [`DAILY_BILLING_FROM_SECS`] (at most [`MAX_PERIODS`]), else up to
/// [`SHORT_AGREEMENT_PERIODS`] equal periods of at least [`MIN_PERIOD_SECS`] (one period
/// for an agreement shorter than that). Shares are `total × k / n` cumulatively (rounded
/// down), so they add up to the total exactly.
pub fn billing_periods(start: Timestamp, duration_secs: u64, total: u64) -> Vec<Period> {
    let n = if duration_secs >= DAILY_BILLING_FROM_SECS {
        duration_secs.div_ceil(DAY).min(MAX_PERIODS)
    } else {
        (duration_secs / MIN_PERIOD_SECS).clamp(1, SHORT_AGREEMENT_PERIODS)
    };
    let at = |k: u64| -> u64 {
        let off = u128::from(duration_secs) * u128::from(k) / u128::from(n);
        start.saturating_add(u64::try_from(off).unwrap_or(u64::MAX))
    };
    let cum = |k: u64| -> u64 {
        let c = u128::from(total) * u128::from(k) / u128::from(n);
        u64::try_from(c).unwrap_or(u64::MAX)
    };
    (0..n)
        .map(|k| Period {
            index: u32::try_from(k).unwrap_or(u32::MAX),
            start: at(k),
            end: at(k + 1),
            amount: cum(k + 1) - cum(k),
        })
        .collect()
}

/// The SLA credit, in basis points of a period's amount, for a period measured at
/// `measured_bp` availability under an agreement promising `agreed_bp`: nothing at or above
/// the agreed availability; below it 10 %, below 99 % 25 %, below 95 % 50 %, below 90 % the
/// whole period (decision 0091).
pub fn credit_bp(agreed_bp: u16, measured_bp: u16) -> u16 {
    if measured_bp >= agreed_bp {
        0
    } else if measured_bp < 9000 {
        10_000
    } else if measured_bp < 9500 {
        5000
    } else if measured_bp < 9900 {
        2500
    } else {
        1000
    }
}

/// Checks a voucher against the agreement it names and the best voucher held for that
/// agreement (`best`, if any): the signer is the agreement's consumer, the provider and asset
/// are the agreement's, the cumulative amount is within the total, and it beats `best`
/// ([`voucher_order`]). The voucher's signature and field rules were checked when it was
/// decoded.
pub fn check_voucher(
    voucher: &Signed<PaymentVoucher>,
    agreement: Option<&Agreement>,
    best: Option<&Signed<PaymentVoucher>>,
) -> Result<(), ObjectError> {
    let v = voucher.body();
    let Some(agreement) = agreement else {
        return Err(ObjectError::new(
            Rule::UnknownAgreement,
            format!("agreement {} is not known here", v.agreement),
        ));
    };
    check_voucher_terms(v, agreement)?;
    if let Some(best) = best
        && voucher_order(voucher) <= voucher_order(best)
    {
        return Err(ObjectError::new(
            Rule::NotNewer,
            format!(
                "a voucher with cumulative {} (sequence {}) is held for agreement {}: only a \
                 higher one counts",
                best.body().cumulative,
                best.body().sequence,
                best.body().agreement
            ),
        ));
    }
    Ok(())
}

/// The agreement rules of a voucher (all of [`check_voucher`] but the comparison with the best
/// held): what decides whether a voucher counts at all.
pub fn check_voucher_terms(v: &PaymentVoucher, agreement: &Agreement) -> Result<(), ObjectError> {
    let proposal = agreement.proposal().body();
    if v.agreement != agreement.proposal_id() {
        return Err(ObjectError::new(
            Rule::UnknownAgreement,
            format!("the voucher is for agreement {}", v.agreement),
        ));
    }
    if &v.consumer != agreement.consumer() {
        return Err(ObjectError::new(
            Rule::NotAParty,
            format!(
                "signed by {}, but the consumer of agreement {} is {}",
                v.consumer,
                v.agreement,
                agreement.consumer()
            ),
        ));
    }
    if &v.provider != agreement.provider() {
        return Err(ObjectError::new(
            Rule::NotAParty,
            format!(
                "names provider {}, but the provider of agreement {} is {}",
                v.provider,
                v.agreement,
                agreement.provider()
            ),
        ));
    }
    if v.asset != proposal.price.asset {
        return Err(ObjectError::new(
            Rule::AssetMismatch,
            format!(
                "pays in {}, but agreement {} is priced in {}",
                v.asset.as_str(),
                v.agreement,
                proposal.price.asset.as_str()
            ),
        ));
    }
    if v.cumulative > proposal.total {
        return Err(ObjectError::new(
            Rule::AboveTotal,
            format!(
                "cumulative {} is above the agreement's total {}",
                v.cumulative, proposal.total
            ),
        ));
    }
    Ok(())
}

/// The order in which vouchers of one agreement beat each other: the higher cumulative amount,
/// then the higher sequence, then the higher id (a total order, so every node keeps the same
/// one whatever order they arrive in).
pub fn voucher_order(v: &Signed<PaymentVoucher>) -> (u64, u64, ObjectId) {
    (v.body().cumulative, v.body().sequence, v.id())
}

/// The best of `vouchers` that counts for `agreement` ([`check_voucher_terms`]), by
/// [`voucher_order`].
pub fn best_voucher<'a>(
    agreement: &Agreement,
    vouchers: impl IntoIterator<Item = &'a Signed<PaymentVoucher>>,
) -> Option<&'a Signed<PaymentVoucher>> {
    vouchers
        .into_iter()
        .filter(|v| check_voucher_terms(v.body(), agreement).is_ok())
        .max_by_key(|v| voucher_order(v))
}

/// Whether `dispute` counts for `agreement`: it names it and its signer is one of its parties.
pub fn dispute_counts(dispute: &Dispute, agreement: &Agreement) -> bool {
    dispute.agreement == agreement.proposal_id()
        && (&dispute.party == agreement.consumer() || &dispute.party == agreement.provider())
}

/// The order in which trusted rulings on one agreement supersede each other: the later
/// `created_at`, then the higher id. The greatest is the ruling in force (for the amount due
/// and for both parties' reputations).
pub fn ruling_order(created_at: Timestamp, id: ObjectId) -> (Timestamp, ObjectId) {
    (created_at, id)
}

/// What the objects about an agreement say, from which [`Account::of`] computes.
#[derive(Debug, Clone, Copy)]
pub struct Objects<'a> {
    /// Attestations (those of the agreement's consumer about its provider under this agreement
    /// count; others are ignored).
    pub attestations: &'a [Signed<QosAttestation>],
    /// Vouchers (the best that counts is taken).
    pub vouchers: &'a [Signed<PaymentVoucher>],
    /// Terminations (the earliest that ends the agreement counts: periods starting after it
    /// are not due).
    pub terminations: &'a [Signed<Termination>],
    /// Disputes (those that count for the agreement).
    pub disputes: &'a [Signed<Dispute>],
    /// Rulings (those on a dispute that counts, by a key `is_arbiter` accepts, count; the
    /// latest by `created_at`, then id, wins).
    pub rulings: &'a [Signed<Ruling>],
}

/// How one billing period went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodLine {
    /// The period.
    pub period: Period,
    /// Whether it has ended (and is due).
    pub delivered: bool,
    /// Availability measured by the consumer's attestations ending in it, basis points
    /// (`None`: nothing measured, no credit).
    pub measured_bp: Option<u16>,
    /// Credit tier applied ([`credit_bp`]).
    pub credit_bp: u16,
    /// Amount credited back, minor units.
    pub credited: u64,
}

/// A trusted ruling in force on an agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulingInForce {
    /// The ruling's id.
    pub id: ObjectId,
    /// Its arbiter.
    pub arbiter: PublicKey,
    /// Who is right.
    pub in_favour_of: Party,
    /// The amount due it fixes (capped at the total).
    pub amount_due: u64,
    /// When it was signed.
    pub created_at: Timestamp,
}

/// What an agreement owes, computed by [`Account::of`]. Amounts are in `asset`'s minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The agreement.
    pub agreement: ObjectId,
    /// Its consumer.
    pub consumer: PublicKey,
    /// Its provider.
    pub provider: PublicKey,
    /// The asset.
    pub asset: String,
    /// The agreement's total.
    pub total: u64,
    /// When service starts.
    pub start: Timestamp,
    /// When service ends (as agreed; a termination ends billing earlier).
    pub end: Timestamp,
    /// Share of the total of the delivered periods.
    pub due: u64,
    /// SLA credits on the delivered periods.
    pub credited: u64,
    /// What the consumer owes so far: `due − credited`, or the trusted ruling's amount.
    pub net_due: u64,
    /// The best voucher's cumulative amount.
    pub paid: u64,
    /// The best voucher's id.
    pub best_voucher: Option<ObjectId>,
    /// The best voucher's sequence (0 without one): the next voucher takes a higher one.
    pub paid_sequence: u64,
    /// `net_due − paid` (never negative).
    pub outstanding: u64,
    /// What is still unpaid of what was due a grace period (one billing period) ago.
    pub overdue: u64,
    /// The best voucher was signed after the grace period of the last period it pays for.
    pub paid_late: bool,
    /// The trusted ruling in force, if any.
    pub ruling: Option<RulingInForce>,
    /// Disputes about the agreement (by its parties).
    pub disputes: u32,
    /// Rulings on them by arbiters this computation does not trust (recorded, no effect).
    pub untrusted_rulings: u32,
    /// The periods.
    pub periods: Vec<PeriodLine>,
}

impl Account {
    /// The account of `agreement` at `now` from `objects`; `is_arbiter` says which ruling
    /// signers count (the node's trust store: the `arbiter` role).
    pub fn of(
        agreement: &Agreement,
        objects: Objects<'_>,
        is_arbiter: impl Fn(&PublicKey) -> bool,
        now: Timestamp,
    ) -> Account {
        let id = agreement.proposal_id();
        let p = agreement.proposal().body();
        let (consumer, provider) = (*agreement.consumer(), *agreement.provider());

        let ended_at = dedup(objects.terminations)
            .filter(|t| t.body().ends(agreement))
            .map(|t| t.body().created_at)
            .min();
        // Attestation totals per period, each attestation once.
        let periods = billing_periods(p.start, p.duration_secs, p.total);
        let mut measured: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        for a in dedup(objects.attestations) {
            let b = a.body();
            if b.attester != consumer || b.subject != provider || b.agreement != Some(id) {
                continue;
            }
            if let Some(period) = periods
                .iter()
                .find(|per| per.start < b.window_end && b.window_end <= per.end)
            {
                let slot = measured.entry(period.index).or_default();
                slot.0 += u64::from(b.probes);
                slot.1 += u64::from(b.successes);
            }
        }
        let lines: Vec<PeriodLine> = periods
            .iter()
            .map(|&period| {
                let measured_bp = measured
                    .get(&period.index)
                    .filter(|(probes, _)| *probes > 0)
                    .map(|(probes, ok)| {
                        u16::try_from(ok.saturating_mul(10_000) / probes).unwrap_or(10_000)
                    });
                let tier = measured_bp.map_or(0, |m| credit_bp(p.qos.availability_bp, m));
                let credited = u64::try_from(u128::from(period.amount) * u128::from(tier) / 10_000)
                    .unwrap_or(0);
                PeriodLine {
                    period,
                    delivered: false,
                    measured_bp,
                    credit_bp: tier,
                    credited,
                }
            })
            .collect();

        let disputes: BTreeMap<ObjectId, &Signed<Dispute>> = dedup(objects.disputes)
            .filter(|d| dispute_counts(d.body(), agreement))
            .map(|d| (d.id(), d))
            .collect();
        let mut untrusted_rulings = 0;
        let mut ruling: Option<&Signed<Ruling>> = None;
        for r in dedup(objects.rulings) {
            let b = r.body();
            if b.agreement != id || !disputes.contains_key(&b.dispute) {
                continue;
            }
            if !is_arbiter(&b.arbiter) {
                untrusted_rulings += 1;
                continue;
            }
            if ruling.is_none_or(|held| {
                ruling_order(b.created_at, r.id()) > ruling_order(held.created_at(), held.id())
            }) {
                ruling = Some(r);
            }
        }
        let ruling = ruling.map(|r| RulingInForce {
            id: r.id(),
            arbiter: r.body().arbiter,
            in_favour_of: r.body().in_favour_of,
            amount_due: r.body().amount_due.min(p.total),
            created_at: r.body().created_at,
        });

        let best = best_voucher(agreement, dedup(objects.vouchers));
        let paid = best.map_or(0, |v| v.body().cumulative);

        // What is due at `t`: the periods ended by then (and begun before a termination), less
        // their credits, unless a trusted ruling signed by then fixes it.
        let owed_at = |t: Timestamp| -> (u64, u64, u64) {
            let (mut due, mut credited) = (0u64, 0u64);
            for line in &lines {
                let counts = ended_at.is_none_or(|end| line.period.start < end);
                if line.period.end <= t && counts {
                    due = due.saturating_add(line.period.amount);
                    credited = credited.saturating_add(line.credited);
                }
            }
            let net = match &ruling {
                Some(r) if r.created_at <= t => r.amount_due,
                _ => due.saturating_sub(credited),
            };
            (due, credited, net)
        };
        let grace = periods.first().map_or(0, |per| per.end - per.start);
        let (due, credited, net_due) = owed_at(now);
        let (_, _, net_due_before_grace) = owed_at(now.saturating_sub(grace));

        // Late: the best voucher was signed after the grace period of the last period it
        // covers in full.
        let paid_late = best.is_some_and(|v| {
            let signed_at = v.body().created_at;
            let mut covered_end = None;
            let mut cum = 0u64;
            for line in &lines {
                cum = cum.saturating_add(line.period.amount - line.credited);
                if cum > v.body().cumulative {
                    break;
                }
                covered_end = Some(line.period.end);
            }
            covered_end.is_some_and(|end| signed_at > end.saturating_add(grace))
        });

        let lines = lines
            .into_iter()
            .map(|mut line| {
                line.delivered =
                    line.period.end <= now && ended_at.is_none_or(|end| line.period.start < end);
                line
            })
            .collect();
        Account {
            agreement: id,
            consumer,
            provider,
            asset: p.price.asset.as_str().to_owned(),
            total: p.total,
            start: p.start,
            end: p.end(),
            due,
            credited,
            net_due,
            paid,
            best_voucher: best.map(Signed::id),
            paid_sequence: best.map_or(0, |v| v.body().sequence),
            outstanding: net_due.saturating_sub(paid),
            // A ruling signed within the grace period may have lowered what is owed since.
            overdue: net_due_before_grace.min(net_due).saturating_sub(paid),
            paid_late,
            ruling,
            disputes: u32::try_from(disputes.len()).unwrap_or(u32::MAX),
            untrusted_rulings,
            periods: lines,
        }
    }

    /// The amount the consumer's client should promise now: the cumulative amount due, if it
    /// is above what the best voucher already pays.
    pub fn to_pay(&self) -> Option<u64> {
        (self.net_due > self.paid).then_some(self.net_due)
    }
}

/// Each object once (by id), in id order: what makes every result independent of input order
/// and repetition.
fn dedup<'a, T: crate::signed::SignedBody>(
    objects: &'a [Signed<T>],
) -> impl Iterator<Item = &'a Signed<T>> + 'a {
    let by_id: BTreeMap<ObjectId, &'a Signed<T>> = objects.iter().map(|o| (o.id(), o)).collect();
    by_id.into_values()
}

/// How a consumer pays, over the accounts of its agreements (decision 0092).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConsumerStanding {
    /// Agreements counted.
    pub agreements: u32,
    /// Agreements with nothing overdue.
    pub current: u32,
    /// Agreements with an amount overdue.
    pub in_arrears: u32,
    /// Agreements whose best voucher came after the grace period.
    pub paid_late: u32,
    /// Disputes ruled against the consumer by a trusted arbiter.
    pub disputes_lost: u32,
    /// Disputes ruled for the consumer by a trusted arbiter.
    pub disputes_won: u32,
    /// The lowest share paid of what was overdue-able, over its agreements, basis points.
    pub worst_paid_bp: u16,
    /// The score, basis points (10 000 = pays everything on time, no dispute lost):
    /// `worst_paid_bp`, less [`LATE_PENALTY_BP`] per late agreement and
    /// [`LOST_DISPUTE_PENALTY_BP`] per dispute lost, floored at 0.
    pub score_bp: u16,
}

impl ConsumerStanding {
    /// The standing of the consumer whose accounts these are. Only the worst agreement and
    /// penalties count, so more agreements (with the consumer's own provider keys, say) cannot
    /// raise the score.
    pub fn of<'a>(accounts: impl IntoIterator<Item = &'a Account>) -> ConsumerStanding {
        let mut s = ConsumerStanding {
            worst_paid_bp: 10_000,
            ..Default::default()
        };
        for a in accounts {
            s.agreements += 1;
            if a.overdue > 0 {
                s.in_arrears += 1;
                let owed = a.overdue.saturating_add(a.paid);
                let share = u128::from(a.paid) * 10_000 / u128::from(owed.max(1));
                s.worst_paid_bp = s.worst_paid_bp.min(u16::try_from(share).unwrap_or(0));
            } else {
                s.current += 1;
            }
            s.paid_late += u32::from(a.paid_late);
            match a.ruling.as_ref().map(|r| r.in_favour_of) {
                Some(Party::Provider) => s.disputes_lost += 1,
                Some(Party::Consumer) => s.disputes_won += 1,
                None => {}
            }
        }
        let penalty = u32::from(LATE_PENALTY_BP) * s.paid_late
            + u32::from(LOST_DISPUTE_PENALTY_BP) * s.disputes_lost;
        s.score_bp = u16::try_from(u32::from(s.worst_paid_bp).saturating_sub(penalty)).unwrap_or(0);
        s
    }
}

/// Per asset totals over accounts (what `provider revenue` and `pay status` add up).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AssetTotals {
    /// Share of totals delivered.
    pub due: u64,
    /// SLA credits.
    pub credited: u64,
    /// Net due (after credits and rulings): what was earned.
    pub earned: u64,
    /// Paid (best vouchers).
    pub paid: u64,
    /// Outstanding.
    pub outstanding: u64,
    /// Overdue.
    pub overdue: u64,
}

/// Sums accounts per asset, never across assets.
pub fn totals_by_asset<'a>(
    accounts: impl IntoIterator<Item = &'a Account>,
) -> BTreeMap<String, AssetTotals> {
    let mut out: BTreeMap<String, AssetTotals> = BTreeMap::new();
    for a in accounts {
        let t = out.entry(a.asset.clone()).or_default();
        t.due = t.due.saturating_add(a.due);
        t.credited = t.credited.saturating_add(a.credited);
        t.earned = t.earned.saturating_add(a.net_due);
        t.paid = t.paid.saturating_add(a.paid);
        t.outstanding = t.outstanding.saturating_add(a.outstanding);
        t.overdue = t.overdue.saturating_add(a.overdue);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_add_up_to_the_total() {
        for (duration, total) in [(600, 1000), (59, 7), (30 * DAY, 12345), (3 * DAY, 1)] {
            let periods = billing_periods(1000, duration, total);
            assert_eq!(periods.iter().map(|p| p.amount).sum::<u64>(), total);
            assert_eq!(periods.first().map(|p| p.start), Some(1000));
            assert_eq!(periods.last().map(|p| p.end), Some(1000 + duration));
        }
        assert_eq!(billing_periods(0, 600, 100).len(), 10);
        assert_eq!(billing_periods(0, 30 * DAY, 100).len(), 30);
    }

    #[test]
    fn credit_tiers() {
        assert_eq!(credit_bp(9990, 9990), 0);
        assert_eq!(credit_bp(9990, 9950), 1000);
        assert_eq!(credit_bp(9990, 9800), 2500);
        assert_eq!(credit_bp(9990, 9400), 5000);
        assert_eq!(credit_bp(9990, 8000), 10_000);
        // Below lower thresholds but at the agreed level: no credit.
        assert_eq!(credit_bp(9000, 9200), 0);
    }
}
