//! Vouchers, disputes and rulings in a real store: the best voucher per agreement is kept
//! (durably), every bad one is refused by its rule, and accounts and standings follow the
//! trust store's arbiters.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::*;
use flashback_store::Applied;
use flashback_types::*;

fn refused(out: Applied) -> Rule {
    match out {
        Applied::Refused(e) => e.rule,
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn the_store_keeps_the_best_voucher_and_refuses_bad_ones_by_rule() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "s");
    let (provider, consumer, other) = (key(1), key(2), key(3));
    let o = offer(&provider, "a", 1, |_| {});
    let a = agreement(&consumer, &provider, &o, NOW - DAY, 20 * DAY, GIB);
    let total = a.proposal().body().total;
    let id = a.proposal_id();
    let voucher = |by: &SecretKey, cumulative: u64, sequence: u64| {
        let mut body = samples::voucher(&a, cumulative, sequence, NOW - 10 + sequence);
        body.consumer = by.public();
        Object::from(Signed::sign(body, by).unwrap())
    };

    // Before its agreement: ignored, it may be on its way.
    let first = voucher(&consumer, 10, 1);
    assert_eq!(
        refused(store.apply(&first, NOW).unwrap()),
        Rule::UnknownAgreement
    );
    store.apply(&o.clone().into(), NOW).unwrap();
    store.apply(&a.clone().into(), NOW).unwrap();
    assert!(matches!(
        store.apply(&first, NOW).unwrap(),
        Applied::Applied
    ));

    // Above the total, from a third key, lower, replayed: each by its rule.
    let above = voucher(&consumer, total + 1, 5);
    assert_eq!(refused(store.apply(&above, NOW).unwrap()), Rule::AboveTotal);
    let stranger = voucher(&other, 20, 6);
    assert_eq!(
        refused(store.apply(&stranger, NOW).unwrap()),
        Rule::NotAParty
    );
    let higher = voucher(&consumer, 20, 2);
    assert!(matches!(
        store.apply(&higher, NOW).unwrap(),
        Applied::Applied
    ));
    let lower = voucher(&consumer, 15, 3);
    assert_eq!(refused(store.apply(&lower, NOW).unwrap()), Rule::NotNewer);
    // The replaced voucher, sent again, is not newer either (it is no longer held).
    assert_eq!(refused(store.apply(&first, NOW).unwrap()), Rule::NotNewer);
    assert!(matches!(
        store.apply(&higher, NOW).unwrap(),
        Applied::Duplicate
    ));
    assert_eq!(Rule::NotNewer.label(), Label::Ignore);
    assert_eq!(Rule::AboveTotal.label(), Label::Reject);

    // Only the best is held, and it survives a restart.
    assert_eq!(store.counts().of(Kind::PaymentVoucher), 1);
    assert!(store.get(&first.id()).unwrap().is_none());
    drop(store);
    let store = open(&dir, "s");
    assert_eq!(
        store.best_voucher(&id).unwrap().map(|v| v.id()),
        Some(higher.id())
    );
    assert_eq!(
        store.ids_by_kind(Kind::PaymentVoucher).unwrap(),
        vec![higher.id()]
    );
}

#[test]
fn a_ruling_counts_where_its_arbiter_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "s");
    let (provider, consumer, arbiter, stranger) = (key(1), key(2), key(4), key(5));
    let o = offer(&provider, "a", 1, |_| {});
    // Started 19 days ago for 20 days, billed daily: 19 periods due now.
    let a = agreement(&consumer, &provider, &o, NOW - 19 * DAY, 20 * DAY, GIB);
    let total = a.proposal().body().total;
    store.apply(&o.clone().into(), NOW).unwrap();
    store.apply(&a.clone().into(), NOW).unwrap();

    // A dispute by a third key is refused; by the provider it is kept.
    let by_stranger = Signed::sign(
        samples::dispute(stranger.public(), a.proposal_id(), NOW - 5),
        &stranger,
    )
    .unwrap();
    assert_eq!(
        refused(store.apply(&by_stranger.into(), NOW).unwrap()),
        Rule::NotAParty
    );
    let dispute = Signed::sign(
        samples::dispute(provider.public(), a.proposal_id(), NOW - 5),
        &provider,
    )
    .unwrap();
    assert!(matches!(
        store.apply(&dispute.clone().into(), NOW).unwrap(),
        Applied::Applied
    ));
    let ruling = Signed::sign(
        samples::ruling(
            arbiter.public(),
            dispute.id(),
            a.proposal_id(),
            Party::Provider,
            total / 2,
            NOW - 4,
        ),
        &arbiter,
    )
    .unwrap();
    assert!(matches!(
        store.apply(&ruling.into(), NOW).unwrap(),
        Applied::Applied
    ));

    // Untrusted: the ruling is shown, the amount due and the standing are unchanged.
    let (standing, accounts) = store.consumer_standing(&consumer.public(), NOW).unwrap();
    assert_eq!(accounts.len(), 1);
    let due = accounts[0].due;
    assert!(due > total / 2);
    assert_eq!(accounts[0].net_due, due);
    assert_eq!(accounts[0].untrusted_rulings, 1);
    assert_eq!(standing.disputes_lost, 0);

    // Trusted as an arbiter: the ruling sets what is due and counts against the consumer.
    store.set_trust(trust(&[("court", &arbiter, &[Role::Arbiter], &[])]));
    let (standing, accounts) = store.consumer_standing(&consumer.public(), NOW).unwrap();
    assert_eq!(accounts[0].net_due, total / 2);
    assert_eq!(standing.disputes_lost, 1);
    // The provider's view of the same agreement agrees.
    let as_provider = store.accounts_of(&provider.public(), NOW).unwrap();
    assert_eq!(as_provider, accounts);
}
