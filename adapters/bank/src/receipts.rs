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
