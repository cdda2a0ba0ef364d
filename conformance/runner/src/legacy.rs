//! Legacy dialect cases (`dialect = "legacy:<profile>"`).
//!
//! ```toml
//! dialect = "legacy:guizhou"
//! kind = "request"          # request: input.xml is the call; answer: see below
//! transaction = "41"        # the transaction of the URL path
//! description = "…"
//! [args]                    # optional: the call arguments (Yunnan TransCode, InsuredAreaNo, …)
//! InsuredAreaNo = "880100"
//! [expected]
//! outcome = "accept"        # request: the LegacyCall as JSON must equal expected.json
//! # outcome = "reject"
//! # rules = ["LEG-AMOUNT"]  # the rule of the refusal
//! # fields = ["prm_hisfyze"] # the legacy field it names
//! [options]                 # optional Limits overrides
//! rows_max = 2
//! ```
//! - `request` + `accept`: `expected.json` is the decoded call. Steps (the national inputs
//!   and carries) compare structurally and exactly; `repairs` and `derived` compare by the
//!   fields they name (as multisets): their `what` is explanatory prose, not contract.
//! - `request` + `reject`: the refusal's rule and field; with `expected.xml`, the refusal as
//!   answered in the dialect (exact bytes, in the request's declared or default encoding).
//! - `answer`: `input.xml` is the call, `outputs.json` the national output of each step;
//!   `accept` compares the encoded answer with `expected.xml` byte for byte, `reject`
//!   checks the rule and field of the refusal.
//!
//! A profile that is not built in is read from `specs/legacy/<profile>.toml` of this source
//! tree, so a new dialect needs only its TOML and its cases.

use std::path::Path;

use medsettle_legacy::{Encoding, LegacyError, Limits, Profile};
use serde_json::Value;

use crate::{CaseFile, CaseKind, Outcome, first_difference};

fn profile(name: &str) -> Result<Profile, String> {
    if let Some(p) = Profile::builtin(name) {
        return Ok(p);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../specs/legacy")
        .join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("no profile `{name}` ({}: {e})", path.display()))?;
    Profile::from_toml(&text).map_err(|e| e.to_string())
}

fn limits(case: &CaseFile) -> Limits {
    let o = &case.options;
    let d = Limits::default();
    Limits {
        body_bytes_max: o.body_bytes_max.unwrap_or(d.body_bytes_max),
        depth_max: o.xml_depth_max.unwrap_or(d.depth_max),
        attributes_max: o.attributes_max.unwrap_or(d.attributes_max),
        rows_max: o.rows_max.unwrap_or(d.rows_max),
        text_bytes_max: o.text_bytes_max.unwrap_or(d.text_bytes_max),
    }
}

/// Run one legacy case.
pub fn run(case: &CaseFile, profile_name: &str, dir: &Path, input: &[u8]) -> Result<(), String> {
    let p = profile(profile_name)?;
    let tx = case
        .transaction
        .as_deref()
        .ok_or("a legacy case needs `transaction`")?;
    let args: Vec<(String, String)> = case
        .args
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let decoded = medsettle_legacy::decode_call(&p, tx, &args, input, &limits(case));
    match case.kind {
        CaseKind::Request => request(case, &p, tx, dir, input, decoded),
        CaseKind::Answer => {
            let call = decoded.map_err(|e| format!("the call does not decode: {e}"))?;
            let text = std::fs::read_to_string(dir.join("outputs.json"))
                .map_err(|e| format!("outputs.json: {e}"))?;
            let outputs: Vec<Value> =
                serde_json::from_str(&text).map_err(|e| format!("outputs.json: {e}"))?;
            match (
                case.expected.outcome,
                medsettle_legacy::encode_answer(&p, &call, &outputs),
            ) {
                (Outcome::Accept, Ok(answer)) => same_bytes(dir, &answer.body),
                (Outcome::Accept, Err(e)) => Err(format!("expected an answer, got {e}")),
                (Outcome::Reject, Ok(_)) => Err("expected a refusal, got an answer".into()),
                (Outcome::Reject, Err(e)) => refusal(case, &e),
            }
        }
        other => Err(format!(
            "a legacy case is a request or an answer, not {other:?}"
        )),
    }
}

fn request(
    case: &CaseFile,
    p: &Profile,
    tx: &str,
    dir: &Path,
    input: &[u8],
    decoded: Result<medsettle_legacy::LegacyCall, LegacyError>,
) -> Result<(), String> {
    match (case.expected.outcome, decoded) {
        (Outcome::Accept, Ok(call)) => {
            runs_nationally(&call)?;
            let got = serde_json::to_value(&call).map_err(|e| e.to_string())?;
            let text = std::fs::read_to_string(dir.join("expected.json"))
                .map_err(|e| format!("expected.json: {e}"))?;
            let expected: Value =
                serde_json::from_str(&text).map_err(|e| format!("expected.json: {e}"))?;
            match first_difference(&notes_by_field(expected), &notes_by_field(got), "$") {
                None => Ok(()),
                Some(d) => Err(format!("the decoded call differs: {d}")),
            }
        }
        (Outcome::Accept, Err(e)) => Err(format!("expected accept, got {e}")),
        (Outcome::Reject, Ok(_)) => Err(format!(
            "expected reject with {:?}, got accept",
            case.expected.rules
        )),
        (Outcome::Reject, Err(e)) => {
            refusal(case, &e)?;
            let xml = dir.join("expected.xml");
            if xml.exists() {
                let encoding = medsettle_legacy::text::declared_label(input)
                    .and_then(|l| Encoding::from_label(&l))
                    .unwrap_or(p.default_encoding());
                let answer = medsettle_legacy::encode_error(p, tx, encoding, &e);
                same_bytes(dir, &answer.body)?;
            }
            Ok(())
        }
    }
}

/// Every step, with its carry and lookup places filled by placeholders, must decode as the
/// national transaction it names: what the gateway will run.
fn runs_nationally(call: &medsettle_legacy::LegacyCall) -> Result<(), String> {
    for (i, step) in call.steps.iter().enumerate() {
        let mut input = step.input.clone();
        for c in step.carry.iter().chain(&step.lookup) {
            let slot = input
                .pointer_mut(&c.to)
                .ok_or_else(|| format!("step {i}: the carry target {} is missing", c.to))?;
            *slot = Value::String(format!("CARRIED{}", c.from_step));
        }
        medsettle_nhsa::decode_input(&step.infno, &input).map_err(|e| {
            format!(
                "step {i} ({}) is not a valid national input: {e}",
                step.infno
            )
        })?;
    }
    Ok(())
}

fn refusal(case: &CaseFile, e: &LegacyError) -> Result<(), String> {
    if case.expected.rules.is_empty() {
        return Err("a reject case must list the rule ids it expects".into());
    }
    if !case.expected.rules.iter().any(|r| r == e.rule) {
        return Err(format!("expected {:?}, got {e}", case.expected.rules));
    }
    if let Some(f) = case.expected.fields.iter().find(|f| **f != e.field) {
        return Err(format!("expected the field `{f}` named, got {e}"));
    }
    Ok(())
}

fn same_bytes(dir: &Path, got: &[u8]) -> Result<(), String> {
    let expected =
        std::fs::read(dir.join("expected.xml")).map_err(|e| format!("expected.xml: {e}"))?;
    if expected == got {
        return Ok(());
    }
    let at = expected
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(got.len()));
    let show = |b: &[u8]| {
        let (t, _, _) =
            encoding_rs::GB18030.decode(&b[at.saturating_sub(40)..b.len().min(at + 60)]);
        t.into_owned()
    };
    Err(format!(
        "the answer differs at byte {at}: expected …{}…, got …{}…",
        show(&expected),
        show(got)
    ))
}

/// `repairs` and `derived` reduced to the sorted fields they name.
fn notes_by_field(mut v: Value) -> Value {
    for key in ["repairs", "derived"] {
        if let Some(Value::Array(notes)) = v.get(key) {
            let mut fields: Vec<String> = notes
                .iter()
                .map(|n| {
                    n.get("field")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect();
            fields.sort();
            v[key] = Value::Array(fields.into_iter().map(Value::String).collect());
        }
    }
    v
}
