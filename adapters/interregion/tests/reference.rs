//! The reference's §5.3 example (`legacy-and-cross-region.md`): the fee-category summary decodes
//! exactly as printed, and its expected split decodes and answers it.

use medsettle_canonical::{IdentityPolicy, InstitutionLevel, Money, Ratio, check_identities};
use medsettle_interregion::{
    AnswerEnvelope, Infno, Limits, PeerAnswer, PeerRequest, RequestEnvelope, SetlKind,
    check_split_against, decode_input, decode_output, decode_request,
};

const SUMMARY: &[u8] = include_bytes!("fixtures/xprv01_summary_reference_5_3.json");
const SPLIT: &[u8] = include_bytes!("fixtures/xprv01_split_reference_5_3.json");

fn yuan(text: &str) -> Money {
    Money::parse_yuan(text).unwrap()
}

fn summary() -> (RequestEnvelope, medsettle_interregion::Summary) {
    let (env, request) = decode_request(SUMMARY, &Limits::default()).unwrap();
    let PeerRequest::Summary(s) = request else {
        panic!("an XPRV01 decodes to a summary");
    };
    (env, s)
}

#[test]
fn the_reference_summary_decodes_exactly() {
    let (env, s) = summary();
    assert_eq!(env.infno, Infno::Xprv01);
    assert_eq!(env.msgid, "H99010000012024052012000001");
    assert_eq!(env.mdtrtarea_admvs.as_str(), "990100");
    assert_eq!(env.insuplc_admdvs.as_str(), "880100");
    // what the reference leaves out reads as the protocol's defaults
    assert_eq!(env.ver, "1");
    assert_eq!(env.send_time, "");
    assert!(!s.header.acct_used_flag);
    assert_eq!(s.header.setl_kind, SetlKind::Pre);

    let h = &s.header;
    assert_eq!(h.mdtrt_id, "YD9901202405000007");
    assert_eq!(h.psn_no, "8800000042");
    assert_eq!(h.certno, "880101199001010000");
    assert_eq!((h.insutype.as_str(), h.med_type.as_str()), ("310", "21"));
    assert_eq!(h.fixmedins_code, "H99010000001");
    assert_eq!(h.institution_level(), Some(InstitutionLevel::Level3));
    assert_eq!(h.medfee_sumamt, yuan("25600.00"));
    assert!(h.endtime.is_some());

    let codes: Vec<&str> = s.iteminfo.iter().map(|l| l.med_chrgitm.code()).collect();
    assert_eq!(
        codes,
        [
            "01", "02", "03", "04", "05", "06", "07", "08", "09", "11", "14"
        ]
    );
    assert_eq!(s.iteminfo[7].amt, yuan("4300.00"));
    assert_eq!(s.iteminfo[7].fulamt_ownpay_amt, yuan("500.00"));

    let (class_a, class_b, own, other) = s.category_totals();
    assert_eq!(class_a, yuan("16900.00"));
    assert_eq!(class_b, yuan("7750.00"));
    assert_eq!(own, yuan("950.00"));
    assert_eq!(other, Money::ZERO);
    assert_eq!(class_a + class_b + own + other, yuan("25600.00"));
    assert_eq!(
        s.iteminfo.iter().map(|l| l.amt).sum::<Money>(),
        yuan("25600.00")
    );
}

#[test]
fn the_reference_summary_round_trips() {
    let (env, s) = summary();
    let again = RequestEnvelope {
        input: PeerRequest::Summary(s.clone()).to_input(),
        ..env.clone()
    };
    let bytes = again.encode();
    let (env2, request2) = decode_request(&bytes, &Limits::default()).unwrap();
    assert_eq!(env2, again);
    assert_eq!(env2.infno, env.infno);
    assert_eq!(request2, PeerRequest::Summary(s));
    // deterministic: the same message encodes to the same bytes
    assert_eq!(env2.encode(), bytes);
    assert_eq!(decode_input(env2.infno, &env2.input).unwrap(), request2);
}

#[test]
fn the_reference_split_answers_the_summary() {
    let (env, s) = summary();
    let answer = AnswerEnvelope::decode(SPLIT).unwrap();
    assert!(answer.is_done());
    let PeerAnswer::Split(split) =
        decode_output(Infno::Xprv01, answer.output.as_ref().unwrap()).unwrap()
    else {
        panic!("an XPRV01 answer decodes to a split");
    };
    check_split_against(&s.header, &split).unwrap();
    let a = &split.amounts;
    assert_eq!(a.fulamt_ownpay_amt, yuan("950.00"));
    assert_eq!(a.preselfpay_amt, yuan("775.00"));
    assert_eq!(a.inscp_scp_amt, yuan("23875.00"));
    assert_eq!(a.act_pay_dedc, yuan("1200.00"));
    assert_eq!(a.hifp_pay, yuan("18140.00"));
    assert_eq!(a.pool_prop_selfpay, Some(Ratio::parse("0.80").unwrap()));
    assert_eq!(a.fund_pay_sumamt, yuan("18140.00"));
    assert_eq!(a.psn_part_amt, yuan("7460.00"));
    assert_eq!(a.psn_cash_pay, yuan("7460.00"));
    // the reference's arithmetic: 80 % of what is in scope above the deductible
    assert_eq!(
        (a.inscp_scp_amt - a.act_pay_dedc).mul_ratio_half_up(Ratio::parse("0.8").unwrap()),
        a.hifp_pay
    );
    // the claim journaled from it holds the canonical identities
    let claim = split.to_settled_claim(&env, &s.header);
    let report = check_identities(&claim, &IdentityPolicy::default());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    // and the answer re-encodes to an equal answer
    let again = AnswerEnvelope::done(
        PeerAnswer::Split(split.clone()).to_output(),
        &medsettle_interregion::AnswerContext {
            inf_refmsgid: answer.inf_refmsgid.clone(),
            refmsg_time: answer.refmsg_time.clone(),
            respond_time: answer.respond_time.clone(),
        },
    );
    assert_eq!(again, answer);
}
