//! The Flashback full node: a libp2p peer (`flashback-net`) that validates every object it
//! hears about (`flashback-types`), keeps the listing (`flashback-store`), reconciles it with
//! its peers, and serves light clients.
//!
//! Tasks, all stopped by [`Node::shutdown`]:
//! - on the **network task** itself (`InlineGossip`, a `flashback_net::GossipValidator`):
//!   while the pipeline is idle, each gossip message is verified as it arrives and its
//!   verdict reported at once (a new offer is listed right after that, once its forwards are
//!   queued; other kinds before); only the flush is left to the settler;
//! - **events**: takes the network's events; other gossip goes to the pipeline queue (bounded: when
//!   it is full the message is reported `Ignore`, never blocking the swarm), requests go to
//!   the services (bounded concurrency), new peers to the syncer;
//! - **pipeline**: batches gossip, verifies (in parallel, off the swarm task, for large
//!   batches), enters the valid objects in the listing, and reports Accept / Reject / Ignore
//!   to gossipsub at once;
//! - **settler**: makes what the pipeline listed durable, many batches per flush (group commit
//!   within `pipeline.flush_delay_ms`), then announces it to [`Node::subscribe_applied`];
//! - **sync**: anti-entropy rounds on connect and every `sync.interval_secs`;
//! - **gc**: drops expired objects every minute;
//! - **metrics**: Prometheus text on `metrics.listen`.
//!
//! ```no_run
//! # async fn run() -> Result<(), flashback_node::NodeError> {
//! use flashback_node::{Node, NodeConfig};
//! let config = NodeConfig::default();
//! let key = flashback_types::SecretKey::generate();
//! let node = Node::start(config, key).await?;
//! println!("listening on {:?}", node.info().listen_addrs);
//! node.shutdown().await;
//! # Ok(()) }
//! ```

mod admin;
mod blobs;
mod clock;
mod config;
mod files;
mod inline;
mod metrics;
mod pipeline;
mod service;
mod sla;
mod sync;
mod trace;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use files::JsonFile;
use flashback_net::{NetBuilder, NetEvent, NetHandle, Protocol, Registry, Validation};
use flashback_store::Store;
use flashback_types::wire::encode_message;
use flashback_types::{BoundedVec, Object, PublicKey, SecretKey};
use inline::InlineGossip;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use admin::ADMIN_TOKEN;
pub use clock::now;
pub use config::{
    BlobConfig, MetricsConfig, NODE_JSON, NodeConfig, PipelineConfig, SyncConfig, default_data_dir,
};
pub use pipeline::{Listed, Validator, Verdict, topic_for};
pub use sla::{SlaPolicy, decide};
pub use sync::RoundStats;
pub use trace::APPLIED_LOG;

/// Why the node could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The listing store failed.
    #[error(transparent)]
    Store(#[from] flashback_store::StoreError),
    /// The network failed.
    #[error(transparent)]
    Net(#[from] flashback_net::NetError),
    /// A file in the data dir could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The metrics endpoint could not start.
    #[error("metrics endpoint: {0}")]
    Metrics(String),
    /// A peer misbehaved or answered wrongly.
    #[error("{0}")]
    Peer(String),
    /// A bug or an internal task failure.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a running node tells scripts and light clients (written to `<data_dir>/node.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's libp2p peer id.
    pub peer_id: String,
    /// The node's public key (the same key as the peer id).
    pub public_key: PublicKey,
    /// Addresses the node listens on, each ending in `/p2p/<peer id>` (dialable as given).
    pub listen_addrs: Vec<String>,
    /// Where `/metrics` is served, if enabled.
    pub metrics_addr: Option<SocketAddr>,
    /// Base URL of the reference blob endpoint (`http://127.0.0.1:PORT`), if enabled.
    #[serde(default)]
    pub blob_endpoint: Option<String>,
    /// The data dir.
    pub data_dir: PathBuf,
    /// The node's process id.
    pub pid: u32,
    /// The software version.
    pub version: String,
}

impl NodeInfo {
    /// Reads `node.json` from a data dir.
    pub fn load(data_dir: &Path) -> Result<Self, NodeError> {
        let path = data_dir.join(NODE_JSON);
        let text = std::fs::read_to_string(&path).map_err(|source| NodeError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| NodeError::Io {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// The first loopback address if any (what a local light client should dial), else the first
    /// address.
    pub fn dial_addr(&self) -> Option<&str> {
        self.listen_addrs
            .iter()
            .find(|a| a.starts_with("/ip4/127.") && a.contains("/tcp/"))
            .or_else(|| self.listen_addrs.first())
            .map(String::as_str)
    }
}

/// A running full node.
pub struct Node {
    info: NodeInfo,
    store: Store,
    net: NetHandle,
    validator: Validator,
    services: service::Services,
    listed: broadcast::Sender<Listed>,
    applied: broadcast::Sender<Object>,
    registry: Arc<Mutex<Registry>>,
    stop: CancellationToken,
    tasks: TaskTracker,
    node_json: PathBuf,
}

impl Node {
    /// Opens the store, starts the network and every task, and writes `node.json`.
    pub async fn start(config: NodeConfig, key: SecretKey) -> Result<Self, NodeError> {
        let data_dir = config.data_dir.clone();
        std::fs::create_dir_all(&data_dir).map_err(|source| NodeError::Io {
            path: data_dir.clone(),
            source,
        })?;
        let store_path = data_dir.join("store");
        let store_config = config.store.clone();
        let store = blocking(move || Ok(Store::open(&store_path, store_config)?)).await?;

        let mut registry = Registry::default();
        let metrics = metrics::Metrics::register(&mut registry);
        let mut net_config = config.net.clone();
        let book = Arc::new(address_book::Book::load(&data_dir));
        for addr in book.dial_list() {
            if !net_config.bootstrap.contains(&addr) {
                net_config.bootstrap.push(addr);
            }
        }
        if net_config.bootstrap.is_empty() && !net_config.enable_mdns {
            tracing::info!(
                "no peer to join (no bootstrap address, none remembered in peers.json, mDNS off): \
                 this node waits for others to dial it; pass --bootstrap <multiaddr> or --mdns \
                 to join a network"
            );
        }
        let (applied_tx, _) = broadcast::channel(1024);
        let (listed_tx, _) = broadcast::channel(1024);
        // Subscribed before anything can be stored (the network task lists gossip as it
        // arrives), so the trace misses nothing.
        let trace = config.trace_applied.then(|| listed_tx.subscribe());
        let validator = Validator::new(
            store.clone(),
            config.time,
            config.pipeline.verify_threads,
            metrics.clone(),
            listed_tx.clone(),
            applied_tx.clone(),
        );
        let (gossip_tx, gossip_rx) = mpsc::channel(config.pipeline.queue_capacity.max(1));
        let (settle_tx, settle_rx) = mpsc::channel(SETTLE_QUEUE);
        let inline: Arc<dyn flashback_net::GossipValidator> = Arc::new(InlineGossip::new(
            validator.clone(),
            gossip_tx.clone(),
            settle_tx.downgrade(),
            config.pipeline.inline_percent,
            metrics.clone(),
        ));
        let started = NetBuilder::new(key.to_libp2p_keypair(), net_config)
            .metrics(&mut registry)
            .gossip_validator(inline.clone())
            .spawn()
            .await;
        let (net, events) = match started {
            Ok(started) => started,
            // A stale address-book entry must not keep a node from starting.
            Err(flashback_net::NetError::InvalidMultiaddr { .. }) => {
                NetBuilder::new(key.to_libp2p_keypair(), config.net.clone())
                    .metrics(&mut registry)
                    .gossip_validator(inline)
                    .spawn()
                    .await?
            }
            Err(e) => return Err(e.into()),
        };

        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let registry = Arc::new(Mutex::new(registry));
        let metrics_addr = if config.metrics.enabled {
            let admin = if config.metrics.admin {
                if !config.metrics.listen.ip().is_loopback() {
                    return Err(NodeError::Metrics(format!(
                        "the admin endpoint is served on loopback only, not {}: set metrics.listen to 127.0.0.1:<port> or turn metrics.admin off",
                        config.metrics.listen
                    )));
                }
                Some(admin::router(&data_dir, net.clone())?)
            } else {
                None
            };
            Some(
                metrics::serve(config.metrics.listen, registry.clone(), admin, stop.clone())
                    .await?,
            )
        } else {
            None
        };
        let blob_endpoint = if config.blobs.enabled {
            let dir = data_dir.join("blobs");
            Some(blobs::serve(config.blobs.clone(), dir, stop.clone(), &tasks).await?)
        } else {
            None
        };

        if let Some(listed) = trace {
            tasks.spawn(trace::run(listed, data_dir.join(APPLIED_LOG), stop.clone()));
        }
        let services = service::Services {
            store: store.clone(),
            net: net.clone(),
            validator: validator.clone(),
            applied: applied_tx.clone(),
            node_key: key.public(),
        };

        // node.json before the event loop runs: from then on it keeps the addresses current.
        let peer_id = net.local_peer_id();
        let listen_addrs = dialable(net.listen_addrs().await?, peer_id);
        let info = NodeInfo {
            peer_id: peer_id.to_string(),
            public_key: key.public(),
            listen_addrs,
            metrics_addr,
            blob_endpoint,
            data_dir: data_dir.clone(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let node_file = Arc::new(JsonFile::new(config.node_json_path(), info.clone()));
        node_file.save()?;

        let (sync_tx, sync_rx) = mpsc::channel(256);
        tasks.spawn(event_loop(
            events,
            net.clone(),
            services.clone(),
            gossip_tx,
            sync_tx,
            metrics.clone(),
            book,
            node_file.clone(),
            tasks.clone(),
            stop.clone(),
        ));
        tasks.spawn(gossip_pipeline(
            gossip_rx,
            services.clone(),
            config.pipeline.max_batch.max(1),
            settle_tx,
            stop.clone(),
        ));
        tasks.spawn(settler(
            settle_rx,
            services.clone(),
            Duration::from_millis(config.pipeline.flush_delay_ms),
            stop.clone(),
        ));
        tasks.spawn(sync_loop(
            sync_rx,
            services.clone(),
            config.sync.clone(),
            metrics.clone(),
            tasks.clone(),
            stop.clone(),
        ));
        tasks.spawn(gc_loop(store.clone(), stop.clone()));
        tasks.spawn(sla::run(
            services.clone(),
            key.clone(),
            config.sla.clone(),
            services.applied.subscribe(),
            stop.clone(),
        ));

        tracing::info!(peer_id = %info.peer_id, addrs = ?info.listen_addrs, "node started");
        Ok(Self {
            info,
            store,
            net,
            validator,
            services,
            listed: listed_tx,
            applied: applied_tx,
            registry,
            stop,
            tasks,
            node_json: node_file.path().to_path_buf(),
        })
    }

    /// Identity and addresses, as at start (`node.json` also follows later changes of the
    /// listen addresses).
    pub fn info(&self) -> &NodeInfo {
        &self.info
    }

    /// The node's listing.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The network handle.
    pub fn net(&self) -> &NetHandle {
        &self.net
    }

    /// The validation pipeline itself, to feed it encoded objects directly (benchmarks, tools);
    /// what it stores is not published.
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// Every object newly stored from now on (gossip, sync or submit), sent once it is durable.
    ///
    /// The channel keeps the last 1024 objects: a receiver further behind gets
    /// `RecvError::Lagged(n)` with the number it missed, and can re-read the store.
    pub fn subscribe_applied(&self) -> broadcast::Receiver<Object> {
        self.applied.subscribe()
    }

    /// Every object newly entering the listing from now on (gossip, sync or submit), sent as
    /// soon as queries can see it: before it is durable, and before gossipsub is told to relay
    /// it. [`Node::subscribe_applied`] sends the same objects once they are durable.
    ///
    /// Each comes with the instant it was listed. Bounded like [`Node::subscribe_applied`].
    /// Costs nothing while nobody subscribes.
    pub fn subscribe_listed(&self) -> broadcast::Receiver<Listed> {
        self.listed.subscribe()
    }

    /// The metrics in Prometheus text format, as `/metrics` serves them (libp2p's and the
    /// node's), also when the endpoint is disabled.
    pub fn encode_metrics(&self) -> String {
        let mut text = String::new();
        if let Ok(registry) = self.registry.lock() {
            // Writing into a String cannot fail.
            let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        }
        text
    }

    /// Validates, stores and publishes an object as if a light client had submitted it.
    pub async fn submit(&self, object: &Object) -> Verdict {
        self.submit_bytes(object.encoded().to_vec()).await
    }

    /// Validates encoded bytes, and stores and publishes them when they are a valid object
    /// (as a light client's submit does). Returns once the object is durable.
    pub async fn submit_bytes(&self, bytes: Vec<u8>) -> Verdict {
        self.services.submit_bytes(bytes).await.0
    }

    /// Runs one anti-entropy round with every connected peer now.
    pub async fn sync_now(&self) -> Result<RoundStats, NodeError> {
        let mut total = RoundStats::default();
        for peer in self.net.connected_peers().await? {
            total.add(sync::round(&self.net, &self.store, &self.validator, peer, 256).await?);
        }
        Ok(total)
    }

    /// Stops every task, closes the network and removes `node.json`. (Every stored object was
    /// already flushed when it was acknowledged.)
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.net.shutdown().await;
        self.tasks.close();
        if tokio::time::timeout(Duration::from_secs(10), self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some node tasks did not stop within 10 s");
        }
        let _ = std::fs::remove_file(&self.node_json);
        tracing::info!("node stopped");
    }
}

struct GossipItem {
    data: Vec<u8>,
    topic: String,
    msg_id: flashback_net::MessageId32,
    source: flashback_net::PeerId,
}

/// Most inbound requests handled at once; more are dropped (the requester times out).
const MAX_CONCURRENT_REQUESTS: usize = 64;

#[allow(clippy::too_many_arguments)]
async fn event_loop(
    mut events: mpsc::Receiver<NetEvent>,
    net: NetHandle,
    services: service::Services,
    gossip_tx: mpsc::Sender<GossipItem>,
    sync_tx: mpsc::Sender<flashback_net::PeerId>,
    metrics: Arc<metrics::Metrics>,
    book: Arc<address_book::Book>,
    node_file: Arc<JsonFile<NodeInfo>>,
    tasks: TaskTracker,
    stop: CancellationToken,
) {
    let requests = Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS));
    let mut peers = 0usize;
    loop {
        let event = tokio::select! {
            biased;
            () = stop.cancelled() => break,
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
                let item = GossipItem {
                    data,
                    topic,
                    msg_id,
                    source,
                };
                if let Err(full) = gossip_tx.try_send(item) {
                    let item = full.into_inner();
                    tracing::debug!("validation queue full: ignoring gossip");
                    let _ = net
                        .report_validation(item.msg_id, item.source, Validation::Ignore)
                        .await;
                }
            }
            NetEvent::InboundRequest {
                protocol,
                peer,
                data,
                reply,
            } => {
                let Ok(permit) = requests.clone().try_acquire_owned() else {
                    tracing::debug!(%peer, "too many requests in flight: dropping one");
                    continue;
                };
                let services = services.clone();
                let net = net.clone();
                // Tracked, so that shutdown waits for it (it holds the store).
                tasks.spawn(async move {
                    let _permit = permit;
                    let response = match protocol {
                        Protocol::Sync => {
                            let store = services.store.clone();
                            let resp =
                                tokio::task::spawn_blocking(move || sync::serve(&store, &data))
                                    .await;
                            match resp {
                                Ok(resp) => encode_message(&resp),
                                Err(_) => return,
                            }
                        }
                        Protocol::Query => encode_message(&services.query(&data).await),
                        Protocol::Submit => encode_message(&services.submit(&data).await),
                    };
                    if let Err(e) = net.respond(reply, response).await {
                        tracing::debug!(%peer, error = %e, "could not answer a request");
                    }
                });
            }
            NetEvent::PeerConnected(peer) => {
                peers += 1;
                metrics.set_peers(peers);
                let _ = sync_tx.try_send(peer);
            }
            NetEvent::PeerDisconnected(_) => {
                peers = peers.saturating_sub(1);
                metrics.set_peers(peers);
            }
            // The file is written off the event loop, at most one write queued at a time.
            NetEvent::PeerIdentified { peer, listen_addrs }
                if book.remember(peer, &listen_addrs) =>
            {
                let book = book.clone();
                tasks.spawn_blocking(move || book.save());
            }
            // The whole set again, not the change: an event the queue dropped is made good.
            NetEvent::ListenAddr(_) | NetEvent::ListenAddrExpired(_) => {
                let Ok(addrs) = net.listen_addrs().await else {
                    continue;
                };
                let addrs = dialable(addrs, net.local_peer_id());
                let save = node_file.update(|info| {
                    let changed = info.listen_addrs != addrs;
                    info.listen_addrs = addrs;
                    changed
                });
                if save {
                    let node_file = node_file.clone();
                    tasks.spawn_blocking(move || {
                        if let Err(e) = node_file.save() {
                            tracing::warn!(error = %e, "could not update node.json");
                        }
                    });
                }
            }
            _ => {}
        }
    }
}

async fn gossip_pipeline(
    mut rx: mpsc::Receiver<GossipItem>,
    services: service::Services,
    max_batch: usize,
    settle: mpsc::Sender<pipeline::Staged>,
    stop: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            item = rx.recv() => match item {
                Some(item) => item,
                None => break,
            },
        };
        let mut items = vec![first];
        while items.len() < max_batch {
            match rx.try_recv() {
                Ok(item) => items.push(item),
                Err(_) => break,
            }
        }
        let (ok, wrong): (Vec<_>, Vec<_>) = items
            .into_iter()
            .partition(|item| pipeline::on_its_topic(&item.topic, &item.data));
        let (senders, batch): (Vec<_>, Vec<_>) = ok
            .into_iter()
            .map(|item| ((item.msg_id, item.source), item.data))
            .unzip();
        // Relay first, flush second: gossipsub forwards a verified object as soon as it hears
        // Accept, and the node's own copy becomes durable with the next group commit. A crash
        // in between loses only this node's copy, which anti-entropy brings back
        // (docs/ARCHITECTURE.md).
        let staged = services.validator.stage(batch).await;
        let verdicts: Vec<_> = wrong
            .iter()
            .map(|item| (item.msg_id, item.source, Validation::Reject))
            .chain(
                senders
                    .iter()
                    .zip(staged.validations())
                    .map(|(&(msg_id, source), validation)| (msg_id, source, validation)),
            )
            .collect();
        services
            .validator
            .metrics()
            .gossip_judged(metrics::JudgedOn::Pipeline, verdicts.len() as u64);
        let _ = services.net.report_validations(verdicts).await;
        // Waits only when the settler is `SETTLE_QUEUE` batches behind.
        if settle.send(staged).await.is_err() {
            break;
        }
    }
}

/// Gossip batches staged but not yet handed to a flush.
const SETTLE_QUEUE: usize = 64;

/// Makes staged gossip durable, many batches per flush (group commit): waits up to `delay`
/// after the first batch for more, flushes once, then announces what was stored and publishes
/// equivocation evidence. Ends once the pipeline, its only sender, has stopped and everything
/// it sent is durable: on shutdown it stops waiting and flushes at once.
async fn settler(
    mut rx: mpsc::Receiver<pipeline::Staged>,
    services: service::Services,
    delay: Duration,
    stop: CancellationToken,
) {
    while let Some(mut staged) = rx.recv().await {
        if !delay.is_zero() {
            // One timer for the whole window, not one per message that arrives in it.
            let window = tokio::time::sleep(delay);
            tokio::pin!(window);
            loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    () = &mut window => break,
                    more = rx.recv() => match more {
                        Some(more) => staged.append(more),
                        None => break,
                    },
                }
            }
        }
        while let Ok(more) = rx.try_recv() {
            staged.append(more);
        }
        settle_gossip(&services, staged).await;
    }
}

async fn settle_gossip(services: &service::Services, staged: pipeline::Staged) {
    for (verdict, _) in services.validator.settle(staged).await {
        if let Verdict::Stored(flashback_store::Applied::Equivocation(evidence)) = verdict {
            services
                .publish(&Object::EquivocationEvidence(*evidence))
                .await;
        }
    }
}

async fn sync_loop(
    mut rx: mpsc::Receiver<flashback_net::PeerId>,
    services: service::Services,
    config: SyncConfig,
    metrics: Arc<metrics::Metrics>,
    tasks: TaskTracker,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(config.interval_secs.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let slots = Arc::new(Semaphore::new(config.max_concurrent.max(1)));
    let running = Arc::new(Mutex::new(std::collections::HashSet::new()));
    loop {
        let peers = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            peer = rx.recv() => match peer {
                Some(p) => vec![p],
                None => break,
            },
            _ = tick.tick() => {
                let mut peers = services.net.connected_peers().await.unwrap_or_default();
                let mut rng: rand::rngs::StdRng = rand::make_rng();
                rand::seq::SliceRandom::shuffle(peers.as_mut_slice(), &mut rng);
                peers.truncate(config.peers_per_tick.max(1));
                peers
            }
        };
        for peer in peers {
            // One round per peer at a time.
            if !running.lock().map(|mut r| r.insert(peer)).unwrap_or(false) {
                continue;
            }
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let (services, metrics, running) = (services.clone(), metrics.clone(), running.clone());
            let batch = config.fetch_batch;
            // Tracked and never cancelled halfway (which would leave its store writes running
            // on a blocking thread after shutdown returned): once the network is down, its
            // next request fails at once and the round ends.
            tasks.spawn(async move {
                let _permit = permit;
                let service::Services {
                    net,
                    store,
                    validator,
                    ..
                } = &services;
                match sync::round(net, store, validator, peer, batch).await {
                    Ok(stats) => {
                        metrics.sync_round(stats.fetched as u64);
                        if stats.wanted > 0 {
                            tracing::info!(%peer, wanted = stats.wanted, stored = stats.stored, "synced");
                        }
                    }
                    Err(e) => tracing::debug!(%peer, error = %e, "sync round failed"),
                }
                if let Ok(mut r) = running.lock() {
                    r.remove(&peer);
                }
            });
        }
    }
}

async fn gc_loop(store: Store, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = tick.tick() => {
                let store = store.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    if let Err(e) = store.gc(now()) {
                        tracing::warn!(error = %e, "garbage collection failed");
                    }
                })
                .await;
            }
        }
    }
}

/// Persistent address book: peers' listen addresses, so a restarted node rejoins without its
/// bootstrap list. Kept in memory and written to `peers.json` when it changes.
mod address_book {
    use std::collections::BTreeMap;
    use std::path::Path;

    use crate::files::JsonFile;

    const FILE: &str = "peers.json";
    /// Most peers remembered.
    const MAX_PEERS: usize = 64;
    /// Most addresses remembered per peer.
    const MAX_ADDRS: usize = 8;

    pub(super) struct Book(JsonFile<BTreeMap<String, Vec<String>>>);

    impl Book {
        /// The book in `data_dir`; empty when the file is missing or unreadable.
        pub(super) fn load(data_dir: &Path) -> Self {
            let path = data_dir.join(FILE);
            let peers = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default();
            Self(JsonFile::new(path, peers))
        }

        /// One TCP address per remembered peer, as a dialable `/p2p/` multiaddr.
        pub(super) fn dial_list(&self) -> Vec<String> {
            self.0
                .read(|peers| {
                    peers
                        .iter()
                        .filter_map(|(peer, addrs)| {
                            addrs
                                .iter()
                                .find(|a| a.contains("/tcp/"))
                                .map(|a| format!("{a}/p2p/{peer}"))
                        })
                        .collect()
                })
                .unwrap_or_default()
        }

        /// Records a peer's listen addresses. True when the caller should run [`Book::save`]:
        /// the book changed and no save is queued yet.
        pub(super) fn remember(
            &self,
            peer: flashback_net::PeerId,
            addrs: &[flashback_net::Multiaddr],
        ) -> bool {
            let addrs: Vec<String> = addrs
                .iter()
                .map(ToString::to_string)
                .filter(|a| !a.contains("/p2p/"))
                .take(MAX_ADDRS)
                .collect();
            if addrs.is_empty() {
                return false;
            }
            let peer = peer.to_string();
            self.0.update(|peers| {
                if peers.get(&peer) == Some(&addrs) {
                    return false;
                }
                peers.insert(peer, addrs);
                while peers.len() > MAX_PEERS {
                    if peers.pop_first().is_none() {
                        break;
                    }
                }
                true
            })
        }

        /// Writes the book to its file (blocking). A failure is logged: the book is a
        /// convenience, the bootstrap list still works.
        pub(super) fn save(&self) {
            if let Err(e) = self.0.save() {
                tracing::warn!(path = %self.0.path().display(), error = %e, "could not save the address book");
            }
        }
    }
}

/// Listen addresses as others dial them: each ending in `/p2p/<peer id>`.
fn dialable(addrs: Vec<flashback_net::Multiaddr>, peer_id: flashback_net::PeerId) -> Vec<String> {
    addrs
        .into_iter()
        .map(|a| format!("{a}/p2p/{peer_id}"))
        .collect()
}

/// Runs blocking store work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, NodeError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| NodeError::Internal(format!("store task failed: {e}")))?
}

/// Truncates to the bound and wraps.
pub(crate) fn bounded<T, const N: usize>(mut items: Vec<T>) -> BoundedVec<T, N> {
    items.truncate(N);
    BoundedVec::try_from_vec(items).unwrap_or_default()
}
