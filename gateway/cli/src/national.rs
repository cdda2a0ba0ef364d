//! The national-interface service (F1): what the gateway does with one HIS request.
//!
//! 1. decode the envelope (limits, rule ids) — bad input changes nothing;
//! 2. the client certificate must cover the envelope's `fixmedins_code` (`GW-AUTH`);
//! 3. idempotency on `(fixmedins_code, msgid)`: the same body gets the stored answer
//!    byte-for-byte, a different body a conflict (`GW-IDEMPOTENCY`);
//! 4. the embedded core computes the answer and its state changes, under one short lock so
//!    two requests for the same person never interleave;
//! 5. one journal record holds the request, the answer, the canonical claim and the core's
//!    state writes; the answer is sent only after a flush that began after the write has
//!    completed (acknowledged means durable).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use medsettle_canonical::journal::{KIND_REQUEST, KIND_SETTLEMENT};
use medsettle_canonical::{Admdvs, CHINA_OFFSET, ExchangeRecord, Institution, RuleId, Violation};
use medsettle_core::{Core, CoreOutcome, CoreRefusal, RequestCtx};
use medsettle_nhsa::{
    AnswerContext, DecodeLimits, RequestEnvelope, answer_for_claim, error_answer,
};
use medsettle_server::forward::{ForwardRequest, Forwarder};
use medsettle_server::{BoxFuture, Metrics, Service, ServiceRequest, ServiceResponse};
use medsettle_store::{IdempotentOutcome, JournalRecord, SledStore, StateWrite, Store};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::core_state::{PersonIndex, StoreCoreView, state_writes};
use crate::wire_core::{core_serves, output_for, person_extras, to_core};

/// Keyspace of the gateway's own bookkeeping.
const META_SPACE: &str = "gateway.meta";
/// Highest id seed used by a journaled record: ids minted after a restart never repeat one.
const ID_SEED_KEY: &[u8] = b"id_seed";

/// Everything the national service needs, built once at start.
pub struct NationalService {
    store: Arc<SledStore>,
    core: Core,
    persons: PersonIndex,
    institutions: HashMap<String, Institution>,
    limits: DecodeLimits,
    /// The receiver's region, first 6 digits of every `inf_refmsgid`.
    receiver_admdvs: Admdvs,
    next_seed: AtomicU64,
    /// Serializes "read state → compute → append" so no two requests read the same state.
    /// Held only for the synchronous compute and append, never across the durability wait.
    apply_lock: Mutex<()>,
    metrics: Arc<Metrics>,
    /// Pool regions settled upstream: (insured-place prefixes, forwarder), first match wins.
    forwarders: Vec<(Vec<String>, Arc<Forwarder>)>,
    /// The instant-settlement engine, for 3201 reconciliation (IS-D-9).
    engine: Option<Arc<medsettle_engine::Engine>>,
}

/// An answer ready to send: status, bytes, metrics labels.
struct Answer {
    status: u16,
    body: Vec<u8>,
    outcome: &'static str,
}

impl NationalService {
    pub fn new(
        store: Arc<SledStore>,
        core: Core,
        persons: PersonIndex,
        institutions: Vec<Institution>,
        limits: DecodeLimits,
        receiver_admdvs: Admdvs,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<NationalService> {
        let seed = match store.get(META_SPACE, ID_SEED_KEY)? {
            Some(b) => u64::from_be_bytes(b.as_slice().try_into()?) + 1,
            None => 1,
        };
        Ok(NationalService {
            store,
            core,
            persons,
            institutions: institutions
                .into_iter()
                .map(|i| (i.fixmedins_code.clone(), i))
                .collect(),
            limits,
            receiver_admdvs,
            next_seed: AtomicU64::new(seed),
            apply_lock: Mutex::new(()),
            metrics,
            forwarders: Vec::new(),
            engine: None,
        })
    }

    /// Answer 3201 (totals reconciliation) from this engine's claim index.
    pub fn with_engine(mut self, engine: Arc<medsettle_engine::Engine>) -> Self {
        self.engine = Some(engine);
        self
    }

    /// The 3201 `output`, computed before the request is journaled: the engine catches up
    /// with the journal first (blocking work, off the async threads), so the totals cover
    /// every durable settlement.
    async fn reconcile_3201(
        &self,
        code: &str,
        tx: &medsettle_nhsa::TxInput,
    ) -> Result<Value, Violation> {
        let medsettle_nhsa::TxInput::T3201(x) = tx else {
            unreachable!("called for 3201 only")
        };
        let engine = self.engine.clone().ok_or_else(|| {
            Violation::new(
                RuleId::NHSA_ENV_INFNO,
                "infno",
                "3201 is not served: no settlement engine is configured",
            )
        })?;
        let d = &x.data;
        let req = medsettle_settlement::recon::Stmt3201Request {
            fixmedins_code: code.to_owned(),
            insutype: d.insutype.clone(),
            clr_type: d.clr_type.clone(),
            setl_optins: d.setl_optins.to_string(),
            stmt_begndate: d.stmt_begndate,
            stmt_enddate: d.stmt_enddate,
            medfee_sumamt: d.medfee_sumamt,
            fund_pay_sumamt: d.fund_pay_sumamt,
            acct_pay: d.acct_pay,
            fixmedins_setl_cnt: d.fixmedins_setl_cnt.units(),
        };
        let store = self.store.clone();
        let result =
            tokio::task::spawn_blocking(move || engine.reconcile_3201(store.as_ref(), &req))
                .await
                .map_err(|e| {
                    Violation::new(
                        RuleId::GW_INTERNAL,
                        "",
                        format!("reconciliation task failed: {e}"),
                    )
                })?
                .map_err(|e| Violation::new(RuleId(e.rule()), "input.data", e.to_string()))?;
        Ok(serde_json::json!({"stmtinfo": {
            "setl_optins": result.setl_optins,
            "stmt_rslt": result.stmt_rslt,
            "stmt_rslt_dscr": result.stmt_rslt_dscr,
        }}))
    }

    /// Settle persons insured in regions starting with any of `prefixes` upstream.
    pub fn with_forwarder(mut self, prefixes: Vec<String>, forwarder: Arc<Forwarder>) -> Self {
        self.forwarders.push((prefixes, forwarder));
        self
    }

    fn forwarder_for(&self, env: &RequestEnvelope) -> Option<&Arc<Forwarder>> {
        let insured = env.insuplc_admdvs?;
        self.forwarders
            .iter()
            .find(|(prefixes, _)| {
                prefixes
                    .iter()
                    .any(|p| insured.as_str().starts_with(p.as_str()))
            })
            .map(|(_, f)| f)
    }

    fn answer_ctx(&self, seed: u64, received: OffsetDateTime) -> AnswerContext {
        let now = OffsetDateTime::now_utc().to_offset(CHINA_OFFSET);
        AnswerContext {
            inf_refmsgid: format!(
                "{}{}{:010}",
                self.receiver_admdvs,
                compact(received, false),
                seed % 10_000_000_000
            ),
            refmsg_time: compact(received, true),
            respond_time: compact(now, true),
            person: None,
        }
    }

    fn refuse(
        &self,
        status: u16,
        outcome: &'static str,
        violations: &[Violation],
        seed: u64,
        received: OffsetDateTime,
    ) -> Answer {
        Answer {
            status,
            body: error_answer(violations, &self.answer_ctx(seed, received)).to_bytes(),
            outcome,
        }
    }

    async fn handle(&self, req: ServiceRequest) -> (Answer, Option<String>) {
        let received = OffsetDateTime::now_utc().to_offset(CHINA_OFFSET);
        let env = match RequestEnvelope::decode(&req.body, &self.limits) {
            Ok(e) => e,
            Err(e) => {
                tracing::info!(client = %req.identity.name, error = %e, "request refused: bad envelope");
                return (
                    self.refuse(400, "rejected", &e.violations, 0, received),
                    None,
                );
            }
        };
        let infno = env.infno.clone();
        let label = Some(infno.clone());
        if let Some(path_infno) = req.infno_from_path
            && !infno.starts_with(path_infno)
        {
            let v = Violation::new(
                RuleId::NHSA_ENV_INFNO,
                "infno",
                format!("this path serves {path_infno}, the envelope says {infno}"),
            );
            return (self.refuse(400, "rejected", &[v], 0, received), label);
        }
        if !req.identity.may_speak_for(&env.fixmedins_code) {
            tracing::warn!(
                client = %req.identity.name,
                fixmedins_code = %env.fixmedins_code,
                msgid = %env.msgid,
                "request refused: certificate does not cover the institution"
            );
            let v = Violation::new(
                RuleId::GW_AUTH,
                "fixmedins_code",
                format!(
                    "the client certificate `{}` may not speak for institution {}",
                    req.identity.name, env.fixmedins_code
                ),
            );
            return (self.refuse(403, "forbidden", &[v], 0, received), label);
        }
        let body_sha256: [u8; 32] = Sha256::digest(&req.body).into();
        if let Some(forwarder) = self.forwarder_for(&env) {
            // Forwarded regions: the forwarder journals, replays and resolves in-doubt
            // exchanges itself, and relays upstream's bytes verbatim.
            let outcome = forwarder
                .forward(
                    self.store.as_ref(),
                    ForwardRequest {
                        raw_body: req.body.clone(),
                        fixmedins_code: env.fixmedins_code.clone(),
                        msgid: env.msgid.clone(),
                        infno: env.infno.clone(),
                        psn_no: String::new(),
                        body_sha256,
                    },
                )
                .await;
            let answer = Answer {
                status: outcome.http_status,
                body: outcome.answer_bytes.to_vec(),
                outcome: outcome.disposition.as_str(),
            };
            return (answer, label);
        }
        match self.replay(&env, body_sha256).await {
            Ok(Some(answer)) => return (answer, label),
            Ok(None) => {}
            Err(answer) => return (answer, label),
        }
        let Some(institution) = self.institutions.get(&env.fixmedins_code) else {
            let v = Violation::new(
                RuleId::GW_AUTH,
                "fixmedins_code",
                format!(
                    "{} is not a designated institution of this gateway",
                    env.fixmedins_code
                ),
            );
            return (self.refuse(403, "forbidden", &[v], 0, received), label);
        };
        let tx = match medsettle_nhsa::decode_input(&env.infno, &env.input) {
            Ok(tx) => tx,
            Err(e) => {
                return (
                    self.refuse(400, "rejected", &e.violations, 0, received),
                    label,
                );
            }
        };
        let base_infno = tx.infno();
        let precomputed = if base_infno == "3201" {
            match self.reconcile_3201(&env.fixmedins_code, &tx).await {
                Ok(v) => Some(v),
                Err(v) => return (self.refuse(200, "refused", &[v], 0, received), label),
            }
        } else {
            None
        };
        // Compute and append under the lock; wait for durability outside it.
        let appended = {
            let _guard = self.apply_lock.lock().unwrap_or_else(|p| p.into_inner());
            let seed = self.next_seed.fetch_add(1, Ordering::SeqCst);
            let ctx = self.answer_ctx(seed, received);
            let computed = if core_serves(base_infno) {
                self.compute_core(&env, tx, institution, seed, received, &ctx)
            } else {
                Ok(self.accept_only(&env, base_infno, seed, &ctx, precomputed))
            };
            let (answer_bytes, claim, writes) = match computed {
                Ok(c) => c,
                Err(refusal) => {
                    tracing::info!(msgid = %env.msgid, infno, code = refusal.code(), "refused by the core");
                    let v =
                        Violation::new(RuleId(refusal.code()), refusal.path(), refusal.to_string());
                    // A business refusal is a valid answer of the transaction: HTTP 200,
                    // infcode -1 (the platform's "-2 business error" of old).
                    return (self.refuse(200, "refused", &[v], seed, received), label);
                }
            };
            let record = ExchangeRecord {
                infno: infno.clone(),
                fixmedins_code: env.fixmedins_code.clone(),
                msgid: env.msgid.clone(),
                request: serde_json::from_slice(&req.body).unwrap_or(Value::Null),
                answer: serde_json::from_slice(&answer_bytes).unwrap_or(Value::Null),
                claim: claim.clone(),
                core: "embedded".into(),
                received_at: received
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            };
            let kind = if claim.is_some() {
                KIND_SETTLEMENT
            } else {
                KIND_REQUEST
            };
            let mut jr = JournalRecord::new(
                kind,
                serde_json::to_vec(&record).expect("record serializes"),
            )
            .with_key(env.fixmedins_code.clone(), env.msgid.clone())
            .with_write(StateWrite::put(
                META_SPACE,
                ID_SEED_KEY.to_vec(),
                seed.to_be_bytes().to_vec(),
            ));
            for w in writes {
                jr = jr.with_write(w);
            }
            self.store
                .append_idempotent(jr, body_sha256, answer_bytes.clone())
                .map(|o| (o, answer_bytes))
        };
        let (outcome, answer_bytes) = match appended {
            Ok(x) => x,
            Err(e) => return (self.unavailable(&e, received), label),
        };
        let (ticket, body, outcome_label) = match outcome {
            IdempotentOutcome::Appended { offset, ticket } => {
                self.metrics
                    .gauge("medsettle_journal_offset", "Last journal offset written")
                    .set(offset as i64);
                (ticket, answer_bytes, "ok")
            }
            // A concurrent identical request won the race: send its answer once it is durable.
            IdempotentOutcome::Duplicate { answer, ticket, .. } => (ticket, answer, "replayed"),
            IdempotentOutcome::Conflict { .. } => return (self.conflict(&env, received), label),
        };
        if let Err(e) = self.store.wait_durable(ticket).await {
            return (self.unavailable(&e, received), label);
        }
        (
            Answer {
                status: 200,
                body,
                outcome: outcome_label,
            },
            label,
        )
    }

    /// The stored answer for a repeated `(fixmedins_code, msgid)`, or a conflict.
    async fn replay(
        &self,
        env: &RequestEnvelope,
        body_sha256: [u8; 32],
    ) -> Result<Option<Answer>, Answer> {
        let received = OffsetDateTime::now_utc().to_offset(CHINA_OFFSET);
        let entry = match self
            .store
            .lookup_idempotent(&env.fixmedins_code, &env.msgid)
        {
            Ok(e) => e,
            Err(e) => return Err(self.unavailable(&e, received)),
        };
        let Some(entry) = entry else { return Ok(None) };
        if entry.body_sha256 != body_sha256 {
            return Err(self.conflict(env, received));
        }
        // The original may not be durable yet: never replay an answer that a crash could undo.
        if let Err(e) = self.store.wait_durable(self.store.current_ticket()).await {
            return Err(self.unavailable(&e, received));
        }
        Ok(Some(Answer {
            status: 200,
            body: entry.answer,
            outcome: "replayed",
        }))
    }

    fn conflict(&self, env: &RequestEnvelope, received: OffsetDateTime) -> Answer {
        let v = Violation::new(
            RuleId::GW_IDEMPOTENCY,
            "msgid",
            format!(
                "msgid {} was already used by {} with a different body; a new request needs a new msgid",
                env.msgid, env.fixmedins_code
            ),
        );
        self.refuse(409, "conflict", &[v], 0, received)
    }

    fn unavailable(&self, e: &medsettle_store::StoreError, received: OffsetDateTime) -> Answer {
        tracing::error!(error = %e, "store cannot write: request not acknowledged");
        let v = Violation::new(
            RuleId::GW_UNAVAILABLE,
            "",
            "the gateway cannot store the request durably right now; nothing was settled — retry with the same msgid",
        );
        self.refuse(503, "unavailable", &[v], 0, received)
    }

    #[allow(clippy::type_complexity)]
    fn compute_core(
        &self,
        env: &RequestEnvelope,
        tx: medsettle_nhsa::TxInput,
        institution: &Institution,
        seed: u64,
        received: OffsetDateTime,
        ctx: &AnswerContext,
    ) -> Result<
        (
            Vec<u8>,
            Option<medsettle_canonical::SettledClaim>,
            Vec<StateWrite>,
        ),
        CoreRefusal,
    > {
        let infno = tx.infno();
        let request = to_core(tx).map_err(|v| CoreRefusal::rule(v.rule, v.path, v.message))?;
        let core_ctx = RequestCtx {
            msgid: env.msgid.clone(),
            fixmedins_code: env.fixmedins_code.clone(),
            inst_level: institution.level,
            mdtrtarea_admvs: env.mdtrtarea_admvs,
            now: received,
            id_seed: seed,
        };
        let view = StoreCoreView::new(self.store.as_ref(), &self.persons);
        let CoreOutcome {
            answer,
            changes,
            claim,
            warnings,
        } = self.core.handle(request, &core_ctx, &view)?;
        let mut envelope = match &claim {
            Some(c) => {
                let mut c = c.clone();
                c.fixmedins_name = Some(env.fixmedins_name.clone());
                c.insuplc_admdvs = c.insuplc_admdvs.or(env.insuplc_admdvs);
                let answer_ctx = AnswerContext {
                    person: person_extras(&answer),
                    ..ctx.clone()
                };
                answer_for_claim(&c, &answer_ctx)
            }
            None => {
                let mut e = answer_for_claim_shell(ctx);
                e.output = Some(output_for(
                    &answer,
                    infno,
                    &env.fixmedins_code,
                    env.mdtrtarea_admvs,
                ));
                e
            }
        };
        if !warnings.is_empty() {
            envelope.warn_msg = Some(
                warnings
                    .iter()
                    .map(|w| format!("[{}] {}: {}", w.code, w.path, w.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        }
        let claim = claim.map(|mut c| {
            c.fixmedins_name = Some(env.fixmedins_name.clone());
            c.insuplc_admdvs = c.insuplc_admdvs.or(env.insuplc_admdvs);
            c
        });
        Ok((envelope.to_bytes(), claim, state_writes(&changes)))
    }

    /// Transactions journaled and acknowledged without the core: 3201 (its output computed
    /// beforehand), 3203 (clearing application) and 4101 (settlement list upload), which get an
    /// id to quote later.
    fn accept_only(
        &self,
        env: &RequestEnvelope,
        infno: &str,
        seed: u64,
        ctx: &AnswerContext,
        precomputed: Option<Value>,
    ) -> (
        Vec<u8>,
        Option<medsettle_canonical::SettledClaim>,
        Vec<StateWrite>,
    ) {
        let id = format!(
            "{}{}{:010}",
            env.mdtrtarea_admvs,
            &ctx.refmsg_time[..14],
            seed % 10_000_000_000
        );
        let output = match infno {
            _ if precomputed.is_some() => precomputed.unwrap_or_default(),
            "3203" => serde_json::json!({"result": {"clr_appy_evt_id": id}}),
            "4101" => serde_json::json!({"setl_list_id": id}),
            _ => serde_json::json!({}),
        };
        let mut e = answer_for_claim_shell(ctx);
        e.output = Some(output);
        (e.to_bytes(), None, Vec::new())
    }
}

/// A success envelope with no output yet.
fn answer_for_claim_shell(ctx: &AnswerContext) -> medsettle_nhsa::ResponseEnvelope {
    let mut e = error_answer(&[], ctx);
    e.infcode = medsettle_nhsa::Infcode::SUCCESS;
    e.err_msg = Some(String::new());
    e.warn_msg = Some(String::new());
    e
}

/// `yyyyMMddHHmmss` (+`SSS` when `millis`) in China time.
fn compact(t: OffsetDateTime, millis: bool) -> String {
    let t = t.to_offset(CHINA_OFFSET);
    let base = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if millis {
        format!("{base}{:03}", t.millisecond())
    } else {
        base
    }
}

impl Service for NationalService {
    fn call(&self, req: ServiceRequest) -> BoxFuture<'_, ServiceResponse> {
        Box::pin(async move {
            let (answer, infno) = self.handle(req).await;
            let mut resp =
                ServiceResponse::json(answer.status, Bytes::from(answer.body), answer.outcome);
            resp.infno =
                infno.filter(|i| i.len() <= 6 && i.bytes().all(|b| b.is_ascii_alphanumeric()));
            resp
        })
    }
}
