//! A small HTTP/1 client on hyper, where every request, body included, has a deadline and every
//! answer a size limit. The QoS prober talks to providers' data planes with it, and the testnet
//! runner to its nodes' loopback endpoints (`/metrics`, `/admin/…`).
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
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub use hyper::{Method, StatusCode};

use crate::ClientError;

/// A pool of plain-HTTP connections with one deadline for every request. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: HyperClient<HttpConnector, Full<Bytes>>,
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
        let mut request = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(body.into()))
            .map_err(|e| fail(e.to_string()))?;
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
