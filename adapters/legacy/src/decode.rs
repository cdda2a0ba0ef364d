//! Legacy request bytes → [`LegacyCall`].

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{LEG_ENVELOPE, LEG_FIELD, LEG_LIMIT, LEG_TX, LegacyError, Result};
use crate::profile::{FieldDef, Profile, TransactionDef, split_target};
use crate::value::{self, format_stamp};
use crate::xml::{self, Field, Flat, FlattenSpec, Row};
use crate::{CallKind, Carry, LegacyCall, Limits, Note, Step, ptr, text};

/// Decode a legacy request: `transaction` is the number from the URL path, `args` the values
/// the DLL took as arguments (Yunnan `TransCode`, `SenderSerialNo`, `InsuredAreaNo`, …; names
/// case-insensitive), `body` the XML bytes as received.
pub fn decode_call(
    profile: &Profile,
    transaction: &str,
    args: &[(String, String)],
    body: &[u8],
    limits: &Limits,
) -> Result<LegacyCall> {
    if body.len() > limits.body_bytes_max {
        return Err(LegacyError::new(
            LEG_LIMIT,
            "body_bytes_max",
            format!(
                "the body has {} bytes, more than {} (body_bytes_max)",
                body.len(),
                limits.body_bytes_max
            ),
        ));
    }
    if !profile.serves(transaction) {
        return Err(LegacyError::new(
            LEG_TX,
            transaction,
            format!(
                "transaction `{transaction}` is not served by profile {} (served: {})",
                profile.name(),
                profile.transactions().join(", ")
            ),
        ));
    }
    xml::refuse_doctype(body)?;
    let env = &profile.def.envelope;
    let decoded = text::decode_body(
        body,
        profile.default_encoding,
        &profile.allowed,
        profile.def.encoding.declaration_expected,
    )?;
    let mut repairs: Vec<Note> = decoded.repairs.iter().map(|(f, w)| note(f, w)).collect();
    if decoded.text.contains("\r\n") {
        repairs.push(note("crlf", "CRLF line ends read as LF"));
    }
    let root = xml::parse(&decoded.text, limits)?;
    if root.name != env.request_root {
        return Err(LegacyError::new(
            LEG_ENVELOPE,
            root.name.clone(),
            format!(
                "the root element must be <{}>, not <{}>",
                env.request_root, root.name
            ),
        ));
    }
    let mut body_el = &root;
    for seg in env.body.split('/').filter(|s| !s.is_empty()) {
        body_el = body_el.child(&seg.to_ascii_lowercase()).ok_or_else(|| {
            LegacyError::new(
                LEG_ENVELOPE,
                seg,
                format!("<{seg}> is missing under <{}>", body_el.name),
            )
        })?;
    }
    let row_tags: Vec<String> = env.rows.iter().map(|r| r.to_ascii_lowercase()).collect();
    let ignore: Vec<String> = env.ignore.iter().map(|r| r.to_ascii_lowercase()).collect();
    let flat = xml::flatten(
        body_el,
        &FlattenSpec {
            prefix: &env.prefix,
            row_tags: &row_tags,
            ignore: &ignore,
            rows_max: limits.rows_max,
        },
    )?;
    for req in &env.required {
        if !flat.containers.iter().any(|c| c == req) {
            return Err(LegacyError::new(
                LEG_ENVELOPE,
                req.clone(),
                format!("the envelope part <{req}> is missing"),
            ));
        }
    }
    check_transaction(profile, transaction, args, &flat)?;
    let (definition, tx) = route(profile, transaction, &flat);
    flat_repairs(profile, tx, &flat, &mut repairs);

    let mut call = LegacyCall {
        profile: profile.name().to_owned(),
        transaction: transaction.to_owned(),
        definition: definition.to_owned(),
        encoding: decoded.encoding,
        kind: CallKind::National,
        two_phase: tx.two_phase,
        sender_serial: None,
        reverses: None,
        fixmedins_code: None,
        insuplc_admdvs: None,
        mdtrtarea_admvs: None,
        psn_no: None,
        opter: None,
        opter_name: None,
        steps: Vec::new(),
        repairs,
        derived: Vec::new(),
    };
    let mut b = Builder {
        profile,
        tx,
        flat: &flat,
        args,
        rows: flat
            .rows
            .iter()
            .filter(|r| !tx.rows.is_empty() && r.tag == tx.rows.to_ascii_lowercase())
            .collect(),
        inputs: vec![Value::Object(Map::new()); tx.steps.len()],
        repairs: Vec::new(),
        derived: Vec::new(),
        also: Vec::new(),
    };
    b.header(&mut call)?;
    call.kind = match tx.kind.as_str() {
        "confirm" => CallKind::Confirm {
            jylsh: b.required_text("jylsh")?,
            jyyzm: b.required_text("jyyzm")?,
        },
        "cancel" => CallKind::Cancel {
            jylsh: b.required_text("jylsh")?,
        },
        "uncertain" => CallKind::Uncertain {
            jybh: b.required_text("jybh")?,
        },
        _ => {
            b.build()?;
            CallKind::National
        }
    };
    call.steps = b.steps();
    call.repairs.extend(b.repairs);
    call.derived = b.derived;
    Ok(call)
}

fn note(field: &str, what: impl Into<String>) -> Note {
    Note {
        field: field.to_owned(),
        what: what.into(),
    }
}

/// The message's own transaction number (field or argument) must be the path's.
fn check_transaction(
    profile: &Profile,
    transaction: &str,
    args: &[(String, String)],
    flat: &Flat,
) -> Result<()> {
    let env = &profile.def.envelope;
    if !env.transaction_field.is_empty() {
        let key = env.transaction_field.to_ascii_lowercase();
        match flat.scalars.get(&key) {
            Some(f) if f.value == transaction => {}
            Some(f) => {
                return Err(LegacyError::new(
                    LEG_TX,
                    f.wire.clone(),
                    format!(
                        "{} = `{}` but the call is for `{transaction}`",
                        f.wire, f.value
                    ),
                ));
            }
            None => {
                return Err(LegacyError::new(
                    LEG_ENVELOPE,
                    env.transaction_field.clone(),
                    format!(
                        "the header field {} (transaction) is missing",
                        env.transaction_field
                    ),
                ));
            }
        }
    }
    if !env.transaction_arg.is_empty()
        && let Some(v) = arg(args, &env.transaction_arg)
        && v != transaction
    {
        return Err(LegacyError::new(
            LEG_TX,
            env.transaction_arg.clone(),
            format!(
                "{} = `{v}` but the call is for `{transaction}`",
                env.transaction_arg
            ),
        ));
    }
    Ok(())
}

/// The profile entry to use: a route may choose another one by a field's value.
fn route<'p>(
    profile: &'p Profile,
    transaction: &str,
    flat: &Flat,
) -> (&'p str, &'p TransactionDef) {
    let (key, tx) = profile
        .def
        .transactions
        .get_key_value(transaction)
        .expect("served (checked)");
    for r in &tx.routes {
        let v = flat
            .scalars
            .get(&r.field.to_ascii_lowercase())
            .map(|f| f.value.as_str());
        if let Some(v) = v
            && r.values.iter().any(|x| x == v)
            && let Some((k, t)) = profile.def.transactions.get_key_value(&r.use_)
        {
            return (k.as_str(), t);
        }
    }
    (key.as_str(), tx)
}

/// Repairs visible in the flattened message.
fn flat_repairs(profile: &Profile, tx: &TransactionDef, flat: &Flat, out: &mut Vec<Note>) {
    if flat.stray_whitespace {
        out.push(note("xml", "whitespace between elements ignored"));
    }
    for (name, value) in &flat.ignored {
        out.push(note(
            name,
            format!("<{name}>{value}</{name}> ignored (dialect trailer)"),
        ));
    }
    let prefix = &profile.def.envelope.prefix;
    for (key, f) in &flat.scalars {
        if f.trimmed {
            out.push(note(&f.wire, "whitespace around the value removed"));
        }
        if !prefix.is_empty() && !key.contains('/') && f.prefixed != tx.prefixed {
            let what = if tx.prefixed {
                format!("{prefix} prefix missing: read as {prefix}{key}")
            } else {
                format!("{prefix} prefix not expected in this transaction: read as {key}")
            };
            out.push(note(&f.wire, what));
        }
    }
    for (i, row) in flat.rows.iter().enumerate() {
        for f in row.fields.values().filter(|f| f.trimmed) {
            out.push(note(
                &f.wire,
                format!("row {}: whitespace around the value removed", i + 1),
            ));
        }
    }
}

fn arg<'a>(args: &'a [(String, String)], name: &str) -> Option<&'a str> {
    args.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// A converted value and the sibling fields its table entry sets.
struct Converted {
    value: Value,
    also: BTreeMap<String, String>,
}

struct Builder<'a> {
    profile: &'a Profile,
    tx: &'a TransactionDef,
    flat: &'a Flat,
    args: &'a [(String, String)],
    rows: Vec<&'a Row>,
    inputs: Vec<Value>,
    repairs: Vec<Note>,
    derived: Vec<Note>,
    /// `(step, pointer of the coded field, sibling values)` applied after all fields.
    also: Vec<(usize, String, BTreeMap<String, String>)>,
    // carries and lookups per step
}

impl<'a> Builder<'a> {
    /// The wire name of a field key, for messages: as the sender wrote it when present.
    fn wire(&self, key: &str, row: Option<&Row>) -> String {
        if let Some(name) = key.strip_prefix("arg:") {
            return name.to_owned();
        }
        let found = match row {
            Some(r) => r.fields.get(key),
            None => self.flat.scalars.get(key),
        };
        if let Some(f) = found {
            return f.wire.clone();
        }
        let env = &self.profile.def.envelope;
        let cased = if env.case == "upper" {
            key.to_ascii_uppercase()
        } else {
            key.to_owned()
        };
        if row.is_none() && self.tx.prefixed && !key.contains('/') {
            format!("{}{cased}", env.prefix)
        } else {
            cased
        }
    }

    /// A field's value: `None` when absent or empty.
    fn raw(&self, key: &str, row: Option<&'a Row>) -> Option<(&'a str, Option<&'a Field>)> {
        if let Some(name) = key.strip_prefix("arg:") {
            return arg(self.args, name)
                .filter(|v| !v.is_empty())
                .map(|v| (v, None));
        }
        let key = key.to_ascii_lowercase();
        let f: &'a Field = match row {
            Some(r) => r.fields.get(&key)?,
            None => self.flat.scalars.get(&key)?,
        };
        Some((f.value.as_str(), Some(f)))
    }

    /// Whether a field is present with a non-empty value.
    fn present(&self, key: &str) -> bool {
        self.raw(key, None).is_some_and(|(v, _)| !v.is_empty())
    }

    fn required_text(&self, key: &str) -> Result<String> {
        match self.raw(key, None) {
            Some((v, _)) if !v.is_empty() => Ok(v.to_owned()),
            _ => Err(LegacyError::new(
                LEG_FIELD,
                self.wire(key, None),
                format!("{} is required", self.wire(key, None)),
            )),
        }
    }

    /// The call's own values (sender serial, institution, routing, operator).
    fn header(&self, call: &mut LegacyCall) -> Result<()> {
        let mut map = self.profile.def.call.clone();
        map.extend(self.tx.call.clone());
        for (name, source) in &map {
            let v = self
                .raw(source, None)
                .map(|(v, _)| v.to_owned())
                .filter(|v| !v.is_empty());
            if let Some(v) = &v
                && matches!(name.as_str(), "insuplc_admdvs" | "mdtrtarea_admvs")
                && !(v.len() == 6 && v.bytes().all(|b| b.is_ascii_digit()))
            {
                let w = self.wire(source, None);
                return Err(LegacyError::new(
                    LEG_FIELD,
                    w.clone(),
                    format!("{w} = `{v}` is not a 6-digit region code (admdvs)"),
                ));
            }
            let slot = match name.as_str() {
                "sender_serial" => &mut call.sender_serial,
                "reverses" => &mut call.reverses,
                "fixmedins_code" => &mut call.fixmedins_code,
                "insuplc_admdvs" => &mut call.insuplc_admdvs,
                "mdtrtarea_admvs" => &mut call.mdtrtarea_admvs,
                "psn_no" => &mut call.psn_no,
                "opter" => &mut call.opter,
                "opter_name" => &mut call.opter_name,
                _ => continue,
            };
            *slot = v;
        }
        Ok(())
    }

    fn build(&mut self) -> Result<()> {
        for group in &self.tx.require_one_of {
            if !group.iter().any(|k| self.present(k)) {
                let names: Vec<String> = group.iter().map(|k| self.wire(k, None)).collect();
                return Err(LegacyError::new(
                    LEG_FIELD,
                    names.join("|"),
                    format!("one of {} is required", names.join(", ")),
                ));
            }
        }
        if self.tx.rows_required && self.rows.is_empty() {
            let tag = if self.profile.def.envelope.case == "upper" {
                self.tx.rows.to_ascii_uppercase()
            } else {
                self.tx.rows.clone()
            };
            return Err(LegacyError::new(
                LEG_FIELD,
                tag.clone(),
                format!("at least one <{tag}> line is required"),
            ));
        }
        let tx = self.tx;
        for f in &tx.fields {
            self.apply_field(f, None)?;
        }
        let rows = self.rows.clone();
        for (i, row) in rows.iter().enumerate() {
            for f in &tx.row_fields {
                self.apply_field(f, Some((i, row)))?;
            }
        }
        for (step, at, also) in std::mem::take(&mut self.also) {
            let (parent, _) = ptr::parent(&at);
            for (k, v) in also {
                ptr::set(
                    &mut self.inputs[step],
                    &format!("{parent}/{k}"),
                    Value::String(v),
                    true,
                );
            }
        }
        self.defaults();
        Ok(())
    }

    /// Targets of `to`, with `*` replaced by `row` or by every row index.
    fn expand(&self, to: &str, row: Option<usize>) -> Vec<(usize, String)> {
        let Some((step, p)) = split_target(to) else {
            return Vec::new();
        };
        if !p.contains('*') {
            return vec![(step, p.to_owned())];
        }
        match row {
            Some(i) => vec![(step, p.replace('*', &i.to_string()))],
            None => (0..self.rows.len())
                .map(|i| (step, p.replace('*', &i.to_string())))
                .collect(),
        }
    }

    fn apply_field(&mut self, f: &FieldDef, row: Option<(usize, &'a Row)>) -> Result<()> {
        let row_ref = row.map(|(_, r)| r);
        let wire = match f.legacy.strip_prefix("arg:") {
            Some(name) => name.to_owned(),
            None => self.wire(&f.legacy.to_ascii_lowercase(), row_ref),
        };
        let at_row = row
            .map(|(i, _)| format!("row {}: ", i + 1))
            .unwrap_or_default();
        let raw = self.raw(&f.legacy, row_ref);
        let (value, field) = match raw {
            Some((v, fld)) if !v.is_empty() => (v, fld),
            other => {
                if f.required {
                    return Err(LegacyError::new(
                        LEG_FIELD,
                        wire.clone(),
                        format!("{at_row}{wire} is required"),
                    ));
                }
                if let Some((_, Some(_))) = other {
                    self.repairs
                        .push(note(&wire, format!("{at_row}empty element read as absent")));
                }
                return Ok(());
            }
        };
        let _ = field;
        if f.max_chars > 0 && value.chars().count() > f.max_chars {
            return Err(LegacyError::new(
                LEG_FIELD,
                wire.clone(),
                format!("{at_row}{wire} has more than {} characters", f.max_chars),
            ));
        }
        let conv = self.convert(value, f, &wire, &at_row)?;
        for t in f.to.list() {
            for (step, p) in self.expand(t, row.map(|(i, _)| i)) {
                if ptr::set(&mut self.inputs[step], &p, conv.value.clone(), false)
                    && !conv.also.is_empty()
                {
                    self.also.push((step, p.clone(), conv.also.clone()));
                }
            }
        }
        Ok(())
    }

    fn convert(&mut self, v: &str, f: &FieldDef, wire: &str, at_row: &str) -> Result<Converted> {
        let with_row = |mut e: LegacyError| {
            if !at_row.is_empty() {
                e.message = format!("{at_row}{}", e.message);
            }
            e
        };
        let plain = |s: String| Converted {
            value: Value::String(s),
            also: BTreeMap::new(),
        };
        Ok(match f.kind.as_str() {
            "amount" => {
                let a = value::parse_legacy_amount(v, wire).map_err(with_row)?;
                if a.wide {
                    self.repairs.push(note(
                        wire,
                        format!(
                            "{at_row}4-decimal amount `{v}` read as {}",
                            value::format_fen(a.fen, 2)
                        ),
                    ));
                }
                plain(value::format_fen(a.fen, 2))
            }
            "quantity" => plain(value::parse_scaled_decimal(v, 4, wire).map_err(with_row)?),
            "price" => plain(value::parse_scaled_decimal(v, 6, wire).map_err(with_row)?),
            "count" => plain(value::parse_count(v, wire).map_err(with_row)?),
            "date" | "datetime" => {
                let want_time = f.kind == "datetime";
                let (t, widened) = value::parse_legacy_stamp(
                    v,
                    want_time,
                    self.profile.date,
                    self.profile.datetime,
                    wire,
                )
                .map_err(with_row)?;
                let national = if want_time {
                    value::DateFormat::DashedTime
                } else {
                    value::DateFormat::Dashed
                };
                let out = format_stamp(t, national);
                if widened {
                    self.repairs
                        .push(note(wire, format!("{at_row}`{v}` read as {out}")));
                }
                plain(out)
            }
            "code" => self.recode(v, &f.table, wire).map_err(with_row)?,
            _ => plain(v.to_owned()),
        })
    }

    fn recode(&self, v: &str, table: &str, wire: &str) -> Result<Converted> {
        let entry = self.profile.recode(table, v, wire)?;
        Ok(Converted {
            value: Value::String(entry.national.clone()),
            also: entry.also.clone(),
        })
    }

    /// Fill national fields the dialect lacks, each recorded as derived.
    fn defaults(&mut self) {
        let tx = self.tx;
        for d in &tx.defaults {
            if !d.when.is_empty() && !self.present(&d.when) {
                continue;
            }
            let mut applied = false;
            let targets = self.expand(&d.to, None);
            for (i, (step, p)) in targets.iter().enumerate() {
                if ptr::get(&self.inputs[*step], p).is_some() {
                    continue;
                }
                let row_index = if d.to.contains('*') { Some(i) } else { None };
                let v = match (&d.value, &d.copy) {
                    (Some(v), _) => {
                        Some(v.replace("{row}", &row_index.map_or(1, |i| i + 1).to_string()))
                    }
                    (None, Some(c)) => self
                        .expand(c, row_index)
                        .first()
                        .and_then(|(s, cp)| ptr::get(&self.inputs[*s], cp))
                        .and_then(|v| v.as_str().map(str::to_owned)),
                    _ => None,
                };
                if let Some(v) = v {
                    applied |= ptr::set(&mut self.inputs[*step], p, Value::String(v), false);
                }
            }
            if applied {
                let (step, p) = split_target(&d.to).expect("checked");
                let what = match (&d.value, &d.copy) {
                    (Some(v), _) => format!("default `{v}`: {}", d.reason),
                    (_, Some(c)) => format!("copied from {}: {}", self.describe(c), d.reason),
                    _ => d.reason.clone(),
                };
                let field = format!("{}{p}", tx.steps[step]);
                self.derived.push(Note { field, what });
            }
        }
    }

    fn describe(&self, target: &str) -> String {
        match split_target(target) {
            Some((s, p)) => format!("{}{p}", self.tx.steps[s]),
            None => target.to_owned(),
        }
    }

    /// The steps with carries and lookups; their targets hold `""` until filled.
    fn steps(&mut self) -> Vec<Step> {
        let tx = self.tx;
        let mut carries: Vec<Vec<Carry>> = vec![Vec::new(); tx.steps.len()];
        let mut lookups: Vec<Vec<Carry>> = vec![Vec::new(); tx.steps.len()];
        for (defs, out) in [(&tx.carries, &mut carries), (&tx.lookups, &mut lookups)] {
            for c in defs {
                let Some((from_step, from)) = split_target(&c.from) else {
                    continue;
                };
                for t in c.to.list() {
                    for (step, p) in self.expand(t, None) {
                        ptr::set(
                            &mut self.inputs[step],
                            &p,
                            Value::String(String::new()),
                            true,
                        );
                        out[step].push(Carry {
                            from_step,
                            from: from.to_owned(),
                            to: p,
                        });
                    }
                }
            }
        }
        tx.steps
            .iter()
            .enumerate()
            .map(|(i, infno)| Step {
                infno: infno.clone(),
                input: std::mem::take(&mut self.inputs[i]),
                carry: std::mem::take(&mut carries[i]),
                lookup: std::mem::take(&mut lookups[i]),
            })
            .collect()
    }
}
