//! End-to-end tests of the TLS gateway with the real `medsettle serve` on 127.0.0.1:0: mutual
//! TLS accepted (HTTP/1.1 and HTTP/2) and refused (no certificate, unknown CA, unregistered
//! certificate, a certificate speaking for another institution), idempotent replay, oversized
//! bodies, slow and idle clients, bad input, graceful shutdown and `/metrics`. Every refusal is
//! checked twice: in the answer the client gets, and in `journal export` after the gateway has
//! stopped (a refused request changes nothing).

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::his::{CALL_SERVICE_PATH, EnvelopeBuilder, HisConnection, Insured, Sender};
use common::*;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use medsettle_server::Role;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// Institution A: the client certificate used for most requests.
const A: &str = "H44030000001";
/// Institution B: another designated institution of the same gateway.
const B: &str = "H44030000002";
/// Bound for the server to close a connection it should close; far above every configured
/// timeout used here.
const CLOSE_BOUND: Duration = Duration::from_secs(20);
/// `header_read_timeout_ms` configured for the slow-client test.
const HEADER_READ_TIMEOUT_MS: i64 = 1_000;
/// Bound for a slow or idle client to be disconnected: generous against the configured 1 s,
/// yet below the 10 s default, so passing shows the configured limit is the one in force.
const SLOW_CLOSE_BOUND: Duration = Duration::from_secs(8);

fn sender(code: &str) -> Sender {
    let name = match code {
        A => "深圳市示例第一人民医院",
        B => "深圳市示例中医院",
        _ => "深圳市示例医院",
    };
    Sender {
        fixmedins_code: code.into(),
        fixmedins_name: name.into(),
        mdtrtarea_admvs: "440300".into(),
    }
}

/// A builder whose msgids start at a base second of its own, so builders never collide.
fn builder(code: &str, hour: i64) -> EnvelopeBuilder {
    let base = time::macros::datetime!(2026-11-20 09:00:00) + time::Duration::hours(hour);
    EnvelopeBuilder::new(sender(code), base)
}

/// 1101: read the insured person (journaled, changes no state).
fn query_1101(b: &mut EnvelopeBuilder, p: &Insured) -> Value {
    b.envelope(
        "1101",
        &p.insuplc_admdvs,
        json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno, "psn_cert_type": "01"}}),
    )
}

/// 2201: outpatient registration (journaled, opens a visit).
fn register_2201(b: &mut EnvelopeBuilder, p: &Insured, visit_no: u64) -> Value {
    let code = b.sender.fixmedins_code.clone();
    b.envelope(
        "2201",
        &p.insuplc_admdvs,
        json!({"data": {
            "psn_no": p.psn_no, "insutype": p.insutype, "begntime": "2026-11-20 09:00:00",
            "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno,
            "ipt_otp_no": format!("MZ{}{visit_no:08}", &code[1..]),
            "atddr_no": "D0001", "dr_name": "门诊医生", "dept_code": "0301", "dept_name": "内科",
            "caty": "A03"
        }}),
    )
}

fn body(v: &Value) -> Bytes {
    Bytes::from(v.to_string())
}

fn msgid(v: &Value) -> String {
    v["msgid"].as_str().expect("msgid").to_owned()
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

fn err_msg(answer: &Value) -> String {
    answer["err_msg"].as_str().unwrap_or_default().to_owned()
}

/// Journal records of `(fixmedins_code, msgid)`.
fn records_of<'a>(export: &'a [Value], code: &str, msgid: &str) -> Vec<&'a Value> {
    export
        .iter()
        .filter(|r| r["fixmedins_code"] == code && r["msgid"] == msgid)
        .collect()
}

/// One request over a fresh HTTP/1.1 connection.
async fn http1_request(
    addr: std::net::SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    method: &str,
    path: &str,
) -> anyhow::Result<(u16, Bytes)> {
    let stream = raw_tls(addr, tls).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    Ok((status, resp.into_body().collect().await?.to_bytes()))
}

/// A client the TLS layer refuses: either the handshake fails, or (TLS 1.3, where the client
/// finishes its handshake before the server has checked the certificate) the server's alert
/// ends the connection before any HTTP answer. Returns what happened, for the message.
async fn assert_refused_at_tls(
    addr: std::net::SocketAddr,
    tls: Arc<rustls::ClientConfig>,
) -> String {
    match raw_tls(addr, tls).await {
        Err(e) => format!("handshake failed: {e}"),
        Ok(mut stream) => {
            // /healthz answers 200 to any accepted client: an answer here means accepted.
            let _ = stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .await;
            let got = read_until_closed(&mut stream, CLOSE_BOUND)
                .await
                .unwrap_or_else(|got| {
                    panic!(
                        "the server kept a refused client's connection open; received {:?}",
                        String::from_utf8_lossy(&got)
                    )
                });
            assert!(
                got.is_empty(),
                "a refused client got an HTTP answer: {:?}",
                String::from_utf8_lossy(&got)
            );
            "closed after the handshake without an answer".to_owned()
        }
    }
}

#[test]
fn mutual_tls_accepted_over_http1_and_http2_and_counted_in_metrics() {
    let ws = Workspace::init();
    let gw = ws.serve(&[]);
    let rt = runtime();
    let p = ws.insured().remove(0);
    rt.block_on(async {
        let mut b = builder(A, 0);

        // HTTP/1.1 (the HIS client offers no ALPN).
        let mut conn = HisConnection::connect(gw.addr, ws.tls_for(A))
            .await
            .unwrap();
        let (status, answer) = conn.call(&query_1101(&mut b, &p)).await.unwrap();
        assert_eq!(status, 200, "{answer}");
        assert_eq!(infcode(&answer), 0, "{answer}");
        assert!(
            answer["output"].is_object(),
            "1101 answers the person: {answer}"
        );

        // HTTP/2, negotiated by ALPN.
        let mut h2 = (*ws.tls_for(A)).clone();
        h2.alpn_protocols = vec![b"h2".to_vec()];
        let stream = raw_tls(gw.addr, Arc::new(h2)).await.unwrap();
        assert_eq!(
            stream.get_ref().1.alpn_protocol(),
            Some(&b"h2"[..]),
            "server must offer h2"
        );
        let (mut send, h2conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(h2conn);
        for _ in 0..2 {
            let env = query_1101(&mut b, &p);
            let req = hyper::Request::post(format!("https://{}{CALL_SERVICE_PATH}", gw.addr))
                .header("content-type", "application/json; charset=utf-8")
                .body(Full::new(body(&env)))
                .unwrap();
            let resp = send.send_request(req).await.unwrap();
            assert_eq!(resp.version(), hyper::Version::HTTP_2);
            assert_eq!(resp.status().as_u16(), 200);
            let answer = json_of(&resp.into_body().collect().await.unwrap().to_bytes());
            assert_eq!(infcode(&answer), 0, "{answer}");
        }

        // Operational endpoints, with the operator's certificate.
        let operator = ws.tls_for("operator");
        let (status, text) = http1_request(gw.addr, operator.clone(), "GET", "/healthz")
            .await
            .unwrap();
        assert_eq!((status, &text[..]), (200, &b"ok\n"[..]));
        let (status, _) = http1_request(gw.addr, operator.clone(), "GET", "/readyz")
            .await
            .unwrap();
        assert_eq!(status, 200);
        let (status, text) = http1_request(gw.addr, operator, "GET", "/metrics")
            .await
            .unwrap();
        assert_eq!(status, 200);
        let text = String::from_utf8(text.to_vec()).unwrap();
        assert!(
            text.contains("medsettle_requests_total{infno=\"1101\",outcome=\"ok\"} 3\n"),
            "three 1101 answered ok (one HTTP/1.1, two HTTP/2):\n{text}"
        );
        // The workspace's calendar and today in China: the operator's warning gauge.
        let days_left = |now: time::OffsetDateTime| {
            let today = now
                .to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap())
                .date();
            (ws.calendar.last_day - today).whole_days()
        };
        let expected = [
            days_left(time::OffsetDateTime::now_utc()),
            // Midnight in China may pass between the gateway's check and this one.
            days_left(time::OffsetDateTime::now_utc() - time::Duration::minutes(5)),
        ];
        assert!(
            expected
                .iter()
                .any(|d| text.contains(&format!("medsettle_calendar_days_left {d}\n"))),
            "calendar gauge {expected:?}:\n{text}"
        );
    });
    let status = gw.terminate();
    assert!(status.success(), "{status:?}");
    let export = ws.journal_export();
    assert_eq!(
        export
            .iter()
            .filter(|r| r["record"]["infno"] == "1101")
            .count(),
        3
    );
}

#[test]
fn clients_without_an_accepted_certificate_are_refused() {
    let ws = Workspace::init();
    let gw = ws.serve(&[]);
    let rt = runtime();
    let foreign_dir = tempfile::tempdir().unwrap();
    // Same name and CA name as the real A: only the CA's signature tells them apart.
    let foreign = medsettle_server::pki::generate_foreign_client(
        foreign_dir.path(),
        A,
        Role::Institution,
        &[A],
    )
    .unwrap();
    // Issued by the right CA but not registered in [server.clients].
    let stranger = medsettle_server::pki::issue_dev_client(
        &ws.path().join("certs"),
        "H44039999999",
        Role::Institution,
        &["H44039999999"],
    )
    .unwrap();
    rt.block_on(async {
        // Control: the probe gets an answer with a registered certificate.
        let mut ok = raw_tls(gw.addr, ws.tls_for(A)).await.unwrap();
        ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let resp = read_response(&mut ok, &mut Vec::new()).await.unwrap();
        assert_eq!(resp.status, 200);

        // No client certificate at all.
        let mut roots = rustls::RootCertStore::empty();
        for c in
            <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_file_iter(
                ws.ca(),
            )
            .unwrap()
        {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let anonymous = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let how = assert_refused_at_tls(gw.addr, Arc::new(anonymous)).await;
        eprintln!("no client certificate: {how}");

        // A certificate from an unknown CA (same subject names as a registered client).
        let tls = common::his::client_tls(&ws.ca(), &foreign.cert, &foreign.key).unwrap();
        let how = assert_refused_at_tls(gw.addr, tls).await;
        eprintln!("unknown CA: {how}");

        // A valid certificate that is not registered: a national 403 naming GW-AUTH, and the
        // connection is closed.
        let tls = common::his::client_tls(&ws.ca(), &stranger.cert, &stranger.key).unwrap();
        let mut conn = HisConnection::connect(gw.addr, tls).await.unwrap();
        let mut b = builder("H44039999999", 0);
        let p = ws.insured().remove(0);
        let (status, answer) = conn.call(&query_1101(&mut b, &p)).await.unwrap();
        assert_eq!(status, 403, "{answer}");
        assert_eq!(infcode(&answer), -1, "{answer}");
        assert!(err_msg(&answer).contains("GW-AUTH"), "{answer}");

        // The server counts a refusal right after sending its alert: poll briefly (bounded).
        let wanted = "medsettle_connections_refused_total{reason=\"tls_handshake\"} 2\n";
        let deadline = std::time::Instant::now() + CLOSE_BOUND;
        loop {
            let (_, metrics) = http1_request(gw.addr, ws.tls_for("operator"), "GET", "/metrics")
                .await
                .unwrap();
            let metrics = String::from_utf8(metrics.to_vec()).unwrap();
            if metrics.contains(wanted) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "both TLS refusals are counted:\n{metrics}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert!(gw.terminate().success());
    let export = ws.journal_export();
    assert!(
        export.is_empty(),
        "nothing from refused clients is journaled: {export:?}"
    );
}

#[test]
fn a_certificate_may_not_speak_for_another_institution() {
    let ws = Workspace::init();
    let gw = ws.serve(&[]);
    let rt = runtime();
    let p = ws.insured().remove(0);
    let mut own = builder(A, 0);
    let mut as_b = builder(B, 0);
    let (b_request, spoofed) = rt.block_on(async {
        let mut b_conn = HisConnection::connect(gw.addr, ws.tls_for(B))
            .await
            .unwrap();
        let mut a_conn = HisConnection::connect(gw.addr, ws.tls_for(A))
            .await
            .unwrap();

        // B's own request, legitimately.
        let b_request = register_2201(&mut as_b, &p, 1);
        let (status, b_answer) = b_conn
            .post(CALL_SERVICE_PATH, body(&b_request))
            .await
            .unwrap();
        assert_eq!(
            (status, infcode(&json_of(&b_answer))),
            (200, 0),
            "{}",
            String::from_utf8_lossy(&b_answer)
        );

        // A's certificate, B's fixmedins_code: a query and a state-changing registration.
        let mut spoofed = Vec::new();
        for env in [query_1101(&mut as_b, &p), register_2201(&mut as_b, &p, 2)] {
            let (status, answer) = a_conn.call(&env).await.unwrap();
            assert_eq!(status, 403, "{answer}");
            assert_eq!(infcode(&answer), -1, "{answer}");
            let msg = err_msg(&answer);
            assert!(
                msg.contains("GW-AUTH") && msg.contains("fixmedins_code"),
                "{msg}"
            );
            assert!(answer["output"].is_null(), "{answer}");
            spoofed.push(msgid(&env));
        }
        // A replaying B's exact request gets neither B's stored answer nor a conflict that
        // would reveal the msgid is in use.
        let (status, answer) = a_conn
            .post(CALL_SERVICE_PATH, body(&b_request))
            .await
            .unwrap();
        assert_eq!(status, 403, "{}", String::from_utf8_lossy(&answer));
        assert_ne!(answer, b_answer);
        assert!(err_msg(&json_of(&answer)).contains("GW-AUTH"));

        // Control: A speaking for itself on the same connection is served.
        let (status, answer) = a_conn.call(&query_1101(&mut own, &p)).await.unwrap();
        assert_eq!((status, infcode(&answer)), (200, 0), "{answer}");
        (b_request, spoofed)
    });
    assert!(gw.terminate().success());
    let export = ws.journal_export();
    for m in &spoofed {
        assert!(
            export.iter().all(|r| r["msgid"] != m.as_str()),
            "refused msgid {m} must not be journaled: {export:?}"
        );
    }
    let of_b: Vec<&Value> = export.iter().filter(|r| r["fixmedins_code"] == B).collect();
    assert_eq!(of_b.len(), 1, "only B's own registration: {of_b:?}");
    assert_eq!(of_b[0]["msgid"], msgid(&b_request).as_str());
    assert_eq!(
        export.iter().filter(|r| r["fixmedins_code"] == A).count(),
        1
    );
}

#[test]
fn same_msgid_replays_the_stored_answer_and_a_different_body_conflicts() {
    let ws = Workspace::init();
    let gw = ws.serve(&[]);
    let rt = runtime();
    let p = ws.insured().remove(1);
    let mut b = builder(A, 0);
    let request = register_2201(&mut b, &p, 7);
    let first = rt.block_on(async {
        let mut conn = HisConnection::connect(gw.addr, ws.tls_for(A))
            .await
            .unwrap();
        let (status, first) = conn.post(CALL_SERVICE_PATH, body(&request)).await.unwrap();
        assert_eq!(status, 200);
        let answer = json_of(&first);
        assert_eq!(infcode(&answer), 0, "{answer}");
        assert!(
            answer["output"]["data"]["mdtrt_id"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{answer}"
        );

        // Same body again, on the same connection and on a new one: the stored bytes (a fresh
        // execution would differ at least in respond_time, inf_refmsgid and mdtrt_id).
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (status, again) = conn.post(CALL_SERVICE_PATH, body(&request)).await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(again, first, "replay must be byte-for-byte");
        let mut other = HisConnection::connect(gw.addr, ws.tls_for(A))
            .await
            .unwrap();
        let (status, again) = other.post(CALL_SERVICE_PATH, body(&request)).await.unwrap();
        assert_eq!((status, &again), (200, &first));

        // Same msgid, different body: a conflict, not the stored answer.
        let mut changed = request.clone();
        changed["input"]["data"]["dept_name"] = json!("外科");
        let (status, answer) = conn.call(&changed).await.unwrap();
        assert_eq!(status, 409, "{answer}");
        assert_eq!(infcode(&answer), -1, "{answer}");
        let msg = err_msg(&answer);
        assert!(
            msg.contains("GW-IDEMPOTENCY") && msg.contains("msgid"),
            "{msg}"
        );
        // The conflict changed nothing: the original still replays.
        let (status, again) = conn.post(CALL_SERVICE_PATH, body(&request)).await.unwrap();
        assert_eq!((status, &again), (200, &first));
        first
    });
    assert!(gw.terminate().success());
    let export = ws.journal_export();
    let records = records_of(&export, A, &msgid(&request));
    assert_eq!(
        records.len(),
        1,
        "one record for four sends of one msgid: {export:?}"
    );
    assert_eq!(
        records[0]["record"]["answer"],
        json_of(&first),
        "the journal holds the answer sent"
    );
    assert_eq!(records[0]["record"]["request"], request);
    assert_eq!(export.len(), 1);
}

#[test]
fn oversized_bodies_are_refused_with_413() {
    const LIMIT: usize = 16 * 1024;
    let ws = Workspace::init();
    ws.set_server_limit("body_bytes_max", LIMIT as i64);
    let gw = ws.serve(&[]);
    let rt = runtime();
    let p = ws.insured().remove(0);
    let mut b = builder(A, 0);
    let mut refused = Vec::new();
    rt.block_on(async {
        let head = |extra: &str| {
            format!(
                "POST {CALL_SERVICE_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}\r\n"
            )
        };
        let assert_413 = |resp: &RawResponse| {
            assert_eq!(resp.status, 413, "{}", String::from_utf8_lossy(&resp.body));
            let answer = resp.json();
            assert_eq!(infcode(&answer), -1, "{answer}");
            assert!(err_msg(&answer).contains("GW-LIMIT"), "{answer}");
            assert!(err_msg(&answer).contains(&LIMIT.to_string()), "the limit is named: {answer}");
        };

        // Declared too large: refused before a byte of the body is read.
        let mut s = raw_tls(gw.addr, ws.tls_for(A)).await.unwrap();
        let h = head(&format!("Content-Length: {}\r\nExpect: 100-continue\r\n", LIMIT + 1));
        s.write_all(h.as_bytes()).await.unwrap();
        let resp = read_response(&mut s, &mut Vec::new()).await.unwrap();
        assert_413(&resp);

        // Streamed without a length (chunked): refused once the limit is passed.
        let mut env = query_1101(&mut b, &p);
        env["dev_safe_info"] = json!("x".repeat(LIMIT));
        refused.push(msgid(&env));
        let payload = env.to_string();
        let mut s = raw_tls(gw.addr, ws.tls_for(A)).await.unwrap();
        let mut wire = head("Transfer-Encoding: chunked\r\n").into_bytes();
        for chunk in payload.as_bytes().chunks(4096) {
            wire.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            wire.extend_from_slice(chunk);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        s.write_all(&wire).await.unwrap();
        let resp = read_response(&mut s, &mut Vec::new()).await.unwrap();
        assert_413(&resp);

        // An ordinary client sending a body with Content-Length.
        let mut env = query_1101(&mut b, &p);
        env["dev_safe_info"] = json!("y".repeat(LIMIT));
        refused.push(msgid(&env));
        let mut conn = HisConnection::connect(gw.addr, ws.tls_for(A)).await.unwrap();
        let (status, answer) = conn.post(CALL_SERVICE_PATH, body(&env)).await.unwrap();
        assert_413(&RawResponse { status, headers: Vec::new(), body: answer.to_vec() });

        // Control: a request under the limit is served.
        let mut conn = HisConnection::connect(gw.addr, ws.tls_for(A)).await.unwrap();
        let (status, answer) = conn.call(&query_1101(&mut b, &p)).await.unwrap();
        assert_eq!((status, infcode(&answer)), (200, 0), "{answer}");
    });
    assert!(gw.terminate().success());
    let export = ws.journal_export();
    for m in &refused {
        assert!(
            records_of(&export, A, m).is_empty(),
            "oversized {m} journaled"
        );
    }
    assert_eq!(export.len(), 1, "only the control request: {export:?}");
}

#[test]
fn slow_and_idle_clients_are_disconnected() {
    let ws = Workspace::init();
    ws.set_server_limit("header_read_timeout_ms", HEADER_READ_TIMEOUT_MS);
    let gw = ws.serve(&[]);
    let rt = runtime();
    rt.block_on(async {
        // Control: a prompt client is served on the same gateway.
        let mut ok = raw_tls(gw.addr, ws.tls_for(A)).await.unwrap();
        ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(
            read_response(&mut ok, &mut Vec::new())
                .await
                .unwrap()
                .status,
            200
        );

        // Slowloris: the head dribbles in, one byte every 100 ms, never complete.
        let stream = raw_tls(gw.addr, ws.tls_for(A)).await.unwrap();
        let (mut rd, mut wr) = tokio::io::split(stream);
        let head = format!(
            "POST {CALL_SERVICE_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: {}",
            "a".repeat(1000)
        );
        let writer = tokio::spawn(async move {
            let mut sent = 0usize;
            for byte in head.bytes() {
                if wr.write_all(&[byte]).await.is_err() || wr.flush().await.is_err() {
                    break;
                }
                sent += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            sent
        });
        let got = read_until_closed(&mut rd, SLOW_CLOSE_BOUND)
            .await
            .unwrap_or_else(|_| panic!("a client dribbling its head is not disconnected"));
        let sent = writer.await.unwrap();
        let text = String::from_utf8_lossy(&got);
        assert!(
            !text.contains(" 200 "),
            "an incomplete head must not be served: {text}"
        );
        eprintln!("slowloris disconnected after {sent} bytes; received {text:?}");

        // A client that opens TLS and sends nothing at all.
        let mut idle = raw_tls(gw.addr, ws.tls_for(A)).await.unwrap();
        let got = read_until_closed(&mut idle, SLOW_CLOSE_BOUND)
            .await
            .unwrap_or_else(|_| panic!("a connection that never sends a request is kept open"));
        assert!(!String::from_utf8_lossy(&got).contains(" 200 "));

        // The server still serves afterwards.
        let mut ok = raw_tls(gw.addr, ws.tls_for(A)).await.unwrap();
        ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(
            read_response(&mut ok, &mut Vec::new())
                .await
                .unwrap()
                .status,
            200
        );
    });
    assert!(gw.terminate().success());
}

#[test]
fn bad_input_is_refused_with_field_path_and_rule_and_changes_nothing() {
    let ws = Workspace::init();
    let gw = ws.serve(&[]);
    let rt = runtime();
    let p = ws.insured().remove(2);
    let mut b = builder(A, 0);
    let (wrong_type, corrected, envelope_type) = rt.block_on(async {
        let mut conn = HisConnection::connect(gw.addr, ws.tls_for(A))
            .await
            .unwrap();
        let refused = |status: u16, answer: &[u8], needles: &[&str]| {
            let answer = json_of(answer);
            assert_eq!(status, 400, "{answer}");
            assert_eq!(infcode(&answer), -1, "{answer}");
            assert!(answer["output"].is_null(), "{answer}");
            let msg = err_msg(&answer);
            for n in needles {
                assert!(msg.contains(n), "err_msg must name {n}: {msg}");
            }
        };

        // Not JSON.
        let (s, a) = conn
            .post(
                CALL_SERVICE_PATH,
                Bytes::from_static(b"{\"infno\": \"1101\", \"msgid\": "),
            )
            .await
            .unwrap();
        refused(s, &a, &["FMT-JSON"]);
        // Nested far beyond json_depth_max.
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let (s, a) = conn
            .post(
                CALL_SERVICE_PATH,
                Bytes::from(format!("{{\"infno\": {deep}}}")),
            )
            .await
            .unwrap();
        refused(s, &a, &["FMT-DEPTH"]);

        // Wrong type in the envelope: infno as a number.
        let mut envelope_type = query_1101(&mut b, &p);
        envelope_type["infno"] = json!(1101);
        let (s, a) = conn.call(&envelope_type).await.unwrap();
        refused(s, &a.to_string().into_bytes(), &["FMT-TYPE", "infno"]);

        // Wrong type in the transaction input: begntime as a number.
        let corrected = register_2201(&mut b, &p, 3);
        let mut wrong_type = corrected.clone();
        wrong_type["input"]["data"]["begntime"] = json!(20261120090000_i64);
        let (s, a) = conn.call(&wrong_type).await.unwrap();
        refused(
            s,
            &a.to_string().into_bytes(),
            &["[FMT-TYPE] input.data.begntime"],
        );

        // The refusal used up nothing: the corrected request under the same msgid is served
        // (not a GW-IDEMPOTENCY conflict).
        let (s, a) = conn.call(&corrected).await.unwrap();
        assert_eq!((s, infcode(&a)), (200, 0), "{a}");
        (wrong_type, corrected, envelope_type)
    });
    assert!(gw.terminate().success());
    let export = ws.journal_export();
    assert_eq!(
        export.len(),
        1,
        "only the corrected request is journaled: {export:?}"
    );
    let records = records_of(&export, A, &msgid(&corrected));
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["record"]["request"], corrected);
    assert_ne!(records[0]["record"]["request"], wrong_type);
    assert!(records_of(&export, A, &msgid(&envelope_type)).is_empty());
}

#[test]
fn graceful_shutdown_finishes_requests_in_flight_and_refuses_new_connections() {
    const IN_FLIGHT: usize = 6;
    let ws = Workspace::init();
    let mut gw = ws.serve(&[]);
    let rt = runtime();
    let persons = ws.insured();
    let addr = gw.addr;
    let mut b = builder(A, 0);
    let requests: Vec<Value> = (0..IN_FLIGHT)
        .map(|i| register_2201(&mut b, &persons[10 + i], 100 + i as u64))
        .collect();

    // Each request's head is sent with `Expect: 100-continue`; the server's `100 Continue`
    // proves the request reached the service (it is reading the body). Only then SIGTERM.
    let mut streams = rt.block_on(async {
        let mut streams = Vec::new();
        for env in &requests {
            let mut s = raw_tls(addr, ws.tls_for(A)).await.unwrap();
            let head = format!(
                "POST {CALL_SERVICE_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
                env.to_string().len()
            );
            s.write_all(head.as_bytes()).await.unwrap();
            let mut buf = Vec::new();
            let cont = read_response(&mut s, &mut buf).await.unwrap();
            assert_eq!(cont.status, 100, "the server asks for the body");
            streams.push((s, buf));
        }
        streams
    });

    gw.signal_term();
    // New connections are refused while the in-flight requests are still open (the process
    // is alive: it waits for them).
    let deadline = std::time::Instant::now() + CLOSE_BOUND;
    loop {
        if std::net::TcpStream::connect(addr).is_err() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still accepting connections after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        gw.is_running(),
        "the gateway must wait for requests in flight"
    );

    let answers: Vec<Value> = rt.block_on(async {
        let mut answers = Vec::new();
        for ((s, buf), env) in streams.iter_mut().zip(&requests) {
            s.write_all(env.to_string().as_bytes()).await.unwrap();
            let resp = read_response(s, buf)
                .await
                .expect("an in-flight request is answered during shutdown");
            assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
            let answer = resp.json();
            assert_eq!(infcode(&answer), 0, "{answer}");
            answers.push(answer);
        }
        answers
    });
    let status = gw
        .wait_bounded(CLOSE_BOUND)
        .expect("the gateway exits once drained");
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "refused after exit"
    );

    let export = ws.journal_export();
    // The requests, each once (the settlement engine may also have journaled its progress
    // while the gateway drained: its own bookkeeping, not a request).
    let requests_journaled = export
        .iter()
        .filter(|r| {
            !r["kind"]
                .as_str()
                .unwrap_or_default()
                .starts_with("engine.")
        })
        .count();
    assert_eq!(requests_journaled, IN_FLIGHT, "{export:?}");
    for (env, answer) in requests.iter().zip(&answers) {
        let records = records_of(&export, A, &msgid(env));
        assert_eq!(records.len(), 1, "{env}");
        assert_eq!(&records[0]["record"]["answer"], answer);
    }
}

/// The journal keeps the request as the HIS sent it: pretty-printed text is kept verbatim (it
/// parses to the same envelope), and a body with a UTF-8 BOM — which the gateway accepts — is
/// journaled without the BOM, not lost.
#[test]
fn the_journal_keeps_the_request_text_as_sent() {
    let ws = Workspace::init();
    let gw = ws.serve(&[]);
    let rt = runtime();
    let p = ws.insured().remove(2);
    let mut b = builder(A, 0);
    let pretty = register_2201(&mut b, &p, 11);
    let with_bom = register_2201(&mut b, &p, 12);
    rt.block_on(async {
        let mut conn = HisConnection::connect(gw.addr, ws.tls_for(A))
            .await
            .unwrap();
        let text = serde_json::to_string_pretty(&pretty).unwrap();
        let (status, answer) = conn
            .post(CALL_SERVICE_PATH, Bytes::from(text))
            .await
            .unwrap();
        assert_eq!((status, infcode(&json_of(&answer))), (200, 0));
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(&serde_json::to_vec(&with_bom).unwrap());
        let (status, answer) = conn
            .post(CALL_SERVICE_PATH, Bytes::from(bom))
            .await
            .unwrap();
        assert_eq!((status, infcode(&json_of(&answer))), (200, 0));
    });
    assert!(gw.terminate().success());
    let export = ws.journal_export();
    for request in [&pretty, &with_bom] {
        let records = records_of(&export, A, &msgid(request));
        assert_eq!(records.len(), 1, "{export:?}");
        assert_eq!(&records[0]["record"]["request"], request);
    }
}

/// While `serve` holds the store, an operator certificate reads the journal, the engine's status
/// and the bank file drop's status over HTTPS as `medsettle journal stats|export`, `settle
/// status` and `bank status` print them once the gateway is stopped; an institution's
/// certificate may not, writes are refused, and a bad query is refused naming the parameter.
#[test]
fn operators_read_the_journal_of_a_running_gateway() {
    let ws = Workspace::init();
    let gw = ws.serve(&[]);
    let rt = runtime();
    let p = ws.insured().remove(0);
    let mut bank_served = String::new();
    let (stats, page, first) = rt.block_on(async {
        let mut b = builder(A, 0);
        let mut conn = HisConnection::connect(gw.addr, ws.tls_for(A))
            .await
            .unwrap();
        for _ in 0..3 {
            let (status, answer) = conn.call(&query_1101(&mut b, &p)).await.unwrap();
            assert_eq!((status, infcode(&answer)), (200, 0), "{answer}");
        }
        let operator = ws.tls_for("operator");
        let get = |path: &'static str, tls: Arc<rustls::ClientConfig>| async move {
            let (status, body) = http1_request(gw.addr, tls, "GET", path).await.unwrap();
            (status, String::from_utf8(body.to_vec()).unwrap())
        };
        let (status, stats) = get("/ops/journal/stats", operator.clone()).await;
        assert_eq!(status, 200, "{stats}");
        let (status, page) = get("/ops/journal/export?from=0", operator.clone()).await;
        assert_eq!(status, 200, "{page}");
        let (status, first) = get("/ops/journal/export?from=0&limit=1", operator.clone()).await;
        assert_eq!(status, 200, "{first}");
        let (status, settle) = get("/ops/settle/status", operator.clone()).await;
        assert_eq!(status, 200, "{settle}");
        assert!(
            settle.contains("consumer settlement-engine: next offset ")
                && settle.contains("last daily close: -"),
            "{settle}"
        );
        let (status, bank) = get("/ops/bank/status", operator.clone()).await;
        assert_eq!(status, 200, "{bank}");
        bank_served = bank;

        let (status, why) = get("/ops/journal/export?from=x", operator.clone()).await;
        assert_eq!(status, 400, "{why}");
        assert!(why.contains("from: `x` is not a journal offset"), "{why}");
        let (status, json) = get("/ops/journal/stats?json", operator.clone()).await;
        assert_eq!(status, 200, "{json}");
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["per_kind"]["nhsa.request"], 3, "{json}");
        let (status, why) = get("/ops/journal/stats?xml", operator.clone()).await;
        assert_eq!(status, 400, "{why}");
        assert!(why.contains("`xml` is not a parameter"), "{why}");
        let (status, why) = get("/ops/bank/status?all=1", operator.clone()).await;
        assert_eq!(status, 400, "{why}");
        assert!(why.contains("`all=1` is not a parameter"), "{why}");
        let (status, why) = get("/ops/journal/stats", ws.tls_for(A)).await;
        assert_eq!(
            status, 403,
            "an institution may not read the journal: {why}"
        );
        let (status, _) = http1_request(gw.addr, operator.clone(), "POST", "/ops/journal/export")
            .await
            .unwrap();
        assert_eq!(status, 405, "a read is not an action");
        let (status, why) = http1_request(gw.addr, operator, "POST", "/ops/settle/daily")
            .await
            .unwrap();
        assert_eq!(
            status, 400,
            "an action needs its fields and an operation id: {why:?}"
        );
        (stats, page, first)
    });
    assert!(
        stats.contains("records        ") && stats.contains("  nhsa.request             3\n"),
        "{stats}"
    );
    // The command line asks the running gateway (it owns the journal): the same table.
    let cli = run_ok(&[
        "journal",
        "stats",
        "--config",
        ws.config().to_str().unwrap(),
    ]);
    assert!(cli.contains("  nhsa.request             3\n"), "{cli}");
    assert_eq!(
        cli.lines().next(),
        stats.lines().next(),
        "the same journal: {cli}"
    );
    let status = gw.terminate();
    assert!(status.success(), "{status:?}");

    // The same records, line for line, as the command line exports them after shutdown.
    let served: Vec<serde_json::Value> = page
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let exported = ws.journal_export();
    let requests = |v: &[serde_json::Value]| -> Vec<serde_json::Value> {
        v.iter()
            .filter(|r| r["kind"] == "nhsa.request")
            .cloned()
            .collect()
    };
    assert_eq!(requests(&served).len(), 3, "{page}");
    assert_eq!(requests(&served), requests(&exported));
    assert_eq!(first.lines().count(), 1, "{first}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(first.trim()).unwrap(),
        exported[0]
    );
    let config = ws.config();
    let bank_cli = run_ok(&["bank", "status", "--config", config.to_str().unwrap()]);
    assert!(bank_cli.contains("all payments: none"), "{bank_cli}");
    assert_eq!(bank_served, bank_cli);
}
