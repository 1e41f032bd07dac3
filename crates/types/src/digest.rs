//! The digests anti-entropy compares (`/flashback/sync/1`, `docs/PROTOCOL.md` §5.3), defined
//! byte by byte in one place: the store computes them, the sync protocol carries them, and the
//! test vectors (`docs/vectors/`) pin them.

use crate::bodies::{ObjectId, ShortText};
use crate::keys::Hash32;
use crate::kind::Kind;

/// blake3 key-derivation context of a provider's offer digest.
pub const PROVIDER_DIGEST_CONTEXT: &str = "flashback/store/v1/provider-digest";
/// blake3 key-derivation context of the listing digest.
pub const LISTING_DIGEST_CONTEXT: &str = "flashback/store/v1/listing-digest";

/// A provider's offer digest: blake3 in key-derivation mode ([`PROVIDER_DIGEST_CONTEXT`]) over,
/// for each `(offer_key, seq, id)` of its current offers (tombstones included) in increasing
/// order (offer key bytes, then seq, then id): the key's length as one byte, the key's UTF-8
/// bytes, the seq as 8 bytes **big-endian**, the id's 32 bytes. Sorts `summary` first.
pub fn provider_digest(summary: &[(ShortText, u64, ObjectId)]) -> Hash32 {
    let mut sorted: Vec<&(ShortText, u64, ObjectId)> = summary.iter().collect();
    sorted.sort_unstable();
    let mut h = blake3::Hasher::new_derive_key(PROVIDER_DIGEST_CONTEXT);
    for (key, seq, id) in sorted {
        // An offer key is at most 64 bytes.
        h.update(&[u8::try_from(key.len()).unwrap_or(u8::MAX)]);
        h.update(key.as_bytes());
        h.update(&seq.to_be_bytes());
        h.update(&id.0);
    }
    Hash32(*h.finalize().as_bytes())
}

/// A kind's digest in a sync summary: plain blake3 (no key, no context) over the 32-byte ids
/// of the kind, in increasing order, concatenated. The ids must be given sorted.
pub fn kind_digest<'a>(sorted_ids: impl IntoIterator<Item = &'a ObjectId>) -> Hash32 {
    let mut h = blake3::Hasher::new();
    for id in sorted_ids {
        h.update(&id.0);
    }
    Hash32(*h.finalize().as_bytes())
}

/// The listing digest, fed incrementally: blake3 in key-derivation mode
/// ([`LISTING_DIGEST_CONTEXT`]) over, for each kind in the listing digest
/// ([`Kind::in_listing_digest`]) in increasing tag order and each of its ids in increasing
/// order, the kind's **tag** (one byte) then the id's 32 bytes. Offers count by their current
/// version (the head of each `(provider, offer_key)`, tombstones included).
pub struct ListingDigest(blake3::Hasher);

impl Default for ListingDigest {
    fn default() -> Self {
        Self(blake3::Hasher::new_derive_key(LISTING_DIGEST_CONTEXT))
    }
}

impl ListingDigest {
    /// Adds one id; calls must come in (tag, id) order.
    pub fn add(&mut self, kind: Kind, id: &ObjectId) {
        self.0.update(&[kind.tag()]);
        self.0.update(&id.0);
    }

    /// The digest.
    pub fn finish(&self) -> Hash32 {
        Hash32(*self.0.finalize().as_bytes())
    }

    /// The digest of `(kind, id)` pairs in any order: those of kinds outside the listing
    /// digest are left out, the rest sorted.
    pub fn of(items: &[(Kind, ObjectId)]) -> Hash32 {
        let mut sorted: Vec<&(Kind, ObjectId)> = items
            .iter()
            .filter(|(k, _)| k.in_listing_digest())
            .collect();
        sorted.sort_unstable();
        let mut d = Self::default();
        for (kind, id) in sorted {
            d.add(*kind, id);
        }
        d.finish()
    }
}
