//! The one error type of the crate and its rule ids.
//!
//! Every refusal names a rule id (below), the legacy field it concerns (as the HIS writes it:
//! `prm_akc190`, `AKC190`, `yka105`; or the envelope part / limit name) and, for byte-level
//! faults, the byte offset in the request body.

/// Invalid byte sequence for the encoding in force (the offset is named; never a replacement
/// character).
pub const LEG_ENCODING: &str = "LEG-ENCODING";
/// The declared encoding is not allowed by the profile, or the bytes contradict it (invalid
/// UTF-8 under a UTF-8 declaration, a UTF-8 BOM under a GBK declaration).
pub const LEG_ENCODING_DECLARED: &str = "LEG-ENCODING-DECLARED";
/// Malformed XML.
pub const LEG_XML: &str = "LEG-XML";
/// A DOCTYPE or ENTITY declaration: refused before parsing (no entity expansion at all).
pub const LEG_XML_DOCTYPE: &str = "LEG-XML-DOCTYPE";
/// A limit of [`crate::Limits`] was exceeded; the field names the limit.
pub const LEG_LIMIT: &str = "LEG-LIMIT";
/// Wrong root or container element, missing header part, a field given twice.
pub const LEG_ENVELOPE: &str = "LEG-ENVELOPE";
/// The transaction is not served by the profile, or the message names another transaction
/// than the path (`MSGNO`, `funid`, `TransCode`).
pub const LEG_TX: &str = "LEG-TX";
/// A required legacy field is missing or empty, or a value is not of the field's shape.
pub const LEG_FIELD: &str = "LEG-FIELD";
/// An amount is not a plain decimal with at most 2 decimals (or 4 whose last two are zeros).
pub const LEG_AMOUNT: &str = "LEG-AMOUNT";
/// A date or time is not in the profile's format, or not a calendar date.
pub const LEG_DATE: &str = "LEG-DATE";
/// A code is not in the profile's recode table (the table is named), or is refused by it.
pub const LEG_RECODE: &str = "LEG-RECODE";

/// A national transaction failed (`infcode` < 0): its `err_msg`, answered in the dialect and
/// naming the legacy field that maps to the national path when there is one.
pub const LEG_NATIONAL: &str = "LEG-NATIONAL";

/// Every rule id this crate reports.
pub const RULES: &[&str] = &[
    LEG_ENCODING,
    LEG_ENCODING_DECLARED,
    LEG_XML,
    LEG_XML_DOCTYPE,
    LEG_LIMIT,
    LEG_ENVELOPE,
    LEG_TX,
    LEG_FIELD,
    LEG_AMOUNT,
    LEG_DATE,
    LEG_RECODE,
    LEG_NATIONAL,
];

/// A refusal: the rule, the legacy field, a message, and the byte offset when the fault is at
/// byte level. All of them are the sender's fault except a failing answer encoding
/// ([`crate::encode_answer`]), which is the national output's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[{rule}] {field}: {message}")]
pub struct LegacyError {
    pub rule: &'static str,
    pub field: String,
    pub message: String,
    pub byte_offset: Option<usize>,
}

impl LegacyError {
    pub fn new(rule: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        LegacyError {
            rule,
            field: field.into(),
            message: message.into(),
            byte_offset: None,
        }
    }

    pub fn at(mut self, byte_offset: usize) -> Self {
        self.byte_offset = Some(byte_offset);
        self
    }
}

pub type Result<T> = std::result::Result<T, LegacyError>;
