//! The runner's shared state and its view of the nodes: light-client connections (one per
//! node, reconnected after a restart), status and digests, convergence, submissions through a
//! gate that scenario events close to measure convergence with no new objects in flight.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use flashback_client::http::{HttpClient, Method, StatusCode};
use flashback_client::{Client, ClientConfig};
use flashback_types::Object;
use flashback_types::clock::now_ms;
use flashback_types::wire::NodeStatus;
use tokio::sync::RwLock;

use crate::fleet::Fleet;
use crate::{Progress, TestnetError};

/// How long a status query may take before the node counts as not answering.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// Polling period of convergence checks.
const POLL: Duration = Duration::from_millis(200);
/// Deadline of a request to a node's loopback HTTP endpoint.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer read from it.
const MAX_HTTP_ANSWER: usize = 8 << 20;

/// An object the runner handed to a node.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    pub(crate) id: String,
    pub(crate) kind: &'static str,
    /// Unix ms just before the submit.
    pub(crate) at_ms: u64,
    pub(crate) node: usize,
}

pub(crate) struct Ctx {
    pub(crate) fleet: Mutex<Fleet>,
    /// The links of a WAN run (`None` on loopback).
    pub(crate) wan: Option<crate::links::WanRun>,
    clients: Vec<Mutex<Option<Arc<Client>>>>,
    /// For the nodes' `/metrics` and `/admin/…`.
    http: HttpClient,
    /// Submitters hold it shared; a scenario event takes it exclusively to stop new objects.
    pub(crate) gate: RwLock<()>,
    pub(crate) published: Mutex<Vec<Published>>,
    pub(crate) submit_failures: Mutex<usize>,
    pub(crate) progress: Progress,
    started: Instant,
    /// Start of the activity phase (set once), for event times.
    pub(crate) activity_start: Mutex<Option<Instant>>,
}

/// Locks a std mutex, recovering from poisoning (a panicking task must not wedge cleanup).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Ctx {
    pub(crate) fn new(fleet: Fleet, progress: Progress, wan: Option<crate::links::WanRun>) -> Self {
        let n = fleet.members.len();
        Self {
            fleet: Mutex::new(fleet),
            wan,
            clients: (0..n).map(|_| Mutex::new(None)).collect(),
            http: HttpClient::new(HTTP_TIMEOUT),
            gate: RwLock::new(()),
            published: Mutex::new(Vec::new()),
            submit_failures: Mutex::new(0),
            progress,
            started: Instant::now(),
            activity_start: Mutex::new(None),
        }
    }

    pub(crate) fn nodes(&self) -> usize {
        self.clients.len()
    }

    /// A progress line, prefixed with the time since the run started.
    pub(crate) fn say(&self, text: impl AsRef<str>) {
        (self.progress)(&format!(
            "[{:>6.1}s] {}",
            self.started.elapsed().as_secs_f64(),
            text.as_ref()
        ));
    }

    /// Milliseconds since the activity phase began (0 before).
    pub(crate) fn activity_ms(&self) -> u64 {
        lock(&self.activity_start).map_or(0, |s| {
            u64::try_from(s.elapsed().as_millis()).unwrap_or(u64::MAX)
        })
    }

    pub(crate) fn name(&self, i: usize) -> String {
        lock(&self.fleet).members[i].name.clone()
    }

    /// The node's dialable address while it runs.
    pub(crate) fn addr(&self, i: usize) -> Option<String> {
        let fleet = lock(&self.fleet);
        let m = &fleet.members[i];
        if !m.is_up() {
            return None;
        }
        m.info.as_ref()?.dial_addr().map(str::to_owned)
    }

    /// The address other nodes dial node `i` at: its relayed address when it is behind NAT
    /// (read again from its node.json, which follows its listen addresses), else
    /// [`Ctx::addr`].
    pub(crate) fn boot_addr(&self, i: usize) -> Option<String> {
        if !self.wan.as_ref().is_some_and(|w| w.plan.is_natted(i)) {
            return self.addr(i);
        }
        let dir = lock(&self.fleet).members[i].dir.clone();
        let info = flashback_node::NodeInfo::load(&dir).ok()?;
        info.listen_addrs
            .into_iter()
            .find(|a| a.contains("/p2p-circuit"))
    }

    pub(crate) fn peer_id(&self, i: usize) -> Option<String> {
        lock(&self.fleet).members[i]
            .info
            .as_ref()
            .map(|info| info.peer_id.clone())
    }

    pub(crate) fn metrics_addr(&self, i: usize) -> Option<SocketAddr> {
        let fleet = lock(&self.fleet);
        let m = &fleet.members[i];
        if !m.is_up() {
            return None;
        }
        m.info.as_ref()?.metrics_addr
    }

    pub(crate) fn blob_endpoint(&self, i: usize) -> Option<String> {
        lock(&self.fleet).members[i]
            .info
            .as_ref()
            .and_then(|info| info.blob_endpoint.clone())
    }

    pub(crate) fn is_up(&self, i: usize) -> bool {
        lock(&self.fleet).members[i].is_up()
    }

    /// The light client connected to node `i` (connecting on first use).
    pub(crate) async fn client(&self, i: usize) -> Result<Arc<Client>, TestnetError> {
        if let Some(c) = lock(&self.clients[i]).clone() {
            return Ok(c);
        }
        let addr = self
            .addr(i)
            .ok_or_else(|| TestnetError::Node(format!("{} is not running", self.name(i))))?;
        let config = ClientConfig {
            connect_timeout: Duration::from_secs(10),
            ..ClientConfig::default()
        };
        let client = Arc::new(Client::connect_with(&[addr], config).await?);
        let mut slot = lock(&self.clients[i]);
        Ok(slot.get_or_insert(client).clone())
    }

    /// Drops the connection to node `i` (it was killed or restarted).
    pub(crate) fn forget(&self, i: usize) {
        lock(&self.clients[i]).take();
    }

    /// Drops every connection.
    pub(crate) fn forget_all(&self) {
        for i in 0..self.nodes() {
            self.forget(i);
        }
    }

    /// Submits `object` through node `i` (waiting while the gate is closed) and records when.
    pub(crate) async fn submit(&self, i: usize, object: &Object) -> Result<(), TestnetError> {
        let _open = self.gate.read().await;
        let client = match self.client(i).await {
            Ok(c) => c,
            Err(e) => {
                *lock(&self.submit_failures) += 1;
                return Err(e);
            }
        };
        let at_ms = now_ms();
        match client.submit(object).await {
            Ok(_) => {
                lock(&self.published).push(Published {
                    id: object.id().to_string(),
                    kind: object.kind().name(),
                    at_ms,
                    node: i,
                });
                Ok(())
            }
            Err(e) => {
                *lock(&self.submit_failures) += 1;
                if matches!(e, flashback_client::ClientError::Net(_)) {
                    self.forget(i);
                }
                Err(e.into())
            }
        }
    }

    /// Status of node `i`; `None` when it does not answer in time.
    pub(crate) async fn status(&self, i: usize) -> Option<NodeStatus> {
        let client = self.client(i).await.ok()?;
        match tokio::time::timeout(STATUS_TIMEOUT, client.status()).await {
            Ok(Ok(s)) => Some(s),
            Ok(Err(_)) => {
                self.forget(i);
                None
            }
            Err(_) => None,
        }
    }

    /// Status of every running node (index, status or `None` when it did not answer).
    pub(crate) async fn statuses(&self, nodes: &[usize]) -> Vec<(usize, Option<NodeStatus>)> {
        let all = nodes
            .iter()
            .map(|&i| async move { (i, self.status(i).await) });
        futures::future::join_all(all).await
    }

    /// Running nodes.
    pub(crate) fn up_nodes(&self) -> Vec<usize> {
        (0..self.nodes()).filter(|&i| self.is_up(i)).collect()
    }

    /// Polls until every node in `nodes` answers with the same digest; the time it took, or
    /// `None` after `within`.
    pub(crate) async fn wait_converged(
        &self,
        nodes: &[usize],
        within: Duration,
    ) -> Option<Duration> {
        let start = Instant::now();
        loop {
            let statuses = self.statuses(nodes).await;
            let first = statuses
                .first()
                .and_then(|(_, s)| s.as_ref())
                .map(|s| s.listing_digest);
            if first.is_some()
                && statuses
                    .iter()
                    .all(|(_, s)| s.as_ref().map(|s| s.listing_digest) == first)
            {
                return Some(start.elapsed());
            }
            if start.elapsed() >= within {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls until `check` holds for the statuses of `nodes`; false after `within`.
    pub(crate) async fn wait_status(
        &self,
        nodes: &[usize],
        within: Duration,
        check: impl Fn(&NodeStatus) -> bool,
    ) -> bool {
        let start = Instant::now();
        loop {
            let statuses = self.statuses(nodes).await;
            if statuses.iter().all(|(_, s)| s.as_ref().is_some_and(&check)) {
                return true;
            }
            if start.elapsed() >= within {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The admin endpoint of node `i`: its address and token.
    pub(crate) fn admin(&self, i: usize) -> Option<(SocketAddr, String)> {
        let addr = self.metrics_addr(i)?;
        let dir = lock(&self.fleet).members[i].dir.clone();
        let token = flashback_types::file::read_text_bounded(
            &dir.join(flashback_node::ADMIN_TOKEN),
            flashback_types::file::MAX_STATE_BYTES,
        )
        .ok()?;
        Some((addr, token.trim().to_owned()))
    }

    /// POSTs to node `i`'s admin endpoint.
    pub(crate) async fn admin_post(
        &self,
        i: usize,
        path: &str,
        body: &str,
    ) -> Result<(), TestnetError> {
        let (addr, token) = self
            .admin(i)
            .ok_or_else(|| TestnetError::Node(format!("{}: no admin endpoint", self.name(i))))?;
        let (status, text) = self
            .http(Method::POST, addr, path, Some(&token), body)
            .await?;
        if status == StatusCode::OK {
            Ok(())
        } else {
            Err(TestnetError::Node(format!(
                "{} {path}: {status} {}",
                self.name(i),
                text.trim()
            )))
        }
    }

    /// Connected peers of node `i`, from its admin endpoint.
    pub(crate) async fn admin_peers(&self, i: usize) -> Result<Vec<String>, TestnetError> {
        let (addr, token) = self
            .admin(i)
            .ok_or_else(|| TestnetError::Node(format!("{}: no admin endpoint", self.name(i))))?;
        let (status, text) = self
            .http(Method::GET, addr, "/admin/peers", Some(&token), "")
            .await?;
        if status != StatusCode::OK {
            return Err(TestnetError::Node(format!(
                "{}: /admin/peers: {status}",
                self.name(i)
            )));
        }
        Ok(text.lines().map(str::to_owned).collect())
    }

    /// `/metrics` of node `i`.
    pub(crate) async fn metrics(&self, i: usize) -> Option<String> {
        let addr = self.metrics_addr(i)?;
        match self.http(Method::GET, addr, "/metrics", None, "").await {
            Ok((StatusCode::OK, text)) => Some(text),
            _ => None,
        }
    }

    /// One request to a node's loopback HTTP endpoint at `addr`, with the admin token when
    /// given; the answer as text.
    async fn http(
        &self,
        method: Method,
        addr: SocketAddr,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> Result<(StatusCode, String), TestnetError> {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| ("authorization", b))
            .into_iter()
            .collect();
        let (status, answer) = self
            .http
            .send(
                method,
                &format!("http://{addr}{path}"),
                &headers,
                body.to_owned(),
                MAX_HTTP_ANSWER,
            )
            .await
            .map_err(|e| TestnetError::Node(e.to_string()))?;
        Ok((status, String::from_utf8_lossy(&answer).into_owned()))
    }
}
