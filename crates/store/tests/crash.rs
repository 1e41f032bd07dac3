//! Crash safety: a child process applies objects and prints each acknowledged id; the parent
//! SIGKILLs it at random moments, reopens the store and checks every acknowledged id is there.

#![allow(clippy::unwrap_used, clippy::print_stderr)] // Test support code: a panic is a test failure.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use common::*;
use flashback_store::{Store, StoreConfig};
use flashback_types::*;
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};

const CHILD_DB: &str = "FLASHBACK_STORE_CRASH_CHILD_DB";
const CHILD_CYCLE: &str = "FLASHBACK_STORE_CRASH_CHILD_CYCLE";
const ACK: &str = "ACK ";

/// The `n`-th object the child of `cycle` applies: a mix of every tree the store writes.
fn object(cycle: u64, n: u64, consumer: &SecretKey, provider: &SecretKey) -> Vec<Object> {
    let key_name = format!("c{cycle}-{}", n % 4);
    let o = offer(provider, &key_name, n / 4 + 1, |o| {
        o.capacity = (n + 1) * GIB;
        o.created_at = NOW - 1000 + n;
    });
    match n % 6 {
        0..=2 => vec![o.into()],
        3 => {
            let a = agreement(consumer, provider, &o, NOW - DAY, 30 * DAY, GIB * (n + 1));
            let att = attestation(
                consumer,
                &provider.public(),
                Some(a.proposal_id()),
                NOW - DAY + n,
                NOW - 100,
                100,
                99,
                50,
            );
            vec![o.into(), a.into(), att.into()]
        }
        4 => {
            let p = proposal(consumer, &o, NOW + n, DAY, GIB);
            let d = decision(provider, &p, Decision::Reject(RejectReason::Capacity));
            vec![o.into(), p.into(), d.into()]
        }
        _ => {
            let c = certificate(consumer, &provider.public(), "iso27001", &format!("{n}"), n);
            vec![o.into(), c.into()]
        }
    }
}

/// Child mode: two threads apply objects forever, one line per acknowledged id. Each write is
/// acknowledged after `apply`, `apply_batch`, or `stage_batch` + `flush`; with two writers, a
/// `flush` often returns because the other thread's flush already covered its writes (group
/// commit), which is exactly what must not lose anything.
#[test]
fn crash_child() {
    let Ok(db) = std::env::var(CHILD_DB) else {
        return; // Only meaningful when the parent test runs this binary.
    };
    let cycle: u64 = std::env::var(CHILD_CYCLE).unwrap().parse().unwrap();
    let store = Store::open(&db, StoreConfig::default()).unwrap();
    let writers: Vec<_> = (0..2u64)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let consumer = key(9000);
                let provider = key(9001 + t as u16);
                let mut rng = StdRng::seed_from_u64(cycle * 2 + t);
                // Runs until the parent kills the process.
                for n in 0u64.. {
                    let objects = object(cycle * 2 + t, n, &consumer, &provider);
                    match rng.random_range(0..3) {
                        0 => {
                            store.apply_batch(&objects, NOW).unwrap();
                        }
                        1 => {
                            for o in &objects {
                                store.apply(o, NOW).unwrap();
                            }
                        }
                        _ => {
                            store.stage_batch(&objects, NOW).unwrap();
                            store.flush().unwrap();
                        }
                    }
                    for o in &objects {
                        println!("{ACK}{}", o.id());
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
}

fn run_cycles(cycles: u64) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("listing");
    let seed: u64 = rand::random();
    eprintln!("crash test seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let exe = std::env::current_exe().unwrap();
    let mut acked: BTreeSet<ObjectId> = BTreeSet::new();
    let mut killed_mid_run = 0;
    for cycle in 0..cycles {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_DB, &db)
            .env(CHILD_CYCLE, cycle.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        // Kill after a random number of acknowledgements (sometimes before the first one).
        let wait_for = rng.random_range(0..40);
        let mut seen = 0;
        let mut line = String::new();
        while seen < wait_for {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                break;
            }
            if let Some(id) = line
                .strip_prefix(ACK)
                .and_then(|s| s.trim_end().parse().ok())
            {
                acked.insert(id);
                seen += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL on unix.
        let status = child.wait().unwrap();
        if !status.success() {
            killed_mid_run += 1;
        }
        // Lines already in the pipe were acknowledged too; a torn last line was not.
        let mut rest = String::new();
        out.read_to_string(&mut rest).unwrap();
        for l in rest.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            if let Some(id) = l.strip_prefix(ACK).and_then(|s| s.trim_end().parse().ok()) {
                acked.insert(id);
            }
        }
        let store = Store::open(&db, StoreConfig::default())
            .unwrap_or_else(|e| panic!("cycle {cycle} (seed {seed}): reopen failed: {e}"));
        for id in &acked {
            assert!(
                store.get(id).unwrap().is_some(),
                "cycle {cycle} (seed {seed}): acknowledged {id} is missing after SIGKILL"
            );
        }
    }
    assert!(killed_mid_run > 0, "the child was never killed");
    eprintln!(
        "crash test: {cycles} cycles, {} acknowledged ids all present",
        acked.len()
    );
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    run_cycles(24);
}

#[test]
#[ignore = "long: 1,000 kill cycles; run with --ignored"]
fn acknowledged_writes_survive_1000_sigkills() {
    run_cycles(1000);
}
