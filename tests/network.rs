//! End-to-end network behaviour: real nodes on loopback TCP, real sled stores in temp dirs.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{DEADLINE, TestNode, cli_stdout, eventually, line};

use flashback_client::Client;
use flashback_net::{NetConfig, NetEvent};
use flashback_node::{Verdict, prometheus};
use flashback_store::{Applied, Store, StoreConfig};
use flashback_types::clock::now;
use flashback_types::protocol::Topic;
use flashback_types::{Object, Offer, OfferQuery, Rule, SecretKey, Signed, samples};
use tokio::sync::broadcast;

fn offer(key: &SecretKey, offer_key: &str, seq: u64) -> Signed<Offer> {
    Signed::sign(samples::offer(key.public(), offer_key, seq, now()), key).expect("valid offer")
}

/// What a node's listing answers for one provider's offers right now.
fn live_offers(node: &TestNode, provider: &SecretKey) -> Vec<Signed<Offer>> {
    node.node
        .store()
        .query_offers(
            &OfferQuery {
                provider: Some(provider.public()),
                ..OfferQuery::default()
            },
            now(),
        )
        .expect("query")
        .offers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offer_published_at_one_end_of_a_line_reaches_the_other() {
    let nodes = line(5).await;
    let provider = SecretKey::generate();
    let signed = offer(&provider, "line", 1);

    // Through the light client, as a provider would.
    let client = Client::connect(&[nodes[0].addr()])
        .await
        .expect("client connects");
    let submitted = client
        .submit(&Object::Offer(signed.clone()))
        .await
        .expect("node 1 accepts the offer");
    assert_eq!(submitted.id, signed.id());
    client.close().await;

    eventually("the offer reaches node 5", || async {
        nodes[4].holds(signed.id())
    })
    .await;

    // The CLI, as a consumer would, against node 5: the offer is printed after verification.
    let addr = nodes[4].addr();
    let json = cli_stdout(&["listing", "query", "--node", &addr, "--json"]).await;
    let listed: serde_json::Value = serde_json::from_str(&json).unwrap();
    let first = &listed.as_array().expect("an array")[0];
    assert_eq!(first["id"], signed.id().to_string());
    assert_eq!(first["provider"], provider.public().to_string());
    assert_eq!(first["offer_key"], "line");
    assert_eq!(first["seq"], 1);
    assert_eq!(first["price"]["asset"], "USD");
    assert_eq!(first["price"]["amount"], 120);

    // Without --json: a header and one row, the price in dollars (120 cents), not in cents.
    let table = cli_stdout(&["listing", "query", "--node", &addr]).await;
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{table}");
    assert!(rows[0].starts_with(&signed.id().fmt_short()), "{table}");
    assert!(rows[0].contains(" line "), "{table}");
    assert!(rows[0].contains("1.20 USD/GiB-month"), "{table}");

    for n in nodes {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_node_catches_up_through_sync_and_digests_converge() {
    let nodes = line(3).await;
    let provider = SecretKey::generate();
    let mut ids = Vec::new();
    for i in 0..200 {
        let o = offer(&provider, &format!("bulk-{i}"), 1);
        ids.push(o.id());
        let verdict = nodes[0].node.submit(&Object::Offer(o)).await;
        assert!(
            matches!(verdict, flashback_node::Verdict::Stored(_)),
            "{verdict:?}"
        );
    }
    for n in &nodes {
        eventually("every early node holds the 200 offers", || async {
            ids.iter()
                .all(|id| n.node.store().get(id).ok().flatten().is_some())
        })
        .await;
    }

    // Gossip is over; only anti-entropy can bring the late node up to date.
    let late = TestNode::start(&[nodes[2].addr()]).await;
    eventually("the late node holds all 200 offers", || async {
        ids.iter()
            .all(|id| late.node.store().get(id).ok().flatten().is_some())
    })
    .await;

    let digest = late.node.store().listing_digest();
    for n in &nodes {
        assert_eq!(n.node.store().listing_digest(), digest);
    }
    late.node.shutdown().await;
    for n in nodes {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forging_peer_is_not_believed_not_relayed_and_loses_score() {
    let a = forging_peer_case(|_| {}).await;
    // A judged the gossip on its network task as it arrived.
    assert!(judged(&a, "network_task") > 0);
    a.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_validation_pipeline_alone_also_stops_a_forging_peer() {
    let a = forging_peer_case(|c| c.pipeline.inline_percent = 0).await;
    assert!(judged(&a, "pipeline") > 0);
    assert_eq!(judged(&a, "network_task"), 0);
    a.node.shutdown().await;
}

/// Gossip messages `node` judged `on` the network task or in the pipeline, from its metrics.
fn judged(node: &TestNode, on: &str) -> u64 {
    let label = format!("flashback_gossip_judged_total{{on=\"{on}\"}} ");
    node.node
        .encode_metrics()
        .lines()
        .find_map(|line| line.strip_prefix(&label)?.parse().ok())
        .unwrap_or(0)
}

/// `flashback_objects_total` of `node` for one kind, outcome and verdict.
fn objects(node: &TestNode, kind: &str, outcome: &str, verdict: &str) -> f64 {
    prometheus::sum(
        &node.node.encode_metrics(),
        "flashback_objects_total",
        &[("kind", kind), ("outcome", outcome), ("verdict", verdict)],
    )
}

/// A raw libp2p peer M (plain `flashback_net`, no node behind it) bootstrapped to `a`, once
/// `a` is in M's mesh on `topic`: M and its key.
async fn raw_peer_in_mesh(a: &TestNode, topic: Topic) -> (flashback_net::NetHandle, SecretKey) {
    let m_key = SecretKey::generate();
    let config = NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        bootstrap: vec![a.addr()],
        gossip_heartbeat_ms: 100,
        ..NetConfig::default()
    };
    let (m, mut m_events) = flashback_net::NetBuilder::new(m_key.to_libp2p_keypair(), config)
        .spawn()
        .await
        .expect("test peer starts");
    tokio::spawn(async move { while m_events.recv().await.is_some() {} });
    let a_peer = a.node.net().local_peer_id();
    eventually(&format!("M is in A's mesh on {}", topic.name()), || async {
        m.mesh_peers(topic.name())
            .await
            .map(|p| p.contains(&a_peer))
            .unwrap_or(false)
    })
    .await;
    (m, m_key)
}

/// Honest A — honest B, and a raw libp2p peer M connected to A only, which gossips forged
/// offers. A is configured by `adjust`. Returns A, still running.
async fn forging_peer_case(adjust: impl FnOnce(&mut flashback_node::NodeConfig)) -> TestNode {
    let a = TestNode::start_with(&[], adjust).await;
    let b = TestNode::start(&[a.addr()]).await;
    let (m, m_key) = raw_peer_in_mesh(&a, Topic::Offers).await;
    let m_peer = m.local_peer_id();

    // M relays offers signed by a key that is not the provider's.
    let victim = SecretKey::generate();
    let mut forged_ids = Vec::new();
    for i in 0..10 {
        let forged = Signed::sign_unchecked(
            samples::offer(victim.public(), &format!("f{i}"), 1, now()),
            &m_key,
        );
        forged_ids.push(forged.id());
        m.publish(Topic::Offers.name(), forged.encoded().to_vec())
            .await
            .expect("publish");
    }
    eventually("A lowers M's score below zero", || async {
        a.node
            .net()
            .peer_score(m_peer)
            .await
            .ok()
            .flatten()
            .is_some_and(|s| s < 0.0)
    })
    .await;

    // The path M → A → B works for honest objects, so B's silence about the forgeries means
    // they were not forwarded.
    let honest = offer(&SecretKey::generate(), "honest", 1);
    a.node.submit(&Object::Offer(honest.clone())).await;
    eventually("B receives an honest offer through A", || async {
        b.holds(honest.id())
    })
    .await;
    for id in forged_ids {
        assert!(!a.holds(id), "A stored a forgery");
        assert!(!b.holds(id), "B received a forgery");
    }
    // The metrics name what each refused message was: its tag says it is an offer. (The
    // count is taken after the verdict reaches gossipsub, so it may trail the score.)
    eventually("A counts the forgeries as refused offers", || async {
        objects(&a, "offer", "signer_mismatch", "reject") >= 1.0
    })
    .await;
    assert_eq!(objects(&a, "unknown", "signer_mismatch", "reject"), 0.0);

    let _ = m.shutdown().await;
    b.node.shutdown().await;
    a
}

/// A raw libp2p peer M connected to node A gossips valid, correctly signed offers on the
/// demands topic: A refuses each with `wrong_topic` (rule 19, `Reject`) before decoding it,
/// counts it under that rule in `flashback_objects_total`, stores none and lowers M's score.
/// (Once M's score is low enough A may drop its messages uncounted: at least one is counted.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_on_another_kinds_topic_is_refused_as_wrong_topic() {
    let a = TestNode::start(&[]).await;
    let (m, _) = raw_peer_in_mesh(&a, Topic::Demands).await;
    let m_peer = m.local_peer_id();

    // Offers signed by their own provider: each would be stored if it came on the offers topic.
    let provider = SecretKey::generate();
    let mut sent = Vec::new();
    for i in 0..10 {
        let o = offer(&provider, &format!("misrouted-{i}"), 1);
        sent.push(o.id());
        m.publish(Topic::Demands.name(), o.encoded().to_vec())
            .await
            .expect("publish");
    }

    // The rule the message broke, as its number in `SubmitResponse::Refused` and its label.
    assert_eq!(Rule::ALL[19], Rule::WrongTopic);
    let rule = Rule::WrongTopic.name();
    assert_eq!(rule, "wrong_topic");
    eventually("A counts the misrouted offers as wrong_topic", || async {
        objects(&a, "offer", rule, "reject") >= 1.0
    })
    .await;
    eventually("A lowers M's score below zero", || async {
        a.node
            .net()
            .peer_score(m_peer)
            .await
            .ok()
            .flatten()
            .is_some_and(|s| s < 0.0)
    })
    .await;
    for id in sent {
        assert!(
            !a.holds(id),
            "A stored an offer that came on the demands topic"
        );
    }
    assert!(live_offers(&a, &provider).is_empty());
    assert_eq!(objects(&a, "offer", "accepted", "accept"), 0.0);

    let _ = m.shutdown().await;
    a.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn supersede_withdraw_and_expiry_reach_every_node() {
    let nodes = line(4).await;
    let provider = SecretKey::generate();
    let everywhere = |want: Option<u64>| {
        let nodes = &nodes;
        let provider = &provider;
        async move {
            nodes.iter().all(|n| {
                let live = live_offers(n, provider);
                match want {
                    Some(seq) => live.len() == 1 && live[0].body().seq == seq,
                    None => live.is_empty(),
                }
            })
        }
    };

    let v1 = offer(&provider, "evolving", 1);
    nodes[0].node.submit(&Object::Offer(v1)).await;
    eventually("seq 1 everywhere", || everywhere(Some(1))).await;

    let v2 = offer(&provider, "evolving", 2);
    nodes[3].node.submit(&Object::Offer(v2)).await;
    eventually("seq 2 supersedes seq 1 everywhere", || everywhere(Some(2))).await;

    let mut tombstone = samples::offer(provider.public(), "evolving", 3, now());
    tombstone.withdrawn = true;
    let tombstone = Signed::sign(tombstone, &provider).unwrap();
    nodes[1]
        .node
        .submit(&Object::Offer(tombstone.clone()))
        .await;
    eventually("the withdrawal reaches every node", || async {
        nodes.iter().all(|n| {
            n.node.store().get(&tombstone.id()).ok().flatten().is_some()
                && live_offers(n, &provider).is_empty()
        })
    })
    .await;

    // An offer that expires in a few seconds: present everywhere, then gone everywhere.
    let short_lived_key = SecretKey::generate();
    let mut body = samples::offer(short_lived_key.public(), "brief", 1, now());
    body.expires_at = now() + 4;
    let brief = Signed::sign(body, &short_lived_key).unwrap();
    nodes[0].node.submit(&Object::Offer(brief.clone())).await;
    eventually("the short-lived offer is listed everywhere", || async {
        nodes
            .iter()
            .all(|n| live_offers(n, &short_lived_key).len() == 1)
    })
    .await;
    eventually("the expired offer leaves every listing", || async {
        nodes
            .iter()
            .all(|n| live_offers(n, &short_lived_key).is_empty())
    })
    .await;

    for n in nodes {
        n.node.shutdown().await;
    }
}

/// Submitting through a light client: a new offer is accepted and spreads; the same offer again
/// is a duplicate; a different offer under the same `seq` is refused as an equivocation, and
/// the evidence against the provider reaches the other node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubmits_are_duplicates_and_a_second_version_of_a_seq_is_equivocation() {
    let nodes = line(2).await;
    let provider = SecretKey::generate();
    let first = offer(&provider, "twice", 1);
    let client = Client::connect(&[nodes[0].addr()]).await.unwrap();

    let submitted = client.submit(&Object::Offer(first.clone())).await.unwrap();
    assert_eq!((submitted.id, submitted.duplicate), (first.id(), false));
    eventually("the offer reaches the other node", || async {
        nodes[1].holds(first.id())
    })
    .await;

    let again = client.submit(&Object::Offer(first.clone())).await.unwrap();
    assert_eq!((again.id, again.duplicate), (first.id(), true));

    let mut body = samples::offer(provider.public(), "twice", 1, now());
    body.price.amount += 1;
    let second = Signed::sign(body, &provider).unwrap();
    match client.submit(&Object::Offer(second)).await {
        Err(flashback_client::ClientError::Refused { rule, .. }) => {
            assert_eq!(rule, flashback_types::Rule::Equivocation);
        }
        other => panic!("a second version of seq 1 must be refused, got {other:?}"),
    }
    client.close().await;
    eventually("the evidence reaches the other node", || async {
        nodes[1].node.store().is_flagged(&provider.public())
    })
    .await;
    // The first version stays listed where it was.
    assert_eq!(live_offers(&nodes[0], &provider).len(), 1);

    for n in nodes {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_gossip_never_reaches_the_events_of_a_second_hop() {
    // A raw peer listening behind an honest node sees honest gossip but never a forgery.
    let a = TestNode::start(&[]).await;
    let config = NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        bootstrap: vec![a.addr()],
        gossip_heartbeat_ms: 100,
        ..NetConfig::default()
    };
    let (watcher, mut events) =
        flashback_net::NetBuilder::new(SecretKey::generate().to_libp2p_keypair(), config)
            .spawn()
            .await
            .unwrap();
    let a_peer = a.node.net().local_peer_id();
    eventually("watcher in A's mesh", || async {
        watcher
            .mesh_peers(Topic::Offers.name())
            .await
            .map(|p| p.contains(&a_peer))
            .unwrap_or(false)
    })
    .await;
    let key = SecretKey::generate();
    let good = offer(&key, "g", 1);
    let mut bad = good.encoded().to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    // The forgery goes in first; the honest one after it.
    let bad_verdict = a.node.submit_bytes(bad.clone()).await;
    assert!(matches!(bad_verdict, flashback_node::Verdict::Invalid(..)));
    a.node.submit(&Object::Offer(good.clone())).await;
    let received = tokio::time::timeout(common::DEADLINE, async {
        loop {
            if let Some(NetEvent::Gossip { data, .. }) = events.recv().await {
                return data;
            }
        }
    })
    .await
    .expect("the honest offer arrives");
    assert_eq!(received, good.encoded());
    let _ = watcher.shutdown().await;
    a.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_serves_libp2p_and_node_counters() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path(), &[]);
    config.metrics.enabled = true;
    config.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    let node = flashback_node::Node::start(config, SecretKey::generate())
        .await
        .unwrap();
    let addr = node
        .info()
        .metrics_addr
        .expect("metrics address in node info");
    let key = SecretKey::generate();
    node.submit(&Object::Offer(offer(&key, "m", 1))).await;
    let mut forged = offer(&key, "m2", 1).encoded().to_vec();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    node.submit_bytes(forged).await;

    let (status, body) = common::get_metrics(addr).await;
    assert_eq!(status, 200, "{body}");
    let objects =
        |labels: &[(&str, &str)]| prometheus::sum(&body, "flashback_objects_total", labels);
    assert_eq!(
        objects(&[
            ("kind", "offer"),
            ("outcome", "accepted"),
            ("verdict", "accept")
        ]),
        1.0,
        "{body}"
    );
    // Refused, but known to be an offer: its kind is in the label.
    assert_eq!(
        objects(&[
            ("kind", "offer"),
            ("outcome", "bad_signature"),
            ("verdict", "reject")
        ]),
        1.0,
        "{body}"
    );
    assert!(body.contains("libp2p_"), "libp2p metrics missing");
    node.shutdown().await;
}

/// Gossip is relayed and listed before it is durable (group commit), and a node that stops
/// flushes what it had listed: a clean shutdown loses nothing it relayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_is_listed_before_the_group_flush_and_shutdown_flushes_it() {
    let a = TestNode::start(&[]).await;
    let b = TestNode::start_with(&[a.addr()], |c| {
        // Nothing but a shutdown can end this group commit within the test.
        c.pipeline.flush_delay_ms = 3_600_000;
        c.sync.interval_secs = 3_600;
    })
    .await;
    let b_peer = b.node.net().local_peer_id();
    eventually("B joins A's offers mesh", || async {
        a.node
            .net()
            .mesh_peers(Topic::Offers.name())
            .await
            .unwrap_or_default()
            .contains(&b_peer)
    })
    .await;
    let mut listed = b.node.subscribe_listed();
    let mut applied = b.node.subscribe_applied();

    let signed = offer(&SecretKey::generate(), "group-commit", 1);
    let verdict = a.node.submit(&Object::Offer(signed.clone())).await;
    assert!(
        matches!(verdict, Verdict::Stored(Applied::Applied)),
        "{verdict:?}"
    );
    let got = tokio::time::timeout(DEADLINE, listed.recv())
        .await
        .expect("B lists the offer in time")
        .expect("listed channel open");
    assert_eq!(got.object.id(), signed.id());
    // Queries see it at once; it is not durable yet.
    assert!(b.holds(signed.id()));
    assert!(matches!(
        applied.try_recv(),
        Err(broadcast::error::TryRecvError::Empty)
    ));

    let TestNode { node, dir, .. } = b;
    node.shutdown().await;
    let durable = applied
        .recv()
        .await
        .expect("the shutdown made the listed offer durable");
    assert_eq!(durable.id(), signed.id());
    let store = Store::open(dir.path().join("store"), StoreConfig::default()).unwrap();
    assert!(store.get(&signed.id()).unwrap().is_some());
    a.node.shutdown().await;
}
