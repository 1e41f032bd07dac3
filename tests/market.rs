//! The market on real nodes: SLA negotiation over gossip, agreements everywhere, reputation
//! that Sybils cannot move, and the CLI for all of it.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{TestNode, cli, cli_stdout, eventually, line, run_cli, write_key};
use flashback_client::{Client, Terms};
use flashback_types::clock::now;
use flashback_types::{
    Decision, GIB, Hash32, Object, Offer, RejectReason, SecretKey, Signed, samples,
};

/// Publishes a 10 GiB storage offer signed with the provider node's own key.
async fn publish_offer(provider: &TestNode, capacity: u64) -> Signed<Offer> {
    let mut body = samples::offer(provider.key.public(), "sla-offer", 1, now());
    body.capacity = capacity;
    let offer = Signed::sign(body, &provider.key).unwrap();
    provider.node.submit(&Object::Offer(offer.clone())).await;
    offer
}

/// `flashback sla propose` of `volume` for a day on `offer` through `node`, signed with the
/// key file `key`, with `extra` arguments; run off the async runtime.
async fn cli_propose(
    node: &TestNode,
    key: &str,
    offer: &Signed<Offer>,
    volume: &str,
    extra: &[&str],
) -> std::process::Output {
    let (addr, offer_id) = (node.addr(), offer.id().to_string());
    let mut args = vec![
        "sla",
        "propose",
        "--node",
        &addr,
        "--key",
        key,
        "--offer",
        &offer_id,
        "--volume",
        volume,
        "--duration",
        "1d",
    ];
    args.extend_from_slice(extra);
    cli(&args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_light_client_makes_an_agreement_with_a_provider_two_hops_away() {
    // consumer's node — relay — provider's node
    let nodes = line(3).await;
    let (home, provider) = (&nodes[0], &nodes[2]);
    let offer = publish_offer(provider, 10 * GIB).await;
    eventually("the offer reaches the consumer's node", || async {
        home.holds(offer.id())
    })
    .await;

    let consumer = SecretKey::generate();
    let client = Client::connect(&[home.addr()]).await.unwrap();
    assert_eq!(client.nodes().len(), 1, "connected to its own node only");
    let terms = Terms {
        volume: 6 * GIB,
        duration_secs: 24 * 3600,
        start: None,
        decide_within: Duration::from_secs(120),
    };
    let proposal = client.propose(&consumer, &offer, terms).await.unwrap();
    let decision = client
        .wait_decision(&proposal, common::DEADLINE)
        .await
        .unwrap()
        .expect("the provider decides");
    assert_eq!(decision.body().decision, Decision::Accept);
    client.close().await;

    for n in &nodes {
        eventually("the agreement is in every node's store", || async {
            n.node
                .store()
                .agreement_by_proposal(&proposal.id())
                .ok()
                .flatten()
                .is_some_and(|a| a.consumer() == &consumer.public())
        })
        .await;
    }

    // 6 of 10 GiB are taken: another 6 GiB does not fit. Through the CLI, as a user would.
    let dir = tempfile::tempdir().unwrap();
    let key = write_key(dir.path(), "consumer.key", &consumer);
    let out = cli_propose(home, &key, &offer, "6 GiB", &["--wait", "50s"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // A rejection is exit status 3, for scripts.
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("rejected: capacity"), "{stdout}");
    // With the offer's limit, so that the consumer knows what would fit.
    assert!(
        stdout.contains("(the offer has 10.0 GiB in all, less what agreements still running hold;"),
        "{stdout}"
    );

    // A proposal that fits is still accepted after the rejection.
    let client = Client::connect(&[home.addr()]).await.unwrap();
    let fits = Terms {
        volume: 4 * GIB,
        ..terms
    };
    let p2 = client.propose(&consumer, &offer, fits).await.unwrap();
    let d2 = client
        .wait_decision(&p2, common::DEADLINE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d2.body().decision, Decision::Accept);
    let p3 = client
        .propose(&consumer, &offer, Terms { volume: 1, ..terms })
        .await
        .unwrap();
    let d3 = client
        .wait_decision(&p3, common::DEADLINE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d3.body().decision, Decision::Reject(RejectReason::Capacity));
    client.close().await;

    for n in nodes {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sybil_attestations_without_agreements_move_nothing() {
    let node = TestNode::start(&[]).await;
    let bad_provider = SecretKey::generate();
    let client = Client::connect(&[node.addr()]).await.unwrap();
    let before = client
        .provider_report(bad_provider.public())
        .await
        .unwrap()
        .report;

    for _ in 0..10 {
        let sybil = SecretKey::generate();
        let perfect =
            samples::attestation(sybil.public(), bad_provider.public(), None, 100, 100, now());
        let signed = Signed::sign(perfect, &sybil).unwrap();
        client
            .submit(&Object::QosAttestation(signed))
            .await
            .unwrap();
    }
    let after = client
        .provider_report(bad_provider.public())
        .await
        .unwrap()
        .report;
    assert_eq!(before.score, None, "no counted evidence: unrated, not 0.5");
    assert_eq!(after.score, None, "score moved");
    assert!(after.counted.is_empty());
    assert_eq!(after.excluded.len(), 10);
    for x in after.excluded.iter() {
        assert!(x.reason.contains("no agreement"), "{}", x.reason);
    }

    // The CLI shows the same, human and JSON.
    let (addr, key) = (node.addr(), bad_provider.public().to_string());
    let (human, json) = tokio::task::spawn_blocking(move || {
        (
            run_cli(&["provider", "show", &key, "--node", &addr]),
            run_cli(&["provider", "show", &key, "--node", &addr, "--json"]),
        )
    })
    .await
    .unwrap();
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("excluded attestations: 10"), "{human}");
    assert!(human.contains("reputation unrated"), "{human}");
    assert!(human.contains("no agreement"), "{human}");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["reputation"]["excluded"].as_array().unwrap().len(), 10);
    assert_eq!(v["reputation"]["counted"].as_array().unwrap().len(), 0);
    assert!(v["reputation"]["score"].is_null(), "{v}");
    assert_eq!(v["reputation"]["rated"], false);

    client.close().await;
    node.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sla_commands_work_human_and_json() {
    let nodes = line(2).await;
    let (home, provider) = (&nodes[0], &nodes[1]);
    let offer = publish_offer(provider, 100 * GIB).await;
    eventually("offer at the consumer's node", || async {
        home.holds(offer.id())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let consumer = SecretKey::generate();
    let key = write_key(dir.path(), "c.key", &consumer);
    let addr = home.addr();
    let offer_id = offer.id().to_string();
    let party = consumer.public().to_string();
    let provider_key = provider.key.public().to_string();

    let outputs = tokio::task::spawn_blocking(move || {
        let propose = |extra: &[&str]| {
            let mut args = vec![
                "sla",
                "propose",
                "--node",
                &addr,
                "--key",
                &key,
                "--offer",
                &offer_id,
                "--volume",
                "1 GiB",
                "--duration",
                "2d",
                "--wait",
                "50s",
            ];
            args.extend_from_slice(extra);
            run_cli(&args)
        };
        let human = propose(&[]);
        let json = propose(&["--json"]);
        let list_human = run_cli(&["sla", "list", "--node", &addr, "--party", &party]);
        let list_json = run_cli(&["sla", "list", "--node", &addr, "--party", &party, "--json"]);
        let show = run_cli(&["provider", "show", &provider_key, "--node", &addr]);
        (human, json, list_human, list_json, show)
    })
    .await
    .unwrap();
    let (human, json, list_human, list_json, show) = outputs;
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        text(&human).starts_with("accepted: agreement "),
        "{}",
        text(&human)
    );
    let j: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(j["status"], "accepted");
    assert_eq!(j["volume"], GIB);
    // The human line in units a person reads: the total in dollars, not cents.
    // The API's view: the total with its asset, the agreement once held.
    assert_eq!(j["total"]["asset"], "USD");
    let total = j["total"]["amount"].as_u64().unwrap();
    let dollars = format!("{}.{:02} USD", total / 100, total % 100);
    assert!(
        text(&human).contains(&format!(" for 1.0 GiB over 2d, total {dollars}")),
        "{}",
        text(&human)
    );
    assert!(
        text(&list_human).contains(&format!("  {dollars}")),
        "{}",
        text(&list_human)
    );
    let agreement_id = j["agreement"]["agreement_id"].as_str().unwrap().to_owned();
    assert_eq!(j["proposal_id"], agreement_id.as_str());

    // A header row, then the two agreements.
    let list_text = text(&list_human);
    let rows: Vec<&str> = list_text.lines().collect();
    assert_eq!(rows.len(), 3, "{list_text}");
    assert!(rows[0].starts_with("AGREEMENT"), "{}", rows[0]);
    let list: serde_json::Value = serde_json::from_slice(&list_json.stdout).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agreement_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&agreement_id.as_str()));
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|a| a["consumer"] == consumer.public().to_string())
    );
    assert!(text(&show).contains("2 agreements"), "{}", text(&show));

    for n in nodes {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn probing_ranks_a_flaky_provider_below_a_healthy_one() {
    // The consumer probes through its own node, which counts its key's measurements in full.
    let consumer = SecretKey::generate();
    let me = consumer.public();
    let home = TestNode::start_with(&[], |c| c.store.reputation.own_keys = vec![me]).await;
    let provider = |failure_rate: f64| {
        let bootstrap = vec![home.addr()];
        async move {
            TestNode::start_with(&bootstrap, |c| {
                c.blobs.enabled = true;
                c.blobs.failure_rate = failure_rate;
                c.blobs.seed = Some(7);
            })
            .await
        }
    };
    let healthy = provider(0.0).await;
    let flaky = provider(0.5).await;

    let client = Client::connect(&[home.addr()]).await.unwrap();
    for p in [&healthy, &flaky] {
        let mut body = samples::offer(p.key.public(), "blob", 1, now());
        body.protocols = flashback_types::BoundedVec::try_from_vec(vec![
            flashback_types::DataProtocol::FlashbackBlob,
        ])
        .unwrap();
        body.endpoint = p
            .info()
            .blob_endpoint
            .clone()
            .unwrap()
            .as_str()
            .try_into()
            .unwrap();
        body.qos.availability_bp = 9000;
        let offer = Signed::sign(body, &p.key).unwrap();
        p.node.submit(&Object::Offer(offer.clone())).await;
        eventually("offer at the consumer's node", || async {
            home.holds(offer.id())
        })
        .await;
        let terms = Terms {
            volume: GIB,
            duration_secs: 24 * 3600,
            start: None,
            decide_within: Duration::from_secs(120),
        };
        let proposal = client.propose(&consumer, &offer, terms).await.unwrap();
        let decision = client
            .wait_decision(&proposal, common::DEADLINE)
            .await
            .unwrap();
        assert_eq!(decision.unwrap().body().decision, Decision::Accept);
    }
    eventually("both agreements at the consumer's node", || async {
        home.node
            .store()
            .agreements_for(&consumer.public())
            .map(|a| a.len() == 2)
            .unwrap_or(false)
    })
    .await;
    client.close().await;

    // The consumer runs the prober from the CLI: 2 windows of 1 s, 20 reads each.
    let dir = tempfile::tempdir().unwrap();
    let key = write_key(dir.path(), "consumer.key", &consumer);
    let addr = home.addr();
    let out = cli_stdout(&[
        "probe",
        "--key",
        &key,
        "--node",
        &addr,
        "--window",
        "1s",
        "--windows",
        "2",
        "--probes",
        "20",
        "--json",
    ])
    .await;
    let attested: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        attested.as_array().unwrap().len(),
        4,
        "2 agreements × 2 windows"
    );

    let client = Client::connect(&[home.addr()]).await.unwrap();
    let good = client
        .provider_report(healthy.key.public())
        .await
        .unwrap()
        .report;
    let bad = client
        .provider_report(flaky.key.public())
        .await
        .unwrap()
        .report;
    client.close().await;
    let (bad_score, good_score) = (bad.score.unwrap(), good.score.unwrap());
    assert!(
        bad_score < good_score,
        "flaky {bad_score} should rank below healthy {good_score}"
    );
    for report in [&good, &bad] {
        assert_eq!(
            report.counted.len(),
            1,
            "the newest window of the one attester counts"
        );
        assert_eq!(report.counted[0].attester, consumer.public());
        assert_eq!(report.excluded.len(), 1, "the older window is superseded");
    }
    assert_eq!(good.counted[0].successes, good.counted[0].probes);
    assert!(bad.counted[0].successes < bad.counted[0].probes);

    for n in [flaky, healthy, home] {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_published_from_the_cli_is_withdrawn_from_the_cli() {
    let node = TestNode::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let provider = SecretKey::generate();
    let key = write_key(dir.path(), "provider.key", &provider);
    let addr = node.addr();
    let offer_file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/examples/offer.toml"
    );
    let published: serde_json::Value = serde_json::from_str(
        &cli_stdout(&[
            "offer", "publish", "--key", &key, "--node", &addr, "--file", offer_file, "--json",
        ])
        .await,
    )
    .unwrap();
    let withdraw = |offer_key: &str| -> Vec<String> {
        [
            "offer",
            "withdraw",
            "--key",
            &key,
            "--node",
            &addr,
            "--offer-key",
            offer_key,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let mut args = withdraw("eu-hot-1");
    args.push("--json".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let withdrawn: serde_json::Value = serde_json::from_str(&cli_stdout(&args).await).unwrap();
    assert_eq!(withdrawn["withdrawn"], true);
    assert!(
        withdrawn["seq"].as_u64().unwrap() > published["seq"].as_u64().unwrap(),
        "{published} then {withdrawn}"
    );
    // The node answers the withdrawal only once it is durable: the offer is gone at once.
    let listed = cli_stdout(&["listing", "query", "--node", &addr, "--json"]).await;
    assert!(
        !listed.contains(published["id"].as_str().unwrap()),
        "{listed}"
    );
    let id: Hash32 = withdrawn["id"].as_str().unwrap().parse().unwrap();
    assert!(node.holds(id), "the node stores the tombstone");

    // An offer the node does not know: an error naming it.
    let args = withdraw("no-such-offer");
    let out = tokio::task::spawn_blocking(move || {
        run_cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-offer"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_nobody_answers_exits_with_status_4() {
    // The offer's provider runs no node here: nobody decides.
    let node = TestNode::start(&[]).await;
    let absent = SecretKey::generate();
    let offer = Signed::sign(samples::offer(absent.public(), "gone", 1, now()), &absent).unwrap();
    node.node.submit(&Object::Offer(offer.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let key = write_key(dir.path(), "c.key", &SecretKey::generate());
    let out = cli_propose(&node, &key, &offer, "1 GiB", &["--wait", "2s", "--json"]).await;
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "pending");
    assert_eq!(v["agreement"], serde_json::Value::Null);
    node.node.shutdown().await;
}
