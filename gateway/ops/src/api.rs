//! The operator API: every path under `/ops/` on the operator role of mutual TLS
//! (`specs/operations.md`). Reads are `GET` and answer the text the matching command prints;
//! actions are `POST /ops/<action>` with the action's fields as a JSON object and an
//! `Idempotency-Key` header (the operation id), answered with JSON.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use medsettle_server::{CONTENT_TYPE_JSON, CONTENT_TYPE_TEXT, OperatorRequest, ServiceResponse};
use medsettle_store::Store;

use crate::actions::{Action, ActionError, Operations};

/// Header carrying an action's operation id.
pub const HEADER_IDEMPOTENCY_KEY: &str = "idempotency-key";

/// A read of the running system: the text of `journal stats`, `settle status`, `bank status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    JournalStats {
        json: bool,
    },
    SettleStatus,
    BankStatus,
    /// Legacy two-phase calls waiting for their confirm (`specs/legacy.md` §4).
    LegacyPending,
}

impl Query {
    /// Every read, each once.
    pub const ALL: [Query; 5] = [
        Query::JournalStats { json: false },
        Query::JournalStats { json: true },
        Query::SettleStatus,
        Query::BankStatus,
        Query::LegacyPending,
    ];

    /// The path and query string of the read.
    pub fn path(self) -> &'static str {
        match self {
            Query::JournalStats { json: false } => "journal/stats",
            Query::JournalStats { json: true } => "journal/stats?json",
            Query::SettleStatus => "settle/status",
            Query::BankStatus => "bank/status",
            Query::LegacyPending => "legacy/pending",
        }
    }

    /// The text, read from the store (blocking).
    pub fn answer(self, ops: &Operations) -> anyhow::Result<String> {
        let store = ops.store();
        match self {
            Query::JournalStats { json } => {
                crate::journal::stats_output(store.dir(), &store.stats()?, json)
            }
            Query::SettleStatus => crate::settle::status_text(ops.engine(), store.as_ref()),
            Query::BankStatus => crate::bank::status_text(store.as_ref()),
            Query::LegacyPending => Ok(medsettle_service::legacy_commit::undecided_text(
                &medsettle_service::legacy_commit::undecided(store.as_ref(), None)?,
            )),
        }
    }
}

fn text(status: u16, body: String, outcome: &'static str) -> ServiceResponse {
    ServiceResponse {
        status,
        content_type: CONTENT_TYPE_TEXT.to_owned(),
        body: Bytes::from(body),
        outcome,
        infno: None,
        headers: Vec::new(),
        abort: false,
    }
}

fn json(status: u16, body: Vec<u8>, outcome: &'static str) -> ServiceResponse {
    ServiceResponse {
        status,
        content_type: CONTENT_TYPE_JSON.to_owned(),
        body: Bytes::from(body),
        outcome,
        infno: None,
        headers: Vec::new(),
        abort: false,
    }
}

fn error_json(e: &ActionError) -> ServiceResponse {
    let body = serde_json::to_vec(&serde_json::json!({ "error": e })).expect("serializes");
    json(e.http_status(), body, "rejected")
}

/// Answer one operator request. Blocking work (reading every record, closing a month) runs
/// off the async threads.
pub async fn answer(ops: Arc<Operations>, req: OperatorRequest) -> ServiceResponse {
    let query = req.query.as_deref().filter(|q| !q.is_empty());
    match req.method {
        Method::GET | Method::HEAD => read(ops, &req.path, query).await,
        Method::POST => act(ops, req).await,
        _ => text(405, "method not allowed: GET or POST\n".into(), "rejected"),
    }
}

async fn read(ops: Arc<Operations>, path: &str, query: Option<&str>) -> ServiceResponse {
    let q = match (path, query) {
        ("journal/export", _) => {
            let (from, limit) = match crate::journal::export_query(query) {
                Ok(q) => q,
                Err(why) => return text(400, why + "\n", "rejected"),
            };
            let store = ops.store().clone();
            return blocking(move || Ok(crate::journal::export_page(store.as_ref(), from, limit)))
                .await;
        }
        ("journal/stats", None) => Query::JournalStats { json: false },
        ("journal/stats", Some("json")) => Query::JournalStats { json: true },
        ("journal/stats", Some(other)) => {
            let why = format!("`{other}` is not a parameter of this endpoint (json)\n");
            return text(400, why, "rejected");
        }
        ("settle/status" | "bank/status" | "legacy/pending", Some(q)) => {
            let why = format!("`{q}` is not a parameter: this endpoint takes none\n");
            return text(400, why, "rejected");
        }
        ("settle/status", None) => Query::SettleStatus,
        ("bank/status", None) => Query::BankStatus,
        ("legacy/pending", None) => Query::LegacyPending,
        _ => return text(404, format!("no operator read at /ops/{path}\n"), "route"),
    };
    blocking(move || q.answer(&ops)).await
}

async fn blocking(
    work: impl FnOnce() -> anyhow::Result<String> + Send + 'static,
) -> ServiceResponse {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(body)) => text(200, body, "ok"),
        Ok(Err(e)) => text(503, format!("cannot be read now: {e:#}\n"), "unavailable"),
        Err(e) => text(500, format!("internal error: {e}\n"), "internal"),
    }
}

/// Whether `path` is a read (a `POST` to it is the wrong method, not an unknown action): the
/// export, or the path of a [`Query`].
fn is_read_path(path: &str) -> bool {
    path == "journal/export"
        || Query::ALL
            .iter()
            .any(|q| q.path().split('?').next() == Some(path))
}

async fn act(ops: Arc<Operations>, req: OperatorRequest) -> ServiceResponse {
    if is_read_path(&req.path) {
        return text(
            405,
            format!("/ops/{} is read with GET\n", req.path),
            "rejected",
        );
    }
    if let Some(q) = req.query.as_deref().filter(|q| !q.is_empty()) {
        let e = ActionError::BadInput(format!("`{q}`: actions take their fields in the body"));
        return error_json(&e);
    }
    let action = match Action::from_request(&req.path, &req.body) {
        Ok(a) => a,
        Err(why) => return error_json(&ActionError::BadInput(format!("/ops/{}: {why}", req.path))),
    };
    let Some(op_id) = req
        .headers
        .get(HEADER_IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        let e = ActionError::BadInput(format!(
            "an action needs an operation id in the {HEADER_IDEMPOTENCY_KEY} header: the same id \
             again is answered with the first result, never done twice"
        ));
        return error_json(&e);
    };
    let by = req.identity.name.clone();
    let done = tokio::task::spawn_blocking(move || ops.perform(&op_id, &action, &by)).await;
    match done {
        Ok(Ok(performed)) => json(
            200,
            serde_json::to_vec(&performed).expect("serializes"),
            if performed.replayed { "replayed" } else { "ok" },
        ),
        Ok(Err(e)) => error_json(&e),
        Err(e) => error_json(&ActionError::Failed(format!(
            "the action's task failed: {e}"
        ))),
    }
}
