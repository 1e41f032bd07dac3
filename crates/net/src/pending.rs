//! [`PendingPerSource`]: at most a few connections still in their handshake per source
//! address, so that one source cannot take every pending-connection slot.
//!
//! libp2p's `connection_limits` caps pending connections in total. A single host that opens
//! TCP connections, sends the first multistream line and then stalls would fill that pool and
//! keep every honest dialer out (each stall holds its slot until the handshake timeout). This
//! gatekeeper counts, per source, only the inbound connections not yet established: an honest
//! client's handshake takes milliseconds and then leaves the count, so many clients behind one
//! address (a NAT, or every test on loopback) still get in, while a staller is held to a few
//! slots. Established connections are limited elsewhere (`max_established`, per peer).
//!
//! A source is an IPv4 address, or an IPv6 /64 (what one host is usually given). Connections
//! without an IP (the memory transport) are not counted.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

use libp2p::{
    Multiaddr, PeerId,
    core::{Endpoint, multiaddr::Protocol, transport::PortUse},
    swarm::{
        ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
        THandlerOutEvent, ToSwarm,
        behaviour::{ConnectionEstablished, ListenFailure},
        dummy,
    },
};

/// Where a connection comes from, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    V4([u8; 4]),
    /// The first 64 bits.
    V6([u8; 8]),
}

fn source(addr: &Multiaddr) -> Option<Source> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(Source::V4(ip.octets())),
        Protocol::Ip6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => Some(Source::V4(v4.octets())),
            None => {
                let mut prefix = [0u8; 8];
                prefix.copy_from_slice(&ip.octets()[..8]);
                Some(Source::V6(prefix))
            }
        },
        _ => None,
    })
}

/// The refusal, as the swarm reports it (`ListenFailure`).
#[derive(Debug, thiserror::Error)]
#[error("{from} already has {limit} connections in their handshake")]
pub(crate) struct TooManyPending {
    from: IpAddr,
    limit: u32,
}

/// The gatekeeper (see the module docs).
pub(crate) struct PendingPerSource {
    limit: u32,
    pending: HashMap<ConnectionId, Source>,
    per_source: HashMap<Source, u32>,
}

impl PendingPerSource {
    /// At most `limit` inbound connections in their handshake per source.
    pub(crate) fn new(limit: u32) -> Self {
        Self {
            limit,
            pending: HashMap::new(),
            per_source: HashMap::new(),
        }
    }

    fn done(&mut self, connection_id: ConnectionId) {
        if let Some(source) = self.pending.remove(&connection_id)
            && let Some(n) = self.per_source.get_mut(&source)
        {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&source);
            }
        }
    }
}

impl NetworkBehaviour for PendingPerSource {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(src) = source(remote_addr) else {
            return Ok(());
        };
        let n = self.per_source.entry(src).or_insert(0);
        if *n >= self.limit {
            let ip = match src {
                Source::V4(o) => IpAddr::from(o),
                Source::V6(p) => {
                    let mut o = [0u8; 16];
                    o[..8].copy_from_slice(&p);
                    IpAddr::from(o)
                }
            };
            tracing::debug!(source = %ip, limit = self.limit, "inbound connection refused: too many in their handshake");
            return Err(ConnectionDenied::new(TooManyPending {
                from: ip,
                limit: self.limit,
            }));
        }
        *n += 1;
        self.pending.insert(connection_id, src);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _peer: PeerId,
        _local_addr: &Multiaddr,
        _remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.done(connection_id);
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm<'_>) {
        match event {
            FromSwarm::ListenFailure(ListenFailure { connection_id, .. })
            | FromSwarm::ConnectionEstablished(ConnectionEstablished { connection_id, .. }) => {
                self.done(connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_addresses_and_ipv6_prefixes() {
        let a: Multiaddr = "/ip4/10.1.2.3/tcp/1".parse().expect("addr");
        let b: Multiaddr = "/ip4/10.1.2.3/tcp/2".parse().expect("addr");
        let c: Multiaddr = "/ip4/10.1.2.4/tcp/1".parse().expect("addr");
        assert_eq!(source(&a), source(&b));
        assert_ne!(source(&a), source(&c));
        let d: Multiaddr = "/ip6/2001:db8:1:2::1/tcp/1".parse().expect("addr");
        let e: Multiaddr = "/ip6/2001:db8:1:2:ffff::9/tcp/1".parse().expect("addr");
        let f: Multiaddr = "/ip6/2001:db8:1:3::1/tcp/1".parse().expect("addr");
        assert_eq!(source(&d), source(&e));
        assert_ne!(source(&d), source(&f));
        let mem: Multiaddr = "/memory/5".parse().expect("addr");
        assert_eq!(source(&mem), None);
    }

    #[test]
    fn a_source_gets_limit_slots_and_frees_them_when_done() {
        let mut gate = PendingPerSource::new(2);
        let local: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().expect("addr");
        let from = |port: u16| -> Multiaddr {
            format!("/ip4/127.0.0.2/tcp/{port}").parse().expect("addr")
        };
        let (a, b, c) = (
            ConnectionId::new_unchecked(1),
            ConnectionId::new_unchecked(2),
            ConnectionId::new_unchecked(3),
        );
        assert!(
            gate.handle_pending_inbound_connection(a, &local, &from(1))
                .is_ok()
        );
        assert!(
            gate.handle_pending_inbound_connection(b, &local, &from(2))
                .is_ok()
        );
        assert!(
            gate.handle_pending_inbound_connection(c, &local, &from(3))
                .is_err()
        );
        let other: Multiaddr = "/ip4/127.0.0.1/tcp/9".parse().expect("addr");
        assert!(
            gate.handle_pending_inbound_connection(c, &local, &other)
                .is_ok()
        );
        gate.done(a);
        assert!(
            gate.handle_pending_inbound_connection(
                ConnectionId::new_unchecked(4),
                &local,
                &from(4)
            )
            .is_ok()
        );
    }
}
