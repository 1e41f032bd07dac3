//! The node's trust file: read at start (a damaged one stops the node with its name), followed
//! while the node runs, edited whole by `edit_trust_file`, merged with the deprecated store
//! settings.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::time::{Duration, Instant};

use flashback_node::{Node, NodeConfig, NodeError, edit_trust_file, load_trust_file};
use flashback_types::trust::{Issuer, Role, TrustError};
use flashback_types::{SecretKey, TrustStore};

fn config(dir: &std::path::Path) -> NodeConfig {
    let mut config = NodeConfig::local(dir);
    config.trust.reload_ms = 50;
    config
}

fn issuer(name: &str, key: &SecretKey) -> Issuer {
    Issuer::new(name, key.public(), &[Role::Certifier], &["iso27001"]).unwrap()
}

async fn until(what: &str, check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_follows_its_trust_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let path = config.trust_path();
    let (acme, other, legacy) = (
        SecretKey::generate(),
        SecretKey::generate(),
        SecretKey::generate(),
    );
    edit_trust_file(&path, |t| t.add(issuer("acme", &acme), false)).unwrap();
    let mut with_legacy = config.clone();
    with_legacy.store.trusted_auditors = vec![legacy.public()];
    let node = Node::start(with_legacy, SecretKey::generate())
        .await
        .unwrap();
    let store = node.store().clone();
    assert!(store.trust().named("acme").is_ok());
    assert!(store.trust().has_role(&legacy.public(), Role::Auditor));

    // An edit is picked up without a restart; the deprecated setting stays merged in.
    edit_trust_file(&path, |t| t.add(issuer("other", &other), false)).unwrap();
    until("the node reads the edit", || {
        store.trust().named("other").is_ok()
    })
    .await;
    assert!(store.trust().has_role(&legacy.public(), Role::Auditor));
    // A damaged file is not applied; the next good one is.
    std::fs::write(&path, "[[issuers]]\nname = 3\n").unwrap();
    edit_trust_file(&path, |t| t.remove("acme").map(|_| ()))
        .expect_err("the damaged file cannot be edited either");
    std::fs::write(&path, TrustStore::default().to_toml()).unwrap();
    until("the node reads the emptied file", || {
        store.trust().named("other").is_err()
    })
    .await;
    assert_eq!(store.trust().issuers.len(), 1, "only the legacy auditor");
    drop(store);
    node.shutdown().await;

    // A damaged file at start stops the node, naming the file.
    std::fs::write(&path, "issuers = 7\n").unwrap();
    let err = match Node::start(config, SecretKey::generate()).await {
        Err(e) => e,
        Ok(node) => {
            node.shutdown().await;
            panic!("a node started with a damaged trust file");
        }
    };
    assert!(matches!(err, NodeError::Trust { .. }), "{err}");
    assert!(err.to_string().contains("trust.toml"), "{err}");
}

#[test]
fn edits_are_checked_and_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trust.toml");
    let key = SecretKey::generate();
    assert!(load_trust_file(&path).unwrap().issuers.is_empty());
    edit_trust_file(&path, |t| t.add(issuer("acme", &key), false)).unwrap();
    let err = edit_trust_file(&path, |t| t.add(issuer("acme", &key), false)).unwrap_err();
    assert!(err.to_string().contains("--replace"), "{err}");
    let err = edit_trust_file(&path, |t| t.remove("nobody").map(|_| ())).unwrap_err();
    assert!(
        err.to_string()
            .contains(&TrustError::UnknownIssuer("nobody".into()).to_string()),
        "{err}"
    );
    let trust = load_trust_file(&path).unwrap();
    assert_eq!(trust.issuers.len(), 1);
    // Nothing but the file is left in its directory.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["trust.toml"]);
}
