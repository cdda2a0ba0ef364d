//! Benchmark: durable appends per second and the p50/p99 latency of
//! append + wait_durable, at several writer counts, in each durability mode.
//!
//! `store-bench [SECONDS_PER_CASE] [PAYLOAD_BYTES] [BASE_DIR]`
//! (defaults: 3 s, 1024 bytes, the system temp dir). Each case uses a fresh
//! store directory, removed afterwards. Output: CSV lines then a table.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use medsettle_store::{Durability, JournalRecord, SledStore, StateWrite, Store, StoreConfig};

/// Default run length of one (mode, writers) case, seconds.
const SECONDS_PER_CASE_DEFAULT: u64 = 3;
/// Default payload per record, bytes (about one small national-interface request).
const PAYLOAD_BYTES_DEFAULT: usize = 1024;
const WRITER_COUNTS: [usize; 3] = [1, 16, 64];
const MODES: [Durability; 3] = [Durability::Fsync, Durability::Flush, Durability::None];

struct CaseResult {
    mode: Durability,
    writers: usize,
    appends: usize,
    appends_per_s: u64,
    p50_us: u128,
    p99_us: u128,
    flushes: u64,
}

fn percentile(sorted: &[u128], per_mille: usize) -> u128 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = (sorted.len() - 1) * per_mille / 1000;
    sorted[idx]
}

fn run_case(
    base: &std::path::Path,
    mode: Durability,
    writers: usize,
    secs: u64,
    payload: usize,
) -> CaseResult {
    let dir: PathBuf = base.join(format!(
        "store-bench-{}-{}-{}",
        std::process::id(),
        mode.as_str(),
        writers
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let config = StoreConfig {
        durability: mode,
        ..StoreConfig::default()
    };
    let store = Arc::new(SledStore::open(&dir, config).expect("open store"));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut latencies_us = Vec::new();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let rec = JournalRecord::new("bench", vec![b'x'; payload])
                        .with_key(format!("H{w}"), format!("m{i}"))
                        .with_write(StateWrite::put(
                            "acc",
                            format!("p{w}").into_bytes(),
                            i.to_be_bytes().to_vec(),
                        ));
                    let t0 = Instant::now();
                    let a = store.append(rec).expect("append");
                    store.wait_durable_blocking(a.ticket).expect("durable");
                    latencies_us.push(t0.elapsed().as_micros());
                    i += 1;
                }
                latencies_us
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<u128> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("writer"))
        .collect();
    let elapsed_ms = started.elapsed().as_millis().max(1);
    all.sort_unstable();
    let flushes = store.stats().expect("stats").flush_count;
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    let appends = all.len();
    CaseResult {
        mode,
        writers,
        appends,
        appends_per_s: u64::try_from(appends as u128 * 1000 / elapsed_ms).unwrap_or(u64::MAX),
        p50_us: percentile(&all, 500),
        p99_us: percentile(&all, 990),
        flushes,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let secs = args
        .next()
        .map_or(SECONDS_PER_CASE_DEFAULT, |s| s.parse().expect("SECONDS"));
    let payload = args
        .next()
        .map_or(PAYLOAD_BYTES_DEFAULT, |s| s.parse().expect("PAYLOAD_BYTES"));
    let base = args.next().map_or_else(std::env::temp_dir, PathBuf::from);
    let mut results = Vec::new();
    println!("mode,writers,appends,appends_per_s,p50_us,p99_us,flushes");
    for mode in MODES {
        for writers in WRITER_COUNTS {
            let r = run_case(&base, mode, writers, secs, payload);
            println!(
                "{},{},{},{},{},{},{}",
                r.mode.as_str(),
                r.writers,
                r.appends,
                r.appends_per_s,
                r.p50_us,
                r.p99_us,
                r.flushes
            );
            results.push(r);
        }
    }
    println!();
    println!(
        "{:<6} {:>7} {:>12} {:>10} {:>10} {:>9}",
        "mode", "writers", "appends/s", "p50 µs", "p99 µs", "flushes"
    );
    for r in &results {
        println!(
            "{:<6} {:>7} {:>12} {:>10} {:>10} {:>9}",
            r.mode.as_str(),
            r.writers,
            r.appends_per_s,
            r.p50_us,
            r.p99_us,
            r.flushes
        );
    }
}
