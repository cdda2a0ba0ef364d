//! Cross-region settlement at the place of treatment (`DESIGN.md` F4, `specs/interregion.md`).
//!
//! A HIS request whose `insuplc_admdvs` a [`Peer`] settles goes through the national pipeline
//! as usual, with one difference in its core step: the core opens and keeps the visit here
//! but, to settle, summarises it by fee category and the insured place's gateway splits it
//! (`medsettle_core::cross_region`). The exchange with the peer follows the rules of every
//! exchange whose far side can fail:
//!
//! 1. the summary (or reversal) message is journaled as an **in-doubt marker** (state
//!    `xr.in_doubt`, key `<fixmedins_code>\0<msgid>`) and made durable before it is sent;
//! 2. it is sent at least once: repeated with backoff (same bytes, same message id — the
//!    peer is idempotent by message id) until the peer answers or the deadline for the HIS
//!    passes;
//! 3. the peer's answer and the settlement it makes here are journaled in one record under the
//!    HIS's idempotency key, clearing the marker, before the HIS gets its answer;
//! 4. a message whose outcome is unknown is resolved by a status query that **seals** it (the
//!    peer will never apply it later) and, when the peer had applied a summary, a reversal —
//!    so a settlement the HIS was not told about is never left standing, and nothing is settled
//!    twice. The resolution is journaled under the HIS's key; its retry gets the same answer.
//!    A reversal message the peer applied is adopted instead (reversals are final).
//!
//! Every peer exchange also writes a ledger row (state `xr.ledger`, key the peer message id)
//! that daily reconciliation and monthly clearing read.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use medsettle_canonical::journal::KIND_SETTLEMENT;
use medsettle_canonical::{Admdvs, CHINA_OFFSET, Money, RuleId, Violation};
use medsettle_core::{
    CrossStep, PeerRef, PeerSplit, ReversalDraft, SummaryDraft, calc::CategorySummaryLine,
};
use medsettle_interregion as xr;
use medsettle_nhsa::{RequestEnvelope, error_answer};
use medsettle_server::ServiceRequest;
use medsettle_server::upstream::UpstreamClient;
use medsettle_store::{JournalRecord, StateWrite, Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::core_state::StoreCoreView;
use crate::national::{
    Answer, Exchange, NationalService, Work, core_ctx, exchange_payload, person_of, shard_of,
};

/// Journal kind of an in-doubt marker of a peer exchange.
pub const KIND_XR_IN_DOUBT: &str = "interregion.in_doubt";
/// State keyspace of the markers; key `<fixmedins_code>\0<msgid>`, value a [`PendingPeer`].
pub const SPACE_XR_IN_DOUBT: &str = "xr.in_doubt";
/// State keyspace of the cross-region ledger rows, both sides; key the peer message id,
/// value a [`LedgerRow`].
pub const SPACE_XR_LEDGER: &str = "xr.ledger";

pub use crate::peer::{
    PEER_BACKOFF_MAX_MS_DEFAULT, PEER_BACKOFF_MS_DEFAULT, PEER_DEADLINE_MS_DEFAULT,
    PEER_RESOLVE_ATTEMPTS_DEFAULT, PEER_RESOLVER_INTERVAL_MS_DEFAULT, Peer, PeerSettings,
};

/// What a marker remembers: enough to resend the message, resolve it, and answer the HIS.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingPeer {
    pub fixmedins_code: String,
    pub msgid: String,
    pub infno: String,
    pub psn_no: String,
    pub peer: String,
    pub peer_msgid: String,
    /// The exact message sent (and resent).
    pub message: String,
    pub summary: Option<SummaryDraft>,
    /// For a reversal: the local settlement being reversed and how the peer knows it.
    pub reversal_of: Option<String>,
    pub reversal_peer: Option<PeerRef>,
    pub written_at: String,
    /// The HIS's request (its exact text) and its SHA-256, for the record that resolves it.
    pub request: String,
    pub body_sha256: String,
    /// The institution's level code and the place of treatment, for the core's context.
    pub inst_level: String,
    pub mdtrtarea_admvs: String,
    pub fixmedins_name: String,
}

/// One cross-region settlement or reversal as either side records it; the key both sides
/// share is `omsgid`, the summary's message id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRow {
    /// The summary's message id (for a reversal: the reversed summary's).
    pub omsgid: String,
    /// The message that made this row (the summary, or the reversal message).
    pub msgid: String,
    /// `treatment` or `insured`: which side wrote it.
    pub side: String,
    pub setl_id: String,
    pub peer_setl_id: String,
    pub mdtrt_id: String,
    pub medins_no: String,
    pub psn_no: String,
    pub insuplc_admdvs: String,
    pub mdtrtarea_admvs: String,
    /// `yyyy-MM-dd HH:mm:ss`, China time.
    pub setl_time: String,
    pub medfee_sumamt: Money,
    pub fund_pay_sumamt: Money,
    /// 1 forward, −1 reversal (its amounts negative).
    pub aaa113: i8,
}

/// Which message a ledger row is about, and how the other side knows the settlement.
pub(crate) struct RowOf<'a> {
    pub omsgid: &'a str,
    pub msgid: &'a str,
    pub side: &'a str,
    pub peer_setl_id: &'a str,
    pub insuplc_admdvs: String,
    pub mdtrtarea_admvs: String,
}

impl LedgerRow {
    /// The row of a settled (or reversal) claim: forward or reversal by the claim's kind.
    pub(crate) fn of_claim(claim: &medsettle_canonical::SettledClaim, of: RowOf<'_>) -> LedgerRow {
        LedgerRow {
            omsgid: of.omsgid.to_owned(),
            msgid: of.msgid.to_owned(),
            side: of.side.to_owned(),
            setl_id: claim.setl_id.clone(),
            peer_setl_id: of.peer_setl_id.to_owned(),
            mdtrt_id: claim.mdtrt_id.clone(),
            medins_no: claim.fixmedins_code.clone(),
            psn_no: claim.psn_no.clone(),
            insuplc_admdvs: of.insuplc_admdvs,
            mdtrtarea_admvs: of.mdtrtarea_admvs,
            setl_time: china_time(claim.setl_time),
            medfee_sumamt: claim.amounts.medfee_sumamt,
            fund_pay_sumamt: claim.amounts.fund_pay_sumamt,
            aaa113: if claim.kind == medsettle_canonical::ClaimKind::Reversal {
                -1
            } else {
                1
            },
        }
    }

    /// The row as the peer protocol's reconciliation detail sends it.
    pub fn recon_row(&self) -> xr::ReconRow {
        xr::ReconRow {
            omsgid: self.omsgid.clone(),
            // the insured place's id on both sides: the one both know
            setl_id: if self.side == "insured" {
                self.setl_id.clone()
            } else {
                self.peer_setl_id.clone()
            },
            mdtrt_id: self.mdtrt_id.clone(),
            setl_time: xr::dates::parse_datetime(&self.setl_time)
                .unwrap_or(time::PrimitiveDateTime::MIN),
            medfee_sumamt: self.medfee_sumamt,
            fund_pay_sumamt: self.fund_pay_sumamt,
            aaa113: if self.aaa113 < 0 {
                xr::TxKind::Reversal
            } else {
                xr::TxKind::Forward
            },
            fulamt_advpay_flag: false,
        }
    }
}

/// Every ledger row this gateway holds.
pub fn ledger_rows(store: &dyn Store) -> Result<Vec<LedgerRow>, StoreError> {
    let mut rows = Vec::new();
    for item in store.scan_prefix(SPACE_XR_LEDGER, b"")? {
        let (_, v) = item?;
        match serde_json::from_slice::<LedgerRow>(&v) {
            Ok(r) => rows.push(r),
            Err(e) => warn!(error = %e, "a cross-region ledger row does not decode"),
        }
    }
    Ok(rows)
}

/// The markers left in doubt.
pub fn pending_peer(store: &dyn Store) -> Result<Vec<PendingPeer>, StoreError> {
    let mut out = Vec::new();
    for item in store.scan_prefix(SPACE_XR_IN_DOUBT, b"")? {
        let (_, v) = item?;
        if let Ok(p) = serde_json::from_slice::<PendingPeer>(&v) {
            out.push(p);
        }
    }
    Ok(out)
}

fn marker_key(code: &str, msgid: &str) -> Vec<u8> {
    let mut k = code.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(msgid.as_bytes());
    k
}

/// The peer message id of a HIS request: derived, so a resend after a crash is the same
/// message (`X` + 32 hex of SHA-256 over institution, msgid and transaction).
pub fn peer_msgid(code: &str, msgid: &str, infno: &str) -> String {
    let mut h = Sha256::new();
    for part in [code, msgid, infno] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("X{}", &hex::encode(h.finalize())[..32])
}

fn china_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(CHINA_OFFSET);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The summary message of a draft.
/// The summary header of a draft.
fn summary_header(draft: &SummaryDraft, now: OffsetDateTime) -> xr::SummaryHeader {
    xr::SummaryHeader {
        mdtrt_id: draft.mdtrt_id.clone(),
        psn_no: draft.psn_no.clone(),
        certno: draft.certno.clone().unwrap_or_default(),
        psn_name: None,
        insutype: draft.insutype.clone(),
        med_type: draft.med_type.clone(),
        fixmedins_code: draft.fixmedins_code.clone(),
        fixmedins_name: None,
        hosp_lv: draft.inst_level.code().to_owned(),
        // the HIS's times were checked by the national decoder; a visit time it accepted in
        // another shape falls back to the time the summary is sent
        begntime: xr::dates::parse_datetime(&draft.begntime)
            .unwrap_or_else(|| xr::china_datetime(now)),
        endtime: draft.endtime.as_deref().and_then(xr::dates::parse_datetime),
        medfee_sumamt: draft.totals.medfee_sumamt,
        acct_used_flag: draft.acct_used,
        setl_kind: if draft.final_settlement {
            xr::SetlKind::Final
        } else {
            xr::SetlKind::Pre
        },
    }
}

/// The summary message of a draft.
fn summary_request(
    draft: &SummaryDraft,
    peer_msgid: &str,
    now: OffsetDateTime,
) -> xr::RequestEnvelope {
    let summary = xr::Summary {
        header: summary_header(draft, now),
        iteminfo: draft.lines.iter().map(category_line).collect(),
    };
    xr::RequestEnvelope {
        ver: xr::VERSION.to_owned(),
        infno: xr::Infno::Xprv01,
        msgid: peer_msgid.to_owned(),
        mdtrtarea_admvs: draft.mdtrtarea_admvs,
        insuplc_admdvs: draft.insuplc_admdvs,
        send_time: china_time(now),
        input: xr::PeerRequest::Summary(summary).to_input(),
    }
}

fn category_line(l: &CategorySummaryLine) -> xr::CategoryLine {
    xr::CategoryLine {
        med_chrgitm: l.med_chrgitm,
        amt: l.amt,
        claa_sumfee: l.claa_sumfee,
        clab_amt: l.clab_amt,
        fulamt_ownpay_amt: l.fulamt_ownpay_amt,
        oth_amt: l.oth_amt,
    }
}

/// How one send ended.
enum Sent {
    /// The peer answered (done or refused). Boxed: an answer is large, the others small.
    Answered(Box<xr::AnswerEnvelope>),
    /// Certainly not sent (connect/TLS failure): may be sent again freely.
    Unsent(String),
    /// May or may not have reached the peer.
    Unknown(String),
}

async fn send_once(client: &UpstreamClient, infno: xr::Infno, message: &[u8]) -> Sent {
    match client
        .call(infno.as_str(), Bytes::copy_from_slice(message))
        .await
    {
        Ok(reply) => match xr::AnswerEnvelope::decode(&reply.body) {
            Ok(a) => Sent::Answered(Box::new(a)),
            Err(e) => Sent::Unknown(format!(
                "HTTP {} with an answer that does not decode: {e}",
                reply.status
            )),
        },
        Err(e) if !e.may_have_been_processed() => Sent::Unsent(e.to_string()),
        Err(e) => Sent::Unknown(e.to_string()),
    }
}

/// Send one message to `peer` until it answers or the peer's deadline passes.
pub(crate) async fn send_message(
    peer: &Peer,
    infno: xr::Infno,
    env: &xr::RequestEnvelope,
) -> Result<xr::AnswerEnvelope, String> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(peer.settings.deadline_ms);
    send_until(peer, infno, &env.encode(), deadline).await
}

/// Send until answered or the deadline passes (same bytes each time).
async fn send_until(
    peer: &Peer,
    infno: xr::Infno,
    message: &[u8],
    deadline: tokio::time::Instant,
) -> Result<xr::AnswerEnvelope, String> {
    let mut pause = Duration::from_millis(peer.settings.backoff_ms);
    let max = Duration::from_millis(peer.settings.backoff_max_ms);
    loop {
        let why = match tokio::time::timeout_at(deadline, send_once(&peer.client, infno, message))
            .await
        {
            Ok(Sent::Answered(a)) => return Ok(*a),
            Ok(Sent::Unsent(why) | Sent::Unknown(why)) => why,
            Err(_) => return Err("the deadline passed while waiting for the peer".into()),
        };
        if tokio::time::Instant::now() + pause >= deadline {
            return Err(why);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(max);
    }
}

/// The three ways the core step of a cross-region request ends.
enum Next {
    /// Answered here and journaled (visits, fee detail, a 2601 with nothing to reverse…).
    Journaled(medsettle_store::IdempotentOutcome, Vec<u8>),
    /// Refused by the core (answered after the lock, a repeat looked up first).
    Refused(medsettle_core::CoreRefusal, u64),
    /// The insured place must be asked.
    Ask(Box<PendingPeer>),
}

/// The peer transaction of a marker.
fn peer_infno(p: &PendingPeer) -> xr::Infno {
    if p.summary.is_some() {
        xr::Infno::Xprv01
    } else {
        xr::Infno::Xprv02
    }
}

/// A peer's refusal as the core's, for the HIS's answer (its rule, field and words kept).
fn peer_refusal(insuplc: &str, a: &xr::AnswerEnvelope) -> medsettle_core::CoreRefusal {
    medsettle_core::CoreRefusal::core(
        medsettle_core::RefusalCode::CrossRegion,
        "insuplc_admdvs",
        // the peer's err_msg is the whole refusal line, `[rule] path: message`
        format!("the insured place {insuplc} refused: {}", a.err_msg),
    )
}

impl NationalService {
    /// The peer that settles this envelope's insured place, if any.
    pub(crate) fn peer_for(&self, env: &RequestEnvelope) -> Option<Arc<Peer>> {
        let insured = env.insuplc_admdvs?;
        self.peers.iter().find(|p| p.routes(&insured)).cloned()
    }

    fn peer_named(&self, name: &str) -> Option<Arc<Peer>> {
        self.peers.iter().find(|p| p.name == name).cloned()
    }

    /// A HIS request for a person insured in `peer`'s regions.
    pub(crate) async fn cross_region(
        &self,
        peer: Arc<Peer>,
        req: &ServiceRequest,
        env: &RequestEnvelope,
        received: OffsetDateTime,
        exchange: &Exchange,
    ) -> Result<Answer, Answer> {
        let key = marker_key(&env.fixmedins_code, &env.msgid);
        // one handler per exchange: a repeat while the first is still at it waits its turn
        let Some(_claim) = peer.claim(&key) else {
            return Err(self.peer_unreachable(
                "the same request is being handled; ask again in a moment",
                received,
            ));
        };
        // A request whose exchange is in doubt is resolved, never sent again: the HIS may
        // have given up on it.
        let marker = self
            .store
            .get(SPACE_XR_IN_DOUBT, &key)
            .map_err(|e| self.unavailable(&e, received))?;
        if let Some(p) = marker.and_then(|b| serde_json::from_slice::<PendingPeer>(&b).ok()) {
            return Ok(self.resolve_for_caller(&peer, &p, received).await);
        }
        if let Some(answer) = self.replay(env, exchange.body_sha256).await? {
            return Ok(answer);
        }
        let insuplc = env.insuplc_admdvs.expect("routed by insuplc_admdvs");
        let (work, institution) = self.route(env, exchange.body_sha256, received).await?;
        let Work::Core { infno, request } = work else {
            // not the core's (3201, 9101…): the local path
            let (outcome, bytes) = self
                .compute_and_journal(req, env, work, institution, exchange, received)
                .await?;
            return self.await_durable(outcome, bytes, env, received).await;
        };
        let psn_no = person_of(&request).unwrap_or_default().to_owned();
        let shard = person_of(&request).map(shard_of);
        let next = {
            let _guards = self.lock_shards(shard);
            let seed = self.seeds.for_record();
            let ctx = self.answer_ctx(seed.value, received);
            let core_ctx = core_ctx(env, institution, seed.value, received);
            let view = StoreCoreView::new(self.store.as_ref(), &self.persons);
            let step = self
                .core
                .handle_cross_region(*request, &core_ctx, insuplc, &view);
            if let Some(failure) = view.failure() {
                Next::Refused(crate::national::view_refusal(failure), seed.value)
            } else {
                match step {
                    Ok(CrossStep::Done(outcome)) => {
                        match self.computed_from(env, infno, Ok(*outcome), &view, &ctx) {
                            Ok(computed) => {
                                let (o, b) =
                                    self.journal(req, env, computed, seed, exchange, received)?;
                                Next::Journaled(o, b)
                            }
                            Err(refusal) => Next::Refused(refusal, seed.value),
                        }
                    }
                    Ok(step @ (CrossStep::Summary(_) | CrossStep::Reversal(_))) => {
                        let pid = peer_msgid(&env.fixmedins_code, &env.msgid, infno);
                        let (message, drafts) = match step {
                            CrossStep::Summary(d) => (
                                summary_request(&d, &pid, received).encode(),
                                (Some(*d), None),
                            ),
                            CrossStep::Reversal(d) => (
                                reversal_request(&d, &pid, received).encode(),
                                (None, Some(*d)),
                            ),
                            CrossStep::Done(_) => unreachable!("matched above"),
                        };
                        Next::Ask(Box::new(self.pending(
                            env, req, infno, psn_no, &peer, pid, message, drafts, received,
                        )))
                    }
                    Err(refusal) => Next::Refused(refusal, seed.value),
                }
            }
        };
        let pending = match next {
            Next::Journaled(o, b) => return self.await_durable(o, b, env, received).await,
            Next::Refused(r, seed) => {
                return Err(self
                    .refused_unless_repeat(env, exchange.body_sha256, &r, seed, received)
                    .await);
            }
            Next::Ask(p) => *p,
        };
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(peer.settings.deadline_ms);
        if pending
            .summary
            .as_ref()
            .is_some_and(|d| !d.final_settlement)
        {
            // A pre-settlement changes nothing on either side: no marker, and a failure is
            // simply "try again".
            return match send_until(
                &peer,
                xr::Infno::Xprv01,
                pending.message.as_bytes(),
                deadline,
            )
            .await
            {
                Ok(answer) => self
                    .apply_answer(&pending, &answer, received)
                    .await
                    .map_err(|why| self.peer_unreachable(&why, received)),
                Err(why) => Err(self.peer_unreachable(&why, received)),
            };
        }
        // 1. the marker, durable before anything is sent
        let record = JournalRecord::new(
            KIND_XR_IN_DOUBT,
            serde_json::to_vec(&pending).expect("a marker serializes"),
        )
        .with_write(StateWrite::put(
            SPACE_XR_IN_DOUBT,
            key.clone(),
            serde_json::to_vec(&pending).expect("a marker serializes"),
        ));
        let appended = self
            .store
            .append(record)
            .map_err(|e| self.unavailable(&e, received))?;
        self.store
            .wait_durable(appended.ticket)
            .await
            .map_err(|e| self.unavailable(&e, received))?;
        // 2. sent at least once, until answered or the deadline
        match send_until(
            &peer,
            peer_infno(&pending),
            pending.message.as_bytes(),
            deadline,
        )
        .await
        {
            Ok(answer) => match self.apply_answer(&pending, &answer, received).await {
                Ok(a) => Ok(a),
                Err(why) => {
                    warn!(msgid = %pending.msgid, peer = %peer.name, %why, "peer answer not applied; resolving");
                    Ok(self.resolve_for_caller(&peer, &pending, received).await)
                }
            },
            Err(why) => {
                warn!(msgid = %pending.msgid, peer = %peer.name, %why, "no answer from the peer; resolving");
                Ok(self.resolve_for_caller(&peer, &pending, received).await)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn pending(
        &self,
        env: &RequestEnvelope,
        req: &ServiceRequest,
        infno: &str,
        psn_no: String,
        peer: &Peer,
        peer_msgid: String,
        message: Vec<u8>,
        (summary, reversal): (Option<SummaryDraft>, Option<ReversalDraft>),
        received: OffsetDateTime,
    ) -> PendingPeer {
        let body = req.body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&req.body);
        PendingPeer {
            fixmedins_code: env.fixmedins_code.clone(),
            msgid: env.msgid.clone(),
            infno: infno.to_owned(),
            psn_no,
            peer: peer.name.clone(),
            peer_msgid,
            message: String::from_utf8(message).expect("JSON is UTF-8"),
            summary,
            reversal_of: reversal.as_ref().map(|r| r.original.claim.setl_id.clone()),
            reversal_peer: reversal.map(|r| r.peer),
            written_at: china_time(received),
            request: String::from_utf8_lossy(body).into_owned(),
            body_sha256: hex::encode(Sha256::digest(&req.body)),
            inst_level: self
                .institutions
                .get(&env.fixmedins_code)
                .map(|i| i.level.code().to_owned())
                .unwrap_or_default(),
            mdtrtarea_admvs: env.mdtrtarea_admvs.to_string(),
            fixmedins_name: env.fixmedins_name.clone(),
        }
    }

    /// The peer answered: its refusal or its split/reversal becomes the HIS's answer,
    /// journaled with the marker cleared. `Err` leaves the marker for resolution.
    async fn apply_answer(
        &self,
        p: &PendingPeer,
        answer: &xr::AnswerEnvelope,
        received: OffsetDateTime,
    ) -> Result<Answer, String> {
        let insuplc = p
            .summary
            .as_ref()
            .map(|d| d.insuplc_admdvs.to_string())
            .or_else(|| {
                p.reversal_peer
                    .as_ref()
                    .map(|r| r.insuplc_admdvs.to_string())
            })
            .unwrap_or_default();
        if answer.infcode != 0 && answer.rule == "CORE-MSGID-REUSED" {
            // The peer says this very message already produced something: not a refusal of
            // the business but a sign the peer saw it twice — resolve it like a lost answer.
            return Err(format!(
                "the insured place refused the message as already used: {}",
                answer.err_msg
            ));
        }
        if answer.infcode != 0 {
            // A refusal is final: the peer applied nothing.
            info!(msgid = %p.msgid, rule = %answer.rule, "the insured place refused");
            let refusal = peer_refusal(&insuplc, answer);
            let bytes = self.refusal_bytes(&refusal, received);
            self.journal_resolution(p, &bytes, Vec::new(), received)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(Answer {
                status: 200,
                body: bytes,
                outcome: "refused",
            });
        }
        let output = answer
            .output
            .clone()
            .ok_or("a done answer without output")?;
        let (ticket, body) = self.record_answer(p, &output, received)?;
        self.store
            .wait_durable(ticket)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Answer {
            status: 200,
            body,
            outcome: "ok",
        })
    }

    /// Under the person's lock: the settlement (or reversal) the peer's answer makes here,
    /// appended with its ledger row under the HIS's key, clearing the marker.
    fn record_answer(
        &self,
        p: &PendingPeer,
        output: &serde_json::Value,
        received: OffsetDateTime,
    ) -> Result<(medsettle_store::Ticket, Vec<u8>), String> {
        let _guards = self.lock_shards(Some(shard_of(&p.psn_no)));
        let (computed, rows, seed) = if let Some(draft) = &p.summary {
            let split = xr::Split::from_output(output).map_err(|e| e.to_string())?;
            self.finish_summary(p, draft, &split, received)?
        } else {
            let done = xr::ReversalDone::from_output(output).map_err(|e| e.to_string())?;
            self.finish_reversal(p, &done, received)?
        };
        let (bytes, claim, mut writes) = computed;
        writes.push(StateWrite::delete(
            SPACE_XR_IN_DOUBT,
            marker_key(&p.fixmedins_code, &p.msgid),
        ));
        for row in rows {
            writes.push(ledger_write(&row));
        }
        writes.extend(crate::national::seed_reservation_write(&seed));
        let payload = exchange_payload(
            &p.infno,
            &p.fixmedins_code,
            &p.msgid,
            p.request.as_bytes(),
            &bytes,
            claim.as_ref(),
            &received
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        );
        let kind = if claim.is_some() {
            KIND_SETTLEMENT
        } else {
            medsettle_canonical::journal::KIND_REQUEST
        };
        let mut record =
            JournalRecord::new(kind, payload).with_key(p.fixmedins_code.clone(), p.msgid.clone());
        for w in writes {
            record = record.with_write(w);
        }
        let outcome = self
            .store
            .append_idempotent(record, body_sha(p), bytes.clone())
            .map_err(|e| e.to_string())?;
        match outcome {
            medsettle_store::IdempotentOutcome::Appended { ticket, .. } => {
                self.seeds.journaled(seed);
                Ok((ticket, bytes))
            }
            medsettle_store::IdempotentOutcome::Duplicate { answer, ticket, .. } => {
                Ok((ticket, answer))
            }
            medsettle_store::IdempotentOutcome::Conflict { .. } => {
                Err("the HIS key was used by another body meanwhile".into())
            }
        }
    }

    /// 503 for a pre-settlement the insured place did not answer: nothing happened anywhere.
    fn peer_unreachable(&self, why: &str, received: OffsetDateTime) -> Answer {
        let v = Violation::new(
            RuleId::GW_UNAVAILABLE,
            "",
            format!(
                "the insured place did not answer ({why}); nothing was done — retry with the same msgid"
            ),
        );
        let ctx = self.answer_ctx(self.seeds.unjournaled(), received);
        Answer {
            status: 503,
            body: error_answer(&[v], &ctx).to_bytes(),
            outcome: "unavailable",
        }
    }

    /// The settlement the insured place's split makes here, under the person's lock.
    fn finish_summary(
        &self,
        p: &PendingPeer,
        draft: &SummaryDraft,
        split: &xr::Split,
        received: OffsetDateTime,
    ) -> Result<
        (
            crate::national::Computed,
            Vec<LedgerRow>,
            crate::seeds::Seed<'_>,
        ),
        String,
    > {
        let header = summary_header(draft, received);
        xr::check_split_against(&header, split).map_err(|e| e.to_string())?;
        let peer_split = PeerSplit {
            setl_id: split.setl_id.clone(),
            msgid: p.peer_msgid.clone(),
            psn_name: Some(split.psn_name.clone()),
            psn_type: Some(split.psn_type.clone()),
            clr_optins: Some(split.clr_optins.to_string()),
            amounts: split.amounts.clone(),
            setldetail: split.setldetail.clone(),
        };
        let seed = self.seeds.for_record();
        let seed_value = seed.value;
        let ctx = self.answer_ctx(seed_value, received);
        let core_ctx = self.pending_ctx(p, seed_value, received)?;
        let view = StoreCoreView::new(self.store.as_ref(), &self.persons);
        let outcome = self
            .core
            .finish_cross_region(draft, &peer_split, &core_ctx, &view);
        let env = self.pending_env(p)?;
        let infno = static_infno(&p.infno);
        let computed = self
            .computed_from(&env, infno, outcome, &view, &ctx)
            .map_err(|e| e.to_string())?;
        let rows = match &computed.1 {
            Some(claim) => vec![LedgerRow::of_claim(
                claim,
                RowOf {
                    omsgid: &p.peer_msgid,
                    msgid: &p.peer_msgid,
                    side: "treatment",
                    peer_setl_id: &split.setl_id,
                    insuplc_admdvs: draft.insuplc_admdvs.to_string(),
                    mdtrtarea_admvs: draft.mdtrtarea_admvs.to_string(),
                },
            )],
            None => Vec::new(),
        };
        Ok((computed, rows, seed))
    }

    /// The local reversal of a settlement the insured place reversed.
    fn finish_reversal(
        &self,
        p: &PendingPeer,
        done: &xr::ReversalDone,
        received: OffsetDateTime,
    ) -> Result<
        (
            crate::national::Computed,
            Vec<LedgerRow>,
            crate::seeds::Seed<'_>,
        ),
        String,
    > {
        let original_id = p
            .reversal_of
            .clone()
            .ok_or("a reversal marker without its original")?;
        let peer_ref = p
            .reversal_peer
            .clone()
            .ok_or("a reversal marker without its peer")?;
        let seed = self.seeds.for_record();
        let seed_value = seed.value;
        let ctx = self.answer_ctx(seed_value, received);
        let core_ctx = self.pending_ctx(p, seed_value, received)?;
        let view = StoreCoreView::new(self.store.as_ref(), &self.persons);
        let original = medsettle_core::CoreView::settlement(&view, &original_id)
            .ok_or("the settlement to reverse is gone")?;
        let draft = ReversalDraft {
            infno: p.infno.clone(),
            original,
            peer: peer_ref.clone(),
        };
        let outcome = self.core.finish_cross_region_reversal(
            &draft,
            &p.peer_msgid,
            &done.setl_id,
            &core_ctx,
            &view,
        );
        let env = self.pending_env(p)?;
        let computed = self
            .computed_from(&env, static_infno(&p.infno), outcome, &view, &ctx)
            .map_err(|e| e.to_string())?;
        let rows = match &computed.1 {
            Some(claim) => vec![LedgerRow::of_claim(
                claim,
                RowOf {
                    omsgid: &peer_ref.msgid,
                    msgid: &p.peer_msgid,
                    side: "treatment",
                    peer_setl_id: &done.setl_id,
                    insuplc_admdvs: peer_ref.insuplc_admdvs.to_string(),
                    mdtrtarea_admvs: claim.mdtrtarea_admvs.to_string(),
                },
            )],
            None => Vec::new(),
        };
        Ok((computed, rows, seed))
    }

    /// The core context of a marker's request.
    fn pending_ctx(
        &self,
        p: &PendingPeer,
        seed: u64,
        received: OffsetDateTime,
    ) -> Result<medsettle_core::RequestCtx, String> {
        Ok(medsettle_core::RequestCtx {
            msgid: p.msgid.clone(),
            fixmedins_code: p.fixmedins_code.clone(),
            inst_level: medsettle_canonical::InstitutionLevel::parse(&p.inst_level)
                .ok_or("the marker's institution level does not parse")?,
            mdtrtarea_admvs: Admdvs::parse(&p.mdtrtarea_admvs)
                .map_err(|e| format!("the marker's region: {e}"))?,
            now: received,
            id_seed: seed,
        })
    }

    /// The HIS envelope of a marker (re-read from the request it keeps).
    fn pending_env(&self, p: &PendingPeer) -> Result<RequestEnvelope, String> {
        RequestEnvelope::decode(p.request.as_bytes(), &self.limits).map_err(|e| e.to_string())
    }

    fn refusal_bytes(
        &self,
        refusal: &medsettle_core::CoreRefusal,
        received: OffsetDateTime,
    ) -> Vec<u8> {
        let v = Violation::new(RuleId(refusal.code()), refusal.path(), refusal.to_string());
        let ctx = self.answer_ctx(self.seeds.unjournaled(), received);
        error_answer(&[v], &ctx).to_bytes()
    }

    /// Journal a resolution (an error answer, ledger rows) under the HIS's key, clearing the
    /// marker, durably.
    async fn journal_resolution(
        &self,
        p: &PendingPeer,
        answer: &[u8],
        rows: Vec<LedgerRow>,
        received: OffsetDateTime,
    ) -> Result<Vec<u8>, StoreError> {
        let payload = exchange_payload(
            &p.infno,
            &p.fixmedins_code,
            &p.msgid,
            p.request.as_bytes(),
            answer,
            None,
            &received
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        );
        let mut record = JournalRecord::new(medsettle_canonical::journal::KIND_REQUEST, payload)
            .with_key(p.fixmedins_code.clone(), p.msgid.clone())
            .with_write(StateWrite::delete(
                SPACE_XR_IN_DOUBT,
                marker_key(&p.fixmedins_code, &p.msgid),
            ));
        for row in &rows {
            record = record.with_write(ledger_write(row));
        }
        let outcome = self
            .store
            .append_idempotent(record, body_sha(p), answer.to_vec())?;
        let (ticket, body) = match outcome {
            medsettle_store::IdempotentOutcome::Appended { ticket, .. } => {
                (ticket, answer.to_vec())
            }
            medsettle_store::IdempotentOutcome::Duplicate { answer, ticket, .. } => {
                (ticket, answer)
            }
            // the key holds another body's answer: this resolution's stands for this request
            medsettle_store::IdempotentOutcome::Conflict { ticket, .. } => {
                (ticket, answer.to_vec())
            }
        };
        self.store.wait_durable(ticket).await?;
        Ok(body)
    }

    /// Resolve a marker for a HIS that is waiting: the final answer, or "being resolved".
    async fn resolve_for_caller(
        &self,
        peer: &Peer,
        p: &PendingPeer,
        received: OffsetDateTime,
    ) -> Answer {
        match self.resolve(peer, p, received).await {
            Ok(body) => Answer {
                status: 200,
                body,
                outcome: "resolved",
            },
            Err(why) => {
                let v = Violation::new(
                    RuleId::GW_UNAVAILABLE,
                    "",
                    format!(
                        "the insured place's answer is unknown and the exchange is not resolved yet ({why}); \
                         the gateway keeps resolving it: do not settle this visit again yet, retry later with the same msgid for the outcome"
                    ),
                );
                let ctx = self.answer_ctx(self.seeds.unjournaled(), received);
                Answer {
                    status: 503,
                    body: error_answer(&[v], &ctx).to_bytes(),
                    outcome: "in_doubt",
                }
            }
        }
    }

    /// Status query (sealing), then reversal or adoption; the outcome journaled.
    async fn resolve(
        &self,
        peer: &Peer,
        p: &PendingPeer,
        received: OffsetDateTime,
    ) -> Result<Vec<u8>, String> {
        let mut last = String::new();
        for attempt in 0..peer.settings.resolve_attempts {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(
                    peer.settings.backoff_ms << attempt.min(6),
                ))
                .await;
            }
            match self.resolve_once(peer, p, received, attempt).await {
                Ok(bytes) => return Ok(bytes),
                Err(why) => last = why,
            }
        }
        Err(last)
    }

    async fn resolve_once(
        &self,
        peer: &Peer,
        p: &PendingPeer,
        received: OffsetDateTime,
        attempt: u32,
    ) -> Result<Vec<u8>, String> {
        let insuplc = Admdvs::parse(&p.insuplc()).map_err(|e| e.to_string())?;
        let mdtrtarea = Admdvs::parse(&p.mdtrtarea_admvs).map_err(|e| e.to_string())?;
        let now = OffsetDateTime::now_utc();
        let query = xr::RequestEnvelope {
            ver: xr::VERSION.to_owned(),
            infno: xr::Infno::Xprv03,
            // 33 + 1 + 6 characters: within the protocol's 40
            msgid: format!(
                "{}Q{:05}{}",
                p.peer_msgid,
                now.unix_timestamp() % 100_000,
                attempt % 10
            ),
            mdtrtarea_admvs: mdtrtarea,
            insuplc_admdvs: insuplc,
            send_time: china_time(now),
            input: xr::PeerRequest::Status(xr::StatusQuery {
                oinfno: peer_infno(p),
                omsgid: p.peer_msgid.clone(),
                seal: true,
            })
            .to_input(),
        };
        let answer = match send_once(&peer.client, xr::Infno::Xprv03, &query.encode()).await {
            Sent::Answered(a) => *a,
            Sent::Unsent(why) | Sent::Unknown(why) => return Err(why),
        };
        if answer.infcode != 0 {
            return Err(format!(
                "status query refused: [{}] {}",
                answer.rule, answer.err_msg
            ));
        }
        let status = xr::StatusAnswer::from_output(answer.output.as_ref().ok_or("no output")?)
            .map_err(|e| e.to_string())?;
        match (p.summary.is_some(), status.state) {
            // never applied, and now it never will be: the HIS's settlement did not happen
            (_, xr::StatusState::Absent | xr::StatusState::Sealed) => {
                let refusal = medsettle_core::CoreRefusal::core(
                    medsettle_core::RefusalCode::CrossRegion,
                    "insuplc_admdvs",
                    format!(
                        "the insured place {} did not receive this {} in time and will not apply it: nothing was settled — send a new request with a new msgid",
                        p.insuplc(),
                        p.infno
                    ),
                );
                let bytes = self.refusal_bytes(&refusal, received);
                self.journal_resolution(p, &bytes, Vec::new(), received)
                    .await
                    .map_err(|e| e.to_string())
            }
            // a reversal the peer made: adopt it (reversals are final)
            (false, xr::StatusState::Applied | xr::StatusState::Reversed) => {
                let output = status
                    .answer
                    .ok_or("an applied status without its answer")?;
                let a = xr::AnswerEnvelope::done(output, &xr::AnswerContext::default());
                self.apply_answer(p, &a, received).await.map(|a| a.body)
            }
            // a summary the peer applied that the HIS was not told about: reverse it there
            (true, state) => {
                let output = status
                    .answer
                    .ok_or("an applied status without its answer")?;
                let split = xr::Split::from_output(&output).map_err(|e| e.to_string())?;
                let reversed_at = if state == xr::StatusState::Applied {
                    let done = self
                        .reverse_at_peer(peer, p, &split, insuplc, mdtrtarea)
                        .await?;
                    xr::dates::format_datetime(done.setl_time)
                } else {
                    china_time(OffsetDateTime::now_utc())
                };
                let draft = p.summary.as_ref().expect("summary marker");
                let forward = LedgerRow {
                    omsgid: p.peer_msgid.clone(),
                    msgid: p.peer_msgid.clone(),
                    side: "treatment".into(),
                    setl_id: String::new(),
                    peer_setl_id: split.setl_id.clone(),
                    mdtrt_id: draft.mdtrt_id.clone(),
                    medins_no: draft.fixmedins_code.clone(),
                    psn_no: draft.psn_no.clone(),
                    insuplc_admdvs: p.insuplc(),
                    mdtrtarea_admvs: p.mdtrtarea_admvs.clone(),
                    setl_time: xr::dates::format_datetime(split.setl_time),
                    medfee_sumamt: split.amounts.medfee_sumamt,
                    fund_pay_sumamt: split.amounts.fund_pay_sumamt,
                    aaa113: 1,
                };
                let reversal = LedgerRow {
                    msgid: format!("{}R", p.peer_msgid),
                    setl_time: reversed_at,
                    aaa113: -1,
                    medfee_sumamt: -forward.medfee_sumamt,
                    fund_pay_sumamt: -forward.fund_pay_sumamt,
                    ..forward.clone()
                };
                let refusal = medsettle_core::CoreRefusal::core(
                    medsettle_core::RefusalCode::CrossRegion,
                    "insuplc_admdvs",
                    format!(
                        "the insured place {} answered too late; its settlement was reversed: nothing was settled — send a new request with a new msgid",
                        p.insuplc()
                    ),
                );
                let bytes = self.refusal_bytes(&refusal, received);
                self.journal_resolution(p, &bytes, vec![forward, reversal], received)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// XPRV02 for a summary the peer applied; idempotent (same message id each time).
    async fn reverse_at_peer(
        &self,
        peer: &Peer,
        p: &PendingPeer,
        split: &xr::Split,
        insuplc: Admdvs,
        mdtrtarea: Admdvs,
    ) -> Result<xr::ReversalDone, String> {
        let draft = p.summary.as_ref().ok_or("not a summary")?;
        let message = xr::RequestEnvelope {
            ver: xr::VERSION.to_owned(),
            infno: xr::Infno::Xprv02,
            msgid: format!("{}R", p.peer_msgid),
            mdtrtarea_admvs: mdtrtarea,
            insuplc_admdvs: insuplc,
            send_time: p.written_at.clone(),
            input: xr::PeerRequest::Reversal(xr::Reversal {
                omsgid: p.peer_msgid.clone(),
                setl_id: split.setl_id.clone(),
                mdtrt_id: draft.mdtrt_id.clone(),
                psn_no: draft.psn_no.clone(),
            })
            .to_input(),
        };
        match send_once(&peer.client, xr::Infno::Xprv02, &message.encode()).await {
            Sent::Answered(a) if a.infcode == 0 => {
                xr::ReversalDone::from_output(a.output.as_ref().ok_or("no output")?)
                    .map_err(|e| e.to_string())
            }
            Sent::Answered(a) => Err(format!("reversal refused: [{}] {}", a.rule, a.err_msg)),
            Sent::Unsent(why) | Sent::Unknown(why) => Err(why),
        }
    }

    /// Resolve every marker left (by a crash, or a peer that stayed silent); how many were
    /// resolved and how many remain.
    pub async fn resolve_peer_markers(&self) -> Result<(usize, usize), StoreError> {
        let (mut done, mut left) = (0, 0);
        for p in pending_peer(self.store.as_ref())? {
            let Some(peer) = self.peer_named(&p.peer) else {
                warn!(peer = %p.peer, msgid = %p.msgid, "a marker names a peer no longer configured");
                left += 1;
                continue;
            };
            let key = marker_key(&p.fixmedins_code, &p.msgid);
            let Some(_claim) = peer.claim(&key) else {
                // its request is still at it
                left += 1;
                continue;
            };
            // the marker may have been cleared by that request meanwhile
            if self.store.get(SPACE_XR_IN_DOUBT, &key)?.is_none() {
                continue;
            }
            let received = OffsetDateTime::now_utc().to_offset(CHINA_OFFSET);
            match self.resolve(&peer, &p, received).await {
                Ok(_) => done += 1,
                Err(why) => {
                    warn!(msgid = %p.msgid, peer = %p.peer, %why, "a cross-region exchange is still in doubt");
                    left += 1;
                }
            }
        }
        Ok((done, left))
    }
}

impl PendingPeer {
    fn insuplc(&self) -> String {
        self.summary
            .as_ref()
            .map(|d| d.insuplc_admdvs.to_string())
            .or_else(|| {
                self.reversal_peer
                    .as_ref()
                    .map(|r| r.insuplc_admdvs.to_string())
            })
            .unwrap_or_default()
    }
}

fn body_sha(p: &PendingPeer) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Ok(bytes) = hex::decode(&p.body_sha256)
        && bytes.len() == 32
    {
        out.copy_from_slice(&bytes);
    }
    out
}

pub(crate) fn ledger_write(row: &LedgerRow) -> StateWrite {
    let mut key = row.msgid.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(row.side.as_bytes());
    StateWrite::put(
        SPACE_XR_LEDGER,
        key,
        serde_json::to_vec(row).expect("a ledger row serializes"),
    )
}

/// The reversal message of a draft.
fn reversal_request(
    d: &ReversalDraft,
    peer_msgid: &str,
    now: OffsetDateTime,
) -> xr::RequestEnvelope {
    xr::RequestEnvelope {
        ver: xr::VERSION.to_owned(),
        infno: xr::Infno::Xprv02,
        msgid: peer_msgid.to_owned(),
        mdtrtarea_admvs: d.original.claim.mdtrtarea_admvs,
        insuplc_admdvs: d.peer.insuplc_admdvs,
        send_time: china_time(now),
        input: xr::PeerRequest::Reversal(xr::Reversal {
            omsgid: d.peer.msgid.clone(),
            setl_id: d.peer.setl_id.clone(),
            mdtrt_id: d.original.claim.mdtrt_id.clone(),
            psn_no: d.original.claim.psn_no.clone(),
        })
        .to_input(),
    }
}

/// The `'static` transaction code the answer writers want.
fn static_infno(infno: &str) -> &'static str {
    medsettle_nhsa::Infno::parse(infno).map_or("2207", |i| i.as_str())
}

/// Journal kind of a cross-region reconciliation difference (an operator alert).
pub const KIND_XR_RECON_DIFFERENCE: &str = "interregion.recon_difference";
/// State keyspace of reconciliation differences; key `<peer>\0<date>\0<omsgid>\0<aaa113>`.
pub const SPACE_XR_RECON_DIFF: &str = "xr.recon_diff";

/// One day's figures of one side, as reports keep them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub fwd_cnt: u32,
    pub fwd_medfee_sumamt: Money,
    pub fwd_fund_pay_sumamt: Money,
    pub rev_cnt: u32,
    pub rev_medfee_sumamt: Money,
    pub rev_fund_pay_sumamt: Money,
}

impl From<xr::DayTotals> for Totals {
    fn from(t: xr::DayTotals) -> Totals {
        Totals {
            fwd_cnt: t.fwd_cnt,
            fwd_medfee_sumamt: t.fwd_medfee_sumamt,
            fwd_fund_pay_sumamt: t.fwd_fund_pay_sumamt,
            rev_cnt: t.rev_cnt,
            rev_medfee_sumamt: t.rev_medfee_sumamt,
            rev_fund_pay_sumamt: t.rev_fund_pay_sumamt,
        }
    }
}

/// One reconciliation difference, as reports and alerts keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DifferenceRow {
    pub omsgid: String,
    /// 1 forward, −1 reversal.
    pub aaa113: i64,
    /// `missing_at_receiver` (the peer lacks it), `missing_at_sender` (this side lacks it),
    /// `amount_differs`.
    pub kind: String,
    pub ours_medfee_sumamt: Option<Money>,
    pub theirs_medfee_sumamt: Option<Money>,
    pub ours_fund_pay_sumamt: Option<Money>,
    pub theirs_fund_pay_sumamt: Option<Money>,
}

impl From<&xr::Difference> for DifferenceRow {
    fn from(d: &xr::Difference) -> DifferenceRow {
        DifferenceRow {
            omsgid: d.omsgid.clone(),
            aaa113: d.aaa113.wire(),
            kind: d.kind.as_str().to_owned(),
            ours_medfee_sumamt: d.sender_medfee_sumamt,
            theirs_medfee_sumamt: d.receiver_medfee_sumamt,
            ours_fund_pay_sumamt: d.sender_fund_pay_sumamt,
            theirs_fund_pay_sumamt: d.receiver_fund_pay_sumamt,
        }
    }
}

/// One day's reconciliation with one peer, as the place of treatment ran it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReconReport {
    pub peer: String,
    pub date: String,
    /// This side's totals (the rows it treated for the peer's insured).
    pub ours: Totals,
    /// The peer's totals, when it answered.
    pub theirs: Option<Totals>,
    pub agree: bool,
    /// Detail differences (only asked when the totals differ).
    pub differences: Vec<DifferenceRow>,
    /// Why the peer could not be asked, if it could not.
    pub error: Option<String>,
}

/// A reconciliation difference kept for the operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReconAlert {
    pub peer: String,
    pub date: String,
    pub difference: DifferenceRow,
    pub raised_at: String,
}

/// Every reconciliation difference raised.
pub fn recon_alerts(store: &dyn Store) -> Result<Vec<ReconAlert>, StoreError> {
    let mut out = Vec::new();
    for item in store.scan_prefix(SPACE_XR_RECON_DIFF, b"")? {
        let (_, v) = item?;
        if let Ok(a) = serde_json::from_slice::<ReconAlert>(&v) {
            out.push(a);
        }
    }
    Ok(out)
}

/// What `interregion status` shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InterregionStatus {
    pub peers: Vec<PeerStatus>,
    pub in_doubt: Vec<PendingPeer>,
    pub alerts: Vec<ReconAlert>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerStatus {
    pub name: String,
    pub admdvs: Vec<String>,
    /// Rows this side wrote as the place of treatment for the peer's insured.
    pub treated_rows: usize,
    pub treated_fund_pay_sumamt: Money,
}

impl NationalService {
    /// Peers, exchanges in doubt and reconciliation alerts.
    pub fn interregion_status(&self) -> Result<InterregionStatus, StoreError> {
        let rows = ledger_rows(self.store.as_ref())?;
        let peers = self
            .peers
            .iter()
            .map(|p| {
                let mine: Vec<&LedgerRow> = rows
                    .iter()
                    .filter(|r| r.side == "treatment")
                    .filter(|r| Admdvs::parse(&r.insuplc_admdvs).is_ok_and(|a| p.routes(&a)))
                    .collect();
                PeerStatus {
                    name: p.name.clone(),
                    admdvs: p.admdvs.clone(),
                    treated_rows: mine.len(),
                    treated_fund_pay_sumamt: mine.iter().map(|r| r.fund_pay_sumamt).sum(),
                }
            })
            .collect();
        Ok(InterregionStatus {
            peers,
            in_doubt: pending_peer(self.store.as_ref())?,
            alerts: recon_alerts(self.store.as_ref())?,
        })
    }

    /// Reconcile `date` (`yyyy-MM-dd`) with every peer (or the one named): totals first, the
    /// detail when they differ; each difference journaled as an alert.
    pub async fn reconcile_with_peers(
        &self,
        date: time::Date,
        only: Option<&str>,
    ) -> Result<Vec<ReconReport>, StoreError> {
        let day = xr::dates::format_date(date);
        let rows = ledger_rows(self.store.as_ref())?;
        let mut reports = Vec::new();
        for peer in self
            .peers
            .iter()
            .filter(|p| only.is_none_or(|n| n == p.name))
        {
            let mine: Vec<xr::ReconRow> = rows
                .iter()
                .filter(|r| r.side == "treatment" && r.setl_time.starts_with(&day))
                .filter(|r| Admdvs::parse(&r.insuplc_admdvs).is_ok_and(|a| peer.routes(&a)))
                .map(LedgerRow::recon_row)
                .collect();
            let ours = xr::day_totals(&mine);
            let mut report = ReconReport {
                peer: peer.name.clone(),
                date: day.clone(),
                ours: ours.into(),
                theirs: None,
                agree: false,
                differences: Vec::new(),
                error: None,
            };
            match self.reconcile_one(peer, date, ours, &mine).await {
                Ok((theirs, differences)) => {
                    report.agree = differences.is_empty() && theirs == ours;
                    report.theirs = Some(theirs.into());
                    report.differences = differences.iter().map(DifferenceRow::from).collect();
                }
                Err(e) => report.error = Some(e),
            }
            for d in &report.differences {
                self.raise_recon_alert(&peer.name, &day, d).await?;
            }
            reports.push(report);
        }
        Ok(reports)
    }

    async fn reconcile_one(
        &self,
        peer: &Peer,
        date: time::Date,
        ours: xr::DayTotals,
        rows: &[xr::ReconRow],
    ) -> Result<(xr::DayTotals, Vec<xr::Difference>), String> {
        let mdtrtarea = self.receiver_admdvs;
        // any region of the peer's: the receiver answers for the rows with this place
        let insuplc =
            Admdvs::parse(&format!("{:0<6}", peer.admdvs[0])).map_err(|e| e.to_string())?;
        let now = OffsetDateTime::now_utc();
        let stamp = format!(
            "{}{:06}",
            xr::dates::format_date(date).replace('-', ""),
            now.unix_timestamp() % 1_000_000
        );
        let sent = xr::ReconTotals {
            recon_date: date,
            totals: ours,
        };
        let totals = xr::RequestEnvelope {
            ver: xr::VERSION.to_owned(),
            infno: xr::Infno::Xprv11,
            msgid: format!("RT{stamp}"),
            mdtrtarea_admvs: mdtrtarea,
            insuplc_admdvs: insuplc,
            send_time: china_time(now),
            input: xr::PeerRequest::ReconTotals(sent.clone()).to_input(),
        };
        let answer = match send_once(&peer.client, xr::Infno::Xprv11, &totals.encode()).await {
            Sent::Answered(a) if a.infcode == 0 => *a,
            Sent::Answered(a) => return Err(format!("[{}] {}", a.rule, a.err_msg)),
            Sent::Unsent(e) | Sent::Unknown(e) => return Err(e),
        };
        let theirs = xr::ReconTotalsAnswer::from_output(answer.output.as_ref().ok_or("no output")?)
            .map_err(|e| e.to_string())?;
        xr::check_totals_answer(&sent, &theirs).map_err(|e| e.to_string())?;
        if theirs.stmt_rslt == xr::StmtResult::Agree {
            return Ok((theirs.totals, Vec::new()));
        }
        // the detail, page by page; the receiver reports rows missing here on the last page
        let mut differences = Vec::new();
        let pages: Vec<&[xr::ReconRow]> = if rows.is_empty() {
            vec![&[]]
        } else {
            rows.chunks(xr::RECON_ROWS_PER_MESSAGE_MAX).collect()
        };
        let rows_total = u32::try_from(rows.len()).map_err(|e| e.to_string())?;
        let sent_keys: std::collections::BTreeSet<(String, xr::TxKind)> =
            rows.iter().map(|r| (r.omsgid.clone(), r.aaa113)).collect();
        for (page, chunk) in pages.iter().enumerate() {
            let detail = xr::RequestEnvelope {
                ver: xr::VERSION.to_owned(),
                infno: xr::Infno::Xprv12,
                msgid: format!("RD{stamp}{page:04}"),
                mdtrtarea_admvs: mdtrtarea,
                insuplc_admdvs: insuplc,
                send_time: china_time(now),
                input: xr::PeerRequest::ReconDetail(xr::ReconDetail {
                    recon_date: date,
                    rows_total,
                    startrow: u32::try_from(page * xr::RECON_ROWS_PER_MESSAGE_MAX + 1)
                        .map_err(|e| e.to_string())?,
                    rows: chunk.to_vec(),
                })
                .to_input(),
            };
            let answer = match send_once(&peer.client, xr::Infno::Xprv12, &detail.encode()).await {
                Sent::Answered(a) if a.infcode == 0 => *a,
                Sent::Answered(a) => return Err(format!("[{}] {}", a.rule, a.err_msg)),
                Sent::Unsent(e) | Sent::Unknown(e) => return Err(e),
            };
            let d = xr::ReconDetailAnswer::from_output(answer.output.as_ref().ok_or("no output")?)
                .map_err(|e| e.to_string())?;
            // a row this side sent on another page is not missing here
            differences.extend(d.differences.into_iter().filter(|diff| {
                diff.kind != xr::DifferenceKind::MissingAtSender
                    || !sent_keys.contains(&(diff.omsgid.clone(), diff.aaa113))
            }));
        }
        Ok((theirs.totals, differences))
    }

    async fn raise_recon_alert(
        &self,
        peer: &str,
        date: &str,
        d: &DifferenceRow,
    ) -> Result<(), StoreError> {
        let key = format!("{peer}\0{date}\0{}\0{}", d.omsgid, d.aaa113).into_bytes();
        if self.store.get(SPACE_XR_RECON_DIFF, &key)?.is_some() {
            return Ok(());
        }
        let alert = ReconAlert {
            peer: peer.to_owned(),
            date: date.to_owned(),
            difference: d.clone(),
            raised_at: china_time(OffsetDateTime::now_utc()),
        };
        let json = serde_json::to_vec(&alert).expect("an alert serializes");
        warn!(peer, date, omsgid = %d.omsgid, "cross-region reconciliation difference");
        let appended =
            self.store.append(
                JournalRecord::new(KIND_XR_RECON_DIFFERENCE, json.clone())
                    .with_write(StateWrite::put(SPACE_XR_RECON_DIFF, key, json)),
            )?;
        self.store.wait_durable(appended.ticket).await
    }
}
