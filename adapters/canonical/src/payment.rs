//! Payment instructions to the bank and the receipts that come back (F6).

use serde::{Deserialize, Serialize};
use time::Date;

use crate::money::Money;
use crate::party::BankAccount;
use crate::region::Admdvs;

/// Why money is paid: the settlement stage it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentPurpose {
    /// 日拨付 (IS-D)
    Daily,
    /// 月结算 (IS-M)
    Monthly,
    /// 季度特例单议 (IS-Q)
    Quarterly,
    /// 年度清算 (IS-A)
    Annual,
    /// Procurement advance paid to a distributor on an institution's behalf (IS-M-6).
    Distributor,
    /// A month's clearing between provinces (跨省异地就医清算), from one province's finance
    /// account to another's.
    ProvinceClearing,
    /// A top-up or refund of the prepayment between provinces (跨省异地就医预付金).
    ProvincePrepayment,
}

/// One payment to one payee. `payment_id` is deterministic (invariant 5): the same batch
/// always yields the same ids, and a re-payment is a new instruction naming the one it replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentInstruction {
    pub payment_id: String,
    /// The institution (or distributor) code the money is for.
    pub payee_code: String,
    pub payee: BankAccount,
    pub amount: Money,
    pub purpose: PaymentPurpose,
    /// The settlement dates (or period) the amount covers, for the remittance information.
    pub settlement_dates: Vec<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces_payment_id: Option<String>,
}

/// An approved batch of payments for one pool region and payment date (支付汇总单).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentBatch {
    pub batch_id: String,
    pub pool_admdvs: Admdvs,
    pub pay_date: Date,
    /// The agency's fund-expenditure account (基金支出户).
    pub debtor: BankAccount,
    /// Creation time in `yyyy-MM-ddTHH:mm:ss+08:00`, fixed when the batch is approved so the
    /// rendered file is the same every time.
    pub created_at: String,
    pub payments: Vec<PaymentInstruction>,
}

impl PaymentBatch {
    pub fn control_sum(&self) -> Money {
        self.payments.iter().map(|p| p.amount).sum()
    }
}

/// The state of a payment as a receipt reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    /// The bank accepted the instruction (not yet settled).
    Accepted,
    /// Still in process: query, never re-pay.
    Pending,
    /// Money left the fund account.
    Paid,
    /// Rejected or failed; nothing was paid.
    Failed,
    /// Paid, then returned by the payee's bank.
    Returned,
}

impl ReceiptStatus {
    /// Whether moving from `self` to `next` goes forward (sent → accepted → paid | failed;
    /// paid → returned). Staying is allowed (a repeated status is a no-op).
    pub fn may_move_to(self, next: ReceiptStatus) -> bool {
        use ReceiptStatus::*;
        matches!(
            (self, next),
            (Accepted, Accepted | Pending | Paid | Failed)
                | (Pending, Pending | Paid | Failed)
                | (Paid, Paid | Returned)
                | (Failed, Failed)
                | (Returned, Returned)
        )
    }
}

/// Why a payment failed or was returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptReason {
    /// ISO 20022 external status reason code (e.g. `AC04` closed account), where given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iso_code: Option<String>,
    /// The bank's own code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_code: Option<String>,
    /// The bank's text.
    #[serde(default)]
    pub text: String,
}

/// One receipt row, whatever file it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub payment_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    pub status: ReceiptStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_date: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReceiptReason>,
}

#[cfg(test)]
mod tests {
    use super::ReceiptStatus::*;

    #[test]
    fn receipt_states_only_move_forward() {
        assert!(Accepted.may_move_to(Paid));
        assert!(Pending.may_move_to(Failed));
        assert!(Paid.may_move_to(Returned));
        assert!(!Paid.may_move_to(Failed));
        assert!(!Failed.may_move_to(Paid));
        assert!(!Returned.may_move_to(Paid));
        assert!(!Paid.may_move_to(Pending));
    }
}
