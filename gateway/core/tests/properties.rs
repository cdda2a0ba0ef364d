//! Property tests of the split calculator and of settle → reverse through the processor.
//!
//! Stated properties:
//! 1. For any valid scheme, visit totals, accumulator and balance, the settled claim built from
//!    the split satisfies every identity of `check_identities`; no fund pays more than its
//!    remaining annual room; no share of the person's is negative; the account pays at most the
//!    balance and the balance after is the balance before minus it.
//! 2. Settling and then reversing (2207 → 2208) restores the accumulator, the account balance and
//!    the fee lines exactly, from any starting accumulator.
//! 3. Combination: under a scheme with a yearly deductible and no civil-servant layer (whose
//!    share is rounded per visit), settling visits A then B from a state S gives exactly what
//!    settling one visit A+B from S gives: the same deductible consumed, the same pooled-fund
//!    and large-amount payments in total, and the same accumulator afterwards. S is any state a
//!    settlement from the start of the year can reach (S = start + one settlement).

mod common;

use medsettle_canonical::{
    Admdvs, ClaimKind, IdentityPolicy, InstitutionLevel, Money, Ratio, RegionRelation,
    SettledClaim, check_identities,
};
use medsettle_core::calc::{Accumulator, FeeTotals, SplitInput, compute_split};
use medsettle_core::policy::{
    AccountRule, Band, Benefit, CivilServantLayer, DeductibleBasis, DeductibleRow, LargeField,
    LargeLayer, OverlimitBearer, RatioRow, Scheme, Selector,
};
use medsettle_core::txn::*;
use medsettle_core::{Core, CoreRequest, PolicyBook, Quantity, UnitPrice};
use proptest::prelude::*;
use time::macros::{date, datetime};

fn fen(f: i64) -> Money {
    Money::from_fen(f)
}

fn ratio() -> impl Strategy<Value = Ratio> {
    prop_oneof![
        Just(Ratio::ZERO),
        Just(Ratio::ONE),
        (0i64..=10_000).prop_map(Ratio::from_bp)
    ]
}

fn bands() -> impl Strategy<Value = Vec<Band>> {
    (
        prop::collection::vec((1i64..8_000_000, ratio()), 0..5),
        ratio(),
    )
        .prop_map(|(steps, last)| {
            let mut upto = 0;
            let mut bands: Vec<Band> = steps
                .into_iter()
                .map(|(step, r)| {
                    upto += step;
                    Band {
                        upto: Some(fen(upto)),
                        ratio: r,
                    }
                })
                .collect();
            bands.push(Band {
                upto: None,
                ratio: last,
            });
            bands
        })
}

#[derive(Debug, Clone)]
struct Knobs {
    year_basis: bool,
    with_large: bool,
    with_cvl: bool,
}

fn scheme(knobs: Knobs) -> impl Strategy<Value = Scheme> {
    (
        bands(),
        0i64..400_000,                                // deductible
        0i64..30_000_000,                             // pool cap
        (0i64..3_000_000, ratio(), 0i64..30_000_000), // large: deductible, ratio, cap
        (ratio(), 0i64..2_000_000),                   // civil servant
        prop::option::of(0i64..200_000),              // account per-settlement cap
        any::<bool>(),                                // hospital bears over-limit
        ratio(),                                      // admission factor
    )
        .prop_map(
            move |(bands, dedc, cap, large, cvl, acct_cap, hosp, factor)| Scheme {
                name: "generated".into(),
                admdvs: Admdvs::parse("990100").unwrap(),
                insutype: "310".into(),
                valid_from: date!(2024 - 01 - 01),
                valid_to: None,
                pool_fund_pay_type: "310100".into(),
                pool_cap: fen(cap),
                preselfpay_prop_default: Ratio::from_bp(1000),
                overlimit_borne_by: if hosp {
                    OverlimitBearer::Hospital
                } else {
                    OverlimitBearer::Person
                },
                benefits: vec![Benefit {
                    med_types: vec![],
                    deductible_basis: if knobs.year_basis {
                        DeductibleBasis::Year
                    } else {
                        DeductibleBasis::Admission
                    },
                    deductibles: vec![DeductibleRow {
                        applies_to: Selector::default(),
                        amount: fen(dedc),
                    }],
                    admission_factors: if knobs.year_basis {
                        vec![]
                    } else {
                        vec![medsettle_core::policy::AdmissionFactor {
                            from_admission: 2,
                            ratio: factor,
                        }]
                    },
                    ratios: vec![RatioRow {
                        applies_to: Selector::default(),
                        bands,
                    }],
                }],
                large: knobs.with_large.then(|| LargeLayer {
                    fund_pay_type: "330100".into(),
                    pays_into: LargeField::HifobPay,
                    deductible: fen(large.0),
                    ratio: large.1,
                    cap: fen(large.2),
                }),
                civil_servant: knobs.with_cvl.then(|| CivilServantLayer {
                    fund_pay_type: "320100".into(),
                    ratio: cvl.0,
                    cap: fen(cvl.1),
                }),
                account: Some(AccountRule {
                    fund_pay_type: "310200".into(),
                    psn_types: vec![],
                    med_types: vec![],
                    same_province: true,
                    cross_province: false,
                    per_settlement_cap: acct_cap.map(fen),
                }),
            },
        )
}

fn any_scheme() -> impl Strategy<Value = Scheme> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_flat_map(|(y, l, c)| {
        scheme(Knobs {
            year_basis: y,
            with_large: l,
            with_cvl: c,
        })
    })
}

fn totals() -> impl Strategy<Value = FeeTotals> {
    (
        0i64..2_000_000,
        0i64..500_000,
        0i64..1_000_000,
        0i64..20_000_000,
    )
        .prop_map(|(own, over, pre, inscp)| FeeTotals {
            medfee_sumamt: fen(own + over + pre + inscp),
            fulamt_ownpay_amt: fen(own),
            overlmt_selfpay: fen(over),
            preselfpay_amt: fen(pre),
            inscp_scp_amt: fen(inscp),
        })
}

/// Any accumulator with the deductible consumed not above the in-scope amount.
fn accumulator() -> impl Strategy<Value = Accumulator> {
    (
        0i64..50_000_000,
        0i64..500_000,
        0i64..40_000_000,
        0i64..10_000_000,
        0i64..4_000_000,
        0i64..40_000_000,
        0i64..3_000_000,
        0u32..5,
    )
        .prop_map(
            |(inscp, dedc, hifp, over, ldedc, lpaid, cvl, adm)| Accumulator {
                psn_no: "P".into(),
                year: 2024,
                dedc_used: fen(dedc.min(inscp)),
                inscp_ytd: fen(inscp),
                hifp_paid: fen(hifp),
                overcap_ytd: fen(over),
                large_dedc_used: fen(ldedc.min(over)),
                large_paid: fen(lpaid),
                cvlserv_paid: fen(cvl),
                admissions: adm,
            },
        )
}

fn input<'a>(scheme: &'a Scheme, balance: Option<Money>, cvl: bool) -> SplitInput<'a> {
    SplitInput {
        scheme,
        med_type: "11",
        inst_level: InstitutionLevel::Level2,
        psn_type: "1101",
        cvlserv_flag: cvl,
        relation: RegionRelation::Local,
        acct_used: true,
        balance,
    }
}

fn claim_of(split: &medsettle_core::Split) -> SettledClaim {
    SettledClaim {
        kind: ClaimKind::Settlement,
        infno: "2207".into(),
        msgid: "M".into(),
        setl_id: "S".into(),
        mdtrt_id: "V".into(),
        psn_no: "P".into(),
        psn_name: None,
        fixmedins_code: "H".into(),
        fixmedins_name: None,
        mdtrtarea_admvs: Admdvs::parse("990100").unwrap(),
        insuplc_admdvs: None,
        clr_optins: None,
        insutype: "310".into(),
        psn_type: None,
        med_type: "11".into(),
        clr_type: None,
        clr_way: None,
        setl_time: datetime!(2024-05-20 10:30:00 +08:00),
        amounts: split.amounts.clone(),
        setldetail: split.setldetail.clone(),
        reversal_of: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn identities_caps_and_signs_hold(
        scheme in any_scheme(),
        t in totals(),
        acc in accumulator(),
        balance in prop::option::of(0i64..5_000_000),
        cvl in any::<bool>(),
    ) {
        let balance = balance.map(fen);
        let split = compute_split(&input(&scheme, balance, cvl), &t, &acc).unwrap();
        let a = &split.amounts;
        let report = check_identities(&claim_of(&split), &IdentityPolicy::default());
        prop_assert!(report.errors.is_empty(), "{:?}", report.errors);
        prop_assert!(a.hifp_pay <= (scheme.pool_cap - acc.hifp_paid).max(Money::ZERO));
        if let Some(l) = &scheme.large {
            prop_assert!(a.hifob_pay <= (l.cap - acc.large_paid).max(Money::ZERO));
        }
        if let Some(c) = &scheme.civil_servant {
            prop_assert!(a.cvlserv_pay <= (c.cap - acc.cvlserv_paid).max(Money::ZERO));
        }
        for v in [a.act_pay_dedc, a.hifp_pay, a.hifob_pay, a.cvlserv_pay, a.psn_part_amt, a.acct_pay, a.psn_cash_pay, a.hosp_part_amt] {
            prop_assert!(!v.is_negative());
        }
        prop_assert!(a.fund_pay_sumamt <= a.inscp_scp_amt);
        if let Some(b) = balance {
            prop_assert!(a.acct_pay <= b);
            prop_assert_eq!(a.balc, Some(b - a.acct_pay));
        } else {
            prop_assert_eq!(a.acct_pay, Money::ZERO);
        }
        // the delta is what the accumulator gains, and it can be taken back exactly
        let after = acc.plus(&split.delta);
        prop_assert_eq!(after.minus(&split.delta).unwrap(), acc);
    }

    #[test]
    fn two_visits_equal_their_combination_under_a_yearly_deductible(
        scheme in (any::<bool>()).prop_flat_map(|l| scheme(Knobs { year_basis: true, with_large: l, with_cvl: false })),
        t0 in totals(), ta in totals(), tb in totals(),
    ) {
        let start = Accumulator::zero("P", 2024);
        let run = |t: &FeeTotals, acc: &Accumulator| compute_split(&input(&scheme, None, false), t, acc).unwrap();
        let s = start.plus(&run(&t0, &start).delta);
        let a = run(&ta, &s);
        let after_a = s.plus(&a.delta);
        let b = run(&tb, &after_a);
        let both = FeeTotals {
            medfee_sumamt: ta.medfee_sumamt + tb.medfee_sumamt,
            fulamt_ownpay_amt: ta.fulamt_ownpay_amt + tb.fulamt_ownpay_amt,
            overlmt_selfpay: ta.overlmt_selfpay + tb.overlmt_selfpay,
            preselfpay_amt: ta.preselfpay_amt + tb.preselfpay_amt,
            inscp_scp_amt: ta.inscp_scp_amt + tb.inscp_scp_amt,
        };
        let c = run(&both, &s);
        prop_assert_eq!(a.amounts.act_pay_dedc + b.amounts.act_pay_dedc, c.amounts.act_pay_dedc);
        prop_assert_eq!(a.amounts.hifp_pay + b.amounts.hifp_pay, c.amounts.hifp_pay);
        prop_assert_eq!(a.amounts.hifob_pay + b.amounts.hifob_pay, c.amounts.hifob_pay);
        prop_assert_eq!(a.amounts.fund_pay_sumamt + b.amounts.fund_pay_sumamt, c.amounts.fund_pay_sumamt);
        prop_assert_eq!(after_a.plus(&b.delta), s.plus(&c.delta));
    }

    #[test]
    fn settle_then_reverse_restores_state_exactly(
        scheme in any_scheme(),
        lines in prop::collection::vec((0usize..4, 1i64..50, 1i64..5_000_000), 1..8),
        acc in accumulator(),
        balance in 0i64..5_000_000,
    ) {
        let codes = ["XA0001", "XB0001", "XB0002", "XZ0001"];
        let core = Core::new(PolicyBook::new(vec![scheme]).unwrap(), common::catalogue());
        let mut view = common::view();
        let psn = "9900000001";
        view.balances.insert(psn.into(), fen(balance));
        view.accumulators.insert((psn.into(), 2024), Accumulator { psn_no: psn.into(), ..acc });
        let mut seq = 0;
        let mut run = |view: &mut medsettle_core::MemView, req: CoreRequest| {
            seq += 1;
            let out = core.handle(req, &common::ctx(seq), view).unwrap();
            view.apply(&out.changes);
            out
        };
        let out = run(&mut view, CoreRequest::Register(Req2201 {
            psn_no: psn.into(), insutype: "310".into(), begntime: String::new(), mdtrt_cert_type: "02".into(),
            mdtrt_cert_no: String::new(), ipt_otp_no: "1".into(), atddr_no: None, dr_name: None, dept_code: None,
            dept_name: None, caty: None,
        }));
        let medsettle_core::CoreAnswer::Visit { mdtrt_id, .. } = out.answer else { panic!() };
        // whole counts and prices in whole fen keep every product exact in fen
        let feedetail = lines.iter().enumerate().map(|(i, (c, cnt, pric))| FeeDetailIn {
            feedetl_sn: i.to_string(), init_feedetl_sn: None, mdtrt_id: mdtrt_id.clone(), psn_no: psn.into(),
            chrg_bchno: None, fee_ocur_time: None, med_list_codg: codes[*c].into(), medins_list_codg: String::new(),
            det_item_fee_sumamt: None, cnt: Quantity::from_units(cnt * 10_000), pric: UnitPrice::from_units(pric * 10_000),
        }).collect();
        run(&mut view, CoreRequest::OutpatientFees(feedetail));
        let before = view.clone();
        let settled = run(&mut view, CoreRequest::OutpatientSettle(SettleReq {
            psn_no: psn.into(), mdtrt_id: mdtrt_id.clone(), med_type: Some("11".into()), acct_used_flag: true,
            ..SettleReq::default()
        }));
        let claim = settled.claim.unwrap();
        prop_assert!(check_identities(&claim, &IdentityPolicy::default()).errors.is_empty());
        let reversed = run(&mut view, CoreRequest::OutpatientSettleCancel(ReqCancelSettlement {
            setl_id: claim.setl_id.clone(), mdtrt_id: mdtrt_id.clone(), psn_no: psn.into(),
        }));
        prop_assert!(check_identities(&reversed.claim.unwrap(), &IdentityPolicy::default()).errors.is_empty());
        prop_assert_eq!(&view.accumulators, &before.accumulators);
        prop_assert_eq!(&view.balances, &before.balances);
        prop_assert_eq!(&view.fee_lines, &before.fee_lines);
    }
}
