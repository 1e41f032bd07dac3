//! Reading the files a user or an operator names, bounded.
//!
//! A path given on the command line or in a config can name anything: `/dev/zero`, a FIFO, a
//! log that grew to gigabytes. Every such read goes through [`read_bounded`], which stops one
//! byte past its limit and fails with a message naming the file and the limit, so that a
//! wrong path costs an error, never the machine's memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Largest config or scenario file read (a real one is a few KB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Largest file of our own state read back (`node.json`, `peers.json`, `pids.json`).
pub const MAX_STATE_BYTES: u64 = 4 << 20;

/// The bytes of the file at `path`, at most `limit` of them.
///
/// A longer file (or an endless one, such as `/dev/zero`) is not read past `limit + 1` bytes
/// and fails with [`io::ErrorKind::FileTooLarge`], in a message that names the file and the
/// limit. Other errors are the system's, with the path added.
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let with_path = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let file = File::open(path).map_err(with_path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(with_path)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "{} is larger than {limit} bytes, more than this file may hold: is it the right file?",
                path.display()
            ),
        ));
    }
    Ok(bytes)
}

/// Like [`read_bounded`], for a text file: fails with [`io::ErrorKind::InvalidData`] when the
/// bytes are not UTF-8.
pub fn read_text_bounded(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not UTF-8 text", path.display()),
        )
    })
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_endless_file_is_refused_at_the_limit() {
        let err = read_bounded(Path::new("/dev/zero"), 1000).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert!(
            err.to_string()
                .contains("/dev/zero is larger than 1000 bytes"),
            "{err}"
        );
    }

    #[test]
    fn a_file_within_the_limit_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.toml");
        std::fs::write(&path, "x = 1\n").unwrap();
        assert_eq!(read_text_bounded(&path, 6).unwrap(), "x = 1\n");
        assert_eq!(
            read_text_bounded(&path, 5).unwrap_err().kind(),
            io::ErrorKind::FileTooLarge
        );
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(
            read_text_bounded(&path, 6).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        let missing = read_bounded(&dir.path().join("none"), 6).unwrap_err();
        assert!(missing.to_string().contains("none"), "{missing}");
    }
}
