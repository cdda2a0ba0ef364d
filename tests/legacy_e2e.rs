//! Legacy provincial dialects end to end (issue 16; `specs/legacy.md`), with the real binary,
//! real TLS and real sled: a Guizhou inpatient stay (21 → 31 → 43 → 41 → confirm) and a
//! Guizhou outpatient visit (48 → confirm) settle with the amounts the same visits give as
//! national JSON; a cancelled 41 never reaches the daily batch; a `kill -9` between a 41 and
//! its confirm leaves a call that can still be confirmed, and one the confirm window cancels.

mod common;

use common::*;
use medsettle_canonical::{Money, Ratio};
use medsettle_client::his::{self, EnvelopeBuilder, FeeLine, HisConnection, Sender};
use medsettle_client::legacy;
use serde_json::Value;

const CODE: &str = "H44030000001";

fn lines(table: &[(&str, u32, i64)]) -> Vec<FeeLine> {
    table
        .iter()
        .map(|(c, u, p)| FeeLine {
            med_list_codg: (*c).into(),
            units: *u,
            pric_fen: *p,
        })
        .collect()
}

const INPATIENT: &[(&str, u32, i64)] = &[
    ("BED001", 6, 6_000),
    ("NUR001", 6, 3_200),
    ("EXAM001", 1, 32_000),
    ("OPR001", 1, 350_000),
    ("WM002", 10, 3_350),
];
const OUTPATIENT: &[(&str, u32, i64)] = &[
    ("DIAG001", 1, 2_000),
    ("WM001", 2, 1_850),
    ("LAB002", 1, 6_800),
];

/// The fee time both dialects use: today 09:00 in China.
fn when() -> String {
    format!("{} 09:00:00", today_in_china())
}

/// The same time as Shijiazhuang writes it (`YYYYMMDDHH24MISS`).
fn opttime() -> String {
    when().replace(['-', ' ', ':'], "")
}

/// The settled claims of a stopped gateway's journal (records the engine reads), by setl_id.
fn settled_claims(ws: &Workspace) -> Vec<Value> {
    ws.journal_export()
        .into_iter()
        .filter(|r| r["kind"] == "nhsa.settlement")
        .map(|r| r["record"]["claim"].clone())
        .collect()
}

/// What a claim says of money: every amount and the fund lines.
fn money_of(claim: &Value) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in claim.as_object().unwrap() {
        if k.ends_with("_amt")
            || k.ends_with("_pay")
            || k.ends_with("_sumamt")
            || k == "act_pay_dedc"
            || k == "balc"
            || k == "setldetail"
        {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m)
}

fn sender() -> Sender {
    Sender {
        fixmedins_code: CODE.into(),
        fixmedins_name: "深圳市示例第一人民医院".into(),
        mdtrtarea_admvs: "440300".into(),
    }
}

#[test]
fn guizhou_visits_settle_like_national_ones_and_only_confirmed_calls_are_paid() {
    let national = Workspace::init();
    let leg = Workspace::init();
    let persons = national.insured();
    let employees: Vec<_> = persons.iter().filter(|p| p.insutype == "310").collect();
    let (inpatient, outpatient, cancelled, hebei) =
        (employees[0], employees[1], employees[2], employees[3]);
    let rt = runtime();

    // The same two visits as national JSON…
    let gw = national.serve(&[]);
    let (n_in, n_out, n_sjz) = rt.block_on(async {
        let mut conn = HisConnection::connect(gw.addr, national.tls_for(CODE))
            .await
            .unwrap();
        let now = time::OffsetDateTime::now_utc().to_offset(medsettle_canonical::CHINA_OFFSET);
        let base = time::PrimitiveDateTime::new(now.date(), time::Time::from_hms(9, 0, 0).unwrap());
        let mut b = EnvelopeBuilder::new(sender(), base);
        let a = his::inpatient_stay(&mut conn, &mut b, inpatient, &lines(INPATIENT), 1)
            .await
            .unwrap();
        let o = his::outpatient_visit(&mut conn, &mut b, outpatient, &lines(OUTPATIENT), 2)
            .await
            .unwrap();
        let h = his::outpatient_visit(&mut conn, &mut b, hebei, &lines(OUTPATIENT), 4)
            .await
            .unwrap();
        (a, o, h)
    });
    assert!(gw.terminate().success());

    // …and in the Guizhou dialect, on a gateway with the same persons and policy.
    let gw = leg.serve(&[]);
    let (g_in, g_out, g_cancelled, listed, replay, sjz, g_retried) = rt.block_on(async {
        let mut conn = HisConnection::connect(gw.addr, leg.tls_for(CODE))
            .await
            .unwrap();
        let a = legacy::guizhou_inpatient(&mut conn, inpatient, &lines(INPATIENT), 1, &when())
            .await
            .unwrap();
        let o = legacy::guizhou_outpatient(&mut conn, outpatient, &lines(OUTPATIENT), 2, &when())
            .await
            .unwrap();
        let c = legacy::guizhou_inpatient(&mut conn, cancelled, &lines(INPATIENT), 3, &when())
            .await
            .unwrap();
        // Undecided calls are listed until decided.
        let q = legacy::guizhou_input(&[("jybh", "41".into())], &[], true);
        let listed = legacy::call(&mut conn, "guizhou", "getuncertaintytrade", &[], q)
            .await
            .unwrap()
            .ok("uncertain")
            .unwrap();
        legacy::guizhou_confirm(&mut conn, &a.jylsh, &a.jyyzm)
            .await
            .unwrap()
            .ok("confirm 41")
            .unwrap();
        legacy::guizhou_confirm(&mut conn, &o.jylsh, &o.jyyzm)
            .await
            .unwrap()
            .ok("confirm 48")
            .unwrap();
        // Confirming twice is still a success; a wrong code is refused.
        legacy::guizhou_confirm(&mut conn, &a.jylsh, &a.jyyzm)
            .await
            .unwrap()
            .ok("confirm again")
            .unwrap();
        let wrong = legacy::guizhou_confirm(&mut conn, &c.jylsh, "000000")
            .await
            .unwrap();
        assert!(
            wrong.appcode < 0 && wrong.appmsg.contains("LEG-COMMIT-CODE"),
            "{wrong:?}"
        );
        legacy::guizhou_cancel(&mut conn, &c.jylsh)
            .await
            .unwrap()
            .ok("cancel")
            .unwrap();
        let late = legacy::guizhou_confirm(&mut conn, &c.jylsh, &c.jyyzm)
            .await
            .unwrap();
        assert!(
            late.appcode < 0 && late.appmsg.contains("LEG-COMMIT-DECIDED"),
            "{late:?}"
        );
        // The HIS settles the cancelled stay again with the very same bytes: a new call, a new
        // settlement, confirmed this time.
        let retried =
            legacy::guizhou_inpatient(&mut conn, cancelled, &lines(INPATIENT), 3, &when())
                .await
                .unwrap();
        assert_ne!(retried.setl_id, c.setl_id);
        assert_ne!(retried.jylsh, c.jylsh);
        legacy::guizhou_confirm(&mut conn, &retried.jylsh, &retried.jyyzm)
            .await
            .unwrap()
            .ok("confirm the retried 41")
            .unwrap();
        // The same 48 bytes again replay the stored answer: nothing settles twice.
        let again =
            legacy::guizhou_outpatient(&mut conn, outpatient, &lines(OUTPATIENT), 2, &when())
                .await
                .unwrap();
        // A Shijiazhuang outpatient settlement (1108, UTF-8 HOSDATA): one call, no confirm.
        let body = legacy::sjz_outpatient_body(
            CODE,
            hebei,
            &lines(OUTPATIENT),
            "SJZ0000000001",
            4,
            &opttime(),
        );
        let sjz = legacy::call(&mut conn, "shijiazhuang", "1108", &[], body)
            .await
            .unwrap()
            .ok("1108")
            .unwrap();
        (a, o, c, listed, again, sjz, retried)
    });
    assert!(gw.terminate().success());
    for s in [&g_in, &g_cancelled] {
        assert!(
            listed.xml.contains(&s.jylsh),
            "{} not listed: {}",
            s.jylsh,
            listed.xml
        );
    }
    assert!(
        !listed.xml.contains(&g_out.jylsh),
        "a 48 is not a 41: {}",
        listed.xml
    );
    assert_eq!(replay.setl_id, g_out.setl_id);
    assert_eq!(replay.answer.xml, g_out.answer.xml);

    // Same money, claim for claim.
    let n_claims = settled_claims(&national);
    let g_claims = settled_claims(&leg);
    assert!(
        n_claims
            .iter()
            .all(|c| money_of(c).get("medfee_sumamt").is_some()
                && money_of(c).get("setldetail").is_some()),
        "{n_claims:?}"
    );
    let claim = |claims: &[Value], setl_id: &str| {
        claims
            .iter()
            .find(|c| c["setl_id"] == setl_id)
            .unwrap_or_else(|| panic!("no settlement {setl_id} in {claims:?}"))
            .clone()
    };
    assert_eq!(
        money_of(&claim(&g_claims, &g_in.setl_id)),
        money_of(&claim(&n_claims, &n_in.setl_id))
    );
    assert_eq!(
        money_of(&claim(&g_claims, &g_out.setl_id)),
        money_of(&claim(&n_claims, &n_out.setl_id))
    );
    assert_eq!(claim(&g_claims, &g_in.setl_id)["med_type"], "21");
    // The legacy answer said the same amounts as the national one.
    let fen = |s: &str| Money::parse_yuan(s).unwrap().fen();
    let national_fen = |v: &Value| Money::parse_yuan(&v.to_string()).unwrap().fen();
    assert_eq!(
        fen(g_in.answer.field("prm_yka055").unwrap()),
        national_fen(&n_in.setlinfo["medfee_sumamt"])
    );
    assert_eq!(
        fen(g_in.answer.field("prm_yka248").unwrap()),
        national_fen(&n_in.setlinfo["hifp_pay"])
    );
    assert_eq!(
        fen(g_in.answer.field("prm_yka065").unwrap()),
        national_fen(&n_in.setlinfo["acct_pay"])
    );

    assert_eq!(sjz.field("RETURNNUM"), Some("1"), "{}", sjz.xml);
    let sjz_setl_id = sjz.field("REFMSGID").unwrap();
    assert_eq!(
        money_of(&claim(&g_claims, sjz_setl_id)),
        money_of(&claim(&n_claims, &n_sjz.setl_id))
    );
    assert_eq!(
        fen(sjz.field("AKC264").unwrap()),
        national_fen(&n_sjz.setlinfo["medfee_sumamt"])
    );
    assert_eq!(
        fen(sjz.field("AKC255").unwrap()),
        national_fen(&n_sjz.setlinfo["acct_pay"])
    );
    assert_eq!(
        fen(sjz.field("AKC261").unwrap()),
        national_fen(&n_sjz.setlinfo["psn_cash_pay"])
    );

    // The cancelled 41 is no settlement the engine reads, and the daily batch pays exactly
    // the confirmed ones (IS-D-2: the fund amount in scope × the sample policy's 70 % for
    // this institution, `[daily.institution_ratios]`).
    assert!(
        g_claims
            .iter()
            .all(|c| c["setl_id"] != g_cancelled.setl_id.as_str())
    );
    assert_eq!(g_claims.len(), 4, "{g_claims:?}");
    assert!(
        g_claims
            .iter()
            .any(|c| c["setl_id"] == g_retried.setl_id.as_str())
    );
    let in_scope = ["310100", "330100", "390100", "390200"];
    let expected: i64 = g_claims
        .iter()
        .map(|c| {
            let fund: i64 = c["setldetail"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|l| in_scope.contains(&l["fund_pay_type"].as_str().unwrap()))
                .map(|l| l["fund_payamt"].as_i64().unwrap())
                .sum();
            Money::from_fen(fund)
                .mul_ratio_half_up(Ratio::from_bp(7_000))
                .fen()
        })
        .sum();
    assert!(expected > 0);
    let cfg = leg.config();
    let pay_date = leg.pay_date(&today_in_china().to_string());
    let daily = run_ok(&[
        "settle",
        "daily",
        "--date",
        &pay_date,
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(
        daily.contains(&format!(
            "total: 1 institutions paid {}",
            Money::from_fen(expected)
        )),
        "expected {expected}: {daily}"
    );
    // The provisional records and the cancel's reversal are in the journal, for the record.
    let kinds: Vec<String> = leg
        .journal_export()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_owned())
        .collect();
    // 41, 48, the cancelled 41, its reversal, the retried 41.
    assert_eq!(
        kinds.iter().filter(|k| *k == "legacy.provisional").count(),
        5,
        "{kinds:?}"
    );
}

#[test]
fn a_call_left_undecided_by_a_crash_is_confirmed_later_or_cancelled_by_the_window() {
    let ws = Workspace::init();
    set_key(&ws.config(), "legacy", "confirm_window_secs", 10);
    let persons = ws.insured();
    let employees: Vec<_> = persons.iter().filter(|p| p.insutype == "310").collect();
    let rt = runtime();
    let gw = ws.serve(&[]);
    let (kept, dropped) = rt.block_on(async {
        let mut conn = HisConnection::connect(gw.addr, ws.tls_for(CODE))
            .await
            .unwrap();
        let a = legacy::guizhou_inpatient(&mut conn, employees[0], &lines(INPATIENT), 1, &when())
            .await
            .unwrap();
        let b = legacy::guizhou_outpatient(&mut conn, employees[1], &lines(OUTPATIENT), 2, &when())
            .await
            .unwrap();
        (a, b)
    });
    // The power goes between the settlement and the HIS's confirm.
    gw.kill9();
    let gw = ws.serve(&[]);
    // The operator sees both, through the running gateway.
    let pending = run_ok(&[
        "journal",
        "pending",
        "--config",
        ws.config().to_str().unwrap(),
    ]);
    assert!(
        pending.starts_with("2 legacy call(s) waiting")
            && pending.contains(&kept.jylsh)
            && pending.contains(&dropped.jylsh),
        "{pending}"
    );
    rt.block_on(async {
        let mut conn = HisConnection::connect(gw.addr, ws.tls_for(CODE))
            .await
            .unwrap();
        let q = legacy::guizhou_input(&[("jybh", "41".into())], &[], true);
        let listed = legacy::call(&mut conn, "guizhou", "getuncertaintytrade", &[], q)
            .await
            .unwrap()
            .ok("uncertain")
            .unwrap();
        assert!(listed.xml.contains(&kept.jylsh), "{}", listed.xml);
        legacy::guizhou_confirm(&mut conn, &kept.jylsh, &kept.jyyzm)
            .await
            .unwrap()
            .ok("confirm after restart")
            .unwrap();
        // The 48 is never confirmed: the window (10 s) cancels it — it leaves the undecided
        // list, and a confirm after that is refused naming the window.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let q = legacy::guizhou_input(&[("jybh", "48".into())], &[], true);
            let listed = legacy::call(&mut conn, "guizhou", "getuncertaintytrade", &[], q)
                .await
                .unwrap()
                .ok("uncertain")
                .unwrap();
            if !listed.xml.contains(&dropped.jylsh) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the window never cancelled {}",
                dropped.jylsh
            );
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        let late = legacy::guizhou_confirm(&mut conn, &dropped.jylsh, &dropped.jyyzm)
            .await
            .unwrap();
        assert!(
            late.appcode < 0
                && late.appmsg.contains("LEG-COMMIT-DECIDED")
                && late.appmsg.contains("window"),
            "{late:?}"
        );
    });
    assert!(gw.terminate().success());
    let claims = settled_claims(&ws);
    assert!(claims.iter().any(|c| c["setl_id"] == kept.setl_id.as_str()));
    assert!(
        claims
            .iter()
            .all(|c| c["setl_id"] != dropped.setl_id.as_str())
    );
    let kinds: Vec<Value> = ws.journal_export();
    // The cancel is a reversal in the core, journaled provisional (no batch sees it).
    assert!(kinds.iter().any(|r| r["kind"] == "legacy.provisional"
        && r["record"]["claim"]["reversal_of"]["setl_id"] == dropped.setl_id.as_str()));
}

/// Shijiazhuang keys a call by its `MSGID`: the same MSGID and bytes replay the answer, the
/// same MSGID with other bytes is refused (409, in the dialect), and a 1202 names the call it
/// reverses by its MSGID only — the gateway finds the settlement from that call's answer.
#[test]
fn a_shijiazhuang_call_is_keyed_by_its_msgid_and_reversed_by_it() {
    let ws = Workspace::init();
    let persons = ws.insured();
    let p = persons.iter().find(|p| p.insutype == "310").unwrap();
    let gw = ws.serve(&[]);
    let rt = runtime();
    let (first, again, conflict, reversal) = rt.block_on(async {
        let mut conn = HisConnection::connect(gw.addr, ws.tls_for(CODE))
            .await
            .unwrap();
        let body = legacy::sjz_outpatient_body(
            CODE,
            p,
            &lines(OUTPATIENT),
            "SJZ0000000042",
            42,
            &opttime(),
        );
        let first = legacy::call(&mut conn, "shijiazhuang", "1108", &[], body.clone())
            .await
            .unwrap()
            .ok("1108")
            .unwrap();
        let again = legacy::call(&mut conn, "shijiazhuang", "1108", &[], body)
            .await
            .unwrap()
            .ok("1108 again")
            .unwrap();
        let other = legacy::sjz_outpatient_body(
            CODE,
            p,
            &lines(INPATIENT),
            "SJZ0000000042",
            42,
            &opttime(),
        );
        let conflict = legacy::call(&mut conn, "shijiazhuang", "1108", &[], other)
            .await
            .unwrap();
        let inner = format!("<INPUT><AAC001>{}</AAC001></INPUT>", p.psn_no);
        let reverse = legacy::sjz_request(
            &legacy::SjzHeader {
                fixmedins_code: CODE,
                msgno: "1202",
                msgid: "SJZ0000000043",
                akc190: "MZ0000000042",
                card_no: &format!("C{}", p.psn_no),
                insutype: &p.insutype,
                opttime: &opttime(),
                original: Some(("1108", "SJZ0000000042")),
            },
            &inner,
        );
        let reversal = legacy::call(&mut conn, "shijiazhuang", "1202", &[], reverse)
            .await
            .unwrap()
            .ok("1202")
            .unwrap();
        (first, again, conflict, reversal)
    });
    assert!(gw.terminate().success());
    assert_eq!(
        first.xml, again.xml,
        "a repeated MSGID with the same bytes replays"
    );
    assert_eq!(conflict.status, 409, "{conflict:?}");
    assert_eq!(conflict.field("RETURNNUM"), Some("-1"), "{}", conflict.xml);
    let setl_id = first.field("REFMSGID").unwrap();
    let claims = settled_claims(&ws);
    assert_eq!(
        claims.iter().filter(|c| c["setl_id"] == setl_id).count(),
        1,
        "settled once: {claims:?}"
    );
    let reversed: Vec<_> = claims
        .iter()
        .filter(|c| c["reversal_of"]["setl_id"] == setl_id)
        .collect();
    assert_eq!(reversed.len(), 1, "{claims:?}");
    assert_eq!(reversal.field("RETURNNUM"), Some("1"), "{}", reversal.xml);
}

/// The Yunnan cross-region dialect is routed by its insured area (`X-Legacy-Arg-InsuredAreaNo`):
/// a 14 of a person insured in Chongqing (500000) goes to the upstream configured for `50`
/// (a test double of the national platform), and its split comes back in upper-case codes.
#[test]
fn a_yunnan_settlement_is_routed_upstream_by_its_insured_area() {
    use medsettle_server::Role;
    use medsettle_server::pki::generate_dev_pki;
    use medsettle_testkit::upstream_double::Double;
    let ws = Workspace::init();
    let rt = runtime();
    let pki = generate_dev_pki(
        &ws.path().join("upstream-pki"),
        &["localhost", "127.0.0.1"],
        &[("gateway", Role::Peer, &[])],
    )
    .unwrap();
    let double = rt.block_on(Double::start(&pki, None));
    let cert = pki.client("gateway").unwrap();
    let mut config = std::fs::read_to_string(ws.config()).unwrap();
    config.push_str(&format!(
        "\n[[forward]]\nadmdvs = [\"50\"]\n[forward.upstream]\nurl = \"{}\"\nca_bundle = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\n",
        double.url(),
        pki.ca_cert.display(),
        cert.cert.display(),
        cert.key.display()
    ));
    std::fs::write(ws.config(), config).unwrap();
    let gw = ws.serve(&[]);
    let reply = rt.block_on(async {
        let mut conn = HisConnection::connect(gw.addr, ws.tls_for(CODE)).await.unwrap();
        let body = encoding_rs::GBK
            .encode(&format!(
                "<input><AKB020>{CODE}</AKB020><AKC190>500000000123</AKC190><AKA130>11</AKA130><AKC264>100.00</AKC264></input>"
            ))
            .0
            .into_owned();
        let args = [
            ("SenderSerialNo", "YD0000000001"),
            ("InsuredAreaNo", "500000"),
            ("PersonNo", "50000000000000000001"),
            ("SICardNo", "C500000001"),
            ("TransCode", "14"),
        ];
        legacy::call(&mut conn, "yunnan", "14", &args, body).await.unwrap()
    });
    assert!(gw.terminate().success());
    let reply = reply.ok("yunnan 14").unwrap();
    // The double's split (medfee 100.00, cash 10.50), in the dialect's upper-case fields.
    assert_eq!(reply.field("AKC264"), Some("100.00"), "{}", reply.xml);
    assert_eq!(reply.field("AKC261"), Some("10.50"), "{}", reply.xml);
    assert_eq!(reply.field("AKC255"), Some("30.00"), "{}", reply.xml);
    let seen = double.state.seen.lock().unwrap().clone();
    assert!(seen.iter().any(|(infno, _, _)| infno == "2207"), "{seen:?}");
    let claims = settled_claims(&ws);
    assert_eq!(claims.len(), 1, "{:?}", ws.journal_export());
    assert_eq!(claims[0]["insuplc_admdvs"], "500000");
}

/// Refusals answer in the caller's dialect and encoding, naming the legacy field and the rule,
/// and change nothing: a code outside a recode table (400, `LEG-RECODE`), a body that is not
/// GBK (400, `LEG-ENCODING` with its byte offset), a settlement the core refuses (200,
/// `LEG-NATIONAL` with the national rule, at the legacy field that maps to the national path).
#[test]
fn refusals_answer_in_the_dialect_and_change_nothing() {
    let ws = Workspace::init();
    let persons = ws.insured();
    let p = persons.iter().find(|p| p.insutype == "310").unwrap();
    let gw = ws.serve(&[]);
    let rt = runtime();
    let (recode, encoding, core) = rt.block_on(async {
        let mut conn = HisConnection::connect(gw.addr, ws.tls_for(CODE))
            .await
            .unwrap();
        let settle = |aka130: &str, akc190: &str| {
            legacy::guizhou_input(
                &[
                    ("akc190", akc190.to_owned()),
                    ("aka130", aka130.to_owned()),
                    ("ykb065", "1".into()),
                    ("hisfyze", "100.00".into()),
                    ("aac001", p.psn_no.clone()),
                ],
                &[],
                true,
            )
        };
        let recode = legacy::call(&mut conn, "guizhou", "41", &[], settle("G31", "ZY1"))
            .await
            .unwrap();
        let mut broken = settle("31", "ZY1");
        let at = broken.len() - 20;
        broken.insert(at, 0xFF);
        let encoding = legacy::call(&mut conn, "guizhou", "41", &[], broken)
            .await
            .unwrap();
        // A visit the core never admitted.
        let core = legacy::call(
            &mut conn,
            "guizhou",
            "41",
            &[],
            settle("31", "NO-SUCH-VISIT"),
        )
        .await
        .unwrap();
        (recode, encoding, core)
    });
    assert!(gw.terminate().success());
    assert_eq!(recode.status, 400, "{recode:?}");
    assert!(recode.appcode < 0, "{recode:?}");
    assert!(
        recode.appmsg.contains("LEG-RECODE") && recode.appmsg.contains("aka130"),
        "{recode:?}"
    );
    assert!(recode.xml.contains("<output"), "{}", recode.xml);
    assert_eq!(encoding.status, 400, "{encoding:?}");
    assert!(
        encoding.appmsg.contains("LEG-ENCODING") && encoding.appmsg.contains("offset"),
        "{encoding:?}"
    );
    assert_eq!(core.status, 200, "{core:?}");
    assert!(core.appcode < 0, "{core:?}");
    assert!(
        core.appmsg.contains("LEG-NATIONAL") && core.appmsg.contains("CORE-"),
        "{core:?}"
    );
    // Nothing was settled or made pending.
    assert!(settled_claims(&ws).is_empty());
    assert!(
        ws.journal_export()
            .iter()
            .all(|r| r["kind"] != "legacy.provisional")
    );
}

/// A fifth dialect is a TOML file, not code: a profile file named in `[legacy] profile_files`
/// is served under its own name; a wrong profile name or window is refused at start, naming
/// the key.
#[test]
fn a_fifth_dialect_is_a_profile_file_and_the_legacy_configuration_is_checked_at_start() {
    let ws = Workspace::init();
    let profile = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/legacy/guizhou.toml"),
    )
    .unwrap()
    .replacen("name = \"guizhou\"", "name = \"zunyi\"", 1);
    std::fs::write(ws.path().join("zunyi.toml"), profile).unwrap();
    set_key(
        &ws.config(),
        "legacy",
        "profile_files",
        toml::Value::Array(vec!["zunyi.toml".into()]),
    );
    let p = ws
        .insured()
        .into_iter()
        .find(|p| p.insutype == "310")
        .unwrap();
    let gw = ws.serve(&[]);
    let reply = runtime().block_on(async {
        let mut conn = HisConnection::connect(gw.addr, ws.tls_for(CODE))
            .await
            .unwrap();
        let body = legacy::guizhou_input(
            &[
                ("aac001", p.psn_no.clone()),
                ("ykb065", "1".into()),
                ("aka130", "31".into()),
                ("akc192", when()),
                ("ykc010", "ZY0000000099".into()),
                ("akc193", "K35.800".into()),
                ("yka097", "0501".into()),
                ("yka098", "外科".into()),
                ("ykd102", "D0101".into()),
                ("yka099", "住院医生".into()),
            ],
            &[],
            true,
        );
        legacy::call(&mut conn, "zunyi", "21", &[], body)
            .await
            .unwrap()
    });
    assert!(gw.terminate().success());
    let reply = reply.ok("zunyi 21").unwrap();
    assert!(
        reply.field("prm_akc190").is_some_and(|v| !v.is_empty()),
        "{}",
        reply.xml
    );

    for (key, value, named) in [
        (
            "profiles",
            toml::Value::Array(vec!["atlantis".into()]),
            "legacy.profiles",
        ),
        (
            "confirm_window_secs",
            toml::Value::Integer(5),
            "legacy.confirm_window_secs",
        ),
        ("rows_max", toml::Value::Integer(0), "legacy.rows_max"),
    ] {
        let bad = Workspace::init();
        set_key(&bad.config(), "legacy", key, value);
        let out = run(&[
            "serve",
            "--config",
            bad.config().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ]);
        assert_eq!(out.status.code(), Some(2), "{key}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(named),
            "{key}: {out:?}"
        );
    }
}
