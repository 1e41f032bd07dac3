//! [`NodeConfig`]: everything a full node can be told, with defaults that run a node.

use std::net::SocketAddr;
use std::path::PathBuf;

use flashback_net::NetConfig;
use flashback_store::StoreConfig;
use flashback_types::TimeRules;
use serde::{Deserialize, Serialize};

/// Full-node configuration. Loaded as defaults < TOML file < environment < flags (the binary
/// does the layering; `flashback config dump` prints the result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Where the node keeps its listing (`store/`), its address book (`peers.json`), its key
    /// (`node.key`, unless `key_file` says otherwise) and `node.json`.
    pub data_dir: PathBuf,
    /// The node's key file. Default: `<data_dir>/node.key`, created on first start.
    pub key_file: Option<PathBuf>,
    /// Network settings (listen addresses, bootstrap peers, limits).
    pub net: NetConfig,
    /// Listing store settings (cache size, price rates, reputation).
    pub store: StoreConfig,
    /// Where the trust store is and how often it is re-read.
    pub trust: TrustConfig,
    /// Clock-skew rule for incoming objects.
    pub time: TimeRules,
    /// Validation pipeline settings.
    pub pipeline: PipelineConfig,
    /// Anti-entropy settings.
    pub sync: SyncConfig,
    /// Prometheus metrics endpoint.
    pub metrics: MetricsConfig,
    /// How this node answers SLA proposals addressed to its key.
    pub sla: crate::sla::SlaPolicy,
    /// How this node answers consumers' demands with quotes on its offers (`[quotes]`).
    pub quotes: crate::quote::QuotePolicy,
    /// Append `<unix millis> <id> <kind>` to `<data_dir>/applied.log` for every newly stored
    /// object (testnets measure propagation with it). Off by default.
    pub trace_applied: bool,
    /// Reference blob endpoint (the data plane QoS probes measure); off by default.
    pub blobs: BlobConfig,
    /// How accepted agreements get access to this provider's data plane (`[access]`).
    pub access: crate::access::AccessConfig,
    /// The gateway HTTP API and web explorer.
    pub api: ApiConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            key_file: None,
            net: NetConfig::default(),
            store: StoreConfig::default(),
            trust: TrustConfig::default(),
            time: TimeRules::default(),
            pipeline: PipelineConfig::default(),
            sync: SyncConfig::default(),
            metrics: MetricsConfig::default(),
            sla: crate::sla::SlaPolicy::default(),
            quotes: crate::quote::QuotePolicy::default(),
            trace_applied: false,
            blobs: BlobConfig::default(),
            access: crate::access::AccessConfig::default(),
            api: ApiConfig::default(),
        }
    }
}

impl NodeConfig {
    /// Defaults for a node that only its own machine reaches (tests, tools, local experiments):
    /// data in `data_dir`, listening on loopback TCP on a free port, no metrics endpoint.
    pub fn local(data_dir: impl Into<PathBuf>) -> Self {
        let mut config = Self {
            data_dir: data_dir.into(),
            ..Self::default()
        };
        config.net.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        config.metrics.enabled = false;
        config.api.enabled = false;
        config
    }

    /// The key file in use.
    pub fn key_path(&self) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("node.key"))
    }

    /// The trust file in use.
    pub fn trust_path(&self) -> PathBuf {
        self.trust
            .file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(crate::TRUST_FILE))
    }

    /// Where `node.json` is written.
    pub fn node_json_path(&self) -> PathBuf {
        self.data_dir.join(NODE_JSON)
    }
}

/// Name of the file a running node writes into its data dir for scripts and light clients.
pub const NODE_JSON: &str = "node.json";

/// The default data dir: `$FLASHBACK_DATA_DIR`, else the platform data dir
/// (`~/.local/share/flashback` on Linux), else `./flashback-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLASHBACK_DATA_DIR") {
        return PathBuf::from(dir);
    }
    dirs::data_dir()
        .map(|d| d.join("flashback"))
        .unwrap_or_else(|| PathBuf::from("flashback-data"))
}

/// The trust store's file: the issuer keys this node trusts, their roles and the claims each
/// may certify (edited by `flashback trust add|remove|require`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrustConfig {
    /// The trust file. Default: `<data_dir>/trust.toml`; a missing file trusts nobody.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// How often the node re-reads the file, in milliseconds: an edit takes effect within this
    /// delay, without a restart.
    pub reload_ms: u64,
}

impl Default for TrustConfig {
    fn default() -> Self {
        Self {
            file: None,
            reload_ms: 1000,
        }
    }
}

/// Validation pipeline settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Objects waiting for validation before new gossip is ignored (not penalised).
    pub queue_capacity: usize,
    /// Most objects validated and stored together (one durable flush per batch).
    pub max_batch: usize,
    /// Threads verifying signatures in parallel (0 = number of CPUs).
    pub verify_threads: usize,
    /// Group commit for gossip, in milliseconds. A gossiped object is relayed as soon as it is
    /// verified and in the listing; the node then makes it durable together with whatever else
    /// arrives within this delay, in one flush. So gossip costs at most one `fsync` per delay,
    /// however busy the topics are, and a crash loses at most this much relayed gossip, which
    /// anti-entropy brings back. Objects a light client submits and objects fetched by
    /// anti-entropy are flushed before they are acknowledged, whatever this says.
    /// 0 flushes each gossip batch as soon as possible.
    pub flush_delay_ms: u64,
    /// Most of the network task's time, in percent, spent verifying gossip as it arrives.
    /// While the pipeline is idle, the network task itself verifies and lists each gossip
    /// message and forwards it at once, without handing it to another task; beyond this
    /// share (a burst), messages go to the pipeline, which verifies them in parallel.
    /// 0 sends everything to the pipeline.
    pub inline_percent: u8,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 8192,
            max_batch: 512,
            verify_threads: 0,
            flush_delay_ms: 100,
            inline_percent: 25,
        }
    }
}

/// Anti-entropy settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// Seconds between reconciliation ticks (a round is also run with each peer when it
    /// connects).
    pub interval_secs: u64,
    /// Connected peers, picked at random, reconciled with at each tick. Anti-entropy backs up
    /// gossip, so a few random peers per tick reach everything in a few ticks without a node
    /// with hundreds of connections running hundreds of rounds each tick.
    pub peers_per_tick: usize,
    /// Ids fetched per request (at most 256).
    pub fetch_batch: usize,
    /// Peers reconciled at the same time.
    pub max_concurrent: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            interval_secs: 30,
            peers_per_tick: 3,
            fetch_batch: 256,
            max_concurrent: 2,
        }
    }
}

/// Where metrics are served when `metrics.listen` is not set (and that port is free).
pub const DEFAULT_METRICS_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9464);

/// Prometheus endpoint settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics`.
    pub enabled: bool,
    /// Address to bind (port 0 picks a free port); the bound address is written to node.json.
    /// Unset: [`DEFAULT_METRICS_ADDR`] (`127.0.0.1:9464`), or a free loopback port when another
    /// process (a second node on the machine) holds that one. A set address that is taken is
    /// an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Also serve the admin endpoint (`/admin/…`: block, unblock and dial peers) on this
    /// address, with a token in `<data_dir>/admin.token`. Needs a loopback `listen`. Off by
    /// default; testnets use it for partitions.
    pub admin: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
            admin: false,
        }
    }
}

/// The reference blob endpoint: a small HTTP store of blobs addressed by their blake3, so QoS
/// probes measure a real data plane. Off by default; testnets turn it on. The fault knobs
/// (`added_latency_ms`, `failure_rate`) exist to test the prober and reputation, never for
/// production.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlobConfig {
    /// Serve `/blobs`.
    pub enabled: bool,
    /// Address to bind; loopback by default (port 0 picks a free port, written to node.json as
    /// `blob_endpoint`).
    pub listen: SocketAddr,
    /// Total bytes stored before uploads are refused with 507.
    pub capacity_bytes: u64,
    /// Largest blob accepted, bytes (bigger uploads get 413).
    pub max_blob_bytes: u64,
    /// Delay added before answering every blob request, ms.
    pub added_latency_ms: u64,
    /// Probability (0.0 to 1.0) that a GET of a stored blob fails: half of the failures answer
    /// 503, the other half answer 200/206 with one byte flipped (caught by the prober's blake3
    /// check).
    pub failure_rate: f64,
    /// Seed for the fault draws (deterministic failures in tests); random when unset.
    pub seed: Option<u64>,
}

impl Default for BlobConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            capacity_bytes: 1 << 30,
            max_blob_bytes: 16 << 20,
            added_latency_ms: 0,
            failure_rate: 0.0,
            seed: None,
        }
    }
}

/// The gateway HTTP API (`/api/v1`) and the web explorer (`/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Serve the API and the explorer.
    pub enabled: bool,
    /// Address to bind (port 0 picks a free port); the bound address is written to node.json
    /// as `api_addr`. Unset: [`crate::DEFAULT_API_ADDR`] (`127.0.0.1:9465`), or a free
    /// loopback port when another process holds that one. A set address that is taken is an
    /// error. Reads are open to whoever reaches the address: keep it on loopback unless a
    /// proxy in front decides who may read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Events a subscriber of `/api/v1/events` may have waiting; one that falls further behind
    /// is sent a last `dropped` event and disconnected.
    pub subscriber_buffer: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
            subscriber_buffer: 256,
        }
    }
}
