//! Garbage collection: drops expired objects from the listing every minute.

use std::time::Duration;

use flashback_store::Store;
use tokio_util::sync::CancellationToken;

use flashback_types::clock::now;

pub(crate) async fn run(store: Store, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = tick.tick() => {
                let store = store.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    if let Err(e) = store.gc(now()) {
                        tracing::warn!(error = %e, "garbage collection failed");
                    }
                })
                .await;
            }
        }
    }
}
