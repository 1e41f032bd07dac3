//! Deals through demands (`[deals]`, the `market` scenario): the certifier certifies every
//! provider but the uncertified one, then each consumer makes its deal through its own node
//! with the light client's deal making (`Client::make_deal`, the code path of `flashback deal
//! make`), and the agreements it holds become the deals the activity phase probes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flashback_client::TrustSource;
use flashback_client::data::Plane;
use flashback_client::deal::{DealConfig, DealEvent, DealReport};
use flashback_select::{Redundancy, Request, Selector, Verdict};
use flashback_types::trust::parse_claim;
use flashback_types::{
    BoundedVec, Certificate, Claim, GIB, Object, PublicKey, ResourceKind, SecretKey, Signed,
};

use crate::TestnetError;
use crate::observe::Ctx;
use crate::participants::{Deal, Provider, Quality, Setup, usd};
use crate::report::{
    BadOutcome, DealAgreementRow, DealFailureRow, DealProviderRow, DealRow, DealsReport,
};
use crate::scenario::{DealsSpec, Scenario};

use super::Plan;

/// How long the certificates are valid: far beyond any run.
const CERTIFICATE_SECS: u64 = 7 * 24 * 3600;

fn claim(spec: &DealsSpec) -> Result<Claim, TestnetError> {
    parse_claim(&spec.claim).map_err(|e| TestnetError::Scenario(format!("deals: {e}")))
}

/// The certifier signs a certificate with the deals' claim for every provider but the
/// uncertified one, each submitted through the provider's own node.
pub(super) async fn certify(
    ctx: &Ctx,
    spec: &DealsSpec,
    plan: &Plan,
) -> Result<usize, TestnetError> {
    let Some(certifier) = &plan.certifier else {
        return Err(TestnetError::Internal(
            "a deals plan has a certifier".into(),
        ));
    };
    let claim = claim(spec)?;
    let now = flashback_types::clock::now();
    let mut issued = 0;
    for (k, p) in plan.providers.iter().enumerate() {
        if p.quality == Quality::Uncertified {
            continue;
        }
        let body = Certificate {
            issuer: certifier.public(),
            subject: p.key.public(),
            claims: BoundedVec::try_from_vec(vec![claim.clone()])
                .map_err(|e| TestnetError::Internal(e.to_string()))?,
            serial: k as u64 + 1,
            evidence: None,
            created_at: now,
            expires_at: now + CERTIFICATE_SECS,
        };
        let signed = Signed::sign(body, certifier)
            .map_err(|e| TestnetError::Internal(format!("our certificate: {}", e.detail)))?;
        ctx.submit(p.node, &Object::Certificate(signed)).await?;
        issued += 1;
    }
    Ok(issued)
}

/// The request every consumer makes: `replicas` copies of `volume_gib` for `duration` in at
/// least `min_regions` regions, each pick holding the claim from an issuer its node trusts.
fn request(spec: &DealsSpec, consumer: &PublicKey) -> Result<Request, TestnetError> {
    let asset = "USD"
        .try_into()
        .map_err(|e| TestnetError::Internal(format!("asset: {e}")))?;
    let mut req = Request::new(
        ResourceKind::Storage,
        spec.volume_gib.saturating_mul(GIB),
        spec.duration.0.as_secs(),
        Redundancy::Replicas(spec.replicas),
        asset,
    );
    req.min_regions = spec.min_regions;
    req.required_claims = vec![claim(spec)?];
    req.seed = req.seed_for(consumer.as_bytes());
    req.check()
        .map_err(|e| TestnetError::Scenario(format!("deals: {e}")))?;
    Ok(req)
}

/// Each consumer waits until its node lists every provider's main offer and every
/// certificate, then makes its deal. Returns the agreements held (for the probes) and the
/// report of every deal.
pub(super) async fn make_deals(
    ctx: &Arc<Ctx>,
    s: &Scenario,
    spec: &DealsSpec,
    plan: &Plan,
    mains: &[Signed<flashback_types::Offer>],
) -> Result<(Setup, DealsReport), TestnetError> {
    let providers: Arc<Vec<Arc<Provider>>> = Arc::new(plan.providers.clone());
    let main_ids: Arc<Vec<flashback_types::ObjectId>> =
        Arc::new(mains.iter().map(Signed::id).collect());
    let mut tasks = tokio::task::JoinSet::new();
    for (c_index, c) in plan.consumers.iter().enumerate() {
        let (ctx, spec, providers, main_ids) = (
            ctx.clone(),
            spec.clone(),
            providers.clone(),
            main_ids.clone(),
        );
        let (key, home, within) = (c.key.clone(), c.home, s.expect.converge_within.0);
        tasks.spawn(async move {
            let outcome = one_deal(
                &ctx, c_index, &key, home, &spec, &providers, &main_ids, within,
            )
            .await;
            (c_index, key.public(), home, outcome)
        });
    }
    let mut setup = Setup::default();
    let mut rows = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (c_index, consumer, home, outcome) =
            joined.map_err(|e| TestnetError::Internal(format!("consumer task: {e}")))?;
        match outcome {
            Ok((row, deals, proposals, rejected)) => {
                setup.proposals += proposals;
                setup.rejected += rejected;
                setup.deals.extend(deals);
                rows.push((c_index, row));
            }
            Err(e) => {
                ctx.say(format!("consumer {c_index}: no deal: {e}"));
                rows.push((
                    c_index,
                    DealRow {
                        consumer: consumer.to_string(),
                        home: ctx.name(home),
                        wanted: usize::from(spec.replicas),
                        error: Some(e.to_string()),
                        ..DealRow::default()
                    },
                ));
            }
        }
    }
    rows.sort_by_key(|(c, _)| *c);
    setup.deals.sort_by_key(|d| (d.consumer, d.provider));
    let report = DealsReport {
        claim: spec.claim.clone(),
        certifier: plan
            .certifier
            .as_ref()
            .map(|k| k.public().to_string())
            .unwrap_or_default(),
        replicas: usize::from(spec.replicas),
        providers: plan
            .providers
            .iter()
            .map(|p| DealProviderRow {
                node: ctx.name(p.node),
                provider: p.key.public().to_string(),
                quality: p.quality.name().to_owned(),
                price: usd(p.price).ok(),
                regions: p.regions.clone(),
                certified: p.quality != Quality::Uncertified,
            })
            .collect(),
        deals: rows.into_iter().map(|(_, r)| r).collect(),
    };
    Ok((setup, report))
}

/// One consumer's deal: wait for the market to reach its node, make the deal, open the data
/// plane of each agreement held. Returns its row, its deals, proposals and rejections.
#[allow(clippy::too_many_arguments)]
async fn one_deal(
    ctx: &Arc<Ctx>,
    c_index: usize,
    key: &SecretKey,
    home: usize,
    spec: &DealsSpec,
    providers: &[Arc<Provider>],
    main_ids: &[flashback_types::ObjectId],
    within: Duration,
) -> Result<(DealRow, Vec<Deal>, usize, usize), TestnetError> {
    let client = ctx.client(home).await?;
    let req = request(spec, &key.public())?;
    let wanted_claim = claim(spec)?;
    let trust = TrustSource::Node;

    // The market is there when every main offer is listed and every certified provider's
    // claim counts by the node's trust store.
    let deadline = tokio::time::Instant::now() + within;
    let feed = loop {
        let feed = client.candidates(&req, &trust).await?;
        let ready = providers.iter().zip(main_ids).all(|(p, id)| {
            feed.candidates.iter().any(|c| {
                c.offer == *id
                    && (p.quality == Quality::Uncertified || c.claims.contains(&wanted_claim))
            })
        });
        if ready {
            break feed;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(TestnetError::Node(format!(
                "the providers' offers and certificates did not all reach {} within {within:?}",
                ctx.name(home)
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // The optimizer's view of each bad provider before the deal, for those it never tries.
    let selector =
        Selector::new(&req, &feed.candidates).map_err(|e| TestnetError::Scenario(e.to_string()))?;
    let verdicts: Vec<Option<String>> = main_ids
        .iter()
        .map(|id| {
            let i = feed.candidates.iter().position(|c| c.offer == *id)?;
            let e = selector.explain(i)?;
            let findings: Vec<String> = e.findings.iter().map(ToString::to_string).collect();
            Some(match e.verdict {
                Verdict::Excluded { .. } => {
                    format!("excluded by the optimizer: {}", findings.join("; "))
                }
                Verdict::Dominated => {
                    "dominated: other offers in its region are at least as good".to_owned()
                }
                Verdict::Lost { .. } => format!(
                    "not picked: {}",
                    if findings.is_empty() {
                        "it costs more than any pick it could replace".to_owned()
                    } else {
                        findings.join("; ")
                    }
                ),
                Verdict::Picked { .. } => {
                    "not tried: the deal held its replicas before reaching it".to_owned()
                }
                Verdict::Unplaced => "no placement meets the request".to_owned(),
            })
        })
        .collect();

    let config = DealConfig {
        window: spec.window.0,
        decide_within: spec.decide_within.0,
        probes: spec.probes,
        check_timeout: Duration::from_secs(5),
        ..DealConfig::default()
    };
    let name_of = {
        let providers = providers.to_vec();
        let ctx = ctx.clone();
        move |key: &PublicKey| {
            providers
                .iter()
                .find(|p| p.key.public() == *key)
                .map_or_else(|| "?".to_owned(), |p| ctx.name(p.node))
        }
    };
    let mut progress = {
        let (ctx, name_of) = (ctx.clone(), name_of.clone());
        move |event: DealEvent| match event {
            DealEvent::Failed(f) => ctx.say(format!(
                "consumer {c_index}: replacing {} ({}): {}",
                name_of(&f.provider),
                f.stage.code(),
                f.reason
            )),
            DealEvent::Verified { provider, .. } => ctx.say(format!(
                "consumer {c_index}: verified {}",
                name_of(&provider)
            )),
            DealEvent::QuotesClosed { quotes } => {
                ctx.say(format!("consumer {c_index}: {quotes} quotes in the window"));
            }
            _ => {}
        }
    };
    let started = Instant::now();
    let report: DealReport = client
        .make_deal(key, &req, &trust, &config, &mut progress)
        .await?;
    let secs = started.elapsed().as_secs_f64();
    ctx.say(format!(
        "consumer {c_index}: {} of {} agreements, total {}",
        report.agreements.len(),
        report.wanted,
        flashback_client::human::amount(report.total_cost, &report.asset)
    ));

    // The agreements held become the deals the activity phase probes.
    let index_of = |key: &PublicKey| providers.iter().position(|p| p.key.public() == *key);
    let mut deals = Vec::new();
    for a in &report.agreements {
        let Some(provider) = index_of(&a.provider) else {
            continue;
        };
        let record = client.agreement_record(a.agreement, Duration::ZERO).await?;
        let Some(agreement) = record.agreement else {
            continue;
        };
        let credentials = client
            .access(key, a.agreement, Duration::from_secs(10))
            .await?;
        let plane = Plane::open(&credentials, Duration::from_secs(2))?;
        deals.push(Deal {
            consumer: c_index,
            provider,
            agreement,
            plane: Arc::new(plane),
        });
    }

    let quality_of =
        |key: &PublicKey| index_of(key).map_or("unknown", |k| providers[k].quality.name());
    let bad = providers
        .iter()
        .enumerate()
        .filter(|(_, p)| p.quality != Quality::Good)
        .map(|(k, p)| {
            let me = p.key.public();
            let failed: Vec<String> = report
                .failures
                .iter()
                .filter(|f| f.provider == me)
                .map(|f| {
                    // A rejection's reason already starts with its stage.
                    let stage = f.stage.code();
                    let reason = f.reason.trim_start_matches(stage).trim_start_matches(": ");
                    format!("{stage}: {reason}")
                })
                .collect();
            let (outcome, why) = if report.agreements.iter().any(|a| a.provider == me) {
                (
                    "held",
                    format!(
                        "it passed the checks and all {} store-and-read-back probes",
                        spec.probes
                    ),
                )
            } else if !failed.is_empty() {
                ("replaced", failed.join("; "))
            } else {
                (
                    "avoided",
                    verdicts[k]
                        .clone()
                        .unwrap_or_else(|| "not among the candidates".to_owned()),
                )
            };
            BadOutcome {
                node: ctx.name(p.node),
                quality: p.quality.name().to_owned(),
                outcome: outcome.to_owned(),
                why,
            }
        })
        .collect();
    let proposals = report.agreements.len()
        + report
            .failures
            .iter()
            .filter(|f| f.stage != flashback_client::deal::Stage::Check)
            .count();
    let rejected = report
        .failures
        .iter()
        .filter(|f| f.stage == flashback_client::deal::Stage::Rejected)
        .count();
    let row = DealRow {
        consumer: key.public().to_string(),
        home: ctx.name(home),
        demand: Some(report.demand.to_string()),
        quotes: report.quotes,
        wanted: report.wanted,
        agreements: report
            .agreements
            .iter()
            .map(|a| DealAgreementRow {
                agreement: a.agreement.to_string(),
                provider: a.provider.to_string(),
                node: name_of(&a.provider),
                quality: quality_of(&a.provider).to_owned(),
                price: Some(a.price.clone()),
                region: a.region.clone(),
                cost: a.cost,
                quoted: a.quoted,
            })
            .collect(),
        total_cost: report.total_cost,
        asset: report.asset.clone(),
        availability: report.availability,
        failures: report
            .failures
            .iter()
            .map(|f| DealFailureRow {
                provider: f.provider.to_string(),
                node: name_of(&f.provider),
                quality: quality_of(&f.provider).to_owned(),
                stage: f.stage.code().to_owned(),
                reason: f.reason.clone(),
            })
            .collect(),
        terminated: report.terminated.len(),
        bad,
        short: report.short.clone(),
        error: None,
        secs,
    };
    Ok((row, deals, proposals, rejected))
}
