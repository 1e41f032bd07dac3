//! The exact solver: depth-first branch and bound over the pruned options.
//!
//! With a loss target and a cost objective the search goes through availability profiles
//! first (`profile`). Otherwise (no target, or the availability objective) options are sorted
//! by the objective (weight, or unavailability for the availability objective), and picks are
//! taken in that order, so the first placements reached are good ones and a node's bounds
//! only get worse further along the list: every bound below ends the loop over the remaining
//! options (`break`) rather than skipping one.
//!
//! Bounds at a node with `s` picks left, from option `j` on:
//! - weight: the current weight plus the next `s` weights (the smallest left), or a suffix
//!   table of the `s` smallest weights when sorted by availability;
//! - budget: the current cost plus the `s` smallest costs from `j` on (a suffix table);
//! - loss (availability objective): the loss of the current picks plus the next `s` options,
//!   the most available left, which no completion beats, since loss falls as availability
//!   rises;
//! - regions: the regions not yet used that still appear from `j` on must cover the distinct
//!   regions still missing.
//!
//! Bounds are optimistic (a loss bound is compared with a relative slack of 10⁻⁹ against
//! floating-point rounding); a placement is accepted only after the exact checks at the leaf,
//! with the same loss function the tests' brute force uses.

mod profile;

use crate::loss::loss_of_downtimes;
use crate::model::{NO_OPERATOR, Opt};

/// The set rules of a request, in the form the solver reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Limits {
    /// Picks to make.
    pub(crate) picks: usize,
    /// Picks that must be available for the data to be readable.
    pub(crate) needed: usize,
    /// Most picks per region.
    pub(crate) max_per_region: usize,
    /// Fewest distinct regions.
    pub(crate) min_regions: usize,
    /// Most unrated picks, when limited.
    pub(crate) max_unrated: Option<usize>,
    /// Highest loss probability.
    pub(crate) loss_target: Option<f64>,
    /// Highest total cost.
    pub(crate) budget: Option<u64>,
}

/// What to minimise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Goal {
    /// The sum of weights with anti-herding jitter.
    Weight,
    /// The total cost alone.
    Cost,
    /// The loss probability, then the sum of weights.
    Loss,
}

/// A placement found by the solver.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Solution {
    /// The picks.
    pub(crate) picks: Vec<Opt>,
    /// Sum of the goal's weights (`weight` for `Loss`).
    pub(crate) weight: u128,
    /// Total cost.
    pub(crate) cost: u64,
    /// Loss probability.
    pub(crate) loss: f64,
}

impl Solution {
    /// Whether `self` is better than `other` for `goal`.
    pub(crate) fn better(&self, other: &Solution, goal: Goal) -> bool {
        match goal {
            Goal::Loss => {
                self.loss < other.loss || (self.loss == other.loss && self.weight < other.weight)
            }
            _ => self.weight < other.weight,
        }
    }
}

/// Relative slack on loss bounds, against floating-point rounding.
const SLACK: f64 = 1e-9;

fn goal_weight(goal: Goal, o: &Opt) -> u128 {
    match goal {
        Goal::Cost => u128::from(o.cost),
        Goal::Weight | Goal::Loss => o.weight,
    }
}

/// How a solve starts.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Start<'a> {
    /// An option every placement must include (not among the options searched).
    pub(crate) pre: Option<&'a Opt>,
    /// Stop at the first placement found.
    pub(crate) any: bool,
    /// A placement known to meet the limits: the search starts with it as the incumbent and
    /// returns it unless it finds a strictly better one.
    pub(crate) incumbent: Option<&'a [Opt]>,
}

/// The best placement of `opts` under `limits` for `goal` (see [`Start`]), or `None` when no
/// placement meets the limits.
pub(crate) fn solve(
    opts: &[Opt],
    limits: &Limits,
    goal: Goal,
    start: Start<'_>,
) -> Option<Solution> {
    let Start {
        pre,
        any,
        incumbent,
    } = start;
    let o: Vec<Opt> = opts.to_vec();
    let regions = o
        .iter()
        .chain(pre)
        .map(|x| usize::from(x.region) + 1)
        .max()
        .unwrap_or(0);
    let by_profile = profile::applies(goal, limits.loss_target);
    let mut s = Search::new(o, *limits, goal, regions, any);
    if by_profile {
        s.prepare_levels();
    }
    if let Some(p) = pre {
        if !s.fits(p, limits.picks) {
            return None;
        }
        s.push(p);
    }
    if let Some(picks) = incumbent {
        let mut downs: Vec<u16> = picks.iter().map(|x| x.down).collect();
        s.best = Some(Solution {
            picks: picks.to_vec(),
            weight: picks.iter().map(|x| goal_weight(goal, x)).sum(),
            cost: picks.iter().map(|x| x.cost).sum(),
            loss: loss_of_downtimes(&mut downs, limits.needed),
        });
    }
    if by_profile {
        let left = limits.picks - s.chosen.len();
        s.profiles(0, left, s.weight, s.cost);
    } else {
        s.dfs(0);
    }
    s.best
}

struct Search {
    o: Vec<Opt>,
    limits: Limits,
    goal: Goal,
    any: bool,
    done: bool,
    /// Prefix sums of the goal weights in sorted order, when sorted by weight.
    prefix: Vec<u128>,
    /// `[i][t]`: the `t` smallest costs from option `i` on, summed.
    min_cost: Vec<u64>,
    /// `[i][t]`: the `t` smallest weights from `i` on, summed (when not sorted by weight).
    min_weight: Vec<u128>,
    /// Per region: one past the last sorted index where it appears.
    region_end: Vec<usize>,
    // The current partial placement.
    chosen: Vec<Opt>,
    region_count: Vec<u16>,
    distinct: usize,
    unrated: usize,
    weight: u128,
    cost: u64,
    downs: Vec<u16>,
    scratch: Vec<u16>,
    /// Availability levels (the profile search).
    levels: Option<profile::Levels>,
    best: Option<Solution>,
}

impl Search {
    fn new(mut o: Vec<Opt>, limits: Limits, goal: Goal, regions: usize, any: bool) -> Self {
        let n = o.len();
        let w = limits.picks + 1;
        // The search order: by unavailability for the availability objective, by weight
        // otherwise (the profile search re-sorts by level).
        let by_weight = goal != Goal::Loss;
        if by_weight {
            o.sort_unstable_by_key(|x| (goal_weight(goal, x), x.cost, x.down, x.cand, x.region));
        } else {
            o.sort_unstable_by_key(|x| (x.down, x.weight, x.cand, x.region));
        }
        let mut prefix = Vec::new();
        if by_weight {
            prefix = vec![0u128; n + 1];
            for (i, x) in o.iter().enumerate() {
                prefix[i + 1] = prefix[i] + goal_weight(goal, x);
            }
        }
        let mut region_end = vec![0usize; regions];
        for (i, x) in o.iter().enumerate() {
            region_end[usize::from(x.region)] = i + 1;
        }
        let mut s = Search {
            min_cost: Vec::new(),
            min_weight: Vec::new(),
            prefix,
            region_end,
            chosen: Vec::with_capacity(limits.picks),
            region_count: vec![0; regions],
            distinct: 0,
            unrated: 0,
            weight: 0,
            cost: 0,
            downs: Vec::with_capacity(limits.picks),
            scratch: Vec::with_capacity(limits.picks * 2),
            levels: None,
            best: None,
            done: false,
            o,
            limits,
            goal,
            any,
        };
        if limits.budget.is_some() {
            s.min_cost = suffix_sums(&s.o, w, |x| x.cost, |a, b| a.saturating_add(b));
        }
        if !by_weight {
            s.min_weight = suffix_sums(
                &s.o,
                w,
                |x| goal_weight(goal, x),
                |a, b| a.saturating_add(b),
            );
        }
        s
    }

    fn fits(&self, x: &Opt, left: usize) -> bool {
        if usize::from(self.region_count[usize::from(x.region)]) >= self.limits.max_per_region {
            return false;
        }
        if self.chosen.iter().any(|c| {
            c.provider == x.provider || (x.operator != NO_OPERATOR && c.operator == x.operator)
        }) {
            return false;
        }
        if !x.rated && self.limits.max_unrated.is_some_and(|m| self.unrated >= m) {
            return false;
        }
        // When every pick left must open a new region, a used region will not do.
        let missing = self.limits.min_regions.saturating_sub(self.distinct);
        if missing >= left && self.region_count[usize::from(x.region)] > 0 && missing > 0 {
            return false;
        }
        true
    }

    fn push(&mut self, x: &Opt) {
        let r = usize::from(x.region);
        if self.region_count[r] == 0 {
            self.distinct += 1;
        }
        self.region_count[r] += 1;
        if !x.rated {
            self.unrated += 1;
        }
        self.weight += goal_weight(self.goal, x);
        self.cost = self.cost.saturating_add(x.cost);
        self.downs.push(x.down);
        self.chosen.push(*x);
    }

    fn pop(&mut self) {
        let Some(x) = self.chosen.pop() else { return };
        let r = usize::from(x.region);
        self.region_count[r] -= 1;
        if self.region_count[r] == 0 {
            self.distinct -= 1;
        }
        if !x.rated {
            self.unrated -= 1;
        }
        self.weight -= goal_weight(self.goal, &x);
        self.cost -= x.cost;
        self.downs.pop();
    }

    fn leaf(&mut self) {
        if self.distinct < self.limits.min_regions {
            return;
        }
        if self.limits.budget.is_some_and(|b| self.cost > b) {
            return;
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.downs);
        let loss = loss_of_downtimes(&mut self.scratch, self.limits.needed);
        if self.limits.loss_target.is_some_and(|t| loss > t) {
            return;
        }
        let candidate = Solution {
            picks: self.chosen.clone(),
            weight: self.weight,
            cost: self.cost,
            loss,
        };
        if self
            .best
            .as_ref()
            .is_none_or(|b| candidate.better(b, self.goal))
        {
            self.best = Some(candidate);
            if self.any {
                self.done = true;
            }
        }
    }

    /// The loss of the current picks completed by options of unavailability `extra`.
    fn loss_with(&mut self, extra: impl Iterator<Item = u16>) -> f64 {
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.downs);
        self.scratch.extend(extra);
        loss_of_downtimes(&mut self.scratch, self.limits.needed)
    }

    /// Regions not used yet that appear from sorted index `j` on.
    fn new_regions_from(&self, j: usize) -> usize {
        self.region_end
            .iter()
            .zip(&self.region_count)
            .filter(|(end, count)| **count == 0 && **end > j)
            .count()
    }

    fn dfs(&mut self, start: usize) {
        let left = self.limits.picks - self.chosen.len();
        if left == 0 {
            self.leaf();
            return;
        }
        let missing = self.limits.min_regions.saturating_sub(self.distinct);
        if missing > left {
            return;
        }
        let n = self.o.len();
        let p = self.limits.picks;
        for j in start..n {
            if self.done || n - j < left {
                return;
            }
            if let Some(b) = self.limits.budget
                && self.cost.saturating_add(self.min_cost[j * (p + 1) + left]) > b
            {
                return;
            }
            if missing > 0 && self.new_regions_from(j) < missing {
                return;
            }
            match self.goal {
                Goal::Weight | Goal::Cost => {
                    // Sorted by weight: the next `left` are the lightest left.
                    if let Some(best) = &self.best
                        && self.weight + (self.prefix[j + left] - self.prefix[j]) >= best.weight
                    {
                        return;
                    }
                }
                Goal::Loss => {
                    let extra: [u16; crate::MAX_PICKS] =
                        collect_fixed(self.o[j..j + left].iter().map(|x| x.down));
                    let bound = self.loss_with(extra[..left].iter().copied());
                    if self
                        .limits
                        .loss_target
                        .is_some_and(|t| bound > t * (1.0 + SLACK))
                    {
                        return;
                    }
                    if let Some(best) = &self.best {
                        if bound > best.loss * (1.0 + SLACK) {
                            return;
                        }
                        let least = self.weight + self.min_weight[j * (p + 1) + left];
                        if bound >= best.loss && least >= best.weight {
                            return;
                        }
                    }
                }
            }
            let x = self.o[j];
            if !self.fits(&x, left) {
                continue;
            }
            self.push(&x);
            self.dfs(j + 1);
            self.pop();
        }
    }
}

/// The first `MAX_PICKS` items of `items` in a fixed array (the rest zero).
fn collect_fixed(items: impl Iterator<Item = u16>) -> [u16; crate::MAX_PICKS] {
    let mut out = [0u16; crate::MAX_PICKS];
    for (slot, v) in out.iter_mut().zip(items) {
        *slot = v;
    }
    out
}

/// `[i][t]` for `t` in `0..width`: the sum of the `t` smallest `key`s from index `i` on
/// (saturating past what is there).
fn suffix_sums<I, T: Copy + Ord + Default>(
    o: &[I],
    width: usize,
    key: impl Fn(&I) -> T,
    add: impl Fn(T, T) -> T,
) -> Vec<T> {
    let n = o.len();
    let mut out = vec![T::default(); (n + 1) * width];
    let mut top: Vec<T> = Vec::with_capacity(width);
    // Past the end, fewer than `t` remain: those sums are never reached (a node needs
    // `n − j ≥ left`), so they stay at the partial sum.
    for i in (0..n).rev() {
        let v = key(&o[i]);
        let pos = top.partition_point(|x| *x <= v);
        if pos < width - 1 {
            top.insert(pos, v);
            top.truncate(width - 1);
        }
        let mut sum = T::default();
        out[i * width] = sum;
        for (t, x) in top.iter().enumerate() {
            sum = add(sum, *x);
            out[i * width + t + 1] = sum;
        }
    }
    out
}
