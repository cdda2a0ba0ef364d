//! Operator actions as typed values, and the one place they are performed.
//!
//! An [`Action`] changes something (closes a day or a month, drops a payment file, applies
//! receipts). [`Operations::perform`] runs it once per operation id: the request is journaled
//! with its answer under the idempotency key `(@operator, op_id)`, so the same operation
//! asked twice — a retry after a lost answer, a command run again after a `kill -9` — gets the
//! stored answer and does nothing more; the same id with a different action is refused.
//! Operator actions run one at a time (they read and move the engine's and the file drop's
//! state as a whole); a running gateway keeps answering hospitals meanwhile.
//!
//! The same functions serve the operator API (`POST /ops/<action>`, [`crate::api`]) and a
//! command run with no gateway (the command opens the journal itself): same text either way.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use medsettle_engine::Engine;
use medsettle_store::{IdempotentOutcome, JournalRecord, SledStore, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::{BadInput, is_bad_input};
use crate::settle::{
    MonthInput, QuarterInput, ReconcileInput, SuspensionInput, YearInput, date_arg,
};

/// The institution-code half of an operator action's idempotency key: no institution code can
/// start with `@`, so operator ids never meet a hospital's msgids.
pub const OPERATOR_KEY: &str = "@operator";
/// Journal record kind of a performed operator action.
pub const KIND_OPERATOR_ACTION: &str = "ops.action";
/// Longest operation id, bytes (`[A-Za-z0-9._-]`).
pub const OP_ID_BYTES_MAX: usize = 64;

/// Something an operator does to the running system. The tag is the action's path under
/// `/ops/` (`specs/operations.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", deny_unknown_fields)]
pub enum Action {
    /// Read new settled claims from the journal into the daily aggregates.
    #[serde(rename = "settle/catch-up")]
    SettleCatchUp,
    /// Close a payment date and approve its payment summary (IS-D).
    #[serde(rename = "settle/daily")]
    SettleDaily { date: String },
    /// Monthly settlement (IS-M-3).
    #[serde(rename = "settle/month")]
    SettleMonth(MonthInput),
    /// Quarterly supplements (IS-Q-1).
    #[serde(rename = "settle/quarter")]
    SettleQuarter(QuarterInput),
    /// Annual clearing (IS-A-2/3/4).
    #[serde(rename = "settle/year")]
    SettleYear(YearInput),
    /// 3202 detail reconciliation of one institution (IS-D-9); changes nothing.
    #[serde(rename = "settle/reconcile-detail")]
    SettleReconcileDetail(ReconcileInput),
    /// Approve a pay date's summary and drop its payment file.
    #[serde(rename = "bank/export")]
    BankExport { date: String },
    /// Acknowledge an alert of the bank file drop (who: the operator).
    #[serde(rename = "bank/ack")]
    BankAck { alert: String },
    /// Suspend an institution's daily disbursement, with the operator's reason (IS-RK-2).
    #[serde(rename = "institutions/suspend")]
    InstitutionSuspend(SuspensionInput),
    /// Resume it.
    #[serde(rename = "institutions/resume")]
    InstitutionResume(SuspensionInput),
    /// Apply the receipts in the inbox now (after admitting `path`, a file or directory on the
    /// gateway's machine, if given).
    #[serde(rename = "bank/ingest")]
    BankIngest {
        #[serde(default)]
        path: Option<PathBuf>,
    },
}

impl Action {
    /// The action's path under `/ops/`.
    pub fn path(&self) -> &'static str {
        match self {
            Action::SettleCatchUp => "settle/catch-up",
            Action::SettleDaily { .. } => "settle/daily",
            Action::SettleMonth(_) => "settle/month",
            Action::SettleQuarter(_) => "settle/quarter",
            Action::SettleYear(_) => "settle/year",
            Action::SettleReconcileDetail(_) => "settle/reconcile-detail",
            Action::BankExport { .. } => "bank/export",
            Action::BankIngest { .. } => "bank/ingest",
            Action::BankAck { .. } => "bank/ack",
            Action::InstitutionSuspend(_) => "institutions/suspend",
            Action::InstitutionResume(_) => "institutions/resume",
        }
    }

    /// The action a `POST /ops/<path>` asks for: the body is the action's fields as a JSON
    /// object (`{}` for none). Unknown paths and fields are refused, naming them.
    pub fn from_request(path: &str, body: &[u8]) -> Result<Action, String> {
        let body = if body.is_empty() {
            b"{}" as &[u8]
        } else {
            body
        };
        let mut fields: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(body)
                .map_err(|e| format!("the body is not a JSON object: {e}"))?;
        if fields.contains_key("action") {
            return Err("`action` is the path, not a field of the body".into());
        }
        fields.insert("action".into(), serde_json::Value::String(path.to_owned()));
        serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| e.to_string())
    }

    /// The body of a `POST /ops/<path>` for this action (the inverse of [`Action::from_request`]).
    pub fn request_body(&self) -> Vec<u8> {
        let mut v = serde_json::to_value(self).expect("an action serializes");
        if let Some(fields) = v.as_object_mut() {
            fields.remove("action");
        }
        serde_json::to_vec(&v).expect("a JSON value serializes")
    }
}

/// What an action printed: the command's standard output and standard error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
}

/// A performed action: its outcome, and whether it was done before under the same id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Performed {
    pub op_id: String,
    pub action: String,
    /// True when this answer is the stored one of an earlier, identical request.
    pub replayed: bool,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Why an action was not performed: whose fault, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum ActionError {
    /// The operator's input (exit code 2, HTTP 400).
    #[error("{0}")]
    BadInput(String),
    /// The operation id was used for another action (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The journal cannot be written now; nothing was done (HTTP 503).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else (exit code 1, HTTP 500).
    #[error("{0}")]
    Failed(String),
}

impl ActionError {
    pub fn http_status(&self) -> u16 {
        match self {
            ActionError::BadInput(_) => 400,
            ActionError::Conflict(_) => 409,
            ActionError::Unavailable(_) => 503,
            ActionError::Failed(_) => 500,
        }
    }

    fn from_anyhow(e: &anyhow::Error) -> ActionError {
        let message = format!("{e:#}");
        if is_bad_input(e) {
            ActionError::BadInput(message)
        } else {
            ActionError::Failed(message)
        }
    }

    /// The error as the command line reports it (exit code 2 for bad input, else 1).
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            ActionError::BadInput(m) | ActionError::Conflict(m) => BadInput::new(m).into(),
            ActionError::Unavailable(m) | ActionError::Failed(m) => anyhow::anyhow!(m),
        }
    }
}

/// Check an operation id: 1..=[`OP_ID_BYTES_MAX`] bytes of `[A-Za-z0-9._-]`.
pub fn check_op_id(op_id: &str) -> Result<(), ActionError> {
    let ok = !op_id.is_empty()
        && op_id.len() <= OP_ID_BYTES_MAX
        && op_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ActionError::BadInput(format!(
            "operation id `{op_id}`: 1..={OP_ID_BYTES_MAX} characters of [A-Za-z0-9._-]"
        )))
    }
}

/// A fresh operation id for a command: the time, the process and a hash of the action, so
/// two commands never share one by accident.
pub fn new_op_id(action: &Action) -> String {
    let now = time::OffsetDateTime::now_utc();
    let mut h = Sha256::new();
    h.update(action.request_body());
    h.update(now.unix_timestamp_nanos().to_be_bytes());
    h.update(std::process::id().to_be_bytes());
    let digest = h.finalize();
    format!(
        "cli-{}-{}",
        now.unix_timestamp(),
        &hex::encode(digest)[..16]
    )
}

/// Everything an operator action needs: the configuration, the journal, the engine.
pub struct Operations {
    config: Config,
    store: Arc<SledStore>,
    engine: Arc<Engine>,
    /// One operator action at a time.
    running: Mutex<()>,
}

impl Operations {
    pub fn new(config: Config, store: Arc<SledStore>, engine: Arc<Engine>) -> Operations {
        Operations {
            config,
            store,
            engine,
            running: Mutex::new(()),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Arc<SledStore> {
        &self.store
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Run `f` with no operator action under way (the workers' steps that move the file drop
    /// or close days take this too, so an inbox scan never races an operator's ingest).
    pub fn exclusive<T>(&self, f: impl FnOnce(&Operations) -> T) -> T {
        let _one_at_a_time = self.running.lock().unwrap_or_else(|p| p.into_inner());
        f(self)
    }

    /// Perform `action` once for `op_id` (see the module docs); `by` is who asked (the
    /// operator certificate's name, or `local` for a command without a gateway). Blocking.
    pub fn perform(
        &self,
        op_id: &str,
        action: &Action,
        by: &str,
    ) -> Result<Performed, ActionError> {
        check_op_id(op_id)?;
        let body = serde_json::to_vec(action).expect("an action serializes");
        let body_sha256: [u8; 32] = Sha256::digest(&body).into();
        if let Some(done) = self.replay(op_id, action, body_sha256)? {
            return Ok(done);
        }
        let _one_at_a_time = self.running.lock().unwrap_or_else(|p| p.into_inner());
        // Asked twice at once: the second waited for the first, whose answer is now stored.
        if let Some(done) = self.replay(op_id, action, body_sha256)? {
            return Ok(done);
        }
        let outcome = self
            .run(action, by)
            .map_err(|e| ActionError::from_anyhow(&e))?;
        let performed = Performed {
            op_id: op_id.to_owned(),
            action: action.path().to_owned(),
            replayed: false,
            outcome,
        };
        let answer = serde_json::to_vec(&performed).expect("an outcome serializes");
        let payload = serde_json::json!({
            "op_id": op_id,
            "by": by,
            "at": time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            "request": action,
        });
        let record = JournalRecord::new(
            KIND_OPERATOR_ACTION,
            serde_json::to_vec(&payload).expect("a payload serializes"),
        )
        .with_key(OPERATOR_KEY.to_owned(), op_id.to_owned());
        let unavailable = |e: medsettle_store::StoreError| {
            ActionError::Unavailable(format!(
                "the action was done but its record could not be journaled ({e}); run it again \
                 with the same operation id {op_id}"
            ))
        };
        let ticket = match self
            .store
            .append_idempotent(record, body_sha256, answer)
            .map_err(unavailable)?
        {
            IdempotentOutcome::Appended { ticket, .. } => ticket,
            IdempotentOutcome::Duplicate { ticket, .. } => ticket,
            IdempotentOutcome::Conflict { .. } => return Err(conflict(op_id)),
        };
        self.store
            .wait_durable_blocking(ticket)
            .map_err(unavailable)?;
        tracing::info!(op_id, action = action.path(), by, "operator action done");
        Ok(performed)
    }

    /// The stored answer of an earlier request under `op_id`, if it was the same action.
    fn replay(
        &self,
        op_id: &str,
        action: &Action,
        body_sha256: [u8; 32],
    ) -> Result<Option<Performed>, ActionError> {
        let entry = self
            .store
            .lookup_idempotent(OPERATOR_KEY, op_id)
            .map_err(|e| ActionError::Unavailable(e.to_string()))?;
        let Some(entry) = entry else { return Ok(None) };
        if entry.body_sha256 != body_sha256 {
            return Err(conflict(op_id));
        }
        // Never answer with a record a crash could still take back.
        self.store
            .wait_durable_blocking(self.store.current_ticket())
            .map_err(|e| ActionError::Unavailable(e.to_string()))?;
        let mut done: Performed = serde_json::from_slice(&entry.answer).map_err(|e| {
            ActionError::Failed(format!("stored answer of {op_id} does not decode: {e}"))
        })?;
        debug_assert_eq!(done.action, action.path());
        done.replayed = true;
        Ok(Some(done))
    }

    /// The action itself, with no bookkeeping.
    fn run(&self, action: &Action, by: &str) -> anyhow::Result<Outcome> {
        let (config, engine, store) = (&self.config, self.engine.as_ref(), self.store.as_ref());
        let stdout = match action {
            Action::SettleCatchUp => {
                crate::settle::catch_up_text(&crate::settle::catch_up(engine, store, &|_, _| {})?)
            }
            Action::SettleDaily { date } => {
                let pay_date = date_arg("--date", date)?;
                crate::settle::catch_up(engine, store, &|_, _| {})?;
                crate::settle::closed_text(&crate::settle::close_daily(
                    config, engine, store, pay_date,
                )?)
            }
            Action::SettleMonth(m) => crate::settle::month(config, engine, store, m)?,
            Action::SettleQuarter(q) => crate::settle::quarter(config, engine, store, q)?,
            Action::SettleYear(y) => crate::settle::year(config, engine, store, y)?,
            Action::SettleReconcileDetail(r) => {
                let (stdout, stderr) = crate::settle::reconcile_detail(engine, store, r)?;
                return Ok(Outcome { stdout, stderr });
            }
            Action::BankExport { date } => {
                let pay_date = date_arg("--date", date)?;
                crate::settle::catch_up(engine, store, &|_, _| {})?;
                crate::bank::export_text(&crate::bank::export(config, engine, store, pay_date)?)
            }
            Action::BankAck { alert } => crate::bank::acknowledge(store, alert, by)?,
            Action::InstitutionSuspend(x) => {
                crate::settle::suspend_or_resume(engine, store, x, true, by)?
            }
            Action::InstitutionResume(x) => {
                crate::settle::suspend_or_resume(engine, store, x, false, by)?
            }
            Action::BankIngest { path } => crate::bank::ingest_text(&crate::bank::ingest(
                config,
                engine,
                store,
                path.as_deref(),
            )?),
        };
        Ok(Outcome {
            stdout,
            stderr: String::new(),
        })
    }
}

fn conflict(op_id: &str) -> ActionError {
    ActionError::Conflict(format!(
        "operation id {op_id} was already used for a different action; a new action needs a new id"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_travel_as_their_path_and_fields() {
        let a = Action::SettleDaily {
            date: "2026-11-23".into(),
        };
        assert_eq!(a.path(), "settle/daily");
        assert_eq!(a.request_body(), br#"{"date":"2026-11-23"}"#);
        assert_eq!(
            Action::from_request(a.path(), &a.request_body()).unwrap(),
            a
        );
        assert_eq!(
            Action::from_request("settle/catch-up", b"").unwrap(),
            Action::SettleCatchUp
        );
        let month = Action::SettleMonth(MonthInput {
            period: "2026-11".into(),
            declarations_csv: "h\n".into(),
            deductions_csv: None,
            advances_csv: Some("a\n".into()),
            pay_date: "2026-12-10".into(),
        });
        assert_eq!(
            Action::from_request("settle/month", &month.request_body()).unwrap(),
            month
        );
    }

    #[test]
    fn unknown_paths_and_fields_are_refused_by_name() {
        let e = Action::from_request("settle/dialy", b"{}").unwrap_err();
        assert!(e.contains("settle/dialy"), "{e}");
        let e =
            Action::from_request("settle/daily", br#"{"date":"2026-11-23","when":1}"#).unwrap_err();
        assert!(e.contains("when"), "{e}");
        let e = Action::from_request("settle/daily", br#"{"action":"bank/export"}"#).unwrap_err();
        assert!(e.contains("action"), "{e}");
        assert!(Action::from_request("settle/daily", b"[1]").is_err());
    }

    #[test]
    fn operation_ids_are_checked_and_fresh() {
        assert!(check_op_id("cli-1-abc").is_ok());
        assert!(check_op_id("").is_err());
        assert!(check_op_id("a b").is_err());
        assert!(check_op_id(&"x".repeat(OP_ID_BYTES_MAX + 1)).is_err());
        let a = Action::SettleCatchUp;
        let (x, y) = (new_op_id(&a), new_op_id(&a));
        assert_ne!(x, y);
        assert!(check_op_id(&x).is_ok());
    }
}
