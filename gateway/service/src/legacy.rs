//! The legacy provincial dialects (F2) on the national pipeline (`specs/legacy.md`).
//!
//! `POST /legacy/<profile>/<transaction>` carries the XML the old COM/DLL interface took as
//! its input; the DLL's other input arguments travel as `X-Legacy-Arg-<Name>` headers. The
//! adapter (`medsettle-legacy`) turns the call into national transaction inputs ("steps");
//! each step runs through the same stages as a national request — authorize, replay,
//! route (embedded core or upstream), compute, journal, await durable — under a msgid the
//! gateway derives from the call, so a repeated call replays every step's stored answer and
//! a call that failed half-way resumes where it stopped. The national answers are then
//! written back in the caller's dialect and encoding, with the out-of-band values
//! (`appcode`, `appmsg`, `jylsh`, `jyyzm`) as `X-Legacy-*` response headers.
//!
//! The idempotency key of a call (`specs/legacy.md` §3): the dialect's own call id where it
//! has one (Shijiazhuang `MSGID`, Yunnan `SenderSerialNo`); otherwise the body itself (the
//! Guizhou COM call carries no id: the same bytes are the same call) — except for calls that
//! change nothing (queries, pre-settlements), which are answered afresh every time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use medsettle_canonical::{CHINA_OFFSET, ExchangeRecord};
use medsettle_legacy::{CallKind, LegacyAnswer, LegacyCall, LegacyError, Limits, Profile};
use medsettle_nhsa::RequestEnvelope;
use medsettle_server::{ServiceRequest, ServiceResponse};
use medsettle_store::{JournalRecord, Store};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::legacy_commit::{
    Decided, KIND_CONFIRMED, PendingEntry, Provisional, RULE_CODE, RULE_DECIDED, RULE_PENDING,
    RULE_UNKNOWN, SPACE_DECIDED, SPACE_GENERATION, SPACE_PENDING, SPACE_PENDING_SETL,
    decision_writes, jylsh_of, jyyzm_of,
};
use crate::national::{Answer, Exchange, NationalService};

/// Request headers carrying the DLL's input arguments: `X-Legacy-Arg-<Name>` (e.g.
/// `X-Legacy-Arg-SenderSerialNo`), names compared without regard to case.
pub const HEADER_ARG_PREFIX: &str = "x-legacy-arg-";
/// The DLL's `appcode`: ≥ 0 success, < 0 failure.
pub const HEADER_APPCODE: &str = "x-legacy-appcode";
/// The DLL's `appmsg`, percent-encoded UTF-8 (headers are ASCII).
pub const HEADER_APPMSG: &str = "x-legacy-appmsg";
/// The centre's transaction serial (`jylsh`): the receiver message id of the call's last
/// step (of its settling step for a two-phase call).
pub const HEADER_JYLSH: &str = "x-legacy-jylsh";
/// The verification code (`jyyzm`) a two-phase call is confirmed with.
pub const HEADER_JYYZM: &str = "x-legacy-jyyzm";
/// Default time a two-phase call may wait for its confirm before the gateway cancels it.
pub const CONFIRM_WINDOW_DEFAULT: Duration = Duration::from_secs(30 * 60);
use medsettle_legacy::{LEG_FIELD as RULE_FIELD, LEG_NATIONAL as RULE_NATIONAL};
/// National transactions that change nothing: a call made only of them is answered afresh.
const QUERY_INFNOS: &[&str] = &["1101", "2206", "2303", "5206"];
/// Longest gateway-made msgid (the envelope's `msgid` is char(30)).
const MSGID_LEN: usize = 30;

/// Which dialects are served and how (the `[legacy]` configuration).
#[derive(Debug, Clone)]
pub struct LegacySettings {
    pub profiles: Vec<Profile>,
    pub limits: Limits,
    /// How long a two-phase call may wait for its confirm.
    pub confirm_window: Duration,
}

/// The legacy side of a [`NationalService`].
pub(crate) struct Legacy {
    profiles: HashMap<String, Profile>,
    limits: Limits,
    confirm_window: Duration,
    /// Serializes confirm, cancel and the window's cancels: a call is decided once.
    decisions: tokio::sync::Mutex<()>,
}

impl Legacy {
    pub(crate) fn new(settings: LegacySettings) -> Legacy {
        Legacy {
            profiles: settings
                .profiles
                .into_iter()
                .map(|p| (p.name().to_owned(), p))
                .collect(),
            limits: settings.limits,
            confirm_window: settings.confirm_window,
            decisions: tokio::sync::Mutex::new(()),
        }
    }
}

/// A call's answer before it becomes a response.
struct Reply {
    status: u16,
    answer: LegacyAnswer,
    jylsh: Option<String>,
    jyyzm: Option<String>,
    outcome: &'static str,
}

/// What a step's envelope says of the call it came from.
struct StepOrigin {
    profile: String,
    transaction: String,
    encoding: &'static str,
    sender_serial: Option<String>,
    opter: Option<String>,
    opter_name: Option<String>,
    insuplc_admdvs: Option<String>,
    mdtrtarea_admvs: Option<String>,
    repairs: Value,
    derived: Value,
}

impl StepOrigin {
    fn of(call: &LegacyCall) -> StepOrigin {
        StepOrigin {
            profile: call.profile.clone(),
            transaction: call.transaction.clone(),
            encoding: call.encoding.label(),
            sender_serial: call.sender_serial.clone(),
            opter: call.opter.clone(),
            opter_name: call.opter_name.clone(),
            insuplc_admdvs: call.insuplc_admdvs.clone(),
            mdtrtarea_admvs: call.mdtrtarea_admvs.clone(),
            repairs: serde_json::to_value(&call.repairs).unwrap_or(Value::Null),
            derived: serde_json::to_value(&call.derived).unwrap_or(Value::Null),
        }
    }

    /// The gateway's own cancel of a pending call.
    fn cancel(entry: &PendingEntry, reason: &str) -> StepOrigin {
        StepOrigin {
            profile: entry.profile.clone(),
            transaction: format!("cancel:{reason}"),
            encoding: "UTF-8",
            sender_serial: None,
            opter: None,
            opter_name: None,
            insuplc_admdvs: entry.claim.insuplc_admdvs.map(|a| a.to_string()),
            mdtrtarea_admvs: Some(entry.claim.mdtrtarea_admvs.to_string()),
            repairs: Value::Null,
            derived: Value::Null,
        }
    }
}

/// The legacy dialects of a gateway at work: their state and the national service their
/// steps run on.
pub(crate) struct LegacyGateway<'a> {
    pub(crate) national: &'a NationalService,
    pub(crate) legacy: &'a Legacy,
}

impl LegacyGateway<'_> {
    /// Answer `POST /legacy/<profile>/<transaction>`.
    pub(crate) async fn legacy_call(&self, req: ServiceRequest) -> ServiceResponse {
        let legacy = self.legacy;
        let rest = req
            .path
            .find(medsettle_server::routes::PATH_LEGACY_PREFIX)
            .map(|i| &req.path[i + medsettle_server::routes::PATH_LEGACY_PREFIX.len()..])
            .unwrap_or("");
        let Some((name, transaction)) = rest.split_once('/') else {
            return text(404, "a legacy path is /legacy/<profile>/<transaction>\n");
        };
        let Some(profile) = legacy.profiles.get(name) else {
            let mut known: Vec<&str> = legacy.profiles.keys().map(String::as_str).collect();
            known.sort_unstable();
            return text(
                404,
                &format!(
                    "no legacy profile `{name}` is served here (served: {})\n",
                    known.join(", ")
                ),
            );
        };
        let reply = self.legacy_reply(legacy, profile, transaction, &req).await;
        respond(reply, transaction)
    }

    async fn legacy_reply(
        &self,
        legacy: &Legacy,
        profile: &Profile,
        transaction: &str,
        req: &ServiceRequest,
    ) -> Reply {
        let args: Vec<(String, String)> = req
            .headers
            .iter()
            .filter_map(|(k, v)| {
                let name = k.as_str().strip_prefix(HEADER_ARG_PREFIX)?;
                Some((name.to_owned(), v.to_str().ok()?.to_owned()))
            })
            .collect();
        let encoding_guess = profile.default_encoding();
        let call = match medsettle_legacy::decode_call(
            profile,
            transaction,
            &args,
            &req.body,
            &legacy.limits,
        ) {
            Ok(call) => call,
            Err(e) => {
                tracing::info!(client = %req.identity.name, profile = profile.name(), transaction, error = %e, "legacy call refused");
                return refusal(profile, transaction, encoding_guess, 400, "rejected", &e);
            }
        };
        match &call.kind {
            CallKind::National => self.run_steps(profile, &call, req).await,
            CallKind::Confirm { jylsh, jyyzm } => {
                let r = self.confirm_legacy(legacy, req, jylsh, jyyzm).await;
                self.decision_reply(profile, &call, r, jylsh)
            }
            CallKind::Cancel { jylsh } => {
                let r = self.cancel_legacy(legacy, req, jylsh, "his").await;
                self.decision_reply(profile, &call, r, jylsh)
            }
            CallKind::Uncertain { jybh } => match self.undecided(Some(jybh)) {
                Ok(rows) => {
                    let rows: Vec<_> = rows
                        .into_iter()
                        .filter(|e| req.identity.may_speak_for(&e.fixmedins_code))
                        .map(|e| medsettle_legacy::UncertainRow {
                            jylsh: e.jylsh,
                            jybh: e.jybh,
                            akc190: e.mdtrt_id,
                            time: e.received_at,
                        })
                        .collect();
                    Reply {
                        status: 200,
                        answer: medsettle_legacy::encode_uncertain(profile, call.encoding, &rows),
                        jylsh: None,
                        jyyzm: None,
                        outcome: "ok",
                    }
                }
                Err(e) => refusal(profile, transaction, call.encoding, 503, "unavailable", &e),
            },
        }
    }

    fn decision_reply(
        &self,
        profile: &Profile,
        call: &LegacyCall,
        result: Result<(), (u16, LegacyError)>,
        jylsh: &str,
    ) -> Reply {
        match result {
            Ok(()) => match medsettle_legacy::encode_answer(profile, call, &[]) {
                Ok(answer) => Reply {
                    status: 200,
                    answer,
                    jylsh: Some(jylsh.to_owned()),
                    jyyzm: None,
                    outcome: "ok",
                },
                Err(e) => refusal(
                    profile,
                    &call.transaction,
                    call.encoding,
                    500,
                    "internal",
                    &e,
                ),
            },
            Err((status, e)) => {
                let outcome = if status == 200 { "refused" } else { "rejected" };
                refusal(
                    profile,
                    &call.transaction,
                    call.encoding,
                    status,
                    outcome,
                    &e,
                )
            }
        }
    }

    /// Run a call's steps in order, each through the national pipeline.
    async fn run_steps(&self, profile: &Profile, call: &LegacyCall, req: &ServiceRequest) -> Reply {
        let tx = call.transaction.as_str();
        let fail = |status: u16, outcome: &'static str, e: LegacyError| {
            refusal(profile, tx, call.encoding, status, outcome, &e)
        };
        let fixmedins_code = match (
            &call.fixmedins_code,
            req.identity.fixmedins_codes.as_slice(),
        ) {
            (Some(code), _) => code.clone(),
            (None, [only]) => only.clone(),
            (None, _) => {
                return fail(
                    400,
                    "rejected",
                    LegacyError {
                        rule: RULE_FIELD,
                        field: "akb020".into(),
                        message: "this certificate speaks for several institutions: the call must name one".into(),
                        byte_offset: None,
                    },
                );
            }
        };
        let received = OffsetDateTime::now_utc().to_offset(CHINA_OFFSET);
        // A 42 (settlement reversal) of a call still waiting for its confirm would reverse a
        // settlement the engine never saw: cancel it instead.
        for step in &call.steps {
            if let Some(setl_id) = step.input.pointer("/data/setl_id").and_then(Value::as_str)
                && matches!(step.infno.as_str(), "2208" | "2305")
            {
                match self
                    .national
                    .store
                    .get(SPACE_PENDING_SETL, setl_id.as_bytes())
                {
                    Ok(Some(jylsh)) => {
                        return fail(
                            200,
                            "refused",
                            LegacyError {
                                rule: RULE_PENDING,
                                field: "yka103".into(),
                                message: format!(
                                    "settlement {setl_id} is still waiting for its confirm (jylsh {}): cancel it instead of reversing it",
                                    String::from_utf8_lossy(&jylsh)
                                ),
                                byte_offset: None,
                            },
                        );
                    }
                    Ok(None) => {}
                    Err(e) => return fail(503, "unavailable", store_error(&e)),
                }
            }
        }
        let call_key = call_basis(call, &fixmedins_code, &req.body, received);
        // A two-phase call cancelled before is sent again as a new call (the HIS's database
        // write failed, it cancelled, the cashier settles again with the same bytes).
        let generation = if call.two_phase {
            match self.generation_of(&call_key) {
                Ok(g) => g,
                Err(e) => return fail(503, "unavailable", e),
            }
        } else {
            0
        };
        let basis = with_generation(&call_key, generation);
        let origin = StepOrigin::of(call);
        // The call this one reverses, named by its sender serial: its steps' answers.
        let original = match &call.reverses {
            Some(serial) if call.steps.iter().any(|s| !s.lookup.is_empty()) => {
                match self.original_outputs(call, &fixmedins_code, serial) {
                    Ok(outputs) => outputs,
                    Err(e) => return fail(200, "refused", e),
                }
            }
            _ => Vec::new(),
        };
        let mut outputs: Vec<Value> = Vec::with_capacity(call.steps.len());
        let mut jylsh = None;
        let mut jyyzm = None;
        for (i, step) in call.steps.iter().enumerate() {
            let mut input = step.input.clone();
            let mut carried = Vec::new();
            for (c, from) in step
                .carry
                .iter()
                .map(|c| (c, &outputs))
                .chain(step.lookup.iter().map(|c| (c, &original)))
            {
                let value = from
                    .get(c.from_step)
                    .and_then(|o| o.pointer(&c.from))
                    .cloned()
                    .unwrap_or(Value::Null);
                carried.push(value.clone());
                set_pointer(&mut input, &c.to, value);
            }
            let settles = matches!(step.infno.as_str(), "2207" | "2304");
            let provisional = (call.two_phase && settles).then(|| Provisional::Settle {
                profile: call.profile.clone(),
                jybh: call.transaction.clone(),
                call_key: hex::encode(call_key),
                generation,
            });
            let step_sha256: [u8; 32] = {
                let mut h = Sha256::new();
                h.update(basis);
                h.update((i as u64).to_be_bytes());
                h.update(serde_json::to_vec(&carried).unwrap_or_default());
                h.finalize().into()
            };
            let msgid = step_msgid(&basis, i);
            let answer = match self
                .run_step(
                    req,
                    &origin,
                    &fixmedins_code,
                    &msgid,
                    &step.infno,
                    input,
                    i,
                    Exchange {
                        body_sha256: step_sha256,
                        provisional,
                    },
                    received,
                )
                .await
            {
                Ok(a) => a,
                Err(e) => return fail(500, "internal", e),
            };
            let national: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
            let infcode = national.get("infcode").and_then(infcode_of).unwrap_or(-1);
            if answer.status != 200 || infcode < 0 {
                let err_msg = national
                    .get("err_msg")
                    .and_then(Value::as_str)
                    .unwrap_or("the national step was refused");
                let e = national_refusal(profile, &call.definition, &step.infno, err_msg);
                return fail(answer.status, answer.outcome, e);
            }
            if call.two_phase && settles {
                jylsh = jylsh_of(&answer.body);
                jyyzm = Some(jyyzm_of(&answer.body));
            } else if !call.two_phase {
                jylsh = jylsh_of(&answer.body);
            }
            outputs.push(national.get("output").cloned().unwrap_or(Value::Null));
        }
        match medsettle_legacy::encode_answer(profile, call, &outputs) {
            Ok(answer) => Reply {
                status: 200,
                answer,
                jylsh,
                jyyzm,
                outcome: "ok",
            },
            // The answer could not be written in the caller's encoding (a name GBK cannot
            // hold, in a profile that does not allow GB18030): the steps stay journaled and
            // the call can be repeated once the profile allows it.
            Err(e) => fail(200, "refused", e),
        }
    }

    /// One step: the national envelope the gateway makes for it, decoded like any envelope,
    /// then the pipeline's stages.
    #[allow(clippy::too_many_arguments)]
    async fn run_step(
        &self,
        req: &ServiceRequest,
        call: &StepOrigin,
        fixmedins_code: &str,
        msgid: &str,
        infno: &str,
        input: Value,
        step: usize,
        exchange: Exchange,
        received: OffsetDateTime,
    ) -> Result<Answer, LegacyError> {
        let fixmedins_name = self
            .national
            .institutions
            .get(fixmedins_code)
            .map(|i| i.fixmedins_name.clone())
            .unwrap_or_else(|| fixmedins_code.to_owned());
        let here = self.national.receiver_admdvs.to_string();
        let envelope = json!({
            "infno": infno,
            "msgid": msgid,
            "mdtrtarea_admvs": call.mdtrtarea_admvs.clone().unwrap_or_else(|| here.clone()),
            "insuplc_admdvs": call.insuplc_admdvs.clone().unwrap_or_else(|| here.clone()),
            "recer_sys_code": "MEDSETTLE",
            "infver": "V1.0",
            "opter_type": "1",
            "opter": call.opter.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "legacy".into()),
            "opter_name": call.opter_name.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "legacy".into()),
            "inf_time": received.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).unwrap_or_default(),
            "fixmedins_code": fixmedins_code,
            "fixmedins_name": fixmedins_name,
            "sign_no": "",
            "input": input,
            // What the journal keeps of the call itself (`specs/legacy.md` §3).
            "legacy": {
                "profile": call.profile,
                "transaction": call.transaction,
                "step": step,
                "encoding": call.encoding,
                "sender_serial": call.sender_serial,
                "repairs": call.repairs,
                "derived": call.derived,
                "body_base64": if step == 0 { Some(base64_of(&req.body)) } else { None },
            },
        });
        let body = serde_json::to_vec(&envelope).expect("an envelope serializes");
        let env = RequestEnvelope::decode_gateway_made(&body, &self.national.limits).map_err(|e| {
            // The adapter made an input the national decoder refuses: the profile's fault.
            tracing::error!(profile = %call.profile, transaction = %call.transaction, infno, error = %e, "a legacy step does not decode");
            LegacyError {
                rule: RULE_NATIONAL,
                field: String::new(),
                message: format!("step {infno} of this call does not decode: {e}"),
                byte_offset: None,
            }
        })?;
        let step_req = ServiceRequest {
            identity: req.identity.clone(),
            method: req.method.clone(),
            path: req.path.clone(),
            headers: Default::default(),
            body: Bytes::from(body),
            infno_from_path: None,
        };
        Ok(
            match self
                .national
                .pipeline(&step_req, &env, received, &exchange)
                .await
            {
                Ok(a) | Err(a) => a,
            },
        )
    }

    /// The national outputs of the steps of the call with sender serial `serial` (the one
    /// `call` reverses), from their stored answers.
    fn original_outputs(
        &self,
        call: &LegacyCall,
        fixmedins_code: &str,
        serial: &str,
    ) -> Result<Vec<Value>, LegacyError> {
        let basis = serial_basis(&call.profile, fixmedins_code, serial);
        let mut outputs = Vec::new();
        for step in 0.. {
            let entry = self
                .national
                .store
                .lookup_idempotent(fixmedins_code, &step_msgid(&basis, step))
                .map_err(|e| store_error(&e))?;
            let Some(entry) = entry else { break };
            let answer: Value = serde_json::from_slice(&entry.answer).unwrap_or(Value::Null);
            outputs.push(answer.get("output").cloned().unwrap_or(Value::Null));
        }
        if outputs.is_empty() {
            return Err(LegacyError {
                rule: RULE_FIELD,
                field: "reverses".into(),
                message: format!(
                    "no call with sender serial {serial} of this institution was settled here"
                ),
                byte_offset: None,
            });
        }
        Ok(outputs)
    }

    /// How many times a two-phase call with this key was cancelled.
    fn generation_of(&self, call_key: &[u8; 32]) -> Result<u32, LegacyError> {
        let raw = self
            .national
            .store
            .get(SPACE_GENERATION, hex::encode(call_key).as_bytes())
            .map_err(|e| store_error(&e))?;
        Ok(raw
            .and_then(|v| <[u8; 4]>::try_from(v.as_slice()).ok())
            .map_or(0, u32::from_be_bytes))
    }

    /// Undecided two-phase calls, optionally only of legacy transaction `jybh`.
    pub fn undecided(&self, jybh: Option<&str>) -> Result<Vec<PendingEntry>, LegacyError> {
        crate::legacy_commit::undecided(self.national.store.as_ref(), jybh)
            .map_err(|e| store_error(&e))
    }

    /// Confirm `jylsh`: its claim is journaled as a settlement (the engine pays it).
    async fn confirm_legacy(
        &self,
        legacy: &Legacy,
        req: &ServiceRequest,
        jylsh: &str,
        jyyzm: &str,
    ) -> Result<(), (u16, LegacyError)> {
        let _turn = legacy.decisions.lock().await;
        match self.decided(jylsh)? {
            Some(d) if d.decision == "confirmed" => return Ok(()),
            Some(d) => {
                return Err((
                    200,
                    commit_error(
                        RULE_DECIDED,
                        "jylsh",
                        format!(
                            "{jylsh} was cancelled at {} ({}); settle again",
                            d.at, d.reason
                        ),
                    ),
                ));
            }
            None => {}
        }
        let entry = self.pending(req, jylsh)?;
        if entry.jyyzm != jyyzm {
            return Err((
                200,
                commit_error(
                    RULE_CODE,
                    "jyyzm",
                    format!("{jyyzm} is not the verification code answered with {jylsh}"),
                ),
            ));
        }
        let now = now_text();
        let record = ExchangeRecord {
            infno: entry.infno.clone(),
            fixmedins_code: entry.fixmedins_code.clone(),
            msgid: entry.msgid.clone(),
            request: json!({"legacy": {"profile": entry.profile, "transaction": "confirm", "jylsh": jylsh, "jyyzm": jyyzm}}),
            answer: entry.answer.clone(),
            claim: Some(entry.claim.clone()),
            core: "embedded".into(),
            received_at: now.clone(),
            repairs: Vec::new(),
        };
        let mut rec = JournalRecord::new(
            KIND_CONFIRMED,
            serde_json::to_vec(&record).expect("a record serializes"),
        );
        for w in decision_writes(jylsh, &entry.setl_id, "confirmed", "", &now) {
            rec = rec.with_write(w);
        }
        let appended = self
            .national
            .store
            .append(rec)
            .map_err(|e| (503, store_error(&e)))?;
        self.national
            .store
            .wait_durable(appended.ticket)
            .await
            .map_err(|e| (503, store_error(&e)))?;
        tracing::info!(jylsh, setl_id = %entry.setl_id, "legacy call confirmed");
        Ok(())
    }

    /// Cancel `jylsh`: its settlement is reversed in the core (provisional too, so neither
    /// reaches a batch) and the decision journaled with the reversal.
    async fn cancel_legacy(
        &self,
        legacy: &Legacy,
        req: &ServiceRequest,
        jylsh: &str,
        reason: &str,
    ) -> Result<(), (u16, LegacyError)> {
        let _turn = legacy.decisions.lock().await;
        match self.decided(jylsh)? {
            Some(d) if d.decision == "cancelled" => return Ok(()),
            Some(_) => {
                return Err((
                    200,
                    commit_error(
                        RULE_DECIDED,
                        "jylsh",
                        format!("{jylsh} was confirmed: reverse the settlement (结算回退) instead"),
                    ),
                ));
            }
            None => {}
        }
        let entry = self.pending(req, jylsh)?;
        let infno = if entry.infno == "2304" {
            "2305"
        } else {
            "2208"
        };
        let received = OffsetDateTime::now_utc().to_offset(CHINA_OFFSET);
        let basis: [u8; 32] = Sha256::digest(format!("cancel|{jylsh}")).into();
        let origin = StepOrigin::cancel(&entry, reason);
        let input = json!({"data": {"psn_no": entry.psn_no, "mdtrt_id": entry.mdtrt_id, "setl_id": entry.setl_id}});
        let identity = req.identity.clone();
        let step_req = ServiceRequest {
            identity,
            method: req.method.clone(),
            path: req.path.clone(),
            headers: Default::default(),
            body: Bytes::new(),
            infno_from_path: None,
        };
        let answer = self
            .run_step(
                &step_req,
                &origin,
                &entry.fixmedins_code,
                &step_msgid(&basis, 0),
                infno,
                input,
                0,
                Exchange {
                    body_sha256: basis,
                    provisional: Some(Provisional::Cancel {
                        jylsh: jylsh.to_owned(),
                        reason: reason.to_owned(),
                        call_key: entry.call_key.clone(),
                        next_generation: entry.generation + 1,
                    }),
                },
                received,
            )
            .await
            .map_err(|e| (500, e))?;
        let national: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        if answer.status != 200 || national.get("infcode").and_then(infcode_of) != Some(0) {
            let err_msg = national
                .get("err_msg")
                .and_then(Value::as_str)
                .unwrap_or("the reversal was refused");
            return Err((
                answer.status,
                commit_error(RULE_NATIONAL, "jylsh", err_msg.to_owned()),
            ));
        }
        tracing::info!(jylsh, setl_id = %entry.setl_id, reason, "legacy call cancelled");
        Ok(())
    }

    /// Cancel every two-phase call older than the confirm window; the number cancelled.
    /// Run by the gateway's worker (and at start, for calls a crash left undecided).
    pub async fn resolve_expired_legacy(
        &self,
        operator: Arc<medsettle_server::ClientIdentity>,
    ) -> Result<usize, LegacyError> {
        let legacy = self.legacy;
        let window = time::Duration::try_from(legacy.confirm_window).unwrap_or(time::Duration::MAX);
        let now = OffsetDateTime::now_utc();
        let mut cancelled = 0;
        for entry in self.undecided(None)? {
            let Ok(at) = OffsetDateTime::parse(
                &entry.received_at,
                &time::format_description::well_known::Rfc3339,
            ) else {
                continue;
            };
            if now - at < window {
                continue;
            }
            let identity = Arc::new(medsettle_server::ClientIdentity {
                fixmedins_codes: vec![entry.fixmedins_code.clone()],
                regions: Vec::new(),
                ..(*operator).clone()
            });
            let req = ServiceRequest {
                identity,
                method: http::Method::POST,
                path: "/legacy/window".into(),
                headers: Default::default(),
                body: Bytes::new(),
                infno_from_path: None,
            };
            match self
                .cancel_legacy(legacy, &req, &entry.jylsh, "window")
                .await
            {
                Ok(()) => cancelled += 1,
                Err((_, e)) => {
                    tracing::warn!(jylsh = %entry.jylsh, error = %e, "an expired legacy call could not be cancelled; will retry");
                }
            }
        }
        Ok(cancelled)
    }

    fn decided(&self, jylsh: &str) -> Result<Option<Decided>, (u16, LegacyError)> {
        let raw = self
            .national
            .store
            .get(SPACE_DECIDED, jylsh.as_bytes())
            .map_err(|e| (503, store_error(&e)))?;
        Ok(raw.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    fn pending(
        &self,
        req: &ServiceRequest,
        jylsh: &str,
    ) -> Result<PendingEntry, (u16, LegacyError)> {
        let raw = self
            .national
            .store
            .get(SPACE_PENDING, jylsh.as_bytes())
            .map_err(|e| (503, store_error(&e)))?;
        let entry = raw
            .and_then(|v| serde_json::from_slice::<PendingEntry>(&v).ok())
            .ok_or_else(|| {
                (
                    200,
                    commit_error(
                        RULE_UNKNOWN,
                        "jylsh",
                        format!("{jylsh} is not a call waiting for its confirm"),
                    ),
                )
            })?;
        if !req.identity.may_speak_for(&entry.fixmedins_code) {
            // Said the same way as an unknown one: a certificate learns nothing of others.
            return Err((
                200,
                commit_error(
                    RULE_UNKNOWN,
                    "jylsh",
                    format!("{jylsh} is not a call waiting for its confirm"),
                ),
            ));
        }
        Ok(entry)
    }
}

/// What identifies a call (`specs/legacy.md` §3): the dialect's call id, else the body;
/// a call of queries only also its time (answered afresh).
fn call_basis(
    call: &LegacyCall,
    fixmedins_code: &str,
    body: &[u8],
    received: OffsetDateTime,
) -> [u8; 32] {
    if let Some(serial) = &call.sender_serial {
        return serial_basis(&call.profile, fixmedins_code, serial);
    }
    let mut h = Sha256::new();
    for part in [
        call.profile.as_str(),
        call.transaction.as_str(),
        fixmedins_code,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(b"body\0");
    h.update(body);
    if call
        .steps
        .iter()
        .all(|s| QUERY_INFNOS.contains(&s.infno.as_str()))
    {
        h.update(received.unix_timestamp_nanos().to_be_bytes());
    }
    h.finalize().into()
}

/// The key of generation `generation` of a call: the call's key itself for the first.
fn with_generation(call_key: &[u8; 32], generation: u32) -> [u8; 32] {
    if generation == 0 {
        return *call_key;
    }
    let mut h = Sha256::new();
    h.update(call_key);
    h.update(b"generation");
    h.update(generation.to_be_bytes());
    h.finalize().into()
}

/// The key of a call with a sender serial: the serial names the call whatever its
/// transaction, so a reversal can find the call it reverses by it.
fn serial_basis(profile: &str, fixmedins_code: &str, serial: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [profile, fixmedins_code, "serial", serial] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}

/// The msgid of step `i`: `L` and hex of the call's key (30 characters, the envelope's
/// limit); the same call gives the same msgids, so its steps replay.
fn step_msgid(basis: &[u8; 32], step: usize) -> String {
    let mut h = Sha256::new();
    h.update(basis);
    h.update((step as u64).to_be_bytes());
    let mut id = String::from("L");
    id.push_str(&hex::encode(h.finalize()));
    id.truncate(MSGID_LEN);
    id
}

/// Set `value` at JSON pointer `pointer` in `target`, creating objects on the way.
fn set_pointer(target: &mut Value, pointer: &str, value: Value) {
    let mut cur = target;
    let parts: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (n, part) in parts.iter().enumerate() {
        let last = n + 1 == parts.len();
        if let Value::Array(items) = cur {
            let Ok(idx) = part.parse::<usize>() else {
                return;
            };
            let Some(item) = items.get_mut(idx) else {
                return;
            };
            if last {
                *item = value;
                return;
            }
            cur = item;
            continue;
        }
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        let map = cur.as_object_mut().expect("made an object above");
        if last {
            map.insert(part.clone(), value);
            return;
        }
        cur = map.entry(part.clone()).or_insert(Value::Null);
    }
}

fn infcode_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A national refusal, said in the dialect: the legacy field that maps to the national path
/// named in `err_msg` (`[RULE] path: message`), and the national rule in the message.
fn national_refusal(
    profile: &Profile,
    transaction: &str,
    infno: &str,
    err_msg: &str,
) -> LegacyError {
    let path = err_msg
        .split_once("] ")
        .and_then(|(_, rest)| rest.split_once(": "))
        .map(|(p, _)| p)
        .unwrap_or("");
    let field = medsettle_legacy::legacy_field(profile, transaction, path)
        .unwrap_or_else(|| path.to_owned());
    LegacyError {
        rule: RULE_NATIONAL,
        field,
        message: format!("{infno}: {err_msg}"),
        byte_offset: None,
    }
}

fn commit_error(rule: &'static str, field: &str, message: String) -> LegacyError {
    LegacyError {
        rule,
        field: field.to_owned(),
        message,
        byte_offset: None,
    }
}

fn store_error(e: &medsettle_store::StoreError) -> LegacyError {
    tracing::error!(error = %e, "store cannot serve a legacy call");
    LegacyError {
        rule: medsettle_canonical::RuleId::GW_UNAVAILABLE.0,
        field: String::new(),
        message:
            "the gateway cannot store the call durably right now; nothing was settled — call again"
                .into(),
        byte_offset: None,
    }
}

fn refusal(
    profile: &Profile,
    transaction: &str,
    encoding: medsettle_legacy::Encoding,
    status: u16,
    outcome: &'static str,
    e: &LegacyError,
) -> Reply {
    Reply {
        status,
        answer: medsettle_legacy::encode_error(profile, transaction, encoding, e),
        jylsh: None,
        jyyzm: None,
        outcome,
    }
}

fn respond(reply: Reply, transaction: &str) -> ServiceResponse {
    let mut resp = ServiceResponse {
        status: reply.status,
        content_type: format!("application/xml; charset={}", reply.answer.encoding.label()),
        body: Bytes::from(reply.answer.body),
        outcome: reply.outcome,
        infno: None,
        headers: vec![
            (HEADER_APPCODE.into(), reply.answer.appcode.to_string()),
            (
                HEADER_APPMSG.into(),
                percent_encoding::utf8_percent_encode(
                    &reply.answer.appmsg,
                    percent_encoding::NON_ALPHANUMERIC,
                )
                .to_string(),
            ),
        ],
        abort: false,
    };
    if let Some(j) = reply.jylsh {
        resp.headers.push((HEADER_JYLSH.into(), j));
    }
    if let Some(c) = reply.jyyzm {
        resp.headers.push((HEADER_JYYZM.into(), c));
    }
    // The metrics label takes only what a legacy path can name: short alphanumerics.
    if transaction.len() <= 20 && transaction.bytes().all(|b| b.is_ascii_alphanumeric()) {
        resp.infno = Some(format!("L{transaction}"));
    }
    resp
}

/// The answer under `/legacy/` of a gateway that serves no dialect.
pub(crate) fn not_served() -> ServiceResponse {
    text(404, "no legacy dialect is served by this gateway\n")
}

fn text(status: u16, body: &str) -> ServiceResponse {
    ServiceResponse {
        status,
        content_type: medsettle_server::CONTENT_TYPE_TEXT.to_owned(),
        body: Bytes::from(body.to_owned()),
        outcome: "route",
        infno: None,
        headers: Vec::new(),
        abort: false,
    }
}

fn now_text() -> String {
    OffsetDateTime::now_utc()
        .to_offset(CHINA_OFFSET)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_create_their_path() {
        let mut v = json!({"data": {"a": 1}});
        set_pointer(&mut v, "/data/mdtrt_id", json!("M1"));
        set_pointer(&mut v, "/feedetail/0/x", json!(1));
        assert_eq!(
            v,
            json!({"data": {"a": 1, "mdtrt_id": "M1"}, "feedetail": {"0": {"x": 1}}})
        );
        let mut arr = json!({"rows": [{"id": null}, {"id": null}]});
        set_pointer(&mut arr, "/rows/1/id", json!("b"));
        assert_eq!(arr, json!({"rows": [{"id": null}, {"id": "b"}]}));
    }

    #[test]
    fn step_msgids_are_thirty_characters_and_differ_by_step() {
        let basis = [7u8; 32];
        let a = step_msgid(&basis, 0);
        let b = step_msgid(&basis, 1);
        assert_eq!(a.len(), MSGID_LEN);
        assert!(a.starts_with('L'));
        assert_ne!(a, b);
        assert_eq!(a, step_msgid(&basis, 0));
    }
}
