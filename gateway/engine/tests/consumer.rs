//! The journal consumer over a real sled store: equals feeding the aggregator directly, survives
//! a crash between its progress record and `commit_offset`, is slice-independent, dedupes, and
//! reloads exactly what it persisted.

mod common;

use common::*;
use medsettle_canonical::SettledClaim;
use medsettle_engine::{EngineTuning, state::DayAggregate};
use medsettle_settlement::{DailyAggregator, SettlementPolicy, institutions_by_code};
use medsettle_store::Store;
use time::macros::date;

/// 240 settlements over three institutions and three dates, 40 reversals (some on later days),
/// a claim of an unknown institution, and 10 redelivered duplicates.
fn claims() -> Vec<SettledClaim> {
    let codes = [A, B, S];
    let dates = [
        date!(2025 - 10 - 09),
        date!(2025 - 10 - 10),
        date!(2025 - 10 - 13),
    ];
    let mut out = Vec::new();
    for i in 0..240i64 {
        // amounts with odd fen so 0.60 / 0.50 rounding matters
        let c = claim(
            &format!("S{i:04}"),
            codes[(i % 3) as usize],
            dates[(i % 7 % 3) as usize],
            10_001 + i * 337,
            i % 5 * 100,
        );
        out.push(c);
    }
    for i in 0..40usize {
        let orig = out[i * 5].clone();
        let d = if i % 2 == 0 {
            orig.settlement_date()
        } else {
            date!(2025 - 10 - 13)
        };
        out.push(reverse(&orig, &format!("X{i:04}"), d));
    }
    out.push(claim(
        "U0001",
        "H99999999999",
        date!(2025 - 10 - 09),
        5_000,
        0,
    ));
    for i in 0..10 {
        out.push(out[i * 11].clone());
    }
    out
}

fn reference(claims: &[SettledClaim]) -> DailyAggregator {
    let p = SettlementPolicy::from_toml_str(POLICY).unwrap();
    let insts = institutions_by_code(institutions());
    let mut agg = DailyAggregator::new();
    for c in claims {
        agg.feed(c, &p, &insts);
    }
    agg
}

fn days(e: &medsettle_engine::Engine, store: &dyn Store) -> Vec<(String, DayAggregate)> {
    let mut v = Vec::new();
    for d in [
        date!(2025 - 10 - 09),
        date!(2025 - 10 - 10),
        date!(2025 - 10 - 13),
    ] {
        for (k, a) in e.day_aggregates(store, d).unwrap() {
            v.push((format!("{d} {k}"), a));
        }
    }
    v
}

#[test]
fn consumer_equals_direct_feed_and_reloads_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let cs = claims();
    journal(&store, &cs[..100]);
    journal_other(&store);
    journal(&store, &cs[100..]);
    let e = engine();
    let c = e.catch_up(&store, &|_, _| {}).unwrap();
    assert_eq!(c.records_seen, cs.len() as u64 + 1);
    assert_eq!(c.claims_fed, 280);
    assert_eq!(c.duplicates, 10);
    assert_eq!(c.out_of_scope, 1);
    let want = reference(&cs);
    assert_eq!(e.aggregator(&store).unwrap(), want);
    // A second engine on the same store rebuilds the same aggregator from the split state.
    assert_eq!(engine().aggregator(&store).unwrap(), want);
    // Per-(date, institution) aggregates equal the sums of the pending entries.
    let mut fund = medsettle_canonical::Money::ZERO;
    let mut daily = medsettle_canonical::Money::ZERO;
    for (_, a) in days(&e, &store) {
        fund += a.fund_amount;
        daily += a.daily_amount;
    }
    assert_eq!(fund, want.pending().iter().map(|x| x.fund_amount).sum());
    assert_eq!(daily, want.pending().iter().map(|x| x.daily_amount).sum());
    // Caught up: nothing more to read, offset committed.
    let again = e.catch_up(&store, &|_, _| {}).unwrap();
    assert_eq!(again.claims_fed, 0);
    let st = e.status(&store).unwrap();
    assert_eq!(st.lag, 0, "{st:?}");
    assert_eq!(st.committed_offset, st.next_offset);
    assert_eq!(st.open_days.len(), 3);
}

#[test]
fn crash_between_progress_record_and_commit_offset_has_no_effect() {
    let cs = claims();
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        journal(&store, &cs[..150]);
        let e = engine();
        let c = e.catch_up_without_commit(&store).unwrap();
        assert!(c.claims_fed > 0);
        // The store's committed offset never moved: a naive consumer would redeliver.
        assert_eq!(store.committed_offset("settlement-engine").unwrap(), 0);
        // engine and store dropped here: the "crash"
    }
    let store = open(dir.path());
    let e = engine();
    let c = e.catch_up(&store, &|_, _| {}).unwrap();
    // Nothing was fed twice: the state's own offset is authoritative.
    assert_eq!(c.claims_fed, 0);
    assert_eq!(c.duplicates, 0);
    journal(&store, &cs[150..]);
    e.catch_up(&store, &|_, _| {}).unwrap();
    assert_eq!(e.aggregator(&store).unwrap(), reference(&cs));

    // Same journal consumed in one go on another store: identical per-day aggregates.
    let dir2 = tempfile::tempdir().unwrap();
    let store2 = open(dir2.path());
    journal(&store2, &cs);
    let e2 = engine();
    e2.catch_up(&store2, &|_, _| {}).unwrap();
    assert_eq!(days(&e, &store), days(&e2, &store2));
}

#[test]
fn redelivered_claims_are_duplicates_even_after_reload() {
    let cs = claims();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    journal(&store, &cs[..50]);
    engine().catch_up(&store, &|_, _| {}).unwrap();
    // The gateway journals the same claims again (e.g. a retry under a new msgid).
    journal(&store, &cs[..50]);
    let e = engine(); // fresh engine: duplicates are found from the persisted state
    let c = e.catch_up(&store, &|_, _| {}).unwrap();
    assert_eq!((c.claims_fed, c.duplicates), (0, 50));
    assert_eq!(e.aggregator(&store).unwrap(), reference(&cs[..50]));
}

#[test]
fn slices_and_small_progress_batches_equal_one_catch_up() {
    let cs = claims();
    let one = tempfile::tempdir().unwrap();
    let s1 = open(one.path());
    journal(&s1, &cs);
    let e1 = engine();
    e1.catch_up(&s1, &|_, _| {}).unwrap();

    let many = tempfile::tempdir().unwrap();
    let s2 = open(many.path());
    let mut cfg = config();
    cfg.tuning = EngineTuning {
        progress_records_max: 7,
        read_batch: 3,
        ..EngineTuning::default()
    };
    let e2 = medsettle_engine::Engine::new(cfg);
    let mut progress_records = 0;
    for chunk in cs.chunks(37) {
        journal(&s2, chunk);
        progress_records += e2.catch_up(&s2, &|_, _| {}).unwrap().progress_records;
    }
    assert!(progress_records > 40, "{progress_records}");
    assert_eq!(e2.aggregator(&s2).unwrap(), e1.aggregator(&s1).unwrap());
    assert_eq!(days(&e2, &s2), days(&e1, &s1));
    assert_eq!(
        medsettle_engine::Engine::new(config())
            .aggregator(&s2)
            .unwrap(),
        e1.aggregator(&s1).unwrap()
    );
}
