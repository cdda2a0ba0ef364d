//! medsettle-clearing: monthly clearing between provinces (跨省异地就医 按月全额清算), pure.
//!
//! The rules are those of 人社部发〔2016〕120号 §五 (`shared/reference/legacy-and-cross-region.md`
//! §4.1–4.2): prepayment of two months, monthly full clearing split by the ministry, statements
//! to finance within 5 working days, transfers within 10. No I/O and no clock: rows, replies,
//! dates and the working-day calendar are inputs. Money is integer fen; the one rounding (the
//! prepayment's two twelfths) is half up, once. Rule ids (`XC-…`) are listed in [`RULES`].
//!
//! The flow of a month:
//! 1. [`clearing_month`]: the journaled rows ([`ClearingRow`]) and the lines carried from
//!    earlier months become one [`Statement`] per (insured province, treatment province), with
//!    reversals netted ([`statement`]).
//! 2. [`Statement::apply_reply`]: the insured province confirms or refuses every line; refused
//!    lines come back as [`CarriedLine`]s for the next month ([`reply`]).
//! 3. [`Statement::due_dates`], [`statement_due`], [`transfer_due`]: deadlines on the
//!    working-day calendar ([`due`]; the transfer's 10 days start at the confirmation).
//! 4. [`MonthClearing::new`]: every answered statement of the month netted into one position
//!    per province ([`NettingMatrix`]) and the transfers that settle them, payer → receiver
//!    ([`netting`]); [`MonthClearing::to_payment_batch`] gives a payer's transfers as the same
//!    payment batch the bank formats render.
//! 5. [`clearing_postings`], [`transfer_receipt_postings`], [`arrival_postings`]: the
//!    double-entry postings for the settlement ledger, audited like any batch ([`postings`]).
//! 6. [`Prepayment`]: the requirement, top-ups, refunds and drawdowns of overdue transfers
//!    ([`prepayment`]); their postings on each side and their payments ([`prepayment_books`]).
//! 7. [`Statement::to_csv`] and [`Statement::page_for_institution`] (national 3260 pages)
//!    ([`output`]).

pub mod due;
pub mod error;
pub mod month;
pub mod netting;
pub mod output;
pub mod postings;
pub mod prepayment;
pub mod prepayment_books;
pub mod reply;
pub mod row;
pub mod statement;

pub use due::{
    DueDates, STATEMENT_DUE_WORKING_DAYS, TRANSFER_DUE_WORKING_DAYS, statement_due, transfer_due,
};
pub use error::{ClearingError, RULES, Result};
pub use month::{MonthClearing, ProvinceAccounts};
pub use netting::{GrossLine, NetTransfer, NettingMatrix, transfer_month};
pub use output::{CSV_HEADER, PAGE_ROWS_MAX, Page, Row3260};
pub use postings::{
    arrival_postings, clearing_postings, netting_counter, province_entity,
    transfer_receipt_postings, transfer_source,
};
pub use prepayment::{
    Drawdown, MONTHS_PER_YEAR, MovementKind, PREPAYMENT_MONTHS, Prepayment, PrepaymentMovement,
    prepayment_required,
};
pub use prepayment_books::{
    PrepaymentSide, prepayment_counter, prepayment_due_counter, prepayment_payer,
    prepayment_payment_batch, prepayment_payment_source, prepayment_postings,
};

pub use row::{AAA113_FORWARD, AAA113_REVERSAL, ClearingRow, ID_CHARS_MAX, province_of};
pub use statement::{
    AppliedReply, CarriedLine, LineStatus, REASON_CHARS_MAX, Refusal, ReplyLine, ReplyOutcome,
    Statement, StatementLine, clearing_month, stmt_id,
};
