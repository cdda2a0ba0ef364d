//! `/ops/interregion/…`: cross-region exchange on the running gateway (`specs/interregion.md`).
//! The peers, the exchanges in doubt and the ledger rows live in the request service, so these
//! endpoints answer from it directly.
//!
//! - `GET /ops/interregion/status` → peers, exchanges in doubt, reconciliation alerts (JSON);
//! - `POST /ops/interregion/reconcile` `{"date", "peer"?}` → one report per peer (JSON);
//! - `POST /ops/interregion/resolve` → resolve exchanges in doubt now: `{"resolved", "left"}`;
//! - `POST /ops/interregion/clearing` `{"month"}` → a clearing run (statements sent, replies
//!   made and applied, netting) and its report; `GET …/clearing?month=YYYY-MM` → the report
//!   from what is known here, nothing sent.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use medsettle_server::{CONTENT_TYPE_JSON, CONTENT_TYPE_TEXT, OperatorRequest, ServiceResponse};
use medsettle_service::HisService;
use serde::Deserialize;

/// The path prefix these endpoints answer under `/ops/`.
pub const PREFIX: &str = "interregion/";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconcileRequest {
    date: String,
    #[serde(default)]
    peer: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClearingRequest {
    month: String,
}

fn respond(status: u16, content_type: &str, body: Vec<u8>) -> ServiceResponse {
    ServiceResponse {
        status,
        content_type: content_type.to_owned(),
        body: Bytes::from(body),
        outcome: if status == 200 { "ok" } else { "rejected" },
        infno: None,
        headers: Vec::new(),
        abort: false,
    }
}

fn text(status: u16, body: String) -> ServiceResponse {
    respond(status, CONTENT_TYPE_TEXT, body.into_bytes())
}

fn json<T: serde::Serialize>(value: &T) -> ServiceResponse {
    respond(
        200,
        CONTENT_TYPE_JSON,
        serde_json::to_vec(value).expect("a report serializes"),
    )
}

/// `yyyy-MM-dd`, a real date.
fn parse_date(d: &str) -> Option<time::Date> {
    time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

/// Answer one `/ops/interregion/…` request (`req.path` is after `/ops/`).
pub async fn answer(his: Arc<HisService>, req: OperatorRequest) -> ServiceResponse {
    let path = req.path.strip_prefix(PREFIX).unwrap_or("");
    let national = his.national();
    match (&req.method, path) {
        (&Method::GET, "status") => match national.interregion_status() {
            Ok(s) => json(&s),
            Err(e) => text(503, format!("{e}\n")),
        },
        (&Method::POST, "reconcile") => {
            let r: ReconcileRequest = match serde_json::from_slice(&req.body) {
                Ok(r) => r,
                Err(e) => return text(400, format!("interregion/reconcile: {e}\n")),
            };
            let Some(date) = parse_date(&r.date) else {
                return text(400, format!("date `{}`: yyyy-MM-dd\n", r.date));
            };
            match national
                .reconcile_with_peers(date, r.peer.as_deref())
                .await
            {
                Ok(reports) if reports.is_empty() => text(
                    400,
                    format!(
                        "no peer {}is configured\n",
                        r.peer.map(|p| format!("`{p}` ")).unwrap_or_default()
                    ),
                ),
                Ok(reports) => json(&reports),
                Err(e) => text(503, format!("{e}\n")),
            }
        }
        (&Method::POST, "clearing") | (&Method::GET, "clearing") => {
            let query = req.query.as_deref().unwrap_or("");
            let month = if req.method == Method::POST {
                serde_json::from_slice::<ClearingRequest>(&req.body)
                    .map(|r| r.month)
                    .unwrap_or_default()
            } else {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("month="))
                    .unwrap_or_default()
                    .to_owned()
            };
            let Some(month) = medsettle_settlement::YearMonth::parse(&month) else {
                return text(400, format!("month `{month}`: YYYY-MM\n"));
            };
            match national
                .run_clearing(month, req.method == Method::POST)
                .await
            {
                Ok(report) => json(&report),
                Err(e) => text(503, format!("{e}\n")),
            }
        }
        (&Method::POST, "resolve") => match national.resolve_peer_markers().await {
            Ok((resolved, left)) => json(&serde_json::json!({"resolved": resolved, "left": left})),
            Err(e) => text(503, format!("{e}\n")),
        },
        _ => text(
            404,
            format!("no interregion endpoint {} /ops/{}\n", req.method, req.path),
        ),
    }
}
