//! medsettle-conformance: the vendor conformance suite.
//!
//! A case is a directory `cases/<dialect>/<NNN-short-name>/` holding `case.toml` and the
//! exact bytes `input.json` (or `input.xml` for future dialects). `case.toml`:
//!
//! ```toml
//! dialect = "nhsa"                 # which adapter decodes the input
//! kind = "exchange"                # request | response | exchange
//! description = "…"
//! infno = "2207"                   # optional: the transaction a lone response answers
//! [expected]
//! outcome = "accept"               # accept: the canonical JSON must equal expected.json
//! # outcome = "reject"             # reject: every rule id listed must be reported
//! # rules = ["FMT-MONEY"]
//! # paths = ["input.data.medfee_sumamt"]   # optional: each path must be reported too
//! [options]                        # optional
//! identity_warn_only = ["NHSA-ID-2"]
//! mdtrt_cert_no_max = 1024         # longest card|token credential number accepted
//! ```
//!
//! Legacy dialects (`dialect = "legacy:<profile>"`, input `input.xml`) add `transaction`,
//! `[args]`, `kind = "request" | "answer"` and `fields` in `[expected]`; see `src/legacy.rs`.
//!
//! An accepted message's canonical JSON includes the repairs applied to provincial shapes
//! (`"repairs"`, and `"derived"` on a claim), so an accept case states what was repaired.
//!
//! [`run_dir`] runs every case under a directory and returns a [`Summary`]; the binary
//! `medsettle-conformance` prints one line per failure and `N passed, N failed`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// The result of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    /// One line per failed case: `<case dir>: <why>`.
    pub failures: Vec<String>,
}

impl Summary {
    pub fn total(&self) -> usize {
        self.passed + self.failed
    }

    pub fn is_success(&self) -> bool {
        self.failed == 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)
    }
}

/// What a case expects.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub outcome: Outcome,
    #[serde(default)]
    pub rules: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    /// Legacy dialects: the legacy field the refusal must name (`prm_hisfyze`, `MSGNO`).
    #[serde(default)]
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Accept,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    Request,
    Response,
    Exchange,
    /// Legacy dialects: the answer to the call in `input.xml`, encoded from the national
    /// outputs in `outputs.json` (`expected.xml`: the exact bytes).
    Answer,
}

/// Decoding options a case may set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseOptions {
    /// Identity rule ids that only warn for this case (a provincial quirk).
    #[serde(default)]
    pub identity_warn_only: Vec<String>,
    /// Override of the JSON depth limit.
    #[serde(default)]
    pub json_depth_max: Option<usize>,
    /// Override of the longest `card|token` credential number accepted.
    #[serde(default)]
    pub mdtrt_cert_no_max: Option<usize>,
    /// Legacy dialects: overrides of `medsettle_legacy::Limits`.
    #[serde(default)]
    pub body_bytes_max: Option<usize>,
    #[serde(default)]
    pub xml_depth_max: Option<usize>,
    #[serde(default)]
    pub attributes_max: Option<usize>,
    #[serde(default)]
    pub rows_max: Option<usize>,
    #[serde(default)]
    pub text_bytes_max: Option<usize>,
}

/// `case.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    pub dialect: String,
    pub kind: CaseKind,
    pub description: String,
    #[serde(default)]
    pub infno: Option<String>,
    /// Legacy dialects: the transaction of the URL path (`41`, `1108`, `confirm`).
    #[serde(default)]
    pub transaction: Option<String>,
    /// Legacy dialects: the call arguments (Yunnan `TransCode`, `InsuredAreaNo`, …).
    #[serde(default)]
    pub args: std::collections::BTreeMap<String, String>,
    pub expected: Expected,
    #[serde(default)]
    pub options: CaseOptions,
    /// Rules an accepted case proves the input passes (traceability, `coverage`).
    #[serde(default)]
    pub rules_exercised: Vec<String>,
    /// The first suite version holding the case (`conformance/suite.toml`), inclusive.
    #[serde(default)]
    pub since: Option<String>,
    /// The suite version that dropped the case, exclusive.
    #[serde(default)]
    pub until: Option<String>,
}

/// What running one case's input through a dialect adapter gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// Accepted: the canonical JSON and the kind of message detected.
    Accepted {
        canonical: Value,
        detected: CaseKind,
    },
    /// Rejected: each violation as (rule id, field path).
    Rejected { violations: Vec<(String, String)> },
}

/// Run the input of a case through the adapter of its dialect. New dialects (legacy GBK XML,
/// interregion) add an arm here.
pub fn decode_case(case: &CaseFile, input: &[u8]) -> Result<Decoded, String> {
    match case.dialect.as_str() {
        "nhsa" => Ok(nhsa::decode(case, input)),
        other if other.starts_with("legacy:") => {
            Err("legacy cases are run by run_case (request and answer kinds)".into())
        }
        other => Err(format!("unknown dialect `{other}`")),
    }
}

mod nhsa {
    use medsettle_canonical::IdentityPolicy;
    use medsettle_nhsa::{Canonical, DecodeLimits, Options, Tolerance};

    use super::{CaseFile, CaseKind, Decoded};

    pub fn decode(case: &CaseFile, input: &[u8]) -> Decoded {
        let mut limits = DecodeLimits::default();
        if let Some(d) = case.options.json_depth_max {
            limits.json_depth_max = d;
        }
        let opts = Options {
            limits,
            identity_policy: IdentityPolicy {
                warn_only: case.options.identity_warn_only.clone(),
            },
            infno: case.infno.clone(),
            tolerance: Tolerance {
                mdtrt_cert_no_max: case
                    .options
                    .mdtrt_cert_no_max
                    .unwrap_or(Tolerance::default().mdtrt_cert_no_max),
                ..Tolerance::default()
            },
        };
        match medsettle_nhsa::decode(input, &opts) {
            // the canonical JSON with the repairs recorded (`repairs`, `derived`)
            Ok(d) => Decoded::Accepted {
                detected: match &d.canonical {
                    Canonical::Request(_) => CaseKind::Request,
                    Canonical::Response(_) => CaseKind::Response,
                    Canonical::Claim(_) | Canonical::Exchange { .. } => CaseKind::Exchange,
                },
                canonical: d.to_json(),
            },
            Err(e) => Decoded::Rejected {
                violations: e
                    .violations
                    .into_iter()
                    .map(|v| (v.rule.0.to_owned(), v.path))
                    .collect(),
            },
        }
    }
}

pub mod coverage;
mod legacy;
pub mod online;
pub mod report;
pub mod suite;

/// What checking one case found: the verdict and what a report shows of it.
#[derive(Debug, Clone)]
pub struct Checked {
    /// `case.toml`, when it could be read.
    pub case: Option<CaseFile>,
    /// The input as text (lossy for bytes that are not UTF-8 or GB18030).
    pub sent: String,
    /// What the adapter gave: the canonical JSON, or the violations one per line.
    pub received: String,
    /// What the case expects, as text.
    pub expected: String,
    /// A line diff of expected vs received, when the case failed on a difference.
    pub diff: String,
    /// The rule the failure concerns (a missing expected rule, or the rule of an unexpected
    /// refusal).
    pub failed_rule: Option<String>,
    /// `Ok(())` when it passes, `Err(why)` when it fails.
    pub result: Result<(), String>,
}

impl Checked {
    fn broken(why: String) -> Checked {
        Checked {
            case: None,
            sent: String::new(),
            received: String::new(),
            expected: String::new(),
            diff: String::new(),
            failed_rule: None,
            result: Err(why),
        }
    }
}

/// Longest text of a message kept in a report (the rest is elided).
pub const REPORT_TEXT_MAX: usize = 32 * 1024;

/// Bytes as text for a report: UTF-8, else GB18030 (a superset of GBK), cut at
/// [`REPORT_TEXT_MAX`].
pub fn text_of(bytes: &[u8]) -> String {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.to_owned(),
        Err(_) => encoding_rs::GB18030.decode(bytes).0.into_owned(),
    };
    cut(text)
}

/// `text` cut at [`REPORT_TEXT_MAX`] bytes (on a character boundary).
pub fn cut(mut text: String) -> String {
    if text.len() > REPORT_TEXT_MAX {
        let mut at = REPORT_TEXT_MAX;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let more = text.len() - at;
        text.truncate(at);
        text.push_str(&format!("\n… ({more} more bytes)"));
    }
    text
}

/// JSON with object keys sorted at every depth, pretty-printed (for diffs that ignore key
/// order, as the comparison does).
pub fn sorted_pretty(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sort(&m[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string_pretty(&sort(v)).unwrap_or_default()
}

/// Read `case.toml` of a case directory.
pub fn read_case(dir: &Path) -> Result<CaseFile, String> {
    let text =
        std::fs::read_to_string(dir.join("case.toml")).map_err(|e| format!("case.toml: {e}"))?;
    toml::from_str(&text).map_err(|e| format!("case.toml: {e}"))
}

/// Check one case directory and keep what a report shows.
pub fn check_case(dir: &Path) -> Checked {
    let case = match read_case(dir) {
        Ok(c) => c,
        Err(e) => return Checked::broken(e),
    };
    let Some(input_path) = ["input.json", "input.xml", "input.txt"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists())
    else {
        return Checked::broken("no input.json".into());
    };
    let input = match std::fs::read(&input_path) {
        Ok(i) => i,
        Err(e) => return Checked::broken(format!("{}: {e}", input_path.display())),
    };
    let mut out = Checked {
        case: Some(case.clone()),
        sent: text_of(&input),
        received: String::new(),
        expected: String::new(),
        diff: String::new(),
        failed_rule: None,
        result: Ok(()),
    };
    if let Some(profile) = case.dialect.strip_prefix("legacy:") {
        out.expected = expectation_text(&case);
        out.result = legacy::run(&case, profile, dir, &input);
        if let Err(why) = &out.result {
            out.received = why.clone();
            out.failed_rule = case.expected.rules.first().cloned();
        }
        return out;
    }
    let decoded = match decode_case(&case, &input) {
        Ok(d) => d,
        Err(e) => {
            out.result = Err(e);
            return out;
        }
    };
    let violations_text = |violations: &[(String, String)]| {
        violations
            .iter()
            .map(|(r, p)| format!("[{r}] {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    out.result = match (case.expected.outcome, decoded) {
        (
            Outcome::Accept,
            Decoded::Accepted {
                canonical,
                detected,
            },
        ) => {
            out.received = cut(sorted_pretty(&canonical));
            let expected: Result<Value, String> =
                std::fs::read_to_string(dir.join("expected.json"))
                    .map_err(|e| format!("expected.json: {e}"))
                    .and_then(|t| {
                        serde_json::from_str(&t).map_err(|e| format!("expected.json: {e}"))
                    });
            match expected {
                Err(e) => Err(e),
                Ok(_) if detected != case.kind => Err(format!(
                    "detected a {detected:?} but the case is a {:?}",
                    case.kind
                )),
                Ok(expected) => {
                    out.expected = cut(sorted_pretty(&expected));
                    match first_difference(&expected, &canonical, "$") {
                        None => Ok(()),
                        Some(diff) => {
                            out.diff = report::line_diff(&out.expected, &out.received);
                            Err(format!("canonical output differs: {diff}"))
                        }
                    }
                }
            }
        }
        (Outcome::Accept, Decoded::Rejected { violations }) => {
            out.received = violations_text(&violations);
            out.expected = "accepted".into();
            out.failed_rule = violations.first().map(|(r, _)| r.clone());
            Err(format!(
                "expected accept, got reject: {}",
                violations
                    .iter()
                    .map(|(r, p)| format!("[{r}] {p}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        }
        (Outcome::Reject, Decoded::Accepted { canonical, .. }) => {
            out.received = cut(sorted_pretty(&canonical));
            out.expected = expectation_text(&case);
            out.failed_rule = case.expected.rules.first().cloned();
            Err(format!(
                "expected reject with {:?}, got accept",
                case.expected.rules
            ))
        }
        (Outcome::Reject, Decoded::Rejected { violations }) => {
            out.received = violations_text(&violations);
            out.expected = expectation_text(&case);
            let missing_rules: Vec<_> = case
                .expected
                .rules
                .iter()
                .filter(|r| !violations.iter().any(|(got, _)| got == *r))
                .collect();
            let missing_paths: Vec<_> = case
                .expected
                .paths
                .iter()
                .filter(|p| !violations.iter().any(|(_, got)| got == *p))
                .collect();
            if case.expected.rules.is_empty() {
                Err("a reject case must list the rule ids it expects".into())
            } else if missing_rules.is_empty() && missing_paths.is_empty() {
                Ok(())
            } else {
                out.failed_rule = missing_rules.first().map(|r| (*r).clone());
                out.diff = report::line_diff(&out.expected, &out.received);
                Err(format!(
                    "missing rules {missing_rules:?} / paths {missing_paths:?}; got {}",
                    violations
                        .iter()
                        .map(|(r, p)| format!("[{r}] {p}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                ))
            }
        }
    };
    out
}

/// A refusal's expectation as the report shows it: `[RULE] path` lines.
fn expectation_text(case: &CaseFile) -> String {
    match case.expected.outcome {
        Outcome::Accept => "accepted".into(),
        Outcome::Reject => {
            let mut lines: Vec<String> = case
                .expected
                .rules
                .iter()
                .map(|r| format!("[{r}]"))
                .collect();
            lines.extend(case.expected.paths.iter().map(|p| format!("path {p}")));
            lines.extend(case.expected.fields.iter().map(|f| format!("field {f}")));
            lines.join("\n")
        }
    }
}

/// Run one case directory. `Ok(())` when it passes, `Err(why)` when it fails.
pub fn run_case(dir: &Path) -> Result<(), String> {
    check_case(dir).result
}

/// Compare JSON structurally (object key order ignored; numbers by value: `100` = `100.0`).
pub fn first_difference(expected: &Value, got: &Value, path: &str) -> Option<String> {
    match (expected, got) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    None => return Some(format!("{p} missing (expected {va})")),
                    Some(vb) => {
                        if let Some(d) = first_difference(va, vb, &p) {
                            return Some(d);
                        }
                    }
                }
            }
            b.keys()
                .find(|k| !a.contains_key(*k))
                .map(|k| format!("{path}.{k} unexpected (got {})", b[k]))
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!(
                    "{path}: expected {} elements, got {}",
                    a.len(),
                    b.len()
                ));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| first_difference(x, y, &format!("{path}[{i}]")))
        }
        (Value::Number(a), Value::Number(b)) => (normalize_number(a.as_str())
            != normalize_number(b.as_str()))
        .then(|| format!("{path}: expected {a}, got {b}")),
        (a, b) => (a != b).then(|| format!("{path}: expected {a}, got {b}")),
    }
}

/// Decimal number text without trailing fractional zeros or exponent (exact, no float).
fn normalize_number(text: &str) -> String {
    for scale in [0u32, 2, 4, 6, 10] {
        if let Ok(v) = medsettle_canonical::money::parse_scaled(text, scale) {
            return medsettle_canonical::money::format_scaled(v, scale)
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_owned();
        }
    }
    text.to_owned()
}

/// Every case directory under `dir` (a directory holding `case.toml`), sorted.
pub fn find_cases(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if dir.join("case.toml").is_file() {
        out.push(dir.to_path_buf());
        return out;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut children: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    children.sort();
    for c in children {
        out.extend(find_cases(&c));
    }
    out
}

/// Run every case under `dir` (or `dir` itself if it is a case), offline.
pub fn run_dir(dir: &Path) -> Summary {
    let mut summary = Summary::default();
    let cases = find_cases(dir);
    if cases.is_empty() {
        summary.failed += 1;
        summary
            .failures
            .push(format!("{}: no conformance cases found", dir.display()));
        return summary;
    }
    let selection = suite::Selection::default();
    for r in suite::run_offline(dir, &selection) {
        match r.status {
            report::Status::Passed => summary.passed += 1,
            report::Status::Failed => {
                summary.failed += 1;
                summary.failures.push(format!("{}: {}", r.name, r.message));
            }
            report::Status::Skipped => {}
        }
    }
    summary
}

/// The suite shipped in this repository (`conformance/cases`).
pub fn bundled_cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../cases")
}

/// Write a report to `path` whole or not at all: to a temporary name beside it, then renamed
/// over it, so a CI that reads the file never sees half a report and an interrupted run never
/// leaves one.
pub fn write_report_file(path: &Path, text: impl AsRef<[u8]>) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn structural_comparison() {
        assert_eq!(
            first_difference(&json!({"a":1,"b":[1,2]}), &json!({"b":[1,2],"a":1}), "$"),
            None
        );
        assert!(first_difference(&json!({"a":1}), &json!({"a":2}), "$").is_some());
        assert!(first_difference(&json!({"a":1}), &json!({"a":1,"b":2}), "$").is_some());
        let a: Value = serde_json::from_str(r#"{"x":100}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"x":100.00}"#).unwrap();
        assert_eq!(first_difference(&a, &b, "$"), None);
        assert!(first_difference(&json!([1]), &json!([1, 2]), "$").is_some());
    }
}
