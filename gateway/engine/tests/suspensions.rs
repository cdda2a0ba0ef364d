//! Operators suspend and resume an institution's daily disbursement (暂停/恢复日拨付) on a real
//! store: the daily close skips a suspended institution (IS-RK-2) with the operator's reason
//! while the others are paid, a resumed one is paid again, the suspension survives re-opening
//! the store, both actions are idempotent, an unknown code is refused naming it, and the
//! ledger audit holds through the daily closes and the month that pays the withheld claims.
//!
//! Policy as in `closes.rs`: daily 60 % (B: 50 %), no_retry, monthly 100 % with a 5 % quality
//! margin. 2025-10-01 is in the National Day holiday, so it is paid on Thu 10-09; 10-09 is paid
//! on Fri 10-10.

mod common;

use common::*;
use medsettle_canonical::{Receipt, ReceiptStatus};
use medsettle_engine::{Engine, EngineError, SuspensionAction, SuspensionChange};
use medsettle_settlement::YearMonth;
use medsettle_store::Store;
use time::macros::date;

const REASON: &str = "审计发现 fraud suspicion: duplicate inpatient stays";

fn claims(store: &dyn Store) {
    journal(
        store,
        &[
            // pay date 10-09: A 1,000.00 × 0.60 = 600.00; B 100.01 × 0.50 = 50.01
            claim("H1", A, date!(2025 - 10 - 01), 100_000, 0),
            claim("H2", B, date!(2025 - 10 - 01), 10_001, 0),
            // pay date 10-10: A 500.00 × 0.60 = 300.00; B 200.00 × 0.50 = 100.00
            claim("D1", A, date!(2025 - 10 - 09), 50_000, 0),
            claim("D2", B, date!(2025 - 10 - 09), 20_000, 0),
        ],
    );
}

/// The `engine.suspension` records in the journal, as their payloads.
fn suspension_records(store: &dyn Store) -> Vec<SuspensionChange> {
    store
        .read_from(0, 10_000)
        .unwrap()
        .into_iter()
        .filter(|(_, r)| r.kind == "engine.suspension")
        .map(|(_, r)| serde_json::from_slice(&r.payload).unwrap())
        .collect()
}

fn receipt(id: &str, amount: i64) -> Receipt {
    Receipt {
        payment_id: id.into(),
        batch_id: None,
        status: ReceiptStatus::Paid,
        amount: Some(fen(amount)),
        bank_reference: None,
        value_date: None,
        reason: None,
    }
}

#[test]
fn is_rk_2_suspended_institution_is_skipped_until_resumed_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    claims(&store);
    let e = engine();
    // Another engine over the same store, loaded before the suspension: it must see it too.
    let other = engine();
    assert!(other.status(&store).unwrap().suspensions.is_empty());

    // ---- suspend A ------------------------------------------------------------------------
    let since = at(date!(2025 - 10 - 08), 18);
    let c = e
        .suspend_institution(&store, A, REASON, "ops-wang", since)
        .unwrap();
    assert!(c.changed && c.suspended);
    assert_eq!(c.action, SuspensionAction::Suspend);
    let s = c.suspension.clone().unwrap();
    assert_eq!(
        (s.fixmedins_code.as_str(), s.reason.as_str(), s.by.as_str()),
        (A, REASON, "ops-wang")
    );
    assert_eq!(s.since, since);
    assert!(c.to_string().contains("suspended by ops-wang"), "{c}");
    assert_eq!(suspension_records(&store), vec![c.clone()]);
    assert_eq!(other.suspensions(&store).unwrap(), vec![s.clone()]);

    // Idempotent: suspending again changes nothing, writes nothing and says so; the first
    // suspension's reason, operator and time stay.
    let durable = store.durable_offset();
    let again = e
        .suspend_institution(
            &store,
            A,
            "another reason",
            "ops-li",
            at(date!(2025 - 10 - 09), 8),
        )
        .unwrap();
    assert!(!again.changed && again.suspended);
    assert_eq!(again.suspension.as_ref(), Some(&s));
    assert!(again.to_string().contains("nothing changed"), "{again}");
    assert_eq!(store.durable_offset(), durable);

    // ---- survives dropping the engine and re-opening the store (replay) -------------------
    drop((e, other));
    drop(store);
    let store = open(dir.path());
    let e = engine();
    assert_eq!(e.suspensions(&store).unwrap(), vec![s.clone()]);
    assert_eq!(e.status(&store).unwrap().suspensions, vec![s.clone()]);

    // ---- pay date 10-09: A skipped with the operator's reason, B paid ---------------------
    let d9 = e
        .close_day(&store, date!(2025 - 10 - 09), at(date!(2025 - 10 - 09), 9))
        .unwrap();
    let pays: Vec<(&str, i64)> = d9
        .batch
        .payments
        .iter()
        .map(|p| (p.payee_code.as_str(), p.amount.fen()))
        .collect();
    assert_eq!(pays, vec![(B, 5_001)]);
    assert_eq!(d9.run.skipped.len(), 1);
    let sk = &d9.run.skipped[0];
    assert_eq!(
        (sk.fixmedins_code.as_str(), sk.rule.as_str()),
        (A, "IS-RK-2")
    );
    assert_eq!(
        sk.reason,
        format!("suspended by operator ops-wang since 2025-10-08T18:00:00+08:00: {REASON}")
    );
    assert_eq!(sk.claims_total, fen(60_000));
    assert_eq!(sk.claims[0].setl_id, "H1");
    assert!(
        d9.detail_csv
            .contains("skipped [IS-RK-2] suspended by operator ops-wang")
    );
    // The auditor ran on the close (a failure would have refused it); money is where it belongs.
    assert_eq!(d9.audit.total_debits, d9.audit.total_credits);
    assert!(
        d9.audit
            .positions
            .get(A)
            .is_none_or(|p| p.in_transit.is_zero())
    );
    assert_eq!(d9.audit.positions[B].in_transit, fen(5_001));
    // The skipped claims are consumed: nothing of pay date 10-09 is open any more.
    assert!(
        e.status(&store)
            .unwrap()
            .open_days
            .iter()
            .all(|d| d.settlement_date == date!(2025 - 10 - 09))
    );

    // ---- resume A (idempotent too) ----------------------------------------------------------
    let r = e
        .resume_institution(&store, A, "ops-li", at(date!(2025 - 10 - 09), 16))
        .unwrap();
    assert!(r.changed && !r.suspended);
    assert_eq!(r.action, SuspensionAction::Resume);
    assert_eq!(r.suspension.as_ref(), Some(&s));
    assert_eq!(r.by, "ops-li");
    assert!(r.to_string().contains("resumed by ops-li"), "{r}");
    let durable = store.durable_offset();
    let r2 = e
        .resume_institution(&store, A, "ops-li", at(date!(2025 - 10 - 09), 17))
        .unwrap();
    assert!(!r2.changed && !r2.suspended && r2.suspension.is_none());
    assert!(
        r2.to_string().contains("not suspended; nothing changed"),
        "{r2}"
    );
    assert_eq!(store.durable_offset(), durable);
    assert_eq!(suspension_records(&store), vec![c, r]);

    drop(e);
    drop(store);
    let store = open(dir.path());
    let e = engine();
    assert!(e.suspensions(&store).unwrap().is_empty());
    assert!(e.status(&store).unwrap().suspensions.is_empty());

    // ---- pay date 10-10: A paid again (its 10-09 claim only; H1 stays with the month) ------
    let d10 = e
        .close_day(&store, date!(2025 - 10 - 10), at(date!(2025 - 10 - 10), 9))
        .unwrap();
    assert!(d10.run.skipped.is_empty());
    let pays: Vec<(&str, i64)> = d10
        .batch
        .payments
        .iter()
        .map(|p| (p.payee_code.as_str(), p.amount.fen()))
        .collect();
    assert_eq!(pays, vec![(A, 30_000), (B, 10_000)]);
    assert_eq!(d10.audit.total_debits, d10.audit.total_credits);

    // ---- the month pays what the suspension withheld, and the ledger still audits ---------
    e.apply_receipts(
        &store,
        &[
            receipt("D20251009H6401000000200", 5_001),
            receipt("D20251010H6401000000100", 30_000),
            receipt("D20251010H6401000000200", 10_000),
        ],
    )
    .unwrap();
    // A: F = 1,500.00; margin 75.00; successful daily 300.00 → 1,125.00 (H1's 600.00 withheld
    //    daily is paid here)
    // B: F = 300.01; margin 15.0005 → 15.00; successful 50.01 + 100.00 → 135.00
    let m = e
        .close_month(
            &store,
            YearMonth::parse("2025-10").unwrap(),
            "fixmedins_code,month,fund_amount,claim_count\n\
             H64010000001,2025-10,1500.00,2\nH64010000002,2025-10,300.01,2\n",
            "fixmedins_code,month,setl_id,amount,reason\n",
            "fixmedins_code,month,distributor_code,account_name,account,bank_code,amount\n",
            date!(2025 - 12 - 01),
            at(date!(2025 - 12 - 01), 9),
        )
        .unwrap();
    let pays: Vec<(&str, i64)> = m
        .batch
        .payments
        .iter()
        .map(|p| (p.payee_code.as_str(), p.amount.fen()))
        .collect();
    assert_eq!(pays, vec![(A, 112_500), (B, 13_500)]);
    assert_eq!(m.audit.total_debits, m.audit.total_credits);
}

#[test]
fn is_sc_4_unknown_institution_and_empty_arguments_are_refused_without_effect() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    claims(&store);
    let e = engine();
    e.catch_up(&store, &|_, _| {}).unwrap();
    let durable = store.durable_offset();
    let now = at(date!(2025 - 10 - 08), 18);

    let err = e
        .suspend_institution(&store, "H99999999999", REASON, "ops-wang", now)
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::UnknownInstitution { code } if code == "H99999999999"),
        "{err:?}"
    );
    assert_eq!(err.rule(), "IS-SC-4");
    assert!(err.to_string().contains("H99999999999"), "{err}");
    let err = e
        .resume_institution(&store, "H99999999999", "ops-wang", now)
        .unwrap_err();
    assert!(
        matches!(err, EngineError::UnknownInstitution { .. }),
        "{err:?}"
    );

    for (reason, by, field) in [("  ", "ops-wang", "reason"), (REASON, "", "by")] {
        let err = e
            .suspend_institution(&store, A, reason, by, now)
            .unwrap_err();
        match &err {
            EngineError::OperatorInput { field: f, .. } => assert_eq!(*f, field),
            other => panic!("{other:?}"),
        }
        assert_eq!(err.rule(), "IS-RK-2");
    }
    let long = "x".repeat(medsettle_engine::SUSPENSION_REASON_CHARS_MAX + 1);
    assert!(matches!(
        e.suspend_institution(&store, A, &long, "ops-wang", now),
        Err(EngineError::OperatorInput {
            field: "reason",
            ..
        })
    ));
    assert!(matches!(
        e.suspend_institution(&store, A, "line\nbreak", "ops-wang", now),
        Err(EngineError::OperatorInput {
            field: "reason",
            ..
        })
    ));

    assert_eq!(store.durable_offset(), durable);
    assert!(e.suspensions(&store).unwrap().is_empty());
    // An institution the registry lists as suspended (S) can still be suspended by an operator.
    assert!(
        e.suspend_institution(&store, S, REASON, "ops-wang", now)
            .unwrap()
            .changed
    );
}

#[test]
fn a_suspension_is_also_seen_by_a_fresh_engine_without_reopening() {
    // The close path: an engine that never loaded before picks the suspension up from the
    // store, and a close that already stored its result is not changed by a later suspension.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    claims(&store);
    let first: Engine = engine();
    let d9 = first
        .close_day(&store, date!(2025 - 10 - 09), at(date!(2025 - 10 - 09), 9))
        .unwrap();
    assert_eq!(d9.batch.payments.len(), 2);
    first
        .suspend_institution(&store, B, REASON, "ops-wang", at(date!(2025 - 10 - 09), 10))
        .unwrap();
    let again = engine()
        .close_day(&store, date!(2025 - 10 - 09), at(date!(2025 - 10 - 09), 11))
        .unwrap();
    assert!(again.already_closed);
    assert_eq!(again.batch, d9.batch);
    let d10 = engine()
        .close_day(&store, date!(2025 - 10 - 10), at(date!(2025 - 10 - 10), 9))
        .unwrap();
    assert_eq!(d10.batch.payments.len(), 1);
    assert_eq!(d10.batch.payments[0].payee_code, A);
    assert_eq!(d10.run.skipped[0].fixmedins_code, B);
    assert_eq!(d10.run.skipped[0].rule, "IS-RK-2");
}
