//! Reputation: only agreement- or auditor-backed attestations count; deterministic to the bit.

#![allow(clippy::unwrap_used)] // Test support code: a panic is a test failure.

mod common;

use common::*;
use flashback_store::{Basis, ExclusionReason, StoreConfig};
use flashback_types::*;

const PRIOR: f64 = 0.5;

#[test]
fn ten_attesters_without_agreements_move_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "r");
    let provider = key(1);
    store
        .apply(&offer(&provider, "a", 1, |_| {}).into(), NOW)
        .unwrap();
    let before = store.reputation(&provider.public(), NOW);
    assert_eq!(before.score, PRIOR);
    let sybils: Vec<Object> = (100..110)
        .map(|i| {
            attestation(
                &key(i),
                &provider.public(),
                None,
                NOW - 2 * DAY,
                NOW - DAY,
                1000,
                1000,
                10,
            )
            .into()
        })
        .collect();
    store.apply_batch(&sybils, NOW).unwrap();
    let after = store.reputation(&provider.public(), NOW);
    assert_eq!(after.score.to_bits(), before.score.to_bits());
    assert_eq!(after.beta_mean.to_bits(), PRIOR.to_bits());
    assert_eq!((after.counted, after.excluded), (0, 10));
    let explained = store.explain(&provider.public(), NOW);
    assert!(explained.counted.is_empty());
    assert_eq!(explained.excluded.len(), 10);
    assert!(
        explained
            .excluded
            .iter()
            .all(|e| e.reason == ExclusionReason::NoAgreement)
    );
    let text = explained.to_string();
    assert!(text.contains("no live agreement"), "{text}");
    // Nor do they lift the provider over a reputation filter.
    let q = OfferQuery {
        min_reputation_bp: Some(5001),
        ..Default::default()
    };
    assert!(store.query_offers(&q, NOW).unwrap().offers.is_empty());
}

#[test]
fn agreement_backed_attestations_move_the_score() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "r");
    let (provider, good, bad) = (key(1), key(2), key(3));
    let o = offer(&provider, "a", 1, |_| {});
    let a_good = agreement(&good, &provider, &o, NOW - 20 * DAY, 60 * DAY, GIB);
    let a_bad = agreement(&bad, &provider, &o, NOW - 20 * DAY, 60 * DAY, GIB);
    store
        .apply_batch(
            &[
                o.clone().into(),
                a_good.clone().into(),
                a_bad.clone().into(),
            ],
            NOW,
        )
        .unwrap();
    let p = provider.public();
    let att = |who: &SecretKey, a: &Agreement, successes, p95| {
        attestation(
            who,
            &p,
            Some(a.proposal_id()),
            NOW - 2 * DAY,
            NOW - DAY,
            100,
            successes,
            p95,
        )
    };
    store
        .apply(&att(&good, &a_good, 100, 50).into(), NOW)
        .unwrap();
    let up = store.reputation(&p, NOW);
    assert!(up.score > 0.9, "{up:?}");
    assert_eq!(up.compliance, 1.0);
    assert_eq!(up.counted, 1);
    // A consumer reporting failures pulls it down; missing the latency target fails the SLA.
    store
        .apply(&att(&bad, &a_bad, 10, 5000).into(), NOW)
        .unwrap();
    let mixed = store.reputation(&p, NOW);
    assert!(mixed.score < up.score);
    assert_eq!(mixed.compliance, 0.5);
    let e = store.explain(&p, NOW);
    assert_eq!(e.counted.len(), 2);
    assert!(
        e.counted
            .iter()
            .all(|c| matches!(c.basis, Basis::Agreement(_)))
    );
    assert_eq!(
        e.counted
            .iter()
            .filter_map(|c| c.met_sla)
            .collect::<Vec<_>>()
            .len(),
        2
    );
    // The score decays back towards the prior as the windows age.
    let later = store.reputation(&p, NOW + 25 * DAY);
    assert!((later.beta_mean - PRIOR).abs() < (mixed.beta_mean - PRIOR).abs());
}

#[test]
fn exclusion_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "r");
    let (provider, consumer) = (key(1), key(2));
    let p = provider.public();
    let o = offer(&provider, "a", 1, |_| {});
    let a = agreement(&consumer, &provider, &o, NOW - 10 * DAY, 20 * DAY, GIB);
    let pid = Some(a.proposal_id());
    let newest = attestation(&consumer, &p, pid, NOW - 2 * DAY, NOW - DAY, 100, 90, 50);
    let older = attestation(
        &consumer,
        &p,
        pid,
        NOW - 4 * DAY,
        NOW - 3 * DAY,
        100,
        100,
        50,
    );
    let outside = attestation(
        &consumer,
        &p,
        pid,
        NOW - 30 * DAY,
        NOW - 29 * DAY,
        100,
        100,
        50,
    );
    let empty = attestation(&consumer, &p, pid, NOW - 6 * DAY, NOW - 5 * DAY, 0, 0, 0);
    let stale = {
        let mut b = older.body().clone();
        b.window_start -= DAY;
        b.window_end -= DAY;
        b.created_at = b.window_end;
        b.expires_at = NOW + 10;
        Signed::sign(b, &consumer).unwrap()
    };
    let objects: Vec<Object> = vec![
        o.into(),
        a.into(),
        newest.clone().into(),
        older.clone().into(),
        outside.clone().into(),
        empty.clone().into(),
        stale.clone().into(),
    ];
    store.apply_batch(&objects, NOW).unwrap();
    let e = store.explain(&p, NOW + 10);
    assert_eq!(e.counted.len(), 1);
    assert_eq!(e.counted[0].id, newest.id());
    let reason = |id: ObjectId| e.excluded.iter().find(|x| x.id == id).map(|x| x.reason);
    assert_eq!(
        reason(older.id()),
        Some(ExclusionReason::SupersededByNewerWindow)
    );
    assert_eq!(
        reason(outside.id()),
        Some(ExclusionReason::WindowOutsideAgreement)
    );
    assert_eq!(reason(empty.id()), Some(ExclusionReason::NoProbes));
    assert_eq!(reason(stale.id()), Some(ExclusionReason::Expired));
    // Once the agreement has ended, its attestations stop counting.
    let ended = store.explain(&p, NOW + 10 * DAY);
    assert!(ended.counted.is_empty());
    assert!(
        ended
            .excluded
            .iter()
            .any(|x| x.id == newest.id() && x.reason == ExclusionReason::NoAgreement)
    );
}

#[test]
fn one_attesters_weight_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "r");
    let (provider, consumer) = (key(1), key(2));
    let p = provider.public();
    let o = offer(&provider, "a", 1, |_| {});
    let a = agreement(&consumer, &provider, &o, NOW - 10 * DAY, 20 * DAY, GIB);
    let huge = attestation(
        &consumer,
        &p,
        Some(a.proposal_id()),
        NOW - 2 * DAY,
        NOW - DAY,
        1_000_000,
        1_000_000,
        50,
    );
    store
        .apply_batch(&[o.into(), a.into(), huge.into()], NOW)
        .unwrap();
    let e = store.explain(&p, NOW);
    assert_eq!(e.counted[0].weight, 100.0 / 1_000_000.0);
    // Contributes at most 100 probes' worth: α ≤ prior + 100.
    assert!(e.alpha <= 1.0 + 100.0 + 1e-9, "{}", e.alpha);
    assert!(e.reputation.beta_mean < 102.0 / 103.0);
}

#[test]
fn trusted_auditors_count_without_an_agreement() {
    let dir = tempfile::tempdir().unwrap();
    let (provider, auditor, root, stranger) = (key(1), key(2), key(3), key(4));
    let config = StoreConfig {
        trusted_auditors: vec![root.public()],
        ..Default::default()
    };
    let store = open_with(&dir, "r", config);
    let p = provider.public();
    let att = attestation(&auditor, &p, None, NOW - 2 * DAY, NOW - DAY, 100, 100, 10);
    store.apply(&att.into(), NOW).unwrap();
    assert_eq!(store.reputation(&p, NOW).counted, 0);
    // A certificate from an untrusted key does nothing.
    let fake = certificate(&stranger, &auditor.public(), "auditor", "yes", 1);
    store.apply(&fake.into(), NOW).unwrap();
    assert_eq!(store.reputation(&p, NOW).counted, 0);
    let cert = certificate(&root, &auditor.public(), "auditor", "yes", 1);
    store.apply(&cert.clone().into(), NOW).unwrap();
    let e = store.explain(&p, NOW);
    assert_eq!(e.counted.len(), 1);
    assert_eq!(e.counted[0].basis, Basis::Auditor(cert.id()));
    assert_eq!(e.counted[0].met_sla, None);
    assert!(e.reputation.score > PRIOR);
    // Revoked: back to nothing.
    store.apply(&revocation(&root, &cert).into(), NOW).unwrap();
    assert_eq!(store.reputation(&p, NOW).counted, 0);
}

#[test]
fn the_same_objects_in_any_order_give_bit_identical_scores() {
    let provider = key(1);
    let p = provider.public();
    let o = offer(&provider, "a", 1, |_| {});
    let mut objects: Vec<Object> = vec![o.clone().into()];
    for c in 0..12u16 {
        let consumer = key(200 + c);
        let a = agreement(&consumer, &provider, &o, NOW - 40 * DAY, 80 * DAY, GIB);
        for w in 0..3u64 {
            let end = NOW - (w * 7 + u64::from(c)) * DAY - 1234 * u64::from(c);
            let probes = 50 + u32::from(c) * 37;
            let successes = probes - (u32::from(c) * 13 + w as u32) % probes;
            objects.push(
                attestation(
                    &consumer,
                    &p,
                    Some(a.proposal_id()),
                    end - DAY,
                    end,
                    probes,
                    successes,
                    40 + u32::from(c) * 30,
                )
                .into(),
            );
        }
        objects.push(a.into());
    }
    for c in 0..5u16 {
        objects
            .push(attestation(&key(300 + c), &p, None, NOW - 2 * DAY, NOW - DAY, 10, 10, 5).into());
    }
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir, "a");
    let b = open(&dir, "b");
    for o in &objects {
        a.apply(o, NOW).unwrap();
    }
    let mut reversed = objects.clone();
    reversed.reverse();
    // Interleave differently: odd positions first.
    let (odd, even): (Vec<_>, Vec<_>) = reversed
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 2 == 1);
    let shuffled: Vec<Object> = odd.into_iter().chain(even).map(|(_, o)| o).collect();
    b.apply_batch(&shuffled, NOW).unwrap();
    for now in [NOW, NOW + 3 * DAY + 17, NOW + 33 * DAY] {
        let (ra, rb) = (a.reputation(&p, now), b.reputation(&p, now));
        assert_eq!(ra.score.to_bits(), rb.score.to_bits());
        assert_eq!(ra.beta_mean.to_bits(), rb.beta_mean.to_bits());
        assert_eq!(ra.compliance.to_bits(), rb.compliance.to_bits());
        assert_eq!(a.explain(&p, now), b.explain(&p, now));
        assert!(ra.excluded > 0);
        // All windows have expired by the last instant.
        assert_eq!(ra.counted > 0, now < NOW + 30 * DAY);
    }
    // And after a reopen.
    let before = a.reputation(&p, NOW).score.to_bits();
    drop(a);
    let a = open(&dir, "a");
    assert_eq!(a.reputation(&p, NOW).score.to_bits(), before);
}
