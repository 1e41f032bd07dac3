//! The Flashback light client: what consumers, providers' tools and service gateways embed.
//!
//! A light client keeps no listing. It connects to one or more full nodes over libp2p
//! (`/flashback/query/1`, `/flashback/submit/1`), and **verifies every object it receives**:
//! signatures, canonical encoding, field rules and expiry. A node that serves a forged or
//! altered object is reported as [`ClientError::BadObject`], never believed.
//!
//! ```no_run
//! # async fn run() -> Result<(), flashback_client::ClientError> {
//! use flashback_client::Client;
//! use flashback_types::{OfferQuery, SortKey};
//!
//! let client = Client::connect(&["/ip4/127.0.0.1/tcp/4077/p2p/12D3KooW...".to_owned()]).await?;
//! let page = client
//!     .query_offers(&OfferQuery { sort: SortKey::Price, limit: 10, ..Default::default() })
//!     .await?;
//! for offer in &page.offers {
//!     println!("{} {} {}", offer.id(), offer.body().offer_key, offer.body().price.amount);
//! }
//! client.close().await;
//! # Ok(()) }
//! ```

mod audit;
mod certify;
mod certs;
mod compliance;
mod crosscheck;
pub mod data;
pub mod deal;
pub mod deal_service;
pub mod http;
pub mod human;
mod lifecycle;
pub mod pay;
pub mod price;
pub mod probe;
mod publish;
pub mod reach;
pub mod recommend;
mod resolve;
pub mod settle;
mod sla;
mod spec;

use std::time::Duration;

use flashback_net::{Multiaddr, NetConfig, NetEvent, NetHandle, PeerId, Protocol};
use flashback_types::clock::now;
use flashback_types::wire::{
    NodeStatus, ObjectBytes, PeerInfo, QueryRequest, QueryResponse, SubmitRequest, SubmitResponse,
    decode_response, encode_message,
};
use flashback_types::{
    Cursor, ErrorCode, MAX_QUERY_LIMIT, Object, ObjectError, ObjectId, Offer, OfferQuery,
    RejectReason, Rule, SecretKey, Signed, TimeRules,
};
use tokio::sync::mpsc;

pub use audit::VerifiedProviderReport;
pub use certify::Certify;
pub use certs::{CertifiedPage, Register, TrustSource, VerifiedCertPage};
pub use compliance::{ComplianceReport, DocumentCheck, DocumentOutcome, VERIFIED_PLACE_CLAIMS};
pub use crosscheck::{CrossCheck, Gap, GapKind, MAX_CHECK_OFFERS, MAX_DRILL_PROVIDERS, NodeView};
pub use human::parse_duration;
pub use lifecycle::{AgreementRecord, AgreementStatus, Commitment};
pub use publish::{Published, SeqBook, Withdrawn};
pub use recommend::Feed;
pub use sla::{Terms, limits_for};
pub use spec::{
    ComplianceDocSpec, ComputeSpecText, OfferSpec, PriceSpec, QosSpec, parse_protocol, parse_size,
};

/// Most offers [`Client::all_offers`] fetches (pages of 200): a bound on memory and on the
/// node's work.
pub const MAX_ALL_OFFERS: usize = 1_000_000;

/// What can go wrong for a light client. Every message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The address given for a node is not usable.
    #[error("bad node address {addr:?}: {detail}")]
    BadAddress {
        /// What was given.
        addr: String,
        /// Why it is unusable.
        detail: String,
    },
    /// No node could be reached.
    #[error(
        "cannot reach node {addr}: {detail}; is it running? (check the address, or start one with `flashback node run`)"
    )]
    Unreachable {
        /// The node.
        addr: String,
        /// Why.
        detail: String,
    },
    /// The network layer failed.
    #[error(transparent)]
    Net(#[from] flashback_net::NetError),
    /// The node answered with something that is not a valid response.
    #[error("node {node} sent an unreadable response: {detail}")]
    BadResponse {
        /// The node.
        node: String,
        /// Why.
        detail: String,
    },
    /// The node served an object that does not verify. The node is faulty or malicious.
    #[error("node {node} served an object that does not verify ({error}); do not trust this node")]
    BadObject {
        /// The node.
        node: String,
        /// The failed rule.
        error: ObjectError,
    },
    /// The node refused our object.
    #[error("refused by the node: {rule}: {detail}", rule = rule.name())]
    Refused {
        /// The rule.
        rule: Rule,
        /// Details.
        detail: String,
    },
    /// The node reported an error.
    #[error("node error: {0}")]
    Node(String),
    /// The node refused to serve a request, saying why.
    #[error("node error: {message}")]
    NodeReply {
        /// Why, for programs.
        code: ErrorCode,
        /// Why, for people.
        message: String,
    },
    /// Input from the user is not valid.
    #[error("{0}")]
    InvalidInput(String),
    /// Nothing matches the id, key or name given.
    #[error("{0}")]
    NotFound(String),
    /// An id prefix matches more than one object.
    #[error(
        "{noun} id {prefix} is ambiguous: it starts {}{}: {}; give more characters",
        human::count(matches.len(), noun),
        if *more { " and more" } else { "" },
        matches.join(", ")
    )]
    Ambiguous {
        /// What the ids name (`offer`, `agreement`, `key`).
        noun: &'static str,
        /// The prefix given.
        prefix: String,
        /// Ids that start with it (at most 16).
        matches: Vec<String>,
        /// More matched than listed.
        more: bool,
    },
    /// A sequence number or version conflicts with what this key has signed or the node
    /// holds; the message says what to pass instead.
    #[error("{0}")]
    Conflict(String),
    /// A proposal breaks the offer's terms; checked before anything is signed.
    #[error("the proposal breaks the offer's terms ({}): {detail}", reason.code())]
    Terms {
        /// The term broken, as the provider's node would reject it.
        reason: RejectReason,
        /// The offer's limit against what was asked.
        detail: String,
    },
    /// Too little data to answer; the message says how much there is and what to widen.
    #[error("{0}")]
    TooLittleData(String),
    /// No placement meets the request, whatever the market answers; the message names the
    /// binding rule.
    #[error("no placement meets the request: {0}")]
    Infeasible(String),
    /// No provider quoted a demand within the window.
    #[error("{0}")]
    NoQuotes(String),
    /// A deal ended with fewer agreements than asked for.
    #[error("{0}")]
    DealShort(String),
    /// An HTTP request got no usable answer.
    #[error("{url}: {detail}; is the endpoint up and reachable?")]
    Http {
        /// The request's URL.
        url: String,
        /// What went wrong.
        detail: String,
    },
}

impl ClientError {
    /// The stable code of this error ([`ErrorCode`]), for programs.
    pub fn code(&self) -> ErrorCode {
        use flashback_net::NetError;
        match self {
            ClientError::BadAddress { .. }
            | ClientError::InvalidInput(_)
            | ClientError::Terms { .. } => ErrorCode::InvalidInput,
            ClientError::Unreachable { .. } => ErrorCode::Unreachable,
            ClientError::Net(NetError::RequestTimeout { .. }) => ErrorCode::Timeout,
            ClientError::Net(NetError::Dial { .. }) => ErrorCode::Unreachable,
            ClientError::Net(_) | ClientError::Node(_) => ErrorCode::NodeFailed,
            ClientError::NodeReply { code, .. } => *code,
            ClientError::BadResponse { .. } | ClientError::BadObject { .. } => ErrorCode::BadNode,
            ClientError::Refused { rule, .. } => match rule {
                Rule::Duplicate | Rule::Superseded | Rule::Equivocation => ErrorCode::Conflict,
                _ => ErrorCode::Refused,
            },
            ClientError::NotFound(_) => ErrorCode::NotFound,
            ClientError::Ambiguous { .. } => ErrorCode::Ambiguous,
            ClientError::Conflict(_) => ErrorCode::Conflict,
            ClientError::Http { .. } => ErrorCode::Endpoint,
            ClientError::TooLittleData(_) => ErrorCode::TooLittleData,
            ClientError::Infeasible(_) => ErrorCode::Infeasible,
            ClientError::NoQuotes(_) => ErrorCode::NoQuotes,
            ClientError::DealShort(_) => ErrorCode::DealShort,
        }
    }
}

/// A page of verified offers.
#[derive(Debug, Clone)]
pub struct OfferPage {
    /// Offers, each verified.
    pub offers: Vec<Signed<Offer>>,
    /// Pass in the next query's `cursor` to continue.
    pub next_cursor: Option<Cursor>,
}

/// Every offer of a query, page after page ([`Client::all_offers`]).
#[derive(Debug, Clone, Default)]
pub struct AllOffers {
    /// Offers, each verified, in the query's order.
    pub offers: Vec<Signed<Offer>>,
    /// Pages fetched.
    pub pages: usize,
    /// More matched than the bound let through.
    pub truncated: bool,
}

/// What the node did with a submitted object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    /// The object id.
    pub id: ObjectId,
    /// The node already had it.
    pub duplicate: bool,
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// How long to wait for each node's connection.
    pub connect_timeout: Duration,
    /// Clock-skew tolerance applied to received objects.
    pub time: TimeRules,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            time: TimeRules::default(),
        }
    }
}

/// A connection to one or more full nodes.
pub struct Client {
    net: NetHandle,
    nodes: Vec<PeerId>,
    /// The order in which single-node reads ask: as given, until a cross-check finds a node
    /// withholding and moves it to the back.
    order: std::sync::Mutex<Vec<PeerId>>,
    config: ClientConfig,
}

impl Client {
    /// Connects to the nodes at `addrs` (multiaddrs ending in `/p2p/<peer id>`).
    pub async fn connect(addrs: &[String]) -> Result<Self, ClientError> {
        Self::connect_with(addrs, ClientConfig::default()).await
    }

    /// Like [`Client::connect`], with settings.
    pub async fn connect_with(addrs: &[String], config: ClientConfig) -> Result<Self, ClientError> {
        if addrs.is_empty() {
            return Err(ClientError::InvalidInput(
                "no node address given: pass --node <multiaddr>".into(),
            ));
        }
        let mut targets = Vec::new();
        for addr in addrs {
            let parsed: Multiaddr = addr.parse().map_err(|e| ClientError::BadAddress {
                addr: addr.clone(),
                detail: format!("not a multiaddr ({e})"),
            })?;
            let peer = parsed
                .iter()
                .find_map(|p| match p {
                    flashback_net::multiaddr::Protocol::P2p(peer) => Some(peer),
                    _ => None,
                })
                .ok_or_else(|| ClientError::BadAddress {
                    addr: addr.clone(),
                    detail: "missing the /p2p/<peer id> suffix".into(),
                })?;
            targets.push((addr.clone(), parsed, peer));
        }

        // A light client is a libp2p peer that does not listen, gossip or serve the DHT.
        let net_config = NetConfig {
            listen: Vec::new(),
            enable_kad: false,
            gossip: false,
            ..NetConfig::default()
        };
        // The transport identity is throwaway: objects are signed with the user's own key.
        let transport_key = SecretKey::generate().to_libp2p_keypair();
        let (net, mut events) = flashback_net::NetBuilder::new(transport_key, net_config)
            .spawn()
            .await?;
        let mut waiting: Vec<PeerId> = targets.iter().map(|(_, _, p)| *p).collect();
        for (addr, parsed, _) in &targets {
            net.dial(parsed.clone())
                .await
                .map_err(|e| ClientError::Unreachable {
                    addr: addr.clone(),
                    detail: e.to_string(),
                })?;
        }
        let wait = async {
            while !waiting.is_empty() {
                match events.recv().await {
                    Some(NetEvent::PeerConnected(peer)) => waiting.retain(|p| *p != peer),
                    Some(NetEvent::DialFailed {
                        peer: Some(peer),
                        error,
                    }) => {
                        if let Some((addr, _, _)) = targets.iter().find(|(_, _, p)| *p == peer) {
                            return Err(ClientError::Unreachable {
                                addr: addr.clone(),
                                detail: error,
                            });
                        }
                    }
                    Some(_) => {}
                    None => {
                        return Err(ClientError::Node("network stopped".into()));
                    }
                }
            }
            Ok(())
        };
        match tokio::time::timeout(config.connect_timeout, wait).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = net.shutdown().await;
                return Err(e);
            }
            Err(_) => {
                let _ = net.shutdown().await;
                let addr = targets
                    .iter()
                    .find(|(_, _, p)| waiting.contains(p))
                    .map_or_else(String::new, |(a, _, _)| a.clone());
                return Err(ClientError::Unreachable {
                    addr,
                    detail: format!("no connection within {:?}", config.connect_timeout),
                });
            }
        }
        // Keep draining events so the network never blocks on us.
        tokio::spawn(drain(events));
        let nodes: Vec<PeerId> = targets.into_iter().map(|(_, _, p)| p).collect();
        Ok(Self {
            net,
            order: std::sync::Mutex::new(nodes.clone()),
            nodes,
            config,
        })
    }

    /// The nodes this client talks to, as given.
    pub fn nodes(&self) -> &[PeerId] {
        &self.nodes
    }

    /// The node single-node reads go to: the first one given, unless a
    /// [`cross_check`](Client::cross_check) found it withholding and another did not.
    pub fn preferred_node(&self) -> PeerId {
        self.first()
    }

    fn order(&self) -> std::sync::MutexGuard<'_, Vec<PeerId>> {
        // The order is a plain list: a panic elsewhere cannot leave it half-written.
        self.order
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn first(&self) -> PeerId {
        self.order().first().copied().unwrap_or(self.nodes[0])
    }

    /// One request to `node` and its decoded response.
    async fn ask<T: serde::de::DeserializeOwned>(
        &self,
        node: PeerId,
        protocol: Protocol,
        request: Vec<u8>,
    ) -> Result<T, ClientError> {
        let bytes = self.net.request(node, protocol, request).await?;
        decode_response::<T>(&bytes).map_err(|e| ClientError::BadResponse {
            node: node.to_string(),
            detail: e.to_string(),
        })
    }

    pub(crate) async fn query_node(
        &self,
        node: PeerId,
        req: &QueryRequest,
    ) -> Result<QueryResponse, ClientError> {
        match self.ask(node, Protocol::Query, encode_message(req)).await? {
            QueryResponse::Error(e) => Err(ClientError::NodeReply {
                code: e.code,
                message: e.message.to_string(),
            }),
            resp => Ok(resp),
        }
    }

    fn verify(&self, node: PeerId, bytes: &ObjectBytes) -> Result<Object, ClientError> {
        Object::decode_at(bytes, now(), &self.config.time).map_err(|error| ClientError::BadObject {
            node: node.to_string(),
            error,
        })
    }

    /// Offers matching `query`, from the first node, each verified.
    pub async fn query_offers(&self, query: &OfferQuery) -> Result<OfferPage, ClientError> {
        self.query_offers_at(self.first(), query).await
    }

    /// Offers matching `query` from one given node.
    pub async fn query_offers_at(
        &self,
        node: PeerId,
        query: &OfferQuery,
    ) -> Result<OfferPage, ClientError> {
        match self
            .query_node(node, &QueryRequest::Offers(query.clone()))
            .await?
        {
            QueryResponse::Offers {
                offers,
                next_cursor,
            } => {
                let mut out = Vec::with_capacity(offers.len());
                for bytes in offers.iter() {
                    match self.verify(node, bytes)? {
                        Object::Offer(o) => out.push(o),
                        other => {
                            return Err(ClientError::BadResponse {
                                node: node.to_string(),
                                detail: format!("a {} in an offer list", other.kind()),
                            });
                        }
                    }
                }
                Ok(OfferPage {
                    offers: out,
                    next_cursor,
                })
            }
            _ => Err(self.wrong(node)),
        }
    }

    /// Every page of `query` from the first node, each offer verified, until `max` offers
    /// (at most [`MAX_ALL_OFFERS`]). Pages hold `query.limit` offers (0: [`MAX_QUERY_LIMIT`]).
    pub async fn all_offers(
        &self,
        query: &OfferQuery,
        max: usize,
    ) -> Result<AllOffers, ClientError> {
        let max = max.min(MAX_ALL_OFFERS);
        let mut query = query.clone();
        if query.limit == 0 {
            query.limit = MAX_QUERY_LIMIT;
        }
        let mut all = AllOffers::default();
        loop {
            let page = self.query_offers(&query).await?;
            all.pages += 1;
            all.offers.extend(page.offers);
            match page.next_cursor {
                Some(cursor) if all.offers.len() < max => query.cursor = Some(cursor),
                next => {
                    all.truncated = next.is_some() || all.offers.len() > max;
                    all.offers.truncate(max);
                    return Ok(all);
                }
            }
        }
    }

    /// Objects by id, each verified.
    pub async fn get(&self, ids: &[ObjectId]) -> Result<Vec<Object>, ClientError> {
        let node = self.first();
        let ids = flashback_types::BoundedVec::try_from_vec(ids.to_vec())
            .map_err(|e| ClientError::InvalidInput(format!("too many ids: {e}")))?;
        match self.query_node(node, &QueryRequest::Get { ids }).await? {
            QueryResponse::Objects { objects } => {
                objects.iter().map(|b| self.verify(node, b)).collect()
            }
            _ => Err(self.wrong(node)),
        }
    }

    /// Agreements where `party` is the consumer or the provider (all the node returns when
    /// `None`), each verified. Agreements the node still holds after their end are left out.
    pub async fn agreements(
        &self,
        party: Option<flashback_types::PublicKey>,
    ) -> Result<Vec<flashback_types::Agreement>, ClientError> {
        let node = self.first();
        let QueryResponse::Objects { objects } = self
            .query_node(node, &QueryRequest::Agreements { party })
            .await?
        else {
            return Err(self.wrong(node));
        };
        let mut out = Vec::with_capacity(objects.len());
        for bytes in objects.iter() {
            let agreement = match Object::decode(bytes) {
                Ok(Object::Agreement(a)) => a,
                Ok(other) => {
                    return Err(ClientError::BadResponse {
                        node: node.to_string(),
                        detail: format!("a {} in an agreement list", other.kind()),
                    });
                }
                Err(error) => {
                    return Err(ClientError::BadObject {
                        node: node.to_string(),
                        error,
                    });
                }
            };
            if party.is_some_and(|p| agreement.consumer() != &p && agreement.provider() != &p) {
                return Err(ClientError::BadResponse {
                    node: node.to_string(),
                    detail: "an agreement between other parties".into(),
                });
            }
            // Ended (not yet collected by the node) or not yet valid: not an error of the node.
            let (created, expires) = (agreement.created_at(), agreement.expires_at());
            if self.config.time.check(created, expires, now()).is_ok() {
                out.push(agreement);
            }
        }
        Ok(out)
    }

    /// The node's status.
    pub async fn status(&self) -> Result<NodeStatus, ClientError> {
        let node = self.first();
        match self.query_node(node, &QueryRequest::Status).await? {
            QueryResponse::Status(s) => Ok(s),
            _ => Err(self.wrong(node)),
        }
    }

    /// The peers the node is connected to.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, ClientError> {
        let node = self.first();
        match self.query_node(node, &QueryRequest::Peers).await? {
            QueryResponse::Peers(peers) => Ok(peers.into_inner()),
            _ => Err(self.wrong(node)),
        }
    }

    /// Hands a signed object to the first node, which validates, stores and publishes it.
    pub async fn submit(&self, object: &Object) -> Result<Submitted, ClientError> {
        let node = self.first();
        let req = SubmitRequest {
            object: ObjectBytes::from(object.encoded().to_vec()),
        };
        match self
            .ask(node, Protocol::Submit, encode_message(&req))
            .await?
        {
            SubmitResponse::Accepted { id, duplicate } => Ok(Submitted { id, duplicate }),
            SubmitResponse::Refused { rule, detail } => Err(ClientError::Refused {
                rule,
                detail: detail.to_string(),
            }),
            SubmitResponse::Error(e) => Err(ClientError::NodeReply {
                code: e.code,
                message: e.message.to_string(),
            }),
        }
    }

    pub(crate) fn wrong(&self, node: PeerId) -> ClientError {
        ClientError::BadResponse {
            node: node.to_string(),
            detail: "answered with the wrong message".into(),
        }
    }

    /// Closes the connections.
    pub async fn close(self) {
        let _ = self.net.shutdown().await;
    }
}

async fn drain(mut events: mpsc::Receiver<NetEvent>) {
    while events.recv().await.is_some() {}
}
