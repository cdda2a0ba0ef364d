//! `kill -9` end-to-end test of the bank file drop with the real `medsettle` binary (issue 6,
//! DESIGN.md §3 invariants 2, 4, 5; bank-files.md §4).
//!
//! Claims of three paying institutions (and the suspended H44030000004, which is skipped) are
//! settled through the gateway, the gateway is stopped and the day is closed with
//! `settle daily`. The workspace is then copied: the copy runs `bank export`, `bank simulate`
//! and `bank ingest` uninterrupted and is the oracle (payment file bytes, receipt files,
//! final payment states, `bank status` text) and the measure of how long each command takes.
//!
//! In the original workspace a loop spawns `bank export` (later `bank ingest` or `export`,
//! each together with a concurrent `bank simulate --once --duplicate` with a fixed mix of
//! failed / pending-then-paid / paid-then-returned outcomes) and SIGKILLs the children at
//! random moments spread over their measured run time. After every cycle the directories may
//! only hold the oracle's bytes under the oracle's names (in-flight hidden `.tmp` files
//! aside). Then everything runs to completion without kills, and the test proves:
//! * one payment file + one trigger for the batch, the oracle's bytes, with the SHA-256,
//!   count and control sum the trigger announces; one `rendered` and one `dropped` record;
//! * every receipt file the bank wrote applied by exactly one journal record (same name and
//!   SHA-256 as the oracle's), archived, none left in the inbox, none rejected, no alert;
//! * every payment in the status the bank's plan gives it, its journaled statuses strictly
//!   forward, and the settlement engine told the same final status (only a receipt proves
//!   payment, IS-D-6/7);
//! * `bank status` splits the batch's control sum by status and equals the oracle's;
//! * archived receipts fed to `bank ingest` again are duplicates: nothing applied twice.
//!
//! The kill moments come from a fixed seed (`BANK_CRASH_SEED` overrides it); the process
//! timing still varies from run to run, so the seed is printed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::his::{self, EnvelopeBuilder, FeeLine, Sender};
use common::*;
use medsettle_bank::{OutcomePlan, trigger};
use medsettle_canonical::{Money, PaymentBatch, ReceiptStatus};
use medsettle_filedrop::state::{
    BatchRecord, InboxFileRecord, InboxOutcome, KIND_BATCH_DROPPED, KIND_BATCH_RENDERED,
    KIND_RECEIPT_ALERT, KIND_RECEIPT_FILE, KIND_RECEIPT_REJECTED, PaymentState, SPACE_OUTBOX_NAME,
    SPACE_PAYMENT, batches, inbox_files, payment_states,
};
use medsettle_filedrop::{BatchState, PaymentStatus};
use medsettle_store::{SledStore, StateWrite, Store, StoreConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// Institutions paid by the daily close; the fourth is suspended and must be skipped.
const PAID: [&str; 3] = ["H44030000001", "H44030000002", "H44030000003"];
const SUSPENDED: &str = "H44030000004";
const VISITS_PER_INSTITUTION: usize = 2;

/// Cycles that only export (the drop itself); later cycles also run the bank and the inbox.
const EXPORT_ONLY_CYCLES: usize = 6;
/// At least this many kill cycles; more while the loop is within `LOOP_BUDGET` (a bound on
/// the test's length, not an assertion about speed), at most `CYCLES_MAX`.
const CYCLES_MIN: usize = 18;
const CYCLES_MAX: usize = 300;
const LOOP_BUDGET: Duration = Duration::from_secs(45);
/// The kill lands uniformly in [0, KILL_SPREAD_PERCENT % of the measured run time]: mostly
/// during the work, sometimes after it (the process then must have exited successfully).
const KILL_SPREAD_PERCENT: u64 = 125;
/// Floor of a measured run time, milliseconds (process start + store open dominate).
const RUN_MS_FLOOR: u64 = 20;
/// Default seed of the kill moments (override with `BANK_CRASH_SEED`).
const KILL_SEED_DEFAULT: u64 = 0x6ba9_c0de_2026;
/// Completion rounds (export, simulate, ingest) after the loop; 3 suffice without kills.
const FINISH_ROUNDS_MAX: usize = 10;

/// The simulated bank's mix: with three payments the test picks a seed that gives one of
/// each non-trivial outcome.
const FAILED_PER_MILLE: u16 = 250;
const PENDING_PER_MILLE: u16 = 250;
const RETURNED_PER_MILLE: u16 = 250;
const PLAN_SEED_SEARCH_MAX: u64 = 100_000;

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// An in-flight temp file of `fsio::write_atomic` for one of `finals`: `.<name>.<pid>-<n>.tmp`
/// (hidden and `.tmp`: documented as never picked up by a reader).
fn is_temp_of(name: &str, finals: &BTreeSet<String>) -> bool {
    name.ends_with(".tmp") && finals.iter().any(|f| name.starts_with(&format!(".{f}.")))
}

/// Paths and arguments of one workspace.
struct Ws {
    root: PathBuf,
    pay_date: String,
    sim_seed: u64,
}

impl Ws {
    fn cfg(&self) -> String {
        s(&self.root.join("medsettle.toml")).to_owned()
    }
    fn bank(&self, sub: &str) -> PathBuf {
        self.root.join("data/bank").join(sub)
    }
    fn export_args(&self) -> Vec<String> {
        let v = [
            "bank",
            "export",
            "--date",
            &self.pay_date,
            "--config",
            &self.cfg(),
        ];
        v.iter().map(|a| a.to_string()).collect()
    }
    fn ingest_args(&self) -> Vec<String> {
        ["bank", "ingest", "--config", &self.cfg()]
            .iter()
            .map(|a| a.to_string())
            .collect()
    }
    fn simulate_args(&self) -> Vec<String> {
        let v = [
            "bank".to_owned(),
            "simulate".to_owned(),
            "--once".to_owned(),
            "--duplicate".to_owned(),
            "--seed".to_owned(),
            self.sim_seed.to_string(),
            "--failed-per-mille".to_owned(),
            FAILED_PER_MILLE.to_string(),
            "--pending-per-mille".to_owned(),
            PENDING_PER_MILLE.to_string(),
            "--returned-per-mille".to_owned(),
            RETURNED_PER_MILLE.to_string(),
            "--config".to_owned(),
            self.cfg(),
        ];
        v.to_vec()
    }
    fn status_text(&self) -> String {
        run_ok(&["bank", "status", "--config", &self.cfg()])
    }
    fn open_store(&self) -> SledStore {
        SledStore::open(&self.root.join("data/journal"), StoreConfig::default())
            .expect("open the workspace's store (no medsettle process may be running)")
    }
}

fn run_args(args: &[String]) -> String {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok(&a)
}

/// A number printed as `<label> N` / `N <label>` in a command's output.
fn count_before(out: &str, label: &str) -> u64 {
    let at = out
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in output:\n{out}"));
    out[..at]
        .split(|c: char| !c.is_ascii_digit())
        .rfind(|t| !t.is_empty())
        .unwrap_or_else(|| panic!("no number before {label:?} in:\n{out}"))
        .parse()
        .unwrap()
}

/// Runs export, simulate and ingest until nothing moves; returns the rounds' outputs.
fn run_to_completion(ws: &Ws) -> Vec<String> {
    let mut log = Vec::new();
    for _ in 0..FINISH_ROUNDS_MAX {
        let export = run_args(&ws.export_args());
        let sim = run_args(&ws.simulate_args());
        let ingest = run_args(&ws.ingest_args());
        let written = count_before(&sim, "receipt files\n");
        let applied = count_before(&ingest, "applied, ");
        let duplicate = count_before(&ingest, "duplicate (no-op)");
        log.push(format!("{export}{sim}{ingest}"));
        let inbox_files: Vec<String> = dir_names(&ws.bank("inbox"))
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect();
        let held = dir_names(&ws.bank("bank-sim/held"));
        if written == 0
            && applied == 0
            && duplicate == 0
            && inbox_files.is_empty()
            && held.is_empty()
        {
            return log;
        }
    }
    panic!(
        "the file drop did not settle within {FINISH_ROUNDS_MAX} uninterrupted rounds:\n{}",
        log.join("\n---\n")
    );
}

/// What the uninterrupted copy produced.
struct Oracle {
    batch: PaymentBatch,
    file_name: String,
    trigger_name: String,
    file: Vec<u8>,
    trigger: Vec<u8>,
    /// Receipt file name → (data bytes, trigger bytes), from the archive.
    receipts: BTreeMap<String, (Vec<u8>, Vec<u8>)>,
    final_status: BTreeMap<String, PaymentStatus>,
    status_text: String,
    export_ms: u64,
    simulate_ms: u64,
    ingest_ms: u64,
}

fn timed(args: &[String]) -> (String, u64) {
    let t = Instant::now();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&a);
    let ms = (t.elapsed().as_millis() as u64).max(RUN_MS_FLOOR);
    assert!(
        out.status.success(),
        "uninterrupted run (no kill yet): medsettle {a:?} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8(out.stdout).expect("UTF-8 stdout"), ms)
}

fn plan(seed: u64) -> OutcomePlan {
    receipt_mix(
        seed,
        FAILED_PER_MILLE,
        PENDING_PER_MILLE,
        RETURNED_PER_MILLE,
    )
}

/// The first seed whose plan fails one payment, pays one after a pending receipt and returns
/// one after paying it (deterministic for the batch's payment ids).
fn choose_sim_seed(batch: &PaymentBatch) -> u64 {
    seed_with_every_outcome(batch, plan, PLAN_SEED_SEARCH_MAX)
}

fn the_batch(store: &SledStore) -> (BatchRecord, Option<BatchState>) {
    let mut all = batches(store).expect("read bank.batch");
    assert_eq!(all.len(), 1, "exactly one batch is journaled");
    all.pop().unwrap()
}

fn oracle(ws: &mut Ws) -> Oracle {
    let (_, export_ms) = timed(&ws.export_args());
    let (rec, state) = {
        let store = ws.open_store();
        the_batch(&store)
    };
    assert_eq!(
        state,
        Some(BatchState::Dropped),
        "uninterrupted export drops"
    );
    ws.sim_seed = choose_sim_seed(&rec.batch);
    let (sim, simulate_ms) = timed(&ws.simulate_args());
    assert!(
        count_before(&sim, "receipt files\n") >= 3,
        "the bank answers with several receipt files: {sim}"
    );
    let (ingest, ingest_ms) = timed(&ws.ingest_args());
    assert!(
        count_before(&ingest, "applied, ") >= 3,
        "uninterrupted ingest applies the receipts: {ingest}"
    );
    run_to_completion(ws);

    let outbox = ws.bank("outbox");
    let archive = ws.bank("archive");
    let mut receipts = BTreeMap::new();
    for n in dir_names(&archive) {
        if n.ends_with(".ok") {
            continue;
        }
        let data = fs::read(archive.join(&n)).unwrap();
        let trig = fs::read(archive.join(format!("{n}.ok"))).unwrap();
        receipts.insert(n, (data, trig));
    }
    let p = plan(ws.sim_seed);
    let final_status: BTreeMap<String, PaymentStatus> = rec
        .batch
        .payments
        .iter()
        .map(|x| {
            let st = PaymentStatus::from_receipt(p.outcome_for(&x.payment_id).final_status());
            (x.payment_id.clone(), st)
        })
        .collect();
    {
        let store = ws.open_store();
        let states: BTreeMap<String, PaymentState> =
            payment_states(&store).unwrap().into_iter().collect();
        for (id, want) in &final_status {
            assert_eq!(
                states.get(id).map(|p| p.status),
                Some(*want),
                "oracle run: payment {id} does not end as the bank's plan says"
            );
        }
    }
    Oracle {
        file: fs::read(outbox.join(&rec.file_name)).unwrap(),
        trigger: fs::read(outbox.join(&rec.trigger_name)).unwrap(),
        file_name: rec.file_name,
        trigger_name: rec.trigger_name,
        batch: rec.batch,
        receipts,
        final_status,
        status_text: ws.status_text(),
        export_ms,
        simulate_ms,
        ingest_ms,
    }
}

// ---------------------------------------------------------------------------------------------
// Checks between cycles: only the oracle's bytes under the oracle's names.
// ---------------------------------------------------------------------------------------------

fn check_outbox(ws: &Ws, o: &Oracle, when: &str) {
    let dir = ws.bank("outbox");
    let finals: BTreeSet<String> = [o.file_name.clone(), o.trigger_name.clone()].into();
    let present = dir_names(&dir);
    for n in &present {
        if *n == o.file_name {
            let b = fs::read(dir.join(n)).unwrap();
            assert!(
                b == o.file,
                "{when}: outbox {n} differs from the uninterrupted render (sha {} vs {}): two different files for one batch",
                sha256_hex(&b),
                sha256_hex(&o.file)
            );
        } else if *n == o.trigger_name {
            let b = fs::read(dir.join(n)).unwrap();
            assert!(
                b == o.trigger,
                "{when}: trigger {n} differs from the uninterrupted one:\n{}",
                String::from_utf8_lossy(&b)
            );
            assert!(
                present.contains(&o.file_name),
                "{when}: trigger {n} exists without its payment file"
            );
        } else {
            assert!(
                is_temp_of(n, &finals),
                "{when}: stray file {n:?} in the outbox (only {finals:?} and their hidden temp files may be there)"
            );
        }
    }
}

/// The inbox or the archive: receipt files and triggers with the oracle's bytes only.
fn check_receipt_dir(dir: &Path, o: &Oracle, temps_allowed: bool, when: &str) {
    let mut finals = BTreeSet::new();
    for n in o.receipts.keys() {
        finals.insert(n.clone());
        finals.insert(format!("{n}.ok"));
    }
    for n in dir_names(dir) {
        if let Some((data, _)) = o.receipts.get(&n) {
            let b = fs::read(dir.join(&n)).unwrap();
            assert!(
                b == *data,
                "{when}: {}/{n} differs from the bank's file (sha {} vs {})",
                dir.display(),
                sha256_hex(&b),
                sha256_hex(data)
            );
        } else if let Some((_, trig)) = n.strip_suffix(".ok").and_then(|d| o.receipts.get(d)) {
            let b = fs::read(dir.join(&n)).unwrap();
            assert!(
                b == *trig,
                "{when}: trigger {}/{n} differs from the bank's",
                dir.display()
            );
        } else {
            assert!(
                temps_allowed && is_temp_of(&n, &finals),
                "{when}: unexpected file {n:?} in {} (not one of the bank's receipt files {:?})",
                dir.display(),
                o.receipts.keys().collect::<Vec<_>>()
            );
        }
    }
}

fn check_dirs(ws: &Ws, o: &Oracle, when: &str) {
    check_outbox(ws, o, when);
    check_receipt_dir(&ws.bank("inbox"), o, true, when);
    check_receipt_dir(&ws.bank("archive"), o, false, when);
    let rejected = dir_names(&ws.bank("rejected"));
    assert!(
        rejected.is_empty(),
        "{when}: receipt files were rejected or raised an alert (same name, other bytes?): {rejected:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Kill cycles.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cmd {
    Export,
    Simulate,
    Ingest,
}

struct Running {
    cmd: Cmd,
    child: Child,
    kill_at: Instant,
    log: PathBuf,
}

fn spawn(cmd: Cmd, args: &[String], delay_ms: u64, logs: &Path, slot: usize) -> Running {
    let log = logs.join(format!("{slot}-{cmd:?}.log"));
    let out = File::create(&log).unwrap();
    let err = out.try_clone().unwrap();
    let child = Command::new(bin())
        .args(args)
        .env("MEDSETTLE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn medsettle");
    Running {
        cmd,
        child,
        kill_at: Instant::now() + Duration::from_millis(delay_ms),
        log,
    }
}

/// What became of one child.
struct Ended {
    cmd: Cmd,
    /// The SIGKILL landed while it was running.
    killed: bool,
    /// It ended by itself with a failure: `(status, output)`.
    failed: Option<String>,
}

/// SIGKILLs each child at its moment (if still running) and reaps it.
fn kill_all(mut running: Vec<Running>, when: &str) -> Vec<Ended> {
    running.sort_by_key(|r| r.kill_at);
    let mut out = Vec::new();
    for mut r in running {
        let now = Instant::now();
        if r.kill_at > now {
            std::thread::sleep(r.kill_at - now);
        }
        if r.child.try_wait().expect("try_wait").is_none() {
            r.child.kill().expect("SIGKILL");
        }
        let st: ExitStatus = r.child.wait().expect("reap");
        let killed = st.signal() == Some(9);
        let failed = (!killed && !st.success()).then(|| {
            let log = fs::read_to_string(&r.log).unwrap_or_default();
            // Nothing can go on from here: every later command fails the same way.
            assert!(
                !log.contains("cannot open the journal"),
                "{when}: after a kill -9 the store no longer opens (medsettle {:?}, {st}); with \
                 BANK_CRASH_KEEP=1 the workspace is kept for a post-mortem:\n{log}",
                r.cmd
            );
            format!(
                "{when}: medsettle {:?} ended by itself with {st}:\n{log}",
                r.cmd
            )
        });
        out.push(Ended {
            cmd: r.cmd,
            killed,
            failed,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Setup: claims through the gateway, the day closed.
// ---------------------------------------------------------------------------------------------

fn settle_claims(ws: &Workspace) -> time::Date {
    let persons: Vec<his::Insured> = ws
        .insured()
        .into_iter()
        .filter(|p| p.insutype == "310")
        .collect();
    let names = std::fs::read_to_string(ws.path().join("institutions.toml")).unwrap();
    let names: toml::Table = toml::from_str(&names).unwrap();
    let name_of = |code: &str| -> String {
        names["institution"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["fixmedins_code"].as_str() == Some(code))
            .and_then(|i| i["fixmedins_name"].as_str())
            .unwrap_or_else(|| panic!("{code} in institutions.toml"))
            .to_owned()
    };
    let gw = ws.serve_env(&[], &[("MEDSETTLE_LOG", "warn")]);
    let today = time::OffsetDateTime::now_utc().to_offset(medsettle_canonical::CHINA_OFFSET);
    let rt = runtime();
    let codes: Vec<&str> = PAID.iter().copied().chain([SUSPENDED]).collect();
    rt.block_on(async {
        for (i, code) in codes.iter().enumerate() {
            let mut conn = his::HisConnection::connect(gw.addr, ws.tls_for(code))
                .await
                .unwrap();
            let base = time::PrimitiveDateTime::new(today.date(), time::Time::MIDNIGHT);
            let mut b = EnvelopeBuilder::new(
                Sender {
                    fixmedins_code: (*code).into(),
                    fixmedins_name: name_of(code),
                    mdtrtarea_admvs: "440300".into(),
                },
                base,
            );
            for n in 0..VISITS_PER_INSTITUTION {
                let p = &persons[i * VISITS_PER_INSTITUTION + n];
                let lines = vec![
                    FeeLine {
                        med_list_codg: "EXAM002".into(),
                        units: 1,
                        pric_fen: 60_000 + (i * 1_000 + n * 137) as i64,
                    },
                    FeeLine {
                        med_list_codg: "WM001".into(),
                        units: 2,
                        pric_fen: 1_850,
                    },
                ];
                his::outpatient_visit(&mut conn, &mut b, p, &lines, n as u64)
                    .await
                    .unwrap_or_else(|e| panic!("{code} visit {n}: {e:#}"));
            }
        }
    });
    assert!(gw.terminate().success(), "gateway stops cleanly");
    today.date()
}

// ---------------------------------------------------------------------------------------------
// Final proofs.
// ---------------------------------------------------------------------------------------------

fn receipt_of(p: PaymentStatus) -> Option<ReceiptStatus> {
    match p {
        PaymentStatus::Sent => None,
        PaymentStatus::Accepted => Some(ReceiptStatus::Accepted),
        PaymentStatus::Pending => Some(ReceiptStatus::Pending),
        PaymentStatus::Paid => Some(ReceiptStatus::Paid),
        PaymentStatus::Failed => Some(ReceiptStatus::Failed),
        PaymentStatus::Returned => Some(ReceiptStatus::Returned),
    }
}

/// What the journal says happened in the file drop.
#[derive(Default)]
struct JournalFacts {
    rendered: usize,
    dropped: usize,
    /// Receipt file name → SHA-256 of each `applied` record.
    applied: BTreeMap<String, Vec<String>>,
    rejected: usize,
    alerts: usize,
    /// Payment id → statuses written, in journal order.
    history: BTreeMap<String, Vec<PaymentStatus>>,
}

fn journal_facts(store: &SledStore, batch_id: &str) -> JournalFacts {
    let mut f = JournalFacts::default();
    for item in store.export(0) {
        let (offset, r) = item.unwrap_or_else(|e| panic!("corrupt journal record: {e}"));
        match r.kind.as_str() {
            KIND_BATCH_RENDERED => {
                let b: BatchRecord = serde_json::from_slice(&r.payload).unwrap();
                assert_eq!(b.batch.batch_id, batch_id, "rendered record at {offset}");
                f.rendered += 1;
            }
            KIND_BATCH_DROPPED => {
                assert_eq!(r.payload, batch_id.as_bytes(), "dropped record at {offset}");
                f.dropped += 1;
            }
            KIND_RECEIPT_FILE => {
                let rec: InboxFileRecord = serde_json::from_slice(&r.payload).unwrap();
                f.applied.entry(rec.file_name).or_default().push(rec.sha256);
            }
            KIND_RECEIPT_REJECTED => f.rejected += 1,
            KIND_RECEIPT_ALERT => f.alerts += 1,
            _ => {}
        }
        for w in &r.state_writes {
            if let StateWrite::Put { space, key, value } = w
                && space == SPACE_PAYMENT
            {
                let st: PaymentState = serde_json::from_slice(value).unwrap();
                f.history
                    .entry(String::from_utf8(key.clone()).unwrap())
                    .or_default()
                    .push(st.status);
            }
        }
    }
    f
}

/// The settlement engine's view of each daily payment (`engine.agg` `payments/<id>`).
fn engine_payment_status(store: &SledStore) -> BTreeMap<String, Option<ReceiptStatus>> {
    let mut out = BTreeMap::new();
    for kv in store.scan_prefix("engine.agg", b"payments/").unwrap() {
        let (k, v) = kv.unwrap();
        let id = String::from_utf8(k).unwrap()["payments/".len()..].to_owned();
        let v: Value = serde_json::from_slice(&v).unwrap();
        let st: Option<ReceiptStatus> = serde_json::from_value(v["status"].clone())
            .unwrap_or_else(|e| panic!("engine payment {id}: status {}: {e}", v["status"]));
        out.insert(id, st);
    }
    out
}

fn prove_final(ws: &Ws, o: &Oracle) {
    let outbox = ws.bank("outbox");
    let inbox = ws.bank("inbox");
    let archive = ws.bank("archive");

    // --- one payment file per batch, as announced ---
    let want_outbox: BTreeSet<String> = [o.file_name.clone(), o.trigger_name.clone()].into();
    assert_eq!(
        dir_names(&outbox),
        want_outbox,
        "the outbox must hold exactly one payment file and its trigger (no temp files) after completion"
    );
    let file = fs::read(outbox.join(&o.file_name)).unwrap();
    let trig = trigger::parse(&fs::read(outbox.join(&o.trigger_name)).unwrap())
        .expect("the outbox trigger parses");
    assert_eq!(trig.file_name, o.file_name, "trigger names its file");
    assert_eq!(
        trig.sha256,
        sha256_hex(&file),
        "payment file SHA-256 differs from what its trigger announces"
    );
    assert_eq!(trig.size_bytes, file.len() as u64, "trigger size");
    assert_eq!(
        trig.count,
        o.batch.payments.len() as u64,
        "trigger row count"
    );
    assert_eq!(
        trig.control_sum,
        o.batch.control_sum(),
        "trigger control sum"
    );
    assert!(
        file == o.file,
        "payment file differs from the uninterrupted run's bytes"
    );

    let store = ws.open_store();
    let (rec, state) = the_batch(&store);
    assert_eq!(
        rec.batch, o.batch,
        "the crashed workspace journaled another batch than the uninterrupted run"
    );
    assert_eq!(
        rec.file_sha256,
        sha256_hex(&o.file),
        "journaled file SHA-256"
    );
    assert_eq!(
        state,
        Some(BatchState::Acknowledged),
        "batch state after receipts"
    );
    let names_owned: Vec<String> = store
        .scan_prefix(SPACE_OUTBOX_NAME, b"")
        .unwrap()
        .map(|kv| String::from_utf8(kv.unwrap().0).unwrap())
        .collect();
    assert_eq!(
        names_owned,
        vec![o.file_name.clone()],
        "outbox names reserved"
    );

    let facts = journal_facts(&store, &o.batch.batch_id);
    assert_eq!(
        (facts.rendered, facts.dropped),
        (1, 1),
        "the batch must be journaled rendered once and dropped once"
    );

    // --- every receipt applied exactly once, none lost ---
    assert_eq!(
        (facts.rejected, facts.alerts),
        (0, 0),
        "receipt files were rejected or alerted"
    );
    let applied_names: BTreeSet<&String> = facts.applied.keys().collect();
    let bank_names: BTreeSet<&String> = o.receipts.keys().collect();
    assert_eq!(
        applied_names, bank_names,
        "applied receipt files ≠ the files the bank wrote (a receipt lost, or an unknown one applied)"
    );
    for (name, shas) in &facts.applied {
        let want = sha256_hex(&o.receipts[name].0);
        assert_eq!(
            shas,
            &vec![want],
            "receipt file {name} must be applied by exactly one journal record with the bank's SHA-256"
        );
    }
    let files: BTreeMap<String, InboxFileRecord> =
        inbox_files(&store).unwrap().into_iter().collect();
    for (name, (data, t)) in &o.receipts {
        let r = files
            .get(name)
            .unwrap_or_else(|| panic!("no inbox record for receipt file {name}"));
        assert_eq!(r.sha256, sha256_hex(data), "inbox record sha of {name}");
        assert!(
            matches!(r.outcome, InboxOutcome::Applied { .. }),
            "{name}: {:?}",
            r.outcome
        );
        assert!(
            fs::read(archive.join(name)).ok().as_ref() == Some(data)
                && fs::read(archive.join(format!("{name}.ok"))).ok().as_ref() == Some(t),
            "receipt file {name} (+ trigger) not archived with the bank's bytes"
        );
    }
    assert_eq!(
        files.len(),
        o.receipts.len(),
        "inbox records for files the bank never wrote: {:?}",
        files.keys().collect::<Vec<_>>()
    );
    let left: Vec<String> = dir_names(&inbox).into_iter().collect();
    assert!(
        left.is_empty(),
        "left in the inbox after completion (unapplied receipts or stray temp files): {left:?}"
    );
    let bank_sim = ws.bank("bank-sim");
    let held = bank_sim.join("held");
    let sim_left: Vec<String> = dir_names(&bank_sim)
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .chain(dir_names(&held))
        .collect();
    assert!(
        sim_left.is_empty(),
        "the simulated bank left temp files or undelivered receipts: {sim_left:?}"
    );
    check_receipt_dir(&archive, o, false, "after completion");

    // --- payment states: the plan's outcome, only forward ---
    let states: BTreeMap<String, PaymentState> =
        payment_states(&store).unwrap().into_iter().collect();
    assert_eq!(
        states.keys().collect::<Vec<_>>(),
        o.final_status.keys().collect::<Vec<_>>(),
        "payments known to the file drop"
    );
    for (id, want) in &o.final_status {
        assert_eq!(
            states[id].status, *want,
            "payment {id} must end as the bank's plan says"
        );
        let h = &facts.history[id];
        assert_eq!(
            h[0],
            PaymentStatus::Sent,
            "{id}: first journaled status must be sent: {h:?}"
        );
        for pair in h.windows(2) {
            let next = receipt_of(pair[1])
                .unwrap_or_else(|| panic!("{id}: journaled back to sent: {h:?}"));
            assert!(
                pair[0].advances_to(next),
                "{id}: status moved {:?} → {:?}, not strictly forward (a receipt applied twice or backwards): {h:?}",
                pair[0],
                pair[1]
            );
        }
    }

    // --- bank status: control sum split by status ---
    let st = medsettle_filedrop::status(&store).unwrap();
    assert_eq!(st.batches.len(), 1);
    let b = &st.batches[0];
    let count: u64 = b.payments.values().map(|t| t.count).sum();
    let amount: Money = b.payments.values().map(|t| t.amount).sum();
    assert_eq!(
        (count, amount),
        (o.batch.payments.len() as u64, o.batch.control_sum()),
        "bank status by status must add up to the batch's count and control sum: {:?}",
        b.payments
    );
    let mut want_split: BTreeMap<PaymentStatus, (u64, Money)> = BTreeMap::new();
    for p in &o.batch.payments {
        let e = want_split
            .entry(o.final_status[&p.payment_id])
            .or_insert((0, Money::ZERO));
        e.0 += 1;
        e.1 += p.amount;
    }
    let got_split: BTreeMap<PaymentStatus, (u64, Money)> = b
        .payments
        .iter()
        .map(|(k, t)| (*k, (t.count, t.amount)))
        .collect();
    assert_eq!(got_split, want_split, "bank status split by status");
    assert_eq!(
        st.receipt_files_applied,
        o.receipts.len() as u64,
        "receipt files applied"
    );
    drop(store);
    let text = ws.status_text();
    for (k, (n, m)) in &want_split {
        assert!(
            text.contains(&format!("{k:?} {n} ({m})")),
            "`bank status` lacks {k:?} {n} ({m}):\n{text}"
        );
    }
    // A receipt that arrives after a later one for the same payment is not applied backwards
    // and raises a `receipt_forward_only` alert: whether that happens depends on the order the
    // bank's files reached the inbox, which the kills change. Every other line — and every
    // alert of another kind — must be the uninterrupted run's.
    assert_eq!(
        without_order_alerts(&text),
        without_order_alerts(&o.status_text),
        "`bank status` after the crashes differs from the uninterrupted run's:\n{text}\n---\n{}",
        o.status_text
    );
}

/// Every receipt the inbox applied reached the settlement engine: its view of each daily
/// payment (`engine.agg` `payments/<id>`) is the file drop's final status. Only a receipt
/// proves payment (IS-D-6/7); a failed or returned payment the engine never hears of is
/// neither carried forward nor re-paid, and blocks the monthly close (IS-RK-3).
fn engine_mismatches(ws: &Ws, o: &Oracle) -> Vec<String> {
    let store = ws.open_store();
    let engine = engine_payment_status(&store);
    let states: BTreeMap<String, PaymentState> =
        payment_states(&store).unwrap().into_iter().collect();
    let mut wrong = Vec::new();
    for (id, want) in &o.final_status {
        let got = engine.get(id).copied().flatten();
        if got != receipt_of(*want) {
            wrong.push(format!(
                "{id}: engine {got:?}, file drop {want:?} (set by receipt file {:?})",
                states.get(id).and_then(|s| s.receipt_file.clone())
            ));
        }
    }
    wrong
}

const ENGINE_LOST: &str = "receipts the inbox journaled as applied never reached the settlement engine (IS-D-6/7, DESIGN.md §3 invariant 4)";

/// Archived receipts given to `bank ingest` again change nothing.
fn prove_reingest_is_noop(ws: &Ws, o: &Oracle) {
    let before_status = ws.status_text();
    let (before_applied, before_engine) = {
        let store = ws.open_store();
        (
            journal_facts(&store, &o.batch.batch_id).applied,
            engine_payment_status(&store),
        )
    };
    let archive = ws.bank("archive");
    let inbox = ws.bank("inbox");
    let mut it = o.receipts.keys();
    let first = it.next().unwrap();
    let second = it.next().unwrap();
    // Copied back into the inbox with its trigger.
    fs::copy(archive.join(first), inbox.join(first)).unwrap();
    fs::copy(
        archive.join(format!("{first}.ok")),
        inbox.join(format!("{first}.ok")),
    )
    .unwrap();
    let out = run_args(&ws.ingest_args());
    assert!(
        out.contains("receipt files: 0 applied, 1 duplicate (no-op)")
            && out.contains("receipts: 0 applied"),
        "an archived receipt file copied back into the inbox must be a no-op duplicate:\n{out}"
    );
    // Given by path (`bank ingest FILE`).
    let out = run_ok(&[
        "bank",
        "ingest",
        s(&archive.join(second)),
        "--config",
        &ws.cfg(),
    ]);
    assert!(
        out.contains("receipt files: 0 applied, 1 duplicate (no-op)")
            && out.contains("receipts: 0 applied"),
        "an archived receipt file ingested by path must be a no-op duplicate:\n{out}"
    );
    let left: Vec<String> = dir_names(&inbox).into_iter().collect();
    assert!(
        left.is_empty(),
        "re-ingested files must go back to the archive: {left:?}"
    );
    check_receipt_dir(&archive, o, false, "after re-ingest");
    let store = ws.open_store();
    assert_eq!(
        journal_facts(&store, &o.batch.batch_id).applied,
        before_applied,
        "re-ingesting archived receipts journaled another application"
    );
    assert_eq!(
        engine_payment_status(&store),
        before_engine,
        "re-ingest changed the engine"
    );
    drop(store);
    assert_eq!(
        ws.status_text(),
        before_status,
        "re-ingest changed `bank status`"
    );
}

#[test]
fn kill9_bank_export_simulate_ingest_with_the_real_binary() {
    let t0 = Instant::now();
    let kill_seed = std::env::var("BANK_CRASH_SEED")
        .ok()
        .map(|v| v.parse().expect("BANK_CRASH_SEED is a u64"))
        .unwrap_or(KILL_SEED_DEFAULT);
    eprintln!("bank_crash: kill seed {kill_seed} (BANK_CRASH_SEED to repeat)");

    // --- setup: claims, gateway stopped, day closed ---
    let workspace = Workspace::init();
    let today = settle_claims(&workspace);
    let pay_date = workspace.pay_date(&today.to_string());
    let mut ws = Ws {
        root: workspace.path().to_owned(),
        pay_date,
        sim_seed: 0,
    };
    let daily = run_ok(&[
        "settle",
        "daily",
        "--date",
        &ws.pay_date,
        "--config",
        &ws.cfg(),
    ]);
    assert!(
        daily.contains(&format!("total: {} institutions paid", PAID.len())),
        "the daily close pays the three enrolled institutions:\n{daily}"
    );

    // --- the oracle: the same state, run without kills ---
    let ref_dir = tempfile::tempdir().unwrap();
    copy_tree(&ws.root, ref_dir.path());
    let mut reference = Ws {
        root: ref_dir.path().to_owned(),
        pay_date: ws.pay_date.clone(),
        sim_seed: 0,
    };
    let logs = tempfile::tempdir().unwrap();
    let _keep = KeepOnPanic::new(
        "BANK_CRASH_KEEP",
        "bank_crash",
        vec![
            (ws.root.clone(), "crashed"),
            (reference.root.clone(), "reference"),
            (logs.path().to_owned(), "logs"),
        ],
    );
    let o = oracle(&mut reference);
    ws.sim_seed = reference.sim_seed;
    let payees: BTreeSet<&str> = o
        .batch
        .payments
        .iter()
        .map(|p| p.payee_code.as_str())
        .collect();
    assert_eq!(
        payees,
        PAID.into_iter().collect(),
        "one payment per enrolled institution, none for the suspended {SUSPENDED}"
    );
    let wrong = engine_mismatches(&reference, &o);
    assert!(
        wrong.is_empty(),
        "uninterrupted run: {ENGINE_LOST}:\n{}",
        wrong.join("\n")
    );
    assert!(
        o.receipts.len() >= 4,
        "the bank's plan yields receipts of two generations: {:?}",
        o.receipts.keys()
    );
    eprintln!(
        "bank_crash: setup + oracle {:?}; uninterrupted export {} ms, simulate {} ms, ingest {} ms; bank seed {}; receipts {:?}",
        t0.elapsed(),
        o.export_ms,
        o.simulate_ms,
        o.ingest_ms,
        ws.sim_seed,
        o.receipts.keys().collect::<Vec<_>>()
    );

    // --- the kill loop ---
    let mut rng = StdRng::seed_from_u64(kill_seed);
    let spread = |ms: u64| ms * KILL_SPREAD_PERCENT / 100;
    let mut stats: BTreeMap<Cmd, (u32, u32)> = BTreeMap::new();
    let loop_start = Instant::now();
    let mut cycle = 0;
    let (mut dropped_at, mut all_archived_at) = (None, None);
    // A command that ends by itself after earlier crashes must succeed; these are checked
    // after the file-drop proofs so that one failure does not hide the others.
    let mut failures: Vec<String> = Vec::new();
    while cycle < CYCLES_MIN || (cycle < CYCLES_MAX && loop_start.elapsed() < LOOP_BUDGET) {
        let mut running = Vec::new();
        let gateway_cmd = if cycle < EXPORT_ONLY_CYCLES || rng.random_ratio(1, 3) {
            Cmd::Export
        } else {
            Cmd::Ingest
        };
        let (args, ms) = match gateway_cmd {
            Cmd::Export => (ws.export_args(), o.export_ms),
            _ => (ws.ingest_args(), o.ingest_ms),
        };
        running.push(spawn(
            gateway_cmd,
            &args,
            rng.random_range(0..=spread(ms)),
            logs.path(),
            0,
        ));
        if cycle >= EXPORT_ONLY_CYCLES {
            running.push(spawn(
                Cmd::Simulate,
                &ws.simulate_args(),
                rng.random_range(0..=spread(o.simulate_ms)),
                logs.path(),
                1,
            ));
        }
        let when = format!("cycle {cycle}");
        for ended in kill_all(running, &when) {
            let e = stats.entry(ended.cmd).or_default();
            e.0 += 1;
            e.1 += u32::from(ended.killed);
            failures.extend(ended.failed);
        }
        check_dirs(&ws, &o, &when);
        if dropped_at.is_none() && ws.bank("outbox").join(&o.trigger_name).exists() {
            dropped_at = Some(cycle);
        }
        let archived = dir_names(&ws.bank("archive"));
        if all_archived_at.is_none() && o.receipts.keys().all(|n| archived.contains(n)) {
            all_archived_at = Some(cycle);
        }
        cycle += 1;
    }
    eprintln!(
        "bank_crash: {cycle} cycles in {:?}; (runs, killed mid-run) per command: {stats:?}; payment file complete after cycle {dropped_at:?}, every receipt archived after cycle {all_archived_at:?}",
        loop_start.elapsed()
    );
    for cmd in [Cmd::Export, Cmd::Simulate, Cmd::Ingest] {
        let (runs, killed) = stats.get(&cmd).copied().unwrap_or_default();
        assert!(
            killed > 0,
            "no kill landed while {cmd:?} was running ({runs} runs): the test did not crash it"
        );
    }

    // --- completion without kills, then the proofs ---
    run_to_completion(&ws);
    check_dirs(&ws, &o, "after completion");
    prove_final(&ws, &o);
    prove_reingest_is_noop(&ws, &o);
    let wrong = engine_mismatches(&ws, &o);
    assert!(
        wrong.is_empty() && failures.is_empty(),
        "after the kill loop:\n{ENGINE_LOST}: {wrong:#?}\ncommands re-run after a crash that failed by themselves: {failures:#?}"
    );
    eprintln!("bank_crash: total {:?}", t0.elapsed());
}

/// `bank status` without what depends on the order receipts arrived in: the
/// `receipt_forward_only` alerts and the alert counts of the summary line.
fn without_order_alerts(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| {
            !l.trim_start()
                .starts_with("ALERT [filedrop.receipt_forward_only]")
        })
        .map(|l| match l.find("; alerts ") {
            Some(i) if l.starts_with("receipt files applied") => l[..i].to_owned(),
            _ => l.to_owned(),
        })
        .collect()
}
