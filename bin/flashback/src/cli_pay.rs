//! Command-line definitions of payments: `pay`, `consumer`, `dispute`, `arbiter` and
//! `provider revenue`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::cli::NodeAddr;

#[derive(Debug, Subcommand)]
pub(crate) enum PayCommand {
    /// Pay what is due on your agreements as a consumer: one cumulative voucher per agreement.
    ///
    /// For each agreement of --key as consumer (or the one named), the node computes what the
    /// delivered billing periods cost, less the SLA credits the attestations earn (and as a
    /// trusted arbiter ruled); when that is above the best voucher held, a new voucher for the
    /// cumulative amount is signed and submitted. Run it after each billing period, or from
    /// cron; running it twice pays nothing twice.
    Run(PayRunArgs),
    /// What is due, credited, paid and outstanding, per asset and per agreement.
    Status(PayStatusArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PayRunArgs {
    /// Your key file (the agreements' consumer).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// Only this agreement (its proposal's id, or any unique start of it: 8+ hex).
    #[arg(value_name = "AGREEMENT")]
    pub(crate) agreement: Option<String>,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PayStatusArgs {
    /// Whose agreements: a key file, a public key or any unique start of one (8+ hex).
    #[arg(long, value_name = "KEY|FILE")]
    pub(crate) key: String,
    /// One agreement, with its billing periods (its proposal's id, or a unique start of it).
    #[arg(value_name = "AGREEMENT")]
    pub(crate) agreement: Option<String>,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RevenueArgs {
    /// The provider: a key file, a public key or any unique start of one (8+ hex).
    #[arg(value_name = "KEY|FILE")]
    pub(crate) provider: String,
    /// Only agreements that started within this long before now (e.g. 30d, 12h). Default: all
    /// the node holds.
    #[arg(long, value_name = "DURATION")]
    pub(crate) period: Option<String>,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConsumerCommand {
    /// A consumer's payment standing: agreements paid on time, late or in arrears, disputes
    /// lost and won, and the score providers' floors compare with.
    Show(ConsumerShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ConsumerShowArgs {
    /// The consumer: a key file, a public key or any unique start of one (8+ hex).
    #[arg(value_name = "KEY|FILE")]
    pub(crate) consumer: String,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DisputeCommand {
    /// Publish a signed dispute about an agreement, for an arbiter to rule on.
    Open(DisputeOpenArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DisputeOpenArgs {
    /// The agreement (its proposal's id, or any unique start of it: 8+ hex).
    #[arg(value_name = "AGREEMENT")]
    pub(crate) agreement: String,
    /// Your key file (the agreement's consumer or provider).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// What you claim, in words (1 to 256 bytes).
    #[arg(long, value_name = "TEXT")]
    pub(crate) claim: String,
    /// Ids of objects that support the claim (attestations, vouchers…), whole; repeatable.
    #[arg(long, value_name = "ID")]
    pub(crate) evidence: Vec<String>,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ArbiterCommand {
    /// Rule on a dispute: who is right and the amount due for the whole agreement. It counts
    /// at nodes that trust your key as an arbiter (`flashback trust add --role arbiter`).
    Rule(RuleArgs),
}

/// Who a ruling favours.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Favour {
    /// The agreement's consumer.
    Consumer,
    /// The agreement's provider.
    Provider,
}

#[derive(Debug, Args)]
pub(crate) struct RuleArgs {
    /// The dispute's id (whole, 64 hex).
    #[arg(value_name = "DISPUTE")]
    pub(crate) dispute: String,
    /// Your arbiter key file.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// Who is right.
    #[arg(long, value_enum)]
    pub(crate) favour: Favour,
    /// The amount due for the whole agreement, in minor units of its asset.
    #[arg(long, value_name = "MINOR_UNITS")]
    pub(crate) amount_due: u64,
    /// Why, in words (1 to 256 bytes).
    #[arg(long, value_name = "TEXT")]
    pub(crate) reason: String,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}
