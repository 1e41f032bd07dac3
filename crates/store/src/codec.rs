//! On-disk value formats: checksummed index values and the key layouts of the index trees.
//!
//! Object trees map an object id to the object's signed encoding; since the id *is* blake3 of
//! that encoding, the key is the value's checksum. Every other value is
//! `payload ‖ checksum`, where the checksum is the first 16 bytes of blake3 (key-derivation
//! mode, context `flashback/store/v1/checksum`) over the tree name, the key and the payload,
//! so a value copied under another key or tree fails too.

use flashback_types::ObjectId;

/// Bytes of checksum appended to index values.
pub(crate) const CHECKSUM_LEN: usize = 16;

fn checksum(tree: &str, key: &[u8], payload: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut h = blake3::Hasher::new_derive_key("flashback/store/v1/checksum");
    h.update(&(tree.len() as u64).to_le_bytes());
    h.update(tree.as_bytes());
    h.update(&(key.len() as u64).to_le_bytes());
    h.update(key);
    h.update(payload);
    let mut out = [0u8; CHECKSUM_LEN];
    out.copy_from_slice(&h.finalize().as_bytes()[..CHECKSUM_LEN]);
    out
}

/// `payload ‖ checksum`.
pub(crate) fn seal(tree: &str, key: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(payload.len() + CHECKSUM_LEN);
    v.extend_from_slice(payload);
    v.extend_from_slice(&checksum(tree, key, payload));
    v
}

/// The payload of a sealed value, or `None` when the checksum does not match.
pub(crate) fn unseal<'a>(tree: &str, key: &[u8], value: &'a [u8]) -> Option<&'a [u8]> {
    let split = value.len().checked_sub(CHECKSUM_LEN)?;
    let (payload, sum) = value.split_at(split);
    (checksum(tree, key, payload) == sum).then_some(payload)
}

/// `a ‖ b`.
pub(crate) fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(a.len() + b.len());
    v.extend_from_slice(a);
    v.extend_from_slice(b);
    v
}

/// Expiry index key: `expires_at (BE) ‖ kind tag ‖ id`, so a range scan finds the expired.
pub(crate) fn expiry_key(expires_at: u64, kind_tag: u8, id: &ObjectId) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + 1 + 32);
    v.extend_from_slice(&expires_at.to_be_bytes());
    v.push(kind_tag);
    v.extend_from_slice(&id.0);
    v
}

/// Splits an expiry index key.
pub(crate) fn parse_expiry_key(key: &[u8]) -> Option<(u64, u8, ObjectId)> {
    if key.len() != 41 {
        return None;
    }
    let mut e = [0u8; 8];
    e.copy_from_slice(&key[..8]);
    let mut id = [0u8; 32];
    id.copy_from_slice(&key[9..]);
    Some((u64::from_be_bytes(e), key[8], flashback_types::Hash32(id)))
}

/// An id from a 32-byte slice.
pub(crate) fn id_from(bytes: &[u8]) -> Option<ObjectId> {
    let arr: [u8; 32] = bytes.try_into().ok()?;
    Some(flashback_types::Hash32(arr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_detect_any_change() {
        let v = seal("t", b"key", b"payload");
        assert_eq!(unseal("t", b"key", &v), Some(&b"payload"[..]));
        assert_eq!(unseal("u", b"key", &v), None);
        assert_eq!(unseal("t", b"kez", &v), None);
        for i in 0..v.len() {
            let mut bad = v.clone();
            bad[i] ^= 0x10;
            assert_eq!(unseal("t", b"key", &bad), None);
        }
        assert_eq!(unseal("t", b"key", b"short"), None);
    }
}
