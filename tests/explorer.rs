//! The web explorer in a real browser: headless Chromium driven through WebDriver
//! (chromedriver on a free loopback port), against two real nodes. The page loads; filtering
//! by region shows an offer published through the other node; the provider page explains the
//! reputation (the attestation that did not count, and why); an offer published meanwhile
//! appears without a reload. Saves a screenshot to `<target>/tmp/explorer.png`.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::api::{base, hex_of, post, signed_offer, token, with_api};
use common::{ChildGuard, DEADLINE, TestNode, can_run, eventually};
use fantoccini::{Client, ClientBuilder, Locator};
use flashback_client::http::{HttpClient, Method};
use flashback_types::clock::now;
use flashback_types::{Object, SecretKey, Signed, samples};
use serde_json::json;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A free loopback port (bound then released for chromedriver to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts chromedriver and waits until it says it is ready; its URL and the guard that
/// kills it.
async fn chromedriver() -> (String, ChildGuard) {
    let port = free_port();
    let guard = ChildGuard::spawn(
        Command::new(CHROMEDRIVER)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()]),
    );
    let url = format!("http://127.0.0.1:{port}");
    let http = HttpClient::new(Duration::from_secs(5));
    let status = format!("{url}/status");
    eventually("chromedriver is ready", || async {
        match http
            .send(Method::GET, &status, &[], Vec::new(), 1 << 16)
            .await
        {
            Ok((_, body)) => String::from_utf8_lossy(&body).contains("\"ready\":true"),
            Err(_) => false,
        }
    })
    .await;
    (url, guard)
}

async fn browser(driver: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver)
        .await
        .expect("chromedriver starts a headless Chromium")
}

/// The offer ids the listing table shows now.
async fn shown(c: &Client) -> Vec<String> {
    let mut ids = Vec::new();
    if let Ok(rows) = c
        .find_all(Locator::Css("#offers tbody tr[data-offer-id]"))
        .await
    {
        for row in rows {
            if let Ok(Some(id)) = row.attr("data-offer-id").await {
                ids.push(id);
            }
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_explorer_filters_explains_and_updates_live_in_a_browser() {
    if !can_run(
        Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
        "chromium and chromium-driver (apt-get install chromium chromium-driver)",
    ) {
        return;
    }
    let a = TestNode::start_with(&[], with_api).await;
    let b = TestNode::start_with(&[a.addr()], with_api).await;
    let (objects, tok) = (format!("{}/api/v1/objects", base(&a)), token(&a));
    let provider = SecretKey::generate();
    let far = signed_offer(&provider, "far", 120, "ap-south");
    let near = signed_offer(&SecretKey::generate(), "near", 100, "eu-west");
    for offer in [&far, &near] {
        assert_eq!(post(&objects, Some(&tok), &hex_of(offer)).await.0, 200);
    }
    // An attestation without an agreement: the provider page must say it did not count.
    let attester = SecretKey::generate();
    let attestation =
        samples::attestation(attester.public(), provider.public(), None, 10, 10, now());
    let attestation = Object::QosAttestation(Signed::sign(attestation, &attester).unwrap());
    let body = json!({ "hex": hex::encode(attestation.encoded()) });
    assert_eq!(post(&objects, Some(&tok), &body).await.0, 200);
    eventually("b holds what was published through a", || async {
        b.holds(far.id()) && b.holds(near.id()) && b.holds(attestation.id())
    })
    .await;

    let (driver, mut guard) = chromedriver().await;
    let c = browser(&driver).await;
    let result = async {
        c.goto(&format!("{}/", base(&b))).await.unwrap();
        c.wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css("#offers tbody tr[data-offer-id]"))
            .await
            .unwrap();
        assert_eq!(c.title().await.unwrap(), "Flashback explorer");

        // Filter by region: only the offer from ap-south, published through the other node.
        c.find(Locator::Id("filter-region"))
            .await
            .unwrap()
            .send_keys("ap-south")
            .await
            .unwrap();
        c.find(Locator::Id("apply"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        eventually("the region filter applies", || async {
            shown(&c).await == vec![far.id().to_string()]
        })
        .await;

        // A new offer in that region appears without a reload (the events stream).
        let marker = c
            .execute("window.__same_page = true; return true;", vec![])
            .await
            .unwrap();
        assert_eq!(marker, json!(true));
        let later = signed_offer(&SecretKey::generate(), "later", 90, "ap-south");
        assert_eq!(post(&objects, Some(&tok), &hex_of(&later)).await.0, 200);
        eventually("the new offer appears live", || async {
            shown(&c).await.contains(&later.id().to_string())
        })
        .await;
        let same = c
            .execute("return window.__same_page === true;", vec![])
            .await
            .unwrap();
        assert_eq!(same, json!(true), "the page was reloaded");
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        std::fs::write(dir.join("explorer.png"), c.screenshot().await.unwrap()).unwrap();

        // The provider page explains the reputation.
        c.goto(&format!("{}/#/provider/{}", base(&b), provider.public()))
            .await
            .unwrap();
        let section = c
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Id("reputation-explanation"))
            .await
            .unwrap();
        let text = section.text().await.unwrap();
        assert!(text.contains("unrated"), "{text}");
        assert!(text.contains("Excluded attestations (1)"), "{text}");
        assert!(text.contains(&attestation.id().to_string()[..10]), "{text}");
        std::fs::write(
            dir.join("explorer-provider.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
    }
    .await;
    let _ = c.close().await;
    guard.kill();
    b.node.shutdown().await;
    a.node.shutdown().await;
    result
}
