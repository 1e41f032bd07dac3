//! What anti-entropy compares: per-provider offer digests, the listing digest and the ids of
//! each kind.

use std::sync::Arc;

use flashback_types::{Hash32, Kind, ObjectId, PublicKey, ShortText};

use super::{Home, State, Store, Tree, home, lock};
use crate::error::StoreError;

impl Store {
    /// `(offer_key, seq, id)` of every current offer of `provider` (tombstones included),
    /// sorted by offer key.
    pub fn provider_summary(&self, provider: &PublicKey) -> Vec<(ShortText, u64, ObjectId)> {
        let st = self.read_state();
        Self::summary(&st, provider)
    }

    fn summary(st: &State, provider: &PublicKey) -> Vec<(ShortText, u64, ObjectId)> {
        let mut out: Vec<(ShortText, u64, ObjectId)> = st
            .index
            .provider_heads(provider)
            .into_iter()
            .map(|e| (st.index.keys.resolve(e.offer_key).clone(), e.seq, e.id))
            .collect();
        out.sort_unstable();
        out
    }

    fn summary_digest(summary: &[(ShortText, u64, ObjectId)]) -> Hash32 {
        flashback_types::digest::provider_digest(summary)
    }

    /// Per provider with offers: blake3 over its [`Store::provider_summary`], sorted by key.
    pub fn provider_digests(&self) -> Vec<(PublicKey, Hash32)> {
        let st = self.read_state();
        if let Some((epoch, d)) = &lock(&self.inner.caches).providers
            && *epoch == st.digest_epoch
        {
            return d.as_ref().clone();
        }
        let mut providers: Vec<PublicKey> =
            st.index.providers_with_heads().map(|(_, k)| *k).collect();
        providers.sort_unstable();
        let out: Vec<(PublicKey, Hash32)> = providers
            .into_iter()
            .map(|p| (p, Self::summary_digest(&Self::summary(&st, &p))))
            .collect();
        lock(&self.inner.caches).providers = Some((st.digest_epoch, Arc::new(out.clone())));
        out
    }

    /// The ids of a kind kept in memory, sorted (current offers for the offer index); `None`
    /// for a kind kept on disk only.
    fn memory_ids(st: &State, kind: Kind) -> Option<Vec<ObjectId>> {
        match home(kind) {
            Home::Offers => Some(st.index.head_ids_sorted().copied().collect()),
            Home::Summaries(summarised) => Some(summarised.table(&st.summaries).ids()),
            Home::Disk => None,
        }
    }

    /// Calls `f` on what the listing digest covers: the kinds in it
    /// ([`Kind::in_listing_digest`], all kept in memory: checked when the crate builds), sorted
    /// by kind then id. The offers' ids are not collected: at a million offers that would be
    /// 32 MB for every digest, and a syncing node computes one for each write it answers after.
    fn for_each_digest_id(st: &State, mut f: impl FnMut(Kind, &ObjectId)) {
        for kind in Kind::ALL.into_iter().filter(|k| k.in_listing_digest()) {
            match home(kind) {
                Home::Offers => st.index.head_ids_sorted().for_each(|id| f(kind, id)),
                Home::Summaries(summarised) => summarised
                    .table(&st.summaries)
                    .ids()
                    .iter()
                    .for_each(|id| f(kind, id)),
                Home::Disk => {}
            }
        }
    }

    /// blake3 over the sorted `(kind, id)` of every current offer (tombstones included) and
    /// every agreement, attestation, certificate, revocation and evidence held. Two stores
    /// holding the same objects have the same digest, whatever order they were applied in.
    pub fn listing_digest(&self) -> Hash32 {
        let st = self.read_state();
        if let Some((epoch, d)) = lock(&self.inner.caches).listing
            && epoch == st.digest_epoch
        {
            return d;
        }
        let mut h = flashback_types::digest::ListingDigest::default();
        Self::for_each_digest_id(&st, |kind, id| h.add(kind, id));
        let d = h.finish();
        lock(&self.inner.caches).listing = Some((st.digest_epoch, d));
        d
    }

    /// The ids [`Store::listing_digest`] covers, sorted by kind then id.
    pub fn all_ids(&self) -> Vec<(Kind, ObjectId)> {
        let mut out = Vec::new();
        Self::for_each_digest_id(&self.read_state(), |kind, id| out.push((kind, *id)));
        out
    }

    /// Every stored id of one kind, sorted (current offers only for [`Kind::Offer`]).
    pub fn ids_by_kind(&self, kind: Kind) -> Result<Vec<ObjectId>, StoreError> {
        if let Some(ids) = Self::memory_ids(&self.read_state(), kind) {
            return Ok(ids);
        }
        // On disk only: read the tree without holding the indexes.
        let t = Tree::Objects(kind);
        let mut ids = Vec::new();
        for k in self.tree(t)?.iter().keys() {
            let k = k.map_err(|e| self.sled_err(e))?;
            ids.push(self.key_id(t, &k)?);
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use flashback_types::{Object, SecretKey, Signed, clock::now, samples};

    use super::*;
    use crate::StoreConfig;

    #[test]
    fn the_streamed_listing_digest_is_the_digest_of_the_heads_sorted_afresh() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path().join("listing"), StoreConfig::default()).expect("open");
        let t = now();
        let providers: Vec<SecretKey> = (0..5).map(|_| SecretKey::generate()).collect();
        let sign = |key: &SecretKey, offer| Object::Offer(Signed::sign(offer, key).expect("sign"));
        let mut batch = Vec::new();
        for (p, key) in providers.iter().enumerate() {
            for k in 0..40 {
                batch.push(sign(
                    key,
                    samples::offer(key.public(), &format!("k{k}"), 1, t),
                ));
                // Some keys get a newer version, some are withdrawn: heads move and stay.
                if (k + p) % 3 == 0 {
                    batch.push(sign(
                        key,
                        samples::offer(key.public(), &format!("k{k}"), 2, t),
                    ));
                }
                if (k + p) % 7 == 0 {
                    let head = samples::offer(key.public(), &format!("k{k}"), 2, t);
                    batch.push(sign(key, head.withdrawal(t, None).expect("a seq above 2")));
                }
            }
        }
        for object in &batch {
            store.apply(object, t).expect("apply");
        }
        let expected = {
            let st = store.read_state();
            let mut ids: Vec<ObjectId> = st.index.heads().map(|(_, e)| e.id).collect();
            ids.sort_unstable();
            assert_eq!(ids.len(), 200);
            let mut h = blake3::Hasher::new_derive_key("flashback/store/v1/listing-digest");
            for id in &ids {
                h.update(&[Kind::Offer.tag()]);
                h.update(&id.0);
            }
            Hash32(*h.finalize().as_bytes())
        };
        assert_eq!(store.listing_digest(), expected);
        let offers: Vec<ObjectId> = store
            .all_ids()
            .into_iter()
            .filter_map(|(k, id)| (k == Kind::Offer).then_some(id))
            .collect();
        assert!(offers.is_sorted());
        assert_eq!(offers, store.ids_by_kind(Kind::Offer).expect("ids"));
    }
}
