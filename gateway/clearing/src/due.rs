//! Due dates of a month's clearing on the working-day calendar (人社部发〔2016〕120号 §五(十二)).
//!
//! The notice: agencies submit the prepayment and clearing statements they receive to finance
//! "于5个工作日内"; the insured place's provincial finance, "审核无误后, 在10个工作日内",
//! transfers to the treatment place's provincial finance.
//!
//! - **Statement due**: the 5th working day after the month's last day
//!   ([`STATEMENT_DUE_WORKING_DAYS`]).
//! - **Transfer due**: the 10th working day after the statement is confirmed — the day the
//!   insured province's reply is applied ([`TRANSFER_DUE_WORKING_DAYS`]). The notice starts the
//!   10 days when the statement has been verified ("审核无误后"), not at a fixed date: a reply
//!   is that verification. Anchoring on the statement due date instead would either start the
//!   10 days before anyone had checked the lines, or, for a reply that comes late, demand a
//!   transfer before the amount was known. A late reply does not go unseen: [`DueDates`]
//!   flags a confirmation after the statement due date (`confirmed_late`), which the notice
//!   lets the ministry act on (§三(七): it may suspend a province that delays without reason).
//! - With netting, a month's transfers are due 10 working days after the **last** reply of
//!   the month: the net positions are final only then ([`crate::MonthClearing`]).
//!
//! Every date is a [`Dated`]: a deadline that walks through a year the calendar only knows
//! provisionally says so. A year the calendar does not cover is an error, never a guess.

use medsettle_settlement::{Calendar, Dated, YearMonth};
use serde::Serialize;
use time::Date;

use crate::error::Result;
use crate::statement::Statement;

/// Working days after the month's end within which the statement is due (5个工作日内).
pub const STATEMENT_DUE_WORKING_DAYS: u32 = 5;
/// Working days after confirmation within which the transfer is due (10个工作日内).
pub const TRANSFER_DUE_WORKING_DAYS: u32 = 10;

/// The statement due date of `month`: the 5th working day after its last day.
pub fn statement_due(calendar: &Calendar, month: YearMonth) -> Result<Dated<Date>> {
    Ok(calendar.add_working_days_dated(month.last_day(), STATEMENT_DUE_WORKING_DAYS)?)
}

/// The transfer due date of a statement confirmed on `confirmed_on`: the 10th working day
/// after it.
pub fn transfer_due(calendar: &Calendar, confirmed_on: Date) -> Result<Dated<Date>> {
    Ok(calendar.add_working_days_dated(confirmed_on, TRANSFER_DUE_WORKING_DAYS)?)
}

/// A statement's deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DueDates {
    pub statement_due: Dated<Date>,
    /// The reply's date, once replied.
    pub confirmed_on: Option<Date>,
    /// 10 working days after `confirmed_on`, once replied.
    pub transfer_due: Option<Dated<Date>>,
    /// Confirmed after the statement due date.
    pub confirmed_late: bool,
}

impl Statement {
    /// The statement's deadlines on `calendar`.
    pub fn due_dates(&self, calendar: &Calendar) -> Result<DueDates> {
        let statement_due = statement_due(calendar, self.month)?;
        let confirmed_on = self.reply.as_ref().map(|r| r.outcome.replied_on);
        let transfer_due = confirmed_on
            .map(|d| transfer_due(calendar, d))
            .transpose()?;
        Ok(DueDates {
            statement_due,
            confirmed_on,
            transfer_due,
            confirmed_late: confirmed_on.is_some_and(|d| d > statement_due.value),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medsettle_settlement::Provenance;
    use time::macros::date;

    #[test]
    fn dragon_boat_2025_moves_the_statement_due_date() {
        // 2025-05-31 … 06-02 is the Dragon Boat holiday: June 3, 4, 5, 6 and 9.
        let cal = Calendar::embedded();
        let due = statement_due(&cal, YearMonth::parse("2025-05").unwrap()).unwrap();
        assert_eq!(due.value, date!(2025 - 06 - 09));
        assert_eq!(due.provenance, Provenance::Official);
        // A deadline in a year only provisionally known says so.
        let later = statement_due(&cal, YearMonth::parse("2027-05").unwrap()).unwrap();
        assert!(later.is_provisional());
        // A year the calendar cannot date is an error.
        let e = statement_due(&cal, YearMonth::parse("2024-05").unwrap()).unwrap_err();
        assert_eq!(e.rule(), crate::error::DUE_RULE);
        assert!(e.to_string().contains("no data for 2024"), "{e}");
    }
}
