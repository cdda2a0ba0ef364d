//! Delimited bank files (`H|…` / `D|…` / `T|…`, bank-files.md §2.3) driven by a [`BankProfile`].
//!
//! Encoding is strict: a field that cannot be written in the profile's encoding is an error
//! naming the payment and the character (never a substitute), a field containing the
//! separator or a line break is an error (never stripped), and a field longer than the
//! profile allows is an error (never truncated). Decoding is strict in the same way: invalid
//! bytes, unknown record types, wrong column counts and totals that disagree with the rows
//! are errors naming the file and line.

use std::borrow::Cow;
use std::collections::HashSet;

use medsettle_canonical::{Money, PaymentBatch, Receipt, ReceiptReason, ReceiptStatus};
use time::Date;

use crate::common::{self, compact_date, decode_strict, is_allowed_text_char, iso_date};
use crate::error::{BankError, rule};
use crate::pain001::{FilePayment, PaymentFile};
use crate::profile::{AmountStyle, BankProfile, DateStyle, Field, LengthUnit, TextEncoding};
use crate::receipts::{DecodeLimits, ReceiptFile, Totals};

/// The payment file name from the profile's template (`{pool_admdvs}`, `{pay_date}`,
/// `{seq}` as 4 digits, `{batch_id}`).
pub fn file_name(batch: &PaymentBatch, profile: &BankProfile, seq: u16) -> String {
    fill_name(&profile.payment.file_name, batch, seq)
}

/// The matching receipt (return) file name.
pub fn receipt_file_name(batch: &PaymentBatch, profile: &BankProfile, seq: u16) -> String {
    fill_name(&profile.receipt.file_name, batch, seq)
}

fn fill_name(template: &str, batch: &PaymentBatch, seq: u16) -> String {
    template
        .replace("{pool_admdvs}", batch.pool_admdvs.as_str())
        .replace("{pay_date}", &compact_date(batch.pay_date))
        .replace("{seq}", &format!("{seq:04}"))
        .replace("{batch_id}", &batch.batch_id)
}

fn fmt_amount(profile: &BankProfile, m: Money) -> String {
    match profile.amount_style {
        AmountStyle::Yuan2 => m.to_yuan_string(),
        AmountStyle::Fen => m.fen().to_string(),
    }
}

fn parse_amount(profile: &BankProfile, text: &str) -> Option<Money> {
    match profile.amount_style {
        AmountStyle::Yuan2 => common::parse_amount(text),
        AmountStyle::Fen => {
            if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            text.parse().ok().map(Money::from_fen)
        }
    }
}

fn fmt_date(profile: &BankProfile, d: Date) -> String {
    match profile.date_style {
        DateStyle::Compact => compact_date(d),
        DateStyle::Iso => iso_date(d),
    }
}

fn parse_date(profile: &BankProfile, text: &str) -> Option<Date> {
    match profile.date_style {
        DateStyle::Compact => common::parse_compact_date(text),
        DateStyle::Iso => common::parse_iso_date(text),
    }
}

/// Length of `text` in the profile's unit, or the first character it cannot encode.
fn measured_len(profile: &BankProfile, text: &str) -> Result<usize, char> {
    match (profile.length_unit, profile.encoding) {
        (LengthUnit::Chars, TextEncoding::Utf8) => Ok(text.chars().count()),
        (LengthUnit::Bytes, TextEncoding::Utf8) => Ok(text.len()),
        (unit, enc) => {
            let (bytes, _, had_errors) = enc.encoding().encode(text);
            if had_errors {
                return Err(first_unmappable(enc, text));
            }
            Ok(match unit {
                LengthUnit::Chars => text.chars().count(),
                LengthUnit::Bytes => bytes.len(),
            })
        }
    }
}

fn first_unmappable(enc: TextEncoding, text: &str) -> char {
    let mut buf = [0u8; 4];
    text.chars()
        .find(|c| enc.encoding().encode(c.encode_utf8(&mut buf)).2)
        .expect("encoding_rs reported an unmappable character, so one exists")
}

/// Renders records with the checks every field gets.
struct RecordWriter<'a> {
    profile: &'a BankProfile,
    file: &'a str,
    out: Vec<u8>,
}

impl RecordWriter<'_> {
    /// `owner` is the payment id for detail rows and `(header)`/`(trailer)` otherwise.
    fn record<'v>(
        &mut self,
        layout: &[Field],
        owner: &str,
        mut value: impl FnMut(&Field) -> Result<Cow<'v, str>, BankError>,
    ) -> Result<(), BankError> {
        if layout.is_empty() {
            return Ok(()); // e.g. a profile without a trailer record
        }
        let sep = self.profile.separator;
        for (i, field) in layout.iter().enumerate() {
            let v = match field {
                Field::Literal(l) => Cow::Owned(l.clone()),
                f => value(f)?,
            };
            let loc = || format!("{owner} field {}", field.key());
            if v.contains(sep) {
                return Err(BankError::batch(
                    self.file,
                    loc(),
                    rule::NO_SEPARATOR_IN_FIELD,
                    format!("value {v:?} contains the separator {sep:?}; it is never stripped"),
                ));
            }
            if let Some(c) = v.chars().find(|c| !is_allowed_text_char(*c)) {
                return Err(BankError::batch(
                    self.file,
                    loc(),
                    rule::TEXT_CHARS,
                    format!("contains control character U+{:04X}", u32::from(c)),
                ));
            }
            // Encode once: the same bytes give the length (in bytes units) and the output.
            let enc = self.profile.encoding;
            let (bytes, had_errors) = match enc {
                TextEncoding::Utf8 => (Cow::Borrowed(v.as_bytes()), false),
                _ => {
                    let (b, _, e) = enc.encoding().encode(&v);
                    (b, e)
                }
            };
            if had_errors {
                return Err(BankError::Unencodable {
                    batch_id: self.file.to_owned(),
                    payment_id: owner.to_owned(),
                    field: field.key(),
                    ch: first_unmappable(enc, &v),
                    encoding: enc.label(),
                });
            }
            if let Some(&max) = self.profile.max_len.get(field.key()) {
                let len = match self.profile.length_unit {
                    LengthUnit::Chars => v.chars().count(),
                    LengthUnit::Bytes => bytes.len(),
                };
                if len > max {
                    return Err(BankError::batch(
                        self.file,
                        loc(),
                        rule::TEXT_MAX_LEN,
                        format!(
                            "{len} {:?} exceeds {max}; it is never truncated",
                            self.profile.length_unit
                        ),
                    ));
                }
            }
            if i > 0 {
                self.out.push(sep as u8);
            }
            self.out.extend_from_slice(&bytes);
        }
        if self.profile.terminated {
            self.out.push(sep as u8);
        }
        self.out
            .extend_from_slice(self.profile.line_ending.as_bytes());
        Ok(())
    }
}

/// Render `batch` as the profile's payment file. Deterministic: same batch, same bytes.
pub fn encode(batch: &PaymentBatch, profile: &BankProfile) -> Result<Vec<u8>, BankError> {
    let sum = common::check_batch(batch)?;
    let bid = batch.batch_id.as_str();
    let count = batch.payments.len().to_string();
    let sum_text = fmt_amount(profile, sum);
    let pay_date = fmt_date(profile, batch.pay_date);
    let mut w = RecordWriter {
        profile,
        file: bid,
        out: Vec::with_capacity(256 + batch.payments.len() * 200),
    };
    let file_level = |f: &Field| -> Result<Cow<'_, str>, BankError> {
        Ok(match f {
            Field::FileId | Field::BatchId => Cow::Borrowed(bid),
            Field::PoolAdmdvs => Cow::Borrowed(batch.pool_admdvs.as_str()),
            Field::PayDate => Cow::Borrowed(pay_date.as_str()),
            Field::PayerAccount => Cow::Borrowed(batch.debtor.account.as_str()),
            Field::PayerName => Cow::Borrowed(batch.debtor.name.as_str()),
            Field::PayerCnaps => Cow::Borrowed(batch.debtor.bank_code.as_str()),
            Field::Count => Cow::Borrowed(count.as_str()),
            Field::Sum => Cow::Borrowed(sum_text.as_str()),
            Field::Currency => Cow::Borrowed("CNY"),
            other => unreachable!("profile validation keeps {other:?} out of header/trailer"),
        })
    };
    w.record(&profile.payment.header.clone(), "(header)", file_level)?;
    let sep = profile.separator;
    let purpose_max = profile
        .max_len
        .get("purpose")
        .copied()
        .unwrap_or(usize::MAX);
    for (i, p) in batch.payments.iter().enumerate() {
        let seq = format!("{:08}", i + 1);
        let purpose = if profile.payment.detail.contains(&Field::Purpose) {
            common::remittance_text(batch, p, |t| {
                !t.contains(sep) && measured_len(profile, t).is_ok_and(|n| n <= purpose_max)
            })?
        } else {
            String::new()
        };
        let memo = p
            .replaces_payment_id
            .as_ref()
            .map(|old| format!("替代{old}"))
            .unwrap_or_default();
        w.record(&profile.payment.detail.clone(), &p.payment_id, |f| {
            Ok(match f {
                Field::Seq => Cow::Borrowed(seq.as_str()),
                Field::EndToEndId => Cow::Borrowed(p.payment_id.as_str()),
                Field::PayeeAccount => Cow::Borrowed(p.payee.account.as_str()),
                Field::PayeeName => Cow::Borrowed(p.payee.name.as_str()),
                Field::PayeeCnaps => Cow::Borrowed(p.payee.bank_code.as_str()),
                Field::PayeeBankName => Cow::Borrowed(p.payee.bank_name.as_str()),
                Field::PayeeCode => Cow::Borrowed(p.payee_code.as_str()),
                Field::Amount => Cow::Owned(fmt_amount(profile, p.amount)),
                Field::Purpose => Cow::Borrowed(purpose.as_str()),
                Field::Memo => Cow::Borrowed(memo.as_str()),
                Field::Currency => Cow::Borrowed("CNY"),
                Field::PayDate => Cow::Borrowed(pay_date.as_str()),
                other => unreachable!("profile validation keeps {other:?} out of detail"),
            })
        })?;
    }
    w.record(&profile.payment.trailer.clone(), "(trailer)", file_level)?;
    Ok(w.out)
}

/// Header of a receipt (return) file as the simulator writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnHeader {
    pub original_file_id: String,
    pub return_file_id: String,
}

fn is_ok(s: ReceiptStatus) -> bool {
    s == ReceiptStatus::Paid
}

fn is_fail(s: ReceiptStatus) -> bool {
    matches!(s, ReceiptStatus::Failed | ReceiptStatus::Returned)
}

/// Render receipt rows as the profile's return file (the bank's side; used by the simulator).
pub fn encode_receipts(
    profile: &BankProfile,
    header: &ReturnHeader,
    rows: &[Receipt],
) -> Result<Vec<u8>, BankError> {
    let file = header.return_file_id.as_str();
    let sum_of = |pred: fn(ReceiptStatus) -> bool| -> Money {
        rows.iter()
            .filter(|r| pred(r.status))
            .filter_map(|r| r.amount)
            .sum()
    };
    let count_of = |pred: fn(ReceiptStatus) -> bool| {
        rows.iter().filter(|r| pred(r.status)).count().to_string()
    };
    let (ok_count, fail_count) = (count_of(is_ok), count_of(is_fail));
    let (ok_sum, fail_sum) = (
        fmt_amount(profile, sum_of(is_ok)),
        fmt_amount(profile, sum_of(is_fail)),
    );
    let count = rows.len().to_string();
    let mut w = RecordWriter {
        profile,
        file,
        out: Vec::with_capacity(128 + rows.len() * 120),
    };
    let file_level = |f: &Field| -> Result<Cow<'_, str>, BankError> {
        Ok(Cow::Borrowed(match f {
            Field::OriginalFileId => header.original_file_id.as_str(),
            Field::ReturnFileId => file,
            Field::Count => count.as_str(),
            Field::OkCount => ok_count.as_str(),
            Field::OkSum => ok_sum.as_str(),
            Field::FailCount => fail_count.as_str(),
            Field::FailSum => fail_sum.as_str(),
            other => unreachable!("profile validation keeps {other:?} out of receipt header"),
        }))
    };
    w.record(&profile.receipt.header.clone(), "(header)", file_level)?;
    for (i, r) in rows.iter().enumerate() {
        let code = profile
            .status_code(r.status)
            .ok_or_else(|| BankError::InvalidProfile {
                profile: profile.name.clone(),
                detail: format!("no status code for {:?}", r.status),
            })?;
        let seq = format!("{:08}", i + 1);
        let reason = r.reason.clone().unwrap_or(ReceiptReason {
            iso_code: None,
            bank_code: None,
            text: String::new(),
        });
        w.record(&profile.receipt.detail.clone(), &r.payment_id, |f| {
            Ok(match f {
                Field::Seq => Cow::Borrowed(seq.as_str()),
                Field::EndToEndId => Cow::Borrowed(r.payment_id.as_str()),
                Field::Status => Cow::Borrowed(code),
                Field::BankReference => Cow::Borrowed(r.bank_reference.as_deref().unwrap_or("")),
                Field::IsoReason => Cow::Owned(reason.iso_code.clone().unwrap_or_default()),
                Field::BankCode => Cow::Owned(reason.bank_code.clone().unwrap_or_default()),
                Field::BankText => Cow::Owned(reason.text.clone()),
                Field::SettleDate => Cow::Owned(
                    r.value_date
                        .map(|d| fmt_date(profile, d))
                        .unwrap_or_default(),
                ),
                Field::Amount => {
                    Cow::Owned(r.amount.map(|m| fmt_amount(profile, m)).unwrap_or_default())
                }
                other => unreachable!("profile validation keeps {other:?} out of receipt detail"),
            })
        })?;
    }
    w.record(&profile.receipt.trailer.clone(), "(trailer)", file_level)?;
    Ok(w.out)
}

/// One decoded line: its 1-based number and its fields.
struct Line {
    no: usize,
    fields: Vec<String>,
}

/// Split into lines (byte-level `\n` is safe for GBK/GB18030: no trail byte is 0x0A), decode
/// each strictly, and split by the separator after decoding (GBK trail bytes can be `|`).
fn read_lines(
    file: &str,
    bytes: &[u8],
    profile: &BankProfile,
    limits: &DecodeLimits,
) -> Result<Vec<Line>, BankError> {
    limits.check_size(file, bytes.len())?;
    let mut bytes = bytes;
    if profile.encoding == TextEncoding::Utf8 {
        bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    }
    let mut lines = Vec::new();
    let mut raw_lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    match raw_lines.last() {
        Some([]) => {
            raw_lines.pop();
        }
        _ => {
            return Err(BankError::malformed(
                file,
                format!("line {}", raw_lines.len()),
                rule::RECORD_LAYOUT,
                "last line has no line ending (truncated file?)",
            ));
        }
    }
    // header + trailer + rows
    let max_lines = limits.rows_max.saturating_add(2);
    if raw_lines.len() > max_lines {
        return Err(limits.rows_exceeded(file, raw_lines.len()));
    }
    let sep = profile.separator;
    for (i, raw) in raw_lines.into_iter().enumerate() {
        let no = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = decode_strict(profile.encoding.encoding(), raw).ok_or_else(|| {
            BankError::BadEncoding {
                file: file.to_owned(),
                location: format!("line {no}"),
                encoding: profile.encoding.label(),
            }
        })?;
        let mut fields: Vec<String> = text.split(sep).map(str::to_owned).collect();
        if profile.terminated {
            if fields.last().is_some_and(|f| f.is_empty()) && fields.len() > 1 {
                fields.pop();
            } else {
                return Err(BankError::malformed(
                    file,
                    format!("line {no}"),
                    rule::RECORD_LAYOUT,
                    format!("record does not end with {sep:?}"),
                ));
            }
        }
        lines.push(Line { no, fields });
    }
    Ok(lines)
}

/// Header, detail lines and trailer, each checked against its layout.
struct Records<'a> {
    header: Option<&'a Line>,
    details: &'a [Line],
    trailer: Option<&'a Line>,
}

fn classify<'a>(
    file: &str,
    lines: &'a [Line],
    header: &[Field],
    detail: &[Field],
    trailer: &[Field],
) -> Result<Records<'a>, BankError> {
    let tag = |l: &[Field]| match l.first() {
        Some(Field::Literal(t)) => Some(t.clone()),
        _ => None,
    };
    let check = |line: &Line, layout: &[Field], what: &str| -> Result<(), BankError> {
        if line.fields.first().map(String::as_str) != tag(layout).as_deref() {
            return Err(BankError::malformed(
                file,
                format!("line {}", line.no),
                rule::RECORD_LAYOUT,
                format!(
                    "expected a {what} record starting with {:?}",
                    tag(layout).unwrap_or_default()
                ),
            ));
        }
        if line.fields.len() != layout.len() {
            return Err(BankError::malformed(
                file,
                format!("line {}", line.no),
                rule::RECORD_LAYOUT,
                format!(
                    "{what} record has {} fields, expected {}",
                    line.fields.len(),
                    layout.len()
                ),
            ));
        }
        Ok(())
    };
    let mut rest = lines;
    let mut h = None;
    if !header.is_empty() {
        let (first, tail) = rest.split_first().ok_or_else(|| {
            BankError::malformed(
                file,
                "line 1",
                rule::RECORD_LAYOUT,
                "empty file: header missing",
            )
        })?;
        check(first, header, "header")?;
        h = Some(first);
        rest = tail;
    }
    let mut t = None;
    if !trailer.is_empty() {
        let (last, init) = rest.split_last().ok_or_else(|| {
            BankError::malformed(
                file,
                "end of file",
                rule::RECORD_LAYOUT,
                "trailer missing (truncated file?)",
            )
        })?;
        check(last, trailer, "trailer")?;
        t = Some(last);
        rest = init;
    }
    for line in rest {
        check(line, detail, "detail")?;
    }
    Ok(Records {
        header: h,
        details: rest,
        trailer: t,
    })
}

fn get<'a>(layout: &[Field], line: &'a Line, f: &Field) -> Option<&'a str> {
    layout
        .iter()
        .position(|x| x == f)
        .map(|i| line.fields[i].as_str())
}

fn check_total(
    file: &str,
    line: &Line,
    what: &'static str,
    declared: &str,
    actual: String,
) -> Result<(), BankError> {
    if declared != actual {
        return Err(BankError::TotalsMismatch {
            file: file.to_owned(),
            location: format!("line {}", line.no),
            what,
            declared: declared.to_owned(),
            actual,
        });
    }
    Ok(())
}

fn check_money_total(
    file: &str,
    profile: &BankProfile,
    line: &Line,
    what: &'static str,
    declared: &str,
    actual: Money,
) -> Result<(), BankError> {
    let d = parse_amount(profile, declared).ok_or_else(|| {
        BankError::malformed(
            file,
            format!("line {}", line.no),
            rule::AMOUNT_EXACT_FEN,
            format!("{what} {declared:?} is not an exact amount"),
        )
    })?;
    if d != actual {
        return Err(BankError::TotalsMismatch {
            file: file.to_owned(),
            location: format!("line {}", line.no),
            what,
            declared: d.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// Read a payment file back (the bank's side: used by the simulator and round-trip tests).
pub fn decode_payments(
    file: &str,
    bytes: &[u8],
    profile: &BankProfile,
    limits: &DecodeLimits,
) -> Result<PaymentFile, BankError> {
    let lines = read_lines(file, bytes, profile, limits)?;
    let lay = &profile.payment;
    let recs = classify(file, &lines, &lay.header, &lay.detail, &lay.trailer)?;
    let mut payments = Vec::with_capacity(recs.details.len());
    let mut pay_date = None;
    for line in recs.details {
        let at = || format!("line {}", line.no);
        let g = |f: &Field| get(&lay.detail, line, f).unwrap_or("").to_owned();
        let amount_text = g(&Field::Amount);
        let amount = parse_amount(profile, &amount_text).ok_or_else(|| {
            BankError::malformed(
                file,
                at(),
                rule::AMOUNT_EXACT_FEN,
                format!("amount {amount_text:?} is not an exact amount"),
            )
        })?;
        if let Some(d) = get(&lay.detail, line, &Field::PayDate) {
            pay_date = Some(parse_date(profile, d).ok_or_else(|| {
                BankError::malformed(file, at(), rule::DATE_FORMAT, format!("{d:?}"))
            })?);
        }
        payments.push(FilePayment {
            payment_id: g(&Field::EndToEndId),
            amount,
            payee_name: g(&Field::PayeeName),
            payee_account: g(&Field::PayeeAccount),
            payee_cnaps: g(&Field::PayeeCnaps),
        });
    }
    let sum: Money = payments.iter().map(|p| p.amount).sum();
    let mut file_id = None;
    for (line, layout) in [(recs.header, &lay.header), (recs.trailer, &lay.trailer)] {
        let Some(line) = line else { continue };
        if let Some(c) = get(layout, line, &Field::Count) {
            check_total(file, line, "record count", c, payments.len().to_string())?;
        }
        if let Some(s) = get(layout, line, &Field::Sum) {
            check_money_total(file, profile, line, "control sum", s, sum)?;
        }
        if let Some(id) =
            get(layout, line, &Field::FileId).or_else(|| get(layout, line, &Field::BatchId))
        {
            file_id.get_or_insert_with(|| id.to_owned());
        }
        if let Some(d) = get(layout, line, &Field::PayDate) {
            pay_date = Some(parse_date(profile, d).ok_or_else(|| {
                BankError::malformed(
                    file,
                    format!("line {}", line.no),
                    rule::DATE_FORMAT,
                    format!("{d:?}"),
                )
            })?);
        }
    }
    let missing = |what: &str| {
        BankError::malformed(
            file,
            "header",
            rule::REQUIRED_ELEMENT,
            format!("{what} is missing from the layout"),
        )
    };
    Ok(PaymentFile {
        file_id: file_id.ok_or_else(|| missing("file_id"))?,
        pay_date: pay_date.ok_or_else(|| missing("pay_date"))?,
        count: payments.len() as u64,
        control_sum: sum,
        payments,
    })
}

/// Decode a return (回盘) file into canonical receipts, checking header/trailer totals.
pub fn decode_receipts(
    file: &str,
    bytes: &[u8],
    profile: &BankProfile,
    limits: &DecodeLimits,
) -> Result<ReceiptFile, BankError> {
    let lines = read_lines(file, bytes, profile, limits)?;
    let lay = &profile.receipt;
    let recs = classify(file, &lines, &lay.header, &lay.detail, &lay.trailer)?;
    let file_line = recs
        .header
        .map(|l| (l, &lay.header))
        .or(recs.trailer.map(|l| (l, &lay.trailer)));
    let original = file_line
        .and_then(|(l, lay)| get(lay, l, &Field::OriginalFileId))
        .map(str::to_owned);
    let file_id = file_line
        .and_then(|(l, lay)| get(lay, l, &Field::ReturnFileId))
        .map(str::to_owned)
        .unwrap_or_else(|| file.to_owned());
    let has_amount = lay.detail.contains(&Field::Amount);
    let mut rows = Vec::with_capacity(recs.details.len());
    let mut seen = HashSet::with_capacity(recs.details.len());
    for line in recs.details {
        let at = || format!("line {}", line.no);
        let g = |f: &Field| get(&lay.detail, line, f).unwrap_or("");
        let id = g(&Field::EndToEndId);
        if id.is_empty() {
            return Err(BankError::malformed(
                file,
                at(),
                rule::REQUIRED_ELEMENT,
                "end_to_end_id is empty",
            ));
        }
        if !seen.insert(id) {
            return Err(BankError::malformed(
                file,
                at(),
                rule::ID_UNIQUE,
                format!("payment {id} has two rows in one file"),
            ));
        }
        let code = g(&Field::Status);
        let status = *profile.status_codes.get(code).ok_or_else(|| {
            BankError::malformed(
                file,
                at(),
                rule::STATUS_CODE,
                format!("unknown status {code:?} for payment {id}"),
            )
        })?;
        let amount = match g(&Field::Amount) {
            // Rows counted in the header sums must carry their amount; a pending row may not.
            "" if has_amount && (is_ok(status) || is_fail(status)) => {
                return Err(BankError::malformed(
                    file,
                    at(),
                    rule::REQUIRED_ELEMENT,
                    format!("amount missing for payment {id}"),
                ));
            }
            "" => None,
            t => Some(parse_amount(profile, t).ok_or_else(|| {
                BankError::malformed(
                    file,
                    at(),
                    rule::AMOUNT_EXACT_FEN,
                    format!("amount {t:?} is not an exact amount"),
                )
            })?),
        };
        let value_date = match g(&Field::SettleDate) {
            "" => None,
            t => Some(parse_date(profile, t).ok_or_else(|| {
                BankError::malformed(file, at(), rule::DATE_FORMAT, format!("settle_date {t:?}"))
            })?),
        };
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let (iso, bank_code, text) = (
            g(&Field::IsoReason),
            g(&Field::BankCode),
            g(&Field::BankText),
        );
        let reason =
            (!(iso.is_empty() && bank_code.is_empty() && text.is_empty())).then(|| ReceiptReason {
                iso_code: opt(iso),
                bank_code: opt(bank_code),
                text: text.to_owned(),
            });
        rows.push(Receipt {
            payment_id: id.to_owned(),
            batch_id: original.clone(),
            status,
            amount,
            bank_reference: opt(g(&Field::BankReference)),
            value_date,
            reason,
        });
    }
    let row_sum: Money = rows.iter().filter_map(|r| r.amount).sum();
    let mut totals = Totals {
        declared_count: None,
        declared_sum: None,
        row_count: rows.len() as u64,
        row_sum,
        skipped_entries: 0,
    };
    let count_of = |pred: fn(ReceiptStatus) -> bool| {
        rows.iter().filter(|r| pred(r.status)).count().to_string()
    };
    let sum_of = |pred: fn(ReceiptStatus) -> bool| -> Money {
        rows.iter()
            .filter(|r| pred(r.status))
            .filter_map(|r| r.amount)
            .sum()
    };
    for (line, layout) in [(recs.header, &lay.header), (recs.trailer, &lay.trailer)] {
        let Some(line) = line else { continue };
        if let Some(c) = get(layout, line, &Field::Count) {
            check_total(file, line, "record count", c, rows.len().to_string())?;
            totals.declared_count = c.parse().ok();
        }
        if let Some(c) = get(layout, line, &Field::OkCount) {
            check_total(file, line, "ok count", c, count_of(is_ok))?;
        }
        if let Some(c) = get(layout, line, &Field::FailCount) {
            check_total(file, line, "fail count", c, count_of(is_fail))?;
        }
        // Sums can only be checked when rows carry amounts (profile decides).
        if has_amount {
            if let Some(s) = get(layout, line, &Field::OkSum) {
                check_money_total(file, profile, line, "ok sum", s, sum_of(is_ok))?;
            }
            if let Some(s) = get(layout, line, &Field::FailSum) {
                check_money_total(file, profile, line, "fail sum", s, sum_of(is_fail))?;
            }
            let (ok, fail) = (
                get(layout, line, &Field::OkSum),
                get(layout, line, &Field::FailSum),
            );
            if let (Some(ok), Some(fail)) = (
                ok.and_then(|t| parse_amount(profile, t)),
                fail.and_then(|t| parse_amount(profile, t)),
            ) {
                totals.declared_sum = ok.checked_add(fail);
            }
        }
    }
    Ok(ReceiptFile {
        file_id,
        original_file_id: original,
        group_status: None,
        rows,
        totals,
        payment_infos: Vec::new(),
        unidentified: Vec::new(),
        amount_checks: Vec::new(),
        notes: Vec::new(),
    })
}
