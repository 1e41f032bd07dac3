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
    /// Listing store settings (cache size, price rates, trusted certifiers).
    pub store: StoreConfig,
    /// Clock-skew rule for incoming objects.
    pub time: TimeRules,
    /// Validation pipeline settings.
    pub pipeline: PipelineConfig,
    /// Anti-entropy settings.
    pub sync: SyncConfig,
    /// Prometheus metrics endpoint.
    pub metrics: MetricsConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            key_file: None,
            net: NetConfig::default(),
            store: StoreConfig::default(),
            time: TimeRules::default(),
            pipeline: PipelineConfig::default(),
            sync: SyncConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

impl NodeConfig {
    /// The key file in use.
    pub fn key_path(&self) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("node.key"))
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
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 8192,
            max_batch: 512,
            verify_threads: 0,
        }
    }
}

/// Anti-entropy settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// Seconds between reconciliation rounds with every connected peer (a round is also run
    /// when a peer connects).
    pub interval_secs: u64,
    /// Ids fetched per request (at most 256).
    pub fetch_batch: usize,
    /// Peers reconciled at the same time.
    pub max_concurrent: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            interval_secs: 30,
            fetch_batch: 256,
            max_concurrent: 2,
        }
    }
}

/// Prometheus endpoint settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics`.
    pub enabled: bool,
    /// Address to bind; loopback by default (port 0 picks a free port, written to node.json).
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}
