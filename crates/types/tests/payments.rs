//! Payments: the amount due is a function of the objects (any order, any repetition), vouchers
//! never exceed the total, a lower or forged voucher never replaces a higher one, and each bad
//! voucher is refused by the rule that names it.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use flashback_types::payments::{self, Account, ConsumerStanding, Objects, check_voucher};
use flashback_types::*;
use proptest::prelude::*;

const NOW: Timestamp = 1_800_000_000;
/// Ten billing periods of a minute.
const DURATION: u64 = 600;

struct Keys {
    provider: SecretKey,
    consumer: SecretKey,
    other: SecretKey,
    arbiter: SecretKey,
}

fn keys() -> Keys {
    Keys {
        provider: SecretKey::from_seed(&[1; 32]),
        consumer: SecretKey::from_seed(&[2; 32]),
        other: SecretKey::from_seed(&[3; 32]),
        arbiter: SecretKey::from_seed(&[4; 32]),
    }
}

/// An agreement between `consumer` and `provider` of `DURATION` seconds from `NOW`, priced so
/// that its total is a round number.
fn agreement_between(consumer: &SecretKey, provider: &SecretKey) -> Agreement {
    let mut offer = samples::offer(provider.public(), "t", 1, NOW);
    offer.kind = ResourceKind::Compute;
    offer.price = samples::usd(36_000, PriceUnit::UnitHour);
    offer.compute = Some(ComputeSpec {
        vcpus: 1,
        memory_bytes: GIB,
        accelerator: ShortText::new("").unwrap(),
    });
    offer.min_duration_secs = 60;
    offer.qos.availability_bp = 9990;
    let offer = Signed::sign(offer, provider).unwrap();
    // 1 unit for 600 s at 36 000 per unit-hour: 6 000.
    let p = samples::proposal(
        consumer.public(),
        offer.body(),
        offer.id(),
        1,
        DURATION,
        NOW,
    );
    let p = Signed::sign(p, consumer).unwrap();
    let d = samples::decision(p.body(), p.id(), Decision::Accept, NOW);
    let d = Signed::sign(d, provider).unwrap();
    Agreement::from_parts(p, d).unwrap()
}

fn agreement() -> Agreement {
    let k = keys();
    agreement_between(&k.consumer, &k.provider)
}

fn voucher(a: &Agreement, cumulative: u64, sequence: u64) -> Signed<PaymentVoucher> {
    let k = keys();
    Signed::sign(
        samples::voucher(a, cumulative, sequence, NOW + 60 * sequence),
        &k.consumer,
    )
    .unwrap()
}

/// An attestation by the consumer for the period ending at `NOW + 60 × (period + 1)`.
fn attestation(a: &Agreement, period: u64, probes: u32, successes: u32) -> Signed<QosAttestation> {
    let k = keys();
    let end = NOW + 60 * (period + 1);
    let mut att = samples::attestation(
        k.consumer.public(),
        k.provider.public(),
        Some(a.proposal_id()),
        probes,
        successes,
        end,
    );
    att.window_start = end - 50;
    Signed::sign(att, &k.consumer).unwrap()
}

/// Every object that can bear on one agreement's account, of every sort.
#[derive(Debug, Clone)]
enum Item {
    Att(Signed<QosAttestation>),
    Voucher(Signed<PaymentVoucher>),
    Term(Signed<Termination>),
    Dispute(Signed<Dispute>),
    Ruling(Signed<Ruling>),
}

fn account(a: &Agreement, items: &[Item], now: Timestamp) -> Account {
    let (mut att, mut v, mut t, mut d, mut r) = (vec![], vec![], vec![], vec![], vec![]);
    for item in items {
        match item.clone() {
            Item::Att(x) => att.push(x),
            Item::Voucher(x) => v.push(x),
            Item::Term(x) => t.push(x),
            Item::Dispute(x) => d.push(x),
            Item::Ruling(x) => r.push(x),
        }
    }
    let arbiter = keys().arbiter.public();
    Account::of(
        a,
        Objects {
            attestations: &att,
            vouchers: &v,
            terminations: &t,
            disputes: &d,
            rulings: &r,
        },
        |k| *k == arbiter,
        now,
    )
}

fn items() -> impl Strategy<Value = Vec<Item>> {
    let a = agreement();
    let k = keys();
    let dispute = Signed::sign(
        samples::dispute(k.consumer.public(), a.proposal_id(), NOW + 200),
        &k.consumer,
    )
    .unwrap();
    let item = {
        let a1 = a.clone();
        let a2 = a.clone();
        let a3 = a.clone();
        let d = dispute.clone();
        prop_oneof![
            (0u64..10, 1u32..100, 0u32..100)
                .prop_map(move |(p, n, ok)| { Item::Att(attestation(&a1, p, n, ok.min(n))) }),
            (1u64..=6_000, 1u64..20).prop_map(move |(c, s)| Item::Voucher(voucher(&a2, c, s))),
            (0u64..600).prop_map(move |at| {
                let k = keys();
                let t = samples::termination(k.consumer.public(), a3.proposal_id(), NOW + at);
                Item::Term(Signed::sign(t, &k.consumer).unwrap())
            }),
            Just(Item::Dispute(d.clone())),
            (any::<bool>(), 0u64..7_000, 0u64..400, any::<bool>()).prop_map(
                move |(consumer_right, amount, at, trusted)| {
                    let k = keys();
                    let signer = if trusted { &k.arbiter } else { &k.other };
                    let favour = if consumer_right {
                        Party::Consumer
                    } else {
                        Party::Provider
                    };
                    let r = samples::ruling(
                        signer.public(),
                        d.id(),
                        d.body().agreement,
                        favour,
                        amount,
                        NOW + 200 + at,
                    );
                    Item::Ruling(Signed::sign(r, signer).unwrap())
                }
            ),
        ]
    };
    proptest::collection::vec(item, 0..24)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Same objects in any order, repeated or not: the same account, and the same standing.
    #[test]
    fn the_amount_due_is_a_function_of_the_objects(
        items in items(),
        seed in any::<u64>(),
        now in NOW..NOW + 2 * DURATION,
    ) {
        let a = agreement();
        let base = account(&a, &items, now);
        let mut shuffled = items.clone();
        // A deterministic shuffle from the seed, then some repeats.
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        shuffled.extend(items.iter().take((seed % 4) as usize).cloned());
        let other = account(&a, &shuffled, now);
        prop_assert_eq!(&base, &other);
        prop_assert_eq!(ConsumerStanding::of([&base]), ConsumerStanding::of([&other]));
        // What is owed never exceeds what is due or the total; payments never exceed the total.
        prop_assert!(base.due <= base.total);
        prop_assert!(base.credited <= base.due);
        prop_assert!(base.net_due <= base.total);
        prop_assert!(base.paid <= base.total);
        prop_assert!(base.overdue <= base.outstanding);
    }

    /// A voucher above the total is refused, whatever else is held, and never counts.
    #[test]
    fn vouchers_never_exceed_the_total(cumulative in 1u64..20_000, sequence in 1u64..100) {
        let a = agreement();
        let total = a.proposal().body().total;
        let v = voucher(&a, cumulative, sequence);
        let checked = check_voucher(&v, Some(&a), None);
        if cumulative > total {
            prop_assert_eq!(checked.unwrap_err().rule, Rule::AboveTotal);
        } else {
            prop_assert!(checked.is_ok());
        }
        let acc = account(&a, &[Item::Voucher(v)], NOW + DURATION);
        prop_assert!(acc.paid <= total);
    }

    /// Whatever order vouchers come in, a node that keeps the best one by `check_voucher` ends
    /// with the highest cumulative amount; a lower one never replaces it.
    #[test]
    fn a_lower_voucher_never_replaces_a_higher_one(
        offers in proptest::collection::vec((1u64..=6_000, 1u64..50), 1..12),
    ) {
        let a = agreement();
        let vouchers: Vec<_> = offers.iter().map(|(c, s)| voucher(&a, *c, *s)).collect();
        let mut held: Option<Signed<PaymentVoucher>> = None;
        for v in &vouchers {
            match check_voucher(v, Some(&a), held.as_ref()) {
                Ok(()) => {
                    if let Some(h) = &held {
                        prop_assert!(v.body().cumulative >= h.body().cumulative);
                    }
                    held = Some(v.clone());
                }
                Err(e) => prop_assert_eq!(e.rule, Rule::NotNewer),
            }
        }
        let best = payments::best_voucher(&a, &vouchers).unwrap();
        let held = held.unwrap();
        prop_assert_eq!(held.id(), best.id());
        prop_assert_eq!(
            held.body().cumulative,
            offers.iter().map(|(c, _)| *c).max().unwrap()
        );
    }

    /// A forged voucher (signed by another key, or altered after signing) never decodes, so it
    /// never replaces anything; one signed by a third key in its own name is not the consumer's.
    #[test]
    fn a_forged_voucher_never_replaces_a_higher_one(
        cumulative in 1u64..=6_000,
        flip in 0usize..200,
    ) {
        let a = agreement();
        let k = keys();
        let held = voucher(&a, cumulative, 1);
        let mut forged = voucher(&a, 6_000, 9).encoded().to_vec();
        let i = flip % forged.len();
        forged[i] ^= 0x40;
        // Whatever byte was altered, the voucher no longer verifies.
        prop_assert!(Object::decode(&forged).is_err());
        // Another key signing the consumer's voucher body does not verify as the consumer.
        let body = samples::voucher(&a, 6_000, 9, NOW);
        let by_other = Signed::sign_unchecked(body.clone(), &k.other);
        prop_assert!(Object::decode(by_other.encoded()).is_err());
        // Another key putting itself as the payer is not the agreement's consumer.
        let mut own = body;
        own.consumer = k.other.public();
        let own = Signed::sign(own, &k.other).unwrap();
        prop_assert_eq!(
            check_voucher(&own, Some(&a), Some(&held)).unwrap_err().rule,
            Rule::NotAParty
        );
        let acc = account(&a, &[Item::Voucher(held.clone()), Item::Voucher(own)], NOW);
        prop_assert_eq!(acc.paid, cumulative);
    }
}

#[test]
fn bad_vouchers_are_refused_by_their_rule() {
    let k = keys();
    let a = agreement();
    let total = a.proposal().body().total;
    let good = voucher(&a, 1_000, 2);

    // Above the total.
    let above = voucher(&a, total + 1, 3);
    let e = check_voucher(&above, Some(&a), Some(&good)).unwrap_err();
    assert_eq!((e.rule, e.label()), (Rule::AboveTotal, Label::Reject));

    // For someone else's agreement: the signer is not that agreement's consumer.
    let theirs = agreement_between(&k.other, &k.provider);
    let mut body = samples::voucher(&theirs, 100, 1, NOW);
    body.consumer = k.consumer.public();
    let not_mine = Signed::sign(body, &k.consumer).unwrap();
    let e = check_voucher(&not_mine, Some(&theirs), None).unwrap_err();
    assert_eq!((e.rule, e.label()), (Rule::NotAParty, Label::Reject));

    // Naming another provider.
    let mut body = samples::voucher(&a, 100, 1, NOW);
    body.provider = k.other.public();
    let elsewhere = Signed::sign(body, &k.consumer).unwrap();
    assert_eq!(
        check_voucher(&elsewhere, Some(&a), None).unwrap_err().rule,
        Rule::NotAParty
    );

    // In another asset.
    let mut body = samples::voucher(&a, 100, 1, NOW);
    body.asset = "EUR".try_into().unwrap();
    let euros = Signed::sign(body, &k.consumer).unwrap();
    assert_eq!(
        check_voucher(&euros, Some(&a), None).unwrap_err().rule,
        Rule::AssetMismatch
    );

    // Replayed (the held one again) or lower: not newer, dropped without blame.
    for stale in [good.clone(), voucher(&a, 999, 3), voucher(&a, 1_000, 1)] {
        let e = check_voucher(&stale, Some(&a), Some(&good)).unwrap_err();
        assert_eq!((e.rule, e.label()), (Rule::NotNewer, Label::Ignore), "{e}");
    }

    // From the wrong key: signed by a key other than the one it names.
    let wrong = Signed::sign_unchecked(samples::voucher(&a, 2_000, 3, NOW), &k.other);
    let e = Object::decode(wrong.encoded()).unwrap_err();
    assert_eq!((e.rule, e.label()), (Rule::SignerMismatch, Label::Reject));

    // An agreement not held (yet): ignored, it may be on its way.
    let e = check_voucher(&good, None, None).unwrap_err();
    assert_eq!((e.rule, e.label()), (Rule::UnknownAgreement, Label::Ignore));

    // And the good one beats nothing held, then a higher one beats it.
    assert!(check_voucher(&good, Some(&a), None).is_ok());
    assert!(check_voucher(&voucher(&a, 1_001, 3), Some(&a), Some(&good)).is_ok());
}

#[test]
fn a_provider_that_misses_the_sla_is_credited_by_the_schedule() {
    let a = agreement();
    // Period 0 fine, period 1 at 98 % (agreed 99.9 %: 25 % credit), period 2 at 80 % (all).
    let items = [
        Item::Att(attestation(&a, 0, 100, 100)),
        Item::Att(attestation(&a, 1, 100, 98)),
        Item::Att(attestation(&a, 2, 100, 80)),
    ];
    let acc = account(&a, &items, NOW + 180);
    assert_eq!(acc.total, 6_000);
    assert_eq!(acc.due, 1_800);
    assert_eq!(acc.credited, 150 + 600);
    assert_eq!(acc.net_due, 1_050);
    assert_eq!(acc.outstanding, 1_050);
    // A period is overdue one period after it ends (period 2 is credited in full).
    assert_eq!(acc.overdue, 1_050);
    assert_eq!(acc.to_pay(), Some(1_050));
}

#[test]
fn only_a_trusted_arbiters_ruling_changes_the_amount_due() {
    let k = keys();
    let a = agreement();
    let dispute = Signed::sign(
        samples::dispute(k.consumer.public(), a.proposal_id(), NOW + 100),
        &k.consumer,
    )
    .unwrap();
    let rule = |signer: &SecretKey| {
        Item::Ruling(
            Signed::sign(
                samples::ruling(
                    signer.public(),
                    dispute.id(),
                    a.proposal_id(),
                    Party::Consumer,
                    300,
                    NOW + 200,
                ),
                signer,
            )
            .unwrap(),
        )
    };
    let base = [Item::Dispute(dispute.clone())];
    let before = account(&a, &base, NOW + 300);
    assert_eq!(before.net_due, 3_000);

    let untrusted = account(&a, &[base[0].clone(), rule(&k.other)], NOW + 300);
    assert_eq!(untrusted.net_due, 3_000);
    assert_eq!(untrusted.untrusted_rulings, 1);
    assert!(untrusted.ruling.is_none());

    let trusted = account(&a, &[base[0].clone(), rule(&k.arbiter)], NOW + 300);
    assert_eq!(trusted.net_due, 300);
    assert_eq!(
        trusted.ruling.as_ref().unwrap().in_favour_of,
        Party::Consumer
    );
    let standing = ConsumerStanding::of([&trusted]);
    assert_eq!((standing.disputes_won, standing.disputes_lost), (1, 0));
}

#[test]
fn a_consumer_that_stops_paying_loses_standing_and_cannot_buy_it_back() {
    let k = keys();
    let a = agreement();
    // Paid the first two periods, then nothing: four periods overdue at +7 minutes.
    let acc = account(&a, &[Item::Voucher(voucher(&a, 1_200, 2))], NOW + 420);
    assert_eq!(acc.overdue, 3_600 - 1_200);
    let standing = ConsumerStanding::of([&acc]);
    assert_eq!(standing.in_arrears, 1);
    assert!(standing.score_bp < 5_000, "{standing:?}");

    // Agreements with its own second key as provider, paid in full, do not lift it.
    let own_provider = SecretKey::from_seed(&[9; 32]);
    let selfdeal = agreement_between(&k.consumer, &own_provider);
    let full = Signed::sign(samples::voucher(&selfdeal, 6_000, 1, NOW + 10), &k.consumer).unwrap();
    let arbiter = k.arbiter.public();
    let paid_in_full = Account::of(
        &selfdeal,
        Objects {
            attestations: &[],
            vouchers: &[full],
            terminations: &[],
            disputes: &[],
            rulings: &[],
        },
        |x| *x == arbiter,
        NOW + 420,
    );
    let with_selfdeal = ConsumerStanding::of([&acc, &paid_in_full, &paid_in_full]);
    assert!(with_selfdeal.score_bp <= standing.score_bp);
}
