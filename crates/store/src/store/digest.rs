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
        let mut h = blake3::Hasher::new_derive_key("flashback/store/v1/provider-digest");
        for (key, seq, id) in summary {
            h.update(&[key.len() as u8]);
            h.update(key.as_bytes());
            h.update(&seq.to_be_bytes());
            h.update(&id.0);
        }
        Hash32(*h.finalize().as_bytes())
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
            Home::Offers => {
                let mut v: Vec<ObjectId> = st.index.heads().map(|(_, e)| e.id).collect();
                v.sort_unstable();
                Some(v)
            }
            Home::Summaries(summarised) => Some(summarised.table(&st.summaries).ids()),
            Home::Disk => None,
        }
    }

    /// What the listing digest covers: the kinds in it ([`Kind::in_listing_digest`], all kept
    /// in memory: checked when the crate builds), sorted by kind then id.
    fn digest_ids(st: &State) -> Vec<(Kind, ObjectId)> {
        Kind::ALL
            .into_iter()
            .filter(|k| k.in_listing_digest())
            .flat_map(|kind| {
                Self::memory_ids(st, kind)
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |id| (kind, id))
            })
            .collect()
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
        let mut h = blake3::Hasher::new_derive_key("flashback/store/v1/listing-digest");
        for (kind, id) in Self::digest_ids(&st) {
            h.update(&[kind.tag()]);
            h.update(&id.0);
        }
        let d = Hash32(*h.finalize().as_bytes());
        lock(&self.inner.caches).listing = Some((st.digest_epoch, d));
        d
    }

    /// The ids [`Store::listing_digest`] covers, sorted by kind then id.
    pub fn all_ids(&self) -> Vec<(Kind, ObjectId)> {
        Self::digest_ids(&self.read_state())
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
