//! Command-line definitions of the provider's tools: the pricing advisor (`price suggest`) and
//! propagation feedback (`offer status`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::NodeAddr;

#[derive(Debug, Subcommand)]
pub(crate) enum PriceCommand {
    /// Suggest a unit price from the market: what comparable live offers charge, what
    /// consumers agreed to pay, where --price would rank, and the highest price the optimizer
    /// would still pick for a typical request (light client).
    ///
    /// Comparable offers: same kind, serving the region and every --protocol, with an
    /// availability within a factor of two of downtime of --availability (99.9 compares with
    /// 99.8 to 99.95). Percentiles p10/p25/p50/p75/p90 per asset, every offer counting once
    /// and weighted by its provider's reputation (unrated: half weight). With fewer than 5
    /// comparable offers in every asset it refuses (exit status 3, code too_little_data).
    Suggest(PriceSuggestArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PriceSuggestArgs {
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// What you sell: storage or compute.
    #[arg(long, default_value = "storage")]
    pub(crate) kind: String,
    /// The region your offer serves, e.g. eu-west.
    #[arg(long)]
    pub(crate) region: String,
    /// The availability you commit to, percent, e.g. 99.9.
    #[arg(long)]
    pub(crate) availability: f64,
    /// A protocol you serve (repeat): comparable offers serve all of them.
    #[arg(long = "protocol", value_name = "PROTOCOL")]
    pub(crate) protocols: Vec<String>,
    /// Only this asset, e.g. USD (default: every asset seen).
    #[arg(long)]
    pub(crate) asset: Option<String>,
    /// The capacity you would offer, e.g. "10 TiB" (default: the typical request's volume).
    #[arg(long)]
    pub(crate) capacity: Option<String>,
    /// A unit price to rank, e.g. "1.20 USD" (per GiB-month, or per unit-hour for compute).
    #[arg(long)]
    pub(crate) price: Option<String>,
    /// Your key file or public key, when you already sell: your own offers are left out.
    #[arg(long, value_name = "KEY|FILE")]
    pub(crate) provider: Option<String>,
    /// The typical request's volume, for the price to win.
    #[arg(long, default_value = "100 GiB")]
    pub(crate) volume: String,
    /// The typical request's duration.
    #[arg(long, default_value = "30d")]
    pub(crate) duration: String,
    /// The typical request's replicas.
    #[arg(long, default_value_t = 3)]
    pub(crate) replicas: u8,
    /// Draw the price distribution with the suggestion marked to this PNG file.
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct OfferStatusArgs {
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// The offer: its id (any version) or any unique start of one.
    pub(crate) offer: String,
    /// Peers beyond the node's own to ask: a sample of its peers' peers (at most 64).
    #[arg(long, default_value_t = flashback_client::reach::DEFAULT_SAMPLE)]
    pub(crate) sample: u16,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}
