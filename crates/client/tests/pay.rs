//! Payments between real nodes (two `Node::start` on temp dirs, loopback): a consumer pays per
//! delivered period with vouchers, a provider that missed its SLA gets the documented credit,
//! both nodes compute the same accounts, a consumer that does not pay is refused by a provider
//! with a floor (with the reason), and only a trusted arbiter's ruling changes what is due.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::time::{Duration, Instant};

use flashback_client::settle::{LocalLedger, Settlement};
use flashback_client::{Client, Terms};
use flashback_node::{Node, NodeConfig, edit_trust_file};
use flashback_types::clock::now;
use flashback_types::payments::totals_by_asset;
use flashback_types::samples;
use flashback_types::trust::{Issuer, Role};
use flashback_types::wire::PaymentsReport;
use flashback_types::{
    Decision, GIB, Object, ObjectId, Offer, Party, PriceUnit, RejectReason, SecretKey, Signed,
};

/// 1 GiB for 6 000 s costs 6 000 (ten periods of 600).
const DURATION: u64 = 6_000;

async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn offer(provider: &SecretKey, t: u64) -> Signed<Offer> {
    let mut o = samples::offer(provider.public(), "pay", 1, t);
    // 2 592 000 per GiB-month: one per GiB-second.
    o.price = samples::usd(2_592_000, PriceUnit::GibMonth);
    o.min_duration_secs = 60;
    Signed::sign(o, provider).unwrap()
}

/// `consumer` proposes 1 GiB for `DURATION` starting 5 400 s ago (nine periods delivered);
/// the decision.
async fn propose(
    client: &Client,
    consumer: &SecretKey,
    offer: &Signed<Offer>,
    start: u64,
) -> (ObjectId, Decision) {
    let terms = Terms {
        volume: GIB,
        duration_secs: DURATION,
        start: Some(start),
        decide_within: Duration::from_secs(60),
    };
    let p = client.propose(consumer, offer, terms).await.unwrap();
    let d = client
        .wait_decision(&p, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("decided");
    (p.id(), d.body().decision)
}

async fn report(client: &Client, party: &SecretKey) -> PaymentsReport {
    client.payments(party.public(), None).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_pay_per_period_and_non_payers_are_refused() {
    let (pdir, cdir, ledger_dir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let provider = SecretKey::generate();
    let (good, bad) = (SecretKey::generate(), SecretKey::generate());
    let mut pconfig = NodeConfig::local(pdir.path());
    // Both nodes count the good consumer's measurements in full (their own probing key), so
    // both rate the provider.
    pconfig.store.reputation.own_keys = vec![good.public()];
    pconfig.sla.min_consumer_score_bp = 5_000;
    pconfig.trust.reload_ms = 50;
    let pnode = Node::start(pconfig.clone(), provider.clone())
        .await
        .unwrap();
    let paddr = pnode.info().dial_addr().unwrap().to_owned();
    let mut cconfig = NodeConfig::local(cdir.path());
    cconfig.net.bootstrap = vec![paddr.clone()];
    cconfig.store.reputation.own_keys = vec![good.public()];
    let cnode = Node::start(cconfig, SecretKey::generate()).await.unwrap();
    let caddr = cnode.info().dial_addr().unwrap().to_owned();
    let at_p = Client::connect(std::slice::from_ref(&paddr)).await.unwrap();
    let at_c = Client::connect(std::slice::from_ref(&caddr)).await.unwrap();

    let t = now();
    let start = t - 5_400;
    let o = offer(&provider, t);
    pnode.submit(&Object::Offer(o.clone())).await;
    until("the offer reaches the consumer's node", async || {
        cnode.store().get(&o.id()).unwrap().map(|_| ())
    })
    .await;
    let (good_id, d) = propose(&at_c, &good, &o, start).await;
    assert_eq!(d, Decision::Accept);
    let (bad_id, d) = propose(&at_c, &bad, &o, start).await;
    assert_eq!(d, Decision::Accept);

    // The good consumer measured 97 % in period 2 (agreed 99.9 %): a 25 % credit of its 600.
    let mut att = samples::attestation(
        good.public(),
        provider.public(),
        Some(good_id),
        100,
        97,
        now(),
    );
    att.window_start = start + 1_300;
    att.window_end = start + 1_700;
    let att = Signed::sign(att, &good).unwrap();
    at_c.submit(&Object::QosAttestation(att)).await.unwrap();

    // Both nodes rate the provider from it (it missed the SLA, so compliance is 0).
    for client in [&at_p, &at_c] {
        until("the attestation rates the provider", async || {
            client.reputation(provider.public()).await.unwrap().score
        })
        .await;
    }

    // Nine periods of 600 delivered, less 150: the consumer pays 5 250, once.
    let paid = at_c.pay_due(&good, None).await.unwrap();
    assert_eq!(paid.len(), 1);
    assert_eq!(paid[0].voucher.body().cumulative, 5_250);
    assert_eq!(paid[0].account.credited, 150);
    assert!(at_c.pay_due(&good, None).await.unwrap().is_empty());

    // Both nodes, and the consumer's and provider's views, agree.
    let good_at_c = until("the provider's node has the voucher", async || {
        let c = report(&at_c, &good).await;
        let p = report(&at_p, &good).await;
        (c.accounts == p.accounts && c.accounts.iter().all(|a| a.paid == 5_250)).then_some(c)
    })
    .await;
    let account = &good_at_c.accounts[0];
    assert_eq!(
        (account.due, account.credited, account.outstanding),
        (5_400, 150, 0)
    );
    let revenue = report(&at_p, &provider).await;
    let of_good = revenue
        .accounts
        .iter()
        .find(|a| a.agreement == good_id)
        .unwrap();
    assert_eq!(of_good, account);
    let usd = totals_by_asset(revenue.accounts.iter());
    let usd = &usd["USD"];
    assert_eq!((usd.paid, usd.credited), (5_250, 150));
    assert_eq!(
        usd.outstanding, 5_400,
        "the other consumer owes all nine periods"
    );
    assert_eq!(good_at_c.standing.score_bp, 10_000);

    // The provider redeems the best voucher on the local ledger.
    let ledger = LocalLedger::open(ledger_dir.path()).unwrap();
    let agreement = pnode
        .store()
        .agreement_by_proposal(&good_id)
        .unwrap()
        .unwrap();
    ledger.mint(&good.public(), "USD", 10_000).unwrap();
    ledger.fund(&agreement, 6_000).unwrap();
    let best = pnode.store().best_voucher(&good_id).unwrap().unwrap();
    assert_eq!(ledger.redeem(&agreement, best.encoded()).unwrap(), 5_250);
    assert_eq!(ledger.redeem(&agreement, best.encoded()).unwrap(), 0);
    assert_eq!(ledger.balance(&provider.public(), "USD").unwrap(), 5_250);

    // The consumer that never paid: in arrears, and refused for that reason.
    let standing = report(&at_c, &bad).await.standing;
    assert_eq!((standing.in_arrears, standing.score_bp), (1, 0));
    let (_, d) = propose(&at_c, &bad, &o, now()).await;
    assert_eq!(d, Decision::Reject(RejectReason::ConsumerStanding));
    let (_, d) = propose(&at_c, &good, &o, now()).await;
    assert_eq!(d, Decision::Accept);

    // It disputes; an arbiter rules nothing is due. Only the provider's node trusts it.
    let arbiter = SecretKey::generate();
    edit_trust_file(&pconfig.trust_path(), |t| {
        t.add(
            Issuer::new("court", arbiter.public(), &[Role::Arbiter], &[]).unwrap(),
            false,
        )
    })
    .unwrap();
    let dispute = at_c
        .open_dispute(&bad, bad_id, "the data was never reachable", vec![])
        .await
        .unwrap();
    until("the dispute reaches the provider's node", async || {
        pnode.store().get(&dispute.id()).unwrap().map(|_| ())
    })
    .await;
    at_p.rule(
        &arbiter,
        dispute.id(),
        Party::Consumer,
        0,
        "no service delivered",
    )
    .await
    .unwrap();
    let at_provider = until("the provider's node counts the ruling", async || {
        let r = report(&at_p, &bad).await;
        r.accounts[0].ruling.is_some().then_some(r)
    })
    .await;
    assert_eq!(at_provider.accounts[0].net_due, 0);
    assert_eq!(
        (
            at_provider.standing.score_bp,
            at_provider.standing.disputes_won
        ),
        (10_000, 1)
    );
    let at_consumer = until("the consumer's node holds the ruling", async || {
        let r = report(&at_c, &bad).await;
        (r.accounts[0].untrusted_rulings == 1).then_some(r)
    })
    .await;
    assert_eq!(at_consumer.accounts[0].net_due, 5_400);
    assert_eq!(at_consumer.standing.score_bp, 0);

    // The ruling for the consumer counts against the provider's reputation where the arbiter
    // is trusted, and is listed without effect where it is not.
    let rep_p = at_p.reputation(provider.public()).await.unwrap();
    let rep_c = at_c.reputation(provider.public()).await.unwrap();
    assert_eq!(rep_p.rulings.len(), 1);
    assert_eq!(rep_p.rulings[0].effect.as_str(), "against");
    assert!(rep_p.ruling_factor < 0.76);
    assert_eq!(rep_c.rulings.len(), 1);
    assert_eq!(rep_c.rulings[0].effect.as_str(), "untrusted");
    assert_eq!(rep_c.ruling_factor, 1.0);
    let (score_p, score_c) = (rep_p.score.unwrap(), rep_c.score.unwrap());
    assert!(
        score_p < 0.8 * score_c,
        "the provider's node counts the ruling ({score_p}), the consumer's does not ({score_c})"
    );
    // The provider now accepts it again.
    let (_, d) = propose(&at_c, &bad, &o, now()).await;
    assert_eq!(d, Decision::Accept);

    at_p.close().await;
    at_c.close().await;
    cnode.shutdown().await;
    pnode.shutdown().await;
}
