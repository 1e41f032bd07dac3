//! Reputation: only agreement-, auditor- or own-key-backed attestations count; each weighs its
//! attester's standing (anchored in the node's trust, or earned from deals with providers the
//! anchors rate) times its stake; a provider without enough evidence is unrated; deterministic
//! to the bit.

#![allow(clippy::unwrap_used)] // Test support code: a panic is a test failure.

mod common;

use common::*;
use flashback_store::{
    Anchor, Basis, ExclusionReason, Stake, StandingKind, Store, StoreConfig, Unearned,
};
use flashback_types::*;

/// An offer whose 1 GiB × 1 h agreement (the cheapest it allows) costs one cent, and whose
/// 10 GiB × 40 d agreement is worth more than the $10 that counts in full.
fn plain_offer(provider: &SecretKey) -> Signed<Offer> {
    offer(provider, "a", 1, |o| o.expires_at = NOW + 60 * DAY)
}

/// A full-stake agreement, running from 10 days ago for 40 days.
fn big_deal(consumer: &SecretKey, provider: &SecretKey, o: &Signed<Offer>) -> Agreement {
    agreement(consumer, provider, o, NOW - 10 * DAY, 40 * DAY, 10 * GIB)
}

/// The cheapest agreement the offer allows: 1 GiB for its minimum duration (1 h), now.
fn cheapest_deal(consumer: &SecretKey, provider: &SecretKey, o: &Signed<Offer>) -> Agreement {
    agreement(
        consumer,
        provider,
        o,
        NOW - 1800,
        o.body().min_duration_secs,
        GIB,
    )
}

/// An attestation of `successes` out of 100 over a window inside `a`.
fn attest(attester: &SecretKey, a: &Agreement, successes: u32) -> Signed<QosAttestation> {
    let p = a.proposal().body();
    let end = p.end().min(NOW - 60);
    let start = (end - DAY).max(p.start);
    attestation(
        attester,
        &p.provider,
        Some(a.proposal_id()),
        start,
        end,
        100,
        successes,
        50,
    )
}

fn store_with(dir: &tempfile::TempDir, name: &str, own: &[&SecretKey]) -> Store {
    let mut config = StoreConfig::default();
    config.reputation.own_keys = own.iter().map(|k| k.public()).collect();
    open_with(dir, name, config)
}

/// The market of the attack tests. The node's own key `own` measures two providers, `p1` and
/// `p2` (so this node rates them: they are sources); five independent consumers deal at full
/// stake with `p1`, `p2` and the honest provider `h`, and attest all three (perfect service).
/// The self-dealer `s` and the unmeasured provider `u` publish offers too.
struct Market {
    own: SecretKey,
    p1: SecretKey,
    p2: SecretKey,
    h: SecretKey,
    s: SecretKey,
    u: SecretKey,
    offers: Vec<Signed<Offer>>,
    objects: Vec<Object>,
}

impl Market {
    fn new() -> Self {
        let (own, p1, p2, h, s, u) = (key(1), key(11), key(12), key(13), key(14), key(15));
        let offers: Vec<Signed<Offer>> = [&p1, &p2, &h, &s, &u].map(plain_offer).to_vec();
        let mut objects: Vec<Object> = offers.iter().cloned().map(Object::from).collect();
        for (p, o) in [(&p1, &offers[0]), (&p2, &offers[1])] {
            let a = big_deal(&own, p, o);
            objects.push(attest(&own, &a, 100).into());
            objects.push(a.into());
        }
        for c in 0..5 {
            let consumer = key(100 + c);
            for (p, o) in [(&p1, &offers[0]), (&p2, &offers[1]), (&h, &offers[2])] {
                let a = big_deal(&consumer, p, o);
                objects.push(attest(&consumer, &a, 100).into());
                objects.push(a.into());
            }
        }
        Market {
            own,
            p1,
            p2,
            h,
            s,
            u,
            offers,
            objects,
        }
    }

    fn offer_of(&self, provider: &SecretKey) -> &Signed<Offer> {
        self.offers
            .iter()
            .find(|o| o.body().provider == provider.public())
            .unwrap()
    }

    /// 50 keys made by `s`, each with the cheapest agreement `s`'s offer allows and a perfect
    /// attestation of `s`.
    fn self_dealing(&self) -> Vec<Object> {
        let mut out = Vec::new();
        for i in 0..50 {
            let y = key(1000 + i);
            let a = cheapest_deal(&y, &self.s, self.offer_of(&self.s));
            out.push(attest(&y, &a, 100).into());
            out.push(a.into());
        }
        out
    }

    fn open(&self, dir: &tempfile::TempDir, name: &str, extra: &[Object]) -> Store {
        let store = store_with(dir, name, &[&self.own]);
        store.apply_batch(&self.objects, NOW).unwrap();
        if !extra.is_empty() {
            store.apply_batch(extra, NOW).unwrap();
        }
        store
    }
}

fn fmt(score: Option<f64>) -> String {
    score.map_or_else(|| "unrated".to_owned(), |s| format!("{s:.4}"))
}

#[test]
fn fifty_self_made_consumers_leave_a_provider_unrated_and_below_an_honest_one() {
    let m = Market::new();
    let dir = tempfile::tempdir().unwrap();
    let store = m.open(&dir, "a", &m.self_dealing());
    let (s, h, u) = (
        store.explain(&m.s.public(), NOW),
        store.explain(&m.h.public(), NOW),
        store.explain(&m.u.public(), NOW),
    );
    eprintln!(
        "attack (a): self-dealer {} (evidence {:.4}, discounted {:.4} of {} attestations), \
         honest {} (evidence {:.4}), unrated provider {}",
        fmt(s.reputation.score),
        s.reputation.evidence,
        s.discounted.total(),
        s.counted.len(),
        fmt(h.reputation.score),
        h.reputation.evidence,
        fmt(u.reputation.score),
    );
    // The 50 attestations pass the baseline (each has an agreement) and weigh nothing.
    assert_eq!(s.counted.len(), 50);
    assert_eq!(s.reputation.evidence, 0.0);
    assert!(s.counted.iter().all(|c| c.weight == 0.0
        && c.standing.kind == StandingKind::Unearned(Unearned::OnlyThisProvider)));
    assert!((s.discounted.no_standing - 50.0).abs() < 1e-9);
    // No higher than an unrated provider: unrated too, like `u`.
    assert_eq!(s.reputation.score, None);
    assert_eq!(u.reputation.score, None);
    // Below the honest provider, which is rated by consumers who also deal elsewhere.
    let honest = h.reputation.score.unwrap();
    assert!(honest > 0.95, "{honest}");
    assert_eq!(h.reputation.anchored, 0.0, "earned standing alone rates it");
    assert!(
        h.counted
            .iter()
            .all(|c| c.standing.kind == StandingKind::Earned)
    );
    // So a reputation floor or sort cannot be bought: s is never above h, and is filtered out.
    let page = store
        .query_offers(
            &OfferQuery {
                sort: SortKey::Reputation,
                ..Default::default()
            },
            NOW,
        )
        .unwrap();
    let order: Vec<PublicKey> = page.offers.iter().map(|o| o.body().provider).collect();
    let pos = |k: &SecretKey| order.iter().position(|p| *p == k.public()).unwrap();
    assert!(pos(&m.h) < pos(&m.s));
    let floor = OfferQuery {
        min_reputation_bp: Some(0),
        ..Default::default()
    };
    let listed: Vec<PublicKey> = store
        .query_offers(&floor, NOW)
        .unwrap()
        .offers
        .iter()
        .map(|o| o.body().provider)
        .collect();
    assert!(listed.contains(&m.h.public()) && !listed.contains(&m.s.public()));
    // The explanation says why, per attester.
    let text = s.to_string();
    assert!(
        text.contains("unrated") && text.contains("deals with this provider only"),
        "{text}"
    );
}

#[test]
fn fifty_self_made_consumers_cannot_push_a_competitor_below_its_independent_evidence() {
    let m = Market::new();
    // The same 50 keys also take the cheapest agreement of the honest provider and report
    // every probe failed.
    let mut attack = m.self_dealing();
    for i in 0..50 {
        let y = key(1000 + i);
        let a = cheapest_deal(&y, &m.h, m.offer_of(&m.h));
        attack.push(attest(&y, &a, 0).into());
        attack.push(a.into());
    }
    let dir = tempfile::tempdir().unwrap();
    let clean = m.open(&dir, "clean", &[]);
    let attacked = m.open(&dir, "attacked", &attack);
    let (before, after) = (
        clean.explain(&m.h.public(), NOW),
        attacked.explain(&m.h.public(), NOW),
    );
    eprintln!(
        "attack (b): honest provider {} with its independent evidence, {} under 50 hostile \
         attestations (their weight {:.4})",
        fmt(before.reputation.score),
        fmt(after.reputation.score),
        after
            .counted
            .iter()
            .filter(|c| c.successes == 0)
            .map(|c| c.weight)
            .sum::<f64>(),
    );
    assert_eq!(after.counted.len(), 55);
    assert_eq!(
        after.reputation.score.map(f64::to_bits),
        before.reputation.score.map(f64::to_bits),
        "exactly what its independent evidence supports"
    );
    assert_eq!(after.alpha.to_bits(), before.alpha.to_bits());
    assert_eq!(after.beta.to_bits(), before.beta.to_bits());
    // Their only other provider is the unrated self-dealer: no standing.
    let hostile = after.counted.iter().find(|c| c.successes == 0).unwrap();
    assert_eq!(
        hostile.standing.kind,
        StandingKind::Unearned(Unearned::NoRatedCounterparty)
    );
    assert_eq!(
        attacked.reputation(&m.s.public(), NOW).score,
        None,
        "cheap deals with a rated provider give no standing either"
    );
}

#[test]
fn bought_standing_counts_once_per_source() {
    // A richer attacker: its 50 keys each declare a full-stake agreement with the self-dealer
    // (free: it pays itself) and buy one from a provider this node rates, to earn standing,
    // then praise the self-dealer.
    let m = Market::new();
    let mut one_source = Vec::new();
    for i in 0..50 {
        let y = key(1000 + i);
        let a = big_deal(&y, &m.s, m.offer_of(&m.s));
        one_source.push(attest(&y, &a, 100).into());
        one_source.push(a.into());
        one_source.push(big_deal(&y, &m.p1, m.offer_of(&m.p1)).into());
    }
    let mut two_sources = one_source.clone();
    for i in 0..50 {
        let y = key(1000 + i);
        two_sources.push(big_deal(&y, &m.p2, m.offer_of(&m.p2)).into());
    }
    let dir = tempfile::tempdir().unwrap();
    let one = m.open(&dir, "one", &one_source).explain(&m.s.public(), NOW);
    let two = m
        .open(&dir, "two", &two_sources)
        .explain(&m.s.public(), NOW);
    eprintln!(
        "bought standing: 50 keys × $10 at one rated provider: {} (evidence {:.4}); at two: {} \
         (evidence {:.4}); honest provider {}",
        fmt(one.reputation.score),
        one.reputation.evidence,
        fmt(two.reputation.score),
        two.reputation.evidence,
        fmt(m.open(&dir, "h", &[]).reputation(&m.h.public(), NOW).score),
    );
    // One source counts 0.5 in all, whatever the number of keys: still unrated.
    assert_eq!(one.reputation.evidence, 0.5);
    assert_eq!(one.reputation.score, None);
    assert!(one.discounted.capped > 20.0);
    // Two sources reach the threshold: buying a rating costs real deals with two providers
    // this node rates, and 50 keys weigh what one would.
    assert_eq!(two.reputation.evidence, 1.0);
    assert!(two.reputation.score.is_some());
}

#[test]
fn honest_evidence_moves_scores_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let (provider, good, bad) = (key(1), key(2), key(3));
    // Measured by the node's own keys: weight 1 each, today's formula exactly.
    let store = store_with(&dir, "r", &[&good, &bad]);
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
    assert_eq!(store.reputation(&p, NOW).score, None);
    store
        .apply(&att(&good, &a_good, 100, 50).into(), NOW)
        .unwrap();
    let up = store.explain(&p, NOW);
    let d = up.counted[0].decay;
    let alpha = 1.0 + 100.0 * d;
    assert_eq!(up.alpha.to_bits(), alpha.to_bits());
    assert_eq!(
        up.reputation.score.unwrap().to_bits(),
        (0.7 * (alpha / (alpha + 1.0)) + 0.3 * 1.0).to_bits()
    );
    assert!(up.reputation.score.unwrap() > 0.9, "{up:?}");
    assert_eq!(up.counted[0].basis, Basis::Agreement(a_good.proposal_id()));
    assert_eq!(up.counted[0].stake_basis, Stake::NotApplied);
    // A consumer reporting failures pulls it down; missing the latency target fails the SLA.
    store
        .apply(&att(&bad, &a_bad, 10, 5000).into(), NOW)
        .unwrap();
    let mixed = store.reputation(&p, NOW);
    assert!(mixed.score < up.reputation.score);
    assert_eq!(mixed.compliance, 0.5);
    // The score decays back towards the prior as the windows age.
    let later = store.reputation(&p, NOW + 25 * DAY);
    assert!((later.beta_mean - 0.5).abs() < (mixed.beta_mean - 0.5).abs());
}

#[test]
fn earned_standing_ranks_a_flaky_provider_below_a_healthy_one() {
    let m = Market::new();
    // Two of the independent consumers also use a flaky provider and say so.
    let flaky = key(16);
    let o = plain_offer(&flaky);
    let mut extra: Vec<Object> = vec![o.clone().into()];
    for c in 0..2 {
        let consumer = key(100 + c);
        let a = big_deal(&consumer, &flaky, &o);
        extra.push(attest(&consumer, &a, 60).into());
        extra.push(a.into());
    }
    let dir = tempfile::tempdir().unwrap();
    let store = m.open(&dir, "f", &extra);
    let healthy = store.reputation(&m.h.public(), NOW).score.unwrap();
    let bad = store.explain(&flaky.public(), NOW);
    eprintln!(
        "honest evidence: healthy {healthy:.4}, flaky {} (evidence {:.4})",
        fmt(bad.reputation.score),
        bad.reputation.evidence
    );
    assert!(bad.reputation.score.unwrap() < healthy);
}

#[test]
fn a_node_that_trusts_no_one_rates_no_one() {
    let m = Market::new();
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "none");
    store.apply_batch(&m.objects, NOW).unwrap();
    for p in [&m.p1, &m.p2, &m.h] {
        let e = store.explain(&p.public(), NOW);
        assert_eq!(e.reputation.score, None);
        assert!(!e.anchored_node);
        assert!(e.to_string().contains("trusts no one"), "{e}");
    }
}

#[test]
fn certified_consumers_are_anchors_and_captive_ones_count_as_half() {
    let dir = tempfile::tempdir().unwrap();
    let (provider, other, certifier) = (key(1), key(2), key(3));
    let store = open(&dir, "c");
    store.set_trust(trust(&[("kyc", &certifier, &[Role::Certifier], &["kyc"])]));
    let (o, o2) = (plain_offer(&provider), plain_offer(&other));
    let mut objects: Vec<Object> = vec![o.clone().into(), o2.clone().into()];
    // Three certified consumers who deal with nobody else.
    for i in 0..3 {
        let c = key(50 + i);
        objects.push(certificate(&certifier, &c.public(), "kyc", "verified", 1).into());
        let a = big_deal(&c, &provider, &o);
        objects.push(attest(&c, &a, 100).into());
        objects.push(a.into());
    }
    store.apply_batch(&objects, NOW).unwrap();
    let e = store.explain(&provider.public(), NOW);
    assert!(matches!(
        e.counted[0].standing.kind,
        StandingKind::Anchored(Anchor::Certified(ref claim)) if claim == "kyc=verified"
    ));
    assert!((e.reputation.evidence - 0.5).abs() < 1e-5, "{e}");
    assert_eq!(e.reputation.score, None);
    // One of them also buys elsewhere: no longer captive, it counts in full.
    let c = key(50);
    store.apply(&big_deal(&c, &other, &o2).into(), NOW).unwrap();
    let e = store.explain(&provider.public(), NOW);
    assert!((e.reputation.evidence - 1.5).abs() < 1e-5, "{e}");
    assert!(e.reputation.score.is_some());
}

#[test]
fn stakes_follow_the_value_declared() {
    let m = Market::new();
    let dir = tempfile::tempdir().unwrap();
    let store = m.open(&dir, "s", &m.self_dealing());
    let e = store.explain(&m.s.public(), NOW);
    let c = &e.counted[0];
    // 1 GiB for 1 hour at $1/GiB-month: one cent of the $10 that counts in full.
    assert_eq!(
        c.stake_basis,
        Stake::Declared {
            total: 1,
            asset: "USD".into(),
            full: 1000
        }
    );
    assert!((c.stake - 0.001).abs() < 1e-9);
    // An asset the node cannot value has no stake.
    let (p, consumer) = (key(70), key(71));
    let xlm = offer(&p, "x", 1, |o| o.price = price(100, "XLM"));
    let a = big_deal(&consumer, &p, &xlm);
    store
        .apply_batch(
            &[xlm.into(), attest(&consumer, &a, 100).into(), a.into()],
            NOW,
        )
        .unwrap();
    let e = store.explain(&p.public(), NOW);
    assert_eq!(
        e.counted[0].stake_basis,
        Stake::Unvalued {
            asset: "XLM".into()
        }
    );
    assert!(e.counted[0].stake_basis.to_string().contains("full_stake"));
}

#[test]
fn ten_attesters_without_agreements_move_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "r");
    let provider = key(1);
    store
        .apply(&offer(&provider, "a", 1, |_| {}).into(), NOW)
        .unwrap();
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
    assert_eq!(after.score, None);
    assert_eq!((after.counted, after.excluded), (0, 10));
    let explained = store.explain(&provider.public(), NOW);
    assert!(
        explained
            .excluded
            .iter()
            .all(|e| e.reason == ExclusionReason::NoAgreement)
    );
    assert!(explained.to_string().contains("no live agreement"));
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
fn one_attesters_probes_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let (provider, consumer) = (key(1), key(2));
    let store = store_with(&dir, "r", &[&consumer]);
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
    assert_eq!(e.counted[0].probe_scale, 100.0 / 1_000_000.0);
    assert_eq!(e.counted[0].weight, 1.0);
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
    assert_eq!(
        e.counted[0].standing.kind,
        StandingKind::Anchored(Anchor::Auditor(cert.id()))
    );
    assert_eq!(e.counted[0].met_sla, None);
    assert!(e.reputation.score.unwrap() > 0.5);
    // Revoked: back to nothing.
    store.apply(&revocation(&root, &cert).into(), NOW).unwrap();
    assert_eq!(store.reputation(&p, NOW).counted, 0);
}

#[test]
fn own_keys_count_without_an_agreement() {
    let dir = tempfile::tempdir().unwrap();
    let (provider, me) = (key(1), key(2));
    let store = store_with(&dir, "r", &[&me]);
    let p = provider.public();
    let att = attestation(&me, &p, None, NOW - 2 * DAY, NOW - DAY, 100, 100, 10);
    store.apply(&att.into(), NOW).unwrap();
    let e = store.explain(&p, NOW);
    assert_eq!(e.counted[0].basis, Basis::Own);
    assert_eq!(e.reputation.evidence, 1.0);
    assert!(e.reputation.score.is_some());
}

#[test]
fn the_same_objects_in_any_order_give_bit_identical_scores() {
    let m = Market::new();
    let mut objects = m.objects.clone();
    objects.extend(m.self_dealing());
    // Consumers with varied windows, probes and stakes around the honest provider.
    for c in 0..12u16 {
        let consumer = key(200 + c);
        let a = agreement(
            &consumer,
            &m.h,
            m.offer_of(&m.h),
            NOW - 40 * DAY,
            80 * DAY,
            GIB * u64::from(1 + c),
        );
        let other = big_deal(&consumer, &m.p1, m.offer_of(&m.p1));
        for w in 0..3u64 {
            let end = NOW - (w * 7 + u64::from(c)) * DAY - 1234 * u64::from(c);
            let probes = 50 + u32::from(c) * 37;
            let successes = probes - (u32::from(c) * 13 + w as u32) % probes;
            objects.push(
                attestation(
                    &consumer,
                    &m.h.public(),
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
        if c % 2 == 0 {
            objects.push(other.into());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let a = store_with(&dir, "a", &[&m.own]);
    let b = store_with(&dir, "b", &[&m.own]);
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
    let keys = [&m.p1, &m.p2, &m.h, &m.s, &m.u];
    for now in [NOW, NOW + 3 * DAY + 17, NOW + 33 * DAY] {
        for k in keys {
            let p = k.public();
            let (ra, rb) = (a.reputation(&p, now), b.reputation(&p, now));
            assert_eq!(ra.score.map(f64::to_bits), rb.score.map(f64::to_bits));
            assert_eq!(ra.beta_mean.to_bits(), rb.beta_mean.to_bits());
            assert_eq!(ra.compliance.to_bits(), rb.compliance.to_bits());
            assert_eq!(a.explain(&p, now), b.explain(&p, now));
        }
    }
    let h = a.explain(&m.h.public(), NOW);
    assert!(h.reputation.score.is_some() && h.excluded.len() > 10, "{h}");
    // And after a reopen.
    let before = a.reputation(&m.h.public(), NOW).score.map(f64::to_bits);
    drop(a);
    let a = store_with(&dir, "a", &[&m.own]);
    assert_eq!(
        a.reputation(&m.h.public(), NOW).score.map(f64::to_bits),
        before
    );
}
