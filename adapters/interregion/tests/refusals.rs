//! At least one refused case for every rule id, each checked for its rule and path; and a
//! check that together they cover `rule::ALL`, so a rule cannot be added without a case.

use std::collections::BTreeSet;

use medsettle_canonical::Money;
use medsettle_interregion::*;
use serde_json::{Value, json};

const SUMMARY_BODY: &str = include_str!("fixtures/xprv01_summary_reference_5_3.json");
const SPLIT_ANSWER: &str = include_str!("fixtures/xprv01_split_reference_5_3.json");

/// One expectation: the result must be a refusal under `rule` at `path`.
struct Case {
    rule: &'static str,
    path: &'static str,
    got: Result<(), Refusal>,
    what: &'static str,
}

fn case<T>(
    rule: &'static str,
    path: &'static str,
    what: &'static str,
    got: Result<T, Refusal>,
) -> Case {
    Case {
        rule,
        path,
        got: got.map(|_| ()),
        what,
    }
}

fn check(cases: &[Case]) {
    for c in cases {
        match &c.got {
            Ok(()) => panic!("{}: accepted, expected {} at {}", c.what, c.rule, c.path),
            Err(r) => assert_eq!(
                (r.rule, r.path.as_str()),
                (c.rule, c.path),
                "{}: refused as {r}",
                c.what
            ),
        }
    }
}

/// `v` with the value at JSON pointer `at` replaced by `new` (or removed when `None`).
fn edit(v: &Value, at: &str, new: Option<Value>) -> Value {
    let mut out = v.clone();
    let (parent, key) = at.rsplit_once('/').unwrap();
    let holder = out.pointer_mut(parent).unwrap();
    match (holder, new) {
        (Value::Object(m), Some(n)) => {
            m.insert(key.to_owned(), n);
        }
        (Value::Object(m), None) => {
            m.remove(key);
        }
        (Value::Array(a), Some(n)) => match key.parse::<usize>().unwrap() {
            i if i == a.len() => a.push(n),
            i => a[i] = n,
        },
        (Value::Array(a), None) => {
            a.remove(key.parse::<usize>().unwrap());
        }
        _ => panic!("{at} is not inside an object or array"),
    }
    out
}

fn set(v: &Value, at: &str, new: Value) -> Value {
    edit(v, at, Some(new))
}

fn summary_input() -> Value {
    serde_json::from_str::<Value>(SUMMARY_BODY).unwrap()["input"].clone()
}

fn split_output() -> Value {
    serde_json::from_str::<Value>(SPLIT_ANSWER).unwrap()["output"].clone()
}

fn input(infno: Infno, v: &Value) -> Result<PeerRequest, Refusal> {
    decode_input(infno, v)
}

fn output(infno: Infno, v: &Value) -> Result<PeerAnswer, Refusal> {
    decode_output(infno, v)
}

fn fen(yuan: &str) -> Money {
    Money::parse_yuan(yuan).unwrap()
}

fn header() -> SummaryHeader {
    match input(Infno::Xprv01, &summary_input()).unwrap() {
        PeerRequest::Summary(s) => s.header,
        _ => unreachable!(),
    }
}

fn the_split() -> Split {
    Split::from_output(&split_output()).unwrap()
}

fn envelope_bytes(infno: &str, input: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ver": "1", "infno": infno, "msgid": "M1",
        "mdtrtarea_admvs": "990100", "insuplc_admdvs": "880100", "input": input
    }))
    .unwrap()
}

fn reversal_done() -> Value {
    json!({"setl_id":"R880100202405210001","osetl_id":"S880100202405200001","setl_time":"2024-05-21 09:00:00","medfee_sumamt":"-25600.00","fund_pay_sumamt":"-18140.00"})
}

fn recon_totals() -> Value {
    json!({"recon_date":"2024-05-20","fwd_cnt":1,"fwd_medfee_sumamt":"25600.00","fwd_fund_pay_sumamt":"18140.00","rev_cnt":0,"rev_medfee_sumamt":"0.00","rev_fund_pay_sumamt":"0.00"})
}

fn recon_detail() -> Value {
    json!({"recon_date":"2024-05-20","rows_total":2,"startrow":1,"rows":[
        {"omsgid":"H99010000012024052012000001","setl_id":"S880100202405200001","mdtrt_id":"YD9901202405000007","setl_time":"2024-05-20 12:00:01","medfee_sumamt":"25600.00","fund_pay_sumamt":"18140.00","aaa113":1,"fulamt_advpay_flag":"0"},
        {"omsgid":"H99010000012024052012000001","setl_id":"R880100202405200002","mdtrt_id":"YD9901202405000007","setl_time":"2024-05-20 15:00:00","medfee_sumamt":"-25600.00","fund_pay_sumamt":"-18140.00","aaa113":-1,"fulamt_advpay_flag":"0"}]})
}

fn statement() -> Value {
    json!({"stmt_id":"ST99880020240501","clr_month":"202405","insuplc_prov":"880000","mdtrtarea_prov":"990000","cnt":2,
        "medfee_sumamt":"26600.00","fund_pay_sumamt":"18940.00","stmt_due_date":"2024-06-07","pay_due_date":"2024-06-21","startrow":1,"lines":[
        {"seqno":1,"omsgid":"H99010000012024052012000001","setl_id":"S880100202405200001","mdtrt_id":"YD9901202405000007","medins_no":"H99010000001","setl_time":"2024-05-20 12:00:01","medfee_sumamt":"25600.00","fund_pay_sumamt":"18140.00","aaa113":1},
        {"seqno":2,"omsgid":"H99010000012024041009000003","setl_id":"S880100202404100003","mdtrt_id":"YD9901202404000003","medins_no":"H99010000001","setl_time":"2024-04-10 09:30:00","medfee_sumamt":"1000.00","fund_pay_sumamt":"800.00","aaa113":1,"carried_from":"202404"}]})
}

fn reply() -> Value {
    json!({"stmt_id":"ST99880020240501","clr_month":"202405","lines":[{"seqno":1,"flag":"1"},{"seqno":2,"flag":"0","reason":"四月已付"}]})
}

fn prepayment() -> Value {
    json!({"year":2025,"insuplc_prov":"880000","mdtrtarea_prov":"990000","prior_year_fund_pay_sumamt":"1200000.03","required_amt":"200000.01","balance":"150000.00","movement":"top_up","movement_amt":"50000.01","balance_after":"200000.01","reference":"P2025880000990000001","due_date":"2025-01-15"})
}

#[test]
fn the_base_messages_are_valid() {
    assert!(input(Infno::Xprv01, &summary_input()).is_ok());
    assert!(output(Infno::Xprv01, &split_output()).is_ok());
    assert!(output(Infno::Xprv02, &reversal_done()).is_ok());
    assert!(input(Infno::Xprv11, &recon_totals()).is_ok());
    assert!(input(Infno::Xprv12, &recon_detail()).is_ok());
    assert!(input(Infno::Xprv21, &statement()).is_ok());
    assert!(input(Infno::Xprv22, &reply()).is_ok());
    assert!(input(Infno::Xprv31, &prepayment()).is_ok());
    let (_, p) =
        decode_request(&envelope_bytes("XPRV31", &prepayment()), &Limits::default()).unwrap();
    assert_eq!(p.infno(), Infno::Xprv31);
    let lines = statement_lines();
    let PeerRequest::Reply(r) = input(Infno::Xprv22, &reply()).unwrap() else {
        unreachable!()
    };
    assert_eq!(
        reply_answer(&lines, &r).unwrap(),
        ReplyAnswer {
            confirmed_cnt: 1,
            refused_cnt: 1,
            confirmed_fund_pay_sumamt: fen("18140.00")
        }
    );
}

fn statement_lines() -> Vec<StatementLine> {
    match input(Infno::Xprv21, &statement()).unwrap() {
        PeerRequest::Statement(s) => s.lines,
        _ => unreachable!(),
    }
}

fn fmt_cases() -> Vec<Case> {
    let s = summary_input();
    vec![
        case(
            rule::FMT_REQUIRED,
            "input.summary.mdtrt_id",
            "missing id",
            input(Infno::Xprv01, &edit(&s, "/summary/mdtrt_id", None)),
        ),
        case(
            rule::FMT_REQUIRED,
            "input.summary.psn_no",
            "empty id",
            input(Infno::Xprv01, &set(&s, "/summary/psn_no", json!(""))),
        ),
        case(
            rule::FMT_TYPE,
            "input.iteminfo",
            "iteminfo not an array",
            input(Infno::Xprv01, &set(&s, "/iteminfo", json!({}))),
        ),
        case(
            rule::FMT_TYPE,
            "input.summary.psn_no",
            "id as a number",
            input(
                Infno::Xprv01,
                &set(&s, "/summary/psn_no", json!(8800000042u64)),
            ),
        ),
        case(
            rule::FMT_TEXT,
            "input.summary.psn_no",
            "space in an id",
            input(Infno::Xprv01, &set(&s, "/summary/psn_no", json!("8800 42"))),
        ),
        case(
            rule::FMT_TEXT,
            "input.summary.psn_name",
            "control character in a name",
            input(
                Infno::Xprv01,
                &set(&s, "/summary/psn_name", json!("a\u{1}b")),
            ),
        ),
        case(
            rule::FMT_AMOUNT,
            "input.iteminfo[0].amt",
            "third decimal",
            input(
                Infno::Xprv01,
                &set(&s, "/iteminfo/0/amt", json!("1200.005")),
            ),
        ),
        case(
            rule::FMT_AMOUNT,
            "input.iteminfo[0].amt",
            "beyond 16,2",
            input(
                Infno::Xprv01,
                &set(&s, "/iteminfo/0/amt", json!("100000000000000.00")),
            ),
        ),
        case(
            rule::FMT_COUNT,
            "input.fwd_cnt",
            "fractional count",
            input(
                Infno::Xprv11,
                &set(&recon_totals(), "/fwd_cnt", json!("1.5")),
            ),
        ),
        case(
            rule::FMT_COUNT,
            "input.fwd_cnt",
            "negative count",
            input(Infno::Xprv11, &set(&recon_totals(), "/fwd_cnt", json!(-1))),
        ),
        case(
            rule::FMT_TIME,
            "input.summary.begntime",
            "date for date-time",
            input(
                Infno::Xprv01,
                &set(&s, "/summary/begntime", json!("2024-05-10")),
            ),
        ),
        case(
            rule::FMT_TIME,
            "input.clr_month",
            "month 13",
            input(
                Infno::Xprv21,
                &set(&statement(), "/clr_month", json!("202413")),
            ),
        ),
        case(
            rule::FMT_TIME,
            "input.year",
            "year 1999",
            input(Infno::Xprv31, &set(&prepayment(), "/year", json!(1999))),
        ),
        case(
            rule::FMT_REGION,
            "output.setlinfo.clr_optins",
            "5-digit region",
            output(
                Infno::Xprv01,
                &set(&split_output(), "/setlinfo/clr_optins", json!("88010")),
            ),
        ),
        case(
            rule::FMT_REGION,
            "input.insuplc_prov",
            "city for province",
            input(
                Infno::Xprv21,
                &set(&statement(), "/insuplc_prov", json!("880100")),
            ),
        ),
        case(
            rule::FMT_CODE,
            "input.summary.setl_kind",
            "unknown setl_kind",
            input(
                Infno::Xprv01,
                &set(&s, "/summary/setl_kind", json!("later")),
            ),
        ),
        case(
            rule::FMT_CODE,
            "input.rows[0].aaa113",
            "aaa113 2",
            input(
                Infno::Xprv12,
                &set(&recon_detail(), "/rows/0/aaa113", json!(2)),
            ),
        ),
        case(
            rule::FMT_UNKNOWN_FIELD,
            "input.summary.psn_nmae",
            "misspelt optional field",
            input(Infno::Xprv01, &set(&s, "/summary/psn_nmae", json!("张三"))),
        ),
    ]
}

#[test]
fn field_syntax() {
    check(&fmt_cases());
}

fn env_cases() -> Vec<Case> {
    let limits = Limits::default();
    let good = envelope_bytes("XPRV31", &prepayment());
    let text = String::from_utf8(good.clone()).unwrap();
    let (env, request) = decode_request(&good, &limits).unwrap();
    let other_provinces = RequestEnvelope {
        insuplc_admdvs: "770100".parse().unwrap(),
        ..env.clone()
    };
    let answer = br#"{"infcode":2,"inf_refmsgid":"A1","refmsg_time":"2024-05-20 12:00:01","respond_time":"2024-05-20 12:00:02","output":{}}"#;
    vec![
        case(
            rule::ENV_SIZE,
            "",
            "too big",
            RequestEnvelope::decode(
                &good,
                &Limits {
                    body_bytes_max: 100,
                    ..limits
                },
            ),
        ),
        case(
            rule::ENV_UTF8,
            "",
            "latin-1 byte",
            RequestEnvelope::decode(&[b'{', 0xe9, b'}'], &limits),
        ),
        case(
            rule::ENV_JSON,
            "",
            "truncated",
            RequestEnvelope::decode(&good[..good.len() - 1], &limits),
        ),
        case(
            rule::ENV_JSON,
            "",
            "an array",
            RequestEnvelope::decode(b"[]", &limits),
        ),
        case(
            rule::ENV_DEPTH,
            "",
            "deep",
            RequestEnvelope::decode(
                format!("{}{}", "[".repeat(9), "]".repeat(9)).as_bytes(),
                &limits,
            ),
        ),
        case(
            rule::ENV_DUPLICATE_KEY,
            "input.balance",
            "balance twice",
            RequestEnvelope::decode(
                text.replace(
                    r#""balance":"150000.00""#,
                    r#""balance":"150000.00","balance":"1.00""#,
                )
                .as_bytes(),
                &limits,
            ),
        ),
        case(
            rule::ENV_VERSION,
            "ver",
            "ver 2",
            RequestEnvelope::decode(
                text.replace(r#""ver":"1""#, r#""ver":"2""#).as_bytes(),
                &limits,
            ),
        ),
        case(
            rule::ENV_INFNO,
            "infno",
            "unknown infno",
            RequestEnvelope::decode(text.replace("XPRV31", "XPRV32").as_bytes(), &limits),
        ),
        case(
            rule::ENV_INFNO,
            "infno",
            "input of another infno",
            request.check_against_envelope(&RequestEnvelope {
                infno: Infno::Xprv21,
                ..env.clone()
            }),
        ),
        case(
            rule::ENV_SAME_REGION,
            "insuplc_admdvs",
            "same region",
            RequestEnvelope::decode(text.replace("880100", "990100").as_bytes(), &limits),
        ),
        case(
            rule::ENV_SENDER,
            "mdtrtarea_admvs",
            "certificate for another region",
            env.check_sender(&["8801", "990200"]),
        ),
        case(
            rule::ENV_MSGID_REUSED,
            "msgid",
            "msgid reused",
            Err::<(), _>(env.idempotency_key().unwrap().conflict()),
        ),
        case(
            rule::ENV_ANSWER,
            "infcode",
            "infcode 2",
            AnswerEnvelope::decode(answer),
        ),
        case(
            rule::PRE_PROVINCE,
            "input.insuplc_prov",
            "province of another region",
            request.check_against_envelope(&other_provinces),
        ),
    ]
}

#[test]
fn envelopes() {
    check(&env_cases());
}

fn summary_cases() -> Vec<Case> {
    let s = summary_input();
    let lines = s["iteminfo"].as_array().unwrap();
    let fifteen: Vec<Value> = (0..15).map(|i| lines[i % lines.len()].clone()).collect();
    let x = |v: &Value| input(Infno::Xprv01, v);
    vec![
        case(
            rule::SUM_LINE_COUNT,
            "input.iteminfo",
            "no line",
            x(&set(&s, "/iteminfo", json!([]))),
        ),
        case(
            rule::SUM_LINE_COUNT,
            "input.iteminfo",
            "15 lines",
            x(&set(&s, "/iteminfo", Value::Array(fifteen))),
        ),
        case(
            rule::SUM_LINE_PARTS,
            "input.iteminfo[3].amt",
            "parts do not sum",
            x(&set(&s, "/iteminfo/3/amt", json!("1800.01"))),
        ),
        case(
            rule::SUM_NEGATIVE,
            "input.iteminfo[0].clab_amt",
            "negative part",
            x(&set(
                &set(&s, "/iteminfo/0/clab_amt", json!("-1.00")),
                "/iteminfo/0/amt",
                json!("1199.00"),
            )),
        ),
        case(
            rule::SUM_NEGATIVE,
            "input.summary.medfee_sumamt",
            "negative total",
            x(&set(&s, "/summary/medfee_sumamt", json!("-25600.00"))),
        ),
        case(
            rule::SUM_CATEGORY,
            "input.iteminfo[0].med_chrgitm",
            "category 15",
            x(&set(&s, "/iteminfo/0/med_chrgitm", json!("15"))),
        ),
        case(
            rule::SUM_CATEGORY,
            "input.iteminfo[0].med_chrgitm",
            "category without its zero",
            x(&set(&s, "/iteminfo/0/med_chrgitm", json!("1"))),
        ),
        case(
            rule::SUM_CATEGORY_REPEATED,
            "input.iteminfo[1].med_chrgitm",
            "category twice",
            x(&set(&s, "/iteminfo/1/med_chrgitm", json!("01"))),
        ),
        case(
            rule::SUM_TOTAL,
            "input.summary.medfee_sumamt",
            "total off by a fen",
            x(&set(&s, "/summary/medfee_sumamt", json!("25600.01"))),
        ),
        case(
            rule::SUM_ENDTIME_REQUIRED,
            "input.summary.endtime",
            "inpatient without end",
            x(&edit(&s, "/summary/endtime", None)),
        ),
        case(
            rule::SUM_ENDTIME_ORDER,
            "input.summary.endtime",
            "ends before it begins",
            x(&set(&s, "/summary/endtime", json!("2024-05-09 10:00:00"))),
        ),
    ]
}

#[test]
fn summaries() {
    check(&summary_cases());
    // an outpatient visit may leave endtime out
    let s = set(
        &edit(&summary_input(), "/summary/endtime", None),
        "/summary/med_type",
        json!("11"),
    );
    assert!(input(Infno::Xprv01, &s).is_ok());
}

fn split_cases() -> Vec<Case> {
    let o = split_output();
    let x = |v: &Value| output(Infno::Xprv01, v);
    let thirty_three: Vec<Value> = (0..33)
        .map(|i| json!({"fund_pay_type": format!("3101{i:02}"), "fund_payamt": "0.00"}))
        .collect();
    let h = header();
    let sp = the_split();
    let mut other_visit = sp.clone();
    other_visit.mdtrt_id = "YD9901202405000008".into();
    let mut other_total = sp.clone();
    other_total.amounts.medfee_sumamt = fen("25600.01");
    let mut with_account = sp.clone();
    with_account.amounts.acct_pay = fen("100.00");
    with_account.amounts.psn_cash_pay = fen("7360.00");
    vec![
        case(
            rule::SPLIT_FUND_LINES,
            "output.setldetail",
            "fund line off",
            x(&set(&o, "/setldetail/0/fund_payamt", json!("18140.01"))),
        ),
        case(
            rule::SPLIT_FUND_LINES,
            "output.setldetail",
            "account line not acct_pay",
            x(&set(
                &o,
                "/setldetail/1",
                json!({"fund_pay_type":"310200","fund_payamt":"1.00"}),
            )),
        ),
        case(
            rule::SPLIT_PERSON_PART,
            "output.setlinfo.psn_part_amt",
            "person part off",
            x(&set(
                &set(&o, "/setlinfo/psn_part_amt", json!("7460.01")),
                "/setlinfo/psn_cash_pay",
                json!("7460.01"),
            )),
        ),
        case(
            rule::SPLIT_ACCOUNT_CASH,
            "output.setlinfo.psn_cash_pay",
            "cash off",
            x(&set(&o, "/setlinfo/psn_cash_pay", json!("7460.01"))),
        ),
        case(
            rule::SPLIT_NOT_FOR_SUMMARY,
            "output.setlinfo.mdtrt_id",
            "another visit",
            check_split_against(&h, &other_visit),
        ),
        case(
            rule::SPLIT_NOT_FOR_SUMMARY,
            "output.setlinfo.medfee_sumamt",
            "another total",
            check_split_against(&h, &other_total),
        ),
        case(
            rule::SPLIT_SCOPE_PARTS,
            "output.setlinfo.medfee_sumamt",
            "scope parts off",
            x(&set(&o, "/setlinfo/preselfpay_amt", json!("775.01"))),
        ),
        case(
            rule::SPLIT_FUND_PARTS,
            "output.setlinfo.fund_pay_sumamt",
            "fund parts off",
            x(&set(&o, "/setlinfo/hifob_pay", json!("0.01"))),
        ),
        case(
            rule::SPLIT_HOSPITAL_PART,
            "output.setlinfo.hosp_part_amt",
            "hospital part",
            x(&set(&o, "/setlinfo/hosp_part_amt", json!("1.00"))),
        ),
        case(
            rule::SPLIT_RANGE,
            "output.setlinfo.acct_mulaid_pay",
            "negative amount",
            x(&set(&o, "/setlinfo/acct_mulaid_pay", json!("-1.00"))),
        ),
        case(
            rule::SPLIT_RANGE,
            "output.setlinfo.pool_prop_selfpay",
            "ratio above one",
            x(&set(&o, "/setlinfo/pool_prop_selfpay", json!("1.5"))),
        ),
        case(
            rule::SPLIT_DETAIL_LINES,
            "output.setldetail[1].fund_pay_type",
            "fund type twice",
            x(&set(
                &o,
                "/setldetail",
                json!([{"fund_pay_type":"310100","fund_payamt":"9070.00"},{"fund_pay_type":"310100","fund_payamt":"9070.00"}]),
            )),
        ),
        case(
            rule::SPLIT_DETAIL_LINES,
            "output.setldetail",
            "33 lines",
            x(&set(&o, "/setldetail", Value::Array(thirty_three))),
        ),
        case(
            rule::SPLIT_ACCOUNT_NOT_ALLOWED,
            "output.setlinfo.acct_pay",
            "account not allowed",
            check_split_against(&h, &with_account),
        ),
    ]
}

#[test]
fn splits() {
    check(&split_cases());
    // the same account payment is fine when the summary allowed it
    let mut allowed = header();
    allowed.acct_used_flag = true;
    let mut with_account = the_split();
    with_account.amounts.acct_pay = fen("100.00");
    with_account.amounts.psn_cash_pay = fen("7360.00");
    assert!(with_account.check().is_ok());
    assert!(check_split_against(&allowed, &with_account).is_ok());
}

fn reversal_cases() -> Vec<Case> {
    let d = reversal_done();
    let request = Reversal {
        omsgid: "H99010000012024052012000001".into(),
        setl_id: "S880100202405200001".into(),
        mdtrt_id: "YD9901202405000007".into(),
        psn_no: "8800000042".into(),
    };
    let done = ReversalDone::from_output(&d).unwrap();
    let original = the_split();
    assert!(check_reversal_done(&request, &original, &done).is_ok());
    assert_eq!(
        ReversalDone::of(&original, &done.setl_id, done.setl_time),
        done
    );
    let elsewhere = ReversalDone {
        osetl_id: "S880100202405200009".into(),
        ..done.clone()
    };
    let short = ReversalDone {
        medfee_sumamt: fen("-25599.99"),
        ..done.clone()
    };
    vec![
        case(
            rule::REV_SIGN,
            "output.medfee_sumamt",
            "positive reversal",
            output(Infno::Xprv02, &set(&d, "/medfee_sumamt", json!("25600.00"))),
        ),
        case(
            rule::REV_SIGN,
            "output.fund_pay_sumamt",
            "more fund than total",
            output(
                Infno::Xprv02,
                &set(&d, "/fund_pay_sumamt", json!("-25600.01")),
            ),
        ),
        case(
            rule::REV_NOT_FOR_REQUEST,
            "output.osetl_id",
            "another settlement",
            check_reversal_done(&request, &original, &elsewhere),
        ),
        case(
            rule::REV_NOT_NEGATION,
            "output.medfee_sumamt",
            "not the negation",
            check_reversal_done(&request, &original, &short),
        ),
    ]
}

#[test]
fn reversals() {
    check(&reversal_cases());
}

fn status_cases() -> Vec<Case> {
    let q = json!({"oinfno":"XPRV01","omsgid":"H99010000012024052012000001","seal":"1"});
    let applied = json!({"state":"applied","answer": split_output()});
    let reply_query = StatusQuery {
        oinfno: Infno::Xprv22,
        omsgid: "R1".into(),
        seal: false,
    };
    let reversed = StatusAnswer {
        state: StatusState::Reversed,
        answer: Some(json!({"confirmed_cnt":1,"refused_cnt":0,"confirmed_fund_pay_sumamt":"1.00"})),
    };
    let key = IdempotencyKey {
        sender: "990100".parse().unwrap(),
        infno: Infno::Xprv01,
        msgid: "H1".into(),
    };
    vec![
        case(
            rule::STAT_OINFNO,
            "input.oinfno",
            "asks about a read-only message",
            input(Infno::Xprv03, &set(&q, "/oinfno", json!("XPRV11"))),
        ),
        case(
            rule::STAT_OINFNO,
            "input.oinfno",
            "asks about a status query",
            input(Infno::Xprv03, &set(&q, "/oinfno", json!("XPRV03"))),
        ),
        case(
            rule::STAT_ANSWER_PRESENCE,
            "output.answer",
            "applied without answer",
            output(Infno::Xprv03, &edit(&applied, "/answer", None)),
        ),
        case(
            rule::STAT_ANSWER_PRESENCE,
            "output.answer",
            "sealed with answer",
            output(Infno::Xprv03, &set(&applied, "/state", json!("sealed"))),
        ),
        case(
            rule::STAT_REVERSED_KIND,
            "output.state",
            "a reply reversed",
            check_status_answer(&reply_query, &reversed),
        ),
        case(
            rule::STAT_SEALED,
            "msgid",
            "late original",
            Err::<(), _>(key.sealed()),
        ),
        // the embedded answer is held to its own message's rules, under output.answer
        case(
            rule::SPLIT_PERSON_PART,
            "output.answer.setlinfo.psn_part_amt",
            "embedded split broken",
            {
                let query = StatusQuery {
                    oinfno: Infno::Xprv01,
                    omsgid: "H1".into(),
                    seal: true,
                };
                let broken = set(
                    &set(&split_output(), "/setlinfo/psn_part_amt", json!("0.00")),
                    "/setlinfo/psn_cash_pay",
                    json!("0.00"),
                );
                check_status_answer(
                    &query,
                    &StatusAnswer {
                        state: StatusState::Applied,
                        answer: Some(broken),
                    },
                )
            },
        ),
    ]
}

#[test]
fn statuses() {
    check(&status_cases());
    let query = StatusQuery {
        oinfno: Infno::Xprv01,
        omsgid: "H1".into(),
        seal: true,
    };
    let applied = StatusAnswer {
        state: StatusState::Reversed,
        answer: Some(split_output()),
    };
    assert_eq!(
        check_status_answer(&query, &applied).unwrap(),
        Some(PeerAnswer::Split(the_split()))
    );
    let sealed = StatusAnswer {
        state: StatusState::Sealed,
        answer: None,
    };
    assert_eq!(check_status_answer(&query, &sealed).unwrap(), None);
}

fn recon_cases() -> Vec<Case> {
    let t = recon_totals();
    let d = recon_detail();
    let row = d["rows"][0].clone();
    let many: Vec<Value> = (0..501).map(|_| row.clone()).collect();
    let PeerRequest::ReconTotals(sent) = input(Infno::Xprv11, &t).unwrap() else {
        unreachable!()
    };
    let mut ours = sent.totals;
    ours.fwd_cnt = 2;
    let lying = ReconTotalsAnswer {
        stmt_rslt: StmtResult::Agree,
        totals: ours,
    };
    let difference = json!({"differences":[{"omsgid":"A1","aaa113":1,"kind":"missing_at_receiver","sender_medfee_sumamt":"1.00","sender_fund_pay_sumamt":"1.00","receiver_medfee_sumamt":"1.00","receiver_fund_pay_sumamt":"1.00"}]});
    let too_many: Vec<Value> = (0..1001).map(|i| json!({"omsgid": format!("A{i:04}"), "aaa113": 1, "kind": "missing_at_sender", "receiver_medfee_sumamt": "1.00", "receiver_fund_pay_sumamt": "1.00"})).collect();
    let x = |v: &Value| input(Infno::Xprv12, v);
    vec![
        case(
            rule::REC_ROW_COUNT,
            "input.rows",
            "501 rows",
            x(&set(&d, "/rows", Value::Array(many))),
        ),
        case(
            rule::REC_ROW_COUNT,
            "output.differences",
            "1001 differences",
            output(Infno::Xprv12, &json!({"differences": too_many})),
        ),
        case(
            rule::REC_SIGN,
            "input.fwd_medfee_sumamt",
            "negative forward sum",
            input(
                Infno::Xprv11,
                &set(&t, "/fwd_medfee_sumamt", json!("-1.00")),
            ),
        ),
        case(
            rule::REC_SIGN,
            "input.rev_cnt",
            "zero count, non-zero sums",
            input(
                Infno::Xprv11,
                &set(
                    &set(&t, "/rev_medfee_sumamt", json!("-1.00")),
                    "/rev_fund_pay_sumamt",
                    json!("-1.00"),
                ),
            ),
        ),
        case(
            rule::REC_SIGN,
            "input.rows[1].medfee_sumamt",
            "positive reversal row",
            x(&set(&d, "/rows/1/medfee_sumamt", json!("25600.00"))),
        ),
        case(
            rule::REC_SIGN,
            "input.rows[0].fund_pay_sumamt",
            "fund above total",
            x(&set(&d, "/rows/0/fund_pay_sumamt", json!("25600.01"))),
        ),
        case(
            rule::REC_ORDER,
            "input.rows[1].omsgid",
            "rows out of order",
            x(&set(&d, "/rows", json!([d["rows"][1], d["rows"][0]]))),
        ),
        case(
            rule::REC_ORDER,
            "input.rows[1].omsgid",
            "a row twice",
            x(&set(&d, "/rows/1", row.clone())),
        ),
        case(
            rule::REC_DATE,
            "input.rows[0].setl_time",
            "row of another day",
            x(&set(&d, "/rows/0/setl_time", json!("2024-05-21 00:00:01"))),
        ),
        case(
            rule::REC_PAGING,
            "input.startrow",
            "startrow 0",
            x(&set(&d, "/startrow", json!(0))),
        ),
        case(
            rule::REC_PAGING,
            "input.startrow",
            "rows beyond the day",
            x(&set(&d, "/rows_total", json!(1))),
        ),
        case(
            rule::REC_RESULT,
            "output.stmt_rslt",
            "agree on different figures",
            check_totals_answer(&sent, &lying),
        ),
        case(
            rule::REC_DIFFERENCE,
            "output.differences[0].kind",
            "missing but present",
            output(Infno::Xprv12, &difference),
        ),
        case(
            rule::REC_DIFFERENCE,
            "output.differences[0].kind",
            "differs but equal",
            output(
                Infno::Xprv12,
                &set(&difference, "/differences/0/kind", json!("amount_differs")),
            ),
        ),
    ]
}

#[test]
fn reconciliation() {
    check(&recon_cases());
    let PeerRequest::ReconDetail(page) = input(Infno::Xprv12, &recon_detail()).unwrap() else {
        unreachable!()
    };
    assert!(page.is_last_page());
    assert_eq!(day_totals(&page.rows).rev_medfee_sumamt, fen("-25600.00"));
}

fn clearing_cases() -> Vec<Case> {
    let s = statement();
    let r = reply();
    let x = |v: &Value| input(Infno::Xprv21, v);
    let y = |v: &Value| input(Infno::Xprv22, v);
    let lines = statement_lines();
    let PeerRequest::Statement(whole) = x(&s).unwrap() else {
        unreachable!()
    };
    let PeerRequest::Reply(good_reply) = y(&r).unwrap() else {
        unreachable!()
    };
    let mut first_page = whole.clone();
    first_page.lines.truncate(1);
    let mut second_page = whole.clone();
    second_page.lines.drain(..1);
    second_page.startrow = 2;
    let mut moved_due = second_page.clone();
    moved_due.pay_due_date = moved_due.pay_due_date.next_day().unwrap();
    assert!(check_statement_complete(&[first_page.clone(), second_page.clone()]).is_ok());
    let unknown = ClearingReply {
        lines: vec![ReplyLine {
            seqno: 3,
            flag: ReplyFlag::Confirm,
            reason: None,
        }],
        ..good_reply.clone()
    };
    let wrong_answer = ReplyAnswer {
        confirmed_cnt: 2,
        refused_cnt: 0,
        confirmed_fund_pay_sumamt: fen("18940.00"),
    };
    let garbage: Vec<Value> = (0..501).map(|_| json!({})).collect();
    vec![
        case(
            rule::CLR_LINE_COUNT,
            "input.lines",
            "501 lines",
            x(&set(&s, "/lines", Value::Array(garbage))),
        ),
        case(
            rule::CLR_LINE_COUNT,
            "input.lines",
            "empty reply",
            y(&set(&r, "/lines", json!([]))),
        ),
        case(
            rule::CLR_PROVINCE,
            "input.mdtrtarea_prov",
            "one province",
            x(&set(&s, "/mdtrtarea_prov", json!("880000"))),
        ),
        case(
            rule::CLR_PROVINCE,
            "input.mdtrtarea_prov",
            "province of another region",
            PeerRequest::Statement(whole.clone()).check_against_envelope(&RequestEnvelope {
                ver: "1".into(),
                infno: Infno::Xprv21,
                msgid: "M1".into(),
                mdtrtarea_admvs: "770100".parse().unwrap(),
                insuplc_admdvs: "880100".parse().unwrap(),
                send_time: String::new(),
                input: Value::Null,
            }),
        ),
        case(
            rule::CLR_SEQNO,
            "input.lines[1].seqno",
            "gap in seqno",
            x(&set(&s, "/lines/1/seqno", json!(3))),
        ),
        case(
            rule::CLR_SEQNO,
            "input.startrow",
            "lines beyond cnt",
            x(&set(&s, "/startrow", json!(2))),
        ),
        case(
            rule::CLR_SEQNO,
            "input.lines[0].seqno",
            "reply seqno 0",
            y(&set(&r, "/lines/0/seqno", json!(0))),
        ),
        case(
            rule::CLR_SIGN,
            "input.lines[0].medfee_sumamt",
            "negative forward line",
            x(&set(&s, "/lines/0/medfee_sumamt", json!("-25600.00"))),
        ),
        case(
            rule::CLR_SIGN,
            "input.cnt",
            "empty statement with totals",
            x(&set(&set(&s, "/cnt", json!(0)), "/lines", json!([]))),
        ),
        case(
            rule::CLR_MONTH,
            "input.lines[1].carried_from",
            "carried from its own month",
            x(&set(&s, "/lines/1/carried_from", json!("202405"))),
        ),
        case(
            rule::CLR_MONTH,
            "input.lines[1].setl_time",
            "line of another month",
            x(&edit(&s, "/lines/1/carried_from", None)),
        ),
        case(
            rule::CLR_DUE_DATES,
            "input.stmt_due_date",
            "due inside the month",
            x(&set(&s, "/stmt_due_date", json!("2024-05-31"))),
        ),
        case(
            rule::CLR_DUE_DATES,
            "input.pay_due_date",
            "pay before statement",
            x(&set(&s, "/pay_due_date", json!("2024-06-06"))),
        ),
        case(
            rule::CLR_DUPLICATE,
            "input.lines[1].omsgid",
            "a line twice",
            x(&set(
                &set(&s, "/lines/1", s["lines"][0].clone()),
                "/lines/1/seqno",
                json!(2),
            )),
        ),
        case(
            rule::CLR_DUPLICATE,
            "input.lines[1].seqno",
            "a reply line twice",
            y(&set(&r, "/lines/1/seqno", json!(1))),
        ),
        case(
            rule::CLR_INCOMPLETE,
            "input.medfee_sumamt",
            "whole statement, wrong total",
            x(&set(&s, "/medfee_sumamt", json!("26600.01"))),
        ),
        case(
            rule::CLR_INCOMPLETE,
            "input.pay_due_date",
            "pages disagree",
            check_statement_complete(&[first_page.clone(), moved_due]),
        ),
        case(
            rule::CLR_INCOMPLETE,
            "input.cnt",
            "a page missing",
            check_statement_complete(&[first_page]),
        ),
        case(
            rule::CLR_REASON,
            "input.lines[1].reason",
            "refused without reason",
            y(&edit(&r, "/lines/1/reason", None)),
        ),
        case(
            rule::CLR_ANSWER,
            "output.received_rows",
            "receipt short",
            check_statement_receipt(&whole, &StatementReceipt { received_rows: 1 }),
        ),
        case(
            rule::CLR_ANSWER,
            "output.confirmed_cnt",
            "reply answer off",
            check_reply_answer(&lines, &good_reply, &wrong_answer),
        ),
        case(
            rule::CLR_UNKNOWN_SEQNO,
            "input.lines[0].seqno",
            "reply to a line not sent",
            reply_answer(&lines, &unknown),
        ),
    ]
}

#[test]
fn clearing() {
    check(&clearing_cases());
}

fn prepayment_cases() -> Vec<Case> {
    let p = prepayment();
    let x = |v: &Value| input(Infno::Xprv31, v);
    vec![
        // rounding a month first (1200000.03 / 12 → 100000.00, × 2) is the rounding refused
        case(
            rule::PRE_REQUIRED,
            "input.required_amt",
            "rounded twice",
            x(&set(
                &set(&p, "/required_amt", json!("200000.00")),
                "/movement_amt",
                json!("50000.00"),
            )),
        ),
        case(
            rule::PRE_MOVEMENT,
            "input.movement",
            "wrong direction",
            x(&set(&p, "/movement", json!("refund"))),
        ),
        case(
            rule::PRE_MOVEMENT,
            "input.movement_amt",
            "a drawdown of more than is held",
            x(&set(
                &set(&p, "/movement", json!("drawdown")),
                "/movement_amt",
                json!("150000.01"),
            )),
        ),
        case(
            rule::PRE_MOVEMENT,
            "input.balance_after",
            "a balance after the movement that it does not leave",
            x(&set(&p, "/balance_after", json!("200000.00"))),
        ),
        case(
            rule::PRE_MOVEMENT,
            "input.movement",
            "wrong amount",
            x(&set(&p, "/movement_amt", json!("50000.00"))),
        ),
        case(
            rule::PRE_NEGATIVE,
            "input.balance",
            "negative balance",
            x(&set(&p, "/balance", json!("-1.00"))),
        ),
        case(
            rule::PRE_PROVINCE,
            "input.mdtrtarea_prov",
            "one province",
            x(&set(&p, "/mdtrtarea_prov", json!("880000"))),
        ),
    ]
}

#[test]
fn prepayments() {
    check(&prepayment_cases());
    assert_eq!(prepayment_required(fen("1200000.03")), fen("200000.01"));
    let ack = output(Infno::Xprv31, &json!({"ack":"0"})).unwrap_err();
    assert_eq!(
        (ack.rule, ack.path.as_str()),
        (rule::FMT_CODE, "output.ack")
    );
}

#[test]
fn every_rule_has_a_refused_case() {
    let all: Vec<Case> = [
        fmt_cases(),
        env_cases(),
        summary_cases(),
        split_cases(),
        reversal_cases(),
        status_cases(),
        recon_cases(),
        clearing_cases(),
        prepayment_cases(),
    ]
    .into_iter()
    .flatten()
    .collect();
    check(&all);
    let covered: BTreeSet<&str> = all.iter().map(|c| c.rule).collect();
    let missing: Vec<&&str> = rule::ALL
        .iter()
        .filter(|r| !covered.contains(**r))
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a refused case: {missing:?}"
    );
}
