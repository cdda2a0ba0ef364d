//! The gateway never stops (issue 14): every operator command works while `medsettle serve`
//! runs on the same configuration — it becomes a request to the gateway's operator API — and
//! says exactly what it says when no gateway runs and the command opens the journal itself.
//! Real binary, real TLS, real sled, real files.

mod common;

use std::path::{Path, PathBuf};

use common::his::{self, EnvelopeBuilder, FeeLine, Sender};
use common::*;

const CODES: [&str; 2] = ["H44030000001", "H44030000002"];

/// `per` complete outpatient visits for each of [`CODES`] through the gateway at `addr`.
fn visits(ws: &Workspace, addr: std::net::SocketAddr, per: usize) {
    visits_on(ws, addr, per, today_in_china());
}

/// [`visits`] sent as on `day` (the envelopes' times; the gateway's clock must agree).
fn visits_on(ws: &Workspace, addr: std::net::SocketAddr, per: usize, day: time::Date) {
    outpatient_visits(ws, addr, &CODES, per, day);
}

/// What one command did: exit code, standard output, standard error.
#[derive(Debug, PartialEq, Eq)]
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn ran(args: &[String], config: &Path) -> Ran {
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend(["--config", config.to_str().unwrap()]);
    let out = run(&all);
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

/// The operator's files of the day, under `dir`.
struct Inputs {
    declarations: PathBuf,
    cases: PathBuf,
    rows: PathBuf,
    amounts: PathBuf,
    scores: PathBuf,
}

fn inputs(dir: &Path, today: time::Date) -> Inputs {
    let period = format!("{:04}-{:02}", today.year(), today.month() as u8);
    let quarter = (today.month() as u8 - 1) / 3 + 1;
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Inputs {
        declarations: write(
            "declarations.csv",
            format!(
                "fixmedins_code,month,fund_amount,claim_count\n{},{period},2000.00,3\n{},{period},1500.00,3\n",
                CODES[0], CODES[1]
            ),
        ),
        cases: write(
            "cases.csv",
            format!(
                "fixmedins_code,year,quarter,case_id,amount,approved\n{},{},{quarter},C1,100.00,1\n",
                CODES[0],
                today.year()
            ),
        ),
        rows: write(
            "rows.csv",
            "setl_id,mdtrt_id,psn_no,medfee_sumamt,fund_pay_sumamt,acct_pay,refd_setl_flag\n"
                .into(),
        ),
        amounts: write(
            "amounts.csv",
            format!(
                "fixmedins_code,amount\n{},5000.00\n{},4000.00\n",
                CODES[0], CODES[1]
            ),
        ),
        scores: write(
            "scores.csv",
            format!("fixmedins_code,score\n{},95\n{},90\n", CODES[0], CODES[1]),
        ),
    }
}

/// The operator's day, as commands: close and pay the day, reconcile, the month, the
/// quarter, the bank's answers, the year, statuses — and two mistakes.
fn the_day(ws: &Workspace, today: time::Date, i: &Inputs) -> Vec<Vec<String>> {
    let pay = ws.pay_date(&today.to_string());
    let period = format!("{:04}-{:02}", today.year(), today.month() as u8);
    // A month is paid after it ends, on a working day (IS-M-4): the first after its last day.
    let month_end = time::Date::from_calendar_date(
        today.year(),
        today.month(),
        today.month().length(today.year()),
    )
    .unwrap();
    let month_pay = ws.pay_date(&month_end.to_string());
    let quarter = ((today.month() as u8 - 1) / 3 + 1).to_string();
    let year = today.year().to_string();
    let p = |p: &PathBuf| p.to_str().unwrap().to_owned();
    let t = today.to_string();
    vec![
        args(&["settle", "daily", "--date", &pay]),
        args(&["bank", "export", "--date", &pay]),
        args(&["bank", "status"]),
        args(&["settle", "status"]),
        args(&[
            "settle",
            "reconcile-detail",
            "--institution",
            CODES[0],
            "--from",
            &t,
            "--to",
            &t,
            "--rows",
            &p(&i.rows),
        ]),
        // The bank answers the day; only then can the month be settled (IS-D-7).
        args(&["bank", "simulate", "--once"]),
        args(&["bank", "ingest"]),
        args(&[
            "settle",
            "month",
            "--period",
            &period,
            "--declarations",
            &p(&i.declarations),
            "--pay-date",
            &month_pay,
        ]),
        args(&[
            "settle",
            "quarter",
            "--year",
            &year,
            "--quarter",
            &quarter,
            "--cases",
            &p(&i.cases),
            "--pay-date",
            &pay,
        ]),
        // The bank answers the month and the quarter; the year needs every payment final.
        args(&["bank", "simulate", "--once"]),
        args(&["bank", "ingest"]),
        args(&["bank", "status"]),
        args(&[
            "settle",
            "year",
            "--year",
            &year,
            "--as-of",
            &pay,
            "--amounts",
            &p(&i.amounts),
            "--scores",
            &p(&i.scores),
            "--pay-date",
            &pay,
        ]),
        args(&["settle", "status"]),
        // Mistakes: refused with exit 2 and the same words either way.
        args(&["settle", "daily", "--date", "2026-02-30"]),
        args(&[
            "settle",
            "month",
            "--period",
            "2026-13",
            "--declarations",
            &p(&i.declarations),
            "--pay-date",
            &pay,
        ]),
        args(&[
            "settle",
            "month",
            "--period",
            &period,
            "--declarations",
            "/nonexistent.csv",
            "--pay-date",
            &pay,
        ]),
    ]
}

/// What may differ between the two runs and why, and nothing else:
/// - the workspace's directory (`from` becomes `to`);
/// - a payment file's SHA-256: pain.001 carries its creation time (`CreDtTm`);
/// - the engine consumer's offset and lag in `settle status`: a running gateway feeds its
///   engine as records arrive, a command catches up when it runs.
fn comparable(r: &Ran, from: &str, to: &str) -> Ran {
    let clean = |text: &str| -> String {
        text.replace(from, to)
            .lines()
            .map(|l| {
                if let Some(at) = l.find("sha256 ") {
                    format!("{}sha256 …)", &l[..at])
                } else if l.starts_with("consumer settlement-engine:") {
                    "consumer settlement-engine: …".to_owned()
                } else {
                    l.to_owned()
                }
            })
            .map(|l| l + "\n")
            .collect()
    };
    Ran {
        code: r.code,
        stdout: clean(&r.stdout),
        stderr: clean(&r.stderr),
    }
}

#[test]
fn every_operator_command_says_the_same_with_or_without_a_running_gateway() {
    let a = Workspace::init();
    // The inbox watcher would apply receipts before `bank ingest` is run; this test compares
    // the command itself (the watcher has its own test).
    set_key(&a.config(), "bank", "inbox_poll_ms", 3_600_000);
    let gw = a.serve_env(&[], &[("MEDSETTLE_LOG", "warn")]);
    visits(&a, gw.addr, 3);
    assert!(gw.terminate().success());
    let today = today_in_china();
    let files = tempfile::tempdir().unwrap();
    let i = inputs(files.path(), today);
    let day = the_day(&a, today, &i);

    // B: the same journal, the same configuration, a gateway running throughout.
    let b_root = tempfile::tempdir().unwrap();
    let b = b_root.path().join("ws");
    copy_tree(a.path(), &b);
    let b_config = b.join("medsettle.toml");
    let gw = Gateway::start_env(&b_config, &[], &[("MEDSETTLE_LOG", "warn")]);
    assert!(
        b.join("data/gateway.json").is_file(),
        "serve says where it listens"
    );
    let through_gateway: Vec<Ran> = day.iter().map(|c| ran(c, &b_config)).collect();
    assert!(gw.terminate().success());
    assert!(
        !b.join("data/gateway.json").exists(),
        "removed at a clean stop"
    );

    // A: no gateway; each command opens the journal itself. A running gateway feeds its
    // engine as claims arrive; without one the engine catches up first (not compared: what
    // it reads depends on when it last read, not on who asks).
    let caught_up = ran(&args(&["settle", "catch-up"]), &a.config());
    assert_eq!(caught_up.code, Some(0), "{caught_up:?}");
    let direct: Vec<Ran> = day.iter().map(|c| ran(c, &a.config())).collect();

    let b_path = b.to_str().unwrap();
    let a_path = a.path().to_str().unwrap();
    for ((cmd, via), own) in day.iter().zip(&through_gateway).zip(&direct) {
        let (via, own) = (
            comparable(via, b_path, a_path),
            comparable(own, a_path, a_path),
        );
        assert_eq!(via, own, "`medsettle {}` differs", cmd.join(" "));
    }
    // The mistakes were the operator's: exit 2, naming what is wrong.
    let n = day.len();
    assert_eq!(direct[n - 3].code, Some(2), "{:?}", direct[n - 3]);
    assert!(
        direct[n - 3].stderr.contains("--date"),
        "{:?}",
        direct[n - 3]
    );
    assert_eq!(direct[n - 2].code, Some(2), "{:?}", direct[n - 2]);
    assert!(
        direct[n - 2].stderr.contains("--period"),
        "{:?}",
        direct[n - 2]
    );
    assert_eq!(direct[n - 1].code, Some(2), "{:?}", direct[n - 1]);
    // The rest succeeded, and the year paid something (its file is in the outbox).
    for (cmd, r) in day.iter().zip(&direct).take(n - 3) {
        assert_eq!(r.code, Some(0), "`medsettle {}`: {r:?}", cmd.join(" "));
    }
    let year = day
        .iter()
        .position(|c| c[1] == "year")
        .expect("the year is closed");
    assert!(
        direct[year].stdout.contains("dropped "),
        "{:?}",
        direct[year]
    );
}

/// What the hospitals saw while the operator worked.
#[derive(Debug, Default)]
struct Traffic {
    visits: u64,
    errors: Vec<String>,
    /// Latency of each complete visit (five requests), µs.
    visit_us: Vec<u64>,
}

/// Hospitals calling until `stop`: complete outpatient visits, one after another, from both
/// institutions, each visit's outcome and time recorded.
fn keep_calling(
    ws_dir: PathBuf,
    addr: std::net::SocketAddr,
    tls: Vec<std::sync::Arc<rustls::ClientConfig>>,
    persons: Vec<his::Insured>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Traffic> {
    std::thread::spawn(move || {
        let today = time::OffsetDateTime::now_utc().to_offset(medsettle_canonical::CHINA_OFFSET);
        runtime().block_on(async move {
            let mut t = Traffic::default();
            let mut conns = Vec::new();
            for (code, tls) in CODES.iter().zip(tls) {
                let conn = his::HisConnection::connect(addr, tls).await.unwrap();
                let sender = Sender {
                    fixmedins_code: (*code).into(),
                    fixmedins_name: institution_name(&ws_dir, code),
                    mdtrtarea_admvs: "440300".into(),
                };
                // Another hour of the day than the first visits: msgids never collide.
                let base = time::PrimitiveDateTime::new(
                    today.date(),
                    time::Time::from_hms(12, 0, 0).unwrap(),
                );
                conns.push((conn, EnvelopeBuilder::new(sender, base)));
            }
            let mut n = 0usize;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let (conn, b) = &mut conns[n % CODES.len()];
                let person = &persons[20 + n % (persons.len() - 20)];
                let lines = vec![FeeLine {
                    med_list_codg: "WM001".into(),
                    units: 1,
                    pric_fen: 1_850 + (n % 50) as i64,
                }];
                let started = std::time::Instant::now();
                match his::outpatient_visit(conn, b, person, &lines, 1_000 + n as u64).await {
                    Ok(_) => t.visits += 1,
                    Err(e) => t.errors.push(format!("visit {n}: {e:#}")),
                }
                t.visit_us.push(started.elapsed().as_micros() as u64);
                n += 1;
            }
            t
        })
    })
}

/// The bank simulator beside the gateway; stopped when dropped (also when a test fails).
struct Bank(std::process::Child);

impl Drop for Bank {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Poll `bank status` (through the running gateway) until no payment is `Sent`, or panic
/// after `bound`: the bank simulator answers, and the gateway's inbox watcher applies.
fn wait_until_answered(config: &Path, bound: std::time::Duration) -> String {
    let started = std::time::Instant::now();
    loop {
        let status = run_ok(&["bank", "status", "--config", config.to_str().unwrap()]);
        let all = status
            .lines()
            .find(|l| l.starts_with("all payments:"))
            .unwrap_or_default()
            .to_owned();
        if !all.contains("Sent") && !all.contains("none") {
            return status;
        }
        assert!(
            started.elapsed() < bound,
            "the bank's receipts were not applied within {bound:?}:\n{status}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn percentile(sorted: &[u64], per_mille: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(sorted.len() * per_mille / 1000).min(sorted.len() - 1)]
}

/// `medsettle ARGS…` with the clock `days` days back (certificates, claims, ids).
fn run_back(days: i64, args: &[&str]) -> std::process::Output {
    medsettle_back(days).args(args).output().unwrap()
}

/// The "done when": the gateway runs throughout while HIS traffic flows; the bank
/// simulator answers the payment files it drops, and the gateway's inbox watcher applies the
/// receipts with no operator command; the operator closes last month's day, the month, the
/// quarter and the year, and reads `bank status` and `journal stats` — and the hospitals
/// calling meanwhile never see an error.
#[test]
fn the_gateway_runs_the_whole_day_while_hospitals_keep_calling() {
    let today = today_in_china();
    let back = days_back_to_last_month(today);
    let then = today - time::Duration::days(back);

    // Last month: a workspace (certificates valid since then) and its claims.
    let dir = tempfile::tempdir().unwrap();
    let init = run_back(back, &["init", "--dir", dir.path().to_str().unwrap()]);
    assert!(init.status.success(), "{init:?}");
    let calendar = use_test_calendar(dir.path());
    let ws = Workspace { dir, calendar };
    let config = ws.config();
    let cfg = config.to_str().unwrap().to_owned();
    set_key(&config, "bank", "inbox_poll_ms", 100);
    let last_month = medsettle_back(back)
        .args(["serve", "--listen", "127.0.0.1:0", "--config", &cfg])
        .env("MEDSETTLE_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let gw = Gateway::adopt(last_month);
    visits_on(&ws, gw.addr, 3, then);
    // The day is closed and its file dropped on time (IS-D-5), through the running gateway.
    let pay = ws.pay_date(&then.to_string());
    let export = medsettle_back(back)
        .args(["bank", "export", "--date", &pay, "--config", &cfg])
        .output()
        .unwrap();
    assert!(export.status.success(), "{export:?}");
    assert!(
        String::from_utf8_lossy(&export.stdout).contains("dropped "),
        "{export:?}"
    );
    assert!(gw.terminate().success());

    // Today: the gateway runs throughout.
    let gw = ws.serve_env(&[], &[("MEDSETTLE_LOG", "warn")]);
    let files = tempfile::tempdir().unwrap();
    let i = inputs(files.path(), then);
    let cfg = cfg.as_str();
    // The month's, quarter's and year's amounts are paid on the next working day.
    let pay = ws.pay_date(&today.to_string());
    let period = format!("{:04}-{:02}", then.year(), then.month() as u8);
    let quarter = ((then.month() as u8 - 1) / 3 + 1).to_string();
    let year = then.year().to_string();
    // The bank, beside the gateway: answers every payment file that appears in the outbox.
    let bank = Bank(
        std::process::Command::new(bin())
            .args(["bank", "simulate", "--config", cfg])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let persons: Vec<his::Insured> = ws
        .insured()
        .into_iter()
        .filter(|p| p.insutype == "310")
        .collect();
    let traffic = keep_calling(
        ws.path().to_owned(),
        gw.addr,
        CODES.iter().map(|c| ws.tls_for(c)).collect(),
        persons,
        stop.clone(),
    );

    let status = wait_until_answered(&config, std::time::Duration::from_secs(60));
    assert!(
        status.contains("Paid 2"),
        "the day's payments are paid: {status}"
    );

    let month = run_ok(&[
        "settle",
        "month",
        "--period",
        &period,
        "--declarations",
        i.declarations.to_str().unwrap(),
        "--pay-date",
        &pay,
        "--config",
        cfg,
    ]);
    assert!(
        month.contains("monthly settlement") && month.contains("dropped "),
        "{month}"
    );
    let quarter = run_ok(&[
        "settle",
        "quarter",
        "--year",
        &year,
        "--quarter",
        &quarter,
        "--cases",
        i.cases.to_str().unwrap(),
        "--pay-date",
        &pay,
        "--config",
        cfg,
    ]);
    assert!(quarter.contains("dropped "), "{quarter}");
    wait_until_answered(&config, std::time::Duration::from_secs(60));
    let annual = run_ok(&[
        "settle",
        "year",
        "--year",
        &year,
        "--as-of",
        &pay,
        "--amounts",
        i.amounts.to_str().unwrap(),
        "--scores",
        i.scores.to_str().unwrap(),
        "--pay-date",
        &pay,
        "--config",
        cfg,
    ]);
    assert!(annual.contains("annual clearing"), "{annual}");
    let status = wait_until_answered(&config, std::time::Duration::from_secs(60));
    let stats = run_ok(&["journal", "stats", "--config", cfg]);

    // An institution suspended and resumed on the running gateway; who did it comes from the
    // operator certificate.
    let suspended = run_ok(&[
        "settle",
        "suspend",
        "--institution",
        CODES[1],
        "--reason",
        "审核发现异常 (audit finding)",
        "--config",
        cfg,
    ]);
    assert!(suspended.contains(CODES[1]), "{suspended}");
    let settle_status = run_ok(&["settle", "status", "--config", cfg]);
    assert!(
        settle_status.contains(&format!(
            "suspended {}: 审核发现异常 (audit finding) (by operator since",
            CODES[1]
        )),
        "{settle_status}"
    );
    let unknown = run(&[
        "settle",
        "suspend",
        "--institution",
        "H99999999999",
        "--reason",
        "x",
        "--config",
        cfg,
    ]);
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("H99999999999"),
        "{unknown:?}"
    );
    run_ok(&[
        "settle",
        "resume",
        "--institution",
        CODES[1],
        "--config",
        cfg,
    ]);
    let settle_status = run_ok(&["settle", "status", "--config", cfg]);
    assert!(!settle_status.contains("suspended "), "{settle_status}");

    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let traffic = traffic.join().unwrap();
    drop(bank);

    // Every payment file the gateway dropped was answered and applied by the watcher: four
    // batches (day, month, quarter, year), nothing sent and unanswered, no alert.
    for batch in ["D4403", "M4403", "Q4403", "A4403"] {
        assert!(
            status
                .lines()
                .any(|l| l.starts_with(batch) && l.contains("Acknowledged")),
            "{batch}… acknowledged: {status}"
        );
    }
    assert!(status.contains("alerts 0"), "{status}");
    assert!(
        stats.contains("ops.action"),
        "operator actions are journaled: {stats}"
    );
    assert!(
        stats.contains("bank.receipt_file"),
        "receipts applied: {stats}"
    );

    assert!(traffic.visits > 0, "the hospitals kept calling");
    assert!(
        traffic.errors.is_empty(),
        "the hospitals saw errors while the operator worked: {:?}",
        traffic.errors
    );
    let mut us = traffic.visit_us.clone();
    us.sort_unstable();
    eprintln!(
        "hospital visits during the operator's day: {} (5 requests each); p50 {} µs, p99 {} µs, max {} µs",
        traffic.visits,
        percentile(&us, 500),
        percentile(&us, 990),
        us.last().copied().unwrap_or(0)
    );
    assert!(gw.terminate().success());
}

/// Issue 14, defect 1: `bank ingest DATA/bank/inbox/FILE` — a receipt that already sits in the
/// inbox, named on the command line — once copied the file onto itself, truncating it and its
/// trigger to 0 bytes, and the empty file went to `rejected/`. The bank's word must survive:
/// the file is applied and archived intact.
#[test]
fn ingesting_a_receipt_named_in_the_inbox_keeps_it_intact() {
    let ws = Workspace::init();
    let gw = ws.serve_env(&[], &[("MEDSETTLE_LOG", "warn")]);
    visits(&ws, gw.addr, 1);
    assert!(gw.terminate().success());
    let cfg = ws.config();
    let cfg = cfg.to_str().unwrap();
    let pay = ws.pay_date(&today_in_china().to_string());
    run_ok(&["bank", "export", "--date", &pay, "--config", cfg]);
    run_ok(&["bank", "simulate", "--once", "--config", cfg]);
    let inbox = ws.path().join("data/bank/inbox");
    let name = std::fs::read_dir(&inbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| !n.ends_with(".ok") && !n.starts_with('.'))
        .expect("a receipt in the inbox");
    let data = std::fs::read(inbox.join(&name)).unwrap();
    let trigger = std::fs::read(inbox.join(format!("{name}.ok"))).unwrap();
    assert!(!data.is_empty() && !trigger.is_empty());

    let out = run_ok(&[
        "bank",
        "ingest",
        inbox.join(&name).to_str().unwrap(),
        "--config",
        cfg,
    ]);
    assert!(
        out.contains(" applied, ") && out.contains(", 0 rejected"),
        "{out}"
    );
    let archive = ws.path().join("data/bank/archive");
    let archived = std::fs::read(archive.join(&name)).expect("archived");
    assert_eq!(
        sha256_hex(&archived),
        sha256_hex(&data),
        "the receipt is intact"
    );
    let archived_trigger = std::fs::read(archive.join(format!("{name}.ok"))).unwrap();
    assert_eq!(archived_trigger, trigger, "its trigger is intact");
    let rejected = ws.path().join("data/bank/rejected");
    assert!(
        !rejected.exists() || std::fs::read_dir(&rejected).unwrap().next().is_none(),
        "nothing rejected"
    );
    let status = run_ok(&["bank", "status", "--config", cfg]);
    assert!(status.contains(", rejected 0; alerts 0"), "{status}");

    // The bank sends a different file under the applied name (a trailing newline more, its
    // own valid trigger): nothing is applied, both are kept, and an operator is alerted until
    // someone acknowledges it.
    let mut other = data.clone();
    other.push(b'\n');
    let announced = medsettle_bank::trigger::parse(&trigger).unwrap();
    let t = medsettle_bank::trigger::TriggerFile::for_file(
        &name,
        &other,
        announced.count,
        announced.control_sum,
    );
    std::fs::write(inbox.join(&name), &other).unwrap();
    std::fs::write(
        inbox.join(format!("{name}.ok")),
        medsettle_bank::trigger::render(&t).unwrap(),
    )
    .unwrap();
    let out = run_ok(&["bank", "ingest", "--config", cfg]);
    assert!(out.contains("ALERT"), "{out}");
    let status = run_ok(&["bank", "status", "--config", cfg]);
    assert!(status.contains("alerts 1 (1 open)"), "{status}");
    let id = status
        .lines()
        .find_map(|l| l.split("open (id ").nth(1))
        .map(|rest| rest.trim_end_matches(')').to_owned())
        .unwrap_or_else(|| panic!("an open alert with its id: {status}"));
    let ack = run_ok(&["bank", "ack", "--alert", &id, "--config", cfg]);
    assert!(ack.contains("acknowledged by local"), "{ack}");
    let status = run_ok(&["bank", "status", "--config", cfg]);
    assert!(status.contains("alerts 1 (0 open)"), "{status}");
    assert!(status.contains("acknowledged by local"), "{status}");
    let unknown = run(&["bank", "ack", "--alert", "no-such-alert", "--config", cfg]);
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    assert_eq!(
        std::fs::read(archive.join(&name)).unwrap(),
        data,
        "the first file is kept"
    );
}

/// Logs: a log file never gets terminal escape codes; `--log-format json` writes one JSON
/// object per line; on a terminal the gateway's log is coloured.
#[test]
fn logs_are_plain_in_a_file_json_on_request_and_coloured_on_a_terminal() {
    let ws = Workspace::init();
    let cfg = ws.config();
    let serve_briefly = |format: Option<&str>| -> String {
        let log = ws.path().join("serve.log");
        let mut c = std::process::Command::new(bin());
        if let Some(f) = format {
            c.args(["--log-format", f]);
        }
        let child = c
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--config",
                cfg.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let gw = Gateway::adopt(child);
        assert!(gw.terminate().success());
        std::fs::read_to_string(&log).unwrap()
    };
    let plain = serve_briefly(None);
    assert!(plain.contains("medsettle gateway serving"), "{plain}");
    assert!(
        !plain.contains('\u{1b}'),
        "escape codes in a log file: {plain:?}"
    );

    let json = serve_briefly(Some("json"));
    let lines: Vec<&str> = json.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "{json}");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
    assert!(!json.contains('\u{1b}'));

    // A terminal (util-linux `script` gives the gateway a pseudo-terminal for 2 seconds).
    let cmd = format!(
        "timeout -s TERM 2 {} serve --listen 127.0.0.1:0 --config {}",
        bin().display(),
        cfg.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .expect("run script");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("medsettle gateway serving"), "{shown}");
    assert!(
        shown.contains('\u{1b}'),
        "no colours on a terminal: {shown:?}"
    );
}

/// Issue 14: "`serve` with the bank simulator running beside it pays, receives and applies
/// receipts with no operator command at all." Claims settled one day; on their payment date
/// the gateway's scheduled close (`daily_close_at`) approves the day and drops its payment
/// file, the simulated bank answers into the inbox, and the inbox watcher applies the
/// receipts — `bank status` (a read) shows the day paid. Both days are last month's, on the
/// gateway's own clock (libfaketime), so the close comes before its 15:00 cutoff (IS-D-5)
/// whatever time the test runs.
#[test]
fn the_gateway_pays_and_applies_receipts_with_no_operator_command() {
    let today = today_in_china();
    let then = today - time::Duration::days(days_back_to_last_month(today));
    let dir = tempfile::tempdir().unwrap();
    // 02:00 UTC is 10:00 in China: the claims are settled on `then`.
    let settled_at = format!("{then} 02:00:00");
    let init = medsettle_at(&settled_at)
        .args(["init", "--dir", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");
    let calendar = use_test_calendar(dir.path());
    let ws = Workspace { dir, calendar };
    let config = ws.config();
    let cfg = config.to_str().unwrap().to_owned();
    set_key(&config, "bank", "inbox_poll_ms", 100);
    let start = |at: &str| {
        Gateway::adopt(
            medsettle_at(at)
                .args(["serve", "--listen", "127.0.0.1:0", "--config", &cfg])
                .env("MEDSETTLE_LOG", "warn")
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        )
    };
    let gw = start(&settled_at);
    visits_on(&ws, gw.addr, 2, then);
    assert!(gw.terminate().success());

    // The payment date, 09:00 in China (01:00 UTC); the close is scheduled for 08:30.
    let pay = ws.pay_date(&then.to_string());
    let text = std::fs::read_to_string(&config).unwrap();
    let mut table: toml::Table = toml::from_str(&text).unwrap();
    table["settlement"]
        .as_table_mut()
        .unwrap()
        .insert("daily_close_at".into(), "08:30".into());
    std::fs::write(&config, toml::to_string(&table).unwrap()).unwrap();
    let _bank = Bank(
        std::process::Command::new(bin())
            .args(["bank", "simulate", "--config", &cfg])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let gw = start(&format!("{pay} 01:00:00"));
    let status = wait_until_answered(&config, std::time::Duration::from_secs(60));
    assert!(status.contains("Acknowledged"), "{status}");
    assert!(
        status.contains("Paid 2"),
        "both institutions paid: {status}"
    );
    assert!(status.contains("receipt files applied"), "{status}");
    let settle = run_ok(&["settle", "status", "--config", &cfg]);
    assert!(
        settle.contains(&format!("last daily close: {pay}")),
        "{settle}"
    );
    assert!(gw.terminate().success());
    // Nothing but reads was asked of the gateway: no operator action is in the journal.
    let stats = ws.journal_stats();
    assert!(stats["per_kind"].get("ops.action").is_none(), "{stats}");
}

/// A killed gateway leaves its `gateway.json` behind. A command that reads such a stale file
/// while a new gateway is starting (it holds the journal before it listens and writes its own
/// file) finds nobody at the old address and cannot open the journal either: it must keep
/// looking for the new gateway, not fail.
#[test]
fn a_command_during_a_restart_finds_the_new_gateway() {
    let ws = Workspace::init();
    let gw = ws.serve_env(&[], &[("MEDSETTLE_LOG", "warn")]);
    let file = ws.path().join("data/gateway.json");
    let live = std::fs::read(&file).unwrap();
    // The dead gateway's address: a port nothing listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    std::fs::write(&file, format!("{{\"addr\": \"{dead_addr}\", \"pid\": 1}}")).unwrap();
    let cfg = ws.config();
    let command = std::process::Command::new(bin())
        .args(["bank", "status", "--config", cfg.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The new gateway "finishes starting" a little later: its file names where it listens.
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    std::fs::write(&file, live).unwrap();
    let out = command.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("all payments: none"));
    assert!(gw.terminate().success());
}
