//! `flashback api import-key|info`: the node's gateway API, from its data dir.

use anyhow::Context as _;
use flashback_node::{ACCOUNTS_DIR, API_TOKEN, NodeInfo, default_data_dir};
use flashback_types::keyfile;
use serde_json::json;

use crate::cli_api::{ApiImportKeyArgs, ApiInfoArgs};
use crate::output;

pub(crate) fn import_key(args: ApiImportKeyArgs) -> anyhow::Result<()> {
    let name = args.name.trim();
    let valid = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    anyhow::ensure!(
        valid,
        "--name {name:?}: use 1 to 64 of A-Z a-z 0-9 . _ - (not starting with a dot)"
    );
    let key = keyfile::read(&args.key)?;
    let dir = args
        .data_dir
        .unwrap_or_else(default_data_dir)
        .join(ACCOUNTS_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{name}.key"));
    let existing = if args.force {
        keyfile::Existing::Replace
    } else {
        keyfile::Existing::Keep
    };
    keyfile::write(&path, &key, existing).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "the node already holds an account {name:?} ({}): pass --force to replace it",
                path.display()
            )
        } else {
            anyhow::anyhow!("cannot write {}: {e}", path.display())
        }
    })?;
    if args.json {
        return output::json(&json!({
            "account": name,
            "public_key": key.public().to_string(),
            "path": path,
        }));
    }
    output::line(format_args!(
        "account {name} ({}) imported: the node signs with it for API requests naming \
         \"account\": \"{name}\"",
        key.public()
    ));
    Ok(())
}

pub(crate) fn info(args: ApiInfoArgs) -> anyhow::Result<()> {
    let dir = args.data_dir.unwrap_or_else(default_data_dir);
    let info = NodeInfo::load(&dir)
        .context("no node is running from this data dir (start one with `flashback node run`)")?;
    let token = dir.join(API_TOKEN);
    let Some(addr) = info.api_addr else {
        anyhow::bail!(
            "the node serves no API (it was started with --no-api or api.enabled = false)"
        );
    };
    if args.json {
        return output::json(&json!({
            "url": format!("http://{addr}/api/v1"),
            "explorer": format!("http://{addr}/"),
            "token_file": token,
        }));
    }
    output::line(format_args!("API       http://{addr}/api/v1"));
    output::line(format_args!("explorer  http://{addr}/"));
    output::line(format_args!("token     {} (writes)", token.display()));
    Ok(())
}
