//! `flashback keys …`

use std::path::Path;

use flashback_types::SecretKey;
use flashback_types::keyfile::{self, Existing};
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

/// Writes `key` to `path` (mode 0600, never half written). Without `force` an existing file is
/// never replaced; with it, the new file takes the old one's place in one step.
pub(crate) fn write_key_file(path: &Path, key: &SecretKey, force: bool) -> anyhow::Result<()> {
    let existing = if force {
        Existing::Replace
    } else {
        Existing::Keep
    };
    keyfile::write(path, key, existing).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists if !force => anyhow::anyhow!(
            "{} already exists: choose another --out, or pass --force to replace it",
            path.display()
        ),
        _ => anyhow::anyhow!("cannot write key file {}: {e}", path.display()),
    })
}

/// Reads a key file, refusing anything that is not a valid Flashback key file, and warns when
/// other users may read it.
pub(crate) fn read_key_file(path: &Path) -> anyhow::Result<SecretKey> {
    let key = keyfile::read(path)?;
    if keyfile::shared_with_others(path) {
        output::warn(format_args!(
            "{} is readable by other users; run `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    Ok(key)
}
