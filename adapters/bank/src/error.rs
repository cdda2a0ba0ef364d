//! The one error type of this crate.
//!
//! Every variant says whose fault it is ([`Fault::Internal`]: our batch or our configuration
//! cannot be rendered; [`Fault::Bank`]: a file the bank sent us is unusable), names the file
//! (batch id when encoding, file name or id when decoding), the place in it (line, element
//! path, payment id) and the rule broken, so an operator can act without reading code.

pub use medsettle_canonical::Fault;

/// Rule names cited by [`BankError`]; stable strings so logs and tests can match on them.
pub mod rule {
    pub const CNAPS_12_DIGITS: &str = "bank.cnaps_12_digits";
    pub const AMOUNT_POSITIVE: &str = "bank.amount_positive";
    pub const AMOUNT_RANGE: &str = "bank.amount_range";
    pub const AMOUNT_EXACT_FEN: &str = "bank.amount_exact_fen";
    pub const NAME_REQUIRED: &str = "bank.name_required";
    pub const TEXT_MAX_LEN: &str = "bank.text_max_len";
    pub const TEXT_CHARS: &str = "bank.text_allowed_chars";
    pub const ACCOUNT_FORMAT: &str = "bank.account_format";
    pub const ID_FORMAT: &str = "bank.id_format";
    pub const ID_UNIQUE: &str = "bank.id_unique";
    pub const BATCH_NOT_EMPTY: &str = "bank.batch_not_empty";
    pub const DATETIME_FORMAT: &str = "bank.datetime_format";
    pub const DATE_FORMAT: &str = "bank.date_format";
    pub const ENCODABLE: &str = "bank.encodable_in_target_encoding";
    pub const NO_SEPARATOR_IN_FIELD: &str = "bank.no_separator_in_field";
    pub const XML_WELL_FORMED: &str = "bank.xml_well_formed";
    pub const XML_NO_DTD: &str = "bank.xml_no_dtd_or_entities";
    pub const XML_ROOT: &str = "bank.xml_expected_root";
    pub const REQUIRED_ELEMENT: &str = "bank.required_element";
    pub const STATUS_CODE: &str = "bank.known_status_code";
    pub const RECORD_LAYOUT: &str = "bank.record_layout";
    pub const TOTALS_MATCH: &str = "bank.totals_match_rows";
    pub const TEXT_ENCODING: &str = "bank.strict_text_encoding";
    pub const TRIGGER_FORMAT: &str = "bank.trigger_format";
    pub const PROFILE: &str = "bank.profile_valid";
}

/// Everything that can go wrong rendering or reading a bank file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BankError {
    /// Our batch cannot be rendered as the bank requires (a data problem upstream of us).
    #[error("internal: batch {batch_id}: {location}: rule {rule}: {detail}")]
    InvalidBatch {
        batch_id: String,
        /// e.g. `payment P-001 Cdtr/Nm` or `GrpHdr/CreDtTm`.
        location: String,
        rule: &'static str,
        detail: String,
    },
    /// A character of a field cannot be written in the bank's encoding. We never substitute:
    /// a payee name the bank reads differently fails the payment (户名不符) or pays a stranger.
    #[error(
        "internal: batch {batch_id}: payment {payment_id}: field {field}: character {ch:?} (U+{code:04X}) cannot be encoded in {encoding}; rule {rule}",
        code = u32::from(*ch),
        rule = rule::ENCODABLE
    )]
    Unencodable {
        batch_id: String,
        payment_id: String,
        field: &'static str,
        ch: char,
        encoding: &'static str,
    },
    /// A bank profile (our configuration) is unusable.
    #[error("internal: bank profile {profile}: rule {rule}: {detail}", rule = rule::PROFILE)]
    InvalidProfile { profile: String, detail: String },
    /// The bank's file breaks its format.
    #[error("bank: file {file}: {location}: rule {rule}: {detail}")]
    Malformed {
        file: String,
        /// `line 7` or an element path such as `OrgnlPmtInfAndSts/TxInfAndSts[3]/TxSts`.
        location: String,
        rule: &'static str,
        detail: String,
    },
    /// The bank's file is bigger, deeper or longer than we accept.
    #[error("bank: file {file}: limit {limit} exceeded: {actual} > {max}")]
    LimitExceeded {
        file: String,
        limit: &'static str,
        actual: u64,
        max: u64,
    },
    /// The bank's file is not valid text in its declared encoding (never decoded with U+FFFD).
    #[error("bank: file {file}: {location}: rule {rule}: not valid {encoding}", rule = rule::TEXT_ENCODING)]
    BadEncoding {
        file: String,
        location: String,
        encoding: &'static str,
    },
    /// The file's own totals disagree with its rows (truncated or tampered file).
    #[error(
        "bank: file {file}: {location}: rule {rule}: {what} declared {declared}, rows give {actual}",
        rule = rule::TOTALS_MATCH
    )]
    TotalsMismatch {
        file: String,
        location: String,
        what: &'static str,
        declared: String,
        actual: String,
    },
}

impl BankError {
    /// Whose fault the error is.
    pub fn fault(&self) -> Fault {
        match self {
            BankError::InvalidBatch { .. }
            | BankError::Unencodable { .. }
            | BankError::InvalidProfile { .. } => Fault::Internal,
            BankError::Malformed { .. }
            | BankError::LimitExceeded { .. }
            | BankError::BadEncoding { .. }
            | BankError::TotalsMismatch { .. } => Fault::Bank,
        }
    }

    /// The rule the error cites.
    pub fn rule(&self) -> &'static str {
        match self {
            BankError::InvalidBatch { rule, .. } | BankError::Malformed { rule, .. } => rule,
            BankError::Unencodable { .. } => rule::ENCODABLE,
            BankError::InvalidProfile { .. } => rule::PROFILE,
            BankError::LimitExceeded { .. } => "bank.decode_limits",
            BankError::BadEncoding { .. } => rule::TEXT_ENCODING,
            BankError::TotalsMismatch { .. } => rule::TOTALS_MATCH,
        }
    }

    pub(crate) fn malformed(
        file: &str,
        location: impl Into<String>,
        rule: &'static str,
        detail: impl Into<String>,
    ) -> BankError {
        BankError::Malformed {
            file: file.to_owned(),
            location: location.into(),
            rule,
            detail: detail.into(),
        }
    }

    pub(crate) fn batch(
        batch_id: &str,
        location: impl Into<String>,
        rule: &'static str,
        detail: impl Into<String>,
    ) -> BankError {
        BankError::InvalidBatch {
            batch_id: batch_id.to_owned(),
            location: location.into(),
            rule,
            detail: detail.into(),
        }
    }
}
