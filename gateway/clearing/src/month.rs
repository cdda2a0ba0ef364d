//! A month's clearing once every statement is answered: the netting, its transfers, their
//! due date, and the transfers as bank payment instructions.

use std::collections::BTreeMap;

use medsettle_canonical::{
    Admdvs, BankAccount, CHINA_OFFSET, Fault, Money, PaymentBatch, PaymentInstruction,
    PaymentPurpose,
};
use medsettle_settlement::daily::china_timestamp;
use medsettle_settlement::{Calendar, Dated, YearMonth};
use serde::Serialize;
use time::{Date, OffsetDateTime};

use crate::due::transfer_due;
use crate::error::{ACCOUNT_RULE, ClearingError, DUE_RULE, NETTING_RULE, Result};
use crate::netting::{NetTransfer, NettingMatrix};
use crate::statement::{Statement, compact_month};

/// The provincial finance accounts (省级财政专户) clearing money is paid into, by province.
pub type ProvinceAccounts = BTreeMap<Admdvs, BankAccount>;

/// The month's clearing across every province pair of its statements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthClearing {
    pub month: YearMonth,
    pub matrix: NettingMatrix,
    /// [`NettingMatrix::transfers`] over a complete matrix ([`MonthClearing::new`]), or
    /// [`NettingMatrix::bilateral_transfers`] for one province's gateway
    /// ([`MonthClearing::bilateral`]).
    pub transfers: Vec<NetTransfer>,
    /// The last reply of the month: the net positions are final from then on.
    pub confirmed_on: Date,
    /// 10 working days after `confirmed_on` (see [`crate::due`]).
    pub transfer_due: Dated<Date>,
}

impl MonthClearing {
    /// Net the month's answered statements and date the transfers.
    pub fn new(
        month: YearMonth,
        statements: &[Statement],
        calendar: &Calendar,
    ) -> Result<MonthClearing> {
        let matrix = NettingMatrix::from_statements(month, statements)?;
        let confirmed_on = statements
            .iter()
            .filter_map(|s| s.reply.as_ref().map(|r| r.outcome.replied_on))
            .max()
            .ok_or_else(|| {
                ClearingError::rule_err(
                    NETTING_RULE,
                    Fault::Internal,
                    format!("no statements to clear for {month}"),
                )
            })?;
        Ok(MonthClearing {
            month,
            transfers: matrix.transfers(),
            matrix,
            confirmed_on,
            transfer_due: transfer_due(calendar, confirmed_on)?,
        })
    }

    /// The month as one province's gateway settles it: the statements it is party to, netted
    /// into its position, settled pair by pair ([`NettingMatrix::bilateral_transfers`]) — the
    /// transfers both sides of every pair compute alike, where multilateral matching on a
    /// partial matrix would not (see [`crate::netting`]).
    pub fn bilateral(
        month: YearMonth,
        statements: &[Statement],
        calendar: &Calendar,
    ) -> Result<MonthClearing> {
        let mut mc = MonthClearing::new(month, statements, calendar)?;
        mc.transfers = mc.matrix.bilateral_transfers();
        Ok(mc)
    }

    /// The transfers `payer` sends.
    pub fn transfers_from(&self, payer: Admdvs) -> impl Iterator<Item = &NetTransfer> {
        self.transfers.iter().filter(move |t| t.payer == payer)
    }

    /// `payer`'s transfers as payment instructions to the receivers' finance accounts: the
    /// same [`PaymentInstruction`] as every other payment, so the same bank formats and
    /// outbox render them, with the purpose [`PaymentPurpose::ProvinceClearing`].
    pub fn payment_instructions(
        &self,
        payer: Admdvs,
        accounts: &ProvinceAccounts,
    ) -> Result<Vec<PaymentInstruction>> {
        self.transfers_from(payer)
            .map(|t| {
                let payee = accounts.get(&t.receiver).ok_or_else(|| {
                    ClearingError::rule_err(
                        ACCOUNT_RULE,
                        Fault::Sender,
                        format!("no finance account for province {}", t.receiver),
                    )
                })?;
                Ok(PaymentInstruction {
                    payment_id: t.transfer_id.clone(),
                    payee_code: t.receiver.to_string(),
                    payee: payee.clone(),
                    amount: t.amount,
                    purpose: PaymentPurpose::ProvinceClearing,
                    settlement_dates: vec![self.month.first_day(), self.month.last_day()],
                    replaces_payment_id: None,
                })
            })
            .collect()
    }

    /// `payer`'s transfers as an approved batch `X<payer><YYYYMM>` from its `debtor` account.
    /// A pay date after the transfer due date is refused ([`DUE_RULE`]).
    pub fn to_payment_batch(
        &self,
        payer: Admdvs,
        accounts: &ProvinceAccounts,
        debtor: BankAccount,
        pay_date: Date,
        approved_at: OffsetDateTime,
    ) -> Result<PaymentBatch> {
        if pay_date > self.transfer_due.value {
            return Err(ClearingError::rule_err(
                DUE_RULE,
                Fault::Sender,
                format!(
                    "pay date {pay_date} is after the transfer due date {} of {}",
                    self.transfer_due, self.month
                ),
            ));
        }
        Ok(PaymentBatch {
            batch_id: format!("X{payer}{}", compact_month(self.month)),
            pool_admdvs: payer,
            pay_date,
            debtor,
            created_at: china_timestamp(approved_at.to_offset(CHINA_OFFSET)),
            payments: self.payment_instructions(payer, accounts)?,
        })
    }

    /// What each province's fund bears for the month in the ledger ([`crate::clearing_postings`]):
    /// its payable net position, `−net` (negative for a receiving province). For the auditor's
    /// `confirmed` expectations, added to the months before.
    pub fn expected_expenditure(&self) -> BTreeMap<String, Money> {
        self.matrix
            .net
            .iter()
            .map(|(p, net)| (crate::row::province_entity(*p), -*net))
            .collect()
    }
}
