//! Flashback's recommendation and placement optimizer: which providers to pick for `r`
//! replicas or `k`-of-`n` shards, exactly, and why every other candidate was not picked.
//!
//! Pure: no I/O, no clock, no randomness but the seed in the request. The caller (the light
//! client's feed, a demand's quotes, the pricing advisor) turns offers, reputations and trusted
//! certificate claims into [`Candidate`]s; the optimizer takes them as plain data.
//!
//! How a request is answered ([`Selector::new`]):
//! 1. **Filters**, per candidate: kind, asset, duration, capacity, QoS floors, allowed regions,
//!    reputation (an unrated provider is its own case), required claims. Each removal is
//!    counted by rule.
//! 2. **Exact pruning** by dominance within a region (`prune`, with its proof): an option with
//!    enough distinct-provider options in its region that are no worse on anything a rule
//!    reads can never be needed.
//! 3. **Branch and bound** (`solve`) over what is left: the optimum, or the rule that binds.
//! 4. **Anti-herding**: weights carry a per-consumer jitter below `tolerance` of each pick's
//!    cost, so the answer is the exact optimum of a slightly perturbed problem, within the
//!    tolerance of the true optimum, which is solved and reported too.
//! 5. **Explanations** on demand: each candidate's verdict, the rule and values behind it, and
//!    its price to win.
//!
//! ```
//! use flashback_select::{Candidate, Redundancy, Request, Selector, Verdict};
//! use flashback_types::{Hash32, Price, PriceUnit, ResourceKind, SecretKey, GIB};
//!
//! let offer = |i: u8, region: &str, cents: u64, availability_bp: u16| Candidate {
//!     offer: Hash32::of(&[i]),
//!     provider: SecretKey::from_seed(&[i; 32]).public(),
//!     operator: None,
//!     kind: ResourceKind::Storage,
//!     price: Price { amount: cents, asset: "USD".try_into().unwrap(), unit: PriceUnit::GibMonth },
//!     capacity: 1 << 40,
//!     min_duration_secs: 0,
//!     max_duration_secs: u64::MAX,
//!     regions: vec![region.try_into().unwrap()],
//!     availability_bp,
//!     p95_latency_ms: 100,
//!     throughput_bytes_per_sec: 1 << 20,
//!     reputation: Some(0.9),
//!     claims: vec![],
//! };
//! let candidates = vec![
//!     offer(1, "eu-west", 100, 9990),
//!     offer(2, "eu-west", 110, 9990),
//!     offer(3, "eu-central", 150, 9990),
//! ];
//! let mut request = Request::new(
//!     ResourceKind::Storage,
//!     100 * GIB,
//!     30 * 86_400,
//!     Redundancy::Replicas(2),
//!     "USD".try_into().unwrap(),
//! );
//! request.min_regions = 2;
//! request.tolerance_bp = 0;
//!
//! let selector = Selector::new(&request, &candidates).unwrap();
//! let placement = selector.placement().unwrap();
//! // The two cheapest share a region: the second pick goes to eu-central.
//! let picked: Vec<usize> = placement.picks.iter().map(|p| p.candidate).collect();
//! assert_eq!(picked, vec![0, 2]);
//! assert!(matches!(selector.verdict(1), Verdict::Lost { .. }));
//! ```

mod candidate;
mod diagnose;
mod explain;
mod loss;
mod model;
mod prune;
mod request;
mod rules;
mod selector;
mod solve;

pub use candidate::Candidate;
pub use explain::{Explanation, PriceToWin};
pub use loss::loss_probability;
#[doc(hidden)]
pub use model::splitmix;
pub use request::{
    DEFAULT_TOLERANCE_BP, MAX_PICKS, MAX_TOLERANCE_BP, Objective, Redundancy, Request,
};
pub use rules::{Finding, Rule};
pub use selector::{Infeasible, Pick, Placement, Recommendation, RuleCount, Selector, Verdict};

/// What can go wrong before any solving: the request itself is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// A field of the request is out of range; the message names it and the allowed range.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

/// The greedy baseline: the `picks` cheapest candidates that pass the filters, one per
/// provider, ignoring every rule about the set (region cap and diversity, loss target,
/// budget, exploration share). What "filter, then take the cheapest" gives; the benchmark
/// measures it next to the exact solver, and explanations can show what it would break.
pub fn cheapest_passing(req: &Request, cands: &[Candidate]) -> Result<Vec<usize>, SelectError> {
    req.check()?;
    let model = model::Model::build(req, cands);
    let mut opts: Vec<(u64, u32)> = model.opts.iter().map(|o| (o.cost, o.cand)).collect();
    opts.sort_unstable();
    let mut out: Vec<usize> = Vec::with_capacity(req.redundancy.picks());
    for (_, cand) in opts {
        if out.len() == req.redundancy.picks() {
            break;
        }
        let c = &cands[cand as usize];
        if !out.iter().any(|&i| cands[i].provider == c.provider) {
            out.push(cand as usize);
        }
    }
    Ok(out)
}
