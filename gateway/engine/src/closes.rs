//! Closings (daily, monthly, quarterly, annual) and receipts. Each one: catch up, compute with
//! the settlement crate, post to the ledger and audit (IS-RK-3: a failed audit returns the
//! error and persists nothing), then persist result + ledger + aggregator changes + meta in
//! **one** journal record, and only then keep the new state in memory. Closing a period that is
//! already stored returns the stored result (`already_closed = true`).

use std::collections::BTreeMap;

use medsettle_canonical::{
    Money, PaymentBatch, PaymentInstruction, PaymentPurpose, Receipt, ReceiptStatus,
};
use medsettle_settlement::annual::{
    AnnualInput, AnnualRun, DipAllocation, DipCase, QuarterlyLine, SpecialCase, annual_clearing,
    dip_allocate, dip_coefficients_from_csv_str, quarterly_supplements,
};
use medsettle_settlement::csvin::{Advance, Declaration, Deduction};
use medsettle_settlement::daily::{ReceiptOutcome, china_timestamp};
use medsettle_settlement::ledger::{self, AuditReport, Expectations, Transfer};
use medsettle_settlement::monthly::{
    MonthlyInputs, MonthlyRun, distributor_payment_id, monthly_due_date, settle_month,
};
use medsettle_settlement::{DailyRun, YearMonth};
use medsettle_store::{JournalRecord, StateWrite, Store};
use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime};

use crate::error::{EngineError, Result};
use crate::state::*;
use crate::{Engine, Loaded};

/// The result of [`Engine::close_day`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyClose {
    pub run: DailyRun,
    pub batch: PaymentBatch,
    /// 支付汇总单 (IS-D-5).
    pub summary_csv: String,
    /// 明细: one row per claim (IS-D-5).
    pub detail_csv: String,
    /// The auditor's figures after posting the run.
    pub audit: AuditReport,
    /// True when this pay date was closed before and the stored result is returned.
    pub already_closed: bool,
}

#[derive(Serialize, Deserialize)]
struct StoredDaily {
    run: DailyRun,
    batch: PaymentBatch,
    audit: AuditReport,
}

impl StoredDaily {
    fn into_close(self, already_closed: bool) -> DailyClose {
        DailyClose {
            summary_csv: self.run.summary_csv(),
            detail_csv: self.run.detail_csv(),
            run: self.run,
            batch: self.batch,
            audit: self.audit,
            already_closed,
        }
    }
}

/// The result of [`Engine::close_month`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthlyClose {
    pub run: MonthlyRun,
    pub batch: PaymentBatch,
    pub csv: String,
    pub audit: AuditReport,
    pub already_closed: bool,
    /// SHA-256 (hex) of what the month was closed from ([`monthly_inputs_sha256`]): a later
    /// call with the same inputs answers this result, one with other inputs is refused.
    /// `None` in a result stored before the hash was kept.
    #[serde(default)]
    pub inputs_sha256: Option<String>,
}

/// Rule cited when a closed month is asked to close again from other inputs: business and
/// finance must agree, and a period is settled once (no double count).
pub const CLOSED_PERIOD_RULE: &str = "IS-RK-3";

/// SHA-256 (lower-case hex) of a monthly settlement's inputs: the period, the pay date and the
/// exact bytes of the three CSV texts, each framed by its length so that no two different
/// inputs hash alike by moving bytes from one text to the next.
pub fn monthly_inputs_sha256(
    month: YearMonth,
    declarations_csv: &str,
    deductions_csv: &str,
    advances_csv: &str,
    pay_date: Date,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let period = month.to_string();
    let pay = pay_date.to_string();
    for part in [
        period.as_str(),
        pay.as_str(),
        declarations_csv,
        deductions_csv,
        advances_csv,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The refusal of a closed month asked again with other inputs: what differs, and how a
/// closed period is corrected (`specs/operations.md`, "Correcting a closed period").
fn closed_with_other_inputs(stored: &MonthlyClose, sha: &str, pay_date: Date) -> EngineError {
    let month = stored.run.month;
    let what = if stored.batch.pay_date != pay_date {
        format!(
            "pay date {pay_date}; it was closed with pay date {}",
            stored.batch.pay_date
        )
    } else {
        format!(
            "inputs sha256 {sha}; it was closed from inputs sha256 {}",
            stored.inputs_sha256.as_deref().unwrap_or("(not recorded)")
        )
    };
    EngineError::OperatorInput {
        rule: CLOSED_PERIOD_RULE,
        field: "period",
        detail: format!(
            "the monthly settlement of {month} is already closed and paid from other inputs \
             ({what}); a closed month is never settled again. Correct it in a later period: \
             approved extra amounts by the quarterly supplement (`settle quarter`, IS-Q-1), \
             any other difference of the institution's fund expenditure by the annual \
             clearing (`settle year`, IS-A-2), which settles the year against what was paid \
             (specs/operations.md, \"Correcting a closed period\"). Re-run with the original \
             files and pay date to see the closed result."
        ),
    }
}

/// A payment a province sends through clearing (a month's transfer, a prepayment movement),
/// registered with its postings so its bank receipts post like any other payment's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvincePayment {
    pub payment_id: String,
    /// The paying province's ledger entity (`medsettle_clearing::province_entity`).
    pub payer: String,
    /// The receiving province's code, as in its `BankInTransit` account.
    pub payee: String,
    pub amount: Money,
    /// The account the sending posting debited: where failed or returned money goes back.
    pub source: ledger::Account,
}

/// A month's clearing between provinces posted to the ledger
/// ([`Engine::post_province_clearing`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvinceClearingPost {
    pub key: String,
    pub postings: usize,
    pub audit: AuditReport,
    pub already_posted: bool,
}

/// The result of [`Engine::close_quarter`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarterlyClose {
    pub year: i32,
    pub quarter: u8,
    pub lines: Vec<QuarterlyLine>,
    pub batch: PaymentBatch,
    pub audit: AuditReport,
    pub already_closed: bool,
}

/// Where the annual clearing amounts come from (IS-A-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnualAmounts {
    /// IS-A-4: DIP points (`fixmedins_code,setl_id,points`), coefficients
    /// (`fixmedins_code,coefficient`) and the regional budget.
    Dip {
        cases_csv: String,
        coefficients_csv: String,
        regional_budget: Money,
    },
    /// Amounts the agency computed by other methods (DRG, bed-days, per capita).
    Given(BTreeMap<String, Money>),
}

/// The result of [`Engine::close_year`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnualClose {
    pub run: AnnualRun,
    pub dip: Option<DipAllocation>,
    pub batch: PaymentBatch,
    pub audit: AuditReport,
    pub already_closed: bool,
}

/// What one receipt did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "payment")]
pub enum ReceiptApplied {
    /// A daily payment (IS-D-6/7), as the aggregator saw it.
    Daily(ReceiptOutcome),
    /// A monthly, distributor, quarterly or annual payment.
    Other {
        payment_id: String,
        fixmedins_code: String,
        amount: Money,
        previous: Option<ReceiptStatus>,
        status: ReceiptStatus,
        duplicate: bool,
    },
}

/// What the close record stores under a result key: the parts to concatenate.
#[derive(Serialize, Deserialize)]
struct Manifest {
    parts: u32,
    bytes: u64,
}

fn part_key(key: &str, n: u32) -> String {
    format!("{key}/{n:06}")
}

fn rule(rule: &'static str, detail: impl Into<String>) -> EngineError {
    EngineError::Rule {
        rule,
        detail: detail.into(),
    }
}

impl Engine {
    fn stored<T: for<'a> Deserialize<'a>>(
        &self,
        store: &dyn Store,
        key: &str,
    ) -> Result<Option<T>> {
        let Some(m) = store.get(SPACE_RUN, key.as_bytes())? else {
            return Ok(None);
        };
        let m: Manifest = from_json(key, &m)?;
        let mut bytes = Vec::new();
        for n in 0..m.parts {
            let k = part_key(key, n);
            let part = store
                .get(SPACE_RUN, k.as_bytes())?
                .ok_or_else(|| EngineError::state(&k, "result part missing"))?;
            bytes.extend_from_slice(&part);
        }
        if bytes.len() as u64 != m.bytes {
            return Err(EngineError::state(key, "result parts do not add up"));
        }
        Ok(Some(from_json(key, &bytes)?))
    }

    /// Write `value`'s parts (one record each) and return the manifest write for the close
    /// record. Durability comes with the close record: its flush covers every earlier write.
    fn stage_result<T: Serialize>(
        &self,
        store: &dyn Store,
        key: &str,
        value: &T,
    ) -> Result<StateWrite> {
        let bytes = to_json(key, value)?;
        let mut parts = 0u32;
        for chunk in bytes.chunks(self.cfg.tuning.result_part_bytes.max(1)) {
            let k = part_key(key, parts);
            let payload = serde_json::json!({ "result": key, "part": parts }).to_string();
            let rec = JournalRecord::new(KIND_RESULT_PART, payload.into_bytes())
                .with_write(StateWrite::put(SPACE_RUN, k.into_bytes(), chunk.to_vec()));
            store.append(rec)?;
            parts += 1;
        }
        let m = Manifest {
            parts,
            bytes: bytes.len() as u64,
        };
        Ok(StateWrite::put(
            SPACE_RUN,
            key.as_bytes(),
            to_json(key, &m)?,
        ))
    }

    /// Post `transfers` under `reference` and audit against the confirmed amounts in meta.
    fn post_audited(
        &self,
        s: &mut Loaded,
        reference: &str,
        transfers: Vec<Transfer>,
    ) -> Result<AuditReport> {
        let expect = Expectations {
            confirmed: s.meta.confirmed.clone(),
            receivable: BTreeMap::new(),
        };
        match s.ledger.post(reference, transfers, &expect)? {
            Some(r) => Ok(r),
            None => Ok(s.ledger.audit(&expect)?),
        }
    }

    /// Aggregator writes since the last persist; updates the in-memory snapshot (dropped with
    /// the rest of the state if the append then fails).
    pub(crate) fn agg_writes(&self, s: &mut Loaded) -> Result<Vec<StateWrite>> {
        let new = aggregator_parts(&s.agg)?;
        let w = diff_parts(&s.parts, &new);
        s.parts = new;
        Ok(w)
    }

    /// Append one close record carrying `writes` plus meta, and wait until it is durable.
    fn persist(
        &self,
        store: &dyn Store,
        s: &mut Loaded,
        what: &str,
        writes: Vec<StateWrite>,
    ) -> Result<()> {
        let payload = serde_json::json!({ "close": what });
        self.persist_record(store, s, KIND_CLOSE, &payload, writes)
    }

    /// Append one engine record of `kind` carrying `writes` plus meta, and wait until it is
    /// durable.
    pub(crate) fn persist_record(
        &self,
        store: &dyn Store,
        s: &mut Loaded,
        kind: &str,
        payload: &serde_json::Value,
        mut writes: Vec<StateWrite>,
    ) -> Result<()> {
        writes.extend(meta_writes(&mut s.meta)?);
        let mut rec = JournalRecord::new(kind, payload.to_string().into_bytes());
        rec.state_writes = writes;
        let a = store.append(rec)?;
        store.wait_durable_blocking(a.ticket)?;
        Ok(())
    }

    /// Close payment date `pay_date` (IS-D-3..6): every claim whose T+1 payment date is on or
    /// before it, so holiday settlement dates accumulate onto the next working day. Refuses an
    /// approval after the cutoff (IS-D-5) and a failed audit (IS-RK-3) without persisting.
    pub fn close_day(
        &self,
        store: &dyn Store,
        pay_date: Date,
        approved_at: OffsetDateTime,
    ) -> Result<DailyClose> {
        self.with_state(store, |s| {
            self.catch_up_locked(store, s, &|_, _| {}, true)?;
            let key = format!("daily/{}", dkey(pay_date));
            if let Some(st) = self.stored::<StoredDaily>(store, &key)? {
                return Ok(st.into_close(true));
            }
            let (p, cal, insts) = (&self.cfg.policy, &self.cfg.calendar, &self.institutions);
            let run = s.agg.close(pay_date, p, cal, insts)?;
            let batch = run.to_payment_batch(insts, self.cfg.debtor.clone(), approved_at)?;
            s.agg.commit(&run)?;
            for l in &run.lines {
                *s.meta
                    .confirmed
                    .entry(l.fixmedins_code.clone())
                    .or_default() += l.claims_total;
            }
            let old_len = s.ledger.transfers().len();
            let audit = self.post_audited(s, &run.run_id, ledger::daily_run_postings(&run))?;
            for d in &run.summary.settlement_dates {
                if let Some(b) = s.meta.buckets.get_mut(&dkey(*d)) {
                    b.consumed_through = b.max_seq;
                }
            }
            s.meta.last_daily = s.meta.last_daily.max(Some(pay_date));
            let mut writes = self.agg_writes(s)?;
            writes.extend(ledger_writes(
                &s.ledger,
                old_len,
                std::slice::from_ref(&run.run_id),
                &mut s.meta,
            )?);
            let st = StoredDaily { run, batch, audit };
            writes.push(self.stage_result(store, &key, &st)?);
            self.persist(store, s, &key, writes)?;
            Ok(st.into_close(false))
        })
    }

    /// Apply bank receipts (IS-D-6/7) to the aggregator and the ledger, durably, in one record.
    /// A repeated status is a no-op; an unknown payment or a status going backwards is an error
    /// and nothing of the call is persisted.
    pub fn apply_receipts(
        &self,
        store: &dyn Store,
        receipts: &[Receipt],
    ) -> Result<Vec<ReceiptApplied>> {
        self.with_state(store, |s| {
            let old_len = s.ledger.transfers().len();
            let mut refs = Vec::new();
            // posted together and audited once at the end (a month's receipts would be
            // quadratic audited one by one)
            let mut batches = Vec::new();
            let mut out = Vec::new();
            for r in receipts {
                let reference = format!("receipt:{}:{:?}", r.payment_id, r.status);
                if s.agg.payment(&r.payment_id).is_some() {
                    let o = s.agg.apply_receipt(r, &self.cfg.policy)?;
                    if !o.duplicate {
                        batches.push((reference.clone(), ledger::daily_receipt_postings(&o)));
                        refs.push(reference);
                    }
                    out.push(ReceiptApplied::Daily(o));
                    continue;
                }
                let Some(p) = s.meta.other_payments.get_mut(&r.payment_id) else {
                    return Err(rule(
                        "IS-D-7",
                        format!("receipt for unknown payment {}", r.payment_id),
                    ));
                };
                if let Some(a) = r.amount
                    && a != p.amount
                {
                    return Err(rule(
                        "IS-D-7",
                        format!(
                            "receipt for {} says {a}, the payment was {}",
                            r.payment_id, p.amount
                        ),
                    ));
                }
                let previous = p.status;
                let duplicate = previous == Some(r.status);
                if let Some(prev) = previous
                    && !duplicate
                    && !prev.may_move_to(r.status)
                {
                    return Err(rule(
                        "IS-D-7",
                        format!(
                            "payment {} cannot go from {prev:?} to {:?}",
                            r.payment_id, r.status
                        ),
                    ));
                }
                let (code, payee, amount) =
                    (p.fixmedins_code.clone(), p.payee_code.clone(), p.amount);
                p.status = Some(r.status);
                if !duplicate {
                    let t = match &p.source {
                        Some(source) => ledger::payment_receipt_postings_to(
                            &code,
                            &payee,
                            &r.payment_id,
                            amount,
                            (previous, r.status),
                            source.clone(),
                        ),
                        None => ledger::payment_receipt_postings(
                            &code,
                            &payee,
                            &r.payment_id,
                            amount,
                            previous,
                            r.status,
                        ),
                    };
                    batches.push((reference.clone(), t));
                    refs.push(reference);
                }
                out.push(ReceiptApplied::Other {
                    payment_id: r.payment_id.clone(),
                    fixmedins_code: code,
                    amount,
                    previous,
                    status: r.status,
                    duplicate,
                });
            }
            if refs.is_empty() {
                return Ok(out); // all duplicates: nothing changed
            }
            let expect = Expectations {
                confirmed: s.meta.confirmed.clone(),
                receivable: BTreeMap::new(),
            };
            s.ledger.post_many(batches, &expect)?;
            let mut writes = self.agg_writes(s)?;
            writes.extend(ledger_writes(&s.ledger, old_len, &refs, &mut s.meta)?);
            self.persist(store, s, "receipts", writes)?;
            Ok(out)
        })
    }

    /// Monthly settlement of `month` (IS-M-3..6) from the declaration, deduction and advance
    /// CSVs (`csvin` formats). Needs every daily run of the month closed and every daily
    /// payment of it with a final receipt (IS-RK-3, IS-D-7).
    #[allow(clippy::too_many_arguments)]
    pub fn close_month(
        &self,
        store: &dyn Store,
        month: YearMonth,
        declarations_csv: &str,
        deductions_csv: &str,
        advances_csv: &str,
        pay_date: Date,
        approved_at: OffsetDateTime,
    ) -> Result<MonthlyClose> {
        let declarations = Declaration::from_csv_str_of(declarations_csv, month)?;
        let deductions = Deduction::from_csv_str_of(deductions_csv, month)?;
        let advances = Advance::from_csv_str_of(advances_csv, month)?;
        self.check_month_pay_date(month, pay_date)?;
        let sha = monthly_inputs_sha256(
            month,
            declarations_csv,
            deductions_csv,
            advances_csv,
            pay_date,
        );
        self.with_state(store, |s| {
            self.catch_up_locked(store, s, &|_, _| {}, true)?;
            let key = format!("monthly/{month}");
            if let Some(mut c) = self.stored::<MonthlyClose>(store, &key)? {
                // A result stored before the hash was kept can only be told apart by its
                // pay date.
                let same = match &c.inputs_sha256 {
                    Some(stored) => *stored == sha,
                    None => c.batch.pay_date == pay_date,
                };
                if !same {
                    return Err(closed_with_other_inputs(&c, &sha, pay_date));
                }
                c.already_closed = true;
                return Ok(c);
            }
            // Institutions with activity in the month: declared, or fed/accrued per the state.
            let mut codes: Vec<String> = declarations
                .iter()
                .filter(|d| d.month == month)
                .map(|d| d.fixmedins_code.clone())
                .collect();
            let suffix = format!("|{month}");
            for k in s.parts.keys() {
                for f in ["fund_fed/", "accrued/"] {
                    if let Some(code) = k.strip_prefix(f).and_then(|r| r.strip_suffix(&suffix)) {
                        codes.push(code.to_owned());
                    }
                }
            }
            codes.sort();
            codes.dedup();
            let mut daily = BTreeMap::new();
            for c in codes {
                let f = s.agg.month_figures(&c, month)?;
                if !(f.accrued.is_zero() && f.successful.is_zero() && f.fund_fed.is_zero())
                    || declarations.iter().any(|d| d.fixmedins_code == c)
                {
                    daily.insert(c, f);
                }
            }
            let debts = s.meta.debts.clone();
            let p = &self.cfg.policy;
            let run = settle_month(
                p,
                &self.cfg.calendar,
                month,
                &declarations,
                &deductions,
                &advances,
                &MonthlyInputs {
                    daily: &daily,
                    debts: &debts,
                },
            )?;
            let batch = run.to_payment_batch(
                p,
                &self.institutions,
                self.cfg.debtor.clone(),
                pay_date,
                approved_at,
            )?;
            for l in &run.lines {
                *s.meta
                    .confirmed
                    .entry(l.fixmedins_code.clone())
                    .or_default() += l.accrual_adjustment;
            }
            let old_len = s.ledger.transfers().len();
            let reference = format!("monthly:{month}");
            let audit = self.post_audited(s, &reference, ledger::monthly_postings(&run))?;
            let ym = format!("{}{:02}", month.year, u8::from(month.month));
            for l in &run.lines {
                let c = &l.fixmedins_code;
                s.agg.close_month(c, month, l.suspend);
                if l.debt_carried > Money::ZERO {
                    s.meta.debts.insert(c.clone(), l.debt_carried);
                } else {
                    s.meta.debts.remove(c);
                }
                if let Some(id) = &l.payment_id {
                    s.meta.other_payments.insert(
                        id.clone(),
                        OtherPayment {
                            fixmedins_code: c.clone(),
                            payee_code: c.clone(),
                            amount: l.payable,
                            status: None,
                            source: None,
                        },
                    );
                }
                for a in &l.advances {
                    s.meta.other_payments.insert(
                        distributor_payment_id(&ym, c, &a.distributor_code),
                        OtherPayment {
                            fixmedins_code: c.clone(),
                            payee_code: a.distributor_code.clone(),
                            amount: a.amount,
                            status: None,
                            source: None,
                        },
                    );
                }
            }
            s.meta.last_monthly = s.meta.last_monthly.max(Some(month));
            let mut writes = self.agg_writes(s)?;
            writes.extend(ledger_writes(
                &s.ledger,
                old_len,
                &[reference],
                &mut s.meta,
            )?);
            let c = MonthlyClose {
                csv: run.to_csv(),
                run,
                batch,
                audit,
                already_closed: false,
                inputs_sha256: Some(sha.clone()),
            };
            writes.push(self.stage_result(store, &key, &c)?);
            self.persist(store, s, &key, writes)?;
            Ok(c)
        })
    }

    /// The pay date of `month`'s settlement, as the operator gave it: after the month (its
    /// declarations come in the next month, IS-M-1), a working day (IS-D-4: money moves on
    /// working days) and not after the due date (IS-M-4). The operator's input: nothing
    /// is read or written when it is refused.
    fn check_month_pay_date(&self, month: YearMonth, pay_date: Date) -> Result<()> {
        let bad = |rule: &'static str, detail: String| EngineError::OperatorInput {
            rule,
            field: "pay_date",
            detail,
        };
        if pay_date <= month.last_day() {
            return Err(bad(
                "IS-M-4",
                format!(
                    "{pay_date} is not after the period {month}: a month is paid after it ends"
                ),
            ));
        }
        if !self.cfg.calendar.is_working_day(pay_date)? {
            return Err(bad(
                "IS-D-4",
                format!(
                    "{pay_date} ({}) is not a working day on the calendar",
                    pay_date.weekday()
                ),
            ));
        }
        let (_, due) = monthly_due_date(&self.cfg.policy, &self.cfg.calendar, month)?;
        if pay_date > due {
            return Err(bad(
                "IS-M-4",
                format!("{pay_date} is after the due date {due} of {month}"),
            ));
        }
        Ok(())
    }

    /// Quarterly supplements (IS-Q-1) from the special-case CSV
    /// (`fixmedins_code,year,quarter,case_id,amount,approved`).
    pub fn close_quarter(
        &self,
        store: &dyn Store,
        year: i32,
        quarter: u8,
        special_cases_csv: &str,
        pay_date: Date,
        approved_at: OffsetDateTime,
    ) -> Result<QuarterlyClose> {
        if !(1..=4).contains(&quarter) {
            return Err(rule("IS-Q-1", format!("quarter {quarter} is not 1..=4")));
        }
        let cases = SpecialCase::from_csv_str(special_cases_csv)?;
        self.with_state(store, |s| {
            let key = format!("quarterly/{year}Q{quarter}");
            if let Some(mut c) = self.stored::<QuarterlyClose>(store, &key)? {
                c.already_closed = true;
                return Ok(c);
            }
            let lines = quarterly_supplements(year, quarter, &cases);
            let first = Date::from_calendar_date(year, month_of(quarter * 3 - 2), 1)
                .map_err(|e| rule("IS-Q-1", e.to_string()))?;
            let last = YearMonth::of(
                Date::from_calendar_date(year, month_of(quarter * 3), 1)
                    .map_err(|e| rule("IS-Q-1", e.to_string()))?,
            )
            .last_day();
            let payments = lines
                .iter()
                .map(|l| (l.payment_id.clone(), l.fixmedins_code.clone(), l.amount))
                .collect::<Vec<_>>();
            let batch = self.batch(
                format!("Q{}{year}{quarter}", self.cfg.policy.pool_admdvs),
                PaymentPurpose::Quarterly,
                &payments,
                vec![first, last],
                pay_date,
                approved_at,
            )?;
            for l in &lines {
                *s.meta
                    .confirmed
                    .entry(l.fixmedins_code.clone())
                    .or_default() += l.amount;
            }
            let old_len = s.ledger.transfers().len();
            let audit = self.post_audited(s, &key, ledger::quarterly_postings(&lines))?;
            self.register(s, &payments);
            s.meta.last_quarterly = Some(format!("{year}Q{quarter}"));
            let mut writes =
                ledger_writes(&s.ledger, old_len, std::slice::from_ref(&key), &mut s.meta)?;
            let c = QuarterlyClose {
                year,
                quarter,
                lines,
                batch,
                audit,
                already_closed: false,
            };
            writes.push(self.stage_result(store, &key, &c)?);
            self.persist(store, s, &key, writes)?;
            Ok(c)
        })
    }

    /// Post the month's clearing between provinces (`medsettle_clearing::clearing_postings`,
    /// the movements that concern this gateway's province) or a prepayment movement under
    /// `key`, adding `expected` — what each province entity's fund bears — to the auditor's
    /// expectations, and audit; the `payments` it sends are registered in the same record, so
    /// their receipts post to the ledger (IS-D-7). Idempotent by `key`: a second call returns
    /// the first audit.
    pub fn post_province_clearing(
        &self,
        store: &dyn Store,
        key: &str,
        transfers: Vec<Transfer>,
        expected: BTreeMap<String, Money>,
        payments: Vec<ProvincePayment>,
    ) -> Result<ProvinceClearingPost> {
        self.with_state(store, |s| {
            if let Some(mut c) = self.stored::<ProvinceClearingPost>(store, key)? {
                c.already_posted = true;
                return Ok(c);
            }
            for (entity, amount) in &expected {
                *s.meta.confirmed.entry(entity.clone()).or_default() += *amount;
            }
            let old_len = s.ledger.transfers().len();
            let postings = transfers.len();
            let audit = self.post_audited(s, key, transfers)?;
            for p in payments {
                s.meta.other_payments.insert(
                    p.payment_id,
                    OtherPayment {
                        fixmedins_code: p.payer,
                        payee_code: p.payee,
                        amount: p.amount,
                        status: None,
                        source: Some(p.source),
                    },
                );
            }
            let mut writes = ledger_writes(&s.ledger, old_len, &[key.to_owned()], &mut s.meta)?;
            let c = ProvinceClearingPost {
                key: key.to_owned(),
                postings,
                audit,
                already_posted: false,
            };
            writes.push(self.stage_result(store, key, &c)?);
            self.persist(store, s, key, writes)?;
            Ok(c)
        })
    }

    /// Annual clearing of `year` (IS-A-2/3/4). `paid_in_year` and the held margin come from the
    /// ledger (Paid and QualityMarginHeld balances), so every payment must have its final
    /// receipt first; `scores` are the annual assessment scores (0..=100) per institution.
    #[allow(clippy::too_many_arguments)]
    pub fn close_year(
        &self,
        store: &dyn Store,
        year: i32,
        as_of: Date,
        amounts: &AnnualAmounts,
        scores: &BTreeMap<String, u32>,
        pay_date: Date,
        approved_at: OffsetDateTime,
    ) -> Result<AnnualClose> {
        let (given, dip) = match amounts {
            AnnualAmounts::Given(m) => (m.clone(), None),
            AnnualAmounts::Dip {
                cases_csv,
                coefficients_csv,
                regional_budget,
            } => {
                let cases = DipCase::from_csv_str(cases_csv)?;
                let coef = dip_coefficients_from_csv_str(coefficients_csv)?;
                let a = dip_allocate(*regional_budget, &cases, &coef)?;
                let m = a
                    .institutions
                    .iter()
                    .map(|i| (i.fixmedins_code.clone(), i.amount))
                    .collect();
                (m, Some(a))
            }
        };
        self.with_state(store, |s| {
            self.catch_up_locked(store, s, &|_, _| {}, true)?;
            let key = format!("annual/{year}");
            if let Some(mut c) = self.stored::<AnnualClose>(store, &key)? {
                c.already_closed = true;
                return Ok(c);
            }
            let pos = s.ledger.positions();
            let mut inputs = Vec::new();
            for (code, amount) in &given {
                let p = pos.get(code).copied().unwrap_or_default();
                if !p.in_transit.is_zero() {
                    return Err(rule(
                        "IS-D-7",
                        format!(
                            "{code} has {} in transit without a final receipt",
                            p.in_transit
                        ),
                    ));
                }
                let score = *scores
                    .get(code)
                    .ok_or_else(|| rule("IS-A-2", format!("no assessment score for {code}")))?;
                inputs.push(AnnualInput {
                    fixmedins_code: code.clone(),
                    annual_clearing_amount: *amount,
                    paid_in_year: p.paid,
                    quality_margin_held: p.margin_held,
                    assessment_score: score,
                });
            }
            let run = annual_clearing(&self.cfg.policy, year, as_of, &inputs)?;
            let transfers = s.ledger.annual_postings(&run);
            for l in &run.lines {
                // The fund's final expenditure: the clearing amount less the forfeited margin
                // (which the fund keeps).
                s.meta.confirmed.insert(
                    l.fixmedins_code.clone(),
                    l.annual_clearing_amount - l.quality_margin_forfeited,
                );
            }
            let payments: Vec<(String, String, Money)> = run
                .lines
                .iter()
                .filter_map(|l| {
                    l.payment_id
                        .clone()
                        .map(|id| (id, l.fixmedins_code.clone(), l.payable))
                })
                .collect();
            let batch = self.batch(
                format!("A{}{year}", self.cfg.policy.pool_admdvs),
                PaymentPurpose::Annual,
                &payments,
                vec![
                    Date::from_calendar_date(year, Month::January, 1)
                        .map_err(|e| rule("IS-A-2", e.to_string()))?,
                    Date::from_calendar_date(year, Month::December, 31)
                        .map_err(|e| rule("IS-A-2", e.to_string()))?,
                ],
                pay_date,
                approved_at,
            )?;
            let old_len = s.ledger.transfers().len();
            let audit = self.post_audited(s, &key, transfers)?;
            self.register(s, &payments);
            s.meta.last_annual = s.meta.last_annual.max(Some(year));
            let mut writes =
                ledger_writes(&s.ledger, old_len, std::slice::from_ref(&key), &mut s.meta)?;
            let c = AnnualClose {
                run,
                dip,
                batch,
                audit,
                already_closed: false,
            };
            writes.push(self.stage_result(store, &key, &c)?);
            self.persist(store, s, &key, writes)?;
            Ok(c)
        })
    }

    fn register(&self, s: &mut Loaded, payments: &[(String, String, Money)]) {
        for (id, code, amount) in payments {
            s.meta.other_payments.insert(
                id.clone(),
                OtherPayment {
                    fixmedins_code: code.clone(),
                    payee_code: code.clone(),
                    amount: *amount,
                    status: None,
                    source: None,
                },
            );
        }
    }

    /// A batch of institution payments (quarterly, annual). IS-D-4: money moves on working days.
    fn batch(
        &self,
        batch_id: String,
        purpose: PaymentPurpose,
        payments: &[(String, String, Money)],
        settlement_dates: Vec<Date>,
        pay_date: Date,
        approved_at: OffsetDateTime,
    ) -> Result<PaymentBatch> {
        if !self.cfg.calendar.is_working_day(pay_date)? {
            return Err(rule("IS-D-4", format!("{pay_date} is not a working day")));
        }
        let mut out = Vec::new();
        for (id, code, amount) in payments {
            let inst = self
                .institutions
                .get(code)
                .ok_or_else(|| rule("IS-SC-4", format!("no bank account for {code}")))?;
            out.push(PaymentInstruction {
                payment_id: id.clone(),
                payee_code: code.clone(),
                payee: inst.account.clone(),
                amount: *amount,
                purpose,
                settlement_dates: settlement_dates.clone(),
                replaces_payment_id: None,
            });
        }
        Ok(PaymentBatch {
            batch_id,
            pool_admdvs: self.cfg.policy.pool_admdvs,
            pay_date,
            debtor: self.cfg.debtor.clone(),
            created_at: china_timestamp(approved_at),
            payments: out,
        })
    }
}

fn month_of(m: u8) -> Month {
    Month::try_from(m).expect("quarter months are 1..=12")
}
