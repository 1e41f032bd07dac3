//! SLA proposals over HTTP: `POST /api/v1/proposals` signs a proposal for an offer with an
//! account key the node holds (the consumer's), at the offer's terms
//! ([`SlaProposal::at_terms_of`], as the SDK builds one), and submits it through the node's
//! own pipeline, so it is gossiped to the provider's node like a proposal from the CLI;
//! `GET /api/v1/proposals/{id}` tells where a proposal stands. Either may wait, bounded, for
//! the provider's decision and the agreement.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use flashback_api::ErrorBody;
use flashback_api::draft::ProposalDraft;
use flashback_api::view::ProposalView;
use flashback_types::clock::now;
use flashback_types::proposal::{ProposalError, Terms};
use flashback_types::{
    Decision, ErrorCode, Hash32, IdSpace, Object, ObjectId, Signed, SlaProposal,
};
use serde::Deserialize;
use tokio::sync::broadcast;
use utoipa::IntoParams;

use super::writes::{account, body, submit_bytes};
use super::{ApiError, ApiResult, ApiState, json};
use crate::blocking;
use crate::service::MAX_WAIT_SECS;

/// How long the provider has to decide when the request does not say.
const DEFAULT_DECIDE_SECS: u64 = 60;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/proposals", post(propose))
        .route("/api/v1/proposals/{id}", get(proposal))
}

/// Signs a proposal for an offer with an account key the node holds (the consumer's), at the
/// offer's price, redundancy and QoS, and submits it: the node gossips it to the provider's
/// node, which answers with a signed decision and, on acceptance, the agreement. With
/// `wait_secs` the answer waits for them (bounded); poll `GET /api/v1/proposals/{id}`
/// otherwise.
#[utoipa::path(
    post, path = "/api/v1/proposals", tag = "writes",
    request_body = ProposalDraft,
    security(("token" = [])),
    responses(
        (status = 200, description = "The proposal as signed and submitted, and where it stands", body = ProposalView),
        (status = 400, description = "Bad body, or terms the offer does not allow", body = ErrorBody),
        (status = 401, description = "No or wrong token", body = ErrorBody),
        (status = 404, description = "No such offer or account", body = ErrorBody),
        (status = 409, description = "The offer id prefix is ambiguous", body = ErrorBody),
        (status = 422, description = "Refused by a protocol rule", body = ErrorBody),
    )
)]
pub(crate) async fn propose(
    State(state): State<ApiState>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult {
    state.authorize(&headers)?;
    let req: ProposalDraft = body(bytes)?;
    let key = account(&state, &req.account).await?;
    let offer_id =
        Hash32(super::reads::resolve(&state, IdSpace::Offers, "offer", &req.offer).await?);
    let store = state.services.store.clone();
    let Some(Object::Offer(offer)) = blocking(move || Ok(store.get(&offer_id)?)).await? else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no offer {offer_id}"),
        ));
    };
    let terms = Terms {
        volume: req.volume,
        duration_secs: req.duration_secs,
        start: req.start,
        decide_within: Duration::from_secs(req.decide_within_secs.unwrap_or(DEFAULT_DECIDE_SECS)),
    };
    let o = offer.body();
    let body = SlaProposal::at_terms_of(key.public(), &offer, terms, now(), rand::random())
        .map_err(|e| match e {
            ProposalError::Overflow => ApiError::bad(e.to_string()),
            ProposalError::Terms(_) => ApiError::bad(format!(
                "{e}: the offer allows a volume up to {} and durations from {} to {} seconds, \
                 at {} minor units of {} per {}",
                o.capacity,
                o.min_duration_secs,
                o.max_duration_secs,
                o.price.amount,
                o.price.asset.as_str(),
                flashback_api::view::unit_name(o.price.unit),
            )),
        })?;
    let signed = Signed::sign(body, &key)
        .map_err(|e| ApiError::bad(format!("the proposal is not valid: {}", e.detail)))?;
    submit_bytes(
        &state,
        Object::SlaProposal(signed.clone()).encoded().to_vec(),
    )
    .await?;
    Ok(json(
        &standing(&state, signed, req.wait_secs.unwrap_or(0)).await?,
    ))
}

/// How long to wait for a decision.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct WaitParams {
    /// Wait up to this many seconds (at most 20) for the provider's decision and the
    /// agreement; 0, the default, answers at once.
    wait_secs: u32,
}

/// A proposal and where it stands: `pending`, `accepted` (with the agreement once the node
/// holds it) or `rejected` (with the reason).
#[utoipa::path(
    get, path = "/api/v1/proposals/{id}", tag = "agreements",
    params(("id" = String, Path, description = "Proposal id, hex (all 64 digits)"), WaitParams),
    responses(
        (status = 200, description = "The proposal and where it stands", body = ProposalView),
        (status = 400, description = "Bad id or parameters", body = ErrorBody),
        (status = 404, description = "No such proposal", body = ErrorBody),
    )
)]
pub(crate) async fn proposal(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let params: WaitParams = super::reads::query(raw)?;
    // Proposals are not indexed by prefix (only agreements are): the full id.
    let id: ObjectId = id
        .trim()
        .parse()
        .map_err(|e| ApiError::bad(format!("proposal {id:?}: {e}; give its full id, 64 hex")))?;
    let store = state.services.store.clone();
    let Some(Object::SlaProposal(p)) = blocking(move || Ok(store.get(&id)?)).await? else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no proposal {id}"),
        ));
    };
    Ok(json(&standing(&state, p, params.wait_secs).await?))
}

/// The view of `proposal` once it is settled (rejected, or accepted with its agreement held),
/// or after `wait_secs` (at most [`MAX_WAIT_SECS`]), whichever comes first.
async fn standing(
    state: &ApiState,
    proposal: Signed<SlaProposal>,
    wait_secs: u32,
) -> Result<ProposalView, ApiError> {
    let id = proposal.id();
    // Subscribe before looking, so an object stored in between is not missed.
    let mut applied = state.services.applied.subscribe();
    let (view, settled) = look(state, &proposal).await?;
    if settled || wait_secs == 0 {
        return Ok(view);
    }
    let wait = async {
        loop {
            match applied.recv().await {
                Ok(Object::Agreement(a)) if a.proposal_id() == id => return,
                Ok(Object::SlaDecision(d))
                    if d.body().proposal_id == id && d.body().decision != Decision::Accept =>
                {
                    return;
                }
                // Objects were missed: look in the store.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if matches!(look(state, &proposal).await, Ok((_, true))) {
                        return;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    };
    let deadline = Duration::from_secs(u64::from(wait_secs.min(MAX_WAIT_SECS)));
    let _ = tokio::time::timeout(deadline, wait).await;
    Ok(look(state, &proposal).await?.0)
}

/// The proposal's view from the store, and whether it is settled.
async fn look(
    state: &ApiState,
    proposal: &Signed<SlaProposal>,
) -> Result<(ProposalView, bool), ApiError> {
    let (store, p) = (state.services.store.clone(), proposal.clone());
    let id: ObjectId = p.id();
    Ok(blocking(move || {
        let decision = store.decision_for(&id)?;
        let agreement = store.agreement_by_proposal(&id)?;
        let ended = match &agreement {
            Some(a) => store.terminations_of(&a.proposal_id())?,
            None => Vec::new(),
        };
        let view = ProposalView::new(
            &p,
            decision.as_ref(),
            agreement.as_ref().map(|a| (a, ended.as_slice())),
            now(),
        );
        let settled =
            agreement.is_some() || decision.is_some_and(|d| d.body().decision != Decision::Accept);
        Ok((view, settled))
    })
    .await?)
}
