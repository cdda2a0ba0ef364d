//! The pure transaction processor: `(request, context, read-only state) → answer + changes`.
//!
//! Nothing here performs I/O or keeps state between calls. Everything a request changes comes
//! back as [`StateChange`]s, which the caller journals atomically before answering
//! (`DESIGN.md` invariant 2). A refusal changes nothing. Ids are minted from the caller's
//! per-request seed, so replaying a journaled request reproduces the same answer.

use std::collections::BTreeSet;

use medsettle_canonical::{
    CHINA_OFFSET, ClaimKind, IdentityPolicy, Person, Ratio, RuleId, SettledClaim, check_identities,
    check_reversal_of, describe,
};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::calc::{Accumulator, AccumulatorDelta, FeeTotals, SplitInput, compute_split};
use crate::catalogue::{Catalogue, classify_line};
use crate::error::{CoreRefusal, CoreWarning, RefusalCode};
use crate::policy::{PolicyBook, Scheme};
use crate::state::{
    CoreView, FeeLineRecord, SettlementRecord, SignInRecord, StateChange, Tombstone, Visit,
    VisitKind, VisitStatus,
};
use crate::txn::*;

/// The "all lines" wildcard of 2205 `chrg_bchno` and 2302 `feedetl_sn`.
const ALL_LINES: &str = "0000";

pub use crate::ctx::RequestCtx;

/// Everything a handled request produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreOutcome {
    pub answer: CoreAnswer,
    /// To be journaled atomically, in order.
    pub changes: Vec<StateChange>,
    /// The settled claim of 2207/2304, or the reversal claim of 2208/2305/2601.
    pub claim: Option<SettledClaim>,
    pub warnings: Vec<CoreWarning>,
}

impl CoreOutcome {
    fn answer(answer: CoreAnswer, changes: Vec<StateChange>) -> CoreOutcome {
        CoreOutcome {
            answer,
            changes,
            claim: None,
            warnings: Vec::new(),
        }
    }
}

/// The embedded settlement core: policy, catalogue and the identity policy answers must meet.
#[derive(Debug, Clone)]
pub struct Core {
    policy: PolicyBook,
    catalogue: Catalogue,
    identity_policy: IdentityPolicy,
}

pub(crate) fn china(now: OffsetDateTime) -> OffsetDateTime {
    now.to_offset(CHINA_OFFSET)
}

pub(crate) fn interface_time(now: OffsetDateTime) -> String {
    china(now)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .expect("formatting a valid date cannot fail")
}

pub(crate) fn refuse(code: RefusalCode, path: &str, message: impl Into<String>) -> CoreRefusal {
    CoreRefusal::core(code, path, message)
}

pub(crate) fn full_years(brdy: &str, now: OffsetDateTime) -> u32 {
    let Ok(birth) = crate::policy::parse_date("brdy", brdy) else {
        return 0;
    };
    let today = china(now).date();
    let mut years = today.year() - birth.year();
    if (today.month() as u8, today.day()) < (birth.month() as u8, birth.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

/// A request whose msgid a 2601 reversed before it arrived is refused, whatever it asks: the
/// HIS was told there was nothing to reverse and believes the msgid is dead.
pub(crate) fn refuse_reversed_msgid(
    ctx: &RequestCtx,
    view: &dyn CoreView,
) -> Result<(), CoreRefusal> {
    match view.tombstone(&ctx.fixmedins_code, &ctx.msgid) {
        None => Ok(()),
        Some(t) => Err(refuse(
            RefusalCode::MsgidReversed,
            "msgid",
            format!(
                "msgid {} was reversed by 2601 (msgid {}, oinfno {}) at {} before it arrived; nothing was done — a new request needs a new msgid",
                t.msgid, t.reversed_by_msgid, t.oinfno, t.reversed_at
            ),
        )),
    }
}

/// `mdtrt_cert_type` of a certificate number that is an ID number (居民身份证号码): the only type
/// the registry can check, as in 1101 (the registry is keyed by `certno`). The e-voucher (01,
/// a token issued by the platform) and the social-security card (03, a card number) are not
/// held by the registry and stay unchecked.
const CERT_TYPE_ID_NUMBER: &str = "02";

/// The shape of a mainland ID number: 18 characters (17 digits and a digit or `X` check
/// character) or the old 15 digits.
fn is_id_number_shape(s: &str) -> bool {
    let b = s.as_bytes();
    match b.len() {
        18 => {
            b[..17].iter().all(u8::is_ascii_digit)
                && (b[17].is_ascii_digit() || b[17] == b'X' || b[17] == b'x')
        }
        15 => b.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// The ID number a request's certificate names, if the registry can check it: type 02 only; an
/// empty number is "not sent"; a provincial `card|token` number is checked by the part before
/// the first `|`, and only when that part has the shape of an ID number (otherwise unchecked).
pub(crate) fn checkable_id_number<'a>(
    mdtrt_cert_type: &str,
    mdtrt_cert_no: &'a str,
) -> Option<&'a str> {
    if mdtrt_cert_type != CERT_TYPE_ID_NUMBER || mdtrt_cert_no.is_empty() {
        return None;
    }
    match mdtrt_cert_no.split_once('|') {
        Some((card, _token)) => is_id_number_shape(card).then_some(card),
        None => Some(mdtrt_cert_no),
    }
}

/// Issue 15: a certificate number of a checkable type must be the person's own. The refusal
/// does not say whom the number belongs to (or whether it belongs to anyone).
fn refuse_foreign_cert(
    person: &Person,
    mdtrt_cert_type: Option<&str>,
    mdtrt_cert_no: Option<&str>,
    path: &str,
) -> Result<(), CoreRefusal> {
    let (Some(cert_type), Some(cert_no)) = (mdtrt_cert_type, mdtrt_cert_no) else {
        return Ok(());
    };
    match checkable_id_number(cert_type, cert_no) {
        Some(id) if !id.eq_ignore_ascii_case(&person.certno) => Err(refuse(
            RefusalCode::CertMismatch,
            path,
            format!(
                "the ID number in mdtrt_cert_no (mdtrt_cert_type {cert_type}) does not belong to psn_no {}",
                person.psn_no
            ),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn person_or_refuse(
    view: &dyn CoreView,
    psn_no: &str,
    path: &str,
) -> Result<Person, CoreRefusal> {
    view.person(psn_no).ok_or_else(|| {
        refuse(
            RefusalCode::PersonUnknown,
            path,
            format!("no insured person {psn_no}"),
        )
    })
}

impl Core {
    pub fn new(policy: PolicyBook, catalogue: Catalogue) -> Core {
        Core {
            policy,
            catalogue,
            identity_policy: IdentityPolicy::default(),
        }
    }

    pub fn policy(&self) -> &PolicyBook {
        &self.policy
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Handle one request. `Err` means nothing changed.
    pub fn handle(
        &self,
        req: CoreRequest,
        ctx: &RequestCtx,
        view: &dyn CoreView,
    ) -> Result<CoreOutcome, CoreRefusal> {
        refuse_reversed_msgid(ctx, view)?;
        crate::plausible::check_request(&req, ctx)?;
        match req {
            CoreRequest::PersonInfo(r) => self.person_info(&r, ctx, view),
            CoreRequest::SignIn(r) => Ok(self.sign_in(&r, ctx)),
            CoreRequest::SignOut(r) => self.sign_out(&r, ctx, view),
            CoreRequest::Register(r) => self.open_visit(
                ctx,
                view,
                VisitKind::Outpatient,
                &r.psn_no,
                &r.insutype,
                (&r.mdtrt_cert_type, &r.mdtrt_cert_no),
                None,
                &r.ipt_otp_no,
                &r.begntime,
            ),
            CoreRequest::Admit(r) => self.open_visit(
                ctx,
                view,
                VisitKind::Inpatient,
                &r.psn_no,
                &r.insutype,
                (&r.mdtrt_cert_type, &r.mdtrt_cert_no),
                Some(&r.med_type),
                &r.ipt_no,
                &r.begntime,
            ),
            CoreRequest::CancelRegistration(r) => self.cancel_registration(&r, ctx, view),
            CoreRequest::Discharge(r) => self.discharge(&r, ctx, view),
            CoreRequest::OutpatientFees(lines) => {
                self.upload_fees(&lines, ctx, view, VisitKind::Outpatient)
            }
            CoreRequest::InpatientFees(lines) => {
                self.upload_fees(&lines, ctx, view, VisitKind::Inpatient)
            }
            CoreRequest::OutpatientFeesCancel(r) => {
                let select = (r.chrg_bchno != ALL_LINES).then_some(r.chrg_bchno.as_str());
                self.cancel_fees(ctx, view, &r.mdtrt_id, &r.psn_no, |l| {
                    select.is_none_or(|b| l.chrg_bchno.as_deref() == Some(b))
                })
            }
            CoreRequest::InpatientFeesCancel(entries) => {
                self.cancel_inpatient_fees(&entries, ctx, view)
            }
            CoreRequest::OutpatientPreSettle(r) => {
                self.settle(&r, ctx, view, VisitKind::Outpatient, "2206", false)
            }
            CoreRequest::OutpatientSettle(r) => {
                self.settle(&r, ctx, view, VisitKind::Outpatient, "2207", true)
            }
            CoreRequest::InpatientPreSettle(r) => {
                self.settle(&r, ctx, view, VisitKind::Inpatient, "2303", false)
            }
            CoreRequest::InpatientSettle(r) => {
                self.settle(&r, ctx, view, VisitKind::Inpatient, "2304", true)
            }
            CoreRequest::OutpatientSettleCancel(r) => {
                self.cancel_settlement(&r, ctx, view, "2208", "2207")
            }
            CoreRequest::InpatientSettleCancel(r) => {
                self.cancel_settlement(&r, ctx, view, "2305", "2304")
            }
            CoreRequest::Reverse(r) => self.reverse_by_msgid(&r, ctx, view),
        }
    }

    pub(crate) fn mint_id(&self, ctx: &RequestCtx) -> String {
        let t = china(ctx.now)
            .format(format_description!(
                "[year][month][day][hour][minute][second]"
            ))
            .expect("formatting a valid date cannot fail");
        format!(
            "{}{}{:010}",
            ctx.mdtrtarea_admvs,
            t,
            ctx.id_seed % 10_000_000_000
        )
    }

    pub(crate) fn scheme_for(
        &self,
        person: &Person,
        insutype: &str,
        ctx: &RequestCtx,
    ) -> Result<&Scheme, CoreRefusal> {
        let date = china(ctx.now).date();
        self.policy
            .find(&person.insuplc_admdvs, insutype, date)
            .ok_or_else(|| {
                refuse(
                    RefusalCode::PolicyNone,
                    "policy",
                    format!(
                        "no scheme for pool region {} insutype {insutype} on {date}",
                        person.insuplc_admdvs
                    ),
                )
            })
    }

    // ------------------------------------------------------------ 1101, 9001, 9002

    fn person_info(
        &self,
        r: &Req1101,
        ctx: &RequestCtx,
        view: &dyn CoreView,
    ) -> Result<CoreOutcome, CoreRefusal> {
        let cert = match (&r.certno, r.mdtrt_cert_type.as_str()) {
            (Some(c), _) if !c.is_empty() => c.as_str(),
            (_, "02") => r.mdtrt_cert_no.as_str(),
            (_, other) => {
                return Err(refuse(
                    RefusalCode::PersonUnknown,
                    "input.data.mdtrt_cert_type",
                    format!(
                        "mdtrt_cert_type {other} (e-voucher / card) needs certno: the registry is keyed by certificate number"
                    ),
                ));
            }
        };
        let person = view.person_by_cert(cert).ok_or_else(|| {
            refuse(
                RefusalCode::PersonUnknown,
                "input.data.certno",
                format!("no insured person with certificate {cert}"),
            )
        })?;
        if let Some(name) = &r.psn_name
            && !name.is_empty()
            && *name != person.psn_name
        {
            return Err(refuse(
                RefusalCode::PersonUnknown,
                "input.data.psn_name",
                "the name does not match the certificate",
            ));
        }
        let answer = CoreAnswer::PersonInfo {
            baseinfo: BaseInfo {
                psn_no: person.psn_no.clone(),
                psn_cert_type: person.psn_cert_type.clone(),
                certno: person.certno.clone(),
                psn_name: person.psn_name.clone(),
                gend: person.gend.clone(),
                naty: person.naty.clone(),
                brdy: person.brdy.clone(),
                age: full_years(&person.brdy, ctx.now),
            },
            insuinfo: vec![InsuInfo {
                balc: view.balance(&person.psn_no),
                insutype: person.insutype.clone(),
                psn_type: person.psn_type.clone(),
                psn_insu_stas: "1".to_owned(),
                cvlserv_flag: if person.cvlserv_flag { "1" } else { "0" }.to_owned(),
                emp_name: view.emp_name(&person.psn_no).unwrap_or_default(),
                insuplc_admdvs: person.insuplc_admdvs.to_string(),
            }],
        };
        Ok(CoreOutcome::answer(answer, Vec::new()))
    }

    fn sign_in(&self, r: &Req9001, ctx: &RequestCtx) -> CoreOutcome {
        let record = SignInRecord {
            sign_no: self.mint_id(ctx),
            opter_no: r.opter_no.clone(),
            fixmedins_code: ctx.fixmedins_code.clone(),
            sign_time: interface_time(ctx.now),
            signed_out: false,
        };
        CoreOutcome::answer(
            CoreAnswer::SignIn {
                sign_time: record.sign_time.clone(),
                sign_no: record.sign_no.clone(),
            },
            vec![StateChange::PutSignIn(record)],
        )
    }

    fn sign_out(
        &self,
        r: &Req9002,
        ctx: &RequestCtx,
        view: &dyn CoreView,
    ) -> Result<CoreOutcome, CoreRefusal> {
        let mut record = view
            .sign_in(&r.sign_no)
            .filter(|s| !s.signed_out && s.fixmedins_code == ctx.fixmedins_code)
            .ok_or_else(|| {
                refuse(
                    RefusalCode::SigninUnknown,
                    "input.signOut.sign_no",
                    format!(
                        "no open sign-in {} for institution {}",
                        r.sign_no, ctx.fixmedins_code
                    ),
                )
            })?;
        record.signed_out = true;
        Ok(CoreOutcome::answer(
            CoreAnswer::SignOut {
                sign_time: interface_time(ctx.now),
            },
            vec![StateChange::PutSignIn(record)],
        ))
    }

    // ------------------------------------------------------------ visits

    #[allow(clippy::too_many_arguments)]
    fn open_visit(
        &self,
        ctx: &RequestCtx,
        view: &dyn CoreView,
        kind: VisitKind,
        psn_no: &str,
        insutype: &str,
        (mdtrt_cert_type, mdtrt_cert_no): (&str, &str),
        med_type: Option<&str>,
        ipt_otp_no: &str,
        begntime: &str,
    ) -> Result<CoreOutcome, CoreRefusal> {
        let node = if kind == VisitKind::Inpatient {
            "mdtrtinfo"
        } else {
            "data"
        };
        let person = person_or_refuse(view, psn_no, &format!("input.{node}.psn_no"))?;
        refuse_foreign_cert(
            &person,
            Some(mdtrt_cert_type),
            Some(mdtrt_cert_no),
            &format!("input.{node}.mdtrt_cert_no"),
        )?;
        if person.insutype != insutype {
            return Err(refuse(
                RefusalCode::InsutypeMismatch,
                &format!("input.{node}.insutype"),
                format!(
                    "person {psn_no} is insured under {}, not {insutype}",
                    person.insutype
                ),
            ));
        }
        self.new_visit(
            ctx,
            view,
            kind,
            (psn_no, insutype, med_type),
            (ipt_otp_no, begntime),
            None,
        )
    }

    /// A new open visit of this institution under a freshly minted `mdtrt_id`; `remote` is the
    /// insured place when it is a peer region's (cross-region).
    pub(crate) fn new_visit(
        &self,
        ctx: &RequestCtx,
        view: &dyn CoreView,
        kind: VisitKind,
        (psn_no, insutype, med_type): (&str, &str, Option<&str>),
        (ipt_otp_no, begntime): (&str, &str),
        remote: Option<medsettle_canonical::Admdvs>,
    ) -> Result<CoreOutcome, CoreRefusal> {
        let mdtrt_id = self.mint_id(ctx);
        if view.visit(&mdtrt_id).is_some() {
            return Err(refuse(
                RefusalCode::IdCollision,
                "ctx.id_seed",
                format!("mdtrt_id {mdtrt_id} already exists"),
            ));
        }
        let visit = Visit {
            mdtrt_id: mdtrt_id.clone(),
            psn_no: psn_no.to_owned(),
            insutype: insutype.to_owned(),
            kind,
            med_type: med_type.map(str::to_owned),
            ipt_otp_no: ipt_otp_no.to_owned(),
            begntime: begntime.to_owned(),
            endtime: None,
            fixmedins_code: ctx.fixmedins_code.clone(),
            inst_level: ctx.inst_level,
            mdtrtarea_admvs: ctx.mdtrtarea_admvs,
            status: VisitStatus::Open,
            remote_insuplc_admdvs: remote,
        };
        Ok(CoreOutcome::answer(
            CoreAnswer::Visit {
                mdtrt_id,
                psn_no: psn_no.to_owned(),
                ipt_otp_no: ipt_otp_no.to_owned(),
            },
            vec![StateChange::PutVisit(visit)],
        ))
    }

    /// The visit, checked to be this institution's, this person's, of this kind and not
    /// cancelled.
    pub(crate) fn open_visit_of(
        &self,
        ctx: &RequestCtx,
        view: &dyn CoreView,
        mdtrt_id: &str,
        psn_no: &str,
        kind: VisitKind,
        path: &str,
    ) -> Result<Visit, CoreRefusal> {
        let visit = view.visit(mdtrt_id).ok_or_else(|| {
            refuse(
                RefusalCode::VisitUnknown,
                &format!("{path}.mdtrt_id"),
                format!("no visit {mdtrt_id}"),
            )
        })?;
        if visit.psn_no != psn_no
            || visit.fixmedins_code != ctx.fixmedins_code
            || visit.kind != kind
        {
            return Err(refuse(
                RefusalCode::VisitMismatch,
                &format!("{path}.mdtrt_id"),
                format!(
                    "visit {mdtrt_id} is a {:?} visit of person {} at {}, not a {kind:?} visit of {psn_no} at {}",
                    visit.kind, visit.psn_no, visit.fixmedins_code, ctx.fixmedins_code
                ),
            ));
        }
        if visit.status == VisitStatus::Cancelled {
            return Err(refuse(
                RefusalCode::VisitClosed,
                &format!("{path}.mdtrt_id"),
                format!("visit {mdtrt_id} was cancelled"),
            ));
        }
        Ok(visit)
    }

    fn cancel_registration(
        &self,
        r: &Req2202,
        ctx: &RequestCtx,
        view: &dyn CoreView,
    ) -> Result<CoreOutcome, CoreRefusal> {
        let mut visit = self.open_visit_of(
            ctx,
            view,
            &r.mdtrt_id,
            &r.psn_no,
            VisitKind::Outpatient,
            "input.data",
        )?;
        let lines = view.fee_lines(&r.mdtrt_id);
        if let Some(l) = lines.iter().find(|l| l.setl_id.is_some()) {
            return Err(refuse(
                RefusalCode::VisitSettled,
                "input.data.mdtrt_id",
                format!(
                    "visit {} has settlement {}; reverse it (2208) before cancelling",
                    r.mdtrt_id,
                    l.setl_id.as_deref().unwrap_or_default()
                ),
            ));
        }
        let mut changes: Vec<StateChange> = lines
            .into_iter()
            .map(|l| StateChange::DeleteFeeLine {
                mdtrt_id: l.mdtrt_id,
                feedetl_sn: l.feedetl_sn,
            })
            .collect();
        visit.status = VisitStatus::Cancelled;
        changes.push(StateChange::PutVisit(visit));
        Ok(CoreOutcome::answer(CoreAnswer::Done, changes))
    }

    fn discharge(
        &self,
        r: &Req2402,
        ctx: &RequestCtx,
        view: &dyn CoreView,
    ) -> Result<CoreOutcome, CoreRefusal> {
        let mut visit = self.open_visit_of(
            ctx,
            view,
            &r.mdtrt_id,
            &r.psn_no,
            VisitKind::Inpatient,
            "input.dscginfo",
        )?;
        visit.status = VisitStatus::Discharged;
        visit.endtime = Some(r.endtime.clone());
        Ok(CoreOutcome::answer(
            CoreAnswer::Done,
            vec![StateChange::PutVisit(visit)],
        ))
    }

    // ------------------------------------------------------------ fee detail

    fn upload_fees(
        &self,
        lines: &[FeeDetailIn],
        ctx: &RequestCtx,
        view: &dyn CoreView,
        kind: VisitKind,
    ) -> Result<CoreOutcome, CoreRefusal> {
        let mut changes = Vec::new();
        let mut result = Vec::new();
        let mut warnings = Vec::new();
        let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
        // visits are few per request; look each up once
        let mut visits: Vec<(Visit, Vec<FeeLineRecord>, Ratio)> = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let path = format!("input.feedetail[{i}]");
            if !visits.iter().any(|(v, _, _)| v.mdtrt_id == line.mdtrt_id) {
                let visit =
                    self.open_visit_of(ctx, view, &line.mdtrt_id, &line.psn_no, kind, &path)?;
                let existing = view.fee_lines(&line.mdtrt_id);
                if kind == VisitKind::Inpatient && existing.iter().any(|l| l.setl_id.is_some()) {
                    return Err(refuse(
                        RefusalCode::VisitSettled,
                        &format!("{path}.mdtrt_id"),
                        format!(
                            "inpatient visit {} is settled; reverse it (2305) first",
                            line.mdtrt_id
                        ),
                    ));
                }
                let preselfpay_prop = match visit.remote_insuplc_admdvs {
                    // The insured place applies its own 乙类 proportion to the summary; the
                    // line answer shows this place's, or none when this place has no scheme.
                    Some(_) => self.local_preselfpay_prop(&visit.insutype, ctx),
                    None => {
                        let person =
                            person_or_refuse(view, &visit.psn_no, &format!("{path}.psn_no"))?;
                        self.scheme_for(&person, &visit.insutype, ctx)?
                            .preselfpay_prop_default
                    }
                };
                visits.push((visit, existing, preselfpay_prop));
            }
            let (visit, existing, preselfpay_prop) = visits
                .iter()
                .find(|(v, _, _)| v.mdtrt_id == line.mdtrt_id)
                .expect("just inserted");
            if visit.psn_no != line.psn_no {
                return Err(refuse(
                    RefusalCode::VisitMismatch,
                    &format!("{path}.psn_no"),
                    format!("visit {} is not person {}'s", visit.mdtrt_id, line.psn_no),
                ));
            }
            let key = (line.mdtrt_id.clone(), line.feedetl_sn.clone());
            if existing.iter().any(|l| l.feedetl_sn == line.feedetl_sn) || !seen.insert(key) {
                return Err(refuse(
                    RefusalCode::FeeDuplicate,
                    &format!("{path}.feedetl_sn"),
                    format!(
                        "feedetl_sn {} already exists on visit {}",
                        line.feedetl_sn, line.mdtrt_id
                    ),
                ));
            }
            let (split, warning) = classify_line(
                &self.catalogue,
                *preselfpay_prop,
                &path,
                &line.med_list_codg,
                line.cnt,
                line.pric,
                line.det_item_fee_sumamt,
            )?;
            warnings.extend(warning);
            result.push(FeeDetailResult {
                feedetl_sn: line.feedetl_sn.clone(),
                split: split.clone(),
            });
            changes.push(StateChange::PutFeeLine(FeeLineRecord {
                mdtrt_id: line.mdtrt_id.clone(),
                feedetl_sn: line.feedetl_sn.clone(),
                chrg_bchno: line.chrg_bchno.clone(),
                init_feedetl_sn: line.init_feedetl_sn.clone(),
                med_list_codg: line.med_list_codg.clone(),
                medins_list_codg: line.medins_list_codg.clone(),
                fee_ocur_time: line.fee_ocur_time.clone(),
                split,
                setl_id: None,
            }));
        }
        let mut outcome = CoreOutcome::answer(CoreAnswer::FeeResults { result }, changes);
        outcome.warnings = warnings;
        Ok(outcome)
    }

    fn cancel_fees(
        &self,
        ctx: &RequestCtx,
        view: &dyn CoreView,
        mdtrt_id: &str,
        psn_no: &str,
        selected: impl Fn(&FeeLineRecord) -> bool,
    ) -> Result<CoreOutcome, CoreRefusal> {
        self.open_visit_of(
            ctx,
            view,
            mdtrt_id,
            psn_no,
            VisitKind::Outpatient,
            "input.data",
        )?;
        let chosen: Vec<FeeLineRecord> = view
            .fee_lines(mdtrt_id)
            .into_iter()
            .filter(|l| selected(l))
            .collect();
        if chosen.is_empty() {
            return Err(refuse(
                RefusalCode::FeeUnknown,
                "input.data.chrg_bchno",
                format!("visit {mdtrt_id} has no fee lines in that batch"),
            ));
        }
        let unsettled: Vec<&FeeLineRecord> =
            chosen.iter().filter(|l| l.setl_id.is_none()).collect();
        if unsettled.is_empty() {
            return Err(refuse(
                RefusalCode::FeeSettled,
                "input.data.chrg_bchno",
                "every line of that batch is settled; reverse the settlement (2208) first",
            ));
        }
        Ok(CoreOutcome::answer(
            CoreAnswer::FeesCancelled {
                feedetl_sn: unsettled.iter().map(|l| l.feedetl_sn.clone()).collect(),
            },
            unsettled
                .iter()
                .map(|l| StateChange::DeleteFeeLine {
                    mdtrt_id: l.mdtrt_id.clone(),
                    feedetl_sn: l.feedetl_sn.clone(),
                })
                .collect(),
        ))
    }

    fn cancel_inpatient_fees(
        &self,
        entries: &[Req2302],
        ctx: &RequestCtx,
        view: &dyn CoreView,
    ) -> Result<CoreOutcome, CoreRefusal> {
        let mut removed: Vec<(String, String)> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let path = format!("input.data[{i}]");
            self.open_visit_of(
                ctx,
                view,
                &e.mdtrt_id,
                &e.psn_no,
                VisitKind::Inpatient,
                &path,
            )?;
            let lines = view.fee_lines(&e.mdtrt_id);
            if e.feedetl_sn == ALL_LINES {
                removed.extend(
                    lines
                        .iter()
                        .filter(|l| l.setl_id.is_none())
                        .map(|l| (l.mdtrt_id.clone(), l.feedetl_sn.clone())),
                );
                continue;
            }
            let line = lines
                .iter()
                .find(|l| l.feedetl_sn == e.feedetl_sn)
                .ok_or_else(|| {
                    refuse(
                        RefusalCode::FeeUnknown,
                        &format!("{path}.feedetl_sn"),
                        format!("no fee line {} on visit {}", e.feedetl_sn, e.mdtrt_id),
                    )
                })?;
            if line.setl_id.is_some() {
                return Err(refuse(
                    RefusalCode::FeeSettled,
                    &format!("{path}.feedetl_sn"),
                    format!(
                        "fee line {} is settled; reverse the settlement (2305) first",
                        e.feedetl_sn
                    ),
                ));
            }
            removed.push((line.mdtrt_id.clone(), line.feedetl_sn.clone()));
        }
        removed.sort();
        removed.dedup();
        Ok(CoreOutcome::answer(
            CoreAnswer::FeesCancelled {
                feedetl_sn: removed.iter().map(|(_, sn)| sn.clone()).collect(),
            },
            removed
                .into_iter()
                .map(|(mdtrt_id, feedetl_sn)| StateChange::DeleteFeeLine {
                    mdtrt_id,
                    feedetl_sn,
                })
                .collect(),
        ))
    }

    // ------------------------------------------------------------ settlement

    pub(crate) fn refuse_reused_msgid(
        &self,
        ctx: &RequestCtx,
        view: &dyn CoreView,
    ) -> Result<(), CoreRefusal> {
        if let Some(s) = view.settlement_by_msgid(&ctx.fixmedins_code, &ctx.msgid) {
            return Err(refuse(
                RefusalCode::MsgidReused,
                "msgid",
                format!("msgid {} already produced {}", ctx.msgid, s.claim.setl_id),
            ));
        }
        Ok(())
    }

    pub(crate) fn fresh_setl_id(
        &self,
        ctx: &RequestCtx,
        view: &dyn CoreView,
    ) -> Result<String, CoreRefusal> {
        let id = self.mint_id(ctx);
        if view.settlement(&id).is_some() {
            return Err(refuse(
                RefusalCode::IdCollision,
                "ctx.id_seed",
                format!("setl_id {id} already exists"),
            ));
        }
        Ok(id)
    }

    fn settle(
        &self,
        r: &SettleReq,
        ctx: &RequestCtx,
        view: &dyn CoreView,
        kind: VisitKind,
        infno: &str,
        final_settlement: bool,
    ) -> Result<CoreOutcome, CoreRefusal> {
        if final_settlement {
            self.refuse_reused_msgid(ctx, view)?;
        }
        let visit = self.open_visit_of(ctx, view, &r.mdtrt_id, &r.psn_no, kind, "input.data")?;
        if let Some(insuplc) = visit.remote_insuplc_admdvs {
            return Err(refuse(
                RefusalCode::CrossRegion,
                "insuplc_admdvs",
                format!(
                    "visit {} is of a person insured at {insuplc}: it is settled by that region, so the request must name it as insuplc_admdvs",
                    visit.mdtrt_id
                ),
            ));
        }
        let person = person_or_refuse(view, &r.psn_no, "input.data.psn_no")?;
        refuse_foreign_cert(
            &person,
            r.mdtrt_cert_type.as_deref(),
            r.mdtrt_cert_no.as_deref(),
            "input.data.mdtrt_cert_no",
        )?;
        let insutype = r.insutype.clone().unwrap_or_else(|| visit.insutype.clone());
        if insutype != person.insutype || insutype != visit.insutype {
            return Err(refuse(
                RefusalCode::InsutypeMismatch,
                "input.data.insutype",
                format!(
                    "person {} is insured under {} (visit under {}), not {insutype}",
                    person.psn_no, person.insutype, visit.insutype
                ),
            ));
        }
        let med_type = r
            .med_type
            .clone()
            .or_else(|| visit.med_type.clone())
            .ok_or_else(|| {
                CoreRefusal::rule(
                    RuleId::FMT_REQUIRED,
                    "input.data.med_type",
                    "med_type is required: registration did not fix it",
                )
            })?;

        let all_lines = view.fee_lines(&r.mdtrt_id);
        if kind == VisitKind::Inpatient
            && let Some(l) = all_lines.iter().find(|l| l.setl_id.is_some())
        {
            return Err(refuse(
                RefusalCode::VisitSettled,
                "input.data.mdtrt_id",
                format!(
                    "inpatient visit {} is already settled ({}); mid-stay settlement is not supported",
                    r.mdtrt_id,
                    l.setl_id.as_deref().unwrap_or_default()
                ),
            ));
        }
        let batch = r
            .chrg_bchno
            .as_deref()
            .filter(|b| *b != ALL_LINES && !b.is_empty());
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
        let totals = FeeTotals::from_lines(lines.iter().map(|l| &l.split));
        for (field, sent, computed) in [
            ("medfee_sumamt", r.medfee_sumamt, totals.medfee_sumamt),
            (
                "fulamt_ownpay_amt",
                r.fulamt_ownpay_amt,
                totals.fulamt_ownpay_amt,
            ),
            ("overlmt_selfpay", r.overlmt_selfpay, totals.overlmt_selfpay),
            ("preselfpay_amt", r.preselfpay_amt, totals.preselfpay_amt),
            ("inscp_scp_amt", r.inscp_scp_amt, totals.inscp_scp_amt),
        ] {
            if let Some(sent) = sent
                && sent != computed
            {
                return Err(refuse(
                    RefusalCode::TotalsMismatch,
                    &format!("input.data.{field}"),
                    format!("{field} {sent} disagrees with the uploaded detail ({computed})"),
                ));
            }
        }

        let scheme = self.scheme_for(&person, &insutype, ctx)?;
        let year = china(ctx.now).year();
        let acc = view
            .accumulator(&person.psn_no, year)
            .unwrap_or_else(|| Accumulator::zero(&person.psn_no, year));
        let split = compute_split(
            &SplitInput {
                scheme,
                med_type: &med_type,
                inst_level: visit.inst_level,
                psn_type: &person.psn_type,
                cvlserv_flag: person.cvlserv_flag,
                relation: visit.mdtrtarea_admvs.relation_to(&person.insuplc_admdvs),
                acct_used: r.acct_used_flag,
                balance: view.balance(&person.psn_no),
            },
            &totals,
            &acc,
        )?;

        let setl_id = if final_settlement {
            self.fresh_setl_id(ctx, view)?
        } else {
            String::new()
        };
        let clr_type = match kind {
            VisitKind::Outpatient => "11",
            VisitKind::Inpatient => "21",
        };
        let claim = SettledClaim {
            kind: ClaimKind::Settlement,
            infno: infno.to_owned(),
            msgid: ctx.msgid.clone(),
            setl_id: setl_id.clone(),
            mdtrt_id: visit.mdtrt_id.clone(),
            psn_no: person.psn_no.clone(),
            psn_name: Some(person.psn_name.clone()),
            fixmedins_code: ctx.fixmedins_code.clone(),
            fixmedins_name: None,
            mdtrtarea_admvs: visit.mdtrtarea_admvs,
            insuplc_admdvs: Some(person.insuplc_admdvs),
            clr_optins: Some(scheme.admdvs.to_string()),
            insutype: insutype.clone(),
            psn_type: Some(person.psn_type.clone()),
            med_type: med_type.clone(),
            clr_type: Some(clr_type.to_owned()),
            clr_way: Some(r.psn_setlway.clone().unwrap_or_else(|| "01".to_owned())),
            setl_time: china(ctx.now),
            amounts: split.amounts.clone(),
            setldetail: split.setldetail.clone(),
            reversal_of: None,
        };
        let report = check_identities(&claim, &self.identity_policy);
        assert!(
            report.errors.is_empty(),
            "the calculator broke an identity: {}",
            describe(&report.errors)
        );
        let setlinfo = setlinfo(
            &claim,
            &person,
            r.mdtrt_cert_type.clone(),
            ctx,
            final_settlement,
        );
        let answer = CoreAnswer::Settlement {
            setlinfo: Box::new(setlinfo),
            setldetail: claim.setldetail.clone(),
        };
        if !final_settlement {
            let mut outcome = CoreOutcome::answer(answer, Vec::new());
            outcome.warnings = split.warnings;
            return Ok(outcome);
        }
        let mut changes = vec![
            StateChange::PutSettlement(Box::new(SettlementRecord {
                claim: claim.clone(),
                year,
                delta: split.delta.clone(),
                feedetl_sn: lines.iter().map(|l| l.feedetl_sn.clone()).collect(),
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
        changes.extend(lines.into_iter().map(|mut l| {
            l.setl_id = Some(setl_id.clone());
            StateChange::PutFeeLine(l)
        }));
        Ok(CoreOutcome {
            answer,
            changes,
            claim: Some(claim),
            warnings: split.warnings,
        })
    }

    // ------------------------------------------------------------ reversal

    fn cancel_settlement(
        &self,
        r: &ReqCancelSettlement,
        ctx: &RequestCtx,
        view: &dyn CoreView,
        infno: &str,
        original_infno: &str,
    ) -> Result<CoreOutcome, CoreRefusal> {
        let original = view.settlement(&r.setl_id).ok_or_else(|| {
            refuse(
                RefusalCode::ReversalUnknown,
                "input.data.setl_id",
                format!("no settlement {}", r.setl_id),
            )
        })?;
        if original.claim.kind == ClaimKind::Reversal {
            return Err(refuse(
                RefusalCode::ReversalOfReversal,
                "input.data.setl_id",
                format!("{} is itself a reversal; reversals are final", r.setl_id),
            ));
        }
        if original.claim.mdtrt_id != r.mdtrt_id
            || original.claim.psn_no != r.psn_no
            || original.claim.fixmedins_code != ctx.fixmedins_code
            || original.claim.infno != original_infno
        {
            return Err(refuse(
                RefusalCode::ReversalMismatch,
                "input.data.setl_id",
                format!(
                    "settlement {} is {}'s visit {} at {} by {}; {infno} reverses {original_infno} settlements of the named visit and person only",
                    r.setl_id,
                    original.claim.psn_no,
                    original.claim.mdtrt_id,
                    original.claim.fixmedins_code,
                    original.claim.infno
                ),
            ));
        }
        self.reverse(original, ctx, view, infno)
    }

    fn reverse_by_msgid(
        &self,
        r: &Req2601,
        ctx: &RequestCtx,
        view: &dyn CoreView,
    ) -> Result<CoreOutcome, CoreRefusal> {
        let settling = ["2207", "2304"];
        let reversing = ["2208", "2305"];
        if !settling.contains(&r.oinfno.as_str()) && !reversing.contains(&r.oinfno.as_str()) {
            return Err(refuse(
                RefusalCode::ReversalUnsupported,
                "input.data.oinfno",
                format!(
                    "the core reverses settlements (2207, 2304) by msgid, not {}",
                    r.oinfno
                ),
            ));
        }
        let Some(original) = view.settlement_by_msgid(&ctx.fixmedins_code, &r.omsgid) else {
            // The original never took effect — or has not arrived yet: tell the caller there was
            // nothing to reverse, and close its msgid so that a late original cannot settle
            // behind the caller's back (a tombstone, kept for ever). A second 2601 of the same
            // original keeps the first tombstone.
            let changes = match view.tombstone(&ctx.fixmedins_code, &r.omsgid) {
                Some(_) => Vec::new(),
                None => vec![StateChange::PutTombstone(Tombstone {
                    fixmedins_code: ctx.fixmedins_code.clone(),
                    msgid: r.omsgid.clone(),
                    oinfno: r.oinfno.clone(),
                    psn_no: r.psn_no.clone(),
                    reversed_by_msgid: ctx.msgid.clone(),
                    reversed_at: interface_time(ctx.now),
                })],
            };
            return Ok(CoreOutcome::answer(
                CoreAnswer::NothingToReverse {
                    omsgid: r.omsgid.clone(),
                    oinfno: r.oinfno.clone(),
                },
                changes,
            ));
        };
        if original.claim.kind == ClaimKind::Reversal {
            return Err(refuse(
                RefusalCode::ReversalOfReversal,
                "input.data.omsgid",
                format!(
                    "msgid {} produced reversal {}; reversals are final",
                    r.omsgid, original.claim.setl_id
                ),
            ));
        }
        if original.claim.psn_no != r.psn_no || original.claim.infno != r.oinfno {
            return Err(refuse(
                RefusalCode::ReversalMismatch,
                "input.data.omsgid",
                format!(
                    "msgid {} was {} for person {}, not {} for {}",
                    r.omsgid, original.claim.infno, original.claim.psn_no, r.oinfno, r.psn_no
                ),
            ));
        }
        self.reverse(original, ctx, view, "2601")
    }

    pub(crate) fn reverse(
        &self,
        mut original: SettlementRecord,
        ctx: &RequestCtx,
        view: &dyn CoreView,
        infno: &str,
    ) -> Result<CoreOutcome, CoreRefusal> {
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
        let person = person_or_refuse(view, &original.claim.psn_no, "input.data.psn_no")?;
        let setl_id = self.fresh_setl_id(ctx, view)?;
        let acc = view
            .accumulator(&person.psn_no, original.year)
            .unwrap_or_else(|| Accumulator::zero(&person.psn_no, original.year));
        let restored = acc.minus(&original.delta)?;
        let acct_pay = original.claim.amounts.acct_pay;
        let balance_after = match view.balance(&person.psn_no) {
            Some(b) => Some(b + acct_pay),
            None if acct_pay.is_zero() => None,
            None => {
                return Err(refuse(
                    RefusalCode::StateInconsistent,
                    "balance",
                    format!(
                        "settlement {} paid {acct_pay} from an account person {} no longer has",
                        original.claim.setl_id, person.psn_no
                    ),
                ));
            }
        };
        let mut claim = original
            .claim
            .reversal(infno, &ctx.msgid, &setl_id, china(ctx.now));
        claim.amounts.balc = balance_after;
        let mut problems = check_identities(&claim, &self.identity_policy).errors;
        problems.extend(check_reversal_of(&original.claim, &claim));
        assert!(
            problems.is_empty(),
            "a reversal broke an identity: {}",
            describe(&problems)
        );

        let mut changes = Vec::new();
        original.reversed_by = Some(setl_id.clone());
        let covered = original.feedetl_sn.clone();
        let original_id = original.claim.setl_id.clone();
        changes.push(StateChange::PutSettlement(Box::new(original.clone())));
        changes.push(StateChange::PutSettlement(Box::new(SettlementRecord {
            claim: claim.clone(),
            year: original.year,
            delta: AccumulatorDelta::default(),
            feedetl_sn: covered.clone(),
            reversed_by: None,
            peer: None,
        })));
        changes.push(StateChange::PutMsgidIndex {
            fixmedins_code: ctx.fixmedins_code.clone(),
            msgid: ctx.msgid.clone(),
            setl_id: setl_id.clone(),
        });
        changes.push(StateChange::PutAccumulator(restored));
        if let Some(balc) = balance_after
            && !acct_pay.is_zero()
        {
            changes.push(StateChange::PutBalance {
                psn_no: person.psn_no.clone(),
                balc,
            });
        }
        // the covered lines become unsettled again, ready for a corrected settlement
        for mut line in view.fee_lines(&original.claim.mdtrt_id) {
            if line.setl_id.as_deref() == Some(original_id.as_str()) {
                line.setl_id = None;
                changes.push(StateChange::PutFeeLine(line));
            }
        }
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
}

pub(crate) fn setlinfo(
    claim: &SettledClaim,
    person: &Person,
    mdtrt_cert_type: Option<String>,
    ctx: &RequestCtx,
    final_settlement: bool,
) -> SetlInfo {
    SetlInfo {
        mdtrt_id: claim.mdtrt_id.clone(),
        setl_id: final_settlement.then(|| claim.setl_id.clone()),
        psn_no: person.psn_no.clone(),
        psn_name: person.psn_name.clone(),
        psn_cert_type: person.psn_cert_type.clone(),
        certno: person.certno.clone(),
        gend: person.gend.clone(),
        naty: person.naty.clone(),
        brdy: person.brdy.clone(),
        age: full_years(&person.brdy, ctx.now),
        insutype: claim.insutype.clone(),
        psn_type: person.psn_type.clone(),
        cvlserv_flag: if person.cvlserv_flag { "1" } else { "0" }.to_owned(),
        setl_time: final_settlement.then(|| interface_time(claim.setl_time)),
        mdtrt_cert_type,
        med_type: claim.med_type.clone(),
        amounts: claim.amounts.clone(),
        medins_setl_id: final_settlement.then(|| claim.msgid.clone()),
        clr_optins: claim.clr_optins.clone().filter(|_| final_settlement),
        clr_way: claim.clr_way.clone().filter(|_| final_settlement),
        clr_type: claim.clr_type.clone(),
    }
}
