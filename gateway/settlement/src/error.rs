//! The one error type of the settlement engine. Every variant names the rule (IS-… id of
//! `shared/reference/instant-settlement.md`) it enforces and says whose fault it is.

use medsettle_canonical::{Fault, Money};

/// Rule id used for calendar data problems: the calendar dates every T+1 and working-day limit.
pub const CALENDAR_RULE: &str = "IS-D-4";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    /// A date outside the years the calendar covers, officially or provisionally (before the
    /// first official year, or past the provisional reach): never guess a payment date.
    #[error("calendar has no data for {year}")]
    CalendarNoData { year: i32 },

    /// A calendar file that cannot be trusted (operator data).
    #[error("[{rule}] calendar {file}: {message}")]
    Calendar {
        rule: &'static str,
        file: String,
        message: String,
    },

    /// A policy value that is missing, malformed or out of range (operator config).
    #[error("[{rule}] policy `{field}`: {message}")]
    Policy {
        rule: &'static str,
        field: String,
        message: String,
    },

    /// A bad row in an imported CSV (declaration, deductions, advances, special cases, points).
    #[error("[{rule}] {input} line {line}, column `{column}`: {message}")]
    Row {
        rule: &'static str,
        input: &'static str,
        line: u64,
        column: String,
        message: String,
    },

    /// An input that breaks a settlement rule (wrong date, unknown payment, unresolved receipt…).
    #[error("[{rule}] {message}")]
    Rule {
        rule: &'static str,
        fault: Fault,
        message: String,
    },

    /// The ledger auditor found a broken invariant: the batch must not proceed.
    #[error(
        "[{rule}] ledger audit failed, invariant `{invariant}`: {detail} (off by {difference})"
    )]
    Audit {
        rule: &'static str,
        invariant: &'static str,
        detail: String,
        difference: Money,
    },
}

impl SettlementError {
    /// The rule id the error cites.
    pub fn rule(&self) -> &'static str {
        match self {
            SettlementError::CalendarNoData { .. } => CALENDAR_RULE,
            SettlementError::Calendar { rule, .. }
            | SettlementError::Policy { rule, .. }
            | SettlementError::Row { rule, .. }
            | SettlementError::Rule { rule, .. }
            | SettlementError::Audit { rule, .. } => rule,
        }
    }

    /// Whose fault it is (`DESIGN.md` §5): config and imported files are the operator's
    /// (reported as `Sender`, the party that supplied the data); audit failures are ours.
    pub fn fault(&self) -> Fault {
        match self {
            SettlementError::Rule { fault, .. } => *fault,
            SettlementError::Audit { .. } => Fault::Internal,
            _ => Fault::Sender,
        }
    }

    pub(crate) fn rule_err(rule: &'static str, fault: Fault, message: impl Into<String>) -> Self {
        SettlementError::Rule {
            rule,
            fault,
            message: message.into(),
        }
    }

    pub(crate) fn policy(rule: &'static str, field: &str, message: impl Into<String>) -> Self {
        SettlementError::Policy {
            rule,
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = SettlementError> = std::result::Result<T, E>;
