//! JSON text → [`Value`] in one pass, refusing an object that names a key twice
//! (`FMT-DUPLICATE-KEY`, `nhsa-interface.md` §1).
//!
//! serde_json's own `Value` keeps the last of two equal keys while the journal keeps the bytes
//! with both, so two readers of one record could disagree. This builds the same `Value` as
//! `serde_json::from_str::<Value>` (numbers keep their exact text through `arbitrary_precision`,
//! key order through `preserve_order`; no float is ever parsed) and stops at the first repeated
//! key, naming its path. Linear: one map look-up per key (the insert's own), and the path is
//! only built on the way out of an error.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

/// How serde_json (`arbitrary_precision`) hands a non-integer number to a visitor: a map of one
/// entry, this key → the number's text. serde_json's own `Value` reads it the same way.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Why [`parse_value`] refused the text.
#[derive(Debug)]
pub(crate) enum ParseError {
    /// Not well-formed JSON (serde_json's own message, with line and column).
    Json(serde_json::Error),
    /// An object names `key` twice; `path` is the full path of the second one
    /// (`input.feedetail[1].det_item_fee_sumamt`).
    DuplicateKey { path: String, key: String },
}

/// One step of a path, innermost first while an error travels out.
enum Step {
    Key(String),
    Index(usize),
}

/// Shared by every level of one parse: where a duplicate key was met, if one was.
#[derive(Default)]
struct Found {
    duplicate: Option<Vec<Step>>,
}

impl Found {
    /// On the way out of an error: add this level's step when the error is a duplicate key.
    fn through(&mut self, step: impl FnOnce() -> Step) {
        if let Some(steps) = &mut self.duplicate {
            steps.push(step());
        }
    }
}

/// Parse JSON text (the whole text, trailing whitespace only) into a `Value`.
pub(crate) fn parse_value(text: &str) -> Result<Value, ParseError> {
    let mut found = Found::default();
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = Strict(&mut found)
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    match (parsed, found.duplicate) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(steps)) => Err(duplicate(steps)),
        (Err(e), None) => Err(ParseError::Json(e)),
    }
}

/// The path of a duplicate from its steps (innermost first), as the decoders write paths.
fn duplicate(steps: Vec<Step>) -> ParseError {
    let key = match steps.first() {
        Some(Step::Key(k)) => k.clone(),
        _ => String::new(),
    };
    let mut path = String::new();
    for step in steps.iter().rev() {
        match step {
            Step::Key(k) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
            }
            Step::Index(i) => {
                use fmt::Write;
                let _ = write!(path, "[{i}]");
            }
        }
    }
    ParseError::DuplicateKey { path, key }
}

/// Seed and visitor of one JSON value.
struct Strict<'a>(&'a mut Found);

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    // No `visit_f64`: with `arbitrary_precision` serde_json never produces one, and an amount
    // must never pass through a float.

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let found = self.0;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            match seq.next_element_seed(Strict(&mut *found)) {
                Ok(Some(v)) => items.push(v),
                Ok(None) => return Ok(Value::Array(items)),
                Err(e) => {
                    let i = items.len();
                    found.through(|| Step::Index(i));
                    return Err(e);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let found = self.0;
        let Some(mut key) = access.next_key::<String>()? else {
            return Ok(Value::Object(Map::new()));
        };
        if key == NUMBER_TOKEN {
            let text: String = access.next_value()?;
            return text
                .parse::<Number>()
                .map(Value::Number)
                .map_err(de::Error::custom);
        }
        let mut map = Map::new();
        loop {
            match map.entry(key) {
                Entry::Occupied(seen) => {
                    // Stop at the second key, before its value is read.
                    let key = seen.key().clone();
                    let message = format!("duplicate key `{key}`");
                    found.duplicate = Some(vec![Step::Key(key)]);
                    return Err(de::Error::custom(message));
                }
                Entry::Vacant(slot) => match access.next_value_seed(Strict(&mut *found)) {
                    Ok(v) => {
                        slot.insert(v);
                    }
                    Err(e) => {
                        found.through(|| Step::Key(slot.key().clone()));
                        return Err(e);
                    }
                },
            }
            match access.next_key::<String>()? {
                Some(k) => key = k,
                None => return Ok(Value::Object(map)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dup(text: &str) -> (String, String) {
        match parse_value(text) {
            Err(ParseError::DuplicateKey { path, key }) => (path, key),
            other => panic!("{text}: expected a duplicate key, got {other:?}"),
        }
    }

    /// Without duplicates the value is serde_json's own, number text and key order included.
    #[test]
    fn same_value_as_serde_json() {
        for text in [
            r#"{"b":1,"a":[1,-2,2.50,1e3,-0,0.1000,18446744073709551616,-9223372036854775809],"c":{"z":null,"y":true,"x":"\u00e9\"","w":{}},"d":[]}"#,
            r#"{"x":[{"k":1},{"k":2}],"y":{"k":{"k":3}},"k":4}"#,
            r#"  {"a" : 100.00 }  "#,
            r#"[1,{"a":2}]"#,
            r#""text""#,
            r#"{"$serde_json::private::Number":"1.50"}"#,
        ] {
            let ours = parse_value(text).unwrap();
            let theirs: Value = serde_json::from_str(text).unwrap();
            assert_eq!(ours, theirs, "{text}");
            assert_eq!(
                serde_json::to_string(&ours).unwrap(),
                serde_json::to_string(&theirs).unwrap()
            );
        }
        assert_eq!(
            serde_json::to_string(&parse_value(r#"{"m":100.00,"r":0.6000}"#).unwrap()).unwrap(),
            r#"{"m":100.00,"r":0.6000}"#
        );
    }

    #[test]
    fn malformed_json_is_not_a_duplicate() {
        for text in [
            r#"{"a":1"#,
            r#"{"a":1}x"#,
            r#"{"$serde_json::private::Number":"x"}"#,
        ] {
            assert!(
                matches!(parse_value(text), Err(ParseError::Json(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn duplicates_at_any_depth_name_their_path() {
        assert_eq!(dup(r#"{"a":1,"a":2}"#), ("a".into(), "a".into()));
        assert_eq!(
            dup(r#"{"x":0,"input":{"data":{"m":1.00,"n":2,"m":1.00}}}"#),
            ("input.data.m".into(), "m".into())
        );
        assert_eq!(
            dup(r#"{"input":{"feedetail":[{"a":1},{"a":1,"b":{"c":[0,[{"d":1,"d":1}]]}}]}}"#),
            ("input.feedetail[1].b.c[1][0].d".into(), "d".into())
        );
        assert_eq!(
            dup(r#"[{"a":1},{"a":1,"a":1}]"#),
            ("[1].a".into(), "a".into())
        );
        // an escape spelling the same key is the same key
        assert_eq!(dup(r#"{"ab":1,"a\u0062":2}"#), ("ab".into(), "ab".into()));
    }

    #[test]
    fn equal_keys_in_different_objects_are_fine() {
        let text = r#"{"k":{"k":{"k":1}},"l":[{"k":1},{"k":2}],"m":{"k":[{"k":1}]}}"#;
        assert!(parse_value(text).is_ok());
    }
}
