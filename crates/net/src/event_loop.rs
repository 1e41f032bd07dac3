//! The one task that owns the [`Swarm`].
//!
//! Pattern of rust-libp2p's `examples/file-sharing/src/network.rs`: commands come in with a
//! `oneshot` reply; replies that depend on the network (request answers) wait in maps keyed by
//! libp2p ids until the matching swarm event arrives.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use flashback_types::protocol::Topic;
use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, Swarm,
    core::transport::{ListenerId, TransportError},
    gossipsub, identify, kad, mdns,
    metrics::{Metrics, Recorder},
    multiaddr::Protocol as AddrProtocol,
    request_response::{self, InboundRequestId, OutboundRequestId, ResponseChannel},
    swarm::{SwarmEvent, dial_opts::DialOpts},
};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::{
    GossipValidator, MessageId32, NetConfig, NetError, NetEvent, Protocol, ResponseToken,
    Validation,
    behaviour::{Behaviour, BehaviourEvent, KAD_PROTOCOL},
    command::Command,
    rate_limit::RateLimiter,
    stats::Counters,
};

mod nat;

/// How long [`EventLoop::start`] waits for every listener to report an address.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(30);

type RequestReply = oneshot::Sender<Result<Vec<u8>, NetError>>;

pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    config: NetConfig,
    metrics: Option<Metrics>,
    counters: Arc<Counters>,
    rate_limiter: RateLimiter,
    listeners: Vec<ListenerId>,
    /// Our outbound requests waiting for an answer. Bounded by the request timeout: every
    /// entry ends with a response or an `OutboundFailure`.
    pending_requests: HashMap<(Protocol, OutboundRequestId), RequestReply>,
    /// Inbound requests handed to the node, waiting for `respond`. Bounded by the request
    /// timeout: libp2p reports an `InboundFailure` for every request not answered in time.
    pending_responses: HashMap<(Protocol, InboundRequestId), ResponseChannel<Vec<u8>>>,
    /// Judges gossip here, before it is emitted, when the node supplied one.
    gossip_validator: Option<Arc<dyn GossipValidator>>,
    nat: nat::NatState,
}

impl EventLoop {
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<NetEvent>,
        config: NetConfig,
        metrics: Option<Metrics>,
        counters: Arc<Counters>,
        gossip_validator: Option<Arc<dyn GossipValidator>>,
    ) -> Self {
        let rate_limiter = RateLimiter::new(
            config.inbound_requests_per_sec,
            config.inbound_request_burst,
        );
        Self {
            swarm,
            commands,
            events,
            config,
            metrics,
            counters,
            rate_limiter,
            listeners: Vec::new(),
            pending_requests: HashMap::new(),
            pending_responses: HashMap::new(),
            gossip_validator,
            nat: nat::NatState::default(),
        }
    }

    /// Opens the listeners and waits until each reports an address (or fails), then dials the
    /// bootstrap peers.
    pub(crate) async fn start(
        &mut self,
        listen: Vec<Multiaddr>,
        bootstrap: Vec<(PeerId, Multiaddr)>,
    ) -> Result<(), NetError> {
        let mut waiting = HashMap::new();
        for addr in listen {
            if !self.config.memory_transport {
                ensure_tcp_port_free(&addr)?;
            }
            let id = self
                .swarm
                .listen_on(addr.clone())
                .map_err(|e| NetError::Listen {
                    addr: addr.to_string(),
                    reason: self.transport_error_text(e),
                })?;
            self.listeners.push(id);
            waiting.insert(id, addr);
        }

        let deadline = tokio::time::sleep(LISTEN_TIMEOUT);
        tokio::pin!(deadline);
        while !waiting.is_empty() {
            tokio::select! {
                event = self.swarm.select_next_some() => {
                    match &event {
                        SwarmEvent::NewListenAddr { listener_id, .. } => {
                            waiting.remove(listener_id);
                        }
                        SwarmEvent::ListenerClosed { listener_id, reason, .. } => {
                            if let Some(addr) = waiting.remove(listener_id) {
                                return Err(NetError::Listen {
                                    addr: addr.to_string(),
                                    reason: match reason {
                                        Err(e) => e.to_string(),
                                        Ok(()) => "the listener closed".to_owned(),
                                    },
                                });
                            }
                        }
                        SwarmEvent::ListenerError { listener_id, error } => {
                            if let Some(addr) = waiting.remove(listener_id) {
                                return Err(NetError::Listen {
                                    addr: addr.to_string(),
                                    reason: error.to_string(),
                                });
                            }
                        }
                        _ => {}
                    }
                    self.handle_swarm_event(event);
                }
                () = &mut deadline => {
                    let addr = waiting.values().next().map(ToString::to_string).unwrap_or_default();
                    return Err(NetError::Listen {
                        addr,
                        reason: format!("no address reported within {} s", LISTEN_TIMEOUT.as_secs()),
                    });
                }
            }
        }

        self.listen_via_configured_relays()?;
        let local = *self.swarm.local_peer_id();
        let mut known_peers = false;
        for (peer, addr) in bootstrap {
            if peer == local {
                // Shared bootstrap lists in testnets include the node itself.
                continue;
            }
            known_peers = true;
            self.remember_address(peer, addr.clone());
            if let Err(e) = self.swarm.dial(from_fresh_port(addr.clone())) {
                warn!(%addr, error = %e, "cannot dial bootstrap peer");
            }
        }
        if known_peers && let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            // Fails only if Kademlia refused every bootstrap address.
            if let Err(e) = kad.bootstrap() {
                debug!(error = %e, "kademlia bootstrap not started");
            }
        }
        Ok(())
    }

    fn transport_error_text(&self, error: TransportError<std::io::Error>) -> String {
        match error {
            TransportError::MultiaddrNotSupported(addr) => {
                let transports = if self.config.memory_transport {
                    "the memory transport (memory_transport = true) only takes /memory/<port>"
                } else {
                    "only TCP (/ip4|ip6/…/tcp/…) and QUIC (/ip4|ip6/…/udp/…/quic-v1) are enabled"
                };
                format!("address {addr} is not supported: {transports}")
            }
            TransportError::Other(e) => e.to_string(),
        }
    }

    /// Runs until shutdown or until every handle is dropped.
    pub(crate) async fn run(mut self) {
        let shutdown_reply = loop {
            tokio::select! {
                // Local work first (STYLE.md): answering our own node beats taking new remote
                // work, and commands are bounded by their channel.
                biased;
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => break Some(reply),
                    Some(command) => self.handle_command(command),
                    None => break None,
                },
                event = self.swarm.select_next_some() => self.handle_swarm_event(event),
            }
        };
        info!("network task stopping");
        for id in std::mem::take(&mut self.listeners) {
            self.swarm.remove_listener(id);
        }
        // Dropping the swarm closes every connection; pending request replies are dropped,
        // which their callers see as `NetError::Stopped`.
        drop(self);
        if let Some(reply) = shutdown_reply {
            // The caller may have stopped waiting; nothing to do then.
            let _ = reply.send(());
        }
    }

    fn handle_command(&mut self, command: Command) {
        match command {
            Command::Publish { topic, data, reply } => {
                let _ = reply.send(self.publish(topic, data));
            }
            Command::ReportValidation {
                msg_id,
                source,
                result,
                reply,
            } => {
                let found = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(
                        &msg_id.to_gossipsub(),
                        &source,
                        result.into(),
                    );
                let _ = reply.send(found);
            }
            Command::ReportValidations { verdicts } => {
                let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
                for (msg_id, source, result) in verdicts {
                    gossipsub.report_message_validation_result(
                        &msg_id.to_gossipsub(),
                        &source,
                        result.into(),
                    );
                }
            }
            Command::Request {
                peer,
                protocol,
                data,
                reply,
            } => {
                let max = self.config.limits(protocol).max_request_bytes;
                if data.len() > max {
                    let _ = reply.send(Err(NetError::RequestTooLarge {
                        protocol,
                        size: data.len(),
                        max,
                    }));
                    return;
                }
                let id = self
                    .swarm
                    .behaviour_mut()
                    .request_response(protocol)
                    .send_request(&peer, data);
                self.pending_requests.insert((protocol, id), reply);
            }
            Command::Respond { token, data, reply } => {
                let _ = reply.send(self.respond(token, data));
            }
            Command::Dial { addr, reply } => {
                let result =
                    self.swarm
                        .dial(from_fresh_port(addr.clone()))
                        .map_err(|e| NetError::Dial {
                            addr: addr.to_string(),
                            reason: e.to_string(),
                        });
                let _ = reply.send(result);
            }
            Command::AddPeerAddress { peer, addr, reply } => {
                self.remember_address(peer, addr);
                let _ = reply.send(());
            }
            Command::ConnectedPeers { reply } => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::MeshPeers { topic, reply } => {
                let hash = gossipsub::IdentTopic::new(topic).hash();
                let peers = self
                    .swarm
                    .behaviour()
                    .gossipsub
                    .mesh_peers(&hash)
                    .copied()
                    .collect();
                let _ = reply.send(peers);
            }
            Command::PeerScore { peer, reply } => {
                let _ = reply.send(self.swarm.behaviour().gossipsub.peer_score(&peer));
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Block {
                peer,
                blocked,
                reply,
            } => {
                let list = &mut self.swarm.behaviour_mut().blocked;
                if blocked {
                    list.block_peer(peer);
                } else {
                    list.unblock_peer(peer);
                }
                let _ = reply.send(());
            }
            Command::Shutdown { .. } => {
                // Handled in `run`, which owns the loop.
            }
        }
    }

    fn publish(&mut self, topic: String, data: Vec<u8>) -> Result<MessageId32, NetError> {
        if Topic::from_name(&topic).is_none() {
            return Err(NetError::UnknownTopic { topic });
        }
        let max = self.config.max_gossip_payload();
        if data.len() > max {
            return Err(NetError::MessageTooLarge {
                size: data.len(),
                max,
            });
        }
        let msg_id = MessageId32::of(&data);
        let hash = gossipsub::IdentTopic::new(topic.as_str()).hash();
        match self.swarm.behaviour_mut().gossipsub.publish(hash, data) {
            Ok(_) => Ok(msg_id),
            // Already seen or published within the duplicate-cache window: the network has it.
            Err(gossipsub::PublishError::Duplicate) => Ok(msg_id),
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                Err(NetError::InsufficientPeers { topic })
            }
            Err(gossipsub::PublishError::MessageTooLarge) => {
                Err(NetError::MessageTooLarge { size: max + 1, max })
            }
            Err(e) => Err(NetError::PublishFailed {
                topic,
                msg_id,
                reason: e.to_string(),
            }),
        }
    }

    fn respond(&mut self, token: ResponseToken, data: Vec<u8>) -> Result<(), NetError> {
        let protocol = token.protocol;
        let channel = self
            .pending_responses
            .remove(&(protocol, token.id))
            .ok_or(NetError::ResponseExpired { protocol })?;
        let max = self.config.limits(protocol).max_response_bytes;
        if data.len() > max {
            // Dropping the channel closes the stream: the requester gets an error now rather
            // than a timeout later.
            return Err(NetError::ResponseTooLarge {
                protocol,
                size: data.len(),
                max,
            });
        }
        self.swarm
            .behaviour_mut()
            .request_response(protocol)
            .send_response(channel, data)
            .map_err(|_| NetError::ResponseExpired { protocol })
    }

    /// Makes `addr` available to dials and requests, and to Kademlia.
    fn remember_address(&mut self, peer: PeerId, addr: Multiaddr) {
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            kad.add_address(&peer, addr.clone());
        }
        self.swarm.add_peer_address(peer, addr);
    }

    /// Hands an event to the node without ever waiting. On failure the event is dropped and
    /// `Some(true)` says the queue was full (the node is slow), `Some(false)` that nobody
    /// listens any more (the node dropped the receiver, as light clients may).
    fn emit(&self, event: NetEvent) -> Option<bool> {
        match self.events.try_send(event) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(_)) => Some(true),
            Err(mpsc::error::TrySendError::Closed(_)) => Some(false),
        }
    }

    fn emit_or_count(&self, event: NetEvent) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.events.try_send(event) {
            self.counters.events_dropped.inc();
            warn!(?event, "event queue full, dropping event");
        }
    }

    fn handle_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        if let Some(metrics) = &self.metrics {
            metrics.record(&event);
        }
        match event {
            SwarmEvent::Behaviour(event) => self.handle_behaviour_event(event),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                endpoint,
                ..
            } => {
                self.on_connection(peer_id, &endpoint);
                debug!(peer = %peer_id, addr = %endpoint.get_remote_address(), "connected");
                if num_established.get() == 1 {
                    self.emit_or_count(NetEvent::PeerConnected(peer_id));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                endpoint,
                ..
            } => {
                debug!(peer = %peer_id, ?cause, "connection closed");
                self.on_connection_closed(peer_id, &endpoint);
                if num_established == 0 {
                    self.rate_limiter.forget(&peer_id);
                    self.emit_or_count(NetEvent::PeerDisconnected(peer_id));
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                self.emit_or_count(NetEvent::ListenAddr(address));
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                info!(%address, "no longer listening");
                self.emit_or_count(NetEvent::ListenAddrExpired(address));
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(peer = ?peer_id, %error, "outgoing connection failed");
                self.emit_or_count(NetEvent::DialFailed {
                    peer: peer_id,
                    error: error.to_string(),
                });
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                warn!(?addresses, ?reason, "listener closed");
                self.on_listener_closed(listener_id);
                for address in addresses {
                    self.emit_or_count(NetEvent::ListenAddrExpired(address));
                }
            }
            SwarmEvent::ListenerError { error, .. } => {
                warn!(%error, "listener error");
            }
            _ => {}
        }
    }

    fn handle_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::ConnectionLimits(never)
            | BehaviourEvent::MemoryLimits(never)
            | BehaviourEvent::Blocked(never) => match never {},
            BehaviourEvent::Gossipsub(event) => {
                if let Some(metrics) = &self.metrics {
                    metrics.record(&event);
                }
                self.handle_gossipsub(event);
            }
            BehaviourEvent::Kad(event) => {
                if let Some(metrics) = &self.metrics {
                    metrics.record(&event);
                }
                if let kad::Event::RoutingUpdated { peer, .. } = &event {
                    debug!(%peer, "kademlia routing table updated");
                }
            }
            BehaviourEvent::Identify(event) => {
                if let Some(metrics) = &self.metrics {
                    metrics.record(&event);
                }
                if let identify::Event::Received { peer_id, info, .. } = event {
                    self.on_identified(peer_id, info);
                }
            }
            BehaviourEvent::Ping(event) => {
                if let Some(metrics) = &self.metrics {
                    metrics.record(&event);
                }
            }
            BehaviourEvent::Mdns(event) => {
                if let mdns::Event::Discovered(found) = event {
                    for (peer, addr) in found {
                        debug!(%peer, %addr, "discovered by mDNS");
                        self.remember_address(peer, addr.clone());
                        // The default condition skips peers we are connected to or dialing.
                        // Two nodes on a LAN usually discover each other at the same moment and
                        // dial each other at once: from a fresh port, see `from_fresh_port`.
                        let opts = DialOpts::peer_id(peer)
                            .addresses(vec![addr])
                            .allocate_new_port()
                            .build();
                        if let Err(e) = self.swarm.dial(opts) {
                            debug!(%peer, error = %e, "cannot dial mDNS peer");
                        }
                    }
                }
            }
            BehaviourEvent::Autonat(event) => self.on_autonat(event),
            BehaviourEvent::Relay(event) => self.on_relay_server(event),
            BehaviourEvent::RelayClient(event) => self.on_relay_client(event),
            BehaviourEvent::Dcutr(event) => self.on_dcutr(event),
            BehaviourEvent::Sync(event) => self.handle_request_response(Protocol::Sync, event),
            BehaviourEvent::Query(event) => self.handle_request_response(Protocol::Query, event),
            BehaviourEvent::Submit(event) => self.handle_request_response(Protocol::Submit, event),
        }
    }

    fn on_identified(&mut self, peer: PeerId, info: identify::Info) {
        debug!(%peer, agent = %info.agent_version, "identified");
        let listen_addrs: Vec<Multiaddr> = info
            .listen_addrs
            .into_iter()
            .filter(|addr| !is_unspecified(addr))
            .collect();
        self.emit_or_count(NetEvent::PeerIdentified {
            peer,
            listen_addrs: listen_addrs.clone(),
        });
        self.note_relay_candidate(peer, &info.protocols, &listen_addrs);
        if !info.protocols.contains(&KAD_PROTOCOL) {
            return;
        }
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        for addr in listen_addrs {
            kad.add_address(&peer, addr);
        }
    }

    fn handle_gossipsub(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                let Some(msg_id) = MessageId32::from_gossipsub(&message_id) else {
                    // Our message-id function always makes 32 bytes; defensive only.
                    self.report_gossip(&message_id, &propagation_source, Validation::Ignore);
                    return;
                };
                let topic = message.topic.as_str();
                if let Some(judged) = self
                    .gossip_validator
                    .as_ref()
                    .and_then(|v| v.validate(topic, &message.data))
                {
                    // On Accept this queues the forwards to the mesh peers' connections, which
                    // other threads then send while `then` runs here.
                    self.report_gossip(&message_id, &propagation_source, judged.verdict);
                    if let Some(then) = judged.then {
                        then();
                    }
                    return;
                }
                let event = NetEvent::Gossip {
                    topic: message.topic.into_string(),
                    data: message.data,
                    msg_id,
                    source: propagation_source,
                };
                if let Some(full) = self.emit(event) {
                    // The node is not keeping up. Ignore (not Reject): the sender did nothing
                    // wrong, and another peer or a later sync will bring the object again.
                    if full {
                        self.counters.gossip_dropped.inc();
                        warn!(%msg_id, peer = %propagation_source, "event queue full, ignoring gossip message");
                    }
                    self.report_gossip(&message_id, &propagation_source, Validation::Ignore);
                }
            }
            gossipsub::Event::Subscribed { peer_id, topic } => {
                debug!(peer = %peer_id, %topic, "peer subscribed");
            }
            gossipsub::Event::GossipsubNotSupported { peer_id } => {
                debug!(peer = %peer_id, "peer does not speak gossipsub");
            }
            gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages,
            } => {
                debug!(peer = %peer_id, ?failed_messages, "slow gossipsub peer");
            }
            _ => {}
        }
    }

    /// Tells gossipsub our verdict on a message it handed us.
    fn report_gossip(&mut self, id: &gossipsub::MessageId, source: &PeerId, verdict: Validation) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, source, verdict.into());
    }

    fn handle_request_response(
        &mut self,
        protocol: Protocol,
        event: request_response::Event<Vec<u8>, Vec<u8>>,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request_id,
                        request,
                        channel,
                    },
                ..
            } => {
                if !self.rate_limiter.allow(peer, Instant::now()) {
                    self.counters.requests_rate_limited.inc();
                    debug!(%peer, %protocol, "inbound request over the peer's rate, dropped");
                    return; // Dropping `channel` closes the stream.
                }
                let event = NetEvent::InboundRequest {
                    protocol,
                    peer,
                    data: request,
                    reply: ResponseToken {
                        protocol,
                        id: request_id,
                    },
                };
                match self.emit(event) {
                    None => {
                        self.pending_responses
                            .insert((protocol, request_id), channel);
                    }
                    Some(full) => {
                        // Dropping `channel` closes the stream: the requester fails at once.
                        if full {
                            self.counters.requests_dropped.inc();
                            warn!(%peer, %protocol, "event queue full, dropping inbound request");
                        }
                    }
                }
            }
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.pending_requests.remove(&(protocol, request_id)) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                debug!(%peer, %protocol, %error, "outbound request failed");
                if let Some(reply) = self.pending_requests.remove(&(protocol, request_id)) {
                    let error = match error {
                        request_response::OutboundFailure::Timeout => {
                            NetError::RequestTimeout { peer, protocol }
                        }
                        other => NetError::RequestFailed {
                            peer,
                            protocol,
                            reason: other.to_string(),
                        },
                    };
                    let _ = reply.send(Err(error));
                }
            }
            request_response::Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                debug!(%peer, %protocol, %error, "inbound request failed");
                self.pending_responses.remove(&(protocol, request_id));
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}

/// libp2p-tcp binds listeners with `SO_REUSEPORT`, so a second node on the same fixed port
/// would silently share it with the first (the kernel splits incoming connections between
/// them). A plain bind without `SO_REUSEPORT` fails on any active listener, which turns that
/// mistake into an error. Port 0 and non-TCP addresses need no check.
fn ensure_tcp_port_free(addr: &Multiaddr) -> Result<(), NetError> {
    let mut parts = addr.iter();
    let ip: IpAddr = match parts.next() {
        Some(AddrProtocol::Ip4(ip)) => ip.into(),
        Some(AddrProtocol::Ip6(ip)) => ip.into(),
        _ => return Ok(()),
    };
    let port = match parts.next() {
        Some(AddrProtocol::Tcp(port)) if port != 0 => port,
        _ => return Ok(()),
    };
    // std sets SO_REUSEADDR (not SO_REUSEPORT) on Unix, so connections of a previous run in
    // TIME_WAIT do not count as "in use".
    std::net::TcpListener::bind(SocketAddr::new(ip, port))
        .map(drop)
        .map_err(|e| NetError::Listen {
            addr: addr.to_string(),
            reason: e.to_string(),
        })
}

fn is_unspecified(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        AddrProtocol::Ip4(ip) => ip.is_unspecified(),
        AddrProtocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}

/// Dial options for `addr` from a fresh local port, not from a listen port (libp2p's default).
/// Two nodes that dial each other at the same moment from their listen ports make one TCP
/// connection (a simultaneous open), on which both start the handshake as the dialer and both
/// fail; from fresh ports they make two connections, and both succeed. The node's own dials
/// (bootstrap, address book, mDNS, admin) use it; Kademlia's keep libp2p's default.
fn from_fresh_port(addr: Multiaddr) -> DialOpts {
    DialOpts::unknown_peer_id()
        .address(addr)
        .allocate_new_port()
        .build()
}
