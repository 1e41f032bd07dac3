//! The Flashback local testnet: one command starts many real node processes (the `flashback`
//! binary itself) on loopback, connects them through a random bootstrap graph, plays a
//! [`Scenario`] — providers publish offers, consumers make agreements, probe the providers'
//! blob endpoints and sign attestations; optionally churn, a partition or a flood — and writes
//! a [`Report`] (`report.json`, `report.md` and PNG plots) into the output dir. Every process
//! it starts is recorded in `<out>/pids.json` and stopped on every exit path; [`down`] cleans
//! up after a runner that crashed.
//!
//! How things are measured:
//! - **propagation**: every node runs with `trace_applied`, appending `<unix ms> <id> <kind>`
//!   to its `applied.log` when an object is stored; the runner records when it published
//!   each object, and reads the logs after the run;
//! - **convergence**: every node's `listing_digest` (`QueryRequest::Status`), polled until
//!   all are equal;
//! - **partitions**: each node's loopback admin endpoint blocks the other half's peers;
//! - **resources**: `/proc/<pid>/status` (VmRSS) and `/proc/<pid>/stat` (utime + stime).
//!
//! ```no_run
//! # async fn run() -> Result<(), flashback_testnet::TestnetError> {
//! use std::sync::Arc;
//! use flashback_testnet::{Scenario, UpOptions};
//!
//! let mut scenario = Scenario::load("smoke")?;
//! scenario.nodes = 5;
//! let options = UpOptions {
//!     scenario,
//!     out: "testnet-out".into(),
//!     binary: "target/release/flashback".into(),
//! };
//! let report = flashback_testnet::up(options, Arc::new(|line: &str| eprintln!("{line}"))).await?;
//! assert!(report.convergence.converged);
//! # Ok(()) }
//! ```

mod down;
mod fleet;
mod flood;
mod links;
mod observe;
mod participants;
mod plot;
mod procs;
mod report;
mod run;
mod scenario;
mod stall;
mod withhold;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use down::{DownReport, down};
pub use fleet::{PIDS_JSON, PidEntry, PidsFile, Usage};
pub use links::{LinkMode, LinkSpec, NatSpec};
pub use plot::price_distribution;
pub use procs::ProcessId;
pub use report::{
    BadOutcome, Check, ChurnEvent, Convergence, Counts, DealAgreementRow, DealFailureRow,
    DealProviderRow, DealRow, DealsReport, FloodReport, KindLatency, LinksReport, NatReport,
    NatRow, NodeDigest, PartitionReport, Processes, Propagation, Report, ReputationRow,
    ResourceRow, RttBucket, RunInfo, TrafficRow, WithholdReport,
};
pub use scenario::{
    BUILT_IN, ChurnSpec, DealsSpec, Expect, FloodSpec, MarketSpec, NetworkSpec, PartitionSpec,
    Scenario, Span, WithholdSpec,
};
pub use stall::{StallCounts, Staller};
pub use withhold::Withholder;

/// Names of the files written into the output dir.
pub mod files {
    /// The full report.
    pub const REPORT_JSON: &str = "report.json";
    /// The report for humans.
    pub const REPORT_MD: &str = "report.md";
    /// CDF of propagation latency.
    pub const PROPAGATION_PNG: &str = "propagation_cdf.png";
    /// Reputation per provider.
    pub const REPUTATION_PNG: &str = "reputation.png";
}

/// What went wrong. Every message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    /// A scenario is not valid.
    #[error("scenario {0}")]
    Scenario(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The output dir belongs to a testnet that is still running.
    #[error("a testnet is still running from {0}: stop it with `flashback testnet down --out {0}`")]
    Busy(PathBuf),
    /// The output dir holds files that are not a testnet's.
    #[error("{0} is not empty and was not written by `flashback testnet`: choose another --out")]
    NotOurs(PathBuf),
    /// A node did not start or misbehaved.
    #[error("{0}")]
    Node(String),
    /// A light client failed.
    #[error(transparent)]
    Client(#[from] flashback_client::ClientError),
    /// The attacker's network failed.
    #[error(transparent)]
    Net(#[from] flashback_net::NetError),
    /// A plot could not be drawn.
    #[error("plot {0}")]
    Plot(String),
    /// Ctrl-C or SIGTERM: the nodes were stopped and no report was written.
    #[error("interrupted: every node was stopped; no report written")]
    Interrupted,
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Where progress lines go (the CLI prints them on stderr).
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// What `testnet up` needs.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The scenario, with command-line overrides applied.
    pub scenario: Scenario,
    /// Output dir: node data dirs, logs, pids.json and the report.
    pub out: PathBuf,
    /// The `flashback` binary the nodes run (normally the running executable).
    pub binary: PathBuf,
}

/// Starts the testnet, plays the scenario, stops every node, and writes the report. Returns
/// the report whether or not its checks passed (see [`Report::ok`]); errors only when the run
/// could not be carried out. Ctrl-C and SIGTERM stop every node before returning
/// [`TestnetError::Interrupted`].
pub async fn up(options: UpOptions, progress: Progress) -> Result<Report, TestnetError> {
    run::up(options, progress).await
}

/// Re-reads `<out>/report.json` and writes `report.md` and the plots again.
pub fn render(out: &Path) -> Result<Report, TestnetError> {
    let path = out.join(files::REPORT_JSON);
    let text =
        flashback_types::file::read_text_bounded(&path, flashback_types::file::MAX_STATE_BYTES)
            .map_err(|source| TestnetError::Io {
                path: path.clone(),
                source,
            })?;
    let report: Report = serde_json::from_str(&text).map_err(|e| TestnetError::Io {
        path,
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    write_outputs(out, &report, false)?;
    Ok(report)
}

/// Writes report.md and the plots (and report.json when `json`).
pub(crate) fn write_outputs(out: &Path, report: &Report, json: bool) -> Result<(), TestnetError> {
    if json {
        let text = serde_json::to_string_pretty(report)
            .map_err(|e| TestnetError::Internal(e.to_string()))?;
        fleet::write(&out.join(files::REPORT_JSON), text.as_bytes())?;
    }
    plot::propagation_cdf(&out.join(files::PROPAGATION_PNG), report)?;
    plot::reputation(&out.join(files::REPUTATION_PNG), report)?;
    fleet::write(&out.join(files::REPORT_MD), report.markdown().as_bytes())
}
