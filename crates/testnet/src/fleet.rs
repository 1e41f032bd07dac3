//! The node processes: start, kill, restart, sample their resource use, and stop every one of
//! them on every exit path. Each started process is recorded in `<out>/pids.json` at once, so
//! `flashback testnet down` can clean up after a runner that crashed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flashback_node::{NodeConfig, NodeInfo};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::TestnetError;

/// Where the runner records its processes.
pub const PIDS_JSON: &str = "pids.json";
/// Marks a directory as a testnet output dir (so a later run may clear it).
pub(crate) const MARKER: &str = ".flashback-testnet";
/// Linux reports CPU time in /proc in ticks of USER_HZ, which is 100 on every architecture
/// Linux supports today.
const TICKS_PER_SEC: f64 = 100.0;

/// `<out>/pids.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PidsFile {
    /// The runner's own process id.
    pub runner_pid: u32,
    /// The output dir.
    pub out: PathBuf,
    /// Node processes that may be running.
    pub processes: Vec<PidEntry>,
}

/// One recorded process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PidEntry {
    /// Node name.
    pub name: String,
    /// Process id.
    pub pid: u32,
    /// Its config file (appears on its command line).
    pub config: PathBuf,
}

/// Resource use of one node over the run (all its incarnations).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Usage {
    /// Highest resident set size seen, KiB.
    pub rss_max_kib: u64,
    /// Last resident set size seen, KiB.
    pub rss_last_kib: u64,
    /// User + system CPU seconds.
    pub cpu_secs: f64,
    /// Seconds the node's processes were alive.
    pub alive_secs: f64,
}

impl Usage {
    /// Average share of one core used while alive, percent.
    pub fn cpu_percent(&self) -> f64 {
        if self.alive_secs > 0.0 {
            100.0 * self.cpu_secs / self.alive_secs
        } else {
            0.0
        }
    }
}

pub(crate) struct Member {
    pub(crate) name: String,
    /// The network namespace it runs in (WAN links).
    pub(crate) netns: Option<String>,
    pub(crate) dir: PathBuf,
    pub(crate) config: NodeConfig,
    child: Option<Child>,
    started: Option<Instant>,
    pub(crate) info: Option<NodeInfo>,
    pub(crate) restarts: u32,
    pub(crate) usage: Usage,
    /// CPU seconds of finished incarnations, and the latest sample of the current one.
    cpu_done: f64,
    cpu_now: f64,
    alive_done: f64,
}

impl Member {
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub(crate) fn is_up(&self) -> bool {
        self.child.is_some()
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("node.toml")
    }
}

pub(crate) struct Fleet {
    out: PathBuf,
    binary: PathBuf,
    pub(crate) members: Vec<Member>,
    /// The namespaces and links of a WAN run; dropped (removed) after the processes stopped.
    pub(crate) network: Option<crate::links::netns::Netns>,
}

impl Fleet {
    pub(crate) fn new(out: &Path, binary: &Path) -> Self {
        Self {
            out: out.to_path_buf(),
            binary: binary.to_path_buf(),
            members: Vec::new(),
            network: None,
        }
    }

    pub(crate) fn add(&mut self, name: String, config: NodeConfig) -> usize {
        self.members.push(Member {
            name,
            netns: None,
            dir: config.data_dir.clone(),
            config,
            child: None,
            started: None,
            info: None,
            restarts: 0,
            usage: Usage::default(),
            cpu_done: 0.0,
            cpu_now: 0.0,
            alive_done: 0.0,
        });
        self.members.len() - 1
    }

    /// Writes the node's config with `bootstrap` and starts its process.
    pub(crate) fn start(&mut self, i: usize, bootstrap: Vec<String>) -> Result<(), TestnetError> {
        let binary = self.binary.clone();
        let m = &mut self.members[i];
        if m.child.is_some() {
            return Err(TestnetError::Internal(format!(
                "{} is already running",
                m.name
            )));
        }
        m.config.net.bootstrap = bootstrap;
        let config_path = m.config_path();
        let text = toml::to_string_pretty(&m.config)
            .map_err(|e| TestnetError::Internal(format!("cannot encode a node config: {e}")))?;
        write(&config_path, text.as_bytes())?;
        // A node killed with SIGKILL leaves its node.json behind; never read a stale one.
        let _ = std::fs::remove_file(m.dir.join(flashback_node::NODE_JSON));
        let log_path = m.dir.join("node.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| TestnetError::Io {
                path: log_path.clone(),
                source,
            })?;
        let log2 = log.try_clone().map_err(|source| TestnetError::Io {
            path: log_path.clone(),
            source,
        })?;
        // `ip netns exec` enters the namespace and execs the binary: the pid stays the node's.
        let mut cmd = match &m.netns {
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns]).arg(&binary);
                cmd
            }
            None => Command::new(&binary),
        };
        cmd.arg("node")
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        // The config file is the whole truth: no environment override may change a node.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("FLASHBACK_") {
                cmd.env_remove(key);
            }
        }
        // Own process group: a Ctrl-C in the terminal reaches the runner only, which then
        // stops the nodes in order.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .map_err(|e| TestnetError::Node(format!("cannot start {}: {e}", binary.display())))?;
        m.child = Some(child);
        m.started = Some(Instant::now());
        m.info = None;
        self.write_pids()
    }

    /// `Ok(Some(info))` once the node wrote its node.json; an error when it exited.
    pub(crate) fn poll_ready(&mut self, i: usize) -> Result<Option<NodeInfo>, TestnetError> {
        let m = &mut self.members[i];
        let Some(child) = m.child.as_mut() else {
            return Err(TestnetError::Node(format!("{} is not running", m.name)));
        };
        if let Ok(Some(status)) = child.try_wait() {
            m.child = None;
            return Err(TestnetError::Node(format!(
                "{} exited at start ({status}); last lines of {}:\n{}",
                m.name,
                m.dir.join("node.log").display(),
                tail(&m.dir.join("node.log"), 15)
            )));
        }
        let pid = child.id();
        match NodeInfo::load(&m.dir) {
            Ok(info) if info.pid == pid => {
                m.info = Some(info.clone());
                Ok(Some(info))
            }
            _ => Ok(None),
        }
    }

    /// SIGKILL and reap (churn).
    pub(crate) fn kill_now(&mut self, i: usize) -> Result<(), TestnetError> {
        let m = &mut self.members[i];
        if let Some(mut child) = m.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            finish_incarnation(m);
        }
        self.write_pids()
    }

    /// Samples RSS and CPU of every running node.
    pub(crate) fn sample(&mut self) {
        for m in &mut self.members {
            let Some(pid) = m.pid() else { continue };
            if let Some((rss, ticks)) = proc_usage(pid) {
                m.usage.rss_last_kib = rss;
                m.usage.rss_max_kib = m.usage.rss_max_kib.max(rss);
                m.cpu_now = ticks as f64 / TICKS_PER_SEC;
            }
            m.usage.cpu_secs = m.cpu_done + m.cpu_now;
            m.usage.alive_secs =
                m.alive_done + m.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        }
    }

    /// SIGTERM every node, wait up to `grace` for them to exit, SIGKILL the rest; reap all.
    /// Returns the names of the nodes that had to be killed.
    pub(crate) fn stop_all(&mut self, grace: Duration) -> Vec<String> {
        self.sample();
        for m in &self.members {
            if let Some(pid) = m.pid() {
                let _ = signal(pid, Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + grace;
        loop {
            let mut running = 0;
            for m in &mut self.members {
                if let Some(child) = m.child.as_mut() {
                    match child.try_wait() {
                        Ok(Some(_)) | Err(_) => {
                            m.child = None;
                            finish_incarnation(m);
                        }
                        Ok(None) => running += 1,
                    }
                }
            }
            if running == 0 || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut forced = Vec::new();
        for m in &mut self.members {
            if let Some(mut child) = m.child.take() {
                let _ = child.kill();
                let _ = child.wait();
                finish_incarnation(m);
                forced.push(m.name.clone());
            }
        }
        let _ = std::fs::remove_file(self.out.join(PIDS_JSON));
        forced
    }

    /// Every pid this fleet ever had running now (should be none after `stop_all`).
    pub(crate) fn running(&self) -> Vec<u32> {
        self.members.iter().filter_map(Member::pid).collect()
    }

    fn write_pids(&self) -> Result<(), TestnetError> {
        let file = PidsFile {
            runner_pid: std::process::id(),
            out: self.out.clone(),
            processes: self
                .members
                .iter()
                .filter_map(|m| {
                    m.pid().map(|pid| PidEntry {
                        name: m.name.clone(),
                        pid,
                        config: m.config_path(),
                    })
                })
                .collect(),
        };
        let text = serde_json::to_string_pretty(&file)
            .map_err(|e| TestnetError::Internal(e.to_string()))?;
        write(&self.out.join(PIDS_JSON), text.as_bytes())
    }
}

impl Drop for Fleet {
    /// The last line of defence (errors, panics): nothing started here outlives the runner.
    /// The namespaces go after the processes (the `network` field is dropped after this).
    fn drop(&mut self) {
        let mut any = false;
        for m in &mut self.members {
            if let Some(mut child) = m.child.take() {
                let _ = child.kill();
                let _ = child.wait();
                any = true;
            }
        }
        if any {
            let _ = std::fs::remove_file(self.out.join(PIDS_JSON));
        }
    }
}

fn finish_incarnation(m: &mut Member) {
    m.cpu_done += m.cpu_now;
    m.cpu_now = 0.0;
    if let Some(s) = m.started.take() {
        m.alive_done += s.elapsed().as_secs_f64();
    }
    m.usage.cpu_secs = m.cpu_done;
    m.usage.alive_secs = m.alive_done;
}

fn signal(pid: u32, sig: Signal) -> nix::Result<()> {
    let pid = i32::try_from(pid).map_err(|_| nix::Error::EINVAL)?;
    kill(Pid::from_raw(pid), sig)
}

/// VmRSS (KiB) and utime + stime (ticks) of a process.
pub(crate) fn proc_usage(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = stat_ticks(&stat)?;
    Some((rss, ticks))
}

/// utime + stime from a /proc/<pid>/stat line. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last `)`.
fn stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A process's command line, arguments joined by spaces; `None` when it is gone.
fn cmdline(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .map(String::from_utf8_lossy)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// True while the process exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// What `testnet down` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DownReport {
    /// Processes stopped, `name (pid)`.
    pub stopped: Vec<String>,
    /// Of those, the ones that needed SIGKILL.
    pub forced: Vec<String>,
    /// A runner that was still running and was asked to stop.
    pub runner: Option<u32>,
    /// Network namespaces and links of a WAN run removed (names).
    pub netns_removed: Vec<String>,
}

/// Stops whatever a testnet run in `out` left running: the pids in `pids.json` (after checking
/// each one's command line is that node's, so a recycled pid is never killed) and any process
/// whose command line names a config under `<out>/nodes/`.
pub fn down(out: &Path) -> Result<DownReport, TestnetError> {
    let out = out.canonicalize().map_err(|source| TestnetError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let mut report = DownReport::default();
    let pids_path = out.join(PIDS_JSON);
    let recorded: Option<PidsFile> = std::fs::read_to_string(&pids_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());

    // A runner still alive cleans up after itself when asked to.
    if let Some(file) = &recorded
        && file.runner_pid != std::process::id()
        && alive(file.runner_pid)
        && cmdline(file.runner_pid)
            .is_some_and(|c| c.contains("flashback") && c.contains("testnet"))
    {
        let _ = signal(file.runner_pid, Signal::SIGTERM);
        report.runner = Some(file.runner_pid);
        wait_gone(&[file.runner_pid], Duration::from_secs(30));
    }

    let nodes_dir = out.join("nodes");
    let nodes_dir = nodes_dir.to_string_lossy().into_owned();
    let mut targets: Vec<(u32, String)> = Vec::new();
    if let Some(file) = &recorded {
        for p in &file.processes {
            let config = p.config.to_string_lossy();
            if alive(p.pid)
                && cmdline(p.pid).is_some_and(|c| c.contains("flashback") && c.contains(&*config))
            {
                targets.push((p.pid, p.name.clone()));
            }
        }
    }
    // Processes started but not yet recorded when the runner died.
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if targets.iter().any(|(p, _)| *p == pid) || pid == std::process::id() {
                continue;
            }
            if let Some(c) = cmdline(pid)
                && c.contains("flashback")
                && c.contains(" node run ")
                && c.contains(&nodes_dir)
                && alive(pid)
            {
                targets.push((pid, format!("pid {pid}")));
            }
        }
    }
    for (pid, _) in &targets {
        let _ = signal(*pid, Signal::SIGTERM);
    }
    let pids: Vec<u32> = targets.iter().map(|(p, _)| *p).collect();
    wait_gone(&pids, Duration::from_secs(10));
    for (pid, name) in &targets {
        if alive(*pid) {
            let _ = signal(*pid, Signal::SIGKILL);
            report.forced.push(format!("{name} ({pid})"));
        }
        report.stopped.push(format!("{name} ({pid})"));
    }
    wait_gone(&pids, Duration::from_secs(5));
    let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    if !left.is_empty() {
        return Err(TestnetError::Node(format!(
            "processes still running after SIGKILL: {left:?}"
        )));
    }
    let _ = std::fs::remove_file(&pids_path);
    if let Some(file) = crate::links::netns::recorded(&out) {
        let (namespaces, links) = crate::links::netns::names(&file.prefix);
        let left = crate::links::netns::cleanup(&file.prefix);
        report.netns_removed = namespaces
            .into_iter()
            .chain(links)
            .filter(|n| !left.contains(n))
            .collect();
        if !left.is_empty() {
            return Err(TestnetError::Node(format!(
                "could not remove {} (run as root?)",
                left.join(", ")
            )));
        }
        let _ = std::fs::remove_file(out.join(crate::links::netns::NETNS_JSON));
    }
    Ok(report)
}

/// Whether a recorded runner or node is still alive (checking command lines, not just pids).
fn still_running(file: &PidsFile) -> bool {
    let runner = file.runner_pid != std::process::id()
        && alive(file.runner_pid)
        && cmdline(file.runner_pid)
            .is_some_and(|c| c.contains("flashback") && c.contains("testnet"));
    runner
        || file.processes.iter().any(|p| {
            alive(p.pid)
                && cmdline(p.pid).is_some_and(|c| {
                    c.contains("flashback") && c.contains(&*p.config.to_string_lossy())
                })
        })
}

fn wait_gone(pids: &[u32], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Refuses to reuse a dir a running testnet owns or that holds something else; clears the
/// previous run's output otherwise.
pub(crate) fn prepare_out(out: &Path) -> Result<(), TestnetError> {
    let io = |source| TestnetError::Io {
        path: out.to_path_buf(),
        source,
    };
    if out.exists() {
        if let Ok(text) = std::fs::read_to_string(out.join(PIDS_JSON))
            && let Ok(file) = serde_json::from_str::<PidsFile>(&text)
            && still_running(&file)
        {
            return Err(TestnetError::Busy(out.to_path_buf()));
        }
        let empty = std::fs::read_dir(out).map_err(io)?.next().is_none();
        if !empty && !out.join(MARKER).exists() {
            return Err(TestnetError::NotOurs(out.to_path_buf()));
        }
        for entry in std::fs::read_dir(out).map_err(io)?.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name == MARKER {
                continue;
            }
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|source| TestnetError::Io { path, source })?;
        }
    }
    std::fs::create_dir_all(out.join("nodes")).map_err(io)?;
    write(
        &out.join(MARKER),
        b"output of `flashback testnet up`; cleared by the next run\n",
    )
}

pub(crate) fn write(path: &Path, contents: &[u8]) -> Result<(), TestnetError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| TestnetError::Io {
            path: path.to_path_buf(),
            source,
        })
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_the_command_name() {
        let stat =
            "1234 (flash back) (x)) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 12 0";
        assert_eq!(stat_ticks(stat), Some(325));
    }

    #[test]
    fn own_process_is_measured() {
        let (rss, _) = proc_usage(std::process::id()).unwrap();
        assert!(rss > 0);
        assert!(alive(std::process::id()));
        assert!(cmdline(std::process::id()).is_some());
    }

    #[test]
    fn a_foreign_non_empty_dir_is_refused_and_ours_is_cleared() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("precious.txt"), "keep").unwrap();
        let e = prepare_out(dir.path()).unwrap_err();
        assert!(matches!(e, TestnetError::NotOurs(_)), "{e}");
        assert!(dir.path().join("precious.txt").exists());

        let ours = dir.path().join("run");
        prepare_out(&ours).unwrap();
        std::fs::write(ours.join("report.json"), "{}").unwrap();
        prepare_out(&ours).unwrap();
        assert!(!ours.join("report.json").exists());
        assert!(ours.join("nodes").is_dir());
    }

    #[test]
    fn down_with_nothing_recorded_stops_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let report = down(dir.path()).unwrap();
        assert!(report.stopped.is_empty());
        assert!(report.runner.is_none());
    }
}
