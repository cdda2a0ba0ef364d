//! Vendor certification sessions end to end (issue 17 item 2; `specs/certification.md`): the
//! real gateway, sessions opened and closed with `medsettle cert`, the HIS client library
//! playing a well-behaved vendor (every scenario graded passed) and a sloppy one (the report
//! fails exactly what it does wrong, naming the rule).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use medsettle_certify::Scenario;
use medsettle_client::certify::{Manner, Vendor};
use medsettle_client::his::{FeeLine, Sender};

const CODE: &str = "H44030000001";
/// How long the timeout fault holds the answer; the vendor waits [`ANSWER_TIMEOUT`].
const DELAY_MS: u64 = 3_000;
const ANSWER_TIMEOUT: Duration = Duration::from_millis(1_000);

fn lines() -> Vec<FeeLine> {
    [
        ("DIAG001", 1, 2_000),
        ("WM001", 2, 1_850),
        ("LAB002", 1, 6_800),
    ]
    .iter()
    .map(|(c, u, p)| FeeLine {
        med_list_codg: (*c).into(),
        units: *u,
        pric_fen: *p,
    })
    .collect()
}

/// `medsettle cert open`: the session id (first line).
fn open(ws: &Workspace, scenario: Scenario) -> String {
    let out = run_ok(&[
        "cert",
        "open",
        "--institution",
        CODE,
        "--scenario",
        scenario.name(),
        "--delay-ms",
        &DELAY_MS.to_string(),
        "--config",
        ws.config().to_str().unwrap(),
    ]);
    out.lines().next().unwrap().to_owned()
}

/// `medsettle cert close`: exit code and report; the JUnit and HTML reports written beside.
fn close(ws: &Workspace, session: &str) -> (Option<i32>, String) {
    let junit = ws.path().join(format!("{session}.xml"));
    let html = ws.path().join(format!("{session}.html"));
    let out = run(&[
        "cert",
        "close",
        session,
        "--junit",
        junit.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--config",
        ws.config().to_str().unwrap(),
    ]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The session's JUnit report is valid against the suite's JUnit schema (xmllint, installed
/// by `.ci/test`) and its HTML shows every failed rule.
fn check_reports(ws: &Workspace, session: &str, failed: &BTreeSet<String>) {
    let junit = ws.path().join(format!("{session}.xml"));
    let xsd = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/junit.xsd");
    let out = std::process::Command::new("xmllint")
        .args([
            "--noout",
            "--schema",
            xsd.to_str().unwrap(),
            junit.to_str().unwrap(),
        ])
        .output()
        .expect("xmllint (installed by .ci/test)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let html = std::fs::read_to_string(ws.path().join(format!("{session}.html"))).unwrap();
    for rule in failed {
        assert!(
            xml.contains(rule.as_str()) && html.contains(rule.as_str()),
            "{rule} missing"
        );
    }
}

/// The rules of the report's failed steps.
fn failed_rules(report: &str) -> BTreeSet<String> {
    report
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .filter_map(|l| {
            let start = l.find('[')? + 1;
            let end = l[start..].find(']')? + start;
            Some(l[start..end].to_owned())
        })
        .collect()
}

#[test]
fn a_well_behaved_vendor_passes_every_scenario_and_a_sloppy_one_fails_exactly_its_faults() {
    let ws = Workspace::init();
    let persons: Vec<_> = ws
        .insured()
        .into_iter()
        .filter(|p| p.insutype == "310")
        .collect();
    let gw = ws.serve_env(&[], &[("MEDSETTLE_LOG", "warn")]);
    let rt = runtime();
    let vendor = |manner| Vendor {
        addr: gw.addr,
        tls: ws.tls_for(CODE),
        sender: Sender {
            fixmedins_code: CODE.into(),
            fixmedins_name: "深圳市示例第一人民医院".into(),
            mdtrtarea_admvs: "440300".into(),
        },
        manner,
        answer_timeout: ANSWER_TIMEOUT,
    };

    let mut good = vendor(Manner::WellBehaved).builder();
    for (n, scenario) in Scenario::ALL.into_iter().enumerate() {
        let session = open(&ws, scenario);
        rt.block_on(medsettle_client::certify::run(
            &vendor(Manner::WellBehaved),
            &mut good,
            scenario,
            &persons[n],
            &lines(),
            n as u64,
        ))
        .unwrap_or_else(|e| panic!("{}: {e:#}", scenario.name()));
        // A delayed answer may still be on its way: let it finish before grading.
        std::thread::sleep(Duration::from_millis(
            if scenario == Scenario::TimeoutReverse {
                DELAY_MS
            } else {
                0
            },
        ));
        let (code, report) = close(&ws, &session);
        assert_eq!(code, Some(0), "{}: {report}", scenario.name());
        assert!(report.contains(" 0 failed"), "{report}");
        assert!(!failed_rules(&report).iter().any(|_| true), "{report}");
    }

    // The sloppy vendor: an hour off, a msgid reused, no 2601 after a timeout, a refused
    // settlement sent again.
    let sloppy = [
        (
            Scenario::TimeoutReverse,
            ["CERT-INF-TIME", "CERT-MSGID-UNIQUE", "CERT-REVERSE"],
        ),
        (
            Scenario::RefusalNotRetried,
            [
                "CERT-INF-TIME",
                "CERT-MSGID-UNIQUE",
                "CERT-NO-RETRY-REFUSAL",
            ],
        ),
    ];
    let mut bad = vendor(Manner::Sloppy).builder();
    for (k, (scenario, expected)) in sloppy.into_iter().enumerate() {
        let session = open(&ws, scenario);
        let p = &persons[Scenario::ALL.len() + k];
        rt.block_on(medsettle_client::certify::run(
            &vendor(Manner::Sloppy),
            &mut bad,
            scenario,
            p,
            &lines(),
            100 + k as u64,
        ))
        .unwrap_or_else(|e| panic!("sloppy {}: {e:#}", scenario.name()));
        std::thread::sleep(Duration::from_millis(
            if scenario == Scenario::TimeoutReverse {
                DELAY_MS
            } else {
                0
            },
        ));
        let (code, report) = close(&ws, &session);
        assert_eq!(code, Some(1), "a failed step fails the command: {report}");
        let expected: BTreeSet<String> = expected.iter().map(|r| (*r).to_owned()).collect();
        assert_eq!(failed_rules(&report), expected, "{report}");
        check_reports(&ws, &session, &expected);
        // Every request was an hour off; the reaction to the fault failed once.
        let inf_time = report
            .lines()
            .filter(|l| l.starts_with("FAIL") && l.contains("[CERT-INF-TIME]"))
            .count();
        let requests = report
            .lines()
            .filter(|l| l.contains(" request ") || l.contains("request "))
            .count();
        assert!(inf_time >= 5, "{report}");
        assert!(requests >= inf_time);
    }

    // The sessions survive in the journal: the list shows them all, closed.
    let list = run_ok(&[
        "cert",
        "sessions",
        "--config",
        ws.config().to_str().unwrap(),
    ]);
    assert!(
        list.starts_with(&format!(
            "{} certification session(s)",
            Scenario::ALL.len() + 2
        )),
        "{list}"
    );
    assert!(!list.contains(", open"), "{list}");
    assert!(gw.terminate().success());
}
