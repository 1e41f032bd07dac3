//! The cost objectives under a loss target: search over availability profiles first.
//!
//! The loss probability of a placement depends only on the multiset of its picks'
//! availabilities (its *profile*), and listings repeat the same availability figures across
//! many offers. Searching options one by one would meet the same profile through countless
//! interchangeable options; here the search has two levels:
//!
//! 1. **Profiles**: how many picks to take at each distinct availability, best first. A
//!    partial profile is abandoned when even filling the rest at the next availability down
//!    misses the loss target (monotone: fewer picks at a better level only raise the loss), or
//!    when its cheapest possible completion (the cheapest options of each chosen level, then
//!    the cheapest options of the levels left) cannot beat the incumbent.
//! 2. **Placements of one profile**: exactly that many options from each level, level by
//!    level, cheapest first within a level, under every set rule (providers, operators,
//!    region cap and diversity, exploration share, budget), bounded by the cheapest options
//!    still needed at the current level and the cheapest quota of each later level.
//!
//! Both levels bound from below exactly (integer weights), so the best placement over all
//! profiles meeting the target is optimal; the loss is checked again at each leaf with the
//! one loss function.

use super::{Search, goal_weight};
use crate::loss::loss_of_downtimes;

/// Distinct availability levels, with per-level prefix sums (in the search's sorted order).
pub(super) struct Levels {
    /// `[l]`: first sorted index of level `l` (and one past the last at `[L]`).
    start: Vec<usize>,
    /// Unavailability of each level, ascending.
    down: Vec<u16>,
    /// `[i]`: sum of goal weights of sorted options before `i`.
    prefix: Vec<u128>,
    /// `[l][t]`: the `t` smallest costs of level `l`, summed.
    cheapest_cost: Vec<Vec<u64>>,
    /// `[l][t]`: the `t` smallest weights over levels `l..`, summed (`u128::MAX` past what is
    /// there).
    rest_weight: Vec<Vec<u128>>,
    /// `[l][t]`: the `t` smallest costs over levels `l..`, summed.
    rest_cost: Vec<Vec<u64>>,
    /// The quota of each level in the profile being placed.
    quota: Vec<usize>,
    /// Picks taken at each level so far.
    taken: Vec<usize>,
    /// The unavailabilities of the profile so far.
    profile: Vec<u16>,
    /// The largest unavailability in each band.
    band_max: Vec<u16>,
    /// Whether some band holds more than one unavailability (placements then check the loss
    /// as they go).
    spread: bool,
}

/// Up to this many distinct availability figures, each is its own level (listings promise a
/// few round figures); beyond, figures are grouped into bands.
const EXACT_LEVELS: usize = 32;

/// In a band, the largest unavailability is at most `3/2` of the smallest.
const BAND_NUM: u32 = 3;
const BAND_DEN: u32 = 2;

impl Search {
    /// Sorts the options by availability level then weight and builds the level tables.
    pub(super) fn prepare_levels(&mut self) {
        let goal = self.goal;
        self.o
            .sort_unstable_by_key(|x| (x.down, goal_weight(goal, x), x.cost, x.cand, x.region));
        let n = self.o.len();
        let picks = self.limits.picks;
        // Levels are the distinct availability figures, or with many of them (measured rather
        // than promised figures) bands of close ones (the largest unavailability at most 1.5 ×
        // the smallest): a profile is then judged by each band's best figure, which only makes
        // its loss bound optimistic, and every placement is checked exactly as it is built.
        let mut figures: Vec<u16> = self.o.iter().map(|x| x.down).collect();
        figures.dedup();
        let (num, den) = if figures.len() <= EXACT_LEVELS {
            (1, 1)
        } else {
            (BAND_NUM, BAND_DEN)
        };
        let mut start = Vec::new();
        let mut down: Vec<u16> = Vec::new();
        let mut spread = false;
        for (i, x) in self.o.iter().enumerate() {
            match down.last() {
                Some(&d) if u32::from(x.down) * den <= num * u32::from(d) => {
                    spread |= x.down != d;
                }
                _ => {
                    start.push(i);
                    down.push(x.down);
                }
            }
        }
        start.push(n);
        let band_max: Vec<u16> = (0..down.len())
            .map(|l| self.o[start[l + 1] - 1].down)
            .collect();
        // Within a band, cheapest first.
        for l in 0..down.len() {
            self.o[start[l]..start[l + 1]]
                .sort_unstable_by_key(|x| (goal_weight(goal, x), x.cost, x.down, x.cand, x.region));
        }
        let mut prefix = vec![0u128; n + 1];
        for (i, x) in self.o.iter().enumerate() {
            prefix[i + 1] = prefix[i] + goal_weight(goal, x);
        }
        let levels = down.len();
        let mut cheapest_cost = Vec::with_capacity(levels);
        for l in 0..levels {
            let mut costs: Vec<u64> = self.o[start[l]..start[l + 1]]
                .iter()
                .map(|x| x.cost)
                .collect();
            costs.sort_unstable();
            cheapest_cost.push(sums(costs.iter().take(picks).copied(), |a, b| {
                a.saturating_add(b)
            }));
        }
        let mut rest_weight = vec![Vec::new(); levels + 1];
        let mut rest_cost = vec![Vec::new(); levels + 1];
        let mut top_w: Vec<u128> = Vec::new();
        let mut top_c: Vec<u64> = Vec::new();
        rest_weight[levels] = pad(
            sums(std::iter::empty(), |a: u128, b| a + b),
            picks,
            u128::MAX,
        );
        rest_cost[levels] = pad(sums(std::iter::empty(), |a: u64, b| a + b), picks, u64::MAX);
        for l in (0..levels).rev() {
            top_w.extend(
                self.o[start[l]..start[l + 1]]
                    .iter()
                    .map(|x| goal_weight(goal, x)),
            );
            top_w.sort_unstable();
            top_w.truncate(picks);
            top_c.extend(self.o[start[l]..start[l + 1]].iter().map(|x| x.cost));
            top_c.sort_unstable();
            top_c.truncate(picks);
            rest_weight[l] = pad(
                sums(top_w.iter().copied(), |a, b| a.saturating_add(b)),
                picks,
                u128::MAX,
            );
            rest_cost[l] = pad(
                sums(top_c.iter().copied(), |a, b| a.saturating_add(b)),
                picks,
                u64::MAX,
            );
        }
        self.region_end.iter_mut().for_each(|e| *e = 0);
        for (i, x) in self.o.iter().enumerate() {
            self.region_end[usize::from(x.region)] = i + 1;
        }
        self.levels = Some(Levels {
            start,
            down,
            prefix,
            cheapest_cost,
            rest_weight,
            rest_cost,
            quota: vec![0; levels],
            taken: vec![0; levels],
            profile: Vec::with_capacity(picks),
            band_max,
            spread,
        });
    }

    /// Enumerates profiles from level `l` on with `left` picks to place.
    pub(super) fn profiles(&mut self, l: usize, left: usize, weight: u128, cost: u64) {
        let Some(lv) = self.levels.as_ref() else {
            return;
        };
        let target = self.limits.loss_target.unwrap_or(1.0);
        if left == 0 {
            self.place_profile();
            return;
        }
        let levels = lv.down.len();
        if l == levels || self.done {
            return;
        }
        let size = lv.start[l + 1] - lv.start[l];
        let next_down = lv.down.get(l + 1).copied();
        // The loss bound only falls as `c` grows: find the fewest picks at this level that can
        // still meet the target, then try the cheaper profiles (fewer picks at the better, so
        // dearer, level) first, so that a good incumbent comes early.
        let top = left.min(size);
        let mut lowest = top + 1;
        for c in (0..=top).rev() {
            if !self.profile_may_meet(l, c, left - c, next_down, target) {
                break;
            }
            lowest = c;
        }
        for c in lowest..=top {
            let (w, k) = {
                let Some(lv) = self.levels.as_ref() else {
                    return;
                };
                let rest = left - c;
                let w = weight + (lv.prefix[lv.start[l] + c] - lv.prefix[lv.start[l]]);
                let k = cost.saturating_add(lv.cheapest_cost[l][c]);
                let least_w = w.saturating_add(lv.rest_weight[l + 1][rest]);
                if self.best.as_ref().is_some_and(|b| least_w >= b.weight) {
                    continue;
                }
                if self
                    .limits
                    .budget
                    .is_some_and(|b| k.saturating_add(lv.rest_cost[l + 1][rest]) > b)
                {
                    continue;
                }
                (w, k)
            };
            self.set_quota(l, c);
            self.profiles(l + 1, left - c, w, k);
            self.set_quota(l, 0);
        }
    }

    /// Whether the profile so far, `c` picks at level `l` and `rest` more at the next level
    /// down (the best the rest can do) meets the loss target.
    fn profile_may_meet(
        &mut self,
        l: usize,
        c: usize,
        rest: usize,
        next_down: Option<u16>,
        target: f64,
    ) -> bool {
        let Some(lv) = self.levels.as_ref() else {
            return false;
        };
        let fill = match (rest, next_down) {
            (0, _) => 0,
            (_, Some(d)) => d,
            (_, None) => return false,
        };
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.downs);
        self.scratch.extend_from_slice(&lv.profile);
        self.scratch.extend(std::iter::repeat_n(lv.down[l], c));
        self.scratch.extend(std::iter::repeat_n(fill, rest));
        // A complete profile of one-figure bands is the placements' own loss: exactly.
        let one_figure = |m: usize| lv.band_max[m] == lv.down[m];
        let exact = rest == 0
            && (0..l).all(|m| lv.quota[m] == 0 || one_figure(m))
            && (c == 0 || one_figure(l));
        let limit = if exact {
            target
        } else {
            target * (1.0 + super::SLACK)
        };
        loss_of_downtimes(&mut self.scratch, self.limits.needed) <= limit
    }

    /// The largest unavailability the next pick (from band `l`) may have so that the picks so
    /// far, it, and the rest of each band's quota at the band's best can meet the loss target;
    /// `None` when none can. Loss rises with unavailability, so a bisection finds it.
    fn next_pick_limit(&mut self, l: usize) -> Option<u16> {
        let (lo, hi) = self
            .levels
            .as_ref()
            .map(|lv| (lv.down[l], lv.band_max[l]))?;
        if !self.meets_with(l, lo) {
            return None;
        }
        let (mut ok, mut bad) = (lo, hi.saturating_add(1));
        while bad - ok > 1 {
            let mid = ok + (bad - ok) / 2;
            if self.meets_with(l, mid) {
                ok = mid;
            } else {
                bad = mid;
            }
        }
        Some(ok)
    }

    /// Whether the picks so far, one more of unavailability `d` from band `l`, and the rest of
    /// each quota at its band's best meet the loss target (with the bounds' slack).
    fn meets_with(&mut self, l: usize, d: u16) -> bool {
        let Some(lv) = self.levels.as_ref() else {
            return false;
        };
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.downs);
        self.scratch.push(d);
        // When every pick still to come is from a band of one figure, this is the placement's
        // own loss, computed as the leaf will: compare it exactly, without the slack.
        let mut exact = true;
        for (m, best) in lv.down.iter().enumerate() {
            let rest = lv.quota[m] - lv.taken[m] - usize::from(m == l);
            exact &= rest == 0 || lv.band_max[m] == *best;
            self.scratch.extend(std::iter::repeat_n(*best, rest));
        }
        let target = self.limits.loss_target.unwrap_or(1.0);
        let limit = if exact {
            target
        } else {
            target * (1.0 + super::SLACK)
        };
        loss_of_downtimes(&mut self.scratch, self.limits.needed) <= limit
    }

    /// Sets level `l`'s quota (and the profile's unavailabilities with it).
    fn set_quota(&mut self, l: usize, c: usize) {
        if let Some(lv) = self.levels.as_mut() {
            let old = lv.quota[l];
            if c >= old {
                lv.profile.extend(std::iter::repeat_n(lv.down[l], c - old));
            } else {
                let keep = lv.profile.len() - (old - c);
                lv.profile.truncate(keep);
            }
            lv.quota[l] = c;
        }
    }

    /// Places the current profile: exactly its quota of picks at each level, searched by
    /// [`Search::place`].
    fn place_profile(&mut self) {
        let first = self
            .levels
            .as_ref()
            .and_then(|lv| lv.quota.iter().position(|q| *q > 0));
        match first {
            Some(l) => {
                let start = self.levels.as_ref().map_or(0, |lv| lv.start[l]);
                self.place(l, start);
            }
            None => self.leaf(),
        }
    }

    /// Takes the rest of level `l`'s quota from sorted index `j` on, then the later levels'.
    fn place(&mut self, l: usize, j: usize) {
        let Some(lv) = self.levels.as_ref() else {
            return;
        };
        let need = lv.quota[l] - lv.taken[l];
        if need == 0 {
            let next = (l + 1..lv.quota.len()).find(|&m| lv.quota[m] > 0);
            match next {
                Some(m) => {
                    let start = lv.start[m];
                    self.place(m, start);
                }
                None => self.leaf(),
            }
            return;
        }
        let end = lv.start[l + 1];
        // The largest unavailability the next pick may have and still leave the target
        // reachable (the rest of each quota at its band's best).
        let max_down = if lv.spread {
            match self.next_pick_limit(l) {
                Some(d) => d,
                None => return,
            }
        } else {
            u16::MAX
        };
        let left = self.limits.picks - self.chosen.len();
        let missing = self.limits.min_regions.saturating_sub(self.distinct);
        if missing > left {
            return;
        }
        for i in j..end {
            if self.done {
                return;
            }
            let Some(lv) = self.levels.as_ref() else {
                return;
            };
            if end - i < need {
                return;
            }
            // The cheapest completion: the next `need` of this level, then each later level's
            // cheapest quota. Options are sorted by weight within a level, so it only grows.
            let later: u128 = (l + 1..lv.quota.len())
                .map(|m| lv.prefix[lv.start[m] + lv.quota[m]] - lv.prefix[lv.start[m]])
                .sum();
            let least = self.weight + (lv.prefix[i + need] - lv.prefix[i]) + later;
            if self.best.as_ref().is_some_and(|b| least >= b.weight) {
                return;
            }
            if let Some(b) = self.limits.budget {
                let later_cost: u64 = (l + 1..lv.quota.len())
                    .map(|m| lv.cheapest_cost[m][lv.quota[m]])
                    .fold(0u64, u64::saturating_add);
                let here = lv.cheapest_cost[l][need.min(lv.cheapest_cost[l].len() - 1)];
                if self.cost.saturating_add(here).saturating_add(later_cost) > b {
                    return;
                }
            }
            if missing > 0 && self.new_regions_from(i) < missing {
                return;
            }
            let x = self.o[i];
            if x.down > max_down || !self.fits(&x, left) {
                continue;
            }
            self.push(&x);
            if let Some(lv) = self.levels.as_mut() {
                lv.taken[l] += 1;
            }
            self.place(l, i + 1);
            if let Some(lv) = self.levels.as_mut() {
                lv.taken[l] -= 1;
            }
            self.pop();
        }
    }
}

/// Whether the profile strategy applies: a cost objective with a loss target.
pub(super) fn applies(goal: super::Goal, loss_target: Option<f64>) -> bool {
    goal != super::Goal::Loss && loss_target.is_some()
}

/// `[t]`: the sum of the first `t` items.
fn sums<T: Copy + Default>(items: impl Iterator<Item = T>, add: impl Fn(T, T) -> T) -> Vec<T> {
    let mut out = vec![T::default()];
    let mut sum = T::default();
    for v in items {
        sum = add(sum, v);
        out.push(sum);
    }
    out
}

/// Pads `v` to `len + 1` entries with `fill` (more picks than there are options).
fn pad<T: Copy>(mut v: Vec<T>, len: usize, fill: T) -> Vec<T> {
    v.resize(len + 1, fill);
    v
}
