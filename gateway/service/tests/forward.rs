//! Forwarding end to end: real TLS on 127.0.0.1:0 (mutual TLS with the crate's development
//! PKI), a real sled store in a temporary directory, and a test double of the upstream that
//! can lose answers, stall, go down and answer with quirks.

use std::time::Duration;

use bytes::Bytes;
use medsettle_canonical::journal::{KIND_IN_DOUBT, KIND_REQUEST, KIND_SETTLEMENT};
use medsettle_canonical::{ExchangeRecord, Money};
use medsettle_server::pki::{DevPki, generate_dev_pki};
use medsettle_server::{Role, UpstreamClient, UpstreamConfig, UpstreamTif};
use medsettle_service::forward::KIND_NOT_SENT;
use medsettle_service::{Disposition, ForwardOutcome, ForwardRequest, ForwardSettings, Forwarder};
use medsettle_store::{SledStore, Store, StoreConfig};
use medsettle_testkit::upstream_double::{Double, SettleMode, TIF_REFUSED_BODY};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Safety net so a broken implementation fails instead of hanging; not a speed assertion.
const HANG_GUARD: Duration = Duration::from_secs(60);
/// Exchange deadline of the client under test: short so timeouts happen quickly.
const TEST_UPSTREAM_TIMEOUT_MS: u64 = 1_000;
/// How long the stalling double waits: far beyond the client's deadline.
const STALL: Duration = Duration::from_secs(20);
const CODE: &str = "H44030000001";
const PAASID: &str = "paas-gw";
const TOKEN: &str = "tif-s3cret";

fn request_2207(msgid: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"infno":"2207","msgid":"{msgid}","mdtrtarea_admvs":"440300","insuplc_admdvs":"440399","recer_sys_code":"YBXT","dev_no":"","dev_safe_info":"","cainfo":"","signtype":"","infver":"V1.0","opter_type":"1","opter":"0001","opter_name":"张三","inf_time":"2024-06-01 10:30:15","fixmedins_code":"{CODE}","fixmedins_name":"示例医院","sign_no":"440000202406010800000000000123","input":{{"data":{{"psn_no":"44000000000000000001","mdtrt_cert_type":"02","mdtrt_cert_no":"440300199001011234","med_type":"11","medfee_sumamt":100.00,"psn_setlway":"01","mdtrt_id":"440000000123","chrg_bchno":"CB0001","insutype":"310","acct_used_flag":"1","invono":"","fulamt_ownpay_amt":10.00,"overlmt_selfpay":0.00,"preselfpay_amt":5.00,"inscp_scp_amt":85.00}}}}}}"#
    ))
}

fn forward_request(infno: &str, msgid: &str, body: Bytes) -> ForwardRequest {
    ForwardRequest {
        body_sha256: Sha256::digest(&body).into(),
        raw_body: body,
        fixmedins_code: CODE.into(),
        msgid: msgid.into(),
        infno: infno.into(),
        psn_no: String::new(), // taken from the body, as the CLI may leave it
    }
}

struct Env {
    dir: tempfile::TempDir,
    pki: DevPki,
    double: Double,
}

impl Env {
    async fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let pki = generate_dev_pki(
            &dir.path().join("pki"),
            &["localhost", "127.0.0.1"],
            &[("gateway", Role::Peer, &[])],
        )
        .unwrap();
        let double = Double::start(&pki, Some((PAASID, TOKEN))).await;
        Env { dir, pki, double }
    }

    fn upstream_config(&self, url: &str, token: &str) -> UpstreamConfig {
        let gw = self.pki.client("gateway").unwrap();
        let mut c = UpstreamConfig::new(url, &self.pki.ca_cert);
        c.client_cert = Some(gw.cert.clone());
        c.client_key = Some(gw.key.clone());
        c.tif = Some(UpstreamTif {
            paasid: PAASID.into(),
            token: token.into(),
        });
        c.timeout_ms = TEST_UPSTREAM_TIMEOUT_MS;
        c.connect_timeout_ms = TEST_UPSTREAM_TIMEOUT_MS;
        c
    }

    fn forwarder_to(&self, url: &str, token: &str) -> Forwarder {
        let client = UpstreamClient::new(&self.upstream_config(url, token)).unwrap();
        let settings = ForwardSettings {
            reversal_first_delay_ms: 0,
            reversal_backoff_ms: 10,
            reversal_backoff_max_ms: 40,
            reversal_attempts_max: 2,
            ..ForwardSettings::default()
        };
        Forwarder::new(client, settings).unwrap()
    }

    fn forwarder(&self) -> Forwarder {
        self.forwarder_to(&self.double.url(), TOKEN)
    }

    fn store_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("store")
    }

    fn open_store(&self) -> SledStore {
        SledStore::open(&self.store_dir(), StoreConfig::default()).unwrap()
    }
}

async fn forward(f: &Forwarder, store: &dyn Store, req: ForwardRequest) -> ForwardOutcome {
    tokio::time::timeout(HANG_GUARD, f.forward(store, req))
        .await
        .expect("forward finished")
}

/// Every journal record keyed by `(CODE, msgid)`: `(offset, kind, payload)`.
fn records_for(store: &dyn Store, msgid: &str) -> Vec<(u64, String, ExchangeRecord)> {
    store
        .export(0)
        .map(|r| r.unwrap())
        .filter(|(_, rec)| {
            rec.key
                .as_ref()
                .is_some_and(|(c, m)| c == CODE && m == msgid)
        })
        .map(|(off, rec)| {
            let payload: ExchangeRecord = serde_json::from_slice(&rec.payload).unwrap();
            (off, rec.kind, payload)
        })
        .collect()
}

fn json(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap()
}

fn assert_no_pending(store: &dyn Store) {
    let pending = Forwarder::pending_in_doubt(store).unwrap();
    assert!(pending.is_empty(), "pending in doubt: {pending:?}");
}

/// Issue 20: an upstream answer in a province's shape (`psn_part_amt: null`, determined by
/// `acct_pay` + `psn_cash_pay`) is relayed verbatim, settled into a claim with the part
/// derived, and the journal record says what was repaired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provincial_answer_is_journaled_with_its_repair() {
    let env = Env::new().await;
    env.double.state.set_mode(SettleMode::Provincial);
    let store = env.open_store();
    let f = env.forwarder();
    let msgid = "H44030000001202406011030150009";
    let out = forward(
        &f,
        &store,
        forward_request("2207", msgid, request_2207(msgid)),
    )
    .await;
    assert_eq!(out.disposition, Disposition::Relayed);
    let sent = env.double.state.answers.lock().unwrap()[msgid].clone();
    assert_eq!(out.answer_bytes, sent, "upstream's bytes, verbatim");
    assert!(
        std::str::from_utf8(&sent)
            .unwrap()
            .contains(r#""psn_part_amt":null"#)
    );
    let claim = out.claim.expect("a canonical claim");
    assert_eq!(claim.amounts.psn_part_amt, Money::from_fen(4_050));
    let recs = records_for(&store, msgid);
    let settled = recs
        .iter()
        .find(|r| r.1 == KIND_SETTLEMENT)
        .expect("settlement record");
    let repairs = &settled.2.repairs;
    assert_eq!(repairs.len(), 1, "{repairs:?}");
    assert_eq!(repairs[0].repair, "derived");
    assert!(repairs[0].path.ends_with("psn_part_amt"), "{repairs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quirky_answer_is_relayed_verbatim_and_journaled_as_the_canonical_claim() {
    let env = Env::new().await;
    env.double.state.set_mode(SettleMode::Quirky);
    let store = std::sync::Arc::new(env.open_store());
    let f = env.forwarder();
    let msgid = "H44030000001202406011030150001";
    // When the settlement reaches upstream, the gateway's in-doubt record must already be
    // durable (read_from only returns durable records) and the marker set.
    let probe_store = store.clone();
    *env.double.state.probe.lock().unwrap() = Some(std::sync::Arc::new(move |m: &str| {
        let durable_marker = probe_store
            .read_from(0, 1_000)
            .unwrap()
            .iter()
            .any(|(_, r)| r.kind == KIND_IN_DOUBT && r.key.as_ref().is_some_and(|(_, k)| k == m));
        let pending = Forwarder::pending_in_doubt(&*probe_store)
            .unwrap()
            .iter()
            .any(|e| e.msgid == m);
        durable_marker && pending
    }));

    let out = forward(
        &f,
        &*store,
        forward_request("2207", msgid, request_2207(msgid)),
    )
    .await;
    assert_eq!(
        *env.double.state.probe_results.lock().unwrap(),
        vec![(msgid.to_owned(), true)],
        "the in-doubt marker was durable before the settlement was sent"
    );

    assert_eq!(out.disposition, Disposition::Relayed);
    assert_eq!(out.http_status, 200);
    let sent = env.double.state.answers.lock().unwrap()[msgid].clone();
    assert_eq!(
        out.answer_bytes, sent,
        "upstream bytes must be relayed byte for byte"
    );
    let text = std::str::from_utf8(&out.answer_bytes).unwrap();
    assert!(
        text.contains(r#""infcode" : "0""#) && text.contains("x_province_trace"),
        "{text}"
    );
    let claim = out.claim.expect("a canonical claim");
    assert_eq!(claim.msgid, msgid);
    assert_eq!(claim.amounts.medfee_sumamt, Money::from_fen(10_000));
    assert_eq!(claim.amounts.psn_cash_pay, Money::from_fen(1_050));

    // Journal: the in-doubt marker was durable before the settlement record, which holds the
    // claim, and the marker is cleared.
    let store = &*store;
    let recs = records_for(store, msgid);
    let marker = recs
        .iter()
        .find(|r| r.1 == KIND_IN_DOUBT)
        .expect("in-doubt record");
    let settled = recs
        .iter()
        .find(|r| r.1 == KIND_SETTLEMENT)
        .expect("settlement record");
    assert!(marker.0 < settled.0);
    assert!(marker.2.answer.is_null());
    assert_eq!(settled.2.claim.as_ref(), Some(&claim));
    assert_eq!(settled.2.core, "forwarded");
    assert_eq!(
        settled.2.answer["infcode"], "0",
        "journal keeps upstream's answer"
    );
    assert_no_pending(store);

    let st = &env.double.state;
    assert_eq!(st.booked(msgid).settled, 1);
    assert!(!st.booked(msgid).reversed);
    assert_eq!(st.reversals_of(msgid), 0);
    assert_eq!(st.tif_verified.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(st.tif_refused.load(std::sync::atomic::Ordering::SeqCst), 0);
    // single-endpoint path style
    assert_eq!(
        st.seen.lock().unwrap()[0].2,
        "/fsi/api/rsfComIfsService/callService"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_msgid_gets_the_same_bytes_without_calling_upstream() {
    let env = Env::new().await;
    let store = env.open_store();
    let f = env.forwarder();
    let msgid = "H44030000001202406011030150002";
    let first = forward(
        &f,
        &store,
        forward_request("2207", msgid, request_2207(msgid)),
    )
    .await;
    assert_eq!(first.disposition, Disposition::Relayed);
    assert_eq!(env.double.state.requests(), 1);

    let again = forward(
        &f,
        &store,
        forward_request("2207", msgid, request_2207(msgid)),
    )
    .await;
    assert_eq!(again.disposition, Disposition::Replayed);
    assert_eq!(again.answer_bytes, first.answer_bytes);
    assert_eq!(again.http_status, 200);
    assert!(
        again.claim.is_none(),
        "a replay must not produce the claim twice"
    );

    // Same msgid, different body: refused, upstream not called either.
    let other = request_2207(msgid).slice(..).to_vec();
    let other = String::from_utf8(other).unwrap().replace("张三", "王五");
    let conflict = forward(
        &f,
        &store,
        forward_request("2207", msgid, Bytes::from(other)),
    )
    .await;
    assert_eq!(conflict.disposition, Disposition::Conflict);
    assert_eq!(conflict.http_status, 409);
    assert!(
        json(&conflict.answer_bytes)["err_msg"]
            .as_str()
            .unwrap()
            .starts_with("[GW-IDEMPOTENCY]")
    );

    assert_eq!(
        env.double.state.requests(),
        1,
        "upstream called once in all"
    );
    assert_eq!(env.double.state.booked(msgid).settled, 1);
    // A restarted gateway still knows the answer.
    drop(store);
    let store = env.open_store();
    let after_restart = forward(
        &f,
        &store,
        forward_request("2207", msgid, request_2207(msgid)),
    )
    .await;
    assert_eq!(after_restart.answer_bytes, first.answer_bytes);
    assert_eq!(env.double.state.requests(), 1);
}

/// Shared assertions for an exchange that lost its answer and was resolved by 2601.
fn assert_resolved_by_one_2601(env: &Env, store: &dyn Store, msgid: &str, out: &ForwardOutcome) {
    let st = &env.double.state;
    assert_eq!(st.reversals_of(msgid), 1, "exactly one 2601 for the msgid");
    let answer = json(&out.answer_bytes);
    assert_eq!(answer["infcode"], -1, "the caller gets an error");
    let err = answer["err_msg"].as_str().unwrap();
    assert!(err.starts_with("[GW-UNAVAILABLE]"), "{err}");
    assert!(err.contains("did not complete upstream"), "{err}");

    let recs = records_for(store, msgid);
    assert!(
        recs.iter()
            .all(|r| r.1 != KIND_SETTLEMENT && r.2.claim.is_none()),
        "no settlement claim may be journaled for an unanswered exchange"
    );
    let resolution = recs
        .iter()
        .find(|r| r.1 == KIND_REQUEST && r.2.infno == "2601")
        .expect("the 2601 exchange is journaled under the original msgid");
    assert_eq!(resolution.2.request["input"]["data"]["omsgid"], msgid);
    assert_eq!(resolution.2.request["input"]["data"]["oinfno"], "2207");
    assert_eq!(
        resolution.2.request["input"]["data"]["psn_no"],
        "44000000000000000001"
    );
    let reversal_msgid = resolution.2.request["msgid"].as_str().unwrap();
    assert!(
        reversal_msgid.starts_with(CODE) && reversal_msgid.len() == 30 && reversal_msgid != msgid
    );
    assert_no_pending(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_answer_is_reversed_by_2601_before_the_caller_gets_an_error() {
    let env = Env::new().await;
    env.double.state.set_mode(SettleMode::DropAfterSettling);
    let store = env.open_store();
    let f = env.forwarder();
    let msgid = "H44030000001202406011030150003";

    let out = forward(
        &f,
        &store,
        forward_request("2207", msgid, request_2207(msgid)),
    )
    .await;

    assert_eq!(out.disposition, Disposition::Reversed);
    assert_eq!(out.http_status, 502);
    assert!(out.claim.is_none());
    let st = &env.double.state;
    assert_eq!(st.booked(msgid).settled, 1, "upstream did settle");
    assert!(st.booked(msgid).reversed, "upstream's net state: reversed");
    assert!(
        json(&out.answer_bytes)["err_msg"]
            .as_str()
            .unwrap()
            .contains("was reversed")
    );
    assert_resolved_by_one_2601(&env, &store, msgid, &out);

    // The caller retries the msgid: the same error, no second settlement, no second 2601.
    let requests = st.requests();
    let again = forward(
        &f,
        &store,
        forward_request("2207", msgid, request_2207(msgid)),
    )
    .await;
    assert_eq!(again.disposition, Disposition::Replayed);
    assert_eq!(again.answer_bytes, out.answer_bytes);
    assert_eq!(again.http_status, 502);
    assert_eq!(st.requests(), requests);
    assert_eq!(st.booked(msgid).settled, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_later_than_the_deadline_is_reversed_too() {
    let env = Env::new().await;
    env.double.state.set_mode(SettleMode::Delay(STALL));
    let store = env.open_store();
    let f = env.forwarder();
    let msgid = "H44030000001202406011030150004";

    let out = forward(
        &f,
        &store,
        forward_request("2207", msgid, request_2207(msgid)),
    )
    .await;

    assert_eq!(out.disposition, Disposition::Reversed);
    assert_eq!(out.http_status, 504);
    assert!(env.double.state.booked(msgid).reversed);
    assert_resolved_by_one_2601(&env, &store, msgid, &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_to_reverse_when_upstream_never_settled() {
    let env = Env::new().await;
    env.double.state.set_mode(SettleMode::DropBeforeSettling);
    let store = env.open_store();
    let f = env.forwarder();
    let msgid = "H44030000001202406011030150005";

    let out = forward(
        &f,
        &store,
        forward_request("2207", msgid, request_2207(msgid)),
    )
    .await;

    assert_eq!(out.disposition, Disposition::NothingToReverse);
    assert_eq!(env.double.state.booked(msgid).settled, 0);
    assert_resolved_by_one_2601(&env, &store, msgid, &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_during_2601_keeps_the_marker_until_the_resolver_finishes_after_restart() {
    let env = Env::new().await;
    let st = env.double.state.clone();
    st.set_mode(SettleMode::DropAfterSettling);
    st.go_down_after_drop
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let msgid = "H44030000001202406011030150006";
    let store = env.open_store();
    let f = env.forwarder();

    let out = forward(
        &f,
        &store,
        forward_request("2207", msgid, request_2207(msgid)),
    )
    .await;

    assert_eq!(out.disposition, Disposition::InDoubt);
    assert!(out.http_status == 502 || out.http_status == 504);
    let answer = json(&out.answer_bytes);
    assert_eq!(answer["infcode"], -1);
    assert!(
        answer["err_msg"].as_str().unwrap().contains("unknown"),
        "{answer}"
    );
    assert_eq!(st.booked(msgid).settled, 1);
    assert!(!st.booked(msgid).reversed);
    assert_eq!(
        st.reversals_of(msgid),
        0,
        "no 2601 reached the downed upstream"
    );
    let pending = Forwarder::pending_in_doubt(&store).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].msgid, msgid);
    assert_eq!(pending[0].infno, "2207");
    assert!(
        records_for(&store, msgid)
            .iter()
            .all(|r| r.1 != KIND_SETTLEMENT)
    );

    // The HIS retries the same msgid while upstream is still down: the settlement is not
    // sent again; the gateway only tries to reverse.
    let retry = forward(
        &f,
        &store,
        forward_request("2207", msgid, request_2207(msgid)),
    )
    .await;
    assert_eq!(retry.disposition, Disposition::InDoubt);
    assert_eq!(st.booked(msgid).settled, 1);

    // Crash and restart: the marker is durable; a new gateway resolves it at start.
    drop(f);
    drop(store);
    let store = env.open_store();
    st.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let f = env.forwarder();
    let report = tokio::time::timeout(HANG_GUARD, f.resolve_in_doubt(&store))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.examined, 1);
    assert_eq!(report.reversed, 1, "{report:?}");
    assert_eq!(report.still_pending, 0);
    assert!(st.booked(msgid).reversed, "upstream's net state: reversed");
    assert_eq!(st.reversals_of(msgid), 1);
    assert_no_pending(&store);

    // The caller's next retry gets the resolution, from the journal.
    let requests = st.requests();
    let last = forward(
        &f,
        &store,
        forward_request("2207", msgid, request_2207(msgid)),
    )
    .await;
    assert_eq!(last.disposition, Disposition::Replayed);
    assert!(
        json(&last.answer_bytes)["err_msg"]
            .as_str()
            .unwrap()
            .contains("was reversed")
    );
    assert_eq!(st.requests(), requests, "upstream not called again");
    assert_resolved_by_one_2601(&env, &store, msgid, &last);

    // A second pass has nothing to do.
    let idle = f.resolve_in_doubt(&store).await.unwrap();
    assert_eq!(idle.examined, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_is_not_in_doubt() {
    let env = Env::new().await;
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let store = env.open_store();
    let f = env.forwarder_to(&format!("https://127.0.0.1:{port}"), TOKEN);
    let msgid = "H44030000001202406011030150007";

    let out = forward(
        &f,
        &store,
        forward_request("2207", msgid, request_2207(msgid)),
    )
    .await;

    assert_eq!(out.disposition, Disposition::NotSent);
    assert_eq!(out.http_status, 502);
    assert_no_pending(&store);
    let kinds: Vec<String> = records_for(&store, msgid)
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(
        kinds,
        vec![KIND_IN_DOUBT.to_owned(), KIND_NOT_SENT.to_owned()]
    );
    // Not stored as an answer: the caller may retry the same msgid once upstream is back.
    assert!(store.lookup_idempotent(CODE, msgid).unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_tif_headers_are_checked_by_upstream_and_refusals_relayed_verbatim() {
    let env = Env::new().await;
    let store = env.open_store();
    let wrong = env.forwarder_to(&env.double.url(), "not-the-token");
    let body = Bytes::from_static(
        br#"{"infno":"1101","msgid":"H44030000001202406011030150008","fixmedins_code":"H44030000001","input":{"data":{"mdtrt_cert_type":"02","mdtrt_cert_no":"440300199001011234"}}}"#,
    );
    let out = forward(
        &wrong,
        &store,
        forward_request("1101", "H44030000001202406011030150008", body),
    )
    .await;
    assert_eq!(out.disposition, Disposition::Relayed);
    assert_eq!(out.http_status, 401, "upstream's status is relayed");
    assert_eq!(out.answer_bytes, TIF_REFUSED_BODY.as_bytes());
    let st = &env.double.state;
    assert_eq!(st.tif_refused.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(
        st.requests(),
        0,
        "a refused signature never reaches the business"
    );

    // With the right token the same kind of request passes the double's check.
    let right = env.forwarder();
    let body = Bytes::from_static(
        br#"{"infno":"1101","msgid":"H44030000001202406011030150009","fixmedins_code":"H44030000001","input":{"data":{"mdtrt_cert_type":"02","mdtrt_cert_no":"440300199001011234"}}}"#,
    );
    let ok = forward(
        &right,
        &store,
        forward_request("1101", "H44030000001202406011030150009", body),
    )
    .await;
    assert_eq!(ok.http_status, 200);
    assert_eq!(st.tif_verified.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(st.requests(), 1);
}

#[test]
fn per_service_paths_name_the_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let pki = generate_dev_pki(dir.path(), &["localhost"], &[]).unwrap();
    let mut c = UpstreamConfig::new("https://fsi.example.cn/ebus/rio_fsi/", &pki.ca_cert);
    c.path_style = medsettle_server::PathStyle::PerService;
    let client = UpstreamClient::new(&c)
        .unwrap()
        .with_service_paths(medsettle_service::national_paths());
    assert_eq!(
        client.path_for("2207").unwrap(),
        "/ebus/rio_fsi/fsi/api/outpatientSettleService/saveSettletmentV2"
    );
    assert_eq!(
        client.path_for("2601").unwrap(),
        "/ebus/rio_fsi/fsi/api/reverseService/revsMethod"
    );
    assert!(client.path_for("9999").is_err());
    c.path_style = medsettle_server::PathStyle::Exact;
    assert_eq!(
        UpstreamClient::new(&c).unwrap().path_for("2207").unwrap(),
        "/ebus/rio_fsi"
    );
}
