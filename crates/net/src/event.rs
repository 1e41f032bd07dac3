//! What the network and the node exchange besides commands: events, verdicts, message ids and
//! response tokens. Topic names and protocol ids are the protocol's, in
//! [`flashback_types::protocol`].

use std::fmt;

use flashback_types::protocol::Protocol;
use libp2p::{Multiaddr, PeerId, gossipsub, request_response::InboundRequestId};

/// The node's verdict on a gossip message, fed to gossipsub with
/// [`crate::NetHandle::report_validation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// Valid: forward it to our mesh peers.
    Accept,
    /// Invalid (bad signature, malformed): drop it and lower the score of the peers that sent it.
    Reject,
    /// Not forwarded and not punished (expired, superseded, we were too busy).
    Ignore,
}

impl From<Validation> for gossipsub::MessageAcceptance {
    fn from(v: Validation) -> Self {
        match v {
            Validation::Accept => gossipsub::MessageAcceptance::Accept,
            Validation::Reject => gossipsub::MessageAcceptance::Reject,
            Validation::Ignore => gossipsub::MessageAcceptance::Ignore,
        }
    }
}

/// Judges gossip on the network task itself, as each message arrives, so that a valid
/// message is forwarded without a round trip through another task (see
/// [`crate::NetBuilder::gossip_validator`]).
///
/// The network calls [`GossipValidator::validate`] for every gossip message before emitting
/// it. `Some(verdict)` is reported to gossipsub at once and the message is not emitted;
/// `None` hands it on as a [`NetEvent::Gossip`], to be judged later with
/// [`crate::NetHandle::report_validation`]. The call runs on the task that owns the swarm:
/// it must not block, and should return `None` for anything that is not quick (a burst the
/// node would rather verify in parallel elsewhere, a busy store).
pub trait GossipValidator: Send + Sync + 'static {
    /// The verdict on `data` received on `topic`, or `None` to be asked later.
    fn validate(&self, topic: &str, data: &[u8]) -> Option<Judged>;
}

/// A [`GossipValidator`]'s verdict, and the work it left for after the verdict is reported.
///
/// Reporting Accept hands the message to the mesh peers' connection tasks at once, so work
/// that the verdict does not depend on (storing the message, telling subscribers) can wait
/// in [`Judged::then`] and no longer delay the forward. It runs on the network task, right
/// after the report: it must not block either.
pub struct Judged {
    /// What gossipsub is told.
    pub verdict: Validation,
    /// Run once the verdict is reported.
    pub then: Option<Box<dyn FnOnce() + Send>>,
}

impl From<Validation> for Judged {
    fn from(verdict: Validation) -> Self {
        Self {
            verdict,
            then: None,
        }
    }
}

impl std::fmt::Debug for Judged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Judged")
            .field("verdict", &self.verdict)
            .field("then", &self.then.is_some())
            .finish()
    }
}

/// A gossipsub message id: the blake3 hash of the message payload.
///
/// Since the payload is a signed object's full encoding, this equals the object id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId32(pub [u8; 32]);

impl MessageId32 {
    /// The id of a payload.
    pub fn of(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn to_gossipsub(self) -> gossipsub::MessageId {
        gossipsub::MessageId::new(&self.0)
    }

    /// Our message-id function always yields 32 bytes; `None` means a foreign id.
    pub(crate) fn from_gossipsub(id: &gossipsub::MessageId) -> Option<Self> {
        <[u8; 32]>::try_from(id.0.as_slice()).ok().map(Self)
    }
}

impl From<[u8; 32]> for MessageId32 {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for MessageId32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for MessageId32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId32({self})")
    }
}

/// Names an inbound request still waiting for its answer; hand it back with
/// [`crate::NetHandle::respond`].
///
/// The libp2p response channel itself stays inside the network task (keyed by this token), so
/// the task can forget it when the request times out or the peer disconnects. Dropping the
/// token without answering is allowed: the requester then times out after
/// `request_timeout_secs`. Not `Clone`: a request is answered once.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ResponseToken {
    pub(crate) protocol: Protocol,
    pub(crate) id: InboundRequestId,
}

impl ResponseToken {
    /// The protocol the request arrived on.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }
}

/// What the network reports to the node.
///
/// Events are delivered with `try_send`: a node that does not keep up loses events instead of
/// stalling the network. A dropped [`NetEvent::Gossip`] is reported to gossipsub as
/// [`Validation::Ignore`] (not forwarded, nobody punished); a dropped
/// [`NetEvent::InboundRequest`] is never answered (the requester times out). Drops are logged
/// and counted in [`crate::NetStats`].
#[derive(Debug)]
#[non_exhaustive]
pub enum NetEvent {
    /// A gossip message awaiting validation. The node must call
    /// [`crate::NetHandle::report_validation`] with `msg_id` and `source`, exactly once,
    /// within `gossip_validation_window_secs`.
    Gossip {
        /// Topic name (one of [`flashback_types::protocol::Topic::ALL`]).
        topic: String,
        /// The opaque payload.
        data: Vec<u8>,
        /// blake3 of `data`.
        msg_id: MessageId32,
        /// The peer that forwarded the message to us. Messages are anonymous on the wire, so
        /// this is not necessarily the author: authorship lives in the signed object.
        source: PeerId,
    },
    /// A request from a peer, already within the protocol's size limit and the peer's rate.
    InboundRequest {
        /// The protocol.
        protocol: Protocol,
        /// The requesting peer.
        peer: PeerId,
        /// The opaque request body.
        data: Vec<u8>,
        /// Pass to [`crate::NetHandle::respond`].
        reply: ResponseToken,
    },
    /// First connection to a peer established.
    PeerConnected(PeerId),
    /// Last connection to a peer closed.
    PeerDisconnected(PeerId),
    /// A dial we (or a behaviour, e.g. Kademlia) started failed. `peer` is known when the dial
    /// targeted a peer id.
    DialFailed {
        /// The peer we tried to reach, if known.
        peer: Option<PeerId>,
        /// Why, in words.
        error: String,
    },
    /// A peer told us (identify) the addresses it listens on; worth remembering for restarts.
    PeerIdentified {
        /// The peer.
        peer: PeerId,
        /// Its self-reported listen addresses.
        listen_addrs: Vec<Multiaddr>,
    },
    /// We listen on a new address.
    ListenAddr(Multiaddr),
    /// We no longer listen on an address (its interface went away, or the listener closed).
    ListenAddrExpired(Multiaddr),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_is_blake3_of_data() {
        let id = MessageId32::of(b"hello");
        assert_eq!(id.as_bytes(), blake3::hash(b"hello").as_bytes());
        assert_eq!(id.to_string(), blake3::hash(b"hello").to_hex().as_str());
        assert_eq!(MessageId32::from_gossipsub(&id.to_gossipsub()), Some(id));
        assert_eq!(
            MessageId32::from_gossipsub(&gossipsub::MessageId::new(b"short")),
            None
        );
    }
}
