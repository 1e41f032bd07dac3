//! `flashback keys …`

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use flashback_types::{SecretKey, keyfile};
use serde::Serialize;

use crate::cli::KeysCommand;
use crate::output;

#[derive(Serialize)]
struct KeyInfo<'a> {
    public_key: String,
    peer_id: String,
    path: &'a Path,
}

pub(crate) fn run(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Generate(args) => {
            let key = SecretKey::generate();
            write_key_file(&args.out, &key, args.force)?;
            print(&key, &args.out, args.json)
        }
        KeysCommand::Show(args) => {
            let key = read_key_file(&args.file)?;
            print(&key, &args.file, args.json)
        }
    }
}

fn print(key: &SecretKey, path: &Path, json: bool) -> anyhow::Result<()> {
    let info = KeyInfo {
        public_key: key.public().to_string(),
        peer_id: key.public().to_peer_id().to_string(),
        path,
    };
    if json {
        output::json(&info)
    } else {
        output::line(format_args!("public key: {}", info.public_key));
        output::line(format_args!("peer id:    {}", info.peer_id));
        Ok(())
    }
}

/// Writes `key` to `path` with mode 0600. Without `force` an existing file is never replaced;
/// with it, the new file is written beside the old one and renamed over it.
pub(crate) fn write_key_file(path: &Path, key: &SecretKey, force: bool) -> anyhow::Result<()> {
    let text = keyfile::encode(key);
    let target = if force {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::path::PathBuf::from(tmp)
    } else {
        path.to_path_buf()
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&target)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists if !force => anyhow::anyhow!(
                "{} already exists: choose another --out, or pass --force to replace it",
                path.display()
            ),
            _ => anyhow::anyhow!("cannot create key file {}: {e}", target.display()),
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write key file {}", target.display()))?;
    if force {
        fs::rename(&target, path)
            .with_context(|| format!("cannot move key file into place at {}", path.display()))?;
    }
    Ok(())
}

/// Reads a key file, refusing anything that is not a valid Flashback key file.
pub(crate) fn read_key_file(path: &Path) -> anyhow::Result<SecretKey> {
    let file =
        fs::File::open(path).with_context(|| format!("cannot open key file {}", path.display()))?;
    let mut text = String::new();
    // Read one byte past the limit so an oversized file is reported as such.
    file.take(keyfile::MAX_LEN as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => {
                anyhow::anyhow!(
                    "{} is not a flashback key file (not UTF-8 text)",
                    path.display()
                )
            }
            _ => anyhow::anyhow!("cannot read key file {}: {e}", path.display()),
        })?;
    let key = keyfile::decode(&text).with_context(|| format!("{}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        output::warn(format_args!(
            "{} is readable by other users; run `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    Ok(key)
}
