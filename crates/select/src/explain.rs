//! Explanations: why a candidate was picked or not, and the price at which it would be.
//!
//! **Price to win** is the highest unit price at which the candidate would be in the answer
//! for this request and seed, every other candidate unchanged. A pick's price enters the
//! objective through its total cost only, and a higher price never helps a candidate (its
//! weight rises and the budget left for the others shrinks), so "picked at price `p`" is
//! monotone in `p` and the answer is a threshold:
//!
//! - Without a binding budget it comes from **one more solve**: the best placement that must
//!   include the candidate, priced at zero, costs the others `R`; the candidate wins while its
//!   own weight plus `R` stays below the best placement without it, which gives the highest
//!   total cost in closed form, and then the highest unit price whose total (rounded up as
//!   [`flashback_types::Price::total`] rounds) stays within it. When the budget the others
//!   leave is larger than that total, the closed form is exact: no other set of companions can
//!   do better than the cheapest.
//! - When the budget binds first (the companions that make it cheapest leave too little
//!   budget), or for the availability objective, the threshold is found by **bisection** over
//!   the total cost, each step one forced solve; exact, since the predicate is monotone.
//!
//! The best placement without the candidate is the answer itself when the candidate is not
//! picked, and one solve without it otherwise.

use flashback_types::{GIB, HOUR_SECS, MONTH_SECS, ObjectId, PriceUnit, PublicKey};
use serde::{Deserialize, Serialize};

use crate::loss::loss_of_downtimes;
use crate::model::{NO_OPERATOR, Opt, filter_finding, pct};
use crate::prune::{Disjoint, certificate};
use crate::rules::{Finding, Rule};
use crate::selector::{Pick, Selector, Verdict};
use crate::solve::{Goal, Solution, Start};

/// The highest price at which a candidate would be picked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PriceToWin {
    /// Picked at any unit price up to and including `amount` (minor units of the request's
    /// asset per pricing unit, like the offer's own price).
    AtMost {
        /// The highest unit price.
        amount: u64,
    },
    /// Picked at any price: no placement meets the request without it, and no budget caps it.
    AnyPrice,
    /// No price gets it picked.
    Never {
        /// Why: the filter it fails, or what still stops it at a price of zero.
        finding: Finding,
    },
}

/// Everything about one candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// Index in the caller's slice.
    pub candidate: usize,
    /// Its offer.
    pub offer: ObjectId,
    /// Its provider.
    pub provider: PublicKey,
    /// In brief.
    pub verdict: Verdict,
    /// Its cost for this request, when it passed the filters.
    pub cost: Option<u64>,
    /// The pick, when picked (cost share, contribution to the loss probability).
    pub pick: Option<Pick>,
    /// The filter it failed, or the rules that swapping it in would break, with their values.
    pub findings: Vec<Finding>,
    /// When dominated: the candidates that dominate it in its region.
    pub dominated_by: Vec<usize>,
    /// The highest price at which it would be picked.
    pub price_to_win: PriceToWin,
}

impl Selector<'_> {
    /// Explains candidate `i` (`None` when out of range): verdict, details and price to win.
    pub fn explain(&self, i: usize) -> Option<Explanation> {
        let c = self.cands.get(i)?;
        let verdict = self.verdict(i);
        let mut findings = Vec::new();
        let mut dominated_by = Vec::new();
        match &verdict {
            Verdict::Excluded { rule } => {
                findings.push(filter_finding(self.req, c, self.model.share, *rule));
            }
            Verdict::Dominated => dominated_by = self.dominators(i),
            Verdict::Lost { .. } => findings = self.swap_findings(i),
            Verdict::Picked { .. } | Verdict::Unplaced => {}
        }
        let pick = self
            .placement()
            .and_then(|p| p.picks.into_iter().find(|p| p.candidate == i));
        Some(Explanation {
            candidate: i,
            offer: c.offer,
            provider: c.provider,
            cost: self.model.options_of(i as u32).next().map(|o| o.cost),
            verdict,
            pick,
            findings,
            dominated_by,
            price_to_win: self.price_to_win(i),
        })
    }

    /// Candidates that dominate candidate `i` in the region of its first option.
    fn dominators(&self, i: usize) -> Vec<usize> {
        let Some(o) = self.model.options_of(i as u32).next() else {
            return Vec::new();
        };
        let opts = &self.model.opts;
        let mut pool: Vec<u32> = (0..opts.len() as u32)
            .filter(|&k| {
                let x = &opts[k as usize];
                x.region == o.region && self.cand_kept[x.cand as usize]
            })
            .collect();
        pool.sort_by_key(|&k| (opts[k as usize].down, opts[k as usize].weight));
        let mut out = Vec::new();
        certificate(
            opts,
            self.cands,
            &self.crit,
            &pool,
            o,
            &mut Disjoint::default(),
            Some(&mut out),
        );
        out.into_iter()
            .map(|k| opts[k as usize].cand as usize)
            .collect()
    }

    /// For a candidate that passed the filters but was not picked: the rules each swap of it
    /// for a pick it would improve on would break, with their values (one finding per rule,
    /// from the swap that would save the most). Empty when it improves on no pick.
    pub(crate) fn swap_findings(&self, i: usize) -> Vec<Finding> {
        let Some(chosen) = &self.chosen else {
            return Vec::new();
        };
        let mut out: Vec<Finding> = Vec::new();
        let mut picks: Vec<usize> = (0..chosen.picks.len()).collect();
        picks.sort_by_key(|&j| std::cmp::Reverse(chosen.picks[j].weight));
        for x in self.options_with_ids(i) {
            for &j in &picks {
                let mut set: Vec<Opt> = chosen.picks.clone();
                set[j] = x;
                let swapped = self.evaluate(&set);
                if !swapped.better(chosen, self.goal) {
                    continue;
                }
                for f in self.broken(&set, j) {
                    if !out.iter().any(|o| o.rule == f.rule) {
                        out.push(f);
                    }
                }
            }
        }
        out
    }

    fn evaluate(&self, set: &[Opt]) -> Solution {
        let mut downs: Vec<u16> = set.iter().map(|o| o.down).collect();
        Solution {
            picks: set.to_vec(),
            weight: set.iter().map(|o| o.weight).sum(),
            cost: set.iter().fold(0u64, |a, o| a.saturating_add(o.cost)),
            loss: loss_of_downtimes(&mut downs, self.limits.needed),
        }
    }

    /// The rules `set` breaks, where `set[new]` is the candidate swapped in.
    fn broken(&self, set: &[Opt], new: usize) -> Vec<Finding> {
        let x = &set[new];
        let rest = set
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != new)
            .map(|(_, o)| o);
        let region = &self.model.regions[usize::from(x.region)];
        let mut out = Vec::new();
        if let Some(other) = rest.clone().find(|o| o.provider == x.provider) {
            out.push(Finding::new(
                Rule::OneProvider,
                format!(
                    "its provider already has a pick (offer {})",
                    self.cands[other.cand as usize].offer.fmt_short()
                ),
            ));
        }
        if x.operator != NO_OPERATOR && rest.clone().any(|o| o.operator == x.operator) {
            out.push(Finding::new(
                Rule::OneOperator,
                "its operator already has a pick",
            ));
        }
        let in_region = rest.clone().filter(|o| o.region == x.region).count();
        if in_region >= self.limits.max_per_region {
            out.push(Finding::new(
                Rule::MaxPerRegion,
                format!(
                    "region {region} already has {in_region} picks (max {})",
                    self.limits.max_per_region
                ),
            ));
        }
        let mut regions: Vec<u16> = set.iter().map(|o| o.region).collect();
        regions.sort_unstable();
        regions.dedup();
        if regions.len() < self.limits.min_regions {
            out.push(Finding::new(
                Rule::MinRegions,
                format!(
                    "with it the picks span {} regions (min {})",
                    regions.len(),
                    self.limits.min_regions
                ),
            ));
        }
        if let Some(max) = self.limits.max_unrated {
            let unrated = set.iter().filter(|o| !o.rated).count();
            if unrated > max {
                out.push(Finding::new(
                    Rule::Exploration,
                    format!("with it {unrated} picks are unrated (max {max})"),
                ));
            }
        }
        let s = self.evaluate(set);
        if let Some(t) = self.limits.loss_target
            && s.loss > t
        {
            out.push(Finding::new(
                Rule::LossTarget,
                format!(
                    "its availability is {} %: with it the loss probability would be {:.3e} > target {:.3e}",
                    pct(crate::loss::FULL_BP - x.down),
                    s.loss,
                    t
                ),
            ));
        }
        if let Some(b) = self.limits.budget
            && s.cost > b
        {
            out.push(Finding::new(
                Rule::Budget,
                format!("with it the total would be {} > budget {b}", s.cost),
            ));
        }
        out
    }

    /// The highest unit price at which candidate `i` would be picked (see the module docs).
    pub fn price_to_win(&self, i: usize) -> PriceToWin {
        let Some(c) = self.cands.get(i) else {
            return PriceToWin::Never {
                finding: Finding::new(Rule::Count, "no such candidate"),
            };
        };
        if let Some(Some(rule)) = self.model.failed.get(i) {
            return PriceToWin::Never {
                finding: filter_finding(self.req, c, self.model.share, *rule),
            };
        }
        let others = self.others(i);
        let picked = self
            .chosen
            .as_ref()
            .is_some_and(|s| s.picks.iter().any(|o| o.cand as usize == i));
        let without: Option<Solution> = if picked || self.chosen.is_none() {
            crate::solve::solve(&others, &self.limits, self.goal, Start::default())
        } else {
            self.chosen.clone()
        };
        let wins = |cost: u64| -> bool {
            self.forced(i, &others, Some(cost), &self.limits)
                .is_some_and(|f| without.as_ref().is_none_or(|b| f.better(b, self.goal)))
        };
        let Some(free) = self.forced(i, &others, Some(0), &self.limits) else {
            return PriceToWin::Never {
                finding: crate::diagnose::binding_with(self, i, &others).finding,
            };
        };
        if !without.as_ref().is_none_or(|b| free.better(b, self.goal)) {
            let detail = match self.goal {
                Goal::Loss => {
                    "even free, the placements that include it lose more often or cost more than the picks"
                }
                _ => "even free, every placement that includes it costs more than the picks",
            };
            return PriceToWin::Never {
                finding: Finding::new(Rule::Dominated, detail),
            };
        }
        // The others' weight and cost in the best placement with it at price zero.
        let penalty = self.options_with_ids(i).first().map_or(0, |o| o.penalty);
        let own = self.model.weight(c, 0, penalty);
        let others_weight = free.weight - own;
        let budget_cap = self.req.budget.map(|b| b.saturating_sub(free.cost));
        let weight_cap: Option<u64> = match (&without, self.goal) {
            (None, _) => None,
            // A lower loss wins at any weight: only the budget caps it.
            (Some(b), Goal::Loss) if free.loss < b.loss => None,
            (Some(b), _) => {
                let factor = self.model.factor(c) * self.model.penalty_base;
                let room = b.weight.saturating_sub(1 + own + others_weight);
                Some(u64::try_from(room / factor).unwrap_or(u64::MAX))
            }
        };
        let total = match (weight_cap, budget_cap) {
            (None, None) => return PriceToWin::AnyPrice,
            // The cheapest companions fit the budget up to the weight cap, and no companions
            // do better on weight: exact in closed form.
            (Some(w), None) => w,
            (Some(w), Some(b)) if w <= b => w,
            // The budget binds first with those companions; others may leave more of it:
            // bisect over the total (monotone), from what the cheapest companions allow.
            (w, Some(b)) => {
                let budget = self.req.budget.unwrap_or(u64::MAX);
                let hi = w.map_or(budget, |w| w.min(budget));
                highest(b.min(hi), hi, wins)
            }
        };
        PriceToWin::AtMost {
            amount: unit_price(
                total,
                self.model.share,
                self.req.duration_secs,
                c.price.unit,
            ),
        }
    }
}

/// The highest `t` in `[lo, hi]` with `wins(t)`, given that `wins(lo)` holds and `wins` is
/// non-increasing.
fn highest(mut lo: u64, mut hi: u64, wins: impl Fn(u64) -> bool) -> u64 {
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if wins(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// The highest unit price whose total for `volume` over `duration` (rounded up, as
/// [`flashback_types::Price::total`] does) is at most `total`.
pub(crate) fn unit_price(total: u64, volume: u64, duration: u64, unit: PriceUnit) -> u64 {
    let (per, scale) = match unit {
        PriceUnit::GibMonth => (u128::from(GIB), u128::from(MONTH_SECS)),
        PriceUnit::UnitHour => (1u128, u128::from(HOUR_SECS)),
    };
    // ⌈p·v·d / (per·scale)⌉ ≤ total  ⟺  p·v·d ≤ total·per·scale.
    let den = u128::from(volume) * u128::from(duration);
    if den == 0 {
        return u64::MAX;
    }
    u64::try_from(u128::from(total) * per * scale / den).unwrap_or(u64::MAX)
}
