//! Sign, verify and decode+verify of a typical offer, next to raw ed25519 `verify_strict` of a
//! 32-byte message measured in the same run (the baseline for the ratio in the docs).

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
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
