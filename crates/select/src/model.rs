//! From candidates to placement options: the per-candidate filters (each failure counted by
//! rule), one option per (candidate, allowed region), and each option's cost and objective
//! weight.
//!
//! The objective weight is one `u128` per option whose sum over a set orders sets exactly as
//! the request's objective does: `cost × (S + jitter) × M + penalty`, where `S = 2²⁰`,
//! `jitter < S · tolerance` is the per-consumer anti-herding term (0 without a tolerance),
//! `penalty = 10 000 − reputation in bp` (10 000 when unrated) breaks cost ties towards better
//! reputation, and `M = picks × 10 001` exceeds any sum of penalties, so the penalty can never
//! outweigh one unit of cost.

use std::collections::HashMap;

use flashback_types::{Hash32, ShortText};

use crate::candidate::Candidate;
use crate::loss::FULL_BP;
use crate::request::Request;
use crate::rules::{Finding, Rule};

/// The anti-herding scale: weights carry cost × `SCALE` plus a jitter below `SCALE · τ`.
pub(crate) const SCALE: u128 = 1 << 20;

/// Marks an option without a declared operator.
pub(crate) const NO_OPERATOR: u32 = u32::MAX;

/// The region name shown for candidates that declare none.
pub(crate) const UNSPECIFIED_REGION: &str = "(unspecified)";

/// One way to place one pick: a candidate in one of its allowed regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Opt {
    /// Index of the candidate in the caller's slice.
    pub(crate) cand: u32,
    /// Region id (index into [`Model::regions`]).
    pub(crate) region: u16,
    /// Dense provider id (same key, same id).
    pub(crate) provider: u32,
    /// Dense operator id, or [`NO_OPERATOR`].
    pub(crate) operator: u32,
    /// Whether the provider has a reputation.
    pub(crate) rated: bool,
    /// Unavailability, basis points (`10 000 − availability`).
    pub(crate) down: u16,
    /// `10 000 − reputation` in basis points; 10 000 when unrated.
    pub(crate) penalty: u16,
    /// Total cost of this pick, minor units of the request's asset.
    pub(crate) cost: u64,
    /// Objective weight, with the anti-herding jitter.
    pub(crate) weight: u128,
}

/// The request and candidates, filtered and turned into options.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    /// Options of the candidates that passed every filter, in candidate order.
    pub(crate) opts: Vec<Opt>,
    /// Per candidate: the first filter it failed, or `None` when it passed.
    pub(crate) failed: Vec<Option<Rule>>,
    /// Region names by id.
    pub(crate) regions: Vec<ShortText>,
    /// Candidates removed by each filter rule (indexed like [`Rule::ALL`]).
    pub(crate) removed: [usize; Rule::ALL.len()],
    /// Whether any passing candidate declares an operator.
    pub(crate) any_operator: bool,
    /// What each pick stores.
    pub(crate) share: u64,
    /// `M`: the multiplier that keeps penalties below one unit of cost.
    pub(crate) penalty_base: u128,
    /// Keys of the anti-herding mix, from the seed.
    mix_keys: [u64; 2],
    /// Anti-herding jitter range: `S · τ`.
    jitter_range: u128,
}

impl Model {
    /// Applies every filter to every candidate and builds the options of those that pass.
    pub(crate) fn build(req: &Request, cands: &[Candidate]) -> Self {
        let picks = req.redundancy.picks();
        let share = req.redundancy.share(req.volume);
        let seed = Hash32::of(&req.seed);
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&seed.0[i * 8..i * 8 + 8]);
            u64::from_le_bytes(b)
        };
        let mut model = Model {
            opts: Vec::with_capacity(cands.len()),
            failed: Vec::with_capacity(cands.len()),
            regions: Vec::new(),
            removed: [0; Rule::ALL.len()],
            any_operator: false,
            share,
            penalty_base: picks as u128 * 10_001,
            mix_keys: [word(0), word(1)],
            jitter_range: SCALE * u128::from(req.tolerance_bp) / 10_000,
        };
        let mut region_ids: HashMap<&str, u16> = HashMap::new();
        for r in &req.regions {
            intern(&mut model.regions, &mut region_ids, r.as_str(), r);
        }
        let unspecified: ShortText = UNSPECIFIED_REGION.try_into().unwrap_or_default();
        let mut regions_here: Vec<u16> = Vec::with_capacity(4);
        for (i, c) in cands.iter().enumerate() {
            regions_here.clear();
            let verdict = check(req, c, share).and_then(|cost| {
                if req.regions.is_empty() {
                    if c.regions.is_empty() {
                        regions_here.push(intern(
                            &mut model.regions,
                            &mut region_ids,
                            UNSPECIFIED_REGION,
                            &unspecified,
                        ));
                    }
                    for r in &c.regions {
                        regions_here.push(intern(
                            &mut model.regions,
                            &mut region_ids,
                            r.as_str(),
                            r,
                        ));
                    }
                } else {
                    regions_here
                        .extend(c.regions.iter().filter_map(|r| region_ids.get(r.as_str())));
                }
                regions_here.sort_unstable();
                regions_here.dedup();
                if regions_here.is_empty() {
                    Err(Rule::Region)
                } else {
                    Ok(cost)
                }
            });
            match verdict {
                Ok(cost) => {
                    model.failed.push(None);
                    model.any_operator |= c.operator.is_some();
                    let rating = c.rating();
                    let penalty = rating.map_or(FULL_BP, |r| FULL_BP - (r * 1e4).round() as u16);
                    let weight = model.weight(c, cost, penalty);
                    for &region in &regions_here {
                        model.opts.push(Opt {
                            cand: i as u32,
                            region,
                            provider: u32::MAX,
                            operator: NO_OPERATOR,
                            rated: rating.is_some(),
                            down: FULL_BP - c.availability_bp.min(FULL_BP),
                            penalty,
                            cost,
                            weight,
                        });
                    }
                }
                Err(rule) => {
                    model.failed.push(Some(rule));
                    model.removed[rule as usize] += 1;
                }
            }
        }
        model
    }

    /// The anti-herding multiplier of a candidate: `S + jitter`, where the jitter is a keyed
    /// mix of the seed and the offer id, uniform below `S · τ`. The offer id is already a
    /// blake3 hash, so a cheap keyed mix (not a second hash per candidate) spreads it; a
    /// provider cannot aim at a consumer's seed it does not know.
    pub(crate) fn factor(&self, c: &Candidate) -> u128 {
        if self.jitter_range == 0 {
            return SCALE;
        }
        let id = c.offer.as_bytes();
        let half = |k: u64, from: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&id[from..from + 8]);
            splitmix(k ^ u64::from_le_bytes(b))
        };
        let h = half(self.mix_keys[0], 0) ^ half(self.mix_keys[1], 8).rotate_left(29);
        SCALE + ((u128::from(h) * self.jitter_range) >> 64)
    }

    /// The objective weight of a candidate whose pick costs `cost`.
    pub(crate) fn weight(&self, c: &Candidate, cost: u64, penalty: u16) -> u128 {
        u128::from(cost) * self.factor(c) * self.penalty_base + u128::from(penalty)
    }

    /// The options of candidate `cand` (empty when it failed a filter).
    pub(crate) fn options_of(&self, cand: u32) -> impl Iterator<Item = &Opt> {
        // Options are built in candidate order.
        let start = self.opts.partition_point(|o| o.cand < cand);
        self.opts[start..]
            .iter()
            .take_while(move |o| o.cand == cand)
    }

    /// Removal counts per filter rule, in rule order, without the zeros.
    pub(crate) fn removed_counts(&self) -> Vec<(Rule, usize)> {
        Rule::ALL
            .iter()
            .map(|r| (*r, self.removed[*r as usize]))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

fn intern<'a>(
    names: &mut Vec<ShortText>,
    ids: &mut HashMap<&'a str, u16>,
    key: &'a str,
    name: &ShortText,
) -> u16 {
    *ids.entry(key).or_insert_with(|| {
        names.push(name.clone());
        (names.len() - 1) as u16
    })
}

/// splitmix64: a bijective mix of 64 bits (the anti-herding mix; the crate's tests and bench
/// use it as their deterministic generator).
pub fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The candidate filters, cheapest first, ending with the cost (which needs a 128-bit
/// division). Returns the total cost of one pick, or the first rule failed. Regions are
/// checked by the caller, which also places the candidate.
fn check(req: &Request, c: &Candidate, share: u64) -> Result<u64, Rule> {
    if c.kind != req.kind {
        return Err(Rule::Kind);
    }
    if c.price.asset != req.asset {
        return Err(Rule::Asset);
    }
    if req.duration_secs < c.min_duration_secs || req.duration_secs > c.max_duration_secs {
        return Err(Rule::Duration);
    }
    if c.capacity < share {
        return Err(Rule::Capacity);
    }
    if req
        .min_availability_bp
        .is_some_and(|min| c.availability_bp < min)
    {
        return Err(Rule::MinAvailability);
    }
    if req
        .max_p95_latency_ms
        .is_some_and(|max| c.p95_latency_ms == 0 || c.p95_latency_ms > max)
    {
        return Err(Rule::MaxLatency);
    }
    if req
        .min_throughput
        .is_some_and(|min| c.throughput_bytes_per_sec == 0 || c.throughput_bytes_per_sec < min)
    {
        return Err(Rule::MinThroughput);
    }
    if let Some(floor) = req.min_reputation {
        match c.rating() {
            Some(r) if r < floor => return Err(Rule::MinReputation),
            None if req.max_unrated == 0 => return Err(Rule::Unrated),
            _ => {}
        }
    }
    if !req
        .required_claims
        .iter()
        .all(|want| c.claims.contains(want))
    {
        return Err(Rule::Claim);
    }
    c.price
        .total(share, req.duration_secs)
        .ok_or(Rule::PriceOverflow)
}

/// Why candidate `c` failed `rule`, with its value against the limit.
pub(crate) fn filter_finding(req: &Request, c: &Candidate, share: u64, rule: Rule) -> Finding {
    let detail = match rule {
        Rule::Kind => format!("a {:?} offer; the request is for {:?}", c.kind, req.kind),
        Rule::Asset => format!(
            "priced in {}; the request counts in {}",
            c.price.asset, req.asset
        ),
        Rule::Duration => format!(
            "accepts {}..={} s; the request is for {} s",
            c.min_duration_secs, c.max_duration_secs, req.duration_secs
        ),
        Rule::Capacity => format!("capacity {} < {} per pick", c.capacity, share),
        Rule::PriceOverflow => "price × volume × duration overflows".into(),
        Rule::Region => {
            let serves: Vec<&str> = c.regions.iter().map(|r| r.as_str()).collect();
            let allowed: Vec<&str> = req.regions.iter().map(|r| r.as_str()).collect();
            format!(
                "serves [{}]; allowed [{}]",
                serves.join(","),
                allowed.join(",")
            )
        }
        Rule::MinAvailability => format!(
            "availability {} < {} %",
            pct(c.availability_bp),
            pct(req.min_availability_bp.unwrap_or(0))
        ),
        Rule::MaxLatency if c.p95_latency_ms == 0 => format!(
            "promises no p95 latency; at most {} ms required",
            req.max_p95_latency_ms.unwrap_or(0)
        ),
        Rule::MaxLatency => format!(
            "p95 latency {} ms > {} ms",
            c.p95_latency_ms,
            req.max_p95_latency_ms.unwrap_or(0)
        ),
        Rule::MinThroughput => format!(
            "throughput {} B/s < {} B/s",
            c.throughput_bytes_per_sec,
            req.min_throughput.unwrap_or(0)
        ),
        Rule::MinReputation => format!(
            "reputation {:.3} < {:.3}",
            c.rating().unwrap_or(0.0),
            req.min_reputation.unwrap_or(0.0)
        ),
        Rule::Unrated => format!(
            "unrated; the reputation floor is {:.3} and no unrated pick is allowed (exploration 0)",
            req.min_reputation.unwrap_or(0.0)
        ),
        Rule::Claim => {
            let missing: Vec<String> = req
                .required_claims
                .iter()
                .filter(|w| !c.claims.contains(w))
                .map(|w| format!("{}={}", w.name, w.value))
                .collect();
            format!("lacks {} from a trusted issuer", missing.join(", "))
        }
        _ => rule.code().to_owned(),
    };
    Finding::new(rule, detail)
}

/// Basis points as a percentage with two decimals.
pub(crate) fn pct(bp: u16) -> String {
    format!("{}.{:02}", bp / 100, bp % 100)
}
