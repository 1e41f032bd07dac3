//! The reference blob endpoint, through a real node (`Node::start` on a temp dir, loopback)
//! and a real HTTP client (hyper). Every blob request carries the bearer token the node sealed
//! to the consumer when it accepted an agreement: the tests make real agreements (a signed
//! offer and proposal submitted to the node, whose SLA task decides) and open the grants.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use flashback_node::{BlobConfig, Node, NodeConfig, NodeInfo};
use flashback_types::clock::now;
use flashback_types::{
    BoundedVec, DataProtocol, Decision, GIB, Object, ObjectId, SecretKey, Signed, samples, seal,
};
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

/// A node with its key (which signs its offers).
async fn start_node(dir: &Path, blobs: BlobConfig, key: &SecretKey) -> Node {
    Node::start(config(dir, blobs), key.clone())
        .await
        .expect("node starts")
}

/// A node and a client holding the token of a fresh 1 GiB agreement.
async fn start(dir: &Path, blobs: BlobConfig) -> (Node, Http) {
    let key = SecretKey::generate();
    let node = start_node(dir, blobs, &key).await;
    let http = consumer(&node, &key, GIB, 24 * 3600).await.0;
    (node, http)
}

/// Polls `check` every 50 ms until it holds, for at most 30 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A new consumer makes an agreement of `volume` bytes for `duration` seconds on the node's
/// blob offer (published on first use) and opens its access grant: an HTTP client with its
/// token, the consumer's key and the agreement.
async fn consumer(
    node: &Node,
    key: &SecretKey,
    volume: u64,
    duration: u64,
) -> (Http, SecretKey, ObjectId) {
    let base = node
        .info()
        .blob_endpoint
        .clone()
        .expect("blob endpoint enabled");
    let t = now();
    // Publishing it again would make another seq-1 offer whenever a second has passed (its
    // `created_at` differs), which the node refuses: proposals on it would find no offer.
    let published = node
        .store()
        .current_offer(&key.public(), "blobs")
        .expect("store");
    let offer = match published {
        Some(offer) => offer,
        None => {
            let mut body = samples::offer(key.public(), "blobs", 1, t);
            body.protocols =
                BoundedVec::try_from_vec(vec![DataProtocol::FlashbackBlob]).expect("one");
            body.endpoint = base.as_str().try_into().expect("short");
            body.min_duration_secs = 1;
            let offer = Signed::sign(body, key).expect("offer");
            node.submit(&Object::Offer(offer.clone())).await;
            offer
        }
    };

    let consumer = SecretKey::generate();
    let proposal = samples::proposal(
        consumer.public(),
        offer.body(),
        offer.id(),
        volume,
        duration,
        t,
    );
    let proposal = Signed::sign(proposal, &consumer).expect("proposal");
    node.submit(&Object::SlaProposal(proposal.clone())).await;
    let id = proposal.id();
    let store = node.store().clone();
    eventually("the node grants access", || {
        !store.grants_for(&id).unwrap_or_default().is_empty()
    })
    .await;
    let decision = store.decision_for(&id).expect("store").expect("decided");
    assert_eq!(decision.body().decision, Decision::Accept);
    let grant = store.grants_for(&id).expect("store").remove(0);
    let credentials = seal::open(grant.body(), &consumer).expect("sealed to the consumer");
    assert_eq!(credentials.protocol, DataProtocol::FlashbackBlob);
    assert_eq!(credentials.endpoint.as_str(), base);
    let token = credentials.secret.expose().to_owned();
    (Http::new(base, Some(token)), consumer, id)
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
    token: Option<String>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Http {
    fn new(base: String, token: Option<String>) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base,
            token,
        }
    }

    fn with_token(&self, token: Option<&str>) -> Self {
        Self::new(self.base.clone(), token.map(str::to_owned))
    }

    async fn send(&self, method: Method, path: &str, range: Option<&str>, body: Vec<u8>) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(range) = range {
            req = req.header(header::RANGE, range);
        }
        if let Some(token) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
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

    /// The endpoint's usage of all namespaces (asked without a token).
    async fn usage(&self) -> serde_json::Value {
        let answer = self
            .with_token(None)
            .send(Method::GET, "/blobs", None, Vec::new())
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        serde_json::from_slice(&answer.body).expect("usage is JSON")
    }

    /// This token's namespace: its blobs and quota.
    async fn listing(&self) -> serde_json::Value {
        let answer = self.send(Method::GET, "/blobs", None, Vec::new()).await;
        assert_eq!(answer.status, StatusCode::OK);
        serde_json::from_slice(&answer.body).expect("listing is JSON")
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
    assert!(
        walk(&dir.path().join("blobs"))
            .iter()
            .all(|p| !p.ends_with(&hex)),
        "the file is gone"
    );

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
    let key = SecretKey::generate();
    let http = {
        let node = start_node(dir.path(), BlobConfig::default(), &key).await;
        let http = consumer(&node, &key, GIB, 24 * 3600).await.0;
        assert_eq!(http.put(&one).await, StatusCode::CREATED);
        assert_eq!(http.put(&two).await, StatusCode::CREATED);
        node.shutdown().await;
        http
    };
    // A temp file left by a crash mid-upload is not a blob and is cleaned up.
    let namespace = walk(&dir.path().join("blobs"))[0]
        .parent()
        .expect("in a namespace")
        .to_path_buf();
    let leftover = namespace.join(".tmp-crashed");
    std::fs::write(&leftover, b"half a blob").expect("write leftover");

    // The same token opens the same blobs after a restart: the access ledger is on disk.
    let node = start_node(dir.path(), BlobConfig::default(), &key).await;
    let http = Http::new(
        node.info().blob_endpoint.clone().expect("served"),
        http.token,
    );
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

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_needs_the_agreements_token_and_sees_its_own_blobs_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = SecretKey::generate();
    let node = start_node(dir.path(), BlobConfig::default(), &key).await;
    let (first, first_key, first_id) = consumer(&node, &key, GIB, 24 * 3600).await;
    let (second, _, _) = consumer(&node, &key, 4000, 24 * 3600).await;
    let data = blob("mine", 3000);
    let hex = name(&data);
    let path = format!("/blobs/{hex}");

    // No token, or a made-up one: 401 with a Bearer challenge, for every method.
    for http in [first.with_token(None), first.with_token(Some("0123abcd"))] {
        for method in [Method::PUT, Method::GET, Method::DELETE] {
            let answer = http.send(method.clone(), &path, None, data.clone()).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method}");
            let challenge = answer.headers[header::WWW_AUTHENTICATE]
                .to_str()
                .expect("ascii");
            assert!(challenge.starts_with("Bearer"), "{challenge}");
        }
    }
    assert_eq!(first.put(&data).await, StatusCode::CREATED);

    // The second consumer cannot read or delete the first one's blob.
    assert_eq!(second.get(&hex, None).await.status, StatusCode::FORBIDDEN);
    let deleted = second.send(Method::DELETE, &path, None, Vec::new()).await;
    assert_eq!(deleted.status, StatusCode::FORBIDDEN);
    assert_eq!(&first.get(&hex, None).await.body[..], &data[..]);
    // Each sees its own namespace only.
    let mine = first.listing().await;
    assert_eq!(mine["objects"][0]["name"], hex.as_str());
    assert_eq!(mine["used_bytes"], 3000);
    assert_eq!(
        second.listing().await["objects"].as_array().map(Vec::len),
        Some(0)
    );

    // An agreement's volume bounds its namespace: the second bought 4000 bytes.
    assert_eq!(second.put(&blob("fits", 3000)).await, StatusCode::CREATED);
    assert_eq!(
        second.put(&blob("too much", 1001)).await,
        StatusCode::INSUFFICIENT_STORAGE
    );

    // The first consumer terminates: its token stops working, the second's goes on.
    let end = samples::termination(first_key.public(), first_id, now());
    let end = Signed::sign(end, &first_key).expect("termination");
    node.submit(&Object::Termination(end)).await;
    let mut refused = false;
    for _ in 0..600 {
        if first.get(&hex, None).await.status == StatusCode::UNAUTHORIZED {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "the terminated agreement's token is revoked");
    assert_eq!(second.listing().await["used_bytes"], 3000);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_stops_working_when_its_agreement_ends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = SecretKey::generate();
    let node = start_node(dir.path(), BlobConfig::default(), &key).await;
    // Two seconds of service.
    let (http, _, id) = consumer(&node, &key, GIB, 2).await;
    let data = blob("short", 100);
    let put = http.put(&data).await;
    // The agreement may have ended already on a slow machine; either way, after its end the
    // token is refused.
    assert!(
        matches!(put, StatusCode::CREATED | StatusCode::UNAUTHORIZED),
        "{put}"
    );
    let end = node
        .store()
        .agreement_by_proposal(&id)
        .expect("store")
        .expect("agreement")
        .expires_at();
    while now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        http.get(&name(&data), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // And the node revokes it in its ledger (which a restart reads).
    let ledger = dir.path().join("access.json");
    let mut revoked = false;
    for _ in 0..600 {
        let text = std::fs::read_to_string(&ledger).unwrap_or_default();
        if text.contains("expired") {
            revoked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(revoked, "the ledger records the revocation");
    node.shutdown().await;
}
