//! The QoS prober against a real node (`Node::start` on a temp dir, loopback) with its
//! reference blob endpoint on, through real agreements: the node's SLA task accepts, seals a
//! blob token to the consumer, and the prober opens it.

use std::path::Path;
use std::time::Duration;

use flashback_client::data::Plane;
use flashback_client::probe::{
    ProbeConfig, WindowResult, attest, check_plane_repeatedly, probe_agreements, probe_window,
};
use flashback_client::{Client, Terms};
use flashback_node::{AccessConfig, BlobConfig, Node, NodeConfig};
use flashback_types::samples::{decision, offer, proposal};
use flashback_types::seal::{AccessCredentials, Secret};
use flashback_types::{
    Agreement, BoundedVec, DataProtocol, Decision, GIB, Object, ObjectId, Offer, SecretKey, Signed,
    Text,
};

/// A node serving blobs, with its key (the provider's).
async fn node_with_blobs(dir: &Path, blobs: BlobConfig, access: AccessConfig) -> (Node, SecretKey) {
    let config = NodeConfig {
        blobs: BlobConfig {
            enabled: true,
            ..blobs
        },
        access,
        ..NodeConfig::local(dir)
    };
    let key = SecretKey::generate();
    let node = Node::start(config, key.clone()).await.expect("node starts");
    (node, key)
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

/// Blob files the endpoint holds, in every namespace.
fn blob_files(dir: &Path) -> usize {
    let mut n = 0;
    for space in std::fs::read_dir(dir.join("blobs"))
        .expect("blob dir")
        .flatten()
    {
        if space.path().is_dir() {
            n += std::fs::read_dir(space.path())
                .expect("namespace")
                .flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count();
        }
    }
    n
}

fn offer_on(
    provider: &SecretKey,
    key: &str,
    endpoint: &str,
    protocols: Vec<DataProtocol>,
    now: u64,
) -> Offer {
    let mut o = offer(provider.public(), key, 1, now);
    o.endpoint = Text::new(endpoint).expect("short endpoint");
    o.protocols = BoundedVec::try_from_vec(protocols).expect("few");
    o
}

/// The provider's node publishes `offer`; a new consumer proposes through a light client and
/// waits for the acceptance. Returns the client, the consumer and the agreement's id.
async fn agree(node: &Node, provider: &SecretKey, offer: Offer) -> (Client, SecretKey, ObjectId) {
    let offer = Signed::sign(offer, provider).expect("offer");
    node.submit(&Object::Offer(offer.clone())).await;
    let client = Client::connect(&[node.info().dial_addr().expect("listens").to_owned()])
        .await
        .expect("connects");
    let consumer = SecretKey::generate();
    let id = accepted(&client, &consumer, &offer).await;
    (client, consumer, id)
}

/// `consumer` proposes on `offer` (1 GiB for a day); the agreement's id, once accepted.
async fn accepted(client: &Client, consumer: &SecretKey, offer: &Signed<Offer>) -> ObjectId {
    let terms = Terms {
        volume: GIB,
        duration_secs: 24 * 3600,
        start: None,
        decide_within: Duration::from_secs(60),
    };
    let p = client
        .propose(consumer, offer, terms)
        .await
        .expect("proposes");
    let d = client
        .wait_decision(&p, Duration::from_secs(30))
        .await
        .expect("asks")
        .expect("decided");
    assert_eq!(d.body().decision, Decision::Accept);
    p.id()
}

/// An agreement on the node's blob endpoint and the plane its grant opens.
async fn blob_plane(node: &Node, provider: &SecretKey) -> (Client, SecretKey, ObjectId, Plane) {
    let now = flashback_types::clock::now();
    let o = offer_on(
        provider,
        "blob-offer",
        &endpoint(node),
        vec![DataProtocol::FlashbackBlob],
        now,
    );
    let (client, consumer, id) = agree(node, provider, o).await;
    let credentials = client
        .access(&consumer, id, Duration::from_secs(10))
        .await
        .expect("the consumer opens its grant");
    let plane = Plane::open(&credentials, Duration::from_secs(10)).expect("blob plane");
    (client, consumer, id, plane)
}

/// An offer, a proposal and its acceptance, joined (no SLA network flow).
fn agreement(provider: &SecretKey, consumer: &SecretKey) -> Agreement {
    let now = flashback_types::clock::now();
    let o = offer_on(
        provider,
        "o",
        "http://127.0.0.1:9",
        vec![DataProtocol::FlashbackBlob],
        now,
    );
    let offer = Signed::sign(o, provider).expect("offer");
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
    Agreement::from_parts(p, d).expect("agreement")
}

/// Credentials for a blob endpoint at `endpoint` with `token` (right or wrong).
fn blob_credentials(endpoint: &str, token: &str) -> AccessCredentials {
    let (p, c) = (SecretKey::generate(), SecretKey::generate());
    AccessCredentials {
        agreement: flashback_types::Hash32::of(b"made up"),
        provider: p.public(),
        consumer: c.public(),
        protocol: DataProtocol::FlashbackBlob,
        endpoint: Text::new(endpoint).expect("short"),
        bucket: Default::default(),
        region: Default::default(),
        access_key: Default::default(),
        secret: Secret::new(token).expect("short"),
        expires_at: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_endpoint_every_probe_succeeds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (node, key) =
        node_with_blobs(dir.path(), BlobConfig::default(), AccessConfig::default()).await;
    let (client, _, _, plane) = blob_plane(&node, &key).await;

    let result = probe_window(&plane, &quick(10, 1))
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

    // A wrong token: every probe fails.
    let wrong = Plane::open(
        &blob_credentials(&endpoint(&node), "not-the-token"),
        Duration::from_secs(10),
    )
    .expect("plane");
    let refused = probe_window(&wrong, &quick(3, 5))
        .await
        .expect("a measurement");
    assert_eq!((refused.probes, refused.successes), (3, 0));

    client.close().await;
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
    let (node, key) = node_with_blobs(dir.path(), faulty, AccessConfig::default()).await;
    let (client, _, _, plane) = blob_plane(&node, &key).await;

    let result = probe_window(&plane, &quick(20, 2))
        .await
        .expect("window runs");
    assert_eq!(result.probes, 20);
    assert!(
        0 < result.successes && result.successes < 20,
        "{} of 20 succeeded",
        result.successes
    );
    assert_eq!(result.bytes_checked, u64::from(result.successes) * 4096);

    client.close().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_makes_every_probe_and_names_the_one_that_failed() {
    let timeout = Duration::from_secs(10);
    let dir = tempfile::tempdir().expect("temp dir");
    let (node, key) =
        node_with_blobs(dir.path(), BlobConfig::default(), AccessConfig::default()).await;
    let (client, _, _, plane) = blob_plane(&node, &key).await;
    check_plane_repeatedly(&plane, 5, 16 * 1024, timeout)
        .await
        .expect("a healthy plane passes every probe");
    assert_eq!(blob_files(dir.path()), 0, "each probe's blob is deleted");
    let none = check_plane_repeatedly(&plane, 0, 16 * 1024, timeout).await;
    assert!(none.is_err_and(|e| e.contains("at least 1")));
    client.close().await;
    node.shutdown().await;

    // Half of the reads fail: one probe lets the plane through now and then, twenty do not,
    // and the reason says which probe failed.
    let dir = tempfile::tempdir().expect("temp dir");
    let faulty = BlobConfig {
        failure_rate: 0.5,
        seed: Some(11),
        ..BlobConfig::default()
    };
    let (node, key) = node_with_blobs(dir.path(), faulty, AccessConfig::default()).await;
    let (client, _, _, plane) = blob_plane(&node, &key).await;
    let mut single_passed = false;
    for _ in 0..64 {
        if check_plane_repeatedly(&plane, 1, 16 * 1024, timeout)
            .await
            .is_ok()
        {
            single_passed = true;
            break;
        }
    }
    assert!(
        single_passed,
        "one probe never passed a plane failing half of its reads"
    );
    let why = check_plane_repeatedly(&plane, 20, 16 * 1024, timeout)
        .await
        .expect_err("twenty probes catch a plane failing half of its reads");
    let k: u32 = why
        .strip_prefix("probe ")
        .and_then(|rest| rest.split_once(" of 20: "))
        .and_then(|(k, _)| k.parse().ok())
        .unwrap_or_else(|| panic!("the reason names the probe: {why}"));
    assert!((1..=20).contains(&k), "{why}");
    assert!(
        why.contains("blake3 mismatch") || why.contains("503"),
        "the reason says what went wrong: {why}"
    );
    client.close().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_endpoint_is_a_window_without_successes() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let plane = Plane::open(
        &blob_credentials(&format!("http://127.0.0.1:{port}"), "token"),
        Duration::from_secs(10),
    )
    .expect("plane");
    let result = probe_window(&plane, &quick(3, 3))
        .await
        .expect("a dead endpoint is a measurement, not an error");
    assert_eq!((result.probes, result.successes), (3, 0));
    assert_eq!(result.bytes_checked, 0);
    assert_eq!(result.latency_p95_ms, 0);
}

#[test]
fn attestation_names_the_agreement_and_decodes() {
    let (provider, consumer) = (SecretKey::generate(), SecretKey::generate());
    let agreement = agreement(&provider, &consumer);
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
fn planes_refuse_what_they_cannot_speak_and_name_it() {
    for (endpoint, says) in [
        ("https://storage.example.net/bucket", "https"),
        ("s3://bucket/prefix", "http://"),
        ("/ip4/127.0.0.1/tcp/9000", "http://"),
    ] {
        let err = Plane::open(&blob_credentials(endpoint, "t"), Duration::from_secs(1))
            .expect_err(endpoint)
            .to_string();
        assert!(err.contains(says), "{endpoint}: {err}");
        assert!(
            err.contains(endpoint),
            "the error names the endpoint: {err}"
        );
    }
    let mut sftp = blob_credentials("http://127.0.0.1:22", "t");
    sftp.protocol = DataProtocol::Sftp;
    let err = Plane::open(&sftp, Duration::from_secs(1))
        .expect_err("sftp")
        .to_string();
    assert!(err.contains("sftp"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_live_agreements_names_the_ones_it_cannot_and_submits_attestations() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The provider opens sftp through a hook (answering made-up credentials): the prober
    // cannot speak sftp and must say so. Its s3 offer has no provisioner at all.
    let access = AccessConfig {
        hooks: [(
            "sftp".to_owned(),
            r#"echo '{"endpoint": "http://127.0.0.1:22", "secret": "pw"}'"#.to_owned(),
        )]
        .into(),
        ..AccessConfig::default()
    };
    let (node, key) = node_with_blobs(dir.path(), BlobConfig::default(), access).await;
    let (client, consumer, blob_id, _) = blob_plane(&node, &key).await;
    let now = flashback_types::clock::now();
    let mut sftp = offer_on(
        &key,
        "sftp-offer",
        "sftp://127.0.0.1",
        vec![DataProtocol::Sftp],
        now,
    );
    sftp.capacity = 10 * GIB;
    let s3 = offer_on(
        &key,
        "s3-offer",
        "http://127.0.0.1:9",
        vec![DataProtocol::S3],
        now,
    );
    // The same consumer makes the two other agreements.
    let mut ids = vec![blob_id];
    for o in [sftp, s3] {
        let offer = Signed::sign(o, &key).expect("offer");
        node.submit(&Object::Offer(offer.clone())).await;
        ids.push(accepted(&client, &consumer, &offer).await);
    }

    let report = probe_agreements(&client, &consumer, &quick(5, 4), 2)
        .await
        .expect("probes");
    assert_eq!(
        report.attestations.len(),
        2,
        "the blob agreement, per window"
    );
    for a in &report.attestations {
        assert_eq!(a.body().agreement, Some(blob_id));
        assert_eq!((a.body().probes, a.body().successes), (5, 5));
        assert!(
            node.store().get(&a.id()).expect("store").is_some(),
            "submitted to the node"
        );
    }
    assert!(report.attestations[0].body().window_end <= report.attestations[1].body().window_start);
    let mut skipped: Vec<_> = report
        .skipped
        .iter()
        .map(|s| (s.agreement, s.reason.clone()))
        .collect();
    skipped.sort();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    let why = |id: ObjectId| {
        skipped
            .iter()
            .find(|(a, _)| *a == id)
            .map(|(_, r)| r.clone())
            .unwrap_or_default()
    };
    assert!(why(ids[1]).contains("sftp"), "{}", why(ids[1]));
    assert!(why(ids[2]).contains("no access grant"), "{}", why(ids[2]));

    client.close().await;
    node.shutdown().await;
}
