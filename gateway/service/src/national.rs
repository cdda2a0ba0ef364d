//! The national-interface service (F1): what the gateway does with one HIS request.
//!
//! 1. decode the envelope (limits, rule ids) — bad input changes nothing;
//! 2. the client certificate must cover the envelope's `fixmedins_code` (`GW-AUTH`);
//! 3. idempotency on `(fixmedins_code, msgid)`: the same body gets the stored answer
//!    byte-for-byte, a different body a conflict (`GW-IDEMPOTENCY`);
//! 4. the embedded core computes the answer and its state changes under a short lock of the
//!    person's shard (every shard for a request that names no single person), so two requests
//!    for the same person never interleave while different persons compute in parallel;
//! 5. one journal record holds the request, the answer, the canonical claim and the core's
//!    state writes; the answer is sent only after a flush that began after the write has
//!    completed (acknowledged means durable).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use medsettle_canonical::journal::{KIND_REQUEST, KIND_SETTLEMENT};
use medsettle_canonical::{Admdvs, CHINA_OFFSET, Institution, RuleId, SettledClaim, Violation};
use medsettle_core::{Core, CoreOutcome, CoreRefusal, CoreRequest, RequestCtx};
use medsettle_nhsa::{
    AnswerContext, DecodeLimits, Infno, RequestEnvelope, answer_parts_for_claim, error_answer,
    success_envelope,
};
use medsettle_server::routes::envelope_time;
use medsettle_server::{
    BoxFuture, Metrics, Service, ServicePaths, ServiceRequest, ServiceResponse,
};
use medsettle_store::{IdempotentOutcome, JournalRecord, SledStore, StateWrite, Store};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::core_state::{PersonIndex, StoreCoreView, ViewFailure, state_writes};
use crate::forward::{ForwardRequest, Forwarder};
use crate::seeds::{Seed, SeedAllocator};
use crate::wire_core::{output_for, person_extras, settle_output_for, to_core};

/// Keyspace of the gateway's own bookkeeping.
const META_SPACE: &str = "gateway.meta";
/// Highest id seed a journaled record may have used (see [`crate::seeds`]): at start the next
/// seed is one above the largest value under this prefix. Stores written before seeds were
/// reserved in blocks also hold one key per apply shard (`id_seed.i`), read the same way.
const ID_SEED_KEY: &[u8] = b"id_seed";
/// Number of person shards of the apply lock.
const APPLY_SHARDS: usize = 64;

/// Everything the national service needs, built once at start.
pub struct NationalService {
    pub(crate) store: Arc<SledStore>,
    pub(crate) core: Core,
    pub(crate) persons: PersonIndex,
    pub(crate) institutions: HashMap<String, Institution>,
    pub(crate) limits: DecodeLimits,
    /// The receiver's region, first 6 digits of every `inf_refmsgid`.
    pub(crate) receiver_admdvs: Admdvs,
    pub(crate) seeds: SeedAllocator,
    /// Serializes "read state → compute → append" per person shard (the core's state is per
    /// person: visits, fee lines, settlements, accumulators and balance are all bound to one
    /// `psn_no`, which the core checks), so no two requests for the same person read the same
    /// state. A request naming no single person locks every shard, in index order. Held only
    /// for the synchronous compute and append, never across an `.await`.
    apply_shards: Vec<Mutex<()>>,
    metrics: Arc<Metrics>,
    /// Pool regions settled upstream: (insured-place prefixes, forwarder), first match wins.
    forwarders: Vec<(Vec<String>, Arc<Forwarder>)>,
    /// The instant-settlement engine, for 3201 reconciliation (IS-D-9).
    pub(crate) engine: Option<Arc<medsettle_engine::Engine>>,
    /// Peer regions' gateways settling insured places (cross-region, `crate::interregion`).
    pub(crate) peers: Vec<Arc<crate::peer::Peer>>,
}

/// An answer ready to send: status, bytes, metrics labels.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    pub(crate) outcome: &'static str,
}

/// What one national exchange is beyond its envelope: the hash its idempotency compares, and
/// whether a settlement it makes is provisional (a two-phase legacy call, `crate::legacy`).
pub(crate) struct Exchange {
    /// SHA-256 of what the sender sent: the national body, or for a step the gateway made
    /// from a legacy call, the legacy body with the step and the values carried into it.
    pub(crate) body_sha256: [u8; 32],
    /// A settlement that waits for the HIS's confirm: journaled as
    /// [`crate::legacy_commit::KIND_PROVISIONAL`] with its pending entry, not as a settlement.
    pub(crate) provisional: Option<crate::legacy_commit::Provisional>,
}

/// What a decoded, authorized request asks of the gateway ([`NationalService::route`]).
pub(crate) enum Work {
    /// The embedded core computes the answer from its typed request.
    Core {
        infno: &'static str,
        // Boxed: a core request is large and the other kinds of work are small.
        request: Box<CoreRequest>,
    },
    /// 9101: the uploaded file is validated and stored with the record.
    Upload,
    /// 3261: a hospital's clearing confirmation, kept under its answer's own id.
    Clearing3261(Box<medsettle_nhsa::tx::t3261::In3261>),
    /// Journaled and acknowledged without the core, with an output computed beforehand
    /// (3201/3202) or an id to quote later (3203, 4101).
    AcceptOnly {
        infno: &'static str,
        precomputed: Option<(Value, Vec<StateWrite>)>,
    },
}

/// The answer bytes, the canonical claim (settlements only) and the state writes of one
/// request, ready to journal.
pub(crate) type Computed = (Vec<u8>, Option<SettledClaim>, Vec<StateWrite>);

/// Why a computation produced no record: a refusal of the core (answered after the lock, a
/// repeat looked up first), or an answer already made.
enum Refused {
    Core(CoreRefusal),
    Answer(Answer),
}

/// `Content-Type` of 9102 downloads (a zip), the one answer that is not JSON.
const CONTENT_TYPE_ZIP: &str = "application/octet-stream";

impl NationalService {
    pub fn new(
        store: Arc<SledStore>,
        core: Core,
        persons: PersonIndex,
        institutions: Vec<Institution>,
        limits: DecodeLimits,
        receiver_admdvs: Admdvs,
        metrics: Arc<Metrics>,
    ) -> Result<NationalService, medsettle_store::StoreError> {
        let mut reserved: Option<u64> = None;
        for item in store.scan_prefix(META_SPACE, ID_SEED_KEY)? {
            let (_, b) = item?;
            let highest = u64::from_be_bytes(b.as_slice().try_into().map_err(|_| {
                medsettle_store::StoreError::CorruptIndex {
                    what: "id seed",
                    reason: format!("{} bytes, not 8", b.len()),
                }
            })?);
            reserved = reserved.max(Some(highest));
        }
        Ok(NationalService {
            core,
            persons,
            institutions: institutions
                .into_iter()
                .map(|i| (i.fixmedins_code.clone(), i))
                .collect(),
            limits,
            receiver_admdvs,
            seeds: SeedAllocator::resume(reserved),
            apply_shards: (0..APPLY_SHARDS).map(|_| Mutex::new(())).collect(),
            metrics,
            forwarders: Vec::new(),
            peers: Vec::new(),
            engine: None,
            store,
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
    /// Settle the insured places of `peer` through that region's gateway.
    pub fn with_peer(mut self, peer: Arc<crate::peer::Peer>) -> Self {
        self.peers.push(peer);
        self
    }

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

    pub(crate) fn answer_ctx(&self, seed: u64, received: OffsetDateTime) -> AnswerContext {
        let refmsg_time = envelope_time(received);
        AnswerContext {
            inf_refmsgid: format!(
                "{}{}{:010}",
                self.receiver_admdvs,
                &refmsg_time[..SECONDS_LEN],
                seed % 10_000_000_000
            ),
            refmsg_time,
            respond_time: envelope_time(OffsetDateTime::now_utc()),
            person: None,
        }
    }

    pub(crate) fn refuse(
        &self,
        status: u16,
        outcome: &'static str,
        violations: &[Violation],
        seed: Option<u64>,
        received: OffsetDateTime,
    ) -> Answer {
        // Every answer gets its own receiver message id, refusals included: a refusal that
        // is not journaled takes a seed of its own.
        let seed = seed.unwrap_or_else(|| self.seeds.unjournaled());
        Answer {
            status,
            body: error_answer(violations, &self.answer_ctx(seed, received)).to_bytes(),
            outcome,
        }
    }

    /// 3202: the detail file uploaded with 9101 against the engine's claims (blocking work
    /// off the async threads); the result file is stored for 9102 with the journal record.
    async fn reconcile_3202(
        &self,
        env: &RequestEnvelope,
        received: OffsetDateTime,
    ) -> Result<(Value, Vec<StateWrite>), Violation> {
        let engine = self.engine.clone().ok_or_else(|| {
            Violation::new(
                RuleId::NHSA_ENV_INFNO,
                "infno",
                "3202 is not served: no settlement engine is configured",
            )
        })?;
        let store = self.store.clone();
        let (code, input) = (env.fixmedins_code.clone(), env.input.clone());
        let seed = self.seeds.unjournaled();
        let id = format!(
            "R{}{:010}",
            &envelope_time(received)[..SECONDS_LEN],
            seed % 10_000_000_000
        );
        tokio::task::spawn_blocking(move || {
            crate::file_channel::reconcile_3202(
                store.as_ref(),
                &engine,
                &code,
                &input,
                &id,
                received,
            )
        })
        .await
        .map_err(|e| {
            Violation::new(
                RuleId::GW_INTERNAL,
                "",
                format!("reconciliation task failed: {e}"),
            )
        })?
    }

    /// 9102: a stored file of this institution, as the zip bytes (a read: nothing journaled).
    fn download(&self, env: &RequestEnvelope, received: OffsetDateTime) -> Answer {
        match crate::file_channel::download_9102(
            self.store.as_ref(),
            &env.fixmedins_code,
            &env.input,
        ) {
            Ok((_, bytes)) => Answer {
                status: 200,
                body: bytes,
                outcome: "ok",
            },
            Err(v) => self.refuse(200, "refused", &[v], None, received),
        }
    }

    /// One request through the pipeline; the answer and the transaction (metrics label).
    async fn handle(&self, req: ServiceRequest) -> (Answer, Option<String>) {
        let received = OffsetDateTime::now_utc().to_offset(CHINA_OFFSET);
        let env = match self.decode(&req, received) {
            Ok(env) => env,
            Err(answer) => return (answer, None),
        };
        let label = Some(env.infno.clone());
        let exchange = Exchange {
            body_sha256: Sha256::digest(&req.body).into(),
            provisional: None,
        };
        match self.pipeline(&req, &env, received, &exchange).await {
            Ok(answer) | Err(answer) => (answer, label),
        }
    }

    /// The stages after decoding; `Err` is an answer that ends the request early.
    pub(crate) async fn pipeline(
        &self,
        req: &ServiceRequest,
        env: &RequestEnvelope,
        received: OffsetDateTime,
        exchange: &Exchange,
    ) -> Result<Answer, Answer> {
        self.authorize(req, env, received)?;
        let body_sha256 = exchange.body_sha256;
        if let Some(forwarder) = self.forwarder_for(env) {
            return Ok(self.forward(forwarder, req, env, body_sha256).await);
        }
        if let Some(peer) = self.peer_for(env) {
            return self.cross_region(peer, req, env, received, exchange).await;
        }
        // The core's transactions skip the up-front index read (one sled read per request):
        // computing one changes nothing until its record is appended, the append finds a
        // repeat itself (and answers with the stored bytes), and a repeat the core refuses —
        // its msgid or visit taken by the original — looks the key up before it is answered.
        // The others (file channel, reconciliation) can do real work first, so they look now.
        let core_tx = Infno::parse(&env.infno).is_some_and(Infno::core_computes);
        if !core_tx && let Some(answer) = self.replay(env, body_sha256).await? {
            return Ok(answer);
        }
        let (work, institution) = self.route(env, body_sha256, received).await?;
        let (outcome, answer_bytes) = self
            .compute_and_journal(req, env, work, institution, exchange, received)
            .await?;
        self.await_durable(outcome, answer_bytes, env, received)
            .await
    }

    /// Stage 1: the envelope, within the decode limits. Bad input changes nothing.
    fn decode(
        &self,
        req: &ServiceRequest,
        received: OffsetDateTime,
    ) -> Result<RequestEnvelope, Answer> {
        let env = RequestEnvelope::decode(&req.body, &self.limits).map_err(|e| {
            tracing::info!(client = %req.identity.name, error = %e, "request refused: bad envelope");
            self.refuse(400, "rejected", &e.violations, None, received)
        })?;
        // A place of treatment is the sender's own region: refused here like any envelope
        // fault, whatever the transaction (the core checks it again for its own).
        if let Some(v) = medsettle_nhsa::plausible::check_sender_region(
            &env.fixmedins_code,
            &env.mdtrtarea_admvs,
            "",
        ) {
            return Err(self.refuse(400, "rejected", &[v], None, received));
        }
        Ok(env)
    }

    /// Stage 2: a per-service path must name the envelope's transaction, and the client
    /// certificate must cover the envelope's institution (`GW-AUTH`).
    fn authorize(
        &self,
        req: &ServiceRequest,
        env: &RequestEnvelope,
        received: OffsetDateTime,
    ) -> Result<(), Answer> {
        if let Some(path_infno) = req.infno_from_path.as_deref()
            && !env.infno.starts_with(path_infno)
        {
            let v = Violation::new(
                RuleId::NHSA_ENV_INFNO,
                "infno",
                format!(
                    "this path serves {path_infno}, the envelope says {}",
                    env.infno
                ),
            );
            return Err(self.refuse(400, "rejected", &[v], None, received));
        }
        if req.identity.may_speak_for(&env.fixmedins_code) {
            return Ok(());
        }
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
        Err(self.refuse(403, "forbidden", &[v], None, received))
    }

    /// Forwarded regions: the forwarder journals, replays and resolves in-doubt exchanges
    /// itself, and relays upstream's bytes verbatim.
    async fn forward(
        &self,
        forwarder: &Forwarder,
        req: &ServiceRequest,
        env: &RequestEnvelope,
        body_sha256: [u8; 32],
    ) -> Answer {
        let request = ForwardRequest {
            raw_body: req.body.clone(),
            fixmedins_code: env.fixmedins_code.clone(),
            msgid: env.msgid.clone(),
            infno: env.infno.clone(),
            psn_no: String::new(),
            body_sha256,
        };
        let outcome = forwarder.forward(self.store.as_ref(), request).await;
        Answer {
            status: outcome.http_status,
            body: outcome.answer_bytes.to_vec(),
            outcome: outcome.disposition.as_str(),
        }
    }

    /// Stage 3: what the request asks of the gateway, for which designated institution: its
    /// typed input decoded, reconciliations computed, the core's request built (pure).
    pub(crate) async fn route(
        &self,
        env: &RequestEnvelope,
        body_sha256: [u8; 32],
        received: OffsetDateTime,
    ) -> Result<(Work, &Institution), Answer> {
        let Some(institution) = self.institutions.get(&env.fixmedins_code) else {
            let v = Violation::new(
                RuleId::GW_AUTH,
                "fixmedins_code",
                format!(
                    "{} is not a designated institution of this gateway",
                    env.fixmedins_code
                ),
            );
            return Err(self.refuse(403, "forbidden", &[v], None, received));
        };
        // The file channel (9101 upload, 9102 download) has no typed input in the adapter:
        // its node is the file itself (crate::file_channel validates it).
        match Infno::parse(&env.infno) {
            Some(Infno::T9102) => return Err(self.download(env, received)),
            Some(Infno::T9101) => return Ok((Work::Upload, institution)),
            _ => {}
        }
        let tx = medsettle_nhsa::decode_input(&env.infno, &env.input)
            .map_err(|e| self.refuse(400, "rejected", &e.violations, None, received))?;
        let infno = tx.infno();
        let refused = |v: Violation| self.refuse(200, "refused", &[v], None, received);
        let work = match tx.transaction() {
            Infno::T3201 => Work::AcceptOnly {
                infno,
                precomputed: Some((
                    self.reconcile_3201(&env.fixmedins_code, &tx)
                        .await
                        .map_err(refused)?,
                    Vec::new(),
                )),
            },
            Infno::T3202 => Work::AcceptOnly {
                infno,
                precomputed: Some(self.reconcile_3202(env, received).await.map_err(refused)?),
            },
            // the hospitals' side of cross-province clearing (crate::clearing_national)
            Infno::T3260 => match &tx {
                medsettle_nhsa::TxInput::T3260(x) => Work::AcceptOnly {
                    infno,
                    precomputed: Some((
                        self.clearing_3260(&env.fixmedins_code, x)
                            .map_err(refused)?,
                        Vec::new(),
                    )),
                },
                _ => unreachable!("3260 decodes to its input"),
            },
            Infno::T3261 => match tx {
                medsettle_nhsa::TxInput::T3261(x) => Work::Clearing3261(Box::new(x)),
                _ => unreachable!("3261 decodes to its input"),
            },
            Infno::T3262 => match &tx {
                medsettle_nhsa::TxInput::T3262(x) => Work::AcceptOnly {
                    infno,
                    precomputed: Some(
                        self.clearing_3262(&env.fixmedins_code, x)
                            .map_err(refused)?,
                    ),
                },
                _ => unreachable!("3262 decodes to its input"),
            },
            t if t.core_computes() => match to_core(tx) {
                Ok(request) => Work::Core {
                    infno,
                    request: Box::new(request),
                },
                Err(v) => {
                    let refusal = CoreRefusal::rule(v.rule, v.path, v.message);
                    let seed = self.seeds.unjournaled();
                    return Err(self
                        .refused_unless_repeat(env, body_sha256, &refusal, seed, received)
                        .await);
                }
            },
            _ => Work::AcceptOnly {
                infno,
                precomputed: None,
            },
        };
        Ok((work, institution))
    }

    /// Stages 4 and 5: compute the answer and its state changes, and append them with the
    /// request in one journal record — under the lock of the person's apply shard (every
    /// shard for a request naming no single person), so two requests for the same person
    /// never interleave. A refusal of the core is answered once the lock is released (a
    /// repeat is looked up first, which may wait).
    pub(crate) async fn compute_and_journal(
        &self,
        req: &ServiceRequest,
        env: &RequestEnvelope,
        work: Work,
        institution: &Institution,
        exchange: &Exchange,
        received: OffsetDateTime,
    ) -> Result<(IdempotentOutcome, Vec<u8>), Answer> {
        let body_sha256 = exchange.body_sha256;
        let shard = match &work {
            Work::Core { request, .. } => person_of(request).map(shard_of),
            _ => None,
        };
        let refused = {
            let _guards = self.lock_shards(shard);
            let seed = self.seeds.for_record();
            let ctx = self.answer_ctx(seed.value, received);
            match self.compute(env, work, institution, seed.value, &ctx, received) {
                Ok(computed) => {
                    return self.journal(req, env, computed, seed, exchange, received);
                }
                Err(Refused::Answer(answer)) => return Err(answer),
                Err(Refused::Core(refusal)) => (refusal, seed.value),
            }
        };
        let (refusal, seed) = refused;
        Err(self
            .refused_unless_repeat(env, body_sha256, &refusal, seed, received)
            .await)
    }

    /// Stage 4: the answer, the canonical claim (settlements) and the state writes.
    fn compute(
        &self,
        env: &RequestEnvelope,
        work: Work,
        institution: &Institution,
        seed: u64,
        ctx: &AnswerContext,
        received: OffsetDateTime,
    ) -> Result<Computed, Refused> {
        match work {
            Work::Core { infno, request } => self
                .compute_core(env, infno, *request, institution, seed, received, ctx)
                .map_err(Refused::Core),
            Work::Upload => {
                let id = format!(
                    "F{}{:010}",
                    &ctx.refmsg_time[..SECONDS_LEN],
                    seed % 10_000_000_000
                );
                let stored = crate::file_channel::upload_9101(
                    &env.fixmedins_code,
                    &env.input,
                    &id,
                    received,
                )
                .map_err(|v| {
                    Refused::Answer(self.refuse(200, "refused", &[v], Some(seed), received))
                })?;
                Ok(self.accept_only(env, "9101", seed, ctx, Some(stored)))
            }
            Work::AcceptOnly { infno, precomputed } => {
                Ok(self.accept_only(env, infno, seed, ctx, precomputed))
            }
            Work::Clearing3261(input) => {
                let kept = self
                    .clearing_3261(&env.fixmedins_code, &input, &ctx.inf_refmsgid)
                    .map_err(|v| {
                        Refused::Answer(self.refuse(200, "refused", &[v], Some(seed), received))
                    })?;
                Ok(self.accept_only(env, "3261", seed, ctx, Some(kept)))
            }
        }
    }

    /// Stage 5: one journal record holds the request (the exact text the HIS sent), the
    /// answer, the canonical claim, the state writes and any id-seed reservation; appended
    /// under the idempotency key, which detects a repeat.
    pub(crate) fn journal(
        &self,
        req: &ServiceRequest,
        env: &RequestEnvelope,
        (answer_bytes, claim, writes): Computed,
        seed: Seed<'_>,
        exchange: &Exchange,
        received: OffsetDateTime,
    ) -> Result<(IdempotentOutcome, Vec<u8>), Answer> {
        let body_sha256 = exchange.body_sha256;
        // The decoder accepted the body as one JSON object after an optional UTF-8 BOM, so
        // without the BOM it is valid where a value goes.
        let request = req.body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&req.body);
        let received_at = received
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let payload = exchange_payload(
            &env.infno,
            &env.fixmedins_code,
            &env.msgid,
            request,
            &answer_bytes,
            claim.as_ref(),
            &received_at,
        );
        // A provisional settlement is not yet one for the engine: its confirm journals the
        // claim again as a settlement (crate::legacy_commit).
        let pending = match (&exchange.provisional, &claim) {
            (Some(p), Some(c)) => Some(crate::legacy_commit::pending_writes(
                p,
                &answer_bytes,
                c,
                &received_at,
            )),
            _ => None,
        };
        let kind = match (&claim, &pending) {
            (Some(_), Some(_)) => crate::legacy_commit::KIND_PROVISIONAL,
            (Some(_), None) => KIND_SETTLEMENT,
            (None, _) => KIND_REQUEST,
        };
        let mut record = JournalRecord::new(kind, payload)
            .with_key(env.fixmedins_code.clone(), env.msgid.clone());
        for w in pending.into_iter().flatten() {
            record = record.with_write(w);
        }
        if let Some(highest) = seed.reservation() {
            let ceiling = highest.to_be_bytes().to_vec();
            record = record.with_write(StateWrite::put(META_SPACE, ID_SEED_KEY, ceiling));
        }
        for w in writes {
            record = record.with_write(w);
        }
        let outcome = self
            .store
            .append_idempotent(record, body_sha256, answer_bytes.clone())
            .map_err(|e| self.unavailable(&e, received))?;
        if let IdempotentOutcome::Appended { .. } = &outcome {
            self.seeds.journaled(seed);
        }
        Ok((outcome, answer_bytes))
    }

    /// Stage 6: the answer is sent only once a flush that began after the append has
    /// completed (acknowledged means durable).
    pub(crate) async fn await_durable(
        &self,
        outcome: IdempotentOutcome,
        answer_bytes: Vec<u8>,
        env: &RequestEnvelope,
        received: OffsetDateTime,
    ) -> Result<Answer, Answer> {
        let (ticket, body, outcome_label) = match outcome {
            IdempotentOutcome::Appended { offset, ticket } => {
                self.metrics
                    .gauge("medsettle_journal_offset", "Last journal offset written")
                    .set(offset as i64);
                (ticket, answer_bytes, "ok")
            }
            // A concurrent identical request won the race: send its answer once it is durable.
            IdempotentOutcome::Duplicate { answer, ticket, .. } => (ticket, answer, "replayed"),
            IdempotentOutcome::Conflict { .. } => return Err(self.conflict(env, received)),
        };
        self.store
            .wait_durable(ticket)
            .await
            .map_err(|e| self.unavailable(&e, received))?;
        Ok(Answer {
            status: 200,
            body,
            outcome: outcome_label,
        })
    }

    /// Lock the apply shard of one person, or every shard (in index order) for `None`.
    pub(crate) fn lock_shards(&self, shard: Option<usize>) -> Vec<MutexGuard<'_, ()>> {
        fn lock(m: &Mutex<()>) -> MutexGuard<'_, ()> {
            m.lock().unwrap_or_else(|p| p.into_inner())
        }
        match shard {
            Some(i) => vec![lock(&self.apply_shards[i])],
            None => self.apply_shards.iter().map(lock).collect(),
        }
    }

    /// A business refusal by the core: a valid answer of the transaction, HTTP 200, infcode
    /// -1 (the platform's "-2 business error" of old).
    pub(crate) fn core_refused(
        &self,
        env: &RequestEnvelope,
        infno: &str,
        refusal: &CoreRefusal,
        seed: u64,
        received: OffsetDateTime,
    ) -> Answer {
        tracing::info!(msgid = %env.msgid, infno, code = refusal.code(), "refused by the core");
        let v = Violation::new(RuleId(refusal.code()), refusal.path(), refusal.to_string());
        self.refuse(200, "refused", &[v], Some(seed), received)
    }

    /// The answer to a request of the core that the core refused — unless the request repeats
    /// a journaled one: the core's transactions skip the up-front idempotency read, so a repeat
    /// (whose visit the original settled, whose msgid it used) reaches the core, and gets the
    /// stored answer or a conflict here.
    pub(crate) async fn refused_unless_repeat(
        &self,
        env: &RequestEnvelope,
        body_sha256: [u8; 32],
        refusal: &CoreRefusal,
        seed: u64,
        received: OffsetDateTime,
    ) -> Answer {
        match self.replay(env, body_sha256).await {
            Ok(Some(answer)) | Err(answer) => return answer,
            Ok(None) => {}
        }
        match refusal.code() {
            // Not the sender's fault and not an answer of the transaction: the request was not
            // acknowledged and may be sent again.
            code if code == RuleId::GW_UNAVAILABLE.0 => {
                let v = Violation::new(RuleId::GW_UNAVAILABLE, "", refusal.to_string());
                self.refuse(503, "unavailable", &[v], Some(seed), received)
            }
            code if code == RuleId::GW_INTERNAL.0 => {
                let v = Violation::new(RuleId::GW_INTERNAL, "", refusal.to_string());
                self.refuse(500, "internal", &[v], Some(seed), received)
            }
            _ => self.core_refused(env, &env.infno, refusal, seed, received),
        }
    }

    /// The stored answer for a repeated `(fixmedins_code, msgid)`, or a conflict.
    pub(crate) async fn replay(
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

    pub(crate) fn conflict(&self, env: &RequestEnvelope, received: OffsetDateTime) -> Answer {
        let v = Violation::new(
            RuleId::GW_IDEMPOTENCY,
            "msgid",
            format!(
                "msgid {} was already used by {} with a different body; a new request needs a new msgid",
                env.msgid, env.fixmedins_code
            ),
        );
        self.refuse(409, "conflict", &[v], None, received)
    }

    pub(crate) fn unavailable(
        &self,
        e: &medsettle_store::StoreError,
        received: OffsetDateTime,
    ) -> Answer {
        tracing::error!(error = %e, "store cannot write: request not acknowledged");
        let v = Violation::new(
            RuleId::GW_UNAVAILABLE,
            "",
            "the gateway cannot store the request durably right now; nothing was settled — retry with the same msgid",
        );
        self.refuse(503, "unavailable", &[v], None, received)
    }

    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    pub(crate) fn compute_core(
        &self,
        env: &RequestEnvelope,
        infno: &'static str,
        request: CoreRequest,
        institution: &Institution,
        seed: u64,
        received: OffsetDateTime,
        ctx: &AnswerContext,
    ) -> Result<Computed, CoreRefusal> {
        let core_ctx = core_ctx(env, institution, seed, received);
        let view = StoreCoreView::new(self.store.as_ref(), &self.persons);
        let outcome = self.core.handle(request, &core_ctx, &view);
        self.computed_from(env, infno, outcome, &view, ctx)
    }

    /// What a core outcome journals: the answer bytes, the claim (named and placed as the
    /// envelope says) and the state writes; a view that failed to read refuses instead.
    pub(crate) fn computed_from(
        &self,
        env: &RequestEnvelope,
        infno: &'static str,
        outcome: Result<CoreOutcome, CoreRefusal>,
        view: &StoreCoreView<'_>,
        ctx: &AnswerContext,
    ) -> Result<Computed, CoreRefusal> {
        let writes = match &outcome {
            Ok(o) => state_writes(&o.changes, view),
            Err(_) => Vec::new(),
        };
        // Checked whatever the core answered: a state it could not read looks to the core like
        // a state that is not there, and its refusal would then be a wrong answer.
        if let Some(failure) = view.failure() {
            return Err(view_refusal(failure));
        }
        let CoreOutcome {
            answer,
            claim,
            warnings,
            ..
        } = outcome?;
        let claim = claim.map(|mut c| {
            c.fixmedins_name = Some(env.fixmedins_name.clone());
            c.insuplc_admdvs = c.insuplc_admdvs.or(env.insuplc_admdvs);
            c
        });
        let bytes = core_answer_bytes(env, infno, &answer, claim.as_ref(), &warnings, ctx);
        Ok((bytes, claim, writes))
    }

    /// Transactions journaled and acknowledged without the core: 3201/3202 and 9101 (their
    /// output and state writes computed beforehand), 3203 (clearing application) and 4101
    /// (settlement list upload), which get an id to quote later.
    fn accept_only(
        &self,
        env: &RequestEnvelope,
        infno: &str,
        seed: u64,
        ctx: &AnswerContext,
        precomputed: Option<(Value, Vec<StateWrite>)>,
    ) -> (
        Vec<u8>,
        Option<medsettle_canonical::SettledClaim>,
        Vec<StateWrite>,
    ) {
        if let Some((output, writes)) = precomputed {
            let mut e = success_envelope(ctx);
            e.output = Some(output);
            return (e.to_bytes(), None, writes);
        }
        let id = format!(
            "{}{}{:010}",
            env.mdtrtarea_admvs,
            &ctx.refmsg_time[..14],
            seed % 10_000_000_000
        );
        let output = match Infno::parse(infno) {
            Some(Infno::T3203) => serde_json::json!({"result": {"clr_appy_evt_id": id}}),
            Some(Infno::T4101) => serde_json::json!({"setl_list_id": id}),
            _ => serde_json::json!({}),
        };
        let mut e = success_envelope(ctx);
        e.output = Some(output);
        (e.to_bytes(), None, Vec::new())
    }
}

/// Length of an envelope time's seconds prefix, `yyyyMMddHHmmss` (ids quote it).
pub(crate) const SECONDS_LEN: usize = 14;

impl Service for NationalService {
    /// The per-service paths of the transaction table ([`crate::paths::national_paths`]).
    fn national_paths(&self) -> ServicePaths {
        crate::paths::national_paths()
    }

    fn call(&self, req: ServiceRequest) -> BoxFuture<'_, ServiceResponse> {
        Box::pin(async move {
            let (answer, infno) = self.handle(req).await;
            // A 9102 download is the only non-JSON answer: a zip (PK header).
            let zip = answer.status == 200 && answer.body.starts_with(b"PK\x03\x04");
            let mut resp =
                ServiceResponse::json(answer.status, Bytes::from(answer.body), answer.outcome);
            if zip {
                resp.content_type = CONTENT_TYPE_ZIP.to_owned();
            }
            resp.infno =
                infno.filter(|i| i.len() <= 6 && i.bytes().all(|b| b.is_ascii_alphanumeric()));
            resp
        })
    }
}

/// The core's context for a HIS request.
pub(crate) fn core_ctx(
    env: &RequestEnvelope,
    institution: &Institution,
    seed: u64,
    received: OffsetDateTime,
) -> RequestCtx {
    RequestCtx {
        msgid: env.msgid.clone(),
        fixmedins_code: env.fixmedins_code.clone(),
        inst_level: institution.level,
        mdtrtarea_admvs: env.mdtrtarea_admvs,
        now: received,
        id_seed: seed,
    }
}

/// The write a record must carry when its seed reserved a new block of ids (the ceiling
/// survives a crash, so no id is minted twice).
pub(crate) fn seed_reservation_write(seed: &Seed<'_>) -> Option<StateWrite> {
    seed.reservation()
        .map(|highest| StateWrite::put(META_SPACE, ID_SEED_KEY, highest.to_be_bytes().to_vec()))
}

/// `yyyyMMddHHmmss` of a time (ids quote it).
pub(crate) fn compact_time(t: OffsetDateTime) -> String {
    envelope_time(t)[..SECONDS_LEN].to_owned()
}

/// The refusal for a core state the store could not give: unavailable (retry) or corrupt
/// (internal; logged).
pub(crate) fn view_refusal(failure: ViewFailure) -> CoreRefusal {
    match failure {
        ViewFailure::Store(e) => CoreRefusal::rule(
            RuleId::GW_UNAVAILABLE,
            "",
            format!(
                "the gateway could not read its state ({e}); nothing was settled — retry with the same msgid"
            ),
        ),
        ViewFailure::Corrupt(e) => {
            tracing::error!(error = %e, "stored core state does not decode");
            CoreRefusal::rule(
                RuleId::GW_INTERNAL,
                "",
                "an internal error: nothing was settled; the operator has the log line",
            )
        }
    }
}

/// The national answer to a request the core answered. Settlement outputs (the largest
/// answers) are written straight from their typed form; the others go through
/// `output_for`'s JSON. The core's warnings go to `warn_msg`.
pub(crate) fn core_answer_bytes(
    env: &RequestEnvelope,
    infno: &'static str,
    answer: &medsettle_core::CoreAnswer,
    claim: Option<&SettledClaim>,
    warnings: &[medsettle_core::CoreWarning],
    ctx: &AnswerContext,
) -> Vec<u8> {
    let (mut envelope, typed) = match claim {
        Some(c) => {
            let answer_ctx = AnswerContext {
                person: person_extras(answer),
                ..ctx.clone()
            };
            let (e, out) = answer_parts_for_claim(c, &answer_ctx);
            (e, Some(out))
        }
        None => {
            let mut e = success_envelope(ctx);
            let code = &env.fixmedins_code;
            let typed = settle_output_for(answer, infno, code, env.mdtrtarea_admvs);
            if typed.is_none() {
                e.output = Some(output_for(answer, infno, code, env.mdtrtarea_admvs));
            }
            (e, typed)
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
    match &typed {
        Some(out) => envelope.to_bytes_with_output(&medsettle_nhsa::Wire(out)),
        None => envelope.to_bytes(),
    }
}

/// The one person a core request acts for, if it names exactly one (`None` for sign-in/out,
/// person queries, and fee uploads mixing persons or listing none).
pub(crate) fn person_of(request: &CoreRequest) -> Option<&str> {
    fn single<'a>(mut psn_nos: impl Iterator<Item = &'a str>) -> Option<&'a str> {
        let first = psn_nos.next()?;
        psn_nos.all(|p| p == first).then_some(first)
    }
    match request {
        CoreRequest::PersonInfo(_) | CoreRequest::SignIn(_) | CoreRequest::SignOut(_) => None,
        CoreRequest::Register(r) => Some(&r.psn_no),
        CoreRequest::CancelRegistration(r) => Some(&r.psn_no),
        CoreRequest::Admit(r) => Some(&r.psn_no),
        CoreRequest::Discharge(r) => Some(&r.psn_no),
        CoreRequest::OutpatientFees(lines) | CoreRequest::InpatientFees(lines) => {
            single(lines.iter().map(|l| l.psn_no.as_str()))
        }
        CoreRequest::OutpatientFeesCancel(r) => Some(&r.psn_no),
        CoreRequest::InpatientFeesCancel(lines) => single(lines.iter().map(|l| l.psn_no.as_str())),
        CoreRequest::OutpatientPreSettle(r)
        | CoreRequest::OutpatientSettle(r)
        | CoreRequest::InpatientPreSettle(r)
        | CoreRequest::InpatientSettle(r) => Some(&r.psn_no),
        CoreRequest::OutpatientSettleCancel(r) | CoreRequest::InpatientSettleCancel(r) => {
            Some(&r.psn_no)
        }
        CoreRequest::Reverse(r) => Some(&r.psn_no),
    }
}

/// The apply shard of a person (FNV-1a of `psn_no`).
pub(crate) fn shard_of(psn_no: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in psn_no.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h % APPLY_SHARDS as u64) as usize
}

/// The journal payload: the JSON of an [`medsettle_canonical::ExchangeRecord`] (same fields,
/// same order), written directly with the request and answer JSON texts spliced in verbatim
/// instead of being parsed into `Value`s and serialized again. It parses to the same record;
/// the request keeps the exact text the HIS sent.
pub(crate) fn exchange_payload(
    infno: &str,
    fixmedins_code: &str,
    msgid: &str,
    request: &[u8],
    answer: &[u8],
    claim: Option<&SettledClaim>,
    received_at: &str,
) -> Vec<u8> {
    fn put<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, name: &str, value: &T) {
        out.push(if out.is_empty() { b'{' } else { b',' });
        serde_json::to_writer(&mut *out, name).expect("a field name serializes");
        out.push(b':');
        serde_json::to_writer(&mut *out, value).expect("a journal field serializes");
    }
    let mut out = Vec::with_capacity(answer.len() * 3 + 512);
    put(&mut out, "infno", infno);
    put(&mut out, "fixmedins_code", fixmedins_code);
    put(&mut out, "msgid", msgid);
    out.extend_from_slice(b",\"request\":");
    out.extend_from_slice(request);
    out.extend_from_slice(b",\"answer\":");
    out.extend_from_slice(answer);
    if let Some(c) = claim {
        put(&mut out, "claim", c);
    }
    put(&mut out, "core", "embedded");
    put(&mut out, "received_at", received_at);
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use medsettle_canonical::ExchangeRecord;

    /// The spliced payload parses to the `ExchangeRecord` built from the parsed request and
    /// answer, and keeps the request text exactly as sent (spacing, escapes, big numbers).
    #[test]
    fn exchange_payload_matches_exchange_record() {
        let body = br#"{"infno":"2207", "msgid":"H44030000001202406011030150001","n":1.50,
            "s":"\u5f20\u4e09 \"q\" \/ tab\t","input":{"data":{"psn_no":"4400","amt":0.10,"big":12345678901234567890123}}}"#;
        let ctx = AnswerContext {
            inf_refmsgid: "440300202406011030150000000001".into(),
            refmsg_time: "20240601103015000".into(),
            respond_time: "20240601103015001".into(),
            person: None,
        };
        let mut e = success_envelope(&ctx);
        e.output = Some(
            serde_json::json!({"setlinfo": {"medfee_sumamt": serde_json::Number::from_string_unchecked("100.50".into()), "name": "示例 \"x\"\n", "n": 3}}),
        );
        e.warn_msg = Some("[W] a: b".into());
        let answer = e.to_bytes();
        for claim in [None] as [Option<SettledClaim>; 1] {
            let expected = ExchangeRecord {
                infno: "2207".into(),
                fixmedins_code: "H44030000001".into(),
                msgid: "H44030000001202406011030150001".into(),
                request: serde_json::from_slice(body).unwrap_or(Value::Null),
                answer: serde_json::from_slice(&answer).unwrap_or(Value::Null),
                claim: claim.clone(),
                core: "embedded".into(),
                received_at: "2024-06-01T10:30:15.123+08:00".into(),
                repairs: Vec::new(),
            };
            let payload = exchange_payload(
                "2207",
                "H44030000001",
                "H44030000001202406011030150001",
                body,
                &answer,
                claim.as_ref(),
                "2024-06-01T10:30:15.123+08:00",
            );
            let parsed: ExchangeRecord = serde_json::from_slice(&payload).unwrap();
            assert_eq!(parsed, expected);
            let text = String::from_utf8(payload).unwrap();
            let request_text = std::str::from_utf8(body).unwrap();
            assert!(
                text.contains(&format!(",\"request\":{request_text},\"answer\":")),
                "{text}"
            );
            // Field order as ExchangeRecord's own serialization.
            let reserialized = serde_json::to_string(&parsed).unwrap();
            assert_eq!(reserialized, serde_json::to_string(&expected).unwrap());
        }
    }

    /// A service on a real sled store in a temporary directory, with the sample pool region
    /// (specs/sample/): the pipeline without TLS.
    fn sample_service(dir: &std::path::Path) -> NationalService {
        use medsettle_core::{Catalogue, PersonRegistry, PolicyBook};
        let sample = |f: &str| {
            std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../specs/sample")
                    .join(f),
            )
            .unwrap()
        };
        let store = Arc::new(
            SledStore::open(
                &dir.join("journal"),
                medsettle_store::StoreConfig::default(),
            )
            .unwrap(),
        );
        let core = Core::new(
            PolicyBook::from_toml_str(&sample("policy.toml")).unwrap(),
            Catalogue::from_toml_str(&sample("catalogue.toml")).unwrap(),
        );
        let persons =
            PersonIndex::new(&PersonRegistry::from_toml_str(&sample("persons.toml")).unwrap());
        let institutions =
            medsettle_engine::load_institutions_toml(&sample("institutions.toml")).unwrap();
        NationalService::new(
            store,
            core,
            persons,
            institutions,
            DecodeLimits::default(),
            Admdvs::parse("440300").unwrap(),
            Arc::new(Metrics::new(64)),
        )
        .unwrap()
    }

    fn request(code: &str, body: &str) -> ServiceRequest {
        ServiceRequest {
            identity: Arc::new(medsettle_server::ClientIdentity {
                name: code.to_owned(),
                role: medsettle_server::Role::Institution,
                fixmedins_codes: vec![code.to_owned()],
                regions: Vec::new(),
                fingerprint_sha256: String::new(),
            }),
            method: http::Method::POST,
            path: "/fsi/api/rsfComIfsService/callService".into(),
            headers: http::HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
            infno_from_path: None,
        }
    }

    fn envelope(code: &str, msgid: &str, infno: &str) -> String {
        let input = match infno {
            "9001" => serde_json::json!({"signIn": {
                "opter_no": "0001", "mac": "00-16-EA-AE-3C-40", "ip": "10.0.0.8"}}),
            _ => serde_json::json!({"data": {
                "mdtrt_cert_type": "02", "mdtrt_cert_no": "x", "psn_cert_type": "01"}}),
        };
        envelope_with(code, msgid, infno, input)
    }

    fn envelope_with(code: &str, msgid: &str, infno: &str, input: Value) -> String {
        serde_json::json!({
            "infno": infno, "msgid": msgid, "mdtrtarea_admvs": "440300",
            "insuplc_admdvs": "440300", "recer_sys_code": "YBXT", "dev_no": "",
            "dev_safe_info": "", "cainfo": "", "signtype": "", "infver": "V1.0",
            "opter_type": "1", "opter": "0001", "opter_name": "收费员",
            "inf_time": "2026-11-22 10:30:00", "fixmedins_code": code,
            "fixmedins_name": "示例", "sign_no": "", "input": input
        })
        .to_string()
    }

    fn refmsgid(body: &[u8]) -> String {
        let v: Value = serde_json::from_slice(body).unwrap();
        v["inf_refmsgid"].as_str().unwrap().to_owned()
    }

    /// Stage 1: bad input is refused and journals nothing; and (issue 14) every refusal has a
    /// receiver message id of its own, never the all-zero sequence every refusal once shared.
    #[test]
    fn decode_refuses_and_every_refusal_has_its_own_id() {
        let dir = tempfile::tempdir().unwrap();
        let service = sample_service(dir.path());
        let now = OffsetDateTime::now_utc();
        let a = service
            .decode(&request("H44030000001", "{not json"), now)
            .unwrap_err();
        let b = service
            .decode(&request("H44030000001", "[]"), now)
            .unwrap_err();
        assert_eq!((a.status, b.status), (400, 400));
        let (ia, ib) = (refmsgid(&a.body), refmsgid(&b.body));
        assert_ne!(ia, ib, "two refusals in the same second share an id");
        for id in [&ia, &ib] {
            assert!(id.starts_with("440300"), "{id}");
            assert!(
                !id.ends_with("0000000000"),
                "the sequence part is not all zeros: {id}"
            );
        }
        assert_eq!(service.store.stats().unwrap().record_count, 0);
    }

    /// Stage 2: a certificate speaks only for its own institution.
    #[test]
    fn authorize_refuses_another_institutions_envelope() {
        let dir = tempfile::tempdir().unwrap();
        let service = sample_service(dir.path());
        let now = OffsetDateTime::now_utc();
        let body = envelope("H44030000002", "H44030000002202611221030000001", "1101");
        let req = request("H44030000001", &body);
        let env = service.decode(&req, now).unwrap();
        let refused = service.authorize(&req, &env, now).unwrap_err();
        assert_eq!(refused.status, 403);
        assert!(String::from_utf8_lossy(&refused.body).contains("[GW-AUTH]"));
        let own = request("H44030000002", &body);
        assert!(service.authorize(&own, &env, now).is_ok());
    }

    /// The whole pipeline without TLS: a query is journaled and answered once durable; the
    /// same request again gets the stored bytes; a different body under the msgid a 409.
    #[tokio::test]
    async fn the_pipeline_journals_answers_and_replays() {
        let dir = tempfile::tempdir().unwrap();
        let service = sample_service(dir.path());
        let msgid = "H44030000001202611221030000001";
        let body = envelope("H44030000001", msgid, "9001");
        let (first, infno) = service.handle(request("H44030000001", &body)).await;
        assert_eq!(infno.as_deref(), Some("9001"));
        assert_eq!(
            first.status,
            200,
            "{}",
            String::from_utf8_lossy(&first.body)
        );
        let (again, _) = service.handle(request("H44030000001", &body)).await;
        assert_eq!(again.body, first.body, "the stored answer, byte for byte");
        assert_eq!(again.outcome, "replayed");
        let other = body.replace("收费员", "另一位");
        let (conflict, _) = service.handle(request("H44030000001", &other)).await;
        assert_eq!(conflict.status, 409);
        assert_eq!(service.store.stats().unwrap().record_count, 1);
    }

    /// Issue 15: a 2601 that outruns its 2207. The 2601 answers "nothing to reverse" and
    /// journals a tombstone with its answer; the late 2207 is refused (HTTP 200, infcode -1,
    /// CORE-MSGID-REVERSED) and settles nothing; the 2601 repeated gets its stored answer.
    #[tokio::test]
    async fn a_reversal_that_outruns_its_original_refuses_the_late_original() {
        let dir = tempfile::tempdir().unwrap();
        let service = sample_service(dir.path());
        let code = "H44030000001";
        let psn_no = "44030000000001";
        let msgid = |n: u32| format!("H44030000001202611221030{n:06}");
        let svc = &service;
        let call = |m: String, infno: &'static str, input: Value| {
            let body = envelope_with(code, &m, infno, input);
            async move {
                let (answer, _) = svc.handle(request(code, &body)).await;
                let v: Value = serde_json::from_slice(&answer.body).unwrap();
                (answer, v)
            }
        };
        let (_, reg) = call(
            msgid(1),
            "2201",
            serde_json::json!({"data": {
                "psn_no": psn_no, "insutype": "310", "begntime": "2026-11-22 10:00:00",
                "mdtrt_cert_type": "02", "mdtrt_cert_no": "440304198609080010",
                "ipt_otp_no": "MZ0001", "atddr_no": "D0001", "dr_name": "门诊医生",
                "dept_code": "0301", "dept_name": "内科", "caty": "A03"}}),
        )
        .await;
        assert_eq!(reg["infcode"], 0, "{reg}");
        let mdtrt_id = reg["output"]["data"]["mdtrt_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (_, fees) = call(
            msgid(2),
            "2204",
            serde_json::json!({"feedetail": [{
                "feedetl_sn": "F0001", "mdtrt_id": mdtrt_id, "psn_no": psn_no,
                "chrg_bchno": "CB1", "fee_ocur_time": "2026-11-22 10:00:00",
                "med_list_codg": "DIAG001", "medins_list_codg": "HDIAG001",
                "det_item_fee_sumamt": 20.00, "cnt": 1, "pric": 20.00, "rx_circ_flag": "0",
                "bilg_dept_codg": "0301", "bilg_dept_name": "内科", "bilg_dr_codg": "D0001",
                "bilg_dr_name": "门诊医生", "hosp_appr_flag": "1"}]}),
        )
        .await;
        assert_eq!(fees["infcode"], 0, "{fees}");

        // The HIS sent 2207 under msgid 3 and timed out; its 2601 (msgid 4) arrives first.
        let original = msgid(3);
        let reversal = envelope_with(
            code,
            &msgid(4),
            "2601",
            serde_json::json!({"data": {"psn_no": psn_no, "omsgid": original, "oinfno": "2207"}}),
        );
        let (first, _) = service.handle(request(code, &reversal)).await;
        let v: Value = serde_json::from_slice(&first.body).unwrap();
        assert_eq!((first.status, &v["infcode"]), (200, &Value::from(0)), "{v}");
        assert_eq!(v["output"]["data"]["omsgid"], original.as_str());
        let tombstone = service
            .store
            .get(
                crate::core_state::space::TOMBSTONE,
                format!("{code}\0{original}").as_bytes(),
            )
            .unwrap();
        assert!(tombstone.is_some(), "the 2601 journaled a tombstone");

        // The original arrives late: refused, nothing settled.
        let records = service.store.stats().unwrap().record_count;
        let (late, v) = call(
            original.clone(),
            "2207",
            serde_json::json!({"data": {
                "psn_no": psn_no, "mdtrt_cert_type": "02",
                "mdtrt_cert_no": "440304198609080010", "med_type": "11",
                "medfee_sumamt": 20.00, "psn_setlway": "01", "mdtrt_id": mdtrt_id,
                "chrg_bchno": "CB1", "acct_used_flag": "1", "insutype": "310"}}),
        )
        .await;
        assert_eq!(late.status, 200, "{v}");
        assert_eq!(v["infcode"], -1, "{v}");
        let err_msg = v["err_msg"].as_str().unwrap();
        assert!(err_msg.contains("[CORE-MSGID-REVERSED]"), "{err_msg}");
        assert!(err_msg.contains(&msgid(4)), "names the 2601: {err_msg}");
        assert_eq!(
            service.store.stats().unwrap().record_count,
            records,
            "nothing journaled"
        );
        let settled = service
            .store
            .read_from(0, 100)
            .unwrap()
            .into_iter()
            .filter(|(_, r)| r.kind == KIND_SETTLEMENT)
            .count();
        assert_eq!(settled, 0, "nothing settled");

        // The 2601 again: its stored answer, byte for byte.
        let (again, _) = service.handle(request(code, &reversal)).await;
        assert_eq!(again.outcome, "replayed");
        assert_eq!(again.body, first.body);
    }

    #[test]
    fn shards_spread_and_are_stable() {
        assert_eq!(
            shard_of("44000000000000000001"),
            shard_of("44000000000000000001")
        );
        let used: std::collections::HashSet<usize> = (0..1000)
            .map(|i| shard_of(&format!("4400000000000000{i:04}")))
            .collect();
        assert!(used.len() > APPLY_SHARDS / 2, "{used:?}");
        assert!(used.iter().all(|&s| s < APPLY_SHARDS));
    }
}
