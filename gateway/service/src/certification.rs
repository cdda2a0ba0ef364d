//! Certification sessions on the running gateway (`specs/certification.md`): the open
//! sessions, the fault a session injects into its institution's traffic, and the recording of
//! that traffic. Grading is `medsettle-certify`'s (pure).
//!
//! Only the session's institution is touched: every other certificate's requests take the
//! usual path, and with no session open the cost is one read of an empty map per request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use medsettle_canonical::{CHINA_OFFSET, RuleId, Violation};
use medsettle_certify::{Exchange, FAULT_INFNO, Fault, Scenario, Session, Step};
use medsettle_server::{ServiceRequest, ServiceResponse};
use medsettle_store::{JournalRecord, StateWrite, Store};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::national::NationalService;

/// Journal kind of a session opened or closed.
pub const KIND_SESSION: &str = "cert.session";
/// Journal kind of one recorded exchange of a session.
pub const KIND_TRAFFIC: &str = "cert.traffic";
/// Session id → [`Session`].
pub const SPACE_SESSION: &str = "cert.session";
/// `session id` + `/` + seq (8 bytes, big endian) → [`Exchange`].
pub const SPACE_TRAFFIC: &str = "cert.traffic";

/// Most sessions opened within one second (the id's two-digit sequence).
const SESSIONS_PER_SECOND_MAX: u32 = 100;

/// Why a session operation was refused (shown to the operator as is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionError(pub String);

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An open session and its counters.
pub(crate) struct Open {
    session: Session,
    seq: AtomicU64,
    fault_used: AtomicBool,
}

/// The open sessions, by institution (one at a time per institution).
#[derive(Default)]
pub(crate) struct Sessions {
    open: RwLock<HashMap<String, Arc<Open>>>,
}

impl Sessions {
    /// The open sessions of a store (at start: a session survives a restart, and so does the
    /// fact that its fault was already injected).
    pub(crate) fn load(store: &dyn Store) -> Result<Sessions, medsettle_store::StoreError> {
        let mut open = HashMap::new();
        for item in store.scan_prefix(SPACE_SESSION, b"")? {
            let (_, v) = item?;
            let Ok(session) = serde_json::from_slice::<Session>(&v) else {
                continue;
            };
            if session.closed_at.is_some() {
                continue;
            }
            let traffic = traffic_of(store, &session.id)?;
            let state = Open {
                seq: AtomicU64::new(traffic.last().map_or(0, |e| e.seq + 1)),
                fault_used: AtomicBool::new(traffic.iter().any(|e| e.fault.is_some())),
                session,
            };
            open.insert(state.session.institution.clone(), Arc::new(state));
        }
        Ok(Sessions {
            open: RwLock::new(open),
        })
    }

    /// The open session a certificate's institutions have, if any.
    pub(crate) fn for_identity(&self, codes: &[String]) -> Option<Arc<Open>> {
        let open = self.open.read().unwrap_or_else(|p| p.into_inner());
        if open.is_empty() {
            return None;
        }
        codes.iter().find_map(|c| open.get(c).cloned())
    }
}

/// The recorded exchanges of session `id`, in order.
pub fn traffic_of(
    store: &dyn Store,
    id: &str,
) -> Result<Vec<Exchange>, medsettle_store::StoreError> {
    let mut out = Vec::new();
    for item in store.scan_prefix(SPACE_TRAFFIC, format!("{id}/").as_bytes())? {
        let (_, v) = item?;
        if let Ok(e) = serde_json::from_slice::<Exchange>(&v) {
            out.push(e);
        }
    }
    Ok(out)
}

fn now_text() -> String {
    OffsetDateTime::now_utc()
        .to_offset(CHINA_OFFSET)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// The certification sessions of a gateway at work: their state and the national service
/// whose store keeps them.
pub(crate) struct CertificationGateway<'a> {
    pub(crate) national: &'a NationalService,
    pub(crate) sessions: &'a Sessions,
}

impl CertificationGateway<'_> {
    /// Open a session for `institution` and `scenario` (one open session per institution).
    pub async fn open_session(
        &self,
        institution: &str,
        scenario: Scenario,
        delay_ms: u64,
    ) -> Result<Session, SessionError> {
        if !self.national.institutions.contains_key(institution) {
            return Err(SessionError(format!(
                "{institution} is not a designated institution of this gateway"
            )));
        }
        let opened = OffsetDateTime::now_utc();
        // The institution, the second and a sequence within it: never an id used before.
        let stem = format!(
            "C{}{}",
            institution,
            crate::national::compact_time(opened.to_offset(CHINA_OFFSET))
        );
        let mut id = None;
        for n in 0..SESSIONS_PER_SECOND_MAX {
            let candidate = format!("{stem}{n:02}");
            let taken = self
                .national
                .store
                .get(SPACE_SESSION, candidate.as_bytes())
                .map_err(|e| SessionError(e.to_string()))?;
            if taken.is_none() {
                id = Some(candidate);
                break;
            }
        }
        let id = id.ok_or_else(|| {
            SessionError("too many sessions opened this second: open it again".into())
        })?;
        let session = Session {
            id,
            institution: institution.to_owned(),
            scenario,
            fault: scenario.fault(delay_ms),
            opened_at: now_text(),
            closed_at: None,
        };
        {
            let open = self.sessions.open.read().unwrap_or_else(|p| p.into_inner());
            if let Some(o) = open.get(institution) {
                return Err(SessionError(format!(
                    "session {} is open for {institution}: close it first",
                    o.session.id
                )));
            }
        }
        self.write_session(&session).await?;
        let mut open = self
            .sessions
            .open
            .write()
            .unwrap_or_else(|p| p.into_inner());
        open.insert(
            institution.to_owned(),
            Arc::new(Open {
                session: session.clone(),
                seq: AtomicU64::new(0),
                fault_used: AtomicBool::new(false),
            }),
        );
        tracing::info!(session = %session.id, institution, scenario = scenario.name(), "certification session opened");
        Ok(session)
    }

    /// Close session `id` and grade it; closing a closed session grades it again.
    pub async fn close_session(&self, id: &str) -> Result<(Session, Vec<Step>), SessionError> {
        let mut session = self.session(id)?;
        if session.closed_at.is_none() {
            session.closed_at = Some(now_text());
            self.write_session(&session).await?;
            let mut open = self
                .sessions
                .open
                .write()
                .unwrap_or_else(|p| p.into_inner());
            open.remove(&session.institution);
        }
        let steps = self.grade_session(&session)?;
        tracing::info!(session = %id, failed = steps.iter().filter(|s| !s.passed).count(), "certification session closed");
        Ok((session, steps))
    }

    /// The recorded exchanges of session `id`, in the order received.
    pub fn session_traffic(&self, id: &str) -> Result<Vec<Exchange>, SessionError> {
        traffic_of(self.national.store.as_ref(), id).map_err(|e| SessionError(e.to_string()))
    }

    /// A session and its graded steps (so far, if still open).
    pub fn session_report(&self, id: &str) -> Result<(Session, Vec<Step>), SessionError> {
        let session = self.session(id)?;
        let steps = self.grade_session(&session)?;
        Ok((session, steps))
    }

    /// Every session, oldest first.
    pub fn sessions(&self) -> Result<Vec<Session>, SessionError> {
        let mut out = Vec::new();
        for item in self
            .national
            .store
            .scan_prefix(SPACE_SESSION, b"")
            .map_err(|e| SessionError(e.to_string()))?
        {
            let (_, v) = item.map_err(|e| SessionError(e.to_string()))?;
            if let Ok(s) = serde_json::from_slice::<Session>(&v) {
                out.push(s);
            }
        }
        out.sort_by(|a, b| a.opened_at.cmp(&b.opened_at));
        Ok(out)
    }

    fn session(&self, id: &str) -> Result<Session, SessionError> {
        let raw = self
            .national
            .store
            .get(SPACE_SESSION, id.as_bytes())
            .map_err(|e| SessionError(e.to_string()))?
            .ok_or_else(|| SessionError(format!("no certification session {id}")))?;
        serde_json::from_slice(&raw).map_err(|e| SessionError(format!("session {id}: {e}")))
    }

    fn grade_session(&self, session: &Session) -> Result<Vec<Step>, SessionError> {
        let traffic = traffic_of(self.national.store.as_ref(), &session.id)
            .map_err(|e| SessionError(e.to_string()))?;
        Ok(medsettle_certify::grade(session, &traffic))
    }

    async fn write_session(&self, session: &Session) -> Result<(), SessionError> {
        let bytes = serde_json::to_vec(session).expect("a session serializes");
        let record = JournalRecord::new(KIND_SESSION, bytes.clone()).with_write(StateWrite::put(
            SPACE_SESSION,
            session.id.as_bytes(),
            bytes,
        ));
        let appended = self
            .national
            .store
            .append(record)
            .map_err(|e| SessionError(e.to_string()))?;
        self.national
            .store
            .wait_durable(appended.ticket)
            .await
            .map_err(|e| SessionError(e.to_string()))
    }

    /// A request of an institution under certification: the scenario's fault, once, on the
    /// first [`FAULT_INFNO`]; then the exchange recorded.
    pub(crate) async fn certified_call<F, Fut>(
        &self,
        open: Arc<Open>,
        req: ServiceRequest,
        answer: F,
    ) -> ServiceResponse
    where
        F: FnOnce(ServiceRequest) -> Fut,
        Fut: std::future::Future<Output = ServiceResponse>,
    {
        let received = OffsetDateTime::now_utc();
        // Numbered as received: a delayed answer is graded in the order the HIS sent it.
        let seq = open.seq.fetch_add(1, Ordering::SeqCst);
        let (path, body) = (req.path.clone(), req.body.clone());
        let infno = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("infno").and_then(|i| i.as_str()).map(str::to_owned));
        let fault = match open.session.fault {
            Some(f)
                if infno.as_deref() == Some(FAULT_INFNO)
                    && !open.fault_used.swap(true, Ordering::SeqCst) =>
            {
                Some(f)
            }
            _ => None,
        };
        let received_cn = received.to_offset(CHINA_OFFSET);
        let resp = match fault {
            Some(Fault::Unavailable) => {
                let v = Violation::new(
                    RuleId::GW_UNAVAILABLE,
                    "",
                    "the gateway cannot take settlements right now (certification: an injected 503); nothing was settled — retry with the same msgid",
                );
                self.refusal_response(503, "unavailable", v, received_cn)
            }
            Some(Fault::BusinessRefusal) => {
                let v = Violation::new(
                    RuleId(medsettle_certify::INJECTED_REFUSAL_RULE),
                    "input.data",
                    "refused by the fund (certification: an injected business refusal); show it to the cashier, do not send it again",
                );
                self.refusal_response(200, "refused", v, received_cn)
            }
            // Held after it is recorded: a client that gives up ends this future.
            Some(Fault::Delay { .. }) => answer(req).await,
            Some(Fault::DropAnswer) => {
                let mut r = answer(req).await;
                r.abort = true;
                r
            }
            None => answer(req).await,
        };
        let exchange = medsettle_certify::record(
            seq,
            received_cn,
            &path,
            &body,
            if resp.abort { 0 } else { resp.status },
            if resp.abort { b"" } else { &resp.body },
            fault,
        );
        self.record_exchange(&open.session.id, &exchange);
        if let Some(Fault::Delay { ms }) = fault {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        resp
    }

    /// Journal one exchange of a session (evidence; not waited for: the answer does not
    /// depend on it, and the next flush makes it durable).
    fn record_exchange(&self, id: &str, e: &Exchange) {
        let bytes = serde_json::to_vec(e).expect("an exchange serializes");
        let mut key = format!("{id}/").into_bytes();
        key.extend_from_slice(&e.seq.to_be_bytes());
        let record = JournalRecord::new(KIND_TRAFFIC, bytes.clone()).with_write(StateWrite::put(
            SPACE_TRAFFIC,
            key,
            bytes,
        ));
        if let Err(err) = self.national.store.append(record) {
            tracing::warn!(session = id, seq = e.seq, error = %err, "certification exchange not recorded");
        }
    }

    fn refusal_response(
        &self,
        status: u16,
        outcome: &'static str,
        v: Violation,
        received: OffsetDateTime,
    ) -> ServiceResponse {
        let answer = self.national.refuse(status, outcome, &[v], None, received);
        ServiceResponse::json(answer.status, Bytes::from(answer.body), answer.outcome)
    }
}
