//! Region codes (医保区划, admdvs): six digits, province(2) + city(2) + district(2).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A 6-digit admdvs region code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Admdvs([u8; 6]);

/// How the insured place relates to the place of treatment (`nhsa-interface.md` §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionRelation {
    /// Same city (first four digits equal): 本地.
    Local,
    /// Same province, another city: 省内异地.
    SameProvince,
    /// Another province: 跨省异地.
    CrossProvince,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a region code: it must be exactly 6 digits with a province code 11–82")]
pub struct AdmdvsError(pub String);

impl Admdvs {
    pub fn parse(text: &str) -> Result<Admdvs, AdmdvsError> {
        let b = text.as_bytes();
        if b.len() != 6 || !b.iter().all(u8::is_ascii_digit) {
            return Err(AdmdvsError(text.to_owned()));
        }
        // GB/T 2260 province codes run from 11 (Beijing) to 82 (Macao); test data in the
        // references use 88 and 99 prefixes for made-up regions, so only 00–10 are refused.
        let province = (b[0] - b'0') * 10 + (b[1] - b'0');
        if province < 11 {
            return Err(AdmdvsError(text.to_owned()));
        }
        let mut code = [0u8; 6];
        code.copy_from_slice(b);
        Ok(Admdvs(code))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ascii digits")
    }

    pub fn province(&self) -> &str {
        &self.as_str()[..2]
    }

    pub fn city(&self) -> &str {
        &self.as_str()[..4]
    }

    /// Classify the insured place `insured` relative to this place of treatment.
    pub fn relation_to(&self, insured: &Admdvs) -> RegionRelation {
        if self.city() == insured.city() {
            RegionRelation::Local
        } else if self.province() == insured.province() {
            RegionRelation::SameProvince
        } else {
            RegionRelation::CrossProvince
        }
    }
}

impl fmt::Display for Admdvs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Admdvs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Admdvs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Admdvs::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for Admdvs {
    type Err = AdmdvsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Admdvs::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_prefix() {
        let shenzhen = Admdvs::parse("440300").unwrap();
        assert_eq!(
            shenzhen.relation_to(&Admdvs::parse("440399").unwrap()),
            RegionRelation::Local
        );
        assert_eq!(
            shenzhen.relation_to(&Admdvs::parse("440100").unwrap()),
            RegionRelation::SameProvince
        );
        assert_eq!(
            shenzhen.relation_to(&Admdvs::parse("500000").unwrap()),
            RegionRelation::CrossProvince
        );
    }

    #[test]
    fn refuses_malformed_codes() {
        for bad in [
            "",
            "44030",
            "4403000",
            "44030a",
            "000000",
            "100000",
            "４４０３００",
        ] {
            assert!(Admdvs::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            serde_json::to_string(&Admdvs::parse("131199").unwrap()).unwrap(),
            "\"131199\""
        );
    }
}
