//! End-to-end forwarding (F3): the real gateway forwards settlements of a pool region to an
//! upstream national-interface endpoint (a test double), relays its answers, journals the
//! canonical claim, and resolves a lost answer with 2601 before answering the caller.

mod common;

use bytes::Bytes;
use common::his::HisConnection;
use common::*;
use medsettle_server::Role;
use medsettle_server::pki::generate_dev_pki;
use medsettle_testkit::upstream_double::{Double, SettleMode};
use serde_json::Value;

const CODE: &str = "H44030000001";
const PAASID: &str = "paas-gw";
const TOKEN: &str = "tif-s3cret";

/// A 2207 of a person insured in Chongqing (500000): forwarded, not settled locally.
fn request_2207(msgid: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"infno":"2207","msgid":"{msgid}","mdtrtarea_admvs":"440300","insuplc_admdvs":"500000","recer_sys_code":"YBXT","dev_no":"","dev_safe_info":"","cainfo":"","signtype":"","infver":"V1.0","opter_type":"1","opter":"0001","opter_name":"张三","inf_time":"2026-11-20 10:30:15","fixmedins_code":"{CODE}","fixmedins_name":"深圳市示例第一人民医院","sign_no":"","input":{{"data":{{"psn_no":"50000000000000000001","mdtrt_cert_type":"02","mdtrt_cert_no":"500101199001011234","med_type":"11","medfee_sumamt":100.00,"psn_setlway":"01","mdtrt_id":"500000000123","chrg_bchno":"CB0001","insutype":"310","acct_used_flag":"0","invono":"","fulamt_ownpay_amt":10.00,"overlmt_selfpay":0.00,"preselfpay_amt":5.00,"inscp_scp_amt":85.00}}}}}}"#
    ))
}

fn infcode(v: &Value) -> i64 {
    match &v["infcode"] {
        Value::String(s) => s.parse().unwrap(),
        other => other.as_i64().unwrap(),
    }
}

#[test]
fn forwards_relays_journals_and_resolves_a_lost_answer_with_2601() {
    let ws = Workspace::init();
    let rt = runtime();
    let upstream_pki = generate_dev_pki(
        &ws.path().join("upstream-pki"),
        &["localhost", "127.0.0.1"],
        &[("gateway", Role::Peer, &[])],
    )
    .unwrap();
    let double = rt.block_on(Double::start(&upstream_pki, Some((PAASID, TOKEN))));
    let gw_cert = upstream_pki.client("gateway").unwrap();
    let forward = format!(
        r#"
[[forward]]
admdvs = ["50"]
[forward.upstream]
url = "{url}"
ca_bundle = "{ca}"
client_cert = "{cert}"
client_key = "{key}"
timeout_ms = 1000
connect_timeout_ms = 1000
[forward.upstream.tif]
paasid = "{PAASID}"
token = "{TOKEN}"
[forward.settings]
reversal_first_delay_ms = 0
reversal_backoff_ms = 10
reversal_backoff_max_ms = 40
reversal_attempts_max = 2
"#,
        url = double.url(),
        ca = upstream_pki.ca_cert.display(),
        cert = gw_cert.cert.display(),
        key = gw_cert.key.display(),
    );
    let mut config = std::fs::read_to_string(ws.config()).unwrap();
    config.push_str(&forward);
    std::fs::write(ws.config(), config).unwrap();

    let gw = ws.serve(&[]);
    let ok_msgid = format!("{CODE}202611201030150001");
    let lost_msgid = format!("{CODE}202611201030150002");
    let (first, replay, lost) = rt.block_on(async {
        let mut conn = HisConnection::connect(gw.addr, ws.tls_for(CODE))
            .await
            .unwrap();
        let path = common::his::CALL_SERVICE_PATH;
        let first = conn.post(path, request_2207(&ok_msgid)).await.unwrap();
        let replay = conn.post(path, request_2207(&ok_msgid)).await.unwrap();
        double.state.set_mode(SettleMode::DropAfterSettling);
        let lost = conn.post(path, request_2207(&lost_msgid)).await.unwrap();
        (first, replay, lost)
    });

    // Relayed: upstream's answer, and the same bytes again for the same msgid without a second
    // upstream settlement.
    assert_eq!(first.0, 200);
    let answer: Value = serde_json::from_slice(&first.1).unwrap();
    assert_eq!(infcode(&answer), 0, "{answer}");
    assert_eq!(replay, first, "a replay returns the stored bytes");
    assert_eq!(double.state.booked(&ok_msgid).settled, 1);

    // Lost answer: upstream settled, the gateway never saw the answer, so it reversed the
    // settlement with 2601 before telling the HIS it failed.
    assert!(lost.0 >= 500, "status {}", lost.0);
    let lost_answer: Value = serde_json::from_slice(&lost.1).unwrap();
    assert_eq!(infcode(&lost_answer), -1);
    assert_eq!(double.state.reversals_of(&lost_msgid), 1);
    assert!(
        double.state.booked(&lost_msgid).reversed,
        "upstream's net state is reversed"
    );

    assert!(gw.terminate().success());
    let export = run_ok(&[
        "journal",
        "export",
        "--config",
        ws.config().to_str().unwrap(),
    ]);
    let records: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let claims: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "nhsa.settlement")
        .collect();
    assert_eq!(
        claims.len(),
        1,
        "only the relayed settlement is a claim: {export}"
    );
    let claim = &claims[0]["record"];
    assert_eq!(claim["core"], "forwarded");
    assert_eq!(claim["claim"]["msgid"], ok_msgid.as_str());
    assert_eq!(claim["claim"]["medfee_sumamt"], 10_000, "normalized to fen");
    // No exchange is left in doubt.
    let store = medsettle_store::SledStore::open(
        &ws.path().join("data/journal"),
        medsettle_store::StoreConfig::default(),
    )
    .unwrap();
    use medsettle_store::Store;
    assert_eq!(store.scan_prefix("fwd.in_doubt", b"").unwrap().count(), 0);
}
