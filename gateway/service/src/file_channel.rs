//! The national interface's file channel for detail reconciliation (`nhsa-interface.md` §1.3,
//! §2.6): **9101** upload, **3202** 对明细账 (detail reconciliation against an uploaded file),
//! **9102** download of a stored file.
//!
//! - 9101 `input.fsUploadIn{in, filename, fixmedins_code}`: `in` is the file, as base64 text (C#
//!   Newtonsoft's `byte[]`) or as a JSON array of byte values (0..=255, or Java's signed
//!   -128..=127). The file is checked (a bounded zip holding one text file, or a text file) and
//!   stored as sent under `files.upload/<file_qury_no>`.
//! - 3202 `input.data{…, file_qury_no, stmt_begndate, stmt_enddate, refd_setl_flag}`: reads that
//!   upload (of the same institution only), parses its rows (`setl_id, mdtrt_id, psn_no,
//!   medfee_sumamt, fund_pay_sumamt, acct_pay, refd_setl_flag`; TAB, `|` or `,`; optional header
//!   line), compares them with the engine's claim index ([`Engine::reconcile_3202`], blocking)
//!   and stores the result zip (`result.txt`, TAB-separated, no header line: `psn_no, mdtrt_id,
//!   setl_id, msgid, stmt_rslt, refd_setl_flag, memo, medfee_sumamt, fund_pay_sumamt, acct_pay`)
//!   under `files.result/<result_qury_no>`. The totals of `input.data` are validated as fields
//!   but not compared (that is 3201's job); `refd_setl_flag` `0`/`1`, when given, restricts the
//!   result to settlements / refunds.
//! - 9102 `input.fsDownloadIn{file_qury_no, filename, fixmedins_code}`: the stored bytes (an
//!   upload as it was sent, or a result zip) of the caller's institution. `filename` is not
//!   compared (clients echo what they were given).
//!
//! Nothing here appends to the journal: every function returns the [`StateWrite`]s the caller
//! carries in the journal record of the request. A file of another institution is answered
//! exactly like an unknown `file_qury_no`, so its existence does not leak.
//!
//! Stored value: `version:u8 (=1) | meta_len:u32be | meta JSON | file bytes`.

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};

use base64::Engine as _;
use medsettle_canonical::{CHINA_OFFSET, Money, RuleId, Violation};
use medsettle_engine::Engine;
use medsettle_settlement::recon::{DetailFinding, DetailResult, Stmt3202Row};
use medsettle_store::{StateWrite, Store};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

/// Largest file accepted by 9101 after base64 / byte-array decoding, and largest uncompressed
/// text inside an uploaded zip: 512 KiB (the gateway's body limit is 1 MiB and base64 adds a
/// third). At ~70 bytes a row that is ~7 000 detail rows.
pub const UPLOAD_BYTES_MAX: usize = 512 * 1024;
/// Largest number of data rows in a 3202 detail file.
pub const DETAIL_ROWS_MAX: usize = 10_000;
/// `dld_endtime` = time of storing + this many hours. Advisory: 9102 has no clock in its API, so
/// it is not enforced, and stored files are not deleted by this module (retention is the
/// operator's: the journal keeps them anyway).
pub const DOWNLOAD_VALID_HOURS: i64 = 24;
/// Largest number of lines in a 3202 result (ours ∪ theirs); beyond it, narrow the date range.
pub const RESULT_ROWS_MAX: usize = 2 * DETAIL_ROWS_MAX;
/// Largest result zip: it travels in one journal record (store default limit 4 MiB).
pub const RESULT_BYTES_MAX: usize = 2 * 1024 * 1024;
/// Largest number of entries (files and directories) in an uploaded zip.
pub const ZIP_ENTRIES_MAX: usize = 16;
/// `filename` length, characters (spec: char 200).
pub const FILENAME_CHARS_MAX: usize = 200;
/// `file_qury_no` length, characters (spec: char 30).
pub const FILE_QURY_NO_CHARS_MAX: usize = 30;
/// `setl_id`, `mdtrt_id`, `psn_no` length in a detail row, characters (spec: char 30).
pub const ID_CHARS_MAX: usize = 30;
/// Largest absolute amount: the interface's `16,2` precision, in fen.
const MONEY_FEN_ABS_MAX: i64 = 9_999_999_999_999_999;

/// State keyspace of uploaded files, key = `file_qury_no`.
pub const SPACE_UPLOAD: &str = "files.upload";
/// State keyspace of 3202 result files, key = `file_qury_no` of the result.
pub const SPACE_RESULT: &str = "files.result";
/// The entry of a result zip.
pub const RESULT_ENTRY: &str = "result.txt";

const STORED_VERSION: u8 = 1;
const COLUMNS: [&str; 7] = [
    "setl_id",
    "mdtrt_id",
    "psn_no",
    "medfee_sumamt",
    "fund_pay_sumamt",
    "acct_pay",
    "refd_setl_flag",
];

/// What is stored with a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileMeta {
    fixmedins_code: String,
    filename: String,
    /// `upload` or `result`.
    kind: String,
    created_at: String,
    dld_endtime: String,
    size: usize,
    /// For a result: the upload it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_qury_no: Option<String>,
}

fn v(rule: RuleId, path: impl Into<String>, message: impl Into<String>) -> Violation {
    Violation::new(rule, path, message)
}

// ---------------------------------------------------------------------------------------------
// 9101

/// 9101: validate and store the upload. `file_qury_no` is given by the caller (unique id).
pub fn upload_9101(
    fixmedins_code: &str,
    input: &Value,
    file_qury_no: &str,
    now: OffsetDateTime,
) -> Result<(Value, Vec<StateWrite>), Violation> {
    check_own_qury_no(file_qury_no)?;
    let node = node(input, "fsUploadIn")?;
    let filename = text(node, "input.fsUploadIn", "filename", FILENAME_CHARS_MAX)?;
    check_code(node, "input.fsUploadIn", fixmedins_code)?;
    let bytes = decode_in(node.get("in"), "input.fsUploadIn.in")?;
    // Check now what 3202 will read, so a broken file is refused at upload.
    extract_text(&bytes, &filename, "input.fsUploadIn.in")?;
    let dld_endtime = dld_endtime(now);
    let meta = FileMeta {
        fixmedins_code: fixmedins_code.to_owned(),
        filename: filename.clone(),
        kind: "upload".into(),
        created_at: datetime_text(now),
        dld_endtime: dld_endtime.clone(),
        size: bytes.len(),
        source_qury_no: None,
    };
    let write = StateWrite::put(
        SPACE_UPLOAD,
        file_qury_no.as_bytes(),
        encode_stored(&meta, &bytes),
    );
    Ok((
        json!({"file_qury_no": file_qury_no, "filename": filename, "dld_endtime": dld_endtime}),
        vec![write],
    ))
}

/// `in`: base64 text or an array of byte values, 1..=[`UPLOAD_BYTES_MAX`] bytes decoded.
fn decode_in(value: Option<&Value>, path: &str) -> Result<Vec<u8>, Violation> {
    let too_big = |n: &str| {
        v(
            RuleId::GW_LIMIT,
            path,
            format!("the file is {n} bytes; the limit is {UPLOAD_BYTES_MAX}"),
        )
    };
    let bytes = match value {
        None | Some(Value::Null) => {
            return Err(v(RuleId::FMT_REQUIRED, path, "the file is missing"));
        }
        Some(Value::String(s)) => {
            // base64 of UPLOAD_BYTES_MAX bytes; whitespace (MIME line breaks) allowed on top,
            // but not without bound.
            let encoded_max = UPLOAD_BYTES_MAX.div_ceil(3) * 4;
            if s.len() > 2 * encoded_max {
                return Err(too_big("more than"));
            }
            let compact: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
            if compact.len() > encoded_max {
                return Err(too_big(&format!("about {}", compact.len() / 4 * 3)));
            }
            base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT
                .decode(&compact)
                .map_err(|e| {
                    v(
                        RuleId::FMT_ENCODING,
                        path,
                        format!("not base64 text (standard alphabet): {e}"),
                    )
                })?
        }
        Some(Value::Array(items)) => {
            if items.len() > UPLOAD_BYTES_MAX {
                return Err(too_big(&items.len().to_string()));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let b = item
                    .as_i64()
                    .filter(|n| (-128..=255).contains(n))
                    .ok_or_else(|| {
                        v(
                            RuleId::FMT_TYPE,
                            format!("{path}[{i}]"),
                            format!("`{item}` is not a byte value (0..=255, or -128..=127)"),
                        )
                    })?;
                // Java's signed bytes: -1 is 0xFF.
                out.push((b & 0xFF) as u8);
            }
            out
        }
        Some(_) => {
            return Err(v(
                RuleId::FMT_TYPE,
                path,
                "the file must be base64 text or an array of byte values",
            ));
        }
    };
    if bytes.is_empty() {
        return Err(v(RuleId::FMT_REQUIRED, path, "the file is empty"));
    }
    if bytes.len() > UPLOAD_BYTES_MAX {
        return Err(too_big(&bytes.len().to_string()));
    }
    Ok(bytes)
}

// ---------------------------------------------------------------------------------------------
// 3202

/// 3202: read the uploaded file (must have been uploaded by the same fixmedins_code), parse its
/// rows, reconcile with the engine (blocking), store the result file, answer fileinfo.
pub fn reconcile_3202(
    store: &dyn Store,
    engine: &Engine,
    fixmedins_code: &str,
    input: &Value,
    result_qury_no: &str,
    now: OffsetDateTime,
) -> Result<(Value, Vec<StateWrite>), Violation> {
    check_own_qury_no(result_qury_no)?;
    let tx = medsettle_nhsa::decode_input("3202", input).map_err(first_violation)?;
    let medsettle_nhsa::TxInput::T3202(x) = tx else {
        unreachable!("decode_input(\"3202\") decodes 3202")
    };
    let d = &x.data;
    if d.stmt_enddate < d.stmt_begndate {
        return Err(v(
            RuleId::FMT_DATE,
            "input.data.stmt_enddate",
            format!(
                "stmt_enddate {} is before stmt_begndate {}",
                d.stmt_enddate, d.stmt_begndate
            ),
        ));
    }
    let only_flag = match d.refd_setl_flag.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("0") => Some(false),
        Some("1") => Some(true),
        Some(other) => {
            return Err(v(
                RuleId::FMT_CODE,
                "input.data.refd_setl_flag",
                format!("`{other}` is not 0 (settlements) or 1 (refunds)"),
            ));
        }
    };
    let qury_path = "input.data.file_qury_no";
    let (meta, bytes) = load(
        store,
        SPACE_UPLOAD,
        &d.file_qury_no,
        fixmedins_code,
        qury_path,
    )?
    .ok_or_else(|| not_found(&d.file_qury_no, qury_path))?;
    let (entry, text) = extract_text(&bytes, &meta.filename, qury_path)?;
    let rows = parse_detail(&text, &entry)?;

    let mut results = engine
        .reconcile_3202(
            store,
            fixmedins_code,
            d.stmt_begndate,
            d.stmt_enddate,
            &rows,
        )
        .map_err(|e| v(RuleId(e.rule()), "input.data", e.to_string()))?;
    if let Some(flag) = only_flag {
        results.retain(|r| r.refd_setl_flag == flag);
    }
    if results.len() > RESULT_ROWS_MAX {
        return Err(v(
            RuleId::GW_LIMIT,
            "input.data",
            format!(
                "the result has {} lines; the limit is {RESULT_ROWS_MAX}: narrow the date range",
                results.len()
            ),
        ));
    }
    let zip = write_zip(RESULT_ENTRY, result_text(&results).as_bytes())?;
    if zip.len() > RESULT_BYTES_MAX {
        return Err(v(
            RuleId::GW_LIMIT,
            "input.data",
            format!(
                "the result file is {} bytes; the limit is {RESULT_BYTES_MAX}: narrow the date range",
                zip.len()
            ),
        ));
    }
    let filename = format!("{result_qury_no}.zip");
    let dld_endtime = dld_endtime(now);
    let meta = FileMeta {
        fixmedins_code: fixmedins_code.to_owned(),
        filename: filename.clone(),
        kind: "result".into(),
        created_at: datetime_text(now),
        dld_endtime: dld_endtime.clone(),
        size: zip.len(),
        source_qury_no: Some(d.file_qury_no.clone()),
    };
    let write = StateWrite::put(
        SPACE_RESULT,
        result_qury_no.as_bytes(),
        encode_stored(&meta, &zip),
    );
    Ok((
        json!({"fileinfo": {
            "file_qury_no": result_qury_no,
            "filename": filename,
            "dld_endtime": dld_endtime,
        }}),
        vec![write],
    ))
}

fn first_violation(e: medsettle_nhsa::NhsaError) -> Violation {
    e.violations
        .into_iter()
        .next()
        .expect("an NhsaError names at least one violation")
}

/// Rows of a detail file. `entry` names the file in paths: `detail.txt:3:medfee_sumamt`.
fn parse_detail(text: &str, entry: &str) -> Result<Vec<Stmt3202Row>, Violation> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let Some(&(_, first)) = lines.peek() else {
        return Ok(Vec::new());
    };
    let delim = if first.contains('\t') {
        '\t'
    } else if first.contains('|') {
        '|'
    } else {
        ','
    };
    let split = |line: &str| -> Vec<String> {
        let mut f: Vec<String> = line
            .split(delim)
            .map(|s| {
                let s = s.trim();
                s.strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .unwrap_or(s)
                    .to_owned()
            })
            .collect();
        // `a|b|…|g|`: a trailing delimiter
        if f.len() == COLUMNS.len() + 1 && f.last().is_some_and(String::is_empty) {
            f.pop();
        }
        f
    };
    // Column order: positional, or as a header line (one naming `setl_id`) names it.
    let mut order: [usize; 7] = [0, 1, 2, 3, 4, 5, 6];
    let head = split(first);
    if head.iter().any(|h| h.eq_ignore_ascii_case("setl_id")) {
        let (line_no, _) = lines.next().expect("peeked");
        for (c, name) in COLUMNS.iter().enumerate() {
            order[c] = head
                .iter()
                .position(|h| h.eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    v(
                        RuleId::FMT_REQUIRED,
                        format!("{entry}:{line_no}"),
                        format!("the header line has no column `{name}`"),
                    )
                })?;
        }
        if head.len() != COLUMNS.len() {
            return Err(v(
                RuleId::FMT_TYPE,
                format!("{entry}:{line_no}"),
                format!(
                    "the header line has {} columns; expected {}",
                    head.len(),
                    COLUMNS.len()
                ),
            ));
        }
    } else if head.len() == COLUMNS.len()
        && head[3..6]
            .iter()
            .all(|a| !a.bytes().any(|b| b.is_ascii_digit()))
    {
        // A header in other words (e.g. 结算ID|就诊ID|…): no amount column has a digit.
        lines.next();
    }

    let mut rows = Vec::new();
    let mut seen: BTreeMap<(String, bool), usize> = BTreeMap::new();
    for (line_no, line) in lines {
        if rows.len() == DETAIL_ROWS_MAX {
            return Err(v(
                RuleId::GW_LIMIT,
                format!("{entry}:{line_no}"),
                format!("more than {DETAIL_ROWS_MAX} detail rows"),
            ));
        }
        let f = split(line);
        let at = |c: usize| format!("{entry}:{line_no}:{}", COLUMNS[c]);
        if f.len() != COLUMNS.len() {
            return Err(v(
                if f.len() < COLUMNS.len() {
                    RuleId::FMT_REQUIRED
                } else {
                    RuleId::FMT_TYPE
                },
                format!("{entry}:{line_no}"),
                format!(
                    "{} columns separated by `{}`; expected {} ({})",
                    f.len(),
                    delim.escape_default(),
                    COLUMNS.len(),
                    COLUMNS.join(", ")
                ),
            ));
        }
        let get = |c: usize| f[order[c]].as_str();
        let id = |c: usize| -> Result<String, Violation> {
            let s = get(c);
            if s.is_empty() {
                return Err(v(RuleId::FMT_REQUIRED, at(c), "empty"));
            }
            if s.chars().count() > ID_CHARS_MAX {
                return Err(v(
                    RuleId::FMT_LENGTH,
                    at(c),
                    format!("longer than {ID_CHARS_MAX} characters"),
                ));
            }
            if s.chars().any(char::is_control) {
                return Err(v(RuleId::FMT_TYPE, at(c), "contains a control character"));
            }
            Ok(s.to_owned())
        };
        let money = |c: usize| -> Result<Money, Violation> {
            let s = get(c);
            if s.is_empty() {
                return Err(v(RuleId::FMT_REQUIRED, at(c), "empty amount"));
            }
            let m = Money::parse_yuan(s).map_err(|e| v(RuleId::FMT_MONEY, at(c), e.to_string()))?;
            if m.fen().abs() > MONEY_FEN_ABS_MAX {
                return Err(v(
                    RuleId::FMT_MONEY,
                    at(c),
                    format!("`{s}` exceeds the 16,2 precision"),
                ));
            }
            Ok(m)
        };
        let refd = match get(6) {
            "0" => false,
            "1" => true,
            "" => return Err(v(RuleId::FMT_REQUIRED, at(6), "empty")),
            other => {
                return Err(v(
                    RuleId::FMT_CODE,
                    at(6),
                    format!("`{other}` is not 0 (settlement) or 1 (refund)"),
                ));
            }
        };
        let row = Stmt3202Row {
            setl_id: id(0)?,
            mdtrt_id: id(1)?,
            psn_no: id(2)?,
            medfee_sumamt: money(3)?,
            fund_pay_sumamt: money(4)?,
            acct_pay: money(5)?,
            refd_setl_flag: refd,
        };
        if let Some(prev) = seen.insert((row.setl_id.clone(), refd), line_no) {
            return Err(v(
                RuleId::FMT_CODE,
                at(0),
                format!(
                    "settlement {} with refd_setl_flag {} is listed twice (also line {prev})",
                    row.setl_id,
                    u8::from(refd)
                ),
            ));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// `result.txt`: one TAB-separated line per settlement, no header line. Ids and amounts are
/// the center's (ours) where we have the settlement, else the institution's. `msgid` is empty:
/// the engine's claim index does not keep it.
fn result_text(results: &[DetailResult]) -> String {
    let clean = |s: &str| s.replace(['\t', '\r', '\n'], " ");
    let mut out = String::new();
    for r in results {
        let Some(row) = r.ours.as_ref().or(r.theirs.as_ref()) else {
            continue; // a result has at least one side
        };
        let (rslt, memo) = match &r.finding {
            DetailFinding::Match => ("0", String::new()),
            DetailFinding::MissingOnOurSide => {
                ("1", "中心无此结算 (missing on the center's side)".into())
            }
            DetailFinding::MissingOnTheirSide => {
                ("1", "机构未上传 (missing in the institution's file)".into())
            }
            DetailFinding::Differs { fields } => (
                "1",
                format!("不一致 (center vs institution): {}", fields.join("; ")),
            ),
        };
        let cols = [
            clean(&row.psn_no),
            clean(&row.mdtrt_id),
            clean(&r.setl_id),
            String::new(),
            rslt.to_owned(),
            if r.refd_setl_flag { "1" } else { "0" }.to_owned(),
            clean(&memo),
            row.medfee_sumamt.to_yuan_string(),
            row.fund_pay_sumamt.to_yuan_string(),
            row.acct_pay.to_yuan_string(),
        ];
        out.push_str(&cols.join("\t"));
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// 9102

/// 9102: the stored file (an upload or a result) of this institution: (filename, zip bytes).
pub fn download_9102(
    store: &dyn Store,
    fixmedins_code: &str,
    input: &Value,
) -> Result<(String, Vec<u8>), Violation> {
    let node = node(input, "fsDownloadIn")?;
    let no = text(
        node,
        "input.fsDownloadIn",
        "file_qury_no",
        FILE_QURY_NO_CHARS_MAX,
    )?;
    check_code(node, "input.fsDownloadIn", fixmedins_code)?;
    let path = "input.fsDownloadIn.file_qury_no";
    for space in [SPACE_RESULT, SPACE_UPLOAD] {
        if let Some((meta, bytes)) = load(store, space, &no, fixmedins_code, path)? {
            return Ok((meta.filename, bytes));
        }
    }
    Err(not_found(&no, path))
}

// ---------------------------------------------------------------------------------------------
// shared

/// The caller's id for a new file.
fn check_own_qury_no(no: &str) -> Result<(), Violation> {
    if no.is_empty() || no.chars().count() > FILE_QURY_NO_CHARS_MAX {
        return Err(v(
            RuleId::GW_INTERNAL,
            "",
            format!("file_qury_no `{no}` must be 1..={FILE_QURY_NO_CHARS_MAX} characters"),
        ));
    }
    Ok(())
}

/// `input.<name>` as an object.
fn node<'a>(input: &'a Value, name: &str) -> Result<&'a Map<String, Value>, Violation> {
    let obj = input.as_object().ok_or_else(|| {
        v(
            RuleId::NHSA_ENV_INPUT,
            "input",
            format!("input must be a JSON object with node `{name}`"),
        )
    })?;
    match obj.get(name) {
        None | Some(Value::Null) => {
            Err(v(RuleId::FMT_REQUIRED, format!("input.{name}"), "missing"))
        }
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(v(
            RuleId::FMT_TYPE,
            format!("input.{name}"),
            "must be an object",
        )),
    }
}

/// A required text field, trimmed, 1..=`max` characters.
fn text(node: &Map<String, Value>, at: &str, field: &str, max: usize) -> Result<String, Violation> {
    let path = format!("{at}.{field}");
    match node.get(field) {
        None | Some(Value::Null) => Err(v(RuleId::FMT_REQUIRED, path, "missing")),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                Err(v(RuleId::FMT_REQUIRED, path, "empty"))
            } else if s.chars().count() > max {
                Err(v(
                    RuleId::FMT_LENGTH,
                    path,
                    format!("longer than {max} characters"),
                ))
            } else if s.chars().any(char::is_control) {
                Err(v(RuleId::FMT_TYPE, path, "contains a control character"))
            } else {
                Ok(s.to_owned())
            }
        }
        Some(_) => Err(v(RuleId::FMT_TYPE, path, "must be text")),
    }
}

/// The node's optional `fixmedins_code` must be the envelope's (the one the client is
/// authenticated for).
fn check_code(node: &Map<String, Value>, at: &str, fixmedins_code: &str) -> Result<(), Violation> {
    match node.get("fixmedins_code") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.trim().is_empty() || s.trim() == fixmedins_code => Ok(()),
        Some(other) => Err(v(
            RuleId::GW_AUTH,
            format!("{at}.fixmedins_code"),
            format!("{other} is not the envelope's fixmedins_code {fixmedins_code}"),
        )),
    }
}

fn not_found(no: &str, path: &str) -> Violation {
    v(
        RuleId::FMT_CODE,
        path,
        format!("no file `{no}` of this institution"),
    )
}

/// A stored file of `fixmedins_code` (`None` if absent or another institution's).
fn load(
    store: &dyn Store,
    space: &str,
    no: &str,
    fixmedins_code: &str,
    path: &str,
) -> Result<Option<(FileMeta, Vec<u8>)>, Violation> {
    let raw = store
        .get(space, no.as_bytes())
        .map_err(|e| v(RuleId::GW_INTERNAL, path, format!("store: {e}")))?;
    let Some(raw) = raw else { return Ok(None) };
    let (meta, bytes) = decode_stored(&raw).ok_or_else(|| {
        v(
            RuleId::GW_INTERNAL,
            path,
            format!("stored file {space}/{no} does not decode"),
        )
    })?;
    Ok((meta.fixmedins_code == fixmedins_code).then(|| (meta, bytes.to_vec())))
}

fn encode_stored(meta: &FileMeta, bytes: &[u8]) -> Vec<u8> {
    let m = serde_json::to_vec(meta).expect("FileMeta serializes");
    let len = u32::try_from(m.len()).expect("meta is small");
    let mut out = Vec::with_capacity(5 + m.len() + bytes.len());
    out.push(STORED_VERSION);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&m);
    out.extend_from_slice(bytes);
    out
}

fn decode_stored(raw: &[u8]) -> Option<(FileMeta, &[u8])> {
    let (&version, rest) = raw.split_first()?;
    if version != STORED_VERSION || rest.len() < 4 {
        return None;
    }
    let len = u32::from_be_bytes(rest[..4].try_into().ok()?) as usize;
    let rest = &rest[4..];
    let meta = serde_json::from_slice(rest.get(..len)?).ok()?;
    Some((meta, &rest[len..]))
}

fn datetime_text(t: OffsetDateTime) -> String {
    t.to_offset(CHINA_OFFSET)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .expect("a 4-digit year formats")
}

fn dld_endtime(now: OffsetDateTime) -> String {
    datetime_text(now + time::Duration::hours(DOWNLOAD_VALID_HOURS))
}

/// The text of an uploaded file: the one file of a zip (bounded, see [`unzip_one`]) or the file
/// itself. Returns (name for error paths, text).
fn extract_text(bytes: &[u8], filename: &str, path: &str) -> Result<(String, String), Violation> {
    let (name, raw) = if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        unzip_one(bytes, path)?
    } else {
        (filename.to_owned(), bytes.to_vec())
    };
    let text = decode_text(&raw, &name, path)?;
    Ok((name, text))
}

/// UTF-8 (BOM optional), else GB18030 (a superset of GBK, which Windows HIS write); control
/// characters other than TAB, CR, LF mean it is not a text file.
fn decode_text(raw: &[u8], name: &str, path: &str) -> Result<String, Violation> {
    let raw = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    let text = match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => encoding_rs::GB18030
            .decode_without_bom_handling_and_without_replacement(raw)
            .map(|c| c.into_owned())
            .ok_or_else(|| {
                v(
                    RuleId::FMT_ENCODING,
                    path,
                    format!("`{name}` is neither UTF-8 nor GBK/GB18030 text"),
                )
            })?,
    };
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
    {
        return Err(v(
            RuleId::FMT_ENCODING,
            path,
            format!(
                "`{name}` is not a text file (control character U+{:04X})",
                u32::from(c)
            ),
        ));
    }
    Ok(text)
}

/// The single file of a zip archive, decoded with bounds: at most [`ZIP_ENTRIES_MAX`] entries;
/// stored or deflated; the declared uncompressed size and the bytes actually inflated both at
/// most [`UPLOAD_BYTES_MAX`], and inflating more than declared is refused (a zip bomb lies about
/// its size). Memory stays under `UPLOAD_BYTES_MAX + 1` bytes whatever the archive says.
fn unzip_one(bytes: &[u8], path: &str) -> Result<(String, Vec<u8>), Violation> {
    let corrupt = |e: &dyn std::fmt::Display| {
        v(
            RuleId::FMT_ENCODING,
            path,
            format!("not a readable zip archive: {e}"),
        )
    };
    let mut ar = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| corrupt(&e))?;
    if ar.len() > ZIP_ENTRIES_MAX {
        return Err(v(
            RuleId::GW_LIMIT,
            path,
            format!(
                "the zip has {} entries; the limit is {ZIP_ENTRIES_MAX}",
                ar.len()
            ),
        ));
    }
    let mut chosen = None;
    for i in 0..ar.len() {
        let f = ar.by_index_raw(i).map_err(|e| corrupt(&e))?;
        let name = f.name().map_err(|e| corrupt(&e))?;
        if f.is_dir() || name.starts_with("__MACOSX/") {
            continue;
        }
        if chosen.is_some() {
            return Err(v(
                RuleId::FMT_TYPE,
                path,
                "the zip must hold exactly one file (the detail text file)",
            ));
        }
        chosen = Some(i);
    }
    let Some(i) = chosen else {
        return Err(v(RuleId::FMT_REQUIRED, path, "the zip holds no file"));
    };
    let mut f = ar.by_index(i).map_err(|e| corrupt(&e))?;
    let name = f.name().map_err(|e| corrupt(&e))?.into_owned();
    let name = name.rsplit('/').next().unwrap_or(&name).to_owned();
    if !matches!(
        f.compression(),
        zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
    ) {
        return Err(v(
            RuleId::FMT_ENCODING,
            path,
            format!(
                "`{name}` uses compression {:?}; only stored and deflate are accepted",
                f.compression()
            ),
        ));
    }
    let declared = f.size();
    if declared > UPLOAD_BYTES_MAX as u64 {
        return Err(v(
            RuleId::GW_LIMIT,
            path,
            format!(
                "`{name}` declares {declared} bytes uncompressed; the limit is {UPLOAD_BYTES_MAX}"
            ),
        ));
    }
    let mut out = Vec::with_capacity(declared as usize);
    let read = (&mut f).take(declared + 1).read_to_end(&mut out);
    if out.len() as u64 > declared {
        return Err(v(
            RuleId::GW_LIMIT,
            path,
            format!("`{name}` inflates to more than the {declared} bytes it declares (zip bomb?)"),
        ));
    }
    if let Err(e) = read {
        // The zip crate stops at the declared size itself (its wording is pinned by a test).
        if e.to_string()
            .contains("larger than its declared uncompressed size")
        {
            return Err(v(
                RuleId::GW_LIMIT,
                path,
                format!(
                    "`{name}` inflates to more than the {declared} bytes it declares (zip bomb?)"
                ),
            ));
        }
        return Err(corrupt(&format!("`{name}`: {e}")));
    }
    if (out.len() as u64) < declared {
        return Err(corrupt(&format!(
            "`{name}` holds {} of the {declared} bytes it declares",
            out.len()
        )));
    }
    Ok((name, out))
}

/// A zip with one deflated entry (timestamp 1980-01-01: the bytes depend on the content only).
fn write_zip(name: &str, data: &[u8]) -> Result<Vec<u8>, Violation> {
    let internal = |e: &dyn std::fmt::Display| v(RuleId::GW_INTERNAL, "", format!("zip: {e}"));
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file(name, opts).map_err(|e| internal(&e))?;
    w.write_all(data).map_err(|e| internal(&e))?;
    Ok(w.finish().map_err(|e| internal(&e))?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use medsettle_canonical::journal::{ExchangeRecord, KIND_SETTLEMENT};
    use medsettle_canonical::{
        Admdvs, BankAccount, ClaimKind, EnrolmentStatus, FundLine, Institution, InstitutionLevel,
        SettledClaim, SettlementAmounts,
    };
    use medsettle_engine::EngineConfig;
    use medsettle_settlement::{Calendar, SettlementPolicy};
    use medsettle_store::{Durability, JournalRecord, SledStore, StoreConfig};
    use time::macros::{date, datetime};
    use time::{Date, PrimitiveDateTime, Time};

    const POOL: &str = "640100";
    const A: &str = "H64010000001";
    const B: &str = "H64010000002";
    const POLICY: &str = r#"
pool_admdvs = "640100"
name = "file channel tests"
[daily]
ratio = "0.60"
cutoff = "15:00"
failed_payment = "no_retry"
[monthly]
quality_margin_rate = "0.05"
[[annual.margin_release]]
min_score = 0
release = "1.00"
"#;

    fn now() -> OffsetDateTime {
        datetime!(2025-10-11 09:30:00 +08:00)
    }

    fn open(dir: &std::path::Path) -> SledStore {
        SledStore::open(
            dir,
            StoreConfig {
                durability: Durability::Flush,
                ..StoreConfig::default()
            },
        )
        .unwrap()
    }

    fn account(code: &str) -> BankAccount {
        BankAccount {
            name: format!("{code} 医院"),
            account: format!("6222{code}"),
            bank_code: "102871000011".into(),
            bank_name: "工商银行".into(),
        }
    }

    fn engine() -> Engine {
        let inst = |code: &str| Institution {
            fixmedins_code: code.into(),
            fixmedins_name: format!("{code} 医院"),
            admdvs: Admdvs::parse(POOL).unwrap(),
            level: InstitutionLevel::Level3,
            class: "hospital".into(),
            status: EnrolmentStatus::Enrolled,
            account: account(code),
        };
        Engine::new(EngineConfig::new(
            SettlementPolicy::from_toml_str(POLICY).unwrap(),
            Calendar::embedded(),
            vec![inst(A), inst(B)],
            account("FUND640100"),
        ))
    }

    fn at(d: Date, hour: u8) -> OffsetDateTime {
        PrimitiveDateTime::new(d, Time::from_hms(hour, 0, 0).unwrap()).assume_offset(CHINA_OFFSET)
    }

    /// A settlement: `fund` fen from the pooled fund, `acct` from the personal account.
    fn claim(setl_id: &str, code: &str, d: Date, fund: i64, acct: i64) -> SettledClaim {
        let line = |t: &str, f: i64| FundLine {
            fund_pay_type: t.into(),
            fund_pay_type_name: None,
            inscp_scp_amt: None,
            crt_payb_lmt_amt: None,
            fund_payamt: Money::from_fen(f),
            setl_proc_info: None,
        };
        let mut setldetail = vec![line("310100", fund)];
        if acct != 0 {
            setldetail.push(line("310200", acct));
        }
        SettledClaim {
            kind: ClaimKind::Settlement,
            infno: "2304".into(),
            msgid: format!("{code}{setl_id}"),
            setl_id: setl_id.into(),
            mdtrt_id: format!("M{setl_id}"),
            psn_no: format!("P{setl_id}"),
            psn_name: None,
            fixmedins_code: code.into(),
            fixmedins_name: None,
            mdtrtarea_admvs: Admdvs::parse(POOL).unwrap(),
            insuplc_admdvs: Some(Admdvs::parse(POOL).unwrap()),
            clr_optins: Some(POOL.into()),
            insutype: "310".into(),
            psn_type: None,
            med_type: "21".into(),
            clr_type: Some("21".into()),
            clr_way: None,
            setl_time: at(d, 10),
            amounts: SettlementAmounts {
                medfee_sumamt: Money::from_fen(fund + acct),
                inscp_scp_amt: Money::from_fen(fund + acct),
                hifp_pay: Money::from_fen(fund),
                fund_pay_sumamt: Money::from_fen(fund),
                psn_part_amt: Money::from_fen(acct),
                acct_pay: Money::from_fen(acct),
                ..Default::default()
            },
            setldetail,
            reversal_of: None,
        }
    }

    /// Journal claims as the gateway does (`nhsa.settlement` exchange records), durably.
    fn journal(store: &dyn Store, claims: &[SettledClaim]) {
        for c in claims {
            let ex = ExchangeRecord {
                infno: c.infno.clone(),
                fixmedins_code: c.fixmedins_code.clone(),
                msgid: c.msgid.clone(),
                request: json!({"infno": c.infno}),
                answer: json!({"infcode": 0}),
                claim: Some(c.clone()),
                core: "embedded".into(),
                received_at: "2025-10-09T10:00:00+08:00".into(),
                repairs: Vec::new(),
            };
            let rec = JournalRecord::new(KIND_SETTLEMENT, serde_json::to_vec(&ex).unwrap())
                .with_key(&c.fixmedins_code, &c.msgid);
            store.append(rec).unwrap();
        }
        store.wait_durable_blocking(store.current_ticket()).unwrap();
    }

    /// What the caller does with the returned writes: one journal record carrying them.
    fn apply(store: &dyn Store, writes: Vec<StateWrite>) {
        let mut rec = JournalRecord::new("nhsa.request", b"{}".to_vec());
        for w in writes {
            rec = rec.with_write(w);
        }
        store.append(rec).unwrap();
        store.wait_durable_blocking(store.current_ticket()).unwrap();
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn upload_input(code: &str, filename: &str, content: Value) -> Value {
        json!({"fsUploadIn": {"in": content, "filename": filename, "fixmedins_code": code}})
    }

    fn input_3202(file_qury_no: &str, begin: &str, end: &str) -> Value {
        json!({"data": {
            "setl_optins": POOL,
            "file_qury_no": file_qury_no,
            "stmt_begndate": begin,
            "stmt_enddate": end,
            "medfee_sumamt": "355.00",
            "fund_pay_sumamt": "349.00",
            "cash_payamt": "0.00",
            "fixmedins_setl_cnt": 4,
            "clr_type": "21",
        }})
    }

    fn download_input(no: &str) -> Value {
        json!({"fsDownloadIn": {"file_qury_no": no, "filename": "x.zip", "fixmedins_code": A}})
    }

    /// The lines of `result.txt`, split on TAB.
    fn result_lines(zip_bytes: &[u8]) -> Vec<Vec<String>> {
        let mut ar = zip::ZipArchive::new(Cursor::new(zip_bytes)).unwrap();
        assert_eq!(ar.len(), 1);
        let mut f = ar.by_name(RESULT_ENTRY).unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        s.lines()
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect()
    }

    /// The institution's file for A, 2025-10-09..10: S1 agrees, S2's total differs, S3 is not
    /// listed, S4 and its refund agree, S9 is unknown to the center.
    const DETAIL: &str = "setl_id|mdtrt_id|psn_no|medfee_sumamt|fund_pay_sumamt|acct_pay|refd_setl_flag\r\n\
        S1|MS1|PS1|105.00|100.00|5.00|0\r\n\
        S2|MS2|PS2|201.00|200.00|0.00|0\r\n\
        S4|MS4|PS4|40.00|40.00|0.00|0\r\n\
        S4|MS4|PS4|-40.00|-40.00|0.00|1\r\n\
        \r\n\
        S9|MS9|PS9|9.00|9.00|0.00|0\r\n";

    fn center_claims() -> Vec<SettledClaim> {
        let d1 = date!(2025 - 10 - 09);
        let s4 = claim("S4", A, d1, 4_000, 0);
        let refund = s4.reversal("2305", "RS4", "X4", at(date!(2025 - 10 - 10), 11));
        vec![
            claim("S1", A, d1, 10_000, 500),
            claim("S2", A, d1, 20_000, 0),
            claim("S3", A, date!(2025 - 10 - 10), 30_000, 0),
            s4,
            refund,
            // another institution, and a date outside the range: not in A's result
            claim("SB1", B, d1, 7_000, 0),
            claim("S0", A, date!(2025 - 10 - 20), 1_000, 0),
        ]
    }

    #[test]
    fn round_trip_zip_upload_reconcile_download() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let engine = engine();
        journal(&store, &center_claims());

        let zipped = write_zip("detail.txt", DETAIL.as_bytes()).unwrap();
        let (out, writes) = upload_9101(
            A,
            &upload_input(A, "H64010000001_3202.zip", json!(b64(&zipped))),
            "F0001",
            now(),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"file_qury_no": "F0001", "filename": "H64010000001_3202.zip",
                   "dld_endtime": "2025-10-12 09:30:00"})
        );
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].space(), SPACE_UPLOAD);
        apply(&store, writes);

        let (out, writes) = reconcile_3202(
            &store,
            &engine,
            A,
            &input_3202("F0001", "2025-10-09", "2025-10-10"),
            "R0001",
            now(),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"fileinfo": {"file_qury_no": "R0001", "filename": "R0001.zip",
                                "dld_endtime": "2025-10-12 09:30:00"}})
        );
        assert_eq!(writes[0].space(), SPACE_RESULT);
        apply(&store, writes);

        let (name, bytes) = download_9102(&store, A, &download_input("R0001")).unwrap();
        assert_eq!(name, "R0001.zip");
        let lines = result_lines(&bytes);
        // (setl_id, refd_setl_flag, stmt_rslt) in order, and the memo's gist
        let summary: Vec<(String, String, String)> = lines
            .iter()
            .map(|l| (l[2].clone(), l[5].clone(), l[4].clone()))
            .collect();
        let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
        assert_eq!(
            summary,
            vec![
                s("S1", "0", "0"),
                s("S2", "0", "1"),
                s("S3", "0", "1"),
                s("S4", "0", "0"),
                s("S4", "1", "0"),
                s("S9", "0", "1"),
            ]
        );
        for l in &lines {
            assert_eq!(l.len(), 10, "{l:?}");
            assert_eq!(l[3], "", "msgid is not in the engine's index");
        }
        // S1 agrees: columns psn_no, mdtrt_id, setl_id, msgid, stmt_rslt, flag, memo, amounts
        assert_eq!(
            lines[0],
            [
                "PS1", "MS1", "S1", "", "0", "0", "", "105.00", "100.00", "5.00"
            ]
        );
        // S2: the center's amounts, the memo names the field and both values
        assert_eq!(lines[1][7], "200.00");
        assert!(
            lines[1][6].contains("medfee_sumamt: 200.00 vs 201.00"),
            "{}",
            lines[1][6]
        );
        assert!(lines[2][6].contains("missing in the institution's file"));
        assert_eq!(lines[2][7], "300.00");
        assert_eq!(
            lines[4][7], "-40.00",
            "the refund line carries negated amounts"
        );
        assert!(lines[5][6].contains("missing on the center's side"));
        assert_eq!(
            lines[5][7], "9.00",
            "the institution's amounts when we have none"
        );

        // the upload itself downloads as it was sent
        let (name, bytes) = download_9102(&store, A, &download_input("F0001")).unwrap();
        assert_eq!((name.as_str(), bytes), ("H64010000001_3202.zip", zipped));

        // refd_setl_flag = 1 restricts the result to refunds
        let mut input = input_3202("F0001", "2025-10-09", "2025-10-10");
        input["data"]["refd_setl_flag"] = json!("1");
        let (_, writes) = reconcile_3202(&store, &engine, A, &input, "R0002", now()).unwrap();
        apply(&store, writes);
        let (_, bytes) = download_9102(&store, A, &download_input("R0002")).unwrap();
        let lines = result_lines(&bytes);
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0][2].as_str(), lines[0][5].as_str()), ("S4", "1"));
    }

    /// A plain (not zipped) GBK text file with a Chinese header and `,` delimiter, sent as a
    /// Gson-style array of signed byte values.
    #[test]
    fn byte_array_upload_of_gbk_text() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let engine = engine();
        journal(&store, &center_claims());

        let text = "结算ID,就诊ID,人员编号,医疗费总额,基金支付总额,个人账户支出,退费标志\n\
                    S1,MS1,PS1,105.00,100.00,5.00,0\n";
        let (gbk, _, bad) = encoding_rs::GBK.encode(text);
        assert!(!bad);
        assert!(std::str::from_utf8(&gbk).is_err(), "really not UTF-8");
        let signed: Vec<Value> = gbk.iter().map(|&b| json!(b as i8)).collect();
        assert!(signed.iter().any(|n| n.as_i64().unwrap() < 0));
        let (out, writes) = upload_9101(
            A,
            &upload_input(A, "detail.csv", Value::Array(signed)),
            "F1",
            now(),
        )
        .unwrap();
        assert_eq!(out["filename"], "detail.csv");
        apply(&store, writes);
        let (name, bytes) = download_9102(&store, A, &download_input("F1")).unwrap();
        assert_eq!((name.as_str(), &bytes[..]), ("detail.csv", &gbk[..]));

        let (_, writes) = reconcile_3202(
            &store,
            &engine,
            A,
            &input_3202("F1", "2025-10-09", "2025-10-09"),
            "R1",
            now(),
        )
        .unwrap();
        apply(&store, writes);
        let (_, bytes) = download_9102(&store, A, &download_input("R1")).unwrap();
        let rows: Vec<(String, String)> = result_lines(&bytes)
            .into_iter()
            .map(|l| (l[2].clone(), l[4].clone()))
            .collect();
        // S1 agrees; S2 and S4 (settled 10-09) are missing from the file; the header is no row
        let e = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(rows, vec![e("S1", "0"), e("S2", "1"), e("S4", "1")]);
    }

    #[test]
    fn parses_tab_pipe_comma_and_header_orders() {
        let want = |s: &str, m: i64| Stmt3202Row {
            setl_id: s.into(),
            mdtrt_id: format!("M{s}"),
            psn_no: format!("P{s}"),
            medfee_sumamt: Money::from_fen(m),
            fund_pay_sumamt: Money::from_fen(m),
            acct_pay: Money::ZERO,
            refd_setl_flag: false,
        };
        let tab = "S1\tMS1\tPS1\t1.5\t1.50\t0\t0\nS2\tMS2\tPS2\t2\t2.00\t0.00\t0\n";
        assert_eq!(
            parse_detail(tab, "t").unwrap(),
            vec![want("S1", 150), want("S2", 200)]
        );
        let pipe = "S1|MS1|PS1|1.50|1.50|0.00|0|\n";
        assert_eq!(parse_detail(pipe, "p").unwrap(), vec![want("S1", 150)]);
        let comma = "\u{feff}\"S1\",\"MS1\",\"PS1\",1.50,1.50,0.00,0\n";
        assert_eq!(parse_detail(comma, "c").unwrap(), vec![want("S1", 150)]);
        // a header line reorders columns by name
        let reordered = "psn_no,setl_id,mdtrt_id,refd_setl_flag,acct_pay,fund_pay_sumamt,medfee_sumamt\n\
                         PS1,S1,MS1,0,0.00,1.50,1.50\n";
        assert_eq!(parse_detail(reordered, "h").unwrap(), vec![want("S1", 150)]);
        assert_eq!(parse_detail("\n\r\n", "e").unwrap(), vec![]);
    }

    fn err(r: Result<impl std::fmt::Debug, Violation>) -> (String, String, String) {
        let e = r.expect_err("must be refused");
        (e.rule.0.to_owned(), e.path, e.message)
    }

    #[test]
    fn refuses_malformed_rows_naming_the_line() {
        // line 3 (after the header and S1) has an amount with 3 decimals
        let text = "setl_id|mdtrt_id|psn_no|medfee_sumamt|fund_pay_sumamt|acct_pay|refd_setl_flag\n\
                    S1|MS1|PS1|1.00|1.00|0.00|0\n\
                    S2|MS2|PS2|12.345|1.00|0.00|0\n";
        let (rule, path, msg) = err(parse_detail(text, "detail.txt"));
        assert_eq!(
            (rule.as_str(), path.as_str()),
            ("FMT-MONEY", "detail.txt:3:medfee_sumamt")
        );
        assert!(msg.contains("12.345"), "{msg}");

        let cases = [
            ("S1|MS1|PS1|1.00|1.00|0\n", "FMT-REQUIRED", "d:1"),
            (
                "S1|MS1|PS1|1.00|1.00|0.00|2\n",
                "FMT-CODE",
                "d:1:refd_setl_flag",
            ),
            ("S1||PS1|1.00|1.00|0.00|0\n", "FMT-REQUIRED", "d:1:mdtrt_id"),
            (
                "S1|MS1|PS1|1e20|1.00|0.00|0\n",
                "FMT-MONEY",
                "d:1:medfee_sumamt",
            ),
            (
                "S1|MS1|PS1|1.00|1.00|0.00|0\nS1|MS1|PS1|2.00|2.00|0.00|0\n",
                "FMT-CODE",
                "d:2:setl_id",
            ),
            (
                "S1|MS1|PS1|1.00|1.00|0.00|0\nS1|MS1|PS1|1.00|1.00|0.00|0|x\n",
                "FMT-TYPE",
                "d:2",
            ),
        ];
        for (text, rule, path) in cases {
            let (r, p, _) = err(parse_detail(text, "d"));
            assert_eq!((r.as_str(), p.as_str()), (rule, path), "{text:?}");
        }
        let big: String = (0..=DETAIL_ROWS_MAX)
            .map(|i| format!("S{i}|M|P|1.00|1.00|0.00|0\n"))
            .collect();
        assert_eq!(err(parse_detail(&big, "d")).0, "GW-LIMIT");
    }

    /// The malformed row reaches the client through 3202 with the line in the path.
    #[test]
    fn reconcile_names_the_bad_line_and_checks_dates() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let engine = engine();
        let text = "S1\tMS1\tPS1\t1.00\t1.00\t0.00\t0\nS2\tMS2\tPS2\t12.345\t1.00\t0.00\t0\n";
        let zipped = write_zip("detail.txt", text.as_bytes()).unwrap();
        let (_, writes) = upload_9101(
            A,
            &upload_input(A, "d.zip", json!(b64(&zipped))),
            "F1",
            now(),
        )
        .unwrap();
        apply(&store, writes);
        let (rule, path, _) = err(reconcile_3202(
            &store,
            &engine,
            A,
            &input_3202("F1", "2025-10-09", "2025-10-10"),
            "R1",
            now(),
        ));
        assert_eq!(
            (rule.as_str(), path.as_str()),
            ("FMT-MONEY", "detail.txt:2:medfee_sumamt")
        );

        for (begin, end, path) in [
            ("2025-02-30", "2025-10-10", "input.data.stmt_begndate"),
            ("2025-10-09", "20251010", "input.data.stmt_enddate"),
            ("2025-10-10", "2025-10-09", "input.data.stmt_enddate"),
        ] {
            let (rule, p, _) = err(reconcile_3202(
                &store,
                &engine,
                A,
                &input_3202("F1", begin, end),
                "R1",
                now(),
            ));
            assert_eq!(
                (rule.as_str(), p.as_str()),
                ("FMT-DATE", path),
                "{begin}..{end}"
            );
        }
        // a range the engine refuses (> 366 days) names the engine's rule
        let good = json!(b64(b"S1|MS1|PS1|1.00|1.00|0.00|0\n"));
        let (_, writes) = upload_9101(A, &upload_input(A, "d.txt", good), "F2", now()).unwrap();
        apply(&store, writes);
        let (rule, _, _) = err(reconcile_3202(
            &store,
            &engine,
            A,
            &input_3202("F2", "2023-01-01", "2025-10-10"),
            "R1",
            now(),
        ));
        assert_eq!(rule, "IS-D-9");
    }

    #[test]
    fn unknown_and_foreign_files_are_the_same_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let engine = engine();
        let text = "S1|MS1|PS1|1.00|1.00|0.00|0\n";
        let (_, writes) = upload_9101(
            B,
            &upload_input(B, "b.txt", json!(b64(text.as_bytes()))),
            "FB",
            now(),
        )
        .unwrap();
        apply(&store, writes);
        // B itself can use it
        assert!(download_9102(&store, B, &json!({"fsDownloadIn": {"file_qury_no": "FB"}})).is_ok());

        let unknown = err(reconcile_3202(
            &store,
            &engine,
            A,
            &input_3202("NOPE", "2025-10-09", "2025-10-10"),
            "R1",
            now(),
        ));
        let foreign = err(reconcile_3202(
            &store,
            &engine,
            A,
            &input_3202("FB", "2025-10-09", "2025-10-10"),
            "R1",
            now(),
        ));
        assert_eq!(
            (unknown.0.as_str(), unknown.1.as_str()),
            ("FMT-CODE", "input.data.file_qury_no")
        );
        assert_eq!(
            (foreign.0.as_str(), foreign.1.as_str()),
            ("FMT-CODE", "input.data.file_qury_no")
        );
        assert_eq!(foreign.2.replace("FB", "NOPE"), unknown.2);

        let unknown = err(download_9102(&store, A, &download_input("NOPE")));
        let foreign = err(download_9102(&store, A, &download_input("FB")));
        assert_eq!(
            (foreign.0.as_str(), foreign.1.as_str()),
            ("FMT-CODE", "input.fsDownloadIn.file_qury_no")
        );
        assert_eq!(foreign.2.replace("FB", "NOPE"), unknown.2);
        // naming another institution in the node is an authentication error
        let (rule, path, _) = err(download_9102(
            &store,
            A,
            &json!({"fsDownloadIn": {"file_qury_no": "FB", "fixmedins_code": B}}),
        ));
        assert_eq!(
            (rule.as_str(), path.as_str()),
            ("GW-AUTH", "input.fsDownloadIn.fixmedins_code")
        );
    }

    /// Patch the declared uncompressed size (local header and central directory) of every
    /// entry: what a zip bomb does.
    fn lie_about_size(zip: &mut [u8], size: u32) {
        let mut patched = 0;
        for i in 0..zip.len().saturating_sub(4) {
            let at = match &zip[i..i + 4] {
                b"PK\x03\x04" => i + 22,
                b"PK\x01\x02" => i + 24,
                _ => continue,
            };
            zip[at..at + 4].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        }
        assert_eq!(patched, 2);
    }

    #[test]
    fn refuses_bad_uploads() {
        let up = |content: Value| upload_9101(A, &upload_input(A, "d.zip", content), "F1", now());
        let path_in = "input.fsUploadIn.in";

        // not base64
        let (rule, path, _) = err(up(json!("@@ not base64 @@")));
        assert_eq!((rule.as_str(), path.as_str()), ("FMT-ENCODING", path_in));
        // too big, as base64 and as a byte array
        let big = vec![b'a'; UPLOAD_BYTES_MAX + 1];
        assert_eq!(err(up(json!(b64(&big)))).0, "GW-LIMIT");
        assert_eq!(err(up(json!(big))).0, "GW-LIMIT");
        // exactly at the limit is fine (text)
        let mut at_limit = "S1|MS1|PS1|1.00|1.00|0.00|0\n".repeat(UPLOAD_BYTES_MAX / 28);
        at_limit.push_str(&" ".repeat(UPLOAD_BYTES_MAX - at_limit.len()));
        assert!(up(json!(b64(at_limit.as_bytes()))).is_ok());
        // a zip whose text honestly declares more than the limit
        let zipped = write_zip("d.txt", &vec![b'0'; UPLOAD_BYTES_MAX + 1]).unwrap();
        assert!(zipped.len() < 8 * 1024, "compresses well");
        let (rule, _, msg) = err(up(json!(b64(&zipped))));
        assert_eq!(rule, "GW-LIMIT");
        assert!(msg.contains("declares"), "{msg}");
        // a zip bomb: declares 100 bytes, inflates to 4 MiB
        let mut bomb = write_zip("d.txt", &vec![b'0'; 4 * 1024 * 1024]).unwrap();
        lie_about_size(&mut bomb, 100);
        let (rule, path, msg) = err(up(json!(b64(&bomb))));
        assert_eq!(
            (rule.as_str(), path.as_str()),
            ("GW-LIMIT", path_in),
            "{msg}"
        );
        assert!(msg.contains("more than the 100 bytes it declares"), "{msg}");
        // a zip that is not one (truncated), and one with two files
        let (rule, _, _) = err(up(json!(b64(&zipped[..zipped.len() / 2]))));
        assert_eq!(rule, "FMT-ENCODING");
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for n in ["a.txt", "b.txt"] {
            w.start_file(n, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(b"S1|MS1|PS1|1.00|1.00|0.00|0\n").unwrap();
        }
        let two = w.finish().unwrap().into_inner();
        assert_eq!(err(up(json!(b64(&two)))).0, "FMT-TYPE");
        // binary that is not text
        assert_eq!(err(up(json!(b64(&[0u8, 1, 2, 3])))).0, "FMT-ENCODING");
        // byte arrays: out of range, not a number; other types; missing
        let (rule, path, _) = err(up(json!([65, 256, 66])));
        assert_eq!(
            (rule.as_str(), path.as_str()),
            ("FMT-TYPE", "input.fsUploadIn.in[1]")
        );
        assert_eq!(err(up(json!([65, "x"]))).0, "FMT-TYPE");
        assert_eq!(err(up(json!({"x": 1}))).0, "FMT-TYPE");
        assert_eq!(err(up(json!(""))).0, "FMT-REQUIRED");
        assert_eq!(err(up(Value::Null)).0, "FMT-REQUIRED");
        // a byte array of the text is fine
        let ok = up(json!(b"S1|MS1|PS1|1.00|1.00|0.00|0\n".to_vec())).unwrap();
        assert_eq!(ok.0["file_qury_no"], "F1");

        // envelope problems
        let text = json!(b64(b"S1|MS1|PS1|1.00|1.00|0.00|0\n"));
        let (rule, path, _) = err(upload_9101(
            A,
            &upload_input(B, "d.txt", text.clone()),
            "F1",
            now(),
        ));
        assert_eq!(
            (rule.as_str(), path.as_str()),
            ("GW-AUTH", "input.fsUploadIn.fixmedins_code")
        );
        let (rule, path, _) = err(upload_9101(
            A,
            &json!({"fsUploadIn": {"in": text}}),
            "F1",
            now(),
        ));
        assert_eq!(
            (rule.as_str(), path.as_str()),
            ("FMT-REQUIRED", "input.fsUploadIn.filename")
        );
        let (rule, path, _) = err(upload_9101(A, &json!({"data": {}}), "F1", now()));
        assert_eq!(
            (rule.as_str(), path.as_str()),
            ("FMT-REQUIRED", "input.fsUploadIn")
        );
        assert_eq!(
            err(upload_9101(A, &json!("x"), "F1", now())).0,
            "NHSA-ENV-INPUT"
        );
    }

    #[test]
    fn stored_value_round_trips_and_rejects_garbage() {
        let meta = FileMeta {
            fixmedins_code: A.into(),
            filename: "f.zip".into(),
            kind: "upload".into(),
            created_at: "2025-10-11 09:30:00".into(),
            dld_endtime: "2025-10-12 09:30:00".into(),
            size: 3,
            source_qury_no: None,
        };
        let raw = encode_stored(&meta, b"abc");
        let (m, b) = decode_stored(&raw).unwrap();
        assert_eq!((m, b), (meta, &b"abc"[..]));
        assert!(decode_stored(&raw[..6]).is_none());
        assert!(decode_stored(b"").is_none());
        assert!(decode_stored(b"\x02\0\0\0\0").is_none());
    }
}
