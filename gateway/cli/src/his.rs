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
pub fn client_tls(ca_pem: &Path, cert_pem: &Path, key_pem: &Path) -> Result<Arc<rustls::ClientConfig>> {
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

/// One keep-alive HTTP/1.1 connection over mutual TLS.
pub struct HisConnection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    authority: String,
}

impl HisConnection {
    pub async fn connect(addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> Result<HisConnection> {
        let tcp = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        tcp.set_nodelay(true)?;
        let name = ServerName::IpAddress(addr.ip().into());
        let stream = TlsConnector::from(tls).connect(name, tcp).await.context("TLS handshake")?;
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

    /// POST a JSON body; returns the status and the body bytes.
    pub async fn post(&mut self, path: &str, body: Bytes) -> Result<(u16, Bytes)> {
        self.sender.ready().await.map_err(|e| anyhow!("connection closed: {e}"))?;
        let req = hyper::Request::post(path)
            .header("host", &self.authority)
            .header("content-type", "application/json; charset=utf-8")
            .body(Full::new(body))?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// POST an envelope and parse the answer envelope.
    pub async fn call(&mut self, envelope: &Value) -> Result<(u16, Value)> {
        let (status, body) = self.post(CALL_SERVICE_PATH, Bytes::from(envelope.to_string())).await?;
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
    base: time::PrimitiveDateTime,
    seq: u64,
}

impl EnvelopeBuilder {
    pub fn new(sender: Sender, base: time::PrimitiveDateTime) -> EnvelopeBuilder {
        EnvelopeBuilder { sender, base, seq: 0 }
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
        (format!("{}{}{:04}", self.sender.fixmedins_code, stamp, n), second)
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
