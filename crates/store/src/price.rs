//! Prices across assets: exact comparisons through the rate table (what a `max_price` in
//! another asset lets through; the price order never converts).

use crate::config::Rate;

/// `x × y` as a 192-bit number `(high, low)`.
fn mul_wide(x: u128, y: u64) -> (u128, u128) {
    let (xh, xl) = (x >> 64, x & u128::from(u64::MAX));
    let lo = xl * u128::from(y);
    let mid = xh * u128::from(y);
    let (low, carry) = lo.overflowing_add(mid << 64);
    ((mid >> 64) + u128::from(carry), low)
}

/// Whether `a_amount` of an asset at `a_rate` costs at most `b_amount` of an asset at `b_rate`,
/// computed exactly: `a × a.num × b.den ≤ b × b.num × a.den`.
pub(crate) fn at_most(a_amount: u64, a_rate: Rate, b_amount: u64, b_rate: Rate) -> bool {
    let lhs = mul_wide(u128::from(a_amount) * u128::from(a_rate.num), b_rate.den);
    let rhs = mul_wide(u128::from(b_amount) * u128::from(b_rate.num), a_rate.den);
    lhs <= rhs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_products_compare_exactly() {
        let r = |num, den| Rate { num, den };
        assert!(at_most(100, r(1, 1), 100, r(1, 1)));
        assert!(!at_most(101, r(1, 1), 100, r(1, 1)));
        // 10^7 stroops at 12 cents per XLM = 12 cents.
        assert!(at_most(10_000_000, r(12, 10_000_000), 12, r(1, 1)));
        assert!(!at_most(10_000_001, r(12, 10_000_000), 12, r(1, 1)));
        // Products far beyond u128.
        assert!(at_most(u64::MAX, r(u64::MAX, 1), u64::MAX, r(u64::MAX, 1)));
        assert!(!at_most(
            u64::MAX,
            r(u64::MAX, u64::MAX - 1),
            u64::MAX,
            r(u64::MAX, u64::MAX)
        ));
        assert!(at_most(
            u64::MAX - 1,
            r(u64::MAX, 7),
            u64::MAX,
            r(u64::MAX, 7)
        ));
    }
}
