//! A small HTTP/1 client on hyper, where every request, body included, has a deadline and every
//! answer a size limit. The QoS prober and the data commands talk to providers' data planes
//! with it, and the testnet runner to its nodes' loopback endpoints (`/metrics`, `/admin/…`).
//!
//! [`HttpClient::send`] holds whole bodies in memory, within the deadline; [`HttpClient::upload`]
//! and [`HttpClient::download`] stream them (a file of any size in bounded memory), failing only
//! when no byte moves for the deadline.
//!
//! ```no_run
//! # async fn run() -> Result<(), flashback_client::ClientError> {
//! use std::time::Duration;
//! use flashback_client::http::{HttpClient, Method, StatusCode};
//!
//! let http = HttpClient::new(Duration::from_secs(5));
//! let (status, body) = http
//!     .send(Method::GET, "http://127.0.0.1:9100/metrics", &[], Vec::new(), 1 << 20)
//!     .await?;
//! assert_eq!(status, StatusCode::OK);
//! # let _ = body;
//! # Ok(()) }
//! ```

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::Request;
use hyper::body::Frame;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub use hyper::{Method, StatusCode};

use crate::ClientError;

type Body = BoxBody<Bytes, std::io::Error>;

/// Most bytes read of the answer to an upload (a status line's worth of text, or an S3 error
/// document).
pub const MAX_UPLOAD_ANSWER: usize = 64 * 1024;

/// A pool of plain-HTTP connections with one deadline for every request. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: HyperClient<HttpConnector, Body>,
    timeout: Duration,
}

impl HttpClient {
    /// A client whose requests (connect, send and the whole answer) each take at most
    /// `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        let client = HyperClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(2)
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self { client, timeout }
    }

    /// Sends `body` to `url` with `headers` (name, value) and reads at most `limit` bytes of the
    /// answer. Any status is an answer; no answer within the deadline, a refused connection
    /// or a longer answer is an error.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
        limit: usize,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let fail = |detail: String| ClientError::Http {
            url: url.to_owned(),
            detail,
        };
        let request = build(method, url, headers, whole(body.into()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), limit)
                .collect()
                .await
                .map_err(|e| fail(e.to_string()))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| fail(format!("no answer within {:?}", self.timeout)))?
    }
}

impl HttpClient {
    /// Sends `len` bytes from `body` to `url` (with a `content-length`), streaming: memory
    /// stays bounded whatever the size. `progress` is called with each chunk's length as it is
    /// handed to the connection. Fails when no chunk moves for the client's deadline; reads at
    /// most [`MAX_UPLOAD_ANSWER`] bytes of the answer.
    pub async fn upload<S>(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: S,
        len: u64,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<(StatusCode, Bytes), ClientError>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static,
    {
        let fail = |detail: String| ClientError::Http {
            url: url.to_owned(),
            detail,
        };
        let length = len.to_string();
        let mut all = vec![(hyper::header::CONTENT_LENGTH.as_str(), length.as_str())];
        all.extend_from_slice(headers);
        // A watchdog instead of a deadline: the upload may take long, but not stand still.
        let started = tokio::time::Instant::now();
        let moved = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = moved.clone();
        let frames = body.map(move |chunk| {
            chunk
                .inspect(|bytes| {
                    let at = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    seen.store(at, std::sync::atomic::Ordering::Relaxed);
                    progress(bytes.len() as u64);
                })
                .map(Frame::data)
        });
        let request = build(method, url, &all, BodyExt::boxed(StreamBody::new(frames)))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| fail(format!("{e} ({})", source_of(&e))))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_UPLOAD_ANSWER)
                .collect()
                .await
                .map_err(|e| fail(e.to_string()))?
                .to_bytes();
            Ok((status, body))
        };
        let timeout = self.timeout;
        let watchdog = async {
            loop {
                tokio::time::sleep(timeout / 4).await;
                let last = std::time::Duration::from_millis(
                    moved.load(std::sync::atomic::Ordering::Relaxed),
                );
                if started.elapsed().saturating_sub(last) > timeout {
                    return fail(format!("nothing moved for {timeout:?}"));
                }
            }
        };
        tokio::select! {
            result = exchange => result,
            stalled = watchdog => Err(stalled),
        }
    }

    /// Sends a body-less request to `url` and streams the answer's body into `sink`, chunk by
    /// chunk, when the status is a success; other answers are returned with at most `limit`
    /// bytes of their body (an S3 error document, say). Fails when no byte arrives for the
    /// client's deadline.
    pub async fn download(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        limit: usize,
        mut sink: impl FnMut(Bytes) -> Result<(), ClientError>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let fail = |detail: String| ClientError::Http {
            url: url.to_owned(),
            detail,
        };
        let request = build(method, url, headers, whole(Bytes::new()))?;
        let response = tokio::time::timeout(self.timeout, self.client.request(request))
            .await
            .map_err(|_| fail(format!("no answer within {:?}", self.timeout)))?
            .map_err(|e| fail(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let body = tokio::time::timeout(
                self.timeout,
                Limited::new(response.into_body(), limit).collect(),
            )
            .await
            .map_err(|_| fail(format!("no answer within {:?}", self.timeout)))?
            .map_err(|e| fail(e.to_string()))?
            .to_bytes();
            return Ok((status, body));
        }
        let mut body = response.into_body().into_data_stream();
        loop {
            let next = tokio::time::timeout(self.timeout, body.try_next())
                .await
                .map_err(|_| fail(format!("no data for {:?}", self.timeout)))?
                .map_err(|e| fail(e.to_string()))?;
            match next {
                Some(chunk) => sink(chunk)?,
                None => return Ok((status, Bytes::new())),
            }
        }
    }
}

/// A request with `headers` and `body`.
fn build(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> Result<Request<Body>, ClientError> {
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(body).map_err(|e| ClientError::Http {
        url: url.to_owned(),
        detail: e.to_string(),
    })
}

/// A body held whole in memory.
fn whole(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// The innermost cause of a hyper client error, which says what happened on the wire.
fn source_of(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
