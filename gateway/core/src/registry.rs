//! The person registry (参保人员): who is insured where, and their account balances.
//!
//! Loaded from TOML (`specs/policy/persons-example.toml`); [`crate::MemView::with_registry`]
//! seeds a state view from it. The registry is the starting state; balances then change only
//! through [`crate::StateChange::PutBalance`].

use std::collections::BTreeSet;

use medsettle_canonical::{Admdvs, Money, Person};
use serde::Deserialize;

use crate::error::CoreRefusal;
use crate::policy::{parse_date, parse_money};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    person: Vec<RawPerson>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerson {
    psn_no: String,
    psn_name: String,
    psn_cert_type: String,
    certno: String,
    gend: String,
    #[serde(default)]
    naty: String,
    brdy: String,
    insutype: String,
    psn_type: String,
    insuplc_admdvs: String,
    #[serde(default)]
    cvlserv_flag: bool,
    #[serde(default)]
    emp_name: String,
    /// Personal-account balance in yuan; absent = no account (e.g. residents).
    balc: Option<String>,
}

/// One registered person with their starting balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredPerson {
    pub person: Person,
    pub emp_name: String,
    pub balc: Option<Money>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonRegistry {
    pub persons: Vec<RegisteredPerson>,
}

impl PersonRegistry {
    pub fn from_toml_str(text: &str) -> Result<PersonRegistry, CoreRefusal> {
        let raw: RawRegistry = toml::from_str(text).map_err(|e| {
            CoreRefusal::config("persons", format!("not a valid person registry: {e}"))
        })?;
        let mut psn_nos = BTreeSet::new();
        let mut certs = BTreeSet::new();
        let mut persons = Vec::new();
        for (i, r) in raw.person.iter().enumerate() {
            let p = format!("person[{i}]");
            if r.psn_no.is_empty() || r.psn_no.len() > 30 {
                return Err(CoreRefusal::config(
                    format!("{p}.psn_no"),
                    "psn_no has 1 to 30 characters",
                ));
            }
            if !psn_nos.insert(r.psn_no.clone()) {
                return Err(CoreRefusal::config(
                    format!("{p}.psn_no"),
                    format!("psn_no {} is listed twice", r.psn_no),
                ));
            }
            if !certs.insert(r.certno.clone()) {
                return Err(CoreRefusal::config(
                    format!("{p}.certno"),
                    format!("certno {} belongs to two persons", r.certno),
                ));
            }
            parse_date(&format!("{p}.brdy"), &r.brdy)?;
            let insuplc_admdvs = Admdvs::parse(&r.insuplc_admdvs)
                .map_err(|e| CoreRefusal::config(format!("{p}.insuplc_admdvs"), e.to_string()))?;
            let balc = r
                .balc
                .as_deref()
                .map(|t| parse_money(&format!("{p}.balc"), t))
                .transpose()?;
            persons.push(RegisteredPerson {
                person: Person {
                    psn_no: r.psn_no.clone(),
                    psn_name: r.psn_name.clone(),
                    psn_cert_type: r.psn_cert_type.clone(),
                    certno: r.certno.clone(),
                    gend: r.gend.clone(),
                    naty: r.naty.clone(),
                    brdy: r.brdy.clone(),
                    insutype: r.insutype.clone(),
                    psn_type: r.psn_type.clone(),
                    insuplc_admdvs,
                    cvlserv_flag: r.cvlserv_flag,
                },
                emp_name: r.emp_name.clone(),
                balc,
            });
        }
        Ok(PersonRegistry { persons })
    }
}
