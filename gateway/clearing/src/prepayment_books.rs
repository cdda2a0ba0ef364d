//! A prepayment's movements in the books: the double-entry postings each side makes in its
//! own settlement ledger, and the payment the paying side sends.
//!
//! The prepayment is neither side's expenditure — it is the insured province's money held by
//! the treatment province — so every posting moves between `ProvinceClearing` accounts or to
//! the bank, and the auditor's `expenditure = receivable + in transit + paid` is untouched.
//! Counters (in the books of province `P`, about the other province `Q`):
//! - `prepayment:<Q>`: the prepayment itself. At the holder a credit balance (what it owes the
//!   insured province back); at the insured place a debit balance (its money held there).
//! - `prepayment-due:<Q>`: a movement agreed but not yet arrived — at the holder a top-up the
//!   insured province is to pay, at the insured place a refund the holder is to pay.
//! - `clearing:<YYYY-MM>`: the month's netting account ([`crate::netting_counter`]), which a
//!   drawdown settles by the amount drawn.
//!
//! | movement | holder (treatment province T, about I) | insured province I (about T) |
//! |---|---|---|
//! | top-up | Dr `prepayment-due:I` / Cr `prepayment:I` | Dr `prepayment:T` / Cr `BankInTransit{I, T}` (it pays) |
//! | refund | Dr `prepayment:I` / Cr `BankInTransit{T, I}` (it pays) | Dr `prepayment-due:T` / Cr `prepayment:T` |
//! | drawdown | Dr `prepayment:I` / Cr `clearing:<month>` | Dr `clearing:<month>` / Cr `prepayment:T` |

use medsettle_canonical::{
    Admdvs, BankAccount, CHINA_OFFSET, Fault, PaymentBatch, PaymentInstruction, PaymentPurpose,
};
use medsettle_settlement::YearMonth;
use medsettle_settlement::daily::china_timestamp;
use medsettle_settlement::ledger::{Account, Transfer};
use time::{Date, OffsetDateTime};

use crate::error::{ACCOUNT_RULE, ClearingError, Result};
use crate::month::ProvinceAccounts;
use crate::postings::{netting_counter, province_entity};
use crate::prepayment::{MovementKind, PrepaymentMovement};

/// Whose books.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrepaymentSide {
    /// The treatment province, which holds the prepayment.
    Holder,
    /// The insured province, whose money it is.
    Insured,
}

/// The counter of a prepayment in `ProvinceClearing`: `prepayment:<other province>`.
pub fn prepayment_counter(other: Admdvs) -> String {
    format!("prepayment:{other}")
}

/// The counter of a movement agreed and not yet arrived: `prepayment-due:<other province>`.
pub fn prepayment_due_counter(other: Admdvs) -> String {
    format!("prepayment-due:{other}")
}

fn pc(inst: Admdvs, counter: String) -> Account {
    Account::ProvinceClearing {
        inst: province_entity(inst),
        counter,
    }
}

/// The postings of movement `m` of the prepayment of `insured` held by `treatment`, in the
/// books of `side`. A drawdown names the `month` whose transfer it covers; nothing moves for
/// a zero amount.
pub fn prepayment_postings(
    insured: Admdvs,
    treatment: Admdvs,
    side: PrepaymentSide,
    m: &PrepaymentMovement,
    month: Option<YearMonth>,
) -> Result<Vec<Transfer>> {
    if m.amount.is_zero() {
        return Ok(Vec::new());
    }
    let (own, other) = match side {
        PrepaymentSide::Holder => (treatment, insured),
        PrepaymentSide::Insured => (insured, treatment),
    };
    let held = pc(own, prepayment_counter(other));
    let due = pc(own, prepayment_due_counter(other));
    let transit = Account::BankInTransit {
        inst: province_entity(own),
        payee: other.to_string(),
    };
    let netting = |kind| {
        month.map(|mo| pc(own, netting_counter(mo))).ok_or_else(|| {
            ClearingError::rule_err(
                crate::error::PREPAYMENT_RULE,
                Fault::Internal,
                format!("a {kind} names the month of the transfer it covers"),
            )
        })
    };
    let (debit, credit) = match (m.kind, side) {
        (MovementKind::TopUp, PrepaymentSide::Holder) => (due, held),
        (MovementKind::TopUp, PrepaymentSide::Insured) => (held, transit),
        (MovementKind::Refund, PrepaymentSide::Holder) => (held, transit),
        (MovementKind::Refund, PrepaymentSide::Insured) => (due, held),
        (MovementKind::Drawdown, PrepaymentSide::Holder) => (held, netting("drawdown")?),
        (MovementKind::Drawdown, PrepaymentSide::Insured) => (netting("drawdown")?, held),
    };
    Ok(vec![Transfer {
        debit,
        credit,
        amount: m.amount,
        reference: format!("prepayment:{}", m.reference),
    }])
}

/// Who pays a movement: the insured province a top-up, the holder a refund; a drawdown moves
/// no money.
pub fn prepayment_payer(insured: Admdvs, treatment: Admdvs, kind: MovementKind) -> Option<Admdvs> {
    match kind {
        MovementKind::TopUp => Some(insured),
        MovementKind::Refund => Some(treatment),
        MovementKind::Drawdown => None,
    }
}

/// The account a top-up or refund leaves from in the payer's books (its `prepayment:<other>`
/// account), where a failed or returned payment goes back to; `None` for a drawdown.
pub fn prepayment_payment_source(
    insured: Admdvs,
    treatment: Admdvs,
    kind: MovementKind,
) -> Option<Account> {
    match kind {
        MovementKind::TopUp => Some(pc(insured, prepayment_counter(treatment))),
        MovementKind::Refund => Some(pc(treatment, prepayment_counter(insured))),
        MovementKind::Drawdown => None,
    }
}

/// A top-up or refund as the paying side's approved batch: one payment, id the movement's
/// reference, into the other province's finance account from `debtor`, paid by `pay_date`.
pub fn prepayment_payment_batch(
    insured: Admdvs,
    treatment: Admdvs,
    m: &PrepaymentMovement,
    accounts: &ProvinceAccounts,
    debtor: BankAccount,
    pay_date: Date,
    approved_at: OffsetDateTime,
) -> Result<PaymentBatch> {
    let payer = prepayment_payer(insured, treatment, m.kind).ok_or_else(|| {
        ClearingError::rule_err(
            crate::error::PREPAYMENT_RULE,
            Fault::Internal,
            format!("a drawdown ({}) moves no money", m.reference),
        )
    })?;
    let payee_province = if payer == insured { treatment } else { insured };
    let payee = accounts.get(&payee_province).ok_or_else(|| {
        ClearingError::rule_err(
            ACCOUNT_RULE,
            Fault::Sender,
            format!("no finance account for province {payee_province}"),
        )
    })?;
    Ok(PaymentBatch {
        batch_id: m.reference.clone(),
        pool_admdvs: payer,
        pay_date,
        debtor,
        created_at: china_timestamp(approved_at.to_offset(CHINA_OFFSET)),
        payments: vec![PaymentInstruction {
            payment_id: m.reference.clone(),
            payee_code: payee_province.to_string(),
            payee: payee.clone(),
            amount: m.amount,
            purpose: PaymentPurpose::ProvincePrepayment,
            settlement_dates: vec![pay_date],
            replaces_payment_id: None,
        }],
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use medsettle_canonical::Money;
    use medsettle_settlement::ledger::Ledger;

    use super::*;

    fn p(code: &str) -> Admdvs {
        Admdvs::parse(code).unwrap()
    }

    fn movement(kind: MovementKind, fen: i64, reference: &str) -> PrepaymentMovement {
        PrepaymentMovement {
            kind,
            amount: Money::from_fen(fen),
            balance_after: Money::ZERO,
            reference: reference.into(),
        }
    }

    /// Balance of `counter` in `inst`'s books: debit positive.
    fn balance(transfers: &[Transfer], inst: Admdvs, counter: &str) -> i64 {
        let a = pc(inst, counter.to_owned());
        transfers
            .iter()
            .map(|t| {
                (if t.debit == a { t.amount.fen() } else { 0 })
                    - (if t.credit == a { t.amount.fen() } else { 0 })
            })
            .sum()
    }

    #[test]
    fn both_books_mirror_each_other_and_leave_expenditure_alone() {
        let (i, t) = (p("330000"), p("440000"));
        let month = YearMonth::parse("2026-12");
        let moves = [
            movement(MovementKind::TopUp, 20_000, "P2027330000440000001"),
            movement(MovementKind::Drawdown, 7_500, "X202612330000440000"),
            movement(MovementKind::TopUp, 7_500, "P2027330000440000002"),
            movement(MovementKind::Refund, 1_000, "P2027330000440000003"),
        ];
        let mut holder = Vec::new();
        let mut insured = Vec::new();
        for m in &moves {
            holder.extend(prepayment_postings(i, t, PrepaymentSide::Holder, m, month).unwrap());
            insured.extend(prepayment_postings(i, t, PrepaymentSide::Insured, m, month).unwrap());
        }
        // what the holder owes back is what the insured place has there: 200 + 75 − 75 − 10
        assert_eq!(balance(&holder, t, "prepayment:330000"), -19_000);
        assert_eq!(balance(&insured, i, "prepayment:440000"), 19_000);
        // the drawdown settles 75.00 of the month on both sides
        assert_eq!(balance(&holder, t, "clearing:2026-12"), -7_500);
        assert_eq!(balance(&insured, i, "clearing:2026-12"), 7_500);
        // the audit holds with no expenditure on either side
        let expect = |p: Admdvs| medsettle_settlement::ledger::Expectations {
            confirmed: BTreeMap::from([(province_entity(p), Money::ZERO)]),
            ..Default::default()
        };
        for (books, own) in [(holder, t), (insured, i)] {
            let mut ledger = Ledger::default();
            ledger
                .post("prepayment", books, &expect(own))
                .unwrap()
                .expect("posted once");
        }
        // a drawdown without its month is refused; a zero movement posts nothing
        let d = &moves[1];
        assert!(prepayment_postings(i, t, PrepaymentSide::Holder, d, None).is_err());
        let zero = movement(MovementKind::TopUp, 0, "P2027330000440000004");
        assert!(
            prepayment_postings(i, t, PrepaymentSide::Holder, &zero, None)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_paying_side_pays_into_the_other_provinces_account() {
        let (i, t) = (p("330000"), p("440000"));
        let account = |name: &str| BankAccount {
            name: name.into(),
            account: "6222000000000001".into(),
            bank_code: "102100000001".into(),
            bank_name: String::new(),
        };
        let accounts: ProvinceAccounts = [(i, account("浙江")), (t, account("广东"))].into();
        let day = Date::from_calendar_date(2027, time::Month::February, 1).unwrap();
        let at = day.midnight().assume_offset(CHINA_OFFSET);
        let top_up = movement(MovementKind::TopUp, 20_000, "P2027330000440000001");
        let b = prepayment_payment_batch(i, t, &top_up, &accounts, account("x"), day, at).unwrap();
        assert_eq!(
            (b.pool_admdvs, b.batch_id.as_str()),
            (i, "P2027330000440000001")
        );
        assert_eq!(b.payments[0].payee.name, "广东");
        assert_eq!(b.payments[0].purpose, PaymentPurpose::ProvincePrepayment);
        assert_eq!(b.payments[0].amount, Money::from_fen(20_000));
        let refund = movement(MovementKind::Refund, 1_000, "P2027330000440000003");
        let b = prepayment_payment_batch(i, t, &refund, &accounts, account("x"), day, at).unwrap();
        assert_eq!(
            (b.pool_admdvs, b.payments[0].payee_code.as_str()),
            (t, "330000")
        );
        let drawn = movement(MovementKind::Drawdown, 1_000, "X202612330000440000");
        assert!(prepayment_payment_batch(i, t, &drawn, &accounts, account("x"), day, at).is_err());
        let none: ProvinceAccounts = BTreeMap::new();
        assert!(prepayment_payment_batch(i, t, &top_up, &none, account("x"), day, at).is_err());
    }
}
