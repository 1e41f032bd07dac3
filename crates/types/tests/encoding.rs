//! Canonical encoding: round trips of every object (property tests), size limits, trailing
//! bytes, hostile length prefixes, non-canonical bytes.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use flashback_types::*;
use proptest::prelude::*;

const NOW: Timestamp = 1_800_000_000;

fn key_from(seed: u8) -> SecretKey {
    SecretKey::from_seed(&[seed; 32])
}

fn short_text() -> impl Strategy<Value = ShortText> {
    "[a-z0-9-]{1,20}".prop_map(|s| ShortText::new(s).unwrap())
}

fn regions() -> impl Strategy<Value = BoundedVec<ShortText, 16>> {
    prop::collection::btree_set(short_text(), 0..5)
        .prop_map(|set| BoundedVec::try_from_vec(set.into_iter().collect()).unwrap())
}

fn protocols() -> impl Strategy<Value = BoundedVec<DataProtocol, 8>> {
    let one = prop_oneof![
        Just(DataProtocol::S3),
        Just(DataProtocol::Https),
        Just(DataProtocol::Ipfs),
        Just(DataProtocol::Sftp),
        Just(DataProtocol::FlashbackBlob),
        short_text().prop_map(DataProtocol::Other),
    ];
    prop::collection::btree_set(one, 1..4)
        .prop_map(|set| BoundedVec::try_from_vec(set.into_iter().collect()).unwrap())
}

fn qos() -> impl Strategy<Value = QosTargets> {
    (0u16..=10_000, any::<u32>(), 0u8..=20, any::<u64>()).prop_map(|(a, l, d, t)| QosTargets {
        availability_bp: a,
        p95_latency_ms: l,
        durability_nines: d,
        throughput_bytes_per_sec: t,
    })
}

fn hashes() -> impl Strategy<Value = BoundedVec<Hash32, 16>> {
    prop::collection::btree_set(any::<[u8; 32]>().prop_map(Hash32), 0..4)
        .prop_map(|set| BoundedVec::try_from_vec(set.into_iter().collect()).unwrap())
}

fn jurisdictions() -> impl Strategy<Value = BoundedVec<ShortText, 16>> {
    prop::collection::btree_set("[a-z0-9-]{1,12}", 0..4).prop_map(|set| {
        BoundedVec::try_from_vec(
            set.into_iter()
                .map(|j| ShortText::new(j).unwrap())
                .collect(),
        )
        .unwrap()
    })
}

fn docs() -> impl Strategy<Value = BoundedVec<ComplianceDoc, 8>> {
    let doc = ("[ -~]{1,128}", "[!-~]{1,256}", any::<[u8; 32]>()).prop_filter_map(
        "a title is not blank",
        |(title, url, digest)| {
            (!title.trim().is_empty()).then(|| ComplianceDoc {
                title: Title::new(title).unwrap(),
                url: Text::new(url).unwrap(),
                digest: Hash32(digest),
            })
        },
    );
    prop::collection::btree_set(doc, 0..3)
        .prop_map(|set| BoundedVec::try_from_vec(set.into_iter().collect()).unwrap())
}

prop_compose! {
    fn offer()(
        seed in 1u8..=255,
        offer_key in "[A-Za-z0-9._-]{1,64}",
        seq in any::<u64>(),
        withdrawn in any::<bool>(),
        compute in any::<bool>(),
        capacity in 1u64..,
        amount in any::<u64>(),
        asset in "[A-Z0-9]{1,12}",
        (min_d, max_d) in (0u64..1_000_000, 1u64..1_000_000).prop_map(|(a, b)| (a.min(b), a.max(b))),
        regions in regions(),
        protocols in protocols(),
        endpoint in "(https?|s3|ipfs|sftp)://[a-z0-9.-]{1,60}(/[A-Za-z0-9._~%-]{0,40})?|/dns4/[a-z0-9.-]{1,40}/tcp/[0-9]{1,5}",
        qos in qos(),
        redundancy in 1u8..=16,
        certificates in hashes(),
        jurisdictions in jurisdictions(),
        compliance_docs in docs(),
        created_at in 0u64..4_000_000_000,
        lifetime in 1u64..=400 * 86_400,
    ) -> (SecretKey, Offer) {
        let key = key_from(seed);
        let kind = if compute { ResourceKind::Compute } else { ResourceKind::Storage };
        let offer = Offer {
            provider: key.public(),
            offer_key: ShortText::new(offer_key).unwrap(),
            seq,
            withdrawn,
            kind,
            capacity,
            price: Price { amount, asset: asset.as_str().try_into().unwrap(), unit: PriceUnit::for_kind(kind) },
            min_duration_secs: min_d,
            max_duration_secs: max_d,
            regions,
            protocols,
            endpoint: Text::new(endpoint).unwrap(),
            qos,
            redundancy,
            certificates,
            jurisdictions,
            compliance_docs,
            compute: compute.then(|| ComputeSpec { vcpus: 4, memory_bytes: 8 * GIB, accelerator: "a100".try_into().unwrap() }),
            created_at,
            expires_at: created_at + lifetime,
        };
        (key, offer)
    }
}

fn round_trip<T: SignedBody + PartialEq>(key: &SecretKey, body: T) -> Signed<T> {
    let signed = Signed::sign(body.clone(), key).expect("valid body signs");
    let decoded = Signed::<T>::decode(signed.encoded()).expect("own encoding decodes");
    assert_eq!(decoded.body(), &body);
    assert_eq!(decoded.id(), signed.id());
    assert_eq!(decoded.encoded(), signed.encoded());
    let any = Object::decode(signed.encoded()).expect("decodes as an object");
    assert_eq!(any.kind(), T::KIND);
    assert_eq!(any.id(), signed.id());
    // Human formats carry the same body.
    let json = serde_json::to_string(&body).unwrap();
    assert_eq!(serde_json::from_str::<T>(&json).unwrap(), body);
    signed
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn offers_round_trip((key, offer) in offer()) {
        round_trip(&key, offer);
    }

    #[test]
    fn demands_round_trip(seed in 1u8.., volume in 1u64.., duration in 1u64.., nonce in any::<u64>(), regions in regions(), qos in qos()) {
        let key = key_from(seed);
        let mut d = samples::demand(key.public(), NOW);
        d.volume = volume;
        d.duration_secs = duration;
        d.nonce = nonce;
        d.regions = regions;
        d.qos = qos;
        round_trip(&key, d);
    }

    #[test]
    fn proposals_decisions_and_agreements_round_trip(
        volume in 1u64..(1 << 50),
        duration in 1u64..(10 * 365 * 86_400),
        amount in 0u64..1_000_000,
        accept in any::<bool>(),
        reason in prop::sample::select(vec![RejectReason::Capacity, RejectReason::Price, RejectReason::Duration, RejectReason::Other]),
    ) {
        let provider = key_from(1);
        let consumer = key_from(2);
        let mut offer = samples::offer(provider.public(), "o", 1, NOW);
        offer.price.amount = amount;
        let offer = Signed::sign(offer, &provider).unwrap();
        let p = samples::proposal(consumer.public(), offer.body(), offer.id(), volume, duration, NOW);
        let p = round_trip(&consumer, p);
        let decision = if accept { Decision::Accept } else { Decision::Reject(reason) };
        let d = round_trip(&provider, samples::decision(p.body(), p.id(), decision, NOW));
        let joined = Agreement::from_parts(p.clone(), d.clone());
        if accept {
            let a = joined.unwrap();
            let back = Agreement::decode(a.encoded()).unwrap();
            prop_assert_eq!(back.id(), a.id());
            prop_assert_eq!(back.proposal_id(), p.id());
            prop_assert_eq!(Object::decode(a.encoded()).unwrap().kind(), Kind::Agreement);
        } else {
            prop_assert_eq!(joined.unwrap_err().rule, Rule::NotAccepted);
        }
    }

    #[test]
    fn attestations_certificates_revocations_round_trip(probes in 0u32..10_000, ok in 0u32..10_000, agreement in any::<Option<[u8; 32]>>()) {
        let a = key_from(3);
        let s = key_from(4);
        let successes = ok.min(probes);
        round_trip(&a, samples::attestation(a.public(), s.public(), agreement.map(Hash32), probes, successes, NOW));
        let cert = round_trip(&a, samples::certificate(a.public(), s.public(), "iso27001", "certified", NOW));
        round_trip(&a, samples::revocation(a.public(), cert.id(), NOW));
    }

    #[test]
    fn evidence_round_trips((key, offer) in offer()) {
        let a = Signed::sign(offer.clone(), &key).unwrap();
        let mut other = offer;
        other.capacity = other.capacity.wrapping_add(1).max(1);
        other.withdrawn = !other.withdrawn;
        let b = Signed::sign(other, &key).unwrap();
        let e = EquivocationEvidence::from_offers(b.clone(), a.clone()).unwrap();
        let back = EquivocationEvidence::decode(e.encoded()).unwrap();
        prop_assert_eq!(back.id(), e.id());
        prop_assert_eq!(back.provider(), &key.public());
        // Same evidence whatever the order the offers were seen in.
        prop_assert_eq!(EquivocationEvidence::from_offers(a, b).unwrap().id(), e.id());
    }

    #[test]
    fn terminations_and_access_grants_round_trip(
        agreement in any::<[u8; 32]>(),
        reason in "[a-z ]{1,200}",
        ciphertext in prop::collection::vec(any::<u8>(), 17..2048),
        enc in any::<[u8; 32]>(),
    ) {
        let (provider, consumer) = (key_from(5), key_from(6));
        let mut t = samples::termination(consumer.public(), Hash32(agreement), NOW);
        t.reason = reason.as_str().try_into().unwrap();
        prop_assume!(!t.reason.trim().is_empty());
        round_trip(&consumer, t);
        let mut g = samples::access_grant(provider.public(), consumer.public(), Hash32(agreement), NOW);
        g.sealed = Sealed { enc, ciphertext: BoundedVec::try_from_vec(ciphertext).unwrap() };
        round_trip(&provider, g);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096), tag in 0u8..17) {
        let mut bytes = bytes;
        if let Some(first) = bytes.first_mut() { *first = tag; }
        let _ = Object::decode(&bytes);
    }
}

fn offer_bytes() -> Vec<u8> {
    let key = key_from(9);
    Signed::sign(samples::offer(key.public(), "x", 1, NOW), &key)
        .unwrap()
        .encoded()
        .to_vec()
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut bytes = offer_bytes();
    bytes.push(0);
    let err = Object::decode(&bytes).unwrap_err();
    assert_eq!(err.rule, Rule::TrailingBytes);
    assert_eq!(err.label(), Label::Reject);
}

#[test]
fn oversized_input_is_rejected_before_decoding() {
    for kind in Kind::ALL {
        let mut bytes = vec![0u8; kind.max_bytes() + 1];
        bytes[0] = kind.tag();
        let err = Object::decode(&bytes).unwrap_err();
        assert_eq!(err.rule, Rule::TooLarge, "{kind}");
    }
}

#[test]
fn hostile_length_prefixes_fail_cleanly() {
    // Tag, then a body length prefix claiming 2^64-1 bytes (varint 0xfd + u64).
    let mut bytes = vec![Kind::Offer.tag(), 0xfd];
    bytes.extend_from_slice(&u64::MAX.to_le_bytes());
    bytes.extend_from_slice(&[0u8; 96]);
    let err = Object::decode(&bytes).unwrap_err();
    assert_eq!(err.label(), Label::Reject);
    // A bounded collection claiming more items than allowed inside a well-signed body.
    let mut encoded = encoding::encode(&vec![0u8; 17]);
    encoded[0] = 200; // claims 200 items
    assert!(encoding::decode::<BoundedVec<u8, 16>, 1024>(&encoded).is_err());
}

#[test]
fn empty_and_unknown_kind_are_rejected() {
    assert_eq!(Object::decode(&[]).unwrap_err().rule, Rule::Malformed);
    assert_eq!(Object::decode(&[0]).unwrap_err().rule, Rule::Malformed);
    assert_eq!(
        Object::decode(&[200, 1, 2]).unwrap_err().rule,
        Rule::Malformed
    );
}

#[test]
fn non_canonical_body_bytes_are_rejected_even_when_signed() {
    // A bool encoded as 2 decodes nowhere; but an over-long varint for a small integer is a
    // second encoding of the same value. Sign such bytes directly and check they are refused.
    let key = key_from(5);
    let body = samples::offer(key.public(), "c", 1, NOW);
    let canonical = encoding::encode(&body);
    // `seq` = 1 follows the 32-byte key and the offer_key ("c": length 1 + 1 byte).
    let seq_at = 32 + 2;
    assert_eq!(canonical[seq_at], 1);
    let mut long = canonical[..seq_at].to_vec();
    long.extend_from_slice(&[251, 1, 0]); // varint u16 form of 1
    long.extend_from_slice(&canonical[seq_at + 1..]);
    let sig = key.sign(&signing_digest(Kind::Offer, &long));
    let mut wire = vec![Kind::Offer.tag()];
    wire.extend(encoding::encode(&serde_bytes::Bytes::new(&long)));
    wire.extend_from_slice(key.public().as_bytes());
    wire.extend_from_slice(&sig.to_bytes());
    let err = Object::decode(&wire).unwrap_err();
    assert!(
        matches!(err.rule, Rule::NonCanonical | Rule::Malformed),
        "{err}"
    );
    assert_eq!(err.label(), Label::Reject);
}

#[test]
fn wrong_kind_is_rejected() {
    let mut bytes = offer_bytes();
    bytes[0] = Kind::Demand.tag();
    let err = Object::decode(&bytes).unwrap_err();
    assert_eq!(err.label(), Label::Reject);
    let err = Signed::<Demand>::decode(&offer_bytes()).unwrap_err();
    assert_eq!(err.rule, Rule::WrongKind);
}
