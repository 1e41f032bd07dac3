//! Small helpers the services share: store work off the async runtime, lists cut to a wire
//! message's bound, and binding a local HTTP endpoint.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use flashback_types::BoundedVec;

use crate::NodeError;

/// Runs blocking store work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, NodeError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| NodeError::Internal(format!("store task failed: {e}")))?
}

/// Truncates to the bound and wraps.
pub(crate) fn bounded<T, const N: usize>(mut items: Vec<T>) -> BoundedVec<T, N> {
    items.truncate(N);
    BoundedVec::try_from_vec(items).unwrap_or_default()
}

/// Binds an HTTP endpoint (`what`: metrics, API): on `listen` as given, or, when unset, on
/// `default`, else (another node on this machine holds it) on a free port of the same
/// address, logged (and written to `node.json` by the caller). A given address that is taken
/// is an error: the operator asked for that one (`flag` names the option to change it).
pub(crate) async fn bind_local(
    listen: Option<SocketAddr>,
    default: SocketAddr,
    what: &'static str,
    flag: &str,
) -> Result<TcpListener, NodeError> {
    let addr = listen.unwrap_or(default);
    let taken = |e: std::io::Error| NodeError::Endpoint {
        what,
        detail: format!(
            "cannot listen on {addr}: {e}; pass another {flag} address or set {what}.listen"
        ),
    };
    match TcpListener::bind(addr).await {
        Ok(listener) => Ok(listener),
        Err(e) if listen.is_none() && e.kind() == std::io::ErrorKind::AddrInUse => {
            let listener = TcpListener::bind(SocketAddr::new(addr.ip(), 0))
                .await
                .map_err(taken)?;
            if let Ok(bound) = listener.local_addr() {
                tracing::warn!(
                    "the default {what} address {addr} is taken (another node on this \
                     machine?): serving {what} on {bound} instead (recorded in node.json; pass {flag} \
                     to choose one)"
                );
            }
            Ok(listener)
        }
        Err(e) => Err(taken(e)),
    }
}
