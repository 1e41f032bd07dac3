//! Sign, verify and decode+verify of a typical offer (also with the signer's key already in a
//! node's key cache), next to raw ed25519 `verify_strict` of a 32-byte message measured in the
//! same run (the baseline for the ratio in the docs).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use flashback_types::{Object, SecretKey, Signed, TimeRules, samples};

const NOW: u64 = 1_800_000_000;

fn bench(c: &mut Criterion) {
    let key = SecretKey::from_seed(&[7; 32]);
    let offer = samples::offer(key.public(), "bench-offer", 42, NOW);
    let signed = Signed::sign(offer.clone(), &key).expect("valid offer");
    let bytes = signed.encoded().to_vec();
    let message = [0x5au8; 32];
    let sig = key.sign(&message);
    let public = key.public();
    let time = TimeRules::default();

    let mut group = c.benchmark_group("offer");
    group.bench_function("raw_verify_strict_32B", |b| {
        b.iter(|| assert!(black_box(&public).verify_strict(black_box(&message), black_box(&sig))))
    });
    // The part of every check that depends on the signer only: decompressing its key.
    let public_bytes = *public.as_bytes();
    group.bench_function("key_from_bytes", |b| {
        b.iter(|| flashback_types::PublicKey::from_bytes(black_box(&public_bytes)).expect("valid"))
    });
    group.bench_function("sign", |b| {
        b.iter(|| Signed::sign(black_box(offer.clone()), &key).expect("valid"))
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            flashback_types::Envelope::<flashback_types::Offer>::parse(black_box(&bytes))
                .expect("parses")
                .verify()
                .expect("verifies")
        })
    });
    group.bench_function("decode_and_verify", |b| {
        b.iter(|| Object::decode_at(black_box(&bytes), NOW, &time).expect("valid"))
    });
    // As a node decodes: the signer's checked key comes from its cache after the first time.
    let keys = flashback_types::KeyCache::new(16);
    group.bench_function("decode_and_verify_known_signer", |b| {
        b.iter(|| {
            Object::decode_at_with(black_box(&bytes), NOW, &time, Some(&keys)).expect("valid")
        })
    });
    group.finish();

    // Batch verification as a pre-filter: what it costs next to strict per-object checks.
    let keys: Vec<SecretKey> = (0..64u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
    let batch: Vec<Vec<u8>> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            Signed::sign(samples::offer(k.public(), "b", i as u64, NOW), k)
                .expect("valid offer")
                .encoded()
                .to_vec()
        })
        .collect();
    let mut group = c.benchmark_group("batch64");
    group.bench_function("strict_each", |b| {
        b.iter(|| {
            for bytes in &batch {
                Object::decode(black_box(bytes)).expect("valid");
            }
        })
    });
    group.bench_function("prefilter_only", |b| {
        b.iter(|| {
            let parts: Vec<_> = batch
                .iter()
                .map(|bytes| flashback_types::envelope_parts(bytes).expect("parses"))
                .collect();
            assert!(flashback_types::batch_prefilter(black_box(&parts)));
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
