//! Placement optimizer benchmark: prints one table.
//!
//! ```text
//! cargo bench -p flashback-select --bench select
//! FLASHBACK_BENCH_RUNS=51 cargo bench -p flashback-select --bench select   # more runs per row
//! ```
//!
//! Three requests over synthetic listings: `r = 5` replicas over 100k candidates, `r = 10`
//! and `k/n = 10/16` shards over 1M, each with a region cap, region diversity, an
//! availability floor, a loss target, a reputation floor with an exploration share and a
//! budget. For each: the exact optimizer (filters, pruning, both solves: the exact optimum
//! and the anti-herding answer) next to the greedy baseline (the cheapest candidates that
//! pass the filters, one per provider) measured in the same run, with p50 and p90 over the
//! runs, how many candidates reached the exact search, and which rules the greedy picks
//! break.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // A bench binary.

use std::time::{Duration, Instant};

use flashback_select::{
    Candidate, Redundancy, Request, Selector, cheapest_passing, loss_probability, splitmix as mix,
};
use flashback_types::{Hash32, Price, PriceUnit, PublicKey, ResourceKind, SecretKey, ShortText};

const REGIONS: usize = 16;
const OFFERS_PER_PROVIDER: usize = 5;
const DAY: u64 = 86_400;

fn region(i: usize) -> ShortText {
    format!("region-{i:02}").as_str().try_into().unwrap()
}

/// `n` candidates from `n / 5` providers: availability on a few realistic levels (99.0 to
/// 99.99 %), prices rising with availability and spread ×5 within a level, one region (one
/// in ten serves two), reputation mostly known, some unrated.
fn listing(n: usize, keys: &[PublicKey]) -> Vec<Candidate> {
    const LEVELS: [(u16, u64); 5] = [(9900, 40), (9950, 30), (9990, 20), (9995, 7), (9999, 3)];
    (0..n)
        .map(|i| {
            let r = |k: u64| mix((i as u64) ^ (k << 48));
            let mut pick = r(1) % 100;
            let (level, premium) = LEVELS
                .iter()
                .enumerate()
                .find_map(|(l, (bp, share))| {
                    if pick < *share {
                        Some((*bp, l as u64))
                    } else {
                        pick -= share;
                        None
                    }
                })
                .unwrap_or((9900, 0));
            let mut regions = vec![region((r(2) % REGIONS as u64) as usize)];
            if r(3) % 10 == 0 {
                regions.push(region((r(4) % REGIONS as u64) as usize));
                regions.sort();
                regions.dedup();
            }
            Candidate {
                offer: Hash32::of(&(i as u64).to_le_bytes()),
                provider: keys[i / OFFERS_PER_PROVIDER],
                operator: None,
                kind: ResourceKind::Storage,
                price: Price {
                    amount: (40 + r(5) % 160) * (4 + premium) / 4,
                    asset: "USD".try_into().unwrap(),
                    unit: PriceUnit::GibMonth,
                },
                capacity: (1 + r(6) % 64) << 40,
                min_duration_secs: 3600,
                max_duration_secs: 365 * DAY,
                regions,
                availability_bp: level - (r(7) % 5) as u16,
                p95_latency_ms: 20 + (r(8) % 400) as u32,
                throughput_bytes_per_sec: (1 + r(9) % 100) << 20,
                reputation: if r(10) % 10 == 0 {
                    None
                } else {
                    Some(0.3 + (r(11) % 700) as f64 / 1000.0)
                },
                claims: Vec::new(),
            }
        })
        .collect()
}

fn keys(providers: usize) -> Vec<PublicKey> {
    (0..providers as u64)
        .map(|p| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&mix(p).to_le_bytes());
            seed[8..16].copy_from_slice(&p.to_le_bytes());
            SecretKey::from_seed(&seed).public()
        })
        .collect()
}

fn request(redundancy: Redundancy, loss_target: f64, min_regions: u32) -> Request {
    let mut req = Request::new(
        ResourceKind::Storage,
        2 << 40,
        90 * DAY,
        redundancy,
        "USD".try_into().unwrap(),
    );
    req.min_availability_bp = Some(9900);
    req.max_p95_latency_ms = Some(300);
    req.loss_target = Some(loss_target);
    req.max_per_region = Some(2);
    req.min_regions = min_regions;
    req.min_reputation = Some(0.5);
    req.max_unrated = 1;
    req.budget = Some(1_000_000_000);
    req.seed = *Hash32::of(b"consumer key and request").as_bytes();
    req
}

fn p(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// The rules the greedy picks break.
fn broken(req: &Request, cands: &[Candidate], picks: &[usize]) -> String {
    let mut out = Vec::new();
    let mut regions: Vec<&ShortText> = picks.iter().map(|&i| &cands[i].regions[0]).collect();
    regions.sort();
    if let Some(m) = req.max_per_region
        && regions
            .chunk_by(|a, b| a == b)
            .any(|g| g.len() > m as usize)
    {
        out.push("max_per_region");
    }
    regions.dedup();
    if regions.len() < req.min_regions as usize {
        out.push("min_regions");
    }
    let a: Vec<u16> = picks.iter().map(|&i| cands[i].availability_bp).collect();
    if req
        .loss_target
        .is_some_and(|t| loss_probability(&a, req.redundancy.needed()) > t)
    {
        out.push("loss_target");
    }
    if req.min_reputation.is_some()
        && picks
            .iter()
            .filter(|&&i| cands[i].reputation.is_none())
            .count()
            > req.max_unrated as usize
    {
        out.push("exploration");
    }
    if out.is_empty() {
        "none".into()
    } else {
        out.join(",")
    }
}

fn main() {
    let runs: usize = std::env::var("FLASHBACK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21);
    let started = Instant::now();
    let all_keys = keys(1_000_000 / OFFERS_PER_PROVIDER);
    let big = listing(1_000_000, &all_keys);
    let small = listing(100_000, &all_keys);
    eprintln!("listings built in {:.1} s", started.elapsed().as_secs_f64());
    let rows = [
        (
            "r=5, 100k",
            &small,
            request(Redundancy::Replicas(5), 1e-12, 3),
        ),
        (
            "r=10, 1M",
            &big,
            request(Redundancy::Replicas(10), 1e-24, 5),
        ),
        (
            "k/n=10/16, 1M",
            &big,
            request(Redundancy::Shards { k: 10, n: 16 }, 1e-15, 8),
        ),
    ];
    println!(
        "| request | candidates | passed | searched | exact p50 ms | exact p90 ms | greedy p50 ms | greedy p90 ms | optimum cost | answer cost | greedy cost | greedy breaks |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    // FLASHBACK_BENCH_ONLY=<request name prefix> runs one row (for profiling).
    let only = std::env::var("FLASHBACK_BENCH_ONLY").unwrap_or_default();
    for (name, cands, req) in rows {
        if !name.starts_with(&only) {
            continue;
        }
        let mut exact = Vec::with_capacity(runs);
        let mut greedy = Vec::with_capacity(runs);
        let mut last = None;
        let mut greedy_picks = Vec::new();
        for run in 0..runs {
            let t = Instant::now();
            let sel = Selector::new(&req, cands).unwrap();
            let placement = sel.placement();
            exact.push(t.elapsed());
            let t = Instant::now();
            greedy_picks = cheapest_passing(&req, cands).unwrap();
            greedy.push(t.elapsed());
            if run + 1 == runs {
                last = Some((placement, sel.recommendation()));
            }
        }
        exact.sort();
        greedy.sort();
        let (placement, rec) = last.unwrap();
        let placement = placement.expect("the bench requests are feasible");
        let greedy_cost: u64 = greedy_picks
            .iter()
            .map(|&i| {
                cands[i]
                    .price
                    .total(req.redundancy.share(req.volume), req.duration_secs)
                    .unwrap()
            })
            .sum();
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cands.len(),
            rec.passed,
            rec.considered,
            ms(p(&exact, 0.5)),
            ms(p(&exact, 0.9)),
            ms(p(&greedy, 0.5)),
            ms(p(&greedy, 0.9)),
            placement.optimum_cost.unwrap_or(0),
            placement.total_cost,
            greedy_cost,
            broken(&req, cands, &greedy_picks),
        );
    }
}
