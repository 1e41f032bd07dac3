//! The gateway HTTP API against real nodes over real HTTP: every endpoint, filters and paging,
//! the token on writes, an externally signed offer reaching a second node, 4xx JSON errors for
//! bad input, live events through another node, the OpenAPI document, and the CLI's `--json`
//! answering field for field what the API answers.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::api::{
    base, get, hex_of, import_account, post, request, signed_offer, token, with_api,
};
use common::{DEADLINE, TestNode, cli, cli_stdout, eventually, write_key};
use flashback_client::http::{HttpClient, Method};
use flashback_types::clock::now;
use flashback_types::{GIB, Object, SecretKey, Signed, samples};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn ids(page: &Value) -> Vec<String> {
    page["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every endpoint, through two connected nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_endpoint_answers_json_and_writes_need_the_token() {
    let a = TestNode::start_with(&[], with_api).await;
    let b = TestNode::start_with(&[a.addr()], with_api).await;
    let (api_a, api_b, tok) = (base(&a), base(&b), token(&a));
    let provider = SecretKey::generate();
    let first = signed_offer(&provider, "gw-eu", 150, "eu-west");

    // Writes: 401 without the token, 4xx JSON errors for bad bodies.
    let (status, err) = post(&format!("{api_a}/api/v1/objects"), None, &hex_of(&first)).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, err) = post(
        &format!("{api_a}/api/v1/objects"),
        Some("wrong"),
        &hex_of(&first),
    )
    .await;
    assert_eq!(status, 401, "{err}");
    let (status, err) = request(
        Method::POST,
        &format!("{api_a}/api/v1/objects"),
        Some(&tok),
        b"{not json".to_vec(),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_input"))
    );
    let huge = json!({ "hex": "00".repeat(300 * 1024) });
    let (status, err) = post(&format!("{api_a}/api/v1/objects"), Some(&tok), &huge).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (413, Some("too_large"))
    );
    let (status, err) = post(
        &format!("{api_a}/api/v1/objects"),
        Some(&tok),
        &json!({"hex": "zz"}),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    let (status, err) = post(
        &format!("{api_a}/api/v1/objects"),
        Some(&tok),
        &json!({"hex": "00ff00"}),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("refused")),
        "{err}"
    );

    // An externally signed offer, submitted to a, reaches b's listing.
    let (status, done) = post(
        &format!("{api_a}/api/v1/objects"),
        Some(&tok),
        &hex_of(&first),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["id"], first.id().to_string());
    let url = format!("{api_b}/api/v1/offers?region=eu-west");
    eventually("the offer reaches the second node's API", || async {
        ids(&get(&url).await.1).contains(&first.id().to_string())
    })
    .await;
    let (_, page) = get(&format!("{api_b}/api/v1/offers?region=us-east")).await;
    assert!(ids(&page).is_empty(), "{page}");

    // Base64 too; then paging by price, two per page.
    for (key, price) in [("gw-2", 110), ("gw-3", 130)] {
        let offer = signed_offer(&provider, key, price, "eu-west");
        let body = json!({ "base64": base64::engine::general_purpose::STANDARD
            .encode(Object::Offer(offer).encoded()) });
        let (status, done) = post(&format!("{api_a}/api/v1/objects"), Some(&tok), &body).await;
        assert_eq!(status, 200, "{done}");
    }
    let (status, page1) = get(&format!("{api_a}/api/v1/offers?sort=price&limit=2")).await;
    assert_eq!(status, 200);
    let prices = |p: &Value| -> Vec<u64> {
        p["offers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["price"]["amount"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(prices(&page1), [110, 130]);
    assert_eq!(page1["offers"][0]["price"]["decimal"], "1.10");
    let next = page1["next"].as_str().unwrap();
    let (_, page2) = get(&format!(
        "{api_a}/api/v1/offers?sort=price&limit=2&after={next}"
    ))
    .await;
    assert_eq!(prices(&page2), [150]);
    assert!(page2["next"].is_null());
    let (_, cheap) = get(&format!("{api_a}/api/v1/offers?max_price=120&asset=USD")).await;
    assert_eq!(prices(&cheap), [110]);

    // Bad parameters are 400s that say what to do.
    for bad in [
        "limit=500",
        "sort=cheap",
        "bogus=1",
        "max_price=5",
        "min_reputation=2",
    ] {
        let (status, err) = get(&format!("{api_a}/api/v1/offers?{bad}")).await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (400, Some("invalid_input")),
            "{bad}"
        );
    }

    // One offer, by id and by prefix; unknown and malformed ids.
    let id = first.id().to_string();
    let (status, one) = get(&format!("{api_a}/api/v1/offers/{}", &id[..10])).await;
    assert_eq!((status, one["id"].as_str()), (200, Some(id.as_str())));
    assert_eq!(one["expires_at"]["unix"], first.body().expires_at);
    let (status, err) = get(&format!("{api_a}/api/v1/offers/{}", "f".repeat(64))).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = get(&format!("{api_a}/api/v1/offers/not-hex")).await;
    assert_eq!(status, 400);

    // The provider, with its reputation explained; agreements, attestations, status, market.
    let (status, p) = get(&format!("{api_a}/api/v1/providers/{}", provider.public())).await;
    assert_eq!(status, 200);
    assert_eq!(p["offers"].as_array().unwrap().len(), 3);
    assert_eq!(p["reputation"]["rated"], false);
    assert!(p["reputation"]["excluded"].is_array());
    let (status, list) = get(&format!(
        "{api_a}/api/v1/agreements?party={}",
        provider.public()
    ))
    .await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(0)));
    let (status, list) = get(&format!("{api_a}/api/v1/attestations")).await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(0)));
    let (status, s) = get(&format!("{api_b}/api/v1/status")).await;
    assert_eq!(status, 200);
    assert_eq!(s["peer_id"], b.info().peer_id);
    assert!(s["peers"].as_u64().unwrap() >= 1, "{s}");
    let (status, m) = get(&format!("{api_a}/api/v1/market")).await;
    assert_eq!(status, 200);
    let group = m["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["region"] == "eu-west")
        .unwrap()
        .clone();
    assert_eq!(
        (
            group["offers"].as_u64(),
            group["min"].as_u64(),
            group["p50"].as_u64(),
            group["max"].as_u64()
        ),
        (Some(3), Some(110), Some(130), Some(150))
    );

    // Publishing and withdrawing with an account key the node holds.
    let gw = import_account(&a, "gw").await;
    let mut draft =
        serde_json::to_value(samples::offer(gw.public(), "by-account", 1, now())).unwrap();
    draft.as_object_mut().unwrap().retain(|k, _| {
        !["provider", "seq", "withdrawn", "created_at", "expires_at"].contains(&k.as_str())
    });
    let body = json!({ "account": "gw", "offer": draft });
    let (status, _) = post(&format!("{api_a}/api/v1/offers"), None, &body).await;
    assert_eq!(status, 401);
    let (status, err) = post(
        &format!("{api_a}/api/v1/offers"),
        Some(&tok),
        &json!({"account": "nobody", "offer": draft}),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, published) = post(&format!("{api_a}/api/v1/offers"), Some(&tok), &body).await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["provider"], gw.public().to_string());
    let pid = published["id"].as_str().unwrap();
    let (status, gone) = post(
        &format!("{api_a}/api/v1/offers/{pid}/withdraw"),
        Some(&tok),
        &json!({"account": "gw"}),
    )
    .await;
    assert_eq!(
        (status, gone["withdrawn"].as_bool()),
        (200, Some(true)),
        "{gone}"
    );

    // The OpenAPI document, the explorer, and JSON 404s elsewhere.
    let (status, doc) = get(&format!("{api_a}/api/v1/openapi.json")).await;
    assert_eq!(status, 200);
    let expected: Value = serde_json::from_str(&flashback_node::openapi_json()).unwrap();
    assert_eq!(doc, expected);
    assert_eq!(doc["openapi"], "3.1.0");
    let (status, err) = get(&format!("{api_a}/api/v1/nothing")).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, page) = HttpClient::new(Duration::from_secs(10))
        .send(Method::GET, &format!("{api_a}/"), &[], Vec::new(), 1 << 20)
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 200);
    assert!(String::from_utf8_lossy(&page).contains("<main"));

    b.node.shutdown().await;
    a.node.shutdown().await;
}

/// A gateway proposes SLAs over HTTP alone, signed with a consumer's account key its node
/// holds: the proposal travels by gossip to the provider's node, whose acceptance and
/// agreement come back to the API; a second proposal that no longer fits is rejected.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_account_key_proposes_an_sla_over_http_and_the_agreement_is_listed() {
    let provider = TestNode::start(&[]).await;
    let gw = TestNode::start_with(&[provider.addr()], with_api).await;
    let (api, tok) = (base(&gw), token(&gw));
    let mut body = samples::offer(provider.key.public(), "sla-over-http", 1, now());
    body.capacity = 10 * GIB;
    let offer = Signed::sign(body, &provider.key).unwrap();
    provider.node.submit(&Object::Offer(offer.clone())).await;
    eventually("the offer reaches the gateway's node", || async {
        gw.holds(offer.id())
    })
    .await;

    let consumer = import_account(&gw, "shop").await;

    let url = format!("{api}/api/v1/proposals");
    let offer_id = offer.id().to_string();
    let ask = |volume: u64| {
        json!({"account": "shop", "offer": &offer_id[..12], "volume": volume,
               "duration_secs": 86_400, "wait_secs": 20})
    };
    let (status, err) = post(&url, None, &ask(GIB)).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    // Terms the offer does not allow are refused before anything is signed, with its limits.
    let (status, err) = post(&url, Some(&tok), &ask(11 * GIB)).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_input")),
        "{err}"
    );
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("(capacity)") && message.contains(&(10 * GIB).to_string()),
        "{message}"
    );

    let (status, mut view) = post(&url, Some(&tok), &ask(6 * GIB)).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["consumer"], consumer.public().to_string());
    assert_eq!(view["provider"], provider.key.public().to_string());
    assert_eq!(view["offer_id"], offer_id);
    let pid = view["proposal_id"].as_str().unwrap().to_owned();
    // The agreement follows the acceptance by a moment: ask again, each ask held open by
    // the node until it arrives (or 20 s pass).
    let deadline = std::time::Instant::now() + DEADLINE;
    while view["agreement"].is_null() {
        assert!(std::time::Instant::now() < deadline, "no agreement: {view}");
        let (status, again) = get(&format!("{api}/api/v1/proposals/{pid}?wait_secs=20")).await;
        assert_eq!(status, 200, "{again}");
        view = again;
    }
    assert_eq!(view["status"], "accepted", "{view}");
    assert_eq!(view["agreement"]["agreement_id"], pid.as_str());
    assert_eq!(view["agreement"]["volume"], 6 * GIB);
    // The provider's node made it: the proposal reached it by gossip.
    assert!(
        provider
            .node
            .store()
            .agreement_by_proposal(&pid.parse().unwrap())
            .unwrap()
            .is_some_and(|a| a.consumer() == &consumer.public())
    );
    // Listed by the agreements endpoint among the consumer's.
    let (status, list) = get(&format!(
        "{api}/api/v1/agreements?party={}",
        consumer.public()
    ))
    .await;
    assert_eq!(status, 200, "{list}");
    let listed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agreement_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [pid.as_str()]);

    // 6 of 10 GiB are promised: the provider's node rejects another 6 GiB.
    let (status, mut second) = post(&url, Some(&tok), &ask(6 * GIB)).await;
    assert_eq!(status, 200, "{second}");
    let pid2 = second["proposal_id"].as_str().unwrap().to_owned();
    assert_ne!(pid2, pid, "equal proposals stay distinct");
    while second["status"] == "pending" {
        assert!(
            std::time::Instant::now() < deadline,
            "no decision: {second}"
        );
        second = get(&format!("{api}/api/v1/proposals/{pid2}?wait_secs=20"))
            .await
            .1;
    }
    assert_eq!(
        (second["status"].as_str(), second["reason"].as_str()),
        (Some("rejected"), Some("capacity")),
        "{second}"
    );
    assert!(second["agreement"].is_null());
    let (status, err) = get(&format!("{api}/api/v1/proposals/{}", "ab".repeat(32))).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    gw.node.shutdown().await;
    provider.node.shutdown().await;
}

/// An SSE subscriber: a raw HTTP/1.1 request whose answer is read as it comes.
struct Subscriber {
    stream: tokio::net::TcpStream,
    seen: String,
}

impl Subscriber {
    async fn open(api: &str, query: &str) -> Self {
        let addr = api.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /api/v1/events?{query} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut sub = Self {
            stream,
            seen: String::new(),
        };
        sub.until("200 OK").await;
        sub
    }

    /// Reads until `needle` has been seen (the deadline fails the test).
    async fn until(&mut self, needle: &str) {
        let read = async {
            let mut buf = [0u8; 8192];
            while !self.seen.contains(needle) {
                let n = self.stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "the stream ended before {needle:?}: {}", self.seen);
                self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        };
        tokio::time::timeout(DEADLINE, read)
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} in the stream: {}", self.seen));
    }
}

/// A subscriber of one node sees an offer published through another node, and its
/// withdrawal; a filter on the provider keeps others' offers out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_show_an_offer_from_another_node_and_its_withdrawal() {
    let a = TestNode::start_with(&[], with_api).await;
    let b = TestNode::start_with(&[a.addr()], with_api).await;
    eventually("the nodes are connected", || async {
        a.node
            .net()
            .connected_peers()
            .await
            .is_ok_and(|p| !p.is_empty())
    })
    .await;
    let provider = SecretKey::generate();
    let other = SecretKey::generate();
    let mut sub = Subscriber::open(
        &base(&b),
        &format!("kind=offer,withdrawal&provider={}", provider.public()),
    )
    .await;
    let tok = token(&a);
    let objects = format!("{}/api/v1/objects", base(&a));
    let noise = signed_offer(&other, "noise", 100, "eu-west");
    assert_eq!(post(&objects, Some(&tok), &hex_of(&noise)).await.0, 200);
    let offer = signed_offer(&provider, "live", 100, "eu-west");
    assert_eq!(post(&objects, Some(&tok), &hex_of(&offer)).await.0, 200);
    sub.until(&format!("id: {}", offer.id())).await;
    assert!(sub.seen.contains("event: offer"), "{}", sub.seen);
    let tombstone = Signed::sign(offer.body().withdrawal(now(), None).unwrap(), &provider).unwrap();
    assert_eq!(post(&objects, Some(&tok), &hex_of(&tombstone)).await.0, 200);
    sub.until("event: withdrawal").await;
    assert!(
        sub.seen.contains(&tombstone.id().to_string()),
        "{}",
        sub.seen
    );
    assert!(!sub.seen.contains(&noise.id().to_string()), "{}", sub.seen);
    let (status, err) = get(&format!("{}/api/v1/events?kind=everything", base(&b))).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_input"))
    );
    drop(sub);
    b.node.shutdown().await;
    a.node.shutdown().await;
}

/// `listing query`, `provider show`, `sla propose` and `sla list` with `--json` print what the
/// API answers, field for field.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_json_and_the_api_are_the_same_objects() {
    let provider = SecretKey::generate();
    let node = TestNode::start_keyed(&[], provider.clone(), with_api).await;
    let dir = tempfile::tempdir().unwrap();
    let pkey = write_key(dir.path(), "p.key", &provider);
    let ckey = write_key(dir.path(), "c.key", &SecretKey::generate());
    let addr = node.addr();
    let out: Value = serde_json::from_str(
        &cli_stdout(&[
            "offer",
            "publish",
            "--node",
            &addr,
            "--key",
            &pkey,
            "--offer-key",
            "same",
            "--capacity",
            "10 GiB",
            "--price",
            "100",
            "--region",
            "eu-west",
            "--endpoint",
            "https://storage.example.net",
            "--json",
        ])
        .await,
    )
    .unwrap();
    let offer_id = out["id"].as_str().unwrap().to_owned();
    let proposed = cli(&[
        "sla",
        "propose",
        "--node",
        &addr,
        "--key",
        &ckey,
        "--offer",
        &offer_id,
        "--volume",
        "1 GiB",
        "--duration",
        "2d",
        "--wait",
        "30s",
        "--json",
    ])
    .await;
    let mut proposed: Value = serde_json::from_slice(&proposed.stdout).unwrap();
    assert_eq!(proposed["status"], "accepted", "{proposed}");
    let api = base(&node);
    // `sla propose --json` is the API's proposal view, plus what the command waited for.
    let fields = proposed.as_object_mut().unwrap();
    assert_eq!(fields.remove("offer_limits"), Some(Value::Null));
    assert!(fields.remove("access").is_some());
    let pid = proposed["proposal_id"].as_str().unwrap();
    let (status, view) = get(&format!("{api}/api/v1/proposals/{pid}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(proposed, view);
    let cli_json = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        serde_json::from_str::<Value>(&cli_stdout(&args).await).unwrap()
    };
    let a = |s: &str| s.to_owned();

    let listing = cli_json(vec![
        a("listing"),
        a("query"),
        a("--node"),
        addr.clone(),
        a("--region"),
        a("eu-west"),
        a("--json"),
    ])
    .await;
    let (_, page) = get(&format!("{api}/api/v1/offers?region=eu-west")).await;
    assert_eq!(listing, page["offers"]);
    assert_eq!(listing.as_array().unwrap().len(), 1);

    let key = provider.public().to_string();
    let shown = cli_json(vec![
        a("provider"),
        a("show"),
        key.clone(),
        a("--node"),
        addr.clone(),
        a("--json"),
    ])
    .await;
    let (_, from_api) = get(&format!("{api}/api/v1/providers/{key}")).await;
    assert_eq!(shown, from_api);
    assert_eq!(shown["agreements"].as_array().unwrap().len(), 1);

    let agreements = cli_json(vec![
        a("sla"),
        a("list"),
        a("--node"),
        addr.clone(),
        a("--json"),
    ])
    .await;
    let (_, from_api) = get(&format!("{api}/api/v1/agreements")).await;
    assert_eq!(agreements, from_api);
    assert_eq!(agreements[0]["total"]["asset"], "USD");
    node.node.shutdown().await;
}
