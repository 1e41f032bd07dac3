//! NAT traversal: [`NatConfig`] and the three optional behaviours it turns on.
//!
//! - **AutoNAT** (v1, `/libp2p/autonat/1.0.0`): the node asks connected peers to dial it back
//!   on its listen and observed addresses, and learns whether it is reachable (public) or not
//!   (private); it answers such requests for others too. A confirmed address becomes the
//!   node's external address, which the relay server needs before it advertises itself.
//! - **Circuit relay v2**: a reachable node with `relay_server` lets unreachable ones reserve a
//!   slot and be dialled through it (`/p2p/<relay>/p2p-circuit/p2p/<node>`); a node with
//!   `relay_client` listens through relays (the configured ones, or, once AutoNAT says it is
//!   private, connected peers that serve the hop protocol) and dials relayed addresses.
//! - **DCUtR**: over a relayed connection the two peers exchange their observed addresses and
//!   dial each other at the same moment (TCP simultaneous open with port reuse, or QUIC), to
//!   replace the relayed connection with a direct one.
//!
//! How a node picks relays is recorded in docs/decisions (NAT traversal).

mod relay_server;

pub(crate) use relay_server::RelayServer;

use std::num::NonZeroU32;
use std::time::Duration;

use libp2p::{PeerId, autonat, dcutr, relay};
use serde::{Deserialize, Serialize};

/// NAT traversal settings ([`crate::NetConfig::nat`]). Every part is off by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatConfig {
    /// Learn whether this node is reachable by asking peers to dial it back (AutoNAT v1), and
    /// answer such requests from peers.
    pub autonat: bool,
    /// Seconds between AutoNAT probes while the answer is unsure (then ten times longer once
    /// it is sure); the first probe comes after at most 5 s.
    pub autonat_interval_secs: u64,
    /// Let peers at private addresses (10/8, 172.16/12, 192.168/16, …) serve AutoNAT probes
    /// and be served. Off by default: on the internet such an address says nothing about
    /// reachability. Testnets on one machine, whose every address is private, turn it on.
    pub autonat_private_addresses: bool,
    /// Serve circuit relay v2: unreachable peers reserve a slot here and are dialled through
    /// this node. Advertised (identify) only once the node has a confirmed external address.
    pub relay_server: bool,
    /// Longest life of one relayed circuit served, seconds.
    pub relay_max_circuit_secs: u64,
    /// Most bytes one relayed circuit served may carry (both directions together).
    pub relay_max_circuit_bytes: u64,
    /// Use relays: listen through them when not reachable, and dial relayed addresses.
    pub relay_client: bool,
    /// Relays to listen through from the start, as multiaddrs ending in `/p2p/<peer id>`.
    /// Empty: once AutoNAT says this node is private, it picks up to `max_relays` connected
    /// peers that serve the relay protocol.
    pub relays: Vec<String>,
    /// Most relays picked automatically.
    pub max_relays: usize,
    /// Replace relayed connections by direct ones through hole punching (DCUtR).
    pub dcutr: bool,
}

impl Default for NatConfig {
    fn default() -> Self {
        let relay = relay::Config::default();
        Self {
            autonat: false,
            autonat_interval_secs: 30,
            autonat_private_addresses: false,
            relay_server: false,
            relay_max_circuit_secs: relay.max_circuit_duration.as_secs(),
            relay_max_circuit_bytes: relay.max_circuit_bytes,
            relay_client: false,
            relays: Vec::new(),
            max_relays: 2,
            dcutr: false,
        }
    }
}

impl NatConfig {
    /// Every part on, as a node behind a home router would run: AutoNAT, relay client and
    /// DCUtR (serving as a relay is for reachable nodes).
    pub fn behind_nat() -> Self {
        Self {
            autonat: true,
            relay_client: true,
            dcutr: true,
            ..Self::default()
        }
    }

    /// Whether any part is on.
    pub(crate) fn any(&self) -> bool {
        self.autonat || self.relay_server || self.relay_client || self.dcutr
    }

    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.autonat && self.autonat_interval_secs == 0 {
            return Err(("nat.autonat_interval_secs", "must be at least 1".into()));
        }
        if self.relay_server
            && (self.relay_max_circuit_secs == 0 || self.relay_max_circuit_bytes == 0)
        {
            return Err((
                "nat.relay_max_circuit_secs",
                "relayed circuits need a life and a byte allowance of at least 1".into(),
            ));
        }
        if self.relay_max_circuit_secs > u64::from(u32::MAX) {
            return Err(("nat.relay_max_circuit_secs", "at most 4294967295".into()));
        }
        if !self.relays.is_empty() && !self.relay_client {
            return Err((
                "nat.relays",
                "relays are only used with nat.relay_client = true".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn autonat(&self, local: PeerId) -> Option<autonat::Behaviour> {
        self.autonat.then(|| {
            let interval = Duration::from_secs(self.autonat_interval_secs.max(1));
            autonat::Behaviour::new(
                local,
                autonat::Config {
                    boot_delay: interval.min(Duration::from_secs(5)),
                    retry_interval: interval,
                    refresh_interval: interval * 10,
                    // Our peers are few and known: asking the same one again soon is fine.
                    throttle_server_period: interval,
                    only_global_ips: !self.autonat_private_addresses,
                    ..autonat::Config::default()
                },
            )
        })
    }

    pub(crate) fn relay_server(&self, local: PeerId) -> Option<RelayServer> {
        self.relay_server.then(|| {
            let mut config = relay::Config {
                max_circuit_duration: Duration::from_secs(self.relay_max_circuit_secs),
                max_circuit_bytes: self.relay_max_circuit_bytes,
                ..relay::Config::default()
            };
            // Several unreachable nodes behind one router share its address: the default
            // per-IP limit (one reservation a minute) would serve only the first.
            if let Some(many) = NonZeroU32::new(600) {
                config = config.reservation_rate_per_ip(many, Duration::from_secs(60));
                config = config.circuit_src_per_ip(many, Duration::from_secs(60));
            }
            RelayServer::new(relay::Behaviour::new(local, config))
        })
    }

    pub(crate) fn dcutr(&self, local: PeerId) -> Option<dcutr::Behaviour> {
        self.dcutr.then(|| dcutr::Behaviour::new(local))
    }
}

/// What AutoNAT says of this node, as exported in the `flashback_net_reachability` gauge.
pub(crate) fn reachability_code(status: &autonat::NatStatus) -> i64 {
    match status {
        autonat::NatStatus::Unknown => 0,
        autonat::NatStatus::Public(_) => 1,
        autonat::NatStatus::Private => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_off_and_valid() {
        let config = NatConfig::default();
        assert!(!config.autonat && !config.relay_client && !config.relay_server && !config.dcutr);
        config.validate().expect("default is valid");
        NatConfig::behind_nat().validate().expect("valid");
    }

    #[test]
    fn relays_without_the_client_are_refused() {
        let config = NatConfig {
            relays: vec!["/ip4/10.0.0.1/tcp/1".into()],
            ..NatConfig::default()
        };
        let (field, _) = config.validate().expect_err("refused");
        assert_eq!(field, "nat.relays");
    }
}
