//! Commits: a write call's pending writes ([`Tx`]), committed in three phases, and the group
//! commit that makes them durable with as few `fsync`s as concurrent callers allow.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{MutexGuard, RwLockWriteGuard};

use flashback_types::{Kind, Object, ObjectId, Offer, Signed, Timestamp};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// Least time between two attempts of a poisoned store to write again.
const RECOVERY_INTERVAL: Duration = Duration::from_secs(1);

use std::sync::Arc;

use super::{Applied, Caches, Sled, State, Store, TREES, Tree, lock};
use crate::cache::OfferCache;
use crate::codec::{id_from, seal};
use crate::error::StoreError;
use crate::index::OfferIndex;

/// Pending writes of one apply/gc call, last write per key wins. Committed in three phases —
/// index inserts, object trees, index removals — so that a crash between phases can leave an
/// index entry without its object (ignored on read) but never an object without its index.
pub(super) struct Tx {
    writes: Vec<BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
    pub(super) offers: HashMap<ObjectId, Signed<Offer>>,
}

impl Tx {
    pub(super) fn new() -> Self {
        Self {
            writes: vec![BTreeMap::new(); TREES.len()],
            offers: HashMap::new(),
        }
    }

    pub(super) fn put(&mut self, t: Tree, key: Vec<u8>, value: Vec<u8>) {
        self.writes[t.slot()].insert(key, Some(value));
    }

    pub(super) fn put_sealed(&mut self, t: Tree, key: Vec<u8>, payload: &[u8]) {
        let v = seal(t.name(), &key, payload);
        self.put(t, key, v);
    }

    pub(super) fn del(&mut self, t: Tree, key: Vec<u8>) {
        self.writes[t.slot()].insert(key, None);
    }

    pub(super) fn pending(&self, t: Tree, key: &[u8]) -> Option<Option<&[u8]>> {
        self.writes[t.slot()].get(key).map(|v| v.as_deref())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.writes.iter().all(BTreeMap::is_empty)
    }
}

impl Store {
    /// The refusal of a poisoned store, `None` when it is not.
    pub(super) fn poisoned(&self) -> Option<StoreError> {
        lock(&self.inner.poisoned)
            .clone()
            .map(|detail| StoreError::Poisoned {
                path: self.inner.path.clone(),
                detail,
            })
    }

    /// `Ok` when the store may write: it is not poisoned, or it was and has just recovered
    /// (see [`Store::recover`]). The caller holds the writer lock and the indexes (`st`).
    pub(super) fn check_poisoned(&self, st: &mut State) -> Result<(), StoreError> {
        let detail = match &*lock(&self.inner.poisoned) {
            Some(detail) => detail.clone(),
            None => return Ok(()),
        };
        let refused = || StoreError::Poisoned {
            path: self.inner.path.clone(),
            detail: detail.clone(),
        };
        // One attempt at a time and at most one a second: a full disk is not hammered, and a
        // refusal costs no more than a lock.
        let Ok(mut last) = self.inner.recovery.try_lock() else {
            return Err(refused());
        };
        if last.is_some_and(|t| t.elapsed() < RECOVERY_INTERVAL) {
            return Err(refused());
        }
        *last = Some(Instant::now());
        match self.recover(st) {
            Ok(()) => {
                *lock(&self.inner.poisoned) = None;
                info!(
                    path = %self.inner.path.display(),
                    "listing store writable again: the disk took a flush, indexes rebuilt from it"
                );
                Ok(())
            }
            Err(e) => {
                debug!(error = %e, "listing store still cannot write");
                Err(refused())
            }
        }
    }

    /// Leaves the poisoned state as a restart would, without one: the database is closed and
    /// opened again from disk (sled keeps the first I/O error it met and refuses every write
    /// after it, and what it held unflushed was never acknowledged), then the in-memory
    /// indexes are rebuilt from it, so that memory holds exactly what the disk does. Fails,
    /// and is tried again later, while the disk cannot take a write.
    fn recover(&self, st: &mut State) -> Result<(), StoreError> {
        self.probe_disk()?;
        {
            let mut sled = self
                .inner
                .sled
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // The old handles go first: sled releases its file lock with the last of them.
            *sled = None;
            *sled = Some(Arc::new(Sled::open(
                &self.inner.path,
                self.inner.config.cache_capacity_bytes,
            )?));
        }
        self.flush_sled()?;
        *st = State {
            index: OfferIndex::new(self.inner.config.rates.clone()),
            ..State::default()
        };
        *lock(&self.inner.caches) = Caches::default();
        *lock(&self.inner.offer_cache) = OfferCache::new(self.inner.config.offer_cache_entries);
        self.load_into(st)?;
        st.digest_epoch += 1;
        let staged = self.inner.staged.load(Ordering::Acquire);
        self.inner.durable.fetch_max(staged, Ordering::AcqRel);
        Ok(())
    }

    /// Whether the disk takes a write again, before anything is reopened or rebuilt: a file
    /// of one sled segment (512 KiB) beside the database, written, synced and removed.
    fn probe_disk(&self) -> Result<(), StoreError> {
        use std::io::Write as _;
        let path = self.inner.path.join("write-probe");
        let written = std::fs::File::create(&path).and_then(|mut f| {
            f.write_all(&vec![0u8; 512 << 10])?;
            f.sync_all()
        });
        let _ = std::fs::remove_file(&path);
        written.map_err(|e| StoreError::Io {
            path: self.inner.path.clone(),
            detail: e.to_string(),
        })
    }

    pub(super) fn poison(&self, e: &StoreError) {
        warn!(error = %e, "listing store write failed; refusing writes until the disk takes them again");
        let mut p = lock(&self.inner.poisoned);
        if p.is_none() {
            *p = Some(e.to_string());
        }
    }

    pub(super) fn commit(&self, tx: &Tx) -> Result<(), StoreError> {
        let phase = |inserts: bool, objects: bool| -> Result<(), StoreError> {
            for t in TREES {
                if t.is_object() != objects {
                    continue;
                }
                let ops: Vec<(&Vec<u8>, &Option<Vec<u8>>)> = tx.writes[t.slot()]
                    .iter()
                    .filter(|(_, v)| objects || inserts == v.is_some())
                    .collect();
                let tree = self.tree(t)?;
                let written = match ops.as_slice() {
                    [] => Ok(()),
                    // One write is atomic without a batch. A batch takes sled's process-wide
                    // write lock, which waits for every reader of every tree (queries, sync
                    // serving) and holds them off; a lone insert or remove does not.
                    [(k, Some(v))] => tree.insert(k.as_slice(), v.as_slice()).map(drop),
                    [(k, None)] => tree.remove(k.as_slice()).map(drop),
                    _ => {
                        let mut batch = sled::Batch::default();
                        for (k, v) in ops {
                            match v {
                                Some(v) => batch.insert(k.as_slice(), v.as_slice()),
                                None => batch.remove(k.as_slice()),
                            }
                        }
                        tree.apply_batch(batch)
                    }
                };
                written.map_err(|e| self.sled_err(e))?;
            }
            Ok(())
        };
        phase(true, false)?;
        phase(true, true)?;
        phase(false, false)?;
        let deleted = tx.writes[Tree::Objects(Kind::Offer).slot()]
            .iter()
            .filter(|(_, v)| v.is_none())
            .filter_map(|(k, _)| id_from(k));
        let mut cache = lock(&self.inner.offer_cache);
        for id in deleted {
            cache.remove(&id);
        }
        Ok(())
    }

    pub(super) fn flush_sled(&self) -> Result<(), StoreError> {
        self.sled()?
            .db
            .flush()
            .map(|_| ())
            .map_err(|e| self.sled_err(e))
    }

    /// Makes every write staged so far durable (one `fsync`); a no-op when nothing is pending.
    ///
    /// Group commit: concurrent callers share flushes. A caller whose writes were covered by a
    /// flush that completed while it waited returns without flushing again; it never returns
    /// before its own writes are durable.
    ///
    /// A failed flush poisons the store (memory may hold what disk does not): further writes
    /// are refused until a restart rebuilds the indexes from disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        let wanted = inner.staged.load(Ordering::Acquire);
        if inner.durable.load(Ordering::Acquire) >= wanted {
            return Ok(());
        }
        let _flushing = lock(&inner.flushing);
        if inner.durable.load(Ordering::Acquire) >= wanted {
            return Ok(());
        }
        if let Some(e) = self.poisoned() {
            return Err(e);
        }
        // Everything committed up to here is in sled's buffers and covered by this flush.
        let covered = inner.staged.load(Ordering::Acquire);
        match self.flush_sled() {
            Ok(()) => {
                inner.durable.fetch_max(covered, Ordering::AcqRel);
                Ok(())
            }
            Err(e) => {
                self.poison(&e);
                Err(e)
            }
        }
    }

    /// Records that writes were committed to sled and await a flush.
    pub(super) fn mark_staged(&self) {
        self.inner.staged.fetch_add(1, Ordering::AcqRel);
    }

    /// Applies one verified object. Returns only once the write is durable (`fsync`ed), which
    /// costs one flush per call: use [`Store::apply_batch`] for bursts.
    ///
    /// The object must come from [`Object::decode`] / [`Object::decode_at`] (or be built
    /// locally): the store trusts signatures and checks only expiry and its own rules.
    pub fn apply(&self, object: &Object, now: Timestamp) -> Result<Applied, StoreError> {
        let mut out = self.apply_batch(std::slice::from_ref(object), now)?;
        out.pop()
            .ok_or_else(|| self.corrupt("internal: apply produced no outcome"))
    }

    /// Applies many objects with one set of sled batches and one flush: the same outcomes as
    /// applying them one by one, in order. Returns once everything is durable.
    pub fn apply_batch(
        &self,
        objects: &[Object],
        now: Timestamp,
    ) -> Result<Vec<Applied>, StoreError> {
        let out = self.stage_batch(objects, now)?;
        self.flush()?;
        Ok(out)
    }

    /// [`Store::apply_batch`] without the flush: the outcomes are final and readers see the
    /// objects at once, but they are durable only after the next [`Store::flush`] (by anyone).
    /// For a caller that has something useful to do before paying for the `fsync` — the node
    /// relays a verified gossip object first — and must not acknowledge anything before it.
    pub fn stage_batch(
        &self,
        objects: &[Object],
        now: Timestamp,
    ) -> Result<Vec<Applied>, StoreError> {
        self.stage_locked(&lock(&self.inner.writer), self.write_state(), objects, now)
    }

    /// [`Store::stage_batch`] if no other write (a batch, a GC) is in progress and no reader
    /// (a query, a sync request) holds the indexes; `None` without waiting otherwise. For
    /// callers that must not block, such as an async task.
    pub fn try_stage_batch(
        &self,
        objects: &[Object],
        now: Timestamp,
    ) -> Option<Result<Vec<Applied>, StoreError>> {
        use std::sync::TryLockError;
        let writer = match self.inner.writer.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        let state = match self.inner.state.try_write() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        Some(self.stage_locked(&writer, state, objects, now))
    }

    /// Stages `objects`; the caller holds the writer lock and the indexes.
    fn stage_locked(
        &self,
        _writer: &MutexGuard<'_, ()>,
        mut st: RwLockWriteGuard<'_, State>,
        objects: &[Object],
        now: Timestamp,
    ) -> Result<Vec<Applied>, StoreError> {
        self.check_poisoned(&mut st)?;
        let mut tx = Tx::new();
        let result = {
            let mut out = Vec::with_capacity(objects.len());
            let mut result = Ok(());
            for o in objects {
                match self.apply_one(&mut st, &mut tx, o, now) {
                    Ok(a) => out.push(a),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            result.and_then(|()| self.commit(&tx)).map(|()| out)
        };
        drop(st);
        match result {
            Ok(out) => {
                if !tx.is_empty() {
                    self.mark_staged();
                }
                Ok(out)
            }
            Err(e) => {
                // Memory may now hold what disk does not: stop writing until a restart
                // rebuilds the indexes from disk.
                self.poison(&e);
                Err(e)
            }
        }
    }
}
