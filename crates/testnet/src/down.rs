//! `flashback testnet down`: stops whatever a run left behind, found by process identity
//! ([`ProcessId`]: pid, start time, boot), never by the binary's name, and keeps `pids.json`
//! until nothing it records is running.

use std::path::Path;
use std::time::Duration;

use flashback_types::file::{MAX_STATE_BYTES, read_text_bounded};
use nix::sys::signal::Signal;
use serde::Serialize;

use crate::TestnetError;
use crate::fleet::{PIDS_JSON, PidEntry, PidsFile};
use crate::procs::{self, ProcessId, cmdline, signal, wait_gone};

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

/// Stops whatever a testnet run in `out` left running: the runner and the nodes recorded in
/// `pids.json` that still run (the same pid *and* start time, so a recycled pid is never
/// killed), and any process running a node with a config under `<out>/nodes/` (started but not
/// yet recorded when the runner died). `pids.json` is removed only once none of them runs; if
/// one survives SIGKILL, it stays and the error names the pids.
pub fn down(out: &Path) -> Result<DownReport, TestnetError> {
    let out = out.canonicalize().map_err(|source| TestnetError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let mut report = DownReport::default();
    let pids_path = out.join(PIDS_JSON);
    let recorded: Option<PidsFile> = read_text_bounded(&pids_path, MAX_STATE_BYTES)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let own = std::process::id();

    // A runner still alive cleans up after itself when asked to.
    if let Some(runner) = recorded.as_ref().and_then(running_runner)
        && runner.pid != own
    {
        let _ = signal(runner.pid, Signal::SIGTERM);
        report.runner = Some(runner.pid);
        wait_gone(std::slice::from_ref(&runner), Duration::from_secs(30));
    }

    let mut targets: Vec<(ProcessId, String)> = recorded
        .iter()
        .flat_map(|file| &file.processes)
        .filter_map(|p| running_node(p).map(|id| (id, p.name.clone())))
        .collect();
    // Processes started but not yet recorded when the runner died: their command line runs a
    // node from a config under <out>/nodes/, whatever the binary is called.
    let nodes_dir = format!("{}/", out.join("nodes").display());
    for id in procs::all() {
        if id.pid == own || targets.iter().any(|(t, _)| t.pid == id.pid) {
            continue;
        }
        if cmdline(id.pid).is_some_and(|c| c.contains(" node run ") && c.contains(&nodes_dir)) {
            let name = format!("pid {}", id.pid);
            targets.push((id, name));
        }
    }
    for (id, _) in &targets {
        let _ = signal(id.pid, Signal::SIGTERM);
    }
    let ids: Vec<ProcessId> = targets.iter().map(|(id, _)| id.clone()).collect();
    wait_gone(&ids, Duration::from_secs(10));
    for (id, name) in &targets {
        if id.is_running() {
            let _ = signal(id.pid, Signal::SIGKILL);
            report.forced.push(format!("{name} ({})", id.pid));
        }
        report.stopped.push(format!("{name} ({})", id.pid));
    }
    wait_gone(&ids, Duration::from_secs(5));
    let mut left: Vec<u32> = ids
        .iter()
        .filter(|id| id.is_running())
        .map(|id| id.pid)
        .collect();
    // Whatever happened above, pids.json goes only when nothing it records runs.
    if let Some(file) = &recorded
        && still_running(file)
    {
        left.extend(
            file.processes
                .iter()
                .filter_map(running_node)
                .map(|id| id.pid),
        );
        left.extend(running_runner(file).map(|id| id.pid));
        left.sort_unstable();
        left.dedup();
    }
    if !left.is_empty() {
        return Err(TestnetError::Node(format!(
            "processes still running after SIGKILL: {left:?}; {} is kept",
            pids_path.display()
        )));
    }
    let _ = std::fs::remove_file(&pids_path);
    // The namespaces go after the processes that ran in them.
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

/// The recorded runner, if it still runs (not this process).
fn running_runner(file: &PidsFile) -> Option<ProcessId> {
    match &file.runner {
        Some(id) => id.is_running().then(|| id.clone()),
        // A pids.json written before identities were recorded: the command line decides.
        None => ProcessId::of(file.runner_pid)
            .filter(|_| cmdline(file.runner_pid).is_some_and(|c| c.contains(" testnet up"))),
    }
    .filter(|id| id.pid != std::process::id())
}

/// The recorded node process, if it still runs.
fn running_node(p: &PidEntry) -> Option<ProcessId> {
    match &p.process {
        Some(id) => id.is_running().then(|| id.clone()),
        None => ProcessId::of(p.pid)
            .filter(|_| cmdline(p.pid).is_some_and(|c| c.contains(&*p.config.to_string_lossy()))),
    }
}

/// Whether a recorded runner or node is still running.
pub(crate) fn still_running(file: &PidsFile) -> bool {
    running_runner(file).is_some() || file.processes.iter().any(|p| running_node(p).is_some())
}
