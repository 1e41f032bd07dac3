//! The probability of losing access to the data, from each pick's availability, assuming the
//! picks fail independently (the region and operator rules exist to make that assumption
//! less wrong).
//!
//! With `r` replicas the data is unreadable when all `r` are down: `Π (1 − aᵢ)`. With `k`-of-`n`
//! shards it is unreadable when fewer than `k` are up: the lower tail of a Poisson-binomial
//! distribution, computed exactly by dynamic programming over the picks (O(n·k)).
//!
//! One function computes it for every caller (the solver, its bounds, the brute-force tests),
//! and it first sorts the values, so a set of picks has one loss figure whatever its order.

/// Basis points in 100 %.
pub(crate) const FULL_BP: u16 = 10_000;

/// The probability that fewer than `needed` of the picks are available, given each pick's
/// availability in basis points (values above 10 000 count as 10 000). 1.0 when there are
/// fewer picks than `needed`.
pub fn loss_probability(availability_bp: &[u16], needed: usize) -> f64 {
    let mut down: Vec<u16> = availability_bp
        .iter()
        .map(|a| FULL_BP - (*a).min(FULL_BP))
        .collect();
    loss_of_downtimes(&mut down, needed)
}

/// [`loss_probability`] over each pick's unavailability in basis points (`10 000 − a`);
/// sorts `down` in place.
pub(crate) fn loss_of_downtimes(down: &mut [u16], needed: usize) -> f64 {
    down.sort_unstable();
    if needed == 0 {
        return 0.0;
    }
    if down.len() < needed {
        return 1.0;
    }
    if needed == 1 {
        return down.iter().map(|d| f64::from(*d) / 1e4).product();
    }
    // up[j] = P(exactly j of the picks so far are available), for j < needed; the mass at
    // `needed` or more is readable data and is not tracked.
    let mut up = vec![0.0f64; needed];
    up[0] = 1.0;
    for d in down.iter() {
        let q = f64::from(*d) / 1e4;
        let a = 1.0 - q;
        for j in (1..needed).rev() {
            up[j] = up[j] * q + up[j - 1] * a;
        }
        up[0] *= q;
    }
    up.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_multiply_their_downtimes() {
        let l = loss_probability(&[9900, 9900, 9990], 1);
        assert!((l - 0.01 * 0.01 * 0.001).abs() < 1e-18);
        assert_eq!(loss_probability(&[10_000, 5000], 1), 0.0);
    }

    #[test]
    fn shards_follow_the_binomial_tail() {
        // 2-of-3 at 90 %: lost when 2 or 3 are down = 3·0.1²·0.9 + 0.1³ = 0.028.
        let l = loss_probability(&[9000, 9000, 9000], 2);
        assert!((l - 0.028).abs() < 1e-12, "{l}");
        // Order does not matter, bit for bit.
        let a = loss_probability(&[9990, 9000, 9500, 9950], 3);
        let b = loss_probability(&[9500, 9950, 9990, 9000], 3);
        assert_eq!(a.to_bits(), b.to_bits());
        // Too few picks: always lost.
        assert_eq!(loss_probability(&[9999], 2), 1.0);
    }
}
