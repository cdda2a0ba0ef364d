//! The Guizhou (Yinhai `prm_`) profile: the §5.1/§5.2 fixtures, every transaction, the
//! two-phase control calls, every recode table entry and every rule id.

mod common;

use common::*;
use medsettle_legacy::*;
use serde_json::{Value, json};

const NONE: &[(String, String)] = &[];

fn gz() -> Profile {
    profile("guizhou")
}

#[test]
fn fixture_5_1_inpatient_settlement() {
    let p = gz();
    let call = ok(&p, "41", NONE, &fixture("guizhou/41.xml"));
    assert_eq!(call.encoding, Encoding::Gbk);
    assert!(call.two_phase);
    assert_eq!(call.kind, CallKind::National);
    assert_eq!(call.psn_no.as_deref(), Some("9900000001"));
    assert_eq!(call.opter.as_deref(), Some("0001"));
    assert_eq!(call.opter_name.as_deref(), Some("测试员"));
    assert_eq!(call.sender_serial, None);
    assert_eq!(call.steps.len(), 1);
    assert_eq!(call.steps[0].infno, "2304");
    assert_eq!(
        call.steps[0].input,
        json!({"data": {
            "mdtrt_id": "ZY9901202405000001", "psn_no": "9900000001", "med_type": "21",
            "insutype": "310", "medfee_sumamt": "12345.67", "invono": "FP00000001",
            "mdtrt_cert_type": "03", "mdtrt_cert_no": "9900000001", "psn_setlway": "01",
            "acct_used_flag": "1", "mid_setl_flag": "0"}})
    );
    assert!(
        call.repairs.iter().any(|n| n.field == "proxy"),
        "{:?}",
        call.repairs
    );
    assert_eq!(call.derived.len(), 5);
    assert!(
        call.derived
            .iter()
            .any(|n| n.field == "2304/data/psn_setlway")
    );
    assert_national(&call);
}

#[test]
fn every_fixture_decodes_nationally() {
    let p = gz();
    for (tx, steps) in [
        ("03", vec!["1101"]),
        ("21", vec!["2401"]),
        ("31", vec!["2301"]),
        ("41", vec!["2304"]),
        ("42", vec!["2305"]),
        ("43", vec!["2303"]),
        ("48", vec!["2201", "2204", "2207"]),
    ] {
        let call = ok(&p, tx, NONE, &fixture(&format!("guizhou/{tx}.xml")));
        let got: Vec<&str> = call.steps.iter().map(|s| s.infno.as_str()).collect();
        assert_eq!(got, steps, "{tx}");
        assert_national(&call);
    }
}

#[test]
fn outpatient_48_carries_the_visit_id() {
    let call = ok(&gz(), "48", NONE, &fixture("guizhou/48.xml"));
    assert_eq!(call.steps[0].input["data"]["ipt_otp_no"], "MZ20240511001");
    assert_eq!(call.steps[0].input["data"]["psn_type"], "1101");
    let carries: Vec<(usize, &str, &str)> = call
        .steps
        .iter()
        .flat_map(|s| {
            s.carry
                .iter()
                .map(|c| (c.from_step, c.from.as_str(), c.to.as_str()))
        })
        .collect();
    assert_eq!(
        carries,
        vec![
            (0, "/data/mdtrt_id", "/feedetail/0/mdtrt_id"),
            (0, "/data/mdtrt_id", "/feedetail/1/mdtrt_id"),
            (0, "/data/mdtrt_id", "/data/mdtrt_id"),
        ]
    );
    let lines = &call.steps[1].input["feedetail"];
    assert_eq!(lines[0]["med_chrgitm_type"], "09");
    assert_eq!(lines[0]["chrgitm_lv"], "1");
    // 92 其它全自费 → 14 and chrgitm_lv 3
    assert_eq!(lines[1]["med_chrgitm_type"], "14");
    assert_eq!(lines[1]["chrgitm_lv"], "3");
    assert_eq!(lines[1]["cnt"], "1.0000");
    assert_eq!(call.steps[2].input["data"]["medfee_sumamt"], "105.20");
    assert!(
        call.derived
            .iter()
            .any(|n| n.field == "2204/feedetail/*/chrg_bchno")
    );
}

#[test]
fn fee_upload_31_reads_scalars_without_prefix() {
    let call = ok(&gz(), "31", NONE, &fixture("guizhou/31.xml"));
    let lines = call.steps[0].input["feedetail"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["mdtrt_id"], "ZY9901202405000001");
    assert_eq!(lines[1]["med_type"], "21");
    assert_eq!(lines[0]["det_item_fee_sumamt"], "45.20");
    assert!(
        !call.repairs.iter().any(|n| n.what.contains("prefix")),
        "{:?}",
        call.repairs
    );
}

#[test]
fn two_phase_control_calls() {
    let p = gz();
    let c = ok(&p, "confirm", NONE, &fixture("guizhou/confirm.xml"));
    assert_eq!(
        c.kind,
        CallKind::Confirm {
            jylsh: "41C9901TEST0001".into(),
            jyyzm: "123456".into()
        }
    );
    assert!(c.steps.is_empty());
    let c = ok(&p, "cancel", NONE, &fixture("guizhou/cancel.xml"));
    assert_eq!(
        c.kind,
        CallKind::Cancel {
            jylsh: "41C9901TEST0001".into()
        }
    );
    let c = ok(
        &p,
        "getuncertaintytrade",
        NONE,
        &fixture("guizhou/getuncertaintytrade.xml"),
    );
    assert_eq!(c.kind, CallKind::Uncertain { jybh: "41".into() });
    let e = err(
        &p,
        "confirm",
        NONE,
        &gbk("<input><prm_jylsh>X</prm_jylsh></input>"),
    );
    assert_eq!((e.rule, e.field.as_str()), (LEG_FIELD, "prm_jyyzm"));

    let a = encode_uncertain(
        &p,
        Encoding::Gbk,
        &[UncertainRow {
            jylsh: "41C9901TEST0001".into(),
            jybh: "41".into(),
            akc190: "ZY9901202405000001".into(),
            time: "2024-05-20 10:30:00".into(),
        }],
    );
    assert_eq!(
        text(&a.body, true),
        "<?xml version=\"1.0\" encoding=\"GBK\" standalone=\"yes\" ?><output><row><jylsh>41C9901TEST0001</jylsh><jybh>41</jybh><akc190>ZY9901202405000001</akc190><aae036>2024-05-20 10:30:00</aae036></row></output>"
    );
}

fn output_2304() -> Value {
    serde_json::from_str(
        r#"{"setlinfo":{"mdtrt_id":"ZY9901202405000001","setl_id":"JS9901202405000001","psn_no":"9900000001",
        "psn_name":"张三","gend":"1","psn_type":"1101","setl_time":"2024-05-20 10:30:00","medfee_sumamt":12345.67,
        "fulamt_ownpay_amt":345.67,"preselfpay_amt":500.00,"inscp_scp_amt":11500.00,"act_pay_dedc":800.00,
        "hifp_pay":9095.00,"hifob_pay":0,"cvlserv_pay":0,"fund_pay_sumamt":9095.00,"psn_part_amt":3250.67,
        "acct_pay":1000.00,"psn_cash_pay":2250.67,"balc":234.56,"clr_optins":"990100","clr_way":"1","clr_type":"21"},
        "setldetail":[{"fund_pay_type":"310100","fund_payamt":9095.00}]}"#,
    )
    .unwrap()
}

#[test]
fn answer_5_2_from_national_output() {
    let p = gz();
    let call = ok(&p, "41", NONE, &fixture("guizhou/41.xml"));
    let a = encode_answer(&p, &call, &[output_2304()]).unwrap();
    assert_eq!((a.appcode, a.encoding), (1, Encoding::Gbk));
    assert_eq!(
        text(&a.body, true),
        "<?xml version=\"1.0\" encoding=\"GBK\" standalone=\"yes\" ?><output><prm_akc190>ZY9901202405000001</prm_akc190><prm_yka103>JS9901202405000001</prm_yka103><prm_aac001>9900000001</prm_aac001><prm_aac003>张三</prm_aac003><prm_aac004>1</prm_aac004><prm_akc021>11</prm_akc021><prm_aae036>2024-05-20 10:30:00</prm_aae036><prm_yka055>12345.67</prm_yka055><prm_yka056>345.67</prm_yka056><prm_yka057>500.00</prm_yka057><prm_yka111>11500.00</prm_yka111><prm_yka058>800.00</prm_yka058><prm_yka248>9095.00</prm_yka248><prm_yka062>0.00</prm_yka062><prm_yke030>0.00</prm_yke030><prm_yka065>1000.00</prm_yka065><prm_akc087>234.56</prm_akc087><prm_ykb037>990100</prm_ykb037><prm_yka054>1</prm_yka054></output>"
    );
}

#[test]
fn answer_5_2_read_back_derives_cash() {
    let p = gz();
    let call = ok(&p, "41", NONE, &fixture("guizhou/41.xml"));
    let d = decode_answer(
        &p,
        &call,
        &fixture("guizhou/41-answer.xml"),
        &Limits::default(),
    )
    .unwrap();
    let s = &d.outputs[0]["setlinfo"];
    assert_eq!(s["setl_id"], "JS9901202405000001");
    assert_eq!(s["medfee_sumamt"], "12345.67");
    assert_eq!(s["hifp_pay"], "9095.00");
    assert_eq!(s["acct_pay"], "1000.00");
    assert_eq!(s["psn_type"], "1101");
    // reference §5.2: psn_cash_pay 2250.67 derived = 12345.67 − 9095.00 − 1000.00
    assert_eq!(s["psn_cash_pay"], "2250.67");
    assert_eq!(s["fund_pay_sumamt"], "9095.00");
    assert_eq!(d.derived.len(), 2);
    assert_eq!(d.derived[0].field, "2304/setlinfo/psn_cash_pay");
}

#[test]
fn fee_upload_answer_has_row_status() {
    let p = gz();
    let call = ok(&p, "31", NONE, &fixture("guizhou/31.xml"));
    let out = json!({"result": [
        {"feedetl_sn": "M0001", "det_item_fee_sumamt": 45.20, "cnt": 2, "pric": 22.6, "fulamt_ownpay_amt": 0,
         "preselfpay_amt": 4.52, "inscp_scp_amt": 40.68},
        {"feedetl_sn": "M0002", "det_item_fee_sumamt": "60.00", "cnt": 1, "pric": 60, "fulamt_ownpay_amt": "60.00"}]});
    let a = encode_answer(&p, &call, &[out]).unwrap();
    assert_eq!(
        text(&a.body, true),
        "<?xml version=\"1.0\" encoding=\"GBK\" standalone=\"yes\" ?><output><row><akc190>ZY9901202405000001</akc190><yka105>M0001</yka105><yka317>0.00</yka317><yka318>4.52</yka318><yka319>40.68</yka319><code>1</code><message></message></row><row><akc190>ZY9901202405000001</akc190><yka105>M0002</yka105><yka317>60.00</yka317><yka318></yka318><yka319></yka319><code>1</code><message></message></row></output>"
    );
    let e = national_failure(
        &p,
        "31",
        Some("input.feedetail[0].med_list_codg"),
        "项目未对照",
    );
    assert_eq!(e.field, "yka002");
    let a = encode_error(&p, "31", Encoding::Gbk, &e);
    assert_eq!(a.appcode, -1);
    assert_eq!(
        text(&a.body, true),
        "<?xml version=\"1.0\" encoding=\"GBK\" standalone=\"yes\" ?><output><row><code>-1</code><message>[LEG-NATIONAL] yka002: 项目未对照</message></row></output>"
    );
}

#[test]
fn admission_and_person_answers() {
    let p = gz();
    let call = ok(&p, "21", NONE, &fixture("guizhou/21.xml"));
    let a = encode_answer(
        &p,
        &call,
        &[json!({"result": {"mdtrt_id": "ZY9901202405000001"}})],
    )
    .unwrap();
    assert!(
        text(&a.body, true)
            .ends_with("<output><prm_akc190>ZY9901202405000001</prm_akc190></output>")
    );
    let call = ok(&p, "03", NONE, &fixture("guizhou/03.xml"));
    assert_eq!(call.steps[0].input["data"]["mdtrt_cert_type"], "03");
    let out = json!({"baseinfo": {"psn_no": "9900000001", "certno": "990101199001010000", "psn_name": "张三",
        "gend": "1", "brdy": "1990-01-01"}, "insuinfo": [{"insutype": "390", "psn_type": "1501", "balc": 0,
        "insuplc_admdvs": "990100", "emp_name": ""}]});
    let t = text(&encode_answer(&p, &call, &[out]).unwrap().body, true);
    assert!(t.contains("<prm_aac006>1990-01-01</prm_aac006><prm_akc021></prm_akc021><prm_ykb065>3</prm_ykb065><prm_akc087>0.00</prm_akc087>"), "{t}");
}

#[test]
fn a_name_outside_gbk_is_answered_in_gb18030() {
    let p = gz();
    let call = ok(&p, "41", NONE, &fixture("guizhou/41.xml"));
    let mut out = output_2304();
    out["setlinfo"]["psn_name"] = json!("张𠀀");
    let a = encode_answer(&p, &call, &[out.clone()]).unwrap();
    assert_eq!(a.encoding, Encoding::Gb18030);
    let (t, _, bad) = encoding_rs::GB18030.decode(&a.body);
    assert!(!bad);
    assert!(t.starts_with("<?xml version=\"1.0\" encoding=\"GB18030\""));
    assert!(t.contains("<prm_aac003>张𠀀</prm_aac003>"));
    // a profile without the GB18030 allowance refuses, naming the field
    let text = include_str!("../../../specs/legacy/guizhou.toml")
        .replace("gb18030_answers = true", "gb18030_answers = false");
    let strict = Profile::from_toml(&text).unwrap();
    let e = encode_answer(&strict, &call, &[out]).unwrap_err();
    assert_eq!((e.rule, e.field.as_str()), (LEG_ENCODING, "prm_aac003"));
}

#[test]
fn every_recode_entry() {
    let p = gz();
    let def = p.definition();
    for (name, table) in &def.tables {
        for e in &table.entries {
            if e.reverse_only {
                assert!(
                    p.recode_back(name, &e.national).is_some(),
                    "{name} {}",
                    e.national
                );
                continue;
            }
            match p.recode(name, &e.legacy, "f") {
                Ok(hit) if e.refuse.is_empty() => assert!(!hit.national.is_empty()),
                Err(err) if !e.refuse.is_empty() => assert_eq!(err.rule, LEG_RECODE),
                other => panic!("{name} {}: {other:?}", e.legacy),
            }
        }
        let e = p.recode(name, "ZZ9", "f").unwrap_err();
        assert!(e.message.contains(name.as_str()), "{e}");
    }
    // spot checks of §2
    assert_eq!(p.recode("aka130", "18", "f").unwrap().national, "14");
    assert_eq!(p.recode("aka130", "M31", "f").unwrap().national, "52");
    assert_eq!(p.recode("ykb065", "2", "f").unwrap().national, "310");
    assert_eq!(p.recode_back("ykb065", "310"), Some("1"));
    assert_eq!(p.recode_back("akc021", "1202"), Some("21"));
}

fn gz41(replace: &str, with: &str) -> Vec<u8> {
    let t = text(&fixture("guizhou/41.xml"), true);
    assert!(t.contains(replace), "{replace}");
    gbk(&t.replacen(replace, with, 1))
}

#[test]
fn every_rule_id() {
    let p = gz();
    let e = |body: &[u8]| err(&p, "41", NONE, body);
    // LEG-ENCODING: an invalid GBK sequence, named by offset
    let mut bad = fixture("guizhou/41.xml");
    let at = bad.len() - 60;
    bad[at] = 0x81;
    bad[at + 1] = 0x20;
    let x = e(&bad);
    assert_eq!(x.rule, LEG_ENCODING);
    assert_eq!(x.byte_offset, Some(at));
    // LEG-ENCODING-DECLARED
    assert_eq!(
        e(&gz41("encoding=\"GBK\"", "encoding=\"ISO-8859-1\"")).rule,
        LEG_ENCODING_DECLARED
    );
    assert_eq!(
        e(&gz41("encoding=\"GBK\"", "encoding=\"UTF-8\"")).rule,
        LEG_ENCODING_DECLARED
    );
    // LEG-XML
    assert_eq!(e(&gz41("</input>", "</inpu>")).rule, LEG_XML);
    // LEG-XML-DOCTYPE
    assert_eq!(
        e(&gz41(
            "<input>",
            "<!DOCTYPE input [<!ENTITY a \"b\">]><input>"
        ))
        .rule,
        LEG_XML_DOCTYPE
    );
    // LEG-LIMIT
    let tight = Limits {
        rows_max: 1,
        ..Limits::default()
    };
    let x = decode_call(&p, "31", NONE, &fixture("guizhou/31.xml"), &tight).unwrap_err();
    assert_eq!((x.rule, x.field.as_str()), (LEG_LIMIT, "rows_max"));
    let tight = Limits {
        body_bytes_max: 100,
        ..Limits::default()
    };
    let x = decode_call(&p, "41", NONE, &fixture("guizhou/41.xml"), &tight).unwrap_err();
    assert_eq!((x.rule, x.field.as_str()), (LEG_LIMIT, "body_bytes_max"));
    // LEG-ENVELOPE
    assert_eq!(
        e(&gz41("<input>", "<output>").replace_last()).rule,
        LEG_ENVELOPE
    );
    // LEG-TX
    assert_eq!(err(&p, "99", NONE, &fixture("guizhou/41.xml")).rule, LEG_TX);
    // LEG-FIELD
    let x = e(&gz41("<prm_akc190>ZY9901202405000001</prm_akc190>", ""));
    assert_eq!((x.rule, x.field.as_str()), (LEG_FIELD, "prm_akc190"));
    // LEG-AMOUNT
    let x = e(&gz41("12345.67", "12345.6789"));
    assert_eq!((x.rule, x.field.as_str()), (LEG_AMOUNT, "prm_hisfyze"));
    let c = ok(&p, "41", NONE, &gz41("12345.67", "12345.6700"));
    assert_eq!(c.steps[0].input["data"]["medfee_sumamt"], "12345.67");
    assert!(c.repairs.iter().any(|n| n.field == "prm_hisfyze"));
    // LEG-DATE
    let body = text(&fixture("guizhou/21.xml"), true).replace("2024-05-10", "2024-13-10");
    let x = err(&p, "21", NONE, &gbk(&body));
    assert_eq!((x.rule, x.field.as_str()), (LEG_DATE, "prm_akc192"));
    // LEG-RECODE
    let x = e(&gz41("<prm_aka130>31<", "<prm_aka130>G31<"));
    assert_eq!((x.rule, x.field.as_str()), (LEG_RECODE, "prm_aka130"));
    assert!(x.message.contains("work injury"));
    let x = e(&gz41("<prm_aka130>31<", "<prm_aka130>77<"));
    assert_eq!(x.rule, LEG_RECODE);
    assert!(x.message.contains("aka130"));
    // the refusal answered in the dialect: out of band, GBK
    let a = encode_error(&p, "41", Encoding::Gbk, &x);
    assert_eq!(a.appcode, -1);
    assert!(
        a.appmsg.starts_with("[LEG-RECODE] prm_aka130:"),
        "{}",
        a.appmsg
    );
    assert_eq!(
        text(&a.body, true),
        "<?xml version=\"1.0\" encoding=\"GBK\" standalone=\"yes\" ?><output></output>"
    );
}

trait ReplaceLast {
    fn replace_last(self) -> Vec<u8>;
}
impl ReplaceLast for Vec<u8> {
    fn replace_last(self) -> Vec<u8> {
        let t = text(&self, true).replace("</input>", "</output>");
        gbk(&t)
    }
}

#[test]
fn tolerances_are_recorded() {
    let p = gz();
    let t = text(&fixture("guizhou/41.xml"), true);
    // BOM + UTF-8 declaration, CRLF, stray whitespace, a value with spaces, an empty element
    let body = t
        .replace("encoding=\"GBK\"", "encoding=\"UTF-8\"")
        .replace("><prm_yab003>", ">\r\n  <prm_yab003>")
        .replace(
            "<prm_yka110>FP00000001</prm_yka110>",
            "<prm_yka110></prm_yka110>",
        )
        .replace(
            "<prm_aac001>9900000001</prm_aac001>",
            "<prm_aac001> 9900000001 </prm_aac001>",
        );
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(body.as_bytes());
    let c = ok(&p, "41", NONE, &bytes);
    assert_eq!(c.encoding, Encoding::Utf8);
    let fields: Vec<&str> = c.repairs.iter().map(|n| n.field.as_str()).collect();
    for f in ["bom", "crlf", "xml", "prm_aac001", "prm_yka110", "proxy"] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }
    assert_eq!(c.steps[0].input["data"]["psn_no"], "9900000001");
    assert!(c.steps[0].input["data"].get("invono").is_none());
    // no declaration: GBK by default, recorded
    let body = t.split_once("?>\n").unwrap().1;
    let c = ok(&p, "41", NONE, &gbk(body));
    assert!(c.repairs.iter().any(|n| n.field == "declaration"));
}

#[test]
fn legacy_field_names_the_wire_field() {
    let p = gz();
    assert_eq!(
        legacy_field(&p, "41", "input.data.medfee_sumamt").as_deref(),
        Some("prm_hisfyze")
    );
    assert_eq!(
        legacy_field(&p, "41", "/data/mdtrt_id").as_deref(),
        Some("prm_akc190")
    );
    assert_eq!(
        legacy_field(&p, "48", "input.feedetail[2].pric").as_deref(),
        Some("akc225")
    );
    assert_eq!(legacy_field(&p, "41", "input.data.nothing"), None);
}

/// Found by the fuzzer (RELIABILITY.md, "Fuzzing", finding 2): a name whose first bytes
/// are not a whole character where the `prm_` prefix would end used to panic the reader.
#[test]
fn a_non_ascii_element_or_attribute_name_is_read_not_a_panic() {
    let p = Profile::builtin("guizhou").unwrap();
    for body in [
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><input><ab猟>1</ab猟></input>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><input><row ab猟=\"1\"/></input>",
    ] {
        // Refused or read; never a panic.
        let _ = decode_call(&p, "41", NONE, body.as_bytes(), &Limits::default());
    }
}
