//! Many in-process nodes over libp2p's memory transport.

mod common;

use std::collections::BTreeSet;

use common::*;
use flashback_net::{NetEvent, Validation};
use flashback_types::protocol::Topic;
use tokio::sync::mpsc;

const NODES: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_nodes_all_receive_one_publication() {
    // A connected, irregular bootstrap graph: node i joins node i-1 and one pseudo-random
    // earlier node; Kademlia then adds more links.
    let mut nodes: Vec<Node> = Vec::with_capacity(NODES);
    for i in 0..NODES {
        let mut peers = Vec::new();
        if i >= 1 {
            peers.push(&nodes[i - 1]);
        }
        if i >= 2 {
            peers.push(&nodes[(i * 7 + 3) % i]);
        }
        let config = bootstrap_to(memory_config(), &peers);
        nodes.push(start(config).await);
    }
    for node in &nodes {
        wait_until("every node has a mesh for the offers topic", async || {
            !node
                .net
                .mesh_peers(Topic::Offers.name())
                .await
                .expect("mesh")
                .is_empty()
        })
        .await;
    }

    // Every receiver validates (Accept) whatever it gets, which lets it travel on.
    let (received_tx, mut received_rx) = mpsc::channel(NODES * 2);
    let publisher = nodes.remove(0);
    for (index, node) in nodes.into_iter().enumerate() {
        let received = received_tx.clone();
        let Node {
            net, mut events, ..
        } = node;
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let NetEvent::Gossip {
                    data,
                    msg_id,
                    source,
                    ..
                } = event
                {
                    net.report_validation(msg_id, source, Validation::Accept)
                        .await
                        .expect("report");
                    if received.send((index, msg_id, data)).await.is_err() {
                        return;
                    }
                }
            }
        });
    }

    let data = b"one offer for everybody".to_vec();
    let id = publisher
        .net
        .publish(Topic::Offers.name(), data.clone())
        .await
        .expect("publish");

    let mut receivers = BTreeSet::new();
    while receivers.len() < NODES - 1 {
        let (index, msg_id, got) = tokio::time::timeout(DEADLINE, received_rx.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {} nodes received the message",
                    receivers.len(),
                    NODES - 1
                )
            })
            .expect("receivers alive");
        assert_eq!((msg_id, got.as_slice()), (id, data.as_slice()));
        assert!(
            receivers.insert(index),
            "node {index} got the message twice"
        );
    }
}
