//! Prepayment (预付金) between an insured province and a treatment province
//! (人社部发〔2016〕120号 §五(十二)–(十四)).
//!
//! - **Requirement**: "预付金额度为可支付两个月资金", sized on earlier years' cross-province fund
//!   payments: `required = prior year's fund payments (insured → treatment) × 2 / 12`, rounded
//!   half up once, to the fen. A prior year that nets to zero or less requires nothing.
//! - **At year start** the balance brought forward is compared with the year's requirement: the
//!   insured province tops it up, or the treatment province refunds the excess
//!   ([`Prepayment::adjustment`]). After a drawdown the same call says what restores it.
//! - **Drawdown**: the prepayment sits in the treatment province's finance account. When a
//!   month's transfer from the insured province (payer) to the treatment province (receiver)
//!   is not paid by its due date, the receiver may draw `min(transfer, balance)` from the
//!   payer's prepayment it holds, from the day after the due date on; the transfer counts as
//!   paid by that amount (the gateway must not also send it), the rest stays owed and is
//!   escalated (the ministry may suspend the payer, §三(七)), and the payer restores the
//!   prepayment by a top-up ([`Prepayment::adjustment`]) before its next transfer is due.
//!   Only the payer's own prepayment at that receiver is drawn: a prepayment guarantees one
//!   province pair.
//! - **Interest is not modelled**: it accrues in the treatment province's finance account and
//!   belongs to it (§五(十四)); it never changes what either fund owes.
//! - Bank charges are not paid from the fund (§五(十三)): every movement is the full amount.

use medsettle_canonical::money::div_round_half_away;
use medsettle_canonical::{Admdvs, Fault, Money};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::error::{ClearingError, PREPAYMENT_RULE, Result};
use crate::netting::NetTransfer;

/// Months of payments the prepayment covers (可支付两个月资金).
pub const PREPAYMENT_MONTHS: i64 = 2;
/// Months in the year the requirement is a share of.
pub const MONTHS_PER_YEAR: i64 = 12;

/// `prior_year_fund_payments × 2 / 12`, half up, once; nothing for a year ≤ 0.
pub fn prepayment_required(prior_year_fund_payments: Money) -> Money {
    if prior_year_fund_payments <= Money::ZERO {
        return Money::ZERO;
    }
    let fen = div_round_half_away(
        i128::from(prior_year_fund_payments.fen()) * i128::from(PREPAYMENT_MONTHS),
        i128::from(MONTHS_PER_YEAR),
    );
    Money::from_fen(i64::try_from(fen).expect("a sixth of an i64 fits an i64"))
}

/// What moves the balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    /// Paid by the insured province into the treatment province's account.
    TopUp,
    /// Paid back by the treatment province: the balance exceeded the requirement.
    Refund,
    /// Drawn by the treatment province for an overdue transfer: no money moves, the
    /// prepayment becomes the payment.
    Drawdown,
}

/// One movement of a prepayment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepaymentMovement {
    pub kind: MovementKind,
    /// > 0.
    pub amount: Money,
    pub balance_after: Money,
    /// The year and movement number, or the transfer a drawdown covers.
    pub reference: String,
}

/// A drawdown for an overdue transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drawdown {
    /// `None` when the balance is zero.
    pub movement: Option<PrepaymentMovement>,
    /// What the payer still owes on the transfer.
    pub shortfall: Money,
}

/// The prepayment the insured province holds at the treatment province for a year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prepayment {
    pub insured_province: Admdvs,
    pub treatment_province: Admdvs,
    pub year: i32,
    /// This year's requirement.
    pub required: Money,
    /// What the treatment province holds (≥ 0).
    pub balance: Money,
    /// Movements applied this year, oldest first.
    pub movements: Vec<PrepaymentMovement>,
}

impl Prepayment {
    /// The year's prepayment: the requirement from the prior year's fund payments of the pair,
    /// and the balance brought forward (≥ 0).
    pub fn for_year(
        insured_province: Admdvs,
        treatment_province: Admdvs,
        year: i32,
        prior_year_fund_payments: Money,
        balance_brought_forward: Money,
    ) -> Result<Prepayment> {
        if balance_brought_forward.is_negative() {
            return Err(prepay_err(
                Fault::Internal,
                format!("a balance of {balance_brought_forward} cannot be brought forward"),
            ));
        }
        Ok(Prepayment {
            insured_province,
            treatment_province,
            year,
            required: prepayment_required(prior_year_fund_payments),
            balance: balance_brought_forward,
            movements: Vec::new(),
        })
    }

    /// The movement that brings the balance to the requirement: a top-up when short (at year
    /// start, or after a drawdown), a refund when over; `None` when it is exact.
    pub fn adjustment(&self) -> Option<PrepaymentMovement> {
        let gap = self.required - self.balance;
        let kind = match gap.fen().signum() {
            1 => MovementKind::TopUp,
            -1 => MovementKind::Refund,
            _ => return None,
        };
        Some(PrepaymentMovement {
            kind,
            amount: gap.abs(),
            balance_after: self.required,
            reference: self.next_reference(),
        })
    }

    /// The reference of the pair's next top-up, refund or unchanged notice of the year:
    /// `P<year><insured><treatment><n, 3 digits>`, letters and digits only (it travels as a
    /// message id and a payment id).
    pub fn next_reference(&self) -> String {
        format!(
            "P{}{}{}{:03}",
            self.year,
            self.insured_province,
            self.treatment_province,
            self.movements.len() + 1
        )
    }

    /// What the receiver may draw for `transfer`, overdue since `transfer_due`, on `today`.
    /// Refused while the transfer is not yet overdue, or when it is not this pair's.
    pub fn drawdown(
        &self,
        transfer: &NetTransfer,
        transfer_due: Date,
        today: Date,
    ) -> Result<Drawdown> {
        if (transfer.payer, transfer.receiver) != (self.insured_province, self.treatment_province) {
            return Err(prepay_err(
                Fault::Internal,
                format!(
                    "transfer {} is {} → {}; this prepayment is {} → {}",
                    transfer.transfer_id,
                    transfer.payer,
                    transfer.receiver,
                    self.insured_province,
                    self.treatment_province
                ),
            ));
        }
        if today <= transfer_due {
            return Err(prepay_err(
                Fault::Sender,
                format!(
                    "transfer {} is due on {transfer_due}: no drawdown before it is overdue",
                    transfer.transfer_id
                ),
            ));
        }
        let drawn = transfer.amount.min(self.balance);
        Ok(Drawdown {
            movement: (drawn > Money::ZERO).then(|| PrepaymentMovement {
                kind: MovementKind::Drawdown,
                amount: drawn,
                balance_after: self.balance - drawn,
                reference: transfer.transfer_id.clone(),
            }),
            shortfall: transfer.amount - drawn,
        })
    }

    /// Apply a movement once it happened (a top-up or refund paid, a drawdown decided).
    /// Idempotent by reference and kind; the balance never goes below zero.
    pub fn apply(&mut self, m: &PrepaymentMovement) -> Result<()> {
        if self
            .movements
            .iter()
            .any(|x| x.reference == m.reference && x.kind == m.kind)
        {
            return Ok(());
        }
        let balance = match m.kind {
            MovementKind::TopUp => self.balance + m.amount,
            MovementKind::Refund | MovementKind::Drawdown => self.balance - m.amount,
        };
        if m.amount <= Money::ZERO || balance.is_negative() || balance != m.balance_after {
            return Err(prepay_err(
                Fault::Internal,
                format!(
                    "{:?} {} of {} does not apply to the balance {}",
                    m.kind, m.reference, m.amount, self.balance
                ),
            ));
        }
        self.balance = balance;
        self.movements.push(m.clone());
        Ok(())
    }
}

fn prepay_err(fault: Fault, message: String) -> ClearingError {
    ClearingError::rule_err(PREPAYMENT_RULE, fault, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn p(code: &str) -> Admdvs {
        Admdvs::parse(code).unwrap()
    }

    fn yuan(text: &str) -> Money {
        Money::parse_yuan(text).unwrap()
    }

    #[test]
    fn two_months_of_a_year_half_up_once() {
        // 1 234 567.89 × 2 / 12 = 205 761.315 → 205 761.32.
        assert_eq!(prepayment_required(yuan("1234567.89")), yuan("205761.32"));
        // 0.03 × 2 / 12 = 0.005 → 0.01; 0.02 × 2 / 12 = 0.0033… → 0.00.
        assert_eq!(prepayment_required(yuan("0.03")), yuan("0.01"));
        assert_eq!(prepayment_required(yuan("0.02")), Money::ZERO);
        assert_eq!(prepayment_required(yuan("-100.00")), Money::ZERO);
    }

    fn transfer(amount: &str) -> NetTransfer {
        NetTransfer {
            transfer_id: "X202405880000990000".into(),
            payer: p("880000"),
            receiver: p("990000"),
            amount: yuan(amount),
        }
    }

    #[test]
    fn top_up_at_year_start_then_drawdown_then_restore() {
        let mut pre = Prepayment::for_year(
            p("880000"),
            p("990000"),
            2025,
            yuan("1234567.89"),
            yuan("150000.00"),
        )
        .unwrap();
        assert_eq!(pre.required, yuan("205761.32"));
        let top_up = pre.adjustment().unwrap();
        assert_eq!(
            (top_up.kind, top_up.amount),
            (MovementKind::TopUp, yuan("55761.32"))
        );
        pre.apply(&top_up).unwrap();
        pre.apply(&top_up).unwrap(); // a repeated receipt applies once
        assert_eq!(pre.balance, pre.required);
        assert_eq!(pre.adjustment(), None);

        let due = date!(2025 - 06 - 20);
        let t = transfer("80000.00");
        let early = pre.drawdown(&t, due, due).unwrap_err();
        assert_eq!(early.rule(), PREPAYMENT_RULE);
        assert!(
            early.to_string().contains("before it is overdue"),
            "{early}"
        );
        let d = pre.drawdown(&t, due, date!(2025 - 06 - 23)).unwrap();
        assert_eq!(d.shortfall, Money::ZERO);
        let m = d.movement.unwrap();
        assert_eq!(
            (m.kind, m.amount, m.balance_after),
            (MovementKind::Drawdown, yuan("80000.00"), yuan("125761.32"))
        );
        pre.apply(&m).unwrap();
        // More than the balance: the rest stays owed.
        let big = pre
            .drawdown(&transfer("300000.00"), due, date!(2025 - 06 - 23))
            .unwrap();
        assert_eq!(big.movement.as_ref().unwrap().amount, yuan("125761.32"));
        assert_eq!(big.shortfall, yuan("174238.68"));
        // The payer restores the prepayment.
        let restore = pre.adjustment().unwrap();
        assert_eq!(
            (restore.kind, restore.amount),
            (MovementKind::TopUp, yuan("80000.00"))
        );
        // Another pair's transfer is not drawn from this prepayment.
        let mut other = transfer("1.00");
        other.payer = p("770000");
        assert!(pre.drawdown(&other, due, date!(2025 - 06 - 23)).is_err());
    }

    #[test]
    fn a_smaller_requirement_refunds_the_excess() {
        let pre = Prepayment::for_year(
            p("880000"),
            p("990000"),
            2026,
            yuan("600000.00"),
            yuan("205761.32"),
        )
        .unwrap();
        assert_eq!(pre.required, yuan("100000.00"));
        let r = pre.adjustment().unwrap();
        assert_eq!(
            (r.kind, r.amount, r.balance_after),
            (MovementKind::Refund, yuan("105761.32"), yuan("100000.00"))
        );
        assert!(
            Prepayment::for_year(p("880000"), p("990000"), 2026, Money::ZERO, yuan("-1.00"))
                .is_err()
        );
        let mut stale = pre.clone();
        let wrong = PrepaymentMovement {
            balance_after: Money::ZERO,
            ..r
        };
        assert!(stale.apply(&wrong).is_err());
    }
}
