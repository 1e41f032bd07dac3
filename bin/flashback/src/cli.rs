//! Command-line definitions (clap). Only parsing lives here; behaviour is in `cmd`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub(crate) use crate::cli_deal::{DealCommand, DemandCommand};
pub(crate) use crate::cli_pay::{
    ArbiterCommand, ConsumerCommand, DisputeCommand, PayCommand, RevenueArgs,
};
pub(crate) use crate::cli_price::PriceCommand;
pub(crate) use crate::cli_sla::{DataCommand, SlaCommand};
pub(crate) use crate::cli_trust::{CertCommand, ComplianceCommand, RegisterCommand, TrustCommand};

/// Flashback: a peer-to-peer marketplace for storage and compute, with no central server.
///
/// Providers run full nodes that gossip signed offers; consumers use light clients that verify
/// every signature, make signed agreements and attest to the quality they receive.
#[derive(Debug, Parser)]
#[command(
    name = "flashback",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create and inspect ed25519 keys (account keys; a node's peer id is derived from its key).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Run a full node.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Show the configuration a node would run with.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Publish or withdraw your offers (light client: talks to a node).
    #[command(subcommand)]
    Offer(OfferCommand),
    /// Query the listing of a node (light client: every object is verified before it is shown).
    #[command(subcommand)]
    Listing(ListingCommand),
    /// Propose and list service-level agreements (light client).
    #[command(subcommand)]
    Sla(SlaCommand),
    /// Show a provider: offers, agreements, reputation and what it is based on (light client).
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Pay for delivered service with vouchers, and see what is due (light client).
    #[command(subcommand)]
    Pay(PayCommand),
    /// Show how a consumer pays: its payment standing and what it rests on (light client).
    #[command(subcommand)]
    Consumer(ConsumerCommand),
    /// Dispute an agreement before an arbiter (light client).
    #[command(subcommand)]
    Dispute(DisputeCommand),
    /// Rule on disputes as an arbiter (light client).
    #[command(subcommand)]
    Arbiter(ArbiterCommand),
    /// Measure the providers you have agreements with and sign QoS attestations (light client).
    ///
    /// For each window and each live agreement of --key: opens the agreement's access grant,
    /// stores a random object on the provider's data plane (s3, https or flashback_blob) with
    /// those credentials, reads random ranges back, checks their blake3, then signs an
    /// attestation of what it measured and submits it through the node. An agreement it
    /// cannot probe (no grant, a protocol it does not speak) is named with the reason.
    Probe(ProbeArgs),
    /// Store and fetch your data on a provider's data plane, with an agreement's access
    /// (light client).
    ///
    /// Opens the agreement's access grant with --key (only its consumer can) and speaks the
    /// data plane it names: s3, https or flashback_blob. Files stream, so their size is not
    /// bounded by memory; a progress bar shows on a terminal (not with --json).
    #[command(subcommand)]
    Data(DataCommand),
    /// Run a local testnet: many real nodes on this machine play a scenario and get a report.
    #[command(subcommand)]
    Testnet(TestnetCommand),
    /// Recommend providers: the exact cheapest placement for replicas or erasure-coded shards
    /// under QoS floors, a loss target, region rules, reputation, certificates and a budget,
    /// with the reasons (light client).
    ///
    /// Fetches every live offer that matches the request from the node (verified), each
    /// provider's reputation and the certificates offers cite, then solves exactly: the
    /// answer is optimal within --tolerance (chosen per consumer so consumers do not all land
    /// on the same providers), or the rule that makes the request impossible is named. Prints
    /// the picks, the total cost, the availability and loss probability, and how many
    /// candidates each rule removed. --why explains one provider or offer: the rule that
    /// excluded it, with its value against the limit, and the highest price at which it would
    /// have been picked.
    Recommend(Box<RecommendArgs>),
    /// Issue, revoke, list and show certificates: signed claims about a key, such as
    /// "iso27001=certified" or "region=eu-west" (light client).
    #[command(subcommand)]
    Cert(CertCommand),
    /// This node's trust store: the certifier, auditor and arbiter keys it trusts, by name, and
    /// the claims each may certify (edits <data-dir>/trust.toml; the node follows).
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Registers of certified providers and consumers, by the node's trust store, each
    /// certificate with its status (light client).
    #[command(subcommand)]
    Register(RegisterCommand),
    /// Check a provider's compliance: fetch each legal document its offers declare and compare
    /// it with the signed digest (light client).
    #[command(subcommand)]
    Compliance(ComplianceCommand),
    /// The node's gateway HTTP API (/api/v1) and web explorer (/): account keys it signs
    /// with, and where it is served.
    #[command(subcommand)]
    Api(crate::cli_api::ApiCommand),
    /// Pricing advice for providers, from the market the node lists (light client).
    #[command(subcommand)]
    Price(PriceCommand),
    /// Publish demands (requests for quotes) and read the providers' quotes (light client).
    #[command(subcommand)]
    Demand(DemandCommand),
    /// Make verified multi-provider deals from a request in one command, and show them
    /// (light client).
    #[command(subcommand)]
    Deal(DealCommand),
}

#[derive(Debug, Args)]
pub(crate) struct RecommendArgs {
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    #[command(flatten)]
    pub(crate) request: RequestArgs,
    /// Explain one candidate: a provider key or an offer id (any unique start of at least 8
    /// hex characters).
    #[arg(long, value_name = "KEY|ID")]
    pub(crate) why: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// What a consumer asks for: shared by `recommend`, `demand publish` and `deal make`.
#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// storage or compute.
    #[arg(long, value_name = "KIND", default_value = "storage")]
    pub(crate) kind: String,
    /// Volume of the data set: a size for storage ("2 TiB"), a unit count for compute.
    #[arg(long, value_name = "SIZE")]
    pub(crate) volume: String,
    /// Duration of service, e.g. 90d.
    #[arg(long, value_name = "DURATION")]
    pub(crate) duration: String,
    /// Full copies, each on its own provider (default 1 unless --shards).
    #[arg(long, value_name = "R", conflicts_with = "shards")]
    pub(crate) replicas: Option<u8>,
    /// Erasure coding: k/n shards of volume/k each, any k of which rebuild the data.
    #[arg(long, value_name = "K/N")]
    pub(crate) shards: Option<String>,
    /// Each pick's availability at least this, in percent (e.g. 99.9).
    #[arg(long, value_name = "PERCENT")]
    pub(crate) min_availability: Option<f64>,
    /// Each pick's promised p95 latency at most this, ms.
    #[arg(long, value_name = "MS")]
    pub(crate) max_p95_ms: Option<u32>,
    /// Each pick's promised throughput at least this per second, e.g. "100 MiB".
    #[arg(long, value_name = "SIZE")]
    pub(crate) min_throughput: Option<String>,
    /// Probability of losing access to the data at most this (picks failing independently),
    /// e.g. 1e-9.
    #[arg(long, value_name = "P")]
    pub(crate) loss_target: Option<f64>,
    /// Allowed regions (comma-separated; default any).
    #[arg(long, value_name = "REGIONS", value_delimiter = ',')]
    pub(crate) regions: Vec<String>,
    /// At most this many picks in one region.
    #[arg(long, value_name = "M")]
    pub(crate) max_per_region: Option<u32>,
    /// At least this many distinct regions among the picks.
    #[arg(long, value_name = "D", default_value_t = 0)]
    pub(crate) min_regions: u32,
    /// Total budget in the asset's major unit, e.g. "50 USD"; offers in other assets are
    /// excluded.
    #[arg(long, value_name = "AMOUNT")]
    pub(crate) budget: Option<String>,
    /// The asset costs are counted in, without a --budget.
    #[arg(
        long,
        value_name = "CODE",
        default_value = "USD",
        conflicts_with = "budget"
    )]
    pub(crate) asset: String,
    /// Each pick's provider reputation at least this (0.0 to 1.0); unrated providers are
    /// excluded unless --explore allows some.
    #[arg(long, value_name = "SCORE")]
    pub(crate) min_reputation: Option<f64>,
    /// With --min-reputation: at most this many picks may be unrated providers.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) explore: u32,
    /// A claim every pick must hold, name=value (repeatable), by the node's trust store
    /// unless --trust-file or --trust-issuer say whom you trust.
    #[arg(long, value_name = "NAME=VALUE")]
    pub(crate) require_claim: Vec<String>,
    /// A certificate issuer you trust for any claim, by public key (repeatable), instead of
    /// the node's trust store.
    #[arg(long, value_name = "KEY", conflicts_with = "trust_file")]
    pub(crate) trust_issuer: Vec<String>,
    /// Your own trust store (a trust.toml, see `flashback trust`) instead of the node's.
    #[arg(long, value_name = "FILE")]
    pub(crate) trust_file: Option<PathBuf>,
    /// Minimise the loss probability within the budget instead of the cost.
    #[arg(long)]
    pub(crate) maximize_availability: bool,
    /// Anti-herding: the answer may cost this much more than the optimum, in percent,
    /// chosen by your key (0 for the exact optimum).
    #[arg(long, value_name = "PERCENT", default_value_t = 1.0)]
    pub(crate) tolerance: f64,
    /// Your key file: the anti-herding choice is derived from your public key and the
    /// request, so it is stable for you and differs between consumers.
    #[arg(long, value_name = "FILE", conflicts_with = "seed")]
    pub(crate) key: Option<PathBuf>,
    /// Any text to derive the anti-herding choice from, instead of --key.
    #[arg(long, value_name = "TEXT")]
    pub(crate) seed: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ProbeArgs {
    /// Your key file (the consumer's key).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Length of one measurement window, e.g. 1h (testnets use seconds).
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub(crate) window: String,
    /// Windows to run before exiting.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) windows: u32,
    /// Reads per window and agreement.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub(crate) probes: u32,
    /// Print JSON (one object per attestation). Progress still goes to stderr.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ProviderCommand {
    /// Offers, agreements, reputation score and its explanation: which attestations counted,
    /// which were excluded and why.
    Show(ProviderShowArgs),
    /// Revenue per asset and agreement: earned (after SLA credits and rulings), credited,
    /// paid, outstanding and overdue.
    Revenue(RevenueArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ProviderShowArgs {
    /// The provider: its public key, any unique start of one (8+ hex characters), or its key
    /// file.
    #[arg(value_name = "KEY|FILE")]
    pub(crate) provider: String,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
    /// Start a full node: join the network, keep a listing, serve light clients.
    ///
    /// Logs the node's peer id and listen addresses, and writes them to <data-dir>/node.json
    /// for scripts and for light-client commands on this machine. Stops cleanly on Ctrl-C or
    /// SIGTERM.
    Run(RunArgs),
    /// A node's status: peer id, addresses, peers, listing counts, anti-entropy (light client).
    Status(NodeQueryArgs),
    /// The peers a node is connected to (light client).
    Peers(NodeQueryArgs),
}

/// A light-client question to a node about itself.
#[derive(Debug, Args)]
pub(crate) struct NodeQueryArgs {
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `flashback node run`: the node settings, and what applies to this start only.
#[derive(Debug, Args, Clone)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) node: NodeArgs,
    /// Start with an empty listing, which sync refills from peers: the way out when the
    /// listing database is damaged or from a newer version. The old database is moved to
    /// <data-dir>/store.damaged-<unix time>, not deleted.
    #[arg(long)]
    pub(crate) rebuild_store: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print the effective node configuration as TOML (defaults < --config file < environment
    /// < flags).
    Dump(NodeArgs),
}

/// Node settings. Each flag overrides its environment variable, which overrides the config
/// file, which overrides the defaults.
#[derive(Debug, Args, Clone)]
pub(crate) struct NodeArgs {
    /// TOML configuration file (see `flashback config dump` for every setting).
    #[arg(long, value_name = "FILE", env = "FLASHBACK_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Data directory (listing, key, node.json). Default: ~/.local/share/flashback.
    #[arg(long, value_name = "DIR", env = "FLASHBACK_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// The node's key file. Default: <data-dir>/node.key, created on first start.
    #[arg(long, value_name = "FILE", env = "FLASHBACK_KEY")]
    pub(crate) key: Option<PathBuf>,
    /// Listen address (repeatable; replaces the default, port 4077 on TCP and QUIC on all
    /// interfaces), e.g. /ip4/0.0.0.0/tcp/4078, or port 0 for any free port.
    #[arg(
        long,
        value_name = "MADDR",
        env = "FLASHBACK_LISTEN",
        value_delimiter = ','
    )]
    pub(crate) listen: Vec<String>,
    /// Peer to join at start (repeatable), e.g. /ip4/192.0.2.7/tcp/4077/p2p/12D3KooW….
    #[arg(
        long,
        value_name = "MADDR",
        env = "FLASHBACK_BOOTSTRAP",
        value_delimiter = ','
    )]
    pub(crate) bootstrap: Vec<String>,
    /// Serve Prometheus metrics on this address (loopback by default).
    #[arg(long, value_name = "ADDR", env = "FLASHBACK_METRICS")]
    pub(crate) metrics: Option<std::net::SocketAddr>,
    /// Do not serve metrics.
    #[arg(long)]
    pub(crate) no_metrics: bool,
    /// Serve the gateway HTTP API and the web explorer on this address (default 127.0.0.1:9465,
    /// or a free loopback port when that one is taken; written to node.json).
    #[arg(long, value_name = "ADDR", env = "FLASHBACK_API")]
    pub(crate) api: Option<std::net::SocketAddr>,
    /// Do not serve the HTTP API and explorer.
    #[arg(long, conflicts_with = "api")]
    pub(crate) no_api: bool,
    /// Discover peers on the local network with mDNS.
    #[arg(long)]
    pub(crate) mdns: bool,
    /// Seconds between anti-entropy rounds with each peer.
    #[arg(long, value_name = "SECS", env = "FLASHBACK_SYNC_INTERVAL")]
    pub(crate) sync_interval: Option<u64>,
}

/// Where a light-client command finds its node.
#[derive(Debug, Args, Clone)]
pub(crate) struct NodeAddr {
    /// Full node to talk to (multiaddr ending in /p2p/<peer id>). Default: the node running
    /// from the default data dir (its node.json).
    #[arg(long, value_name = "MADDR", env = "FLASHBACK_NODE")]
    pub(crate) node: Option<String>,
    /// Find the local node through this data dir's node.json instead of the default one.
    #[arg(long, value_name = "DIR", env = "FLASHBACK_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per run
pub(crate) enum OfferCommand {
    /// Sign an offer with your key and publish it through a node.
    ///
    /// Give the offer as a TOML file (--file; see docs/examples/offer.toml) or with flags;
    /// flags given with --file override the file's fields. Each publish takes the next free
    /// sequence number: above the node's live one and every seq this key signed for the offer
    /// (recorded in <key file>.seq), and no lower than the current time, so a new publish
    /// supersedes the last and never reuses a seq.
    Publish(PublishArgs),
    /// Withdraw one of your offers (publishes a signed tombstone with the next free seq).
    Withdraw(WithdrawArgs),
    /// List a provider's offers (all of them, withdrawn ones with --include-withdrawn).
    List(OfferListArgs),
    /// Which nodes hold the offer's current version, how fast they got it, and which of the
    /// node's peers do not yet (those get it pushed).
    ///
    /// The node asks every full node it remembers (connected or not), and --sample of their peers,
    /// which version each holds (the sync protocol's answer). "Seen within" is the time from
    /// signing to the node's first sighting at that peer: an upper bound.
    Status(crate::cli_price::OfferStatusArgs),
}

#[derive(Debug, Args)]
pub(crate) struct OfferListArgs {
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Your own offers: those of --key.
    #[arg(long, requires = "key", conflicts_with = "provider")]
    pub(crate) mine: bool,
    /// Your key file (with --mine).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Option<PathBuf>,
    /// Another provider's offers: a public key, any unique start of one, or a key file.
    #[arg(long, value_name = "KEY|FILE", required_unless_present = "mine")]
    pub(crate) provider: Option<String>,
    /// Include withdrawn offers.
    #[arg(long)]
    pub(crate) include_withdrawn: bool,
    /// Print JSON (an array of offers).
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// Your key file (the provider's key).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Offer file (TOML). Flags given with it override its fields.
    #[arg(long, value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
    /// Offer name among your offers.
    #[arg(long, value_name = "NAME")]
    pub(crate) offer_key: Option<String>,
    /// storage or compute (default storage).
    #[arg(long, value_name = "KIND")]
    pub(crate) kind: Option<String>,
    /// Capacity, e.g. "1 TiB" (storage) or 8 (compute units).
    #[arg(long, value_name = "SIZE")]
    pub(crate) capacity: Option<String>,
    /// Compute offers: vCPUs per unit (with --memory; or the offer file's [compute] section).
    #[arg(long, value_name = "N")]
    pub(crate) vcpus: Option<u32>,
    /// Compute offers: memory per unit, e.g. "16 GiB".
    #[arg(long, value_name = "SIZE")]
    pub(crate) memory: Option<String>,
    /// Compute offers: accelerator model, e.g. a100 (default none).
    #[arg(long, value_name = "MODEL")]
    pub(crate) accelerator: Option<String>,
    /// Price in minor units (cents) per GiB-month (storage) or unit-hour (compute).
    #[arg(long, value_name = "AMOUNT")]
    pub(crate) price: Option<u64>,
    /// Asset of the price (default USD).
    #[arg(long, value_name = "CODE")]
    pub(crate) asset: Option<String>,
    /// Region code (repeatable).
    #[arg(long = "region", value_name = "REGION")]
    pub(crate) regions: Vec<String>,
    /// Data protocol (repeatable): s3, https, ipfs, sftp, flashback_blob, or a name (default
    /// https).
    #[arg(long = "protocol", value_name = "PROTO")]
    pub(crate) protocols: Vec<String>,
    /// Data-plane endpoint (URL or multiaddr).
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint: Option<String>,
    /// Jurisdiction the provider operates under (repeatable), e.g. eu, de, us-ca.
    #[arg(long = "jurisdiction", value_name = "CODE")]
    pub(crate) jurisdictions: Vec<String>,
    /// Availability promised, basis points (9990 = 99.90 %; default 0, not promised).
    #[arg(long, value_name = "BP")]
    pub(crate) availability_bp: Option<u16>,
    /// p95 latency promised, ms (default 0, not promised).
    #[arg(long, value_name = "MS")]
    pub(crate) p95_latency_ms: Option<u32>,
    /// Copies kept (default 1).
    #[arg(long, value_name = "N")]
    pub(crate) redundancy: Option<u8>,
    /// Shortest agreement accepted, e.g. 1h (default 1h).
    #[arg(long, value_name = "DURATION")]
    pub(crate) min_duration: Option<String>,
    /// Longest agreement accepted, e.g. 365d (default 365d).
    #[arg(long, value_name = "DURATION")]
    pub(crate) max_duration: Option<String>,
    /// How long the offer is valid, e.g. 30d (default 30d).
    #[arg(long, value_name = "DURATION")]
    pub(crate) valid_for: Option<String>,
    /// Sequence number (overrides the file's). Default: the next free one. Refused unless it
    /// is above the node's live seq and every seq this key signed for the offer.
    #[arg(long, value_name = "N")]
    pub(crate) seq: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct WithdrawArgs {
    /// Your key file (the provider's key).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// The offer to withdraw.
    #[arg(long, value_name = "NAME")]
    pub(crate) offer_key: String,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ListingCommand {
    /// List offers matching filters, verified, sorted and paginated.
    ///
    /// A page holds --limit offers (1 to 200); the next page is asked for with --after and
    /// the cursor a page ends with, or every page at once with --all. Sorted by price, offers
    /// are grouped by pricing unit and asset (prices in two assets are never ranked against
    /// each other), cheapest first within each group.
    Query(QueryArgs),
}

#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// storage or compute.
    #[arg(long, value_name = "KIND")]
    pub(crate) kind: Option<String>,
    /// Serving at least one of these regions (repeatable).
    #[arg(long = "region", value_name = "REGION")]
    pub(crate) regions: Vec<String>,
    /// Serving this protocol.
    #[arg(long, value_name = "PROTO")]
    pub(crate) protocol: Option<String>,
    /// Unit price at most this many minor units of --asset (cents for USD).
    #[arg(long, value_name = "AMOUNT", requires = "asset")]
    pub(crate) max_price: Option<u64>,
    /// Only offers priced in this asset (e.g. USD).
    #[arg(long, value_name = "CODE")]
    pub(crate) asset: Option<String>,
    /// Capacity at least this, e.g. "100 GiB".
    #[arg(long, value_name = "SIZE")]
    pub(crate) min_capacity: Option<String>,
    /// Availability target at least this, basis points.
    #[arg(long, value_name = "BP")]
    pub(crate) min_availability_bp: Option<u16>,
    /// p95 latency target at most this, ms.
    #[arg(long, value_name = "MS")]
    pub(crate) max_latency_ms: Option<u32>,
    /// Provider certified by this certifier key (or any unique start of it).
    #[arg(long, value_name = "KEY")]
    pub(crate) certified_by: Option<String>,
    /// Provider holds this claim by the node's trust store: a name (iso27001) or name=value
    /// (region=eu-west, the verified region rather than the declared one); repeatable, all
    /// must hold.
    #[arg(long, value_name = "CLAIM")]
    pub(crate) certified: Vec<String>,
    /// Offer declares this jurisdiction (repeatable: any of them).
    #[arg(long = "jurisdiction", value_name = "CODE")]
    pub(crate) jurisdictions: Vec<String>,
    /// Provider reputation at least this (0.0 to 1.0). Unrated providers (too little counted
    /// evidence for a score) are left out unless --include-unrated.
    #[arg(long, value_name = "SCORE")]
    pub(crate) min_reputation: Option<f64>,
    /// With --min-reputation: keep unrated providers too. A reputation sort lists them last.
    #[arg(long)]
    pub(crate) include_unrated: bool,
    /// Only this provider's offers: a public key, any unique start of one, or a key file.
    #[arg(long, value_name = "KEY|FILE")]
    pub(crate) provider: Option<String>,
    /// Include withdrawn offers.
    #[arg(long)]
    pub(crate) include_withdrawn: bool,
    /// Order: price (grouped by asset, cheapest first), reputation, capacity or newest.
    #[arg(long, value_name = "KEY", default_value = "price")]
    pub(crate) sort: String,
    /// Offers per page: 1 to 200.
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(flashback_types::MAX_QUERY_LIMIT)))]
    pub(crate) limit: u32,
    /// Continue after this cursor (printed at the end of the previous page).
    #[arg(long, value_name = "CURSOR", conflicts_with = "all")]
    pub(crate) after: Option<String>,
    /// Every page, not just the first.
    #[arg(long)]
    pub(crate) all: bool,
    /// Print JSON (an array of offers with id, provider, offer_key, seq and every field); the
    /// next page's cursor, if any, goes to stderr.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also ask N other nodes and compare (withholding detection): listing digests first,
    /// then the offers of every provider that differs; names a node that left offers out or
    /// serves an old listing, and shows the answer of a node that did not. The other nodes
    /// are the --with ones, then peers the local node knows (its peers.json).
    #[arg(long, value_name = "N")]
    pub(crate) cross_check: Option<usize>,
    /// A node to cross-check against (repeatable).
    #[arg(long = "with", value_name = "MADDR", requires = "cross_check")]
    pub(crate) with: Vec<String>,
    /// With --cross-check: a difference on an offer signed less than this long ago may still
    /// be propagating, so it is shown but not held against the node.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub(crate) grace: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Generate a new secret key and write it to a key file readable only by you (mode 0600).
    ///
    /// Prints the public key (your account id) and the libp2p peer id a node with this key has.
    Generate(GenerateArgs),
    /// Print the public key and peer id of a key file.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// Where to write the key file. Refuses to overwrite an existing file unless --force.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Replace an existing file at --out (the old key is lost).
    #[arg(long)]
    pub(crate) force: bool,
    /// Print JSON ({"public_key", "peer_id", "path"}) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The key file to read.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// Print JSON ({"public_key", "peer_id", "path"}) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TestnetCommand {
    /// Start N real nodes on 127.0.0.1, play a scenario, write a report, stop every node.
    ///
    /// Each node is a `flashback node run` process with a fresh key and a data dir under
    /// --out, joined through a random bootstrap graph. Providers publish offers on their
    /// node's blob endpoint (some with a flaky one), consumers make agreements, probe and
    /// attest; scenarios add churn, a partition or a flood. Writes report.json, report.md,
    /// propagation_cdf.png and reputation.png into --out. Exits non-zero when a check fails
    /// (for instance when the listings did not converge). Every process started is stopped on
    /// exit, Ctrl-C included; after a crash, `flashback testnet down` stops them.
    Up(TestnetUpArgs),
    /// Stop what a crashed `testnet up` left running (the processes in <out>/pids.json).
    Down(TestnetDirArgs),
    /// Write report.md and the plots again from <out>/report.json.
    Report(TestnetDirArgs),
}

#[derive(Debug, Args)]
pub(crate) struct TestnetUpArgs {
    /// Node processes (default: the scenario's, 10 for the built-in ones).
    #[arg(long, value_name = "N")]
    pub(crate) nodes: Option<usize>,
    /// Providers among the nodes (default: about 40 % of them, 2 to 12).
    #[arg(long, value_name = "P")]
    pub(crate) providers: Option<usize>,
    /// Consumers (light clients run by the runner; default: a quarter of the nodes, 2 to 8).
    #[arg(long, value_name = "C")]
    pub(crate) consumers: Option<usize>,
    /// Length of the activity phase, e.g. 30s (default: the scenario's). At least 2s; with
    /// payments (smoke), at least twice the probe window (10s), so measured periods end.
    #[arg(long, value_name = "DURATION")]
    pub(crate) duration: Option<String>,
    /// Scenario: a TOML file, or a built-in name: smoke, churn, partition, flood, wan (smoke
    /// over WAN links), nat (providers behind NAT routers, relays and hole punching; root),
    /// market (20 nodes; consumers make 3-replica deals through demands and quotes among
    /// providers of which one is dead, one flaky, one rejecting and one uncertified).
    #[arg(long, value_name = "FILE", default_value = "smoke")]
    pub(crate) scenario: String,
    /// Output dir: node data dirs and logs, pids.json, the report. Cleared if it holds a
    /// previous run; refused if it holds anything else.
    #[arg(long, value_name = "DIR", default_value = "testnet-out")]
    pub(crate) out: PathBuf,
    /// Seed of every random choice (default: random; printed in the report).
    #[arg(long, value_name = "S")]
    pub(crate) seed: Option<u64>,
    /// Links between the nodes: `loopback` (all on 127.0.0.1), or `wan`: each node in its own
    /// network namespace, links with the scenario's latency, jitter, loss and rate (default
    /// profile: 3 continents, 10–40 ms RTT within one, 80–150 ms between, 0.1 % loss, 100
    /// Mbit/s). Needs root; without it the run says so and falls back to loopback. Default:
    /// the scenario's (loopback for smoke, churn, partition, flood).
    #[arg(long, value_name = "MODE")]
    pub(crate) links: Option<String>,
    /// Print report.json on stdout instead of the summary.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TestnetDirArgs {
    /// The testnet's output dir.
    #[arg(long, value_name = "DIR", default_value = "testnet-out")]
    pub(crate) out: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}
