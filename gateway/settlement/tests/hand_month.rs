//! October 2025 for three institutions, computed by hand in the comments and checked to the fen
//! through daily runs, receipts, the monthly settlement (IS-M-3) and the ledger auditor.
//!
//! Policy: daily 60 % (institution C: 50 %), monthly ratio 100 %, quality margin 5 %,
//! failed daily payments `no_retry`, deadline day 15, 20 working days.

mod common;

use std::collections::BTreeMap;

use common::*;
use medsettle_canonical::{EnrolmentStatus, Money, Receipt, ReceiptStatus};
use medsettle_settlement::csvin::{Advance, Declaration, Deduction};
use medsettle_settlement::ledger::{self, Expectations, Ledger};
use medsettle_settlement::monthly::{MonthlyInputs, settle_month};
use medsettle_settlement::{Calendar, DailyAggregator, YearMonth};
use time::Date;
use time::macros::date;

const A: &str = "H64010000001";
const B: &str = "H64010000002";
const C: &str = "H64010000003";

fn fen(f: i64) -> Money {
    Money::from_fen(f)
}

#[test]
fn is_m_3_hand_computed_month_for_three_institutions() {
    let p = policy(
        "[daily]\nfailed_payment = \"no_retry\"\n[daily.institution_ratios]\nH64010000003 = \"0.50\"\n[monthly]\nquality_margin_rate = \"0.05\"\n",
    );
    let cal = Calendar::embedded();
    let mut insts = three_institutions();
    let mut agg = DailyAggregator::new();
    let mut led = Ledger::new();
    let mut confirmed: BTreeMap<String, Money> = BTreeMap::new();

    // ---- claims -------------------------------------------------------------------------
    // A1 10-09 (Thu): 310100 800.00 + 330100 200.00 (+ 310200 50.00 account, not fund)
    //    fund 1,000.00 × 0.60 = 600.00
    let a1 = claim(
        "A1",
        A,
        date!(2025 - 10 - 09),
        &[("310100", 80_000), ("330100", 20_000), ("310200", 5_000)],
    );
    // A2 10-10 (Fri): 390100 333.33 × 0.60 = 199.998 → 200.00
    let a2 = claim("A2", A, date!(2025 - 10 - 10), &[("390100", 33_333)]);
    // A3 10-13 (Mon): reversal of A2 → −200.00 (same ratio, exact negation)
    let a3 = reverse(&a2, "A3", date!(2025 - 10 - 13));
    // A4 10-14 (Tue): 500.00 × 0.60 = 300.00
    let a4 = simple("A4", A, date!(2025 - 10 - 14), 50_000);
    // B1 10-01 (holiday): 2,000.00 × 0.60 = 1,200.00; B2 10-05 (holiday): 100.01 × 0.60 =
    //    60.006 → 60.01. Both pay on 10-09, the first working day after the holiday.
    let b1 = simple("B1", B, date!(2025 - 10 - 01), 200_000);
    let b2 = simple("B2", B, date!(2025 - 10 - 05), 10_001);
    // B3 10-20 (Mon): 10.00 × 0.60 = 6.00
    let b3 = simple("B3", B, date!(2025 - 10 - 20), 1_000);
    // C1 10-09: 400.00 × 0.50 = 200.00; C2 10-16: 1,000.00 × 0.50 = 500.00 but C is
    //    suspended from 10-16 → skipped (IS-SC-4), paid by the monthly settlement instead.
    let c1 = simple("C1", C, date!(2025 - 10 - 09), 40_000);
    let c2 = simple("C2", C, date!(2025 - 10 - 16), 100_000);
    let claims = [&b1, &b2, &a1, &c1, &a2, &a3, &a4, &c2, &b3];

    // Feed claims by day, close each working day for the previous days, pay or fail.
    let outcome = |id: &str| match id {
        // B's holiday payment of 1,260.01 fails; under no_retry it is not paid again.
        "D20251009H6401000000200" => ReceiptStatus::Failed,
        _ => ReceiptStatus::Paid,
    };
    let mut day = date!(2025 - 10 - 01);
    let mut paid_days: Vec<(Date, String, Money)> = Vec::new();
    while day <= date!(2025 - 10 - 31) {
        if day == date!(2025 - 10 - 16) {
            insts.get_mut(C).unwrap().status = EnrolmentStatus::Suspended;
        }
        if cal.is_working_day(day).unwrap() {
            let run = agg.close(day, &p, &cal, &insts).unwrap();
            agg.commit(&run).unwrap();
            for l in &run.lines {
                *confirmed.entry(l.fixmedins_code.clone()).or_default() += l.claims_total;
            }
            led.post(
                &run.run_id,
                ledger::daily_run_postings(&run),
                &Expectations {
                    confirmed: confirmed.clone(),
                    ..Default::default()
                },
            )
            .unwrap();
            for l in run.lines.iter().filter(|l| l.payment_id.is_some()) {
                let id = l.payment_id.clone().unwrap();
                let r = Receipt {
                    payment_id: id.clone(),
                    batch_id: None,
                    status: outcome(&id),
                    amount: Some(l.pay_amount),
                    bank_reference: None,
                    value_date: None,
                    reason: None,
                };
                let o = agg.apply_receipt(&r, &p).unwrap();
                led.post(
                    &format!("rcpt:{id}"),
                    ledger::daily_receipt_postings(&o),
                    &Expectations {
                        confirmed: confirmed.clone(),
                        ..Default::default()
                    },
                )
                .unwrap();
                paid_days.push((day, id, l.pay_amount));
            }
        }
        for c in claims.iter().filter(|c| c.settlement_date() == day) {
            agg.feed(c, &p, &insts);
        }
        day = day.next_day().unwrap();
    }
    let pay = |id: &str| paid_days.iter().find(|x| x.1 == id).map(|x| (x.0, x.2));
    // A: 10-10 pays 600.00 (A1); 10-11 (declared working Saturday) pays 200.00 (A2);
    //    10-14 nets −200.00 (A3) → nothing, carried; 10-15 pays 300.00 − 200.00 = 100.00.
    assert_eq!(
        pay("D20251010H6401000000100"),
        Some((date!(2025 - 10 - 10), fen(60_000)))
    );
    assert_eq!(
        pay("D20251011H6401000000100"),
        Some((date!(2025 - 10 - 11), fen(20_000)))
    );
    assert_eq!(pay("D20251014H6401000000100"), None);
    assert_eq!(
        pay("D20251015H6401000000100"),
        Some((date!(2025 - 10 - 15), fen(10_000)))
    );
    // B: 10-09 pays 1,200.00 + 60.01 = 1,260.01 (failed); 10-21 pays 6.00.
    assert_eq!(
        pay("D20251009H6401000000200"),
        Some((date!(2025 - 10 - 09), fen(126_001)))
    );
    assert_eq!(
        pay("D20251021H6401000000200"),
        Some((date!(2025 - 10 - 21), fen(600)))
    );
    // C: 10-10 pays 200.00; C2 skipped on 10-17.
    assert_eq!(
        pay("D20251010H6401000000300"),
        Some((date!(2025 - 10 - 10), fen(20_000)))
    );
    assert_eq!(paid_days.len(), 6);

    // ---- monthly settlement (IS-M-3) -----------------------------------------------------
    let oct = YearMonth::parse("2025-10").unwrap();
    let declarations = Declaration::from_csv_str(
        "fixmedins_code,month,fund_amount,claim_count\n\
         H64010000001,2025-10,1500.00,4\n\
         H64010000002,2025-10,2110.01,3\n\
         H64010000003,2025-10,1400.00,2\n",
    )
    .unwrap();
    let deductions = Deduction::from_csv_str("fixmedins_code,month,setl_id,amount,reason\nH64010000001,2025-10,A1,20.00,超标准收费\nH64010000003,2025-10,C2,1200.00,虚记费用\n").unwrap();
    let advances = Advance::from_csv_str("fixmedins_code,month,distributor_code,account_name,account,bank_code,amount\nH64010000002,2025-10,DIST01,宁夏医药公司,6222000099998888,102871000011,500.00\n").unwrap();
    let daily: BTreeMap<String, _> = [A, B, C]
        .iter()
        .map(|c| (c.to_string(), agg.month_figures(c, oct).unwrap()))
        .collect();
    let run = settle_month(
        &p,
        &cal,
        oct,
        &declarations,
        &deductions,
        &advances,
        &MonthlyInputs {
            daily: &daily,
            debts: &BTreeMap::new(),
        },
    )
    .unwrap();
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
    // IS-M-4: deadline Sat 2025-11-15; 20 working days counted from Mon 11-17:
    // 11-17..21 (5), 11-24..28 (10), 12-01..05 (15), 12-08..12 (20) → 2025-12-12.
    assert_eq!(run.declaration_deadline, date!(2025 - 11 - 15));
    assert_eq!(run.due_date, date!(2025 - 12 - 12));
    let line = |c: &str| {
        run.lines
            .iter()
            .find(|l| l.fixmedins_code == c)
            .unwrap()
            .clone()
    };

    // A: F = 1,000.00 + 333.33 − 333.33 + 500.00 = 1,500.00; gross 1,500.00; margin 75.00;
    //    deductions 20.00; successful daily 600.00 + 200.00 + 100.00 = 900.00; advances 0.
    //    monthly = 1,500.00 − 75.00 − 20.00 − 900.00 − 0 = 505.00
    let a = line(A);
    assert_eq!(
        (
            a.gross,
            a.quality_margin,
            a.audit_deductions,
            a.successful_daily
        ),
        (fen(150_000), fen(7_500), fen(2_000), fen(90_000))
    );
    assert_eq!(a.payable, fen(50_500));
    // B: F = 2,000.00 + 100.01 + 10.00 = 2,110.01; margin 105.5005 → 105.50; successful 6.00
    //    (the 1,260.01 failed); advances 500.00.
    //    monthly = 2,110.01 − 105.50 − 0 − 6.00 − 500.00 = 1,498.51
    let b = line(B);
    assert_eq!(
        (b.quality_margin, b.successful_daily, b.procurement_advances),
        (fen(10_550), fen(600), fen(50_000))
    );
    assert_eq!(b.payable, fen(149_851));
    // C: F = 1,400.00; margin 70.00; deductions 1,200.00; successful 200.00.
    //    monthly = 1,400.00 − 70.00 − 1,200.00 − 200.00 = −70.00 → pays 0, debt 70.00, suspended
    let c = line(C);
    assert_eq!(
        (c.computed, c.payable, c.debt_carried, c.suspend),
        (fen(-7_000), Money::ZERO, fen(7_000), true)
    );
    // daily + monthly (+ debt) = gross − margin − deductions − advances, for each institution
    for l in &run.lines {
        assert_eq!(
            l.successful_daily + l.payable - l.debt_carried,
            l.gross - l.quality_margin - l.audit_deductions - l.procurement_advances
        );
    }

    // ---- batch and ledger ----------------------------------------------------------------
    let batch = run
        .to_payment_batch(
            &p,
            &insts,
            debtor(),
            date!(2025 - 12 - 01),
            at(date!(2025 - 12 - 01), 9),
        )
        .unwrap();
    let ids: Vec<(&str, i64)> = batch
        .payments
        .iter()
        .map(|x| (x.payment_id.as_str(), x.amount.fen()))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("M202510H64010000001", 50_500),
            ("M202510H64010000002", 149_851),
            ("P202510H64010000002DIST01", 50_000)
        ]
    );
    assert_eq!(
        run.to_payment_batch(
            &p,
            &insts,
            debtor(),
            date!(2025 - 12 - 15),
            at(date!(2025 - 12 - 15), 9)
        )
        .unwrap_err()
        .rule(),
        "IS-M-4"
    );

    // Confirmed = gross − deductions: A 1,480.00; B 2,110.01; C 200.00.
    let confirmed: BTreeMap<String, Money> = [(A, 148_000), (B, 211_001), (C, 20_000)]
        .iter()
        .map(|(c, f)| (c.to_string(), fen(*f)))
        .collect();
    // Receivables after: A 0, B 0, C −70.00 (the debt, an offset).
    let receivable = [(A, 0), (B, 0), (C, -7_000)]
        .iter()
        .map(|(c, f)| (c.to_string(), fen(*f)))
        .collect();
    let rep = led
        .post(
            "monthly:2025-10",
            ledger::monthly_postings(&run),
            &Expectations {
                confirmed,
                receivable,
            },
        )
        .unwrap()
        .unwrap();
    // A: 1,480.00 = paid 900.00 + in transit 505.00 + margin 75.00
    assert_eq!(rep.positions[A].paid, fen(90_000));
    assert_eq!(rep.positions[A].in_transit, fen(50_500));
    assert_eq!(rep.positions[A].margin_held, fen(7_500));
    // B's in transit: 1,498.51 + 500.00 to the distributor
    assert_eq!(rep.positions[B].in_transit, fen(199_851));
    for c in [A, B, C] {
        agg.close_month(
            c,
            oct,
            run.lines.iter().any(|l| l.fixmedins_code == c && l.suspend),
        );
    }
    assert!(agg.is_debt_suspended(C));
}
