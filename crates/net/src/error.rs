//! [`NetError`], the one error type of this crate.

use libp2p::PeerId;

use crate::{MessageId32, Protocol};

/// Everything that can go wrong in the network layer. Messages say what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A configuration value is out of range.
    #[error("invalid network setting `{field}`: {reason}; fix it in the config file or flags")]
    InvalidConfig {
        /// The offending [`crate::NetConfig`] field.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },

    /// A listen, bootstrap or dial address does not parse.
    #[error(
        "`{addr}` is not a valid multiaddr ({reason}); expected something like \
         /ip4/203.0.113.7/tcp/4077/p2p/12D3KooW…"
    )]
    InvalidMultiaddr {
        /// The address as given.
        addr: String,
        /// The parser's complaint.
        reason: String,
    },

    /// A bootstrap address lacks the peer id we need to authenticate the remote.
    #[error(
        "bootstrap address {addr} has no /p2p/<peer id> suffix; append the peer id of the node \
         to join (it prints it at start)"
    )]
    BootstrapWithoutPeerId {
        /// The address as given.
        addr: String,
    },

    /// A listener could not be opened.
    #[error(
        "cannot listen on {addr}: {reason}; pass a different --listen (port 0 picks a free one)"
    )]
    Listen {
        /// The listen address.
        addr: String,
        /// The OS or transport error, e.g. "address in use".
        reason: String,
    },

    /// The transport stack (TCP, QUIC, memory, noise, yamux) could not be built.
    #[error("cannot set up the network transport: {0}; this is a bug, please report it")]
    Transport(String),

    /// A libp2p behaviour rejected its configuration.
    #[error(
        "cannot set up the network protocols: {0}; check the gossip and limit settings of the \
         network config"
    )]
    Behaviour(String),

    /// mDNS could not start (no multicast-capable interface, or the port is taken).
    #[error("cannot start mDNS discovery: {0}; set enable_mdns = false or fix the network")]
    Mdns(String),

    /// The network task is gone (shut down, or every handle was dropped).
    #[error("the network task has stopped; restart the node")]
    Stopped,

    /// `publish` on a topic that is not one of [`flashback_types::protocol::Topic::ALL`].
    #[error("`{topic}` is not a flashback topic; use one of flashback_types::protocol::Topic")]
    UnknownTopic {
        /// The topic as given.
        topic: String,
    },

    /// No connected peer subscribes to the topic, so nothing was sent.
    #[error(
        "no connected peer subscribes to {topic} yet, so the message was not sent; wait for \
         peers (check the bootstrap addresses) and publish again"
    )]
    InsufficientPeers {
        /// The topic.
        topic: String,
    },

    /// The payload is too large for one gossipsub frame.
    #[error(
        "a {size}-byte message exceeds the {max}-byte gossip limit; shrink it, or raise \
         max_transmit_size on every node of the network"
    )]
    MessageTooLarge {
        /// Payload size.
        size: usize,
        /// Largest payload allowed ([`crate::NetConfig::max_gossip_payload`]).
        max: usize,
    },

    /// Gossipsub could not queue the message to any peer, or failed otherwise.
    #[error("cannot publish message {msg_id} on {topic}: {reason}; retry later")]
    PublishFailed {
        /// The topic.
        topic: String,
        /// Id the message would have had.
        msg_id: MessageId32,
        /// Gossipsub's reason.
        reason: String,
    },

    /// A request is larger than the protocol allows.
    #[error(
        "a {size}-byte request exceeds the {max}-byte limit of {protocol}; split it into \
         smaller requests"
    )]
    RequestTooLarge {
        /// The protocol.
        protocol: Protocol,
        /// Request size.
        size: usize,
        /// The limit.
        max: usize,
    },

    /// A response is larger than the protocol allows; the requester gets no answer.
    #[error(
        "a {size}-byte response exceeds the {max}-byte limit of {protocol}; return fewer \
         objects per answer (the requester can page)"
    )]
    ResponseTooLarge {
        /// The protocol.
        protocol: Protocol,
        /// Response size.
        size: usize,
        /// The limit.
        max: usize,
    },

    /// The peer did not answer within `request_timeout_secs`.
    #[error("{peer} did not answer on {protocol} in time; try another peer or retry later")]
    RequestTimeout {
        /// The peer asked.
        peer: PeerId,
        /// The protocol.
        protocol: Protocol,
    },

    /// A request failed before an answer arrived (dial failure, connection closed, refused).
    #[error("request to {peer} on {protocol} failed: {reason}; try another peer")]
    RequestFailed {
        /// The peer asked.
        peer: PeerId,
        /// The protocol.
        protocol: Protocol,
        /// libp2p's reason.
        reason: String,
    },

    /// `respond` after the request expired (timeout, disconnect) or with a used token.
    #[error(
        "the request on {protocol} is no longer waiting for an answer (it timed out or the \
         peer disconnected); nothing to do"
    )]
    ResponseExpired {
        /// The protocol.
        protocol: Protocol,
    },

    /// Dialing could not even start (unsupported address, blocked peer, connection limit).
    #[error("cannot dial {addr}: {reason}")]
    Dial {
        /// The address.
        addr: String,
        /// libp2p's reason.
        reason: String,
    },
}

impl NetError {
    /// Whether asking again later may succeed: a request that failed before an answer came
    /// (the connection dropped, or the peer dropped the request because we were over its
    /// inbound rate).
    pub fn is_retryable(&self) -> bool {
        matches!(self, NetError::RequestFailed { .. })
    }
}
