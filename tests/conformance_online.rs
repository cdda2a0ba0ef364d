//! The online conformance suite against medsettle itself (issue 17, "online mode"): a gateway
//! from `medsettle init`, and the runner binary `medsettle-conformance run --target …` as a
//! vendor runs it — its institution certificate, the person registry of the target, every
//! report format. Every flow passes; with a wrong expectation of the target's data the run
//! fails naming the flow, so the suite cannot pass vacuously.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const CODE: &str = "H44030000001";

/// The runner binary, built from this source tree.
fn runner() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "medsettle-conformance", "--bin"])
        .arg("medsettle-conformance")
        .current_dir(root)
        .status()
        .expect("cargo build -p medsettle-conformance");
    assert!(status.success(), "building the conformance runner failed");
    // this test runs from target/<profile>/deps/
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("medsettle-conformance");
    assert!(bin.is_file(), "no runner at {}", bin.display());
    bin
}

fn artifacts() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/test-artifacts
    let d = exe.ancestors().nth(3).unwrap().join("test-artifacts");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_suite(
    bin: &Path,
    ws: &Workspace,
    addr: std::net::SocketAddr,
    extra: &[&str],
) -> (i32, String) {
    let (cert, key) = ws.client_cert(CODE);
    let out = Command::new(bin)
        .arg("run")
        .arg("--target")
        .arg(format!("https://{addr}"))
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg("--ca")
        .arg(ws.ca())
        .args(["--institution", CODE])
        .arg("--persons")
        .arg(ws.path().join("policy/persons.toml"))
        .args(extra)
        .output()
        .expect("run medsettle-conformance");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), stdout)
}

#[test]
fn the_online_suite_passes_against_medsettle() {
    let bin = runner();
    let ws = Workspace::init();
    let gw = ws.serve_env(&[], &[("MEDSETTLE_LOG", "warn")]);
    let art = artifacts();
    let json = art.join("conformance-online.json");
    let junit = art.join("conformance-online.xml");
    let html = art.join("conformance-online.html");
    let (code, stdout) = run_suite(
        &bin,
        &ws,
        gw.addr,
        &[
            "--json",
            json.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["summary"]["failed"], 0);
    assert_eq!(report["suite_version"], "1.1.0");
    let cases = report["cases"].as_array().unwrap();
    assert!(cases.len() >= 7, "{} flows", cases.len());
    let names: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for flow in [
        "online/001-outpatient-visit",
        "online/002-inpatient-stay",
        "online/003-idempotent-replay",
        "online/004-refused-envelopes",
        "online/005-business-refusal",
        "online/006-legacy-guizhou-outpatient",
    ] {
        assert!(names.contains(&flow), "{flow} did not run: {names:?}");
    }
    // every step of every flow ran and passed
    for c in cases {
        for s in c["steps"].as_array().unwrap() {
            assert_eq!(s["status"], "passed", "{} / {}", c["name"], s["name"]);
        }
    }
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("<testsuites")
    );

    // Against the same gateway, checking only what the national interface defines.
    let (code, stdout) = run_suite(&bin, &ws, gw.addr, &["--interface-only", "--suite", "nhsa"]);
    assert_eq!(code, 0, "{stdout}");

    // A vendor's data that does not match the target: the ID number said to be unknown is a
    // real person's, so the business refusal does not come and the run fails naming it.
    let data = ws.path().join("conformance-data.toml");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/cases/online/data.toml"),
    )
    .unwrap();
    let known = ws.insured().remove(0).certno;
    std::fs::write(
        &data,
        text.replace(
            "unknown_certno = \"440304190001010000\"",
            &format!("unknown_certno = \"{known}\""),
        ),
    )
    .unwrap();
    let (code, stdout) = run_suite(
        &bin,
        &ws,
        gw.addr,
        &[
            "--data",
            data.to_str().unwrap(),
            "--only",
            "005-business-refusal",
        ],
    );
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("FAIL online/005-business-refusal")
            && stdout.contains("0 passed, 1 failed"),
        "{stdout}"
    );
    assert!(gw.terminate().success());
}
