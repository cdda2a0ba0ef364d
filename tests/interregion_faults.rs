//! Cross-region settlement against a misbehaving far side (issue 19, "Done when": a peer that
//! answers late, answers twice, or never answers). Two real gateways on loopback — the place of
//! treatment (440300) and the insured place (330100) — with the treatment's `[[peer]]` pointed
//! at a fault-injecting proxy (`medsettle_testkit::peer_proxy`) that forwards to the real
//! insured gateway, or does not, as each test tells it per transaction.
//!
//! Every test ends the same way: no exchange left in doubt at either gateway, and — read from
//! both journals after stopping — each summary settled exactly once on both sides, the two
//! ledgers equal message by message to the fen, and both saying what the HIS was told.
//!
//! The tests run one at a time (a lock): their faults are timed against the peer deadline,
//! and two pairs of gateways on two shared cores would blur those timings.

mod common;
#[path = "common/interregion.rs"]
mod interregion;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use interregion::*;
use medsettle_client::his::{EnvelopeBuilder, FeeLine, HisConnection, Insured, Sender};
use medsettle_server::upstream::{PathStyle, UpstreamConfig};
use medsettle_service::interregion::{LedgerRow, peer_msgid};
use medsettle_testkit::peer_proxy::{Fault, Passage, PeerProxy};
use serde_json::{Value, json};

/// The place of treatment and the insured place, as indices into the regions.
const T: usize = 0;
const I: usize = 1;

/// The treatment's `[[peer]]` timings: a client timeout under the deadline, so a message is
/// sent more than once within one HIS request, and two resolution attempts.
const TIMINGS: PeerTimings = PeerTimings {
    timeout_ms: 1000,
    connect_timeout_ms: 500,
    deadline_ms: 2500,
    backoff_ms: 50,
    backoff_max_ms: 400,
    resolve_attempts: 2,
    resolver_interval_ms: 300,
};
/// How long a late peer holds its answer: well past the deadline.
const LATE: Duration = Duration::from_millis(TIMINGS.deadline_ms + 1500);
/// How long the HIS keeps asking while the gateway answers 503, and how long the test waits
/// for the gateways to resolve what is in doubt.
const PATIENCE: Duration = Duration::from_secs(60);
/// The proxy's own client to the insured gateway: patient, it is not under test.
const PROXY_TIMEOUT_MS: u64 = 10_000;

static SERIAL: Mutex<()> = Mutex::new(());

/// What the HIS was told about one summary (one XPRV01 message), and so what both ledgers
/// must hold for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Told {
    /// Settled, with this fund amount (fen): one forward row each side.
    Settled(i64),
    /// Settled with this fund amount, then reversed by a 2208: a forward and a reversal row
    /// each side.
    Reversed(i64),
    /// "Nothing was settled", the insured place having applied it and then reversed it when
    /// the exchange was resolved: a forward and a reversal row each side, netting to zero.
    NothingSettledReversedThere,
    /// "Nothing was settled", never applied anywhere: no row on either side.
    NothingSettled,
}

impl Told {
    /// `(forward rows, reversal rows, fund of the forward row)` each side holds.
    fn rows(self) -> (usize, usize, Option<i64>) {
        match self {
            Told::Settled(f) => (1, 0, Some(f)),
            Told::Reversed(f) => (1, 1, Some(f)),
            Told::NothingSettledReversedThere => (1, 1, None),
            Told::NothingSettled => (0, 0, None),
        }
    }
}

/// Two linked gateways, the proxy between them, and a HIS at the place of treatment.
/// Fields drop in order: the HIS's connection, the proxy, the gateways, the runtime last.
struct Setup {
    his: HisConnection,
    b: EnvelopeBuilder,
    persons: Vec<Insured>,
    proxy: PeerProxy,
    regions: Vec<Region>,
    rt: tokio::runtime::Runtime,
}

impl Setup {
    fn new() -> Setup {
        let mut regions = regions(&[("440300", "44"), ("330100", "33")]);
        let rt = runtime();
        let (t, i) = (&regions[T], &regions[I]);
        // the proxy reaches the insured gateway as the treatment does: its peer certificate,
        // the insured's server certificate pinned
        let direct = i.endpoint();
        let mut upstream = UpstreamConfig::new(direct.url, direct.ca);
        upstream.path_style = PathStyle::Exact;
        upstream.server_fingerprint_sha256 = Some(direct.fingerprint);
        upstream.client_cert = Some(t.peer_client().cert.clone());
        upstream.client_key = Some(t.peer_client().key.clone());
        upstream.timeout_ms = PROXY_TIMEOUT_MS;
        let proxy = rt
            .block_on(PeerProxy::start(
                &t.ws.path().join("proxy-pki"),
                &t.peer_pki.ca_cert,
                &upstream,
            ))
            .expect("start the proxy");
        let via_proxy = PeerEndpoint {
            url: proxy.url(),
            ca: proxy.ca_cert.clone(),
            fingerprint: fingerprint(&proxy.server_cert),
        };
        link(&mut regions, TIMINGS, |caller, callee| {
            (caller == T && callee == I).then(|| via_proxy.clone())
        });
        for r in regions.iter_mut() {
            start(r);
        }
        let code = first_institution(regions[T].code);
        let his = rt
            .block_on(HisConnection::connect(
                regions[T].addr(),
                regions[T].ws.tls_for(&code),
            ))
            .expect("HIS connects");
        let base = time::PrimitiveDateTime::new(today_in_china(), time::Time::MIDNIGHT);
        let b = EnvelopeBuilder::new(
            Sender {
                fixmedins_code: code.clone(),
                fixmedins_name: institution_name(regions[T].ws.path(), &code),
                mdtrtarea_admvs: regions[T].code.to_owned(),
            },
            base,
        );
        let persons = insured_of(&regions[I]);
        assert!(!persons.is_empty(), "the insured place has employees");
        Setup {
            his,
            b,
            persons,
            proxy,
            regions,
            rt,
        }
    }

    /// One HIS call.
    fn call(&mut self, env: &Value) -> (u16, Value) {
        self.rt
            .block_on(self.his.call(env))
            .unwrap_or_else(|e| panic!("{} {}: {e:#}", env["infno"], env["msgid"]))
    }

    /// The HIS asks with the same request while the gateway answers 503: the first answer
    /// that is not 503.
    fn ask_until_final(&mut self, env: &Value) -> (u16, Value) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (status, answer) = self.call(env);
            if status != 503 {
                return (status, answer);
            }
            assert!(
                Instant::now() < deadline,
                "{} {} still 503 after {PATIENCE:?}: {answer}",
                env["infno"],
                env["msgid"]
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Visit `n` of a person insured at the insured place: 2201 → 2204 → 2206, through the
    /// proxy as it is set; the 2207 returned unsent.
    fn until_settlement(&mut self, n: usize) -> Value {
        let p = self.persons[n % self.persons.len()].clone();
        let when = his_time(self.b.base);
        let ipt_otp_no = format!("MZ{}{n:08}", &self.b.sender.fixmedins_code[1..]);
        let reg = self.b.envelope(
            "2201",
            &p.insuplc_admdvs,
            json!({"data": {
                "psn_no": p.psn_no, "insutype": p.insutype, "begntime": when,
                "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno, "ipt_otp_no": ipt_otp_no,
                "atddr_no": "D0001", "dr_name": "门诊医生", "dept_code": "0301", "dept_name": "内科",
                "caty": "A03"
            }}),
        );
        let out = success(self.call(&reg), "2201");
        let mdtrt_id = out["data"]["mdtrt_id"].as_str().unwrap().to_owned();
        let lines = [
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
        let chrg_bchno = format!("CB{n:08}");
        let feedetail: Vec<Value> = lines
            .iter()
            .enumerate()
            .map(|(k, l)| {
                json!({
                    "feedetl_sn": format!("F{:04}", k + 1), "mdtrt_id": mdtrt_id,
                    "psn_no": p.psn_no, "chrg_bchno": chrg_bchno, "rx_circ_flag": "0",
                    "fee_ocur_time": when, "med_list_codg": l.med_list_codg,
                    "medins_list_codg": format!("H{}", l.med_list_codg),
                    "det_item_fee_sumamt": yuan_number(l.amount_fen()),
                    "cnt": number(&format!("{}.0000", l.units)), "pric": yuan_number(l.pric_fen),
                    "bilg_dept_codg": "0301", "bilg_dept_name": "内科", "bilg_dr_codg": "D0001",
                    "bilg_dr_name": "门诊医生", "hosp_appr_flag": "1"
                })
            })
            .collect();
        let fees = self
            .b
            .envelope("2204", &p.insuplc_admdvs, json!({"feedetail": feedetail}));
        success(self.call(&fees), "2204");
        let total: i64 = lines.iter().map(FeeLine::amount_fen).sum();
        let data = json!({
            "psn_no": p.psn_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno,
            "med_type": "11", "medfee_sumamt": yuan_number(total), "psn_setlway": "01",
            "mdtrt_id": mdtrt_id, "chrg_bchno": chrg_bchno, "acct_used_flag": "1",
            "insutype": p.insutype
        });
        let pre = self
            .b
            .envelope("2206", &p.insuplc_admdvs, json!({"data": data.clone()}));
        success(self.call(&pre), "2206");
        self.b
            .envelope("2207", &p.insuplc_admdvs, json!({"data": data}))
    }

    /// The same request under a new msgid (what a HIS sends after "nothing was settled").
    fn renew(&mut self, env: &Value) -> Value {
        let infno = env["infno"].as_str().unwrap();
        let insuplc = env["insuplc_admdvs"].as_str().unwrap();
        self.b.envelope(infno, insuplc, env["input"].clone())
    }

    /// The 2208 reversing the settlement a 2207 (`settle`) got as `output`.
    fn reversal_of(&mut self, settle: &Value, output: &Value) -> Value {
        let data = &settle["input"]["data"];
        self.b.envelope(
            "2208",
            settle["insuplc_admdvs"].as_str().unwrap(),
            json!({"data": {
                "setl_id": output["setlinfo"]["setl_id"], "mdtrt_id": data["mdtrt_id"],
                "psn_no": data["psn_no"]
            }}),
        )
    }

    /// The peer message id the place of treatment derives for a HIS request.
    fn pid(&self, env: &Value) -> String {
        peer_msgid(
            env["fixmedins_code"].as_str().unwrap(),
            env["msgid"].as_str().unwrap(),
            env["infno"].as_str().unwrap(),
        )
    }

    /// Send `body` straight to the insured gateway with the treatment's peer certificate.
    fn send_to_insured(&self, infno: &str, body: bytes::Bytes) -> (u16, Value) {
        let reply = self
            .rt
            .block_on(self.proxy.send_direct(infno, body))
            .expect("the insured gateway answers");
        (reply.status, serde_json::from_slice(&reply.body).unwrap())
    }

    /// Wait until neither gateway has anything in doubt, stop both, and check that both
    /// ledgers and the insured place's journal say what the HIS was `told`, per summary
    /// message id.
    fn finish(mut self, told: &[(String, Told)]) {
        self.proxy.clear();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left: usize = self.regions.iter().map(in_doubt).sum();
            if left == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{left} exchanges still in doubt");
            std::thread::sleep(Duration::from_millis(300));
        }
        for r in self.regions.iter_mut() {
            assert!(
                r.gw.take().unwrap().terminate().success(),
                "{} stops",
                r.code
            );
        }
        let (t_code, i_code) = (self.regions[T].code, self.regions[I].code);
        let ledger_t = ledger_of_stopped(&self.regions[T]);
        let ledger_i = ledger_of_stopped(&self.regions[I]);
        assert!(
            ledger_t
                .iter()
                .all(|r| r.side == "treatment" && r.insuplc_admdvs == i_code),
            "{ledger_t:#?}"
        );
        assert!(
            ledger_i
                .iter()
                .all(|r| r.side == "insured" && r.mdtrtarea_admvs == t_code),
            "{ledger_i:#?}"
        );
        assert_eq!(
            net_by_omsgid(&ledger_t),
            net_by_omsgid(&ledger_i),
            "the two ledgers differ"
        );
        let expected: BTreeMap<&str, (usize, usize, Option<i64>)> = told
            .iter()
            .filter(|(_, t)| *t != Told::NothingSettled)
            .map(|(omsgid, t)| (omsgid.as_str(), t.rows()))
            .collect();
        assert_ledger_says("the treatment place", &ledger_t, &expected);
        assert_ledger_says("the insured place", &ledger_i, &expected);
        self.check_insured_journal(&expected);
    }

    /// The insured place's journal: one `interregion.settlement` per message that settled or
    /// reversed there, however often it arrived.
    fn check_insured_journal(&self, expected: &BTreeMap<&str, (usize, usize, Option<i64>)>) {
        let mut settled: BTreeMap<String, usize> = BTreeMap::new();
        for line in self.regions[I].ws.journal_export() {
            if line["kind"] == "interregion.settlement" {
                *settled
                    .entry(line["msgid"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
        assert!(
            settled.values().all(|&n| n == 1),
            "a peer message settled twice: {settled:?}"
        );
        for omsgid in expected.keys() {
            assert_eq!(
                settled.get(&format!("XPRV01:{omsgid}")),
                Some(&1),
                "{omsgid}: {settled:?}"
            );
        }
        let (forwards, reversals) = expected
            .values()
            .fold((0, 0), |(f, r), e| (f + e.0, r + e.1));
        let count = |infno: &str| settled.keys().filter(|k| k.starts_with(infno)).count();
        assert_eq!(count("XPRV01:"), forwards, "{settled:?}");
        assert_eq!(count("XPRV02:"), reversals, "{settled:?}");
    }
}

/// One side's ledger per summary: `(forward rows, reversal rows, fund of the forward rows)`;
/// a summary's rows must net to zero when it has a reversal.
fn by_omsgid(rows: &[LedgerRow]) -> BTreeMap<&str, (usize, usize, i64)> {
    let mut out: BTreeMap<&str, (usize, usize, i64)> = BTreeMap::new();
    for r in rows {
        let e = out.entry(r.omsgid.as_str()).or_default();
        if r.aaa113 > 0 {
            e.0 += 1;
            e.2 += r.fund_pay_sumamt.fen();
        } else {
            e.1 += 1;
        }
    }
    for (omsgid, (_, reversals, _)) in &out {
        if *reversals > 0 {
            let net: i64 = rows
                .iter()
                .filter(|r| r.omsgid == *omsgid)
                .map(|r| r.fund_pay_sumamt.fen())
                .sum();
            assert_eq!(
                net, 0,
                "{omsgid}: a reversal that does not cancel its forward"
            );
        }
    }
    out
}

/// A side's ledger against what the HIS was told: the same summaries, the same rows of each,
/// and the fund the HIS was told where it was told one.
fn assert_ledger_says(
    side: &str,
    rows: &[LedgerRow],
    expected: &BTreeMap<&str, (usize, usize, Option<i64>)>,
) {
    let got = by_omsgid(rows);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{side}'s ledger holds other summaries than the HIS was told of: {rows:#?}"
    );
    for (omsgid, (forwards, reversals, fund)) in expected {
        let (f, r, got_fund) = got[omsgid];
        assert_eq!(
            (f, r),
            (*forwards, *reversals),
            "{side}, {omsgid}: {rows:#?}"
        );
        if let Some(fund) = fund {
            assert_eq!(
                got_fund, *fund,
                "{side}, {omsgid}: the fund the HIS was told"
            );
        }
    }
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn his_time(t: time::PrimitiveDateTime) -> String {
    medsettle_client::his::datetime_text(t)
}

fn yuan_number(fen: i64) -> Value {
    medsettle_client::his::yuan_number(fen)
}

fn number(text: &str) -> Value {
    Value::Number(serde_json::from_str(text).unwrap())
}

/// The output of a successful answer, or a panic naming the call.
fn success((status, answer): (u16, Value), what: &str) -> Value {
    assert!(
        status == 200 && infcode(&answer) == 0,
        "{what}: HTTP {status}: {answer}"
    );
    answer["output"].clone()
}

fn err_msg(answer: &Value) -> &str {
    answer["err_msg"].as_str().unwrap_or_default()
}

/// The fund amount of a settlement answer, fen.
fn fund_fen(output: &Value) -> i64 {
    medsettle_canonical::Money::parse_yuan(
        &output["setlinfo"]["fund_pay_sumamt"]
            .to_string()
            .replace('"', ""),
    )
    .unwrap()
    .fen()
}

/// An answer to the HIS saying nothing was settled (and why, in `because`).
fn assert_nothing_settled((status, answer): &(u16, Value), because: &str) {
    assert_eq!(*status, 200, "{answer}");
    assert_eq!(infcode(answer), -1, "{answer}");
    assert!(
        err_msg(answer).contains("nothing was settled") && err_msg(answer).contains(because),
        "{answer}"
    );
}

/// The 503 of an exchange still in doubt.
fn assert_in_doubt((status, answer): &(u16, Value)) {
    assert_eq!(*status, 503, "{answer}");
    assert!(
        err_msg(answer).contains("do not settle this visit again yet"),
        "{answer}"
    );
}

/// The peer answers of passages, as `(infcode, rule)`.
fn peer_verdicts(passages: &[Passage]) -> Vec<(i64, String)> {
    passages
        .iter()
        .flat_map(Passage::answers_json)
        .map(|a| {
            (
                infcode(&a),
                a["rule"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The `state` a status query (XPRV03) about `omsgid` was last answered.
fn status_state(proxy: &PeerProxy, omsgid: &str) -> String {
    let answers: Vec<Value> = proxy
        .about("XPRV03", omsgid)
        .iter()
        .flat_map(Passage::answers_json)
        .collect();
    let last = answers
        .last()
        .unwrap_or_else(|| panic!("no status query about {omsgid} was answered"));
    assert_eq!(infcode(last), 0, "{last}");
    last["output"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// XPRV01 answered after the deadline (the insured place applied it), and the status query
/// unanswered at first: the HIS gets 503; once the status query passes, the gateway finds the
/// summary applied, reverses it there, and the HIS asking again is told nothing was settled.
/// A new 2207 under a new msgid then settles once.
#[test]
fn a_late_answer_is_reversed_at_the_insured_place_and_the_his_told_nothing_was_settled() {
    let _serial = serial();
    let mut s = Setup::new();
    let settle = s.until_settlement(0);
    let pid = s.pid(&settle);
    // the summary's answer comes after the deadline, and the status query gets none yet
    s.proxy.set("XPRV01", Fault::Late(LATE));
    s.proxy.set("XPRV03", Fault::Never);
    assert_in_doubt(&s.call(&settle));
    let sent = s.proxy.of("XPRV01", &pid);
    assert!(!sent.is_empty());
    let verdicts = peer_verdicts(&sent);
    assert!(
        !verdicts.is_empty() && verdicts.iter().all(|v| v.0 == 0),
        "the insured place applied it (and replayed it when sent again): {verdicts:?}"
    );
    let answers: Vec<Value> = sent.iter().flat_map(Passage::answers_json).collect();
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:#?}");

    // the status query passes: applied there, so reversed there, and the HIS told so
    s.proxy.set("XPRV03", Fault::Pass);
    let resolved = s.ask_until_final(&settle);
    assert_nothing_settled(&resolved, "answered too late; its settlement was reversed");
    assert_eq!(status_state(&s.proxy, &pid), "applied");
    assert_eq!(
        peer_verdicts(&s.proxy.about("XPRV02", &pid))
            .iter()
            .filter(|v| v.0 == 0)
            .count(),
        1,
        "one reversal applied at the insured place"
    );
    // asked again, the same answer
    assert_eq!(s.call(&settle), resolved);

    // a new 2207 with a new msgid settles, once
    s.proxy.clear();
    let again = s.renew(&settle);
    let out = success(s.call(&again), "2207 under a new msgid");
    let pid_again = s.pid(&again);
    assert_eq!(s.proxy.of("XPRV01", &pid_again).len(), 1);
    s.finish(&[
        (pid, Told::NothingSettledReversedThere),
        (pid_again, Told::Settled(fund_fen(&out))),
    ]);
}

/// XPRV01 answered after the deadline while the status query passes: the resolution
/// (status query, reversal there) happens within the HIS's own request — no 503 at all.
#[test]
fn a_late_answer_is_resolved_within_the_request_when_the_status_query_passes() {
    let _serial = serial();
    let mut s = Setup::new();
    let settle = s.until_settlement(0);
    let pid = s.pid(&settle);
    s.proxy.set("XPRV01", Fault::Late(LATE));
    let answer = s.call(&settle);
    assert_nothing_settled(&answer, "answered too late; its settlement was reversed");
    assert_eq!(status_state(&s.proxy, &pid), "applied");
    s.proxy.clear();
    let again = s.renew(&settle);
    let out = success(s.call(&again), "2207 under a new msgid");
    let pid_again = s.pid(&again);
    s.finish(&[
        (pid, Told::NothingSettledReversedThere),
        (pid_again, Told::Settled(fund_fen(&out))),
    ]);
}

/// Every XPRV01 and XPRV02 reaches the insured place twice, one after the other: it answers
/// the repeat byte for byte as the first, and settles (reverses) once.
#[test]
fn a_peer_answering_twice_settles_and_reverses_once_and_answers_identically() {
    let _serial = serial();
    let mut s = Setup::new();
    // pre-settlements (2206) are not kept by the insured place: set the fault after them
    let settles: Vec<Value> = (0..2).map(|n| s.until_settlement(n)).collect();
    s.proxy.set("XPRV01", Fault::Twice);
    s.proxy.set("XPRV02", Fault::Twice);
    let mut told = Vec::new();
    let mut outs = Vec::new();
    for settle in &settles {
        let out = success(s.call(settle), "2207");
        let passages = s.proxy.of("XPRV01", &s.pid(settle));
        assert_eq!(passages.len(), 1, "sent once: {passages:#?}");
        let p = &passages[0];
        assert_eq!(p.answers.len(), 2, "{p:#?}");
        assert_eq!(
            p.answers[0], p.answers[1],
            "the insured place answers a repeat identically"
        );
        outs.push(out);
    }
    let reverse = s.reversal_of(&settles[1], &outs[1]);
    success(s.call(&reverse), "2208");
    let passages = s.proxy.of("XPRV02", &s.pid(&reverse));
    assert_eq!(passages.len(), 1, "{passages:#?}");
    assert_eq!(passages[0].answers.len(), 2);
    assert_eq!(passages[0].answers[0], passages[0].answers[1]);
    assert_eq!(peer_verdicts(&passages)[0].0, 0);
    told.push((s.pid(&settles[0]), Told::Settled(fund_fen(&outs[0]))));
    told.push((s.pid(&settles[1]), Told::Reversed(fund_fen(&outs[1]))));
    s.finish(&told);
}

/// Every XPRV01 and XPRV02 reaches the insured place twice at the same moment (a resend
/// overtaking the first copy): one settlement, both copies answered alike.
#[test]
fn a_peer_receiving_two_copies_at_once_settles_and_reverses_once_and_answers_identically() {
    let _serial = serial();
    let mut s = Setup::new();
    const VISITS: usize = 6;
    let settles: Vec<Value> = (0..VISITS).map(|n| s.until_settlement(n)).collect();
    s.proxy.set("XPRV01", Fault::TwiceAtOnce);
    s.proxy.set("XPRV02", Fault::TwiceAtOnce);
    // what the HIS was told, per summary, and every message answered two ways at once
    let mut told = Vec::new();
    let mut differing = Vec::new();
    let mut verdicts_of = |s: &Setup, infno: &str, env: &Value, answer: &(u16, Value)| {
        let verdicts = peer_verdicts(&s.proxy.of(infno, &s.pid(env)));
        if verdicts.iter().any(|v| *v != verdicts[0]) {
            differing.push(format!(
                "{infno} {}: the insured place answered {verdicts:?}, the HIS got HTTP {} {}",
                s.pid(env),
                answer.0,
                answer.1
            ));
        }
    };
    for settle in &settles {
        let answer = s.call(settle);
        verdicts_of(&s, "XPRV01", settle, &answer);
        if answer.0 != 200 || infcode(&answer.1) != 0 {
            told.push((s.pid(settle), Told::NothingSettled));
            continue;
        }
        let out = answer.1["output"].clone();
        let reverse = s.reversal_of(settle, &out);
        let answer = s.call(&reverse);
        verdicts_of(&s, "XPRV02", &reverse, &answer);
        let fund = fund_fen(&out);
        let t = if answer.0 == 200 && infcode(&answer.1) == 0 {
            Told::Reversed(fund)
        } else {
            Told::Settled(fund)
        };
        told.push((s.pid(settle), t));
    }
    // the ledgers first (they show what a differing answer did), then the answers
    eprintln!("answered differently: {differing:#?}");
    s.finish(&told);
    assert!(
        differing.is_empty(),
        "two copies of one message arriving together were answered differently: {differing:#?}"
    );
    assert!(
        told.iter().all(|(_, t)| matches!(t, Told::Reversed(_))),
        "{told:?}"
    );
}

/// XPRV01 never forwarded, never answered, nor the status query: 503; then the proxy passes
/// again, the sealing status query finds nothing (sealed) and the HIS is told nothing was
/// settled; the original arriving late, same bytes, is refused by the insured gateway.
#[test]
fn a_settlement_never_answered_is_sealed_and_its_late_copy_refused() {
    let _serial = serial();
    let mut s = Setup::new();
    let settle = s.until_settlement(0);
    let pid = s.pid(&settle);
    s.proxy.set("XPRV01", Fault::Never);
    s.proxy.set("XPRV03", Fault::Never);
    assert_in_doubt(&s.call(&settle));
    let held = s.proxy.of("XPRV01", &pid);
    assert!(
        held.len() >= 2,
        "sent again within the deadline: {}",
        held.len()
    );
    assert!(
        held.iter()
            .all(|p| p.forwards() == 0 && p.answered.is_none())
    );

    // the proxy passes again: the sealing status query finds nothing, and seals it
    s.proxy.clear();
    let resolved = s.ask_until_final(&settle);
    assert_nothing_settled(
        &resolved,
        "did not receive this 2207 in time and will not apply it",
    );
    assert_eq!(status_state(&s.proxy, &pid), "sealed");
    assert_eq!(s.call(&settle), resolved);

    // the original arriving late, the same bytes straight to the insured gateway: refused
    let (status, late) = s.send_to_insured("XPRV01", held[0].request.clone());
    assert_eq!(status, 200, "{late}");
    assert_eq!(
        infcode(&late),
        -1,
        "a sealed message must never apply: {late}"
    );
    // the protocol's rule for a sealed message (specs/interregion.md §6.3)
    assert_eq!(late["rule"], "XR-STAT-4", "{late}");

    let again = s.renew(&settle);
    let out = success(s.call(&again), "2207 under a new msgid");
    let pid_again = s.pid(&again);
    s.finish(&[
        (pid, Told::NothingSettled),
        (pid_again, Told::Settled(fund_fen(&out))),
    ]);
}

/// A 2208's XPRV02 reaches the insured place (which reverses) but every answer is lost, and
/// the status query is unanswered at first: 503; then the status query finds the reversal
/// applied, the gateway adopts it, and the HIS asking again gets the reversal.
#[test]
fn a_reversal_whose_answer_is_lost_is_adopted() {
    let _serial = serial();
    let mut s = Setup::new();
    let settle = s.until_settlement(0);
    let out = success(s.call(&settle), "2207");
    let reverse = s.reversal_of(&settle, &out);
    let rid = s.pid(&reverse);
    // the reversal is applied there, its answer lost every time; no status answer yet
    s.proxy.set("XPRV02", Fault::DropAfterForward);
    s.proxy.set("XPRV03", Fault::Never);
    assert_in_doubt(&s.call(&reverse));
    let dropped = s.proxy.of("XPRV02", &rid);
    assert!(!dropped.is_empty());
    assert!(dropped.iter().all(|p| p.answered.is_none()));
    let verdicts = peer_verdicts(&dropped);
    assert!(
        !verdicts.is_empty() && verdicts.iter().all(|v| v.0 == 0),
        "the insured place applied the reversal (and replayed it): {verdicts:?}"
    );

    // the status query passes (the reversal's answer is still lost): adopted
    s.proxy.set("XPRV03", Fault::Pass);
    let (status, answer) = s.ask_until_final(&reverse);
    assert_eq!((status, infcode(&answer)), (200, 0), "{answer}");
    assert_eq!(status_state(&s.proxy, &rid), "applied");
    // the HIS asking again with the same msgid gets the same reversal answer
    assert_eq!(s.call(&reverse), (status, answer));
    let pid = s.pid(&settle);
    s.finish(&[(pid, Told::Reversed(fund_fen(&out)))]);
}

/// A 2208's XPRV02 never forwarded: sealed when resolved, the HIS told nothing was done; the
/// reversal arriving late must not apply (the HIS then reverses under a new msgid).
#[test]
fn a_reversal_never_answered_is_sealed_and_its_late_copy_refused() {
    let _serial = serial();
    let mut s = Setup::new();
    let settle = s.until_settlement(0);
    let out = success(s.call(&settle), "2207");
    let reverse = s.reversal_of(&settle, &out);
    let rid = s.pid(&reverse);
    s.proxy.set("XPRV02", Fault::Never);
    s.proxy.set("XPRV03", Fault::Never);
    assert_in_doubt(&s.call(&reverse));
    let held = s.proxy.of("XPRV02", &rid);
    assert!(!held.is_empty() && held.iter().all(|p| p.forwards() == 0));

    s.proxy.clear();
    let resolved = s.ask_until_final(&reverse);
    assert_nothing_settled(
        &resolved,
        "did not receive this 2208 in time and will not apply it",
    );
    assert_eq!(status_state(&s.proxy, &rid), "sealed");

    // the reversal arriving late must not apply: the HIS was told nothing was reversed
    let (status, late) = s.send_to_insured("XPRV02", held[0].request.clone());
    assert_eq!(status, 200, "{late}");
    assert_eq!(
        infcode(&late),
        -1,
        "a sealed reversal was applied when it arrived late: {late}"
    );

    // the HIS reverses again under a new msgid
    let again = s.renew(&reverse);
    success(s.call(&again), "2208 under a new msgid");
    let pid = s.pid(&settle);
    s.finish(&[(pid, Told::Reversed(fund_fen(&out)))]);
}

/// The insured place unreachable (connections closed before TLS): two refused connections are
/// absorbed by the resends; a longer outage gets the 2206 and the 2207 503s, and after it the
/// 2206 goes through with the same msgid, the 2207 in doubt is sealed (nothing settled) and
/// goes through under a new msgid.
#[test]
fn a_peer_down_for_a_while_gets_503_and_settlements_go_through_once_it_is_back() {
    let _serial = serial();
    let mut s = Setup::new();
    let mut told = Vec::new();

    // a short outage is hidden by the resends within the deadline
    let settle = s.until_settlement(0);
    s.proxy.down_for(2);
    let out = success(s.call(&settle), "2207 through a short outage");
    assert_eq!(s.proxy.refused_connections(), 2);
    assert_eq!(s.proxy.of("XPRV01", &s.pid(&settle)).len(), 1);
    told.push((s.pid(&settle), Told::Settled(fund_fen(&out))));

    // a long one: the pre-settlement and the settlement get 503
    let settle = s.until_settlement(1);
    let pre = json!({"data": settle["input"]["data"].clone()});
    let pre =
        s.b.envelope("2206", settle["insuplc_admdvs"].as_str().unwrap(), pre);
    s.proxy.down_for(u32::MAX);
    let (status, answer) = s.call(&pre);
    assert_eq!(status, 503, "{answer}");
    assert!(err_msg(&answer).contains("nothing was done"), "{answer}");
    assert_in_doubt(&s.call(&settle));
    let pid = s.pid(&settle);
    assert!(s.proxy.of("XPRV01", &pid).is_empty(), "nothing got through");

    // back: the pre-settlement goes through with the same msgid; the settlement in doubt is
    // sealed (nothing was settled) and goes through under a new msgid
    s.proxy.up();
    success(s.ask_until_final(&pre), "2206 once the peer is back");
    let resolved = s.ask_until_final(&settle);
    assert_nothing_settled(
        &resolved,
        "did not receive this 2207 in time and will not apply it",
    );
    assert_eq!(status_state(&s.proxy, &pid), "sealed");
    let again = s.renew(&settle);
    let out = success(s.call(&again), "2207 under a new msgid");
    told.push((pid, Told::NothingSettled));
    told.push((s.pid(&again), Told::Settled(fund_fen(&out))));
    s.finish(&told);
}

/// A prepayment notice (XPRV31) whose answer is lost: the run says so, the notice stays kept
/// unacknowledged, and the next run sends the same bytes under the same message id, which the
/// insured place answers again without keeping the notice twice. A year not begun is refused
/// (its prior year's payments are not final).
#[test]
fn a_prepayment_notice_whose_answer_is_lost_is_sent_again_and_kept_once() {
    let _serial = serial();
    let s = Setup::new();
    let year = today_in_china().year().to_string();
    let prepayment = |k: usize, args: &[&str]| -> Value {
        let config = s.regions[k].ws.config();
        let mut all = vec!["settle", "prepayment"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--json", "--config", config.to_str().unwrap()]);
        serde_json::from_str(&run_ok(&all)).unwrap()
    };
    let notices = |report: &Value, side: &str| -> Vec<Value> {
        report["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["side"] == side)
            .flat_map(|a| a["notices"].as_array().unwrap().clone())
            .collect()
    };

    s.proxy.set("XPRV31", Fault::DropAfterForward);
    let lost = prepayment(T, &["--year", &year]);
    assert!(
        lost["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("330000")),
        "{lost}"
    );
    let kept = notices(&lost, "holder");
    assert_eq!(kept.len(), 1, "{lost}");
    assert_eq!(kept[0]["acknowledged"], false);
    // nothing of last year: the requirement is zero, stated once as unchanged
    assert_eq!(kept[0]["movement"], "none");
    let msgid = kept[0]["msgid"].as_str().unwrap().to_owned();
    let dropped = s.proxy.of("XPRV31", &msgid);
    assert!(!dropped.is_empty() && dropped.iter().all(|p| p.answered.is_none()));
    // the insured place kept it (the answer was lost on the way back)
    let there = prepayment(I, &["status", "--year", &year]);
    assert_eq!(notices(&there, "insured").len(), 1, "{there}");

    s.proxy.set("XPRV31", Fault::Pass);
    let again = prepayment(T, &["--year", &year]);
    assert_eq!(again["errors"], json!([]), "{again}");
    let kept = notices(&again, "holder");
    assert_eq!(kept.len(), 1, "{again}");
    assert_eq!(kept[0]["acknowledged"], true);
    let sent: Vec<Passage> = s.proxy.of("XPRV31", &msgid);
    assert!(sent.len() >= 2, "{sent:?}");
    assert!(
        sent.iter().all(|p| p.request == sent[0].request),
        "the same bytes each time"
    );
    let there = prepayment(I, &["status", "--year", &year]);
    let received = notices(&there, "insured");
    assert_eq!(received.len(), 1, "kept once: {there}");
    assert_eq!(received[0]["reference"], kept[0]["reference"]);
    // a third run has nothing new to say
    let third = prepayment(T, &["--year", &year]);
    assert_eq!(notices(&third, "holder").len(), 1, "{third}");

    // next year's prepayment is sized on this year, which is not over
    let next = (today_in_china().year() + 1).to_string();
    let early = prepayment(T, &["--year", &next]);
    assert!(
        early["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("not over yet")),
        "{early}"
    );
    assert!(notices(&early, "holder").is_empty(), "{early}");
    s.finish(&[]);
}
