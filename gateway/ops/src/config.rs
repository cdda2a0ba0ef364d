//! `medsettle.toml`: one file configures the whole gateway. A raw serde struct with
//! `deny_unknown_fields` (every field documented with its default), then `load` resolves paths
//! against the file's directory and validates, explaining what is wrong.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use medsettle_canonical::{Admdvs, BankAccount, Institution};
use medsettle_server::ServerConfig;
use medsettle_store::{Durability, StoreConfig};
use serde::{Deserialize, Serialize};

use crate::error::BadInput;

/// Default JSON nesting limit of national envelopes (`json_depth_max`).
pub const JSON_DEPTH_MAX_DEFAULT: usize = medsettle_nhsa::JSON_DEPTH_MAX_DEFAULT;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Directory for the journal and everything the gateway writes. Default `data`.
    #[serde(default = "data_dir_default")]
    pub data_dir: PathBuf,
    pub gateway: GatewaySection,
    #[serde(default)]
    pub store: StoreSection,
    pub core: CoreSection,
    pub settlement: SettlementSection,
    #[serde(default)]
    pub bank: BankSection,
    /// Pool regions whose settlements are forwarded upstream instead of settled by the
    /// embedded core. Default none.
    #[serde(default)]
    pub forward: Vec<ForwardSection>,
    /// Other regions' gateways that settle the persons they insure (cross-region exchange,
    /// `specs/interregion.md`). Default none.
    #[serde(default)]
    pub peer: Vec<PeerSection>,
    pub server: ServerConfig,
    /// The operator's client certificate: operator commands present it to the gateway running
    /// on this configuration. Default none (commands then need the gateway stopped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<OperatorSection>,
    /// The legacy provincial dialects served under `/legacy/` (`specs/legacy.md`). Default:
    /// every built-in profile, with the default limits and confirm window.
    #[serde(default)]
    pub legacy: LegacySection,
}

/// `[legacy]`: which dialects the gateway serves, their limits, the two-phase window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacySection {
    /// Built-in profiles served (`guizhou`, `shijiazhuang`, `yunnan`, `mohrss`). Default all;
    /// `[]` serves none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profiles: Option<Vec<String>>,
    /// Further profiles: TOML files in the format of `specs/legacy/README.md`, relative to
    /// this file. Default none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profile_files: Vec<PathBuf>,
    /// Seconds a two-phase call (Guizhou 41, 48) may wait for its confirm before the gateway
    /// cancels it. Default 1800.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_window_secs: Option<u64>,
    /// Largest legacy body, bytes. Default the adapter's `BODY_BYTES_MAX`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_bytes_max: Option<usize>,
    /// Deepest XML nesting. Default the adapter's `DEPTH_MAX`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth_max: Option<usize>,
    /// Most attributes on one element. Default the adapter's `ATTRIBUTES_MAX`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes_max: Option<usize>,
    /// Most rows in one call. Default the adapter's `ROWS_MAX`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_max: Option<usize>,
    /// Longest text of one element or attribute, bytes. Default the adapter's `TEXT_BYTES_MAX`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_bytes_max: Option<usize>,
}

/// Shortest confirm window accepted, seconds: a HIS needs time to write its own database.
pub const CONFIRM_WINDOW_SECS_MIN: u64 = 10;
/// Longest confirm window accepted, seconds (a day): an undecided settlement holds the
/// person's accumulators and the institution's money.
pub const CONFIRM_WINDOW_SECS_MAX: u64 = 86_400;

/// Where the operator commands find their certificate to talk to a running gateway.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorSection {
    /// The operator's certificate (PEM), registered in `[[server.clients]]` with role operator.
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The CA that signed the gateway's server certificate (PEM).
    pub ca: PathBuf,
}

/// How `serve` writes its log lines (standard error).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, with colours when standard error is a terminal, plain otherwise.
    #[default]
    Auto,
    /// Human-readable, never colours.
    Text,
    /// One JSON object per line.
    Json,
}

/// One pool region answered by a remote national-interface endpoint (F3 forwarding).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardSection {
    /// Insured-place region codes (`insuplc_admdvs`) this upstream settles: a 6-digit code,
    /// or a 2- or 4-digit prefix for a whole province or city. Required, at least one.
    pub admdvs: Vec<String>,
    /// The upstream endpoint: URL, CA, optional client certificate and x-tif credentials,
    /// timeouts (gateway/server/src/upstream.rs documents every field).
    pub upstream: medsettle_server::upstream::UpstreamConfig,
    /// In-doubt handling: which transactions, 2601 retries and backoff. Default settings.
    #[serde(default)]
    pub settings: medsettle_service::ForwardSettings,
}

/// One peer region's gateway (`[[peer]]`): the insured places it settles and how to reach it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSection {
    /// A name for logs, markers and the operator (ASCII letters, digits, `-`, `_`). Required,
    /// unique.
    pub name: String,
    /// Insured-place regions (`insuplc_admdvs`) this peer settles: 6-digit codes or 2-/4-digit
    /// prefixes. Required, at least one; none may also be forwarded (`[[forward]]`).
    pub admdvs: Vec<String>,
    /// The peer's endpoint: `url` is its `/interregion/v1`, `path_style = "exact"`, the CA
    /// and, to pin it, `server_fingerprint_sha256`; this gateway's client certificate
    /// (`client_cert`, `client_key`), which the peer binds to this region.
    pub upstream: medsettle_server::upstream::UpstreamConfig,
    /// Deadline, backoff and resolution attempts. Default settings.
    #[serde(default)]
    pub settings: medsettle_service::interregion::PeerSettings,
    /// The peer province's finance account (省级财政专户) clearing transfers to it are paid
    /// into. Default none: this gateway then drops no payment file for that province.
    #[serde(default)]
    pub clearing_account: Option<BankAccount>,
}

fn data_dir_default() -> PathBuf {
    PathBuf::from("data")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// The agency's region: the first 6 digits of every `inf_refmsgid` it issues. Required.
    pub receiver_admdvs: String,
    /// Deepest JSON nesting accepted in an envelope. Default 32.
    #[serde(default = "json_depth_default")]
    pub json_depth_max: usize,
    /// Settlement identities that only warn instead of rejecting when an inbound record (an
    /// upstream's answer) is normalized — known provincial quirks, e.g. `["NHSA-ID-2"]`.
    /// Default none. Answers of the embedded core always satisfy every identity.
    #[serde(default)]
    pub identity_warn_only: Vec<String>,
    /// How the gateway logs: `auto` (default: colours on a terminal, plain text otherwise),
    /// `text` or `json`. `--log-format` overrides it.
    #[serde(default)]
    pub log_format: LogFormat,
}

fn json_depth_default() -> usize {
    JSON_DEPTH_MAX_DEFAULT
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `fsync` (default: flush and fdatasync before acknowledging), `flush` (sled flush only)
    /// or `none` (benchmarks only: acknowledges before anything is on disk).
    #[serde(default)]
    pub durability: Option<String>,
    /// Largest journal record, bytes. Default 128 MiB (`RECORD_BYTES_MAX_DEFAULT`): a
    /// 100,000-payment bank batch journals about 59 MB in one record (BENCHMARKS.md, issue 6).
    /// At least 1024; lower it only if batches and receipt files stay small.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_bytes_max: Option<usize>,
    /// Group-commit linger, µs (`FLUSH_LINGER_US_DEFAULT`, at most 20,000): under concurrent
    /// load the flusher waits this long for more writes before a flush; a lone writer never
    /// waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_linger_us: Option<u64>,
    /// Pending writes that end the linger early (`FLUSH_BATCH_TARGET_DEFAULT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_batch_target: Option<u64>,
    /// Free space below which the journal refuses writes (503, `/readyz` not ready) so that
    /// sled never meets a full disk, bytes (`DISK_FREE_BYTES_MIN_DEFAULT`, 64 MiB); 0 turns
    /// the guard off. `RELIABILITY.md`, "Faults".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_free_bytes_min: Option<u64>,
    /// Keep the record index the console's message browser searches (institution, msgid,
    /// transaction, person, visit, settlement, time). Default true. It takes half as much disk
    /// again as the journal (`BENCHMARKS.md`, "Message browser"); off, the browser says it
    /// cannot search. Turning it back on indexes what was appended meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_index: Option<bool>,
    /// Write each record's index entries inside its append, before it is acknowledged (about
    /// 65 µs more server CPU per acknowledgement), instead of behind it. Default false: a
    /// background indexer writes them, yielding the CPU to acknowledgements while requests
    /// arrive, and the browser reads the records it has not reached yet directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_index_inline: Option<bool>,
    /// The background indexer's share of its time while requests arrive, percent (1–100).
    /// Default 10 (`INDEXER_BUSY_SHARE_PERCENT_DEFAULT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_index_busy_share_percent: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreSection {
    /// Benefit policy file (specs/policy/example.toml documents the format). Required.
    pub policy: PathBuf,
    /// Catalogue file (list code → fee category, level, shares, price cap). Required.
    pub catalogue: PathBuf,
    /// Person registry (who is insured, account balances). Required.
    pub persons: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementSection {
    /// Instant-settlement policy of the pool region. Required.
    pub policy: PathBuf,
    /// Designated institutions with levels, status and bank accounts. Required.
    pub institutions: PathBuf,
    /// Working-day calendar files, one per year; empty (default) = the embedded 2025–2026.
    #[serde(default)]
    pub calendar: Vec<PathBuf>,
    /// China time (HH:MM) at which `serve` closes the previous settlement day. Default none
    /// (closings run by `medsettle settle daily`).
    #[serde(default)]
    pub daily_close_at: Option<String>,
    /// `serve` warns (log and `medsettle_calendar_days_left`) once the calendar ends within
    /// this many days (`CALENDAR_WARN_DAYS_DEFAULT`, 60): the next year's file is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar_warn_days: Option<u32>,
    /// The agency's fund-expenditure account (基金支出户), the debtor of every payment.
    pub debtor: BankAccount,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankSection {
    /// Payment file format: `pain001` (default) or `gbk` (the delimited GBK profile).
    #[serde(default)]
    pub format: Option<String>,
    /// Delimited-format profile file (specs/bank/*.toml); default the embedded GBK profile.
    #[serde(default)]
    pub profile: Option<PathBuf>,
    /// How often the running gateway looks for receipt files in the inbox, ms
    /// (`INBOX_POLL_MS_DEFAULT`, 1000; at least `INBOX_POLL_MS_MIN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox_poll_ms: Option<u64>,
}

/// Default of `[bank] inbox_poll_ms`: how often the inbox watcher looks for receipt files.
pub const INBOX_POLL_MS_DEFAULT: u64 = 1_000;
/// Fastest inbox polling accepted, ms: each scan lists the inbox directory.
pub const INBOX_POLL_MS_MIN: u64 = 50;

/// The validated configuration, every path absolute.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub receiver_admdvs: Admdvs,
    pub json_depth_max: usize,
    pub identity_warn_only: Vec<String>,
    pub store: StoreConfig,
    pub core: CoreSection,
    pub settlement: SettlementSection,
    pub bank: BankSection,
    pub forward: Vec<ForwardSection>,
    pub peer: Vec<PeerSection>,
    pub server: ServerConfig,
    pub operator: Option<OperatorSection>,
    pub log_format: LogFormat,
    /// `[bank] inbox_poll_ms`, resolved.
    pub inbox_poll_ms: u64,
    /// `[legacy]`, resolved: the profiles loaded, the limits and the window checked.
    pub legacy: medsettle_service::LegacySettings,
}

/// Name of the file a running gateway writes into `data_dir` (its address and process id):
/// operator commands find it there ([`crate::remote`]).
pub const GATEWAY_FILE: &str = "gateway.json";

impl Config {
    /// Where the gateway running on this configuration says it listens.
    pub fn gateway_file(&self) -> PathBuf {
        self.data_dir.join(GATEWAY_FILE)
    }

    pub fn journal_dir(&self) -> PathBuf {
        self.data_dir.join("journal")
    }

    pub fn reports_dir(&self) -> PathBuf {
        self.data_dir.join("reports")
    }

    pub fn bank_dir(&self) -> PathBuf {
        self.data_dir.join("bank")
    }

    pub fn institutions(&self) -> Result<Vec<Institution>> {
        load_institutions(&self.settlement.institutions)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstitutionsFile {
    institution: Vec<Institution>,
}

/// Read an institutions file (`[[institution]]` entries in the canonical shape).
pub fn load_institutions(path: &Path) -> Result<Vec<Institution>> {
    let text = read(path)?;
    parse_institutions(&text).with_context(|| format!("institutions file {}", path.display()))
}

pub fn parse_institutions(text: &str) -> Result<Vec<Institution>> {
    let f: InstitutionsFile = toml::from_str(text).map_err(|e| BadInput::new(e.to_string()))?;
    for i in &f.institution {
        if !i.account.has_valid_cnaps() {
            bail!(BadInput::new(format!(
                "institution {}: bank_code `{}` is not a 12-digit CNAPS code",
                i.fixmedins_code, i.account.bank_code
            )));
        }
    }
    Ok(f.institution)
}

pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        base.join(p)
    }
}

/// Load and validate `medsettle.toml`.
pub fn load(file: &Path) -> Result<Config> {
    let text = read(file)?;
    let raw: RawConfig =
        toml::from_str(&text).map_err(|e| BadInput::new(format!("{}: {e}", file.display())))?;
    let base = file
        .canonicalize()
        .with_context(|| format!("resolving {}", file.display()))?
        .parent()
        .expect("a file has a parent")
        .to_owned();
    let receiver_admdvs = Admdvs::parse(&raw.gateway.receiver_admdvs)
        .map_err(|e| BadInput::new(format!("gateway.receiver_admdvs: {e}")))?;
    let durability = match raw.store.durability.as_deref().unwrap_or("fsync") {
        "fsync" => Durability::Fsync,
        "flush" => Durability::Flush,
        "none" => Durability::None,
        other => bail!(BadInput::new(format!(
            "store.durability: `{other}` is not fsync, flush or none"
        ))),
    };
    let store = StoreConfig {
        durability,
        record_bytes_max: raw
            .store
            .record_bytes_max
            .unwrap_or(medsettle_store::RECORD_BYTES_MAX_DEFAULT),
        flush_linger_us: raw
            .store
            .flush_linger_us
            .unwrap_or(medsettle_store::FLUSH_LINGER_US_DEFAULT),
        flush_batch_target: raw
            .store
            .flush_batch_target
            .unwrap_or(medsettle_store::FLUSH_BATCH_TARGET_DEFAULT),
        disk_free_bytes_min: raw
            .store
            .disk_free_bytes_min
            .unwrap_or(medsettle_store::DISK_FREE_BYTES_MIN_DEFAULT),
        record_index: raw.store.record_index.unwrap_or(true),
        record_index_inline: raw.store.record_index_inline.unwrap_or(false),
        record_index_busy_share_percent: raw
            .store
            .record_index_busy_share_percent
            .unwrap_or(medsettle_store::INDEXER_BUSY_SHARE_PERCENT_DEFAULT),
        ..StoreConfig::default()
    };
    store
        .validate()
        .map_err(|e| BadInput::new(format!("store: {e}")))?;
    for rule in &raw.gateway.identity_warn_only {
        if !rule.starts_with("NHSA-ID-") || medsettle_canonical::RuleId::lookup(rule).is_none() {
            bail!(BadInput::new(format!(
                "gateway.identity_warn_only: `{rule}` is not a settlement identity rule (NHSA-ID-…)"
            )));
        }
    }
    let mut server = raw.server.clone();
    server.server_cert_chain = resolve(&base, &server.server_cert_chain);
    server.server_key = resolve(&base, &server.server_key);
    server.client_ca_bundles = server
        .client_ca_bundles
        .iter()
        .map(|p| resolve(&base, p))
        .collect();
    let core = CoreSection {
        policy: resolve(&base, &raw.core.policy),
        catalogue: resolve(&base, &raw.core.catalogue),
        persons: resolve(&base, &raw.core.persons),
    };
    if let Some(at) = &raw.settlement.daily_close_at {
        medsettle_engine::Scheduler::from_hhmm(at)
            .map_err(|e| BadInput::new(format!("settlement.daily_close_at: {e}")))?;
    }
    let mut settlement = raw.settlement.clone();
    settlement.policy = resolve(&base, &settlement.policy);
    settlement.institutions = resolve(&base, &settlement.institutions);
    settlement.calendar = settlement
        .calendar
        .iter()
        .map(|p| resolve(&base, p))
        .collect();
    let mut forward = raw.forward.clone();
    for (i, f) in forward.iter_mut().enumerate() {
        if f.admdvs.is_empty()
            || f.admdvs
                .iter()
                .any(|a| ![2, 4, 6].contains(&a.len()) || !a.bytes().all(|b| b.is_ascii_digit()))
        {
            bail!(BadInput::new(format!(
                "forward[{i}].admdvs: each entry is a 6-digit region code or a 2-/4-digit prefix"
            )));
        }
        f.upstream.ca_bundle = resolve(&base, &f.upstream.ca_bundle);
        f.upstream.client_cert = f.upstream.client_cert.as_ref().map(|p| resolve(&base, p));
        f.upstream.client_key = f.upstream.client_key.as_ref().map(|p| resolve(&base, p));
        f.upstream
            .validate()
            .map_err(|e| BadInput::new(format!("forward[{i}].upstream: {e}")))?;
        f.settings
            .validate()
            .map_err(|e| BadInput::new(format!("forward[{i}].settings: {e}")))?;
    }
    let mut peer = raw.peer.clone();
    let mut peer_names = std::collections::BTreeSet::new();
    for (i, p) in peer.iter_mut().enumerate() {
        if p.name.is_empty()
            || p.name.len() > 64
            || !p
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            || !peer_names.insert(p.name.clone())
        {
            bail!(BadInput::new(format!(
                "peer[{i}].name: `{}` must be 1 to 64 ASCII letters, digits, `-`, `_`, and unique",
                p.name
            )));
        }
        if p.admdvs.is_empty()
            || p.admdvs
                .iter()
                .any(|a| ![2, 4, 6].contains(&a.len()) || !a.bytes().all(|b| b.is_ascii_digit()))
        {
            bail!(BadInput::new(format!(
                "peer[{i}].admdvs: each entry is a 6-digit region code or a 2-/4-digit prefix"
            )));
        }
        if let Some(a) = p.admdvs.iter().find(|a| {
            forward.iter().any(|f| {
                f.admdvs
                    .iter()
                    .any(|b| a.starts_with(b.as_str()) || b.starts_with(a.as_str()))
            })
        }) {
            bail!(BadInput::new(format!(
                "peer[{i}].admdvs: {a} is also forwarded upstream ([[forward]]); a region is settled one way"
            )));
        }
        if p.admdvs
            .iter()
            .any(|a| receiver_admdvs.as_str().starts_with(a.as_str()))
        {
            bail!(BadInput::new(format!(
                "peer[{i}].admdvs: includes this gateway's own region {receiver_admdvs}"
            )));
        }
        p.upstream.ca_bundle = resolve(&base, &p.upstream.ca_bundle);
        p.upstream.client_cert = p.upstream.client_cert.as_ref().map(|c| resolve(&base, c));
        p.upstream.client_key = p.upstream.client_key.as_ref().map(|c| resolve(&base, c));
        p.upstream
            .validate()
            .map_err(|e| BadInput::new(format!("peer[{i}].upstream: {e}")))?;
        if p.upstream.client_cert.is_none() {
            bail!(BadInput::new(format!(
                "peer[{i}].upstream.client_cert: a peer only talks to a gateway presenting its certificate"
            )));
        }
        p.settings
            .validate()
            .map_err(|e| BadInput::new(format!("peer[{i}].settings: {e}")))?;
    }
    if raw.gateway.json_depth_max == 0 {
        bail!(BadInput::new(
            "gateway.json_depth_max: must be at least 1 (every envelope is a JSON object)"
        ));
    }
    if let Some(format) = raw.bank.format.as_deref()
        && !["pain001", "gbk"].contains(&format)
    {
        bail!(BadInput::new(format!(
            "bank.format: `{format}` is not pain001 or gbk"
        )));
    }
    let mut bank = raw.bank.clone();
    bank.profile = bank.profile.map(|p| resolve(&base, &p));
    let inbox_poll_ms = bank.inbox_poll_ms.unwrap_or(INBOX_POLL_MS_DEFAULT);
    if inbox_poll_ms < INBOX_POLL_MS_MIN {
        bail!(BadInput::new(format!(
            "bank.inbox_poll_ms: {inbox_poll_ms} is below {INBOX_POLL_MS_MIN}"
        )));
    }
    let operator = raw.operator.as_ref().map(|o| OperatorSection {
        cert: resolve(&base, &o.cert),
        key: resolve(&base, &o.key),
        ca: resolve(&base, &o.ca),
    });
    let legacy = legacy_settings(&raw.legacy, &base)?;
    Ok(Config {
        data_dir: resolve(&base, &raw.data_dir),
        receiver_admdvs,
        json_depth_max: raw.gateway.json_depth_max,
        identity_warn_only: raw.gateway.identity_warn_only,
        store,
        core,
        settlement,
        bank,
        forward,
        peer,
        server,
        operator,
        log_format: raw.gateway.log_format,
        inbox_poll_ms,
        legacy,
    })
}

/// `[legacy]` checked: every profile named exists and parses, every limit is at least 1, the
/// window within its bounds.
fn legacy_settings(raw: &LegacySection, base: &Path) -> Result<medsettle_service::LegacySettings> {
    let names: Vec<String> = match &raw.profiles {
        Some(names) => names.clone(),
        None => medsettle_legacy::Profile::builtin_names()
            .iter()
            .map(|n| (*n).to_owned())
            .collect(),
    };
    let mut profiles = Vec::new();
    for name in &names {
        let p = medsettle_legacy::Profile::builtin(name).ok_or_else(|| {
            BadInput::new(format!(
                "legacy.profiles: `{name}` is not a built-in profile ({})",
                medsettle_legacy::Profile::builtin_names().join(", ")
            ))
        })?;
        profiles.push(p);
    }
    for (i, f) in raw.profile_files.iter().enumerate() {
        let path = resolve(base, f);
        let text = read(&path)?;
        let p = medsettle_legacy::Profile::from_toml(&text).map_err(|e| {
            BadInput::new(format!("legacy.profile_files[{i}] {}: {e}", path.display()))
        })?;
        if profiles.iter().any(|q| q.name() == p.name()) {
            bail!(BadInput::new(format!(
                "legacy.profile_files[{i}]: profile `{}` is served twice",
                p.name()
            )));
        }
        profiles.push(p);
    }
    let d = medsettle_legacy::Limits::default();
    let limit = |key: &str, v: Option<usize>, default: usize| -> Result<usize> {
        match v {
            Some(0) => bail!(BadInput::new(format!("legacy.{key}: must be at least 1"))),
            Some(n) => Ok(n),
            None => Ok(default),
        }
    };
    let limits = medsettle_legacy::Limits {
        body_bytes_max: limit("body_bytes_max", raw.body_bytes_max, d.body_bytes_max)?,
        depth_max: limit("depth_max", raw.depth_max, d.depth_max)?,
        attributes_max: limit("attributes_max", raw.attributes_max, d.attributes_max)?,
        rows_max: limit("rows_max", raw.rows_max, d.rows_max)?,
        text_bytes_max: limit("text_bytes_max", raw.text_bytes_max, d.text_bytes_max)?,
    };
    let window = raw
        .confirm_window_secs
        .unwrap_or(medsettle_service::legacy::CONFIRM_WINDOW_DEFAULT.as_secs());
    if !(CONFIRM_WINDOW_SECS_MIN..=CONFIRM_WINDOW_SECS_MAX).contains(&window) {
        bail!(BadInput::new(format!(
            "legacy.confirm_window_secs: {window} is not within {CONFIRM_WINDOW_SECS_MIN}..={CONFIRM_WINDOW_SECS_MAX}"
        )));
    }
    Ok(medsettle_service::LegacySettings {
        profiles,
        limits,
        confirm_window: std::time::Duration::from_secs(window),
    })
}
