//! `kill -9` test: `filedrop-crash` drops batches, runs the simulated bank and ingests
//! receipts on one store and one set of directories; we SIGKILL it at random moments, then
//! let it finish, and prove from the directories and the journal:
//! * never two different files for one batch (one file per batch, the deterministic bytes,
//!   one `rendered` and one `dropped` record per batch, no temp files left);
//! * never a receipt applied twice (each receipt file applied by one record; each payment's
//!   status writes strictly forward, none repeated);
//! * never a receipt lost (every receipt file the bank sent is applied and archived, and
//!   every payment ends in the status the bank's plan gives it).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use medsettle_bank::{Pain001Options, pain001};
use medsettle_canonical::PaymentBatch;
use medsettle_filedrop::state::{
    BatchRecord, InboxFileRecord, InboxOutcome, KIND_BATCH_DROPPED, KIND_BATCH_RENDERED,
    KIND_RECEIPT_FILE, PaymentState, SPACE_PAYMENT, batches, inbox_files, payment_states,
};
use medsettle_filedrop::{BatchState, PaymentStatus};
use medsettle_store::{SledStore, StateWrite, Store, StoreConfig};
use sha2::{Digest, Sha256};

/// Kill cycles: at least `CYCLES_MIN`, more while within `TIME_BUDGET_S` (a bound on the
/// test's length, not an assertion about speed).
const CYCLES_MIN: usize = 15;
const CYCLES_MAX: usize = 40;
const TIME_BUDGET_S: u64 = 40;
/// Random delay before the kill, after the child has opened the store.
const KILL_DELAY_MS_MIN: u64 = 5;
const KILL_DELAY_MS_MAX: u64 = 400;

/// xorshift: kill moments differ per run; the seed is printed for a failing run.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const BIN: &str = env!("CARGO_BIN_EXE_filedrop-crash");

fn kill_cycle(base: &Path, delay_ms: u64) {
    let mut child = Command::new(BIN)
        .arg(base)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn filedrop-crash");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    let _ = stderr.read_line(&mut first);
    assert_eq!(first.trim(), "ready", "child did not start: {first:?}");
    std::thread::sleep(Duration::from_millis(delay_ms));
    // A child that already died on its own would be a failure: it only exits when killed.
    if let Some(st) = child.try_wait().expect("try_wait") {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        panic!("filedrop-crash exited by itself ({st}): {rest}");
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

#[derive(serde::Deserialize)]
struct Fixture {
    batches: Vec<PaymentBatch>,
    final_status: BTreeMap<String, PaymentStatus>,
    receipt_files: Vec<String>,
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

#[test]
fn kill9_at_random_moments_never_two_files_never_twice_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill9 seed {seed}");
    let mut rng = XorShift(seed);
    let start = Instant::now();
    let mut cycles = 0;
    while cycles < CYCLES_MIN
        || (cycles < CYCLES_MAX && start.elapsed() < Duration::from_secs(TIME_BUDGET_S))
    {
        let delay = KILL_DELAY_MS_MIN + rng.next() % (KILL_DELAY_MS_MAX - KILL_DELAY_MS_MIN + 1);
        kill_cycle(base, delay);
        cycles += 1;
    }
    eprintln!("{cycles} kill cycles in {:?}", start.elapsed());

    // Recovery run: finish everything, then exit.
    let out = Command::new(BIN).arg(base).arg("finish").output().unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("done"),
        "finish run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fixture: Fixture = serde_json::from_slice(
        &Command::new(BIN)
            .arg("--print-fixture")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();

    let store = SledStore::open(&base.join("store"), StoreConfig::default()).unwrap();
    let outbox = base.join("outbox");
    let inbox = base.join("inbox");
    let archive = base.join("archive");
    let list = |d: &Path| -> BTreeSet<String> {
        std::fs::read_dir(d)
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default()
    };

    // --- never two different files for one batch ---
    let recs: BTreeMap<String, (BatchRecord, Option<BatchState>)> = batches(&store)
        .unwrap()
        .into_iter()
        .map(|(r, s)| (r.batch.batch_id.clone(), (r, s)))
        .collect();
    assert_eq!(recs.len(), fixture.batches.len());
    let mut expected_outbox = BTreeSet::new();
    for b in &fixture.batches {
        let (rec, state) = &recs[&b.batch_id];
        assert!(
            matches!(state, Some(BatchState::Dropped | BatchState::Acknowledged)),
            "{}: {state:?}",
            b.batch_id
        );
        let want = pain001::encode(b, &Pain001Options::default()).unwrap();
        let on_disk = std::fs::read(outbox.join(&rec.file_name)).unwrap();
        assert_eq!(sha(&on_disk), sha(&want), "{}", b.batch_id);
        assert_eq!(rec.file_sha256, sha(&want));
        expected_outbox.insert(rec.file_name.clone());
        expected_outbox.insert(rec.trigger_name.clone());
    }
    assert_eq!(
        list(&outbox),
        expected_outbox,
        "exactly one file + trigger per batch"
    );

    let mut rendered: BTreeMap<String, usize> = BTreeMap::new();
    let mut dropped: BTreeMap<String, usize> = BTreeMap::new();
    let mut applied_files: BTreeMap<String, usize> = BTreeMap::new();
    let mut history: BTreeMap<String, Vec<PaymentStatus>> = BTreeMap::new();
    for item in store.export(0) {
        let (_, r) = item.unwrap();
        match r.kind.as_str() {
            KIND_BATCH_RENDERED => {
                let b: BatchRecord = serde_json::from_slice(&r.payload).unwrap();
                *rendered.entry(b.batch.batch_id).or_default() += 1;
            }
            KIND_BATCH_DROPPED => {
                *dropped
                    .entry(String::from_utf8(r.payload.clone()).unwrap())
                    .or_default() += 1;
            }
            KIND_RECEIPT_FILE => {
                let f: InboxFileRecord = serde_json::from_slice(&r.payload).unwrap();
                *applied_files.entry(f.file_name).or_default() += 1;
            }
            _ => {}
        }
        for w in &r.state_writes {
            if let StateWrite::Put { space, key, value } = w
                && space == SPACE_PAYMENT
            {
                let st: PaymentState = serde_json::from_slice(value).unwrap();
                history
                    .entry(String::from_utf8(key.clone()).unwrap())
                    .or_default()
                    .push(st.status);
            }
        }
    }
    for b in &fixture.batches {
        assert_eq!(rendered.get(&b.batch_id), Some(&1), "{}", b.batch_id);
        assert_eq!(dropped.get(&b.batch_id), Some(&1), "{}", b.batch_id);
    }

    // --- never a receipt applied twice ---
    for (name, n) in &applied_files {
        assert_eq!(*n, 1, "receipt file {name} applied {n} times");
    }
    for (id, h) in &history {
        assert_eq!(h[0], PaymentStatus::Sent, "{id}: {h:?}");
        for pair in h.windows(2) {
            let next = match pair[1] {
                PaymentStatus::Accepted => medsettle_canonical::ReceiptStatus::Accepted,
                PaymentStatus::Pending => medsettle_canonical::ReceiptStatus::Pending,
                PaymentStatus::Paid => medsettle_canonical::ReceiptStatus::Paid,
                PaymentStatus::Failed => medsettle_canonical::ReceiptStatus::Failed,
                PaymentStatus::Returned => medsettle_canonical::ReceiptStatus::Returned,
                PaymentStatus::Sent => panic!("{id}: back to sent: {h:?}"),
            };
            assert!(pair[0].advances_to(next), "{id}: not forward: {h:?}");
        }
    }

    // --- never a receipt lost ---
    let files: BTreeMap<String, InboxFileRecord> =
        inbox_files(&store).unwrap().into_iter().collect();
    let archived = list(&archive);
    for name in &fixture.receipt_files {
        let rec = files
            .get(name)
            .unwrap_or_else(|| panic!("receipt file {name} never ingested"));
        assert!(
            matches!(rec.outcome, InboxOutcome::Applied { .. }),
            "{name}: {:?}",
            rec.outcome
        );
        assert!(archived.contains(name), "{name} not archived");
    }
    let stray: Vec<String> = list(&inbox)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "left in the inbox: {stray:?}");
    let states: BTreeMap<String, PaymentState> =
        payment_states(&store).unwrap().into_iter().collect();
    assert_eq!(states.len(), fixture.final_status.len());
    for (id, want) in &fixture.final_status {
        assert_eq!(states[id].status, *want, "payment {id}");
    }
}
