//! The node processes: start, kill, restart, sample their resource use, and stop every one of
//! them on every exit path. Each started process is recorded in `<out>/pids.json` at once, so
//! `flashback testnet down` can clean up after a runner that crashed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flashback_node::{NodeConfig, NodeInfo};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use flashback_types::file::{MAX_STATE_BYTES, read_text_bounded};

use crate::TestnetError;
use crate::down::still_running;
use crate::procs::{ProcessId, proc_usage, signal};

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
    /// The runner's identity (absent in files of older versions).
    #[serde(default)]
    pub runner: Option<ProcessId>,
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
    /// Its identity (absent in files of older versions).
    #[serde(default)]
    pub process: Option<ProcessId>,
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
    /// The running child's identity, recorded in `pids.json`.
    process: Option<ProcessId>,
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
            process: None,
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
        m.process = ProcessId::of(child.id());
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
            runner: ProcessId::own(),
            out: self.out.clone(),
            processes: self
                .members
                .iter()
                .filter_map(|m| {
                    m.pid().map(|pid| PidEntry {
                        name: m.name.clone(),
                        pid,
                        config: m.config_path(),
                        process: m.process.clone(),
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

/// Refuses to reuse a dir a running testnet owns or that holds something else; clears the
/// previous run's output otherwise.
pub(crate) fn prepare_out(out: &Path) -> Result<(), TestnetError> {
    let io = |source| TestnetError::Io {
        path: out.to_path_buf(),
        source,
    };
    if out.exists() {
        if let Ok(text) = read_text_bounded(&out.join(PIDS_JSON), MAX_STATE_BYTES)
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
    use std::io::{Read, Seek, SeekFrom};
    // A node's log can be large: read only its end.
    const TAIL_BYTES: u64 = 64 << 10;
    let mut bytes = Vec::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let len = file.metadata().map_or(0, |m| m.len());
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)));
        let _ = file.take(TAIL_BYTES).read_to_end(&mut bytes);
    }
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

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
        let report = crate::down::down(dir.path()).unwrap();
        assert!(report.stopped.is_empty());
        assert!(report.runner.is_none());
    }
}
