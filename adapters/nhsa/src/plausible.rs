//! What a request may carry beyond its format (issue 15 item 7): codes inside their value
//! lists, times inside a plausible window, amounts below a plausible cap, a place of treatment
//! of the sender's own region. Checked on requests only — an answer is the platform's word
//! and is kept as it says (an identity valid "until 9999-12-31" is an answer's habit).
//!
//! Each refusal cites the rule of the field's kind (`FMT-CODE`, `FMT-DATETIME`/`FMT-DATE`,
//! `FMT-MONEY`, `FMT-ADMDVS`) at the field's full path. The limits are named constants,
//! documented in `specs/nhsa-interface.md` §4.

use medsettle_canonical::{Admdvs, Money, RuleId, Violation};
use serde_json::Value;

use crate::field::{FieldKind, FieldSpec, join};

pub use crate::field::{
    REQUEST_TIME_BEFORE, REQUEST_TIME_NOT_BEFORE, WINDOW_EXEMPT_DATES, time_outside_window,
};

/// The largest fee line a request may carry (`det_item_fee_sumamt`, either sign: refunds are
/// negative), in fen: 10 million yuan (1000 万元). The dearest single items paid by the funds
/// (CAR-T therapies, about 1.2 million yuan) are far below; a line above is a misplaced
/// decimal point or a price in fen typed as yuan.
pub const FEE_LINE_AMOUNT_FEN_MAX: i64 = 1_000_000_000;

/// The largest settlement a request may carry (`medfee_sumamt` of 2206/2207/2303/2304), in
/// fen: 100 million yuan (1 亿元), far above the costliest stays on record.
pub const SETTLEMENT_AMOUNT_FEN_MAX: i64 = 10_000_000_000;

/// The national `med_type` (医疗类别) dictionary: the two-digit codes (reference
/// `nhsa-interface.md`, dictionaries). Local codes have 4 to 6 digits (`9901`, `140104`,
/// `990404`) and are the province's: accepted as they are.
pub const NATIONAL_MED_TYPES: &[&str] = &[
    "11", "12", "13", "14", "15", "16", "19", "21", "22", "23", "24", "25", "26", "28", "41", "51",
    "52", "53",
];

/// Flags whose value list is `0` / `1` (`cnfm_flag`: 3261 confirms a clearing line, or
/// refuses it).
pub const ZERO_ONE_FLAGS: &[&str] = &["acct_used_flag", "mid_setl_flag", "cnfm_flag"];

/// Province codes of the municipalities directly under the central government (Beijing,
/// Tianjin, Shanghai, Chongqing): their districts form one pool, so a place of treatment
/// anywhere in them is the sender's own.
const MUNICIPALITIES: &[&str] = &["11", "12", "31", "50"];

/// Whether `med_type` is in the national list or has the shape of a local code.
pub fn med_type_known(med_type: &str) -> bool {
    let digits = med_type.bytes().all(|b| b.is_ascii_digit());
    NATIONAL_MED_TYPES.contains(&med_type) || (digits && (4..=6).contains(&med_type.len()))
}

/// The code, flag and amount checks of a decoded request's `input` (the raw JSON, which the
/// typed decoder accepted): every violation with its path. `settles`: the transaction is a
/// settlement or pre-settlement (2206/2207/2303/2304), whose total is capped.
pub fn check_input(
    settles: bool,
    input: &Value,
    fields: &[FieldSpec],
    path: &str,
) -> Vec<Violation> {
    let mut out = Vec::new();
    walk(input, fields, path, settles, &mut out);
    out
}

fn walk(v: &Value, fields: &[FieldSpec], path: &str, settles: bool, out: &mut Vec<Violation>) {
    let Value::Object(m) = v else { return };
    check_line_product(m, path, out);
    for spec in fields {
        let Some(value) = m.get(spec.name) else {
            continue;
        };
        let at = join(path, spec.name);
        match (spec.kind, value) {
            (FieldKind::Object(f), _) => walk(value, f(), &at, settles, out),
            (FieldKind::Array(f), Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, f(), &format!("{at}[{i}]"), settles, out);
                }
            }
            (FieldKind::Array(f), Value::Object(_)) => walk(value, f(), &at, settles, out),
            (FieldKind::Char(_), Value::String(s)) => check_code(spec.name, s, &at, out),
            (FieldKind::Money, _) => check_amount(spec.name, value, &at, settles, out),
            _ => {}
        }
    }
}

fn check_code(name: &str, value: &str, at: &str, out: &mut Vec<Violation>) {
    if ZERO_ONE_FLAGS.contains(&name) && value != "0" && value != "1" {
        out.push(Violation::new(
            RuleId::FMT_CODE,
            at,
            format!("{name} = `{value}` is not in its value list: 0 or 1"),
        ));
    }
    if name == "med_type" && !value.is_empty() && !med_type_known(value) {
        out.push(Violation::new(
            RuleId::FMT_CODE,
            at,
            format!(
                "med_type (医疗类别) = `{value}` is neither a national code ({}) nor a local code of 4 to 6 digits",
                NATIONAL_MED_TYPES.join(", ")
            ),
        ));
    }
}

fn check_amount(name: &str, value: &Value, at: &str, settles: bool, out: &mut Vec<Violation>) {
    let cap = match name {
        "det_item_fee_sumamt" => FEE_LINE_AMOUNT_FEN_MAX,
        "medfee_sumamt" if settles => SETTLEMENT_AMOUNT_FEN_MAX,
        _ => return,
    };
    let text = match value {
        Value::Number(n) => n.as_str().to_owned(),
        Value::String(s) => s.trim().to_owned(),
        _ => return,
    };
    // The typed decoder accepted the text; a text it read differently is not ours to judge.
    let Ok(amount) = Money::parse_yuan(&text) else {
        return;
    };
    let max = Money::from_fen(cap);
    if name == "medfee_sumamt" && amount < Money::from_fen(0) {
        // NHSA-ID-7 on the request side: a settlement's total is never negative (a refund
        // is a reversal, 2208/2305, not a negative settlement).
        out.push(Violation::new(
            RuleId::FMT_MONEY,
            at,
            format!("medfee_sumamt = {amount}: a settlement's total is not negative"),
        ));
        return;
    }
    if amount > max || amount < -max {
        let what = if cap == FEE_LINE_AMOUNT_FEN_MAX {
            "one fee line (FEE_LINE_AMOUNT_FEN_MAX)"
        } else {
            "one settlement (SETTLEMENT_AMOUNT_FEN_MAX)"
        };
        out.push(Violation::new(
            RuleId::FMT_MONEY,
            at,
            format!("{name} = {amount} is beyond the plausible {max} for {what}"),
        ));
    }
}

/// A fee line's `cnt` × `pric` above [`FEE_LINE_AMOUNT_FEN_MAX`] (either sign): the line is
/// implausible whatever `det_item_fee_sumamt` it states.
fn check_line_product(m: &serde_json::Map<String, Value>, path: &str, out: &mut Vec<Violation>) {
    let text = |v: &Value| match v {
        Value::Number(n) => Some(n.as_str().to_owned()),
        Value::String(s) => Some(s.trim().to_owned()),
        _ => None,
    };
    let (Some(cnt), Some(pric)) = (m.get("cnt").and_then(text), m.get("pric").and_then(text))
    else {
        return;
    };
    let Ok(pric) = Money::parse_yuan(&pric) else {
        return;
    };
    // The count as ten-thousandths (the interface's 16,4), exactly.
    let Some(cnt_e4) = decimal_e4(&cnt) else {
        return;
    };
    let product_fen = i128::from(pric.fen()) * cnt_e4 / 10_000;
    if product_fen.abs() > i128::from(FEE_LINE_AMOUNT_FEN_MAX) {
        out.push(Violation::new(
            RuleId::FMT_MONEY,
            join(path, "pric"),
            format!(
                "cnt × pric = {cnt} × {pric} is beyond the plausible {} for one fee line (FEE_LINE_AMOUNT_FEN_MAX)",
                Money::from_fen(FEE_LINE_AMOUNT_FEN_MAX)
            ),
        ));
    }
}

/// `text` (an exact decimal with at most 4 decimals) × 10⁴, or `None`.
fn decimal_e4(text: &str) -> Option<i128> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() || int.len() > 20 || frac.len() > 4 {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v = int.parse::<i128>().ok()? * 10_000 + format!("{frac:0<4}").parse::<i128>().ok()?;
    Some(if neg { -v } else { v })
}

/// The region a national institution code names: `fixmedins_code` is a letter (H hospital,
/// P pharmacy, …), the institution's 6-digit region code and a 5-digit serial
/// (`H44030000001` → `440300`). `None` for a code of another layout.
pub fn region_of_institution(fixmedins_code: &str) -> Option<Admdvs> {
    let b = fixmedins_code.as_bytes();
    let layout =
        b.len() == 12 && b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_digit);
    if !layout {
        return None;
    }
    Admdvs::parse(&fixmedins_code[1..7]).ok()
}

/// `mdtrtarea_admvs` must be the sender's own region: the city (first four digits) its
/// national `fixmedins_code` names — the province for the municipalities. A code of another
/// layout names no region and is not checked.
pub fn check_sender_region(
    fixmedins_code: &str,
    mdtrtarea_admvs: &Admdvs,
    path: &str,
) -> Option<Violation> {
    let own = region_of_institution(fixmedins_code)?;
    let same = if MUNICIPALITIES.contains(&own.province()) {
        own.province() == mdtrtarea_admvs.province()
    } else {
        own.city() == mdtrtarea_admvs.city()
    };
    (!same).then(|| {
        Violation::new(
            RuleId::FMT_ADMDVS,
            join(path, "mdtrtarea_admvs"),
            format!(
                "mdtrtarea_admvs (就医地医保区划) {} is not the region of institution {fixmedins_code} ({}): a place of treatment is the sender's own",
                mdtrtarea_admvs.as_str(),
                own.as_str()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn med_types_national_or_local() {
        for ok in ["11", "21", "53", "9901", "990404", "140104"] {
            assert!(med_type_known(ok), "{ok}");
        }
        for bad in ["99", "1", "100", "10", "9990404", "1a"] {
            assert!(!med_type_known(bad), "{bad}");
        }
    }

    #[test]
    fn institution_regions() {
        assert_eq!(
            region_of_institution("H44030000001").unwrap().as_str(),
            "440300"
        );
        assert!(region_of_institution("H1").is_none());
        assert!(region_of_institution("HOSP00000001").is_none());
        let here = Admdvs::parse("440304").unwrap();
        assert!(check_sender_region("H44030000001", &here, "").is_none());
        let beijing = Admdvs::parse("110105").unwrap();
        let v = check_sender_region("H44030000001", &beijing, "").unwrap();
        assert_eq!(v.rule, RuleId::FMT_ADMDVS);
        assert_eq!(v.path, "mdtrtarea_admvs");
        let cq = Admdvs::parse("500000").unwrap();
        assert!(check_sender_region("H50011200001", &cq, "").is_none());
        assert!(check_sender_region("H44030000001", &cq, "").is_some());
    }
}
