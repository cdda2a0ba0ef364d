//! Validation and formatting shared by the encoders: ids, names, accounts, dates, remittance.

use std::collections::HashSet;

use medsettle_canonical::{BankAccount, Money, PaymentBatch, PaymentInstruction, PaymentPurpose};
use time::Date;

use crate::error::{BankError, rule};

/// ISO `Max35Text` for MsgId/PmtInfId/EndToEndId; banks use the id as their duplicate key, so
/// an id that does not fit is an error, never truncated (two batches would collide).
pub const ID_CHARS_MAX: usize = 35;

/// ISO `Max34Text` (`Othr/Id`) is the tightest account limit we render to.
pub const ACCOUNT_CHARS_MAX: usize = 34;

/// Ids travel in file names, XML, and `|`-separated rows: keep them to a safe ASCII set.
pub fn check_id(batch_id: &str, location: &str, id: &str) -> Result<(), BankError> {
    if id.is_empty() || id.chars().count() > ID_CHARS_MAX {
        return Err(BankError::batch(
            batch_id,
            location,
            rule::TEXT_MAX_LEN,
            format!("id {id:?} must be 1..={ID_CHARS_MAX} characters"),
        ));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(BankError::batch(
            batch_id,
            location,
            rule::ID_FORMAT,
            format!("id {id:?} may only use ASCII letters, digits, '-', '_' and '.'"),
        ));
    }
    Ok(())
}

/// Whether a character may appear in a text field we send: no control characters (they are
/// invalid in XML 1.0 and break line-oriented files) and no XML non-characters.
pub fn is_allowed_text_char(c: char) -> bool {
    !(c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}')
}

/// A human-readable text field (name, bank name, purpose): non-empty when `required`, within
/// `max_chars`, and free of control characters.
pub fn check_text(
    batch_id: &str,
    location: &str,
    text: &str,
    required: bool,
    max_chars: usize,
) -> Result<(), BankError> {
    if required && text.trim().is_empty() {
        return Err(BankError::batch(
            batch_id,
            location,
            rule::NAME_REQUIRED,
            "must not be empty",
        ));
    }
    if text.trim() != text {
        // Receivers compare names exactly and many trim; an edge space would be a mismatch
        // waiting to happen, so it is refused rather than silently trimmed.
        return Err(BankError::batch(
            batch_id,
            location,
            rule::TEXT_CHARS,
            "has leading or trailing whitespace",
        ));
    }
    let n = text.chars().count();
    if n > max_chars {
        return Err(BankError::batch(
            batch_id,
            location,
            rule::TEXT_MAX_LEN,
            format!("{n} characters, at most {max_chars} allowed; it is never truncated"),
        ));
    }
    if let Some(c) = text.chars().find(|c| !is_allowed_text_char(*c)) {
        return Err(BankError::batch(
            batch_id,
            location,
            rule::TEXT_CHARS,
            format!("contains control character U+{:04X}", u32::from(c)),
        ));
    }
    Ok(())
}

pub fn check_account(batch_id: &str, location: &str, acct: &BankAccount) -> Result<(), BankError> {
    let a = &acct.account;
    // Chinese account numbers are digits; a few banks use letters. Spaces or dashes are
    // display formatting and make the bank's exact-match lookup fail, so they are refused.
    if a.is_empty() || a.len() > ACCOUNT_CHARS_MAX || !a.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(BankError::batch(
            batch_id,
            format!("{location} account"),
            rule::ACCOUNT_FORMAT,
            format!("account {a:?} must be 1..={ACCOUNT_CHARS_MAX} ASCII letters or digits"),
        ));
    }
    if !acct.has_valid_cnaps() {
        return Err(BankError::batch(
            batch_id,
            format!("{location} bank_code"),
            rule::CNAPS_12_DIGITS,
            format!("CNAPS code {:?} must be exactly 12 digits", acct.bank_code),
        ));
    }
    Ok(())
}

/// Checks every encoder needs whatever the format: non-empty, unique ids, valid accounts,
/// positive amounts and a control sum that fits the formats (18 digits incl. 2 decimals).
pub fn check_batch(batch: &PaymentBatch) -> Result<Money, BankError> {
    let bid = batch.batch_id.as_str();
    check_id(bid, "batch_id", bid)?;
    if batch.payments.is_empty() {
        return Err(BankError::batch(
            bid,
            "payments",
            rule::BATCH_NOT_EMPTY,
            "a payment file needs at least one payment",
        ));
    }
    check_account(bid, "debtor", &batch.debtor)?;
    check_text(bid, "debtor name", &batch.debtor.name, true, 70)?;
    let mut seen = HashSet::with_capacity(batch.payments.len());
    let mut sum: i64 = 0;
    for p in &batch.payments {
        let loc = format!("payment {}", p.payment_id);
        check_id(bid, &format!("{loc} payment_id"), &p.payment_id)?;
        if !seen.insert(p.payment_id.as_str()) {
            return Err(BankError::batch(
                bid,
                loc,
                rule::ID_UNIQUE,
                "payment_id appears twice; the bank would pay twice or reject the file",
            ));
        }
        if let Some(old) = &p.replaces_payment_id {
            check_id(bid, &format!("{loc} replaces_payment_id"), old)?;
        }
        check_account(bid, &loc, &p.payee)?;
        // Names are never shortened; each format applies its own tighter maximum.
        check_text(bid, &format!("{loc} payee name"), &p.payee.name, true, 140)?;
        if p.amount.fen() <= 0 {
            return Err(BankError::batch(
                bid,
                format!("{loc} amount"),
                rule::AMOUNT_POSITIVE,
                format!("amount {} must be greater than zero", p.amount),
            ));
        }
        sum = sum
            .checked_add(p.amount.fen())
            .filter(|s| *s < AMOUNT_FEN_LIMIT)
            .ok_or_else(|| {
                BankError::batch(
                    bid,
                    format!("{loc} amount"),
                    rule::AMOUNT_RANGE,
                    "control sum exceeds 18 digits",
                )
            })?;
    }
    Ok(Money::from_fen(sum))
}

/// ISO `DecimalNumber` allows 18 total digits; with 2 decimals that is < 10^18 fen.
pub const AMOUNT_FEN_LIMIT: i64 = 1_000_000_000_000_000_000;

/// `yyyy-MM-dd` (ISO date).
pub fn iso_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// `yyyyMMdd` (file names and compact bank fields).
pub fn compact_date(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

pub fn parse_iso_date(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    parse_ymd(&text[0..4], &text[5..7], &text[8..10])
}

pub fn parse_compact_date(text: &str) -> Option<Date> {
    if text.len() != 8 || !text.is_ascii() {
        return None;
    }
    parse_ymd(&text[0..4], &text[4..6], &text[6..8])
}

fn parse_ymd(y: &str, m: &str, d: &str) -> Option<Date> {
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !(all_digits(y) && all_digits(m) && all_digits(d)) {
        return None;
    }
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

fn purpose_label(p: PaymentPurpose) -> &'static str {
    match p {
        PaymentPurpose::Daily => "日拨付",
        PaymentPurpose::Monthly => "月结算",
        PaymentPurpose::Quarterly => "季度特例单议",
        PaymentPurpose::Annual => "年度清算",
        PaymentPurpose::Distributor => "配送企业预付",
        PaymentPurpose::ProvinceClearing => "跨省异地就医清算",
        PaymentPurpose::ProvincePrepayment => "跨省异地就医预付金",
    }
}

/// Settlement dates with consecutive runs collapsed: `2025-01-02~2025-01-04,2025-01-07`.
fn date_runs(dates: &[Date]) -> String {
    let mut sorted = dates.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && end.next_day() == Some(sorted[i + 1]) {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&iso_date(start));
        if end != start {
            out.push('~');
            out.push_str(&iso_date(end));
        }
        i += 1;
    }
    out
}

/// Remittance text (摘要) naming the fund purpose, the settlement dates and the batch.
///
/// Tries the most informative wording first and falls back to shorter ones (first~last date
/// and a count, then without the batch id which the file header carries anyway) until it
/// fits `fits`. If nothing fits the result is an error: remittance is never cut mid-word.
pub fn remittance_text(
    batch: &PaymentBatch,
    p: &PaymentInstruction,
    fits: impl Fn(&str) -> bool,
) -> Result<String, BankError> {
    let label = purpose_label(p.purpose);
    let mut sorted = p.settlement_dates.clone();
    sorted.sort();
    sorted.dedup();
    let full = if sorted.is_empty() {
        String::new()
    } else {
        format!(" 结算日{}", date_runs(&sorted))
    };
    let summary = match (sorted.first(), sorted.last()) {
        (Some(a), Some(b)) if a != b => {
            format!(
                " 结算日{}~{}共{}日",
                iso_date(*a),
                iso_date(*b),
                sorted.len()
            )
        }
        (Some(a), _) => format!(" 结算日{}", iso_date(*a)),
        _ => String::new(),
    };
    let bid = &batch.batch_id;
    let candidates = [
        format!("医保基金{label}{full} 批次{bid}"),
        format!("医保基金{label}{summary} 批次{bid}"),
        format!("医保基金{label}{full}"),
        format!("医保基金{label}{summary}"),
    ];
    candidates.into_iter().find(|c| fits(c)).ok_or_else(|| {
        BankError::batch(
            bid,
            format!("payment {} remittance", p.payment_id),
            rule::TEXT_MAX_LEN,
            "even the shortest remittance text does not fit the field",
        )
    })
}

/// Strictly decode text in `encoding`: malformed bytes are an error, never U+FFFD.
pub fn decode_strict(encoding: &'static encoding_rs::Encoding, bytes: &[u8]) -> Option<String> {
    if encoding == encoding_rs::UTF_8 {
        return std::str::from_utf8(bytes).ok().map(str::to_owned);
    }
    encoding
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|c| c.into_owned())
}

/// Parse a decimal yuan amount of any scale exactly into fen (non-zero digits beyond the fen
/// are refused, never rounded), non-negative.
pub fn parse_amount(text: &str) -> Option<Money> {
    // Plain decimals only: exponents and signs have no business in a bank amount.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    Money::parse_yuan(text).ok()
}

/// Small deterministic hash for ids derived from content (simulator references, file ids).
pub fn short_hash(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(&h.finalize()[..10]).to_ascii_uppercase()
}
