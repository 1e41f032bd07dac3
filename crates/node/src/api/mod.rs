//! The gateway HTTP API (`/api/v1`) and the web explorer (`/`), served by the full node on
//! loopback by default (`[api]`): JSON reads of the listing, providers, agreements,
//! attestations, status and market statistics; writes of signed objects, behind a bearer
//! token kept in `<data_dir>/api.token` (0600); live events as Server-Sent Events; the OpenAPI
//! document at `/api/v1/openapi.json`. Every answer's types are `flashback_api`'s, the same the
//! CLI's `--json` prints.
//!
//! - `reads.rs`: the read endpoints; `market.rs`: market statistics;
//! - `writes.rs`: submit signed bytes, and publish or withdraw with an account key the node
//!   holds (`accounts/<name>.key`, imported by `flashback api import-key`);
//! - `proposals.rs`: propose an SLA with an account key the node holds, and follow the
//!   proposal to its decision and agreement;
//! - `deals.rs`: make a deal in the background with an account key the node holds, through
//!   the deal service the node was started with, and follow it;
//! - `events.rs`: `/api/v1/events`, bounded per subscriber;
//! - `openapi.rs`: the OpenAPI 3.1 document, generated from the handlers' annotations;
//! - `explorer.rs`: the embedded web explorer.

mod deals;
mod events;
mod explorer;
mod market;
pub(crate) mod openapi;
mod proposals;
mod reads;
mod writes;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flashback_api::ErrorBody;
use flashback_types::{ErrorCode, keyfile};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::service::Services;
use crate::{NodeError, bind_local};

/// Name of the API token file in the data dir.
pub const API_TOKEN: &str = "api.token";

/// The directory of account keys the API signs with, in the data dir.
pub const ACCOUNTS_DIR: &str = "accounts";

/// Where the API is served when `api.listen` is not set (and that port is free).
pub const DEFAULT_API_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9465);

/// Largest request body, bytes: a signed object (at most 64 KiB) as hex, with room for JSON.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Most offers the market statistics look at per request.
pub(crate) const MAX_MARKET_OFFERS: usize = 20_000;

/// Most event subscribers at once; more are answered 503.
pub const MAX_SUBSCRIBERS: usize = 256;

pub use deals::{MAX_FINISHED_DEALS, MAX_RUNNING_DEALS};

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) services: Services,
    pub(crate) peer_id: String,
    token: Arc<str>,
    pub(crate) data_dir: PathBuf,
    pub(crate) subscribers: Arc<Semaphore>,
    /// Events each subscriber may have waiting before it is dropped.
    pub(crate) subscriber_buffer: usize,
    /// The deals made over HTTP, and the service that makes them.
    pub(crate) deals: Arc<deals::Deals>,
}

/// Reads the API token from `<data_dir>/api.token`, writing a fresh one (0600) when there is
/// none: it lasts across restarts, so a gateway is configured once.
fn token(data_dir: &Path) -> Result<String, NodeError> {
    let path = data_dir.join(API_TOKEN);
    if let Ok(text) = std::fs::read_to_string(&path)
        && !text.trim().is_empty()
    {
        return Ok(text.trim().to_owned());
    }
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| NodeError::Internal(format!("no randomness: {e}")))?;
    let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    keyfile::write_secret(&path, token.as_bytes(), keyfile::Existing::Replace)
        .map_err(|source| NodeError::Io { path, source })?;
    Ok(token)
}

/// Binds and serves the API and the explorer until `stop`; returns the bound address.
pub(crate) async fn serve(
    config: &crate::ApiConfig,
    data_dir: &Path,
    services: Services,
    deal_service: Option<Arc<dyn flashback_api::deals::DealService>>,
    stop: tokio_util::sync::CancellationToken,
) -> Result<SocketAddr, NodeError> {
    let state = ApiState {
        peer_id: services.net.local_peer_id().to_string(),
        services,
        token: token(data_dir)?.into(),
        data_dir: data_dir.to_path_buf(),
        subscribers: Arc::new(Semaphore::new(MAX_SUBSCRIBERS)),
        subscriber_buffer: config.subscriber_buffer.max(1),
        deals: Arc::new(deals::Deals::new(deal_service, stop.clone())),
    };
    let listener = bind_local(config.listen, DEFAULT_API_ADDR, "API", "--api").await?;
    let bound = listener
        .local_addr()
        .map_err(|e| NodeError::Metrics(e.to_string()))?;
    let app = router(state);
    tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "API endpoint stopped");
        }
    });
    Ok(bound)
}

fn router(state: ApiState) -> Router {
    Router::new()
        .merge(reads::routes())
        .merge(writes::routes())
        .merge(proposals::routes())
        .merge(deals::routes())
        .merge(events::routes())
        .merge(openapi::routes())
        .merge(explorer::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn not_found() -> Response {
    ApiError::new(
        ErrorCode::NotFound,
        "no such endpoint: see /api/v1/openapi.json for the API's paths",
    )
    .into_response()
}

/// An error answer: the stable code's HTTP status and `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: ErrorBody::new(code, message),
        }
    }

    /// An error of the HTTP layer with its own status and code (`not_implemented`,
    /// `too_many_deals`).
    pub(crate) fn with_status(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody::with_code(code, message),
        }
    }

    pub(crate) fn bad(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            body: ErrorBody::with_code(
                "unauthorized",
                format!(
                    "writes need `Authorization: Bearer <token>`, with the token in the node's \
                     <data_dir>/{API_TOKEN}"
                ),
            ),
        }
    }

    pub(crate) fn too_large(detail: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            body: ErrorBody::with_code(
                "too_large",
                format!("{detail}: a request body holds at most {MAX_BODY_BYTES} bytes"),
            ),
        }
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        Self::new(crate::service::query_code(&e), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_with(self.status, &self.body)
    }
}

/// A JSON answer with a status.
pub(crate) fn json_with<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the answer: {e}"),
        )
            .into_response(),
    }
}

/// A 200 JSON answer.
pub(crate) fn json<T: Serialize>(value: &T) -> Response {
    json_with(StatusCode::OK, value)
}

/// Handlers answer this.
pub(crate) type ApiResult = Result<Response, ApiError>;

impl ApiState {
    /// Refuses a request without the API token.
    pub(crate) fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Compare digests so the comparison time does not depend on where the strings differ.
        if blake3::hash(given.trim().as_bytes()) == blake3::hash(self.token.as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::unauthorized())
        }
    }
}
