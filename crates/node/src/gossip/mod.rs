//! The path of one gossip message through a node.
//!
//! ```text
//!  a peer ──► swarm task (flashback-net): gossipsub hands it to InlineGossip (inline.rs)
//!               │
//!               ├─ pipeline idle, store free, time budget left: verified and listed right
//!               │  here (Validator::judge_now); Accept / Reject / Ignore reported at once,
//!               │  so gossipsub forwards a valid message now ─────────────────────────────┐
//!               │                                                                       │
//!               └─ otherwise: NetEvent::Gossip ──► events task (crate::tasks::events)    │
//!                     │ Queue::enqueue: the bounded pipeline queue (full: Ignore)        │
//!                     ▼                                                                 │
//!                  batcher (batch.rs): a batch off the queue, each message on its kind's │
//!                  topic or Reject, verified in parallel and listed (Validator::stage),  │
//!                  every verdict reported at once ──────────────────────────────────────┤
//!                                                                                       ▼
//!                  settler (settle.rs): many batches, one flush (group commit within
//!                  pipeline.flush_delay_ms, Validator::settle); then each new object goes
//!                  to Node::subscribe_applied, and equivocation evidence is published
//! ```
//!
//! Relay first, flush second: a crash between the two loses only this node's copy of what it
//! relayed, which anti-entropy brings back (docs/ARCHITECTURE.md, "Relay before flush").
//! Objects from sync and from light clients take the same [`crate::pipeline::Validator`], but
//! are flushed before they are acknowledged.

mod batch;
mod inline;
mod settle;

use std::sync::Arc;

use flashback_net::{GossipValidator, MessageId32, NetHandle, PeerId, Validation};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::PipelineConfig;
use crate::metrics::Metrics;
use crate::pipeline::{Staged, Validator};
use crate::service::Services;
use inline::InlineGossip;

/// One gossip message waiting in the pipeline queue.
pub(crate) struct GossipItem {
    data: Vec<u8>,
    topic: String,
    msg_id: MessageId32,
    source: PeerId,
}

/// A node's gossip path before its tasks run: the queues, and the validator the swarm task
/// calls (which the network needs before the tasks can start).
pub(crate) struct GossipPath {
    inline: Arc<InlineGossip>,
    queue: mpsc::Sender<GossipItem>,
    queued: mpsc::Receiver<GossipItem>,
    settle: mpsc::Sender<Staged>,
    to_settle: mpsc::Receiver<Staged>,
    max_batch: usize,
    flush_delay_ms: u64,
}

impl GossipPath {
    pub(crate) fn new(
        validator: &Validator,
        config: &PipelineConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (queue, queued) = mpsc::channel(config.queue_capacity.max(1));
        let (settle, to_settle) = mpsc::channel(settle::SETTLE_QUEUE);
        let inline = Arc::new(InlineGossip::new(
            validator.clone(),
            queue.clone(),
            settle.downgrade(),
            config.inline_percent,
            metrics,
        ));
        Self {
            inline,
            queue,
            queued,
            settle,
            to_settle,
            max_batch: config.max_batch.max(1),
            flush_delay_ms: config.flush_delay_ms,
        }
    }

    /// What the swarm task calls on each gossip message
    /// ([`flashback_net::NetBuilder::gossip_validator`]).
    pub(crate) fn swarm_validator(&self) -> Arc<dyn GossipValidator> {
        self.inline.clone()
    }

    /// Starts the batcher and the settler; returns the queue the events task feeds.
    pub(crate) fn spawn(
        self,
        services: &Services,
        tasks: &TaskTracker,
        stop: &CancellationToken,
    ) -> Queue {
        // The settler's only strong sender goes to the batcher (InlineGossip holds a weak one),
        // so the settler ends once the batcher has stopped and all it sent is durable.
        tasks.spawn(batch::run(
            self.queued,
            services.clone(),
            self.max_batch,
            self.settle,
            stop.clone(),
        ));
        tasks.spawn(settle::run(
            self.to_settle,
            services.clone(),
            std::time::Duration::from_millis(self.flush_delay_ms),
            stop.clone(),
        ));
        Queue(self.queue)
    }
}

/// The pipeline queue, as the events task feeds it.
pub(crate) struct Queue(mpsc::Sender<GossipItem>);

impl Queue {
    /// Queues a message the swarm task did not judge. When the queue is full the message is
    /// reported `Ignore` at once (not forwarded, nobody punished): the swarm never waits for
    /// the pipeline, and another peer or a later sync brings the object again.
    pub(crate) async fn enqueue(
        &self,
        net: &NetHandle,
        topic: String,
        data: Vec<u8>,
        msg_id: MessageId32,
        source: PeerId,
    ) {
        let item = GossipItem {
            data,
            topic,
            msg_id,
            source,
        };
        if let Err(full) = self.0.try_send(item) {
            let item = full.into_inner();
            tracing::debug!("validation queue full: ignoring gossip");
            let _ = net
                .report_validation(item.msg_id, item.source, Validation::Ignore)
                .await;
        }
    }
}
