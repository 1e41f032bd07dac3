//! Naming the rule that makes a request infeasible.
//!
//! Rules are added one at a time in a fixed order: distinct providers (and operators), the
//! exploration share, the region cap, region diversity, the loss target, the budget. The rule
//! named is the first whose addition leaves no placement: the rules before it can all be met
//! together, and this one cannot be met with them, so it really binds. Each check is an exact
//! feasibility solve over the pruned options, which is valid for every subset of the rules
//! (see `prune`).

use crate::model::Opt;
use crate::rules::{Finding, Rule};
use crate::selector::{Infeasible, Selector};
use crate::solve::{Goal, Limits, Solution, Start, solve};

/// Why the selector's request has no placement.
pub(crate) fn binding(sel: &Selector<'_>) -> Infeasible {
    if sel.model.failed.iter().all(Option::is_some) {
        return Infeasible {
            finding: Finding::new(
                Rule::Count,
                format!(
                    "no candidate passes the filters ({} given)",
                    sel.cands.len()
                ),
            ),
            cheapest_cost: None,
            best_loss: None,
        };
    }
    stages(sel, &sel.kept, &[], "")
}

/// Why no placement includes candidate `i` (even at a price of zero), among `others`.
pub(crate) fn binding_with(sel: &Selector<'_>, i: usize, others: &[Opt]) -> Infeasible {
    let pre: Vec<Opt> = sel
        .options_with_ids(i)
        .into_iter()
        .map(|mut o| {
            (o.cost, o.weight) = (0, sel.model.weight(&sel.cands[i], 0, o.penalty));
            o
        })
        .collect();
    stages(sel, others, &pre, "with it, even free: ")
}

/// The best placement of `opts` (including one of `pre`, when given) for `goal`.
fn best(opts: &[Opt], pre: &[Opt], limits: &Limits, goal: Goal, any: bool) -> Option<Solution> {
    if pre.is_empty() {
        return solve(
            opts,
            limits,
            goal,
            Start {
                any,
                ..Start::default()
            },
        );
    }
    let mut best: Option<Solution> = None;
    for p in pre {
        if let Some(s) = solve(
            opts,
            limits,
            goal,
            Start {
                pre: Some(p),
                any,
                ..Start::default()
            },
        ) && best.as_ref().is_none_or(|b| s.better(b, goal))
        {
            best = Some(s);
        }
    }
    best
}

fn stages(sel: &Selector<'_>, opts: &[Opt], pre: &[Opt], prefix: &str) -> Infeasible {
    let full = sel.limits;
    let picks = full.picks;
    let mut limits = Limits {
        max_per_region: picks,
        min_regions: 0,
        max_unrated: None,
        loss_target: None,
        budget: None,
        ..full
    };
    let all: Vec<&Opt> = opts.iter().chain(pre).collect();
    let distinct = |key: fn(&Opt) -> u32| {
        let mut v: Vec<u32> = all.iter().map(|o| key(o)).collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    let feasible = |l: &Limits| best(opts, pre, l, Goal::Cost, true).is_some();
    let found = |rule: Rule, detail: String| Infeasible {
        finding: Finding::new(rule, format!("{prefix}{detail}")),
        cheapest_cost: None,
        best_loss: None,
    };

    if !feasible(&limits) {
        let providers = distinct(|o| o.provider);
        let detail = if sel.model.any_operator {
            format!(
                "no {picks} candidates with distinct providers and operators pass the filters ({providers} distinct providers)"
            )
        } else {
            format!("only {providers} distinct providers pass the filters, {picks} required")
        };
        return found(Rule::Count, detail);
    }
    limits.max_unrated = full.max_unrated;
    if !feasible(&limits) {
        let rated = all.iter().filter(|o| o.rated).count();
        return found(
            Rule::Exploration,
            format!(
                "only {rated} rated candidates pass the filters and at most {} unrated picks are allowed, {picks} required",
                full.max_unrated.unwrap_or(0)
            ),
        );
    }
    limits.max_per_region = full.max_per_region;
    if !feasible(&limits) {
        let mut per_region: Vec<(u16, u32)> = all.iter().map(|o| (o.region, o.provider)).collect();
        per_region.sort_unstable();
        per_region.dedup();
        let mut fit = 0;
        let mut k = 0;
        while k < per_region.len() {
            let r = per_region[k].0;
            let n = per_region[k..].iter().take_while(|e| e.0 == r).count();
            fit += n.min(full.max_per_region);
            k += n;
        }
        let regions = distinct(|o| u32::from(o.region));
        let detail = if fit < picks {
            format!(
                "at most {fit} picks fit with at most {} per region over {regions} regions, {picks} required",
                full.max_per_region
            )
        } else {
            format!(
                "no {picks} picks with distinct providers fit with at most {} per region ({regions} regions pass the filters)",
                full.max_per_region
            )
        };
        return found(Rule::MaxPerRegion, detail);
    }
    limits.min_regions = full.min_regions;
    if !feasible(&limits) {
        let regions = distinct(|o| u32::from(o.region));
        let detail = if regions < full.min_regions {
            format!(
                "only {regions} distinct regions pass the filters, {} required",
                full.min_regions
            )
        } else {
            format!(
                "no {picks} picks span {} regions under the other rules ({regions} regions pass the filters)",
                full.min_regions
            )
        };
        return found(Rule::MinRegions, detail);
    }
    if let Some(target) = full.loss_target {
        limits.loss_target = Some(target);
        if !feasible(&limits) {
            let without = Limits {
                loss_target: None,
                ..limits
            };
            let best_loss = best(opts, pre, &without, Goal::Loss, false).map(|s| s.loss);
            let mut out = found(
                Rule::LossTarget,
                format!(
                    "loss probability target {target:.3e} unreachable: best achievable is {:.3e}",
                    best_loss.unwrap_or(1.0)
                ),
            );
            out.best_loss = best_loss;
            return out;
        }
    }
    if let Some(budget) = full.budget {
        let cheapest = best(opts, pre, &limits, Goal::Cost, false).map(|s| s.cost);
        let mut out = found(
            Rule::Budget,
            format!(
                "cheapest feasible set costs {} > budget {budget} (minor units)",
                cheapest.unwrap_or(u64::MAX)
            ),
        );
        out.cheapest_cost = cheapest;
        return out;
    }
    // Every rule alone was met: only reachable if the solver and this check disagree.
    found(
        Rule::Count,
        "no placement meets every rule together".to_owned(),
    )
}
