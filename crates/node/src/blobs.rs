//! The reference blob endpoint: a small HTTP store of blobs addressed by their blake3, served
//! next to a full node so QoS probes measure a real data plane. Off by default
//! (`blobs.enabled`); testnets turn it on.
//!
//! | request | answer |
//! |---|---|
//! | `PUT /blobs/<blake3 hex>` | 201 stored, 200 already held; 400 when the body's blake3 is not the path; 413 over `max_blob_bytes`; 507 when `capacity_bytes` would be exceeded; 409 while the same blob is being uploaded |
//! | `GET /blobs/<hex>` | 200 with the blob; with `Range: bytes=a-b` (or `a-`, `-n`) 206 and `Content-Range`; 416 when the range starts past the end; 404 unknown |
//! | `DELETE /blobs/<hex>` | 204, or 404 unknown |
//! | `GET /blobs` | `{"used_bytes": …, "capacity_bytes": …, "blobs": <count>}` |
//!
//! Blobs are files `<data_dir>/blobs/<hex>`, written to a temp file, fsynced and renamed, so a
//! blob is either complete or absent after a crash; usage is recounted from the files at
//! start. Every request is bounded: body size, body read time, requests in flight (more are
//! answered 503 with `Retry-After`).
//!
//! Fault knobs for testing the prober: `added_latency_ms` delays every answer; each GET of a
//! stored blob fails with probability `failure_rate`, half of the time as 503 and half as a
//! 200/206 whose body has one byte flipped (only a blake3 check notices). `seed` makes the draws
//! reproducible.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::BlobConfig;
use crate::{NodeError, blocking};

/// Requests handled at once; more are answered 503 (bounds memory: each may hold a body).
const MAX_IN_FLIGHT: usize = 32;
/// Longest time to receive an upload's body.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Prefix of temp files (never a valid blob name, removed at start).
const TMP_PREFIX: &str = ".tmp-";

/// Binds the blob endpoint, recounts the blobs under `dir`, and serves until `stop` is
/// cancelled (the server task is tracked by `tasks`). Returns the endpoint's base URL,
/// `http://<addr>` (loopback when bound to an unspecified address).
pub(crate) async fn serve(
    config: BlobConfig,
    dir: PathBuf,
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
    let (entries, used) = blocking(move || scan(&scan_dir)).await?;
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
    tracing::info!(%bound, blobs = entries.len(), used, "blob endpoint listening");

    let rng = match config.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => rand::make_rng(),
    };
    let blobs = Arc::new(Blobs {
        dir,
        capacity: config.capacity_bytes,
        max_blob,
        latency: Duration::from_millis(config.added_latency_ms),
        failure_rate: config.failure_rate,
        rng: Mutex::new(rng),
        state: Mutex::new(Ledger { used, entries }),
        in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
    });
    let app = axum::Router::new()
        .route("/blobs", get(usage))
        .route(
            "/blobs/{hash}",
            get(get_blob).put(put_blob).delete(delete_blob),
        )
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
    capacity: u64,
    max_blob: usize,
    latency: Duration,
    failure_rate: f64,
    rng: Mutex<StdRng>,
    state: Mutex<Ledger>,
    in_flight: Arc<Semaphore>,
}

/// Sizes of the blobs held and being written; `used` counts both, so concurrent uploads can
/// never overcommit the capacity.
struct Ledger {
    used: u64,
    entries: HashMap<blake3::Hash, Entry>,
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

    fn path(&self, hash: &blake3::Hash) -> PathBuf {
        self.dir.join(hash.to_hex().as_str())
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
}

/// Recounts the blobs in `dir` (creating it), removing temp files left by a crash.
fn scan(dir: &Path) -> Result<(HashMap<blake3::Hash, Entry>, u64), NodeError> {
    let io = |source| NodeError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut entries = HashMap::new();
    let mut used = 0u64;
    for item in std::fs::read_dir(dir).map_err(io)? {
        let item = item.map_err(io)?;
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(TMP_PREFIX) {
            let _ = std::fs::remove_file(item.path());
            continue;
        }
        let Some(hash) = parse_hash(name) else {
            continue;
        };
        let meta = item.metadata().map_err(io)?;
        if meta.is_file() {
            used = used.saturating_add(meta.len());
            entries.insert(hash, Entry::Stored(meta.len()));
        }
    }
    Ok((entries, used))
}

/// A blob name: exactly 64 lowercase hex characters (the file name is always re-derived from
/// the parsed hash, so no path can escape the blob dir).
fn parse_hash(s: &str) -> Option<blake3::Hash> {
    if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    blake3::Hash::from_hex(s).ok()
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

#[derive(serde::Serialize)]
struct Usage {
    used_bytes: u64,
    capacity_bytes: u64,
    blobs: usize,
}

async fn usage(State(blobs): State<Arc<Blobs>>) -> Response {
    let _permit = match blobs.admit().await {
        Ok(p) => p,
        Err(busy) => return busy,
    };
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
    match serde_json::to_string(&usage) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn put_blob(
    State(blobs): State<Arc<Blobs>>,
    UrlPath(name): UrlPath<String>,
    body: Body,
) -> Response {
    let _permit = match blobs.admit().await {
        Ok(p) => p,
        Err(busy) => return busy,
    };
    let Some(hash) = parse_hash(&name) else {
        return bad_name();
    };
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
    {
        let mut ledger = blobs.ledger();
        match ledger.entries.get(&hash) {
            Some(Entry::Stored(_)) => return plain(StatusCode::OK, "already stored"),
            Some(Entry::Writing) => {
                return plain(StatusCode::CONFLICT, "the same blob is being uploaded");
            }
            None => {}
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
        ledger.used += size;
        ledger.entries.insert(hash, Entry::Writing);
    }
    let (dir, path) = (blobs.dir.clone(), blobs.path(&hash));
    let written = tokio::task::spawn_blocking(move || write_durably(&dir, &path, &data))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    let mut ledger = blobs.ledger();
    match written {
        Ok(()) => {
            ledger.entries.insert(hash, Entry::Stored(size));
            plain(StatusCode::CREATED, "stored")
        }
        Err(e) => {
            ledger.entries.remove(&hash);
            ledger.used = ledger.used.saturating_sub(size);
            tracing::warn!(error = %e, "could not store a blob");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not store the blob",
            )
        }
    }
}

/// Writes a temp file, fsyncs it, renames it into place and fsyncs the directory, so the blob
/// is complete or absent after a crash.
fn write_durably(dir: &Path, path: &Path, data: &[u8]) -> std::io::Result<()> {
    let nonce: u64 = rand::random();
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("blob");
    let tmp = dir.join(format!("{TMP_PREFIX}{name}-{nonce:016x}"));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A parsed `Range` header against a blob of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    /// No (usable) range: the whole blob.
    All,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// A well-formed range that starts past the end.
    Unsatisfiable,
}

/// Parses one `bytes=a-b`, `bytes=a-` or `bytes=-n` range. Anything else (other units,
/// several ranges, garbage) is ignored and the whole blob is served, as RFC 9110 allows.
fn parse_range(value: Option<&HeaderValue>, size: u64) -> Wanted {
    let Some(spec) = value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Wanted::All;
    };
    if spec.contains(',') {
        return Wanted::All;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Wanted::All;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (first.is_empty(), last.is_empty()) {
        // `-n`: the last n bytes.
        (true, false) => match number(last) {
            Some(0) => Wanted::Unsatisfiable,
            Some(_) if size == 0 => Wanted::Unsatisfiable,
            Some(n) => Wanted::Part(size.saturating_sub(n), size - 1),
            None => Wanted::All,
        },
        // `a-`: from a to the end.
        (false, true) => match number(first) {
            Some(a) if a >= size => Wanted::Unsatisfiable,
            Some(a) => Wanted::Part(a, size - 1),
            None => Wanted::All,
        },
        (false, false) => match (number(first), number(last)) {
            (Some(a), Some(b)) if a > b => Wanted::All,
            (Some(a), Some(_)) if a >= size => Wanted::Unsatisfiable,
            (Some(a), Some(b)) => Wanted::Part(a, b.min(size - 1)),
            _ => Wanted::All,
        },
        (true, true) => Wanted::All,
    }
}

async fn get_blob(
    State(blobs): State<Arc<Blobs>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let _permit = match blobs.admit().await {
        Ok(p) => p,
        Err(busy) => return busy,
    };
    let Some(hash) = parse_hash(&name) else {
        return bad_name();
    };
    let size = match blobs.ledger().entries.get(&hash) {
        Some(Entry::Stored(size)) => *size,
        _ => return plain(StatusCode::NOT_FOUND, "no such blob"),
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
    let path = blobs.path(&hash);
    let read = tokio::task::spawn_blocking(move || read_range(&path, start, len_usize))
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

fn read_range(path: &Path, start: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut data = vec![0u8; len];
    file.read_exact(&mut data)?;
    Ok(data)
}

async fn delete_blob(State(blobs): State<Arc<Blobs>>, UrlPath(name): UrlPath<String>) -> Response {
    let _permit = match blobs.admit().await {
        Ok(p) => p,
        Err(busy) => return busy,
    };
    let Some(hash) = parse_hash(&name) else {
        return bad_name();
    };
    {
        let mut ledger = blobs.ledger();
        match ledger.entries.get(&hash).copied() {
            Some(Entry::Stored(size)) => {
                ledger.entries.remove(&hash);
                ledger.used = ledger.used.saturating_sub(size);
            }
            Some(Entry::Writing) => {
                return plain(StatusCode::CONFLICT, "the blob is being uploaded");
            }
            None => return plain(StatusCode::NOT_FOUND, "no such blob"),
        }
    }
    let path = blobs.path(&hash);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn range(v: &str, size: u64) -> Wanted {
        parse_range(Some(&HeaderValue::from_str(v).expect("header")), size)
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Wanted::All);
        assert_eq!(range("bytes=0-0", 10), Wanted::Part(0, 0));
        assert_eq!(range("bytes=2-5", 10), Wanted::Part(2, 5));
        assert_eq!(range("bytes=2-50", 10), Wanted::Part(2, 9));
        assert_eq!(range("bytes=7-", 10), Wanted::Part(7, 9));
        assert_eq!(range("bytes=-3", 10), Wanted::Part(7, 9));
        assert_eq!(range("bytes=-30", 10), Wanted::Part(0, 9));
        assert_eq!(range("bytes=10-", 10), Wanted::Unsatisfiable);
        assert_eq!(range("bytes=10-20", 10), Wanted::Unsatisfiable);
        assert_eq!(range("bytes=-0", 10), Wanted::Unsatisfiable);
        assert_eq!(range("bytes=0-", 0), Wanted::Unsatisfiable);
        assert_eq!(range("bytes=-5", 0), Wanted::Unsatisfiable);
        // Ignored: served whole.
        assert_eq!(range("bytes=5-2", 10), Wanted::All);
        assert_eq!(range("bytes=0-1,3-4", 10), Wanted::All);
        assert_eq!(range("items=0-1", 10), Wanted::All);
        assert_eq!(range("bytes=x-1", 10), Wanted::All);
        assert_eq!(range("bytes=+1-2", 10), Wanted::All);
        assert_eq!(range("bytes=-", 10), Wanted::All);
        assert_eq!(range("bytes=99999999999999999999999-", 10), Wanted::All);
    }

    #[test]
    fn names() {
        let h = blake3::hash(b"x");
        assert_eq!(parse_hash(h.to_hex().as_str()), Some(h));
        assert_eq!(parse_hash(&h.to_hex().as_str().to_uppercase()), None);
        assert_eq!(parse_hash("../etc/passwd"), None);
        assert_eq!(parse_hash(""), None);
        assert_eq!(parse_hash(&"a".repeat(63)), None);
    }
}
