//! Applying verified objects: the offer rules (versions, supersession, equivocation), evidence,
//! and the generic paths of kinds summarised in memory and kinds kept on disk only.

use flashback_types::{
    EquivocationEvidence, Kind, Object, ObjectError, ObjectId, Offer, Signed, Timestamp,
};

use super::{Applied, Home, Idx, MAX_VERSIONS_PER_OFFER, State, Store, Summarised, Tree, Tx, home};
use crate::codec::{cat, expiry_key};
use crate::error::StoreError;
use crate::index::Version;
use crate::summaries::{DerivedKey, EvMeta, Summaries};

impl Store {
    /// Whether staging `offer` now would list it as new ([`Applied::Applied`]) rather than find
    /// it a duplicate, superseded, an equivocation or expired; without changing anything, and
    /// `None` without waiting if a writer holds the indexes. A concurrent writer may still
    /// change the answer before the offer is staged.
    pub fn try_offer_is_new(
        &self,
        offer: &Signed<Offer>,
        now: Timestamp,
    ) -> Option<Result<bool, StoreError>> {
        use std::sync::TryLockError;
        // A poisoned store answers through staging, which tries to write again first.
        if self.poisoned().is_some() {
            return None;
        }
        let st = match self.inner.state.try_read() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        let b = offer.body();
        if b.expires_at <= now {
            return Some(Ok(false));
        }
        let Some(pk) = st.index.lookup_key(&b.provider, &b.offer_key) else {
            return Some(Ok(true));
        };
        let id = offer.id();
        // `apply_offer` lists it if it is not held and its seq is above the head's: the head has
        // the highest seq held, so nothing held can be it or share its seq.
        let new = match st.index.head(pk) {
            None => !st.index.history(pk).iter().any(|v| v.id == id),
            Some(head) => head.seq < b.seq,
        };
        Some(Ok(new))
    }

    /// A kind summarised in memory: a duplicate if its table holds the id, else written to its
    /// tree and added to memory by `add` (which may write index entries too).
    pub(super) fn apply_summarised(
        &self,
        st: &mut State,
        tx: &mut Tx,
        object: &Object,
        summarised: Summarised,
        add: impl FnOnce(&mut Summaries, &mut Tx),
    ) -> Applied {
        let kind = object.kind();
        debug_assert_eq!(home(kind), Home::Summaries(summarised), "{kind}");
        if summarised.table(&st.summaries).contains(&object.id()) {
            return Applied::Duplicate;
        }
        tx.put(
            Tree::Objects(kind),
            object.id().0.to_vec(),
            object.encoded().to_vec(),
        );
        add(&mut st.summaries, tx);
        st.digest_epoch += 1;
        Applied::Applied
    }

    /// A kind kept on disk only: a duplicate if its tree holds the id, else written with its
    /// expiry-index entry and its `secondary` index entry `(tree, key, payload)`, if any, which
    /// the expiry entry names so that GC deletes both.
    pub(super) fn apply_on_disk(
        &self,
        st: &mut State,
        tx: &mut Tx,
        object: &Object,
        secondary: Option<(Idx, Vec<u8>, &[u8])>,
    ) -> Result<Applied, StoreError> {
        let (kind, id) = (object.kind(), object.id());
        debug_assert_eq!(home(kind), Home::Disk, "{kind}");
        if self.exists(tx, Tree::Objects(kind), &id.0)? {
            return Ok(Applied::Duplicate);
        }
        let expiry_payload = match secondary {
            Some((idx, key, payload)) => {
                let named = cat(&[idx as u8], &key);
                tx.put_sealed(Tree::Index(idx), key, payload);
                named
            }
            None => Vec::new(),
        };
        tx.put_sealed(
            Tree::Index(Idx::Expiry),
            expiry_key(object.expires_at(), kind.tag(), &id),
            &expiry_payload,
        );
        tx.put(
            Tree::Objects(kind),
            id.0.to_vec(),
            object.encoded().to_vec(),
        );
        st.on_disk[kind] += 1;
        Ok(Applied::Applied)
    }

    pub(super) fn apply_offer(
        &self,
        st: &mut State,
        tx: &mut Tx,
        o: &Signed<Offer>,
    ) -> Result<Applied, StoreError> {
        let b = o.body();
        let id = o.id();
        let pk = st.index.intern_key(&b.provider, &b.offer_key);
        let versions = st.index.versions(pk);
        if versions.iter().any(|v| v.id == id) {
            return Ok(Applied::Duplicate);
        }
        tx.put(
            Tree::Objects(Kind::Offer),
            id.0.to_vec(),
            o.encoded().to_vec(),
        );
        tx.offers.insert(id, o.clone());
        st.digest_epoch += 1;
        // Agreements that named this offer before it arrived learn its key now.
        for agr in st.summaries.unresolved_on_offer(&id) {
            if let Some(meta) = st.summaries.agreements.get_mut(&agr)
                && meta.provider == b.provider
            {
                meta.offer_key = Some(b.offer_key.clone());
                tx.put_sealed(
                    Tree::Index(Idx::AgreementOfferKey),
                    agr.0.to_vec(),
                    b.offer_key.as_bytes(),
                );
            }
        }
        let version = Version {
            seq: b.seq,
            id,
            expires_at: b.expires_at,
        };
        let same_seq: Vec<ObjectId> = versions
            .iter()
            .filter(|v| v.seq == b.seq)
            .map(|v| v.id)
            .collect();
        let outcome = match st.index.head(pk).map(|h| (h.seq, h.id)) {
            None => {
                st.index.set_head(o);
                Applied::Applied
            }
            Some((head_seq, head_id)) => {
                if b.seq > head_seq || (b.seq == head_seq && id < head_id) {
                    if let Some(old) = st.index.set_head(o) {
                        st.index.add_history(pk, old);
                    }
                } else {
                    st.index.add_history(pk, version);
                }
                if !same_seq.is_empty() {
                    Applied::Equivocation(Box::new(self.equivocation(st, tx, o, &same_seq)?))
                } else if b.seq < head_seq {
                    Applied::Superseded
                } else {
                    Applied::Applied
                }
            }
        };
        // Keep the newest MAX_VERSIONS_PER_OFFER versions.
        let mut all = st.index.versions(pk);
        if all.len() > MAX_VERSIONS_PER_OFFER {
            all.sort_by(|a, b| (b.seq, a.id).cmp(&(a.seq, b.id)));
            for v in all.split_off(MAX_VERSIONS_PER_OFFER) {
                st.index.remove_history(pk, &v.id);
                tx.offers.remove(&v.id);
                tx.del(Tree::Objects(Kind::Offer), v.id.0.to_vec());
            }
        }
        Ok(outcome)
    }

    /// `o` has the same `(provider, offer_key, seq)` as the offers `others`. Keeps the derived
    /// evidence of that seq equal to the pair with the two smallest ids (so the stored set
    /// does not depend on arrival order) and returns evidence pairing `o` with the smallest.
    fn equivocation(
        &self,
        st: &mut State,
        tx: &mut Tx,
        o: &Signed<Offer>,
        others: &[ObjectId],
    ) -> Result<EquivocationEvidence, StoreError> {
        let b = o.body();
        let mut ids: Vec<ObjectId> = others.to_vec();
        ids.push(o.id());
        ids.sort_unstable();
        let fetch = |id: &ObjectId, tx: &Tx| -> Result<Signed<Offer>, StoreError> {
            if *id == o.id() {
                return Ok(o.clone());
            }
            self.read_offer(Some(tx), id)?.ok_or_else(|| {
                self.corrupt_at(
                    Tree::Objects(Kind::Offer),
                    id,
                    "indexed offer version is missing",
                )
            })
        };
        let evidence = |a: Signed<Offer>, c: Signed<Offer>| {
            EquivocationEvidence::from_offers(a, c).map_err(|e: ObjectError| {
                self.corrupt(format!("building equivocation evidence: {e}"))
            })
        };
        let smallest_other = others.iter().min().copied().unwrap_or(ids[0]);
        let returned = evidence(fetch(&smallest_other, tx)?, o.clone())?;
        let derived =
            if ids[0] == smallest_other.min(o.id()) && ids[1] == smallest_other.max(o.id()) {
                returned.clone()
            } else {
                evidence(fetch(&ids[0], tx)?, fetch(&ids[1], tx)?)?
            };
        let dk: DerivedKey = (b.provider, b.offer_key.clone(), b.seq);
        let previous = st.summaries.derived.get(&dk).copied();
        if previous != Some(derived.id()) {
            if let Some(prev) = previous {
                self.unmark_derived(st, tx, &prev);
            }
            self.store_evidence(st, tx, &derived, false, Some(dk));
        }
        Ok(returned)
    }

    fn unmark_derived(&self, st: &mut State, tx: &mut Tx, id: &ObjectId) {
        let Some(meta) = st.summaries.evidence.get(id).cloned() else {
            return;
        };
        if meta.direct {
            let mut meta = meta;
            if let Some(k) = meta.derived.take() {
                st.summaries.derived.remove(&k);
            }
            tx.put_sealed(
                Tree::Index(Idx::EvidenceOrigin),
                id.0.to_vec(),
                &Self::origin_payload(&meta),
            );
            if let Some(m) = st.summaries.evidence.get_mut(id) {
                *m = meta;
            }
        } else {
            let kind = Kind::EquivocationEvidence;
            self.forget(st, tx, kind, Summarised::Evidence, id);
            st.digest_epoch += 1;
        }
    }

    fn store_evidence(
        &self,
        st: &mut State,
        tx: &mut Tx,
        ev: &EquivocationEvidence,
        direct: bool,
        derived: Option<DerivedKey>,
    ) -> bool {
        let id = ev.id();
        let meta = match st.summaries.evidence.get(&id).cloned() {
            Some(mut m) => {
                m.direct |= direct;
                if let Some(k) = derived {
                    st.summaries.derived.insert(k.clone(), id);
                    m.derived = Some(k);
                }
                if let Some(slot) = st.summaries.evidence.get_mut(&id) {
                    *slot = m.clone();
                }
                tx.put_sealed(
                    Tree::Index(Idx::EvidenceOrigin),
                    id.0.to_vec(),
                    &Self::origin_payload(&m),
                );
                return false;
            }
            None => EvMeta {
                provider: *ev.provider(),
                expires_at: ev.expires_at(),
                direct,
                derived,
            },
        };
        tx.put_sealed(
            Tree::Index(Idx::EvidenceOrigin),
            id.0.to_vec(),
            &Self::origin_payload(&meta),
        );
        tx.put(
            Tree::Objects(Kind::EquivocationEvidence),
            id.0.to_vec(),
            ev.encoded().to_vec(),
        );
        st.summaries.add_evidence(id, meta);
        st.digest_epoch += 1;
        true
    }

    pub(super) fn apply_evidence(
        &self,
        st: &mut State,
        tx: &mut Tx,
        ev: &EquivocationEvidence,
    ) -> Result<Applied, StoreError> {
        if st
            .summaries
            .evidence
            .get(&ev.id())
            .is_some_and(|m| m.direct)
        {
            return Ok(Applied::Duplicate);
        }
        Ok(if self.store_evidence(st, tx, ev, true, None) {
            Applied::Applied
        } else {
            Applied::Duplicate
        })
    }

    /// Drops a summarised object: from memory, its tree, and the index entries keyed by its id.
    pub(super) fn forget(
        &self,
        st: &mut State,
        tx: &mut Tx,
        kind: Kind,
        summarised: Summarised,
        id: &ObjectId,
    ) {
        summarised.forget(&mut st.summaries, id);
        tx.del(Tree::Objects(kind), id.0.to_vec());
        if let Some(idx) = summarised.companion() {
            tx.del(Tree::Index(idx), id.0.to_vec());
        }
    }
}
