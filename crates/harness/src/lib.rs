//! `flashback-harness`: in-process networks of Flashback peers on libp2p's memory transport,
//! shared by tests, the network bench (`benches/network/`) and scale runs.
//!
//! A [`Network`] is N peers of one kind, started from a [`NetworkSpec`] (how many, the
//! [`Topology`] of bootstrap links, gossipsub's heartbeat and mesh degree, an optional one-way
//! delay on every link):
//! - [`Network::full`]: real [`flashback_node::Node`]s (sled stores in a temp dir, metrics
//!   endpoint off), each receipt stamped the instant the object entered that node's listing
//!   (and again once durable);
//! - [`Network::raw`]: bare `flashback-net` peers whose gossip validator accepts every message
//!   on the swarm task as it arrives (gossipsub with no work of its own), each receipt stamped
//!   at that instant. [`Network::raw_with`] adjusts each peer's [`NetBuilder`] (the bench's
//!   signed-gossip baseline).
//!
//! Then: [`Network::wait_for_mesh`] until the gossipsub meshes have settled,
//! [`Network::propagate`] to publish an object from one peer and collect when every other
//! held it (a [`Wave`], with a deadline), [`Network::gossip_totals`] for the receptions and
//! bytes gossipsub counted, and [`Network::shutdown`].
//!
//! ```no_run
//! # async fn run() -> Result<(), flashback_harness::HarnessError> {
//! use std::time::Duration;
//! use flashback_harness::{Network, NetworkSpec, Topology, Wait, sign_offers};
//!
//! let spec = NetworkSpec {
//!     nodes: 20,
//!     topology: Topology::RandomEarlier { seed: 1 },
//!     link_delay_ms: 20,
//!     ..NetworkSpec::default()
//! };
//! let mut network = Network::full(&spec).await?;
//! assert!(network.wait_for_mesh(Duration::from_secs(60)).await.formed);
//! let offer = &sign_offers(1, 1, "example")[0];
//! let wave = network.propagate(0, offer, Wait::listed(Duration::from_secs(10))).await;
//! println!("95 % of the nodes held it after {:?}", wave.time_to(0.95));
//! network.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Everything runs on the caller's tokio runtime, so the peers share its cores: times are an
//! upper bound of a real deployment.

#![warn(missing_docs)]

mod measure;
mod mesh;
mod network;
mod offers;
mod spec;

pub use flashback_net::NetBuilder;
pub use measure::{counter_sum, process_cpu, threads_cpu};
pub use mesh::{MeshState, wait_for_mesh};
pub use network::{GossipTotals, Network, Wait, Wave};
pub use offers::sign_offers;
pub use spec::{NetworkSpec, Topology, full_node_config};

/// Why a network could not start.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A raw peer's network did not start.
    #[error("a peer did not start: {0}")]
    Net(#[from] flashback_net::NetError),
    /// A full node did not start.
    #[error("a node did not start: {0}")]
    Node(#[from] flashback_node::NodeError),
    /// The temp dir for the nodes' stores could not be made.
    #[error("cannot create a temp dir for the nodes' stores: {0}; check TMPDIR")]
    TempDir(std::io::Error),
}
