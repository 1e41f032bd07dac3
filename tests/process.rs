//! The `flashback` binary as users run it: node processes, crashes, bad input.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::process::Command;

use common::{ChildGuard, can_run, eventually, flashback_bin, get_metrics, node_command, run_cli};
use flashback_client::Client;
use flashback_node::NodeInfo;
use flashback_store::{Store, StoreConfig};
use flashback_types::{Hash32, Object, Offer, OfferQuery, SecretKey, Signed, samples};

/// `flashback node run` on loopback (a free port), data in `dir`, warnings and errors only,
/// with `args`.
fn spawn_node(dir: &std::path::Path, bootstrap: Option<&str>) -> ChildGuard {
    let mut cmd = node_command(dir, &["--no-metrics", "--sync-interval", "2"]);
    if let Some(b) = bootstrap {
        cmd.args(["--bootstrap", b]);
    }
    ChildGuard::spawn(&mut cmd)
}

/// Waits for a node process to write a node.json with its pid.
async fn node_info(dir: &std::path::Path, pid: u32) -> NodeInfo {
    common::node_json(dir, pid).await
}

/// Signs an offer and submits it through the node at `addr`, as a light client.
async fn publish(addr: &str, provider: &SecretKey, offer_key: &str) -> Signed<Offer> {
    let body = samples::offer(
        provider.public(),
        offer_key,
        1,
        flashback_types::clock::now(),
    );
    let offer = Signed::sign(body, provider).unwrap();
    let client = Client::connect(&[addr.to_owned()]).await.unwrap();
    client.submit(&Object::Offer(offer.clone())).await.unwrap();
    client.close().await;
    offer
}

/// Whether the node at `addr` lists offer `id` (false while it is unreachable).
async fn lists(addr: String, id: Hash32) -> bool {
    let Ok(client) = Client::connect(&[addr]).await else {
        return false;
    };
    let listed = client
        .query_offers(&OfferQuery::default())
        .await
        .is_ok_and(|p| p.offers.iter().any(|o| o.id() == id));
    client.close().await;
    listed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_keeps_its_listing_and_rejoins() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let mut a = spawn_node(dir_a.path(), None);
    let a_info = node_info(dir_a.path(), a.child.as_ref().unwrap().id()).await;
    let a_addr = a_info.dial_addr().unwrap().to_owned();
    let mut b = spawn_node(dir_b.path(), Some(&a_addr));
    let b_info = node_info(dir_b.path(), b.child.as_ref().unwrap().id()).await;

    let provider = SecretKey::generate();
    let first = publish(&a_addr, &provider, "before-crash").await;
    let b_addr = b_info.dial_addr().unwrap().to_owned();
    eventually("B holds the first offer", || {
        lists(b_addr.clone(), first.id())
    })
    .await;
    // B answers a submit only once the offer is durable.
    let acknowledged = publish(&b_addr, &provider, "acknowledged-by-b").await;

    // SIGKILL: no clean shutdown, node.json left behind.
    b.kill();

    // What B acknowledged is in its own store, with no peer's help. (The relayed first offer
    // may still have been waiting for its group flush; anti-entropy restores it below.)
    {
        let store = Store::open(dir_b.path().join("store"), StoreConfig::default())
            .expect("B's store opens after SIGKILL");
        assert!(
            store.get(&acknowledged.id()).unwrap().is_some(),
            "B lost an offer it had acknowledged"
        );
    }

    // While B is down, A learns a second offer.
    let second = publish(&a_addr, &provider, "during-crash").await;

    // Restart B with no bootstrap flag: it rejoins from its address book and syncs.
    let b2 = spawn_node(dir_b.path(), None);
    let b2_info = node_info(dir_b.path(), b2.child.as_ref().unwrap().id()).await;
    assert_eq!(b2_info.peer_id, b_info.peer_id, "same key after restart");
    let b_addr = b2_info.dial_addr().unwrap().to_owned();
    let has = |id| lists(b_addr.clone(), id);
    eventually("B kept the offers it had before the crash", || async {
        has(first.id()).await && has(acknowledged.id()).await
    })
    .await;
    eventually(
        "B caught up with the offer published while it was down",
        || has(second.id()),
    )
    .await;

    let status = a.terminate().expect("A stops on SIGTERM");
    assert!(status.success(), "A exited with {status:?}");
    assert!(
        !dir_a.path().join("node.json").exists(),
        "clean shutdown removes node.json"
    );
    drop(b2);
}

fn one_line_error(out: &std::process::Output, what: &str) {
    assert!(!out.status.success(), "{what}: exited 0");
    assert_eq!(out.status.code(), Some(1), "{what}: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: {err}");
    assert!(lines[0].starts_with("error: "), "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
}

/// `flashback node run <args> --data-dir <dir>` stops at once with one line that names the
/// address it could not listen on and the flag to change it with.
fn refused_start(args: &[&str], dir: &std::path::Path, (taken, flag): (&str, &str)) {
    let out = Command::new(flashback_bin())
        .args(["node", "run"])
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    one_line_error(&out, &format!("{taken} in use"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on {taken}")) && err.contains(flag),
        "{err}"
    );
}

#[test]
fn bad_input_gives_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    assert!(
        run_cli(&["keys", "generate", "--out", key.to_str().unwrap()])
            .status
            .success()
    );
    let key = key.to_str().unwrap();

    // Nothing listens on this port; the peer id is well-formed.
    let peer = SecretKey::generate().public().to_peer_id();
    let unreachable = format!("/ip4/127.0.0.1/tcp/9/p2p/{peer}");
    one_line_error(
        &run_cli(&["listing", "query", "--node", &unreachable]),
        "unreachable --node",
    );
    one_line_error(
        &run_cli(&["listing", "query", "--node", "/ip4/999.1.1.1/tcp/1"]),
        "malformed multiaddr",
    );
    one_line_error(
        &run_cli(&["listing", "query", "--node", "/ip4/127.0.0.1/tcp/1"]),
        "multiaddr without peer id",
    );
    one_line_error(
        &run_cli(&[
            "node",
            "run",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--listen",
            "not-a-multiaddr",
        ]),
        "malformed --listen",
    );
    // A port another program holds: the node says which address and what to do, and stops.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = format!("/ip4/127.0.0.1/tcp/{}", taken.local_addr().unwrap().port());
    refused_start(
        &["--no-metrics", "--listen", &listen],
        &dir.path().join("taken"),
        (&listen, "--listen"),
    );

    let bad_files = [
        ("not-toml.toml", "this is not = = toml"),
        ("missing.toml", "offer_key = \"x\"\n"),
        (
            "bad-size.toml",
            "offer_key = \"x\"\ncapacity = \"lots\"\nprotocols = [\"s3\"]\nendpoint = \"https://e\"\n[price]\namount = 1\nasset = \"USD\"\n",
        ),
        (
            "bad-region.toml",
            "offer_key = \"x\"\ncapacity = \"1 GiB\"\nregions = [\"EU West\"]\nprotocols = [\"s3\"]\nendpoint = \"https://e\"\n[price]\namount = 1\nasset = \"USD\"\n",
        ),
    ];
    for (name, text) in bad_files {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        one_line_error(
            &run_cli(&[
                "offer",
                "publish",
                "--key",
                key,
                "--node",
                &unreachable,
                "--file",
                path.to_str().unwrap(),
            ]),
            name,
        );
    }
    one_line_error(
        &run_cli(&[
            "offer",
            "publish",
            "--key",
            key,
            "--node",
            &unreachable,
            "--file",
            "/nonexistent/offer.toml",
        ]),
        "missing offer file",
    );
}

#[test]
fn config_dump_layers_file_env_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("node.toml");
    std::fs::write(
        &file,
        "[net]\nlisten = [\"/ip4/127.0.0.1/tcp/1111\"]\nbootstrap = [\"/ip4/127.0.0.1/tcp/2222\"]\n[sync]\ninterval_secs = 7\n",
    )
    .unwrap();
    let dump = |extra_env: Option<(&str, &str)>, args: &[&str]| {
        let mut cmd = Command::new(flashback_bin());
        cmd.args(["config", "dump", "--config", file.to_str().unwrap()])
            .args(args)
            .env_remove("FLASHBACK_LISTEN")
            .env_remove("FLASHBACK_SYNC_INTERVAL");
        if let Some((k, v)) = extra_env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        toml::from_str::<flashback_node::NodeConfig>(&text)
            .expect("the dump is a valid config file")
    };
    let from_file = dump(None, &[]);
    assert_eq!(from_file.net.listen, vec!["/ip4/127.0.0.1/tcp/1111"]);
    assert_eq!(from_file.sync.interval_secs, 7);

    let from_env = dump(Some(("FLASHBACK_LISTEN", "/ip4/127.0.0.1/tcp/3333")), &[]);
    assert_eq!(from_env.net.listen, vec!["/ip4/127.0.0.1/tcp/3333"]);
    assert_eq!(from_env.net.bootstrap, vec!["/ip4/127.0.0.1/tcp/2222"]);

    let from_flag = dump(
        Some(("FLASHBACK_LISTEN", "/ip4/127.0.0.1/tcp/3333")),
        &[
            "--listen",
            "/ip4/127.0.0.1/tcp/4444",
            "--sync-interval",
            "9",
        ],
    );
    assert_eq!(from_flag.net.listen, vec!["/ip4/127.0.0.1/tcp/4444"]);
    assert_eq!(from_flag.sync.interval_secs, 9);
}

/// Two network namespaces joined by a veth pair: a LAN of two hosts on this machine, removed on
/// drop (which also removes the veth pair).
struct Lan {
    namespaces: [String; 2],
}

impl Lan {
    /// `None` when this machine cannot create namespaces (not root, or no `ip`); see
    /// [`can_run`].
    fn create() -> Option<Self> {
        // Unique per LAN: tests of one process run at once. (Interface names take 15 bytes.)
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = format!("{}x{n}", std::process::id());
        let lan = Lan {
            namespaces: [format!("fb{tag}a"), format!("fb{tag}b")],
        };
        let ip = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let [a, b] = &lan.namespaces;
        let made = ip(&["netns", "add", a])
            && ip(&["netns", "add", b])
            && ip(&["link", "add", a, "type", "veth", "peer", "name", b])
            && ip(&["link", "set", a, "netns", a])
            && ip(&["link", "set", b, "netns", b])
            && [(a, "10.213.0.1/24"), (b, "10.213.0.2/24")]
                .iter()
                .all(|(ns, addr)| {
                    ip(&["-n", ns, "addr", "add", addr, "dev", ns])
                        && ip(&["-n", ns, "link", "set", ns, "up"])
                        && ip(&["-n", ns, "link", "set", "lo", "up"])
                        // mDNS queries go to 224.0.0.251 through the veth.
                        && ip(&["-n", ns, "route", "add", "224.0.0.0/4", "dev", ns])
                });
        can_run(made, "root and iproute2, to create network namespaces").then_some(lan)
    }

    /// `ip -n <host's namespace> <args>`; whether it succeeded.
    fn ip(&self, host: usize, args: &[&str]) -> bool {
        Command::new("ip")
            .args(["-n", &self.namespaces[host]])
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The name of host `host`'s end of the veth pair.
    fn link(&self, host: usize) -> &str {
        &self.namespaces[host]
    }

    /// `flashback <args>` run in host `host` (0 or 1) of the LAN.
    fn flashback(&self, host: usize, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.namespaces[host]])
            .arg(flashback_bin())
            .args(args)
            .env_remove("FLASHBACK_DATA_DIR")
            .env_remove("FLASHBACK_NODE");
        cmd
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Two nodes given no bootstrap address, on hosts of one LAN, find each other with mDNS: an
/// offer published on one host is listed by the node on the other. A light client on the
/// second host then reads the first host's node over QUIC, across the LAN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_one_lan_find_each_other_with_mdns() {
    // Declared first so that it is dropped last, after the node processes inside it.
    let Some(lan) = Lan::create() else {
        return;
    };
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut nodes = Vec::new();
    let mut addrs = Vec::new();
    for (host, dir) in dirs.iter().enumerate() {
        let mut cmd = lan.flashback(
            host,
            &[
                "node",
                "run",
                "--listen",
                "/ip4/0.0.0.0/tcp/0",
                "--listen",
                "/ip4/0.0.0.0/udp/0/quic-v1",
                "--mdns",
            ],
        );
        cmd.args(["--no-metrics", "--data-dir"])
            .arg(dir.path())
            .env("RUST_LOG", "warn");
        // `ip netns exec` execs the binary: the child's pid is the node's.
        let node = ChildGuard::spawn(&mut cmd);
        let info = node_info(dir.path(), node.child.as_ref().unwrap().id()).await;
        addrs.push(info.dial_addr().unwrap().to_owned());
        nodes.push(node);
    }

    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("provider.key");
    let key = key.to_str().unwrap();
    assert!(
        run_cli(&["keys", "generate", "--out", key])
            .status
            .success()
    );
    let offer_file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/examples/offer.toml"
    );
    let out = lan
        .flashback(
            0,
            &[
                "offer", "publish", "--key", key, "--node", &addrs[0], "--file", offer_file,
                "--json",
            ],
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "publish: {out:?}");
    let published: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = published["id"].as_str().expect("id").to_owned();

    eventually("the node on the other host lists the offer", || {
        let out = lan
            .flashback(1, &["listing", "query", "--node", &addrs[1], "--json"])
            .output()
            .unwrap();
        let listed = out.status.success() && String::from_utf8_lossy(&out.stdout).contains(&id);
        async move { listed }
    })
    .await;

    // The first host's node over QUIC at its LAN address, from the second host.
    let mut quic = None;
    eventually("the first node reports a QUIC address on the LAN", || {
        quic = NodeInfo::load(dirs[0].path()).ok().and_then(|info| {
            info.listen_addrs
                .into_iter()
                .find(|a| a.starts_with("/ip4/10.213.0.1/udp/") && a.contains("/quic-v1"))
        });
        let found = quic.is_some();
        async move { found }
    })
    .await;
    let quic = quic.unwrap();
    let out = lan
        .flashback(1, &["listing", "query", "--node", &quic, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "query over QUIC: {out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&id),
        "the offer over QUIC from the other host: {out:?}"
    );
    drop(nodes);
}

/// A node listening on every interface keeps `node.json` current: an address added to its
/// host while it runs appears there, and disappears once it is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_json_follows_the_listen_addresses() {
    let Some(lan) = Lan::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = lan.flashback(0, &["node", "run", "--listen", "/ip4/0.0.0.0/tcp/0"]);
    cmd.args(["--no-metrics", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn");
    let node = ChildGuard::spawn(&mut cmd);
    node_info(dir.path(), node.child.as_ref().unwrap().id()).await;

    let listed = |prefix: &'static str| {
        let dir = dir.path().to_owned();
        move || {
            let found = NodeInfo::load(&dir)
                .is_ok_and(|info| info.listen_addrs.iter().any(|a| a.starts_with(prefix)));
            async move { found }
        }
    };
    let added = "/ip4/10.213.0.11/tcp/";
    assert!(
        !listed(added)().await,
        "the address is not there before it is added"
    );
    let link = lan.link(0).to_owned();
    assert!(lan.ip(0, &["addr", "add", "10.213.0.11/24", "dev", &link]));
    eventually("node.json lists the added address", listed(added)).await;
    assert!(lan.ip(0, &["addr", "del", "10.213.0.11/24", "dev", &link]));
    let gone = listed(added);
    eventually("node.json drops the removed address", || {
        let still = gone();
        async move { !still.await }
    })
    .await;
    // The node's first address is still there.
    assert!(listed("/ip4/10.213.0.1/tcp/")().await);
    drop(node);
}

/// `flashback node run` with a data dir, a listen address and the rest left to defaults, its
/// stderr (warnings and errors) written to `log`.
fn spawn_default_node(dir: &std::path::Path, log: &std::path::Path) -> ChildGuard {
    let mut cmd = node_command(dir, &[]);
    cmd.env_remove("FLASHBACK_CONFIG")
        .env_remove("FLASHBACK_METRICS");
    ChildGuard::spawn_logging(&mut cmd, log)
}

/// Two nodes on one machine, started as a new user would (a data dir and a free listen port,
/// no `--metrics`): both run, each serving metrics on its own address, named in its
/// node.json. A node that finds the default metrics port taken says where it serves them
/// instead. An explicit `--metrics` that is taken still stops the node with a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_on_one_machine_serves_metrics_on_a_free_port() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let logs = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    let mut infos = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let log = logs.path().join(format!("node-{i}.log"));
        let node = spawn_default_node(dir.path(), &log);
        infos.push(node_info(dir.path(), node.child.as_ref().unwrap().id()).await);
        nodes.push((node, log));
    }
    let addrs: Vec<_> = infos
        .iter()
        .map(|info| {
            info.metrics_addr
                .expect("node.json names a metrics address")
        })
        .collect();
    assert_ne!(addrs[0], addrs[1], "each node has its own metrics address");
    // (Another program on this machine may hold the default port; then both nodes move.)
    assert!(
        addrs
            .iter()
            .any(|a| *a != flashback_node::DEFAULT_METRICS_ADDR),
        "{addrs:?}"
    );
    for ((node, log), addr) in nodes.iter_mut().zip(&addrs) {
        let (status, response) = get_metrics(*addr).await;
        assert_eq!(status, 200, "{response}");
        assert!(response.contains("flashback_"), "{response}");
        if *addr != flashback_node::DEFAULT_METRICS_ADDR {
            let text = std::fs::read_to_string(&*log).unwrap();
            assert!(
                text.contains(&format!(
                    "the default metrics address {} is taken",
                    flashback_node::DEFAULT_METRICS_ADDR
                )) && text.contains(&format!("serving metrics on {addr} instead")),
                "{text}"
            );
        }
        assert!(node.terminate().is_some_and(|s| s.success()));
    }

    // Asked for by the operator, a taken address is an error, not a silent move.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    refused_start(
        &["--listen", "/ip4/127.0.0.1/tcp/0", "--metrics", &busy],
        dir.path(),
        (&busy, "--metrics"),
    );
}

/// Flips a byte in the middle of every stored value except the schema record, as a disk
/// fault would: the store's checksums catch it when the node opens the listing.
fn damage_store(store: &std::path::Path) {
    let db = sled::open(store).unwrap();
    let mut damaged = 0;
    for name in db.tree_names() {
        if name.as_ref() == b"meta" || name.as_ref() == b"__sled__default" {
            continue;
        }
        let tree = db.open_tree(&name).unwrap();
        for entry in tree.iter() {
            let (key, value) = entry.unwrap();
            let mut value = value.to_vec();
            let middle = value.len() / 2;
            value[middle] ^= 0x5a;
            tree.insert(key, value).unwrap();
            damaged += 1;
        }
    }
    db.flush().unwrap();
    assert!(damaged > 0, "nothing to damage in {}", store.display());
}

/// A node whose listing database is damaged refuses to start and names `--rebuild-store`;
/// started with it, the node moves the database aside (still on disk, still damaged), starts
/// with an empty listing and refills it from its peer through sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_store_moves_a_damaged_listing_aside_and_refills_it_from_peers() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = spawn_node(dir_a.path(), None);
    let a_info = node_info(dir_a.path(), a.child.as_ref().unwrap().id()).await;
    let a_addr = a_info.dial_addr().unwrap().to_owned();
    let mut b = spawn_node(dir_b.path(), Some(&a_addr));
    let b_info = node_info(dir_b.path(), b.child.as_ref().unwrap().id()).await;
    let offer = publish(&a_addr, &SecretKey::generate(), "kept-by-the-network").await;
    let b_addr = b_info.dial_addr().unwrap().to_owned();
    eventually("B lists the offer", || lists(b_addr.clone(), offer.id())).await;
    assert!(
        b.terminate().is_some_and(|s| s.success()),
        "B stops cleanly"
    );

    let store = dir_b.path().join("store");
    damage_store(&store);
    let out = node_command(dir_b.path(), &["--no-metrics", "--bootstrap", &a_addr])
        .output()
        .unwrap();
    one_line_error(&out, "damaged listing");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("corrupt") && err.contains("flashback node run --rebuild-store"),
        "{err}"
    );

    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("b.log");
    let mut cmd = node_command(
        dir_b.path(),
        &["--no-metrics", "--bootstrap", &a_addr, "--rebuild-store"],
    );
    let b = ChildGuard::spawn_logging(&mut cmd, &log);
    let b_info = node_info(dir_b.path(), b.child.as_ref().unwrap().id()).await;
    let b_addr = b_info.dial_addr().unwrap().to_owned();
    eventually("B's new listing is refilled from A", || {
        lists(b_addr.clone(), offer.id())
    })
    .await;

    let aside: Vec<_> = std::fs::read_dir(dir_b.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("store.damaged-"))
        })
        .collect();
    assert_eq!(aside.len(), 1, "one database set aside: {aside:?}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains(&format!(
            "moved the listing database to {}",
            aside[0].display()
        )) && log.contains("refills from peers"),
        "{log}"
    );
    // Still on disk, and still the damaged one.
    match Store::open(&aside[0], StoreConfig::default()) {
        Err(e) => assert!(e.to_string().contains("corrupt"), "{e}"),
        Ok(_) => panic!("the database set aside opens: it is not the damaged one"),
    }
    drop(b);
    drop(a);
}
