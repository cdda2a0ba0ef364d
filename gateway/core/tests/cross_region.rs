//! Cross-region settlement in the core: the insured place settles a fee-category summary
//! (§5.3 to the fen), and a visit of a person insured elsewhere goes summary → split →
//! settlement → reversal between two cores, each with its own state.

mod common;

use common::*;
use medsettle_canonical::{ClaimKind, FeeCategory, Money, Ratio};
use medsettle_core::calc::CategorySummaryLine;
use medsettle_core::txn::*;
use medsettle_core::{
    CoreAnswer, CoreOutcome, CoreRequest, CoreView, CrossStep, MemView, PeerSplit, PersonRegistry,
    Quantity, RefusalCode, RequestCtx, SummaryDraft, SummaryIn, UnitPrice,
};

fn item(cat: &str, amt: &str, a: &str, b: &str, own: &str) -> CategorySummaryLine {
    CategorySummaryLine {
        med_chrgitm: FeeCategory::parse(cat).unwrap(),
        amt: yuan(amt),
        claa_sumfee: yuan(a),
        clab_amt: yuan(b),
        fulamt_ownpay_amt: yuan(own),
        oth_amt: Money::ZERO,
    }
}

/// The §5.3 summary as the insured place receives it.
fn section_5_3(final_settlement: bool) -> SummaryIn {
    SummaryIn {
        final_settlement,
        fixmedins_code: "H99010000001".into(),
        mdtrt_id: "YD9901202405000007".into(),
        psn_no: "8800000042".into(),
        certno: Some("880101199001010000".into()),
        insutype: "310".into(),
        med_type: "21".into(),
        acct_used: true,
        medfee_sumamt: yuan("25600.00"),
        lines: vec![
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
        ],
    }
}

/// The insured place's context for a peer message: the treatment hospital and the peer's
/// message id.
fn peer_ctx(msgid: &str, seq: u64) -> RequestCtx {
    RequestCtx {
        msgid: msgid.into(),
        fixmedins_code: "peer:990100".into(),
        id_seed: 1000 + seq,
        ..ctx(seq)
    }
}

fn amounts(out: &CoreOutcome) -> &medsettle_canonical::SettlementAmounts {
    match &out.answer {
        CoreAnswer::Settlement { setlinfo, .. } => &setlinfo.amounts,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_insured_place_settles_section_5_3_to_the_fen() {
    let core = core();
    let mut view = view();
    // a pre-settlement computes the same split and changes nothing
    let pre = core
        .settle_summary(&section_5_3(false), &peer_ctx("X1", 1), &view)
        .unwrap();
    assert!(pre.changes.is_empty());
    let out = core
        .settle_summary(&section_5_3(true), &peer_ctx("X2", 2), &view)
        .unwrap();
    assert_eq!(amounts(&pre), amounts(&out));
    let a = amounts(&out);
    assert_eq!(a.fulamt_ownpay_amt, yuan("950.00"));
    assert_eq!(a.preselfpay_amt, yuan("775.00"));
    assert_eq!(a.inscp_scp_amt, yuan("23875.00"));
    assert_eq!(a.act_pay_dedc, yuan("1200.00"));
    assert_eq!(a.hifp_pay, yuan("18140.00"));
    assert_eq!(a.pool_prop_selfpay, Some(Ratio::parse("0.80").unwrap()));
    assert_eq!(a.hifob_pay, Money::ZERO);
    assert_eq!(a.fund_pay_sumamt, yuan("18140.00"));
    assert_eq!(a.psn_part_amt, yuan("7460.00"));
    assert_eq!(a.acct_pay, Money::ZERO);
    assert_eq!(a.psn_cash_pay, yuan("7460.00"));
    view.apply(&out.changes);
    let acc = view.accumulator("8800000042", 2024).unwrap();
    assert_eq!(acc.hifp_paid, yuan("18140.00"));
    assert_eq!(acc.admissions, 1);

    // the same message id again is refused: the receiver's idempotency is the caller's
    // (journal) job; the core never settles a message twice
    let again = core
        .settle_summary(&section_5_3(true), &peer_ctx("X2", 3), &view)
        .unwrap_err();
    assert_eq!(again.refusal_code(), Some(RefusalCode::MsgidReused));

    // a second admission this year pays a smaller deductible: the accumulators are the
    // insured place's and they moved
    let second = core
        .settle_summary(&section_5_3(true), &peer_ctx("X3", 4), &view)
        .unwrap();
    assert!(amounts(&second).act_pay_dedc < yuan("1200.00"));

    // the reversal restores the accumulator exactly
    let rev = core
        .reverse_summary("X2", "8800000042", &peer_ctx("R2", 5), &view)
        .unwrap();
    view.apply(&rev.changes);
    let claim = rev.claim.unwrap();
    assert_eq!(claim.kind, ClaimKind::Reversal);
    assert_eq!(claim.amounts.fund_pay_sumamt, yuan("-18140.00"));
    assert_eq!(
        view.accumulator("8800000042", 2024).unwrap().hifp_paid,
        Money::ZERO
    );
}

#[test]
fn a_sealed_summary_can_never_settle() {
    let core = core();
    let mut view = view();
    let sealed = core
        .reverse_summary("X9", "8800000042", &peer_ctx("S9", 1), &view)
        .unwrap();
    assert!(matches!(sealed.answer, CoreAnswer::NothingToReverse { .. }));
    view.apply(&sealed.changes);
    let late = core
        .settle_summary(&section_5_3(true), &peer_ctx("X9", 2), &view)
        .unwrap_err();
    assert_eq!(late.refusal_code(), Some(RefusalCode::MsgidReversed));
}

#[test]
fn a_summary_that_does_not_add_up_or_names_another_person_is_refused() {
    let core = core();
    let view = view();
    let mut s = section_5_3(true);
    s.medfee_sumamt = yuan("25600.01");
    assert!(core.settle_summary(&s, &peer_ctx("X1", 1), &view).is_err());
    let mut s = section_5_3(true);
    s.lines[0].claa_sumfee = yuan("1199.99");
    let e = core
        .settle_summary(&s, &peer_ctx("X1", 1), &view)
        .unwrap_err();
    assert!(e.to_string().contains("iteminfo[0].amt"), "{e}");
    let mut s = section_5_3(true);
    s.certno = Some("990101198001010011".into());
    let e = core
        .settle_summary(&s, &peer_ctx("X1", 1), &view)
        .unwrap_err();
    assert_eq!(e.refusal_code(), Some(RefusalCode::CertMismatch));
}

/// The place of treatment: no person registry at all.
fn treatment_view() -> MemView {
    MemView::with_registry(&PersonRegistry::from_toml_str("person = []").unwrap())
}

fn fee(mdtrt_id: &str, sn: &str, code: &str, cnt: &str, pric: &str) -> FeeDetailIn {
    FeeDetailIn {
        feedetl_sn: sn.into(),
        init_feedetl_sn: None,
        mdtrt_id: mdtrt_id.into(),
        psn_no: "8800000042".into(),
        chrg_bchno: Some("B1".into()),
        fee_ocur_time: None,
        med_list_codg: code.into(),
        medins_list_codg: code.into(),
        det_item_fee_sumamt: None,
        cnt: Quantity::parse(cnt).unwrap(),
        pric: UnitPrice::parse(pric).unwrap(),
    }
}

fn to_summary_in(d: &SummaryDraft) -> SummaryIn {
    SummaryIn {
        final_settlement: d.final_settlement,
        fixmedins_code: d.fixmedins_code.clone(),
        mdtrt_id: d.mdtrt_id.clone(),
        psn_no: d.psn_no.clone(),
        certno: d.certno.clone(),
        insutype: d.insutype.clone(),
        med_type: d.med_type.clone(),
        acct_used: d.acct_used,
        medfee_sumamt: d.totals.medfee_sumamt,
        lines: d.lines.clone(),
    }
}

#[test]
fn a_visit_insured_elsewhere_is_summarised_split_there_and_settled_here() {
    let here = core();
    let there = core();
    let mut view_here = treatment_view();
    let mut view_there = view();
    let insuplc = admdvs("880100");
    let mut seq = 0;
    let mut step = |view: &mut MemView, req: CoreRequest| {
        seq += 1;
        let s = here
            .handle_cross_region(req, &ctx(seq), insuplc, view)
            .expect("accepted");
        match s {
            CrossStep::Done(out) => {
                view.apply(&out.changes);
                CrossStep::Done(out)
            }
            other => other,
        }
    };
    // 1101 is the insured place's
    assert_eq!(
        here.handle_cross_region(
            CoreRequest::PersonInfo(Req1101 {
                mdtrt_cert_type: "02".into(),
                mdtrt_cert_no: "880101199001010000".into(),
                psn_cert_type: None,
                certno: None,
                psn_name: None,
            }),
            &ctx(99),
            insuplc,
            &view_here,
        )
        .unwrap_err()
        .refusal_code(),
        Some(RefusalCode::CrossRegion)
    );
    let CrossStep::Done(admitted) = step(
        &mut view_here,
        CoreRequest::Admit(Req2401 {
            psn_no: "8800000042".into(),
            insutype: "310".into(),
            begntime: "2024-05-10 09:00:00".into(),
            mdtrt_cert_type: "02".into(),
            mdtrt_cert_no: "880101199001010000".into(),
            med_type: "21".into(),
            ipt_no: "ZY1".into(),
            adm_dept_codg: None,
            adm_dept_name: None,
        }),
    ) else {
        panic!("admitted here")
    };
    let CoreAnswer::Visit { mdtrt_id, .. } = admitted.answer else {
        panic!()
    };
    // 甲 bed days above this place's cap (60): the 40 over the cap is own-pay in the summary
    step(
        &mut view_here,
        CoreRequest::InpatientFees(vec![
            fee(&mdtrt_id, "1", "XA0101", "10", "100.00"),
            fee(&mdtrt_id, "2", "XB0001", "20", "50.00"),
            fee(&mdtrt_id, "3", "XZ0001", "1", "150.00"),
            fee(&mdtrt_id, "4", "XA0201", "1", "240.00"),
        ]),
    );
    let settle = SettleReq {
        psn_no: "8800000042".into(),
        mdtrt_id: mdtrt_id.clone(),
        mdtrt_cert_type: Some("02".into()),
        mdtrt_cert_no: Some("880101199001010000".into()),
        acct_used_flag: true,
        ..SettleReq::default()
    };
    let CrossStep::Summary(draft) = step(&mut view_here, CoreRequest::InpatientSettle(settle))
    else {
        panic!("a settlement of a remote visit asks the insured place")
    };
    assert_eq!(draft.totals.medfee_sumamt, yuan("2390.00"));
    assert_eq!(draft.certno.as_deref(), Some("880101199001010000"));
    let bed = draft
        .lines
        .iter()
        .find(|l| l.med_chrgitm.code() == "01")
        .unwrap();
    assert_eq!(
        (bed.amt, bed.claa_sumfee, bed.fulamt_ownpay_amt),
        (yuan("1000.00"), yuan("600.00"), yuan("400.00"))
    );
    let drugs = draft
        .lines
        .iter()
        .find(|l| l.med_chrgitm.code() == "09")
        .unwrap();
    assert_eq!(drugs.clab_amt, yuan("1000.00"));
    let total: Money = draft.lines.iter().map(|l| l.amt).sum();
    assert_eq!(total, draft.totals.medfee_sumamt);

    // the insured place splits it under its own policy
    let peer_ctx = peer_ctx("XS1", 1);
    let split_out = there
        .settle_summary(&to_summary_in(&draft), &peer_ctx, &view_there)
        .unwrap();
    view_there.apply(&split_out.changes);
    let peer_claim = split_out.claim.clone().unwrap();
    let split = PeerSplit {
        setl_id: peer_claim.setl_id.clone(),
        msgid: "XS1".into(),
        psn_name: peer_claim.psn_name.clone(),
        psn_type: peer_claim.psn_type.clone(),
        clr_optins: peer_claim.clr_optins.clone(),
        amounts: peer_claim.amounts.clone(),
        setldetail: peer_claim.setldetail.clone(),
    };
    let settled = here
        .finish_cross_region(&draft, &split, &ctx(50), &view_here)
        .unwrap();
    view_here.apply(&settled.changes);
    let claim = settled.claim.unwrap();
    assert_eq!(
        claim.amounts, peer_claim.amounts,
        "the HIS gets the insured place's split"
    );
    assert_eq!(claim.insuplc_admdvs, Some(insuplc));
    let record = view_here.settlement(&claim.setl_id).unwrap();
    assert_eq!(record.peer.as_ref().unwrap().setl_id, peer_claim.setl_id);
    assert!(
        view_here
            .fee_lines(&mdtrt_id)
            .iter()
            .all(|l| l.setl_id.as_deref() == Some(claim.setl_id.as_str()))
    );
    // no accumulator here: they are the insured place's
    assert!(view_here.accumulator("8800000042", 2024).is_none());

    // 2305 becomes a reversal at the insured place first
    let CrossStep::Reversal(rev) = step(
        &mut view_here,
        CoreRequest::InpatientSettleCancel(ReqCancelSettlement {
            setl_id: claim.setl_id.clone(),
            mdtrt_id: mdtrt_id.clone(),
            psn_no: "8800000042".into(),
        }),
    ) else {
        panic!("a reversal of a peer's settlement asks the peer")
    };
    let there_rev = there
        .reverse_summary(
            &rev.peer.msgid,
            "8800000042",
            &peer_ctx_for("XR1", 2),
            &view_there,
        )
        .unwrap();
    view_there.apply(&there_rev.changes);
    let reversed = here
        .finish_cross_region_reversal(
            &rev,
            "XR1",
            &there_rev.claim.as_ref().unwrap().setl_id,
            &ctx(60),
            &view_here,
        )
        .unwrap();
    view_here.apply(&reversed.changes);
    assert_eq!(
        reversed.claim.unwrap().amounts.fund_pay_sumamt,
        -claim.amounts.fund_pay_sumamt
    );
    assert!(
        view_here
            .fee_lines(&mdtrt_id)
            .iter()
            .all(|l| l.setl_id.is_none())
    );
    assert_eq!(
        view_there
            .accumulator("8800000042", 2024)
            .unwrap()
            .hifp_paid,
        Money::ZERO
    );
}

fn peer_ctx_for(msgid: &str, seq: u64) -> RequestCtx {
    peer_ctx(msgid, seq)
}

#[test]
fn a_remote_visit_cannot_be_settled_as_a_local_one() {
    let here = core();
    let mut view = treatment_view();
    let step = here
        .handle_cross_region(
            CoreRequest::Register(Req2201 {
                psn_no: "8800000042".into(),
                insutype: "310".into(),
                begntime: "2024-05-20 09:00:00".into(),
                mdtrt_cert_type: "02".into(),
                mdtrt_cert_no: "880101199001010000".into(),
                ipt_otp_no: "MZ1".into(),
                atddr_no: None,
                dr_name: None,
                dept_code: None,
                dept_name: None,
                caty: None,
            }),
            &ctx(1),
            admdvs("880100"),
            &view,
        )
        .unwrap();
    let CrossStep::Done(out) = step else { panic!() };
    view.apply(&out.changes);
    let CoreAnswer::Visit { mdtrt_id, .. } = out.answer else {
        panic!()
    };
    let e = here
        .handle(
            CoreRequest::OutpatientSettle(SettleReq {
                psn_no: "8800000042".into(),
                mdtrt_id,
                med_type: Some("11".into()),
                ..SettleReq::default()
            }),
            &ctx(2),
            &view,
        )
        .unwrap_err();
    assert_eq!(e.refusal_code(), Some(RefusalCode::CrossRegion));
}
