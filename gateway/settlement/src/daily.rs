//! Daily disbursement (日拨付, IS-D).
//!
//! The gateway's journal consumer feeds settled claims one at a time into a [`DailyAggregator`]
//! ([`DailyAggregator::feed`]); the aggregator keeps, per claim, the daily amount
//! `round_half_up(fund_amount × daily_ratio)` (IS-D-2) dated by the settlement date in China
//! time (IS-D-1). Closing a payment date ([`DailyAggregator::close`]) only looks at what is
//! pending — nothing is rescanned — and is pure: it returns a [`DailyRun`] which the caller
//! persists, then [`DailyAggregator::commit`]s. Re-closing before the commit gives the same run,
//! so a crash between the two is harmless; committing twice is a no-op.
//!
//! The aggregator is plain serde data: the caller persists it between journal records. Feeding
//! the same claim (`setl_id` + `kind`) twice has no effect, so at-least-once delivery is fine.
//!
//! Money carried between payments (IS-D-3 negative nets, IS-D-6 failed payments under
//! `carry_forward`) is kept as [`CarryItem`]s tagged with the month of the claims they come
//! from, so the monthly settlement can tell exactly which successful daily payments belong to
//! its month (IS-M-3, IS-RK-3: no gap, no double count).

use std::collections::{BTreeMap, BTreeSet};

use medsettle_canonical::{
    Admdvs, BankAccount, CHINA_OFFSET, ClaimKind, EnrolmentStatus, Fault, Institution, Money,
    PaymentBatch, PaymentInstruction, PaymentPurpose, Ratio, Receipt, ReceiptStatus, SettledClaim,
};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use crate::calendar::{Calendar, YearMonth, compact_date, iso_date};
use crate::error::{Result, SettlementError};
use crate::policy::{FailedPaymentPolicy, SettlementPolicy};

/// Institutions by `fixmedins_code`, as the caller's registry knows them today.
pub type Institutions = BTreeMap<String, Institution>;

/// Build the [`Institutions`] map from a list.
pub fn institutions_by_code(list: impl IntoIterator<Item = Institution>) -> Institutions {
    list.into_iter()
        .map(|i| (i.fixmedins_code.clone(), i))
        .collect()
}

/// One claim as taken into daily disbursement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimEntry {
    pub setl_id: String,
    pub kind: ClaimKind,
    pub fixmedins_code: String,
    /// IS-D-1: the date in China time.
    pub settlement_date: Date,
    /// IS-SC-2: in-scope fund amount (negative for a reversal).
    pub fund_amount: Money,
    pub daily_ratio: Ratio,
    /// IS-D-2: `round_half_up(fund_amount × daily_ratio)`.
    pub daily_amount: Money,
}

impl ClaimEntry {
    fn key(&self) -> String {
        claim_key(&self.setl_id, self.kind)
    }
}

fn claim_key(setl_id: &str, kind: ClaimKind) -> String {
    match kind {
        ClaimKind::Settlement => format!("S|{setl_id}"),
        ClaimKind::Reversal => format!("R|{setl_id}"),
    }
}

fn inst_month_key(code: &str, month: YearMonth) -> String {
    format!("{code}|{month}")
}

/// An amount attributed to the month of the claims it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthAmount {
    pub month: YearMonth,
    pub amount: Money,
}

/// Why an amount is carried to the next payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "origin")]
pub enum CarryOrigin {
    /// IS-D-3: the institution's net on this pay date was negative.
    NegativeNet { pay_date: Date },
    /// IS-D-6 `carry_forward`: this payment failed or was returned.
    FailedPayment { payment_id: String },
}

/// An amount waiting for the institution's next daily payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarryItem {
    pub fixmedins_code: String,
    pub month: YearMonth,
    pub amount: Money,
    #[serde(flatten)]
    pub origin: CarryOrigin,
}

/// A daily payment the aggregator issued and what the bank said about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    pub payment_id: String,
    pub fixmedins_code: String,
    pub pay_date: Date,
    pub amount: Money,
    /// What the amount is made of, by claim month (sums to `amount`).
    pub components: Vec<MonthAmount>,
    /// `None` until the first receipt (sent, status unknown).
    pub status: Option<ReceiptStatus>,
    pub replaces_payment_id: Option<String>,
}

/// What [`DailyAggregator::feed`] did with a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum FeedOutcome {
    Accepted {
        daily_amount: Money,
    },
    /// Already fed (same `setl_id` and kind): redelivery has no effect.
    Duplicate,
    OutOfScope {
        rule: String,
        reason: String,
    },
    /// The claim's month is already settled monthly for this institution; the daily flow no
    /// longer pays it (the monthly declaration of that month is where it belongs).
    AfterMonthlyClose {
        month: YearMonth,
    },
}

/// The serializable state of daily disbursement for one pool region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyAggregator {
    /// Claim keys already fed, with the ratio used (a reversal reuses its original's ratio so
    /// the two net to exactly zero even if the ratio changed in between).
    seen: BTreeMap<String, Ratio>,
    pending: Vec<ClaimEntry>,
    carry: Vec<CarryItem>,
    payments: BTreeMap<String, PaymentRecord>,
    committed_runs: BTreeSet<String>,
    /// `code|YYYY-MM` already settled monthly.
    month_closed: BTreeSet<String>,
    /// `code|YYYY-MM` → daily amounts of the month's claims taken into committed runs for an
    /// enrolled institution (what the ledger has accrued for the month so far).
    accrued: BTreeMap<String, Money>,
    /// `code|YYYY-MM` → in-scope fund amount of the fed claims (cross-check of declarations).
    fund_fed: BTreeMap<String, Money>,
    /// Institutions suspended by an uncovered monthly debt (IS-M-5, IS-RK-2).
    debt_suspended: BTreeSet<String>,
    /// Institutions whose daily disbursement an operator suspended (暂停日拨付, IS-RK-2), by
    /// code. Absent from state written before operators could suspend: defaults to none.
    #[serde(default)]
    operator_suspended: BTreeMap<String, Suspension>,
}

/// An operator's suspension of an institution's daily disbursement (暂停日拨付), e.g. after an
/// audit finding or a fraud suspicion. While it is in force every daily close skips the
/// institution (IS-RK-2): its claims are consumed and the monthly settlement pays them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    pub fixmedins_code: String,
    /// Why, in the operator's words (shown in the skipped list and the detail).
    pub reason: String,
    /// Who suspended it (the operator's identity).
    pub by: String,
    /// When it was suspended.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

impl Suspension {
    /// The reason a daily run gives for skipping the institution.
    pub fn skip_reason(&self) -> String {
        format!(
            "suspended by operator {} since {}: {}",
            self.by,
            china_timestamp(self.since),
            self.reason
        )
    }
}

/// An institution left out of a daily run, and why (IS-SC-4; IS-RK-2 for a debt or an
/// operator's suspension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedInstitution {
    pub fixmedins_code: String,
    pub rule: String,
    pub reason: String,
    /// Daily amounts of the claims not disbursed (the monthly settlement pays them).
    pub claims: Vec<ClaimEntry>,
    pub claims_total: Money,
}

/// One institution's line of the detail (明细).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailLine {
    pub fixmedins_code: String,
    pub fixmedins_name: String,
    /// `None` when nothing is paid (net ≤ 0).
    pub payment_id: Option<String>,
    pub replaces_payment_id: Option<String>,
    pub claims: Vec<ClaimEntry>,
    pub claims_total: Money,
    /// IS-D-3: negative nets carried in from earlier pay dates (≤ 0).
    pub offset_in: Money,
    /// IS-D-6: failed payments carried in under `carry_forward` (≥ 0).
    pub failed_in: Money,
    pub net: Money,
    pub pay_amount: Money,
    /// IS-D-3: negative net carried out to the next payment (≤ 0).
    pub carried_out: Money,
    pub components: Vec<MonthAmount>,
}

/// The payment summary (支付汇总单) of a pool region and pay date (IS-D-5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentSummary {
    pub pool_admdvs: Admdvs,
    pub pay_date: Date,
    pub settlement_dates: Vec<Date>,
    /// Pay date at the cutoff time (China time): the batch must reach the bank before it.
    pub send_before: PrimitiveDateTime,
    pub institutions_paid: usize,
    pub claims: usize,
    pub claims_total: Money,
    pub offsets_in: Money,
    pub failed_in: Money,
    pub carried_out: Money,
    pub pay_total: Money,
    pub institutions_skipped: usize,
    pub skipped_total: Money,
}

/// One accrual of the run: daily amounts of `month` taken in for `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthAccrual {
    pub fixmedins_code: String,
    pub month: YearMonth,
    pub amount: Money,
}

/// The result of closing a pay date: summary, detail, skipped list, and what commit changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyRun {
    /// Also the batch id: `D{admdvs}{yyyymmdd}{seq:02}`.
    pub run_id: String,
    pub summary: PaymentSummary,
    pub lines: Vec<DetailLine>,
    pub skipped: Vec<SkippedInstitution>,
    pub accruals: Vec<MonthAccrual>,
    consumed: Vec<String>,
    carry_before: Vec<CarryItem>,
    carry_after: Vec<CarryItem>,
}

/// The daily figures of one institution and month, for the monthly settlement (IS-M-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthDailyFigures {
    /// Σ daily amounts of the month's claims taken into runs (ledger accrual so far).
    pub accrued: Money,
    /// Σ of the month's components of payments the bank confirmed `Paid` (IS-D-7).
    pub successful: Money,
    /// In-scope fund amount of the month's fed claims (to cross-check the declaration).
    pub fund_fed: Money,
}

/// The effect of one receipt on a daily payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptOutcome {
    pub payment_id: String,
    pub fixmedins_code: String,
    pub amount: Money,
    pub previous: Option<ReceiptStatus>,
    pub status: ReceiptStatus,
    /// The receipt repeats the known status: nothing changed.
    pub duplicate: bool,
    /// IS-D-6 `carry_forward`: amount added to the next payment.
    pub carried_forward: Money,
    /// Set when money came back after the month was settled under `no_retry`: an operator must
    /// adjust by hand (the monthly settlement counted it as paid).
    pub manual_adjustment: Option<String>,
}

fn sum_by_month(items: impl IntoIterator<Item = MonthAmount>) -> Vec<MonthAmount> {
    let mut m: BTreeMap<YearMonth, Money> = BTreeMap::new();
    for i in items {
        *m.entry(i.month).or_default() += i.amount;
    }
    m.into_iter()
        .filter(|(_, a)| !a.is_zero())
        .map(|(month, amount)| MonthAmount { month, amount })
        .collect()
}

impl DailyAggregator {
    pub fn new() -> DailyAggregator {
        DailyAggregator::default()
    }

    /// Take one settled claim (IS-D-1, IS-D-2, IS-SC-2..5). Idempotent by `setl_id` + kind.
    pub fn feed(
        &mut self,
        claim: &SettledClaim,
        policy: &SettlementPolicy,
        institutions: &Institutions,
    ) -> FeedOutcome {
        let key = claim_key(&claim.setl_id, claim.kind);
        if self.seen.contains_key(&key) {
            return FeedOutcome::Duplicate;
        }
        let Some(inst) = institutions.get(&claim.fixmedins_code) else {
            return FeedOutcome::OutOfScope {
                rule: "IS-SC-4".into(),
                reason: format!(
                    "institution {} is not enrolled in instant settlement",
                    claim.fixmedins_code
                ),
            };
        };
        if let Err(o) = policy.claim_in_scope(claim, inst) {
            return FeedOutcome::OutOfScope {
                rule: o.rule,
                reason: o.reason,
            };
        }
        let settlement_date = claim.settlement_date(); // IS-D-1
        let month = YearMonth::of(settlement_date);
        let im = inst_month_key(&inst.fixmedins_code, month);
        if self.month_closed.contains(&im) {
            return FeedOutcome::AfterMonthlyClose { month };
        }
        // A reversal uses the ratio its original was disbursed at, so the pair nets to zero.
        let original_ratio = match (claim.kind, &claim.reversal_of) {
            (ClaimKind::Reversal, Some(link)) => link
                .setl_id
                .as_ref()
                .and_then(|s| self.seen.get(&claim_key(s, ClaimKind::Settlement)))
                .copied(),
            _ => None,
        };
        let daily_ratio = original_ratio.unwrap_or_else(|| policy.daily_ratio_for(inst));
        let fund_amount = policy.fund_amount(claim); // IS-SC-2
        let daily_amount = fund_amount.mul_ratio_half_up(daily_ratio); // IS-D-2
        self.seen.insert(key, daily_ratio);
        *self.fund_fed.entry(im).or_default() += fund_amount;
        self.pending.push(ClaimEntry {
            setl_id: claim.setl_id.clone(),
            kind: claim.kind,
            fixmedins_code: inst.fixmedins_code.clone(),
            settlement_date,
            fund_amount,
            daily_ratio,
            daily_amount,
        });
        FeedOutcome::Accepted { daily_amount }
    }

    /// Claims fed but not yet closed into a run.
    pub fn pending(&self) -> &[ClaimEntry] {
        &self.pending
    }

    /// Amounts waiting for the next daily payment.
    pub fn carried(&self) -> &[CarryItem] {
        &self.carry
    }

    pub fn payment(&self, payment_id: &str) -> Option<&PaymentRecord> {
        self.payments.get(payment_id)
    }

    pub fn payments(&self) -> impl Iterator<Item = &PaymentRecord> {
        self.payments.values()
    }

    pub fn is_debt_suspended(&self, code: &str) -> bool {
        self.debt_suspended.contains(code)
    }

    /// Suspend an institution's daily disbursement (IS-RK-2) from the next close on. Idempotent:
    /// if it is already suspended nothing changes (the suspension in force keeps its reason,
    /// operator and time) and `false` is returned.
    pub fn suspend(&mut self, suspension: Suspension) -> bool {
        if self
            .operator_suspended
            .contains_key(&suspension.fixmedins_code)
        {
            return false;
        }
        self.operator_suspended
            .insert(suspension.fixmedins_code.clone(), suspension);
        true
    }

    /// Lift an operator's suspension: closes from now on pay the institution again (claims of
    /// pay dates closed while it was suspended stay with the monthly settlement). Returns the
    /// suspension lifted, or `None` if there was none (nothing changed).
    pub fn resume(&mut self, code: &str) -> Option<Suspension> {
        self.operator_suspended.remove(code)
    }

    /// The operator's suspension of `code` in force, if any.
    pub fn suspension(&self, code: &str) -> Option<&Suspension> {
        self.operator_suspended.get(code)
    }

    /// Every operator suspension in force, by institution code.
    pub fn suspensions(&self) -> impl Iterator<Item = &Suspension> {
        self.operator_suspended.values()
    }

    /// Close pay date `pay_date` (IS-D-3..6): every pending claim whose payment date (IS-D-4,
    /// IS-D-8) is on or before `pay_date` goes in, so settlement dates falling on holidays
    /// accumulate onto the next working day, and a late close catches up instead of losing
    /// claims. Pure: call [`DailyAggregator::commit`] once the run is durable.
    pub fn close(
        &self,
        pay_date: Date,
        policy: &SettlementPolicy,
        calendar: &Calendar,
        institutions: &Institutions,
    ) -> Result<DailyRun> {
        if !calendar.is_working_day(pay_date)? {
            return Err(SettlementError::rule_err(
                "IS-D-4",
                Fault::Sender,
                format!("{pay_date} is not a working day; payments are only made on working days"),
            ));
        }
        let mut by_inst: BTreeMap<&str, Vec<&ClaimEntry>> = BTreeMap::new();
        let mut dates = BTreeSet::new();
        for e in &self.pending {
            if policy.pay_date_for(calendar, e.settlement_date)? <= pay_date {
                by_inst
                    .entry(e.fixmedins_code.as_str())
                    .or_default()
                    .push(e);
                dates.insert(e.settlement_date);
            }
        }
        // Institutions with a positive carried amount get paid even without new claims.
        for c in &self.carry {
            if c.amount > Money::ZERO {
                by_inst.entry(c.fixmedins_code.as_str()).or_default();
            }
        }
        let seq = self
            .committed_runs
            .iter()
            .filter(|r| r.get(7..15) == Some(compact_date(pay_date).as_str()))
            .count();
        let run_id = format!(
            "D{}{}{:02}",
            policy.pool_admdvs,
            compact_date(pay_date),
            seq
        );

        let mut lines = Vec::new();
        let mut skipped = Vec::new();
        let mut accruals = Vec::new();
        let mut consumed = Vec::new();
        let mut touched: BTreeSet<&str> = BTreeSet::new();
        let mut new_carry: Vec<CarryItem> = Vec::new();
        for (code, claims) in &by_inst {
            consumed.extend(claims.iter().map(|c| c.key()));
            let claims_owned: Vec<ClaimEntry> = claims.iter().map(|c| (*c).clone()).collect();
            let claims_total: Money = claims.iter().map(|c| c.daily_amount).sum();
            let inst = institutions.get(*code);
            let skip = match inst {
                None => Some((
                    "IS-SC-4",
                    "institution is no longer in the registry".to_owned(),
                )),
                Some(i) if i.status != EnrolmentStatus::Enrolled => Some((
                    "IS-SC-4",
                    format!(
                        "institution is {:?}: no daily disbursement (IS-RK-2)",
                        i.status
                    )
                    .to_lowercase(),
                )),
                // An operator's suspension (audit finding, fraud suspicion) cites IS-RK-2, the
                // rule under which instant settlement of an institution is suspended or stopped
                // (the listed risk-control rule the daily close enforces, like the debt
                // suspension below); it is checked before the debt so the operator's own reason
                // is what the run shows.
                Some(_) if self.operator_suspended.contains_key(*code) => {
                    Some(("IS-RK-2", self.operator_suspended[*code].skip_reason()))
                }
                Some(_) if self.debt_suspended.contains(*code) => Some((
                    "IS-RK-2",
                    "suspended until its monthly debt (IS-M-5) is covered".to_owned(),
                )),
                Some(_) => None,
            };
            if let Some((rule, reason)) = skip {
                // The claims are consumed: the monthly settlement pays them (only successful
                // daily payments are deducted there). Carried items stay for later.
                skipped.push(SkippedInstitution {
                    fixmedins_code: code.to_string(),
                    rule: rule.into(),
                    reason,
                    claims: claims_owned,
                    claims_total,
                });
                continue;
            }
            let inst = inst.expect("checked above");
            touched.insert(code);
            for m in sum_by_month(claims.iter().map(|c| MonthAmount {
                month: YearMonth::of(c.settlement_date),
                amount: c.daily_amount,
            })) {
                accruals.push(MonthAccrual {
                    fixmedins_code: code.to_string(),
                    month: m.month,
                    amount: m.amount,
                });
            }
            let carried: Vec<&CarryItem> = self
                .carry
                .iter()
                .filter(|c| c.fixmedins_code == *code)
                .collect();
            let offset_in: Money = carried
                .iter()
                .filter(|c| matches!(c.origin, CarryOrigin::NegativeNet { .. }))
                .map(|c| c.amount)
                .sum();
            let failed_in: Money = carried
                .iter()
                .filter(|c| matches!(c.origin, CarryOrigin::FailedPayment { .. }))
                .map(|c| c.amount)
                .sum();
            let replaces = carried.iter().rev().find_map(|c| match &c.origin {
                CarryOrigin::FailedPayment { payment_id } => Some(payment_id.clone()),
                _ => None,
            });
            let components = sum_by_month(
                claims
                    .iter()
                    .map(|c| MonthAmount {
                        month: YearMonth::of(c.settlement_date),
                        amount: c.daily_amount,
                    })
                    .chain(carried.iter().map(|c| MonthAmount {
                        month: c.month,
                        amount: c.amount,
                    })),
            );
            let net = claims_total + offset_in + failed_in;
            let (payment_id, pay_amount, carried_out) = if net > Money::ZERO {
                let prior = self
                    .payments
                    .values()
                    .filter(|p| p.pay_date == pay_date && p.fixmedins_code == *code)
                    .count();
                (
                    Some(format!("D{}{}{:02}", compact_date(pay_date), code, prior)),
                    net,
                    Money::ZERO,
                )
            } else {
                // IS-D-3: a negative net pays nothing and is offset against the next payment.
                // (A zero net has nothing to carry.)
                for c in &components {
                    new_carry.push(CarryItem {
                        fixmedins_code: code.to_string(),
                        month: c.month,
                        amount: c.amount,
                        origin: CarryOrigin::NegativeNet { pay_date },
                    });
                }
                (None, Money::ZERO, net)
            };
            lines.push(DetailLine {
                fixmedins_code: code.to_string(),
                fixmedins_name: inst.fixmedins_name.clone(),
                replaces_payment_id: payment_id.as_ref().and(replaces),
                payment_id,
                claims: claims_owned,
                claims_total,
                offset_in,
                failed_in,
                net,
                pay_amount,
                carried_out,
                components,
            });
        }
        let mut carry_after: Vec<CarryItem> = self
            .carry
            .iter()
            .filter(|c| !touched.contains(c.fixmedins_code.as_str()))
            .cloned()
            .collect();
        carry_after.extend(new_carry);

        let paid: Vec<&DetailLine> = lines
            .iter()
            .filter(|l| l.pay_amount > Money::ZERO)
            .collect();
        let summary = PaymentSummary {
            pool_admdvs: policy.pool_admdvs,
            pay_date,
            settlement_dates: dates.into_iter().collect(),
            send_before: PrimitiveDateTime::new(pay_date, policy.daily.cutoff),
            institutions_paid: paid.len(),
            claims: lines.iter().map(|l| l.claims.len()).sum(),
            claims_total: lines.iter().map(|l| l.claims_total).sum(),
            offsets_in: lines.iter().map(|l| l.offset_in).sum(),
            failed_in: lines.iter().map(|l| l.failed_in).sum(),
            carried_out: lines.iter().map(|l| l.carried_out).sum(),
            pay_total: paid.iter().map(|l| l.pay_amount).sum(),
            institutions_skipped: skipped.len(),
            skipped_total: skipped.iter().map(|s| s.claims_total).sum(),
        };
        Ok(DailyRun {
            run_id,
            summary,
            lines,
            skipped,
            accruals,
            consumed,
            carry_before: self.carry.clone(),
            carry_after,
        })
    }

    /// Apply a run produced by [`DailyAggregator::close`] on this state. Returns `false` if it
    /// was already committed. Refuses a run closed on a state that has since changed carries
    /// (a receipt came in between): close again.
    pub fn commit(&mut self, run: &DailyRun) -> Result<bool> {
        if self.committed_runs.contains(&run.run_id) {
            return Ok(false);
        }
        let pending: BTreeSet<String> = self.pending.iter().map(ClaimEntry::key).collect();
        if run.carry_before != self.carry || run.consumed.iter().any(|k| !pending.contains(k)) {
            return Err(SettlementError::rule_err(
                "IS-RK-3",
                Fault::Internal,
                format!(
                    "run {} was closed on a different state; close the pay date again",
                    run.run_id
                ),
            ));
        }
        let consumed: BTreeSet<&String> = run.consumed.iter().collect();
        self.pending.retain(|e| !consumed.contains(&e.key()));
        self.carry = run.carry_after.clone();
        for a in &run.accruals {
            *self
                .accrued
                .entry(inst_month_key(&a.fixmedins_code, a.month))
                .or_default() += a.amount;
        }
        for l in &run.lines {
            if let Some(id) = &l.payment_id {
                self.payments.insert(
                    id.clone(),
                    PaymentRecord {
                        payment_id: id.clone(),
                        fixmedins_code: l.fixmedins_code.clone(),
                        pay_date: run.summary.pay_date,
                        amount: l.pay_amount,
                        components: l.components.clone(),
                        status: None,
                        replaces_payment_id: l.replaces_payment_id.clone(),
                    },
                );
            }
        }
        self.committed_runs.insert(run.run_id.clone());
        Ok(true)
    }

    /// Apply a bank receipt to a daily payment (IS-D-6, IS-D-7). At most once: a repeated
    /// status is a no-op; a status going backwards is an error.
    pub fn apply_receipt(
        &mut self,
        receipt: &Receipt,
        policy: &SettlementPolicy,
    ) -> Result<ReceiptOutcome> {
        let month_closed = self.month_closed.clone();
        let Some(p) = self.payments.get_mut(&receipt.payment_id) else {
            return Err(SettlementError::rule_err(
                "IS-D-7",
                Fault::Bank,
                format!("receipt for unknown daily payment {}", receipt.payment_id),
            ));
        };
        if let Some(a) = receipt.amount
            && a != p.amount
        {
            return Err(SettlementError::rule_err(
                "IS-D-7",
                Fault::Bank,
                format!(
                    "receipt for {} says {a}, the payment was {}",
                    p.payment_id, p.amount
                ),
            ));
        }
        let previous = p.status;
        let mut out = ReceiptOutcome {
            payment_id: p.payment_id.clone(),
            fixmedins_code: p.fixmedins_code.clone(),
            amount: p.amount,
            previous,
            status: receipt.status,
            duplicate: previous == Some(receipt.status),
            carried_forward: Money::ZERO,
            manual_adjustment: None,
        };
        if out.duplicate {
            return Ok(out);
        }
        if let Some(prev) = previous
            && !prev.may_move_to(receipt.status)
        {
            return Err(SettlementError::rule_err(
                "IS-D-7",
                Fault::Bank,
                format!(
                    "payment {} cannot go from {prev:?} to {:?}",
                    p.payment_id, receipt.status
                ),
            ));
        }
        p.status = Some(receipt.status);
        if matches!(
            receipt.status,
            ReceiptStatus::Failed | ReceiptStatus::Returned
        ) {
            let closed: Vec<YearMonth> = p
                .components
                .iter()
                .filter(|c| month_closed.contains(&inst_month_key(&p.fixmedins_code, c.month)))
                .map(|c| c.month)
                .collect();
            match policy.daily.failed_payment {
                FailedPaymentPolicy::CarryForward => {
                    for c in &p.components {
                        self.carry.push(CarryItem {
                            fixmedins_code: p.fixmedins_code.clone(),
                            month: c.month,
                            amount: c.amount,
                            origin: CarryOrigin::FailedPayment {
                                payment_id: p.payment_id.clone(),
                            },
                        });
                    }
                    out.carried_forward = p.amount;
                }
                FailedPaymentPolicy::NoRetry if !closed.is_empty() => {
                    out.manual_adjustment = Some(format!(
                        "payment {} came back after the monthly settlement of {closed:?} counted it as paid",
                        p.payment_id
                    ));
                }
                FailedPaymentPolicy::NoRetry => {}
            }
        }
        Ok(out)
    }

    /// The daily figures of `code` for `month` (IS-M-3). Refuses while any payment carrying the
    /// month is without a final receipt (IS-D-7: only a receipt proves payment) or any claim of
    /// the month is still pending (IS-RK-3: the month's daily runs must be closed first).
    pub fn month_figures(&self, code: &str, month: YearMonth) -> Result<MonthDailyFigures> {
        if let Some(e) = self
            .pending
            .iter()
            .find(|e| e.fixmedins_code == code && YearMonth::of(e.settlement_date) == month)
        {
            return Err(SettlementError::rule_err(
                "IS-RK-3",
                Fault::Internal,
                format!(
                    "claim {} of {month} for {code} is not yet closed into a daily run",
                    e.setl_id
                ),
            ));
        }
        let mut successful = Money::ZERO;
        for p in self.payments.values().filter(|p| p.fixmedins_code == code) {
            let part: Money = p
                .components
                .iter()
                .filter(|c| c.month == month)
                .map(|c| c.amount)
                .sum();
            if p.components.iter().all(|c| c.month != month) {
                continue;
            }
            match p.status {
                Some(ReceiptStatus::Paid) => successful += part,
                Some(ReceiptStatus::Failed | ReceiptStatus::Returned) => {}
                other => {
                    return Err(SettlementError::rule_err(
                        "IS-D-7",
                        Fault::Bank,
                        format!(
                            "daily payment {} has no final receipt ({other:?}); query the bank before settling {month}",
                            p.payment_id
                        ),
                    ));
                }
            }
        }
        let k = inst_month_key(code, month);
        Ok(MonthDailyFigures {
            accrued: self.accrued.get(&k).copied().unwrap_or_default(),
            successful,
            fund_fed: self.fund_fed.get(&k).copied().unwrap_or_default(),
        })
    }

    /// Mark `month` settled monthly for `code`: its carried daily items are dropped (the monthly
    /// settlement paid or offset them, IS-RK-3), later claims of the month are not disbursed
    /// daily, and `suspend` records an IS-M-5 debt (IS-RK-2). Idempotent.
    pub fn close_month(&mut self, code: &str, month: YearMonth, suspend: bool) {
        self.month_closed.insert(inst_month_key(code, month));
        self.carry
            .retain(|c| !(c.fixmedins_code == code && c.month == month));
        if suspend {
            self.debt_suspended.insert(code.to_owned());
        } else {
            self.debt_suspended.remove(code);
        }
    }
}

impl DailyRun {
    /// Turn the approved run into the canonical batch (invariant 5: deterministic ids; the same
    /// run and approval time always give the same batch). IS-D-5: approval after the cutoff of
    /// the pay date is refused — close the next pay date instead.
    pub fn to_payment_batch(
        &self,
        institutions: &Institutions,
        debtor: BankAccount,
        approved_at: OffsetDateTime,
    ) -> Result<PaymentBatch> {
        let local = approved_at.to_offset(CHINA_OFFSET);
        let at = PrimitiveDateTime::new(local.date(), local.time());
        if at > self.summary.send_before {
            return Err(SettlementError::rule_err(
                "IS-D-5",
                Fault::Sender,
                format!(
                    "approved at {at}, after the cutoff {} of pay date {}",
                    self.summary.send_before, self.summary.pay_date
                ),
            ));
        }
        let mut payments = Vec::new();
        for l in &self.lines {
            let Some(id) = &l.payment_id else { continue };
            let inst = institutions.get(&l.fixmedins_code).ok_or_else(|| {
                SettlementError::rule_err(
                    "IS-SC-4",
                    Fault::Sender,
                    format!("no bank account for {}", l.fixmedins_code),
                )
            })?;
            let mut dates: Vec<Date> = l.claims.iter().map(|c| c.settlement_date).collect();
            dates.sort();
            dates.dedup();
            payments.push(PaymentInstruction {
                payment_id: id.clone(),
                payee_code: l.fixmedins_code.clone(),
                payee: inst.account.clone(),
                amount: l.pay_amount,
                purpose: PaymentPurpose::Daily,
                settlement_dates: dates,
                replaces_payment_id: l.replaces_payment_id.clone(),
            });
        }
        Ok(PaymentBatch {
            batch_id: self.run_id.clone(),
            pool_admdvs: self.summary.pool_admdvs,
            pay_date: self.summary.pay_date,
            debtor,
            created_at: china_timestamp(local),
            payments,
        })
    }

    /// The summary (汇总单) as CSV with a header row.
    pub fn summary_csv(&self) -> String {
        let s = &self.summary;
        let dates: Vec<String> = s.settlement_dates.iter().map(|d| iso_date(*d)).collect();
        let t = s.send_before.time();
        csv_string(
            &[
                "run_id",
                "pool_admdvs",
                "pay_date",
                "settlement_dates",
                "institutions_paid",
                "claims",
                "claims_total",
                "offsets_in",
                "failed_in",
                "carried_out",
                "pay_total",
                "institutions_skipped",
                "skipped_total",
                "send_before",
            ],
            vec![vec![
                self.run_id.clone(),
                s.pool_admdvs.to_string(),
                iso_date(s.pay_date),
                dates.join(" "),
                s.institutions_paid.to_string(),
                s.claims.to_string(),
                s.claims_total.to_string(),
                s.offsets_in.to_string(),
                s.failed_in.to_string(),
                s.carried_out.to_string(),
                s.pay_total.to_string(),
                s.institutions_skipped.to_string(),
                s.skipped_total.to_string(),
                format!("{} {:02}:{:02}", iso_date(s.pay_date), t.hour(), t.minute()),
            ]],
        )
    }

    /// The detail (明细) as CSV: one row per claim behind each institution's line, then one
    /// row per skipped claim, so every `setl_id` of the run is accounted for.
    pub fn detail_csv(&self) -> String {
        let mut rows = Vec::new();
        for l in &self.lines {
            for c in &l.claims {
                rows.push(vec![
                    l.fixmedins_code.clone(),
                    l.fixmedins_name.clone(),
                    l.payment_id.clone().unwrap_or_default(),
                    c.setl_id.clone(),
                    format!("{:?}", c.kind).to_lowercase(),
                    iso_date(c.settlement_date),
                    c.fund_amount.to_string(),
                    c.daily_ratio.to_string(),
                    c.daily_amount.to_string(),
                    l.pay_amount.to_string(),
                    String::new(),
                ]);
            }
        }
        for s in &self.skipped {
            for c in &s.claims {
                rows.push(vec![
                    s.fixmedins_code.clone(),
                    String::new(),
                    String::new(),
                    c.setl_id.clone(),
                    format!("{:?}", c.kind).to_lowercase(),
                    iso_date(c.settlement_date),
                    c.fund_amount.to_string(),
                    c.daily_ratio.to_string(),
                    c.daily_amount.to_string(),
                    "0.00".into(),
                    format!("skipped [{}] {}", s.rule, s.reason),
                ]);
            }
        }
        csv_string(
            &[
                "fixmedins_code",
                "fixmedins_name",
                "payment_id",
                "setl_id",
                "kind",
                "settlement_date",
                "fund_amount",
                "daily_ratio",
                "daily_amount",
                "line_pay_amount",
                "note",
            ],
            rows,
        )
    }
}

/// `yyyy-MM-ddTHH:mm:ss+08:00`.
pub fn china_timestamp(t: OffsetDateTime) -> String {
    let l = t.to_offset(CHINA_OFFSET);
    format!(
        "{}T{:02}:{:02}:{:02}+08:00",
        iso_date(l.date()),
        l.hour(),
        l.minute(),
        l.second()
    )
}

pub(crate) fn csv_string(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).expect("writing to memory");
    for r in rows {
        w.write_record(&r).expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("flush to memory")).expect("utf-8 in, utf-8 out")
}
