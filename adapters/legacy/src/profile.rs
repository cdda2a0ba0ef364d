//! Profiles: a dialect as data (`specs/legacy/<name>.toml`, format in
//! `specs/legacy/README.md`). [`Profile::from_toml`] parses and checks one; the four built-ins
//! are embedded at compile time.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::text::Encoding;
use crate::value::DateFormat;

/// A profile that does not parse or does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("profile {profile}: {message}")]
pub struct ProfileError {
    pub profile: String,
    pub message: String,
}

const BUILTIN: &[(&str, &str)] = &[
    (
        "guizhou",
        include_str!("../../../specs/legacy/guizhou.toml"),
    ),
    (
        "shijiazhuang",
        include_str!("../../../specs/legacy/shijiazhuang.toml"),
    ),
    ("yunnan", include_str!("../../../specs/legacy/yunnan.toml")),
    ("mohrss", include_str!("../../../specs/legacy/mohrss.toml")),
];

const BUILTIN_NAMES: &[&str] = &["guizhou", "shijiazhuang", "yunnan", "mohrss"];

/// One or several strings (`to = "0:/data/x"` or `to = ["0:/data/x", "1:/data/x"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn list(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

impl Default for OneOrMany {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

/// The profile file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileDef {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub source: String,
    pub envelope: EnvelopeDef,
    pub encoding: EncodingDef,
    #[serde(default)]
    pub formats: FormatsDef,
    pub answer: AnswerDef,
    #[serde(default)]
    pub call: BTreeMap<String, String>,
    #[serde(default)]
    pub tables: BTreeMap<String, TableDef>,
    pub transactions: BTreeMap<String, TransactionDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeDef {
    /// Root element of a request (qualified name as written: `input`, `HOSDATA`,
    /// `soap:Envelope`).
    pub request_root: String,
    /// Root element of an answer (documentation; answers are built from `answer.template`).
    pub answer_root: String,
    /// Path below the root holding the fields (`REQUESTDATA`), empty for the root itself.
    #[serde(default)]
    pub body: String,
    /// Container paths (below the body, lower-case local names joined by `/`) that must exist.
    #[serde(default)]
    pub required: Vec<String>,
    /// Row tags.
    #[serde(default)]
    pub rows: Vec<String>,
    /// Field prefix stripped on input and written on answer scalars (`prm_`).
    #[serde(default)]
    pub prefix: String,
    /// `lower` or `upper`: the case answer field names are written in.
    pub case: String,
    /// `elements` or `attributes`: where answer row values go.
    pub values: String,
    /// Elements ignored on input, each recorded as a repair (`proxy`).
    #[serde(default)]
    pub ignore: Vec<String>,
    /// A field naming the transaction; it must equal the path's (`msgno`, `header/system/funid`).
    #[serde(default)]
    pub transaction_field: String,
    /// A call argument naming the transaction (`TransCode`).
    #[serde(default)]
    pub transaction_arg: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncodingDef {
    pub default: String,
    pub allowed: Vec<String>,
    /// A missing declaration is a repair (true) or the dialect's norm (false).
    #[serde(default)]
    pub declaration_expected: bool,
    /// A name GBK cannot encode may be answered in GB18030.
    #[serde(default)]
    pub gb18030_answers: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatsDef {
    #[serde(default = "default_date")]
    pub date: String,
    #[serde(default = "default_datetime")]
    pub datetime: String,
}

fn default_date() -> String {
    "yyyy-MM-dd".into()
}
fn default_datetime() -> String {
    "yyyy-MM-dd HH:mm:ss".into()
}

impl Default for FormatsDef {
    fn default() -> Self {
        FormatsDef {
            date: default_date(),
            datetime: default_datetime(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerDef {
    /// Written before the template; `{encoding}` is the answer's encoding label. Empty: none.
    #[serde(default)]
    pub declaration: String,
    /// The answer document with `{body}`, `{code}`, `{message}`, `{ref}`, `{row_count}`.
    pub template: String,
    /// The document of a refusal; default: `template` with an empty body.
    #[serde(default)]
    pub error_template: String,
    /// `out_of_band` (appcode/appmsg only), `in_document` (the template's `{code}`).
    pub status: String,
    #[serde(default = "one")]
    pub ok_code: String,
    #[serde(default = "minus_one")]
    pub error_code: String,
    /// Decimals of amounts on answers (2 or 4).
    #[serde(default = "two")]
    pub amount_decimals: u32,
    /// The answer row element.
    #[serde(default)]
    pub row: String,
    /// Keys (as read back by the flattener) of the status and message, for `decode_answer`.
    #[serde(default)]
    pub status_field: String,
    #[serde(default)]
    pub message_field: String,
}

fn one() -> String {
    "1".into()
}
fn minus_one() -> String {
    "-1".into()
}
fn two() -> u32 {
    2
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableDef {
    #[serde(default)]
    pub description: String,
    /// The national field the table yields (`med_type`).
    pub national_field: String,
    pub entries: Vec<EntryDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryDef {
    pub legacy: String,
    #[serde(default)]
    pub national: String,
    /// Sibling national fields set with the code (`{ chrgitm_lv = "3" }`).
    #[serde(default)]
    pub also: BTreeMap<String, String>,
    /// A known code refused, with the reason.
    #[serde(default)]
    pub refuse: String,
    /// Used only national → legacy (answers).
    #[serde(default)]
    pub reverse_only: bool,
    /// Not used national → legacy (another entry answers for this national value).
    #[serde(default)]
    pub forward_only: bool,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionDef {
    pub name: String,
    /// `national` (default), `confirm`, `cancel`, `uncertain`.
    #[serde(default = "national")]
    pub kind: String,
    #[serde(default)]
    pub steps: Vec<String>,
    #[serde(default)]
    pub two_phase: bool,
    /// Scalars carry the envelope prefix (false for Guizhou 31).
    #[serde(default = "yes")]
    pub prefixed: bool,
    /// The row tag holding this transaction's lines.
    #[serde(default)]
    pub rows: String,
    #[serde(default)]
    pub rows_required: bool,
    #[serde(default)]
    pub require_one_of: Vec<Vec<String>>,
    #[serde(default)]
    pub call: BTreeMap<String, String>,
    #[serde(default)]
    pub routes: Vec<RouteDef>,
    #[serde(default)]
    pub fields: Vec<FieldDef>,
    #[serde(default)]
    pub row_fields: Vec<FieldDef>,
    #[serde(default)]
    pub defaults: Vec<DefaultDef>,
    #[serde(default)]
    pub carries: Vec<CarryDef>,
    /// Values taken from the outputs of the call this one reverses.
    #[serde(default)]
    pub lookups: Vec<CarryDef>,
    #[serde(default)]
    pub answer: Vec<AnswerFieldDef>,
    #[serde(default)]
    pub answer_rows: Option<AnswerRowsDef>,
    /// Source of `{ref}` in the answer template.
    #[serde(default)]
    pub ref_from: String,
    /// National values computed when decoding an answer of this dialect.
    #[serde(default)]
    pub answer_derived: Vec<DerivedDef>,
    /// The body of a refusal of this transaction (`{message}`), e.g. Guizhou 31's status row.
    #[serde(default)]
    pub error_body: String,
    #[serde(default)]
    pub note: String,
}

fn national() -> String {
    "national".into()
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteDef {
    pub field: String,
    pub values: Vec<String>,
    #[serde(rename = "use")]
    pub use_: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// Field key (`akc190`, `input/aac001`) or call argument (`arg:PersonNo`).
    pub legacy: String,
    /// Targets `step:/pointer`, `*` = each row.
    pub to: OneOrMany,
    #[serde(default)]
    pub required: bool,
    #[serde(rename = "type", default = "text")]
    pub kind: String,
    #[serde(default)]
    pub table: String,
    /// Longest value in characters (0: no limit beyond text_bytes_max).
    #[serde(default)]
    pub max_chars: usize,
}

fn text() -> String {
    "text".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultDef {
    pub to: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub copy: Option<String>,
    #[serde(default)]
    pub when: String,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarryDef {
    pub from: String,
    pub to: OneOrMany,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerFieldDef {
    pub legacy: String,
    /// Sources: `N:/pointer` (step N's output), `input:N:/pointer`, `row:/pointer`,
    /// `value:text`; several amounts are summed.
    #[serde(default)]
    pub from: OneOrMany,
    #[serde(rename = "type", default = "text")]
    pub kind: String,
    #[serde(default)]
    pub table: String,
    /// A national code not in the table: `refuse` (default), `empty`, `national`.
    #[serde(default)]
    pub on_unknown: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerRowsDef {
    /// The array of rows: `N:/pointer`.
    pub from: String,
    /// Around the rows: `{rows}`.
    #[serde(default = "rows_only")]
    pub container: String,
    pub fields: Vec<AnswerFieldDef>,
}

fn rows_only() -> String {
    "{rows}".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DerivedDef {
    pub to: String,
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub subtract: Vec<String>,
    pub reason: String,
}

/// A parsed, checked profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub(crate) def: ProfileDef,
    pub(crate) default_encoding: Encoding,
    pub(crate) allowed: Vec<Encoding>,
    pub(crate) date: DateFormat,
    pub(crate) datetime: DateFormat,
}

/// A step target `N:/pointer`.
pub(crate) fn split_target(s: &str) -> Option<(usize, &str)> {
    let (n, p) = s.split_once(':')?;
    let n = n.parse().ok()?;
    p.starts_with('/').then_some((n, p))
}

impl Profile {
    /// Parse and check a profile.
    pub fn from_toml(text: &str) -> Result<Profile, ProfileError> {
        let def: ProfileDef = toml::from_str(text).map_err(|e| ProfileError {
            profile: "?".into(),
            message: e.to_string(),
        })?;
        let name = def.name.clone();
        let err = |m: String| ProfileError {
            profile: name.clone(),
            message: m,
        };
        let enc =
            |l: &str| Encoding::from_label(l).ok_or_else(|| err(format!("unknown encoding `{l}`")));
        let default_encoding = enc(&def.encoding.default)?;
        let allowed = def
            .encoding
            .allowed
            .iter()
            .map(|l| enc(l))
            .collect::<Result<Vec<_>, _>>()?;
        if !allowed.contains(&default_encoding) {
            return Err(err("the default encoding is not allowed".into()));
        }
        let fmt = |f: &str| {
            DateFormat::parse_name(f).ok_or_else(|| err(format!("unknown date format `{f}`")))
        };
        let date = fmt(&def.formats.date)?;
        let datetime = fmt(&def.formats.datetime)?;
        let p = Profile {
            default_encoding,
            allowed,
            date,
            datetime,
            def,
        };
        p.check().map_err(err)?;
        Ok(p)
    }

    /// A built-in profile by name (`guizhou`, `shijiazhuang`, `yunnan`, `mohrss`). Parsed
    /// once per process; callers get a clone (hold it rather than calling this per request).
    pub fn builtin(name: &str) -> Option<Profile> {
        static PARSED: std::sync::OnceLock<Vec<Profile>> = std::sync::OnceLock::new();
        let all = PARSED.get_or_init(|| {
            BUILTIN
                .iter()
                .map(|(_, text)| {
                    Profile::from_toml(text).expect("a built-in profile parses (tested)")
                })
                .collect()
        });
        all.iter().find(|p| p.name() == name).cloned()
    }

    pub fn builtin_names() -> &'static [&'static str] {
        BUILTIN_NAMES
    }

    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// Whether `transaction` is served (entries with `@` are routing targets, not served).
    pub fn serves(&self, transaction: &str) -> bool {
        !transaction.contains('@') && self.def.transactions.contains_key(transaction)
    }

    /// The transactions served, sorted.
    pub fn transactions(&self) -> Vec<&str> {
        self.def
            .transactions
            .keys()
            .map(String::as_str)
            .filter(|t| !t.contains('@'))
            .collect()
    }

    /// Whether a transaction is provisional until confirmed (Yinhai two-phase commit).
    pub fn is_two_phase(&self, transaction: &str) -> bool {
        self.def
            .transactions
            .get(transaction)
            .is_some_and(|t| t.two_phase)
    }

    pub fn allows_gb18030_answers(&self) -> bool {
        self.def.encoding.gb18030_answers
    }

    /// The encoding assumed when a request declares none.
    pub fn default_encoding(&self) -> Encoding {
        self.default_encoding
    }

    /// The raw definition (for documentation tools).
    pub fn definition(&self) -> &ProfileDef {
        &self.def
    }

    /// Recode a legacy code through table `table` (legacy → national): the entry, or the
    /// [`LEG_RECODE`](crate::LEG_RECODE) refusal naming `field` and the table.
    pub fn recode(
        &self,
        table: &str,
        legacy: &str,
        field: &str,
    ) -> Result<&EntryDef, crate::LegacyError> {
        let unknown = || {
            crate::LegacyError::new(
                crate::LEG_RECODE,
                field,
                format!("table `{table}` does not exist"),
            )
        };
        let t = self.table(table).ok_or_else(unknown)?;
        let entry = t
            .entries
            .iter()
            .find(|e| !e.reverse_only && e.legacy == legacy)
            .ok_or_else(|| {
                crate::LegacyError::new(
                    crate::LEG_RECODE,
                    field,
                    format!("`{legacy}` is not in table {table} ({})", t.description),
                )
            })?;
        if !entry.refuse.is_empty() {
            return Err(crate::LegacyError::new(
                crate::LEG_RECODE,
                field,
                format!("`{legacy}` is refused by table {table}: {}", entry.refuse),
            ));
        }
        Ok(entry)
    }

    /// Recode a national code back through table `table` (national → legacy), if it has one.
    pub fn recode_back(&self, table: &str, national: &str) -> Option<&str> {
        self.table(table)?
            .entries
            .iter()
            .find(|e| !e.forward_only && e.refuse.is_empty() && e.national == national)
            .map(|e| e.legacy.as_str())
    }

    /// The names of the recode tables.
    pub fn tables(&self) -> Vec<&str> {
        self.def.tables.keys().map(String::as_str).collect()
    }

    pub(crate) fn tx(&self, key: &str) -> Option<&TransactionDef> {
        self.def.transactions.get(key)
    }

    pub(crate) fn table(&self, name: &str) -> Option<&TableDef> {
        self.def.tables.get(name)
    }

    /// Structural checks: every table, step, target and route referenced exists.
    fn check(&self) -> Result<(), String> {
        let d = &self.def;
        if !matches!(d.envelope.case.as_str(), "lower" | "upper") {
            return Err("envelope.case must be lower or upper".into());
        }
        if !matches!(d.envelope.values.as_str(), "elements" | "attributes") {
            return Err("envelope.values must be elements or attributes".into());
        }
        if !matches!(d.answer.status.as_str(), "out_of_band" | "in_document") {
            return Err("answer.status must be out_of_band or in_document".into());
        }
        if !matches!(d.answer.amount_decimals, 2 | 4) {
            return Err("answer.amount_decimals must be 2 or 4".into());
        }
        for (tname, table) in &d.tables {
            for e in &table.entries {
                if e.source.trim().is_empty() {
                    return Err(format!("table {tname}: entry {} has no source", e.legacy));
                }
                if e.refuse.is_empty() && e.national.is_empty() {
                    return Err(format!(
                        "table {tname}: entry {} has neither national nor refuse",
                        e.legacy
                    ));
                }
            }
        }
        for (key, tx) in &d.transactions {
            let at = |m: String| format!("transaction {key}: {m}");
            if !matches!(
                tx.kind.as_str(),
                "national" | "confirm" | "cancel" | "uncertain"
            ) {
                return Err(at(format!("unknown kind `{}`", tx.kind)));
            }
            if tx.kind == "national" && tx.steps.is_empty() && tx.routes.is_empty() {
                return Err(at("a national transaction needs steps".into()));
            }
            let n = tx.steps.len();
            let target = |t: &str| -> Result<(), String> {
                match split_target(t) {
                    Some((i, _)) if i < n => Ok(()),
                    _ => Err(at(format!(
                        "target `{t}` is not `step:/pointer` with step < {n}"
                    ))),
                }
            };
            for f in tx.fields.iter().chain(&tx.row_fields) {
                for t in f.to.list() {
                    target(t)?;
                }
                self.check_kind(&f.kind, &f.table).map_err(&at)?;
            }
            for df in &tx.defaults {
                target(&df.to)?;
                if df.value.is_none() == df.copy.is_none() {
                    return Err(at(format!("default {}: exactly one of value/copy", df.to)));
                }
                if let Some(c) = &df.copy {
                    target(c)?;
                }
            }
            for c in &tx.carries {
                target(&c.from)?;
                for t in c.to.list() {
                    target(t)?;
                }
            }
            for c in &tx.lookups {
                if split_target(&c.from).is_none() {
                    return Err(at(format!(
                        "lookup from `{}` is not `step:/pointer`",
                        c.from
                    )));
                }
                for t in c.to.list() {
                    target(t)?;
                }
            }
            for r in &tx.routes {
                if !d.transactions.contains_key(&r.use_) {
                    return Err(at(format!("route to unknown transaction `{}`", r.use_)));
                }
            }
            let answers = tx
                .answer
                .iter()
                .chain(tx.answer_rows.iter().flat_map(|r| r.fields.iter()));
            for a in answers {
                self.check_kind(&a.kind, &a.table).map_err(&at)?;
                if !matches!(a.on_unknown.as_str(), "" | "refuse" | "empty" | "national") {
                    return Err(at(format!(
                        "{}: on_unknown must be refuse, empty or national",
                        a.legacy
                    )));
                }
            }
        }
        Ok(())
    }

    fn check_kind(&self, kind: &str, table: &str) -> Result<(), String> {
        match kind {
            "text" | "amount" | "quantity" | "price" | "count" | "date" | "datetime" => Ok(()),
            "code" if self.def.tables.contains_key(table) => Ok(()),
            "code" => Err(format!("unknown table `{table}`")),
            other => Err(format!("unknown type `{other}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse() {
        for name in Profile::builtin_names() {
            let p = Profile::builtin(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(p.name(), *name);
        }
    }
}
