//! How a node starts: [`NodeBuilder::start`] (or [`Node::start`]) opens the listing, starts
//! the network with the gossip path's validator on its swarm task, serves the HTTP endpoints,
//! writes `node.json`, and spawns the tasks ([`crate::gossip`], [`crate::tasks`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flashback_api::deals::DealService;
use flashback_net::{GossipValidator, NetBuilder, NetConfig, NetEvent, NetHandle, Registry};
use flashback_store::{Store, StoreConfig, StoreError};
use flashback_types::SecretKey;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::access::Access;
use crate::address_book::Book;
use crate::files::JsonFile;
use crate::gossip::GossipPath;
use crate::info::dialable;
use crate::pipeline::Validator;
use crate::service::Services;
use crate::tasks::events::EventTask;
use crate::{
    APPLIED_LOG, DEFAULT_METRICS_ADDR, Node, NodeConfig, NodeError, NodeInfo, admin, blobs,
    blocking, metrics, quote, sla, tasks, trace, trust,
};

/// The listing's directory in the data dir.
const STORE_DIR: &str = "store";

/// A node about to start, with the options that apply to one start only (unlike
/// [`NodeConfig`], which a node keeps).
#[must_use = "nothing starts until `start` is called"]
pub struct NodeBuilder {
    config: NodeConfig,
    key: SecretKey,
    rebuild_store: bool,
    deals: Option<Arc<dyn DealService>>,
}

impl Node {
    /// Opens the store, starts the network and every task, and writes `node.json`
    /// ([`NodeBuilder::start`] with no options).
    pub async fn start(config: NodeConfig, key: SecretKey) -> Result<Self, NodeError> {
        NodeBuilder::new(config, key).start().await
    }
}

impl NodeBuilder {
    /// A node with this configuration and key.
    pub fn new(config: NodeConfig, key: SecretKey) -> Self {
        Self {
            config,
            key,
            rebuild_store: false,
            deals: None,
        }
    }

    /// Makes deals for the HTTP API's `POST /api/v1/deals` with `deals` (`flashback node run`
    /// passes `flashback_client::deal_service::NodeDeals`); without one those routes answer
    /// 501, since this crate does not itself know how to make a deal.
    pub fn deal_service(mut self, deals: Arc<dyn DealService>) -> Self {
        self.deals = Some(deals);
        self
    }

    /// Starts with an empty listing, which sync refills from peers: the way out of a damaged
    /// or incompatible database (`flashback node run --rebuild-store`). The old database is
    /// moved aside to `<data_dir>/store.damaged-<unix time>`, never deleted. Refused while
    /// another process holds it open.
    pub fn rebuild_store(mut self, rebuild: bool) -> Self {
        self.rebuild_store = rebuild;
        self
    }

    /// Opens the store, starts the network and every task, and writes `node.json`.
    pub async fn start(self) -> Result<Node, NodeError> {
        let Self {
            config,
            key,
            rebuild_store,
            deals,
        } = self;
        let data_dir = config.data_dir.clone();
        std::fs::create_dir_all(&data_dir).map_err(|source| NodeError::Io {
            path: data_dir.clone(),
            source,
        })?;
        // The trust file first: a damaged one stops the node before anything is opened.
        let legacy = config.store.legacy_trust();
        let initial_trust = trust::initial(&config.trust_path(), &legacy)?;
        let store = open_store(&data_dir, config.store.clone(), rebuild_store).await?;
        store.set_trust(initial_trust);

        let mut registry = Registry::default();
        let metrics = metrics::Metrics::register(&mut registry);
        let book = Arc::new(Book::load(&data_dir));
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
        let gossip = GossipPath::new(&validator, &config.pipeline, metrics.clone());
        let (net, events) = start_network(
            &key,
            &config.net,
            &book,
            &mut registry,
            gossip.swarm_validator(),
        )
        .await?;

        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let registry = Arc::new(Mutex::new(registry));
        let metrics_addr = if config.metrics.enabled {
            let listen = config.metrics.listen;
            let admin = if config.metrics.admin {
                // Checked before binding: a fallback port keeps the default address's IP.
                let addr = listen.unwrap_or(DEFAULT_METRICS_ADDR);
                if !addr.ip().is_loopback() {
                    return Err(NodeError::Metrics(format!(
                        "the admin endpoint is served on loopback only, not {addr}: set metrics.listen to 127.0.0.1:<port> or turn metrics.admin off",
                    )));
                }
                Some(admin::router(&data_dir, net.clone())?)
            } else {
                None
            };
            let listener = metrics::bind(listen).await?;
            Some(metrics::serve(
                listener,
                registry.clone(),
                admin,
                stop.clone(),
            )?)
        } else {
            None
        };
        let access = Arc::new(Access::open(
            &data_dir,
            config.access.clone(),
            config.blobs.enabled,
            key.public(),
        )?);
        let blob_endpoint = if config.blobs.enabled {
            let dir = data_dir.join("blobs");
            Some(
                blobs::serve(
                    config.blobs.clone(),
                    dir,
                    access.clone(),
                    stop.clone(),
                    &tasks,
                )
                .await?,
            )
        } else {
            None
        };

        if let Some(listed) = trace {
            tasks.spawn(trace::run(listed, data_dir.join(APPLIED_LOG), stop.clone()));
        }
        let services = Services {
            store: store.clone(),
            net: net.clone(),
            validator: validator.clone(),
            applied: applied_tx.clone(),
            node_key: key.public(),
            book: book.clone(),
            sync: Default::default(),
            blob_endpoint: blob_endpoint.clone(),
            metrics: metrics.clone(),
            reach: Default::default(),
        };

        let api_addr = if config.api.enabled {
            Some(
                crate::api::serve(
                    &config.api,
                    &data_dir,
                    services.clone(),
                    deals,
                    stop.clone(),
                )
                .await?,
            )
        } else {
            None
        };

        // node.json before the events task runs: from then on it keeps the addresses current.
        let peer_id = net.local_peer_id();
        let listen_addrs = dialable(net.listen_addrs().await?, peer_id);
        let info = NodeInfo {
            peer_id: peer_id.to_string(),
            public_key: key.public(),
            listen_addrs,
            metrics_addr,
            api_addr,
            blob_endpoint,
            data_dir: data_dir.clone(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let node_file = Arc::new(JsonFile::new(config.node_json_path(), info.clone()));
        node_file.save()?;

        let queue = gossip.spawn(&services, &tasks, &stop);
        let (sync_tx, sync_rx) = mpsc::channel(256);
        let events_task = EventTask {
            net: net.clone(),
            services: services.clone(),
            gossip: queue,
            sync: sync_tx,
            metrics: metrics.clone(),
            book,
            node_file: node_file.clone(),
            tasks: tasks.clone(),
            stop: stop.clone(),
        };
        tasks.spawn(events_task.run(events));
        tasks.spawn(tasks::syncer::run(
            sync_rx,
            services.clone(),
            config.sync.clone(),
            metrics.clone(),
            tasks.clone(),
            stop.clone(),
        ));
        tasks.spawn(tasks::gc::run(
            store.clone(),
            config.time.max_future_skew_secs,
            stop.clone(),
        ));
        tasks.spawn(trust::watch(
            store.clone(),
            config.trust_path(),
            legacy,
            Duration::from_millis(config.trust.reload_ms.max(10)),
            stop.clone(),
        ));
        tasks.spawn(quote::run(
            services.clone(),
            key.clone(),
            config.quotes.clone(),
            services.applied.subscribe(),
            stop.clone(),
        ));
        tasks.spawn(sla::run(
            services.clone(),
            key.clone(),
            config.sla.clone(),
            access,
            services.applied.subscribe(),
            stop.clone(),
        ));

        tracing::info!(peer_id = %info.peer_id, addrs = ?info.listen_addrs, "node started");
        Ok(Node {
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
}

/// Opens the listing in `<data_dir>/store`; with `rebuild`, moves the old one aside first.
async fn open_store(
    data_dir: &Path,
    config: StoreConfig,
    rebuild: bool,
) -> Result<Store, NodeError> {
    let path = data_dir.join(STORE_DIR);
    blocking(move || {
        if rebuild {
            match set_aside(&path)? {
                Some(aside) => tracing::warn!(
                    "--rebuild-store: moved the listing database to {} (kept, not deleted); \
                     starting with an empty listing, which sync refills from peers",
                    aside.display()
                ),
                None => tracing::info!(
                    "--rebuild-store: there was no listing database; starting with an empty one"
                ),
            }
        }
        Ok(Store::open(&path, config)?)
    })
    .await
}

/// Moves the listing database at `path` to a sibling `store.damaged-<unix time>` and returns
/// that path; `None` when there is none. Refused while a process (another node) holds sled's
/// lock on it: its files would move, but that process would go on writing them.
fn set_aside(path: &Path) -> Result<Option<PathBuf>, NodeError> {
    if !path.exists() {
        return Ok(None);
    }
    // sled holds an exclusive flock on `db` while the database is open.
    if let Ok(db) = std::fs::File::open(path.join("db"))
        && let Err(std::fs::TryLockError::WouldBlock) = db.try_lock()
    {
        return Err(StoreError::Open {
            path: path.to_path_buf(),
            detail: "another process holds it open".into(),
        }
        .into());
    }
    let stamp = flashback_types::clock::now();
    let mut aside = path.with_file_name(format!("{STORE_DIR}.damaged-{stamp}"));
    let mut n = 1;
    while aside.exists() {
        aside = path.with_file_name(format!("{STORE_DIR}.damaged-{stamp}-{n}"));
        n += 1;
    }
    std::fs::rename(path, &aside).map_err(|source| NodeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Some(aside))
}

/// Starts the network, bootstrapping to the configured peers and to those the address book
/// remembers (without them, should a stale entry not parse).
async fn start_network(
    key: &SecretKey,
    config: &NetConfig,
    book: &Book,
    registry: &mut Registry,
    validator: Arc<dyn GossipValidator>,
) -> Result<(NetHandle, mpsc::Receiver<NetEvent>), NodeError> {
    let mut with_book = config.clone();
    for addr in book.dial_list() {
        if !with_book.bootstrap.contains(&addr) {
            with_book.bootstrap.push(addr);
        }
    }
    if with_book.bootstrap.is_empty() && !with_book.enable_mdns {
        tracing::info!(
            "no peer to join (no bootstrap address, none remembered in peers.json, mDNS off): \
             this node waits for others to dial it; pass --bootstrap <multiaddr> or --mdns \
             to join a network"
        );
    }
    let started = NetBuilder::new(key.to_libp2p_keypair(), with_book)
        .metrics(registry)
        .gossip_validator(validator.clone())
        .spawn()
        .await;
    match started {
        Ok(started) => Ok(started),
        // A stale address-book entry must not keep a node from starting.
        Err(flashback_net::NetError::InvalidMultiaddr { .. }) => {
            Ok(NetBuilder::new(key.to_libp2p_keypair(), config.clone())
                .metrics(registry)
                .gossip_validator(validator)
                .spawn()
                .await?)
        }
        Err(e) => Err(e.into()),
    }
}
