//! `legacy-and-cross-region.md` §5.2 and §5.3 reproduced to the fen with the shipped example
//! policy (`specs/policy/example.toml`), through the calculator and through the processor.

mod common;

use common::*;
use medsettle_canonical::{
    ClaimKind, FeeCategory, IdentityPolicy, InstitutionLevel, Money, Ratio, RegionRelation,
    check_identities,
};
use medsettle_core::calc::{CategorySummaryLine, FeeTotals, SplitInput, compute_split};
use medsettle_core::error::WARN_ACCOUNT_NOT_USABLE;
use medsettle_core::txn::*;
use medsettle_core::{Accumulator, CoreAnswer, CoreRequest, Quantity, UnitPrice};
use time::macros::date;

fn lines(split: &[medsettle_canonical::FundLine]) -> Vec<(String, Money)> {
    split
        .iter()
        .map(|l| (l.fund_pay_type.clone(), l.fund_payamt))
        .collect()
}

#[test]
fn section_5_2_guizhou_inpatient_split_through_the_calculator() {
    let book = policy();
    let scheme = book
        .find(&admdvs("990100"), "310", date!(2024 - 05 - 20))
        .unwrap();
    let totals = FeeTotals {
        medfee_sumamt: yuan("12345.67"),
        fulamt_ownpay_amt: yuan("345.67"),
        overlmt_selfpay: Money::ZERO,
        preselfpay_amt: yuan("500.00"),
        inscp_scp_amt: yuan("11500.00"),
    };
    let split = compute_split(
        &SplitInput {
            scheme,
            med_type: "21",
            inst_level: InstitutionLevel::Level3,
            psn_type: "1101",
            cvlserv_flag: false,
            relation: RegionRelation::Local,
            acct_used: true,
            balance: Some(yuan("1234.56")),
        },
        &totals,
        &Accumulator::zero("9900000001", 2024),
    )
    .unwrap();
    let a = &split.amounts;
    assert_eq!(a.act_pay_dedc, yuan("800.00"));
    assert_eq!(a.hifp_pay, yuan("9095.00")); // 85 % × (11500 − 800)
    assert_eq!(a.pool_prop_selfpay, Some(Ratio::parse("0.85").unwrap()));
    assert_eq!(a.hifob_pay, Money::ZERO);
    assert_eq!(a.cvlserv_pay, Money::ZERO);
    assert_eq!(a.fund_pay_sumamt, yuan("9095.00"));
    assert_eq!(a.psn_part_amt, yuan("3250.67"));
    assert_eq!(a.acct_pay, yuan("1000.00"));
    assert_eq!(a.psn_cash_pay, yuan("2250.67"));
    assert_eq!(a.balc, Some(yuan("234.56")));
    assert_eq!(
        lines(&split.setldetail),
        vec![
            ("310100".to_owned(), yuan("9095.00")),
            ("310200".to_owned(), yuan("1000.00"))
        ]
    );
    assert_eq!(split.delta.admissions, 1);
    assert_eq!(split.delta.dedc_used, yuan("800.00"));
}

#[test]
fn section_5_2_through_the_processor_with_fee_detail() {
    let core = core();
    let mut view = view();
    let mut seq = 0;
    let mut run = |view: &mut medsettle_core::MemView, req: CoreRequest| {
        seq += 1;
        let out = core.handle(req, &ctx(seq), view).expect("accepted");
        view.apply(&out.changes);
        out
    };
    let admitted = run(
        &mut view,
        CoreRequest::Admit(Req2401 {
            psn_no: "9900000001".into(),
            insutype: "310".into(),
            begntime: "2024-05-10 09:00:00".into(),
            mdtrt_cert_type: "02".into(),
            mdtrt_cert_no: "990101198001010011".into(),
            med_type: "21".into(),
            ipt_no: "ZY9901202405000001".into(),
            adm_dept_codg: None,
            adm_dept_name: None,
        }),
    );
    let CoreAnswer::Visit { mdtrt_id, .. } = admitted.answer else {
        panic!("2401 answers a visit")
    };
    let line = |sn: &str, code: &str, cnt: &str, pric: &str| FeeDetailIn {
        feedetl_sn: sn.into(),
        init_feedetl_sn: None,
        mdtrt_id: mdtrt_id.clone(),
        psn_no: "9900000001".into(),
        chrg_bchno: None,
        fee_ocur_time: None,
        med_list_codg: code.into(),
        medins_list_codg: format!("H-{code}"),
        det_item_fee_sumamt: None,
        cnt: Quantity::parse(cnt).unwrap(),
        pric: UnitPrice::parse(pric).unwrap(),
    };
    // 甲类 9500 + 乙类 2500 (20 % pre-self-pay = 500) + 自费 345.67 = 12345.67
    let uploaded = run(
        &mut view,
        CoreRequest::InpatientFees(vec![
            line("1", "XA0001", "95", "100.00"),
            line("2", "XB0001", "25", "100"),
            line("3", "XZ0001", "1.0000", "345.670000"),
        ]),
    );
    assert!(uploaded.warnings.is_empty());
    let settle = SettleReq {
        psn_no: "9900000001".into(),
        mdtrt_id: mdtrt_id.clone(),
        acct_used_flag: true,
        medfee_sumamt: Some(yuan("12345.67")),
        fulamt_ownpay_amt: Some(yuan("345.67")),
        overlmt_selfpay: Some(Money::ZERO),
        preselfpay_amt: Some(yuan("500.00")),
        inscp_scp_amt: Some(yuan("11500.00")),
        ..SettleReq::default()
    };
    let out = run(&mut view, CoreRequest::InpatientSettle(settle));
    let claim = out.claim.expect("2304 yields a claim");
    assert_eq!(claim.kind, ClaimKind::Settlement);
    assert!(
        check_identities(&claim, &IdentityPolicy::default())
            .errors
            .is_empty()
    );
    let CoreAnswer::Settlement { setlinfo, .. } = out.answer else {
        panic!("settlement answer")
    };
    assert_eq!(setlinfo.amounts.hifp_pay, yuan("9095.00"));
    assert_eq!(setlinfo.amounts.acct_pay, yuan("1000.00"));
    assert_eq!(setlinfo.amounts.psn_cash_pay, yuan("2250.67"));
    assert_eq!(setlinfo.amounts.balc, Some(yuan("234.56")));
    assert_eq!(
        setlinfo.medins_setl_id.as_deref(),
        Some(ctx(3).msgid.as_str())
    );
    assert_eq!(setlinfo.setl_id.as_deref(), Some(claim.setl_id.as_str()));
    assert_eq!(setlinfo.clr_type.as_deref(), Some("21"));
    assert_eq!(view.balances["9900000001"], yuan("234.56"));
    let acc = &view.accumulators[&("9900000001".to_owned(), 2024)];
    assert_eq!(acc.hifp_paid, yuan("9095.00"));
    assert_eq!(acc.admissions, 1);
}

#[test]
fn section_5_3_cross_province_summary_split() {
    let book = policy();
    let scheme = book
        .find(&admdvs("880100"), "310", date!(2024 - 05 - 20))
        .unwrap();
    let item = |cat: &str, amt: &str, a: &str, b: &str, own: &str| CategorySummaryLine {
        med_chrgitm: FeeCategory::parse(cat).unwrap(),
        amt: yuan(amt),
        claa_sumfee: yuan(a),
        clab_amt: yuan(b),
        fulamt_ownpay_amt: yuan(own),
        oth_amt: Money::ZERO,
    };
    let items = [
        item("01", "1200.00", "1200.00", "0.00", "0.00"),
        item("02", "240.00", "240.00", "0.00", "0.00"),
        item("03", "3600.00", "2600.00", "1000.00", "0.00"),
        item("04", "1800.00", "1800.00", "0.00", "0.00"),
        item("05", "2100.00", "1500.00", "600.00", "0.00"),
        item("06", "5000.00", "5000.00", "0.00", "0.00"),
        item("07", "560.00", "560.00", "0.00", "0.00"),
        item("08", "4300.00", "1000.00", "2800.00", "500.00"),
        item("09", "6200.00", "3000.00", "2900.00", "300.00"),
        item("11", "450.00", "0.00", "450.00", "0.00"),
        item("14", "150.00", "0.00", "0.00", "150.00"),
    ];
    let totals = FeeTotals::from_summary(&items, scheme.preselfpay_prop_default).unwrap();
    assert_eq!(totals.medfee_sumamt, yuan("25600.00"));
    assert_eq!(totals.fulamt_ownpay_amt, yuan("950.00"));
    assert_eq!(totals.preselfpay_amt, yuan("775.00")); // 10 % × 7750
    assert_eq!(totals.inscp_scp_amt, yuan("23875.00"));
    let treatment = admdvs("990100");
    let split = compute_split(
        &SplitInput {
            scheme,
            med_type: "21",
            inst_level: InstitutionLevel::Level3,
            psn_type: "1101",
            cvlserv_flag: false,
            relation: treatment.relation_to(&admdvs("880100")),
            acct_used: true, // asked for, but not usable across provinces
            balance: Some(yuan("500.00")),
        },
        &totals,
        &Accumulator::zero("8800000042", 2024),
    )
    .unwrap();
    let a = &split.amounts;
    assert_eq!(a.act_pay_dedc, yuan("1200.00"));
    assert_eq!(a.hifp_pay, yuan("18140.00")); // 80 % × 22675
    assert_eq!(a.pool_prop_selfpay, Some(Ratio::parse("0.80").unwrap()));
    assert_eq!(a.hifob_pay, Money::ZERO);
    assert_eq!(a.fund_pay_sumamt, yuan("18140.00"));
    assert_eq!(a.psn_part_amt, yuan("7460.00")); // 950 + 775 + 1200 + 4535
    assert_eq!(a.acct_pay, Money::ZERO);
    assert_eq!(a.psn_cash_pay, yuan("7460.00"));
    assert_eq!(a.balc, Some(yuan("500.00")));
    assert_eq!(
        lines(&split.setldetail),
        vec![("310100".to_owned(), yuan("18140.00"))]
    );
    assert_eq!(split.warnings.len(), 1);
    assert_eq!(split.warnings[0].code, WARN_ACCOUNT_NOT_USABLE);
}

#[test]
fn second_admission_pays_half_the_deductible() {
    let book = policy();
    let scheme = book
        .find(&admdvs("880100"), "310", date!(2024 - 05 - 20))
        .unwrap();
    let totals = FeeTotals {
        medfee_sumamt: yuan("10000.00"),
        inscp_scp_amt: yuan("10000.00"),
        ..FeeTotals::default()
    };
    let mut acc = Accumulator::zero("8800000042", 2024);
    acc.admissions = 1;
    acc.dedc_used = yuan("1200.00");
    acc.inscp_ytd = yuan("5000.00");
    let split = compute_split(
        &SplitInput {
            scheme,
            med_type: "21",
            inst_level: InstitutionLevel::Level3,
            psn_type: "1101",
            cvlserv_flag: false,
            relation: RegionRelation::Local,
            acct_used: false,
            balance: None,
        },
        &totals,
        &acc,
    )
    .unwrap();
    assert_eq!(split.amounts.act_pay_dedc, yuan("600.00"));
    assert_eq!(split.amounts.hifp_pay, yuan("7520.00")); // 80 % × 9400
}
