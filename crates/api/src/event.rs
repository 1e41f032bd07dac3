//! What `/api/v1/events` streams: one Server-Sent Event per object newly entering the listing,
//! named by its [`EventKind`], with an [`EventView`] as JSON data.

use flashback_types::Object;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::view::{AgreementView, AttestationView, OfferView};

/// The kinds of event, as named in the stream (`event:` line) and in the `kind` filter.
pub const EVENT_KINDS: &[&str] = &[
    "offer",
    "withdrawal",
    "agreement",
    "attestation",
    "certificate",
    "revocation",
    "equivocation",
    "dropped",
];

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    /// `offer` (new, or a new version superseding the last), `withdrawal`, `agreement`,
    /// `attestation`, `certificate`, `revocation`, `equivocation`, or `dropped` (the last
    /// event of a subscriber that fell too far behind: reconnect and re-read the listing).
    pub kind: String,
    /// The object's id, hex (absent for `dropped`).
    pub id: Option<String>,
    /// The provider it is about, hex, when there is one.
    pub provider: Option<String>,
    /// The offer, for `offer` and `withdrawal`.
    pub offer: Option<OfferView>,
    /// The agreement, for `agreement`.
    pub agreement: Option<AgreementView>,
    /// The attestation, for `attestation`.
    pub attestation: Option<AttestationView>,
    /// Why the stream ends, for `dropped`.
    pub detail: Option<String>,
}

impl EventView {
    fn bare(kind: &str, id: String, provider: Option<String>) -> Self {
        Self {
            kind: kind.to_owned(),
            id: Some(id),
            provider,
            offer: None,
            agreement: None,
            attestation: None,
            detail: None,
        }
    }

    /// The event an object newly listed makes, if its kind is streamed (demands, proposals
    /// and decisions are not: they are between two parties).
    pub fn of(object: &Object) -> Option<Self> {
        let id = object.id().to_string();
        Some(match object {
            Object::Offer(o) => {
                let kind = if o.body().withdrawn {
                    "withdrawal"
                } else {
                    "offer"
                };
                Self {
                    offer: Some(OfferView::new(o, Vec::new())),
                    ..Self::bare(kind, id, Some(o.body().provider.to_string()))
                }
            }
            Object::Agreement(a) => Self {
                // Newly listed: no termination can be held about it yet.
                agreement: Some(AgreementView::new(a, &[], flashback_types::clock::now())),
                ..Self::bare("agreement", id, Some(a.provider().to_string()))
            },
            Object::QosAttestation(a) => Self {
                attestation: Some(AttestationView::from(a)),
                ..Self::bare("attestation", id, Some(a.body().subject.to_string()))
            },
            Object::Certificate(c) => {
                Self::bare("certificate", id, Some(c.body().subject.to_string()))
            }
            Object::Revocation(r) => {
                Self::bare("revocation", id, Some(r.body().issuer.to_string()))
            }
            Object::EquivocationEvidence(e) => {
                Self::bare("equivocation", id, Some(e.provider().to_string()))
            }
            _ => return None,
        })
    }

    /// The last event of a subscriber dropped for reading too slowly.
    pub fn dropped(detail: impl Into<String>) -> Self {
        Self {
            kind: "dropped".into(),
            id: None,
            provider: None,
            offer: None,
            agreement: None,
            attestation: None,
            detail: Some(detail.into()),
        }
    }
}
