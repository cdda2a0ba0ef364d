//! Console overview benchmark (issue 18: "the overview renders in under 200 ms against a
//! journal of 1M records"): the page `/console/` over a real gateway workspace whose journal
//! holds a million records of settlement traffic, consumed, closed, paid and answered.
//!
//! `overview-bench [--records N] [--institutions M] [--persons P] [--renders R] [--seed S]
//!  [--dir DIR]` (defaults: 1,000,000 records, 2,000 institutions, 200,000 persons, 50
//! renders, seed 18, a temporary directory). With `--dir`, a workspace built there before is
//! opened as it is (the set-up takes minutes; the renders are what is measured).
//!
//! 1. **Workspace**: `medsettle init` (in-process), its institutions replaced by M enrolled
//!    ones of the traffic's codes, levels 3/2/1 in turn.
//! 2. **Journal**: N exchange records of `medsettle_bench::exchanges` (the generator
//!    `browse-bench` uses: 2207 settlements and 2208 reversals carry the canonical claim)
//!    over 30 days, appended with `append_idempotent`, record index on, as the gateway does.
//! 3. **Settlement**: the engine consumes the journal; every pay date whose settlement dates
//!    are all before the last traffic day is closed (approved at 09:00 of the pay date) and
//!    its batch dropped as a payment file; the simulated bank answers every file (all paid)
//!    and the receipts are applied to the file drop's payment states (not fed to the engine:
//!    see `settle`). The last day's claims stay open.
//! 4. **Renders**: the workspace opened as the gateway opens it (a fresh process's engine:
//!    the first render loads the engine's state, reported apart), then R renders of
//!    `medsettle_ops::console::render(ops, "", …)` — what `GET /console/` runs after reading
//!    the gateway's `/metrics` (a fixed exposition here): every panel's data and the HTML.
//!    p50 / p99 / max in milliseconds.
//!
//! Integer arithmetic only (the workspace warns on floating point).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use medsettle_bench::exchanges::{DAYS, Generator, POOL, START_UNIX_S, Shape, append_all, code};
use medsettle_canonical::{CHINA_OFFSET, Institution};
use medsettle_ops::{Config, Operations};
use medsettle_store::{Durability, SledStore, Store, StoreConfig};

struct Args {
    shape: Shape,
    renders: usize,
    dir: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        shape: Shape {
            records: 1_000_000,
            institutions: 2_000,
            persons: 200_000,
            seed: 18,
        },
        renders: 50,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        let mut num = || value().parse::<u64>().expect("a number");
        match k.as_str() {
            "--records" => a.shape.records = num(),
            "--institutions" => a.shape.institutions = num(),
            "--persons" => a.shape.persons = num(),
            "--seed" => a.shape.seed = num(),
            "--renders" => a.renders = usize::try_from(num()).expect("a count"),
            "--dir" => a.dir = Some(PathBuf::from(value())),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// Written into the workspace once its set-up completed.
const READY_FILE: &str = "overview-bench.ready";

/// M enrolled institutions with the traffic's codes, as an institutions file.
fn institutions_toml(count: u64) -> String {
    let levels = ["level3", "level2", "level1"];
    let list: Vec<Institution> = (0..count)
        .map(|i| {
            let c = code(i);
            let entry = format!(
                r#"fixmedins_code = "{c}"
fixmedins_name = "深圳市示例医院{i}"
admdvs = "{POOL}"
level = "{}"
class = "hospital"
status = "enrolled"
account = {{ name = "深圳市示例医院{i}", account = "4420150010005{i:07}", bank_code = "105584000005", bank_name = "中国建设银行深圳分行" }}
"#,
                levels[usize::try_from(i % 3).expect("small")]
            );
            toml::from_str(&entry).expect("an institution")
        })
        .collect();
    let mut file = toml::Table::new();
    file.insert(
        "institution".into(),
        toml::Value::try_from(list).expect("institutions serialize"),
    );
    toml::to_string(&file).expect("TOML")
}

/// `medsettle init` into `ws`, with the traffic's institutions.
fn workspace(ws: &Path, institutions: u64) -> Config {
    let config_path = medsettle_ops::init::run(ws, "127.0.0.1:0", false).expect("medsettle init");
    let config = medsettle_ops::config::load(&config_path).expect("the configuration");
    medsettle_bench::replace_file(
        &config.settlement.institutions,
        institutions_toml(institutions).as_bytes(),
    )
    .expect("write the institutions");
    medsettle_ops::config::load(&config_path).expect("the configuration")
}

/// The journal: every record appended as the national service appends an exchange.
fn fill(config: &Config, shape: Shape) -> Duration {
    let started = Instant::now();
    let store = SledStore::open(
        &config.journal_dir(),
        StoreConfig {
            durability: Durability::None,
            ..config.store.clone()
        },
    )
    .expect("open the journal");
    append_all(&store, &mut Generator::new(shape), shape.records, |_, _| {});
    started.elapsed()
}

/// The settlement dates of the traffic, but the last (left open).
fn closed_settlement_dates() -> Vec<time::Date> {
    let first = time::OffsetDateTime::from_unix_timestamp(START_UNIX_S)
        .expect("a time")
        .to_offset(CHINA_OFFSET)
        .date();
    (0..DAYS - 1)
        .map(|d| first + time::Duration::days(i64::try_from(d).expect("small")))
        .collect()
}

/// Consume, close every pay date whose settlement dates are all closed, drop the batches,
/// let the simulated bank answer, apply the receipts.
fn settle(config: &Config) -> Duration {
    let started = Instant::now();
    let ops = medsettle_ops::open_local(config).expect("open the workspace");
    let (engine, store) = (ops.engine().as_ref(), ops.store().as_ref());
    let caught = engine
        .catch_up(store, &|done, end| {
            if done % 100_000 < 2_000 {
                eprintln!("catch-up: {done} of {end}");
            }
        })
        .expect("catch up");
    eprintln!(
        "catch-up: {} claims taken in, {:.1?}",
        caught.claims_fed,
        started.elapsed()
    );
    let dates = closed_settlement_dates();
    let last_open = *dates.last().expect("days") + time::Duration::days(1);
    let open_pay = engine.pay_date_for(last_open).expect("a pay date");
    let mut pay_dates: Vec<time::Date> = dates
        .iter()
        .map(|d| engine.pay_date_for(*d).expect("a pay date"))
        .filter(|p| *p < open_pay)
        .collect();
    pay_dates.dedup();
    for pay in pay_dates {
        let approved = pay
            .with_hms(9, 0, 0)
            .expect("09:00")
            .assume_offset(CHINA_OFFSET);
        let close = engine
            .close_day(store, pay, approved)
            .expect("close the day");
        medsettle_ops::payfile::drop_for_bank(config, store, &close.batch).expect("drop");
        eprintln!(
            "closed {pay}: {} payments, {:.1?}",
            close.batch.payments.len(),
            started.elapsed()
        );
    }
    // The bank answers every file; the receipts are applied to the file drop's payment states
    // (what `bank status` and the overview's charts read). They are not fed to the engine
    // (`bank::tell_engine`): the engine posts and audits each receipt against its whole ledger,
    // which for the month's ~36,000 receipts at once ran past 25 minutes (BENCHMARKS.md,
    // "Console overview"); the overview reads no receipt status from the engine.
    let cfg = medsettle_ops::open::filedrop_config(config).expect("file drop");
    let plan = medsettle_bank::simulator::OutcomePlan::all_paid(18);
    medsettle_filedrop::simulate_pass(&cfg, &plan).expect("the simulated bank");
    let report = medsettle_ops::bank::scan_inbox(config, store, None).expect("the inbox");
    eprintln!("{}", medsettle_ops::bank::ingest_text(&report));
    started.elapsed()
}

/// A `/metrics` exposition like the gateway's after a busy hour (what the overview's
/// requests-by-transaction panel and traffic chart parse).
fn metrics_text() -> String {
    let mut t = String::new();
    let les = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "+Inf"];
    let mut total = [0u64; 7];
    for (n, infno) in ["1101", "2201", "2204", "2206", "2207", "2208"]
        .iter()
        .enumerate()
    {
        let count = 10_000 * (n as u64 + 1);
        t.push_str(&format!(
            "medsettle_requests_total{{infno=\"{infno}\",outcome=\"ok\"}} {count}\n"
        ));
        for (k, le) in les.iter().enumerate() {
            let below = count * (k as u64 + 93) / 99;
            let below = below.min(count);
            total[k] += below;
            t.push_str(&format!(
                "medsettle_request_duration_by_infno_seconds_bucket{{infno=\"{infno}\",le=\"{le}\"}} {below}\n"
            ));
        }
        t.push_str(&format!(
            "medsettle_request_duration_by_infno_seconds_count{{infno=\"{infno}\"}} {count}\n"
        ));
    }
    for (k, le) in les.iter().enumerate() {
        t.push_str(&format!(
            "medsettle_request_duration_seconds_bucket{{le=\"{le}\"}} {}\n",
            total[k]
        ));
    }
    t.push_str(&format!(
        "medsettle_request_duration_seconds_count {}\n",
        total[les.len() - 1]
    ));
    t
}

/// What changed before each render: the overview keeps what it derives from the outbox and
/// the engine's day aggregates while they are unchanged (`medsettle_ops::console_figures`).
const SCENARIOS: [(&str, fn()); 3] = [
    ("nothing changed since the last render", || {}),
    (
        "the engine's consumer moved (every few seconds under traffic)",
        medsettle_ops::console_figures::forget_fund,
    ),
    (
        "a batch dropped or a receipt file applied (a few times a day)",
        medsettle_ops::console_figures::forget,
    ),
];

/// p50, p99 and max of `samples` (µs), sorted in place.
fn percentiles(samples: &mut [u64]) -> (u64, u64, u64) {
    samples.sort_unstable();
    let at = |pm: usize| samples[(samples.len() - 1) * pm / 1000];
    (at(500), at(990), samples[samples.len() - 1])
}

fn ms(us: u64) -> String {
    format!("{}.{:02}", us / 1000, (us % 1000) / 10)
}

/// One render of `/console/`, timed; panics unless it is the overview page.
fn render_once(ops: &Operations, metrics: &str) -> (u64, usize) {
    let t0 = Instant::now();
    let page = medsettle_ops::console::render(ops, "", None, Some(Ok(metrics.to_owned())))
        .expect("the overview");
    let us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
    assert_eq!(page.status, 200);
    assert!(page.body.starts_with(b"<!DOCTYPE html>"));
    (us, page.body.len())
}

/// What the overview says, to print beside the figures (the set-up is what it claims).
fn figures(ops: &Operations) -> String {
    let o = medsettle_ops::console::overview(ops).expect("the overview's data");
    format!(
        "journal records {}, disk {} MiB, consumer lag {}, open days {}, daily payments charted \
         {} days, instant-share batches {}, days-to-pay institutions {}",
        o.journal_records,
        o.journal_disk_bytes >> 20,
        o.consumer_lag,
        o.open_days.len(),
        o.charts.disbursement.len(),
        o.charts.instant_share.len(),
        o.charts.days_to_pay.len()
    )
}

fn main() {
    let a = args();
    let temp;
    let base = match &a.dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("overview-bench-")
                .tempdir()
                .expect("a temporary directory");
            temp.path().to_owned()
        }
    };
    let ws = base.join("ws");
    println!(
        "overview-bench: {} records, {} institutions, {} persons, seed {}, {} CPUs, workspace {}",
        a.shape.records,
        a.shape.institutions,
        a.shape.persons,
        a.shape.seed,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        ws.display()
    );
    if !ws.join(READY_FILE).exists() {
        let config = workspace(&ws, a.shape.institutions);
        let took = fill(&config, a.shape);
        println!("fill (record index on, none durability): {took:.1?}");
        let took = settle(&config);
        println!("consume, close, drop, bank answers, receipts applied: {took:.1?}");
        std::fs::write(ws.join(READY_FILE), b"").expect("mark ready");
    }
    let config =
        medsettle_ops::config::load(&ws.join("medsettle.toml")).expect("the configuration");
    let t0 = Instant::now();
    let store = medsettle_ops::open::open_store(&config).expect("open the journal");
    let engine = Arc::new(medsettle_ops::open::build_engine(&config).expect("engine"));
    let ops = Operations::new(config, store, engine);
    println!("open (as the gateway opens it): {:.1?}", t0.elapsed());
    let metrics = metrics_text();
    let (first_us, bytes) = render_once(&ops, &metrics);
    println!(
        "first render (loads the engine's state, once per process): {} ms, {bytes} bytes",
        ms(first_us)
    );
    println!("{}", figures(&ops));
    println!("\n| renders of `/console/` | n | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    for (name, forget) in SCENARIOS {
        let mut lat: Vec<u64> = (0..a.renders.max(1))
            .map(|_| {
                forget();
                render_once(&ops, &metrics).0
            })
            .collect();
        let (p50, p99, max) = percentiles(&mut lat);
        println!(
            "| {name} | {} | {} | {} | {} |",
            lat.len(),
            ms(p50),
            ms(p99),
            ms(max)
        );
    }
    // Where the time goes: each panel's read alone, one pass.
    let store = ops.store().as_ref();
    let part = |name: &str, f: &dyn Fn()| {
        let t0 = Instant::now();
        f();
        println!(
            "  {name}: {} ms",
            ms(u64::try_from(t0.elapsed().as_micros()).unwrap_or(0))
        );
    };
    part("Store::summary", &|| {
        store.summary().expect("summary");
    });
    part("Engine::status", &|| {
        ops.engine().status(store).expect("status");
    });
    part(
        "medsettle_filedrop::status (bank status; no longer read by the overview)",
        &|| {
            medsettle_filedrop::status(store).expect("bank status");
        },
    );
    part("console_figures::derive_bank_figures", &|| {
        medsettle_ops::console_figures::derive_bank_figures(store).expect("figures");
    });
    part("charts (figures kept)", &|| {
        medsettle_ops::console::charts(&ops).expect("charts");
    });
    part("  of which: Engine::daily_payments", &|| {
        ops.engine().daily_payments(store).expect("payments");
    });
    part("  of which: file drop payment states", &|| {
        medsettle_filedrop::state::payment_states(store).expect("states");
    });
    part("  of which: file drop batches", &|| {
        medsettle_filedrop::state::batches(store).expect("batches");
    });
    part(
        "  of which: Engine::day_aggregates of every settlement date",
        &|| {
            for d in closed_settlement_dates() {
                ops.engine().day_aggregates(store, d).expect("aggregates");
            }
        },
    );
    part("page::overview (HTML only)", &|| {
        let o = medsettle_ops::console::overview(&ops).expect("data");
        let t0 = Instant::now();
        medsettle_console::overview(&o);
        println!(
            "    HTML: {} ms",
            ms(u64::try_from(t0.elapsed().as_micros()).unwrap_or(0))
        );
    });
    part("legacy undecided", &|| {
        medsettle_service::legacy_commit::undecided(store, None).expect("legacy");
    });
    part(
        "Store::stats (journal stats, not read by the overview)",
        &|| {
            store.stats().expect("stats");
        },
    );
}
