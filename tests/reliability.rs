//! What a hostile peer and a careless operator tried (issue 32), through the real binary and
//! real nodes: every case ends in a clear refusal or keeps working, never in a hang, a panic or
//! lost data.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{DEADLINE, flashback_bin};

/// Runs `cmd` to completion within [`DEADLINE`], or kills it and fails: a command that never
/// finishes is the bug these tests look for.
fn finishes(mut cmd: Command, what: &str) -> Output {
    let child = cmd
        .env_remove("FLASHBACK_DATA_DIR")
        .env_remove("FLASHBACK_NODE")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns the flashback binary");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(out) => out.expect("waits for the flashback binary"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            let _ = rx.recv();
            panic!("{what}: still running after {DEADLINE:?}, killed");
        }
    }
}

fn flashback(args: &[&str]) -> Command {
    let mut cmd = Command::new(flashback_bin());
    cmd.args(args);
    cmd
}

/// The command failed with exit code 1 and a one-line error containing every `needles`.
fn refused(out: &Output, what: &str, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{what}: {out:?}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: {err}");
    for needle in needles {
        assert!(err.contains(needle), "{what}: {needle:?} not in {err}");
    }
}

fn key_file(dir: &Path) -> String {
    let path = dir.join("provider.key");
    let out = finishes(
        flashback(&["keys", "generate", "--out", path.to_str().unwrap()]),
        "keys generate",
    );
    assert!(out.status.success(), "{out:?}");
    path.to_str().unwrap().to_owned()
}

/// Publishing with flags: everything valid but what `extra` overrides.
fn publish_with(key: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "offer",
        "publish",
        "--key",
        key,
        "--node",
        // Never reached: every case is refused before the node is dialled.
        "/ip4/127.0.0.1/tcp/9/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
        "--offer-key",
        "t",
        "--price",
        "100",
        "--region",
        "eu-west",
    ];
    if !extra.contains(&"--capacity") {
        args.extend(["--capacity", "1 TiB"]);
    }
    if !extra.contains(&"--endpoint") {
        args.extend(["--endpoint", "https://s3.example.net"]);
    }
    args.extend(extra);
    finishes(flashback(&args), &format!("offer publish {extra:?}"))
}

#[test]
fn endless_files_are_refused_at_a_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path());
    let out = finishes(
        flashback(&["offer", "publish", "--key", &key, "--file", "/dev/zero"]),
        "offer publish --file /dev/zero",
    );
    refused(&out, "offer file", &["/dev/zero is larger than"]);

    let data = dir.path().join("data");
    let mut cmd = flashback(&["node", "run", "--config", "/dev/zero", "--data-dir"]);
    cmd.arg(&data);
    let out = finishes(cmd, "node run --config /dev/zero");
    refused(&out, "config file", &["/dev/zero is larger than"]);

    let out = finishes(
        flashback(&["keys", "show", "/dev/zero"]),
        "keys show --file /dev/zero",
    );
    refused(&out, "key file", &["/dev/zero"]);
}

#[test]
fn sizes_beyond_64_bits_are_refused_not_clamped() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path());
    for size in ["99999999999999 EiB", "18446744073709551616", "16.5 EiB"] {
        let out = publish_with(&key, &["--capacity", size]);
        refused(&out, size, &["capacity", "larger than 16 EiB"]);
    }
    let out = publish_with(
        &key,
        &["--capacity", "1.5 TiB", "--endpoint", "javascript:alert(1)"],
    );
    // The size was fine: the refusal is the endpoint's.
    refused(&out, "1.5 TiB", &["endpoint"]);
}

#[test]
fn an_endpoint_that_is_no_data_plane_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path());
    for endpoint in [
        "javascript:alert(1)",
        "https://ok.example\n\u{1b}[31mforged line",
        "https://x.example/<script>",
    ] {
        let out = publish_with(&key, &["--endpoint", endpoint]);
        refused(&out, endpoint, &["endpoint"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refuses_an_offer_whose_endpoint_is_no_data_plane() {
    use flashback_types::{Object, Signed, Text, clock::now, samples};
    let node = common::TestNode::start(&[]).await;
    let client = flashback_client::Client::connect(&[node.addr()])
        .await
        .unwrap();
    let provider = flashback_types::SecretKey::generate();
    for endpoint in ["javascript:alert(1)", "https://a.example/\u{1b}[2J"] {
        let mut offer = samples::offer(provider.public(), "t", 1, now());
        offer.endpoint = Text::new(endpoint.to_owned()).unwrap();
        // Signed as a hostile client would: without the signer's own checks.
        let signed = Signed::sign_unchecked(offer, &provider);
        let err = client
            .submit(&Object::Offer(signed.clone()))
            .await
            .expect_err(endpoint)
            .to_string();
        assert!(err.contains("endpoint"), "{endpoint:?}: {err}");
        assert!(!node.holds(signed.id()), "{endpoint:?} was listed");
    }
    client.close().await;
}

#[test]
fn an_empty_protocol_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path());
    for protocol in ["", "  ", "with space"] {
        let out = publish_with(&key, &["--protocol", protocol]);
        refused(&out, protocol, &["is not a protocol name"]);
    }
}

#[test]
fn a_store_cache_of_zero_bytes_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(&config, "[store]\ncache_capacity_bytes = 0\n").unwrap();
    let config = config.to_str().unwrap();
    let cmd = common::node_command(
        &dir.path().join("data"),
        &["--no-metrics", "--config", config],
    );
    let out = finishes(cmd, "node run with a cache of 0 bytes");
    refused(&out, "cache 0", &["cache_capacity_bytes", "[store]"]);
}

#[test]
fn a_failed_key_generation_leaves_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("keys");
    std::fs::create_dir(&target).unwrap();
    let out = finishes(
        flashback(&[
            "keys",
            "generate",
            "--force",
            "--out",
            target.to_str().unwrap(),
        ]),
        "keys generate over a directory",
    );
    refused(
        &out,
        "keys generate over a directory",
        &["cannot write key file"],
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["keys"], "left behind: {names:?}");
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
}

/// Processes whose command line mentions `dir`, by pid.
fn processes_under(dir: &Path) -> Vec<u32> {
    common::processes_mentioning(dir)
        .into_iter()
        .map(|(pid, _)| pid)
        .collect()
}

/// Kills (SIGKILL) every process whose command line mentions the dir when dropped, so that a
/// failed test leaves nothing running.
struct KillUnder<'a>(&'a Path);

impl Drop for KillUnder<'_> {
    fn drop(&mut self) {
        for pid in processes_under(self.0) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

#[test]
fn testnet_down_stops_a_killed_runners_nodes_whatever_the_binary_is_called() {
    let dir = tempfile::tempdir().unwrap();
    let _cleanup = KillUnder(dir.path());
    // The same program under a name without "flashback" in it.
    let bin = dir.path().join("market-node");
    std::fs::copy(flashback_bin(), &bin).unwrap();
    let out = dir.path().join("tn");
    let mut runner = common::ChildGuard::spawn(Command::new(&bin).args([
        "testnet",
        "up",
        "--nodes",
        "2",
        "--duration",
        "10m",
        "--out",
        out.to_str().unwrap(),
    ]));
    let pids_json = out.join("pids.json");
    let nodes_recorded = || {
        std::fs::read_to_string(&pids_json)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["processes"].as_array().is_some_and(|p| p.len() == 2))
    };
    let start = std::time::Instant::now();
    while !nodes_recorded() {
        assert!(
            start.elapsed() < DEADLINE,
            "the testnet never recorded its nodes"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    runner.kill();
    let nodes = processes_under(&out);
    assert_eq!(nodes.len(), 2, "the nodes outlive their runner: {nodes:?}");

    let mut cmd = Command::new(&bin);
    cmd.args(["testnet", "down", "--out", out.to_str().unwrap()]);
    let down = finishes(cmd, "testnet down");
    assert!(down.status.success(), "{down:?}");
    let left = processes_under(&out);
    assert!(
        left.is_empty(),
        "testnet down left {left:?} running: {down:?}"
    );
    assert!(
        !pids_json.exists(),
        "pids.json outlived the processes it records"
    );
}

/// The TCP address of a node's `/ip4/…/tcp/…/p2p/…` dial address.
fn tcp_socket_addr(addr: &str) -> std::net::SocketAddr {
    let parts: Vec<&str> = addr.split('/').collect();
    format!("{}:{}", parts[2], parts[4]).parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stalled_handshakes_from_one_source_do_not_lock_out_light_clients() {
    use std::sync::atomic::Ordering;
    let node = common::TestNode::start(&[]).await;
    let addr = node.addr();
    // The attacker speaks from 127.0.0.2, the light clients from 127.0.0.1: two hosts.
    let staller = flashback_testnet::Staller::start(
        tcp_socket_addr(&addr),
        "127.0.0.2".parse().unwrap(),
        100,
        10,
    );
    common::eventually("the attacker holds 100 stalled handshakes", || {
        let opened = staller.counts().opened.load(Ordering::Relaxed);
        async move { opened >= 100 }
    })
    .await;

    let mut failures = Vec::new();
    for i in 0..20 {
        let query = async {
            let client = flashback_client::Client::connect(std::slice::from_ref(&addr)).await?;
            let page = client
                .query_offers(&flashback_types::OfferQuery::default())
                .await;
            client.close().await;
            page
        };
        match tokio::time::timeout(common::DEADLINE, query).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => failures.push(format!("query {i}: {e}")),
            Err(_) => failures.push(format!(
                "query {i}: no answer within {:?}",
                common::DEADLINE
            )),
        }
    }
    let counts = staller.stop().await;
    assert!(
        failures.is_empty(),
        "{} of 20 light-client queries failed under the attack: {failures:#?}",
        failures.len()
    );
    // The attack was real: the node kept closing stalled connections that came back.
    assert!(counts.opened.load(Ordering::Relaxed) >= 100);
}

/// libfaketime, as Debian's `faketime` package installs it (the thread-safe build).
fn libfaketime() -> Option<std::path::PathBuf> {
    std::fs::read_dir("/usr/lib")
        .ok()?
        .flatten()
        .map(|arch| arch.path().join("faketime/libfaketimeMT.so.1"))
        .find(|lib| lib.exists())
}

/// `flashback node run` on loopback with data in `dir`, its log (info and up) in `log`, its
/// clock moved by `offset` (libfaketime's syntax, e.g. `+60d`) when given. The library is
/// preloaded into the node itself rather than through the `faketime` wrapper, which forks
/// and would leave the node running when killed.
fn run_node(dir: &Path, log: &Path, offset: Option<&str>) -> common::ChildGuard {
    let mut cmd = common::node_command(dir, &["--no-metrics"]);
    if let Some(offset) = offset {
        cmd.env("LD_PRELOAD", libfaketime().expect("libfaketime"))
            .env("FAKETIME", offset)
            // Timers and timeouts keep running on the real monotonic clock.
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    }
    cmd.env("RUST_LOG", "info");
    common::ChildGuard::spawn_logging(&mut cmd, log)
}

/// Waits until `log` contains `needle`.
async fn log_says(log: &Path, needle: &str) {
    common::eventually(&format!("the log says {needle:?}"), || {
        let found = std::fs::read_to_string(log).is_ok_and(|t| t.contains(needle));
        async move { found }
    })
    .await;
}

/// Waits until the node started as `node` has written its node.json in `data`.
async fn node_up(data: &Path, node: &common::ChildGuard) {
    let pid = node.child.as_ref().unwrap().id();
    common::eventually("the node writes node.json", || {
        let ready = flashback_node::NodeInfo::load(data).is_ok_and(|i| i.pid == pid);
        async move { ready }
    })
    .await;
}

/// Offers (current versions) in the listing of the stopped node whose data dir is `data`.
fn offers_listed(data: &Path) -> u64 {
    let store =
        flashback_store::Store::open(data.join("store"), flashback_store::StoreConfig::default())
            .unwrap();
    store.counts().of(flashback_types::Kind::Offer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_with_its_clock_sixty_days_ahead_keeps_its_listing() {
    if !common::can_run(
        libfaketime().is_some(),
        "libfaketime (Debian package faketime)",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = key_file(dir.path());

    // An honest node lists three offers, valid 30 days.
    let log = dir.path().join("first.log");
    let mut node = run_node(&data, &log, None);
    node_up(&data, &node).await;
    for name in ["a", "b", "c"] {
        let mut cmd = flashback(&[
            "offer",
            "publish",
            "--key",
            &key,
            "--offer-key",
            name,
            "--capacity",
            "1 TiB",
            "--price",
            "100",
            "--region",
            "eu-west",
            "--endpoint",
            "https://s3.example.net",
            "--valid-for",
            "30d",
        ]);
        cmd.arg("--data-dir").arg(&data);
        let out = tokio::task::spawn_blocking(move || finishes(cmd, "offer publish"))
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    assert!(node.terminate().is_some_and(|s| s.success()));
    assert_eq!(offers_listed(&data), 3);

    // The same node with its clock 60 days ahead: everything it holds looks expired. It runs
    // until it has collected once (at start) and said what it did.
    let log = dir.path().join("ahead.log");
    let mut node = run_node(&data, &log, Some("+60d"));
    node_up(&data, &node).await;
    log_says(&log, "garbage collection").await;
    assert!(node.terminate().is_some_and(|s| s.success()));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("garbage collection held back") && text.contains("skew bound"),
        "the log says why it did not collect: {text}"
    );

    // The clock is fixed: the listing is whole.
    assert_eq!(offers_listed(&data), 3, "the listing was collected: {text}");
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted (lazily, so a failing test
/// cannot leave it behind) when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` when this machine cannot mount one (not root, or no tmpfs).
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills what is left with a file, until the disk says it is full.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 << 10];
        while file.write_all(&block).is_ok() {}
        // The last bytes that fit.
        while file.write_all(&block[..512]).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_publishes_at_once_and_writes_resume_when_space_is_back() {
    use flashback_types::{Object, Signed, clock::now, samples};
    let Some(disk) = SmallDisk::mount("16m") else {
        assert!(common::can_run(false, "root, to mount a small tmpfs"));
        return;
    };
    let data = disk.path().join("data");
    let key = flashback_types::SecretKey::generate();
    let mut config = common::test_config(&data, &[]);
    config.store.cache_capacity_bytes = 4 << 20;
    let node = flashback_node::Node::start(config, key).await.unwrap();
    let addr = node.info().dial_addr().unwrap().to_owned();
    let client = flashback_client::Client::connect(&[addr]).await.unwrap();
    let provider = flashback_types::SecretKey::generate();
    let offer = |n: u32| {
        let mut body = samples::offer(provider.public(), &format!("o{n}"), 1, now());
        body.endpoint = flashback_types::Text::new(format!("https://s{n}.example.net")).unwrap();
        Object::Offer(Signed::sign(body, &provider).unwrap())
    };

    // Fill the disk, then publish until the node says it is full.
    let filler = disk.fill();
    let mut acknowledged = Vec::new();
    let mut first_error = None;
    for n in 0..20_000 {
        let object = offer(n);
        match client.submit(&object).await {
            Ok(_) => acknowledged.push(object.id()),
            Err(e) => {
                first_error = Some(e.to_string());
                break;
            }
        }
    }
    let first_error = first_error.expect("the node never found its disk full");
    assert!(
        first_error.contains("No space left on device"),
        "{first_error}"
    );

    // Every later publish is refused with the reason, not left unanswered.
    for n in 20_000..20_005 {
        let err = client
            .submit(&offer(n))
            .await
            .expect_err("the disk is still full");
        let err = err.to_string();
        assert!(
            err.contains("disk") && !err.contains("in time"),
            "refused without a clear reason: {err}"
        );
    }

    // Space comes back: publishing works again, without a restart.
    std::fs::remove_file(filler).unwrap();
    let mut n = 30_000;
    let accepted = std::cell::Cell::new(None);
    common::eventually("a publish is accepted again", || {
        n += 1;
        let object = offer(n);
        let (client, accepted) = (&client, &accepted);
        async move {
            let ok = client.submit(&object).await.is_ok();
            if ok {
                accepted.set(Some(object.id()));
            }
            ok
        }
    })
    .await;
    // The object that was accepted (signing again could read another second).
    let id = accepted.get().unwrap();
    client.close().await;
    node.shutdown().await;

    // Nothing acknowledged was lost.
    let store =
        flashback_store::Store::open(data.join("store"), flashback_store::StoreConfig::default())
            .unwrap();
    for acked in acknowledged.iter().chain([&id]) {
        assert!(
            store.get(acked).unwrap().is_some(),
            "acknowledged {acked} was lost"
        );
    }
}
