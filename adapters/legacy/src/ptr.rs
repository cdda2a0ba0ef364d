//! JSON pointers: read, and write creating the objects and arrays on the way.

use serde_json::{Map, Value};

/// The value at `ptr`, `None` when absent or null.
pub fn get<'a>(root: &'a Value, ptr: &str) -> Option<&'a Value> {
    root.pointer(ptr).filter(|v| !v.is_null())
}

/// Write `v` at `ptr`, creating intermediate objects (or arrays where the next token is an
/// index). Returns false when something is already there and `overwrite` is false, or the
/// path crosses a non-container value.
pub fn set(root: &mut Value, ptr: &str, v: Value, overwrite: bool) -> bool {
    let tokens: Vec<&str> = ptr.split('/').skip(1).collect();
    let Some((last, path)) = tokens.split_last() else {
        return false;
    };
    let mut cur = root;
    for (i, tok) in path.iter().enumerate() {
        let next_is_index = tokens[i + 1].parse::<usize>().is_ok();
        let fresh = || {
            if next_is_index {
                Value::Array(Vec::new())
            } else {
                Value::Object(Map::new())
            }
        };
        if cur.is_null() {
            *cur = Value::Object(Map::new());
        }
        cur = match cur {
            Value::Object(m) => {
                let slot = m.entry(tok.to_string()).or_insert_with(fresh);
                if slot.is_null() {
                    *slot = fresh();
                }
                slot
            }
            Value::Array(a) => {
                let Ok(idx) = tok.parse::<usize>() else {
                    return false;
                };
                while a.len() <= idx {
                    a.push(Value::Object(Map::new()));
                }
                &mut a[idx]
            }
            _ => return false,
        };
    }
    if cur.is_null() {
        *cur = Value::Object(Map::new());
    }
    match cur {
        Value::Object(m) => {
            if !overwrite && m.get(*last).is_some_and(|x| !x.is_null()) {
                return false;
            }
            m.insert(last.to_string(), v);
            true
        }
        Value::Array(a) => {
            let Ok(idx) = last.parse::<usize>() else {
                return false;
            };
            while a.len() <= idx {
                a.push(Value::Null);
            }
            if !overwrite && !a[idx].is_null() {
                return false;
            }
            a[idx] = v;
            true
        }
        _ => false,
    }
}

/// The parent pointer and last token.
pub fn parent(ptr: &str) -> (&str, &str) {
    match ptr.rfind('/') {
        Some(i) => (&ptr[..i], &ptr[i + 1..]),
        None => ("", ptr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_creates() {
        let mut v = Value::Null;
        assert!(set(&mut v, "/feedetail/1/x", json!("a"), false));
        assert_eq!(v, json!({"feedetail":[{}, {"x":"a"}]}));
        assert!(!set(&mut v, "/feedetail/1/x", json!("b"), false));
        assert!(set(&mut v, "/feedetail/1/x", json!("b"), true));
        assert_eq!(get(&v, "/feedetail/1/x"), Some(&json!("b")));
    }
}
