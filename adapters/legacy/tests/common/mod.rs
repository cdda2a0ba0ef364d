//! Shared helpers of the integration tests.
#![allow(dead_code)]

use medsettle_legacy::{LegacyCall, LegacyError, Limits, Profile, decode_call};
use serde_json::Value;

pub fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn profile(name: &str) -> Profile {
    Profile::builtin(name).expect("built-in profile")
}

pub fn args(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn decode(
    p: &Profile,
    tx: &str,
    a: &[(String, String)],
    body: &[u8],
) -> Result<LegacyCall, LegacyError> {
    decode_call(p, tx, a, body, &Limits::default())
}

pub fn ok(p: &Profile, tx: &str, a: &[(String, String)], body: &[u8]) -> LegacyCall {
    decode(p, tx, a, body).unwrap_or_else(|e| panic!("{} {tx}: {e}", p.name()))
}

pub fn err(p: &Profile, tx: &str, a: &[(String, String)], body: &[u8]) -> LegacyError {
    match decode(p, tx, a, body) {
        Ok(c) => panic!(
            "{} {tx}: expected a refusal, got {}",
            p.name(),
            serde_json::to_string(&c).unwrap()
        ),
        Err(e) => e,
    }
}

/// Apply carries and lookups with placeholder values, then decode every step with the
/// national adapter: what proves the gateway can run them.
pub fn assert_national(call: &LegacyCall) {
    for (i, step) in call.steps.iter().enumerate() {
        let mut input = step.input.clone();
        for c in step.carry.iter().chain(&step.lookup) {
            assert!(
                c.from_step < i || !step.lookup.is_empty(),
                "carry from a later step"
            );
            let slot = input
                .pointer_mut(&c.to)
                .unwrap_or_else(|| panic!("carry target {} missing", c.to));
            assert_eq!(
                slot,
                &Value::String(String::new()),
                "carry target holds the placeholder"
            );
            *slot = Value::String(format!("CARRIED{}", c.from_step));
        }
        if let Err(e) = medsettle_nhsa::decode_input(&step.infno, &input) {
            panic!(
                "{} {} step {i} ({}) does not decode nationally: {e}\n{}",
                call.profile,
                call.transaction,
                step.infno,
                serde_json::to_string_pretty(&input).unwrap()
            );
        }
    }
}

pub fn text(body: &[u8], gbk: bool) -> String {
    if gbk {
        let (t, _, bad) = encoding_rs::GB18030.decode(body);
        assert!(!bad);
        t.into_owned()
    } else {
        String::from_utf8(body.to_vec()).unwrap()
    }
}

pub fn gbk(s: &str) -> Vec<u8> {
    let (b, _, bad) = encoding_rs::GBK.encode(s);
    assert!(!bad, "{s}");
    b.into_owned()
}
