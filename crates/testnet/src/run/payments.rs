//! The payment phase of a run with `[payments]`: once the activity phase is over, every
//! consumer but the non-payers pays what its home node says is due; after convergence each
//! provider's node says what it was due, credited and paid; each non-payer proposes again and
//! must be refused for its payment standing.

use std::time::Duration;

use flashback_client::Terms;
use flashback_types::payments::totals_by_asset;
use flashback_types::{Decision, GIB, Offer, Signed};

use super::plan::Plan;
use crate::TestnetError;
use crate::observe::Ctx;
use crate::participants::{BILLED_DURATION_SECS, Setup};
use crate::report::{PaymentConsumerRow, PaymentProviderRow, PaymentRun};
use crate::scenario::{PaymentsSpec, Scenario};

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
        let terms = Terms {
            volume: GIB,
            duration_secs: BILLED_DURATION_SECS,
            start: None,
            decide_within: Duration::from_secs(60),
        };
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
