//! [`NetHandle`]: what the rest of the node holds to drive the network task.

use std::sync::Arc;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use crate::{
    MessageId32, NetError, Protocol, ResponseToken, Validation,
    command::Command,
    stats::{Counters, NetStats},
};

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
    pub(crate) fn new(
        commands: mpsc::Sender<Command>,
        local_peer_id: PeerId,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            commands,
            local_peer_id,
            counters,
        }
    }

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
    /// [`crate::NetConfig::max_gossip_payload`]. A message whose id is already in gossipsub's
    /// duplicate cache (we published it, or received it, within the last minute) is not sent
    /// again and yields `Ok` with its id: the network already has it.
    pub async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<MessageId32, NetError> {
        let topic = topic.to_owned();
        self.call(|reply| Command::Publish { topic, data, reply })
            .await?
    }

    /// Tells gossipsub the node's verdict on a [`crate::NetEvent::Gossip`]: `Accept` forwards it,
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

    /// Answers a [`crate::NetEvent::InboundRequest`].
    pub async fn respond(&self, token: ResponseToken, data: Vec<u8>) -> Result<(), NetError> {
        self.call(|reply| Command::Respond { token, data, reply })
            .await?
    }

    /// Starts dialing `addr` (ideally with a `/p2p/` suffix). Returns once the dial started;
    /// success shows up as [`crate::NetEvent::PeerConnected`].
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
        self.counters.snapshot()
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
