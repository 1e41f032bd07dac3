//! `listing query --cross-check N`: which nodes to compare, and how a cross-check prints.

use flashback_client::{Client, CrossCheck, Gap, parse_duration};
use flashback_types::OfferQuery;
use serde_json::json;

use crate::cli::QueryArgs;
use crate::output;

/// The other nodes to ask: the `--with` ones, then peers from the local node's address book,
/// `n` in all. Empty without `--cross-check`.
pub(crate) fn others(args: &QueryArgs, primary: &str) -> anyhow::Result<Vec<String>> {
    let Some(n) = args.cross_check else {
        return Ok(Vec::new());
    };
    anyhow::ensure!(
        n > 0,
        "--cross-check {n}: compare with at least one other node"
    );
    let mut out: Vec<String> = args.with.clone();
    if out.len() < n {
        let dir = args
            .node
            .data_dir
            .clone()
            .unwrap_or_else(flashback_node::default_data_dir);
        let mut known = flashback_node::known_peers(&dir);
        rand::seq::SliceRandom::shuffle(
            &mut known[..],
            &mut rand::make_rng::<rand::rngs::StdRng>(),
        );
        let peer_of = |a: &str| a.rsplit("/p2p/").next().map(str::to_owned);
        for addr in known {
            if out.len() == n {
                break;
            }
            let peer = peer_of(&addr);
            if peer != peer_of(primary) && !out.iter().any(|o| peer_of(o) == peer) {
                out.push(addr);
            }
        }
    }
    anyhow::ensure!(
        out.len() >= n,
        "--cross-check {n}: only {} other node(s) known; name them with --with <multiaddr>",
        out.len()
    );
    out.truncate(n);
    Ok(out)
}

/// Runs the cross-check when asked for.
pub(crate) async fn run(
    client: &Client,
    args: &QueryArgs,
    query: &OfferQuery,
) -> anyhow::Result<Option<CrossCheck>> {
    if args.cross_check.is_none() {
        return Ok(None);
    }
    let grace = parse_duration("--grace", &args.grace)?;
    Ok(Some(client.cross_check(query, grace).await?))
}

fn gap_json(g: &Gap) -> serde_json::Value {
    let mut v = json!({
        "node": g.node.to_string(),
        "provider": g.provider.to_string(),
        "offer_key": g.offer_key,
        "kind": g.kind.name(),
        "newest": g.newest.to_string(),
        "newest_seq": g.newest_seq,
        "created_at": g.created_at,
        "recent": g.recent,
        "held_against_node": g.held_against_node(),
    });
    match g.kind {
        flashback_client::GapKind::Stale { seq } => v["seq"] = seq.into(),
        flashback_client::GapKind::Forked { id } => v["id"] = id.to_string().into(),
        _ => {}
    }
    v
}

/// The cross-check as JSON, with the node whose answer was shown.
pub(crate) fn to_json(check: &CrossCheck, shown: &str) -> serde_json::Value {
    json!({
        "answer_from": shown,
        "digests_agree": check.digests_agree,
        "consistent": check.consistent(),
        "withholding": check.withholding().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "nodes": check.nodes.iter().map(|n| json!({
            "node": n.node.to_string(),
            "listing_digest": n.listing_digest.to_string(),
            "providers": n.providers,
            "answered": n.answered,
            "complete": n.complete,
            "withheld": n.withheld,
        })).collect::<Vec<_>>(),
        "gaps": check.gaps.iter().map(gap_json).collect::<Vec<_>>(),
        "drilled": check.drilled,
        "truncated": check.truncated,
        "node_dependent_query": check.node_dependent,
    })
}

/// The cross-check for people: one line per node, then each difference.
pub(crate) fn print(check: &CrossCheck, shown: &str) {
    output::line(format_args!(
        "cross-check of {} nodes: listing digests {}; {} provider(s) examined{}",
        check.nodes.len(),
        if check.digests_agree {
            "agree"
        } else {
            "differ"
        },
        check.drilled,
        if check.truncated {
            " (more differed: not all examined)"
        } else {
            ""
        }
    ));
    for n in &check.nodes {
        output::line(format_args!(
            "  {}  digest {}  {} providers  {} offers answered{}  {}",
            n.node,
            &n.listing_digest.to_string()[..12],
            n.providers,
            n.answered,
            if n.complete { "" } else { " (cut)" },
            if n.withheld > 0 {
                format!("WITHHELD {} offer(s)", n.withheld)
            } else {
                "ok".to_owned()
            }
        ));
    }
    for g in &check.gaps {
        let what = match g.kind {
            flashback_client::GapKind::Missing => "lacks".to_owned(),
            flashback_client::GapKind::Stale { seq } => format!("holds seq {seq} of"),
            flashback_client::GapKind::Forked { id } => format!(
                "holds {} (the provider signed two versions with this seq) instead of",
                id.fmt_short()
            ),
            flashback_client::GapKind::Hidden => "lists but left out of its answer".to_owned(),
        };
        output::line(format_args!(
            "  {}: {} {what} offer {:?} seq {} ({}) of provider {}{}",
            g.kind.name(),
            g.node,
            g.offer_key,
            g.newest_seq,
            g.newest.fmt_short(),
            g.provider.fmt_short(),
            if g.recent {
                " — signed within --grace: may still be propagating"
            } else {
                ""
            }
        ));
    }
    let withholding = check.withholding();
    if !withholding.is_empty() {
        let names: Vec<String> = withholding.iter().map(ToString::to_string).collect();
        output::warn(format_args!(
            "{} withheld offers; the answer above is {shown}'s",
            names.join(", ")
        ));
    }
}
