//! Property tests: random claim streams with reversals, redelivery, holidays (the real
//! calendar of Sep–Nov 2025), suspensions and failed/returned payments, under both IS-D-6
//! policies. They must never pay a claim twice, never pay a suspended institution, keep the
//! ledger balanced after every batch, and make daily + monthly equal the month's payable.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use medsettle_canonical::{EnrolmentStatus, Money, Receipt, ReceiptStatus, SettledClaim};
use medsettle_settlement::csvin::Declaration;
use medsettle_settlement::ledger::{self, Expectations, Ledger};
use medsettle_settlement::monthly::{MonthlyInputs, settle_month};
use medsettle_settlement::{Calendar, DailyAggregator, YearMonth};
use proptest::prelude::*;
use time::macros::date;

const CODES: [&str; 3] = ["H64010000001", "H64010000002", "H64010000003"];

#[derive(Debug, Clone)]
struct Event {
    day: u8,                   // 0..31 → October day
    inst: usize,               // which institution
    fen: i64,                  // fund amount
    reverse_after: Option<u8>, // reversal this many days later (0 = same day)
    redeliver: bool,
}

fn event() -> impl Strategy<Value = Event> {
    (
        0u8..31,
        0usize..3,
        1i64..5_000_000,
        prop::option::weighted(0.25, 0u8..6),
        any::<bool>(),
    )
        .prop_map(|(day, inst, fen, reverse_after, redeliver)| Event {
            day,
            inst,
            fen,
            reverse_after,
            redeliver,
        })
}

fn run_month(
    events: Vec<Event>,
    suspend_days: Vec<(usize, u8, u8)>,
    fail_every: u8,
    carry_forward: bool,
    margin_bp: u16,
) -> Result<(), TestCaseError> {
    let p = policy(&format!(
        "[daily]\nfailed_payment = \"{}\"\n[daily.institution_ratios]\nH64010000002 = \"0.55\"\n[monthly]\nquality_margin_rate = \"0.{margin_bp:04}\"\n",
        if carry_forward {
            "carry_forward"
        } else {
            "no_retry"
        }
    ));
    let cal = Calendar::embedded();
    let base = three_institutions();
    let oct = YearMonth::parse("2025-10").unwrap();
    // Build the claim stream: each claim on its day, reversals later (within October).
    let mut by_day: BTreeMap<time::Date, Vec<SettledClaim>> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        let d = date!(2025 - 10 - 01) + time::Duration::days(i64::from(e.day));
        let c = simple(&format!("S{i}"), CODES[e.inst], d, e.fen);
        if let Some(after) = e.reverse_after {
            let rd = d + time::Duration::days(i64::from(after));
            if rd.month() == time::Month::October {
                by_day
                    .entry(rd)
                    .or_default()
                    .push(reverse(&c, &format!("R{i}"), rd));
            }
        }
        by_day.entry(d).or_default().push(c.clone());
        if e.redeliver {
            by_day.entry(d).or_default().push(c);
        }
    }
    let declared: BTreeMap<&str, Money> = CODES
        .iter()
        .map(|code| {
            (
                *code,
                by_day
                    .values()
                    .flatten()
                    .filter(|c| c.fixmedins_code == *code)
                    .map(|c| c.fund_amount(|t| t == "310100"))
                    .sum::<Money>(),
            )
        })
        .collect();
    // Redelivered claims are duplicates: count each (setl_id, kind) once.
    let declared: BTreeMap<&str, Money> = declared
        .keys()
        .map(|code| {
            let mut seen = BTreeSet::new();
            let f = by_day
                .values()
                .flatten()
                .filter(|c| {
                    c.fixmedins_code == *code
                        && seen.insert((
                            c.setl_id.clone(),
                            c.kind == medsettle_canonical::ClaimKind::Reversal,
                        ))
                })
                .map(|c| c.fund_amount(|t| t == "310100"))
                .sum();
            (*code, f)
        })
        .collect();

    // Never pay a fen twice: what the ledger says each institution is still owed must be exactly
    // what the daily state will still pay (carried items) plus, under no_retry, the failed and
    // returned payments the monthly settlement will pay. A double-carried or double-paid amount
    // breaks this at the batch that does it.
    let expect = |agg: &DailyAggregator, confirmed: &BTreeMap<String, Money>| {
        let mut receivable: BTreeMap<String, Money> =
            confirmed.keys().map(|c| (c.clone(), Money::ZERO)).collect();
        for c in agg.carried() {
            *receivable.entry(c.fixmedins_code.clone()).or_default() += c.amount;
        }
        if !carry_forward {
            for x in agg.payments().filter(|x| {
                matches!(
                    x.status,
                    Some(ReceiptStatus::Failed | ReceiptStatus::Returned)
                )
            }) {
                *receivable.entry(x.fixmedins_code.clone()).or_default() += x.amount;
            }
        }
        Expectations {
            confirmed: confirmed.clone(),
            receivable,
        }
    };
    let mut agg = DailyAggregator::new();
    let mut led = Ledger::new();
    let mut confirmed: BTreeMap<String, Money> = BTreeMap::new();
    let mut consumed_claims: BTreeSet<String> = BTreeSet::new();
    let mut payment_ids: BTreeSet<String> = BTreeSet::new();
    let mut n_payment = 0u32;
    let mut day = date!(2025 - 10 - 01);
    while day <= date!(2025 - 11 - 05) {
        let mut insts = base.clone();
        for (i, from, len) in &suspend_days {
            let d0 = date!(2025 - 10 - 01) + time::Duration::days(i64::from(*from));
            if day >= d0 && day < d0 + time::Duration::days(i64::from(*len)) {
                insts.get_mut(CODES[*i]).unwrap().status = EnrolmentStatus::Suspended;
            }
        }
        if cal.is_working_day(day).unwrap() {
            let run = agg.close(day, &p, &cal, &insts).unwrap();
            // never pay a suspended institution
            for l in run.lines.iter().filter(|l| l.payment_id.is_some()) {
                prop_assert_eq!(insts[&l.fixmedins_code].status, EnrolmentStatus::Enrolled);
                prop_assert!(l.pay_amount > Money::ZERO);
            }
            // every claim is consumed exactly once, with its daily amount computed per claim
            for c in run
                .lines
                .iter()
                .flat_map(|l| &l.claims)
                .chain(run.skipped.iter().flat_map(|s| &s.claims))
            {
                prop_assert!(
                    consumed_claims.insert(format!("{}{:?}", c.setl_id, c.kind)),
                    "claim {} consumed twice",
                    c.setl_id
                );
                prop_assert_eq!(
                    c.daily_amount,
                    c.fund_amount.mul_ratio_half_up(c.daily_ratio)
                );
            }
            agg.commit(&run).unwrap();
            for l in &run.lines {
                *confirmed.entry(l.fixmedins_code.clone()).or_default() += l.claims_total;
            }
            led.post(
                &run.run_id,
                ledger::daily_run_postings(&run),
                &expect(&agg, &confirmed),
            )
            .unwrap();
            for l in run.lines.iter().filter(|l| l.payment_id.is_some()) {
                let id = l.payment_id.clone().unwrap();
                prop_assert!(
                    payment_ids.insert(id.clone()),
                    "payment id {} issued twice",
                    id
                );
                n_payment += 1;
                let statuses: Vec<ReceiptStatus> = if fail_every > 0
                    && n_payment.is_multiple_of(u32::from(fail_every))
                {
                    vec![ReceiptStatus::Failed]
                } else if fail_every > 0 && n_payment % u32::from(fail_every) == 1 && n_payment > 1
                {
                    vec![ReceiptStatus::Paid, ReceiptStatus::Returned]
                } else {
                    vec![
                        ReceiptStatus::Accepted,
                        ReceiptStatus::Paid,
                        ReceiptStatus::Paid,
                    ]
                };
                for s in statuses {
                    let r = Receipt {
                        payment_id: id.clone(),
                        batch_id: None,
                        status: s,
                        amount: Some(l.pay_amount),
                        bank_reference: None,
                        value_date: None,
                        reason: None,
                    };
                    let o = agg.apply_receipt(&r, &p).unwrap();
                    led.post(
                        &format!("rcpt:{id}:{s:?}"),
                        ledger::daily_receipt_postings(&o),
                        &expect(&agg, &confirmed),
                    )
                    .unwrap();
                }
            }
        }
        if let Some(cs) = by_day.get(&day) {
            for c in cs {
                agg.feed(c, &p, &base);
            }
        }
        day = day.next_day().unwrap();
    }
    prop_assert!(agg.pending().is_empty());

    // Monthly settlement of October from the declared (= journal) fund amounts.
    let decl_csv = std::iter::once("fixmedins_code,month,fund_amount,claim_count".to_owned())
        .chain(declared.iter().map(|(c, f)| format!("{c},2025-10,{f},1")))
        .collect::<Vec<_>>()
        .join("\n");
    let decls = Declaration::from_csv_str(&decl_csv).unwrap();
    let figures: BTreeMap<String, _> = CODES
        .iter()
        .map(|c| (c.to_string(), agg.month_figures(c, oct).unwrap()))
        .collect();
    // successful daily = Σ Paid receipts' amounts (all components are October here)
    for c in CODES {
        let paid: Money = agg
            .payments()
            .filter(|x| x.fixmedins_code == c && x.status == Some(ReceiptStatus::Paid))
            .map(|x| x.amount)
            .sum();
        prop_assert_eq!(figures[c].successful, paid);
    }
    let run = settle_month(
        &p,
        &cal,
        oct,
        &decls,
        &[],
        &[],
        &MonthlyInputs {
            daily: &figures,
            debts: &BTreeMap::new(),
        },
    )
    .unwrap();
    prop_assert!(run.warnings.is_empty(), "{:?}", run.warnings);
    let mut receivable = BTreeMap::new();
    for l in &run.lines {
        // daily + monthly = the month's payable, exactly (IS-M-3, IS-RK-3)
        prop_assert_eq!(
            l.successful_daily + l.payable - l.debt_carried,
            l.gross - l.quality_margin
        );
        confirmed.insert(l.fixmedins_code.clone(), l.confirmed);
        receivable.insert(l.fixmedins_code.clone(), -l.debt_carried);
    }
    led.post(
        "monthly",
        ledger::monthly_postings(&run),
        &Expectations {
            confirmed,
            receivable,
        },
    )
    .unwrap();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn is_rk_3_random_months_never_double_pay_and_daily_plus_monthly_is_exact(
        events in prop::collection::vec(event(), 0..60),
        suspend_days in prop::collection::vec((0usize..3, 0u8..31, 1u8..10), 0..3),
        fail_every in 0u8..5,
        carry_forward in any::<bool>(),
        margin_bp in 0u16..1000,
    ) {
        run_month(events, suspend_days, fail_every, carry_forward, margin_bp)?;
    }
}
