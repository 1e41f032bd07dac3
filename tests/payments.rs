//! Payments through the CLI, as users run it: a provider's node and a consumer's node (real
//! nodes on loopback, real sled), the `flashback` binary as a process. `pay status`, `provider
//! revenue` and `consumer show` print the same amounts for the same agreement (due, credited,
//! earned, paid, outstanding, overdue) at both nodes, and the totals add up. A dispute and a
//! ruling made with the CLI count only at the node that trusts the arbiter, in the amount due
//! and in the provider's reputation `provider show` explains.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::{TestNode, cli, eventually, write_key};
use flashback_client::{Client, Terms};
use flashback_node::{NodeConfig, edit_trust_file};
use flashback_types::clock::now;
use flashback_types::trust::{Issuer, Role};
use flashback_types::{
    Decision, GIB, Object, ObjectId, Offer, PriceUnit, SecretKey, Signed, samples,
};
use serde_json::Value;

/// 1 GiB for 6 000 s costs 6 000 (ten periods of 600).
const DURATION: u64 = 6_000;

async fn json(args: &[&str]) -> Value {
    let out = cli(args).await;
    assert!(
        out.status.success(),
        "flashback {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The amounts of `agreement` in a view's `agreements`.
fn amounts(view: &Value, agreement: &ObjectId) -> [u64; 6] {
    let id = agreement.to_string();
    let a = view["agreements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agreement_id"] == id.as_str())
        .unwrap_or_else(|| panic!("agreement {id} in {view:#}"));
    [
        "due",
        "credited",
        "net_due",
        "paid",
        "outstanding",
        "overdue",
    ]
    .map(|field| {
        a[field]
            .as_u64()
            .unwrap_or_else(|| panic!("{field} in {a}"))
    })
}

/// `consumer` proposes 1 GiB for `DURATION` starting 5 400 s ago (nine periods delivered).
async fn agree(client: &Client, consumer: &SecretKey, offer: &Signed<Offer>) -> ObjectId {
    let terms = Terms {
        volume: GIB,
        duration_secs: DURATION,
        start: Some(now() - 5_400),
        decide_within: Duration::from_secs(60),
    };
    let p = client.propose(consumer, offer, terms).await.unwrap();
    let d = client
        .wait_decision(&p, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("decided");
    assert_eq!(d.body().decision, Decision::Accept);
    p.id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pay_status_provider_revenue_and_consumer_show_agree_at_both_nodes() {
    let provider_key = SecretKey::generate();
    let provider = TestNode::start_keyed(&[], provider_key.clone(), |c| {
        c.trust.reload_ms = 50;
    })
    .await;
    let home = TestNode::start(&[provider.addr()]).await;
    let dir = tempfile::tempdir().unwrap();
    let (payer, debtor) = (SecretKey::generate(), SecretKey::generate());
    let payer_file = write_key(dir.path(), "payer.key", &payer);
    let debtor_file = write_key(dir.path(), "debtor.key", &debtor);
    let arbiter = SecretKey::generate();
    let arbiter_file = write_key(dir.path(), "arbiter.key", &arbiter);

    let mut o = samples::offer(provider_key.public(), "pay", 1, now());
    // 2 592 000 per GiB-month: one per GiB-second.
    o.price = samples::usd(2_592_000, PriceUnit::GibMonth);
    o.min_duration_secs = 60;
    let o = Signed::sign(o, &provider_key).unwrap();
    provider.node.submit(&Object::Offer(o.clone())).await;
    eventually("the offer reaches the consumer's node", || async {
        home.holds(o.id())
    })
    .await;
    let client = Client::connect(&[home.addr()]).await.unwrap();
    let paid_id = agree(&client, &payer, &o).await;
    let unpaid_id = agree(&client, &debtor, &o).await;

    // The payer measured 97 % in period 2 (agreed 99.9 %): a 25 % credit of its 600.
    let mut att = samples::attestation(
        payer.public(),
        provider_key.public(),
        Some(paid_id),
        100,
        97,
        now(),
    );
    let start = now() - 5_400;
    att.window_start = start + 1_300;
    att.window_end = start + 1_700;
    let att = Signed::sign(att, &payer).unwrap();
    client.submit(&Object::QosAttestation(att)).await.unwrap();
    client.close().await;

    // `pay run` pays nine periods less the credit.
    let (home_addr, provider_addr) = (home.addr(), provider.addr());
    let run = json(&[
        "pay",
        "run",
        "--key",
        &payer_file,
        "--node",
        &home_addr,
        "--json",
    ])
    .await;
    assert_eq!(run["paid"][0]["cumulative"], 5_250, "{run:#}");
    assert_eq!(run["paid"][0]["agreement_id"], paid_id.to_string());
    let mut printed = vec![run.to_string()];

    let (payer_key, debtor_key) = (payer.public().to_string(), debtor.public().to_string());
    let provider_pub = provider_key.public().to_string();
    let mut views = Vec::new();
    for node in [&home_addr, &provider_addr] {
        // The voucher travels to the provider's node by gossip.
        let deadline = Instant::now() + common::DEADLINE;
        let status = loop {
            let status = json(&[
                "pay", "status", "--key", &payer_key, "--node", node, "--json",
            ])
            .await;
            if amounts(&status, &paid_id)[3] == 5_250 {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "no voucher at {node}: {status:#}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let revenue = json(&[
            "provider",
            "revenue",
            &provider_pub,
            "--node",
            node,
            "--json",
        ])
        .await;
        let payer_shown = json(&["consumer", "show", &payer_key, "--node", node, "--json"]).await;
        let debtor_shown = json(&["consumer", "show", &debtor_key, "--node", node, "--json"]).await;
        let debtor_status = json(&[
            "pay",
            "status",
            "--key",
            &debtor_key,
            "--node",
            node,
            "--json",
        ])
        .await;

        // One agreement, three commands, the same amounts.
        let paid = amounts(&status, &paid_id);
        assert_eq!(paid, [5_400, 150, 5_250, 5_250, 0, 0], "{status:#}");
        assert_eq!(amounts(&revenue, &paid_id), paid, "{revenue:#}");
        assert_eq!(amounts(&payer_shown, &paid_id), paid, "{payer_shown:#}");
        let unpaid = amounts(&debtor_status, &unpaid_id);
        assert_eq!(
            &unpaid[..5],
            &[5_400, 0, 5_400, 0, 5_400],
            "{debtor_status:#}"
        );
        assert!(unpaid[5] > 0, "overdue: {debtor_status:#}");
        assert_eq!(amounts(&revenue, &unpaid_id), unpaid, "{revenue:#}");
        assert_eq!(amounts(&debtor_shown, &unpaid_id), unpaid);

        // The revenue's totals are the sum of its agreements, in USD only.
        let usd = &revenue["by_asset"][0];
        assert_eq!(revenue["by_asset"].as_array().unwrap().len(), 1);
        assert_eq!(usd["asset"], "USD");
        assert_eq!(usd["due"], 10_800);
        assert_eq!(usd["credited"], 150);
        assert_eq!(usd["earned"], 10_650);
        assert_eq!(usd["paid"], 5_250);
        assert_eq!(usd["outstanding"], 5_400);

        // Standing: shown the same by `pay status` and `consumer show`.
        assert_eq!(status["standing"], payer_shown["standing"]);
        assert_eq!(payer_shown["standing"]["score_bp"], 10_000);
        assert_eq!(debtor_shown["standing"]["in_arrears"], 1);
        assert_eq!(debtor_shown["standing"]["score_bp"], 0);
        views.push((paid, unpaid, revenue["by_asset"].clone()));
        for v in [&status, &revenue, &payer_shown] {
            printed.push(v.to_string());
        }
    }
    // Both nodes computed the same.
    assert_eq!(views[0], views[1]);
    // No secret in any output: the payer's secret seed appears nowhere.
    let seed: String = payer.to_seed().iter().map(|b| format!("{b:02x}")).collect();
    assert!(printed.iter().all(|p| !p.contains(&seed)));

    // The debtor disputes; an arbiter only the provider's node trusts rules for it, nothing due.
    let dispute = json(&[
        "dispute",
        "open",
        &unpaid_id.to_string(),
        "--key",
        &debtor_file,
        "--claim",
        "the data was never reachable",
        "--node",
        &home_addr,
        "--json",
    ])
    .await;
    assert_eq!(
        dispute["agreement_id"],
        unpaid_id.to_string(),
        "{dispute:#}"
    );
    assert_eq!(dispute["party"], debtor_key.as_str());
    let dispute_id = dispute["dispute_id"].as_str().unwrap().to_owned();
    edit_trust_file(&NodeConfig::local(provider.dir.path()).trust_path(), |t| {
        t.add(
            Issuer::new("court", arbiter.public(), &[Role::Arbiter], &[]).unwrap(),
            false,
        )
    })
    .unwrap();
    eventually("the dispute reaches the provider's node", || async {
        provider.holds(dispute_id.parse().unwrap())
    })
    .await;
    let ruling = json(&[
        "arbiter",
        "rule",
        &dispute_id,
        "--key",
        &arbiter_file,
        "--favour",
        "consumer",
        "--amount-due",
        "0",
        "--reason",
        "no service delivered",
        "--node",
        &provider_addr,
        "--json",
    ])
    .await;
    assert_eq!(ruling["in_favour_of"], "consumer", "{ruling:#}");
    assert_eq!(ruling["amount_due"], 0);
    let ruling_id = ruling["ruling_id"].as_str().unwrap().to_owned();

    // Where the arbiter is trusted: nothing due, and the ruling counts against the provider.
    let shown_at = |node: String| {
        let provider_pub = provider_pub.clone();
        async move { json(&["provider", "show", &provider_pub, "--node", &node, "--json"]).await }
    };
    let deadline = Instant::now() + common::DEADLINE;
    let at_provider = loop {
        let shown = shown_at(provider_addr.clone()).await;
        if shown["reputation"]["rulings"][0]["effect"] == "against" {
            break shown;
        }
        assert!(Instant::now() < deadline, "ruling not counted: {shown:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let counted = &at_provider["reputation"]["rulings"][0];
    assert_eq!(counted["id"], ruling_id.as_str());
    assert!(counted["factor"].as_f64().unwrap() < 0.76, "{counted}");
    let human = cli(&["provider", "show", &provider_pub, "--node", &provider_addr]).await;
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(
        human.contains("rulings: 1") && human.contains("counts against the provider"),
        "{human}"
    );
    let debtor_at_provider = json(&[
        "consumer",
        "show",
        &debtor_key,
        "--node",
        &provider_addr,
        "--json",
    ])
    .await;
    assert_eq!(amounts(&debtor_at_provider, &unpaid_id)[2], 0);
    assert_eq!(debtor_at_provider["standing"]["disputes_won"], 1);

    // Where it is not: listed without effect, the amount due unchanged.
    let deadline = Instant::now() + common::DEADLINE;
    let at_home = loop {
        let shown = shown_at(home_addr.clone()).await;
        if shown["reputation"]["rulings"][0]["effect"] == "untrusted" {
            break shown;
        }
        assert!(Instant::now() < deadline, "ruling not held: {shown:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(at_home["reputation"]["ruling_factor"], 1.0);
    let debtor_at_home = json(&[
        "consumer",
        "show",
        &debtor_key,
        "--node",
        &home_addr,
        "--json",
    ])
    .await;
    assert_eq!(amounts(&debtor_at_home, &unpaid_id)[2], 5_400);
    assert_eq!(debtor_at_home["standing"]["disputes_won"], 0);

    home.node.shutdown().await;
    provider.node.shutdown().await;
}
