//! Exact pruning by dominance within a region.
//!
//! **Claim.** Let option `c` (a candidate in region `R`) have `K` *dominators*: options in the
//! same region `R`, earlier than `c` in the sweep order below, with pairwise distinct providers
//! and pairwise distinct operators, each at most as costly as `c` (in cost and in objective
//! weight) and at least as good on every other quantity a constraint of the
//! request reads (availability when a loss target is set or availability is the objective;
//! being rated when the exploration share is limited). Let `b = 2` when any candidate declares
//! an operator and `b = 1` otherwise, and `N` the number of picks. If `K ≥ (N − 1)·b + 2`,
//! some optimal placement avoids `c`, for every objective and every subset of the request's
//! rules — also when one given candidate is excluded, forced in, or re-priced (the extra
//! solves behind explanations and the price to win).
//!
//! **Proof.** Take an optimal placement `P` that contains `c` and, among the optimal ones,
//! has the least sum of sweep ranks. The other `N − 1` picks each share a provider with at
//! most one dominator and an operator with at most one more, so they block at most `(N − 1)·b`
//! dominators; at most one more is lost when one candidate is excluded or re-priced (its
//! options share one provider, so at most one of them is among `K` distinct-provider
//! dominators). At least one dominator `D` is left: not in `P`, sharing nothing with the
//! other picks. Swap `c` for `D`: same region, so every per-region count and the set of
//! regions are unchanged; providers and operators stay distinct; cost and both weights do
//! not rise, so the budget still holds and the objective is no worse; availability does not
//! fall, and the loss probability is non-increasing in every pick's availability (replicas
//! and `k`-of-`n` alike), so the loss target still holds; an unrated pick is only replaced by
//! a rated one or another unrated one. The result is optimal with a smaller rank sum (`D` is
//! earlier), a contradiction. So the optimal placement of least rank sum uses no pruned
//! option. A certificate is only drawn from options kept so far, which are earlier in the
//! sweep, so the induction is well founded.
//!
//! The sweep keeps, per region, the options not yet pruned sorted by unavailability, so that
//! finding `K` dominators usually takes `K` steps: an option far from the front of the cost
//! order is dominated by the first few kept options.

use crate::candidate::Candidate;
use crate::model::{Model, Opt};

/// Which quantities an option must not be worse on to dominate another.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Criteria {
    /// Availability matters (a loss target, or the availability objective).
    pub(crate) availability: bool,
    /// Being rated matters (the exploration share is limited).
    pub(crate) rated: bool,
    /// Dominators needed to prune: `(N − 1)·b + 2`.
    pub(crate) needed: usize,
}

impl Criteria {
    /// Whether `a` is at least as good as `b` on everything that matters.
    pub(crate) fn dominates(&self, a: &Opt, b: &Opt) -> bool {
        a.cost <= b.cost
            && a.weight <= b.weight
            && (!self.availability || a.down <= b.down)
            && (!self.rated || a.rated || !b.rated)
    }
}

/// The options of `model` that survive pruning (indices into `model.opts`, ascending).
pub(crate) fn prune(model: &Model, cands: &[Candidate], crit: &Criteria) -> Vec<u32> {
    let opts = &model.opts;
    let mut order: Vec<(u16, u128, u32)> = opts
        .iter()
        .enumerate()
        .map(|(i, o)| (o.region, o.weight, i as u32))
        .collect();
    order.sort_unstable();
    let mut kept: Vec<u32> = Vec::new();
    let mut frontier: Vec<u32> = Vec::new();
    let mut scratch = Disjoint::default();
    let mut start = 0;
    while start < order.len() {
        let region = order[start].0;
        let end = start + order[start..].partition_point(|e| e.0 == region);
        frontier.clear();
        for &(_, _, i) in &order[start..end] {
            let o = &opts[i as usize];
            let found = certificate(opts, cands, crit, &frontier, o, &mut scratch, None);
            if found >= crit.needed {
                continue;
            }
            kept.push(i);
            let pos = frontier.partition_point(|&f| opts[f as usize].down <= o.down);
            frontier.insert(pos, i);
        }
        start = end;
    }
    kept.sort_unstable();
    kept
}

/// Counts dominators of `o` among `pool` (sorted by unavailability), with distinct providers
/// and operators, up to `crit.needed`; pushes their indices into `out` when given.
pub(crate) fn certificate(
    opts: &[Opt],
    cands: &[Candidate],
    crit: &Criteria,
    pool: &[u32],
    o: &Opt,
    scratch: &mut Disjoint,
    mut out: Option<&mut Vec<u32>>,
) -> usize {
    scratch.clear();
    let mut found = 0;
    for &f in pool {
        let d = &opts[f as usize];
        if crit.availability && d.down > o.down {
            break;
        }
        if d.cand == o.cand || !crit.dominates(d, o) {
            continue;
        }
        if !scratch.admit(&cands[d.cand as usize]) {
            continue;
        }
        if let Some(out) = out.as_deref_mut() {
            out.push(f);
        }
        found += 1;
        if found >= crit.needed {
            break;
        }
    }
    found
}

/// Providers and operators taken by a certificate so far.
#[derive(Debug, Default)]
pub(crate) struct Disjoint {
    providers: Vec<flashback_types::PublicKey>,
    operators: Vec<flashback_types::ShortText>,
}

impl Disjoint {
    fn clear(&mut self) {
        self.providers.clear();
        self.operators.clear();
    }

    /// Takes `c` if it shares neither provider nor operator with those taken.
    fn admit(&mut self, c: &Candidate) -> bool {
        if self.providers.contains(&c.provider) {
            return false;
        }
        if let Some(op) = &c.operator {
            if self.operators.contains(op) {
                return false;
            }
            self.operators.push(op.clone());
        }
        self.providers.push(c.provider);
        true
    }
}
