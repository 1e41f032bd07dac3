//! Vouchers, disputes and rulings in a real store: the best voucher per agreement is kept
//! (durably), every bad one is refused by its rule, and accounts and standings follow the
//! trust store's arbiters.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::*;
use flashback_store::{Applied, RULING_PENALTY, RulingEffect};
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

#[test]
fn a_trusted_ruling_for_the_consumer_lowers_the_providers_score() {
    let dir = tempfile::tempdir().unwrap();
    let (provider, consumer, other, arbiter) = (key(1), key(2), key(3), key(4));
    // The node's own probing keys rate the provider.
    let mut config = flashback_store::StoreConfig::default();
    config.reputation.own_keys = vec![consumer.public(), other.public()];
    let store = open_with(&dir, "s", config);
    let o = offer(&provider, "a", 1, |_| {});
    let a = agreement(&consumer, &provider, &o, NOW - 19 * DAY, 20 * DAY, GIB);
    let b = agreement(&other, &provider, &o, NOW - 19 * DAY, 20 * DAY, GIB);
    let att = |by: &SecretKey, agr: &Agreement| {
        let w = NOW - 2 * DAY;
        attestation(
            by,
            &provider.public(),
            Some(agr.proposal_id()),
            w,
            w + DAY,
            100,
            100,
            50,
        )
    };
    store
        .apply_batch(
            &[
                o.into(),
                a.clone().into(),
                b.clone().into(),
                att(&consumer, &a).into(),
                att(&other, &b).into(),
            ],
            NOW,
        )
        .unwrap();
    let base = store.reputation(&provider.public(), NOW).score.unwrap();
    assert!(base > 0.9);

    // The consumer of `a` disputes and the arbiter rules for it; the consumer of `b` disputes
    // and the arbiter rules for the provider.
    let dispute = |by: &SecretKey, agr: &Agreement| {
        Signed::sign(
            samples::dispute(by.public(), agr.proposal_id(), NOW - 5),
            by,
        )
        .unwrap()
    };
    let ruling = |d: &Signed<Dispute>, agr: &Agreement, party: Party| {
        let body = samples::ruling(
            arbiter.public(),
            d.id(),
            agr.proposal_id(),
            party,
            0,
            NOW - 4,
        );
        Signed::sign(body, &arbiter).unwrap()
    };
    let (da, db) = (dispute(&consumer, &a), dispute(&other, &b));
    let da_id = da.id();
    let (against, for_provider) = (
        ruling(&da, &a, Party::Consumer),
        ruling(&db, &b, Party::Provider),
    );
    store
        .apply_batch(
            &[
                da.into(),
                db.into(),
                against.clone().into(),
                for_provider.clone().into(),
            ],
            NOW,
        )
        .unwrap();

    // Not trusted as an arbiter: both rulings are listed, the score is as before.
    let e = store.explain(&provider.public(), NOW);
    assert_eq!(e.reputation.score, Some(base));
    assert_eq!(e.ruling_factor, 1.0);
    assert_eq!(e.rulings.len(), 2);
    assert!(
        e.rulings
            .iter()
            .all(|r| r.effect == RulingEffect::Untrusted)
    );

    // Trusted: the ruling for the consumer takes a quarter of the score (fresh), the one for
    // the provider nothing; the explanation says which and why.
    store.set_trust(trust(&[("court", &arbiter, &[Role::Arbiter], &[])]));
    let e = store.explain(&provider.public(), NOW);
    let effect = |id: ObjectId| e.rulings.iter().find(|r| r.id == id).unwrap().effect;
    assert_eq!(effect(against.id()), RulingEffect::Against);
    assert_eq!(effect(for_provider.id()), RulingEffect::InFavour);
    let decay = e
        .rulings
        .iter()
        .find(|r| r.id == against.id())
        .unwrap()
        .decay;
    let factor = 1.0 - RULING_PENALTY * decay;
    assert!(factor < 0.76);
    assert_eq!(e.ruling_factor, factor);
    assert_eq!(e.reputation.score, Some(base * factor));
    assert!(e.to_string().contains("counts against the provider"));

    // A later trusted ruling for the provider on the same agreement supersedes it.
    let later = samples::ruling(
        arbiter.public(),
        da_id,
        a.proposal_id(),
        Party::Provider,
        0,
        NOW - 1,
    );
    let later = Signed::sign(later, &arbiter).unwrap();
    store.apply(&later.clone().into(), NOW).unwrap();
    let e = store.explain(&provider.public(), NOW);
    let effect = |id: ObjectId| e.rulings.iter().find(|r| r.id == id).unwrap().effect;
    assert_eq!(effect(against.id()), RulingEffect::Superseded);
    assert_eq!(effect(later.id()), RulingEffect::InFavour);
    assert_eq!(e.reputation.score, Some(base));
}
