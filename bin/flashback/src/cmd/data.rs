//! `flashback data put|get|ls|rm`: the consumer's data on the provider's data plane, with the
//! access its agreement's grant delivers (through `flashback_client::data`).

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use flashback_client::data::{Plane, Progress};
use flashback_client::{Client, parse_duration};
use serde_json::json;

use crate::cli_sla::{DataArgs, DataGetArgs, DataPutArgs, DataRmArgs};
use crate::cmd::ids;
use crate::cmd::keys::read_key_file;
use crate::cmd::node::node_addr;
use crate::output;

/// How long to wait for the provider's grant.
const GRANT_WAIT: Duration = Duration::from_secs(10);

/// Opens the agreement's grant through the node, then leaves the node: the transfer itself
/// is between this machine and the provider's data plane.
async fn plane(args: &DataArgs) -> anyhow::Result<Plane> {
    let key = read_key_file(&args.key)?;
    let timeout = Duration::from_secs(parse_duration("--timeout", &args.timeout)?.max(1));
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let credentials = async {
        let id = ids::agreement(&client, &args.agreement).await?;
        anyhow::Ok(client.access(&key, id, GRANT_WAIT).await?)
    }
    .await;
    client.close().await;
    Ok(Plane::open(&credentials?, timeout)?)
}

/// A progress bar on a terminal (stderr), nothing under --json or when piped.
fn progress(total: Option<u64>, json: bool) -> (Progress, Option<indicatif::ProgressBar>) {
    if json || !std::io::stderr().is_terminal() {
        return (Arc::new(|_| {}), None);
    }
    let bar = match total {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    let tick = bar.clone();
    (Arc::new(move |n| tick.inc(n)), Some(bar))
}

pub(crate) async fn put(args: DataPutArgs) -> anyhow::Result<()> {
    let plane = plane(&args.data).await?;
    let len = std::fs::metadata(&args.file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.file.display()))?
        .len();
    let name = match (&args.name, plane.content_addressed()) {
        (Some(name), _) => Some(name.clone()),
        (None, true) => None,
        (None, false) => Some(
            args.file
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| anyhow::anyhow!("name the object with --name"))?
                .to_owned(),
        ),
    };
    let (tick, bar) = progress(Some(len), args.data.json);
    let stored = plane.put_file(&args.file, name.as_deref(), tick).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let name = stored?;
    if args.data.json {
        return output::json(&json!({
            "name": name,
            "size": len,
            "protocol": plane.protocol().name(),
        }));
    }
    output::line(format_args!("stored {name} ({len} bytes)"));
    Ok(())
}

pub(crate) async fn get(args: DataGetArgs) -> anyhow::Result<()> {
    let out = match &args.out {
        Some(out) => out.clone(),
        None => Path::new(args.name.rsplit('/').next().unwrap_or(&args.name)).to_path_buf(),
    };
    if out.exists() && !args.force {
        anyhow::bail!(
            "{} exists: pass --force to replace it, or --out another file",
            out.display()
        );
    }
    let plane = plane(&args.data).await?;
    let (tick, bar) = progress(None, args.data.json);
    let fetched = plane.get_file(&args.name, &out, tick).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let size = fetched?;
    if args.data.json {
        return output::json(&json!({
            "name": args.name,
            "size": size,
            "file": out.display().to_string(),
        }));
    }
    output::line(format_args!(
        "fetched {} ({size} bytes) into {}",
        args.name,
        out.display()
    ));
    Ok(())
}

pub(crate) async fn ls(args: DataArgs) -> anyhow::Result<()> {
    let plane = plane(&args).await?;
    let objects = plane.list().await?;
    if args.json {
        return output::json(
            &objects
                .iter()
                .map(|o| json!({"name": o.name, "size": o.size}))
                .collect::<Vec<_>>(),
        );
    }
    if objects.is_empty() {
        output::line("no objects");
    }
    for o in &objects {
        output::line(format_args!("{:>14}  {}", o.size, o.name));
    }
    Ok(())
}

pub(crate) async fn rm(args: DataRmArgs) -> anyhow::Result<()> {
    let plane = plane(&args.data).await?;
    plane.delete(&args.name).await?;
    if args.data.json {
        return output::json(&json!({"name": args.name, "deleted": true}));
    }
    output::line(format_args!("deleted {}", args.name));
    Ok(())
}
