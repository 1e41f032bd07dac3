//! The provider's access ledger: what this node provisioned for which agreement, and whether it
//! has been revoked. Kept in `<data_dir>/access.json`, rewritten whole (0600, atomic) on each
//! change, so revocations survive a restart. It holds no secret: a blob token is kept as its
//! blake3 only, and a hook's credentials are never kept at all.

use std::collections::BTreeMap;
use std::path::Path;

use flashback_types::keyfile::{self, Existing};
use flashback_types::{Hash32, ObjectId, PublicKey, Timestamp};
use serde::{Deserialize, Serialize};

use crate::NodeError;

/// The ledger's file in the data dir.
pub(crate) const ACCESS_LEDGER: &str = "access.json";

/// Which provisioner opened the data plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Provisioner {
    /// The reference blob endpoint's per-agreement bearer token.
    Blob,
    /// The configured hook command.
    Hook,
}

/// Why access was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RevokeReason {
    /// The agreement reached its end.
    Expired,
    /// A party terminated the agreement.
    Terminated,
    /// The proposal could not be accepted after all (the grant or the decision failed).
    Abandoned,
}

impl RevokeReason {
    pub(crate) fn code(self) -> &'static str {
        match self {
            RevokeReason::Expired => "expired",
            RevokeReason::Terminated => "terminated",
            RevokeReason::Abandoned => "abandoned",
        }
    }
}

/// What was provisioned for one agreement: everything a revocation needs again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) consumer: PublicKey,
    pub(crate) offer_id: ObjectId,
    pub(crate) offer_key: String,
    pub(crate) protocol: String,
    pub(crate) endpoint: String,
    pub(crate) provisioner: Provisioner,
    /// The data's name across renewals: the first agreement of a chain of renewals.
    pub(crate) namespace: ObjectId,
    /// The agreement this one continues, if it is a renewal.
    pub(crate) renews: Option<ObjectId>,
    /// blake3 of the blob token (blob provisioner only).
    pub(crate) token_hash: Option<Hash32>,
    pub(crate) volume: u64,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    /// Set once access is revoked.
    pub(crate) revoked: Option<(Timestamp, RevokeReason)>,
}

/// Every entry, by agreement (proposal id).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Ledger {
    pub(crate) entries: BTreeMap<ObjectId, Entry>,
}

impl Ledger {
    /// Reads the ledger from `data_dir` (empty when there is none yet).
    pub(crate) fn load(data_dir: &Path) -> Result<Self, NodeError> {
        let path = data_dir.join(ACCESS_LEDGER);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| NodeError::Io {
                path: path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "the access ledger is damaged ({e}); it records what to revoke: repair \
                         it or move it aside"
                    ),
                ),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(NodeError::Io { path, source }),
        }
    }

    /// The live entry whose blob token hashes to `hash`, at `now`.
    pub(crate) fn by_token(&self, hash: &Hash32, now: Timestamp) -> Option<&Entry> {
        self.entries
            .values()
            .find(|e| e.token_hash.as_ref() == Some(hash) && e.revoked.is_none() && e.end > now)
    }

    /// The agreement `consumer` had on `offer_key` that ends exactly at `start` and was not
    /// terminated: the one a proposal starting then continues.
    pub(crate) fn continued(
        &self,
        consumer: &PublicKey,
        offer_key: &str,
        start: Timestamp,
    ) -> Option<(ObjectId, &Entry)> {
        self.entries
            .iter()
            .find(|(_, e)| {
                &e.consumer == consumer
                    && e.offer_key == offer_key
                    && e.end == start
                    && !matches!(
                        e.revoked,
                        Some((_, RevokeReason::Terminated | RevokeReason::Abandoned))
                    )
            })
            .map(|(id, e)| (*id, e))
    }

    /// Unrevoked agreements whose end is at or before `now`.
    pub(crate) fn ended(&self, now: Timestamp) -> Vec<ObjectId> {
        self.entries
            .iter()
            .filter(|(_, e)| e.revoked.is_none() && e.end <= now)
            .map(|(id, _)| *id)
            .collect()
    }
}

/// Writes the ledger's text to `path` (blocking): owner-only, durable, never half written.
pub(crate) fn write(path: &Path, text: &[u8]) -> Result<(), NodeError> {
    keyfile::write_secret(path, text, Existing::Replace).map_err(|source| NodeError::Io {
        path: path.to_path_buf(),
        source,
    })
}
