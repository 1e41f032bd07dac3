//! What a consumer asks for: a [`Request`], checked by [`Request::check`] before any solve.

use flashback_types::{BoundedString, Claim, ResourceKind, ShortText};
use serde::{Deserialize, Serialize};

use crate::SelectError;

/// Most picks one request may ask for (`r` replicas or `n` shards). The exact solver's work
/// grows with it, and no storage layout needs more.
pub const MAX_PICKS: usize = 64;

/// Largest anti-herding tolerance, in basis points of the optimum cost (10 %).
pub const MAX_TOLERANCE_BP: u16 = 1000;

/// Default anti-herding tolerance: 1 % of the optimum cost (see `docs/decisions`).
pub const DEFAULT_TOLERANCE_BP: u16 = 100;

/// How the data is spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Redundancy {
    /// `r` full copies, each on its own provider; the data is lost to the consumer when all
    /// `r` are unavailable.
    Replicas(u8),
    /// Erasure coding: `n` shards of `volume / k` each; any `k` of them rebuild the data, so it
    /// is lost when fewer than `k` are available.
    Shards {
        /// Shards needed to rebuild.
        k: u8,
        /// Shards stored.
        n: u8,
    },
}

impl Redundancy {
    /// How many providers are picked (`r` or `n`).
    pub fn picks(self) -> usize {
        match self {
            Redundancy::Replicas(r) => usize::from(r),
            Redundancy::Shards { n, .. } => usize::from(n),
        }
    }

    /// How many picks must be available for the data to be readable (1 or `k`).
    pub fn needed(self) -> usize {
        match self {
            Redundancy::Replicas(_) => 1,
            Redundancy::Shards { k, .. } => usize::from(k),
        }
    }

    /// What each pick stores: the whole volume for a replica, `⌈volume / k⌉` for a shard.
    pub fn share(self, volume: u64) -> u64 {
        match self {
            Redundancy::Replicas(_) => volume,
            Redundancy::Shards { k, .. } => volume.div_ceil(u64::from(k.max(1))),
        }
    }
}

/// What the optimizer minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Minimum total cost; ties go to the higher total reputation.
    #[default]
    MinCost,
    /// Minimum probability of losing access (maximum availability) within the budget; ties go
    /// to the lower cost, then the higher reputation.
    MaxAvailability,
}

/// A placement request. Every floor and limit is optional except the redundancy; see each
/// field. Build one, then call [`crate::Selector::new`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Storage or compute.
    pub kind: ResourceKind,
    /// Bytes (storage) or units (compute) of the whole data set.
    pub volume: u64,
    /// Seconds of service.
    pub duration_secs: u64,
    /// Replicas or shards.
    pub redundancy: Redundancy,
    /// Each pick's promised availability at least this, basis points.
    pub min_availability_bp: Option<u16>,
    /// Each pick's promised p95 latency at most this, ms (an offer promising none fails).
    pub max_p95_latency_ms: Option<u32>,
    /// Each pick's promised throughput at least this, bytes per second (an offer promising
    /// none fails).
    pub min_throughput: Option<u64>,
    /// The probability of losing access to the data must be at most this (in `(0, 1)`),
    /// computed from each pick's availability assuming picks fail independently.
    pub loss_target: Option<f64>,
    /// Allowed regions (empty: any). A candidate serving several allowed regions may be placed
    /// in any one of them.
    pub regions: Vec<ShortText>,
    /// At most this many picks in one region.
    pub max_per_region: Option<u32>,
    /// At least this many distinct regions among the picks (0 or 1: no requirement).
    pub min_regions: u32,
    /// The one asset every cost is counted in; candidates priced in another are excluded.
    pub asset: BoundedString<12>,
    /// Total cost of all picks at most this many minor units of `asset`.
    pub budget: Option<u64>,
    /// Each pick's reputation at least this (`0.0..=1.0`). An unrated candidate has no score
    /// to compare: with a floor it is excluded unless `max_unrated` allows it.
    pub min_reputation: Option<f64>,
    /// With `min_reputation`: at most this many picks may be unrated providers (a bounded
    /// exploration share, so new providers can earn a reputation). Without a floor, unrated
    /// candidates are allowed freely and this is ignored.
    pub max_unrated: u32,
    /// Claims every pick must hold in a certificate from an issuer the caller trusts.
    pub required_claims: Vec<Claim>,
    /// What to minimise.
    pub objective: Objective,
    /// Anti-herding: the answer may cost up to this much more than the optimum (basis points
    /// of the optimum cost), chosen by `seed`. 0 gives the exact optimum.
    pub tolerance_bp: u16,
    /// Per-consumer seed (for instance blake3 of the consumer's key and the request), so that
    /// consumers asking the same question do not all land on the same providers.
    pub seed: [u8; 32],
}

impl Request {
    /// A request with no floors, limits or budget: `redundancy` of `volume` for
    /// `duration_secs`, priced in `asset`, with the default anti-herding tolerance.
    pub fn new(
        kind: ResourceKind,
        volume: u64,
        duration_secs: u64,
        redundancy: Redundancy,
        asset: BoundedString<12>,
    ) -> Self {
        Self {
            kind,
            volume,
            duration_secs,
            redundancy,
            min_availability_bp: None,
            max_p95_latency_ms: None,
            min_throughput: None,
            loss_target: None,
            regions: Vec::new(),
            max_per_region: None,
            min_regions: 0,
            asset,
            budget: None,
            min_reputation: None,
            max_unrated: 0,
            required_claims: Vec::new(),
            objective: Objective::MinCost,
            tolerance_bp: DEFAULT_TOLERANCE_BP,
            seed: [0; 32],
        }
    }

    /// Checks every field against its range; the error says which flag to change.
    pub fn check(&self) -> Result<(), SelectError> {
        let bad = |what: String| Err(SelectError::InvalidRequest(what));
        match self.redundancy {
            Redundancy::Replicas(0) => return bad("replicas: ask for at least 1".into()),
            Redundancy::Shards { k, n } if k == 0 || k > n => {
                return bad(format!("shards {k}/{n}: use k/n with 1 <= k <= n"));
            }
            _ => {}
        }
        let picks = self.redundancy.picks();
        if picks > MAX_PICKS {
            return bad(format!(
                "{picks} picks: at most {MAX_PICKS} providers per request"
            ));
        }
        if self.volume == 0 {
            return bad("volume: ask for more than 0".into());
        }
        if self.duration_secs == 0 {
            return bad("duration: ask for more than 0 seconds".into());
        }
        if let Some(t) = self.loss_target
            && !(t > 0.0 && t < 1.0)
        {
            return bad(format!(
                "loss target {t}: use a probability between 0 and 1, e.g. 1e-9"
            ));
        }
        if let Some(r) = self.min_reputation
            && !(0.0..=1.0).contains(&r)
        {
            return bad(format!(
                "minimum reputation {r}: use a score between 0.0 and 1.0"
            ));
        }
        if self.max_per_region == Some(0) {
            return bad("max per region: allow at least 1".into());
        }
        if self.min_regions as usize > picks {
            return bad(format!(
                "min regions {}: at most the number of picks ({picks})",
                self.min_regions
            ));
        }
        if self.min_availability_bp.is_some_and(|a| a > 10_000) {
            return bad("minimum availability: at most 100 %".into());
        }
        if self.tolerance_bp > MAX_TOLERANCE_BP {
            return bad(format!(
                "tolerance {} bp: at most {MAX_TOLERANCE_BP} bp (10 %)",
                self.tolerance_bp
            ));
        }
        Ok(())
    }

    /// A per-consumer seed for this request: blake3 of `consumer` (for instance the consumer's
    /// public key) and the request's canonical encoding (its own seed aside). The same
    /// consumer asking the same question gets the same answer; another consumer, another
    /// choice among the near-optimal placements.
    pub fn seed_for(&self, consumer: &[u8]) -> [u8; 32] {
        let mut req = self.clone();
        req.seed = [0; 32];
        let mut bytes = consumer.to_vec();
        bytes.extend(flashback_types::encoding::encode(&req));
        *flashback_types::Hash32::of(&bytes).as_bytes()
    }

    /// Whether the exploration limit on unrated picks is in force.
    pub(crate) fn unrated_limit(&self) -> Option<usize> {
        let picks = self.redundancy.picks();
        match self.min_reputation {
            Some(_) if (self.max_unrated as usize) < picks => Some(self.max_unrated as usize),
            _ => None,
        }
    }
}
