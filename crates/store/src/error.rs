//! The store's one error type. Every message says what happened and what the operator can do.

use std::path::PathBuf;

/// Everything that can go wrong in the listing store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened (permissions, missing directory, another process).
    #[error(
        "cannot open the listing database at {path}: {detail}; check that the directory is \
         writable and that no other flashback node is using it"
    )]
    Open {
        /// The database directory.
        path: PathBuf,
        /// What sled reported.
        detail: String,
    },
    /// A stored value failed its checksum or could not be decoded.
    #[error(
        "listing database at {path} is corrupt ({detail}); stop the node, move the directory \
         away or run `flashback node run --rebuild-store`; the network refills it through sync"
    )]
    Corrupt {
        /// The database directory.
        path: PathBuf,
        /// Which value, and how it failed.
        detail: String,
    },
    /// The database was written by a newer (or unknown) version of the store.
    #[error(
        "listing database at {path} has schema version {found}, but this build understands \
         version {supported}; upgrade flashback, or run `flashback node run --rebuild-store` to \
         start an empty listing that the network refills through sync"
    )]
    UnsupportedSchema {
        /// The database directory.
        path: PathBuf,
        /// The version found on disk.
        found: u32,
        /// The version this build writes.
        supported: u32,
    },
    /// Reading or writing failed (disk full, I/O error).
    #[error(
        "I/O error on the listing database at {path}: {detail}; check free disk space and the \
         disk's health: writes resume by themselves once it can write again"
    )]
    Io {
        /// The database directory.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// An earlier write failed, so memory and disk may disagree: writes are refused until the
    /// store can write again, then it rebuilds its indexes from disk and goes on.
    #[error(
        "the listing store at {path} refuses writes since a write to its disk failed \
         ({detail}); free disk space (or fix the disk): the next write after that succeeds, \
         no restart needed"
    )]
    Poisoned {
        /// The database directory.
        path: PathBuf,
        /// The first failure.
        detail: String,
    },
    /// The configuration cannot be used.
    #[error("invalid store configuration: {0}; fix the `[store]` section of the node config")]
    Config(String),
    /// A query named trust settings that do not exist (an unknown issuer name).
    #[error(transparent)]
    Trust(#[from] flashback_types::trust::TrustError),
    /// `destroy_and_recreate` was pointed at a directory that is not a listing database.
    #[error(
        "refusing to delete {path}: it does not look like a listing database ({detail}); \
         check the data directory setting"
    )]
    NotAStore {
        /// The directory.
        path: PathBuf,
        /// What was found there.
        detail: String,
    },
}

impl StoreError {
    pub(crate) fn from_sled(path: &std::path::Path, e: sled::Error) -> Self {
        let path = path.to_path_buf();
        match e {
            sled::Error::Corruption { at, .. } => StoreError::Corrupt {
                path,
                detail: match at {
                    Some(at) => format!("sled reports corruption at {at}"),
                    None => "sled reports corruption".into(),
                },
            },
            sled::Error::Unsupported(detail) => StoreError::Corrupt {
                path,
                detail: format!("unsupported on-disk format: {detail}"),
            },
            sled::Error::Io(io) => StoreError::Io {
                path,
                detail: io.to_string(),
            },
            other => StoreError::Io {
                path,
                detail: other.to_string(),
            },
        }
    }
}
