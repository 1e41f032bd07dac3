//! `flashback sla propose|list`: light-client commands (through `flashback-client`).

use std::time::Duration;

use flashback_api::view::AgreementView;
use flashback_client::{Client, Terms, human, limits_for, parse_duration, parse_size};
use flashback_types::{Decision, Object, ResourceKind};
use serde_json::json;

use crate::cli::{ProposeArgs, SlaListArgs};
use crate::cmd::ids;
use crate::cmd::keys::read_key_file;
use crate::cmd::node::node_addr;
use crate::output;
use crate::table::{Align, Table};

pub(crate) async fn propose(args: ProposeArgs) -> anyhow::Result<()> {
    let key = read_key_file(&args.key)?;
    let duration_secs = parse_duration("--duration", &args.duration)?;
    let wait = Duration::from_secs(parse_duration("--wait", &args.wait)?);
    let addr = node_addr(&args.node)?;
    let client = Client::connect(&[addr]).await?;
    let result = async {
        let offer_id = ids::offer(&client, "--offer", &args.offer).await?;
        let offer = match client.get(&[offer_id]).await?.pop() {
            Some(Object::Offer(o)) => o,
            _ => anyhow::bail!(
                "the node knows no offer {offer_id}: check --offer (see `flashback listing query`)"
            ),
        };
        let volume = match offer.body().kind {
            ResourceKind::Storage => parse_size("--volume", &args.volume)?,
            ResourceKind::Compute => args.volume.trim().parse().map_err(|_| {
                anyhow::anyhow!(
                    "--volume {:?}: a compute volume is a whole number of units",
                    args.volume
                )
            })?,
        };
        let terms = Terms {
            volume,
            duration_secs,
            start: None,
            decide_within: wait.max(Duration::from_secs(60)),
        };
        let proposal = client.propose(&key, &offer, terms).await?;
        let decision = client.wait_decision(&proposal, wait).await?;
        anyhow::Ok((offer, proposal, decision))
    }
    .await;
    client.close().await;
    let (offer, proposal, decision) = result?;
    let p = proposal.body();
    let (status, reason) = match decision.as_ref().map(|d| d.body().decision) {
        Some(Decision::Accept) => ("accepted", None),
        Some(Decision::Reject(r)) => ("rejected", Some(r)),
        None => ("no decision", None),
    };
    let limits = reason.and_then(|r| limits_for(offer.body(), r));
    if args.json {
        return output::json(&json!({
            "proposal_id": proposal.id().to_string(),
            "agreement_id": (status == "accepted").then(|| proposal.id().to_string()),
            "provider": p.provider.to_string(),
            "offer_id": p.offer_id.to_string(),
            "volume": p.volume,
            "duration_secs": p.duration_secs,
            "total": p.total,
            "asset": p.price.asset.as_str(),
            "status": status,
            "reason": reason.map(|r| r.code()),
            "offer_limits": limits,
        }));
    }
    // The duration as typed, and in the one convention when that differs ("1 month (30d)").
    let shown = human::duration(p.duration_secs);
    let typed = args.duration.trim();
    let over = if typed == shown {
        shown
    } else {
        format!("{typed} ({shown})")
    };
    match (status, reason) {
        ("accepted", _) => output::line(format_args!(
            "accepted: agreement {} with {} for {} over {over}, total {}",
            proposal.id(),
            p.provider,
            human::volume(p.volume, p.price.unit),
            human::amount(p.total, p.price.asset.as_str())
        )),
        ("rejected", Some(reason)) => output::line(format_args!(
            "rejected: {} ({}; proposal {})",
            reason.code(),
            limits.unwrap_or_else(|| "the provider gave no more detail".into()),
            proposal.id()
        )),
        _ => output::line(format_args!(
            "no decision within {}: the proposal {} expires unanswered (is the provider's node online?)",
            args.wait,
            proposal.id()
        )),
    }
    Ok(())
}

pub(crate) async fn list(args: SlaListArgs) -> anyhow::Result<()> {
    let addr = node_addr(&args.node)?;
    let client = Client::connect(&[addr]).await?;
    let result = async {
        let party = match &args.party {
            Some(text) => Some(ids::key(&client, "--party", text).await?),
            None => None,
        };
        anyhow::Ok(client.agreements(party).await?)
    }
    .await;
    client.close().await;
    let agreements = result?;
    if args.json {
        return output::json(
            &agreements
                .iter()
                .map(AgreementView::from)
                .collect::<Vec<_>>(),
        );
    }
    if agreements.is_empty() {
        output::line("no agreements");
        return Ok(());
    }
    let mut table = Table::new(&[
        ("AGREEMENT", Align::Left),
        ("CONSUMER", Align::Left),
        ("PROVIDER", Align::Left),
        ("VOLUME", Align::Right),
        ("DURATION", Align::Left),
        ("START", Align::Left),
        ("TOTAL", Align::Right),
    ]);
    for a in &agreements {
        let p = a.proposal().body();
        table.row(vec![
            a.proposal_id().fmt_short(),
            p.consumer.fmt_short(),
            p.provider.fmt_short(),
            human::volume(p.volume, p.price.unit),
            human::duration(p.duration_secs),
            human::time(p.start),
            human::amount(p.total, p.price.asset.as_str()),
        ]);
    }
    table.print();
    Ok(())
}
