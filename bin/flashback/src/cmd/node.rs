//! `flashback node run` and `flashback config dump`.

use std::path::Path;

use anyhow::Context;
use flashback_node::{NodeBuilder, NodeConfig};
use flashback_types::SecretKey;
use flashback_types::file::{MAX_CONFIG_BYTES, read_text_bounded};

use crate::cli::{NodeArgs, RunArgs};
use crate::cmd::keys::{read_key_file, write_key_file};
use crate::output;

/// defaults < TOML file < environment < flags (clap resolves environment < flags).
pub(crate) fn effective_config(args: &NodeArgs) -> anyhow::Result<NodeConfig> {
    let mut config = match &args.config {
        Some(path) => {
            let text = read_text_bounded(path, MAX_CONFIG_BYTES)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            toml::from_str::<NodeConfig>(&text).map_err(|e| {
                anyhow::anyhow!(
                    "config file {}: {}",
                    path.display(),
                    e.to_string().lines().collect::<Vec<_>>().join(" ")
                )
            })?
        }
        None => NodeConfig::default(),
    };
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(key) = &args.key {
        config.key_file = Some(key.clone());
    }
    if !args.listen.is_empty() {
        config.net.listen = args.listen.clone();
    }
    if !args.bootstrap.is_empty() {
        config.net.bootstrap = args.bootstrap.clone();
    }
    if let Some(addr) = args.metrics {
        config.metrics.listen = Some(addr);
        config.metrics.enabled = true;
    }
    if args.no_metrics {
        config.metrics.enabled = false;
    }
    if let Some(addr) = args.api {
        config.api.listen = Some(addr);
        config.api.enabled = true;
    }
    if args.no_api {
        config.api.enabled = false;
    }
    if args.mdns {
        config.net.enable_mdns = true;
    }
    if let Some(secs) = args.sync_interval {
        config.sync.interval_secs = secs;
    }
    for addr in config.net.listen.iter().chain(&config.net.bootstrap) {
        addr.parse::<flashback_net::Multiaddr>()
            .map_err(|e| anyhow::anyhow!("malformed multiaddr {addr:?}: {e}"))?;
    }
    Ok(config)
}

pub(crate) fn dump(args: &NodeArgs) -> anyhow::Result<()> {
    let config = effective_config(args)?;
    output::line(toml::to_string_pretty(&config).context("cannot print the configuration")?);
    Ok(())
}

fn load_or_create_key(config: &NodeConfig) -> anyhow::Result<SecretKey> {
    let path = config.key_path();
    if path.exists() || config.key_file.is_some() {
        return read_key_file(&path);
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let key = SecretKey::generate();
    write_key_file(&path, &key, false)?;
    tracing::info!(path = %path.display(), "created a new node key");
    Ok(key)
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<()> {
    crate::cmd::init_logging("info,libp2p_gossipsub=warn,libp2p_kad=error");
    let config = effective_config(&args.node)?;
    let key = load_or_create_key(&config)?;
    let node = NodeBuilder::new(config.clone(), key)
        .rebuild_store(args.rebuild_store)
        .deal_service(std::sync::Arc::new(
            flashback_client::deal_service::NodeDeals,
        ))
        .start()
        .await
        .context("cannot start the node")?;
    let info = node.info();
    tracing::info!(
        peer_id = %info.peer_id,
        public_key = %info.public_key,
        "node running; details in {}",
        config.node_json_path().display()
    );
    for addr in &info.listen_addrs {
        tracing::info!("listening on {addr}");
    }
    if let Some(m) = info.metrics_addr {
        tracing::info!("metrics on http://{m}/metrics");
    }
    if let Some(a) = info.api_addr {
        tracing::info!("HTTP API on http://{a}/api/v1, explorer on http://{a}/");
    }
    wait_for_signal().await?;
    tracing::info!("stopping");
    node.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot watch SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// The node address a light-client command uses: `--node`, else the local node's node.json.
pub(crate) fn node_addr(node: &crate::cli::NodeAddr) -> anyhow::Result<String> {
    if let Some(addr) = &node.node {
        return Ok(addr.clone());
    }
    let dir = node
        .data_dir
        .clone()
        .unwrap_or_else(flashback_node::default_data_dir);
    local_node_addr(&dir)
}

fn local_node_addr(dir: &Path) -> anyhow::Result<String> {
    let info = flashback_node::NodeInfo::load(dir).map_err(|_| {
        anyhow::anyhow!(
            "no running node found in {} (no node.json): pass --node <multiaddr> or start one with `flashback node run`",
            dir.display()
        )
    })?;
    info.dial_addr()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("{}: node.json lists no address", dir.display()))
}
