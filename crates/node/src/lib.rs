//! The Flashback full node: a libp2p peer (`flashback-net`) that validates every object it
//! hears about (`flashback-types`), keeps the listing (`flashback-store`), reconciles it with
//! its peers, and serves light clients.
//!
//! How to read this crate:
//! - [`Node`] (`node.rs`) is what an embedder holds; `start.rs` starts one ([`NodeBuilder`]):
//!   listing, network, endpoints, `node.json`, tasks;
//! - `gossip/`: the path of one gossip message, from the swarm task to the durable listing
//!   (`gossip/mod.rs` draws it);
//! - `pipeline.rs`: the [`Validator`] every object goes through, whether it came by gossip,
//!   by sync or from a light client (decode, strict verification, listing, flush);
//! - `tasks/`: the events task (the network's events to their handlers), the syncer and GC;
//! - `sync.rs`: anti-entropy rounds over `/flashback/sync/1`, both sides; `service.rs`: the
//!   light clients' query and submit; `sla.rs`: the provider's answer to SLA proposals;
//! - `config.rs`, `error.rs`, `info.rs` (`node.json`), `address_book.rs` (`peers.json`),
//!   `files.rs` (files mirrored from memory), `metrics.rs`, `admin.rs`, `blobs.rs`,
//!   `api/` (the gateway HTTP API, its events and the web explorer),
//!   `trace.rs`, `trust.rs` (the trust file: read, edited, watched), `clock.rs`.
//!
//! ```no_run
//! # async fn run() -> Result<(), flashback_node::NodeError> {
//! use flashback_node::{Node, NodeConfig};
//! let config = NodeConfig::default();
//! let key = flashback_types::SecretKey::generate();
//! let node = Node::start(config, key).await?;
//! println!("listening on {:?}", node.info().listen_addrs);
//! node.shutdown().await;
//! # Ok(()) }
//! ```

mod access;
mod address_book;
mod admin;
mod api;
mod blobs;
mod config;
mod error;
mod files;
mod gossip;
mod info;
mod metrics;
mod node;
mod pipeline;
pub mod prometheus;
mod quote;
mod reach;
mod service;
mod sla;
mod start;
mod status;
mod support;
mod sync;
mod tasks;
mod trace;
mod trust;

pub use access::AccessConfig;
pub use admin::ADMIN_TOKEN;
pub use api::{
    ACCOUNTS_DIR, API_TOKEN, DEFAULT_API_ADDR, MAX_BODY_BYTES, MAX_FINISHED_DEALS,
    MAX_RUNNING_DEALS, MAX_SUBSCRIBERS, openapi::openapi_json,
};
pub use config::{
    ApiConfig, BlobConfig, DEFAULT_METRICS_ADDR, MetricsConfig, NODE_JSON, NodeConfig,
    PipelineConfig, SyncConfig, TrustConfig, default_data_dir,
};
pub use error::NodeError;
pub use info::NodeInfo;
pub use node::Node;
pub use pipeline::{Listed, Validator, Verdict};
pub use quote::{QuotePolicy, quote_for};
pub use sla::{SlaPolicy, decide};
pub use start::NodeBuilder;
pub use sync::RoundStats;
pub use trace::APPLIED_LOG;
pub use trust::{TRUST_FILE, edit_trust_file, load_trust_file};

/// The full nodes a node in `data_dir` has met (its address book, `peers.json`), one dialable
/// `…/p2p/<peer>` address each; empty when there is no book. Light-client tools use it to find
/// nodes to cross-check against.
pub fn known_peers(data_dir: &std::path::Path) -> Vec<String> {
    address_book::Book::load(data_dir).dial_list()
}

pub(crate) use support::{bind_local, blocking, bounded};
