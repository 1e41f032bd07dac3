//! Helpers shared by the integration tests: start nodes, wait for events and conditions with
//! deadlines (never bare sleeps).

#![allow(dead_code, unreachable_pub)] // Each test binary uses a different subset.

use std::time::Duration;

use flashback_net::{NetBuilder, NetConfig, NetEvent, NetHandle, Protocol};
use libp2p::{Multiaddr, PeerId, identity::Keypair, multiaddr::Protocol as AddrProtocol};
use tokio::sync::mpsc;

/// Generous: the machine running the tests may be small and busy.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub struct Node {
    pub net: NetHandle,
    pub events: mpsc::Receiver<NetEvent>,
    /// A dialable address of the node, with its `/p2p/` suffix.
    pub addr: Multiaddr,
}

impl Node {
    pub fn peer_id(&self) -> PeerId {
        self.net.local_peer_id()
    }
}

/// Loopback TCP only, short gossipsub heartbeat so meshes form quickly.
pub fn tcp_config() -> NetConfig {
    NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".to_owned()],
        gossip_heartbeat_ms: 100,
        ..NetConfig::default()
    }
}

pub fn memory_config() -> NetConfig {
    NetConfig {
        gossip_heartbeat_ms: 100,
        // Hundreds of nodes in one process: do not probe the system's memory per connection.
        max_memory_fraction: None,
        ..NetConfig::memory()
    }
}

pub fn bootstrap_to(mut config: NetConfig, peers: &[&Node]) -> NetConfig {
    config.bootstrap = peers.iter().map(|n| n.addr.to_string()).collect();
    config
}

pub async fn start(config: NetConfig) -> Node {
    start_with(NetBuilder::new(Keypair::generate_ed25519(), config)).await
}

pub async fn start_with(builder: NetBuilder<'_>) -> Node {
    let (net, events) = builder.spawn().await.expect("network starts");
    let listen = net.listen_addrs().await.expect("listen addrs");
    let addr = listen
        .first()
        .expect("spawn returns once a listener has an address")
        .clone()
        .with(AddrProtocol::P2p(net.local_peer_id()));
    Node { net, events, addr }
}

/// Waits for the first event `pick` accepts, skipping the others.
pub async fn next_event<T>(
    events: &mut mpsc::Receiver<NetEvent>,
    mut pick: impl FnMut(NetEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let event = events.recv().await.expect("event stream open");
            if let Some(found) = pick(event) {
                return found;
            }
        }
    })
    .await
    .expect("expected event before the deadline")
}

/// Polls `condition` until it holds; panics with `what` after [`DEADLINE`].
pub async fn wait_until(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let polled = tokio::time::timeout(DEADLINE, async {
        loop {
            if condition().await {
                return;
            }
            // A polling interval, not synchronisation: the condition is re-checked.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(polled.is_ok(), "timed out waiting until {what}");
}

/// Waits until `node` has every peer of `peers` in its mesh for `topic`.
pub async fn wait_for_mesh(node: &Node, topic: &str, peers: &[PeerId]) {
    wait_until(
        &format!("{} meshes with {peers:?}", node.peer_id()),
        async || {
            let mesh = node.net.mesh_peers(topic).await.expect("mesh peers");
            peers.iter().all(|p| mesh.contains(p))
        },
    )
    .await;
}

/// Drains events without blocking; returns the gossip ones.
pub fn drain_gossip(events: &mut mpsc::Receiver<NetEvent>) -> Vec<NetEvent> {
    let mut gossip = Vec::new();
    while let Ok(event) = events.try_recv() {
        if matches!(event, NetEvent::Gossip { .. }) {
            gossip.push(event);
        }
    }
    gossip
}

/// Asserts that no gossip arrives on `events` during `quiet`. Only meaningful after a positive
/// signal has shown the message was handled elsewhere.
pub async fn assert_no_gossip(events: &mut mpsc::Receiver<NetEvent>, quiet: Duration) {
    let got = tokio::time::timeout(quiet, async {
        loop {
            match events.recv().await {
                Some(event @ NetEvent::Gossip { .. }) => return event,
                Some(_) => continue,
                None => std::future::pending::<()>().await,
            }
        }
    })
    .await;
    assert!(got.is_err(), "unexpected gossip: {got:?}");
}

/// The gossip fields of the next gossip event.
pub async fn next_gossip(
    events: &mut mpsc::Receiver<NetEvent>,
) -> (String, Vec<u8>, flashback_net::MessageId32, PeerId) {
    next_event(events, |event| match event {
        NetEvent::Gossip {
            topic,
            data,
            msg_id,
            source,
        } => Some((topic, data, msg_id, source)),
        _ => None,
    })
    .await
}

/// Starts a node that may have no listener (light clients); returns only its handle.
pub async fn start_without_listeners(config: NetConfig) -> NetHandle {
    let (net, _events) = NetBuilder::new(Keypair::generate_ed25519(), config)
        .spawn()
        .await
        .expect("network starts");
    net
}

/// Answers every request with `<protocol id>:<request>` and reports each request it saw.
pub fn spawn_echo_responder(
    net: NetHandle,
    mut events: mpsc::Receiver<NetEvent>,
) -> mpsc::Receiver<(Protocol, PeerId, Vec<u8>)> {
    let (seen_tx, seen_rx) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let NetEvent::InboundRequest {
                protocol,
                peer,
                data,
                reply,
            } = event
            {
                assert_eq!(reply.protocol(), protocol);
                let mut answer = protocol.id().as_bytes().to_vec();
                answer.push(b':');
                answer.extend_from_slice(&data);
                net.respond(reply, answer).await.expect("respond");
                // The test may have stopped listening; that is fine.
                let _ = seen_tx.send((protocol, peer, data)).await;
            }
        }
    });
    seen_rx
}

/// Sends one request on each protocol from `client` to `server`, which runs
/// [`spawn_echo_responder`] (`seen` is its receiver), and checks each answer and what the
/// server saw.
pub async fn echo_on_each_protocol(
    client: &Node,
    server: PeerId,
    mut seen: mpsc::Receiver<(Protocol, PeerId, Vec<u8>)>,
) {
    for protocol in Protocol::ALL {
        let request = format!("hello over {protocol}").into_bytes();
        let answer = client
            .net
            .request(server, protocol, request.clone())
            .await
            .expect("answer");
        let expected = [protocol.id().as_bytes(), b":", &request].concat();
        assert_eq!(answer, expected);
        let (seen_protocol, peer, data) = seen.recv().await.expect("responder saw it");
        assert_eq!(
            (seen_protocol, peer, data),
            (protocol, client.peer_id(), request)
        );
    }
}
