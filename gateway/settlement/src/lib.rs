//! medsettle-settlement: the instant-settlement engine (即时结算), pure.
//!
//! No I/O and no clock of its own: time, the working-day calendar and all data are inputs, and
//! every parser takes `&str` (callers load files). Rule ids (`IS-…`) refer to
//! `shared/reference/instant-settlement.md` and are listed in `specs/instant-settlement-rules.toml`.
//!
//! - [`calendar`]: working days as data (`specs/calendar/cn-YYYY.toml`), T+1, working-day spans;
//!   provisional years (statutory holidays and weekends) where no file exists yet.
//! - [`policy`]: the per-pool-region parameters, validated with explanations.
//! - [`daily`]: daily disbursement — incremental, serializable, idempotent aggregator; runs,
//!   summary/detail, canonical batches, receipts.
//! - [`monthly`]: monthly settlement from declarations, deductions, advances and receipts.
//! - [`annual`]: quarterly supplements, annual clearing with the quality margin, DIP points.
//! - [`ledger`]: double-entry ledger, postings for every stage, and the auditor.
//! - [`recon`]: reconciliation answers for 3201 (totals) and 3202 (detail).
//! - [`csvin`]: CSV import with row-level errors.

pub mod annual;
pub mod calendar;
pub mod csvin;
pub mod daily;
pub mod error;
pub mod ledger;
pub mod monthly;
pub mod policy;
pub mod recon;

pub use calendar::{Calendar, CalendarCoverage, Dated, Provenance, YearMonth};
pub use daily::{DailyAggregator, DailyRun, FeedOutcome, Institutions, institutions_by_code};
pub use error::{Result, SettlementError};
pub use policy::SettlementPolicy;
