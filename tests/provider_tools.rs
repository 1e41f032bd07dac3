//! The provider's tools against real nodes: the pricing advisor's figures equal those computed
//! independently from `listing query --json`, it refuses below its minimum, and `offer status`
//! tells which nodes hold an offer's current version.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{TestNode, eventually, run_cli};
use flashback_types::{Object, Offer, SecretKey, Signed};

/// A signed offer of `provider`: `cents` per GiB-month in `region` at `availability_bp`.
fn offer(provider: &SecretKey, region: &str, cents: u64, availability_bp: u16) -> Signed<Offer> {
    common::offer_at(provider, "px", region, cents, availability_bp)
}

/// Nearest rank, written out here so the test does not lean on the code it checks.
fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64) - 1e-9).ceil().max(1.0) as usize;
    sorted[rank - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn price_suggest_percentiles_match_the_listing_and_it_refuses_thin_markets() {
    let node = TestNode::start(&[]).await;
    let keys: Vec<SecretKey> = (0..10).map(|_| SecretKey::generate()).collect();
    // Seven comparable offers in eu-west at 99.9 %, one at 99.0 % (outside the band), two in
    // eu-central (too few there).
    let prices = [90u64, 140, 100, 120, 125, 110, 200];
    let mut offers: Vec<Signed<Offer>> = prices
        .iter()
        .zip(&keys)
        .map(|(&cents, k)| offer(k, "eu-west", cents, 9990))
        .collect();
    offers.push(offer(&keys[7], "eu-west", 10, 9900));
    offers.push(offer(&keys[8], "eu-central", 100, 9990));
    offers.push(offer(&keys[9], "eu-central", 150, 9990));
    for o in &offers {
        node.node.submit(&Object::Offer(o.clone())).await;
    }
    eventually("the node holds every offer", || async {
        offers.iter().all(|o| node.holds(o.id()))
    })
    .await;

    let addr = node.addr();
    let plot = node.dir.path().join("prices.png");
    let plot_arg = plot.to_str().unwrap().to_owned();
    let (listing, advice, thin, human) = tokio::task::spawn_blocking(move || {
        let listing = run_cli(&[
            "listing",
            "query",
            "--node",
            &addr,
            "--region",
            "eu-west",
            "--kind",
            "storage",
            "--min-availability-bp",
            "9980",
            "--json",
        ]);
        let suggest = |region: &str, extra: &[&str]| {
            let mut args = vec![
                "price",
                "suggest",
                "--node",
                &addr,
                "--region",
                region,
                "--availability",
                "99.9",
            ];
            args.extend_from_slice(extra);
            run_cli(&args)
        };
        let advice = suggest("eu-west", &["--price", "1.15 USD", "--json"]);
        let thin = suggest("eu-central", &["--json"]);
        let human = suggest("eu-west", &["--price", "1.15 USD", "--plot", &plot_arg]);
        (listing, advice, thin, human)
    })
    .await
    .unwrap();
    assert!(
        listing.status.success(),
        "{}",
        String::from_utf8_lossy(&listing.stderr)
    );
    assert!(
        advice.status.success(),
        "{}",
        String::from_utf8_lossy(&advice.stderr)
    );

    // Independently: the listing's USD prices in the band (99.8 % to 99.95 %).
    let listed: serde_json::Value = serde_json::from_slice(&listing.stdout).unwrap();
    let mut from_listing: Vec<u64> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| {
            let bp = o["qos"]["availability_bp"].as_u64().unwrap();
            (9980..=9995).contains(&bp) && o["price"]["asset"] == "USD"
        })
        .map(|o| o["price"]["amount"].as_u64().unwrap())
        .collect();
    from_listing.sort_unstable();
    assert_eq!(from_listing.len(), 7);

    let v: serde_json::Value = serde_json::from_slice(&advice.stdout).unwrap();
    let usd = &v["assets"][0];
    assert_eq!(usd["asset"], "USD");
    assert_eq!(usd["offers"], 7);
    for (name, q) in [
        ("p10", 0.10),
        ("p25", 0.25),
        ("p50", 0.50),
        ("p75", 0.75),
        ("p90", 0.90),
    ] {
        let want = nearest_rank(&from_listing, q);
        assert_eq!(usd["unweighted"][name], want, "{name}");
        // No provider is rated: every weight is the same, so weighting changes nothing.
        assert_eq!(usd["weighted"][name], want, "weighted {name}");
    }
    // 1.15 USD: 90, 100, 110 are cheaper; 120, 125, 140, 200 dearer.
    assert_eq!(usd["rank"]["cheaper"], 3);
    assert_eq!(usd["rank"]["dearer"], 4);
    // Three replicas of a typical request: the optimizer picks the three cheapest others
    // unless this offer is cheaper than the third (110).
    assert_eq!(usd["price_to_win"]["outcome"], "at_most");
    assert!(usd["price_to_win"]["amount"].as_u64().unwrap() <= 110);
    assert!(usd["suggestion"].as_u64().is_some());

    // People get the same figures, and the plot.
    let text = String::from_utf8_lossy(&human.stdout);
    eprintln!("{text}");
    assert!(
        human.status.success(),
        "{}",
        String::from_utf8_lossy(&human.stderr)
    );
    assert!(text.contains("7 comparable offers"), "{text}");
    assert!(text.contains("p50 1.20 USD/GiB-month"), "{text}");
    assert_eq!(&std::fs::read(&plot).unwrap()[1..4], b"PNG");

    // Two comparable offers in eu-central: refused, with its code and exit status.
    assert_eq!(
        thin.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&thin.stdout)
    );
    let e: serde_json::Value = serde_json::from_slice(&thin.stdout).unwrap();
    assert_eq!(e["error"]["code"], "too_little_data");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("only 2") && message.contains("at least 5"),
        "{message}"
    );
}

/// One request to a node's admin endpoint; returns the status.
async fn admin(node: &TestNode, method: &str, path: &str, body: &str) -> u16 {
    let token = std::fs::read_to_string(node.dir.path().join(flashback_node::ADMIN_TOKEN)).unwrap();
    let addr = node.info().metrics_addr.unwrap();
    common::http(addr, method, path, &token, body).await.0
}

/// `offer status --json` through `node`.
async fn status(node: &TestNode, offer: &Signed<Offer>) -> serde_json::Value {
    let (addr, id) = (node.addr(), offer.id().to_string());
    let out = tokio::task::spawn_blocking(move || {
        run_cli(&["offer", "status", &id, "--node", &addr, "--json"])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Polls `offer status` until `done` holds for its answer (or the deadline passes).
async fn status_until(
    node: &TestNode,
    offer: &Signed<Offer>,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = std::time::Instant::now();
    loop {
        let v = status(node, offer).await;
        if done(&v) {
            return v;
        }
        assert!(
            start.elapsed() < common::DEADLINE,
            "timed out waiting for: {what}; last: {v}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offer_status_counts_ten_nodes_names_a_partitioned_one_and_sees_it_heal() {
    let with_admin = common::with_admin;
    let hub = TestNode::start_with(&[], with_admin).await;
    let mut others = Vec::new();
    for _ in 0..9 {
        others.push(TestNode::start_with(&[hub.addr()], with_admin).await);
    }
    let peer_ids: Vec<_> = others
        .iter()
        .map(|n| n.node.net().local_peer_id())
        .collect();
    eventually("the hub connects to the nine others", || async {
        let connected = hub.node.net().connected_peers().await.unwrap();
        peer_ids.iter().all(|p| connected.contains(p))
    })
    .await;

    let provider = SecretKey::generate();
    let v1 = offer(&provider, "eu-west", 100, 9990);
    hub.node.submit(&Object::Offer(v1.clone())).await;
    let published = std::time::Instant::now();
    let all = status_until(&hub, &v1, "all ten nodes hold the offer", |v| {
        v["holding"] == 10
    })
    .await;
    eprintln!(
        "all 10 nodes held it {:?} after publishing",
        published.elapsed()
    );
    assert_eq!(all["asked"], 10);
    assert_eq!(all["missing"].as_array().unwrap().len(), 0);
    assert!(all["p50_seen_ms"].as_u64().is_some());

    // Partition the last node: it blocks every other node through its admin endpoint.
    let cut = &others[8];
    let cut_id = peer_ids[8].to_string();
    let everyone: Vec<String> = std::iter::once(hub.node.net().local_peer_id())
        .chain(peer_ids[..8].iter().copied())
        .map(|p| p.to_string())
        .collect();
    for p in &everyone {
        assert_eq!(
            admin(cut, "POST", &format!("/admin/block/{p}"), "").await,
            200
        );
    }
    eventually("the cut node has no connection left", || async {
        cut.node.net().connected_peers().await.unwrap().is_empty()
    })
    .await;

    // A new version: nine nodes get it, the cut one is named missing.
    let mut body = v1.body().clone();
    body.seq = 2;
    body.price.amount = 90;
    let v2 = Signed::sign(body, &provider).unwrap();
    hub.node.submit(&Object::Offer(v2.clone())).await;
    let partitioned = status_until(&hub, &v2, "nine nodes hold the new version", |v| {
        v["holding"] == 9
    })
    .await;
    let missing = partitioned["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{partitioned}");
    assert_eq!(missing[0]["peer_id"], cut_id.as_str());
    assert!(!cut.holds(v2.id()));

    // Heal: the cut node lifts its blocks and dials the hub; the next checks see it hold v2.
    for p in &everyone {
        assert_eq!(
            admin(cut, "POST", &format!("/admin/unblock/{p}"), "").await,
            200
        );
    }
    assert_eq!(admin(cut, "POST", "/admin/dial", &hub.addr()).await, 200);
    let healed = status_until(&hub, &v2, "the healed node holds the new version", |v| {
        v["holding"] == 10
    })
    .await;
    assert_eq!(healed["missing"].as_array().unwrap().len(), 0);
    assert!(cut.holds(v2.id()));

    // Full reach: the hub counts no offer with low reach.
    let (_, metrics) = common::get_metrics(hub.info().metrics_addr.unwrap()).await;
    assert!(
        metrics.contains("flashback_offers_low_reach 0"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offer_status_samples_peers_of_peers_and_pushes_to_those_lacking_it() {
    // a - b - c in a line, no discovery: c is not a's peer, so only the sample beyond a's
    // peers reaches it. c runs without gossip and with a long sync interval; on a loaded
    // machine its first sync round may still bring it the offer before the check, so either
    // outcome below is accepted.
    let no_discovery = |c: &mut flashback_node::NodeConfig| {
        c.net.enable_kad = false;
        c.net.enable_mdns = false;
    };
    let a = &TestNode::start_with(&[], no_discovery).await;
    let b = &TestNode::start_with(&[a.addr()], no_discovery).await;
    let c = &TestNode::start_with(&[b.addr()], |c| {
        no_discovery(c);
        c.net.gossip = false;
        c.sync.interval_secs = 3600;
    })
    .await;
    let c_id = c.node.net().local_peer_id();
    eventually("the line is connected", || async {
        b.node.net().connected_peers().await.unwrap().len() == 2
    })
    .await;
    let provider = SecretKey::generate();
    let o = offer(&provider, "eu-west", 100, 9990);
    a.node.submit(&Object::Offer(o.clone())).await;
    eventually("b holds the offer", || async { b.holds(o.id()) }).await;
    let first = status(a, &o).await;
    let peers = first["reach"]["peers"].as_array().unwrap();
    let at_c = peers
        .iter()
        .find(|p| p["peer_id"] == c_id.to_string().as_str())
        .unwrap_or_else(|| panic!("c is sampled: {first}"));
    assert_eq!(
        at_c["direct"], false,
        "c is a sampled peer of a peer: {first}"
    );
    // Being dialled for the sample, c also runs an anti-entropy round with a, which may bring
    // it the offer first; otherwise the check found it missing and pushed it.
    assert!(
        at_c["held"] == "Current" || (at_c["held"] == "Missing" && at_c["pushed"] == true),
        "{first}"
    );
    assert_eq!(first["sampled"], 1);
    assert_eq!(first["asked"], 3);
    // c holds it now, and the next check counts it.
    assert!(c.holds(o.id()));
    status_until(a, &o, "the next check counts c", |v| v["holding"] == 3).await;

    // With no sample, only peers a is connected to or remembers are asked (c is one now: a
    // dialled it for the sample).
    let (addr, id) = (a.addr(), o.id().to_string());
    let out = tokio::task::spawn_blocking(move || {
        run_cli(&[
            "offer", "status", &id, "--node", &addr, "--sample", "0", "--json",
        ])
    })
    .await
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sampled"], 0, "{v}");
    let peers = v["reach"]["peers"].as_array().unwrap();
    assert!(peers.iter().all(|p| p["direct"] == true), "{v}");
}
