//! The API's figures (ignored: a minute or more, and meant for a quiet machine):
//! `cargo test --release -p flashback --test api_bench -- --ignored --nocapture`.
//! Writes what docs/bench/api.md reports: a listing query over HTTP against a node holding
//! 100 000 offers, p50 and p99, next to the same query in-process (store query and views, no
//! HTTP) in the same run; and the fan-out of one event to 100 SSE subscribers.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // a bench prints its figures

mod common;

use std::time::{Duration, Instant};

use common::api::{base, get, hex_of, post, signed_offer, token, with_api};
use common::{DEADLINE, TestNode};
use flashback_api::view::OfferView;
use flashback_types::clock::now;
use flashback_types::stats::percentile;
use flashback_types::{OfferQuery, SecretKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OFFERS: usize = 100_000;
const QUERIES: usize = 300;
const SUBSCRIBERS: usize = 100;
const ROUNDS: usize = 20;

fn summary(what: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    println!(
        "{what}: n={} p50={:.3} ms p99={:.3} ms",
        samples.len(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn api_listing_query_and_event_fan_out() {
    let node = TestNode::start_with(&[], |c| {
        with_api(c);
        c.api.subscriber_buffer = 1024;
    })
    .await;
    let offers = flashback_harness::sign_offers(OFFERS, 10, "api-bench");
    let encoded: Vec<Vec<u8>> = offers.iter().map(|o| o.encoded().to_vec()).collect();
    for chunk in encoded.chunks(512) {
        node.node.validator().ingest(chunk.to_vec()).await;
    }
    assert!(node.node.store().counts().of(flashback_types::Kind::Offer) >= OFFERS as u64);
    println!("{OFFERS} offers listed");

    // The same query, over HTTP and in-process.
    let url = format!(
        "{}/api/v1/offers?region=eu-west&sort=price&limit=20",
        base(&node)
    );
    let query = OfferQuery {
        regions: vec!["eu-west".try_into().unwrap()].try_into().unwrap(),
        limit: 20,
        ..OfferQuery::default()
    };
    let (mut http, mut local) = (Vec::new(), Vec::new());
    for _ in 0..QUERIES {
        let start = Instant::now();
        let (status, page) = get(&url).await;
        http.push(start.elapsed());
        assert_eq!(
            (status, page["offers"].as_array().map(Vec::len)),
            (200, Some(20))
        );
        let store = node.node.store().clone();
        let q = query.clone();
        let elapsed = tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            let page = store.query_offers(&q, now()).unwrap();
            let views: Vec<OfferView> = page
                .offers
                .iter()
                .map(|o| OfferView::new(o, Vec::new()))
                .collect();
            let _ = serde_json::to_vec(&views).unwrap();
            start.elapsed()
        })
        .await
        .unwrap();
        local.push(elapsed);
    }
    summary("listing query over HTTP (100k offers)", http);
    summary("same query in-process (store + views + JSON)", local);

    // One event to 100 subscribers: from the submit until the last subscriber has it.
    let addr = node.info().api_addr.unwrap();
    let mut subscribers = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /api/v1/events?kind=offer HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).contains("200 OK"));
        subscribers.push(s);
    }
    let (tok, objects) = (token(&node), format!("{}/api/v1/objects", base(&node)));
    let mut fan_out = Vec::new();
    for round in 0..ROUNDS {
        let offer = signed_offer(
            &SecretKey::generate(),
            &format!("fan-{round}"),
            100,
            "eu-west",
        );
        let needle = format!("id: {}", offer.id());
        let start = Instant::now();
        assert_eq!(post(&objects, Some(&tok), &hex_of(&offer)).await.0, 200);
        let reads = subscribers.iter_mut().map(|s| {
            let needle = needle.clone();
            async move {
                let mut seen = String::new();
                let mut buf = vec![0u8; 16384];
                while !seen.contains(&needle) {
                    let n = s.read(&mut buf).await.unwrap();
                    assert!(n > 0);
                    seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        tokio::time::timeout(DEADLINE, futures::future::join_all(reads))
            .await
            .unwrap();
        fan_out.push(start.elapsed());
    }
    summary(
        "one event to 100 SSE subscribers (submit to last delivery)",
        fan_out,
    );
    drop(subscribers);
    node.node.shutdown().await;
}
