//! A bank's delimited file layout as data (`specs/bank/*.toml`).
//!
//! Column order, separator, encoding, amount and date style, header/trailer fields, line
//! ending and field lengths all come from the profile, so supporting another bank that speaks
//! a `H|…`/`D|…`/`T|…`-style file is a new TOML file, not new code.

use std::collections::BTreeMap;

use medsettle_canonical::ReceiptStatus;
use serde::Deserialize;

use crate::error::BankError;

/// The profile of bank-files.md §2.3, shipped as `specs/bank/canonical-gbk.toml`.
pub const DEFAULT_PROFILE_TOML: &str = include_str!("../../../specs/bank/canonical-gbk.toml");

/// A column of a record. Payment-file fields and receipt-file fields share one vocabulary;
/// [`BankProfile::from_toml`] checks each is used where it means something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// Fixed text such as the record type `H`.
    Literal(String),
    // payment file, header/trailer
    FileId,
    BatchId,
    PoolAdmdvs,
    PayDate,
    PayerAccount,
    PayerName,
    PayerCnaps,
    Count,
    Sum,
    Currency,
    // payment file, detail
    Seq,
    EndToEndId,
    PayeeAccount,
    PayeeName,
    PayeeCnaps,
    PayeeBankName,
    PayeeCode,
    Amount,
    Purpose,
    Memo,
    // receipt file
    OriginalFileId,
    ReturnFileId,
    OkCount,
    OkSum,
    FailCount,
    FailSum,
    Status,
    BankReference,
    IsoReason,
    BankCode,
    BankText,
    SettleDate,
}

impl Field {
    fn parse(text: &str) -> Option<Field> {
        use Field::*;
        if let Some(lit) = text.strip_prefix("lit:") {
            return Some(Literal(lit.to_owned()));
        }
        Some(match text {
            "file_id" => FileId,
            "batch_id" => BatchId,
            "pool_admdvs" => PoolAdmdvs,
            "pay_date" => PayDate,
            "payer_account" => PayerAccount,
            "payer_name" => PayerName,
            "payer_cnaps" => PayerCnaps,
            "count" => Count,
            "sum" => Sum,
            "currency" => Currency,
            "seq" => Seq,
            "end_to_end_id" => EndToEndId,
            "payee_account" => PayeeAccount,
            "payee_name" => PayeeName,
            "payee_cnaps" => PayeeCnaps,
            "payee_bank_name" => PayeeBankName,
            "payee_code" => PayeeCode,
            "amount" => Amount,
            "purpose" => Purpose,
            "memo" => Memo,
            "original_file_id" => OriginalFileId,
            "return_file_id" => ReturnFileId,
            "ok_count" => OkCount,
            "ok_sum" => OkSum,
            "fail_count" => FailCount,
            "fail_sum" => FailSum,
            "status" => Status,
            "bank_reference" => BankReference,
            "iso_reason" => IsoReason,
            "bank_code" => BankCode,
            "bank_text" => BankText,
            "settle_date" => SettleDate,
            _ => return None,
        })
    }

    /// The profile key for `max_len` lookups and messages.
    pub fn key(&self) -> &'static str {
        use Field::*;
        match self {
            Literal(_) => "literal",
            FileId => "file_id",
            BatchId => "batch_id",
            PoolAdmdvs => "pool_admdvs",
            PayDate => "pay_date",
            PayerAccount => "payer_account",
            PayerName => "payer_name",
            PayerCnaps => "payer_cnaps",
            Count => "count",
            Sum => "sum",
            Currency => "currency",
            Seq => "seq",
            EndToEndId => "end_to_end_id",
            PayeeAccount => "payee_account",
            PayeeName => "payee_name",
            PayeeCnaps => "payee_cnaps",
            PayeeBankName => "payee_bank_name",
            PayeeCode => "payee_code",
            Amount => "amount",
            Purpose => "purpose",
            Memo => "memo",
            OriginalFileId => "original_file_id",
            ReturnFileId => "return_file_id",
            OkCount => "ok_count",
            OkSum => "ok_sum",
            FailCount => "fail_count",
            FailSum => "fail_sum",
            Status => "status",
            BankReference => "bank_reference",
            IsoReason => "iso_reason",
            BankCode => "bank_code",
            BankText => "bank_text",
            SettleDate => "settle_date",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Gbk,
    Gb18030,
    Utf8,
}

impl TextEncoding {
    pub fn encoding(self) -> &'static encoding_rs::Encoding {
        match self {
            TextEncoding::Gbk => encoding_rs::GBK,
            TextEncoding::Gb18030 => encoding_rs::GB18030,
            TextEncoding::Utf8 => encoding_rs::UTF_8,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TextEncoding::Gbk => "GBK",
            TextEncoding::Gb18030 => "GB18030",
            TextEncoding::Utf8 => "UTF-8",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountStyle {
    /// `1234.50`
    Yuan2,
    /// `123450`
    Fen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateStyle {
    Compact,
    Iso,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthUnit {
    Chars,
    Bytes,
}

/// One file's record layouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub file_name: String,
    pub header: Vec<Field>,
    pub detail: Vec<Field>,
    pub trailer: Vec<Field>,
}

/// A resolved, validated bank profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankProfile {
    pub name: String,
    pub encoding: TextEncoding,
    pub separator: char,
    pub terminated: bool,
    /// `"\r\n"` or `"\n"`.
    pub line_ending: &'static str,
    pub amount_style: AmountStyle,
    pub date_style: DateStyle,
    pub length_unit: LengthUnit,
    pub payment: Layout,
    pub max_len: BTreeMap<String, usize>,
    pub receipt: Layout,
    /// Bank status code → canonical status.
    pub status_codes: BTreeMap<String, ReceiptStatus>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    encoding: String,
    separator: String,
    terminated: bool,
    line_ending: String,
    amount_style: String,
    date_style: String,
    length_unit: String,
    payment: RawPayment,
    receipt: RawReceipt,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPayment {
    file_name: String,
    header: Vec<String>,
    detail: Vec<String>,
    trailer: Vec<String>,
    #[serde(default)]
    max_len: BTreeMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReceipt {
    file_name: String,
    header: Vec<String>,
    detail: Vec<String>,
    trailer: Vec<String>,
    status_codes: BTreeMap<String, String>,
}

const PAYMENT_FILE_FIELDS: &[&str] = &[
    "file_id",
    "batch_id",
    "pool_admdvs",
    "pay_date",
    "payer_account",
    "payer_name",
    "payer_cnaps",
    "count",
    "sum",
    "currency",
];
const PAYMENT_DETAIL_FIELDS: &[&str] = &[
    "seq",
    "end_to_end_id",
    "payee_account",
    "payee_name",
    "payee_cnaps",
    "payee_bank_name",
    "payee_code",
    "amount",
    "purpose",
    "memo",
    "currency",
    "pay_date",
];
const RECEIPT_FILE_FIELDS: &[&str] = &[
    "original_file_id",
    "return_file_id",
    "count",
    "ok_count",
    "ok_sum",
    "fail_count",
    "fail_sum",
];
const RECEIPT_DETAIL_FIELDS: &[&str] = &[
    "seq",
    "end_to_end_id",
    "status",
    "bank_reference",
    "iso_reason",
    "bank_code",
    "bank_text",
    "settle_date",
    "amount",
];

impl BankProfile {
    /// The shipped default (bank-files.md §2.3, GBK, `|`, CRLF, yuan).
    pub fn default_gbk() -> BankProfile {
        BankProfile::from_toml(DEFAULT_PROFILE_TOML).expect("the shipped default profile is valid")
    }

    /// Parse and validate a profile; every problem names the profile and the key.
    pub fn from_toml(text: &str) -> Result<BankProfile, BankError> {
        let raw: RawProfile = toml::from_str(text).map_err(|e| BankError::InvalidProfile {
            profile: "(unparsed)".into(),
            detail: e.to_string(),
        })?;
        let bad = |detail: String| BankError::InvalidProfile {
            profile: raw.name.clone(),
            detail,
        };
        let encoding = match raw.encoding.to_ascii_uppercase().as_str() {
            "GBK" => TextEncoding::Gbk,
            "GB18030" => TextEncoding::Gb18030,
            "UTF-8" | "UTF8" => TextEncoding::Utf8,
            other => {
                return Err(bad(format!(
                    "encoding {other:?}: expected GBK, GB18030 or UTF-8"
                )));
            }
        };
        let mut sep = raw.separator.chars();
        let separator = match (sep.next(), sep.next()) {
            // The separator must be ASCII: GBK trail bytes never collide with ASCII controls,
            // but a multibyte separator would make byte-level splitting ambiguous.
            (Some(c), None)
                if c.is_ascii() && !c.is_ascii_alphanumeric() && c != '\r' && c != '\n' =>
            {
                c
            }
            _ => {
                return Err(bad(format!(
                    "separator {:?} must be one ASCII punctuation character",
                    raw.separator
                )));
            }
        };
        let line_ending = match raw.line_ending.as_str() {
            "CRLF" => "\r\n",
            "LF" => "\n",
            other => return Err(bad(format!("line_ending {other:?}: expected CRLF or LF"))),
        };
        let amount_style = match raw.amount_style.as_str() {
            "yuan" => AmountStyle::Yuan2,
            "fen" => AmountStyle::Fen,
            other => return Err(bad(format!("amount_style {other:?}: expected yuan or fen"))),
        };
        let date_style = match raw.date_style.as_str() {
            "yyyymmdd" => DateStyle::Compact,
            "yyyy-mm-dd" => DateStyle::Iso,
            other => {
                return Err(bad(format!(
                    "date_style {other:?}: expected yyyymmdd or yyyy-mm-dd"
                )));
            }
        };
        let length_unit = match raw.length_unit.as_str() {
            "chars" => LengthUnit::Chars,
            "bytes" => LengthUnit::Bytes,
            other => {
                return Err(bad(format!(
                    "length_unit {other:?}: expected chars or bytes"
                )));
            }
        };
        let fields =
            |list: &[String], allowed: &[&str], what: &str| -> Result<Vec<Field>, BankError> {
                list.iter()
                    .map(|f| {
                        let field = Field::parse(f)
                            .ok_or_else(|| bad(format!("{what}: unknown field {f:?}")))?;
                        if let Field::Literal(l) = &field {
                            if l.contains(separator) || l.contains(['\r', '\n']) {
                                return Err(bad(format!(
                                    "{what}: literal {l:?} contains the separator or a line break"
                                )));
                            }
                        } else if !allowed.contains(&field.key()) {
                            return Err(bad(format!("{what}: field {f:?} has no meaning here")));
                        }
                        Ok(field)
                    })
                    .collect()
            };
        let payment = Layout {
            header: fields(&raw.payment.header, PAYMENT_FILE_FIELDS, "payment.header")?,
            detail: fields(&raw.payment.detail, PAYMENT_DETAIL_FIELDS, "payment.detail")?,
            trailer: fields(&raw.payment.trailer, PAYMENT_FILE_FIELDS, "payment.trailer")?,
            file_name: raw.payment.file_name.clone(),
        };
        let receipt = Layout {
            header: fields(&raw.receipt.header, RECEIPT_FILE_FIELDS, "receipt.header")?,
            detail: fields(&raw.receipt.detail, RECEIPT_DETAIL_FIELDS, "receipt.detail")?,
            trailer: fields(&raw.receipt.trailer, RECEIPT_FILE_FIELDS, "receipt.trailer")?,
            file_name: raw.receipt.file_name.clone(),
        };
        for (what, list, required) in [
            (
                "payment.detail",
                &payment.detail,
                &[Field::EndToEndId, Field::Amount][..],
            ),
            (
                "receipt.detail",
                &receipt.detail,
                &[Field::EndToEndId, Field::Status][..],
            ),
        ] {
            for r in required {
                if !list.contains(r) {
                    return Err(bad(format!("{what} must contain {}", r.key())));
                }
            }
        }
        // A record type must be recognisable: header and trailer start with distinct literals
        // when both exist, otherwise a truncated file could be misread.
        for (what, layout) in [("payment", &payment), ("receipt", &receipt)] {
            let first = |l: &[Field]| l.first().cloned();
            for l in [&layout.header, &layout.detail, &layout.trailer] {
                if !l.is_empty() && !matches!(first(l), Some(Field::Literal(_))) {
                    return Err(bad(format!(
                        "{what}: every record must start with a lit: record type"
                    )));
                }
            }
            let tags: Vec<_> = [&layout.header, &layout.detail, &layout.trailer]
                .iter()
                .filter_map(|l| first(l))
                .collect();
            for (i, t) in tags.iter().enumerate() {
                if tags[i + 1..].contains(t) {
                    return Err(bad(format!("{what}: record types must differ")));
                }
            }
        }
        for key in raw.payment.max_len.keys() {
            if !PAYMENT_DETAIL_FIELDS.contains(&key.as_str())
                && !PAYMENT_FILE_FIELDS.contains(&key.as_str())
            {
                return Err(bad(format!("payment.max_len: unknown field {key:?}")));
            }
        }
        let mut status_codes = BTreeMap::new();
        for (code, status) in &raw.receipt.status_codes {
            let s = match status.as_str() {
                "accepted" => ReceiptStatus::Accepted,
                "pending" => ReceiptStatus::Pending,
                "paid" => ReceiptStatus::Paid,
                "failed" => ReceiptStatus::Failed,
                "returned" => ReceiptStatus::Returned,
                other => {
                    return Err(bad(format!(
                        "receipt.status_codes.{code}: unknown status {other:?}"
                    )));
                }
            };
            if code.is_empty() || code.contains(separator) {
                return Err(bad(format!("receipt.status_codes: bad code {code:?}")));
            }
            if status_codes.values().any(|v| *v == s) {
                return Err(bad(format!(
                    "receipt.status_codes: two codes mean {status}"
                )));
            }
            status_codes.insert(code.clone(), s);
        }
        Ok(BankProfile {
            name: raw.name.clone(),
            encoding,
            separator,
            terminated: raw.terminated,
            line_ending,
            amount_style,
            date_style,
            length_unit,
            payment,
            max_len: raw.payment.max_len,
            receipt,
            status_codes,
        })
    }

    /// The bank code for a canonical status (used when rendering receipts in the simulator).
    pub fn status_code(&self, status: ReceiptStatus) -> Option<&str> {
        self.status_codes
            .iter()
            .find(|(_, s)| **s == status)
            .map(|(c, _)| c.as_str())
    }
}
