//! The hostile corpus against the real gateway (issue 15, "a hostile corpus"): every request
//! case of the conformance suite that must be refused — national JSON and every legacy dialect
//! — is sent over mutual TLS to a running `medsettle serve`. Each is refused (400, or 403 for a
//! national case whose institution this certificate may not speak for), names its rule where
//! the gateway reads that far, and **nothing is journaled**: after the whole corpus the journal
//! holds no record at all.

mod common;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::*;
use medsettle_client::his::HisConnection;
use medsettle_client::legacy;
use serde_json::Value;

const CODE: &str = "H44030000001";

#[derive(serde::Deserialize)]
struct Case {
    dialect: String,
    kind: String,
    #[serde(default)]
    transaction: Option<String>,
    #[serde(default)]
    args: toml::Table,
    expected: Expected,
    #[serde(default)]
    options: toml::Table,
}

#[derive(serde::Deserialize)]
struct Expected {
    outcome: String,
    #[serde(default)]
    rules: Vec<String>,
}

/// Every refused request case: (name, dialect, transaction, args, input bytes, rules).
type Hostile = (
    String,
    String,
    Option<String>,
    Vec<(String, String)>,
    Vec<u8>,
    Vec<String>,
);

fn hostile_cases() -> Vec<Hostile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/cases");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case.toml").exists())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let case: Case = toml::from_str(&std::fs::read_to_string(dir.join("case.toml")).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        // Options change the decoder (a quirk configured to warn, another depth): the gateway
        // runs with its defaults, so such cases are the offline suite's alone.
        if case.kind != "request" || case.expected.outcome != "reject" || !case.options.is_empty() {
            continue;
        }
        let input = ["input.json", "input.xml"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{}: no input", dir.display()));
        let args = case
            .args
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        out.push((
            dir.strip_prefix(&root).unwrap().display().to_string(),
            case.dialect,
            case.transaction,
            args,
            std::fs::read(input).unwrap(),
            case.expected.rules,
        ));
    }
    out
}

#[test]
fn every_refused_request_of_the_suite_is_refused_by_the_gateway_and_nothing_is_journaled() {
    let cases = hostile_cases();
    assert!(
        cases.len() >= 200,
        "only {} hostile request cases",
        cases.len()
    );
    let ws = Workspace::init();
    let gw = ws.serve_env(&[], &[("MEDSETTLE_LOG", "warn")]);
    let rt = runtime();
    let (named, forbidden) = rt.block_on(async {
        let mut conn = HisConnection::connect(gw.addr, ws.tls_for(CODE))
            .await
            .unwrap();
        let (mut named, mut forbidden) = (0usize, 0usize);
        for (name, dialect, transaction, args, input, rules) in &cases {
            if dialect == "nhsa" {
                let (status, body) = conn
                    .post(his::CALL_SERVICE_PATH, Bytes::from(input.clone()))
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                let answer: Value = serde_json::from_slice(&body)
                    .unwrap_or_else(|e| panic!("{name}: answer is not JSON ({e})"));
                assert_eq!(infcode(&answer), -1, "{name}: {answer}");
                match status {
                    400 => {
                        // The gateway stops at the envelope when it is broken, so a case
                        // expecting envelope and input rules names at least one of them.
                        let err = answer["err_msg"].as_str().unwrap_or_default();
                        assert!(
                            rules.is_empty() || rules.iter().any(|r| err.contains(r.as_str())),
                            "{name}: none of {rules:?} named: {err}"
                        );
                        named += 1;
                    }
                    // Typed input is read after the certificate is checked: another
                    // institution's request stops there.
                    403 => forbidden += 1,
                    other => panic!("{name}: HTTP {other}: {answer}"),
                }
            } else {
                let profile = dialect.strip_prefix("legacy:").unwrap();
                let args: Vec<(&str, &str)> =
                    args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let tx = transaction.as_deref().unwrap_or_default();
                let reply = legacy::call(&mut conn, profile, tx, &args, input.clone())
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(reply.appcode < 0, "{name}: {reply:?}");
                match reply.status {
                    400 | 200 => {
                        for r in rules {
                            assert!(
                                reply.appmsg.contains(r.as_str()),
                                "{name}: {r} not named: {reply:?}"
                            );
                        }
                        named += 1;
                    }
                    403 => forbidden += 1,
                    other => panic!("{name}: HTTP {other}: {reply:?}"),
                }
            }
        }
        (named, forbidden)
    });
    assert!(gw.terminate().success());
    eprintln!(
        "{} hostile requests: {named} refused naming their rule, {forbidden} at the certificate",
        cases.len()
    );
    assert_eq!(named + forbidden, cases.len());
    assert!(
        named >= cases.len() * 3 / 4,
        "{named} of {} refused naming their rule",
        cases.len()
    );
    let stats = ws.journal_stats();
    assert_eq!(
        stats["record_count"], 0,
        "a refused request was journaled: {stats}"
    );
}
