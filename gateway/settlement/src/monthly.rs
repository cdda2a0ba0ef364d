//! Monthly settlement (月结算, IS-M).
//!
//! IS-M-3: `monthly_payable = fund_amount_of_month × monthly_ratio − quality_margin
//!   − audit_deductions − successful_daily_payments_of_month − procurement_advances`.
//! Each share of the fund amount is one product rounded half up once (`gross` =
//! F × monthly_ratio, `quality_margin` = F × quality_margin_rate); everything after is exact
//! subtraction in fen. A negative result pays nothing, is carried as a debt against the next
//! monthly settlement, and suspends the institution (IS-M-5, IS-RK-2). Procurement advances are
//! paid to the distributors (IS-M-6).

use std::collections::BTreeMap;

use medsettle_canonical::{
    BankAccount, CHINA_OFFSET, Fault, Money, PaymentBatch, PaymentInstruction, PaymentPurpose,
};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::calendar::{Calendar, YearMonth};
use crate::csvin::{Advance, Declaration, Deduction};
use crate::daily::{Institutions, MonthDailyFigures, china_timestamp, csv_string};
use crate::error::{Result, SettlementError};
use crate::policy::SettlementPolicy;

/// One institution's monthly settlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthlyLine {
    pub fixmedins_code: String,
    pub month: YearMonth,
    /// Declared in-scope fund amount of the month (IS-M-1).
    pub fund_amount: Money,
    /// `round_half_up(fund_amount × monthly_ratio)`.
    pub gross: Money,
    /// `round_half_up(fund_amount × quality_margin_rate)`, held until annual clearing.
    pub quality_margin: Money,
    pub audit_deductions: Money,
    pub successful_daily: Money,
    pub procurement_advances: Money,
    /// IS-M-5 debt of earlier months offset here (≥ 0).
    pub debt_brought_forward: Money,
    /// The formula before the floor at zero.
    pub computed: Money,
    /// What is paid to the institution (≥ 0).
    pub payable: Money,
    /// IS-M-5: what the institution still owes (≥ 0).
    pub debt_carried: Money,
    /// `gross − audit_deductions`: the month's confirmed fund expenditure for the institution
    /// (the margin is part of it, held; advances are part of it, paid to distributors).
    pub confirmed: Money,
    /// `confirmed − daily accrued`: the ledger accrual this settlement adds.
    pub accrual_adjustment: Money,
    /// Suspend daily disbursement (IS-M-5, IS-RK-2) — or lift a debt suspension when false.
    pub suspend: bool,
    pub payment_id: Option<String>,
    pub advances: Vec<Advance>,
}

/// The month's settlement for a pool region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthlyRun {
    pub month: YearMonth,
    /// IS-M-1: the declaration deadline in the following month.
    pub declaration_deadline: Date,
    /// IS-M-4: last day the payment may reach the institutions.
    pub due_date: Date,
    pub lines: Vec<MonthlyLine>,
    /// Differences that do not stop the settlement but must be looked at (IS-D-9, IS-RK-3).
    pub warnings: Vec<String>,
}

/// IS-M-4: the due date of a month's settlement: the `payment_limit_working_days`-th working day
/// counted from the day after the declaration deadline ("从申报截止次日到拨付不超过20个工作日"):
/// the day after counts as day 1 when it is a working day, i.e. `add_working_days(deadline, n)`.
pub fn monthly_due_date(
    policy: &SettlementPolicy,
    calendar: &Calendar,
    month: YearMonth,
) -> Result<(Date, Date)> {
    let deadline = month
        .next()
        .first_day()
        .replace_day(policy.monthly.declaration_deadline_day)
        .expect("validated 1..=28");
    let due = calendar.add_working_days(deadline, policy.monthly.payment_limit_working_days)?;
    Ok((deadline, due))
}

/// Inputs of the monthly settlement besides the CSV imports.
pub struct MonthlyInputs<'a> {
    /// From [`crate::DailyAggregator::month_figures`] for each declaring institution.
    pub daily: &'a BTreeMap<String, MonthDailyFigures>,
    /// IS-M-5 debts still owed, by institution (≥ 0).
    pub debts: &'a BTreeMap<String, Money>,
}

/// Compute the monthly settlement of `month` (IS-M-3..6).
pub fn settle_month(
    policy: &SettlementPolicy,
    calendar: &Calendar,
    month: YearMonth,
    declarations: &[Declaration],
    deductions: &[Deduction],
    advances: &[Advance],
    inputs: &MonthlyInputs<'_>,
) -> Result<MonthlyRun> {
    let (declaration_deadline, due_date) = monthly_due_date(policy, calendar, month)?;
    let mut warnings = Vec::new();
    let declared: BTreeMap<&str, &Declaration> = declarations
        .iter()
        .filter(|d| d.month == month)
        .map(|d| (d.fixmedins_code.as_str(), d))
        .collect();
    for d in deductions.iter().filter(|d| d.month == month) {
        if !declared.contains_key(d.fixmedins_code.as_str()) {
            return Err(SettlementError::rule_err(
                "IS-M-2",
                Fault::Sender,
                format!(
                    "deduction {} for {} has no declaration for {month}",
                    d.setl_id, d.fixmedins_code
                ),
            ));
        }
    }
    for a in advances.iter().filter(|a| a.month == month) {
        if !declared.contains_key(a.fixmedins_code.as_str()) {
            return Err(SettlementError::rule_err(
                "IS-M-6",
                Fault::Sender,
                format!(
                    "advance to {} for {} has no declaration for {month}",
                    a.distributor_code, a.fixmedins_code
                ),
            ));
        }
    }
    for code in inputs.daily.keys() {
        if !declared.contains_key(code.as_str()) {
            warnings.push(format!(
                "[IS-M-1] {code} had daily disbursement in {month} but no declaration: not settled"
            ));
        }
    }
    let mut lines = Vec::new();
    for (code, d) in declared {
        let figures = inputs
            .daily
            .get(code)
            .copied()
            .unwrap_or(MonthDailyFigures {
                accrued: Money::ZERO,
                successful: Money::ZERO,
                fund_fed: Money::ZERO,
            });
        if figures.fund_fed != d.fund_amount {
            warnings.push(format!(
                "[IS-D-9] {code} declared fund amount {} for {month}, the journal has {} (difference {})",
                d.fund_amount,
                figures.fund_fed,
                d.fund_amount - figures.fund_fed
            ));
        }
        let gross = d.fund_amount.mul_ratio_half_up(policy.monthly.ratio);
        let quality_margin = d
            .fund_amount
            .mul_ratio_half_up(policy.monthly.quality_margin_rate);
        let audit_deductions: Money = deductions
            .iter()
            .filter(|x| x.month == month && x.fixmedins_code == code)
            .map(|x| x.amount)
            .sum();
        let adv: Vec<Advance> = advances
            .iter()
            .filter(|x| x.month == month && x.fixmedins_code == code)
            .cloned()
            .collect();
        let procurement_advances: Money = adv.iter().map(|a| a.amount).sum();
        let debt_brought_forward = inputs.debts.get(code).copied().unwrap_or_default();
        if debt_brought_forward.is_negative() {
            return Err(SettlementError::rule_err(
                "IS-M-5",
                Fault::Internal,
                format!("negative debt {debt_brought_forward} for {code}"),
            ));
        }
        let computed = gross
            - quality_margin
            - audit_deductions
            - figures.successful
            - procurement_advances
            - debt_brought_forward;
        let (payable, debt_carried) = if computed.is_negative() {
            (Money::ZERO, -computed)
        } else {
            (computed, Money::ZERO)
        };
        let confirmed = gross - audit_deductions;
        lines.push(MonthlyLine {
            fixmedins_code: code.to_owned(),
            month,
            fund_amount: d.fund_amount,
            gross,
            quality_margin,
            audit_deductions,
            successful_daily: figures.successful,
            procurement_advances,
            debt_brought_forward,
            computed,
            payable,
            debt_carried,
            confirmed,
            accrual_adjustment: confirmed - figures.accrued,
            suspend: debt_carried > Money::ZERO,
            payment_id: (payable > Money::ZERO)
                .then(|| format!("M{}{:02}{code}", month.year, u8::from(month.month))),
            advances: adv,
        });
    }
    Ok(MonthlyRun {
        month,
        declaration_deadline,
        due_date,
        lines,
        warnings,
    })
}

impl MonthlyRun {
    /// The canonical batch: one monthly payment per institution with a positive amount, and one
    /// distributor payment per advance (IS-M-6). IS-M-4: a pay date after the due date is refused.
    pub fn to_payment_batch(
        &self,
        policy: &SettlementPolicy,
        institutions: &Institutions,
        debtor: BankAccount,
        pay_date: Date,
        approved_at: OffsetDateTime,
    ) -> Result<PaymentBatch> {
        if pay_date > self.due_date {
            return Err(SettlementError::rule_err(
                "IS-M-4",
                Fault::Sender,
                format!(
                    "pay date {pay_date} is after the due date {} of {}",
                    self.due_date, self.month
                ),
            ));
        }
        let ym = format!("{}{:02}", self.month.year, u8::from(self.month.month));
        let last = self.month.last_day();
        let mut payments = Vec::new();
        for l in &self.lines {
            if let Some(id) = &l.payment_id {
                let inst = institutions.get(&l.fixmedins_code).ok_or_else(|| {
                    SettlementError::rule_err(
                        "IS-SC-4",
                        Fault::Sender,
                        format!("no bank account for {}", l.fixmedins_code),
                    )
                })?;
                payments.push(PaymentInstruction {
                    payment_id: id.clone(),
                    payee_code: l.fixmedins_code.clone(),
                    payee: inst.account.clone(),
                    amount: l.payable,
                    purpose: PaymentPurpose::Monthly,
                    settlement_dates: vec![self.month.first_day(), last],
                    replaces_payment_id: None,
                });
            }
            for a in &l.advances {
                payments.push(PaymentInstruction {
                    payment_id: distributor_payment_id(&ym, &l.fixmedins_code, &a.distributor_code),
                    payee_code: a.distributor_code.clone(),
                    payee: a.distributor.clone(),
                    amount: a.amount,
                    purpose: PaymentPurpose::Distributor,
                    settlement_dates: vec![self.month.first_day(), last],
                    replaces_payment_id: None,
                });
            }
        }
        Ok(PaymentBatch {
            batch_id: format!("M{}{ym}", policy.pool_admdvs),
            pool_admdvs: policy.pool_admdvs,
            pay_date,
            debtor,
            created_at: china_timestamp(approved_at.to_offset(CHINA_OFFSET)),
            payments,
        })
    }

    /// The monthly summary as CSV with a header row.
    pub fn to_csv(&self) -> String {
        csv_string(
            &[
                "fixmedins_code",
                "month",
                "fund_amount",
                "gross",
                "quality_margin",
                "audit_deductions",
                "successful_daily",
                "procurement_advances",
                "debt_brought_forward",
                "payable",
                "debt_carried",
                "suspend",
                "due_date",
            ],
            self.lines
                .iter()
                .map(|l| {
                    vec![
                        l.fixmedins_code.clone(),
                        l.month.to_string(),
                        l.fund_amount.to_string(),
                        l.gross.to_string(),
                        l.quality_margin.to_string(),
                        l.audit_deductions.to_string(),
                        l.successful_daily.to_string(),
                        l.procurement_advances.to_string(),
                        l.debt_brought_forward.to_string(),
                        l.payable.to_string(),
                        l.debt_carried.to_string(),
                        if l.suspend { "1" } else { "0" }.to_owned(),
                        crate::calendar::iso_date(self.due_date),
                    ]
                })
                .collect(),
        )
    }
}

/// `P{yyyymm}{fixmedins_code}{distributor_code}`: deterministic, one per advance row.
pub fn distributor_payment_id(ym: &str, code: &str, distributor: &str) -> String {
    format!("P{ym}{code}{distributor}")
}
