//! [`NetBuilder`]: builds the swarm, starts the task that owns it, and hands back the
//! [`NetHandle`] and the event stream.

use std::{sync::Arc, time::Duration};

use futures::future::Either;
use libp2p::{
    Multiaddr, PeerId, SwarmBuilder, Transport,
    core::{transport::MemoryTransport, upgrade},
    identity::Keypair,
    metrics::{Metrics, Registry},
    multiaddr::Protocol as AddrProtocol,
    noise, tcp, yamux,
};
use tokio::sync::mpsc;

use crate::{
    GossipValidator, NetConfig, NetError, NetEvent,
    behaviour::Behaviour,
    event_loop::EventLoop,
    handle::NetHandle,
    link_delay::{Delayed, LinkShape, LinkTable},
    stats::Counters,
};

/// Starts the network: the one way to get a [`NetHandle`].
///
/// ```no_run
/// # async fn run(registry: &mut flashback_net::Registry) -> Result<(), flashback_net::NetError> {
/// use flashback_net::{Keypair, NetBuilder, NetConfig};
/// let (net, events) = NetBuilder::new(Keypair::generate_ed25519(), NetConfig::default())
///     .metrics(registry)
///     .spawn()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "nothing starts until `spawn` is called"]
pub struct NetBuilder<'a> {
    keypair: Keypair,
    config: NetConfig,
    registry: Option<&'a mut Registry>,
    gossip_validator: Option<Arc<dyn GossipValidator>>,
    #[cfg(feature = "bench")]
    signed_gossip: bool,
}

impl<'a> NetBuilder<'a> {
    /// A network with this identity and configuration, no metrics and no gossip validator:
    /// every gossip message is emitted as a [`NetEvent::Gossip`].
    pub fn new(keypair: Keypair, config: NetConfig) -> Self {
        Self {
            keypair,
            config,
            registry: None,
            gossip_validator: None,
            #[cfg(feature = "bench")]
            signed_gossip: false,
        }
    }

    /// Records libp2p's swarm, gossipsub, Kademlia, identify and ping metrics (prefix
    /// `libp2p_`) and our drop counters (prefix `flashback_net_`) into `registry`.
    pub fn metrics(mut self, registry: &'a mut Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Judges gossip on the swarm task as it arrives (see [`GossipValidator`]).
    pub fn gossip_validator(mut self, validator: Arc<dyn GossipValidator>) -> Self {
        self.gossip_validator = Some(validator);
        self
    }

    /// Runs gossipsub with its own message authentication, as libp2p ships it
    /// (`MessageAuthenticity::Signed`, `ValidationMode::Strict`): every message carries its
    /// publisher's peer id, a sequence number and a signature by the peer's key, and every
    /// peer checks that signature on every copy it receives, duplicates included, before
    /// gossipsub deduplicates. Flashback's protocol does not: its messages are unsigned and
    /// carry self-signed objects (docs/PROTOCOL.md), so a peer with this set cannot exchange
    /// gossip with a node. For the network bench's second baseline only (cargo feature
    /// `bench`); a node never sets it.
    #[cfg(feature = "bench")]
    pub fn signed_gossip(mut self) -> Self {
        self.signed_gossip = true;
        self
    }

    /// Binds the listeners (returning the first bind error), dials the bootstrap peers, starts
    /// a Kademlia bootstrap if there are any, and spawns the task that owns the swarm on the
    /// current tokio runtime.
    ///
    /// Returns the handle and the event stream. The task stops on [`NetHandle::shutdown`] or
    /// when every handle is dropped; the event stream then ends.
    pub async fn spawn(self) -> Result<(NetHandle, mpsc::Receiver<NetEvent>), NetError> {
        #[cfg(feature = "bench")]
        let signed_gossip = self.signed_gossip;
        #[cfg(not(feature = "bench"))]
        let signed_gossip = false;
        let Self {
            keypair,
            config,
            mut registry,
            gossip_validator,
            ..
        } = self;
        config.validate()?;
        let listen = config
            .listen
            .iter()
            .map(|addr| parse_multiaddr(addr))
            .collect::<Result<Vec<_>, _>>()?;
        let bootstrap = config
            .bootstrap
            .iter()
            .map(|addr| parse_bootstrap(addr))
            .collect::<Result<Vec<_>, _>>()?;

        let local_peer_id = keypair.public().to_peer_id();
        let behaviour = Behaviour::new(&keypair, &config, registry.as_deref_mut(), signed_gossip)?;
        let counters = Counters::default();
        let metrics = registry.map(|registry| {
            counters.register(registry);
            Metrics::new(registry)
        });
        let swarm = build_swarm(keypair, &config, behaviour)?;

        let (command_tx, command_rx) = mpsc::channel(config.command_channel_capacity);
        let (event_tx, event_rx) = mpsc::channel(config.event_channel_capacity);
        let counters = Arc::new(counters);
        let mut event_loop = EventLoop::new(
            swarm,
            command_rx,
            event_tx,
            config,
            metrics,
            Arc::clone(&counters),
            gossip_validator,
        );
        event_loop.start(listen, bootstrap).await?;
        tokio::spawn(event_loop.run());

        Ok((
            NetHandle::new(command_tx, local_peer_id, counters),
            event_rx,
        ))
    }
}

fn build_swarm(
    keypair: Keypair,
    config: &NetConfig,
    mut behaviour: Behaviour,
) -> Result<libp2p::Swarm<Behaviour>, NetError> {
    let idle = Duration::from_secs(config.idle_connection_timeout_secs);
    // Bounds each connection's upgrade (multistream, noise, yamux): a stalled handshake holds
    // its pending slot this long at most.
    let handshake = Duration::from_secs(config.handshake_timeout_secs);
    let boxed = |e: noise::Error| Box::new(e) as Box<dyn std::error::Error + Send + Sync>;
    let swarm = if config.memory_transport {
        SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_other_transport(|key| {
                let noise = noise::Config::new(key).map_err(boxed)?;
                let delay = Duration::from_millis(config.memory_link_delay_ms);
                Ok(MemoryTransport::default()
                    .map(move |channel, _| {
                        if delay.is_zero() {
                            Either::Left(channel)
                        } else {
                            Either::Right(Delayed::new(channel, LinkShape::delay(delay)))
                        }
                    })
                    .upgrade(upgrade::Version::V1)
                    .authenticate(noise)
                    .multiplex(yamux::Config::default()))
            })
            .map_err(|e| NetError::Transport(format!("memory transport: {e}")))?
            .with_behaviour(|_| behaviour)
            .map_err(|e| NetError::Transport(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .with_connection_timeout(handshake)
            .build()
    } else {
        let links = LinkTable::new(&config.links).map_err(|reason| NetError::InvalidConfig {
            field: "links",
            reason,
        })?;
        let relay_client = config.nat.relay_client;
        SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_quic()
            // TCP by hand rather than `with_tcp`, to shape emulated links (`NetConfig::links`)
            // below noise, as a real link would be.
            .with_other_transport(|key| {
                let noise = noise::Config::new(key).map_err(boxed)?;
                Ok(
                    tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
                        .map(move |stream, endpoint| {
                            match links.shape(endpoint.get_remote_address()) {
                                Some(shape) => Either::Right(Delayed::new(stream, shape)),
                                None => Either::Left(stream),
                            }
                        })
                        .upgrade(upgrade::Version::V1)
                        .authenticate(noise)
                        .multiplex(yamux::Config::default()),
                )
            })
            .map_err(|e| NetError::Transport(format!("tcp: {e}")))?
            .with_relay_client(noise::Config::new, yamux::Config::default)
            .map_err(|e| NetError::Transport(format!("relay client: {e}")))?
            .with_behaviour(|_, client| {
                behaviour.relay_client = relay_client.then_some(client).into();
                behaviour
            })
            .map_err(|e| NetError::Transport(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .with_connection_timeout(handshake)
            .build()
    };
    Ok(swarm)
}

fn parse_multiaddr(addr: &str) -> Result<Multiaddr, NetError> {
    addr.parse()
        .map_err(|e: libp2p::multiaddr::Error| NetError::InvalidMultiaddr {
            addr: addr.to_owned(),
            reason: e.to_string(),
        })
}

pub(crate) fn parse_bootstrap(addr: &str) -> Result<(PeerId, Multiaddr), NetError> {
    let multiaddr = parse_multiaddr(addr)?;
    match multiaddr.iter().last() {
        Some(AddrProtocol::P2p(peer)) => Ok((peer, multiaddr)),
        _ => Err(NetError::BootstrapWithoutPeerId {
            addr: addr.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_needs_peer_id() {
        let peer = PeerId::random();
        let (got, _) = parse_bootstrap(&format!("/ip4/127.0.0.1/tcp/1/p2p/{peer}")).expect("valid");
        assert_eq!(got, peer);
        assert!(matches!(
            parse_bootstrap("/ip4/127.0.0.1/tcp/1"),
            Err(NetError::BootstrapWithoutPeerId { .. })
        ));
        assert!(matches!(
            parse_bootstrap("not an address"),
            Err(NetError::InvalidMultiaddr { .. })
        ));
    }
}
