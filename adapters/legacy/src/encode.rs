//! National outputs → the legacy answer, refusals in the dialect, the uncertain-trade list,
//! and the reverse reading of a legacy answer (for `translate` and the round-trip tests).

use serde_json::{Map, Value};

use crate::error::{
    LEG_AMOUNT, LEG_DATE, LEG_ENCODING, LEG_NATIONAL, LEG_RECODE, LEG_TX, LegacyError, Result,
};
use crate::profile::{AnswerFieldDef, Profile, TransactionDef, split_target};
use crate::text::{self, Encoding};
use crate::value::{self, DateFormat, format_stamp};
use crate::xml::{self, FlattenSpec};
use crate::{CallKind, LegacyAnswer, LegacyCall, Limits, Note, UncertainRow, ptr};

/// Escape text for element content and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

/// The case the profile writes names in.
fn cased(profile: &Profile, name: &str) -> String {
    if profile.def.envelope.case == "upper" {
        name.to_ascii_uppercase()
    } else {
        name.to_ascii_lowercase()
    }
}

/// The text of a national JSON value (`None` for null).
fn national_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        other => Some(other.to_string()),
    }
}

struct Sources<'a> {
    call: &'a LegacyCall,
    outputs: &'a [Value],
    row: Option<&'a Value>,
}

impl Sources<'_> {
    fn get(&self, src: &str) -> Option<String> {
        if let Some(v) = src.strip_prefix("value:") {
            return Some(v.to_owned());
        }
        if let Some(p) = src.strip_prefix("row:") {
            return self
                .row
                .and_then(|r| ptr::get(r, p))
                .and_then(national_text);
        }
        if let Some(rest) = src.strip_prefix("input:") {
            let (n, p) = split_target(rest)?;
            return ptr::get(&self.call.steps.get(n)?.input, p).and_then(national_text);
        }
        let (n, p) = split_target(src)?;
        ptr::get(self.outputs.get(n)?, p).and_then(national_text)
    }
}

/// One answer value, formatted for the dialect (`None`: absent, written empty).
fn answer_value(
    profile: &Profile,
    a: &AnswerFieldDef,
    src: &Sources<'_>,
    wire: &str,
) -> Result<Option<String>> {
    let sources = a.from.list();
    match a.kind.as_str() {
        "amount" => {
            let mut total: Option<i64> = None;
            for s in sources {
                if let Some(t) = src.get(s) {
                    let fen = value::parse_national_amount(&t).ok_or_else(|| {
                        LegacyError::new(
                            LEG_AMOUNT,
                            wire,
                            format!("the national value `{t}` ({s}) is not an exact amount"),
                        )
                    })?;
                    total = Some(total.unwrap_or(0) + fen);
                }
            }
            Ok(total.map(|f| value::format_fen(f, profile.def.answer.amount_decimals)))
        }
        "date" | "datetime" => {
            let Some(t) = sources.first().and_then(|s| src.get(s)) else {
                return Ok(None);
            };
            let stamp = value::parse_national_stamp(&t).ok_or_else(|| {
                LegacyError::new(
                    LEG_DATE,
                    wire,
                    format!("the national value `{t}` is not a date"),
                )
            })?;
            let f = if a.kind == "date" {
                profile.date
            } else {
                profile.datetime
            };
            Ok(Some(format_stamp(stamp, f)))
        }
        "code" => {
            let Some(t) = sources.first().and_then(|s| src.get(s)) else {
                return Ok(None);
            };
            let table = profile.table(&a.table).expect("checked");
            match (profile.recode_back(&a.table, &t), a.on_unknown.as_str()) {
                (Some(l), _) => Ok(Some(l.to_owned())),
                (None, "empty") => Ok(None),
                (None, "national") => Ok(Some(t)),
                (None, _) => Err(LegacyError::new(
                    LEG_RECODE,
                    wire,
                    format!(
                        "the national {} `{t}` has no code in table {}",
                        table.national_field, a.table
                    ),
                )),
            }
        }
        _ => Ok(sources.first().and_then(|s| src.get(s))),
    }
}

/// Encode the success answer of `call` from its steps' national outputs (`outputs[i]` is
/// step i's `output`, `Value::Null` when it had none).
pub fn encode_answer(
    profile: &Profile,
    call: &LegacyCall,
    outputs: &[Value],
) -> Result<LegacyAnswer> {
    let tx = profile.tx(&call.definition).ok_or_else(|| {
        LegacyError::new(
            LEG_TX,
            call.definition.clone(),
            format!(
                "profile {} has no transaction `{}`",
                profile.name(),
                call.definition
            ),
        )
    })?;
    let mut values: Vec<(String, String)> = Vec::new(); // (wire name, value) for the encoding check
    let mut body = String::new();
    if call.kind == CallKind::National {
        let src = Sources {
            call,
            outputs,
            row: None,
        };
        for a in &tx.answer {
            let name = scalar_name(profile, tx, &a.legacy);
            let v = answer_value(profile, a, &src, &name)?.unwrap_or_default();
            body.push_str(&format!("<{name}>{}</{name}>", esc(&v)));
            values.push((name, v));
        }
    }
    let mut row_count = 0usize;
    if let Some(rows) = tx
        .answer_rows
        .as_ref()
        .filter(|_| call.kind == CallKind::National)
    {
        let list = split_target(&rows.from)
            .and_then(|(n, p)| ptr::get(outputs.get(n)?, p))
            .map(|v| match v {
                Value::Array(a) => a.iter().collect::<Vec<_>>(),
                one => vec![one],
            })
            .unwrap_or_default();
        let row_tag = cased(profile, &profile.def.answer.row);
        let mut inner = String::new();
        for item in &list {
            let src = Sources {
                call,
                outputs,
                row: Some(item),
            };
            let mut fields = Vec::new();
            for a in &rows.fields {
                let name = cased(profile, &a.legacy);
                let v = answer_value(profile, a, &src, &name)?.unwrap_or_default();
                fields.push((name, v));
            }
            inner.push_str(&render_row(profile, &row_tag, &fields));
            values.extend(fields);
        }
        row_count = list.len();
        body.push_str(&rows.container.replace("{rows}", &inner));
    }
    let reference = if tx.ref_from.is_empty() {
        String::new()
    } else {
        Sources {
            call,
            outputs,
            row: None,
        }
        .get(&tx.ref_from)
        .unwrap_or_default()
    };
    let ans = &profile.def.answer;
    let doc = ans
        .template
        .replace("{code}", &esc(&ans.ok_code))
        .replace("{message}", "")
        .replace("{ref}", &esc(&reference))
        .replace("{row_count}", &row_count.to_string())
        .replace("{body}", &body);
    let encoding = answer_encoding(profile, call.encoding, &values)?;
    let full = with_declaration(profile, encoding, &doc);
    Ok(LegacyAnswer {
        body: text::encode(&full, encoding),
        appcode: 1,
        appmsg: String::new(),
        encoding,
    })
}

fn scalar_name(profile: &Profile, tx: &TransactionDef, legacy: &str) -> String {
    let name = cased(profile, legacy);
    if tx.prefixed {
        format!("{}{name}", profile.def.envelope.prefix)
    } else {
        name
    }
}

fn render_row(profile: &Profile, tag: &str, fields: &[(String, String)]) -> String {
    if profile.def.envelope.values == "attributes" {
        let attrs: String = fields
            .iter()
            .map(|(k, v)| format!(" {k}=\"{}\"", esc(v)))
            .collect();
        format!("<{tag}{attrs}/>")
    } else {
        let inner: String = fields
            .iter()
            .map(|(k, v)| format!("<{k}>{}</{k}>", esc(v)))
            .collect();
        format!("<{tag}>{inner}</{tag}>")
    }
}

/// The request's encoding, or GB18030 when a value needs it and the profile allows it.
fn answer_encoding(
    profile: &Profile,
    requested: Encoding,
    values: &[(String, String)],
) -> Result<Encoding> {
    for (name, v) in values {
        if text::encodable(v, requested) {
            continue;
        }
        if profile.allows_gb18030_answers() {
            return Ok(Encoding::Gb18030);
        }
        return Err(LegacyError::new(
            LEG_ENCODING,
            name.clone(),
            format!(
                "`{v}` cannot be written in {} and profile {} does not allow GB18030 answers",
                requested.label(),
                profile.name()
            ),
        ));
    }
    Ok(requested)
}

fn with_declaration(profile: &Profile, encoding: Encoding, doc: &str) -> String {
    let d = &profile.def.answer.declaration;
    if d.is_empty() {
        doc.to_owned()
    } else {
        format!("{}{doc}", d.replace("{encoding}", encoding.label()))
    }
}

/// A refusal in the caller's dialect and encoding: the status where the dialect keeps it,
/// the message naming the legacy field and the rule (`[LEG-RECODE] aka130: …`).
pub fn encode_error(
    profile: &Profile,
    transaction: &str,
    encoding: Encoding,
    error: &LegacyError,
) -> LegacyAnswer {
    let message = error.to_string();
    let ans = &profile.def.answer;
    let tx = profile.tx(transaction);
    let body = tx
        .map(|t| t.error_body.replace("{message}", &esc(&message)))
        .unwrap_or_default();
    let template = if ans.error_template.is_empty() {
        &ans.template
    } else {
        &ans.error_template
    };
    let doc = template
        .replace("{code}", &esc(&ans.error_code))
        .replace("{message}", &esc(&message))
        .replace("{ref}", "")
        .replace("{row_count}", "0")
        .replace("{body}", &body);
    let encoding = if text::encodable(&message, encoding) || !profile.allows_gb18030_answers() {
        encoding
    } else {
        Encoding::Gb18030
    };
    let full = with_declaration(profile, encoding, &doc);
    LegacyAnswer {
        body: text::encode_lossy(&full, encoding),
        appcode: -1,
        appmsg: message,
        encoding,
    }
}

/// The answer to `getuncertaintytrade`: one row per undecided call.
pub fn encode_uncertain(
    profile: &Profile,
    encoding: Encoding,
    rows: &[UncertainRow],
) -> LegacyAnswer {
    let tag = cased(
        profile,
        if profile.def.answer.row.is_empty() {
            "row"
        } else {
            &profile.def.answer.row
        },
    );
    let mut body = String::new();
    for r in rows {
        let fields = [
            (cased(profile, "jylsh"), r.jylsh.clone()),
            (cased(profile, "jybh"), r.jybh.clone()),
            (cased(profile, "akc190"), r.akc190.clone()),
            (cased(profile, "aae036"), r.time.clone()),
        ];
        body.push_str(&render_row(profile, &tag, &fields));
    }
    let ans = &profile.def.answer;
    let doc = ans
        .template
        .replace("{code}", &esc(&ans.ok_code))
        .replace("{message}", "")
        .replace("{ref}", "")
        .replace("{row_count}", &rows.len().to_string())
        .replace("{body}", &body);
    let all: String = rows
        .iter()
        .map(|r| format!("{}{}", r.jylsh, r.akc190))
        .collect();
    let encoding = if text::encodable(&all, encoding) || !profile.allows_gb18030_answers() {
        encoding
    } else {
        Encoding::Gb18030
    };
    let full = with_declaration(profile, encoding, &doc);
    LegacyAnswer {
        body: text::encode_lossy(&full, encoding),
        appcode: 1,
        appmsg: String::new(),
        encoding,
    }
}

/// Normalise a national path (`input.feedetail[3].pric`, `/feedetail/3/pric`,
/// `data.medfee_sumamt`) to a JSON pointer without the `input` node.
fn pointer_of(national_path: &str) -> String {
    let mut s = national_path.trim().to_owned();
    if !s.starts_with('/') {
        s = s.replace('[', ".").replace(']', "");
        s = format!("/{}", s.replace('.', "/"));
    }
    let s = s.strip_prefix("/input").map(str::to_owned).unwrap_or(s);
    s.split('/')
        .map(|t| if t.parse::<usize>().is_ok() { "*" } else { t })
        .collect::<Vec<_>>()
        .join("/")
}

/// The legacy field (as the HIS writes it) that maps to a national input path of any of the
/// transaction's steps, if one does.
pub fn legacy_field(profile: &Profile, transaction: &str, national_path: &str) -> Option<String> {
    let tx = profile.tx(transaction)?;
    let want = pointer_of(national_path);
    let norm = |t: &str| split_target(t).map(|(_, p)| pointer_of(p));
    for f in &tx.fields {
        if f.to
            .list()
            .iter()
            .any(|t| norm(t).as_deref() == Some(want.as_str()))
        {
            let name = cased(profile, &f.legacy);
            if let Some(a) = f.legacy.strip_prefix("arg:") {
                return Some(a.to_owned());
            }
            return Some(if tx.prefixed && !f.legacy.contains('/') {
                format!("{}{name}", profile.def.envelope.prefix)
            } else {
                name
            });
        }
    }
    tx.row_fields
        .iter()
        .find(|f| {
            f.to.list()
                .iter()
                .any(|t| norm(t).as_deref() == Some(want.as_str()))
        })
        .map(|f| cased(profile, &f.legacy))
}

/// A national failure (`infcode` < 0 with its `err_msg`) as a refusal to answer with
/// [`encode_error`], naming the legacy field that maps to `national_path` when known.
pub fn national_failure(
    profile: &Profile,
    transaction: &str,
    national_path: Option<&str>,
    err_msg: &str,
) -> LegacyError {
    let field = national_path
        .and_then(|p| legacy_field(profile, transaction, p).or_else(|| Some(p.to_owned())))
        .unwrap_or_else(|| transaction.to_owned());
    LegacyError::new(LEG_NATIONAL, field, err_msg)
}

/// A legacy answer read back into national outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAnswer {
    /// Per step: the national output fields the answer carries.
    pub outputs: Vec<Value>,
    /// The in-document status (`RETURNNUM`, `result`), when the dialect has one.
    pub status: Option<String>,
    pub message: Option<String>,
    /// National values computed (Guizhou's cash part, reference §2 "Derived cash").
    pub derived: Vec<Note>,
}

/// Read a legacy answer of `call`'s transaction back into national output values: the
/// inverse of [`encode_answer`] for the fields it maps, plus the profile's derived values.
pub fn decode_answer(
    profile: &Profile,
    call: &LegacyCall,
    body: &[u8],
    limits: &Limits,
) -> Result<DecodedAnswer> {
    let tx = profile
        .tx(&call.definition)
        .ok_or_else(|| LegacyError::new(LEG_TX, call.definition.clone(), "unknown transaction"))?;
    xml::refuse_doctype(body)?;
    let all = [
        Encoding::Utf8,
        Encoding::Gbk,
        Encoding::Gb18030,
        Encoding::Gb2312,
    ];
    let decoded = text::decode_body(body, call.encoding, &all, false)?;
    let root = xml::parse(&decoded.text, limits)?;
    let row_tag = vec![profile.def.answer.row.to_ascii_lowercase()];
    let flat = xml::flatten(
        &root,
        &FlattenSpec {
            prefix: &profile.def.envelope.prefix,
            row_tags: &row_tag,
            ignore: &[],
            rows_max: limits.rows_max,
        },
    )?;
    let find = |name: &str| -> Option<String> {
        let name = name.to_ascii_lowercase();
        flat.scalars
            .iter()
            .find(|(k, _)| **k == name || k.ends_with(&format!("/{name}")))
            .map(|(_, f)| f.value.clone())
    };
    let mut outputs = vec![Value::Null; tx.steps.len()];
    for a in &tx.answer {
        if let Some(v) = find(&a.legacy).filter(|v| !v.is_empty()) {
            set_back(profile, a, &v, &mut outputs, None)?;
        }
    }
    if let Some(rows) = &tx.answer_rows
        && let Some((n, p)) = split_target(&rows.from)
        && n < outputs.len()
    {
        let mut list = Vec::new();
        for row in &flat.rows {
            let mut item = Value::Object(Map::new());
            for a in &rows.fields {
                if let Some(f) = row.fields.get(&a.legacy.to_ascii_lowercase())
                    && !f.value.is_empty()
                {
                    set_back(profile, a, &f.value, &mut outputs, Some(&mut item))?;
                }
            }
            list.push(item);
        }
        ptr::set(&mut outputs[n], p, Value::Array(list), true);
    }
    let mut derived = Vec::new();
    for d in &tx.answer_derived {
        let Some((n, p)) = split_target(&d.to) else {
            continue;
        };
        if n >= outputs.len() || ptr::get(&outputs[n], p).is_some() {
            continue;
        }
        let amount = |name: &str| find(name).and_then(|v| value::parse_national_amount(&v));
        let Some(first) = d.add.first().and_then(|a| amount(a)) else {
            continue;
        };
        let mut total = first;
        let mut used = vec![d.add[0].clone()];
        for a in d.add.iter().skip(1) {
            if let Some(v) = amount(a) {
                total += v;
                used.push(format!("+{a}"));
            }
        }
        for s in &d.subtract {
            if let Some(v) = amount(s) {
                total -= v;
                used.push(format!("−{s}"));
            }
        }
        let text = value::format_fen(total, 2);
        ptr::set(&mut outputs[n], p, Value::String(text.clone()), false);
        derived.push(Note {
            field: format!("{}{p}", tx.steps[n]),
            what: format!("{text} = {}: {}", used.join(" "), d.reason),
        });
    }
    let ans = &profile.def.answer;
    Ok(DecodedAnswer {
        outputs,
        status: (!ans.status_field.is_empty())
            .then(|| find(&ans.status_field))
            .flatten(),
        message: (!ans.message_field.is_empty())
            .then(|| find(&ans.message_field))
            .flatten(),
        derived,
    })
}

/// Write one answer value back to its national place.
fn set_back(
    profile: &Profile,
    a: &AnswerFieldDef,
    v: &str,
    outputs: &mut [Value],
    row: Option<&mut Value>,
) -> Result<()> {
    let sources = a.from.list();
    let [src] = sources.as_slice() else {
        return Ok(()); // sums and constants do not map back
    };
    let national = match a.kind.as_str() {
        "amount" => {
            let fen = value::parse_national_amount(v).ok_or_else(|| {
                LegacyError::new(
                    LEG_AMOUNT,
                    a.legacy.clone(),
                    format!("`{v}` is not an amount"),
                )
            })?;
            value::format_fen(fen, 2)
        }
        "date" | "datetime" => {
            let want_time = a.kind == "datetime";
            let (t, _) =
                value::parse_legacy_stamp(v, want_time, profile.date, profile.datetime, &a.legacy)?;
            format_stamp(
                t,
                if want_time {
                    DateFormat::DashedTime
                } else {
                    DateFormat::Dashed
                },
            )
        }
        "code" => {
            let table = profile.table(&a.table).expect("checked");
            match table
                .entries
                .iter()
                .find(|e| !e.reverse_only && e.refuse.is_empty() && e.legacy == v)
            {
                Some(e) => e.national.clone(),
                None => v.to_owned(),
            }
        }
        _ => v.to_owned(),
    };
    if let Some(p) = src.strip_prefix("row:") {
        if let Some(item) = row {
            ptr::set(item, p, Value::String(national), true);
        }
        return Ok(());
    }
    if let Some((n, p)) = split_target(src)
        && n < outputs.len()
    {
        ptr::set(&mut outputs[n], p, Value::String(national), true);
    }
    Ok(())
}
