//! Deals for the node's HTTP API (`POST /api/v1/deals`): [`NodeDeals`] implements
//! [`flashback_api::deals::DealService`] by making the deal as a light client of the node
//! itself ([`Client::make_deal`]), so a deal over HTTP follows exactly the steps of
//! `flashback deal make`. [`plan`] turns the API's [`DealDraft`] into the optimizer's
//! [`Request`] and the [`DealConfig`], naming the field at fault; [`deal_view`] is the JSON of
//! a [`DealReport`], the same for the CLI and the API.

use std::time::Duration;

use flashback_api::ErrorDetail;
use flashback_api::deals::{DealFuture, DealJob, DealProgress, DealService};
use flashback_api::draft::{DealDraft, KindDraft};
use flashback_api::view::{Amount, DealAgreementView, DealFailureView, DealView, PriceView};
use flashback_select::{Objective, Redundancy, Request};
use flashback_types::clock::now;
use flashback_types::trust::{Issuer, Role, parse_claim};
use flashback_types::{PublicKey, ResourceKind, TrustStore};

use crate::deal::{DealConfig, DealEvent, DealReport, MAX_PROBES};
use crate::{Client, ClientError, TrustSource, human, parse_protocol};

/// Longest quote window a request may ask for, seconds.
pub const MAX_WINDOW_SECS: u64 = 600;
/// Longest time a provider may be given to decide, seconds.
pub const MAX_DECIDE_SECS: u64 = 3600;
/// Most trusted issuers a request may name.
pub const MAX_TRUST_ISSUERS: usize = 16;

/// A deal request as the deal flow takes it.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The optimizer's request.
    pub request: Request,
    /// How the deal is made.
    pub config: DealConfig,
    /// Whose certificates count.
    pub trust: TrustSource,
}

fn bad(field: &str, why: impl std::fmt::Display) -> ClientError {
    ClientError::InvalidInput(format!("{field}: {why}"))
}

/// `draft` as the deal flow takes it, with the anti-herding seed derived from `consumer`
/// (the consumer's public key bytes); the error names the field at fault.
pub fn plan(draft: &DealDraft, consumer: &[u8]) -> Result<Plan, ClientError> {
    let kind = match draft.kind {
        KindDraft::Storage => ResourceKind::Storage,
        KindDraft::Compute => ResourceKind::Compute,
    };
    let asset = draft.asset.trim().to_ascii_uppercase();
    let asset = asset.as_str().try_into().map_err(|e| bad("asset", e))?;
    let mut req = Request::new(
        kind,
        draft.volume,
        draft.duration_secs,
        Redundancy::Replicas(draft.replicas),
        asset,
    );
    req.budget = draft.budget;
    req.min_availability_bp = draft.min_availability_bp;
    req.max_p95_latency_ms = draft.max_p95_latency_ms;
    req.min_throughput = draft.min_throughput;
    req.loss_target = draft.loss_target;
    req.regions = draft
        .regions
        .iter()
        .map(|r| {
            r.trim()
                .try_into()
                .map_err(|e| bad("regions", format!("{r:?}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    // What a demand can carry (`demand_for` checks again, after the deal has started).
    if draft.regions.len() > 16 {
        return Err(bad("regions", "a demand names at most 16"));
    }
    if draft.protocols.len() > 8 {
        return Err(bad("protocols", "a demand names at most 8"));
    }
    req.max_per_region = draft.max_per_region;
    req.min_regions = draft.min_regions;
    req.min_reputation = draft.min_reputation;
    req.max_unrated = draft.explore;
    req.required_claims = draft
        .required_claims
        .iter()
        .map(|c| parse_claim(c).map_err(|e| bad("required_claims", format!("{c:?}: {e}"))))
        .collect::<Result<_, _>>()?;
    if draft.maximize_availability {
        req.objective = Objective::MaxAvailability;
    }
    if let Some(t) = draft.tolerance_bp {
        req.tolerance_bp = t;
    }
    req.seed = req.seed_for(consumer);
    // The optimizer's own ranges; its messages name the field.
    req.check()
        .map_err(|e| ClientError::InvalidInput(e.to_string()))?;

    let secs = |field: &str, value: Option<u64>, default: u64, max: u64| {
        let v = value.unwrap_or(default);
        if (1..=max).contains(&v) {
            Ok(Duration::from_secs(v))
        } else {
            Err(bad(field, format!("{v}: use 1 to {max} seconds")))
        }
    };
    let defaults = DealConfig::default();
    let probes = draft.probes.unwrap_or(defaults.probes);
    if !(1..=MAX_PROBES).contains(&probes) {
        return Err(bad("probes", format!("{probes}: use 1 to {MAX_PROBES}")));
    }
    let check_bytes = match draft.check_bytes {
        None => defaults.check_bytes,
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| (1..=crate::probe::MAX_BLOB_BYTES).contains(n))
            .ok_or_else(|| {
                bad(
                    "check_bytes",
                    format!("{n}: use 1 to {} bytes", crate::probe::MAX_BLOB_BYTES),
                )
            })?,
    };
    let config = DealConfig {
        window: secs(
            "window_secs",
            draft.window_secs,
            defaults.window.as_secs(),
            MAX_WINDOW_SECS,
        )?,
        decide_within: secs(
            "decide_within_secs",
            draft.decide_within_secs,
            defaults.decide_within.as_secs(),
            MAX_DECIDE_SECS,
        )?,
        probes,
        check_bytes,
        protocols: draft
            .protocols
            .iter()
            .map(|p| parse_protocol(p).map_err(|e| bad("protocols", e)))
            .collect::<Result<_, _>>()?,
        ..defaults
    };

    let trust = if draft.trust_issuers.is_empty() {
        TrustSource::Node
    } else {
        if draft.trust_issuers.len() > MAX_TRUST_ISSUERS {
            return Err(bad(
                "trust_issuers",
                format!("at most {MAX_TRUST_ISSUERS} issuers"),
            ));
        }
        let mut store = TrustStore::default();
        for (n, text) in draft.trust_issuers.iter().enumerate() {
            let key: PublicKey = text
                .trim()
                .parse()
                .map_err(|e| bad("trust_issuers", format!("{text:?}: {e} (64 hex)")))?;
            let issuer = Issuer::new(&format!("issuer-{n}"), key, &[Role::Certifier], &["*"])
                .map_err(|e| bad("trust_issuers", e))?;
            store
                .add(issuer, false)
                .map_err(|e| bad("trust_issuers", e))?;
        }
        TrustSource::Local(store)
    };
    Ok(Plan {
        request: req,
        config,
        trust,
    })
}

/// The JSON of a deal's report, made at `made_at`; every agreement `active` (each was just
/// verified).
pub fn deal_view(report: &DealReport, made_at: flashback_types::Timestamp) -> DealView {
    DealView {
        demand_id: report.demand.to_string(),
        made_at: made_at.into(),
        quotes: report.quotes,
        wanted: report.wanted,
        agreements: report
            .agreements
            .iter()
            .map(|a| DealAgreementView {
                agreement_id: a.agreement.to_string(),
                provider: a.provider.to_string(),
                offer_id: a.offer.to_string(),
                region: a.region.clone(),
                price: PriceView::from(&a.price),
                cost: Amount::new(a.cost, &report.asset),
                availability_bp: a.availability_bp,
                quoted: a.quoted,
                status: Some("active".into()),
            })
            .collect(),
        failures: report
            .failures
            .iter()
            .map(|f| DealFailureView {
                provider: f.provider.to_string(),
                offer_id: f.offer.to_string(),
                stage: f.stage.code().to_owned(),
                reason: f.reason.clone(),
            })
            .collect(),
        terminated: report.terminated.iter().map(|t| t.to_string()).collect(),
        total_cost: Amount::new(report.total_cost, &report.asset),
        availability: report.availability,
        short: report.short.clone(),
    }
}

/// A deal step's stable name and its text for people, as `flashback deal make` prints it.
pub fn describe(event: &DealEvent) -> (&'static str, String) {
    match event {
        DealEvent::Feasible { candidates } => (
            "feasible",
            format!(
                "the request can be met: {} listed",
                human::count(*candidates, "offer")
            ),
        ),
        DealEvent::DemandPublished(id) => (
            "demand_published",
            format!("demand {id} published; collecting quotes"),
        ),
        DealEvent::Quote { provider, price } => (
            "quote",
            format!(
                "quote from {} at {}",
                provider.fmt_short(),
                human::price(price)
            ),
        ),
        DealEvent::QuotesClosed { quotes } => (
            "quotes_closed",
            format!("window closed: {}", human::count(*quotes, "quote")),
        ),
        DealEvent::Proposing {
            provider,
            offer,
            quoted,
        } => (
            "proposing",
            format!(
                "checked {} (offer {} live{}): proposing",
                provider.fmt_short(),
                offer.fmt_short(),
                if *quoted { ", quote live" } else { "" }
            ),
        ),
        DealEvent::Accepted {
            provider,
            agreement,
        } => (
            "accepted",
            format!(
                "{} accepted (agreement {}): verifying its data plane",
                provider.fmt_short(),
                agreement.fmt_short()
            ),
        ),
        DealEvent::Verified {
            provider,
            agreement,
        } => (
            "verified",
            format!(
                "verified {} (agreement {}): blob stored and read back",
                provider.fmt_short(),
                agreement.fmt_short()
            ),
        ),
        DealEvent::Failed(f) => (
            "failed",
            format!(
                "replacing {} ({}): {}",
                f.provider.fmt_short(),
                f.stage.code(),
                f.reason
            ),
        ),
        DealEvent::Terminated { agreement, reason } => (
            "terminated",
            format!("terminated agreement {}: {reason}", agreement.fmt_short()),
        ),
    }
}

/// Makes the API's deals as a light client of the node itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeDeals;

impl DealService for NodeDeals {
    fn check(&self, request: &DealDraft) -> Result<(), String> {
        plan(request, &[]).map(drop).map_err(|e| e.to_string())
    }

    fn make(&self, job: DealJob) -> DealFuture {
        Box::pin(async move {
            let DealJob {
                node,
                key,
                request,
                progress,
            } = job;
            let error = |e: ClientError| ErrorDetail {
                code: e.code().as_str().to_owned(),
                message: e.to_string(),
            };
            let plan = plan(&request, key.public().as_bytes()).map_err(error)?;
            let client = Client::connect(&[node]).await.map_err(error)?;
            let made = make(&client, &key, &plan, &progress).await;
            client.close().await;
            made.map(|report| deal_view(&report, now())).map_err(error)
        })
    }
}

async fn make(
    client: &Client,
    key: &flashback_types::SecretKey,
    plan: &Plan,
    progress: &DealProgress,
) -> Result<DealReport, ClientError> {
    let mut report = |event: DealEvent| {
        let (step, detail) = describe(&event);
        progress.report(step, detail);
    };
    client
        .make_deal(key, &plan.request, &plan.trust, &plan.config, &mut report)
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use super::*;

    fn draft() -> DealDraft {
        serde_json::from_value(serde_json::json!({
            "account": "shop", "volume": 1_u64 << 30, "duration_secs": 86_400, "replicas": 3,
        }))
        .unwrap()
    }

    #[test]
    fn a_request_gets_the_cli_defaults() {
        let plan = plan(&draft(), b"consumer").unwrap();
        let defaults = DealConfig::default();
        assert_eq!(plan.request.redundancy, Redundancy::Replicas(3));
        assert_eq!(plan.request.asset.as_str(), "USD");
        assert_eq!(plan.config.window, defaults.window);
        assert_eq!(plan.config.probes, defaults.probes);
        assert!(matches!(plan.trust, TrustSource::Node));
        // The anti-herding seed is the consumer's.
        assert_ne!(
            plan.request.seed,
            super::plan(&draft(), b"other").unwrap().request.seed
        );
    }

    #[test]
    fn a_bad_field_is_named() {
        let cases: [(&str, serde_json::Value); 8] = [
            ("regions", serde_json::json!(vec!["eu-west"; 17])),
            ("replicas", serde_json::json!(0)),
            ("volume", serde_json::json!(0)),
            ("window_secs", serde_json::json!(601)),
            ("decide_within_secs", serde_json::json!(0)),
            ("probes", serde_json::json!(101)),
            ("check_bytes", serde_json::json!(0)),
            ("trust_issuers", serde_json::json!(["not-a-key"])),
        ];
        for (field, value) in cases {
            let mut d = serde_json::to_value(draft()).unwrap();
            d[field] = value;
            let d: DealDraft = serde_json::from_value(d).unwrap();
            let err = plan(&d, b"c").unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
