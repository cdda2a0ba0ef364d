//! `/ops/cert/…`: certification sessions on the running gateway (`specs/certification.md`).
//! They live in the request service (the fault and the recording are on the HIS's path), so
//! these endpoints answer from it directly, not through the journaled operator actions.
//!
//! - `POST /ops/cert/open` `{"institution", "scenario", "delay_ms"?}` → the session (JSON);
//! - `POST /ops/cert/close` `{"session"}` → the session and its graded steps (JSON);
//! - `GET /ops/cert/report?session=ID` → the report as text; `&format=json` as JSON;
//! - `GET /ops/cert/sessions` → every session, one line each.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use medsettle_certify::{Scenario, Session, Step};
use medsettle_server::{CONTENT_TYPE_JSON, CONTENT_TYPE_TEXT, OperatorRequest, ServiceResponse};
use medsettle_service::HisService;
use serde::{Deserialize, Serialize};

/// The path prefix these endpoints answer under `/ops/`.
pub const PREFIX: &str = "cert/";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenRequest {
    institution: String,
    scenario: String,
    #[serde(default)]
    delay_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseRequest {
    session: String,
}

/// A session with its graded steps, the text report and the recorded exchanges (evidence).
#[derive(Serialize, Deserialize)]
pub struct Graded {
    pub session: Session,
    pub steps: Vec<Step>,
    pub text: String,
    #[serde(default)]
    pub traffic: Vec<medsettle_certify::Exchange>,
}

fn respond(
    status: u16,
    content_type: &str,
    body: Vec<u8>,
    outcome: &'static str,
) -> ServiceResponse {
    ServiceResponse {
        status,
        content_type: content_type.to_owned(),
        body: Bytes::from(body),
        outcome,
        infno: None,
        headers: Vec::new(),
        abort: false,
    }
}

fn text(status: u16, body: String) -> ServiceResponse {
    let outcome = if status == 200 { "ok" } else { "rejected" };
    respond(status, CONTENT_TYPE_TEXT, body.into_bytes(), outcome)
}

fn json<T: Serialize>(value: &T) -> ServiceResponse {
    respond(
        200,
        CONTENT_TYPE_JSON,
        serde_json::to_vec(value).expect("a report serializes"),
        "ok",
    )
}

fn graded(his: &HisService, session: Session, steps: Vec<Step>) -> Graded {
    let text = medsettle_certify::report_text(&session, &steps);
    let traffic = his.session_traffic(&session.id).unwrap_or_default();
    Graded {
        session,
        steps,
        text,
        traffic,
    }
}

/// Answer one `/ops/cert/…` request (`req.path` is after `/ops/`).
pub async fn answer(his: Arc<HisService>, req: OperatorRequest) -> ServiceResponse {
    let path = req.path.strip_prefix(PREFIX).unwrap_or("");
    match (&req.method, path) {
        (&Method::POST, "open") => {
            let r: OpenRequest = match serde_json::from_slice(&req.body) {
                Ok(r) => r,
                Err(e) => return text(400, format!("cert/open: {e}\n")),
            };
            let Some(scenario) = Scenario::parse(&r.scenario) else {
                let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
                return text(
                    400,
                    format!(
                        "scenario `{}` is not one of {}\n",
                        r.scenario,
                        names.join(", ")
                    ),
                );
            };
            let delay = r
                .delay_ms
                .unwrap_or(medsettle_certify::FAULT_DELAY_MS_DEFAULT);
            match his.open_session(&r.institution, scenario, delay).await {
                Ok(s) => json(&s),
                Err(e) => text(400, format!("{e}\n")),
            }
        }
        (&Method::POST, "close") => {
            let r: CloseRequest = match serde_json::from_slice(&req.body) {
                Ok(r) => r,
                Err(e) => return text(400, format!("cert/close: {e}\n")),
            };
            match his.close_session(&r.session).await {
                Ok((s, steps)) => json(&graded(&his, s, steps)),
                Err(e) => text(400, format!("{e}\n")),
            }
        }
        (&Method::GET, "report") => {
            let query = req.query.as_deref().unwrap_or("");
            let param = |name: &str| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            };
            let Some(id) = param("session") else {
                return text(400, "cert/report needs ?session=ID\n".into());
            };
            match his.session_report(id) {
                Ok((s, steps)) if param("format") == Some("json") => json(&graded(&his, s, steps)),
                Ok((s, steps)) => text(200, medsettle_certify::report_text(&s, &steps)),
                Err(e) => text(400, format!("{e}\n")),
            }
        }
        (&Method::GET, "sessions") => match his.sessions() {
            Ok(list) => {
                let mut t = format!("{} certification session(s)\n", list.len());
                for s in list {
                    t.push_str(&format!(
                        "{} {} {} opened {}{}\n",
                        s.id,
                        s.institution,
                        s.scenario.name(),
                        s.opened_at,
                        s.closed_at
                            .map(|c| format!(", closed {c}"))
                            .unwrap_or_else(|| ", open".into())
                    ));
                }
                text(200, t)
            }
            Err(e) => text(503, format!("{e}\n")),
        },
        _ => text(
            404,
            format!(
                "no certification endpoint {} /ops/{}\n",
                req.method, req.path
            ),
        ),
    }
}
