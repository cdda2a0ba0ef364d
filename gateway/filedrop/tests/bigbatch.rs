//! A batch and a receipt file above the store's old 4 MiB record limit (issue 6): 16,000
//! payments drop as one file, and its 16,000-row pain.002 answer is ingested in one pass,
//! every payment `paid` exactly once. Each is journaled in one record, both records larger
//! than the old limit (checked below); the timed 100,000-row run is `filedrop-bench`
//! (BENCHMARKS.md). Kept at 16,000 rows so the test stays quick in debug builds.

mod common;

use std::collections::BTreeSet;

use common::{Env, batch, names};
use medsettle_bank::OutcomePlan;
use medsettle_filedrop::state::{
    KIND_BATCH_DROPPED, KIND_BATCH_RENDERED, KIND_RECEIPT_FILE, payment_states,
};
use medsettle_filedrop::{Inbox, Outbox, PaymentStatus, simulate_pass};
use medsettle_store::{SledStore, StateWrite, Store};

const ROWS: usize = 16_000;
/// The record limit before issue 6.
const OLD_RECORD_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Payload plus state-write bytes of every journal record of `kind`.
fn record_sizes(store: &SledStore, kind: &str) -> Vec<usize> {
    store
        .export(0)
        .map(|item| item.unwrap().1)
        .filter(|r| r.kind == kind)
        .map(|r| {
            r.payload.len()
                + r.state_writes
                    .iter()
                    .map(|w| match w {
                        StateWrite::Put { space, key, value } => {
                            space.len() + key.len() + value.len()
                        }
                        StateWrite::Delete { space, key } => space.len() + key.len(),
                    })
                    .sum::<usize>()
        })
        .collect()
}

#[test]
fn batch_and_receipt_file_above_the_old_record_limit_drop_and_apply_once() {
    let mut env = Env::new();
    let b = batch("BIG-1", ROWS);
    let r = Outbox::drop_batch(env.store(), &env.cfg, &b).unwrap();
    assert!(!r.already_dropped);
    assert_eq!(r.count, ROWS as u64);
    assert_eq!(names(&env.cfg.outbox_dir), ["BIG-1.xml", "BIG-1.xml.ok"]);
    let rendered = record_sizes(env.store(), KIND_BATCH_RENDERED);
    assert_eq!(rendered.len(), 1);
    assert!(rendered[0] > OLD_RECORD_BYTES_MAX, "{rendered:?}");
    assert_eq!(env.records(KIND_BATCH_DROPPED).len(), 1);

    let mut plan = OutcomePlan::all_paid(7);
    plan.receipts.camt054 = false;
    let sim = simulate_pass(&env.cfg, &plan).unwrap();
    assert_eq!(sim.files_answered, ["BIG-1.xml"]);
    assert_eq!(sim.receipts_written.len(), 1);

    let ing = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(ing.files_applied.len(), 1, "{:?}", ing.files_rejected);
    assert!(ing.receipts_ignored.is_empty());
    assert_eq!(ing.receipts_applied.len(), ROWS);
    let ids: BTreeSet<&str> = ing
        .receipts_applied
        .iter()
        .map(|r| r.payment_id.as_str())
        .collect();
    assert_eq!(ids.len(), ROWS, "each payment applied exactly once");
    let applied = record_sizes(env.store(), KIND_RECEIPT_FILE);
    assert_eq!(applied.len(), 1);
    assert!(applied[0] > OLD_RECORD_BYTES_MAX, "{applied:?}");

    // After a restart: the same states, and nothing left to apply.
    env.reopen();
    let states = payment_states(env.store()).unwrap();
    assert_eq!(states.len(), ROWS);
    assert!(states.iter().all(|(_, s)| s.status == PaymentStatus::Paid));
    assert!(Inbox::scan_once(env.store(), &env.cfg).unwrap().is_idle());
    assert!(
        Outbox::drop_batch(env.store(), &env.cfg, &b)
            .unwrap()
            .already_dropped
    );
    assert_eq!(names(&env.cfg.outbox_dir), ["BIG-1.xml", "BIG-1.xml.ok"]);
}
