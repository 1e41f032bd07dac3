//! Quantities for people: the human output of the light-client commands. `--json` keeps the
//! exact integers of the signed objects.
//!
//! On the wire a price or a total is an integer count of the asset's minor unit (cents for
//! USD, stroops for XLM). Here it is shown in the asset's major unit wherever the decimals are
//! known: ISO 4217 for currencies (`120` USD → `1.20 USD`), and the chains' own base units for
//! the few crypto assets in [`CHAIN_DECIMALS`]. Any other asset is marked "minor".

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use flashback_types::PriceUnit;
use iso_currency::Currency;

/// Crypto assets whose base unit is fixed by their chain: (code, decimals of the base unit).
/// ISO 4217 has no entry for them.
const CHAIN_DECIMALS: &[(&str, u16)] = &[
    ("BTC", 8),   // satoshi
    ("XLM", 7),   // stroop
    ("ALGO", 6),  // microalgo
    ("ETH", 18),  // wei
    ("STRK", 18), // fri
];

/// `minor` minor units of `asset`, e.g. `1.20 USD`, `500 JPY`, `0.0001500 XLM`, `7 minor XAU`.
pub(crate) fn amount(minor: u64, asset: &str) -> String {
    match decimals(asset) {
        Some(0) => format!("{minor} {asset}"),
        // 10^19 is the largest power of ten in a u64.
        Some(exp) if exp <= 19 => {
            let scale = 10u64.pow(u32::from(exp));
            let width = usize::from(exp);
            format!("{}.{:0width$} {asset}", minor / scale, minor % scale)
        }
        _ => format!("{minor} minor {asset}"),
    }
}

/// Decimals of an asset's minor unit, when known (ISO 4217 or [`CHAIN_DECIMALS`]).
fn decimals(asset: &str) -> Option<u16> {
    Currency::from_code(asset)
        .and_then(|c| c.exponent())
        .or_else(|| {
            CHAIN_DECIMALS
                .iter()
                .find(|(code, _)| *code == asset)
                .map(|(_, d)| *d)
        })
}

/// Parses an amount in an asset's major unit, the inverse of [`amount`]: `"50 USD"`,
/// `"12.5 EUR"`, `"0.0001500 XLM"`; an asset without known decimals takes minor units
/// (`"1500 FOO"`). Returns minor units and the asset code.
pub(crate) fn parse_amount(text: &str) -> anyhow::Result<(u64, String)> {
    let bad = || anyhow::anyhow!("{text:?} is not an amount like \"50 USD\"");
    let mut parts = text.split_whitespace();
    let (number, asset) = match (parts.next(), parts.next(), parts.next()) {
        (Some(n), Some(a), None) => (n, a.to_ascii_uppercase()),
        _ => return Err(bad()),
    };
    let exp = u32::from(decimals(&asset).unwrap_or(0));
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if frac.len() > exp as usize || whole.is_empty() && frac.is_empty() {
        return Err(anyhow::anyhow!("{text:?}: {asset} has {exp} decimals"));
    }
    let digits = |d: &str| -> anyhow::Result<u64> {
        if d.is_empty() {
            Ok(0)
        } else if d.bytes().all(|b| b.is_ascii_digit()) {
            d.parse::<u64>().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let scale = 10u64.checked_pow(exp).ok_or_else(bad)?;
    let frac_minor = digits(frac)?
        .checked_mul(10u64.pow(exp - frac.len() as u32))
        .ok_or_else(bad)?;
    let minor = digits(whole)?
        .checked_mul(scale)
        .and_then(|w| w.checked_add(frac_minor))
        .ok_or_else(bad)?;
    Ok((minor, asset))
}

/// A volume in the unit its price is quoted for: bytes for storage, units for compute.
pub(crate) fn volume(volume: u64, unit: PriceUnit) -> String {
    match unit {
        PriceUnit::GibMonth => bytesize::ByteSize::b(volume).display().iec().to_string(),
        PriceUnit::UnitHour => format!("{volume} units"),
    }
}

/// A span of seconds, e.g. `30days`, `1h 30m`.
pub(crate) fn duration(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

/// A Unix timestamp as UTC, e.g. `2026-11-22T13:25:42Z`; past the year 9999, as a number.
pub(crate) fn time(unix_secs: u64) -> String {
    let mut text = String::new();
    let formatted = UNIX_EPOCH
        .checked_add(Duration::from_secs(unix_secs))
        // humantime's Display fails (rather than panics) beyond the year 9999.
        .is_some_and(|t| write!(text, "{}", humantime::format_rfc3339_seconds(t)).is_ok());
    if formatted {
        text
    } else {
        format!("{unix_secs} (Unix time)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_assets_show_their_major_unit() {
        assert_eq!(amount(120, "USD"), "1.20 USD");
        assert_eq!(amount(5, "EUR"), "0.05 EUR");
        assert_eq!(amount(0, "USD"), "0.00 USD");
        assert_eq!(amount(123_456, "BHD"), "123.456 BHD");
        assert_eq!(amount(500, "JPY"), "500 JPY");
        assert_eq!(amount(u64::MAX, "USD"), "184467440737095516.15 USD");
    }

    #[test]
    fn amounts_parse_back() {
        assert_eq!(parse_amount("50 USD").unwrap(), (5000, "USD".into()));
        assert_eq!(parse_amount("1.2 usd").unwrap(), (120, "USD".into()));
        assert_eq!(parse_amount("500 JPY").unwrap(), (500, "JPY".into()));
        assert_eq!(parse_amount("0.0001500 XLM").unwrap(), (1500, "XLM".into()));
        assert_eq!(parse_amount("1500 FOO").unwrap(), (1500, "FOO".into()));
        assert!(parse_amount("1.234 USD").is_err());
        assert!(parse_amount("USD 50").is_err());
        assert!(parse_amount("50").is_err());
        assert!(parse_amount("99999999999999999999 USD").is_err());
    }

    #[test]
    fn chain_assets_show_their_major_unit() {
        assert_eq!(amount(1500, "XLM"), "0.0001500 XLM");
        assert_eq!(amount(150_000_000, "BTC"), "1.50000000 BTC");
        assert_eq!(amount(1, "ETH"), "0.000000000000000001 ETH");
    }

    #[test]
    fn other_assets_say_minor_units() {
        assert_eq!(amount(1500, "FOO"), "1500 minor FOO");
        // An ISO code without a minor unit (gold by the troy ounce).
        assert_eq!(amount(7, "XAU"), "7 minor XAU");
    }

    #[test]
    fn volumes_durations_and_times_read_naturally() {
        assert_eq!(volume(10 << 30, PriceUnit::GibMonth), "10.0 GiB");
        assert_eq!(volume(4, PriceUnit::UnitHour), "4 units");
        assert_eq!(duration(30 * 86_400), "30days");
        assert_eq!(duration(5_400), "1h 30m");
        assert_eq!(time(1_795_353_944), "2026-11-22T13:25:44Z");
        assert_eq!(time(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(time(253_402_300_800), "253402300800 (Unix time)");
        assert_eq!(time(u64::MAX), "18446744073709551615 (Unix time)");
    }
}
