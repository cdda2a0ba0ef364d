//! `medsettle translate` over the whole conformance suite: every accepted case prints its
//! expected canonical JSON and exits 0; every rejected case exits 2 and names each expected
//! rule id and field path on standard error. The library runner checks the adapter; this
//! checks what a HIS vendor sees from the command line.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

#[derive(serde::Deserialize)]
struct Case {
    dialect: String,
    #[serde(default)]
    infno: Option<String>,
    expected: Expected,
    #[serde(default)]
    options: CaseOptions,
}

#[derive(serde::Deserialize, Default)]
struct CaseOptions {
    #[serde(default)]
    identity_warn_only: Vec<String>,
    #[serde(default)]
    mdtrt_cert_no_max: Option<usize>,
}

#[derive(serde::Deserialize)]
struct Expected {
    outcome: String,
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
}

#[test]
fn every_conformance_case_through_the_cli() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/cases/nhsa");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    let (mut accepted, mut rejected) = (0, 0);
    for dir in dirs {
        let case: Case = toml::from_str(&std::fs::read_to_string(dir.join("case.toml")).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert_eq!(case.dialect, "nhsa");
        let input = dir.join("input.json");
        let mut args = vec!["translate", "--from", "nhsa", "--to", "canonical"];
        if let Some(i) = &case.infno {
            args.extend(["--infno", i]);
        }
        for w in &case.options.identity_warn_only {
            args.extend(["--warn-only", w]);
        }
        let cert_max = case.options.mdtrt_cert_no_max.map(|n| n.to_string());
        if let Some(n) = &cert_max {
            args.extend(["--mdtrt-cert-no-max", n]);
        }
        args.push(input.to_str().unwrap());
        let out = run(&args);
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        match case.expected.outcome.as_str() {
            "accept" => {
                assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
                let got: Value = serde_json::from_slice(&out.stdout).unwrap();
                let want: Value = serde_json::from_str(
                    &std::fs::read_to_string(dir.join("expected.json")).unwrap(),
                )
                .unwrap();
                assert_eq!(got, want, "{name}: canonical JSON differs");
                accepted += 1;
            }
            "reject" => {
                assert_eq!(
                    out.status.code(),
                    Some(2),
                    "{name}: bad input must exit 2; stderr: {stderr}"
                );
                for r in &case.expected.rules {
                    assert!(
                        stderr.contains(r.as_str()),
                        "{name}: stderr does not name rule {r}: {stderr}"
                    );
                }
                for p in &case.expected.paths {
                    assert!(
                        stderr.contains(p.as_str()),
                        "{name}: stderr does not name path {p}: {stderr}"
                    );
                }
                rejected += 1;
            }
            other => panic!("{name}: unknown outcome {other}"),
        }
    }
    assert!(accepted + rejected >= 60, "the suite has at least 60 cases");
    assert!(accepted > 0 && rejected > 0);
}

#[test]
fn canonical_claim_translates_back_to_the_national_answer() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conformance/cases/nhsa/048-exchange-2304-inpatient-real-shape");
    let claim = dir.join("expected.json");
    let out = run_ok(&[
        "translate",
        "--from",
        "canonical",
        "--to",
        "nhsa",
        claim.to_str().unwrap(),
    ]);
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["infcode"], 0);
    let setlinfo = &answer["output"]["setlinfo"];
    // 18785.39 in, 18785.39 out: exact through fen.
    assert_eq!(setlinfo["hifob_pay"].to_string(), "18785.39");
    assert_eq!(setlinfo["hosp_part_amt"].to_string(), "505.01");
    let details = answer["output"]["setldetail"].as_array().unwrap();
    assert!(details.iter().any(|d| d["fund_pay_type"] == "999996"));
}

/// A legacy call through the command line both ways (reference §5.1/§5.2, the Guizhou 41 in
/// GBK): its national step, then national answers written back as the Guizhou answer in GBK.
#[test]
fn a_guizhou_41_translates_to_its_national_step_and_back() {
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/legacy/tests/fixtures/guizhou");
    let request = fixtures.join("41.xml");
    let out = run_ok(&[
        "translate",
        "--from",
        "legacy:guizhou",
        "--to",
        "canonical",
        "--transaction",
        "41",
        request.to_str().unwrap(),
    ]);
    let call: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(call["two_phase"], true, "{call}");
    let step = &call["steps"][0];
    assert_eq!(step["infno"], "2304", "{call}");
    let data = &step["input"]["data"];
    assert_eq!(data["mdtrt_id"], "ZY9901202405000001");
    assert_eq!(data["psn_no"], "9900000001");
    assert_eq!(data["medfee_sumamt"], "12345.67");
    assert_eq!(data["med_type"], "21", "aka130 31 is national 21");
    assert_eq!(data["insutype"], "310", "ykb065 1 is national 310");
    assert!(!call["derived"].as_array().unwrap().is_empty(), "{call}");

    // The national answer of §5.2, written back: GBK, prm_ fields, the name transcoded.
    let dir = tempfile::tempdir().unwrap();
    let answers = dir.path().join("answers.json");
    std::fs::write(
        &answers,
        r#"[{"infcode":0,"output":{"setlinfo":{"mdtrt_id":"ZY9901202405000001","setl_id":"JS9901202405000001","psn_no":"9900000001","psn_name":"张三","gend":"1","psn_type":"1101","setl_time":"2024-05-20 10:30:00","medfee_sumamt":"12345.67","fulamt_ownpay_amt":"345.67","preselfpay_amt":"500.00","inscp_scp_amt":"11500.00","act_pay_dedc":"800.00","hifp_pay":"9095.00","hifob_pay":"0.00","cvlserv_pay":"0.00","acct_pay":"1000.00","balc":"234.56","clr_optins":"9901","clr_way":"1","fund_pay_sumamt":"9095.00","psn_cash_pay":"2250.67"}}}]"#,
    )
    .unwrap();
    let out = run(&[
        "translate",
        "--from",
        "canonical",
        "--to",
        "legacy:guizhou",
        "--transaction",
        "41",
        "--request",
        request.to_str().unwrap(),
        answers.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (xml, _, bad) = encoding_rs::GBK.decode(&out.stdout);
    assert!(!bad, "the answer is GBK");
    assert!(
        xml.starts_with(r#"<?xml version="1.0" encoding="GBK""#),
        "{xml}"
    );
    for part in [
        "<prm_yka103>JS9901202405000001</prm_yka103>",
        "<prm_aac003>张三</prm_aac003>",
        "<prm_yka055>12345.67</prm_yka055>",
        "<prm_yka248>9095.00</prm_yka248>",
        "<prm_yka065>1000.00</prm_yka065>",
    ] {
        assert!(xml.contains(part), "{part} missing: {xml}");
    }
}
