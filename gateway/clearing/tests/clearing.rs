//! A month of clearing between provinces, end to end: the reference's worked example, carried
//! disputes, due dates on a calendar with holidays, netting, payment batches and the ledger.

use std::collections::BTreeMap;

use medsettle_canonical::{Admdvs, BankAccount, Money, ReceiptStatus};
use medsettle_clearing::*;
use medsettle_settlement::ledger::{Expectations, Ledger, Transfer};
use medsettle_settlement::{Calendar, Provenance, YearMonth};
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime};

fn ym(text: &str) -> YearMonth {
    YearMonth::parse(text).unwrap()
}

fn region(code: &str) -> Admdvs {
    Admdvs::parse(code).unwrap()
}

fn yuan(text: &str) -> Money {
    Money::parse_yuan(text).unwrap()
}

/// A test calendar for 2024 with the real Dragon Boat and National Day holidays (and the
/// National Day make-up Sunday and Saturday), built as the settlement tests build theirs.
fn calendar_2024() -> Calendar {
    Calendar::from_toml_strs(&[r#"
year = 2024
source = "test: two holidays of 2024"
[[holiday]]
name = "端午节 Dragon Boat"
from = 2024-06-08
to = 2024-06-10
[[holiday]]
name = "国庆节 National Day"
from = 2024-10-01
to = 2024-10-07
working_days = [2024-09-29, 2024-10-12]
"#])
    .unwrap()
}

/// The §5.3 settlement as a clearing row.
fn reference_row() -> ClearingRow {
    ClearingRow {
        omsgid: "H99010000012024052012000001".into(),
        setl_id: "S0001".into(),
        mdtrt_id: "YD9901202405000007".into(),
        medins_no: "H99010000001".into(),
        certno: Some("880101199001010000".into()),
        insuplc_admdvs: region("880100"),
        mdtrtarea_admvs: region("990100"),
        setl_time: datetime!(2024-05-20 10:00 +8),
        medfee_sumamt: yuan("25600.00"),
        fund_pay_sumamt: yuan("18140.00"),
        aaa113: AAA113_FORWARD,
        fulamt_advpay_flag: false,
    }
}

/// A forward row with made-up ids.
fn row(
    omsgid: &str,
    insured: &str,
    treatment: &str,
    fund: &str,
    at: OffsetDateTime,
) -> ClearingRow {
    let fund = yuan(fund);
    ClearingRow {
        omsgid: omsgid.into(),
        setl_id: format!("S{omsgid}"),
        mdtrt_id: format!("M{omsgid}"),
        medins_no: format!("H{}0000001", &treatment[..4]),
        certno: None,
        insuplc_admdvs: region(insured),
        mdtrtarea_admvs: region(treatment),
        setl_time: at,
        medfee_sumamt: fund + fund,
        fund_pay_sumamt: fund,
        aaa113: AAA113_FORWARD,
        fulamt_advpay_flag: false,
    }
}

fn reversal(f: &ClearingRow, at: OffsetDateTime) -> ClearingRow {
    ClearingRow {
        setl_id: format!("R{}", f.setl_id),
        setl_time: at,
        medfee_sumamt: -f.medfee_sumamt,
        fund_pay_sumamt: -f.fund_pay_sumamt,
        aaa113: AAA113_REVERSAL,
        ..f.clone()
    }
}

fn confirm_all(s: &mut Statement, on: Date) -> ReplyOutcome {
    let reply: Vec<ReplyLine> = s
        .lines
        .iter()
        .map(|l| ReplyLine::confirm(l.seqno))
        .collect();
    s.apply_reply(&reply, on).unwrap()
}

#[test]
fn the_reference_clearing_line_is_in_the_may_2024_statement_of_880000_to_990000() {
    let statements = clearing_month(&[reference_row()], ym("2024-05"), &[]).unwrap();
    assert_eq!(statements.len(), 1);
    let s = &statements[0];
    assert_eq!(s.stmt_id, "CLR-880000-990000-202405");
    assert_eq!(
        (s.insured_province, s.treatment_province),
        (region("880000"), region("990000"))
    );
    assert_eq!(
        (s.count, s.medfee_sumamt, s.fund_pay_sumamt),
        (1, yuan("25600.00"), yuan("18140.00"))
    );
    // The 3260 row for the institution is the reference's line.
    let page = s
        .page_for_institution("H99010000001", 1, PAGE_ROWS_MAX)
        .unwrap();
    assert!(!page.has_more);
    let r = &page.rows[0];
    assert_eq!(r.seqno, 1);
    assert_eq!(r.mdtrtarea.as_str(), "990100");
    assert_eq!(r.medins_no, "H99010000001");
    assert_eq!(r.mdtrt_id, "YD9901202405000007");
    assert_eq!(r.setl_sn, "S0001");
    assert!(!r.fulamt_advpay_flag);
    assert_eq!(r.medfee_sumamt.to_string(), "25600.00");
    assert_eq!(r.optins_pay_sumamt.to_string(), "18140.00");
    assert_eq!(r.certno.as_deref(), Some("880101199001010000"));
    assert_eq!(
        s.to_csv(),
        "seqno,mdtrtarea,medins_no,mdtrt_id,setl_sn,setl_time,fulamt_advpay_flag,medfee_sumamt,optins_pay_sumamt,aaa113,carried_from,status\n\
         1,990100,H99010000001,YD9901202405000007,S0001,2024-05-20 10:00:00,0,25600.00,18140.00,1,,pending\n\
         total,,,,,,,25600.00,18140.00,1,,pending\n"
    );
}

#[test]
fn refused_lines_are_carried_with_their_history_until_confirmed() {
    let rows = vec![
        row(
            "A1",
            "880100",
            "990100",
            "100.00",
            datetime!(2024-04-03 09:00 +8),
        ),
        row(
            "A2",
            "880100",
            "990100",
            "200.00",
            datetime!(2024-04-09 09:00 +8),
        ),
        row(
            "A3",
            "880100",
            "990100",
            "300.00",
            datetime!(2024-04-17 09:00 +8),
        ),
        row(
            "B1",
            "880100",
            "990100",
            "50.00",
            datetime!(2024-05-06 09:00 +8),
        ),
    ];
    let mut april = clearing_month(&rows, ym("2024-04"), &[]).unwrap().remove(0);
    assert_eq!(april.fund_pay_sumamt, yuan("600.00"));
    let a = april
        .apply_reply(
            &[
                ReplyLine::confirm(1),
                ReplyLine::refuse(2, "not on the 备案 list"),
                ReplyLine::confirm(3),
            ],
            date!(2024 - 05 - 08),
        )
        .unwrap();
    assert_eq!(
        a.confirmed_fund_pay_sumamt,
        april.fund_pay_sumamt - yuan("200.00")
    );
    assert_eq!(april.confirmed_fund(), yuan("400.00"));
    assert!(
        april
            .to_csv()
            .lines()
            .nth(2)
            .unwrap()
            .ends_with(",400.00,200.00,1,,refused")
    );

    // May: its own line and April's refused one, carried.
    let mut may = clearing_month(&rows, ym("2024-05"), &a.carried)
        .unwrap()
        .remove(0);
    assert_eq!(may.lines.len(), 2);
    let carried = may.lines.iter().find(|l| l.row.omsgid == "A2").unwrap();
    assert_eq!(carried.carried_from, Some(ym("2024-04")));
    assert_eq!(carried.history.len(), 1);
    assert_eq!(may.fund_pay_sumamt, yuan("250.00"));
    assert!(may.to_csv().contains(",2024-04,pending\n"));
    let seq = carried.seqno;
    let other = may
        .lines
        .iter()
        .find(|l| l.row.omsgid == "B1")
        .unwrap()
        .seqno;
    let m = may
        .apply_reply(
            &[
                ReplyLine::refuse(seq, "still no 备案"),
                ReplyLine::confirm(other),
            ],
            date!(2024 - 06 - 05),
        )
        .unwrap();
    assert_eq!(m.confirmed_fund_pay_sumamt, yuan("50.00"));
    // Refused twice: still carried, from April, with both refusals.
    assert_eq!(m.carried.len(), 1);
    assert_eq!(m.carried[0].carried_from, ym("2024-04"));
    let reasons: Vec<&str> = m.carried[0]
        .history
        .iter()
        .map(|h| h.reason.as_str())
        .collect();
    assert_eq!(reasons, vec!["not on the 备案 list", "still no 备案"]);

    // June: confirmed at last, paid in June.
    let mut june = clearing_month(&rows, ym("2024-06"), &m.carried)
        .unwrap()
        .remove(0);
    assert_eq!(june.lines.len(), 1);
    assert_eq!(june.stmt_id, "CLR-880000-990000-202406");
    let j = confirm_all(&mut june, date!(2024 - 07 - 03));
    assert_eq!(j.confirmed_fund_pay_sumamt, yuan("200.00"));
    assert!(j.carried.is_empty());
}

#[test]
fn reversals_net_within_the_month_and_across_months() {
    let f1 = row(
        "F1",
        "880100",
        "990100",
        "1000.00",
        datetime!(2024-05-02 09:00 +8),
    );
    let f2 = row(
        "F2",
        "880100",
        "990100",
        "70.00",
        datetime!(2024-04-29 09:00 +8),
    );
    let f3 = row(
        "F3",
        "880100",
        "990100",
        "30.00",
        datetime!(2024-05-10 09:00 +8),
    );
    let rows = vec![
        f1.clone(),
        reversal(&f1, datetime!(2024-05-03 09:00 +8)),
        f2.clone(),
        reversal(&f2, datetime!(2024-05-04 09:00 +8)),
        f3,
    ];
    let s = clearing_month(&rows, ym("2024-05"), &[]).unwrap().remove(0);
    assert_eq!(s.cancelled_pairs, 1);
    assert_eq!(s.lines.len(), 2);
    assert_eq!(s.count, 0); // F3 + the reversal of April's F2
    assert_eq!(s.fund_pay_sumamt, yuan("-40.00"));
    assert_eq!(
        s.fund_pay_sumamt,
        s.lines.iter().map(|l| l.row.fund_pay_sumamt).sum::<Money>()
    );
    assert_eq!(
        s.medfee_sumamt,
        s.lines.iter().map(|l| l.row.medfee_sumamt).sum::<Money>()
    );
    assert!(
        s.to_csv()
            .ends_with("total,,,,,,,-80.00,-40.00,0,,pending\n")
    );
}

#[test]
fn due_dates_count_working_days_around_holidays() {
    let cal = calendar_2024();
    // May 2024 ends on Friday 31st: June 3–7.
    assert_eq!(
        statement_due(&cal, ym("2024-05")).unwrap().value,
        date!(2024 - 06 - 07)
    );
    // September ends on Monday 30th; 1–7 October are off and Saturday the 12th is worked.
    assert_eq!(
        statement_due(&cal, ym("2024-09")).unwrap().value,
        date!(2024 - 10 - 12)
    );
    // Confirmed Wednesday 5 June: 6, 7, (8–10 Dragon Boat), 11 … 14, 17 … 20.
    let mut s = clearing_month(&[reference_row()], ym("2024-05"), &[])
        .unwrap()
        .remove(0);
    let before = s.due_dates(&cal).unwrap();
    assert_eq!((before.confirmed_on, before.transfer_due), (None, None));
    confirm_all(&mut s, date!(2024 - 06 - 05));
    let d = s.due_dates(&cal).unwrap();
    assert_eq!(d.transfer_due.unwrap().value, date!(2024 - 06 - 20));
    assert_eq!(d.transfer_due.unwrap().provenance, Provenance::Official);
    assert!(!d.confirmed_late);
    // Confirmed after the statement due date: flagged, and the 10 days start then.
    let mut late = clearing_month(&[reference_row()], ym("2024-05"), &[])
        .unwrap()
        .remove(0);
    confirm_all(&mut late, date!(2024 - 06 - 12));
    let d = late.due_dates(&cal).unwrap();
    assert!(d.confirmed_late);
    assert_eq!(d.transfer_due.unwrap().value, date!(2024 - 06 - 26));
    // December's deadlines run into 2025, which this calendar only knows provisionally.
    let dec = statement_due(&cal, ym("2024-12")).unwrap();
    assert!(dec.is_provisional());
    assert_eq!(STATEMENT_DUE_WORKING_DAYS, 5);
    assert_eq!(TRANSFER_DUE_WORKING_DAYS, 10);
}

#[test]
fn pages_of_100_rows_for_one_institution() {
    let rows: Vec<ClearingRow> = (0..230)
        .map(|i| {
            let mut r = row(
                &format!("P{i:03}"),
                "880100",
                "990100",
                "1.00",
                datetime!(2024-05-01 08:00 +8) + time::Duration::minutes(i),
            );
            r.medins_no = if i % 10 == 0 {
                "H99010000002".into()
            } else {
                "H99010000001".into()
            };
            r
        })
        .collect();
    let s = clearing_month(&rows, ym("2024-05"), &[]).unwrap().remove(0);
    let first = s.page_for_institution("H99010000001", 1, 500).unwrap();
    assert_eq!(
        (first.rows.len(), first.total_rows, first.has_more),
        (100, 207, true)
    );
    let third = s.page_for_institution("H99010000001", 201, 100).unwrap();
    assert_eq!((third.rows.len(), third.has_more), (7, false));
    let mut seqnos: Vec<u32> = Vec::new();
    let mut start = 1;
    loop {
        let p = s.page_for_institution("H99010000001", start, 100).unwrap();
        seqnos.extend(p.rows.iter().map(|r| r.seqno));
        if !p.has_more {
            break;
        }
        start += u32::try_from(p.rows.len()).unwrap();
    }
    assert_eq!(seqnos.len(), 207);
    assert!(seqnos.windows(2).all(|w| w[0] < w[1]));
    assert!(s.page_for_institution("H99010000001", 0, 100).is_err());
    assert!(
        s.page_for_institution("nobody", 1, 100)
            .unwrap()
            .rows
            .is_empty()
    );
}

fn account(name: &str) -> BankAccount {
    BankAccount {
        name: format!("{name} 省级财政专户"),
        account: format!("6222{name}"),
        bank_code: "102100099996".into(),
        bank_name: "test bank".into(),
    }
}

/// Three provinces, each owing and owed, one line refused; the month netted and posted.
fn three_province_month() -> (Vec<Statement>, MonthClearing) {
    let at = datetime!(2024-05-15 10:00 +8);
    let rows = vec![
        row("BJ-SH-1", "110100", "310100", "500.00", at),
        row("BJ-SH-2", "110100", "310100", "80.00", at),
        row("SH-BJ-1", "310100", "110100", "200.00", at),
        row("SH-GD-1", "310100", "440300", "300.00", at),
        row("GD-SH-1", "440300", "310100", "100.00", at),
        row("GD-BJ-1", "440300", "110100", "400.00", at),
        row("BJ-GD-1", "110100", "440300", "50.00", at),
    ];
    let mut statements = clearing_month(&rows, ym("2024-05"), &[]).unwrap();
    assert_eq!(statements.len(), 6);
    for (i, s) in statements.iter_mut().enumerate() {
        // The first statement is answered a day after the others.
        let on = if i == 0 {
            date!(2024 - 06 - 05)
        } else {
            date!(2024 - 06 - 04)
        };
        let reply: Vec<ReplyLine> = s
            .lines
            .iter()
            .map(|l| {
                if l.row.omsgid == "BJ-SH-2" {
                    ReplyLine::refuse(l.seqno, "duplicate")
                } else {
                    ReplyLine::confirm(l.seqno)
                }
            })
            .collect();
        s.apply_reply(&reply, on).unwrap();
    }
    let mc = MonthClearing::new(ym("2024-05"), &statements, &calendar_2024()).unwrap();
    (statements, mc)
}

#[test]
fn three_provinces_net_to_one_amount_each() {
    let (_, mc) = three_province_month();
    let net: Vec<(&str, String)> = mc
        .matrix
        .net
        .iter()
        .map(|(p, m)| (p.as_str(), m.to_string()))
        .collect();
    assert_eq!(
        net,
        vec![
            ("110000", "50.00".into()),
            ("310000", "100.00".into()),
            ("440000", "-150.00".into())
        ]
    );
    assert_eq!(mc.matrix.net.values().copied().sum::<Money>(), Money::ZERO);
    let t: Vec<(&str, &str, String)> = mc
        .transfers
        .iter()
        .map(|t| (t.payer.as_str(), t.receiver.as_str(), t.amount.to_string()))
        .collect();
    // 440000 owed 110000 400.00 gross and 310000 100.00: the larger relationship first.
    assert_eq!(
        t,
        vec![
            ("440000", "110000", "50.00".into()),
            ("440000", "310000", "100.00".into())
        ]
    );
    // The last reply (5 June) starts the 10 working days.
    assert_eq!(mc.confirmed_on, date!(2024 - 06 - 05));
    assert_eq!(mc.transfer_due.value, date!(2024 - 06 - 20));

    let accounts: ProvinceAccounts = [("110000", "BJ"), ("310000", "SH")]
        .iter()
        .map(|(p, n)| (region(p), account(n)))
        .collect();
    let batch = mc
        .to_payment_batch(
            region("440000"),
            &accounts,
            account("GD"),
            date!(2024 - 06 - 19),
            datetime!(2024-06-18 09:30 +8),
        )
        .unwrap();
    assert_eq!(batch.batch_id, "X440000202405");
    assert_eq!(batch.control_sum(), yuan("150.00"));
    assert_eq!(batch.payments[1].payment_id, "X202405440000310000");
    assert_eq!(batch.payments[1].payee_code, "310000");
    assert_eq!(batch.payments[1].payee.name, "SH 省级财政专户");
    assert_eq!(batch.payments[1].amount, yuan("100.00"));
    assert_eq!(
        batch.payments[0].settlement_dates,
        vec![date!(2024 - 05 - 01), date!(2024 - 05 - 31)]
    );
    assert_eq!(batch.created_at, "2024-06-18T09:30:00+08:00");
    // The same clearing renders the same batch; a late pay date or a missing account is refused.
    assert_eq!(
        batch,
        mc.to_payment_batch(
            region("440000"),
            &accounts,
            account("GD"),
            date!(2024 - 06 - 19),
            datetime!(2024-06-18 01:30 UTC)
        )
        .unwrap()
    );
    let late = mc.to_payment_batch(
        region("440000"),
        &accounts,
        account("GD"),
        date!(2024 - 06 - 21),
        datetime!(2024-06-18 09:30 +8),
    );
    assert!(
        late.unwrap_err()
            .to_string()
            .contains("after the transfer due date")
    );
    let mut missing = accounts.clone();
    missing.remove(&region("110000"));
    let e = mc
        .payment_instructions(region("440000"), &missing)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("no finance account for province 110000"),
        "{e}"
    );
    assert!(
        mc.payment_instructions(region("110000"), &accounts)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn netting_waits_for_every_reply() {
    let at = datetime!(2024-05-15 10:00 +8);
    let statements = clearing_month(
        &[row("A", "110100", "310100", "1.00", at)],
        ym("2024-05"),
        &[],
    )
    .unwrap();
    let e = MonthClearing::new(ym("2024-05"), &statements, &calendar_2024()).unwrap_err();
    assert!(e.to_string().contains("no reply yet"), "{e}");
    assert!(MonthClearing::new(ym("2024-05"), &[], &calendar_2024()).is_err());
}

fn expect(confirmed: &BTreeMap<String, Money>, receivable: &[(&str, &str)]) -> Expectations {
    Expectations {
        confirmed: confirmed.clone(),
        receivable: receivable
            .iter()
            .map(|(p, m)| ((*p).to_owned(), yuan(m)))
            .collect(),
    }
}

#[test]
fn the_month_posts_into_the_settlement_ledger_and_its_audit_passes() {
    let (_, mc) = three_province_month();
    let postings = clearing_postings(&mc);
    let debits: Money = postings.iter().map(|t| t.amount).sum();
    assert!(debits > Money::ZERO);
    for t in &postings {
        assert_eq!(t.debit.institution(), t.credit.institution(), "{t:?}");
    }
    // An institution's daily batch is already in the ledger: the clearing sits beside it.
    let mut ledger = Ledger::new();
    let hospital = vec![Transfer {
        debit: medsettle_settlement::ledger::Account::FundExpenditure {
            inst: "H99010000001".into(),
        },
        credit: medsettle_settlement::ledger::Account::InstitutionReceivable {
            inst: "H99010000001".into(),
        },
        amount: yuan("10.00"),
        reference: "D1".into(),
    }];
    let mut confirmed: BTreeMap<String, Money> =
        [("H99010000001".to_owned(), yuan("10.00"))].into();
    ledger
        .post("D1", hospital, &expect(&confirmed, &[]))
        .unwrap();
    let clearing = mc.expected_expenditure();
    assert_eq!(clearing["440000"], yuan("150.00"));
    assert_eq!(clearing["110000"], yuan("-50.00"));
    confirmed.extend(clearing);

    let sent = expect(
        &confirmed,
        &[
            ("110000", "-50.00"),
            ("310000", "-100.00"),
            ("440000", "0.00"),
        ],
    );
    let report = ledger
        .post("clearing:2024-05", postings.clone(), &sent)
        .unwrap()
        .unwrap();
    assert_eq!(report.total_debits, report.total_credits);
    let gd = report.positions["440000"];
    assert_eq!(
        (gd.expenditure, gd.receivable, gd.in_transit, gd.paid),
        (yuan("150.00"), Money::ZERO, yuan("150.00"), Money::ZERO)
    );
    // Posting the batch again is a no-op.
    assert!(
        ledger
            .post("clearing:2024-05", postings, &sent)
            .unwrap()
            .is_none()
    );

    // The payer's bank pays both transfers and the money arrives at the receivers.
    let mut settle = Vec::new();
    for t in &mc.transfers {
        settle.extend(transfer_receipt_postings(
            &mc,
            t,
            Some(ReceiptStatus::Accepted),
            ReceiptStatus::Paid,
        ));
        assert!(
            transfer_receipt_postings(&mc, t, Some(ReceiptStatus::Paid), ReceiptStatus::Paid)
                .is_empty()
        );
        settle.extend(arrival_postings(&mc, t));
    }
    let done = expect(
        &confirmed,
        &[("110000", "0.00"), ("310000", "0.00"), ("440000", "0.00")],
    );
    let report = ledger
        .post("settled:2024-05", settle, &done)
        .unwrap()
        .unwrap();
    let p = &report.positions;
    assert_eq!(
        (p["440000"].in_transit, p["440000"].paid),
        (Money::ZERO, yuan("150.00"))
    );
    assert_eq!(
        (p["110000"].expenditure, p["110000"].paid),
        (yuan("-50.00"), yuan("-50.00"))
    );
    assert_eq!(
        (p["310000"].expenditure, p["310000"].paid),
        (yuan("-100.00"), yuan("-100.00"))
    );
    assert_eq!(p["H99010000001"].expenditure, yuan("10.00"));
}

#[test]
fn a_failed_transfer_is_owed_again_and_a_wrong_expectation_fails_the_audit() {
    let (_, mc) = three_province_month();
    let mut ledger = Ledger::new();
    let confirmed = mc.expected_expenditure();
    ledger
        .post("clearing", clearing_postings(&mc), &expect(&confirmed, &[]))
        .unwrap();
    let t = &mc.transfers[0];
    let failed =
        transfer_receipt_postings(&mc, t, Some(ReceiptStatus::Accepted), ReceiptStatus::Failed);
    let report = ledger
        .post(
            "failed",
            failed,
            &expect(&confirmed, &[("440000", "50.00")]),
        )
        .unwrap()
        .unwrap();
    assert_eq!(report.positions["440000"].in_transit, yuan("100.00"));
    let mut wrong = confirmed.clone();
    wrong.insert("310000".into(), yuan("-99.00"));
    let e = ledger
        .post("again", vec![], &expect(&wrong, &[]))
        .unwrap_err();
    assert!(e.to_string().contains("confirmed-amount"), "{e}");
}

/// [`RULES`] lists exactly the `…_RULE` constants of `src/error.rs`, and each is used in
/// another source file: the table and the code cannot drift.
#[test]
fn every_rule_is_listed_and_used() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let error = std::fs::read_to_string(format!("{dir}/error.rs")).unwrap();
    let mut defined = Vec::new();
    for line in error.lines() {
        let Some(rest) = line.strip_prefix("pub const ") else {
            continue;
        };
        let Some((name, value)) = rest.split_once(": &str = \"") else {
            continue;
        };
        defined.push((name.to_owned(), value.trim_end_matches("\";").to_owned()));
    }
    let listed: Vec<String> = RULES.iter().map(|(id, _)| (*id).to_owned()).collect();
    let mut ids: Vec<String> = defined.iter().map(|(_, id)| id.clone()).collect();
    ids.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    let others: String = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("error.rs"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    for (name, id) in &defined {
        assert!(
            others.contains(name.as_str()),
            "{name} ({id}) is never used outside error.rs"
        );
    }
}
