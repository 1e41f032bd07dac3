//! A peer written with another libp2p implementation (js-libp2p, `tests/interop/js`) joins a
//! real node: it connects over TCP with noise and yamux, identifies, queries Kademlia on
//! `/flashback/kad/1.0.0`, pings, and reads and publishes on `flashback/1/offers`.
//!
//! Needs Node.js and the peer's packages: `npm ci --prefix tests/interop/js` (CI runs it).
//! Without them the test says it was skipped; under `CI=true` that is a failure.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{DEADLINE, TestNode, can_run, eventually};
use flashback_node::Verdict;
use flashback_types::{Object, SecretKey, Signed, samples};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

const PEER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/interop/js");

fn js_peer_available() -> bool {
    let installed = Path::new(PEER_DIR).join("node_modules").is_dir();
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    can_run(
        installed && node,
        "Node.js and `npm ci --prefix tests/interop/js`",
    )
}

fn offer(offer_key: &str) -> Object {
    let provider = SecretKey::generate();
    let body = samples::offer(
        provider.public(),
        offer_key,
        1,
        flashback_types::clock::now(),
    );
    Object::Offer(Signed::sign(body, &provider).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_libp2p_peer_identifies_pings_uses_kademlia_and_gossips() {
    if !js_peer_available() {
        return;
    }
    let node = TestNode::start(&[]).await;
    let from_js = offer("published-by-js");
    let mut peer = tokio::process::Command::new("node")
        .arg(Path::new(PEER_DIR).join("peer.mjs"))
        .arg(node.addr())
        .arg(hex::encode(from_js.encoded()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("starts node");
    let mut lines = BufReader::new(peer.stdout.take().unwrap()).lines();
    let mut next_step = async || -> Value {
        let line = tokio::time::timeout(DEADLINE, lines.next_line())
            .await
            .expect("the js peer reports its next step in time")
            .unwrap()
            .expect("the js peer reports its next step");
        let step: Value = serde_json::from_str(&line).unwrap();
        assert_ne!(step["step"], "error", "{step}");
        step
    };

    let identify = next_step().await;
    assert_eq!(identify["step"], "identify");
    assert!(
        identify["agent"]
            .as_str()
            .unwrap()
            .starts_with("flashback/"),
        "{identify}"
    );
    assert_eq!(identify["protocol_version"], "flashback/1");
    let protocols: Vec<&str> = identify["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for expected in ["/flashback/kad/1.0.0", "/ipfs/ping/1.0.0", "/meshsub/1.2.0"] {
        assert!(protocols.contains(&expected), "{expected} in {protocols:?}");
    }
    assert_eq!(next_step().await["step"], "kad");
    assert_eq!(next_step().await["step"], "ping");

    // What the js peer publishes, the node verifies and lists.
    let published = next_step().await;
    assert_eq!(published["step"], "published");
    assert_eq!(published["id"], from_js.id().to_string());
    eventually("the node lists the offer the js peer published", || {
        let held = node.holds(from_js.id());
        async move { held }
    })
    .await;

    // What the node publishes, the js peer receives, with the same message id.
    let from_node = offer("published-by-the-node");
    let verdict = node.node.submit(&from_node).await;
    assert!(matches!(verdict, Verdict::Stored(_)), "{verdict:?}");
    let received = next_step().await;
    assert_eq!(received["step"], "received");
    assert_eq!(received["id"], from_node.id().to_string());

    let status = tokio::time::timeout(DEADLINE, peer.wait())
        .await
        .expect("the js peer exits")
        .unwrap();
    assert!(status.success(), "js peer exited with {status}");
}
