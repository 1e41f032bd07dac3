//! The provider's access hook, through a real node: a proposal submitted to it is decided by
//! its SLA task, which runs the configured command; failures reject with `access`, answers
//! are sealed to the consumer, terminations and ends call the hook again.

use std::path::Path;
use std::time::Duration;

use flashback_node::{AccessConfig, Node, NodeConfig};
use flashback_types::clock::now;
use flashback_types::{
    Decision, GIB, Object, ObjectId, RejectReason, SecretKey, Signed, samples, seal,
};

/// A node whose S3 offers are provisioned by `hook` (within `timeout_secs`).
async fn provider(dir: &Path, hook: &str, timeout_secs: u64) -> (Node, SecretKey) {
    let config = NodeConfig {
        access: AccessConfig {
            hooks: [("s3".to_owned(), hook.to_owned())].into(),
            hook_timeout_secs: timeout_secs,
            ..AccessConfig::default()
        },
        ..NodeConfig::local(dir)
    };
    let key = SecretKey::generate();
    (
        Node::start(config, key.clone()).await.expect("node starts"),
        key,
    )
}

/// A fresh consumer proposes `volume` bytes for `duration` seconds on a new 10 GiB S3 offer
/// of the node; the decision once made, the consumer and the proposal's id.
async fn propose(
    node: &Node,
    key: &SecretKey,
    offer_key: &str,
    volume: u64,
    duration: u64,
) -> (Decision, SecretKey, ObjectId) {
    let t = now();
    let mut body = samples::offer(key.public(), offer_key, 1, t);
    body.capacity = 10 * GIB;
    body.min_duration_secs = 1;
    let offer = Signed::sign(body, key).expect("offer");
    node.submit(&Object::Offer(offer.clone())).await;
    let consumer = SecretKey::generate();
    let p = samples::proposal(
        consumer.public(),
        offer.body(),
        offer.id(),
        volume,
        duration,
        t,
    );
    let p = Signed::sign(p, &consumer).expect("proposal");
    node.submit(&Object::SlaProposal(p.clone())).await;
    let id = p.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(d) = node.store().decision_for(&id).expect("store") {
            return (d.body().decision, consumer, id);
        }
        assert!(std::time::Instant::now() < deadline, "no decision");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls until `file` holds `text`.
async fn file_says(file: &Path, text: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(file)
        .unwrap_or_default()
        .contains(text)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never said {text:?}",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_slow_hook_rejects_the_proposal_with_access() {
    for (hook, timeout) in [
        ("echo 'bucket quota exceeded' >&2; exit 2", 30),
        // An answer without the secret.
        (r#"echo '{"bucket": "b"}'"#, 30),
        // Misspelt fields are refused, not ignored.
        (r#"echo '{"secret": "s", "bukket": "b"}'"#, 30),
        ("sleep 30", 1),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let (node, key) = provider(dir.path(), hook, timeout).await;
        let (decision, _, id) = propose(&node, &key, "s3", GIB, 3600).await;
        assert_eq!(decision, Decision::Reject(RejectReason::Access), "{hook}");
        assert!(node.store().grants_for(&id).expect("store").is_empty());
        // No agreement, so the capacity is untouched.
        assert_eq!(node.store().accepted_volume(&key.public(), "s3", now()), 0);
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_provisions_a_sealed_grant_and_revokes_at_termination_and_at_the_end() {
    let dir = tempfile::tempdir().expect("temp dir");
    let calls = dir.path().join("calls.log");
    // Appends its input to a file, answers credentials.
    let hook = format!(
        r#"cat >> {calls}; echo >> {calls}; echo '{{"bucket": "fb-b", "access_key": "AK1", "secret": "sekret-7", "region": "eu-1"}}'"#,
        calls = calls.display()
    );
    let (node, key) = provider(dir.path(), &hook, 30).await;
    let (decision, consumer, id) = propose(&node, &key, "s3", 4 * GIB, 3600).await;
    assert_eq!(decision, Decision::Accept);
    file_says(&calls, &format!("\"agreement\":\"{id}\"")).await;
    file_says(&calls, "\"action\":\"provision\"").await;

    let grants = node.store().grants_for(&id).expect("store");
    assert_eq!(grants.len(), 1);
    let opened = seal::open(grants[0].body(), &consumer).expect("sealed to the consumer");
    assert_eq!(opened.secret.expose(), "sekret-7");
    assert_eq!(
        (opened.bucket.as_str(), opened.access_key.as_str()),
        ("fb-b", "AK1")
    );
    assert!(
        seal::open(grants[0].body(), &key).is_err(),
        "not even the provider opens it"
    );
    assert_eq!(
        node.store().accepted_volume(&key.public(), "s3", now()),
        4 * GIB
    );

    // The consumer terminates: the hook revokes, the capacity is free again.
    let t = samples::termination(consumer.public(), id, now());
    node.submit(&Object::Termination(
        Signed::sign(t, &consumer).expect("signed"),
    ))
    .await;
    file_says(&calls, "\"reason\":\"terminated\"").await;
    assert_eq!(node.store().accepted_volume(&key.public(), "s3", now()), 0);

    // An agreement of two seconds: revoked at its end.
    let (decision, _, short) = propose(&node, &key, "s3-short", GIB, 2).await;
    assert_eq!(decision, Decision::Accept);
    file_says(
        &calls,
        &format!("\"action\":\"revoke\",\"agreement\":\"{short}\""),
    )
    .await;
    file_says(&calls, "\"reason\":\"expired\"").await;
    // Never a secret in the ledger the node keeps.
    let ledger = std::fs::read_to_string(dir.path().join("access.json")).expect("ledger");
    assert!(!ledger.contains("sekret-7"), "{ledger}");
    node.shutdown().await;
}
