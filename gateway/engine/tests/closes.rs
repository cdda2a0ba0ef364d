//! Closings over a real store, computed by hand to the fen: daily (holiday accumulation,
//! suspended institution, idempotent re-close, cutoff, audit failure), receipts, the month from
//! CSV inputs, the quarter and the year, each audited by the ledger.
//!
//! Policy: daily 60 % (B: 50 %), no_retry, monthly 100 % with a 5 % quality margin; margin
//! release 100 % at score ≥ 90, 80 % at ≥ 80, else 0. Calendar: 2025-10-01..08 is the National
//! Day holiday, so settlement dates 10-01 and 10-05 are paid on Thu 10-09.

mod common;

use std::collections::BTreeMap;

use common::*;
use medsettle_canonical::{Money, ReceiptStatus};
use medsettle_engine::{AnnualAmounts, EngineError, ReceiptApplied, Scheduler};
use medsettle_settlement::ledger::{Account, Transfer};
use medsettle_settlement::{Calendar, SettlementError, YearMonth};
use medsettle_store::{JournalRecord, StateWrite, Store};
use time::macros::{date, datetime};

fn october(store: &dyn Store) {
    journal(
        store,
        &[
            // 10-01 (holiday): A 1,000.00 × 0.60 = 600.00; B 100.01 × 0.50 = 50.005 → 50.01
            claim("H1", A, date!(2025 - 10 - 01), 100_000, 2_000),
            claim("H2", B, date!(2025 - 10 - 01), 10_001, 0),
            // 10-05 (holiday): A 333.33 × 0.60 = 199.998 → 200.00
            claim("H3", A, date!(2025 - 10 - 05), 33_333, 0),
            // 10-09: A 500.00 × 0.60 = 300.00; S (suspended) 500.00 → 300.00 skipped
            claim("D1", A, date!(2025 - 10 - 09), 50_000, 0),
            claim("H4", S, date!(2025 - 10 - 09), 50_000, 0),
        ],
    );
}

const OCT_DECLARATIONS: &str = "fixmedins_code,month,fund_amount,claim_count\n\
     H64010000001,2025-10,1833.33,3\nH64010000002,2025-10,100.01,1\n\
     H64010000003,2025-10,500.00,1\n";
const OCT_DEDUCTIONS: &str =
    "fixmedins_code,month,setl_id,amount,reason\nH64010000001,2025-10,D1,10.00,超标准收费\n";
const NO_ADVANCES: &str =
    "fixmedins_code,month,distributor_code,account_name,account,bank_code,amount\n";

#[test]
fn is_d_full_year_over_the_store_to_the_fen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    october(&store);
    let e = engine();

    // ---- daily: pay date 10-09 takes the two holiday settlement dates ---------------------
    let d9 = e
        .close_day(&store, date!(2025 - 10 - 09), at(date!(2025 - 10 - 09), 9))
        .unwrap();
    assert!(!d9.already_closed);
    assert_eq!(
        d9.run.summary.settlement_dates,
        vec![date!(2025 - 10 - 01), date!(2025 - 10 - 05)]
    );
    let pays: Vec<(&str, i64)> = d9
        .batch
        .payments
        .iter()
        .map(|p| (p.payment_id.as_str(), p.amount.fen()))
        .collect();
    assert_eq!(
        pays,
        vec![
            ("D20251009H6401000000100", 80_000),
            ("D20251009H6401000000200", 5_001)
        ]
    );
    assert_eq!(d9.batch.control_sum(), fen(85_001));
    assert_eq!(d9.detail_csv.lines().count(), 1 + 3);
    assert!(d9.summary_csv.contains("850.01"), "{}", d9.summary_csv);
    assert_eq!(d9.audit.positions[A].in_transit, fen(80_000));

    // Idempotent: the same pay date again returns the stored result, even from a new engine.
    let again = engine()
        .close_day(&store, date!(2025 - 10 - 09), at(date!(2025 - 10 - 09), 11))
        .unwrap();
    assert!(again.already_closed);
    assert_eq!((again.run, again.batch), (d9.run.clone(), d9.batch.clone()));

    // ---- 10-10: A paid 300.00; the suspended institution is skipped (IS-SC-4) -------------
    let d10 = e
        .close_day(&store, date!(2025 - 10 - 10), at(date!(2025 - 10 - 10), 9))
        .unwrap();
    assert_eq!(d10.batch.payments.len(), 1);
    assert_eq!(d10.batch.payments[0].amount, fen(30_000));
    assert_eq!(d10.run.skipped.len(), 1);
    assert_eq!(d10.run.skipped[0].fixmedins_code, S);
    assert_eq!(d10.run.skipped[0].claims_total, fen(30_000));
    assert!(e.status(&store).unwrap().open_days.is_empty());

    // ---- receipts: A paid twice, B's 50.01 failed (no_retry: the month pays it) ----------
    let rs = [
        receipt("D20251009H6401000000100", ReceiptStatus::Paid, 80_000),
        receipt("D20251009H6401000000200", ReceiptStatus::Failed, 5_001),
        receipt("D20251010H6401000000100", ReceiptStatus::Paid, 30_000),
    ];
    let out = e.apply_receipts(&store, &rs).unwrap();
    assert!(
        out.iter()
            .all(|o| matches!(o, ReceiptApplied::Daily(d) if !d.duplicate))
    );
    // The daily payments alone (the console's read) are the aggregator's, receipts included,
    // from this engine and from a fresh one loading the store.
    for reader in [&e, &engine()] {
        let all: Vec<_> = reader
            .aggregator(&store)
            .unwrap()
            .payments()
            .cloned()
            .collect();
        assert_eq!(reader.daily_payments(&store).unwrap(), all);
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|p| p.status.is_some()), "{all:?}");
    }
    let out = engine().apply_receipts(&store, &rs).unwrap();
    assert!(
        out.iter()
            .all(|o| matches!(o, ReceiptApplied::Daily(d) if d.duplicate))
    );
    let bad = e
        .apply_receipts(
            &store,
            &[receipt(
                "D20251009H6401000000100",
                ReceiptStatus::Failed,
                80_000,
            )],
        )
        .unwrap_err();
    assert_eq!(bad.rule(), "IS-D-7");

    // ---- month (IS-M-3) from CSV ----------------------------------------------------------
    // A: F = 1,000.00 + 333.33 + 500.00 = 1,833.33; margin 91.6665 → 91.67; deduction 10.00;
    //    successful daily 800.00 + 300.00 → 1,833.33 − 91.67 − 10.00 − 1,100.00 = 631.66
    // B: F = 100.01; margin 5.0005 → 5.00; successful 0 (failed) → 95.01
    // S: F = 500.00; margin 25.00; nothing disbursed daily → 475.00
    let m = e
        .close_month(
            &store,
            YearMonth::parse("2025-10").unwrap(),
            OCT_DECLARATIONS,
            OCT_DEDUCTIONS,
            NO_ADVANCES,
            date!(2025 - 12 - 01),
            at(date!(2025 - 12 - 01), 9),
        )
        .unwrap();
    assert!(m.run.warnings.is_empty(), "{:?}", m.run.warnings);
    let pays: Vec<(&str, i64)> = m
        .batch
        .payments
        .iter()
        .map(|p| (p.payment_id.as_str(), p.amount.fen()))
        .collect();
    assert_eq!(
        pays,
        vec![
            ("M202510H64010000001", 63_166),
            ("M202510H64010000002", 9_501),
            ("M202510H64010000003", 47_500)
        ]
    );
    assert_eq!(m.audit.positions[A].margin_held, fen(9_167));
    assert!(m.csv.starts_with("fixmedins_code,month"));
    // The same inputs again (another engine, later): the stored result, nothing paid twice.
    let again = engine()
        .close_month(
            &store,
            YearMonth::parse("2025-10").unwrap(),
            OCT_DECLARATIONS,
            OCT_DEDUCTIONS,
            NO_ADVANCES,
            date!(2025 - 12 - 01),
            at(date!(2025 - 12 - 02), 11),
        )
        .unwrap();
    assert!(again.already_closed);
    assert_eq!(again.run, m.run);
    assert_eq!(again.batch, m.batch);
    assert_eq!(again.inputs_sha256, m.inputs_sha256);
    // Other inputs (a corrected declaration, or another pay date) are refused, never answered
    // with the old result (issue 15 item 5).
    let corrected = OCT_DECLARATIONS.replace("1833.33", "1800.00");
    for (decl, pay) in [
        (corrected.as_str(), date!(2025 - 12 - 01)),
        (OCT_DECLARATIONS, date!(2025 - 12 - 02)),
    ] {
        let e = engine()
            .close_month(
                &store,
                YearMonth::parse("2025-10").unwrap(),
                decl,
                OCT_DEDUCTIONS,
                NO_ADVANCES,
                pay,
                at(date!(2025 - 12 - 02), 11),
            )
            .unwrap_err();
        assert!(
            matches!(
                e,
                EngineError::OperatorInput {
                    rule: "IS-RK-3",
                    field: "period",
                    ..
                }
            ),
            "{e}"
        );
        let text = e.to_string();
        assert!(
            text.contains("already closed")
                && text.contains("settle quarter")
                && text.contains("settle year")
                && text.contains("Correcting a closed period"),
            "{text}"
        );
    }

    // ---- quarter (IS-Q-1): A's approved case 100.00; B's rejected case is not paid ---------
    let q = e
        .close_quarter(
            &store,
            2025,
            4,
            "fixmedins_code,year,quarter,case_id,amount,approved\n\
             H64010000001,2025,4,C1,100.00,1\nH64010000002,2025,4,C2,50.00,0\n",
            date!(2026 - 01 - 05),
            at(date!(2026 - 01 - 05), 9),
        )
        .unwrap();
    assert_eq!(q.batch.payments.len(), 1);
    assert_eq!(q.batch.control_sum(), fen(10_000));

    // ---- the year (IS-A-2) needs every payment receipted --------------------------------
    let given: BTreeMap<String, Money> = [(A, 200_000), (B, 10_000), (S, 50_000)]
        .iter()
        .map(|(c, f)| (c.to_string(), fen(*f)))
        .collect();
    let scores: BTreeMap<String, u32> = [(A, 95), (B, 85), (S, 50)]
        .iter()
        .map(|(c, s)| (c.to_string(), *s))
        .collect();
    let year = |e: &medsettle_engine::Engine| {
        e.close_year(
            &store,
            2025,
            date!(2026 - 03 - 02),
            &AnnualAmounts::Given(given.clone()),
            &scores,
            date!(2026 - 03 - 02),
            at(date!(2026 - 03 - 02), 9),
        )
    };
    assert_eq!(year(&e).unwrap_err().rule(), "IS-D-7");
    let out = e
        .apply_receipts(
            &store,
            &[
                receipt("M202510H64010000001", ReceiptStatus::Paid, 63_166),
                receipt("M202510H64010000002", ReceiptStatus::Paid, 9_501),
                receipt("M202510H64010000003", ReceiptStatus::Paid, 47_500),
                receipt("Q20254H64010000001", ReceiptStatus::Paid, 10_000),
            ],
        )
        .unwrap();
    assert_eq!(out.len(), 4);
    // A: paid 800 + 300 + 631.66 + 100 = 1,831.66; margin 91.67 fully released
    //    → 2,000.00 − 1,831.66 = 168.34
    // B: paid 95.01; margin 5.00, 80 % released (4.00), 1.00 forfeited → 100 − 95.01 − 1 = 3.99
    // S: paid 475.00; margin 25.00 forfeited → 500 − 475 − 25 = 0
    let y = year(&engine()).unwrap();
    let payable: Vec<(&str, i64)> = y
        .run
        .lines
        .iter()
        .map(|l| (l.fixmedins_code.as_str(), l.payable.fen()))
        .collect();
    assert_eq!(payable, vec![(A, 16_834), (B, 399), (S, 0)]);
    assert_eq!(y.batch.control_sum(), fen(17_233));
    assert_eq!(y.audit.positions[S].expenditure, fen(47_500));
    assert!(year(&engine()).unwrap().already_closed);
    let st = e.status(&store).unwrap();
    assert_eq!(st.last_daily, Some(date!(2025 - 10 - 10)));
    assert_eq!(st.last_annual, Some(2025));
}

#[test]
fn is_rk_3_failed_audit_stops_the_daily_batch_and_persists_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    october(&store);
    engine().catch_up(&store, &|_, _| {}).unwrap();
    // Someone books 0.01 of expenditure for A outside the rules (a tampered ledger).
    let t = vec![Transfer {
        debit: Account::FundExpenditure { inst: A.into() },
        credit: Account::InstitutionReceivable { inst: A.into() },
        amount: fen(1),
        reference: "tamper".into(),
    }];
    let key = b"t/999999999999".to_vec();
    let w = StateWrite::put(
        "engine.ledger",
        key.clone(),
        serde_json::to_vec(&t).unwrap(),
    );
    store
        .append(JournalRecord::new("ops.fix", b"{}".to_vec()).with_write(w))
        .unwrap();
    store.wait_durable_blocking(store.current_ticket()).unwrap();

    let e = engine();
    let err = e
        .close_day(&store, date!(2025 - 10 - 09), at(date!(2025 - 10 - 09), 9))
        .unwrap_err();
    match &err {
        EngineError::Settlement(SettlementError::Audit {
            invariant,
            difference,
            ..
        }) => {
            assert_eq!(*invariant, "confirmed-amount");
            assert_eq!(*difference, fen(1));
        }
        other => panic!("{other}"),
    }
    assert_eq!(err.rule(), "IS-RK-3");
    assert!(
        store
            .get("engine.run", b"daily/20251009")
            .unwrap()
            .is_none()
    );
    assert_eq!(e.aggregator(&store).unwrap().pending().len(), 5);

    // Remove the tampering: the same close now goes through.
    store
        .append(
            JournalRecord::new("ops.fix", b"{}".to_vec())
                .with_write(StateWrite::delete("engine.ledger", key)),
        )
        .unwrap();
    store.wait_durable_blocking(store.current_ticket()).unwrap();
    let e = engine();
    let ok = e
        .close_day(&store, date!(2025 - 10 - 09), at(date!(2025 - 10 - 09), 9))
        .unwrap();
    assert_eq!(ok.batch.control_sum(), fen(85_001));
}

#[test]
fn is_d_5_approval_after_cutoff_and_non_working_day_are_refused_without_effect() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    october(&store);
    let e = engine();
    let late = e
        .close_day(&store, date!(2025 - 10 - 09), at(date!(2025 - 10 - 09), 16))
        .unwrap_err();
    assert_eq!(late.rule(), "IS-D-5");
    let holiday = e
        .close_day(&store, date!(2025 - 10 - 06), at(date!(2025 - 10 - 06), 9))
        .unwrap_err();
    assert_eq!(holiday.rule(), "IS-D-4");
    assert!(
        store
            .get("engine.run", b"daily/20251009")
            .unwrap()
            .is_none()
    );
    let ok = e
        .close_day(&store, date!(2025 - 10 - 09), at(date!(2025 - 10 - 09), 14))
        .unwrap();
    assert_eq!(ok.batch.control_sum(), fen(85_001));
}

#[test]
fn scheduler_says_which_pay_date_is_due() {
    let cal = Calendar::embedded();
    let s = Scheduler::from_hhmm("10:00").unwrap();
    // 01:59 UTC = 09:59 China time: not yet.
    assert_eq!(
        s.due(datetime!(2025-10-09 01:59 UTC), &cal, None).unwrap(),
        None
    );
    assert_eq!(
        s.due(
            datetime!(2025-10-09 02:00 UTC),
            &cal,
            Some(date!(2025 - 09 - 30))
        )
        .unwrap(),
        Some(date!(2025 - 10 - 09))
    );
    // already closed today
    assert_eq!(
        s.due(
            datetime!(2025-10-09 08:00 UTC),
            &cal,
            Some(date!(2025 - 10 - 09))
        )
        .unwrap(),
        None
    );
    // holiday: no payment date
    assert_eq!(
        s.due(datetime!(2025-10-06 08:00 UTC), &cal, None).unwrap(),
        None
    );
    // 17:00 UTC on 10-10 is 01:00 on Sat 10-11 (a declared working day) — before the close time
    assert_eq!(
        s.due(datetime!(2025-10-10 17:00 UTC), &cal, None).unwrap(),
        None
    );
    assert!(Scheduler::from_hhmm("25:00").is_err());
}

#[test]
fn a_close_result_larger_than_a_part_is_stored_in_parts_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    october(&store);
    let mut cfg = config();
    cfg.tuning.result_part_bytes = 1024;
    let first = medsettle_engine::Engine::new(cfg.clone())
        .close_day(&store, date!(2025 - 10 - 09), at(date!(2025 - 10 - 09), 9))
        .unwrap();
    assert!(
        store
            .get("engine.run", b"daily/20251009/000002")
            .unwrap()
            .is_some()
    );
    let again = medsettle_engine::Engine::new(cfg)
        .close_day(&store, date!(2025 - 10 - 09), at(date!(2025 - 10 - 09), 10))
        .unwrap();
    assert!(again.already_closed);
    assert_eq!(
        (&again.run, &again.batch, &again.detail_csv),
        (&first.run, &first.batch, &first.detail_csv)
    );
}

/// Issue 15 item 5: the operator's inputs of a month are refused before anything is read or
/// written — a negative or absurd declaration, a row of another month, a pay date inside the
/// period, on a Sunday or after the due date — each as the operator's input.
#[test]
fn is_m_month_inputs_are_refused_as_the_operators_without_effect() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    october(&store);
    let e = engine();
    let records = |s: &dyn Store| s.read_from(0, 100_000).unwrap().len();
    let before = records(&store);
    let oct = YearMonth::parse("2025-10").unwrap();
    let close = |decl: &str, pay: time::Date| {
        e.close_month(
            &store,
            oct,
            decl,
            OCT_DEDUCTIONS,
            NO_ADVANCES,
            pay,
            at(date!(2025 - 12 - 01), 9),
        )
        .unwrap_err()
    };
    let row = |e: &EngineError| match e {
        EngineError::Settlement(SettlementError::Row { line, column, .. }) => {
            (*line, column.clone())
        }
        other => panic!("not a row error: {other}"),
    };
    let negative = OCT_DECLARATIONS.replace("100.01", "-100.01");
    assert_eq!(
        row(&close(&negative, date!(2025 - 12 - 01))),
        (3, "fund_amount".into())
    );
    let absurd = OCT_DECLARATIONS.replace("500.00", "150000000000.00");
    assert_eq!(
        row(&close(&absurd, date!(2025 - 12 - 01))),
        (4, "fund_amount".into())
    );
    let september = OCT_DECLARATIONS.replace("H64010000002,2025-10", "H64010000002,2025-09");
    assert_eq!(
        row(&close(&september, date!(2025 - 12 - 01))),
        (3, "month".into())
    );
    let pay_date_refusal = |pay: time::Date| match close(OCT_DECLARATIONS, pay) {
        EngineError::OperatorInput {
            rule,
            field,
            detail,
        } => {
            assert_eq!(field, "pay_date", "{detail}");
            rule
        }
        other => panic!("not an operator input error: {other}"),
    };
    // inside the period; its last day; a Sunday after it; after the due date
    assert_eq!(pay_date_refusal(date!(2025 - 10 - 20)), "IS-M-4");
    assert_eq!(pay_date_refusal(date!(2025 - 10 - 31)), "IS-M-4");
    assert_eq!(pay_date_refusal(date!(2025 - 11 - 30)), "IS-D-4");
    assert_eq!(pay_date_refusal(date!(2026 - 01 - 30)), "IS-M-4");
    assert_eq!(records(&store), before, "nothing was written");
}
