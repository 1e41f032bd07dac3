//! The batcher: takes gossip off the pipeline queue in batches, verifies and lists them
//! ([`Validator::stage`], in parallel for large batches), reports every verdict to gossipsub
//! at once, and hands the batch to the settler to be made durable.

use flashback_net::Validation;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::GossipItem;
use crate::metrics::JudgedOn;
use crate::pipeline::{self, Staged};
use crate::service::Services;

pub(super) async fn run(
    mut rx: mpsc::Receiver<GossipItem>,
    services: Services,
    max_batch: usize,
    settle: mpsc::Sender<Staged>,
    stop: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            item = rx.recv() => match item {
                Some(item) => item,
                None => break,
            },
        };
        let mut items = vec![first];
        while items.len() < max_batch {
            match rx.try_recv() {
                Ok(item) => items.push(item),
                Err(_) => break,
            }
        }
        let (ok, wrong): (Vec<_>, Vec<_>) = items.into_iter().partition(|item| {
            match pipeline::topic_check(&item.topic, &item.data) {
                Ok(()) => true,
                Err(verdict) => {
                    services.validator.count_refused(&verdict);
                    false
                }
            }
        });
        let (senders, batch): (Vec<_>, Vec<_>) = ok
            .into_iter()
            .map(|item| ((item.msg_id, item.source), item.data))
            .unzip();
        // Relay first, flush second: gossipsub forwards a verified object as soon as it hears
        // Accept, and the node's own copy becomes durable with the next group commit. A crash
        // in between loses only this node's copy, which anti-entropy brings back
        // (docs/decisions/0014-relay-before-flush.md).
        let staged = services.validator.stage(batch).await;
        let verdicts: Vec<_> = wrong
            .iter()
            .map(|item| (item.msg_id, item.source, Validation::Reject))
            .chain(
                senders
                    .iter()
                    .zip(staged.validations())
                    .map(|(&(msg_id, source), validation)| (msg_id, source, validation)),
            )
            .collect();
        services
            .validator
            .metrics()
            .gossip_judged(JudgedOn::Pipeline, verdicts.len() as u64);
        let _ = services.net.report_validations(verdicts).await;
        // Waits only when the settler is `SETTLE_QUEUE` batches behind.
        if settle.send(staged).await.is_err() {
            break;
        }
    }
}
