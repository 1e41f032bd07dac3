//! The reference blob endpoint, through a real node (`Node::start` on a temp dir, loopback)
//! and a real HTTP client (hyper).

use std::path::Path;

use bytes::Bytes;
use flashback_node::{BlobConfig, Node, NodeConfig, NodeInfo};
use flashback_types::SecretKey;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

fn config(dir: &Path, blobs: BlobConfig) -> NodeConfig {
    NodeConfig {
        blobs: BlobConfig {
            enabled: true,
            ..blobs
        },
        ..NodeConfig::local(dir)
    }
}

async fn start(dir: &Path, blobs: BlobConfig) -> (Node, Http) {
    let node = Node::start(config(dir, blobs), SecretKey::generate())
        .await
        .expect("node starts");
    let base = node
        .info()
        .blob_endpoint
        .clone()
        .expect("blob endpoint enabled");
    (node, Http::new(base))
}

/// Deterministic pseudo-random bytes.
fn blob(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

fn name(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Http {
    fn new(base: String) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base,
        }
    }

    async fn send(&self, method: Method, path: &str, range: Option<&str>, body: Vec<u8>) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(range) = range {
            req = req.header(header::RANGE, range);
        }
        let req = req.body(Full::new(Bytes::from(body))).expect("request");
        let resp = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            let resp = self.client.request(req).await.expect("endpoint answers");
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.expect("body").to_bytes();
            Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            }
        })
        .await;
        resp.expect("answer within 30 s")
    }

    async fn put(&self, data: &[u8]) -> StatusCode {
        self.send(
            Method::PUT,
            &format!("/blobs/{}", name(data)),
            None,
            data.to_vec(),
        )
        .await
        .status
    }

    async fn get(&self, hex: &str, range: Option<&str>) -> Answer {
        self.send(Method::GET, &format!("/blobs/{hex}"), range, Vec::new())
            .await
    }

    async fn usage(&self) -> serde_json::Value {
        let answer = self.send(Method::GET, "/blobs", None, Vec::new()).await;
        assert_eq!(answer.status, StatusCode::OK);
        serde_json::from_slice(&answer.body).expect("usage is JSON")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_range_delete() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (node, http) = start(dir.path(), BlobConfig::default()).await;
    assert_eq!(
        NodeInfo::load(dir.path()).expect("node.json").blob_endpoint,
        node.info().blob_endpoint
    );

    let data = blob("one", 100_000);
    let hex = name(&data);
    assert_eq!(http.put(&data).await, StatusCode::CREATED);
    assert_eq!(http.put(&data).await, StatusCode::OK, "idempotent");

    let whole = http.get(&hex, None).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(&whole.body[..], &data[..]);

    let part = http.get(&hex, Some("bytes=10-19")).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers[header::CONTENT_RANGE],
        "bytes 10-19/100000",
        "Content-Range names the slice"
    );
    assert_eq!(&part.body[..], &data[10..20]);

    let tail = http.get(&hex, Some("bytes=-5")).await;
    assert_eq!(tail.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&tail.body[..], &data[99_995..]);

    let open = http.get(&hex, Some("bytes=99990-")).await;
    assert_eq!(&open.body[..], &data[99_990..]);

    let past = http.get(&hex, Some("bytes=100000-")).await;
    assert_eq!(past.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past.headers[header::CONTENT_RANGE], "bytes */100000");

    let unknown = http.get(&name(b"never stored"), None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // The body must hash to the name.
    let wrong = http
        .send(
            Method::PUT,
            &format!("/blobs/{}", name(b"something else")),
            None,
            data.clone(),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    for bad in [
        "/blobs/xyz",
        "/blobs/..%2F..%2Fetc",
        &format!("/blobs/{}", hex.to_uppercase()),
    ] {
        let answer = http.send(Method::GET, bad, None, Vec::new()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
    }

    let usage = http.usage().await;
    assert_eq!(usage["used_bytes"], 100_000);
    assert_eq!(usage["blobs"], 1);
    assert_eq!(
        usage["capacity_bytes"],
        BlobConfig::default().capacity_bytes
    );

    let path = format!("/blobs/{hex}");
    let deleted = http.send(Method::DELETE, &path, None, Vec::new()).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(http.get(&hex, None).await.status, StatusCode::NOT_FOUND);
    let again = http.send(Method::DELETE, &path, None, Vec::new()).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(http.usage().await["used_bytes"], 0);
    assert!(!dir.path().join("blobs").join(&hex).exists());

    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_and_size_limits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let limits = BlobConfig {
        capacity_bytes: 1000,
        max_blob_bytes: 600,
        ..BlobConfig::default()
    };
    let (node, http) = start(dir.path(), limits).await;

    let first = blob("a", 600);
    assert_eq!(http.put(&first).await, StatusCode::CREATED);
    let second = blob("b", 500);
    assert_eq!(
        http.put(&second).await,
        StatusCode::INSUFFICIENT_STORAGE,
        "600 + 500 > 1000"
    );
    assert_eq!(
        http.put(&blob("c", 700)).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // A full store still takes a blob it already holds.
    assert_eq!(http.put(&first).await, StatusCode::OK);

    let path = format!("/blobs/{}", name(&first));
    let deleted = http.send(Method::DELETE, &path, None, Vec::new()).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(http.put(&second).await, StatusCode::CREATED, "room again");
    assert_eq!(http.usage().await["used_bytes"], 500);

    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_knob_fails_some_reads_both_ways() {
    let dir = tempfile::tempdir().expect("temp dir");
    let faulty = BlobConfig {
        failure_rate: 0.5,
        seed: Some(7),
        ..BlobConfig::default()
    };
    let (node, http) = start(dir.path(), faulty).await;
    let data = blob("faulty", 4096);
    let hex = name(&data);
    assert_eq!(http.put(&data).await, StatusCode::CREATED);

    let (mut good, mut unavailable, mut corrupted) = (0, 0, 0);
    for i in 0..200usize {
        let (a, b) = (i * 10, i * 10 + 99);
        let answer = http.get(&hex, Some(&format!("bytes={a}-{b}"))).await;
        match answer.status {
            StatusCode::PARTIAL_CONTENT if answer.body[..] == data[a..=b] => good += 1,
            StatusCode::PARTIAL_CONTENT => {
                assert_eq!(
                    answer.body.len(),
                    100,
                    "a corrupted answer keeps its length"
                );
                corrupted += 1;
            }
            StatusCode::SERVICE_UNAVAILABLE => unavailable += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(good > 0, "some reads succeed");
    assert!(unavailable > 0, "some reads answer 503");
    assert!(corrupted > 0, "some reads return flipped bytes");
    assert_eq!(good + unavailable + corrupted, 200);
    // Writes and listings are not affected by the knob.
    assert_eq!(http.usage().await["blobs"], 1);

    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_latency_delays_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let slow = BlobConfig {
        added_latency_ms: 300,
        ..BlobConfig::default()
    };
    let (node, http) = start(dir.path(), slow).await;
    let started = std::time::Instant::now();
    let answer = http.get(&name(b"absent"), None).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    // A lower bound only: the knob sleeps at least this long, whatever the machine's load.
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_blobs_and_usage() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (one, two) = (blob("keep-1", 3000), blob("keep-2", 5000));
    {
        let (node, http) = start(dir.path(), BlobConfig::default()).await;
        assert_eq!(http.put(&one).await, StatusCode::CREATED);
        assert_eq!(http.put(&two).await, StatusCode::CREATED);
        node.shutdown().await;
    }
    // A temp file left by a crash mid-upload is not a blob and is cleaned up.
    let leftover = dir.path().join("blobs").join(".tmp-crashed");
    std::fs::write(&leftover, b"half a blob").expect("write leftover");

    let (node, http) = start(dir.path(), BlobConfig::default()).await;
    let usage = http.usage().await;
    assert_eq!(usage["used_bytes"], 8000);
    assert_eq!(usage["blobs"], 2);
    assert_eq!(&http.get(&name(&one), None).await.body[..], &one[..]);
    assert_eq!(&http.get(&name(&two), None).await.body[..], &two[..]);
    assert!(!leftover.exists());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_by_default_and_old_node_json_loads() {
    assert!(!NodeConfig::default().blobs.enabled);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = config(dir.path(), BlobConfig::default());
    config.blobs.enabled = false;
    let node = Node::start(config, SecretKey::generate())
        .await
        .expect("node starts");
    assert_eq!(node.info().blob_endpoint, None);
    assert!(!dir.path().join("blobs").exists());

    // A node.json written before the field existed still loads.
    let mut json: serde_json::Value = serde_json::to_value(node.info()).expect("json");
    json.as_object_mut()
        .expect("object")
        .remove("blob_endpoint");
    node.shutdown().await;
    let old = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        old.path().join(flashback_node::NODE_JSON),
        serde_json::to_string(&json).expect("json"),
    )
    .expect("write node.json");
    assert_eq!(
        NodeInfo::load(old.path()).expect("loads").blob_endpoint,
        None
    );
}

#[test]
fn config_refuses_unknown_fields() {
    let ok: NodeConfig =
        serde_json::from_str(r#"{"blobs": {"enabled": true, "failure_rate": 0.25, "seed": 3}}"#)
            .expect("valid");
    assert!(ok.blobs.enabled);
    assert_eq!(ok.blobs.seed, Some(3));
    assert!(serde_json::from_str::<NodeConfig>(r#"{"blobs": {"enable": true}}"#).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_failure_rate_out_of_range() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = BlobConfig {
        failure_rate: 1.5,
        ..BlobConfig::default()
    };
    let err = Node::start(config(dir.path(), bad), SecretKey::generate())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("blobs.failure_rate"), "{err}");
}
