//! The QoS prober against a real node (`Node::start` on a temp dir, loopback) with its
//! reference blob endpoint on.

use std::path::Path;
use std::time::Duration;

use flashback_client::Client;
use flashback_client::probe::{
    ProbeConfig, WindowResult, attest, endpoint_of, probe_agreements, probe_window,
};
use flashback_node::{BlobConfig, Node, NodeConfig, Verdict};
use flashback_types::samples::{decision, offer, proposal};
use flashback_types::{
    Agreement, BoundedVec, DataProtocol, Decision, GIB, Object, Offer, SecretKey, Signed, Text,
};

async fn node_with_blobs(dir: &Path, blobs: BlobConfig) -> Node {
    let config = NodeConfig {
        blobs: BlobConfig {
            enabled: true,
            ..blobs
        },
        ..NodeConfig::local(dir)
    };
    Node::start(config, SecretKey::generate())
        .await
        .expect("node starts")
}

fn endpoint(node: &Node) -> String {
    node.info().blob_endpoint.clone().expect("blob endpoint on")
}

/// Short windows: a test waits for its windows, it does not sleep to synchronise.
fn quick(probes: u32, seed: u64) -> ProbeConfig {
    ProbeConfig {
        window: Duration::from_secs(1),
        probes_per_window: probes,
        blob_bytes: 64 * 1024,
        range_bytes: 4096,
        request_timeout: Duration::from_secs(10),
        max_concurrent: 4,
        seed: Some(seed),
    }
}

/// Blob files the endpoint holds.
fn blob_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("blobs"))
        .expect("blob dir")
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .count()
}

fn blob_offer(provider: &SecretKey, endpoint: &str, now: u64) -> Offer {
    let mut o = offer(provider.public(), "blob-offer", 1, now);
    o.endpoint = Text::new(endpoint).expect("short endpoint");
    o.protocols = BoundedVec::try_from_vec(vec![DataProtocol::FlashbackBlob]).expect("one");
    o
}

/// An offer, a proposal and its acceptance, joined (no SLA network flow: the prober is under
/// test).
fn agreement(
    provider: &SecretKey,
    consumer: &SecretKey,
    endpoint: &str,
) -> (Signed<Offer>, Agreement) {
    let now = flashback_types::clock::now();
    let offer = Signed::sign(blob_offer(provider, endpoint, now), provider).expect("offer");
    let p = proposal(
        consumer.public(),
        offer.body(),
        offer.id(),
        GIB,
        24 * 3600,
        now,
    );
    let p = Signed::sign(p, consumer).expect("proposal");
    let d = decision(p.body(), p.id(), Decision::Accept, now);
    let d = Signed::sign(d, provider).expect("decision");
    (offer, Agreement::from_parts(p, d).expect("agreement"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_endpoint_every_probe_succeeds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = node_with_blobs(dir.path(), BlobConfig::default()).await;

    let result = probe_window(&endpoint(&node), &quick(10, 1))
        .await
        .expect("window runs");
    assert_eq!(result.probes, 10);
    assert_eq!(result.successes, 10);
    assert_eq!(result.bytes_checked, 10 * 4096);
    assert!(result.window_start < result.window_end);
    assert!(result.latency_p50_ms <= result.latency_p95_ms);
    assert!(result.throughput_bytes_per_sec > 0);
    assert_eq!(
        blob_files(dir.path()),
        0,
        "the probe blob is deleted after the window"
    );

    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty_endpoint_fails_some_probes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let faulty = BlobConfig {
        failure_rate: 0.5,
        seed: Some(11),
        ..BlobConfig::default()
    };
    let node = node_with_blobs(dir.path(), faulty).await;

    let result = probe_window(&endpoint(&node), &quick(20, 2))
        .await
        .expect("window runs");
    assert_eq!(result.probes, 20);
    assert!(
        0 < result.successes && result.successes < 20,
        "{} of 20 succeeded",
        result.successes
    );
    assert_eq!(result.bytes_checked, u64::from(result.successes) * 4096);

    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_endpoint_is_a_window_without_successes() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let result = probe_window(&format!("http://127.0.0.1:{port}"), &quick(3, 3))
        .await
        .expect("a dead endpoint is a measurement, not an error");
    assert_eq!((result.probes, result.successes), (3, 0));
    assert_eq!(result.bytes_checked, 0);
    assert_eq!(result.latency_p95_ms, 0);
}

#[test]
fn attestation_names_the_agreement_and_decodes() {
    let (provider, consumer) = (SecretKey::generate(), SecretKey::generate());
    let (_, agreement) = agreement(&provider, &consumer, "http://127.0.0.1:9");
    let now = flashback_types::clock::now();
    let result = WindowResult {
        probes: 20,
        successes: 19,
        latency_p50_ms: 3,
        latency_p95_ms: 9,
        throughput_bytes_per_sec: 1 << 20,
        bytes_checked: 19 * 4096,
        window_start: now - 60,
        window_end: now,
    };
    let signed = attest(&consumer, &agreement, &result, now).expect("attests");

    let Object::QosAttestation(decoded) = Object::decode(signed.encoded()).expect("decodes") else {
        panic!("not an attestation");
    };
    let body = decoded.body();
    assert_eq!(body.agreement, Some(agreement.proposal_id()));
    assert_eq!(body.attester, consumer.public());
    assert_eq!(body.subject, provider.public());
    assert_eq!((body.probes, body.successes), (20, 19));
    assert_eq!(body.created_at, now);
    assert_eq!(body.expires_at, now + 30 * 24 * 3600);

    // Only the consumer attests, and only a window that is over.
    assert!(attest(&provider, &agreement, &result, now).is_err());
    assert!(attest(&consumer, &agreement, &result, now - 1).is_err());
}

#[test]
fn endpoint_of_speaks_plain_http_blob_endpoints_only() {
    let provider = SecretKey::generate();
    let now = flashback_types::clock::now();
    let good = blob_offer(&provider, "http://127.0.0.1:8080/", now);
    assert_eq!(endpoint_of(&good).expect("http"), "http://127.0.0.1:8080");

    for (endpoint, says) in [
        ("https://storage.example.net/bucket", "https"),
        ("s3://bucket/prefix", "\"s3\" scheme"),
        ("/ip4/127.0.0.1/tcp/9000", "http://"),
    ] {
        let err = endpoint_of(&blob_offer(&provider, endpoint, now))
            .expect_err(endpoint)
            .to_string();
        assert!(err.contains(says), "{endpoint}: {err}");
        assert!(
            err.contains(endpoint),
            "the error names the endpoint: {err}"
        );
    }

    let mut s3_only = good.clone();
    s3_only.protocols = BoundedVec::try_from_vec(vec![DataProtocol::S3]).expect("one");
    let err = endpoint_of(&s3_only).expect_err("no flashback_blob");
    assert!(err.to_string().contains("flashback_blob"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_live_agreements_and_submits_attestations() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = node_with_blobs(dir.path(), BlobConfig::default()).await;
    let (provider, consumer) = (SecretKey::generate(), SecretKey::generate());
    let (offer, agreement) = agreement(&provider, &consumer, &endpoint(&node));
    for object in [
        Object::Offer(offer),
        Object::SlaProposal(agreement.proposal().clone()),
        Object::SlaDecision(agreement.acceptance().clone()),
        Object::Agreement(agreement.clone()),
    ] {
        let verdict = node.submit(&object).await;
        assert!(
            matches!(verdict, Verdict::Stored(_)),
            "{}: {verdict:?}",
            object.kind()
        );
    }
    let addr = node.info().dial_addr().expect("listens").to_owned();
    let client = Client::connect(&[addr]).await.expect("connects");
    let listed = client
        .agreements(Some(consumer.public()))
        .await
        .expect("agreements");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].proposal_id(), agreement.proposal_id());

    let attestations = probe_agreements(&client, &consumer, &quick(5, 4), 2)
        .await
        .expect("probes");
    assert_eq!(attestations.len(), 2, "one per agreement per window");
    for a in &attestations {
        assert_eq!(a.body().agreement, Some(agreement.proposal_id()));
        assert_eq!((a.body().probes, a.body().successes), (5, 5));
        assert!(
            node.store().get(&a.id()).expect("store").is_some(),
            "submitted to the node"
        );
    }
    assert!(attestations[0].body().window_end <= attestations[1].body().window_start);

    client.close().await;
    node.shutdown().await;
}
