//! The report renderers on a run with failures: the JUnit XML validates against the JUnit
//! schema of this repository (`conformance/junit.xsd`, `xmllint --schema`), and the HTML report
//! opens in headless Chromium, which renders the failed cases and steps (its DOM is checked and
//! a screenshot is kept under `target/test-artifacts/`). `.ci/test` installs xmllint
//! (libxml2-utils) and Chromium.

use std::path::{Path, PathBuf};
use std::process::Command;

use medsettle_conformance::report::{CaseResult, Report, Status, StepResult, line_diff};
use medsettle_conformance::suite::{self, Selection};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("medsettle-conf-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let d = target.join("test-artifacts");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A real offline run over a copy of a few bundled cases, two of them broken on purpose, plus
/// an online-style flow whose settlement step failed.
fn report_with_failures() -> Report {
    let bundled = medsettle_conformance::bundled_cases_dir();
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = tmp(&format!("report-cases-{n}"));
    for case in [
        "nhsa/043-exchange-2207-example-a-b",
        "nhsa/056-identity-2",
        "nhsa/001-request-1101",
        "legacy-guizhou/009-48-outpatient",
    ] {
        let from = bundled.join(case);
        let to = dir.join(case);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(&from).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    // an accept case whose expectation is wrong (a diff), and a reject case naming the wrong rule
    let exp = dir.join("nhsa/043-exchange-2207-example-a-b/expected.json");
    let text = std::fs::read_to_string(&exp).unwrap();
    let changed = text.replacen("\"psn_name\": \"李四\"", "\"psn_name\": \"王五\"", 1);
    assert_ne!(text, changed, "043 names its person");
    std::fs::write(&exp, changed).unwrap();
    let toml = dir.join("nhsa/056-identity-2/case.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, text.replace("NHSA-ID-2", "NHSA-ID-4")).unwrap();

    let mut r = suite::offline_report(&dir, &Selection::default());
    let mut flow = CaseResult::failed(
        "online/001-outpatient-visit",
        "nhsa",
        "step 5 (settle): output.setlinfo.medfee_sumamt = 120.00, expected 125.00",
    );
    flow.failed_rule = Some("NHSA-ID-2".into());
    flow.rules = vec!["NHSA-ID-2".into(), "GW-AUTH".into()];
    flow.expected = "output.setlinfo.medfee_sumamt = 125.00".into();
    flow.diff = line_diff(
        "output.setlinfo.medfee_sumamt = 125.00\n",
        "output.setlinfo.medfee_sumamt = 120.00\n",
    );
    for (name, status, message) in [
        ("register", Status::Passed, ""),
        (
            "settle",
            Status::Failed,
            "settle-step-failed-marker: medfee_sumamt 120.00",
        ),
        (
            "reverse",
            Status::Skipped,
            "not sent: an earlier step failed",
        ),
    ] {
        flow.steps.push(StepResult {
            name: name.into(),
            status,
            sent: format!("POST /fsi/api/rsfComIfsService/callService\n\n{{\"infno\":\"{name}\"}}"),
            received: "HTTP 200\n\n{\"infcode\":0}".into(),
            message: message.into(),
        });
    }
    r.cases.push(flow);
    std::fs::remove_dir_all(&dir).unwrap();
    r
}

#[test]
fn junit_report_validates_against_the_junit_schema() {
    let r = report_with_failures();
    assert_eq!(r.failed(), 3, "{}", r.to_text());
    assert!(r.passed() >= 2);
    assert!(!r.is_success());
    let dir = tmp("junit");
    let xml = dir.join("report.xml");
    std::fs::write(&xml, r.to_junit_xml()).unwrap();
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../junit.xsd");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(&xml)
        .output()
        .expect("xmllint is not installed (apt-get install libxml2-utils; .ci/test installs it)");
    assert!(
        out.status.success(),
        "the JUnit report does not validate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&xml).unwrap();
    assert!(
        text.contains("<property name=\"suite_version\" value=\"1.1.0\"/>"),
        "{text}"
    );
    assert_eq!(text.matches("<failure ").count(), 3);
    // the schema is not vacuous: a failure outside a testcase is refused
    let bad = dir.join("bad.xml");
    std::fs::write(
        &bad,
        "<testsuites><testsuite name=\"x\" tests=\"1\"><failure message=\"m\"/></testsuite></testsuites>",
    )
    .unwrap();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the schema accepted a stray <failure>"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "Chromium is not installed (apt-get install chromium; .ci/test installs it)"
    );
    Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("run chromium")
}

#[test]
fn html_report_renders_the_failed_steps_in_headless_chromium() {
    let r = report_with_failures();
    let html = r.to_html();
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("src="));
    let dir = tmp("html");
    let page = dir.join("report.html");
    std::fs::write(&page, &html).unwrap();
    let url = format!("file://{}", page.display());

    let out = chromium(&dir.join("profile-dom"), &["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the failed cases, open, with their failed rule, the diff and the failed step
    for needle in [
        "id=\"suite-version\">1.1.0<",
        "3 failed",
        "nhsa/043-exchange-2207-example-a-b",
        "nhsa/056-identity-2",
        "online/001-outpatient-visit",
        "settle-step-failed-marker",
        "class=\"step failed\"",
        "data-status=\"failed\" open=\"\"",
        "<span class=\"del\">",
        "<span class=\"ins\">",
        "id=\"by-rule\"",
    ] {
        assert!(dom.contains(needle), "the rendered DOM lacks {needle:?}");
    }

    let shot = artifacts().join("conformance-report.png");
    let _ = std::fs::remove_file(&shot);
    let out = chromium(
        &dir.join("profile-shot"),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000",
            &url,
        ],
    );
    assert!(
        out.status.success(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    std::fs::copy(&page, artifacts().join("conformance-report.html")).unwrap();
    eprintln!("screenshot: {}", shot.display());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_report_names_the_suite_version_and_the_failures() {
    let r = report_with_failures();
    let j: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(j["suite_version"], "1.1.0");
    assert_eq!(j["interface_version"], "V1.0");
    assert_eq!(j["summary"]["failed"], 3);
    assert_eq!(j["summary"]["success"], false);
    let failed: Vec<&str> = j["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "failed")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&"nhsa/056-identity-2"), "{failed:?}");
    let id2 = &j["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "nhsa/056-identity-2")
        .unwrap();
    assert_eq!(id2["failed_rule"], "NHSA-ID-4");
    assert!(j["by_rule"]["NHSA-ID-2"]["failed"].as_u64().unwrap() >= 1);
}

/// A report file is replaced whole: the new text, no temporary file left beside it.
#[test]
fn a_report_file_is_replaced_whole() {
    let dir = std::env::temp_dir().join(format!("medsettle-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("report.xml");
    std::fs::write(&path, "old and much longer text than the new one").unwrap();
    medsettle_conformance::write_report_file(&path, "new").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
