//! Table test: every validation rule, triggered by a concrete object, with its label.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use flashback_types::*;

const NOW: Timestamp = 1_800_000_000;

struct Keys {
    provider: SecretKey,
    consumer: SecretKey,
}

fn keys() -> Keys {
    Keys {
        provider: SecretKey::from_seed(&[1; 32]),
        consumer: SecretKey::from_seed(&[2; 32]),
    }
}

fn offer_with(f: impl FnOnce(&mut Offer)) -> Vec<u8> {
    let k = keys();
    let mut o = samples::offer(k.provider.public(), "t", 1, NOW);
    f(&mut o);
    Signed::sign_unchecked(o, &k.provider).encoded().to_vec()
}

fn attestation_with(f: impl FnOnce(&mut QosAttestation)) -> Vec<u8> {
    let k = keys();
    let mut a = samples::attestation(k.consumer.public(), k.provider.public(), None, 10, 9, NOW);
    f(&mut a);
    Signed::sign_unchecked(a, &k.consumer).encoded().to_vec()
}

fn agreement_parts() -> (Signed<SlaProposal>, SlaDecision) {
    let k = keys();
    let offer = Signed::sign(
        samples::offer(k.provider.public(), "t", 1, NOW),
        &k.provider,
    )
    .unwrap();
    let p = Signed::sign(
        samples::proposal(
            k.consumer.public(),
            offer.body(),
            offer.id(),
            GIB,
            MONTH_SECS,
            NOW,
        ),
        &k.consumer,
    )
    .unwrap();
    let d = samples::decision(p.body(), p.id(), Decision::Accept, NOW);
    (p, d)
}

/// Runs bytes through the full pipeline a node runs: decode + verify + time rules.
fn check(bytes: &[u8]) -> Result<Object, ObjectError> {
    Object::decode_at(bytes, NOW, &TimeRules::default())
}

#[test]
fn every_rule_has_a_case_and_the_documented_label() {
    let k = keys();
    let good = offer_with(|_| {});
    assert!(check(&good).is_ok());

    let mut cases: Vec<(Rule, Result<Object, ObjectError>)> = vec![];

    let mut big = vec![0u8; Kind::Offer.max_bytes() + 1];
    big[0] = Kind::Offer.tag();
    cases.push((Rule::TooLarge, check(&big)));

    let mut trailing = good.clone();
    trailing.push(7);
    cases.push((Rule::TrailingBytes, check(&trailing)));

    cases.push((Rule::Malformed, check(&good[..good.len() / 2])));

    // Unsorted regions are a field rule; a body re-encoded in a second form is non-canonical
    // (covered in tests/encoding.rs). Here: a bool byte of 2 cannot decode at all.
    let canonical = {
        let key = SecretKey::from_seed(&[3; 32]);
        let body = samples::offer(key.public(), "c", 1, NOW);
        let mut bytes = encoding::encode(&body);
        let seq_at = 32 + 2;
        let mut long = bytes[..seq_at].to_vec();
        long.extend_from_slice(&[251, 1, 0]);
        long.extend_from_slice(&bytes[seq_at + 1..]);
        bytes = long;
        let sig = key.sign(&signing_digest(Kind::Offer, &bytes));
        let mut wire = vec![Kind::Offer.tag()];
        wire.extend(encoding::encode(&serde_bytes::Bytes::new(&bytes)));
        wire.extend_from_slice(key.public().as_bytes());
        wire.extend_from_slice(&sig.to_bytes());
        wire
    };
    cases.push((Rule::NonCanonical, check(&canonical)));

    // Offer bytes handed to a decoder that expects a certificate.
    cases.push((
        Rule::WrongKind,
        Signed::<Certificate>::decode(&good).map(Object::from),
    ));

    // A signer field that is not a curve point (y = 2 has no x on Ed25519).
    let mut not_point = good.clone();
    let at = not_point.len() - 96;
    let y = (2u8..=255)
        .map(|b| {
            let mut y = [0u8; 32];
            y[0] = b;
            y
        })
        .find(|y| PublicKey::from_bytes(y) == Err(KeyError::InvalidPoint))
        .expect("some small y is not on the curve");
    not_point[at..at + 32].copy_from_slice(&y);
    cases.push((Rule::InvalidKey, check(&not_point)));

    let mut weak = good.clone();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    weak[at..at + 32].copy_from_slice(&identity);
    cases.push((Rule::WeakKey, check(&weak)));

    let mut bad_sig = good.clone();
    let last = bad_sig.len() - 1;
    bad_sig[last - 40] ^= 0x10;
    cases.push((Rule::BadSignature, check(&bad_sig)));

    let forged = Signed::sign_unchecked(
        samples::offer(k.provider.public(), "t", 1, NOW),
        &k.consumer,
    );
    cases.push((Rule::SignerMismatch, check(forged.encoded())));

    cases.push((
        Rule::InvalidField,
        check(&offer_with(|o| o.qos.availability_bp = 10_001)),
    ));
    cases.push((
        Rule::ExpiredAtCreation,
        check(&offer_with(|o| o.expires_at = o.created_at)),
    ));
    cases.push((
        Rule::LifetimeTooLong,
        check(&offer_with(|o| o.expires_at = o.created_at + 401 * 86_400)),
    ));

    let (p, mut d) = agreement_parts();
    d.proposal_id = Hash32::of(b"another proposal");
    let d = Signed::sign(d, &k.provider).unwrap();
    cases.push((
        Rule::PartsMismatch,
        Agreement::from_parts(p, d).map(Object::from),
    ));

    let (p, mut d) = agreement_parts();
    d.decision = Decision::Reject(RejectReason::Capacity);
    let d = Signed::sign(d, &k.provider).unwrap();
    cases.push((
        Rule::NotAccepted,
        Agreement::from_parts(p, d).map(Object::from),
    ));

    cases.push((
        Rule::Expired,
        check(&offer_with(|o| {
            o.created_at = NOW - 100;
            o.expires_at = NOW;
        })),
    ));
    cases.push((
        Rule::FromFuture,
        check(&offer_with(|o| {
            o.created_at = NOW + 301;
            o.expires_at = NOW + 1000;
        })),
    ));

    // An offer gossiped on the demands topic.
    cases.push((
        Rule::WrongTopic,
        check_topic(protocol::Topic::Demands.name(), &good).map(|_| check(&good).unwrap()),
    ));

    // Stateful rules are decided by the store (the payment rules by `payments::check_voucher`,
    // tested in `payments.rs`); their labels are fixed below.
    let stateful = [
        Rule::Duplicate,
        Rule::Superseded,
        Rule::Equivocation,
        Rule::UnknownAgreement,
        Rule::NotAParty,
        Rule::AssetMismatch,
        Rule::AboveTotal,
        Rule::NotNewer,
    ];

    for rule in Rule::ALL {
        if stateful.contains(&rule) {
            continue;
        }
        let (_, result) = cases
            .iter()
            .find(|(r, _)| *r == rule)
            .unwrap_or_else(|| panic!("no table case for {rule:?}"));
        let err = result.as_ref().expect_err(rule.name());
        assert_eq!(
            err.rule, rule,
            "case for {rule:?} failed another rule: {err}"
        );
    }

    let expected_labels = [
        (Rule::TooLarge, Label::Reject),
        (Rule::TrailingBytes, Label::Reject),
        (Rule::Malformed, Label::Reject),
        (Rule::NonCanonical, Label::Reject),
        (Rule::WrongKind, Label::Reject),
        (Rule::InvalidKey, Label::Reject),
        (Rule::WeakKey, Label::Reject),
        (Rule::BadSignature, Label::Reject),
        (Rule::SignerMismatch, Label::Reject),
        (Rule::InvalidField, Label::Reject),
        (Rule::ExpiredAtCreation, Label::Reject),
        (Rule::LifetimeTooLong, Label::Reject),
        (Rule::PartsMismatch, Label::Reject),
        (Rule::NotAccepted, Label::Reject),
        (Rule::Expired, Label::Ignore),
        (Rule::FromFuture, Label::Ignore),
        (Rule::Duplicate, Label::Ignore),
        (Rule::Superseded, Label::Ignore),
        (Rule::Equivocation, Label::Ignore),
        (Rule::WrongTopic, Label::Reject),
        (Rule::UnknownAgreement, Label::Ignore),
        (Rule::NotAParty, Label::Reject),
        (Rule::AssetMismatch, Label::Reject),
        (Rule::AboveTotal, Label::Reject),
        (Rule::NotNewer, Label::Ignore),
    ];
    assert_eq!(expected_labels.len(), Rule::ALL.len());
    for (rule, label) in expected_labels {
        assert_eq!(rule.label(), label, "{rule:?}");
    }
}

#[test]
fn field_rules_of_each_kind() {
    let k = keys();
    type Case = (&'static str, Vec<u8>);
    let mut cases: Vec<Case> = vec![
        (
            "empty offer key",
            offer_with(|o| o.offer_key = ShortText::new("").unwrap()),
        ),
        (
            "offer key charset",
            offer_with(|o| o.offer_key = ShortText::new("a b").unwrap()),
        ),
        ("zero capacity", offer_with(|o| o.capacity = 0)),
        (
            "compute price unit on storage",
            offer_with(|o| o.price.unit = PriceUnit::UnitHour),
        ),
        (
            "lowercase asset",
            offer_with(|o| o.price.asset = "usd".try_into().unwrap()),
        ),
        (
            "min > max duration",
            offer_with(|o| o.min_duration_secs = o.max_duration_secs + 1),
        ),
        (
            "unsorted regions",
            offer_with(|o| {
                o.regions = BoundedVec::try_from_vec(vec![
                    "us".try_into().unwrap(),
                    "eu".try_into().unwrap(),
                ])
                .unwrap()
            }),
        ),
        (
            "uppercase region",
            offer_with(|o| {
                o.regions = BoundedVec::try_from_vec(vec!["EU".try_into().unwrap()]).unwrap()
            }),
        ),
        (
            "no protocol",
            offer_with(|o| o.protocols = BoundedVec::new()),
        ),
        (
            "empty endpoint",
            offer_with(|o| o.endpoint = Text::new("").unwrap()),
        ),
        ("durability", offer_with(|o| o.qos.durability_nines = 21)),
        ("redundancy 0", offer_with(|o| o.redundancy = 0)),
        (
            "compute spec on storage",
            offer_with(|o| {
                o.compute = Some(ComputeSpec {
                    vcpus: 1,
                    memory_bytes: 1,
                    accelerator: ShortText::default(),
                })
            }),
        ),
        (
            "successes > probes",
            attestation_with(|a| a.successes = a.probes + 1),
        ),
        (
            "window reversed",
            attestation_with(|a| a.window_start = a.window_end),
        ),
        (
            "window after signing",
            attestation_with(|a| a.window_end = a.created_at + 1),
        ),
        (
            "p50 > p95",
            attestation_with(|a| a.latency_p50_ms = a.latency_p95_ms + 1),
        ),
        (
            "self attestation",
            attestation_with(|a| a.subject = a.attester),
        ),
    ];
    let (p, _) = agreement_parts();
    let mut wrong_total = p.body().clone();
    wrong_total.total += 1;
    cases.push((
        "proposal total",
        Signed::sign_unchecked(wrong_total, &k.consumer)
            .encoded()
            .to_vec(),
    ));
    let mut self_deal = p.body().clone();
    self_deal.provider = self_deal.consumer;
    cases.push((
        "proposal to self",
        Signed::sign_unchecked(self_deal, &k.consumer)
            .encoded()
            .to_vec(),
    ));
    let mut cert =
        samples::certificate(k.provider.public(), k.consumer.public(), "iso", "yes", NOW);
    cert.claims = BoundedVec::new();
    cases.push((
        "certificate without claims",
        Signed::sign_unchecked(cert, &k.provider).encoded().to_vec(),
    ));
    let mut cert = samples::certificate(k.provider.public(), k.consumer.public(), "iso", "", NOW);
    cert.serial = 2;
    cases.push((
        "certificate with an empty claim value",
        Signed::sign_unchecked(cert, &k.provider).encoded().to_vec(),
    ));
    let cert = samples::certificate(k.provider.public(), k.provider.public(), "iso", "yes", NOW);
    cases.push((
        "self-issued certificate",
        Signed::sign_unchecked(cert, &k.provider).encoded().to_vec(),
    ));
    let offer_with = |f: &dyn Fn(&mut Offer)| {
        let mut o = samples::offer(k.provider.public(), "juris", 1, NOW);
        f(&mut o);
        Signed::sign_unchecked(o, &k.provider).encoded().to_vec()
    };
    cases.push((
        "unsorted jurisdictions",
        offer_with(&|o| {
            o.jurisdictions =
                BoundedVec::try_from_vec(vec!["us".try_into().unwrap(), "eu".try_into().unwrap()])
                    .unwrap()
        }),
    ));
    cases.push((
        "uppercase jurisdiction",
        offer_with(&|o| {
            o.jurisdictions = BoundedVec::try_from_vec(vec!["EU".try_into().unwrap()]).unwrap()
        }),
    ));
    cases.push((
        "compliance document without a title",
        offer_with(&|o| {
            let mut doc = o.compliance_docs[0].clone();
            doc.title = " ".try_into().unwrap();
            o.compliance_docs = BoundedVec::try_from_vec(vec![doc]).unwrap();
        }),
    ));
    cases.push((
        "compliance document url with a space",
        offer_with(&|o| {
            let mut doc = o.compliance_docs[0].clone();
            doc.url = "https://example.net/a b.pdf".try_into().unwrap();
            o.compliance_docs = BoundedVec::try_from_vec(vec![doc]).unwrap();
        }),
    ));

    for (what, bytes) in cases {
        let err = check(&bytes).expect_err(what);
        assert_eq!(err.rule, Rule::InvalidField, "{what}: {err}");
        assert_eq!(err.label(), Label::Reject);
    }
}

#[test]
fn acceptance_after_the_deadline_is_not_an_agreement() {
    let k = keys();
    let (p, mut d) = agreement_parts();
    d.created_at = p.body().expires_at + 1;
    let d = Signed::sign(d, &k.provider).unwrap();
    assert_eq!(
        Agreement::from_parts(p, d).unwrap_err().rule,
        Rule::PartsMismatch
    );
}

#[test]
fn evidence_needs_a_real_conflict() {
    let k = keys();
    let a = Signed::sign(
        samples::offer(k.provider.public(), "e", 5, NOW),
        &k.provider,
    )
    .unwrap();
    let b = Signed::sign(
        samples::offer(k.provider.public(), "e", 6, NOW),
        &k.provider,
    )
    .unwrap();
    assert_eq!(
        EquivocationEvidence::from_offers(a.clone(), b)
            .unwrap_err()
            .rule,
        Rule::PartsMismatch
    );
    assert_eq!(
        EquivocationEvidence::from_offers(a.clone(), a)
            .unwrap_err()
            .rule,
        Rule::PartsMismatch
    );
}

#[test]
fn errors_are_one_readable_line_with_their_label() {
    let err = check(&offer_with(|o| o.redundancy = 0)).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("invalid_field (reject): "), "{text}");
    assert!(!text.contains('\n'));
}

#[test]
fn a_withdrawal_supersedes_the_offer_and_is_valid() {
    let k = keys();
    let t = |o: &Offer, at, taken| {
        let signed = Signed::sign(o.withdrawal(at, taken).unwrap(), &k.provider).unwrap();
        Object::decode_at(signed.encoded(), at, &TimeRules::default()).unwrap();
        signed.body().clone()
    };
    // Published with a small seq: the tombstone takes the time, which is higher.
    let small = samples::offer(k.provider.public(), "t", 1, NOW - 100);
    let tomb = t(&small, NOW, None);
    assert!(tomb.withdrawn);
    assert_eq!(tomb.seq, NOW);
    assert_eq!(tomb.created_at, NOW);
    assert_eq!(
        Offer {
            withdrawn: false,
            seq: 1,
            created_at: NOW - 100,
            ..tomb.clone()
        },
        small,
        "nothing else changes"
    );
    // Published with a seq ahead of the clock (a same-second republish takes one more than
    // the last): one more than it.
    let ahead = samples::offer(k.provider.public(), "t", NOW + 50, NOW);
    assert_eq!(t(&ahead, NOW, None).seq, NOW + 51);
    // A higher seq this key signed since (not yet at the node): above that one too.
    assert_eq!(t(&ahead, NOW, Some(NOW + 80)).seq, NOW + 81);
    // An offer about to expire: the tombstone is still valid when signed.
    let mut expiring = samples::offer(k.provider.public(), "t", 3, NOW - 100);
    expiring.expires_at = NOW;
    assert_eq!(t(&expiring, NOW, None).expires_at, NOW + 1);
}

#[test]
fn every_live_offer_leaves_a_seq_for_its_withdrawal() {
    let k = keys();
    let signed = |o: &Offer| {
        Signed::sign_unchecked(o.clone(), &k.provider)
            .encoded()
            .to_vec()
    };
    // The highest live seq can still be withdrawn, at the last seq there is.
    let top = samples::offer(k.provider.public(), "t", Offer::MAX_LIVE_SEQ, NOW);
    check(&signed(&top)).unwrap();
    let tomb = top.withdrawal(NOW, None).unwrap();
    assert_eq!(tomb.seq, u64::MAX);
    check(&signed(&tomb)).unwrap();
    // No live offer above it: it could never be withdrawn.
    let err = check(&offer_with(|o| o.seq = u64::MAX)).unwrap_err();
    assert_eq!(err.rule, Rule::InvalidField);
    assert!(err.detail.contains("withdrawal"), "{}", err.detail);
    // And nothing follows a tombstone at the last seq.
    assert!(tomb.withdrawal(NOW, None).is_none());
    assert_eq!(Offer::next_seq(Some(Offer::MAX_LIVE_SEQ), NOW, false), None);
    assert_eq!(Offer::next_seq(Some(u64::MAX), NOW, true), None);
}

#[test]
fn the_next_seq_is_above_what_was_taken_and_follows_the_clock() {
    assert_eq!(Offer::next_seq(None, NOW, false), Some(NOW));
    // Same second: one more, never the same.
    assert_eq!(Offer::next_seq(Some(NOW), NOW, false), Some(NOW + 1));
    assert_eq!(Offer::next_seq(Some(NOW + 1), NOW, false), Some(NOW + 2));
    // A seq from long ago: the clock.
    assert_eq!(Offer::next_seq(Some(5), NOW, false), Some(NOW));
}

#[test]
fn an_offer_endpoint_must_name_a_data_plane() {
    let good = [
        "https://s3.eu-west.example.net/flashback",
        "http://127.0.0.1:8080/blobs",
        "s3://bucket-name/prefix",
        "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
        "sftp://user@host.example:22/data",
        "/dns4/storage.example.net/tcp/443/https",
        "/ip4/203.0.113.7/udp/4077/quic-v1",
    ];
    for endpoint in good {
        let bytes = offer_with(|o| o.endpoint = Text::new(endpoint.to_owned()).unwrap());
        assert!(check(&bytes).is_ok(), "{endpoint:?} is refused");
    }
    let bad = [
        "javascript:alert(1)",
        "https://ok.example\n\u{1b}[31mpwned",
        "https://a.example/\u{7}",
        "https://with space.example",
        "https://x.example/<script>",
        "data:text/html,hi",
        "file:///etc/passwd",
        "ftp://old.example",
        "HTTPS://upper.example",
        "https://",
        "not an endpoint",
        "/",
        "/ip4",
        "//x",
        "",
    ];
    for endpoint in bad {
        let bytes = offer_with(|o| o.endpoint = Text::new(endpoint.to_owned()).unwrap());
        let err = check(&bytes).expect_err(endpoint);
        assert_eq!(err.rule, Rule::InvalidField, "{endpoint:?}: {err}");
        assert_eq!(err.label(), Label::Reject, "{endpoint:?}");
        assert!(err.to_string().contains("endpoint"), "{endpoint:?}: {err}");
    }
}

#[test]
fn a_protocol_name_is_an_identifier() {
    for name in ["", "With Space", "UPPER", "x\n"] {
        let bytes = offer_with(|o| {
            o.protocols = BoundedVec::try_from(vec![DataProtocol::Other(
                ShortText::new(name.to_owned()).unwrap(),
            )])
            .unwrap();
        });
        let err = check(&bytes).expect_err(name);
        assert_eq!(err.label(), Label::Reject, "{name:?}");
    }
    let bytes = offer_with(|o| {
        o.protocols = BoundedVec::try_from(vec![DataProtocol::Other(
            ShortText::new("webdav".to_owned()).unwrap(),
        )])
        .unwrap();
    });
    assert!(check(&bytes).is_ok());
}
