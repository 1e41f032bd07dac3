//! The optimizer against brute force on thousands of random small instances: its answer is
//! never costlier (or, for the availability objective, never less available) than the best
//! of every possible set, it meets every rule, an infeasible request names a rule that really
//! binds, and the price to win is exactly the threshold at which the candidate is picked.
//!
//! The brute force shares nothing with the optimizer but the loss-probability function and
//! `Price::total` (the definitions, not the search): it applies the filters itself and tries
//! every set of options.

#![allow(clippy::unwrap_used)]

use flashback_select::{
    Candidate, Objective, PriceToWin, Redundancy, Request, Rule, Selector, Verdict,
    loss_probability, splitmix,
};
use flashback_types::{Claim, GIB, Hash32, Price, PriceUnit, PublicKey, ResourceKind, SecretKey};
use proptest::prelude::*;

/// A small deterministic generator (splitmix64), seeded by proptest.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        splitmix(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize].clone()
    }
}

const REGIONS: [&str; 4] = ["eu-west", "eu-central", "us-east", "ap-south"];
const DAY: u64 = 86_400;

fn keys() -> Vec<PublicKey> {
    (1..=8u8)
        .map(|i| SecretKey::from_seed(&[i; 32]).public())
        .collect()
}

fn claim() -> Claim {
    Claim {
        name: "iso27001".try_into().unwrap(),
        value: "certified".try_into().unwrap(),
    }
}

fn instance(seed: u64) -> (Request, Vec<Candidate>) {
    let mut g = Gen(seed);
    let keys = keys();
    let n = 3 + g.below(9) as usize;
    let cands: Vec<Candidate> = (0..n)
        .map(|i| {
            let regions: Vec<_> = match g.below(10) {
                0 => vec![],
                1 | 2 => vec![g.pick(&REGIONS), g.pick(&REGIONS)],
                _ => vec![g.pick(&REGIONS)],
            };
            let mut regions: Vec<flashback_types::ShortText> =
                regions.into_iter().map(|r| r.try_into().unwrap()).collect();
            regions.sort();
            regions.dedup();
            Candidate {
                offer: Hash32::of(&[seed.to_le_bytes().as_slice(), &[i as u8]].concat()),
                provider: g.pick(&keys),
                operator: if g.chance(25) {
                    Some(g.pick(&["op-a", "op-b"]).try_into().unwrap())
                } else {
                    None
                },
                kind: if g.chance(97) {
                    ResourceKind::Storage
                } else {
                    ResourceKind::Compute
                },
                price: Price {
                    amount: 1 + g.below(40),
                    asset: if g.chance(97) { "USD" } else { "EUR" }.try_into().unwrap(),
                    unit: PriceUnit::GibMonth,
                },
                capacity: if g.chance(97) { 1 << 40 } else { GIB },
                min_duration_secs: 0,
                max_duration_secs: if g.chance(97) { 365 * DAY } else { DAY },
                regions,
                availability_bp: g.pick(&[9000, 9500, 9900, 9950, 9990, 9999, 10_000])
                    - if g.chance(20) { g.below(50) as u16 } else { 0 },
                p95_latency_ms: g.pick(&[0, 50, 150, 400]),
                throughput_bytes_per_sec: g.pick(&[0, 1 << 20, 10 << 20]),
                reputation: match g.below(5) {
                    0 => None,
                    1 => Some(0.3),
                    2 => Some(0.6),
                    _ => Some(0.9),
                },
                claims: if g.chance(70) { vec![claim()] } else { vec![] },
            }
        })
        .collect();
    let redundancy = if g.chance(60) {
        Redundancy::Replicas(1 + g.below(3) as u8)
    } else {
        let n = 2 + g.below(3) as u8;
        Redundancy::Shards {
            k: 1 + g.below(u64::from(n)) as u8,
            n,
        }
    };
    let picks = redundancy.picks();
    let mut req = Request::new(
        ResourceKind::Storage,
        (10 + g.below(90)) * GIB,
        30 * DAY,
        redundancy,
        "USD".try_into().unwrap(),
    );
    if g.chance(20) {
        req.min_availability_bp = Some(g.pick(&[9500, 9900]));
    }
    if g.chance(15) {
        req.max_p95_latency_ms = Some(200);
    }
    if g.chance(15) {
        req.min_throughput = Some(1 << 20);
    }
    if g.chance(40) {
        req.loss_target = Some(g.pick(&[0.05, 1e-2, 1e-3, 1e-4, 1e-6, 1e-8]));
    }
    if g.chance(25) {
        let n = 1 + g.below(3) as usize;
        let mut r: Vec<flashback_types::ShortText> = (0..n)
            .map(|_| g.pick(&REGIONS).try_into().unwrap())
            .collect();
        r.sort();
        r.dedup();
        req.regions = r;
    }
    if g.chance(50) {
        req.max_per_region = Some(1 + g.below(2) as u32);
    }
    if g.chance(50) {
        req.min_regions = g.below(picks as u64 + 1) as u32;
    }
    if g.chance(40) {
        // Around what a few picks cost, so the budget sometimes binds.
        req.budget = Some(g.below(40 * picks as u64 * (req.volume / GIB)));
    }
    if g.chance(25) {
        req.min_reputation = Some(0.5);
        req.max_unrated = g.below(3) as u32;
    }
    if g.chance(10) {
        req.required_claims = vec![claim()];
    }
    if g.chance(30) {
        req.objective = Objective::MaxAvailability;
    }
    req.tolerance_bp = g.pick(&[0, 0, 100, 1000]);
    req.seed = *Hash32::of(&seed.to_be_bytes()).as_bytes();
    (req, cands)
}

// ---------------------------------------------------------------- the brute force

#[derive(Debug, Clone)]
struct BOpt {
    cand: usize,
    region: String,
    provider: PublicKey,
    operator: Option<String>,
    cost: u64,
    penalty: u64,
    availability: u16,
    rated: bool,
}

/// The first filter candidate `c` fails, in the optimizer's documented order.
fn filter(req: &Request, c: &Candidate) -> Option<Rule> {
    let share = req.redundancy.share(req.volume);
    let rating = c.reputation;
    let region_ok = if req.regions.is_empty() {
        true
    } else {
        c.regions.iter().any(|r| req.regions.contains(r))
    };
    let checks = [
        (c.kind == req.kind, Rule::Kind),
        (c.price.asset == req.asset, Rule::Asset),
        (
            (c.min_duration_secs..=c.max_duration_secs).contains(&req.duration_secs),
            Rule::Duration,
        ),
        (c.capacity >= share, Rule::Capacity),
        (
            req.min_availability_bp
                .is_none_or(|m| c.availability_bp >= m),
            Rule::MinAvailability,
        ),
        (
            req.max_p95_latency_ms
                .is_none_or(|m| c.p95_latency_ms != 0 && c.p95_latency_ms <= m),
            Rule::MaxLatency,
        ),
        (
            req.min_throughput
                .is_none_or(|m| c.throughput_bytes_per_sec != 0 && c.throughput_bytes_per_sec >= m),
            Rule::MinThroughput,
        ),
        (
            req.min_reputation
                .is_none_or(|f| rating.is_none_or(|r| r >= f)),
            Rule::MinReputation,
        ),
        (
            req.min_reputation.is_none() || rating.is_some() || req.max_unrated > 0,
            Rule::Unrated,
        ),
        (
            req.required_claims.iter().all(|w| c.claims.contains(w)),
            Rule::Claim,
        ),
        (
            c.price.total(share, req.duration_secs).is_some(),
            Rule::PriceOverflow,
        ),
        (region_ok, Rule::Region),
    ];
    checks.iter().find(|(ok, _)| !ok).map(|(_, r)| *r)
}

fn options(req: &Request, cands: &[Candidate]) -> Vec<BOpt> {
    let share = req.redundancy.share(req.volume);
    let mut out = Vec::new();
    for (i, c) in cands.iter().enumerate() {
        if filter(req, c).is_some() {
            continue;
        }
        let regions: Vec<String> = if c.regions.is_empty() {
            vec!["(unspecified)".into()]
        } else {
            c.regions
                .iter()
                .filter(|r| req.regions.is_empty() || req.regions.contains(r))
                .map(|r| r.to_string())
                .collect()
        };
        for region in regions {
            out.push(BOpt {
                cand: i,
                region,
                provider: c.provider,
                operator: c.operator.as_ref().map(|o| o.to_string()),
                cost: c.price.total(share, req.duration_secs).unwrap(),
                penalty: c
                    .reputation
                    .map_or(10_000, |r| 10_000 - (r * 1e4).round() as u64),
                availability: c.availability_bp.min(10_000),
                rated: c.reputation.is_some(),
            });
        }
    }
    out
}

/// Which set rules are checked (distinct providers and operators always are).
#[derive(Debug, Clone, Copy)]
struct RuleSet {
    exploration: bool,
    region_cap: bool,
    min_regions: bool,
    loss: bool,
    budget: bool,
}

const ALL_RULES: RuleSet = RuleSet {
    exploration: true,
    region_cap: true,
    min_regions: true,
    loss: true,
    budget: true,
};

fn loss_of(req: &Request, set: &[&BOpt]) -> f64 {
    let a: Vec<u16> = set.iter().map(|o| o.availability).collect();
    loss_probability(&a, req.redundancy.needed())
}

fn meets(req: &Request, set: &[&BOpt], rules: RuleSet) -> bool {
    for (i, a) in set.iter().enumerate() {
        for b in &set[..i] {
            if a.provider == b.provider || (a.operator.is_some() && a.operator == b.operator) {
                return false;
            }
        }
    }
    let mut regions: Vec<&str> = set.iter().map(|o| o.region.as_str()).collect();
    regions.sort();
    if rules.region_cap
        && let Some(m) = req.max_per_region
        && regions
            .chunk_by(|a, b| a == b)
            .any(|g| g.len() > m as usize)
    {
        return false;
    }
    regions.dedup();
    if rules.min_regions && regions.len() < req.min_regions as usize {
        return false;
    }
    if rules.exploration && req.min_reputation.is_some() {
        let unrated = set.iter().filter(|o| !o.rated).count();
        if unrated > req.max_unrated as usize {
            return false;
        }
    }
    if rules.loss
        && let Some(t) = req.loss_target
        && loss_of(req, set) > t
    {
        return false;
    }
    if rules.budget
        && let Some(b) = req.budget
        && set.iter().map(|o| o.cost).sum::<u64>() > b
    {
        return false;
    }
    true
}

/// The objective key of a set, smaller is better: (loss when availability is the objective,
/// cost, penalties).
fn key(req: &Request, set: &[&BOpt]) -> (f64, u64, u64) {
    let loss = match req.objective {
        Objective::MaxAvailability => loss_of(req, set),
        Objective::MinCost => 0.0,
    };
    (
        loss,
        set.iter().map(|o| o.cost).sum(),
        set.iter().map(|o| o.penalty).sum(),
    )
}

fn better(a: (f64, u64, u64), b: (f64, u64, u64)) -> bool {
    a.0 < b.0 || (a.0 == b.0 && (a.1, a.2) < (b.1, b.2))
}

/// Every set of `picks` options meeting `rules`, calling `visit` on each.
fn each_set<'a>(opts: &'a [BOpt], picks: usize, mut visit: impl FnMut(&[&'a BOpt])) {
    fn rec<'a>(
        opts: &'a [BOpt],
        start: usize,
        picks: usize,
        cur: &mut Vec<&'a BOpt>,
        visit: &mut dyn FnMut(&[&'a BOpt]),
    ) {
        if cur.len() == picks {
            visit(cur);
            return;
        }
        for i in start..opts.len() {
            cur.push(&opts[i]);
            rec(opts, i + 1, picks, cur, visit);
            cur.pop();
        }
    }
    rec(opts, 0, picks, &mut Vec::new(), &mut visit);
}

fn brute_best(
    req: &Request,
    opts: &[BOpt],
    rules: RuleSet,
    must: Option<usize>,
) -> Option<(f64, u64, u64)> {
    let mut best: Option<(f64, u64, u64)> = None;
    each_set(opts, req.redundancy.picks(), |set| {
        if must.is_some_and(|m| !set.iter().any(|o| o.cand == m)) {
            return;
        }
        if meets(req, set, rules) {
            let k = key(req, set);
            if best.is_none_or(|b| better(k, b)) {
                best = Some(k);
            }
        }
    });
    best
}

/// Whether candidate `c`, priced at `amount`, is in every best set (strictly better with it
/// than the best without it).
fn brute_wins(req: &Request, cands: &[Candidate], c: usize, amount: u64) -> bool {
    let mut cands = cands.to_vec();
    cands[c].price.amount = amount;
    let opts = options(req, &cands);
    let with = brute_best(req, &opts, ALL_RULES, Some(c));
    let without: Vec<BOpt> = opts.into_iter().filter(|o| o.cand != c).collect();
    let without = brute_best(req, &without, ALL_RULES, None);
    match (with, without) {
        (Some(w), Some(wo)) => better(w, wo),
        (Some(_), None) => true,
        (None, _) => false,
    }
}

// ---------------------------------------------------------------- the properties

fn check_instance(seed: u64) {
    let (req, cands) = instance(seed);
    let sel = Selector::new(&req, &cands).unwrap();
    let rec = sel.recommendation();
    let opts = options(&req, &cands);

    // The filters agree, candidate by candidate.
    for (i, c) in cands.iter().enumerate() {
        match (&rec.verdicts[i], filter(&req, c)) {
            (Verdict::Excluded { rule }, Some(want)) => assert_eq!(*rule, want, "candidate {i}"),
            (Verdict::Excluded { rule }, None) => panic!("candidate {i} excluded by {rule}"),
            (v, Some(want)) => panic!("candidate {i} should fail {want}, got {v:?}"),
            _ => {}
        }
    }

    let best = brute_best(&req, &opts, ALL_RULES, None);
    match (&rec.placement, best) {
        (Some(p), Some(best)) => {
            // Every rule holds for the answer.
            let set: Vec<&BOpt> = p
                .picks
                .iter()
                .map(|pick| {
                    opts.iter()
                        .find(|o| o.cand == pick.candidate && o.region == pick.region.as_str())
                        .unwrap()
                })
                .collect();
            assert!(meets(&req, &set, ALL_RULES), "picks break a rule: {p:?}");
            assert_eq!(set.len(), req.redundancy.picks());
            let got = key(&req, &set);
            assert_eq!(p.total_cost, got.1);
            match req.objective {
                Objective::MinCost => {
                    // The reported optimum is exact; the answer is within the tolerance.
                    assert_eq!(p.optimum_cost, Some(best.1), "optimum cost");
                    assert!(
                        u128::from(got.1) * 10_000
                            <= u128::from(best.1) * (10_000 + u128::from(req.tolerance_bp)),
                        "answer {} beyond tolerance of optimum {}",
                        got.1,
                        best.1
                    );
                    if req.tolerance_bp == 0 {
                        assert_eq!((got.1, got.2), (best.1, best.2), "cost, then reputation");
                    }
                }
                Objective::MaxAvailability => {
                    assert_eq!(
                        got.0.to_bits(),
                        best.0.to_bits(),
                        "loss {} vs {}",
                        got.0,
                        best.0
                    );
                    if req.tolerance_bp == 0 {
                        assert_eq!((got.1, got.2), (best.1, best.2), "ties by cost");
                    }
                }
            }
        }
        (None, None) => {
            let inf = rec.infeasible.as_ref().unwrap();
            let rule = inf.finding.rule;
            // The rules before the named one can be met together; with it, they cannot.
            let order = [
                Rule::Count,
                Rule::Exploration,
                Rule::MaxPerRegion,
                Rule::MinRegions,
                Rule::LossTarget,
                Rule::Budget,
            ];
            let pos = order.iter().position(|r| *r == rule).unwrap();
            let upto = |n: usize| RuleSet {
                exploration: n > 1,
                region_cap: n > 2,
                min_regions: n > 3,
                loss: n > 4,
                budget: n > 5,
            };
            if rule != Rule::Count || !opts.is_empty() {
                if pos > 0 {
                    assert!(
                        brute_best(&req, &opts, upto(pos), None).is_some(),
                        "rules before {rule} cannot be met: {inf:?}"
                    );
                }
                assert!(
                    brute_best(&req, &opts, upto(pos + 1), None).is_none(),
                    "{rule} does not bind: {inf:?}"
                );
            }
        }
        (p, b) => panic!("optimizer {p:?} vs brute force {b:?}"),
    }
}

fn check_price_to_win(seed: u64) {
    let (mut req, cands) = instance(seed);
    // The brute force orders sets by cost and reputation only: no anti-herding jitter.
    req.tolerance_bp = 0;
    let sel = Selector::new(&req, &cands).unwrap();
    // Mostly candidates that passed the filters: the interesting thresholds.
    let mut g = Gen(seed ^ 0x5eed);
    let passed: Vec<usize> = (0..cands.len())
        .filter(|&i| !matches!(sel.verdict(i), Verdict::Excluded { .. }))
        .collect();
    let c = if passed.is_empty() || g.chance(10) {
        g.below(cands.len() as u64) as usize
    } else {
        g.pick(&passed)
    };
    match sel.price_to_win(c) {
        PriceToWin::AtMost { amount } => {
            assert!(
                brute_wins(&req, &cands, c, amount),
                "should win at {amount}"
            );
            assert!(
                !brute_wins(&req, &cands, c, amount + 1),
                "should lose at {}",
                amount + 1
            );
        }
        PriceToWin::AnyPrice => assert!(brute_wins(&req, &cands, c, 1_000_000)),
        PriceToWin::Never { finding } => {
            assert!(!brute_wins(&req, &cands, c, 0), "wins when free: {finding}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn never_costlier_than_brute_force_and_every_rule_holds(seed in any::<u64>()) {
        check_instance(seed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn price_to_win_is_the_exact_threshold(seed in any::<u64>()) {
        check_price_to_win(seed);
    }
}

#[test]
fn consumers_with_different_seeds_spread_over_near_equal_providers() {
    // Twenty providers within 1 % of each other; each consumer asks for two replicas.
    let keys: Vec<PublicKey> = (1..=20u8)
        .map(|i| SecretKey::from_seed(&[i; 32]).public())
        .collect();
    let cands: Vec<Candidate> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Candidate {
            offer: Hash32::of(&[i as u8]),
            provider: *k,
            operator: None,
            kind: ResourceKind::Storage,
            price: Price {
                amount: 10_000 + i as u64 * 5,
                asset: "USD".try_into().unwrap(),
                unit: PriceUnit::GibMonth,
            },
            capacity: 1 << 40,
            min_duration_secs: 0,
            max_duration_secs: 365 * DAY,
            regions: vec!["eu-west".try_into().unwrap()],
            availability_bp: 9990,
            p95_latency_ms: 100,
            throughput_bytes_per_sec: 1 << 20,
            reputation: Some(0.9),
            claims: vec![],
        })
        .collect();
    let mut req = Request::new(
        ResourceKind::Storage,
        GIB,
        30 * DAY,
        Redundancy::Replicas(2),
        "USD".try_into().unwrap(),
    );
    let picks = |req: &Request| -> Vec<usize> {
        let sel = Selector::new(req, &cands).unwrap();
        let p = sel.placement().unwrap();
        // Within 1 % of the exact optimum (the two cheapest), which is reported.
        assert_eq!(p.optimum_cost, Some(20_005));
        assert!(p.total_cost * 100 <= 20_005 * 101, "{}", p.total_cost);
        p.picks.iter().map(|p| p.candidate).collect()
    };
    let mut seen = std::collections::BTreeSet::new();
    for consumer in 0..20u8 {
        req.seed = req.seed_for(&[consumer]);
        let first = picks(&req);
        assert_eq!(first, picks(&req), "one consumer, one answer");
        seen.extend(first);
    }
    assert!(seen.len() >= 8, "20 consumers landed on only {seen:?}");
    // Without a tolerance, everyone gets the two cheapest.
    req.tolerance_bp = 0;
    assert_eq!(picks(&req), vec![0, 1]);
}
