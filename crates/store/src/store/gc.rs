//! Garbage collection: deleting what has expired, by each kind's [`GcRule`](flashback_types::GcRule) and home.

use std::collections::HashSet;

use flashback_types::{Kind, Timestamp};
use tracing::debug;

use super::{Home, Idx, State, Store, Tree, Tx, home, lock};
use crate::codec::parse_expiry_key;
use crate::error::StoreError;

/// Meta key of [`Store::clock_mark`].
const CLOCK_MARK_KEY: &[u8] = b"clock_mark";

impl Store {
    /// Removes everything expired at `now` (offers keep their newest version while any
    /// version of the same key is still unexpired, so older ones stay refused) and returns how
    /// many objects were deleted. Durable on return.
    ///
    /// `now` is also remembered as the store's clock mark ([`Store::clock_mark`], never moved
    /// back): the latest time the listing was collected at. A node compares its clock with it
    /// and with [`Store::newest_created_at`] before collecting, so that a clock that jumped
    /// ahead does not delete what has not expired (docs/STORE.md, "Garbage collection").
    pub fn gc(&self, now: Timestamp) -> Result<usize, StoreError> {
        let _writer = lock(&self.inner.writer);
        let mut tx = Tx::new();
        let mark = self.clock_mark()?.map_or(now, |m| m.max(now));
        tx.put_sealed(Tree::Meta, CLOCK_MARK_KEY.to_vec(), &mark.to_be_bytes());
        let result = {
            let mut st = self.write_state();
            self.check_poisoned(&mut st)?;
            self.collect(&mut st, &mut tx, now)
                .and_then(|n| self.commit(&tx).map(|()| n))
        };
        let removed = match result {
            Ok(n) => n,
            Err(e) => {
                self.poison(&e);
                return Err(e);
            }
        };
        if !tx.is_empty() {
            self.mark_staged();
        }
        self.flush()?;
        debug!(removed, now, "listing gc");
        Ok(removed)
    }

    /// The latest time the listing was collected at (see [`Store::gc`]); `None` before the
    /// first collection.
    pub fn clock_mark(&self) -> Result<Option<Timestamp>, StoreError> {
        let Some(v) = self
            .tree(Tree::Meta)?
            .get(CLOCK_MARK_KEY)
            .map_err(|e| self.sled_err(e))?
        else {
            return Ok(None);
        };
        let payload = self.unseal(Tree::Meta, CLOCK_MARK_KEY, &v)?;
        let bytes: [u8; 8] = payload
            .try_into()
            .map_err(|_| self.corrupt("meta/clock_mark: wrong length"))?;
        Ok(Some(Timestamp::from_be_bytes(bytes)))
    }

    /// The latest `created_at` of the objects listed: the offers held when the store opened
    /// and every object applied since. What the signers' clocks vouch for.
    pub fn newest_created_at(&self) -> Timestamp {
        self.read_state().newest_created_at
    }

    /// Deletes what expired at `now`, by each kind's [`GcRule`](flashback_types::GcRule) and home.
    fn collect(&self, st: &mut State, tx: &mut Tx, now: Timestamp) -> Result<usize, StoreError> {
        let mut removed = 0usize;
        for kind in Kind::ALL {
            match home(kind) {
                Home::Offers => removed += self.collect_offers(st, tx, Tree::Objects(kind), now),
                Home::Summaries(summarised) => {
                    for id in summarised.table(&st.summaries).expired(now) {
                        self.forget(st, tx, kind, summarised, &id);
                        removed += 1;
                    }
                }
                // All together below, in expiry order.
                Home::Disk => {}
            }
        }
        if removed > 0 {
            st.digest_epoch += 1;
        }
        Ok(removed + self.collect_on_disk(st, tx, now)?)
    }

    /// Offer versions: each goes once expired, except that a head stays until every version
    /// of its key has expired ([`GcRule::HeadOutlivesVersions`](flashback_types::GcRule::HeadOutlivesVersions)).
    fn collect_offers(&self, st: &mut State, tx: &mut Tx, t: Tree, now: Timestamp) -> usize {
        let mut removed = 0usize;
        let mut keys: HashSet<(u32, u32)> = st
            .index
            .heads()
            .filter(|(_, e)| e.expires_at <= now)
            .map(|(pk, _)| pk)
            .collect();
        keys.extend(st.index.keys_with_history());
        let mut keys: Vec<(u32, u32)> = keys.into_iter().collect();
        keys.sort_unstable();
        for pk in keys {
            let versions = st.index.versions(pk);
            let all_expired = versions.iter().all(|v| v.expires_at <= now);
            if all_expired && st.index.remove_head(pk).is_some() {
                st.digest_epoch += 1;
            }
            for v in versions {
                if v.expires_at > now {
                    continue;
                }
                let is_history = st.index.remove_history(pk, &v.id);
                if is_history || all_expired {
                    tx.del(t, v.id.0.to_vec());
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Kinds kept on disk only, through the expiry index (in expiry order, so the scan stops at
    /// the first entry still valid).
    fn collect_on_disk(
        &self,
        st: &mut State,
        tx: &mut Tx,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let mut removed = 0usize;
        for item in self.tree(Tree::Index(Idx::Expiry))?.iter() {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let (expires_at, tag, id) =
                parse_expiry_key(&k).ok_or_else(|| self.corrupt("idx_expiry: malformed key"))?;
            if expires_at > now {
                break;
            }
            let payload = self.unseal(Tree::Index(Idx::Expiry), &k, &v)?;
            let kind = Kind::from_tag(tag)
                .ok_or_else(|| self.corrupt(format!("idx_expiry: unknown kind tag {tag}")))?;
            let t = Tree::Objects(kind);
            if self
                .tree(t)?
                .contains_key(id.0)
                .map_err(|e| self.sled_err(e))?
            {
                tx.del(t, id.0.to_vec());
                removed += 1;
                st.on_disk[kind] = st.on_disk[kind].saturating_sub(1);
            }
            if let Some((&secondary, key)) = payload.split_first()
                && let Some(idx) = Idx::from_tag(secondary)
            {
                tx.del(Tree::Index(idx), key.to_vec());
            }
            tx.del(Tree::Index(Idx::Expiry), k.to_vec());
        }
        Ok(removed)
    }
}
