//! Property tests: the state after applying a set of offers does not depend on the order;
//! supersede, tombstone and equivocation rules.

#![allow(clippy::unwrap_used)] // Test support code: a panic is a test failure.

mod common;

use common::*;
use flashback_store::{Applied, Store};
use flashback_types::*;
use proptest::prelude::*;

/// (provider, key, seq, withdrawn, variant, expired)
type Spec = (u16, u8, u64, bool, u8, bool);

fn build(specs: &[Spec]) -> Vec<Object> {
    let mut specs = specs.to_vec();
    specs.sort();
    specs.dedup();
    specs
        .iter()
        .map(|&(p, k, seq, withdrawn, variant, expired)| {
            let sk = key(p);
            let o = offer(&sk, &format!("k{k}"), seq, |o| {
                o.withdrawn = withdrawn;
                // Different variants at the same seq are different bodies: equivocation.
                o.capacity = (u64::from(variant) + 1) * GIB;
                o.price = usd(10 + u64::from(variant) + seq);
                o.created_at = NOW - 1000 + seq;
                if expired {
                    o.expires_at = NOW - 1;
                    o.created_at = NOW - 500;
                }
            });
            Object::from(o)
        })
        .collect()
}

fn snapshot(store: &Store) -> String {
    let mut out = String::new();
    out += &format!("digest {}\n", store.listing_digest());
    out += &format!("providers {:?}\n", store.provider_digests());
    out += &format!("all {:?}\n", store.all_ids());
    out += &format!("counts {:?}\n", store.counts());
    for sort in [
        SortKey::Price,
        SortKey::Capacity,
        SortKey::Newest,
        SortKey::Reputation,
    ] {
        for include_withdrawn in [false, true] {
            let q = OfferQuery {
                sort,
                include_withdrawn,
                limit: 200,
                ..Default::default()
            };
            let page = store.query_offers(&q, NOW).unwrap();
            out += &format!("{sort:?} {include_withdrawn} {:?}\n", ids(&page.offers));
        }
    }
    for p in 0..3 {
        let pk = key(p).public();
        out += &format!(
            "p{p} flagged {} rep {:?} evidence {:?} summary {:?}\n",
            store.is_flagged(&pk),
            store.reputation(&pk, NOW).score.map(f64::to_bits),
            store
                .evidence_about(&pk)
                .unwrap()
                .iter()
                .map(|e| e.id())
                .collect::<Vec<_>>(),
            store.provider_summary(&pk),
        );
    }
    out
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0u16..3,
        0u8..3,
        1u64..5,
        prop::bool::weighted(0.2),
        0u8..3,
        prop::bool::weighted(0.1),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_order_gives_the_same_state(
        (objects, shuffled) in prop::collection::vec(spec(), 1..40)
            .prop_map(|s| build(&s))
            .prop_flat_map(|objs| (Just(objs.clone()), Just(objs).prop_shuffle())),
        chunk in 1usize..8,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let a = open(&dir, "a");
        let b = open(&dir, "b");
        for o in &objects {
            a.apply(o, NOW).unwrap();
        }
        for c in shuffled.chunks(chunk) {
            b.apply_batch(c, NOW).unwrap();
        }
        let sa = snapshot(&a);
        prop_assert_eq!(&sa, &snapshot(&b));
        // And the state survives a reopen unchanged.
        drop(a);
        let a = open(&dir, "a");
        prop_assert_eq!(sa, snapshot(&a));
    }

    #[test]
    fn an_offer_is_predicted_new_exactly_when_applying_lists_it(
        objects in prop::collection::vec(spec(), 1..40)
            .prop_map(|s| build(&s))
            .prop_shuffle(),
        repeat in prop::collection::vec(0usize..40, 0..8),
    ) {
        // Nodes forward a gossiped offer on this prediction, before applying it.
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, "s");
        let again = repeat.iter().filter_map(|&i| objects.get(i).cloned());
        for o in objects.iter().cloned().chain(again) {
            let Object::Offer(offer) = &o else { unreachable!("build makes offers") };
            let predicted = store.try_offer_is_new(offer, NOW).unwrap().unwrap();
            let out = store.apply(&o, NOW).unwrap();
            prop_assert_eq!(predicted, matches!(out, Applied::Applied), "{:?}", out);
        }
    }

    #[test]
    fn the_highest_seq_wins_and_lower_ones_are_superseded(
        seqs in prop::collection::btree_set(1u64..1000, 2..8)
            .prop_map(|s| s.into_iter().collect::<Vec<_>>())
            .prop_shuffle(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, "s");
        let p = key(1);
        let mut best = 0;
        for seq in &seqs {
            let o = offer(&p, "k", *seq, |_| {});
            let out = store.apply(&o.clone().into(), NOW).unwrap();
            if *seq > best {
                prop_assert!(matches!(out, Applied::Applied));
                best = *seq;
            } else {
                prop_assert!(matches!(out, Applied::Superseded));
                prop_assert_eq!(out.rule(), Some(Rule::Superseded));
            }
            // The same object again is a duplicate, never an equivocation.
            prop_assert!(matches!(store.apply(&o.into(), NOW).unwrap(), Applied::Duplicate));
        }
        let page = store.query_offers(&OfferQuery::default(), NOW).unwrap();
        prop_assert_eq!(page.offers.len(), 1);
        prop_assert_eq!(page.offers[0].body().seq, best);
        prop_assert_eq!(store.provider_summary(&p.public())[0].1, best);
        prop_assert!(!store.is_flagged(&p.public()));
    }

    #[test]
    fn a_tombstone_hides_the_offer_and_refuses_older_seqs(
        live in 1u64..50,
        gap in 1u64..50,
        older in prop::collection::vec(0u64..100, 0..5),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, "s");
        let p = key(2);
        let tomb_seq = live + gap;
        store.apply(&offer(&p, "k", live, |_| {}).into(), NOW).unwrap();
        let tomb = offer(&p, "k", tomb_seq, |o| o.withdrawn = true);
        prop_assert!(matches!(store.apply(&tomb.clone().into(), NOW).unwrap(), Applied::Applied));
        for s in older {
            let s = s % tomb_seq;
            let out = store.apply(&offer(&p, "k", s, |o| o.capacity = 7 * GIB).into(), NOW).unwrap();
            if s == live {
                // A different body for the live version's seq: equivocation, even now.
                prop_assert!(matches!(out, Applied::Equivocation(_) | Applied::Duplicate), "{out:?}");
            } else {
                prop_assert!(matches!(out, Applied::Superseded | Applied::Duplicate), "{out:?}");
            }
        }
        let page = store.query_offers(&OfferQuery::default(), NOW).unwrap();
        prop_assert!(page.offers.is_empty());
        let q = OfferQuery { include_withdrawn: true, ..Default::default() };
        let page = store.query_offers(&q, NOW).unwrap();
        prop_assert_eq!(ids(&page.offers), vec![tomb.id()]);
        // Still part of the digest: sync must carry tombstones.
        prop_assert_eq!(store.provider_summary(&p.public()), vec![(st("k"), tomb_seq, tomb.id())]);
        prop_assert_eq!(store.counts().withdrawn_offers, 1);
    }

    #[test]
    fn equivocation_is_kept_as_evidence_in_any_order(
        seq in 1u64..100,
        caps in prop::collection::btree_set(1u64..1000, 2..5),
        flip in any::<bool>(),
        newer in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = key(3);
        let mut offers: Vec<Signed<Offer>> =
            caps.iter().map(|c| offer(&p, "k", seq, |o| o.capacity = *c * GIB)).collect();
        if flip {
            offers.reverse();
        }
        let later = offer(&p, "k", seq + 1, |_| {});
        let store = open(&dir, "s");
        if newer {
            // The equivocating seq is already superseded: still detected.
            store.apply(&later.clone().into(), NOW).unwrap();
        }
        let first = store.apply(&offers[0].clone().into(), NOW).unwrap();
        prop_assert!(matches!(first, Applied::Applied | Applied::Superseded));
        for o in &offers[1..] {
            let Applied::Equivocation(ev) = store.apply(&o.clone().into(), NOW).unwrap() else {
                return Err(TestCaseError::fail("expected equivocation"));
            };
            let (a, b) = ev.offers();
            prop_assert!(a.id() == o.id() || b.id() == o.id());
            prop_assert_eq!(a.body().seq, seq);
            prop_assert_eq!(ev.provider(), &p.public());
            prop_assert_eq!(Applied::Equivocation(ev).rule(), Some(Rule::Equivocation));
        }
        prop_assert!(store.is_flagged(&p.public()));
        // Exactly one derived piece of evidence per (provider, key, seq): the two smallest ids.
        let evidence = store.evidence_about(&p.public()).unwrap();
        prop_assert_eq!(evidence.len(), 1);
        let mut sorted: Vec<ObjectId> = offers.iter().map(|o| o.id()).collect();
        sorted.sort();
        let (a, b) = evidence[0].offers();
        prop_assert_eq!((a.id(), b.id()), (sorted[0], sorted[1]));
        // Evidence received directly flags the provider on another store too.
        let other = open(&dir, "o");
        let ev = Object::from(evidence[0].clone());
        prop_assert!(matches!(other.apply(&ev, NOW).unwrap(), Applied::Applied));
        prop_assert!(matches!(other.apply(&ev, NOW).unwrap(), Applied::Duplicate));
        prop_assert!(other.is_flagged(&p.public()));
        prop_assert!(!other.is_flagged(&key(4).public()));
    }
}
