//! Processes as the kernel knows them: a process is its pid *and* its start time on this boot,
//! read from `/proc/<pid>/stat`, so that a pid the kernel has since given to another program is
//! never taken for ours, whatever the binary is called. `testnet down` and the runner's checks
//! of a busy output dir match on that identity; resource use is read here too.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// Who a recorded process is: enough to tell it from any later process with the same pid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    /// Process id.
    pub pid: u32,
    /// Start time in clock ticks after boot (`/proc/<pid>/stat`, field 22): with the pid and
    /// the boot, unique.
    pub start_ticks: u64,
    /// The boot it ran in (`/proc/sys/kernel/random/boot_id`): after a reboot nothing recorded
    /// before it is running.
    pub boot_id: String,
    /// The executable, for people reading `pids.json` (not matched: a binary rebuilt during a
    /// run changes its link, not its process).
    pub exe: Option<PathBuf>,
}

impl ProcessId {
    /// The identity of the running process `pid`; `None` when it is gone or a zombie.
    pub fn of(pid: u32) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fields = stat_fields(&stat)?;
        if matches!(fields.first(), Some(&("Z" | "X"))) {
            return None;
        }
        Some(Self {
            pid,
            start_ticks: start_ticks(&fields)?,
            boot_id: boot_id()?,
            exe: std::fs::read_link(format!("/proc/{pid}/exe")).ok(),
        })
    }

    /// This process.
    pub fn own() -> Option<Self> {
        Self::of(std::process::id())
    }

    /// True while this very process runs (same pid, start time and boot), not a zombie.
    pub fn is_running(&self) -> bool {
        Self::of(self.pid)
            .is_some_and(|now| now.start_ticks == self.start_ticks && now.boot_id == self.boot_id)
    }
}

/// The fields of a /proc/<pid>/stat line after the command name, from field 3 (state) on. The
/// command name (field 2) may hold spaces and parentheses, so fields are counted from the
/// last `)`.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    Some(stat[stat.rfind(')')? + 1..].split_whitespace().collect())
}

/// Field 22, the start time: index 19 from field 3.
fn start_ticks(fields: &[&str]) -> Option<u64> {
    fields.get(19)?.parse().ok()
}

fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_owned())
}

pub(crate) fn signal(pid: u32, sig: Signal) -> nix::Result<()> {
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

/// utime + stime from a /proc/<pid>/stat line (fields 14 and 15).
fn stat_ticks(stat: &str) -> Option<u64> {
    let fields = stat_fields(stat)?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A process's command line, arguments joined by spaces; `None` when it is gone.
pub(crate) fn cmdline(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .map(String::from_utf8_lossy)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Every process on the machine, by identity.
pub(crate) fn all() -> Vec<ProcessId> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter_map(ProcessId::of)
        .collect()
}

/// Waits until none of `procs` runs, or `timeout`.
pub(crate) fn wait_gone(procs: &[ProcessId], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while procs.iter().any(ProcessId::is_running) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn cpu_ticks_and_start_time_are_read_after_the_command_name() {
        let stat = "1234 (flash back) (x)) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 12 0 98765 1000 10";
        assert_eq!(stat_ticks(stat), Some(325));
        assert_eq!(start_ticks(&stat_fields(stat).unwrap()), Some(98765));
    }

    #[test]
    fn own_process_is_measured_and_identified() {
        let (rss, _) = proc_usage(std::process::id()).unwrap();
        assert!(rss > 0);
        let me = ProcessId::own().unwrap();
        assert!(me.is_running());
        assert!(cmdline(me.pid).is_some());
        // The same pid with another start time is another process.
        let other = ProcessId {
            start_ticks: me.start_ticks + 1,
            ..me.clone()
        };
        assert!(!other.is_running());
        let other_boot = ProcessId {
            boot_id: "another boot".into(),
            ..me
        };
        assert!(!other_boot.is_running());
    }

    #[test]
    fn a_reaped_child_is_not_running() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let id = ProcessId::of(child.id());
        child.wait().unwrap();
        assert!(id.is_none_or(|id| !id.is_running()));
    }
}
