//! camt.054 (BankToCustomerDebitCreditNotification): decoder, plus the encoder the bank
//! simulator uses.
//!
//! What becomes a receipt (bank-files.md §1.3): a booked debit entry's `TxDtls` → paid; a
//! pending debit → pending; an entry whose `TxDtls` carry `RtrInf`, or a reversal credit
//! (`RvslInd`), → returned with the return reason. Other credits and entries without an
//! `EndToEndId` are not receipts for our payments; they are counted in
//! `Totals::skipped_entries`, never silently dropped. Element names are matched locally, so
//! .001.02 (`Sts` text, `AmtDtls/TxAmt/Amt`) and later versions (`Sts/Cd`, `TxDtls/Amt`) both read.
//!
//! `TxDtls` without an amount of their own: a single one takes its entry's `Amt`; several are
//! covered by an [`AmountCheck`] (the entry's `Amt`, a batch's `TtlAmt`) which the reader
//! checks against the payments' amounts before marking any of them paid.

use medsettle_canonical::{Money, Receipt, ReceiptReason, ReceiptStatus};
use time::Date;

use crate::common::{self, iso_date};
use crate::error::{BankError, rule};
use crate::receipts::{AmountCheck, DecodeLimits, ReceiptFile, Totals};
use crate::xml::{self, XmlEvent, XmlWriter, bad, ends_with};

pub const NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02";

#[derive(Default)]
struct TxDraft {
    e2e: Option<String>,
    msg_id: Option<String>,
    acct_svcr_ref: Option<String>,
    tx_amt: Option<Money>,
    amt: Option<Money>,
    rtr: bool,
    rsn_cd: Option<String>,
    rsn_prtry: Option<String>,
    rsn_text: Vec<String>,
}

impl TxDraft {
    fn amount(&self) -> Option<Money> {
        self.tx_amt.or(self.amt)
    }
}

#[derive(Default)]
struct BtchDraft {
    msg_id: Option<String>,
    nb: Option<u64>,
    ttl: Option<Money>,
}

#[derive(Default)]
struct EntryDraft {
    amount: Option<Money>,
    credit: Option<bool>,
    reversal: bool,
    sts: Option<String>,
    value_date: Option<Date>,
    acct_svcr_ref: Option<String>,
    txs: Vec<TxDraft>,
    /// (batch, index of its first TxDtls, index after its last)
    batches: Vec<(BtchDraft, usize, usize)>,
    dtls_start: usize,
    btch: Option<BtchDraft>,
}

fn mismatch(
    file: &str,
    at: &str,
    what: &'static str,
    declared: String,
    actual: String,
) -> BankError {
    BankError::TotalsMismatch {
        file: file.to_owned(),
        location: at.to_owned(),
        what,
        declared,
        actual,
    }
}

/// Turn a finished entry into receipts, checking its batch and entry totals.
fn finish_entry(
    file: &str,
    at: &str,
    e: EntryDraft,
    rows: &mut Vec<Receipt>,
    totals: &mut Totals,
    checks: &mut Vec<AmountCheck>,
) -> Result<(), BankError> {
    for (b, start, end) in &e.batches {
        let txs = &e.txs[*start..*end];
        if txs.is_empty() {
            continue; // batch booking without detail: nothing to check it against
        }
        if let Some(nb) = b.nb {
            if nb != txs.len() as u64 {
                return Err(mismatch(
                    file,
                    at,
                    "Btch/NbOfTxs",
                    nb.to_string(),
                    txs.len().to_string(),
                ));
            }
            *totals.declared_count.get_or_insert(0) += nb;
        }
        if let Some(ttl) = b.ttl {
            if txs.iter().all(|t| t.amount().is_some()) {
                let sum: Money = txs.iter().filter_map(TxDraft::amount).sum();
                if sum != ttl {
                    return Err(mismatch(
                        file,
                        at,
                        "Btch/TtlAmt",
                        ttl.to_string(),
                        sum.to_string(),
                    ));
                }
            }
            *totals.declared_sum.get_or_insert(Money::ZERO) += ttl;
        }
    }
    let single = e.txs.len() == 1;
    if let Some(amount) = e.amount
        && !e.txs.is_empty()
        && !single
        && e.txs.iter().all(|t| t.amount().is_some())
    {
        let sum: Money = e.txs.iter().filter_map(TxDraft::amount).sum();
        if sum != amount {
            return Err(mismatch(
                file,
                at,
                "Ntry/Amt",
                amount.to_string(),
                sum.to_string(),
            ));
        }
    }
    let credit = e.credit.ok_or_else(|| {
        bad(
            file,
            at.to_owned(),
            rule::REQUIRED_ELEMENT,
            "CdtDbtInd is missing",
        )
    })?;
    let sts = e.sts.as_deref().unwrap_or("");
    if e.txs.is_empty() {
        totals.skipped_entries += 1;
        return Ok(());
    }
    let batch_msg = e.batches.iter().find_map(|(b, _, _)| b.msg_id.clone());
    // The row each transaction became, if any.
    let mut tx_row: Vec<Option<usize>> = vec![None; e.txs.len()];
    for (k, t) in e.txs.iter().enumerate() {
        let status = match (sts, credit, t.rtr || (credit && e.reversal)) {
            ("BOOK", _, true) => ReceiptStatus::Returned,
            ("BOOK", false, false) => ReceiptStatus::Paid,
            ("PDNG", false, false) => ReceiptStatus::Pending,
            _ => {
                totals.skipped_entries += 1;
                continue;
            }
        };
        let Some(id) = t
            .e2e
            .clone()
            .filter(|id| !id.is_empty() && id != "NOTPROVIDED")
        else {
            totals.skipped_entries += 1;
            continue;
        };
        let reason =
            (t.rsn_cd.is_some() || t.rsn_prtry.is_some() || !t.rsn_text.is_empty()).then(|| {
                ReceiptReason {
                    iso_code: t.rsn_cd.clone(),
                    bank_code: t.rsn_prtry.clone(),
                    text: t.rsn_text.join(" "),
                }
            });
        let amount = t.amount().or(if single { e.amount } else { None });
        if let Some(a) = amount {
            totals.row_sum += a;
        }
        totals.row_count += 1;
        tx_row[k] = Some(rows.len());
        rows.push(Receipt {
            payment_id: id,
            batch_id: t.msg_id.clone().or_else(|| batch_msg.clone()),
            status,
            amount,
            bank_reference: t.acct_svcr_ref.clone().or_else(|| e.acct_svcr_ref.clone()),
            value_date: e.value_date,
            reason,
        });
    }
    // Rows without an amount of their own are only as good as the total above them.
    let mut cover = |location: String, declared: Money, range: std::ops::Range<usize>| {
        let covered: Vec<usize> = tx_row[range.clone()].iter().flatten().copied().collect();
        if covered.iter().all(|&r| rows[r].amount.is_some()) {
            return;
        }
        let others = range.filter(|&k| tx_row[k].is_none()).map(|k| &e.txs[k]);
        let (mut known, mut unknown) = (Money::ZERO, 0u64);
        for t in others {
            match t.amount() {
                Some(a) => known += a,
                None => unknown += 1,
            }
        }
        checks.push(AmountCheck {
            location,
            declared,
            rows: covered,
            others_known: known,
            others_unknown: unknown,
        });
    };
    for (b, start, end) in &e.batches {
        if let Some(ttl) = b.ttl {
            cover(format!("{at}/NtryDtls/Btch/TtlAmt"), ttl, *start..*end);
        }
    }
    if let Some(amount) = e.amount {
        cover(format!("{at}/Amt"), amount, 0..e.txs.len());
    }
    Ok(())
}

pub fn decode(file: &str, bytes: &[u8], limits: &DecodeLimits) -> Result<ReceiptFile, BankError> {
    let mut msg_id = None;
    let mut entry: Option<EntryDraft> = None;
    let mut tx_count = 0usize;
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    let mut totals = Totals {
        declared_count: None,
        declared_sum: None,
        row_count: 0,
        row_sum: Money::ZERO,
        skipped_entries: 0,
    };
    let ns =
        xml::walk(file, bytes, limits, |path, ev| {
            let at = || xml::path_string(path);
            let last = path.last().map(|f| f.name.as_str()).unwrap_or("");
            match ev {
                XmlEvent::Start => {
                    if path.len() == 1 && last != "Document" {
                        return Err(bad(file, at(), rule::XML_ROOT, "root must be Document"));
                    }
                    if path.len() == 2 && last != "BkToCstmrDbtCdtNtfctn" {
                        return Err(bad(
                            file,
                            at(),
                            rule::XML_ROOT,
                            "expected BkToCstmrDbtCdtNtfctn",
                        ));
                    }
                    match last {
                        "Ntry" if ends_with(path, &["Ntfctn", "Ntry"]) => {
                            entry = Some(EntryDraft::default())
                        }
                        "NtryDtls" => {
                            if let Some(e) = entry.as_mut() {
                                e.dtls_start = e.txs.len();
                                e.btch = None;
                            }
                        }
                        "Btch" => {
                            if let Some(e) = entry.as_mut() {
                                e.btch = Some(BtchDraft::default());
                            }
                        }
                        "TxDtls" => {
                            tx_count += 1;
                            if tx_count > limits.rows_max {
                                return Err(limits.rows_exceeded(file, tx_count));
                            }
                            if let Some(e) = entry.as_mut() {
                                e.txs.push(TxDraft::default());
                            }
                        }
                        _ => {}
                    }
                }
                XmlEvent::End { text } => {
                    let text = text.trim();
                    let Some(e) = entry.as_mut() else {
                        if ends_with(path, &["GrpHdr", "MsgId"]) && path.len() == 4 {
                            msg_id = Some(text.to_owned());
                        }
                        return Ok(());
                    };
                    if ends_with(path, &["Ntfctn", "Ntry"]) {
                        let e = entry.take().expect("inside an entry");
                        return finish_entry(file, &at(), e, &mut rows, &mut totals, &mut checks);
                    }
                    let in_tx = path.iter().any(|f| f.name == "TxDtls");
                    if in_tx {
                        // A `TxDtls` that encloses the entry instead of being inside it opened
                        // no transaction of this entry: the file is not camt.054's shape.
                        let Some(t) = e.txs.last_mut() else {
                            return Err(bad(
                                file,
                                at(),
                                rule::XML_ROOT,
                                "TxDtls outside an Ntfctn/Ntry: not the camt.054 structure",
                            ));
                        };
                        if ends_with(path, &["TxDtls", "Refs", "EndToEndId"]) {
                            t.e2e = Some(text.to_owned());
                        } else if ends_with(path, &["TxDtls", "Refs", "MsgId"]) {
                            t.msg_id = Some(text.to_owned());
                        } else if ends_with(path, &["TxDtls", "Refs", "AcctSvcrRef"]) {
                            t.acct_svcr_ref = Some(text.to_owned());
                        } else if ends_with(path, &["TxDtls", "AmtDtls", "TxAmt", "Amt"]) {
                            t.tx_amt = Some(xml::cny_amount(file, path, text)?);
                        } else if ends_with(path, &["TxDtls", "Amt"])
                            || (ends_with(path, &["TxDtls", "AmtDtls", "InstdAmt", "Amt"])
                                && t.amt.is_none())
                        {
                            t.amt = Some(xml::cny_amount(file, path, text)?);
                        } else if ends_with(path, &["RtrInf", "Rsn", "Cd"]) {
                            t.rsn_cd = Some(text.to_owned());
                        } else if ends_with(path, &["RtrInf", "Rsn", "Prtry"]) {
                            t.rsn_prtry = Some(text.to_owned());
                        } else if ends_with(path, &["RtrInf", "AddtlInf"]) {
                            t.rsn_text.push(text.to_owned());
                        } else if ends_with(path, &["TxDtls", "RtrInf"]) {
                            t.rtr = true;
                        }
                        return Ok(());
                    }
                    if let Some(b) = e.btch.as_mut() {
                        if ends_with(path, &["Btch", "MsgId"]) {
                            b.msg_id = Some(text.to_owned());
                        } else if ends_with(path, &["Btch", "NbOfTxs"]) {
                            b.nb = Some(text.parse().map_err(|_| {
                                bad(file, at(), rule::RECORD_LAYOUT, "NbOfTxs is not a number")
                            })?);
                        } else if ends_with(path, &["Btch", "TtlAmt"]) {
                            b.ttl = Some(xml::cny_amount(file, path, text)?);
                        }
                    }
                    if ends_with(path, &["Ntry", "NtryDtls"]) {
                        let b = e.btch.take().unwrap_or_default();
                        let range = (e.dtls_start, e.txs.len());
                        e.batches.push((b, range.0, range.1));
                    } else if ends_with(path, &["Ntry", "Amt"]) {
                        e.amount = Some(xml::cny_amount(file, path, text)?);
                    } else if ends_with(path, &["Ntry", "CdtDbtInd"]) {
                        e.credit = Some(match text {
                            "CRDT" => true,
                            "DBIT" => false,
                            _ => {
                                return Err(bad(
                                    file,
                                    at(),
                                    rule::STATUS_CODE,
                                    format!("CdtDbtInd {text:?}"),
                                ));
                            }
                        });
                    } else if ends_with(path, &["Ntry", "RvslInd"]) {
                        e.reversal = text == "true" || text == "1";
                    } else if (ends_with(path, &["Ntry", "Sts"]) && !text.is_empty())
                        || ends_with(path, &["Ntry", "Sts", "Cd"])
                    {
                        e.sts = Some(text.to_owned());
                    } else if ends_with(path, &["Ntry", "ValDt", "Dt"]) {
                        e.value_date = Some(common::parse_iso_date(text).ok_or_else(|| {
                            bad(file, at(), rule::DATE_FORMAT, format!("{text:?}"))
                        })?);
                    } else if ends_with(path, &["Ntry", "ValDt", "DtTm"]) {
                        e.value_date =
                            Some(text.get(..10).and_then(common::parse_iso_date).ok_or_else(
                                || bad(file, at(), rule::DATE_FORMAT, format!("{text:?}")),
                            )?);
                    } else if ends_with(path, &["Ntry", "AcctSvcrRef"]) {
                        e.acct_svcr_ref = Some(text.to_owned());
                    }
                }
            }
            Ok(())
        })?;
    if !ns.starts_with("urn:iso:std:iso:20022:tech:xsd:camt.054.") {
        return Err(bad(
            file,
            "Document".into(),
            rule::XML_ROOT,
            format!("namespace {ns:?} is not camt.054"),
        ));
    }
    let file_id = msg_id.ok_or_else(|| {
        bad(
            file,
            "GrpHdr".into(),
            rule::REQUIRED_ELEMENT,
            "GrpHdr/MsgId is missing",
        )
    })?;
    let original_file_id = rows.iter().find_map(|r: &Receipt| r.batch_id.clone());
    Ok(ReceiptFile {
        file_id,
        original_file_id,
        group_status: None,
        rows,
        totals,
        payment_infos: Vec::new(),
        unidentified: Vec::new(),
        amount_checks: checks,
        notes: Vec::new(),
    })
}

/// One entry to render (the bank's side; used by the simulator).
#[derive(Debug, Clone)]
pub struct NotifEntry<'a> {
    /// true: a credit returning money (rows carry `RtrInf`); false: the batch debit.
    pub is_return: bool,
    pub booked: bool,
    pub value_date: Date,
    pub bank_reference: String,
    pub original_msg_id: &'a str,
    pub rows: Vec<&'a Receipt>,
    /// Leave the rows' amounts out of `TxDtls` (only the entry's `Amt` and the batch's
    /// `TtlAmt` say how much), as some banks do.
    pub omit_tx_amounts: bool,
    /// The entry's `Amt` (and `TtlAmt`) if not the rows' sum: a bank whose entry disagrees.
    pub declared_amount: Option<Money>,
}

pub fn encode(
    msg_id: &str,
    created_at: &str,
    account: &str,
    entries: &[NotifEntry<'_>],
) -> Vec<u8> {
    let mut w = XmlWriter::new(1000 + entries.iter().map(|e| e.rows.len()).sum::<usize>() * 800);
    w.open_attr("Document", Some(("xmlns", NAMESPACE)));
    w.open("BkToCstmrDbtCdtNtfctn");
    w.open("GrpHdr");
    w.leaf("MsgId", msg_id);
    w.leaf("CreDtTm", created_at);
    w.close("GrpHdr");
    w.open("Ntfctn");
    w.leaf("Id", msg_id);
    w.leaf("CreDtTm", created_at);
    w.open("Acct");
    w.open("Id");
    w.open("Othr");
    w.leaf("Id", account);
    w.close("Othr");
    w.close("Id");
    w.close("Acct");
    for e in entries {
        let sum: Money =
            (e.declared_amount).unwrap_or_else(|| e.rows.iter().filter_map(|r| r.amount).sum());
        w.open("Ntry");
        w.leaf_attr("Amt", Some(("Ccy", "CNY")), &sum.to_yuan_string());
        w.leaf("CdtDbtInd", if e.is_return { "CRDT" } else { "DBIT" });
        w.leaf("Sts", if e.booked { "BOOK" } else { "PDNG" });
        w.open("ValDt");
        w.leaf("Dt", &iso_date(e.value_date));
        w.close("ValDt");
        w.leaf("AcctSvcrRef", &e.bank_reference);
        w.open("BkTxCd");
        w.open("Domn");
        w.leaf("Cd", "PMNT");
        w.open("Fmly");
        w.leaf("Cd", "ICDT");
        w.leaf("SubFmlyCd", if e.is_return { "RRTN" } else { "DMCT" });
        w.close("Fmly");
        w.close("Domn");
        w.close("BkTxCd");
        w.open("NtryDtls");
        if !e.is_return {
            w.open("Btch");
            w.leaf("MsgId", e.original_msg_id);
            w.leaf("PmtInfId", e.original_msg_id);
            w.leaf("NbOfTxs", &e.rows.len().to_string());
            w.leaf_attr("TtlAmt", Some(("Ccy", "CNY")), &sum.to_yuan_string());
            w.close("Btch");
        }
        for r in &e.rows {
            w.open("TxDtls");
            w.open("Refs");
            w.leaf("MsgId", e.original_msg_id);
            if let Some(b) = &r.bank_reference {
                w.leaf("AcctSvcrRef", b);
            }
            w.leaf("EndToEndId", &r.payment_id);
            w.close("Refs");
            if let Some(a) = r.amount.filter(|_| !e.omit_tx_amounts) {
                w.open("AmtDtls");
                w.open("TxAmt");
                w.leaf_attr("Amt", Some(("Ccy", "CNY")), &a.to_yuan_string());
                w.close("TxAmt");
                w.close("AmtDtls");
            }
            if e.is_return {
                w.open("RtrInf");
                if let Some(reason) = &r.reason {
                    if let Some(cd) = &reason.iso_code {
                        w.open("Rsn");
                        w.leaf("Cd", cd);
                        w.close("Rsn");
                    } else if let Some(p) = &reason.bank_code {
                        w.open("Rsn");
                        w.leaf("Prtry", p);
                        w.close("Rsn");
                    }
                    if !reason.text.is_empty() {
                        w.leaf("AddtlInf", &reason.text);
                    }
                }
                w.close("RtrInf");
            }
            w.close("TxDtls");
        }
        w.close("NtryDtls");
        w.close("Ntry");
    }
    w.close("Ntfctn");
    w.close("BkToCstmrDbtCdtNtfctn");
    w.close("Document");
    w.finish()
}
