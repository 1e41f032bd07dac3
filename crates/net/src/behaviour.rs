//! The composed libp2p [`NetworkBehaviour`] and its configuration, peer scoring included.

use std::{
    collections::HashSet,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use libp2p::{
    StreamProtocol, allow_block_list, autonat, connection_limits, dcutr, gossipsub, identify,
    identity::Keypair,
    kad, mdns, memory_connection_limits,
    metrics::Registry,
    ping, relay, request_response,
    swarm::{NetworkBehaviour, behaviour::toggle::Toggle},
};

use flashback_types::protocol::{self, Topic};

use crate::{NetConfig, NetError, Protocol, codec::BytesCodec, pending::PendingPerSource};

/// Kademlia protocol id: our own DHT, not the public IPFS one.
pub(crate) const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new(protocol::KAD_PROTOCOL);

pub(crate) type Gossipsub =
    gossipsub::Behaviour<gossipsub::IdentityTransform, gossipsub::WhitelistSubscriptionFilter>;
pub(crate) type RequestResponse = request_response::Behaviour<BytesCodec>;

/// Gatekeepers first: they can deny a connection before any protocol spends work on it.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub(crate) pending_per_source: PendingPerSource,
    pub(crate) connection_limits: connection_limits::Behaviour,
    pub(crate) memory_limits: Toggle<memory_connection_limits::Behaviour>,
    pub(crate) blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub(crate) gossipsub: Gossipsub,
    pub(crate) kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: ping::Behaviour,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
    pub(crate) sync: RequestResponse,
    pub(crate) query: RequestResponse,
    pub(crate) submit: RequestResponse,
    /// NAT traversal (`crate::nat`), each part on by configuration only.
    pub(crate) autonat: Toggle<autonat::Behaviour>,
    pub(crate) relay: Toggle<crate::nat::RelayServer>,
    pub(crate) relay_client: Toggle<relay::client::Behaviour>,
    pub(crate) dcutr: Toggle<dcutr::Behaviour>,
}

impl Behaviour {
    pub(crate) fn new(
        keypair: &Keypair,
        config: &NetConfig,
        registry: Option<&mut Registry>,
        signed_gossip: bool,
    ) -> Result<Self, NetError> {
        let local_peer_id = keypair.public().to_peer_id();

        let limits = connection_limits::ConnectionLimits::default()
            .with_max_established(Some(config.max_established))
            .with_max_established_per_peer(Some(config.max_established_per_peer()))
            .with_max_pending_incoming(Some(config.max_pending))
            .with_max_pending_outgoing(Some(config.max_pending));

        let memory_limits = config
            .max_memory_fraction
            .map(memory_connection_limits::Behaviour::with_max_percentage);

        let kad = config.enable_kad.then(|| {
            let mut kad_config = kad::Config::new(KAD_PROTOCOL);
            kad_config
                .set_periodic_bootstrap_interval(Some(Duration::from_secs(
                    config.kad_bootstrap_interval_secs.max(1),
                )))
                // We use the DHT for peer discovery only: never store what others put.
                .set_record_filtering(kad::StoreInserts::FilterBoth);
            let mut kad = kad::Behaviour::with_config(
                local_peer_id,
                kad::store::MemoryStore::new(local_peer_id),
                kad_config,
            );
            // Without this, kad waits for a confirmed external address before answering
            // queries, which nodes behind NAT and loopback testnets never get.
            kad.set_mode(Some(kad::Mode::Server));
            kad
        });

        let identify = identify::Behaviour::new(
            identify::Config::new(
                protocol::IDENTIFY_PROTOCOL_VERSION.to_owned(),
                keypair.public(),
            )
            .with_agent_version(format!("flashback/{}", env!("CARGO_PKG_VERSION"))),
        );

        let mdns = if config.enable_mdns {
            Some(
                mdns::tokio::Behaviour::new(mdns::Config::default(), local_peer_id)
                    .map_err(|e| NetError::Mdns(e.to_string()))?,
            )
        } else {
            None
        };

        let request_response = |protocol: Protocol| {
            request_response::Behaviour::with_codec(
                BytesCodec::new(config.limits(protocol)),
                [(
                    StreamProtocol::new(protocol.id()),
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default().with_request_timeout(config.request_timeout()),
            )
        };

        Ok(Self {
            pending_per_source: PendingPerSource::new(config.max_pending_per_source),
            connection_limits: connection_limits::Behaviour::new(limits),
            memory_limits: Toggle::from(memory_limits),
            blocked: allow_block_list::Behaviour::default(),
            gossipsub: build_gossipsub(config, registry, signed_gossip.then_some(keypair))?,
            kad: Toggle::from(kad),
            identify,
            ping: ping::Behaviour::new(ping::Config::new()),
            mdns: Toggle::from(mdns),
            sync: request_response(Protocol::Sync),
            query: request_response(Protocol::Query),
            submit: request_response(Protocol::Submit),
            autonat: Toggle::from(config.nat.autonat(local_peer_id)),
            relay: Toggle::from(config.nat.relay_server(local_peer_id)),
            // Set by the swarm builder, which makes the client's transport with it.
            relay_client: Toggle::from(None),
            dcutr: Toggle::from(config.nat.dcutr(local_peer_id)),
        })
    }

    pub(crate) fn request_response(&mut self, protocol: Protocol) -> &mut RequestResponse {
        match protocol {
            Protocol::Sync => &mut self.sync,
            Protocol::Query => &mut self.query,
            Protocol::Submit => &mut self.submit,
        }
    }
}

/// `signer`: sign every message with this key and check every copy's signature, as gossipsub
/// does by default (`NetBuilder::signed_gossip`, for the network bench only); without it, the
/// protocol's unsigned messages.
fn build_gossipsub(
    config: &NetConfig,
    registry: Option<&mut Registry>,
    signer: Option<&Keypair>,
) -> Result<Gossipsub, NetError> {
    let heartbeat = config.heartbeat();
    // Keep received messages in the cache long enough for the node to validate them: a message
    // validated after it left the cache can no longer be forwarded.
    let validation_window = Duration::from_secs(config.gossip_validation_window_secs.max(1));
    let history_length = usize::try_from(validation_window.as_millis() / heartbeat.as_millis())
        .unwrap_or(usize::MAX)
        .max(5);

    // IDONTWANT (gossipsub v1.2): libp2p-gossipsub 0.50 (libp2p 0.57) advertises /meshsub/1.3.0
    // and /meshsub/1.2.0 by default and sends IDONTWANT to v1.2+ mesh peers on receipt (before
    // validation) for messages above `idontwant_message_size_threshold`. The default threshold
    // (1000 bytes) would exempt most of our objects (an offer is ~300 bytes), and duplicates of
    // small messages were what made receptions per node per offer high in the network bench,
    // so we send IDONTWANT for every size, and on publish too.
    //
    // Mesh degree: D = `gossip_mesh_n` (default 4, below gossipsub's 6), low 3/4 D, high D
    // (gossipsub's default is 2 D). Our topics carry few, small messages whose cost is
    // dominated by duplicates, and a node receives about one copy per mesh peer but the first:
    // with D = 4, high 2 D, and flood publishing, the network bench measured 4.5 to 5 full
    // receptions per node per message; with high D + 2 and no flood publishing, 3.1 to 3.4
    // (meshes of 4.0 to 4.5 on average); with high D + 1, 2.9 to 3.1; with high D, 2.8 to 3.03
    // (meshes of 3.7 to 4.0) (docs/decisions/0026-meshes-are-capped-at-d.md).
    let mesh_n = config.gossip_mesh_n.max(2);
    let mesh_n_low = (mesh_n * 3 / 4).max(1);
    let gossipsub_config = gossipsub::ConfigBuilder::default()
        .mesh_n(mesh_n)
        .mesh_n_low(mesh_n_low)
        .mesh_n_high(mesh_n)
        .mesh_outbound_min((mesh_n / 2).min(mesh_n_low))
        .idontwant_message_size_threshold(0)
        .idontwant_on_publish(true)
        .flood_publish(config.gossip_flood_publish)
        .validation_mode(match signer {
            Some(_) => gossipsub::ValidationMode::Strict,
            None => gossipsub::ValidationMode::Anonymous,
        })
        .validate_messages()
        .message_id_fn(|message: &gossipsub::Message| {
            gossipsub::MessageId::new(blake3::hash(&message.data).as_bytes())
        })
        .max_transmit_size(config.max_transmit_size)
        .heartbeat_interval(heartbeat)
        // The default 5 s initial delay would slow down tests and a node's first mesh.
        .heartbeat_initial_delay(heartbeat)
        .history_length(history_length)
        .build()
        .map_err(|e| NetError::Behaviour(format!("gossipsub config: {e}")))?;

    let filter = gossipsub::WhitelistSubscriptionFilter(
        Topic::ALL
            .iter()
            .map(|t| gossipsub::IdentTopic::new(t.name()).hash())
            .collect(),
    );
    let authenticity = match signer {
        Some(keypair) => gossipsub::MessageAuthenticity::Signed(keypair.clone()),
        None => gossipsub::MessageAuthenticity::Anonymous,
    };
    let mut gossipsub =
        Gossipsub::new_with_subscription_filter(authenticity, gossipsub_config, filter)
            .map_err(|e| NetError::Behaviour(format!("gossipsub: {e}")))?;
    if let Some(registry) = registry {
        gossipsub = gossipsub.with_metrics(registry, gossipsub::MetricsConfig::default());
    }
    gossipsub
        .with_peer_score(peer_score_params(), peer_score_thresholds())
        .map_err(|e| NetError::Behaviour(format!("gossipsub peer score: {e}")))?;
    for topic in Topic::ALL.iter().filter(|_| config.gossip) {
        gossipsub
            .subscribe(&gossipsub::IdentTopic::new(topic.name()))
            .map_err(|e| NetError::Behaviour(format!("subscribe to {topic}: {e}")))?;
    }
    Ok(gossipsub)
}

/// Per-topic scoring. Every topic has the same weight: they all carry signed objects that an
/// honest peer has validated before forwarding, so an invalid one is equally damning anywhere.
///
/// Score of a peer, per topic (weight 1):
/// - P1 time in mesh: +1 per 6 minutes, at most +10 after an hour;
/// - P2 first deliveries of valid messages: +1 each, at most +20, decaying over ~10 minutes;
/// - P3/P3b mesh delivery rate: off. Our topics are low-rate and bursty (offers change rarely),
///   so a delivery-rate quota would prune honest but quiet peers;
/// - P4 invalid messages (our `Reject`): -10 × count², decaying over ~10 minutes. One rejected
///   message reaches the gossip threshold (-10), three reach the graylist (-80).
fn topic_score_params() -> gossipsub::TopicScoreParams {
    let ten_minutes = Duration::from_secs(600);
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 10.0 / 3600.0,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 3600.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: gossipsub::score_parameter_decay(ten_minutes),
        first_message_deliveries_cap: 20.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: gossipsub::score_parameter_decay(ten_minutes),
        ..gossipsub::TopicScoreParams::default()
    }
}

pub(crate) fn peer_score_params() -> gossipsub::PeerScoreParams {
    let ten_minutes = Duration::from_secs(600);
    gossipsub::PeerScoreParams {
        topics: Topic::ALL
            .iter()
            .map(|t| {
                (
                    gossipsub::IdentTopic::new(t.name()).hash(),
                    topic_score_params(),
                )
            })
            .collect(),
        // Positive topic contributions saturate here (6 topics × 30 would be 180).
        topic_score_cap: 60.0,
        // Reserved for the node's own judgement later (set_application_score).
        app_specific_weight: 1.0,
        // More than 10 peers from one IP cost (n - 10)² × 5; loopback is exempt so that local
        // testnets of many nodes work.
        ip_colocation_factor_weight: -5.0,
        ip_colocation_factor_threshold: 10.0,
        ip_colocation_factor_whitelist: HashSet::from([
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]),
        // Protocol misbehaviour (broken IWANT promises, early re-GRAFT) beyond a small slack.
        behaviour_penalty_weight: -10.0,
        behaviour_penalty_threshold: 6.0,
        behaviour_penalty_decay: gossipsub::score_parameter_decay(ten_minutes),
        decay_interval: Duration::from_secs(1),
        retain_score: Duration::from_secs(3600),
        ..gossipsub::PeerScoreParams::default()
    }
}

pub(crate) fn peer_score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        // Peer exchange is off (do_px defaults to false); kept consistent anyway.
        accept_px_threshold: 20.0,
        opportunistic_graft_threshold: 3.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_params_are_accepted_by_gossipsub() {
        peer_score_params().validate().expect("params");
        peer_score_thresholds().validate().expect("thresholds");
    }

    #[test]
    fn behaviour_builds_with_defaults() {
        let keypair = Keypair::generate_ed25519();
        let mut registry = Registry::default();
        Behaviour::new(&keypair, &NetConfig::default(), Some(&mut registry), false)
            .expect("behaviour");
        Behaviour::new(&keypair, &NetConfig::default(), None, true).expect("signed gossip");
    }
}
