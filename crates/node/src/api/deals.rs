//! Deals over HTTP: `POST /api/v1/deals` checks a deal request and starts the deal in the
//! background, with an account key the node holds (the consumer's), through the node's deal
//! service ([`DealService`], supplied by whoever starts the node: this crate does not know how
//! to make a deal); `GET /api/v1/deals/{id}` follows one (the steps so far, then the deal or
//! why there is none), and `GET /api/v1/deals` lists the deals this node made since it
//! started. Bounded: at most [`MAX_RUNNING_DEALS`] run at once (429 past it) and the node
//! remembers the latest [`MAX_FINISHED_DEALS`] finished ones.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use flashback_api::deals::{DealJob, DealOutcome, DealProgress, DealService};
use flashback_api::draft::DealDraft;
use flashback_api::view::{AgreementView, DealJobView, DealStepView};
use flashback_api::{ErrorBody, ErrorDetail};
use flashback_types::ErrorCode;
use flashback_types::clock::now;
use serde::Deserialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;

use super::writes::{account, body};
use super::{ApiError, ApiResult, ApiState, json, json_with};
use crate::info::dialable;
use crate::service::MAX_WAIT_SECS;

/// Most deals the node makes at once; more are answered 429.
pub const MAX_RUNNING_DEALS: usize = 4;

/// Finished deals the node remembers (the oldest is forgotten first).
pub const MAX_FINISHED_DEALS: usize = 100;

/// Steps kept per deal (the oldest are dropped first).
const MAX_STEPS: usize = 200;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/deals", get(list).post(start))
        .route("/api/v1/deals/{id}", get(deal))
}

/// The deals of this node: the service that makes them and what it remembers of them.
pub(crate) struct Deals {
    service: Option<Arc<dyn DealService>>,
    stop: CancellationToken,
    jobs: Mutex<Jobs>,
}

#[derive(Default)]
struct Jobs {
    /// Oldest first.
    entries: Vec<Entry>,
    running: usize,
}

struct Entry {
    view: DealJobView,
    /// Turns `true` when the deal ends.
    ended: watch::Receiver<bool>,
}

impl Deals {
    pub(crate) fn new(service: Option<Arc<dyn DealService>>, stop: CancellationToken) -> Self {
        Self {
            service,
            stop,
            jobs: Mutex::default(),
        }
    }

    fn jobs(&self) -> MutexGuard<'_, Jobs> {
        // A poisoned lock only means a panic elsewhere mid-update; the views stay readable.
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn step(&self, id: &str, step: DealStepView) {
        let mut jobs = self.jobs();
        if let Some(e) = jobs.entries.iter_mut().find(|e| e.view.deal_id == id) {
            if e.view.progress.len() >= MAX_STEPS {
                e.view.progress.remove(0);
            }
            e.view.progress.push(step);
        }
    }

    fn finish(&self, id: &str, outcome: DealOutcome) {
        let mut jobs = self.jobs();
        jobs.running = jobs.running.saturating_sub(1);
        if let Some(e) = jobs.entries.iter_mut().find(|e| e.view.deal_id == id) {
            let v = &mut e.view;
            v.finished_at = Some(now().into());
            match outcome {
                Ok(deal) => {
                    v.state = if deal.short.is_none() {
                        DealJobView::DONE
                    } else {
                        DealJobView::FAILED
                    }
                    .to_owned();
                    v.deal = Some(deal);
                }
                Err(error) => {
                    v.state = DealJobView::FAILED.to_owned();
                    v.error = Some(error);
                }
            }
        }
        // Forget the oldest finished deals past the bound.
        let mut finished = jobs
            .entries
            .iter()
            .filter(|e| e.view.state != DealJobView::RUNNING)
            .count();
        while finished > MAX_FINISHED_DEALS {
            let Some(i) = jobs
                .entries
                .iter()
                .position(|e| e.view.state != DealJobView::RUNNING)
            else {
                break;
            };
            jobs.entries.remove(i);
            finished -= 1;
        }
    }
}

/// Ends a deal's record however its task ends: with its outcome, or (the task dropped before
/// it had one, when the node stops) as failed.
struct Finish {
    deals: Arc<Deals>,
    id: String,
    outcome: Option<DealOutcome>,
    ended: watch::Sender<bool>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let outcome = self.outcome.take().unwrap_or_else(|| {
            Err(ErrorDetail {
                code: ErrorCode::Internal.as_str().to_owned(),
                message: "the deal stopped before it ended (the node is stopping)".into(),
            })
        });
        self.deals.finish(&self.id, outcome);
        self.ended.send_replace(true);
    }
}

fn no_service() -> ApiError {
    ApiError::with_status(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "this node makes no deals over HTTP: it was started without a deal service (`flashback \
         node run` has one; an embedding program passes one to `NodeBuilder::deal_service`)",
    )
}

/// The address the deal service connects to: the node itself, on loopback when it listens
/// there.
async fn own_address(state: &ApiState) -> Result<String, ApiError> {
    let addrs = state
        .services
        .net
        .listen_addrs()
        .await
        .map_err(|e| ApiError::from(crate::NodeError::from(e)))?;
    let addrs = dialable(addrs, state.services.net.local_peer_id());
    addrs
        .iter()
        .find(|a| a.starts_with("/ip4/127.") || a.starts_with("/ip6/::1/"))
        .or(addrs.first())
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Internal,
                "the node listens on no address its deal service could connect to",
            )
        })
}

/// Starts a deal with an account key the node holds (the consumer's): the node publishes a
/// demand, collects quotes, picks with the optimizer, proposes, verifies each acceptance on
/// the provider's data plane and replaces any pick that fails, as `flashback deal make` does.
/// The answer (202) is the deal's handle; follow it with `GET /api/v1/deals/{id}`.
#[utoipa::path(
    post, path = "/api/v1/deals", tag = "writes",
    request_body = DealDraft,
    security(("token" = [])),
    responses(
        (status = 202, description = "The deal started: its handle, state `running`", body = DealJobView),
        (status = 400, description = "Bad body: the message names the field", body = ErrorBody),
        (status = 401, description = "No or wrong token", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 429, description = "Too many deals running at once", body = ErrorBody),
        (status = 501, description = "The node was started without a deal service", body = ErrorBody),
    )
)]
pub(crate) async fn start(
    State(state): State<ApiState>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult {
    state.authorize(&headers)?;
    let deals = state.deals.clone();
    let Some(service) = deals.service.clone() else {
        return Err(no_service());
    };
    let request: DealDraft = body(bytes)?;
    service.check(&request).map_err(ApiError::bad)?;
    let key = account(&state, &request.account).await?;
    let node = own_address(&state).await?;

    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw)
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("no randomness: {e}")))?;
    let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let view = DealJobView {
        deal_id: id.clone(),
        account: request.account.clone(),
        state: DealJobView::RUNNING.to_owned(),
        started_at: now().into(),
        finished_at: None,
        progress: Vec::new(),
        deal: None,
        error: None,
    };
    let (ended_tx, ended) = watch::channel(false);
    {
        let mut jobs = deals.jobs();
        if jobs.running >= MAX_RUNNING_DEALS {
            return Err(ApiError::with_status(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_deals",
                format!(
                    "the node is making {MAX_RUNNING_DEALS} deals already: try again when one \
                     has ended"
                ),
            ));
        }
        jobs.running += 1;
        jobs.entries.push(Entry {
            view: view.clone(),
            ended,
        });
    }
    let progress = {
        let (deals, id) = (deals.clone(), id.clone());
        DealProgress::new(move |step| deals.step(&id, step))
    };
    let job = DealJob {
        node,
        key,
        request,
        progress,
    };
    let mut finish = Finish {
        deals: deals.clone(),
        id,
        outcome: None,
        ended: ended_tx,
    };
    let stop = deals.stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            biased;
            () = stop.cancelled() => {}
            outcome = service.make(job) => finish.outcome = Some(outcome),
        }
        drop(finish);
    });
    Ok(json_with(StatusCode::ACCEPTED, &view))
}

/// How long to wait for a deal to end.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DealWaitParams {
    /// Wait up to this many seconds (at most 20) for the deal to end; 0, the default,
    /// answers at once.
    wait_secs: u32,
}

/// A deal and where it stands: `running` with the steps so far, `done` with the agreements,
/// the total cost and the availability, or `failed` with what failed and why.
#[utoipa::path(
    get, path = "/api/v1/deals/{id}", tag = "agreements",
    params(("id" = String, Path, description = "The deal's handle, as `POST /api/v1/deals` answered"), DealWaitParams),
    responses(
        (status = 200, description = "The deal and where it stands", body = DealJobView),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 404, description = "No such deal (or it is long forgotten)", body = ErrorBody),
        (status = 501, description = "The node was started without a deal service", body = ErrorBody),
    )
)]
pub(crate) async fn deal(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let params: DealWaitParams = super::reads::query(raw)?;
    let deals = &state.deals;
    if deals.service.is_none() {
        return Err(no_service());
    }
    let id = id.trim().to_ascii_lowercase();
    let find = || {
        deals
            .jobs()
            .entries
            .iter()
            .find(|e| e.view.deal_id == id)
            .map(|e| (e.view.clone(), e.ended.clone()))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    format!(
                        "no deal {id} on this node (it remembers the latest \
                         {MAX_FINISHED_DEALS} finished deals, since it started)"
                    ),
                )
            })
    };
    let (view, mut ended) = find()?;
    if view.state != DealJobView::RUNNING || params.wait_secs == 0 {
        return status_now(&state, view).await;
    }
    let wait = Duration::from_secs(u64::from(params.wait_secs.min(MAX_WAIT_SECS)));
    // Ends early when the deal ends; an error means the record's task is gone, so look again.
    let _ = tokio::time::timeout(wait, ended.wait_for(|ended| *ended)).await;
    status_now(&state, find()?.0).await
}

/// `views` with each agreement's status as the node's listing says now (`active`,
/// `terminated`, `expired`), as `flashback deal show` gives it.
async fn statuses_now(
    state: &ApiState,
    mut views: Vec<DealJobView>,
) -> Result<Vec<DealJobView>, ApiError> {
    let store = state.services.store.clone();
    views = crate::blocking(move || {
        let t = now();
        for a in views
            .iter_mut()
            .filter_map(|v| v.deal.as_mut())
            .flat_map(|d| d.agreements.iter_mut())
        {
            let Ok(id) = a.agreement_id.parse::<flashback_types::ObjectId>() else {
                continue;
            };
            if let Some(agreement) = store.agreement_by_proposal(&id)? {
                let ended = store.terminations_of(&id)?;
                a.status = Some(AgreementView::new(&agreement, &ended, t).status);
            }
        }
        Ok(views)
    })
    .await?;
    Ok(views)
}

/// One deal's view with its agreements' statuses now.
async fn status_now(state: &ApiState, view: DealJobView) -> ApiResult {
    let views = statuses_now(state, vec![view]).await?;
    match views.first() {
        Some(view) => Ok(json(view)),
        None => Err(ApiError::new(ErrorCode::Internal, "a deal's view was lost")),
    }
}

/// The deals this node made since it started, oldest first (the latest
/// [`MAX_FINISHED_DEALS`] finished ones and those running), each with its latest step only
/// and each agreement's status now.
#[utoipa::path(
    get, path = "/api/v1/deals", tag = "agreements",
    responses(
        (status = 200, description = "The deals, oldest first", body = [DealJobView]),
        (status = 501, description = "The node was started without a deal service", body = ErrorBody),
    )
)]
pub(crate) async fn list(State(state): State<ApiState>) -> ApiResult {
    if state.deals.service.is_none() {
        return Err(no_service());
    }
    let views: Vec<DealJobView> = state
        .deals
        .jobs()
        .entries
        .iter()
        .map(|e| {
            let mut v = e.view.clone();
            let last = v.progress.pop();
            v.progress = last.into_iter().collect();
            v
        })
        .collect();
    Ok(json(&statuses_now(&state, views).await?))
}
