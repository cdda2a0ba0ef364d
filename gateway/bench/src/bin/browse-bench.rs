//! Message-browser benchmark (issue 18): the console's journal search over a real sled store
//! of a million exchange records, through the store's record index.
//!
//! `browse-bench [--records N] [--institutions M] [--persons P] [--queries Q] [--seed S]
//!  [--append-records A] [--durable-seconds D] [--dir BASE]`
//! (defaults: 1,000,000 records, 2,000 institutions, 200,000 persons, 500 queries per kind,
//! seed 18, 200,000 appends per overhead case, 5 s per durable case, the system temp dir).
//!
//! 1. **Fill**: N national-interface exchange records (request, answer and, for settlements,
//!    the claim, as the gateway journals them: 1.5–2 KB of JSON each) appended with
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

/// First receive time: 2026-11-05 00:00:00 China time, Unix seconds.
const START_UNIX_S: i64 = 1_793_808_000;
/// The records are spread over this many days.
const DAYS: u64 = 30;
/// Transactions and their share of the traffic, per mille.
const INFNOS: [(&str, u64); 6] = [
    ("2207", 400),
    ("2206", 200),
    ("2204", 150),
    ("2201", 100),
    ("1101", 100),
    ("2208", 50),
];

/// What the fill remembers to ask about.
#[derive(Default)]
struct Known {
    msgids: Vec<String>,
    persons: Vec<String>,
    /// The institution with the most records.
    largest: String,
}

fn code(i: u64) -> String {
    format!("H44030{i:06}")
}

fn person(p: u64) -> String {
    format!("4403000000{p:010}")
}

/// `YYYY-MM-DDTHH:MM:SS.mmm+08:00` of a China-time Unix millisecond.
fn china_time(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("a time in range")
        .to_offset(time::macros::offset!(+8));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+08:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// One exchange record as the national service journals it (`exchange_payload`): the request
/// as received, the answer as sent, the claim for a settlement, the receive time.
fn exchange(
    i: u64,
    code: &str,
    psn: &str,
    infno: &str,
    received_ms: i64,
) -> (JournalRecord, Vec<u8>) {
    let at = china_time(received_ms);
    // As the national interface forms it: institution, send time to the second, a sequence.
    let msgid = format!(
        "{code}{}{:04}",
        &at[..19].replace(['-', 'T', ':'], ""),
        i % 10_000
    );
    let mdtrt = format!("MD{i:012}");
    let setl = format!("ST{i:012}");
    let fen = 5_000 + (i * 7_919) % 900_000;
    let amount = format!("{}.{:02}", fen / 100, fen % 100);
    let request = format!(
        r#"{{"infno":"{infno}","msgid":"{msgid}","mdtrtarea_admvs":"440300","insuplc_admdvs":"440300","recer_sys_code":"MDS","dev_no":"","dev_safe_info":"","cainfo":"","signtype":"SM3","infver":"V1.0","opter_type":"1","opter":"0001","opter_name":"收费员","inf_time":"{}","fixmedins_code":"{code}","fixmedins_name":"深圳市示例医院","sign_no":"","input":{{"data":{{"psn_no":"{psn}","mdtrt_cert_type":"02","mdtrt_cert_no":"440300199001011234","med_type":"11","medfee_sumamt":"{amount}","psn_setlway":"01","mdtrt_id":"{mdtrt}","chrg_bchno":"CB{i:010}","insutype":"310","acct_used_flag":"1","invono":"","fulamt_ownpay_amt":"0.00","overlmt_selfpay":"0.00","preselfpay_amt":"0.00","inscp_scp_amt":"{amount}"}}}}}}"#,
        &at[..19].replace('T', " ")
    );
    let answer = format!(
        r#"{{"infcode":0,"inf_refmsgid":"440300{}{i:010}","refmsg_time":"{}","respond_time":"{}","err_msg":null,"warn_msg":null,"output":{{"setlinfo":{{"setl_id":"{setl}","mdtrt_id":"{mdtrt}","psn_no":"{psn}","psn_name":"张三","psn_cert_type":"01","certno":"440300199001011234","gend":"1","naty":"01","brdy":"1990-01-01","age":36,"insutype":"310","psn_type":"1101","cvlserv_flag":"0","setl_time":"{}","mdtrt_cert_type":"02","med_type":"11","medfee_sumamt":"{amount}","fulamt_ownpay_amt":"0.00","overlmt_selfpay":"0.00","preselfpay_amt":"0.00","inscp_scp_amt":"{amount}","hifp_pay":"{amount}","pool_prop_selfpay":"0.00","cvlserv_pay":"0.00","hifes_pay":"0.00","hifmi_pay":"0.00","hifob_pay":"0.00","maf_pay":"0.00","oth_pay":"0.00","fund_pay_sumamt":"{amount}","psn_part_amt":"0.00","acct_pay":"0.00","psn_cash_pay":"0.00","hosp_part_amt":"0.00","balc":"1000.00","acct_mulaid_pay":"0.00","medins_setl_id":"{msgid}","clr_optins":"440300","clr_way":"1","clr_type":"11"}}}}}}"#,
        &at[..10].replace('-', ""),
        &at[..19].replace(['-', 'T', ':'], ""),
        &at[..19].replace(['-', 'T', ':'], ""),
        &at[..19].replace('T', " "),
    );
    let claim = if matches!(infno, "2207" | "2208") {
        format!(
            r#","claim":{{"setl_id":"{setl}","mdtrt_id":"{mdtrt}","psn_no":"{psn}","fixmedins_code":"{code}","kind":"{}","amounts":{{"medfee_sumamt":{fen},"fund_pay_sumamt":{fen},"psn_cash_pay":0,"acct_pay":0}},"settled_at":"{at}"}}"#,
            if infno == "2208" {
                "reversal"
            } else {
                "settlement"
            }
        )
    } else {
        String::new()
    };
    let payload = format!(
        r#"{{"infno":"{infno}","fixmedins_code":"{code}","msgid":"{msgid}","request":{request},"answer":{answer}{claim},"core":"embedded","received_at":"{at}"}}"#
    );
    let record = JournalRecord::new(
        if claim.is_empty() {
            "nhsa.request"
        } else {
            "nhsa.settlement"
        },
        payload.into_bytes(),
    )
    .with_key(code, msgid);
    (record, answer.into_bytes())
}

/// The i-th record of the run: institution skewed (index ∝ u³, so the largest of 2,000 has
/// about 8 % of the traffic), person uniform, transaction by its share, time increasing.
fn nth(a: &Args, rng: &mut StdRng, i: u64) -> (JournalRecord, Vec<u8>) {
    let u = rng.random_range(0..a.institutions);
    let inst = u * u * u / (a.institutions * a.institutions);
    let psn = person(rng.random_range(0..a.persons));
    let mut pick = rng.random_range(0..1000u64);
    let infno = INFNOS
        .iter()
        .find(|(_, share)| {
            let hit = pick < *share;
            pick = pick.saturating_sub(*share);
            hit
        })
        .map_or("2207", |(n, _)| *n);
    let span_ms = DAYS * 86_400_000;
    let at_ms = START_UNIX_S * 1000 + i64::try_from(i * span_ms / a.records.max(1)).unwrap_or(0);
    exchange(i, &code(inst), &psn, infno, at_ms)
}

fn sha(i: u64) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&i.to_be_bytes());
    s
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
    let mut rng = StdRng::seed_from_u64(a.seed);
    let mut known = Known::default();
    let mut per_institution = std::collections::HashMap::<String, u64>::new();
    let started = Instant::now();
    for i in 0..a.records {
        let (record, answer) = nth(a, &mut rng, i);
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
        match store
            .append_idempotent(record, sha(i), answer)
            .expect("append")
        {
            medsettle_store::IdempotentOutcome::Appended { .. } => {}
            other => panic!("record {i} was not appended: {other:?}"),
        }
        if (i + 1) % 100_000 == 0 {
            eprintln!("fill: {} records, {:?}", i + 1, started.elapsed());
        }
    }
    store.sync().expect("sync");
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
    let inst = |rng: &mut StdRng| {
        let u = rng.random_range(0..a.institutions);
        code(u * u * u / (a.institutions * a.institutions))
    };
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
    let mut rng = StdRng::seed_from_u64(a.seed + u64::from(round));
    let records: Vec<(JournalRecord, Vec<u8>)> =
        (0..a.append_records).map(|i| nth(a, &mut rng, i)).collect();
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
                let mut rng = StdRng::seed_from_u64(seed);
                let mut lat = Vec::new();
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let (record, answer) = nth(&args, &mut rng, i);
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
