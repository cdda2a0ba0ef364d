//! Double-entry ledger (DESIGN.md §3 invariant 6) and its auditor (IS-RK-3).
//!
//! Every movement of money is a [`Transfer`] from a credit account to a debit account. The
//! balance of an account is Σ debits − Σ credits; the liability-like accounts (receivable, in
//! transit, paid, margin held) are credit-normal and are reported as credit balances.
//!
//! One institution's accounts and how money moves between them:
//! - accrual (a rule confirms the fund owes it E): Dr `FundExpenditure` / Cr `InstitutionReceivable`
//! - payment sent: Dr `InstitutionReceivable` / Cr `BankInTransit` (payee = the institution, or a
//!   distributor paid on its behalf, IS-M-6)
//! - receipt paid: Dr `BankInTransit` / Cr `Paid`; failed: Dr `BankInTransit` / Cr
//!   `InstitutionReceivable` (owed again); returned: Dr `Paid` / Cr `InstitutionReceivable`
//! - quality margin held: Dr `InstitutionReceivable` / Cr `QualityMarginHeld`; released at annual
//!   clearing back to the receivable, forfeited back against `FundExpenditure`.
//!
//! A debit balance of the receivable is an offset: the institution owes the fund (IS-D-3
//! carried negatives, IS-M-5 debts). So for each institution, at any time:
//! `FundExpenditure = receivable + in transit + paid + margin held` (credit balances) — daily,
//! monthly, quarterly and annual payments plus offsets equal the confirmed amount.

use std::collections::{BTreeMap, BTreeSet};

use medsettle_canonical::{Money, ReceiptStatus};
use serde::{Deserialize, Serialize};

use crate::annual::{AnnualRun, QuarterlyLine};
use crate::daily::{DailyRun, ReceiptOutcome};
use crate::error::{Result, SettlementError};
use crate::monthly::MonthlyRun;

const AUDIT_RULE: &str = "IS-RK-3";

/// A ledger account. Every account belongs to exactly one institution (`inst`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "account")]
pub enum Account {
    /// The fund's recognised expenditure for the institution (debit-normal).
    FundExpenditure { inst: String },
    /// What the fund owes the institution and has not sent (credit-normal; debit = offset).
    InstitutionReceivable { inst: String },
    /// Sent to the bank, no final receipt yet (credit-normal).
    BankInTransit { inst: String, payee: String },
    /// Confirmed paid by a bank receipt (credit-normal).
    Paid { inst: String, payee: String },
    /// Quality margin held back until annual clearing (credit-normal).
    QualityMarginHeld { inst: String },
    /// Clearing between provinces (跨省异地就医清算) in the books of the province fund `inst`
    /// (medsettle-clearing). Against `counter` — a counter-province, or a month's netting — a
    /// credit balance is owed by `inst` and a debit balance is owed to it: either sign, reported
    /// with the receivable. Against itself (`counter == inst`, the province's own account) a
    /// debit is money received through clearing, reported as negative paid: the fund's net
    /// outflow, so `expenditure = receivable + in transit + paid` holds for a receiving
    /// province too.
    ProvinceClearing { inst: String, counter: String },
}

impl Account {
    pub fn institution(&self) -> &str {
        match self {
            Account::FundExpenditure { inst }
            | Account::InstitutionReceivable { inst }
            | Account::BankInTransit { inst, .. }
            | Account::Paid { inst, .. }
            | Account::QualityMarginHeld { inst }
            | Account::ProvinceClearing { inst, .. } => inst,
        }
    }

    fn credit_normal_non_negative(&self) -> bool {
        matches!(
            self,
            Account::BankInTransit { .. }
                | Account::Paid { .. }
                | Account::QualityMarginHeld { .. }
        )
    }
}

fn expenditure(i: &str) -> Account {
    Account::FundExpenditure { inst: i.to_owned() }
}
fn receivable(i: &str) -> Account {
    Account::InstitutionReceivable { inst: i.to_owned() }
}
fn in_transit(i: &str, payee: &str) -> Account {
    Account::BankInTransit {
        inst: i.to_owned(),
        payee: payee.to_owned(),
    }
}
fn paid(i: &str, payee: &str) -> Account {
    Account::Paid {
        inst: i.to_owned(),
        payee: payee.to_owned(),
    }
}
fn margin(i: &str) -> Account {
    Account::QualityMarginHeld { inst: i.to_owned() }
}

/// One double-entry movement. `amount` is always > 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub debit: Account,
    pub credit: Account,
    pub amount: Money,
    /// What caused it: run id, payment id, receipt…
    pub reference: String,
}

/// Build a transfer moving `amount` from `credit` to `debit`; a negative amount swaps sides,
/// zero produces nothing.
fn transfer(
    out: &mut Vec<Transfer>,
    debit: Account,
    credit: Account,
    amount: Money,
    reference: &str,
) {
    if amount.is_zero() {
        return;
    }
    let (debit, credit, amount) = if amount.is_negative() {
        (credit, debit, -amount)
    } else {
        (debit, credit, amount)
    };
    out.push(Transfer {
        debit,
        credit,
        amount,
        reference: reference.to_owned(),
    });
}

/// Postings of a daily run: accrual of the claims' daily amounts, then the payments sent.
pub fn daily_run_postings(run: &DailyRun) -> Vec<Transfer> {
    let mut out = Vec::new();
    for l in &run.lines {
        let c = &l.fixmedins_code;
        transfer(
            &mut out,
            expenditure(c),
            receivable(c),
            l.claims_total,
            &run.run_id,
        );
        if let Some(id) = &l.payment_id {
            transfer(&mut out, receivable(c), in_transit(c, c), l.pay_amount, id);
        }
    }
    out
}

/// Postings of a receipt on a daily payment (IS-D-6/7). A duplicate receipt posts nothing.
pub fn daily_receipt_postings(o: &ReceiptOutcome) -> Vec<Transfer> {
    payment_receipt_postings(
        &o.fixmedins_code,
        &o.fixmedins_code,
        &o.payment_id,
        o.amount,
        o.previous,
        o.status,
    )
}

/// Postings for a receipt on any payment (monthly, distributor, quarterly, annual) that moved
/// from `previous` to `status`; failed or returned money goes back to the institution's
/// receivable.
pub fn payment_receipt_postings(
    inst: &str,
    payee: &str,
    payment_id: &str,
    amount: Money,
    previous: Option<ReceiptStatus>,
    status: ReceiptStatus,
) -> Vec<Transfer> {
    payment_receipt_postings_to(
        inst,
        payee,
        payment_id,
        amount,
        (previous, status),
        receivable(inst),
    )
}

/// [`payment_receipt_postings`] for a payment sent from another account than the receivable
/// (a province's clearing transfer or prepayment movement): failed or returned money goes back
/// to `source`, the account the sending posting debited.
pub fn payment_receipt_postings_to(
    inst: &str,
    payee: &str,
    payment_id: &str,
    amount: Money,
    (previous, status): (Option<ReceiptStatus>, ReceiptStatus),
    source: Account,
) -> Vec<Transfer> {
    let mut out = Vec::new();
    if previous == Some(status) {
        return out;
    }
    let r = format!("receipt:{payment_id}:{status:?}");
    match status {
        ReceiptStatus::Paid => transfer(
            &mut out,
            in_transit(inst, payee),
            paid(inst, payee),
            amount,
            &r,
        ),
        ReceiptStatus::Failed => transfer(&mut out, in_transit(inst, payee), source, amount, &r),
        ReceiptStatus::Returned => transfer(&mut out, paid(inst, payee), source, amount, &r),
        ReceiptStatus::Accepted | ReceiptStatus::Pending => {}
    }
    out
}

/// Postings of a monthly settlement: the accrual up to the month's confirmed amount, the margin
/// held, advances sent to distributors (IS-M-6), and the payment (IS-M-3). A negative result
/// leaves a debit on the receivable — the debt (IS-M-5).
pub fn monthly_postings(run: &MonthlyRun) -> Vec<Transfer> {
    let mut out = Vec::new();
    for l in &run.lines {
        let c = &l.fixmedins_code;
        let r = format!("monthly:{}:{c}", run.month);
        transfer(
            &mut out,
            expenditure(c),
            receivable(c),
            l.accrual_adjustment,
            &r,
        );
        transfer(&mut out, receivable(c), margin(c), l.quality_margin, &r);
        for a in &l.advances {
            let id = crate::monthly::distributor_payment_id(
                &format!("{}{:02}", run.month.year, u8::from(run.month.month)),
                c,
                &a.distributor_code,
            );
            transfer(
                &mut out,
                receivable(c),
                in_transit(c, &a.distributor_code),
                a.amount,
                &id,
            );
        }
        if let Some(id) = &l.payment_id {
            transfer(&mut out, receivable(c), in_transit(c, c), l.payable, id);
        }
    }
    out
}

/// Postings of quarterly supplements (IS-Q-1): accrue and send.
pub fn quarterly_postings(lines: &[QuarterlyLine]) -> Vec<Transfer> {
    let mut out = Vec::new();
    for l in lines {
        let c = &l.fixmedins_code;
        transfer(
            &mut out,
            expenditure(c),
            receivable(c),
            l.amount,
            &l.payment_id,
        );
        transfer(
            &mut out,
            receivable(c),
            in_transit(c, c),
            l.amount,
            &l.payment_id,
        );
    }
    out
}

/// Balances of one institution, as credit balances except expenditure (debit balance).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionPosition {
    pub expenditure: Money,
    /// Owed to the institution (negative = it owes the fund: an offset).
    pub receivable: Money,
    pub in_transit: Money,
    /// Paid to the institution and to distributors on its behalf.
    pub paid: Money,
    pub margin_held: Money,
}

/// The ledger: transfers in order, and the batch references already posted (posting is
/// idempotent by reference, so a redelivered batch posts once).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    transfers: Vec<Transfer>,
    posted: BTreeSet<String>,
}

/// What the rules say each institution's figures must be, checked by the auditor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations {
    /// The confirmed amount under the rules so far (daily amounts of claims taken into runs for
    /// open months, `confirmed` of settled months, quarterly supplements, the annual result).
    pub confirmed: BTreeMap<String, Money>,
    /// Optional: what the receivable must be (e.g. −carried offsets − debts).
    pub receivable: BTreeMap<String, Money>,
}

/// A passed audit's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    pub transfers: usize,
    pub total_debits: Money,
    pub total_credits: Money,
    pub positions: BTreeMap<String, InstitutionPosition>,
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger::default()
    }

    pub fn transfers(&self) -> &[Transfer] {
        &self.transfers
    }

    pub fn is_posted(&self, batch_ref: &str) -> bool {
        self.posted.contains(batch_ref)
    }

    /// Post a batch of transfers under `batch_ref`, audit the result against `expect`, and keep
    /// it only if the audit passes: a failed audit returns the error and leaves the ledger as it
    /// was, so the batch does not proceed. Posting a `batch_ref` again is a no-op (`Ok(None)`).
    pub fn post(
        &mut self,
        batch_ref: &str,
        transfers: Vec<Transfer>,
        expect: &Expectations,
    ) -> Result<Option<AuditReport>> {
        if self.posted.contains(batch_ref) {
            return Ok(None);
        }
        let mut next = self.clone();
        next.transfers.extend(transfers);
        next.posted.insert(batch_ref.to_owned());
        let report = next.audit(expect)?;
        *self = next;
        Ok(Some(report))
    }

    /// Post several batches at once, each under its own reference (one already posted is
    /// skipped), and audit once, after all of them: `post` for each would copy and audit the
    /// whole ledger per batch — quadratic in a month's receipts. All or nothing, like `post`;
    /// `Ok(None)` when every batch was already posted.
    pub fn post_many(
        &mut self,
        batches: Vec<(String, Vec<Transfer>)>,
        expect: &Expectations,
    ) -> Result<Option<AuditReport>> {
        let fresh: Vec<(String, Vec<Transfer>)> = batches
            .into_iter()
            .filter(|(r, _)| !self.posted.contains(r))
            .collect();
        if fresh.is_empty() {
            return Ok(None);
        }
        let mut next = self.clone();
        for (reference, transfers) in fresh {
            next.transfers.extend(transfers);
            next.posted.insert(reference);
        }
        let report = next.audit(expect)?;
        *self = next;
        Ok(Some(report))
    }

    /// Per-institution positions.
    pub fn positions(&self) -> BTreeMap<String, InstitutionPosition> {
        let mut bal: BTreeMap<&Account, i128> = BTreeMap::new();
        for t in &self.transfers {
            *bal.entry(&t.debit).or_default() += i128::from(t.amount.fen());
            *bal.entry(&t.credit).or_default() -= i128::from(t.amount.fen());
        }
        let mut pos: BTreeMap<String, InstitutionPosition> = BTreeMap::new();
        for (a, b) in bal {
            let m = Money::from_fen(i64::try_from(b).expect("ledger balances fit i64 fen"));
            let p = pos.entry(a.institution().to_owned()).or_default();
            match a {
                Account::FundExpenditure { .. } => p.expenditure += m,
                Account::ProvinceClearing { inst, counter } if inst == counter => p.paid -= m,
                Account::InstitutionReceivable { .. } | Account::ProvinceClearing { .. } => {
                    p.receivable -= m
                }
                Account::BankInTransit { .. } => p.in_transit -= m,
                Account::Paid { .. } => p.paid -= m,
                Account::QualityMarginHeld { .. } => p.margin_held -= m,
            }
        }
        pos
    }

    /// Postings of an annual clearing (IS-A-2/3): adjust the year's expenditure to the clearing
    /// amount, forfeit and release the margin, send the payment. Needs the ledger's current
    /// expenditure, hence a method. The institution's receivable ends at 0, or negative (a debt)
    /// when it was overpaid.
    pub fn annual_postings(&self, run: &AnnualRun) -> Vec<Transfer> {
        let pos = self.positions();
        let mut out = Vec::new();
        for l in &run.lines {
            let c = &l.fixmedins_code;
            let r = format!("annual:{}:{c}", run.year);
            let current = pos.get(c).map(|p| p.expenditure).unwrap_or_default();
            transfer(
                &mut out,
                expenditure(c),
                receivable(c),
                l.annual_clearing_amount - current,
                &r,
            );
            transfer(
                &mut out,
                margin(c),
                expenditure(c),
                l.quality_margin_forfeited,
                &r,
            );
            transfer(
                &mut out,
                margin(c),
                receivable(c),
                l.quality_margin_released,
                &r,
            );
            if let Some(id) = &l.payment_id {
                transfer(&mut out, receivable(c), in_transit(c, c), l.payable, id);
            }
        }
        out
    }

    /// The auditor (IS-RK-3, invariant 6). Checks, in order:
    /// 1. `transfer-shape`: every amount > 0, debit ≠ credit, both sides the same institution;
    /// 2. `debits-equal-credits`: Σ debits = Σ credits and the balances sum to zero;
    /// 3. `non-negative`: in transit, paid and margin held never below zero;
    /// 4. `institution-identity`: expenditure = receivable + in transit + paid + margin held;
    /// 5. `confirmed-amount`: expenditure = the rules' confirmed amount (every institution in
    ///    the ledger must have an expectation);
    /// 6. `receivable`: where expected, the receivable (offsets) matches.
    pub fn audit(&self, expect: &Expectations) -> Result<AuditReport> {
        let fail =
            |invariant: &'static str, detail: String, difference: Money| SettlementError::Audit {
                rule: AUDIT_RULE,
                invariant,
                detail,
                difference,
            };
        let mut debits = Money::ZERO;
        let mut credits = Money::ZERO;
        for t in &self.transfers {
            if t.amount <= Money::ZERO
                || t.debit == t.credit
                || t.debit.institution() != t.credit.institution()
            {
                return Err(fail(
                    "transfer-shape",
                    format!(
                        "transfer {t:?} must move a positive amount between two accounts of one institution"
                    ),
                    t.amount,
                ));
            }
            debits += t.amount;
            credits += t.amount;
        }
        let positions = self.positions();
        let net: Money = positions
            .values()
            .map(|p| p.expenditure - p.receivable - p.in_transit - p.paid - p.margin_held)
            .sum();
        if debits != credits || !net.is_zero() {
            return Err(fail(
                "debits-equal-credits",
                format!("debits {debits}, credits {credits}, balances sum to {net}"),
                debits - credits + net,
            ));
        }
        let mut bal: BTreeMap<&Account, Money> = BTreeMap::new();
        for t in &self.transfers {
            *bal.entry(&t.debit).or_default() += t.amount;
            *bal.entry(&t.credit).or_default() -= t.amount;
        }
        for (a, b) in &bal {
            if a.credit_normal_non_negative() && *b > Money::ZERO {
                return Err(fail(
                    "non-negative",
                    format!("{a:?} has credit balance {}", -*b),
                    *b,
                ));
            }
        }
        for (inst, p) in &positions {
            let parts = p.receivable + p.in_transit + p.paid + p.margin_held;
            if p.expenditure != parts {
                return Err(fail(
                    "institution-identity",
                    format!(
                        "{inst}: expenditure {} ≠ receivable + in transit + paid + margin {parts}",
                        p.expenditure
                    ),
                    p.expenditure - parts,
                ));
            }
            let Some(want) = expect.confirmed.get(inst) else {
                return Err(fail(
                    "confirmed-amount",
                    format!("{inst}: no confirmed amount to check against"),
                    p.expenditure,
                ));
            };
            if p.expenditure != *want {
                return Err(fail(
                    "confirmed-amount",
                    format!(
                        "{inst}: ledger expenditure {} ≠ confirmed {want} under the rules",
                        p.expenditure
                    ),
                    p.expenditure - *want,
                ));
            }
            if let Some(want) = expect.receivable.get(inst)
                && p.receivable != *want
            {
                return Err(fail(
                    "receivable",
                    format!("{inst}: receivable {} ≠ expected {want}", p.receivable),
                    p.receivable - *want,
                ));
            }
        }
        for (inst, want) in &expect.confirmed {
            if !positions.contains_key(inst) && !want.is_zero() {
                return Err(fail(
                    "confirmed-amount",
                    format!("{inst}: confirmed {want} but nothing in the ledger"),
                    -*want,
                ));
            }
        }
        Ok(AuditReport {
            transfers: self.transfers.len(),
            total_debits: debits,
            total_credits: credits,
            positions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(pairs: &[(&str, i64)]) -> Expectations {
        Expectations {
            confirmed: pairs
                .iter()
                .map(|(c, f)| (c.to_string(), Money::from_fen(*f)))
                .collect(),
            receivable: BTreeMap::new(),
        }
    }

    #[test]
    fn many_batches_post_once_all_or_nothing_and_skip_what_was_posted() {
        let mut l = Ledger::new();
        let sent = payment_postings("H1", 600);
        l.post("p1", sent, &exp(&[("H1", 600)])).unwrap().unwrap();
        let paid = payment_receipt_postings(
            "H1",
            "H1",
            "P1",
            Money::from_fen(600),
            None,
            ReceiptStatus::Paid,
        );
        let returned = payment_receipt_postings(
            "H1",
            "H1",
            "P1",
            Money::from_fen(600),
            Some(ReceiptStatus::Paid),
            ReceiptStatus::Returned,
        );
        // a return right behind its payment, in one call: audited once, at the end
        let rep = l
            .post_many(
                vec![("paid".into(), paid.clone()), ("returned".into(), returned)],
                &exp(&[("H1", 600)]),
            )
            .unwrap()
            .unwrap();
        assert_eq!(rep.positions["H1"].paid, Money::ZERO);
        assert_eq!(rep.positions["H1"].receivable, Money::from_fen(600));
        assert!(l.is_posted("paid") && l.is_posted("returned"));
        // what was posted is skipped; nothing new is no audit
        assert!(
            l.post_many(vec![("paid".into(), paid)], &exp(&[("H1", 600)]))
                .unwrap()
                .is_none()
        );
        // one batch breaking the audit keeps none of them
        let mut bad = Vec::new();
        transfer(
            &mut bad,
            expenditure("H1"),
            receivable("H1"),
            Money::from_fen(5),
            "x",
        );
        let before = l.transfers().len();
        let again = payment_postings("H1", 10);
        assert!(
            l.post_many(
                vec![("ok".into(), again), ("bad".into(), bad)],
                &exp(&[("H1", 610)])
            )
            .is_err()
        );
        assert_eq!(l.transfers().len(), before);
        assert!(!l.is_posted("ok") && !l.is_posted("bad"));
    }

    /// An accrual of `fen` to the institution, sent to the bank.
    fn payment_postings(inst: &str, fen: i64) -> Vec<Transfer> {
        let mut t = Vec::new();
        transfer(
            &mut t,
            expenditure(inst),
            receivable(inst),
            Money::from_fen(fen),
            "accrual",
        );
        transfer(
            &mut t,
            receivable(inst),
            in_transit(inst, inst),
            Money::from_fen(fen),
            "sent",
        );
        t
    }

    #[test]
    fn invariant_6_auditor_accepts_a_balanced_batch_and_rejects_a_wrong_one() {
        let mut l = Ledger::new();
        let mut t = Vec::new();
        transfer(
            &mut t,
            expenditure("H1"),
            receivable("H1"),
            Money::from_fen(600),
            "r1",
        );
        transfer(
            &mut t,
            receivable("H1"),
            in_transit("H1", "H1"),
            Money::from_fen(600),
            "p1",
        );
        let rep = l
            .post("r1", t.clone(), &exp(&[("H1", 600)]))
            .unwrap()
            .unwrap();
        assert_eq!(rep.positions["H1"].in_transit, Money::from_fen(600));
        // posting the same batch again is a no-op
        assert!(l.post("r1", t, &exp(&[("H1", 600)])).unwrap().is_none());
        // a batch that would make the confirmed amount wrong is refused and not kept
        let mut bad = Vec::new();
        transfer(
            &mut bad,
            expenditure("H1"),
            receivable("H1"),
            Money::from_fen(5),
            "r2",
        );
        let e = l.post("r2", bad, &exp(&[("H1", 600)])).unwrap_err();
        match e {
            SettlementError::Audit {
                invariant,
                difference,
                ..
            } => {
                assert_eq!(invariant, "confirmed-amount");
                assert_eq!(difference, Money::from_fen(5));
            }
            other => panic!("{other}"),
        }
        assert_eq!(l.transfers().len(), 2);
        assert!(!l.is_posted("r2"));
    }

    #[test]
    fn invariant_6_auditor_names_negative_and_cross_institution_transfers() {
        let mut l = Ledger::new();
        // paying more than in transit drives in-transit negative
        let t = vec![Transfer {
            debit: in_transit("H1", "H1"),
            credit: paid("H1", "H1"),
            amount: Money::from_fen(10),
            reference: "x".into(),
        }];
        let e = l.post("x", t, &exp(&[("H1", 0)])).unwrap_err();
        assert!(e.to_string().contains("`non-negative`"), "{e}");
        let t = vec![Transfer {
            debit: expenditure("H1"),
            credit: receivable("H2"),
            amount: Money::from_fen(10),
            reference: "y".into(),
        }];
        let e = l.post("y", t, &exp(&[("H1", 10), ("H2", 0)])).unwrap_err();
        assert!(e.to_string().contains("`transfer-shape`"), "{e}");
    }
}
