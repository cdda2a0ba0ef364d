//! Talking to the gateway that runs on a configuration. A running gateway owns the journal
//! (sled allows one process), so an operator command first looks for it: `serve` writes
//! `DATA_DIR/gateway.json` (its address and process id) once it listens and removes it when
//! it stops. If the file names an address where a gateway answers, the command is a request
//! to its operator API, made with the configured operator certificate; if nothing listens
//! there (the gateway was killed), the command opens the journal itself.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use medsettle_client::operator::{OperatorClient, is_not_listening};
use serde::{Deserialize, Serialize};

use crate::actions::{Action, ActionError, Performed};
use crate::api::Query;
use crate::config::Config;
use crate::error::BadInput;

use crate::config::GATEWAY_FILE;

/// The contents of [`GATEWAY_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayFile {
    pub addr: SocketAddr,
    pub pid: u32,
    #[serde(skip)]
    path: PathBuf,
}

impl GatewayFile {
    /// Write the file (through a temporary name and a rename: a reader sees all or nothing).
    pub fn write(config: &Config, addr: SocketAddr) -> Result<GatewayFile> {
        let path = config.gateway_file();
        let f = GatewayFile {
            addr,
            pid: std::process::id(),
            path: path.clone(),
        };
        std::fs::create_dir_all(&config.data_dir)?;
        let tmp = config.data_dir.join(format!(".{GATEWAY_FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(&f)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(f)
    }

    /// Read it, if a gateway wrote one.
    pub fn read(config: &Config) -> Option<GatewayFile> {
        let path = config.gateway_file();
        let bytes = std::fs::read(&path).ok()?;
        let mut f: GatewayFile = serde_json::from_slice(&bytes).ok()?;
        f.path = path;
        Some(f)
    }

    /// Remove it when the gateway stops (only if it is still ours).
    pub fn remove(&self) {
        if GatewayFile::read_at(&self.path).is_some_and(|f| f.pid == self.pid) {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    fn read_at(path: &Path) -> Option<GatewayFile> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }
}

/// A connection to the running gateway, or `None` when none runs on this configuration.
fn connect(config: &Config, rt: &tokio::runtime::Runtime) -> Result<Option<OperatorClient>> {
    let Some(file) = GatewayFile::read(config) else {
        return Ok(None);
    };
    let Some(op) = &config.operator else {
        anyhow::bail!(BadInput::new(format!(
            "a gateway runs on this configuration (at {}, process {}), and the journal is its own; \
             add an [operator] section (cert, key, ca) so that commands can ask it",
            file.addr, file.pid
        )));
    };
    let tls = medsettle_client::his::client_tls(&op.ca, &op.cert, &op.key)?;
    match rt.block_on(OperatorClient::connect(file.addr, tls)) {
        Ok(c) => Ok(Some(c)),
        // Killed without removing its file: nobody owns the journal now.
        Err(e) if is_not_listening(&e) => Ok(None),
        Err(e) => Err(e.context(format!(
            "a gateway runs on this configuration at {} but cannot be reached",
            file.addr
        ))),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Perform `action` on the running gateway, if there is one: `Ok(None)` when none runs.
pub fn perform(config: &Config, op_id: &str, action: &Action) -> Result<Option<Performed>> {
    let rt = runtime()?;
    let Some(mut client) = connect(config, &rt)? else {
        return Ok(None);
    };
    let (status, body) = rt.block_on(client.post(action.path(), op_id, action.request_body()))?;
    if status == 200 {
        return Ok(Some(serde_json::from_slice(&body).with_context(|| {
            format!("the gateway's answer: {}", String::from_utf8_lossy(&body))
        })?));
    }
    #[derive(Deserialize)]
    struct Refusal {
        error: ActionError,
    }
    match serde_json::from_slice::<Refusal>(&body) {
        Ok(r) => Err(r.error.into_anyhow()),
        Err(_) => anyhow::bail!(
            "the gateway answered {status}: {}",
            String::from_utf8_lossy(&body).trim_end()
        ),
    }
}

/// Read `query` from the running gateway, if there is one: `Ok(None)` when none runs.
pub fn read(config: &Config, query: Query) -> Result<Option<String>> {
    get_text(config, query.path())
}

/// The lines of `journal export --from FROM` from the running gateway, page by page (durable
/// records only), written to `out`; `Ok(false)` when no gateway runs.
pub fn export(config: &Config, from: u64, out: &mut dyn std::io::Write) -> Result<bool> {
    let rt = runtime()?;
    let Some(mut client) = connect(config, &rt)? else {
        return Ok(false);
    };
    let limit = crate::journal::OPS_EXPORT_LINES_MAX;
    let mut next = from;
    loop {
        let (status, body) =
            rt.block_on(client.get(&format!("journal/export?from={next}&limit={limit}")))?;
        if status != 200 {
            anyhow::bail!(
                "the gateway answered {status}: {}",
                String::from_utf8_lossy(&body).trim_end()
            );
        }
        out.write_all(&body)?;
        let lines: Vec<&[u8]> = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let last_offset = lines
            .last()
            .and_then(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
            .and_then(|v| v["offset"].as_u64());
        match last_offset {
            Some(o) if lines.len() == limit => next = o + 1,
            _ => return Ok(true),
        }
    }
}

fn get_text(config: &Config, path_and_query: &str) -> Result<Option<String>> {
    let rt = runtime()?;
    let Some(mut client) = connect(config, &rt)? else {
        return Ok(None);
    };
    let (status, body) = rt.block_on(client.get(path_and_query))?;
    let text = String::from_utf8_lossy(&body).into_owned();
    match status {
        200 => Ok(Some(text)),
        400 => Err(BadInput::new(text.trim_end().to_owned()).into()),
        _ => anyhow::bail!("the gateway answered {status}: {}", text.trim_end()),
    }
}

/// A request to an endpoint that exists only on a running gateway (certification sessions):
/// `GET` when `body` is `None`, else `POST` of the JSON `body`. An error when no gateway runs.
pub fn running_only(
    config: &Config,
    path_and_query: &str,
    body: Option<Vec<u8>>,
) -> Result<(u16, bytes::Bytes)> {
    let rt = runtime()?;
    let Some(mut client) = connect(config, &rt)? else {
        anyhow::bail!(BadInput::new(
            "no gateway runs on this configuration: certification sessions and cross-region exchange live in the running gateway (start `medsettle serve`)"
        ));
    };
    match body {
        None => rt.block_on(client.get(path_and_query)),
        // Session endpoints are not journaled actions: the key is not used.
        Some(b) => rt.block_on(client.post(path_and_query, "cert", b)),
    }
}
