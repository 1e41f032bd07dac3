//! The withholding node: a peer that answers light clients and other nodes
//! (`/flashback/query/1`, `/flashback/sync/1`, `/flashback/submit/1`) from a real node's
//! listing, with one provider's offers taken out of every answer. It is the misbehaviour a
//! light client's cross-check must name (decision 0060), kept here rather than in the node so
//! that no node binary carries a switch to lie.
//!
//! Each request is relayed to the upstream node and its answer filtered: the provider's offers
//! leave offer pages, fetched objects and its provider report; its digest leaves the sync
//! summary, and its offer list comes back empty. The listing digest is passed on unchanged, as
//! a withholder that does not bother to hide would; a light client compares the per-provider
//! digests anyway.

use std::sync::Arc;
use std::time::Duration;

use flashback_net::{Multiaddr, NetConfig, NetEvent, NetHandle, PeerId, Protocol, ResponseToken};
use flashback_types::wire::{
    ObjectBytes, QueryRequest, QueryResponse, SyncRequest, SyncResponse, decode_request,
    decode_response, encode_message,
};
use flashback_types::{BoundedVec, Object, PublicKey, SecretKey};
use tokio::sync::Semaphore;

use crate::TestnetError;

/// Requests answered at once; more are dropped (the asker times out), as a node does.
const MAX_IN_FLIGHT: usize = 16;

/// How long the withholder waits to reach its upstream node and to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running withholding node.
pub struct Withholder {
    net: NetHandle,
    serve: tokio::task::JoinHandle<()>,
    /// Its peer id.
    pub peer: PeerId,
    /// Its dialable address (`…/p2p/<peer>`).
    pub addr: String,
}

impl Withholder {
    /// Starts a withholder that relays `upstream` (a node's `…/p2p/<peer>` address) and drops
    /// `victim`'s offers, listening on a free loopback port.
    pub async fn start(upstream: &str, victim: PublicKey) -> Result<Self, TestnetError> {
        let parsed: Multiaddr = upstream
            .parse()
            .map_err(|e| TestnetError::Node(format!("upstream address {upstream:?}: {e}")))?;
        let upstream_peer = parsed
            .iter()
            .find_map(|p| match p {
                flashback_net::multiaddr::Protocol::P2p(peer) => Some(peer),
                _ => None,
            })
            .ok_or_else(|| {
                TestnetError::Node(format!("upstream address {upstream:?} has no /p2p/ part"))
            })?;
        let config = NetConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            bootstrap: vec![upstream.to_owned()],
            gossip: false,
            enable_kad: false,
            ..NetConfig::default()
        };
        let key = SecretKey::generate().to_libp2p_keypair();
        let (net, mut events) = flashback_net::NetBuilder::new(key, config).spawn().await?;
        let peer = net.local_peer_id();

        // Until it listens and reaches its upstream.
        let mut listen = None;
        let mut connected = false;
        let ready = async {
            while listen.is_none() || !connected {
                match events.recv().await {
                    Some(NetEvent::ListenAddr(a)) => listen = Some(a),
                    Some(NetEvent::PeerConnected(p)) if p == upstream_peer => connected = true,
                    Some(_) => {}
                    None => return false,
                }
            }
            true
        };
        let ready = tokio::time::timeout(START_TIMEOUT, ready)
            .await
            .unwrap_or(false);
        let Some(listen) = listen.filter(|_| ready) else {
            let _ = net.shutdown().await;
            return Err(TestnetError::Node(format!(
                "the withholding node could not reach {upstream} within {START_TIMEOUT:?}"
            )));
        };
        let relay = Relay {
            net: net.clone(),
            upstream: upstream_peer,
            victim,
        };
        let serve = tokio::spawn(async move {
            let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
            while let Some(event) = events.recv().await {
                let NetEvent::InboundRequest {
                    protocol,
                    data,
                    reply,
                    ..
                } = event
                else {
                    continue;
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    continue;
                };
                let relay = relay.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    relay.answer(protocol, data, reply).await;
                });
            }
        });
        Ok(Self {
            net,
            serve,
            peer,
            addr: format!("{listen}/p2p/{peer}"),
        })
    }

    /// Stops it.
    pub async fn stop(self) {
        let _ = self.net.shutdown().await;
        self.serve.abort();
    }
}

#[derive(Clone)]
struct Relay {
    net: NetHandle,
    upstream: PeerId,
    victim: PublicKey,
}

impl Relay {
    async fn answer(&self, protocol: Protocol, data: Vec<u8>, reply: ResponseToken) {
        let Ok(upstream) = self
            .net
            .request(self.upstream, protocol, data.clone())
            .await
        else {
            return;
        };
        let answer = match protocol {
            Protocol::Query => self.query(&data, &upstream),
            Protocol::Sync => self.sync(&data, &upstream),
            Protocol::Submit => None,
        };
        let _ = self.net.respond(reply, answer.unwrap_or(upstream)).await;
    }

    /// `objects` without the victim's offers.
    fn keep<const N: usize>(
        &self,
        objects: BoundedVec<ObjectBytes, N>,
    ) -> BoundedVec<ObjectBytes, N> {
        let kept: Vec<ObjectBytes> = objects
            .into_inner()
            .into_iter()
            .filter(|b| {
                !matches!(Object::decode(b), Ok(Object::Offer(o)) if o.body().provider == self.victim)
            })
            .collect();
        // Fewer than before: always within the bound.
        BoundedVec::try_from_vec(kept).unwrap_or_default()
    }

    fn query(&self, request: &[u8], upstream: &[u8]) -> Option<Vec<u8>> {
        let request: QueryRequest = decode_request(request).ok()?;
        let answer = match decode_response::<QueryResponse>(upstream).ok()? {
            QueryResponse::Offers {
                offers,
                next_cursor,
            } => QueryResponse::Offers {
                offers: self.keep(offers),
                next_cursor,
            },
            QueryResponse::Objects { objects } => QueryResponse::Objects {
                objects: self.keep(objects),
            },
            QueryResponse::Provider(mut report) if matches!(request, QueryRequest::Provider { provider } if provider == self.victim) =>
            {
                report.offers = BoundedVec::default();
                QueryResponse::Provider(report)
            }
            _ => return None,
        };
        Some(encode_message(&answer))
    }

    fn sync(&self, request: &[u8], upstream: &[u8]) -> Option<Vec<u8>> {
        let request: SyncRequest = decode_request(request).ok()?;
        let answer = match decode_response::<SyncResponse>(upstream).ok()? {
            SyncResponse::Summary {
                listing,
                kinds,
                providers,
                more,
            } => SyncResponse::Summary {
                listing,
                kinds,
                providers: BoundedVec::try_from_vec(
                    providers
                        .into_inner()
                        .into_iter()
                        .filter(|(p, _)| *p != self.victim)
                        .collect(),
                )
                .unwrap_or_default(),
                more,
            },
            SyncResponse::Provider { .. } if matches!(request, SyncRequest::Provider { provider } if provider == self.victim) => {
                SyncResponse::Provider {
                    offers: BoundedVec::default(),
                }
            }
            SyncResponse::Objects { objects } => SyncResponse::Objects {
                objects: self.keep(objects),
            },
            _ => return None,
        };
        Some(encode_message(&answer))
    }
}
