//! The validation pipeline: decode and verify off the swarm task (in parallel, in batches),
//! apply to the store (one durable flush per batch), and turn every result into a gossip
//! verdict from the rule labels of `flashback-types`.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::broadcast;

use flashback_net::Validation;
use flashback_store::{Applied, Store};
use flashback_types::{KeyCache, Kind, Label, Object, ObjectError, TimeRules};

use crate::metrics::Metrics;
use flashback_types::clock::now;

/// What became of one object handed to the pipeline.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Valid; the store's outcome (applied, duplicate, superseded, equivocation, expired).
    Stored(Applied),
    /// Invalid, by this rule; with the kind its tag names when the tag is a known one (the
    /// metrics label it with that kind).
    Invalid(ObjectError, Option<Kind>),
    /// Not judged or not stored because this node failed (its store, or an internal task);
    /// not the sender's fault.
    StoreFailed(String),
}

impl Verdict {
    /// What to tell gossipsub: Accept only when the object was new and stored.
    pub fn validation(&self) -> Validation {
        match self {
            Verdict::Stored(Applied::Applied) => Validation::Accept,
            Verdict::Stored(Applied::Refused(e)) | Verdict::Invalid(e, _) => match e.label() {
                Label::Reject => Validation::Reject,
                Label::Ignore => Validation::Ignore,
            },
            Verdict::Stored(_) | Verdict::StoreFailed(_) => Validation::Ignore,
        }
    }

    /// A short outcome name for metrics and logs.
    pub fn outcome(&self) -> &'static str {
        match self {
            Verdict::Stored(a) => match a.rule() {
                None => "accepted",
                Some(rule) => rule.name(),
            },
            Verdict::Invalid(e, _) => e.rule.name(),
            Verdict::StoreFailed(_) => "store_error",
        }
    }
}

/// An object that has just entered the listing ([`crate::Node::subscribe_listed`]).
#[derive(Debug, Clone)]
pub struct Listed {
    /// The object.
    pub object: Object,
    /// When queries could first see it: the instant it was listed, not when a subscriber got
    /// round to reading it.
    pub at: Instant,
}

/// Decodes, verifies and stores batches of encoded objects.
#[derive(Clone)]
pub struct Validator {
    store: Store,
    time: TimeRules,
    /// Signers' keys this node has already checked.
    keys: Arc<KeyCache>,
    threads: usize,
    metrics: Arc<Metrics>,
    listed: broadcast::Sender<Listed>,
    applied: broadcast::Sender<Object>,
}

impl Validator {
    pub(crate) fn new(
        store: Store,
        time: TimeRules,
        threads: usize,
        metrics: Arc<Metrics>,
        listed: broadcast::Sender<Listed>,
        applied: broadcast::Sender<Object>,
    ) -> Self {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            threads
        };
        Self {
            store,
            time,
            keys: Arc::new(KeyCache::new(SIGNER_KEYS)),
            threads,
            metrics,
            listed,
            applied,
        }
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Counts a message refused before it reached the pipeline (wrong topic), by the kind its
    /// tag names.
    pub(crate) fn count_refused(&self, verdict: &Verdict) {
        let kind = match verdict {
            Verdict::Invalid(_, Some(kind)) => kind.name(),
            _ => "unknown",
        };
        self.metrics
            .object(kind, verdict.outcome(), verdict.validation());
    }

    /// Validates and stores `batch`. Returns, for each input in order, its verdict and (when it
    /// decoded) the object, once every stored object is durable.
    pub async fn ingest(&self, batch: Vec<Vec<u8>>) -> Vec<(Verdict, Option<Object>)> {
        let staged = self.stage(batch).await;
        self.settle(staged).await
    }

    /// The first half of [`Validator::ingest`]: decodes, verifies and stages in the store. The
    /// verdicts are final (readers already see the objects) except that a `Stored` one turns
    /// into `StoreFailed` if [`Validator::settle`] cannot make it durable. Nothing may be
    /// acknowledged to anyone before `settle`; relaying a verified object may.
    pub(crate) async fn stage(&self, batch: Vec<Vec<u8>>) -> Staged {
        if batch.is_empty() {
            return Staged(Vec::new());
        }
        let now = now();
        let decoded = self.decode_parallel(batch, now).await;
        let valid: Vec<Object> = decoded
            .iter()
            .filter_map(|r| r.as_ref().ok().cloned())
            .collect();
        // A small batch is a few microseconds of in-memory work: not worth a thread handoff,
        // unless another writer (a sync batch, GC) holds the store, which an async task must
        // not wait for.
        let inline = if valid.len() <= INLINE_MAX {
            self.store.try_stage_batch(&valid, now)
        } else {
            None
        };
        let applied = match inline {
            Some(result) => result.map_err(|e| e.to_string()),
            None => {
                let store = self.store.clone();
                tokio::task::spawn_blocking(move || store.stage_batch(&valid, now))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
            }
        };
        self.staged(decoded, applied)
    }

    /// Judges one gossip message on the calling thread, without waiting: `None` when the
    /// store is busy (another writer, such as a sync batch or GC, or a reader of the indexes,
    /// such as a query). For the network task, which judges gossip as it arrives while the
    /// node is idle (see `InlineGossip`).
    ///
    /// A valid offer that would be listed as new is not staged yet: its verdict (Accept) is
    /// final at once, and staging it is left to [`Validator::stage_offer_later`], after
    /// gossipsub has forwarded it. Anything else is staged here, as [`Validator::stage`] would.
    pub(crate) fn judge_now(&self, data: &[u8]) -> Option<Judgement> {
        let now = now();
        let mut decoded = decode_chunk(std::slice::from_ref(&data), now, &self.time, &self.keys);
        if let Some(Ok(Object::Offer(offer))) = decoded.first()
            && self.store.try_offer_is_new(offer, now)?.unwrap_or(false)
            && let Some(Ok(object)) = decoded.pop()
        {
            return Some(Judgement::NewOffer(Box::new(object)));
        }
        self.stage_decoded_now(decoded, now).map(Judgement::Staged)
    }

    /// Stages one verified object that [`Validator::judge_now`] found new. On the calling
    /// thread unless the store is busy, then on a blocking thread; either way `done` gets the
    /// result.
    pub(crate) fn stage_offer_later(
        &self,
        object: Object,
        done: impl FnOnce(Staged) + Send + 'static,
    ) {
        let now = now();
        let batch = std::slice::from_ref(&object);
        match self.store.try_stage_batch(batch, now) {
            Some(applied) => {
                let staged = self.staged(vec![Ok(object)], applied.map_err(|e| e.to_string()));
                done(staged);
            }
            None => {
                let this = self.clone();
                tokio::task::spawn_blocking(move || {
                    let applied = this
                        .store
                        .stage_batch(std::slice::from_ref(&object), now)
                        .map_err(|e| e.to_string());
                    done(this.staged(vec![Ok(object)], applied));
                });
            }
        }
    }

    /// Stages one verified object that [`Validator::judge_now`] found new, from an async
    /// task: [`Validator::stage_offer_later`], waiting for its result.
    pub(crate) async fn stage_verified(&self, object: Object) -> Staged {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.stage_offer_later(object, move |staged| {
            let _ = tx.send(staged);
        });
        rx.await.unwrap_or_else(|_| {
            Staged(vec![(
                Verdict::StoreFailed("the staging task failed".into()),
                None,
            )])
        })
    }

    fn stage_decoded_now(&self, decoded: Vec<Result<Object, Verdict>>, now: u64) -> Option<Staged> {
        let valid: Vec<Object> = decoded
            .iter()
            .filter_map(|r| r.as_ref().ok().cloned())
            .collect();
        let applied = if valid.is_empty() {
            Ok(Vec::new())
        } else {
            self.store
                .try_stage_batch(&valid, now)?
                .map_err(|e| e.to_string())
        };
        Some(self.staged(decoded, applied))
    }

    /// Pairs each decoded input with the store's outcome for it, and announces what is newly
    /// listed.
    fn staged(
        &self,
        decoded: Vec<Result<Object, Verdict>>,
        applied: Result<Vec<Applied>, String>,
    ) -> Staged {
        let mut outcomes = match applied {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect::<Vec<_>>().into_iter(),
            Err(e) => {
                tracing::error!(error = %e, "listing store failed to apply a batch");
                vec![Err(e); decoded.iter().filter(|r| r.is_ok()).count()].into_iter()
            }
        };
        let results: Vec<_> = decoded
            .into_iter()
            .map(|result| match result {
                Ok(object) => match outcomes.next() {
                    Some(Ok(applied)) => (Verdict::Stored(applied), Some(object)),
                    Some(Err(e)) => (Verdict::StoreFailed(e), Some(object)),
                    None => (
                        Verdict::StoreFailed("store returned too few outcomes".into()),
                        Some(object),
                    ),
                },
                Err(verdict) => (verdict, None),
            })
            .collect();
        if self.listed.receiver_count() > 0 {
            let at = Instant::now();
            for (verdict, object) in &results {
                if let (Verdict::Stored(Applied::Applied), Some(o)) = (verdict, object) {
                    let _ = self.listed.send(Listed {
                        object: o.clone(),
                        at,
                    });
                }
            }
        }
        Staged(results)
    }

    /// The second half of [`Validator::ingest`]: makes what [`Validator::stage`] stored durable
    /// (one flush, shared with any concurrent caller), then announces each newly stored object
    /// and counts every verdict.
    pub(crate) async fn settle(&self, staged: Staged) -> Vec<(Verdict, Option<Object>)> {
        let mut results = staged.0;
        if results.iter().any(|(v, _)| matches!(v, Verdict::Stored(_))) {
            let store = self.store.clone();
            let flushed = tokio::task::spawn_blocking(move || store.flush())
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            if let Err(e) = flushed {
                tracing::error!(error = %e, "listing store failed to flush");
                for (verdict, _) in &mut results {
                    if matches!(verdict, Verdict::Stored(_)) {
                        *verdict = Verdict::StoreFailed(e.clone());
                    }
                }
            }
        }
        for (verdict, object) in &results {
            let kind = match (object, verdict) {
                (Some(o), _) => o.kind().name(),
                (None, Verdict::Invalid(_, Some(kind))) => kind.name(),
                (None, _) => "unknown",
            };
            if let (Verdict::Stored(Applied::Applied), Some(o)) = (verdict, object) {
                // Nobody listening is fine; a slow listener lags and re-reads the store.
                let _ = self.applied.send(o.clone());
            }
            self.metrics
                .object(kind, verdict.outcome(), verdict.validation());
        }
        results
    }

    async fn decode_parallel(&self, batch: Vec<Vec<u8>>, now: u64) -> Vec<Result<Object, Verdict>> {
        if batch.len() <= INLINE_MAX {
            // One or two signature checks (~25–30 µs each): cheaper here than a thread handoff.
            return decode_chunk(&batch, now, &self.time, &self.keys);
        }
        let chunk = batch.len().div_ceil(self.threads).max(1);
        let mut tasks = Vec::new();
        let mut rest = batch;
        while !rest.is_empty() {
            let tail = rest.split_off(chunk.min(rest.len()));
            let part = std::mem::replace(&mut rest, tail);
            let len = part.len();
            let time = self.time;
            let keys = Arc::clone(&self.keys);
            tasks.push((
                len,
                tokio::task::spawn_blocking(move || decode_chunk(&part, now, &time, &keys)),
            ));
        }
        let mut out = Vec::new();
        for (len, task) in tasks {
            match task.await {
                Ok(results) => out.extend(results),
                // A panic in decoding would be a bug; never let it take the node down, and keep
                // one result per input.
                Err(e) => {
                    tracing::error!(error = %e, "verification task failed");
                    out.extend(
                        (0..len)
                            .map(|_| Err(Verdict::StoreFailed("verification task failed".into()))),
                    );
                }
            }
        }
        out
    }
}

/// What [`Validator::judge_now`] made of one gossip message.
pub(crate) enum Judgement {
    /// Judged and staged (or invalid).
    Staged(Staged),
    /// A valid offer that would be listed as new: Accept, and stage it after the report.
    NewOffer(Box<Object>),
}

/// The staged results of a batch (see [`Validator::stage`]), in input order.
pub(crate) struct Staged(Vec<(Verdict, Option<Object>)>);

impl Staged {
    /// The first result.
    pub(crate) fn first(&self) -> Option<&(Verdict, Option<Object>)> {
        self.0.first()
    }

    /// Appends another batch's results, to settle both with one flush.
    pub(crate) fn append(&mut self, other: Staged) {
        self.0.extend(other.0);
    }

    /// What gossipsub should be told about each input.
    pub(crate) fn validations(&self) -> impl Iterator<Item = Validation> + '_ {
        self.0.iter().map(|(v, _)| v.validation())
    }
}

/// Batches up to this size are verified and staged on the calling task.
const INLINE_MAX: usize = 2;

/// Signers whose checked keys a node keeps (about 250 bytes each): providers, consumers and
/// certifiers it hears from often. Beyond that, keys are checked again as they come.
const SIGNER_KEYS: usize = 8192;

/// Strict per-object verification. No batch pre-filter: with `verify_strict` required on
/// every object, a batch check can only add work (docs/decisions/0008, with the figures).
fn decode_chunk(
    chunk: &[impl AsRef<[u8]>],
    now: u64,
    time: &TimeRules,
    keys: &KeyCache,
) -> Vec<Result<Object, Verdict>> {
    chunk
        .iter()
        .map(|bytes| {
            let bytes = bytes.as_ref();
            Object::decode_at_with(bytes, now, time, Some(keys))
                .map_err(|e| Verdict::Invalid(e, tagged_kind(bytes)))
        })
        .collect()
}

/// The kind the first byte names, if it is a known tag.
fn tagged_kind(bytes: &[u8]) -> Option<Kind> {
    bytes.first().and_then(|t| Kind::from_tag(*t))
}

/// Whether `data` travels on its kind's topic ([`Kind::topic`]): `Err` with the verdict
/// (`wrong_topic`, or `malformed` for an unknown tag) when it does not, to be counted with
/// [`Validator::count_refused`] and reported as `Reject`.
pub(crate) fn topic_check(topic: &str, data: &[u8]) -> Result<(), Verdict> {
    flashback_types::check_topic(topic, data)
        .map(|_| ())
        .map_err(|e| Verdict::Invalid(e, tagged_kind(data)))
}

#[cfg(test)]
pub(crate) fn on_its_topic(topic: &str, data: &[u8]) -> bool {
    topic_check(topic, data).is_ok()
}

#[cfg(test)]
mod tests {
    use flashback_types::protocol::Topic;

    use super::*;

    #[test]
    fn every_kind_is_taken_on_its_own_topic_only() {
        for kind in Kind::ALL {
            let data = [kind.tag(), 0, 0];
            for topic in Topic::ALL {
                assert_eq!(
                    on_its_topic(topic.name(), &data),
                    kind.topic() == topic,
                    "{kind} on {topic}"
                );
            }
        }
        let unknown = [Kind::COUNT as u8 + 1];
        assert!(Topic::ALL.iter().all(|t| !on_its_topic(t.name(), &unknown)));
        assert!(!on_its_topic(Topic::Offers.name(), &[]));
    }
}
