//! The key file: a small TOML document holding one secret key, and the one way a secret of
//! ours (a key file, a node's admin token) is written to disk.
//!
//! ```toml
//! # Flashback secret key. Keep this file private (mode 0600).
//! format = "flashback-key/1"
//! public = "<64 hex characters>"
//! secret = "<64 hex characters>"
//! ```
//!
//! `public` is redundant and checked on load, so a damaged file is caught before use.
//!
//! [`write_secret`] is the only file writing in this crate: the format and the rules for
//! keeping it on disk (owner-only, never half-written, never replaced by accident) belong
//! together, and the CLI, the node and the testnet runner all write their secrets through it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{KeyError, PublicKey, SecretKey, parse_hex};
use serde::Deserialize;
use zeroize::Zeroizing;

/// The `format` line every key file starts with.
pub const FORMAT: &str = "flashback-key/1";

/// Largest key file accepted (a real one is about 200 bytes).
pub const MAX_LEN: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    format: String,
    public: String,
    secret: Zeroizing<String>,
}

/// The text of a key file for `key`.
pub fn encode(key: &SecretKey) -> Zeroizing<String> {
    let seed = key.to_seed();
    Zeroizing::new(format!(
        "# Flashback secret key. Keep this file private (mode 0600).\nformat = \"{FORMAT}\"\npublic = \"{}\"\nsecret = \"{}\"\n",
        key.public(),
        hex::encode(seed.as_ref())
    ))
}

/// Reads a key file's text. Every failure is a one-line, human-readable error.
pub fn decode(text: &str) -> Result<SecretKey, KeyError> {
    if text.len() > MAX_LEN {
        return Err(KeyError::KeyFile(format!(
            "key file is {} bytes, larger than any key file ({MAX_LEN} bytes max)",
            text.len()
        )));
    }
    let raw: Raw = toml::from_str(text).map_err(|e| {
        KeyError::KeyFile(format!(
            "not a flashback key file: {}",
            e.message().lines().next().unwrap_or("unreadable")
        ))
    })?;
    if raw.format != FORMAT {
        return Err(KeyError::KeyFile(format!(
            "unsupported key file format {:?} (expected {FORMAT:?})",
            raw.format
        )));
    }
    let seed = Zeroizing::new(
        parse_hex::<32>(&raw.secret)
            .map_err(|e| KeyError::KeyFile(format!("bad secret in key file: {e}")))?,
    );
    let key = SecretKey::from_seed(&seed);
    let public: PublicKey = raw
        .public
        .parse()
        .map_err(|e| KeyError::KeyFile(format!("bad public key in key file: {e}")))?;
    if key.public() != public {
        return Err(KeyError::KeyFile(
            "key file is damaged: its public key does not match its secret".into(),
        ));
    }
    Ok(key)
}

/// What [`write_secret`] does when the file already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Leave it untouched and fail with [`io::ErrorKind::AlreadyExists`].
    Keep,
    /// Replace it; a reader sees the old file or the new one, never a mix of the two.
    Replace,
}

/// Writes `key` to `path` as a key file, through [`write_secret`].
pub fn write(path: &Path, key: &SecretKey, existing: Existing) -> io::Result<()> {
    write_secret(path, encode(key).as_bytes(), existing)
}

/// Reads the key file at `path`. Every failure is a one-line error that names the file.
pub fn read(path: &Path) -> Result<SecretKey, KeyError> {
    let fail = KeyError::KeyFile;
    let bytes = Zeroizing::new(
        crate::file::read_bounded(path, MAX_LEN as u64).map_err(|e| match e.kind() {
            io::ErrorKind::FileTooLarge => fail(format!(
                "{} is not a flashback key file (larger than {MAX_LEN} bytes)",
                path.display()
            )),
            _ => fail(format!("cannot open key file {e}")),
        })?,
    );
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        fail(format!(
            "{} is not a flashback key file (not UTF-8 text)",
            path.display()
        ))
    })?;
    decode(text).map_err(|e| fail(format!("{}: {e}", path.display())))
}

/// True when users other than the owner may read or write the file at `path` (its mode has
/// any of the bits 0o077), which a key file must not allow.
pub fn shared_with_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// Writes `contents` to `path`, readable and writable by the owner only (mode 0600).
///
/// The bytes go to a new temporary file in the same directory (created exclusively, with mode
/// 0600 from the start, so the secret is never readable by others, even for a moment), are
/// flushed to disk, and only then take the name `path`: by a rename with
/// [`Existing::Replace`]; by a hard link with [`Existing::Keep`], which the system refuses
/// atomically when `path` exists (a rename would replace it). So `path` is never seen half
/// written, and on every error the temporary file is removed and `path` is as it was.
pub fn write_secret(path: &Path, contents: &[u8], existing: Existing) -> io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut tmp = TempFile::create(dir, &name.to_string_lossy())?;
    tmp.file.write_all(contents)?;
    tmp.file.sync_all()?;
    match existing {
        Existing::Replace => {
            fs::rename(&tmp.path, path)?;
            tmp.renamed = true;
        }
        // The temporary name is removed when `tmp` drops.
        Existing::Keep => fs::hard_link(&tmp.path, path)?,
    }
    drop(tmp);
    // The new name is durable once its directory is: best effort, since the file is in place
    // whatever the outcome and some file systems cannot sync a directory.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// A temporary file beside the target, removed when dropped unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    file: File,
    renamed: bool,
}

impl TempFile {
    fn create(dir: &Path, name: &str) -> io::Result<Self> {
        // Unique within the process by the counter and across processes by the pid; a stale
        // file of a crashed process with the same pid is stepped over.
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut tries = 0;
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
            match options.open(&path) {
                Ok(file) => {
                    return Ok(Self {
                        path,
                        file,
                        renamed: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 16 => tries += 1,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_key_file_is_private_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        let key = SecretKey::generate();
        write(&path, &key, Existing::Keep).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert!(!shared_with_others(&path));
        assert_eq!(read(&path).unwrap(), key);
        assert_eq!(names(dir.path()), ["k.key"], "no temporary file is left");
    }

    #[test]
    fn keep_refuses_to_overwrite_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        let first = SecretKey::generate();
        write(&path, &first, Existing::Keep).unwrap();
        let err = write(&path, &SecretKey::generate(), Existing::Keep).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(read(&path).unwrap(), first, "the existing key is untouched");
        assert_eq!(names(dir.path()), ["k.key"]);
    }

    #[test]
    fn replace_swaps_the_file_and_makes_it_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(shared_with_others(&path));
        write_secret(&path, b"new", Existing::Replace).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(names(dir.path()), ["token"]);
    }

    #[test]
    fn a_failed_write_removes_its_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory cannot be replaced by a file: the rename fails after the
        // temporary file was written.
        let target = dir.path().join("taken");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("inside"), b"x").unwrap();
        assert!(write_secret(&target, b"secret", Existing::Replace).is_err());
        assert!(write_secret(&target, b"secret", Existing::Keep).is_err());
        assert_eq!(names(dir.path()), ["taken"]);
        assert_eq!(names(&target), ["inside"]);
        // A missing directory: nothing is created anywhere.
        let missing = dir.path().join("no-such-dir").join("k.key");
        assert_eq!(
            write_secret(&missing, b"secret", Existing::Keep)
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(names(dir.path()), ["taken"]);
    }

    #[test]
    fn unreadable_files_give_one_line_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, Vec<u8>); 3] = [
            ("huge.key", vec![b'#'; MAX_LEN + 10]),
            ("binary.key", vec![0xff, 0xfe, 0x00, 0x80]),
            ("empty.key", Vec::new()),
        ];
        for (name, bytes) in cases {
            let path = dir.path().join(name);
            fs::write(&path, bytes).unwrap();
            let err = read(&path).unwrap_err().to_string();
            assert!(err.contains(name), "{name}: {err}");
            assert_eq!(err.lines().count(), 1, "{name}: {err}");
        }
        let err = read(&dir.path().join("missing.key"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot open key file"), "{err}");
    }
}
