//! Listing store benchmark: prints one table.
//!
//! ```text
//! cargo bench -p flashback-store --bench store                        # 1,000,000 offers
//! FLASHBACK_BENCH_OFFERS=100000 cargo bench -p flashback-store --bench store
//! ```
//!
//! Measures raw `verify_strict`, flushed single applies, batched applies (1,000 per batch),
//! top-20 filtered queries at 100k offers and at the full size — split into (a) finding the
//! ids in the in-memory index and (b) fetching the 20 signed objects from sled — the RSS after
//! loading, and the time (and RSS) to open the full store in a fresh process.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // A bench binary.

use std::collections::BTreeMap;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use flashback_store::{Rate, Store, StoreConfig};
use flashback_types::*;

const NOW: Timestamp = 1_800_000_000;
const OFFERS_PER_PROVIDER: u64 = 100;
const BATCH: usize = 1000;
const REGIONS: [&str; 24] = [
    "af-south",
    "ap-east",
    "ap-northeast",
    "ap-south",
    "ap-southeast",
    "ca-central",
    "cn-north",
    "eu-central",
    "eu-north",
    "eu-south",
    "eu-west",
    "eu-west-2",
    "il-central",
    "me-central",
    "me-south",
    "mx-central",
    "sa-east",
    "us-central",
    "us-east",
    "us-east-2",
    "us-west",
    "us-west-2",
    "au-east",
    "in-west",
];
const PROTOCOLS: [DataProtocol; 5] = [
    DataProtocol::S3,
    DataProtocol::Https,
    DataProtocol::Ipfs,
    DataProtocol::Sftp,
    DataProtocol::FlashbackBlob,
];
const CHILD_ENV: &str = "FLASHBACK_BENCH_CHILD_OPEN";

/// splitmix64: deterministic and dependency-free.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn provider_key(p: u64) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&mix(p).to_le_bytes());
    seed[8..16].copy_from_slice(&p.to_le_bytes());
    SecretKey::from_seed(&seed)
}

fn config() -> StoreConfig {
    let rates: BTreeMap<String, Rate> = [
        ("USD", Rate { num: 1, den: 1 }),
        ("EUR", Rate { num: 11, den: 10 }),
        (
            "XLM",
            Rate {
                num: 12,
                den: 10_000_000,
            },
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    StoreConfig {
        rates,
        ..Default::default()
    }
}

/// Offer number `i` (provider `i / 100`, its key `i % 100`), signed by its provider.
fn make_offer(i: u64, key: &SecretKey, salt: u64) -> Signed<Offer> {
    let r = |n: u64| mix(i ^ (n << 40) ^ salt);
    let mut regions: Vec<ShortText> = (0..1 + r(1) % 3)
        .map(|n| {
            REGIONS[(r(2 + n) % REGIONS.len() as u64) as usize]
                .try_into()
                .unwrap()
        })
        .collect();
    regions.sort();
    regions.dedup();
    let mut protocols: Vec<DataProtocol> = (0..1 + r(6) % 2)
        .map(|n| PROTOCOLS[(r(7 + n) % 5) as usize].clone())
        .collect();
    protocols.sort();
    protocols.dedup();
    let compute = r(9) % 10 == 0;
    let (asset, amount) = match r(10) % 3 {
        0 => ("USD", 50 + r(11) % 400),
        1 => ("EUR", 50 + r(11) % 400),
        _ => ("XLM", 5_000_000 + r(11) % 30_000_000),
    };
    let kind = if compute {
        ResourceKind::Compute
    } else {
        ResourceKind::Storage
    };
    let offer = Offer {
        provider: key.public(),
        offer_key: format!("offer-{}", i % OFFERS_PER_PROVIDER)
            .as_str()
            .try_into()
            .unwrap(),
        seq: 1 + salt,
        withdrawn: false,
        kind,
        capacity: (1 + r(12) % 10_000) * GIB,
        price: Price {
            amount,
            asset: asset.try_into().unwrap(),
            unit: PriceUnit::for_kind(kind),
        },
        min_duration_secs: 3600,
        max_duration_secs: 365 * 86_400,
        regions: BoundedVec::try_from(regions).unwrap(),
        protocols: BoundedVec::try_from(protocols).unwrap(),
        endpoint: format!("https://p{}.example.net/s3", i / OFFERS_PER_PROVIDER)
            .as_str()
            .try_into()
            .unwrap(),
        qos: QosTargets {
            availability_bp: 9000 + (r(13) % 1000) as u16,
            p95_latency_ms: 20 + (r(14) % 400) as u32,
            durability_nines: 11,
            throughput_bytes_per_sec: 100_000_000,
        },
        redundancy: 1 + (r(15) % 3) as u8,
        certificates: BoundedVec::new(),
        jurisdictions: BoundedVec::new(),
        compliance_docs: BoundedVec::new(),
        compute: compute.then(|| ComputeSpec {
            vcpus: 4,
            memory_bytes: 16 * GIB,
            accelerator: "".try_into().unwrap(),
        }),
        created_at: NOW - r(16) % (7 * 86_400),
        expires_at: NOW + 30 * 86_400,
    };
    Signed::sign(offer, key).unwrap()
}

/// Offers `from..to`, signed on two threads, handed over in batches of 1,000.
fn load(store: &Store, from: u64, to: u64) -> Duration {
    let (tx, rx) = sync_channel::<Vec<Object>>(8);
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let tx = tx.clone();
            s.spawn(move || {
                let mut batch_start = from + t * BATCH as u64;
                while batch_start < to {
                    let end = (batch_start + BATCH as u64).min(to);
                    let mut key: Option<(u64, SecretKey)> = None;
                    let batch: Vec<Object> = (batch_start..end)
                        .map(|i| {
                            let p = i / OFFERS_PER_PROVIDER;
                            if key.as_ref().is_none_or(|(kp, _)| *kp != p) {
                                key = Some((p, provider_key(p)));
                            }
                            let (_, k) = key.as_ref().unwrap();
                            make_offer(i, k, 0).into()
                        })
                        .collect();
                    if tx.send(batch).is_err() {
                        return;
                    }
                    batch_start += 2 * BATCH as u64;
                }
            });
        }
        drop(tx);
        for batch in rx {
            store.apply_batch(&batch, NOW).unwrap();
        }
    });
    started.elapsed()
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// A mix of realistic light-client queries.
fn query(n: u64) -> OfferQuery {
    let r = |k: u64| mix(n.wrapping_mul(31) ^ (k << 48));
    let region = |k| -> ShortText {
        REGIONS[(r(k) % REGIONS.len() as u64) as usize]
            .try_into()
            .unwrap()
    };
    let mut q = OfferQuery::default();
    match n % 5 {
        // Cheapest storage in a region.
        0 => {
            q.kind = Some(ResourceKind::Storage);
            q.regions = BoundedVec::try_from(vec![region(1)]).unwrap();
        }
        // S3 in a region under a price cap.
        1 => {
            q.regions = BoundedVec::try_from(vec![region(1)]).unwrap();
            q.protocol = Some(DataProtocol::S3);
            q.max_price = Some(Price {
                amount: 200,
                asset: "USD".try_into().unwrap(),
                unit: PriceUnit::GibMonth,
            });
        }
        // Largest in either of two regions with enough capacity.
        2 => {
            let mut rs = vec![region(1), region(2)];
            rs.sort();
            rs.dedup();
            q.regions = BoundedVec::try_from(rs).unwrap();
            q.min_capacity = Some(1000 * GIB);
            q.sort = SortKey::Capacity;
        }
        // Newest IPFS offers with high availability, anywhere.
        3 => {
            q.protocol = Some(DataProtocol::Ipfs);
            q.min_availability_bp = Some(9500);
            q.sort = SortKey::Newest;
        }
        // Low-latency storage in a region, by price.
        _ => {
            q.kind = Some(ResourceKind::Storage);
            q.regions = BoundedVec::try_from(vec![region(1)]).unwrap();
            q.max_p95_latency_ms = Some(150);
        }
    }
    q
}

struct Latency {
    ids: Vec<Duration>,
    fetch: Vec<Duration>,
    cold: Vec<Duration>,
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn run_queries(store: &Store, n: u64) -> Latency {
    // Warm up sled's cache and the allocator, then measure.
    for i in 0..500 {
        let (ids, _) = store.query_offer_ids(&query(i), NOW);
        store.fetch_offers(&ids).unwrap();
    }
    let mut lat = Latency {
        ids: Vec::new(),
        fetch: Vec::new(),
        cold: Vec::new(),
    };
    let mut returned = 0usize;
    for i in 0..n {
        let q = query(1000 + i);
        let t = Instant::now();
        let (ids, _) = store.query_offer_ids(&q, NOW);
        lat.ids.push(t.elapsed());
        // The path queries take (hot-offer cache, then sled).
        let t = Instant::now();
        let offers = store.fetch_offers(&ids).unwrap();
        lat.fetch.push(t.elapsed());
        returned += offers.len();
        // Without the cache: sled lookup, blake3 checksum and decode for all 20.
        let t = Instant::now();
        let cold = store.fetch_offers_uncached(&ids).unwrap();
        lat.cold.push(t.elapsed());
        assert_eq!(cold.len(), offers.len());
    }
    assert!(
        returned as u64 >= n * 15,
        "queries should mostly fill their pages"
    );
    lat
}

fn print_queries(label: &str, mut lat: Latency) {
    println!(
        "| top-20 query @ {label:<15} | (a) ids p50 {:>7.1?} p99 {:>7.1?} | (b) 20 signed p50 {:>7.1?} p99 {:>7.1?} | (b) without offer cache p50 {:>7.1?} p99 {:>7.1?} |",
        pct(&mut lat.ids, 0.5),
        pct(&mut lat.ids, 0.99),
        pct(&mut lat.fetch, 0.5),
        pct(&mut lat.fetch, 0.99),
        pct(&mut lat.cold, 0.5),
        pct(&mut lat.cold, 0.99),
    );
}

fn child_open(path: &str) {
    let t = Instant::now();
    let store = Store::open(path, config()).unwrap();
    let open = t.elapsed();
    let rss = rss_mb();
    let offers = store.counts().of(Kind::Offer);
    println!(
        "| open store of {offers} offers (fresh process) | {open:>10.2?} | RSS after open {rss:.0} MB |"
    );
    print_queries("after reopen", run_queries(&store, 5000));
}

fn main() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child_open(&path);
        return;
    }
    let total: u64 = std::env::var("FLASHBACK_BENCH_OFFERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let base = std::env::var_os("FLASHBACK_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).unwrap();
    println!(
        "flashback-store benchmark: {total} offers, sled 0.34 in {}",
        dir.path().display()
    );
    println!();

    // Raw ed25519 verify_strict of a 32-byte message.
    let k = SecretKey::generate();
    let msg = [7u8; 32];
    let sig = k.sign(&msg);
    let pk = k.public();
    let n = 5000;
    let t = Instant::now();
    for _ in 0..n {
        assert!(pk.verify_strict(std::hint::black_box(&msg), &sig));
    }
    let per = t.elapsed() / n;
    println!(
        "| ed25519 verify_strict (32-byte message) | {per:>10.2?} | {:>8.0} /s |",
        1.0 / per.as_secs_f64()
    );

    // Single applies, each flushed.
    {
        let single = Store::open(dir.path().join("single"), config()).unwrap();
        let key = provider_key(u64::MAX);
        let offers: Vec<Object> = (0..300).map(|i| make_offer(i, &key, i).into()).collect();
        let t = Instant::now();
        for o in &offers {
            single.apply(o, NOW).unwrap();
        }
        let per = t.elapsed() / offers.len() as u32;
        println!(
            "| apply, one object per flush             | {per:>10.2?} | {:>8.0} /s |",
            1.0 / per.as_secs_f64()
        );
    }

    let path = dir.path().join("listing");
    let store = Store::open(&path, config()).unwrap();
    let first = total.min(100_000);
    let took = load(&store, 0, first);
    println!(
        "| apply_batch, 1000 per batch (+ signing)  | {:>10.2?} | {:>8.0} /s |",
        took / first as u32,
        first as f64 / took.as_secs_f64()
    );
    print_queries(&format!("{first} offers"), run_queries(&store, 5000));
    if total > first {
        let took = load(&store, first, total);
        println!(
            "| apply_batch to {total} (+ signing)       | {:>10.2?} | {:>8.0} /s |",
            took / (total - first) as u32,
            (total - first) as f64 / took.as_secs_f64()
        );
        print_queries(&format!("{total} offers"), run_queries(&store, 5000));
    }
    println!(
        "| RSS after loading {total} offers | {:.0} MB (index ≈ {:.0} MB, sled cache ≤ {} MB) |",
        rss_mb(),
        store.index_bytes() as f64 / 1048576.0,
        store.config().cache_capacity_bytes / 1048576
    );
    drop(store);

    // Open time and RSS in a fresh process, so the loader's memory does not count.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, &path)
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
    let du: u64 = walk_size(&path);
    println!(
        "| database size on disk | {:.0} MB |",
        du as f64 / 1048576.0
    );
    if std::env::var_os("FLASHBACK_BENCH_KEEP").is_some() {
        // Keep the database for `FLASHBACK_BENCH_CHILD_OPEN=<path>` runs.
        println!("kept {}", dir.keep().join("listing").display());
    }
}

fn walk_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| {
                    let m = e.metadata().unwrap();
                    if m.is_dir() {
                        walk_size(&e.path())
                    } else {
                        m.len()
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
