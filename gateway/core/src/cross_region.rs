//! Cross-region settlement (`DESIGN.md` F4) in the core, both sides of it.
//!
//! **Place of treatment.** A person insured in a peer region is not in this gateway's
//! registry. Their visit is opened here all the same ([`Visit::remote_insuplc_admdvs`]), their
//! fee lines are classified against **this** place's catalogue and price caps, and when the
//! HIS settles, [`Core::handle_cross_region`] does not compute a split: it returns a
//! [`SummaryDraft`] — the visit summarised by fee category (大类费用) — for the caller to send to
//! the insured place. With the insured place's answer, [`Core::finish_cross_region`] makes
//! the settlement record exactly as a local one (same claim shape, fee lines marked settled),
//! but with no accumulator or account change here: those are the insured place's.
//!
//! **Insured place.** [`Core::settle_summary`] settles a peer's summary under this place's
//! policy and the person's accumulators (`legacy-and-cross-region.md` §4.3, §5.3), and
//! [`Core::reverse_summary`] reverses one. A summary is keyed like a HIS request by
//! (institution, msgid) — the treatment institution's code and the peer's message id — so
//! the msgid index, reuse refusal and tombstones work unchanged.

use medsettle_canonical::{
    Admdvs, ClaimKind, FundLine, InstitutionLevel, Person, Ratio, SettledClaim, SettlementAmounts,
    check_identities, check_reversal_of, describe,
};
use serde::{Deserialize, Serialize};

use crate::calc::{Accumulator, AccumulatorDelta, CategorySummaryLine, FeeTotals, SplitInput};
use crate::error::{CoreRefusal, RefusalCode};
use crate::processor::{
    Core, CoreOutcome, RequestCtx, china, interface_time, person_or_refuse, refuse,
    refuse_reversed_msgid, setlinfo,
};
use crate::state::{
    CoreView, FeeLineRecord, PeerRef, SettlementRecord, StateChange, Tombstone, Visit, VisitKind,
};
use crate::txn::{CoreAnswer, CoreRequest, Req2601, ReqCancelSettlement, SettleReq};

/// What the place of treatment asks the insured place: one visit's fees by category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryDraft {
    /// The HIS transaction being answered (2206, 2207, 2303, 2304).
    pub infno: String,
    /// `false` for a pre-settlement: the insured place computes and changes nothing.
    pub final_settlement: bool,
    pub kind: VisitKind,
    pub insuplc_admdvs: Admdvs,
    pub mdtrtarea_admvs: Admdvs,
    pub mdtrt_id: String,
    pub psn_no: String,
    /// The ID number the HIS presented, when it is one (`mdtrt_cert_type` 02).
    pub certno: Option<String>,
    pub mdtrt_cert_type: Option<String>,
    pub insutype: String,
    pub med_type: String,
    pub fixmedins_code: String,
    pub inst_level: InstitutionLevel,
    pub begntime: String,
    pub endtime: Option<String>,
    pub acct_used: bool,
    pub psn_setlway: Option<String>,
    /// The visit's totals as this place classified them (the summary's `medfee_sumamt`).
    pub totals: FeeTotals,
    /// One line per fee category present, in category order.
    pub lines: Vec<CategorySummaryLine>,
    /// The fee lines the settlement covers.
    pub feedetl_sn: Vec<String>,
}

/// A reversal the insured place must make before this place records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalDraft {
    /// The HIS transaction being answered (2208, 2305, 2601).
    pub infno: String,
    pub original: SettlementRecord,
    /// How the insured place knows the original.
    pub peer: PeerRef,
}

/// The core's next step for a request about a person insured in a peer region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrossStep {
    /// Answered here (visits, fee detail, sign-in…), as for a local person.
    Done(Box<CoreOutcome>),
    /// The insured place must split the summary ([`Core::finish_cross_region`]).
    Summary(Box<SummaryDraft>),
    /// The insured place must reverse its settlement ([`Core::finish_cross_region_reversal`]).
    Reversal(Box<ReversalDraft>),
}

/// The insured place's answer to a summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSplit {
    /// The insured place's settlement id (empty for a pre-settlement).
    pub setl_id: String,
    /// The message the summary went under.
    pub msgid: String,
    pub psn_name: Option<String>,
    pub psn_type: Option<String>,
    pub clr_optins: Option<String>,
    pub amounts: SettlementAmounts,
    pub setldetail: Vec<FundLine>,
}

/// A peer's summary as the insured place settles it ([`Core::settle_summary`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryIn {
    pub final_settlement: bool,
    /// The treatment institution: the claim's `fixmedins_code`. (The request context's
    /// `fixmedins_code` is the namespace of the peer's message ids, e.g. `peer:990100`.)
    pub fixmedins_code: String,
    pub mdtrt_id: String,
    pub psn_no: String,
    pub certno: Option<String>,
    pub insutype: String,
    pub med_type: String,
    pub acct_used: bool,
    pub medfee_sumamt: medsettle_canonical::Money,
    pub lines: Vec<CategorySummaryLine>,
}

/// `med_type` of an inpatient stay (住院): the summary's kind of visit follows it.
const MED_TYPE_INPATIENT: &str = "21";

fn split_mismatch(path: &str, message: String) -> CoreRefusal {
    refuse(RefusalCode::PeerSplitMismatch, path, message)
}

/// The visit's unsettled lines summarised by fee category. A line's own-pay part
/// (`fulamt_ownpay_amt`) and the part above this place's price cap (`overlmt_amt`) are 自费
/// in the summary: the cap is the place of treatment's (§4.1), so the insured place never
/// sees the over-cap amount as in scope. The rest is 甲类 or 乙类 by the line's level; the
/// insured place applies its own 乙类 proportion to `clab_amt`.
pub fn summarise(lines: &[FeeLineRecord]) -> Vec<CategorySummaryLine> {
    let mut by_category: std::collections::BTreeMap<_, CategorySummaryLine> = Default::default();
    for l in lines {
        let s = &l.split;
        let entry = by_category
            .entry(s.med_chrgitm_type)
            .or_insert_with(|| CategorySummaryLine {
                med_chrgitm: s.med_chrgitm_type,
                amt: Default::default(),
                claa_sumfee: Default::default(),
                clab_amt: Default::default(),
                fulamt_ownpay_amt: Default::default(),
                oth_amt: Default::default(),
            });
        let own = s.fulamt_ownpay_amt + s.overlmt_amt;
        let rest = s.det_item_fee_sumamt - own;
        entry.amt += s.det_item_fee_sumamt;
        entry.fulamt_ownpay_amt += own;
        match s.chrgitm_lv {
            medsettle_canonical::ChargeLevel::ClassA => entry.claa_sumfee += rest,
            medsettle_canonical::ChargeLevel::ClassB => entry.clab_amt += rest,
            // 丙类 lines are own-pay whole
            medsettle_canonical::ChargeLevel::SelfPay => entry.fulamt_ownpay_amt += rest,
        }
    }
    by_category.into_values().collect()
}

impl Core {
    /// The local scheme's 乙类 proportion, shown on a cross-region visit's fee-line answers.
    pub(crate) fn local_preselfpay_prop(&self, insutype: &str, ctx: &RequestCtx) -> Ratio {
        self.policy()
            .find(&ctx.mdtrtarea_admvs, insutype, china(ctx.now).date())
            .map_or(Ratio::ZERO, |s| s.preselfpay_prop_default)
    }

    /// Handle a request whose envelope names a peer region as the insured place.
    pub fn handle_cross_region(
        &self,
        req: CoreRequest,
        ctx: &RequestCtx,
        insuplc_admdvs: Admdvs,
        view: &dyn CoreView,
    ) -> Result<CrossStep, CoreRefusal> {
        refuse_reversed_msgid(ctx, view)?;
        crate::plausible::check_request(&req, ctx)?;
        let done = |o: CoreOutcome| Ok(CrossStep::Done(Box::new(o)));
        match req {
            CoreRequest::PersonInfo(_) => Err(refuse(
                RefusalCode::CrossRegion,
                "insuplc_admdvs",
                format!(
                    "the person is insured at {insuplc_admdvs}, a peer region: person information is that region's (ask it through the national platform); this gateway opens the visit with the psn_no it gave"
                ),
            )),
            CoreRequest::Register(r) => done(self.new_visit(
                ctx,
                view,
                VisitKind::Outpatient,
                (&r.psn_no, &r.insutype, None),
                (&r.ipt_otp_no, &r.begntime),
                Some(insuplc_admdvs),
            )?),
            CoreRequest::Admit(r) => done(self.new_visit(
                ctx,
                view,
                VisitKind::Inpatient,
                (&r.psn_no, &r.insutype, Some(&r.med_type)),
                (&r.ipt_no, &r.begntime),
                Some(insuplc_admdvs),
            )?),
            CoreRequest::OutpatientPreSettle(r) => {
                self.summary_draft(&r, ctx, view, VisitKind::Outpatient, "2206", false)
            }
            CoreRequest::OutpatientSettle(r) => {
                self.summary_draft(&r, ctx, view, VisitKind::Outpatient, "2207", true)
            }
            CoreRequest::InpatientPreSettle(r) => {
                self.summary_draft(&r, ctx, view, VisitKind::Inpatient, "2303", false)
            }
            CoreRequest::InpatientSettle(r) => {
                self.summary_draft(&r, ctx, view, VisitKind::Inpatient, "2304", true)
            }
            CoreRequest::OutpatientSettleCancel(r) => self.reversal_draft(&r, ctx, view, "2208"),
            CoreRequest::InpatientSettleCancel(r) => self.reversal_draft(&r, ctx, view, "2305"),
            CoreRequest::Reverse(r) => self.reversal_by_msgid_draft(r, ctx, view),
            // visits, fee detail and sign-in need no person: the local path serves them
            other => done(self.handle(other, ctx, view)?),
        }
    }

    /// The remote visit of `mdtrt_id`, checked like a local one and to be insured at
    /// `insuplc_admdvs`.
    fn remote_visit(
        &self,
        ctx: &RequestCtx,
        view: &dyn CoreView,
        (mdtrt_id, psn_no): (&str, &str),
        kind: VisitKind,
    ) -> Result<(Visit, Admdvs), CoreRefusal> {
        let visit = self.open_visit_of(ctx, view, mdtrt_id, psn_no, kind, "input.data")?;
        match visit.remote_insuplc_admdvs {
            Some(insuplc) => Ok((visit, insuplc)),
            None => Err(refuse(
                RefusalCode::CrossRegion,
                "insuplc_admdvs",
                format!(
                    "visit {mdtrt_id} is of a person insured here; the request names another insured place"
                ),
            )),
        }
    }

    fn summary_draft(
        &self,
        r: &SettleReq,
        ctx: &RequestCtx,
        view: &dyn CoreView,
        kind: VisitKind,
        infno: &str,
        final_settlement: bool,
    ) -> Result<CrossStep, CoreRefusal> {
        if final_settlement {
            self.refuse_reused_msgid(ctx, view)?;
        }
        let (visit, insuplc) = self.remote_visit(ctx, view, (&r.mdtrt_id, &r.psn_no), kind)?;
        let insutype = r.insutype.clone().unwrap_or_else(|| visit.insutype.clone());
        if insutype != visit.insutype {
            return Err(refuse(
                RefusalCode::InsutypeMismatch,
                "input.data.insutype",
                format!(
                    "visit {} is under {}, not {insutype}",
                    visit.mdtrt_id, visit.insutype
                ),
            ));
        }
        let med_type = r
            .med_type
            .clone()
            .or_else(|| visit.med_type.clone())
            .ok_or_else(|| {
                CoreRefusal::rule(
                    medsettle_canonical::RuleId::FMT_REQUIRED,
                    "input.data.med_type",
                    "med_type is required: registration did not fix it",
                )
            })?;
        let lines = self.lines_to_settle(r, view, kind)?;
        let totals = FeeTotals::from_lines(lines.iter().map(|l| &l.split));
        if let Some(sent) = r.medfee_sumamt
            && sent != totals.medfee_sumamt
        {
            return Err(refuse(
                RefusalCode::TotalsMismatch,
                "input.data.medfee_sumamt",
                format!(
                    "medfee_sumamt {sent} disagrees with the uploaded detail ({})",
                    totals.medfee_sumamt
                ),
            ));
        }
        let certno = crate::processor::checkable_id_number(
            r.mdtrt_cert_type.as_deref().unwrap_or_default(),
            r.mdtrt_cert_no.as_deref().unwrap_or_default(),
        )
        .map(str::to_owned);
        Ok(CrossStep::Summary(Box::new(SummaryDraft {
            infno: infno.to_owned(),
            final_settlement,
            kind,
            insuplc_admdvs: insuplc,
            mdtrtarea_admvs: visit.mdtrtarea_admvs,
            mdtrt_id: visit.mdtrt_id.clone(),
            psn_no: visit.psn_no.clone(),
            certno,
            mdtrt_cert_type: r.mdtrt_cert_type.clone(),
            insutype,
            med_type,
            fixmedins_code: visit.fixmedins_code.clone(),
            inst_level: visit.inst_level,
            begntime: visit.begntime.clone(),
            endtime: visit.endtime.clone(),
            acct_used: r.acct_used_flag,
            psn_setlway: r.psn_setlway.clone(),
            lines: summarise(&lines),
            totals,
            feedetl_sn: lines.iter().map(|l| l.feedetl_sn.clone()).collect(),
        })))
    }

    /// The unsettled lines a settlement request covers (a batch, or all), refused when none.
    fn lines_to_settle(
        &self,
        r: &SettleReq,
        view: &dyn CoreView,
        kind: VisitKind,
    ) -> Result<Vec<FeeLineRecord>, CoreRefusal> {
        let all_lines = view.fee_lines(&r.mdtrt_id);
        if kind == VisitKind::Inpatient
            && let Some(l) = all_lines.iter().find(|l| l.setl_id.is_some())
        {
            return Err(refuse(
                RefusalCode::VisitSettled,
                "input.data.mdtrt_id",
                format!(
                    "inpatient visit {} is already settled ({})",
                    r.mdtrt_id,
                    l.setl_id.as_deref().unwrap_or_default()
                ),
            ));
        }
        let batch = r
            .chrg_bchno
            .as_deref()
            .filter(|b| *b != "0000" && !b.is_empty());
        let lines: Vec<FeeLineRecord> = all_lines
            .into_iter()
            .filter(|l| l.setl_id.is_none())
            .filter(|l| batch.is_none_or(|b| l.chrg_bchno.as_deref() == Some(b)))
            .collect();
        if lines.is_empty() {
            return Err(refuse(
                RefusalCode::NoFeeDetail,
                "input.data.mdtrt_id",
                format!("visit {} has no unsettled fee detail to settle", r.mdtrt_id),
            ));
        }
        Ok(lines)
    }

    fn reversal_draft(
        &self,
        r: &ReqCancelSettlement,
        ctx: &RequestCtx,
        view: &dyn CoreView,
        infno: &str,
    ) -> Result<CrossStep, CoreRefusal> {
        let original = view.settlement(&r.setl_id).ok_or_else(|| {
            refuse(
                RefusalCode::ReversalUnknown,
                "input.data.setl_id",
                format!("no settlement {}", r.setl_id),
            )
        })?;
        if original.claim.mdtrt_id != r.mdtrt_id
            || original.claim.psn_no != r.psn_no
            || original.claim.fixmedins_code != ctx.fixmedins_code
        {
            return Err(refuse(
                RefusalCode::ReversalMismatch,
                "input.data.setl_id",
                format!(
                    "settlement {} is {}'s visit {} at {}",
                    r.setl_id,
                    original.claim.psn_no,
                    original.claim.mdtrt_id,
                    original.claim.fixmedins_code
                ),
            ));
        }
        self.peer_reversal(original, ctx, view, infno)
    }

    fn reversal_by_msgid_draft(
        &self,
        r: Req2601,
        ctx: &RequestCtx,
        view: &dyn CoreView,
    ) -> Result<CrossStep, CoreRefusal> {
        match view.settlement_by_msgid(&ctx.fixmedins_code, &r.omsgid) {
            Some(original) if original.peer.is_some() => {
                if original.claim.psn_no != r.psn_no {
                    return Err(refuse(
                        RefusalCode::ReversalMismatch,
                        "input.data.omsgid",
                        format!(
                            "msgid {} was for person {}, not {}",
                            r.omsgid, original.claim.psn_no, r.psn_no
                        ),
                    ));
                }
                self.peer_reversal(original, ctx, view, "2601")
            }
            // nothing settled under it here (or a local one): the local path answers and
            // closes the msgid
            _ => Ok(CrossStep::Done(Box::new(self.handle(
                CoreRequest::Reverse(r),
                ctx,
                view,
            )?))),
        }
    }

    fn peer_reversal(
        &self,
        original: SettlementRecord,
        ctx: &RequestCtx,
        view: &dyn CoreView,
        infno: &str,
    ) -> Result<CrossStep, CoreRefusal> {
        if original.claim.kind == ClaimKind::Reversal {
            return Err(refuse(
                RefusalCode::ReversalOfReversal,
                "input.data.setl_id",
                format!("{} is itself a reversal", original.claim.setl_id),
            ));
        }
        if let Some(by) = &original.reversed_by {
            return Err(refuse(
                RefusalCode::ReversalAlready,
                "input.data",
                format!(
                    "settlement {} was already reversed by {by}",
                    original.claim.setl_id
                ),
            ));
        }
        self.refuse_reused_msgid(ctx, view)?;
        let Some(peer) = original.peer.clone() else {
            return Err(refuse(
                RefusalCode::CrossRegion,
                "insuplc_admdvs",
                format!(
                    "settlement {} was settled here, not by a peer region",
                    original.claim.setl_id
                ),
            ));
        };
        Ok(CrossStep::Reversal(Box::new(ReversalDraft {
            infno: infno.to_owned(),
            original,
            peer,
        })))
    }

    /// Record the insured place's split of `draft` as this place's settlement (or, for a
    /// pre-settlement, only answer it). The visit's unsettled lines must still be the ones
    /// summarised: a visit that changed meanwhile is refused (the caller reverses the peer's).
    pub fn finish_cross_region(
        &self,
        draft: &SummaryDraft,
        split: &PeerSplit,
        ctx: &RequestCtx,
        view: &dyn CoreView,
    ) -> Result<CoreOutcome, CoreRefusal> {
        if split.amounts.medfee_sumamt != draft.totals.medfee_sumamt {
            return Err(split_mismatch(
                "setlinfo.medfee_sumamt",
                format!(
                    "the insured place split {} but the summary was {}",
                    split.amounts.medfee_sumamt, draft.totals.medfee_sumamt
                ),
            ));
        }
        let (visit, _) =
            self.remote_visit(ctx, view, (&draft.mdtrt_id, &draft.psn_no), draft.kind)?;
        let mut lines: Vec<FeeLineRecord> = view
            .fee_lines(&draft.mdtrt_id)
            .into_iter()
            .filter(|l| draft.feedetl_sn.contains(&l.feedetl_sn))
            .collect();
        if lines.len() != draft.feedetl_sn.len() || lines.iter().any(|l| l.setl_id.is_some()) {
            return Err(split_mismatch(
                "input.data.mdtrt_id",
                format!(
                    "visit {}'s unsettled detail changed while its insured place was asked",
                    draft.mdtrt_id
                ),
            ));
        }
        let setl_id = if draft.final_settlement {
            self.fresh_setl_id(ctx, view)?
        } else {
            String::new()
        };
        let clr_type = match draft.kind {
            VisitKind::Outpatient => "11",
            VisitKind::Inpatient => "21",
        };
        let claim = SettledClaim {
            kind: ClaimKind::Settlement,
            infno: draft.infno.clone(),
            msgid: ctx.msgid.clone(),
            setl_id: setl_id.clone(),
            mdtrt_id: visit.mdtrt_id.clone(),
            psn_no: visit.psn_no.clone(),
            psn_name: split.psn_name.clone(),
            fixmedins_code: ctx.fixmedins_code.clone(),
            fixmedins_name: None,
            mdtrtarea_admvs: visit.mdtrtarea_admvs,
            insuplc_admdvs: Some(draft.insuplc_admdvs),
            clr_optins: Some(
                split
                    .clr_optins
                    .clone()
                    .unwrap_or_else(|| draft.insuplc_admdvs.to_string()),
            ),
            insutype: draft.insutype.clone(),
            psn_type: split.psn_type.clone(),
            med_type: draft.med_type.clone(),
            clr_type: Some(clr_type.to_owned()),
            clr_way: Some(draft.psn_setlway.clone().unwrap_or_else(|| "01".to_owned())),
            setl_time: china(ctx.now),
            amounts: split.amounts.clone(),
            setldetail: split.setldetail.clone(),
            reversal_of: None,
        };
        let problems = check_identities(&claim, &Default::default()).errors;
        if !problems.is_empty() {
            return Err(split_mismatch("setlinfo", describe(&problems)));
        }
        let person = remote_person(&visit, draft, split);
        let info = setlinfo(
            &claim,
            &person,
            draft.mdtrt_cert_type.clone(),
            ctx,
            draft.final_settlement,
        );
        let answer = CoreAnswer::Settlement {
            setlinfo: Box::new(info),
            setldetail: claim.setldetail.clone(),
        };
        if !draft.final_settlement {
            return Ok(CoreOutcome {
                answer,
                changes: Vec::new(),
                claim: None,
                warnings: Vec::new(),
            });
        }
        let mut changes = vec![
            StateChange::PutSettlement(Box::new(SettlementRecord {
                claim: claim.clone(),
                year: china(ctx.now).year(),
                // the accumulators are the insured place's
                delta: AccumulatorDelta::default(),
                feedetl_sn: draft.feedetl_sn.clone(),
                reversed_by: None,
                peer: Some(PeerRef {
                    insuplc_admdvs: draft.insuplc_admdvs,
                    msgid: split.msgid.clone(),
                    setl_id: split.setl_id.clone(),
                }),
            })),
            StateChange::PutMsgidIndex {
                fixmedins_code: ctx.fixmedins_code.clone(),
                msgid: ctx.msgid.clone(),
                setl_id: setl_id.clone(),
            },
        ];
        for l in &mut lines {
            l.setl_id = Some(setl_id.clone());
        }
        changes.extend(lines.into_iter().map(StateChange::PutFeeLine));
        Ok(CoreOutcome {
            answer,
            changes,
            claim: Some(claim),
            warnings: Vec::new(),
        })
    }

    /// Record the reversal the insured place made (`peer_msgid`, its reversal
    /// `peer_setl_id`) of `draft.original`.
    pub fn finish_cross_region_reversal(
        &self,
        draft: &ReversalDraft,
        peer_msgid: &str,
        peer_setl_id: &str,
        ctx: &RequestCtx,
        view: &dyn CoreView,
    ) -> Result<CoreOutcome, CoreRefusal> {
        let mut original = view
            .settlement(&draft.original.claim.setl_id)
            .ok_or_else(|| {
                split_mismatch(
                    "input.data.setl_id",
                    format!("settlement {} vanished", draft.original.claim.setl_id),
                )
            })?;
        if original.reversed_by.is_some() {
            return Err(split_mismatch(
                "input.data.setl_id",
                format!(
                    "settlement {} was reversed meanwhile",
                    original.claim.setl_id
                ),
            ));
        }
        let setl_id = self.fresh_setl_id(ctx, view)?;
        let claim = original
            .claim
            .reversal(&draft.infno, &ctx.msgid, &setl_id, china(ctx.now));
        let mut problems = check_identities(&claim, &Default::default()).errors;
        problems.extend(check_reversal_of(&original.claim, &claim));
        assert!(
            problems.is_empty(),
            "a reversal broke an identity: {}",
            describe(&problems)
        );
        let original_id = original.claim.setl_id.clone();
        original.reversed_by = Some(setl_id.clone());
        let mut changes = vec![
            StateChange::PutSettlement(Box::new(original.clone())),
            StateChange::PutSettlement(Box::new(SettlementRecord {
                claim: claim.clone(),
                year: original.year,
                delta: AccumulatorDelta::default(),
                feedetl_sn: original.feedetl_sn.clone(),
                reversed_by: None,
                peer: Some(PeerRef {
                    insuplc_admdvs: draft.peer.insuplc_admdvs,
                    msgid: peer_msgid.to_owned(),
                    setl_id: peer_setl_id.to_owned(),
                }),
            })),
            StateChange::PutMsgidIndex {
                fixmedins_code: ctx.fixmedins_code.clone(),
                msgid: ctx.msgid.clone(),
                setl_id: setl_id.clone(),
            },
        ];
        for mut line in view.fee_lines(&original.claim.mdtrt_id) {
            if line.setl_id.as_deref() == Some(original_id.as_str()) {
                line.setl_id = None;
                changes.push(StateChange::PutFeeLine(line));
            }
        }
        let person = Person {
            psn_no: claim.psn_no.clone(),
            psn_name: claim.psn_name.clone().unwrap_or_default(),
            psn_cert_type: String::new(),
            certno: String::new(),
            gend: String::new(),
            naty: String::new(),
            brdy: String::new(),
            insutype: claim.insutype.clone(),
            psn_type: claim.psn_type.clone().unwrap_or_default(),
            insuplc_admdvs: draft.peer.insuplc_admdvs,
            cvlserv_flag: false,
        };
        let info = setlinfo(&claim, &person, None, ctx, true);
        Ok(CoreOutcome {
            answer: CoreAnswer::Settlement {
                setlinfo: Box::new(info),
                setldetail: claim.setldetail.clone(),
            },
            changes,
            claim: Some(claim),
            warnings: Vec::new(),
        })
    }

    // ------------------------------------------------------------ insured place

    /// Settle a peer's fee-category summary under this place's policy and the person's
    /// accumulators. `ctx.fixmedins_code` is the namespace of the peer's message ids, `ctx.msgid`
    /// the peer's message id, `ctx.mdtrtarea_admvs` the place of treatment, `ctx.inst_level` its level.
    pub fn settle_summary(
        &self,
        s: &SummaryIn,
        ctx: &RequestCtx,
        view: &dyn CoreView,
    ) -> Result<CoreOutcome, CoreRefusal> {
        refuse_reversed_msgid(ctx, view)?;
        if s.final_settlement {
            self.refuse_reused_msgid(ctx, view)?;
        }
        let person = person_or_refuse(view, &s.psn_no, "input.summary.psn_no")?;
        if let Some(certno) = &s.certno
            && !certno.eq_ignore_ascii_case(&person.certno)
        {
            return Err(refuse(
                RefusalCode::CertMismatch,
                "input.summary.certno",
                format!("certno does not belong to psn_no {}", person.psn_no),
            ));
        }
        if person.insutype != s.insutype {
            return Err(refuse(
                RefusalCode::InsutypeMismatch,
                "input.summary.insutype",
                format!(
                    "person {} is insured under {}, not {}",
                    person.psn_no, person.insutype, s.insutype
                ),
            ));
        }
        let scheme = self.scheme_for(&person, &s.insutype, ctx)?;
        let totals = FeeTotals::from_summary(&s.lines, scheme.preselfpay_prop_default)?;
        if totals.medfee_sumamt != s.medfee_sumamt {
            return Err(CoreRefusal::rule(
                medsettle_canonical::RuleId::NHSA_ID_1,
                "input.summary.medfee_sumamt",
                format!(
                    "medfee_sumamt {} ≠ the categories' sum {}",
                    s.medfee_sumamt, totals.medfee_sumamt
                ),
            ));
        }
        let year = china(ctx.now).year();
        let acc = view
            .accumulator(&person.psn_no, year)
            .unwrap_or_else(|| Accumulator::zero(&person.psn_no, year));
        let split = crate::calc::compute_split(
            &SplitInput {
                scheme,
                med_type: &s.med_type,
                inst_level: ctx.inst_level,
                psn_type: &person.psn_type,
                cvlserv_flag: person.cvlserv_flag,
                relation: ctx.mdtrtarea_admvs.relation_to(&person.insuplc_admdvs),
                acct_used: s.acct_used,
                balance: view.balance(&person.psn_no),
            },
            &totals,
            &acc,
        )?;
        let inpatient = s.med_type == MED_TYPE_INPATIENT;
        let setl_id = if s.final_settlement {
            self.fresh_setl_id(ctx, view)?
        } else {
            String::new()
        };
        let claim = SettledClaim {
            kind: ClaimKind::Settlement,
            infno: if inpatient { "2304" } else { "2207" }.to_owned(),
            msgid: ctx.msgid.clone(),
            setl_id: setl_id.clone(),
            mdtrt_id: s.mdtrt_id.clone(),
            psn_no: person.psn_no.clone(),
            psn_name: Some(person.psn_name.clone()),
            fixmedins_code: s.fixmedins_code.clone(),
            fixmedins_name: None,
            mdtrtarea_admvs: ctx.mdtrtarea_admvs,
            insuplc_admdvs: Some(person.insuplc_admdvs),
            clr_optins: Some(scheme.admdvs.to_string()),
            insutype: s.insutype.clone(),
            psn_type: Some(person.psn_type.clone()),
            med_type: s.med_type.clone(),
            clr_type: Some(if inpatient { "21" } else { "11" }.to_owned()),
            clr_way: Some("01".to_owned()),
            setl_time: china(ctx.now),
            amounts: split.amounts.clone(),
            setldetail: split.setldetail.clone(),
            reversal_of: None,
        };
        let report = check_identities(&claim, &Default::default());
        assert!(
            report.errors.is_empty(),
            "the calculator broke an identity: {}",
            describe(&report.errors)
        );
        let info = setlinfo(&claim, &person, None, ctx, s.final_settlement);
        let answer = CoreAnswer::Settlement {
            setlinfo: Box::new(info),
            setldetail: claim.setldetail.clone(),
        };
        if !s.final_settlement {
            return Ok(CoreOutcome {
                answer,
                changes: Vec::new(),
                claim: None,
                warnings: split.warnings,
            });
        }
        let mut changes = vec![
            StateChange::PutSettlement(Box::new(SettlementRecord {
                claim: claim.clone(),
                year,
                delta: split.delta.clone(),
                feedetl_sn: Vec::new(),
                reversed_by: None,
                peer: None,
            })),
            StateChange::PutMsgidIndex {
                fixmedins_code: ctx.fixmedins_code.clone(),
                msgid: ctx.msgid.clone(),
                setl_id: setl_id.clone(),
            },
            StateChange::PutAccumulator(acc.plus(&split.delta)),
        ];
        if let Some(balc) = claim.amounts.balc
            && !claim.amounts.acct_pay.is_zero()
        {
            changes.push(StateChange::PutBalance {
                psn_no: person.psn_no.clone(),
                balc,
            });
        }
        Ok(CoreOutcome {
            answer,
            changes,
            claim: Some(claim),
            warnings: split.warnings,
        })
    }

    /// Reverse the settlement a peer's summary `omsgid` made (`ctx.msgid` is the reversal
    /// message). A summary never applied is closed instead (a [`Tombstone`]): it can no longer
    /// settle if it arrives late, and the answer says there was nothing to reverse.
    pub fn reverse_summary(
        &self,
        omsgid: &str,
        psn_no: &str,
        ctx: &RequestCtx,
        view: &dyn CoreView,
    ) -> Result<CoreOutcome, CoreRefusal> {
        // a reversal message sealed by a status query never applies, however late it comes
        refuse_reversed_msgid(ctx, view)?;
        match view.settlement_by_msgid(&ctx.fixmedins_code, omsgid) {
            Some(original) => {
                if original.claim.psn_no != psn_no {
                    return Err(refuse(
                        RefusalCode::ReversalMismatch,
                        "input.psn_no",
                        format!(
                            "message {omsgid} settled person {}, not {psn_no}",
                            original.claim.psn_no
                        ),
                    ));
                }
                if original.claim.kind == ClaimKind::Reversal {
                    return Err(refuse(
                        RefusalCode::ReversalOfReversal,
                        "input.omsgid",
                        format!("message {omsgid} was itself a reversal"),
                    ));
                }
                self.reverse(original, ctx, view, "XPRV02")
            }
            None => Ok(self.seal_summary(omsgid, psn_no, ctx, view)),
        }
    }

    /// Close a summary message id that never settled: a late arrival is refused
    /// (`CORE-MSGID-REVERSED`). A second seal keeps the first.
    pub fn seal_summary(
        &self,
        omsgid: &str,
        psn_no: &str,
        ctx: &RequestCtx,
        view: &dyn CoreView,
    ) -> CoreOutcome {
        let changes = match view.tombstone(&ctx.fixmedins_code, omsgid) {
            Some(_) => Vec::new(),
            None => vec![StateChange::PutTombstone(Tombstone {
                fixmedins_code: ctx.fixmedins_code.clone(),
                msgid: omsgid.to_owned(),
                oinfno: "XPRV01".to_owned(),
                psn_no: psn_no.to_owned(),
                reversed_by_msgid: ctx.msgid.clone(),
                reversed_at: interface_time(ctx.now),
            })],
        };
        CoreOutcome {
            answer: CoreAnswer::NothingToReverse {
                omsgid: omsgid.to_owned(),
                oinfno: "XPRV01".to_owned(),
            },
            changes,
            claim: None,
            warnings: Vec::new(),
        }
    }
}

/// The person as the place of treatment knows them: what the visit and the insured place's
/// answer say (the registry is the insured place's).
fn remote_person(visit: &Visit, draft: &SummaryDraft, split: &PeerSplit) -> Person {
    Person {
        psn_no: visit.psn_no.clone(),
        psn_name: split.psn_name.clone().unwrap_or_default(),
        psn_cert_type: draft.mdtrt_cert_type.clone().unwrap_or_default(),
        certno: draft.certno.clone().unwrap_or_default(),
        gend: String::new(),
        naty: String::new(),
        brdy: String::new(),
        insutype: visit.insutype.clone(),
        psn_type: split.psn_type.clone().unwrap_or_default(),
        insuplc_admdvs: draft.insuplc_admdvs,
        cvlserv_flag: false,
    }
}
