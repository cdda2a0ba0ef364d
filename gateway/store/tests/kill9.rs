//! `kill -9` test: a writer process appends durably from several threads and
//! prints each acknowledged record; we SIGKILL it at random moments, reopen
//! the store and check that every acknowledged record survived exactly once,
//! checksum-valid, with its state writes applied, and that appends continue.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use medsettle_store::{JournalRecord, SledStore, Store, StoreConfig};

/// Kill cycles: at least `CYCLES_MIN`, more while within `TIME_BUDGET_S`.
const CYCLES_MIN: usize = 20;
const CYCLES_MAX: usize = 30;
/// Soft wall-clock budget for the whole test, seconds (a bound, not an assertion).
const TIME_BUDGET_S: u64 = 45;
/// Writer threads in the child.
const WRITER_THREADS: &str = "4";
/// Random delay before the kill, after the child reports it opened the store.
const KILL_DELAY_MS_MIN: u64 = 20;
const KILL_DELAY_MS_MAX: u64 = 500;

/// Small xorshift so kill moments differ per run without a rand dependency;
/// the seed is printed so a failing run can be reasoned about.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[derive(Debug, Clone)]
struct Ack {
    offset: u64,
    code: String,
    msgid: String,
}

fn run_cycle(dir: &std::path::Path, cycle: usize, delay_ms: u64) -> Vec<Ack> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_store-crash-writer"))
        .arg(dir)
        .arg(format!("r{cycle}"))
        .arg(WRITER_THREADS)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn writer");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                // A line cut short by the kill was never an acknowledgement.
                Ok(_) if !line.ends_with('\n') => break,
                Ok(_) => {
                    let parts: Vec<&str> = line.split_whitespace().collect();
                    assert_eq!(parts.len(), 4, "bad ack line {line:?}");
                    assert_eq!(parts[0], "ack");
                    acks.push(Ack {
                        offset: parts[1].parse().expect("offset"),
                        code: parts[2].to_string(),
                        msgid: parts[3].to_string(),
                    });
                }
            }
        }
        acks
    });
    // Wait until the child has opened the store, so kills land during writes.
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    let _ = stderr.read_line(&mut first);
    assert_eq!(first.trim(), "ready", "writer failed to start: {first}");
    std::thread::sleep(Duration::from_millis(delay_ms));
    child.kill().expect("SIGKILL"); // std sends SIGKILL on Unix
    let status = child.wait().expect("wait");
    assert!(!status.success(), "writer exited on its own: {status}");
    reader.join().expect("reader")
}

fn verify(dir: &std::path::Path, acks: &[Ack]) -> u64 {
    let store = SledStore::open(dir, StoreConfig::default()).expect("reopen after kill -9");
    let stats = store.stats().expect("stats");
    assert!(
        stats.corrupt_offsets.is_empty(),
        "corrupt records {:?}",
        stats.corrupt_offsets
    );

    // Every record in the journal decodes; count keys to prove exactly-once.
    let mut key_count: HashMap<(String, String), u32> = HashMap::new();
    let mut by_offset: BTreeMap<u64, JournalRecord> = BTreeMap::new();
    for item in store.export(0) {
        let (offset, record) = item.expect("checksum-valid record");
        if let Some(key) = record.key.clone() {
            *key_count.entry(key).or_insert(0) += 1;
        }
        by_offset.insert(offset, record);
    }
    assert!(
        key_count.values().all(|n| *n == 1),
        "a key appears twice in the journal"
    );
    // Offsets are gap-free from 0: recovery kept a prefix.
    if let Some((&last, _)) = by_offset.last_key_value() {
        assert_eq!(by_offset.len() as u64, last + 1, "gap in journal offsets");
    }

    for ack in acks {
        let record = by_offset
            .get(&ack.offset)
            .unwrap_or_else(|| panic!("acknowledged offset {} lost: {ack:?}", ack.offset));
        assert_eq!(
            record.key,
            Some((ack.code.clone(), ack.msgid.clone())),
            "offset {}",
            ack.offset
        );
        let entry = store
            .lookup_idempotent(&ack.code, &ack.msgid)
            .expect("lookup")
            .unwrap_or_else(|| panic!("idempotency entry lost for {ack:?}"));
        assert_eq!(entry.offset, ack.offset);
        assert_eq!(entry.answer, format!("answer {}", ack.msgid).into_bytes());
        assert!(
            store
                .get("seen", ack.msgid.as_bytes())
                .expect("get")
                .is_some(),
            "state write of acknowledged {ack:?} missing"
        );
    }
    // No state without its record: every `seen` entry and every `last`
    // pointer names a journaled msgid.
    let journaled: std::collections::HashSet<String> =
        key_count.keys().map(|(_, m)| m.clone()).collect();
    for item in store.scan_prefix("seen", b"").expect("scan") {
        let (k, _) = item.expect("scan item");
        let msgid = String::from_utf8(k).expect("utf8");
        assert!(journaled.contains(&msgid), "state for unjournaled {msgid}");
    }
    for item in store.scan_prefix("last", b"").expect("scan") {
        let (_, v) = item.expect("scan item");
        let msgid = String::from_utf8(v).expect("utf8");
        assert!(
            journaled.contains(&msgid),
            "`last` points at unjournaled {msgid}"
        );
    }
    stats.last_offset.map_or(0, |o| o + 1)
}

#[test]
fn kill_dash_nine_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    eprintln!("kill9 seed {seed}");
    let mut rng = XorShift(seed);
    let started = Instant::now();
    let mut all_acks: Vec<Ack> = Vec::new();
    let mut cycles = 0;
    for cycle in 0..CYCLES_MAX {
        if cycle >= CYCLES_MIN && started.elapsed() > Duration::from_secs(TIME_BUDGET_S) {
            break;
        }
        cycles += 1;
        let delay = KILL_DELAY_MS_MIN + rng.next() % (KILL_DELAY_MS_MAX - KILL_DELAY_MS_MIN);
        let acks = run_cycle(dir.path(), cycle, delay);
        all_acks.extend(acks);
        verify(dir.path(), &all_acks);
    }
    assert!(
        all_acks.len() > cycles,
        "only {} acknowledgements in {cycles} cycles: the test proved little",
        all_acks.len()
    );
    eprintln!(
        "kill9: {cycles} cycles, {} acknowledged records, {:?}",
        all_acks.len(),
        started.elapsed()
    );

    // Appending continues after the last kill, at the next offset.
    let next = verify(dir.path(), &all_acks);
    let store = SledStore::open(dir.path(), StoreConfig::default()).expect("reopen");
    let a = store
        .append(JournalRecord::new("after", b"x".to_vec()))
        .expect("append");
    store.wait_durable_blocking(a.ticket).expect("durable");
    assert_eq!(a.offset, next);
}
