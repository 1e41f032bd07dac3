//! The settler: makes staged gossip durable, many batches per flush (group commit).

use std::time::Duration;

use flashback_types::Object;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::pipeline::{Staged, Verdict};
use crate::service::Services;

/// Gossip batches staged but not yet handed to a flush.
pub(super) const SETTLE_QUEUE: usize = 64;

/// Waits up to `delay` after the first batch for more, flushes once, then announces what was
/// stored and publishes equivocation evidence. Ends once the batcher, its only sender, has
/// stopped and everything it sent is durable: on shutdown it stops waiting and flushes at
/// once.
pub(super) async fn run(
    mut rx: mpsc::Receiver<Staged>,
    services: Services,
    delay: Duration,
    stop: CancellationToken,
) {
    while let Some(mut staged) = rx.recv().await {
        if !delay.is_zero() {
            // One timer for the whole window, not one per message that arrives in it.
            let window = tokio::time::sleep(delay);
            tokio::pin!(window);
            loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    () = &mut window => break,
                    more = rx.recv() => match more {
                        Some(more) => staged.append(more),
                        None => break,
                    },
                }
            }
        }
        while let Ok(more) = rx.try_recv() {
            staged.append(more);
        }
        settle(&services, staged).await;
    }
}

async fn settle(services: &Services, staged: Staged) {
    for (verdict, _) in services.validator.settle(staged).await {
        if let Verdict::Stored(flashback_store::Applied::Equivocation(evidence)) = verdict {
            services
                .publish(&Object::EquivocationEvidence(*evidence))
                .await;
        }
    }
}
