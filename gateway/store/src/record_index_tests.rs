//! Record index tests against real sled on disk: pages equal a full scan of the journal, the
//! entries survive a reopen and a crash, and records journaled before the index existed (or
//! while it was off) are found after the next open.

use std::path::Path;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::{
    IndexField, JournalRecord, RecordPage, RecordQuery, SledStore, Store, StoreConfig, StoreError,
};

const CODES: [&str; 4] = ["H44030000001", "H44030000002", "H4403", "H440300000012"];
const PERSONS: [&str; 5] = ["P1", "P2", "P3", "P10", "12345"];
const INFNOS: [&str; 3] = ["2207", "2208", "1101"];

/// The index written inside each append (`record_index_inline`), or not kept.
fn open_with(dir: &Path, record_index: bool) -> SledStore {
    SledStore::open(
        dir,
        StoreConfig {
            record_index,
            record_index_inline: true,
            ..StoreConfig::default()
        },
    )
    .expect("open store")
}

/// The index written behind the appends (the default), the background indexer held still.
fn open_behind_held(dir: &Path) -> SledStore {
    let s = SledStore::open(dir, StoreConfig::default()).expect("open store");
    s.hooks().hold_indexer.store(true, Ordering::SeqCst);
    s
}

fn release_indexer(s: &SledStore) {
    s.hooks().hold_indexer.store(false, Ordering::SeqCst);
}

/// A deterministic generator (xorshift64*), so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// A receive time on 2026-12-05/06, China time or (one in four) the same kind of instant
/// written in UTC, so the index must compare instants, not texts.
fn received_at(rng: &mut Rng) -> String {
    let minute = rng.below(2 * 24 * 60);
    let (day, h, m) = (5 + minute / 1440, (minute / 60) % 24, minute % 60);
    let ms = rng.below(1000);
    if rng.below(4) == 0 {
        // The same wall time read as UTC: 8 hours later than the +08:00 reading.
        format!("2026-12-{day:02}T{h:02}:{m:02}:00.{ms:03}Z")
    } else {
        format!("2026-12-{day:02}T{h:02}:{m:02}:00.{ms:03}+08:00")
    }
}

/// One record as the gateway journals them, with the shapes that vary: exchanges with and
/// without a key, a person as a number, a settlement id in the answer and in a claim list, no
/// receive time, and payloads that are not JSON.
fn record(rng: &mut Rng, i: usize) -> JournalRecord {
    let code = rng.pick(&CODES);
    let msgid = format!("{code}-m{}", rng.below(40));
    match rng.below(10) {
        0 => JournalRecord::new("bank.batch.dropped", format!("D440300{i}").into_bytes()),
        1 => JournalRecord::new("engine.progress", b"{\"next\":7}".to_vec()),
        n => {
            let psn = rng.pick(&PERSONS);
            let psn_value: Value = if psn.bytes().all(|b| b.is_ascii_digit()) && n == 2 {
                json!(12345)
            } else {
                json!(psn)
            };
            let mut payload = json!({
                "infno": rng.pick(&INFNOS),
                "fixmedins_code": code,
                "msgid": msgid,
                "request": {"infno": "9001", "input": {"data": {"psn_no": psn_value, "mdtrt_id": format!("V{}", rng.below(30))}}},
                "answer": {"infcode": 0, "output": {"setlinfo": {"setl_id": format!("S{}", rng.below(60))}}},
                "claim": [{"setl_id": format!("S{}", rng.below(60))}],
            });
            if n != 3 {
                payload["received_at"] = json!(received_at(rng));
            }
            let r = JournalRecord::new("nhsa.settlement", serde_json::to_vec(&payload).unwrap());
            if n == 4 { r } else { r.with_key(code, msgid) }
        }
    }
}

/// What a full scan of the journal finds for `q`, in the page order, decided from each
/// record's parsed JSON — independently of the index.
fn scan(store: &SledStore, q: &RecordQuery) -> Vec<u64> {
    fn has_field(v: &Value, field: &str, value: &str) -> bool {
        match v {
            Value::Object(m) => m.iter().any(|(k, x)| {
                (k == field
                    && match x {
                        Value::String(s) => s == value,
                        Value::Number(n) => n.to_string() == value,
                        _ => false,
                    })
                    || has_field(x, field, value)
            }),
            Value::Array(a) => a.iter().any(|x| has_field(x, field, value)),
            _ => false,
        }
    }
    let mut found: Vec<(Option<i64>, u64)> = Vec::new();
    for item in store.export(0) {
        let (offset, r) = item.unwrap();
        let payload: Value = serde_json::from_slice(&r.payload).unwrap_or(Value::Null);
        let time = payload["received_at"].as_str().and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        });
        let (code, msgid) = r.key.clone().unwrap_or_default();
        let holds = q.terms.iter().all(|(f, t)| match f {
            IndexField::Institution => r.key.is_some() && code == *t,
            IndexField::Msgid => r.key.is_some() && msgid == *t,
            IndexField::Infno => payload["infno"].as_str() == Some(t),
            other => has_field(&payload, other.as_str(), t),
        });
        let in_range = match (q.received_from_ms, q.received_before_ms) {
            (None, None) => true,
            (from, before) => {
                time.is_some_and(|t| from.is_none_or(|f| t >= f) && before.is_none_or(|b| t < b))
            }
        };
        if holds && in_range {
            found.push((time, offset));
        }
    }
    if q.terms.is_empty() && q.received_from_ms.is_none() && q.received_before_ms.is_none() {
        found.sort_by_key(|(_, o)| std::cmp::Reverse(*o));
    } else {
        found.sort_by(|a, b| b.cmp(a));
    }
    found.into_iter().map(|(_, o)| o).collect()
}

/// Every page of `q`, followed through `next_before`.
fn all_pages(store: &SledStore, q: &RecordQuery) -> (Vec<u64>, usize) {
    let mut q = q.clone();
    let mut offsets = Vec::new();
    let mut pages = 0;
    loop {
        let page = store.find_records(&q).unwrap();
        pages += 1;
        assert!(page.records.len() <= q.rows_max);
        assert!(page.examined <= q.examine_max as u64);
        assert!(page.corrupt.is_empty());
        offsets.extend(page.records.iter().map(|(o, _)| *o));
        match page.next_before {
            Some(b) => q.before = Some(b),
            None => return (offsets, pages),
        }
        assert!(pages < 10_000, "paging does not end: {q:?}");
    }
}

fn query(rng: &mut Rng) -> RecordQuery {
    let mut q = RecordQuery {
        rows_max: 1 + rng.below(9),
        examine_max: 3 + rng.below(40),
        ..RecordQuery::default()
    };
    type Term = Box<dyn Fn(&mut Rng) -> String>;
    let choices: [(IndexField, Term); 6] = [
        (IndexField::Institution, Box::new(|r| r.pick(&CODES).into())),
        (
            IndexField::Msgid,
            Box::new(|r| format!("{}-m{}", r.pick(&CODES), r.below(40))),
        ),
        (IndexField::Infno, Box::new(|r| r.pick(&INFNOS).into())),
        (IndexField::PsnNo, Box::new(|r| r.pick(&PERSONS).into())),
        (
            IndexField::MdtrtId,
            Box::new(|r| format!("V{}", r.below(30))),
        ),
        (
            IndexField::SetlId,
            Box::new(|r| format!("S{}", r.below(60))),
        ),
    ];
    for (field, value) in &choices {
        if rng.below(4) == 0 {
            q.terms.push((*field, value(rng)));
        }
    }
    let day_ms = crate::rfc3339_ms("2026-12-05T00:00:00+08:00").unwrap();
    if rng.below(3) == 0 {
        q.received_from_ms = Some(day_ms + (rng.below(48 * 60) as i64) * 60_000);
    }
    if rng.below(3) == 0 {
        q.received_before_ms = Some(day_ms + (rng.below(48 * 60) as i64) * 60_000);
    }
    q
}

#[test]
fn pages_equal_what_a_full_journal_scan_finds() {
    for seed in [1u64, 7, 2026] {
        let dir = tempfile::tempdir().unwrap();
        let s = open_with(dir.path(), true);
        let mut rng = Rng(seed);
        for i in 0..400 {
            s.append(record(&mut rng, i)).unwrap();
        }
        s.sync().unwrap();
        let mut nonempty = 0;
        for n in 0..300 {
            let q = query(&mut rng);
            let expected = scan(&s, &q);
            let (found, _) = all_pages(&s, &q);
            assert_eq!(found, expected, "seed {seed}, query {n}: {q:?}");
            nonempty += usize::from(!expected.is_empty());
        }
        // The generator asks questions that have answers, not only empty ones.
        assert!(
            nonempty > 100,
            "seed {seed}: only {nonempty} queries found anything"
        );
    }
}

#[test]
fn a_page_reads_only_what_its_conditions_name() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_with(dir.path(), true);
    let mut rng = Rng(5);
    for i in 0..300 {
        s.append(record(&mut rng, i)).unwrap();
    }
    s.sync().unwrap();
    let q = RecordQuery {
        terms: vec![(IndexField::Institution, CODES[1].into())],
        rows_max: 1_000,
        ..RecordQuery::default()
    };
    let page = s.find_records(&q).unwrap();
    assert_eq!(page.next_before, None);
    assert!(!page.records.is_empty());
    // One entry per record of the institution: the other 300-odd records were not looked at.
    assert_eq!(page.examined, page.records.len() as u64);
    assert!(
        page.records
            .iter()
            .all(|(_, r)| r.key.as_ref().unwrap().0 == CODES[1])
    );
    // Newest first by receive time (records without one last).
    let times: Vec<i64> = page
        .records
        .iter()
        .map(|(_, r)| {
            let v: Value = serde_json::from_slice(&r.payload).unwrap();
            v["received_at"]
                .as_str()
                .and_then(crate::rfc3339_ms)
                .unwrap_or(i64::MIN)
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
}

fn exchange(code: &str, msgid: &str, psn: &str, at: &str) -> JournalRecord {
    JournalRecord::new(
        "nhsa.settlement",
        serde_json::to_vec(&json!({
            "infno": "2207", "fixmedins_code": code, "msgid": msgid,
            "request": {"input": {"data": {"psn_no": psn}}}, "received_at": at,
        }))
        .unwrap(),
    )
    .with_key(code, msgid)
}

fn offsets(page: &RecordPage) -> Vec<u64> {
    page.records.iter().map(|(o, _)| *o).collect()
}

fn by(field: IndexField, term: &str) -> RecordQuery {
    RecordQuery {
        terms: vec![(field, term.into())],
        ..RecordQuery::default()
    }
}

#[test]
fn entries_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let queries = [
        by(IndexField::Institution, "H1"),
        by(IndexField::PsnNo, "P2"),
        by(IndexField::Msgid, "m2"),
        RecordQuery {
            received_from_ms: crate::rfc3339_ms("2026-12-05T10:00:00+08:00"),
            ..RecordQuery::default()
        },
    ];
    let before: Vec<Vec<u64>> = {
        let s = open_with(dir.path(), true);
        s.append(exchange("H1", "m1", "P1", "2026-12-05T09:00:00+08:00"))
            .unwrap();
        s.append(exchange("H1", "m2", "P2", "2026-12-05T10:00:00+08:00"))
            .unwrap();
        s.append(exchange("H2", "m2", "P2", "2026-12-05T11:00:00+08:00"))
            .unwrap();
        s.sync().unwrap();
        queries
            .iter()
            .map(|q| offsets(&s.find_records(q).unwrap()))
            .collect()
    };
    assert_eq!(before, vec![vec![1, 0], vec![2, 1], vec![2, 1], vec![2, 1]]);
    let s = open_with(dir.path(), true);
    let after: Vec<Vec<u64>> = queries
        .iter()
        .map(|q| offsets(&s.find_records(q).unwrap()))
        .collect();
    assert_eq!(after, before);
}

#[test]
fn a_crash_between_a_record_and_its_entries_is_repaired_by_replay() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open_with(dir.path(), true);
        s.append(exchange("H1", "m1", "P1", "2026-12-05T09:00:00+08:00"))
            .unwrap();
        s.sync().unwrap();
        s.hooks()
            .crash_after_journal_insert
            .store(true, Ordering::SeqCst);
        let crashed = s.append(exchange("H1", "m2", "P9", "2026-12-05T10:00:00+08:00"));
        assert!(matches!(crashed, Err(StoreError::SimulatedCrash)));
        // The record is in, its entries are not.
        assert_eq!(s.index_keys_for_test().len(), 5);
    }
    let s = open_with(dir.path(), true);
    assert_eq!(s.index_keys_for_test().len(), 10);
    assert_eq!(
        offsets(&s.find_records(&by(IndexField::PsnNo, "P9")).unwrap()),
        vec![1]
    );
    assert_eq!(
        offsets(&s.find_records(&by(IndexField::Institution, "H1")).unwrap()),
        vec![1, 0]
    );
}

#[test]
fn records_journaled_before_the_index_existed_are_found_after_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(11);
    let built_live = {
        let s = open_with(dir.path(), true);
        for i in 0..250 {
            s.append(record(&mut rng, i)).unwrap();
        }
        s.sync().unwrap();
        s.index_keys_for_test()
    };
    assert!(built_live.len() > 1_000);
    // A store of the version before the index: the same journal, no entries, no marker.
    SledStore::forget_record_index_for_test(dir.path());
    let s = open_with(dir.path(), true);
    assert_eq!(
        s.index_keys_for_test(),
        built_live,
        "built at open, as appends write them"
    );
    let q = by(IndexField::Institution, CODES[0]);
    assert_eq!(all_pages(&s, &q).0, scan(&s, &q));
    drop(s);
    // Built again from scratch, the same entries: the build is idempotent.
    SledStore::forget_record_index_for_test(dir.path());
    let s = open_with(dir.path(), true);
    assert_eq!(s.index_keys_for_test(), built_live);
    // And a live index is not rebuilt at the next open.
    drop(s);
    let s = open_with(dir.path(), true);
    assert_eq!(s.index_keys_for_test(), built_live);
}

#[test]
fn with_the_index_off_appends_write_no_entries_and_are_indexed_when_it_is_on_again() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open_with(dir.path(), true);
        s.append(exchange("H1", "m1", "P1", "2026-12-05T09:00:00+08:00"))
            .unwrap();
        s.sync().unwrap();
    }
    {
        let s = open_with(dir.path(), false);
        s.append(exchange("H1", "m2", "P2", "2026-12-05T10:00:00+08:00"))
            .unwrap();
        s.sync().unwrap();
        assert_eq!(s.index_keys_for_test().len(), 5, "the first record's only");
        assert!(matches!(
            s.find_records(&by(IndexField::Institution, "H1")),
            Err(StoreError::Config(_))
        ));
    }
    let s = open_with(dir.path(), true);
    assert_eq!(s.index_keys_for_test().len(), 10);
    assert_eq!(
        offsets(&s.find_records(&by(IndexField::Institution, "H1")).unwrap()),
        vec![1, 0]
    );
}

#[test]
fn pages_show_only_durable_records_and_refuse_bad_conditions() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_with(dir.path(), true);
    s.append(exchange("H1", "m1", "P1", "2026-12-05T09:00:00+08:00"))
        .unwrap();
    s.sync().unwrap();
    s.hooks().fail_flushes.store(u32::MAX, Ordering::SeqCst);
    let a = s
        .append(exchange("H1", "m2", "P1", "2026-12-05T10:00:00+08:00"))
        .unwrap();
    assert!(s.wait_durable_blocking(a.ticket).is_err());
    // Entries of offset 1 are in the tree, but its record is not durable: not shown.
    let page = s.find_records(&by(IndexField::PsnNo, "P1")).unwrap();
    assert_eq!((offsets(&page), page.through), (vec![0], Some(0)));
    assert_eq!(
        offsets(&s.find_records(&RecordQuery::default()).unwrap()),
        vec![0]
    );
    s.hooks().fail_flushes.store(0, Ordering::SeqCst);

    for bad in [
        by(IndexField::Time, "2026"),
        by(IndexField::PsnNo, ""),
        RecordQuery {
            before: Some(99),
            ..RecordQuery::default()
        },
    ] {
        assert!(
            matches!(s.find_records(&bad), Err(StoreError::InvalidRecord(_))),
            "{bad:?}"
        );
    }
}

/// Every query of `rng` pages as a full scan of the journal finds.
fn check_queries(s: &SledStore, rng: &mut Rng, n: usize, what: &str) {
    for i in 0..n {
        let q = query(rng);
        let expected = scan(s, &q);
        let (found, _) = all_pages(s, &q);
        assert_eq!(found, expected, "{what}, query {i}: {q:?}");
    }
}

/// Records appended in each half of the test below (every page reads the records not
/// indexed yet, so this is kept small).
const HALF: usize = 120;

#[test]
fn behind_the_appends_pages_equal_a_full_scan_before_during_and_after_indexing() {
    for seed in [3u64, 2027] {
        let dir = tempfile::tempdir().unwrap();
        let s = open_behind_held(dir.path());
        let mut rng = Rng(seed);
        for i in 0..HALF {
            s.append(record(&mut rng, i)).unwrap();
        }
        s.sync().unwrap();
        // nothing indexed: every page is read from the records themselves
        assert_eq!(s.indexed_below_for_test(), 0);
        assert_eq!(s.record_index_lag().unwrap(), HALF as u64);
        assert!(
            s.index_keys_for_test().is_empty(),
            "appends write no entries"
        );
        check_queries(&s, &mut rng, 60, &format!("seed {seed}, none indexed"));
        // half indexed, half not
        release_indexer(&s);
        s.wait_indexed_for_test();
        s.hooks().hold_indexer.store(true, Ordering::SeqCst);
        for i in HALF..2 * HALF {
            s.append(record(&mut rng, i)).unwrap();
        }
        s.sync().unwrap();
        assert_eq!(s.indexed_below_for_test(), HALF as u64);
        check_queries(&s, &mut rng, 60, &format!("seed {seed}, half indexed"));
        // entries written ahead of the marker are not shown twice
        s.hooks().hold_indexer_marker.store(true, Ordering::SeqCst);
        release_indexer(&s);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while s.index_keys_for_test().len() < HALF * 5 + 100 {
            assert!(std::time::Instant::now() < deadline, "the indexer writes");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(s.indexed_below_for_test(), HALF as u64);
        check_queries(&s, &mut rng, 60, &format!("seed {seed}, entries ahead"));
        s.hooks().hold_indexer_marker.store(false, Ordering::SeqCst);
        s.wait_indexed_for_test();
        assert_eq!(s.record_index_lag().unwrap(), 0);
        check_queries(&s, &mut rng, 60, &format!("seed {seed}, all indexed"));
        let entries = s.index_keys_for_test();
        drop(s);
        // the same entries as appends writing their own
        let inline_dir = tempfile::tempdir().unwrap();
        let inline = open_with(inline_dir.path(), true);
        let mut again = Rng(seed);
        for i in 0..2 * HALF {
            inline.append(record(&mut again, i)).unwrap();
            if i == HALF - 1 {
                // the queries drawn between the two halves
                for _ in 0..60 {
                    query(&mut again);
                }
            }
        }
        assert_eq!(inline.index_keys_for_test(), entries);
    }
}

#[test]
fn switching_between_inline_and_behind_keeps_every_record_found() {
    let dir = tempfile::tempdir().unwrap();
    let p1 = exchange("H1", "m1", "P1", "2026-12-05T09:00:00+08:00");
    let p2 = exchange("H1", "m2", "P2", "2026-12-05T10:00:00+08:00");
    let p3 = exchange("H1", "m3", "P1", "2026-12-05T11:00:00+08:00");
    {
        let s = open_with(dir.path(), true);
        s.append(p1).unwrap();
        s.sync().unwrap();
    }
    {
        // from inline to behind: the indexer goes on after what the appends indexed
        let s = open_behind_held(dir.path());
        assert_eq!(s.indexed_below_for_test(), 1);
        s.append(p2).unwrap();
        s.sync().unwrap();
        assert_eq!(
            offsets(&s.find_records(&by(IndexField::Institution, "H1")).unwrap()),
            vec![1, 0]
        );
        release_indexer(&s);
        s.wait_indexed_for_test();
        s.hooks().hold_indexer.store(true, Ordering::SeqCst);
        s.append(p3).unwrap();
        s.sync().unwrap();
    }
    // back to inline: the open indexes what the background indexer had not reached
    let s = open_with(dir.path(), true);
    assert_eq!(s.indexed_below_for_test(), u64::MAX);
    assert_eq!(s.index_keys_for_test().len(), 15);
    assert_eq!(
        offsets(&s.find_records(&by(IndexField::PsnNo, "P1")).unwrap()),
        vec![2, 0]
    );
}
