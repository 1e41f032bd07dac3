//! The rules a candidate or a placement can fail, each with a stable code for scripts.

use serde::{Deserialize, Serialize};

/// A rule of a request. The first group applies to each candidate alone (a filter), the
/// second to a set of picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Another resource kind.
    Kind,
    /// Priced in another asset than the request's.
    Asset,
    /// The requested duration is outside the offer's bounds.
    Duration,
    /// Less capacity than one pick stores.
    Capacity,
    /// Availability below the floor.
    MinAvailability,
    /// p95 latency above the limit, or not promised.
    MaxLatency,
    /// Throughput below the floor, or not promised.
    MinThroughput,
    /// Rated below the reputation floor.
    MinReputation,
    /// Unrated while a reputation floor is set and no exploration share allows it.
    Unrated,
    /// Lacks a required claim from a trusted issuer.
    Claim,
    /// Price × volume × duration overflows.
    PriceOverflow,
    /// Serves none of the allowed regions.
    Region,
    /// Fewer candidates with distinct providers (and operators) than picks.
    Count,
    /// At most one pick per provider.
    OneProvider,
    /// At most one pick per declared operator.
    OneOperator,
    /// The exploration share: at most this many unrated picks.
    Exploration,
    /// At most `m` picks per region.
    MaxPerRegion,
    /// At least `d` distinct regions.
    MinRegions,
    /// The probability of losing access must stay under the target.
    LossTarget,
    /// The total cost must stay within the budget.
    Budget,
    /// Another provider in the same region is at least as good on everything that matters.
    Dominated,
}

impl Rule {
    /// Every rule, filters first, in the order they are applied.
    pub const ALL: [Rule; 21] = [
        Rule::Kind,
        Rule::Asset,
        Rule::Duration,
        Rule::Capacity,
        Rule::MinAvailability,
        Rule::MaxLatency,
        Rule::MinThroughput,
        Rule::MinReputation,
        Rule::Unrated,
        Rule::Claim,
        Rule::PriceOverflow,
        Rule::Region,
        Rule::Count,
        Rule::OneProvider,
        Rule::OneOperator,
        Rule::Exploration,
        Rule::MaxPerRegion,
        Rule::MinRegions,
        Rule::LossTarget,
        Rule::Budget,
        Rule::Dominated,
    ];

    /// The stable code shown by the CLI and in JSON.
    pub fn code(self) -> &'static str {
        match self {
            Rule::Kind => "kind",
            Rule::Asset => "asset",
            Rule::Duration => "duration",
            Rule::Capacity => "capacity",
            Rule::PriceOverflow => "price_overflow",
            Rule::Region => "region",
            Rule::MinAvailability => "min_availability",
            Rule::MaxLatency => "max_p95_latency",
            Rule::MinThroughput => "min_throughput",
            Rule::MinReputation => "min_reputation",
            Rule::Unrated => "unrated",
            Rule::Claim => "claim",
            Rule::Count => "count",
            Rule::OneProvider => "one_per_provider",
            Rule::OneOperator => "one_per_operator",
            Rule::Exploration => "exploration",
            Rule::MaxPerRegion => "max_per_region",
            Rule::MinRegions => "min_regions",
            Rule::LossTarget => "loss_target",
            Rule::Budget => "budget",
            Rule::Dominated => "dominated",
        }
    }

    /// Whether the rule judges a candidate alone (a filter) rather than a set of picks.
    pub fn is_filter(self) -> bool {
        (self as u8) <= (Rule::Region as u8)
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A rule with the values that made it fail, for people (`detail`) and scripts (`rule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// Its value against the limit, e.g. "region eu-west already has 2 picks (max 2)".
    pub detail: String,
}

impl Finding {
    pub(crate) fn new(rule: Rule, detail: impl Into<String>) -> Self {
        Self {
            rule,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.rule, self.detail)
    }
}
