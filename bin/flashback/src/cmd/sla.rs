//! `flashback sla propose|list`: light-client commands (through `flashback-client`).

use std::time::Duration;

use flashback_api::view::{
    AgreementView, CommitmentView, ProposalOutcomeView, ProposalView, ProviderAgreementsView,
};
use flashback_client::{
    AgreementStatus, Client, Terms, human, limits_for, parse_duration, parse_size,
};
use flashback_types::clock::now;
use flashback_types::{
    Agreement, Decision, Object, ResourceKind, Signed, SlaDecision, SlaProposal, Termination,
};

use crate::cli::NodeAddr;
use crate::cli_sla::{ProposeArgs, SlaListArgs};
use crate::cmd::Exit;
use crate::cmd::agreement::status_text;
use crate::cmd::ids;
use crate::cmd::keys::read_key_file;
use crate::cmd::node::node_addr;
use crate::output;
use crate::table::{Align, Table};

/// `sla propose`'s exit status on a rejection.
const EXIT_REJECTED: u8 = 3;
/// `sla propose`'s exit status when no decision came within `--wait`.
const EXIT_NO_DECISION: u8 = 4;
/// How long to wait for the access grant after an acceptance (it travels with the decision).
const GRANT_WAIT: Duration = Duration::from_secs(10);

/// What came of a proposal: the decision, the agreement (with its terminations) and the
/// grant's protocol after an acceptance, and the offer's limits a rejection names.
struct Outcome {
    decision: Option<Signed<SlaDecision>>,
    agreement: Option<(Agreement, Vec<Signed<Termination>>)>,
    access: Option<String>,
    limits: Option<String>,
}

/// Waits for the decision on `proposal`; on acceptance, for the provider's access grant; on a
/// rejection, reads the offer's limits that the reason refers to.
async fn decided(
    client: &Client,
    proposal: &Signed<SlaProposal>,
    wait: Duration,
) -> anyhow::Result<Outcome> {
    let decision = client.wait_decision(proposal, wait).await?;
    let mut outcome = Outcome {
        agreement: None,
        access: None,
        limits: None,
        decision,
    };
    match outcome.decision.as_ref().map(|d| d.body().decision) {
        Some(Decision::Accept) => {
            let record = client.agreement_record(proposal.id(), GRANT_WAIT).await?;
            outcome.access = record.grant().map(|g| g.body().protocol.name().to_owned());
            outcome.agreement = record.agreement.map(|a| (a, record.terminations));
        }
        Some(Decision::Reject(reason)) => {
            // Only detail for the message: an offer the node no longer serves leaves it out.
            if let Ok(mut objects) = client.get(&[proposal.body().offer_id]).await
                && let Some(Object::Offer(offer)) = objects.pop()
            {
                outcome.limits = limits_for(offer.body(), reason);
            }
        }
        None => {}
    }
    Ok(outcome)
}

/// `sla propose` and `sla renew`: connects to the node, lets `make` sign and send a proposal
/// (given the client and the --wait duration), waits for the decision and the grant, and
/// reports them, ending with the exit status of [`report_decision`]. `duration` is the
/// duration as typed, when one was.
pub(crate) async fn propose_and_report(
    node: &NodeAddr,
    wait_text: &str,
    duration: Option<&str>,
    json: bool,
    make: impl AsyncFnOnce(&Client, Duration) -> anyhow::Result<Signed<SlaProposal>>,
) -> anyhow::Result<()> {
    let wait = Duration::from_secs(parse_duration("--wait", wait_text)?);
    let client = Client::connect(&[node_addr(node)?]).await?;
    let result = async {
        let proposal = make(&client, wait).await?;
        let outcome = decided(&client, &proposal, wait).await?;
        Ok::<_, anyhow::Error>((proposal, outcome))
    }
    .await;
    client.close().await;
    let (proposal, outcome) = result?;
    report_decision(&proposal, &outcome, duration, wait_text, json)
}

pub(crate) async fn propose(args: ProposeArgs) -> anyhow::Result<()> {
    let key = read_key_file(&args.key)?;
    let duration_secs = parse_duration("--duration", &args.duration)?;
    propose_and_report(
        &args.node,
        &args.wait,
        Some(&args.duration),
        args.json,
        async |client, wait| {
            let offer_id = ids::offer(client, "--offer", &args.offer).await?;
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
            Ok(client.propose(&key, &offer, terms).await?)
        },
    )
    .await
}

/// Prints the outcome of a proposal and ends with its exit status: 0 accepted, 3 rejected,
/// 4 no decision.
fn report_decision(
    proposal: &Signed<SlaProposal>,
    outcome: &Outcome,
    duration: Option<&str>,
    wait: &str,
    json: bool,
) -> anyhow::Result<()> {
    let p = proposal.body();
    let (status, reason) = match outcome.decision.as_ref().map(|d| d.body().decision) {
        Some(Decision::Accept) => ("accepted", None),
        Some(Decision::Reject(r)) => ("rejected", Some(r)),
        None => ("no decision", None),
    };
    let exit = match status {
        "accepted" => Ok(()),
        "rejected" => Err(Exit(EXIT_REJECTED).into()),
        _ => Err(Exit(EXIT_NO_DECISION).into()),
    };
    if json {
        // The API's view of the proposal (`GET /api/v1/proposals/{id}`), and what the command
        // waited for besides.
        let agreement = outcome
            .agreement
            .as_ref()
            .map(|(a, ended)| (a, ended.as_slice()));
        output::json(&ProposalOutcomeView {
            proposal: ProposalView::new(proposal, outcome.decision.as_ref(), agreement, now()),
            access: outcome.access.clone(),
            offer_limits: outcome.limits.clone(),
        })?;
        return exit;
    }
    // The duration as typed, and in the one convention when that differs ("1 month (30d)").
    let shown = human::duration(p.duration_secs);
    let over = match duration.map(str::trim) {
        Some(typed) if typed != shown => format!("{typed} ({shown})"),
        _ => shown,
    };
    match (status, reason) {
        ("accepted", _) => {
            output::line(format_args!(
                "accepted: agreement {} with {} for {} over {over}, total {}",
                proposal.id(),
                p.provider,
                human::volume(p.volume, p.price.unit),
                human::amount(p.total, p.price.asset.as_str())
            ));
            match &outcome.access {
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
            "rejected: {} ({}; proposal {})",
            reason.code(),
            outcome
                .limits
                .as_deref()
                .unwrap_or("the provider gave no more detail"),
            proposal.id()
        )),
        _ => output::line(format_args!(
            "no decision within {wait}: the proposal {} expires unanswered (is the provider's node online?)",
            proposal.id()
        )),
    }
    exit
}

pub(crate) async fn list(args: SlaListArgs) -> anyhow::Result<()> {
    let mine = match (&args.key, args.mine) {
        (Some(path), true) => Some(read_key_file(path)?.public()),
        _ => None,
    };
    let addr = node_addr(&args.node)?;
    let client = Client::connect(&[addr]).await?;
    let result = async {
        let party = match (&args.party, mine) {
            (_, Some(me)) => Some(me),
            (Some(text), None) => Some(ids::key(&client, "--party", text).await?),
            (None, None) => None,
        };
        let agreements = client.agreements(party).await?;
        let t = now();
        let mut statuses = Vec::with_capacity(agreements.len());
        let mut ended: Vec<Vec<Signed<Termination>>> = Vec::with_capacity(agreements.len());
        for a in &agreements {
            let record = client
                .agreement_record(a.proposal_id(), Duration::ZERO)
                .await?;
            statuses.push(record.status(t));
            ended.push(record.terminations);
        }
        // A provider's view: what its offers have committed, and what is free.
        let commitments = match mine {
            Some(me) => client.commitments(me).await?,
            None => Vec::new(),
        };
        anyhow::Ok((agreements, statuses, ended, commitments, t))
    }
    .await;
    client.close().await;
    let (agreements, statuses, ended, commitments, t) = result?;
    if args.json {
        let listed: Vec<AgreementView> = agreements
            .iter()
            .zip(&ended)
            .map(|(a, terminations)| AgreementView::new(a, terminations, t))
            .collect();
        if !args.mine {
            return output::json(&listed);
        }
        let offers = commitments
            .iter()
            .map(|c| {
                let o = c.offer.body();
                CommitmentView {
                    offer_id: c.offer.id().to_string(),
                    offer_key: o.offer_key.to_string(),
                    capacity: o.capacity,
                    committed: c.committed,
                    free: c.free,
                    agreements: c.agreements.len(),
                }
            })
            .collect();
        return output::json(&ProviderAgreementsView {
            agreements: listed,
            offers,
        });
    }
    if agreements.is_empty() {
        output::line("no agreements");
    } else {
        let mut table = Table::new(&[
            ("AGREEMENT", Align::Left),
            ("CONSUMER", Align::Left),
            ("PROVIDER", Align::Left),
            ("VOLUME", Align::Right),
            ("DURATION", Align::Left),
            ("START", Align::Left),
            ("TOTAL", Align::Right),
            ("STATUS", Align::Left),
        ]);
        for (a, status) in agreements.iter().zip(&statuses) {
            let p = a.proposal().body();
            table.row(vec![
                a.proposal_id().fmt_short(),
                p.consumer.fmt_short(),
                p.provider.fmt_short(),
                human::volume(p.volume, p.price.unit),
                human::duration(p.duration_secs),
                human::time(p.start),
                human::amount(p.total, p.price.asset.as_str()),
                status_text(status),
            ]);
        }
        table.print();
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
