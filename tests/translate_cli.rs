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
