//! Cross-region settlement round trip (issue 19; BENCHMARKS.md, "Cross-region settlement round
//! trip").
//!
//! `xr-bench [--gateway PATH] [--visits N] [--warmup N] [--connections 1,16] [--dir DIR]`
//!
//! Two real gateways on loopback, set up as an operator would: `medsettle init --region 440300`
//! (the place of treatment) and `medsettle init --region 330100` (the insured place), each with
//! a peer certificate bound to its province, each calling the other as a `[[peer]]` over mutual
//! TLS with the other's server certificate pinned, both in `fsync` durability, rate limits
//! raised far above what the HIS side sends. A HIS at the place of treatment then settles
//! outpatient visits (2207) of two kinds, level by level, in the same run:
//!
//! - **local**: persons insured at the place of treatment (440300): its own core settles;
//! - **cross-region**: persons insured at the peer (330100): the treatment place summarises the
//!   visit, journals an in-doubt marker, sends XPRV01 to the peer, which settles it under its
//!   policy and journals it before answering; the treatment place journals the split and
//!   answers the HIS.
//!
//! At each connection level, each HIS connection first prepares all of its visits (2201
//! registration, 2204 fee detail, 2206 pre-settlement — untimed; for the cross-region kind the
//! 2206 already goes to the peer), then all connections start together and send their 2207s one
//! at a time. A 2207's round trip is timed from just before its request is written to just after
//! its whole answer is read; every answer must be a settlement (infcode 0). Throughput is the
//! 2207s of the level over the time from the first start to the last answer. Afterwards the
//! treatment place must have nothing in doubt and as many cross-region ledger rows as
//! cross-region 2207s were answered.
//!
//! Integer arithmetic throughout (microseconds, counts).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use clap::Parser;
use medsettle_client::his::{
    self, CALL_SERVICE_PATH, EnvelopeBuilder, FeeLine, HisConnection, Insured, Sender,
};
use medsettle_server::Role;
use medsettle_server::pki::{DevPki, generate_dev_pki};
use serde_json::Value;

/// The place of treatment and the insured place: region code and the prefix its peer
/// certificate is bound to.
const TREATMENT: (&str, &str) = ("440300", "44");
const INSURED: (&str, &str) = ("330100", "33");
/// Rate limit written into both configurations: far above what the HIS side can send.
const RATE_RAISED: i64 = 10_000_000;
/// Seconds between the msgid clocks of two HIS connections (an [`EnvelopeBuilder`] moves one
/// second per 10,000 messages; a connection sends four per visit).
const MSGID_SECONDS_PER_BUILDER: i64 = 60;
/// Upper bound for a gateway to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Most visits one run may ask for (bounded memory and msgid space).
const VISITS_MAX: usize = 100_000;

#[derive(Parser)]
#[command(
    name = "xr-bench",
    about = "Cross-region settlement round trip beside a local one (BENCHMARKS.md)"
)]
struct Args {
    /// The `medsettle` binary (default: the one beside this executable).
    #[arg(long)]
    gateway: Option<PathBuf>,
    /// Timed 2207s per kind and connection level (spread over the connections).
    #[arg(long, default_value_t = 400)]
    visits: usize,
    /// Untimed whole visits per kind before the first level (connections, caches, pools).
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// HIS connection levels, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    connections: Vec<usize>,
    /// Working directory (kept); default a temporary one, removed afterwards.
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Local,
    CrossRegion,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Local => "local (insured at 440300)",
            Kind::CrossRegion => "cross-region (insured at 330100, via its gateway)",
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.visits == 0
        || args.visits > VISITS_MAX
        || args.connections.is_empty()
        || args.connections.contains(&0)
    {
        bail!("--visits must be 1..={VISITS_MAX} and every --connections level at least 1");
    }
    let exe = match &args.gateway {
        Some(g) => g.clone(),
        None => medsettle_bench::sibling_gateway()?,
    };
    let temp;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.canonicalize()?
        }
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_owned()
        }
    };
    run(&args, &exe, &dir)
}

/// One region's gateway as set up here.
struct Region {
    code: &'static str,
    prefix: &'static str,
    dir: PathBuf,
    port: u16,
    peer_pki: DevPki,
}

impl Region {
    fn config(&self) -> PathBuf {
        self.dir.join("medsettle.toml")
    }
}

fn run(args: &Args, exe: &Path, dir: &Path) -> Result<()> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let started = china_now();
    eprintln!("xr-bench: {}", machine());
    let regions = [TREATMENT, INSURED]
        .iter()
        .map(|&(code, prefix)| init_region(exe, dir, code, prefix))
        .collect::<Result<Vec<_>>>()?;
    link(&regions)?;
    let mut treatment = Gateway::start(exe, &regions[0].config(), &dir.join("treatment.log"))?;
    let mut insured = Gateway::start(exe, &regions[1].config(), &dir.join("insured.log"))?;
    eprintln!(
        "xr-bench: treatment {} (pid {}), insured {} (pid {}); logs in {}",
        treatment.addr,
        treatment.pid(),
        insured.addr,
        insured.pid(),
        dir.display()
    );
    let his = HisSide::new(&regions[0], &regions[1], treatment.addr)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut builders = 0i64;
    for kind in [Kind::Local, Kind::CrossRegion] {
        rt.block_on(his.level(kind, 1, args.warmup, &mut builders))
            .with_context(|| format!("warm-up, {}", kind.label()))?;
    }
    let mut levels = Vec::new();
    for &n in &args.connections {
        for kind in [Kind::Local, Kind::CrossRegion] {
            eprintln!("xr-bench: {}, {n} connection(s) …", kind.label());
            let level = rt
                .block_on(his.level(kind, n, args.visits, &mut builders))
                .with_context(|| format!("{}, {n} connection(s)", kind.label()))?;
            eprintln!("xr-bench:   {}", level.row());
            levels.push(level);
        }
    }
    drop(rt);
    let xr_settled = args.warmup + xr_total(&levels);
    check_treatment(exe, &regions[0], xr_settled)?;
    let stopped = (treatment.stop(), insured.stop());
    eprintln!("xr-bench: gateways stopped: {stopped:?}");
    print!(
        "{}",
        report(args, &command, &started, &china_now(), &levels)
    );
    Ok(())
}

/// Cross-region 2207s answered in the measured levels.
fn xr_total(levels: &[Level]) -> usize {
    levels
        .iter()
        .filter(|l| l.kind == Kind::CrossRegion)
        .map(|l| l.latencies_us.len())
        .sum()
}

/// Now, China time, for the report.
fn china_now() -> String {
    let t = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} (UTC+8)",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

// ---------------------------------------------------------------------------------------------
// Setting up the two gateways
// ---------------------------------------------------------------------------------------------

fn init_region(exe: &Path, dir: &Path, code: &'static str, prefix: &'static str) -> Result<Region> {
    let rdir = dir.join(code);
    let out = Command::new(exe)
        .args(["init", "--dir"])
        .arg(&rdir)
        .args(["--region", code])
        .output()
        .context("medsettle init")?;
    if !out.status.success() {
        bail!(
            "medsettle init --region {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let name = format!("gw-{code}");
    let peer_pki = generate_dev_pki(
        &rdir.join("peer-pki"),
        &["localhost", "127.0.0.1"],
        &[(name.as_str(), Role::Peer, &[prefix])],
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    Ok(Region {
        code,
        prefix,
        dir: rdir,
        port,
        peer_pki,
    })
}

/// SHA-256 of a PEM certificate's DER, hex.
fn fingerprint(pem: &Path) -> Result<String> {
    let der = medsettle_server::tls::load_certificates(pem)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("no certificate in {}", pem.display()))?;
    let facts = medsettle_server::identity::CertificateFacts::from_der(&der)
        .map_err(|e| anyhow!("{}: {e}", pem.display()))?;
    Ok(facts
        .fingerprint_sha256
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Each region recognises the other's peer certificate (for its region only) and calls the
/// other as its `[[peer]]`, pinned; rate limits raised.
fn link(regions: &[Region]) -> Result<()> {
    for (me, r) in regions.iter().enumerate() {
        let text = std::fs::read_to_string(r.config())?;
        let mut t: toml::Table = toml::from_str(&text)?;
        let server = t
            .get_mut("server")
            .and_then(toml::Value::as_table_mut)
            .ok_or_else(|| anyhow!("no [server]"))?;
        server.insert("listen".into(), format!("127.0.0.1:{}", r.port).into());
        let limits = server
            .entry("limits")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| anyhow!("[server.limits] is not a table"))?;
        limits.insert("rate_per_institution_per_second".into(), RATE_RAISED.into());
        limits.insert("rate_burst".into(), RATE_RAISED.into());
        let mut peers = toml::value::Array::new();
        let mine = r
            .peer_pki
            .client(&format!("gw-{}", r.code))
            .ok_or_else(|| anyhow!("no peer client"))?;
        for other in regions
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != me)
            .map(|(_, o)| o)
        {
            let theirs = other
                .peer_pki
                .client(&format!("gw-{}", other.code))
                .ok_or_else(|| anyhow!("no peer client"))?;
            array(server, "client_ca_bundles")?
                .push(other.peer_pki.ca_cert.to_string_lossy().into_owned().into());
            array(server, "clients")?.push(toml::Value::try_from(theirs.client_config())?);
            let entry: toml::Table = toml::from_str(&format!(
                r#"
name = "{code}"
admdvs = ["{prefix}"]
[upstream]
url = "https://127.0.0.1:{port}/interregion/v1"
path_style = "exact"
ca_bundle = "{ca}"
server_fingerprint_sha256 = "{fp}"
client_cert = "{cert}"
client_key = "{key}"
"#,
                code = other.code,
                prefix = other.prefix,
                port = other.port,
                ca = other.dir.join("certs/ca.pem").display(),
                fp = fingerprint(&other.dir.join("certs/server.pem"))?,
                cert = mine.cert.display(),
                key = mine.key.display(),
            ))?;
            peers.push(entry.into());
        }
        t.insert("peer".into(), peers.into());
        let durability = t
            .get("store")
            .and_then(|s| s.get("durability"))
            .and_then(toml::Value::as_str);
        if durability != Some("fsync") {
            bail!("{}: not in fsync durability ({durability:?})", r.code);
        }
        medsettle_bench::replace_file(&r.config(), toml::to_string(&t)?.as_bytes())?;
    }
    Ok(())
}

fn array<'a>(table: &'a mut toml::Table, key: &str) -> Result<&'a mut toml::value::Array> {
    table
        .get_mut(key)
        .and_then(toml::Value::as_array_mut)
        .ok_or_else(|| anyhow!("[server] {key} is not an array"))
}

/// `medsettle interregion status --json` at the place of treatment: nothing in doubt, and one
/// ledger row per cross-region settlement answered.
fn check_treatment(exe: &Path, treatment: &Region, xr_settled: usize) -> Result<()> {
    let out = Command::new(exe)
        .args(["interregion", "status", "--json", "--config"])
        .arg(treatment.config())
        .output()?;
    if !out.status.success() {
        bail!(
            "interregion status: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let in_doubt = v["in_doubt"].as_array().map_or(usize::MAX, Vec::len);
    let rows: u64 = v["peers"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["treated_rows"].as_u64()).sum())
        .unwrap_or(0);
    if in_doubt != 0 || rows != xr_settled as u64 {
        bail!(
            "after the run: {in_doubt} in doubt, {rows} ledger rows for {xr_settled} cross-region settlements"
        );
    }
    eprintln!("xr-bench: checked: nothing in doubt, {rows} cross-region ledger rows");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The gateway processes
// ---------------------------------------------------------------------------------------------

struct Gateway {
    child: Option<Child>,
    addr: SocketAddr,
}

impl Gateway {
    fn start(exe: &Path, config: &Path, log: &Path) -> Result<Gateway> {
        let mut child = Command::new(exe)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env("MEDSETTLE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .context("starting `medsettle serve`")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = tx.send(reader.read_line(&mut line).map(|_| line));
            let mut sink = String::new();
            while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
            }
        });
        let mut gateway = Gateway {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) => line,
            other => {
                gateway.stop();
                bail!(
                    "no address from the gateway ({other:?}); see {}",
                    log.display()
                );
            }
        };
        gateway.addr = line
            .trim()
            .strip_prefix("listening on https://")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| anyhow!("not an address: {line:?}; see {}", log.display()))?;
        Ok(gateway)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGTERM, wait (SIGKILL after 60 s).
    fn stop(&mut self) -> String {
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
// The HIS side
// ---------------------------------------------------------------------------------------------

/// One institution's sender and TLS configuration.
type Client = (Sender, Arc<rustls::ClientConfig>);

struct HisSide {
    addr: SocketAddr,
    clients: Vec<Client>,
    local: Arc<Vec<Insured>>,
    remote: Arc<Vec<Insured>>,
}

/// One kind at one connection level.
struct Level {
    kind: Kind,
    connections: usize,
    latencies_us: Vec<u64>,
    elapsed_us: u64,
}

impl HisSide {
    fn new(treatment: &Region, insured: &Region, addr: SocketAddr) -> Result<HisSide> {
        let employees = |r: &Region| -> Result<Vec<Insured>> {
            let text = std::fs::read_to_string(r.dir.join("policy/persons.toml"))?;
            Ok(his::insured_from_registry(&text)?
                .into_iter()
                .filter(|p| p.insutype == "310")
                .collect())
        };
        let text = std::fs::read_to_string(treatment.dir.join("institutions.toml"))?;
        let institutions: toml::Table = toml::from_str(&text)?;
        let certs = treatment.dir.join("certs");
        let mut clients = Vec::new();
        for i in institutions["institution"]
            .as_array()
            .ok_or_else(|| anyhow!("no [[institution]]"))?
        {
            let code = i["fixmedins_code"].as_str().unwrap_or_default().to_owned();
            let tls = his::client_tls(
                &certs.join("ca.pem"),
                &certs.join(format!("clients/{code}.pem")),
                &certs.join(format!("clients/{code}.key")),
            )?;
            let sender = Sender {
                fixmedins_code: code,
                fixmedins_name: i["fixmedins_name"].as_str().unwrap_or_default().to_owned(),
                mdtrtarea_admvs: treatment.code.to_owned(),
            };
            clients.push((sender, tls));
        }
        let (local, remote) = (employees(treatment)?, employees(insured)?);
        if clients.is_empty() || local.is_empty() || remote.is_empty() {
            bail!("the sample data has no institutions or no employees");
        }
        Ok(HisSide {
            addr,
            clients,
            local: Arc::new(local),
            remote: Arc::new(remote),
        })
    }

    /// `visits` 2207s of `kind` over `n` connections, prepared first, then timed.
    async fn level(
        &self,
        kind: Kind,
        n: usize,
        visits: usize,
        builders: &mut i64,
    ) -> Result<Level> {
        let persons = match kind {
            Kind::Local => self.local.clone(),
            Kind::CrossRegion => self.remote.clone(),
        };
        let barrier = Arc::new(tokio::sync::Barrier::new(n));
        let mut tasks = Vec::new();
        for c in 0..n {
            // visits c, c + n, c + 2n, …: each connection its own persons
            let mine: Vec<usize> = (c..visits).step_by(n).collect();
            let (sender, tls) = self.clients[c % self.clients.len()].clone();
            let base = time::PrimitiveDateTime::new(today_china(), time::Time::MIDNIGHT)
                + time::Duration::seconds(*builders * MSGID_SECONDS_PER_BUILDER);
            *builders += 1;
            let (addr, persons, barrier) = (self.addr, persons.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                let mut conn = HisConnection::connect(addr, tls).await?;
                let mut b = EnvelopeBuilder::new(sender, base);
                let mut settles = Vec::with_capacity(mine.len());
                for &v in &mine {
                    let p = &persons[v % persons.len()];
                    settles.push(until_settlement(&mut conn, &mut b, p, v as u64).await?);
                }
                barrier.wait().await;
                let start = Instant::now();
                let mut latencies = Vec::with_capacity(settles.len());
                for settle in settles {
                    let body = Bytes::from(settle.to_string());
                    let t0 = Instant::now();
                    let (status, answer) = conn.post(CALL_SERVICE_PATH, body).await?;
                    latencies.push(micros(t0.elapsed()));
                    let answer: Value = serde_json::from_slice(&answer)?;
                    his::expect_success(status, &answer, "2207")?;
                }
                anyhow::Ok((start, Instant::now(), latencies))
            }));
        }
        let mut latencies_us = Vec::with_capacity(visits);
        let (mut first, mut last): (Option<Instant>, Option<Instant>) = (None, None);
        for t in tasks {
            let (start, end, l) = t.await??;
            first = Some(first.map_or(start, |f| f.min(start)));
            last = Some(last.map_or(end, |e| e.max(end)));
            latencies_us.extend(l);
        }
        latencies_us.sort_unstable();
        let elapsed_us = match (first, last) {
            (Some(f), Some(l)) => micros(l.duration_since(f)),
            _ => 0,
        };
        Ok(Level {
            kind,
            connections: n,
            latencies_us,
            elapsed_us,
        })
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn today_china() -> time::Date {
    time::OffsetDateTime::now_utc()
        .to_offset(time::macros::offset!(+8))
        .date()
}

/// 2201 → 2204 → 2206 of one outpatient visit (the client's steps); the 2207 returned unsent.
async fn until_settlement(
    conn: &mut HisConnection,
    b: &mut EnvelopeBuilder,
    p: &Insured,
    visit_no: u64,
) -> Result<Value> {
    let lines = [
        FeeLine {
            med_list_codg: "EXAM002".into(),
            units: 1,
            pric_fen: 20_000 + i64::try_from(visit_no % 60)? * 137,
        },
        FeeLine {
            med_list_codg: "WM001".into(),
            units: 2,
            pric_fen: 1_850,
        },
    ];
    let (_, settle) = his::registered_until_settlement(conn, b, p, &lines, visit_no).await?;
    Ok(settle)
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

/// The `p`-th percentile (nearest rank) of sorted values.
fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// Microseconds as milliseconds with two decimals.
fn ms(us: u64) -> String {
    format!("{}.{:02}", us / 1000, (us % 1000) / 10)
}

impl Level {
    fn per_second_tenths(&self) -> u64 {
        let n = self.latencies_us.len() as u64;
        (n * 10_000_000).checked_div(self.elapsed_us).unwrap_or(0)
    }

    fn row(&self) -> String {
        let l = &self.latencies_us;
        let rate = self.per_second_tenths();
        format!(
            "| {} | {} | {} | {} | {} | {} | {}.{} |",
            self.kind.label(),
            self.connections,
            l.len(),
            ms(percentile(l, 50)),
            ms(percentile(l, 99)),
            ms(l.last().copied().unwrap_or(0)),
            rate / 10,
            rate % 10
        )
    }
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let load = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    format!("{cores} cores ({cpu}), load average {load}")
}

fn report(args: &Args, command: &str, started: &str, ended: &str, levels: &[Level]) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "Command: `{command}` ({} timed 2207s per kind and level, {} warm-up visits per kind).\n",
        args.visits, args.warmup
    ));
    s.push_str(&format!(
        "Machine: {}; run {started} – {ended}.\n\n",
        machine()
    ));
    s.push_str("| settlement | HIS connections | 2207s | p50 ms | p99 ms | max ms | 2207/s |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    for l in levels {
        s.push_str(&l.row());
        s.push('\n');
    }
    s
}
