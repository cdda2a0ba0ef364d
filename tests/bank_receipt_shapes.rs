//! What real banks send (issue 20 part 2), end to end: a real batch of the real gateway, the
//! bank's answer in each shape banks actually use — written by the bank simulator (the far side
//! of the boundary) into the real inbox — read by the real `medsettle bank ingest`, and what
//! `bank status` then says: payment states and alerts. Never a wrong amount marked paid, never
//! a bank's word dropped.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use medsettle_bank::{FailReason, OutcomePlan, ReceiptShapes, RowKey};
use medsettle_canonical::Money;
use medsettle_filedrop::{FileDropConfig, PaymentStatus};
use medsettle_store::{SledStore, Store, StoreConfig};

const CODES: [&str; 3] = ["H44030000001", "H44030000002", "H44030000003"];

/// A workspace whose day is closed and its payment file (three payments) dropped.
fn a_dropped_batch() -> Workspace {
    let ws = Workspace::init();
    let gw = ws.serve_env(&[], &[("MEDSETTLE_LOG", "warn")]);
    outpatient_visits(&ws, gw.addr, &CODES, 1, today_in_china());
    assert!(gw.terminate().success());
    let pay = ws.pay_date(&today_in_china().to_string());
    let cfg = ws.config();
    run_ok(&[
        "bank",
        "export",
        "--date",
        &pay,
        "--config",
        cfg.to_str().unwrap(),
    ]);
    ws
}

/// Payment id → status, read from the journal (the gateway stopped).
fn payments(ws_dir: &Path) -> BTreeMap<String, PaymentStatus> {
    let store = SledStore::open(&ws_dir.join("data/journal"), StoreConfig::default()).unwrap();
    let out = medsettle_filedrop::state::payment_states(&store)
        .unwrap()
        .into_iter()
        .map(|(id, st)| (id, st.status))
        .collect();
    store.sync().unwrap();
    out
}

/// One shape against a fresh copy of the dropped batch: the bank answers with `plan`,
/// `bank ingest` reads it; returns the final payment states and `bank status`.
fn answer(
    batch: &Workspace,
    plan: impl FnOnce(&[String]) -> OutcomePlan,
) -> (BTreeMap<String, PaymentStatus>, String, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    let dir: PathBuf = root.path().join("ws");
    copy_tree(batch.path(), &dir);
    let ids: Vec<String> = payments(&dir).into_keys().collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    let cfg = FileDropConfig::under(&dir.join("data/bank"));
    let sim = medsettle_filedrop::simulate_pass(&cfg, &plan(&ids)).unwrap();
    assert!(!sim.receipts_written.is_empty());
    let config = dir.join("medsettle.toml");
    let config = config.to_str().unwrap();
    // The bank's second generation (a later status, a return) arrives after the first has
    // been read, as it does days later in the real world: hold it back for one ingest.
    let inbox = dir.join("data/bank/inbox");
    let later = root.path().join("later");
    std::fs::create_dir_all(&later).unwrap();
    for e in std::fs::read_dir(&inbox).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if !name.contains("_1.") {
            std::fs::rename(inbox.join(&name), later.join(&name)).unwrap();
        }
    }
    for round in 0..2 {
        let ingest = run_ok(&["bank", "ingest", "--config", config]);
        assert!(
            ingest.contains(", 0 rejected"),
            "no file refused whole: {ingest}"
        );
        if round == 0 {
            // Data files first, then their triggers: a file counts only with its trigger.
            let mut names: Vec<String> = std::fs::read_dir(&later)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort_by_key(|n| n.ends_with(".ok"));
            for name in names {
                std::fs::rename(later.join(&name), inbox.join(&name)).unwrap();
            }
        }
    }
    let status = run_ok(&["bank", "status", "--config", config]);
    (payments(&dir), status, root)
}

fn shaped(seed: u64, shapes: ReceiptShapes) -> OutcomePlan {
    OutcomePlan::all_paid(seed).with_shapes(shapes)
}

fn count(states: &BTreeMap<String, PaymentStatus>, s: PaymentStatus) -> usize {
    states.values().filter(|v| **v == s).count()
}

#[test]
fn every_receipt_shape_banks_send_is_understood_against_a_real_batch() {
    let batch = a_dropped_batch();

    // A rejection of the whole payment information, no transaction rows: every payment failed.
    let (states, status, _d) = answer(&batch, |_| {
        shaped(
            1,
            ReceiptShapes {
                payment_info_rejected: Some(FailReason::InsufficientFunds),
                ..ReceiptShapes::default()
            },
        )
    });
    assert_eq!(count(&states, PaymentStatus::Failed), 3, "{status}");
    assert!(status.contains("alerts 0"), "{status}");

    // Exception style: rows only for the rejected one; the others paid (camt.054).
    let (states, status, _d) = answer(&batch, |ids| {
        let mut plan = shaped(
            2,
            ReceiptShapes {
                exception_style: true,
                ..ReceiptShapes::default()
            },
        );
        plan.overrides.insert(
            ids[0].clone(),
            medsettle_bank::Outcome::Failed(FailReason::ClosedAccount),
        );
        plan
    });
    assert_eq!(
        states[&batch_id_first(&states)],
        PaymentStatus::Failed,
        "{status}"
    );
    assert_eq!(count(&states, PaymentStatus::Paid), 2, "{status}");

    // Rows without OrgnlEndToEndId: matched by OrgnlInstrId or the original transaction.
    let (states, status, _d) = answer(&batch, |ids| {
        shaped(
            3,
            ReceiptShapes {
                without_end_to_end_id: [
                    (ids[0].clone(), RowKey::InstrId),
                    (ids[1].clone(), RowKey::OriginalTxRef),
                ]
                .into_iter()
                .collect(),
                ..ReceiptShapes::default()
            },
        )
    });
    assert_eq!(count(&states, PaymentStatus::Paid), 3, "{status}");
    assert!(status.contains("alerts 0"), "{status}");

    // A rejection echoing 0.00: still a rejection.
    let (states, status, _d) = answer(&batch, |ids| {
        let mut plan = shaped(
            4,
            ReceiptShapes {
                rejection_amount_echo: Some(Money::ZERO),
                ..ReceiptShapes::default()
            },
        );
        plan.overrides.insert(
            ids[2].clone(),
            medsettle_bank::Outcome::Failed(FailReason::NameMismatch),
        );
        plan
    });
    assert_eq!(
        states[&ids_of(&states)[2]],
        PaymentStatus::Failed,
        "{status}"
    );
    assert_eq!(count(&states, PaymentStatus::Paid), 2, "{status}");

    // camt.054 alone (no pain.002 saying paid), details without amounts, the entry one fen
    // off: nothing marked paid, alerts.
    let (states, status, _d) = answer(&batch, |_| {
        let mut plan = shaped(
            5,
            ReceiptShapes {
                camt054_without_tx_amounts: true,
                camt054_entry_amount_off_by_fen: 1,
                ..ReceiptShapes::default()
            },
        );
        plan.receipts.pain002 = false;
        plan
    });
    assert_eq!(
        count(&states, PaymentStatus::Paid),
        0,
        "a wrong entry pays nothing: {status}"
    );
    assert!(!status.contains("alerts 0"), "{status}");
    assert!(status.contains("entry_amount_mismatch"), "{status}");

    // The same without the error: the entry's amount covers its details, all paid.
    let (states, status, _d) = answer(&batch, |_| {
        let mut plan = shaped(
            6,
            ReceiptShapes {
                camt054_without_tx_amounts: true,
                ..ReceiptShapes::default()
            },
        );
        plan.receipts.pain002 = false;
        plan
    });
    assert_eq!(count(&states, PaymentStatus::Paid), 3, "{status}");

    // A return for a payment the bank only ever called pending: an alert, still pending.
    let (states, status, _d) = answer(&batch, |ids| {
        shaped(
            7,
            ReceiptShapes {
                returned_while_pending: [(ids[1].clone(), FailReason::ClosedAccount)]
                    .into_iter()
                    .collect(),
                ..ReceiptShapes::default()
            },
        )
    });
    assert_eq!(
        states[&ids_of(&states)[1]],
        PaymentStatus::Pending,
        "{status}"
    );
    assert!(status.contains("returned_unpaid"), "{status}");
}

fn ids_of(states: &BTreeMap<String, PaymentStatus>) -> Vec<String> {
    states.keys().cloned().collect()
}

fn batch_id_first(states: &BTreeMap<String, PaymentStatus>) -> String {
    ids_of(states)[0].clone()
}
