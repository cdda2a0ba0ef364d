//! Forwarding national-interface requests upstream, journaled, with in-doubt resolution.
//!
//! The gateway, as the agency's front-end processor, passes a HIS request to the national
//! platform and relays the answer byte-for-byte. What it must never do is leave a settlement
//! whose outcome nobody knows. So, for every transaction that 2601 can reverse:
//!
//! 1. before sending, an **in-doubt** record (kind `nhsa.in_doubt`, state
//!    `fwd.in_doubt` / `<code>\0<msgid>`) is journaled and made durable — a crash after this
//!    point leaves a marker that [`Forwarder::resolve_in_doubt`] finds on the next start;
//! 2. an answer from upstream is journaled as the exchange (`nhsa.settlement` with the
//!    canonical claim, or `nhsa.request`), idempotently under `(code, msgid)` with upstream's
//!    exact bytes, clearing the marker in the same record; only once that is durable is the
//!    answer relayed;
//! 3. no answer (timeout, lost response, reset after sending): upstream's outcome is unknown,
//!    so a **2601** reversal by original msgid is sent (bounded retries with backoff); once
//!    upstream confirms it, or says there was nothing to reverse, the resolution is journaled
//!    (clearing the marker) under the original key with the error answer the caller gets, so
//!    a retry of that msgid gets the same error. If 2601 fails too, the marker stays and the
//!    caller is told the outcome is being resolved.
//!
//! The caller is never answered success unless upstream's answer was received and journaled
//! durably. Concurrency: one exchange per `(code, msgid)` at a time in this process (an
//! in-process claim set; one gateway process owns a store).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use medsettle_canonical::journal::{KIND_IN_DOUBT, KIND_REQUEST, KIND_SETTLEMENT};
use medsettle_canonical::{CHINA_OFFSET, ExchangeRecord, RuleId, SettledClaim, describe};
use medsettle_nhsa::tx::{is_reversal, is_settlement};
use medsettle_nhsa::{Canonical, DecodeLimits, Infno, Options, ResponseEnvelope};
use medsettle_store::{IdempotentOutcome, JournalRecord, StateWrite, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use tracing::{error, info, warn};

use medsettle_server::ServerError;
use medsettle_server::routes::national_error;
use medsettle_server::upstream::{UpstreamClient, UpstreamReply};

/// State keyspace of exchanges whose outcome upstream is unknown; key `<code>\0<msgid>`,
/// value an [`InDoubtEntry`] (JSON).
pub const SPACE_IN_DOUBT: &str = "fwd.in_doubt";
/// State keyspace of exchanges upstream answered with success that did not decode into a
/// canonical claim (the answer was relayed; an operator must reconcile); value the violations.
pub const SPACE_UNNORMALIZED: &str = "fwd.unnormalized";
/// Journal kind of an in-doubt marker cleared because the request was certainly never sent
/// (connect or TLS failure): nothing to reverse, and the caller may retry the same msgid.
pub const KIND_NOT_SENT: &str = "nhsa.not_sent";
/// `ExchangeRecord::core` of forwarded exchanges.
pub const CORE_FORWARDED: &str = "forwarded";
/// The reversal transaction (nhsa-interface.md §2.1): reverses an exchange by its msgid.
const REVERSAL: Infno = Infno::T2601;

/// Default transactions guarded by an in-doubt record, from the transaction table
/// ([`Infno::in_doubt_by_default`]): those 2601 can reverse (§2.1, OH comment: 2207, 2208,
/// 2304, 2305, 2401) plus the letter variant of 2207.
pub fn in_doubt_infnos_default() -> Vec<String> {
    Infno::ALL
        .into_iter()
        .filter(|i| i.in_doubt_by_default())
        .map(|i| i.as_str().to_owned())
        .collect()
}

/// Default number of 2601 attempts per resolution before the marker is left for later.
pub const REVERSAL_ATTEMPTS_MAX_DEFAULT: u32 = 3;
/// Default pause before the second 2601 attempt, milliseconds; doubled per attempt.
pub const REVERSAL_BACKOFF_MS_DEFAULT: u64 = 500;
/// Default ceiling of the pause between 2601 attempts, milliseconds.
pub const REVERSAL_BACKOFF_MAX_MS_DEFAULT: u64 = 5_000;
/// Default pause between giving up on the original answer and the first 2601, milliseconds:
/// upstream may still be processing the original; a 2601 that overtakes it would find
/// "nothing to reverse" and the original would then settle unseen.
pub const REVERSAL_FIRST_DELAY_MS_DEFAULT: u64 = 1_000;
/// Default interval of the background resolver ([`Forwarder::run_resolver`]), milliseconds.
pub const RESOLVE_INTERVAL_MS_DEFAULT: u64 = 60_000;
/// Default `err_msg` fragments of a refused 2601 that mean "nothing (left) to reverse": the
/// original never settled or was already reversed. Provincial wording varies; configurable.
pub const NOTHING_TO_REVERSE_MARKERS_DEFAULT: &[&str] =
    &["原交易不存在", "未找到原交易", "无需冲正", "已冲正"];
/// How many candidate msgids are tried for a 2601 before giving up (a candidate is skipped
/// when the institution already used it).
pub const REVERSAL_MSGID_CANDIDATES_MAX: u32 = 20;
/// 4-digit sequence space of a msgid (§1.1 #2).
const MSGID_SEQUENCE_SPACE: u32 = 10_000;

/// Forwarding and resolution settings. Every field has a default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardSettings {
    /// Transactions journaled in doubt before sending and reversed by 2601 when unanswered;
    /// each must be a transaction medsettle serves ([`Infno`]). Default
    /// [`in_doubt_infnos_default`]: 2207, 2207A, 2208, 2304, 2305, 2401.
    pub in_doubt_infnos: Vec<String>,
    /// Guard every transaction, not just `in_doubt_infnos`. Default false (2601 reverses only
    /// settling transactions; a 2601 for a 1101 query is noise).
    pub in_doubt_all: bool,
    /// 2601 attempts per resolution. Default 3; 1..=20.
    pub reversal_attempts_max: u32,
    /// First backoff between 2601 attempts, ms (doubled each time). Default 500.
    pub reversal_backoff_ms: u64,
    /// Backoff ceiling, ms. Default 5000.
    pub reversal_backoff_max_ms: u64,
    /// Pause before the first 2601, ms. Default 1000.
    pub reversal_first_delay_ms: u64,
    /// `err_msg` fragments meaning "nothing to reverse". Default see
    /// [`NOTHING_TO_REVERSE_MARKERS_DEFAULT`].
    pub nothing_to_reverse_markers: Vec<String>,
    /// Interval of [`Forwarder::run_resolver`], ms. Default 60000.
    pub resolve_interval_ms: u64,
    /// Settlement identities (`NHSA-ID-…`) that only warn when upstream's answer is
    /// normalized (known provincial quirks such as a null `hosp_part_amt`). Default none.
    pub identity_warn_only: Vec<String>,
}

impl Default for ForwardSettings {
    fn default() -> Self {
        ForwardSettings {
            in_doubt_infnos: in_doubt_infnos_default(),
            in_doubt_all: false,
            reversal_attempts_max: REVERSAL_ATTEMPTS_MAX_DEFAULT,
            reversal_backoff_ms: REVERSAL_BACKOFF_MS_DEFAULT,
            reversal_backoff_max_ms: REVERSAL_BACKOFF_MAX_MS_DEFAULT,
            reversal_first_delay_ms: REVERSAL_FIRST_DELAY_MS_DEFAULT,
            nothing_to_reverse_markers: NOTHING_TO_REVERSE_MARKERS_DEFAULT
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            resolve_interval_ms: RESOLVE_INTERVAL_MS_DEFAULT,
            identity_warn_only: Vec::new(),
        }
    }
}

impl ForwardSettings {
    pub fn validate(&self) -> Result<(), ServerError> {
        if self.reversal_attempts_max == 0 || self.reversal_attempts_max > 20 {
            return Err(ServerError::config(
                "forward.reversal_attempts_max",
                "must be 1..=20",
            ));
        }
        if self.reversal_backoff_max_ms < self.reversal_backoff_ms {
            return Err(ServerError::config(
                "forward.reversal_backoff_max_ms",
                "must be at least reversal_backoff_ms",
            ));
        }
        if self.resolve_interval_ms == 0 {
            return Err(ServerError::config(
                "forward.resolve_interval_ms",
                "must be at least 1",
            ));
        }
        if let Some(unknown) = self
            .in_doubt_infnos
            .iter()
            .find(|i| Infno::parse(i).is_none())
        {
            return Err(ServerError::config(
                "forward.in_doubt_infnos",
                format!("`{unknown}` is not a transaction medsettle serves"),
            ));
        }
        if self.nothing_to_reverse_markers.iter().any(String::is_empty) {
            return Err(ServerError::config(
                "forward.nothing_to_reverse_markers",
                "an empty marker would match every refusal",
            ));
        }
        Ok(())
    }

    /// Whether `infno` is journaled in doubt before sending.
    pub fn guards(&self, infno: &str) -> bool {
        self.in_doubt_all || self.in_doubt_infnos.iter().any(|i| i == infno)
    }
}

/// One request to forward, already authenticated and validated by the caller.
#[derive(Debug, Clone)]
pub struct ForwardRequest {
    /// The envelope bytes as the HIS sent them; forwarded unchanged.
    pub raw_body: Bytes,
    pub fixmedins_code: String,
    pub msgid: String,
    pub infno: String,
    /// `psn_no` for the 2601 `data`; when empty, taken from the request's `input.*.psn_no`.
    pub psn_no: String,
    /// SHA-256 of the body (the idempotency index compares it).
    pub body_sha256: [u8; 32],
}

/// How a forward ended; [`Disposition::as_str`] is a short metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Upstream answered; the answer was journaled and is relayed verbatim.
    Relayed,
    /// The msgid was seen before with the same body: the stored answer, upstream not called.
    Replayed,
    /// No answer; 2601 reversed the settlement upstream; the caller gets an error.
    Reversed,
    /// No answer; 2601 found nothing to reverse; the caller gets an error.
    NothingToReverse,
    /// No answer and the 2601 failed too: the marker stays; resolution continues later.
    InDoubt,
    /// Nothing was sent (connect/TLS failure); the caller may retry the same msgid.
    NotSent,
    /// A non-guarded transaction got no answer; nothing to resolve.
    NoAnswer,
    /// Same msgid, different body.
    Conflict,
    /// The same msgid is being forwarded or resolved right now.
    Busy,
    /// The store could not journal; nothing is acknowledged.
    Unavailable,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Relayed => "relayed",
            Disposition::Replayed => "replayed",
            Disposition::Reversed => "reversed",
            Disposition::NothingToReverse => "nothing_to_reverse",
            Disposition::InDoubt => "in_doubt",
            Disposition::NotSent => "not_sent",
            Disposition::NoAnswer => "no_answer",
            Disposition::Conflict => "conflict",
            Disposition::Busy => "busy",
            Disposition::Unavailable => "unavailable",
        }
    }
}

/// What to answer the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardOutcome {
    /// Upstream's bytes verbatim ([`Disposition::Relayed`], [`Disposition::Replayed`]) or a
    /// national error envelope.
    pub answer_bytes: Bytes,
    pub http_status: u16,
    /// The canonical claim journaled by *this* call (never on a replay: it was journaled the
    /// first time).
    pub claim: Option<SettledClaim>,
    pub disposition: Disposition,
}

/// The durable marker of an exchange whose outcome upstream is unknown: enough to build the
/// 2601 after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InDoubtEntry {
    pub fixmedins_code: String,
    pub msgid: String,
    pub infno: String,
    pub psn_no: String,
    /// Hex SHA-256 of the original body (the resolution is stored under it).
    pub body_sha256: String,
    /// When the marker was written, RFC 3339 +08:00.
    pub recorded_at: String,
    /// The original envelope without `input` and `cainfo` (which may hold a card password):
    /// the 2601 reuses its region, receiver, operator and sign-in fields.
    pub envelope: Map<String, Value>,
}

/// What [`Forwarder::resolve_in_doubt`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolveReport {
    /// Markers found.
    pub examined: usize,
    /// Reversed by a confirmed 2601.
    pub reversed: usize,
    /// Upstream had nothing to reverse.
    pub nothing_to_reverse: usize,
    /// Still in doubt (2601 failed); `errors` says why.
    pub still_pending: usize,
    /// Left alone: the exchange is in flight in this process.
    pub skipped_in_flight: usize,
    /// One line per marker not resolved.
    pub errors: Vec<String>,
}

/// Why resolution could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The store failed (rule GW-UNAVAILABLE: nothing resolved was acknowledged).
    #[error("[GW-UNAVAILABLE] store: {0}")]
    Store(#[from] StoreError),
}

/// How one resolution ended.
enum Resolution {
    Reversed(Bytes),
    NothingToReverse(Bytes),
    Pending(String),
}

/// Forwards requests to one upstream and resolves in-doubt exchanges.
#[derive(Debug)]
pub struct Forwarder {
    client: UpstreamClient,
    settings: ForwardSettings,
    in_flight: Mutex<HashSet<Vec<u8>>>,
    sequence: AtomicU32,
}

/// Holds a `(code, msgid)` claim; released on drop, so a cancelled future frees it.
struct Claim<'a> {
    set: &'a Mutex<HashSet<Vec<u8>>>,
    key: Vec<u8>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

/// The state key of `(code, msgid)`: NUL cannot occur in either (both are printable ids).
pub fn in_doubt_key(fixmedins_code: &str, msgid: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(fixmedins_code.len() + msgid.len() + 1);
    k.extend_from_slice(fixmedins_code.as_bytes());
    k.push(0);
    k.extend_from_slice(msgid.as_bytes());
    k
}

fn china_now() -> OffsetDateTime {
    OffsetDateTime::now_utc().to_offset(CHINA_OFFSET)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(CHINA_OFFSET)
        .format(&Rfc3339)
        .expect("RFC 3339 formats any year 0..9999")
}

/// The JSON of a body for the journal (the caller validated it; a non-JSON body is kept as
/// text rather than lost).
fn body_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Where a forwarder's 2601 msgid sequence starts: from the clock's nanoseconds and the
/// process id, so a restarted gateway does not begin where the previous one did within the
/// same second (a repeated msgid upstream would be a replay, not a new reversal).
fn sequence_start() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos ^ std::process::id().rotate_left(16)) % MSGID_SEQUENCE_SPACE
}

impl Forwarder {
    /// A forwarder sending by `client`, which gets the per-service paths of
    /// [`crate::paths::national_paths`] (used when its `path_style` is `per_service`).
    pub fn new(
        client: UpstreamClient,
        settings: ForwardSettings,
    ) -> Result<Forwarder, ServerError> {
        settings.validate()?;
        Ok(Forwarder {
            // The transport knows no transactions: per-service upstreams send by our table.
            client: client.with_service_paths(crate::paths::national_paths()),
            settings,
            in_flight: Mutex::new(HashSet::new()),
            sequence: AtomicU32::new(sequence_start()),
        })
    }

    pub fn settings(&self) -> &ForwardSettings {
        &self.settings
    }

    fn claim(&self, code: &str, msgid: &str) -> Option<Claim<'_>> {
        let key = in_doubt_key(code, msgid);
        let mut set = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if !set.insert(key.clone()) {
            return None;
        }
        Some(Claim {
            set: &self.in_flight,
            key,
        })
    }

    fn error(
        &self,
        rule: RuleId,
        status: u16,
        message: &str,
        received: OffsetDateTime,
        disposition: Disposition,
    ) -> ForwardOutcome {
        ForwardOutcome {
            answer_bytes: national_error(rule, message, received),
            http_status: status,
            claim: None,
            disposition,
        }
    }

    fn unavailable(&self, e: &StoreError, received: OffsetDateTime) -> ForwardOutcome {
        error!(error = %e, "store failed while forwarding");
        self.error(
            RuleId::GW_UNAVAILABLE,
            503,
            "the gateway cannot journal right now; nothing was acknowledged; retry later with the same msgid",
            received,
            Disposition::Unavailable,
        )
    }

    /// Forward one request (see the module documentation for the protocol).
    pub async fn forward(&self, store: &dyn Store, req: ForwardRequest) -> ForwardOutcome {
        let received = OffsetDateTime::now_utc();
        let code = req.fixmedins_code.as_str();
        let msgid = req.msgid.as_str();
        let Some(_claim) = self.claim(code, msgid) else {
            return self.error(
                RuleId::GW_UNAVAILABLE,
                409,
                "this msgid is being processed right now; wait for that answer",
                received,
                Disposition::Busy,
            );
        };

        // A msgid seen before: same body → the same bytes again, upstream not called.
        match store.lookup_idempotent(code, msgid) {
            Err(e) => return self.unavailable(&e, received),
            Ok(Some(entry)) => {
                if entry.body_sha256 != req.body_sha256 {
                    return self.error(
                        RuleId::GW_IDEMPOTENCY,
                        409,
                        "this msgid was already used with a different body",
                        received,
                        Disposition::Conflict,
                    );
                }
                // The first answer may not be durable yet; never send it before it is.
                if let Err(e) = store.wait_durable(store.current_ticket()).await {
                    return self.unavailable(&e, received);
                }
                let status = replay_status(&entry.answer);
                return ForwardOutcome {
                    answer_bytes: Bytes::from(entry.answer),
                    http_status: status,
                    claim: None,
                    disposition: Disposition::Replayed,
                };
            }
            Ok(None) => {}
        }

        // A marker left by an earlier attempt (maybe before a restart): resolve it now, the
        // caller is waiting for exactly this answer.
        let key = in_doubt_key(code, msgid);
        match store.get(SPACE_IN_DOUBT, &key) {
            Err(e) => return self.unavailable(&e, received),
            Ok(Some(value)) => {
                let Ok(entry) = serde_json::from_slice::<InDoubtEntry>(&value) else {
                    error!(code, msgid, "in-doubt marker does not decode");
                    return self.error(
                        RuleId::GW_INTERNAL,
                        500,
                        "the gateway's in-doubt marker for this msgid is unreadable; the operator has the log line",
                        received,
                        Disposition::InDoubt,
                    );
                };
                return self.resolve_for_caller(store, &entry, 504, received).await;
            }
            Ok(None) => {}
        }

        let request_json = body_json(&req.raw_body);
        let guarded = self.settings.guards(&req.infno);
        let entry = self.in_doubt_entry(&req, &request_json, received);
        if guarded {
            let record = JournalRecord::new(
                KIND_IN_DOUBT,
                exchange_payload(
                    &req.infno,
                    code,
                    msgid,
                    request_json.clone(),
                    Value::Null,
                    Normalized::default(),
                    received,
                ),
            )
            .with_key(code, msgid)
            .with_write(StateWrite::put(
                SPACE_IN_DOUBT,
                key.clone(),
                serde_json::to_vec(&entry).expect("an entry serializes"),
            ));
            let durable = match store.append(record) {
                Ok(a) => store.wait_durable(a.ticket).await,
                Err(e) => Err(e),
            };
            if let Err(e) = durable {
                // Nothing was sent; a marker that did get written resolves to "nothing to
                // reverse" later.
                return self.unavailable(&e, received);
            }
        }

        match self.client.call(&req.infno, req.raw_body.clone()).await {
            Ok(reply) => {
                self.on_reply(store, &req, guarded, &entry, request_json, reply, received)
                    .await
            }
            Err(e) => {
                medsettle_server::upstream::log_failure(&req.infno, msgid, &e);
                let status = if e.is_timeout() { 504 } else { 502 };
                if !e.may_have_been_processed() {
                    if guarded {
                        let record = JournalRecord::new(
                            KIND_NOT_SENT,
                            exchange_payload(
                                &req.infno,
                                code,
                                msgid,
                                request_json,
                                json!({ "error": e.to_string() }),
                                Normalized::default(),
                                received,
                            ),
                        )
                        .with_key(code, msgid)
                        .with_write(StateWrite::delete(SPACE_IN_DOUBT, key));
                        let durable = match store.append(record) {
                            Ok(a) => store.wait_durable(a.ticket).await,
                            Err(e) => Err(e),
                        };
                        if let Err(e) = durable {
                            // The marker stays and resolves to "nothing to reverse" later.
                            warn!(error = %e, code, msgid, "could not clear the marker of an unsent request");
                        }
                    }
                    return self.error(
                        RuleId::GW_UNAVAILABLE,
                        502,
                        &format!("upstream unreachable, nothing was sent ({e}); retry later with the same msgid"),
                        received,
                        Disposition::NotSent,
                    );
                }
                if !guarded {
                    return self.error(
                        RuleId::GW_UNAVAILABLE,
                        status,
                        &format!("no answer from upstream ({e}); the outcome of this non-settling transaction is unknown"),
                        received,
                        Disposition::NoAnswer,
                    );
                }
                self.resolve_for_caller(store, &entry, status, received)
                    .await
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // one call site; the parts are all distinct
    async fn on_reply(
        &self,
        store: &dyn Store,
        req: &ForwardRequest,
        guarded: bool,
        entry: &InDoubtEntry,
        request_json: Value,
        reply: UpstreamReply,
        received: OffsetDateTime,
    ) -> ForwardOutcome {
        let code = req.fixmedins_code.as_str();
        let msgid = req.msgid.as_str();
        let key = in_doubt_key(code, msgid);
        let limits = DecodeLimits::default();
        let envelope = ResponseEnvelope::decode(&reply.body, &limits);

        let Ok(envelope) = envelope else {
            if guarded {
                // Not a national answer (a proxy's 502 page, a middleware's own shape): it does
                // not say whether the settlement happened, so it is treated as no answer.
                warn!(
                    code,
                    msgid,
                    status = reply.status,
                    "upstream answer is not a national envelope; treating the settlement as in doubt"
                );
                let status = 502;
                return self
                    .resolve_for_caller(store, entry, status, received)
                    .await;
            }
            // A non-settling transaction: relay what came; journal it (not idempotently, so a
            // retry asks upstream again).
            let record = JournalRecord::new(
                KIND_REQUEST,
                exchange_payload(
                    &req.infno,
                    code,
                    msgid,
                    request_json,
                    body_json(&reply.body),
                    Normalized::default(),
                    received,
                ),
            )
            .with_key(code, msgid);
            let durable = match store.append(record) {
                Ok(a) => store.wait_durable(a.ticket).await,
                Err(e) => Err(e),
            };
            if let Err(e) = durable {
                return self.unavailable(&e, received);
            }
            return ForwardOutcome {
                answer_bytes: reply.body,
                http_status: reply.status,
                claim: None,
                disposition: Disposition::Relayed,
            };
        };

        // Normalize the exchange; the relayed bytes stay upstream's.
        let mut exchange = Vec::with_capacity(req.raw_body.len() + reply.body.len() + 32);
        exchange.extend_from_slice(b"{\"request\":");
        exchange.extend_from_slice(&req.raw_body);
        exchange.extend_from_slice(b",\"response\":");
        exchange.extend_from_slice(&reply.body);
        exchange.push(b'}');
        let opts = Options {
            infno: Some(req.infno.clone()),
            identity_policy: medsettle_canonical::IdentityPolicy {
                warn_only: self.settings.identity_warn_only.clone(),
            },
            // A step of a legacy call carries the msgid the gateway made for it.
            tolerance: medsettle_nhsa::Tolerance {
                gateway_made_msgid: true,
                ..medsettle_nhsa::Tolerance::default()
            },
            ..Options::default()
        };
        let mut writes = Vec::new();
        let mut repairs = Vec::new();
        let claim = match medsettle_nhsa::decode(&exchange, &opts) {
            Ok(decoded) => {
                // A provincial shape read as the interface means it: the record says what was
                // repaired (specs/nhsa-interface.md §8).
                repairs = decoded
                    .repairs
                    .iter()
                    .map(|r| medsettle_canonical::RecordedRepair {
                        repair: serde_json::to_value(r.repair)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        path: r.path.clone(),
                        detail: r.detail.clone(),
                    })
                    .collect();
                if !repairs.is_empty() {
                    warn!(code, msgid, infno = %req.infno, repairs = repairs.len(), "upstream answer read with repairs of a provincial shape");
                }
                match decoded.canonical {
                    Canonical::Claim(c) => Some(c),
                    _ => None,
                }
            }
            Err(e) => {
                if envelope.is_success() && (is_settlement(&req.infno) || is_reversal(&req.infno)) {
                    // Upstream settled (or answered success) but the exchange does not make a
                    // canonical record: relay anyway (upstream's word is the fact) and index
                    // it for the operator.
                    error!(code, msgid, infno = %req.infno, violations = %e, "upstream success does not normalize; relayed, journaled without a claim");
                    writes.push(StateWrite::put(
                        SPACE_UNNORMALIZED,
                        key.clone(),
                        describe(&e.violations).into_bytes(),
                    ));
                }
                None
            }
        };
        let kind = if claim.is_some() {
            KIND_SETTLEMENT
        } else {
            KIND_REQUEST
        };
        let mut record = JournalRecord::new(
            kind,
            exchange_payload(
                &req.infno,
                code,
                msgid,
                request_json,
                body_json(&reply.body),
                Normalized {
                    claim: claim.clone(),
                    repairs,
                },
                received,
            ),
        )
        .with_key(code, msgid);
        if guarded {
            record = record.with_write(StateWrite::delete(SPACE_IN_DOUBT, key.clone()));
        }
        record.state_writes.extend(writes);
        match store.append_idempotent(record, req.body_sha256, reply.body.to_vec()) {
            Err(e) => self.unavailable(&e, received),
            Ok(IdempotentOutcome::Appended { ticket, .. }) => {
                if let Err(e) = store.wait_durable(ticket).await {
                    return self.unavailable(&e, received);
                }
                ForwardOutcome {
                    answer_bytes: reply.body,
                    http_status: reply.status,
                    claim,
                    disposition: Disposition::Relayed,
                }
            }
            // Cannot happen while we hold the claim and checked the index; answer what the
            // index holds rather than a second, different answer.
            Ok(IdempotentOutcome::Duplicate { answer, ticket, .. }) => {
                error!(
                    code,
                    msgid, "msgid journaled concurrently; answering the stored answer"
                );
                if let Err(e) = store.wait_durable(ticket).await {
                    return self.unavailable(&e, received);
                }
                ForwardOutcome {
                    http_status: replay_status(&answer),
                    answer_bytes: Bytes::from(answer),
                    claim: None,
                    disposition: Disposition::Replayed,
                }
            }
            Ok(IdempotentOutcome::Conflict { .. }) => self.error(
                RuleId::GW_IDEMPOTENCY,
                409,
                "this msgid was already used with a different body",
                received,
                Disposition::Conflict,
            ),
        }
    }

    fn in_doubt_entry(
        &self,
        req: &ForwardRequest,
        request_json: &Value,
        received: OffsetDateTime,
    ) -> InDoubtEntry {
        let mut envelope = request_json.as_object().cloned().unwrap_or_default();
        envelope.remove("input");
        envelope.remove("cainfo");
        let psn_no = if req.psn_no.is_empty() {
            psn_no_of(request_json).unwrap_or_default()
        } else {
            req.psn_no.clone()
        };
        InDoubtEntry {
            fixmedins_code: req.fixmedins_code.clone(),
            msgid: req.msgid.clone(),
            infno: req.infno.clone(),
            psn_no,
            body_sha256: hex::encode(req.body_sha256),
            recorded_at: rfc3339(received),
            envelope,
        }
    }

    /// Resolve `entry` while a caller waits, and build its answer.
    async fn resolve_for_caller(
        &self,
        store: &dyn Store,
        entry: &InDoubtEntry,
        status: u16,
        received: OffsetDateTime,
    ) -> ForwardOutcome {
        match self.resolve_entry(store, entry, received).await {
            Ok(Resolution::Reversed(bytes)) => ForwardOutcome {
                answer_bytes: bytes,
                http_status: status,
                claim: None,
                disposition: Disposition::Reversed,
            },
            Ok(Resolution::NothingToReverse(bytes)) => ForwardOutcome {
                answer_bytes: bytes,
                http_status: status,
                claim: None,
                disposition: Disposition::NothingToReverse,
            },
            Ok(Resolution::Pending(why)) => self.error(
                RuleId::GW_UNAVAILABLE,
                status,
                &format!(
                    "the settlement's outcome upstream is unknown and its 2601 reversal has not succeeded yet ({why}); \
                     the gateway keeps reversing it: do not settle this visit again yet, retry later with the same msgid for the outcome"
                ),
                received,
                Disposition::InDoubt,
            ),
            Err(e) => self.unavailable(&e, received),
        }
    }

    /// Send 2601 for `entry` (bounded retries), and journal the resolution durably.
    async fn resolve_entry(
        &self,
        store: &dyn Store,
        entry: &InDoubtEntry,
        received: OffsetDateTime,
    ) -> Result<Resolution, StoreError> {
        let s = &self.settings;
        tokio::time::sleep(Duration::from_millis(s.reversal_first_delay_ms)).await;
        let mut backoff = s.reversal_backoff_ms;
        let mut last = String::from("no attempt made");
        for attempt in 0..s.reversal_attempts_max {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(backoff)).await;
                backoff = backoff.saturating_mul(2).min(s.reversal_backoff_max_ms);
            }
            let Some(msgid_2601) = self.fresh_msgid(store, &entry.fixmedins_code)? else {
                last = "no unused msgid for the 2601 this second".into();
                continue;
            };
            let request = reversal_request(entry, &msgid_2601, china_now());
            let body = Bytes::from(serde_json::to_vec(&request).expect("a JSON value serializes"));
            let reply = match self.client.call(REVERSAL.as_str(), body).await {
                Ok(r) => r,
                Err(e) => {
                    medsettle_server::upstream::log_failure(REVERSAL.as_str(), &msgid_2601, &e);
                    last = format!("2601 attempt {}: {e}", attempt + 1);
                    continue;
                }
            };
            let Ok(env) = ResponseEnvelope::decode(&reply.body, &DecodeLimits::default()) else {
                last = format!(
                    "2601 attempt {}: answer (HTTP {}) is not a national envelope",
                    attempt + 1,
                    reply.status
                );
                continue;
            };
            let err_msg = env.err_msg.clone().unwrap_or_default();
            let nothing = !env.is_success()
                && s.nothing_to_reverse_markers
                    .iter()
                    .any(|m| err_msg.contains(m.as_str()));
            if !env.is_success() && !nothing {
                last = format!(
                    "2601 attempt {}: upstream refused (infcode {}): {err_msg}",
                    attempt + 1,
                    env.infcode.0
                );
                continue;
            }
            let message = if nothing {
                format!(
                    "the settlement did not complete upstream (no answer to msgid {}); upstream had nothing to reverse (2601 msgid {msgid_2601}: {err_msg}); nothing was settled; settle again with a new msgid",
                    entry.msgid
                )
            } else {
                format!(
                    "the settlement did not complete upstream (no answer to msgid {}) and was reversed (2601 msgid {msgid_2601}); nothing was settled; settle again with a new msgid",
                    entry.msgid
                )
            };
            let answer = national_error(RuleId::GW_UNAVAILABLE, &message, received);
            self.journal_resolution(store, entry, request, &reply, answer.clone())
                .await?;
            info!(code = %entry.fixmedins_code, msgid = %entry.msgid, reversal_msgid = %msgid_2601, nothing, "in-doubt exchange resolved by 2601");
            return Ok(if nothing {
                Resolution::NothingToReverse(answer)
            } else {
                Resolution::Reversed(answer)
            });
        }
        warn!(code = %entry.fixmedins_code, msgid = %entry.msgid, reason = %last, "in-doubt exchange still unresolved");
        Ok(Resolution::Pending(last))
    }

    async fn journal_resolution(
        &self,
        store: &dyn Store,
        entry: &InDoubtEntry,
        request_2601: Value,
        reply: &UpstreamReply,
        answer: Bytes,
    ) -> Result<(), StoreError> {
        let key = in_doubt_key(&entry.fixmedins_code, &entry.msgid);
        let msgid_2601 = request_2601["msgid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let payload = exchange_payload(
            REVERSAL.as_str(),
            &entry.fixmedins_code,
            &msgid_2601,
            request_2601,
            body_json(&reply.body),
            Normalized::default(),
            OffsetDateTime::now_utc(),
        );
        // Keyed by the *original* msgid with the caller's answer, so a retry of that msgid is
        // answered the same error without another upstream call.
        let record = JournalRecord::new(KIND_REQUEST, payload.clone())
            .with_key(&entry.fixmedins_code, &entry.msgid)
            .with_write(StateWrite::delete(SPACE_IN_DOUBT, key.clone()));
        let mut sha = [0u8; 32];
        if let Ok(v) = hex::decode(&entry.body_sha256)
            && v.len() == 32
        {
            sha.copy_from_slice(&v);
        }
        let ticket = match store.append_idempotent(record, sha, answer.to_vec())? {
            IdempotentOutcome::Appended { ticket, .. } => ticket,
            // The key already has an answer (cannot happen under the claim): still clear the
            // marker so it is not reversed twice.
            IdempotentOutcome::Duplicate { .. } | IdempotentOutcome::Conflict { .. } => {
                let clear = JournalRecord::new(KIND_REQUEST, payload)
                    .with_key(&entry.fixmedins_code, &msgid_2601)
                    .with_write(StateWrite::delete(SPACE_IN_DOUBT, key));
                store.append(clear)?.ticket
            }
        };
        store.wait_durable(ticket).await
    }

    /// A msgid for a gateway-originated 2601: `fixmedins_code + yyyyMMddHHmmss + 4 digits`
    /// (§1.1 #2), from a process-wide sequence, skipping any the institution already used.
    fn fresh_msgid(&self, store: &dyn Store, code: &str) -> Result<Option<String>, StoreError> {
        let stamp = china_now()
            .format(format_description!(
                "[year][month][day][hour][minute][second]"
            ))
            .expect("a fixed numeric format cannot fail for years 0..9999");
        for _ in 0..REVERSAL_MSGID_CANDIDATES_MAX {
            let seq = self.sequence.fetch_add(1, Ordering::Relaxed) % MSGID_SEQUENCE_SPACE;
            let candidate = format!("{code}{stamp}{seq:04}");
            if store.lookup_idempotent(code, &candidate)?.is_none()
                && store
                    .get(SPACE_IN_DOUBT, &in_doubt_key(code, &candidate))?
                    .is_none()
            {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }

    /// The in-doubt markers in the store.
    pub fn pending_in_doubt(store: &dyn Store) -> Result<Vec<InDoubtEntry>, ForwardError> {
        let mut out = Vec::new();
        for item in store.scan_prefix(SPACE_IN_DOUBT, b"")? {
            let (key, value) = item?;
            match serde_json::from_slice::<InDoubtEntry>(&value) {
                Ok(e) => out.push(e),
                Err(e) => {
                    error!(key = %String::from_utf8_lossy(&key), error = %e, "in-doubt marker does not decode; left for the operator")
                }
            }
        }
        Ok(out)
    }

    /// Finish every pending in-doubt exchange not in flight here: run at start (after a crash
    /// too) and periodically ([`Forwarder::run_resolver`]).
    pub async fn resolve_in_doubt(&self, store: &dyn Store) -> Result<ResolveReport, ForwardError> {
        let entries = Self::pending_in_doubt(store)?;
        let mut report = ResolveReport {
            examined: entries.len(),
            ..ResolveReport::default()
        };
        for entry in entries {
            let Some(_claim) = self.claim(&entry.fixmedins_code, &entry.msgid) else {
                report.skipped_in_flight += 1;
                continue;
            };
            // Re-check under the claim: a caller may have resolved it meanwhile.
            if store
                .get(
                    SPACE_IN_DOUBT,
                    &in_doubt_key(&entry.fixmedins_code, &entry.msgid),
                )?
                .is_none()
            {
                continue;
            }
            match self
                .resolve_entry(store, &entry, OffsetDateTime::now_utc())
                .await?
            {
                Resolution::Reversed(_) => report.reversed += 1,
                Resolution::NothingToReverse(_) => report.nothing_to_reverse += 1,
                Resolution::Pending(why) => {
                    report.still_pending += 1;
                    report
                        .errors
                        .push(format!("{} {}: {why}", entry.fixmedins_code, entry.msgid));
                }
            }
        }
        Ok(report)
    }

    /// Run [`Forwarder::resolve_in_doubt`] now and every `resolve_interval_ms` until
    /// `shutdown` completes.
    pub async fn run_resolver(&self, store: &dyn Store, shutdown: impl Future<Output = ()>) {
        let mut tick =
            tokio::time::interval(Duration::from_millis(self.settings.resolve_interval_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = tick.tick() => match self.resolve_in_doubt(store).await {
                    Ok(r) if r.examined > 0 => info!(?r, "in-doubt resolution pass"),
                    Ok(_) => {}
                    Err(e) => error!(error = %e, "in-doubt resolution pass failed"),
                },
            }
        }
    }
}

/// HTTP status for a stored answer: 200 for upstream's answers (the national interface
/// signals failure in `infcode`), 502 for the gateway's own resolution errors (`[GW-…]`).
fn replay_status(answer: &[u8]) -> u16 {
    let gateway_error = serde_json::from_slice::<Value>(answer)
        .ok()
        .and_then(|v| {
            v.get("err_msg")
                .and_then(Value::as_str)
                .map(|m| m.starts_with("[GW-"))
        })
        .unwrap_or(false);
    if gateway_error { 502 } else { 200 }
}

/// `psn_no` from the first node of `input` that has one.
fn psn_no_of(request: &Value) -> Option<String> {
    request
        .get("input")?
        .as_object()?
        .values()
        .find_map(|node| {
            node.get("psn_no")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
        })
}

/// The 2601 envelope reversing `entry`: the original's envelope fields, a new msgid and
/// time, `input.data{psn_no, omsgid, oinfno}` (§2.1).
pub fn reversal_request(entry: &InDoubtEntry, msgid: &str, now: OffsetDateTime) -> Value {
    let mut env = entry.envelope.clone();
    env.insert("infno".into(), REVERSAL.as_str().into());
    env.insert("msgid".into(), msgid.into());
    env.insert(
        "inf_time".into(),
        now.to_offset(CHINA_OFFSET)
            .format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .expect("a fixed numeric format cannot fail for years 0..9999")
            .into(),
    );
    env.insert("cainfo".into(), "".into());
    env.insert(
        "input".into(),
        json!({ "data": { "psn_no": entry.psn_no, "omsgid": entry.msgid, "oinfno": entry.infno } }),
    );
    Value::Object(env)
}

/// The canonical reading of an upstream exchange: its claim, if it made one, and what was
/// repaired of a provincial shape to read it.
#[derive(Default)]
struct Normalized {
    claim: Option<SettledClaim>,
    repairs: Vec<medsettle_canonical::RecordedRepair>,
}

fn exchange_payload(
    infno: &str,
    code: &str,
    msgid: &str,
    request: Value,
    answer: Value,
    normalized: Normalized,
    received: OffsetDateTime,
) -> Vec<u8> {
    let Normalized { claim, repairs } = normalized;
    serde_json::to_vec(&ExchangeRecord {
        infno: infno.to_owned(),
        fixmedins_code: code.to_owned(),
        msgid: msgid.to_owned(),
        request,
        answer,
        claim,
        core: CORE_FORWARDED.to_owned(),
        received_at: rfc3339(received),
        repairs,
    })
    .expect("an exchange record serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use medsettle_nhsa::envelope::check_msgid;
    use medsettle_nhsa::{RequestEnvelope, decode_input};

    fn entry() -> InDoubtEntry {
        let req: Value = serde_json::from_str(
            r#"{"infno":"2207","msgid":"H44030000001202406011030150001","mdtrtarea_admvs":"440300",
            "insuplc_admdvs":"440399","recer_sys_code":"YBXT","dev_no":"","dev_safe_info":"",
            "cainfo":"ENCRYPTED-PASSWORD","signtype":"","infver":"V1.0","opter_type":"1","opter":"0001",
            "opter_name":"张三","inf_time":"2024-06-01 10:30:15","fixmedins_code":"H44030000001",
            "fixmedins_name":"示例医院","sign_no":"440000202406010800000000000123",
            "input":{"data":{"psn_no":"44000000000000000001","mdtrt_id":"440000000123"}}}"#,
        )
        .unwrap();
        let mut envelope = req.as_object().unwrap().clone();
        envelope.remove("input");
        envelope.remove("cainfo");
        InDoubtEntry {
            fixmedins_code: "H44030000001".into(),
            msgid: "H44030000001202406011030150001".into(),
            infno: "2207".into(),
            psn_no: psn_no_of(&req).unwrap(),
            body_sha256: hex::encode([7u8; 32]),
            recorded_at: "2024-06-01T10:30:15+08:00".into(),
            envelope,
        }
    }

    #[test]
    fn the_2601_is_a_valid_national_request_naming_the_original() {
        let now = OffsetDateTime::from_unix_timestamp(1_717_209_000).unwrap();
        let v = reversal_request(&entry(), "H44030000001202406011030200007", now);
        let bytes = serde_json::to_vec(&v).unwrap();
        let env = RequestEnvelope::decode(&bytes, &DecodeLimits::default()).unwrap();
        assert_eq!(env.infno, "2601");
        assert_eq!(env.msgid, "H44030000001202406011030200007");
        assert_eq!(env.mdtrtarea_admvs.as_str(), "440300");
        assert_eq!(
            env.cainfo.as_deref(),
            Some(""),
            "the card password is not copied"
        );
        decode_input("2601", &v["input"]).unwrap();
        assert_eq!(
            v["input"]["data"]["omsgid"],
            "H44030000001202406011030150001"
        );
        assert_eq!(v["input"]["data"]["oinfno"], "2207");
        assert_eq!(v["input"]["data"]["psn_no"], "44000000000000000001");
        // 2024-06-01 02:30:00 UTC = 10:30:00 China time
        assert_eq!(v["inf_time"], "2024-06-01 10:30:00");
    }

    #[test]
    fn settings_defaults_and_guarding() {
        let s = ForwardSettings::default();
        s.validate().unwrap();
        // the list written here before the transaction table
        assert_eq!(
            s.in_doubt_infnos,
            ["2207", "2207A", "2208", "2304", "2305", "2401"]
        );
        for i in ["2207", "2304", "2208", "2305"] {
            assert!(s.guards(i), "{i}");
        }
        assert!(!s.guards("1101"));
        assert!(!s.guards("2601"), "a 2601 is not itself reversed by 2601");
        let all = ForwardSettings {
            in_doubt_all: true,
            ..ForwardSettings::default()
        };
        assert!(all.guards("1101"));
        let bad = ForwardSettings {
            nothing_to_reverse_markers: vec![String::new()],
            ..ForwardSettings::default()
        };
        assert!(bad.validate().is_err());
        assert!(toml::from_str::<ForwardSettings>("reversal_attempts = 3").is_err());
        // configured transactions are checked against the table
        let configured: ForwardSettings =
            toml::from_str(r#"in_doubt_infnos = ["2207", "2206A", "4101"]"#).unwrap();
        configured.validate().unwrap();
        assert!(configured.guards("2206A") && !configured.guards("2304"));
        for unknown in ["2207a", "9999", ""] {
            let s = ForwardSettings {
                in_doubt_infnos: vec!["2207".into(), unknown.into()],
                ..ForwardSettings::default()
            };
            let e = s.validate().unwrap_err().to_string();
            assert!(e.contains("forward.in_doubt_infnos"), "{unknown:?}: {e}");
        }
    }

    /// A forwarder's client sends a per-service upstream every transaction of the table by
    /// its path (the transport has no table of its own).
    #[test]
    fn a_forwarder_sends_per_service_upstreams_by_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let pki = medsettle_server::pki::generate_dev_pki(dir.path(), &["localhost"], &[]).unwrap();
        let mut c = medsettle_server::UpstreamConfig::new("https://fsi.example.cn", &pki.ca_cert);
        c.path_style = medsettle_server::PathStyle::PerService;
        let client = UpstreamClient::new(&c).unwrap();
        let f = Forwarder::new(client, ForwardSettings::default()).unwrap();
        for i in Infno::ALL {
            let sent = f.client.path_for(i.as_str()).ok();
            let want = i.service_path().map(|p| format!("/fsi/api/{p}"));
            assert_eq!(sent, want, "{i}");
        }
        assert_eq!(
            f.client.path_for(REVERSAL.as_str()).unwrap(),
            "/fsi/api/reverseService/revsMethod"
        );
    }

    #[test]
    fn replay_status_tells_gateway_errors_from_upstream_answers() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(
            replay_status(&national_error(RuleId::GW_UNAVAILABLE, "x", t)),
            502
        );
        assert_eq!(replay_status(br#"{"infcode":"0","output":{}}"#), 200);
        assert_eq!(replay_status(br#"{"infcode":-1,"err_msg":"refused"}"#), 200);
    }

    #[test]
    fn msgid_layout_is_the_national_one() {
        // `fresh_msgid` needs a store; its format is checked here on the same pieces.
        let stamp = china_now()
            .format(format_description!(
                "[year][month][day][hour][minute][second]"
            ))
            .unwrap();
        let m = format!("H44030000001{stamp}{:04}", 7u32);
        check_msgid(&m, "H44030000001").unwrap();
    }
}
