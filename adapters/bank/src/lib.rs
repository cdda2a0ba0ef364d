//! medsettle-bank: pure encoders for bank payment files, decoders for receipt files, and a
//! pure bank simulator. No I/O: callers (the outbox, the inbox) own files and durability.
//!
//! - [`pain001::encode`]: ISO 20022 pain.001.001.03, UTF-8, validated against the XSD in tests.
//! - [`delimited::encode`]: `H|…`/`D|…`/`T|…` files per a data [`BankProfile`] (GBK default).
//! - [`receipts::decode`]: pain.002, camt.054 and delimited return files → canonical receipts.
//! - [`trigger`]: the `.ok` trigger file (name, size, SHA-256, count, control sum).
//! - [`simulator::simulate`]: a deterministic bank answering a payment file with receipts.
//!
//! Invariants served (DESIGN.md §3): money is integer fen throughout (1); receipts carry the
//! bank's file id and per-row references for at-most-once application (3); a batch renders to
//! the same bytes and ids every time, and nothing is ever silently altered (5).

pub mod camt054;
mod common;
pub mod delimited;
pub mod error;
pub mod pain001;
pub mod pain002;
pub mod profile;
pub mod receipts;
pub mod simulator;
pub mod trigger;
mod xml;

pub use error::{BankError, Fault};
pub use pain001::{FilePayment, Pain001Options, PaymentFile};
pub use profile::BankProfile;
pub use receipts::{
    AmountCheck, DecodeLimits, FileKind, GroupStatus, PaymentInfoStatus, ReceiptFile,
    ReceiptFormat, RowIdentity, Totals, detect_format,
};
pub use simulator::{
    FailReason, Outcome, OutcomePlan, PaymentFileFormat, ReceiptKinds, ReceiptShapes, RowKey,
};
pub use trigger::TriggerFile;
