//! The one error type of the clearing crate. Every variant names the rule it enforces (an
//! `XC-…` id of [`RULES`]) and says whose fault it is.

use medsettle_canonical::Fault;
use medsettle_settlement::SettlementError;

/// A clearing row breaks a rule of its own: `aaa113` not ±1, an amount with the wrong sign,
/// a fund part larger than the medical total, an empty id, a treatment and an insured place in
/// the same province (not 跨省).
pub const ROW_RULE: &str = "XC-ROW";
/// A reversal does not match the forward it names by `omsgid` (other amounts, other place,
/// earlier than the forward), or one key arrives twice with different content.
pub const REVERSAL_RULE: &str = "XC-REVERSAL";
/// A disputed line carried into a month that is not after its last refusal.
pub const CARRY_RULE: &str = "XC-CARRY";
/// A reply that names an unknown line, leaves a line unanswered, answers one twice, refuses
/// without a reason, or differs from the reply already applied.
pub const REPLY_RULE: &str = "XC-REPLY";
/// The working-day limits of the 2016 notice (人社部发〔2016〕120号 §五(十二)): statements
/// within 5 working days, transfers within 10.
pub const DUE_RULE: &str = "XC-DUE";
/// Prepayment (预付金): two months of the prior year's cross-province fund payments; drawn
/// only after a transfer is overdue.
pub const PREPAYMENT_RULE: &str = "XC-PREPAY";
/// Netting needs every statement of the month answered, once per province pair.
pub const NETTING_RULE: &str = "XC-NET";
/// A 3260 page request outside what the interface allows (`startrow` is 1-based).
pub const PAGE_RULE: &str = "XC-PAGE";
/// A province the clearing pays has no bank account configured.
pub const ACCOUNT_RULE: &str = "XC-ACCOUNT";

/// Every rule id of the crate with its meaning (the crate's rule table; a test checks that
/// every id cited in `src/` is here and every id here is cited).
pub const RULES: &[(&str, &str)] = &[
    (
        ROW_RULE,
        "a clearing row is malformed or not cross-province",
    ),
    (
        REVERSAL_RULE,
        "a reversal does not mirror its forward, or a key arrives twice with other content",
    ),
    (CARRY_RULE, "a carried line is not from an earlier month"),
    (
        REPLY_RULE,
        "a reply is incomplete, names unknown lines, or contradicts the reply applied",
    ),
    (
        DUE_RULE,
        "statement within 5 working days, transfer within 10 (人社部发〔2016〕120号)",
    ),
    (
        PREPAYMENT_RULE,
        "prepayment is two months of the prior year's fund payments; drawn only when overdue",
    ),
    (
        NETTING_RULE,
        "netting needs every statement of the month answered, once per province pair",
    ),
    (PAGE_RULE, "a 3260 page request is out of range"),
    (
        ACCOUNT_RULE,
        "no bank account for a province the clearing pays",
    ),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClearingError {
    /// A clearing row (or a pair of rows) that cannot be cleared, as journaled from the peer
    /// exchange.
    #[error("[{rule}] clearing row omsgid `{omsgid}`, `{field}`: {message}")]
    Row {
        rule: &'static str,
        omsgid: String,
        field: &'static str,
        message: String,
    },

    /// A reply the insured province sent that cannot be applied.
    #[error("[{rule}] statement {stmt_id}: {message}")]
    Reply {
        rule: &'static str,
        stmt_id: String,
        message: String,
    },

    /// Any other broken rule, with whose fault it is.
    #[error("[{rule}] {message}")]
    Rule {
        rule: &'static str,
        fault: Fault,
        message: String,
    },

    /// The working-day calendar cannot date a deadline (no data for the year).
    #[error("[{DUE_RULE}] {0}")]
    Calendar(#[from] SettlementError),
}

impl ClearingError {
    /// The rule id the error cites.
    pub fn rule(&self) -> &'static str {
        match self {
            ClearingError::Row { rule, .. }
            | ClearingError::Reply { rule, .. }
            | ClearingError::Rule { rule, .. } => rule,
            ClearingError::Calendar(_) => DUE_RULE,
        }
    }

    /// Whose fault it is (`DESIGN.md` §5): rows and replies come from the peer province;
    /// calendar data is the operator's.
    pub fn fault(&self) -> Fault {
        match self {
            ClearingError::Row { .. } | ClearingError::Reply { .. } => Fault::Peer,
            ClearingError::Rule { fault, .. } => *fault,
            ClearingError::Calendar(e) => e.fault(),
        }
    }

    pub(crate) fn row(
        rule: &'static str,
        omsgid: &str,
        field: &'static str,
        message: impl Into<String>,
    ) -> Self {
        ClearingError::Row {
            rule,
            omsgid: omsgid.to_owned(),
            field,
            message: message.into(),
        }
    }

    pub(crate) fn reply(stmt_id: &str, message: impl Into<String>) -> Self {
        ClearingError::Reply {
            rule: REPLY_RULE,
            stmt_id: stmt_id.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn rule_err(rule: &'static str, fault: Fault, message: impl Into<String>) -> Self {
        ClearingError::Rule {
            rule,
            fault,
            message: message.into(),
        }
    }
}

pub type Result<T, E = ClearingError> = std::result::Result<T, E>;
