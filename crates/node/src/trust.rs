//! The node's trust store on disk: `<data-dir>/trust.toml` (or `trust.file`), read at start,
//! edited by `flashback trust …` ([`edit_trust_file`]), and watched while the node runs, so an
//! edit takes effect within `trust.reload_ms` without a restart.
//!
//! The deprecated `store.trusted_certifiers` and `store.trusted_auditors` settings still count
//! (with a warning at start): their keys are added to whatever the file says, unless the file
//! names them ([`TrustStore::with_legacy`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use flashback_store::Store;
use flashback_types::TrustStore;
use flashback_types::keyfile::{self, Existing};
use tokio_util::sync::CancellationToken;

use crate::NodeError;

/// The trust file's name in the data dir.
pub const TRUST_FILE: &str = "trust.toml";

/// Reads a trust file; a missing one is an empty trust store (nobody is trusted).
pub fn load_trust_file(path: &Path) -> Result<TrustStore, NodeError> {
    match std::fs::read_to_string(path) {
        Ok(text) => TrustStore::from_toml(&text).map_err(|e| NodeError::Trust {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TrustStore::default()),
        Err(source) => Err(NodeError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Applies `change` to the trust file at `path` and writes it back whole (a new file renamed
/// over the old one, so a running node never reads half of it). Edits are serialised by a lock
/// on the file's directory. Returns the new trust store.
pub fn edit_trust_file(
    path: &Path,
    change: impl FnOnce(&mut TrustStore) -> Result<(), flashback_types::trust::TrustError>,
) -> Result<TrustStore, NodeError> {
    let io = |source| NodeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    // flock(2) on the directory: two editors wait for each other, and nothing is left behind.
    let lock = std::fs::File::open(&dir).map_err(io)?;
    lock.lock().map_err(io)?;
    let mut trust = load_trust_file(path)?;
    change(&mut trust).map_err(|e| NodeError::Trust {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    trust.check().map_err(|e| NodeError::Trust {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    keyfile::write_secret(path, trust.to_toml().as_bytes(), Existing::Replace).map_err(io)?;
    Ok(trust)
}

/// The trust store a node starts with: its trust file plus the deprecated store settings.
pub(crate) fn initial(path: &Path, legacy: &TrustStore) -> Result<TrustStore, NodeError> {
    if !legacy.issuers.is_empty() {
        tracing::warn!(
            "store.trusted_certifiers and store.trusted_auditors are deprecated: their keys are \
             trusted (certifiers for every claim, auditors) unless {} names them; move them \
             there with `flashback trust add --name <name> --key <key> --role certifier \
             --scheme <claim>` (or --role auditor) and delete those settings",
            path.display()
        );
    }
    Ok(load_trust_file(path)?.with_legacy(legacy))
}

/// Re-reads the trust file every `interval` and hands a changed, valid one to the store. A
/// file that does not parse is reported and the trust in force is kept.
pub(crate) async fn watch(
    store: Store,
    path: PathBuf,
    legacy: TrustStore,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut last = tokio::fs::read(&path).await.ok();
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let now = tokio::fs::read(&path).await.ok();
        if now == last {
            continue;
        }
        last = now;
        // A missing file is an empty trust store, as at start.
        let text = last
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        match TrustStore::from_toml(&text) {
            Ok(trust) => {
                let trust = trust.with_legacy(&legacy);
                tracing::info!(
                    issuers = trust.issuers.len(),
                    "trust store reloaded from {}",
                    path.display()
                );
                store.set_trust(trust);
            }
            Err(e) => tracing::warn!(
                "trust file {}: {e}; the trust store in force is kept",
                path.display()
            ),
        }
    }
}
