//! `Range` headers of the blob endpoint: one range of bytes, or the whole blob.

use axum::http::HeaderValue;

/// A parsed `Range` header against a blob of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Wanted {
    /// No (usable) range: the whole blob.
    All,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// A well-formed range that starts past the end.
    Unsatisfiable,
}

/// Parses one `bytes=a-b`, `bytes=a-` or `bytes=-n` range. Anything else (other units,
/// several ranges, garbage) is ignored and the whole blob is served, as RFC 9110 allows.
pub(super) fn parse_range(value: Option<&HeaderValue>, size: u64) -> Wanted {
    let Some(spec) = value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Wanted::All;
    };
    if spec.contains(',') {
        return Wanted::All;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Wanted::All;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (first.is_empty(), last.is_empty()) {
        // `-n`: the last n bytes.
        (true, false) => match number(last) {
            Some(0) => Wanted::Unsatisfiable,
            Some(_) if size == 0 => Wanted::Unsatisfiable,
            Some(n) => Wanted::Part(size.saturating_sub(n), size - 1),
            None => Wanted::All,
        },
        // `a-`: from a to the end.
        (false, true) => match number(first) {
            Some(a) if a >= size => Wanted::Unsatisfiable,
            Some(a) => Wanted::Part(a, size - 1),
            None => Wanted::All,
        },
        (false, false) => match (number(first), number(last)) {
            (Some(a), Some(b)) if a > b => Wanted::All,
            (Some(a), Some(_)) if a >= size => Wanted::Unsatisfiable,
            (Some(a), Some(b)) => Wanted::Part(a, b.min(size - 1)),
            _ => Wanted::All,
        },
        (true, true) => Wanted::All,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(v: &str, size: u64) -> Wanted {
        parse_range(Some(&HeaderValue::from_str(v).expect("header")), size)
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Wanted::All);
        assert_eq!(range("bytes=0-0", 10), Wanted::Part(0, 0));
        assert_eq!(range("bytes=2-5", 10), Wanted::Part(2, 5));
        assert_eq!(range("bytes=2-50", 10), Wanted::Part(2, 9));
        assert_eq!(range("bytes=7-", 10), Wanted::Part(7, 9));
        assert_eq!(range("bytes=-3", 10), Wanted::Part(7, 9));
        assert_eq!(range("bytes=-30", 10), Wanted::Part(0, 9));
        assert_eq!(range("bytes=10-", 10), Wanted::Unsatisfiable);
        assert_eq!(range("bytes=10-20", 10), Wanted::Unsatisfiable);
        assert_eq!(range("bytes=-0", 10), Wanted::Unsatisfiable);
        assert_eq!(range("bytes=0-", 0), Wanted::Unsatisfiable);
        assert_eq!(range("bytes=-5", 0), Wanted::Unsatisfiable);
        // Ignored: served whole.
        assert_eq!(range("bytes=5-2", 10), Wanted::All);
        assert_eq!(range("bytes=0-1,3-4", 10), Wanted::All);
        assert_eq!(range("items=0-1", 10), Wanted::All);
        assert_eq!(range("bytes=x-1", 10), Wanted::All);
        assert_eq!(range("bytes=+1-2", 10), Wanted::All);
        assert_eq!(range("bytes=-", 10), Wanted::All);
        assert_eq!(range("bytes=99999999999999999999999-", 10), Wanted::All);
    }
}
