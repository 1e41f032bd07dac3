//! [`RelayServer`]: libp2p's circuit relay v2 server, minus one way to panic.
//!
//! libp2p-relay 0.22's server (`relay::Behaviour`) gives relayed connections a dummy handler
//! (it relays nothing over a relay), yet when its status changes (it starts or stops serving
//! as its confirmed external addresses come and go) it tells *every* connection it knows,
//! relayed ones included. libp2p-swarm's `Either` handler then meets a message for the other
//! side and hits `unreachable!()`: the connection's task panics and the connection is lost.
//! A reachable node that dialled a peer behind NAT through a relay before AutoNAT confirmed
//! its own address does exactly that (seen in the testnet's nat scenario). This wrapper drops
//! what the server addresses to relayed connections; nothing else changes.

use std::collections::HashSet;
use std::task::{Context, Poll};

use libp2p::{
    Multiaddr, PeerId,
    core::{Endpoint, transport::PortUse},
    relay,
    swarm::{
        ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, NotifyHandler, THandler,
        THandlerInEvent, THandlerOutEvent, ToSwarm,
    },
};

/// `relay::Behaviour` that never notifies a relayed connection's (dummy) handler.
pub(crate) struct RelayServer {
    inner: relay::Behaviour,
    /// Open relayed connections (bounded by the connection limits).
    relayed: HashSet<ConnectionId>,
}

impl RelayServer {
    pub(crate) fn new(inner: relay::Behaviour) -> Self {
        Self {
            inner,
            relayed: HashSet::new(),
        }
    }
}

impl NetworkBehaviour for RelayServer {
    type ConnectionHandler = <relay::Behaviour as NetworkBehaviour>::ConnectionHandler;
    type ToSwarm = relay::Event;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.inner.handle_established_inbound_connection(
            connection_id,
            peer,
            local_addr,
            remote_addr,
        )
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(
            connection_id,
            maybe_peer,
            addresses,
            effective_role,
        )
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.inner.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )
    }

    fn on_swarm_event(&mut self, event: FromSwarm<'_>) {
        // Known before the server hears of the connection, forgotten after.
        match &event {
            FromSwarm::ConnectionEstablished(e) if e.endpoint.is_relayed() => {
                self.relayed.insert(e.connection_id);
            }
            FromSwarm::ConnectionClosed(e) => {
                self.relayed.remove(&e.connection_id);
            }
            _ => {}
        }
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner
            .on_connection_handler_event(peer_id, connection_id, event);
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<relay::Event, THandlerInEvent<Self>>> {
        loop {
            match self.inner.poll(cx) {
                Poll::Ready(ToSwarm::NotifyHandler {
                    handler: NotifyHandler::One(id),
                    peer_id,
                    ..
                }) if self.relayed.contains(&id) => {
                    tracing::debug!(%peer_id, "relay server: nothing to tell a relayed connection");
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use libp2p::core::ConnectedPoint;
    use libp2p::multiaddr::Protocol;
    use libp2p::swarm::behaviour::{ConnectionEstablished, ExternalAddrConfirmed};

    use super::*;

    fn established(
        server: &mut RelayServer,
        id: usize,
        address: Multiaddr,
    ) -> (PeerId, ConnectionId) {
        let (peer, connection_id) = (PeerId::random(), ConnectionId::new_unchecked(id));
        let endpoint = ConnectedPoint::Dialer {
            address,
            role_override: Endpoint::Dialer,
            port_use: PortUse::Reuse,
        };
        server.on_swarm_event(FromSwarm::ConnectionEstablished(ConnectionEstablished {
            peer_id: peer,
            connection_id,
            endpoint: &endpoint,
            failed_addresses: &[],
            other_established: 0,
        }));
        (peer, connection_id)
    }

    /// What the server asks of connection handlers, until it has nothing more to say.
    fn notified(server: &mut RelayServer) -> Vec<ConnectionId> {
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        let mut ids = Vec::new();
        while let Poll::Ready(action) = server.poll(&mut cx) {
            if let ToSwarm::NotifyHandler {
                handler: NotifyHandler::One(id),
                ..
            } = action
            {
                ids.push(id);
            }
        }
        ids
    }

    #[test]
    fn a_status_change_reaches_direct_connections_only() {
        let local = PeerId::random();
        let mut server = RelayServer::new(relay::Behaviour::new(local, relay::Config::default()));
        let direct: Multiaddr = "/ip4/10.0.0.2/tcp/4077".parse().expect("addr");
        let relayed = direct
            .clone()
            .with(Protocol::P2p(PeerId::random()))
            .with(Protocol::P2pCircuit);
        let (_, direct_id) = established(&mut server, 1, direct);
        let (_, relayed_id) = established(&mut server, 2, relayed);
        assert!(notified(&mut server).is_empty());

        // A confirmed external address turns serving on: the server tells its connections.
        let external: Multiaddr = "/ip4/203.0.113.9/tcp/4077".parse().expect("addr");
        server.on_swarm_event(FromSwarm::ExternalAddrConfirmed(ExternalAddrConfirmed {
            addr: &external,
        }));
        let told = notified(&mut server);
        assert_eq!(told, [direct_id], "relayed connection {relayed_id:?} told");
    }
}
