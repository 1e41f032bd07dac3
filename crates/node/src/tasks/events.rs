//! The events task: takes the network's events and hands each to its handler. It never waits
//! on slow work: gossip goes to the bounded pipeline queue, requests to tasks of their own
//! (bounded concurrency), file writes to blocking threads.

use std::sync::Arc;

use flashback_net::{Multiaddr, NetEvent, NetHandle, PeerId, Protocol, ResponseToken};
use flashback_types::wire::encode_message;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::NodeInfo;
use crate::address_book::Book;
use crate::files::JsonFile;
use crate::gossip::Queue;
use crate::info::dialable;
use crate::metrics::Metrics;
use crate::service::Services;

/// Most inbound requests handled at once; more are dropped (the requester times out).
const MAX_CONCURRENT_REQUESTS: usize = 64;

/// What the events task hands events to.
pub(crate) struct EventTask {
    pub(crate) net: NetHandle,
    pub(crate) services: Services,
    pub(crate) gossip: Queue,
    /// New peers, for the syncer.
    pub(crate) sync: mpsc::Sender<PeerId>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) book: Arc<Book>,
    pub(crate) node_file: Arc<JsonFile<NodeInfo>>,
    pub(crate) tasks: TaskTracker,
    pub(crate) stop: CancellationToken,
}

impl EventTask {
    pub(crate) async fn run(self, mut events: mpsc::Receiver<NetEvent>) {
        let requests = Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS));
        let mut peers = 0usize;
        loop {
            let event = tokio::select! {
                biased;
                () = self.stop.cancelled() => break,
                event = events.recv() => match event {
                    Some(event) => event,
                    None => break,
                },
            };
            match event {
                NetEvent::Gossip {
                    topic,
                    data,
                    msg_id,
                    source,
                } => {
                    self.gossip
                        .enqueue(&self.net, topic, data, msg_id, source)
                        .await;
                }
                NetEvent::InboundRequest {
                    protocol,
                    peer,
                    data,
                    reply,
                } => self.on_request(&requests, protocol, peer, data, reply),
                NetEvent::PeerConnected(peer) => {
                    peers += 1;
                    self.metrics.set_peers(peers);
                    let _ = self.sync.try_send(peer);
                }
                NetEvent::PeerDisconnected(_) => {
                    peers = peers.saturating_sub(1);
                    self.metrics.set_peers(peers);
                }
                // The file is written off the event loop, at most one write queued at a time.
                NetEvent::PeerIdentified { peer, listen_addrs } => {
                    self.on_identified(peer, &listen_addrs);
                }
                // The whole set again, not the change: an event the queue dropped is made good.
                NetEvent::ListenAddr(_) | NetEvent::ListenAddrExpired(_) => {
                    self.on_listen_addrs_changed().await;
                }
                _ => {}
            }
        }
    }

    /// Answers a request on a task of its own, tracked so that shutdown waits for it (it holds
    /// the store); dropped when `MAX_CONCURRENT_REQUESTS` are in flight.
    fn on_request(
        &self,
        requests: &Arc<Semaphore>,
        protocol: Protocol,
        peer: PeerId,
        data: Vec<u8>,
        reply: ResponseToken,
    ) {
        let Ok(permit) = requests.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "too many requests in flight: dropping one");
            return;
        };
        let services = self.services.clone();
        let net = self.net.clone();
        self.tasks.spawn(async move {
            let _permit = permit;
            let response = match protocol {
                Protocol::Sync => {
                    let store = services.store.clone();
                    let resp =
                        tokio::task::spawn_blocking(move || crate::sync::serve(&store, &data))
                            .await;
                    match resp {
                        Ok(resp) => encode_message(&resp),
                        Err(_) => return,
                    }
                }
                Protocol::Query => encode_message(&services.query(peer, &data).await),
                Protocol::Submit => encode_message(&services.submit(&data).await),
            };
            if let Err(e) = net.respond(reply, response).await {
                tracing::debug!(%peer, error = %e, "could not answer a request");
            }
        });
    }

    fn on_identified(&self, peer: PeerId, listen_addrs: &[Multiaddr]) {
        if self.book.remember(peer, listen_addrs) {
            let book = self.book.clone();
            self.tasks.spawn_blocking(move || book.save());
        }
    }

    async fn on_listen_addrs_changed(&self) {
        let Ok(addrs) = self.net.listen_addrs().await else {
            return;
        };
        let addrs = dialable(addrs, self.net.local_peer_id());
        let save = self.node_file.update(|info| {
            let changed = info.listen_addrs != addrs;
            info.listen_addrs = addrs;
            changed
        });
        if save {
            let node_file = self.node_file.clone();
            self.tasks.spawn_blocking(move || {
                if let Err(e) = node_file.save() {
                    tracing::warn!(error = %e, "could not update node.json");
                }
            });
        }
    }
}
