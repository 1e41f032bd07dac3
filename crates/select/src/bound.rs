//! A Lagrangian lower bound that couples cost and the loss target, for the branch and bound.
//!
//! The loss target is turned into a necessary condition that adds up over the picks,
//! `Σ g(pick) ≥ G`:
//! - `r` replicas: the data is lost when all are down, `loss = Π qᵢ`, so `loss ≤ T` exactly
//!   when `Σ −ln qᵢ ≥ −ln T` (`qᵢ`: unavailability).
//! - `k`-of-`n` shards, with `m = n − k + 1` failures losing the data: summing over the sets
//!   `U` of `m` picks, `loss ≥ Σ_U Π_U q · Π_{∉U} (1 − q) ≥ Π (1 − qᵢ) · eₘ(q)`, and by the
//!   inequality of arithmetic and geometric means over the `C(n, m)` products,
//!   `eₘ(q) ≥ C(n, m) · Π qᵢ^{m/n}`. So `loss ≤ T` implies
//!   `Σ [(m/n)(−ln qᵢ) − ln(1 − qᵢ)] ≥ ln C(n, m) − ln T`.
//!
//! A pick with `q = 0` (or `q = 1` for shards) makes the inequality vacuous; its `g` is set
//! above `G`, and every `g` is non-negative, so any set containing it passes.
//!
//! For any `λ ≥ 0` and any `s` picks `C` with `Σ_C g ≥ R`:
//! `Σ_C w ≥ Σ_C (w − λ g) + λ R ≥ (the s smallest (w − λ g) available) + λ R`.
//!
//! The bound is exact integer arithmetic, so it can prune ties (a placement no better than
//! the incumbent) as safely as a strictly worse one: `g` is rounded up and `G` down to a
//! fixed scale, each with a margin over the floating-point error of the logarithms, which
//! only weakens the bound. The options are searched in order of reduced weight `w − λ* g`
//! (`λ*` the best multiplier at the root), so the tables of "the `s` smallest `w − λ g` from
//! option `j` on", for a few `λ` around `λ*`, grow quickly with `j`, and the bound ends the
//! loop over the remaining options early.

use crate::model::Opt;

/// Fixed-point scale of `g` (nats).
const G_SCALE: f64 = (1u64 << 24) as f64;

/// Multipliers tabulated on each side of the best one at the root (in steps of √2).
const SPREAD: i32 = 2;

/// The surrogate and its tables over the solver's sorted options.
pub(crate) struct Lagrange {
    /// `G`, scaled and rounded down.
    pub(crate) need: i128,
    /// A `g` that meets `G` alone (for picks that make the inequality vacuous).
    vacuous: f64,
    /// `m / n`.
    share: f64,
    /// Replicas: the condition is exact.
    replicas: bool,
    lambdas: Vec<i128>,
    /// Weights are scaled by `2^shift` inside the bound, so that small weights (the cost
    /// goal) still get multipliers of useful resolution.
    shift: u32,
    /// `[l][j][t]`: the `t` smallest `w − λₗ g` from option `j` on, summed.
    table: Vec<i128>,
    width: usize,
    rows: usize,
}

impl Lagrange {
    /// Builds the surrogate for `picks` picks of which `needed` must be up and the loss
    /// `target`; sorts `o` by reduced weight (`weight` gives each option's weight) and
    /// returns the bound with each sorted option's `g`.
    pub(crate) fn prepare(
        o: &mut [Opt],
        weight: impl Fn(&Opt) -> u128,
        picks: usize,
        needed: usize,
        target: f64,
    ) -> (Self, Vec<i128>) {
        let needed = needed.clamp(1, picks.max(1));
        let m = picks + 1 - needed;
        let need_f = if needed == 1 {
            -target.ln()
        } else {
            ln_binomial(picks, m) - target.ln()
        };
        let mut lag = Lagrange {
            need: (need_f * G_SCALE * (1.0 - 1e-12)).floor() as i128 - 1,
            vacuous: need_f.max(0.0) + 1.0,
            share: m as f64 / picks.max(1) as f64,
            replicas: needed == 1,
            lambdas: Vec::new(),
            shift: 0,
            table: Vec::new(),
            width: picks + 1,
            rows: o.len() + 1,
        };
        let g: Vec<i128> = o.iter().map(|x| lag.g(x)).collect();
        // Scale small weights up: λ ≈ w / g must be well above 1 to be resolved in integers.
        let max_w = o.iter().map(&weight).max().unwrap_or(0).max(1);
        let max_g_all = g.iter().copied().max().unwrap_or(1).max(1) as u128;
        let mut shift = 0;
        while shift < 64
            && (max_w << shift) / max_g_all < (1 << 24)
            && (max_w << (shift + 1)) < (1 << 100)
        {
            shift += 1;
        }
        lag.shift = shift;
        let w: Vec<u128> = o.iter().map(|x| weight(x) << shift).collect();
        let best = lag.best_lambda(&w, &g, picks);
        let max_g = g.iter().copied().max().unwrap_or(1).max(1);
        // Keep λ·g and its sums well inside i128.
        let cap = (1i128 << 120) / max_g / 64;
        lag.lambdas = (-SPREAD..=SPREAD)
            .map(|i| best * 2f64.powf(f64::from(i) / 2.0))
            .filter(|l| l.is_finite() && *l >= 1.0)
            .map(|l| (l as i128).min(cap))
            .collect();
        lag.lambdas.dedup();
        let star = lag.lambdas.get(lag.lambdas.len() / 2).copied().unwrap_or(0);
        let mut order: Vec<(i128, u128, usize)> = (0..o.len())
            .map(|i| (w[i] as i128 - star * g[i], w[i], i))
            .collect();
        order.sort_unstable_by_key(|e| (e.0, e.1, o[e.2].down, o[e.2].cand, o[e.2].region));
        let sorted: Vec<Opt> = order.iter().map(|e| o[e.2]).collect();
        let g: Vec<i128> = order.iter().map(|e| g[e.2]).collect();
        let w: Vec<u128> = order.iter().map(|e| e.1).collect();
        o.copy_from_slice(&sorted);
        lag.build(&w, &g, picks);
        (lag, g)
    }

    /// `g` of one option, scaled and rounded up.
    pub(crate) fn g(&self, x: &Opt) -> i128 {
        let q = f64::from(x.down) / 1e4;
        let g = if self.replicas {
            if q <= 0.0 { self.vacuous } else { -q.ln() }
        } else if q <= 0.0 || q >= 1.0 {
            self.vacuous
        } else {
            self.share * (-q.ln()) - (1.0 - q).ln()
        };
        (g.min(self.vacuous) * G_SCALE * (1.0 + 1e-12)).ceil() as i128 + 1
    }

    /// The multiplier with the best bound at the root, on a coarse grid.
    fn best_lambda(&self, w: &[u128], g: &[i128], picks: usize) -> f64 {
        let mean_w = w.iter().map(|x| *x as f64).sum::<f64>() / w.len().max(1) as f64;
        let mean_g = g.iter().map(|x| *x as f64).sum::<f64>() / g.len().max(1) as f64;
        if mean_w <= 0.0 || mean_g <= 0.0 {
            return 0.0;
        }
        let base = mean_w / mean_g;
        let need = self.need as f64;
        let value = |lambda: f64| {
            let mut top: Vec<f64> = Vec::with_capacity(picks + 1);
            for (wi, gi) in w.iter().zip(g) {
                insert_smallest(&mut top, *wi as f64 - lambda * *gi as f64, picks);
            }
            top.iter().sum::<f64>() + lambda * need
        };
        (-24..=24)
            .map(|i| base * 2f64.powf(f64::from(i) / 2.0))
            .map(|l| (value(l), l))
            .fold(
                (f64::NEG_INFINITY, base),
                |a, b| if b.0 > a.0 { b } else { a },
            )
            .1
    }

    fn build(&mut self, w: &[u128], g: &[i128], picks: usize) {
        let (rows, width) = (self.rows, self.width);
        self.table = vec![0; self.lambdas.len() * rows * width];
        let mut top: Vec<i128> = Vec::with_capacity(picks + 1);
        for (l, lambda) in self.lambdas.iter().enumerate() {
            top.clear();
            let base = l * rows * width;
            for j in (0..rows - 1).rev() {
                insert_smallest(&mut top, w[j] as i128 - lambda * g[j], picks);
                let row = &mut self.table[base + j * width..base + (j + 1) * width];
                let mut sum = 0i128;
                for (t, v) in top.iter().enumerate() {
                    sum += v;
                    row[t + 1] = sum;
                }
            }
        }
    }

    /// Whether `left` more picks from option `j` on that bring at least `rest` more of `g`,
    /// added to picks weighing `weight`, cannot weigh less than `best`.
    pub(crate) fn prunes(
        &self,
        weight: u128,
        j: usize,
        left: usize,
        rest: i128,
        best: u128,
    ) -> bool {
        let scaled = |w: u128| (w << self.shift) as i128;
        !self.lambdas.is_empty() && scaled(weight) + self.bound(j, left, rest) >= scaled(best)
    }

    /// A lower bound on the weight (scaled) of `left` more picks from option `j` on that
    /// bring at least `rest` more of `g`.
    fn bound(&self, j: usize, left: usize, rest: i128) -> i128 {
        let (rows, width) = (self.rows, self.width);
        self.lambdas
            .iter()
            .enumerate()
            .map(|(l, lambda)| self.table[l * rows * width + j * width + left] + lambda * rest)
            .max()
            .unwrap_or(i128::MIN)
    }
}

/// Keeps the `cap` smallest values of `top`, sorted, after adding `v`.
fn insert_smallest<T: PartialOrd + Copy>(top: &mut Vec<T>, v: T, cap: usize) {
    let pos = top.partition_point(|x| *x <= v);
    if pos < cap {
        top.insert(pos, v);
        top.truncate(cap);
    }
}

/// `ln C(n, k)`.
fn ln_binomial(n: usize, k: usize) -> f64 {
    let k = k.min(n - k);
    (0..k).map(|i| ((n - i) as f64 / (i + 1) as f64).ln()).sum()
}
