//! `flashback-net`: the libp2p layer of a Flashback node.
//!
//! It moves opaque bytes and reports events; it knows nothing of offers, signatures or
//! listings. The node crate above it decodes and validates, then tells this crate whether a
//! gossip message may travel on ([`NetHandle::report_validation`]).
//!
//! # Shape
//!
//! [`NetBuilder`] builds a libp2p swarm and hands it to one tokio task, which owns it. The
//! node talks to that task through a cheap, cloneable [`NetHandle`] (commands over a bounded
//! channel, each answered on a `oneshot`) and receives [`NetEvent`]s on a bounded channel.
//! A node that does not drain its events loses them rather than stalling the network (see
//! [`NetEvent`]). A node may also judge gossip on the swarm task itself, as it arrives
//! ([`GossipValidator`], [`NetBuilder::gossip_validator`]), so that valid messages travel on
//! without a hop through another task.
//!
//! Modules depend one way: `builder` starts the `event_loop` and hands out a `handle`; the
//! handle and the event loop share only `command` (what the handle asks), `event` (what the
//! network reports) and `stats` (what it dropped), never each other.
//!
//! Cargo feature `bench` (off by default) adds `NetBuilder::signed_gossip`, a baseline for
//! the network bench that no node uses.
//!
//! # Wire
//!
//! - Transports: TCP and QUIC (`quic-v1`), noise, yamux; or libp2p's in-process memory
//!   transport ([`NetConfig::memory_transport`]) for test harnesses with many nodes.
//! - Gossipsub with anonymous messages (no author, no signature, no sequence number: our
//!   objects carry their own signatures), message id = blake3(payload) ([`MessageId32`]),
//!   manual validation and peer scoring. Topics ([`flashback_types::protocol::Topic`]):
//!   `flashback/1/offers`, `flashback/1/demands`, `flashback/1/sla`, `flashback/1/agreements`,
//!   `flashback/1/attestations`, `flashback/1/certs`; a node subscribes to all of them and
//!   ignores peers' subscriptions to anything else. Names, protocol ids and default limits
//!   come from [`flashback_types::protocol`]; this crate carries opaque bytes.
//! - Kademlia under `/flashback/kad/1.0.0` (server mode), for peer discovery only.
//! - identify (`/ipfs/id/1.0.0`, protocol version `flashback/1`, agent `flashback/<version>`),
//!   ping, and optional mDNS.
//! - Request-response, opaque bytes with a varint length prefix and per-protocol size limits
//!   ([`Protocol`]): `/flashback/sync/1`, `/flashback/query/1`, `/flashback/submit/1`.
//!   Inbound requests are rate-limited per peer.
//!
//! # Example
//!
//! ```no_run
//! use flashback_net::{NetBuilder, NetConfig, NetEvent, Validation};
//! use flashback_types::protocol::Topic;
//! use libp2p::identity::Keypair;
//!
//! # async fn run() -> Result<(), flashback_net::NetError> {
//! let config = NetConfig {
//!     bootstrap: vec!["/ip4/203.0.113.7/tcp/4077/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN".into()],
//!     ..NetConfig::default()
//! };
//! let (net, mut events) = NetBuilder::new(Keypair::generate_ed25519(), config).spawn().await?;
//! let (me, addrs) = (net.local_peer_id(), net.listen_addrs().await?);
//! tracing::info!(%me, ?addrs, "network up");
//!
//! while let Some(event) = events.recv().await {
//!     match event {
//!         NetEvent::Gossip { data, msg_id, source, .. } => {
//!             let valid = !data.is_empty(); // the node's real checks go here
//!             let verdict = if valid { Validation::Accept } else { Validation::Reject };
//!             net.report_validation(msg_id, source, verdict).await?;
//!         }
//!         NetEvent::InboundRequest { data, reply, .. } => {
//!             net.respond(reply, data).await?; // echo
//!         }
//!         _ => {}
//!     }
//! }
//! # net.publish(Topic::Offers.name(), b"signed offer bytes".to_vec()).await?;
//! # Ok(())
//! # }
//! ```

mod behaviour;
mod builder;
mod codec;
mod command;
mod config;
mod error;
mod event;
mod event_loop;
mod handle;
mod link_delay;
mod nat;
mod pending;
mod rate_limit;
mod stats;

pub use builder::NetBuilder;
pub use config::{DEFAULT_PORT, NAT_CONNECTIONS_PER_PEER, NetConfig, ProtocolLimits};
pub use error::NetError;
pub use event::{GossipValidator, Judged, MessageId32, NetEvent, ResponseToken, Validation};
/// The request-response protocols, defined with the rest of the wire in
/// [`flashback_types::protocol`]; re-exported because [`NetEvent`] and [`NetHandle`] speak it.
pub use flashback_types::protocol::Protocol;
pub use handle::NetHandle;
/// The Prometheus registry type [`NetBuilder::metrics`] records into.
pub use libp2p::metrics::Registry;
/// libp2p types that appear in this crate's API, re-exported so users need not depend on libp2p.
pub use libp2p::{Multiaddr, PeerId, identity::Keypair, multiaddr};
pub use link_delay::LinkRule;
pub use nat::NatConfig;
pub use stats::{NetStats, Reachability};
