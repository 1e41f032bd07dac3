//! The API's OpenAPI 3.1 document, generated from the handlers' annotations and the schema
//! types of `flashback_api` (nothing is downloaded to build it). Served at
//! `/api/v1/openapi.json` and checked into `docs/openapi.json`; a test fails when they differ
//! (`UPDATE_OPENAPI=1 cargo test -p flashback-node --test api_doc` rewrites the file).

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use flashback_api::draft::{DealDraft, OfferDraft, ProposalDraft};
use flashback_api::event::EventView;
use flashback_api::view::{
    AgreementView, Amount, AttestationView, CertificateView, ClaimView, ComplianceDocView,
    ComputeView, CountedView, DealAgreementView, DealFailureView, DealJobView, DealStepView,
    DealView, DiscountedView, EvidenceView, ExcludedView, KindCount, MarketView, OfferPageView,
    OfferView, PriceGroup, PriceView, ProposalView, ProviderRulingView, ProviderView, QosView,
    ReputationView, RevocationView, StatusView, SubmitView, Time,
};
use flashback_api::{ErrorBody, ErrorDetail};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

use super::{ApiState, deals, events, market, proposals, reads, writes};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Flashback gateway API",
        version = "1",
        description = "Served by a Flashback full node under /api/v1 (loopback by default). \
            Reads are open; writes need `Authorization: Bearer <token>` with the token in the \
            node's <data_dir>/api.token. Units: sizes in bytes (compute capacity in units), \
            prices and totals in integer minor units with their asset and a decimal string, \
            times as Unix seconds with an RFC 3339 twin, ids and keys in lowercase hex. Errors \
            are {\"error\": {\"code\", \"message\"}} with a stable code."
    ),
    paths(
        reads::offers, reads::offer, reads::provider, reads::agreements, reads::attestations,
        reads::status, market::market, writes::submit, writes::publish, writes::withdraw,
        proposals::propose, proposals::proposal, deals::start, deals::deal, deals::list,
        events::events,
    ),
    components(schemas(
        OfferView, OfferPageView, PriceView, QosView, ComputeView, ComplianceDocView, Time, Amount,
        ProviderView, ReputationView, EvidenceView, DiscountedView, CountedView, ExcludedView, ProviderRulingView, AgreementView, CertificateView,
        ClaimView, RevocationView, AttestationView, StatusView, KindCount, MarketView, PriceGroup,
        SubmitView, EventView, ErrorBody, ErrorDetail, ProposalView, OfferDraft, ProposalDraft,
        DealDraft, DealJobView, DealStepView, DealView, DealAgreementView, DealFailureView,
    )),
    modifiers(&BearerToken),
    tags(
        (name = "listing", description = "Offers and the market"),
        (name = "providers", description = "Providers with their reputation explained"),
        (name = "agreements", description = "Agreements and QoS attestations"),
        (name = "node", description = "The node itself"),
        (name = "writes", description = "Signed objects in; offers published, SLAs proposed and deals made with account keys"),
        (name = "events", description = "Live events (Server-Sent Events)"),
    )
)]
struct ApiDoc;

/// The bearer token scheme of the writes.
struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "token",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

/// The OpenAPI document, as pretty JSON (what `/api/v1/openapi.json` serves and
/// `docs/openapi.json` holds).
pub fn openapi_json() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

pub(super) fn routes() -> Router<ApiState> {
    Router::new().route(
        "/api/v1/openapi.json",
        get(|| async {
            ([(header::CONTENT_TYPE, "application/json")], openapi_json()).into_response()
        }),
    )
}
