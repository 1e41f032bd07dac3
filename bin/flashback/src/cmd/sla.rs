//! `flashback sla propose|list`: light-client commands (through `flashback-client`).

use std::str::FromStr;
use std::time::Duration;

use flashback_client::{AgreementStatus, Client, Terms, parse_duration, parse_size};
use flashback_types::clock::now;
use flashback_types::{
    Agreement, Decision, Hash32, Object, PublicKey, ResourceKind, Signed, SlaDecision, SlaProposal,
};
use serde_json::json;

use crate::cli::{NodeAddr, ProposeArgs, SlaListArgs};
use crate::cmd::Exit;
use crate::cmd::agreement::{status_json, status_text};
use crate::cmd::keys::read_key_file;
use crate::cmd::node::node_addr;
use crate::{human, output};

/// `sla propose`'s exit status on a rejection.
const EXIT_REJECTED: u8 = 3;
/// `sla propose`'s exit status when no decision came within `--wait`.
const EXIT_NO_DECISION: u8 = 4;
/// How long to wait for the access grant after an acceptance (it travels with the decision).
const GRANT_WAIT: Duration = Duration::from_secs(10);

/// Waits for the decision on `proposal` and, on acceptance, for the provider's access grant:
/// the decision and the grant's protocol.
async fn decided(
    client: &Client,
    proposal: &Signed<SlaProposal>,
    wait: Duration,
) -> anyhow::Result<(Option<Signed<SlaDecision>>, Option<String>)> {
    let decision = client.wait_decision(proposal, wait).await?;
    let mut access = None;
    if decision
        .as_ref()
        .is_some_and(|d| d.body().decision == Decision::Accept)
    {
        let record = client.agreement_record(proposal.id(), GRANT_WAIT).await?;
        access = record.grant().map(|g| g.body().protocol.name().to_owned());
    }
    Ok((decision, access))
}

/// `sla propose` and `sla renew`: connects to the node, lets `make` sign and send a proposal
/// (given the client and the --wait duration), waits for the decision and the grant, and
/// reports them, ending with the exit status of [`report_decision`].
pub(crate) async fn propose_and_report(
    node: &NodeAddr,
    wait_text: &str,
    json: bool,
    make: impl AsyncFnOnce(&Client, Duration) -> anyhow::Result<Signed<SlaProposal>>,
) -> anyhow::Result<()> {
    let wait = Duration::from_secs(parse_duration("--wait", wait_text)?);
    let client = Client::connect(&[node_addr(node)?]).await?;
    let result = async {
        let proposal = make(&client, wait).await?;
        let (decision, access) = decided(&client, &proposal, wait).await?;
        Ok::<_, anyhow::Error>((proposal, decision, access))
    }
    .await;
    client.close().await;
    let (proposal, decision, access) = result?;
    report_decision(
        &proposal,
        decision.as_ref(),
        access.as_deref(),
        wait_text,
        json,
    )
}

pub(crate) async fn propose(args: ProposeArgs) -> anyhow::Result<()> {
    let key = read_key_file(&args.key)?;
    let offer_id = Hash32::from_str(&args.offer)
        .map_err(|e| anyhow::anyhow!("--offer {:?}: not an offer id ({e})", args.offer))?;
    let duration_secs = parse_duration("--duration", &args.duration)?;
    propose_and_report(&args.node, &args.wait, args.json, async |client, wait| {
        let offer = match client.get(&[offer_id]).await?.pop() {
            Some(Object::Offer(o)) => o,
            _ => anyhow::bail!("the node knows no offer {offer_id}: check --offer (see `flashback listing query --json`)"),
        };
        let volume = match offer.body().kind {
            ResourceKind::Storage => parse_size("--volume", &args.volume)?,
            ResourceKind::Compute => args.volume.trim().parse().map_err(|_| {
                anyhow::anyhow!("--volume {:?}: a compute volume is a whole number of units", args.volume)
            })?,
        };
        let terms = Terms {
            volume,
            duration_secs,
            start: None,
            decide_within: wait.max(Duration::from_secs(60)),
        };
        Ok(client.propose(&key, &offer, terms).await?)
    })
    .await
}

/// Prints the outcome of a proposal and ends with its exit status: 0 accepted, 3 rejected,
/// 4 no decision.
fn report_decision(
    proposal: &Signed<SlaProposal>,
    decision: Option<&Signed<SlaDecision>>,
    access: Option<&str>,
    wait: &str,
    json: bool,
) -> anyhow::Result<()> {
    let p = proposal.body();
    let (status, reason) = match decision.map(|d| d.body().decision) {
        Some(Decision::Accept) => ("accepted", None),
        Some(Decision::Reject(r)) => ("rejected", Some(r.code())),
        None => ("no decision", None),
    };
    let exit = match status {
        "accepted" => Ok(()),
        "rejected" => Err(Exit(EXIT_REJECTED).into()),
        _ => Err(Exit(EXIT_NO_DECISION).into()),
    };
    if json {
        output::json(&json!({
            "proposal_id": proposal.id().to_string(),
            "agreement_id": (status == "accepted").then(|| proposal.id().to_string()),
            "provider": p.provider.to_string(),
            "offer_id": p.offer_id.to_string(),
            "volume": p.volume,
            "duration_secs": p.duration_secs,
            "total": p.total,
            "asset": p.price.asset.as_str(),
            "status": status,
            "reason": reason,
            "access": access,
        }))?;
        return exit;
    }
    match (status, reason) {
        ("accepted", _) => {
            output::line(format_args!(
                "accepted: agreement {} with {} for {} over {}, total {}",
                proposal.id(),
                p.provider,
                human::volume(p.volume, p.price.unit),
                human::duration(p.duration_secs),
                human::amount(p.total, p.price.asset.as_str())
            ));
            match access {
                Some(protocol) => output::line(format_args!(
                    "access: {protocol}, sealed to your key (flashback sla access {} --key <your key>)",
                    proposal.id()
                )),
                None => output::line(
                    "access: none delivered yet (the provider may provision none for this offer; see \
                     `flashback sla status`)",
                ),
            }
        }
        ("rejected", Some(reason)) => output::line(format_args!(
            "rejected: {reason} (proposal {})",
            proposal.id()
        )),
        _ => output::line(format_args!(
            "no decision within {wait}: the proposal {} expires unanswered (is the provider's node online?)",
            proposal.id()
        )),
    }
    exit
}

pub(crate) fn agreement_json(a: &Agreement) -> serde_json::Value {
    let p = a.proposal().body();
    json!({
        "agreement_id": a.proposal_id().to_string(),
        "object_id": a.id().to_string(),
        "consumer": p.consumer.to_string(),
        "provider": p.provider.to_string(),
        "offer_id": p.offer_id.to_string(),
        "offer_seq": p.offer_seq,
        "volume": p.volume,
        "duration_secs": p.duration_secs,
        "start": p.start,
        "end": p.end(),
        "total": p.total,
        "asset": p.price.asset.as_str(),
        "accepted_at": a.created_at(),
    })
}

pub(crate) async fn list(args: SlaListArgs) -> anyhow::Result<()> {
    let mut party = args
        .party
        .as_deref()
        .map(|k| PublicKey::from_str(k).map_err(|e| anyhow::anyhow!("--party {k:?}: {e}")))
        .transpose()?;
    if args.mine
        && let Some(path) = &args.key
    {
        party = Some(read_key_file(path)?.public());
    }
    let addr = node_addr(&args.node)?;
    let client = Client::connect(&[addr]).await?;
    let result = async {
        let agreements = client.agreements(party).await?;
        let t = now();
        let mut statuses = Vec::with_capacity(agreements.len());
        for a in &agreements {
            let record = client
                .agreement_record(a.proposal_id(), Duration::ZERO)
                .await?;
            statuses.push(record.status(t));
        }
        // A provider's view: what its offers have committed, and what is free.
        let commitments = match (args.mine, party) {
            (true, Some(me)) => client.commitments(me).await?,
            _ => Vec::new(),
        };
        anyhow::Ok((agreements, statuses, commitments))
    }
    .await;
    client.close().await;
    let (agreements, statuses, commitments) = result?;
    if args.json {
        let listed: Vec<_> = agreements
            .iter()
            .zip(&statuses)
            .map(|(a, s)| with_status(agreement_json(a), s))
            .collect();
        if !args.mine {
            return output::json(&listed);
        }
        let offers: Vec<_> = commitments
            .iter()
            .map(|c| {
                let o = c.offer.body();
                json!({
                    "offer_id": c.offer.id().to_string(),
                    "offer_key": o.offer_key.as_str(),
                    "capacity": o.capacity,
                    "committed": c.committed,
                    "free": c.free,
                    "agreements": c.agreements.len(),
                })
            })
            .collect();
        return output::json(&json!({"agreements": listed, "offers": offers}));
    }
    if agreements.is_empty() {
        output::line("no agreements");
    }
    for (a, status) in agreements.iter().zip(&statuses) {
        let p = a.proposal().body();
        output::line(format_args!(
            "{}  consumer {}  provider {}  {}  {} from {}  total {}  {}",
            a.proposal_id().fmt_short(),
            p.consumer.fmt_short(),
            p.provider.fmt_short(),
            human::volume(p.volume, p.price.unit),
            human::duration(p.duration_secs),
            human::time(p.start),
            human::amount(p.total, p.price.asset.as_str()),
            status_text(status)
        ));
    }
    for c in &commitments {
        let o = c.offer.body();
        output::line(format_args!(
            "offer {}: {} committed of {}, {} free ({} active agreements)",
            o.offer_key,
            human::volume(c.committed, o.price.unit),
            human::volume(o.capacity, o.price.unit),
            human::volume(c.free, o.price.unit),
            c.agreements
                .iter()
                .filter(|(_, s)| *s == AgreementStatus::Active)
                .count()
        ));
    }
    Ok(())
}

/// An agreement's JSON with its status fields merged in.
fn with_status(mut agreement: serde_json::Value, status: &AgreementStatus) -> serde_json::Value {
    if let (Some(target), serde_json::Value::Object(fields)) =
        (agreement.as_object_mut(), status_json(status))
    {
        target.extend(fields);
    }
    agreement
}
