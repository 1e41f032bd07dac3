//! The payment phase of a run with `[payments]`: once the activity phase is over, every
//! consumer but the non-payers pays what its home node says is due; after convergence each
//! provider's node says what it was due, credited and paid; each non-payer proposes again and
//! must be refused for its payment standing.
//!
//! Billing follows the activity phase ([`Billing::of`]): agreements last ten periods of a
//! quarter of it and start one period before they are proposed, so that several periods end,
//! measured by the probes, whatever `--duration` is.

use std::time::Duration;

use flashback_client::Terms;
use flashback_types::payments::totals_by_asset;
use flashback_types::{Decision, GIB, Offer, Signed};

use super::plan::Plan;
use crate::TestnetError;
use crate::observe::Ctx;
use crate::participants::Setup;
use crate::report::{PaymentConsumerRow, PaymentProviderRow, PaymentRun};
use crate::scenario::{PaymentsSpec, Scenario};

/// Billing periods that end during the activity phase.
const PERIODS_IN_ACTIVITY: u64 = 4;

/// Periods per agreement (the most a short agreement has: `payments::SHORT_AGREEMENT_PERIODS`).
const PERIODS_PER_AGREEMENT: u64 = flashback_types::payments::SHORT_AGREEMENT_PERIODS;

/// What each agreement buys, in GiB-seconds: 2 TiB for ten minutes, a total of tens of cents
/// at the market's prices, so that each period's share is not rounded away however short the
/// periods are.
const AGREEMENT_GIB_SECS: u64 = 2048 * 600;

/// How a payment run's agreements are billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Billing {
    /// One billing period, seconds.
    pub(crate) period_secs: u64,
}

impl Billing {
    /// Billing for an activity phase of `activity`: periods of a quarter of it (at least a
    /// second, the protocol's shortest), so that four end while the probes measure.
    pub(crate) fn of(activity: Duration) -> Self {
        Billing {
            period_secs: (activity.as_secs() / PERIODS_IN_ACTIVITY)
                .max(flashback_types::payments::MIN_PERIOD_SECS),
        }
    }

    /// The volume of a set-up agreement: [`AGREEMENT_GIB_SECS`] over its duration (tens of
    /// TiB for a short run: the testnet's offers hold petabytes).
    pub(crate) fn volume(&self) -> u64 {
        let secs = self.period_secs * PERIODS_PER_AGREEMENT;
        AGREEMENT_GIB_SECS.div_ceil(secs).saturating_mul(GIB)
    }

    /// The terms of an agreement for `volume` proposed now: ten periods, starting one period
    /// ago (the first is delivered, unmeasured, when the activity phase begins).
    pub(crate) fn terms(&self, volume: u64) -> Terms {
        Terms {
            volume,
            duration_secs: self.period_secs * PERIODS_PER_AGREEMENT,
            start: Some(flashback_types::clock::now().saturating_sub(self.period_secs)),
            decide_within: Duration::from_secs(120),
        }
    }
}

/// Plays the payment phase; what went wrong is in the report, not an error of the run.
pub(super) async fn settle(
    ctx: &Ctx,
    s: &Scenario,
    spec: &PaymentsSpec,
    plan: &Plan,
    setup: &Setup,
    mains: &[Signed<Offer>],
) -> PaymentRun {
    let mut run = PaymentRun {
        floor_bp: spec.floor_bp,
        period_secs: Billing::of(s.duration.0).period_secs,
        ..PaymentRun::default()
    };
    if let Err(e) = play(ctx, s, spec, plan, setup, mains, &mut run).await {
        run.error = Some(e.to_string());
    }
    run
}

async fn play(
    ctx: &Ctx,
    s: &Scenario,
    spec: &PaymentsSpec,
    plan: &Plan,
    setup: &Setup,
    mains: &[Signed<Offer>],
    run: &mut PaymentRun,
) -> Result<(), TestnetError> {
    let payers = plan.consumers.len().saturating_sub(spec.non_payers);
    for (i, c) in plan.consumers.iter().enumerate() {
        let client = ctx.client(c.home).await?;
        let paid = if i < payers {
            client.pay_due(&c.key, None).await?
        } else {
            Vec::new()
        };
        run.consumers.push(PaymentConsumerRow {
            consumer: c.key.public().to_string(),
            pays: i < payers,
            vouchers: paid.len(),
            ..PaymentConsumerRow::default()
        });
    }
    ctx.say(format!(
        "{} consumers paid with {} vouchers; {} never pay",
        payers,
        run.consumers.iter().map(|c| c.vouchers).sum::<usize>(),
        plan.consumers.len() - payers
    ));
    let all: Vec<usize> = (0..ctx.nodes()).collect();
    if ctx
        .wait_converged(&all, s.expect.converge_within.0)
        .await
        .is_none()
    {
        return Err(TestnetError::Node(
            "the listings did not converge after the payments".into(),
        ));
    }

    for (k, p) in plan.providers.iter().enumerate() {
        let report = ctx
            .client(p.node)
            .await?
            .payments(p.key.public(), None)
            .await?;
        let mine: Vec<_> = report
            .accounts
            .iter()
            .filter(|a| a.provider == p.key.public())
            .collect();
        let totals = totals_by_asset(mine.iter().copied());
        let t = totals.get("USD").cloned().unwrap_or_default();
        run.providers.push(PaymentProviderRow {
            provider: p.key.public().to_string(),
            node: ctx.name(p.node),
            flaky: p.flaky,
            agreements: mine.len(),
            deals: setup.deals.iter().filter(|d| d.provider == k).count(),
            due: t.due,
            credited: t.credited,
            earned: t.earned,
            paid: t.paid,
            outstanding: t.outstanding,
            overdue: t.overdue,
        });
    }

    // Every consumer's standing at its home node; the non-payers propose again.
    for (i, c) in plan.consumers.iter().enumerate() {
        let client = ctx.client(c.home).await?;
        let standing = client.payments(c.key.public(), None).await?.standing;
        let row = &mut run.consumers[i];
        row.score_bp = standing.score_bp;
        row.in_arrears = standing.in_arrears;
        if row.pays {
            continue;
        }
        let Some(&provider) = c.providers.first() else {
            continue;
        };
        let terms = Billing::of(s.duration.0).terms(GIB);
        let proposal = client.propose(&c.key, &mains[provider], terms).await?;
        let decision = client
            .wait_decision(&proposal, Duration::from_secs(30))
            .await?;
        row.next_proposal = Some(match decision.map(|d| d.body().decision) {
            Some(Decision::Accept) => "accepted".to_owned(),
            Some(Decision::Reject(r)) => r.code().to_owned(),
            None => "no decision".to_owned(),
        });
    }
    Ok(())
}
