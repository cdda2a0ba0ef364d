//! The fuzz harness of medsettle: one function per fuzz target, each feeding bytes from outside
//! to the same pure decoder the gateway uses and asserting the invariants that are cheap to
//! check. Compiled twice:
//! - as the library of the cargo-fuzz crate `tests/fuzz` (`fuzz_targets/<target>.rs` calls
//!   the function of the same name under libFuzzer);
//! - as a module of the root package's test `tests/fuzz_corpora.rs` (`#[path]`), which
//!   replays every file of `tests/fuzz/corpus/<target>/` through [`run`] under `cargo test`.
//!
//! So this file uses only crates both have (the workspace's adapters and gateway libraries,
//! serde_json, toml, time, base64, tempfile) and no libFuzzer API. A panic is a finding: the
//! decoders must answer every input with a value or an error.
//!
//! Some targets serve several decoders; the first byte (or the first line, for `legacy`)
//! chooses which, so one corpus keeps each decoder's interesting inputs. The seeds written by
//! `seed.py` carry the right selector.
#![allow(clippy::missing_panics_doc)]

use std::sync::OnceLock;

use medsettle_canonical::Money;
use medsettle_canonical::money::{format_scaled, parse_scaled};

/// Every target, in the order `run.sh` runs them.
pub const TARGETS: &[&str] = &[
    "nhsa",
    "upload_9101",
    "bank_receipts",
    "trigger",
    "config",
    "legacy",
    "settlement_csv",
    "money",
];

/// A bug found by fuzzing, reported and not fixed yet, recognised by where it panics and what
/// it says. Its reproducers are under `tests/fuzz/artifacts/<target>/`.
pub struct KnownBug {
    pub target: &'static str,
    /// The end of the panicking source file's path.
    pub file: &'static str,
    /// A part of the panic message.
    pub message: &'static str,
    pub what: &'static str,
}

/// Delete an entry when its bug is fixed (`tests/fuzz_corpora.rs` replays the reproducers
/// without this list, so they fail until then). Empty: the two bugs found so far (camt.054
/// `TxDtls` enclosing an entry, legacy multi-byte names at the prefix length) were fixed in
/// 1fd6a9a; their reproducers stay in `tests/fuzz/artifacts/` as regressions.
pub const KNOWN_BUGS: &[KnownBug] = &[];

thread_local! {
    /// Set by the panic hook when the panic is a known bug's.
    static KNOWN_PANIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Wrap the panic hook (libFuzzer's aborts the process) so that a known bug's panic only
/// unwinds, silently, to [`run`]'s `catch_unwind`.
fn install_known_bug_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let file = info.location().map(|l| l.file()).unwrap_or("");
            let message = info.payload_as_str().unwrap_or("");
            let known = KNOWN_BUGS
                .iter()
                .any(|b| file.ends_with(b.file) && message.contains(b.message));
            if known {
                KNOWN_PANIC.with(|k| k.set(true));
            } else {
                previous(info);
            }
        }));
    });
}

/// Run `data` through the target named `target` (panics on an unknown name). A panic of a
/// [`KNOWN_BUGS`] entry is swallowed, so the fuzzer goes on looking for other bugs; any other
/// panic is a finding.
pub fn run(target: &str, data: &[u8]) {
    install_known_bug_hook();
    KNOWN_PANIC.with(|k| k.set(false));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_unguarded(target, data);
    }));
    if let Err(e) = r {
        let known =
            KNOWN_PANIC.with(|k| k.replace(false)) && KNOWN_BUGS.iter().any(|b| b.target == target);
        if !known {
            std::panic::resume_unwind(e);
        }
    }
}

/// [`run`] without the known-bug guard.
pub fn run_unguarded(target: &str, data: &[u8]) {
    match target {
        "nhsa" => nhsa(data),
        "upload_9101" => upload_9101(data),
        "bank_receipts" => bank_receipts(data),
        "trigger" => trigger(data),
        "config" => config(data),
        "legacy" => legacy(data),
        "settlement_csv" => settlement_csv(data),
        "money" => money(data),
        other => panic!("no fuzz target `{other}`"),
    }
}

/// An amount re-renders to the value it was decoded from.
fn assert_money_round_trip(m: Money, what: &str) {
    let text = m.to_yuan_string();
    assert_eq!(
        Money::parse_yuan(&text).ok(),
        Some(m),
        "{what}: {m:?} renders as `{text}`, which does not parse back"
    );
}

// ---------------------------------------------------------------------------------------------
// 1. National interface: envelope + typed input, response + typed output, canonical decode.

/// `adapters/nhsa`: [`RequestEnvelope::decode`](medsettle_nhsa::RequestEnvelope::decode) and,
/// when it succeeds, [`decode_input`](medsettle_nhsa::decode_input) of its `infno`;
/// [`ResponseEnvelope::decode`](medsettle_nhsa::ResponseEnvelope::decode) and
/// [`decode_output`](medsettle_nhsa::decode_output) (for an `infno` picked by the input's
/// length, a response does not name it); [`decode`](medsettle_nhsa::decode) with the default
/// options (request, response or exchange → canonical). Invariants: a decoded request envelope
/// re-encodes to bytes that decode to the same envelope; the canonical JSON of a decoded
/// message serializes.
pub fn nhsa(data: &[u8]) {
    use medsettle_nhsa::{
        DecodeLimits, Infno, Options, RequestEnvelope, ResponseEnvelope, decode, decode_input,
        decode_output,
    };
    let limits = DecodeLimits::default();
    if let Ok(env) = RequestEnvelope::decode(data, &limits) {
        let _ = decode_input(&env.infno, &env.input);
        let again = env.to_bytes();
        let back = RequestEnvelope::decode(&again, &limits)
            .expect("a decoded request envelope re-encodes to a decodable one");
        assert_eq!(back, env, "request envelope changed by encode → decode");
    }
    if let Ok(resp) = ResponseEnvelope::decode(data, &limits) {
        let infno = Infno::ALL[data.len() % Infno::ALL.len()];
        let _ = decode_output(infno.as_str(), &resp.output_value());
        let _ = resp.to_bytes();
    }
    if let Ok(d) = decode(data, &Options::default()) {
        let _ = d.to_json();
        let _ = d.canonical.to_bytes();
    }
}

// ---------------------------------------------------------------------------------------------
// 2. The 9101 upload.

/// The institution every 9101 call of the harness is made for.
pub const UPLOAD_FIXMEDINS_CODE: &str = "H44030300001";

/// `gateway/service/src/file_channel.rs`:
/// [`upload_9101`](medsettle_service::file_channel::upload_9101), the pure check of an upload
/// (base64 / byte array → bounded unzip → text decoding) that runs before anything is stored.
/// First byte: `0 mod 3` → the rest is the file, sent as base64; `1 mod 3` → the file, sent as
/// a JSON array of byte values; `2 mod 3` → the rest is the whole `input` JSON. Invariant: an
/// accepted upload stores exactly one value, no larger than the file limit plus its metadata.
pub fn upload_9101(data: &[u8]) {
    use base64::Engine as _;
    use medsettle_service::file_channel::{UPLOAD_BYTES_MAX, upload_9101};
    use serde_json::{Value, json};
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let input: Value = match mode % 3 {
        0 => json!({"fsUploadIn": {
            "in": base64::engine::general_purpose::STANDARD.encode(rest),
            "filename": "detail.txt",
            "fixmedins_code": UPLOAD_FIXMEDINS_CODE,
        }}),
        1 => json!({"fsUploadIn": {
            "in": rest.iter().map(|&b| Value::from(b)).collect::<Vec<_>>(),
            "filename": "detail.zip",
            "fixmedins_code": UPLOAD_FIXMEDINS_CODE,
        }}),
        _ => match serde_json::from_slice(rest) {
            Ok(v) => v,
            Err(_) => return,
        },
    };
    let now = time::macros::datetime!(2025-10-15 09:30:00 UTC);
    if let Ok((answer, writes)) = upload_9101(UPLOAD_FIXMEDINS_CODE, &input, "F0001", now) {
        assert!(answer.is_object());
        assert_eq!(writes.len(), 1, "one stored value per upload");
        let size = format!("{writes:?}").len();
        // Debug of bytes is at most ~4 chars a byte; metadata ~1 KiB.
        assert!(
            size <= 4 * UPLOAD_BYTES_MAX + 8192,
            "stored value too large: {size}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Bank receipts and the bank profile.

/// The bank profiles the delimited returns are decoded with: the built-in GBK profile and the
/// examples of `specs/bank/`.
fn bank_profiles() -> &'static [medsettle_bank::BankProfile] {
    static P: OnceLock<Vec<medsettle_bank::BankProfile>> = OnceLock::new();
    P.get_or_init(|| {
        vec![
            medsettle_bank::BankProfile::default_gbk(),
            medsettle_bank::BankProfile::from_toml(include_str!(
                "../../../specs/bank/canonical-gbk.toml"
            ))
            .expect("specs/bank/canonical-gbk.toml parses"),
            medsettle_bank::BankProfile::from_toml(include_str!(
                "../../../specs/bank/example-fen-utf8.toml"
            ))
            .expect("specs/bank/example-fen-utf8.toml parses"),
        ]
    })
}

/// Rows the harness's tight limits allow, to check the decoders stop at `rows_max`.
const BANK_ROWS_MAX_TIGHT: usize = 8;

/// `adapters/bank/src/receipts.rs`: [`detect_format`](medsettle_bank::receipts::detect_format)
/// and [`decode_named`](medsettle_bank::receipts::decode_named). First byte `mod 5`: 0 pain.002,
/// 1 camt.054, 2..=4 a delimited return in the profile `bank_profiles()[b - 2]`; `(b / 5) mod 2`:
/// the default limits (0) or tight ones (`rows_max` 8, depth 12, 64 KiB). Invariants: never
/// more rows than `rows_max`; the row count and sum in `totals` are the rows'; every amount
/// re-renders to itself.
pub fn bank_receipts(data: &[u8]) {
    use medsettle_bank::receipts::{DecodeLimits, ReceiptFormat, decode_named, detect_format};
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let _ = detect_format(bytes);
    let format = match sel % 5 {
        0 => ReceiptFormat::Pain002,
        1 => ReceiptFormat::Camt054,
        n => ReceiptFormat::GbkReturn(bank_profiles()[usize::from(n) - 2].clone()),
    };
    let tight = DecodeLimits {
        file_bytes_max: 64 * 1024,
        xml_depth_max: 12,
        rows_max: BANK_ROWS_MAX_TIGHT,
    };
    let limits = if (sel / 5).is_multiple_of(2) {
        DecodeLimits::default()
    } else {
        tight
    };
    {
        if let Ok(f) = decode_named("fuzz", bytes, &format, &limits) {
            assert!(f.rows.len() <= limits.rows_max, "rows beyond rows_max");
            assert!(bytes.len() <= limits.file_bytes_max);
            assert_eq!(f.totals.row_count, f.rows.len() as u64, "row_count");
            let sum = f
                .rows
                .iter()
                .filter_map(|r| r.amount)
                .try_fold(Money::ZERO, Money::checked_add);
            assert_eq!(sum, Some(f.totals.row_sum), "row_sum is not the rows' sum");
            for r in &f.rows {
                if let Some(a) = r.amount {
                    assert_money_round_trip(a, "receipt amount");
                }
            }
            if let Some(s) = f.totals.declared_sum {
                assert_money_round_trip(s, "declared sum");
            }
            for u in &f.unidentified {
                assert!(u.row < f.rows.len(), "unidentified row index out of range");
            }
            for c in &f.amount_checks {
                assert!(
                    c.rows.iter().all(|&i| i < f.rows.len()),
                    "amount check row index"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Trigger files.

/// `adapters/bank/src/trigger.rs`: [`parse`](medsettle_bank::trigger::parse), the `.ok`
/// trigger reader of the file drop's inbox (`gateway/filedrop/src/inbox.rs`). Invariants: a
/// parsed trigger renders to exactly the bytes read; its control sum re-renders to itself; it
/// matches the data it announces only by size and hash.
pub fn trigger(data: &[u8]) {
    use medsettle_bank::trigger::{TRIGGER_BYTES_MAX, parse, render};
    if let Ok(t) = parse(data) {
        assert!(data.len() <= TRIGGER_BYTES_MAX);
        assert_eq!(render(&t).expect("a parsed trigger renders"), data);
        assert_money_round_trip(t.control_sum, "control_sum");
        assert!(!t.matches(&data[..data.len().min(1)]) || t.size_bytes <= 1);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Configuration.

/// Which configuration parser a `config` input goes to (first byte `mod` the length).
pub const CONFIG_KINDS: &[&str] = &[
    "medsettle.toml",
    "institutions",
    "bank profile",
    "legacy profile",
    "settlement policy",
    "core policy",
    "catalogue",
    "persons",
    "calendar",
    "engine institutions",
];

/// Configuration text, by the first byte: `medsettle.toml` (`toml::from_str::<RawConfig>`,
/// then, when that parses and names no legacy profile files, [`medsettle_ops::config::load`]
/// on a copy in a temporary directory: every check of `load` is on values, the paths it
/// resolves are not opened), the institutions file, a bank profile, a legacy profile, the
/// instant-settlement policy, the core policy book, catalogue and persons files, a calendar
/// year (alone and with the embedded years), the engine's institutions reader. UTF-8 only
/// (they are all read with `read_to_string`).
pub fn config(data: &[u8]) {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    match usize::from(sel) % CONFIG_KINDS.len() {
        0 => {
            if let Ok(raw) = toml::from_str::<medsettle_ops::config::RawConfig>(text)
                && raw.legacy.profile_files.is_empty()
            {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let file = dir.path().join("medsettle.toml");
                std::fs::write(&file, text).expect("write the configuration");
                let _ = medsettle_ops::config::load(&file);
            }
        }
        1 => {
            let _ = medsettle_ops::config::parse_institutions(text);
        }
        2 => {
            let _ = medsettle_bank::BankProfile::from_toml(text);
        }
        3 => {
            if let Ok(p) = medsettle_legacy::Profile::from_toml(text) {
                let _ = p.transactions();
            }
        }
        4 => {
            let _ = medsettle_settlement::SettlementPolicy::from_toml_str(text);
        }
        5 => {
            let _ = medsettle_core::PolicyBook::from_toml_str(text);
        }
        6 => {
            let _ = medsettle_core::Catalogue::from_toml_str(text);
        }
        7 => {
            let _ = medsettle_core::PersonRegistry::from_toml_str(text);
        }
        8 => {
            use medsettle_settlement::Calendar;
            if let Ok(c) = Calendar::from_toml_strs(&[text]) {
                let _ = c.describe_years();
            }
            let _ = Calendar::from_toml_strs(&[
                include_str!("../../../specs/calendar/cn-2025.toml"),
                text,
            ]);
        }
        _ => {
            let _ = medsettle_engine::load_institutions_toml(text);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Legacy XML.

/// Every (profile, transaction) the built-in legacy profiles serve.
pub fn legacy_calls() -> &'static [(medsettle_legacy::Profile, String)] {
    static C: OnceLock<Vec<(medsettle_legacy::Profile, String)>> = OnceLock::new();
    C.get_or_init(|| {
        let mut out = Vec::new();
        for name in medsettle_legacy::Profile::builtin_names() {
            let p = medsettle_legacy::Profile::builtin(name).expect("a built-in profile");
            for tx in p.transactions() {
                out.push((p.clone(), tx.to_owned()));
            }
        }
        out
    })
}

/// `adapters/legacy`: [`decode_call`](medsettle_legacy::decode_call) for every built-in
/// profile and transaction. The first line chooses the call: `<profile> <transaction>` (as the
/// seeds write it), else the call at index (line's byte sum) of [`legacy_calls`]; the rest is
/// the body. Half of the inputs (by that sum's parity) carry DLL arguments; by `(sum / 2) mod 2`
/// the default limits or tight ones (`rows_max` 4, `depth_max` 8). Invariants: at
/// most `rows_max` fee lines per step; a refusal can be answered in the dialect
/// ([`encode_error`](medsettle_legacy::encode_error)); every national step input goes through
/// [`decode_input`](medsettle_nhsa::decode_input) without panicking.
pub fn legacy(data: &[u8]) {
    use medsettle_legacy::{Limits, decode_call, encode_error};
    let calls = legacy_calls();
    if calls.is_empty() {
        return;
    }
    let (head, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let sum: usize = head.iter().map(|&b| usize::from(b)).sum();
    let named = std::str::from_utf8(head).ok().and_then(|h| {
        let (p, tx) = h.trim().split_once(' ')?;
        calls.iter().find(|(q, t)| q.name() == p && t == tx)
    });
    let (profile, tx) = named.unwrap_or(&calls[sum % calls.len()]);
    let args: Vec<(String, String)> = if sum.is_multiple_of(2) {
        Vec::new()
    } else {
        [
            ("PersonNo", "P1"),
            ("SICardNo", "C1"),
            ("InsuredAreaNo", "880100"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };
    let tight = Limits {
        rows_max: 4,
        depth_max: 8,
        ..Limits::default()
    };
    let limits = if (sum / 2).is_multiple_of(2) {
        Limits::default()
    } else {
        tight
    };
    {
        match decode_call(profile, tx, &args, body, &limits) {
            Ok(call) => {
                for step in &call.steps {
                    for node in ["feedetail", "setldetail"] {
                        if let Some(rows) = step.input.get(node).and_then(|v| v.as_array()) {
                            assert!(rows.len() <= limits.rows_max, "{node} beyond rows_max");
                        }
                    }
                    let _ = medsettle_nhsa::decode_input(&step.infno, &step.input);
                }
            }
            Err(e) => {
                let _ = encode_error(profile, tx, profile.default_encoding(), &e);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Settlement CSV inputs.

/// Which CSV reader a `settlement_csv` input goes to (first byte `mod` the length).
pub const CSV_KINDS: &[&str] = &[
    "declarations",
    "deductions",
    "advances",
    "special cases",
    "DIP cases",
    "3202 statement",
];

/// `gateway/settlement`: the operator's CSV files of `settle month` / `settle year`
/// (`csvin::Declaration`, `Deduction`, `Advance` — by `(first byte / 6) mod 2` as
/// `from_csv_str` or as `from_csv_str_of` the period 2025-10 —, `annual::SpecialCase`,
/// `annual::DipCase`) and the
/// 3202 statement rows (`recon::Stmt3202Row`). Invariants: declared fund amounts are within
/// `0..=ROW_AMOUNT_FEN_MAX`, deductions and advances within `1..=ROW_AMOUNT_FEN_MAX`, every
/// row of a `_of` read is of the period, every amount re-renders to itself.
pub fn settlement_csv(data: &[u8]) {
    use medsettle_settlement::YearMonth;
    use medsettle_settlement::annual::{DipCase, SpecialCase};
    use medsettle_settlement::csvin::{Advance, Declaration, Deduction, ROW_AMOUNT_FEN_MAX};
    use medsettle_settlement::recon::Stmt3202Row;
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let period = YearMonth::parse("2025-10").expect("a month");
    let max = Money::from_fen(ROW_AMOUNT_FEN_MAX);
    let of_period = (usize::from(sel) / CSV_KINDS.len()) % 2 == 1;
    let positive = |m: Money, what: &str| {
        assert!(m > Money::ZERO && m <= max, "{what} {m:?} out of range");
        assert_money_round_trip(m, what);
    };
    match usize::from(sel) % CSV_KINDS.len() {
        0 => {
            let rows = if of_period {
                Declaration::from_csv_str_of(text, period)
            } else {
                Declaration::from_csv_str(text)
            };
            if let Ok(rows) = rows {
                for d in rows {
                    assert!(!of_period || d.month == period, "a row of another month");
                    let m = d.fund_amount;
                    assert!(
                        m >= Money::ZERO && m <= max,
                        "fund_amount {m:?} out of range"
                    );
                    assert_money_round_trip(m, "fund_amount");
                }
            }
        }
        1 => {
            let rows = if of_period {
                Deduction::from_csv_str_of(text, period)
            } else {
                Deduction::from_csv_str(text)
            };
            if let Ok(rows) = rows {
                for d in rows {
                    assert!(!of_period || d.month == period, "a row of another month");
                    positive(d.amount, "deduction");
                }
            }
        }
        2 => {
            let rows = if of_period {
                Advance::from_csv_str_of(text, period)
            } else {
                Advance::from_csv_str(text)
            };
            if let Ok(rows) = rows {
                for a in rows {
                    assert!(!of_period || a.month == period, "a row of another month");
                    positive(a.amount, "advance");
                }
            }
        }
        3 => {
            let _ = SpecialCase::from_csv_str(text);
        }
        4 => {
            let _ = DipCase::from_csv_str(text);
        }
        _ => {
            let _ = Stmt3202Row::from_csv_str(text);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Amounts.

/// The exact value of plain decimal text (`[+-]?digits(.digits)?`) in units of
/// `10^-decimals`, if it has no non-zero digit beyond them and fits comfortably in an i64.
fn reference_scaled(text: &str, decimals: u32) -> Option<Option<i128>> {
    let (neg, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, f),
        None => (rest, ""),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (rest.contains('.') && !digits(frac)) {
        return None; // not plain decimal text: no reference
    }
    let d = decimals as usize;
    let (kept, dropped) = if frac.len() > d {
        frac.split_at(d)
    } else {
        (frac, "")
    };
    if dropped.bytes().any(|b| b != b'0') {
        return Some(None); // too many decimals
    }
    let int = int.trim_start_matches('0');
    if int.len() > 14 {
        return Some(None); // beyond what the reference claims
    }
    let mut v: i128 = 0;
    for b in int.bytes().chain(kept.bytes()) {
        v = v * 10 + i128::from(b - b'0');
    }
    for _ in kept.len()..d {
        v *= 10;
    }
    Some(Some(if neg { -v } else { v }))
}

/// `adapters/canonical/src/money.rs`: [`parse_scaled`] (behind `Money::parse_yuan`,
/// `Ratio::parse`, every amount of every adapter) with 0..=4 decimals. Invariants: a parsed
/// value formats ([`format_scaled`]) to text that parses back to it; on plain decimal text the
/// value is the exact one and a representable value is never refused.
pub fn money(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for decimals in 0..=4u32 {
        let parsed = parse_scaled(text, decimals);
        if let Ok(v) = parsed {
            let shown = format_scaled(v, decimals);
            assert_eq!(
                parse_scaled(&shown, decimals).ok(),
                Some(v),
                "`{text}` ({decimals} decimals) = {v} formats as `{shown}`, which does not parse back"
            );
        }
        match reference_scaled(text, decimals) {
            Some(Some(exact)) => assert_eq!(
                parsed.as_ref().ok().map(|&v| i128::from(v)),
                Some(exact),
                "`{text}` with {decimals} decimals: got {parsed:?}, exact value {exact}"
            ),
            Some(None) => {
                if let Ok(v) = parsed {
                    assert!(
                        text.split_once('.').is_none_or(|(_, f)| f
                            .bytes()
                            .skip(decimals as usize)
                            .all(|b| b == b'0')),
                        "`{text}` accepted as {v} with {decimals} decimals"
                    );
                }
            }
            None => {}
        }
    }
    if let Ok(m) = Money::parse_yuan(text) {
        assert_money_round_trip(m, "Money::parse_yuan");
    }
}
