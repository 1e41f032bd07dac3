//! The reference blob endpoint: a small HTTP store of blobs addressed by their blake3, served
//! next to a full node so that consumers have a real data plane and QoS probes measure it. Off
//! by default (`blobs.enabled`); testnets turn it on.
//!
//! Every blob request carries `Authorization: Bearer <token>`, the per-agreement token the
//! provider's node sealed to the consumer in its access grant ([`crate::access`]). A token
//! opens its agreement's **namespace** (the first agreement of a chain of renewals) for as
//! long as the agreement runs; blobs of another namespace are out of its reach.
//!
//! | request | answer |
//! |---|---|
//! | no token, or not a live one | 401 with `WWW-Authenticate: Bearer` |
//! | `PUT /blobs/<blake3 hex>` | 201 stored, 200 already held; 400 when the body's blake3 is not the path; 413 over `max_blob_bytes`; 507 when the agreement's volume or `capacity_bytes` would be exceeded; 409 while the same blob is being uploaded |
//! | `GET /blobs/<hex>` | 200 with the blob; with `Range: bytes=a-b` (or `a-`, `-n`) 206 and `Content-Range`; 416 when the range starts past the end; 403 when the blob is another agreement's; 404 unknown |
//! | `DELETE /blobs/<hex>` | 204; 403 another agreement's; 404 unknown |
//! | `GET /blobs` with a token | the namespace: `{"used_bytes", "quota_bytes", "objects": [{"name", "size"}]}` |
//! | `GET /blobs` without one | `{"used_bytes": …, "capacity_bytes": …, "blobs": <count>}` (all namespaces) |
//!
//! Blobs are files `<data_dir>/blobs/<namespace hex>/<blake3 hex>`, written to a temp file,
//! fsynced and renamed, so a blob is either complete or absent after a crash; usage is
//! recounted from the files at start. Every request is bounded: body size, body read time,
//! requests in flight (more are answered 503 with `Retry-After`).
//!
//! Fault knobs for testing the prober: `added_latency_ms` delays every answer; each GET of a
//! stored blob fails with probability `failure_rate`, half of the time as 503 and half as a
//! 200/206 whose body has one byte flipped (only a blake3 check notices). `seed` makes the draws
//! reproducible.

mod disk;
mod range;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use flashback_types::ObjectId;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::access::{Access, BlobOwner};
use crate::config::BlobConfig;
use crate::{NodeError, blocking};
use disk::{Key, parse_hash};
use range::{Wanted, parse_range};

/// Requests handled at once; more are answered 503 (bounds memory: each may hold a body).
const MAX_IN_FLIGHT: usize = 32;
/// Longest time to receive an upload's body.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Binds the blob endpoint, recounts the blobs under `dir`, and serves until `stop` is
/// cancelled (the server task is tracked by `tasks`), checking tokens with `access`. Returns
/// the endpoint's base URL, `http://<addr>` (loopback when bound to an unspecified address).
pub(crate) async fn serve(
    config: BlobConfig,
    dir: PathBuf,
    access: Arc<Access>,
    stop: CancellationToken,
    tasks: &TaskTracker,
) -> Result<String, NodeError> {
    let invalid = |detail: String| NodeError::Io {
        path: dir.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, detail),
    };
    if !(0.0..=1.0).contains(&config.failure_rate) {
        return Err(invalid(format!(
            "blobs.failure_rate must be between 0.0 and 1.0, got {}",
            config.failure_rate
        )));
    }
    let max_blob = usize::try_from(config.max_blob_bytes)
        .map_err(|_| invalid("blobs.max_blob_bytes is too large for this machine".into()))?;

    let scan_dir = dir.clone();
    let stored = blocking(move || disk::scan(&scan_dir)).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| NodeError::Io {
            path: dir.clone(),
            source: std::io::Error::new(
                e.kind(),
                format!(
                    "blob endpoint cannot listen on {}: {e}; set blobs.listen to a free address",
                    config.listen
                ),
            ),
        })?;
    let bound = listener.local_addr().map_err(|source| NodeError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut ledger = Ledger::default();
    for (key, size) in stored {
        ledger.add(key, size);
        ledger.entries.insert(key, Entry::Stored(size));
    }
    tracing::info!(%bound, blobs = ledger.entries.len(), used = ledger.used, "blob endpoint listening");

    let rng = match config.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => rand::make_rng(),
    };
    let blobs = Arc::new(Blobs {
        dir,
        access,
        capacity: config.capacity_bytes,
        max_blob,
        latency: Duration::from_millis(config.added_latency_ms),
        failure_rate: config.failure_rate,
        rng: Mutex::new(rng),
        state: Mutex::new(ledger),
        in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
    });
    let app = axum::Router::new()
        .route("/blobs", get(usage))
        .route("/blobs/{hash}", get(blob).put(blob).delete(blob))
        // `put_blob` reads the body itself (with a timeout) under the same limit; the layer
        // keeps any other extractor bounded too.
        .layer(DefaultBodyLimit::max(max_blob))
        .with_state(blobs);
    tasks.spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "blob endpoint stopped");
        }
    });
    let host = match bound.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => {
            SocketAddr::from(([127, 0, 0, 1], bound.port()))
        }
        ip if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, bound.port()))
        }
        _ => bound,
    };
    Ok(format!("http://{host}"))
}

struct Blobs {
    dir: PathBuf,
    access: Arc<Access>,
    capacity: u64,
    max_blob: usize,
    latency: Duration,
    failure_rate: f64,
    rng: Mutex<StdRng>,
    state: Mutex<Ledger>,
    in_flight: Arc<Semaphore>,
}

/// Sizes of the blobs held and being written, in all and per namespace; the sums count both,
/// so concurrent uploads can never overcommit the capacity or an agreement's volume.
#[derive(Default)]
struct Ledger {
    used: u64,
    used_by: HashMap<ObjectId, u64>,
    /// How many namespaces hold each blob name (to tell "another's" from "unknown").
    holders: HashMap<blake3::Hash, u32>,
    entries: HashMap<Key, Entry>,
}

impl Ledger {
    fn add(&mut self, (namespace, hash): Key, size: u64) {
        self.used = self.used.saturating_add(size);
        *self.used_by.entry(namespace).or_default() += size;
        *self.holders.entry(hash).or_default() += 1;
    }

    fn remove(&mut self, (namespace, hash): Key, size: u64) {
        self.used = self.used.saturating_sub(size);
        if let Some(used) = self.used_by.get_mut(&namespace) {
            *used = used.saturating_sub(size);
            if *used == 0 {
                self.used_by.remove(&namespace);
            }
        }
        if let Some(n) = self.holders.get_mut(&hash) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.holders.remove(&hash);
            }
        }
    }

    /// The answer for a blob the caller's namespace does not hold.
    fn not_yours(&self, hash: &blake3::Hash) -> Response {
        if self.holders.contains_key(hash) {
            plain(
                StatusCode::FORBIDDEN,
                "this blob belongs to another agreement",
            )
        } else {
            plain(StatusCode::NOT_FOUND, "no such blob")
        }
    }
}

#[derive(Clone, Copy)]
enum Entry {
    Stored(u64),
    Writing,
}

/// What the fault knob decided for one GET.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    Unavailable,
    Corrupt(usize),
}

impl Blobs {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        // The ledger holds plain numbers that are consistent after every statement: a panic
        // elsewhere cannot leave it half-updated, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn draw_fault(&self, len: usize) -> Fault {
        if self.failure_rate <= 0.0 {
            return Fault::None;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        if !rng.random_bool(self.failure_rate) {
            return Fault::None;
        }
        if len == 0 || rng.random_bool(0.5) {
            Fault::Unavailable
        } else {
            Fault::Corrupt(rng.random_range(0..len))
        }
    }

    /// Waits the configured latency and takes an in-flight slot, or answers 503.
    async fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Response> {
        let permit = self.in_flight.clone().try_acquire_owned().map_err(|_| {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                "too many requests in flight\n",
            )
                .into_response()
        })?;
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        Ok(permit)
    }

    /// Admits a request on blob `name`: an in-flight slot, the namespace its token opens and
    /// the blob's hash, or the answer that refuses it.
    async fn request(
        &self,
        headers: &HeaderMap,
        name: &str,
    ) -> Result<(tokio::sync::OwnedSemaphorePermit, BlobOwner, blake3::Hash), Response> {
        let permit = self.admit().await?;
        let owner = self.owner(headers)?;
        let hash = parse_hash(name).ok_or_else(bad_name)?;
        Ok((permit, owner, hash))
    }

    /// The namespace the request's bearer token opens, or the 401 to answer.
    // The refusal is the answer itself, built once for a refused request: no gain in boxing.
    #[allow(clippy::result_large_err)]
    fn owner(&self, headers: &HeaderMap) -> Result<BlobOwner, Response> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(token) = token else {
            return Err(unauthorized(
                "Bearer realm=\"flashback_blob\"",
                "a blob request needs the agreement's token: Authorization: Bearer <token> \
                 (see `flashback sla access`)",
            ));
        };
        self.access
            .blob_owner(token, flashback_types::clock::now())
            .ok_or_else(|| {
                unauthorized(
                    "Bearer realm=\"flashback_blob\", error=\"invalid_token\"",
                    "this token opens no live agreement (unknown, revoked or expired)",
                )
            })
    }
}

fn unauthorized(challenge: &'static str, message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, challenge)],
        format!("{message}\n"),
    )
        .into_response()
}

fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    let mut text = message.into();
    text.push('\n');
    (status, text).into_response()
}

fn bad_name() -> Response {
    plain(
        StatusCode::BAD_REQUEST,
        "a blob is named by the 64 lowercase hex characters of its blake3",
    )
}

fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(serde::Serialize)]
struct Usage {
    used_bytes: u64,
    capacity_bytes: u64,
    blobs: usize,
}

#[derive(serde::Serialize)]
struct Listing {
    used_bytes: u64,
    quota_bytes: u64,
    objects: Vec<Listed>,
}

#[derive(serde::Serialize)]
struct Listed {
    name: String,
    size: u64,
}

async fn usage(State(blobs): State<Arc<Blobs>>, headers: HeaderMap) -> Response {
    let _permit = match blobs.admit().await {
        Ok(p) => p,
        Err(busy) => return busy,
    };
    if headers.contains_key(header::AUTHORIZATION) {
        let owner = match blobs.owner(&headers) {
            Ok(owner) => owner,
            Err(refused) => return refused,
        };
        let listing = {
            let ledger = blobs.ledger();
            let mut objects: Vec<Listed> = ledger
                .entries
                .iter()
                .filter_map(|((ns, hash), e)| match e {
                    Entry::Stored(size) if *ns == owner.namespace => Some(Listed {
                        name: hash.to_hex().to_string(),
                        size: *size,
                    }),
                    _ => None,
                })
                .collect();
            objects.sort_by(|a, b| a.name.cmp(&b.name));
            Listing {
                used_bytes: ledger.used_by.get(&owner.namespace).copied().unwrap_or(0),
                quota_bytes: owner.quota,
                objects,
            }
        };
        return json(&listing);
    }
    let usage = {
        let ledger = blobs.ledger();
        Usage {
            used_bytes: ledger.used,
            capacity_bytes: blobs.capacity,
            blobs: ledger
                .entries
                .values()
                .filter(|e| matches!(e, Entry::Stored(_)))
                .count(),
        }
    };
    json(&usage)
}

/// A request on one blob: admitted once (an in-flight slot, the namespace its token opens,
/// the name), then served by its method.
async fn blob(
    method: Method,
    State(blobs): State<Arc<Blobs>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (_permit, owner, hash) = match blobs.request(&headers, &name).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    match method {
        Method::PUT => put_blob(&blobs, owner, hash, body).await,
        Method::DELETE => delete_blob(&blobs, (owner.namespace, hash)).await,
        // GET, and the HEAD axum routes with it.
        _ => get_blob(&blobs, (owner.namespace, hash), &headers).await,
    }
}

async fn put_blob(blobs: &Blobs, owner: BlobOwner, hash: blake3::Hash, body: Body) -> Response {
    let data = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, blobs.max_blob))
        .await
    {
        Ok(Ok(data)) => data,
        Ok(Err(_)) => {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "blob larger than {} bytes (or the upload broke off)",
                    blobs.max_blob
                ),
            );
        }
        Err(_) => return plain(StatusCode::REQUEST_TIMEOUT, "upload too slow"),
    };
    if blake3::hash(&data) != hash {
        return plain(
            StatusCode::BAD_REQUEST,
            "the body's blake3 is not the name in the path",
        );
    }
    let size = data.len() as u64;
    let key = (owner.namespace, hash);
    {
        let mut ledger = blobs.ledger();
        match ledger.entries.get(&key) {
            Some(Entry::Stored(_)) => return plain(StatusCode::OK, "already stored"),
            Some(Entry::Writing) => {
                return plain(StatusCode::CONFLICT, "the same blob is being uploaded");
            }
            None => {}
        }
        let mine = ledger.used_by.get(&owner.namespace).copied().unwrap_or(0);
        if mine
            .checked_add(size)
            .is_none_or(|total| total > owner.quota)
        {
            return plain(
                StatusCode::INSUFFICIENT_STORAGE,
                format!(
                    "no room in this agreement: {mine} of {} bytes used",
                    owner.quota
                ),
            );
        }
        let fits = ledger
            .used
            .checked_add(size)
            .is_some_and(|total| total <= blobs.capacity);
        if !fits {
            return plain(
                StatusCode::INSUFFICIENT_STORAGE,
                format!("no room: {} of {} bytes used", ledger.used, blobs.capacity),
            );
        }
        ledger.add(key, size);
        ledger.entries.insert(key, Entry::Writing);
    }
    let path = disk::path(&blobs.dir, &key);
    let written = tokio::task::spawn_blocking(move || disk::write_durably(&path, &data))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    let mut ledger = blobs.ledger();
    match written {
        Ok(()) => {
            ledger.entries.insert(key, Entry::Stored(size));
            plain(StatusCode::CREATED, "stored")
        }
        Err(e) => {
            ledger.entries.remove(&key);
            ledger.remove(key, size);
            tracing::warn!(error = %e, "could not store a blob");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not store the blob",
            )
        }
    }
}

async fn get_blob(blobs: &Blobs, key: Key, headers: &HeaderMap) -> Response {
    let hash = key.1;
    let size = {
        let ledger = blobs.ledger();
        match ledger.entries.get(&key) {
            Some(Entry::Stored(size)) => *size,
            _ => return ledger.not_yours(&hash),
        }
    };
    let (start, end, partial) = match parse_range(headers.get(header::RANGE), size) {
        Wanted::Unsatisfiable => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{size}"))],
                "range starts past the end of the blob\n",
            )
                .into_response();
        }
        Wanted::All => (0, size.saturating_sub(1), false),
        Wanted::Part(a, b) => (a, b, true),
    };
    let len = if size == 0 { 0 } else { end - start + 1 };
    let Ok(len_usize) = usize::try_from(len) else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "range too large");
    };
    let fault = blobs.draw_fault(len_usize);
    if fault == Fault::Unavailable {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "injected failure");
    }
    let path = disk::path(&blobs.dir, &key);
    let read = tokio::task::spawn_blocking(move || disk::read_range(&path, start, len_usize))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    let mut data = match read {
        Ok(data) => data,
        // Deleted between the lookup and the read.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return plain(StatusCode::NOT_FOUND, "no such blob");
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read a blob");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "could not read the blob");
        }
    };
    if let Fault::Corrupt(at) = fault
        && let Some(byte) = data.get_mut(at)
    {
        *byte ^= 0x01;
    }
    let body = Bytes::from(data);
    if partial {
        (
            StatusCode::PARTIAL_CONTENT,
            [
                (header::ACCEPT_RANGES, "bytes".to_owned()),
                (header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}")),
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            ],
            body,
        )
            .into_response()
    } else {
        (
            StatusCode::OK,
            [
                (header::ACCEPT_RANGES, "bytes"),
                (header::CONTENT_TYPE, "application/octet-stream"),
            ],
            body,
        )
            .into_response()
    }
}

async fn delete_blob(blobs: &Blobs, key: Key) -> Response {
    let hash = key.1;
    {
        let mut ledger = blobs.ledger();
        match ledger.entries.get(&key).copied() {
            Some(Entry::Stored(size)) => {
                ledger.entries.remove(&key);
                ledger.remove(key, size);
            }
            Some(Entry::Writing) => {
                return plain(StatusCode::CONFLICT, "the blob is being uploaded");
            }
            None => return ledger.not_yours(&hash),
        }
    }
    let path = disk::path(&blobs.dir, &key);
    let removed = tokio::task::spawn_blocking(move || std::fs::remove_file(path))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    match removed {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => {
            // The ledger no longer counts it; a restart recounts the file if it is still there.
            tracing::warn!(error = %e, "could not delete a blob file");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not delete the blob",
            )
        }
    }
}
