//! Quantities for people: how the CLI, the testnet report and any other human output write
//! amounts, volumes, durations and times, and how they read them back. Programs keep the exact
//! integers of the signed objects (`--json`).
//!
//! On the wire a price or a total is an integer count of the asset's minor unit (cents for
//! USD, stroops for XLM). Here it is shown in the asset's major unit wherever the decimals are
//! known: ISO 4217 for currencies (`120` USD → `1.20 USD`), and the chains' own base units for
//! the few crypto assets in
//! [`CHAIN_DECIMALS`](flashback_api::units::CHAIN_DECIMALS). Any other asset is marked "minor".
//!
//! Durations have one convention: a month is 30 days, as billing counts it
//! ([`MONTH_SECS`](flashback_types::MONTH_SECS)), a year 365 days, and a duration is written
//! in days, hours, minutes and seconds (`90d`, `1d 12h`, `1h 30m`), which reads back to the
//! same number of seconds.

use flashback_types::{MONTH_SECS, PriceUnit};

use crate::ClientError;

/// `minor` minor units of `asset`, e.g. `1.20 USD`, `500 JPY`, `0.0001500 XLM`, `7 minor XAU`.
pub fn amount(minor: u64, asset: &str) -> String {
    match flashback_api::units::decimal(minor, asset) {
        Some(major) => format!("{major} {asset}"),
        None => format!("{minor} minor {asset}"),
    }
}

/// Decimals of an asset's minor unit, when known (ISO 4217 or the chains' own).
fn decimals(asset: &str) -> Option<u16> {
    flashback_api::units::decimals(asset)
}

/// Parses an amount in an asset's major unit, the inverse of [`amount`]: `"50 USD"`,
/// `"12.5 EUR"`, `"0.0001500 XLM"`; an asset without known decimals takes minor units
/// (`"1500 FOO"`). Returns minor units and the asset code.
pub fn parse_amount(text: &str) -> Result<(u64, String), ClientError> {
    let bad = || ClientError::InvalidInput(format!("{text:?} is not an amount like \"50 USD\""));
    let mut parts = text.split_whitespace();
    let (number, asset) = match (parts.next(), parts.next(), parts.next()) {
        (Some(n), Some(a), None) => (n, a.to_ascii_uppercase()),
        _ => return Err(bad()),
    };
    let exp = u32::from(decimals(&asset).unwrap_or(0));
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if frac.len() > exp as usize || whole.is_empty() && frac.is_empty() {
        return Err(ClientError::InvalidInput(format!(
            "{text:?}: {asset} has {exp} decimals"
        )));
    }
    let digits = |d: &str| -> Result<u64, ClientError> {
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

/// A count of things: `1 offer`, `3 offers`, `0 offers`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A price per its unit, e.g. `1.20 USD/GiB-month`.
pub fn price(price: &flashback_types::Price) -> String {
    format!(
        "{}/{}",
        amount(price.amount, price.asset.as_str()),
        unit(price.unit)
    )
}

/// A pricing unit for people: `GiB-month`, `unit-hour`.
pub fn unit(unit: PriceUnit) -> &'static str {
    match unit {
        PriceUnit::GibMonth => "GiB-month",
        PriceUnit::UnitHour => "unit-hour",
    }
}

/// A volume in the unit its price is quoted for: bytes for storage, units for compute.
pub fn volume(volume: u64, unit: PriceUnit) -> String {
    match unit {
        PriceUnit::GibMonth => bytesize::ByteSize::b(volume).display().iec().to_string(),
        PriceUnit::UnitHour => format!("{volume} units"),
    }
}

/// Availability promised in basis points: `99.90 %`, or `not promised` for 0.
pub fn availability(bp: u16) -> String {
    if bp == 0 {
        "not promised".into()
    } else {
        format!("{:.2} %", f64::from(bp) / 100.0)
    }
}

/// A latency promised in ms: `150 ms`, or `not promised` for 0.
pub fn latency(ms: u32) -> String {
    if ms == 0 {
        "not promised".into()
    } else {
        format!("{ms} ms")
    }
}

/// Seconds in each unit a duration may be written in, longest first (the first name of each
/// is the one [`duration`] writes; months and years are read only).
const DURATION_UNITS: &[(u64, &[&str])] = &[
    (365 * 86_400, &["y", "year", "years"]),
    (MONTH_SECS, &["month", "months", "M"]),
    (7 * 86_400, &["w", "week", "weeks"]),
    (86_400, &["d", "day", "days"]),
    (3_600, &["h", "hr", "hrs", "hour", "hours"]),
    (60, &["m", "min", "mins", "minute", "minutes"]),
    (1, &["s", "sec", "secs", "second", "seconds"]),
];

/// A span of seconds in days, hours, minutes and seconds: `90d`, `1d 12h`, `1h 30m`, `0s`.
/// [`parse_duration`] reads it back to the same number.
pub fn duration(secs: u64) -> String {
    let mut left = secs;
    let mut parts = Vec::new();
    for (unit, name) in [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")] {
        if left >= unit {
            parts.push(format!("{}{name}", left / unit));
            left %= unit;
        }
    }
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

/// Reads a duration: numbers each followed by a unit, e.g. `30d`, `1h 30m`, `90 days`,
/// `1 month` (30 days, as billing counts a month), `1y` (365 days), `3600s`. Returns
/// seconds; `field` names the flag or setting in the error.
pub fn parse_duration(field: &str, text: &str) -> Result<u64, ClientError> {
    let bad = |why: &str| {
        ClientError::InvalidInput(format!(
            "{field}: {text:?} is not a duration like \"30d\" or \"1h 30m\" ({why})"
        ))
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(bad("each part starts with a number"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| bad("number too large"))?;
        rest = rest[digits..].trim_start();
        let letters = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let name = &rest[..letters];
        let Some((secs, _)) = DURATION_UNITS
            .iter()
            .find(|(_, names)| names.contains(&name))
        else {
            return Err(bad(if name.is_empty() {
                "each number needs a unit: s, m, h, d, w, month, y"
            } else {
                "units are s, m, h, d, w, month, y"
            }));
        };
        total = number
            .checked_mul(*secs)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| bad("too long"))?;
        rest = rest[letters..].trim_start();
    }
    Ok(total)
}

/// The UTC day of a Unix timestamp, e.g. `2026-11-22`.
pub fn date(unix_secs: u64) -> String {
    let full = time(unix_secs);
    match full.find('T') {
        Some(at) => full[..at].to_owned(),
        None => full,
    }
}

/// A Unix timestamp as UTC, e.g. `2026-11-22T13:25:42Z`; past the year 9999, as a number.
pub fn time(unix_secs: u64) -> String {
    flashback_api::units::rfc3339(unix_secs).unwrap_or_else(|| format!("{unix_secs} (Unix time)"))
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
    fn durations_have_one_convention_and_read_back() {
        let p = |t: &str| parse_duration("--d", t).unwrap();
        assert_eq!(p("1 month"), MONTH_SECS);
        assert_eq!(p("1M"), 30 * 86_400);
        assert_eq!(p("1y"), 365 * 86_400);
        assert_eq!(p("90d"), 90 * 86_400);
        assert_eq!(p("90 days"), 90 * 86_400);
        assert_eq!(p("1h 30m"), 5_400);
        assert_eq!(p("1h30m"), 5_400);
        assert_eq!(p("2w 1d"), 15 * 86_400);
        assert_eq!(p("3600s"), 3_600);
        for secs in [0, 1, 59, 61, 3_600, 5_400, 86_399, 90 * 86_400, 123_456_789] {
            assert_eq!(p(&duration(secs)), secs, "{secs}");
        }
        for bad in [
            "",
            "30",
            "d",
            "3 fortnights",
            "1.5h",
            "-1d",
            "99999999999999999999s",
        ] {
            assert!(parse_duration("--d", bad).is_err(), "{bad:?}");
        }
        let err = parse_duration("--duration", "30").unwrap_err().to_string();
        assert!(err.starts_with("--duration: \"30\""), "{err}");
    }

    #[test]
    fn promises_of_nothing_say_so() {
        assert_eq!(availability(0), "not promised");
        assert_eq!(availability(9990), "99.90 %");
        assert_eq!(latency(0), "not promised");
        assert_eq!(latency(150), "150 ms");
    }

    #[test]
    fn volumes_durations_and_times_read_naturally() {
        assert_eq!(volume(10 << 30, PriceUnit::GibMonth), "10.0 GiB");
        assert_eq!(volume(4, PriceUnit::UnitHour), "4 units");
        assert_eq!(duration(30 * 86_400), "30d");
        assert_eq!(duration(90 * 86_400), "90d");
        assert_eq!(duration(5_400), "1h 30m");
        assert_eq!(duration(86_400 + 43_200 + 5), "1d 12h 5s");
        assert_eq!(duration(0), "0s");
        assert_eq!(time(1_795_353_944), "2026-11-22T13:25:44Z");
        assert_eq!(time(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(time(253_402_300_800), "253402300800 (Unix time)");
        assert_eq!(time(u64::MAX), "18446744073709551615 (Unix time)");
    }
}
