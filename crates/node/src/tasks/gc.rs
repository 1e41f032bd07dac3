//! Garbage collection: drops expired objects from the listing every minute, at a time the
//! node's clock is trusted for.
//!
//! Deleting cannot be undone, so the clock is checked first (decision "A clock that jumps ahead
//! does not collect"): against the node's own history, which is the latest time it collected at
//! (the store's clock mark when the process starts, then each collection) plus the time that has
//! passed since by the monotonic clock, and against its peers, which is the newest `created_at`
//! it holds. A clock more than the skew bound ahead of both collects only up to what they vouch
//! for, and says so.

use std::time::{Duration, Instant};

use flashback_store::Store;
use flashback_types::Timestamp;
use flashback_types::clock::{Horizon, gc_horizon, now};
use tokio_util::sync::CancellationToken;

pub(crate) async fn run(store: Store, skew_secs: u64, stop: CancellationToken) {
    // Read off the runtime, as every store access here.
    let mark = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.clock_mark())
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
    };
    let mut history = History::start(mark, Instant::now());
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = tick.tick() => {
                let store = store.clone();
                let before = history;
                history = tokio::task::spawn_blocking(move || {
                    collect(&store, before, now(), Instant::now(), skew_secs)
                })
                .await
                .unwrap_or(before);
            }
        }
    }
}

/// What the node itself vouches for: the time `at` was reached at the monotonic instant
/// `since` (`at` 0: no record of any collection).
#[derive(Debug, Clone, Copy)]
struct History {
    at: Timestamp,
    since: Instant,
    /// The last collection was held back (so the warning is logged once).
    held: bool,
}

impl History {
    /// The history of a process that found the store's clock `mark` at `since`.
    fn start(mark: Option<Timestamp>, since: Instant) -> Self {
        Self {
            at: mark.unwrap_or(0),
            since,
            held: false,
        }
    }

    /// The latest time vouched for at `instant` (0 without any record).
    fn vouched_at(&self, instant: Instant) -> Timestamp {
        if self.at == 0 {
            0
        } else {
            self.at
                .saturating_add(instant.saturating_duration_since(self.since).as_secs())
        }
    }
}

/// One collection, with the wall clock reading `wall` at the monotonic `instant`; returns the
/// history after it.
fn collect(
    store: &Store,
    history: History,
    wall: Timestamp,
    instant: Instant,
    skew_secs: u64,
) -> History {
    let own = history.vouched_at(instant);
    let peers = store.newest_created_at();
    let horizon = gc_horizon(wall, own, peers, skew_secs);
    match horizon {
        Horizon::Held { wall, vouched } if !history.held => tracing::warn!(
            clock = wall,
            ahead_secs = wall - vouched,
            own_history = own,
            newest_object_created_at = peers,
            collecting_up_to = vouched,
            "garbage collection held back: the clock reads {} s past what vouches for it (the \
             node's last collection plus the time since, and the newest object its peers \
             signed), more than the {skew_secs} s skew bound; collecting only what expired by \
             {vouched} until time or peers confirm the clock (if the node was not stopped that \
             long, check the system clock)",
            wall - vouched
        ),
        Horizon::Wall(wall) if history.held => {
            tracing::info!(
                clock = wall,
                "the clock is confirmed: collecting by it again"
            );
        }
        _ => {}
    }
    let held = matches!(horizon, Horizon::Held { .. });
    match store.gc(horizon.at()) {
        Ok(removed) => {
            if removed > 0 {
                tracing::info!(
                    removed,
                    at = horizon.at(),
                    "garbage collection removed {removed} expired objects"
                );
            }
            // Collected at `horizon.at()` (never moving the history back): the node's own
            // record from now on, so that a node that started without a mark is not left to
            // its peers' evidence alone.
            History {
                at: own.max(horizon.at()),
                since: instant,
                held,
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "garbage collection failed");
            History { held, ..history }
        }
    }
}

#[cfg(test)]
mod tests {
    use flashback_store::StoreConfig;
    use flashback_types::{Object, SecretKey, Signed, samples};

    use super::*;

    const SKEW: u64 = 300;
    const DAY: u64 = 86_400;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path().join("listing"), StoreConfig::default()).expect("open");
        (dir, store)
    }

    /// Lists an offer created at `created` and expiring at `expires`; returns it.
    fn list_offer(store: &Store, created: Timestamp, expires: Timestamp) -> Object {
        let key = SecretKey::generate();
        let mut offer = samples::offer(key.public(), "o", 1, created);
        offer.expires_at = expires;
        let object = Object::Offer(Signed::sign(offer, &key).expect("a valid offer"));
        store.apply(&object, created).expect("listed");
        object
    }

    fn listed(store: &Store, object: &Object) -> bool {
        store.get(&object.id()).expect("read").is_some()
    }

    #[test]
    fn a_node_that_started_on_an_empty_store_collects_by_its_clock_in_a_quiet_network() {
        let (_dir, store) = store();
        let (t, i0) = (now(), Instant::now());
        // First collection of a new node: nothing vouches, nothing to lose.
        let history = collect(&store, History::start(None, i0), t, i0, SKEW);
        assert!(!history.held);
        // One offer arrives, valid ten minutes; then nothing new for an hour. The node's own
        // running time vouches for the clock, so the expired offer goes.
        let offer = list_offer(&store, t, t + 600);
        let history = collect(
            &store,
            history,
            t + 3600,
            i0 + Duration::from_secs(3600),
            SKEW,
        );
        assert!(!history.held, "a clock confirmed by running time was held");
        assert!(!listed(&store, &offer), "the expired offer is still listed");
    }

    #[test]
    fn a_clock_that_jumps_ahead_while_the_node_runs_collects_nothing_it_holds() {
        let (_dir, store) = store();
        let (t, i0) = (now(), Instant::now());
        let history = collect(&store, History::start(None, i0), t, i0, SKEW);
        let offer = list_offer(&store, t, t + 30 * DAY);
        // A minute later the clock reads sixty days on.
        let i1 = i0 + Duration::from_secs(60);
        let history = collect(&store, history, t + 60 * DAY, i1, SKEW);
        assert!(history.held);
        assert!(
            listed(&store, &offer),
            "a jumped clock collected the listing"
        );
        // The clock is fixed: collecting by it again, and the offer is still valid.
        let i2 = i1 + Duration::from_secs(60);
        let history = collect(&store, history, t + 120, i2, SKEW);
        assert!(!history.held);
        assert!(listed(&store, &offer));
    }

    #[test]
    fn a_restart_keeps_the_history_of_the_store() {
        let (_dir, store) = store();
        let (t, i0) = (now(), Instant::now());
        collect(&store, History::start(None, i0), t, i0, SKEW);
        let offer = list_offer(&store, t - DAY, t + 30 * DAY);
        // The process restarts with its clock sixty days ahead: the store's mark remembers.
        let mark = store.clock_mark().expect("read the mark");
        assert_eq!(mark, Some(t));
        let i1 = Instant::now();
        let history = collect(&store, History::start(mark, i1), t + 60 * DAY, i1, SKEW);
        assert!(history.held);
        assert!(listed(&store, &offer));
    }
}
