//! Flashback's JSON schema, in one place: the types the gateway HTTP API (`/api/v1`, served by
//! the full node) answers with, the ones the CLI's `--json` prints for the same objects, and
//! their OpenAPI schemas ([`utoipa::ToSchema`]).
//!
//! One convention for every unit (`docs/USER_GUIDE.md`, "Units in JSON"): sizes in bytes
//! (compute capacity in units), prices and totals as integer minor units with their asset and
//! a `decimal` string in the major unit, times as Unix seconds with an `_rfc3339` twin, ids and
//! keys in lowercase hex.
//!
//! - [`units`]: decimal amounts and RFC 3339 times (what `flashback_client::human` shows too);
//! - [`view`]: offers, providers with their reputation explained, agreements, certificates,
//!   attestations, node status and market statistics as JSON;
//! - [`params`]: the listing query's filters as URL parameters, and the query they make;
//! - [`deals`]: the seam through which the node makes deals for its API;
//! - [`draft`]: the offer and proposal terms a gateway sends for the node to sign with an
//!   account key it holds;
//! - [`event`]: what `/api/v1/events` streams;
//! - [`ErrorBody`]: every error, `{"error": {"code", "message"}}`, as the CLI prints it.

pub mod deals;
pub mod draft;
pub mod event;
pub mod params;
pub mod units;
pub mod view;

use flashback_types::ErrorCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An error: what the API answers with a 4xx or 5xx status, and what the CLI prints with
/// `--json` when a command fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The code and message of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable lowercase code (`invalid_input`, `not_found`, `unauthorized`, …): never renamed.
    pub code: String,
    /// What went wrong and what to do, for people (may change).
    pub message: String,
}

impl ErrorBody {
    /// An error with one of the stable codes.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::with_code(code.as_str(), message)
    }

    /// An error with a code of the HTTP layer (`unauthorized`, `too_large`).
    pub fn with_code(code: &str, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.to_owned(),
                message: message.into(),
            },
        }
    }
}
