//! NAT traversal on the swarm task: AutoNAT's verdicts, listening through relays (and picking
//! them), and what relays and hole punches report. See [`crate::NatConfig`].

use std::collections::HashMap;

use libp2p::{
    Multiaddr, PeerId, StreamProtocol, autonat,
    core::{ConnectedPoint, transport::ListenerId},
    dcutr,
    multiaddr::Protocol as AddrProtocol,
    relay,
};
use tracing::{debug, info, warn};

use super::{EventLoop, is_unspecified};
use crate::NetError;

/// Relay-capable peers remembered as candidates, at most.
const MAX_CANDIDATES: usize = 16;

/// What the event loop keeps for NAT traversal.
#[derive(Debug, Default)]
pub(super) struct NatState {
    /// Listeners through relays, and the relay each goes through.
    relay_listeners: HashMap<ListenerId, PeerId>,
    /// Peers that serve the relay hop protocol, with an address to reach them, in the order
    /// they were identified (bootstrap peers first).
    candidates: Vec<(PeerId, Multiaddr)>,
    /// The relays the configuration names.
    configured: Vec<(PeerId, Multiaddr)>,
    /// AutoNAT's last verdict was "private".
    private: bool,
    /// Open connections per peer, (direct, relayed); bounded by the connection limits.
    open: HashMap<PeerId, (u32, u32)>,
}

impl EventLoop {
    /// Listens through the relays the configuration names (at start).
    pub(super) fn listen_via_configured_relays(&mut self) -> Result<(), NetError> {
        if !self.config.nat.relay_client {
            return Ok(());
        }
        for text in self.config.nat.relays.clone() {
            let (peer, addr) = crate::builder::parse_bootstrap(&text)?;
            self.remember_address(peer, addr.clone());
            self.nat.configured.push((peer, addr.clone()));
            // Refused while the relay does not serve yet (it waits for a confirmed external
            // address); tried again when its identify says it serves.
            self.listen_via(peer, addr);
        }
        Ok(())
    }

    fn listen_via(&mut self, relay: PeerId, addr: Multiaddr) {
        if self.nat.relay_listeners.values().any(|r| *r == relay) {
            return;
        }
        let mut circuit = addr;
        if !matches!(circuit.iter().last(), Some(AddrProtocol::P2p(_))) {
            circuit.push(AddrProtocol::P2p(relay));
        }
        circuit.push(AddrProtocol::P2pCircuit);
        match self.swarm.listen_on(circuit.clone()) {
            Ok(id) => {
                info!(%relay, %circuit, "listening through a relay");
                self.nat.relay_listeners.insert(id, relay);
            }
            Err(e) => warn!(%circuit, error = %e, "cannot listen through a relay"),
        }
    }

    /// Once AutoNAT says we are private, listens through relay-capable peers, up to
    /// `max_relays`, unless the configuration names the relays.
    fn pick_relays(&mut self) {
        let nat = &self.config.nat;
        if !nat.relay_client || !nat.relays.is_empty() || !self.nat.private {
            return;
        }
        let wanted = nat
            .max_relays
            .saturating_sub(self.nat.relay_listeners.len());
        let picks: Vec<(PeerId, Multiaddr)> = self
            .nat
            .candidates
            .iter()
            .filter(|(peer, _)| !self.nat.relay_listeners.values().any(|r| r == peer))
            .take(wanted)
            .cloned()
            .collect();
        for (peer, addr) in picks {
            self.listen_via(peer, addr);
        }
    }

    /// Remembers a peer that serves the relay protocol (from identify), and listens through it
    /// if it is a configured relay we do not listen through yet.
    pub(super) fn note_relay_candidate(
        &mut self,
        peer: PeerId,
        protocols: &[StreamProtocol],
        listen_addrs: &[Multiaddr],
    ) {
        if !protocols.contains(&relay::HOP_PROTOCOL_NAME) {
            return;
        }
        if let Some((_, addr)) = self.nat.configured.iter().find(|(p, _)| *p == peer) {
            let addr = addr.clone();
            self.listen_via(peer, addr);
            return;
        }
        if self.nat.candidates.iter().any(|(p, _)| *p == peer)
            || self.nat.candidates.len() >= MAX_CANDIDATES
        {
            return;
        }
        let Some(addr) = listen_addrs.iter().find(|a| {
            !is_unspecified(a)
                && !a
                    .iter()
                    .any(|p| matches!(p, AddrProtocol::P2pCircuit | AddrProtocol::Memory(_)))
        }) else {
            return;
        };
        debug!(%peer, %addr, "relay candidate");
        self.nat.candidates.push((peer, addr.clone()));
        self.pick_relays();
    }

    /// A listener closed: when it went through a relay, picks another.
    pub(super) fn on_listener_closed(&mut self, id: ListenerId) {
        if let Some(relay) = self.nat.relay_listeners.remove(&id) {
            info!(%relay, "no longer listening through this relay");
            self.nat.candidates.retain(|(p, _)| *p != relay);
            self.pick_relays();
        }
    }

    /// Counts a new connection as direct or relayed; relayed ones are logged, as the first
    /// half of a traversal, and so is a direct one to a peer reached through a relay (however
    /// it came: a hole punch, or a dial by either side), the second half.
    pub(super) fn on_connection(&mut self, peer: PeerId, endpoint: &ConnectedPoint) {
        let open = self.nat.open.entry(peer).or_default();
        if endpoint.is_relayed() {
            open.1 += 1;
            self.counters.connections_relayed.inc();
            info!(%peer, addr = %endpoint.get_remote_address(), "connected through a relay");
        } else {
            open.0 += 1;
            self.counters.connections_direct.inc();
            if open.0 == 1 && open.1 > 0 {
                self.counters.direct_after_relay.inc();
                info!(%peer, addr = %endpoint.get_remote_address(), "now connected directly to a peer reached through a relay");
            }
        }
    }

    pub(super) fn on_connection_closed(&mut self, peer: PeerId, endpoint: &ConnectedPoint) {
        if let Some(open) = self.nat.open.get_mut(&peer) {
            if endpoint.is_relayed() {
                open.1 = open.1.saturating_sub(1);
            } else {
                open.0 = open.0.saturating_sub(1);
            }
            if *open == (0, 0) {
                self.nat.open.remove(&peer);
            }
        }
    }

    pub(super) fn on_autonat(&mut self, event: autonat::Event) {
        match event {
            autonat::Event::StatusChanged { old, new } => {
                info!(?old, ?new, "reachability changed (AutoNAT)");
                self.counters
                    .reachability
                    .set(crate::nat::reachability_code(&new));
                self.nat.private = new == autonat::NatStatus::Private;
                self.pick_relays();
            }
            autonat::Event::OutboundProbe(event) => debug!(?event, "AutoNAT probe"),
            autonat::Event::InboundProbe(event) => debug!(?event, "AutoNAT dial-back request"),
        }
    }

    pub(super) fn on_relay_server(&mut self, event: relay::Event) {
        if let Some(metrics) = &self.metrics {
            libp2p::metrics::Recorder::record(metrics, &event);
        }
        match event {
            relay::Event::ReservationReqAccepted { src_peer_id, .. } => {
                info!(peer = %src_peer_id, "relay: reservation accepted");
            }
            relay::Event::CircuitReqAccepted {
                src_peer_id,
                dst_peer_id,
            } => info!(src = %src_peer_id, dst = %dst_peer_id, "relay: circuit opened"),
            other => debug!(event = ?other, "relay"),
        }
    }

    pub(super) fn on_relay_client(&mut self, event: relay::client::Event) {
        match event {
            relay::client::Event::ReservationReqAccepted {
                relay_peer_id,
                renewal,
                ..
            } => {
                if !renewal {
                    self.counters.relay_reservations.inc();
                }
                info!(relay = %relay_peer_id, renewal, "relay reservation accepted");
            }
            relay::client::Event::OutboundCircuitEstablished { relay_peer_id, .. } => {
                info!(relay = %relay_peer_id, "dialled a peer through a relay");
            }
            relay::client::Event::InboundCircuitEstablished { src_peer_id, .. } => {
                info!(peer = %src_peer_id, "a peer reached us through a relay");
            }
        }
    }

    pub(super) fn on_dcutr(&mut self, event: dcutr::Event) {
        if let Some(metrics) = &self.metrics {
            libp2p::metrics::Recorder::record(metrics, &event);
        }
        match event.result {
            Ok(connection) => {
                self.counters.hole_punches_succeeded.inc();
                info!(peer = %event.remote_peer_id, ?connection, "hole punch succeeded: direct connection");
            }
            Err(error) => {
                self.counters.hole_punches_failed.inc();
                info!(peer = %event.remote_peer_id, %error, "hole punch failed: the relayed connection stays");
            }
        }
    }
}
