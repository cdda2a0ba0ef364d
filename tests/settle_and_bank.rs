//! End-to-end instant settlement and bank file drop with the real binary: 3201 over mTLS,
//! the daily close checked against an independent computation from the journal, the payment
//! file validated against the official XSD, receipts applied exactly once.

mod common;

use std::process::Command;

use common::his::{self, EnvelopeBuilder, FeeLine, Sender};
use common::*;
use medsettle_canonical::{Money, Ratio};
use serde_json::{Value, json};

const CODE: &str = "H44030000002";

fn yuan(fen: i64) -> Value {
    his::yuan_number(fen)
}

#[test]
fn settle_reconcile_close_pay_and_ingest() {
    let ws = Workspace::init();
    let persons = his::insured_from_registry(
        &std::fs::read_to_string(ws.path().join("policy/persons.toml")).unwrap(),
    )
    .unwrap();
    let gw = ws.serve(&[]);
    let rt = runtime();
    let today = time::OffsetDateTime::now_utc().to_offset(medsettle_canonical::CHINA_OFFSET);
    let (stmt_ok, stmt_bad) = rt.block_on(async {
        let mut conn = his::HisConnection::connect(gw.addr, ws.tls_for(CODE)).await.unwrap();
        let base = time::PrimitiveDateTime::new(today.date(), time::Time::MIDNIGHT);
        let mut b = EnvelopeBuilder::new(
            Sender { fixmedins_code: CODE.into(), fixmedins_name: "深圳市示例中医院".into(), mdtrtarea_admvs: "440300".into() },
            base,
        );
        let mut medfee = 0i64;
        let mut fund = 0i64;
        let mut acct = 0i64;
        let mut count = 0i64;
        for (n, p) in persons.iter().filter(|p| p.insutype == "310").take(12).enumerate() {
            let lines = vec![
                FeeLine { med_list_codg: "EXAM002".into(), units: 1, pric_fen: 18_000 + n as i64 * 137 },
                FeeLine { med_list_codg: "WM001".into(), units: 2, pric_fen: 1_850 },
            ];
            let s = his::outpatient_visit(&mut conn, &mut b, p, &lines, n as u64).await.unwrap();
            let amt = |k: &str| Money::parse_yuan(&s.setlinfo[k].to_string()).unwrap().fen();
            medfee += amt("medfee_sumamt");
            fund += amt("fund_pay_sumamt");
            acct += amt("acct_pay");
            count += 1;
        }
        let stmt = |medfee: i64| {
            json!({"data": {
                "insutype": "310", "clr_type": "11", "setl_optins": "440300",
                "stmt_begndate": today.date().to_string(), "stmt_enddate": today.date().to_string(),
                "medfee_sumamt": yuan(medfee), "fund_pay_sumamt": yuan(fund), "acct_pay": yuan(acct),
                "fixmedins_setl_cnt": count
            }})
        };
        let ok = b.envelope("3201", "440300", stmt(medfee));
        let bad = b.envelope("3201", "440300", stmt(medfee + 1_234));
        let (s1, a1) = conn.call(&ok).await.unwrap();
        let (s2, a2) = conn.call(&bad).await.unwrap();
        assert_eq!((s1, s2), (200, 200));
        (his::expect_success(s1, &a1, "3201").unwrap(), his::expect_success(s2, &a2, "3201").unwrap())
    });
    assert_eq!(stmt_ok["stmtinfo"]["stmt_rslt"], "0", "{stmt_ok}");
    assert_eq!(stmt_bad["stmtinfo"]["stmt_rslt"], "1", "{stmt_bad}");
    assert!(
        stmt_bad["stmtinfo"]["stmt_rslt_dscr"]
            .as_str()
            .unwrap()
            .contains("12.34"),
        "{stmt_bad}"
    );
    assert!(gw.terminate().success());

    // Independent expectation: IS-D-2 per claim round_half_up(fund amount in scope × 60 %).
    let cfg = ws.config();
    let cfg = cfg.to_str().unwrap();
    let export = run_ok(&["journal", "export", "--config", cfg]);
    let in_scope = ["310100", "330100", "390100", "390200"];
    let expected: i64 = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["kind"] == "nhsa.settlement")
        .map(|r| {
            let fund: i64 = r["record"]["claim"]["setldetail"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|l| in_scope.contains(&l["fund_pay_type"].as_str().unwrap()))
                .map(|l| l["fund_payamt"].as_i64().unwrap())
                .sum();
            Money::from_fen(fund)
                .mul_ratio_half_up(Ratio::from_bp(6_000))
                .fen()
        })
        .sum();
    assert!(expected > 0);
    let pay_date = ws.pay_date(&today.date().to_string());
    let daily = run_ok(&["settle", "daily", "--date", &pay_date, "--config", cfg]);
    assert!(
        daily.contains(&format!(
            "total: 1 institutions paid {}",
            Money::from_fen(expected)
        )),
        "expected {expected}: {daily}"
    );
    let summary = std::fs::read_to_string(
        ws.path()
            .join(format!("data/reports/daily-{pay_date}-summary.csv")),
    )
    .unwrap();
    assert!(summary.lines().count() >= 2, "{summary}");
    // Dated on official calendar files: the report says so in its last column.
    let mut lines = summary.lines();
    assert!(lines.next().unwrap().ends_with(",calendar"), "{summary}");
    assert!(lines.next().unwrap().ends_with(",official"), "{summary}");

    // Payment file: dropped once, valid against the official schema, same bytes when re-run.
    let first = run_ok(&["bank", "export", "--date", &pay_date, "--config", cfg]);
    let file = ws
        .path()
        .join("data/bank/outbox")
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "xml"))
        .expect("a pain.001 file");
    let bytes = std::fs::read(&file).unwrap();
    let again = run_ok(&["bank", "export", "--date", &pay_date, "--config", cfg]);
    assert!(
        first.contains("dropped") && again.contains("already dropped"),
        "{first}\n{again}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        bytes,
        "a batch renders to the same bytes"
    );
    let xsd = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/schemas/iso20022/pain.001.001.03.xsd");
    if xsd.exists() && Command::new("xmllint").arg("--version").output().is_ok() {
        let out = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&xsd)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have xmllint and the shared schema"
        );
    }

    // The bank answers; receipts are applied once, a second ingest changes nothing.
    run_ok(&["bank", "simulate", "--once", "--duplicate", "--config", cfg]);
    let ingest = run_ok(&["bank", "ingest", "--config", cfg]);
    assert!(ingest.contains("receipts: 1 applied"), "{ingest}");
    let status = run_ok(&["bank", "status", "--config", cfg]);
    assert!(
        status.contains(&format!("Paid 1 ({})", Money::from_fen(expected))),
        "{status}"
    );
    let twice = run_ok(&["bank", "ingest", "--config", cfg]);
    assert!(twice.contains("receipts: 0 applied"), "{twice}");
    assert_eq!(run_ok(&["bank", "status", "--config", cfg]), status);
}

/// A crash after the file drop applied a receipt file but before the settlement engine heard
/// of it must not lose the receipt for the engine (IS-D-7: only a receipt proves payment, and
/// the monthly settlement deducts only what the engine knows was paid).
#[test]
fn receipts_reach_the_engine_after_a_crash_between_the_two_steps() {
    use medsettle_store::Store as _;
    let ws = Workspace::init();
    let persons = his::insured_from_registry(
        &std::fs::read_to_string(ws.path().join("policy/persons.toml")).unwrap(),
    )
    .unwrap();
    let gw = ws.serve(&[]);
    let rt = runtime();
    let today = time::OffsetDateTime::now_utc().to_offset(medsettle_canonical::CHINA_OFFSET);
    rt.block_on(async {
        let mut conn = his::HisConnection::connect(gw.addr, ws.tls_for(CODE))
            .await
            .unwrap();
        let base = time::PrimitiveDateTime::new(today.date(), time::Time::MIDNIGHT);
        let mut b = EnvelopeBuilder::new(
            Sender {
                fixmedins_code: CODE.into(),
                fixmedins_name: "深圳市示例中医院".into(),
                mdtrtarea_admvs: "440300".into(),
            },
            base,
        );
        for (n, p) in persons
            .iter()
            .filter(|p| p.insutype == "310")
            .take(3)
            .enumerate()
        {
            let lines = vec![FeeLine {
                med_list_codg: "EXAM002".into(),
                units: 1,
                pric_fen: 48_000,
            }];
            his::outpatient_visit(&mut conn, &mut b, p, &lines, n as u64)
                .await
                .unwrap();
        }
    });
    assert!(gw.terminate().success());
    let cfg = ws.config();
    let cfg = cfg.to_str().unwrap();
    let pay_date = ws.pay_date(&today.date().to_string());
    run_ok(&["bank", "export", "--date", &pay_date, "--config", cfg]);
    run_ok(&["bank", "simulate", "--once", "--config", cfg]);

    // The "crash": the file drop applies and archives the receipts; the engine step never runs.
    let journal = ws.path().join("data/journal");
    let payment_id = {
        let store =
            medsettle_store::SledStore::open(&journal, medsettle_store::StoreConfig::default())
                .unwrap();
        let fd = medsettle_filedrop::FileDropConfig::under(&ws.path().join("data/bank"));
        let report = medsettle_filedrop::Inbox::scan_once(&store, &fd).unwrap();
        assert_eq!(report.receipts_applied.len(), 1, "{report:?}");
        store.sync().unwrap();
        report.receipts_applied[0].payment_id.clone()
    };
    let engine_status = |ws: &Workspace| {
        let store =
            medsettle_store::SledStore::open(&journal, medsettle_store::StoreConfig::default())
                .unwrap();
        let policy = medsettle_settlement::SettlementPolicy::from_toml_str(
            &std::fs::read_to_string(ws.path().join("settlement/policy.toml")).unwrap(),
        )
        .unwrap();
        let institutions = medsettle_engine::load_institutions_toml(
            &std::fs::read_to_string(ws.path().join("institutions.toml")).unwrap(),
        )
        .unwrap();
        let debtor = institutions[0].account.clone();
        let engine = medsettle_engine::Engine::new(medsettle_engine::EngineConfig::new(
            policy,
            medsettle_settlement::Calendar::embedded(),
            institutions,
            debtor,
        ));
        engine
            .aggregator(&store)
            .unwrap()
            .payment(&payment_id)
            .unwrap()
            .status
    };
    assert_eq!(
        engine_status(&ws),
        None,
        "the engine has not heard of the receipt yet"
    );

    // The next ingest finds no new file, yet brings the engine up to the file drop's state.
    let ingest = run_ok(&["bank", "ingest", "--config", cfg]);
    assert!(ingest.contains("receipt files: 0 applied"), "{ingest}");
    assert_eq!(
        engine_status(&ws),
        Some(medsettle_canonical::ReceiptStatus::Paid)
    );
    // And again: nothing changes, nothing is applied twice.
    run_ok(&["bank", "ingest", "--config", cfg]);
    assert_eq!(
        engine_status(&ws),
        Some(medsettle_canonical::ReceiptStatus::Paid)
    );
}

/// `serve` with a scheduled close: a day closed but never dropped (a crash between the two, or
/// an operator who closed it by hand) gets its payment file when the gateway starts, and the
/// gateway's standard output stays the one address line.
#[test]
fn serve_drops_the_file_of_a_day_closed_but_not_dropped() {
    let ws = Workspace::init();
    let persons = his::insured_from_registry(
        &std::fs::read_to_string(ws.path().join("policy/persons.toml")).unwrap(),
    )
    .unwrap();
    let gw = ws.serve(&[]);
    let today = time::OffsetDateTime::now_utc().to_offset(medsettle_canonical::CHINA_OFFSET);
    runtime().block_on(async {
        let mut conn = his::HisConnection::connect(gw.addr, ws.tls_for(CODE))
            .await
            .unwrap();
        let mut b = EnvelopeBuilder::new(
            Sender {
                fixmedins_code: CODE.into(),
                fixmedins_name: "深圳市示例中医院".into(),
                mdtrtarea_admvs: "440300".into(),
            },
            time::PrimitiveDateTime::new(today.date(), time::Time::MIDNIGHT),
        );
        let p = persons.iter().find(|p| p.insutype == "310").unwrap();
        let lines = vec![FeeLine {
            med_list_codg: "EXAM002".into(),
            units: 1,
            pric_fen: 52_000,
        }];
        his::outpatient_visit(&mut conn, &mut b, p, &lines, 1)
            .await
            .unwrap();
    });
    assert!(gw.terminate().success());
    let cfg = ws.config();
    let pay_date = ws.pay_date(&today.date().to_string());
    run_ok(&[
        "settle",
        "daily",
        "--date",
        &pay_date,
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let outbox = ws.path().join("data/bank/outbox");
    let xml_files = || -> usize {
        std::fs::read_dir(&outbox)
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "xml")
                })
                .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(xml_files(), 0, "settle daily closes; it does not drop");

    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text.replacen(
        "\n[settlement]\n",
        "\n[settlement]\ndaily_close_at = \"00:00\"\n",
        1,
    );
    assert!(text.contains("daily_close_at = \"00:00\""), "{text}");
    std::fs::write(&cfg, text).unwrap();
    let gw = ws.serve(&[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while xml_files() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (status, stdout) = gw.terminate_with_stdout();
    assert!(status.success());
    assert_eq!(
        xml_files(),
        1,
        "the closed day's payment file was dropped at start"
    );
    assert!(outbox.read_dir().unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".xml.ok")
    }));
    assert_eq!(
        stdout, "",
        "serve prints only its address line on standard output"
    );
}

/// `medsettle settle month ARGS --config CFG`: exit code, standard output, standard error.
fn settle_month(cfg: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["settle", "month", "--period", "2026-10"];
    all.extend(args);
    all.extend(["--config", cfg]);
    let out = run(&all);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Issue 15 item 5, with the real binary: every bad operator input of `settle month` exits 2
/// naming the input, line and column (or the argument), before anything is settled; the same
/// inputs again answer the closed month; other inputs for the closed month are refused with
/// the way to correct it, never answered with the old result.
#[test]
fn settle_month_refuses_bad_inputs_and_a_rerun_with_other_inputs() {
    let ws = Workspace::init();
    // `serve` creates the journal (an operator command never does).
    assert!(ws.serve(&[]).terminate().success());
    let cfg = ws.config();
    let cfg = cfg.to_str().unwrap();
    let files = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = files.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let head = "fixmedins_code,month,fund_amount,claim_count\n";
    let good = format!("{head}H44030000001,2026-10,2000.00,3\nH44030000002,2026-10,1500.00,2\n");
    let decl = write("decl.csv", &good);
    // Mon 2026-11-16: after October, a working day, before the due date (IS-M-4).
    let pay = "2026-11-16";

    let refused = |args: &[&str], expect: &[&str]| {
        let (code, stdout, stderr) = settle_month(cfg, args);
        assert_eq!(code, Some(2), "{args:?}: {stdout}{stderr}");
        for e in expect {
            assert!(stderr.contains(e), "{args:?}: `{e}` not in {stderr}");
        }
        assert!(
            !stderr.contains("deductions"),
            "no file never given is blamed: {stderr}"
        );
        assert_eq!(stdout, "", "{args:?}");
    };
    let bad = |name: &str, row: &str| {
        write(
            name,
            &format!("{head}H44030000001,2026-10,2000.00,3\n{row}\n"),
        )
    };
    refused(
        &[
            "--declarations",
            &bad("negative.csv", "H44030000002,2026-10,-1500.00,2"),
            "--pay-date",
            pay,
        ],
        &[
            "[IS-M-1] declarations line 3, column `fund_amount`",
            "must not be negative",
        ],
    );
    refused(
        &[
            "--declarations",
            &bad("absurd.csv", "H44030000002,2026-10,150000000000.00,2"),
            "--pay-date",
            pay,
        ],
        &[
            "[IS-M-1] declarations line 3, column `fund_amount`",
            "ROW_AMOUNT_FEN_MAX",
        ],
    );
    refused(
        &[
            "--declarations",
            &bad("september.csv", "H44030000002,2026-09,1500.00,2"),
            "--pay-date",
            pay,
        ],
        &[
            "[IS-M-1] declarations line 3, column `month`",
            "2026-09 is not the period settled (2026-10)",
        ],
    );
    refused(
        &["--declarations", &decl, "--pay-date", "2026-10-30"],
        &["[IS-M-4] `pay_date`", "not after the period 2026-10"],
    );
    refused(
        &["--declarations", &decl, "--pay-date", "2026-11-22"],
        &["[IS-D-4] `pay_date`", "Sunday", "not a working day"],
    );
    let deductions = write(
        "deductions.csv",
        "fixmedins_code,month,setl_id,amount,reason\nH44030000001,2026-11,S1,10.00,x\n",
    );
    let (code, _, stderr) = settle_month(
        cfg,
        &[
            "--declarations",
            &decl,
            "--deductions",
            &deductions,
            "--pay-date",
            pay,
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("[IS-M-2] audit deductions line 2, column `month`"),
        "{stderr}"
    );

    // Closed once; the same inputs again answer the same month (the file found dropped).
    let (code, first, stderr) = settle_month(cfg, &["--declarations", &decl, "--pay-date", pay]);
    assert_eq!(code, Some(0), "{first}{stderr}");
    assert!(first.starts_with("monthly settlement 2026-10: "), "{first}");
    let (code, again, stderr) = settle_month(cfg, &["--declarations", &decl, "--pay-date", pay]);
    assert_eq!(code, Some(0), "{again}{stderr}");
    assert_eq!(again.lines().next(), first.lines().next(), "{again}");
    assert!(again.contains("already dropped"), "{again}");

    // A corrected declaration, or another pay date, for the closed month: refused.
    let corrected = write("corrected.csv", &good.replace("1500.00", "1400.00"));
    let report = ws.path().join("data/reports/monthly-2026-10.csv");
    let report_text = std::fs::read_to_string(&report).unwrap();
    let outbox = || dir_names(&ws.path().join("data/bank/outbox"));
    let outbox_before = outbox();
    for args in [
        ["--declarations", corrected.as_str(), "--pay-date", pay],
        ["--declarations", decl.as_str(), "--pay-date", "2026-11-17"],
    ] {
        let (code, stdout, stderr) = settle_month(cfg, &args);
        assert_eq!(code, Some(2), "{args:?}: {stdout}{stderr}");
        assert_eq!(stdout, "", "never the old result: {stdout}");
        for e in [
            "[IS-RK-3] `period`",
            "already closed",
            "settle quarter",
            "settle year",
            "Correcting a closed period",
        ] {
            assert!(stderr.contains(e), "`{e}` not in {stderr}");
        }
    }
    assert_eq!(std::fs::read_to_string(&report).unwrap(), report_text);
    assert_eq!(outbox(), outbox_before, "nothing more for the bank");
}
