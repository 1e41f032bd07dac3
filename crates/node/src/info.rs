//! [`NodeInfo`]: what a running node tells scripts and light clients, in `<data_dir>/node.json`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use flashback_types::PublicKey;
use serde::{Deserialize, Serialize};

use crate::{NODE_JSON, NodeError};

/// What a running node tells scripts and light clients (written to `<data_dir>/node.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's libp2p peer id.
    pub peer_id: String,
    /// The node's public key (the same key as the peer id).
    pub public_key: PublicKey,
    /// Addresses the node listens on, each ending in `/p2p/<peer id>` (dialable as given).
    pub listen_addrs: Vec<String>,
    /// Where `/metrics` is served, if enabled.
    pub metrics_addr: Option<SocketAddr>,
    /// Where the gateway HTTP API and the web explorer are served, if enabled.
    #[serde(default)]
    pub api_addr: Option<SocketAddr>,
    /// Base URL of the reference blob endpoint (`http://127.0.0.1:PORT`), if enabled.
    #[serde(default)]
    pub blob_endpoint: Option<String>,
    /// The data dir.
    pub data_dir: PathBuf,
    /// The node's process id.
    pub pid: u32,
    /// The software version.
    pub version: String,
}

impl NodeInfo {
    /// Reads `node.json` from a data dir.
    pub fn load(data_dir: &Path) -> Result<Self, NodeError> {
        let path = data_dir.join(NODE_JSON);
        let text =
            flashback_types::file::read_text_bounded(&path, flashback_types::file::MAX_STATE_BYTES)
                .map_err(|source| NodeError::Io {
                    path: path.clone(),
                    source,
                })?;
        serde_json::from_str(&text).map_err(|e| NodeError::Io {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// The first loopback address if any (what a local light client should dial), else the first
    /// address.
    pub fn dial_addr(&self) -> Option<&str> {
        self.listen_addrs
            .iter()
            .find(|a| a.starts_with("/ip4/127.") && a.contains("/tcp/"))
            .or_else(|| self.listen_addrs.first())
            .map(String::as_str)
    }
}

/// Listen addresses as others dial them: each ending in `/p2p/<peer id>` (addresses through a
/// relay already do).
pub(crate) fn dialable(
    addrs: Vec<flashback_net::Multiaddr>,
    peer_id: flashback_net::PeerId,
) -> Vec<String> {
    addrs
        .into_iter()
        .map(|a| {
            if a.to_string().ends_with(&format!("/p2p/{peer_id}")) {
                a.to_string()
            } else {
                format!("{a}/p2p/{peer_id}")
            }
        })
        .collect()
}
