//! WAN links on one machine: `flashback testnet up --links wan` puts each node in its own
//! network namespace and removes every namespace and link it made; `testnet down` removes
//! what a killed runner left. Needs root (network namespaces): skipped, with the reason
//! printed, otherwise. The 20-node run and the NAT scenario are documented commands
//! (docs/USER_GUIDE.md), too long for the test suite.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{can_run, flashback_bin, run_cli};

/// True, after saying why, when this machine cannot run namespaces (under CI, which runs as
/// root with iproute2, that fails the test instead).
fn skipped() -> bool {
    let why = skip_reason();
    let needs = format!(
        "network namespaces (here: {})",
        why.as_deref().unwrap_or("available")
    );
    !can_run(why.is_none(), &needs)
}

/// Why this machine cannot run namespaces, if it cannot.
fn skip_reason() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_owned();
    if euid != "0" {
        return Some(format!("not root (effective uid {euid})"));
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("`ip` (iproute2) is not installed".into());
    }
    None
}

/// Namespaces and links whose names start with `prefix`.
fn made_by(prefix: &str) -> Vec<String> {
    let out = |args: &[&str]| {
        String::from_utf8_lossy(&Command::new("ip").args(args).output().unwrap().stdout)
            .into_owned()
    };
    let mut names: Vec<String> = out(&["netns", "list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    names.extend(
        out(&["-o", "link", "show"])
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_owned()),
    );
    names.retain(|n| n.starts_with(prefix));
    names
}

/// A temp dir, the run's output dir in it and a scenario file lasting `duration`; `None`
/// (skipped, with the reason said) when this machine cannot run namespaces.
fn prepared(duration: &str) -> Option<(tempfile::TempDir, PathBuf, String)> {
    if skipped() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tn");
    let file = scenario(dir.path(), duration);
    Some((dir, out, file))
}

/// A short market over WAN links: 3 nodes, short probe windows.
fn scenario(dir: &Path, duration: &str) -> String {
    let path = dir.join("wan-small.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"wan-small\"\nnodes = 3\nproviders = 1\nconsumers = 1\nduration = \"{duration}\"\n\
             [links]\nmode = \"wan\"\n\
             [market]\nprobe_window = \"1s\"\nprobes_per_window = 2\nagreements_per_consumer = 1\n\
             [expect]\nflaky_below_healthy = false\nmin_attestations = 0\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_wan_testnet_runs_in_namespaces_and_removes_them() {
    let Some((_dir, out, file)) = prepared("3s") else {
        return;
    };
    let run = run_cli(&[
        "testnet",
        "up",
        "--scenario",
        &file,
        "--seed",
        "5",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "testnet up failed:\n{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let links = &report["links"];
    assert_eq!(links["mode"], "wan", "{stderr}");
    assert!(links["delay_by"].as_str().unwrap().len() > 4);
    assert!(!links["propagation_by_rtt"].as_array().unwrap().is_empty());
    assert_eq!(report["traffic"].as_array().unwrap().len(), 3);
    assert!(
        report["traffic"][0]["wire_received_per_offer"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let prefix = links["prefix"].as_str().unwrap();
    assert!(made_by(prefix).is_empty(), "{:?}", made_by(prefix));
    assert!(links["left_behind"].as_array().unwrap().is_empty());
    assert!(!out.join("netns.json").exists());
}

#[test]
fn testnet_down_removes_what_a_killed_runner_left() {
    let Some((_dir, out, file)) = prepared("60s") else {
        return;
    };
    let mut runner = Command::new(flashback_bin())
        .args([
            "testnet",
            "up",
            "--scenario",
            &file,
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill the runner once its nodes run in their namespaces.
    let deadline = Instant::now() + Duration::from_secs(60);
    let prefix = loop {
        let recorded = std::fs::read_to_string(out.join("netns.json")).ok();
        let prefix = recorded.and_then(|t| {
            serde_json::from_str::<serde_json::Value>(&t).ok()?["prefix"]
                .as_str()
                .map(str::to_owned)
        });
        if let Some(p) = prefix
            && out.join("pids.json").exists()
            && made_by(&p).len() > 3
        {
            break p;
        }
        assert!(Instant::now() < deadline, "the runner made no namespaces");
        std::thread::sleep(Duration::from_millis(100));
    };
    runner.kill().unwrap();
    runner.wait().unwrap();
    assert!(
        !made_by(&prefix).is_empty(),
        "a killed runner cleans nothing"
    );

    let down = run_cli(&["testnet", "down", "--out", out.to_str().unwrap(), "--json"]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&down.stdout).unwrap();
    assert!(!report["netns_removed"].as_array().unwrap().is_empty());
    assert!(made_by(&prefix).is_empty(), "{:?}", made_by(&prefix));
}
