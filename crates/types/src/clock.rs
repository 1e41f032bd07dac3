//! The wall clock, read in one place. Nothing in this crate calls it: the rules take the time
//! as an argument, so that they stay deterministic and testable; the node, the light client,
//! the testnet and the tests read the time here.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::Timestamp;

/// Now, in Unix seconds: the unit of every `created_at` and `expires_at` (0 if the system
/// clock is before 1970).
pub fn now() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Now, in Unix milliseconds, for measurements and traces (0 if the system clock is before
/// 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_milliseconds_agree() {
        let (s, ms) = (now(), now_ms());
        // Read a moment apart: the same second, or the next one.
        assert!(ms / 1000 == s || ms / 1000 == s + 1, "{s} s, {ms} ms");
        // After 2020-01-01, so not the 0 of a clock before 1970.
        assert!(s > 1_577_836_800);
    }
}
