//! Queries: every filter, every sort, cursor pagination, prices across assets.

#![allow(clippy::unwrap_used)] // Test support code: a panic is a test failure.

mod common;

use std::collections::BTreeMap;

use common::*;
use flashback_store::{Rate, Store, StoreConfig};
use flashback_types::*;

struct Market {
    store: Store,
    o: BTreeMap<&'static str, Signed<Offer>>,
    certifier: SecretKey,
    _dir: tempfile::TempDir,
}

fn rates() -> BTreeMap<String, Rate> {
    [
        ("USD", Rate { num: 1, den: 1 }),
        ("EUR", Rate { num: 11, den: 10 }),
        (
            "XLM",
            Rate {
                num: 12,
                den: 10_000_000,
            },
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Eight offers from four providers covering every filter.
fn market(config: StoreConfig) -> Market {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(&dir, "q", config);
    let (p1, p2, p3, p4) = (key(1), key(2), key(3), key(4));
    let mut o = BTreeMap::new();
    o.insert("o1", offer(&p1, "a", 1, |_| {}));
    o.insert(
        "o2",
        offer(&p1, "b", 1, |o| {
            o.regions = regions(&["us-east"]);
            o.protocols = BoundedVec::try_from(vec![DataProtocol::Https]).unwrap();
            o.price = usd(50);
            o.capacity = 10 * GIB;
            o.qos.availability_bp = 9900;
            o.qos.p95_latency_ms = 0;
            o.created_at = NOW - 20;
        }),
    );
    o.insert(
        "o3",
        offer(&p2, "a", 1, |o| {
            o.kind = ResourceKind::Compute;
            o.compute = Some(ComputeSpec {
                vcpus: 4,
                memory_bytes: 8 * GIB,
                accelerator: st(""),
            });
            o.price = Price {
                amount: 30,
                asset: "USD".try_into().unwrap(),
                unit: PriceUnit::UnitHour,
            };
            o.regions = regions(&["eu-west", "us-east"]);
            o.capacity = 64;
            o.created_at = NOW - 5;
        }),
    );
    o.insert(
        "o4",
        offer(&p2, "b", 1, |o| {
            o.regions = regions(&["ap-south"]);
            o.protocols = BoundedVec::try_from(vec![DataProtocol::S3, DataProtocol::Ipfs]).unwrap();
            o.price = price(10_000_000, "XLM");
            o.capacity = 1024 * GIB;
            o.qos.p95_latency_ms = 80;
            o.created_at = NOW - 30;
        }),
    );
    o.insert(
        "o5",
        offer(&p3, "a", 1, |o| {
            o.price = price(90, "EUR");
            o.qos.availability_bp = 9999;
            o.created_at = NOW - 1;
        }),
    );
    o.insert("o6", offer(&p3, "b", 2, |o| o.withdrawn = true));
    o.insert(
        "o7",
        offer(&p4, "a", 1, |o| {
            o.created_at = NOW - 200;
            o.expires_at = NOW;
        }),
    );
    o.insert(
        "o8",
        offer(&p4, "b", 1, |o| {
            o.price = price(80, "GBP");
            o.capacity = 50 * GIB;
            o.created_at = NOW - 40;
        }),
    );
    let objects: Vec<Object> = o.values().cloned().map(Object::from).collect();
    store.apply_batch(&objects, NOW - 100).unwrap();
    Market {
        store,
        o,
        certifier: key(50),
        _dir: dir,
    }
}

fn with_rates() -> StoreConfig {
    StoreConfig {
        rates: rates(),
        ..Default::default()
    }
}

impl Market {
    fn names(&self, q: OfferQuery) -> Vec<&'static str> {
        let page = self.store.query_offers(&q, NOW).unwrap();
        page.offers
            .iter()
            .map(|s| *self.o.iter().find(|(_, o)| o.id() == s.id()).unwrap().0)
            .collect()
    }

    fn sorted_names(&self, q: OfferQuery) -> Vec<&'static str> {
        let mut v = self.names(q);
        v.sort();
        v
    }
}

fn q() -> OfferQuery {
    OfferQuery::default()
}

#[test]
fn expired_withdrawn_and_default() {
    let m = market(with_rates());
    // o7 expired exactly at NOW, o6 is a tombstone.
    assert_eq!(m.sorted_names(q()), ["o1", "o2", "o3", "o4", "o5", "o8"]);
    let all = OfferQuery {
        include_withdrawn: true,
        ..q()
    };
    assert_eq!(
        m.sorted_names(all),
        ["o1", "o2", "o3", "o4", "o5", "o6", "o8"]
    );
}

#[test]
fn kind_filter() {
    let m = market(with_rates());
    let compute = OfferQuery {
        kind: Some(ResourceKind::Compute),
        ..q()
    };
    assert_eq!(m.names(compute), ["o3"]);
    let storage = OfferQuery {
        kind: Some(ResourceKind::Storage),
        ..q()
    };
    assert_eq!(m.sorted_names(storage), ["o1", "o2", "o4", "o5", "o8"]);
}

#[test]
fn regions_any_of() {
    let m = market(with_rates());
    let r = |list: &[&str]| OfferQuery {
        regions: regions(list),
        ..q()
    };
    assert_eq!(m.sorted_names(r(&["us-east"])), ["o2", "o3"]);
    assert_eq!(
        m.sorted_names(r(&["ap-south", "us-east"])),
        ["o2", "o3", "o4"]
    );
    // An offer in two requested regions comes once.
    assert_eq!(
        m.sorted_names(r(&["eu-west", "us-east"])),
        ["o1", "o2", "o3", "o5", "o8"]
    );
    assert!(m.names(r(&["mars-north"])).is_empty());
    assert_eq!(m.sorted_names(r(&["mars-north", "ap-south"])), ["o4"]);
}

#[test]
fn protocol_filter() {
    let m = market(with_rates());
    let p = |p| OfferQuery {
        protocol: Some(p),
        ..q()
    };
    assert_eq!(m.names(p(DataProtocol::Ipfs)), ["o4"]);
    assert_eq!(m.names(p(DataProtocol::Https)), ["o2"]);
    assert!(m.names(p(DataProtocol::Other(st("gopher")))).is_empty());
    assert!(m.names(p(DataProtocol::Sftp)).is_empty());
}

#[test]
fn numeric_filters() {
    let m = market(with_rates());
    let cap = OfferQuery {
        min_capacity: Some(100 * GIB),
        ..q()
    };
    assert_eq!(m.sorted_names(cap), ["o1", "o4", "o5"]);
    let avail = OfferQuery {
        min_availability_bp: Some(9990),
        ..q()
    };
    assert_eq!(m.sorted_names(avail), ["o1", "o3", "o4", "o5", "o8"]);
    let avail = OfferQuery {
        min_availability_bp: Some(9995),
        ..q()
    };
    assert_eq!(m.names(avail), ["o5"]);
    // o2 promises no latency: left out of any latency filter.
    let lat = OfferQuery {
        max_p95_latency_ms: Some(100),
        ..q()
    };
    assert_eq!(m.names(lat), ["o4"]);
    let lat = OfferQuery {
        max_p95_latency_ms: Some(10_000),
        ..q()
    };
    assert_eq!(m.sorted_names(lat), ["o1", "o3", "o4", "o5", "o8"]);
}

#[test]
fn provider_filter() {
    let m = market(with_rates());
    let p = |k: u16| OfferQuery {
        provider: Some(key(k).public()),
        ..q()
    };
    assert_eq!(m.sorted_names(p(1)), ["o1", "o2"]);
    assert_eq!(m.names(p(3)), ["o5"]);
    assert!(m.names(p(77)).is_empty());
}

#[test]
fn cross_asset_price_with_rates() {
    let m = market(with_rates());
    let max = |amount, asset| OfferQuery {
        max_price: Some(price(amount, asset)),
        ..q()
    };
    // USD 100: o1 (100), o2 (50), o4 (XLM ≈ 12 cents), o5 (EUR 90 = 99). Not o8 (GBP has no
    // rate: never mispriced) nor o3 (priced per unit-hour). The rates decide what passes; the
    // order stays by asset, then amount: prices in two assets are never ranked together.
    assert_eq!(m.names(max(100, "USD")), ["o5", "o2", "o1", "o4"]);
    assert_eq!(m.names(max(98, "USD")), ["o2", "o4"]);
    assert_eq!(m.names(max(12, "USD")), ["o4"]);
    assert!(m.names(max(11, "USD")).is_empty());
    // In EUR: 90 EUR = 99 USD.
    assert_eq!(m.names(max(90, "EUR")), ["o5", "o2", "o4"]);
    // A query in an unpriced asset compares only within that asset, by amount.
    assert_eq!(m.names(max(80, "GBP")), ["o8"]);
    assert!(m.names(max(79, "GBP")).is_empty());
    // Unknown unpriced asset: nothing.
    assert!(m.names(max(1000, "JPY")).is_empty());
    // Per-unit-hour prices only match per-unit-hour queries.
    let compute = OfferQuery {
        max_price: Some(Price {
            amount: 30,
            asset: "USD".try_into().unwrap(),
            unit: PriceUnit::UnitHour,
        }),
        ..q()
    };
    assert_eq!(m.names(compute), ["o3"]);
}

#[test]
fn price_without_a_rate_table() {
    let m = market(StoreConfig::default());
    let max = |amount, asset| OfferQuery {
        max_price: Some(price(amount, asset)),
        ..q()
    };
    // Same-asset comparisons need no rate; others are left out.
    assert_eq!(m.names(max(100, "USD")), ["o2", "o1"]);
    assert_eq!(m.names(max(90, "EUR")), ["o5"]);
    assert_eq!(m.names(max(10_000_000, "XLM")), ["o4"]);
    // Sorting by price needs no rate: per GiB-month before per unit-hour, each asset in
    // turn (by code), cheapest first within it.
    assert_eq!(m.names(q()), ["o5", "o8", "o2", "o1", "o4", "o3"]);
}

#[test]
fn sorts() {
    let m = market(with_rates());
    let storage = |sort| OfferQuery {
        kind: Some(ResourceKind::Storage),
        sort,
        ..q()
    };
    // By asset code, then amount; rates change nothing here.
    assert_eq!(
        m.names(storage(SortKey::Price)),
        ["o5", "o8", "o2", "o1", "o4"]
    );
    // o1 and o5 have the same capacity: the smaller id comes first.
    let (o1, o5) = if m.o["o1"].id() < m.o["o5"].id() {
        ("o1", "o5")
    } else {
        ("o5", "o1")
    };
    assert_eq!(
        m.names(storage(SortKey::Capacity)),
        ["o4", o1, o5, "o8", "o2"]
    );
    assert_eq!(
        m.names(storage(SortKey::Newest)),
        ["o5", "o1", "o2", "o4", "o8"]
    );
}

#[test]
fn certified_by_needs_a_valid_unrevoked_certificate() {
    let m = market(with_rates());
    let c = &m.certifier;
    let cert = certificate(c, &key(1).public(), "iso27001", "certified", 1);
    let other = certificate(&key(51), &key(2).public(), "iso27001", "certified", 1);
    m.store
        .apply_batch(&[cert.clone().into(), other.into()], NOW)
        .unwrap();
    let by = OfferQuery {
        certified_by: Some(c.public()),
        ..q()
    };
    assert_eq!(m.sorted_names(by.clone()), ["o1", "o2"]);
    m.store.apply(&revocation(c, &cert).into(), NOW).unwrap();
    assert!(m.names(by.clone()).is_empty());
    // An expired certificate does not count either.
    let mut body = cert.body().clone();
    body.serial = 2;
    body.expires_at = NOW + 10;
    let short = Signed::sign(body, c).unwrap();
    m.store.apply(&short.into(), NOW).unwrap();
    let page = m.store.query_offers(&by, NOW).unwrap();
    assert_eq!(page.offers.len(), 2);
    let page = m.store.query_offers(&by, NOW + 10).unwrap();
    assert!(page.offers.is_empty());
}

#[test]
fn min_reputation_and_reputation_sort() {
    let (p2, consumer) = (key(2), key(60));
    // The consumer is the node's own key: its measurement rates p2.
    let mut config = with_rates();
    config.reputation.own_keys = vec![consumer.public()];
    let m = market(config);
    let a = agreement(&consumer, &p2, &m.o["o4"], NOW - 10 * DAY, 40 * DAY, GIB);
    let att = attestation(
        &consumer,
        &p2.public(),
        Some(a.proposal_id()),
        NOW - 2 * DAY,
        NOW - DAY,
        100,
        100,
        50,
    );
    m.store.apply_batch(&[a.into(), att.into()], NOW).unwrap();
    assert!(m.store.reputation(&p2.public(), NOW).score.unwrap() > 0.9);
    assert_eq!(m.store.reputation(&key(1).public(), NOW).score, None);
    let min = OfferQuery {
        min_reputation_bp: Some(6000),
        ..q()
    };
    assert_eq!(m.sorted_names(min), ["o3", "o4"]);
    // Unrated is not average: no floor lets them through unless asked.
    let min = OfferQuery {
        min_reputation_bp: Some(0),
        ..q()
    };
    assert_eq!(m.sorted_names(min.clone()), ["o3", "o4"]);
    let with_unrated = OfferQuery {
        include_unrated: true,
        ..min
    };
    assert_eq!(m.names(with_unrated).len(), 6);
    // Reputation sort: p2's offers first (by id), then the unrated, by id.
    let names = m.names(OfferQuery {
        sort: SortKey::Reputation,
        ..q()
    });
    let mut first: Vec<&str> = names[..2].to_vec();
    first.sort();
    assert_eq!(first, ["o3", "o4"]);
    let ids: Vec<ObjectId> = names[2..].iter().map(|n| m.o[n].id()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    // And it pages.
    let mut cursor = None;
    let mut paged = Vec::new();
    loop {
        let page = m
            .store
            .query_offers(
                &OfferQuery {
                    sort: SortKey::Reputation,
                    limit: 1,
                    cursor,
                    ..q()
                },
                NOW,
            )
            .unwrap();
        paged.extend(ids_of(&page.offers));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let expected: Vec<ObjectId> = names.iter().map(|n| m.o[n].id()).collect();
    assert_eq!(paged, expected);
}

fn ids_of(offers: &[Signed<Offer>]) -> Vec<ObjectId> {
    offers.iter().map(|o| o.id()).collect()
}

/// Pages through `q` with page size `limit`.
fn all_pages(store: &Store, q: &OfferQuery, limit: u32) -> Vec<Signed<Offer>> {
    let mut out = Vec::new();
    let mut q = q.clone();
    q.limit = limit;
    loop {
        let page = store.query_offers(&q, NOW).unwrap();
        assert!(page.offers.len() <= limit as usize);
        out.extend(page.offers);
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return out,
        }
    }
}

#[test]
fn pagination_never_repeats_or_skips() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(&dir, "p", with_rates());
    let mut offers = Vec::new();
    for i in 0..250u64 {
        let p = key((i % 13) as u16);
        offers.push(offer(&p, &format!("k{i}"), 1, |o| {
            // Many ties on every sort key, so the id tie-break matters.
            o.price = if i % 3 == 0 {
                price(100 + i % 7, "EUR")
            } else {
                usd(110 + i % 5)
            };
            o.capacity = (1 + i % 4) * GIB;
            o.created_at = NOW - 100 + i % 6;
            o.regions = if i % 2 == 0 {
                regions(&["eu-west"])
            } else {
                regions(&["eu-west", "us-east"])
            };
        }));
    }
    let objects: Vec<Object> = offers.iter().cloned().map(Object::from).collect();
    store.apply_batch(&objects, NOW).unwrap();
    // The price order: by price group (unit, then asset code), then amount.
    let price_key = |o: &Offer| (price_group(o.price.unit, &o.price.asset), o.price.amount);
    for sort in [
        SortKey::Price,
        SortKey::Capacity,
        SortKey::Newest,
        SortKey::Reputation,
    ] {
        let mut expected: Vec<&Signed<Offer>> = offers.iter().collect();
        expected.sort_by(|a, b| {
            let (x, y) = (a.body(), b.body());
            let by = match sort {
                SortKey::Price => price_key(x).cmp(&price_key(y)),
                SortKey::Capacity => y.capacity.cmp(&x.capacity),
                SortKey::Newest => y.created_at.cmp(&x.created_at),
                SortKey::Reputation => std::cmp::Ordering::Equal,
            };
            by.then(a.id().cmp(&b.id()))
        });
        let expected: Vec<ObjectId> = expected.iter().map(|o| o.id()).collect();
        for limit in [1, 7, 20, 200] {
            let plain = OfferQuery { sort, ..q() };
            assert_eq!(
                ids_of(&all_pages(&store, &plain, limit)),
                expected,
                "{sort:?} limit {limit}"
            );
            // Through the region lists (two regions merge; each offer once).
            let merged = OfferQuery {
                sort,
                regions: regions(&["eu-west", "us-east"]),
                ..q()
            };
            assert_eq!(
                ids_of(&all_pages(&store, &merged, limit)),
                expected,
                "{sort:?} regions"
            );
        }
        // With a filter, pages are the filtered list in the same order.
        let filtered: Vec<ObjectId> = expected
            .iter()
            .copied()
            .filter(|id| {
                let o = offers.iter().find(|o| o.id() == *id).unwrap().body();
                o.regions.len() == 2 && o.capacity >= 2 * GIB
            })
            .collect();
        let narrow = OfferQuery {
            sort,
            regions: regions(&["us-east"]),
            min_capacity: Some(2 * GIB),
            ..q()
        };
        assert_eq!(
            ids_of(&all_pages(&store, &narrow, 9)),
            filtered,
            "{sort:?} filtered"
        );
    }
    // The default page size is 20 and the cap 200.
    assert_eq!(store.query_offers(&q(), NOW).unwrap().offers.len(), 20);
    let big = OfferQuery {
        limit: 10_000,
        ..q()
    };
    assert_eq!(store.query_offers(&big, NOW).unwrap().offers.len(), 200);
}

#[test]
fn reputation_pages_run_through_every_score_level_then_the_unrated() {
    // Twelve providers with three offers each; the node's own key measures eight of them,
    // two at each of four success rates (ties on score), and leaves four unrated.
    let dir = tempfile::tempdir().unwrap();
    let me = key(900);
    let mut config = StoreConfig::default();
    config.reputation.own_keys = vec![me.public()];
    let store = open_with(&dir, "r", config);
    let mut objects: Vec<Object> = Vec::new();
    let mut offers: Vec<Signed<Offer>> = Vec::new();
    for p in 0..12u16 {
        let provider = key(p);
        for k in 0..3 {
            offers.push(offer(&provider, &format!("k{k}"), 1, |_| {}));
        }
        if p < 8 {
            let a = agreement(
                &me,
                &provider,
                offers.last().unwrap(),
                NOW - DAY,
                10 * DAY,
                GIB,
            );
            let successes = 100 - u32::from(p / 2) * 10;
            let att = attestation(
                &me,
                &provider.public(),
                Some(a.proposal_id()),
                NOW - DAY / 2,
                NOW - 60,
                100,
                successes,
                50,
            );
            objects.extend([a.into(), att.into()]);
        }
    }
    objects.extend(offers.iter().cloned().map(Object::from));
    store.apply_batch(&objects, NOW).unwrap();
    let score = |o: &Signed<Offer>| store.reputation(&o.body().provider, NOW).score;
    assert_eq!(offers.iter().filter(|o| score(o).is_none()).count(), 12);
    let mut expected: Vec<&Signed<Offer>> = offers.iter().collect();
    expected.sort_by(|a, b| {
        let key = |o: &Signed<Offer>| score(o).map_or(f64::NEG_INFINITY, |s| s);
        key(b).total_cmp(&key(a)).then(a.id().cmp(&b.id()))
    });
    let expected = ids_of(&expected.into_iter().cloned().collect::<Vec<_>>());
    let sorted = OfferQuery {
        sort: SortKey::Reputation,
        ..q()
    };
    for limit in [1, 2, 5, 7, 36] {
        assert_eq!(
            ids_of(&all_pages(&store, &sorted, limit)),
            expected,
            "limit {limit}"
        );
    }
    // With a floor, the unrated are left out, or come last when asked for.
    let floor = OfferQuery {
        min_reputation_bp: Some(0),
        ..sorted.clone()
    };
    assert_eq!(ids_of(&all_pages(&store, &floor, 5)), expected[..24]);
    let with_unrated = OfferQuery {
        include_unrated: true,
        ..floor
    };
    assert_eq!(ids_of(&all_pages(&store, &with_unrated, 5)), expected);
}

#[test]
fn a_cursor_survives_changes_between_pages() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "c");
    let p = key(5);
    let offers: Vec<Signed<Offer>> = (0..10u64)
        .map(|i| offer(&p, &format!("k{i}"), 1, |o| o.capacity = (i + 1) * GIB))
        .collect();
    let objects: Vec<Object> = offers.iter().cloned().map(Object::from).collect();
    store.apply_batch(&objects, NOW).unwrap();
    let q = OfferQuery {
        sort: SortKey::Capacity,
        limit: 4,
        ..q()
    };
    let first = store.query_offers(&q, NOW).unwrap();
    assert_eq!(first.offers[0].body().capacity, 10 * GIB);
    // The last offer of page 1 is superseded (and moves to the front) before page 2 is asked
    // for: the cursor still continues right after where page 1 ended.
    let last = first.offers.last().unwrap().body().clone();
    store
        .apply(
            &offer(&p, &last.offer_key, 2, |o| o.capacity = 100 * GIB).into(),
            NOW,
        )
        .unwrap();
    let second = store
        .query_offers(
            &OfferQuery {
                cursor: first.next_cursor,
                ..q.clone()
            },
            NOW,
        )
        .unwrap();
    let caps: Vec<u64> = second
        .offers
        .iter()
        .map(|o| o.body().capacity / GIB)
        .collect();
    assert_eq!(caps, [6, 5, 4, 3]);
}

#[test]
fn many_regions_and_protocols_beyond_the_bitmasks() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "m");
    let p = key(8);
    let offers: Vec<Signed<Offer>> = (0..100u64)
        .map(|i| {
            offer(&p, &format!("k{i}"), 1, |o| {
                o.regions = regions(&[&format!("r-{i:03}"), "shared"]);
                let mut protocols =
                    vec![DataProtocol::S3, DataProtocol::Other(st(&format!("p{i}")))];
                protocols.sort();
                o.protocols = BoundedVec::try_from(protocols).unwrap();
                o.price = usd(1000 - i);
            })
        })
        .collect();
    let objects: Vec<Object> = offers.iter().cloned().map(Object::from).collect();
    store.apply_batch(&objects, NOW).unwrap();
    for i in [0u64, 63, 64, 99] {
        let q = OfferQuery {
            regions: regions(&[&format!("r-{i:03}")]),
            ..Default::default()
        };
        assert_eq!(
            ids(&store.query_offers(&q, NOW).unwrap().offers),
            vec![offers[i as usize].id()]
        );
        let q = OfferQuery {
            protocol: Some(DataProtocol::Other(st(&format!("p{i}")))),
            ..Default::default()
        };
        assert_eq!(
            ids(&store.query_offers(&q, NOW).unwrap().offers),
            vec![offers[i as usize].id()]
        );
        // Through the provider path, which checks regions in the slab.
        let q = OfferQuery {
            provider: Some(p.public()),
            regions: regions(&[&format!("r-{i:03}")]),
            ..Default::default()
        };
        assert_eq!(
            ids(&store.query_offers(&q, NOW).unwrap().offers),
            vec![offers[i as usize].id()]
        );
    }
    // Superseding moves an offer out of its old region lists.
    let moved = offer(&p, "k70", 2, |o| o.regions = regions(&["elsewhere"]));
    store.apply(&moved.clone().into(), NOW).unwrap();
    let q = OfferQuery {
        regions: regions(&["r-070"]),
        ..Default::default()
    };
    assert!(store.query_offers(&q, NOW).unwrap().offers.is_empty());
    let q = OfferQuery {
        regions: regions(&["elsewhere"]),
        ..Default::default()
    };
    assert_eq!(
        ids(&store.query_offers(&q, NOW).unwrap().offers),
        vec![moved.id()]
    );
    let q = OfferQuery {
        regions: regions(&["shared"]),
        limit: 200,
        ..Default::default()
    };
    assert_eq!(store.query_offers(&q, NOW).unwrap().offers.len(), 99);
}

#[test]
fn an_asset_filter_alone_filters_and_prices_sort_within_each_asset() {
    for config in [StoreConfig::default(), with_rates()] {
        let m = market(config);
        let asset = |a: &str| OfferQuery {
            asset: Some(a.try_into().unwrap()),
            ..q()
        };
        // USD alone: storage o2 (50) and o1 (100), then the compute offer o3.
        assert_eq!(m.names(asset("USD")), ["o2", "o1", "o3"]);
        assert_eq!(m.names(asset("EUR")), ["o5"]);
        assert!(m.names(asset("JPY")).is_empty());
        // With a kind and a price cap in the same asset.
        let cheap = OfferQuery {
            kind: Some(ResourceKind::Storage),
            max_price: Some(usd(60)),
            ..asset("USD")
        };
        assert_eq!(m.names(cheap), ["o2"]);
    }
}

#[test]
fn an_offer_key_filter_finds_one_offer_of_a_provider() {
    let m = market(StoreConfig::default());
    let one = |k: u16, key: &str, withdrawn| OfferQuery {
        provider: Some(common::key(k).public()),
        offer_key: Some(st(key)),
        include_withdrawn: withdrawn,
        ..q()
    };
    assert_eq!(m.names(one(1, "b", false)), ["o2"]);
    assert!(m.names(one(3, "b", false)).is_empty(), "a tombstone");
    assert_eq!(m.names(one(3, "b", true)), ["o6"]);
    assert!(m.names(one(1, "zz", true)).is_empty());
}

#[test]
fn ids_resolve_from_their_start() {
    let m = market(StoreConfig::default());
    let o2 = m.o["o2"].id();
    let text = o2.to_string();
    let prefix = |len: usize| -> IdPrefix { text[..len].parse().unwrap() };
    let (found, more) = m.store.resolve(IdSpace::Offers, &prefix(12), 16).unwrap();
    assert_eq!(found, vec![o2.0]);
    assert!(!more);
    // Every offer starts with one of 16 hex digits: a short start matches several, in order.
    let all: Vec<[u8; 32]> = m.o.values().map(|o| o.id().0).collect();
    let mut starting: Vec<[u8; 32]> = all
        .iter()
        .copied()
        .filter(|id| prefix(8).matches(id))
        .collect();
    starting.sort();
    assert_eq!(
        m.store.resolve(IdSpace::Offers, &prefix(8), 16).unwrap().0,
        starting
    );
    // Keys: providers with offers.
    let p1 = common::key(1).public();
    let p1_text = p1.to_string();
    let (keys, _) = m
        .store
        .resolve(IdSpace::Keys, &p1_text[..9].parse().unwrap(), 16)
        .unwrap();
    assert_eq!(keys, vec![*p1.as_bytes()]);
    // Nothing else starts like this.
    let none: IdPrefix = "0000000000000000".parse().unwrap();
    assert!(
        m.store
            .resolve(IdSpace::Offers, &none, 16)
            .unwrap()
            .0
            .is_empty()
    );
    assert!(
        m.store
            .resolve(IdSpace::Agreements, &none, 16)
            .unwrap()
            .0
            .is_empty()
    );
}
