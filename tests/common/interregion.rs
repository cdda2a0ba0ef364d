//! Gateways of several regions on loopback, each calling the others as peers over mutual TLS
//! (`specs/interregion.md`): shared by `tests/interregion_e2e.rs` and
//! `tests/interregion_faults.rs`, which include it with `#[path]` beside `mod common;`.
//!
//! Each region is a `medsettle init --region` workspace with a peer PKI of its own (one peer
//! client certificate, bound to the region's prefix). [`link`] writes every region's
//! `[[peer]]` entries (pinned server certificates, the caller's peer certificate) and lets the
//! callee recognise the caller's certificate; a test may route one caller→callee pair through
//! something else (a fault-injecting proxy) by giving its endpoint.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::*;
use medsettle_client::his::Insured;
use medsettle_server::Role;
use medsettle_server::pki::{DevClientCert, DevPki, generate_dev_pki};
use medsettle_service::interregion::LedgerRow;
use sha2::Digest;

/// One region's gateway: its workspace, codes, port, peer PKI and, while running, process.
pub struct Region {
    pub ws: Workspace,
    pub code: &'static str,
    pub prefix: &'static str,
    pub port: u16,
    pub peer_pki: DevPki,
    pub gw: Option<Gateway>,
}

impl Region {
    /// The address of the running gateway.
    pub fn addr(&self) -> SocketAddr {
        self.gw.as_ref().expect("the gateway is running").addr
    }

    /// The region's own peer client certificate (what it presents to its peers).
    pub fn peer_client(&self) -> &DevClientCert {
        self.peer_pki
            .client(&format!("gw-{}", self.code))
            .expect("the peer PKI has the region's client")
    }

    /// How a peer reaches this gateway directly: its listen address, CA and pinned
    /// certificate.
    pub fn endpoint(&self) -> PeerEndpoint {
        PeerEndpoint {
            url: format!("https://127.0.0.1:{}/interregion/v1", self.port),
            ca: self.ws.path().join("certs/ca.pem"),
            fingerprint: fingerprint(&self.ws.path().join("certs/server.pem")),
        }
    }
}

/// Where a caller sends its peer messages for one callee.
#[derive(Debug, Clone)]
pub struct PeerEndpoint {
    pub url: String,
    /// CA bundle of the endpoint's server certificate.
    pub ca: PathBuf,
    /// SHA-256 of that certificate (pinned).
    pub fingerprint: String,
}

/// The timings of a `[[peer]]` entry: its client's (`upstream.timeout_ms`,
/// `connect_timeout_ms`) and its `[settings]`.
#[derive(Debug, Clone, Copy)]
pub struct PeerTimings {
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub deadline_ms: u64,
    pub backoff_ms: u64,
    pub backoff_max_ms: u64,
    pub resolve_attempts: u32,
    pub resolver_interval_ms: u64,
}

/// The end-to-end test's timings: short, so kills are resolved within the test.
pub const E2E_TIMINGS: PeerTimings = PeerTimings {
    timeout_ms: 2000,
    connect_timeout_ms: 500,
    deadline_ms: 2500,
    backoff_ms: 50,
    backoff_max_ms: 400,
    resolve_attempts: 2,
    resolver_interval_ms: 300,
};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `medsettle init --region CODE` into a fresh directory, on the test calendar.
pub fn init_region(code: &str) -> Workspace {
    let dir = tempfile::tempdir().expect("temp dir");
    run_ok(&[
        "init",
        "--dir",
        dir.path().to_str().unwrap(),
        "--region",
        code,
    ]);
    let calendar = use_test_calendar(dir.path());
    Workspace { dir, calendar }
}

/// SHA-256 of the DER of a PEM certificate, hex.
pub fn fingerprint(pem: &Path) -> String {
    let text = std::fs::read_to_string(pem).unwrap();
    let b64: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    hex::encode(sha2::Sha256::digest(&der))
}

pub fn edit_config(config: &Path, edit: impl FnOnce(&mut toml::Table)) {
    let text = std::fs::read_to_string(config).unwrap();
    let mut table: toml::Table = toml::from_str(&text).unwrap();
    edit(&mut table);
    std::fs::write(config, toml::to_string(&table).unwrap()).unwrap();
}

/// One workspace per `(region code, prefix)`, each with its peer PKI; not linked yet.
pub fn regions(specs: &[(&'static str, &'static str)]) -> Vec<Region> {
    specs
        .iter()
        .map(|(code, prefix)| {
            let ws = init_region(code);
            let name = format!("gw-{code}");
            let peer_pki = generate_dev_pki(
                &ws.path().join("peer-pki"),
                &["localhost", "127.0.0.1"],
                &[(name.as_str(), Role::Peer, &[*prefix])],
            )
            .unwrap();
            Region {
                ws,
                code,
                prefix,
                port: free_port(),
                peer_pki,
                gw: None,
            }
        })
        .collect()
}

/// Every region calls every other as a peer, pinned, with its own peer certificate, at
/// the endpoint `route(caller, callee)` gives (indices into `regions`) or, for `None`, the
/// callee itself; every region recognises the others' peer certificates, for their regions
/// only.
pub fn link(
    regions: &mut [Region],
    timings: PeerTimings,
    route: impl Fn(usize, usize) -> Option<PeerEndpoint>,
) {
    let facts: Vec<(String, &str, PeerEndpoint, DevPki)> = regions
        .iter()
        .map(|r| {
            (
                r.code.to_owned(),
                r.prefix,
                r.endpoint(),
                r.peer_pki.clone(),
            )
        })
        .collect();
    for (me, r) in regions.iter_mut().enumerate() {
        let port = r.port;
        let my_client = facts[me].3.client(&format!("gw-{}", facts[me].0)).unwrap();
        edit_config(&r.ws.config(), |t| {
            let server = t["server"].as_table_mut().unwrap();
            server.insert("listen".into(), format!("127.0.0.1:{port}").into());
            let mut peers = toml::value::Array::new();
            for (them, (code, prefix, direct, pki)) in
                facts.iter().enumerate().filter(|(i, _)| *i != me)
            {
                // they may call me with their peer certificate, for their region only
                let client = pki.client(&format!("gw-{code}")).unwrap();
                server["client_ca_bundles"]
                    .as_array_mut()
                    .unwrap()
                    .push(pki.ca_cert.to_str().unwrap().into());
                let cfg = toml::Value::try_from(client.client_config()).unwrap();
                server["clients"].as_array_mut().unwrap().push(cfg);
                // I call them with mine, pinning their server certificate (or the route's)
                let at = route(me, them).unwrap_or_else(|| direct.clone());
                peers.push(peer_entry(code, prefix, &at, my_client, timings).into());
            }
            t.insert("peer".into(), peers.into());
        });
    }
}

/// One `[[peer]]` entry.
fn peer_entry(
    code: &str,
    prefix: &str,
    at: &PeerEndpoint,
    client: &DevClientCert,
    t: PeerTimings,
) -> toml::Table {
    toml::from_str(&format!(
        r#"
name = "{code}"
admdvs = ["{prefix}"]
[upstream]
url = "{url}"
path_style = "exact"
ca_bundle = "{ca}"
server_fingerprint_sha256 = "{fp}"
client_cert = "{cert}"
client_key = "{key}"
timeout_ms = {timeout_ms}
connect_timeout_ms = {connect_timeout_ms}
[settings]
deadline_ms = {deadline_ms}
backoff_ms = {backoff_ms}
backoff_max_ms = {backoff_max_ms}
resolve_attempts = {resolve_attempts}
resolver_interval_ms = {resolver_interval_ms}
"#,
        url = at.url,
        ca = at.ca.display(),
        fp = at.fingerprint,
        cert = client.cert.display(),
        key = client.key.display(),
        timeout_ms = t.timeout_ms,
        connect_timeout_ms = t.connect_timeout_ms,
        deadline_ms = t.deadline_ms,
        backoff_ms = t.backoff_ms,
        backoff_max_ms = t.backoff_max_ms,
        resolve_attempts = t.resolve_attempts,
        resolver_interval_ms = t.resolver_interval_ms,
    ))
    .unwrap()
}

/// Three provinces; each calls the other two as peers, pinned, with its own peer certificate.
pub fn three_regions() -> Vec<Region> {
    let mut regions = regions(&[("440300", "44"), ("330100", "33"), ("510100", "51")]);
    link(&mut regions, E2E_TIMINGS, |_, _| None);
    regions
}

pub fn start(r: &mut Region) {
    serve(r, Command::new(bin()));
}

/// Start the region's gateway with `medsettle` (the plain binary, or one under libfaketime).
fn serve(r: &mut Region, mut medsettle: Command) {
    let child = medsettle
        .args(["serve", "--config", r.ws.config().to_str().unwrap()])
        .env("MEDSETTLE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn medsettle serve");
    r.gw = Some(Gateway::adopt(child));
}

/// Stop every gateway and start it again with its clock at `at` (`yyyy-MM-dd HH:mm:ss`,
/// libfaketime), as a later day of the settlement calendar.
pub fn restart_all_at(regions: &mut [Region], at: &str) {
    for r in regions.iter_mut() {
        assert!(r.gw.take().unwrap().terminate().success());
    }
    for r in regions.iter_mut() {
        serve(r, medsettle_at(at));
    }
}

pub fn first_institution(code: &str) -> String {
    format!("H{code}00001")
}

/// The insured persons of a region with an employee account (insutype 310).
pub fn insured_of(r: &Region) -> Vec<Insured> {
    r.ws.insured()
        .into_iter()
        .filter(|p| p.insutype == "310")
        .collect()
}

/// Net fund and medical totals per peer message (omsgid), one side's rows with one
/// counterpart: `(rows, Σ medfee, Σ fund)`.
pub fn net_by_omsgid(rows: &[LedgerRow]) -> BTreeMap<String, (usize, i64, i64)> {
    let mut out: BTreeMap<String, (usize, i64, i64)> = BTreeMap::new();
    for r in rows {
        let e = out.entry(r.omsgid.clone()).or_default();
        e.0 += 1;
        e.1 += r.medfee_sumamt.fen();
        e.2 += r.fund_pay_sumamt.fen();
    }
    out
}

/// Exchanges in doubt at a region (`interregion status --json`).
pub fn in_doubt(r: &Region) -> usize {
    let out = run_ok(&[
        "interregion",
        "status",
        "--json",
        "--config",
        r.ws.config().to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["in_doubt"].as_array().unwrap().len()
}

/// Every ledger row of a stopped region's journal; asserts no in-doubt marker is left.
pub fn ledger_of_stopped(r: &Region) -> Vec<LedgerRow> {
    assert!(r.gw.is_none(), "{}: stop the gateway first", r.code);
    let store = medsettle_store::SledStore::open(
        &r.ws.path().join("data/journal"),
        medsettle_store::StoreConfig::default(),
    )
    .unwrap();
    use medsettle_store::Store;
    assert_eq!(
        store
            .scan_prefix(medsettle_service::interregion::SPACE_XR_IN_DOUBT, b"")
            .unwrap()
            .count(),
        0,
        "{}: an in-doubt marker is left",
        r.code
    );
    medsettle_service::interregion::ledger_rows(&store).unwrap()
}
