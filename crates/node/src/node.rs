//! [`Node`]: a running full node, what it offers its embedder, and how it stops.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flashback_net::{NetHandle, Registry};
use flashback_store::Store;
use flashback_types::Object;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::pipeline::{Listed, Validator, Verdict};
use crate::service::Services;
use crate::sync::{self, RoundStats};
use crate::{NodeError, NodeInfo};

/// A running full node.
///
/// Started by [`Node::start`] (or [`crate::NodeBuilder`]), in `start.rs`; stopped by
/// [`Node::shutdown`].
pub struct Node {
    pub(crate) info: NodeInfo,
    pub(crate) store: Store,
    pub(crate) net: NetHandle,
    pub(crate) validator: Validator,
    pub(crate) services: Services,
    pub(crate) listed: broadcast::Sender<Listed>,
    pub(crate) applied: broadcast::Sender<Object>,
    pub(crate) registry: Arc<Mutex<Registry>>,
    pub(crate) stop: CancellationToken,
    pub(crate) tasks: TaskTracker,
    pub(crate) node_json: PathBuf,
}

impl Node {
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
