//! The harness itself, on small networks: what the bench and scale runs build on.

use std::time::Duration;

use flashback_harness::{Network, NetworkSpec, Topology, Wait, sign_offers};

/// Generous: CI machines are small and busy. The tests assert no timing.
const DEADLINE: Duration = Duration::from_secs(60);

/// An offer submitted to one full node of a small random network is listed and made durable
/// by every other node, and gossipsub counted one first copy per node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_reaches_every_full_node_and_is_durable_there() {
    let spec = NetworkSpec {
        nodes: 5,
        topology: Topology::RandomEarlier { seed: 3 },
        heartbeat_ms: 100,
        ..NetworkSpec::default()
    };
    let mut network = Network::full(&spec).await.expect("network starts");
    assert_eq!(network.nodes().len(), 5);
    let mesh = network.wait_for_mesh(DEADLINE).await;
    assert!(mesh.formed, "meshes settle: {mesh:?}");

    let offer = &sign_offers(1, 1, "harness-full")[0];
    let before = network.gossip_totals();
    let wave = network.propagate(2, offer, Wait::durable(DEADLINE)).await;
    assert_eq!(wave.publish_error, None);
    assert_eq!(wave.reached(), 4, "{wave:?}");
    assert!(wave.arrived[2].is_none(), "the publisher is not counted");
    assert_eq!(wave.durable.iter().flatten().count(), 4, "{wave:?}");
    assert!(wave.time_to(1.0).is_some() && wave.durable_time_to(1.0).is_some());
    for (i, node) in network.nodes().iter().enumerate() {
        let held = node.store().get(&offer.id()).expect("store reads");
        assert!(held.is_some(), "node {i} lists the offer");
    }
    let gossiped = network.gossip_totals() - before;
    assert_eq!(gossiped.first_receptions, 4, "{gossiped:?}");
    assert!(gossiped.receptions >= 4, "{gossiped:?}");
    assert!(
        gossiped.bytes_received >= 4 * offer.encoded().len() as u64,
        "{gossiped:?}"
    );
    assert_eq!(network.lagged_receipts(), 0);
    assert_eq!(network.shutdown().await, 0, "every reporter ended");
}

/// Raw gossipsub peers bootstrapped in a line, every link with a one-way delay: a message
/// published at one end reaches every peer, none sooner than one link's delay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_peers_with_delayed_links_relay_every_message() {
    let spec = NetworkSpec {
        nodes: 4,
        topology: Topology::Line,
        heartbeat_ms: 100,
        link_delay_ms: 20,
        ..NetworkSpec::default()
    };
    let mut network = Network::raw(&spec).await.expect("network starts");
    assert!(network.nodes().is_empty());
    assert!(network.wait_for_mesh(DEADLINE).await.formed);

    let offer = &sign_offers(1, 1, "harness-raw")[0];
    let wave = network.propagate(0, offer, Wait::listed(DEADLINE)).await;
    assert_eq!(wave.publish_error, None);
    assert_eq!(wave.reached(), 3, "{wave:?}");
    assert!(wave.durable.is_empty(), "raw peers have no store");
    // At least one hop away, whatever the machine's load. (Not one hop per place in the line:
    // identify and Kademlia connect peers beyond their bootstrap links.)
    for arrived in wave.arrived.iter().flatten() {
        assert!(*arrived >= Duration::from_millis(20), "{wave:?}");
    }
    assert_eq!(network.shutdown().await, 0, "every reporter ended");
}

/// Without Kademlia the connections are the topology's alone: in a random graph the first
/// peer, which has nobody earlier to dial, is connected to the later peers it dials once all
/// have started, and a message it publishes reaches every peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_graph_without_kademlia_dials_later_peers_too() {
    let topology = Topology::Random { seed: 5, dials: 2 };
    let later = topology.later_dials(6);
    assert_eq!(later[0].len(), 2, "peer 0 dials only later peers");
    let spec = NetworkSpec {
        nodes: 6,
        topology,
        heartbeat_ms: 100,
        kademlia: false,
        ..NetworkSpec::default()
    };
    let mut network = Network::raw(&spec).await.expect("network starts");
    assert!(network.wait_for_mesh(DEADLINE).await.formed);
    let connected = network.nets()[0].connected_peers().await.expect("peers");
    for &j in &later[0] {
        let peer = network.nets()[j].local_peer_id();
        assert!(connected.contains(&peer), "peer 0 dialled peer {j}");
    }

    let offer = &sign_offers(1, 1, "harness-random")[0];
    let wave = network.propagate(0, offer, Wait::listed(DEADLINE)).await;
    assert_eq!(wave.publish_error, None);
    assert_eq!(wave.reached(), 5, "{wave:?}");
    assert_eq!(network.shutdown().await, 0, "every reporter ended");
}
