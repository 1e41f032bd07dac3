//! Store behaviour beyond offers: SLA lookups, capacity, expiry and GC, digests, reopen.

#![allow(clippy::unwrap_used)] // Test support code: a panic is a test failure.

mod common;

use common::*;
use flashback_store::{Applied, Store};
use flashback_types::*;

#[test]
fn store_is_a_cheap_shared_handle() {
    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync_clone::<Store>();
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "s");
    let threads: Vec<_> = (0..4u16)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let p = key(t);
                for i in 0..10 {
                    store
                        .apply(&offer(&p, &format!("k{i}"), 1, |_| {}).into(), NOW)
                        .unwrap();
                    let _ = store.query_offers(&OfferQuery::default(), NOW).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.counts().of(Kind::Offer), 40);
}

/// One valid object of every kind, offers first (the evidence and the agreement name the offer),
/// and the provider they are about.
fn one_of_each_kind() -> (Vec<Object>, SecretKey) {
    let (provider, consumer, issuer) = (key(1), key(2), key(3));
    let o = offer(&provider, "a", 1, |_| {});
    let p = proposal(&consumer, &o, NOW + DAY, 10 * DAY, GIB);
    let d = decision(&provider, &p, Decision::Accept);
    let a = Agreement::from_parts(p.clone(), d.clone()).unwrap();
    let att = attestation(
        &consumer,
        &provider.public(),
        Some(a.proposal_id()),
        NOW - 2 * DAY,
        NOW - DAY,
        5,
        5,
        1,
    );
    let cert = certificate(&issuer, &provider.public(), "iso27001", "yes", 1);
    let rev = revocation(&issuer, &cert);
    let demand = Signed::sign(
        Demand {
            consumer: consumer.public(),
            kind: ResourceKind::Storage,
            volume: GIB,
            duration_secs: DAY,
            redundancy: 1,
            qos: QosTargets::default(),
            regions: BoundedVec::new(),
            protocols: BoundedVec::new(),
            max_price: usd(200),
            nonce: 1,
            created_at: NOW - 1,
            expires_at: NOW + DAY,
        },
        &consumer,
    )
    .unwrap();
    let twin = offer(&provider, "a", 1, |o| o.capacity = 1);
    let ev = EquivocationEvidence::from_offers(o.clone(), twin).unwrap();
    let term = Signed::sign(
        samples::termination(consumer.public(), a.proposal_id(), NOW - 1),
        &consumer,
    )
    .unwrap();
    let grant = Signed::sign(
        samples::access_grant(
            provider.public(),
            consumer.public(),
            a.proposal_id(),
            NOW - 1,
        ),
        &provider,
    )
    .unwrap();
    let voucher = Signed::sign(samples::voucher(&a, 1, 1, NOW - 1), &consumer).unwrap();
    let dispute = Signed::sign(
        samples::dispute(provider.public(), a.proposal_id(), NOW - 1),
        &provider,
    )
    .unwrap();
    let ruling = Signed::sign(
        samples::ruling(
            issuer.public(),
            dispute.id(),
            a.proposal_id(),
            Party::Provider,
            1,
            NOW - 1,
        ),
        &issuer,
    )
    .unwrap();
    let quote = Signed::sign(
        samples::quote(
            provider.public(),
            consumer.public(),
            demand.id(),
            o.id(),
            NOW - 1,
        ),
        &provider,
    )
    .unwrap();
    let objects = vec![
        o.into(),
        p.into(),
        d.into(),
        a.into(),
        att.into(),
        cert.into(),
        rev.into(),
        demand.into(),
        ev.into(),
        term.into(),
        grant.into(),
        // After the agreement (and the dispute) they are about.
        voucher.into(),
        dispute.into(),
        ruling.into(),
        quote.into(),
    ];
    (objects, provider)
}

#[test]
fn every_kind_round_trips_and_outcomes_map_to_rules() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "s");
    let (objects, provider) = one_of_each_kind();
    for obj in &objects {
        let out = store.apply(obj, NOW).unwrap();
        assert!(matches!(out, Applied::Applied), "{:?}: {out:?}", obj.kind());
        assert_eq!(out.rule(), None);
        let again = store.apply(obj, NOW).unwrap();
        assert!(matches!(again, Applied::Duplicate), "{:?}", obj.kind());
        assert_eq!(again.rule(), Some(Rule::Duplicate));
    }
    let reopened = {
        drop(store);
        open(&dir, "s")
    };
    for obj in &objects {
        let got = reopened.get(&obj.id()).unwrap().unwrap();
        assert_eq!(got.id(), obj.id());
        assert_eq!(got.kind(), obj.kind());
        assert!(matches!(
            reopened.apply(obj, NOW).unwrap(),
            Applied::Duplicate
        ));
        assert_eq!(reopened.ids_by_kind(obj.kind()).unwrap(), vec![obj.id()]);
    }
    let c = reopened.counts();
    for kind in Kind::ALL {
        assert_eq!(c.of(kind), 1, "{kind}");
    }
    assert!(reopened.is_flagged(&provider.public()));
    assert_eq!(c.flagged_providers, 1);
    assert_eq!(reopened.demands(NOW).unwrap().len(), 1);
    assert!(reopened.demands(NOW + DAY).unwrap().is_empty());
    // A quote is found by the demand it answers.
    let quote = objects.iter().find(|o| o.kind() == Kind::Quote).unwrap();
    let Object::Quote(q) = quote else {
        unreachable!()
    };
    let found = reopened.quotes_for(&q.body().demand_id).unwrap();
    assert_eq!(
        found.iter().map(|f| f.id()).collect::<Vec<_>>(),
        vec![q.id()]
    );
    // Already expired: not stored.
    let old = offer(&key(9), "x", 1, |o| o.expires_at = NOW);
    let out = reopened.apply(&old.clone().into(), NOW).unwrap();
    assert!(matches!(out, Applied::Expired));
    assert_eq!(out.rule(), Some(Rule::Expired));
    assert!(reopened.get(&old.id()).unwrap().is_none());
}

/// The store follows each kind's policy in `flashback_types::Kind`: one tree per kind, ids
/// served for sync, listing-digest membership, expiry. Fails for a new kind until it has a
/// sample in `one_of_each_kind`.
#[test]
fn every_kind_follows_its_policy() {
    let (objects, _) = one_of_each_kind();
    let kinds: std::collections::BTreeSet<Kind> = objects.iter().map(Object::kind).collect();
    assert_eq!(kinds.len(), Kind::COUNT, "one sample object per kind");
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "s");
    for obj in &objects {
        let (kind, id) = (obj.kind(), obj.id());
        let digest = store.listing_digest();
        assert!(matches!(store.apply(obj, NOW).unwrap(), Applied::Applied));
        assert_eq!(store.get(&id).unwrap().map(|o| o.kind()), Some(kind));
        assert_eq!(store.counts().of(kind), 1, "{kind}");
        // Whatever sync reconciles, the store can list.
        if kind.sync() != SyncClass::GossipOnly {
            assert_eq!(store.ids_by_kind(kind).unwrap(), vec![id], "{kind}");
        }
        assert_eq!(
            store.all_ids().contains(&(kind, id)),
            kind.in_listing_digest(),
            "{kind}"
        );
        assert_eq!(
            store.listing_digest() != digest,
            kind.in_listing_digest(),
            "{kind}: listing digest"
        );
    }
    // Each object goes at its expiry, not before.
    let mut expiries: Vec<Timestamp> = objects.iter().map(Object::expires_at).collect();
    expiries.sort_unstable();
    expiries.dedup();
    for at in expiries {
        store.gc(at - 1).unwrap();
        for obj in objects.iter().filter(|o| o.expires_at() >= at) {
            assert!(store.get(&obj.id()).unwrap().is_some(), "{}", obj.kind());
        }
        store.gc(at).unwrap();
        for obj in objects.iter().filter(|o| o.expires_at() <= at) {
            assert!(store.get(&obj.id()).unwrap().is_none(), "{}", obj.kind());
            assert_eq!(store.counts().of(obj.kind()), 0, "{}", obj.kind());
        }
    }
    assert!(store.all_ids().is_empty());
}

#[test]
fn sla_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "s");
    let (provider, consumer, other) = (key(1), key(2), key(3));
    let o = offer(&provider, "a", 1, |_| {});
    let p1 = proposal(&consumer, &o, NOW + DAY, 10 * DAY, GIB);
    let p2 = proposal(&consumer, &o, NOW + 2 * DAY, 10 * DAY, 2 * GIB);
    let p3 = proposal(&consumer, &o, NOW + 3 * DAY, 10 * DAY, 3 * GIB);
    store
        .apply_batch(
            &[
                o.into(),
                p1.clone().into(),
                p2.clone().into(),
                p3.clone().into(),
            ],
            NOW,
        )
        .unwrap();
    let mut expect = vec![p1.id(), p2.id(), p3.id()];
    expect.sort();
    let got: Vec<ObjectId> = store
        .proposals_for_provider(&provider.public(), NOW)
        .unwrap()
        .iter()
        .map(|p| p.id())
        .collect();
    assert_eq!(got, expect);
    assert!(
        store
            .proposals_for_provider(&other.public(), NOW)
            .unwrap()
            .is_empty()
    );
    // Past their decision deadline they are no longer listed.
    assert!(
        store
            .proposals_for_provider(&provider.public(), NOW + DAY)
            .unwrap()
            .is_empty()
    );

    assert!(store.decision_for(&p1.id()).unwrap().is_none());
    let reject = decision(&provider, &p1, Decision::Reject(RejectReason::Capacity));
    store.apply(&reject.clone().into(), NOW).unwrap();
    assert_eq!(
        store.decision_for(&p1.id()).unwrap().unwrap().id(),
        reject.id()
    );
    // An agreement answers "decision for" too, and wins over a rejection.
    let accept = decision(&provider, &p2, Decision::Accept);
    let agreement = Agreement::from_parts(p2.clone(), accept.clone()).unwrap();
    store.apply(&agreement.clone().into(), NOW).unwrap();
    assert_eq!(
        store.decision_for(&p2.id()).unwrap().unwrap().id(),
        accept.id()
    );
    assert_eq!(
        store.agreement_by_proposal(&p2.id()).unwrap().unwrap().id(),
        agreement.id()
    );
    assert!(store.agreement_by_proposal(&p1.id()).unwrap().is_none());
    for party in [&provider, &consumer] {
        let ids: Vec<ObjectId> = store
            .agreements_for(&party.public())
            .unwrap()
            .iter()
            .map(|a| a.id())
            .collect();
        assert_eq!(ids, vec![agreement.id()]);
    }
    assert!(store.agreements_for(&other.public()).unwrap().is_empty());
}

#[test]
fn accepted_volume_counts_live_agreements_on_any_version_of_the_offer() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "s");
    let (provider, c1, c2) = (key(1), key(2), key(3));
    let v1 = offer(&provider, "hot", 1, |_| {});
    let v2 = offer(&provider, "hot", 2, |_| {});
    let cold = offer(&provider, "cold", 1, |_| {});
    let a1 = agreement(&c1, &provider, &v1, NOW - DAY, 10 * DAY, 3 * GIB);
    let a2 = agreement(&c2, &provider, &v2, NOW - DAY, 2 * DAY, 5 * GIB);
    let a3 = agreement(&c2, &provider, &cold, NOW - DAY, 10 * DAY, 7 * GIB);
    // Agreements may arrive before the offers they name.
    store
        .apply_batch(&[a1.into(), a2.into(), a3.into()], NOW)
        .unwrap();
    assert_eq!(store.accepted_volume(&provider.public(), "hot", NOW), 0);
    store
        .apply_batch(&[v2.into(), v1.into(), cold.into()], NOW)
        .unwrap();
    assert_eq!(
        store.accepted_volume(&provider.public(), "hot", NOW),
        8 * GIB
    );
    assert_eq!(
        store.accepted_volume(&provider.public(), "cold", NOW),
        7 * GIB
    );
    // a2 ends after a day.
    assert_eq!(
        store.accepted_volume(&provider.public(), "hot", NOW + DAY),
        3 * GIB
    );
    assert_eq!(store.accepted_volume(&c1.public(), "hot", NOW), 0);
    // The resolution survives a reopen, even once the old offer version is collected.
    drop(store);
    let store = open(&dir, "s");
    assert_eq!(
        store.accepted_volume(&provider.public(), "hot", NOW),
        8 * GIB
    );
}

#[test]
fn a_termination_by_a_party_releases_capacity_and_a_strangers_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "s");
    let (provider, consumer, stranger) = (key(1), key(2), key(3));
    let hot = offer(&provider, "hot", 1, |_| {});
    let a = agreement(&consumer, &provider, &hot, NOW - DAY, 10 * DAY, 3 * GIB);
    let id = a.proposal_id();
    store.apply_batch(&[hot.into(), a.into()], NOW).unwrap();
    assert_eq!(
        store.accepted_volume(&provider.public(), "hot", NOW),
        3 * GIB
    );

    let terminate =
        |by: &SecretKey| Signed::sign(samples::termination(by.public(), id, NOW - 1), by).unwrap();
    // Anyone can sign a termination; only the agreement's parties' count.
    let forged = terminate(&stranger);
    store.apply(&forged.clone().into(), NOW).unwrap();
    assert_eq!(
        store.accepted_volume(&provider.public(), "hot", NOW),
        3 * GIB
    );
    let real = terminate(&consumer);
    store.apply(&real.clone().into(), NOW).unwrap();
    assert_eq!(store.accepted_volume(&provider.public(), "hot", NOW), 0);
    let held: Vec<_> = store
        .terminations_of(&id)
        .unwrap()
        .iter()
        .map(|t| t.id())
        .collect();
    assert_eq!(held.len(), 2);
    assert!(held.contains(&real.id()) && held.contains(&forged.id()));

    // Grants are found by their agreement, and kept across a reopen like the termination.
    let grant = Signed::sign(
        samples::access_grant(provider.public(), consumer.public(), id, NOW - 1),
        &provider,
    )
    .unwrap();
    store.apply(&grant.clone().into(), NOW).unwrap();
    drop(store);
    let store = open(&dir, "s");
    assert_eq!(store.accepted_volume(&provider.public(), "hot", NOW), 0);
    let grants = store.grants_for(&id).unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].id(), grant.id());
    assert!(store.grants_for(&Hash32::of(b"other")).unwrap().is_empty());
}

#[test]
fn gc_removes_the_expired_and_keeps_tombstones_until_older_versions_expire() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "s");
    let p = key(1);
    let live = offer(&p, "a", 1, |o| o.expires_at = NOW + 10 * DAY);
    let tomb = offer(&p, "a", 2, |o| {
        o.withdrawn = true;
        o.expires_at = NOW + DAY;
    });
    let short = offer(&p, "b", 1, |o| o.expires_at = NOW + 100);
    let prop = proposal(&key(2), &offer(&p, "c", 1, |_| {}), NOW, DAY, GIB);
    let att = attestation(
        &key(2),
        &p.public(),
        None,
        NOW - 2 * DAY,
        NOW - DAY,
        5,
        5,
        1,
    );
    store
        .apply_batch(
            &[
                live.clone().into(),
                tomb.clone().into(),
                short.clone().into(),
                prop.clone().into(),
                att.clone().into(),
            ],
            NOW,
        )
        .unwrap();
    let q = OfferQuery {
        include_withdrawn: true,
        ..Default::default()
    };
    assert_eq!(store.query_offers(&q, NOW).unwrap().offers.len(), 2);
    // Expired objects leave queries at once, before any gc.
    assert_eq!(
        ids(&store.query_offers(&q, NOW + 100).unwrap().offers),
        vec![tomb.id()]
    );
    assert_eq!(store.gc(NOW).unwrap(), 0);
    assert_eq!(store.gc(NOW + 100).unwrap(), 1);
    assert!(store.get(&short.id()).unwrap().is_none());
    // The tombstone has expired but the version it withdrew has not: both are kept so that
    // the old version stays refused.
    assert_eq!(store.gc(NOW + 2 * DAY).unwrap(), 1); // the proposal
    assert!(store.get(&tomb.id()).unwrap().is_some());
    assert!(matches!(
        store.apply(&live.clone().into(), NOW + 2 * DAY).unwrap(),
        Applied::Duplicate
    ));
    assert!(
        store
            .query_offers(&q, NOW + 2 * DAY)
            .unwrap()
            .offers
            .is_empty()
    );
    assert!(store.get(&prop.id()).unwrap().is_none());
    assert_eq!(store.counts().of(Kind::SlaProposal), 0);
    // Once every version has expired, the key is gone (and the attestation expired too).
    assert_eq!(store.gc(NOW + 30 * DAY).unwrap(), 3);
    assert_eq!(store.counts().of(Kind::Offer), 0);
    assert_eq!(store.counts().offer_history, 0);
    assert!(store.get(&tomb.id()).unwrap().is_none());
    drop(store);
    let store = open(&dir, "s");
    assert_eq!(store.counts(), Default::default());
    assert!(store.get(&att.id()).unwrap().is_none());
}

#[test]
fn digests_agree_exactly_when_objects_do() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir, "a");
    let b = open(&dir, "b");
    let empty = a.listing_digest();
    assert_eq!(empty, b.listing_digest());
    let p = key(1);
    let o1 = offer(&p, "a", 1, |_| {});
    let o2 = offer(&p, "a", 2, |_| {});
    let o3 = offer(&p, "b", 1, |_| {});
    a.apply_batch(
        &[o1.clone().into(), o2.clone().into(), o3.clone().into()],
        NOW,
    )
    .unwrap();
    b.apply_batch(&[o3.clone().into(), o2.clone().into()], NOW)
        .unwrap();
    // o1 is superseded: the current listings are equal.
    assert_eq!(a.listing_digest(), b.listing_digest());
    assert_eq!(a.provider_digests(), b.provider_digests());
    assert_ne!(a.listing_digest(), empty);
    let summary = a.provider_summary(&p.public());
    assert_eq!(summary, vec![(st("a"), 2, o2.id()), (st("b"), 1, o3.id())]);
    let c = certificate(&key(2), &p.public(), "x", "y", 1);
    a.apply(&c.clone().into(), NOW).unwrap();
    assert_ne!(a.listing_digest(), b.listing_digest());
    assert_eq!(a.provider_digests(), b.provider_digests());
    let diff: Vec<_> = a
        .all_ids()
        .into_iter()
        .filter(|x| !b.all_ids().contains(x))
        .collect();
    assert_eq!(diff, vec![(Kind::Certificate, c.id())]);
    b.apply(&c.into(), NOW).unwrap();
    assert_eq!(a.listing_digest(), b.listing_digest());
    assert_eq!(a.all_ids(), b.all_ids());
}

#[test]
fn staged_objects_are_visible_at_once_and_durable_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let p = key(77);
    let first: Object = offer(&p, "staged", 1, |_| {}).into();
    let second: Object = offer(&p, "tried", 1, |_| {}).into();
    {
        let store = open(&dir, "s");
        assert!(matches!(
            store
                .stage_batch(std::slice::from_ref(&first), NOW)
                .unwrap()[..],
            [Applied::Applied]
        ));
        // No other writer: the non-blocking variant stages too.
        assert!(matches!(
            store
                .try_stage_batch(std::slice::from_ref(&second), NOW)
                .expect("the store is idle")
                .unwrap()[..],
            [Applied::Applied]
        ));
        // Readers see both before any flush; staging again is a duplicate.
        assert!(store.get(&first.id()).unwrap().is_some());
        assert!(store.get(&second.id()).unwrap().is_some());
        assert!(matches!(
            store
                .stage_batch(std::slice::from_ref(&first), NOW)
                .unwrap()[..],
            [Applied::Duplicate]
        ));
        store.flush().unwrap();
        // Nothing new to make durable: a second flush returns at once.
        store.flush().unwrap();
    }
    let store = open(&dir, "s");
    assert!(store.get(&first.id()).unwrap().is_some());
    assert!(store.get(&second.id()).unwrap().is_some());
}

#[test]
fn a_store_reopens_at_once_after_close_and_refuses_a_second_opener() {
    let dir = tempfile::tempdir().unwrap();
    let p = key(78);
    // Close and reopen in a tight loop, as a node restarted in place does: each reopen finds
    // what the previous handle flushed, however late sled's IO threads let go of the lock.
    for i in 0..20 {
        let store = open(&dir, "s");
        assert_eq!(store.counts().of(Kind::Offer), i);
        store
            .apply(&offer(&p, &format!("k{i}"), 1, |_| {}).into(), NOW)
            .unwrap();
    }
    // While a handle is open, a second opener gets a clear error, not a hang.
    let held = open(&dir, "s");
    let second = Store::open(dir.path().join("s"), Default::default());
    let Err(err) = second else {
        panic!("a second handle opened a store in use");
    };
    assert!(err.to_string().contains("could not acquire lock"), "{err}");
    assert!(err.to_string().contains("no other flashback node"), "{err}");
    drop(held);
}
