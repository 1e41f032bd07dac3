//! Demands, quotes and deals on real nodes: a consumer's light client, connected only to its
//! own node, makes a 3-replica deal with providers two hops away through `flashback deal
//! make`; providers quote by policy; a provider that rejects and one whose data plane fails
//! verification are replaced; impossible requests and silent markets fail with their reason;
//! a gateway makes the same deal through its node's HTTP API (`POST /api/v1/deals`).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::sync::Arc;

use common::api::{base, get, import_account, post, token, with_api};
use common::{TestNode, cli, eventually, write_key};
use flashback_client::Client;
use flashback_client::deal_service::NodeDeals;
use flashback_node::{NodeBuilder, NodeConfig};
use flashback_types::clock::now;
use flashback_types::{BoundedVec, DataProtocol, GIB, Object, Offer, SecretKey, Signed, samples};
use serde_json::{Value, json};

/// A provider's node serving the blob data plane (`failure_rate` 1.0: a dead plane), with
/// `adjust` applied to its config, bootstrapped to `relay`.
async fn provider(
    relay: &TestNode,
    failure_rate: f64,
    adjust: impl FnOnce(&mut NodeConfig),
) -> TestNode {
    TestNode::start_with(&[relay.addr()], |c| {
        c.blobs.enabled = true;
        c.blobs.failure_rate = failure_rate;
        c.blobs.seed = Some(3);
        adjust(c);
    })
    .await
}

/// Publishes a blob-plane storage offer of `p` at `price` cents per GiB-month in `region`.
async fn offer(p: &TestNode, price: u64, region: &str) -> Signed<Offer> {
    let mut body = samples::offer(p.key.public(), "deal", 1, now());
    body.protocols = BoundedVec::try_from_vec(vec![DataProtocol::FlashbackBlob]).unwrap();
    body.endpoint = p
        .info()
        .blob_endpoint
        .clone()
        .unwrap()
        .as_str()
        .try_into()
        .unwrap();
    body.price.amount = price;
    body.regions = BoundedVec::try_from_vec(vec![region.try_into().unwrap()]).unwrap();
    body.min_duration_secs = 3600;
    let offer = Signed::sign(body, &p.key).unwrap();
    p.node.submit(&Object::Offer(offer.clone())).await;
    offer
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `deal make` of 100 GiB for a day through `node` with `key`, then `extra` (3 replicas
/// unless `extra` names `--replicas`).
async fn deal_make(node: &str, key: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "deal",
        "make",
        "--node",
        node,
        "--key",
        key,
        "--volume",
        "100 GiB",
        "--duration",
        "1d",
        "--window",
        "3s",
        "--decide-within",
        "20s",
        "--json",
    ];
    args.extend_from_slice(extra);
    if !extra.contains(&"--replicas") {
        args.extend_from_slice(&["--replicas", "3"]);
    }
    cli(&args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deal_through_a_demand_ends_with_three_verified_agreements_and_replaces_bad_picks() {
    let consumer = SecretKey::generate();
    // consumer's node — relay — providers: every provider is two hops from the consumer's node.
    let home = TestNode::start(&[]).await;
    let relay = TestNode::start(&[home.addr()]).await;
    let good = [
        provider(&relay, 0.0, |_| {}).await,
        provider(&relay, 0.0, |_| {}).await,
        provider(&relay, 0.0, |_| {}).await,
    ];
    // The cheapest two: one quotes and accepts but its data plane is dead; one quotes but its
    // SLA policy refuses this consumer.
    let dead = provider(&relay, 1.0, |_| {}).await;
    let me = consumer.public();
    let rejecting = provider(&relay, 0.0, |c| c.sla.denied_consumers = vec![me]).await;

    let mut offers = Vec::new();
    for (p, price, region) in [
        (&good[0], 10, "eu-west"),
        (&good[1], 11, "us-east"),
        (&good[2], 12, "ap-south"),
        (&dead, 5, "eu-west"),
        (&rejecting, 6, "us-east"),
    ] {
        offers.push(offer(p, price, region).await);
    }
    for o in &offers {
        eventually("every offer reaches the consumer's node", || async {
            home.holds(o.id())
        })
        .await;
    }

    let dir = tempfile::tempdir().unwrap();
    let key = write_key(dir.path(), "consumer.key", &consumer);
    let out = deal_make(&home.addr(), &key, &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "deal make failed: {stderr}");
    let deal = json(&out);

    // Quotes came back over two hops, from every provider (each policy matches).
    assert_eq!(deal["quotes"], 5, "{deal}");
    let agreements = deal["agreements"].as_array().unwrap();
    assert_eq!(agreements.len(), 3, "{deal}");
    let providers: Vec<&str> = agreements
        .iter()
        .map(|a| a["provider"].as_str().unwrap())
        .collect();
    let (dead_key, rejecting_key) = (
        dead.key.public().to_string(),
        rejecting.key.public().to_string(),
    );
    for g in &good {
        assert!(
            providers.contains(&g.key.public().to_string().as_str()),
            "{deal}"
        );
    }
    assert!(agreements.iter().all(|a| a["quoted"] == true), "{deal}");

    // The bad ones were tried (they were the cheapest), failed for their own reasons, and
    // replaced: the output says why.
    let failures = deal["failures"].as_array().unwrap();
    let failure = |who: &str| {
        failures
            .iter()
            .find(|f| f["provider"] == who)
            .unwrap_or_else(|| panic!("{who} not among the failures: {deal}"))
    };
    let d = failure(&dead_key);
    assert_eq!(d["stage"], "verification", "{deal}");
    assert!(
        d["reason"]
            .as_str()
            .unwrap()
            .contains("data-plane check failed: probe 1 of 3:"),
        "{deal}"
    );
    let r = failure(&rejecting_key);
    assert_eq!(r["stage"], "rejected", "{deal}");
    assert!(
        r["reason"].as_str().unwrap().contains("consumer_denied"),
        "{deal}"
    );
    assert!(stderr.contains("replacing"), "{stderr}");
    // The dead provider's agreement was ended by the consumer, signed.
    assert_eq!(deal["terminated"].as_array().unwrap().len(), 1, "{deal}");
    // 100 GiB for a day at 10, 11 and 12 cents per GiB-month, each rounded up to the cent.
    assert_eq!(deal["total_cost"]["amount"], 34 + 37 + 40, "{deal}");

    // Every node holds every agreement of the deal.
    let ids: Vec<flashback_types::ObjectId> = agreements
        .iter()
        .map(|a| a["agreement_id"].as_str().unwrap().parse().unwrap())
        .collect();
    let everyone: Vec<&TestNode> = [&home, &relay, &dead, &rejecting]
        .into_iter()
        .chain(good.iter())
        .collect();
    for n in &everyone {
        for id in &ids {
            eventually("every agreement in every node's store", || async {
                n.node
                    .store()
                    .agreement_by_proposal(id)
                    .ok()
                    .flatten()
                    .is_some()
            })
            .await;
        }
    }

    // `deal show` lists the deal with its agreements active.
    let shown = cli(&[
        "deal",
        "show",
        "--node",
        &home.addr(),
        "--key",
        &key,
        "--json",
    ])
    .await;
    let shown = json(&shown);
    let first = &shown.as_array().unwrap()[0];
    assert_eq!(first["demand_id"], deal["demand_id"]);
    assert!(
        first["agreements"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "active"),
        "{shown}"
    );

    // And `demand quotes` shows the five quotes the providers signed.
    let demand = deal["demand_id"].as_str().unwrap();
    let quotes = json(&cli(&["demand", "quotes", demand, "--node", &home.addr(), "--json"]).await);
    assert_eq!(quotes.as_array().unwrap().len(), 5, "{quotes}");

    drop(everyone);
    let [g0, g1, g2] = good;
    for n in [home, relay, dead, rejecting, g0, g1, g2] {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impossible_requests_fail_fast_and_a_silent_market_says_so() {
    let home = TestNode::start(&[]).await;
    // Two providers in one region; their nodes quote for nobody.
    let silent = provider(&home, 0.0, |c| c.quotes.enabled = false).await;
    let other = provider(&home, 0.0, |c| c.quotes.enabled = false).await;
    for (p, price) in [(&silent, 10), (&other, 11)] {
        let o = offer(p, price, "eu-west").await;
        eventually("the offer reaches the consumer's node", || async {
            home.holds(o.id())
        })
        .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = write_key(dir.path(), "consumer.key", &SecretKey::generate());
    let node = home.addr();
    let one = ["--replicas", "1"];

    // Verifying with no probe at all is refused, with the range.
    let out = deal_make(&node, &key, &[&one[..], &["--probes", "0"]].concat()).await;
    assert_eq!(out.status.code(), Some(2));
    let err = json(&out);
    assert_eq!(err["error"]["code"], "invalid_input", "{err}");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("--probes") && message.contains("1..=100"),
        "{err}"
    );

    // A budget below the cheapest placement: refused before anything is published.
    let out = deal_make(&node, &key, &[&one[..], &["--budget", "0.01 USD"]].concat()).await;
    assert_eq!(out.status.code(), Some(1));
    let err = json(&out);
    assert_eq!(err["error"]["code"], "infeasible", "{err}");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("budget"),
        "{err}"
    );

    // More regions than the market has.
    let out = deal_make(&node, &key, &["--replicas", "2", "--min-regions", "2"]).await;
    let err = json(&out);
    assert_eq!(err["error"]["code"], "infeasible", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("min_regions"),
        "{err}"
    );

    // A feasible request nobody quotes: its own exit status and code.
    let out = deal_make(&node, &key, &one).await;
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = json(&out);
    assert_eq!(err["error"]["code"], "no_quotes", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no provider quoted"),
        "{err}"
    );

    // Nothing was proposed along the way.
    let client = Client::connect(std::slice::from_ref(&node)).await.unwrap();
    assert!(client.agreements(None).await.unwrap().is_empty());
    client.close().await;
    for n in [silent, other, home] {
        n.node.shutdown().await;
    }
}

/// A consumer's gateway node serving the HTTP API, with the deal service `flashback node run`
/// gives it.
async fn gateway_with_deals() -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let mut config = common::test_config(dir.path(), &[]);
    with_api(&mut config);
    let node = NodeBuilder::new(config, key.clone())
        .deal_service(Arc::new(NodeDeals))
        .start()
        .await
        .expect("node starts");
    TestNode { node, key, dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deal_made_over_http_is_followed_to_three_verified_agreements() {
    let gw = gateway_with_deals().await;
    let good = [
        provider(&gw, 0.0, |_| {}).await,
        provider(&gw, 0.0, |_| {}).await,
        provider(&gw, 0.0, |_| {}).await,
    ];
    for (p, price, region) in [
        (&good[0], 10, "eu-west"),
        (&good[1], 11, "us-east"),
        (&good[2], 12, "ap-south"),
    ] {
        let o = offer(p, price, region).await;
        eventually("every offer reaches the gateway's node", || async {
            gw.holds(o.id())
        })
        .await;
    }
    let consumer = import_account(&gw, "shop").await;

    let (api, tok) = (base(&gw), token(&gw));
    let url = format!("{api}/api/v1/deals");
    let ask = json!({"account": "shop", "volume": 100 * GIB, "duration_secs": 86_400,
                     "replicas": 3, "window_secs": 3, "decide_within_secs": 20});
    let (status, err) = post(&url, None, &ask).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    // A bad body is refused before anything starts, naming the field.
    for (field, value) in [("replicas", json!(0)), ("window_secs", json!(0))] {
        let mut bad = ask.clone();
        bad[field] = value;
        let (status, err) = post(&url, Some(&tok), &bad).await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (400, Some("invalid_input")),
            "{err}"
        );
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{field}: {message}");
    }
    let (status, _) = post(&url, Some(&tok), &json!({"account": "shop"})).await;
    assert_eq!(status, 400);
    let mut stranger = ask.clone();
    stranger["account"] = json!("nobody");
    assert_eq!(post(&url, Some(&tok), &stranger).await.0, 404);
    let (_, listed) = get(&url).await;
    assert_eq!(
        listed,
        json!([]),
        "nothing was started by the refused requests"
    );

    let (status, started) = post(&url, Some(&tok), &ask).await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["state"], "running", "{started}");
    let id = started["deal_id"].as_str().unwrap().to_owned();

    // Follow it to its end, each poll waiting for it (bounded) on the node.
    let deadline = tokio::time::Instant::now() + common::DEADLINE;
    let deal = loop {
        let (status, view) = get(&format!("{url}/{id}?wait_secs=20")).await;
        assert_eq!(status, 200, "{view}");
        if view["state"] != "running" {
            break view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the deal is still running: {view}"
        );
    };
    assert_eq!(deal["state"], "done", "{deal}");
    let agreements = deal["deal"]["agreements"].as_array().unwrap();
    assert_eq!(agreements.len(), 3, "{deal}");
    let mut providers: Vec<&str> = agreements
        .iter()
        .map(|a| a["provider"].as_str().unwrap())
        .collect();
    providers.sort_unstable();
    let mut wanted: Vec<String> = good.iter().map(|g| g.key.public().to_string()).collect();
    wanted.sort_unstable();
    assert_eq!(providers, wanted, "{deal}");
    let costs: u64 = agreements
        .iter()
        .map(|a| a["cost"]["amount"].as_u64().unwrap())
        .sum();
    assert!(costs > 0, "{deal}");
    assert_eq!(deal["deal"]["total_cost"]["amount"], costs, "{deal}");
    assert!(
        deal["deal"]["availability"].as_f64().unwrap() > 0.0,
        "{deal}"
    );
    let verified = deal["progress"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["step"] == "verified")
        .count();
    assert_eq!(
        verified, 3,
        "each agreement was verified on its data plane: {deal}"
    );

    // The node lists the deal, and the agreements are the consumer's on the listing.
    let (_, listed) = get(&url).await;
    assert_eq!(listed[0]["deal_id"], id.as_str(), "{listed}");
    assert_eq!(listed[0]["state"], "done", "{listed}");
    let (_, held) = get(&format!(
        "{api}/api/v1/agreements?party={}",
        consumer.public()
    ))
    .await;
    assert_eq!(held.as_array().map(Vec::len), Some(3), "{held}");
    let (status, _) = get(&format!("{url}/{}", "0".repeat(32))).await;
    assert_eq!(status, 404);

    // As `deal show` does, the deal's agreements carry their status now: one the consumer
    // terminates is shown terminated.
    let ended = agreements[0]["agreement_id"].as_str().unwrap().to_owned();
    let client = Client::connect(&[gw.addr()]).await.unwrap();
    client
        .terminate(&consumer, ended.parse().unwrap(), "moving the data")
        .await
        .unwrap();
    client.close().await;
    eventually("the deal shows the agreement terminated", || async {
        let (_, view) = get(&format!("{url}/{id}")).await;
        view["deal"]["agreements"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["agreement_id"] == ended.as_str() && a["status"] == "terminated")
    })
    .await;

    // Deals in progress show their steps so far; past the cap of deals running at once, the
    // node says so. (Quote windows of ten minutes: these are still running when the test
    // ends, and the node ends them with it.)
    let mut slow = ask.clone();
    slow["window_secs"] = json!(600);
    let mut handles = Vec::new();
    for _ in 0..flashback_node::MAX_RUNNING_DEALS {
        let (status, view) = post(&url, Some(&tok), &slow).await;
        assert_eq!(status, 202, "{view}");
        handles.push(view["deal_id"].as_str().unwrap().to_owned());
    }
    let (status, err) = post(&url, Some(&tok), &slow).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (429, Some("too_many_deals")),
        "{err}"
    );
    eventually("a running deal shows its demand published", || async {
        let (_, view) = get(&format!("{url}/{}", handles[0])).await;
        view["state"] == "running"
            && view["progress"]
                .as_array()
                .is_some_and(|p| p.iter().any(|s| s["step"] == "demand_published"))
    })
    .await;

    // A node started without a deal service says so.
    let plain = TestNode::start_with(&[], with_api).await;
    let (status, err) = post(
        &format!("{}/api/v1/deals", base(&plain)),
        Some(&token(&plain)),
        &ask,
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (501, Some("not_implemented")),
        "{err}"
    );
}
