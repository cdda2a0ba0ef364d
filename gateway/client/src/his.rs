//! The hospital side of the wire: a mutual-TLS HTTP/1.1 client and builders for the national
//! interface envelopes a HIS sends. The demo, the ingest benchmark and the end-to-end tests use
//! it to drive the real gateway exactly as a hospital would.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The national single endpoint (nhsa-interface.md §1.3).
pub const CALL_SERVICE_PATH: &str = "/fsi/api/rsfComIfsService/callService";

/// A rustls client configuration that trusts `ca_pem` and presents `cert_pem`/`key_pem`.
pub fn client_tls(
    ca_pem: &Path,
    cert_pem: &Path,
    key_pem: &Path,
) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem)
        .with_context(|| format!("reading CA {}", ca_pem.display()))?
    {
        roots.add(cert?)?;
    }
    let chain = CertificateDer::pem_file_iter(cert_pem)
        .with_context(|| format!("reading certificate {}", cert_pem.display()))?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key_pem)
        .with_context(|| format!("reading key {}", key_pem.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// How often [`HisConnection::call_retrying`] resends after 429/503.
pub const RETRY_ATTEMPTS_MAX: u64 = 20;
/// Back-off step between resends (grows linearly with the attempt).
pub const RETRY_BACKOFF_MS: u64 = 50;
/// How long a HIS keeps asking about a cross-region settlement whose outcome the gateway is
/// still resolving with the insured place (it answers 503 meanwhile).
pub const CROSS_REGION_PATIENCE: std::time::Duration = std::time::Duration::from_secs(90);

/// One keep-alive HTTP/1.1 connection over mutual TLS.
pub struct HisConnection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    authority: String,
}

impl HisConnection {
    pub async fn connect(
        addr: SocketAddr,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<HisConnection> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        tcp.set_nodelay(true)?;
        let name = ServerName::IpAddress(addr.ip().into());
        let stream = TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .context("TLS handshake")?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(HisConnection {
            sender,
            authority: addr.to_string(),
        })
    }

    /// GET a path; returns the status and the body bytes.
    pub async fn get(&mut self, path: &str) -> Result<(u16, Bytes)> {
        let req = hyper::Request::get(path)
            .header("host", &self.authority)
            .body(Full::new(Bytes::new()))?;
        self.send(req).await
    }

    /// POST a JSON body; returns the status and the body bytes.
    pub async fn post(&mut self, path: &str, body: Bytes) -> Result<(u16, Bytes)> {
        let req = hyper::Request::post(path)
            .header("host", &self.authority)
            .header("content-type", "application/json; charset=utf-8")
            .body(Full::new(body))?;
        self.send(req).await
    }

    /// POST `body` with `content_type` and further `headers`; the status, the response
    /// headers and the body (a legacy dialect's answer carries values in its headers).
    pub async fn post_with_headers(
        &mut self,
        path: &str,
        content_type: &str,
        headers: &[(String, String)],
        body: Bytes,
    ) -> Result<(u16, hyper::HeaderMap, Bytes)> {
        let mut req = hyper::Request::post(path)
            .header("host", &self.authority)
            .header("content-type", content_type);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        self.send_full(req.body(Full::new(body))?).await
    }

    /// Send one request once the connection is ready; the status and the whole body.
    async fn send(&mut self, req: hyper::Request<Full<Bytes>>) -> Result<(u16, Bytes)> {
        let (status, _, body) = self.send_full(req).await?;
        Ok((status, body))
    }

    async fn send_full(
        &mut self,
        req: hyper::Request<Full<Bytes>>,
    ) -> Result<(u16, hyper::HeaderMap, Bytes)> {
        self.sender
            .ready()
            .await
            .map_err(|e| anyhow!("connection closed: {e}"))?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, headers, body))
    }

    /// POST an envelope; on 429 (rate limit) or 503 (store not writable) wait and resend the
    /// same bytes — safe because the gateway is idempotent on `(fixmedins_code, msgid)` —
    /// up to [`RETRY_ATTEMPTS_MAX`] times, as a well-behaved HIS does.
    pub async fn call_retrying(&mut self, envelope: &Value) -> Result<(u16, Value)> {
        let mut attempt = 0;
        loop {
            let (status, answer) = self.call(envelope).await?;
            attempt += 1;
            if !matches!(status, 429 | 503) || attempt >= RETRY_ATTEMPTS_MAX {
                return Ok((status, answer));
            }
            tokio::time::sleep(std::time::Duration::from_millis(RETRY_BACKOFF_MS * attempt)).await;
        }
    }

    /// POST an envelope and parse the answer envelope.
    pub async fn call(&mut self, envelope: &Value) -> Result<(u16, Value)> {
        let (status, body) = self
            .post(CALL_SERVICE_PATH, Bytes::from(envelope.to_string()))
            .await?;
        let value = serde_json::from_slice(&body)
            .with_context(|| format!("answer is not JSON: {}", String::from_utf8_lossy(&body)))?;
        Ok((status, value))
    }
}

/// Who sends: the institution fields every envelope carries.
#[derive(Debug, Clone)]
pub struct Sender {
    pub fixmedins_code: String,
    pub fixmedins_name: String,
    pub mdtrtarea_admvs: String,
}

/// Builds envelopes with unique, well-formed msgids (code + yyyyMMddHHmmss + 4-digit sequence).
#[derive(Debug)]
pub struct EnvelopeBuilder {
    pub sender: Sender,
    /// Base second of the msgid clock; each 10 000 messages advance it by one second, so the
    /// msgid stays unique without depending on the wall clock.
    pub base: time::PrimitiveDateTime,
    seq: u64,
}

impl EnvelopeBuilder {
    pub fn new(sender: Sender, base: time::PrimitiveDateTime) -> EnvelopeBuilder {
        EnvelopeBuilder {
            sender,
            base,
            seq: 0,
        }
    }

    pub fn next_msgid(&mut self) -> (String, time::PrimitiveDateTime) {
        let second = self.base + time::Duration::seconds((self.seq / 10_000) as i64);
        let n = self.seq % 10_000;
        self.seq += 1;
        let stamp = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            second.year(),
            u8::from(second.month()),
            second.day(),
            second.hour(),
            second.minute(),
            second.second()
        );
        (
            format!("{}{}{:04}", self.sender.fixmedins_code, stamp, n),
            second,
        )
    }

    /// A request envelope for `infno` with `input`, insured in `insuplc_admdvs`.
    pub fn envelope(&mut self, infno: &str, insuplc_admdvs: &str, input: Value) -> Value {
        let (msgid, at) = self.next_msgid();
        json!({
            "infno": infno,
            "msgid": msgid,
            "mdtrtarea_admvs": self.sender.mdtrtarea_admvs,
            "insuplc_admdvs": insuplc_admdvs,
            "recer_sys_code": "YBXT",
            "dev_no": "",
            "dev_safe_info": "",
            "cainfo": "",
            "signtype": "",
            "infver": "V1.0",
            "opter_type": "1",
            "opter": "0001",
            "opter_name": "收费员",
            "inf_time": format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                at.year(), u8::from(at.month()), at.day(), at.hour(), at.minute(), at.second()
            ),
            "fixmedins_code": self.sender.fixmedins_code,
            "fixmedins_name": self.sender.fixmedins_name,
            "sign_no": "",
            "input": input,
        })
    }
}

/// An insured person as a HIS knows them after reading their card.
#[derive(Debug, Clone)]
pub struct Insured {
    pub psn_no: String,
    pub certno: String,
    pub insutype: String,
    pub insuplc_admdvs: String,
}

/// The insured persons of a person-registry file (`[[person]]` entries).
pub fn insured_from_registry(text: &str) -> Result<Vec<Insured>> {
    let table: toml::Table = toml::from_str(text)?;
    let persons = table
        .get("person")
        .and_then(|p| p.as_array())
        .ok_or_else(|| anyhow!("no [[person]] entries"))?;
    persons
        .iter()
        .map(|p| {
            let get = |k: &str| {
                p.get(k)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("person without {k}"))
            };
            Ok(Insured {
                psn_no: get("psn_no")?,
                certno: get("certno")?,
                insutype: get("insutype")?,
                insuplc_admdvs: get("insuplc_admdvs")?,
            })
        })
        .collect()
}

/// One fee line a HIS uploads: catalogue code, whole units, unit price in fen.
#[derive(Debug, Clone)]
pub struct FeeLine {
    pub med_list_codg: String,
    pub units: u32,
    pub pric_fen: i64,
}

impl FeeLine {
    pub fn amount_fen(&self) -> i64 {
        i64::from(self.units) * self.pric_fen
    }
}

/// A JSON number with exactly two decimals from fen, without floats.
pub fn yuan_number(fen: i64) -> Value {
    let sign = if fen < 0 { "-" } else { "" };
    let text = format!(
        "{sign}{}.{:02}",
        fen.unsigned_abs() / 100,
        fen.unsigned_abs() % 100
    );
    Value::Number(serde_json::from_str(&text).expect("decimal text"))
}

fn number(text: &str) -> Value {
    Value::Number(serde_json::from_str(text).expect("decimal text"))
}

/// What a settlement answered.
#[derive(Debug, Clone)]
pub struct Settled {
    pub mdtrt_id: String,
    pub setl_id: String,
    pub msgid: String,
    pub setlinfo: Value,
    /// The settling envelope (2207 / 2304) as sent, for a caller that sends it again.
    pub request: Value,
}

/// A business answer (infcode 0) or the error text.
pub fn expect_success(status: u16, answer: &Value, what: &str) -> Result<Value> {
    let infcode = match &answer["infcode"] {
        Value::String(s) => s.parse::<i64>().unwrap_or(-1),
        v => v.as_i64().unwrap_or(-1),
    };
    if status != 200 || infcode != 0 {
        return Err(anyhow!(
            "{what}: HTTP {status}, infcode {infcode}: {}",
            answer["err_msg"]
        ));
    }
    Ok(answer["output"].clone())
}

fn fee_time(b: &EnvelopeBuilder) -> String {
    datetime_text(b.base)
}

/// A time as the national interface writes it: `yyyy-MM-dd HH:mm:ss`.
pub fn datetime_text(t: time::PrimitiveDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// 1101: read the person's card (ID number) as a HIS does before registering a visit; the
/// answer must name the same person.
pub async fn person_info(
    conn: &mut HisConnection,
    b: &mut EnvelopeBuilder,
    p: &Insured,
) -> Result<Value> {
    let env = b.envelope(
        "1101",
        &p.insuplc_admdvs,
        json!({"data": {
            "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno, "psn_cert_type": "01"
        }}),
    );
    let (s, a) = conn.call_retrying(&env).await?;
    let out = expect_success(s, &a, "1101")?;
    if out["baseinfo"]["psn_no"] != p.psn_no.as_str() {
        return Err(anyhow!("1101 answered another person: {}", out["baseinfo"]));
    }
    Ok(out)
}

/// An outpatient visit up to its settlement, which is returned unsent (with the visit's
/// `mdtrt_id`), so a caller can choose how to send it: 1101 → 2201 registration → 2204 fee
/// detail → 2206 pre-settlement.
pub async fn outpatient_until_settlement(
    conn: &mut HisConnection,
    b: &mut EnvelopeBuilder,
    p: &Insured,
    lines: &[FeeLine],
    visit_no: u64,
) -> Result<(String, Value)> {
    person_info(conn, b, p).await?;
    registered_until_settlement(conn, b, p, lines, visit_no).await
}

/// An outpatient visit of a person insured in another region, settled through that region's
/// gateway (`specs/interregion.md`): 2201 → 2204 → 2206 → 2207, no 1101 (the person is the
/// insured place's; the HIS knows the psn_no from the card or the national platform).
pub async fn cross_region_outpatient_visit(
    conn: &mut HisConnection,
    b: &mut EnvelopeBuilder,
    p: &Insured,
    lines: &[FeeLine],
    visit_no: u64,
) -> Result<Settled> {
    let (mdtrt_id, settle) = registered_until_settlement(conn, b, p, lines, visit_no).await?;
    let (settle, out) = call_until_resolved(conn, b, settle, &p.insuplc_admdvs).await?;
    let msgid = settle["msgid"].as_str().unwrap_or_default().to_owned();
    Ok(Settled {
        mdtrt_id,
        setl_id: out["setlinfo"]["setl_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        msgid,
        setlinfo: out["setlinfo"].clone(),
        request: settle,
    })
}

/// Send a cross-region settlement or reversal until its outcome is known, as a careful HIS
/// does: while the gateway answers 503 (the outcome is being resolved with the insured place,
/// or it did not answer) the same msgid again; when the answer is that nothing was done, the
/// same request under a new msgid. Returns the envelope that succeeded and its output.
pub async fn call_until_resolved(
    conn: &mut HisConnection,
    b: &mut EnvelopeBuilder,
    mut envelope: Value,
    insuplc_admdvs: &str,
) -> Result<(Value, Value)> {
    let infno = envelope["infno"].as_str().unwrap_or_default().to_owned();
    let deadline = std::time::Instant::now() + CROSS_REGION_PATIENCE;
    loop {
        let (s, a) = conn.call(&envelope).await?;
        match (s, expect_success(s, &a, &infno)) {
            (_, Ok(out)) => return Ok((envelope, out)),
            (503, Err(_)) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(RETRY_BACKOFF_MS * 4)).await;
            }
            (_, Err(e))
                if (e.to_string().contains("nothing was settled")
                    || e.to_string().contains("nothing was done"))
                    && std::time::Instant::now() < deadline =>
            {
                let input = envelope["input"].clone();
                envelope = b.envelope(&infno, insuplc_admdvs, input);
            }
            (_, Err(e)) => return Err(e),
        }
    }
}

/// 2201 → 2204 → 2206 (no 1101), the 2207 returned unsent with the visit's `mdtrt_id`.
pub async fn registered_until_settlement(
    conn: &mut HisConnection,
    b: &mut EnvelopeBuilder,
    p: &Insured,
    lines: &[FeeLine],
    visit_no: u64,
) -> Result<(String, Value)> {
    let when = fee_time(b);
    let ipt_otp_no = format!("MZ{}{visit_no:08}", &b.sender.fixmedins_code[1..]);
    let reg = b.envelope("2201", &p.insuplc_admdvs, json!({"data": {
        "psn_no": p.psn_no, "insutype": p.insutype, "begntime": when,
        "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno, "ipt_otp_no": ipt_otp_no,
        "atddr_no": "D0001", "dr_name": "门诊医生", "dept_code": "0301", "dept_name": "内科", "caty": "A03"
    }}));
    let (s, a) = conn.call_retrying(&reg).await?;
    let out = expect_success(s, &a, "2201")?;
    let mdtrt_id = out["data"]["mdtrt_id"]
        .as_str()
        .ok_or_else(|| anyhow!("2201 without mdtrt_id"))?
        .to_owned();
    let chrg_bchno = format!("CB{visit_no:08}");
    let feedetail: Vec<Value> = lines.iter().enumerate().map(|(i, l)| json!({
        "feedetl_sn": format!("F{:04}", i + 1), "mdtrt_id": mdtrt_id, "psn_no": p.psn_no,
        "chrg_bchno": chrg_bchno, "rx_circ_flag": "0", "fee_ocur_time": when,
        "med_list_codg": l.med_list_codg, "medins_list_codg": format!("H{}", l.med_list_codg),
        "det_item_fee_sumamt": yuan_number(l.amount_fen()),
        "cnt": number(&format!("{}.0000", l.units)), "pric": yuan_number(l.pric_fen),
        "bilg_dept_codg": "0301", "bilg_dept_name": "内科", "bilg_dr_codg": "D0001",
        "bilg_dr_name": "门诊医生", "hosp_appr_flag": "1"
    })).collect();
    let fees = b.envelope("2204", &p.insuplc_admdvs, json!({"feedetail": feedetail}));
    let (s, a) = conn.call_retrying(&fees).await?;
    expect_success(s, &a, "2204")?;
    let total: i64 = lines.iter().map(FeeLine::amount_fen).sum();
    let data = json!({
        "psn_no": p.psn_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno, "med_type": "11",
        "medfee_sumamt": yuan_number(total), "psn_setlway": "01", "mdtrt_id": mdtrt_id,
        "chrg_bchno": chrg_bchno, "acct_used_flag": "1", "insutype": p.insutype
    });
    let pre = b.envelope("2206", &p.insuplc_admdvs, json!({"data": data.clone()}));
    let (s, a) = conn.call_retrying(&pre).await?;
    expect_success(s, &a, "2206")?;
    let settle = b.envelope("2207", &p.insuplc_admdvs, json!({"data": data}));
    Ok((mdtrt_id, settle))
}

/// Outpatient visit: 1101 → 2201 → 2204 → 2206 → 2207.
pub async fn outpatient_visit(
    conn: &mut HisConnection,
    b: &mut EnvelopeBuilder,
    p: &Insured,
    lines: &[FeeLine],
    visit_no: u64,
) -> Result<Settled> {
    let (mdtrt_id, settle) = outpatient_until_settlement(conn, b, p, lines, visit_no).await?;
    let msgid = settle["msgid"].as_str().unwrap_or_default().to_owned();
    let (s, a) = conn.call_retrying(&settle).await?;
    let out = expect_success(s, &a, "2207")?;
    Ok(Settled {
        mdtrt_id,
        setl_id: out["setlinfo"]["setl_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        msgid,
        setlinfo: out["setlinfo"].clone(),
        request: settle,
    })
}

/// Inpatient stay: 1101 → 2401 admission → 2301 fee detail → 2303 pre-settlement → 2304 → 2402.
pub async fn inpatient_stay(
    conn: &mut HisConnection,
    b: &mut EnvelopeBuilder,
    p: &Insured,
    lines: &[FeeLine],
    stay_no: u64,
) -> Result<Settled> {
    person_info(conn, b, p).await?;
    let when = fee_time(b);
    let diag = json!([{
        "psn_no": p.psn_no, "diag_type": "1", "maindiag_flag": "1", "diag_srt_no": 1,
        "diag_code": "K35.800", "diag_name": "急性阑尾炎", "diag_dept": "外科",
        "dise_dor_no": "D0101", "dise_dor_name": "住院医生", "diag_time": when
    }]);
    let adm = b.envelope("2401", &p.insuplc_admdvs, json!({
        "mdtrtinfo": {
            "psn_no": p.psn_no, "insutype": p.insutype, "begntime": when, "mdtrt_cert_type": "02",
            "mdtrt_cert_no": p.certno, "med_type": "21", "ipt_no": format!("ZY{stay_no:010}"),
            "atddr_no": "D0101", "chfpdr_name": "主任医生", "adm_diag_dscr": "急性阑尾炎",
            "adm_dept_codg": "0501", "adm_dept_name": "外科", "adm_bed": "12",
            "dscg_maindiag_code": "K35.800", "dscg_maindiag_name": "急性阑尾炎"
        },
        "diseinfo": diag.clone()
    }));
    let (s, a) = conn.call_retrying(&adm).await?;
    let out = expect_success(s, &a, "2401")?;
    let mdtrt_id = out["result"]["mdtrt_id"]
        .as_str()
        .ok_or_else(|| anyhow!("2401 without mdtrt_id"))?
        .to_owned();
    let feedetail: Vec<Value> = lines.iter().enumerate().map(|(i, l)| json!({
        "feedetl_sn": format!("Z{:04}", i + 1), "mdtrt_id": mdtrt_id, "psn_no": p.psn_no,
        "med_type": "21", "fee_ocur_time": when, "med_list_codg": l.med_list_codg,
        "medins_list_codg": format!("H{}", l.med_list_codg),
        "det_item_fee_sumamt": yuan_number(l.amount_fen()),
        "cnt": number(&format!("{}.0000", l.units)), "pric": yuan_number(l.pric_fen),
        "bilg_dept_codg": "0501", "bilg_dept_name": "外科", "bilg_dr_codg": "D0101", "bilg_dr_name": "住院医生"
    })).collect();
    let fees = b.envelope("2301", &p.insuplc_admdvs, json!({"feedetail": feedetail}));
    let (s, a) = conn.call_retrying(&fees).await?;
    expect_success(s, &a, "2301")?;
    let total: i64 = lines.iter().map(FeeLine::amount_fen).sum();
    let data = json!({
        "psn_no": p.psn_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno,
        "medfee_sumamt": yuan_number(total), "psn_setlway": "01", "mdtrt_id": mdtrt_id,
        "acct_used_flag": "1", "insutype": p.insutype, "mid_setl_flag": "0"
    });
    let pre = b.envelope("2303", &p.insuplc_admdvs, json!({"data": data.clone()}));
    let (s, a) = conn.call_retrying(&pre).await?;
    expect_success(s, &a, "2303")?;
    let settle = b.envelope("2304", &p.insuplc_admdvs, json!({"data": data}));
    let msgid = settle["msgid"].as_str().unwrap_or_default().to_owned();
    let (s, a) = conn.call_retrying(&settle).await?;
    let out = expect_success(s, &a, "2304")?;
    let dscg = b.envelope(
        "2402",
        &p.insuplc_admdvs,
        json!({
            "dscginfo": {
                "mdtrt_id": mdtrt_id, "psn_no": p.psn_no, "insutype": p.insutype, "endtime": when,
                "dscg_dept_codg": "0501", "dscg_dept_name": "外科", "dscg_way": "1"
            },
            "diseinfo": diag
        }),
    );
    let (s, a) = conn.call_retrying(&dscg).await?;
    expect_success(s, &a, "2402")?;
    Ok(Settled {
        mdtrt_id,
        setl_id: out["setlinfo"]["setl_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        msgid,
        setlinfo: out["setlinfo"].clone(),
        request: settle,
    })
}

/// The reversal of a settlement: 2208 (outpatient) or 2305 (inpatient), under a new msgid.
pub fn reversal_envelope(
    b: &mut EnvelopeBuilder,
    p: &Insured,
    settled: &Settled,
    inpatient: bool,
) -> Value {
    let infno = if inpatient { "2305" } else { "2208" };
    b.envelope(
        infno,
        &p.insuplc_admdvs,
        json!({"data": {
            "setl_id": settled.setl_id, "mdtrt_id": settled.mdtrt_id, "psn_no": p.psn_no
        }}),
    )
}

/// Reverse a settlement: 2208 (outpatient) or 2305 (inpatient).
pub async fn reverse(
    conn: &mut HisConnection,
    b: &mut EnvelopeBuilder,
    p: &Insured,
    settled: &Settled,
    inpatient: bool,
) -> Result<Value> {
    let env = reversal_envelope(b, p, settled, inpatient);
    let (s, a) = conn.call_retrying(&env).await?;
    expect_success(s, &a, env["infno"].as_str().unwrap_or_default())
}

/// Reverse a cross-region outpatient settlement (2208) until its outcome is known
/// ([`call_until_resolved`]); its output.
pub async fn cross_region_reverse(
    conn: &mut HisConnection,
    b: &mut EnvelopeBuilder,
    p: &Insured,
    settled: &Settled,
) -> Result<Value> {
    let env = reversal_envelope(b, p, settled, false);
    Ok(call_until_resolved(conn, b, env, &p.insuplc_admdvs)
        .await?
        .1)
}
