//! Rule ids: every rejection and warning names one. The table of all rule ids, with their
//! meaning, is `specs/rules.toml`; a test in this crate checks the two agree, so a rule cannot
//! be cited in code without being documented.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stable rule identifier such as `NHSA-ID-1` or `FMT-MONEY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RuleId(pub &'static str);

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl<'de> Deserialize<'de> for RuleId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RuleId::lookup(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown rule id `{s}`")))
    }
}

macro_rules! rules {
    ($($name:ident = $id:literal;)*) => {
        impl RuleId {
            $(pub const $name: RuleId = RuleId($id);)*
            /// Every rule id the code knows.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$name),*];
        }
    };
}

rules! {
    // wire format rules (any dialect)
    FMT_JSON = "FMT-JSON";
    FMT_REQUIRED = "FMT-REQUIRED";
    FMT_TYPE = "FMT-TYPE";
    FMT_LENGTH = "FMT-LENGTH";
    FMT_MONEY = "FMT-MONEY";
    FMT_RATIO = "FMT-RATIO";
    FMT_NUMBER = "FMT-NUMBER";
    FMT_DATETIME = "FMT-DATETIME";
    FMT_DATE = "FMT-DATE";
    FMT_CODE = "FMT-CODE";
    FMT_ADMDVS = "FMT-ADMDVS";
    FMT_MSGID = "FMT-MSGID";
    FMT_DEPTH = "FMT-DEPTH";
    FMT_ENCODING = "FMT-ENCODING";
    FMT_DUPLICATE_KEY = "FMT-DUPLICATE-KEY";
    // envelope rules of the national interface
    NHSA_ENV_INFNO = "NHSA-ENV-INFNO";
    NHSA_ENV_INPUT = "NHSA-ENV-INPUT";
    NHSA_ENV_INFCODE = "NHSA-ENV-INFCODE";
    NHSA_ENV_EXCHANGE = "NHSA-ENV-EXCHANGE";
    // settlement identities, nhsa-interface.md §2.5
    NHSA_ID_1 = "NHSA-ID-1";
    NHSA_ID_2 = "NHSA-ID-2";
    NHSA_ID_3 = "NHSA-ID-3";
    NHSA_ID_4 = "NHSA-ID-4";
    NHSA_ID_5 = "NHSA-ID-5";
    NHSA_ID_7 = "NHSA-ID-7";
    NHSA_ID_8 = "NHSA-ID-8";
    NHSA_SIGN = "NHSA-SIGN";
    // gateway rules
    GW_AUTH = "GW-AUTH";
    GW_IDEMPOTENCY = "GW-IDEMPOTENCY";
    GW_LIMIT = "GW-LIMIT";
    GW_RATE = "GW-RATE";
    GW_UNAVAILABLE = "GW-UNAVAILABLE";
    GW_ROUTE = "GW-ROUTE";
    GW_SIGNATURE = "GW-SIGNATURE";
    GW_INTERNAL = "GW-INTERNAL";
}

impl RuleId {
    pub fn lookup(id: &str) -> Option<RuleId> {
        RuleId::ALL.iter().copied().find(|r| r.0 == id)
    }
}

/// Whose fault a failure is (`DESIGN.md` §5): it decides the answer's wording and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    Sender,
    Peer,
    Bank,
    Internal,
}

/// One broken rule at one place of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The rule broken.
    pub rule: RuleId,
    /// Path of the field in the sender's message, e.g. `input.data.medfee_sumamt`; empty for
    /// the message as a whole.
    pub path: String,
    /// What is wrong, in words the sender can act on.
    pub message: String,
}

impl Violation {
    pub fn new(rule: RuleId, path: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            rule,
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "[{}] {}", self.rule, self.message)
        } else {
            write!(f, "[{}] {}: {}", self.rule, self.path, self.message)
        }
    }
}

/// Format a list of violations as one line, for `err_msg` and the CLI.
pub fn describe(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
