//! The crash-loop bench (issue 15, item 6), short version in `cargo test`: `kill -9` the real
//! gateway again and again under HIS load (outpatient visits through `medsettle-client`) while
//! its inbox watcher applies the bank's receipt files (one delivered twice, others delivered
//! again at random moments), and after **every** kill, with the gateway dead, prove from the
//! journal that
//!
//! * every request answered 200 with infcode 0 is journaled, exactly once (DESIGN.md §3
//!   invariants 2 and 3); no `(fixmedins_code, msgid)` is journaled twice;
//! * no receipt file is applied twice (invariants 4 and 5), and at the end each exactly once;
//! * the payment batch is rendered and dropped once, and the payment file in the outbox keeps
//!   the bytes it was dropped with;
//! * no record is damaged and the journal stays gap-free (offsets 0..record_count).
//!
//! Settings (environment): `CRASH_LOOP_CYCLES` (default 20, the CI version; the bench runs
//! 200, see `tests/scripts/crash_loop.sh`), `CRASH_LOOP_SEED` (kill moments, printed),
//! `MEDSETTLE_BIN` (the binary to crash; default the one cargo built for this test — the
//! script passes the release build), `CRASH_LOOP_SUMMARY` (a file to append the figures to,
//! one Markdown table row).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::his::{EnvelopeBuilder, HisConnection, Insured, Sender, expect_success, yuan_number};
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const CYCLES_DEFAULT: usize = 20;
const CODES: [&str; 3] = ["H44030000001", "H44030000002", "H44030000003"];
/// Concurrent HIS connections during each cycle.
const WORKERS: usize = 6;
/// The gateway runs this long (uniformly) under load before `kill -9`, ms.
const RUN_MS: std::ops::RangeInclusive<u64> = 150..=900;
/// Visits per institution settled "last month" for the payment batch.
const BATCH_VISITS: usize = 2;
/// A receipt file is delivered again every this many cycles.
const REDELIVER_EVERY: usize = 3;
const SETTLE_BOUND: Duration = Duration::from_secs(120);

fn medsettle() -> PathBuf {
    std::env::var_os("MEDSETTLE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(bin)
}

fn cmd_ok(args: &[&str]) -> String {
    let out = Command::new(medsettle()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "medsettle {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One HIS connection's visits (2201 → 2204 → 2206 → 2207); its msgids keep counting across
/// cycles, so none is ever sent twice with different bodies.
struct LoadWorker {
    code: &'static str,
    builder: EnvelopeBuilder,
    persons: Vec<Insured>,
    visit_no: u64,
    /// `(code, msgid)` of every request answered 200 with infcode 0.
    acked: Vec<(String, String)>,
    settled: u64,
}

impl LoadWorker {
    async fn call(&mut self, c: &mut HisConnection, env: Value) -> anyhow::Result<Value> {
        let msgid = env["msgid"].as_str().unwrap().to_owned();
        let infno = env["infno"].as_str().unwrap().to_owned();
        let (s, a) = c.call(&env).await?;
        let out = expect_success(s, &a, &infno)?;
        self.acked.push((self.code.to_owned(), msgid));
        Ok(out)
    }

    async fn visit(&mut self, c: &mut HisConnection) -> anyhow::Result<()> {
        self.visit_no += 1;
        let n = self.visit_no;
        let p = self.persons[n as usize % self.persons.len()].clone();
        let when = "2026-11-20 09:00:00";
        let reg = self.builder.envelope("2201", &p.insuplc_admdvs, json!({"data": {
            "psn_no": p.psn_no, "insutype": p.insutype, "begntime": when,
            "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno,
            "ipt_otp_no": format!("MZ{}{n:010}", &self.code[1..]),
            "atddr_no": "D0001", "dr_name": "门诊医生", "dept_code": "0301", "dept_name": "内科",
            "caty": "A03"
        }}));
        let out = self.call(c, reg).await?;
        let mdtrt_id = out["data"]["mdtrt_id"].as_str().unwrap().to_owned();
        let chrg_bchno = format!("CB{n:010}");
        let pric = 2_000 + (n % 50) as i64 * 11;
        let fees = self.builder.envelope(
            "2204",
            &p.insuplc_admdvs,
            json!({"feedetail": [{
                "feedetl_sn": "F0001", "mdtrt_id": mdtrt_id, "psn_no": p.psn_no,
                "chrg_bchno": chrg_bchno, "rx_circ_flag": "0", "fee_ocur_time": when,
                "med_list_codg": "WM001", "medins_list_codg": "HWM001",
                "det_item_fee_sumamt": yuan_number(pric),
                "cnt": serde_json::from_str::<Value>("1.0000").unwrap(), "pric": yuan_number(pric),
                "bilg_dept_codg": "0301", "bilg_dept_name": "内科", "bilg_dr_codg": "D0001",
                "bilg_dr_name": "门诊医生", "hosp_appr_flag": "1"
            }]}),
        );
        self.call(c, fees).await?;
        let data = json!({
            "psn_no": p.psn_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno,
            "med_type": "11", "medfee_sumamt": yuan_number(pric), "psn_setlway": "01",
            "mdtrt_id": mdtrt_id, "chrg_bchno": chrg_bchno, "acct_used_flag": "1",
            "insutype": p.insutype
        });
        let pre = self
            .builder
            .envelope("2206", &p.insuplc_admdvs, json!({"data": data.clone()}));
        self.call(c, pre).await?;
        let settle = self
            .builder
            .envelope("2207", &p.insuplc_admdvs, json!({"data": data}));
        self.call(c, settle).await?;
        self.settled += 1;
        Ok(())
    }

    /// Visits until `stop` or until the connection dies (the kill).
    async fn run(
        mut self,
        addr: SocketAddr,
        tls: Arc<rustls::ClientConfig>,
        stop: Arc<AtomicBool>,
    ) -> LoadWorker {
        let Ok(mut c) = HisConnection::connect(addr, tls).await else {
            return self;
        };
        while !stop.load(Ordering::SeqCst) {
            if self.visit(&mut c).await.is_err() {
                // The kill, or a refusal of a step: the visit is abandoned either way.
                if stop.load(Ordering::SeqCst) || c.get("/healthz").await.is_err() {
                    break;
                }
            }
        }
        self
    }
}

/// What the journal shows, read incrementally after each kill.
#[derive(Default)]
struct Seen {
    next_offset: u64,
    keys: HashMap<(String, String), u32>,
    /// Receipt file name → SHA-256 of each record applying it.
    applied: BTreeMap<String, Vec<String>>,
    /// Batch id → (rendered, dropped) records.
    batches: BTreeMap<String, (u32, u32)>,
}

impl Seen {
    fn read(&mut self, cfg: &str, when: &str) {
        let stats: Value =
            serde_json::from_str(&cmd_ok(&["journal", "stats", "--json", "--config", cfg]))
                .unwrap();
        assert_eq!(stats["corrupt_offsets"], json!([]), "{when}: {stats}");
        let count = stats["record_count"].as_u64().unwrap();
        assert_eq!(
            stats["last_offset"].as_u64().map_or(0, |l| l + 1),
            count,
            "{when}: the journal has a gap: {stats}"
        );
        assert!(
            count >= self.next_offset,
            "{when}: the journal lost records ({count} < {})",
            self.next_offset
        );
        let from = self.next_offset.to_string();
        for line in cmd_ok(&["journal", "export", "--from", &from, "--config", cfg]).lines() {
            let r: Value = serde_json::from_str(line).unwrap();
            assert!(r.get("error").is_none(), "{when}: unreadable record {line}");
            let offset = r["offset"].as_u64().unwrap();
            assert_eq!(
                offset, self.next_offset,
                "{when}: offsets in order, gap-free"
            );
            self.next_offset += 1;
            if let (Some(c), Some(m)) = (r["fixmedins_code"].as_str(), r["msgid"].as_str()) {
                *self.keys.entry((c.to_owned(), m.to_owned())).or_default() += 1;
            }
            let rec = &r["record"];
            match r["kind"].as_str().unwrap_or_default() {
                "bank.receipt_file.applied" => self
                    .applied
                    .entry(rec["file_name"].as_str().unwrap().to_owned())
                    .or_default()
                    .push(rec["sha256"].as_str().unwrap().to_owned()),
                "bank.batch.rendered" => {
                    let id = rec["batch"]["batch_id"].as_str().unwrap().to_owned();
                    self.batches.entry(id).or_default().0 += 1;
                }
                "bank.batch.dropped" => {
                    let id = rec.as_str().unwrap().to_owned();
                    self.batches.entry(id).or_default().1 += 1;
                }
                _ => {}
            }
        }
        assert_eq!(self.next_offset, count, "{when}: export and stats agree");
        for (k, n) in &self.keys {
            assert_eq!(*n, 1, "{when}: {k:?} journaled {n} times");
        }
        for (name, shas) in &self.applied {
            assert_eq!(
                shas.len(),
                1,
                "{when}: receipt file {name} applied {shas:?}"
            );
        }
        for (id, (r, d)) in &self.batches {
            assert!(
                *r <= 1 && *d <= 1,
                "{when}: batch {id} rendered {r}×, dropped {d}×"
            );
        }
    }
}

/// Every file of `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    dir_names(dir)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .map(|n| {
            let b = std::fs::read(dir.join(&n)).unwrap();
            (n, b)
        })
        .collect()
}

#[test]
fn kill_9_loop_under_load_loses_nothing_acknowledged_and_applies_nothing_twice() {
    let t0 = Instant::now();
    let cycles: usize = std::env::var("CRASH_LOOP_CYCLES")
        .ok()
        .map(|v| v.parse().expect("CRASH_LOOP_CYCLES is a number"))
        .unwrap_or(CYCLES_DEFAULT);
    let seed: u64 = std::env::var("CRASH_LOOP_SEED")
        .ok()
        .map(|v| v.parse().expect("CRASH_LOOP_SEED is a number"))
        .unwrap_or_else(rand::random);
    eprintln!(
        "crash loop: {cycles} cycles, seed {seed}, binary {}",
        medsettle().display()
    );
    let mut rng = StdRng::seed_from_u64(seed);

    // --- Last month (libfaketime): claims settled, the day closed, its payment file dropped.
    let today = today_in_china();
    let back = days_back_to_last_month(today);
    let then = today - time::Duration::days(back);
    let dir = tempfile::tempdir().unwrap();
    let out = medsettle_back(back)
        .args(["init", "--dir", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let calendar = use_test_calendar(dir.path());
    let ws = Workspace { dir, calendar };
    ws.set_server_limit("rate_per_institution_per_second", 0);
    let config = ws.config();
    let cfg = config.to_str().unwrap().to_owned();
    set_key(&config, "bank", "inbox_poll_ms", 50);
    let gw = Gateway::adopt(
        medsettle_back(back)
            .args(["serve", "--listen", "127.0.0.1:0", "--config", &cfg])
            .env("MEDSETTLE_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    outpatient_visits(&ws, gw.addr, &CODES, BATCH_VISITS, then);
    assert!(gw.terminate().success());
    let pay = ws.pay_date(&then.to_string());
    let out = medsettle_at(&format!("{pay} 01:00:00"))
        .args(["bank", "export", "--date", &pay, "--config", &cfg])
        .output()
        .unwrap();
    assert!(out.status.success(), "bank export: {out:?}");
    let outbox_dir = ws.path().join("data/bank/outbox");
    let outbox = files(&outbox_dir);
    assert!(!outbox.is_empty(), "a payment file was dropped");
    // The bank answers (one receipt file delivered twice); what it wrote is kept to deliver
    // again during the loop.
    cmd_ok(&[
        "bank",
        "simulate",
        "--once",
        "--duplicate",
        "--seed",
        "7",
        "--failed-per-mille",
        "300",
        "--config",
        &cfg,
    ]);
    let inbox_dir = ws.path().join("data/bank/inbox");
    let bank_files = files(&inbox_dir);
    assert!(!bank_files.is_empty(), "the bank delivered receipts");
    let setup = t0.elapsed();

    // --- The loop, in real time.
    let rt = runtime();
    let persons = ws.insured();
    let mut workers: Vec<LoadWorker> = (0..WORKERS)
        .map(|w| {
            let code = CODES[w % CODES.len()];
            LoadWorker {
                code,
                builder: EnvelopeBuilder::new(
                    Sender {
                        fixmedins_code: code.into(),
                        fixmedins_name: institution_name(ws.path(), code),
                        mdtrtarea_admvs: "440300".into(),
                    },
                    time::macros::datetime!(2026-11-20 08:00:00) + time::Duration::hours(w as i64),
                ),
                persons: persons.iter().skip(w).step_by(WORKERS).cloned().collect(),
                visit_no: w as u64 * 100_000_000,
                acked: Vec::new(),
                settled: 0,
            }
        })
        .collect();
    let tls: HashMap<&str, Arc<rustls::ClientConfig>> =
        CODES.iter().map(|c| (*c, ws.tls_for(c))).collect();
    let mut seen = Seen::default();
    let mut redelivered = 0usize;
    let loop_start = Instant::now();
    for cycle in 0..cycles {
        if cycle % REDELIVER_EVERY == REDELIVER_EVERY - 1 {
            // The bank delivers one of its files again (data, then trigger; each renamed into
            // place), unless it still waits in the inbox.
            let names: Vec<&String> = bank_files.keys().filter(|n| !n.ends_with(".ok")).collect();
            let name = names[rng.random_range(0..names.len())].clone();
            let trig = format!("{name}.ok");
            if !inbox_dir.join(&name).exists() && bank_files.contains_key(&trig) {
                for n in [&name, &trig] {
                    let tmp = inbox_dir.join(format!(".{n}.crash-loop.tmp"));
                    std::fs::write(&tmp, &bank_files[n]).unwrap();
                    std::fs::rename(&tmp, inbox_dir.join(n)).unwrap();
                }
                redelivered += 1;
            }
        }
        let gw = Gateway::adopt(
            Command::new(medsettle())
                .args(["serve", "--listen", "127.0.0.1:0", "--config", &cfg])
                .env("MEDSETTLE_LOG", "error")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = workers
            .drain(..)
            .map(|w| {
                let tls = tls[w.code].clone();
                rt.spawn(w.run(gw.addr, tls, stop.clone()))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.random_range(RUN_MS)));
        gw.kill9();
        stop.store(true, Ordering::SeqCst);
        workers = handles
            .into_iter()
            .map(|h| rt.block_on(h).unwrap())
            .collect();
        let when = format!("after kill {cycle}");
        seen.read(&cfg, &when);
        for w in &workers {
            for k in &w.acked {
                assert_eq!(
                    seen.keys.get(k),
                    Some(&1),
                    "{when}: acknowledged {k:?} is not in the journal"
                );
            }
        }
        assert_eq!(
            files(&outbox_dir),
            outbox,
            "{when}: the outbox changed (payment file bytes must never change)"
        );
    }
    let loop_time = loop_start.elapsed();

    // --- No more kills: the watcher applies what is left; everything exactly once.
    let gw = Gateway::adopt(
        Command::new(medsettle())
            .args(["serve", "--listen", "127.0.0.1:0", "--config", &cfg])
            .env("MEDSETTLE_LOG", "error")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + SETTLE_BOUND;
    while dir_names(&inbox_dir).iter().any(|n| !n.starts_with('.')) {
        assert!(
            Instant::now() < deadline,
            "receipts still in the inbox: {:?}",
            dir_names(&inbox_dir)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(gw.terminate().success());
    seen.read(&cfg, "after the loop");
    let want: BTreeMap<String, Vec<String>> = bank_files
        .iter()
        .filter(|(n, _)| !n.ends_with(".ok"))
        .map(|(n, b)| (n.clone(), vec![sha256_hex(b)]))
        .collect();
    assert_eq!(
        seen.applied, want,
        "each receipt file applied exactly once, with the bank's bytes"
    );
    assert!(
        seen.batches.values().all(|rd| *rd == (1, 1)),
        "the batch rendered and dropped once: {:?}",
        seen.batches
    );
    assert_eq!(files(&outbox_dir), outbox, "the payment file's bytes");

    let acked: usize = workers.iter().map(|w| w.acked.len()).sum();
    let settled: u64 = workers.iter().map(|w| w.settled).sum();
    assert!(
        acked > cycles,
        "the load was too light to prove anything: {acked} acknowledged in {cycles} cycles"
    );
    let row = format!(
        "| {cycles} | {acked} | {settled} | {} | {redelivered} | {} | {:.0} s (setup {:.0} s) | 0 | {seed} |",
        seen.next_offset,
        want.len(),
        loop_time.as_secs_f64(),
        setup.as_secs_f64()
    );
    eprintln!(
        "crash loop: {cycles} kill -9 cycles, {acked} requests acknowledged ({settled} \
         settlements), {} journal records, {} receipt files applied once each ({redelivered} \
         delivered again), loop {loop_time:?}, total {:?}; no violation\n{row}",
        seen.next_offset,
        want.len(),
        t0.elapsed()
    );
    if let Some(path) = std::env::var_os("CRASH_LOOP_SUMMARY") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(f, "{row}").unwrap();
    }
}
