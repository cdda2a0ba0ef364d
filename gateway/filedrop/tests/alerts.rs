//! Receipt rows the bank and the gateway disagree about: counted by reason, each raising one
//! durable alert (journaled with its file, never twice), acknowledged by an operator.

mod common;

use common::{Env, batch, names, put_inbox};
use medsettle_bank::pain002;
use medsettle_canonical::{Money, Receipt, ReceiptStatus};
use medsettle_filedrop::state::{
    KIND_ALERT_ACKNOWLEDGED, KIND_RECEIPT_FILE, SPACE_INBOX_FILE, SPACE_INBOX_ROW_ALERT,
    SPACE_PAYMENT,
};
use medsettle_filedrop::{
    AlertKind, FileDropError, IgnoreReason, Inbox, Outbox, PaymentStatus, Step, acknowledge_alert,
    alerts, rule, status,
};
use medsettle_store::{StateWrite, Store};

fn row(payment_id: &str, status: ReceiptStatus, fen: i64) -> Receipt {
    Receipt {
        payment_id: payment_id.into(),
        batch_id: None, // pain.002 rows take the report's OrgnlMsgId
        status,
        amount: Some(Money::from_fen(fen)),
        bank_reference: None,
        value_date: None,
        reason: None,
    }
}

/// A pain.002 answering batch `original` with `rows`, its totals those of the rows (so the
/// file itself is well-formed and complete: only the rows' content can be wrong).
fn pain002(msg_id: &str, original: &str, rows: &[Receipt]) -> Vec<u8> {
    let code = |s: ReceiptStatus| match s {
        ReceiptStatus::Paid => "ACSC",
        ReceiptStatus::Accepted => "ACSP",
        ReceiptStatus::Pending => "PDNG",
        ReceiptStatus::Failed => "RJCT",
        ReceiptStatus::Returned => unreachable!("not in pain.002"),
    };
    pain002::encode(&pain002::Report::new(
        msg_id,
        "2025-01-03T18:00:00+08:00",
        original,
        rows.len() as u64,
        rows.iter().filter_map(|r| r.amount).sum(),
        "PART",
        rows.iter().map(|r| (r, code(r.status))).collect(),
    ))
}

/// Batches `B-A` (payments B-A-P1..3 of 1007, 2007, 3007 fen) and `B-B` (B-B-P1, 1007 fen)
/// dropped, and the file [`mixed`] in the inbox.
fn setup() -> (Env, String) {
    let env = Env::new();
    Outbox::drop_batch(env.store(), &env.cfg, &batch("B-A", 3)).unwrap();
    Outbox::drop_batch(env.store(), &env.cfg, &batch("B-B", 1)).unwrap();
    let name = "B-A_pain002_mixed.xml".to_owned();
    put_inbox(&env.cfg, &name, &mixed());
    (env, name)
}

/// One good row and one of each disagreement but backward.
fn mixed() -> Vec<u8> {
    pain002(
        "P2-MIXED",
        "B-A",
        &[
            row("B-A-P1", ReceiptStatus::Paid, 1_008), // amount mismatch (sent 1007)
            row("B-A-P9", ReceiptStatus::Paid, 500),   // unknown payment
            row("B-B-P1", ReceiptStatus::Paid, 1_007), // sent in B-B, answered for B-A
            row("B-A-P2", ReceiptStatus::Paid, 2_007), // applied
        ],
    )
}

fn payment_status(env: &Env, id: &str) -> PaymentStatus {
    let raw = env
        .store()
        .get(SPACE_PAYMENT, id.as_bytes())
        .unwrap()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    serde_json::from_value(v["status"].clone()).unwrap()
}

#[test]
fn each_disagreeing_row_is_counted_by_reason_and_raises_one_alert() {
    let (env, name) = setup();
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.files_applied, std::slice::from_ref(&name));
    assert_eq!(rep.receipts_applied.len(), 1);
    assert_eq!(
        rep.ignored_by_reason,
        [
            (IgnoreReason::UnknownPayment, 1),
            (IgnoreReason::WrongBatch, 1),
            (IgnoreReason::AmountMismatch, 1),
        ]
        .into()
    );
    assert_eq!(rep.row_alerts.len(), 3, "{rep:?}");

    let st = status(env.store()).unwrap();
    assert_eq!((st.alerts, st.alerts_open), (3, 3));
    assert_eq!(st.receipt_rows_ignored, rep.ignored_by_reason);
    let listed = alerts(env.store()).unwrap();
    assert_eq!(listed, st.alert_records);
    assert_eq!(listed, rep.row_alerts, "the scan reports what it journaled");
    let by_payment = |id: &str| listed.iter().find(|a| a.payment_id.as_deref() == Some(id));

    let m = by_payment("B-A-P1").unwrap();
    assert_eq!(m.kind, AlertKind::ReceiptRow);
    assert_eq!(m.reason, Some(IgnoreReason::AmountMismatch));
    assert_eq!(m.rule, rule::RECEIPT_AMOUNT_MATCHES);
    assert_eq!(m.file_name, name);
    assert_eq!(m.row_index, Some(0));
    assert_eq!(m.row_amount, Some(Money::from_fen(1_008)));
    assert_eq!(m.payment_amount, Some(Money::from_fen(1_007)));
    assert_eq!(m.payment_status, Some(PaymentStatus::Sent));
    assert_eq!(m.row_status, Some(ReceiptStatus::Paid));
    assert!(!m.is_acknowledged());

    let u = by_payment("B-A-P9").unwrap();
    assert_eq!(u.reason, Some(IgnoreReason::UnknownPayment));
    assert_eq!(u.rule, rule::RECEIPT_KNOWN_PAYMENT);
    assert_eq!((u.payment_status, u.payment_amount), (None, None));

    let w = by_payment("B-B-P1").unwrap();
    assert_eq!(w.reason, Some(IgnoreReason::WrongBatch));
    assert_eq!(w.rule, rule::RECEIPT_SAME_BATCH);
    assert_eq!(w.row_batch_id.as_deref(), Some("B-A"));
    assert_eq!(w.payment_batch_id.as_deref(), Some("B-B"));

    // Nothing the alerts are about moved.
    assert_eq!(payment_status(&env, "B-A-P1"), PaymentStatus::Sent);
    assert_eq!(payment_status(&env, "B-B-P1"), PaymentStatus::Sent);
    assert_eq!(payment_status(&env, "B-A-P2"), PaymentStatus::Paid);

    // The alerts are in the very record that applied the file (one record per file).
    let recs: Vec<_> = env
        .store()
        .export(0)
        .map(|r| r.unwrap().1)
        .filter(|r| r.kind == KIND_RECEIPT_FILE)
        .collect();
    assert_eq!(recs.len(), 1);
    let spaces: Vec<&str> = recs[0].state_writes.iter().map(StateWrite::space).collect();
    assert_eq!(
        spaces
            .iter()
            .filter(|s| **s == SPACE_INBOX_ROW_ALERT)
            .count(),
        3
    );
    assert!(spaces.contains(&SPACE_INBOX_FILE));
}

#[test]
fn an_exact_repeat_raises_no_alert_and_a_backward_status_does() {
    let (env, _) = setup();
    Inbox::scan_once(env.store(), &env.cfg).unwrap();

    // The bank answers B-A-P2 paid again (a re-sent answer), and B-A-P3 for the first time.
    let again = pain002(
        "P2-AGAIN",
        "B-A",
        &[
            row("B-A-P2", ReceiptStatus::Paid, 2_007),
            row("B-A-P3", ReceiptStatus::Paid, 3_007),
        ],
    );
    put_inbox(&env.cfg, "B-A_pain002_again.xml", &again);
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.receipts_applied.len(), 1);
    assert_eq!(rep.ignored_by_reason, [(IgnoreReason::Repeated, 1)].into());
    assert!(rep.row_alerts.is_empty(), "{rep:?}");
    assert_eq!(status(env.store()).unwrap().alerts, 3);

    // Then "accepted" for a payment already paid: backward, an alert.
    let late = pain002(
        "P2-LATE",
        "B-A",
        &[row("B-A-P3", ReceiptStatus::Accepted, 3_007)],
    );
    put_inbox(&env.cfg, "B-A_pain002_late.xml", &late);
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.row_alerts.len(), 1);
    let a = &rep.row_alerts[0];
    assert_eq!(a.reason, Some(IgnoreReason::Backward));
    assert_eq!(a.rule, rule::RECEIPT_FORWARD_ONLY);
    assert_eq!(a.payment_status, Some(PaymentStatus::Paid));
    assert_eq!(a.row_status, Some(ReceiptStatus::Accepted));
    let st = status(env.store()).unwrap();
    assert_eq!((st.alerts, st.alerts_open), (4, 4));
    assert_eq!(st.receipt_rows_ignored[&IgnoreReason::Repeated], 1);
    assert_eq!(st.receipt_rows_ignored[&IgnoreReason::Backward], 1);
}

#[test]
fn a_crash_before_the_archive_then_a_rescan_never_doubles_an_alert() {
    let (mut env, name) = setup();
    let err = Inbox::scan_once_with_hook(env.store(), &env.cfg, &|s| {
        if s == Step::ReceiptsApplied {
            Err(FileDropError::Stopped { step: s })
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert!(matches!(err, FileDropError::Stopped { .. }));
    assert_eq!(names(&env.cfg.inbox_dir).len(), 2, "still in the inbox");
    assert_eq!(
        status(env.store()).unwrap().alerts,
        3,
        "durable with the file"
    );

    env.reopen();
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.files_duplicate, std::slice::from_ref(&name));
    assert!(rep.row_alerts.is_empty());
    assert_eq!(status(env.store()).unwrap().alerts, 3);
    assert!(names(&env.cfg.inbox_dir).is_empty());

    // The same bytes again under another name: the rows are the same bank message, their
    // alerts already stand.
    put_inbox(&env.cfg, "B-A_pain002_mixed_copy.xml", &mixed());
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.files_applied.len(), 1);
    assert!(rep.row_alerts.is_empty(), "{rep:?}");
    assert_eq!(status(env.store()).unwrap().alerts, 3);
}

#[test]
fn acknowledging_is_durable_and_idempotent() {
    let (mut env, _) = setup();
    Inbox::scan_once(env.store(), &env.cfg).unwrap();
    let id = alerts(env.store()).unwrap()[0].id.clone();
    let at = "2025-01-04T09:00:00+08:00";

    assert!(acknowledge_alert(env.store(), &id, "ops.li", at).unwrap());
    assert!(!acknowledge_alert(env.store(), &id, "ops.li", at).unwrap());
    assert!(!acknowledge_alert(env.store(), &id, "ops.wang", "2025-01-05T09:00:00+08:00").unwrap());
    assert_eq!(env.records(KIND_ALERT_ACKNOWLEDGED).len(), 1);

    env.reopen();
    let st = status(env.store()).unwrap();
    assert_eq!((st.alerts, st.alerts_open), (3, 2));
    let a = st.alert_records.iter().find(|a| a.id == id).unwrap();
    assert!(a.is_acknowledged());
    assert_eq!(
        a.acknowledged_by.as_deref(),
        Some("ops.li"),
        "the first is kept"
    );
    assert_eq!(a.acknowledged_at.as_deref(), Some(at));

    assert!(matches!(
        acknowledge_alert(env.store(), "receipt-row/0000/7", "ops.li", at),
        Err(FileDropError::UnknownAlert { .. })
    ));
    assert!(matches!(
        acknowledge_alert(env.store(), &st.alert_records[1].id, " ", at),
        Err(FileDropError::InvalidAcknowledgement { .. })
    ));
    assert_eq!(status(env.store()).unwrap().alerts_open, 2);
}

#[test]
fn file_conflicts_and_row_alerts_are_listed_and_acknowledged_alike() {
    let (env, name) = setup();
    Inbox::scan_once(env.store(), &env.cfg).unwrap();
    // Other bytes under the name already applied.
    let other = pain002(
        "P2-OTHER",
        "B-A",
        &[row("B-A-P3", ReceiptStatus::Paid, 3_007)],
    );
    put_inbox(&env.cfg, &name, &other);
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.alerts.len(), 1);

    let st = status(env.store()).unwrap();
    assert_eq!((st.alerts, st.alerts_open), (4, 4));
    let conflict = st
        .alert_records
        .iter()
        .find(|a| a.kind == AlertKind::FileConflict)
        .unwrap();
    assert_eq!(conflict.rule, rule::RECEIPT_NAME_UNIQUE);
    assert_eq!(conflict.file_name, name);
    assert!(conflict.earlier_sha256.is_some());
    assert!(
        acknowledge_alert(
            env.store(),
            &conflict.id,
            "ops.li",
            "2025-01-04T10:00:00+08:00"
        )
        .unwrap()
    );
    assert_eq!(status(env.store()).unwrap().alerts_open, 3);
}
