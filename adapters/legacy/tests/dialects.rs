//! The Shijiazhuang, Yunnan and MOHRSS profiles, and what holds for every built-in profile.

mod common;

use common::*;
use medsettle_legacy::*;
use serde_json::json;

const NONE: &[(String, String)] = &[];

fn yd_args(tx: &str) -> Vec<(String, String)> {
    args(&[
        ("TransCode", tx),
        ("SenderSerialNo", "H990100000012024052010300001"),
        ("PersonNo", "8800000042"),
        ("SICardNo", "C88000042"),
        ("InsuredAreaNo", "880100"),
        ("OperatorNo", "0001"),
    ])
}

#[test]
fn every_builtin_fixture_decodes_nationally() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        ("shijiazhuang", "1401", "shijiazhuang/1401.xml", &["1101"]),
        (
            "shijiazhuang",
            "1108",
            "shijiazhuang/1108.xml",
            &["2201", "2204", "2207"],
        ),
        (
            "shijiazhuang",
            "1107",
            "shijiazhuang/1107.xml",
            &["2201", "2204", "2206"],
        ),
        ("shijiazhuang", "1202", "shijiazhuang/1202.xml", &["2208"]),
        ("yunnan", "11", "yunnan/11.xml", &["2201"]),
        ("yunnan", "12", "yunnan/12.xml", &["2204"]),
        ("yunnan", "14", "yunnan/14.xml", &["2207"]),
        ("yunnan", "14", "yunnan/14-inpatient.xml", &["2304"]),
        ("yunnan", "21", "yunnan/21.xml", &["2208"]),
        ("yunnan", "72", "yunnan/72.xml", &["2206"]),
        ("mohrss", "F00.01.03", "mohrss/F00.01.03.xml", &["1101"]),
    ];
    for (name, tx, file, steps) in cases {
        let p = profile(name);
        let mut a = if *name == "yunnan" {
            yd_args(tx)
        } else {
            Vec::new()
        };
        if *name == "yunnan" && *tx == "21" {
            a.push((
                "OldSenderSerialNo".into(),
                "H990100000012024052010300001".into(),
            ));
        }
        let call = ok(&p, tx, &a, &fixture(file));
        let got: Vec<&str> = call.steps.iter().map(|s| s.infno.as_str()).collect();
        assert_eq!(&got, steps, "{name} {tx}");
        assert_national(&call);
    }
}

#[test]
fn shijiazhuang_outpatient_settlement() {
    let p = profile("shijiazhuang");
    let call = ok(&p, "1108", NONE, &fixture("shijiazhuang/1108.xml"));
    assert_eq!(call.encoding, Encoding::Utf8);
    assert_eq!(
        call.sender_serial.as_deref(),
        Some("H9901000000120240520103000002")
    );
    assert_eq!(call.psn_no.as_deref(), Some("9900000001"));
    assert_eq!(call.fixmedins_code.as_deref(), Some("H99010000001"));
    assert_eq!(call.opter_name.as_deref(), Some("测试员"));
    assert!(!call.two_phase);
    let reg = &call.steps[0].input["data"];
    // AKC190 is the HIS's visit number: ipt_otp_no, never mdtrt_id
    assert_eq!(reg["ipt_otp_no"], "MZ20240520001");
    assert!(reg.get("mdtrt_id").is_none());
    assert_eq!(reg["begntime"], "2024-05-20 10:00:00");
    assert_eq!(reg["insutype"], "310");
    let lines = &call.steps[1].input["feedetail"];
    assert_eq!(lines[0]["fee_ocur_time"], "2024-05-20 10:10:00");
    assert_eq!(lines[0]["med_chrgitm_type"], "09");
    // AKA063 21 自费 → 14 and chrgitm_lv 3
    assert_eq!(lines[1]["med_chrgitm_type"], "14");
    assert_eq!(lines[1]["chrgitm_lv"], "3");
    assert_eq!(call.steps[2].input["data"]["medfee_sumamt"], "100.00");
    assert_eq!(call.steps[2].input["data"]["med_type"], "11");

    let outputs = [
        json!({"data": {"mdtrt_id": "990000000123", "psn_no": "9900000001", "ipt_otp_no": "MZ20240520001"}}),
        json!({"result": []}),
        json!({"setlinfo": {"mdtrt_id": "990000000123", "setl_id": "990000000456", "psn_no": "9900000001",
            "setl_time": "2024-05-20 10:30:16", "medfee_sumamt": 100.00, "fulamt_ownpay_amt": 95.48,
            "preselfpay_amt": 0, "inscp_scp_amt": 4.52, "hifp_pay": 3.16, "cvlserv_pay": 0,
            "fund_pay_sumamt": 3.16, "acct_pay": 50.00, "psn_cash_pay": 46.84, "balc": 950.00}, "setldetail": []}),
    ];
    let a = encode_answer(&p, &call, &outputs).unwrap();
    assert_eq!(a.encoding, Encoding::Utf8);
    assert_eq!(
        String::from_utf8(a.body.clone()).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><HOSDATA><RESPONSEDATA><RETURNNUM>1</RETURNNUM><ERRORMSG></ERRORMSG><REFMSGID>990000000456</REFMSGID><OUTPUT><AKC190>MZ20240520001</AKC190><AAC001>9900000001</AAC001><AKC264>100.00</AKC264><AKC253>95.48</AKC253><AKC254>0.00</AKC254><AKC263>4.52</AKC263><AKC260>3.16</AKC260><AKC707>0.00</AKC707><AKC780>3.16</AKC780><AKC255>50.00</AKC255><AKC261>46.84</AKC261><AKC087>950.00</AKC087><AAE036>20240520103016</AAE036></OUTPUT></RESPONSEDATA></HOSDATA>"
    );
    let back = decode_answer(&p, &call, &a.body, &Limits::default()).unwrap();
    assert_eq!(back.status.as_deref(), Some("1"));
    assert_eq!(back.outputs[2]["setlinfo"]["psn_cash_pay"], "46.84");
    assert_eq!(
        back.outputs[2]["setlinfo"]["setl_time"],
        "2024-05-20 10:30:16"
    );

    let e = err(
        &p,
        "1108",
        NONE,
        &fixture("shijiazhuang/1108.xml").replace_bytes("<AKC264>100.00<", "<AKC264>1.005<"),
    );
    let ans = encode_error(&p, "1108", call.encoding, &e);
    let t = String::from_utf8(ans.body).unwrap();
    assert!(
        t.contains("<RETURNNUM>-1</RETURNNUM><ERRORMSG>[LEG-AMOUNT] INPUT/AKC264:"),
        "{t}"
    );
}

#[test]
fn shijiazhuang_reversal_names_the_original_by_sender_serial() {
    let p = profile("shijiazhuang");
    let call = ok(&p, "1202", NONE, &fixture("shijiazhuang/1202.xml"));
    assert_eq!(
        call.reverses.as_deref(),
        Some("H9901000000120240520103000002")
    );
    let step = &call.steps[0];
    assert_eq!(
        step.input,
        json!({"data": {"psn_no": "9900000001", "setl_id": "", "mdtrt_id": ""}})
    );
    let lookups: Vec<(usize, &str, &str)> = step
        .lookup
        .iter()
        .map(|c| (c.from_step, c.from.as_str(), c.to.as_str()))
        .collect();
    assert_eq!(
        lookups,
        vec![
            (2, "/setlinfo/setl_id", "/data/setl_id"),
            (2, "/setlinfo/mdtrt_id", "/data/mdtrt_id")
        ]
    );
    // without ORGMSGID there is nothing to reverse
    let body = fixture("shijiazhuang/1202.xml").replace_bytes(
        "<ORGMSGID>H9901000000120240520103000002</ORGMSGID>",
        "<ORGMSGID></ORGMSGID>",
    );
    let e = err(&p, "1202", NONE, &body);
    assert_eq!((e.rule, e.field.as_str()), (LEG_FIELD, "ORGMSGID"));
}

#[test]
fn shijiazhuang_msgno_must_match_and_gbk_is_read_when_declared() {
    let p = profile("shijiazhuang");
    let e = err(&p, "1107", NONE, &fixture("shijiazhuang/1108.xml"));
    assert_eq!((e.rule, e.field.as_str()), (LEG_TX, "MSGNO"));
    let t = String::from_utf8(fixture("shijiazhuang/1401.xml"))
        .unwrap()
        .replace("UTF-8", "GBK");
    let call = ok(&p, "1401", NONE, &gbk(&t));
    assert_eq!(call.encoding, Encoding::Gbk);
    assert_eq!(call.opter_name.as_deref(), Some("测试员"));
    // GBK bytes under a UTF-8 declaration
    let e = err(&p, "1401", NONE, &gbk(&t.replace("GBK", "UTF-8")));
    assert_eq!(e.rule, LEG_ENCODING_DECLARED);
    assert!(e.byte_offset.is_some());
}

#[test]
fn yunnan_routes_and_reads_call_arguments() {
    let p = profile("yunnan");
    let call = ok(&p, "14", &yd_args("14"), &fixture("yunnan/14.xml"));
    assert_eq!(call.definition, "14");
    assert_eq!(call.insuplc_admdvs.as_deref(), Some("880100"));
    assert_eq!(
        call.sender_serial.as_deref(),
        Some("H990100000012024052010300001")
    );
    assert_eq!(call.steps[0].input["data"]["psn_no"], "8800000042");
    assert_eq!(call.steps[0].input["data"]["acct_used_flag"], "0");
    let call = ok(
        &p,
        "14",
        &yd_args("14"),
        &fixture("yunnan/14-inpatient.xml"),
    );
    assert_eq!(call.definition, "14@inpatient");
    assert_eq!(call.transaction, "14");
    assert_eq!(call.steps[0].infno, "2304");
    // TransCode must be the path's
    let e = err(&p, "14", &yd_args("72"), &fixture("yunnan/14.xml"));
    assert_eq!((e.rule, e.field.as_str()), (LEG_TX, "TransCode"));
    // the insured area routes the call: required, six digits
    let mut a = yd_args("14");
    a.retain(|(k, _)| k != "InsuredAreaNo");
    assert_eq!(
        err(&p, "14", &a, &fixture("yunnan/14.xml")).field,
        "InsuredAreaNo"
    );
    let mut a = yd_args("14");
    a[4].1 = "8801".into();
    let e = err(&p, "14", &a, &fixture("yunnan/14.xml"));
    assert_eq!((e.rule, e.field.as_str()), (LEG_FIELD, "InsuredAreaNo"));
    // names are case-insensitive
    let a: Vec<(String, String)> = yd_args("14")
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    ok(&p, "14", &a, &fixture("yunnan/14.xml"));
    // no declaration is the norm: not a repair
    let call = ok(&p, "11", &yd_args("11"), &fixture("yunnan/11.xml"));
    assert!(call.repairs.is_empty(), "{:?}", call.repairs);
    assert_eq!(call.encoding, Encoding::Gbk);
}

#[test]
fn yunnan_reversal_and_detail_answer() {
    let p = profile("yunnan");
    let mut a = yd_args("21");
    a.push(("OldTransCode".into(), "14".into()));
    a.push((
        "OldSenderSerialNo".into(),
        "H990100000012024052010300001".into(),
    ));
    let call = ok(&p, "21", &a, &fixture("yunnan/21.xml"));
    assert_eq!(
        call.reverses.as_deref(),
        Some("H990100000012024052010300001")
    );
    assert_eq!(call.steps[0].lookup.len(), 1);
    let e = err(&p, "21", &yd_args("21"), &fixture("yunnan/21.xml"));
    assert_eq!(e.field, "OldSenderSerialNo");

    let call = ok(&p, "12", &yd_args("12"), &fixture("yunnan/12.xml"));
    let lines = &call.steps[0].input["feedetail"];
    assert_eq!(lines[1]["med_chrgitm_type"], "03");
    assert_eq!(lines[1]["chrgitm_lv"], "2");
    let out = json!({"result": [
        {"feedetl_sn": "1", "det_item_fee_sumamt": 4.52, "cnt": 2, "pric": 2.26, "fulamt_ownpay_amt": 0,
         "preselfpay_amt": 0, "inscp_scp_amt": 4.52, "chrgitm_lv": "1"},
        {"feedetl_sn": "2", "det_item_fee_sumamt": 300.00, "cnt": 1, "pric": 300, "fulamt_ownpay_amt": 0,
         "preselfpay_amt": 30.00, "inscp_scp_amt": 270.00, "chrgitm_lv": "02"}]});
    let ans = encode_answer(&p, &call, &[out]).unwrap();
    assert_eq!(
        text(&ans.body, true),
        "<output><ROW><AKC231>1</AKC231><AKC227>4.52</AKC227><CKC120>0.00</CKC120><CKC121>0.00</CKC121><AKC263>4.52</AKC263><AKA065>1</AKA065></ROW><ROW><AKC231>2</AKC231><AKC227>300.00</AKC227><CKC120>0.00</CKC120><CKC121>30.00</CKC121><AKC263>270.00</AKC263><AKA065>02</AKA065></ROW></output>"
    );
}

#[test]
fn mohrss_person_query_in_attributes() {
    let p = profile("mohrss");
    let call = ok(&p, "F00.01.03", NONE, &fixture("mohrss/F00.01.03.xml"));
    assert_eq!(call.opter.as_deref(), Some("hisuser"));
    assert_eq!(
        call.steps[0].input,
        json!({"data": {"mdtrt_cert_no": "990101199001010000", "certno": "990101199001010000", "psn_name": "张三",
            "mdtrt_cert_type": "02", "psn_cert_type": "01"}})
    );
    let out = json!({"baseinfo": {"psn_no": "9900000001", "certno": "990101199001010000", "psn_name": "张三",
        "gend": "1", "brdy": "1990-01-01"}, "insuinfo": [{"insutype": "310", "psn_type": "1101", "balc": 1000.00,
        "insuplc_admdvs": "990100", "emp_name": "示例公司"}]});
    let a = encode_answer(&p, &call, &[out]).unwrap();
    assert_eq!(
        text(&a.body, true),
        "<?xml version=\"1.0\" encoding=\"GBK\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" soap:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><soap:Header><result sessionID=\"\" message=\"\"/></soap:Header><soap:Body><out:business xmlns:out=\"http://www.molss.gov.cn/\"><result result=\"1\"/><result row_count=\"1\"/><resultset name=\"querylist\"><row aac001=\"9900000001\" aac002=\"990101199001010000\" aac003=\"张三\" aac004=\"1\" aac006=\"1990-01-01\" aae140=\"310\" akc021=\"1101\" aab004=\"示例公司\" aab301=\"990100\" akc087=\"1000.00\"/></resultset></out:business></soap:Body></soap:Envelope>"
    );
    let back = decode_answer(&p, &call, &a.body, &Limits::default()).unwrap();
    assert_eq!(back.status.as_deref(), Some("1"));
    assert_eq!(back.outputs[0]["insuinfo"][0]["balc"], "1000.00");
    // the funid names the transaction; the functionid the query
    let e = err(
        &p,
        "F00.01.03",
        NONE,
        &fixture("mohrss/F00.01.03.xml").replace_bytes("F00.01.03", "F00.01.02"),
    );
    assert_eq!((e.rule, e.field.as_str()), (LEG_TX, "funid"));
    let e = err(
        &p,
        "F00.01.03",
        NONE,
        &fixture("mohrss/F00.01.03.xml").replace_bytes("F27.02", "F27.03"),
    );
    assert_eq!((e.rule, e.field.as_str()), (LEG_RECODE, "functionid"));
    let e = err(
        &p,
        "F00.01.03",
        NONE,
        &fixture("mohrss/F00.01.03.xml")
            .replace_bytes("<soap:Header>", "<soap:Header><x/>")
            .replace_bytes("in:system", "in:sys"),
    );
    assert_eq!(e.rule, LEG_ENVELOPE);
    let ans = encode_error(&p, "F00.01.03", Encoding::Gbk, &e);
    let t = text(&ans.body, true);
    assert!(
        t.contains("<result result=\"-1\"/><result row_count=\"0\"/>"),
        "{t}"
    );
    assert!(t.contains("message=\"[LEG-ENVELOPE]"), "{t}");
}

#[test]
fn every_profile_every_recode_entry() {
    for name in Profile::builtin_names() {
        let p = profile(name);
        for (tname, table) in &p.definition().tables {
            for e in &table.entries {
                if e.reverse_only {
                    assert!(
                        p.recode_back(tname, &e.national).is_some(),
                        "{name} {tname} {}",
                        e.national
                    );
                    continue;
                }
                match p.recode(tname, &e.legacy, "f") {
                    Ok(hit) if e.refuse.is_empty() => {
                        assert_eq!(hit.national, e.national);
                        assert!(!e.source.is_empty());
                    }
                    Err(err) if !e.refuse.is_empty() => assert_eq!(err.rule, LEG_RECODE),
                    other => panic!("{name} {tname} {}: {other:?}", e.legacy),
                }
            }
            let e = p.recode(tname, "unknown-code", "f").unwrap_err();
            assert_eq!(e.rule, LEG_RECODE);
            assert!(e.message.contains(tname.as_str()));
        }
    }
}

#[test]
fn every_profile_refuses_hostile_xml() {
    let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
    let wide = format!(
        "<input {}/>",
        (0..200)
            .map(|i| format!("a{i}=\"x\""))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]><input>&lol2;</input>";
    for name in Profile::builtin_names() {
        let p = profile(name);
        let tx = p.transactions()[0].to_owned();
        let a = if *name == "yunnan" {
            yd_args(&tx)
        } else {
            Vec::new()
        };
        assert_eq!(
            err(&p, &tx, &a, laughs.as_bytes()).rule,
            LEG_XML_DOCTYPE,
            "{name}"
        );
        assert_eq!(err(&p, &tx, &a, deep.as_bytes()).rule, LEG_LIMIT, "{name}");
        assert_eq!(
            err(&p, &tx, &a, wide.as_bytes()).field,
            "attributes_max",
            "{name}"
        );
        assert_eq!(err(&p, &tx, &a, b"<input><a>1</a>").rule, LEG_XML, "{name}");
        assert_eq!(err(&p, &tx, &a, b"").rule, LEG_XML, "{name}");
        assert_eq!(err(&p, "no-such", &a, b"<input/>").rule, LEG_TX, "{name}");
    }
}

trait ReplaceBytes {
    fn replace_bytes(&self, from: &str, to: &str) -> Vec<u8>;
}

impl ReplaceBytes for Vec<u8> {
    fn replace_bytes(&self, from: &str, to: &str) -> Vec<u8> {
        if let Ok(t) = std::str::from_utf8(self)
            && t.contains("encoding=\"UTF-8\"")
        {
            assert!(t.contains(from), "{from}");
            return t.replace(from, to).into_bytes();
        }
        let (t, _, bad) = encoding_rs::GB18030.decode(self);
        assert!(!bad);
        assert!(t.contains(from), "{from}");
        gbk(&t.replace(from, to))
    }
}
