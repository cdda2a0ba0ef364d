//! Receipt files (pain.002, camt.054, delimited return files) decoded to canonical receipts.

use medsettle_canonical::{Money, Receipt, ReceiptReason, ReceiptStatus};

use crate::error::BankError;
use crate::profile::BankProfile;
use crate::{camt054, delimited, pain002};

/// Bounds on what a decoder accepts from a bank. All configurable; defaults are generous for
/// a province's daily batch (10^6 rows) while keeping memory bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest file, in bytes, read at all.
    pub file_bytes_max: usize,
    /// Deepest element nesting in XML files (pain.002 needs about 10, camt.054 about 12).
    pub xml_depth_max: usize,
    /// Most receipt / payment rows in one file.
    pub rows_max: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            file_bytes_max: 256 * 1024 * 1024,
            xml_depth_max: 32,
            rows_max: 1_000_000,
        }
    }
}

impl DecodeLimits {
    pub(crate) fn check_size(&self, file: &str, len: usize) -> Result<(), BankError> {
        if len > self.file_bytes_max {
            return Err(BankError::LimitExceeded {
                file: file.to_owned(),
                limit: "file_bytes_max",
                actual: len as u64,
                max: self.file_bytes_max as u64,
            });
        }
        Ok(())
    }

    pub(crate) fn rows_exceeded(&self, file: &str, actual: usize) -> BankError {
        BankError::LimitExceeded {
            file: file.to_owned(),
            limit: "rows_max",
            actual: actual as u64,
            max: self.rows_max as u64,
        }
    }
}

/// Which receipt format to decode.
// Built once per file, so the profile's size does not matter; boxing would only make the
// API noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptFormat {
    Pain002,
    Camt054,
    /// A delimited return file (回盘) in the given bank profile (GBK by default).
    GbkReturn(BankProfile),
}

/// A whole-file status (pain.002 `GrpSts`), e.g. a file rejected for a bad control sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStatus {
    /// The ISO code as sent (`RJCT`, `PART`, `ACSC`, …).
    pub code: String,
    pub reason: Option<ReceiptReason>,
}

/// Counts and sums the file declares, and what its rows add up to (already checked equal
/// where the format declares them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    pub declared_count: Option<u64>,
    pub declared_sum: Option<Money>,
    pub row_count: u64,
    /// Sum of the amounts the rows carry (rows without an amount add nothing).
    pub row_sum: Money,
    /// Entries that are not receipts for our payments (camt.054 credits without return
    /// information, entries without an EndToEndId); counted so nothing vanishes silently.
    pub skipped_entries: u64,
}

/// A decoded receipt file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptFile {
    /// The bank's id for this file (MsgId / return file id); the ingest idempotency key
    /// together with the file's hash.
    pub file_id: String,
    /// The payment file it answers (OrgnlMsgId / original file id), when stated.
    pub original_file_id: Option<String>,
    pub group_status: Option<GroupStatus>,
    pub rows: Vec<Receipt>,
    pub totals: Totals,
    /// pain.002 `OrgnlPmtInfAndSts` blocks: each payment information's own status and how
    /// many transaction rows it listed. A status without rows (`PmtInfSts RJCT` alone) speaks
    /// for every payment of that payment information; the reader applies it.
    pub payment_infos: Vec<PaymentInfoStatus>,
    /// Rows whose payment id the file does not state (a pain.002 `TxInfAndSts` without
    /// `OrgnlEndToEndId`): their `payment_id` is empty and these keys let the reader find the
    /// payment (by `OrgnlInstrId`, else by the original transaction reference). A row no
    /// payment matches is the reader's alert, never a refused file.
    pub unidentified: Vec<RowIdentity>,
    /// Amounts declared above rows that carry none (a camt.054 entry's `Amt` or a batch's
    /// `TtlAmt` over `TxDtls` without amounts): the reader checks them against the payments'
    /// amounts before marking anything paid.
    pub amount_checks: Vec<AmountCheck>,
    /// Disagreements inside the file that are tolerated rather than refusing it (e.g. a
    /// `RJCT` bucket's `DtldCtrlSum` against rejected rows echoing `0.00`), for the log.
    pub notes: Vec<String>,
}

/// One pain.002 payment-information status block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentInfoStatus {
    /// `OrgnlPmtInfId` (the gateway's PmtInfId, i.e. its batch id).
    pub pmt_inf_id: String,
    /// `PmtInfSts` as sent, if any.
    pub code: Option<String>,
    /// The block's own `StsRsnInf`, else the group's.
    pub reason: Option<ReceiptReason>,
    /// How many `TxInfAndSts` rows the block listed.
    pub rows: u64,
    /// `OrgnlNbOfTxs` / `OrgnlCtrlSum` of the block, when stated.
    pub declared_count: Option<u64>,
    pub declared_sum: Option<Money>,
}

/// How to find the payment of a row that names none (see [`ReceiptFile::unidentified`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowIdentity {
    /// Index into [`ReceiptFile::rows`].
    pub row: usize,
    /// `OrgnlInstrId`.
    pub instr_id: Option<String>,
    /// The `OrgnlPmtInfId` the row was listed under.
    pub pmt_inf_id: Option<String>,
    /// From `OrgnlTxRef`: the creditor's account (`CdtrAcct/Id/Othr/Id` or IBAN) and name.
    pub creditor_account: Option<String>,
    pub creditor_name: Option<String>,
}

impl RowIdentity {
    /// The keys the row carries, for an operator: `OrgnlInstrId=…; CdtrAcct=…; Cdtr=…`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = &self.instr_id {
            parts.push(format!("OrgnlInstrId={v}"));
        }
        if let Some(v) = &self.pmt_inf_id {
            parts.push(format!("OrgnlPmtInfId={v}"));
        }
        if let Some(v) = &self.creditor_account {
            parts.push(format!("OrgnlTxRef/CdtrAcct={v}"));
        }
        if let Some(v) = &self.creditor_name {
            parts.push(format!("OrgnlTxRef/Cdtr={v}"));
        }
        if parts.is_empty() {
            "no OrgnlEndToEndId, OrgnlInstrId or OrgnlTxRef".to_owned()
        } else {
            format!("no OrgnlEndToEndId; {}", parts.join("; "))
        }
    }
}

/// A declared amount covering rows of which some carry no amount of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountCheck {
    /// Where it is declared, e.g. `Document/…/Ntry[3]/Amt`.
    pub location: String,
    pub declared: Money,
    /// Indices into [`ReceiptFile::rows`] of the rows it covers.
    pub rows: Vec<usize>,
    /// Amounts of covered transactions that are not rows (not receipts for our payments).
    pub others_known: Money,
    /// Covered transactions that are not rows and carry no amount: the check cannot be made.
    pub others_unknown: u64,
}

/// What a file looks like, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Pain001,
    Pain002,
    Camt054,
    /// Not XML: a delimited file for some bank profile.
    Delimited,
}

/// Guess a file's kind from its root namespace (first 4 KiB), never from its name.
pub fn detect_format(bytes: &[u8]) -> Option<FileKind> {
    let head = &bytes[..bytes.len().min(4096)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let first = head.iter().copied().find(|b| !b.is_ascii_whitespace())?;
    if first != b'<' {
        return Some(FileKind::Delimited);
    }
    let contains = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    if contains(b"pain.002.") {
        Some(FileKind::Pain002)
    } else if contains(b"camt.054.") {
        Some(FileKind::Camt054)
    } else if contains(b"pain.001.") {
        Some(FileKind::Pain001)
    } else {
        None
    }
}

/// Decode a receipt file. `file` names the file in errors (its name in the inbox).
pub fn decode_named(
    file: &str,
    bytes: &[u8],
    format: &ReceiptFormat,
    limits: &DecodeLimits,
) -> Result<ReceiptFile, BankError> {
    match format {
        ReceiptFormat::Pain002 => pain002::decode(file, bytes, limits),
        ReceiptFormat::Camt054 => camt054::decode(file, bytes, limits),
        ReceiptFormat::GbkReturn(profile) => {
            delimited::decode_receipts(file, bytes, profile, limits)
        }
    }
}

/// Decode a receipt file; errors name it by its format (use [`decode_named`] to give the
/// inbox file name).
pub fn decode(
    bytes: &[u8],
    format: ReceiptFormat,
    limits: &DecodeLimits,
) -> Result<ReceiptFile, BankError> {
    let name = match &format {
        ReceiptFormat::Pain002 => "(pain.002)".to_owned(),
        ReceiptFormat::Camt054 => "(camt.054)".to_owned(),
        ReceiptFormat::GbkReturn(p) => format!("({} return)", p.name),
    };
    decode_named(&name, bytes, &format, limits)
}

/// ISO transaction/group status → canonical status (bank-files.md §1.2). `PART` is a group
/// status only and has no per-payment meaning.
pub fn iso_status(code: &str) -> Option<ReceiptStatus> {
    Some(match code {
        "ACSC" => ReceiptStatus::Paid,
        "RJCT" => ReceiptStatus::Failed,
        "PDNG" => ReceiptStatus::Pending,
        // Received / syntax OK / customer profile OK / accepted for execution / accepted with
        // change: all "the bank has it, money has not moved yet".
        "RCVD" | "ACTC" | "ACCP" | "ACSP" | "ACWC" => ReceiptStatus::Accepted,
        _ => return None,
    })
}
