//! The one-command testnet, end to end: real node processes started by `flashback testnet up`.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::path::Path;

use common::{TestNode, eventually, http, run_cli};
use flashback_types::{Object, SecretKey, Signed, samples};

/// Node processes whose command line mentions `dir`.
fn processes_under(dir: &Path) -> Vec<String> {
    common::processes_mentioning(dir)
        .into_iter()
        .map(|(_, cmd)| cmd)
        .filter(|cmd| cmd.contains("node run"))
        .collect()
}

#[test]
fn a_five_node_smoke_testnet_converges_reports_and_leaves_nothing_running() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tn");
    let out_arg = out.to_str().unwrap();
    let run = run_cli(&[
        "testnet",
        "up",
        "--nodes",
        "5",
        // Billing periods are a quarter of the activity phase, so several end even in 12 s.
        "--duration",
        "12s",
        "--seed",
        "7",
        "--out",
        out_arg,
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "testnet up failed:\n{stderr}");
    assert!(
        stderr.contains("5/5 nodes up"),
        "progress is shown:\n{stderr}"
    );

    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report, on_disk, "--json prints report.json");
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["convergence"]["converged"], true);
    assert_eq!(report["convergence"]["distinct_digests"], 1);
    assert_eq!(
        report["convergence"]["digests"].as_array().unwrap().len(),
        5
    );
    assert_eq!(report["counts"]["nodes"], 5);
    assert!(report["counts"]["agreements"].as_u64().unwrap() > 0);
    assert!(report["counts"]["attestations"].as_u64().unwrap() > 0);
    let p = &report["propagation"];
    assert!(p["samples"].as_u64().unwrap() > 0);
    for q in ["p50_ms", "p95_ms", "p99_ms", "max_ms"] {
        assert!(p[q].as_f64().is_some(), "{q} missing");
    }
    assert!(p["p50_ms"].as_f64() <= p["p99_ms"].as_f64());

    // Reputation: every flaky provider below every healthy one.
    let rows = report["reputation"].as_array().unwrap();
    let scores = |flaky: bool| -> Vec<f64> {
        rows.iter()
            .filter(|r| r["flaky"] == flaky)
            .map(|r| r["score"].as_f64().unwrap())
            .collect()
    };
    let (flaky, healthy) = (scores(true), scores(false));
    assert!(!flaky.is_empty() && !healthy.is_empty(), "{rows:?}");
    assert!(
        flaky.iter().all(|f| healthy.iter().all(|h| f < h)),
        "{rows:?}"
    );

    // Prices carry their asset and unit.
    for row in rows {
        let price = &row["price"];
        assert!(price["amount"].as_u64().is_some(), "{row}");
        assert_eq!(price["asset"], "USD", "{row}");
        assert_eq!(price["unit"], "gib_month", "{row}");
    }

    // The human report and the plots are there; PNG files start with the PNG signature.
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("PASS") && md.contains("## Reputation"), "{md}");
    // The table shows prices in major units; the rerun line reproduces the run, every count
    // made explicit.
    assert!(md.contains(" USD/GiB-month |"), "{md}");
    let rerun = report["run"]["rerun"].as_str().unwrap();
    for part in [
        "flashback testnet up --scenario smoke --nodes 5 --providers ",
        " --consumers ",
        " --duration 12s --seed 7",
    ] {
        assert!(rerun.contains(part), "{rerun}");
    }
    assert!(md.contains(&format!("Rerun with `{rerun}`")), "{md}");
    for png in ["propagation_cdf.png", "reputation.png"] {
        let bytes = std::fs::read(out.join(png)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{png}");
    }

    // Nothing left behind; `down` finds nothing to stop; `report` renders again.
    assert!(
        processes_under(&out).is_empty(),
        "{:?}",
        processes_under(&out)
    );
    assert!(!out.join("pids.json").exists());
    let down = run_cli(&["testnet", "down", "--out", out_arg]);
    assert!(down.status.success());
    assert!(String::from_utf8_lossy(&down.stdout).contains("nothing was running"));
    std::fs::remove_file(out.join("report.md")).unwrap();
    let again = run_cli(&["testnet", "report", "--out", out_arg]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        std::fs::read_to_string(out.join("report.md"))
            .unwrap()
            .contains("PASS")
    );
}

#[test]
fn testnet_up_refuses_a_directory_it_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thesis.tex"), "precious").unwrap();
    let run = run_cli(&[
        "testnet",
        "up",
        "--nodes",
        "2",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("choose another --out"), "{stderr}");
    assert!(dir.path().join("thesis.tex").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_endpoint_partitions_and_heals_and_the_trace_logs_every_stored_object() {
    let testnet_config = |c: &mut flashback_node::NodeConfig| {
        common::with_admin(c);
        c.trace_applied = true;
    };
    let a = TestNode::start_with(&[], testnet_config).await;
    let b = TestNode::start_with(&[a.addr()], testnet_config).await;
    let (a_peer, b_peer) = (a.node.net().local_peer_id(), b.node.net().local_peer_id());
    eventually("a and b connect", || async {
        a.node
            .net()
            .connected_peers()
            .await
            .unwrap()
            .contains(&b_peer)
    })
    .await;

    let token_path = a.dir.path().join(flashback_node::ADMIN_TOKEN);
    let token = std::fs::read_to_string(&token_path).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&token_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the token is private");
    let admin = a.info().metrics_addr.unwrap();

    // Writes need the token.
    let (status, _) = http(
        admin,
        "POST",
        &format!("/admin/block/{b_peer}"),
        "wrong",
        "",
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = http(admin, "POST", "/admin/block/not-a-peer", &token, "").await;
    assert_eq!(status, 400);

    // Block: the connection goes and stays gone; gossip no longer crosses.
    let (status, _) = http(admin, "POST", &format!("/admin/block/{b_peer}"), &token, "").await;
    assert_eq!(status, 200);
    eventually("b is disconnected from a", || async {
        !a.node
            .net()
            .connected_peers()
            .await
            .unwrap()
            .contains(&b_peer)
            && !b
                .node
                .net()
                .connected_peers()
                .await
                .unwrap()
                .contains(&a_peer)
    })
    .await;
    let (_, peers) = http(admin, "GET", "/admin/peers", &token, "").await;
    assert!(!peers.contains(&b_peer.to_string()), "{peers}");

    // Heal: unblock and dial again; an object published on one side reaches the other.
    let (status, _) = http(
        admin,
        "POST",
        &format!("/admin/unblock/{b_peer}"),
        &token,
        "",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = http(admin, "POST", "/admin/dial", &token, &b.addr()).await;
    assert_eq!(status, 200);
    eventually("a and b connect again", || async {
        a.node
            .net()
            .connected_peers()
            .await
            .unwrap()
            .contains(&b_peer)
    })
    .await;
    let key = SecretKey::generate();
    let offer = Signed::sign(
        samples::offer(key.public(), "traced", 1, flashback_types::clock::now()),
        &key,
    )
    .unwrap();
    a.node.submit(&Object::Offer(offer.clone())).await;
    let line = format!("{} offer", offer.id());
    for n in [&a, &b] {
        eventually("the offer is in the node's applied.log", || async {
            std::fs::read_to_string(n.dir.path().join(flashback_node::APPLIED_LOG))
                .is_ok_and(|log| log.lines().any(|l| l.ends_with(&line)))
        })
        .await;
    }
    b.node.shutdown().await;
    a.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_endpoint_is_refused_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path(), &[]);
    config.metrics.enabled = true;
    config.metrics.listen = Some("0.0.0.0:0".parse().unwrap());
    config.metrics.admin = true;
    let err = flashback_node::Node::start(config, SecretKey::generate())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[test]
fn the_market_scenario_makes_full_deals_and_keeps_the_bad_providers_out() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("market");
    let out_arg = out.to_str().unwrap();
    let run = run_cli(&[
        "testnet",
        "up",
        "--scenario",
        "market",
        "--duration",
        "6s",
        "--seed",
        "11",
        "--out",
        out_arg,
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "testnet up failed:\n{stderr}");
    assert!(stderr.contains("20/20 nodes up"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report:#}");

    // Every consumer's deal holds three agreements, none with a dead, rejecting or
    // uncertified provider, each with a price, a region and a cost.
    let deals = &report["deals"];
    let quality: std::collections::HashMap<&str, &str> = deals["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["node"].as_str().unwrap(), p["quality"].as_str().unwrap()))
        .collect();
    for bad in ["dead", "flaky", "rejecting", "uncertified"] {
        assert_eq!(
            quality.values().filter(|q| **q == bad).count(),
            1,
            "one {bad} provider: {deals:#}"
        );
    }
    let rows = deals["deals"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{deals:#}");
    let mut replaced = std::collections::HashSet::new();
    for d in rows {
        let agreements = d["agreements"].as_array().unwrap();
        assert_eq!(agreements.len(), 3, "{d:#}");
        let mut sum = 0;
        for a in agreements {
            let q = a["quality"].as_str().unwrap();
            assert!(q == "good" || q == "flaky", "{d:#}");
            assert_eq!(a["price"]["asset"], "USD", "{a}");
            assert!(!a["region"].as_str().unwrap().is_empty(), "{a}");
            sum += a["cost"].as_u64().unwrap();
        }
        assert_eq!(d["total_cost"].as_u64(), Some(sum), "{d:#}");
        assert!(d["quotes"].as_u64().unwrap() > 0, "{d:#}");

        // What became of each bad provider, and why, from the deal's own log.
        let bad = d["bad"].as_array().unwrap();
        assert_eq!(bad.len(), 4, "{d:#}");
        for b in bad {
            let (q, outcome, why) = (
                b["quality"].as_str().unwrap(),
                b["outcome"].as_str().unwrap(),
                b["why"].as_str().unwrap(),
            );
            match q {
                "uncertified" => {
                    assert_eq!(outcome, "avoided", "{b}");
                    assert!(why.contains("lacks audited=yes"), "{b}");
                }
                // A flaky data plane may pass all five probes a deal makes (about 1 % of the
                // times it is tried: decision 0111).
                "flaky" if outcome == "held" => assert!(why.contains("all 5"), "{b}"),
                "flaky" => {}
                _ => assert_ne!(outcome, "held", "{b}"),
            }
            if outcome == "replaced" {
                replaced.insert(q.to_owned());
                match q {
                    // A dead plane fails the first of the scenario's five probes.
                    "dead" => assert!(
                        why.contains("data-plane check failed: probe 1 of 5:"),
                        "{b}"
                    ),
                    // A flaky one fails one of them, named.
                    "flaky" => assert!(
                        why.contains("data-plane check failed: probe ") && why.contains(" of 5:"),
                        "{b}"
                    ),
                    "rejecting" => assert!(why.contains("consumer_denied"), "{b}"),
                    _ => {}
                }
            }
        }
    }
    // The two cheapest certified providers are tried and replaced.
    assert!(
        replaced.contains("dead") && replaced.contains("rejecting"),
        "{replaced:?}"
    );

    let checks = report["checks"].as_array().unwrap();
    for name in [
        "every deal holds its replicas",
        "no deal holds a dead, rejecting or uncertified provider",
    ] {
        assert!(
            checks.iter().any(|c| c["name"] == name && c["ok"] == true),
            "{name}: {checks:#?}"
        );
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("## Deals") && md.contains("| uncertified |"),
        "{md}"
    );

    // Nothing left behind.
    assert!(
        processes_under(&out).is_empty(),
        "{:?}",
        processes_under(&out)
    );
    assert!(!out.join("pids.json").exists());
}
