//! Two small helpers the services share: store work off the async runtime, and lists cut to
//! a wire message's bound.

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
