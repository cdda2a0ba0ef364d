//! Body bytes → JSON value, in the order that keeps a hostile body cheap to refuse: size, then
//! nesting (a linear scan, before any parser recursion), then UTF-8, then JSON, then repeated
//! keys.
//!
//! Numbers keep their exact text (the workspace builds serde_json with `arbitrary_precision`),
//! so an amount never passes through a float. A repeated key is refused rather than resolved:
//! serde_json keeps the last value while the journal keeps the bytes with both, and two readers
//! of one stored message must never disagree about what it said.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::field::{path_key, quote};
use crate::limits::Limits;
use crate::refusal::{Refusal, rule};

/// Parse a body under `limits` into a JSON value (of any type; callers require an object).
pub(crate) fn parse_body(bytes: &[u8], limits: &Limits) -> Result<Value, Refusal> {
    if bytes.len() > limits.body_bytes_max {
        return Err(Refusal::new(
            rule::ENV_SIZE,
            "",
            format!(
                "the body has {} bytes; at most {} are accepted",
                bytes.len(),
                limits.body_bytes_max
            ),
        ));
    }
    check_depth(bytes, limits.json_depth_max)?;
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Refusal::new(
            rule::ENV_UTF8,
            "",
            format!(
                "the body is not UTF-8 (valid up to byte {})",
                e.valid_up_to()
            ),
        )
    })?;
    // RFC 8259 lets a parser ignore a byte-order mark; refusing one would help nobody.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Refusal::new(
            rule::ENV_JSON,
            "",
            format!("the body is not well-formed JSON: {e}"),
        )
    })?;
    if let Some((path, key)) = repeated_key(text) {
        return Err(Refusal::new(
            rule::ENV_DUPLICATE_KEY,
            path,
            format!("the key {} appears twice in one object", quote(&key)),
        ));
    }
    Ok(value)
}

/// Refuse nesting deeper than `depth_max` by counting brackets outside strings: linear, no
/// recursion, so `[[[[…` a megabyte deep costs one pass.
fn check_depth(bytes: &[u8], depth_max: usize) -> Result<(), Refusal> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut after_backslash = false;
    for &b in bytes {
        if in_string {
            match (after_backslash, b) {
                (true, _) => after_backslash = false,
                (false, b'\\') => after_backslash = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > depth_max {
                    return Err(Refusal::new(
                        rule::ENV_DEPTH,
                        "",
                        format!("the body nests deeper than {depth_max} levels"),
                    ));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The path and name of the first key that an object of `text` (already known to be valid
/// JSON) names twice.
fn repeated_key(text: &str) -> Option<(String, String)> {
    let mut trail: Option<Vec<String>> = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let probe = KeyProbe { trail: &mut trail };
    if probe.deserialize(&mut de).is_ok() {
        return None;
    }
    // The trail was built innermost first while the error travelled out.
    let steps = trail?;
    let key = steps.first().cloned().unwrap_or_default();
    let mut path = String::new();
    for step in steps.iter().rev() {
        if !step.starts_with('[') && !path.is_empty() {
            path.push('.');
        }
        path.push_str(step);
    }
    Some((path, key))
}

/// Walks a JSON value only to look at object keys. On a repeated key it fails, leaving the
/// key in `trail`; each level the failure passes through adds its own step.
struct KeyProbe<'a> {
    trail: &'a mut Option<Vec<String>>,
}

impl KeyProbe<'_> {
    fn note(&mut self, step: impl FnOnce() -> String) {
        if let Some(steps) = self.trail.as_mut() {
            steps.push(step());
        }
    }
}

impl<'de> DeserializeSeed<'de> for KeyProbe<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyProbe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            match seq.next_element_seed(KeyProbe {
                trail: &mut *self.trail,
            }) {
                Ok(Some(())) => index += 1,
                Ok(None) => return Ok(()),
                Err(e) => {
                    self.note(|| format!("[{index}]"));
                    return Err(e);
                }
            }
        }
    }

    // With `arbitrary_precision` a number arrives here as a one-key map; one key cannot repeat.
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if keys.contains(&key) {
                *self.trail = Some(vec![path_key(&key)]);
                return Err(de::Error::custom("repeated key"));
            }
            let probed = map.next_value_seed(KeyProbe {
                trail: &mut *self.trail,
            });
            if let Err(e) = probed {
                self.note(|| path_key(&key));
                return Err(e);
            }
            keys.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: &str) -> Refusal {
        parse_body(body.as_bytes(), &Limits::default()).unwrap_err()
    }

    #[test]
    fn keeps_number_text_exactly() {
        let v = parse_body(
            br#"{"a":25600.00,"b":"1.10","c":[0.1000]}"#,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"a":25600.00,"b":"1.10","c":[0.1000]}"#
        );
    }

    #[test]
    fn refuses_in_order_size_depth_utf8_json_repeat() {
        let small = Limits {
            body_bytes_max: 4,
            json_depth_max: 8,
        };
        assert_eq!(
            parse_body(b"{\"a\":1}", &small).unwrap_err().rule,
            rule::ENV_SIZE
        );
        assert_eq!(refused(&"[".repeat(100_000)).rule, rule::ENV_DEPTH);
        // brackets inside strings, escaped quotes included, do not count
        assert!(parse_body(br#"{"a":"[[[[[[[[[[\"[[[["}"#, &Limits::default()).is_ok());
        assert_eq!(
            parse_body(b"{\"a\":\"\xff\"}", &Limits::default())
                .unwrap_err()
                .rule,
            rule::ENV_UTF8
        );
        assert_eq!(refused(r#"{"a":1"#).rule, rule::ENV_JSON);
        assert_eq!(refused(r#"{"a":1} x"#).rule, rule::ENV_JSON);
        let r = refused(r#"{"input":{"iteminfo":[{"amt":"1"},{"amt":"1","amt":"2"}]}}"#);
        assert_eq!(r.rule, rule::ENV_DUPLICATE_KEY);
        assert_eq!(r.path, "input.iteminfo[1].amt");
        assert_eq!(refused(r#"{"a":1,"a":1}"#).path, "a");
        // an escape spelling the same key is the same key
        assert_eq!(refused(r#"{"ab":1,"a\u0062":2}"#).path, "ab");
        // equal keys in sibling objects are fine; a BOM is ignored
        assert!(
            parse_body(
                "\u{feff}{\"a\":{\"k\":1},\"b\":[{\"k\":1},{\"k\":2}]}".as_bytes(),
                &Limits::default()
            )
            .is_ok()
        );
    }
}
