//! Gossip over real swarms on loopback TCP.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use flashback_net::{
    GossipValidator, Judged, Keypair, MessageId32, NetBuilder, NetConfig, Validation,
};
use flashback_types::protocol::Topic;

/// Kademlia would let C discover and dial A, breaking the line topology these tests need.
fn line_config() -> NetConfig {
    NetConfig {
        enable_kad: false,
        ..tcp_config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_gossip_with_blake3_message_id() {
    let a = start(tcp_config()).await;
    let mut b = start(bootstrap_to(tcp_config(), &[&a])).await;
    wait_for_mesh(&a, Topic::Offers.name(), &[b.peer_id()]).await;

    let data = b"a signed offer, opaque to the network".to_vec();
    let id = a
        .net
        .publish(Topic::Offers.name(), data.clone())
        .await
        .expect("publish");
    assert_eq!(id.as_bytes(), blake3::hash(&data).as_bytes());

    let (topic, got, msg_id, source) = next_gossip(&mut b.events).await;
    assert_eq!(topic, Topic::Offers.name());
    assert_eq!(got, data);
    assert_eq!(msg_id, id);
    assert_eq!(msg_id, MessageId32::of(&data));
    assert_eq!(source, a.peer_id());
    assert!(
        b.net
            .report_validation(msg_id, source, Validation::Accept)
            .await
            .expect("report"),
        "the message waits in the cache for our verdict"
    );

    // Publishing the same bytes again is not an error: the network already has them.
    assert_eq!(
        a.net
            .publish(Topic::Offers.name(), data)
            .await
            .expect("duplicate"),
        id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_without_subscribed_peers_is_insufficient_peers() {
    let a = start(tcp_config()).await;
    let err = a
        .net
        .publish(Topic::Certs.name(), b"nobody listens".to_vec())
        .await
        .expect_err("no peers");
    assert!(
        matches!(err, flashback_net::NetError::InsufficientPeers { .. }),
        "{err}"
    );
    let err = a
        .net
        .publish("flashback/1/typo", b"x".to_vec())
        .await
        .expect_err("unknown topic");
    assert!(
        matches!(err, flashback_net::NetError::UnknownTopic { .. }),
        "{err}"
    );
    let too_big = vec![0; tcp_config().max_gossip_payload() + 1];
    let err = a
        .net
        .publish(Topic::Offers.name(), too_big)
        .await
        .expect_err("too big");
    assert!(
        matches!(err, flashback_net::NetError::MessageTooLarge { .. }),
        "{err}"
    );
}

/// `peer`'s gossipsub score at `node`.
async fn score_at(node: &Node, peer: &Node) -> f64 {
    node.net
        .peer_score(peer.peer_id())
        .await
        .expect("score")
        .expect("scoring is on")
}

/// A – B – C in a line: B is the only way from A to C.
async fn line() -> (Node, Node, Node) {
    let a = start(line_config()).await;
    let b = start(bootstrap_to(line_config(), &[&a])).await;
    let c = start(bootstrap_to(line_config(), &[&b])).await;
    wait_for_mesh(&a, Topic::Offers.name(), &[b.peer_id()]).await;
    wait_for_mesh(&b, Topic::Offers.name(), &[a.peer_id(), c.peer_id()]).await;
    wait_for_mesh(&c, Topic::Offers.name(), &[b.peer_id()]).await;
    let c_peers = c.net.connected_peers().await.expect("peers");
    assert_eq!(c_peers, vec![b.peer_id()], "C only knows B");
    (a, b, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_forwards_to_c_only_after_b_accepts() {
    let (a, mut b, mut c) = line().await;

    let data = b"offer travelling A -> B -> C".to_vec();
    let id = a
        .net
        .publish(Topic::Offers.name(), data.clone())
        .await
        .expect("publish");
    let (_, _, msg_id, source) = next_gossip(&mut b.events).await;
    assert_eq!((msg_id, source), (id, a.peer_id()));

    // B holds the message: C must not see it while B validates.
    assert_no_gossip(&mut c.events, Duration::from_secs(1)).await;

    assert!(
        b.net
            .report_validation(msg_id, source, Validation::Accept)
            .await
            .expect("report")
    );
    let (topic, got, c_id, c_source) = next_gossip(&mut c.events).await;
    assert_eq!(topic, Topic::Offers.name());
    assert_eq!(got, data);
    assert_eq!(c_id, id);
    assert_eq!(c_source, b.peer_id(), "C got it from B, its only peer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_reject_stops_propagation_and_lowers_score() {
    let (a, mut b, mut c) = line().await;
    let before = score_at(&b, &a).await;

    // Three invalid messages: each one B rejects costs A more (the penalty is quadratic).
    let mut last = before;
    for i in 0..3u8 {
        let id = a
            .net
            .publish(Topic::Offers.name(), vec![0xba, 0xd0, i])
            .await
            .expect("publish");
        let (_, _, msg_id, source) = next_gossip(&mut b.events).await;
        assert_eq!((msg_id, source), (id, a.peer_id()));
        assert!(
            b.net
                .report_validation(msg_id, source, Validation::Reject)
                .await
                .expect("report")
        );
        let now = score_at(&b, &a).await;
        assert!(now < last, "score of A at B fell: {last} -> {now}");
        last = now;
    }
    assert!(last < 0.0, "A is now distrusted by B: {before} -> {last}");

    // The positive signal above shows B processed (and dropped) every message; C saw none.
    assert_no_gossip(&mut c.events, Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_event_queue_ignores_gossip_instead_of_stalling() {
    let a = start(tcp_config()).await;
    let b_config = NetConfig {
        event_channel_capacity: 2,
        ..bootstrap_to(tcp_config(), &[&a])
    };
    let mut b = start(b_config).await;
    wait_for_mesh(&a, Topic::Offers.name(), &[b.peer_id()]).await;
    // Empty B's queue (connection and listen events), then stop reading it.
    while b.events.try_recv().is_ok() {}

    for i in 0..5u8 {
        a.net
            .publish(Topic::Sla.name(), vec![i; 10])
            .await
            .expect("publish");
    }
    wait_until("B dropped the 3 messages that did not fit", async || {
        b.net.stats().gossip_dropped >= 3
    })
    .await;
    // The network task is still responsive.
    assert_eq!(
        b.net.connected_peers().await.expect("peers"),
        vec![a.peer_id()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn light_client_without_gossip_can_still_publish() {
    let mut a = start(tcp_config()).await;
    let light_config = NetConfig {
        gossip: false,
        enable_kad: false,
        listen: Vec::new(),
        ..bootstrap_to(tcp_config(), &[&a])
    };
    let light = start_without_listeners(light_config).await;

    // The light client subscribes to nothing, so A has nobody to publish to...
    wait_until("A sees the light client", async || {
        a.net
            .connected_peers()
            .await
            .expect("peers")
            .contains(&light.local_peer_id())
    })
    .await;
    let err = a
        .net
        .publish(Topic::Offers.name(), b"for full nodes only".to_vec())
        .await
        .expect_err("no subscriber");
    assert!(
        matches!(err, flashback_net::NetError::InsufficientPeers { .. }),
        "{err}"
    );

    // ...but the light client can hand a message to A once it knows A's subscriptions.
    let data = b"proposal from a light client".to_vec();
    let mut id = None;
    wait_until("the light client can publish", async || {
        match light.publish(Topic::Sla.name(), data.clone()).await {
            Ok(published) => {
                id = Some(published);
                true
            }
            Err(flashback_net::NetError::InsufficientPeers { .. }) => false,
            Err(e) => panic!("{e}"),
        }
    })
    .await;
    let (topic, got, msg_id, source) = next_gossip(&mut a.events).await;
    assert_eq!(
        (topic.as_str(), got, Some(msg_id), source),
        (Topic::Sla.name(), data, id, light.local_peer_id())
    );
}

/// Judges by the first byte: `A` accept, `R` reject, anything else is left to the node. Each
/// accepted message is sent on the channel by the work it leaves for after the report.
struct FirstByte(tokio::sync::mpsc::Sender<Vec<u8>>);

impl GossipValidator for FirstByte {
    fn validate(&self, _topic: &str, data: &[u8]) -> Option<Judged> {
        match data.first() {
            Some(b'A') => {
                let (done, data) = (self.0.clone(), data.to_vec());
                Some(Judged {
                    verdict: Validation::Accept,
                    then: Some(Box::new(move || {
                        done.try_send(data).expect("room for the test's messages");
                    })),
                })
            }
            Some(b'R') => Some(Validation::Reject.into()),
            _ => None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gossip_validator_judges_on_the_network_task() {
    let a = start(line_config()).await;
    let (done, mut after_report) = tokio::sync::mpsc::channel(8);
    let builder = NetBuilder::new(
        Keypair::generate_ed25519(),
        bootstrap_to(line_config(), &[&a]),
    )
    .gossip_validator(Arc::new(FirstByte(done)));
    let mut b = start_with(builder).await;
    let mut c = start(bootstrap_to(line_config(), &[&b])).await;
    wait_for_mesh(&b, Topic::Offers.name(), &[a.peer_id(), c.peer_id()]).await;
    wait_for_mesh(&c, Topic::Offers.name(), &[b.peer_id()]).await;
    let before = score_at(&b, &a).await;

    // Rejected at B: not relayed, and A pays for it.
    let publish = async |data: &[u8]| {
        a.net
            .publish(Topic::Offers.name(), data.to_vec())
            .await
            .expect("publish")
    };
    publish(b"R: forged").await;
    wait_until("B's verdict lowers A's score", async || {
        b.net
            .peer_score(a.peer_id())
            .await
            .ok()
            .flatten()
            .is_some_and(|score| score < before)
    })
    .await;

    // Accepted at B: relayed to C with no report from B's owner.
    let accepted = b"A: valid".to_vec();
    let id = publish(&accepted).await;
    let (_, got, c_id, source) = next_gossip(&mut c.events).await;
    assert_eq!(
        (got, c_id, source),
        (accepted, id, b.peer_id()),
        "the first message C hears is the accepted one, from B"
    );
    let ran = tokio::time::timeout(Duration::from_secs(10), after_report.recv()).await;
    assert_eq!(
        ran.ok().flatten(),
        Some(b"A: valid".to_vec()),
        "B ran the work its validator left for after the report, for the accepted message only"
    );

    // Left to the node: emitted at B, and held until B's owner decides.
    let undecided = b"?: ask the node".to_vec();
    let id = publish(&undecided).await;
    let (_, got, b_id, _) = next_gossip(&mut b.events).await;
    assert_eq!(
        (got, b_id),
        (undecided, id),
        "the validator's verdicts were never emitted; the undecided message is"
    );
    assert_no_gossip(&mut c.events, Duration::from_secs(1)).await;
}
