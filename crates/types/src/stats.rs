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
