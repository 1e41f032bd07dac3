//! The three request-response protocols over loopback TCP.

mod common;

use common::*;
use flashback_net::{NetConfig, NetError, Protocol, ProtocolLimits};

async fn connected_pair(server: NetConfig, client: NetConfig) -> (Node, Node) {
    let server = start(server).await;
    let client = start(bootstrap_to(client, &[&server])).await;
    wait_until("client connected to server", async || {
        client
            .net
            .connected_peers()
            .await
            .expect("peers")
            .contains(&server.peer_id())
    })
    .await;
    (server, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_each_protocol() {
    let (server, client) = connected_pair(tcp_config(), tcp_config()).await;
    let server_id = server.peer_id();
    let seen = spawn_echo_responder(server.net.clone(), server.events);
    echo_on_each_protocol(&client, server_id, seen).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_request_is_refused() {
    let small = ProtocolLimits {
        max_request_bytes: 1024,
        max_response_bytes: 1024,
    };
    let server_config = NetConfig {
        sync: small,
        ..tcp_config()
    };
    let (server, client) = connected_pair(server_config, tcp_config()).await;
    let server_id = server.peer_id();
    let mut seen = spawn_echo_responder(server.net.clone(), server.events);

    // The client's own limit (64 KiB) lets it send 4 KiB; the server's codec refuses it
    // after reading only the length prefix.
    let err = client
        .net
        .request(server_id, Protocol::Sync, vec![7; 4096])
        .await
        .expect_err("server refuses");
    assert!(
        matches!(
            err,
            NetError::RequestFailed {
                protocol: Protocol::Sync,
                ..
            }
        ),
        "{err}"
    );

    // Above the client's own limit, nothing is even sent.
    let err = client
        .net
        .request(server_id, Protocol::Query, vec![0; 64 * 1024 + 1])
        .await
        .expect_err("client refuses");
    assert!(
        matches!(
            err,
            NetError::RequestTooLarge {
                protocol: Protocol::Query,
                ..
            }
        ),
        "{err}"
    );

    // The server still serves, and the request it sees next is this one: the oversize one
    // never reached the node.
    let answer = client
        .net
        .request(server_id, Protocol::Sync, b"small".to_vec())
        .await
        .expect("answer");
    assert_eq!(answer, b"/flashback/sync/1:small");
    let (protocol, _, data) = seen.recv().await.expect("responder saw a request");
    assert_eq!((protocol, data.as_slice()), (Protocol::Sync, &b"small"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_peer_rate_are_dropped() {
    let server_config = NetConfig {
        // Two requests, then (practically) never again.
        inbound_request_burst: 2,
        inbound_requests_per_sec: 0.001,
        ..tcp_config()
    };
    let (server, client) = connected_pair(server_config, tcp_config()).await;
    let server_id = server.peer_id();
    let server_net = server.net.clone();
    let _seen = spawn_echo_responder(server.net.clone(), server.events);

    for _ in 0..2 {
        client
            .net
            .request(server_id, Protocol::Query, b"q".to_vec())
            .await
            .expect("within the burst");
    }
    let err = client
        .net
        .request(server_id, Protocol::Submit, b"one too many".to_vec())
        .await
        .expect_err("rate limited");
    assert!(matches!(err, NetError::RequestFailed { .. }), "{err}");
    assert_eq!(server_net.stats().inbound_requests_rate_limited, 1);
}
