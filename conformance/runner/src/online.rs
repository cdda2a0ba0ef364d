//! Online mode: run the flows of `conformance/cases/online/` against a live national-interface
//! endpoint over mutual TLS (`medsettle-conformance run --target https://HOST:PORT …`).
//!
//! A flow is a directory `online/<NNN-name>/flow.toml` (not `case.toml`: the offline runner and
//! the hostile-corpus test read those) with ordered steps. Each step sends one request — a
//! national envelope built around an `input` template (fresh `msgid`, `inf_time` now), a raw
//! body, the exact bytes of an earlier step again, or a legacy-dialect XML call — and checks the
//! answer. Templates take `{{…}}` values: the target's data (`data.toml`: institution, fee
//! lines, limits), the person the flow was given (`--persons`), `{{now}}`, `{{today}}`,
//! `{{fresh_msgid}}`, `{{unique}}`, and values of earlier steps (`{{register.output.data.mdtrt_id}}`,
//! `{{register.msgid}}`, `{{settle48.jylsh}}`, `{{settle48.xml.prm_yka103}}`). The format is
//! documented in `conformance/README.md` ("Online flows").
//!
//! Requests go through the project's HIS client library (`medsettle_client`), the one the
//! demo and the end-to-end tests use.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use medsettle_client::his::{self, EnvelopeBuilder, HisConnection, Insured, Sender};
use serde::Deserialize;
use serde_json::Value;

use crate::report::{self, CaseResult, Report, Status, StepResult};
use crate::suite::Selection;

/// `flow.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowFile {
    pub description: String,
    /// The group the flow belongs to (`--suite`): `nhsa` or `legacy:<profile>`.
    #[serde(default = "nhsa")]
    pub suite: String,
    /// Rules the flow's accepted steps exercise (traceability: must pass).
    #[serde(default)]
    pub rules_exercised: Vec<String>,
    #[serde(default)]
    pub since: Option<String>,
    #[serde(default)]
    pub until: Option<String>,
    /// A failing flow that is not required is reported but does not fail the run.
    #[serde(default = "yes")]
    pub required: bool,
    /// The person the flow needs from the registry.
    #[serde(default)]
    pub person: PersonPick,
    /// The fee lines of `data.toml` the flow's `{{fee.N.…}}` and `{{fees.total}}` read
    /// (`outpatient`, `inpatient`).
    #[serde(default)]
    pub fees: Option<String>,
    pub step: Vec<StepSpec>,
}

fn nhsa() -> String {
    "nhsa".into()
}

fn yes() -> bool {
    true
}

/// Which person of the registry a flow takes (each flow gets one no other flow of the run has
/// taken).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonPick {
    /// `310` employees (with a personal account), `390` residents, …; any when absent.
    #[serde(default)]
    pub insutype: Option<String>,
}

/// One step of a flow.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// The step's name; later steps read its values as `{{name.…}}`.
    pub name: String,
    /// National: the transaction of the envelope built around `input`.
    #[serde(default)]
    pub infno: Option<String>,
    /// National: the JSON template of the envelope's `input`.
    #[serde(default)]
    pub input: Option<String>,
    /// National: envelope fields set after it is built (templates; `"@remove"` deletes one).
    #[serde(default)]
    pub envelope: BTreeMap<String, String>,
    /// A raw body template sent as is instead of an envelope.
    #[serde(default)]
    pub body: Option<String>,
    /// Send again exactly the bytes an earlier step sent.
    #[serde(default)]
    pub resend: Option<String>,
    /// Pad the envelope with an extra `padding` field to `limits.body_bytes_max` + 1 bytes.
    #[serde(default)]
    pub oversize: bool,
    /// The path (default: the national single endpoint, or `/legacy/<profile>/<legacy>`).
    #[serde(default)]
    pub path: Option<String>,
    /// `POST` (default) or `GET`.
    #[serde(default)]
    pub method: Option<String>,
    /// Legacy: the transaction of `/legacy/<profile>/<transaction>` (`48`, `confirm`).
    #[serde(default)]
    pub legacy: Option<String>,
    /// Legacy: the XML template of the call, encoded in `encoding` (default GBK).
    #[serde(default)]
    pub xml: Option<String>,
    #[serde(default)]
    pub encoding: Option<String>,
    /// Legacy: call arguments (`X-Legacy-Arg-*` headers).
    #[serde(default)]
    pub args: BTreeMap<String, String>,
    #[serde(default)]
    pub expect: Expect,
}

/// What a step's answer must be.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The HTTP status (default 200).
    #[serde(default)]
    pub status: Option<u16>,
    /// National `infcode` (legacy: `0` means `X-Legacy-Appcode` ≥ 0). Default 0 unless
    /// `refused`.
    #[serde(default)]
    pub infcode: Option<i64>,
    /// A refusal: `infcode` < 0 (legacy: appcode < 0).
    #[serde(default)]
    pub refused: bool,
    /// The rule id the refusal's `err_msg` (legacy: `X-Legacy-Appmsg`) must name.
    #[serde(default)]
    pub rule: Option<String>,
    /// Dotted path of the answer (`output.setlinfo.medfee_sumamt`, `output.setldetail.0.x`;
    /// legacy: `xml.prm_yka055`, `jylsh`) → the expected value (a template). Numbers compare as
    /// exact decimals.
    #[serde(default)]
    pub equals: BTreeMap<String, String>,
    /// Dotted paths that must hold a non-empty value.
    #[serde(default)]
    pub present: Vec<String>,
    /// The answer must be byte for byte the answer of that earlier step.
    #[serde(default)]
    pub same_as: Option<String>,
    /// Check the national answer with the request as an exchange against the field tables and
    /// settlement identities (`medsettle_nhsa`). Default: on for a national success.
    #[serde(default)]
    pub check_answer: Option<bool>,
}

/// A flow read from its directory.
#[derive(Debug, Clone)]
pub struct Flow {
    /// The directory name (`001-outpatient-visit`).
    pub name: String,
    pub dir: PathBuf,
    pub file: FlowFile,
}

/// Every flow under `dir` (directories holding `flow.toml`), sorted; none when `dir` is absent.
pub fn load_flows(dir: &Path) -> Result<Vec<Flow>, String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("flow.toml").is_file())
        .collect();
    dirs.sort();
    for d in dirs {
        let path = d.join("flow.toml");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: FlowFile =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut names = std::collections::BTreeSet::new();
        for s in &file.step {
            if !names.insert(s.name.as_str()) {
                return Err(format!("{}: step `{}` twice", path.display(), s.name));
            }
        }
        out.push(Flow {
            name: d
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            dir: d,
            file,
        });
    }
    Ok(out)
}

/// `data.toml`: what the flows need to know of the target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetData {
    pub institution: InstitutionData,
    #[serde(default)]
    pub limits: LimitsData,
    /// Fee lines by name (`outpatient`, `inpatient`), from the target's catalogue.
    #[serde(default)]
    pub fees: BTreeMap<String, Vec<FeeData>>,
    /// Further values for `{{data.KEY}}`.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstitutionData {
    /// `fixmedins_code` (overridden by `--institution`).
    pub code: String,
    pub name: String,
    /// `mdtrtarea_admvs`: the region of the place of treatment.
    pub admdvs: String,
    /// An institution the client certificate may not speak for (`GW-AUTH`).
    #[serde(default)]
    pub other_code: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsData {
    /// The target's largest accepted body, bytes.
    #[serde(default = "body_max")]
    pub body_bytes_max: usize,
}

impl Default for LimitsData {
    fn default() -> LimitsData {
        LimitsData {
            body_bytes_max: body_max(),
        }
    }
}

fn body_max() -> usize {
    1_048_576
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeData {
    /// `med_list_codg` of the target's catalogue.
    pub code: String,
    pub units: u32,
    /// Unit price, yuan with two decimals (`"18.50"`).
    pub price: String,
}

/// How to reach the target and what to run.
#[derive(Debug, Clone)]
pub struct OnlineConfig {
    /// `https://HOST:PORT`.
    pub target: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    /// `conformance/cases/online` (flows and the default `data.toml`).
    pub flows_dir: PathBuf,
    /// `data.toml` (default: `flows_dir/data.toml`).
    pub data: Option<PathBuf>,
    /// `--institution`: overrides `institution.code` of the data file.
    pub institution: Option<String>,
    /// `--persons`: a person registry (`[[person]]`, the format of `policy/persons.toml`).
    pub persons: Option<PathBuf>,
    /// `--interface-only`: check only what the national interface defines (infcode, output,
    /// field tables, identities); HTTP statuses other than 200 and rule ids named in `err_msg`
    /// (medsettle's) are not required.
    pub interface_only: bool,
    pub selection: Selection,
}

/// Fen from `"18.50"` (exact).
fn fen_of(text: &str) -> Result<i64, String> {
    medsettle_canonical::money::parse_scaled(text, 2)
        .map_err(|_| format!("`{text}` is not an amount in yuan with two decimals"))
}

fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:02}",
        fen.unsigned_abs() / 100,
        fen.unsigned_abs() % 100
    )
}

/// What a sent step left for later steps.
#[derive(Debug, Clone, Default)]
struct Done {
    sent: Vec<u8>,
    received: Bytes,
    msgid: Option<String>,
    answer: Option<Value>,
    legacy: Option<medsettle_client::legacy::LegacyReply>,
}

/// Render `{{…}}` placeholders. Unknown names are an error (a typo must not send `{{x}}`).
fn render(
    template: &str,
    vars: &BTreeMap<String, String>,
    done: &BTreeMap<String, Done>,
    b: &mut EnvelopeBuilder,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed {{{{ in `{template}`"))?;
        let name = after[..end].trim();
        let value = if name == "fresh_msgid" {
            b.next_msgid().0
        } else if name == "fresh_msgid_tail" {
            // yyyyMMddHHmmss + sequence, for a msgid of another institution code
            let id = b.next_msgid().0;
            id[id.len().saturating_sub(18)..].to_owned()
        } else if let Some(v) = vars.get(name) {
            v.clone()
        } else {
            lookup_done(name, done)?
        };
        out.push_str(&json_escape(&value));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A value placed in a JSON string needs `"` and `\` escaped (values are codes, ids, dates).
fn json_escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `step.msgid`, `step.output.data.mdtrt_id`, `step.jylsh`, `step.xml.prm_yka103`.
fn lookup_done(name: &str, done: &BTreeMap<String, Done>) -> Result<String, String> {
    let (step, path) = name
        .split_once('.')
        .ok_or_else(|| format!("unknown value `{{{{{name}}}}}`"))?;
    let d = done
        .get(step)
        .ok_or_else(|| format!("unknown value `{{{{{name}}}}}` (no earlier step `{step}`)"))?;
    answer_value(d, path)
        .map(|v| scalar_text(&v))
        .ok_or_else(|| format!("`{{{{{name}}}}}`: the answer of `{step}` has no `{path}`"))
}

/// A value of a step's answer by dotted path.
fn answer_value(d: &Done, path: &str) -> Option<Value> {
    if path == "msgid" {
        return d.msgid.clone().map(Value::String);
    }
    if let Some(r) = &d.legacy {
        return match path {
            "jylsh" => r.jylsh.clone().map(Value::String),
            "jyyzm" => r.jyyzm.clone().map(Value::String),
            "appcode" => Some(Value::from(r.appcode)),
            "appmsg" => Some(Value::String(r.appmsg.clone())),
            p => p
                .strip_prefix("xml.")
                .and_then(|tag| r.field(tag))
                .map(|s| Value::String(s.to_owned())),
        };
    }
    let mut v = d.answer.as_ref()?;
    for part in path.split('.') {
        v = match v {
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            Value::Object(m) => m.get(part)?,
            _ => return None,
        };
    }
    Some(v.clone())
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Exact decimal equality of two number texts, else text equality.
fn same_value(expected: &str, got: &Value) -> bool {
    let got_text = scalar_text(got);
    if got_text == expected {
        return true;
    }
    let dec = |t: &str| {
        [0u32, 2, 4, 6].iter().find_map(|s| {
            medsettle_canonical::money::parse_scaled(t, *s)
                .ok()
                .map(|v| (v, *s))
        })
    };
    match (dec(expected), dec(&got_text)) {
        (Some(_), Some(_)) => {
            // compare at 6 decimals
            let a = medsettle_canonical::money::parse_scaled(expected, 6);
            let b = medsettle_canonical::money::parse_scaled(&got_text, 6);
            a.is_ok() && a == b
        }
        _ => false,
    }
}

/// The numeric `infcode` of an answer (`None` when missing or not a number).
fn infcode_of(answer: &Value) -> Option<i64> {
    match &answer["infcode"] {
        Value::String(s) => s.trim().parse().ok(),
        v => v.as_i64(),
    }
}

struct Runner {
    cfg: OnlineConfig,
    addr: SocketAddr,
    tls: Arc<medsettle_client::TlsConfig>,
    data: TargetData,
    persons: Vec<Insured>,
    taken: Vec<bool>,
    builder: EnvelopeBuilder,
    run_stamp: u64,
}

/// Now in China (the interface's clock).
fn china_now() -> time::PrimitiveDateTime {
    let now = time::OffsetDateTime::now_utc()
        .to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC));
    time::PrimitiveDateTime::new(
        now.date(),
        now.time().replace_nanosecond(0).unwrap_or(now.time()),
    )
}

use medsettle_client::his::datetime_text;

/// Resolve `https://HOST:PORT`.
pub fn resolve_target(target: &str) -> Result<SocketAddr, String> {
    let hostport = target
        .strip_prefix("https://")
        .ok_or_else(|| format!("--target `{target}` must be https://HOST:PORT"))?
        .trim_end_matches('/');
    hostport
        .to_socket_addrs()
        .map_err(|e| format!("--target {target}: {e}"))?
        .next()
        .ok_or_else(|| format!("--target {target}: no address"))
}

/// Run the online flows against the target; a report naming the suite version.
pub fn run_online(cfg: OnlineConfig) -> Result<Report, String> {
    let info = crate::suite::suite_info(&cfg.flows_dir)?;
    let addr = resolve_target(&cfg.target)?;
    let tls = his::client_tls(&cfg.ca, &cfg.cert, &cfg.key).map_err(|e| format!("{e:#}"))?;
    let data_path = cfg
        .data
        .clone()
        .unwrap_or_else(|| cfg.flows_dir.join("data.toml"));
    let text =
        std::fs::read_to_string(&data_path).map_err(|e| format!("{}: {e}", data_path.display()))?;
    let mut data: TargetData =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", data_path.display()))?;
    if let Some(code) = &cfg.institution {
        data.institution.code = code.clone();
    }
    let persons = match &cfg.persons {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            his::insured_from_registry(&text).map_err(|e| format!("{}: {e:#}", p.display()))?
        }
        None => Vec::new(),
    };
    let flows = load_flows(&cfg.flows_dir)?;
    // Start on a fresh second: msgids are institution + the run's start second + a sequence,
    // so two runs against the same target never share one (a shared msgid with another body
    // would be a conflict).
    let nanos = time::OffsetDateTime::now_utc().nanosecond();
    std::thread::sleep(std::time::Duration::from_nanos(u64::from(
        1_000_000_000 - nanos.min(999_999_999),
    )));
    let now = china_now();
    let sender = Sender {
        fixmedins_code: data.institution.code.clone(),
        fixmedins_name: data.institution.name.clone(),
        mdtrtarea_admvs: data.institution.admdvs.clone(),
    };
    let started = datetime_text(now);
    let run_stamp = (now.assume_utc().unix_timestamp() as u64) % 100_000_000;
    let mut runner = Runner {
        taken: vec![false; persons.len()],
        persons,
        addr,
        tls,
        data,
        builder: EnvelopeBuilder::new(sender, now),
        run_stamp,
        cfg,
    };
    let mut report = Report::new(
        "medsettle conformance (online)",
        &runner.cfg.selection.version.to_string(),
        &info.interface,
    );
    report.target = Some(runner.cfg.target.clone());
    report.started = Some(format!("{started} +08:00"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    for (i, flow) in flows.iter().enumerate() {
        let name = format!("online/{}", flow.name);
        let f = &flow.file;
        let mut rules = f.rules_exercised.clone();
        rules.extend(f.step.iter().filter_map(|s| s.expect.rule.clone()));
        rules.sort();
        rules.dedup();
        let sel = &runner.cfg.selection;
        if !sel.wants_group(&f.suite) || !sel.wants(&name, &rules) {
            continue;
        }
        if let Some(why) = sel.version_skip(f.since.as_deref(), f.until.as_deref()) {
            let mut r = CaseResult::skipped(&name, &f.suite, &why);
            r.description = f.description.clone();
            r.rules = rules;
            report.cases.push(r);
            continue;
        }
        let t0 = Instant::now();
        let mut r = rt.block_on(runner.run_flow(i, &name, f));
        r.description = f.description.clone();
        r.rules = rules;
        r.required = f.required;
        r.duration_ms = t0.elapsed().as_millis() as u64;
        report.cases.push(r);
    }
    if report.cases.is_empty() {
        report.cases.push(CaseResult::failed(
            "online",
            "suite",
            "no online flows found (or none selected)",
        ));
    }
    Ok(report)
}

/// One failed expectation.
struct Miss {
    message: String,
    rule: Option<String>,
    expected: String,
    diff: String,
}

impl Miss {
    fn new(message: impl Into<String>) -> Miss {
        Miss {
            message: message.into(),
            rule: None,
            expected: String::new(),
            diff: String::new(),
        }
    }
}

impl Runner {
    fn pick_person(&mut self, pick: &PersonPick) -> Option<Insured> {
        let i = (0..self.persons.len()).find(|&i| {
            !self.taken[i]
                && pick
                    .insutype
                    .as_ref()
                    .is_none_or(|t| &self.persons[i].insutype == t)
        })?;
        self.taken[i] = true;
        Some(self.persons[i].clone())
    }

    /// The template values of a flow.
    fn vars(&mut self, index: usize, f: &FlowFile) -> Result<BTreeMap<String, String>, String> {
        let mut v = BTreeMap::new();
        let now = china_now();
        v.insert("now".into(), datetime_text(now));
        v.insert("today".into(), datetime_text(now)[..10].to_owned());
        v.insert(
            "unique".into(),
            format!("{:08}{:02}", self.run_stamp, index % 100),
        );
        let inst = &self.data.institution;
        v.insert("institution.code".into(), inst.code.clone());
        v.insert("institution.name".into(), inst.name.clone());
        v.insert("institution.admdvs".into(), inst.admdvs.clone());
        if let Some(o) = &inst.other_code {
            v.insert("institution.other_code".into(), o.clone());
        }
        v.insert(
            "limits.body_bytes_max".into(),
            self.data.limits.body_bytes_max.to_string(),
        );
        for (k, val) in &self.data.values {
            v.insert(format!("data.{k}"), val.clone());
        }
        let needs_person = f.step.iter().any(|s| {
            [&s.input, &s.body, &s.xml]
                .iter()
                .any(|t| t.as_deref().is_some_and(|t| t.contains("{{person.")))
        });
        if needs_person {
            let p = self.pick_person(&f.person).ok_or_else(|| {
                format!(
                    "no unused person{} in --persons (each flow takes its own)",
                    f.person
                        .insutype
                        .as_deref()
                        .map(|t| format!(" of insutype {t}"))
                        .unwrap_or_default()
                )
            })?;
            v.insert("person.psn_no".into(), p.psn_no);
            v.insert("person.certno".into(), p.certno);
            v.insert("person.insutype".into(), p.insutype);
            v.insert("person.insuplc_admdvs".into(), p.insuplc_admdvs);
        }
        if let Some(list) = &f.fees {
            let lines = self
                .data
                .fees
                .get(list)
                .ok_or_else(|| format!("data.toml has no [[fees.{list}]] lines"))?;
            let mut total = 0i64;
            for (i, l) in lines.iter().enumerate() {
                let n = i + 1;
                let price = fen_of(&l.price)?;
                let amount = price * i64::from(l.units);
                total += amount;
                v.insert(format!("fee.{n}.code"), l.code.clone());
                v.insert(format!("fee.{n}.units"), l.units.to_string());
                v.insert(format!("fee.{n}.price"), yuan(price));
                v.insert(format!("fee.{n}.amount"), yuan(amount));
            }
            v.insert("fees.total".into(), yuan(total));
        }
        Ok(v)
    }

    async fn connect(&self) -> Result<HisConnection, String> {
        HisConnection::connect(self.addr, self.tls.clone())
            .await
            .map_err(|e| format!("{e:#}"))
    }

    async fn run_flow(&mut self, index: usize, name: &str, f: &FlowFile) -> CaseResult {
        let vars = match self.vars(index, f) {
            Ok(v) => v,
            Err(e) => {
                let mut r = CaseResult::failed(name, &f.suite, &format!("flow data: {e}"));
                r.expected = "the flow's data (data.toml, --persons)".into();
                return r;
            }
        };
        let mut done: BTreeMap<String, Done> = BTreeMap::new();
        let mut steps: Vec<StepResult> = Vec::new();
        let mut conn: Option<HisConnection> = None;
        let mut failure: Option<(usize, Miss)> = None;
        for spec in &f.step {
            let (step, miss) = self.run_step(f, spec, &vars, &mut done, &mut conn).await;
            steps.push(step);
            if let Some(m) = miss {
                failure = Some((steps.len() - 1, m));
                break;
            }
        }
        // steps after a failure are not sent (they depend on it)
        for spec in f.step.iter().skip(steps.len()) {
            steps.push(StepResult {
                name: spec.name.clone(),
                status: Status::Skipped,
                sent: String::new(),
                received: String::new(),
                message: "not sent: an earlier step failed".into(),
            });
        }
        match failure {
            None => {
                let mut r = CaseResult::passed(name, &f.suite);
                if let Some(last) = steps.iter().rev().find(|s| s.status == Status::Passed) {
                    r.sent = last.sent.clone();
                    r.received = last.received.clone();
                }
                r.steps = steps;
                r
            }
            Some((i, m)) => {
                let s = &steps[i];
                let mut r = CaseResult::failed(
                    name,
                    &f.suite,
                    &format!("step {} ({}): {}", i + 1, s.name, m.message),
                );
                r.sent = s.sent.clone();
                r.received = s.received.clone();
                r.expected = m.expected;
                r.diff = m.diff;
                r.failed_rule = m.rule;
                r.steps = steps;
                r
            }
        }
    }

    /// Build, send and check one step.
    async fn run_step(
        &mut self,
        f: &FlowFile,
        spec: &StepSpec,
        vars: &BTreeMap<String, String>,
        done: &mut BTreeMap<String, Done>,
        conn: &mut Option<HisConnection>,
    ) -> (StepResult, Option<Miss>) {
        let mut step = StepResult {
            name: spec.name.clone(),
            status: Status::Failed,
            sent: String::new(),
            received: String::new(),
            message: String::new(),
        };
        let fail = |mut step: StepResult, m: Miss| {
            step.message = m.message.clone();
            (step, Some(m))
        };
        // what to send
        let built = self.build(f, spec, vars, done);
        let (path, body, msgid, legacy) = match built {
            Ok(b) => b,
            Err(e) => return fail(step, Miss::new(format!("cannot build the request: {e}"))),
        };
        let method = spec
            .method
            .as_deref()
            .unwrap_or("POST")
            .to_ascii_uppercase();
        step.sent = format!("{method} {path}\n\n{}", crate::text_of(&body));
        if conn.is_none() {
            match self.connect().await {
                Ok(c) => *conn = Some(c),
                Err(e) => return fail(step, Miss::new(format!("cannot connect: {e}"))),
            }
        }
        let Some(c) = conn.as_mut() else {
            return fail(step, Miss::new("no connection"));
        };
        // send
        let mut d = Done {
            sent: body.clone(),
            msgid,
            ..Done::default()
        };
        let status;
        if let Some((profile, tx, args)) = legacy {
            let args: Vec<(&str, &str)> =
                args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            match medsettle_client::legacy::call(c, &profile, &tx, &args, body).await {
                Ok(reply) => {
                    status = reply.status;
                    step.received = format!(
                        "HTTP {}\nX-Legacy-Appcode: {}\nX-Legacy-Appmsg: {}{}{}\n\n{}",
                        reply.status,
                        reply.appcode,
                        reply.appmsg,
                        reply
                            .jylsh
                            .as_deref()
                            .map(|j| format!("\nX-Legacy-Jylsh: {j}"))
                            .unwrap_or_default(),
                        reply
                            .jyyzm
                            .as_deref()
                            .map(|j| format!("\nX-Legacy-Jyyzm: {j}"))
                            .unwrap_or_default(),
                        crate::cut(reply.xml.clone())
                    );
                    d.received = Bytes::from(reply.xml.clone().into_bytes());
                    d.legacy = Some(reply);
                }
                Err(e) => {
                    *conn = None;
                    return fail(step, Miss::new(format!("no answer: {e:#}")));
                }
            }
        } else {
            // 429 (rate) and 503 (not writable): resend the same bytes after a pause, as a
            // well-behaved HIS does (safe: the msgid makes it idempotent)
            let mut attempt = 0u64;
            let sent = loop {
                let r = if method == "GET" {
                    c.get(&path).await
                } else {
                    c.post(&path, Bytes::from(body.clone())).await
                };
                attempt += 1;
                match r {
                    Ok((429 | 503, _)) if attempt < his::RETRY_ATTEMPTS_MAX => {
                        tokio::time::sleep(std::time::Duration::from_millis(
                            his::RETRY_BACKOFF_MS * attempt,
                        ))
                        .await;
                    }
                    other => break other,
                }
            };
            match sent {
                Ok((s, bytes)) => {
                    status = s;
                    step.received = format!("HTTP {s}\n\n{}", crate::text_of(&bytes));
                    d.answer = serde_json::from_slice(&bytes).ok();
                    d.received = bytes;
                }
                Err(e) => {
                    *conn = None;
                    return fail(step, Miss::new(format!("no answer: {e:#}")));
                }
            }
        }
        let miss = self.check(spec, &d, status, vars, done);
        // a refused request may close the connection (e.g. a body over the limit)
        if status >= 400 {
            *conn = None;
        }
        done.insert(spec.name.clone(), d);
        match miss {
            None => {
                step.status = Status::Passed;
                (step, None)
            }
            Some(m) => fail(step, m),
        }
    }

    /// The path, body, msgid and (legacy) call of a step.
    #[allow(clippy::type_complexity)]
    fn build(
        &mut self,
        f: &FlowFile,
        spec: &StepSpec,
        vars: &BTreeMap<String, String>,
        done: &BTreeMap<String, Done>,
    ) -> Result<
        (
            String,
            Vec<u8>,
            Option<String>,
            Option<(String, String, Vec<(String, String)>)>,
        ),
        String,
    > {
        let b = &mut self.builder;
        let national = spec
            .path
            .clone()
            .unwrap_or_else(|| his::CALL_SERVICE_PATH.to_owned());
        if let Some(from) = &spec.resend {
            let d = done
                .get(from)
                .ok_or_else(|| format!("resend: no earlier step `{from}`"))?;
            return Ok((national, d.sent.clone(), d.msgid.clone(), None));
        }
        if let Some(tx) = &spec.legacy {
            let profile = f
                .suite
                .strip_prefix("legacy:")
                .ok_or("a legacy step needs suite = \"legacy:<profile>\"")?
                .to_owned();
            let xml = render(
                spec.xml.as_deref().ok_or("a legacy step needs `xml`")?,
                vars,
                done,
                b,
            )?;
            let label = spec.encoding.as_deref().unwrap_or("GBK");
            let enc = encoding_rs::Encoding::for_label(label.as_bytes())
                .ok_or_else(|| format!("unknown encoding {label}"))?;
            let (bytes, _, unmappable) = enc.encode(&xml);
            if unmappable {
                return Err(format!("{label} cannot hold the XML"));
            }
            let mut args = Vec::new();
            for (k, v) in &spec.args {
                args.push((k.clone(), render(v, vars, done, b)?));
            }
            let path = spec
                .path
                .clone()
                .unwrap_or_else(|| format!("/legacy/{profile}/{tx}"));
            return Ok((
                path,
                bytes.into_owned(),
                None,
                Some((profile, tx.clone(), args)),
            ));
        }
        if let Some(t) = &spec.body {
            let body = render(t, vars, done, b)?;
            return Ok((national, body.into_bytes(), None, None));
        }
        let infno = spec
            .infno
            .as_deref()
            .ok_or("a step needs infno, body, resend or legacy")?;
        let input_text = render(spec.input.as_deref().unwrap_or("{}"), vars, done, b)?;
        let input: Value = serde_json::from_str(&input_text)
            .map_err(|e| format!("input is not JSON after rendering ({e}): {input_text}"))?;
        let insuplc = vars
            .get("person.insuplc_admdvs")
            .cloned()
            .unwrap_or_else(|| self.data.institution.admdvs.clone());
        let mut env = b.envelope(infno, &insuplc, input);
        for (k, t) in &spec.envelope {
            let v = render(t, vars, done, b)?;
            if v == "@remove" {
                if let Some(m) = env.as_object_mut() {
                    m.remove(k);
                }
            } else {
                env[k.as_str()] = Value::String(v);
            }
        }
        let msgid = env["msgid"].as_str().map(str::to_owned);
        let mut body = serde_json::to_vec(&env).map_err(|e| e.to_string())?;
        if spec.oversize {
            let want = self.data.limits.body_bytes_max + 1;
            // `,"padding":"…"}` replaces the closing brace
            let overhead = ",\"padding\":\"\"}".len();
            let fill = want.saturating_sub(body.len() - 1 + overhead).max(1);
            body.pop();
            body.extend_from_slice(b",\"padding\":\"");
            body.extend(std::iter::repeat_n(b'x', fill));
            body.extend_from_slice(b"\"}");
        }
        Ok((national, body, msgid, None))
    }

    /// Check an answer against the step's expectations; the first miss.
    fn check(
        &mut self,
        spec: &StepSpec,
        d: &Done,
        status: u16,
        vars: &BTreeMap<String, String>,
        done: &BTreeMap<String, Done>,
    ) -> Option<Miss> {
        let e = &spec.expect;
        let strict = !self.cfg.interface_only;
        let want_status = e.status.unwrap_or(200);
        if (strict || want_status == 200) && status != want_status {
            let mut m = Miss::new(format!("HTTP {status}, expected {want_status}"));
            m.expected = format!("HTTP {want_status}");
            m.rule = e.rule.clone();
            return Some(m);
        }
        // the verdict: infcode (national) or appcode (legacy)
        let (code, err_msg) = match (&d.legacy, &d.answer) {
            (Some(r), _) => (Some(if r.appcode >= 0 { 0 } else { -1 }), r.appmsg.clone()),
            (None, Some(a)) => (
                infcode_of(a),
                a["err_msg"].as_str().unwrap_or_default().to_owned(),
            ),
            (None, None) => {
                if e.same_as.is_none() {
                    return Some(Miss::new("the answer is not JSON"));
                }
                (None, String::new())
            }
        };
        let refused = e.refused || e.infcode.is_some_and(|c| c < 0);
        if refused {
            if code.is_none_or(|c| c >= 0) {
                let mut m = Miss::new(format!(
                    "expected a refusal{}, got infcode {}",
                    e.rule
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default(),
                    code.map_or("none".into(), |c| c.to_string())
                ));
                m.rule = e.rule.clone();
                m.expected = "infcode < 0".into();
                return Some(m);
            }
            if let (Some(want), Some(got)) = (e.infcode, code)
                && d.legacy.is_none()
                && want != got
            {
                return Some(Miss::new(format!("infcode {got}, expected {want}")));
            }
        } else if e.same_as.is_none() || e.infcode.is_some() {
            let want = e.infcode.unwrap_or(0);
            if code != Some(want) {
                let mut m = Miss::new(format!(
                    "infcode {}, expected {want}: {err_msg}",
                    code.map_or("none".into(), |c| c.to_string())
                ));
                // the rule the target named, if any
                m.rule = rule_in(&err_msg);
                m.expected = format!("infcode {want}");
                return Some(m);
            }
        }
        if let Some(rule) = &e.rule
            && strict
            && !err_msg.contains(rule.as_str())
        {
            let mut m = Miss::new(format!("the refusal does not name {rule}: {err_msg}"));
            m.rule = Some(rule.clone());
            m.expected = format!("err_msg naming {rule}");
            return Some(m);
        }
        if let Some(other) = &e.same_as {
            let Some(o) = done.get(other) else {
                return Some(Miss::new(format!("same_as: no earlier step `{other}`")));
            };
            if o.received != d.received {
                let a = report::pretty(&String::from_utf8_lossy(&o.received));
                let b = report::pretty(&String::from_utf8_lossy(&d.received));
                let mut m = Miss::new(format!(
                    "the answer is not byte for byte the answer of `{other}`"
                ));
                m.rule = Some("GW-IDEMPOTENCY".into());
                m.diff = report::line_diff(&a, &b);
                m.expected = a;
                return Some(m);
            }
        }
        let mut b = EnvelopeBuilder::new(self.builder.sender.clone(), self.builder.base);
        for (path, t) in &e.equals {
            let want = match render(t, vars, done, &mut b) {
                Ok(w) => w,
                Err(err) => return Some(Miss::new(format!("equals {path}: {err}"))),
            };
            match answer_value(d, path) {
                Some(got) if same_value(&want, &got) => {}
                got => {
                    let got_text = got.as_ref().map_or("(missing)".into(), scalar_text);
                    let mut m = Miss::new(format!("{path} = {got_text}, expected {want}"));
                    m.expected = format!("{path} = {want}");
                    m.diff = format!("- {path} = {want}\n+ {path} = {got_text}\n");
                    return Some(m);
                }
            }
        }
        for path in &e.present {
            match answer_value(d, path) {
                Some(v) if !scalar_text(&v).is_empty() => {}
                _ => {
                    let mut m = Miss::new(format!("{path} is missing or empty"));
                    m.expected = format!("{path} present");
                    return Some(m);
                }
            }
        }
        let national_success = d.legacy.is_none() && code == Some(0) && !refused;
        if e.check_answer.unwrap_or(national_success)
            && d.legacy.is_none()
            && let Some(m) = check_exchange(&d.sent, &d.received)
        {
            return Some(m);
        }
        None
    }
}

/// The first `[RULE-ID]` of an error message.
fn rule_in(msg: &str) -> Option<String> {
    let start = msg.find('[')?;
    let end = msg[start..].find(']')? + start;
    let r = &msg[start + 1..end];
    (!r.is_empty()
        && r.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'))
    .then(|| r.to_owned())
}

/// The request and the answer as one exchange through the national adapter: field tables of
/// the answer, the pairing, and the settlement identities.
fn check_exchange(sent: &[u8], received: &[u8]) -> Option<Miss> {
    let (Ok(request), Ok(response)) = (
        serde_json::from_slice::<Value>(sent),
        serde_json::from_slice::<Value>(received),
    ) else {
        return Some(Miss::new("the request or the answer is not JSON"));
    };
    let exchange = serde_json::json!({"request": request, "response": response});
    let bytes = serde_json::to_vec(&exchange).ok()?;
    match medsettle_nhsa::decode(&bytes, &medsettle_nhsa::Options::default()) {
        Ok(_) => None,
        Err(e) => {
            let list: Vec<String> = e
                .violations
                .iter()
                .map(|v| format!("[{}] {}", v.rule.0, v.path))
                .collect();
            let mut m = Miss::new(format!(
                "the answer breaks the national interface: {}",
                list.join("; ")
            ));
            m.rule = e.violations.first().map(|v| v.rule.0.to_owned());
            m.expected = "an answer that passes the field tables and identities".into();
            m.diff = list.iter().map(|l| format!("+ {l}\n")).collect();
            Some(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_values() {
        let sender = Sender {
            fixmedins_code: "H44030000001".into(),
            fixmedins_name: "x".into(),
            mdtrtarea_admvs: "440300".into(),
        };
        let mut b = EnvelopeBuilder::new(sender, china_now());
        let mut vars = BTreeMap::new();
        vars.insert("a".to_owned(), "1\"2".to_owned());
        let mut done = BTreeMap::new();
        done.insert(
            "reg".to_owned(),
            Done {
                answer: Some(
                    serde_json::from_str(
                        r#"{"output": {"data": {"mdtrt_id": "M1"}, "l": [{"x": 2.50}]}}"#,
                    )
                    .unwrap(),
                ),
                msgid: Some("H1".into()),
                ..Done::default()
            },
        );
        let out = render(
            "{{a}} {{reg.output.data.mdtrt_id}} {{reg.msgid}} {{reg.output.l.0.x}} {{fresh_msgid}}",
            &vars,
            &done,
            &mut b,
        )
        .unwrap();
        assert!(out.starts_with("1\\\"2 M1 H1 2.50 H44030000001"), "{out}");
        assert!(render("{{nope}}", &vars, &done, &mut b).is_err());
        assert!(render("{{reg.output.none}}", &vars, &done, &mut b).is_err());
        assert!(same_value("2.5", &serde_json::json!(2.50)));
        assert!(same_value("-12.00", &Value::String("-12".into())));
        assert!(!same_value("2.51", &serde_json::json!(2.5)));
        assert_eq!(rule_in("[GW-AUTH] x"), Some("GW-AUTH".into()));
        assert_eq!(yuan(-5), "-0.05");
    }

    #[test]
    fn bundled_flows_load() {
        let flows = load_flows(&crate::bundled_cases_dir().join("online")).unwrap();
        assert!(flows.len() >= 7, "{} flows", flows.len());
    }
}
