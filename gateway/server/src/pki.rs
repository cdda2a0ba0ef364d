//! A development PKI made with rcgen: a CA, a server certificate, and one client certificate
//! per configured client, written as PEM files, with the fingerprints a configuration needs.
//! For development and tests only: the CA key sits next to its certificate.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::config::{ClientConfig, ServerConfig};
use crate::error::ServerError;
use crate::identity::Role;

/// Validity of the development CA.
pub const DEV_CA_VALIDITY_DAYS: i64 = 3650;
/// Validity of development server and client certificates.
pub const DEV_LEAF_VALIDITY_DAYS: i64 = 825;
/// Backdating of `notBefore`, so a clock slightly behind still accepts fresh certificates.
pub const DEV_BACKDATE_DAYS: i64 = 1;
/// Common name of the development CA.
pub const DEV_CA_COMMON_NAME: &str = "medsettle development CA";

/// A client certificate written to disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevClientCert {
    pub name: String,
    pub role: Role,
    pub fixmedins_codes: Vec<String>,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Lowercase hex SHA-256 of the DER certificate.
    pub fingerprint_sha256: String,
}

impl DevClientCert {
    /// The `[[clients]]` entry recognising this certificate: pinned by fingerprint and CN.
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig {
            name: self.name.clone(),
            role: self.role,
            // for a peer, the codes given to the generator are the regions it speaks for
            fixmedins_codes: if self.role == Role::Peer {
                Vec::new()
            } else {
                self.fixmedins_codes.clone()
            },
            regions: if self.role == Role::Peer {
                self.fixmedins_codes.clone()
            } else {
                Vec::new()
            },
            fingerprint_sha256: Some(self.fingerprint_sha256.clone()),
            subject_cn: Some(self.name.clone()),
            san: None,
            tif: None,
        }
    }
}

/// The files of a development PKI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevPki {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub clients: Vec<DevClientCert>,
}

impl DevPki {
    /// A server configuration using these files, with every client registered.
    pub fn server_config(&self) -> ServerConfig {
        let mut c = ServerConfig::new(
            &self.server_cert,
            &self.server_key,
            vec![self.ca_cert.clone()],
        );
        c.clients = self
            .clients
            .iter()
            .map(DevClientCert::client_config)
            .collect();
        c
    }

    pub fn client(&self, name: &str) -> Option<&DevClientCert> {
        self.clients.iter().find(|c| c.name == name)
    }
}

fn pki_err(context: impl Into<String>) -> impl FnOnce(rcgen::Error) -> ServerError {
    let context = context.into();
    move |source| ServerError::Pki { context, source }
}

fn write_file(path: &Path, contents: &str, secret: bool) -> Result<(), ServerError> {
    let io_err = |source| ServerError::Io {
        context: "writing",
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        // Keys readable by the owner only, from the moment the file exists.
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = options.open(path).map_err(io_err)?;
    f.write_all(contents.as_bytes()).map_err(io_err)?;
    f.sync_all().map_err(io_err)
}

fn create_dir(path: &Path) -> Result<(), ServerError> {
    std::fs::create_dir_all(path).map_err(|source| ServerError::Io {
        context: "creating directory",
        path: path.to_owned(),
        source,
    })
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(DEV_BACKDATE_DAYS);
    params.not_after = now + Duration::days(days);
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, common_name);
    p.distinguished_name
        .push(DnType::OrganizationName, "medsettle development");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut p, DEV_CA_VALIDITY_DAYS);
    p
}

/// Issue a client certificate (CN = name, OU = role, extended key usage clientAuth).
fn issue_client(
    issuer: &Issuer<'_, KeyPair>,
    dir: &Path,
    name: &str,
    role: Role,
    codes: &[&str],
) -> Result<DevClientCert, ServerError> {
    let key = KeyPair::generate().map_err(pki_err(format!("client key {name}")))?;
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, name);
    p.distinguished_name
        .push(DnType::OrganizationalUnitName, role.as_str());
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.use_authority_key_identifier_extension = true;
    validity(&mut p, DEV_LEAF_VALIDITY_DAYS);
    let cert = p
        .signed_by(&key, issuer)
        .map_err(pki_err(format!("client certificate {name}")))?;
    let clients_dir = dir.join("clients");
    create_dir(&clients_dir)?;
    let cert_path = clients_dir.join(format!("{name}.pem"));
    let key_path = clients_dir.join(format!("{name}.key"));
    write_file(&cert_path, &cert.pem(), false)?;
    write_file(&key_path, &key.serialize_pem(), true)?;
    Ok(DevClientCert {
        name: name.to_owned(),
        role,
        fixmedins_codes: codes.iter().map(|c| (*c).to_owned()).collect(),
        cert: cert_path,
        key: key_path,
        fingerprint_sha256: hex::encode(Sha256::digest(cert.der())),
    })
}

fn check_client_name(name: &str) -> Result<(), ServerError> {
    // The name becomes a file name: keep it to the characters client names allow anyway.
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        || name.starts_with('.')
    {
        return Err(ServerError::config(
            "clients.name",
            format!("`{name}`: use ASCII letters, digits, `-`, `_`, `.` (not leading)"),
        ));
    }
    Ok(())
}

/// Write `ca.pem`/`ca.key`, `server.pem`/`server.key` (subjectAltNames `server_names`, e.g.
/// `localhost`, `127.0.0.1`) and `clients/<name>.pem`/`.key` for each client into `out_dir`.
pub fn generate_dev_pki(
    out_dir: &Path,
    server_names: &[&str],
    clients: &[(&str, Role, &[&str])],
) -> Result<DevPki, ServerError> {
    if server_names.is_empty() {
        return Err(ServerError::config(
            "server_names",
            "at least one name (e.g. localhost) is needed for the server certificate",
        ));
    }
    for (name, _, _) in clients {
        check_client_name(name)?;
    }
    create_dir(out_dir)?;

    let ca_key = KeyPair::generate().map_err(pki_err("CA key"))?;
    let ca = CertifiedIssuer::self_signed(ca_params(DEV_CA_COMMON_NAME), ca_key)
        .map_err(pki_err("CA certificate"))?;
    let ca_cert = out_dir.join("ca.pem");
    let ca_key_path = out_dir.join("ca.key");
    write_file(&ca_cert, &ca.pem(), false)?;
    write_file(&ca_key_path, &ca.key().serialize_pem(), true)?;

    let server_key = KeyPair::generate().map_err(pki_err("server key"))?;
    let names: Vec<String> = server_names.iter().map(|s| (*s).to_owned()).collect();
    let mut p = CertificateParams::new(names).map_err(pki_err("server names"))?;
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(DnType::CommonName, server_names[0]);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.use_authority_key_identifier_extension = true;
    validity(&mut p, DEV_LEAF_VALIDITY_DAYS);
    let server = p
        .signed_by(&server_key, &ca)
        .map_err(pki_err("server certificate"))?;
    let server_cert = out_dir.join("server.pem");
    let server_key_path = out_dir.join("server.key");
    write_file(&server_cert, &server.pem(), false)?;
    write_file(&server_key_path, &server_key.serialize_pem(), true)?;

    let mut issued = Vec::with_capacity(clients.len());
    for (name, role, codes) in clients {
        issued.push(issue_client(&ca, out_dir, name, *role, codes)?);
    }
    Ok(DevPki {
        ca_cert,
        ca_key: ca_key_path,
        server_cert,
        server_key: server_key_path,
        clients: issued,
    })
}

/// Issue one more client certificate from the development CA in `pki_dir` (its `ca.key`),
/// e.g. to enrol a new HIS. Only for CAs made by [`generate_dev_pki`]: the issuer name is
/// rebuilt from the fixed development CA parameters rather than parsed from `ca.pem`.
pub fn issue_dev_client(
    pki_dir: &Path,
    name: &str,
    role: Role,
    codes: &[&str],
) -> Result<DevClientCert, ServerError> {
    check_client_name(name)?;
    let read = |file: &str| {
        let path = pki_dir.join(file);
        std::fs::read_to_string(&path).map_err(|source| ServerError::Io {
            context: "reading",
            path,
            source,
        })
    };
    let key = KeyPair::from_pem(&read("ca.key")?).map_err(pki_err("CA key"))?;
    let issuer = Issuer::new(ca_params(DEV_CA_COMMON_NAME), key);
    issue_client(&issuer, pki_dir, name, role, codes)
}

/// A client certificate from a *different*, throwaway CA (never written), for testing that
/// certificates from unknown CAs are refused even when their names match a configured
/// client. Files go to `out_dir/clients/<name>.pem`/`.key`.
pub fn generate_foreign_client(
    out_dir: &Path,
    name: &str,
    role: Role,
    codes: &[&str],
) -> Result<DevClientCert, ServerError> {
    check_client_name(name)?;
    create_dir(out_dir)?;
    let key = KeyPair::generate().map_err(pki_err("foreign CA key"))?;
    // Same CA name as the real one: only the signature can tell them apart.
    let ca = CertifiedIssuer::self_signed(ca_params(DEV_CA_COMMON_NAME), key)
        .map_err(pki_err("foreign CA"))?;
    issue_client(&ca, out_dir, name, role, codes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::CertificateFacts;
    use crate::tls;

    #[test]
    fn writes_loadable_files_with_matching_fingerprints() {
        let dir = tempfile::tempdir().unwrap();
        let pki = generate_dev_pki(
            dir.path(),
            &["localhost", "127.0.0.1"],
            &[("his-a", Role::Institution, &["H13110200026"])],
        )
        .unwrap();
        assert_eq!(tls::load_certificates(&pki.ca_cert).unwrap().len(), 1);
        tls::load_private_key(&pki.server_key).unwrap();
        let a = pki.client("his-a").unwrap();
        let der = tls::load_certificates(&a.cert).unwrap().remove(0);
        let facts = CertificateFacts::from_der(der.as_ref()).unwrap();
        assert_eq!(facts.fingerprint_hex(), a.fingerprint_sha256);
        assert_eq!(facts.subject_cn.as_deref(), Some("his-a"));
        let server_der = tls::load_certificates(&pki.server_cert).unwrap().remove(0);
        let server = CertificateFacts::from_der(server_der.as_ref()).unwrap();
        assert!(server.san.contains(&"localhost".to_owned()));
        // the generated configuration validates as is
        pki.server_config().validate().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&a.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "key must not be group/world readable");
        }
    }

    #[test]
    fn names_that_are_not_file_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = generate_dev_pki(dir.path(), &["localhost"], &[("../x", Role::Peer, &[])]);
        assert!(e.is_err());
    }
}
