//! The operator console (issue 18, `specs/console.md`): the real gateway serves `/console/…`
//! on the operator role of mutual TLS; the pages show what `settle status` and `bank status`
//! say; their actions are the existing `/ops` actions; the pages render in headless Chromium
//! (screenshots under `target/test-artifacts/`). Also: `init`'s PKCS#12 operator certificate,
//! and the XLSX payment summary beside the CSV.
//!
//! The overview is also opened by Chromium presenting the operator certificate itself (NSS
//! database with `certs/operator.p12` imported by `pk12util`, an AutoSelectCertificateForUrls
//! policy bind-mounted over `/etc/chromium` in a user and mount namespace: see
//! [`chromium_over_mtls`]); the other pages are fetched over mutual TLS with the Rust client and
//! Chromium renders the fetched document (the pages are self-contained, assets inlined). The
//! batches' forms are posted as Chromium posts them; the charts' figures and the workbooks'
//! totals are compared with the operator API's (`bank status`) to the fen.

mod common;
#[path = "common/interregion.rs"]
mod interregion;

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use common::*;

const CODES: [&str; 2] = ["H44030000001", "H44030000002"];
const CHROMIUM: &str = "/usr/bin/chromium";

fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let d = target.join("test-artifacts");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The operator certificate the workspace's `[operator]` section names.
fn operator_tls(ws: &Workspace) -> std::sync::Arc<rustls::ClientConfig> {
    let text = std::fs::read_to_string(ws.config()).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let op = table["operator"].as_table().expect("[operator]");
    let path = |k: &str| ws.path().join(op[k].as_str().unwrap());
    his::client_tls(&ws.ca(), &path("cert"), &path("key")).expect("operator TLS")
}

/// `GET path` over mutual TLS with `tls`: status, content type's body as text.
fn get(
    addr: std::net::SocketAddr,
    tls: std::sync::Arc<rustls::ClientConfig>,
    path: &str,
) -> (u16, Bytes) {
    runtime().block_on(async {
        let mut conn = his::HisConnection::connect(addr, tls).await.unwrap();
        conn.get(path).await.unwrap()
    })
}

fn page(addr: std::net::SocketAddr, ws: &Workspace, path: &str) -> String {
    let (status, body) = get(addr, operator_tls(ws), path);
    let text = String::from_utf8(body.to_vec()).expect("utf-8 page");
    assert_eq!(status, 200, "{path}: {text}");
    assert!(text.starts_with("<!DOCTYPE html>"), "{path}: {text}");
    text
}

/// `POST /ops/<action>` with `fields`, as the page's button does (operation id, JSON).
fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "Chromium is not installed (apt-get install chromium; .ci/test installs it)"
    );
    Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("run chromium")
}

/// Render `html` in headless Chromium: the DOM after scripts ran, and a screenshot kept as
/// `target/test-artifacts/console-<name>.png`.
fn render(name: &str, html: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.html"));
    std::fs::write(&file, html).unwrap();
    let url = format!("file://{}", file.display());
    let out = chromium(&dir.path().join("profile-dom"), &["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium --dump-dom {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shot = artifacts().join(format!("console-{name}.png"));
    let _ = std::fs::remove_file(&shot);
    let out = chromium(
        &dir.path().join("profile-shot"),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1400",
            &url,
        ],
    );
    assert!(
        out.status.success(),
        "chromium --screenshot {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "{} bytes",
        png.len()
    );
    dom
}

/// The per-institution pay amounts `settle daily`/`bank export` printed: code → pay.
fn pay_lines(printed: &str) -> Vec<(String, String)> {
    printed
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.len() == 5 && CODES.contains(&cols[0]))
                .then(|| (cols[0].to_owned(), cols[4].to_owned()))
        })
        .collect()
}

fn unescape(attr: &str) -> String {
    attr.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of `attr="…"` in the first element of `html` after `anchor`.
fn attr_after(html: &str, anchor: &str, attr: &str) -> String {
    let from = html
        .find(anchor)
        .unwrap_or_else(|| panic!("{anchor} in the page"));
    let rest = &html[from..];
    let key = format!("{attr}=\"");
    let start = rest
        .find(&key)
        .unwrap_or_else(|| panic!("{attr} after {anchor}"))
        + key.len();
    unescape(&rest[start..start + rest[start..].find('"').unwrap()])
}

#[test]
fn the_console_shows_the_day_and_its_actions_in_headless_chromium() {
    let ws = Workspace::init();
    let cfg = ws.config();
    let cfg = cfg.to_str().unwrap();
    let today = today_in_china();
    let pay = ws.pay_date(&today.to_string());

    // The demo's kind of traffic, the day closed and paid, the bank's answers, one alert.
    let gw = ws.serve_env(&[], &[("MEDSETTLE_LOG", "warn")]);
    outpatient_visits(&ws, gw.addr, &CODES, 2, today);
    assert!(gw.terminate().success());
    // The day is closed (支付汇总单 approved by nobody yet: no payment file).
    let exported = run_ok(&["settle", "daily", "--date", &pay, "--config", cfg]);
    let pays = pay_lines(&exported);
    assert_eq!(pays.len(), 2, "{exported}");

    let gw = ws.serve_env(&[], &[("MEDSETTLE_LOG", "warn")]);
    let addr = gw.addr;

    // Batches: the closed pay date waits for approval; approve it with the page's form, twice
    // (a double submit): done once, the second answer is the stored one.
    let daily = page(addr, &ws, "/console/batches?kind=daily");
    let anchor = format!(r#"<tr class="approval" data-date="{pay}">"#);
    assert!(daily.contains(&anchor), "{daily}");
    let form = form_fields(&daily, &anchor);
    assert_eq!(form.0, "bank/export");
    assert!(
        form.1.contains(&("date".to_owned(), pay.clone())),
        "{form:?}"
    );
    let first = post_form(addr, &ws, &form.0, &form.1);
    assert!(
        first.contains(r#"data-replayed="false" data-ok="true""#),
        "{first}"
    );
    assert!(first.contains("dropped "), "{first}");
    let second = post_form(addr, &ws, &form.0, &form.1);
    assert!(
        second.contains(r#"data-replayed="true" data-ok="true""#),
        "{second}"
    );
    // The operator API says the batch is dropped, once.
    let bank_status = run_ok(&["bank", "status", "--config", cfg]);
    let d_lines: Vec<&str> = bank_status.lines().filter(|l| l.starts_with('D')).collect();
    assert_eq!(d_lines.len(), 1, "{bank_status}");
    assert!(d_lines[0].contains("Dropped"), "{bank_status}");
    let daily = page(addr, &ws, "/console/batches?kind=daily");
    assert!(!daily.contains(&anchor), "approved: no longer waiting");
    // A form of another site is refused (the browser presents the certificate by itself).
    let (status, _, body) = post_form_from(addr, &ws, &form.0, &form.1, "https://evil.example");
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));

    // The bank answers; "ingest now" from the batches page (the gateway's own inbox watcher
    // may take the file first: either way it is applied once).
    run_ok(&["bank", "simulate", "--once", "--config", cfg]);
    let inbox = ws.path().join("data/bank/inbox");
    let name = std::fs::read_dir(&inbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| !n.ends_with(".ok") && !n.starts_with('.'))
        .expect("a receipt in the inbox");
    let mut other = std::fs::read(inbox.join(&name)).unwrap();
    let trigger = std::fs::read(inbox.join(format!("{name}.ok"))).unwrap();
    let batches = page(addr, &ws, "/console/batches");
    let ingest = form_fields(&batches, r#"id="ingest-panel""#);
    assert_eq!(ingest.0, "bank/ingest");
    let done = post_form(addr, &ws, &ingest.0, &ingest.1);
    assert!(done.contains("receipt files: "), "{done}");
    let bank_status = wait_for_bank(cfg, |s| s.contains("all payments: Paid 2"));
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
    let batches = page(addr, &ws, "/console/batches");
    let ingest = form_fields(&batches, r#"id="ingest-panel""#);
    post_form(addr, &ws, &ingest.0, &ingest.1);
    wait_for_bank(cfg, |s| s.contains("alerts 1 (1 open)"));
    drop(bank_status);

    // One more visit on this gateway, so its /metrics has requests by transaction.
    outpatient_visits(&ws, addr, &CODES[..1], 1, today);
    let bank_status = run_ok(&["bank", "status", "--config", cfg]);
    assert!(bank_status.contains("alerts 1 (1 open)"), "{bank_status}");

    // Operator certificates only: an institution's is refused like on /ops/.
    let (status, body) = get(addr, ws.tls_for(CODES[0]), "/console/");
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let (status, _) = get(addr, operator_tls(&ws), "/console/no-such-page");
    assert_eq!(status, 404);

    // Overview: today's pay date and deadline, the open alert, the chart of the day paid.
    let overview = page(addr, &ws, "/console/");
    assert!(
        overview.contains(&format!(r#"<span id="deadline">{pay} "#)),
        "{overview}"
    );
    assert!(
        overview.contains(r#"id="alerts-open">1</a> / 1"#),
        "{overview}"
    );
    assert!(overview.contains(r#"id="consumer-lag">"#));
    // Requests by transaction, from the gateway's own /metrics (this run served none yet
    // except the console's; the first gateway's traffic is in the journal, not the registry).
    assert!(!overview.contains(r#"id="metrics-note""#), "{overview}");
    assert!(
        overview.contains("<tr><td>2207</td><td class=\"num\">1</td></tr>"),
        "{overview}"
    );
    assert!(
        overview.contains(r#"<span id="request-p99">≤ "#),
        "{overview}"
    );
    let dom = render("overview", &overview);
    assert!(
        dom.contains(r#"<svg id="chart-daily""#),
        "the chart renders"
    );
    assert!(dom.contains(&format!(r#"data-date="{pay}""#)), "{dom}");
    check_charts(addr, &ws, &overview, &bank_status, &pay, today);
    // Chromium itself, presenting the operator certificate: the overview over mutual TLS.
    let dom = chromium_over_mtls(&ws, addr, "/console/");
    assert!(dom.contains(r#"<body data-page="">"#), "{dom}");
    assert!(dom.contains(r#"<svg id="chart-daily""#), "{dom}");
    assert!(dom.contains(&format!(r#"data-date="{pay}""#)), "{dom}");

    // Batches: the control sum `bank status` prints, each payment with its bank status.
    let batches = page(addr, &ws, "/console/batches");
    let batch_line = bank_status
        .lines()
        .find(|l| l.starts_with('D'))
        .unwrap_or_else(|| panic!("a daily batch: {bank_status}"));
    let cols: Vec<&str> = batch_line.split_whitespace().collect();
    assert!(
        batches.contains(&format!("批次 batch {}", cols[0])),
        "{batches}"
    );
    assert!(
        batches.contains(&format!("金额合计 control sum {}", cols[3])),
        "{batches}"
    );
    let summary_xlsx = format!("daily-{pay}-summary.xlsx");
    assert!(
        batches.contains(&format!("/console/reports/{summary_xlsx}")),
        "{batches}"
    );
    let dom = render("batches", &batches);
    for (code, amount) in &pays {
        assert!(
            dom.contains(&format!("<td>{code}</td><td class=\"num\">{amount}")),
            "{code} {amount}: {dom}"
        );
    }

    // The XLSX summary downloads from the console and carries the CSV's totals.
    let (status, xlsx) = get(
        addr,
        operator_tls(&ws),
        &format!("/console/reports/{summary_xlsx}"),
    );
    assert_eq!(status, 200);
    let csv_path = exported
        .lines()
        .find_map(|l| l.strip_prefix("reports: "))
        .and_then(|l| l.split(" and ").next())
        .expect("the reports line");
    let on_disk =
        std::fs::read(Path::new(csv_path).with_extension("xlsx")).expect("the XLSX beside the CSV");
    assert_eq!(xlsx.as_ref(), on_disk.as_slice());
    // Closing the day again (the stored result) writes the same workbook, byte for byte.
    run_ok(&["settle", "daily", "--date", &pay, "--config", cfg]);
    let again = std::fs::read(Path::new(csv_path).with_extension("xlsx")).unwrap();
    assert!(again == on_disk, "the XLSX is a function of the closed day");
    check_xlsx(&xlsx, &std::fs::read_to_string(csv_path).unwrap());

    // The per-claim detail as a workbook: its totals are the detail CSV's and the batch's
    // control sum `bank status` prints, to the fen.
    let control_fen = fen(cols[3]);
    let (status, detail_xlsx) = get(
        addr,
        operator_tls(&ws),
        &format!("/console/xlsx/daily-{pay}-detail.xlsx"),
    );
    assert_eq!(status, 200);
    assert!(batches.contains(&format!("/console/xlsx/daily-{pay}-detail.xlsx")));
    let rows = xlsx_rows(&detail_xlsx, "xl/worksheets/sheet1.xml");
    let detail_csv = std::fs::read_to_string(
        Path::new(csv_path).with_file_name(format!("daily-{pay}-detail.csv")),
    )
    .unwrap();
    let header: Vec<&str> = detail_csv.lines().next().unwrap().split(',').collect();
    let total = rows
        .iter()
        .find(|r| r.first().map(String::as_str) == Some("合计 total"))
        .unwrap_or_else(|| panic!("a totals row: {rows:?}"));
    for column in ["fund_amount", "daily_amount"] {
        let i = header.iter().position(|h| *h == column).unwrap();
        let sum: i64 = detail_csv
            .lines()
            .skip(1)
            .map(|l| fen(l.split(',').nth(i).unwrap()))
            .sum();
        assert_eq!(fen(&total[i]), sum, "{column}: {total:?}");
    }
    let pay_row = rows
        .iter()
        .find(|r| r.first().map(String::as_str) == Some("支付合计 pay_total"))
        .unwrap_or_else(|| panic!("a pay total: {rows:?}"));
    assert_eq!(fen(&pay_row[1]), control_fen, "pay total = control sum");
    // The batch as a workbook: its total is the control sum, its payments the bank's.
    let (status, batch_xlsx) = get(
        addr,
        operator_tls(&ws),
        &format!("/console/xlsx/batch-{}.xlsx", cols[0]),
    );
    assert_eq!(status, 200);
    let rows = xlsx_rows(&batch_xlsx, "xl/worksheets/sheet1.xml");
    let total = rows
        .iter()
        .find(|r| r.first().map(String::as_str) == Some("合计 total"))
        .unwrap_or_else(|| panic!("a totals row: {rows:?}"));
    assert_eq!(fen(&total[3]), control_fen);
    assert_eq!(total[1], "2 payments");
    assert!(
        rows.iter()
            .any(|r| r.first().map(String::as_str) == Some("paid (2)")),
        "{rows:?}"
    );

    // The monthly settlement approved through the page, in Chromium presenting the operator
    // certificate: finance's declarations chosen in the form's file input (the CSV the
    // command line's `--declarations` reads), the period and pay date typed, submitted and
    // confirmed. A declaration the engine refuses first: the refusal shows its rule id.
    let period_end = today.replace_day(1).unwrap().previous_day().unwrap();
    let period = format!(
        "{:04}-{:02}",
        period_end.year(),
        u8::from(period_end.month())
    );
    let month_pay = ws.pay_date(&period_end.to_string());
    let files = tempfile::tempdir().unwrap();
    let head = "fixmedins_code,month,fund_amount,claim_count\n";
    let declarations = |name: &str, second: &str| {
        let p = files.path().join(name);
        let text = format!(
            "{head}{},{period},2000.00,3\n{},{period},{second},2\n",
            CODES[0], CODES[1]
        );
        std::fs::write(&p, text).unwrap();
        p
    };
    let (good, bad) = (
        declarations("declarations.csv", "1500.00"),
        declarations("negative.csv", "-1500.00"),
    );
    let mut browser = Browser::launch(&ws, addr);
    let mut approve = |declarations: &Path| -> String {
        browser.open(&format!("https://{addr}/console/batches?kind=monthly"));
        browser.choose_file("#close-declarations_csv", declarations);
        browser.eval(&format!(
            "document.getElementById('close-period').value = '{period}';
             document.getElementById('close-pay_date').value = '{month_pay}';
             window.confirm = () => true;
             document.getElementById('close-form').requestSubmit();
             true"
        ));
        browser.wait_load();
        browser.dom()
    };
    let refused = approve(&bad);
    assert!(refused.contains(r#"data-ok="false""#), "{refused}");
    assert!(
        refused.contains("[IS-M-1] declarations line 3, column `fund_amount`"),
        "{refused}"
    );
    let approved = approve(&good);
    assert!(
        approved.contains(r#"data-action="settle/month""#)
            && approved.contains(r#"data-replayed="false" data-ok="true""#),
        "{approved}"
    );
    // What the page says was paid (the closing's text) …
    let said = format!("monthly settlement {period}: ");
    let at = approved.find(&said).unwrap_or_else(|| panic!("{approved}")) + said.len();
    let (count, total) = approved[at..approved[at..].find(';').unwrap() + at]
        .split_once(" payments, total ")
        .unwrap();
    // … is the monthly batch `bank status` prints: its count and control sum.
    let bank_status = run_ok(&["bank", "status", "--config", cfg]);
    let m_line = bank_status
        .lines()
        .find(|l| l.starts_with('M'))
        .unwrap_or_else(|| panic!("a monthly batch: {bank_status}"));
    let m_cols: Vec<&str> = m_line.split_whitespace().collect();
    assert_eq!((m_cols[2], m_cols[3]), (count, total), "{m_line}");
    assert_eq!(count, "2", "one payment per declaring institution");
    browser.open(&format!("https://{addr}/console/batches?kind=monthly"));
    let monthly = browser.dom();
    assert!(
        monthly.contains(&format!("批次 batch {}", m_cols[0]))
            && monthly.contains(&format!(
                "笔数 count {} · 金额合计 control sum {}",
                m_cols[2], m_cols[3]
            )),
        "{monthly}"
    );
    let shot = browser.call(
        "Page.captureScreenshot",
        serde_json::json!({"format": "png"}),
    );
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    std::fs::write(artifacts().join("console-monthly-approval.png"), png).unwrap();
    drop(browser);
    // The month's workbook: the batch's total is the control sum, the monthly report's
    // amounts total as the report CSV's, to the fen.
    let detail = page(addr, &ws, &format!("/console/batches/{}", m_cols[0]));
    let book = format!("monthly-{period}.xlsx");
    assert!(
        detail.contains(&format!("/console/xlsx/{book}")),
        "{detail}"
    );
    let (status, xlsx) = get(addr, operator_tls(&ws), &format!("/console/xlsx/{book}"));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&xlsx));
    let total_of = |rows: &[Vec<String>]| {
        rows.iter()
            .find(|r| r.first().map(String::as_str) == Some("合计 total"))
            .unwrap_or_else(|| panic!("a totals row: {rows:?}"))
            .clone()
    };
    let batch_total = total_of(&xlsx_rows(&xlsx, "xl/worksheets/sheet1.xml"));
    assert_eq!(fen(&batch_total[3]), fen(m_cols[3]));
    let report_csv =
        std::fs::read_to_string(ws.path().join(format!("data/reports/monthly-{period}.csv")))
            .unwrap();
    let report_rows = xlsx_rows(&xlsx, "xl/worksheets/sheet2.xml");
    let report_total = total_of(&report_rows);
    let header: Vec<&str> = report_csv.lines().next().unwrap().split(',').collect();
    let mut summed = 0;
    for (i, name) in header.iter().enumerate() {
        if !(name.contains("amount") || name.ends_with("_total") || name.contains("payable")) {
            continue;
        }
        let sum: i64 = report_csv
            .lines()
            .skip(1)
            .map(|l| fen(l.split(',').nth(i).unwrap()))
            .sum();
        assert_eq!(fen(&report_total[i]), sum, "{name}: {report_total:?}");
        summed += 1;
    }
    assert!(
        summed > 0,
        "the monthly report has amount columns: {header:?}"
    );

    // The same form again (a double submit): the stored answer, nothing done twice; from
    // another site: refused.
    let op_id = attr_after(&approved, r#"id="action-outcome""#, "data-op-id");
    let form = [
        ("op_id", None, op_id.clone()),
        ("period", None, period.clone()),
        ("pay_date", None, month_pay.clone()),
        (
            "declarations_csv",
            Some("declarations.csv"),
            std::fs::read_to_string(&good).unwrap(),
        ),
    ];
    let (status, _, body) =
        post_multipart_from(addr, &ws, "settle/month", &form, &format!("https://{addr}"));
    let again = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{again}");
    assert!(
        again.contains(r#"data-replayed="true" data-ok="true""#),
        "{again}"
    );
    let (status, _, _) =
        post_multipart_from(addr, &ws, "settle/month", &form, "https://evil.example");
    assert_eq!(status, 403);
    assert_eq!(
        run_ok(&["bank", "status", "--config", cfg])
            .matches(m_cols[0])
            .count(),
        1,
        "one monthly batch"
    );

    // The quarter's approved special cases (IS-Q-1), approved from the quarterly view in
    // Chromium; the page's batch is the one `bank status` prints.
    let quarter = (u8::from(today.month()) - 1) / 3 + 1;
    let cases = files.path().join("cases.csv");
    std::fs::write(
        &cases,
        format!(
            "fixmedins_code,year,quarter,case_id,amount,approved\n{},{},{quarter},C1,100.00,1\n",
            CODES[0],
            today.year()
        ),
    )
    .unwrap();
    let mut browser = Browser::launch(&ws, addr);
    browser.open(&format!("https://{addr}/console/batches?kind=quarterly"));
    browser.choose_file("#close-cases_csv", &cases);
    browser.eval(&format!(
        "document.getElementById('close-year').value = '{}';
         document.getElementById('close-quarter').value = '{quarter}';
         document.getElementById('close-pay_date').value = '{pay}';
         window.confirm = () => true;
         document.getElementById('close-form').requestSubmit();
         true",
        today.year()
    ));
    browser.wait_load();
    let quarterly = browser.dom();
    drop(browser);
    assert!(
        quarterly.contains(r#"data-action="settle/quarter""#)
            && quarterly.contains(r#"data-replayed="false" data-ok="true""#),
        "{quarterly}"
    );
    let bank_status = run_ok(&["bank", "status", "--config", cfg]);
    let q_line = bank_status
        .lines()
        .find(|l| l.starts_with('Q'))
        .unwrap_or_else(|| panic!("a quarterly batch: {bank_status}"));
    let q_cols: Vec<&str> = q_line.split_whitespace().collect();
    assert_eq!((q_cols[2], q_cols[3]), ("1", "100.00"), "{q_line}");
    let quarterly_page = page(addr, &ws, "/console/batches?kind=quarterly");
    assert!(
        quarterly_page.contains(&format!("批次 batch {}", q_cols[0])),
        "{quarterly_page}"
    );

    // The bank pays the month and the quarter (the annual clearing needs every payment final).
    run_ok(&["bank", "simulate", "--once", "--config", cfg]);
    wait_for_bank(cfg, |s| s.contains("all payments: Paid 5"));

    // The annual clearing (every payment final), then its workbook against `bank status`.
    let files = tempfile::tempdir().unwrap();
    let amounts = files.path().join("amounts.csv");
    let scores = files.path().join("scores.csv");
    std::fs::write(
        &amounts,
        format!(
            "fixmedins_code,amount\n{},100000.00\n{},2345.67\n",
            CODES[0], CODES[1]
        ),
    )
    .unwrap();
    std::fs::write(
        &scores,
        format!("fixmedins_code,score\n{},95\n{},88\n", CODES[0], CODES[1]),
    )
    .unwrap();
    let year = today.year().to_string();
    // approved from the annual batches view in Chromium: the files chosen, the form submitted
    let mut browser = Browser::launch(&ws, addr);
    browser.open(&format!("https://{addr}/console/batches?kind=annual"));
    browser.choose_file("#close-amounts_csv", &amounts);
    browser.choose_file("#close-scores_csv", &scores);
    browser.eval(&format!(
        "document.getElementById('close-year').value = '{year}';
         document.getElementById('close-as_of').value = '{pay}';
         document.getElementById('close-pay_date').value = '{pay}';
         window.confirm = () => true;
         document.getElementById('close-form').requestSubmit();
         true"
    ));
    browser.wait_load();
    let annual = browser.dom();
    drop(browser);
    assert!(
        annual.contains(r#"data-action="settle/year""#)
            && annual.contains(r#"data-replayed="false" data-ok="true""#),
        "{annual}"
    );
    assert!(annual.contains("annual clearing"), "{annual}");
    let bank_status = run_ok(&["bank", "status", "--config", cfg]);
    let a_line = bank_status
        .lines()
        .find(|l| l.starts_with('A'))
        .unwrap_or_else(|| panic!("an annual batch: {bank_status}"));
    let a_cols: Vec<&str> = a_line.split_whitespace().collect();
    let annual_page = page(addr, &ws, "/console/batches?kind=annual");
    assert!(
        annual_page.contains(&format!("批次 batch {}", a_cols[0])),
        "{annual_page}"
    );
    assert!(
        !annual_page.contains(&format!("批次 batch {}", cols[0])),
        "daily batches are not annual"
    );
    let detail = page(addr, &ws, &format!("/console/batches/{}", a_cols[0]));
    assert!(
        detail.contains(&format!("/console/xlsx/annual-{year}.xlsx")),
        "{detail}"
    );
    let (status, annual_xlsx) = get(
        addr,
        operator_tls(&ws),
        &format!("/console/xlsx/annual-{year}.xlsx"),
    );
    assert_eq!(status, 200);
    let rows = xlsx_rows(&annual_xlsx, "xl/worksheets/sheet1.xml");
    let total = rows
        .iter()
        .find(|r| r.first().map(String::as_str) == Some("合计 total"))
        .unwrap_or_else(|| panic!("a totals row: {rows:?}"));
    assert_eq!(fen(&total[3]), fen(a_cols[3]), "{a_line}: {total:?}");
    assert_eq!(total[1], format!("{} payments", a_cols[2]));
    let (status, _) = get(addr, operator_tls(&ws), "/console/xlsx/annual-1999.xlsx");
    assert_eq!(status, 404);
    let (status, _) = get(
        addr,
        operator_tls(&ws),
        "/console/reports/..%2Fmedsettle.toml",
    );
    assert_eq!(status, 404);

    // Institutions: suspend through the button's own fields, then resume.
    let institutions = page(addr, &ws, "/console/institutions");
    for (code, amount) in &pays {
        assert!(institutions.contains(&format!(r#"data-code="{code}""#)));
        let row = &institutions[institutions
            .find(&format!(r#"data-code="{code}""#))
            .unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains("正常 active"), "{row}");
        assert!(
            row.contains(&format!("{amount} (1 笔)")),
            "{code} pays {amount}: {row}"
        );
    }
    let anchor = format!(r#"data-code="{}""#, CODES[1]);
    assert_eq!(
        attr_after(&institutions, &anchor, "data-action"),
        "institutions/suspend"
    );
    // pressed in Chromium: the button asks for the reason and a confirmation, then posts
    let mut browser = Browser::launch(&ws, addr);
    let done = browser.press(
        &format!("https://{addr}/console/institutions"),
        &format!(
            r#"tr[data-code="{}"] button.act[data-action="institutions/suspend"]"#,
            CODES[1]
        ),
        Some("对账不符 console test"),
    );
    assert!(
        done.starts_with("200 ") && done.contains(CODES[1]),
        "{done}"
    );
    let settle_status = run_ok(&["settle", "status", "--config", cfg]);
    assert!(
        settle_status.contains(&format!(
            "suspended {}: 对账不符 console test (by operator",
            CODES[1]
        )),
        "{settle_status}"
    );
    let institutions = page(addr, &ws, "/console/institutions");
    let dom = render("institutions", &institutions);
    for code in CODES {
        assert!(
            dom.contains(&format!(r#"<tr class="institution" data-code="{code}">"#)),
            "{dom}"
        );
    }
    assert!(dom.contains("[IS-RK-2] 对账不符 console test"), "{dom}");
    assert!(dom.contains("由 operator 于"), "{dom}");
    assert_eq!(
        attr_after(&institutions, &anchor, "data-action"),
        "institutions/resume"
    );
    let done = browser.press(
        &format!("https://{addr}/console/institutions"),
        &format!(
            r#"tr[data-code="{}"] button.act[data-action="institutions/resume"]"#,
            CODES[1]
        ),
        None,
    );
    assert!(done.starts_with("200 "), "{done}");
    let institutions = page(addr, &ws, "/console/institutions");
    assert!(!institutions.contains("已暂停 suspended"), "resumed");

    // Message browser: by institution, one record side by side, then by setl_id and msgid.
    let found = page(
        addr,
        &ws,
        &format!("/console/messages?institution={}", CODES[0]),
    );
    let rows = message_rows(&found);
    assert!(!rows.is_empty(), "{found}");
    assert!(rows.iter().all(|r| r.2 == CODES[0]), "{rows:?}");
    // Through the store's record index, newest first: it looked at the institution's entries
    // only (one per row), not at the journal.
    assert!(rows.windows(2).all(|w| w[0].0 > w[1].0), "{rows:?}");
    assert!(
        found.contains(&format!(
            "查看 examined {} 条索引项 index entries, 找到 found {}",
            rows.len(),
            rows.len()
        )),
        "{found}"
    );
    // A transaction within the institution.
    let settled = page(
        addr,
        &ws,
        &format!("/console/messages?institution={}&infno=2207", CODES[0]),
    );
    let settled_rows = message_rows(&settled);
    assert!(!settled_rows.is_empty(), "{settled}");
    assert!(
        settled_rows.iter().all(|r| r.1 == "nhsa.settlement"),
        "{settled_rows:?}"
    );
    assert!(settled_rows.len() < rows.len());
    let (offset, _, _, msgid) = rows
        .iter()
        .find(|r| r.1 == "nhsa.settlement")
        .cloned()
        .unwrap_or_else(|| panic!("a settlement record: {rows:?}"));
    let detail = page(addr, &ws, &format!("/console/messages/{offset}"));
    for part in [
        "请求 request as received",
        "应答 answer as sent",
        "规范结算 canonical claim",
    ] {
        assert!(detail.contains(part), "{part}: {detail}");
    }
    let key = "&quot;setl_id&quot;: &quot;";
    let at = detail
        .find(key)
        .unwrap_or_else(|| panic!("a setl_id: {detail}"))
        + key.len();
    let setl_id = &detail[at..at + detail[at..].find('&').unwrap()];
    let by_setl = message_rows(&page(
        addr,
        &ws,
        &format!("/console/messages?setl_id={setl_id}"),
    ));
    assert!(
        by_setl.iter().any(|r| r.0 == offset),
        "{setl_id}: {by_setl:?}"
    );
    assert!(by_setl.len() < rows.len(), "{by_setl:?}");
    let by_msgid = message_rows(&page(
        addr,
        &ws,
        &format!("/console/messages?institution={}&msgid={msgid}", CODES[0]),
    ));
    assert_eq!(
        by_msgid.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![offset]
    );
    let none = message_rows(&page(addr, &ws, "/console/messages?from_time=2999-01-01"));
    assert!(none.is_empty(), "{none:?}");
    let (status, _) = get(addr, operator_tls(&ws), "/console/messages?drop=table");
    assert_eq!(status, 400);
    render("messages", &found);
    render("message", &detail);

    // Alerts: acknowledge through the button's fields; who is the certificate's name.
    let alerts = page(addr, &ws, "/console/alerts");
    assert_eq!(
        attr_after(&alerts, r#"class="alert""#, "data-action"),
        "bank/ack"
    );
    let done = browser.press(
        &format!("https://{addr}/console/alerts"),
        r#"button.act[data-action="bank/ack"]"#,
        None,
    );
    assert!(done.contains("acknowledged by operator"), "{done}");
    drop(browser);
    let alerts = page(addr, &ws, "/console/alerts");
    let dom = render("alerts", &alerts);
    assert!(
        dom.contains(r#"<span class="ack-by">operator</span>"#),
        "{dom}"
    );
    assert!(dom.contains(&name), "the alert names the file: {dom}");
    let bank_status = run_ok(&["bank", "status", "--config", cfg]);
    assert!(bank_status.contains("alerts 1 (0 open)"), "{bank_status}");
    let overview = page(addr, &ws, "/console/");
    assert!(overview.contains(r#"id="alerts-open">0</a> / 1"#));

    assert!(gw.terminate().success());
}

/// The rows of a message-browser page: (offset, kind, institution, msgid).
fn message_rows(html: &str) -> Vec<(u64, String, String, String)> {
    html.split(r#"<tr class="message" data-offset=""#)
        .skip(1)
        .map(|r| {
            let offset = r[..r.find('"').unwrap()].parse().unwrap();
            let cells: Vec<String> = r[..r.find("</tr>").unwrap()]
                .split("<td>")
                .skip(1)
                .map(|c| c[..c.find("</td>").unwrap()].to_owned())
                .collect();
            (offset, cells[1].clone(), cells[3].clone(), cells[4].clone())
        })
        .collect()
}

/// The XLSX is a zip of the Office Open XML parts: the sheet is named 支付汇总单, its labels
/// are Chinese first with the CSV's column names, and its amounts are the CSV's to the fen.
fn check_xlsx(xlsx: &[u8], summary_csv: &str) {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).expect("an XLSX is a zip");
    let mut part = |name: &str| {
        let mut s = String::new();
        zip.by_name(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .read_to_string(&mut s)
            .unwrap();
        s
    };
    assert!(part("xl/workbook.xml").contains(r#"name="支付汇总单""#));
    let strings = part("xl/sharedStrings.xml");
    let sheet = part("xl/worksheets/sheet1.xml");
    assert!(strings.contains("支付总额 pay_total"), "{strings}");
    let mut rows = summary_csv.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let values: Vec<&str> = rows.next().unwrap().split(',').collect();
    for column in ["pay_total", "claims_total"] {
        let i = header.iter().position(|h| *h == column).unwrap();
        let yuan = values[i];
        // Written as the number the decimal text names; shortest form, e.g. 1234.5 for 1234.50.
        let number: f64 = yuan.parse().unwrap();
        assert!(
            sheet.contains(&format!("<v>{number}</v>")),
            "{column} = {yuan} in the sheet: {sheet}"
        );
    }
}

#[test]
fn init_writes_the_operator_certificate_as_pkcs12_with_a_one_time_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(&["init", "--dir", dir.path().to_str().unwrap()]);
    let password = out
        .lines()
        .find_map(|l| l.split("one-time password: ").nth(1))
        .unwrap_or_else(|| panic!("a printed password: {out}"))
        .trim();
    let p12 = dir.path().join("certs/operator.p12");
    let (alias, chain, key) = medsettle_ops::init::read_operator_p12(&p12, password).unwrap();
    assert_eq!(alias, medsettle_ops::init::OPERATOR_P12_ALIAS);
    let leaf =
        medsettle_server::tls::load_certificates(&dir.path().join("certs/clients/operator.pem"))
            .unwrap();
    assert_eq!(chain[0], leaf[0].to_vec());
    let pem_key =
        medsettle_server::tls::load_private_key(&dir.path().join("certs/clients/operator.key"))
            .unwrap();
    assert_eq!(key, pem_key.secret_der());
    assert!(medsettle_ops::init::read_operator_p12(&p12, "not the password").is_err());
    // A second init prints another password: it is one-time, never stored.
    let again = run_ok(&["init", "--dir", dir.path().to_str().unwrap(), "--force"]);
    assert!(!again.contains(password), "{again}");
}

/// A decimal yuan text (`1234.5`, `-0.05`, `12`) as integer fen, without floating point.
fn fen(text: &str) -> i64 {
    let (neg, t) = text.strip_prefix('-').map_or((false, text), |t| (true, t));
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    assert!(frac.len() <= 2, "`{text}` has more than two decimals");
    let f: i64 = format!("{frac:0<2}").parse().unwrap();
    let v = int.parse::<i64>().unwrap() * 100 + f;
    if neg { -v } else { v }
}

/// The rows of a worksheet of an XLSX (read with the zip reader): each cell's text (shared
/// strings resolved, numbers as written), in column order, empty cells as "".
fn xlsx_rows(xlsx: &[u8], sheet: &str) -> Vec<Vec<String>> {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).expect("an XLSX is a zip");
    let mut part = |name: &str| {
        let mut s = String::new();
        if let Ok(mut f) = zip.by_name(name) {
            f.read_to_string(&mut s).unwrap();
        }
        s
    };
    let xml_text = |t: &str| unescape(t);
    let strings: Vec<String> = part("xl/sharedStrings.xml")
        .split("<si>")
        .skip(1)
        .map(|si| {
            si.split("<t")
                .skip(1)
                .map(|t| {
                    let t = &t[t.find('>').unwrap() + 1..];
                    xml_text(&t[..t.find("</t>").unwrap_or(0)])
                })
                .collect::<String>()
        })
        .collect();
    let sheet = part(sheet);
    let col_index = |r: &str| {
        r.bytes()
            .take_while(u8::is_ascii_uppercase)
            .fold(0usize, |n, b| n * 26 + usize::from(b - b'A' + 1))
            - 1
    };
    sheet
        .split("<row ")
        .skip(1)
        .map(|row| {
            let row = &row[..row.find("</row>").unwrap_or(row.len())];
            let mut cells: Vec<String> = Vec::new();
            for c in row.split("<c ").skip(1) {
                let head = &c[..c.find('>').unwrap()];
                let r = head.split("r=\"").nth(1).unwrap();
                let i = col_index(&r[..r.find('"').unwrap()]);
                let shared = head.contains("t=\"s\"");
                let v = c
                    .split("<v>")
                    .nth(1)
                    .map(|v| xml_text(&v[..v.find("</v>").unwrap()]))
                    .unwrap_or_default();
                let v = if shared {
                    strings[v.parse::<usize>().unwrap()].clone()
                } else {
                    v
                };
                if cells.len() <= i {
                    cells.resize(i + 1, String::new());
                }
                cells[i] = v;
            }
            cells
        })
        .collect()
}

/// The action and fields of the first action form after `anchor`: (action, fields with the
/// operation id), as the page rendered them.
fn form_fields(html: &str, anchor: &str) -> (String, Vec<(String, String)>) {
    let from = html
        .find(anchor)
        .unwrap_or_else(|| panic!("{anchor} in the page"));
    let rest = &html[from..];
    let form = &rest[rest
        .find(r#"<form method="post" class="act-form""#)
        .expect("a form")..];
    let form = &form[..form.find("</form>").unwrap()];
    let action = attr_after(form, "<form", "data-action");
    let fields = form
        .split("<input type=\"hidden\" ")
        .skip(1)
        .map(|i| {
            (
                attr_after(i, "name=", "name"),
                attr_after(i, "value=", "value"),
            )
        })
        .collect();
    (action, fields)
}

fn form_body(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            let enc = |t: &str| {
                t.bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                            char::from(b).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect::<String>()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Submit a console form as Chromium does (form encoding, `Origin`, `Sec-Fetch-Site`).
fn post_form_from(
    addr: std::net::SocketAddr,
    ws: &Workspace,
    action: &str,
    fields: &[(String, String)],
    origin: &str,
) -> (u16, http::HeaderMap, Bytes) {
    let body = Bytes::from(form_body(fields));
    post_act(
        addr,
        ws,
        action,
        "application/x-www-form-urlencoded",
        body,
        origin,
    )
}

/// `POST /console/act/<action>` as Chromium sends it from `origin` (`Origin`, `Host`,
/// `Sec-Fetch-Site`), presenting the operator certificate.
fn post_act(
    addr: std::net::SocketAddr,
    ws: &Workspace,
    action: &str,
    content_type: &str,
    body: Bytes,
    origin: &str,
) -> (u16, http::HeaderMap, Bytes) {
    let site = if origin == format!("https://{addr}") {
        "same-origin"
    } else {
        "cross-site"
    };
    runtime().block_on(async {
        let mut conn = his::HisConnection::connect(addr, operator_tls(ws))
            .await
            .unwrap();
        conn.post_with_headers(
            &format!("/console/act/{action}"),
            content_type,
            &[
                ("origin".into(), origin.into()),
                ("host".into(), addr.to_string()),
                ("sec-fetch-site".into(), site.into()),
            ],
            body,
        )
        .await
        .unwrap()
    })
}

fn post_form(
    addr: std::net::SocketAddr,
    ws: &Workspace,
    action: &str,
    fields: &[(String, String)],
) -> String {
    let (status, _, body) = post_form_from(addr, ws, action, fields, &format!("https://{addr}"));
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "{action}: {text}");
    text
}

/// Submit a console form as Chromium does with `multipart/form-data`: `fields` are (name,
/// file name for a file input, value), in form order.
fn post_multipart_from(
    addr: std::net::SocketAddr,
    ws: &Workspace,
    action: &str,
    fields: &[(&str, Option<&str>, String)],
    origin: &str,
) -> (u16, http::HeaderMap, Bytes) {
    let boundary = "----WebKitFormBoundaryMedsettle18";
    let mut body = String::new();
    for (name, file, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\""
        ));
        match file {
            Some(f) => body.push_str(&format!(
                "; filename=\"{f}\"\r\nContent-Type: text/csv\r\n\r\n"
            )),
            None => body.push_str("\r\n\r\n"),
        }
        body.push_str(value);
        body.push_str("\r\n");
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let content_type = format!("multipart/form-data; boundary={boundary}");
    post_act(addr, ws, action, &content_type, Bytes::from(body), origin)
}

/// `bank status` once `done` holds (the gateway's inbox watcher runs on its own), within 30 s.
fn wait_for_bank(cfg: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let s = run_ok(&["bank", "status", "--config", cfg]);
        if done(&s) {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "{s}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// Each chart's figures against the operator API's and the gateway's own `/metrics`.
fn check_charts(
    addr: std::net::SocketAddr,
    ws: &Workspace,
    overview: &str,
    bank_status: &str,
    pay: &str,
    today: time::Date,
) {
    let batch_line = bank_status.lines().find(|l| l.starts_with('D')).unwrap();
    let cols: Vec<&str> = batch_line.split_whitespace().collect();
    // Daily disbursement: the day's bar is the batch's control sum; its level segments add up.
    let day = attr_after(overview, &format!(r#"data-date="{pay}""#), "data-value");
    assert_eq!(day.parse::<i64>().unwrap(), fen(cols[3]), "{batch_line}");
    let g = &overview[overview.find(&format!(r#"data-date="{pay}""#)).unwrap()..];
    let g = &g[..g.find("</g>").unwrap()];
    let segs: i64 = g
        .split(r#"<rect class="seg" "#)
        .skip(1)
        .map(|r| {
            attr_after(r, "data-value", "data-value")
                .parse::<i64>()
                .unwrap()
        })
        .sum();
    assert_eq!(segs, fen(cols[3]), "{g}");
    // Instant share: paid = the batch's paid total (`bank status`), the whole batch here.
    let paid = attr_after(
        overview,
        &format!(r#"<tr class="share" data-date="{pay}""#),
        "data-paid",
    );
    assert_eq!(fen(&paid), fen(cols[3]));
    assert!(
        bank_status.contains(&format!("Paid 2 ({})", cols[3])),
        "{bank_status}"
    );
    // Days to pay: settled today, paid (value date) on the pay date.
    let pay_date = time::Date::parse(
        pay,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .unwrap();
    let days = (pay_date - today).whole_days();
    for code in CODES {
        let v = attr_after(overview, &format!(r#"data-key="{code}""#), "data-value");
        assert_eq!(v.parse::<i64>().unwrap(), days * 10, "{code}");
    }
    // Requests per transaction: the gateway's own counter (this gateway started within the
    // hour, so the window is from its start).
    let (status, metrics) = get(addr, operator_tls(ws), "/metrics");
    assert_eq!(status, 200);
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    let count_2207: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("medsettle_requests_total{infno=\"2207\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(count_2207 > 0, "{metrics}");
    let v = attr_after(
        overview,
        r#"<g class="bar-row" data-key="2207""#,
        "data-value",
    );
    assert_eq!(v.parse::<u64>().unwrap(), count_2207);
    assert!(
        overview.contains(r#"<span id="traffic-p99">≤ "#),
        "{overview}"
    );
    // p99 per transaction: /metrics has a latency histogram per infno, and each transaction's
    // row of the chart is the p99 bucket of its own series (the window is from this gateway's
    // start, so the series as they stand; `none` — the console's own pages — keeps growing
    // and is left out).
    let family = "medsettle_request_duration_by_infno_seconds";
    let count_of = |infno: &str| -> Option<u64> {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{family}_count{{infno=\"{infno}\"}} ")))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
    };
    assert_eq!(count_of("2207"), Some(count_2207), "{metrics}");
    let mut checked = Vec::new();
    for row in overview
        .split(r#"<tr class="traffic" data-infno=""#)
        .skip(1)
    {
        let infno = &row[..row.find('"').unwrap()];
        if !infno.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let count = count_of(infno).unwrap_or_else(|| panic!("{infno}: {metrics}"));
        let expected = metrics
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{family}_bucket{{infno=\"{infno}\",le=\"")))
            .map(|rest| {
                let (le, n) = rest.split_once("\"} ").unwrap();
                (le.to_owned(), n.parse::<u64>().unwrap())
            })
            .find(|(_, n)| n * 100 >= count * 99)
            .map(|(le, _)| le)
            .unwrap();
        assert_eq!(
            attr_after(row, "", "data-p99-le"),
            expected,
            "{infno}: {metrics}"
        );
        checked.push(infno.to_owned());
    }
    assert!(
        checked.len() >= 2 && checked.iter().any(|i| i == "2207"),
        "two transactions at least: {checked:?}"
    );
}

/// What Chromium needs to present the operator certificate itself: a temporary HOME whose NSS
/// database holds `certs/operator.p12` and trusts the CA, and a policies directory (bind-mounted
/// over `/etc/chromium`) auto-selecting the certificate for `https://<addr>`.
struct MtlsProfile {
    dir: tempfile::TempDir,
    home: PathBuf,
    etc: PathBuf,
}

impl MtlsProfile {
    /// `sh -c` script running Chromium with `args` in a mount namespace where `/etc/chromium`
    /// is the profile's.
    fn script(&self, args: &str) -> String {
        format!(
            "mount --bind '{}' /etc/chromium && exec {CHROMIUM} --headless --no-sandbox --disable-gpu \
             --no-first-run --disable-background-networking --disable-component-update --disable-sync \
             --user-data-dir='{}' {args}",
            self.etc.display(),
            self.profile().display()
        )
    }

    fn profile(&self) -> PathBuf {
        self.dir.path().join("profile")
    }

    /// Chromium in its user and mount namespace (no root needed).
    fn command(&self, args: &str) -> Command {
        let mut c = Command::new("unshare");
        c.args([
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            &self.script(args),
        ])
        .env("HOME", &self.home);
        c
    }
}

/// Chromium presenting the operator certificate itself: `certs/operator.p12` imported with
/// `pk12util` into the NSS database of a temporary HOME, the gateway's CA trusted there, and an
/// `AutoSelectCertificateForUrls` policy. Linux Chromium reads policies only from `/etc/chromium/policies/managed`; rather
/// than writing there, Chromium runs in its own user and mount namespace (`unshare`, no
/// root needed where unprivileged user namespaces are enabled) in which a temporary
/// directory is bind-mounted over `/etc/chromium`.
fn mtls_profile(ws: &Workspace, addr: std::net::SocketAddr) -> MtlsProfile {
    for tool in ["pk12util", "certutil", "unshare"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .unwrap()
                .status
                .success(),
            "{tool} is not installed (apt-get install libnss3-tools util-linux; .ci/test installs them)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let nssdb = home.join(".pki/nssdb");
    std::fs::create_dir_all(&nssdb).unwrap();
    let db = format!("sql:{}", nssdb.display());
    // The PKCS#12 `init` writes, written again under a password this test knows (`init`
    // prints its one-time password and keeps it nowhere).
    let password = "console-test-p12";
    let p12 = ws.path().join("certs/operator.p12");
    medsettle_ops::init::write_operator_p12(
        &p12,
        &ws.path().join("certs/clients/operator.pem"),
        &ws.path().join("certs/clients/operator.key"),
        &ws.ca(),
        password,
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["certutil", "-N", "-d", &db, "--empty-password"]);
    run(&[
        "pk12util",
        "-i",
        p12.to_str().unwrap(),
        "-d",
        &db,
        "-W",
        password,
    ]);
    run(&[
        "certutil",
        "-A",
        "-n",
        "medsettle-ca",
        "-t",
        "C,,",
        "-i",
        ws.ca().to_str().unwrap(),
        "-d",
        &db,
    ]);
    let etc = dir.path().join("etc-chromium");
    std::fs::create_dir_all(etc.join("policies/managed")).unwrap();
    if let Ok(prefs) = std::fs::read("/etc/chromium/master_preferences") {
        std::fs::write(etc.join("master_preferences"), prefs).unwrap();
    }
    let pattern = serde_json::json!({ "pattern": format!("https://{addr}"), "filter": {} });
    std::fs::write(
        etc.join("policies/managed/medsettle-test.json"),
        serde_json::json!({ "AutoSelectCertificateForUrls": [pattern.to_string()] }).to_string(),
    )
    .unwrap();
    MtlsProfile { dir, home, etc }
}

/// Open `path` on the gateway in headless Chromium with the operator certificate presented
/// by Chromium itself ([`mtls_profile`]). The DOM after load (`--dump-dom`).
fn chromium_over_mtls(ws: &Workspace, addr: std::net::SocketAddr, path: &str) -> String {
    let profile = mtls_profile(ws, addr);
    let out = profile
        .command(&format!("--dump-dom 'https://{addr}{path}'"))
        .output()
        .expect("run unshare");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("</html>"),
        "Chromium over mutual TLS: {}\n{dom}",
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

/// Cross-region visits of `insured`'s persons at `treatment`'s first hospital, the second
/// reversed (2208), as the HIS sends them.
fn cross_region_visits(treatment: &interregion::Region, insured: &interregion::Region, n: u64) {
    use his::{EnvelopeBuilder, FeeLine, HisConnection, Sender};
    let code = interregion::first_institution(treatment.code);
    let persons = interregion::insured_of(insured);
    runtime().block_on(async {
        let mut conn = HisConnection::connect(treatment.addr(), treatment.ws.tls_for(&code))
            .await
            .unwrap();
        let mut b = EnvelopeBuilder::new(
            Sender {
                fixmedins_code: code.clone(),
                fixmedins_name: institution_name(treatment.ws.path(), &code),
                mdtrtarea_admvs: treatment.code.to_owned(),
            },
            time::PrimitiveDateTime::new(today_in_china(), time::Time::MIDNIGHT),
        );
        for v in 0..n {
            let p = &persons[usize::try_from(v).unwrap() % persons.len()];
            let lines = [FeeLine {
                med_list_codg: "EXAM002".into(),
                units: 1,
                pric_fen: 20_000 + 1_337 * i64::try_from(v).unwrap(),
            }];
            let settled = his::cross_region_outpatient_visit(&mut conn, &mut b, p, &lines, v)
                .await
                .unwrap_or_else(|e| panic!("visit {v}: {e:#}"));
            if v == 1 {
                his::cross_region_reverse(&mut conn, &mut b, p, &settled)
                    .await
                    .unwrap_or_else(|e| panic!("reversal: {e:#}"));
            }
        }
    });
}

/// The clearing view (issue 18: "the clearing statements when they exist"): two provinces'
/// real gateways exchange visits, clear the month (clocks on the 10th of the next month), and
/// the place of treatment's console shows the month as `settle clearing status` reports it;
/// its workbook's totals equal each statement's CSV to the fen.
#[test]
fn the_clearing_view_and_workbook_equal_the_clearing_report() {
    use interregion::*;
    let mut regions = regions(&[("440300", "44"), ("330100", "33")]);
    link(&mut regions, E2E_TIMINGS, |_, _| None);
    for r in regions.iter_mut() {
        start(r);
    }
    // Guangdong (A) treats Zhejiang's (B) insured; B treats one of A's.
    cross_region_visits(&regions[0], &regions[1], 4);
    cross_region_visits(&regions[1], &regions[0], 1);
    // The month is cleared once it is over: both gateways on the 10th of the next month.
    let today = today_in_china();
    let month = format!("{:04}-{:02}", today.year(), u8::from(today.month()));
    let next = time::Date::from_calendar_date(
        today.year() + i32::from(today.month() == time::Month::December),
        today.month().next(),
        10,
    )
    .unwrap();
    for r in regions.iter_mut() {
        assert!(r.gw.take().unwrap().terminate().success());
        let child = medsettle_at(&format!("{next} 02:00:00"))
            .args(["serve", "--config", r.ws.config().to_str().unwrap()])
            .env("MEDSETTLE_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn medsettle serve");
        r.gw = Some(Gateway::adopt(child));
    }
    for _ in 0..2 {
        for r in &regions {
            let cfg = r.ws.config();
            run_ok(&[
                "settle",
                "clearing",
                "--month",
                &month,
                "--config",
                cfg.to_str().unwrap(),
            ]);
        }
    }
    let (a, ws) = (regions[0].addr(), &regions[0].ws);
    let cfg = ws.config();
    let report: serde_json::Value = serde_json::from_str(&run_ok(&[
        "settle",
        "clearing",
        "status",
        "--month",
        &month,
        "--json",
        "--config",
        cfg.to_str().unwrap(),
    ]))
    .unwrap();
    let statements = report["statements"].as_array().unwrap();
    assert_eq!(statements.len(), 2, "{report}");
    assert!(
        report["transfers"].as_array().is_some_and(|t| t.len() == 1),
        "{report}"
    );

    // The page: each statement's amounts, each province's net position, the transfer.
    let html = page(a, ws, &format!("/console/clearing?month={month}"));
    for s in statements {
        let id = s["stmt_id"].as_str().unwrap();
        let row = format!(r#"<tr class="statement" data-stmt="{id}""#);
        assert_eq!(
            attr_after(&html, &row, "data-fund-fen"),
            s["fund_pay_sumamt"].to_string()
        );
        assert_eq!(
            attr_after(&html, &row, "data-medfee-fen"),
            s["medfee_sumamt"].to_string()
        );
        assert_eq!(s["replied"], true, "{s}");
        // The statement's CSV downloads as the report carries it.
        let (status, csv) = get(
            a,
            operator_tls(ws),
            &format!("/console/clearing/{month}/{id}.csv"),
        );
        assert_eq!(
            (status, String::from_utf8_lossy(&csv)),
            (200, s["csv"].as_str().unwrap().into())
        );
    }
    for p in report["net"].as_array().unwrap() {
        let anchor = format!(r#"data-province="{}""#, p[0].as_str().unwrap());
        assert_eq!(attr_after(&html, &anchor, "data-fen"), p[1].to_string());
    }
    let t = &report["transfers"][0];
    let anchor = format!(r#"data-transfer="{}""#, t["transfer_id"].as_str().unwrap());
    assert_eq!(
        attr_after(&html, &anchor, "data-fen"),
        t["amount"].to_string()
    );
    let dom = render("clearing", &html);
    assert!(dom.contains(&format!("clearing-{month}.xlsx")), "{dom}");

    // The workbook: one sheet per statement whose total row is its CSV's, in yuan and fen.
    let (status, xlsx) = get(
        a,
        operator_tls(ws),
        &format!("/console/xlsx/clearing-{month}.xlsx"),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&xlsx));
    for (k, s) in statements.iter().enumerate() {
        let rows = xlsx_rows(&xlsx, &format!("xl/worksheets/sheet{}.xml", k + 2));
        assert_eq!(rows[0][1], s["stmt_id"].as_str().unwrap());
        let header = rows
            .iter()
            .find(|r| r.first().map(String::as_str) == Some("seqno"))
            .unwrap();
        let col = |n: &str| header.iter().position(|h| h == n).unwrap();
        let total = rows
            .iter()
            .find(|r| r.first().map(String::as_str) == Some("合计 total"))
            .unwrap_or_else(|| panic!("a totals row: {rows:?}"));
        let csv = s["csv"].as_str().unwrap();
        let csv_header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let csv_total: Vec<&str> = csv.lines().last().unwrap().split(',').collect();
        assert_eq!(csv_total[0], "total");
        for name in ["medfee_sumamt", "optins_pay_sumamt"] {
            let want = fen(csv_total[csv_header.iter().position(|h| *h == name).unwrap()]);
            assert_eq!(
                fen(&total[col(name)]),
                want,
                "{name} (yuan) of {}",
                s["stmt_id"]
            );
            assert_eq!(
                total[col(&format!("{name}_fen"))],
                want.to_string(),
                "{name} (fen)"
            );
        }
        let lines = csv.lines().count() - 2;
        assert_eq!(lines, s["lines"].as_u64().unwrap() as usize);
        assert_eq!(
            rows.iter()
                .filter(|r| r.first().is_some_and(|c| c.parse::<u32>().is_ok()))
                .count(),
            lines
        );
    }
    // The summary sheet: the transfer and the net positions, in fen.
    let rows = xlsx_rows(&xlsx, "xl/worksheets/sheet1.xml");
    let transfer = rows
        .iter()
        .find(|r| r.first().map(String::as_str) == t["transfer_id"].as_str())
        .unwrap_or_else(|| panic!("the transfer: {rows:?}"));
    assert_eq!(transfer[4], t["amount"].to_string());
    for p in report["net"].as_array().unwrap() {
        let row = rows
            .iter()
            .find(|r| r.first().map(String::as_str) == p[0].as_str())
            .unwrap_or_else(|| panic!("{p}: {rows:?}"));
        assert_eq!(row[2], p[1].to_string());
    }
    let (status, _) = get(a, operator_tls(ws), "/console/clearing?month=2026-13");
    assert_eq!(status, 400);
    for r in regions.iter_mut() {
        assert!(r.gw.take().unwrap().terminate().success());
    }
}

/// Headless Chromium driven over the DevTools protocol (a WebSocket to the page), presenting
/// the operator certificate itself ([`mtls_profile`]): what an operator's clicks do — choose
/// files in a file input, type, press submit, confirm — done by the browser, not by the test.
struct Browser {
    child: std::process::Child,
    socket: std::net::TcpStream,
    next_id: u64,
    _profile: MtlsProfile,
}

/// How long the browser may take for one step (start, a command's answer, a page load).
const BROWSER_STEP: std::time::Duration = std::time::Duration::from_secs(30);

impl Browser {
    fn launch(ws: &Workspace, addr: std::net::SocketAddr) -> Browser {
        let profile = mtls_profile(ws, addr);
        let child = profile
            .command("--remote-debugging-port=0 --window-size=1280,1400 about:blank")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run unshare");
        // Chromium writes the port it took into the profile.
        let port_file = profile.profile().join("DevToolsActivePort");
        let deadline = std::time::Instant::now() + BROWSER_STEP;
        let port = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.lines().next()?.trim().parse::<u16>().ok())
            {
                break p;
            }
            assert!(std::time::Instant::now() < deadline, "no DevTools port");
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        let list = http_get_local(port, "/json/list");
        let targets: serde_json::Value = serde_json::from_str(&list).unwrap();
        let url = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .unwrap_or_else(|| panic!("a page target: {list}"))
            .to_owned();
        let path = &url[url.find("/devtools/").unwrap()..];
        let mut b = Browser {
            child,
            socket: ws_connect(port, path),
            next_id: 0,
            _profile: profile,
        };
        b.call("Page.enable", serde_json::json!({}));
        b
    }

    /// One command; its `result` (events that arrive meanwhile are dropped).
    fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = serde_json::json!({"id": id, "method": method, "params": params});
        ws_send(&mut self.socket, msg.to_string().as_bytes());
        let deadline = std::time::Instant::now() + BROWSER_STEP;
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "{method}: no answer in time"
            );
            let v: serde_json::Value = serde_json::from_slice(&ws_recv(&mut self.socket)).unwrap();
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Wait for the page's `load` event.
    fn wait_load(&mut self) {
        let deadline = std::time::Instant::now() + BROWSER_STEP;
        loop {
            assert!(std::time::Instant::now() < deadline, "no page load in time");
            let v: serde_json::Value = serde_json::from_slice(&ws_recv(&mut self.socket)).unwrap();
            if v["method"] == "Page.loadEventFired" {
                return;
            }
        }
    }

    fn open(&mut self, url: &str) {
        self.call("Page.navigate", serde_json::json!({ "url": url }));
        self.wait_load();
    }

    /// Evaluate `js` in the page; its value.
    fn eval(&mut self, js: &str) -> serde_json::Value {
        let r = self.call(
            "Runtime.evaluate",
            serde_json::json!({"expression": js, "returnByValue": true}),
        );
        assert!(r["exceptionDetails"].is_null(), "{js}: {r}");
        r["result"]["value"].clone()
    }

    /// Choose `file` in the file input `selector`, as the operator does in the file dialog.
    fn choose_file(&mut self, selector: &str, file: &Path) {
        let root = self.call("DOM.getDocument", serde_json::json!({}))["root"]["nodeId"].clone();
        let node = self.call(
            "DOM.querySelector",
            serde_json::json!({"nodeId": root, "selector": selector}),
        )["nodeId"]
            .clone();
        assert_ne!(node, 0, "{selector} in the page");
        self.call(
            "DOM.setFileInputFiles",
            serde_json::json!({"nodeId": node, "files": [file.to_str().unwrap()]}),
        );
    }

    /// Open `url`, press the action button `selector` as the operator does — answering its
    /// prompt for a reason with `reason` and its confirmation with OK — and return what the page
    /// shows of the gateway's answer (`#result`: status and text) before it reloads.
    fn press(&mut self, url: &str, selector: &str, reason: Option<&str>) -> String {
        self.open(url);
        let reason = serde_json::to_string(&reason).unwrap();
        let selector_js = serde_json::to_string(selector).unwrap();
        let pressed = self.eval(&format!(
            "window.prompt = () => {reason}; window.confirm = () => true;
             const b = document.querySelector({selector_js});
             if (b) {{ b.click(); }}
             !!b"
        ));
        assert_eq!(
            pressed,
            serde_json::Value::Bool(true),
            "{selector} on {url}"
        );
        // the page shows the answer, then reloads 800 ms later on success
        let deadline = std::time::Instant::now() + BROWSER_STEP;
        loop {
            let shown =
                self.eval("(document.getElementById('result') || {textContent: ''}).textContent");
            let shown = shown.as_str().unwrap_or_default();
            if !shown.is_empty() {
                return shown.to_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no answer shown for {selector}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The page's document as it stands.
    fn dom(&mut self) -> String {
        self.eval("document.documentElement.outerHTML")
            .as_str()
            .unwrap()
            .to_owned()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` of Chromium's DevTools HTTP endpoint on loopback: the body (by its
/// `Content-Length`; the endpoint keeps the connection open).
fn http_get_local(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(BROWSER_STEP)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).expect("the DevTools endpoint answers");
        assert!(n > 0, "the DevTools endpoint closed early");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length: usize = text[..end]
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .expect("a Content-Length");
        if got.len() >= end + 4 + length {
            return String::from_utf8_lossy(&got[end + 4..end + 4 + length]).into_owned();
        }
    }
}

/// A WebSocket (RFC 6455) to `path` on loopback: the opening handshake.
fn ws_connect(port: u16, path: &str) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(BROWSER_STEP)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: bWVkc2V0dGxlY29uc29sZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s
}

/// Send one text message (a client masks its frames).
fn ws_send(s: &mut std::net::TcpStream, payload: &[u8]) {
    use std::io::Write;
    let mask = [0x6d, 0x65, 0x64, 0x73];
    let mut frame = vec![0x81u8];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | u8::try_from(n).unwrap()),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&frame).unwrap();
}

/// Receive one whole message (continuation frames joined; pings and other control frames
/// skipped).
fn ws_recv(s: &mut std::net::TcpStream) -> Vec<u8> {
    use std::io::Read;
    let mut message = Vec::new();
    loop {
        let mut h = [0u8; 2];
        s.read_exact(&mut h).expect("a DevTools message in time");
        let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
        let len = match h[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                s.read_exact(&mut b).unwrap();
                u64::from(u16::from_be_bytes(b))
            }
            127 => {
                let mut b = [0u8; 8];
                s.read_exact(&mut b).unwrap();
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        let mut payload = vec![0u8; usize::try_from(len).unwrap()];
        s.read_exact(&mut payload).unwrap();
        if opcode >= 0x8 {
            assert_ne!(opcode, 0x8, "DevTools closed the connection");
            continue;
        }
        message.extend_from_slice(&payload);
        if fin {
            return message;
        }
    }
}
