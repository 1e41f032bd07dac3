//! The blob endpoint's files: `<dir>/<namespace hex>/<blake3 hex>`, written durably, recounted
//! at start.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flashback_types::{Hash32, ObjectId};

use crate::NodeError;

/// Prefix of temp files (never a valid blob name, removed at start).
pub(super) const TMP_PREFIX: &str = ".tmp-";

/// A blob: the namespace (agreement chain) it belongs to and its blake3.
pub(super) type Key = (ObjectId, blake3::Hash);

/// Recounts the blobs under `dir` (creating it), removing temp files left by a crash: each
/// blob's size, by namespace and name. Files outside a namespace directory (from before blobs
/// had owners) are left alone and not served.
pub(super) fn scan(dir: &Path) -> Result<HashMap<Key, u64>, NodeError> {
    let io = |source| NodeError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut blobs = HashMap::new();
    for space in std::fs::read_dir(dir).map_err(io)? {
        let space = space.map_err(io)?;
        let Some(namespace) = space
            .file_name()
            .to_str()
            .and_then(parse_hash)
            .map(|h| Hash32(*h.as_bytes()))
        else {
            continue;
        };
        if !space.file_type().map_err(io)?.is_dir() {
            continue;
        }
        for item in std::fs::read_dir(space.path()).map_err(io)? {
            let item = item.map_err(io)?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TMP_PREFIX) {
                let _ = std::fs::remove_file(item.path());
                continue;
            }
            let Some(hash) = parse_hash(name) else {
                continue;
            };
            let meta = item.metadata().map_err(io)?;
            if meta.is_file() {
                blobs.insert((namespace, hash), meta.len());
            }
        }
    }
    Ok(blobs)
}

/// A blob name: exactly 64 lowercase hex characters (the file name is always re-derived from
/// the parsed hash, so no path can escape the blob dir).
pub(super) fn parse_hash(s: &str) -> Option<blake3::Hash> {
    if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    blake3::Hash::from_hex(s).ok()
}

/// Where a blob lives under `dir`.
pub(super) fn path(dir: &Path, (namespace, hash): &Key) -> PathBuf {
    dir.join(namespace.to_string()).join(hash.to_hex().as_str())
}

/// Writes a temp file, fsyncs it, renames it into place and fsyncs the directory, so the blob
/// is complete or absent after a crash.
pub(super) fn write_durably(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let nonce: u64 = rand::random();
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("blob");
    let tmp = dir.join(format!("{TMP_PREFIX}{name}-{nonce:016x}"));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `len` bytes of the file at `path` from `start`.
pub(super) fn read_range(path: &Path, start: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut data = vec![0u8; len];
    file.read_exact(&mut data)?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let h = blake3::hash(b"x");
        assert_eq!(parse_hash(h.to_hex().as_str()), Some(h));
        assert_eq!(parse_hash(&h.to_hex().as_str().to_uppercase()), None);
        assert_eq!(parse_hash("../etc/passwd"), None);
        assert_eq!(parse_hash(""), None);
        assert_eq!(parse_hash(&"a".repeat(63)), None);
    }
}
