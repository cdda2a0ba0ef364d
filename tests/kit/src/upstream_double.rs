//! A test double of the national platform: an mTLS HTTP/1.1 server (the crate's own rustls
//! server configuration, a minimal hyper accept loop so it can drop connections) that
//! settles 2207/2304, reverses by 2601, verifies x-tif headers, and keeps a book of what it
//! did per msgid — the "upstream's net state" the forwarding tests assert on.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use medsettle_server::config::TlsMaterial;
use medsettle_server::pki::DevPki;
use medsettle_server::tif::{TifClient, TifOutcome, TifVerifier};
use medsettle_server::tls;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// How the double treats settling requests (2207/2304).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleMode {
    /// Settle and answer a canonical-looking envelope.
    Normal,
    /// Settle and answer a valid envelope with quirks: `infcode` as text, `err_msg` "成功",
    /// unknown fields, unusual whitespace.
    Quirky,
    /// Settle and answer as one province does: `psn_part_amt` is `null` although `acct_pay`
    /// and `psn_cash_pay` determine it.
    Provincial,
    /// Settle, then close the connection without answering (lost response).
    DropAfterSettling,
    /// Close the connection without settling (the request never reached the business).
    DropBeforeSettling,
    /// Settle, then answer only after this delay.
    Delay(Duration),
}

/// What the double did for one settlement msgid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Booked {
    pub settled: u32,
    pub reversed: bool,
}

/// See [`DoubleState::probe`].
pub type Probe = Arc<dyn Fn(&str) -> bool + Send + Sync>;

pub struct DoubleState {
    pub settle_mode: Mutex<SettleMode>,
    /// Refuse everything: new connections are closed before TLS, requests on open
    /// connections are dropped unprocessed.
    pub down: AtomicBool,
    /// Go down right after dropping a settlement's answer (upstream dies mid-exchange).
    pub go_down_after_drop: AtomicBool,
    pub book: Mutex<HashMap<String, Booked>>,
    /// 2601 requests processed, by `omsgid`.
    pub reversals: Mutex<HashMap<String, u32>>,
    /// Exact answer bytes sent, by msgid.
    pub answers: Mutex<HashMap<String, Bytes>>,
    /// `(infno, msgid, path)` of every request that passed the x-tif check.
    pub seen: Mutex<Vec<(String, String, String)>>,
    pub tif_verified: AtomicUsize,
    pub tif_refused: AtomicUsize,
    /// Called with the msgid when a settlement arrives, before it is processed; its answers
    /// are kept in `probe_results` (tests check the gateway's journal at that moment).
    pub probe: Mutex<Option<Probe>>,
    pub probe_results: Mutex<Vec<(String, bool)>>,
    tif: Option<TifClient>,
    verifier: TifVerifier,
    setl_seq: AtomicU64,
}

impl DoubleState {
    pub fn booked(&self, msgid: &str) -> Booked {
        self.book
            .lock()
            .unwrap()
            .get(msgid)
            .copied()
            .unwrap_or_default()
    }
    pub fn reversals_of(&self, msgid: &str) -> u32 {
        self.reversals
            .lock()
            .unwrap()
            .get(msgid)
            .copied()
            .unwrap_or(0)
    }
    pub fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
    pub fn set_mode(&self, m: SettleMode) {
        *self.settle_mode.lock().unwrap() = m;
    }
}

pub struct Double {
    pub addr: SocketAddr,
    pub state: Arc<DoubleState>,
    task: JoinHandle<()>,
}

impl Drop for Double {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The x-tif body the double answers a refused signature with (not a national envelope:
/// gateways in front of the platform answer in their own shape).
pub const TIF_REFUSED_BODY: &str = r#"{"code":401,"message":"x-tif signature refused"}"#;

impl Double {
    /// Start on 127.0.0.1:0 with the PKI's server certificate, requiring client certificates
    /// from its CA. `tif` = `(paasid, token)` to require.
    pub async fn start(pki: &DevPki, tif: Option<(&str, &str)>) -> Double {
        let material = TlsMaterial {
            server_chain: tls::load_certificates(&pki.server_cert).unwrap(),
            server_key: tls::load_private_key(&pki.server_key).unwrap(),
            client_roots: tls::load_certificates(&pki.ca_cert).unwrap(),
        };
        let acceptor = TlsAcceptor::from(tls::server_config(&material).unwrap());
        let state = Arc::new(DoubleState {
            settle_mode: Mutex::new(SettleMode::Normal),
            down: AtomicBool::new(false),
            go_down_after_drop: AtomicBool::new(false),
            book: Mutex::new(HashMap::new()),
            reversals: Mutex::new(HashMap::new()),
            answers: Mutex::new(HashMap::new()),
            seen: Mutex::new(Vec::new()),
            tif_verified: AtomicUsize::new(0),
            tif_refused: AtomicUsize::new(0),
            probe: Mutex::new(None),
            probe_results: Mutex::new(Vec::new()),
            tif: tif.map(|(paasid, token)| TifClient {
                paasid: paasid.into(),
                token: token.into(),
                required: true,
            }),
            verifier: TifVerifier::new(300, 128, 10_000),
            setl_seq: AtomicU64::new(1),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if st.down.load(Ordering::SeqCst) {
                        return; // closes the socket before any TLS byte
                    }
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let kill = Arc::new(Notify::new());
                    let (st2, kill2) = (st.clone(), kill.clone());
                    let svc = service_fn(move |req| handle(st2.clone(), kill2.clone(), req));
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc);
                    // Dropping the connection future closes the socket without an answer.
                    tokio::select! {
                        _ = conn => {}
                        () = kill.notified() => {}
                    }
                });
            }
        });
        Double { addr, state, task }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }
}

type Answer = Result<Response<Full<Bytes>>, Infallible>;

fn respond(status: StatusCode, body: Bytes) -> Answer {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json;charset=UTF-8")
        .body(Full::new(body))
        .unwrap())
}

/// Close this connection without an answer and never complete.
async fn drop_connection(kill: &Notify) -> Answer {
    kill.notify_one();
    std::future::pending().await
}

async fn handle(st: Arc<DoubleState>, kill: Arc<Notify>, req: Request<Incoming>) -> Answer {
    if st.down.load(Ordering::SeqCst) {
        return drop_connection(&kill).await;
    }
    if let Some(tif) = &st.tif {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        match st.verifier.check("gateway", tif, req.headers(), now) {
            Ok(TifOutcome::Verified) => {
                st.tif_verified.fetch_add(1, Ordering::SeqCst);
            }
            _ => {
                st.tif_refused.fetch_add(1, Ordering::SeqCst);
                return respond(
                    StatusCode::UNAUTHORIZED,
                    Bytes::from_static(TIF_REFUSED_BODY.as_bytes()),
                );
            }
        }
    }
    let path = req.uri().path().to_owned();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap();
    let infno = v["infno"].as_str().unwrap_or_default().to_owned();
    let msgid = v["msgid"].as_str().unwrap_or_default().to_owned();
    st.seen
        .lock()
        .unwrap()
        .push((infno.clone(), msgid.clone(), path));
    match infno.as_str() {
        "2207" | "2304" => {
            let probe = st.probe.lock().unwrap().clone();
            if let Some(probe) = probe {
                let seen = probe(&msgid);
                st.probe_results.lock().unwrap().push((msgid.clone(), seen));
            }
            let mode = *st.settle_mode.lock().unwrap();
            if mode == SettleMode::DropBeforeSettling {
                return drop_connection(&kill).await;
            }
            st.book
                .lock()
                .unwrap()
                .entry(msgid.clone())
                .or_default()
                .settled += 1;
            match mode {
                SettleMode::DropAfterSettling => {
                    if st.go_down_after_drop.load(Ordering::SeqCst) {
                        st.down.store(true, Ordering::SeqCst);
                    }
                    return drop_connection(&kill).await;
                }
                SettleMode::Delay(d) => tokio::time::sleep(d).await,
                _ => {}
            }
            let seq = st.setl_seq.fetch_add(1, Ordering::SeqCst);
            let answer = settlement_answer(&v, seq, mode == SettleMode::Quirky);
            let answer = if mode == SettleMode::Provincial {
                let text = String::from_utf8(answer.to_vec()).expect("utf-8");
                Bytes::from(text.replacen(r#""psn_part_amt":40.50"#, r#""psn_part_amt":null"#, 1))
            } else {
                answer
            };
            st.answers.lock().unwrap().insert(msgid, answer.clone());
            respond(StatusCode::OK, answer)
        }
        "2601" => {
            let omsgid = v["input"]["data"]["omsgid"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            *st.reversals
                .lock()
                .unwrap()
                .entry(omsgid.clone())
                .or_default() += 1;
            let mut book = st.book.lock().unwrap();
            let answer = match book.get_mut(&omsgid) {
                Some(b) if b.settled > 0 && !b.reversed => {
                    b.reversed = true;
                    envelope(r#""infcode":0"#, r#""err_msg":"""#, "{}")
                }
                Some(_) => envelope(r#""infcode":-1"#, r#""err_msg":"原交易已冲正""#, "null"),
                None => envelope(r#""infcode":-1"#, r#""err_msg":"原交易不存在""#, "null"),
            };
            st.answers.lock().unwrap().insert(msgid, answer.clone());
            respond(StatusCode::OK, answer)
        }
        _ => respond(
            StatusCode::OK,
            envelope(r#""infcode":0"#, r#""err_msg":"""#, "{}"),
        ),
    }
}

fn envelope(infcode: &str, err_msg: &str, output: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{{infcode},"inf_refmsgid":"440300202406011030160000000001","refmsg_time":"20240601103016001","respond_time":"20240601103016250",{err_msg},"output":{output}}}"#
    ))
}

/// A 2207/2304 answer for the request `v`: the §5.1 B amounts (consistent with the §2.5
/// identities and with the §5.1 A request), `medins_setl_id` = the request msgid, ids echoed.
fn settlement_answer(v: &Value, seq: u64, quirky: bool) -> Bytes {
    let data = &v["input"]["data"];
    let msgid = v["msgid"].as_str().unwrap_or_default();
    let psn_no = data["psn_no"].as_str().unwrap_or_default();
    let mdtrt_id = data["mdtrt_id"].as_str().unwrap_or_default();
    let setl_id = format!("4400{seq:08}");
    let setlinfo = format!(
        r#"{{"mdtrt_id":"{mdtrt_id}","setl_id":"{setl_id}","psn_no":"{psn_no}","psn_name":"李四","psn_cert_type":"01","certno":"440300199001011234","gend":"1","naty":"01","brdy":"1990-01-01","age":34.0,"insutype":"310","psn_type":"1101","cvlserv_flag":"0","setl_time":"2024-06-01 10:30:16","mdtrt_cert_type":"02","med_type":"11","medfee_sumamt":100.00,"fulamt_ownpay_amt":10.00,"overlmt_selfpay":0.00,"preselfpay_amt":5.00,"inscp_scp_amt":85.00,"act_pay_dedc":0.00,"hifp_pay":59.50,"pool_prop_selfpay":0.7000,"cvlserv_pay":0,"hifes_pay":0,"hifmi_pay":0,"hifob_pay":0,"maf_pay":0,"oth_pay":0,"fund_pay_sumamt":59.50,"psn_part_amt":40.50,"acct_pay":30.00,"psn_cash_pay":10.50,"hosp_part_amt":0,"balc":970.00,"acct_mulaid_pay":0,"medins_setl_id":"{msgid}","clr_optins":"440399","clr_way":"1","clr_type":"11"}}"#
    );
    let setldetail = r#"[{"fund_pay_type":"310100","inscp_scp_amt":85.00,"crt_payb_lmt_amt":null,"fund_payamt":59.50,"fund_pay_type_name":"职工基本医疗保险统筹基金","setl_proc_info":null},{"fund_pay_type":"310200","inscp_scp_amt":85.00,"crt_payb_lmt_amt":null,"fund_payamt":30.00,"fund_pay_type_name":"职工基本医疗保险个人账户基金","setl_proc_info":null}]"#;
    let text = if quirky {
        format!(
            "{{ \"infcode\" : \"0\",\n  \"inf_refmsgid\":\"440300202406011030160000000001\",\"refmsg_time\":\"20240601103016001\",\"respond_time\":\"20240601103016250\",\"err_msg\":\"成功\",\"warn_msg\":null,\"x_province_trace\":{{\"node\":\"gd-03\",\"ms\":17}},\n  \"output\" : {{\"setlinfo\":{setlinfo},\"setldetail\":{setldetail}}} }}\n"
        )
    } else {
        format!(
            r#"{{"infcode":0,"inf_refmsgid":"440300202406011030160000000001","refmsg_time":"20240601103016001","respond_time":"20240601103016250","err_msg":"","warn_msg":"","output":{{"setlinfo":{setlinfo},"setldetail":{setldetail}}}}}"#
        )
    };
    Bytes::from(text)
}
