//! [`Selector`]: a request over a set of candidates, filtered, pruned and solved once, ready
//! to report the placement and explain any candidate.

use std::collections::HashMap;

use flashback_types::{ObjectId, PublicKey, ShortText};
use serde::{Deserialize, Serialize};

use crate::candidate::Candidate;
use crate::loss::loss_of_downtimes;
use crate::model::{Model, NO_OPERATOR, Opt};
use crate::prune::{Criteria, prune};
use crate::request::{Objective, Request};
use crate::rules::{Finding, Rule};
use crate::solve::{Goal, Limits, Solution, Start, solve};
use crate::{SelectError, diagnose};

/// Provider id given to a candidate none of the kept options shares a provider with.
const FRESH: u32 = u32::MAX - 1;

/// One pick of a placement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pick {
    /// Index of the candidate in the caller's slice.
    pub candidate: usize,
    /// Its offer.
    pub offer: ObjectId,
    /// Its provider.
    pub provider: PublicKey,
    /// The region it is placed in.
    pub region: ShortText,
    /// What this pick costs for the request's volume share and duration (minor units).
    pub cost: u64,
    /// Its share of the total cost (0..=1).
    pub cost_share: f64,
    /// Its availability, basis points.
    pub availability_bp: u16,
    /// Its provider's reputation (`None`: unrated).
    pub reputation: Option<f64>,
    /// The loss probability of the placement if this pick were down: its contribution to the
    /// placement's availability.
    pub loss_without: f64,
}

/// The chosen placement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// The picks, cheapest first.
    pub picks: Vec<Pick>,
    /// Total cost of the picks (minor units of the request's asset).
    pub total_cost: u64,
    /// The exact minimum total cost of any placement meeting every rule (cost objective). The
    /// picks cost at most `tolerance` more, chosen by the consumer's seed (anti-herding).
    pub optimum_cost: Option<u64>,
    /// The exact minimum loss probability (availability objective).
    pub optimum_loss: Option<f64>,
    /// Probability of losing access to the data (picks failing independently).
    pub loss_probability: f64,
    /// `1 − loss_probability`.
    pub availability: f64,
    /// Distinct regions used.
    pub regions: usize,
}

/// Why no placement exists: the rule that binds, named with its value against the limit.
///
/// Rules are added one at a time, in a fixed order (distinct providers, exploration share,
/// region cap, region diversity, loss target, budget); the one named is the first whose
/// addition leaves no placement, so every rule before it can be met together and this one
/// cannot be met with them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Infeasible {
    /// The binding rule and why.
    pub finding: Finding,
    /// For a budget: the cheapest placement meeting every other rule.
    pub cheapest_cost: Option<u64>,
    /// For a loss target: the lowest loss probability reachable under the rules before it.
    pub best_loss: Option<f64>,
}

/// How many candidates a rule removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCount {
    /// The rule.
    pub rule: Rule,
    /// Candidates it removed.
    pub count: usize,
}

/// What happened to one candidate, in brief ([`Selector::explain`] gives the details).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Picked, in this region.
    Picked {
        /// The region.
        region: ShortText,
    },
    /// Failed a filter.
    Excluded {
        /// The first filter it failed.
        rule: Rule,
    },
    /// Pruned: in its region, enough other providers are at least as good on everything that
    /// matters.
    Dominated,
    /// Passed the filters but was not picked; `rules` are those that swapping it for a costlier
    /// pick would break (empty: it costs more than any pick it could replace).
    Lost {
        /// The rules that bind.
        rules: Vec<Rule>,
    },
    /// Passed the filters, but no placement meets the request.
    Unplaced,
}

/// A request over a set of candidates, filtered, pruned and solved.
///
/// Build it once with [`Selector::new`]; then [`Selector::recommendation`] reports the
/// placement, [`Selector::explain`] explains one candidate and [`Selector::price_to_win`]
/// gives the highest price at which it would be picked.
pub struct Selector<'a> {
    pub(crate) req: &'a Request,
    pub(crate) cands: &'a [Candidate],
    pub(crate) model: Model,
    /// The options left after pruning, with dense provider and operator ids.
    pub(crate) kept: Vec<Opt>,
    /// Per candidate: whether any of its options was kept.
    pub(crate) cand_kept: Vec<bool>,
    providers: HashMap<PublicKey, u32>,
    operators: HashMap<ShortText, u32>,
    pub(crate) limits: Limits,
    pub(crate) crit: Criteria,
    pub(crate) goal: Goal,
    /// The chosen placement.
    pub(crate) chosen: Option<Solution>,
    /// The exact optimum (cost objective with a tolerance); `chosen` otherwise.
    pub(crate) optimum: Option<Solution>,
}

impl<'a> Selector<'a> {
    /// Checks the request, filters and prunes the candidates, and solves.
    pub fn new(req: &'a Request, cands: &'a [Candidate]) -> Result<Self, SelectError> {
        req.check()?;
        if u32::try_from(cands.len()).is_err() {
            return Err(SelectError::InvalidRequest(
                "too many candidates for one request".into(),
            ));
        }
        let model = Model::build(req, cands);
        let picks = req.redundancy.picks();
        let blockers = if model.any_operator { 2 } else { 1 };
        let crit = Criteria {
            availability: req.loss_target.is_some() || req.objective == Objective::MaxAvailability,
            rated: req.unrated_limit().is_some(),
            needed: (picks - 1) * blockers + 2,
        };
        let kept_idx = prune(&model, cands, &crit);
        let mut providers = HashMap::new();
        let mut operators = HashMap::new();
        let mut cand_kept = vec![false; cands.len()];
        let mut kept = Vec::with_capacity(kept_idx.len());
        for i in kept_idx {
            let mut o = model.opts[i as usize];
            let c = &cands[o.cand as usize];
            cand_kept[o.cand as usize] = true;
            let next = providers.len() as u32;
            o.provider = *providers.entry(c.provider).or_insert(next);
            if let Some(op) = &c.operator {
                let next = operators.len() as u32;
                o.operator = *operators.entry(op.clone()).or_insert(next);
            }
            kept.push(o);
        }
        let limits = Limits {
            picks,
            needed: req.redundancy.needed(),
            max_per_region: req.max_per_region.map_or(picks, |m| m as usize),
            min_regions: req.min_regions as usize,
            max_unrated: req.unrated_limit(),
            loss_target: req.loss_target,
            budget: req.budget,
        };
        let goal = match req.objective {
            Objective::MinCost => Goal::Weight,
            Objective::MaxAvailability => Goal::Loss,
        };
        let mut sel = Selector {
            req,
            cands,
            model,
            kept,
            cand_kept,
            providers,
            operators,
            limits,
            crit,
            goal,
            chosen: None,
            optimum: None,
        };
        sel.chosen = solve(&sel.kept, &sel.limits, goal, Start::default());
        sel.optimum = match goal {
            // The anti-herding answer is within the tolerance of the optimum: a good start.
            Goal::Weight if req.tolerance_bp > 0 => sel.chosen.as_ref().and_then(|c| {
                let start = Start {
                    incumbent: Some(&c.picks),
                    ..Start::default()
                };
                solve(&sel.kept, &sel.limits, Goal::Cost, start)
            }),
            _ => sel.chosen.clone(),
        };
        Ok(sel)
    }

    /// The request.
    pub fn request(&self) -> &Request {
        self.req
    }

    /// The candidates.
    pub fn candidates(&self) -> &[Candidate] {
        self.cands
    }

    /// The placement (or why there is none), the removal counts and every candidate's verdict.
    pub fn recommendation(&self) -> Recommendation {
        let mut removed: Vec<RuleCount> = self
            .model
            .removed_counts()
            .into_iter()
            .map(|(rule, count)| RuleCount { rule, count })
            .collect();
        let passed = self.model.failed.iter().filter(|f| f.is_none()).count();
        let considered = self.cand_kept.iter().filter(|k| **k).count();
        if passed > considered {
            removed.push(RuleCount {
                rule: Rule::Dominated,
                count: passed - considered,
            });
        }
        let verdicts = (0..self.cands.len()).map(|i| self.verdict(i)).collect();
        Recommendation {
            placement: self.placement(),
            infeasible: match self.chosen {
                Some(_) => None,
                None => Some(diagnose::binding(self)),
            },
            candidates: self.cands.len(),
            passed,
            considered,
            removed,
            verdicts,
        }
    }

    /// The chosen placement, or `None` when the request cannot be met.
    pub fn placement(&self) -> Option<Placement> {
        let chosen = self.chosen.as_ref()?;
        let mut picks: Vec<Pick> = chosen
            .picks
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let c = &self.cands[o.cand as usize];
                let mut downs: Vec<u16> = chosen.picks.iter().map(|p| p.down).collect();
                downs[i] = crate::loss::FULL_BP;
                Pick {
                    candidate: o.cand as usize,
                    offer: c.offer,
                    provider: c.provider,
                    region: self.model.regions[usize::from(o.region)].clone(),
                    cost: o.cost,
                    cost_share: if chosen.cost == 0 {
                        0.0
                    } else {
                        o.cost as f64 / chosen.cost as f64
                    },
                    availability_bp: crate::loss::FULL_BP - o.down,
                    reputation: c.rating(),
                    loss_without: loss_of_downtimes(&mut downs, self.limits.needed),
                }
            })
            .collect();
        picks.sort_by_key(|p| (p.cost, p.candidate));
        let mut regions: Vec<u16> = chosen.picks.iter().map(|o| o.region).collect();
        regions.sort_unstable();
        regions.dedup();
        let optimum = self.optimum.as_ref().unwrap_or(chosen);
        Some(Placement {
            picks,
            total_cost: chosen.cost,
            optimum_cost: (self.goal != Goal::Loss).then_some(optimum.cost),
            optimum_loss: (self.goal == Goal::Loss).then_some(chosen.loss),
            loss_probability: chosen.loss,
            availability: 1.0 - chosen.loss,
            regions: regions.len(),
        })
    }

    /// What happened to candidate `i`, in brief.
    pub fn verdict(&self, i: usize) -> Verdict {
        if let Some(Some(rule)) = self.model.failed.get(i) {
            return Verdict::Excluded { rule: *rule };
        }
        let Some(chosen) = &self.chosen else {
            return Verdict::Unplaced;
        };
        if let Some(o) = chosen.picks.iter().find(|o| o.cand as usize == i) {
            return Verdict::Picked {
                region: self.model.regions[usize::from(o.region)].clone(),
            };
        }
        if !self.cand_kept.get(i).copied().unwrap_or(false) {
            return Verdict::Dominated;
        }
        let mut rules: Vec<Rule> = self.swap_findings(i).into_iter().map(|f| f.rule).collect();
        rules.dedup();
        Verdict::Lost { rules }
    }

    /// The options of candidate `i` with their dense ids (for forced solves).
    pub(crate) fn options_with_ids(&self, i: usize) -> Vec<Opt> {
        let c = &self.cands[i];
        self.model
            .options_of(i as u32)
            .map(|o| {
                let mut o = *o;
                o.provider = self.providers.get(&c.provider).copied().unwrap_or(FRESH);
                o.operator = match &c.operator {
                    Some(op) => self.operators.get(op).copied().unwrap_or(FRESH),
                    None => NO_OPERATOR,
                };
                o
            })
            .collect()
    }

    /// The kept options of every candidate but `i`.
    pub(crate) fn others(&self, i: usize) -> Vec<Opt> {
        self.kept
            .iter()
            .filter(|o| o.cand as usize != i)
            .copied()
            .collect()
    }

    /// The best placement for the selector's goal that includes candidate `i` (in any of its
    /// regions), with its pick costing `cost` (its weights recomputed), under `limits`.
    pub(crate) fn forced(
        &self,
        i: usize,
        others: &[Opt],
        cost: Option<u64>,
        limits: &Limits,
    ) -> Option<Solution> {
        let mut best: Option<Solution> = None;
        for mut o in self.options_with_ids(i) {
            if let Some(cost) = cost {
                (o.cost, o.weight) = (cost, self.model.weight(&self.cands[i], cost, o.penalty));
            }
            if let Some(s) = solve(
                others,
                limits,
                self.goal,
                Start {
                    pre: Some(&o),
                    ..Start::default()
                },
            ) && best.as_ref().is_none_or(|b| s.better(b, self.goal))
            {
                best = Some(s);
            }
        }
        best
    }
}

/// The outcome of a request: a placement or the binding rule, and the reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The placement, when the request can be met.
    pub placement: Option<Placement>,
    /// Why it cannot, otherwise.
    pub infeasible: Option<Infeasible>,
    /// Candidates given.
    pub candidates: usize,
    /// Candidates that passed every filter.
    pub passed: usize,
    /// Candidates left after pruning (what the exact search ran over).
    pub considered: usize,
    /// How many candidates each rule removed (filters, then dominance).
    pub removed: Vec<RuleCount>,
    /// Per candidate, in the caller's order.
    pub verdicts: Vec<Verdict>,
}
