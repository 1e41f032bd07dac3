//! The commands a [`crate::NetHandle`] sends to the network task, each with its reply channel.
//!
//! Its own module so that the handle (which sends them) and the event loop (which answers
//! them) both depend on it and not on each other.

use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;

use crate::{MessageId32, NetError, Protocol, ResponseToken, Validation};

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
