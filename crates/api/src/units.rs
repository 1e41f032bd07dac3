//! Units as JSON and people read them: decimal amounts in an asset's major unit and RFC 3339
//! times. On the wire a price or total is an integer count of the asset's minor unit (cents for
//! USD, stroops for XLM); its decimals come from ISO 4217 for currencies and from the chain for
//! the few crypto assets in [`CHAIN_DECIMALS`].

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use iso_currency::Currency;

/// Crypto assets whose base unit is fixed by their chain: (code, decimals of the base unit).
/// ISO 4217 has no entry for them.
pub const CHAIN_DECIMALS: &[(&str, u16)] = &[
    ("BTC", 8),   // satoshi
    ("XLM", 7),   // stroop
    ("ALGO", 6),  // microalgo
    ("ETH", 18),  // wei
    ("STRK", 18), // fri
];

/// Decimals of `asset`'s minor unit, when known.
pub fn decimals(asset: &str) -> Option<u16> {
    Currency::from_code(asset)
        .and_then(|c| c.exponent())
        .or_else(|| {
            CHAIN_DECIMALS
                .iter()
                .find(|(code, _)| *code == asset)
                .map(|(_, d)| *d)
        })
}

/// `minor` minor units of `asset` in its major unit, without the asset: `"1.20"` for 120 USD,
/// `"500"` for 500 JPY. `None` when the asset's decimals are unknown.
pub fn decimal(minor: u64, asset: &str) -> Option<String> {
    match decimals(asset)? {
        0 => Some(minor.to_string()),
        // 10^19 is the largest power of ten in a u64.
        exp if exp <= 19 => {
            let scale = 10u64.pow(u32::from(exp));
            let width = usize::from(exp);
            Some(format!("{}.{:0width$}", minor / scale, minor % scale))
        }
        _ => None,
    }
}

/// A Unix timestamp as UTC RFC 3339, e.g. `2026-11-22T13:25:42Z`; `None` past the year 9999.
pub fn rfc3339(unix_secs: u64) -> Option<String> {
    let mut text = String::new();
    let formatted = UNIX_EPOCH
        .checked_add(Duration::from_secs(unix_secs))
        // humantime's Display fails (rather than panics) beyond the year 9999.
        .is_some_and(|t| write!(text, "{}", humantime::format_rfc3339_seconds(t)).is_ok());
    formatted.then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_times() {
        assert_eq!(decimal(120, "USD").as_deref(), Some("1.20"));
        assert_eq!(decimal(500, "JPY").as_deref(), Some("500"));
        assert_eq!(decimal(1500, "XLM").as_deref(), Some("0.0001500"));
        assert_eq!(decimal(7, "FOO"), None);
        assert_eq!(
            rfc3339(1_800_000_000).as_deref(),
            Some("2027-01-15T08:00:00Z")
        );
        assert_eq!(rfc3339(u64::MAX), None);
    }
}
