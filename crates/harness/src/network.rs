//! [`Network`]: N running peers of one kind, and the receipts they report.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use flashback_net::{
    GossipValidator, Judged, Keypair, MessageId32, NetBuilder, NetError, NetEvent, NetHandle,
    Registry, Validation,
};
use flashback_node::{Node, NodeConfig, Verdict};
use flashback_store::Applied;
use flashback_types::protocol::Topic;
use flashback_types::{Object, SecretKey};
use futures::{Stream, StreamExt};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;

use crate::mesh::{self, MeshState};
use crate::{HarnessError, NetworkSpec, counter_sum, full_node_config, threads_cpu};

/// Receipts waiting for [`Network::propagate`]: enough for every peer of a large network to
/// report a few objects each without a drop.
const RECEIPTS: usize = 1 << 16;

/// One peer held one object (first copy only).
struct Receipt {
    node: usize,
    key: [u8; 32],
    at: Instant,
    /// A full node's second receipt of the object: durable in its store.
    durable: bool,
}

struct RawPeer {
    net: NetHandle,
    registry: Registry,
}

enum Peers {
    Raw(Vec<RawPeer>),
    Full(Vec<Node>),
}

/// N running peers of one kind on the memory transport, with the tasks that report when each
/// holds an object. Stop it with [`Network::shutdown`].
pub struct Network {
    spec: NetworkSpec,
    peers: Peers,
    nets: Vec<NetHandle>,
    receipts: mpsc::Receiver<Receipt>,
    reporters: JoinSet<()>,
    /// Receipts full nodes' reporters missed because they fell behind a broadcast channel.
    lagged: Arc<AtomicU64>,
    _dir: Option<tempfile::TempDir>,
}

/// How long [`Network::propagate`] waits, and for what.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    /// Most time from the publish until every other peer holds the object.
    pub deadline: Duration,
    /// Full nodes: also wait until every other node has it durable.
    pub durable: bool,
}

impl Wait {
    /// Until every other peer holds it (full nodes: listed, visible to queries).
    pub fn listed(deadline: Duration) -> Self {
        Self {
            deadline,
            durable: false,
        }
    }

    /// Full nodes: until every other node holds it and has it durable.
    pub fn durable(deadline: Duration) -> Self {
        Self {
            deadline,
            durable: true,
        }
    }
}

/// One object's spread from its publisher, as [`Network::propagate`] saw it.
#[derive(Debug, Clone)]
pub struct Wave {
    /// Why the publish failed, if it did (the receipts are then those of nobody, usually).
    pub publish_error: Option<String>,
    /// How long the publish call took (a full node's `submit` validates and lists the object
    /// first).
    pub publish_call: Duration,
    /// Per peer, when it held the object, from just before the publish; `None` for the
    /// publisher and for peers that did not within the deadline.
    pub arrived: Vec<Option<Duration>>,
    /// Full nodes with [`Wait::durable`]: per node, when the harness heard the object was
    /// durable there (an upper bound); otherwise empty.
    pub durable: Vec<Option<Duration>>,
    /// CPU time of the whole process (every peer, background work included) from just before
    /// the publish until every other peer held the object; `None` if not every peer did, or
    /// where per-thread CPU times cannot be read.
    pub cpu: Option<Duration>,
}

impl Wave {
    /// Peers other than the publisher that held the object within the deadline.
    pub fn reached(&self) -> usize {
        self.arrived.iter().flatten().count()
    }

    /// Time until `fraction` (0.0 to 1.0) of the other peers held the object, rounded up to a
    /// whole peer; `None` if fewer did within the deadline.
    pub fn time_to(&self, fraction: f64) -> Option<Duration> {
        nth_arrival(&self.arrived, fraction)
    }

    /// Time until the first other peer held it: the publisher's own latency and one hop.
    pub fn time_to_first(&self) -> Option<Duration> {
        self.arrived.iter().flatten().min().copied()
    }

    /// [`Wave::time_to`] for durability (full nodes with [`Wait::durable`]).
    pub fn durable_time_to(&self, fraction: f64) -> Option<Duration> {
        nth_arrival(&self.durable, fraction)
    }
}

/// The time by which `fraction` of `arrivals.len() - 1` peers (all but the publisher) had
/// arrived.
fn nth_arrival(arrivals: &[Option<Duration>], fraction: f64) -> Option<Duration> {
    let others = arrivals.len().checked_sub(1)?;
    let needed = ((others as f64 * fraction).ceil() as usize).max(1);
    let mut times: Vec<Duration> = arrivals.iter().flatten().copied().collect();
    times.sort();
    times.get(needed - 1).copied()
}

/// What gossipsub counted on every peer so far, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GossipTotals {
    /// Full messages received, duplicates included.
    pub receptions: u64,
    /// First copies received.
    pub first_receptions: u64,
    /// Payload bytes received, duplicates included.
    pub bytes_received: u64,
    /// Payload bytes sent (published and forwarded).
    pub bytes_sent: u64,
}

impl std::ops::Sub for GossipTotals {
    type Output = Self;

    fn sub(self, before: Self) -> Self {
        Self {
            receptions: self.receptions.saturating_sub(before.receptions),
            first_receptions: self
                .first_receptions
                .saturating_sub(before.first_receptions),
            bytes_received: self.bytes_received.saturating_sub(before.bytes_received),
            bytes_sent: self.bytes_sent.saturating_sub(before.bytes_sent),
        }
    }
}

impl Network {
    /// `spec.nodes` bare `flashback-net` peers whose gossip validator accepts every message on
    /// the swarm task as it arrives (no decoding, no store): gossipsub with no work of its own.
    /// A peer holds a message from that instant.
    pub async fn raw(spec: &NetworkSpec) -> Result<Self, HarnessError> {
        Self::raw_with(spec, |builder| builder).await
    }

    /// [`Network::raw`], each peer's builder adjusted by `customize` before it starts.
    pub async fn raw_with(
        spec: &NetworkSpec,
        customize: impl for<'a> Fn(NetBuilder<'a>) -> NetBuilder<'a>,
    ) -> Result<Self, HarnessError> {
        let (receipts, receipts_rx) = mpsc::channel(RECEIPTS);
        let mut addrs: Vec<String> = Vec::new();
        let mut nets = Vec::new();
        let mut peers = Vec::new();
        let mut reporters = JoinSet::new();
        for (i, earlier) in spec.topology.bootstrap_graph(spec.nodes).iter().enumerate() {
            let bootstrap = earlier.iter().map(|&j| addrs[j].clone()).collect();
            let mut registry = Registry::default();
            let (seen_tx, mut seen_rx) = mpsc::channel(1024);
            let builder = NetBuilder::new(Keypair::generate_ed25519(), spec.net_config(bootstrap))
                .metrics(&mut registry)
                .gossip_validator(Arc::new(AcceptAll(seen_tx)));
            let (net, events) = customize(builder).spawn().await?;
            let listen = net.listen_addrs().await?;
            let first = listen.first().map(ToString::to_string).unwrap_or_default();
            addrs.push(format!("{first}/p2p/{}", net.local_peer_id()));
            reporters.spawn(drain(events));
            let seen = futures::stream::poll_fn(move |cx| seen_rx.poll_recv(cx));
            reporters.spawn(report(i, seen, false, receipts.clone(), |(id, at)| {
                (id.0, at)
            }));
            nets.push(net.clone());
            peers.push(RawPeer { net, registry });
        }
        dial_later(spec, &nets, &addrs).await?;
        Ok(Self {
            spec: spec.clone(),
            peers: Peers::Raw(peers),
            nets,
            receipts: receipts_rx,
            reporters,
            lagged: Arc::default(),
            _dir: None,
        })
    }

    /// `spec.nodes` full nodes ([`full_node_config`]: sled stores in a temp dir, removed at
    /// shutdown; no metrics endpoint). A node holds an object once it has entered its listing
    /// (verified, visible to queries), and again once it is durable.
    pub async fn full(spec: &NetworkSpec) -> Result<Self, HarnessError> {
        Self::full_with(spec, |_, config| config).await
    }

    /// [`Network::full`], node `i`'s configuration adjusted by `configure(i, config)`.
    pub async fn full_with(
        spec: &NetworkSpec,
        configure: impl Fn(usize, NodeConfig) -> NodeConfig,
    ) -> Result<Self, HarnessError> {
        let dir = tempfile::tempdir().map_err(HarnessError::TempDir)?;
        let (receipts, receipts_rx) = mpsc::channel(RECEIPTS);
        let mut addrs: Vec<String> = Vec::new();
        let mut nets = Vec::new();
        let mut nodes = Vec::new();
        let mut reporters = JoinSet::new();
        let lagged = Arc::new(AtomicU64::new(0));
        for (i, earlier) in spec.topology.bootstrap_graph(spec.nodes).iter().enumerate() {
            let bootstrap = earlier.iter().map(|&j| addrs[j].clone()).collect();
            let data_dir = dir.path().join(format!("node-{i}"));
            let config = configure(i, full_node_config(data_dir, spec.net_config(bootstrap)));
            let node = Node::start(config, SecretKey::generate()).await?;
            addrs.push(
                node.info()
                    .listen_addrs
                    .first()
                    .cloned()
                    .unwrap_or_default(),
            );
            let listed = broadcast_stream(node.subscribe_listed(), lagged.clone());
            reporters.spawn(report(i, listed, false, receipts.clone(), |l| {
                (l.object.id().0, l.at)
            }));
            // Durable: stamped when the harness hears of it (an upper bound).
            let applied = broadcast_stream(node.subscribe_applied(), lagged.clone());
            reporters.spawn(report(i, applied, true, receipts.clone(), |o| {
                (o.id().0, Instant::now())
            }));
            nets.push(node.net().clone());
            nodes.push(node);
        }
        dial_later(spec, &nets, &addrs).await?;
        Ok(Self {
            spec: spec.clone(),
            peers: Peers::Full(nodes),
            nets,
            receipts: receipts_rx,
            reporters,
            lagged,
            _dir: Some(dir),
        })
    }

    /// How many peers.
    pub fn len(&self) -> usize {
        self.nets.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Every peer's network handle, in start order.
    pub fn nets(&self) -> &[NetHandle] {
        &self.nets
    }

    /// The full nodes, in start order (none in a raw network).
    pub fn nodes(&self) -> &[Node] {
        match &self.peers {
            Peers::Raw(_) => &[],
            Peers::Full(nodes) => nodes,
        }
    }

    /// Waits until every peer's gossipsub mesh for the offers topic has settled: each has at
    /// least `min(mesh_n_low, its connections)` mesh peers, the mesh graph is connected, and
    /// the number of mesh links held still for two heartbeats; or until `deadline`
    /// ([`MeshState::formed`] says which).
    pub async fn wait_for_mesh(&self, deadline: Duration) -> MeshState {
        mesh::wait_for_mesh(&self.nets, &self.spec, deadline).await
    }

    /// Publishes `object` from peer `from`: a raw peer publishes its bytes on the offers
    /// topic; a full node takes it as a light client's submit (validate, list, publish) and
    /// must list it as new.
    pub async fn publish(&self, from: usize, object: &Object) -> Result<(), String> {
        match &self.peers {
            Peers::Raw(peers) => {
                let peer = peers.get(from).ok_or("no such peer")?;
                peer.net
                    .publish(Topic::Offers.name(), object.encoded().to_vec())
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Peers::Full(nodes) => match nodes.get(from).ok_or("no such node")?.submit(object).await
            {
                Verdict::Stored(Applied::Applied) => Ok(()),
                other => Err(format!("submit: {other:?}")),
            },
        }
    }

    /// Publishes `object` from peer `from` and collects when every other peer held it, until
    /// they all did or `wait.deadline` passed.
    pub async fn propagate(&mut self, from: usize, object: &Object, wait: Wait) -> Wave {
        let n = self.len();
        let key = self.key(object);
        let full = matches!(self.peers, Peers::Full(_));
        let mut arrived = vec![None; n];
        let mut durable = vec![None; n];
        let mut count = 0;
        // Raw peers have no store: nothing to wait for.
        let mut durable_count = if full && wait.durable { 0 } else { n - 1 };
        let cpu0 = threads_cpu();
        let mut cpu = None;
        let t0 = Instant::now();
        let publish_error = self.publish(from, object).await.err();
        let publish_call = t0.elapsed();
        let deadline = t0 + wait.deadline;
        while count < n - 1 || durable_count < n - 1 {
            let Ok(Some(receipt)) =
                tokio::time::timeout_at(deadline.into(), self.receipts.recv()).await
            else {
                break;
            };
            if receipt.durable && !(full && wait.durable) {
                continue;
            }
            let slot = if receipt.durable {
                &mut durable[receipt.node]
            } else {
                &mut arrived[receipt.node]
            };
            if receipt.key != key || receipt.node == from || slot.is_some() {
                continue;
            }
            *slot = Some(receipt.at.saturating_duration_since(t0));
            if receipt.durable {
                durable_count += 1;
            } else {
                count += 1;
                if count == n - 1 {
                    cpu = cpu0.zip(threads_cpu()).map(|(a, b)| b.saturating_sub(a));
                }
            }
        }
        if !(full && wait.durable) {
            durable.clear();
        }
        Wave {
            publish_error,
            publish_call,
            arrived,
            durable,
            cpu,
        }
    }

    /// Receipts lost so far because a full node's reporter fell behind its broadcast channel
    /// (the waves then miss those peers): 0 unless the harness's runtime is overloaded.
    pub fn lagged_receipts(&self) -> u64 {
        self.lagged.load(Ordering::Relaxed)
    }

    /// Drops the receipts not yet read (those of earlier objects, or late durable ones).
    pub fn drain_receipts(&mut self) {
        while self.receipts.try_recv().is_ok() {}
    }

    /// What gossipsub counted on every peer so far, summed: take the difference over a span.
    pub fn gossip_totals(&self) -> GossipTotals {
        let texts: Vec<String> = match &self.peers {
            Peers::Raw(peers) => peers
                .iter()
                .map(|p| {
                    let mut text = String::new();
                    // Writing into a String cannot fail.
                    let _ = prometheus_client::encoding::text::encode(&mut text, &p.registry);
                    text
                })
                .collect(),
            Peers::Full(nodes) => nodes.iter().map(Node::encode_metrics).collect(),
        };
        texts.iter().fold(GossipTotals::default(), |t, text| {
            let sum = |name| counter_sum(text, name);
            GossipTotals {
                receptions: t.receptions + sum("topic_msg_recv_counts_unfiltered_total"),
                first_receptions: t.first_receptions + sum("topic_msg_recv_counts_total"),
                bytes_received: t.bytes_received + sum("topic_msg_recv_bytes_unfiltered_total"),
                bytes_sent: t.bytes_sent + sum("topic_msg_sent_bytes_total"),
            }
        })
    }

    /// Stops every peer, then waits (at most 10 s) for the reporters, which end when their
    /// peer's streams close; aborts any left. Returns how many had to be aborted.
    pub async fn shutdown(mut self) -> usize {
        match self.peers {
            Peers::Raw(peers) => {
                futures::future::join_all(peers.iter().map(|p| p.net.shutdown())).await;
            }
            Peers::Full(nodes) => {
                futures::future::join_all(nodes.into_iter().map(Node::shutdown)).await;
            }
        }
        drop(self.nets);
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            while self.reporters.join_next().await.is_some() {}
        })
        .await;
        if ended.is_ok() {
            return 0;
        }
        let left = self.reporters.len();
        self.reporters.shutdown().await;
        left
    }

    /// The key under which receipts of `object` are reported: its gossipsub message id for raw
    /// peers, its object id for full nodes.
    fn key(&self, object: &Object) -> [u8; 32] {
        match self.peers {
            Peers::Raw(_) => MessageId32::of(object.encoded()).0,
            Peers::Full(_) => object.id().0,
        }
    }
}

/// Once every peer has started, each dials the later peers its topology names
/// ([`crate::Topology::later_dials`]).
async fn dial_later(
    spec: &NetworkSpec,
    nets: &[NetHandle],
    addrs: &[String],
) -> Result<(), HarnessError> {
    for (net, later) in nets.iter().zip(spec.topology.later_dials(nets.len())) {
        for j in later {
            let addr = &addrs[j];
            let multiaddr = addr.parse().map_err(|e: flashback_net::multiaddr::Error| {
                NetError::InvalidMultiaddr {
                    addr: addr.clone(),
                    reason: e.to_string(),
                }
            })?;
            net.dial(multiaddr).await?;
        }
    }
    Ok(())
}

/// A raw peer's gossip validator: no decoding, no store; every message is accepted on the
/// network task as it arrives, as gossipsub without validation would forward it. It holds the
/// message from that instant.
struct AcceptAll(mpsc::Sender<(MessageId32, Instant)>);

impl GossipValidator for AcceptAll {
    fn validate(&self, _topic: &str, data: &[u8]) -> Option<Judged> {
        let _ = self.0.try_send((MessageId32::of(data), Instant::now()));
        Some(Validation::Accept.into())
    }
}

/// Forwards a peer's receipts to the harness: `stamp` gives the key and the instant the peer
/// held the object. The instant is taken by the peer itself, so the harness's own scheduling
/// (this task runs behind every peer's work) does not count.
async fn report<T: Clone>(
    node: usize,
    items: impl Stream<Item = T>,
    durable: bool,
    receipts: mpsc::Sender<Receipt>,
    stamp: fn(T) -> ([u8; 32], Instant),
) {
    let mut items = std::pin::pin!(items);
    while let Some(item) = items.next().await {
        let (key, at) = stamp(item);
        let _ = receipts.try_send(Receipt {
            node,
            key,
            at,
            durable,
        });
    }
}

/// Drains a raw peer's events, which it does not use.
async fn drain(mut events: mpsc::Receiver<NetEvent>) {
    while events.recv().await.is_some() {}
}

/// A broadcast channel as a stream. A receiver that lags counts what it missed in `lagged`
/// and goes on.
fn broadcast_stream<T: Clone + Send + 'static>(
    rx: broadcast::Receiver<T>,
    lagged: Arc<AtomicU64>,
) -> impl Stream<Item = T> {
    futures::stream::unfold(rx, move |mut rx| {
        let lagged = lagged.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(item) => return Some((item, rx)),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        lagged.fetch_add(missed, Ordering::Relaxed);
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    })
}
