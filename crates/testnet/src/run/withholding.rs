//! The withholding node, once the listings converged: it relays a node that is not a provider
//! and drops the first provider's offers; a light client cross-checks it with another node and
//! must name it, and only it.

use flashback_client::Client;
use flashback_types::OfferQuery;

use crate::Withholder;
use crate::observe::Ctx;
use crate::report::WithholdReport;
use crate::scenario::WithholdSpec;

use super::Plan;

/// Starts the withholder, runs the cross-check, stops the withholder.
pub(super) async fn check(ctx: &Ctx, plan: &Plan, spec: &WithholdSpec) -> WithholdReport {
    let mut report = WithholdReport::default();
    if let Err(e) = run(ctx, plan, spec, &mut report).await {
        report.error = Some(e);
    }
    report
}

async fn run(
    ctx: &Ctx,
    plan: &Plan,
    spec: &WithholdSpec,
    report: &mut WithholdReport,
) -> Result<(), String> {
    let up = ctx.up_nodes();
    let is_provider = |i: &usize| plan.providers.iter().any(|p| p.node == *i);
    let upstream = up
        .iter()
        .copied()
        .find(|i| !is_provider(i))
        .or_else(|| up.first().copied())
        .ok_or("no node is up")?;
    let honest = up
        .iter()
        .copied()
        .find(|i| *i != upstream)
        .ok_or("a cross-check needs a second node")?;
    let victim = plan.providers.first().ok_or("no provider")?.key.public();
    let addr = |i: usize| ctx.addr(i).ok_or(format!("{} has no address", ctx.name(i)));
    let (upstream_addr, honest_addr) = (addr(upstream)?, addr(honest)?);
    report.relays = ctx.name(upstream);
    report.honest = ctx.name(honest);
    report.victim = victim.to_string();

    let withholder = Withholder::start(&upstream_addr, victim)
        .await
        .map_err(|e| e.to_string())?;
    report.withholder = withholder.peer.to_string();
    ctx.say(format!(
        "withholding node {} relays {} without the offers of provider {}",
        withholder.peer,
        report.relays,
        victim.fmt_short()
    ));
    let checked = async {
        let client = Client::connect(&[withholder.addr.clone(), honest_addr])
            .await
            .map_err(|e| e.to_string())?;
        let result = async {
            let honest_peer = client.nodes()[1];
            let victims = OfferQuery {
                provider: Some(victim),
                ..OfferQuery::default()
            };
            let listed = client.query_offers_at(honest_peer, &victims).await?;
            let check = client
                .cross_check(&OfferQuery::default(), spec.grace.0.as_secs())
                .await?;
            Ok::<_, flashback_client::ClientError>((listed.offers.len(), check))
        }
        .await;
        client.close().await;
        result.map_err(|e| e.to_string())
    }
    .await;
    let w_peer = withholder.peer;
    withholder.stop().await;
    let (victim_offers, check) = checked?;

    let name = |peer: &flashback_net::PeerId| {
        if *peer == w_peer {
            "withholder".to_owned()
        } else {
            report.honest.clone()
        }
    };
    report.victim_offers = victim_offers;
    report.digests_agree = check.digests_agree;
    for g in &check.gaps {
        *report
            .gaps
            .entry(format!("{} at {}", g.kind.name(), name(&g.node)))
            .or_default() += 1;
    }
    report.held = check.gaps.iter().filter(|g| g.held_against_node()).count();
    report.named = check.withholding().iter().map(name).collect();
    ctx.say(format!(
        "cross-check named: {}",
        if report.named.is_empty() {
            "nobody".to_owned()
        } else {
            report.named.join(", ")
        }
    ));
    Ok(())
}
