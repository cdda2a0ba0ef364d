//! Store tests against real sled on disk (temp dirs). They live inside the
//! crate so they can use the `#[cfg(test)]` fault hooks.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};

use crate::{
    Durability, IdempotentOutcome, JournalRecord, SledStore, StateWrite, Store, StoreConfig,
    StoreError,
};

fn open(dir: &Path) -> SledStore {
    SledStore::open(dir, StoreConfig::default()).expect("open store")
}

fn sha(n: u8) -> [u8; 32] {
    [n; 32]
}

fn request(code: &str, msgid: &str) -> JournalRecord {
    JournalRecord::new(
        "nhsa.request",
        format!("{{\"msgid\":\"{msgid}\"}}").into_bytes(),
    )
    .with_key(code, msgid)
}

fn append_durable(store: &SledStore, record: JournalRecord) -> u64 {
    let a = store.append(record).unwrap();
    store.wait_durable_blocking(a.ticket).unwrap();
    a.offset
}

#[test]
fn offsets_are_gap_free_and_continue_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        for i in 0..3u64 {
            assert_eq!(append_durable(&s, JournalRecord::new("k", vec![1])), i);
        }
    }
    let s = open(dir.path());
    assert_eq!(append_durable(&s, JournalRecord::new("k", vec![2])), 3);
    let all: Vec<u64> = s.export(0).map(|r| r.unwrap().0).collect();
    assert_eq!(all, vec![0, 1, 2, 3]);
}

#[test]
fn corrupt_record_is_an_error_naming_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for i in 0..3u8 {
        let out = s
            .append_idempotent(request("H1", &format!("m{i}")), sha(i), b"ans".to_vec())
            .unwrap();
        let IdempotentOutcome::Appended { ticket, .. } = out else {
            panic!("expected append, got {out:?}")
        };
        s.wait_durable_blocking(ticket).unwrap();
    }
    let mut frame = s.raw_frame_for_test(1);
    let last = frame.len() - 1;
    frame[last] ^= 0x40;
    s.overwrite_frame_for_test(1, &frame);

    match s.read_from(0, 10) {
        Err(StoreError::Corrupt { offset: 1, .. }) => {}
        other => panic!("read_from must fail on offset 1: {other:?}"),
    }
    // Reading past it works; export reports it and keeps going.
    assert_eq!(s.read_from(2, 10).unwrap().len(), 1);
    let items: Vec<_> = s.export(0).collect();
    assert_eq!(items.len(), 3);
    assert!(items[0].is_ok() && items[2].is_ok());
    assert!(matches!(
        items[1],
        Err(StoreError::Corrupt { offset: 1, .. })
    ));
    assert_eq!(s.stats().unwrap().corrupt_offsets, vec![1]);
    // The duplicate path reads the answer from the record: it must not
    // return bytes from a corrupt record.
    assert!(matches!(
        s.lookup_idempotent("H1", "m1"),
        Err(StoreError::Corrupt { offset: 1, .. })
    ));
}

#[test]
fn idempotency_duplicate_and_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let first = s
        .append_idempotent(request("H1", "m1"), sha(1), b"answer-1".to_vec())
        .unwrap();
    let IdempotentOutcome::Appended { offset, ticket } = first else {
        panic!("{first:?}")
    };
    s.wait_durable_blocking(ticket).unwrap();

    // Same body, a freshly computed (different) answer: the stored one wins.
    match s
        .append_idempotent(request("H1", "m1"), sha(1), b"answer-2".to_vec())
        .unwrap()
    {
        IdempotentOutcome::Duplicate {
            offset: o, answer, ..
        } => {
            assert_eq!(o, offset);
            assert_eq!(answer, b"answer-1");
        }
        other => panic!("expected duplicate: {other:?}"),
    }
    assert!(matches!(
        s.append_idempotent(request("H1", "m1"), sha(9), b"x".to_vec()).unwrap(),
        IdempotentOutcome::Conflict { offset: o, .. } if o == offset
    ));
    // Same msgid from another institution is a different key; the length
    // prefix keeps ("H1","1m1") and ("H11","m1") apart.
    assert!(matches!(
        s.append_idempotent(request("H11", "m1"), sha(1), b"b".to_vec())
            .unwrap(),
        IdempotentOutcome::Appended { .. }
    ));
    assert!(matches!(
        s.append_idempotent(request("H1", "1m1"), sha(1), b"c".to_vec())
            .unwrap(),
        IdempotentOutcome::Appended { .. }
    ));
    let entry = s.lookup_idempotent("H1", "m1").unwrap().unwrap();
    assert_eq!(
        (entry.offset, entry.body_sha256, entry.answer),
        (offset, sha(1), b"answer-1".to_vec())
    );
    assert_eq!(s.lookup_idempotent("H1", "nope").unwrap(), None);
    assert_eq!(s.stats().unwrap().record_count, 3);
}

#[test]
fn concurrent_identical_requests_append_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(dir.path()));
    let threads = 16;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (s, b) = (Arc::clone(&s), Arc::clone(&barrier));
            std::thread::spawn(move || {
                b.wait();
                let out = s
                    .append_idempotent(request("H1", "same"), sha(3), b"ans".to_vec())
                    .unwrap();
                let ticket = match &out {
                    IdempotentOutcome::Appended { ticket, .. }
                    | IdempotentOutcome::Duplicate { ticket, .. }
                    | IdempotentOutcome::Conflict { ticket, .. } => *ticket,
                };
                s.wait_durable_blocking(ticket).unwrap();
                out
            })
        })
        .collect();
    let outs: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let appended = outs
        .iter()
        .filter(|o| matches!(o, IdempotentOutcome::Appended { .. }))
        .count();
    assert_eq!(appended, 1, "{outs:?}");
    assert!(outs.iter().all(|o| match o {
        IdempotentOutcome::Appended { offset, .. } => *offset == 0,
        IdempotentOutcome::Duplicate { offset, answer, .. } => *offset == 0 && answer == b"ans",
        IdempotentOutcome::Conflict { .. } => false,
    }));
    assert_eq!(s.stats().unwrap().record_count, 1);
}

#[test]
fn state_writes_replay_after_crash_between_record_and_state() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        append_durable(
            &s,
            JournalRecord::new("settlement", vec![])
                .with_write(StateWrite::put("acc", b"p1".to_vec(), b"100".to_vec()))
                .with_write(StateWrite::put("visit", b"v1".to_vec(), b"open".to_vec())),
        );
        s.hooks()
            .crash_after_journal_insert
            .store(true, Ordering::SeqCst);
        let crashed = s.append_idempotent(
            request("H1", "m7")
                .with_write(StateWrite::put("acc", b"p1".to_vec(), b"250".to_vec()))
                .with_write(StateWrite::delete("visit", b"v1".to_vec())),
            sha(7),
            b"answer-7".to_vec(),
        );
        assert!(matches!(crashed, Err(StoreError::SimulatedCrash)));
        // The hook really stopped before the state and index writes…
        assert_eq!(s.get("acc", b"p1").unwrap().as_deref(), Some(&b"100"[..]));
        assert_eq!(s.lookup_idempotent("H1", "m7").unwrap(), None);
        // …and the store refuses to build on a half-applied record.
        assert!(!s.is_writable());
        assert!(matches!(
            s.append(JournalRecord::new("k", vec![])),
            Err(StoreError::NotWritable(_))
        ));
    } // drop = process end: the journal record is on disk, its state is not.
    let s = open(dir.path());
    assert!(s.is_writable());
    assert_eq!(s.get("acc", b"p1").unwrap().as_deref(), Some(&b"250"[..]));
    assert_eq!(s.get("visit", b"v1").unwrap(), None);
    let entry = s.lookup_idempotent("H1", "m7").unwrap().unwrap();
    assert_eq!((entry.offset, entry.answer), (1, b"answer-7".to_vec()));
    assert!(matches!(
        s.append_idempotent(request("H1", "m7"), sha(7), b"other".to_vec())
            .unwrap(),
        IdempotentOutcome::Duplicate { offset: 1, .. }
    ));
    assert_eq!(append_durable(&s, JournalRecord::new("k", vec![])), 2);
}

#[test]
fn state_keyspaces_get_scan_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    append_durable(
        &s,
        JournalRecord::new("bank.batch", vec![])
            .with_write(StateWrite::put("ledger", b"a/1".to_vec(), b"x".to_vec()))
            .with_write(StateWrite::put("ledger", b"a/2".to_vec(), b"y".to_vec()))
            .with_write(StateWrite::put("ledger", b"b/1".to_vec(), b"z".to_vec())),
    );
    append_durable(
        &s,
        JournalRecord::new("bank.batch", vec![])
            .with_write(StateWrite::delete("ledger", b"a/1".to_vec())),
    );
    let scanned: Vec<_> = s
        .scan_prefix("ledger", b"a/")
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(scanned, vec![(b"a/2".to_vec(), b"y".to_vec())]);
    assert_eq!(s.get("ledger", b"b/1").unwrap().as_deref(), Some(&b"z"[..]));
    assert!(matches!(
        s.get("bad space", b"k"),
        Err(StoreError::InvalidRecord(_))
    ));
}

#[test]
fn invalid_records_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        record_bytes_max: 2048,
        ..StoreConfig::default()
    };
    let s = SledStore::open(dir.path(), config).unwrap();
    let mut with_idem = JournalRecord::new("k", vec![]);
    with_idem.idempotency = Some(crate::Idempotency {
        body_sha256: sha(0),
        answer: vec![],
    });
    let bad = [
        with_idem,
        JournalRecord::new("k", vec![0; 4096]),
        JournalRecord::new("k", vec![]).with_write(StateWrite::put("../x", vec![1], vec![1])),
        JournalRecord::new("k", vec![]).with_key("", "m"),
    ];
    for record in bad {
        let err = s.append(record).unwrap_err();
        assert!(err.is_caller_error(), "{err}");
    }
    assert!(matches!(
        s.append_idempotent(JournalRecord::new("k", vec![]), sha(0), vec![]),
        Err(StoreError::InvalidRecord(_))
    ));
    assert_eq!(s.stats().unwrap().record_count, 0);
    assert!(s.is_writable());
}

#[test]
fn consumer_resumes_from_committed_offset_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        for i in 0..5u8 {
            append_durable(&s, JournalRecord::new("settlement", vec![i]));
        }
        assert_eq!(s.committed_offset("settle").unwrap(), 0);
        let batch = s
            .read_from(s.committed_offset("settle").unwrap(), 2)
            .unwrap();
        assert_eq!(
            batch.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
            vec![0, 1]
        );
        assert_eq!(batch[1].1.payload, vec![1]);
        let t = s
            .commit_offset("settle", batch.last().unwrap().0 + 1)
            .unwrap();
        s.wait_durable_blocking(t).unwrap();
    }
    let s = open(dir.path());
    assert_eq!(s.committed_offset("settle").unwrap(), 2);
    assert_eq!(s.committed_offset("bank-outbox").unwrap(), 0);
    let rest = s.read_from(2, 100).unwrap();
    assert_eq!(
        rest.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    assert_eq!(s.stats().unwrap().consumer_offsets.get("settle"), Some(&2));
}

#[test]
fn readers_never_see_records_that_are_not_durable() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    append_durable(&s, JournalRecord::new("k", vec![0]));
    s.hooks().fail_flushes.store(u32::MAX, Ordering::SeqCst);
    let a = s.append(JournalRecord::new("k", vec![1])).unwrap();
    assert!(s.wait_durable_blocking(a.ticket).is_err());
    // Offset 1 is in sled's memory but not durable: a consumer must not act on it.
    assert_eq!(s.read_from(0, 10).unwrap().len(), 1);
    assert_eq!(s.durable_offset(), Some(0));
    s.hooks().fail_flushes.store(0, Ordering::SeqCst);
}

/// `threads` writers start together and each appends `per_thread` records made by `record(t, i)`,
/// waiting for each to be durable — which must put it in the consumers' prefix.
fn concurrent_writers(
    s: &Arc<SledStore>,
    threads: usize,
    per_thread: usize,
    record: fn(usize, usize) -> JournalRecord,
) {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (s, b) = (Arc::clone(s), Arc::clone(&barrier));
            std::thread::spawn(move || {
                b.wait();
                for i in 0..per_thread {
                    let a = s.append(record(t, i)).unwrap();
                    s.wait_durable_blocking(a.ticket).unwrap();
                    // Durable implies readable by consumers.
                    assert!(s.durable_offset().unwrap() >= a.offset);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn group_commit_many_writers_few_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(dir.path()));
    let (threads, per_thread) = (64usize, 10usize);
    concurrent_writers(&s, threads, per_thread, |t, i| {
        JournalRecord::new("k", vec![]).with_write(StateWrite::put(
            "w",
            format!("{t}/{i}").into_bytes(),
            vec![1],
        ))
    });
    let stats = s.stats().unwrap();
    let writes = (threads * per_thread) as u64;
    assert_eq!(stats.record_count, writes);
    assert_eq!(stats.durable_offset, Some(writes - 1));
    assert!(
        stats.flush_count < writes,
        "flushes {} for {writes} writes",
        stats.flush_count
    );
    assert_eq!(s.scan_prefix("w", b"").unwrap().count() as u64, writes);
}

fn open_lingering(dir: &Path) -> SledStore {
    let config = StoreConfig {
        flush_linger_us: crate::FLUSH_LINGER_US_MAX,
        ..StoreConfig::default()
    };
    SledStore::open(dir, config).expect("open store")
}

#[test]
fn a_lone_writer_never_waits_for_a_linger() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_lingering(dir.path());
    for i in 0..20u8 {
        append_durable(&s, JournalRecord::new("k", vec![i]));
    }
    // Each flush covered one write, so the flusher never saw concurrent writers.
    assert_eq!(s.hooks().lingers.load(Ordering::SeqCst), 0);
    assert_eq!(s.durable_offset(), Some(19));
}

#[test]
fn a_lingering_flusher_batches_concurrent_writers_and_strands_none() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open_lingering(dir.path()));
    let (threads, per_thread) = (64usize, 10usize);
    concurrent_writers(&s, threads, per_thread, |t, i| {
        JournalRecord::new("k", format!("{t}/{i}").into_bytes())
    });
    let writes = (threads * per_thread) as u64;
    let stats = s.stats().unwrap();
    assert_eq!(stats.durable_offset, Some(writes - 1));
    assert!(
        s.hooks().lingers.load(Ordering::SeqCst) > 0,
        "never lingered"
    );
    assert!(
        stats.flush_count < writes,
        "flushes {} for {writes} writes",
        stats.flush_count
    );
}

#[test]
fn linger_and_batch_target_are_validated() {
    let too_long = StoreConfig {
        flush_linger_us: crate::FLUSH_LINGER_US_MAX + 1,
        ..StoreConfig::default()
    };
    assert!(too_long.validate().is_err());
    let no_target = StoreConfig {
        flush_batch_target: 0,
        ..StoreConfig::default()
    };
    assert!(no_target.validate().is_err());
    for share in [0, 101] {
        let bad_share = StoreConfig {
            record_index_busy_share_percent: share,
            ..StoreConfig::default()
        };
        assert!(
            bad_share
                .validate()
                .unwrap_err()
                .to_string()
                .contains("record_index_busy_share_percent"),
            "{share}"
        );
    }
}

/// Appends complete out of order (only the journal insert is serialised), yet the state a
/// key ends with is the write of the highest offset that wrote it — what replay would give.
#[test]
fn concurrent_writes_to_one_key_land_in_offset_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(dir.path()));
    let (threads, per_thread) = (16usize, 40usize);
    // One shared key, and one key of each thread's own (disjoint stripes).
    concurrent_writers(&s, threads, per_thread, |t, i| {
        let mine = format!("{t}/{i}").into_bytes();
        JournalRecord::new("k", vec![])
            .with_write(StateWrite::put("shared", b"k".to_vec(), mine.clone()))
            .with_write(StateWrite::put("own", format!("{t}").into_bytes(), mine))
    });
    let records: Vec<(u64, JournalRecord)> = s.export(0).map(Result::unwrap).collect();
    let offsets: Vec<u64> = records.iter().map(|(o, _)| *o).collect();
    let expected: Vec<u64> = (0..(threads * per_thread) as u64).collect();
    assert_eq!(offsets, expected, "gap-free offsets");
    let value_of = |r: &JournalRecord, space: &str| {
        r.state_writes.iter().find_map(|w| match w {
            StateWrite::Put {
                space: sp, value, ..
            } if sp == space => Some(value.clone()),
            _ => None,
        })
    };
    let last = value_of(&records.last().unwrap().1, "shared").unwrap();
    assert_eq!(s.get("shared", b"k").unwrap(), Some(last));
    for t in 0..threads {
        let key = format!("{t}").into_bytes();
        let last_own = records
            .iter()
            .rev()
            .find(|(_, r)| {
                r.state_writes.iter().any(
                    |w| matches!(w, StateWrite::Put { space, key: k, .. } if space == "own" && *k == key),
                )
            })
            .and_then(|(_, r)| value_of(r, "own"))
            .unwrap();
        assert_eq!(s.get("own", &key).unwrap(), Some(last_own));
    }
}

/// A slow writer holding an older offset: a younger record writing the same key waits for
/// it (and is acknowledged only once the older one is in), while a record with other keys
/// goes ahead.
#[test]
fn a_slow_older_write_to_a_key_is_not_overtaken() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(dir.path()));
    s.hooks()
        .pause_before_state_writes_ms
        .store(300, Ordering::SeqCst);
    let slow = {
        let s = Arc::clone(&s);
        std::thread::spawn(move || {
            let rec = JournalRecord::new("k", vec![]).with_write(StateWrite::put(
                "shared",
                b"k".to_vec(),
                b"older".to_vec(),
            ));
            let a = s.append(rec).unwrap();
            s.wait_durable_blocking(a.ticket).unwrap();
            a.offset
        })
    };
    // Let the slow append take its offset and reach its pause.
    while s
        .hooks()
        .pause_before_state_writes_ms
        .load(Ordering::SeqCst)
        != 0
    {
        std::thread::yield_now();
    }
    let append_in_thread = |space: &'static str, value: &'static [u8]| {
        let s = Arc::clone(&s);
        std::thread::spawn(move || {
            let rec = JournalRecord::new("k", vec![]).with_write(StateWrite::put(
                space,
                b"k".to_vec(),
                value.to_vec(),
            ));
            let a = s.append(rec).unwrap();
            s.wait_durable_blocking(a.ticket).unwrap();
            assert!(s.durable_offset().unwrap() >= a.offset);
            a.offset
        })
    };
    let younger = append_in_thread("shared", b"younger");
    let other = append_in_thread("other", b"x");
    // A record with other keys writes its state while the older one is still paused...
    while s.get("other", b"k").unwrap().is_none() {
        std::thread::yield_now();
    }
    assert!(
        !slow.is_finished(),
        "the other key waited for the slow writer"
    );
    let (older, other, younger) = (
        slow.join().unwrap(),
        other.join().unwrap(),
        younger.join().unwrap(),
    );
    assert!(older < younger && older < other);
    // ...but the younger write to the same key lands after the older one.
    assert_eq!(s.get("shared", b"k").unwrap(), Some(b"younger".to_vec()));
}

/// A repeat of a key whose first append is still finishing (journaled, index entry not in
/// yet) waits for it: the same body gets the first answer, a different body a conflict, and
/// nothing is journaled twice.
#[test]
fn a_repeat_of_an_append_still_finishing_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(dir.path()));
    s.hooks()
        .pause_before_index_entry_ms
        .store(200, Ordering::SeqCst);
    let first = {
        let s = Arc::clone(&s);
        std::thread::spawn(move || {
            s.append_idempotent(request("H1", "m1"), sha(1), b"first".to_vec())
                .unwrap()
        })
    };
    while s.hooks().pause_before_index_entry_ms.load(Ordering::SeqCst) != 0 {
        std::thread::yield_now();
    }
    let same = s
        .append_idempotent(request("H1", "m1"), sha(1), b"second".to_vec())
        .unwrap();
    let other_body = s
        .append_idempotent(request("H1", "m1"), sha(2), b"third".to_vec())
        .unwrap();
    assert!(
        matches!(
            first.join().unwrap(),
            IdempotentOutcome::Appended { offset: 0, .. }
        ),
        "first"
    );
    assert!(
        matches!(&same, IdempotentOutcome::Duplicate { offset: 0, answer, .. } if answer == b"first"),
        "{same:?}"
    );
    assert!(
        matches!(other_body, IdempotentOutcome::Conflict { offset: 0, .. }),
        "{other_body:?}"
    );
    assert_eq!(s.stats().unwrap().record_count, 1);
}

/// A repeat that finds the index entry of an append still finishing must not be answered
/// before that append is complete and durable (a flush that began before it finished proves
/// nothing about it).
#[test]
fn waiting_on_the_current_ticket_covers_an_append_still_finishing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(dir.path()));
    append_durable(&s, request("H1", "before"));
    s.hooks()
        .pause_before_state_writes_ms
        .store(300, Ordering::SeqCst);
    let original = {
        let s = Arc::clone(&s);
        std::thread::spawn(move || {
            let rec = request("H1", "m1").with_write(StateWrite::put("w", b"k".to_vec(), vec![1]));
            s.append_idempotent(rec, sha(1), b"first".to_vec()).unwrap()
        })
    };
    // The index entry is visible while the original is paused before its state writes.
    let entry = loop {
        if let Some(e) = s.lookup_idempotent("H1", "m1").unwrap() {
            break e;
        }
        std::thread::yield_now();
    };
    s.wait_durable_blocking(s.current_ticket()).unwrap();
    assert!(
        original.is_finished(),
        "answered before the original completed"
    );
    assert!(s.durable_offset().unwrap() >= entry.offset);
    assert_eq!(s.get("w", b"k").unwrap(), Some(vec![1]));
    original.join().unwrap();
}

/// A ticket whose offset is not yet in the durable prefix waits — also when its generation is
/// already flushed and no flush ever failed (it once read "no failure generation yet" as a
/// failure: `FlushFailed("unknown flush failure")` for a concurrent duplicate).
#[test]
fn a_ticket_waiting_for_the_prefix_is_undecided_not_failed() {
    let waiting = crate::Ticket {
        generation: 0,
        offset: Some(0),
    };
    let fresh = crate::sled_store::DurableView::default();
    assert!(fresh.decide(waiting).is_none());
    let mut done = crate::sled_store::DurableView::default();
    done.durable_offset = Some(0);
    assert!(matches!(done.decide(waiting), Some(Ok(()))));
}

#[test]
fn async_waiters_become_durable() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(dir.path()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut tickets = Vec::new();
        for i in 0..20u8 {
            tickets.push(s.append(JournalRecord::new("k", vec![i])).unwrap());
        }
        for a in tickets {
            s.wait_durable(a.ticket).await.unwrap();
        }
    });
    assert_eq!(s.durable_offset(), Some(19));
}

#[test]
fn flush_failure_reaches_waiters_and_blocks_writes_until_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.hooks().fail_flushes.store(u32::MAX, Ordering::SeqCst);
    let a = s.append(JournalRecord::new("k", vec![1])).unwrap();
    assert!(matches!(
        s.wait_durable_blocking(a.ticket),
        Err(StoreError::FlushFailed(_))
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(matches!(
        rt.block_on(s.wait_durable(a.ticket)),
        Err(StoreError::FlushFailed(_))
    ));
    assert!(!s.is_writable());
    assert!(matches!(
        s.append(JournalRecord::new("k", vec![2])),
        Err(StoreError::NotWritable(_))
    ));
    assert!(matches!(
        s.commit_offset("c", 1),
        Err(StoreError::NotWritable(_))
    ));

    // The disk "recovers" (the next fsync would succeed): that proves nothing about the pages
    // the failed one was to write (fsyncgate), so the failure stands until reopen.
    s.hooks().fail_flushes.store(0, Ordering::SeqCst);
    let before = s.hooks().flushes_started.load(Ordering::SeqCst);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        s.hooks().flushes_started.load(Ordering::SeqCst),
        before,
        "the flusher retried after a failed flush"
    );
    assert!(!s.is_writable());
    assert!(matches!(
        s.wait_durable_blocking(a.ticket),
        Err(StoreError::FlushFailed(_))
    ));
    assert_eq!(s.durable_offset(), None, "nothing became durable");
    assert!(s.read_from(0, 10).unwrap().is_empty());
}

/// `request("H1", msgid)` appended idempotently with body hash `sha(n)`, waited durable.
fn idempotent_durable(s: &SledStore, msgid: &str, n: u8) -> u64 {
    match s
        .append_idempotent(
            request("H1", msgid),
            sha(n),
            format!("answer-{n}").into_bytes(),
        )
        .unwrap()
    {
        IdempotentOutcome::Appended { offset, ticket } => {
            s.wait_durable_blocking(ticket).unwrap();
            offset
        }
        other => panic!("{other:?}"),
    }
}

/// The operator's action after a failed flush is a reopen (a restart of the gateway): what was
/// acknowledged before the failure is there, the store is writable again, and offsets go on.
#[test]
fn after_a_failed_flush_only_a_reopen_makes_the_store_writable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        idempotent_durable(&s, "m1", 1);
        assert_eq!(append_durable(&s, JournalRecord::new("k", vec![1])), 1);
        s.hooks().fail_flushes.store(1, Ordering::SeqCst);
        let lost = s
            .append_idempotent(request("H1", "m2"), sha(2), b"answer-2".to_vec())
            .unwrap();
        let IdempotentOutcome::Appended { ticket, .. } = lost else {
            panic!("{lost:?}")
        };
        assert!(matches!(
            s.wait_durable_blocking(ticket),
            Err(StoreError::FlushFailed(_))
        ));
        // A repeat of the unacknowledged request is not answered from the index either.
        assert!(matches!(
            s.append_idempotent(request("H1", "m2"), sha(2), b"x".to_vec()),
            Err(StoreError::NotWritable(_))
        ));
        assert!(!s.is_writable());
        assert_eq!(s.durable_offset(), Some(1));
    }
    let s = open(dir.path());
    assert!(s.is_writable());
    let e = s.lookup_idempotent("H1", "m1").unwrap().unwrap();
    assert_eq!(e.offset, 0);
    assert_eq!(s.stats().unwrap().corrupt_offsets, Vec::<u64>::new());
    // Offset 2 (never acknowledged) may or may not have reached the disk, like after a kill.
    let next = append_durable(&s, JournalRecord::new("k", vec![3]));
    assert!(next == 2 || next == 3, "{next}");
}

#[test]
fn the_fsync_failpoint_is_parsed_strictly() {
    use crate::sled_store::parse_fsync_failpoint;
    assert_eq!(parse_fsync_failpoint("after:0").unwrap(), 0);
    assert_eq!(parse_fsync_failpoint(" after:25 ").unwrap(), 25);
    for bad in ["after:", "after:-1", "25", "always", "after:1x"] {
        let err = parse_fsync_failpoint(bad).unwrap_err();
        assert!(
            err.to_string().contains(crate::FAILPOINT_FSYNC_ENV),
            "{err}"
        );
    }
}

/// Below the free-space floor appends are refused before anything is written (so sled never
/// meets a full disk), the store reports itself not writable, and reads still work.
#[test]
fn appends_are_refused_below_the_free_space_floor() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        idempotent_durable(&s, "m1", 1);
    }
    let config = StoreConfig {
        disk_free_bytes_min: u64::MAX,
        ..StoreConfig::default()
    };
    let s = SledStore::open(dir.path(), config).unwrap();
    assert!(!s.is_writable());
    assert!(matches!(
        s.append_idempotent(request("H1", "m2"), sha(2), b"a".to_vec()),
        Err(StoreError::DiskFull { .. })
    ));
    assert!(matches!(
        s.append(JournalRecord::new("k", vec![])),
        Err(StoreError::DiskFull { .. })
    ));
    // A repeat of a stored request is still answered: it writes nothing.
    assert!(matches!(
        s.append_idempotent(request("H1", "m1"), sha(1), b"x".to_vec())
            .unwrap(),
        IdempotentOutcome::Duplicate { offset: 0, .. }
    ));
    assert_eq!(s.stats().unwrap().record_count, 1);
    assert_eq!(s.lookup_idempotent("H1", "m2").unwrap(), None);
    drop(s);
    let s = open(dir.path());
    assert!(s.is_writable());
    assert_eq!(append_durable(&s, JournalRecord::new("k", vec![])), 1);
}

#[test]
fn durability_none_acknowledges_without_waiting_but_still_flushes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let config = StoreConfig {
            durability: Durability::None,
            ..StoreConfig::default()
        };
        let s = SledStore::open(dir.path(), config).unwrap();
        s.hooks().fail_flushes.store(u32::MAX, Ordering::SeqCst);
        let a = s.append(JournalRecord::new("k", vec![1])).unwrap();
        // Acknowledged although no flush can succeed: that is what `none` means.
        s.wait_durable_blocking(a.ticket).unwrap();
        s.hooks().fail_flushes.store(0, Ordering::SeqCst);
    }
    // Clean shutdown still flushes.
    let s = open(dir.path());
    assert_eq!(s.read_from(0, 10).unwrap().len(), 1);
}

/// sled 0.34.7 writes a snapshot as `snap.<lsn>.generating` and renames it when complete; a
/// kill in between leaves the partial file, which sled then takes for the newest snapshot and
/// refuses to open ("empty/corrupt snapshot file found"), for good. `open` removes such
/// leftovers first: the journal survives a kill at any instant, including during open.
#[test]
fn a_snapshot_left_half_written_by_a_kill_does_not_stop_the_store_opening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        append_durable(&s, request("H1", "m1"));
    }
    // What a kill during the next open's snapshot leaves behind: a newer, partial snapshot.
    std::fs::write(
        dir.path().join("snap.7FFFFFFFFFFFFFFF.generating"),
        b"\x00\x01partial",
    )
    .unwrap();
    let s = open(dir.path());
    let kept: Vec<_> = s.export(0).map(|r| r.unwrap().1.key).collect();
    assert_eq!(
        kept,
        vec![Some(("H1".to_owned(), "m1".to_owned()))],
        "the acknowledged record survived"
    );
    assert_eq!(append_durable(&s, request("H1", "m2")), 1);
}

/// sled lets go of its file lock a moment after the last handle is dropped; an `open` in that
/// moment (a quick restart) waits for it instead of failing.
#[test]
fn open_waits_for_a_lock_being_released() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());
    append_durable(&first, request("H1", "m1"));
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(first);
    });
    let second = open(dir.path());
    releaser.join().unwrap();
    assert_eq!(second.export(0).count(), 1);
}

/// Through the store, not just the frame codec: a large exchange is journaled compressed, with
/// its answer stored once, and reads back whole — as a record, as the replayed answer, and
/// after a reopen.
#[test]
fn large_exchanges_are_journaled_compressed_and_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let answer = format!(
        r#"{{"infcode":0,"output":{{"lines":[{}]}}}}"#,
        "1,".repeat(400) + "1"
    );
    let payload = format!(r#"{{"request":{{"infno":"2207"}},"answer":{answer}}}"#);
    let record = JournalRecord::new("nhsa.settlement", payload.clone()).with_key("H1", "m-large");
    let offset = {
        let s = open(dir.path());
        let IdempotentOutcome::Appended { offset, ticket } = s
            .append_idempotent(record, sha(4), answer.clone().into_bytes())
            .unwrap()
        else {
            panic!("a new key appends");
        };
        s.wait_durable_blocking(ticket).unwrap();
        let frame = s.raw_frame_for_test(offset);
        assert_eq!(frame[0], 2, "compressed frame version");
        assert!(
            frame.len() * 4 < payload.len(),
            "{} bytes on disk for a {}-byte payload",
            frame.len(),
            payload.len()
        );
        offset
    };
    let s = open(dir.path());
    let read = s.read_from(offset, 1).unwrap();
    assert_eq!(read[0].1.payload, payload.as_bytes());
    let entry = s.lookup_idempotent("H1", "m-large").unwrap().unwrap();
    assert_eq!(entry.answer, answer.as_bytes());
    assert_eq!(entry.offset, offset);
}

/// An async wait is woken by the change of the durable view that decides its ticket, not by
/// every group commit before it, and a wait given up leaves no registration behind.
#[test]
fn an_async_wait_is_woken_only_by_the_commit_that_covers_it() {
    use std::sync::atomic::AtomicUsize;
    use std::task::{Context, Poll, Wake, Waker};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let flushed = s.flushed_gen_for_test();
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);

    let ticket = crate::Ticket {
        generation: flushed + 2,
        offset: None,
    };
    let mut wait = s.wait_durable(ticket);
    assert!(wait.as_mut().poll(&mut cx).is_pending());
    s.publish_flushed_gen_for_test(flushed + 1);
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        0,
        "woken by a commit that does not cover it"
    );
    s.publish_flushed_gen_for_test(flushed + 2);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(matches!(wait.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
    assert_eq!(s.durable_waiters_for_test(), 0);

    let mut given_up = s.wait_durable(crate::Ticket {
        generation: flushed + 10,
        offset: None,
    });
    assert!(given_up.as_mut().poll(&mut cx).is_pending());
    assert!(given_up.as_mut().poll(&mut cx).is_pending());
    assert_eq!(
        s.durable_waiters_for_test(),
        1,
        "a second poll registers once"
    );
    drop(given_up);
    assert_eq!(s.durable_waiters_for_test(), 0);
}

#[test]
fn the_summary_counts_what_the_scan_counts_without_reading_records() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        let empty = s.summary().unwrap();
        assert_eq!((empty.record_count, empty.last_offset), (0, None));
        for i in 0..5u8 {
            append_durable(&s, JournalRecord::new("k", vec![i]));
        }
        let (summary, stats) = (s.summary().unwrap(), s.stats().unwrap());
        assert_eq!(summary.record_count, stats.record_count);
        assert_eq!(summary.last_offset, Some(4));
        assert_eq!(summary.durable_offset, stats.durable_offset);
        assert_eq!(summary.disk_bytes, stats.disk_bytes);
        assert!(summary.writable);
    }
    // After a reopen, and with a corrupt record (counted, like `stats` counts it).
    let s = open(dir.path());
    append_durable(&s, JournalRecord::new("k", vec![9]));
    let mut frame = s.raw_frame_for_test(2);
    let last = frame.len() - 1;
    frame[last] ^= 0x40;
    s.overwrite_frame_for_test(2, &frame);
    let (summary, stats) = (s.summary().unwrap(), s.stats().unwrap());
    assert_eq!(stats.corrupt_offsets, vec![2]);
    assert_eq!(summary.record_count, 6);
    assert_eq!(summary.record_count, stats.record_count);
}

#[test]
fn a_keyspace_generation_moves_with_its_writes_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let g0 = s.space_generation("bank.payment").unwrap();
    let put = |space: &str, v: u8| {
        append_durable(
            &s,
            JournalRecord::new("k", vec![v]).with_write(StateWrite::put(space, "a", vec![v])),
        );
    };
    put("engine.day", 1);
    assert_eq!(
        s.space_generation("bank.payment").unwrap(),
        g0,
        "another keyspace"
    );
    put("bank.payment", 2);
    let g1 = s.space_generation("bank.payment").unwrap();
    assert_ne!(g1, g0);
    assert_eq!(s.get("bank.payment", b"a").unwrap(), Some(vec![2]));
    // The same value again is still a write: a reader cannot know it is the same.
    put("bank.payment", 2);
    assert_ne!(s.space_generation("bank.payment").unwrap(), g1);
    assert!(s.space_generation("bad name!").is_err());
    // Another store instance never shows the generation of this one.
    drop(s);
    let again = open(dir.path());
    assert_ne!(again.space_generation("bank.payment").unwrap().0, g1.0);
}
