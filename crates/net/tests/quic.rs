//! QUIC (`quic-v1`) on loopback UDP: the node's second transport carries gossip and the
//! request-response protocols like TCP does.

mod common;

use common::*;
use flashback_net::{NetConfig, Validation};
use flashback_types::protocol::Topic;
use libp2p::multiaddr::Protocol as AddrProtocol;

/// Listens on loopback QUIC only, so that every connection the test sees is a QUIC one.
fn quic_config() -> NetConfig {
    NetConfig {
        listen: vec!["/ip4/127.0.0.1/udp/0/quic-v1".to_owned()],
        ..tcp_config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_gossip_and_answer_requests_over_quic() {
    let a = start(quic_config()).await;
    assert!(
        a.addr.iter().any(|p| matches!(p, AddrProtocol::QuicV1)),
        "A listens on QUIC: {}",
        a.addr
    );
    let mut b = start(bootstrap_to(quic_config(), &[&a])).await;
    wait_for_mesh(&a, Topic::Offers.name(), &[b.peer_id()]).await;

    // Gossip, A to B.
    let data = b"a signed offer, over QUIC".to_vec();
    let id = a
        .net
        .publish(Topic::Offers.name(), data.clone())
        .await
        .expect("publish");
    let (topic, got, msg_id, source) = next_gossip(&mut b.events).await;
    assert_eq!(
        (topic.as_str(), got, msg_id),
        (Topic::Offers.name(), data, id)
    );
    assert!(
        b.net
            .report_validation(msg_id, source, Validation::Accept)
            .await
            .expect("report"),
        "the message waits for B's verdict"
    );

    // A request on each protocol, B to A, answered by A.
    let a_id = a.peer_id();
    let seen = spawn_echo_responder(a.net.clone(), a.events);
    echo_on_each_protocol(&b, a_id, seen).await;
}
