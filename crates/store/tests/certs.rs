//! Certificates under the trust store: statuses, the offer query's `certified` and
//! `jurisdictions` filters, registers, certificate pages, and the trust store's auditors in
//! reputation.

#![allow(clippy::unwrap_used)] // Test support code: a panic is a test failure.

mod common;

use common::*;
use flashback_store::{Basis, StoreError};
use flashback_types::trust::{Requirement, TrustError};
use flashback_types::*;

fn certified(claims: &[&str]) -> OfferQuery {
    OfferQuery {
        certified: BoundedVec::try_from_vec(claims.iter().map(|c| c.parse().unwrap()).collect())
            .unwrap(),
        ..OfferQuery::default()
    }
}

fn providers_of(store: &flashback_store::Store, q: &OfferQuery) -> Vec<PublicKey> {
    let mut out: Vec<PublicKey> = store
        .query_offers(q, NOW)
        .unwrap()
        .offers
        .iter()
        .map(|o| o.body().provider)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn certified_claims_follow_the_trust_store_and_revocations() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "c");
    let (p1, p2, acme, other) = (key(1), key(2), key(50), key(51));
    let iso = certificate(&acme, &p1.public(), "iso27001", "certified", 1);
    let stranger = certificate(&other, &p2.public(), "iso27001", "certified", 1);
    let tier = certificate(&acme, &p2.public(), "tier", "gold", 2);
    let objects: Vec<Object> = vec![
        offer(&p1, "a", 1, |_| {}).into(),
        offer(&p2, "a", 1, |_| {}).into(),
        iso.clone().into(),
        stranger.into(),
        tier.clone().into(),
    ];
    store.apply_batch(&objects, NOW).unwrap();

    // Nobody trusted: no provider holds anything.
    assert!(providers_of(&store, &certified(&["iso27001"])).is_empty());
    store.set_trust(trust(&[("acme", &acme, &[Role::Certifier], &["iso27001"])]));
    assert_eq!(
        providers_of(&store, &certified(&["iso27001"])),
        [p1.public()]
    );
    assert_eq!(
        providers_of(&store, &certified(&["iso27001=certified"])),
        [p1.public()]
    );
    assert!(providers_of(&store, &certified(&["iso27001=2013"])).is_empty());
    // acme may not certify tiers: p2's certificate says why, and does not count.
    assert!(providers_of(&store, &certified(&["tier"])).is_empty());
    let page = store
        .certificate_page(
            &CertQuery {
                ids: BoundedVec::try_from_vec(vec![tier.id()]).unwrap(),
                ..CertQuery::default()
            },
            NOW,
        )
        .unwrap();
    assert_eq!(page.certificates[0].status.code(), "outside_scheme");
    assert!(
        page.certificates[0].status.to_string().contains("tier"),
        "{}",
        page.certificates[0].status
    );
    // With `certified_by` too: both must hold.
    let both = OfferQuery {
        certified_by: Some(other.public()),
        ..certified(&["iso27001"])
    };
    assert!(providers_of(&store, &both).is_empty());

    // Two issuers required: acme alone is not enough until the other one is trusted and
    // certifies p1 as well.
    let mut two = trust(&[
        ("acme", &acme, &[Role::Certifier], &["iso27001"]),
        ("other", &other, &[Role::Certifier], &["iso27001"]),
    ]);
    two.require("iso27001", Requirement::AtLeast(2)).unwrap();
    store.set_trust(two);
    assert!(providers_of(&store, &certified(&["iso27001"])).is_empty());
    let second = certificate(&other, &p1.public(), "iso27001", "certified", 3);
    store.apply(&second.into(), NOW).unwrap();
    assert_eq!(
        providers_of(&store, &certified(&["iso27001"])),
        [p1.public()]
    );

    // A revocation by the issuer takes the claim away; one by anyone else does nothing.
    store.set_trust(trust(&[("acme", &acme, &[Role::Certifier], &["iso27001"])]));
    store.apply(&revocation(&other, &iso).into(), NOW).unwrap();
    assert_eq!(
        providers_of(&store, &certified(&["iso27001"])),
        [p1.public()]
    );
    store.apply(&revocation(&acme, &iso).into(), NOW).unwrap();
    assert!(providers_of(&store, &certified(&["iso27001"])).is_empty());
    assert!(store.held_claims(&p1.public(), NOW).is_empty());
    let page = store
        .certificate_page(
            &CertQuery {
                subjects: BoundedVec::try_from_vec(vec![p1.public()]).unwrap(),
                issuers: BoundedVec::try_from_vec(vec![acme.public()]).unwrap(),
                ..CertQuery::default()
            },
            NOW,
        )
        .unwrap();
    assert_eq!(page.certificates.len(), 1);
    let judged = &page.certificates[0];
    assert_eq!(judged.status.to_string(), "revoked: key compromise");
    assert_eq!(
        judged.revocation.as_ref().unwrap().body().issuer,
        acme.public()
    );

    // The verdicts survive a restart (the summaries are rebuilt from disk).
    drop(store);
    let store = open(&dir, "c");
    store.set_trust(trust(&[("acme", &acme, &[Role::Certifier], &["iso27001"])]));
    assert!(store.held_claims(&p1.public(), NOW).is_empty());
    assert!(
        store
            .trusted_certificates(&p1.public(), NOW)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn registers_of_providers_and_consumers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "r");
    let (provider, consumer, idle, acme) = (key(1), key(2), key(3), key(50));
    let o = offer(&provider, "a", 1, |_| {});
    let a = agreement(&consumer, &provider, &o, NOW - DAY, 30 * DAY, GIB);
    let certs = [
        certificate(&acme, &provider.public(), "iso27001", "certified", 1),
        certificate(&acme, &consumer.public(), "kyc", "verified", 2),
        certificate(&acme, &idle.public(), "kyc", "verified", 3),
    ];
    let lapsed = certificate(&acme, &provider.public(), "kyc", "verified", 4);
    let mut objects: Vec<Object> = vec![o.into(), a.into(), lapsed.clone().into()];
    objects.extend(certs.iter().cloned().map(Object::from));
    objects.push(revocation(&acme, &lapsed).into());
    store.apply_batch(&objects, NOW).unwrap();
    store.set_trust(trust(&[(
        "acme",
        &acme,
        &[Role::Certifier],
        &["iso27001", "kyc"],
    )]));

    let subjects = |q: RegisterQuery| -> Vec<PublicKey> {
        store
            .register(&q, NOW)
            .unwrap()
            .entries
            .iter()
            .map(|e| e.subject)
            .collect()
    };
    let providers = RegisterQuery::default();
    assert_eq!(subjects(providers.clone()), [provider.public()]);
    let entry = &store.register(&providers, NOW).unwrap().entries[0];
    assert_eq!(entry.held.len(), 1);
    // Every certificate from trusted issuers shows, the revoked one with its status.
    assert_eq!(entry.certificates.len(), 2);
    assert!(
        entry
            .certificates
            .iter()
            .any(|j| j.status.code() == "revoked")
    );
    let consumers = RegisterQuery {
        role: RegisterRole::Consumers,
        ..RegisterQuery::default()
    };
    assert_eq!(subjects(consumers), [consumer.public()]);
    let mut everyone = subjects(RegisterQuery {
        role: RegisterRole::Any,
        ..RegisterQuery::default()
    });
    everyone.sort();
    let mut all = vec![provider.public(), consumer.public(), idle.public()];
    all.sort();
    assert_eq!(everyone, all);
    // The provider's kyc certificate is revoked: not in the kyc register unless asked.
    let kyc = |include_uncertified| RegisterQuery {
        claim: Some("kyc".parse().unwrap()),
        include_uncertified,
        ..RegisterQuery::default()
    };
    assert!(subjects(kyc(false)).is_empty());
    assert_eq!(subjects(kyc(true)), [provider.public()]);
    // By issuer name; an unknown name is an error that names it.
    let by = |name: &str| RegisterQuery {
        issuer: Some(name.try_into().unwrap()),
        ..RegisterQuery::default()
    };
    assert_eq!(subjects(by("acme")), [provider.public()]);
    match store.register(&by("nobody"), NOW) {
        Err(StoreError::Trust(TrustError::UnknownIssuer(name))) => assert_eq!(name, "nobody"),
        other => panic!("{other:?}"),
    }
    // Paging by key: one key per page walks everyone once.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .register(
                &RegisterQuery {
                    role: RegisterRole::Any,
                    limit: 1,
                    after,
                    ..RegisterQuery::default()
                },
                NOW,
            )
            .unwrap();
        seen.extend(page.entries.iter().map(|e| e.subject));
        match page.next {
            Some(k) => after = Some(k),
            None => break,
        }
    }
    assert_eq!(seen, all);
}

#[test]
fn certificate_pages_filter_and_continue() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "p");
    let (subject, acme, stranger) = (key(1), key(50), key(51));
    let mut objects: Vec<Object> = (0..7)
        .map(|n| certificate(&acme, &subject.public(), "region", "eu-west", n).into())
        .collect();
    objects.push(certificate(&stranger, &subject.public(), "region", "eu-west", 1).into());
    store.apply_batch(&objects, NOW).unwrap();
    store.set_trust(trust(&[("acme", &acme, &[Role::Certifier], &["region"])]));
    let query = |after, trusted_only| CertQuery {
        subjects: BoundedVec::try_from_vec(vec![subject.public()]).unwrap(),
        claim: Some("region=eu-west".parse().unwrap()),
        trusted_only,
        limit: 3,
        after,
        ..CertQuery::default()
    };
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let page = store.certificate_page(&query(after, true), NOW).unwrap();
        assert!(page.certificates.iter().all(|j| j.status.is_valid()));
        ids.extend(page.certificates.iter().map(|j| j.certificate.id()));
        match page.next {
            Some(id) => after = Some(id),
            None => break,
        }
    }
    assert_eq!(ids.len(), 7);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let all = store
        .certificate_page(
            &CertQuery {
                limit: 0,
                ..query(None, false)
            },
            NOW,
        )
        .unwrap();
    assert_eq!(all.certificates.len(), 8);
    assert_eq!(
        all.certificates
            .iter()
            .filter(|j| j.status == CertStatus::UntrustedIssuer)
            .count(),
        1
    );
}

#[test]
fn jurisdictions_any_of() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "j");
    let (a, b, c) = (key(1), key(2), key(3));
    let juris = |list: &[&str]| regions(list);
    let objects: Vec<Object> = vec![
        offer(&a, "x", 1, |o| o.jurisdictions = juris(&["de", "eu"])).into(),
        offer(&b, "x", 1, |o| o.jurisdictions = juris(&["us-ca"])).into(),
        offer(&c, "x", 1, |_| {}).into(),
    ];
    store.apply_batch(&objects, NOW).unwrap();
    let q = |list: &[&str]| OfferQuery {
        jurisdictions: juris(list),
        ..OfferQuery::default()
    };
    assert_eq!(providers_of(&store, &q(&["eu"])), [a.public()]);
    let mut both = vec![a.public(), b.public()];
    both.sort();
    assert_eq!(providers_of(&store, &q(&["us-ca", "de"])), both);
    assert!(providers_of(&store, &q(&["jp"])).is_empty());
    // A new version without jurisdictions leaves the filter.
    store.apply(&offer(&a, "x", 2, |_| {}).into(), NOW).unwrap();
    assert!(providers_of(&store, &q(&["eu"])).is_empty());
}

#[test]
fn auditors_come_from_the_trust_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "a");
    let (provider, auditor, root) = (key(1), key(2), key(3));
    let p = provider.public();
    let att = attestation(&auditor, &p, None, NOW - 2 * DAY, NOW - DAY, 100, 100, 10);
    let cert = certificate(&root, &auditor.public(), "auditor", "yes", 1);
    store
        .apply_batch(&[att.into(), cert.clone().into()], NOW)
        .unwrap();
    assert_eq!(store.reputation(&p, NOW).counted, 0);
    // Trusted as a certifier for any claim is not trusted as an auditor.
    store.set_trust(trust(&[("root", &root, &[Role::Certifier], &["*"])]));
    assert_eq!(store.reputation(&p, NOW).counted, 0);
    store.set_trust(trust(&[("root", &root, &[Role::Auditor], &[])]));
    let e = store.explain(&p, NOW);
    assert_eq!(e.counted.len(), 1);
    assert_eq!(e.counted[0].basis, Basis::Auditor(cert.id()));
    store.set_trust(TrustStore::default());
    assert_eq!(store.reputation(&p, NOW).counted, 0);
}
