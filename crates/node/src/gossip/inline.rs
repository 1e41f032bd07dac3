//! Gossip judged on the network task as it arrives.
//!
//! While the node is idle, handing a gossip message from the network task to the pipeline and
//! its verdict back costs more time than the work itself (two task wake-ups, each behind
//! whatever else the runtime is running), and every node on a gossip path pays it before it
//! forwards. So the network task verifies the message itself and reports the verdict to
//! gossipsub at once; only the durable flush is left to the settler.
//!
//! A new offer is forwarded before it is listed: whether it is new (not held, not older than
//! the version held, not a second version with the same `seq`) is a read of the indexes, so
//! its Accept is reported right after verification, and the listing itself (the sled insert,
//! the ordered indexes, the subscribers) runs after the report, while other threads send the
//! forwards. Should another writer change the indexes between the two steps, the offer is
//! stored with the outcome staging gives (superseded, say) and counted so; it was relayed as
//! new, which costs the peers one message they ignore. Other kinds are listed before their
//! verdict, as their verdict may depend on more than the indexes.
//!
//! Three things send a message the old way, through the pipeline: a backlog in the pipeline
//! (so that a burst is verified in parallel and in arrival order), a busy store (another
//! writer or a reader of the indexes: the network task must never wait), and a spent time
//! budget: at most `pipeline.inline_percent` of the network task's time goes to
//! verification, so a flood cannot starve its connections.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flashback_net::{GossipValidator, Judged, Validation};
use tokio::sync::mpsc;

use super::GossipItem;
use crate::metrics::{JudgedOn, Metrics};
use crate::pipeline::{self, Judgement, Staged, Validator};

/// The [`GossipValidator`] a node gives its network task.
pub(crate) struct InlineGossip {
    validator: Validator,
    /// The pipeline's queue, to see whether it has a backlog.
    queue: mpsc::Sender<GossipItem>,
    /// The settler's queue. Weak, so that the settler still ends once the pipeline stops.
    settle: mpsc::WeakSender<Staged>,
    budget: Arc<Mutex<Budget>>,
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
            budget: Arc::new(Mutex::new(Budget::new(percent, Instant::now()))),
            metrics,
            off: percent == 0,
        }
    }
}

impl GossipValidator for InlineGossip {
    fn validate(&self, topic: &str, data: &[u8]) -> Option<Judged> {
        if self.off {
            return None;
        }
        if let Err(verdict) = pipeline::topic_check(topic, data) {
            self.validator.count_refused(&verdict);
            self.metrics.gossip_judged(JudgedOn::NetworkTask, 1);
            return Some(Validation::Reject.into());
        }
        if self.queue.capacity() < self.queue.max_capacity() {
            return None;
        }
        let settle = self.settle.upgrade()?;
        // A place in the settler's queue first: a listed object must reach a flush.
        let permit = settle.try_reserve_owned().ok()?;
        let mut budget = lock(&self.budget);
        let start = Instant::now();
        if !budget.allows(start) {
            return None;
        }
        let judgement = self.validator.judge_now(data);
        budget.spend(start.elapsed());
        drop(budget);
        let judged = match judgement? {
            Judgement::Staged(staged) => {
                let verdict = staged
                    .first()
                    .map_or(Validation::Ignore, |(v, _)| v.validation());
                permit.send(staged);
                verdict.into()
            }
            Judgement::NewOffer(object) => {
                let validator = self.validator.clone();
                let budget = Arc::clone(&self.budget);
                Judged {
                    verdict: Validation::Accept,
                    then: Some(Box::new(move || {
                        let start = Instant::now();
                        validator.stage_offer_later(*object, move |staged| {
                            permit.send(staged);
                        });
                        lock(&budget).spend(start.elapsed());
                    })),
                }
            }
        };
        self.metrics.gossip_judged(JudgedOn::NetworkTask, 1);
        Some(judged)
    }
}

fn lock(budget: &Mutex<Budget>) -> std::sync::MutexGuard<'_, Budget> {
    budget
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
