//! What the network layer dropped to protect itself: counted by the event loop, read through
//! [`crate::NetHandle::stats`], and exported to Prometheus when the builder is given a registry.

use libp2p::metrics::Registry;
use prometheus_client::metrics::{counter::Counter, gauge::Gauge};

/// The live counters, shared by the event loop and every handle.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub(crate) gossip_dropped: Counter,
    pub(crate) requests_rate_limited: Counter,
    pub(crate) requests_dropped: Counter,
    pub(crate) events_dropped: Counter,
    pub(crate) connections_direct: Counter,
    pub(crate) connections_relayed: Counter,
    pub(crate) relay_reservations: Counter,
    pub(crate) hole_punches_succeeded: Counter,
    pub(crate) hole_punches_failed: Counter,
    pub(crate) direct_after_relay: Counter,
    pub(crate) reachability: Gauge,
}

impl Counters {
    pub(crate) fn register(&self, registry: &mut Registry) {
        let registry = registry.sub_registry_with_prefix("flashback_net");
        registry.register(
            "gossip_dropped",
            "Gossip messages dropped (and ignored) because the node's event queue was full",
            self.gossip_dropped.clone(),
        );
        registry.register(
            "inbound_requests_rate_limited",
            "Inbound requests dropped because the peer exceeded its request rate",
            self.requests_rate_limited.clone(),
        );
        registry.register(
            "inbound_requests_dropped",
            "Inbound requests dropped because the node's event queue was full",
            self.requests_dropped.clone(),
        );
        registry.register(
            "events_dropped",
            "Connection and listen events dropped because the node's event queue was full",
            self.events_dropped.clone(),
        );
        registry.register(
            "connections_direct",
            "Connections established directly (TCP, QUIC or memory), both directions",
            self.connections_direct.clone(),
        );
        registry.register(
            "connections_relayed",
            "Connections established through a circuit relay, both directions",
            self.connections_relayed.clone(),
        );
        registry.register(
            "relay_reservations",
            "Reservations accepted by relays this node listens through",
            self.relay_reservations.clone(),
        );
        registry.register(
            "hole_punches_succeeded",
            "Relayed connections upgraded to direct ones by DCUtR",
            self.hole_punches_succeeded.clone(),
        );
        registry.register(
            "hole_punches_failed",
            "DCUtR hole punches that failed (the relayed connection stays)",
            self.hole_punches_failed.clone(),
        );
        registry.register(
            "direct_after_relay",
            "Peers reached through a relay that were then connected directly too (by hole punch or dial)",
            self.direct_after_relay.clone(),
        );
        registry.register(
            "reachability",
            "What AutoNAT says of this node: 0 unknown (or AutoNAT off), 1 public, 2 private",
            self.reachability.clone(),
        );
    }

    /// A snapshot.
    pub(crate) fn snapshot(&self) -> NetStats {
        NetStats {
            gossip_dropped: self.gossip_dropped.get(),
            inbound_requests_rate_limited: self.requests_rate_limited.get(),
            inbound_requests_dropped: self.requests_dropped.get(),
            events_dropped: self.events_dropped.get(),
            connections_direct: self.connections_direct.get(),
            connections_relayed: self.connections_relayed.get(),
            relay_reservations: self.relay_reservations.get(),
            hole_punches_succeeded: self.hole_punches_succeeded.get(),
            hole_punches_failed: self.hole_punches_failed.get(),
            direct_after_relay: self.direct_after_relay.get(),
            reachability: match self.reachability.get() {
                1 => Reachability::Public,
                2 => Reachability::Private,
                _ => Reachability::Unknown,
            },
        }
    }
}

/// A snapshot of [`crate::NetHandle::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NetStats {
    /// Gossip messages dropped because the event channel was full; each was reported to
    /// gossipsub as [`crate::Validation::Ignore`].
    pub gossip_dropped: u64,
    /// Inbound requests dropped because the peer exceeded `inbound_requests_per_sec`.
    pub inbound_requests_rate_limited: u64,
    /// Inbound requests dropped because the event channel was full.
    pub inbound_requests_dropped: u64,
    /// Other events (connections, listen addresses) dropped because the event channel was full.
    pub events_dropped: u64,
    /// Connections established directly.
    pub connections_direct: u64,
    /// Connections established through a circuit relay.
    pub connections_relayed: u64,
    /// Reservations accepted by the relays this node listens through.
    pub relay_reservations: u64,
    /// Relayed connections upgraded to direct ones by hole punching.
    pub hole_punches_succeeded: u64,
    /// Hole punches that failed.
    pub hole_punches_failed: u64,
    /// Peers reached through a relay that were then connected directly too.
    pub direct_after_relay: u64,
    /// What AutoNAT says of this node.
    pub reachability: Reachability,
}

/// Whether peers can dial this node, as AutoNAT last found ([`crate::NatConfig::autonat`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reachability {
    /// Not known yet, or AutoNAT is off.
    #[default]
    Unknown,
    /// Peers dialled this node back.
    Public,
    /// Peers could not dial this node back: it is behind NAT or a firewall.
    Private,
}
