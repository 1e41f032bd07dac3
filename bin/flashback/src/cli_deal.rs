//! Command-line definitions of demands (`demand`) and deal making (`deal`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::{NodeAddr, RequestArgs};

#[derive(Debug, Subcommand)]
pub(crate) enum DemandCommand {
    /// Publish a signed demand (a request for quotes) through your node; providers whose
    /// quote policy matches answer with signed quotes (see `demand quotes`).
    ///
    /// The demand carries the request's kind, volume, duration, replicas, regions, QoS floors,
    /// the --protocol list, and a maximum unit price that keeps one copy within --budget.
    Publish(Box<DemandPublishArgs>),
    /// The quotes your node holds for a demand, each verified, cheapest first.
    Quotes(DemandQuotesArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DemandPublishArgs {
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    #[command(flatten)]
    pub(crate) request: RequestArgs,
    /// A data protocol you accept (repeatable; default any): s3, https, flashback_blob, …
    #[arg(long = "protocol", value_name = "NAME")]
    pub(crate) protocols: Vec<String>,
    /// How long the demand stays open.
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub(crate) open_for: String,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DemandQuotesArgs {
    /// The demand's id (64 hex).
    #[arg(value_name = "DEMAND")]
    pub(crate) demand: String,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DealCommand {
    /// Make a deal: publish a demand, collect quotes, pick with the optimizer, verify each pick,
    /// propose, and replace any that fails, until --replicas agreements hold.
    ///
    /// Fails at once, naming the binding rule, when no placement of the listed offers can meet
    /// the request (quotes never undercut their offers). Each pick is checked before
    /// proposing (quote and offer still live; price, reputation and certificates by the
    /// optimizer's rules); each acceptance is verified by storing and reading back a small
    /// blob on the provider's data plane (checked by blake3). A pick that rejects, times out
    /// or fails verification is replaced by the next best (the optimizer re-run without it);
    /// an agreement that failed verification is terminated. Progress goes to stderr; the
    /// result (agreements, total cost, availability, what failed and why) to stdout, and is
    /// recorded for `deal show`.
    ///
    /// Exit status: 0 complete, 4 no quote in the window, 5 fewer agreements than
    /// --replicas, 1 any other error (an impossible request among them).
    Make(Box<DealMakeArgs>),
    /// The deals made with a key, each agreement with its status now.
    Show(DealShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DealMakeArgs {
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    #[command(flatten)]
    pub(crate) request: RequestArgs,
    /// A data protocol you accept (repeatable; default any the client speaks).
    #[arg(long = "protocol", value_name = "NAME")]
    pub(crate) protocols: Vec<String>,
    /// How long to collect quotes after publishing the demand.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub(crate) window: String,
    /// How long each provider has to decide a proposal.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub(crate) decide_within: String,
    /// Store-and-read-back probes on each new agreement's data plane, 1 to 100; all must
    /// pass, each with its own blob. More probes let fewer flaky planes through: one failing
    /// 60 % of reads passes 3 probes 6 % of the time, 5 probes 1 %.
    #[arg(long, value_name = "N", default_value_t = flashback_client::deal::DEFAULT_PROBES,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(flashback_client::deal::MAX_PROBES)))]
    pub(crate) probes: u32,
    /// Size of the blob stored and read back by each probe.
    #[arg(long, value_name = "SIZE", default_value = "64 KiB")]
    pub(crate) check_size: String,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DealShowArgs {
    /// Your key file (the consumer the deals were made with).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}
