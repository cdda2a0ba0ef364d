//! The operator API's client: reads (`GET /ops/…`, text) and actions (`POST /ops/<action>`,
//! JSON, with an `Idempotency-Key`), over one keep-alive mutual-TLS connection with the
//! operator certificate. The command line uses it when a gateway runs on its configuration.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Prefix of every operator path.
pub const OPS_PREFIX: &str = "/ops/";

/// One connection to a gateway's operator API.
pub struct OperatorClient {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    authority: String,
}

/// Whether connecting failed because nothing listens there (a gateway that is not running),
/// as opposed to a gateway that refused us.
pub fn is_not_listening(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable
            )
        })
    })
}

impl OperatorClient {
    pub async fn connect(addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> Result<Self> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to the gateway at {addr}"))?;
        tcp.set_nodelay(true)?;
        let stream = TlsConnector::from(tls)
            .connect(ServerName::IpAddress(addr.ip().into()), tcp)
            .await
            .context("TLS handshake with the gateway")?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(OperatorClient {
            sender,
            authority: addr.to_string(),
        })
    }

    /// `GET /ops/<path_and_query>`: the status and the body.
    pub async fn get(&mut self, path_and_query: &str) -> Result<(u16, Bytes)> {
        let req = hyper::Request::get(format!("{OPS_PREFIX}{path_and_query}"))
            .header("host", &self.authority)
            .body(Full::new(Bytes::new()))?;
        self.send(req).await
    }

    /// `POST /ops/<path>` with a JSON body under operation id `op_id`.
    pub async fn post(&mut self, path: &str, op_id: &str, body: Vec<u8>) -> Result<(u16, Bytes)> {
        let req = hyper::Request::post(format!("{OPS_PREFIX}{path}"))
            .header("host", &self.authority)
            .header("content-type", "application/json")
            .header("idempotency-key", op_id)
            .body(Full::new(Bytes::from(body)))?;
        self.send(req).await
    }

    async fn send(&mut self, req: hyper::Request<Full<Bytes>>) -> Result<(u16, Bytes)> {
        self.sender
            .ready()
            .await
            .map_err(|e| anyhow!("connection to the gateway closed: {e}"))?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}
