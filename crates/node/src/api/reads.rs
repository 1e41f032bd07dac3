//! The read endpoints: open to whoever reaches the API's address (loopback by default).

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use flashback_api::ErrorBody;
use flashback_api::params::ListingParams;
use flashback_api::view::{
    AgreementView, AttestationView, OfferPageView, OfferView, ProviderParts, ProviderView,
    StatusView,
};
use flashback_types::clock::now;
use flashback_types::protocol::MAX_OBJECTS;
use flashback_types::{
    BoundedVec, CertQuery, ErrorCode, Hash32, IdPrefix, IdSpace, Kind, Object, PublicKey,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, ApiResult, ApiState, json};
use crate::blocking;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/offers", get(offers).post(super::writes::publish))
        .route("/api/v1/offers/{id}", get(offer))
        .route("/api/v1/providers/{key}", get(provider))
        .route("/api/v1/agreements", get(agreements))
        .route("/api/v1/attestations", get(attestations))
        .route("/api/v1/status", get(status))
        .route("/api/v1/market", get(super::market::market))
}

/// URL parameters parsed with the API's errors (a 400 that names the parameter).
pub(super) fn query<T: serde::de::DeserializeOwned + Default>(
    raw: Option<String>,
) -> Result<T, ApiError> {
    match raw.as_deref() {
        None | Some("") => Ok(T::default()),
        Some(q) => serde_urlencoded::from_str(q)
            .map_err(|e| ApiError::bad(format!("bad URL parameters: {e}"))),
    }
}

/// An id or key given in full or by a unique prefix (as the CLI takes them).
pub(super) async fn resolve(
    state: &ApiState,
    space: IdSpace,
    what: &str,
    text: &str,
) -> Result<[u8; 32], ApiError> {
    let prefix: IdPrefix = text
        .parse()
        .map_err(|e| ApiError::bad(format!("{what} {text:?}: {e}")))?;
    let store = state.services.store.clone();
    let (found, more) = blocking(move || Ok(store.resolve(space, &prefix, 2)?)).await?;
    match found.as_slice() {
        [one] if !more => Ok(*one),
        [] => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("the node knows no {what} {text}"),
        )),
        _ => Err(ApiError::new(
            ErrorCode::Ambiguous,
            format!("{what} {text} matches more than one: give more characters"),
        )),
    }
}

pub(super) async fn key(state: &ApiState, what: &str, text: &str) -> Result<PublicKey, ApiError> {
    if let Ok(key) = text.parse::<PublicKey>() {
        return Ok(key);
    }
    let raw = resolve(state, IdSpace::Keys, what, text).await?;
    PublicKey::from_bytes(&raw).map_err(|e| ApiError::bad(format!("{what} {text}: {e}")))
}

/// The listing: one page of offers matching the filters, in the order asked for.
#[utoipa::path(
    get, path = "/api/v1/offers", tag = "listing",
    params(ListingParams),
    responses(
        (status = 200, description = "One page", body = OfferPageView),
        (status = 400, description = "A parameter the node cannot use", body = ErrorBody),
    )
)]
pub(crate) async fn offers(State(state): State<ApiState>, RawQuery(raw): RawQuery) -> ApiResult {
    let params: ListingParams = query(raw)?;
    let mut q = params.to_query().map_err(ApiError::bad)?;
    if let Some(text) = params.provider.as_deref().filter(|p| !p.is_empty())
        && q.provider.is_none()
    {
        q.provider = Some(key(&state, "provider", text).await?);
    }
    let store = state.services.store.clone();
    let page = blocking(move || {
        let now = now();
        let page = store.query_offers(&q, now)?;
        let offers = page
            .offers
            .iter()
            .map(|o| OfferView::new(o, claims(&store, &o.body().provider, now)))
            .collect();
        Ok(OfferPageView {
            offers,
            next: page.next_cursor.map(|c| c.to_string()),
        })
    })
    .await?;
    Ok(json(&page))
}

/// The claims `provider` holds under the node's trust store, as `name=value`.
pub(crate) fn claims(
    store: &flashback_store::Store,
    provider: &PublicKey,
    now: u64,
) -> Vec<String> {
    store
        .held_claims(provider, now)
        .iter()
        .map(|c| format!("{}={}", c.name, c.value))
        .collect()
}

/// One offer version by id (in full, or a unique prefix).
#[utoipa::path(
    get, path = "/api/v1/offers/{id}", tag = "listing",
    params(("id" = String, Path, description = "Offer id, hex, or a unique prefix of it")),
    responses(
        (status = 200, description = "The offer", body = OfferView),
        (status = 404, description = "No such offer", body = ErrorBody),
        (status = 409, description = "The prefix matches several", body = ErrorBody),
    )
)]
pub(crate) async fn offer(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let id = Hash32(resolve(&state, IdSpace::Offers, "offer", &id).await?);
    let store = state.services.store.clone();
    let found = blocking(move || Ok(store.get(&id)?)).await?;
    match found {
        Some(Object::Offer(o)) => {
            let store = state.services.store.clone();
            let provider = o.body().provider;
            let held = blocking(move || Ok(claims(&store, &provider, now()))).await?;
            Ok(json(&OfferView::new(&o, held)))
        }
        _ => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("the node knows no offer {id}"),
        )),
    }
}

/// A provider: its live offers, agreements, certificates and reputation with its explanation
/// (which attestations counted, which were excluded and why).
#[utoipa::path(
    get, path = "/api/v1/providers/{key}", tag = "providers",
    params(("key" = String, Path, description = "Provider key, hex, or a unique prefix")),
    responses(
        (status = 200, description = "The provider", body = ProviderView),
        (status = 404, description = "No such key", body = ErrorBody),
    )
)]
pub(crate) async fn provider(State(state): State<ApiState>, Path(text): Path<String>) -> ApiResult {
    let provider = key(&state, "provider", &text).await?;
    let store = state.services.store.clone();
    let view = blocking(move || {
        let (report, offers, agreements) = crate::service::provider_parts(&store, provider)?;
        let agreements = agreements
            .into_iter()
            .map(|a| {
                let ended = store.terminations_of(&a.proposal_id())?;
                Ok((a, ended))
            })
            .collect::<Result<Vec<_>, crate::NodeError>>()?;
        let query = CertQuery {
            subjects: BoundedVec::try_from_vec(vec![provider]).unwrap_or_default(),
            ..CertQuery::default()
        };
        let certs = store.certificate_page(&query, now())?;
        Ok(ProviderView::from(ProviderParts {
            report: &report,
            offers: &offers,
            agreements: &agreements,
            now: now(),
            certificates: &certs.certificates,
            trust: &certs.trust,
            more_certificates: certs.next.is_some(),
        }))
    })
    .await?;
    Ok(json(&view))
}

/// Whose objects to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PartyParams {
    /// A key (hex, or a unique prefix): agreements it is party to, or attestations about it.
    party: Option<String>,
}

/// The key of `party=` (hex, or a unique prefix), if given.
async fn party(state: &ApiState, raw: Option<String>) -> Result<Option<PublicKey>, ApiError> {
    let params: PartyParams = query(raw)?;
    match params.party.as_deref().filter(|p| !p.is_empty()) {
        Some(text) => Ok(Some(key(state, "party", text).await?)),
        None => Ok(None),
    }
}

/// The newest objects of `kind` the node holds (at most a page), as `pick` takes them.
fn latest<T>(
    store: &flashback_store::Store,
    kind: Kind,
    pick: impl Fn(Object) -> Option<T>,
) -> Result<Vec<T>, crate::NodeError> {
    let mut out = Vec::new();
    for id in store.ids_by_kind(kind)?.iter().rev().take(MAX_OBJECTS) {
        if let Some(t) = store.get(id)?.and_then(&pick) {
            out.push(t);
        }
    }
    Ok(out)
}

/// Agreements: those of a party, or the latest the node holds.
#[utoipa::path(
    get, path = "/api/v1/agreements", tag = "agreements",
    params(PartyParams),
    responses(
        (status = 200, description = "Agreements", body = Vec<AgreementView>),
        (status = 400, description = "Bad parameters", body = ErrorBody),
    )
)]
pub(crate) async fn agreements(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let party = party(&state, raw).await?;
    let store = state.services.store.clone();
    let views = blocking(move || {
        let list = match party {
            Some(p) => store.agreements_for(&p)?,
            None => latest(&store, Kind::Agreement, |o| match o {
                Object::Agreement(a) => Some(a),
                _ => None,
            })?,
        };
        let t = now();
        list.iter()
            .take(MAX_OBJECTS)
            .map(|a| {
                let ended = store.terminations_of(&a.proposal_id())?;
                Ok(AgreementView::new(a, &ended, t))
            })
            .collect::<Result<Vec<_>, crate::NodeError>>()
    })
    .await?;
    Ok(json(&views))
}

/// QoS attestations about a provider (`party`), or the latest the node holds.
#[utoipa::path(
    get, path = "/api/v1/attestations", tag = "agreements",
    params(PartyParams),
    responses(
        (status = 200, description = "Attestations", body = Vec<AttestationView>),
        (status = 400, description = "Bad parameters", body = ErrorBody),
    )
)]
pub(crate) async fn attestations(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let subject = party(&state, raw).await?;
    let store = state.services.store.clone();
    let views = blocking(move || {
        let list = match subject {
            Some(s) => store.attestations_about(&s)?,
            None => latest(&store, Kind::QosAttestation, |o| match o {
                Object::QosAttestation(a) => Some(a),
                _ => None,
            })?,
        };
        Ok(list
            .iter()
            .take(MAX_OBJECTS)
            .map(AttestationView::from)
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(json(&views))
}

/// The node: peer id, addresses, peers, objects held per kind, version.
#[utoipa::path(
    get, path = "/api/v1/status", tag = "node",
    responses((status = 200, description = "Status", body = StatusView))
)]
pub(crate) async fn status(State(state): State<ApiState>) -> ApiResult {
    let me = state.services.net.local_peer_id();
    let s = crate::status::status(&state.services, me).await?;
    Ok(json(&StatusView::new(state.peer_id.clone(), &s)))
}
