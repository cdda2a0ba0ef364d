//! Cross-region settlement end to end (`specs/interregion.md`, issue 19): three real gateways
//! of three provinces on loopback exchange visits over mutual TLS — fee-category summaries out,
//! the insured place's split back, reversals — while one of them is killed (`kill -9`) and
//! restarted mid-stream. Afterwards every visit is settled exactly once on both sides, both
//! sides' ledgers agree to the fen, and daily reconciliation finds no difference.
//!
//! The number of visits per direction is `MEDSETTLE_XR_VISITS` (default below, for CI); the
//! long run's figures are in RELIABILITY.md.

mod common;
#[path = "common/interregion.rs"]
mod interregion;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use interregion::*;
use medsettle_client::his::{self, EnvelopeBuilder, FeeLine, HisConnection, Insured, Sender};
use medsettle_service::interregion::{LedgerRow, ledger_rows};

/// Visits per direction in CI (four directions).
const VISITS_DEFAULT: usize = 40;
/// Every so many settled visits, the HIS reverses the settlement (2208).
const REVERSE_EVERY: usize = 5;
/// Kills of the insured place while the others keep sending (`MEDSETTLE_XR_KILLS` for the long
/// run).
const KILLS_DEFAULT: usize = 3;

/// What one direction of traffic did.
#[derive(Debug, Default)]
struct Sent {
    settled: Vec<his::Settled>,
    reversed: usize,
}

/// `visits` outpatient visits by treatment region `t`'s first hospital for persons insured in
/// `insured`, every REVERSE_EVERY-th reversed.
fn traffic(
    t_ws: &Path,
    t_code: &str,
    t_addr: std::net::SocketAddr,
    tls: std::sync::Arc<rustls::ClientConfig>,
    persons: Vec<Insured>,
    visits: usize,
    base_second: u32,
) -> Sent {
    let code = first_institution(t_code);
    let rt = runtime();
    rt.block_on(async {
        let mut conn = HisConnection::connect(t_addr, tls).await.unwrap();
        let base = time::PrimitiveDateTime::new(
            today_in_china(),
            time::Time::from_hms(0, 0, base_second as u8).unwrap(),
        );
        let mut b = EnvelopeBuilder::new(
            Sender {
                fixmedins_code: code.clone(),
                fixmedins_name: institution_name(t_ws, &code),
                mdtrtarea_admvs: t_code.to_owned(),
            },
            base,
        );
        let mut sent = Sent::default();
        for n in 0..visits {
            let p = &persons[n % persons.len()];
            let lines = vec![
                FeeLine {
                    med_list_codg: "EXAM002".into(),
                    units: 1,
                    pric_fen: 20_000 + (n as i64 * 137) % 9_000,
                },
                FeeLine {
                    med_list_codg: "WM001".into(),
                    units: 2,
                    pric_fen: 1_850,
                },
            ];
            let settled =
                his::cross_region_outpatient_visit(&mut conn, &mut b, p, &lines, n as u64)
                    .await
                    .unwrap_or_else(|e| panic!("{t_code} visit {n} of {}: {e:#}", p.psn_no));
            if n % REVERSE_EVERY == REVERSE_EVERY - 1 {
                his::cross_region_reverse(&mut conn, &mut b, p, &settled)
                    .await
                    .unwrap_or_else(|e| panic!("{t_code} reversal {n}: {e:#}"));
                sent.reversed += 1;
            }
            sent.settled.push(settled);
        }
        sent
    })
}

fn visits() -> usize {
    std::env::var("MEDSETTLE_XR_VISITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(VISITS_DEFAULT)
}

#[test]
fn three_provinces_settle_each_others_visits_exactly_once_through_kills() {
    let mut regions = three_regions();
    // each province's finance account, for the clearing transfers paid into it
    for r in &regions {
        edit_config(&r.ws.config(), |t| {
            for peer in t["peer"].as_array_mut().unwrap() {
                let prefix = peer["admdvs"][0].as_str().unwrap().to_owned();
                let account: toml::Table = toml::from_str(&format!(
                    "name = \"{prefix}省财政厅社会保障基金财政专户\"\naccount = \"{prefix}0000000000000001\"\nbank_code = \"10558400000{}\"\n",
                    &prefix[1..]
                ))
                .unwrap();
                peer.as_table_mut()
                    .unwrap()
                    .insert("clearing_account".into(), account.into());
            }
        });
    }
    for r in regions.iter_mut() {
        start(r);
    }
    let n = visits();
    let addr = |r: &Region| r.gw.as_ref().unwrap().addr;
    let (a, b, c) = (0usize, 1usize, 2usize);

    // Phase 1: Zhejiang (B) treats Guangdong's (A) insured, nobody killed.
    let b_treats_a = traffic(
        regions[b].ws.path(),
        regions[b].code,
        addr(&regions[b]),
        regions[b].ws.tls_for(&first_institution(regions[b].code)),
        insured_of(&regions[a]),
        n,
        0,
    );

    // Phase 2: A treats B's and C's insured, C treats B's, while B is killed and restarted.
    let jobs: Vec<(usize, usize, u32)> = vec![(a, b, 10), (a, c, 20), (c, b, 30)];
    let handles: Vec<_> = jobs
        .iter()
        .map(|&(t, i, second)| {
            let t_ws = regions[t].ws.path().to_owned();
            let t_code = regions[t].code;
            let t_addr = addr(&regions[t]);
            let tls = regions[t].ws.tls_for(&first_institution(t_code));
            let persons = insured_of(&regions[i]);
            std::thread::spawn(move || traffic(&t_ws, t_code, t_addr, tls, persons, n, second))
        })
        .collect();
    let kills: usize = std::env::var("MEDSETTLE_XR_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(KILLS_DEFAULT);
    let mut killed = 0;
    for k in 0..kills {
        // stop killing once the traffic is over
        if handles.iter().all(|h| h.is_finished()) {
            break;
        }
        killed += 1;
        std::thread::sleep(std::time::Duration::from_millis(
            1_500 + 700 * (k % 4) as u64,
        ));
        regions[b].gw.take().unwrap().kill9();
        std::thread::sleep(std::time::Duration::from_millis(400));
        start(&mut regions[b]);
    }
    let results: Vec<Sent> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    eprintln!(
        "interregion e2e: {} visits per direction, the insured place killed {killed} times",
        n
    );
    let mut directions = vec![((b, a), b_treats_a)];
    directions.extend(jobs.iter().map(|&(t, i, _)| (t, i)).zip(results));

    // Exchanges in doubt are resolved by the gateways themselves.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let left: usize = regions
            .iter()
            .map(|r| {
                let out = run_ok(&[
                    "interregion",
                    "status",
                    "--json",
                    "--config",
                    r.ws.config().to_str().unwrap(),
                ]);
                let v: serde_json::Value = serde_json::from_str(&out).unwrap();
                v["in_doubt"].as_array().unwrap().len()
            })
            .sum();
        if left == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{left} exchanges still in doubt"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    // Daily reconciliation, run by each place of treatment: no difference.
    let today = today_in_china().to_string();
    for r in &regions {
        let out = run(&[
            "interregion",
            "reconcile",
            "--date",
            &today,
            "--config",
            r.ws.config().to_str().unwrap(),
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {stdout}{}",
            r.code,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.matches("no difference").count(), 2, "{stdout}");
    }

    // Monthly clearing runs once the month is over: the gateways restart with their clocks on
    // the 10th of next month (libfaketime), each sends its statements, answers the others'
    // line by line and applies their answers (twice round, so all are sent and answered).
    let today = today_in_china();
    let next_month = time::Date::from_calendar_date(
        if today.month() == time::Month::December {
            today.year() + 1
        } else {
            today.year()
        },
        today.month().next(),
        10,
    )
    .unwrap();
    restart_all_at(&mut regions, &format!("{next_month} 02:00:00"));
    let month = format!("{:04}-{:02}", today.year(), u8::from(today.month()));
    for _ in 0..2 {
        for r in &regions {
            run_ok(&[
                "settle",
                "clearing",
                "--month",
                &month,
                "--config",
                r.ws.config().to_str().unwrap(),
            ]);
        }
    }
    // a third round: every statement is answered now, so each province's clearing is posted
    // to its ledger (audited) and a payer drops its transfers as a payment file
    let books: Vec<serde_json::Value> = regions
        .iter()
        .map(|r| {
            let out = run_ok(&[
                "settle",
                "clearing",
                "--month",
                &month,
                "--json",
                "--config",
                r.ws.config().to_str().unwrap(),
            ]);
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            v["books"].clone()
        })
        .collect();
    let reports: Vec<serde_json::Value> = regions
        .iter()
        .map(|r| {
            let out = run_ok(&[
                "settle",
                "clearing",
                "status",
                "--month",
                &month,
                "--json",
                "--config",
                r.ws.config().to_str().unwrap(),
            ]);
            serde_json::from_str(&out).unwrap()
        })
        .collect();
    // the reports' amounts are integer fen
    let fen = |v: &serde_json::Value| -> i64 {
        v.as_i64()
            .unwrap_or_else(|| panic!("{v} is not an amount in fen"))
    };
    let mut gross: BTreeMap<(String, String), i64> = BTreeMap::new();
    for ((t, i), _) in &directions {
        let (t_code, i_code) = (regions[*t].code, regions[*i].code);
        let t_prov = format!("{}0000", &t_code[..2]);
        let i_prov = format!("{}0000", &i_code[..2]);
        let find = |report: &serde_json::Value, role: &str| -> serde_json::Value {
            report["statements"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| {
                    s["role"] == role
                        && s["insured_province"] == i_prov.as_str()
                        && s["treatment_province"] == t_prov.as_str()
                })
                .unwrap_or_else(|| panic!("{role} statement {i_prov}←{t_prov}: {report}"))
                .clone()
        };
        let theirs = find(&reports[*i], "insured");
        let ours = find(&reports[*t], "treatment");
        for field in ["stmt_id", "count", "lines"] {
            assert_eq!(ours[field], theirs[field], "{field} of {}", ours["stmt_id"]);
        }
        for field in [
            "medfee_sumamt",
            "fund_pay_sumamt",
            "confirmed_fund_pay_sumamt",
        ] {
            assert_eq!(
                fen(&ours[field]),
                fen(&theirs[field]),
                "{field} of {}",
                ours["stmt_id"]
            );
        }
        assert_eq!(ours["replied"], true);
        assert_eq!(fen(&ours["refused_fund_pay_sumamt"]), 0, "{ours}");
        assert_eq!(
            fen(&ours["confirmed_fund_pay_sumamt"]),
            fen(&ours["fund_pay_sumamt"])
        );
        assert!(ours["transfer_due"].is_string() && ours["statement_due"].is_string());
        gross.insert((i_prov, t_prov), fen(&ours["confirmed_fund_pay_sumamt"]));
    }
    // the netting matrix over every province: each pays or receives one amount, and the
    // positions sum to zero; each gateway's own position is the matrix's
    let mut net: BTreeMap<String, i64> = BTreeMap::new();
    for ((insured, treatment), amount) in &gross {
        *net.entry(treatment.clone()).or_default() += amount;
        *net.entry(insured.clone()).or_default() -= amount;
    }
    assert_eq!(net.values().sum::<i64>(), 0);
    for (k, r) in regions.iter().enumerate() {
        let prov = format!("{}0000", &r.code[..2]);
        let reported = reports[k]["net"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p[0] == prov.as_str())
            .map(|p| fen(&p[1]))
            .unwrap_or(0);
        assert_eq!(reported, net[&prov], "{prov}'s net position");
        let b = &books[k];
        assert!(
            b["posted"]["audit"].is_object(),
            "{prov}'s clearing is posted and audited: {b}"
        );
        let outbox = r.ws.path().join("data/bank/outbox");
        let files = std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0);
        // settled pair by pair: every transfer this gateway computes is the counterpart's too
        let transfers = reports[k]["transfers"].as_array().unwrap();
        for t in transfers {
            let other = if t["payer"] == prov.as_str() {
                &t["receiver"]
            } else {
                &t["payer"]
            };
            let j = regions
                .iter()
                .position(|q| format!("{}0000", &q.code[..2]) == other.as_str().unwrap())
                .unwrap();
            assert!(
                reports[j]["transfers"].as_array().unwrap().contains(t),
                "{t} of {prov} is not {other}'s: {}",
                reports[j]["transfers"]
            );
        }
        let settled: i64 = transfers
            .iter()
            .map(|t| {
                if t["payer"] == prov.as_str() {
                    -fen(&t["amount"])
                } else {
                    fen(&t["amount"])
                }
            })
            .sum();
        assert_eq!(
            settled, net[&prov],
            "{prov}'s transfers settle its position"
        );
        if transfers.iter().any(|t| t["payer"] == prov.as_str()) {
            let batch = b["payment_batch"]
                .as_str()
                .unwrap_or_else(|| panic!("{prov} pays: {b}"));
            assert!(
                files > 0,
                "{prov}'s payment file for {batch} is in {}",
                outbox.display()
            );
        } else {
            assert!(
                b["payment_batch"].is_null(),
                "{prov} only receives, pays nothing: {b}"
            );
        }
    }

    // The place of treatment's hospital extracts its clearing detail (3260, 100 rows a page),
    // confirms lines (3261) and rolls the confirmation back (3262).
    {
        let r = &regions[a];
        let code = first_institution(r.code);
        let expected_lines: i64 = reports[a]["statements"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["role"] == "treatment")
            .map(|s| s["lines"].as_i64().unwrap())
            .sum();
        let (rows, confirm, rollback, again) = runtime().block_on(async {
            let mut conn = HisConnection::connect(r.addr(), r.ws.tls_for(&code))
                .await
                .unwrap();
            let mut b = EnvelopeBuilder::new(
                Sender {
                    fixmedins_code: code.clone(),
                    fixmedins_name: institution_name(r.ws.path(), &code),
                    mdtrtarea_admvs: r.code.to_owned(),
                },
                time::PrimitiveDateTime::new(next_month, time::Time::from_hms(9, 0, 0).unwrap()),
            );
            let (year, mm) = (today.year().to_string(), format!("{:02}", u8::from(today.month())));
            let mut rows: Vec<serde_json::Value> = Vec::new();
            loop {
                let env = b.envelope(
                    "3260",
                    r.code,
                    serde_json::json!({"data": {"trt_year": year, "trt_month": mm, "startrow": rows.len() + 1}}),
                );
                let (s, a) = conn.call(&env).await.unwrap();
                let out = his::expect_success(s, &a, "3260").unwrap();
                let page = out["data"].as_array().unwrap().clone();
                assert!(page.len() <= 100);
                let last = page.len() < 100;
                rows.extend(page);
                if last {
                    break;
                }
            }
            let detail: Vec<serde_json::Value> = rows
                .iter()
                .take(3)
                .map(|l| serde_json::json!({
                    "mdtrt_id": l["mdtrt_id"], "mdtrt_setl_time": l["mdtrt_setl_time"],
                    "setl_sn": l["setl_sn"], "medfee_sumamt": l["medfee_sumamt"],
                    "optins_pay_sumamt": l["optins_pay_sumamt"], "cnfm_flag": "1"
                }))
                .collect();
            let env = b.envelope(
                "3261",
                r.code,
                serde_json::json!({"data": {"trt_year": year, "trt_month": mm, "totalrow": detail.len()}, "detail": detail}),
            );
            let (s, a) = conn.call(&env).await.unwrap();
            let confirm = his::expect_success(s, &a, "3261").unwrap();
            let otransid = confirm["result"]["otransid"].as_str().unwrap().to_owned();
            assert_eq!(a["inf_refmsgid"], otransid.as_str(), "otransid is the answer's own id");
            let env = b.envelope(
                "3262",
                r.code,
                serde_json::json!({"data": {"trt_year": year, "trt_month": mm, "otransid": otransid}}),
            );
            let rollback = conn.call(&env).await.unwrap();
            let env = b.envelope(
                "3262",
                r.code,
                serde_json::json!({"data": {"trt_year": year, "trt_month": mm, "otransid": otransid}}),
            );
            let again = conn.call(&env).await.unwrap();
            (rows, confirm, rollback, again)
        });
        assert_eq!(
            rows.len() as i64,
            expected_lines,
            "every line of the month, paged"
        );
        let seqnos: Vec<i64> = rows.iter().map(|l| l["seqno"].as_i64().unwrap()).collect();
        assert_eq!(seqnos, (1..=expected_lines).collect::<Vec<_>>());
        assert!(confirm["result"]["otransid"].is_string());
        assert_eq!(infcode(&rollback.1), 0, "{}", rollback.1);
        assert_eq!(
            infcode(&again.1),
            -1,
            "a confirmation is rolled back once: {}",
            again.1
        );
    }

    // The month as a workbook (`settle clearing status --xlsx-dir`): a summary sheet and one
    // per statement, each statement's fund total in fen as in the report.
    {
        let dir = regions[a].ws.path().join("clearing-xlsx");
        run_ok(&[
            "settle",
            "clearing",
            "status",
            "--month",
            &month,
            "--xlsx-dir",
            dir.to_str().unwrap(),
            "--config",
            regions[a].ws.config().to_str().unwrap(),
        ]);
        let book = std::fs::read(dir.join(format!("clearing-{month}.xlsx"))).unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(book)).expect("a zip");
        let statements = reports[a]["statements"].as_array().unwrap();
        let sheets: Vec<String> = zip
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .filter(|n| n.starts_with("xl/worksheets/sheet"))
            .collect();
        assert_eq!(sheets.len(), statements.len() + 1, "{sheets:?}");
        let mut text = String::new();
        for name in &sheets {
            use std::io::Read;
            zip.by_name(name)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
        }
        for st in statements {
            let total = fen(&st["fund_pay_sumamt"]);
            assert!(
                text.contains(&format!("<v>{total}</v>")),
                "{}'s fund total {total} fen in the workbook",
                st["stmt_id"]
            );
        }
    }

    // A transfer is not drawn from the prepayment before it is overdue.
    let province = |r: &Region| format!("{}0000", &r.code[..2]);
    let treats = |t: usize, i: usize| directions.iter().any(|((dt, di), _)| (*dt, *di) == (t, i));
    // a transfer whose receiver treats the payer's insured: it holds the payer's prepayment
    let (payer, receiver, transfer) = reports
        .iter()
        .flat_map(|r| r["transfers"].as_array().unwrap().clone())
        .find_map(|t| {
            let k = |p: &serde_json::Value| {
                regions
                    .iter()
                    .position(|r| province(r) == p.as_str().unwrap())
                    .unwrap()
            };
            let (p, r) = (k(&t["payer"]), k(&t["receiver"]));
            treats(r, p).then_some((p, r, t))
        })
        .expect("a transfer into a province holding the payer's prepayment");
    let draw = [
        "settle",
        "prepayment",
        "draw",
        "--month",
        &month,
        "--insured",
        regions[payer].code,
        "--json",
        "--config",
    ];
    let early = run(&[
        &draw[..],
        &[regions[receiver].ws.config().to_str().unwrap()],
    ]
    .concat());
    assert!(!early.status.success());
    assert!(
        String::from_utf8_lossy(&early.stderr).contains("overdue"),
        "{}",
        String::from_utf8_lossy(&early.stderr)
    );

    // The prepayment (预付金) of next year: two months of this year's payments, held by the
    // place of treatment. On 20 February each gateway sizes the prepayments it holds and sends
    // the top-ups (XPRV31); each insured place posts them and pays them (a payment file);
    // a second round sends nothing new.
    let year = today.year() + 1;
    let in_february = time::Date::from_calendar_date(year, time::Month::February, 20).unwrap();
    restart_all_at(&mut regions, &format!("{in_february} 02:00:00"));
    let prepayment = |r: &Region, extra: &[&str]| -> serde_json::Value {
        let year = year.to_string();
        let config = r.ws.config();
        let mut args = vec!["settle", "prepayment"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--json", "--config", config.to_str().unwrap()]);
        if !extra.contains(&"draw") {
            args.extend_from_slice(&["--year", &year]);
        }
        serde_json::from_str(&run_ok(&args)).unwrap()
    };
    let mut runs: Vec<serde_json::Value> = Vec::new();
    for _ in 0..2 {
        runs = regions.iter().map(|r| prepayment(r, &[])).collect();
    }
    let account = |report: &serde_json::Value, side: &str, insured: &str, treatment: &str| {
        report["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| {
                a["side"] == side
                    && a["insured_province"] == insured
                    && a["treatment_province"] == treatment
            })
            .unwrap_or_else(|| panic!("{side} prepayment {insured}→{treatment}: {report}"))
            .clone()
    };
    // two twelfths of the year's fund payments, half up once, on integer fen
    let two_months = |g: i64| (2 * g + 6).div_euclid(12);
    let mut required: BTreeMap<(usize, usize), i64> = BTreeMap::new();
    for ((t, i), _) in &directions {
        let (tp, ip) = (province(&regions[*t]), province(&regions[*i]));
        let paid = gross[&(ip.clone(), tp.clone())];
        let held = account(&runs[*t], "holder", &ip, &tp);
        assert_eq!(fen(&held["own_prior_year_fund_pay_sumamt"]), paid, "{held}");
        assert_eq!(fen(&held["required"]), two_months(paid), "{held}");
        assert_eq!(fen(&held["balance"]), two_months(paid), "{held}");
        let notices = held["notices"].as_array().unwrap();
        assert_eq!(notices.len(), 1, "one notice, however often run: {held}");
        assert_eq!(notices[0]["movement"], "top_up");
        assert_eq!(fen(&notices[0]["amount"]), two_months(paid));
        assert_eq!(notices[0]["acknowledged"], true);
        let reference = notices[0]["reference"].as_str().unwrap();
        // the insured place has the same notice and figures, posted and paid
        let owed = account(&runs[*i], "insured", &ip, &tp);
        assert_eq!(fen(&owed["own_prior_year_fund_pay_sumamt"]), paid, "{owed}");
        assert_eq!(fen(&owed["balance"]), two_months(paid), "{owed}");
        assert_eq!(owed["notices"][0]["reference"], reference);
        let key = format!("prepayment/{reference}/top_up");
        for (k, side) in [(*t, "holder"), (*i, "insured")] {
            let books = &runs[k]["books"];
            assert!(
                books["posted"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p == key.as_str()),
                "{side} posted {key}: {books}"
            );
        }
        assert!(
            runs[*i]["books"]["payment_batches"]
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b == reference),
            "the insured place pays {reference}: {}",
            runs[*i]["books"]
        );
        assert!(
            std::fs::read_dir(regions[*i].ws.path().join("data/bank/outbox"))
                .unwrap()
                .filter_map(|e| e.ok())
                .any(|e| std::fs::read_to_string(e.path())
                    .is_ok_and(|t| t.contains(reference) && t.contains("跨省异地就医预付金"))),
            "{reference}'s payment file (purpose 跨省异地就医预付金) is in the insured place's outbox"
        );
        required.insert((*t, *i), two_months(paid));
    }

    // The payer did not pay the month's transfer by its due date: the receiver draws it from
    // the payer's prepayment (at most what is held), says so (XPRV31 drawdown), and its next
    // run asks for the top-up that restores the prepayment, which the payer pays.
    let drawn_report = prepayment(&regions[receiver], &draw[2..7]);
    let held_before = required[&(receiver, payer)];
    let drawn = fen(&transfer["amount"]).min(held_before);
    let last = drawn_report["notices"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["movement"], "drawdown", "{drawn_report}");
    assert_eq!(last["reference"], transfer["transfer_id"]);
    assert_eq!(fen(&last["amount"]), drawn);
    assert_eq!(fen(&drawn_report["balance"]), held_before - drawn);
    assert!(
        drawn_report["books"]["posted"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().ends_with("/drawdown")),
        "{drawn_report}"
    );
    // drawing again changes nothing
    let again = prepayment(&regions[receiver], &draw[2..7]);
    assert_eq!(again["notices"], drawn_report["notices"]);
    let (pp, rp) = (province(&regions[payer]), province(&regions[receiver]));
    let owed = account(
        &prepayment(&regions[payer], &["status"]),
        "insured",
        &pp,
        &rp,
    );
    assert_eq!(fen(&owed["balance"]), held_before - drawn, "{owed}");
    let restore = prepayment(&regions[receiver], &[]);
    let held = account(&restore, "holder", &pp, &rp);
    let top_up = held["notices"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(top_up["movement"], "top_up", "{held}");
    assert_eq!(fen(&top_up["amount"]), drawn);
    assert_eq!(fen(&held["balance"]), held_before);
    let paid_back = prepayment(&regions[payer], &[]);
    assert!(
        paid_back["books"]["payment_batches"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| *b == top_up["reference"]),
        "{paid_back}"
    );

    // The bank pays the payer's files — the month's transfers and the prepayment top-ups —
    // and its receipts post to the payer's ledger like any payment's (a receipt for a payment
    // the engine does not know would stop `bank ingest`, and every receipt with it).
    let cfg = regions[payer].ws.config();
    let cfg = cfg.to_str().unwrap();
    run_ok(&["bank", "simulate", "--once", "--config", cfg]);
    run_ok(&["bank", "ingest", "--config", cfg]);
    let status = run_ok(&["bank", "status", "--config", cfg]);
    let mut batches = vec![top_up["reference"].as_str().unwrap().to_owned()];
    // the month's transfers of the payer, when it pays in its own view of the matrix
    batches.extend(books[payer]["payment_batch"].as_str().map(str::to_owned));
    for id in &batches {
        assert!(
            status
                .lines()
                .any(|l| l.starts_with(id.as_str()) && l.contains("Paid ")),
            "{id} paid in {status}"
        );
    }
    assert!(
        !status.contains("Pending") && !status.contains("Failed"),
        "{status}"
    );

    // Stop, and read each side's ledger.
    for r in regions.iter_mut() {
        assert!(r.gw.take().unwrap().terminate().success());
    }
    let ledgers: Vec<Vec<LedgerRow>> = regions
        .iter()
        .map(|r| {
            let store = medsettle_store::SledStore::open(
                &r.ws.path().join("data/journal"),
                medsettle_store::StoreConfig::default(),
            )
            .unwrap();
            use medsettle_store::Store;
            assert_eq!(
                store
                    .scan_prefix(medsettle_service::interregion::SPACE_XR_IN_DOUBT, b"")
                    .unwrap()
                    .count(),
                0
            );
            ledger_rows(&store).unwrap()
        })
        .collect();
    for ((t, i), sent) in &directions {
        let (t_code, i_code) = (regions[*t].code, regions[*i].code);
        let treated: Vec<LedgerRow> = ledgers[*t]
            .iter()
            .filter(|r| r.side == "treatment" && r.insuplc_admdvs == i_code)
            .cloned()
            .collect();
        let insured: Vec<LedgerRow> = ledgers[*i]
            .iter()
            .filter(|r| r.side == "insured" && r.mdtrtarea_admvs == t_code)
            .cloned()
            .collect();
        // both sides' rows agree message by message, to the fen
        assert_eq!(
            net_by_omsgid(&treated),
            net_by_omsgid(&insured),
            "{t_code} treating {i_code}: the two ledgers differ"
        );
        // every visit the HIS was told is settled is settled exactly once on both sides, and
        // every reversal it was told of is a reversal there
        let active_here: i64 = treated.iter().map(|r| i64::from(r.aaa113)).sum();
        let active_there: i64 = insured.iter().map(|r| i64::from(r.aaa113)).sum();
        let expected = (sent.settled.len() - sent.reversed) as i64;
        assert_eq!(active_here, expected, "{t_code} treating {i_code}");
        assert_eq!(
            active_there, expected,
            "{i_code} insured, treated at {t_code}"
        );
        let fund_settled: i64 = sent
            .settled
            .iter()
            .map(|s| {
                medsettle_canonical::Money::parse_yuan(
                    &s.setlinfo["fund_pay_sumamt"].to_string().replace('"', ""),
                )
                .unwrap()
                .fen()
            })
            .sum();
        let fund_forward_here: i64 = treated
            .iter()
            .filter(|r| r.aaa113 == 1 && !r.setl_id.is_empty())
            .map(|r| r.fund_pay_sumamt.fen())
            .sum();
        assert_eq!(
            fund_forward_here, fund_settled,
            "{t_code} treating {i_code}: the settlements the HIS got are the ledger's"
        );
    }
}

#[test]
fn a_certificate_of_one_province_speaking_for_another_is_refused() {
    let mut regions = three_regions();
    start(&mut regions[1]);
    // Sichuan's peer certificate (bound to 51) sends a summary claiming Guangdong (44) treated
    // the visit: refused, nothing journaled.
    let c = &regions[2];
    let b_addr = regions[1].gw.as_ref().unwrap().addr;
    let client = c.peer_pki.client("gw-510100").unwrap();
    let tls = his::client_tls(&regions[1].ws.ca(), &client.cert, &client.key).unwrap();
    let body = format!(
        r#"{{"ver":"1","infno":"XPRV01","msgid":"X1","mdtrtarea_admvs":"440300","insuplc_admdvs":"330100","send_time":"{}","input":{{"summary":{{"mdtrt_id":"M1","psn_no":"33010000000001","certno":"","insutype":"310","med_type":"11","fixmedins_code":"H44030000001","hosp_lv":"3","begntime":"2026-01-01 09:00:00","medfee_sumamt":"10.00","acct_used_flag":"0","setl_kind":"final"}},"iteminfo":[{{"med_chrgitm":"01","amt":"10.00","claa_sumfee":"10.00","clab_amt":"0.00","fulamt_ownpay_amt":"0.00","oth_amt":"0.00"}}]}}}}"#,
        his::datetime_text(time::PrimitiveDateTime::new(
            today_in_china(),
            time::Time::from_hms(9, 0, 0).unwrap()
        ))
    );
    let (status, answer) = runtime().block_on(async {
        let mut conn = HisConnection::connect(b_addr, tls).await.unwrap();
        conn.post("/interregion/v1", bytes::Bytes::from(body))
            .await
            .unwrap()
    });
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&answer));
    let a: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(a["rule"], "XR-ENV-9");
    assert_eq!(a["path"], "mdtrtarea_admvs");
    // an institution's certificate is no peer either
    let code = "H33010000001";
    let (status, _) = runtime().block_on(async {
        let mut conn = HisConnection::connect(b_addr, regions[1].ws.tls_for(code))
            .await
            .unwrap();
        conn.post("/interregion/v1", bytes::Bytes::from_static(b"{}"))
            .await
            .unwrap()
    });
    assert_eq!(status, 403);
    let gw = regions[1].gw.take().unwrap();
    assert!(gw.terminate().success());
    let export = run_ok(&[
        "journal",
        "export",
        "--config",
        regions[1].ws.config().to_str().unwrap(),
    ]);
    assert!(
        !export.contains("interregion."),
        "nothing of a refused peer message is journaled: {export}"
    );
}
