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

/// The time up to which a node may delete what has expired, given what vouches for its clock
/// (docs/decisions, "A clock that jumps ahead does not collect").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Horizon {
    /// The clock agrees with the evidence (within the skew bound): collect at `wall`.
    Wall(Timestamp),
    /// The clock reads more than the skew bound past everything that vouches for it: collect
    /// only up to `vouched`, the latest time known to have come.
    Held {
        /// What the clock reads.
        wall: Timestamp,
        /// The latest time vouched for.
        vouched: Timestamp,
    },
}

impl Horizon {
    /// The time to collect at.
    pub fn at(self) -> Timestamp {
        match self {
            Horizon::Wall(t) | Horizon::Held { vouched: t, .. } => t,
        }
    }
}

/// How far a node trusts its clock (`wall`) to delete expired objects.
///
/// `own_history`: the latest time the node itself has vouched for (the last time it collected
/// at, plus the time it has been running since, measured by its monotonic clock). `peers`: the
/// latest `created_at` among the objects it holds, that is how far its peers' clocks have been
/// seen to go. With neither (`0`, a new node), nothing is held: there is nothing to lose.
/// A clock more than `skew` ahead of both is not trusted for deletion, which cannot be undone:
/// the node collects only up to the evidence and waits for the clock to be confirmed by time
/// or by its peers.
pub fn gc_horizon(wall: Timestamp, own_history: Timestamp, peers: Timestamp, skew: u64) -> Horizon {
    let vouched = own_history.max(peers);
    if vouched == 0 || wall <= vouched.saturating_add(skew) {
        Horizon::Wall(wall)
    } else {
        Horizon::Held { wall, vouched }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_ahead_of_history_and_peers_is_held() {
        let day = 86_400;
        let t = 1_800_000_000;
        // Agreeing clocks, or a clock behind: collect at the clock.
        assert_eq!(gc_horizon(t, t - 60, t - day, 300), Horizon::Wall(t));
        assert_eq!(gc_horizon(t, t + day, 0, 300), Horizon::Wall(t));
        // Within the skew bound of the newest peer object.
        assert_eq!(gc_horizon(t, t - day, t - 200, 300), Horizon::Wall(t));
        // Sixty days ahead of both.
        let held = gc_horizon(t + 60 * day, t, t - 10, 300);
        assert_eq!(
            held,
            Horizon::Held {
                wall: t + 60 * day,
                vouched: t
            }
        );
        assert_eq!(held.at(), t);
        // Peers vouch for the jump (the node was down, the network went on).
        assert_eq!(
            gc_horizon(t + 60 * day, t, t + 60 * day - 5, 300),
            Horizon::Wall(t + 60 * day)
        );
        // A new node has nothing to lose.
        assert_eq!(gc_horizon(t, 0, 0, 300), Horizon::Wall(t));
    }

    #[test]
    fn seconds_and_milliseconds_agree() {
        let (s, ms) = (now(), now_ms());
        // Read a moment apart: the same second, or the next one.
        assert!(ms / 1000 == s || ms / 1000 == s + 1, "{s} s, {ms} ms");
        // After 2020-01-01, so not the 0 of a clock before 1970.
        assert!(s > 1_577_836_800);
    }
}
