//! Crash test of invariant 2 (acknowledged means durable) and 3 (idempotent by msgid) with the
//! real binary: under concurrent load from several institutions, `kill -9` the gateway at
//! random moments, restart it on the same configuration and journal, and prove that
//!
//! - every acknowledged request (an answer with infcode 0 arrived) is in the journal exactly
//!   once, with the very answer the client received, and replays byte-for-byte after restarts;
//! - a request that got no answer before the kill, sent again after the restart, gets either
//!   its stored answer or a fresh execution, never a GW-IDEMPOTENCY conflict;
//! - refused requests are not journaled;
//! - offsets are strictly increasing, no record is corrupt, the journal reopens every time,
//!   and consumer offsets never move backwards nor past the journal.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::his::{
    CALL_SERVICE_PATH, EnvelopeBuilder, HisConnection, Insured, Sender, yuan_number,
};
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// Kill/restart cycles.
const CYCLES: usize = 22;
/// Concurrent client connections (each its own msgid sequence).
const WORKERS: usize = 12;
/// Longest time the gateway runs in one cycle before `kill -9`, milliseconds.
const RUN_MS_MAX: u64 = 900;
const INSTITUTIONS: [&str; 4] = [
    "H44030000001",
    "H44030000002",
    "H44030000003",
    "H44030000004",
];

/// A request as sent: who, which msgid, the exact bytes.
#[derive(Debug, Clone)]
struct Sent {
    code: String,
    msgid: String,
    infno: String,
    body: Bytes,
}

/// A request whose answer with infcode 0 arrived.
#[derive(Debug, Clone)]
struct Acked {
    sent: Sent,
    answer: Bytes,
}

/// What one client saw.
#[derive(Debug, Default)]
struct Ledger {
    acked: Vec<Acked>,
    /// Sent, but the connection died before an answer (the kill): durable or not, unknown.
    unanswered: Vec<Sent>,
    /// Answered with a refusal that must have changed nothing (not journaled).
    refused: Vec<(Sent, u16, String)>,
    /// Answered "not now, retry" (503, 408, 429).
    deferred: Vec<(Sent, u16, String)>,
}

impl Ledger {
    /// File one answer; the parsed answer when it was a success (infcode 0).
    fn answered(&mut self, sent: Sent, status: u16, answer: Bytes) -> Option<Value> {
        let value: Value = serde_json::from_slice(&answer).unwrap_or_else(|e| {
            panic!(
                "answer is not JSON ({e}): {}",
                String::from_utf8_lossy(&answer)
            )
        });
        if status == 200 && infcode(&value) == 0 {
            self.acked.push(Acked { sent, answer });
            return Some(value);
        }
        let msg = value["err_msg"].as_str().unwrap_or_default().to_owned();
        assert!(
            status != 409 && !msg.contains("GW-IDEMPOTENCY"),
            "{} {}: a request sent once (or resent unchanged) met a conflict: {msg}",
            sent.code,
            sent.msgid
        );
        // 503 / 408 / 429 say "not done now, retry": they may follow a journal append whose
        // durability wait did not finish, so they prove nothing about the journal.
        if [503, 408, 429].contains(&status) {
            self.deferred.push((sent, status, msg));
        } else {
            self.refused.push((sent, status, msg));
        }
        None
    }
}

/// An outpatient visit in progress: 2201 → 2204 → 2206 → 2207.
#[derive(Debug, Clone)]
struct Visit {
    person: Insured,
    visit_no: u64,
    step: u8,
    mdtrt_id: String,
}

/// One HIS connection's worth of traffic; survives the cycles (its msgids keep counting).
struct Worker {
    code: &'static str,
    builder: EnvelopeBuilder,
    persons: Vec<Insured>,
    next_person: usize,
    next_visit: u64,
    visit: Option<Visit>,
    ledger: Ledger,
}

fn sender(code: &str) -> Sender {
    Sender {
        fixmedins_code: code.into(),
        fixmedins_name: "深圳市示例医院".into(),
        mdtrtarea_admvs: "440300".into(),
    }
}

fn number(text: &str) -> Value {
    Value::Number(serde_json::from_str(text).expect("decimal"))
}

impl Worker {
    fn new(index: usize, persons: Vec<Insured>) -> Worker {
        let code = INSTITUTIONS[index % INSTITUTIONS.len()];
        // One hour of msgid clock per worker: 36 million msgids before two could meet.
        let base =
            time::macros::datetime!(2026-11-20 08:00:00) + time::Duration::hours(index as i64);
        Worker {
            code,
            builder: EnvelopeBuilder::new(sender(code), base),
            persons,
            next_person: 0,
            next_visit: index as u64 * 1_000_000,
            visit: None,
            ledger: Ledger::default(),
        }
    }

    fn lines(&self, visit_no: u64) -> Vec<(String, u32, i64)> {
        vec![
            ("DIAG001".into(), 1, 2_000),
            ("WM002".into(), 1 + (visit_no % 3) as u32, 3_350),
            ("LAB001".into(), 1, 2_500),
        ]
    }

    /// The next request of the current visit (a new visit when none is open).
    fn next_envelope(&mut self) -> Value {
        let visit = self.visit.get_or_insert_with(|| {
            let person = self.persons[self.next_person % self.persons.len()].clone();
            self.next_person += 1;
            self.next_visit += 1;
            Visit {
                person,
                visit_no: self.next_visit,
                step: 0,
                mdtrt_id: String::new(),
            }
        });
        let v = visit.clone();
        let p = &v.person;
        let when = "2026-11-20 09:00:00";
        let chrg_bchno = format!("CB{:010}", v.visit_no);
        let lines = self.lines(v.visit_no);
        let total: i64 = lines.iter().map(|(_, n, pric)| i64::from(*n) * pric).sum();
        let data = json!({
            "psn_no": p.psn_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno, "med_type": "11",
            "medfee_sumamt": yuan_number(total), "psn_setlway": "01", "mdtrt_id": v.mdtrt_id,
            "chrg_bchno": chrg_bchno, "acct_used_flag": "1", "insutype": p.insutype
        });
        let b = &mut self.builder;
        match v.step {
            0 => b.envelope(
                "2201",
                &p.insuplc_admdvs,
                json!({"data": {
                    "psn_no": p.psn_no, "insutype": p.insutype, "begntime": when,
                    "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno,
                    "ipt_otp_no": format!("MZ{}{:010}", &self.code[1..], v.visit_no),
                    "atddr_no": "D0001", "dr_name": "门诊医生", "dept_code": "0301",
                    "dept_name": "内科", "caty": "A03"
                }}),
            ),
            1 => {
                let feedetail: Vec<Value> = lines
                    .iter()
                    .enumerate()
                    .map(|(i, (codg, n, pric))| {
                        json!({
                            "feedetl_sn": format!("F{:04}", i + 1), "mdtrt_id": v.mdtrt_id,
                            "psn_no": p.psn_no, "chrg_bchno": chrg_bchno, "rx_circ_flag": "0",
                            "fee_ocur_time": when, "med_list_codg": codg,
                            "medins_list_codg": format!("H{codg}"),
                            "det_item_fee_sumamt": yuan_number(i64::from(*n) * pric),
                            "cnt": number(&format!("{n}.0000")), "pric": yuan_number(*pric),
                            "bilg_dept_codg": "0301", "bilg_dept_name": "内科",
                            "bilg_dr_codg": "D0001", "bilg_dr_name": "门诊医生", "hosp_appr_flag": "1"
                        })
                    })
                    .collect();
                b.envelope("2204", &p.insuplc_admdvs, json!({"feedetail": feedetail}))
            }
            2 => b.envelope("2206", &p.insuplc_admdvs, json!({"data": data})),
            _ => b.envelope("2207", &p.insuplc_admdvs, json!({"data": data})),
        }
    }

    /// Move the visit on after a success (or drop it after anything else).
    fn advance(&mut self, answer: Option<&Value>) {
        match (answer, self.visit.as_mut()) {
            (Some(a), Some(v)) => {
                if v.step == 0 {
                    v.mdtrt_id = a["output"]["data"]["mdtrt_id"]
                        .as_str()
                        .expect("2201 answers mdtrt_id")
                        .to_owned();
                }
                v.step += 1;
                if v.step == 4 {
                    self.visit = None;
                }
            }
            _ => self.visit = None,
        }
    }

    /// Send requests until `stop`; the connection dying (the kill) ends the open visit.
    async fn run(
        mut self,
        addr: SocketAddr,
        tls: Arc<rustls::ClientConfig>,
        stop: Arc<AtomicBool>,
    ) -> Worker {
        let mut conn: Option<HisConnection> = None;
        while !stop.load(Ordering::SeqCst) {
            let Some(c) = conn.as_mut() else {
                match HisConnection::connect(addr, tls.clone()).await {
                    Ok(c) => conn = Some(c),
                    Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                }
                continue;
            };
            let env = self.next_envelope();
            let sent = Sent {
                code: self.code.to_owned(),
                msgid: env["msgid"].as_str().unwrap().to_owned(),
                infno: env["infno"].as_str().unwrap().to_owned(),
                body: Bytes::from(env.to_string()),
            };
            match c.post(CALL_SERVICE_PATH, sent.body.clone()).await {
                Ok((status, answer)) => {
                    let ok = self.ledger.answered(sent, status, answer);
                    self.advance(ok.as_ref());
                }
                Err(_) => {
                    self.ledger.unanswered.push(sent);
                    self.visit = None;
                    conn = None;
                }
            }
        }
        self
    }
}

fn tls_by_code(ws: &Workspace) -> HashMap<&'static str, Arc<rustls::ClientConfig>> {
    INSTITUTIONS.iter().map(|c| (*c, ws.tls_for(c))).collect()
}

/// Resend `sent` unchanged on a fresh connection.
async fn resend(
    addr: SocketAddr,
    tls: &HashMap<&'static str, Arc<rustls::ClientConfig>>,
    sent: &Sent,
) -> (u16, Bytes) {
    let mut conn = HisConnection::connect(addr, tls[sent.code.as_str()].clone())
        .await
        .expect("connect for a resend");
    conn.post(CALL_SERVICE_PATH, sent.body.clone())
        .await
        .expect("an answer to a resend")
}

/// Check the stats of a stopped gateway; returns `last_offset`.
fn check_stats(
    ws: &Workspace,
    consumers: &mut BTreeMap<String, u64>,
    last_before: Option<u64>,
    when: &str,
) -> Option<u64> {
    let stats = ws.journal_stats();
    assert_eq!(
        stats["corrupt_offsets"],
        json!([]),
        "{when}: corrupt records: {stats}"
    );
    let last = stats["last_offset"].as_u64();
    assert!(
        last >= last_before,
        "{when}: the journal lost records ({last:?} < {last_before:?}): {stats}"
    );
    // Every consumer's committed offset (the next one it will read) lies within the journal
    // and never moves backwards across a crash, and a consumer never disappears. This becomes
    // meaningful once the settlement-engine consumer runs inside `serve` (being wired now);
    // while no consumer runs, the map is empty and only the presence check below applies.
    let now: BTreeMap<String, u64> = stats["consumer_offsets"]
        .as_object()
        .unwrap_or_else(|| panic!("{when}: stats without consumer_offsets: {stats}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("offset")))
        .collect();
    for (name, offset) in &now {
        let end = last.map_or(0, |l| l + 1);
        assert!(
            *offset <= end,
            "{when}: consumer {name} at {offset}, past the journal end {end}"
        );
        if let Some(before) = consumers.get(name) {
            assert!(
                offset >= before,
                "{when}: consumer {name} went back from {before} to {offset}"
            );
        }
    }
    for name in consumers.keys() {
        assert!(
            now.contains_key(name),
            "{when}: consumer {name} disappeared: {stats}"
        );
    }
    *consumers = now;
    last
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_request_and_duplicates_none() {
    let started = Instant::now();
    let ws = Workspace::init();
    // Rate limiting would only turn load into 429s; this test wants the load.
    ws.set_server_limit("rate_per_institution_per_second", 0);
    let seed: u64 = rand::random();
    eprintln!("crash test seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let rt = runtime();
    let tls = tls_by_code(&ws);
    let persons = ws.insured();
    let mut workers: Vec<Worker> = (0..WORKERS)
        .map(|w| {
            Worker::new(
                w,
                persons.iter().skip(w).step_by(WORKERS).cloned().collect(),
            )
        })
        .collect();
    // Requests the harness itself resent after a restart (unanswered ones, and samples).
    let mut replays = Ledger::default();
    let mut pending: Vec<Sent> = Vec::new();
    let mut consumers = BTreeMap::new();
    let mut last_offset = None;
    // The journal's last offset after each kill: records above it were written by a later run.
    let mut kill_boundaries: Vec<u64> = Vec::new();
    let mut resent_identical = 0usize;

    for cycle in 0..=CYCLES {
        let gw = ws.serve_env(&[], &[("MEDSETTLE_LOG", "warn")]);
        let addr = gw.addr;
        // 1. What died unanswered in the last cycle is sent again, unchanged.
        // 2. A few acknowledged requests are sent again: the very same bytes come back.
        let acked_so_far: Vec<Acked> = workers
            .iter()
            .flat_map(|w| w.ledger.acked.iter().cloned())
            .collect();
        let samples: Vec<Acked> = (0..4.min(acked_so_far.len()))
            .map(|_| acked_so_far[rng.random_range(0..acked_so_far.len())].clone())
            .collect();
        rt.block_on(async {
            for sent in pending.drain(..) {
                let (status, answer) = resend(addr, &tls, &sent).await;
                replays.answered(sent, status, answer);
            }
            for a in &samples {
                let (status, answer) = resend(addr, &tls, &a.sent).await;
                assert_eq!(status, 200, "{} {}", a.sent.code, a.sent.msgid);
                assert_eq!(
                    answer, a.answer,
                    "cycle {cycle}: an acknowledged request must replay byte-for-byte after restarts"
                );
                resent_identical += 1;
            }
        });
        if cycle == CYCLES {
            // The last start: nothing more to kill; stop it gracefully.
            let status = gw.terminate();
            assert!(
                status.success(),
                "graceful stop after the crash cycles: {status:?}"
            );
            break;
        }

        // 3. Load, then kill -9 at a random moment.
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = workers
            .drain(..)
            .map(|w| {
                let tls = tls[w.code].clone();
                rt.spawn(w.run(addr, tls, stop.clone()))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.random_range(20..=RUN_MS_MAX)));
        gw.kill9();
        stop.store(true, Ordering::SeqCst);
        workers = handles
            .into_iter()
            .map(|h| rt.block_on(h).expect("worker"))
            .collect();
        for w in &mut workers {
            pending.append(&mut w.ledger.unanswered);
        }
        let acked: usize = workers.iter().map(|w| w.ledger.acked.len()).sum();
        let before = last_offset;
        last_offset = check_stats(
            &ws,
            &mut consumers,
            last_offset,
            &format!("after kill {cycle}"),
        );
        if let Some(l) = last_offset
            && Some(l) != before
        {
            kill_boundaries.push(l);
        }
        eprintln!(
            "cycle {cycle}: {acked} acknowledged so far, {} unanswered at the kill, last offset {last_offset:?}",
            pending.len()
        );
    }
    check_stats(&ws, &mut consumers, last_offset, "after the final stop");
    eprintln!("consumer offsets after the final stop: {consumers:?}");
    // Resumption: `serve` catches its consumers up when it starts, so after the last start
    // (and its graceful stop) each consumer has read past everything journaled before it.
    // Active once a consumer runs in `serve` (the settlement engine); vacuous without one.
    let journaled_before_last_start = last_offset.map_or(0, |l| l + 1);
    for (name, offset) in &consumers {
        assert!(
            *offset >= journaled_before_last_start,
            "consumer {name} did not resume after the crashes: next offset {offset}, \
             but {journaled_before_last_start} records were journaled before the last start"
        );
    }

    // The proof.
    let export = ws.journal_export();
    let stats = ws.journal_stats();
    assert_eq!(
        stats["record_count"].as_u64(),
        Some(export.len() as u64),
        "{stats}"
    );
    let mut previous: Option<u64> = None;
    let mut by_key: HashMap<(String, String), Vec<&Value>> = HashMap::new();
    for r in &export {
        assert!(r.get("error").is_none(), "unreadable record: {r}");
        let offset = r["offset"].as_u64().expect("offset");
        assert!(
            previous.is_none_or(|p| offset > p),
            "offsets must strictly increase: {previous:?} then {offset}"
        );
        previous = Some(offset);
        // Records without a key are the consumers' own (e.g. engine progress), not requests.
        let (Some(code), Some(msgid)) = (r["fixmedins_code"].as_str(), r["msgid"].as_str()) else {
            assert!(
                !r["kind"].as_str().unwrap_or_default().starts_with("nhsa."),
                "a request record without its (fixmedins_code, msgid): {r}"
            );
            continue;
        };
        by_key
            .entry((code.to_owned(), msgid.to_owned()))
            .or_default()
            .push(r);
    }
    assert_eq!(stats["last_offset"].as_u64(), previous);
    // Ids minted from the id seed never repeat across kills: no two journaled visits share an
    // mdtrt_id, no two settlements a setl_id (the seed a journaled record used must be below
    // the next seed after any restart).
    let mut minted: HashMap<String, u64> = HashMap::new();
    let mut minted_by_infno: HashMap<&str, usize> = HashMap::new();
    // (offset, id seed) of every minted id: the seed is the id's last ten digits.
    let mut seeds: Vec<(u64, u64)> = Vec::new();
    for r in &export {
        let answer = &r["record"]["answer"]["output"];
        let (infno, id) = match r["record"]["infno"].as_str() {
            Some(n @ "2201") => (n, answer["data"]["mdtrt_id"].as_str()),
            Some(n @ "2207") => (n, answer["setlinfo"]["setl_id"].as_str()),
            _ => continue,
        };
        if let Some(id) = id {
            *minted_by_infno.entry(infno).or_default() += 1;
            let offset = r["offset"].as_u64().expect("offset");
            let seed = id[id.len().saturating_sub(10)..]
                .parse::<u64>()
                .unwrap_or_else(|e| panic!("id {id} does not end in its ten-digit seed: {e}"));
            seeds.push((offset, seed));
            if let Some(first) = minted.insert(id.to_owned(), offset) {
                panic!("id {id} minted twice: at offsets {first} and {offset}");
            }
        }
    }
    assert!(
        minted_by_infno.get("2201").is_some_and(|&n| n > 0)
            && minted_by_infno.get("2207").is_some_and(|&n| n > 0),
        "minted ids not found where expected: {minted_by_infno:?}"
    );
    // Stronger than uniqueness (ids also carry the time to the second): every seed a run used
    // is above every seed journaled before its start, i.e. the next seed survives kill -9.
    for &boundary in &kill_boundaries {
        let below = seeds
            .iter()
            .filter(|(o, _)| *o <= boundary)
            .map(|(_, s)| *s)
            .max();
        let above = seeds
            .iter()
            .filter(|(o, _)| *o > boundary)
            .map(|(_, s)| *s)
            .min();
        if let (Some(below), Some(above)) = (below, above) {
            assert!(
                above > below,
                "after the kill at offset {boundary} a seed was reused: {above} <= {below}"
            );
        }
    }
    assert!(kill_boundaries.len() > 1, "too few kills moved the journal");
    for (key, records) in &by_key {
        assert_eq!(
            records.len(),
            1,
            "{key:?} journaled {} times",
            records.len()
        );
    }

    // At-least-once consumption with idempotent effects: the settlement engine re-reads after
    // every crash, yet indexes each settled claim exactly once — as many as the journal holds
    // below its offset. (Checked while `medsettle settle status` reports the count.)
    if let Some(&engine_offset) = consumers.get("settlement-engine") {
        let status = run_ok(&[
            "settle",
            "status",
            "--config",
            ws.config().to_str().unwrap(),
        ]);
        let indexed = status.lines().find_map(|l| {
            l.strip_prefix("claims indexed for reconciliation: ")
                .map(|n| n.trim().parse::<usize>().expect("a count"))
        });
        let settled_below = export
            .iter()
            .filter(|r| r["kind"] == "nhsa.settlement")
            .filter(|r| r["offset"].as_u64().is_some_and(|o| o < engine_offset))
            .count();
        match indexed {
            Some(n) => assert_eq!(
                n, settled_below,
                "the engine indexed {n} claims for {settled_below} settlement records it has read:\n{status}"
            ),
            None => eprintln!("`settle status` reports no claim count; skipped:\n{status}"),
        }
    }

    let ledgers = workers.iter().map(|w| &w.ledger).chain([&replays]);
    let (mut acked, mut refused) = (0usize, 0usize);
    for ledger in ledgers {
        for a in &ledger.acked {
            let key = (a.sent.code.clone(), a.sent.msgid.clone());
            let records = by_key.get(&key).unwrap_or_else(|| {
                panic!(
                    "acknowledged {} {} ({}) is not in the journal",
                    key.0, key.1, a.sent.infno
                )
            });
            let record = &records[0]["record"];
            let answer: Value = serde_json::from_slice(&a.answer).unwrap();
            assert_eq!(
                record["answer"], answer,
                "{key:?}: the journal must hold the answer the client received"
            );
            let request: Value = serde_json::from_slice(&a.sent.body).unwrap();
            assert_eq!(record["request"], request, "{key:?}");
            assert_eq!(record["infno"], a.sent.infno.as_str());
            acked += 1;
        }
        for (sent, status, msg) in &ledger.refused {
            assert!(
                !by_key.contains_key(&(sent.code.clone(), sent.msgid.clone())),
                "{} {} was refused ({status}: {msg}) yet journaled",
                sent.code,
                sent.msgid
            );
            refused += 1;
        }
    }
    for (sent, status, msg) in workers
        .iter()
        .flat_map(|w| &w.ledger.deferred)
        .chain(&replays.deferred)
    {
        eprintln!(
            "deferred: {} {} ({}) → {status}: {msg}",
            sent.code, sent.msgid, sent.infno
        );
    }
    let settled = export
        .iter()
        .filter(|r| r["record"]["infno"] == "2207")
        .count();
    eprintln!(
        "crash test: {CYCLES} kills, {acked} acknowledged requests ({} after a resend), {settled} settlements, \
         {refused} refusals, {resent_identical} replays byte-identical, {} records, {:?}",
        replays.acked.len(),
        export.len(),
        started.elapsed()
    );
    assert!(
        acked > CYCLES,
        "the load was too light to prove anything: {acked} acknowledged"
    );
    assert!(settled > 0, "no visit got as far as its settlement");
}
