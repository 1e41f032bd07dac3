//! [`spawn`] and the [`NetHandle`] the rest of the node uses to drive the network.

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
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{mpsc, oneshot};

use crate::{
    GossipValidator, MessageId32, NetConfig, NetError, NetEvent, Protocol, ResponseToken,
    Validation, behaviour::Behaviour, event_loop::EventLoop, link_delay::Delayed,
};

/// Requests from handles to the network task. Each carries its reply channel.
#[derive(Debug)]
pub(crate) enum Command {
    Publish {
        topic: String,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<MessageId32, NetError>>,
    },
    ReportValidation {
        msg_id: MessageId32,
        source: PeerId,
        result: Validation,
        reply: oneshot::Sender<bool>,
    },
    ReportValidations {
        verdicts: Vec<(MessageId32, PeerId, Validation)>,
    },
    Request {
        peer: PeerId,
        protocol: Protocol,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
    },
    Respond {
        token: ResponseToken,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    AddPeerAddress {
        peer: PeerId,
        addr: Multiaddr,
        reply: oneshot::Sender<()>,
    },
    ConnectedPeers {
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    MeshPeers {
        topic: String,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    PeerScore {
        peer: PeerId,
        reply: oneshot::Sender<Option<f64>>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    Block {
        peer: PeerId,
        blocked: bool,
        reply: oneshot::Sender<()>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// Counters of what the network layer dropped to protect itself; also exported to Prometheus
/// when a registry is given to [`spawn_with_metrics`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub(crate) gossip_dropped: Counter,
    pub(crate) requests_rate_limited: Counter,
    pub(crate) requests_dropped: Counter,
    pub(crate) events_dropped: Counter,
}

impl Counters {
    fn register(&self, registry: &mut Registry) {
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
}

/// A snapshot of [`NetHandle::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NetStats {
    /// Gossip messages dropped because the event channel was full; each was reported to
    /// gossipsub as [`Validation::Ignore`].
    pub gossip_dropped: u64,
    /// Inbound requests dropped because the peer exceeded `inbound_requests_per_sec`.
    pub inbound_requests_rate_limited: u64,
    /// Inbound requests dropped because the event channel was full.
    pub inbound_requests_dropped: u64,
    /// Other events (connections, listen addresses) dropped because the event channel was full.
    pub events_dropped: u64,
}

/// Cheap, cloneable handle to the network task.
///
/// Every method sends a command over a bounded channel and awaits the task's answer, so it
/// waits when the task is busy. All methods fail with [`NetError::Stopped`] once the task has
/// ended (after [`NetHandle::shutdown`], or when every handle has been dropped).
#[derive(Debug, Clone)]
pub struct NetHandle {
    commands: mpsc::Sender<Command>,
    local_peer_id: PeerId,
    counters: Arc<Counters>,
}

impl NetHandle {
    async fn call<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| NetError::Stopped)?;
        answer.await.map_err(|_| NetError::Stopped)
    }

    /// Our peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// Publishes `data` on `topic` (the name of one of [`flashback_types::protocol::Topic::ALL`]) and returns its id,
    /// blake3(`data`).
    ///
    /// Errors: [`NetError::InsufficientPeers`] when no connected peer subscribes to the topic
    /// (nothing was sent; publish again later), [`NetError::MessageTooLarge`] above
    /// [`NetConfig::max_gossip_payload`]. A message whose id is already in gossipsub's
    /// duplicate cache (we published it, or received it, within the last minute) is not sent
    /// again and yields `Ok` with its id: the network already has it.
    pub async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<MessageId32, NetError> {
        let topic = topic.to_owned();
        self.call(|reply| Command::Publish { topic, data, reply })
            .await?
    }

    /// Tells gossipsub the node's verdict on a [`NetEvent::Gossip`]: `Accept` forwards it,
    /// `Reject` drops it and penalises the peers that sent it, `Ignore` drops it silently.
    ///
    /// Returns `false` when the message had already left the cache (validated after
    /// `gossip_validation_window_secs`, or reported twice): the verdict then has no effect.
    pub async fn report_validation(
        &self,
        msg_id: MessageId32,
        propagation_source: PeerId,
        result: Validation,
    ) -> Result<bool, NetError> {
        self.call(|reply| Command::ReportValidation {
            msg_id,
            source: propagation_source,
            result,
            reply,
        })
        .await
    }

    /// [`NetHandle::report_validation`] for many messages at once, without waiting for the
    /// network task to apply them (only for room in its command queue): the fast path of a
    /// validation pipeline, which has nothing to do with the answer.
    pub async fn report_validations(
        &self,
        verdicts: Vec<(MessageId32, PeerId, Validation)>,
    ) -> Result<(), NetError> {
        if verdicts.is_empty() {
            return Ok(());
        }
        self.commands
            .send(Command::ReportValidations { verdicts })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Sends a request to `peer` on `protocol` and waits for the answer (at most
    /// `request_timeout_secs`). Dials the peer if needed, using addresses learnt from
    /// [`NetHandle::add_peer_address`], Kademlia, identify or mDNS.
    pub async fn request(
        &self,
        peer: PeerId,
        protocol: Protocol,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, NetError> {
        self.call(|reply| Command::Request {
            peer,
            protocol,
            data,
            reply,
        })
        .await?
    }

    /// Answers a [`NetEvent::InboundRequest`].
    pub async fn respond(&self, token: ResponseToken, data: Vec<u8>) -> Result<(), NetError> {
        self.call(|reply| Command::Respond { token, data, reply })
            .await?
    }

    /// Starts dialing `addr` (ideally with a `/p2p/` suffix). Returns once the dial started;
    /// success shows up as [`NetEvent::PeerConnected`].
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.call(|reply| Command::Dial { addr, reply }).await?
    }

    /// Remembers an address of `peer` for later dials and requests (and adds it to Kademlia).
    pub async fn add_peer_address(&self, peer: PeerId, addr: Multiaddr) -> Result<(), NetError> {
        self.call(|reply| Command::AddPeerAddress { peer, addr, reply })
            .await
    }

    /// Peers we have at least one connection to.
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, NetError> {
        self.call(|reply| Command::ConnectedPeers { reply }).await
    }

    /// Our gossipsub mesh peers for `topic` (the peers we forward its messages to).
    pub async fn mesh_peers(&self, topic: &str) -> Result<Vec<PeerId>, NetError> {
        let topic = topic.to_owned();
        self.call(|reply| Command::MeshPeers { topic, reply }).await
    }

    /// Gossipsub's score of `peer` as we see it (`None` only if scoring were disabled). A peer
    /// we know nothing about scores 0.
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, NetError> {
        self.call(|reply| Command::PeerScore { peer, reply }).await
    }

    /// The addresses we listen on right now.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.call(|reply| Command::ListenAddrs { reply }).await
    }

    /// Closes every connection to `peer` and refuses new ones until [`NetHandle::unblock_peer`].
    pub async fn block_peer(&self, peer: PeerId) -> Result<(), NetError> {
        self.call(|reply| Command::Block {
            peer,
            blocked: true,
            reply,
        })
        .await
    }

    /// Lifts [`NetHandle::block_peer`].
    pub async fn unblock_peer(&self, peer: PeerId) -> Result<(), NetError> {
        self.call(|reply| Command::Block {
            peer,
            blocked: false,
            reply,
        })
        .await
    }

    /// What the network dropped to protect itself so far.
    pub fn stats(&self) -> NetStats {
        NetStats {
            gossip_dropped: self.counters.gossip_dropped.get(),
            inbound_requests_rate_limited: self.counters.requests_rate_limited.get(),
            inbound_requests_dropped: self.counters.requests_dropped.get(),
            events_dropped: self.counters.events_dropped.get(),
        }
    }

    /// Closes the listeners and ends the network task, which closes every connection; returns
    /// when it is done. Idempotent: `Ok` if the task had already stopped.
    pub async fn shutdown(&self) -> Result<(), NetError> {
        match self.call(|reply| Command::Shutdown { reply }).await {
            Ok(()) | Err(NetError::Stopped) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Starts the network: binds the listeners (returning the first bind error), dials the
/// bootstrap peers, starts a Kademlia bootstrap if there are any, and spawns the task that owns
/// the swarm on the current tokio runtime.
///
/// Returns the handle and the event stream. The task stops on [`NetHandle::shutdown`] or when
/// every handle is dropped; the event stream then ends.
pub async fn spawn(
    keypair: Keypair,
    config: NetConfig,
) -> Result<(NetHandle, mpsc::Receiver<NetEvent>), NetError> {
    spawn_with(keypair, config, Extras::default()).await
}

/// Like [`spawn`], and records libp2p's swarm, gossipsub, Kademlia, identify and ping metrics
/// (prefix `libp2p_`) and our drop counters (prefix `flashback_net_`) into `registry`.
pub async fn spawn_with_metrics(
    keypair: Keypair,
    config: NetConfig,
    registry: &mut Registry,
) -> Result<(NetHandle, mpsc::Receiver<NetEvent>), NetError> {
    let extras = Extras {
        registry: Some(registry),
        ..Extras::default()
    };
    spawn_with(keypair, config, extras).await
}

/// What [`spawn_with`] takes besides the configuration.
#[derive(Default)]
pub struct Extras<'a> {
    /// Where to record metrics (as [`spawn_with_metrics`] does).
    pub registry: Option<&'a mut Registry>,
    /// Judges gossip on the swarm task as it arrives (see [`GossipValidator`]); without one,
    /// every gossip message is emitted as a [`NetEvent::Gossip`].
    pub gossip_validator: Option<Arc<dyn GossipValidator>>,
    /// Runs gossipsub with its own message authentication, as libp2p ships it
    /// (`MessageAuthenticity::Signed`, `ValidationMode::Strict`): every message carries its
    /// publisher's peer id, a sequence number and a signature by the peer's key, and every
    /// peer checks that signature on every copy it receives, duplicates included, before
    /// gossipsub deduplicates. Flashback's protocol does not: its messages are unsigned and
    /// carry self-signed objects (docs/PROTOCOL.md), so a peer with this set cannot exchange
    /// gossip with a node. For the network bench's second baseline only; a node never sets it.
    pub signed_gossip: bool,
}

/// Like [`spawn`], with metrics and a gossip validator as [`Extras`] says.
pub async fn spawn_with(
    keypair: Keypair,
    config: NetConfig,
    extras: Extras<'_>,
) -> Result<(NetHandle, mpsc::Receiver<NetEvent>), NetError> {
    let Extras {
        mut registry,
        gossip_validator,
        signed_gossip,
    } = extras;
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
        NetHandle {
            commands: command_tx,
            local_peer_id,
            counters,
        },
        event_rx,
    ))
}

fn build_swarm(
    keypair: Keypair,
    config: &NetConfig,
    behaviour: Behaviour,
) -> Result<libp2p::Swarm<Behaviour>, NetError> {
    let idle = Duration::from_secs(config.idle_connection_timeout_secs);
    let swarm = if config.memory_transport {
        SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_other_transport(|key| {
                let noise = noise::Config::new(key)
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
                let delay = Duration::from_millis(config.memory_link_delay_ms);
                Ok(MemoryTransport::default()
                    .map(move |channel, _| {
                        if delay.is_zero() {
                            Either::Left(channel)
                        } else {
                            Either::Right(Delayed::new(channel, delay))
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
            .build()
    } else {
        SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| NetError::Transport(format!("tcp: {e}")))?
            .with_quic()
            .with_behaviour(|_| behaviour)
            .map_err(|e| NetError::Transport(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build()
    };
    Ok(swarm)
}

pub(crate) fn parse_multiaddr(addr: &str) -> Result<Multiaddr, NetError> {
    addr.parse()
        .map_err(|e: libp2p::multiaddr::Error| NetError::InvalidMultiaddr {
            addr: addr.to_owned(),
            reason: e.to_string(),
        })
}

fn parse_bootstrap(addr: &str) -> Result<(PeerId, Multiaddr), NetError> {
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
