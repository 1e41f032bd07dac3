//! Signatures and keys: RFC 8032 vectors, weak keys, bit flips, key files, peer ids.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use flashback_types::*;

const NOW: Timestamp = 1_800_000_000;

fn hex32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).unwrap();
    out
}

/// An offer and an agreement on it: one signer, then two.
fn offer_and_agreement(offer_key: &str) -> (Signed<Offer>, Agreement) {
    let key = SecretKey::generate();
    let consumer = SecretKey::generate();
    let offer = Signed::sign(samples::offer(key.public(), offer_key, 3, NOW), &key).unwrap();
    let proposal = Signed::sign(
        samples::proposal(
            consumer.public(),
            offer.body(),
            offer.id(),
            10 * GIB,
            MONTH_SECS,
            NOW,
        ),
        &consumer,
    )
    .unwrap();
    let acceptance = Signed::sign(
        samples::decision(proposal.body(), proposal.id(), Decision::Accept, NOW),
        &key,
    )
    .unwrap();
    (offer, Agreement::from_parts(proposal, acceptance).unwrap())
}

/// RFC 8032 section 7.1, tests 1-3: (secret, public, message, signature).
const RFC8032: [(&str, &str, &str, &str); 3] = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
];

#[test]
fn rfc8032_vectors_sign_and_verify() {
    for (secret, public, message, signature) in RFC8032 {
        let key = SecretKey::from_seed(&hex32(secret));
        assert_eq!(key.public().to_string(), public);
        let message = hex::decode(message).unwrap();
        let sig = key.sign(&message);
        assert_eq!(sig.to_string(), signature);
        let public: PublicKey = public.parse().unwrap();
        assert!(public.verify_strict(&message, &sig));
        let mut tampered = message.clone();
        tampered.push(0);
        assert!(!public.verify_strict(&tampered, &sig));
    }
}

/// Small-order points: the identity, the point of order 2, and points of order 4 and 8.
const WEAK_KEYS: [&str; 4] = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
];

#[test]
fn weak_keys_are_refused_everywhere() {
    for weak in WEAK_KEYS {
        let bytes = hex32(weak);
        assert!(
            PublicKey::from_bytes(&bytes).is_err(),
            "{weak} was accepted as a public key"
        );
        assert!(weak.parse::<PublicKey>().is_err());
    }
    // An object whose envelope names a weak signer is refused before any signature check.
    let key = SecretKey::generate();
    let signed = Signed::sign(samples::offer(key.public(), "k", 1, NOW), &key).unwrap();
    let mut bytes = signed.encoded().to_vec();
    let signer_at = bytes.len() - 96;
    bytes[signer_at..signer_at + 32].copy_from_slice(&hex32(WEAK_KEYS[0]));
    let err = Object::decode(&bytes).unwrap_err();
    assert_eq!(err.rule, Rule::WeakKey);
    assert_eq!(err.label(), Label::Reject);
}

/// A body's keys are checked like the envelope's: a weak key inside a body is refused even
/// under a valid signature, while a body that names its own signer (checked once, with the
/// envelope) decodes, with and without a cache of checked keys.
#[test]
fn weak_keys_inside_a_body_are_refused_and_the_signer_is_checked_once() {
    let issuer = SecretKey::generate();
    let subject = SecretKey::generate().public();
    let cert = Signed::sign(
        samples::certificate(issuer.public(), subject, "iso27001", "yes", NOW),
        &issuer,
    )
    .unwrap();
    // Put a weak key where the subject is, and sign the new body properly.
    let resign = |cert: &Signed<Certificate>, replace: &[u8; 32], with: &[u8; 32]| {
        let mut bytes = cert.encoded().to_vec();
        let body_end = bytes.len() - 96;
        let at = bytes[..body_end]
            .windows(32)
            .position(|w| w == replace)
            .unwrap();
        bytes[at..at + 32].copy_from_slice(with);
        let body_start = body_end - flashback_types::encoding::encode(cert.body()).len();
        let digest = signing_digest(Kind::Certificate, &bytes[body_start..body_end]);
        let signature = issuer.sign(&digest).to_bytes();
        bytes[body_end + 32..].copy_from_slice(&signature);
        bytes
    };
    let cache = KeyCache::new(16);
    for weak in WEAK_KEYS {
        let bytes = resign(&cert, subject.as_bytes(), &hex32(weak));
        for keys in [None, Some(&cache)] {
            let err = Object::decode_with(&bytes, keys).unwrap_err();
            assert_eq!(err.label(), Label::Reject, "{weak}: {err}");
        }
    }
    // The signer's own key inside its body passes the key checks (here it then meets the
    // certificate's rule that issuer and subject differ); an offer's provider is the same case.
    let own = resign(&cert, subject.as_bytes(), issuer.public().as_bytes());
    for keys in [None, Some(&cache), Some(&cache)] {
        let err = Object::decode_with(&own, keys).unwrap_err();
        assert_eq!(err.rule, Rule::InvalidField, "{err}");
    }
    let offer = Signed::sign(samples::offer(issuer.public(), "own", 1, NOW), &issuer).unwrap();
    for keys in [None, Some(&cache), Some(&cache)] {
        assert_eq!(
            Object::decode_with(offer.encoded(), keys).unwrap().id(),
            offer.id()
        );
    }
}

/// Decoding with a node's cache of checked signer keys gives the verdict decoding without it
/// gives, for valid objects and for damaged ones, with the cache cold and warm.
#[test]
fn the_signer_key_cache_changes_no_verdict() {
    let (offer, agreement) = offer_and_agreement("cache");
    let mut weak_signer = offer.encoded().to_vec();
    let signer_at = weak_signer.len() - 96;
    weak_signer[signer_at..signer_at + 32].copy_from_slice(&hex32(WEAK_KEYS[0]));

    let mut inputs = vec![
        offer.encoded().to_vec(),
        agreement.encoded().to_vec(),
        weak_signer,
    ];
    for encoded in [offer.encoded(), agreement.encoded()] {
        for byte in 0..encoded.len() {
            let mut bytes = encoded.to_vec();
            bytes[byte] ^= 1 << (byte % 8);
            inputs.push(bytes);
        }
    }
    let cache = KeyCache::new(16);
    let verdict = |r: Result<Object, ObjectError>| r.map(|o| o.id()).map_err(|e| e.rule);
    for pass in ["cold", "warm"] {
        for bytes in &inputs {
            assert_eq!(
                verdict(Object::decode_with(bytes, Some(&cache))),
                verdict(Object::decode(bytes)),
                "{pass} cache, input {}",
                hex::encode(bytes)
            );
        }
    }
    // Both signers are held; a weak key, or any key that failed its checks, is not.
    assert!(cache.len() >= 2);
    assert!(cache.len() <= 16);
    assert_eq!(
        Object::decode_with(&inputs[2], Some(&cache))
            .unwrap_err()
            .rule,
        Rule::WeakKey
    );

    // Bounded: many signers, at most the capacity held.
    let small = KeyCache::new(4);
    for i in 0..32u64 {
        let k = SecretKey::generate();
        let o = Signed::sign(samples::offer(k.public(), "many", i, NOW), &k).unwrap();
        assert!(Object::decode_with(o.encoded(), Some(&small)).is_ok());
    }
    assert!(small.len() <= 4, "{} keys held", small.len());
}

#[test]
fn non_canonical_key_encodings_are_refused() {
    // y = p, p + 1, p + 2: second encodings of y = 0, 1, 2.
    for low in [0xed_u8, 0xee, 0xef] {
        let mut bytes = [0xff_u8; 32];
        bytes[0] = low;
        bytes[31] = 0x7f;
        assert!(PublicKey::from_bytes(&bytes).is_err(), "{low:x}");
    }
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let (offer, agreement) = offer_and_agreement("bits");
    for encoded in [offer.encoded(), agreement.encoded()] {
        for byte in 0..encoded.len() {
            for bit in 0..8 {
                let mut bytes = encoded.to_vec();
                bytes[byte] ^= 1 << bit;
                if let Ok(obj) = Object::decode(&bytes) {
                    panic!("flip of bit {bit} in byte {byte} accepted: {obj:?}");
                }
            }
        }
        assert!(Object::decode(encoded).is_ok());
    }
}

#[test]
fn signature_from_another_key_or_domain_is_refused() {
    let key = SecretKey::generate();
    let other = SecretKey::generate();
    let body = samples::offer(key.public(), "k", 1, NOW);
    // Signed by a key that is not the author.
    let forged = Signed::sign_unchecked(body.clone(), &other);
    assert_eq!(
        Object::decode(forged.encoded()).unwrap_err().rule,
        Rule::SignerMismatch
    );
    assert_eq!(
        Signed::sign(body.clone(), &other).unwrap_err().rule,
        Rule::SignerMismatch
    );
    // The same signature is not valid for another kind's domain.
    let bytes = encoding::encode(&body);
    let offer_digest = signing_digest(Kind::Offer, &bytes);
    let demand_digest = signing_digest(Kind::Demand, &bytes);
    assert_ne!(offer_digest, demand_digest);
    let sig = key.sign(&offer_digest);
    assert!(key.public().verify_strict(&offer_digest, &sig));
    assert!(!key.public().verify_strict(&demand_digest, &sig));
}

#[test]
fn key_text_round_trips_and_bad_text_is_refused() {
    let key = SecretKey::generate();
    let text = key.public().to_string();
    assert_eq!(text.len(), 64);
    assert_eq!(text.parse::<PublicKey>().unwrap(), key.public());
    assert!(text[..63].parse::<PublicKey>().is_err());
    assert!("zz".repeat(32).parse::<PublicKey>().is_err());
    let json = serde_json::to_string(&key.public()).unwrap();
    assert_eq!(json, format!("\"{text}\""));
    assert_eq!(
        serde_json::from_str::<PublicKey>(&json).unwrap(),
        key.public()
    );
    // Secrets never print.
    let debug = format!("{key:?}");
    assert!(debug.contains("redacted"));
    assert!(!debug.contains(&hex::encode(key.to_seed().as_ref())));
}

#[test]
fn key_file_round_trips_and_damage_is_a_one_line_error() {
    let key = SecretKey::generate();
    let text = keyfile::encode(&key);
    assert_eq!(keyfile::decode(&text).unwrap(), key);

    let truncated = &text[..text.len() / 2];
    let cases: Vec<(&str, String)> = vec![
        ("truncated", truncated.to_string()),
        ("garbage", "\u{0}\u{1}not a key file at all ]]]".to_string()),
        ("empty", String::new()),
        (
            "mismatched public",
            text.replace(
                &key.public().to_string(),
                &SecretKey::generate().public().to_string(),
            ),
        ),
        (
            "wrong format",
            text.replace(keyfile::FORMAT, "flashback-key/9"),
        ),
        ("huge", "#".repeat(keyfile::MAX_LEN + 1)),
    ];
    for (what, bad) in cases {
        let err = keyfile::decode(&bad).expect_err(what).to_string();
        assert!(!err.is_empty() && !err.contains('\n'), "{what}: {err:?}");
    }
}

#[test]
fn peer_id_and_account_key_name_the_same_key() {
    let key = SecretKey::generate();
    let keypair = key.to_libp2p_keypair();
    let peer = keypair.public().to_peer_id();
    assert_eq!(peer, key.public().to_peer_id());
    assert_eq!(PublicKey::from_peer_id(&peer).unwrap(), key.public());
    // A peer id that is a hash of a (non-ed25519-identity) key is refused.
    let random = libp2p_identity::PeerId::random();
    assert!(PublicKey::from_peer_id(&random).is_err());
}

#[test]
fn batch_prefilter_agrees_with_strict_verification() {
    let keys: Vec<_> = (0..8).map(|_| SecretKey::generate()).collect();
    let envelopes: Vec<Envelope<Offer>> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let s = Signed::sign(samples::offer(k.public(), "b", i as u64, NOW), k).unwrap();
            Envelope::parse(s.encoded()).unwrap()
        })
        .collect();
    let mut items: Vec<_> = envelopes
        .iter()
        .map(|e| (e.digest(), *e.signer(), *e.signature()))
        .collect();
    assert!(batch_prefilter(&items));
    items[3].2 = items[4].2;
    assert!(!batch_prefilter(&items));
    for e in envelopes {
        assert!(e.verify().is_ok());
    }
}
