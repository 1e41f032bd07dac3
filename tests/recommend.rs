//! `flashback recommend` against a real node: offers built so that "the cheapest three that
//! pass the filters" break the region cap and a cheaper offer breaks the loss target; the
//! command returns the true optimum and explains the providers it did not pick.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{TestNode, eventually, run_cli};
use flashback_types::{Object, Offer, SecretKey, Signed};

/// A signed offer of `provider`: `cents` per GiB-month in `region` at `availability_bp`.
fn offer(provider: &SecretKey, region: &str, cents: u64, availability_bp: u16) -> Signed<Offer> {
    common::offer_at(provider, "rec", region, cents, availability_bp)
}

/// Submits `offers` to `node` and waits until it holds them all.
async fn publish(node: &TestNode, offers: &[Signed<Offer>]) {
    for o in offers {
        node.node.submit(&Object::Offer(o.clone())).await;
    }
    eventually("the node holds every offer", || async {
        offers.iter().all(|o| node.holds(o.id()))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recommend_returns_the_true_optimum_and_explains_the_cheaper_ones() {
    let node = TestNode::start(&[]).await;
    let keys: Vec<SecretKey> = (0..6).map(|_| SecretKey::generate()).collect();
    // The three cheapest that pass the filters are all in eu-west (cap: 2 per region);
    // E is cheaper than D but its 99.0 % availability breaks the loss target with any two
    // others; F is cheapest of all but priced in euros, G in a region not allowed (the node
    // leaves it out of the listing query).
    let mut euros = offer(&keys[5], "eu-west", 50, 9990).body().clone();
    euros.offer_key = "euros".try_into().unwrap();
    euros.price.asset = "EUR".try_into().unwrap();
    let offers = [
        offer(&keys[0], "eu-west", 100, 9990),    // A
        offer(&keys[1], "eu-west", 101, 9990),    // B
        offer(&keys[2], "eu-west", 102, 9990),    // C
        offer(&keys[3], "eu-central", 150, 9990), // D
        offer(&keys[4], "eu-central", 120, 9900), // E
        Signed::sign(euros, &keys[5]).unwrap(),   // F
        offer(&keys[5], "us-east", 40, 9990),     // G
    ];
    publish(&node, &offers).await;

    let addr = node.addr();
    let base: Vec<String> = [
        "recommend",
        "--node",
        &addr,
        "--volume",
        "1 GiB",
        "--duration",
        "30d",
        "--replicas",
        "3",
        "--min-availability",
        "99",
        "--regions",
        "eu-west,eu-central",
        "--max-per-region",
        "2",
        "--min-regions",
        "2",
        "--loss-target",
        "5e-9",
        "--budget",
        "10 USD",
        "--tolerance",
        "0",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let (c_id, e_id) = (offers[2].id().to_string(), offers[4].id().to_string());
    let (json, why_c, why_e) = tokio::task::spawn_blocking(move || {
        let run = |extra: &[&str]| {
            let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
            args.extend_from_slice(extra);
            run_cli(&args)
        };
        (
            run(&["--json"]),
            run(&["--why", &c_id]),
            run(&["--why", &e_id]),
        )
    })
    .await
    .unwrap();
    for out in [&json, &why_c, &why_e] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The true optimum: A, B and D (3.51 USD), not the cheapest three (A, B, C).
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let picked: Vec<&str> = v["placement"]["picks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["offer"].as_str().unwrap())
        .collect();
    let id = |i: usize| offers[i].id().to_string();
    assert_eq!(picked, vec![id(0), id(1), id(3)]);
    assert_eq!(v["placement"]["total_cost"], 351);
    assert_eq!(v["placement"]["optimum_cost"], 351);
    let loss = v["placement"]["loss_probability"].as_f64().unwrap();
    assert!((loss - 1e-9).abs() < 1e-15, "{loss}");
    let removed = v["removed"].as_array().unwrap();
    assert!(
        removed
            .iter()
            .any(|r| r["rule"] == "asset" && r["count"] == 1),
        "{removed:?}"
    );

    // C: cheaper than D, lost on the region cap; picked at 1.00 USD or less (replacing B).
    let text = String::from_utf8_lossy(&why_c.stdout);
    assert!(text.contains("picks:"), "{text}");
    assert!(
        text.contains("max_per_region: region eu-west already has 2 picks (max 2)"),
        "{text}"
    );
    assert!(
        text.contains("price to win: at most 1.00 USD/GiB-month (now 1.02 USD)"),
        "{text}"
    );

    // E: cheaper than D, lost on the loss target, at any price.
    let text = String::from_utf8_lossy(&why_e.stdout);
    assert!(
        text.contains("loss_target: its availability is 99.00 %"),
        "{text}"
    );
    assert!(text.contains("price to win: none"), "{text}");

    node.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recommend_names_the_rule_that_makes_a_request_impossible() {
    let node = TestNode::start(&[]).await;
    let keys: Vec<SecretKey> = (0..3).map(|_| SecretKey::generate()).collect();
    let offers = [
        offer(&keys[0], "eu-west", 100, 9990),
        offer(&keys[1], "eu-west", 100, 9990),
        offer(&keys[2], "eu-central", 100, 9990),
    ];
    publish(&node, &offers).await;
    let addr = node.addr();
    let out = tokio::task::spawn_blocking(move || {
        run_cli(&[
            "recommend",
            "--node",
            &addr,
            "--volume",
            "1 GiB",
            "--duration",
            "30d",
            "--replicas",
            "3",
            "--min-regions",
            "3",
        ])
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "no placement: min_regions: only 2 distinct regions pass the filters, 3 required"
        ),
        "{stdout}"
    );
    node.node.shutdown().await;
}
