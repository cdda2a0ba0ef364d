//! The insured place's side of cross-region settlement: what a peer region's gateway reaches
//! at `POST /interregion/v1` (`specs/interregion.md`).
//!
//! Only a `peer` certificate is served, and only for the regions it is bound to: the sender
//! of a message is the region that is not this gateway's (for a summary or reversal, the
//! place of treatment). Messages are idempotent by (sender region, transaction, message id):
//! the same bytes get the same answer from the journal, other bytes under a used id are
//! refused. A summary is settled by the embedded core under this place's policy and the
//! person's accumulators and journaled as [`KIND_XR_SETTLEMENT`] — not a settlement this
//! place's engine pays (the treatment place pays its hospital; the provinces clear monthly) —
//! with its ledger row, before it is answered.

use bytes::Bytes;
use medsettle_canonical::{Admdvs, CHINA_OFFSET, InstitutionLevel, SettledClaim};
use medsettle_core::{CoreAnswer, CoreView, SummaryIn};
use medsettle_interregion as xr;
use medsettle_server::{Role, ServiceRequest, ServiceResponse};
use medsettle_store::{IdempotentOutcome, JournalRecord, StateWrite, Store};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::core_state::{StoreCoreView, state_writes};
use crate::interregion::{LedgerRow, ledger_rows};
use crate::national::{NationalService, shard_of};

/// Journal kind of a peer's summary or reversal settled here (not read by the engine).
pub const KIND_XR_SETTLEMENT: &str = "interregion.settlement";
/// Journal kind of any other peer message recorded here (seals, clearing statements…).
pub const KIND_XR_REQUEST: &str = "interregion.request";
pub use crate::interregion_clearing::{SPACE_XR_CLEARING_IN, SPACE_XR_CLEARING_OUT};

/// A peer exchange appended (the ticket to wait for, the answer, the metrics outcome), or the
/// answer that refuses it.
type Appended = Result<(medsettle_store::Ticket, Vec<u8>, &'static str), PeerAnswer>;

/// An answer to a peer: HTTP status, body, metrics outcome.
struct PeerAnswer {
    status: u16,
    body: Vec<u8>,
    outcome: &'static str,
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

/// The idempotency namespace of a sender region's messages.
pub fn peer_namespace(sender: &Admdvs) -> String {
    format!("peer:{sender}")
}

/// One peer message being answered: what every step of it journals or answers with.
#[derive(Clone, Copy)]
struct PeerMessage<'a> {
    req: &'a ServiceRequest,
    env: &'a xr::RequestEnvelope,
    /// The sender's idempotency namespace ([`peer_namespace`]).
    ns: &'a str,
    /// Its idempotency key (`<infno>:<msgid>`).
    key: &'a str,
    body_sha256: [u8; 32],
    /// This gateway's id for its answer.
    refmsgid: &'a str,
    received: OffsetDateTime,
}

impl NationalService {
    /// Does this gateway settle persons insured at `admdvs` (a scheme of its policy covers
    /// that region)?
    pub(crate) fn settles_insured(&self, admdvs: &Admdvs) -> bool {
        self.core
            .policy()
            .schemes()
            .iter()
            .any(|s| s.admdvs == *admdvs)
    }

    fn peer_refusal(
        &self,
        status: u16,
        refmsgid: &str,
        rule: &str,
        path: &str,
        message: impl Into<String>,
        received: OffsetDateTime,
    ) -> PeerAnswer {
        let a = xr::AnswerEnvelope {
            ver: xr::VERSION.to_owned(),
            infcode: -1,
            inf_refmsgid: refmsgid.to_owned(),
            refmsg_time: china_time(received),
            respond_time: china_time(OffsetDateTime::now_utc()),
            err_msg: message.into(),
            rule: rule.to_owned(),
            path: path.to_owned(),
            output: None,
        };
        PeerAnswer {
            status,
            body: a.encode(),
            outcome: if status == 200 { "refused" } else { "rejected" },
        }
    }

    fn peer_done(&self, refmsgid: &str, output: Value, received: OffsetDateTime) -> Vec<u8> {
        xr::AnswerEnvelope {
            ver: xr::VERSION.to_owned(),
            infcode: 0,
            inf_refmsgid: refmsgid.to_owned(),
            refmsg_time: china_time(received),
            respond_time: china_time(OffsetDateTime::now_utc()),
            err_msg: String::new(),
            rule: String::new(),
            path: String::new(),
            output: Some(output),
        }
        .encode()
    }

    /// One peer message.
    pub(crate) async fn interregion(&self, req: ServiceRequest) -> ServiceResponse {
        let received = OffsetDateTime::now_utc().to_offset(CHINA_OFFSET);
        let (answer, infno) = self.peer_answer(&req, received).await;
        let mut resp =
            ServiceResponse::json(answer.status, Bytes::from(answer.body), answer.outcome);
        resp.infno = infno;
        resp
    }

    async fn peer_answer(
        &self,
        req: &ServiceRequest,
        received: OffsetDateTime,
    ) -> (PeerAnswer, Option<String>) {
        let refmsgid = format!(
            "{}{}{:010}",
            self.receiver_admdvs,
            &crate::national::compact_time(received),
            self.seeds.unjournaled() % 10_000_000_000
        );
        if req.identity.role != Role::Peer {
            return (
                self.peer_refusal(
                    403,
                    &refmsgid,
                    xr::rule::ENV_SENDER,
                    "",
                    format!(
                        "the client certificate `{}` is not a peer region's gateway",
                        req.identity.name
                    ),
                    received,
                ),
                None,
            );
        }
        let refused = |status: u16, r: &xr::Refusal| {
            self.peer_refusal(
                status,
                &refmsgid,
                r.rule,
                &r.path,
                r.message.clone(),
                received,
            )
        };
        let env = match xr::RequestEnvelope::decode(&req.body, &xr::Limits::default()) {
            Ok(e) => e,
            Err(r) => return (refused(400, &r), None),
        };
        let infno = Some(env.infno.as_str().to_owned());
        // the sender must be a region the certificate is bound to (XR-ENV-9)
        if let Err(r) = env.check_sender(&req.identity.regions) {
            tracing::warn!(client = %req.identity.name, error = %r, "peer message refused: region not bound to the certificate");
            return (refused(403, &r), infno);
        }
        let key = match env.idempotency_key() {
            Ok(k) => k,
            Err(r) => return (refused(400, &r), infno),
        };
        // this gateway must be the other side: the insured place of a summary or reversal
        let treatment_sends = matches!(env.infno, xr::Infno::Xprv01 | xr::Infno::Xprv02);
        if treatment_sends && !self.settles_insured(&env.insuplc_admdvs) {
            return (
                self.peer_refusal(
                    200,
                    &refmsgid,
                    xr::rule::ENV_SENDER,
                    "insuplc_admdvs",
                    format!(
                        "this gateway does not settle persons insured at {}",
                        env.insuplc_admdvs
                    ),
                    received,
                ),
                infno,
            );
        }
        let ns = peer_namespace(&key.sender);
        let idem = format!("{}:{}", env.infno.as_str(), env.msgid);
        let body_sha256: [u8; 32] = Sha256::digest(&req.body).into();
        match self.store.lookup_idempotent(&ns, &idem) {
            Ok(Some(entry)) if entry.body_sha256 == body_sha256 => {
                let _ = self.store.wait_durable(self.store.current_ticket()).await;
                return (
                    PeerAnswer {
                        status: 200,
                        body: entry.answer,
                        outcome: "replayed",
                    },
                    infno,
                );
            }
            Ok(Some(_)) => return (refused(409, &key.conflict()), infno),
            Ok(None) => {}
            Err(e) => {
                return (
                    self.peer_refusal(
                        503,
                        &refmsgid,
                        "GW-UNAVAILABLE",
                        "",
                        e.to_string(),
                        received,
                    ),
                    infno,
                );
            }
        }
        let input = match xr::decode_input(env.infno, &env.input)
            .and_then(|i| i.check_against_envelope(&env).map(|()| i))
        {
            Ok(i) => i,
            Err(r) => return (refused(200, &r), infno),
        };
        let sender = key.sender;
        let m = PeerMessage {
            req,
            env: &env,
            ns: &ns,
            key: &idem,
            body_sha256,
            refmsgid: &refmsgid,
            received,
        };
        let answer = match input {
            xr::PeerRequest::Summary(s) => self.peer_summary(&m, &s).await,
            xr::PeerRequest::Reversal(r) => self.peer_reversal(&m, &r).await,
            xr::PeerRequest::Status(q) => self.peer_status(&m, &q).await,
            xr::PeerRequest::ReconTotals(t) => {
                let ours = xr::day_totals(&self.recon_rows_with(&sender, t.recon_date));
                let output = xr::ReconTotalsAnswer::compare(&t, &ours).to_output();
                PeerAnswer {
                    status: 200,
                    body: self.peer_done(&refmsgid, output, received),
                    outcome: "ok",
                }
            }
            xr::PeerRequest::ReconDetail(d) => {
                let ours = self.recon_rows_with(&sender, d.recon_date);
                // this page's rows against ours; rows of ours the sender never named are
                // reported on the last page (the sender drops those it sent on other pages)
                let page_keys: std::collections::BTreeSet<(String, xr::TxKind)> = d
                    .rows
                    .iter()
                    .map(|r| (r.omsgid.clone(), r.aaa113))
                    .collect();
                let comparable: Vec<xr::ReconRow> = if d.is_last_page() {
                    ours
                } else {
                    ours.into_iter()
                        .filter(|r| page_keys.contains(&(r.omsgid.clone(), r.aaa113)))
                        .collect()
                };
                let mut differences = xr::reconcile_detail(&d.rows, &comparable);
                differences.truncate(xr::DIFFERENCES_PER_ANSWER_MAX);
                let output = xr::ReconDetailAnswer { differences }.to_output();
                PeerAnswer {
                    status: 200,
                    body: self.peer_done(&refmsgid, output, received),
                    outcome: "ok",
                }
            }
            other => self.peer_clearing_in(&m, &other).await,
        };
        (answer, infno)
    }

    /// This side's rows (as the insured place) with the place of treatment `counterpart` on
    /// `date`, as reconciliation rows.
    fn recon_rows_with(&self, counterpart: &Admdvs, date: time::Date) -> Vec<xr::ReconRow> {
        let day = xr::dates::format_date(date);
        self.rows_with(counterpart, &day)
            .iter()
            .filter(|r| r.side == "insured")
            .map(LedgerRow::recon_row)
            .collect()
    }

    /// This side's ledger rows with `counterpart` on `date` (`yyyy-MM-dd`).
    pub(crate) fn rows_with(&self, counterpart: &Admdvs, date: &str) -> Vec<LedgerRow> {
        ledger_rows(self.store.as_ref())
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.setl_time.starts_with(date))
            .filter(|r| {
                r.mdtrtarea_admvs == counterpart.as_str()
                    || r.insuplc_admdvs == counterpart.as_str()
            })
            .collect()
    }

    /// Append one peer exchange under its idempotency key (the caller holds the person's
    /// lock when the record carries core state): the ticket to wait for, the answer to send.
    fn append_peer(
        &self,
        m: &PeerMessage<'_>,
        answer: Vec<u8>,
        claim: Option<&SettledClaim>,
        writes: Vec<StateWrite>,
    ) -> Appended {
        let PeerMessage {
            req,
            env,
            ns,
            key,
            body_sha256,
            received,
            ..
        } = *m;
        let payload = serde_json::to_vec(&json!({
            "infno": env.infno.as_str(),
            "sender": ns,
            "msgid": env.msgid,
            "request": String::from_utf8_lossy(&req.body),
            "answer": String::from_utf8_lossy(&answer),
            "claim": claim,
            "received_at": china_time(received),
        }))
        .expect("a peer record serializes");
        let kind = if claim.is_some() {
            KIND_XR_SETTLEMENT
        } else {
            KIND_XR_REQUEST
        };
        let mut record = JournalRecord::new(kind, payload).with_key(ns.to_owned(), key.to_owned());
        for w in writes {
            record = record.with_write(w);
        }
        match self
            .store
            .append_idempotent(record, body_sha256, answer.clone())
        {
            Ok(IdempotentOutcome::Appended { ticket, .. }) => Ok((ticket, answer, "ok")),
            Ok(IdempotentOutcome::Duplicate { answer, ticket, .. }) => {
                Ok((ticket, answer, "replayed"))
            }
            Ok(IdempotentOutcome::Conflict { .. }) => Err(self.peer_refusal(
                409,
                "",
                "XR-ENV-MSGID",
                "msgid",
                "message id reused with other bytes",
                received,
            )),
            Err(e) => {
                Err(self.peer_refusal(503, "", "GW-UNAVAILABLE", "", e.to_string(), received))
            }
        }
    }

    /// The answer once its record is durable (acknowledged means durable).
    async fn durable_peer(&self, appended: Appended, received: OffsetDateTime) -> PeerAnswer {
        let (ticket, body, outcome) = match appended {
            Ok(a) => a,
            Err(refused) => return refused,
        };
        if let Err(e) = self.store.wait_durable(ticket).await {
            return self.peer_refusal(503, "", "GW-UNAVAILABLE", "", e.to_string(), received);
        }
        PeerAnswer {
            status: 200,
            body,
            outcome,
        }
    }

    async fn peer_summary(&self, m: &PeerMessage<'_>, s: &xr::Summary) -> PeerAnswer {
        let PeerMessage {
            env,
            ns,
            refmsgid,
            received,
            ..
        } = *m;
        let h = &s.header;
        let Some(level) = InstitutionLevel::parse(&h.hosp_lv) else {
            return self.peer_refusal(
                200,
                refmsgid,
                "XR-SUM-LEVEL",
                "input.summary.hosp_lv",
                format!(
                    "hosp_lv {} is not an institution level (1, 2, 3, 9)",
                    h.hosp_lv
                ),
                received,
            );
        };
        let summary = SummaryIn {
            final_settlement: h.setl_kind == xr::SetlKind::Final,
            fixmedins_code: h.fixmedins_code.clone(),
            mdtrt_id: h.mdtrt_id.clone(),
            psn_no: h.psn_no.clone(),
            certno: Some(h.certno.clone()).filter(|c| !c.is_empty()),
            insutype: h.insutype.clone(),
            med_type: h.med_type.clone(),
            acct_used: h.acct_used_flag,
            medfee_sumamt: h.medfee_sumamt,
            lines: s
                .iteminfo
                .iter()
                .map(|l| medsettle_core::calc::CategorySummaryLine {
                    med_chrgitm: l.med_chrgitm,
                    amt: l.amt,
                    claa_sumfee: l.claa_sumfee,
                    clab_amt: l.clab_amt,
                    fulamt_ownpay_amt: l.fulamt_ownpay_amt,
                    oth_amt: l.oth_amt,
                })
                .collect(),
        };
        // a quote (pre-settlement) gets an id of its own, never a settlement's
        let quote_id = || {
            let h = Sha256::digest(format!("{ns}\0{}", env.msgid).as_bytes());
            format!("Q{}", &hex::encode(h)[..20])
        };
        self.apply_peer_message(
            m,
            (&h.psn_no, level),
            |ctx, view| self.core.settle_summary(&summary, ctx, view),
            |outcome| {
                let CoreAnswer::Settlement {
                    setlinfo,
                    setldetail,
                } = &outcome.answer
                else {
                    unreachable!("settle_summary answers a settlement")
                };
                let split = xr::Split {
                    setl_id: setlinfo.setl_id.clone().unwrap_or_else(quote_id),
                    mdtrt_id: setlinfo.mdtrt_id.clone(),
                    psn_no: setlinfo.psn_no.clone(),
                    psn_name: setlinfo.psn_name.clone(),
                    insutype: setlinfo.insutype.clone(),
                    psn_type: setlinfo.psn_type.clone(),
                    setl_time: xr::china_datetime(
                        outcome.claim.as_ref().map_or(received, |c| c.setl_time),
                    ),
                    amounts: setlinfo.amounts.clone(),
                    setldetail: setldetail.clone(),
                    clr_optins: setlinfo
                        .clr_optins
                        .as_deref()
                        .and_then(|c| Admdvs::parse(c).ok())
                        .unwrap_or(env.insuplc_admdvs),
                };
                let answer = self.peer_done(refmsgid, split.to_output(), received);
                // a pre-settlement changes nothing and is not kept
                let row = outcome.claim.as_ref().map(|claim| {
                    crate::interregion::ledger_write(&insured_row(claim, env, &env.msgid))
                });
                (answer, row)
            },
        )
        .await
    }

    async fn peer_reversal(&self, m: &PeerMessage<'_>, r: &xr::Reversal) -> PeerAnswer {
        let PeerMessage {
            env,
            refmsgid,
            received,
            ..
        } = *m;
        // a reversal mints only an id; the level is the original's, kept in its claim
        self.apply_peer_message(
            m,
            (&r.psn_no, InstitutionLevel::Unrated),
            |ctx, view| self.core.reverse_summary(&r.omsgid, &r.psn_no, ctx, view),
            |outcome| match &outcome.claim {
                Some(claim) => {
                    let done = xr::ReversalDone {
                        setl_id: claim.setl_id.clone(),
                        osetl_id: r.setl_id.clone(),
                        setl_time: xr::china_datetime(claim.setl_time),
                        medfee_sumamt: claim.amounts.medfee_sumamt,
                        fund_pay_sumamt: claim.amounts.fund_pay_sumamt,
                    };
                    (
                        self.peer_done(refmsgid, done.to_output(), received),
                        Some(crate::interregion::ledger_write(&insured_row(
                            claim, env, &r.omsgid,
                        ))),
                    )
                }
                // nothing was settled under omsgid: it is sealed now (the core's tombstone is
                // journaled with this answer), and the reversal refused
                None => (
                    self.peer_refusal(
                        200,
                        refmsgid,
                        "XR-REV-ABSENT",
                        "input.omsgid",
                        format!(
                            "message {} settled nothing here; it is sealed and will never settle",
                            r.omsgid
                        ),
                        received,
                    )
                    .body,
                    None,
                ),
            },
        )
        .await
    }

    /// A summary or reversal from a peer, applied to the core under the person's lock: a copy
    /// handled meanwhile is replayed; a refusal changes nothing; otherwise the answer `answer`
    /// makes is journaled with the core's changes and the extra write it gives (a ledger row)
    /// — unless it gives none and the core changed nothing (a quote), which is only answered.
    #[allow(clippy::type_complexity)]
    async fn apply_peer_message(
        &self,
        m: &PeerMessage<'_>,
        (psn_no, inst_level): (&str, InstitutionLevel),
        run: impl FnOnce(
            &medsettle_core::RequestCtx,
            &StoreCoreView<'_>,
        ) -> Result<medsettle_core::CoreOutcome, medsettle_core::CoreRefusal>,
        answer: impl FnOnce(&medsettle_core::CoreOutcome) -> (Vec<u8>, Option<StateWrite>),
    ) -> PeerAnswer {
        let PeerMessage {
            env,
            ns,
            key,
            body_sha256,
            refmsgid,
            received,
            ..
        } = *m;
        let appended = {
            let _guards = self.lock_shards(Some(shard_of(psn_no)));
            // a copy of this message handled while this one waited for the lock
            if let Some(repeat) = self.repeat_under_lock(ns, key, body_sha256, received) {
                repeat
            } else {
                let seed = self.seeds.for_record();
                let ctx = medsettle_core::RequestCtx {
                    msgid: env.msgid.clone(),
                    fixmedins_code: ns.to_owned(),
                    inst_level,
                    mdtrtarea_admvs: env.mdtrtarea_admvs,
                    now: received,
                    id_seed: seed.value,
                };
                let view = StoreCoreView::new(self.store.as_ref(), &self.persons);
                let outcome = match (run(&ctx, &view), view.failure()) {
                    (_, Some(f)) => Err(crate::national::view_refusal(f)),
                    (o, None) => o,
                };
                let outcome = match outcome {
                    Ok(o) => o,
                    Err(r) => {
                        tracing::info!(msgid = %env.msgid, code = r.code(), "peer message refused");
                        return self.core_refusal_to_peer(env, &r, refmsgid, received);
                    }
                };
                let (body, extra) = answer(&outcome);
                if extra.is_none() && outcome.changes.is_empty() {
                    return PeerAnswer {
                        status: 200,
                        body,
                        outcome: "ok",
                    };
                }
                let mut writes = state_writes(&outcome.changes, &view);
                writes.extend(extra);
                writes.extend(crate::national::seed_reservation_write(&seed));
                let appended = self.append_peer(m, body, outcome.claim.as_ref(), writes);
                if matches!(appended, Ok((_, _, "ok"))) {
                    self.seeds.journaled(seed);
                }
                appended
            }
        };
        self.durable_peer(appended, received).await
    }

    /// Under the person's lock: the stored answer of this key, if a copy of the message was
    /// handled meanwhile (the lookup before the lock missed it), or its conflict.
    fn repeat_under_lock(
        &self,
        ns: &str,
        key: &str,
        body_sha256: [u8; 32],
        received: OffsetDateTime,
    ) -> Option<Appended> {
        match self.store.lookup_idempotent(ns, key) {
            Ok(Some(entry)) if entry.body_sha256 == body_sha256 => {
                Some(Ok((self.store.current_ticket(), entry.answer, "replayed")))
            }
            Ok(Some(_)) => Some(Err(self.peer_refusal(
                409,
                "",
                xr::rule::ENV_MSGID_REUSED,
                "msgid",
                format!("message id {key} was already used with other bytes"),
                received,
            ))),
            Ok(None) => None,
            Err(e) => Some(Err(self.peer_refusal(
                503,
                "",
                "GW-UNAVAILABLE",
                "",
                e.to_string(),
                received,
            ))),
        }
    }

    /// A core refusal as the peer is told it: a message sealed by a status query is refused
    /// with the protocol's own rule (`XR-STAT-4`), the rest with the core's code.
    fn core_refusal_to_peer(
        &self,
        env: &xr::RequestEnvelope,
        r: &medsettle_core::CoreRefusal,
        refmsgid: &str,
        received: OffsetDateTime,
    ) -> PeerAnswer {
        if r.refusal_code() == Some(medsettle_core::RefusalCode::MsgidReversed)
            && let Ok(key) = env.idempotency_key()
        {
            let sealed = key.sealed();
            return self.peer_refusal(
                200,
                refmsgid,
                sealed.rule,
                &sealed.path,
                sealed.message,
                received,
            );
        }
        self.peer_refusal(200, refmsgid, r.code(), r.path(), r.to_string(), received)
    }

    async fn peer_status(&self, m: &PeerMessage<'_>, q: &xr::StatusQuery) -> PeerAnswer {
        let PeerMessage {
            env,
            ns,
            refmsgid,
            received,
            ..
        } = *m;
        let original_key = format!("{}:{}", q.oinfno.as_str(), q.omsgid);
        let stored = self
            .store
            .lookup_idempotent(ns, &original_key)
            .ok()
            .flatten();
        let view = StoreCoreView::new(self.store.as_ref(), &self.persons);
        let applied = stored.as_ref().and_then(|e| {
            xr::AnswerEnvelope::decode(&e.answer)
                .ok()
                .filter(|a| a.infcode == 0)
                .and_then(|a| a.output)
        });
        let state =
            |s: xr::StatusState, answer: Option<Value>| xr::StatusAnswer { state: s, answer };
        let status = match applied {
            Some(output) => {
                let reversed = view
                    .settlement_by_msgid(ns, &q.omsgid)
                    .is_some_and(|s| s.reversed_by.is_some());
                state(
                    if reversed {
                        xr::StatusState::Reversed
                    } else {
                        xr::StatusState::Applied
                    },
                    Some(output),
                )
            }
            None if view.tombstone(ns, &q.omsgid).is_some() => state(xr::StatusState::Sealed, None),
            None if q.seal && matches!(q.oinfno, xr::Infno::Xprv01 | xr::Infno::Xprv02) => {
                // seal it: journaled, so a late original is refused for good
                let appended = {
                    let _guards = self.lock_shards(None);
                    let ctx = medsettle_core::RequestCtx {
                        msgid: env.msgid.clone(),
                        fixmedins_code: ns.to_owned(),
                        inst_level: InstitutionLevel::Unrated,
                        mdtrtarea_admvs: env.mdtrtarea_admvs,
                        now: received,
                        id_seed: 0,
                    };
                    let view = StoreCoreView::new(self.store.as_ref(), &self.persons);
                    let o = self.core.seal_summary(&q.omsgid, "", &ctx, &view);
                    let writes = state_writes(&o.changes, &view);
                    let answer = self.peer_done(
                        refmsgid,
                        state(xr::StatusState::Sealed, None).to_output(),
                        received,
                    );
                    self.append_peer(m, answer, None, writes)
                };
                return self.durable_peer(appended, received).await;
            }
            None => state(xr::StatusState::Absent, None),
        };
        PeerAnswer {
            status: 200,
            body: self.peer_done(refmsgid, status.to_output(), received),
            outcome: "ok",
        }
    }

    /// Clearing statements, replies and prepayment notices: recorded (journaled, kept by
    /// sender and message) and acknowledged; the clearing reads them.
    async fn peer_clearing_in(&self, m: &PeerMessage<'_>, input: &xr::PeerRequest) -> PeerAnswer {
        let PeerMessage {
            env,
            ns,
            key,
            refmsgid,
            received,
            ..
        } = *m;
        let mut writes = Vec::new();
        let output = match input {
            xr::PeerRequest::Statement(s) => xr::StatementReceipt {
                received_rows: u32::try_from(s.lines.len()).unwrap_or(u32::MAX),
            }
            .to_output(),
            // the statement's sender answers a reply from the lines it sent
            xr::PeerRequest::Reply(r) => {
                let lines = match self.statement_sent(&r.stmt_id) {
                    Ok(lines) if !lines.is_empty() => lines,
                    Ok(_) => {
                        return self.peer_refusal(
                            200,
                            refmsgid,
                            xr::rule::CLR_UNKNOWN_SEQNO,
                            "input.stmt_id",
                            format!("no statement {} was sent from here", r.stmt_id),
                            received,
                        );
                    }
                    Err(e) => {
                        return self.peer_refusal(
                            503,
                            refmsgid,
                            "GW-UNAVAILABLE",
                            "",
                            e.to_string(),
                            received,
                        );
                    }
                };
                match xr::reply_answer(&lines, r) {
                    Ok(a) => {
                        writes.push(crate::interregion_clearing::received_reply_write(
                            r,
                            &a,
                            received.date(),
                        ));
                        a.to_output()
                    }
                    Err(refusal) => {
                        return self.peer_refusal(
                            200,
                            refmsgid,
                            refusal.rule,
                            &refusal.path,
                            refusal.message,
                            received,
                        );
                    }
                }
            }
            xr::PeerRequest::Prepayment(n) => {
                writes.push(crate::interregion_prepayment::received_notice_write(n, env));
                xr::PrepaymentAck.to_output()
            }
            _ => xr::PrepaymentAck.to_output(),
        };
        let mut skey = ns.as_bytes().to_vec();
        skey.push(0);
        skey.extend_from_slice(key.as_bytes());
        writes.push(StateWrite::put(
            SPACE_XR_CLEARING_IN,
            skey,
            serde_json::to_vec(&env.input).expect("JSON serializes"),
        ));
        let answer = self.peer_done(refmsgid, output, received);
        let appended = self.append_peer(m, answer, None, writes);
        self.durable_peer(appended, received).await
    }

    /// The lines of a clearing statement this gateway sent (every page of it).
    pub(crate) fn statement_sent(
        &self,
        stmt_id: &str,
    ) -> Result<Vec<xr::StatementLine>, medsettle_store::StoreError> {
        let mut lines = Vec::new();
        let mut prefix = stmt_id.as_bytes().to_vec();
        prefix.push(0);
        for item in self.store.scan_prefix(SPACE_XR_CLEARING_OUT, &prefix)? {
            let (_, v) = item?;
            let Ok(input) = serde_json::from_slice::<Value>(&v) else {
                continue;
            };
            if let Ok(xr::PeerRequest::Statement(s)) = xr::decode_input(xr::Infno::Xprv21, &input) {
                lines.extend(s.lines);
            }
        }
        Ok(lines)
    }
}

/// This side's ledger row (the insured place's) of a claim a peer message made.
fn insured_row(claim: &SettledClaim, env: &xr::RequestEnvelope, omsgid: &str) -> LedgerRow {
    LedgerRow::of_claim(
        claim,
        crate::interregion::RowOf {
            omsgid,
            msgid: &env.msgid,
            side: "insured",
            peer_setl_id: "",
            insuplc_admdvs: env.insuplc_admdvs.to_string(),
            mdtrtarea_admvs: env.mdtrtarea_admvs.to_string(),
        },
    )
}
