//! Double-entry postings of a month's clearing into the settlement ledger
//! (`medsettle_settlement::ledger`, DESIGN.md §3 invariant 6), audited like any batch.
//!
//! Each province is a ledger party (keyed by its 6-digit province code, `xx0000`, which no
//! national institution code can equal), seen from its own fund:
//!
//! | step | posting (per province P) |
//! |---|---|
//! | statement I → T confirmed, amount C | I: Dr `FundExpenditure{I}` / Cr `ProvinceClearing{I, T}`; T: Dr `ProvinceClearing{T, I}` / Cr `FundExpenditure{T}` (T's fund recovers what it advanced to its hospitals) |
//! | netting | each bilateral balance moves to `ProvinceClearing{P, clearing:<month>}`, which then holds P's net position |
//! | transfer sent (payer A → receiver R, x) | A: Dr `ProvinceClearing{A, clearing:<month>}` / Cr `BankInTransit{A, R}` |
//! | bank receipt of the payer | paid: Dr `BankInTransit` / Cr `Paid{A, R}`; failed: back to the clearing account; returned: `Paid` back to it |
//! | money arrives at the receiver | R: Dr `ProvinceClearing{R, R}` (its own account) / Cr `ProvinceClearing{R, clearing:<month>}` |
//!
//! So for every province `expenditure = receivable + in transit + paid` holds, as the
//! settlement auditor checks: a payer's expenditure is its net payable, sent then paid; a
//! receiver's is negative (a net recovery), owed to it until the money arrives, then received
//! (negative paid). The per-counter-province accounts are back to zero after netting, and the
//! clearing account after the transfers and arrivals. A gateway that keeps only its own
//! province's books posts the transfers whose `debit.institution()` is its province.

use std::collections::BTreeMap;

use medsettle_canonical::{Admdvs, Money, ReceiptStatus};
use medsettle_settlement::YearMonth;
use medsettle_settlement::ledger::{Account, Transfer};

use crate::month::MonthClearing;
use crate::netting::NetTransfer;
pub use crate::row::province_entity;

/// The counter of a month's netting in `ProvinceClearing`: `clearing:YYYY-MM`.
pub fn netting_counter(month: YearMonth) -> String {
    format!("clearing:{month}")
}

fn clearing(inst: Admdvs, counter: &str) -> Account {
    Account::ProvinceClearing {
        inst: province_entity(inst),
        counter: counter.to_owned(),
    }
}

fn expenditure(p: Admdvs) -> Account {
    Account::FundExpenditure {
        inst: province_entity(p),
    }
}

fn in_transit(t: &NetTransfer) -> Account {
    Account::BankInTransit {
        inst: province_entity(t.payer),
        payee: t.receiver.to_string(),
    }
}

fn paid(t: &NetTransfer) -> Account {
    Account::Paid {
        inst: province_entity(t.payer),
        payee: t.receiver.to_string(),
    }
}

/// Push `debit ← credit` for `amount`; a negative amount swaps the sides, zero posts nothing.
fn push(out: &mut Vec<Transfer>, debit: Account, credit: Account, amount: Money, reference: &str) {
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

/// The month's postings: the confirmed statements, the netting, and the transfers sent.
pub fn clearing_postings(mc: &MonthClearing) -> Vec<Transfer> {
    let mut out = Vec::new();
    let mut bilateral: BTreeMap<(Admdvs, Admdvs), Money> = BTreeMap::new();
    for g in &mc.matrix.gross {
        let (i, t) = (g.insured_province, g.treatment_province);
        let r = format!("clearing:{}", g.stmt_id);
        push(
            &mut out,
            expenditure(i),
            clearing(i, t.as_str()),
            g.amount,
            &r,
        );
        push(
            &mut out,
            clearing(t, i.as_str()),
            expenditure(t),
            g.amount,
            &r,
        );
        // What each owes the other: credit balance of ProvinceClearing{P, Q}.
        *bilateral.entry((i, t)).or_default() += g.amount;
        *bilateral.entry((t, i)).or_default() -= g.amount;
    }
    let net = netting_counter(mc.month);
    let r = format!("netting:{}", mc.month);
    for ((p, q), owed) in &bilateral {
        push(
            &mut out,
            clearing(*p, q.as_str()),
            clearing(*p, &net),
            *owed,
            &r,
        );
    }
    for t in &mc.transfers {
        push(
            &mut out,
            clearing(t.payer, &net),
            in_transit(t),
            t.amount,
            &t.transfer_id,
        );
    }
    assert_balanced(&out);
    out
}

/// The account a transfer's money leaves from in the payer's books (its month's clearing
/// account), where a failed or returned transfer goes back to.
pub fn transfer_source(month: YearMonth, t: &NetTransfer) -> Account {
    clearing(t.payer, &netting_counter(month))
}

/// The receiver's posting when a transfer's money arrives in its account (its bank's credit
/// notice): the month's clearing account to its own account.
pub fn arrival_postings(mc: &MonthClearing, t: &NetTransfer) -> Vec<Transfer> {
    assert!(
        mc.transfers.contains(t),
        "{} is not a transfer of {}",
        t.transfer_id,
        mc.month
    );
    let mut out = Vec::new();
    let own = province_entity(t.receiver);
    push(
        &mut out,
        clearing(t.receiver, &own),
        clearing(t.receiver, &netting_counter(mc.month)),
        t.amount,
        &format!("arrival:{}", t.transfer_id),
    );
    out
}

/// The payer's postings for a bank receipt on a transfer that moved from `previous` to
/// `status` (a repeated status posts nothing): paid moves it out of transit, failed puts it
/// back on the month's clearing account (owed again), returned moves it from paid back there.
pub fn transfer_receipt_postings(
    mc: &MonthClearing,
    t: &NetTransfer,
    previous: Option<ReceiptStatus>,
    status: ReceiptStatus,
) -> Vec<Transfer> {
    let mut out = Vec::new();
    if previous == Some(status) {
        return out;
    }
    let owed = clearing(t.payer, &netting_counter(mc.month));
    let r = format!("receipt:{}:{status:?}", t.transfer_id);
    match status {
        ReceiptStatus::Paid => push(&mut out, in_transit(t), paid(t), t.amount, &r),
        ReceiptStatus::Failed => push(&mut out, in_transit(t), owed, t.amount, &r),
        ReceiptStatus::Returned => push(&mut out, paid(t), owed, t.amount, &r),
        ReceiptStatus::Accepted | ReceiptStatus::Pending => {}
    }
    out
}

/// Every transfer is positive, between two accounts of one party (a broken posting is a bug).
fn assert_balanced(out: &[Transfer]) {
    for t in out {
        assert!(t.amount > Money::ZERO && t.debit != t.credit, "{t:?}");
        assert_eq!(t.debit.institution(), t.credit.institution(), "{t:?}");
    }
}
