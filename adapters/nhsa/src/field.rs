//! Field kinds of the national interface and their exact decoders and encoders.
//!
//! Every field of every message is described by a [`FieldSpec`]: its national name, its
//! [`FieldKind`] (text with a length in characters, amount 16,2, ratio 5,4, scaled number,
//! date, date-time, region code, nested object or array, opaque JSON), whether it is
//! required, and its meaning. The same descriptions are published as `specs/nhsa/*.toml`;
//! a test checks that code and tables agree.
//!
//! Numbers are read from their JSON text (the workspace enables serde_json's
//! `arbitrary_precision`), never through `f64`.

use std::fmt;

use medsettle_canonical::money::{format_scaled, parse_scaled};
use medsettle_canonical::{Admdvs, DecimalError, Money, Ratio, RuleId, Violation};
pub use serde::ser::SerializeMap;
use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde_json::{Map, Number, Value};
use time::macros::{datetime, format_description};
use time::{Date, PrimitiveDateTime};

/// What a field holds on the wire.
#[derive(Debug, Clone, Copy)]
pub enum FieldKind {
    /// Text of at most this many characters (Unicode scalar values, not bytes).
    Char(usize),
    /// Text without a length limit medsettle enforces (error texts from the platform).
    Text,
    /// An amount, precision 16,2: at most 14 integer digits and 2 decimals.
    Money,
    /// A ratio, precision 5,4.
    Ratio,
    /// An exact number of `precision` significant digits, `scale` of them decimals.
    Num { precision: u32, scale: u32 },
    /// `yyyy-MM-dd`.
    Date,
    /// `yyyy-MM-dd HH:mm:ss`.
    DateTime,
    /// A 6-digit region code (医保区划).
    Admdvs,
    /// A nested object with its own fields.
    Object(fn() -> &'static [FieldSpec]),
    /// An array of objects with these fields.
    Array(fn() -> &'static [FieldSpec]),
    /// Any JSON value, kept as sent (`exp_content`, whose shape varies by province).
    Json,
}

impl FieldKind {
    /// The type name used in `specs/nhsa/*.toml`.
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldKind::Char(_) | FieldKind::Text => "char",
            FieldKind::Money => "money",
            FieldKind::Ratio => "ratio",
            FieldKind::Num { .. } => "num",
            FieldKind::Date => "date",
            FieldKind::DateTime => "datetime",
            FieldKind::Admdvs => "admdvs",
            FieldKind::Object(_) => "object",
            FieldKind::Array(_) => "array",
            FieldKind::Json => "json",
        }
    }

    /// `(precision, scale)` of numeric kinds.
    pub fn precision(&self) -> Option<(u32, u32)> {
        match *self {
            FieldKind::Money => Some((16, 2)),
            FieldKind::Ratio => Some((5, 4)),
            FieldKind::Num { precision, scale } => Some((precision, scale)),
            _ => None,
        }
    }

    /// The maximum length in characters of a `char` field.
    pub fn length(&self) -> Option<usize> {
        match *self {
            FieldKind::Char(n) => Some(n),
            FieldKind::Admdvs => Some(6),
            _ => None,
        }
    }

    /// The fields of a nested object or of each element of an array.
    pub fn children(&self) -> Option<&'static [FieldSpec]> {
        match self {
            FieldKind::Object(f) | FieldKind::Array(f) => Some(f()),
            _ => None,
        }
    }
}

/// One field of a message node.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub kind: FieldKind,
    pub required: bool,
    /// Chinese name as in the national tables.
    pub zh: &'static str,
    /// English meaning.
    pub en: &'static str,
}

/// Shorthands used in the field lists of the transaction modules.
pub mod kinds {
    use super::FieldKind;

    /// Placeholder in field lists for `[T]` (array) and `(T)` (object) fields, whose kind
    /// the macro derives from `T`.
    pub const NESTED: FieldKind = FieldKind::Json;

    pub const fn char(n: usize) -> FieldKind {
        FieldKind::Char(n)
    }
    pub const fn num(precision: u32, scale: u32) -> FieldKind {
        FieldKind::Num { precision, scale }
    }
    pub const TEXT: FieldKind = FieldKind::Text;
    pub const MONEY: FieldKind = FieldKind::Money;
    pub const RATIO: FieldKind = FieldKind::Ratio;
    pub const DATE: FieldKind = FieldKind::Date;
    pub const DATETIME: FieldKind = FieldKind::DateTime;
    pub const ADMDVS: FieldKind = FieldKind::Admdvs;
    pub const JSON: FieldKind = FieldKind::Json;
}

/// Default of [`Tolerance::mdtrt_cert_no_max`]: the longest `mdtrt_cert_no` accepted when it
/// is a card number joined with a token by `|` (seen with tokens of several hundred
/// characters). The national table gives the field 50 characters.
pub const MDTRT_CERT_NO_MAX_DEFAULT: usize = 1024;

/// Credential fields that may carry `card|token` beyond their table length.
pub const CERT_TOKEN_FIELDS: &[&str] = &["mdtrt_cert_no"];

/// What decoding tolerates of provincial shapes (`specs/nhsa-interface.md` §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tolerance {
    /// Read an array element whose fields are all `""` (or `null`) as absent. Set when
    /// decoding answers (outputs), not requests.
    pub placeholder_elements: bool,
    /// The longest `card|token` credential number accepted ([`CERT_TOKEN_FIELDS`]).
    pub mdtrt_cert_no_max: usize,
    /// Accept a request `msgid` the gateway made for a legacy call
    /// ([`crate::RequestEnvelope::decode_gateway_made`]): set by the gateway when it reads
    /// back an exchange it forwarded, never for what a HIS sends.
    pub gateway_made_msgid: bool,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            placeholder_elements: false,
            mdtrt_cert_no_max: MDTRT_CERT_NO_MAX_DEFAULT,
            gateway_made_msgid: false,
        }
    }
}

impl Tolerance {
    /// The tolerance for decoding an answer's output.
    pub fn for_answers(self) -> Tolerance {
        Tolerance {
            placeholder_elements: true,
            ..self
        }
    }
}

/// What a repair did to a provincial shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RepairKind {
    /// A `null` amount filled from the settlement identities (§2.5).
    Derived,
    /// An array element whose fields were all empty read as absent.
    PlaceholderElement,
    /// A single object where the table says array, read as a one-element array.
    ObjectAsArray,
    /// A credential number `card|token` longer than its table length, kept verbatim.
    CertificateToken,
    /// A date sent as `yyyy-MM-dd 00:00:00`, read as the date.
    DateWithMidnight,
    /// An input's fields sent directly in `input` without the node the table puts them in
    /// (3262 `input{trt_year, trt_month, otransid}` for `input.data{…}`), read as that node.
    InputWithoutNode,
}

/// One repair applied while decoding, with the path of what was repaired.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Repair {
    pub repair: RepairKind,
    pub path: String,
    pub detail: String,
}

/// Where the violations of one message are collected: decoding never stops at the first.
/// Repairs of tolerated provincial shapes are collected alongside.
#[derive(Debug, Default)]
pub struct Errors {
    pub violations: Vec<Violation>,
    pub repairs: Vec<Repair>,
    pub tolerance: Tolerance,
    /// Decoding an answer (the platform's output): times are taken as the platform writes
    /// them. A request's times must lie in the plausible window ([`time_outside_window`]).
    pub answer: bool,
}

impl Errors {
    pub fn with_tolerance(tolerance: Tolerance) -> Errors {
        Errors {
            tolerance,
            ..Errors::default()
        }
    }

    pub fn push(&mut self, rule: RuleId, path: impl fmt::Display, message: impl Into<String>) {
        self.violations
            .push(Violation::new(rule, path.to_string(), message));
    }

    pub fn repaired(
        &mut self,
        repair: RepairKind,
        path: impl fmt::Display,
        detail: impl Into<String>,
    ) {
        self.repairs.push(Repair {
            repair,
            path: path.to_string(),
            detail: detail.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Where a field sits: `parent.name`, or `name` at the top. Written out only when a violation
/// names it, so the many valid fields of a request never allocate their paths (building every
/// path eagerly was ~2 % of the gateway's CPU per request).
#[derive(Debug, Clone, Copy)]
pub struct FieldPath<'a> {
    parent: &'a str,
    name: &'a str,
}

impl<'a> FieldPath<'a> {
    pub fn new(parent: &'a str, name: &'a str) -> FieldPath<'a> {
        FieldPath { parent, name }
    }
}

impl fmt::Display for FieldPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.parent.is_empty() {
            f.write_str(self.name)
        } else {
            write!(f, "{}.{}", self.parent, self.name)
        }
    }
}

/// `parent.child`, or `child` at the top, written out (see [`FieldPath`]).
pub fn join(path: &str, name: &str) -> String {
    FieldPath::new(path, name).to_string()
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn type_error(errs: &mut Errors, path: FieldPath<'_>, spec: &FieldSpec, v: &Value, want: &str) {
    errs.push(
        RuleId::FMT_TYPE,
        path,
        format!(
            "{} ({}) must be {want}, not {}",
            spec.name,
            spec.zh,
            json_type(v)
        ),
    );
}

/// A value a field of some kind decodes to.
pub trait FieldValue: Sized {
    /// Decode a present, non-null value. Returns `None` (with violations pushed) if invalid.
    fn decode(v: &Value, path: FieldPath<'_>, spec: &FieldSpec, errs: &mut Errors) -> Option<Self>;
    /// The wire JSON of the value.
    fn encode(&self, spec: &FieldSpec) -> Value;
    /// The wire JSON of the value, written to `s`: the same as serializing [`Self::encode`],
    /// which kinds override when they can skip building the `Value`.
    fn serialize_wire<S: Serializer>(&self, spec: &FieldSpec, s: S) -> Result<S::Ok, S::Error> {
        self.encode(spec).serialize(s)
    }
    /// The canonical JSON of the value (amounts in fen, ratios in 1/10 000, times +08:00).
    fn canonical(&self) -> Value;
    /// Whether an empty string counts as absent for this kind (true for every non-text kind).
    const EMPTY_TEXT_IS_ABSENT: bool = true;
}

/// Decode field `spec` of `map` at `path`: a missing or null value (or `""` for non-text
/// kinds) is absent; an absent required field is `FMT-REQUIRED`.
pub fn decode_field<T: FieldValue>(
    map: &Map<String, Value>,
    parent: &str,
    spec: &FieldSpec,
    errs: &mut Errors,
) -> Option<T> {
    let path = FieldPath::new(parent, spec.name);
    let absent = match map.get(spec.name) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) if s.is_empty() => T::EMPTY_TEXT_IS_ABSENT || spec.required,
        Some(_) => false,
    };
    if absent {
        if spec.required {
            errs.push(
                RuleId::FMT_REQUIRED,
                path,
                format!("{} ({}) is required", spec.name, spec.zh),
            );
        }
        return None;
    }
    T::decode(&map[spec.name], path, spec, errs)
}

impl FieldValue for String {
    const EMPTY_TEXT_IS_ABSENT: bool = false;

    fn decode(v: &Value, path: FieldPath<'_>, spec: &FieldSpec, errs: &mut Errors) -> Option<Self> {
        let Value::String(s) = v else {
            type_error(errs, path, spec, v, "text");
            return None;
        };
        if let FieldKind::Char(max) = spec.kind {
            let n = s.chars().count();
            if n > max && CERT_TOKEN_FIELDS.contains(&spec.name) && cert_token(s, max) {
                let limit = errs.tolerance.mdtrt_cert_no_max;
                if n <= limit {
                    errs.repaired(
                        RepairKind::CertificateToken,
                        path,
                        format!(
                            "{} has {n} characters (table: {max}): a card number joined with a token by `|`, kept verbatim (limit {limit})",
                            spec.name
                        ),
                    );
                    return Some(s.clone());
                }
                errs.push(
                    RuleId::FMT_LENGTH,
                    path,
                    format!(
                        "{} ({}) has {n} characters; a card|token credential is accepted up to {limit}",
                        spec.name, spec.zh
                    ),
                );
                return None;
            }
            if n > max {
                errs.push(
                    RuleId::FMT_LENGTH,
                    path,
                    format!(
                        "{} ({}) has {n} characters; at most {max} are allowed",
                        spec.name, spec.zh
                    ),
                );
                return None;
            }
        }
        Some(s.clone())
    }

    fn encode(&self, _: &FieldSpec) -> Value {
        Value::String(self.clone())
    }

    fn serialize_wire<S: Serializer>(&self, _: &FieldSpec, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }

    fn canonical(&self) -> Value {
        Value::String(self.clone())
    }
}

/// `card|token`: a non-empty card number within the table length, `|`, a non-empty token.
fn cert_token(s: &str, max: usize) -> bool {
    match s.split_once('|') {
        Some((card, token)) => !card.is_empty() && card.chars().count() <= max && !token.is_empty(),
        None => false,
    }
}

/// The decimal text of a JSON number or a decimal string; `FMT-TYPE` otherwise.
fn number_text<'a>(
    v: &'a Value,
    path: FieldPath<'_>,
    spec: &FieldSpec,
    errs: &mut Errors,
) -> Option<&'a str> {
    match v {
        Value::Number(n) => Some(n.as_str()),
        Value::String(s) => Some(s.as_str()),
        _ => {
            type_error(errs, path, spec, v, "a number or decimal text");
            None
        }
    }
}

/// Parse exact decimal text into units of `10^-scale`, within `precision` digits.
fn scaled(
    text: &str,
    precision: u32,
    scale: u32,
    rule: RuleId,
    path: FieldPath<'_>,
    spec: &FieldSpec,
    errs: &mut Errors,
) -> Option<i64> {
    let what = || format!("{} ({})", spec.name, spec.zh);
    match parse_scaled(text, scale) {
        Ok(units) => {
            let limit = 10i128.pow(precision);
            if i128::from(units).abs() >= limit {
                errs.push(
                    rule,
                    path,
                    format!(
                        "{} = `{text}` exceeds precision {precision},{scale} (at most {} integer digits)",
                        what(),
                        precision - scale
                    ),
                );
                None
            } else {
                Some(units)
            }
        }
        Err(e) => {
            let detail = match e {
                DecimalError::TooManyDecimals { .. } => {
                    format!(
                        "{} = `{text}` has more than {scale} decimals; it would need rounding",
                        what()
                    )
                }
                DecimalError::Overflow(_) => format!("{} = `{text}` is out of range", what()),
                DecimalError::Empty | DecimalError::Syntax(_) => {
                    format!("{} = `{text}` is not a decimal number", what())
                }
            };
            errs.push(rule, path, detail);
            None
        }
    }
}

/// A JSON number with exactly the given text (serde_json keeps number text verbatim).
pub fn number(text: &str) -> Value {
    Value::Number(serde_json::from_str::<Number>(text).expect("formatted decimal is a JSON number"))
}

impl FieldValue for Money {
    fn decode(v: &Value, path: FieldPath<'_>, spec: &FieldSpec, errs: &mut Errors) -> Option<Self> {
        let text = number_text(v, path, spec, errs)?;
        scaled(text, 16, 2, RuleId::FMT_MONEY, path, spec, errs).map(Money::from_fen)
    }

    fn encode(&self, _: &FieldSpec) -> Value {
        number(&self.to_yuan_string())
    }

    fn canonical(&self) -> Value {
        Value::from(self.fen())
    }
}

impl FieldValue for Ratio {
    fn decode(v: &Value, path: FieldPath<'_>, spec: &FieldSpec, errs: &mut Errors) -> Option<Self> {
        let text = number_text(v, path, spec, errs)?;
        scaled(text, 5, 4, RuleId::FMT_RATIO, path, spec, errs).map(Ratio::from_bp)
    }

    fn encode(&self, _: &FieldSpec) -> Value {
        number(&self.to_decimal_string())
    }

    fn canonical(&self) -> Value {
        Value::from(self.bp())
    }
}

/// `cnt` (16,4).
pub type Q4 = Scaled<4>;
/// `pric` (16,6).
pub type P6 = Scaled<6>;
/// Integer counts.
pub type N0 = Scaled<0>;
/// One decimal (`age` 4,1).
pub type N1 = Scaled<1>;
/// Two decimals (`prd_days`, weights).
pub type N2 = Scaled<2>;

/// An exact quantity in units of `10^-D` (`cnt` is `Scaled<4>`, `pric` `Scaled<6>`, counts
/// `Scaled<0>`). Never a float.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scaled<const D: u32>(pub i64);

impl<const D: u32> Scaled<D> {
    pub fn units(self) -> i64 {
        self.0
    }

    pub fn parse(text: &str) -> Result<Self, DecimalError> {
        parse_scaled(text, D).map(Scaled)
    }
}

impl<const D: u32> fmt::Display for Scaled<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_scaled(self.0, D))
    }
}

impl<const D: u32> FieldValue for Scaled<D> {
    fn decode(v: &Value, path: FieldPath<'_>, spec: &FieldSpec, errs: &mut Errors) -> Option<Self> {
        let text = number_text(v, path, spec, errs)?;
        let (precision, scale) = spec.kind.precision().unwrap_or((18, D));
        debug_assert_eq!(scale, D, "field {} declares scale {scale}", spec.name);
        scaled(text, precision, D, RuleId::FMT_NUMBER, path, spec, errs).map(Scaled)
    }

    fn encode(&self, _: &FieldSpec) -> Value {
        number(&self.to_string())
    }

    /// Counts (scale 0) are JSON integers; quantities are exact decimal text (`"2.0000"`).
    fn canonical(&self) -> Value {
        if D == 0 {
            Value::from(self.0)
        } else {
            Value::String(self.to_string())
        }
    }
}

impl FieldValue for Date {
    fn decode(v: &Value, path: FieldPath<'_>, spec: &FieldSpec, errs: &mut Errors) -> Option<Self> {
        let Value::String(s) = v else {
            type_error(errs, path, spec, v, "a date `yyyy-MM-dd`");
            return None;
        };
        let parse = |t: &str| Date::parse(t, format_description!("[year]-[month]-[day]")).ok();
        match (s.len(), s.get(..10), s.get(10..)) {
            (10, _, _) if parse(s).is_some() => plausible_date(parse(s), path, spec, errs),
            (19, Some(day), Some(" 00:00:00")) if parse(day).is_some() => {
                errs.repaired(
                    RepairKind::DateWithMidnight,
                    path,
                    format!("{} sent as `{s}`: read as the date {day}", spec.name),
                );
                plausible_date(parse(day), path, spec, errs)
            }
            _ => {
                errs.push(
                    RuleId::FMT_DATE,
                    path,
                    format!(
                        "{} ({}) = `{s}` is not a date `yyyy-MM-dd`",
                        spec.name, spec.zh
                    ),
                );
                None
            }
        }
    }

    fn encode(&self, _: &FieldSpec) -> Value {
        Value::String(format_date(*self))
    }

    fn canonical(&self) -> Value {
        Value::String(format_date(*self))
    }
}

/// A request's date inside the plausible window (dates of birth exempt), else `None` and
/// the violation recorded.
fn plausible_date(
    d: Option<Date>,
    path: FieldPath<'_>,
    spec: &FieldSpec,
    errs: &mut Errors,
) -> Option<Date> {
    let d = d?;
    if errs.answer || WINDOW_EXEMPT_DATES.contains(&spec.name) {
        return Some(d);
    }
    match time_outside_window(d.midnight(), spec, path.to_string()) {
        Some(v) => {
            errs.violations.push(v);
            None
        }
        None => Some(d),
    }
}

pub fn format_date(d: Date) -> String {
    d.format(format_description!("[year]-[month]-[day]"))
        .expect("a date formats")
}

/// `yyyy-MM-dd HH:mm:ss`.
pub fn format_datetime(t: PrimitiveDateTime) -> String {
    t.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]"
    ))
    .expect("a date-time formats")
}

pub fn parse_datetime(s: &str) -> Option<PrimitiveDateTime> {
    if s.len() != 19 {
        return None;
    }
    PrimitiveDateTime::parse(
        s,
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    )
    .ok()
}

/// The canonical form of a wire time: ISO 8601 with the +08:00 offset.
pub fn canonical_datetime(t: PrimitiveDateTime) -> String {
    t.assume_offset(medsettle_canonical::CHINA_OFFSET)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a date-time formats")
}

impl FieldValue for PrimitiveDateTime {
    fn decode(v: &Value, path: FieldPath<'_>, spec: &FieldSpec, errs: &mut Errors) -> Option<Self> {
        let Value::String(s) = v else {
            type_error(errs, path, spec, v, "a date-time `yyyy-MM-dd HH:mm:ss`");
            return None;
        };
        match parse_datetime(s) {
            Some(t) if errs.answer => Some(t),
            Some(t) => match time_outside_window(t, spec, path.to_string()) {
                Some(v) => {
                    errs.violations.push(v);
                    None
                }
                None => Some(t),
            },
            None => {
                errs.push(
                    RuleId::FMT_DATETIME,
                    path,
                    format!(
                        "{} ({}) = `{s}` is not a date-time `yyyy-MM-dd HH:mm:ss`",
                        spec.name, spec.zh
                    ),
                );
                None
            }
        }
    }

    fn encode(&self, _: &FieldSpec) -> Value {
        Value::String(format_datetime(*self))
    }

    fn canonical(&self) -> Value {
        Value::String(canonical_datetime(*self))
    }
}

impl FieldValue for Admdvs {
    fn decode(v: &Value, path: FieldPath<'_>, spec: &FieldSpec, errs: &mut Errors) -> Option<Self> {
        let Value::String(s) = v else {
            type_error(errs, path, spec, v, "a 6-digit region code");
            return None;
        };
        match Admdvs::parse(s) {
            Ok(a) => Some(a),
            Err(e) => {
                errs.push(
                    RuleId::FMT_ADMDVS,
                    path,
                    format!("{} ({}): {e}", spec.name, spec.zh),
                );
                None
            }
        }
    }

    fn encode(&self, _: &FieldSpec) -> Value {
        Value::String(self.as_str().to_owned())
    }

    fn canonical(&self) -> Value {
        Value::String(self.as_str().to_owned())
    }
}

impl FieldValue for Value {
    fn decode(v: &Value, _: FieldPath<'_>, _: &FieldSpec, _: &mut Errors) -> Option<Self> {
        Some(v.clone())
    }

    fn encode(&self, _: &FieldSpec) -> Value {
        self.clone()
    }

    fn serialize_wire<S: Serializer>(&self, _: &FieldSpec, s: S) -> Result<S::Ok, S::Error> {
        self.serialize(s)
    }

    fn canonical(&self) -> Value {
        self.clone()
    }
}

/// A message node: an object with a fixed field list plus the fields it did not know.
pub trait Record: Sized {
    /// The fields, in wire order.
    fn fields() -> &'static [FieldSpec];
    /// Decode from a JSON object at `path`, collecting every violation.
    fn decode_map(map: &Map<String, Value>, path: &str, errs: &mut Errors) -> Option<Self>;
    /// The wire object (fields in table order, then the unknown fields kept from decoding).
    fn encode_map(&self) -> Map<String, Value>;
    /// The entries of [`Self::encode_map`], in its order, written to `map` (see [`Wire`]).
    fn serialize_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error>;
    /// The canonical object (amounts in fen; unknown fields under `extra`).
    fn canonical_map(&self) -> Map<String, Value>;

    /// Decode from any JSON value (an object is required).
    fn decode_value(v: &Value, path: &str, errs: &mut Errors) -> Option<Self> {
        match v {
            Value::Object(m) => Self::decode_map(m, path, errs),
            other => {
                errs.push(
                    RuleId::FMT_TYPE,
                    path,
                    format!("{path} must be an object, not {}", json_type(other)),
                );
                None
            }
        }
    }

    fn to_wire(&self) -> Value {
        Value::Object(self.encode_map())
    }
}

impl<T: Record> FieldValue for T {
    fn decode(v: &Value, path: FieldPath<'_>, _: &FieldSpec, errs: &mut Errors) -> Option<Self> {
        // A nested record names its own fields under this path: written out once here.
        T::decode_value(v, &path.to_string(), errs)
    }

    fn encode(&self, _: &FieldSpec) -> Value {
        Value::Object(self.encode_map())
    }

    fn serialize_wire<S: Serializer>(&self, _: &FieldSpec, s: S) -> Result<S::Ok, S::Error> {
        Wire(self).serialize(s)
    }

    fn canonical(&self) -> Value {
        Value::Object(self.canonical_map())
    }
}

/// A record as its wire JSON, written straight to a serializer: the bytes of serializing
/// [`Record::to_wire`], without building that map first (every key allocated and hashed,
/// every value boxed, then all of it dropped — ~3 % of the gateway's CPU per settlement answer).
pub struct Wire<'a, T>(pub &'a T);

impl<T: Record> Serialize for Wire<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        self.0.serialize_fields(&mut map)?;
        map.end()
    }
}

/// An array of records as wire JSON (see [`Wire`]).
pub struct WireSeq<'a, T>(pub &'a [T]);

impl<T: Record> Serialize for WireSeq<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&Wire(item))?;
        }
        seq.end()
    }
}

/// One field's value as wire JSON (see [`FieldValue::serialize_wire`]).
pub struct FieldWire<'a, T>(pub &'a T, pub &'a FieldSpec);

impl<T: FieldValue> Serialize for FieldWire<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_wire(self.1, s)
    }
}

/// Arrays of records. An element that fails is reported at `path[i]`; the array decodes only
/// when every element does.
///
/// Tolerated: a single object where the table says array is a one-element array; in answers,
/// an element whose fields are all `""` or `null` (a placeholder) is skipped. Both are
/// recorded as repairs.
pub fn decode_array<T: Record>(v: &Value, path: &str, errs: &mut Errors) -> Option<Vec<T>> {
    let items = match v {
        Value::Array(items) => items,
        Value::Object(_) => {
            errs.repaired(
                RepairKind::ObjectAsArray,
                path,
                format!("{path} sent as one object: read as a one-element array"),
            );
            return T::decode_value(v, path, errs).map(|x| vec![x]);
        }
        _ => {
            errs.push(
                RuleId::FMT_TYPE,
                path,
                format!("{path} must be an array, not {}", json_type(v)),
            );
            return None;
        }
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        if errs.tolerance.placeholder_elements && is_placeholder(item) {
            errs.repaired(
                RepairKind::PlaceholderElement,
                format!("{path}[{i}]"),
                format!("{path}[{i}] has only empty fields: read as absent"),
            );
            continue;
        }
        match T::decode_value(item, &format!("{path}[{i}]"), errs) {
            Some(x) => out.push(x),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A placeholder element: a non-empty object whose every field is `""` or `null`, at least
/// one of them `""`.
fn is_placeholder(item: &Value) -> bool {
    let Value::Object(m) = item else {
        return false;
    };
    m.values().any(|v| v.as_str() == Some(""))
        && m.values().all(|v| v.is_null() || v.as_str() == Some(""))
}

/// Collect the keys of `map` that are not in `fields`, for relay.
pub fn extras(map: &Map<String, Value>, fields: &[FieldSpec]) -> Map<String, Value> {
    map.iter()
        .filter(|(k, _)| !fields.iter().any(|f| f.name == k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Declare a message node: the struct with national field names, its field table, and its
/// decoder, wire encoder and canonical encoder.
///
/// ```text
/// record! {
///     /// 2201 input `data`
///     pub struct Reg2201 {
///         psn_no: req String = char(30), "人员编号", "person number";
///         data: req (Data) = NESTED, "数据", "an object of fields";
///         feedetail: req [FeeDetail] = NESTED, "费用明细", "an array of objects";
///     }
/// }
/// ```
#[macro_export]
macro_rules! record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $field:ident : $req:ident $ty:tt = $kind:expr, $zh:literal, $en:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        #[allow(non_snake_case)] // national node names such as `signIn`
        pub struct $name {
            $(
                #[doc = concat!($zh, " — ", $en)]
                pub $field: $crate::record!(@ty $req $ty),
            )*
            /// Fields the table does not know, kept for relay (platform and provincial extras).
            pub extra: serde_json::Map<String, serde_json::Value>,
        }

        impl $name {
            pub const FIELDS: &'static [$crate::field::FieldSpec] = &[
                $( $crate::field::FieldSpec {
                    name: stringify!($field),
                    kind: $crate::record!(@kind $ty $kind),
                    required: $crate::record!(@req $req),
                    zh: $zh,
                    en: $en,
                }, )*
            ];

            pub fn fields() -> &'static [$crate::field::FieldSpec] {
                Self::FIELDS
            }
        }

        impl $crate::field::Record for $name {
            fn fields() -> &'static [$crate::field::FieldSpec] {
                Self::FIELDS
            }

            #[allow(unused_assignments, unused_variables, unused_mut, non_snake_case)]
            fn decode_map(
                map: &serde_json::Map<String, serde_json::Value>,
                path: &str,
                errs: &mut $crate::field::Errors,
            ) -> Option<Self> {
                let mut i = 0usize;
                $(
                    let $field = {
                        let spec = &Self::FIELDS[i];
                        i += 1;
                        $crate::record!(@decode $ty, map, path, spec, errs)
                    };
                )*
                let extra = $crate::field::extras(map, Self::FIELDS);
                Some(Self { $( $field: $crate::record!(@unwrap $req $field), )* extra })
            }

            #[allow(unused_assignments, unused_variables, unused_mut)]
            fn encode_map(&self) -> serde_json::Map<String, serde_json::Value> {
                // Sized up front: growing an answer's maps key by key (rehashing as they go)
                // was ~1.5 % of the gateway's CPU per settlement answer.
                let mut map =
                    serde_json::Map::with_capacity(Self::FIELDS.len() + self.extra.len());
                let mut i = 0usize;
                $(
                    {
                        let spec = &Self::FIELDS[i];
                        i += 1;
                        $crate::record!(@encode $req $ty, map, spec, &self.$field);
                    }
                )*
                for (k, v) in &self.extra {
                    map.entry(k.clone()).or_insert_with(|| v.clone());
                }
                map
            }

            #[allow(unused_assignments, unused_variables, unused_mut)]
            fn serialize_fields<M: $crate::field::SerializeMap>(
                &self,
                map: &mut M,
            ) -> Result<(), M::Error> {
                let mut i = 0usize;
                $(
                    {
                        let spec = &Self::FIELDS[i];
                        i += 1;
                        $crate::record!(@ser $req $ty, map, spec, &self.$field);
                    }
                )*
                for (k, v) in &self.extra {
                    // As in `encode_map`: a field written above keeps its value.
                    let written = $( (k.as_str() == stringify!($field)
                        && $crate::record!(@present $req &self.$field)) || )* false;
                    if !written {
                        map.serialize_entry(k, v)?;
                    }
                }
                Ok(())
            }

            #[allow(unused_assignments, unused_variables, unused_mut)]
            fn canonical_map(&self) -> serde_json::Map<String, serde_json::Value> {
                let mut map = serde_json::Map::with_capacity(Self::FIELDS.len() + 1);
                $(
                    $crate::record!(@canon $req $ty, map, stringify!($field), &self.$field);
                )*
                if !self.extra.is_empty() {
                    map.insert("extra".to_owned(), serde_json::Value::Object(self.extra.clone()));
                }
                map
            }
        }
    };

    (@ty req [$t:ty]) => { Vec<$t> };
    (@ty opt [$t:ty]) => { Option<Vec<$t>> };
    (@ty req ($t:ty)) => { $t };
    (@ty opt ($t:ty)) => { Option<$t> };
    (@ty req $t:ty) => { $t };
    (@ty opt $t:ty) => { Option<$t> };

    (@kind [$t:ty] $kind:expr) => { $crate::field::FieldKind::Array(<$t>::fields) };
    (@kind ($t:ty) $kind:expr) => { $crate::field::FieldKind::Object(<$t>::fields) };
    (@kind $t:tt $kind:expr) => { $kind };

    (@req req) => { true };
    (@req opt) => { false };

    (@unwrap req $f:ident) => { $f? };
    (@unwrap opt $f:ident) => { $f };

    (@decode [$t:ty], $map:ident, $path:ident, $spec:ident, $errs:ident) => {
        $crate::field::decode_array_field::<$t>($map, $path, $spec, $errs)
    };
    (@decode ($t:ty), $map:ident, $path:ident, $spec:ident, $errs:ident) => {
        $crate::field::decode_field::<$t>($map, $path, $spec, $errs)
    };
    (@decode $t:ty, $map:ident, $path:ident, $spec:ident, $errs:ident) => {
        $crate::field::decode_field::<$t>($map, $path, $spec, $errs)
    };

    (@encode req [$t:ty], $map:ident, $spec:ident, $v:expr) => {
        $map.insert($spec.name.to_owned(), serde_json::Value::Array(
            $v.iter().map($crate::field::Record::to_wire).collect()));
    };
    (@encode opt [$t:ty], $map:ident, $spec:ident, $v:expr) => {
        if let Some(items) = $v {
            $map.insert($spec.name.to_owned(), serde_json::Value::Array(
                items.iter().map($crate::field::Record::to_wire).collect()));
        }
    };
    (@encode req $t:ty, $map:ident, $spec:ident, $v:expr) => {
        $map.insert($spec.name.to_owned(), $crate::field::FieldValue::encode($v, $spec));
    };
    (@encode opt $t:ty, $map:ident, $spec:ident, $v:expr) => {
        if let Some(x) = $v {
            $map.insert($spec.name.to_owned(), $crate::field::FieldValue::encode(x, $spec));
        }
    };

    (@present req $v:expr) => { true };
    (@present opt $v:expr) => { $v.is_some() };

    (@ser req [$t:ty], $map:ident, $spec:ident, $v:expr) => {
        $map.serialize_entry($spec.name, &$crate::field::WireSeq(&$v[..]))?;
    };
    (@ser opt [$t:ty], $map:ident, $spec:ident, $v:expr) => {
        if let Some(items) = $v {
            $map.serialize_entry($spec.name, &$crate::field::WireSeq(&items[..]))?;
        }
    };
    (@ser req $t:ty, $map:ident, $spec:ident, $v:expr) => {
        $map.serialize_entry($spec.name, &$crate::field::FieldWire($v, $spec))?;
    };
    (@ser opt $t:ty, $map:ident, $spec:ident, $v:expr) => {
        if let Some(x) = $v {
            $map.serialize_entry($spec.name, &$crate::field::FieldWire(x, $spec))?;
        }
    };

    (@canon req [$t:ty], $map:ident, $name:expr, $v:expr) => {
        $map.insert($name.to_owned(), serde_json::Value::Array(
            $v.iter().map(|x| serde_json::Value::Object($crate::field::Record::canonical_map(x))).collect()));
    };
    (@canon opt [$t:ty], $map:ident, $name:expr, $v:expr) => {
        if let Some(items) = $v {
            $map.insert($name.to_owned(), serde_json::Value::Array(
                items.iter().map(|x| serde_json::Value::Object($crate::field::Record::canonical_map(x))).collect()));
        }
    };
    (@canon req $t:ty, $map:ident, $name:expr, $v:expr) => {
        $map.insert($name.to_owned(), $crate::field::FieldValue::canonical($v));
    };
    (@canon opt $t:ty, $map:ident, $name:expr, $v:expr) => {
        if let Some(x) = $v {
            $map.insert($name.to_owned(), $crate::field::FieldValue::canonical(x));
        }
    };
}

/// Decode an array-of-records field (absent/null handled like any field).
pub fn decode_array_field<T: Record>(
    map: &Map<String, Value>,
    parent: &str,
    spec: &FieldSpec,
    errs: &mut Errors,
) -> Option<Vec<T>> {
    let path = join(parent, spec.name);
    match map.get(spec.name) {
        None | Some(Value::Null) => {
            if spec.required {
                errs.push(
                    RuleId::FMT_REQUIRED,
                    &path,
                    format!("{} ({}) is required", spec.name, spec.zh),
                );
            }
            None
        }
        Some(v) => decode_array(v, &path, errs),
    }
}

// ---------------------------------------------------------------- the plausible time window

/// The earliest time a request may carry (`inf_time`, `begntime`, `fee_ocur_time`, …; dates
/// of events too): the national platform and every HIS on it postdate 2000, so an earlier
/// time is a default value (`1900-01-01`) or a typing error, never a visit.
pub const REQUEST_TIME_NOT_BEFORE: PrimitiveDateTime = datetime!(2000-01-01 00:00:00);

/// The first time a request may no longer carry: a time in 2100 or later (`2999-12-31`) is a
/// placeholder or a typing error. The window against the receive time (a few days into the
/// future at most) is the embedded core's, which knows the time (`medsettle_core`).
pub const REQUEST_TIME_BEFORE: PrimitiveDateTime = datetime!(2100-01-01 00:00:00);

/// Date fields outside the window: a date of birth may be before 2000.
pub const WINDOW_EXEMPT_DATES: &[&str] = &["brdy"];

/// The violation of a time outside [`REQUEST_TIME_NOT_BEFORE`, [`REQUEST_TIME_BEFORE`]), if
/// it is.
pub fn time_outside_window(
    t: PrimitiveDateTime,
    spec: &FieldSpec,
    path: impl Into<String>,
) -> Option<Violation> {
    if (REQUEST_TIME_NOT_BEFORE..REQUEST_TIME_BEFORE).contains(&t) {
        return None;
    }
    let (rule, shown) = match spec.kind {
        FieldKind::Date => (RuleId::FMT_DATE, format_date(t.date())),
        _ => (RuleId::FMT_DATETIME, format_datetime(t)),
    };
    Some(Violation::new(
        rule,
        path,
        format!(
            "{} ({}) = `{shown}` is outside the plausible window {} … {} (REQUEST_TIME_NOT_BEFORE, REQUEST_TIME_BEFORE)",
            spec.name,
            spec.zh,
            format_date(REQUEST_TIME_NOT_BEFORE.date()),
            format_date(
                REQUEST_TIME_BEFORE
                    .date()
                    .previous_day()
                    .unwrap_or(Date::MIN)
            ),
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The path of the one field these tests decode.
    const F: FieldPath<'static> = FieldPath {
        parent: "",
        name: "f",
    };

    fn spec(kind: FieldKind) -> FieldSpec {
        FieldSpec {
            name: "f",
            kind,
            required: true,
            zh: "字段",
            en: "field",
        }
    }

    fn money(json: &str) -> Result<i64, Vec<Violation>> {
        let v: Value = serde_json::from_str(json).unwrap();
        let mut errs = Errors::default();
        Money::decode(&v, F, &spec(FieldKind::Money), &mut errs)
            .map(Money::fen)
            .ok_or(errs.violations)
    }

    #[test]
    fn money_is_read_from_the_number_text() {
        assert_eq!(money("59.50"), Ok(5950));
        assert_eq!(money("\"59.5\""), Ok(5950));
        assert_eq!(money("18785.39"), Ok(1_878_539));
        assert_eq!(money("-25.1"), Ok(-2510));
        assert_eq!(money("3.0000"), Ok(300));
        assert_eq!(money("1.5e2"), Ok(15000));
        // 0.1 + 0.2 style float artefacts never appear: the text is the value
        assert_eq!(money("0.30"), Ok(30));
        assert_eq!(money("99999999999999.99"), Ok(9_999_999_999_999_999));
        for bad in ["4.525", "\"abc\"", "100000000000000.00", "1e30", "\"1,00\""] {
            let errs = money(bad).unwrap_err();
            assert_eq!(errs[0].rule, RuleId::FMT_MONEY, "{bad}");
        }
        assert_eq!(money("true").unwrap_err()[0].rule, RuleId::FMT_TYPE);
    }

    #[test]
    fn encodes_amounts_with_two_decimals_as_numbers() {
        let v = Money::from_fen(5950).encode(&spec(FieldKind::Money));
        assert_eq!(serde_json::to_string(&v).unwrap(), "59.50");
        let r = Ratio::from_bp(7000).encode(&spec(FieldKind::Ratio));
        assert_eq!(serde_json::to_string(&r).unwrap(), "0.7000");
    }

    #[test]
    fn text_length_counts_characters() {
        let mut errs = Errors::default();
        let s = spec(FieldKind::Char(2));
        assert_eq!(
            String::decode(&Value::from("张三"), F, &s, &mut errs),
            Some("张三".to_owned())
        );
        assert!(String::decode(&Value::from("张三丰"), F, &s, &mut errs).is_none());
        assert_eq!(errs.violations[0].rule, RuleId::FMT_LENGTH);
    }

    #[test]
    fn datetimes_are_strict() {
        let mut errs = Errors::default();
        let s = spec(FieldKind::DateTime);
        assert!(
            PrimitiveDateTime::decode(&Value::from("2024-06-01 10:30:15"), F, &s, &mut errs)
                .is_some()
        );
        for bad in [
            "2024-06-01T10:30:15",
            "2024-02-30 10:00:00",
            "2024-06-01 24:00:00",
            "2024-6-1 10:30:15",
        ] {
            assert!(PrimitiveDateTime::decode(&Value::from(bad), F, &s, &mut errs).is_none());
        }
        assert!(
            errs.violations
                .iter()
                .all(|v| v.rule == RuleId::FMT_DATETIME)
        );
    }
}
