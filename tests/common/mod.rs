//! Shared helpers for end-to-end tests: real nodes (real libp2p on loopback, real sled in temp
//! dirs), polling with deadlines, and child processes that are always killed.
#![allow(dead_code, unreachable_pub)]

pub mod api;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flashback_node::{Node, NodeConfig, NodeInfo};
use flashback_types::{Hash32, SecretKey};

/// Generous: CI machines are small and busy. Tests never assert on timing.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Polls `check` every 100 ms until it returns true or `DEADLINE` passes.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the node process `pid` to write a node.json into `dir`, and reads it.
pub async fn node_json(dir: &Path, pid: u32) -> NodeInfo {
    let mut found = None;
    eventually("the node writes node.json", || {
        let info = NodeInfo::load(dir).ok().filter(|i| i.pid == pid);
        let ready = info.is_some();
        found = info;
        async move { ready }
    })
    .await;
    found.expect("node.json")
}

/// A node configuration for tests: loopback TCP only, no metrics, fast gossip and sync.
pub fn test_config(dir: &Path, bootstrap: &[String]) -> NodeConfig {
    let mut config = NodeConfig::local(dir);
    config.net.bootstrap = bootstrap.to_vec();
    config.net.gossip_heartbeat_ms = 100;
    config.sync.interval_secs = 2;
    config
}

/// A node with its temp dir.
pub struct TestNode {
    pub node: Node,
    pub key: SecretKey,
    pub dir: tempfile::TempDir,
}

impl TestNode {
    pub async fn start(bootstrap: &[String]) -> Self {
        Self::start_with(bootstrap, |_| {}).await
    }

    /// Starts a node after `adjust` has changed its test configuration.
    pub async fn start_with(bootstrap: &[String], adjust: impl FnOnce(&mut NodeConfig)) -> Self {
        Self::start_keyed(bootstrap, SecretKey::generate(), adjust).await
    }

    /// Starts a node with this key (a provider's node, which answers proposals in its name).
    pub async fn start_keyed(
        bootstrap: &[String],
        key: SecretKey,
        adjust: impl FnOnce(&mut NodeConfig),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path(), bootstrap);
        adjust(&mut config);
        let node = Node::start(config, key.clone()).await.expect("node starts");
        Self { node, key, dir }
    }

    /// The address other nodes and clients dial.
    pub fn addr(&self) -> String {
        self.node
            .info()
            .dial_addr()
            .expect("node listens")
            .to_owned()
    }

    pub fn info(&self) -> &NodeInfo {
        self.node.info()
    }

    /// Whether the node's listing holds the object now.
    pub fn holds(&self, id: Hash32) -> bool {
        self.node.store().get(&id).ok().flatten().is_some()
    }
}

/// Starts `n` nodes in a line: each bootstraps only to the previous one.
pub async fn line(n: usize) -> Vec<TestNode> {
    let mut nodes: Vec<TestNode> = Vec::new();
    for _ in 0..n {
        let bootstrap: Vec<String> = nodes.last().map(|p| vec![p.addr()]).unwrap_or_default();
        nodes.push(TestNode::start(&bootstrap).await);
    }
    nodes
}

/// A child process that is killed (SIGKILL) and reaped when dropped, so no test leaves a
/// process running, even when it panics.
pub struct ChildGuard {
    pub child: Option<Child>,
}

impl ChildGuard {
    pub fn spawn(cmd: &mut Command) -> Self {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns the flashback binary");
        Self { child: Some(child) }
    }

    /// Like [`ChildGuard::spawn`], with the child's stderr (its log) written to `log`.
    pub fn spawn_logging(cmd: &mut Command, log: &Path) -> Self {
        let log = std::fs::File::create(log).expect("creates the log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawns the flashback binary");
        Self { child: Some(child) }
    }

    /// SIGKILL and reap now.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait for a clean exit (with a deadline).
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if start.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `GET /metrics` at `addr` (a node's metrics endpoint): the status and the text.
pub async fn get_metrics(addr: std::net::SocketAddr) -> (u16, String) {
    use flashback_client::http::{HttpClient, Method};
    let (status, body) = HttpClient::new(Duration::from_secs(10))
        .send(
            Method::GET,
            &format!("http://{addr}/metrics"),
            &[],
            Vec::new(),
            8 << 20,
        )
        .await
        .expect("the metrics endpoint answers");
    (status.as_u16(), String::from_utf8_lossy(&body).into_owned())
}

/// The flashback binary under test.
pub fn flashback_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_flashback"))
}

/// `flashback node run` on loopback (a free TCP port) with its data in `dir`, then `args`;
/// logs at warn, whatever the caller's environment says about data dirs and nodes.
pub fn node_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(flashback_bin());
    cmd.args(["node", "run", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("FLASHBACK_DATA_DIR")
        .env_remove("FLASHBACK_NODE")
        .env("RUST_LOG", "warn");
    cmd
}

/// Runs the binary to completion.
pub fn run_cli(args: &[&str]) -> std::process::Output {
    Command::new(flashback_bin())
        .args(args)
        .env_remove("FLASHBACK_DATA_DIR")
        .env_remove("FLASHBACK_NODE")
        .output()
        .expect("runs the flashback binary")
}

/// Runs the binary to completion off the async runtime (whose nodes keep running meanwhile).
pub async fn cli(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(&args)
    })
    .await
    .expect("the CLI task runs")
}

/// Runs the `flashback` binary off the async runtime, asserts that it succeeded (showing its
/// stderr if not) and returns its stdout.
pub async fn cli_stdout(args: &[&str]) -> String {
    let out = cli(args).await;
    assert!(
        out.status.success(),
        "flashback exited with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes `key` as a key file `name` in `dir`; its path.
pub fn write_key(dir: &Path, name: &str, key: &SecretKey) -> String {
    let path = dir.join(name);
    flashback_types::keyfile::write(&path, key, flashback_types::keyfile::Existing::Keep)
        .expect("writes the key file");
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// For a test that needs what this machine may lack: true when `available`. Otherwise the
/// test prints that it was skipped and why, and should return; under CI (`CI` set), which
/// provides what every test needs, it fails instead.
pub fn can_run(available: bool, needs: &str) -> bool {
    if available {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must be able to run this test, which needs {needs}"
    );
    #[allow(clippy::print_stderr)] // a test that cannot run here says so
    {
        eprintln!("skipped: needs {needs}");
    }
    false
}

/// Every process whose command line mentions `dir`: its pid and command line (arguments
/// joined by spaces).
pub fn processes_mentioning(dir: &Path) -> Vec<(u32, String)> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .expect("lists /proc")
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
            cmd.contains(&needle).then_some((pid, cmd))
        })
        .collect()
}

/// One request to a node's loopback endpoint with an admin token; returns the status and the
/// body.
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> (u16, String) {
    let bearer = format!("Bearer {token}");
    let (status, answer) = flashback_client::http::HttpClient::new(Duration::from_secs(10))
        .send(
            method.parse::<flashback_client::http::Method>().unwrap(),
            &format!("http://{addr}{path}"),
            &[("authorization", &bearer)],
            body.to_owned(),
            1 << 20,
        )
        .await
        .unwrap();
    (status.as_u16(), String::from_utf8(answer.to_vec()).unwrap())
}

/// Turns on a node's metrics endpoint on a free loopback port, with the admin routes.
pub fn with_admin(config: &mut NodeConfig) {
    config.metrics.enabled = true;
    config.metrics.listen = Some("127.0.0.1:0".parse().expect("an address"));
    config.metrics.admin = true;
}

/// A signed storage offer of `provider` (key `offer_key`, seq 1): `cents` per GiB-month in
/// `region` at `availability_bp`, the rest as in `samples::offer`.
pub fn offer_at(
    provider: &SecretKey,
    offer_key: &str,
    region: &str,
    cents: u64,
    availability_bp: u16,
) -> flashback_types::Signed<flashback_types::Offer> {
    let mut body = flashback_types::samples::offer(
        provider.public(),
        offer_key,
        1,
        flashback_types::clock::now(),
    );
    body.regions =
        flashback_types::BoundedVec::try_from_vec(vec![region.try_into().expect("a region code")])
            .expect("one region");
    body.price.amount = cents;
    body.qos.availability_bp = availability_bp;
    flashback_types::Signed::sign(body, provider).expect("the sample offer signs")
}
