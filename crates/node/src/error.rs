//! The node's one error type.

use std::path::PathBuf;

/// Why the node could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The listing store failed.
    #[error(transparent)]
    Store(#[from] flashback_store::StoreError),
    /// The network failed.
    #[error(transparent)]
    Net(#[from] flashback_net::NetError),
    /// A file in the data dir could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The trust file cannot be used, or an edit of it was refused.
    #[error("trust file {path}: {detail}")]
    Trust {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The metrics endpoint could not start.
    #[error("metrics endpoint: {0}")]
    Metrics(String),
    /// An HTTP endpoint (metrics, API) could not start.
    #[error("{what} endpoint: {detail}")]
    Endpoint {
        /// Which endpoint.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// A light client asked for something the node does not serve as asked (a page larger
    /// than the limit, a malformed prefix): the message says what to ask instead.
    #[error("{0}")]
    Request(String),
    /// A peer misbehaved or answered wrongly.
    #[error("{0}")]
    Peer(String),
    /// A bug or an internal task failure.
    #[error("internal error: {0}")]
    Internal(String),
}
