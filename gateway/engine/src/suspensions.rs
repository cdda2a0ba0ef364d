//! Operators suspend and resume an institution's daily disbursement (暂停/恢复日拨付), e.g. for
//! an audit finding or a fraud suspicion. The suspension lives in the aggregator
//! ([`DailyAggregator::suspend`](medsettle_settlement::DailyAggregator::suspend)), so every
//! daily close skips the institution exactly like a registry or debt suspension (IS-RK-2): its
//! claims are consumed and the monthly settlement pays them. It is persisted like the rest of
//! the engine's state: one `engine.suspension` journal record whose state writes put (suspend)
//! or delete (resume) `engine.agg` / `operator_suspended/<code>`, plus the meta, durable before
//! the call returns — so it survives a restart and a replay of the journal.
//!
//! Both actions are idempotent: suspending a suspended institution, or resuming one that is not
//! suspended, writes nothing and says so ([`SuspensionChange::changed`] is false).

use std::fmt;

use medsettle_settlement::daily::{Suspension, china_timestamp};
use medsettle_store::Store;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Engine;
use crate::error::{EngineError, Result};
use crate::state::KIND_SUSPENSION;

/// Longest suspension reason an operator may give, in characters.
pub const SUSPENSION_REASON_CHARS_MAX: usize = 500;
/// Longest operator name (`by`), in characters.
pub const OPERATOR_NAME_CHARS_MAX: usize = 100;

/// The rule a suspension serves (see the daily close's skip in `medsettle_settlement::daily`).
const SUSPENSION_RULE: &str = "IS-RK-2";

/// Which operator action a [`SuspensionChange`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuspensionAction {
    Suspend,
    Resume,
}

/// What [`Engine::suspend_institution`] or [`Engine::resume_institution`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspensionChange {
    pub action: SuspensionAction,
    pub fixmedins_code: String,
    /// False when the call changed nothing (and wrote nothing): the institution was already
    /// suspended (suspend), or was not suspended (resume).
    pub changed: bool,
    /// Whether the institution's daily disbursement is suspended after the call.
    pub suspended: bool,
    /// Suspend: the suspension in force — on a repeat the original one, whose reason, operator
    /// and time are kept. Resume: the suspension lifted, `None` if there was none.
    pub suspension: Option<Suspension>,
    /// Who asked for this action, and when.
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl fmt::Display for SuspensionChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = &self.fixmedins_code;
        match (self.action, self.changed, &self.suspension) {
            (SuspensionAction::Suspend, true, Some(s)) => write!(
                f,
                "{code}: daily disbursement suspended by {} at {}: {}; daily closes skip it \
                 ({SUSPENSION_RULE}) and the monthly settlement pays its claims until it is resumed",
                s.by,
                china_timestamp(s.since),
                s.reason
            ),
            (SuspensionAction::Suspend, false, Some(s)) => {
                write!(f, "{code}: already {}; nothing changed", s.skip_reason())
            }
            (SuspensionAction::Resume, true, Some(s)) => write!(
                f,
                "{code}: daily disbursement resumed by {} at {} (was {}); the next daily close \
                 pays it",
                self.by,
                china_timestamp(self.at),
                s.skip_reason()
            ),
            (SuspensionAction::Resume, _, _) => {
                write!(f, "{code}: not suspended; nothing changed")
            }
            (SuspensionAction::Suspend, _, None) => {
                write!(f, "{code}: not suspended")
            }
        }
    }
}

/// An operator's text argument: trimmed, non-empty, at most `max` characters, no control
/// characters (it is shown in tables, CSV notes and logs).
fn operator_text<'a>(field: &'static str, text: &'a str, max: usize) -> Result<&'a str> {
    let t = text.trim();
    let bad = |detail: String| EngineError::OperatorInput {
        rule: SUSPENSION_RULE,
        field,
        detail,
    };
    if t.is_empty() {
        return Err(bad("must not be empty".into()));
    }
    let n = t.chars().count();
    if n > max {
        return Err(bad(format!("{n} characters, at most {max} allowed")));
    }
    if t.chars().any(char::is_control) {
        return Err(bad(
            "must not contain control characters (line breaks, tabs)".into(),
        ));
    }
    Ok(t)
}

impl Engine {
    /// Suspend institution `code`'s daily disbursement (暂停日拨付) from the next daily close on,
    /// with the operator's `reason`, `by` whom and `at` when; durable before it returns.
    /// Idempotent: an institution already suspended stays as it is (`changed == false`, the
    /// suspension in force is returned). Refuses a code the registry does not list
    /// ([`EngineError::UnknownInstitution`]) and an empty or malformed reason or operator
    /// ([`EngineError::OperatorInput`]); nothing is written then.
    pub fn suspend_institution(
        &self,
        store: &dyn Store,
        code: &str,
        reason: &str,
        by: &str,
        at: OffsetDateTime,
    ) -> Result<SuspensionChange> {
        let reason = operator_text("reason", reason, SUSPENSION_REASON_CHARS_MAX)?;
        let by = operator_text("by", by, OPERATOR_NAME_CHARS_MAX)?;
        if !self.institutions.contains_key(code) {
            return Err(EngineError::UnknownInstitution {
                code: code.to_owned(),
            });
        }
        self.with_state(store, |s| {
            let mut change = SuspensionChange {
                action: SuspensionAction::Suspend,
                fixmedins_code: code.to_owned(),
                changed: false,
                suspended: true,
                suspension: None,
                by: by.to_owned(),
                at,
            };
            if let Some(cur) = s.agg.suspension(code) {
                change.suspension = Some(cur.clone());
                return Ok(change);
            }
            let new = Suspension {
                fixmedins_code: code.to_owned(),
                reason: reason.to_owned(),
                by: by.to_owned(),
                since: at,
            };
            s.agg.suspend(new.clone());
            change.changed = true;
            change.suspension = Some(new);
            let writes = self.agg_writes(s)?;
            let payload = serde_json::to_value(&change)
                .map_err(|e| EngineError::state(KIND_SUSPENSION, e))?;
            self.persist_record(store, s, KIND_SUSPENSION, &payload, writes)?;
            tracing::warn!(
                fixmedins_code = code,
                by,
                reason,
                "daily disbursement suspended by an operator"
            );
            Ok(change)
        })
    }

    /// Resume institution `code`'s daily disbursement (恢复日拨付): a daily close from now on pays
    /// it (claims of pay dates closed while it was suspended stay with the monthly settlement).
    /// Durable before it returns. Idempotent: resuming an institution that is not suspended
    /// changes nothing (`changed == false`). Refuses a code the registry does not list, unless
    /// a suspension of it is on record (so one made before the institution left the registry
    /// can still be lifted).
    pub fn resume_institution(
        &self,
        store: &dyn Store,
        code: &str,
        by: &str,
        at: OffsetDateTime,
    ) -> Result<SuspensionChange> {
        let by = operator_text("by", by, OPERATOR_NAME_CHARS_MAX)?;
        // `None`: an unknown code. Refused outside `with_state`, which would drop the loaded
        // state on an error (an operator's typo should not cost a reload).
        let change = self.with_state(store, |s| {
            if !self.institutions.contains_key(code) && s.agg.suspension(code).is_none() {
                return Ok(None);
            }
            let mut change = SuspensionChange {
                action: SuspensionAction::Resume,
                fixmedins_code: code.to_owned(),
                changed: false,
                suspended: false,
                suspension: None,
                by: by.to_owned(),
                at,
            };
            let Some(lifted) = s.agg.resume(code) else {
                return Ok(Some(change));
            };
            change.changed = true;
            change.suspension = Some(lifted);
            let writes = self.agg_writes(s)?;
            let payload = serde_json::to_value(&change)
                .map_err(|e| EngineError::state(KIND_SUSPENSION, e))?;
            self.persist_record(store, s, KIND_SUSPENSION, &payload, writes)?;
            tracing::warn!(
                fixmedins_code = code,
                by,
                "daily disbursement resumed by an operator"
            );
            Ok(Some(change))
        })?;
        change.ok_or_else(|| EngineError::UnknownInstitution {
            code: code.to_owned(),
        })
    }

    /// The operators' suspensions in force (code, reason, by, since), by institution code.
    pub fn suspensions(&self, store: &dyn Store) -> Result<Vec<Suspension>> {
        self.with_state(store, |s| Ok(s.agg.suspensions().cloned().collect()))
    }
}
