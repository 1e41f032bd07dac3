//! Summaries of measured samples, shared by everything that reports a latency: the QoS prober's
//! attestations (`latency_p50_ms`, `latency_p95_ms`), the testnet's report and the benches.

/// The nearest-rank percentile `q` (a fraction, 0 to 1) of samples sorted in increasing order:
/// the smallest sample with at least a fraction `q` of the samples at or below it. `None` when
/// there are no samples; `q` at or below 0 gives the smallest sample, at or above 1 the largest.
///
/// ```
/// use flashback_types::stats::percentile;
///
/// let ms: Vec<u32> = (1..=20).collect();
/// assert_eq!(percentile(&ms, 0.5), Some(10));
/// assert_eq!(percentile(&ms, 0.95), Some(19));
/// assert_eq!(percentile::<u32>(&[], 0.5), None);
/// ```
pub fn percentile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    // `q * n` carries rounding error (0.07 × 100 is 7.000000000000001): shave it off, so that
    // a rank that is a whole number in exact arithmetic stays that number.
    let exact = q.clamp(0.0, 1.0) * n as f64;
    let rank = (exact - exact * 1e-12).ceil() as usize;
    sorted.get(rank.clamp(1, n) - 1).copied()
}

/// The weighted nearest-rank percentile `q` of `(sample, weight)` pairs sorted by sample: the
/// smallest sample whose cumulative weight reaches a fraction `q` of the total weight. The same
/// rule as [`percentile`], which it equals when every weight is the same. Weights that are not
/// finite or not positive count as zero; `None` when no weight is left.
///
/// ```
/// use flashback_types::stats::weighted_percentile;
///
/// // 10 weighs three times as much as 20: half the weight sits at 10.
/// let prices = [(10u64, 3.0), (20, 1.0), (30, 2.0)];
/// assert_eq!(weighted_percentile(&prices, 0.5), Some(10));
/// assert_eq!(weighted_percentile(&prices, 0.6), Some(20));
/// assert_eq!(weighted_percentile(&prices, 0.9), Some(30));
/// assert_eq!(weighted_percentile(&[(5u64, 0.0)], 0.5), None);
/// ```
pub fn weighted_percentile<T: Copy>(sorted: &[(T, f64)], q: f64) -> Option<T> {
    let weight = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
    let total: f64 = sorted.iter().map(|&(_, w)| weight(w)).sum();
    if total <= 0.0 {
        return None;
    }
    // The same shave as `percentile`: a target that is exact in exact arithmetic stays exact.
    let exact = q.clamp(0.0, 1.0) * total;
    let target = exact - exact * 1e-12;
    let mut cumulative = 0.0;
    let mut last = None;
    for &(sample, w) in sorted {
        let w = weight(w);
        if w == 0.0 {
            continue;
        }
        cumulative += w;
        last = Some(sample);
        // Accumulated rounding: compare with the same relative slack as the target.
        if cumulative >= target - cumulative * 1e-12 {
            return Some(sample);
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        for (q, want) in [
            (0.0, 1),
            (0.01, 1),
            (0.07, 7),
            (0.5, 50),
            (0.501, 51),
            (0.95, 95),
            (0.99, 99),
            (1.0, 100),
            (2.0, 100),
            (-1.0, 1),
        ] {
            assert_eq!(percentile(&v, q), Some(want), "q = {q}");
        }
        let twenty: Vec<u32> = (1..=20).collect();
        assert_eq!(percentile(&twenty, 0.5), Some(10));
        assert_eq!(percentile(&twenty, 0.95), Some(19));
        assert_eq!(percentile(&[7u32], 0.95), Some(7));
        assert_eq!(percentile::<f64>(&[], 0.5), None);
    }

    #[test]
    fn equal_weights_give_the_unweighted_percentile() {
        for n in 1..=60usize {
            let v: Vec<usize> = (1..=n).collect();
            let w: Vec<(usize, f64)> = v.iter().map(|&x| (x, 0.7)).collect();
            for q in [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0] {
                assert_eq!(weighted_percentile(&w, q), percentile(&v, q), "n {n} q {q}");
            }
            for k in 1..=n {
                let q = k as f64 / n as f64;
                assert_eq!(weighted_percentile(&w, q), Some(k), "{k}/{n}");
            }
        }
    }

    #[test]
    fn zero_and_broken_weights_do_not_count() {
        let v = [(1u32, 0.0), (2, f64::NAN), (3, 1.0), (4, -2.0), (5, 1.0)];
        assert_eq!(weighted_percentile(&v, 0.0), Some(3));
        assert_eq!(weighted_percentile(&v, 0.5), Some(3));
        assert_eq!(weighted_percentile(&v, 0.51), Some(5));
        assert_eq!(weighted_percentile::<u32>(&[], 0.5), None);
    }

    #[test]
    fn every_fraction_of_a_small_set_lands_on_its_rank() {
        // q = k / n must give the k-th sample exactly, whatever the rounding of k / n.
        for n in 1..=200usize {
            let v: Vec<usize> = (1..=n).collect();
            for k in 1..=n {
                assert_eq!(percentile(&v, k as f64 / n as f64), Some(k), "{k}/{n}");
            }
        }
    }
}
