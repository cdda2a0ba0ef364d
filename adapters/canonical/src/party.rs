//! Institutions (定点医药机构), persons (参保人) and bank accounts.

use serde::{Deserialize, Serialize};

use crate::region::Admdvs;

/// Hospital level (医院等级), which keys deductibles, ratios and claim scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstitutionLevel {
    /// 一级
    Level1,
    /// 二级
    Level2,
    /// 三级
    Level3,
    /// Not rated (pharmacies, clinics).
    Unrated,
}

impl InstitutionLevel {
    /// Parse the level as written in config and wire data: `1`/`2`/`3`/`unrated`.
    pub fn parse(text: &str) -> Option<InstitutionLevel> {
        Some(match text {
            "1" | "level1" | "一级" => InstitutionLevel::Level1,
            "2" | "level2" | "二级" => InstitutionLevel::Level2,
            "3" | "level3" | "三级" => InstitutionLevel::Level3,
            "0" | "9" | "unrated" | "未定级" => InstitutionLevel::Unrated,
            _ => return None,
        })
    }

    /// The wire code [`InstitutionLevel::parse`] reads back: `1`, `2`, `3`, or `9` unrated.
    pub fn code(self) -> &'static str {
        match self {
            InstitutionLevel::Level1 => "1",
            InstitutionLevel::Level2 => "2",
            InstitutionLevel::Level3 => "3",
            InstitutionLevel::Unrated => "9",
        }
    }
}

/// Enrolment in instant settlement (IS-SC-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrolmentStatus {
    Enrolled,
    Suspended,
    Terminated,
}

/// A bank account that receives or sends money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankAccount {
    /// Account holder's name, exactly as the bank has it (a mismatch fails the payment).
    pub name: String,
    pub account: String,
    /// 12-digit CNAPS bank code (联行号) of the account's branch.
    pub bank_code: String,
    #[serde(default)]
    pub bank_name: String,
}

impl BankAccount {
    /// Whether `bank_code` is a well-formed 12-digit CNAPS code.
    pub fn has_valid_cnaps(&self) -> bool {
        self.bank_code.len() == 12 && self.bank_code.bytes().all(|b| b.is_ascii_digit())
    }
}

/// A designated institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Institution {
    pub fixmedins_code: String,
    pub fixmedins_name: String,
    pub admdvs: Admdvs,
    pub level: InstitutionLevel,
    /// Institution class used for per-class settlement parameters (e.g. `hospital`,
    /// `pharmacy`, `primary`).
    #[serde(default)]
    pub class: String,
    pub status: EnrolmentStatus,
    pub account: BankAccount,
}

/// An insured person as 1101 answers for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub psn_no: String,
    pub psn_name: String,
    #[serde(default)]
    pub psn_cert_type: String,
    pub certno: String,
    #[serde(default)]
    pub gend: String,
    #[serde(default)]
    pub naty: String,
    /// `yyyy-MM-dd`
    pub brdy: String,
    pub insutype: String,
    pub psn_type: String,
    pub insuplc_admdvs: Admdvs,
    #[serde(default)]
    pub cvlserv_flag: bool,
}
