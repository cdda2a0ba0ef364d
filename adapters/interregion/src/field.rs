//! Reading and writing the fields of a message node.
//!
//! Each node (the envelope, `input.summary`, one `iteminfo` line, …) declares its fields once,
//! as a `&[Field]` with each field's name and whether it is required. [`Node`] reads a JSON
//! object against that list: a key the list does not name is refused first (a misspelt
//! optional field would otherwise vanish silently), then each getter refuses a missing or
//! malformed value with the field's full path. The same lists are the field tables of
//! `specs/interregion.md`; a test holds the two together.
//!
//! Absent means missing, `null`, or `""`; a required field that is absent is `XR-FMT-1`.
//! Amounts are read from decimal text or a JSON number's own text, never through a float, and
//! written as decimal text with two decimals (`"25600.00"`): text survives a peer whose JSON
//! library reads numbers as doubles.

use medsettle_canonical::{Admdvs, Money, Ratio, money::parse_scaled};
use serde_json::{Map, Value};
use time::{Date, PrimitiveDateTime};

use crate::dates::{YearMonth, format_date, format_datetime, parse_date, parse_datetime};
use crate::limits::{AMOUNT_FEN_ABS_LIMIT, COUNT_MAX, QUOTE_CHARS_MAX};
use crate::refusal::{Refusal, rule};

/// Whether a field must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Req {
    /// Always present.
    Yes,
    /// May be absent.
    No,
    /// Required or forbidden depending on other fields (the spec says when).
    Cond,
}

/// One field of a node: its wire name and whether it is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub req: Req,
}

pub(crate) const fn req(name: &'static str) -> Field {
    Field {
        name,
        req: Req::Yes,
    }
}

pub(crate) const fn opt(name: &'static str) -> Field {
    Field { name, req: Req::No }
}

pub(crate) const fn cond(name: &'static str) -> Field {
    Field {
        name,
        req: Req::Cond,
    }
}

/// What characters a text field may hold, and how many.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// 1..=n ASCII letters and digits: msgids, codes.
    Alnum(usize),
    /// 1..=n ASCII letters, digits, `-` and `_`: ids issued by either side, rule ids.
    Id(usize),
    /// Exactly n ASCII digits: fund types.
    Digits(usize),
    /// 1..=n characters, none of them a control character: names, reasons, messages.
    Words(usize),
}

impl Shape {
    /// Why `text` does not fit, if it does not.
    fn misfit(self, text: &str) -> Option<String> {
        let chars = text.chars().count();
        let (fits, what, max) = match self {
            Shape::Alnum(max) => (
                text.bytes().all(|b| b.is_ascii_alphanumeric()),
                "ASCII letters and digits",
                max,
            ),
            Shape::Id(max) => (
                text.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "ASCII letters, digits, `-` and `_`",
                max,
            ),
            Shape::Digits(n) => {
                let ok = chars == n && text.bytes().all(|b| b.is_ascii_digit());
                return (!ok).then(|| format!("must be exactly {n} digits"));
            }
            Shape::Words(max) => (
                !text.chars().any(char::is_control),
                "characters other than control characters",
                max,
            ),
        };
        if !fits {
            Some(format!("may hold only {what}"))
        } else if chars > max {
            Some(format!("has {chars} characters; at most {max} are allowed"))
        } else {
            None
        }
    }
}

/// A peer's text, quoted for a refusal message: at most [`QUOTE_CHARS_MAX`] characters, with
/// control characters escaped, so our answer never carries what the peer's decoder refuses.
pub(crate) fn quote(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(QUOTE_CHARS_MAX)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().count() > QUOTE_CHARS_MAX {
        out.push('…');
    }
    format!("`{out}`")
}

/// A key of the peer's object as a path step: [`quote`]'s limits without the backticks.
pub(crate) fn path_key(key: &str) -> String {
    let q = quote(key);
    q[1..q.len() - 1].to_owned()
}

/// `parent.name`, or `name` at the top.
pub(crate) fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// `parent[i]`.
pub(crate) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
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

/// Refuse `v` at `path` for not being `want`.
pub(crate) fn wrong_type(path: &str, v: &Value, want: &str) -> Refusal {
    Refusal::new(
        rule::FMT_TYPE,
        path,
        format!("must be {want}, not {}", json_type(v)),
    )
}

/// A JSON object being read against its field list.
pub(crate) struct Node<'a> {
    map: &'a Map<String, Value>,
    path: String,
    fields: &'static [Field],
}

impl<'a> Node<'a> {
    /// Open `v` at `path` as a node with `fields`: it must be an object naming only them.
    pub fn open(v: &'a Value, path: &str, fields: &'static [Field]) -> Result<Node<'a>, Refusal> {
        let Value::Object(map) = v else {
            return Err(wrong_type(path, v, "an object"));
        };
        if let Some(key) = map.keys().find(|k| !fields.iter().any(|f| f.name == *k)) {
            return Err(Refusal::new(
                rule::FMT_UNKNOWN_FIELD,
                join(path, &path_key(key)),
                "this field is not defined by interregion/1 here",
            ));
        }
        Ok(Node {
            map,
            path: path.to_owned(),
            fields,
        })
    }

    /// The full path of field `name`.
    pub fn at(&self, name: &str) -> String {
        join(&self.path, name)
    }

    /// The declaration of `name`; reading an undeclared field is a bug in this crate.
    fn declared(&self, name: &str) -> Req {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name} is read but not declared at {}", self.path))
            .req
    }

    /// The value of `name`, or `None` when absent (missing, `null` or `""`).
    fn present(&self, name: &str) -> Option<&'a Value> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(v) => Some(v),
        }
    }

    fn required(&self, name: &str) -> Result<&'a Value, Refusal> {
        debug_assert_eq!(self.declared(name), Req::Yes, "{name} read as required");
        self.present(name)
            .ok_or_else(|| Refusal::new(rule::FMT_REQUIRED, self.at(name), "is required"))
    }

    fn optional(&self, name: &str) -> Option<&'a Value> {
        debug_assert_ne!(self.declared(name), Req::Yes, "{name} read as optional");
        self.present(name)
    }

    fn as_text(&self, name: &str, v: &'a Value, shape: Shape) -> Result<String, Refusal> {
        let Value::String(s) = v else {
            return Err(wrong_type(&self.at(name), v, "text"));
        };
        match shape.misfit(s) {
            Some(why) => Err(Refusal::new(rule::FMT_TEXT, self.at(name), why)),
            None => Ok(s.clone()),
        }
    }

    pub fn text(&self, name: &str, shape: Shape) -> Result<String, Refusal> {
        self.as_text(name, self.required(name)?, shape)
    }

    pub fn opt_text(&self, name: &str, shape: Shape) -> Result<Option<String>, Refusal> {
        self.optional(name)
            .map(|v| self.as_text(name, v, shape))
            .transpose()
    }

    /// The decimal text of a number given as a JSON number or as text.
    fn number_text(&self, name: &str, v: &'a Value) -> Result<&'a str, Refusal> {
        match v {
            Value::Number(n) => Ok(n.as_str()),
            Value::String(s) => Ok(s.as_str()),
            other => Err(wrong_type(
                &self.at(name),
                other,
                "a decimal number or decimal text",
            )),
        }
    }

    fn as_money(&self, name: &str, v: &'a Value) -> Result<Money, Refusal> {
        let text = self.number_text(name, v)?;
        match Money::parse_yuan(text) {
            Ok(m) if m.fen().unsigned_abs() < AMOUNT_FEN_ABS_LIMIT.unsigned_abs() => Ok(m),
            Ok(_) => Err(Refusal::new(
                rule::FMT_AMOUNT,
                self.at(name),
                format!("{} exceeds precision 16,2", quote(text)),
            )),
            Err(e) => Err(Refusal::new(
                rule::FMT_AMOUNT,
                self.at(name),
                format!("{} is not an exact amount in fen: {e}", quote(text)),
            )),
        }
    }

    pub fn money(&self, name: &str) -> Result<Money, Refusal> {
        self.as_money(name, self.required(name)?)
    }

    pub fn opt_money(&self, name: &str) -> Result<Option<Money>, Refusal> {
        self.optional(name)
            .map(|v| self.as_money(name, v))
            .transpose()
    }

    pub fn opt_ratio(&self, name: &str) -> Result<Option<Ratio>, Refusal> {
        let Some(v) = self.optional(name) else {
            return Ok(None);
        };
        let text = self.number_text(name, v)?;
        match Ratio::parse(text) {
            // 5,4 precision: below 10 in magnitude; the range rule of the node says more.
            Ok(r) if r.bp().unsigned_abs() < 100_000 => Ok(Some(r)),
            _ => Err(Refusal::new(
                rule::FMT_AMOUNT,
                self.at(name),
                format!(
                    "{} is not an exact ratio of at most 4 decimals",
                    quote(text)
                ),
            )),
        }
    }

    /// A whole number, as a JSON number or digit text.
    fn as_integer(&self, name: &str, v: &'a Value) -> Result<i64, Refusal> {
        let text = self.number_text(name, v)?;
        parse_scaled(text, 0).map_err(|_| {
            Refusal::new(
                rule::FMT_COUNT,
                self.at(name),
                format!("{} is not a whole number", quote(text)),
            )
        })
    }

    /// A count 0..=[`COUNT_MAX`].
    pub fn count(&self, name: &str) -> Result<u32, Refusal> {
        let n = self.as_integer(name, self.required(name)?)?;
        u32::try_from(n)
            .ok()
            .filter(|n| *n <= COUNT_MAX)
            .ok_or_else(|| {
                Refusal::new(
                    rule::FMT_COUNT,
                    self.at(name),
                    format!("{n} is not a count 0–{COUNT_MAX}"),
                )
            })
    }

    /// An integer that must be one of `table`'s wire values.
    pub fn int_code<T: Copy>(&self, name: &str, table: &[(i64, T)]) -> Result<T, Refusal> {
        let n = self.as_integer(name, self.required(name)?)?;
        table
            .iter()
            .find(|(wire, _)| *wire == n)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let allowed: Vec<String> = table.iter().map(|(w, _)| w.to_string()).collect();
                Refusal::new(
                    rule::FMT_CODE,
                    self.at(name),
                    format!("{n} is not one of {}", allowed.join(", ")),
                )
            })
    }

    /// A plain integer (`year`), refused by the caller if out of its range.
    pub fn integer(&self, name: &str) -> Result<i64, Refusal> {
        self.as_integer(name, self.required(name)?)
    }

    fn as_time<T>(
        &self,
        name: &str,
        v: &'a Value,
        layout: &str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<T, Refusal> {
        let Value::String(s) = v else {
            return Err(wrong_type(&self.at(name), v, &format!("text `{layout}`")));
        };
        parse(s).ok_or_else(|| {
            Refusal::new(
                rule::FMT_TIME,
                self.at(name),
                format!("{} is not a real `{layout}` of 2000–2099", quote(s)),
            )
        })
    }

    pub fn datetime(&self, name: &str) -> Result<PrimitiveDateTime, Refusal> {
        self.as_time(
            name,
            self.required(name)?,
            "YYYY-MM-DD HH:MM:SS",
            parse_datetime,
        )
    }

    pub fn opt_datetime(&self, name: &str) -> Result<Option<PrimitiveDateTime>, Refusal> {
        self.optional(name)
            .map(|v| self.as_time(name, v, "YYYY-MM-DD HH:MM:SS", parse_datetime))
            .transpose()
    }

    pub fn date(&self, name: &str) -> Result<Date, Refusal> {
        self.as_time(name, self.required(name)?, "YYYY-MM-DD", parse_date)
    }

    pub fn month(&self, name: &str) -> Result<YearMonth, Refusal> {
        self.as_time(name, self.required(name)?, "YYYYMM", YearMonth::parse)
    }

    pub fn opt_month(&self, name: &str) -> Result<Option<YearMonth>, Refusal> {
        self.optional(name)
            .map(|v| self.as_time(name, v, "YYYYMM", YearMonth::parse))
            .transpose()
    }

    /// A 6-digit region code.
    pub fn region(&self, name: &str) -> Result<Admdvs, Refusal> {
        let v = self.required(name)?;
        let Value::String(s) = v else {
            return Err(wrong_type(&self.at(name), v, "a 6-digit region code"));
        };
        Admdvs::parse(s).map_err(|_| {
            Refusal::new(
                rule::FMT_REGION,
                self.at(name),
                format!(
                    "{} is not a region code: 6 digits, province 11–99",
                    quote(s)
                ),
            )
        })
    }

    /// A province-level region code (`xx0000`).
    pub fn province(&self, name: &str) -> Result<Admdvs, Refusal> {
        let code = self.region(name)?;
        if code.as_str().ends_with("0000") {
            Ok(code)
        } else {
            Err(Refusal::new(
                rule::FMT_REGION,
                self.at(name),
                format!("`{code}` is not a province code (6 digits ending 0000)"),
            ))
        }
    }

    fn as_code<T: Copy>(
        &self,
        name: &str,
        v: &'a Value,
        table: &[(&str, T)],
    ) -> Result<T, Refusal> {
        let Value::String(s) = v else {
            return Err(wrong_type(&self.at(name), v, "text"));
        };
        table
            .iter()
            .find(|(wire, _)| wire == s)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let allowed: Vec<String> = table.iter().map(|(w, _)| format!("\"{w}\"")).collect();
                Refusal::new(
                    rule::FMT_CODE,
                    self.at(name),
                    format!("{} is not one of {}", quote(s), allowed.join(", ")),
                )
            })
    }

    /// Text that must be one of `table`'s wire values.
    pub fn code<T: Copy>(&self, name: &str, table: &[(&str, T)]) -> Result<T, Refusal> {
        self.as_code(name, self.required(name)?, table)
    }

    pub fn opt_code<T: Copy>(&self, name: &str, table: &[(&str, T)]) -> Result<Option<T>, Refusal> {
        self.optional(name)
            .map(|v| self.as_code(name, v, table))
            .transpose()
    }

    /// A nested node.
    pub fn object(&self, name: &str, fields: &'static [Field]) -> Result<Node<'a>, Refusal> {
        Node::open(self.required(name)?, &self.at(name), fields)
    }

    /// A required JSON object kept whole (the envelope's `input`, a status answer's `answer`).
    pub fn raw_object(&self, name: &str) -> Result<&'a Value, Refusal> {
        let v = self.required(name)?;
        match v {
            Value::Object(_) => Ok(v),
            other => Err(wrong_type(&self.at(name), other, "an object")),
        }
    }

    pub fn opt_raw_object(&self, name: &str) -> Result<Option<&'a Value>, Refusal> {
        match self.optional(name) {
            None => Ok(None),
            Some(v @ Value::Object(_)) => Ok(Some(v)),
            Some(other) => Err(wrong_type(&self.at(name), other, "an object")),
        }
    }

    /// A required array (possibly empty).
    pub fn array(&self, name: &str) -> Result<&'a [Value], Refusal> {
        debug_assert_eq!(self.declared(name), Req::Yes, "{name} read as required");
        match self.map.get(name) {
            None | Some(Value::Null) => Err(Refusal::new(
                rule::FMT_REQUIRED,
                self.at(name),
                "is required",
            )),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(wrong_type(&self.at(name), other, "an array")),
        }
    }
}

/// Writes a node's fields in the order given, as `Node` reads them.
#[derive(Debug, Default)]
pub(crate) struct Out(Map<String, Value>);

impl Out {
    pub fn new() -> Out {
        Out::default()
    }

    pub fn value(mut self, name: &str, v: Value) -> Out {
        self.0.insert(name.to_owned(), v);
        self
    }

    pub fn text(self, name: &str, v: &str) -> Out {
        self.value(name, Value::String(v.to_owned()))
    }

    /// Absent optional fields are left out rather than written as `null`.
    pub fn opt_text(self, name: &str, v: Option<&str>) -> Out {
        match v {
            Some(v) => self.text(name, v),
            None => self,
        }
    }

    pub fn money(self, name: &str, m: Money) -> Out {
        self.text(name, &m.to_yuan_string())
    }

    pub fn opt_money(self, name: &str, m: Option<Money>) -> Out {
        match m {
            Some(m) => self.money(name, m),
            None => self,
        }
    }

    pub fn opt_ratio(self, name: &str, r: Option<Ratio>) -> Out {
        match r {
            Some(r) => self.text(name, &r.to_decimal_string()),
            None => self,
        }
    }

    /// Counts and integers are JSON numbers: exact in any JSON library below 2^53.
    pub fn int(self, name: &str, n: i64) -> Out {
        self.value(name, Value::from(n))
    }

    pub fn datetime(self, name: &str, t: PrimitiveDateTime) -> Out {
        self.text(name, &format_datetime(t))
    }

    pub fn opt_datetime(self, name: &str, t: Option<PrimitiveDateTime>) -> Out {
        match t {
            Some(t) => self.datetime(name, t),
            None => self,
        }
    }

    pub fn date(self, name: &str, d: Date) -> Out {
        self.text(name, &format_date(d))
    }

    pub fn month(self, name: &str, m: YearMonth) -> Out {
        self.text(name, &m.to_string())
    }

    pub fn opt_month(self, name: &str, m: Option<YearMonth>) -> Out {
        match m {
            Some(m) => self.month(name, m),
            None => self,
        }
    }

    pub fn done(self) -> Value {
        Value::Object(self.0)
    }
}

/// Refuse arrays longer than `max` (and empty ones when `min` is 1) under `rule_id`.
pub(crate) fn check_len(
    items: &[Value],
    path: &str,
    min: usize,
    max: usize,
    rule_id: &'static str,
) -> Result<(), Refusal> {
    if (min..=max).contains(&items.len()) {
        Ok(())
    } else {
        Err(Refusal::new(
            rule_id,
            path,
            format!("has {} entries; {min}–{max} are allowed", items.len()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[Field] = &[req("a"), opt("b"), req("m"), req("n")];

    fn node(v: &Value) -> Node<'_> {
        Node::open(v, "input.x", FIELDS).unwrap()
    }

    #[test]
    fn unknown_and_absent_fields() {
        let v = serde_json::json!({"a": "1", "z": 1});
        let r = Node::open(&v, "input.x", FIELDS).err().unwrap();
        assert_eq!(
            (r.rule, r.path.as_str()),
            (rule::FMT_UNKNOWN_FIELD, "input.x.z")
        );
        let v = serde_json::json!({"a": "", "b": ""});
        let n = node(&v);
        assert_eq!(
            n.text("a", Shape::Alnum(3)).unwrap_err().rule,
            rule::FMT_REQUIRED
        );
        assert_eq!(n.opt_text("b", Shape::Alnum(3)).unwrap(), None);
        // a hostile key is quoted short and printable in the path
        let long = format!("k\n{}", "x".repeat(100));
        let v = serde_json::json!({ long: 1 });
        let r = Node::open(&v, "", FIELDS).err().unwrap();
        assert!(
            r.path.starts_with("k\\nxxx") && r.path.ends_with('…'),
            "{}",
            r.path
        );
        assert!(r.path.chars().count() < 50);
    }

    #[test]
    fn money_from_text_or_number_exactly() {
        let v: Value = serde_json::from_str(
            r#"{"a":"25600.00","m":25600.1,"n":"1.005","b":"99999999999999999"}"#,
        )
        .unwrap();
        let n = node(&v);
        assert_eq!(n.money("a").unwrap(), Money::from_fen(2_560_000));
        assert_eq!(n.money("m").unwrap(), Money::from_fen(2_560_010));
        assert_eq!(n.money("n").unwrap_err().rule, rule::FMT_AMOUNT);
        assert_eq!(n.opt_money("b").unwrap_err().rule, rule::FMT_AMOUNT);
    }

    #[test]
    fn shapes() {
        assert!(Shape::Alnum(3).misfit("a1Z").is_none());
        assert!(Shape::Alnum(3).misfit("a-1").is_some());
        assert!(Shape::Alnum(3).misfit("abcd").is_some());
        assert!(Shape::Id(5).misfit("S-1_a").is_none());
        assert!(Shape::Digits(6).misfit("310100").is_none());
        assert!(Shape::Digits(6).misfit("31010").is_some());
        assert!(Shape::Words(3).misfit("张三").is_none());
        assert!(Shape::Words(3).misfit("a\tb").is_some());
        assert_eq!(quote("a\u{0}b"), "`a\\0b`");
    }
}
