//! Message-browser benchmark (issue 18): the console's journal search over a real sled store
//! of a million exchange records, through the store's record index.
//!
//! `browse-bench [--records N] [--institutions M] [--persons P] [--queries Q] [--seed S]
//!  [--append-records A] [--durable-seconds D] [--dir BASE]`
//! (defaults: 1,000,000 records, 2,000 institutions, 200,000 persons, 500 queries per kind,
//! seed 18, 200,000 appends per overhead case, 5 s per durable case, the system temp dir).
//!
//! 1. **Fill**: N national-interface exchange records (request, answer and, for settlements
//!    and reversals, the canonical claim, as the gateway journals them: 1.5–3 KB of JSON each;
//!    `medsettle_bench::exchanges`, shared with `overview-bench`) appended with
//!    `append_idempotent` in `none` durability over 30 days, with the record index **off**;
//!    institutions skewed (a few large hospitals, many small ones), persons uniform.
//! 2. **Build at open**: the store reopened with the index on, which writes the entries of
//!    every record journaled before it existed (the upgrade path), timed.
//! 3. **Queries**: p50/p99/max latency of the console's own `search` (what one page of
//!    `/console/messages` waits for: the index scan plus reading and parsing the rows shown)
//!    by institution, msgid, person, time range, institution within a day, transaction, no
//!    condition, the next page by institution, and a worst case that examines the page's
//!    whole entry budget and finds nothing.
//! 4. **Append overhead**: fresh stores, index off vs on, alternating: the CPU cost of one
//!    `append_idempotent` (one writer, `none` durability: no disk wait hides it), then durable
//!    appends/s and latency with 16 writers in `fsync` mode (the gateway's acknowledgement).
//!
//! Integer arithmetic only (the workspace warns on floating point).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use medsettle_bench::exchanges::{
    DAYS, Generator, INFNOS, START_UNIX_S, Shape, append_all, china_time, code, sha, skewed,
};
use medsettle_console::MessageQuery;
use medsettle_store::{Durability, JournalRecord, SledStore, Store, StoreConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct Args {
    records: u64,
    institutions: u64,
    persons: u64,
    queries: usize,
    seed: u64,
    append_records: u64,
    durable_seconds: u64,
    dir: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        records: 1_000_000,
        institutions: 2_000,
        persons: 200_000,
        queries: 500,
        seed: 18,
        append_records: 200_000,
        durable_seconds: 5,
        dir: std::env::temp_dir(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        let mut num = || value().parse::<u64>().expect("a number");
        match k.as_str() {
            "--records" => a.records = num(),
            "--institutions" => a.institutions = num(),
            "--persons" => a.persons = num(),
            "--queries" => a.queries = usize::try_from(num()).expect("a count"),
            "--seed" => a.seed = num(),
            "--append-records" => a.append_records = num(),
            "--durable-seconds" => a.durable_seconds = num(),
            "--dir" => a.dir = PathBuf::from(value()),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// What the fill remembers to ask about.
#[derive(Default)]
struct Known {
    msgids: Vec<String>,
    persons: Vec<String>,
    /// The institution with the most records.
    largest: String,
}

/// The traffic of `a` (`medsettle_bench::exchanges`, shared with `overview-bench`), its own
/// stream for `seed`.
fn generator(a: &Args, seed: u64) -> Generator {
    Generator::new(Shape {
        records: a.records,
        institutions: a.institutions,
        persons: a.persons,
        seed,
    })
}

fn config(durability: Durability, record_index: bool) -> StoreConfig {
    StoreConfig {
        durability,
        record_index,
        ..StoreConfig::default()
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn fill(a: &Args, dir: &Path) -> (Known, Duration) {
    let store = SledStore::open(dir, config(Durability::None, false)).expect("open store");
    let mut traffic = generator(a, a.seed);
    let mut known = Known::default();
    let mut per_institution = std::collections::HashMap::<String, u64>::new();
    let started = Instant::now();
    append_all(&store, &mut traffic, a.records, |i, record| {
        let (code, msgid) = record.key.clone().expect("keyed");
        *per_institution.entry(code).or_default() += 1;
        if i % 997 == 0 {
            known.msgids.push(msgid);
            let payload: serde_json::Value = serde_json::from_slice(&record.payload).expect("json");
            known.persons.push(
                payload["request"]["input"]["data"]["psn_no"]
                    .as_str()
                    .expect("a person")
                    .to_owned(),
            );
        }
    });
    let took = started.elapsed();
    known.largest = per_institution
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(c, n)| {
            eprintln!("largest institution {c}: {n} records");
            c.clone()
        })
        .unwrap_or_default();
    (known, took)
}

/// p50, p99 and max of `samples` (µs), sorted in place.
fn percentiles(samples: &mut [u64]) -> (u64, u64, u64) {
    samples.sort_unstable();
    let at = |pm: usize| samples[(samples.len() - 1) * pm / 1000];
    (at(500), at(990), samples[samples.len() - 1])
}

struct QueryResult {
    name: &'static str,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    rows_mean: u64,
    examined_mean: u64,
}

fn run_queries(
    store: &SledStore,
    name: &'static str,
    n: usize,
    mut make: impl FnMut(usize) -> String,
) -> QueryResult {
    let (mut lat, mut rows, mut examined) = (Vec::with_capacity(n), 0u64, 0u64);
    for k in 0..n {
        let text = make(k);
        let q = MessageQuery::parse(Some(&text)).expect("a valid query");
        let t0 = Instant::now();
        let page = medsettle_ops::console::search(store, &q);
        lat.push(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX));
        assert_eq!(page.note, None, "{text}");
        rows += page.rows.len() as u64;
        examined += page.examined;
    }
    let (p50_us, p99_us, max_us) = percentiles(&mut lat);
    let n = n as u64;
    QueryResult {
        name,
        p50_us,
        p99_us,
        max_us,
        rows_mean: rows / n,
        examined_mean: examined / n,
    }
}

fn queries(a: &Args, store: &SledStore, known: &Known) -> Vec<QueryResult> {
    let mut rng = StdRng::seed_from_u64(a.seed ^ 0x5eed);
    let n = a.queries;
    let days = DAYS;
    let day = move |rng: &mut StdRng| {
        let d = rng.random_range(0..days);
        let t = china_time((START_UNIX_S + i64::try_from(d * 86_400).unwrap_or(0)) * 1000);
        t[..10].to_owned()
    };
    let mut out = Vec::new();
    let inst = |rng: &mut StdRng| code(skewed(rng.random_range(0..a.institutions), a.institutions));
    out.push(run_queries(store, "institution (first page)", n, |_| {
        format!("institution={}", inst(&mut rng))
    }));
    // The page after the first, of institutions that have one: the cursor continues the same
    // range scan.
    let second: Vec<String> = (0..n)
        .map(|_| {
            let mut text = String::new();
            for _ in 0..50 {
                text = format!("institution={}", inst(&mut rng));
                let q = MessageQuery::parse(Some(&text)).expect("valid");
                if let Some(b) = medsettle_ops::console::search(store, &q).next_before {
                    return format!("{text}&before={b}");
                }
            }
            text
        })
        .collect();
    out.push(run_queries(store, "institution (next page)", n, |k| {
        second[k].clone()
    }));
    out.push(run_queries(store, "msgid", n, |k| {
        format!("msgid={}", known.msgids[k % known.msgids.len()])
    }));
    out.push(run_queries(store, "person (psn_no)", n, |k| {
        format!("psn_no={}", known.persons[(k * 7) % known.persons.len()])
    }));
    out.push(run_queries(store, "time range (one hour)", n, |_| {
        let h = rng.random_range(0..24u32);
        let d = day(&mut rng);
        format!("from_time={d}T{h:02}&to_time={d}T{h:02}")
    }));
    out.push(run_queries(store, "institution within a day", n, |_| {
        let d = day(&mut rng);
        format!("institution={}&from_time={d}&to_time={d}", inst(&mut rng))
    }));
    out.push(run_queries(store, "transaction (infno)", n, |k| {
        format!("infno={}", INFNOS[k % INFNOS.len()].0)
    }));
    out.push(run_queries(store, "no condition (newest)", n, |_| {
        String::new()
    }));
    out.push(run_queries(
        store,
        "worst case: largest institution × absent infno",
        n.min(50),
        |_| format!("institution={}&infno=9999", known.largest),
    ));
    out
}

struct AppendResult {
    index: bool,
    per_append_us_mean: u64,
    p50_us: u64,
    p99_us: u64,
}

/// One writer, `none` durability: the CPU of an append (encoding, the idempotency decision,
/// the journal and index inserts), nothing waiting on the disk.
fn append_cost(a: &Args, base: &Path, index: bool, round: u32) -> AppendResult {
    let dir = base.join(format!("append-{}-{round}", u8::from(index)));
    let store = SledStore::open(&dir, config(Durability::None, index)).expect("open");
    let mut traffic = generator(a, a.seed + u64::from(round));
    let records: Vec<(JournalRecord, Vec<u8>)> =
        (0..a.append_records).map(|i| traffic.nth(i)).collect();
    let mut lat = Vec::with_capacity(records.len());
    let started = Instant::now();
    for (i, (record, answer)) in records.into_iter().enumerate() {
        let t0 = Instant::now();
        store
            .append_idempotent(record, sha(i as u64), answer)
            .expect("append");
        lat.push(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX));
    }
    let total_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    let (p50_us, p99_us, _) = percentiles(&mut lat);
    AppendResult {
        index,
        per_append_us_mean: total_us / a.append_records.max(1),
        p50_us,
        p99_us,
    }
}

struct DurableResult {
    index: bool,
    appends_per_s: u64,
    p50_us: u64,
    p99_us: u64,
}

/// 16 writers, `fsync` durability, for `durable_seconds`: what the gateway acknowledges.
fn durable(a: &Args, base: &Path, index: bool, round: u32) -> DurableResult {
    const WRITERS: u64 = 16;
    let dir = base.join(format!("durable-{}-{round}", u8::from(index)));
    let store = Arc::new(SledStore::open(&dir, config(Durability::Fsync, index)).expect("open"));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
            let seed = a.seed + w;
            let args = Args {
                dir: PathBuf::new(),
                ..*a
            };
            std::thread::spawn(move || {
                let mut traffic = generator(&args, seed);
                let mut lat = Vec::new();
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let (record, answer) = traffic.nth(i);
                    let t0 = Instant::now();
                    match store
                        .append_idempotent(record, sha(i), answer)
                        .expect("append")
                    {
                        medsettle_store::IdempotentOutcome::Appended { ticket, .. } => {
                            store.wait_durable_blocking(ticket).expect("durable")
                        }
                        other => panic!("not appended: {other:?}"),
                    }
                    lat.push(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX));
                    i += WRITERS;
                }
                lat
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(a.durable_seconds));
    stop.store(true, Ordering::Relaxed);
    let mut lat: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("writer"))
        .collect();
    let secs_ms = u64::try_from(started.elapsed().as_millis())
        .unwrap_or(1)
        .max(1);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    let n = lat.len() as u64;
    let (p50_us, p99_us, _) = percentiles(&mut lat);
    DurableResult {
        index,
        appends_per_s: n * 1000 / secs_ms,
        p50_us,
        p99_us,
    }
}

fn main() {
    let a = args();
    let base = tempfile::Builder::new()
        .prefix("browse-bench-")
        .tempdir_in(&a.dir)
        .expect("a temporary directory");
    let dir = base.path().join("journal");
    println!(
        "browse-bench: {} records, {} institutions, {} persons, seed {}, {} CPUs",
        a.records,
        a.institutions,
        a.persons,
        a.seed,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let (known, fill_took) = fill(&a, &dir);
    let before_bytes = dir_bytes(&dir);
    println!(
        "fill (index off, none durability): {} records in {:.1?} ({} records/s); store {} MiB",
        a.records,
        fill_took,
        a.records * 1000 / u64::try_from(fill_took.as_millis()).unwrap_or(1).max(1),
        before_bytes >> 20
    );

    let t0 = Instant::now();
    let store = SledStore::open(&dir, config(Durability::None, true)).expect("reopen");
    let build = t0.elapsed();
    store.sync().expect("sync");
    let after_bytes = dir_bytes(&dir);
    println!(
        "open with the index on (builds the entries of all {} records): {:.1?}; store {} MiB (+{} MiB)",
        a.records,
        build,
        after_bytes >> 20,
        after_bytes.saturating_sub(before_bytes) >> 20
    );

    println!("\n| query | p50 ms | p99 ms | max ms | rows | entries examined |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in queries(&a, &store, &known) {
        let ms = |us: u64| format!("{}.{:02}", us / 1000, (us % 1000) / 10);
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.name,
            ms(r.p50_us),
            ms(r.p99_us),
            ms(r.max_us),
            r.rows_mean,
            r.examined_mean
        );
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "\nappend_idempotent, one writer, none durability ({} appends per case):",
        a.append_records
    );
    println!("| index | mean µs | p50 µs | p99 µs |");
    println!("|---|---:|---:|---:|");
    for round in 0..2 {
        for index in [false, true] {
            let r = append_cost(&a, base.path(), index, round);
            println!(
                "| {} | {} | {} | {} |",
                if r.index { "on" } else { "off" },
                r.per_append_us_mean,
                r.p50_us,
                r.p99_us
            );
        }
    }
    println!(
        "\ndurable appends, 16 writers, fsync ({} s per case):",
        a.durable_seconds
    );
    println!("| index | appends/s | p50 µs | p99 µs |");
    println!("|---|---:|---:|---:|");
    for round in 0..2 {
        for index in [false, true] {
            let r = durable(&a, base.path(), index, round);
            println!(
                "| {} | {} | {} | {} |",
                if r.index { "on" } else { "off" },
                r.appends_per_s,
                r.p50_us,
                r.p99_us
            );
        }
    }
}
