//! `flashback provider show`: a light-client command (through `flashback-client`).

use std::time::Duration;

use flashback_api::view::{ProviderParts, ProviderView};
use flashback_client::{Client, human};
use flashback_types::clock::now;
use flashback_types::wire::ProviderReport;
use flashback_types::{BoundedVec, CertQuery};

use crate::cli::ProviderShowArgs;
use crate::cmd::cert::cert_line;
use crate::cmd::ids;
use crate::cmd::listing::offer_table;
use crate::cmd::node::node_addr;
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
        // With --json each agreement carries its status: the terminations held about it.
        let mut ended = Vec::new();
        if args.json {
            for a in &report.agreements {
                let record = client
                    .agreement_record(a.proposal_id(), Duration::ZERO)
                    .await?;
                ended.push((a.clone(), record.terminations));
            }
        }
        let table = if args.json {
            None
        } else {
            let shown = &report.offers[..report.offers.len().min(OFFERS_SHOWN)];
            Some(offer_table(&client, shown, None).await?)
        };
        anyhow::Ok((provider, report, certs, table, ended))
    }
    .await;
    client.close().await;
    let (provider, v, certs, table, ended) = result?;
    let r = &v.report;
    if args.json {
        return output::json(&ProviderView::from(ProviderParts {
            report: r,
            offers: &v.offers,
            agreements: &ended,
            now: now(),
            certificates: &certs.certificates,
            trust: &certs.trust,
            more_certificates: certs.next.is_some(),
        }));
    }
    output::line(format_args!("provider {provider}"));
    let known = !v.offers.is_empty()
        || !v.agreements.is_empty()
        || !r.counted.is_empty()
        || !r.excluded.is_empty()
        || !r.rulings.is_empty()
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
    if !r.rulings.is_empty() {
        output::line(format_args!(
            "  rulings: {} (score multiplied by {:.3}; only arbiters this node trusts count)",
            r.rulings.len(),
            r.ruling_factor
        ));
    }
    for x in r.rulings.iter() {
        output::line(format_args!(
            "    {}  by {}  agreement {}  for the {}  ×{:.3}  {}",
            x.id.fmt_short(),
            x.arbiter.fmt_short(),
            x.agreement.fmt_short(),
            x.in_favour_of.name(),
            x.factor,
            x.why
        ));
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
