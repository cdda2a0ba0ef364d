//! Daily disbursement (IS-D) through the public API.

mod common;

use common::*;
use medsettle_canonical::{EnrolmentStatus, Money, Ratio, Receipt, ReceiptStatus};
use medsettle_settlement::daily::{CarryOrigin, Suspension};
use medsettle_settlement::{Calendar, DailyAggregator, FeedOutcome, YearMonth};
use time::macros::date;

const A: &str = "H64010000001";
const B: &str = "H64010000002";

fn receipt(id: &str, status: ReceiptStatus) -> Receipt {
    Receipt {
        payment_id: id.into(),
        batch_id: None,
        status,
        amount: None,
        bank_reference: None,
        value_date: None,
        reason: None,
    }
}

#[test]
fn is_d_1_settlement_date_is_china_time() {
    let p = policy("");
    let insts = three_institutions();
    let mut agg = DailyAggregator::new();
    let mut c = simple("S1", A, date!(2025 - 10 - 09), 1000);
    // 2025-10-09 17:30 UTC is 2025-10-10 01:30 in China
    c.setl_time = time::macros::datetime!(2025-10-09 17:30 UTC);
    agg.feed(&c, &p, &insts);
    assert_eq!(agg.pending()[0].settlement_date, date!(2025 - 10 - 10));
}

#[test]
fn is_d_2_daily_amount_rounds_half_up_per_claim_then_sums() {
    let p = policy("");
    let insts = three_institutions();
    let cal = Calendar::embedded();
    let mut agg = DailyAggregator::new();
    // 10.01 × 0.60 = 6.006 → 6.01 per claim; two claims → 12.02 (not round(12.012) = 12.01)
    for id in ["S1", "S2"] {
        assert_eq!(
            agg.feed(&simple(id, A, date!(2025 - 10 - 09), 1001), &p, &insts),
            FeedOutcome::Accepted {
                daily_amount: Money::from_fen(601)
            }
        );
    }
    let run = agg.close(date!(2025 - 10 - 10), &p, &cal, &insts).unwrap();
    assert_eq!(run.lines[0].pay_amount, Money::from_fen(1202));
}

#[test]
fn is_d_2_institution_ratio_beats_class_ratio_beats_default() {
    let p = policy(
        "[daily.class_ratios]\nhospital = \"0.50\"\n[daily.institution_ratios]\nH64010000001 = \"0.70\"\n",
    );
    let insts = three_institutions();
    assert_eq!(p.daily_ratio_for(&insts[A]), Ratio::from_bp(7000));
    assert_eq!(p.daily_ratio_for(&insts[B]), Ratio::from_bp(5000));
    let mut pharmacy = insts[B].clone();
    pharmacy.class = "pharmacy".into();
    assert_eq!(p.daily_ratio_for(&pharmacy), Ratio::from_bp(6000));
}

#[test]
fn is_sc_2_only_in_scope_fund_lines_count() {
    let p = policy("");
    let insts = three_institutions();
    let mut agg = DailyAggregator::new();
    // 310100 100.00 + 330100 50.00 in scope; 310200 account, 999996 hospital, 390200 (not by default) out
    let c = claim(
        "S1",
        A,
        date!(2025 - 10 - 09),
        &[
            ("310100", 10_000),
            ("330100", 5_000),
            ("310200", 7_000),
            ("999996", 300),
            ("390200", 900),
        ],
    );
    agg.feed(&c, &p, &insts);
    assert_eq!(agg.pending()[0].fund_amount, Money::from_fen(15_000));
    assert_eq!(agg.pending()[0].daily_amount, Money::from_fen(9_000));
}

#[test]
fn is_sc_3_and_is_sc_5_scope_filters_claims() {
    let p = policy("[scope]\nclr_types = [\"21\"]\ninstitution_levels = [\"3\"]\n");
    let insts = three_institutions();
    let mut agg = DailyAggregator::new();
    let mut outpatient = simple("S1", A, date!(2025 - 10 - 09), 100);
    outpatient.clr_type = Some("11".into());
    assert!(
        matches!(agg.feed(&outpatient, &p, &insts), FeedOutcome::OutOfScope { rule, .. } if rule == "IS-SC-3")
    );
    assert!(
        matches!(agg.feed(&simple("S2", B, date!(2025 - 10 - 09), 100), &p, &insts), FeedOutcome::OutOfScope { rule, .. } if rule == "IS-SC-3")
    );
    let mut cross = simple("S3", A, date!(2025 - 10 - 09), 100);
    cross.insuplc_admdvs = Some("110100".parse().unwrap());
    assert!(
        matches!(agg.feed(&cross, &p, &insts), FeedOutcome::OutOfScope { rule, .. } if rule == "IS-SC-5")
    );
    let p2 = policy("[scope]\ninclude_cross_region = true\n");
    assert!(matches!(
        agg.feed(&cross, &p2, &insts),
        FeedOutcome::Accepted { .. }
    ));
    assert!(
        matches!(agg.feed(&simple("S4", "H99999999999", date!(2025 - 10 - 09), 100), &p, &insts), FeedOutcome::OutOfScope { rule, .. } if rule == "IS-SC-4")
    );
}

#[test]
fn is_d_2_redelivered_claim_has_no_effect_and_state_round_trips_through_json() {
    let p = policy("");
    let insts = three_institutions();
    let mut agg = DailyAggregator::new();
    let c = simple("S1", A, date!(2025 - 10 - 09), 1000);
    agg.feed(&c, &p, &insts);
    let before = agg.clone();
    assert_eq!(agg.feed(&c, &p, &insts), FeedOutcome::Duplicate);
    assert_eq!(agg, before);
    // the reversal has its own key, and nets to exactly zero
    let r = reverse(&c, "S1R", date!(2025 - 10 - 09));
    agg.feed(&r, &p, &insts);
    assert_eq!(agg.feed(&r, &p, &insts), FeedOutcome::Duplicate);
    let json = serde_json::to_string(&agg).unwrap();
    let back: DailyAggregator = serde_json::from_str(&json).unwrap();
    assert_eq!(back, agg);
    let run = back
        .close(date!(2025 - 10 - 10), &p, &Calendar::embedded(), &insts)
        .unwrap();
    assert_eq!(run.lines[0].net, Money::ZERO);
    assert_eq!(run.lines[0].payment_id, None);
    assert!(run.lines[0].components.is_empty());
}

#[test]
fn is_d_4_holiday_settlement_dates_accumulate_onto_the_next_working_day() {
    let p = policy("");
    let insts = three_institutions();
    let cal = Calendar::embedded();
    let mut agg = DailyAggregator::new();
    let mut d = date!(2025 - 09 - 30);
    let mut n = 0;
    while d <= date!(2025 - 10 - 09) {
        agg.feed(&simple(&format!("S{n}"), A, d, 1000), &p, &insts);
        n += 1;
        d = d.next_day().unwrap();
    }
    assert!(
        agg.close(date!(2025 - 10 - 05), &p, &cal, &insts)
            .unwrap_err()
            .to_string()
            .contains("IS-D-4")
    );
    // 09-30 pays on 10-09 (holiday week), as do 10-01 … 10-08; 10-09 itself pays 10-10.
    let run = agg.close(date!(2025 - 10 - 09), &p, &cal, &insts).unwrap();
    assert_eq!(run.summary.settlement_dates.len(), 9);
    assert_eq!(run.summary.settlement_dates[0], date!(2025 - 09 - 30));
    assert_eq!(run.lines[0].pay_amount, Money::from_fen(9 * 600));
    assert_eq!(
        run.lines[0].payment_id.as_deref(),
        Some("D20251009H6401000000100")
    );
    assert_eq!(run.run_id, "D6401002025100900");
    agg.commit(&run).unwrap();
    assert_eq!(agg.pending().len(), 1);
    assert_eq!(agg.pending()[0].settlement_date, date!(2025 - 10 - 09));
}

#[test]
fn is_d_3_negative_net_carries_forward() {
    let p = policy("");
    let insts = three_institutions();
    let cal = Calendar::embedded();
    let mut agg = DailyAggregator::new();
    let c1 = simple("S1", A, date!(2025 - 10 - 13), 10_000); // 60.00
    agg.feed(&c1, &p, &insts);
    let r1 = agg.close(date!(2025 - 10 - 14), &p, &cal, &insts).unwrap();
    agg.commit(&r1).unwrap();
    // 10-14: only the reversal → net −60.00, nothing paid, carried
    agg.feed(&reverse(&c1, "S1R", date!(2025 - 10 - 14)), &p, &insts);
    let r2 = agg.close(date!(2025 - 10 - 15), &p, &cal, &insts).unwrap();
    assert_eq!(r2.lines[0].pay_amount, Money::ZERO);
    assert_eq!(r2.lines[0].carried_out, Money::from_fen(-6_000));
    assert_eq!(r2.summary.pay_total, Money::ZERO);
    agg.commit(&r2).unwrap();
    assert!(matches!(
        agg.carried()[0].origin,
        CarryOrigin::NegativeNet { .. }
    ));
    // 10-15: 200.00 × 0.6 = 120.00 − 60.00 = 60.00
    agg.feed(&simple("S2", A, date!(2025 - 10 - 15), 20_000), &p, &insts);
    let r3 = agg.close(date!(2025 - 10 - 16), &p, &cal, &insts).unwrap();
    assert_eq!(r3.lines[0].offset_in, Money::from_fen(-6_000));
    assert_eq!(r3.lines[0].pay_amount, Money::from_fen(6_000));
    agg.commit(&r3).unwrap();
    assert!(agg.carried().is_empty());
}

#[test]
fn is_sc_4_suspended_institution_is_skipped_with_the_reason() {
    let p = policy("");
    let mut insts = three_institutions();
    let cal = Calendar::embedded();
    let mut agg = DailyAggregator::new();
    agg.feed(&simple("S1", A, date!(2025 - 10 - 13), 10_000), &p, &insts);
    agg.feed(&simple("S2", B, date!(2025 - 10 - 13), 10_000), &p, &insts);
    insts.get_mut(B).unwrap().status = EnrolmentStatus::Suspended;
    let run = agg.close(date!(2025 - 10 - 14), &p, &cal, &insts).unwrap();
    assert_eq!(run.lines.len(), 1);
    assert_eq!(run.skipped.len(), 1);
    assert_eq!(run.skipped[0].fixmedins_code, B);
    assert_eq!(run.skipped[0].rule, "IS-SC-4");
    assert!(run.skipped[0].reason.contains("suspended"));
    assert_eq!(run.summary.skipped_total, Money::from_fen(6_000));
    let batch = run
        .to_payment_batch(&insts, debtor(), at(date!(2025 - 10 - 14), 9))
        .unwrap();
    assert!(batch.payments.iter().all(|x| x.payee_code != B));
    assert!(run.detail_csv().contains("skipped [IS-SC-4]"));
}

#[test]
fn is_rk_2_operator_suspension_skips_until_resumed_and_round_trips_through_json() {
    let p = policy("");
    let insts = three_institutions();
    let cal = Calendar::embedded();
    let mut agg = DailyAggregator::new();
    let old_json = serde_json::to_value(&agg).unwrap();
    agg.feed(&simple("S1", A, date!(2025 - 10 - 13), 10_000), &p, &insts);
    agg.feed(&simple("S2", B, date!(2025 - 10 - 13), 10_000), &p, &insts);
    let s = Suspension {
        fixmedins_code: A.into(),
        reason: "审计发现异常 fraud suspicion".into(),
        by: "ops-wang".into(),
        since: at(date!(2025 - 10 - 13), 17),
    };
    assert!(agg.suspend(s.clone()));
    // idempotent: a second suspension changes nothing, the first one's reason is kept
    let mut other = s.clone();
    other.reason = "another reason".into();
    assert!(!agg.suspend(other));
    assert_eq!(agg.suspension(A), Some(&s));
    assert_eq!(agg.suspensions().collect::<Vec<_>>(), vec![&s]);

    // survives the serde round trip the engine persists through
    let back: DailyAggregator =
        serde_json::from_str(&serde_json::to_string(&agg).unwrap()).unwrap();
    assert_eq!(back, agg);
    // state written before suspensions existed still loads (no field → none)
    let mut old = old_json.as_object().unwrap().clone();
    old.remove("operator_suspended").unwrap();
    let old: DailyAggregator = serde_json::from_value(old.into()).unwrap();
    assert_eq!(old.suspensions().count(), 0);

    let r1 = agg.close(date!(2025 - 10 - 14), &p, &cal, &insts).unwrap();
    assert_eq!(r1.lines.len(), 1);
    assert_eq!(r1.lines[0].fixmedins_code, B);
    assert_eq!(r1.skipped.len(), 1);
    let sk = &r1.skipped[0];
    assert_eq!(
        (sk.fixmedins_code.as_str(), sk.rule.as_str()),
        (A, "IS-RK-2")
    );
    assert_eq!(
        sk.reason,
        "suspended by operator ops-wang since 2025-10-13T17:00:00+08:00: 审计发现异常 fraud suspicion"
    );
    assert_eq!(sk.claims_total, Money::from_fen(6_000));
    assert!(
        r1.detail_csv()
            .contains("skipped [IS-RK-2] suspended by operator ops-wang")
    );
    let batch = r1
        .to_payment_batch(&insts, debtor(), at(date!(2025 - 10 - 14), 9))
        .unwrap();
    assert!(batch.payments.iter().all(|x| x.payee_code != A));
    agg.commit(&r1).unwrap();
    // the skipped claims are consumed (the month pays them), nothing accrued for A
    assert!(agg.pending().is_empty());
    let month = YearMonth::parse("2025-10").unwrap();
    assert_eq!(agg.month_figures(A, month).unwrap().accrued, Money::ZERO);

    // resumed: the next close pays A's new claims; the withheld one stays with the month
    assert_eq!(agg.resume(A), Some(s));
    assert_eq!(agg.resume(A), None);
    agg.feed(&simple("S3", A, date!(2025 - 10 - 14), 20_000), &p, &insts);
    let r2 = agg.close(date!(2025 - 10 - 15), &p, &cal, &insts).unwrap();
    assert!(r2.skipped.is_empty());
    assert_eq!(r2.lines.len(), 1);
    assert_eq!(r2.lines[0].fixmedins_code, A);
    assert_eq!(r2.lines[0].pay_amount, Money::from_fen(12_000));
}

fn one_failed_payment(
    policy_text: &str,
) -> (
    DailyAggregator,
    medsettle_settlement::SettlementPolicy,
    medsettle_settlement::DailyRun,
) {
    let p = policy(policy_text);
    let insts = three_institutions();
    let cal = Calendar::embedded();
    let mut agg = DailyAggregator::new();
    agg.feed(&simple("S1", A, date!(2025 - 10 - 13), 10_000), &p, &insts);
    let r1 = agg.close(date!(2025 - 10 - 14), &p, &cal, &insts).unwrap();
    agg.commit(&r1).unwrap();
    let o = agg
        .apply_receipt(
            &receipt("D20251014H6401000000100", ReceiptStatus::Failed),
            &p,
        )
        .unwrap();
    assert_eq!(o.status, ReceiptStatus::Failed);
    agg.feed(&simple("S2", A, date!(2025 - 10 - 14), 5_000), &p, &insts);
    let r2 = agg.close(date!(2025 - 10 - 15), &p, &cal, &insts).unwrap();
    (agg, p, r2)
}

#[test]
fn is_d_6_no_retry_failed_payment_is_not_paid_again() {
    let (mut agg, p, r2) = one_failed_payment("");
    assert_eq!(r2.lines[0].pay_amount, Money::from_fen(3_000));
    assert_eq!(r2.lines[0].replaces_payment_id, None);
    agg.commit(&r2).unwrap();
    agg.apply_receipt(&receipt("D20251015H6401000000100", ReceiptStatus::Paid), &p)
        .unwrap();
    // the monthly settlement sees only the successful 30.00
    let f = agg
        .month_figures(A, YearMonth::parse("2025-10").unwrap())
        .unwrap();
    assert_eq!(f.successful, Money::from_fen(3_000));
    assert_eq!(f.accrued, Money::from_fen(9_000));
}

#[test]
fn is_d_6_carry_forward_adds_failed_payment_to_the_next_one() {
    let (_, _, r2) = one_failed_payment("[daily]\nfailed_payment = \"carry_forward\"\n");
    assert_eq!(r2.lines[0].failed_in, Money::from_fen(6_000));
    assert_eq!(r2.lines[0].pay_amount, Money::from_fen(9_000));
    assert_eq!(
        r2.lines[0].replaces_payment_id.as_deref(),
        Some("D20251014H6401000000100")
    );
}

#[test]
fn is_d_7_receipts_apply_once_and_only_forward() {
    let p = policy("");
    let insts = three_institutions();
    let mut agg = DailyAggregator::new();
    agg.feed(&simple("S1", A, date!(2025 - 10 - 13), 10_000), &p, &insts);
    let r = agg
        .close(date!(2025 - 10 - 14), &p, &Calendar::embedded(), &insts)
        .unwrap();
    agg.commit(&r).unwrap();
    let id = "D20251014H6401000000100";
    // without a final receipt the month cannot be settled
    assert_eq!(
        agg.month_figures(A, YearMonth::parse("2025-10").unwrap())
            .unwrap_err()
            .rule(),
        "IS-D-7"
    );
    assert_eq!(
        agg.apply_receipt(&receipt("D20251014X", ReceiptStatus::Paid), &p)
            .unwrap_err()
            .rule(),
        "IS-D-7"
    );
    let mut wrong = receipt(id, ReceiptStatus::Paid);
    wrong.amount = Some(Money::from_fen(1));
    assert!(
        agg.apply_receipt(&wrong, &p)
            .unwrap_err()
            .to_string()
            .contains("says 0.01")
    );
    assert!(
        !agg.apply_receipt(&receipt(id, ReceiptStatus::Paid), &p)
            .unwrap()
            .duplicate
    );
    assert!(
        agg.apply_receipt(&receipt(id, ReceiptStatus::Paid), &p)
            .unwrap()
            .duplicate
    );
    assert!(
        agg.apply_receipt(&receipt(id, ReceiptStatus::Failed), &p)
            .is_err()
    );
    assert_eq!(
        agg.month_figures(A, YearMonth::parse("2025-10").unwrap())
            .unwrap()
            .successful,
        Money::from_fen(6_000)
    );
}

#[test]
fn is_d_5_batch_before_cutoff_is_deterministic_and_after_cutoff_refused() {
    let p = policy("");
    let insts = three_institutions();
    let mut agg = DailyAggregator::new();
    agg.feed(&simple("S1", A, date!(2025 - 10 - 13), 10_000), &p, &insts);
    agg.feed(&simple("S2", B, date!(2025 - 10 - 13), 333), &p, &insts);
    let run = agg
        .close(date!(2025 - 10 - 14), &p, &Calendar::embedded(), &insts)
        .unwrap();
    let late = run.to_payment_batch(&insts, debtor(), at(date!(2025 - 10 - 14), 16));
    assert_eq!(late.unwrap_err().rule(), "IS-D-5");
    let b1 = run
        .to_payment_batch(&insts, debtor(), at(date!(2025 - 10 - 14), 14))
        .unwrap();
    let again = agg
        .close(date!(2025 - 10 - 14), &p, &Calendar::embedded(), &insts)
        .unwrap();
    let b2 = again
        .to_payment_batch(&insts, debtor(), at(date!(2025 - 10 - 14), 14))
        .unwrap();
    assert_eq!(b1, b2);
    assert_eq!(b1.batch_id, "D6401002025101400");
    assert_eq!(b1.created_at, "2025-10-14T14:00:00+08:00");
    assert_eq!(b1.control_sum(), Money::from_fen(6_000 + 200));
    assert_eq!(b1.payments[1].payment_id, "D20251014H6401000000200");
    let s = run.summary_csv();
    assert!(s.starts_with("run_id,pool_admdvs,pay_date,settlement_dates,"));
    assert!(s.contains(",2025-10-14 15:00\n"));
    let d = run.detail_csv();
    assert!(d.starts_with("fixmedins_code,fixmedins_name,payment_id,setl_id,kind,"));
    assert!(d.contains("S2,settlement,2025-10-13,3.33,0.6000,2.00,2.00,"));
}

#[test]
fn is_rk_3_commit_is_idempotent_and_refuses_a_stale_run() {
    let p = policy("[daily]\nfailed_payment = \"carry_forward\"\n");
    let insts = three_institutions();
    let cal = Calendar::embedded();
    let mut agg = DailyAggregator::new();
    agg.feed(&simple("S1", A, date!(2025 - 10 - 13), 10_000), &p, &insts);
    let r = agg.close(date!(2025 - 10 - 14), &p, &cal, &insts).unwrap();
    assert!(agg.commit(&r).unwrap());
    assert!(!agg.commit(&r).unwrap());
    agg.feed(&simple("S2", A, date!(2025 - 10 - 14), 10_000), &p, &insts);
    let stale = agg.close(date!(2025 - 10 - 15), &p, &cal, &insts).unwrap();
    agg.apply_receipt(
        &receipt("D20251014H6401000000100", ReceiptStatus::Failed),
        &p,
    )
    .unwrap();
    assert_eq!(agg.commit(&stale).unwrap_err().rule(), "IS-RK-3");
    // a second close of the same pay date (late claims) gets the next sequence numbers
    let fresh = agg.close(date!(2025 - 10 - 15), &p, &cal, &insts).unwrap();
    agg.commit(&fresh).unwrap();
    agg.feed(&simple("S3", A, date!(2025 - 10 - 14), 10_000), &p, &insts);
    let extra = agg.close(date!(2025 - 10 - 15), &p, &cal, &insts).unwrap();
    assert_eq!(extra.run_id, "D6401002025101501");
    assert_eq!(
        extra.lines[0].payment_id.as_deref(),
        Some("D20251015H6401000000101")
    );
}
