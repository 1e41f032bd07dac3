//! The write endpoints, each behind the API token: submit an object signed elsewhere (its
//! exact bytes, hex or base64: the node never needs a consumer's key), and publish or
//! withdraw an offer with an account key the node holds (`<data_dir>/accounts/<name>.key`,
//! imported with `flashback api import-key`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use base64::Engine as _;
use flashback_api::ErrorBody;
use flashback_api::draft::OfferDraft;
use flashback_api::view::{OfferView, SubmitView};
use flashback_types::clock::now;
use flashback_types::wire::{ObjectBytes, SubmitRequest, SubmitResponse, encode_message};
use flashback_types::{
    ErrorCode, Hash32, IdSpace, Object, Offer, Rule, SecretKey, Signed, keyfile,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ACCOUNTS_DIR, ApiError, ApiResult, ApiState, json};
use crate::blocking;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/objects", post(submit))
        .route("/api/v1/offers/{id}/withdraw", post(withdraw))
}

/// A signed object's exact bytes: give one of `hex` and `base64`.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmitBody {
    /// The encoded signed object, hex.
    #[serde(default)]
    hex: Option<String>,
    /// The encoded signed object, standard base64 (with padding).
    #[serde(default)]
    base64: Option<String>,
}

/// A JSON body within the size limit, or a 4xx that says what is wrong with it.
pub(super) fn body<T: serde::de::DeserializeOwned>(
    bytes: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = bytes.map_err(ApiError::too_large)?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad(format!("bad JSON body: {e}")))
}

/// Validates, stores and publishes signed bytes, as a light client's submit does.
pub(super) async fn submit_bytes(state: &ApiState, bytes: Vec<u8>) -> Result<SubmitView, ApiError> {
    let request = encode_message(&SubmitRequest {
        object: ObjectBytes::from(bytes),
    });
    match state.services.submit(&request).await {
        SubmitResponse::Accepted { id, duplicate } => Ok(SubmitView {
            id: id.to_string(),
            duplicate,
        }),
        SubmitResponse::Refused { rule, detail } => {
            let code = match rule {
                Rule::Duplicate | Rule::Superseded | Rule::Equivocation => ErrorCode::Conflict,
                _ => ErrorCode::Refused,
            };
            Err(ApiError::new(code, format!("refused ({rule:?}): {detail}")))
        }
        SubmitResponse::Error(e) => Err(ApiError::new(e.code, e.message.to_string())),
    }
}

/// Submits an object signed elsewhere: the exact signed bytes, as hex or base64.
#[utoipa::path(
    post, path = "/api/v1/objects", tag = "writes",
    request_body = SubmitBody,
    security(("token" = [])),
    responses(
        (status = 200, description = "Stored and published", body = SubmitView),
        (status = 400, description = "Not JSON, not hex or base64, or not an object", body = ErrorBody),
        (status = 401, description = "No or wrong token", body = ErrorBody),
        (status = 409, description = "A newer version is listed, or the seq is taken", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Refused by a protocol rule", body = ErrorBody),
    )
)]
pub(crate) async fn submit(
    State(state): State<ApiState>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult {
    state.authorize(&headers)?;
    let req: SubmitBody = body(bytes)?;
    let raw = match (&req.hex, &req.base64) {
        (Some(h), None) => hex::decode(h.trim()).map_err(|e| ApiError::bad(format!("hex: {e}")))?,
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .map_err(|e| ApiError::bad(format!("base64: {e}")))?,
        _ => {
            return Err(ApiError::bad(
                "give the signed bytes as exactly one of hex and base64",
            ));
        }
    };
    Ok(json(&submit_bytes(&state, raw).await?))
}

/// Which account key the node signs with.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountBody {
    /// The account's name (`flashback api import-key --name`).
    account: String,
}

/// An offer to publish with an account key.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishBody {
    /// The account's name (`flashback api import-key --name`).
    account: String,
    /// The offer's terms; the node sets the provider (the account's key), the seq (the next
    /// free one), and the times (now, and now + `valid_secs`).
    offer: OfferDraft,
    /// How long the offer is valid, seconds (default 7 days).
    #[serde(default)]
    valid_secs: Option<u64>,
}

/// The account key `name`, from `<data_dir>/accounts/<name>.key`.
pub(super) async fn account(state: &ApiState, name: &str) -> Result<SecretKey, ApiError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with('.');
    if !valid {
        return Err(ApiError::bad(format!(
            "account {name:?}: a name is 1 to 64 of A-Z a-z 0-9 . _ -"
        )));
    }
    let path = state
        .data_dir
        .join(ACCOUNTS_DIR)
        .join(format!("{name}.key"));
    if !path.exists() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!(
                "the node holds no account {name:?}: import its key with `flashback api \
                 import-key --name {name} --key <file>`"
            ),
        ));
    }
    blocking(move || keyfile::read(&path).map_err(|e| crate::NodeError::Internal(e.to_string())))
        .await
        .map_err(ApiError::from)
}

/// Signs `offer` with `key` at the next free seq and submits it.
async fn sign_and_submit(state: &ApiState, key: &SecretKey, offer: Offer) -> ApiResult {
    let signed = Signed::sign(offer, key)
        .map_err(|e| ApiError::bad(format!("the offer is not valid: {}", e.detail)))?;
    let view = OfferView::new(&signed, Vec::new());
    submit_bytes(state, Object::Offer(signed).encoded().to_vec()).await?;
    Ok(json(&view))
}

/// The highest seq the node knows for `(provider, offer_key)`.
async fn taken_seq(state: &ApiState, offer: &Offer) -> Result<Option<u64>, ApiError> {
    let store = state.services.store.clone();
    let (provider, key) = (offer.provider, offer.offer_key.as_str().to_owned());
    let current = blocking(move || Ok(store.current_offer(&provider, &key)?)).await?;
    Ok(current.map(|c| c.body().seq))
}

/// Publishes an offer signed with an account key the node holds (a new offer, or a new
/// version of one, at the next free seq).
#[utoipa::path(
    post, path = "/api/v1/offers", tag = "writes",
    request_body = PublishBody,
    security(("token" = [])),
    responses(
        (status = 200, description = "The offer as signed and published", body = OfferView),
        (status = 400, description = "Bad body or offer", body = ErrorBody),
        (status = 401, description = "No or wrong token", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 422, description = "Refused by a protocol rule", body = ErrorBody),
    )
)]
pub(crate) async fn publish(
    State(state): State<ApiState>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult {
    state.authorize(&headers)?;
    let req: PublishBody = body(bytes)?;
    let key = account(&state, &req.account).await?;
    let now = now();
    let expires_at = now.saturating_add(req.valid_secs.unwrap_or(7 * 86_400));
    // The body first (at seq 0): its provider and key name the offer whose seq is taken.
    let mut offer = req
        .offer
        .into_offer(key.public(), 0, now, expires_at)
        .map_err(|e| ApiError::bad(format!("offer: {e}")))?;
    let taken = taken_seq(&state, &offer).await?;
    offer.seq = Offer::next_seq(taken, now, false)
        .ok_or_else(|| ApiError::new(ErrorCode::Conflict, "no seq is left for this offer"))?;
    sign_and_submit(&state, &key, offer).await
}

/// Withdraws an offer signed by an account key the node holds.
#[utoipa::path(
    post, path = "/api/v1/offers/{id}/withdraw", tag = "writes",
    params(("id" = String, Path, description = "Offer id, hex, or a unique prefix")),
    request_body = AccountBody,
    security(("token" = [])),
    responses(
        (status = 200, description = "The withdrawal as signed and published", body = OfferView),
        (status = 400, description = "Bad body, or not this account's offer", body = ErrorBody),
        (status = 401, description = "No or wrong token", body = ErrorBody),
        (status = 404, description = "No such offer or account", body = ErrorBody),
    )
)]
pub(crate) async fn withdraw(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult {
    state.authorize(&headers)?;
    let req: AccountBody = body(bytes)?;
    let key = account(&state, &req.account).await?;
    let id = Hash32(super::reads::resolve(&state, IdSpace::Offers, "offer", &id).await?);
    let store = state.services.store.clone();
    let Some(Object::Offer(offer)) = blocking(move || Ok(store.get(&id)?)).await? else {
        return Err(ApiError::new(ErrorCode::NotFound, format!("no offer {id}")));
    };
    if offer.body().provider != key.public() {
        return Err(ApiError::bad(format!(
            "offer {id} belongs to {}, not to account {:?}",
            offer.body().provider,
            req.account
        )));
    }
    let taken = taken_seq(&state, offer.body()).await?;
    let tombstone = offer
        .body()
        .withdrawal(now(), taken)
        .ok_or_else(|| ApiError::new(ErrorCode::Conflict, "the offer holds the last seq"))?;
    sign_and_submit(&state, &key, tombstone).await
}
