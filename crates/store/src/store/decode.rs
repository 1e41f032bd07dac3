//! Reading stored values back: id and checksum checks, trusted decoding of objects that were
//! verified when they arrived, and the errors that name the tree and key that failed.

use flashback_types::{
    Agreement, EquivocationEvidence, Hash32, Kind, Object, ObjectId, Offer, PublicKey, ShortText,
    Signed, SignedBody,
};

use super::{Store, Tree, Tx};
use crate::codec::{self, id_from, unseal};
use crate::error::StoreError;
use crate::summaries::{DerivedKey, EvMeta};

fn hex_short(key: &[u8]) -> String {
    key.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

// `codec::CHECKSUM_LEN` is part of the documented format.
const _: () = assert!(codec::CHECKSUM_LEN == 16);

impl Store {
    pub(super) fn sled_err(&self, e: sled::Error) -> StoreError {
        StoreError::from_sled(&self.inner.path, e)
    }

    pub(super) fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.inner.path.clone(),
            detail: detail.into(),
        }
    }

    pub(super) fn corrupt_at(
        &self,
        t: Tree,
        id: &ObjectId,
        detail: impl std::fmt::Display,
    ) -> StoreError {
        self.corrupt(format!("{} tree, key {id}: {detail}", t.name()))
    }

    pub(super) fn key_id(&self, t: Tree, key: &[u8]) -> Result<ObjectId, StoreError> {
        id_from(key).ok_or_else(|| {
            self.corrupt(format!(
                "{} tree holds a {}-byte key, not an object id",
                t.name(),
                key.len()
            ))
        })
    }

    pub(super) fn unseal<'v>(
        &self,
        t: Tree,
        key: &[u8],
        value: &'v [u8],
    ) -> Result<&'v [u8], StoreError> {
        unseal(t.name(), key, value).ok_or_else(|| {
            self.corrupt(format!(
                "{} tree, key {}: checksum mismatch",
                t.name(),
                hex_short(key)
            ))
        })
    }

    pub(super) fn decode_stored<X: SignedBody>(
        &self,
        t: Tree,
        id: &ObjectId,
        bytes: &[u8],
    ) -> Result<Signed<X>, StoreError> {
        let s = Signed::<X>::decode_trusted(bytes).map_err(|e| self.corrupt_at(t, id, e))?;
        if s.id() != *id {
            return Err(self.corrupt_at(
                t,
                id,
                "checksum mismatch (blake3 of the value is not its id)",
            ));
        }
        Ok(s)
    }

    fn decode_object(&self, t: Tree, id: &ObjectId, bytes: &[u8]) -> Result<Object, StoreError> {
        if Hash32::of(bytes) != *id {
            return Err(self.corrupt_at(
                t,
                id,
                "checksum mismatch (blake3 of the value is not its id)",
            ));
        }
        let o = Object::decode_trusted(bytes).map_err(|e| self.corrupt_at(t, id, e))?;
        if Tree::Objects(o.kind()) != t {
            return Err(self.corrupt_at(t, id, format!("holds a {}", o.kind())));
        }
        Ok(o)
    }

    pub(super) fn decode_agreement(
        &self,
        id: &ObjectId,
        bytes: &[u8],
    ) -> Result<Agreement, StoreError> {
        match self.decode_object(Tree::Objects(Kind::Agreement), id, bytes)? {
            Object::Agreement(a) => Ok(a),
            _ => Err(self.corrupt_at(Tree::Objects(Kind::Agreement), id, "not an agreement")),
        }
    }

    pub(super) fn decode_evidence(
        &self,
        id: &ObjectId,
        bytes: &[u8],
    ) -> Result<EquivocationEvidence, StoreError> {
        match self.decode_object(Tree::Objects(Kind::EquivocationEvidence), id, bytes)? {
            Object::EquivocationEvidence(e) => Ok(e),
            _ => Err(self.corrupt_at(
                Tree::Objects(Kind::EquivocationEvidence),
                id,
                "not equivocation evidence",
            )),
        }
    }

    pub(super) fn get_raw(&self, t: Tree, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        self.tree(t)?.get(key).map_err(|e| self.sled_err(e))
    }

    pub(super) fn load_signed<X: SignedBody>(
        &self,
        t: Tree,
        id: &ObjectId,
    ) -> Result<Option<Signed<X>>, StoreError> {
        match self.get_raw(t, &id.0)? {
            Some(v) => self.decode_stored(t, id, &v).map(Some),
            None => Ok(None),
        }
    }

    pub(super) fn load_object(&self, t: Tree, id: &ObjectId) -> Result<Option<Object>, StoreError> {
        match self.get_raw(t, &id.0)? {
            Some(v) => self.decode_object(t, id, &v).map(Some),
            None => Ok(None),
        }
    }

    /// An offer, looking at the pending writes of `tx` first.
    pub(super) fn read_offer(
        &self,
        tx: Option<&Tx>,
        id: &ObjectId,
    ) -> Result<Option<Signed<Offer>>, StoreError> {
        if let Some(tx) = tx {
            if let Some(o) = tx.offers.get(id) {
                return Ok(Some(o.clone()));
            }
            if let Some(None) = tx.pending(Tree::Objects(Kind::Offer), &id.0) {
                return Ok(None);
            }
        }
        self.load_signed(Tree::Objects(Kind::Offer), id)
    }

    pub(super) fn exists(&self, tx: &Tx, t: Tree, key: &[u8]) -> Result<bool, StoreError> {
        match tx.pending(t, key) {
            Some(v) => Ok(v.is_some()),
            None => self
                .tree(t)?
                .contains_key(key)
                .map_err(|e| self.sled_err(e)),
        }
    }

    /// The offer key of `offer_id` if that offer is held and belongs to `provider`.
    pub(super) fn offer_key_of(
        &self,
        tx: Option<&Tx>,
        offer_id: &ObjectId,
        provider: &PublicKey,
    ) -> Result<Option<ShortText>, StoreError> {
        Ok(self
            .read_offer(tx, offer_id)?
            .filter(|o| &o.body().provider == provider)
            .map(|o| o.body().offer_key.clone()))
    }

    pub(super) fn parse_origin(&self, p: &[u8]) -> Result<(bool, Option<DerivedKey>), StoreError> {
        let bad = || self.corrupt("idx_evidence_origin: malformed entry");
        let (&direct, rest) = p.split_first().ok_or_else(bad)?;
        let (&has, rest) = rest.split_first().ok_or_else(bad)?;
        if has == 0 {
            return Ok((direct != 0, None));
        }
        if rest.len() < 40 {
            return Err(bad());
        }
        let pk: [u8; 32] = rest[..32].try_into().map_err(|_| bad())?;
        let provider = PublicKey::from_bytes(&pk).map_err(|_| bad())?;
        let seq = u64::from_be_bytes(rest[32..40].try_into().map_err(|_| bad())?);
        let key = std::str::from_utf8(&rest[40..])
            .ok()
            .and_then(|s| ShortText::try_from(s).ok())
            .ok_or_else(bad)?;
        Ok((direct != 0, Some((provider, key, seq))))
    }

    pub(super) fn origin_payload(meta: &EvMeta) -> Vec<u8> {
        let mut p = vec![u8::from(meta.direct)];
        match &meta.derived {
            None => p.push(0),
            Some((provider, key, seq)) => {
                p.push(1);
                p.extend_from_slice(provider.as_bytes());
                p.extend_from_slice(&seq.to_be_bytes());
                p.extend_from_slice(key.as_bytes());
            }
        }
        p
    }
}
