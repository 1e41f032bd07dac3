//! `flashback provider show`: a light-client command (through `flashback-client`).

use flashback_client::{Client, human};
use flashback_types::wire::ProviderReport;
use flashback_types::{BoundedVec, CertQuery};
use serde_json::json;

use crate::cli::ProviderShowArgs;
use crate::cmd::cert::{cert_json, cert_line};
use crate::cmd::ids;
use crate::cmd::listing::{offer_json, offer_table};
use crate::cmd::node::node_addr;
use crate::cmd::sla::agreement_json;
use crate::output;

/// Offers listed in the human output; `offer list --provider` lists them all.
const OFFERS_SHOWN: usize = 20;

pub(crate) async fn show(args: ProviderShowArgs) -> anyhow::Result<()> {
    let addr = node_addr(&args.node)?;
    let client = Client::connect(&[addr]).await?;
    let result = async {
        let provider = ids::key(&client, "provider", &args.provider).await?;
        let report = client.provider_report(provider).await?;
        // Every certificate about the provider, whoever issued it and whether its offers cite
        // it.
        let certs_query = CertQuery {
            subjects: BoundedVec::try_from_vec(vec![provider])?,
            ..CertQuery::default()
        };
        let certs = client.certificates(&certs_query).await?;
        let table = if args.json {
            None
        } else {
            let shown = &report.offers[..report.offers.len().min(OFFERS_SHOWN)];
            Some(offer_table(&client, shown, None).await?)
        };
        anyhow::Ok((provider, report, certs, table))
    }
    .await;
    client.close().await;
    let (provider, v, certs, table) = result?;
    let r = &v.report;
    if args.json {
        return output::json(&json!({
            "provider": provider.to_string(),
            "flagged_equivocation": r.flagged,
            "reputation": {
                "rated": r.score.is_some(),
                "score": r.score,
                "beta_mean": r.beta_mean,
                "compliance": r.compliance,
                "evidence": {
                    "total": r.evidence.total,
                    "anchored": r.evidence.anchored,
                    "earned": r.evidence.total - r.evidence.anchored,
                    "rated_at": r.evidence.rated_at,
                    "node_trusts_anyone": r.evidence.anchored_node,
                    "discounted": {
                        "no_standing": r.evidence.no_standing,
                        "low_stake": r.evidence.low_stake,
                        "capped": r.evidence.capped,
                    },
                },
                "counted": r.counted.iter().map(|c| json!({
                    "id": c.id.to_string(),
                    "attester": c.attester.to_string(),
                    "window_end": c.window_end,
                    "probes": c.probes,
                    "successes": c.successes,
                    "weight": c.weight,
                    "standing": c.standing,
                    "stake": c.stake,
                    "standing_code": c.standing_code.as_str(),
                    "why": c.why.as_str(),
                })).collect::<Vec<_>>(),
                "excluded": r.excluded.iter().map(|x| json!({
                    "id": x.id.to_string(),
                    "attester": x.attester.to_string(),
                    "reason": x.reason.as_str(),
                })).collect::<Vec<_>>(),
            },
            "offers": v.offers.iter().map(offer_json).collect::<anyhow::Result<Vec<_>>>()?,
            "agreements": v.agreements.iter().map(agreement_json).collect::<Vec<_>>(),
            "certificates": certs.certificates.iter().map(|c| cert_json(c, &certs.trust)).collect::<Vec<_>>(),
            "more_certificates": certs.next.is_some(),
        }));
    }
    output::line(format_args!("provider {provider}"));
    let known = !v.offers.is_empty()
        || !v.agreements.is_empty()
        || !r.counted.is_empty()
        || !r.excluded.is_empty()
        || r.flagged;
    if !known {
        output::line(
            "  the node knows no offer, agreement or attestation of this key as a provider: \
             it is not a provider (or its offers have not reached this node)",
        );
        return Ok(());
    }
    if r.flagged {
        output::line(
            "  WARNING: this provider signed two different offers with the same seq (equivocation)",
        );
    }
    reputation_lines(r);
    output::line(format_args!(
        "  {}, {}",
        human::count(v.offers.len(), "offer"),
        human::count(v.agreements.len(), "agreement")
    ));
    if let Some(table) = table.filter(|t| !t.is_empty()) {
        for line in table.lines() {
            output::line(format_args!("  {line}"));
        }
        if v.offers.len() > OFFERS_SHOWN {
            output::line(format_args!(
                "  ({OFFERS_SHOWN} of {} offers shown: `flashback offer list --provider {}` lists them all)",
                v.offers.len(),
                provider
            ));
        }
    }
    output::line(format_args!(
        "  certificates: {}{}",
        certs.certificates.len(),
        if certs.next.is_some() {
            " (more: `flashback cert list --subject`)"
        } else {
            ""
        }
    ));
    for c in &certs.certificates {
        output::line(format_args!("    {}", cert_line(c, &certs.trust)));
    }
    output::line(format_args!("  counted attestations: {}", r.counted.len()));
    for c in r.counted.iter() {
        output::line(format_args!(
            "    {}  by {}  {}/{} ok  weight {:.3} (standing {:.3} × stake {:.3})",
            c.id.fmt_short(),
            c.attester.fmt_short(),
            c.successes,
            c.probes,
            c.weight,
            c.standing,
            c.stake
        ));
        output::line(format_args!("      {}", c.why));
    }
    output::line(format_args!(
        "  excluded attestations: {}",
        r.excluded.len()
    ));
    for x in r.excluded.iter() {
        output::line(format_args!(
            "    {}  by {}  {}",
            x.id.fmt_short(),
            x.attester.fmt_short(),
            x.reason
        ));
    }
    Ok(())
}

/// The score, or "unrated", then what it rests on and what was discounted (decision 0059).
fn reputation_lines(r: &ProviderReport) {
    let e = &r.evidence;
    match r.score {
        Some(score) => output::line(format_args!(
            "  reputation {score:.3}  (beta mean {:.3}, SLA compliance {:.3}; see the user guide, \
             \"Reputation\")",
            r.beta_mean, r.compliance
        )),
        None => output::line(format_args!(
            "  reputation unrated  (counted evidence {:.2}, {:.2} needed for a score; see the user \
             guide, \"Reputation\")",
            e.total, e.rated_at
        )),
    }
    output::line(format_args!(
        "  evidence {:.2}: {:.2} anchored in this node's trust, {:.2} earned by deals with \
         providers it rates",
        e.total,
        e.anchored,
        e.total - e.anchored
    ));
    output::line(format_args!(
        "  discounted {:.2}: no independent standing {:.2}, small stakes {:.2}, caps {:.2}",
        e.no_standing + e.low_stake + e.capped,
        e.no_standing,
        e.low_stake,
        e.capped
    ));
    if !e.anchored_node {
        output::line(
            "  this node trusts no one yet, so it rates no one: list your probing keys in \
             [store.reputation] own_keys, or trust an auditor or a certifier of consumers \
             (`flashback trust`)",
        );
    }
}
