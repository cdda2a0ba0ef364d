//! Answers and exchanges end to end: §5.1 examples decode to the exact fen amounts, a
//! claim's answer re-decodes to the same claim, and failures name their rule and path.

use medsettle_canonical::{ClaimKind, IdentityPolicy, Money, RuleId};
use medsettle_nhsa::{
    AnswerContext, Canonical, DecodeLimits, Options, RequestEnvelope, ResponseEnvelope, TxInput,
    answer_for_claim, decode_input, decode_output, error_answer, to_canonical,
};
use serde_json::{Value, json};

const REQ_A: &str = r#"{"infno":"2207","msgid":"H44030000001202406011030150001","mdtrtarea_admvs":"440300","insuplc_admdvs":"440399",
"recer_sys_code":"YBXT","dev_no":"","dev_safe_info":"","cainfo":"","signtype":"","infver":"V1.0",
"opter_type":"1","opter":"0001","opter_name":"张三","inf_time":"2024-06-01 10:30:15",
"fixmedins_code":"H44030000001","fixmedins_name":"示例医院","sign_no":"440000202406010800000000000123",
"input":{"data":{"psn_no":"44000000000000000001","mdtrt_cert_type":"02","mdtrt_cert_no":"440300199001011234",
"med_type":"11","medfee_sumamt":100.00,"psn_setlway":"01","mdtrt_id":"440000000123","chrg_bchno":"CB0001",
"insutype":"310","acct_used_flag":"1","invono":"","fulamt_ownpay_amt":10.00,"overlmt_selfpay":0.00,
"preselfpay_amt":5.00,"inscp_scp_amt":85.00}}}"#;

const RESP_B: &str = r#"{"infcode":0,"inf_refmsgid":"440300202406011030160000000001","refmsg_time":"20240601103016001",
"respond_time":"20240601103016250","err_msg":"","warn_msg":"","output":{
"setlinfo":{"mdtrt_id":"440000000123","setl_id":"440000000456","psn_no":"44000000000000000001","psn_name":"李四",
"psn_cert_type":"01","certno":"440300199001011234","gend":"1","naty":"01","brdy":"1990-01-01","age":34.0,
"insutype":"310","psn_type":"1101","cvlserv_flag":"0","setl_time":"2024-06-01 10:30:16","mdtrt_cert_type":"02",
"med_type":"11","medfee_sumamt":100.00,"fulamt_ownpay_amt":10.00,"overlmt_selfpay":0.00,"preselfpay_amt":5.00,
"inscp_scp_amt":85.00,"act_pay_dedc":0.00,"hifp_pay":59.50,"pool_prop_selfpay":0.7000,"cvlserv_pay":0,"hifes_pay":0,
"hifmi_pay":0,"hifob_pay":0,"maf_pay":0,"oth_pay":0,"fund_pay_sumamt":59.50,"psn_part_amt":40.50,"acct_pay":30.00,
"psn_cash_pay":10.50,"hosp_part_amt":0,"balc":970.00,"acct_mulaid_pay":0,
"medins_setl_id":"H44030000001202406011030150001","clr_optins":"440399","clr_way":"1","clr_type":"11"},
"setldetail":[{"fund_pay_type":"310100","inscp_scp_amt":85.00,"crt_payb_lmt_amt":null,"fund_payamt":59.50,
"fund_pay_type_name":"职工基本医疗保险统筹基金","setl_proc_info":null},
{"fund_pay_type":"310200","inscp_scp_amt":85.00,"crt_payb_lmt_amt":null,"fund_payamt":30.00,
"fund_pay_type_name":"职工基本医疗保险个人账户基金","setl_proc_info":null}]}}"#;

fn exchange(req: &str, resp: &str) -> Vec<u8> {
    format!("{{\"request\":{req},\"response\":{resp}}}").into_bytes()
}

fn ctx() -> AnswerContext {
    AnswerContext {
        inf_refmsgid: "440300202406011030160000000001".into(),
        refmsg_time: "20240601103016001".into(),
        respond_time: "20240601103016250".into(),
        person: None,
    }
}

#[test]
fn example_a_b_is_a_claim_in_fen() {
    let c = to_canonical(&exchange(REQ_A, RESP_B), &Options::default()).unwrap();
    let claim = c.claim().expect("a settlement");
    assert_eq!(claim.kind, ClaimKind::Settlement);
    assert_eq!(claim.msgid, "H44030000001202406011030150001");
    assert_eq!(claim.amounts.hifp_pay, Money::from_fen(5950));
    assert_eq!(claim.amounts.psn_cash_pay, Money::from_fen(1050));
    assert_eq!(claim.amounts.balc, Some(Money::from_fen(97000)));
    assert_eq!(claim.setl_time.offset().whole_hours(), 8);
    assert_eq!(claim.setldetail.len(), 2);
}

#[test]
fn the_answer_for_a_claim_decodes_back_to_the_same_claim() {
    let claim = to_canonical(&exchange(REQ_A, RESP_B), &Options::default())
        .unwrap()
        .claim()
        .unwrap()
        .clone();
    let answer = answer_for_claim(&claim, &ctx());
    let bytes = answer.to_bytes();
    let text = String::from_utf8(bytes.clone()).unwrap();
    // amounts are JSON numbers with two decimals, ratios four
    assert!(text.contains("\"hifp_pay\":59.50"), "{text}");
    assert!(text.contains("\"pool_prop_selfpay\":0.7000"), "{text}");
    assert!(text.contains("\"infcode\":0"), "{text}");
    assert!(text.contains("\"medins_setl_id\":\"H44030000001202406011030150001\""));
    let again = to_canonical(
        &exchange(REQ_A, std::str::from_utf8(&bytes).unwrap()),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(again.claim(), Some(&claim));
    // and the reversal of it answers and decodes too
    let rev = claim.reversal(
        "2208",
        "H44030000001202406011100000002",
        "440000000457",
        claim.setl_time,
    );
    let rev_answer = answer_for_claim(&rev, &ctx()).to_bytes();
    let req_d = r#"{"infno":"2208","msgid":"H44030000001202406011100000002","mdtrtarea_admvs":"440300","insuplc_admdvs":"440399",
"recer_sys_code":"YBXT","infver":"V1.0","opter_type":"1","opter":"0001","opter_name":"张三","inf_time":"2024-06-01 11:00:00",
"fixmedins_code":"H44030000001","fixmedins_name":"示例医院",
"input":{"data":{"setl_id":"440000000456","mdtrt_id":"440000000123","psn_no":"44000000000000000001"}}}"#;
    let decoded = to_canonical(
        &exchange(req_d, std::str::from_utf8(&rev_answer).unwrap()),
        &Options::default(),
    )
    .unwrap();
    let d = decoded.claim().unwrap();
    assert_eq!(d.kind, ClaimKind::Reversal);
    assert_eq!(d.amounts.medfee_sumamt, Money::from_fen(-10000));
    assert_eq!(
        d.reversal_of.as_ref().unwrap().setl_id.as_deref(),
        Some("440000000456")
    );
    assert!(medsettle_canonical::check_reversal_of(&claim, d).is_empty());
}

#[test]
fn error_answer_names_rule_and_path() {
    let err = to_canonical(
        REQ_A.replace("100.00", "100.001").as_bytes(),
        &Options::default(),
    )
    .unwrap_err();
    assert_eq!(err.rules(), vec![RuleId::FMT_MONEY]);
    let answer = error_answer(&err.violations, &ctx());
    let v: Value = serde_json::from_slice(&answer.to_bytes()).unwrap();
    assert_eq!(v["infcode"].to_string(), "-1");
    let msg = v["err_msg"].as_str().unwrap();
    assert!(
        msg.contains("FMT-MONEY") && msg.contains("input.data.medfee_sumamt"),
        "{msg}"
    );
    assert!(err.to_string().contains("input.data.medfee_sumamt"));
    // and the failure envelope is itself a valid response
    let back = ResponseEnvelope::decode(&answer.to_bytes(), &DecodeLimits::default()).unwrap();
    assert!(!back.is_success());
}

#[test]
fn inpatient_2304_shape_decodes_exactly() {
    let out = json!({"setlinfo":{"mdtrt_id":"1","setl_id":"2","setl_time":"2024-06-05 15:30:23",
        "medfee_sumamt": 23442.46, "fund_pay_sumamt": 18785.39, "hifob_pay": 18785.39, "psn_part_amt": 4152.06,
        "acct_pay": 170.04, "psn_cash_pay": 3982.02, "hosp_part_amt": 505.01, "fulamt_ownpay_amt": 2533.97,
        "overlmt_selfpay": 1396.89, "preselfpay_amt": 703.44, "inscp_scp_amt": 18808.16, "unknown_platform_field": 1},
        "setldetail":[{"fund_pay_type":"330101","fund_payamt":18785.39},{"fund_pay_type":"999996","fund_payamt":505.01},
        {"fund_pay_type":"310201","fund_payamt":170.04}]});
    // serde_json parsed the literal above from f64; re-parse from text so the number text is exact
    let out: Value = serde_json::from_str(&out.to_string()).unwrap();
    let decoded = decode_output("2304", &out).unwrap();
    let medsettle_nhsa::TxOutput::Settlement(s) = decoded else {
        panic!("settlement shape")
    };
    assert_eq!(s.setlinfo.fund_pay_sumamt, Some(Money::from_fen(1_878_539)));
    assert_eq!(s.setlinfo.extra.len(), 1);
    assert_eq!(s.setldetail[1].fund_payamt, Money::from_fen(50501));
}

#[test]
fn all_violations_are_collected_with_paths() {
    let input = json!({"feedetail":[{"feedetl_sn":"1"},{"feedetl_sn": 2}]});
    let err = decode_input("2204", &input).unwrap_err();
    let paths: Vec<_> = err.violations.iter().map(|v| v.path.as_str()).collect();
    assert!(paths.contains(&"input.feedetail[0].pric"));
    assert!(paths.contains(&"input.feedetail[1].feedetl_sn"));
    assert!(err.violations.len() > 20, "{}", err.violations.len());
}

#[test]
fn request_envelope_keeps_unknown_keys_for_relay() {
    let body = REQ_A.replacen(
        "{\"infno\"",
        "{\"fixmedins_soft_fcty\":\"厂商\",\"infno\"",
        1,
    );
    let env = RequestEnvelope::decode(body.as_bytes(), &DecodeLimits::default()).unwrap();
    assert_eq!(env.extra["fixmedins_soft_fcty"], "厂商");
    let again: Value = serde_json::from_slice(&env.to_bytes()).unwrap();
    assert_eq!(again["fixmedins_soft_fcty"], "厂商");
    let TxInput::T2207(tx) = decode_input(&env.infno, &env.input).unwrap() else {
        panic!("2207")
    };
    assert_eq!(tx.data.medfee_sumamt, Money::from_fen(10000));
}

#[test]
fn identity_policy_can_relax_a_rule() {
    let broken = RESP_B.replace("\"hosp_part_amt\":0", "\"hosp_part_amt\":1.00");
    let strict = to_canonical(&exchange(REQ_A, &broken), &Options::default()).unwrap_err();
    assert_eq!(strict.rules(), vec![RuleId::NHSA_ID_2]);
    let relaxed = Options {
        identity_policy: IdentityPolicy {
            warn_only: vec!["NHSA-ID-2".into()],
        },
        ..Options::default()
    };
    assert!(matches!(
        to_canonical(&exchange(REQ_A, &broken), &relaxed),
        Ok(Canonical::Claim(_))
    ));
}

/// The success answer's bytes are pinned by a golden file (wire output, `DESIGN.md` §5):
/// `MEDSETTLE_BLESS=1` rewrites it; review the diff.
#[test]
fn answer_bytes_match_the_golden_file() {
    let claim = to_canonical(&exchange(REQ_A, RESP_B), &Options::default())
        .unwrap()
        .claim()
        .unwrap()
        .clone();
    let mut ctx = ctx();
    ctx.person = Some(medsettle_nhsa::PersonExtras {
        psn_cert_type: Some("01".into()),
        certno: Some("440300199001011234".into()),
        gend: Some("1".into()),
        naty: Some("01".into()),
        brdy: Some(time::macros::date!(1990 - 01 - 01)),
        age: Some(medsettle_nhsa::Scaled(340)),
        cvlserv_flag: Some("0".into()),
        mdtrt_cert_type: Some("02".into()),
    });
    let got = answer_for_claim(&claim, &ctx).to_bytes();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/answer-2207.json");
    if std::env::var("MEDSETTLE_BLESS").is_ok() {
        std::fs::write(path, &got).unwrap();
    }
    let want = std::fs::read(path).expect("golden file");
    assert_eq!(
        String::from_utf8(got).unwrap(),
        String::from_utf8(want).unwrap()
    );
}
