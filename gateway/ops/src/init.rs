//! `medsettle init --dir DIR`: a working gateway for a newcomer — a development CA, the server
//! certificate, one client certificate per sample institution, the sample policy, catalogue,
//! persons and institutions of pool region 440300, and `DIR/medsettle.toml` tying them together.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use medsettle_server::Role;
use medsettle_server::pki::generate_dev_pki;
use serde::Serialize;

use crate::config::parse_institutions;

/// The embedded default data set (specs/sample/), so `init` needs no files around it.
pub const SAMPLE_INSTITUTIONS: &str = include_str!("../../../specs/sample/institutions.toml");
pub const SAMPLE_POLICY: &str = include_str!("../../../specs/sample/policy.toml");
pub const SAMPLE_CATALOGUE: &str = include_str!("../../../specs/sample/catalogue.toml");
pub const SAMPLE_PERSONS: &str = include_str!("../../../specs/sample/persons.toml");
pub const SAMPLE_SETTLEMENT_POLICY: &str =
    include_str!("../../../specs/sample/settlement-policy.toml");

/// Name of the operator's client certificate (for `/metrics` and operator calls).
pub const OPERATOR_CLIENT: &str = "operator";

/// Per-institution request rate written by `init` (requests per second, and burst).
pub const RATE_PER_INSTITUTION_PER_SECOND_INIT: u32 = 200;
pub const RATE_BURST_INIT: u32 = 400;

/// Files `init` writes, relative to DIR.
pub const CONFIG_FILE: &str = "medsettle.toml";

fn write(dir: &Path, rel: &str, text: &str) -> Result<PathBuf> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn relative(dir: &Path, p: &Path) -> PathBuf {
    p.strip_prefix(dir)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| p.to_owned())
}

/// The pool region of the embedded sample data.
pub const SAMPLE_REGION: &str = "440300";

/// Write everything under `dir`; `listen` is the address written into the config.
pub fn run(dir: &Path, listen: &str, force: bool) -> Result<PathBuf> {
    run_for_region(dir, listen, force, SAMPLE_REGION)
}

/// [`run`] for another pool region: the sample data with `region` (6 digits) in place of
/// 440300 — the receiver region, the schemes, the persons' insured place, the institutions'
/// codes (`H` + region + serial) — so several gateways of different regions can be set up,
/// e.g. to try cross-region settlement between them.
pub fn run_for_region(dir: &Path, listen: &str, force: bool, region: &str) -> Result<PathBuf> {
    if region.len() != 6 || !region.bytes().all(|b| b.is_ascii_digit()) || region.starts_with('0') {
        bail!(crate::error::BadInput::new(format!(
            "--region {region}: a 6-digit administrative division code"
        )));
    }
    let sample = |text: &str| text.replace(SAMPLE_REGION, region);
    let config_path = dir.join(CONFIG_FILE);
    if config_path.exists() && !force {
        bail!(crate::error::BadInput::new(format!(
            "{} already exists; use --force to overwrite it (the journal under data/ is kept)",
            config_path.display()
        )));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let institutions = parse_institutions(&sample(SAMPLE_INSTITUTIONS))?;
    let codes: Vec<[&str; 1]> = institutions
        .iter()
        .map(|i| [i.fixmedins_code.as_str()])
        .collect();
    let mut clients: Vec<(&str, Role, &[&str])> = institutions
        .iter()
        .zip(&codes)
        .map(|(i, c)| (i.fixmedins_code.as_str(), Role::Institution, &c[..]))
        .collect();
    clients.push((OPERATOR_CLIENT, Role::Operator, &[]));
    let pki = generate_dev_pki(&dir.join("certs"), &["localhost", "127.0.0.1"], &clients)
        .context("generating the development PKI")?;

    write(&dir, "policy/policy.toml", &sample(SAMPLE_POLICY))?;
    write(&dir, "policy/catalogue.toml", SAMPLE_CATALOGUE)?;
    write(&dir, "policy/persons.toml", &sample(SAMPLE_PERSONS))?;
    write(
        &dir,
        "settlement/policy.toml",
        &sample(SAMPLE_SETTLEMENT_POLICY),
    )?;
    write(&dir, "institutions.toml", &sample(SAMPLE_INSTITUTIONS))?;
    write(&dir, "samples/1101.json", &sample(&sample_1101()))?;

    let mut server = pki.server_config();
    server.listen = listen.to_owned();
    // A large hospital peaks at a few settlements a second, each 4–6 requests.
    server.limits.rate_per_institution_per_second = RATE_PER_INSTITUTION_PER_SECOND_INIT;
    server.limits.rate_burst = RATE_BURST_INIT;
    server.server_cert_chain = relative(&dir, &server.server_cert_chain);
    server.server_key = relative(&dir, &server.server_key);
    server.client_ca_bundles = server
        .client_ca_bundles
        .iter()
        .map(|p| relative(&dir, p))
        .collect();
    #[derive(Serialize)]
    struct ServerOnly {
        server: medsettle_server::ServerConfig,
    }
    let server_toml = toml::to_string(&ServerOnly { server }).context("rendering [server]")?;
    write(
        &dir,
        CONFIG_FILE,
        &format!("{}{server_toml}", sample(&config_header())),
    )?;
    // Prove the file we wrote is one the gateway accepts.
    crate::config::load(&config_path).context("the written configuration does not load")?;
    let operator = pki
        .client(OPERATOR_CLIENT)
        .context("the operator certificate was not generated")?;
    let password = one_time_password()?;
    let p12 = write_operator_p12(
        &dir.join(OPERATOR_P12),
        &operator.cert,
        &operator.key,
        &dir.join("certs/ca.pem"),
        &password,
    )?;
    // The password is printed once and stored nowhere: whoever imports the file needs it.
    println!(
        "operator certificate for a browser (the console at /console/): {} — one-time password: {password}",
        p12.display()
    );
    Ok(config_path)
}

/// Where `init` writes the operator certificate and key as PKCS#12, relative to DIR.
pub const OPERATOR_P12: &str = "certs/operator.p12";
/// Friendly name (alias) of the operator's key in the PKCS#12 file.
pub const OPERATOR_P12_ALIAS: &str = "medsettle operator";

/// A fresh password for the PKCS#12 file: 16 characters from the system's random source,
/// of an alphabet without look-alikes (no 0/O, 1/l/I).
pub fn one_time_password() -> Result<String> {
    use std::io::Read;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 64];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading the system's random source for the PKCS#12 password")?;
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - 256 % ALPHABET.len();
    let password: String = bytes
        .iter()
        .filter(|b| usize::from(**b) < limit)
        .take(16)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    if password.len() < 16 {
        bail!("the system's random source gave too few usable bytes");
    }
    Ok(password)
}

/// Write the certificate `cert_pem` (with the CA of `ca_pem` after it) and its key `key_pem`
/// as a PKCS#12 file at `out`, encrypted under `password` (the library's default: PBES2 with
/// AES-256-CBC and an HMAC-SHA-256 MAC, which current browsers and `openssl pkcs12` import).
pub fn write_operator_p12(
    out: &Path,
    cert_pem: &Path,
    key_pem: &Path,
    ca_pem: &Path,
    password: &str,
) -> Result<PathBuf> {
    use medsettle_server::tls::{load_certificates, load_private_key};
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let p12 = |e: p12_keystore::error::Error| anyhow::anyhow!("PKCS#12: {e}");
    let mut chain = Vec::new();
    for path in [cert_pem, ca_pem] {
        for der in load_certificates(path).with_context(|| format!("reading {}", path.display()))? {
            chain.push(Certificate::from_der(der.as_ref()).map_err(p12)?);
        }
    }
    let key =
        load_private_key(key_pem).with_context(|| format!("reading {}", key_pem.display()))?;
    let key = PrivateKey::from_der(key.secret_der()).map_err(p12)?;
    let mut store = KeyStore::new();
    store.add_entry(
        OPERATOR_P12_ALIAS,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(OPERATOR_P12_ALIAS, key, chain)),
    );
    let bytes = store.writer(password).write().map_err(p12)?;
    write_private(out, &bytes)?;
    Ok(out.to_owned())
}

/// Write `bytes` readable by the owner only (it holds a private key).
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// What a PKCS#12 file written by [`write_operator_p12`] holds: the alias, the certificates'
/// DER (leaf first) and the key's DER. Fails on a wrong password.
pub fn read_operator_p12(path: &Path, password: &str) -> Result<(String, Vec<Vec<u8>>, Vec<u8>)> {
    use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let store = KeyStore::from_pkcs12(&data, password, Pkcs12ImportPolicy::Strict)
        .map_err(|e| anyhow::anyhow!("PKCS#12 {}: {e}", path.display()))?;
    let (alias, chain) = store
        .private_key_chain()
        .context("no private key in the PKCS#12 file")?;
    Ok((
        alias.to_owned(),
        chain.certs().iter().map(|c| c.as_der().to_vec()).collect(),
        chain.key().as_der().to_vec(),
    ))
}

fn config_header() -> String {
    r#"# medsettle configuration, written by `medsettle init`. Relative paths are relative to this file.
# Every section is documented in README.md ("Configuration"); unknown keys are refused.

# Where the journal (sled), reports and bank files go.
data_dir = "data"

[gateway]
# The agency's region: first 6 digits of every inf_refmsgid this gateway issues.
receiver_admdvs = "440300"
# Deepest JSON nesting accepted in an envelope.
json_depth_max = 32
# Settlement identities that only warn (known provincial quirks), e.g. ["NHSA-ID-2"].
identity_warn_only = []
# Logs on standard error: auto (colours on a terminal, plain otherwise), text or json.
log_format = "auto"

[store]
# fsync (default): acknowledge only after flush + fdatasync; flush: sled flush only;
# none: benchmarks only.
durability = "fsync"
# Largest journal record, bytes (default 134217728 = 128 MiB): one bank batch or receipt
# file is journaled in one record, about 59 MB for 100,000 payments.
# record_bytes_max = 134217728
# Group commit under concurrent load: wait up to this many microseconds for more writes
# before a flush (default 2000; 0 = flush at once; a lone writer never waits), or until
# flush_batch_target writes (default 64) are pending.
# flush_linger_us = 2000
# flush_batch_target = 64

[core]
# The embedded settlement core: benefit policy, catalogue and person registry.
policy = "policy/policy.toml"
catalogue = "policy/catalogue.toml"
persons = "policy/persons.toml"

[settlement]
# Instant settlement (日拨付, 月结算, 季评议, 年清算) of pool region 440300.
policy = "settlement/policy.toml"
institutions = "institutions.toml"
# Working-day calendars, one file per year; empty = the embedded 2025–2026 calendar.
calendar = []
# serve warns (log, medsettle_calendar_days_left) when the calendar ends within this many
# days: add the next year's file once the State Council publishes it (each November).
# calendar_warn_days = 60

[settlement.debtor]
# The agency's fund-expenditure account (基金支出户).
name = "深圳市医疗保障事务中心基金支出户"
account = "44201500100059000001"
bank_code = "105584000005"
bank_name = "中国建设银行深圳分行"

[bank]
# Payment file format: pain001 (ISO 20022) or gbk (the delimited GBK bank format).
format = "pain001"
# How often the running gateway applies receipt files that arrive in data/bank/inbox, ms.
# inbox_poll_ms = 1000

[operator]
# The operator's certificate: `medsettle settle|bank|journal …` present it to the gateway
# running on this configuration (the journal is its own while it runs).
cert = "certs/clients/operator.pem"
key = "certs/clients/operator.key"
ca = "certs/ca.pem"

"#
    .to_owned()
}

fn sample_1101() -> String {
    serde_json::json!({
        "infno": "1101",
        "msgid": "H44030000001202611221030000001",
        "mdtrtarea_admvs": "440300",
        "insuplc_admdvs": "440300",
        "recer_sys_code": "YBXT",
        "dev_no": "", "dev_safe_info": "", "cainfo": "", "signtype": "",
        "infver": "V1.0",
        "opter_type": "1", "opter": "0001", "opter_name": "收费员",
        "inf_time": "2026-11-22 10:30:00",
        "fixmedins_code": "H44030000001",
        "fixmedins_name": "深圳市示例第一人民医院",
        "sign_no": "",
        "input": {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": first_certno(), "psn_cert_type": "01"}}
    })
    .to_string()
}

fn first_certno() -> String {
    SAMPLE_PERSONS
        .lines()
        .find_map(|l| l.strip_prefix("certno = \""))
        .map(|s| s.trim_end_matches('"').to_owned())
        .expect("the sample registry has persons")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_p12_round_trips_with_its_password_only() {
        let dir = tempfile::tempdir().unwrap();
        run(dir.path(), "127.0.0.1:0", false).unwrap();
        let dir = dir.path().canonicalize().unwrap();
        let path = dir.join(OPERATOR_P12);
        // A password of our own, so the test can read it back.
        let password = one_time_password().unwrap();
        assert_eq!(password.len(), 16);
        assert_ne!(password, one_time_password().unwrap());
        let certs = dir.join("certs/clients");
        write_operator_p12(
            &path,
            &certs.join("operator.pem"),
            &certs.join("operator.key"),
            &dir.join("certs/ca.pem"),
            &password,
        )
        .unwrap();
        let (alias, chain, key) = read_operator_p12(&path, &password).unwrap();
        assert_eq!(alias, OPERATOR_P12_ALIAS);
        let leaf = medsettle_server::tls::load_certificates(&certs.join("operator.pem")).unwrap();
        let ca = medsettle_server::tls::load_certificates(&dir.join("certs/ca.pem")).unwrap();
        assert_eq!(chain, vec![leaf[0].to_vec(), ca[0].to_vec()]);
        let pem_key = medsettle_server::tls::load_private_key(&certs.join("operator.key")).unwrap();
        assert_eq!(key, pem_key.secret_der());
        assert!(read_operator_p12(&path, "wrong password").is_err());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
