//! [`NetConfig`]: every knob of the network layer, with defaults that suit a full node.

use std::time::Duration;

use flashback_types::{Kind, protocol};
use serde::{Deserialize, Serialize};

use crate::{LinkRule, NatConfig, Protocol};

/// Size limits of one request-response protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProtocolLimits {
    /// Largest request body accepted or sent, in bytes (excluding the length prefix).
    pub max_request_bytes: usize,
    /// Largest response body accepted or sent, in bytes (excluding the length prefix).
    pub max_response_bytes: usize,
}

impl Default for ProtocolLimits {
    fn default() -> Self {
        Self {
            max_request_bytes: protocol::MAX_REQUEST_BYTES,
            max_response_bytes: protocol::MAX_RESPONSE_BYTES,
        }
    }
}

/// Configuration of the network layer.
///
/// Every field has a default (`#[serde(default)]`), so a TOML file only needs the fields it
/// changes. Durations are plain integers with their unit in the field name, because they are
/// written by humans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetConfig {
    /// Multiaddrs to listen on. Default: TCP and QUIC (UDP) on all interfaces, both on port
    /// [`DEFAULT_PORT`], so that a node comes back on the addresses its peers remember.
    pub listen: Vec<String>,
    /// Peers to join at start, as multiaddrs ending in `/p2p/<peer id>`.
    pub bootstrap: Vec<String>,
    /// Subscribe to every topic and relay gossip. Light clients set it to `false`: they then
    /// receive and forward no gossip (they can still publish to connected full nodes).
    pub gossip: bool,
    /// Discover peers on the local network with mDNS (testnets, LANs). Default: off.
    pub enable_mdns: bool,
    /// Run the Kademlia DHT (`/flashback/kad/1.0.0`) for peer discovery. Default: on.
    pub enable_kad: bool,
    /// Use libp2p's in-process memory transport instead of TCP and QUIC. Listen addresses must
    /// then be `/memory/<port>` (`/memory/0` picks a free one). For in-process test harnesses.
    pub memory_transport: bool,
    /// Simulated one-way latency of every memory-transport link, in milliseconds: each end
    /// reads what the other wrote this long after it arrived. For harnesses that want the
    /// time a message takes to cross links, not only the peers' CPU work. Default: 0 (none).
    /// Only with `memory_transport`.
    pub memory_link_delay_ms: u64,
    /// Most established connections in total (inbound and outbound).
    pub max_established: u32,
    /// Most established connections to one peer. Keep it at 2 or more: two peers that dial each
    /// other at the same moment otherwise risk dropping both connections. With any part of NAT
    /// traversal on, at least [`NAT_CONNECTIONS_PER_PEER`] apply: a peer may be reached
    /// through two relays, then directly (DCUtR), and AutoNAT's dial-back is one more.
    pub max_established_per_peer: u32,
    /// Most connections still being negotiated (inbound and outbound each).
    pub max_pending: u32,
    /// Most inbound connections still being negotiated from one source (an IPv4 address or an
    /// IPv6 /64), so that one host cannot take all `max_pending` slots with handshakes it
    /// never finishes. Established connections do not count.
    pub max_pending_per_source: u32,
    /// Seconds a connection may take to be established (TCP or QUIC, then multistream, noise
    /// and yamux) before it is dropped, inbound and outbound.
    pub handshake_timeout_secs: u64,
    /// Refuse new connections once the process uses this fraction (0..=1) of the machine's
    /// physical memory. `None` disables the check.
    pub max_memory_fraction: Option<f64>,
    /// Close a connection after this many seconds without any protocol using it.
    pub idle_connection_timeout_secs: u64,
    /// Largest gossipsub frame in bytes; the largest payload is [`NetConfig::max_gossip_payload`].
    /// All nodes of a network must agree on it.
    pub max_transmit_size: usize,
    /// Gossipsub heartbeat, in milliseconds (mesh maintenance and gossip emission).
    pub gossip_heartbeat_ms: u64,
    /// Gossipsub mesh degree D (peers each topic's mesh aims for; low = 3/4 D, high = D).
    pub gossip_mesh_n: usize,
    /// Publish our own messages to every connected peer subscribed to the topic, not only to
    /// the mesh (gossipsub's flood publishing). Default: off.
    pub gossip_flood_publish: bool,
    /// How long, in seconds, a received message waits in the cache for
    /// `report_validation` before it can no longer be forwarded.
    pub gossip_validation_window_secs: u64,
    /// Time, in seconds, for a request to be answered before it fails on both sides.
    pub request_timeout_secs: u64,
    /// Limits of `/flashback/sync/1`.
    pub sync: ProtocolLimits,
    /// Limits of `/flashback/query/1`.
    pub query: ProtocolLimits,
    /// Limits of `/flashback/submit/1`.
    pub submit: ProtocolLimits,
    /// Sustained inbound requests per second allowed from one peer (all protocols together).
    pub inbound_requests_per_sec: f64,
    /// Inbound requests one peer may send in a burst above the sustained rate.
    pub inbound_request_burst: u32,
    /// Capacity of the event channel handed to the node. When it is full, events are dropped
    /// (see [`crate::NetEvent`]) rather than stalling the network.
    pub event_channel_capacity: usize,
    /// Capacity of the command channel shared by all [`crate::NetHandle`] clones.
    pub command_channel_capacity: usize,
    /// Interval, in seconds, between Kademlia bootstraps (random walks that refresh the routing
    /// table). Only runs when the routing table knows at least one peer.
    pub kad_bootstrap_interval_secs: u64,
    /// Emulated wide-area links, for testnets on one machine whose kernel lacks `netem`: per
    /// remote address prefix, the latency, jitter and loss this node adds to what it reads
    /// over TCP from such peers ([`LinkRule`]; QUIC and relayed connections are not shaped).
    /// Empty by default: real links need no help.
    pub links: Vec<LinkRule>,
    /// NAT traversal: AutoNAT, circuit relay v2 (server and client) and DCUtR hole punching.
    /// Every part is off by default.
    pub nat: NatConfig,
}

/// Fewest connections per peer allowed while NAT traversal is on
/// ([`NetConfig::max_established_per_peer`]).
pub const NAT_CONNECTIONS_PER_PEER: u32 = 5;

/// A full node's default port, for TCP and for QUIC (UDP).
pub const DEFAULT_PORT: u16 = 4077;

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            listen: vec![
                format!("/ip4/0.0.0.0/tcp/{DEFAULT_PORT}"),
                format!("/ip4/0.0.0.0/udp/{DEFAULT_PORT}/quic-v1"),
            ],
            bootstrap: Vec::new(),
            gossip: true,
            enable_mdns: false,
            enable_kad: true,
            memory_transport: false,
            memory_link_delay_ms: 0,
            max_established: 256,
            max_established_per_peer: 2,
            max_pending: 64,
            max_pending_per_source: 8,
            handshake_timeout_secs: 5,
            max_memory_fraction: Some(0.9),
            idle_connection_timeout_secs: 60,
            max_transmit_size: protocol::MAX_GOSSIP_FRAME_BYTES,
            gossip_heartbeat_ms: 1_000,
            gossip_mesh_n: 4,
            gossip_flood_publish: false,
            gossip_validation_window_secs: 10,
            request_timeout_secs: 30,
            // One default for all three protocols, so that a partial `[sync]` section in a TOML
            // file and a missing one mean the same thing.
            sync: ProtocolLimits::default(),
            query: ProtocolLimits::default(),
            submit: ProtocolLimits::default(),
            inbound_requests_per_sec: 50.0,
            inbound_request_burst: 100,
            event_channel_capacity: 1024,
            command_channel_capacity: 256,
            kad_bootstrap_interval_secs: 5 * 60,
            links: Vec::new(),
            nat: NatConfig::default(),
        }
    }
}

/// Bytes of a gossipsub frame that are not payload (protobuf framing and the topic name of an
/// anonymous message); generous, so that a payload we accept always fits in a frame.
const GOSSIP_FRAME_OVERHEAD: usize = 256;

// With the default frame size, the largest object of any kind can be published.
const _: () =
    assert!(Kind::MAX_OBJECT_BYTES <= protocol::MAX_GOSSIP_FRAME_BYTES - GOSSIP_FRAME_OVERHEAD);

impl NetConfig {
    /// A configuration for in-process networks: memory transport on a free `/memory` port, no
    /// TCP or QUIC.
    pub fn memory() -> Self {
        Self {
            listen: vec!["/memory/0".to_owned()],
            memory_transport: true,
            ..Self::default()
        }
    }

    /// Largest payload [`crate::NetHandle::publish`] accepts: `max_transmit_size` minus framing.
    pub fn max_gossip_payload(&self) -> usize {
        self.max_transmit_size.saturating_sub(GOSSIP_FRAME_OVERHEAD)
    }

    /// Size limits of one request-response protocol.
    pub fn limits(&self, protocol: Protocol) -> ProtocolLimits {
        match protocol {
            Protocol::Sync => self.sync,
            Protocol::Query => self.query,
            Protocol::Submit => self.submit,
        }
    }

    /// The per-peer connection limit in force (raised while NAT traversal is on).
    pub(crate) fn max_established_per_peer(&self) -> u32 {
        if self.nat.any() {
            self.max_established_per_peer.max(NAT_CONNECTIONS_PER_PEER)
        } else {
            self.max_established_per_peer
        }
    }

    pub(crate) fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.gossip_heartbeat_ms)
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// Checks what libp2p would otherwise panic or misbehave on.
    pub(crate) fn validate(&self) -> Result<(), crate::NetError> {
        let invalid = |field: &'static str, reason: &str| {
            Err(crate::NetError::InvalidConfig {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.event_channel_capacity == 0 {
            return invalid("event_channel_capacity", "must be at least 1");
        }
        if self.command_channel_capacity == 0 {
            return invalid("command_channel_capacity", "must be at least 1");
        }
        if self.gossip_heartbeat_ms == 0 {
            return invalid("gossip_heartbeat_ms", "must be at least 1");
        }
        if self.max_transmit_size < 2 * GOSSIP_FRAME_OVERHEAD {
            return invalid("max_transmit_size", "must be at least 512 bytes");
        }
        if self.request_timeout_secs == 0 {
            return invalid("request_timeout_secs", "must be at least 1");
        }
        if !(self.inbound_requests_per_sec.is_finite() && self.inbound_requests_per_sec > 0.0) {
            return invalid("inbound_requests_per_sec", "must be a positive number");
        }
        if self.inbound_request_burst == 0 {
            return invalid("inbound_request_burst", "must be at least 1");
        }
        if self.max_pending_per_source == 0 || self.max_pending == 0 {
            return invalid(
                "max_pending_per_source",
                "pending limits must be at least 1",
            );
        }
        if self.handshake_timeout_secs == 0 {
            return invalid("handshake_timeout_secs", "must be at least 1");
        }
        if self.max_established_per_peer == 0 || self.max_established == 0 {
            return invalid("max_established", "connection limits must be at least 1");
        }
        if self.memory_link_delay_ms > 0 && !self.memory_transport {
            return invalid(
                "memory_link_delay_ms",
                "only applies to the memory transport (memory_transport = true)",
            );
        }
        if let Err(reason) = crate::link_delay::LinkTable::new(&self.links) {
            return invalid("links", &reason);
        }
        if let Err((field, reason)) = self.nat.validate() {
            return invalid(field, &reason);
        }
        if let Some(fraction) = self.max_memory_fraction
            && !(fraction > 0.0 && fraction <= 1.0)
        {
            return invalid("max_memory_fraction", "must be in (0, 1], or unset");
        }
        for protocol in Protocol::ALL {
            let limits = self.limits(protocol);
            if limits.max_request_bytes == 0 || limits.max_response_bytes == 0 {
                return Err(crate::NetError::InvalidConfig {
                    field: protocol.name(),
                    reason: "size limits must be at least 1 byte".to_owned(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_round_trips_through_toml() {
        let config = NetConfig::default();
        config.validate().expect("default config is valid");
        let text = toml::to_string(&config).expect("serialize");
        let back: NetConfig = toml::from_str(&text).expect("deserialize");
        assert_eq!(back, config);
    }

    #[test]
    fn missing_fields_take_defaults() {
        let config: NetConfig =
            toml::from_str("enable_mdns = true\n[sync]\nmax_request_bytes = 10\n").expect("parse");
        assert!(config.enable_mdns);
        assert_eq!(config.sync.max_request_bytes, 10);
        assert_eq!(
            config.sync.max_response_bytes,
            ProtocolLimits::default().max_response_bytes
        );
        assert_eq!(config.listen, NetConfig::default().listen);
    }

    #[test]
    fn zero_capacity_is_rejected() {
        let config = NetConfig {
            event_channel_capacity: 0,
            ..NetConfig::default()
        };
        assert!(config.validate().is_err());
    }

    #[test]
    fn link_delay_needs_the_memory_transport() {
        let tcp = NetConfig {
            memory_link_delay_ms: 5,
            ..NetConfig::default()
        };
        let err = tcp.validate().expect_err("a delay on TCP is refused");
        assert!(err.to_string().contains("memory_link_delay_ms"), "{err}");
        let memory = NetConfig {
            memory_link_delay_ms: 5,
            ..NetConfig::memory()
        };
        assert!(memory.validate().is_ok());
    }
}
