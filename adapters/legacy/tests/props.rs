//! Property tests of the reader and writer: hostile bytes never panic; valid messages built
//! from random values round-trip through every profile.

mod common;

use common::*;
use medsettle_legacy::*;
use proptest::prelude::*;
use serde_json::{Value, json};

/// A profile, one of its transactions and call arguments for it.
type Call = (Profile, String, Vec<(String, String)>);

fn all_calls() -> Vec<Call> {
    let mut out = Vec::new();
    for name in Profile::builtin_names() {
        let p = profile(name);
        for tx in p.transactions() {
            let a = args(&[
                ("TransCode", tx),
                ("SenderSerialNo", "S1"),
                ("PersonNo", "P1"),
                ("SICardNo", "C1"),
                ("InsuredAreaNo", "880100"),
                ("OldSenderSerialNo", "S0"),
            ]);
            out.push((p.clone(), tx.to_owned(), a));
        }
    }
    out
}

fn fixtures() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        ("guizhou", "41", "guizhou/41.xml"),
        ("guizhou", "48", "guizhou/48.xml"),
        ("guizhou", "31", "guizhou/31.xml"),
        ("shijiazhuang", "1108", "shijiazhuang/1108.xml"),
        ("yunnan", "12", "yunnan/12.xml"),
        ("mohrss", "F00.01.03", "mohrss/F00.01.03.xml"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary bytes into every profile and transaction: an answer or a refusal, never a
    /// panic; every refusal can be answered in the dialect.
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        for (p, tx, a) in all_calls() {
            if let Err(e) = decode_call(&p, &tx, &a, &body, &Limits::default()) {
                prop_assert!(RULES.contains(&e.rule));
                let ans = encode_error(&p, &tx, p.default_encoding(), &e);
                prop_assert!(ans.appcode < 0);
            }
        }
    }

    /// Valid messages with bytes changed, cut or inserted: never a panic.
    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..6,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let (name, tx, file) = fixtures()[which];
        let p = profile(name);
        let mut body = fixture(file);
        for (at, byte, op) in edits {
            if body.is_empty() { break; }
            let i = at % body.len();
            match op {
                0 => body[i] = byte,
                1 => body.insert(i, byte),
                _ => { body.remove(i); }
            }
        }
        if let Some(c) = cut { let n = body.len(); body.truncate(c % (n + 1)); }
        let a = args(&[("PersonNo", "P1"), ("SICardNo", "C1"), ("InsuredAreaNo", "880100")]);
        let _ = decode_call(&p, tx, &a, &body, &Limits::default());
    }
}

fn name_strategy() -> impl Strategy<Value = String> {
    // ASCII, GBK Chinese, XML specials and a GB18030 four-byte character
    proptest::collection::vec(
        prop_oneof![
            Just('张'),
            Just('三'),
            Just('李'),
            Just('测'),
            Just('&'),
            Just('<'),
            Just('"'),
            Just('\''),
            Just('𠀀'),
            Just('A'),
            Just('9'),
            Just('·'),
        ],
        1..8,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn id_strategy() -> impl Strategy<Value = String> {
    "[A-Z0-9]{1,20}"
}

fn fen_strategy() -> impl Strategy<Value = i64> {
    -1_000_000_000i64..100_000_000_000
}

/// `fen` as legacy text: 2 decimals, or 4 ending in 00.
fn legacy_amount(fen: i64, wide: bool) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let a = fen.unsigned_abs();
    if wide {
        format!("{sign}{}.{:02}00", a / 100, a % 100)
    } else {
        format!("{sign}{}.{:02}", a / 100, a % 100)
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Guizhou 41 built from random values: the step carries them; the amount is exact.
    #[test]
    fn guizhou_request_round_trip(
        akc190 in id_strategy(),
        aac001 in id_strategy(),
        fen in 0i64..10_000_000_000, // within the national plausibility bound (100 000 000.00)
        wide in any::<bool>(),
        aka130 in prop_oneof![Just(("11", "11")), Just(("18", "14")), Just(("31", "21")), Just(("M31", "52"))],
        ykb065 in prop_oneof![Just(("1", "310")), Just(("2", "310")), Just(("3", "390")), Just(("4", "340"))],
        name in name_strategy(),
        pad in prop_oneof![Just(""), Just(" "), Just("\r\n  ")],
    ) {
        let p = profile("guizhou");
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"GB18030\" standalone=\"yes\" ?><input>{pad}<prm_akc190>{akc190}</prm_akc190>{pad}<prm_aka130>{}</prm_aka130><prm_ykb065>{}</prm_ykb065><prm_hisfyze>{}</prm_hisfyze><prm_ykc141>{}</prm_ykc141><prm_aac001>{pad}{aac001}{pad}</prm_aac001><proxy>1</proxy></input>",
            aka130.0, ykb065.0, legacy_amount(fen, wide), esc(&name)
        );
        let (bytes, _, _) = encoding_rs::GB18030.encode(&body);
        let call = decode_call(&p, "41", &[], &bytes, &Limits::default()).unwrap();
        let d = &call.steps[0].input["data"];
        prop_assert_eq!(d["mdtrt_id"].as_str(), Some(akc190.as_str()));
        prop_assert_eq!(d["psn_no"].as_str(), Some(aac001.as_str()));
        prop_assert_eq!(d["med_type"].as_str(), Some(aka130.1));
        prop_assert_eq!(d["insutype"].as_str(), Some(ykb065.1));
        let total = legacy_amount(fen, false);
        prop_assert_eq!(d["medfee_sumamt"].as_str(), Some(total.as_str()));
        prop_assert_eq!(call.opter_name.as_deref(), Some(name.as_str()));
        prop_assert_eq!(call.encoding, Encoding::Gb18030);
        assert_national(&call);
    }

    /// Shijiazhuang 1108 with random lines (UTF-8): every line's values reach step 1.
    #[test]
    fn shijiazhuang_rows_round_trip(lines in proptest::collection::vec((id_strategy(), 1i64..10_000_000, 1u32..100), 1..20)) {
        let p = profile("shijiazhuang");
        let mut rows = String::new();
        for (code, fen, cnt) in &lines {
            rows.push_str(&format!(
                "<KC22ROW><AKC221>20240520101000</AKC221><AKC222>{code}</AKC222><AKC515>{code}</AKC515><AKC225>{}</AKC225><AKC226>{cnt}</AKC226><AKC227>{}</AKC227><AKA063>07</AKA063></KC22ROW>",
                legacy_amount(*fen, false), legacy_amount(*fen * i64::from(*cnt), true)
            ));
        }
        let t = String::from_utf8(fixture("shijiazhuang/1108.xml")).unwrap();
        let start = t.find("<KC22XML>").unwrap();
        let end = t.find("</KC22XML>").unwrap();
        let body = format!("{}<KC22XML>{rows}{}", &t[..start], &t[end..]);
        let call = decode_call(&p, "1108", &[], body.as_bytes(), &Limits::default()).unwrap();
        let got = call.steps[1].input["feedetail"].as_array().unwrap();
        prop_assert_eq!(got.len(), lines.len());
        for (i, (code, fen, cnt)) in lines.iter().enumerate() {
            prop_assert_eq!(got[i]["med_list_codg"].as_str(), Some(code.as_str()));
            let amount = legacy_amount(fen * i64::from(*cnt), false);
            let sn = (i + 1).to_string();
            prop_assert_eq!(got[i]["det_item_fee_sumamt"].as_str(), Some(amount.as_str()));
            prop_assert_eq!(got[i]["feedetl_sn"].as_str(), Some(sn.as_str()));
            prop_assert_eq!(got[i]["med_chrgitm_type"].as_str(), Some("05"));
        }
        assert_national(&call);
    }

    /// Answers: random national outputs → the legacy answer → read back, for every answer
    /// field of the settlement and query transactions of every profile (text, amounts,
    /// date-times, names outside GBK included).
    #[test]
    fn answers_round_trip(
        seed_names in proptest::collection::vec(name_strategy(), 40),
        seed_fens in proptest::collection::vec(fen_strategy(), 40),
        rows in 0usize..4,
    ) {
        for (name, tx, file, a) in [
            ("guizhou", "41", "guizhou/41.xml", vec![]),
            ("guizhou", "48", "guizhou/48.xml", vec![]),
            ("guizhou", "31", "guizhou/31.xml", vec![]),
            ("shijiazhuang", "1108", "shijiazhuang/1108.xml", vec![]),
            ("yunnan", "14", "yunnan/14.xml", args(&[("PersonNo", "P1"), ("SICardNo", "C1"), ("InsuredAreaNo", "880100")])),
            ("yunnan", "12", "yunnan/12.xml", args(&[("PersonNo", "P1"), ("SICardNo", "C1"), ("InsuredAreaNo", "880100")])),
            ("mohrss", "F00.01.03", "mohrss/F00.01.03.xml", vec![]),
        ] {
            let p = profile(name);
            let call = decode_call(&p, tx, &a, &fixture(file), &Limits::default()).unwrap();
            let def = p.definition().transactions.get(tx).unwrap();
            let mut outputs = vec![Value::Null; call.steps.len()];
            let mut expect: Vec<(usize, String, String)> = Vec::new();
            let mut k = 0usize;
            let mut value_for = |kind: &str| -> Option<String> {
                k += 1;
                match kind {
                    "amount" => Some(legacy_amount(seed_fens[k % 40], false)),
                    "text" => Some(seed_names[k % 40].clone()),
                    "datetime" => Some(format!("2024-0{}-1{} 0{}:3{}:4{}", 1 + k % 9, k % 10, k % 10, k % 6, k % 10)),
                    _ => None,
                }
            };
            for f in &def.answer {
                let src = f.from.list();
                let [one] = src.as_slice() else { continue };
                let Some((n, ptr)) = one.split_once(":/").and_then(|(n, p)| Some((n.parse::<usize>().ok()?, format!("/{p}")))) else { continue };
                let Some(v) = value_for(&f.kind) else { continue };
                set(&mut outputs[n], &ptr, json!(v));
                expect.push((n, ptr, v));
            }
            if let Some(r) = &def.answer_rows {
                let (n, ptr) = r.from.split_once(":/").map(|(n, p)| (n.parse::<usize>().unwrap(), format!("/{p}"))).unwrap();
                let mut list = Vec::new();
                for i in 0..rows {
                    let mut item = json!({});
                    for f in &r.fields {
                        let Some(p) = f.from.list()[0].strip_prefix("row:") else { continue };
                        let Some(v) = value_for(&f.kind) else { continue };
                        set(&mut item, p, json!(v));
                        expect.push((n, format!("{ptr}/{i}{p}"), v));
                    }
                    list.push(item);
                }
                set(&mut outputs[n], &ptr, Value::Array(list));
            }
            let ans = encode_answer(&p, &call, &outputs).unwrap();
            let back = decode_answer(&p, &call, &ans.body, &Limits::default()).unwrap();
            for (n, ptr, v) in expect {
                let got = back.outputs[n].pointer(&ptr).and_then(Value::as_str);
                prop_assert_eq!(got, Some(v.as_str()), "{} {} step {} {}", name, tx, n, ptr);
            }
        }
    }
}

/// Write `v` at a JSON pointer, creating objects (or arrays for numeric tokens).
fn set(root: &mut Value, ptr: &str, v: Value) {
    let tokens: Vec<&str> = ptr.split('/').skip(1).collect();
    let mut cur = root;
    for (i, t) in tokens.iter().enumerate() {
        if cur.is_null() {
            *cur = if t.parse::<usize>().is_ok() {
                json!([])
            } else {
                json!({})
            };
        }
        let last = i + 1 == tokens.len();
        cur = match cur {
            Value::Array(a) => {
                let idx: usize = t.parse().unwrap();
                while a.len() <= idx {
                    a.push(Value::Null);
                }
                &mut a[idx]
            }
            Value::Object(m) => m.entry(t.to_string()).or_insert(Value::Null),
            _ => panic!("{ptr}"),
        };
        if last {
            *cur = v;
            return;
        }
    }
}
