//! The transaction processor end to end over `MemView`: what each transaction answers, what it
//! changes, and what it refuses (changing nothing).

mod common;

use common::*;
use medsettle_canonical::{ClaimKind, IdentityPolicy, Money, check_identities, check_reversal_of};
use medsettle_core::error::WARN_UNKNOWN_LIST_CODE;
use medsettle_core::txn::*;
use medsettle_core::{
    Core, CoreAnswer, CoreOutcome, CoreRefusal, CoreRequest, CoreView, MemView, Quantity,
    RefusalCode, StateChange, UnitPrice,
};

struct Flow {
    core: Core,
    view: MemView,
    seq: u64,
}

impl Flow {
    fn new() -> Flow {
        Flow {
            core: core(),
            view: view(),
            seq: 0,
        }
    }

    fn try_run(&mut self, req: CoreRequest) -> Result<CoreOutcome, CoreRefusal> {
        self.seq += 1;
        let out = self.core.handle(req, &ctx(self.seq), &self.view)?;
        self.view.apply(&out.changes);
        Ok(out)
    }

    fn run(&mut self, req: CoreRequest) -> CoreOutcome {
        self.try_run(req).expect("accepted")
    }

    /// Refused, and the state is exactly as before.
    fn refused(&mut self, req: CoreRequest) -> CoreRefusal {
        let before = self.view.clone();
        let e = self.try_run(req).expect_err("must be refused");
        assert_eq!(self.view, before, "a refusal changed state");
        e
    }

    fn register(&mut self, psn_no: &str) -> String {
        // the person's own ID number: a foreign one is refused (CORE-CERT-MISMATCH)
        let certno = self
            .view
            .person(psn_no)
            .map(|p| p.certno)
            .unwrap_or_default();
        let out = self.run(CoreRequest::Register(Req2201 {
            psn_no: psn_no.into(),
            insutype: "310".into(),
            begntime: "2024-05-20 09:00:00".into(),
            mdtrt_cert_type: "02".into(),
            mdtrt_cert_no: certno,
            ipt_otp_no: format!("MZ{}", self.seq),
            atddr_no: None,
            dr_name: None,
            dept_code: None,
            dept_name: None,
            caty: None,
        }));
        match out.answer {
            CoreAnswer::Visit { mdtrt_id, .. } => mdtrt_id,
            other => panic!("{other:?}"),
        }
    }

    fn fees(
        &mut self,
        mdtrt_id: &str,
        psn_no: &str,
        lines: &[(&str, &str, &str, &str)],
    ) -> CoreOutcome {
        self.run(CoreRequest::OutpatientFees(
            lines
                .iter()
                .map(|(sn, code, cnt, pric)| fee(mdtrt_id, psn_no, sn, code, cnt, pric))
                .collect(),
        ))
    }
}

fn fee(mdtrt_id: &str, psn_no: &str, sn: &str, code: &str, cnt: &str, pric: &str) -> FeeDetailIn {
    FeeDetailIn {
        feedetl_sn: sn.into(),
        init_feedetl_sn: None,
        mdtrt_id: mdtrt_id.into(),
        psn_no: psn_no.into(),
        chrg_bchno: Some("B1".into()),
        fee_ocur_time: None,
        med_list_codg: code.into(),
        medins_list_codg: code.into(),
        det_item_fee_sumamt: None,
        cnt: Quantity::parse(cnt).unwrap(),
        pric: UnitPrice::parse(pric).unwrap(),
    }
}

fn settle_req(mdtrt_id: &str, psn_no: &str) -> SettleReq {
    SettleReq {
        psn_no: psn_no.into(),
        mdtrt_id: mdtrt_id.into(),
        med_type: Some("11".into()),
        acct_used_flag: true,
        ..SettleReq::default()
    }
}

fn setlinfo(out: &CoreOutcome) -> &SetlInfo {
    match &out.answer {
        CoreAnswer::Settlement { setlinfo, .. } => setlinfo,
        other => panic!("{other:?}"),
    }
}

const P: &str = "9900000001";

#[test]
fn person_info_sign_in_and_out() {
    let mut f = Flow::new();
    let out = f.run(CoreRequest::PersonInfo(Req1101 {
        mdtrt_cert_type: "02".into(),
        mdtrt_cert_no: "990101198001010011".into(),
        psn_cert_type: None,
        certno: None,
        psn_name: Some("张三".into()),
    }));
    let CoreAnswer::PersonInfo { baseinfo, insuinfo } = out.answer else {
        panic!()
    };
    assert_eq!(baseinfo.psn_no, P);
    assert_eq!(baseinfo.age, 44);
    assert_eq!(insuinfo[0].balc, Some(yuan("1234.56")));
    assert_eq!(insuinfo[0].insuplc_admdvs, "990100");
    assert!(out.changes.is_empty());
    let e = f.refused(CoreRequest::PersonInfo(Req1101 {
        mdtrt_cert_type: "03".into(),
        mdtrt_cert_no: "CARD".into(),
        psn_cert_type: None,
        certno: None,
        psn_name: None,
    }));
    assert_eq!(e.refusal_code(), Some(RefusalCode::PersonUnknown));

    let out = f.run(CoreRequest::SignIn(Req9001 {
        opter_no: "0001".into(),
        mac: String::new(),
        ip: String::new(),
    }));
    let CoreAnswer::SignIn { sign_no, sign_time } = out.answer else {
        panic!()
    };
    assert_eq!(sign_no.len(), 30);
    assert_eq!(sign_time, "2024-05-20 10:30:00");
    f.run(CoreRequest::SignOut(Req9002 {
        sign_no: sign_no.clone(),
        opter_no: "0001".into(),
    }));
    let e = f.refused(CoreRequest::SignOut(Req9002 {
        sign_no,
        opter_no: "0001".into(),
    }));
    assert_eq!(e.refusal_code(), Some(RefusalCode::SigninUnknown));
}

#[test]
fn outpatient_presettle_settle_reverse_and_refusals() {
    let mut f = Flow::new();
    let visit = f.register(P);
    let up = f.fees(
        &visit,
        P,
        &[
            ("1", "XA0201", "1", "50"),
            ("2", "XB0001", "2", "25.50"),
            ("3", "NOPE", "1", "10"),
        ],
    );
    assert_eq!(up.warnings.len(), 1);
    assert_eq!(up.warnings[0].code, WARN_UNKNOWN_LIST_CODE);
    let CoreAnswer::FeeResults { result } = &up.answer else {
        panic!()
    };
    assert_eq!(result[1].split.preselfpay_amt, yuan("10.20")); // 51.00 × 20 %
    assert_eq!(result[2].split.fulamt_ownpay_amt, yuan("10.00"));

    // duplicate feedetl_sn
    let e = f.refused(CoreRequest::OutpatientFees(vec![fee(
        &visit, P, "1", "XA0201", "1", "1",
    )]));
    assert_eq!(e.refusal_code(), Some(RefusalCode::FeeDuplicate));
    // inexact line amount: 0.3333 × 1.00
    let e = f.refused(CoreRequest::OutpatientFees(vec![fee(
        &visit, P, "9", "XA0201", "0.3333", "1",
    )]));
    assert_eq!(e.code(), "NHSA-ID-8");

    // pre-settlement changes nothing and has no setl_id
    let pre = f.run(CoreRequest::OutpatientPreSettle(settle_req(&visit, P)));
    assert!(pre.changes.is_empty() && pre.claim.is_none());
    let pre_info = setlinfo(&pre).clone();
    assert_eq!(pre_info.setl_id, None);
    assert_eq!(pre_info.amounts.medfee_sumamt, yuan("111.00"));

    // totals that disagree with the detail are refused
    let mut wrong = settle_req(&visit, P);
    wrong.medfee_sumamt = Some(yuan("111.01"));
    let e = f.refused(CoreRequest::OutpatientSettle(wrong));
    assert_eq!(e.refusal_code(), Some(RefusalCode::TotalsMismatch));
    assert_eq!(e.path(), "input.data.medfee_sumamt");

    let acc_before = f.view.accumulators.clone();
    let balance_before = f.view.balances[P];
    let settled = f.run(CoreRequest::OutpatientSettle(settle_req(&visit, P)));
    let claim = settled.claim.clone().unwrap();
    let info = setlinfo(&settled).clone();
    assert_eq!(
        info.amounts, pre_info.amounts,
        "settlement = pre-settlement"
    );
    assert_eq!(
        info.medins_setl_id.as_deref(),
        Some(ctx(f.seq).msgid.as_str())
    );
    // year deductible 1000 not reached: everything in scope is the person's
    assert_eq!(info.amounts.act_pay_dedc, info.amounts.inscp_scp_amt);
    assert_eq!(info.amounts.acct_pay, yuan("111.00"));
    assert_eq!(f.view.balances[P], balance_before - yuan("111.00"));
    assert!(
        f.view
            .fee_lines
            .values()
            .all(|l| l.setl_id.as_deref() == Some(claim.setl_id.as_str()))
    );

    // settled lines cannot be cancelled; nothing left to settle
    let e = f.refused(CoreRequest::OutpatientFeesCancel(Req2205 {
        mdtrt_id: visit.clone(),
        chrg_bchno: "B1".into(),
        psn_no: P.into(),
    }));
    assert_eq!(e.refusal_code(), Some(RefusalCode::FeeSettled));
    let e = f.refused(CoreRequest::OutpatientSettle(settle_req(&visit, P)));
    assert_eq!(e.refusal_code(), Some(RefusalCode::NoFeeDetail));
    let e = f.refused(CoreRequest::CancelRegistration(Req2202 {
        psn_no: P.into(),
        mdtrt_id: visit.clone(),
        ipt_otp_no: String::new(),
    }));
    assert_eq!(e.refusal_code(), Some(RefusalCode::VisitSettled));
    // the inpatient transaction cannot reverse an outpatient settlement
    let cancel = ReqCancelSettlement {
        setl_id: claim.setl_id.clone(),
        mdtrt_id: visit.clone(),
        psn_no: P.into(),
    };
    let e = f.refused(CoreRequest::InpatientSettleCancel(cancel.clone()));
    assert_eq!(e.refusal_code(), Some(RefusalCode::ReversalMismatch));

    let reversed = f.run(CoreRequest::OutpatientSettleCancel(cancel.clone()));
    let rev = reversed.claim.clone().unwrap();
    assert_eq!(rev.kind, ClaimKind::Reversal);
    assert_ne!(rev.setl_id, claim.setl_id);
    assert!(
        check_identities(&rev, &IdentityPolicy::default())
            .errors
            .is_empty()
    );
    assert!(check_reversal_of(&claim, &rev).is_empty());
    assert_eq!(setlinfo(&reversed).amounts.medfee_sumamt, yuan("-111.00"));
    assert_eq!(rev.amounts.balc, Some(balance_before));
    assert_eq!(f.view.balances[P], balance_before);
    // accumulators are back exactly (the year's record exists now, with zeros)
    let acc = &f.view.accumulators[&(P.to_owned(), 2024)];
    assert_eq!(
        acc_before
            .get(&(P.to_owned(), 2024))
            .cloned()
            .unwrap_or_else(|| medsettle_core::Accumulator::zero(P, 2024)),
        *acc
    );
    assert!(f.view.fee_lines.values().all(|l| l.setl_id.is_none()));

    // twice, or the reversal itself, or an unknown id
    let e = f.refused(CoreRequest::OutpatientSettleCancel(cancel.clone()));
    assert_eq!(e.refusal_code(), Some(RefusalCode::ReversalAlready));
    let e = f.refused(CoreRequest::OutpatientSettleCancel(ReqCancelSettlement {
        setl_id: rev.setl_id.clone(),
        ..cancel.clone()
    }));
    assert_eq!(e.refusal_code(), Some(RefusalCode::ReversalOfReversal));
    let e = f.refused(CoreRequest::OutpatientSettleCancel(ReqCancelSettlement {
        setl_id: "nope".into(),
        ..cancel
    }));
    assert_eq!(e.refusal_code(), Some(RefusalCode::ReversalUnknown));

    // the lines can be settled again, and cancelled once unsettled
    f.run(CoreRequest::OutpatientSettle(settle_req(&visit, P)));
}

#[test]
fn reversal_by_msgid_2601() {
    let mut f = Flow::new();
    let visit = f.register(P);
    f.fees(&visit, P, &[("1", "XA0001", "30", "100")]);
    let settled = f.run(CoreRequest::OutpatientSettle(settle_req(&visit, P)));
    let settle_msgid = ctx(f.seq).msgid;
    let setl_id = settled.claim.unwrap().setl_id;

    // a msgid that produced nothing: the caller learns there was nothing to reverse
    let out = f.run(CoreRequest::Reverse(Req2601 {
        psn_no: P.into(),
        omsgid: "H990100000012024NEVERSENT".into(),
        oinfno: "2207".into(),
    }));
    assert!(matches!(out.answer, CoreAnswer::NothingToReverse { .. }));
    assert!(out.claim.is_none());
    assert!(
        matches!(out.changes.as_slice(), [StateChange::PutTombstone(t)] if t.msgid == "H990100000012024NEVERSENT"),
        "only a tombstone: {:?}",
        out.changes
    );

    let e = f.refused(CoreRequest::Reverse(Req2601 {
        psn_no: P.into(),
        omsgid: settle_msgid.clone(),
        oinfno: "2401".into(),
    }));
    assert_eq!(e.refusal_code(), Some(RefusalCode::ReversalUnsupported));
    let e = f.refused(CoreRequest::Reverse(Req2601 {
        psn_no: "8800000042".into(),
        omsgid: settle_msgid.clone(),
        oinfno: "2207".into(),
    }));
    assert_eq!(e.refusal_code(), Some(RefusalCode::ReversalMismatch));

    let out = f.run(CoreRequest::Reverse(Req2601 {
        psn_no: P.into(),
        omsgid: settle_msgid.clone(),
        oinfno: "2207".into(),
    }));
    let rev = out.claim.unwrap();
    assert_eq!(rev.infno, "2601");
    assert_eq!(
        rev.reversal_of.unwrap().setl_id.as_deref(),
        Some(setl_id.as_str())
    );
    let reversal_msgid = ctx(f.seq).msgid;
    assert_eq!(f.view.balances[P], yuan("1234.56"));

    // again: already reversed; reversing the reversal's msgid: refused
    let e = f.refused(CoreRequest::Reverse(Req2601 {
        psn_no: P.into(),
        omsgid: settle_msgid,
        oinfno: "2207".into(),
    }));
    assert_eq!(e.refusal_code(), Some(RefusalCode::ReversalAlready));
    let e = f.refused(CoreRequest::Reverse(Req2601 {
        psn_no: P.into(),
        omsgid: reversal_msgid,
        oinfno: "2208".into(),
    }));
    assert_eq!(e.refusal_code(), Some(RefusalCode::ReversalOfReversal));
}

/// Issue 15: a 2601 that outruns its original. It answers "nothing to reverse" and leaves a
/// tombstone under the original's msgid; the late 2207 is then refused (changing nothing)
/// instead of settling behind the back of a HIS that believes it was reversed.
#[test]
fn a_reversal_that_outruns_its_original_closes_the_msgid() {
    let mut f = Flow::new();
    let visit = f.register(P);
    f.fees(&visit, P, &[("1", "XA0001", "30", "100")]);
    // The 2207 the HIS sent (and timed out on) will use this msgid; it has not arrived yet.
    let late = ctx(1000);
    let out = f.run(CoreRequest::Reverse(Req2601 {
        psn_no: P.into(),
        omsgid: late.msgid.clone(),
        oinfno: "2207".into(),
    }));
    let reversal_msgid = ctx(f.seq).msgid;
    assert!(
        matches!(&out.answer, CoreAnswer::NothingToReverse { omsgid, .. } if *omsgid == late.msgid)
    );
    let key = (late.fixmedins_code.clone(), late.msgid.clone());
    let tombstone = f.view.tombstones.get(&key).expect("a tombstone").clone();
    assert_eq!(tombstone.reversed_by_msgid, reversal_msgid);
    assert_eq!(
        (tombstone.oinfno.as_str(), tombstone.psn_no.as_str()),
        ("2207", P)
    );

    // A second 2601 of the same original (another msgid) answers the same, keeps the tombstone.
    let again = f.run(CoreRequest::Reverse(Req2601 {
        psn_no: P.into(),
        omsgid: late.msgid.clone(),
        oinfno: "2207".into(),
    }));
    assert!(matches!(again.answer, CoreAnswer::NothingToReverse { .. }));
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(f.view.tombstones[&key], tombstone);

    // The original arrives late: refused, nothing settled, state unchanged.
    let before = f.view.clone();
    let e = f
        .core
        .handle(
            CoreRequest::OutpatientSettle(settle_req(&visit, P)),
            &late,
            &f.view,
        )
        .unwrap_err();
    assert_eq!(e.refusal_code(), Some(RefusalCode::MsgidReversed));
    assert_eq!(e.path(), "msgid");
    assert!(e.to_string().contains(&reversal_msgid), "{e}");
    assert_eq!(f.view, before);
    // Any transaction under that msgid, not only the settlement.
    let e = f
        .core
        .handle(
            CoreRequest::OutpatientPreSettle(settle_req(&visit, P)),
            &late,
            &f.view,
        )
        .unwrap_err();
    assert_eq!(e.refusal_code(), Some(RefusalCode::MsgidReversed));
    // The tombstone is per institution: another institution's msgid is its own.
    let elsewhere = medsettle_core::RequestCtx {
        fixmedins_code: "H99010000002".into(),
        ..late.clone()
    };
    let other = f.core.handle(
        CoreRequest::OutpatientPreSettle(settle_req(&visit, P)),
        &elsewhere,
        &f.view,
    );
    assert_ne!(
        other.err().and_then(|e| e.refusal_code()),
        Some(RefusalCode::MsgidReversed)
    );

    // The visit itself is untouched: settling it under a new msgid works.
    let settled = f.run(CoreRequest::OutpatientSettle(settle_req(&visit, P)));
    assert!(settled.claim.is_some());
}

#[test]
fn a_used_msgid_cannot_settle_twice() {
    let mut f = Flow::new();
    let visit = f.register(P);
    f.fees(&visit, P, &[("1", "XA0001", "1", "10")]);
    f.run(CoreRequest::OutpatientSettle(settle_req(&visit, P)));
    let used = ctx(f.seq);
    f.fees(&visit, P, &[("2", "XA0001", "1", "10")]);
    let before = f.view.clone();
    let e = f
        .core
        .handle(
            CoreRequest::OutpatientSettle(settle_req(&visit, P)),
            &used,
            &f.view,
        )
        .unwrap_err();
    assert_eq!(e.refusal_code(), Some(RefusalCode::MsgidReused));
    assert_eq!(f.view, before);
}

#[test]
fn visits_of_others_and_cancelled_visits_are_refused() {
    let mut f = Flow::new();
    let visit = f.register(P);
    let e = f.refused(CoreRequest::OutpatientFees(vec![fee(
        &visit,
        "9900000004",
        "1",
        "XA0001",
        "1",
        "1",
    )]));
    assert_eq!(e.refusal_code(), Some(RefusalCode::VisitMismatch));
    let e = f.refused(CoreRequest::InpatientFees(vec![fee(
        &visit, P, "1", "XA0001", "1", "1",
    )]));
    assert_eq!(e.refusal_code(), Some(RefusalCode::VisitMismatch));
    f.fees(&visit, P, &[("1", "XA0001", "1", "10")]);
    f.run(CoreRequest::CancelRegistration(Req2202 {
        psn_no: P.into(),
        mdtrt_id: visit.clone(),
        ipt_otp_no: String::new(),
    }));
    assert!(
        f.view.fee_lines.is_empty(),
        "cancelling the visit removes its unsettled detail"
    );
    let e = f.refused(CoreRequest::OutpatientFees(vec![fee(
        &visit, P, "2", "XA0001", "1", "1",
    )]));
    assert_eq!(e.refusal_code(), Some(RefusalCode::VisitClosed));
    let e = f.refused(CoreRequest::Register(Req2201 {
        psn_no: P.into(),
        insutype: "390".into(),
        begntime: String::new(),
        mdtrt_cert_type: "02".into(),
        mdtrt_cert_no: String::new(),
        ipt_otp_no: "x".into(),
        atddr_no: None,
        dr_name: None,
        dept_code: None,
        dept_name: None,
        caty: None,
    }));
    assert_eq!(e.refusal_code(), Some(RefusalCode::InsutypeMismatch));
}

#[test]
fn inpatient_cancel_settle_and_hospital_borne_overlimit() {
    let mut f = Flow::new();
    // a resident: no account, hospital bears the part above price caps (example policy)
    let psn = "9900000003";
    let out = f.run(CoreRequest::Admit(Req2401 {
        psn_no: psn.into(),
        insutype: "390".into(),
        begntime: "2024-05-01 08:00:00".into(),
        mdtrt_cert_type: "02".into(),
        mdtrt_cert_no: String::new(),
        med_type: "21".into(),
        ipt_no: "ZY1".into(),
        adm_dept_codg: None,
        adm_dept_name: None,
    }));
    let CoreAnswer::Visit { mdtrt_id, .. } = out.answer else {
        panic!()
    };
    f.run(CoreRequest::InpatientFees(vec![
        fee(&mdtrt_id, psn, "1", "XA0101", "10", "80"), // bed 80/day, capped at 60: 200 over
        fee(&mdtrt_id, psn, "2", "XB0002", "3", "150"), // material 150, capped at 100: 150 over
        fee(&mdtrt_id, psn, "3", "XA0001", "1", "20000"),
        fee(&mdtrt_id, psn, "4", "XA0001", "1", "5"),
    ]));
    let out = f.run(CoreRequest::InpatientFeesCancel(vec![Req2302 {
        feedetl_sn: "4".into(),
        mdtrt_id: mdtrt_id.clone(),
        psn_no: psn.into(),
    }]));
    assert!(
        matches!(out.answer, CoreAnswer::FeesCancelled { ref feedetl_sn } if feedetl_sn == &["4".to_owned()])
    );
    f.run(CoreRequest::Discharge(Req2402 {
        mdtrt_id: mdtrt_id.clone(),
        psn_no: psn.into(),
        endtime: "2024-05-19 10:00:00".into(),
        dscg_way: None,
    }));
    let mut req = settle_req(&mdtrt_id, psn);
    req.med_type = None; // taken from 2401
    let out = f.run(CoreRequest::InpatientSettle(req.clone()));
    let claim = out.claim.unwrap();
    let a = &claim.amounts;
    assert_eq!(a.overlmt_selfpay, yuan("350.00"));
    assert_eq!(a.hosp_part_amt, yuan("350.00"));
    assert_eq!(a.acct_pay, Money::ZERO);
    assert_eq!(a.balc, None);
    assert!(
        claim
            .setldetail
            .iter()
            .any(|l| l.fund_pay_type == "999996" && l.fund_payamt == yuan("350.00"))
    );
    assert!(
        check_identities(&claim, &IdentityPolicy::default())
            .errors
            .is_empty()
    );
    let e = f.refused(CoreRequest::InpatientSettle(req));
    assert_eq!(e.refusal_code(), Some(RefusalCode::VisitSettled));
    let e = f.refused(CoreRequest::InpatientFees(vec![fee(
        &mdtrt_id, psn, "9", "XA0001", "1", "1",
    )]));
    assert_eq!(e.refusal_code(), Some(RefusalCode::VisitSettled));
}

/// P's own ID number and B's (both employees, insutype 310, in the example registry).
const P_CERT: &str = "990101198001010011";
const B: &str = "9900000004";
const B_CERT: &str = "990101197501010044";

fn reg_2201(psn_no: &str, cert_type: &str, cert_no: &str) -> CoreRequest {
    CoreRequest::Register(Req2201 {
        psn_no: psn_no.into(),
        insutype: "310".into(),
        begntime: "2024-05-20 09:00:00".into(),
        mdtrt_cert_type: cert_type.into(),
        mdtrt_cert_no: cert_no.into(),
        ipt_otp_no: "MZ-CERT".into(),
        atddr_no: None,
        dr_name: None,
        dept_code: None,
        dept_name: None,
        caty: None,
    })
}

/// The refusal names the field and the psn_no, and reveals nothing about the number's owner.
fn assert_cert_mismatch(e: &CoreRefusal, path: &str) {
    assert_eq!(e.refusal_code(), Some(RefusalCode::CertMismatch), "{e}");
    assert_eq!(e.code(), "CORE-CERT-MISMATCH");
    assert_eq!(e.path(), path);
    let text = e.to_string();
    assert!(
        text.contains(&format!("does not belong to psn_no {P}")),
        "{text}"
    );
    assert!(
        !text.contains(B) && !text.contains(B_CERT),
        "reveals the owner: {text}"
    );
}

#[test]
fn a_2201_with_another_persons_id_number_is_refused() {
    let mut f = Flow::new();
    assert_eq!(f.view.person(B).unwrap().certno, B_CERT);
    let e = f.refused(reg_2201(P, "02", B_CERT));
    assert_cert_mismatch(&e, "input.data.mdtrt_cert_no");
    // a number that belongs to no one: the same refusal, the same words
    let e = f.refused(reg_2201(P, "02", "990101190001010000"));
    assert_cert_mismatch(&e, "input.data.mdtrt_cert_no");
    // provincial card|token: checked by the card part when it is an ID number
    let e = f.refused(reg_2201(P, "02", &format!("{B_CERT}|{}", "T".repeat(300))));
    assert_cert_mismatch(&e, "input.data.mdtrt_cert_no");
    // 2401 likewise, at its own node
    let e = f.refused(CoreRequest::Admit(Req2401 {
        psn_no: P.into(),
        insutype: "310".into(),
        begntime: "2024-05-01 08:00:00".into(),
        mdtrt_cert_type: "02".into(),
        mdtrt_cert_no: B_CERT.into(),
        med_type: "21".into(),
        ipt_no: "ZY-CERT".into(),
        adm_dept_codg: None,
        adm_dept_name: None,
    }));
    assert_cert_mismatch(&e, "input.mdtrtinfo.mdtrt_cert_no");
}

#[test]
fn a_2201_with_the_persons_own_or_an_uncheckable_certificate_succeeds() {
    let mut f = Flow::new();
    f.run(reg_2201(P, "02", P_CERT));
    f.run(reg_2201(B, "02", B_CERT));
    // the card part of card|token is the person's ID number
    f.run(reg_2201(P, "02", &format!("{P_CERT}|{}", "T".repeat(300))));
    // not checkable by the registry: e-voucher token, card number, card|token with a card number
    f.run(reg_2201(P, "01", B_CERT));
    f.run(reg_2201(P, "03", B_CERT));
    f.run(reg_2201(P, "02", &format!("A1234567|{}", "T".repeat(300))));
}

#[test]
fn a_2207_with_another_persons_id_number_is_refused_and_settles_nothing() {
    let mut f = Flow::new();
    let visit = f.register(P);
    f.fees(&visit, P, &[("1", "XA0001", "1", "30")]);
    let foreign = SettleReq {
        mdtrt_cert_type: Some("02".into()),
        mdtrt_cert_no: Some(B_CERT.into()),
        ..settle_req(&visit, P)
    };
    let e = f.refused(CoreRequest::OutpatientPreSettle(foreign.clone()));
    assert_cert_mismatch(&e, "input.data.mdtrt_cert_no");
    let e = f.refused(CoreRequest::OutpatientSettle(foreign));
    assert_cert_mismatch(&e, "input.data.mdtrt_cert_no");
    assert!(f.view.settlements.is_empty(), "nothing settled");

    let own = SettleReq {
        mdtrt_cert_type: Some("02".into()),
        mdtrt_cert_no: Some(P_CERT.into()),
        ..settle_req(&visit, P)
    };
    let out = f.run(CoreRequest::OutpatientSettle(own));
    assert!(out.claim.is_some(), "settled with the person's own number");
}

/// Issue 15 item 7: a place of treatment that is not the sender's region, an event in the
/// future (2999), a fee line of 150 billion yuan (sent, or only as `cnt × pric`) and an absurd
/// settlement total are refused with the field's format rule, changing nothing.
#[test]
fn implausible_requests_are_refused_with_the_fields_rule() {
    use medsettle_canonical::RuleId;
    let mut f = Flow::new();
    // another city's place of treatment (the sender H99010000001 is of 990100)
    let mut c = ctx(1);
    c.mdtrtarea_admvs = admdvs("440300");
    let before = f.view.clone();
    let e = f
        .core
        .handle(reg_2201(P, "02", P_CERT), &c, &f.view)
        .unwrap_err();
    assert_eq!(
        (e.code(), e.path()),
        ("FMT-ADMDVS", "mdtrtarea_admvs"),
        "{e}"
    );
    assert_eq!(f.view, before);
    // a district of the sender's city is its own
    let mut c = ctx(2);
    c.mdtrtarea_admvs = admdvs("990102");
    assert!(
        f.core
            .handle(reg_2201(P, "02", P_CERT), &c, &f.view)
            .is_ok()
    );

    let CoreRequest::Register(mut late) = reg_2201(P, "02", P_CERT) else {
        unreachable!()
    };
    late.begntime = "2999-12-31 23:59:59".into();
    let e = f.refused(CoreRequest::Register(late));
    assert_eq!(
        (e.code(), e.path()),
        ("FMT-DATETIME", "input.data.begntime"),
        "{e}"
    );

    let mdtrt_id = f.register(P);
    let mut line = fee(&mdtrt_id, P, "1", "XA0001", "1", "1");
    line.fee_ocur_time = Some("2999-01-01 00:00:00".into());
    let e = f.refused(CoreRequest::OutpatientFees(vec![line]));
    assert_eq!(e.path(), "input.feedetail[0].fee_ocur_time", "{e}");
    let mut line = fee(&mdtrt_id, P, "1", "XA0001", "1", "150000000000");
    let e = f.refused(CoreRequest::OutpatientFees(vec![line.clone()]));
    assert_eq!(
        (e.code(), e.path()),
        ("FMT-MONEY", "input.feedetail[0].pric"),
        "{e}"
    );
    line.pric = UnitPrice::parse("1").unwrap();
    line.det_item_fee_sumamt = Some(Money::from_fen(15_000_000_000_000));
    let e = f.refused(CoreRequest::OutpatientFees(vec![line]));
    assert_eq!(
        (e.code(), e.path()),
        ("FMT-MONEY", "input.feedetail[0].det_item_fee_sumamt"),
        "{e}"
    );
    let mut req = settle_req(&mdtrt_id, P);
    req.medfee_sumamt = Some(Money::from_fen(10_000_000_001));
    let e = f.refused(CoreRequest::OutpatientSettle(req));
    assert_eq!(e.code(), RuleId::FMT_MONEY.0, "{e}");
    assert_eq!(e.path(), "input.data.medfee_sumamt");
}
