//! `kill -9` loop over the running gateway while its inbox watcher applies the bank's receipts
//! and an operator action (the monthly settlement) is asked of it (DESIGN.md §3 invariants 2,
//! 3, 4, 5): every receipt applied exactly once, every acknowledged action done exactly once.
//! Real binary, real TLS, real sled, real files.
//!
//! Setup, as in `tests/live_operations.rs`: a workspace and a gateway run "last month" under
//! libfaketime; three institutions settle claims; last month's day is closed and its payment
//! file dropped (`bank export` through that gateway). Back in real time, the simulated bank
//! answers the file once (`bank simulate --once --duplicate` with a seed that gives one failed,
//! one pending-then-paid and one paid-then-returned payment): four receipt files of two
//! generations, plus a second delivery of the first one.
//!
//! ORACLE: a copy of the workspace with every receipt file in its inbox; `bank ingest`, the
//! simulated bank's second delivery, `bank ingest`, then `settle month --op-id month-1`, all
//! without a gateway and without kills.
//!
//! The crashed workspace: one receipt file waits in the inbox; the bank delivers the others
//! in the order the inbox reads them (a second delivery once the first has left the inbox, as
//! the simulator does), one every other cycle at a random moment while the gateway runs. Each
//! cycle starts `medsettle serve` and `medsettle settle month --op-id month-1` — with the
//! gateway (it then mostly finds the killed gateway's stale `gateway.json`, waits for the
//! journal and does the work itself once the gateway is dead) or once the gateway listens (a
//! request to it) — and `kill -9`s the gateway at a random moment or right after a step of
//! the work shows on disk: a receipt file leaving the inbox, the monthly report (re)written
//! (the month closed, nothing dropped, no action record yet), the outbox changing (the
//! monthly payment file half dropped). Until the month is acknowledged the kills wait for
//! those steps, so the action is crashed between its steps a few times; the command is killed
//! with the gateway one cycle in three, or at the step when it does the work itself. The
//! month is refused (IS-D-7) until the watcher has applied every final receipt; later cycles
//! crash the action, then its replays. A command that exits 0 is *acknowledged*; its output
//! is kept. Then a gateway runs without kills until the bank has delivered everything and the
//! inbox is empty, and `settle month --op-id month-1` runs once more (it must succeed). The
//! proofs, gateway stopped:
//! * each receipt file (name, SHA-256) is applied by exactly one `bank.receipt_file.applied`
//!   record, none rejected, no conflict alert, none left in the inbox, archived with the bank's
//!   bytes; the inbox's records, payment states, the engine's view of every daily payment and
//!   `bank status` equal the oracle's;
//! * exactly one `ops.action` record for `month-1`, one `engine.close` of the month, the
//!   monthly batch rendered once and dropped once, with the oracle's payments; the monthly
//!   report the oracle's bytes, `settle status` the oracle's; the final answer equals every
//!   acknowledged one byte for byte (the replay) and the oracle's (paths normalised, see
//!   [`comparable_month`]).
//!
//! The kill moments come from a seed (`LIVE_CRASH_SEED` overrides it, printed); process timing
//! still varies from run to run. `LIVE_CRASH_KEEP=1` keeps the workspaces of a failing run.

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{self, File};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::*;
use medsettle_bank::OutcomePlan;
use medsettle_canonical::{PaymentBatch, ReceiptStatus};
use medsettle_filedrop::PaymentStatus;
use medsettle_filedrop::state::{
    InboxFileRecord, InboxOutcome, KIND_BATCH_DROPPED, KIND_BATCH_RENDERED, KIND_RECEIPT_ALERT,
    KIND_RECEIPT_FILE, KIND_RECEIPT_REJECTED, batches, inbox_files, payment_states,
};
use medsettle_store::{SledStore, Store, StoreConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// The institutions that settle claims and are paid daily.
const CODES: [&str; 3] = ["H44030000001", "H44030000002", "H44030000003"];
const VISITS_PER_INSTITUTION: usize = 2;
/// The operation id of the monthly settlement, the same in every attempt.
const OP_ID: &str = "month-1";
/// At least this many kill cycles; more while the loop is within `LOOP_BUDGET` (a bound on
/// the test's length, not an assertion about speed), at most `CYCLES_MAX`.
const CYCLES_MIN: usize = 20;
const CYCLES_MAX: usize = 80;
const LOOP_BUDGET: Duration = Duration::from_secs(30);
/// A kill at a random moment lands uniformly in [0, spread] ms, spread = max(this, 150 % of a
/// measured gateway start plus a measured monthly settlement): before, during and after the
/// work. A kill waiting for a step of the work to show lands at the latest there too.
const KILL_SPREAD_MS_FLOOR: u64 = 400;
const KILL_SEED_DEFAULT: u64 = 0x11fe_c2a5_2026;
/// `[bank] inbox_poll_ms` of the crashed gateway (the smallest the configuration allows).
const INBOX_POLL_MS: i64 = 50;
/// Receipt files already in the inbox when the loop starts; the bank delivers the rest, one
/// every `DELIVER_EVERY` cycles, so the watcher has work in many cycles and the month becomes
/// possible only several cycles in.
const FILES_IN_INBOX_AT_START: usize = 1;
const DELIVER_EVERY: usize = 2;
/// Kills right after a step of the monthly settlement (report written, outbox changed) before
/// the loop lets the action complete.
const ACTION_STEP_KILLS_MAX: u32 = 4;
/// How often the test looks for a step of the work to show, ms.
const WATCH_MS: u64 = 1;
/// Bounds on waits (generous; never an assertion about speed).
const COMMAND_BOUND: Duration = Duration::from_secs(60);
const SETTLE_BOUND: Duration = Duration::from_secs(120);

/// The simulated bank's mix: with three payments the test picks a seed that gives one failed,
/// one pending-then-paid and one paid-then-returned payment.
const FAILED_PER_MILLE: u16 = 300;
const PENDING_PER_MILLE: u16 = 300;
const RETURNED_PER_MILLE: u16 = 200;
const PLAN_SEED_SEARCH_MAX: u64 = 100_000;

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A number printed as `N <label>` in a command's output.
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

// ---------------------------------------------------------------------------------------------
// Last month (libfaketime), as in tests/live_operations.rs.
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// The bank's plan and its files.
// ---------------------------------------------------------------------------------------------

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

fn simulate_args(cfg: &str, seed: u64) -> Vec<String> {
    [
        "bank",
        "simulate",
        "--once",
        "--duplicate",
        "--seed",
        &seed.to_string(),
        "--failed-per-mille",
        &FAILED_PER_MILLE.to_string(),
        "--pending-per-mille",
        &PENDING_PER_MILLE.to_string(),
        "--returned-per-mille",
        &RETURNED_PER_MILLE.to_string(),
        "--config",
        cfg,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

fn run_strings(args: &[String]) -> String {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok(&a)
}

/// The receipt files the bank wrote: name → (data, trigger), as the simulator delivered them.
type BankFiles = BTreeMap<String, (Vec<u8>, Vec<u8>)>;

/// The bank's side of the boundary in the crashed workspace: what it still has to deliver,
/// in order. The inbox reads files in name order; delivering in that order keeps the order
/// in which receipts are applied the oracle's (a pending receipt read after its paid one
/// would be a row alert in one run and not in the other).
struct BankSide {
    files: BankFiles,
    /// (name, second delivery of an earlier file).
    queue: VecDeque<(String, bool)>,
}

impl BankSide {
    /// Delivers the next file into `inbox` the way the simulator does (data, then trigger,
    /// each written under a hidden temporary name and renamed). A second delivery waits until
    /// the first has left the inbox (as the simulator's `held/` does). Returns what it
    /// delivered: (name, second delivery).
    fn deliver_next(&mut self, inbox: &Path) -> Option<(String, bool)> {
        let (name, second) = self.queue.front()?.clone();
        let trig = format!("{name}.ok");
        if second && (inbox.join(&name).exists() || inbox.join(&trig).exists()) {
            return None;
        }
        let (data, t) = &self.files[&name];
        for (n, bytes) in [(&name, data), (&trig, t)] {
            let tmp = inbox.join(format!(".{n}.live-crash.tmp"));
            fs::write(&tmp, bytes).unwrap();
            fs::rename(&tmp, inbox.join(n)).unwrap();
        }
        self.queue.pop_front();
        Some((name, second))
    }
}

// ---------------------------------------------------------------------------------------------
// What a workspace shows, gateway stopped.
// ---------------------------------------------------------------------------------------------

/// The facts the proofs compare, read from a workspace with no medsettle process running.
#[derive(Debug)]
struct Facts {
    /// Receipt file name → SHA-256 of each `bank.receipt_file.applied` record.
    applied: BTreeMap<String, Vec<String>>,
    rejected: usize,
    alerts: usize,
    /// (op id, action) of every `ops.action` record, in journal order.
    actions: Vec<(String, String)>,
    /// `engine.close` records of the month.
    month_closes: usize,
    /// Batch id → (rendered records, dropped records).
    batch_records: BTreeMap<String, (usize, usize)>,
    /// Batch id → batch, `created_at` blanked (the approval time differs between runs).
    batches: BTreeMap<String, PaymentBatch>,
    inbox_records: BTreeMap<String, InboxFileRecord>,
    states: BTreeMap<String, PaymentStatus>,
    /// The settlement engine's view of each daily payment (`engine.agg` `payments/<id>`).
    engine: BTreeMap<String, Option<ReceiptStatus>>,
    bank_status: String,
    /// `settle status` without its consumer line (offsets and lag depend on when the engine
    /// consumer last read, not on what happened).
    settle_status: String,
    report: Vec<u8>,
    inbox: BTreeSet<String>,
    rejected_dir: BTreeSet<String>,
    archive: BTreeMap<String, Vec<u8>>,
    outbox: BTreeSet<String>,
}

fn facts(root: &Path, period: &str) -> Facts {
    let cfg = root.join("medsettle.toml");
    let cfg = s(&cfg);
    let mut f = Facts {
        applied: BTreeMap::new(),
        rejected: 0,
        alerts: 0,
        actions: Vec::new(),
        month_closes: 0,
        batch_records: BTreeMap::new(),
        batches: BTreeMap::new(),
        inbox_records: BTreeMap::new(),
        states: BTreeMap::new(),
        engine: BTreeMap::new(),
        bank_status: run_ok(&["bank", "status", "--config", cfg]),
        settle_status: run_ok(&["settle", "status", "--config", cfg])
            .lines()
            .filter(|l| !l.starts_with("consumer "))
            .map(|l| format!("{l}\n"))
            .collect(),
        report: fs::read(root.join(format!("data/reports/monthly-{period}.csv")))
            .unwrap_or_default(),
        inbox: dir_names(&root.join("data/bank/inbox")),
        rejected_dir: dir_names(&root.join("data/bank/rejected")),
        archive: dir_names(&root.join("data/bank/archive"))
            .into_iter()
            .map(|n| {
                let b = fs::read(root.join("data/bank/archive").join(&n)).unwrap();
                (n, b)
            })
            .collect(),
        outbox: dir_names(&root.join("data/bank/outbox")),
    };
    let export = run_ok(&["journal", "export", "--config", cfg]);
    let month_close = format!("monthly/{period}");
    for line in export.lines() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("export line {line:?}: {e}"));
        assert!(v.get("error").is_none(), "corrupt journal record: {line}");
        let r = &v["record"];
        match v["kind"].as_str().unwrap_or_default() {
            KIND_RECEIPT_FILE => f
                .applied
                .entry(r["file_name"].as_str().unwrap().to_owned())
                .or_default()
                .push(r["sha256"].as_str().unwrap().to_owned()),
            KIND_RECEIPT_REJECTED => f.rejected += 1,
            KIND_RECEIPT_ALERT => f.alerts += 1,
            KIND_BATCH_RENDERED => {
                let id = r["batch"]["batch_id"].as_str().unwrap().to_owned();
                f.batch_records.entry(id).or_default().0 += 1;
            }
            KIND_BATCH_DROPPED => {
                let id = r
                    .as_str()
                    .expect("a dropped record names its batch")
                    .to_owned();
                f.batch_records.entry(id).or_default().1 += 1;
            }
            "ops.action" => {
                assert_eq!(v["fixmedins_code"], "@operator", "{line}");
                f.actions.push((
                    v["msgid"].as_str().unwrap().to_owned(),
                    r["request"]["action"].as_str().unwrap().to_owned(),
                ));
            }
            "engine.close" if r["close"].as_str() == Some(month_close.as_str()) => {
                f.month_closes += 1
            }
            _ => {}
        }
    }
    let store = SledStore::open(&root.join("data/journal"), StoreConfig::default())
        .expect("open the workspace's store (no medsettle process may be running)");
    f.inbox_records = inbox_files(&store).unwrap().into_iter().collect();
    f.states = payment_states(&store)
        .unwrap()
        .into_iter()
        .map(|(id, p)| (id, p.status))
        .collect();
    for (rec, _) in batches(&store).unwrap() {
        let mut b = rec.batch;
        b.created_at = String::new();
        f.batches.insert(b.batch_id.clone(), b);
    }
    for kv in store.scan_prefix("engine.agg", b"payments/").unwrap() {
        let (k, v) = kv.unwrap();
        let id = String::from_utf8(k).unwrap()["payments/".len()..].to_owned();
        let v: Value = serde_json::from_slice(&v).unwrap();
        let st: Option<ReceiptStatus> = serde_json::from_value(v["status"].clone())
            .unwrap_or_else(|e| panic!("engine payment {id}: status {}: {e}", v["status"]));
        f.engine.insert(id, st);
    }
    f
}

/// The monthly settlement's answer with what may differ between the oracle and the crashed
/// workspace made equal, and nothing else:
/// - the workspace's directory (report and payment file paths);
/// - the payment file's SHA-256 prefix: pain.001 carries the batch's approval time
///   (`CreDtTm`), and each workspace approved its month at its own moment;
/// - `already dropped` for `dropped`: a run killed after the monthly file was dropped but
///   before the action's record was journaled is not acknowledged; its re-run finds the file
///   dropped and says so. That is the action done once, not twice (the ledger, the close
///   record and the drop records are counted separately; and an acknowledged answer must equal
///   the final one byte for byte, so an acknowledged `dropped` followed by a second run would
///   still fail).
fn comparable_month(text: &str, root: &Path) -> String {
    text.replace(s(root), "<ws>")
        .lines()
        .map(|l| {
            let l = l.strip_prefix("already ").unwrap_or(l);
            match l.find("sha256 ") {
                Some(at) => format!("{}sha256 …)\n", &l[..at]),
                None => format!("{l}\n"),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Processes.
// ---------------------------------------------------------------------------------------------

/// A child process killed (SIGKILL) and reaped when dropped, also when a test fails.
struct Kid(Child);

impl Kid {
    fn spawn(args: &[&str], out: &Path, err: &Path) -> Kid {
        Kid(Command::new(bin())
            .args(args)
            .env("MEDSETTLE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(File::create(out).unwrap())
            .stderr(File::create(err).unwrap())
            .spawn()
            .expect("spawn medsettle"))
    }

    /// SIGKILL if still running; the exit status.
    fn kill9(&mut self) -> ExitStatus {
        if self.0.try_wait().expect("try_wait").is_none() {
            let _ = self.0.kill();
        }
        self.0.wait().expect("reap")
    }

    /// Wait at most `bound`; `None` if it still runs.
    fn wait_bounded(&mut self, bound: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(st) = self.0.try_wait().expect("try_wait") {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A step of the work the test can see on disk, to kill right after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    /// A receipt file left the inbox: its record is journaled, its move to the archive under
    /// way (the trigger may still be in the inbox).
    ReceiptMoved,
    /// The monthly report was (re)written: the engine has closed the month, its payment file
    /// is not dropped yet and the action's record not journaled. A re-run rewrites it as long
    /// as the action is not journaled; a replay does not.
    ReportWritten,
    /// The outbox changed: the monthly payment file's temporary file, the file, its trigger
    /// (the dropped record and the action's record still to come).
    OutboxChanged,
}

const STEPS: [Step; 3] = [Step::ReceiptMoved, Step::ReportWritten, Step::OutboxChanged];

/// When a cycle's `kill -9` lands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KillAt {
    /// At a random moment, ms after the start.
    Random(u64),
    /// Right after the first of these steps shows (at the latest at the kill spread).
    OnStep(Vec<Step>),
}

/// What the test watches to see a step of the work.
struct Marks {
    /// Receipt data files in the inbox.
    inbox: BTreeSet<String>,
    /// The monthly report's inode (a rewrite renames a new file into place).
    report: Option<u64>,
    outbox: BTreeSet<String>,
}

fn inode(p: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(p).ok().map(|m| m.ino())
}

impl Marks {
    fn now(root: &Path, report: &Path) -> Marks {
        Marks {
            inbox: dir_names(&root.join("data/bank/inbox"))
                .into_iter()
                .filter(|n| !n.starts_with('.') && !n.ends_with(".ok"))
                .collect(),
            report: inode(report),
            outbox: dir_names(&root.join("data/bank/outbox")),
        }
    }

    /// The first of the steps `k` waits for that has shown since these marks were taken.
    fn fired(&self, k: &KillAt, root: &Path, report: &Path) -> Option<Step> {
        let KillAt::OnStep(steps) = k else {
            return None;
        };
        steps.iter().copied().find(|s| match s {
            Step::ReceiptMoved => {
                let inbox = root.join("data/bank/inbox");
                self.inbox.iter().any(|n| !inbox.join(n).exists())
            }
            Step::ReportWritten => inode(report).is_some_and(|i| Some(i) != self.report),
            Step::OutboxChanged => dir_names(&root.join("data/bank/outbox")) != self.outbox,
        })
    }
}

/// What one `settle month` attempt of the loop came to.
#[derive(Debug)]
struct Attempt {
    cycle: usize,
    killed: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Attempt {
    fn acknowledged(&self) -> bool {
        self.code == Some(0)
    }

    fn summary(&self) -> String {
        if self.killed {
            "killed".into()
        } else if self.acknowledged() {
            "ACKNOWLEDGED".into()
        } else {
            let first = self.stderr.lines().last().unwrap_or_default();
            let cut: String = first.chars().take(110).collect();
            format!("exit {:?}: {cut}", self.code)
        }
    }
}

/// Between cycles the receipt directories may hold only the bank's files with the bank's
/// bytes (and, in the inbox, hidden temporary files); nothing is ever rejected.
fn check_receipt_dirs(root: &Path, bank: &BankFiles, when: &str) {
    for (sub, temps_allowed) in [("inbox", true), ("archive", false)] {
        let dir = root.join("data/bank").join(sub);
        for n in dir_names(&dir) {
            let want = match n.strip_suffix(".ok") {
                Some(d) => bank.get(d).map(|(_, t)| t),
                None => bank.get(&n).map(|(d, _)| d),
            };
            match want {
                Some(want) => {
                    let got = fs::read(dir.join(&n)).unwrap();
                    assert!(
                        got == *want,
                        "{when}: {sub}/{n} differs from the bank's file (sha {} vs {})",
                        sha256_hex(&got),
                        sha256_hex(want)
                    );
                }
                None => assert!(
                    temps_allowed && n.starts_with('.') && n.ends_with(".tmp"),
                    "{when}: unexpected file {n:?} in {sub}/ (not one of the bank's {:?})",
                    bank.keys().collect::<Vec<_>>()
                ),
            }
        }
    }
    let rejected = dir_names(&root.join("data/bank/rejected"));
    assert!(
        rejected.is_empty(),
        "{when}: receipt files were rejected or raised a conflict alert: {rejected:?}"
    );
}

/// With a gateway running: waits until the bank has delivered everything, the inbox is empty
/// and `bank status` reads the same twice in a row; returns it.
fn wait_settled(root: &Path, bank: &mut BankSide) -> String {
    let cfg = root.join("medsettle.toml");
    let inbox = root.join("data/bank/inbox");
    let started = Instant::now();
    let mut last = String::new();
    loop {
        bank.deliver_next(&inbox);
        let status = run_ok(&["bank", "status", "--config", s(&cfg)]);
        let left = dir_names(&inbox);
        if bank.queue.is_empty() && left.is_empty() && status == last {
            return status;
        }
        assert!(
            started.elapsed() < SETTLE_BOUND,
            "the running gateway did not apply the inbox within {SETTLE_BOUND:?}: still to \
             deliver {:?}, in the inbox {left:?}\n{status}",
            bank.queue
        );
        last = status;
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn kill9_the_gateway_while_its_inbox_watcher_and_an_operator_action_work() {
    let t0 = Instant::now();
    let kill_seed = std::env::var("LIVE_CRASH_SEED")
        .ok()
        .map(|v| v.parse().expect("LIVE_CRASH_SEED is a u64"))
        .unwrap_or(KILL_SEED_DEFAULT);
    eprintln!("live_crash: kill seed {kill_seed} (LIVE_CRASH_SEED to repeat)");

    // --- last month: a workspace, claims, the day closed and its file dropped ---
    let today = today_in_china();
    let back = days_back_to_last_month(today);
    let then = today - time::Duration::days(back);
    let dir = tempfile::tempdir().unwrap();
    let init = medsettle_back(back)
        .args(["init", "--dir", s(dir.path())])
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");
    let calendar = use_test_calendar(dir.path());
    let ws = Workspace { dir, calendar };
    let root = ws.path().to_owned();
    let config = ws.config();
    let cfg = s(&config).to_owned();
    set_key(&config, "bank", "inbox_poll_ms", INBOX_POLL_MS);
    let gw = Gateway::adopt(
        medsettle_back(back)
            .args(["serve", "--listen", "127.0.0.1:0", "--config", &cfg])
            .env("MEDSETTLE_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    outpatient_visits(&ws, gw.addr, &CODES, VISITS_PER_INSTITUTION, then);
    let day_pay = ws.pay_date(&then.to_string());
    let export = medsettle_back(back)
        .args(["bank", "export", "--date", &day_pay, "--config", &cfg])
        .output()
        .unwrap();
    assert!(
        export.status.success() && String::from_utf8_lossy(&export.stdout).contains("dropped "),
        "{export:?}"
    );
    assert!(gw.terminate().success());

    // --- the bank answers the day's file once ---
    let day_batch = {
        let store = SledStore::open(&root.join("data/journal"), StoreConfig::default()).unwrap();
        let mut all = batches(&store).unwrap();
        assert_eq!(all.len(), 1, "one daily batch");
        all.pop().unwrap().0.batch
    };
    assert_eq!(day_batch.payments.len(), CODES.len(), "{day_batch:?}");
    let sim_seed = choose_sim_seed(&day_batch);
    let sim = run_strings(&simulate_args(&cfg, sim_seed));
    let inbox = root.join("data/bank/inbox");
    let held = root.join("data/bank/bank-sim/held");
    let mut bank_files: BankFiles = BTreeMap::new();
    for n in dir_names(&inbox) {
        if n.ends_with(".ok") {
            continue;
        }
        let data = fs::read(inbox.join(&n)).unwrap();
        let trig = fs::read(inbox.join(format!("{n}.ok"))).unwrap();
        bank_files.insert(n, (data, trig));
    }
    let second: Vec<String> = dir_names(&held).into_iter().collect();
    assert!(
        bank_files.len() >= 4 && second.len() == 1,
        "the bank answers with receipts of two generations and holds one second delivery:\n{sim}\ninbox {:?}, held {second:?}",
        bank_files.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        fs::read(held.join(&second[0])).unwrap(),
        bank_files[&second[0]].0,
        "the second delivery is the same file"
    );
    let period = format!("{:04}-{:02}", then.year(), then.month() as u8);
    let month_pay = ws.pay_date(&today.to_string());
    let files = tempfile::tempdir().unwrap();
    let declarations = files.path().join("declarations.csv");
    let mut text = "fixmedins_code,month,fund_amount,claim_count\n".to_owned();
    for (code, amount) in CODES.iter().zip(["2000.00", "1500.00", "1800.00"]) {
        text.push_str(&format!(
            "{code},{period},{amount},{VISITS_PER_INSTITUTION}\n"
        ));
    }
    fs::write(&declarations, text).unwrap();
    let month_args = |cfg: &str| -> Vec<String> {
        [
            "settle",
            "month",
            "--period",
            &period,
            "--declarations",
            s(&declarations),
            "--pay-date",
            &month_pay,
            "--op-id",
            OP_ID,
            "--config",
            cfg,
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };

    // --- the oracle: every receipt in the inbox, no gateway, no kills ---
    let oracle_dir = tempfile::tempdir().unwrap();
    let oracle = oracle_dir.path().join("ws");
    copy_tree(&root, &oracle);
    let logs = tempfile::tempdir().unwrap();
    let _keep = KeepOnPanic::new(
        "LIVE_CRASH_KEEP",
        "live_crash",
        vec![
            (root.clone(), "crashed"),
            (oracle.clone(), "oracle"),
            (logs.path().to_owned(), "logs"),
        ],
    );
    let ocfg = s(&oracle.join("medsettle.toml")).to_owned();
    let ingest = run_ok(&["bank", "ingest", "--config", &ocfg]);
    assert_eq!(
        count_before(&ingest, "applied, "),
        bank_files.len() as u64,
        "{ingest}"
    );
    let sim2 = run_strings(&simulate_args(&ocfg, sim_seed));
    assert_eq!(count_before(&sim2, "receipt files"), 1, "{sim2}");
    let ingest2 = run_ok(&["bank", "ingest", "--config", &ocfg]);
    assert!(
        ingest2.contains("receipt files: 0 applied, 1 duplicate (no-op)"),
        "{ingest2}"
    );
    let started = Instant::now();
    let oracle_month = run_strings(&month_args(&ocfg));
    let month_ms = started.elapsed().as_millis() as u64;
    assert!(
        oracle_month.contains("monthly settlement") && oracle_month.contains("dropped "),
        "the oracle's month pays and drops a file:\n{oracle_month}"
    );
    let o = facts(&oracle, &period);
    // The oracle itself: once each.
    assert_eq!(o.actions.iter().filter(|a| a.0 == OP_ID).count(), 1);
    assert_eq!(o.month_closes, 1);
    let started = Instant::now();
    let probe = Gateway::start_env(
        &oracle.join("medsettle.toml"),
        &[],
        &[("MEDSETTLE_LOG", "warn")],
    );
    let start_ms = started.elapsed().as_millis() as u64;
    assert!(probe.terminate().success());
    let kill_spread_ms = KILL_SPREAD_MS_FLOOR.max((start_ms + month_ms) * 3 / 2);
    let month_batch = o
        .batches
        .keys()
        .find(|id| id.starts_with('M'))
        .unwrap_or_else(|| panic!("the oracle's monthly batch: {:?}", o.batches.keys()))
        .clone();
    eprintln!(
        "live_crash: setup + oracle {:?}; gateway start {start_ms} ms, month {month_ms} ms → kills in [0, {kill_spread_ms}] ms; bank seed {sim_seed}; receipts {:?}, again {:?}; monthly batch {month_batch}\n{}",
        t0.elapsed(),
        bank_files.keys().collect::<Vec<_>>(),
        second,
        o.bank_status
    );

    // --- the crashed workspace: some receipts wait, the bank delivers the rest ---
    let mut bank = BankSide {
        files: bank_files.clone(),
        queue: bank_files
            .keys()
            .map(|n| (n.clone(), false))
            .chain(second.iter().map(|n| (n.clone(), true)))
            .collect(),
    };
    fs::remove_file(held.join(&second[0])).unwrap();
    for n in bank_files.keys().skip(FILES_IN_INBOX_AT_START) {
        fs::remove_file(inbox.join(n)).unwrap();
        fs::remove_file(inbox.join(format!("{n}.ok"))).unwrap();
    }
    for _ in 0..FILES_IN_INBOX_AT_START {
        bank.queue.pop_front();
    }

    // --- the kill loop ---
    let mut rng = StdRng::seed_from_u64(kill_seed);
    let args = month_args(&cfg);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let serve = ["serve", "--listen", "127.0.0.1:0", "--config", &cfg];
    let mut attempts: Vec<Attempt> = Vec::new();
    let (mut gateway_up, mut gateway_refused) = (0, 0);
    let (mut all_applied_at, mut month_done_at) = (None, None);
    // Step → [gateway killed right after it, command killed right after it].
    let mut moments: BTreeMap<Step, [u32; 2]> = BTreeMap::new();
    let mut action_step_kills = 0;
    let report = root.join(format!("data/reports/monthly-{period}.csv"));
    let mut next_delivery = 0;
    let loop_start = Instant::now();
    let mut cycle = 0;
    while cycle < CYCLES_MIN || (cycle < CYCLES_MAX && loop_start.elapsed() < LOOP_BUDGET) {
        // Until the month is acknowledged (and at most ACTION_STEP_KILLS_MAX times) the kill
        // waits for a receipt to move or for the next step of the action, its report and its
        // payment file in turn, so that the action itself is crashed between its steps (by
        // whichever process performs it); afterwards any one step, or a random moment.
        let action_open = !attempts.iter().any(Attempt::acknowledged)
            && action_step_kills < ACTION_STEP_KILLS_MAX;
        let kill_at = if action_open {
            let step = if action_step_kills % 2 == 0 {
                Step::ReportWritten
            } else {
                Step::OutboxChanged
            };
            KillAt::OnStep(vec![Step::ReceiptMoved, step])
        } else if rng.random_ratio(2, 5) {
            KillAt::Random(rng.random_range(0..=kill_spread_ms))
        } else {
            KillAt::OnStep(vec![STEPS[rng.random_range(0..STEPS.len())]])
        };
        let deadline_ms = match kill_at {
            KillAt::Random(ms) => ms,
            _ => kill_spread_ms,
        };
        let deliver_at = rng.random_range(0..=deadline_ms);
        // Killed together with the gateway; otherwise the command ends by itself (or, when it
        // does the work itself, is killed on the step the cycle waits for).
        let kill_command = rng.random_ratio(1, 3);
        // Started with the gateway it mostly finds the killed gateway's stale `gateway.json`,
        // waits for the journal and does the work itself once the gateway is dead; started
        // once the gateway listens it asks the gateway.
        let command_with_gateway = rng.random_ratio(1, 4);
        let log = |what: &str| logs.path().join(format!("{cycle:02}-{what}"));
        let mut marks = Marks::now(&root, &report);
        let started = Instant::now();
        let mut gw = Kid::spawn(&serve, &log("serve.out"), &log("serve.err"));
        let spawn_command = || Kid::spawn(&args, &log("month.out"), &log("month.err"));
        let listening =
            || fs::read_to_string(log("serve.out")).is_ok_and(|o| o.starts_with("listening on "));
        let (mut cli, mut command_at) = if command_with_gateway {
            (Some(spawn_command()), Some(0))
        } else {
            (None, None)
        };
        let (mut delivered, mut fired_ms) = (None, None);
        loop {
            let ms = started.elapsed().as_millis() as u64;
            if cycle >= next_delivery && delivered.is_none() && ms >= deliver_at {
                delivered = bank.deliver_next(&inbox);
                if let Some((name, _)) = &delivered {
                    marks.inbox.insert(name.clone());
                    next_delivery = cycle + DELIVER_EVERY;
                }
            }
            if cli.is_none() && listening() {
                cli = Some(spawn_command());
                command_at = Some(ms);
            }
            if ms >= deadline_ms {
                break;
            }
            if let Some(step) = marks.fired(&kill_at, &root, &report) {
                fired_ms = Some((step, ms));
                break;
            }
            std::thread::sleep(Duration::from_millis(WATCH_MS));
        }
        let gw_end = gw.kill9();
        // The gateway never listened: the command finds none.
        let mut cli = cli.unwrap_or_else(spawn_command);
        let mut command_fired_ms = None;
        let cli_end = if kill_command {
            cli.kill9()
        } else {
            let marks = Marks::now(&root, &report);
            loop {
                if let Some(end) = cli.wait_bounded(Duration::ZERO) {
                    break end;
                }
                let ms = started.elapsed().as_millis() as u64;
                if let Some(step) = marks.fired(&kill_at, &root, &report) {
                    command_fired_ms = Some((step, ms));
                    break cli.kill9();
                }
                assert!(
                    started.elapsed() < COMMAND_BOUND,
                    "cycle {cycle}: `medsettle settle month` still runs {COMMAND_BOUND:?} after \
                     its gateway was killed (stdout {:?}, stderr {:?})",
                    fs::read_to_string(log("month.out")),
                    fs::read_to_string(log("month.err"))
                );
                std::thread::sleep(Duration::from_millis(WATCH_MS));
            }
        };
        for (who, fired) in [(0, fired_ms), (1, command_fired_ms)] {
            if let Some((step, _)) = fired {
                moments.entry(step).or_default()[who] += 1;
                action_step_kills += u32::from(step != Step::ReceiptMoved);
            }
        }
        let listened = listening();
        let serve_err = fs::read_to_string(log("serve.err")).unwrap();
        let gw_text = if gw_end.signal() == Some(9) {
            if listened {
                gateway_up += 1;
                "killed while serving".to_owned()
            } else {
                "killed while starting".to_owned()
            }
        } else {
            // It may only end by itself because the command held the journal.
            assert!(
                serve_err.contains("cannot open the journal")
                    && serve_err.contains("another medsettle process"),
                "cycle {cycle}: the gateway ended by itself ({gw_end}) for another reason \
                 than the journal being in use:\n{serve_err}"
            );
            gateway_refused += 1;
            "exited: the command held the journal".to_owned()
        };
        let a = Attempt {
            cycle,
            killed: cli_end.signal() == Some(9),
            code: cli_end.code(),
            stdout: fs::read_to_string(log("month.out")).unwrap(),
            stderr: fs::read_to_string(log("month.err")).unwrap(),
        };
        let when = format!("cycle {cycle}");
        check_receipt_dirs(&root, &bank_files, &when);
        let archived = dir_names(&root.join("data/bank/archive"));
        if all_applied_at.is_none() && bank_files.keys().all(|n| archived.contains(n)) {
            all_applied_at = Some(cycle);
        }
        if month_done_at.is_none() && report.exists() {
            month_done_at = Some(cycle);
        }
        let kill_text = match (&kill_at, fired_ms) {
            (KillAt::Random(ms), _) => format!("at {ms} ms"),
            (_, Some((step, ms))) => format!("on {step:?} at {ms} ms"),
            (KillAt::OnStep(steps), None) => format!("at {deadline_ms} ms (no {steps:?} seen)"),
        };
        let command_text = match (command_at, command_fired_ms) {
            (_, Some((step, ms))) => format!("killed on {step:?} at {ms} ms"),
            (Some(0), None) => "started with the gateway".into(),
            (Some(ms), None) => format!("started at {ms} ms, the gateway listening"),
            (None, None) => "started after the kill".into(),
        };
        let delivered = match &delivered {
            Some((n, true)) => format!("{n} again at {deliver_at} ms"),
            Some((n, false)) => format!("{n} at {deliver_at} ms"),
            None => "nothing".into(),
        };
        eprintln!(
            "live_crash: {when}: gateway {gw_text}, kill {kill_text}; bank delivered {delivered}; \
             month {command_text}{}: {}; inbox {:?}",
            if kill_command {
                ", killed with the gateway"
            } else {
                ""
            },
            a.summary(),
            dir_names(&inbox)
        );
        attempts.push(a);
        cycle += 1;
    }
    let acknowledged: Vec<&Attempt> = attempts.iter().filter(|a| a.acknowledged()).collect();
    eprintln!(
        "live_crash: {cycle} cycles in {:?}; gateway killed while serving {gateway_up}×, kept \
         out of the journal by the command {gateway_refused}×; every receipt archived after \
         cycle {all_applied_at:?}; month report written by cycle {month_done_at:?}; \
         acknowledged in cycles {:?}; kills right after a step [gateway, command]: {moments:?}",
        loop_start.elapsed(),
        acknowledged.iter().map(|a| a.cycle).collect::<Vec<_>>()
    );
    assert!(
        gateway_up > 0,
        "no kill landed on a serving gateway: the loop did not crash anything"
    );
    // Until every final receipt reached the engine the month is refused by rule (IS-D-7);
    // a refusal is not a bad request, and never the operator's fault with these inputs.
    for a in &attempts {
        assert!(
            a.killed || a.acknowledged() || a.code == Some(1),
            "cycle {}: `settle month` exited {:?}:\n{}{}",
            a.cycle,
            a.code,
            a.stdout,
            a.stderr
        );
    }

    // --- no more kills: the gateway applies everything, the month is asked once more ---
    let gw = Gateway::start_env(&config, &[], &[("MEDSETTLE_LOG", "warn")]);
    let status_settled = wait_settled(&root, &mut bank);
    let out = run(&args);
    let final_month = Attempt {
        cycle,
        killed: false,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        gw.terminate().success(),
        "the gateway stops cleanly after the kill loop"
    );
    // --- the proofs ---
    let c = facts(&root, &period);
    let when = "after the kill loop";
    check_receipt_dirs(&root, &bank_files, when);

    // Receipts: each (name, SHA-256) applied by exactly one record, nothing else.
    let want_applied: BTreeMap<String, Vec<String>> = bank_files
        .iter()
        .map(|(n, (d, _))| (n.clone(), vec![sha256_hex(d)]))
        .collect();
    assert_eq!(
        o.applied, want_applied,
        "oracle: each receipt file applied once"
    );
    assert_eq!(
        c.applied, want_applied,
        "each receipt file (name → SHA-256 of every record applying it) must be applied by \
         exactly one `{KIND_RECEIPT_FILE}` record"
    );
    assert_eq!(
        (c.rejected, c.alerts),
        (0, 0),
        "receipt files rejected / conflict alerts"
    );
    for (name, r) in &c.inbox_records {
        assert!(
            matches!(r.outcome, InboxOutcome::Applied { .. }) && r.sha256 == want_applied[name][0],
            "inbox record of {name}: {r:?}"
        );
    }
    assert_eq!(
        c.inbox_records, o.inbox_records,
        "the inbox's records (rows applied / not applied by reason) differ from the oracle's"
    );
    assert!(c.inbox.is_empty(), "left in the inbox: {:?}", c.inbox);
    assert!(c.rejected_dir.is_empty(), "rejected: {:?}", c.rejected_dir);
    assert_eq!(
        c.archive, o.archive,
        "the archive differs from the oracle's (names or bytes)"
    );

    // Payments: what the engine was told, and each daily payment's final status, as the
    // oracle's.
    assert_eq!(
        c.engine, o.engine,
        "the settlement engine's view of the daily payments differs from the uninterrupted run's \
         (a receipt applied by the inbox never reached it, or reached it twice)"
    );
    for p in &day_batch.payments {
        let id = &p.payment_id;
        assert_eq!(
            c.states.get(id),
            o.states.get(id),
            "daily payment {id}: final status differs from the uninterrupted run's"
        );
        assert!(
            matches!(
                c.states[id],
                PaymentStatus::Paid | PaymentStatus::Failed | PaymentStatus::Returned
            ),
            "daily payment {id} is final: {:?}",
            c.states[id]
        );
    }

    // The action: asked once more after the crashes, it succeeds.
    assert!(
        final_month.acknowledged(),
        "`settle month --op-id {OP_ID}` after the kill loop must succeed: {final_month:?}\nbank status:\n{status_settled}"
    );
    eprintln!("live_crash: final month answer:\n{}", final_month.stdout);

    // Every acknowledged answer is the answer: the same bytes as the final one (a replay).
    for a in &acknowledged {
        assert_eq!(
            a.stdout, final_month.stdout,
            "cycle {}: an acknowledged `settle month --op-id {OP_ID}` said something else than \
             the final run (the action was done again, or its stored answer changed)",
            a.cycle
        );
    }
    assert_eq!(
        comparable_month(&final_month.stdout, &root),
        comparable_month(&oracle_month, &oracle),
        "the month's answer differs from the uninterrupted run's"
    );

    // Every payment (the month's too) and `bank status` as the oracle's.
    assert_eq!(
        c.states, o.states,
        "payment states differ from the uninterrupted run's"
    );
    assert_eq!(
        c.bank_status, o.bank_status,
        "`bank status` differs from the uninterrupted run's"
    );

    // The action: one record, one close, one batch rendered and dropped once.
    // The oracle's `bank ingest` commands are operator actions too; in the crashed workspace
    // the watcher applied the receipts. Otherwise: the setup's `bank export`, and `month-1`.
    let want_actions: Vec<(String, String)> = o
        .actions
        .iter()
        .filter(|a| a.1 != "bank/ingest")
        .cloned()
        .collect();
    assert_eq!(
        c.actions.iter().filter(|a| a.0 == OP_ID).count(),
        1,
        "`ops.action` records of {OP_ID}: {:?}",
        c.actions
    );
    assert_eq!(
        c.actions, want_actions,
        "operator actions journaled (op id, action)"
    );
    assert_eq!(
        c.month_closes, 1,
        "`engine.close` records of monthly/{period}: the month must be closed exactly once"
    );
    assert_eq!(
        c.batch_records.get(&month_batch),
        Some(&(1, 1)),
        "the monthly batch {month_batch} must be rendered once and dropped once: {:?}",
        c.batch_records
    );
    assert_eq!(
        c.batch_records, o.batch_records,
        "rendered/dropped records per batch"
    );
    assert_eq!(
        c.batches, o.batches,
        "the batches (approval time aside) differ from the uninterrupted run's"
    );
    assert_eq!(c.outbox, o.outbox, "payment files in the outbox");
    assert!(!c.report.is_empty(), "the month's report is written");
    assert!(
        c.report == o.report,
        "the month's report differs from the uninterrupted run's:\n{}\n---\n{}",
        String::from_utf8_lossy(&c.report),
        String::from_utf8_lossy(&o.report)
    );
    assert_eq!(
        c.settle_status, o.settle_status,
        "`settle status` (consumer offsets aside) differs from the uninterrupted run's"
    );
    eprintln!("live_crash: total {:?}", t0.elapsed());
}
