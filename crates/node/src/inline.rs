//! Gossip judged on the network task as it arrives.
//!
//! While the node is idle, handing a gossip message from the network task to the pipeline and
//! its verdict back costs more time than the work itself (two task wake-ups, each behind
//! whatever else the runtime is running), and every node on a gossip path pays it before it
//! forwards. So the network task verifies and lists the message itself, reports the verdict
//! to gossipsub at once, and only the durable flush is left to the settler.
//!
//! Three things send a message the old way, through the pipeline: a backlog in the pipeline
//! (so that a burst is verified in parallel and in arrival order), a busy store (another
//! writer or a reader of the indexes: the network task must never wait), and a spent time
//! budget: at most `pipeline.inline_percent` of the network task's time goes to
//! verification, so a flood cannot starve its connections.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flashback_net::{GossipValidator, Validation};
use tokio::sync::mpsc;

use crate::GossipItem;
use crate::metrics::{JudgedOn, Metrics};
use crate::pipeline::{self, Staged, Validator};

/// The [`GossipValidator`] a node gives its network task.
pub(crate) struct InlineGossip {
    validator: Validator,
    /// The pipeline's queue, to see whether it has a backlog.
    queue: mpsc::Sender<GossipItem>,
    /// The settler's queue. Weak, so that the settler still ends once the pipeline stops.
    settle: mpsc::WeakSender<Staged>,
    budget: Mutex<Budget>,
    metrics: Arc<Metrics>,
    /// `pipeline.inline_percent` is 0: everything goes to the pipeline.
    off: bool,
}

impl InlineGossip {
    pub(crate) fn new(
        validator: Validator,
        queue: mpsc::Sender<GossipItem>,
        settle: mpsc::WeakSender<Staged>,
        percent: u8,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            validator,
            queue,
            settle,
            budget: Mutex::new(Budget::new(percent, Instant::now())),
            metrics,
            off: percent == 0,
        }
    }
}

impl GossipValidator for InlineGossip {
    fn validate(&self, topic: &str, data: &[u8]) -> Option<Validation> {
        if self.off {
            return None;
        }
        if !pipeline::on_its_topic(topic, data) {
            self.metrics.gossip_judged(JudgedOn::NetworkTask, 1);
            return Some(Validation::Reject);
        }
        if self.queue.capacity() < self.queue.max_capacity() {
            return None;
        }
        let settle = self.settle.upgrade()?;
        // A place in the settler's queue first: a listed object must reach a flush.
        let permit = settle.try_reserve().ok()?;
        let mut budget = self.budget.lock().ok()?;
        let start = Instant::now();
        if !budget.allows(start) {
            return None;
        }
        let staged = self.validator.stage_now(data);
        budget.spend(start.elapsed());
        let staged = staged?;
        let verdict = staged
            .first()
            .map_or(Validation::Ignore, |(v, _)| v.validation());
        permit.send(staged);
        self.metrics.gossip_judged(JudgedOn::NetworkTask, 1);
        Some(verdict)
    }
}

/// A share of the network task's time: credit accrues at `percent` of wall-clock time, up to
/// `MAX_CREDIT`, and each inline verification spends what it took.
#[derive(Debug)]
struct Budget {
    percent: u32,
    credit: Duration,
    debt: Duration,
    last: Instant,
}

/// The most credit saved up: a short burst of this much verification runs inline.
const MAX_CREDIT: Duration = Duration::from_millis(5);

impl Budget {
    fn new(percent: u8, now: Instant) -> Self {
        let percent = u32::from(percent.min(100));
        Self {
            percent,
            credit: if percent == 0 {
                Duration::ZERO
            } else {
                MAX_CREDIT
            },
            debt: Duration::ZERO,
            last: now,
        }
    }

    /// Accrues credit up to `now`; whether some is left to spend.
    fn allows(&mut self, now: Instant) -> bool {
        let earned = now.saturating_duration_since(self.last) * self.percent / 100;
        self.last = now;
        let repaid = earned.min(self.debt);
        self.debt -= repaid;
        self.credit = (self.credit + (earned - repaid)).min(MAX_CREDIT);
        self.percent > 0 && self.debt.is_zero() && !self.credit.is_zero()
    }

    fn spend(&mut self, took: Duration) {
        let paid = took.min(self.credit);
        self.credit -= paid;
        self.debt += took - paid;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_a_share_of_wall_clock_time() {
        let t0 = Instant::now();
        let mut budget = Budget::new(25, t0);
        assert!(budget.allows(t0));
        // Spend the saved-up credit and 1 ms more: 4 ms of wall-clock time repays it.
        budget.spend(MAX_CREDIT + Duration::from_millis(1));
        assert!(!budget.allows(t0 + Duration::from_millis(3)));
        assert!(budget.allows(t0 + Duration::from_millis(5)));
        // Credit never exceeds the cap, however long the task was idle.
        assert!(budget.allows(t0 + Duration::from_secs(3600)));
        budget.spend(MAX_CREDIT);
        assert!(!budget.allows(t0 + Duration::from_secs(3600)));
    }

    #[test]
    fn zero_percent_never_allows() {
        let t0 = Instant::now();
        let mut budget = Budget::new(0, t0);
        assert!(!budget.allows(t0));
        assert!(!budget.allows(t0 + Duration::from_secs(60)));
    }

    #[test]
    fn above_one_hundred_percent_counts_as_one_hundred() {
        let t0 = Instant::now();
        let mut budget = Budget::new(250, t0);
        budget.spend(MAX_CREDIT + Duration::from_millis(2));
        assert!(!budget.allows(t0 + Duration::from_millis(1)));
        assert!(budget.allows(t0 + Duration::from_millis(3)));
    }
}
