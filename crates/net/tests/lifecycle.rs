//! Start-up errors, blocking, shutdown and metrics.

mod common;

use common::*;
use flashback_net::{NetBuilder, NetConfig, NetError, NetEvent, Registry};
use libp2p::{identity::Keypair, multiaddr::Protocol as AddrProtocol};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_error_is_returned() {
    let a = start(tcp_config()).await;
    // A's address without the /p2p suffix: the port is taken by another node.
    let mut taken = a.addr.clone();
    assert!(matches!(taken.pop(), Some(AddrProtocol::P2p(_))));
    let err = spawn_listening_on(taken.to_string())
        .await
        .expect_err("port in use by a node");
    assert!(matches!(err, NetError::Listen { .. }), "{err}");
    assert!(err.to_string().contains("--listen"), "{err}");

    // Taken by some other program.
    let other = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = other.local_addr().expect("addr").port();
    let err = spawn_listening_on(format!("/ip4/127.0.0.1/tcp/{port}"))
        .await
        .expect_err("port in use by a program");
    assert!(matches!(err, NetError::Listen { .. }), "{err}");

    let err = spawn_listening_on("/memory/0".to_owned())
        .await
        .expect_err("memory address without memory transport");
    assert!(matches!(err, NetError::Listen { .. }), "{err}");
}

async fn spawn_listening_on(addr: String) -> Result<(), NetError> {
    let config = NetConfig {
        listen: vec![addr],
        ..tcp_config()
    };
    NetBuilder::new(Keypair::generate_ed25519(), config)
        .spawn()
        .await
        .map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_peer_is_disconnected() {
    let mut a = start(tcp_config()).await;
    let mut b = start(bootstrap_to(tcp_config(), &[&a])).await;
    let (a_id, b_id) = (a.peer_id(), b.peer_id());
    next_event(&mut a.events, |e| {
        matches!(e, NetEvent::PeerConnected(p) if p == b_id).then_some(())
    })
    .await;

    a.net.block_peer(b_id).await.expect("block");
    next_event(&mut a.events, |e| {
        matches!(e, NetEvent::PeerDisconnected(p) if p == b_id).then_some(())
    })
    .await;
    next_event(&mut b.events, |e| {
        matches!(e, NetEvent::PeerDisconnected(p) if p == a_id).then_some(())
    })
    .await;
    assert!(a.net.connected_peers().await.expect("peers").is_empty());

    // While blocked, B's new dial ends in failure or an immediate disconnect.
    b.net.dial(a.addr.clone()).await.expect("dial starts");
    next_event(&mut b.events, |e| match e {
        NetEvent::DialFailed { peer: Some(p), .. } | NetEvent::PeerDisconnected(p) => {
            (p == a_id).then_some(())
        }
        _ => None,
    })
    .await;
    assert!(
        !a.net
            .connected_peers()
            .await
            .expect("peers")
            .contains(&b_id),
        "A refused B"
    );

    a.net.unblock_peer(b_id).await.expect("unblock");
    b.net.dial(a.addr.clone()).await.expect("dial");
    next_event(&mut a.events, |e| {
        matches!(e, NetEvent::PeerConnected(p) if p == b_id).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_the_task_and_the_event_stream() {
    let mut a = start(tcp_config()).await;
    let other_handle = a.net.clone();
    a.net.shutdown().await.expect("shutdown");
    tokio::time::timeout(DEADLINE, async { while a.events.recv().await.is_some() {} })
        .await
        .expect("event stream ends");
    assert!(matches!(
        other_handle.connected_peers().await,
        Err(NetError::Stopped)
    ));
    other_handle.shutdown().await.expect("idempotent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_ends_the_task() {
    let Node {
        net, mut events, ..
    } = start(tcp_config()).await;
    drop(net);
    tokio::time::timeout(DEADLINE, async { while events.recv().await.is_some() {} })
        .await
        .expect("event stream ends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_recorded_into_the_registry() {
    let mut registry = Registry::default();
    let (net, _events) = NetBuilder::new(Keypair::generate_ed25519(), tcp_config())
        .metrics(&mut registry)
        .spawn()
        .await
        .expect("start");
    let b = start(tcp_config()).await;
    net.dial(b.addr.clone()).await.expect("dial");
    wait_until("connected", async || {
        !net.connected_peers().await.expect("peers").is_empty()
    })
    .await;
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
    for name in [
        "libp2p_swarm_connections_established",
        "libp2p_gossipsub",
        "flashback_net_gossip_dropped_total",
        "flashback_net_inbound_requests_rate_limited_total",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
}
