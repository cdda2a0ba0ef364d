//! 3202 detail reconciliation through the real gateway: the HIS uploads its detail file with
//! 9101 (a zip, base64 in JSON), asks 3202 for the comparison, and downloads the result with
//! 9102 — one settlement of its file disagrees with the journal, the rest agree.

mod common;

use std::io::{Cursor, Read, Write};

use base64::Engine as _;
use common::his::{self, EnvelopeBuilder, FeeLine, Sender};
use common::*;
use serde_json::{Value, json};

const CODE: &str = "H44030000003";

fn zip_one(name: &str, data: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file(name, zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap().into_inner()
}

fn unzip_one(bytes: &[u8]) -> String {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut f = z.by_index(0).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    s
}

#[test]
fn upload_reconcile_download() {
    let ws = Workspace::init();
    let persons = his::insured_from_registry(
        &std::fs::read_to_string(ws.path().join("policy/persons.toml")).unwrap(),
    )
    .unwrap();
    let gw = ws.serve(&[]);
    let rt = runtime();
    let today = time::OffsetDateTime::now_utc()
        .to_offset(medsettle_canonical::CHINA_OFFSET)
        .date();
    rt.block_on(async {
        let mut conn = his::HisConnection::connect(gw.addr, ws.tls_for(CODE))
            .await
            .unwrap();
        let mut b = EnvelopeBuilder::new(
            Sender {
                fixmedins_code: CODE.into(),
                fixmedins_name: "深圳市示例区人民医院".into(),
                mdtrtarea_admvs: "440300".into(),
            },
            time::PrimitiveDateTime::new(today, time::Time::MIDNIGHT),
        );
        // Three settlements; the hospital's file lists them, one with a wrong total.
        let mut rows = vec![
            "setl_id|mdtrt_id|psn_no|medfee_sumamt|fund_pay_sumamt|acct_pay|refd_setl_flag"
                .to_owned(),
        ];
        let mut wrong = String::new();
        for (n, p) in persons
            .iter()
            .filter(|p| p.insutype == "310")
            .take(3)
            .enumerate()
        {
            let lines = vec![FeeLine {
                med_list_codg: "LAB002".into(),
                units: 1,
                pric_fen: 6_800 + n as i64,
            }];
            let s = his::outpatient_visit(&mut conn, &mut b, p, &lines, n as u64)
                .await
                .unwrap();
            let i = &s.setlinfo;
            let medfee = if n == 1 {
                wrong = s.setl_id.clone();
                "999.99".to_owned()
            } else {
                i["medfee_sumamt"].to_string()
            };
            rows.push(format!(
                "{}|{}|{}|{}|{}|{}|0",
                s.setl_id, s.mdtrt_id, p.psn_no, medfee, i["fund_pay_sumamt"], i["acct_pay"]
            ));
        }
        let file = zip_one("detail.txt", rows.join("\n").as_bytes());
        let up = b.envelope(
            "9101",
            "440300",
            json!({"fsUploadIn": {
                "in": base64::engine::general_purpose::STANDARD.encode(&file),
                "filename": "detail.zip", "fixmedins_code": CODE
            }}),
        );
        let (st, a) = conn.call(&up).await.unwrap();
        let out = his::expect_success(st, &a, "9101").unwrap();
        let file_qury_no = out["file_qury_no"].as_str().unwrap().to_owned();

        let stmt = b.envelope(
            "3202",
            "440300",
            json!({"data": {
                "setl_optins": "440300", "file_qury_no": file_qury_no,
                "stmt_begndate": today.to_string(), "stmt_enddate": today.to_string(),
                "medfee_sumamt": 0, "fund_pay_sumamt": 0, "cash_payamt": 0, "fixmedins_setl_cnt": 3,
                "clr_type": "11", "refd_setl_flag": "0"
            }}),
        );
        let (st, a) = conn.call(&stmt).await.unwrap();
        let out = his::expect_success(st, &a, "3202").unwrap();
        let result_no = out["fileinfo"]["file_qury_no"].as_str().unwrap().to_owned();

        let down = b.envelope(
            "9102",
            "440300",
            json!({"fsDownloadIn": {
                "file_qury_no": result_no, "filename": "result.zip", "fixmedins_code": CODE
            }}),
        );
        let (st, bytes) = conn
            .post(his::CALL_SERVICE_PATH, bytes::Bytes::from(down.to_string()))
            .await
            .unwrap();
        assert_eq!(st, 200);
        let result = unzip_one(&bytes);
        let lines: Vec<Vec<&str>> = result.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(lines.len(), 3, "{result}");
        for l in &lines {
            // columns: psn_no, mdtrt_id, setl_id, msgid, stmt_rslt, refd_setl_flag, memo, …
            let expect = if l[2] == wrong { "1" } else { "0" };
            assert_eq!(l[4], expect, "settlement {} in {result}", l[2]);
        }
        // Another institution cannot download it.
        let mut conn1 = his::HisConnection::connect(gw.addr, ws.tls_for("H44030000001"))
            .await
            .unwrap();
        let mut b1 = EnvelopeBuilder::new(
            Sender {
                fixmedins_code: "H44030000001".into(),
                fixmedins_name: "x".into(),
                mdtrtarea_admvs: "440300".into(),
            },
            time::PrimitiveDateTime::new(today, time::Time::MIDNIGHT),
        );
        let steal = b1.envelope("9102", "440300", json!({"fsDownloadIn": {
            "file_qury_no": result_no, "filename": "result.zip", "fixmedins_code": "H44030000001"
        }}));
        let (_, a): (u16, Value) = conn1.call(&steal).await.unwrap();
        assert_eq!(a["infcode"], -1, "{a}");
    });
    assert!(gw.terminate().success());
}
