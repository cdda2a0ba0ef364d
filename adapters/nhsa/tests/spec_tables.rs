//! The field tables in `specs/nhsa/*.toml` are the interface as medsettle accepts it. This
//! test loads every table and checks the adapter against it:
//! - a full sample built from the table decodes, re-encodes to the same JSON, and every
//!   field lands in the typed struct (nothing in `extra`);
//! - each required field, when removed, is `FMT-REQUIRED` at its full path;
//! - each `char` field one character over its length is `FMT-LENGTH` at its full path;
//! - the code's field lists and the tables name the same fields with the same types;
//! - the tables and the transaction table ([`Infno`]) name the same transactions, names,
//!   letter variants and outputs.
//!
//! A field change is made on both sides by hand: the table is the spec, the code follows it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use medsettle_nhsa::field::{FieldKind, FieldSpec};
use medsettle_nhsa::tx::{self, Infno, settle::SETTLED_REQUIRED};
use medsettle_nhsa::{RequestEnvelope, ResponseEnvelope, decode_input, decode_output};
use serde_json::{Map, Value, json};

fn specs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../specs/nhsa")
}

#[derive(Debug, Clone, PartialEq)]
struct Row {
    path: String,
    ty: String,
    length: Option<usize>,
    precision: Option<(u32, u32)>,
    required: bool,
    meaning: String,
}

fn flatten(fields: &[FieldSpec], prefix: &str, out: &mut Vec<Row>) {
    for f in fields {
        let path = if prefix.is_empty() {
            f.name.to_owned()
        } else {
            format!("{prefix}.{}", f.name)
        };
        out.push(Row {
            path: path.clone(),
            ty: f.kind.type_name().to_owned(),
            length: match f.kind {
                FieldKind::Char(n) => Some(n),
                _ => None,
            },
            precision: f.kind.precision(),
            required: f.required,
            meaning: format!("{} — {}", f.zh, f.en),
        });
        match f.kind {
            FieldKind::Object(c) => flatten(c(), &path, out),
            FieldKind::Array(c) => flatten(c(), &format!("{path}[]"), out),
            _ => {}
        }
    }
}

fn code_rows(infno: &str, direction: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let fields = match direction {
        "input" => tx::input_fields(infno),
        _ => tx::output_fields(infno),
    };
    if let Some(f) = fields {
        flatten(f, "", &mut rows);
    }
    if direction == "output" && (tx::is_settlement(infno) || tx::is_reversal(infno)) {
        for r in &mut rows {
            if let Some(name) = r.path.strip_prefix("setlinfo.")
                && SETTLED_REQUIRED.contains(&name)
            {
                r.required = true;
            }
        }
    }
    rows
}

fn toml_rows(table: &toml::Table, key: &str) -> Vec<Row> {
    let Some(items) = table.get(key).and_then(|v| v.as_array()) else {
        return Vec::new();
    };
    items
        .iter()
        .map(|r| Row {
            path: r["path"].as_str().unwrap().to_owned(),
            ty: r["type"].as_str().unwrap().to_owned(),
            length: r.get("length").map(|l| l.as_integer().unwrap() as usize),
            precision: r.get("precision").map(|p| {
                (
                    p.as_integer().unwrap() as u32,
                    r["scale"].as_integer().unwrap() as u32,
                )
            }),
            required: r["required"].as_bool().unwrap(),
            meaning: r["meaning"].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// The decoded base transactions: each has a table of its own (a letter variant is listed
/// in its base's `aliases`).
fn decoded_bases() -> Vec<&'static str> {
    Infno::ALL
        .into_iter()
        .filter(|i| i.is_decoded() && i.base() == *i)
        .map(Infno::as_str)
        .collect()
}

fn load(name: &str) -> toml::Table {
    let text = std::fs::read_to_string(specs_dir().join(name))
        .unwrap_or_else(|e| panic!("specs/nhsa/{name}: {e}"));
    toml::from_str(&text).unwrap_or_else(|e| panic!("specs/nhsa/{name}: {e}"))
}

#[test]
fn every_transaction_has_a_table_and_code_agrees_with_it() {
    let mut files: Vec<String> = std::fs::read_dir(specs_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    files.sort();
    for infno in decoded_bases() {
        assert!(
            files.contains(&format!("{infno}.toml")),
            "specs/nhsa/{infno}.toml is missing"
        );
    }
    for infno in decoded_bases() {
        let table = load(&format!("{infno}.toml"));
        assert_eq!(table["infno"].as_str(), Some(infno));
        for dir in ["input", "output"] {
            let spec = toml_rows(&table, dir);
            let code = code_rows(infno, dir);
            let spec_map: BTreeMap<_, _> = spec.iter().map(|r| (r.path.clone(), r)).collect();
            let code_map: BTreeMap<_, _> = code.iter().map(|r| (r.path.clone(), r)).collect();
            for (p, r) in &code_map {
                let s = spec_map.get(p).unwrap_or_else(|| {
                    panic!("{infno} {dir}.{p} is in the code but not in the table")
                });
                assert_eq!(
                    (&s.ty, s.length, s.precision, s.required),
                    (&r.ty, r.length, r.precision, r.required),
                    "{infno} {dir}.{p}: table and code differ"
                );
            }
            for p in spec_map.keys() {
                assert!(
                    code_map.contains_key(p),
                    "{infno} {dir}.{p} is in the table but unknown to the code"
                );
            }
        }
    }
}

/// Text fields with a shape of their own (`medsettle_nhsa::tx::t3260`: `yyyy`, `MM`), the rule
/// a value of another shape breaks, and a valid sample.
const SHAPED_TEXT: &[(&str, &str, &str)] = &[
    ("trt_year", "FMT-DATE", "2024"),
    ("trt_month", "FMT-DATE", "06"),
];

fn shaped(path: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    let name = path.rsplit('.').next().unwrap_or(path);
    SHAPED_TEXT.iter().find(|(field, _, _)| *field == name)
}

/// A valid sample value for a table row (numbers with exactly their scale, so that the
/// wire encoding reproduces the same text).
fn sample_value(r: &Row) -> Value {
    let num = |t: &str| Value::Number(serde_json::from_str(t).unwrap());
    match r.ty.as_str() {
        // a code with a value list the adapter enforces (`medsettle_nhsa::plausible`)
        "char" if r.path.ends_with("med_type") => json!("11"),
        "char" if shaped(&r.path).is_some() => json!(shaped(&r.path).unwrap().2),
        "char" => json!("1"),
        "money" => num("12.34"),
        "ratio" => num("0.5000"),
        "num" => {
            let (_, scale) = r.precision.unwrap();
            if scale == 0 {
                num("1")
            } else {
                num(&format!("1.{}", "0".repeat(scale as usize)))
            }
        }
        "date" => json!("2024-06-01"),
        "datetime" => json!("2024-06-01 10:30:15"),
        "admdvs" => json!("440300"),
        "json" => json!({"k": "v"}),
        "object" => json!({}),
        "array" => json!([{}]),
        other => panic!("unknown type {other}"),
    }
}

/// Build a full sample object from rows (every field present).
fn sample(rows: &[Row]) -> Value {
    let mut root = Value::Object(Map::new());
    for r in rows {
        let v = sample_value(r);
        *slot(&mut root, &r.path) = v;
    }
    root
}

/// The place of `a.b[].c` in a sample, arrays taken at element 0.
fn slot<'a>(root: &'a mut Value, path: &str) -> &'a mut Value {
    let mut cur = root;
    for seg in path.split('.') {
        let (name, arr) = match seg.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (seg, false),
        };
        let obj = cur.as_object_mut().expect("parent is an object");
        cur = obj.entry(name.to_owned()).or_insert(Value::Null);
        if arr {
            if !cur.is_array() {
                *cur = json!([{}]);
            }
            cur = &mut cur.as_array_mut().unwrap()[0];
        }
    }
    cur
}

fn remove(root: &mut Value, path: &str) {
    let (parent, name) = match path.rsplit_once('.') {
        Some((p, n)) => (Some(p), n),
        None => (None, path),
    };
    let name = name.strip_suffix("[]").unwrap_or(name);
    let target = match parent {
        Some(p) => slot(root, p),
        None => root,
    };
    target.as_object_mut().unwrap().remove(name);
}

/// `feedetail[].pric` → `feedetail[0].pric`
fn concrete(path: &str) -> String {
    path.replace("[]", "[0]")
}

fn has_extra(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.contains_key("extra") || m.values().any(has_extra),
        Value::Array(a) => a.iter().any(has_extra),
        _ => false,
    }
}

fn violations(infno: &str, dir: &str, v: &Value) -> Vec<(String, String)> {
    let r = match dir {
        "input" => decode_input(infno, v).map(|_| ()),
        _ => decode_output(infno, v).map(|_| ()),
    };
    r.err()
        .map(|e| {
            e.violations
                .into_iter()
                .map(|x| (x.rule.0.to_owned(), x.path))
                .collect()
        })
        .unwrap_or_default()
}

/// Every transaction of [`Infno`] is covered: a decoded base by its own table (same name,
/// same letter variants, an output exactly when the code has one), a letter variant by its
/// base's `aliases`, and a transaction the adapter does not decode (file channel, forwarded
/// only) by having no table; and every table is of a decoded base.
#[test]
fn every_infno_is_covered_by_the_tables() {
    let mut covered = Vec::new();
    for i in Infno::ALL {
        let base = i.base();
        let file = specs_dir().join(format!("{}.toml", base.as_str()));
        if !i.is_decoded() {
            assert!(!file.exists(), "{i} is not decoded but has {file:?}");
            assert!(tx::input_fields(i.as_str()).is_none(), "{i}");
            assert!(tx::output_shape(i.as_str()).is_none(), "{i}");
            covered.push(i);
            continue;
        }
        let table = load(&format!("{}.toml", base.as_str()));
        let aliases: Vec<&str> = table["aliases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let variants: Vec<&str> = Infno::ALL
            .into_iter()
            .filter(|v| v.base() == base && *v != base)
            .map(Infno::as_str)
            .collect();
        assert_eq!(aliases, variants, "{base}: aliases and letter variants");
        if i != base {
            assert!(aliases.contains(&i.as_str()), "{i} not an alias of {base}");
        }
        assert_eq!(table["name"].as_str(), Some(i.name()), "{i}: name");
        assert_eq!(
            table["has_output"].as_bool(),
            Some(tx::output_fields(i.as_str()).is_some()),
            "{i}: has_output"
        );
        covered.push(i);
    }
    assert_eq!(covered, Infno::ALL);
    for entry in std::fs::read_dir(specs_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Some(code) = name.strip_suffix(".toml") else {
            continue;
        };
        if code == "envelope" {
            continue;
        }
        assert!(
            Infno::parse(code).is_some_and(|i| i.is_decoded() && i.base() == i),
            "specs/nhsa/{name} is not the table of a decoded transaction"
        );
    }
}

/// Required settlement parts that `derive_parts` fills from other fields when sent `null`
/// (`specs/nhsa-interface.md` §8), with the fields they are derived from.
const DERIVABLE: &[(&str, &[&str])] = &[("setlinfo.psn_part_amt", &["setlinfo.acct_pay"])];

#[test]
fn adapter_follows_every_transaction_table() {
    for infno in decoded_bases() {
        let table = load(&format!("{infno}.toml"));
        for dir in ["input", "output"] {
            let rows = toml_rows(&table, dir);
            if rows.is_empty() {
                continue;
            }
            let full = sample(&rows);
            // a full sample decodes, every field is known, and re-encodes to itself
            let (encoded, canonical) = match dir {
                "input" => {
                    let tx = decode_input(infno, &full)
                        .unwrap_or_else(|e| panic!("{infno} full input sample: {e}"));
                    (tx.encode(), tx.canonical())
                }
                _ => {
                    let tx = decode_output(infno, &full)
                        .unwrap_or_else(|e| panic!("{infno} full output sample: {e}"));
                    (tx.encode(), tx.canonical())
                }
            };
            assert_eq!(
                serde_json::to_string(&encoded).unwrap(),
                serde_json::to_string(&full).unwrap(),
                "{infno} {dir}: re-encoding changed the sample"
            );
            assert!(
                !has_extra(&canonical),
                "{infno} {dir}: a table field is unknown to the typed struct: {canonical}"
            );
            for r in &rows {
                let path = format!("{dir}.{}", concrete(&r.path));
                if r.required {
                    let mut v = full.clone();
                    remove(&mut v, &r.path);
                    // a required part that the identities derive is required only when it
                    // cannot be derived: remove what it is derived from too
                    for (derived, from) in DERIVABLE {
                        if r.path == *derived {
                            for f in *from {
                                remove(&mut v, f);
                            }
                        }
                    }
                    let got = violations(infno, dir, &v);
                    assert!(
                        got.contains(&("FMT-REQUIRED".to_owned(), path.clone())),
                        "{infno}: removing required {path} gave {got:?}"
                    );
                }
                if let Some(len) = r.length {
                    let mut v = full.clone();
                    *slot(&mut v, &r.path) = Value::String("汉".repeat(len + 1));
                    let got = violations(infno, dir, &v);
                    assert!(
                        got.contains(&("FMT-LENGTH".to_owned(), path.clone())),
                        "{infno}: over-long {path} gave {got:?}"
                    );
                    // exactly at the limit, in characters (not bytes), is fine
                    let mut v = full.clone();
                    *slot(&mut v, &r.path) = Value::String("汉".repeat(len));
                    // (a code with a value list, or a text with a shape, is refused for its
                    // value, not its length)
                    let value_rule = shaped(&r.path).map_or("FMT-CODE", |s| s.1);
                    let got: Vec<_> = violations(infno, dir, &v)
                        .into_iter()
                        .filter(|(rule, at)| !(rule == value_rule && *at == path))
                        .collect();
                    assert!(
                        got.is_empty(),
                        "{infno}: {path} at its length {len} must be accepted: {got:?}"
                    );
                }
            }
        }
    }
}

#[test]
#[allow(clippy::type_complexity)]
fn envelope_follows_its_table() {
    let table = load("envelope.toml");
    let mut code_req = Vec::new();
    flatten(RequestEnvelope::FIELDS, "", &mut code_req);
    let mut code_resp = Vec::new();
    flatten(ResponseEnvelope::FIELDS, "", &mut code_resp);
    for (key, code) in [("request", code_req), ("response", code_resp)] {
        let spec = toml_rows(&table, key);
        let strip =
            |rows: &[Row]| -> Vec<(String, String, Option<usize>, Option<(u32, u32)>, bool)> {
                rows.iter()
                    .map(|r| {
                        (
                            r.path.clone(),
                            r.ty.clone(),
                            r.length,
                            r.precision,
                            r.required,
                        )
                    })
                    .collect()
            };
        assert_eq!(
            strip(&spec),
            strip(&code),
            "envelope.toml [{key}] and the code differ"
        );
    }
    // behaviour: the §5.1 A envelope, each required field removed, each char field too long
    let base = json!({"infno":"9001","msgid":"H44030000001202406011030150001","mdtrtarea_admvs":"440300",
        "insuplc_admdvs":"440399","recer_sys_code":"YBXT","dev_no":"","dev_safe_info":"","cainfo":"",
        "signtype":"","infver":"V1.0","opter_type":"1","opter":"0001","opter_name":"张三",
        "inf_time":"2024-06-01 10:30:15","fixmedins_code":"H44030000001","fixmedins_name":"示例医院",
        "sign_no":"","input":{}});
    let decode = |v: &Value| -> Vec<(String, String)> {
        RequestEnvelope::from_map(v.as_object().unwrap(), "")
            .err()
            .map(|e| {
                e.violations
                    .into_iter()
                    .map(|x| (x.rule.0.to_owned(), x.path))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(decode(&base), vec![]);
    for r in toml_rows(&table, "request") {
        if r.required {
            let mut v = base.clone();
            v.as_object_mut().unwrap().remove(&r.path);
            assert!(
                decode(&v).contains(&("FMT-REQUIRED".into(), r.path.clone())),
                "removing {} gave {:?}",
                r.path,
                decode(&v)
            );
        }
        if let Some(len) = r.length {
            let mut v = base.clone();
            v[&r.path] = Value::String("x".repeat(len + 1));
            assert!(
                decode(&v).contains(&("FMT-LENGTH".into(), r.path.clone())),
                "over-long {} gave {:?}",
                r.path,
                decode(&v)
            );
        }
    }
    let resp = json!({"infcode":0,"inf_refmsgid":"440300202406011030160000000001",
        "refmsg_time":"20240601103016001","respond_time":"20240601103016250","err_msg":null,"output":{}});
    let decode_resp = |v: &Value| -> Vec<(String, String)> {
        ResponseEnvelope::from_map(v.as_object().unwrap(), "")
            .err()
            .map(|e| {
                e.violations
                    .into_iter()
                    .map(|x| (x.rule.0.to_owned(), x.path))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(decode_resp(&resp), vec![]);
    for r in toml_rows(&table, "response") {
        if r.required {
            let mut v = resp.clone();
            v.as_object_mut().unwrap().remove(&r.path);
            assert!(decode_resp(&v).contains(&("FMT-REQUIRED".into(), r.path.clone())));
        }
        if let Some(len) = r.length {
            let mut v = resp.clone();
            v[&r.path] = Value::String("1".repeat(len + 1));
            assert!(
                decode_resp(&v).contains(&("FMT-LENGTH".into(), r.path.clone())),
                "over-long {} gave {:?}",
                r.path,
                decode_resp(&v)
            );
        }
    }
}
