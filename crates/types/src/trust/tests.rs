#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use super::*;
use crate::bodies::{Certificate, Claim, ObjectId, Revocation};
use crate::keys::{Hash32, SecretKey};
use crate::samples;
use crate::trust::verdict::CertStatus;

const NOW: u64 = 1_800_000_000;

fn key(n: u8) -> PublicKey {
    SecretKey::from_seed(&[n; 32]).public()
}

fn cert(issuer: u8, subject: u8, name: &str, value: &str) -> Certificate {
    samples::certificate(key(issuer), key(subject), name, value, NOW)
}

fn store(issuers: &[(&str, u8, &[Role], &[&str])]) -> TrustStore {
    let mut store = TrustStore::default();
    for (name, k, roles, schemes) in issuers {
        store
            .add(Issuer::new(name, key(*k), roles, schemes).unwrap(), false)
            .unwrap();
    }
    store
}

#[test]
fn statuses_in_order_expiry_revocation_issuer_scheme() {
    let trust = store(&[("acme", 1, &[Role::Certifier], &["iso27001"])]);
    let c = cert(1, 9, "iso27001", "yes");
    assert_eq!(trust.status(&c, None, NOW), CertStatus::Valid);
    assert_eq!(trust.status(&c, None, c.expires_at), CertStatus::Expired);
    let r = samples::revocation(key(1), Hash32::of(b"x"), NOW);
    assert_eq!(trust.status(&c, Some(&r), NOW).code(), "revoked");
    assert_eq!(
        trust.status(&c, Some(&r), NOW).to_string(),
        "revoked: key compromised"
    );
    assert_eq!(
        trust.status(&cert(2, 9, "iso27001", "yes"), None, NOW),
        CertStatus::UntrustedIssuer
    );
    let outside = trust.status(&cert(1, 9, "tier", "gold"), None, NOW);
    assert_eq!(outside.code(), "outside_scheme");
    assert!(outside.to_string().contains("tier"), "{outside}");
    // One claim outside the scheme spoils the whole certificate.
    let mut mixed = cert(1, 9, "iso27001", "yes");
    mixed.claims =
        BoundedVec::try_from_vec(vec![claim("iso27001", "yes"), claim("tier", "gold")]).unwrap();
    assert_eq!(trust.status(&mixed, None, NOW).code(), "outside_scheme");
}

fn claim(name: &str, value: &str) -> Claim {
    Claim {
        name: name.try_into().unwrap(),
        value: value.try_into().unwrap(),
    }
}

#[test]
fn roles_decide_what_counts() {
    let trust = store(&[
        ("any", 1, &[Role::Certifier], &["*"]),
        ("aud", 2, &[Role::Auditor], &[]),
        ("arb", 3, &[Role::Arbiter], &[]),
    ]);
    assert!(
        trust
            .status(&cert(1, 9, "whatever", "x"), None, NOW)
            .is_valid()
    );
    assert!(
        trust
            .status(&cert(2, 9, AUDITOR_CLAIM, "yes"), None, NOW)
            .is_valid()
    );
    assert_eq!(
        trust
            .status(&cert(2, 9, "iso27001", "yes"), None, NOW)
            .code(),
        "outside_scheme"
    );
    // An arbiter is trusted to rule, not to certify.
    assert_eq!(
        trust.status(&cert(3, 9, "iso27001", "yes"), None, NOW),
        CertStatus::UntrustedIssuer
    );
    let arbiters: Vec<&str> = trust.with_role(Role::Arbiter).map(|i| &*i.name).collect();
    assert_eq!(arbiters, ["arb"]);
    assert!(trust.has_role(&key(2), Role::Auditor));
    assert!(!trust.has_role(&key(1), Role::Auditor));
}

#[test]
fn requirements_any_all_and_at_least() {
    let mut trust = store(&[
        ("a", 1, &[Role::Certifier], &["iso27001"]),
        ("b", 2, &[Role::Certifier], &["iso27001"]),
        ("c", 3, &[Role::Certifier], &["iso27001", "region"]),
    ]);
    let certs = [cert(1, 9, "iso27001", "yes"), cert(2, 9, "iso27001", "yes")];
    let valid = CertStatus::Valid;
    let held = |trust: &TrustStore| trust.held_claims(certs.iter().map(|c| (c, &valid)));
    assert_eq!(held(&trust), [claim("iso27001", "yes")]);
    trust.require("iso27001", Requirement::AtLeast(2)).unwrap();
    assert_eq!(held(&trust).len(), 1);
    trust.require("iso27001", Requirement::AtLeast(3)).unwrap();
    assert!(held(&trust).is_empty());
    trust.require("iso27001", Requirement::All).unwrap();
    assert!(held(&trust).is_empty());
    // Two issuers stating different values are two different claims.
    trust.require("iso27001", Requirement::AtLeast(2)).unwrap();
    let split = [
        cert(1, 9, "iso27001", "yes"),
        cert(2, 9, "iso27001", "2022"),
    ];
    assert!(
        trust
            .held_claims(split.iter().map(|c| (c, &valid)))
            .is_empty()
    );
    // A revoked certificate does not count towards the requirement.
    let revoked = CertStatus::Revoked {
        reason: "lapsed".try_into().unwrap(),
    };
    let statuses = [&valid, &revoked];
    assert!(trust.held_claims(certs.iter().zip(statuses)).is_empty());
    // More issuers required than the store has: unreachable, never held.
    trust.require("region", Requirement::AtLeast(2)).unwrap();
    assert_eq!(trust.needed("region"), None);
    trust.require("iso27001", Requirement::Any).unwrap();
    assert_eq!(trust.requirement("iso27001"), Requirement::Any);
    assert!(trust.claims.iter().all(|r| r.scheme.as_str() != "iso27001"));
}

#[test]
fn the_counting_revocation_is_the_issuers_earliest_live_one() {
    let c = cert(1, 9, "iso27001", "yes");
    let id = Hash32::of(b"cert");
    let mut by_other = samples::revocation(key(2), id, NOW);
    by_other.created_at -= 10;
    let late = samples::revocation(key(1), id, NOW);
    let mut early = samples::revocation(key(1), id, NOW - 5);
    early.reason = "first".try_into().unwrap();
    let mut dead = samples::revocation(key(1), id, NOW - 100);
    dead.expires_at = NOW;
    let other_cert = samples::revocation(key(1), Hash32::of(b"other"), NOW - 50);
    let all: Vec<(ObjectId, &Revocation)> = vec![
        (Hash32::of(b"1"), &by_other),
        (Hash32::of(b"2"), &late),
        (Hash32::of(b"3"), &early),
        (Hash32::of(b"4"), &dead),
        (Hash32::of(b"5"), &other_cert),
    ];
    let (rid, r) = counting_revocation(&id, &c, all.iter().copied(), NOW).unwrap();
    assert_eq!(rid, Hash32::of(b"3"));
    assert_eq!(r.reason.as_str(), "first");
    assert!(counting_revocation(&id, &c, all[..1].iter().copied(), NOW).is_none());
}

#[test]
fn the_register_rule() {
    let trust = store(&[
        ("a", 1, &[Role::Certifier], &["iso27001", "region"]),
        ("b", 2, &[Role::Certifier], &["tier"]),
    ]);
    let iso = cert(1, 9, "iso27001", "yes");
    let tier = cert(2, 9, "tier", "gold");
    let valid = CertStatus::Valid;
    let expired = CertStatus::Expired;
    let certs = [(&iso, &valid), (&tier, &expired)];
    let held = trust.held_claims(certs.iter().copied());
    let f = |claim: Option<&str>, issuer: Option<u8>, all: bool| RegisterFilter {
        claim: claim.map(|c| c.parse().unwrap()),
        issuer: issuer.map(key),
        include_uncertified: all,
    };
    assert!(in_register(&f(None, None, false), &certs, &held));
    assert!(in_register(
        &f(Some("iso27001"), None, false),
        &certs,
        &held
    ));
    assert!(in_register(
        &f(Some("iso27001=yes"), Some(1), false),
        &certs,
        &held
    ));
    assert!(!in_register(
        &f(Some("iso27001=no"), None, false),
        &certs,
        &held
    ));
    assert!(!in_register(&f(Some("tier"), None, false), &certs, &held));
    assert!(!in_register(&f(None, Some(2), false), &certs, &held));
    // With the uncertified: the expired tier certificate shows.
    assert!(in_register(&f(Some("tier"), Some(2), true), &certs, &held));
    assert!(!in_register(&f(Some("region"), None, true), &certs, &held));
}

#[test]
fn claims_parse_or_say_what_is_wrong() {
    let f: ClaimFilter = "region=eu-west".parse().unwrap();
    assert_eq!(f.to_string(), "region=eu-west");
    assert!(f.matches(&claim("region", "eu-west")));
    assert!(!f.matches(&claim("region", "us-east")));
    let any: ClaimFilter = "iso27001".parse().unwrap();
    assert!(any.matches(&claim("iso27001", "2022")));
    for bad in ["", "=x", "iso 27001", "a=", "é=1"] {
        let err = bad.parse::<ClaimFilter>().unwrap_err();
        assert!(
            err.to_string().starts_with("malformed claim"),
            "{bad:?}: {err}"
        );
        assert!(!err.to_string().contains('\n'));
    }
    assert_eq!(parse_claim("tier=gold").unwrap(), claim("tier", "gold"));
    assert!(
        parse_claim("iso27001")
            .unwrap_err()
            .to_string()
            .contains("name=value")
    );
}

#[test]
fn the_file_form_round_trips_and_bad_settings_are_named() {
    let mut trust = store(&[
        (
            "zeta",
            1,
            &[Role::Certifier, Role::Auditor],
            &["region", "iso27001"],
        ),
        ("alpha", 2, &[Role::Arbiter], &[]),
    ]);
    trust.require("iso27001", Requirement::AtLeast(2)).unwrap();
    trust.require("region", Requirement::All).unwrap();
    let text = trust.to_toml();
    assert!(text.contains("require = 2"), "{text}");
    assert!(text.contains("require = \"all\""), "{text}");
    let back = TrustStore::from_toml(&text).unwrap();
    assert_eq!(back, trust);
    assert_eq!(back.issuers[0].name.as_str(), "alpha");
    // And in the protocol's binary form.
    let bytes = crate::encoding::encode(&trust);
    let decoded: TrustStore = crate::encoding::decode::<_, 65536>(&bytes).unwrap();
    assert_eq!(decoded, trust);

    let dup_key = format!(
        "[[issuers]]\nname = \"a\"\nkey = \"{}\"\nroles = [\"arbiter\"]\n\
         [[issuers]]\nname = \"b\"\nkey = \"{}\"\nroles = [\"arbiter\"]\n",
        key(1),
        key(1)
    );
    let err = TrustStore::from_toml(&dup_key).unwrap_err().to_string();
    assert!(err.contains("same key"), "{err}");
    let no_scheme = format!(
        "[[issuers]]\nname = \"a\"\nkey = \"{}\"\nroles = [\"certifier\"]\n",
        key(1)
    );
    let err = TrustStore::from_toml(&no_scheme).unwrap_err().to_string();
    assert!(err.contains("add a scheme"), "{err}");
    let err = TrustStore::from_toml("[[issuers]]\nname = \"a\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("key"), "{err}");
    assert!(TrustStore::from_toml("").unwrap().issuers.is_empty());
}

#[test]
fn adding_and_removing_by_name() {
    let mut trust = store(&[("acme", 1, &[Role::Certifier], &["iso27001"])]);
    let again = Issuer::new("other", key(1), &[Role::Auditor], &[]).unwrap();
    let err = trust.add(again.clone(), false).unwrap_err();
    assert!(err.to_string().contains("--replace"), "{err}");
    trust.add(again, true).unwrap();
    assert_eq!(trust.issuers.len(), 1);
    assert_eq!(trust.issuers[0].name.as_str(), "other");
    let err = trust.remove("acme").unwrap_err();
    assert_eq!(err, TrustError::UnknownIssuer("acme".into()));
    assert_eq!(trust.remove("other").unwrap().key, key(1));
    assert!(trust.issuers.is_empty());
}

#[test]
fn legacy_settings_become_named_issuers_and_the_file_wins() {
    let legacy = TrustStore::legacy(&[key(1), key(2)], &[key(2), key(3)]);
    assert_eq!(legacy.issuers.len(), 3);
    let k2 = legacy.issuer(&key(2)).unwrap();
    assert!(k2.has(Role::Certifier) && k2.has(Role::Auditor));
    assert!(legacy.issuer(&key(1)).unwrap().may_certify("anything"));
    assert!(!legacy.issuer(&key(3)).unwrap().may_certify("iso27001"));
    let file = store(&[("mine", 1, &[Role::Certifier], &["iso27001"])]);
    let merged = file.with_legacy(&legacy);
    assert_eq!(merged.issuers.len(), 3);
    assert!(!merged.issuer(&key(1)).unwrap().may_certify("region"));
}
