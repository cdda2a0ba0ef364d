//! medsettle-bench: the durable-ingest benchmark over mutual TLS (see BENCHMARKS.md), a crate
//! and a binary (`medsettle-bench ingest`) of its own, so the production `medsettle` binary carries neither the load generator nor the
//! PostgreSQL harness; it drives the real `medsettle` binary (`--gateway`, default: the
//! `medsettle` beside this executable) exactly as production runs it.
//!
//! 1. A fresh `medsettle init` directory (fsync durability) with the per-institution rate
//!    limit raised far above what two cores can send, so the figures measure ingest and not
//!    the token bucket.
//! 2. The real gateway as a child process (`medsettle serve`), exactly as in production.
//! 3. Per connection level: N keep-alive HTTP/1.1 connections over mutual TLS, spread over the
//!    sample institutions' client certificates, each sending one request at a time for a
//!    warm-up and then a measured window. Every request's latency is taken from just before
//!    the body is written to just after the whole answer is read; only successful, durably
//!    acknowledged answers that complete inside the window count.
//! 4. The reference: PostgreSQL (`fsync=on`, `synchronous_commit=on`, TLS) driven by pgbench
//!    at the same connection levels, one settled-claim-shaped row (~the journal record of a
//!    2207) per transaction, latencies from pgbench's per-transaction log.
//!
//! All arithmetic on rates and latencies is integer (microseconds, counts per second).

/// Settlement traffic as the gateway journals it (`browse-bench`, `overview-bench`).
pub mod exchanges;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};

use medsettle_client::his::{self, EnvelopeBuilder, FeeLine, HisConnection, Insured, Sender};
use medsettle_ops::BadInput;

/// The command line of `medsettle-bench`.
#[derive(Parser)]
#[command(
    name = "medsettle-bench",
    version,
    about = "Benchmarks of the medsettle gateway (see BENCHMARKS.md)"
)]
pub struct Cli {
    /// The `medsettle` binary under test (default: the one beside this executable).
    #[arg(long, global = true)]
    pub gateway: Option<PathBuf>,
    #[command(flatten)]
    pub args: BenchArgs,
}

/// Run `medsettle-bench ARGS…` (without the program name) against the `medsettle` binary at
/// `gateway`: what the binary does, callable from a test with the binary under test.
pub fn run_args(args: &[&str], gateway: &Path) -> Result<()> {
    let cli = Cli::try_parse_from(std::iter::once("medsettle-bench").chain(args.iter().copied()))
        .map_err(|e| BadInput::new(e.to_string()))?;
    run(cli.args, gateway)
}

/// The `medsettle` binary built beside this one (`target/release/medsettle`).
pub fn sibling_gateway() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating medsettle-bench")?;
    let gateway = exe.with_file_name("medsettle");
    if !gateway.is_file() {
        bail!(BadInput::new(format!(
            "no medsettle binary at {}: build it (cargo build --release) or pass --gateway PATH",
            gateway.display()
        )));
    }
    Ok(gateway)
}

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    cmd: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Durable ingest over mutual TLS: medsettle (fsync) against PostgreSQL
    /// (synchronous_commit=on) at several keep-alive connection counts.
    Ingest(IngestArgs),
}

#[derive(Args)]
struct IngestArgs {
    /// Working directory (gateway configuration, journal, PostgreSQL data directory); it must
    /// not hold a medsettle.toml yet. Default: a fresh directory under the system temp dir,
    /// removed afterwards.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Measured seconds per connection level.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Warm-up seconds per level before the measured window (sent, not counted).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Keep-alive connection levels, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    connections: Vec<usize>,
    /// settle: complete outpatient visits (2201 → 2204 → 2206 → 2207, four journaled
    /// requests per settled claim); register: 2201 registrations only.
    #[arg(long, value_enum, default_value_t = Workload::Settle)]
    workload: Workload,
    /// Do not run the PostgreSQL reference.
    #[arg(long)]
    skip_postgres: bool,
    /// Set `[store] flush_linger_us` of the gateway under test (default: the configuration
    /// default, `FLUSH_LINGER_US_DEFAULT`); 0 flushes as soon as anything waits.
    #[arg(long)]
    flush_linger_us: Option<u64>,
    /// How the gateway under test keeps the record index (`[store] record_index` and
    /// `record_index_inline`); default: the configuration default.
    #[arg(long, value_enum)]
    record_index: Option<RecordIndex>,
    /// Also write the Markdown report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The record index settings an ingest run compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RecordIndex {
    /// Not kept.
    Off,
    /// Written inside each append, before its acknowledgement.
    Inline,
    /// Written by the store's background indexer (the default).
    Behind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    Settle,
    Register,
}

impl Workload {
    fn as_str(self) -> &'static str {
        match self {
            Workload::Settle => "settle",
            Workload::Register => "register",
        }
    }
}

/// The rate limit written into the benchmark's configuration: far above anything two cores
/// can send, so the limiter is on (its cost is measured) but never refuses.
const RATE_RAISED: u32 = 10_000_000;
/// Upper bound of requests one connection sends in one level (bounded count and time).
const REQUESTS_PER_CONNECTION_MAX: u64 = 2_000_000;
/// Seconds between the msgid clocks of two connections: an [`EnvelopeBuilder`] advances one
/// second per 10 000 messages, so 300 s leave room for 3 000 000 msgids per connection.
const MSGID_SECONDS_PER_CONNECTION: i64 = 300;
/// Upper bound for the gateway to print its address.
const GATEWAY_START_TIMEOUT: Duration = Duration::from_secs(120);

/// Run the benchmark `args` asks for against the `medsettle` binary at `gateway`.
pub fn run(args: BenchArgs, gateway: &Path) -> Result<()> {
    match args.cmd {
        BenchCommand::Ingest(a) => ingest(a, gateway),
    }
}

fn ingest(args: IngestArgs, gateway: &Path) -> Result<()> {
    if args.seconds == 0 || args.connections.is_empty() || args.connections.contains(&0) {
        bail!(BadInput::new(
            "--seconds must be at least 1 and every --connections level at least 1".to_owned()
        ));
    }
    let (dir, remove_after) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            (
                std::env::temp_dir()
                    .join(format!("medsettle-bench-{}-{nanos}", std::process::id())),
                true,
            )
        }
    };
    let result = ingest_in(&args, &dir, gateway);
    if remove_after {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn ingest_in(args: &IngestArgs, dir: &Path, gateway: &Path) -> Result<()> {
    let machine = Machine::read();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    eprintln!("bench: {}", machine.describe());
    let config_path =
        medsettle_ops::init::run(dir, "127.0.0.1:0", false).context("medsettle init")?;
    let dir = dir.canonicalize()?;
    raise_rate_limits(&config_path, args.flush_linger_us, args.record_index)?;
    let persons: Vec<Insured> =
        his::insured_from_registry(&std::fs::read_to_string(dir.join("policy/persons.toml"))?)?;
    let institutions =
        medsettle_ops::config::parse_institutions(medsettle_ops::init::SAMPLE_INSTITUTIONS)?;
    let mut clients = Vec::new();
    for i in &institutions {
        let certs = dir.join("certs");
        let cert = certs.join(format!("clients/{}.pem", i.fixmedins_code));
        let key = certs.join(format!("clients/{}.key", i.fixmedins_code));
        let tls = his::client_tls(&certs.join("ca.pem"), &cert, &key)?;
        let sender = Sender {
            fixmedins_code: i.fixmedins_code.clone(),
            fixmedins_name: i.fixmedins_name.clone(),
            mdtrtarea_admvs: i.admdvs.to_string(),
        };
        clients.push((sender, tls));
    }
    if clients.is_empty() || persons.is_empty() {
        bail!("the sample data has no institutions or no persons");
    }

    // The operator certificate reads the gateway's /metrics around each measured window.
    let operator = his::client_tls(
        &dir.join("certs/ca.pem"),
        &dir.join("certs/clients/operator.pem"),
        &dir.join("certs/clients/operator.key"),
    )?;
    let gateway = Gateway::start(gateway, &config_path, &dir.join("gateway.log"))?;
    eprintln!(
        "bench: gateway pid {} on https://{} (fsync durability, log {})",
        gateway.pid(),
        gateway.addr,
        dir.join("gateway.log").display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let shared = Shared {
        addr: gateway.addr,
        clients,
        persons: Arc::new(persons),
        connection_serial: AtomicU64::new(0),
        visit_no: Arc::new(AtomicU64::new(1)),
        gateway_pid: gateway.pid(),
        workload: args.workload,
        operator,
    };
    let mut ours = Vec::new();
    let mut sample: Option<Value> = None;
    for &n in &args.connections {
        eprintln!(
            "bench: medsettle, {n} connection(s), {} s warm-up + {} s …",
            args.warmup, args.seconds
        );
        let level = runtime.block_on(medsettle_level(&shared, n, args.warmup, args.seconds))?;
        eprintln!("bench:   {}", level.summary());
        if sample.is_none() {
            sample = level.sample.clone();
        }
        ours.push(level);
    }
    drop(runtime);
    let stopped = gateway.stop();
    eprintln!("bench: gateway stopped: {stopped}");

    let (reference, postgres_note) = if args.skip_postgres {
        (
            Vec::new(),
            "PostgreSQL reference skipped (--skip-postgres).".to_owned(),
        )
    } else {
        let payload = sample.unwrap_or_else(synthetic_record);
        match postgres_reference(&dir, &payload, &args.connections, args.warmup, args.seconds) {
            Ok(x) => x,
            Err(e) => {
                let note = format!("PostgreSQL reference could not run: {e:#}");
                eprintln!("bench: {note}");
                (Vec::new(), note)
            }
        }
    };
    let report = render(
        args,
        &command,
        &machine,
        &Machine::read(),
        &ours,
        &reference,
        &postgres_note,
    );
    println!("{report}");
    if let Some(out) = &args.out {
        std::fs::write(out, &report).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

/// Rewrite `[server.limits]` of the generated configuration with the raised rate limit (and
/// `[store] flush_linger_us` when given).
fn raise_rate_limits(
    config_path: &Path,
    flush_linger_us: Option<u64>,
    record_index: Option<RecordIndex>,
) -> Result<()> {
    let text = std::fs::read_to_string(config_path)?;
    let mut doc: toml::Table = toml::from_str(&text)?;
    let server = doc
        .get_mut("server")
        .and_then(|s| s.as_table_mut())
        .ok_or_else(|| anyhow!("{} has no [server]", config_path.display()))?;
    let limits = server
        .entry("limits")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .ok_or_else(|| anyhow!("[server.limits] is not a table"))?;
    limits.insert(
        "rate_per_institution_per_second".into(),
        toml::Value::Integer(i64::from(RATE_RAISED)),
    );
    limits.insert(
        "rate_burst".into(),
        toml::Value::Integer(i64::from(RATE_RAISED)),
    );
    let durability = doc
        .get("store")
        .and_then(|s| s.get("durability"))
        .and_then(|d| d.as_str());
    if durability != Some("fsync") {
        bail!("the generated configuration is not in fsync mode ({durability:?})");
    }
    if let Some(us) = flush_linger_us {
        let store = doc
            .get_mut("store")
            .and_then(|s| s.as_table_mut())
            .ok_or_else(|| anyhow!("[store] is not a table"))?;
        store.insert(
            "flush_linger_us".into(),
            toml::Value::Integer(i64::try_from(us).context("--flush-linger-us")?),
        );
    }
    if let Some(index) = record_index {
        let store = doc
            .get_mut("store")
            .and_then(|s| s.as_table_mut())
            .ok_or_else(|| anyhow!("[store] is not a table"))?;
        store.insert(
            "record_index".into(),
            toml::Value::Boolean(index != RecordIndex::Off),
        );
        store.insert(
            "record_index_inline".into(),
            toml::Value::Boolean(index == RecordIndex::Inline),
        );
    }
    let mut out = String::from(
        "# Written by `medsettle bench ingest`: `medsettle init` + raised rate limits.\n",
    );
    out.push_str(&toml::to_string(&doc)?);
    replace_file(config_path, out.as_bytes())?;
    medsettle_ops::config::load(config_path)
        .context("the rewritten configuration does not load")?;
    Ok(())
}

/// Writes `bytes` over `path` whole or not at all: to a temporary name beside it, then renamed
/// over it, so an interrupted benchmark never leaves a half-written configuration.
pub fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

// ---------------------------------------------------------------------------------------------
// The gateway child process
// ---------------------------------------------------------------------------------------------

struct Gateway {
    child: Option<Child>,
    addr: SocketAddr,
}

impl Gateway {
    fn start(exe: &Path, config: &Path, log: &Path) -> Result<Gateway> {
        let log_file = std::fs::File::create(log)?;
        let mut child = Command::new(exe)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .context("starting `medsettle serve`")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = tx.send(reader.read_line(&mut line).map(|_| line));
            // Keep draining so the gateway never blocks on a full pipe.
            let mut sink = String::new();
            while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
            }
        });
        let mut gateway = Gateway {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let line = match rx.recv_timeout(GATEWAY_START_TIMEOUT) {
            Ok(Ok(line)) => line,
            other => {
                let _ = gateway.stop();
                bail!(
                    "the gateway did not print its address ({other:?}); see {}",
                    log.display()
                );
            }
        };
        let addr = line
            .trim()
            .strip_prefix("listening on https://")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| {
                anyhow!(
                    "first line of `serve` is not the address: {line:?}; see {}",
                    log.display()
                )
            })?;
        gateway.addr = addr;
        Ok(gateway)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// SIGTERM (graceful: drain, final flush), then wait; SIGKILL after 60 s.
    fn stop(mut self) -> String {
        let Some(mut child) = self.child.take() else {
            return "not running".into();
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.to_string(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = child.kill();
                    return format!("killed after 60 s: {:?}", child.wait());
                }
            }
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The medsettle load generator
// ---------------------------------------------------------------------------------------------

struct Shared {
    addr: SocketAddr,
    clients: Vec<(Sender, Arc<rustls::ClientConfig>)>,
    persons: Arc<Vec<Insured>>,
    /// Every connection ever opened gets its own msgid clock.
    connection_serial: AtomicU64,
    /// Visit numbers (ipt_otp_no, chrg_bchno) unique over the whole run.
    visit_no: Arc<AtomicU64>,
    gateway_pid: u32,
    workload: Workload,
    /// TLS as the operator, for `/metrics`.
    operator: Arc<rustls::ClientConfig>,
}

/// The measured window of one level.
#[derive(Clone, Copy)]
struct Window {
    from: Instant,
    to: Instant,
}

impl Window {
    fn contains(&self, t: Instant) -> bool {
        t >= self.from && t <= self.to
    }
}

/// What one connection saw.
#[derive(Default)]
struct Tally {
    /// Successful (durably acknowledged) requests completed in the window.
    requests: u64,
    /// Settled claims (successful 2207) completed in the window.
    claims: u64,
    /// Failed requests (any time): business refusals, HTTP errors, transport errors.
    errors: u64,
    first_error: Option<String>,
    latency_us: Vec<u64>,
    settle_latency_us: Vec<u64>,
    /// One journal-record-shaped `{request, answer}` of the workload's main transaction.
    sample: Option<Value>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.requests += other.requests;
        self.claims += other.claims;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latency_us.extend(other.latency_us);
        self.settle_latency_us.extend(other.settle_latency_us);
        if self.sample.is_none() {
            self.sample = other.sample;
        }
    }

    fn error(&mut self, e: &Step) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e.text().to_owned());
        }
    }
}

/// A failed step: transport failures need a new connection, business failures do not.
enum Step {
    Transport(String),
    Business(String),
}

impl Step {
    fn text(&self) -> &str {
        match self {
            Step::Transport(s) | Step::Business(s) => s,
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// An answer envelope read only as far as the load generator needs it: building a whole
/// `serde_json::Value` per answer (and per request) cost the load generator about a third of
/// its CPU, which it takes from the gateway on the same two cores.
#[derive(serde::Deserialize)]
struct LeanAnswer<T> {
    infcode: i64,
    #[serde(default)]
    err_msg: Option<String>,
    // Spelled out: a bare `default` would make serde require `T: Default`.
    #[serde(default = "Option::default")]
    output: Option<T>,
}

/// The one 2201 output field the visit needs next.
#[derive(serde::Deserialize)]
struct RegistrationOutput {
    data: RegistrationData,
}

#[derive(serde::Deserialize)]
struct RegistrationData {
    mdtrt_id: String,
}

/// POST one request body and time it; counts it when it is a success completing in the window.
async fn timed_call<T: serde::de::DeserializeOwned>(
    conn: &mut HisConnection,
    body: String,
    infno: &str,
    window: &Window,
    tally: &mut Tally,
    settles: bool,
    samples: bool,
) -> Result<T, Step> {
    let sample = (samples && tally.sample.is_none()).then(|| body.clone());
    let sent = Instant::now();
    let (status, answer) = conn
        .post(his::CALL_SERVICE_PATH, Bytes::from(body))
        .await
        .map_err(|e| Step::Transport(format!("{infno}: {e:#}")))?;
    let done = Instant::now();
    let lean: LeanAnswer<T> = serde_json::from_slice(&answer)
        .map_err(|e| Step::Business(format!("{infno}: HTTP {status}, answer not read: {e}")))?;
    let output = match lean {
        LeanAnswer {
            infcode: 0,
            output: Some(output),
            ..
        } if status == 200 => output,
        LeanAnswer {
            infcode, err_msg, ..
        } => {
            return Err(Step::Business(format!(
                "{infno}: HTTP {status}, infcode {infcode}: {}",
                err_msg.unwrap_or_default()
            )));
        }
    };
    if window.contains(done) {
        let us = micros(done - sent);
        tally.requests += 1;
        tally.latency_us.push(us);
        if settles {
            tally.claims += 1;
            tally.settle_latency_us.push(us);
        }
    }
    if let Some(request) = sample {
        // The main transaction's first exchange, for the PostgreSQL reference row.
        let request: Value = serde_json::from_str(&request).unwrap_or(Value::Null);
        let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        tally.sample = Some(json!({"request": request, "answer": answer}));
    }
    Ok(output)
}

fn stamp(t: time::PrimitiveDateTime) -> String {
    medsettle_client::his::datetime_text(t)
}

fn fee_lines() -> Vec<FeeLine> {
    vec![
        FeeLine {
            med_list_codg: "DIAG001".into(),
            units: 1,
            pric_fen: 2_000,
        },
        FeeLine {
            med_list_codg: "WM002".into(),
            units: 3,
            pric_fen: 3_350,
        },
        FeeLine {
            med_list_codg: "LAB001".into(),
            units: 1,
            pric_fen: 2_500,
        },
    ]
}

/// A JSON string literal (quotes and escapes) for `s`.
fn js(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// Fen as a yuan JSON number with two decimals, no floats.
fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:02}",
        fen.unsigned_abs() / 100,
        fen.unsigned_abs() % 100
    )
}

/// An insured person's fields as JSON literals, escaped once per run.
struct LeanPerson {
    psn_no: String,
    certno: String,
    insutype: String,
    insuplc_admdvs: String,
}

impl LeanPerson {
    fn of(p: &Insured) -> LeanPerson {
        LeanPerson {
            psn_no: js(&p.psn_no),
            certno: js(&p.certno),
            insutype: js(&p.insutype),
            insuplc_admdvs: js(&p.insuplc_admdvs),
        }
    }
}

/// Writes request envelopes as text, the same fields and values as
/// [`EnvelopeBuilder::envelope`] (the gateway parses both alike), with the sender's fields
/// escaped once.
struct BodyWriter {
    builder: EnvelopeBuilder,
    mdtrtarea_admvs: String,
    fixmedins_code: String,
    fixmedins_name: String,
}

impl BodyWriter {
    fn new(builder: EnvelopeBuilder) -> BodyWriter {
        BodyWriter {
            mdtrtarea_admvs: js(&builder.sender.mdtrtarea_admvs),
            fixmedins_code: js(&builder.sender.fixmedins_code),
            fixmedins_name: js(&builder.sender.fixmedins_name),
            builder,
        }
    }

    fn envelope(&mut self, infno: &str, p: &LeanPerson, input: &str) -> String {
        let (msgid, at) = self.builder.next_msgid();
        format!(
            concat!(
                r#"{{"infno":"{}","msgid":"{}","mdtrtarea_admvs":{},"insuplc_admdvs":{},"#,
                r#""recer_sys_code":"YBXT","dev_no":"","dev_safe_info":"","cainfo":"","#,
                r#""signtype":"","infver":"V1.0","opter_type":"1","opter":"0001","#,
                r#""opter_name":"收费员","inf_time":"{}","fixmedins_code":{},"#,
                r#""fixmedins_name":{},"sign_no":"","input":{}}}"#
            ),
            infno,
            msgid,
            self.mdtrtarea_admvs,
            p.insuplc_admdvs,
            stamp(at),
            self.fixmedins_code,
            self.fixmedins_name,
            input
        )
    }

    fn registration(&mut self, p: &LeanPerson, visit_no: u64) -> String {
        let when = stamp(self.builder.base);
        let ipt_otp_no = format!(
            "MZ{}{visit_no:08}",
            &self.builder.sender.fixmedins_code[1..]
        );
        let input = format!(
            concat!(
                r#"{{"data":{{"psn_no":{},"insutype":{},"begntime":"{}","#,
                r#""mdtrt_cert_type":"02","mdtrt_cert_no":{},"ipt_otp_no":{},"#,
                r#""atddr_no":"D0001","dr_name":"门诊医生","dept_code":"0301","#,
                r#""dept_name":"内科","caty":"A03"}}}}"#
            ),
            p.psn_no,
            p.insutype,
            when,
            p.certno,
            js(&ipt_otp_no)
        );
        self.envelope("2201", p, &input)
    }
}

/// One outpatient visit as `his::outpatient_visit` sends it, each request timed.
async fn settle_visit(
    conn: &mut HisConnection,
    w: &mut BodyWriter,
    p: &LeanPerson,
    lines: &[FeeLine],
    visit_no: u64,
    window: &Window,
    tally: &mut Tally,
) -> Result<(), Step> {
    let when = stamp(w.builder.base);
    let reg = w.registration(p, visit_no);
    let out: RegistrationOutput =
        timed_call(conn, reg, "2201", window, tally, false, false).await?;
    let mdtrt_id = js(&out.data.mdtrt_id);
    let chrg_bchno = format!("\"CB{visit_no:08}\"");
    let mut feedetail = String::from("[");
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            feedetail.push(',');
        }
        feedetail.push_str(&format!(
            concat!(
                r#"{{"feedetl_sn":"F{:04}","mdtrt_id":{},"psn_no":{},"chrg_bchno":{},"#,
                r#""rx_circ_flag":"0","fee_ocur_time":"{}","med_list_codg":{},"#,
                r#""medins_list_codg":{},"det_item_fee_sumamt":{},"cnt":{}.0000,"pric":{},"#,
                r#""bilg_dept_codg":"0301","bilg_dept_name":"内科","bilg_dr_codg":"D0001","#,
                r#""bilg_dr_name":"门诊医生","hosp_appr_flag":"1"}}"#
            ),
            i + 1,
            mdtrt_id,
            p.psn_no,
            chrg_bchno,
            when,
            js(&l.med_list_codg),
            js(&format!("H{}", l.med_list_codg)),
            yuan(l.amount_fen()),
            l.units,
            yuan(l.pric_fen)
        ));
    }
    feedetail.push(']');
    let fees = w.envelope("2204", p, &format!(r#"{{"feedetail":{feedetail}}}"#));
    timed_call::<serde::de::IgnoredAny>(conn, fees, "2204", window, tally, false, false).await?;
    let total: i64 = lines.iter().map(FeeLine::amount_fen).sum();
    let data = format!(
        concat!(
            r#"{{"data":{{"psn_no":{},"mdtrt_cert_type":"02","mdtrt_cert_no":{},"#,
            r#""med_type":"11","medfee_sumamt":{},"psn_setlway":"01","mdtrt_id":{},"#,
            r#""chrg_bchno":{},"acct_used_flag":"1","insutype":{}}}}}"#
        ),
        p.psn_no,
        p.certno,
        yuan(total),
        mdtrt_id,
        chrg_bchno,
        p.insutype
    );
    let pre = w.envelope("2206", p, &data);
    timed_call::<serde::de::IgnoredAny>(conn, pre, "2206", window, tally, false, false).await?;
    let settle = w.envelope("2207", p, &data);
    timed_call::<serde::de::IgnoredAny>(conn, settle, "2207", window, tally, true, true).await?;
    Ok(())
}

/// One connection's loop for the level.
#[allow(clippy::too_many_arguments)]
async fn connection_loop(
    mut conn: HisConnection,
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    b: EnvelopeBuilder,
    persons: Arc<Vec<Insured>>,
    mine: Vec<usize>,
    visit_no: Arc<AtomicU64>,
    workload: Workload,
    window: Window,
) -> Tally {
    let mut tally = Tally::default();
    let lines = fee_lines();
    let mine: Vec<LeanPerson> = mine.iter().map(|&i| LeanPerson::of(&persons[i])).collect();
    let mut w = BodyWriter::new(b);
    let mut sent: u64 = 0;
    let mut turn = 0usize;
    while Instant::now() < window.to && sent < REQUESTS_PER_CONNECTION_MAX {
        let p = &mine[turn % mine.len()];
        turn += 1;
        let visit = visit_no.fetch_add(1, Ordering::Relaxed);
        let result = match workload {
            Workload::Settle => {
                sent += 4;
                settle_visit(&mut conn, &mut w, p, &lines, visit, &window, &mut tally).await
            }
            Workload::Register => {
                sent += 1;
                let reg = w.registration(p, visit);
                timed_call::<RegistrationOutput>(
                    &mut conn, reg, "2201", &window, &mut tally, false, true,
                )
                .await
                .map(|_| ())
            }
        };
        match result {
            Ok(()) => {}
            Err(e @ Step::Business(_)) => tally.error(&e),
            Err(e @ Step::Transport(_)) => {
                tally.error(&e);
                match HisConnection::connect(addr, tls.clone()).await {
                    Ok(c) => conn = c,
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
    }
    tally
}

/// CPU time (clock ticks) of a process (all its threads), from /proc/PID/stat: utime + stime.
fn process_ticks(pid: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the command name (which may contain spaces) start at field 3 (state).
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0;
    };
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // rest[0] = state (field 3); utime = field 14 → rest[11], stime = field 15 → rest[12].
    let get = |i: usize| f.get(i).copied().unwrap_or(0);
    get(11) + get(12)
}

/// Machine-wide CPU ticks: (busy, idle + iowait, iowait).
fn machine_ticks() -> (u64, u64, u64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return (0, 0, 0);
    };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0, 0);
    };
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let get = |i: usize| f.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    let idle = get(3) + get(4);
    let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
    (busy, idle, get(4))
}

/// CPU use over a window, in ticks.
#[derive(Debug, Clone, Copy, Default)]
struct CpuSample {
    server: u64,
    client: u64,
    busy: u64,
    idle: u64,
    iowait: u64,
}

impl CpuSample {
    fn take(server_pids: &[String], client_pid: &str) -> CpuSample {
        let (busy, idle, iowait) = machine_ticks();
        CpuSample {
            server: server_pids.iter().map(|p| process_ticks(p)).sum::<u64>(),
            client: process_ticks(client_pid),
            busy,
            idle,
            iowait,
        }
    }

    fn since(self, before: CpuSample) -> CpuSample {
        CpuSample {
            server: self.server.saturating_sub(before.server),
            client: self.client.saturating_sub(before.client),
            busy: self.busy.saturating_sub(before.busy),
            idle: self.idle.saturating_sub(before.idle),
            iowait: self.iowait.saturating_sub(before.iowait),
        }
    }

    /// "server 120 % · client 60 % · other 10 % · idle 10 %" in percent of one core.
    fn describe(&self, cores: u64) -> String {
        let total = self.busy + self.idle;
        if total == 0 {
            return "n/a".into();
        }
        let pct = |t: u64| t * 100 * cores / total;
        let other = self.busy.saturating_sub(self.server + self.client);
        format!(
            "server {}% · client {}% · other {}% · idle {}% (iowait {}%)",
            pct(self.server),
            pct(self.client),
            pct(other),
            pct(self.idle),
            pct(self.iowait)
        )
    }
}

/// Results of one connection level, for either system.
#[derive(Clone)]
struct Level {
    system: &'static str,
    connections: usize,
    window_us: u64,
    requests: u64,
    claims: u64,
    errors: u64,
    first_error: Option<String>,
    latency: Percentiles,
    settle_latency: Option<Percentiles>,
    cpu: CpuSample,
    /// CPU of the server process(es) per acknowledged request, µs.
    server_cpu_us_per_ack: Option<u64>,
    load_before: String,
    /// Anything else worth printing under the table (e.g. pgbench's own tps line).
    note: Option<String>,
    sample: Option<Value>,
}

impl Level {
    fn per_second(&self, n: u64) -> u64 {
        (n * 1_000_000).checked_div(self.window_us).unwrap_or(0)
    }

    fn summary(&self) -> String {
        format!(
            "{} acks/s, {} claims/s, p50 {} ms, p99 {} ms, max {} ms, {} errors{}",
            self.per_second(self.requests),
            self.per_second(self.claims),
            ms(self.latency.p50),
            ms(self.latency.p99),
            ms(self.latency.max),
            self.errors,
            self.first_error
                .as_ref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        )
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Percentiles {
    p50: u64,
    p99: u64,
    max: u64,
}

impl Percentiles {
    /// Nearest-rank percentiles of integer microseconds.
    fn of(mut v: Vec<u64>) -> Percentiles {
        if v.is_empty() {
            return Percentiles::default();
        }
        v.sort_unstable();
        let rank = |per_mille: usize| {
            let n = v.len();
            let r = (n * per_mille).div_ceil(1000).max(1);
            v[r - 1]
        };
        Percentiles {
            p50: rank(500),
            p99: rank(990),
            max: v[v.len() - 1],
        }
    }
}

/// Microseconds as milliseconds with two decimals, integer arithmetic.
fn ms(us: u64) -> String {
    format!("{}.{:02}", us / 1000, (us % 1000) / 10)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn cores() -> u64 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1)
}

async fn medsettle_level(shared: &Shared, n: usize, warmup: u64, seconds: u64) -> Result<Level> {
    let load_before = loadavg();
    let base = time::macros::datetime!(2026-11-20 08:00:00);
    let mut starts = Vec::with_capacity(n);
    for k in 0..n {
        let (sender, tls) = &shared.clients[k % shared.clients.len()];
        let conn = HisConnection::connect(shared.addr, tls.clone())
            .await
            .with_context(|| format!("opening connection {k} of {n}"))?;
        let serial = shared.connection_serial.fetch_add(1, Ordering::Relaxed);
        let at =
            base + time::Duration::seconds(i64::try_from(serial)? * MSGID_SECONDS_PER_CONNECTION);
        let b = EnvelopeBuilder::new(sender.clone(), at);
        // Each connection settles its own persons: a person is at one counter at a time.
        let mine: Vec<usize> = (k % shared.persons.len()..shared.persons.len())
            .step_by(n)
            .collect();
        starts.push((conn, tls.clone(), b, mine));
    }
    let start = Instant::now();
    let from = start + Duration::from_secs(warmup);
    let window = Window {
        from,
        to: from + Duration::from_secs(seconds),
    };
    let server_pids = vec![shared.gateway_pid.to_string()];
    let sampler = {
        let pids = server_pids.clone();
        let (addr, operator) = (shared.addr, shared.operator.clone());
        tokio::spawn(async move {
            tokio::time::sleep_until(window.from.into()).await;
            let a = CpuSample::take(&pids, "self");
            let commits_a = GroupCommits::scrape(addr, operator.clone()).await;
            tokio::time::sleep_until(window.to.into()).await;
            let cpu = CpuSample::take(&pids, "self").since(a);
            let commits_b = GroupCommits::scrape(addr, operator).await;
            let commits = match (commits_a, commits_b) {
                (Ok(a), Ok(b)) => b.since(&a).describe(),
                (Err(e), _) | (_, Err(e)) => format!("group commits not read: {e:#}"),
            };
            (cpu, commits)
        })
    };
    let mut tasks = Vec::with_capacity(n);
    for (conn, tls, b, mine) in starts {
        tasks.push(tokio::spawn(connection_loop(
            conn,
            shared.addr,
            tls,
            b,
            shared.persons.clone(),
            mine,
            shared.visit_no.clone(),
            shared.workload,
            window,
        )));
    }
    let mut all = Tally::default();
    for t in tasks {
        all.merge(t.await?);
    }
    let (cpu, commits) = sampler.await?;
    let window_us = micros(window.to - window.from);
    let server_cpu_us_per_ack = (all.requests > 0)
        .then(|| cpu.server * 1_000_000 / clock_ticks_per_second() / all.requests);
    Ok(Level {
        system: "medsettle",
        connections: n,
        window_us,
        requests: all.requests,
        claims: all.claims,
        errors: all.errors,
        first_error: all.first_error,
        latency: Percentiles::of(all.latency_us),
        settle_latency: (shared.workload == Workload::Settle)
            .then(|| Percentiles::of(all.settle_latency_us)),
        cpu,
        server_cpu_us_per_ack,
        load_before,
        note: Some(commits),
        sample: all.sample,
    })
}

/// The gateway's group commits as `/metrics` counts them (`medsettle_flush_*`): how many, how
/// many writes they covered, and how long they took, by histogram bucket. The difference of
/// two scrapes describes the commits of a measured window — where the tail latency comes from
/// when the disk stalls.
#[derive(Debug, Clone, Default, PartialEq)]
struct GroupCommits {
    commits: u64,
    writes: u64,
    /// Total commit time, µs (the sum `/metrics` prints in seconds, read as a decimal).
    sum_us: u64,
    /// (upper bound in µs, `None` for `+Inf`; cumulative count), in bucket order.
    buckets: Vec<(Option<u64>, u64)>,
}

/// Commit durations the report calls out, µs: bounds of the gateway's commit histogram
/// (`serve::FLUSH_LATENCY_BOUNDS_US`; a test keeps them so).
const COMMIT_REPORT_BOUNDS_US: [u64; 3] = [10_000, 100_000, 500_000];

impl GroupCommits {
    async fn scrape(addr: SocketAddr, operator: Arc<rustls::ClientConfig>) -> Result<Self> {
        let mut conn = HisConnection::connect(addr, operator).await?;
        let (status, body) = conn.get(medsettle_server::routes::PATH_METRICS).await?;
        if status != 200 {
            bail!("/metrics answered {status}");
        }
        Ok(Self::parse(&String::from_utf8_lossy(&body)))
    }

    fn parse(text: &str) -> Self {
        use medsettle_server::metrics::{METRIC_FLUSH_BATCH_SIZE, METRIC_FLUSH_DURATION};
        let mut g = GroupCommits::default();
        for line in text.lines() {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let count = || value.parse::<u64>().unwrap_or(0);
            let Some(part) = name.strip_prefix(METRIC_FLUSH_DURATION) else {
                if name.strip_prefix(METRIC_FLUSH_BATCH_SIZE) == Some("_sum") {
                    g.writes = count();
                }
                continue;
            };
            if let Some(le) = part
                .strip_prefix("_bucket{le=\"")
                .and_then(|r| r.strip_suffix("\"}"))
            {
                let bound = (le != "+Inf").then(|| seconds_to_us(le));
                g.buckets.push((bound, count()));
            } else if part == "_count" {
                g.commits = count();
            } else if part == "_sum" {
                g.sum_us = seconds_to_us(value);
            }
        }
        g
    }

    fn since(&self, before: &GroupCommits) -> GroupCommits {
        GroupCommits {
            commits: self.commits.saturating_sub(before.commits),
            writes: self.writes.saturating_sub(before.writes),
            sum_us: self.sum_us.saturating_sub(before.sum_us),
            buckets: self
                .buckets
                .iter()
                .map(|&(le, n)| {
                    let was = before
                        .buckets
                        .iter()
                        .find(|(l, _)| *l == le)
                        .map_or(0, |(_, n)| *n);
                    (le, n.saturating_sub(was))
                })
                .collect(),
        }
    }

    /// One report line: commits, writes per commit, mean duration, and the slow ones.
    fn describe(&self) -> String {
        if self.commits == 0 {
            return "no group commits in the window".into();
        }
        let slow: Vec<String> = COMMIT_REPORT_BOUNDS_US
            .iter()
            .filter_map(|&bound| {
                let (_, at_most) = self.buckets.iter().find(|(le, _)| *le == Some(bound))?;
                Some(format!(
                    "{} over {} ms",
                    self.commits.saturating_sub(*at_most),
                    bound / 1000
                ))
            })
            .collect();
        let tenths = self.writes * 10 / self.commits;
        let mean_us = self.sum_us / self.commits;
        format!(
            "{} group commits in the window, {}.{} writes each, mean {}.{:02} ms; {}",
            self.commits,
            tenths / 10,
            tenths % 10,
            mean_us / 1000,
            mean_us % 1000 / 10,
            slow.join(", ")
        )
    }
}

/// A decimal number of seconds as `/metrics` prints it (`5.446403`) in whole µs, truncated.
fn seconds_to_us(text: &str) -> u64 {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let frac: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
    whole.parse::<u64>().unwrap_or(0) * 1_000_000 + frac.parse::<u64>().unwrap_or(0)
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t: &u64| t > 0)
        .unwrap_or(100)
}

/// A journal-record-shaped payload when no real one was captured.
fn synthetic_record() -> Value {
    json!({"request": {"infno": "2207", "input": {"data": {"pad": "x".repeat(1500)}}}, "answer": {"infcode": 0}})
}

// ---------------------------------------------------------------------------------------------
// The PostgreSQL reference
// ---------------------------------------------------------------------------------------------

const PG_BIN: &str = "/usr/local/bin";
const PG_DB_USER: &str = "postgres";

struct Postgres {
    root: PathBuf,
    data: PathBuf,
    port: u16,
    /// OS user the server runs as when we are root.
    os_user: Option<String>,
    running: bool,
    ssl: bool,
}

fn run_checked(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Postgres {
    /// A command run as the server's OS user.
    fn as_server(&self, program: &str) -> Command {
        let path = Path::new(PG_BIN).join(program);
        let mut c = match &self.os_user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        };
        c.current_dir(&self.root);
        c
    }

    fn client(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            PG_DB_USER,
        ]);
        c.env("PGSSLMODE", if self.ssl { "require" } else { "disable" });
        c.current_dir(&self.root);
        c
    }

    fn psql(&self, sql: &str) -> Result<String> {
        let mut c = self.client("psql");
        c.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            "postgres",
            "-c",
            sql,
        ]);
        run_checked(&mut c, "psql")
    }

    fn start(work: &Path, certs: &Path) -> Result<Postgres> {
        for p in ["initdb", "pg_ctl", "postgres"] {
            if !Path::new(PG_BIN).join(p).exists() {
                bail!("{PG_BIN}/{p} not found");
            }
        }
        let root = work.join("postgres");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root)?;
        let os_user = if is_root() {
            Some(server_os_user()?)
        } else {
            None
        };
        if let Some(u) = &os_user {
            run_checked(
                Command::new("chown").arg(format!("{u}:")).arg(&root),
                "chown",
            )?;
        }
        let mut pg = Postgres {
            data: root.join("data"),
            root,
            port: free_port()?,
            os_user,
            running: false,
            ssl: false,
        };
        run_checked(
            pg.as_server("initdb").arg("-D").arg(&pg.data).args([
                "-U",
                PG_DB_USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-instructions",
            ]),
            "initdb",
        )?;
        // The server certificate of the medsettle dev PKI, so both systems are measured over TLS.
        let ssl = pg.install_certificate(certs).is_ok();
        let conf = format!(
            "\n# medsettle bench ingest\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             max_connections = 200\nfsync = on\nsynchronous_commit = on\nfull_page_writes = on\n\
             ssl = {}\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
            pg.port,
            pg.root.display(),
            if ssl { "on" } else { "off" }
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(pg.data.join("postgresql.conf"))?
            .write_all(conf.as_bytes())?;
        pg.ssl = ssl;
        let log = pg.root.join("postgres.log");
        run_checked(
            pg.as_server("pg_ctl")
                .arg("-D")
                .arg(&pg.data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "120", "start"]),
            "pg_ctl start",
        )
        .map_err(|e| {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            anyhow!("{e:#}\n{tail}")
        })?;
        pg.running = true;
        Ok(pg)
    }

    fn install_certificate(&self, certs: &Path) -> Result<()> {
        let crt = self.data.join("server.crt");
        let key = self.data.join("server.key");
        std::fs::copy(certs.join("server.pem"), &crt)?;
        std::fs::copy(certs.join("server.key"), &key)?;
        run_checked(Command::new("chmod").arg("600").arg(&key), "chmod")?;
        if let Some(u) = &self.os_user {
            run_checked(
                Command::new("chown")
                    .arg(format!("{u}:"))
                    .arg(&crt)
                    .arg(&key),
                "chown",
            )?;
        }
        Ok(())
    }

    fn postmaster_pid(&self) -> Option<String> {
        std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()?
            .lines()
            .next()
            .map(str::to_owned)
    }

    /// The postmaster and its children (backends, WAL writer, checkpointer …).
    fn server_pids(&self) -> Vec<String> {
        let Some(master) = self.postmaster_pid() else {
            return Vec::new();
        };
        let mut pids = vec![master.clone()];
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{name}/stat")) else {
                    continue;
                };
                let ppid = stat
                    .rfind(')')
                    .and_then(|i| stat[i + 1..].split_whitespace().nth(1).map(str::to_owned));
                if ppid.as_deref() == Some(master.as_str()) {
                    pids.push(name);
                }
            }
        }
        pids
    }

    fn stop(&mut self) {
        if self.running {
            let _ = self
                .as_server("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "fast", "-w", "stop"])
                .output();
            self.running = false;
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The OS user to run PostgreSQL as (it refuses root): `postgres` if present, else a throwaway
/// system user.
fn server_os_user() -> Result<String> {
    for u in ["postgres", "medsettle-pg"] {
        if Command::new("id")
            .arg(u)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
        {
            return Ok(u.to_owned());
        }
    }
    run_checked(
        Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "medsettle-pg",
        ]),
        "useradd",
    )?;
    Ok("medsettle-pg".to_owned())
}

/// pgbench script: one settled-claim row per transaction (idempotency key unique like the
/// journal's `(fixmedins_code, msgid)` index), the record a real 2207 journal record's
/// request + answer.
fn pgbench_script(record: &Value) -> String {
    let literal = record.to_string().replace('\'', "''");
    format!(
        "\\set psn random(1, 200)\n\\set amt random(1000, 100000)\n\
         INSERT INTO settled_claim (fixmedins_code, msgid, psn_no, medfee_sumamt_fen, record) VALUES \
         ('H44030000001', 'H44030000001' || lpad(nextval('claim_msgid_seq')::text, 18, '0'), \
         '4403' || lpad(CAST(:psn AS text), 10, '0'), :amt, '{literal}'::jsonb);\n"
    )
}

fn postgres_reference(
    work: &Path,
    record: &Value,
    levels: &[usize],
    warmup: u64,
    seconds: u64,
) -> Result<(Vec<Level>, String)> {
    let mut pg = Postgres::start(work, &work.join("certs"))?;
    pg.psql(
        "CREATE TABLE settled_claim (id bigserial PRIMARY KEY, fixmedins_code text NOT NULL, \
         msgid text NOT NULL, psn_no text NOT NULL, medfee_sumamt_fen bigint NOT NULL, \
         received_at timestamptz NOT NULL DEFAULT now(), record jsonb NOT NULL, \
         UNIQUE (fixmedins_code, msgid)); CREATE SEQUENCE claim_msgid_seq;",
    )?;
    let settings = pg.psql(
        "SELECT current_setting('server_version') || ', synchronous_commit=' || current_setting('synchronous_commit') \
         || ', fsync=' || current_setting('fsync') || ', wal_sync_method=' || current_setting('wal_sync_method') \
         || ', full_page_writes=' || current_setting('full_page_writes') || ', shared_buffers=' || current_setting('shared_buffers') \
         || ', TLS=' || coalesce((SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl), 'off')",
    )?;
    let settings = settings.trim().to_owned();
    eprintln!("bench: PostgreSQL {settings}");
    let script = pg.root.join("settled_claim.sql");
    std::fs::write(&script, pgbench_script(record))?;
    let record_bytes = record.to_string().len();
    let mut results = Vec::new();
    for &n in levels {
        eprintln!("bench: PostgreSQL, {n} connection(s), {warmup} s warm-up + {seconds} s …");
        pg.psql("CHECKPOINT")?;
        let level = pgbench_level(&pg, &script, n, warmup, seconds)?;
        eprintln!("bench:   {}", level.summary());
        results.push(level);
    }
    let rows = pg.psql("SELECT count(*) || ' rows, avg record ' || avg(length(record::text))::bigint || ' bytes' FROM settled_claim")?;
    pg.stop();
    let note = format!(
        "PostgreSQL {settings}; pgbench over TCP 127.0.0.1, one INSERT of a settled-claim row per transaction \
         (record = a real 2207 request + answer, {record_bytes} bytes of JSON, jsonb; unique (fixmedins_code, msgid)); \
         table after the run: {}.",
        rows.trim()
    );
    Ok((results, note))
}

fn pgbench_level(
    pg: &Postgres,
    script: &Path,
    n: usize,
    warmup: u64,
    seconds: u64,
) -> Result<Level> {
    let load_before = loadavg();
    let prefix = format!("pgbench-log-{n}");
    for e in std::fs::read_dir(&pg.root)?.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let threads = n.min(2);
    let mut cmd = pg.client("pgbench");
    cmd.args([
        "-n",
        "-c",
        &n.to_string(),
        "-j",
        &threads.to_string(),
        "-T",
        &(warmup + seconds).to_string(),
    ])
    .arg("-f")
    .arg(script)
    .arg("--log")
    .arg(format!("--log-prefix={}", pg.root.join(&prefix).display()))
    .arg("postgres")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let started_wall = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let child = cmd.spawn().context("starting pgbench")?;
    // pgbench connects first; sample CPU over the same nominal window as medsettle (after the
    // warm-up), with the backends alive.
    let start = Instant::now();
    let window_from = start + Duration::from_secs(warmup);
    let window_to = window_from + Duration::from_secs(seconds);
    std::thread::sleep(window_from.saturating_duration_since(Instant::now()));
    let pids = pg.server_pids();
    let client_pid = child.id().to_string();
    let a = CpuSample::take(&pids, &client_pid);
    std::thread::sleep(window_to.saturating_duration_since(Instant::now()));
    let b = CpuSample::take(&pids, &client_pid);
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "pgbench failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    // Per-transaction log: client_id transaction_no latency_us script_no epoch_s epoch_us.
    let mut txns: Vec<(u64, u64)> = Vec::new(); // (completion µs since epoch, latency µs)
    let mut failed = 0u64;
    for e in std::fs::read_dir(&pg.root)?.flatten() {
        if !e.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        for line in std::fs::read_to_string(e.path())?.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 {
                continue;
            }
            match (
                f[2].parse::<u64>(),
                f[4].parse::<u64>(),
                f[5].parse::<u64>(),
            ) {
                (Ok(lat), Ok(s), Ok(us)) => txns.push((s * 1_000_000 + us, lat)),
                _ => failed += 1,
            }
        }
    }
    if txns.is_empty() {
        bail!("pgbench logged no transactions: {stdout}");
    }
    // The run starts when the first transaction was sent; measure [start + warm-up, + seconds].
    let first_sent = txns
        .iter()
        .map(|&(done, lat)| done.saturating_sub(lat))
        .min()
        .unwrap_or(0);
    let first_sent = first_sent.max(u64::try_from(started_wall.as_micros())?);
    let from = first_sent + warmup * 1_000_000;
    let to = from + seconds * 1_000_000;
    let lat: Vec<u64> = txns
        .iter()
        .filter(|&&(done, _)| done >= from && done <= to)
        .map(|&(_, l)| l)
        .collect();
    let count = lat.len() as u64;
    let cpu = b.since(a);
    let window_us = seconds * 1_000_000;
    Ok(Level {
        system: "PostgreSQL",
        connections: n,
        window_us,
        requests: count,
        claims: count,
        errors: failed,
        first_error: None,
        latency: Percentiles::of(lat),
        settle_latency: None,
        server_cpu_us_per_ack: (count > 0)
            .then(|| cpu.server * 1_000_000 / clock_ticks_per_second() / count),
        cpu,
        load_before,
        note: stdout
            .lines()
            .find(|l| l.contains("tps ="))
            .map(|l| format!("pgbench says: {}", l.trim())),
        sample: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

struct Machine {
    cores: u64,
    memory: String,
    kernel: String,
    cpu_model: String,
    load: String,
}

impl Machine {
    fn read() -> Machine {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kb: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        Machine {
            cores: cores(),
            memory: format!("{} GiB", mem_kb / (1024 * 1024)),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            cpu_model,
            load: loadavg(),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} cores ({}), {} memory, Linux {}, load average {}",
            self.cores, self.cpu_model, self.memory, self.kernel, self.load
        )
    }
}

fn render(
    args: &IngestArgs,
    command: &str,
    before: &Machine,
    after: &Machine,
    ours: &[Level],
    reference: &[Level],
    postgres_note: &str,
) -> String {
    let mut s = String::new();
    s.push_str(&format!("Command: `{command}`\n\n"));
    s.push_str(&format!(
        "Machine: {}; load average at the end {}.\n\n",
        before.describe(),
        after.load
    ));
    s.push_str(&format!(
        "Workload `{}`, {} s warm-up + {} s measured per level; load generator in the same process \
         as the report, on the same machine as the servers. Latency = one request from writing the \
         body to reading the whole answer (integer µs, nearest-rank percentiles).\n\n",
        args.workload.as_str(),
        args.warmup,
        args.seconds
    ));
    s.push_str(
        "| system | conns | durable acks/s | settled claims/s | p50 ms | p99 ms | max ms | 2207 p50 / p99 ms | errors | server CPU µs/ack | CPU in window (of 100 % per core) | load before |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    for l in ours.iter().chain(reference) {
        let settle = l
            .settle_latency
            .map(|p| format!("{} / {}", ms(p.p50), ms(p.p99)))
            .unwrap_or_else(|| "—".into());
        // Register-only runs settle nothing: no claims column.
        let claims = if l.system == "medsettle" && l.settle_latency.is_none() {
            "—".to_owned()
        } else {
            l.per_second(l.claims).to_string()
        };
        let system = if l.system == "medsettle" {
            "medsettle fsync (mTLS)"
        } else {
            "PostgreSQL sync_commit=on"
        };
        s.push_str(&format!(
            "| {system} | {} | {} | {} | {} | {} | {} | {settle} | {} | {} | {} | {} |\n",
            l.connections,
            l.per_second(l.requests),
            claims,
            ms(l.latency.p50),
            ms(l.latency.p99),
            ms(l.latency.max),
            l.errors,
            l.server_cpu_us_per_ack
                .map(|v| v.to_string())
                .unwrap_or_else(|| "—".into()),
            l.cpu.describe(before.cores),
            l.load_before,
        ));
    }
    s.push('\n');
    for l in ours.iter().chain(reference) {
        if let Some(e) = &l.first_error {
            s.push_str(&format!(
                "- {} at {}: first error: {e}\n",
                l.system, l.connections
            ));
        }
        if let Some(n) = &l.note {
            s.push_str(&format!("- {} at {}: {n}\n", l.system, l.connections));
        }
    }
    if !postgres_note.is_empty() {
        s.push_str(&format!("\n{postgres_note}\n"));
    }
    let target = ours.iter().find(|l| l.connections == 64);
    if let Some(l) = target {
        let acks = l.per_second(l.requests);
        let met = acks >= 10_000 && l.latency.p99 < 20_000;
        s.push_str(&format!(
            "\nTarget (≥ 10000 durable acks/s at 64 connections, p99 < 20 ms): {} — {acks} acks/s, p99 {} ms.\n",
            if met { "met" } else { "NOT met" },
            ms(l.latency.p99)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the gateway's `/metrics` prints after commits of `(writes, µs)`: its own
    /// histograms (`serve::flush_histograms`) and renderer, so a renamed metric or a changed
    /// format fails here.
    fn scrape(commits: &[(u64, u64)]) -> String {
        let metrics = medsettle_server::Metrics::new(64);
        let (batch, duration) = medsettle_ops::gateway::flush_histograms(&metrics);
        for &(writes, us) in commits {
            batch.observe(writes);
            duration.observe(us);
        }
        metrics.render()
    }

    #[test]
    fn a_window_of_group_commits_is_the_difference_of_two_scrapes() {
        let before: Vec<(u64, u64)> = vec![(10, 2_000); 10];
        let mut after = before.clone();
        // In the window: 20 commits of 1.5 ms, one of 20 ms, one of 200 ms, one of 600 ms.
        after.extend([(20, 1_500); 20]);
        after.extend([(30, 20_000), (40, 200_000), (50, 600_000)]);
        let a = GroupCommits::parse(&scrape(&before));
        let b = GroupCommits::parse(&scrape(&after));
        assert_eq!((a.commits, a.writes, a.sum_us), (10, 100, 20_000));
        let w = b.since(&a);
        assert_eq!((w.commits, w.writes, w.sum_us), (23, 520, 850_000));
        assert_eq!(
            w.describe(),
            "23 group commits in the window, 22.6 writes each, mean 36.95 ms; \
             3 over 10 ms, 2 over 100 ms, 1 over 500 ms"
        );
        assert_eq!(
            GroupCommits::default().describe(),
            "no group commits in the window"
        );
    }

    #[test]
    fn the_reported_commit_durations_are_bounds_of_the_gateways_histogram() {
        for bound in COMMIT_REPORT_BOUNDS_US {
            assert!(
                medsettle_ops::gateway::FLUSH_LATENCY_BOUNDS_US.contains(&bound),
                "{bound} µs is not a bucket bound"
            );
        }
    }

    #[test]
    fn seconds_are_read_as_whole_microseconds() {
        assert_eq!(seconds_to_us("5.446403"), 5_446_403);
        assert_eq!(seconds_to_us("2"), 2_000_000);
        assert_eq!(seconds_to_us("0.0000019"), 1);
        assert_eq!(seconds_to_us("0.5"), 500_000);
    }
}
