//! Deal making: from a request to `r` verified agreements in one call.
//!
//! [`Client::make_deal`] first runs the optimizer on the listing alone, so a request no market
//! could meet (a budget below the cheapest placement, more regions than exist) fails at once
//! with the binding rule ([`ClientError::Infeasible`]). It then publishes a signed [`Demand`]
//! through the node, collects the providers' [`Quote`]s for a bounded window (none:
//! [`ClientError::NoQuotes`]), merges them with the matching listed offers (a quote sets its
//! offer's price), and works through the optimizer's picks. Each pick is checked before
//! anything is signed (the quote unexpired, the offer still its provider's live version; price
//! within budget, reputation above the floor and required certificates from trusted issuers
//! are the optimizer's own rules over freshly verified data), then proposed; an acceptance is
//! verified on the data plane before it counts: [`DealConfig::probes`] store-and-read-backs
//! (each a distinct small random blob, checked by blake3), every one of which must pass. A
//! pick that rejects, times out or fails verification is recorded with the reason and
//! replaced: the optimizer is run again without its provider, for the replicas still
//! missing. An agreement that failed verification, and one accepted after its proposal was
//! given up, is terminated by a signed termination, so the consumer never holds more
//! agreements than it asked for.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use flashback_select::{Candidate, Redundancy, Request, Selector};
use flashback_types::clock::now;
use flashback_types::wire::{QueryRequest, QueryResponse};
use flashback_types::{
    BoundedVec, DataProtocol, Decision, Demand, GIB, HOUR_SECS, MONTH_SECS, Object, ObjectId,
    Offer, Price, PriceUnit, PublicKey, QosTargets, Quote, SecretKey, ShortText, Signed,
    SlaProposal, Timestamp,
};
use serde::Serialize;

use crate::data::Plane;
use crate::{Client, ClientError, Terms, TrustSource, limits_for};

/// Data-plane probes per new agreement by default.
pub const DEFAULT_PROBES: u32 = 3;
/// Most data-plane probes per new agreement.
pub const MAX_PROBES: u32 = 100;

/// How a deal is made.
#[derive(Debug, Clone)]
pub struct DealConfig {
    /// How long quotes are collected after the demand is published.
    pub window: Duration,
    /// How long each provider has to decide a proposal.
    pub decide_within: Duration,
    /// How long to wait for an accepted agreement's access grant.
    pub grant_wait: Duration,
    /// Store-and-read-back probes made on each new agreement's data plane, one after the
    /// other, each with its own blob; all must pass (1 to [`MAX_PROBES`]). A plane that fails
    /// a share `f` of its requests passes all of them with probability about `(1 - f)^probes`.
    pub probes: u32,
    /// Size of the blob stored and read back by each probe.
    pub check_bytes: usize,
    /// Deadline of each data-plane request of that check.
    pub check_timeout: Duration,
    /// Data protocols acceptable (empty: any the client speaks on the data plane).
    pub protocols: Vec<DataProtocol>,
    /// How long the demand stays open.
    pub demand_lifetime: Duration,
}

impl Default for DealConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            decide_within: Duration::from_secs(30),
            grant_wait: Duration::from_secs(15),
            probes: DEFAULT_PROBES,
            check_bytes: 64 * 1024,
            check_timeout: Duration::from_secs(10),
            protocols: Vec::new(),
            demand_lifetime: Duration::from_secs(3600),
        }
    }
}

/// Where a pick failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Before proposing: the quote or the offer is no longer live, or the quote does not
    /// match its offer.
    Check,
    /// The provider rejected the proposal.
    Rejected,
    /// The provider did not decide in time.
    Timeout,
    /// The provider accepted, but its data plane failed one of the store-and-read-back probes
    /// (or it gave no access).
    Verification,
}

impl Stage {
    /// The stable lowercase name.
    pub fn code(self) -> &'static str {
        match self {
            Stage::Check => "check",
            Stage::Rejected => "rejected",
            Stage::Timeout => "timeout",
            Stage::Verification => "verification",
        }
    }
}

/// What a deal reports as it goes (the CLI prints these on stderr).
#[derive(Debug, Clone)]
pub enum DealEvent {
    /// The optimizer found the request feasible on the listing.
    Feasible {
        /// Offers considered.
        candidates: usize,
    },
    /// The demand was published.
    DemandPublished(ObjectId),
    /// A quote arrived.
    Quote {
        /// Its provider.
        provider: PublicKey,
        /// Its unit price.
        price: Price,
    },
    /// The window closed.
    QuotesClosed {
        /// Quotes received.
        quotes: usize,
    },
    /// A pick passed its checks and is proposed to.
    Proposing {
        /// The provider.
        provider: PublicKey,
        /// The offer.
        offer: ObjectId,
        /// Whether its price comes from a quote.
        quoted: bool,
    },
    /// The provider accepted; its data plane is being checked.
    Accepted {
        /// The provider.
        provider: PublicKey,
        /// The agreement.
        agreement: ObjectId,
    },
    /// The agreement passed verification and counts.
    Verified {
        /// The provider.
        provider: PublicKey,
        /// The agreement.
        agreement: ObjectId,
    },
    /// A pick failed and will be replaced.
    Failed(Failure),
    /// An agreement was terminated (it failed verification, or came too late).
    Terminated {
        /// The agreement.
        agreement: ObjectId,
        /// Why.
        reason: String,
    },
}

/// One agreement of a deal.
#[derive(Debug, Clone, Serialize)]
pub struct DealAgreement {
    /// The agreement (the id of its proposal).
    pub agreement: ObjectId,
    /// The provider.
    pub provider: PublicKey,
    /// The offer it is on.
    pub offer: ObjectId,
    /// The region it was placed in.
    pub region: String,
    /// Unit price agreed.
    pub price: Price,
    /// Its total cost for the volume and duration (minor units).
    pub cost: u64,
    /// The offer's availability, basis points.
    pub availability_bp: u16,
    /// Whether the price came from a quote.
    pub quoted: bool,
}

/// A pick that failed, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The provider.
    pub provider: PublicKey,
    /// The offer.
    pub offer: ObjectId,
    /// Where it failed.
    pub stage: Stage,
    /// Why, for people.
    pub reason: String,
}

/// How a deal ended.
#[derive(Debug, Clone, Serialize)]
pub struct DealReport {
    /// The demand published.
    pub demand: ObjectId,
    /// Quotes received in the window.
    pub quotes: usize,
    /// Agreements asked for.
    pub wanted: usize,
    /// Agreements held, verified.
    pub agreements: Vec<DealAgreement>,
    /// Picks that failed, in order.
    pub failures: Vec<Failure>,
    /// Agreements terminated (failed verification, or accepted too late).
    pub terminated: Vec<ObjectId>,
    /// Total cost of the agreements held (minor units of `asset`).
    pub total_cost: u64,
    /// The asset costs are in.
    pub asset: String,
    /// Availability of the data with the agreements held (copies failing independently).
    pub availability: f64,
    /// Why the deal is short of `wanted`, when it is.
    pub short: Option<String>,
}

mod demand;
mod make;

pub use demand::{demand_for, max_unit_price};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demands_price_cap_keeps_one_copy_within_the_budget() {
        let (volume, duration) = (500 * GIB, 30 * 24 * 3600);
        let cap = max_unit_price(PriceUnit::GibMonth, volume, duration, Some(10_000));
        let at = |amount| {
            Price {
                amount,
                asset: "USD".try_into().unwrap_or_default(),
                unit: PriceUnit::GibMonth,
            }
            .total(volume, duration)
        };
        assert_eq!(cap, 20);
        assert!(at(cap).is_some_and(|t| t <= 10_000));
        assert!(at(cap + 1).is_some_and(|t| t > 10_000));
        assert_eq!(
            max_unit_price(PriceUnit::GibMonth, volume, duration, None),
            u64::MAX
        );
    }
}
