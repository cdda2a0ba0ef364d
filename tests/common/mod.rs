//! Shared harness for the end-to-end tests: the real `medsettle` binary, real certificates from
//! `medsettle init`, real TLS on 127.0.0.1:0, real sled on disk.

#![allow(dead_code)]

pub use medsettle_client::his;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Upper bound for the gateway to print its address; far above a normal start.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_medsettle"))
}

/// Run `medsettle ARGS…` to completion.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run medsettle")
}

/// Run and assert success; returns stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "medsettle {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// A directory set up by `medsettle init --dir`.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    /// The working-day calendar its configuration names (see [`test_calendar`]).
    pub calendar: TestCalendar,
}

impl Workspace {
    /// `medsettle init`, with the calendar reaching past today's T+1 (see [`test_calendar`]).
    pub fn init() -> Workspace {
        let dir = tempfile::tempdir().expect("temp dir");
        run_ok(&["init", "--dir", dir.path().to_str().unwrap()]);
        let calendar = use_test_calendar(dir.path());
        Workspace { dir, calendar }
    }

    /// `--calendar-file` arguments for `medsettle calendar …`: the workspace's calendar.
    pub fn calendar_args(&self) -> Vec<String> {
        self.calendar
            .files
            .iter()
            .flat_map(|f| ["--calendar-file".to_owned(), f.to_str().unwrap().to_owned()])
            .collect()
    }

    /// `medsettle calendar pay-date DATE` on the workspace's calendar: the T+1 payment date.
    pub fn pay_date(&self, settled: &str) -> String {
        let mut args = vec![
            "calendar".to_owned(),
            "pay-date".to_owned(),
            settled.to_owned(),
        ];
        args.extend(self.calendar_args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_ok(&args)
            .lines()
            .next()
            .expect("a pay date")
            .trim()
            .to_owned()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.path().join("medsettle.toml")
    }

    pub fn ca(&self) -> PathBuf {
        self.path().join("certs/ca.pem")
    }

    pub fn client_cert(&self, code: &str) -> (PathBuf, PathBuf) {
        let base = self.path().join("certs/clients");
        (
            base.join(format!("{code}.pem")),
            base.join(format!("{code}.key")),
        )
    }

    pub fn tls_for(&self, code: &str) -> Arc<rustls::ClientConfig> {
        let (cert, key) = self.client_cert(code);
        his::client_tls(&self.ca(), &cert, &key).expect("client TLS config")
    }

    /// Start `medsettle serve` on a free port.
    pub fn serve(&self, extra: &[&str]) -> Gateway {
        Gateway::start(&self.config(), extra)
    }
}

/// Today in China, the gateway's settlement date.
pub fn today_in_china() -> time::Date {
    time::OffsetDateTime::now_utc()
        .to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap())
        .date()
}

/// The calendar files an end-to-end workspace uses, and the last day they date.
pub struct TestCalendar {
    pub files: Vec<PathBuf>,
    pub last_day: time::Date,
}

/// Calendar files for the end-to-end tests, which settle claims on the real today and pay them
/// on its T+1 working day: the shipped ones (`specs/calendar/cn-YYYY.toml`), plus — for this
/// year and the next when none is shipped — a file written into `dir` with weekends only. Those
/// are test data, not the State Council's schedule; they keep the tests independent of the date
/// they run on.
pub fn test_calendar(dir: &Path) -> TestCalendar {
    let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/calendar");
    let mut years = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(&specs).unwrap() {
        let path = entry.unwrap().path();
        let year = path.file_name().and_then(|n| n.to_str()).and_then(|n| {
            n.strip_prefix("cn-")?
                .strip_suffix(".toml")?
                .parse::<i32>()
                .ok()
        });
        if let Some(year) = year {
            years.insert(year, path);
        }
    }
    let this_year = today_in_china().year();
    for y in [this_year, this_year + 1] {
        years.entry(y).or_insert_with(|| {
            let f = dir.join(format!("test-calendar-{y}.toml"));
            let text = format!(
                "year = {y}\nsource = \"end-to-end tests: weekends only, not the official schedule\"\n"
            );
            std::fs::write(&f, text).unwrap();
            f
        });
    }
    let mut last_year = this_year;
    while years.contains_key(&(last_year + 1)) {
        last_year += 1;
    }
    TestCalendar {
        files: years.into_values().collect(),
        last_day: time::Date::from_calendar_date(last_year, time::Month::December, 31).unwrap(),
    }
}

/// Point the configuration `medsettle init` wrote into `dir` at [`test_calendar`].
pub fn use_test_calendar(dir: &Path) -> TestCalendar {
    let calendar = test_calendar(dir);
    let list = calendar
        .files
        .iter()
        .map(|f| format!("{:?}", f.to_str().unwrap()))
        .collect::<Vec<_>>()
        .join(", ");
    let config = dir.join("medsettle.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("\ncalendar = []\n"),
        "init writes `calendar = []`"
    );
    let text = text.replacen("\ncalendar = []\n", &format!("\ncalendar = [{list}]\n"), 1);
    std::fs::write(config, text).unwrap();
    calendar
}

/// A running `medsettle serve`; killed on drop.
pub struct Gateway {
    pub child: Child,
    pub addr: SocketAddr,
    stdout: Option<BufReader<ChildStdout>>,
}

impl Gateway {
    pub fn start(config: &Path, extra: &[&str]) -> Gateway {
        let mut args = vec![
            "serve".to_owned(),
            "--config".to_owned(),
            config.to_str().unwrap().to_owned(),
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new(bin())
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn medsettle serve");
        Gateway::adopt(child)
    }

    /// A `medsettle serve` started by the caller (e.g. under `faketime`), its standard output
    /// piped: waits for its address line.
    pub fn adopt(mut child: Child) -> Gateway {
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let deadline = Instant::now() + START_TIMEOUT;
        let mut line = String::new();
        // The first line of standard output is the address (issue contract).
        stdout.read_line(&mut line).expect("read first line");
        assert!(Instant::now() < deadline, "gateway took too long to start");
        let addr = line
            .trim()
            .strip_prefix("listening on https://")
            .unwrap_or_else(|| panic!("first line is not the address: {line:?}"))
            .parse()
            .expect("socket address");
        Gateway {
            child,
            addr,
            stdout: Some(stdout),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGKILL, no chance to flush or clean up.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, wait, and return the exit status with everything printed on standard output
    /// after the address line.
    pub fn terminate_with_stdout(mut self) -> (std::process::ExitStatus, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("wait for gateway");
        let mut rest = String::new();
        if let Some(mut out) = self.stdout.take() {
            use std::io::Read;
            let _ = out.read_to_string(&mut rest);
        }
        (status, rest)
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for gateway")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A multi-threaded runtime for the async client in a sync test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

// ---------------------------------------------------------------------------------------------
// Helpers for the gateway and crash end-to-end tests (tests/gateway_e2e.rs, tests/crash.rs).
// ---------------------------------------------------------------------------------------------

impl Workspace {
    /// Set `[server.limits] KEY = VALUE` in the generated configuration (comments are lost,
    /// values kept).
    pub fn set_server_limit(&self, key: &str, value: impl Into<toml::Value>) {
        let text = std::fs::read_to_string(self.config()).expect("read config");
        let mut table: toml::Table = toml::from_str(&text).expect("config is TOML");
        let server = table
            .get_mut("server")
            .and_then(toml::Value::as_table_mut)
            .expect("[server] section");
        let limits = server
            .entry("limits")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("[server.limits] is a table");
        limits.insert(key.to_owned(), value.into());
        std::fs::write(
            self.config(),
            toml::to_string(&table).expect("render config"),
        )
        .expect("write config");
    }

    /// `medsettle journal export`: one JSON value per record (the gateway must be stopped).
    pub fn journal_export(&self) -> Vec<serde_json::Value> {
        run_ok(&[
            "journal",
            "export",
            "--config",
            self.config().to_str().unwrap(),
        ])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("export line {l:?}: {e}")))
        .collect()
    }

    /// `medsettle journal stats --json` (the gateway must be stopped).
    pub fn journal_stats(&self) -> serde_json::Value {
        let out = run_ok(&[
            "journal",
            "stats",
            "--json",
            "--config",
            self.config().to_str().unwrap(),
        ]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("stats is not JSON ({e}): {out}"))
    }

    /// The sample insured persons `init` wrote.
    pub fn insured(&self) -> Vec<his::Insured> {
        let text =
            std::fs::read_to_string(self.path().join("policy/persons.toml")).expect("persons");
        his::insured_from_registry(&text).expect("person registry")
    }

    /// Start `medsettle serve` on a free port with extra environment variables (e.g.
    /// `MEDSETTLE_LOG=warn` for tests that make many requests).
    pub fn serve_env(&self, extra: &[&str], env: &[(&str, &str)]) -> Gateway {
        Gateway::start_env(&self.config(), extra, env)
    }
}

impl Gateway {
    /// Like [`Gateway::start`], with extra environment variables for the child.
    pub fn start_env(config: &Path, extra: &[&str], env: &[(&str, &str)]) -> Gateway {
        let mut args = vec![
            "serve".to_owned(),
            "--config".to_owned(),
            config.to_str().unwrap().to_owned(),
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut child = Command::new(bin())
            .args(&args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn medsettle serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read first line");
        let addr = line
            .trim()
            .strip_prefix("listening on https://")
            .unwrap_or_else(|| panic!("first line is not the address: {line:?}"))
            .parse()
            .expect("socket address");
        Gateway {
            child,
            addr,
            stdout: Some(stdout),
        }
    }

    /// Send SIGTERM without waiting (see [`Gateway::wait`]).
    pub fn signal_term(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Wait for the process to exit, at most `bound`; `None` if it is still running then.
    pub fn wait_bounded(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A raw TLS connection to the gateway (for requests hyper would not send: partial heads,
/// `Expect: 100-continue`, chunked bodies).
pub type RawTls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

pub async fn raw_tls(addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> std::io::Result<RawTls> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
}

/// A parsed HTTP/1.1 response.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Read one HTTP/1.1 response head (and its `Content-Length` body) from `stream`; bytes read
/// past it stay in `buf`. `Err` if the connection ends first.
pub async fn read_response<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> std::io::Result<RawResponse> {
    use tokio::io::AsyncReadExt;
    let eof = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection ended");
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(eof());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP status line: {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().expect("content-length"))
        .unwrap_or(0);
    buf.drain(..head_end);
    while buf.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(eof());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf.drain(..length).collect();
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// Read until the peer closes the connection (EOF, TLS close or reset), at most `bound`.
/// `Ok(bytes received)` when it closed, `Err(bytes received)` when it was still open.
pub async fn read_until_closed<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    bound: Duration,
) -> Result<Vec<u8>, Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return Err(got),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(got),
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The numeric `infcode` of an answer envelope (`-1` when missing or not a number).
pub fn infcode(answer: &serde_json::Value) -> i64 {
    match &answer["infcode"] {
        serde_json::Value::String(s) => s.parse().unwrap_or(-1),
        v => v.as_i64().unwrap_or(-1),
    }
}

// ---------------------------------------------------------------------------------------------
// Claims through a running gateway.
// ---------------------------------------------------------------------------------------------

/// An institution's name as `institutions.toml` gives it.
pub fn institution_name(ws_dir: &Path, code: &str) -> String {
    let text = std::fs::read_to_string(ws_dir.join("institutions.toml")).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    table["institution"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["fixmedins_code"].as_str() == Some(code))
        .and_then(|i| i["fixmedins_name"].as_str())
        .unwrap_or_else(|| panic!("{code} in institutions.toml"))
        .to_owned()
}

/// `per` complete outpatient visits (two fee lines each, prices varied) for each institution
/// of `codes` through the gateway at `addr`, as sent on `day` (the gateway's clock must agree).
pub fn outpatient_visits(
    ws: &Workspace,
    addr: SocketAddr,
    codes: &[&str],
    per: usize,
    day: time::Date,
) {
    let persons: Vec<his::Insured> = ws
        .insured()
        .into_iter()
        .filter(|p| p.insutype == "310")
        .collect();
    runtime().block_on(async {
        for (i, code) in codes.iter().enumerate() {
            let mut conn = his::HisConnection::connect(addr, ws.tls_for(code))
                .await
                .unwrap();
            let base = time::PrimitiveDateTime::new(day, time::Time::MIDNIGHT);
            let sender = his::Sender {
                fixmedins_code: (*code).into(),
                fixmedins_name: institution_name(ws.path(), code),
                mdtrtarea_admvs: "440300".into(),
            };
            let mut b = his::EnvelopeBuilder::new(sender, base);
            for n in 0..per {
                let lines = vec![
                    his::FeeLine {
                        med_list_codg: "EXAM002".into(),
                        units: 1,
                        pric_fen: 60_000 + (i * 1_000 + n * 137) as i64,
                    },
                    his::FeeLine {
                        med_list_codg: "WM001".into(),
                        units: 2,
                        pric_fen: 1_850,
                    },
                ];
                his::outpatient_visit(&mut conn, &mut b, &persons[i * per + n], &lines, n as u64)
                    .await
                    .unwrap_or_else(|e| panic!("{code} visit {n}: {e:#}"));
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// The simulated bank's answers.
// ---------------------------------------------------------------------------------------------

/// A plan that answers with a mix: of the payments not overridden, so many per mille fail, go
/// pending then paid, or are paid then returned; the first receipt file is delivered twice.
pub fn receipt_mix(
    seed: u64,
    failed_per_mille: u16,
    pending_per_mille: u16,
    returned_per_mille: u16,
) -> medsettle_bank::OutcomePlan {
    let mut p = medsettle_bank::OutcomePlan::all_paid(seed);
    p.failed_per_mille = failed_per_mille;
    p.pending_per_mille = pending_per_mille;
    p.returned_per_mille = returned_per_mille;
    p.duplicate_receipt = true;
    p
}

/// The first seed (below `search_max`) whose plan, for `batch`'s payments, fails one, pays one
/// after a pending receipt and returns one after paying it: every kind of answer, every run.
pub fn seed_with_every_outcome(
    batch: &medsettle_canonical::PaymentBatch,
    plan: impl Fn(u64) -> medsettle_bank::OutcomePlan,
    search_max: u64,
) -> u64 {
    use medsettle_bank::Outcome;
    let kind = |o: Outcome| match o {
        Outcome::Paid => 0u8,
        Outcome::Failed(_) => 1,
        Outcome::PendingThenPaid => 2,
        Outcome::PaidThenReturned(_) => 3,
        Outcome::Pending => 4,
    };
    let want: std::collections::BTreeSet<u8> = [1, 2, 3].into();
    (1..search_max)
        .find(|&seed| {
            let p = plan(seed);
            let got: std::collections::BTreeSet<u8> = batch
                .payments
                .iter()
                .map(|x| kind(p.outcome_for(&x.payment_id)))
                .collect();
            got == want
        })
        .expect("a seed giving failed, pending-then-paid and paid-then-returned")
}

// ---------------------------------------------------------------------------------------------
// Workspaces, configuration edits and a clock set back (libfaketime).
// ---------------------------------------------------------------------------------------------

/// Set `[SECTION] KEY = VALUE` in a configuration file.
pub fn set_key(config: &Path, section: &str, key: &str, value: impl Into<toml::Value>) {
    let text = std::fs::read_to_string(config).unwrap();
    let mut table: toml::Table = toml::from_str(&text).unwrap();
    table
        .entry(section)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .unwrap()
        .insert(key.to_owned(), value.into());
    std::fs::write(config, toml::to_string(&table).unwrap()).unwrap();
}

/// Copy a directory tree (a workspace, journal included, while no gateway runs).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// libfaketime (Debian's `faketime` package; `.ci/test` installs it), preloaded into the
/// gateway itself (not the `faketime` wrapper, which would stand between the test and the
/// gateway's signals): the first phase runs "last month", so that the month the operator
/// closes is over while today's claims flow.
pub fn faketime_lib() -> PathBuf {
    let path = PathBuf::from("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1");
    assert!(
        path.is_file(),
        "libfaketime is not installed (apt-get install faketime; .ci/test installs it)"
    );
    path
}

/// `medsettle ARGS…` as a command whose clock runs `days` days back.
pub fn medsettle_back(days: i64) -> std::process::Command {
    let mut c = std::process::Command::new(bin());
    c.env("LD_PRELOAD", faketime_lib())
        .env("FAKETIME", format!("-{days}d"))
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    c
}

/// Days back to a weekday of the previous month, about ten days before this month began.
pub fn days_back_to_last_month(today: time::Date) -> i64 {
    let mut back = i64::from(today.day()) + 10;
    while matches!(
        (today - time::Duration::days(back)).weekday(),
        time::Weekday::Saturday | time::Weekday::Sunday
    ) {
        back += 1;
    }
    back
}

/// `medsettle ARGS…` as a command whose clock starts at `at` (UTC, `YYYY-MM-DD HH:MM:SS`) and
/// runs on from there.
pub fn medsettle_at(at: &str) -> std::process::Command {
    let mut c = std::process::Command::new(bin());
    c.env("LD_PRELOAD", faketime_lib())
        .env("FAKETIME", format!("@{at}"))
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    c
}

// ---------------------------------------------------------------------------------------------
// Files and directories, and keeping a failed run's workspaces.
// ---------------------------------------------------------------------------------------------

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// Every name in `dir` (hidden ones included); an absent directory is empty.
pub fn dir_names(dir: &Path) -> std::collections::BTreeSet<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.expect("dir entry").file_name().into_string().unwrap())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::collections::BTreeSet::new(),
        Err(e) => panic!("list {}: {e}", dir.display()),
    }
}

/// With the environment variable `env` set, a failing test copies the listed directories to
/// `<tmp>/<prefix>-<pid>` for a post-mortem.
pub struct KeepOnPanic {
    env: &'static str,
    prefix: &'static str,
    pub dirs: Vec<(PathBuf, &'static str)>,
}

impl KeepOnPanic {
    pub fn new(
        env: &'static str,
        prefix: &'static str,
        dirs: Vec<(PathBuf, &'static str)>,
    ) -> KeepOnPanic {
        KeepOnPanic { env, prefix, dirs }
    }
}

impl Drop for KeepOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() && std::env::var_os(self.env).is_some() {
            let dest = std::env::temp_dir().join(format!("{}-{}", self.prefix, std::process::id()));
            for (dir, name) in &self.dirs {
                copy_tree(dir, &dest.join(name));
            }
            eprintln!("{}: kept the workspaces in {}", self.prefix, dest.display());
        }
    }
}
