//! The CLI as a daily tool, through the real binary against real nodes: listing order and
//! filters, ids by prefix, tables, sequence numbers, reputation display, everyday commands,
//! proposals checked before signing, probe progress and JSON errors; and the reliability of
//! what a provider publishes (seqs that never equivocate, a lost version that says so,
//! listings that page through everything).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::process::Output;
use std::time::Duration;

use common::{TestNode, cli, eventually, write_key};
use flashback_client::{Client, ClientError, Terms};
use flashback_types::clock::now;
use flashback_types::{
    BoundedVec, DataProtocol, ErrorCode, GIB, Kind, Object, Offer, OfferQuery, Rule, SecretKey,
    Signed, samples,
};
use serde_json::Value;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed; its stdout.
async fn ok(args: &[&str]) -> String {
    let out = cli(args).await;
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        stderr(&out),
        stdout(&out)
    );
    stdout(&out)
}

/// Runs a `--json` command that must succeed; its JSON.
async fn json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args).await).unwrap()
}

/// Runs a `--json` command that must fail: its JSON error (`code`, `message`, …) from stdout,
/// after checking the exit status is non-zero and stdout holds nothing else.
async fn json_error(args: &[&str]) -> Value {
    let out = cli(args).await;
    assert!(
        !out.status.success(),
        "{args:?} succeeded: {}",
        stdout(&out)
    );
    let v: Value = serde_json::from_str(stdout(&out).trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {}", stdout(&out)));
    v["error"].clone()
}

/// Publishes an offer from flags through the CLI; its JSON.
async fn publish(addr: &str, key: &str, offer_key: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "offer",
        "publish",
        "--node",
        addr,
        "--key",
        key,
        "--offer-key",
        offer_key,
        "--capacity",
        "10 GiB",
        "--endpoint",
        "https://storage.example.net",
        "--json",
    ];
    if !extra.contains(&"--price") {
        args.extend(["--price", "100"]);
    }
    args.extend_from_slice(extra);
    json(&args).await
}

fn offer_keys(listing: &Value) -> Vec<String> {
    listing
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["offer_key"].as_str().unwrap().to_owned())
        .collect()
}

/// 33.1: `--sort price` sorts by price without `--max-price`; prices in two assets are never
/// ranked together; `--asset` alone filters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_sorts_by_price_within_each_asset_and_an_asset_alone_filters() {
    let node = TestNode::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let key = write_key(dir.path(), "p.key", &SecretKey::generate());
    let addr = node.addr();
    for (name, price, asset) in [
        ("usd-120", "120", "USD"),
        ("eur-90", "90", "EUR"),
        ("usd-70", "70", "USD"),
        ("eur-40", "40", "EUR"),
        ("usd-75", "75", "USD"),
    ] {
        publish(&addr, &key, name, &["--price", price, "--asset", asset]).await;
    }
    // Grouped by asset (by code), cheapest first within each: never 0.70 USD between two EUR.
    let sorted = ["eur-40", "eur-90", "usd-70", "usd-75", "usd-120"];
    for sort in [&[][..], &["--sort", "price"][..]] {
        let mut args = vec!["listing", "query", "--node", &addr, "--json"];
        args.extend_from_slice(sort);
        assert_eq!(offer_keys(&json(&args).await), sorted);
    }
    // The table in the same order, prices in major units.
    let table = ok(&["listing", "query", "--node", &addr]).await;
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 5, "{table}");
    for (row, (name, price)) in rows.iter().zip([
        ("eur-40", "0.40 EUR/GiB-month"),
        ("eur-90", "0.90 EUR/GiB-month"),
        ("usd-70", "0.70 USD/GiB-month"),
        ("usd-75", "0.75 USD/GiB-month"),
        ("usd-120", "1.20 USD/GiB-month"),
    ]) {
        assert!(row.contains(name) && row.contains(price), "{row}");
    }
    // An asset alone filters (any case); with a price cap in it too.
    let usd = json(&[
        "listing", "query", "--node", &addr, "--asset", "usd", "--json",
    ])
    .await;
    assert_eq!(offer_keys(&usd), ["usd-70", "usd-75", "usd-120"]);
    let capped = json(&[
        "listing",
        "query",
        "--node",
        &addr,
        "--asset",
        "EUR",
        "--max-price",
        "50",
        "--json",
    ])
    .await;
    assert_eq!(offer_keys(&capped), ["eur-40"]);
    // A cap needs its asset.
    let err = json_error(&[
        "listing",
        "query",
        "--node",
        &addr,
        "--max-price",
        "50",
        "--json",
    ])
    .await;
    assert_eq!(err["code"], "invalid_input", "{err}");
    node.node.shutdown().await;
}

/// Two keys whose public keys start with the same 8 hex characters (`e136e2bb`), found by
/// searching seeds once.
fn twins() -> (SecretKey, SecretKey) {
    let seed = |n: u64| {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&n.to_le_bytes());
        SecretKey::from_seed(&s)
    };
    let (a, b) = (seed(12_977), seed(96_155));
    assert!(a.public().to_string().starts_with("e136e2bb"));
    assert!(b.public().to_string().starts_with("e136e2bb"));
    (a, b)
}

/// 33.2: ids and keys by any unique prefix of 8+ hex characters; an ambiguous one lists its
/// matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ids_take_any_unique_prefix_and_an_ambiguous_one_lists_its_matches() {
    let (a, b) = twins();
    let home = TestNode::start(&[]).await;
    let provider = TestNode::start_keyed(&[home.addr()], a.clone(), |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let (key_a, key_b) = (
        write_key(dir.path(), "a.key", &a),
        write_key(dir.path(), "b.key", &b),
    );
    let consumer = write_key(dir.path(), "c.key", &SecretKey::generate());
    let addr = home.addr();
    let offer = publish(&provider.addr(), &key_a, "a-offer", &[]).await;
    publish(&addr, &key_b, "b-offer", &[]).await;
    let offer_id = offer["id"].as_str().unwrap().to_owned();
    eventually("a's offer reaches the consumer's node", || async {
        home.holds(offer_id.parse().unwrap())
    })
    .await;

    // Ambiguous: both keys listed, human and JSON.
    let out = cli(&["provider", "show", "e136e2bb", "--node", &addr]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("ambiguous"), "{err}");
    for k in [&a, &b] {
        assert!(err.contains(&k.public().to_string()), "{err}");
    }
    let err = json_error(&["provider", "show", "e136e2bb", "--node", &addr, "--json"]).await;
    assert_eq!(err["code"], "ambiguous");
    assert_eq!(err["matches"].as_array().unwrap().len(), 2, "{err}");

    // Unique: one more character, or the 10 a table prints.
    let a_short = &a.public().to_string()[..10];
    let shown = ok(&["provider", "show", a_short, "--node", &addr]).await;
    assert!(
        shown.starts_with(&format!("provider {}", a.public())),
        "{shown}"
    );
    let listed = json(&[
        "listing",
        "query",
        "--node",
        &addr,
        "--provider",
        a_short,
        "--json",
    ])
    .await;
    assert_eq!(offer_keys(&listed), ["a-offer"]);

    // An offer by the 12 characters its table row prints: the provider's node accepts.
    let accepted = json(&[
        "sla",
        "propose",
        "--node",
        &addr,
        "--key",
        &consumer,
        "--offer",
        &offer_id[..12],
        "--volume",
        "1 GiB",
        "--duration",
        "1d",
        "--json",
    ])
    .await;
    assert_eq!(accepted["status"], "accepted", "{accepted}");
    assert_eq!(accepted["offer_id"], offer_id.as_str());

    // Too short, or matching nothing.
    let err = json_error(&["provider", "show", "e136e2b", "--node", &addr, "--json"]).await;
    assert_eq!(err["code"], "invalid_input", "{err}");
    let err = json_error(&[
        "sla",
        "propose",
        "--node",
        &addr,
        "--key",
        &consumer,
        "--offer",
        "0000000000",
        "--volume",
        "1 GiB",
        "--duration",
        "1d",
        "--json",
    ])
    .await;
    assert_eq!(err["code"], "not_found", "{err}");
    provider.node.shutdown().await;
    home.node.shutdown().await;
}

/// 33.3: tables start with a header row and say what is not promised; one duration
/// convention.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tables_have_header_rows_and_say_what_is_not_promised() {
    let home = TestNode::start(&[]).await;
    let other = TestNode::start(&[home.addr()]).await;
    let dir = tempfile::tempdir().unwrap();
    let key = write_key(dir.path(), "p.key", &home.key);
    let addr = home.addr();
    publish(
        &addr,
        &key,
        "plain",
        &["--min-duration", "1 month", "--max-duration", "90d"],
    )
    .await;
    let table = ok(&["listing", "query", "--node", &addr]).await;
    let lines: Vec<&str> = table.lines().collect();
    for column in [
        "ID",
        "PROVIDER",
        "OFFER",
        "CAPACITY",
        "PRICE",
        "AVAILABILITY",
        "P95",
        "DURATIONS",
        "COPIES",
        "REPUTATION",
        "REGIONS",
        "PROTOCOLS",
        "EXPIRES",
    ] {
        assert!(lines[0].contains(column), "{column} missing: {}", lines[0]);
    }
    // Availability and latency not promised say so; "1 month" is 30 days; unrated.
    assert!(lines[1].contains("not promised"), "{}", lines[1]);
    assert!(!lines[1].contains("0.00%"), "{}", lines[1]);
    assert!(lines[1].contains("30d to 90d"), "{}", lines[1]);
    assert!(lines[1].contains("unrated"), "{}", lines[1]);
    let mine = ok(&["offer", "list", "--mine", "--key", &key, "--node", &addr]).await;
    assert!(mine.starts_with("ID "), "{mine}");
    eventually("the nodes connect", || async {
        home.node.net().connected_peers().await.unwrap().len() == 1
    })
    .await;
    let peers = ok(&["node", "peers", "--node", &addr]).await;
    assert!(peers.starts_with("PEER ID"), "{peers}");
    let agreements = ok(&["sla", "list", "--node", &addr]).await;
    assert_eq!(agreements.trim(), "no agreements");
    other.node.shutdown().await;
    home.node.shutdown().await;
}

/// 33.4: `--seq` overrides the file's; a seq ahead of the clock does not block later
/// publishes; a taken seq is refused with the live one and what to pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seq_flag_overrides_the_file_and_a_taken_seq_shows_the_live_one() {
    let node = TestNode::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let key = write_key(dir.path(), "p.key", &SecretKey::generate());
    let addr = node.addr();
    let ahead = now() + 100_000;
    let file = dir.path().join("offer.toml");
    std::fs::write(
        &file,
        format!(
            "offer_key = \"filed\"\ncapacity = \"1 TiB\"\nprotocols = [\"s3\"]\nendpoint = \
             \"https://s3.example.net\"\nseq = {ahead}\n[price]\namount = 100\nasset = \"USD\"\n"
        ),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let publish_file = |extra: &'static [&'static str]| {
        let (addr, key) = (addr.clone(), key.clone());
        async move {
            let mut args = vec![
                "offer", "publish", "--node", &addr, "--key", &key, "--file", file, "--json",
            ];
            args.extend_from_slice(extra);
            cli(&args).await
        }
    };
    let first: Value = serde_json::from_str(&stdout(&publish_file(&[]).await)).unwrap();
    assert_eq!(first["seq"], ahead, "the file's seq");
    // The flag wins over the file.
    let out = cli(&[
        "offer",
        "publish",
        "--node",
        &addr,
        "--key",
        &key,
        "--file",
        file,
        "--json",
        "--seq",
        &(ahead + 10).to_string(),
    ])
    .await;
    let second: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(second["seq"], ahead + 10, "{second}");
    // A publish without a seq is not blocked by one ahead of the clock: the next free one.
    let third = publish(&addr, &key, "filed", &[]).await;
    assert_eq!(third["seq"], ahead + 11, "{third}");
    assert_eq!(third["replaced_seq"], ahead + 10);
    // A taken seq: refused before signing, with the live seq and what to pass.
    let out = cli(&[
        "offer", "publish", "--node", &addr, "--key", &key, "--file", file, "--seq", "5",
    ])
    .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("live seq is {}", ahead + 11)),
        "{err}"
    );
    assert!(
        err.contains(&format!("use seq {} or more", ahead + 12)),
        "{err}"
    );
    let err = json_error(&[
        "offer", "publish", "--node", &addr, "--key", &key, "--file", file, "--seq", "5", "--json",
    ])
    .await;
    assert_eq!(err["code"], "conflict", "{err}");
    node.node.shutdown().await;
}

/// 33.5: a provider without evidence is unrated, and a consumer key is not shown as a rated
/// provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_show_rates_only_what_it_knows() {
    let node = TestNode::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let provider = SecretKey::generate();
    let key = write_key(dir.path(), "p.key", &provider);
    let consumer = write_key(dir.path(), "c.key", &SecretKey::generate());
    let addr = node.addr();
    publish(&addr, &key, "new", &[]).await;
    let shown = ok(&["provider", "show", &key, "--node", &addr]).await;
    assert!(shown.contains("reputation unrated"), "{shown}");
    assert!(!shown.contains("0.500"), "{shown}");
    let v = json(&["provider", "show", &key, "--node", &addr, "--json"]).await;
    assert_eq!(v["reputation"]["rated"], false);
    let shown = ok(&["provider", "show", &consumer, "--node", &addr]).await;
    assert!(shown.contains("it is not a provider"), "{shown}");
    assert!(!shown.contains("reputation"), "{shown}");
    node.node.shutdown().await;
}

/// 33.6: `node status`, `node peers`, `offer list --mine`, and `--party` with a key file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_status_peers_and_offer_list_mine_answer_everyday_questions() {
    let a = TestNode::start(&[]).await;
    let b = TestNode::start(&[a.addr()]).await;
    let dir = tempfile::tempdir().unwrap();
    let mine = write_key(dir.path(), "mine.key", &SecretKey::generate());
    let theirs = write_key(dir.path(), "theirs.key", &SecretKey::generate());
    let addr = a.addr();
    publish(&addr, &mine, "one", &[]).await;
    publish(&addr, &mine, "two", &[]).await;
    publish(&addr, &theirs, "other", &[]).await;
    let b_peer = b.info().peer_id.clone();
    eventually("b is a's peer", || async {
        ok(&["node", "peers", "--node", &addr])
            .await
            .contains(&b_peer)
    })
    .await;

    let status = json(&["node", "status", "--node", &addr, "--json"]).await;
    assert_eq!(status["peer_id"], a.info().peer_id.as_str());
    assert_eq!(status["public_key"], a.key.public().to_string());
    assert_eq!(
        status["peers"], 1,
        "the asking client is not a peer: {status}"
    );
    assert_eq!(status["counts"]["offer"], 3);
    assert_eq!(status["listen_addrs"][0], addr.as_str());
    assert!(status["sync"]["rounds"].is_u64(), "{status}");
    let human = ok(&["node", "status", "--node", &addr]).await;
    assert!(
        human.contains(&format!("peer id       {}", a.info().peer_id)),
        "{human}"
    );
    assert!(human.contains("peers         1 connected"), "{human}");

    let peers = json(&["node", "peers", "--node", &addr, "--json"]).await;
    assert_eq!(peers.as_array().unwrap().len(), 1, "{peers}");
    assert_eq!(peers[0]["peer_id"], b_peer.as_str());

    let listed = json(&[
        "offer", "list", "--mine", "--key", &mine, "--node", &addr, "--json",
    ])
    .await;
    let mut keys = offer_keys(&listed);
    keys.sort();
    assert_eq!(keys, ["one", "two"]);
    let agreements = json(&["sla", "list", "--node", &addr, "--party", &mine, "--json"]).await;
    assert_eq!(agreements, serde_json::json!([]));
    b.node.shutdown().await;
    a.node.shutdown().await;
}

/// 33.7: a proposal the offer does not allow is refused before anything is signed, naming the
/// offer's limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_outside_the_offer_is_refused_before_signing() {
    let node = TestNode::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let key = write_key(dir.path(), "p.key", &SecretKey::generate());
    let consumer = write_key(dir.path(), "c.key", &SecretKey::generate());
    let addr = node.addr();
    let offer = publish(
        &addr,
        &key,
        "short",
        &["--min-duration", "1d", "--max-duration", "30d"],
    )
    .await;
    let id = offer["id"].as_str().unwrap();
    let propose = |volume: &'static str, duration: &'static str| {
        let (addr, consumer, id) = (addr.clone(), consumer.clone(), id.to_owned());
        async move {
            cli(&[
                "sla",
                "propose",
                "--node",
                &addr,
                "--key",
                &consumer,
                "--offer",
                &id,
                "--volume",
                volume,
                "--duration",
                duration,
                "--wait",
                "1s",
            ])
            .await
        }
    };
    let out = propose("1 GiB", "400d").await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "you asked for a duration of 400d; the offer accepts durations from 1d to 30d"
        ),
        "{}",
        stderr(&out)
    );
    let out = propose("11 GiB", "2d").await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("you asked for a volume of 11.0 GiB; the offer has 10.0 GiB in all"),
        "{}",
        stderr(&out)
    );
    let err = json_error(&[
        "sla",
        "propose",
        "--node",
        &addr,
        "--key",
        &consumer,
        "--offer",
        id,
        "--volume",
        "1 GiB",
        "--duration",
        "1h",
        "--json",
    ])
    .await;
    assert_eq!(err["code"], "invalid_input", "{err}");
    assert_eq!(
        node.node.store().counts().of(Kind::SlaProposal),
        0,
        "nothing was signed or sent"
    );
    node.node.shutdown().await;
}

/// 33.8: `probe` says what it will do, reports each window as it starts and when the next one
/// does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn probe_says_what_it_will_do_and_reports_each_window() {
    let provider = TestNode::start_with(&[], |c| c.blobs.enabled = true).await;
    let consumer = SecretKey::generate();
    let mut body = samples::offer(provider.key.public(), "blob", 1, now());
    body.protocols = BoundedVec::try_from_vec(vec![DataProtocol::FlashbackBlob]).unwrap();
    body.endpoint = provider
        .info()
        .blob_endpoint
        .clone()
        .unwrap()
        .as_str()
        .try_into()
        .unwrap();
    let offer = Signed::sign(body, &provider.key).unwrap();
    provider.node.submit(&Object::Offer(offer.clone())).await;
    let client = Client::connect(&[provider.addr()]).await.unwrap();
    let terms = Terms {
        volume: GIB,
        duration_secs: 24 * 3600,
        start: None,
        decide_within: Duration::from_secs(120),
    };
    let proposal = client.propose(&consumer, &offer, terms).await.unwrap();
    client
        .wait_decision(&proposal, common::DEADLINE)
        .await
        .unwrap()
        .expect("the provider decides");
    client.close().await;

    let dir = tempfile::tempdir().unwrap();
    let key = write_key(dir.path(), "c.key", &consumer);
    let out = cli(&[
        "probe",
        "--key",
        &key,
        "--node",
        &provider.addr(),
        "--window",
        "1s",
        "--windows",
        "2",
        "--probes",
        "3",
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let progress = stderr(&out);
    let lines: Vec<&str> = progress.lines().collect();
    assert!(
        lines[0].starts_with("probing 1 agreement for 2 windows of 1s (3 reads each)"),
        "{progress}"
    );
    let started: Vec<&&str> = lines.iter().filter(|l| l.starts_with("window ")).collect();
    assert_eq!(started.len(), 2, "{progress}");
    assert!(
        started[0].starts_with("window 1/2 started; it ends at "),
        "{progress}"
    );
    assert!(
        started[0].ends_with("the next window starts then"),
        "{progress}"
    );
    assert!(started[1].starts_with("window 2/2 started"), "{progress}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.trim_start().starts_with("attested "))
            .count(),
        2,
        "{progress}"
    );
    provider.node.shutdown().await;
}

/// 33.11: under `--json`, an error is one JSON object on stdout with a stable code, and the
/// exit status is non-zero; without it, one line on stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_under_json_are_objects_with_a_stable_code() {
    let node = TestNode::start(&[]).await;
    let addr = node.addr();
    // Nobody listens there.
    let gone = format!(
        "/ip4/127.0.0.1/tcp/1/p2p/{}",
        SecretKey::generate().public().to_peer_id()
    );
    let err = json_error(&["listing", "query", "--node", &gone, "--json"]).await;
    assert_eq!(err["code"], "unreachable", "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach node"),
        "{err}"
    );
    // A command line that does not parse: exit status 2.
    let out = cli(&[
        "listing", "query", "--node", &addr, "--limit", "0", "--json",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["error"]["code"], "invalid_input");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    // Nothing by that id; a bad key file.
    let err = json_error(&["provider", "show", "abcdef0123", "--node", &addr, "--json"]).await;
    assert_eq!(err["code"], "not_found", "{err}");
    let err = json_error(&[
        "offer",
        "withdraw",
        "--node",
        &addr,
        "--key",
        "/nonexistent.key",
        "--offer-key",
        "x",
        "--json",
    ])
    .await;
    assert_eq!(err["code"], "invalid_input", "{err}");
    // Every code has its stable name.
    for code in ErrorCode::ALL {
        assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
    }
    // Without --json: stdout stays empty, one line on stderr.
    let out = cli(&["listing", "query", "--node", &gone]).await;
    assert!(!out.status.success());
    assert!(stdout(&out).is_empty());
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).starts_with("error: cannot reach node"));
    node.node.shutdown().await;
}

/// 32.1: an honest provider never equivocates: same-second republishes, publish → withdraw →
/// publish, and a withdrawal after the highest seq all take fresh seqs and leave it unflagged;
/// two bodies signed with one seq on purpose still flag their provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_providers_never_equivocate_but_real_equivocation_is_flagged() {
    let node = TestNode::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let provider = SecretKey::generate();
    let key = write_key(dir.path(), "p.key", &provider);
    let addr = node.addr();
    let seq = |v: &Value| v["seq"].as_u64().unwrap();

    // Republishes as fast as the binary runs (several within a second), each a new body.
    let mut seqs = Vec::new();
    for price in ["100", "101", "102"] {
        seqs.push(seq(&publish(&addr, &key, "fast", &["--price", price]).await));
    }
    // The same second, made certain: a live seq ahead of the clock, as a republish within the
    // second leaves it; the next publish takes the seq after it, not the clock's.
    let ahead = now() + 1_000;
    seqs.push(seq(&publish(
        &addr,
        &key,
        "fast",
        &["--price", "103", "--seq", &ahead.to_string()],
    )
    .await));
    seqs.push(seq(&publish(&addr, &key, "fast", &["--price", "104"]).await));
    assert_eq!(seqs[4], ahead + 1);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // Publish, withdraw, publish: three fresh seqs, the last one listed.
    let withdraw = |offer_key: &'static str| {
        let (addr, key) = (addr.clone(), key.clone());
        async move {
            json(&[
                "offer",
                "withdraw",
                "--node",
                &addr,
                "--key",
                &key,
                "--offer-key",
                offer_key,
                "--json",
            ])
            .await
        }
    };
    let p1 = seq(&publish(&addr, &key, "cycle", &[]).await);
    let w = seq(&withdraw("cycle").await);
    let p2 = publish(&addr, &key, "cycle", &["--price", "99"]).await;
    assert!(p1 < w && w < seq(&p2), "{p1} {w} {p2}");
    let listed = json(&[
        "offer", "list", "--mine", "--key", &key, "--node", &addr, "--json",
    ])
    .await;
    assert!(listed.to_string().contains(p2["id"].as_str().unwrap()));

    // The highest live seq can still be withdrawn; above it is refused before signing.
    let top = Offer::MAX_LIVE_SEQ.to_string();
    publish(&addr, &key, "top", &["--seq", &top]).await;
    assert_eq!(withdraw("top").await["seq"], u64::MAX);
    let err = json_error(&[
        "offer",
        "publish",
        "--node",
        &addr,
        "--key",
        &key,
        "--offer-key",
        "over",
        "--capacity",
        "1 GiB",
        "--price",
        "1",
        "--endpoint",
        "https://x.example",
        "--seq",
        &u64::MAX.to_string(),
        "--json",
    ])
    .await;
    assert_eq!(err["code"], "invalid_input", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("withdrawal"),
        "{err}"
    );

    // None of it flagged the provider.
    assert!(!node.node.store().is_flagged(&provider.public()));
    let status = json(&["node", "status", "--node", &addr, "--json"]).await;
    assert_eq!(status["flagged_providers"], 0);
    let shown = ok(&["provider", "show", &key, "--node", &addr]).await;
    assert!(!shown.contains("WARNING"), "{shown}");

    // Two bodies, one seq, signed on purpose: refused as equivocation, the signer flagged.
    let cheat = SecretKey::generate();
    let t = now();
    let first = Signed::sign(samples::offer(cheat.public(), "twice", 7, t), &cheat).unwrap();
    let mut other = samples::offer(cheat.public(), "twice", 7, t);
    other.capacity += 1;
    let second = Signed::sign(other, &cheat).unwrap();
    let client = Client::connect(std::slice::from_ref(&addr)).await.unwrap();
    client.submit(&Object::Offer(first)).await.unwrap();
    let refused = client.submit(&Object::Offer(second)).await.unwrap_err();
    assert!(
        matches!(
            refused,
            ClientError::Refused {
                rule: Rule::Equivocation,
                ..
            }
        ),
        "{refused}"
    );
    client.close().await;
    let cheat_key = write_key(dir.path(), "cheat.key", &cheat);
    let shown = ok(&["provider", "show", &cheat_key, "--node", &addr]).await;
    assert!(
        shown.contains("WARNING: this provider signed two different offers"),
        "{shown}"
    );
    let status = json(&["node", "status", "--node", &addr, "--json"]).await;
    assert_eq!(status["flagged_providers"], 1);
    node.node.shutdown().await;
}

/// 32.4: a version that lost to a newer one, submitted again unchanged, is refused as
/// superseded with the live seq, not accepted as a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_publish_that_lost_says_it_was_superseded() {
    let node = TestNode::start(&[]).await;
    let provider = SecretKey::generate();
    let t = now();
    let newer = Signed::sign(samples::offer(provider.public(), "k", 10, t), &provider).unwrap();
    let mut body = samples::offer(provider.public(), "k", 5, t);
    body.capacity += 1;
    let older = Signed::sign(body, &provider).unwrap();
    let client = Client::connect(&[node.addr()]).await.unwrap();
    client.submit(&Object::Offer(newer.clone())).await.unwrap();
    for attempt in ["first", "retry"] {
        match client.submit(&Object::Offer(older.clone())).await {
            Err(ClientError::Refused {
                rule: Rule::Superseded,
                detail,
            }) => assert!(
                detail.contains("below the live seq 10"),
                "{attempt}: {detail}"
            ),
            other => panic!("{attempt}: {other:?}"),
        }
    }
    // The live version itself, again: still an accepted duplicate.
    assert!(
        client
            .submit(&Object::Offer(newer))
            .await
            .unwrap()
            .duplicate
    );
    client.close().await;
    // Through the binary: the stale seq is refused before anything is signed.
    let dir = tempfile::tempdir().unwrap();
    let key = write_key(dir.path(), "p.key", &provider);
    let err = json_error(&[
        "offer",
        "publish",
        "--node",
        &node.addr(),
        "--key",
        &key,
        "--offer-key",
        "k",
        "--capacity",
        "1 GiB",
        "--price",
        "1",
        "--endpoint",
        "https://x.example",
        "--seq",
        "5",
        "--json",
    ])
    .await;
    assert_eq!(err["code"], "conflict", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("live seq is 10"),
        "{err}"
    );
    node.node.shutdown().await;
}

/// 32.7: nothing is truncated without a word: `provider show` counts every offer, `listing
/// query` pages through all of them, and `--limit` states its bounds and enforces them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_page_through_everything_and_limits_are_enforced() {
    let node = TestNode::start(&[]).await;
    let provider = SecretKey::generate();
    let t = now();
    let offers: Vec<Object> = (0..300u64)
        .map(|i| {
            let mut o = samples::offer(provider.public(), &format!("o{i:03}"), 1, t);
            o.price.amount = 100 + i % 7;
            Object::Offer(Signed::sign(o, &provider).unwrap())
        })
        .collect();
    node.node.store().apply_batch(&offers, t).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = write_key(dir.path(), "p.key", &provider);
    let addr = node.addr();

    let shown = ok(&["provider", "show", &key, "--node", &addr]).await;
    assert!(shown.contains("300 offers, 0 agreements"), "{shown}");
    let v = json(&["provider", "show", &key, "--node", &addr, "--json"]).await;
    assert_eq!(v["offers"].as_array().unwrap().len(), 300);

    // Page by page with the cursor, and all at once.
    let out = cli(&[
        "listing", "query", "--node", &addr, "--limit", "200", "--json",
    ])
    .await;
    let page: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(page.as_array().unwrap().len(), 200);
    let note = stderr(&out);
    let cursor = note
        .trim()
        .strip_prefix("more offers: the next page is --after ")
        .unwrap_or_else(|| panic!("{note}"));
    let rest = json(&[
        "listing", "query", "--node", &addr, "--limit", "200", "--after", cursor, "--json",
    ])
    .await;
    assert_eq!(rest.as_array().unwrap().len(), 100);
    let mut ids: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .chain(rest.as_array().unwrap())
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 300, "no offer twice, none skipped");
    let all = json(&["listing", "query", "--node", &addr, "--all", "--json"]).await;
    assert_eq!(all.as_array().unwrap().len(), 300);
    let human = ok(&["listing", "query", "--node", &addr]).await;
    assert!(
        human
            .lines()
            .last()
            .unwrap()
            .starts_with("20 offers shown; more match: add --after "),
        "{human}"
    );

    // Bounds stated and enforced, never clamped without a word.
    for limit in ["0", "201"] {
        let out = cli(&["listing", "query", "--node", &addr, "--limit", limit]).await;
        assert_eq!(out.status.code(), Some(2), "--limit {limit}");
        assert!(
            stderr(&out).contains("is not in 1..=200"),
            "{}",
            stderr(&out)
        );
    }
    let help = ok(&["listing", "query", "--help"]).await;
    assert!(help.contains("Offers per page: 1 to 200"), "{help}");
    // The node refuses a page larger than the limit, too.
    let client = Client::connect(std::slice::from_ref(&addr)).await.unwrap();
    let err = client
        .query_offers(&OfferQuery {
            limit: 201,
            ..OfferQuery::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput, "{err}");
    client.close().await;
    node.node.shutdown().await;
}

/// A compute offer can be published from flags alone (`--vcpus`, `--memory`, `--accelerator`),
/// and without its details the CLI says which are missing instead of failing at the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compute_offer_publishes_from_flags_and_missing_details_are_named() {
    let node = TestNode::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let key = write_key(dir.path(), "p.key", &SecretKey::generate());
    let addr = node.addr();
    let compute = |offer_key: &'static str, extra: &[&'static str]| {
        let mut args = vec![
            "offer",
            "publish",
            "--node",
            &addr,
            "--key",
            &key,
            "--offer-key",
            offer_key,
            "--kind",
            "compute",
            "--capacity",
            "8",
            "--price",
            "90",
            "--endpoint",
            "https://compute.example.net",
            "--json",
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<String>>()
    };
    let args = compute(
        "gpu",
        &[
            "--vcpus",
            "16",
            "--memory",
            "64 GiB",
            "--accelerator",
            "a100",
        ],
    );
    let published = json(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(published["offer_key"], "gpu", "{published}");
    let listing = json(&[
        "listing", "query", "--node", &addr, "--kind", "compute", "--json",
    ])
    .await;
    let offer = &listing.as_array().unwrap()[0];
    assert_eq!(offer["kind"], "compute", "{offer}");
    assert_eq!(offer["capacity"], 8, "{offer}");
    assert_eq!(offer["compute"]["vcpus"], 16, "{offer}");
    assert_eq!(offer["compute"]["accelerator"], "a100", "{offer}");

    let args = compute("no-details", &[]);
    let error = json_error(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("--vcpus and --memory"), "{error}");
    let args = compute("half", &["--vcpus", "4"]);
    let error = json_error(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(
        error["message"].as_str().unwrap().contains("--memory"),
        "{error}"
    );
    node.node.shutdown().await;
}
