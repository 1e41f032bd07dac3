//! What the network layer dropped to protect itself: counted by the event loop, read through
//! [`crate::NetHandle::stats`], and exported to Prometheus when the builder is given a registry.

use libp2p::metrics::Registry;
use prometheus_client::metrics::counter::Counter;

/// The live counters, shared by the event loop and every handle.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub(crate) gossip_dropped: Counter,
    pub(crate) requests_rate_limited: Counter,
    pub(crate) requests_dropped: Counter,
    pub(crate) events_dropped: Counter,
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
    }

    /// A snapshot.
    pub(crate) fn snapshot(&self) -> NetStats {
        NetStats {
            gossip_dropped: self.gossip_dropped.get(),
            inbound_requests_rate_limited: self.requests_rate_limited.get(),
            inbound_requests_dropped: self.requests_dropped.get(),
            events_dropped: self.events_dropped.get(),
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
}
