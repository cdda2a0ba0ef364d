//! End-to-end: the real binary over mutual TLS settles complete visits on the embedded core,
//! journals them, and reversals restore the person's accumulators.

mod common;

use common::his::{self, EnvelopeBuilder, FeeLine, Insured, Sender};
use common::*;
use serde_json::Value;

fn fen(v: &Value) -> i64 {
    // Amounts arrive as JSON number text; parse exactly (no floats) via the canonical parser.
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Null => "0".into(),
        other => panic!("not an amount: {other}"),
    };
    medsettle_canonical::Money::parse_yuan(&text)
        .expect("exact amount")
        .fen()
}

fn assert_identities(s: &Value) {
    let f = |k: &str| fen(&s[k]);
    assert_eq!(
        f("medfee_sumamt"),
        f("fulamt_ownpay_amt") + f("overlmt_selfpay") + f("preselfpay_amt") + f("inscp_scp_amt"),
        "NHSA-ID-1 in {s}"
    );
    assert_eq!(
        f("medfee_sumamt"),
        f("fund_pay_sumamt") + f("psn_part_amt") + f("hosp_part_amt"),
        "NHSA-ID-2 in {s}"
    );
    assert_eq!(
        f("psn_part_amt"),
        f("acct_pay") + f("psn_cash_pay"),
        "NHSA-ID-3 in {s}"
    );
}

fn sender(code: &str) -> Sender {
    Sender {
        fixmedins_code: code.into(),
        fixmedins_name: "深圳市示例第一人民医院".into(),
        mdtrtarea_admvs: "440300".into(),
    }
}

fn base_time() -> time::PrimitiveDateTime {
    time::macros::datetime!(2026-11-20 09:00:00)
}

fn persons(ws: &Workspace) -> Vec<Insured> {
    his::insured_from_registry(
        &std::fs::read_to_string(ws.path().join("policy/persons.toml")).unwrap(),
    )
    .unwrap()
}

/// An employee (insutype 310) of the sample registry.
fn employee(ws: &Workspace) -> Insured {
    persons(ws)
        .into_iter()
        .find(|p| p.insutype == "310")
        .unwrap()
}

/// A connection and an envelope builder of the first sample institution.
async fn first_institution(ws: &Workspace, gw: &Gateway) -> (his::HisConnection, EnvelopeBuilder) {
    let conn = his::HisConnection::connect(gw.addr, ws.tls_for("H44030000001"))
        .await
        .unwrap();
    (
        conn,
        EnvelopeBuilder::new(sender("H44030000001"), base_time()),
    )
}

#[test]
fn outpatient_and_inpatient_visits_settle_and_reversal_restores_accumulators() {
    let ws = Workspace::init();
    let gw = ws.serve(&[]);
    let rt = runtime();
    let employee = employee(&ws);
    rt.block_on(async {
        let (mut conn, mut b) = first_institution(&ws, &gw).await;
        let lines = vec![
            FeeLine {
                med_list_codg: "DIAG001".into(),
                units: 1,
                pric_fen: 2_000,
            },
            FeeLine {
                med_list_codg: "WM002".into(),
                units: 3,
                pric_fen: 3_350,
            },
            FeeLine {
                med_list_codg: "LAB001".into(),
                units: 1,
                pric_fen: 2_500,
            },
        ];
        let first = his::outpatient_visit(&mut conn, &mut b, &employee, &lines, 1)
            .await
            .unwrap();
        assert_identities(&first.setlinfo);
        assert_eq!(
            fen(&first.setlinfo["medfee_sumamt"]),
            2_000 + 3 * 3_350 + 2_500
        );
        assert_eq!(first.setlinfo["medins_setl_id"], first.msgid.as_str());
        // 乙类 WM002 pays 10 % pre-self-pay: 100.50 × 0.10 = 10.05
        assert_eq!(fen(&first.setlinfo["preselfpay_amt"]), 1_005);

        // Reverse it, then settle the same visit again: the deductible and the account balance
        // consumed by the first settlement were restored, so the split is identical.
        let rev = his::reverse(&mut conn, &mut b, &employee, &first, false)
            .await
            .unwrap();
        assert_eq!(
            fen(&rev["setlinfo"]["medfee_sumamt"]),
            -fen(&first.setlinfo["medfee_sumamt"])
        );
        assert_eq!(
            fen(&rev["setlinfo"]["fund_pay_sumamt"]),
            -fen(&first.setlinfo["fund_pay_sumamt"])
        );
        assert_ne!(rev["setlinfo"]["setl_id"], first.setlinfo["setl_id"]);
        let again = his::outpatient_visit(&mut conn, &mut b, &employee, &lines, 2)
            .await
            .unwrap();
        for k in [
            "act_pay_dedc",
            "hifp_pay",
            "fund_pay_sumamt",
            "acct_pay",
            "psn_cash_pay",
            "balc",
        ] {
            assert_eq!(
                fen(&again.setlinfo[k]),
                fen(&first.setlinfo[k]),
                "{k} after reversal"
            );
        }
        // Reversing the reversal's original twice is refused: already reversed.
        let twice = his::reverse(&mut conn, &mut b, &employee, &first, false).await;
        assert!(
            twice.is_err(),
            "a second reversal of the same settlement must be refused"
        );

        // 2601 by the original msgid: the caller that timed out learns the truth. A msgid that
        // settled something is reversed; one that settled nothing says so.
        let r2601 = |omsgid: &str| {
            serde_json::json!({"data": {"psn_no": employee.psn_no, "omsgid": omsgid, "oinfno": "2207"}})
        };
        let env = b.envelope("2601", &employee.insuplc_admdvs, r2601(&again.msgid));
        let (st, answer) = conn.call(&env).await.unwrap();
        let out = his::expect_success(st, &answer, "2601").unwrap();
        assert_eq!(fen(&out["setlinfo"]["medfee_sumamt"]), -fen(&again.setlinfo["medfee_sumamt"]));
        let never = b.next_msgid().0;
        let env = b.envelope("2601", &employee.insuplc_admdvs, r2601(&never));
        let (st, answer) = conn.call(&env).await.unwrap();
        let out = his::expect_success(st, &answer, "2601").unwrap();
        assert_eq!(out["data"]["omsgid"], never.as_str(), "nothing to reverse is said, not guessed: {out}");

        let stay = vec![
            FeeLine {
                med_list_codg: "BED001".into(),
                units: 5,
                pric_fen: 6_000,
            },
            FeeLine {
                med_list_codg: "OPR001".into(),
                units: 1,
                pric_fen: 350_000,
            },
            FeeLine {
                med_list_codg: "MAT001".into(),
                units: 10,
                pric_fen: 1_800,
            },
            FeeLine {
                med_list_codg: "EXAM001".into(),
                units: 1,
                pric_fen: 32_000,
            },
            FeeLine {
                med_list_codg: "OTH001".into(),
                units: 1,
                pric_fen: 50_000,
            },
        ];
        let inpatient = his::inpatient_stay(&mut conn, &mut b, &employee, &stay, 1)
            .await
            .unwrap();
        let s = &inpatient.setlinfo;
        assert_identities(s);
        // MAT001 is capped at 15.00: (18.00 − 15.00) × 10 = 30.00 above the cap; OTH001 self-pay.
        assert_eq!(fen(&s["overlmt_selfpay"]), 3_000);
        assert_eq!(fen(&s["fulamt_ownpay_amt"]), 50_000);
        // 三级 inpatient deductible of the sample policy: 1000.00 for the first admission.
        assert_eq!(fen(&s["act_pay_dedc"]), 100_000);
        assert_eq!(s["clr_type"], "21");
    });
    let stopped = gw.terminate();
    assert!(stopped.success(), "graceful stop exits 0: {stopped:?}");
    let export = run_ok(&[
        "journal",
        "export",
        "--config",
        ws.config().to_str().unwrap(),
    ]);
    let claims: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["kind"] == "nhsa.settlement")
        .collect();
    // 2207, 2208, 2207 again, 2601 of it, 2304: five settled-claim records (the refused
    // reversal and the 2601 that found nothing to reverse are not claims).
    assert_eq!(claims.len(), 5, "{export}");
    let kinds: Vec<&str> = claims
        .iter()
        .map(|c| c["record"]["claim"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "settlement",
            "reversal",
            "settlement",
            "reversal",
            "settlement"
        ]
    );
    assert!(
        claims[1]["record"]["claim"]["medfee_sumamt"]
            .as_i64()
            .unwrap()
            < 0
    );
}

/// A core state that cannot be read is the gateway's problem, not the hospital's: the request
/// gets a clear 500 `GW-INTERNAL` (not a dropped connection, not a business refusal built on a
/// state that only looked missing), and nothing is journaled.
#[test]
fn damaged_core_state_is_an_internal_error_and_changes_nothing() {
    use medsettle_store::{JournalRecord, StateWrite, Store};
    let ws = Workspace::init();
    let p = employee(&ws);
    let gw = ws.serve(&[]);
    let rt = runtime();
    let mdtrt_id = rt.block_on(async {
        let (mut conn, mut b) = first_institution(&ws, &gw).await;
        let reg = b.envelope("2201", &p.insuplc_admdvs, serde_json::json!({"data": {
            "psn_no": p.psn_no, "insutype": p.insutype, "begntime": "2026-11-20 09:00:00",
            "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno, "ipt_otp_no": "MZ-DAMAGE-1",
            "atddr_no": "D1", "dr_name": "医生", "dept_code": "0301", "dept_name": "内科", "caty": "A03"
        }}));
        let (s, a) = conn.call(&reg).await.unwrap();
        his::expect_success(s, &a, "2201").unwrap()["data"]["mdtrt_id"].as_str().unwrap().to_owned()
    });
    assert!(gw.terminate().success());
    {
        let store = medsettle_store::SledStore::open(
            &ws.path().join("data/journal"),
            medsettle_store::StoreConfig::default(),
        )
        .unwrap();
        let damage = JournalRecord::new("test.damage", b"{}".to_vec()).with_write(StateWrite::put(
            "core.visit",
            mdtrt_id.as_bytes().to_vec(),
            b"{broken".to_vec(),
        ));
        let a = store.append(damage).unwrap();
        store.wait_durable_blocking(a.ticket).unwrap();
    }
    // Requests journaled so far (the settlement engine adds its own progress records).
    let requests = |ws: &Workspace| {
        run_ok(&[
            "journal",
            "export",
            "--config",
            ws.config().to_str().unwrap(),
        ])
        .lines()
        .filter(|l| l.contains("\"kind\":\"nhsa."))
        .count()
    };
    let records_before = requests(&ws);
    let gw = ws.serve(&[]);
    rt.block_on(async {
        let mut conn = his::HisConnection::connect(gw.addr, ws.tls_for("H44030000001"))
            .await
            .unwrap();
        let mut b = EnvelopeBuilder::new(
            sender("H44030000001"),
            base_time() + time::Duration::hours(1),
        );
        let fees = b.envelope("2204", &p.insuplc_admdvs, serde_json::json!({"feedetail": [{
            "feedetl_sn": "F0001", "mdtrt_id": mdtrt_id, "psn_no": p.psn_no, "chrg_bchno": "CB1",
            "rx_circ_flag": "0", "fee_ocur_time": "2026-11-20 10:00:00", "med_list_codg": "LAB001",
            "medins_list_codg": "HLAB001", "det_item_fee_sumamt": 25.00, "cnt": 1, "pric": 25.00,
            "bilg_dept_codg": "0301", "bilg_dept_name": "内科", "bilg_dr_codg": "D1",
            "bilg_dr_name": "医生", "hosp_appr_flag": "1"
        }]}));
        let (status, answer) = conn.call(&fees).await.unwrap();
        assert_eq!(status, 500, "{answer}");
        assert_eq!(answer["infcode"], -1);
        assert!(
            answer["err_msg"].as_str().unwrap().contains("GW-INTERNAL"),
            "{answer}"
        );
    });
    assert!(gw.terminate().success());
    let records_after = requests(&ws);
    assert_eq!(
        records_after, records_before,
        "a refused request journals nothing"
    );
}

/// Fee detail is kept as one list per visit, merged from the core's line changes: uploads in
/// several batches, a cancelled batch (2205) and a line number reused after its cancellation
/// must leave exactly the lines the HIS has live — the settlement's stated total is checked
/// against them to the fen, and the total that still counts a cancelled line is refused.
#[test]
fn fee_uploads_cancellations_and_reuploads_leave_exactly_the_live_lines() {
    let ws = Workspace::init();
    let gw = ws.serve(&[]);
    let rt = runtime();
    let p = employee(&ws);
    rt.block_on(async {
        let (mut conn, mut b) = first_institution(&ws, &gw).await;
        let mut call = async |b: &mut EnvelopeBuilder, infno: &str, input: Value| {
            let env = b.envelope(infno, &p.insuplc_admdvs, input);
            let (s, a) = conn.call(&env).await.unwrap();
            (s, a)
        };
        let when = "2026-11-20 09:00:00";
        let (s, a) = call(
            &mut b,
            "2201",
            serde_json::json!({"data": {
                "psn_no": p.psn_no, "insutype": p.insutype, "begntime": when,
                "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno, "ipt_otp_no": "MZ-FEES-1",
                "atddr_no": "D0001", "dr_name": "门诊医生", "dept_code": "0301",
                "dept_name": "内科", "caty": "A03"
            }}),
        )
        .await;
        let out = his::expect_success(s, &a, "2201").unwrap();
        let mdtrt_id = out["data"]["mdtrt_id"].as_str().unwrap().to_owned();
        let line = |sn: &str, batch: &str, code: &str, fen: i64| {
            serde_json::json!({
                "feedetl_sn": sn, "mdtrt_id": mdtrt_id, "psn_no": p.psn_no,
                "chrg_bchno": batch, "rx_circ_flag": "0", "fee_ocur_time": when,
                "med_list_codg": code, "medins_list_codg": format!("H{code}"),
                "det_item_fee_sumamt": his::yuan_number(fen), "cnt": 1,
                "pric": his::yuan_number(fen), "bilg_dept_codg": "0301",
                "bilg_dept_name": "内科", "bilg_dr_codg": "D0001", "bilg_dr_name": "门诊医生",
                "hosp_appr_flag": "1"
            })
        };
        // Batch CB1: two lines; batch CB2: one line.
        for input in [
            serde_json::json!({"feedetail": [
                line("F0001", "CB1", "DIAG001", 2_000),
                line("F0002", "CB1", "LAB001", 2_500)
            ]}),
            serde_json::json!({"feedetail": [line("F0003", "CB2", "WM002", 3_350)]}),
        ] {
            let (s, a) = call(&mut b, "2204", input).await;
            his::expect_success(s, &a, "2204").unwrap();
        }
        // A line number that is live cannot be uploaded again.
        let (s, a) = call(
            &mut b,
            "2204",
            serde_json::json!({"feedetail": [line("F0002", "CB3", "LAB001", 1_000)]}),
        )
        .await;
        assert!(his::expect_success(s, &a, "2204").is_err(), "{a}");
        // Cancel CB1; then F0001 is free again and comes back in batch CB3 at another price.
        let (s, a) = call(
            &mut b,
            "2205",
            serde_json::json!({"data": {
                "mdtrt_id": mdtrt_id, "chrg_bchno": "CB1", "psn_no": p.psn_no
            }}),
        )
        .await;
        his::expect_success(s, &a, "2205").unwrap();
        let (s, a) = call(
            &mut b,
            "2204",
            serde_json::json!({"feedetail": [line("F0001", "CB3", "DIAG001", 1_500)]}),
        )
        .await;
        his::expect_success(s, &a, "2204").unwrap();
        let pre = |total: i64| {
            serde_json::json!({"data": {
                "psn_no": p.psn_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno,
                "med_type": "11", "medfee_sumamt": his::yuan_number(total),
                "psn_setlway": "01", "mdtrt_id": mdtrt_id, "chrg_bchno": "0000",
                "acct_used_flag": "1", "insutype": p.insutype
            }})
        };
        // Live lines: F0001 (15.00, CB3) and F0003 (33.50, CB2); batch "0000" settles every
        // unsettled line of the visit. A total that still counts
        // the cancelled F0002 (or the old F0001) is refused, the live total settles.
        for stale in [1_500 + 3_350 + 2_500, 2_000 + 3_350] {
            let (s, a) = call(&mut b, "2206", pre(stale)).await;
            assert!(his::expect_success(s, &a, "2206").is_err(), "{stale}: {a}");
        }
        let (s, a) = call(&mut b, "2207", pre(1_500 + 3_350)).await;
        let out = his::expect_success(s, &a, "2207").unwrap();
        assert_eq!(fen(&out["setlinfo"]["medfee_sumamt"]), 4_850);
        // Settled lines are kept with the settlement: nothing is left to settle.
        let (s, a) = call(&mut b, "2207", pre(1_500 + 3_350)).await;
        assert!(his::expect_success(s, &a, "2207").is_err(), "{a}");
    });
    gw.terminate();
}

/// A settlement sent again is answered from the journal, although computing it afresh would be
/// refused (its visit is settled and its msgid used): the core's transactions skip the up-front
/// idempotency read, and a refusal looks the key up before it is answered.
#[test]
fn a_repeated_settlement_gets_the_stored_answer_not_the_cores_refusal() {
    let ws = Workspace::init();
    let gw = ws.serve(&[]);
    let rt = runtime();
    let employee = employee(&ws);
    let first = rt.block_on(async {
        let (mut conn, mut b) = first_institution(&ws, &gw).await;
        let lines = vec![FeeLine {
            med_list_codg: "DIAG001".into(),
            units: 1,
            pric_fen: 2_000,
        }];
        let first = his::outpatient_visit(&mut conn, &mut b, &employee, &lines, 7)
            .await
            .unwrap();
        let resend = || bytes::Bytes::from(first.request.to_string());

        // The same bytes twice: the stored answer both times (a fresh settlement would carry
        // a new setl_id and respond_time).
        let (status, again) = conn.post(his::CALL_SERVICE_PATH, resend()).await.unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&again));
        let (status, third) = conn.post(his::CALL_SERVICE_PATH, resend()).await.unwrap();
        assert_eq!((status, &third), (200, &again), "replays are byte for byte");
        let replayed: Value = serde_json::from_slice(&again).unwrap();
        assert_eq!(replayed["infcode"], 0, "{replayed}");
        assert_eq!(replayed["output"]["setlinfo"], first.setlinfo);

        // The same msgid with another body: a conflict, not the core's refusal.
        let mut changed = first.request.clone();
        changed["input"]["data"]["psn_setlway"] = Value::from("02");
        let (status, answer) = conn.call(&changed).await.unwrap();
        assert_eq!(status, 409, "{answer}");
        assert!(
            answer["err_msg"]
                .as_str()
                .is_some_and(|m| m.contains("GW-IDEMPOTENCY")),
            "{answer}"
        );

        // The same msgid with a body that is not valid input: refused as bad input, naming
        // the field (the core's transactions are checked for repeats after decoding).
        let mut invalid = first.request.clone();
        invalid["input"]["data"]["medfee_sumamt"] = Value::from("12.345");
        let (status, answer) = conn.call(&invalid).await.unwrap();
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["err_msg"]
                .as_str()
                .is_some_and(|m| m.contains("FMT-MONEY") && m.contains("medfee_sumamt")),
            "{answer}"
        );

        // The same settlement under a new msgid is not a repeat: the core refuses it.
        let fresh = b.envelope(
            "2207",
            &employee.insuplc_admdvs,
            first.request["input"].clone(),
        );
        let (status, answer) = conn.call(&fresh).await.unwrap();
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["infcode"], -1, "{answer}");
        assert!(
            answer["err_msg"]
                .as_str()
                .is_some_and(|m| m.contains("CORE-")),
            "{answer}"
        );
        first
    });
    assert!(gw.terminate().success());
    let export = ws.journal_export();
    let settled: Vec<&Value> = export
        .iter()
        .filter(|r| r["msgid"] == first.msgid.as_str())
        .collect();
    assert_eq!(settled.len(), 1, "one record for three sends: {settled:?}");
    assert_eq!(
        settled[0]["record"]["answer"]["output"]["setlinfo"],
        first.setlinfo
    );
}
