//! ISO 20022 pain.001.001.03 (CustomerCreditTransferInitiationV03): encoder, plus a reader
//! used by the bank simulator and round-trip tests.
//!
//! One file = one batch = one `PmtInf`. MsgId and PmtInfId are the batch id and EndToEndId is
//! the payment id, so the same batch always renders to the same bytes and a re-sent file is a
//! duplicate the bank rejects (invariant 5). Agents are identified by their 12-digit CNAPS code
//! in `ClrSysMmbId` (bank-files.md §1.1), accounts by `Othr/Id`.

use medsettle_canonical::{Money, PaymentBatch};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use crate::common::{self, check_text, iso_date};
use crate::error::{BankError, rule};
use crate::receipts::DecodeLimits;
use crate::xml::{self, XmlEvent, XmlWriter, ends_with};

pub const NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03";

/// Rendering choices that are the agency's or the bank's, not the batch's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pain001Options {
    /// `InitgPty/Nm`; `None` uses the debtor account name.
    pub initiating_party_name: Option<String>,
    /// `BtchBookg`: one debit for the whole batch (true) or one per payment.
    pub batch_booking: bool,
    /// Longest party name we send. The XSD allows 140; bank guidelines say 70, and a name is
    /// never shortened (户名不符 fails the payment), so a longer one is an error.
    pub name_chars_max: usize,
    /// `RmtInf/Ustrd` is `Max140Text`.
    pub ustrd_chars_max: usize,
}

impl Default for Pain001Options {
    fn default() -> Self {
        Pain001Options {
            initiating_party_name: None,
            batch_booking: true,
            name_chars_max: 70,
            ustrd_chars_max: 140,
        }
    }
}

/// Render `batch` as pain.001.001.03 in UTF-8. Deterministic: same batch and options, same bytes.
pub fn encode(batch: &PaymentBatch, opts: &Pain001Options) -> Result<Vec<u8>, BankError> {
    let sum = common::check_batch(batch)?;
    let bid = batch.batch_id.as_str();
    if OffsetDateTime::parse(&batch.created_at, &Rfc3339).is_err() {
        return Err(BankError::batch(
            bid,
            "GrpHdr/CreDtTm",
            rule::DATETIME_FORMAT,
            format!(
                "created_at {:?} is not yyyy-MM-ddTHH:mm:ss+hh:mm",
                batch.created_at
            ),
        ));
    }
    let initiator = opts
        .initiating_party_name
        .as_deref()
        .unwrap_or(&batch.debtor.name);
    check_text(bid, "InitgPty/Nm", initiator, true, opts.name_chars_max)?;
    check_text(
        bid,
        "Dbtr/Nm",
        &batch.debtor.name,
        true,
        opts.name_chars_max,
    )?;
    check_text(bid, "DbtrAgt/Nm", &batch.debtor.bank_name, false, 140)?;

    let n = batch.payments.len().to_string();
    let sum_text = sum.to_yuan_string();
    let mut w = XmlWriter::new(600 + batch.payments.len() * 900);
    w.open_attr("Document", Some(("xmlns", NAMESPACE)));
    w.open("CstmrCdtTrfInitn");
    w.open("GrpHdr");
    w.leaf("MsgId", bid);
    w.leaf("CreDtTm", &batch.created_at);
    w.leaf("NbOfTxs", &n);
    w.leaf("CtrlSum", &sum_text);
    w.open("InitgPty");
    w.leaf("Nm", initiator);
    w.close("InitgPty");
    w.close("GrpHdr");

    w.open("PmtInf");
    w.leaf("PmtInfId", bid);
    w.leaf("PmtMtd", "TRF");
    w.leaf(
        "BtchBookg",
        if opts.batch_booking { "true" } else { "false" },
    );
    w.leaf("NbOfTxs", &n);
    w.leaf("CtrlSum", &sum_text);
    w.leaf("ReqdExctnDt", &iso_date(batch.pay_date));
    w.open("Dbtr");
    w.leaf("Nm", &batch.debtor.name);
    w.close("Dbtr");
    account(&mut w, "DbtrAcct", &batch.debtor.account);
    agent(
        &mut w,
        "DbtrAgt",
        &batch.debtor.bank_code,
        &batch.debtor.bank_name,
    );

    for p in &batch.payments {
        let loc = format!("payment {}", p.payment_id);
        check_text(
            bid,
            &format!("{loc} Cdtr/Nm"),
            &p.payee.name,
            true,
            opts.name_chars_max,
        )?;
        check_text(
            bid,
            &format!("{loc} CdtrAgt/Nm"),
            &p.payee.bank_name,
            false,
            140,
        )?;
        let max = opts.ustrd_chars_max;
        let ustrd = common::remittance_text(batch, p, |t| t.chars().count() <= max)?;
        w.open("CdtTrfTxInf");
        w.open("PmtId");
        w.leaf("EndToEndId", &p.payment_id);
        w.close("PmtId");
        w.open("Amt");
        w.leaf_attr("InstdAmt", Some(("Ccy", "CNY")), &p.amount.to_yuan_string());
        w.close("Amt");
        agent(&mut w, "CdtrAgt", &p.payee.bank_code, &p.payee.bank_name);
        w.open("Cdtr");
        w.leaf("Nm", &p.payee.name);
        w.close("Cdtr");
        account(&mut w, "CdtrAcct", &p.payee.account);
        w.open("RmtInf");
        w.leaf("Ustrd", &ustrd);
        w.close("RmtInf");
        w.close("CdtTrfTxInf");
    }
    w.close("PmtInf");
    w.close("CstmrCdtTrfInitn");
    w.close("Document");
    Ok(w.finish())
}

fn account(w: &mut XmlWriter, tag: &str, id: &str) {
    w.open(tag);
    w.open("Id");
    w.open("Othr");
    w.leaf("Id", id);
    w.close("Othr");
    w.close("Id");
    w.close(tag);
}

fn agent(w: &mut XmlWriter, tag: &str, cnaps: &str, bank_name: &str) {
    w.open(tag);
    w.open("FinInstnId");
    w.open("ClrSysMmbId");
    w.open("ClrSysId");
    // ISO external clearing-system code for China's CNAPS.
    w.leaf("Cd", "CNAPS");
    w.close("ClrSysId");
    w.leaf("MmbId", cnaps);
    w.close("ClrSysMmbId");
    if !bank_name.is_empty() {
        w.leaf("Nm", bank_name);
    }
    w.close("FinInstnId");
    w.close(tag);
}

/// One credit transfer as read back from a payment file (pain.001 or delimited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePayment {
    pub payment_id: String,
    pub amount: Money,
    pub payee_name: String,
    pub payee_account: String,
    pub payee_cnaps: String,
}

/// A payment file as the bank sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentFile {
    /// MsgId (pain.001) or the header's file id (delimited).
    pub file_id: String,
    pub pay_date: Date,
    pub payments: Vec<FilePayment>,
    /// Declared count and control sum (already checked against the rows).
    pub count: u64,
    pub control_sum: Money,
}

#[derive(Default)]
struct TxDraft {
    id: Option<String>,
    amount: Option<Money>,
    name: String,
    account: String,
    cnaps: String,
}

/// Read a pain.001.001.03 file back, checking its group and PmtInf totals against its rows.
pub fn decode(file: &str, bytes: &[u8], limits: &DecodeLimits) -> Result<PaymentFile, BankError> {
    let mut msg_id = None;
    let mut nb: Option<u64> = None;
    let mut ctrl: Option<Money> = None;
    let mut date = None;
    let mut payments: Vec<FilePayment> = Vec::new();
    let mut tx: Option<TxDraft> = None;
    let missing = |what: &str, at: &str| {
        BankError::malformed(
            file,
            at,
            rule::REQUIRED_ELEMENT,
            format!("{what} is missing"),
        )
    };
    let ns = xml::walk(file, bytes, limits, |path, ev| {
        let at = || xml::path_string(path);
        match ev {
            XmlEvent::Start => {
                if path.len() == 1 && path[0].name != "Document" {
                    return Err(BankError::malformed(
                        file,
                        at(),
                        rule::XML_ROOT,
                        "root must be Document",
                    ));
                }
                if ends_with(path, &["PmtInf", "CdtTrfTxInf"]) {
                    if payments.len() >= limits.rows_max {
                        return Err(limits.rows_exceeded(file, payments.len() + 1));
                    }
                    tx = Some(TxDraft::default());
                }
            }
            XmlEvent::End { text } => {
                let text = text.trim();
                let last = path.last().map(|f| f.name.as_str()).unwrap_or("");
                if let Some(t) = tx.as_mut() {
                    if ends_with(path, &["PmtId", "EndToEndId"]) {
                        t.id = Some(text.to_owned());
                    } else if ends_with(path, &["Amt", "InstdAmt"]) {
                        if path.last().and_then(|f| f.attr("Ccy")) != Some("CNY") {
                            return Err(BankError::malformed(
                                file,
                                at(),
                                rule::AMOUNT_RANGE,
                                "currency must be CNY",
                            ));
                        }
                        t.amount = Some(common::parse_amount(text).ok_or_else(|| {
                            BankError::malformed(
                                file,
                                at(),
                                rule::AMOUNT_EXACT_FEN,
                                format!("{text:?} is not an exact amount"),
                            )
                        })?);
                    } else if ends_with(path, &["Cdtr", "Nm"]) {
                        t.name = text.to_owned();
                    } else if ends_with(path, &["CdtrAcct", "Id", "Othr", "Id"]) {
                        t.account = text.to_owned();
                    } else if ends_with(path, &["CdtrAgt", "FinInstnId", "ClrSysMmbId", "MmbId"]) {
                        t.cnaps = text.to_owned();
                    } else if last == "CdtTrfTxInf" {
                        let t = tx.take().unwrap_or_default();
                        payments.push(FilePayment {
                            payment_id: t.id.ok_or_else(|| missing("EndToEndId", &at()))?,
                            amount: t.amount.ok_or_else(|| missing("InstdAmt", &at()))?,
                            payee_name: t.name,
                            payee_account: t.account,
                            payee_cnaps: t.cnaps,
                        });
                    }
                } else if ends_with(path, &["GrpHdr", "MsgId"]) {
                    msg_id = Some(text.to_owned());
                } else if ends_with(path, &["GrpHdr", "NbOfTxs"]) {
                    nb = Some(text.parse().map_err(|_| {
                        BankError::malformed(
                            file,
                            at(),
                            rule::RECORD_LAYOUT,
                            "NbOfTxs is not a number",
                        )
                    })?);
                } else if ends_with(path, &["GrpHdr", "CtrlSum"]) {
                    ctrl = Some(common::parse_amount(text).ok_or_else(|| {
                        BankError::malformed(
                            file,
                            at(),
                            rule::AMOUNT_EXACT_FEN,
                            "CtrlSum is not an exact amount",
                        )
                    })?);
                } else if ends_with(path, &["PmtInf", "ReqdExctnDt"]) {
                    date = Some(common::parse_iso_date(text).ok_or_else(|| {
                        BankError::malformed(
                            file,
                            at(),
                            rule::DATE_FORMAT,
                            "ReqdExctnDt is not yyyy-MM-dd",
                        )
                    })?);
                }
            }
        }
        Ok(())
    })?;
    if ns != NAMESPACE {
        return Err(BankError::malformed(
            file,
            "Document",
            rule::XML_ROOT,
            format!("namespace {ns:?} is not pain.001.001.03"),
        ));
    }
    let file_id = msg_id.ok_or_else(|| missing("GrpHdr/MsgId", "GrpHdr"))?;
    let count = nb.ok_or_else(|| missing("GrpHdr/NbOfTxs", "GrpHdr"))?;
    let pay_date = date.ok_or_else(|| missing("PmtInf/ReqdExctnDt", "PmtInf"))?;
    let actual: Money = payments.iter().map(|p| p.amount).sum();
    if count != payments.len() as u64 {
        return Err(BankError::TotalsMismatch {
            file: file.to_owned(),
            location: "GrpHdr/NbOfTxs".into(),
            what: "transaction count",
            declared: count.to_string(),
            actual: payments.len().to_string(),
        });
    }
    let control_sum = ctrl.unwrap_or(actual);
    if control_sum != actual {
        return Err(BankError::TotalsMismatch {
            file: file.to_owned(),
            location: "GrpHdr/CtrlSum".into(),
            what: "control sum",
            declared: control_sum.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(PaymentFile {
        file_id,
        pay_date,
        payments,
        count,
        control_sum,
    })
}
