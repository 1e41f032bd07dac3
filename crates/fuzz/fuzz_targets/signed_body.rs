#![no_main]
//! Bodies of every kind, validly signed, so that the body decoding, the canonical check and
//! the stateless rules behind the signature get fuzzed too.
use flashback_types::{Kind, Object, SecretKey, Signature, signing_digest};
use libfuzzer_sys::fuzz_target;

#[derive(serde::Serialize)]
struct Wire<'a> {
    kind: u8,
    #[serde(with = "serde_bytes")]
    body: &'a [u8],
    signer: [u8; 32],
    signature: Signature,
}

fuzz_target!(|data: &[u8]| {
    let Some((&k, body)) = data.split_first() else {
        return;
    };
    let kind = Kind::ALL[usize::from(k) % Kind::ALL.len()];
    let key = SecretKey::from_seed(&[7; 32]);
    let signature = key.sign(&signing_digest(kind, body));
    let wire = Wire {
        kind: kind.tag(),
        body,
        signer: *key.public().as_bytes(),
        signature,
    };
    let bytes = flashback_types::encoding::encode(&wire);
    if let Ok(object) = Object::decode(&bytes) {
        assert_eq!(object.encoded(), &bytes[..]);
        assert_eq!(object.kind(), kind);
    }
});
