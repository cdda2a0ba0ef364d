//! The one error type of the engine. Every variant names the rule id (`IS-…`,
//! `shared/reference/instant-settlement.md`) it enforces; store and state problems are
//! IS-RK-3 (internal control: disbursement must link up without gap or double count).

use medsettle_settlement::SettlementError;
use medsettle_store::StoreError;

/// Rule id for everything that threatens "no gap, no double count" (store, state, journal).
pub const INTERNAL_CONTROL_RULE: &str = "IS-RK-3";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A settlement rule refused the operation (the settlement crate names the rule), including
    /// a failed ledger audit: nothing was persisted.
    #[error("{0}")]
    Settlement(#[from] SettlementError),

    /// The durable store failed; the engine dropped its in-memory state and reloads it from the
    /// store on the next call, so memory never runs ahead of what is durable.
    #[error("[IS-RK-3] store: {0}")]
    Store(#[from] StoreError),

    /// A `nhsa.settlement` journal record that does not decode. The consumer stops here rather
    /// than skip it: a skipped claim is a gap in the money.
    #[error("[IS-RK-3] journal record {offset} ({kind}) is not a settlement record: {detail}")]
    BadRecord {
        offset: u64,
        kind: String,
        detail: String,
    },

    /// Persisted engine state that does not decode (or an aggregator layout the engine does not
    /// know: the settlement crate changed its serialized fields).
    #[error("[IS-RK-3] engine state `{key}`: {detail}")]
    State { key: String, detail: String },

    /// The institution registry file is malformed.
    #[error("[IS-SC-4] institutions file: {0}")]
    Institutions(String),

    /// An operator action named an institution the registry does not list (IS-SC-4: only
    /// institutions enrolled by application take part). The operator's input; nothing changed.
    #[error("[IS-SC-4] institution {code} is not in the institution registry")]
    UnknownInstitution { code: String },

    /// An operator action's argument is missing or malformed (a suspension without a reason,
    /// an empty operator name). The operator's input; nothing changed.
    #[error("[{rule}] `{field}`: {detail}")]
    OperatorInput {
        rule: &'static str,
        field: &'static str,
        detail: String,
    },

    /// Any other rule the engine itself enforces.
    #[error("[{rule}] {detail}")]
    Rule { rule: &'static str, detail: String },
}

impl EngineError {
    /// The rule id this error enforces.
    pub fn rule(&self) -> &'static str {
        match self {
            EngineError::Settlement(e) => e.rule(),
            EngineError::Store(_) | EngineError::BadRecord { .. } | EngineError::State { .. } => {
                INTERNAL_CONTROL_RULE
            }
            EngineError::Institutions(_) | EngineError::UnknownInstitution { .. } => "IS-SC-4",
            EngineError::OperatorInput { rule, .. } | EngineError::Rule { rule, .. } => rule,
        }
    }

    pub(crate) fn state(key: impl Into<String>, detail: impl ToString) -> EngineError {
        EngineError::State {
            key: key.into(),
            detail: detail.to_string(),
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
