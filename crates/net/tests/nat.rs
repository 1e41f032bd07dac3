//! NAT traversal parts and emulated links on loopback TCP: a node listens through a relay, a
//! peer reaches it through that relay, and DCUtR then replaces the relayed connection with a
//! direct one (on loopback every address is reachable, so the hole punch must succeed); and a
//! shaped link delays what crosses it. Real NATs are the testnet's `nat` scenario.

mod common;

use std::time::{Duration, Instant};

use common::*;
use flashback_net::{LinkRule, NatConfig, NetConfig, Protocol, Reachability};
use libp2p::multiaddr::Protocol as AddrProtocol;

/// Loopback addresses are private: AutoNAT must be told to use them.
fn nat(config: NatConfig) -> NetConfig {
    NetConfig {
        nat: NatConfig {
            autonat: true,
            autonat_interval_secs: 1,
            autonat_private_addresses: true,
            ..config
        },
        ..tcp_config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_reached_through_a_relay_is_then_connected_directly() {
    let relay = start(nat(NatConfig {
        relay_server: true,
        ..NatConfig::default()
    }))
    .await;
    let listener = start(bootstrap_to(
        nat(NatConfig {
            relay_client: true,
            relays: vec![relay.addr.to_string()],
            dcutr: true,
            ..NatConfig::default()
        }),
        &[&relay],
    ))
    .await;

    // The relay serves reservations once AutoNAT confirmed its address; the listener then
    // listens on `/p2p/<relay>/p2p-circuit`.
    wait_until("the relay is public", async || {
        relay.net.stats().reachability == Reachability::Public
    })
    .await;
    let mut circuit = None;
    wait_until("the listener has a relayed address", async || {
        let addrs = listener.net.listen_addrs().await.expect("listen addrs");
        circuit = addrs
            .into_iter()
            .find(|a| a.iter().any(|p| matches!(p, AddrProtocol::P2pCircuit)));
        circuit.is_some()
    })
    .await;
    assert!(listener.net.stats().relay_reservations >= 1);
    let mut circuit = circuit.expect("found");
    if !matches!(circuit.iter().last(), Some(AddrProtocol::P2p(_))) {
        circuit.push(AddrProtocol::P2p(listener.peer_id()));
    }

    // A third peer dials the relayed address only.
    let dialer = start(nat(NatConfig {
        relay_client: true,
        dcutr: true,
        ..NatConfig::default()
    }))
    .await;
    dialer.net.dial(circuit).await.expect("dial starts");
    wait_until("the dialer is connected through the relay", async || {
        dialer.net.stats().connections_relayed >= 1
    })
    .await;
    wait_until("the hole punch upgraded the connection", async || {
        dialer.net.stats().hole_punches_succeeded + listener.net.stats().hole_punches_succeeded >= 1
    })
    .await;
    assert!(listener.net.stats().connections_relayed >= 1);
    assert_eq!(
        dialer.net.stats().hole_punches_failed + listener.net.stats().hole_punches_failed,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shaped_link_delays_each_direction() {
    let one_way = Duration::from_millis(150);
    let shaped = || NetConfig {
        links: vec![LinkRule {
            prefix: "127.0.0.0/8".to_owned(),
            delay_ms: u64::try_from(one_way.as_millis()).expect("small"),
            jitter_ms: 0,
            loss_percent: 0.0,
        }],
        ..tcp_config()
    };
    let server = start(shaped()).await;
    let client = start(bootstrap_to(shaped(), &[&server])).await;
    let server_id = server.peer_id();
    drop(spawn_echo_responder(server.net.clone(), server.events));
    wait_until("connected", async || {
        client
            .net
            .connected_peers()
            .await
            .expect("peers")
            .contains(&server_id)
    })
    .await;
    // A request and its answer each cross the link once, each read delayed by its reader.
    let started = Instant::now();
    let answer = client
        .net
        .request(server_id, Protocol::Query, b"ping".to_vec())
        .await
        .expect("answered");
    assert!(answer.ends_with(b":ping"));
    assert!(
        started.elapsed() >= one_way * 2,
        "a round trip over a {one_way:?} link took {:?}",
        started.elapsed()
    );
}
