//! Garbage collection: drops expired objects from the listing every minute, at a time the
//! node's clock is trusted for.
//!
//! Deleting cannot be undone, so the clock is checked first (decision "A clock that jumps ahead
//! does not collect"): against the node's own history, which is the store's clock mark (the
//! last time it collected at) plus the time this process has run since by the monotonic clock,
//! and against its peers, which is the newest `created_at` it holds. A clock more than the
//! skew bound ahead of both collects only up to what they vouch for, and says so.

use std::time::{Duration, Instant};

use flashback_store::Store;
use flashback_types::clock::{Horizon, gc_horizon, now};
use tokio_util::sync::CancellationToken;

pub(crate) async fn run(store: Store, skew_secs: u64, stop: CancellationToken) {
    let started = Instant::now();
    // The mark as the store had it when this process started: history the clock must agree
    // with. Read off the runtime, as every store access here.
    let mark = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.clock_mark())
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
            .unwrap_or(0)
    };
    let mut held = false;
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = tick.tick() => {
                let store = store.clone();
                let was_held = held;
                held = tokio::task::spawn_blocking(move || {
                    collect(&store, mark, started, skew_secs, was_held)
                })
                .await
                .unwrap_or(was_held);
            }
        }
    }
}

/// One collection; returns whether the clock was held back.
fn collect(store: &Store, mark: u64, started: Instant, skew_secs: u64, was_held: bool) -> bool {
    let own_history = if mark == 0 {
        0
    } else {
        mark.saturating_add(started.elapsed().as_secs())
    };
    let peers = store.newest_created_at();
    let horizon = gc_horizon(now(), own_history, peers, skew_secs);
    match horizon {
        Horizon::Held { wall, vouched } if !was_held => tracing::warn!(
            clock = wall,
            ahead_secs = wall - vouched,
            last_collected_at = mark,
            newest_object_created_at = peers,
            collecting_up_to = vouched,
            "garbage collection held back: the clock reads {} s past the node's own history \
             and the newest object from its peers, more than the {skew_secs} s skew bound; \
             collecting only what expired by {vouched} until time or peers confirm the clock \
             (check the system clock)",
            wall - vouched
        ),
        Horizon::Wall(wall) if was_held => {
            tracing::info!(
                clock = wall,
                "the clock is confirmed: collecting by it again"
            );
        }
        _ => {}
    }
    match store.gc(horizon.at()) {
        Ok(0) => {}
        Ok(removed) => tracing::info!(
            removed,
            at = horizon.at(),
            "garbage collection removed {removed} expired objects"
        ),
        Err(e) => tracing::warn!(error = %e, "garbage collection failed"),
    }
    matches!(horizon, Horizon::Held { .. })
}
