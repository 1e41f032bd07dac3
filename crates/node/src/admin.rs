//! The local admin endpoint (`metrics.admin = true`): write operations on the running node for
//! local tools such as the testnet runner. Served next to `/metrics`, on loopback only, and
//! every request must carry `Authorization: Bearer <token>`, where the token is a fresh random
//! value written to `<data_dir>/admin.token` (mode 0600) at each start.
//!
//! - `POST /admin/block/{peer_id}`: close every connection to the peer and refuse new ones
//!   (application-level partitions);
//! - `POST /admin/unblock/{peer_id}`: lift it;
//! - `POST /admin/dial` with a multiaddr as the body: dial it;
//! - `GET /admin/peers`: connected peers, one per line.

use std::path::Path;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use flashback_net::{Multiaddr, NetHandle, PeerId};
use flashback_types::keyfile;

use crate::NodeError;

/// Name of the token file in the data dir.
pub const ADMIN_TOKEN: &str = "admin.token";

#[derive(Clone)]
struct Admin {
    token: String,
    net: NetHandle,
}

/// Writes a fresh token to `<data_dir>/admin.token` (0600) and returns the routes.
pub(crate) fn router(data_dir: &Path, net: NetHandle) -> Result<axum::Router, NodeError> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| NodeError::Internal(format!("no randomness: {e}")))?;
    let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let path = data_dir.join(ADMIN_TOKEN);
    // Replaced at each start: the token of a previous run must stop working.
    keyfile::write_secret(&path, token.as_bytes(), keyfile::Existing::Replace)
        .map_err(|source| NodeError::Io { path, source })?;
    let state = Admin { token, net };
    Ok(axum::Router::new()
        .route("/admin/block/{peer}", post(block))
        .route("/admin/unblock/{peer}", post(unblock))
        .route("/admin/dial", post(dial))
        .route("/admin/peers", get(peers))
        .with_state(state))
}

fn authorized(admin: &Admin, headers: &HeaderMap) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Compare digests so the comparison time does not depend on where the strings differ.
    blake3::hash(given.as_bytes()) == blake3::hash(admin.token.as_bytes())
}

fn reply(status: StatusCode, text: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], text.into()).into_response()
}

async fn set_blocked(admin: Admin, headers: HeaderMap, peer: String, blocked: bool) -> Response {
    if !authorized(&admin, &headers) {
        return reply(StatusCode::UNAUTHORIZED, "missing or wrong admin token\n");
    }
    let Ok(peer) = peer.parse::<PeerId>() else {
        return reply(StatusCode::BAD_REQUEST, "not a peer id\n");
    };
    let result = if blocked {
        admin.net.block_peer(peer).await
    } else {
        admin.net.unblock_peer(peer).await
    };
    match result {
        Ok(()) => {
            tracing::info!(%peer, blocked, "admin: peer block list changed");
            reply(StatusCode::OK, "ok\n")
        }
        Err(e) => reply(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}

async fn block(
    State(admin): State<Admin>,
    headers: HeaderMap,
    UrlPath(peer): UrlPath<String>,
) -> Response {
    set_blocked(admin, headers, peer, true).await
}

async fn unblock(
    State(admin): State<Admin>,
    headers: HeaderMap,
    UrlPath(peer): UrlPath<String>,
) -> Response {
    set_blocked(admin, headers, peer, false).await
}

async fn dial(State(admin): State<Admin>, headers: HeaderMap, body: String) -> Response {
    if !authorized(&admin, &headers) {
        return reply(StatusCode::UNAUTHORIZED, "missing or wrong admin token\n");
    }
    let Ok(addr) = body.trim().parse::<Multiaddr>() else {
        return reply(StatusCode::BAD_REQUEST, "not a multiaddr\n");
    };
    match admin.net.dial(addr).await {
        Ok(()) => reply(StatusCode::OK, "ok\n"),
        Err(e) => reply(StatusCode::BAD_GATEWAY, format!("{e}\n")),
    }
}

async fn peers(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if !authorized(&admin, &headers) {
        return reply(StatusCode::UNAUTHORIZED, "missing or wrong admin token\n");
    }
    match admin.net.connected_peers().await {
        Ok(peers) => reply(
            StatusCode::OK,
            peers.iter().map(|p| format!("{p}\n")).collect::<String>(),
        ),
        Err(e) => reply(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}
