//! `flashback node status|peers`: light-client questions to a node about itself.

use flashback_client::{Client, human};
use flashback_types::wire::{NodeStatus, PeerInfo};
use serde_json::json;

use crate::cli::NodeQueryArgs;
use crate::cmd::node::node_addr;
use crate::output;
use crate::table::{Align, Table};

fn ago(now: u64, at: Option<u64>) -> String {
    match at {
        Some(t) => format!("{} ago", human::duration(now.saturating_sub(t))),
        None => "never".into(),
    }
}

fn status_json(s: &NodeStatus) -> serde_json::Value {
    let counts: serde_json::Map<String, serde_json::Value> = s
        .counts
        .iter()
        .filter_map(|(k, n)| k.kind().map(|k| (k.name().to_owned(), json!(n))))
        .collect();
    json!({
        "peer_id": s.node_key.to_peer_id().to_string(),
        "public_key": s.node_key.to_string(),
        "version": s.version.as_str(),
        "listen_addrs": s.listen_addrs.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "peers": s.peers,
        "listing_digest": s.listing_digest.to_string(),
        "counts": counts,
        "withdrawn_offers": s.withdrawn_offers,
        "flagged_providers": s.flagged_providers,
        "sync": {
            "rounds": s.sync.rounds,
            "failed_rounds": s.sync.failed_rounds,
            "last_round_at": s.sync.last_round_at,
            "last_fetched": s.sync.last_fetched,
            "last_in_sync_at": s.sync.last_in_sync_at,
        },
        "blob_endpoint": s.blob_endpoint.as_ref().map(|e| e.as_str()),
        "now": s.now,
    })
}

pub(crate) async fn status(args: NodeQueryArgs) -> anyhow::Result<()> {
    let addr = node_addr(&args.node)?;
    let client = Client::connect(&[addr]).await?;
    let result = client.status().await;
    client.close().await;
    let s = result?;
    if args.json {
        return output::json(&status_json(&s));
    }
    let field = |label: &str, value: String| output::line(format_args!("{label:<14}{value}"));
    field("peer id", s.node_key.to_peer_id().to_string());
    field("public key", s.node_key.to_string());
    field("version", s.version.to_string());
    output::line("listening on");
    for a in s.listen_addrs.iter() {
        output::line(format_args!("  {}", a.as_str()));
    }
    if let Some(e) = &s.blob_endpoint {
        field("blob endpoint", e.to_string());
    }
    field("peers", format!("{} connected", s.peers));
    field(
        "listing",
        format!(
            "digest {}, {} withdrawn offers, {} flagged providers",
            s.listing_digest.fmt_short(),
            s.withdrawn_offers,
            s.flagged_providers
        ),
    );
    let mut table = Table::new(&[("KIND", Align::Left), ("HELD", Align::Right)]);
    for (kind, n) in s.counts.iter() {
        if let Some(kind) = kind.kind() {
            table.row(vec![kind.name().to_owned(), n.to_string()]);
        }
    }
    for line in table.lines() {
        output::line(format_args!("  {line}"));
    }
    let sync = &s.sync;
    field(
        "sync",
        format!(
            "{} rounds ({} failed); last {} (fetched {}); last found nothing to fetch {}",
            sync.rounds,
            sync.failed_rounds,
            ago(s.now, sync.last_round_at),
            sync.last_fetched,
            ago(s.now, sync.last_in_sync_at)
        ),
    );
    field("clock", human::time(s.now));
    Ok(())
}

fn peer_json(p: &PeerInfo) -> serde_json::Value {
    json!({
        "peer_id": p.peer_id.as_str(),
        "addrs": p.addrs.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "in_mesh": p.in_mesh,
        "score": p.score,
    })
}

pub(crate) async fn peers(args: NodeQueryArgs) -> anyhow::Result<()> {
    let addr = node_addr(&args.node)?;
    let client = Client::connect(&[addr]).await?;
    let result = client.peers().await;
    client.close().await;
    let peers = result?;
    if args.json {
        return output::json(&peers.iter().map(peer_json).collect::<Vec<_>>());
    }
    if peers.is_empty() {
        output::line("no peers connected");
        return Ok(());
    }
    let mut table = Table::new(&[
        ("PEER ID", Align::Left),
        ("MESH", Align::Left),
        ("SCORE", Align::Right),
        ("ADDRESSES", Align::Left),
    ]);
    for p in &peers {
        table.row(vec![
            p.peer_id.to_string(),
            if p.in_mesh { "yes" } else { "no" }.into(),
            p.score.map_or_else(|| "-".into(), |s| format!("{s:.2}")),
            p.addrs
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ]);
    }
    table.print();
    output::line(human::count(peers.len(), "peer"));
    Ok(())
}
