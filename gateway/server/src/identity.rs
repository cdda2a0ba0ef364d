//! Who is on the other end of a connection: the verified leaf certificate is read once per
//! connection (fingerprint, subject CN, subjectAltNames) and matched against the configured
//! clients. The result rides along with every request of the connection.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;

use crate::tif::TifClient;

/// What a client is allowed to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A designated institution's HIS: national-interface requests for its own codes.
    Institution,
    /// Another region's gateway (cross-region exchange).
    Peer,
    /// The agency's own tooling.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Institution => "institution",
            Role::Peer => "peer",
            Role::Operator => "operator",
        }
    }
}

/// The authenticated identity of a connection's client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The configured client name.
    pub name: String,
    pub role: Role,
    /// Institution codes this certificate may speak for.
    pub fixmedins_codes: Vec<String>,
    /// Regions (administrative division codes or their prefixes) a peer gateway's certificate
    /// may speak for (cross-region exchange, `specs/interregion.md`).
    pub regions: Vec<String>,
    /// Lowercase hex SHA-256 of the presented leaf certificate (DER).
    pub fingerprint_sha256: String,
}

impl ClientIdentity {
    /// May this client send envelopes carrying `fixmedins_code`? (Checked by the service,
    /// which parses the envelope; rule `GW-AUTH`.)
    pub fn may_speak_for(&self, fixmedins_code: &str) -> bool {
        self.fixmedins_codes.iter().any(|c| c == fixmedins_code)
    }

    /// May this peer speak for region `admdvs`? A configured region is a code or a prefix
    /// of one (`44` = the whole province, `440100` = one city).
    pub fn may_speak_for_region(&self, admdvs: &str) -> bool {
        self.role == Role::Peer && self.regions.iter().any(|r| admdvs.starts_with(r.as_str()))
    }
}

/// How a configured client's certificate is recognised; every criterion given must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMatch {
    pub fingerprint_sha256: Option<[u8; 32]>,
    pub subject_cn: Option<String>,
    pub san: Option<String>,
}

/// One configured client, resolved.
#[derive(Debug, Clone)]
pub struct ConfiguredClient {
    /// The identity, with an empty fingerprint (filled from the presented certificate).
    pub template: ClientIdentity,
    pub matcher: ClientMatch,
    pub tif: Option<Arc<TifClient>>,
}

/// The facts of a leaf certificate the matcher looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    pub fingerprint_sha256: [u8; 32],
    pub subject_cn: Option<String>,
    /// DNS names, e-mail addresses and URIs of the subjectAltName extension.
    pub san: Vec<String>,
}

impl CertificateFacts {
    /// Read a DER certificate. Fails only on certificates rustls accepted but x509-parser
    /// cannot read, which are refused rather than guessed at.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let fingerprint_sha256: [u8; 32] = Sha256::digest(der).into();
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("unreadable client certificate: {e}"))?;
        let subject_cn = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned);
        let mut san = Vec::new();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for name in &ext.value.general_names {
                match name {
                    GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                        san.push((*s).to_owned())
                    }
                    _ => {}
                }
            }
        }
        Ok(CertificateFacts {
            fingerprint_sha256,
            subject_cn,
            san,
        })
    }

    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint_sha256)
    }
}

/// Why a verified certificate was not let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unrecognised {
    /// No configured client matches.
    NoMatch,
    /// Several name-matched clients fit; refusing beats picking one's rights at random.
    Ambiguous(Vec<String>),
}

/// A connection's client after matching: its identity and its x-tif settings.
#[derive(Debug, Clone)]
pub struct ConnectionClient {
    pub identity: Arc<ClientIdentity>,
    pub tif: Option<Arc<TifClient>>,
}

/// The configured clients, in configuration order.
#[derive(Debug, Clone)]
pub struct ClientDirectory {
    clients: Vec<ConfiguredClient>,
}

impl ClientDirectory {
    pub fn new(clients: Vec<ConfiguredClient>) -> Self {
        ClientDirectory { clients }
    }

    /// Match a certificate. A fingerprint pin is the strongest statement, so a client whose
    /// pin matches wins outright (pins are unique, checked by the config); otherwise exactly
    /// one client may match by names.
    pub fn identify(&self, facts: &CertificateFacts) -> Result<ConnectionClient, Unrecognised> {
        let matching: Vec<&ConfiguredClient> = self
            .clients
            .iter()
            .filter(|c| matches(&c.matcher, facts))
            .collect();
        let chosen = match matching
            .iter()
            .find(|c| c.matcher.fingerprint_sha256.is_some())
        {
            Some(pinned) => *pinned,
            None => match matching.as_slice() {
                [] => return Err(Unrecognised::NoMatch),
                [one] => *one,
                many => {
                    return Err(Unrecognised::Ambiguous(
                        many.iter().map(|c| c.template.name.clone()).collect(),
                    ));
                }
            },
        };
        let mut identity = chosen.template.clone();
        identity.fingerprint_sha256 = facts.fingerprint_hex();
        Ok(ConnectionClient {
            identity: Arc::new(identity),
            tif: chosen.tif.clone(),
        })
    }

    /// Client names, for building per-client state (rate buckets).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.clients.iter().map(|c| c.template.name.as_str())
    }
}

fn matches(m: &ClientMatch, facts: &CertificateFacts) -> bool {
    m.fingerprint_sha256
        .is_none_or(|fp| fp == facts.fingerprint_sha256)
        && m.subject_cn
            .as_ref()
            .is_none_or(|cn| facts.subject_cn.as_ref() == Some(cn))
        && m.san.as_ref().is_none_or(|s| facts.san.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(name: &str, m: ClientMatch) -> ConfiguredClient {
        ConfiguredClient {
            template: ClientIdentity {
                regions: Vec::new(),
                name: name.into(),
                role: Role::Institution,
                fixmedins_codes: vec!["H1".into()],
                fingerprint_sha256: String::new(),
            },
            matcher: m,
            tif: None,
        }
    }

    fn facts(fp: u8, cn: &str, san: &[&str]) -> CertificateFacts {
        CertificateFacts {
            fingerprint_sha256: [fp; 32],
            subject_cn: Some(cn.into()),
            san: san.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn by_cn(cn: &str) -> ClientMatch {
        ClientMatch {
            fingerprint_sha256: None,
            subject_cn: Some(cn.into()),
            san: None,
        }
    }

    #[test]
    fn all_given_criteria_must_match() {
        let dir = ClientDirectory::new(vec![client(
            "a",
            ClientMatch {
                fingerprint_sha256: Some([1; 32]),
                subject_cn: Some("his-a".into()),
                san: None,
            },
        )]);
        assert!(dir.identify(&facts(1, "his-a", &[])).is_ok());
        assert_eq!(
            dir.identify(&facts(2, "his-a", &[])).unwrap_err(),
            Unrecognised::NoMatch,
            "right name, wrong certificate"
        );
        assert_eq!(
            dir.identify(&facts(1, "other", &[])).unwrap_err(),
            Unrecognised::NoMatch
        );
    }

    #[test]
    fn pin_wins_over_name_and_names_must_be_unambiguous() {
        let dir = ClientDirectory::new(vec![
            client("by-name", by_cn("his")),
            client("by-name-2", by_cn("his")),
            client(
                "pinned",
                ClientMatch {
                    fingerprint_sha256: Some([7; 32]),
                    subject_cn: None,
                    san: None,
                },
            ),
        ]);
        let got = dir.identify(&facts(7, "his", &[])).unwrap();
        assert_eq!(got.identity.name, "pinned");
        assert_eq!(got.identity.fingerprint_sha256, "07".repeat(32));
        assert_eq!(
            dir.identify(&facts(8, "his", &[])).unwrap_err(),
            Unrecognised::Ambiguous(vec!["by-name".into(), "by-name-2".into()])
        );
    }

    #[test]
    fn san_matches_any_listed_name() {
        let dir = ClientDirectory::new(vec![client(
            "s",
            ClientMatch {
                fingerprint_sha256: None,
                subject_cn: None,
                san: Some("his.example".into()),
            },
        )]);
        assert!(dir.identify(&facts(1, "x", &["a", "his.example"])).is_ok());
        assert!(dir.identify(&facts(1, "his.example", &["a"])).is_err());
    }
}
