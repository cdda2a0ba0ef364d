//! pain.002.001.03 (CustomerPaymentStatusReportV03): decoder, plus the encoder the bank
//! simulator uses.
//!
//! Status mapping (bank-files.md §1.2): ACSC → paid; RJCT → failed; PDNG → pending;
//! RCVD/ACTC/ACCP/ACSP/ACWC → accepted. A transaction without `TxSts` inherits its
//! `PmtInfSts`, then the group's `GrpSts` (and that level's reason), as ISO specifies. A
//! group-only report (e.g. whole file `RJCT` for a wrong control sum) yields no rows and a
//! [`GroupStatus`].
//!
//! What a bank sends besides the plain "one row per transaction" report, and how it reads:
//! * a `PmtInfSts` without `TxInfAndSts` rows: a [`PaymentInfoStatus`] with `rows == 0`
//!   (the reader applies a `RJCT` to every payment of that payment information);
//! * an exception-style report (group totals and `NbOfTxsPerSts` count every transaction,
//!   the rows list only some statuses, typically the rejected ones): a bucket of which no row
//!   is listed is a summary and is not checked against rows; a bucket with rows must match;
//! * a row without `OrgnlEndToEndId`: kept with an empty payment id and a [`RowIdentity`]
//!   (`OrgnlInstrId`, `OrgnlTxRef` creditor) for the reader to match;
//! * rejections echoing `0.00` or another amount: the amount check protects "paid", not
//!   "failed", so neither the `RJCT` bucket's `DtldCtrlSum` nor the `OrgnlCtrlSum` of a report
//!   with rejections refuses the file; the disagreement is kept in [`ReceiptFile::notes`].

use std::collections::BTreeMap;

use medsettle_canonical::{Money, Receipt, ReceiptReason};
use time::Date;

use crate::common::{self, iso_date};
use crate::error::{BankError, rule};
use crate::receipts::{
    DecodeLimits, GroupStatus, PaymentInfoStatus, ReceiptFile, RowIdentity, Totals, iso_status,
};
use crate::xml::{self, Frame, XmlEvent, XmlWriter, bad, ends_with};

pub const NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03";

#[derive(Default, Clone)]
struct ReasonDraft {
    cd: Option<String>,
    prtry: Option<String>,
    text: Vec<String>,
}

impl ReasonDraft {
    fn take(&mut self, path: &[Frame], text: &str) -> bool {
        if ends_with(path, &["StsRsnInf", "Rsn", "Cd"]) {
            self.cd.get_or_insert_with(|| text.to_owned());
        } else if ends_with(path, &["StsRsnInf", "Rsn", "Prtry"]) {
            self.prtry.get_or_insert_with(|| text.to_owned());
        } else if ends_with(path, &["StsRsnInf", "AddtlInf"]) {
            self.text.push(text.to_owned());
        } else {
            return false;
        }
        true
    }

    fn build(&self) -> Option<ReceiptReason> {
        if self.cd.is_none() && self.prtry.is_none() && self.text.is_empty() {
            return None;
        }
        Some(ReceiptReason {
            iso_code: self.cd.clone(),
            bank_code: self.prtry.clone(),
            text: self.text.join(" "),
        })
    }
}

#[derive(Default)]
struct Bucket {
    nb: Option<u64>,
    sts: Option<String>,
    sum: Option<Money>,
    at: String,
}

#[derive(Default)]
struct Tx {
    e2e: Option<String>,
    instr_id: Option<String>,
    cdtr_acct: Option<String>,
    cdtr_nm: Option<String>,
    sts: Option<String>,
    reason: ReasonDraft,
    acct_svcr_ref: Option<String>,
    clr_sys_ref: Option<String>,
    amount: Option<Money>,
    value_date: Option<Date>,
}

#[derive(Default)]
struct PmtInfDraft {
    id: Option<String>,
    nb: Option<u64>,
    sum: Option<Money>,
    sts: Option<String>,
    reason: ReasonDraft,
    buckets: Vec<Bucket>,
    first_row: usize,
}

struct Row {
    receipt: Receipt,
    code: String,
    at: String,
    /// Set when the row has no `OrgnlEndToEndId`.
    identity: Option<RowIdentity>,
}

/// Check `NbOfTxsPerSts` buckets against the rows they summarise. A bucket none of whose
/// status is listed is an exception-style summary (rows list only the rejections): nothing to
/// check. A `RJCT` bucket's sum is not checked but noted: rejected rows often echo `0.00`.
fn check_buckets(
    file: &str,
    buckets: &[Bucket],
    rows: &[Row],
    notes: &mut Vec<String>,
) -> Result<(), BankError> {
    if rows.is_empty() {
        return Ok(()); // a group-only report carries no detail to check against
    }
    for b in buckets {
        let Some(sts) = &b.sts else { continue };
        let mine: Vec<&Row> = rows.iter().filter(|r| &r.code == sts).collect();
        if mine.is_empty() {
            continue; // summarised, not listed (exception-style report)
        }
        if let Some(nb) = b.nb
            && nb != mine.len() as u64
        {
            return Err(BankError::TotalsMismatch {
                file: file.to_owned(),
                location: b.at.clone(),
                what: "DtldNbOfTxs",
                declared: format!("{nb} {sts}"),
                actual: format!("{} {sts}", mine.len()),
            });
        }
        if let Some(sum) = b.sum
            && mine.iter().all(|r| r.receipt.amount.is_some())
        {
            let actual: Money = mine.iter().filter_map(|r| r.receipt.amount).sum();
            if actual != sum && sts == "RJCT" {
                notes.push(format!(
                    "{}: DtldCtrlSum {sum} of RJCT, rejected rows echo {actual}",
                    b.at
                ));
            } else if actual != sum {
                return Err(BankError::TotalsMismatch {
                    file: file.to_owned(),
                    location: b.at.clone(),
                    what: "DtldCtrlSum",
                    declared: sum.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
    }
    Ok(())
}

pub fn decode(file: &str, bytes: &[u8], limits: &DecodeLimits) -> Result<ReceiptFile, BankError> {
    let mut msg_id = None;
    let mut orgnl_msg_id: Option<String> = None;
    let mut orgnl_nb: Option<u64> = None;
    let mut orgnl_sum: Option<Money> = None;
    let mut grp_sts: Option<String> = None;
    let mut grp_reason = ReasonDraft::default();
    let mut grp_buckets: Vec<Bucket> = Vec::new();
    let mut pmt: Option<PmtInfDraft> = None;
    let mut tx: Option<Tx> = None;
    let mut bucket: Option<Bucket> = None;
    let mut rows: Vec<Row> = Vec::new();
    let mut payment_infos: Vec<PaymentInfoStatus> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let ns = xml::walk(file, bytes, limits, |path, ev| {
        let at = || xml::path_string(path);
        match ev {
            XmlEvent::Start => {
                if path.len() == 1 && path[0].name != "Document" {
                    return Err(bad(file, at(), rule::XML_ROOT, "root must be Document"));
                }
                if path.len() == 2 && path[1].name != "CstmrPmtStsRpt" {
                    return Err(bad(file, at(), rule::XML_ROOT, "expected CstmrPmtStsRpt"));
                }
                let last = path.last().map(|f| f.name.as_str()).unwrap_or("");
                match last {
                    "OrgnlPmtInfAndSts" if path.len() == 3 => {
                        pmt = Some(PmtInfDraft {
                            first_row: rows.len(),
                            ..Default::default()
                        })
                    }
                    "TxInfAndSts" => {
                        if rows.len() >= limits.rows_max {
                            return Err(limits.rows_exceeded(file, rows.len() + 1));
                        }
                        tx = Some(Tx::default());
                    }
                    "NbOfTxsPerSts" => {
                        bucket = Some(Bucket {
                            at: format!("{}[{}]", at(), rows.len()),
                            ..Default::default()
                        })
                    }
                    _ => {}
                }
            }
            XmlEvent::End { text } => {
                let text = text.trim();
                let last = path.last().map(|f| f.name.as_str()).unwrap_or("");
                if let Some(t) = tx.as_mut() {
                    if last == "TxInfAndSts" {
                        let t = tx.take().expect("inside a transaction");
                        let p = pmt.as_ref();
                        let (code, reason) =
                            match (&t.sts, p.and_then(|p| p.sts.as_ref()), &grp_sts) {
                                (Some(c), _, _) => (c.clone(), t.reason.build()),
                                (None, Some(c), _) => (
                                    c.clone(),
                                    t.reason
                                        .build()
                                        .or_else(|| p.and_then(|p| p.reason.build())),
                                ),
                                (None, None, Some(c)) => {
                                    (c.clone(), t.reason.build().or_else(|| grp_reason.build()))
                                }
                                _ => {
                                    return Err(bad(
                                        file,
                                        at(),
                                        rule::REQUIRED_ELEMENT,
                                        "no TxSts, PmtInfSts or GrpSts applies",
                                    ));
                                }
                            };
                        let status = iso_status(&code).ok_or_else(|| {
                            bad(
                                file,
                                at(),
                                rule::STATUS_CODE,
                                format!("status {code:?} is not a transaction status"),
                            )
                        })?;
                        // No OrgnlEndToEndId: kept, to be matched by the reader on the
                        // keys the row does carry (never a reason to refuse the file).
                        let (payment_id, identity) = match t.e2e.filter(|e| !e.is_empty()) {
                            Some(id) => (id, None),
                            None => (
                                String::new(),
                                Some(RowIdentity {
                                    row: rows.len(),
                                    instr_id: t.instr_id.filter(|v| !v.is_empty()),
                                    pmt_inf_id: p.and_then(|p| p.id.clone()),
                                    creditor_account: t.cdtr_acct,
                                    creditor_name: t.cdtr_nm,
                                }),
                            ),
                        };
                        rows.push(Row {
                            identity,
                            receipt: Receipt {
                                payment_id,
                                batch_id: orgnl_msg_id.clone(),
                                status,
                                amount: t.amount,
                                bank_reference: t.acct_svcr_ref.or(t.clr_sys_ref),
                                value_date: t.value_date,
                                reason,
                            },
                            code,
                            at: at(),
                        });
                    } else if t.reason.take(path, text) {
                    } else if ends_with(path, &["TxInfAndSts", "OrgnlEndToEndId"]) {
                        t.e2e = Some(text.to_owned());
                    } else if ends_with(path, &["TxInfAndSts", "OrgnlInstrId"]) {
                        t.instr_id = Some(text.to_owned());
                    } else if ends_with(path, &["OrgnlTxRef", "Cdtr", "Nm"]) {
                        t.cdtr_nm = Some(text.to_owned());
                    } else if ends_with(path, &["OrgnlTxRef", "CdtrAcct", "Id", "Othr", "Id"])
                        || ends_with(path, &["OrgnlTxRef", "CdtrAcct", "Id", "IBAN"])
                    {
                        t.cdtr_acct = Some(text.to_owned());
                    } else if ends_with(path, &["TxInfAndSts", "TxSts"]) {
                        t.sts = Some(text.to_owned());
                    } else if ends_with(path, &["TxInfAndSts", "AcctSvcrRef"]) {
                        t.acct_svcr_ref = Some(text.to_owned());
                    } else if ends_with(path, &["TxInfAndSts", "ClrSysRef"]) {
                        t.clr_sys_ref = Some(text.to_owned());
                    } else if ends_with(path, &["OrgnlTxRef", "Amt", "InstdAmt"]) {
                        t.amount = Some(xml::cny_amount(file, path, text)?);
                    } else if ends_with(path, &["OrgnlTxRef", "IntrBkSttlmDt"]) {
                        t.value_date = Some(common::parse_iso_date(text).ok_or_else(|| {
                            bad(
                                file,
                                at(),
                                rule::DATE_FORMAT,
                                format!("{text:?} is not yyyy-MM-dd"),
                            )
                        })?);
                    }
                    return Ok(());
                }
                if let Some(b) = bucket.as_mut() {
                    match last {
                        "DtldNbOfTxs" => {
                            b.nb = Some(text.parse().map_err(|_| {
                                bad(
                                    file,
                                    at(),
                                    rule::RECORD_LAYOUT,
                                    "DtldNbOfTxs is not a number",
                                )
                            })?)
                        }
                        "DtldSts" => b.sts = Some(text.to_owned()),
                        "DtldCtrlSum" => b.sum = Some(xml::cny_amount(file, path, text)?),
                        "NbOfTxsPerSts" => {
                            let b = bucket.take().expect("inside a bucket");
                            match pmt.as_mut() {
                                Some(p) => p.buckets.push(b),
                                None => grp_buckets.push(b),
                            }
                        }
                        _ => {}
                    }
                    return Ok(());
                }
                if let Some(p) = pmt.as_mut() {
                    if last == "OrgnlPmtInfAndSts" && path.len() == 3 {
                        let p = pmt.take().expect("inside a PmtInf");
                        check_buckets(file, &p.buckets, &rows[p.first_row..], &mut notes)?;
                        let id = p.id.clone().ok_or_else(|| {
                            bad(
                                file,
                                at(),
                                rule::REQUIRED_ELEMENT,
                                "OrgnlPmtInfId is missing",
                            )
                        })?;
                        if let Some(code) = &p.sts
                            && code != "PART"
                            && iso_status(code).is_none()
                        {
                            return Err(bad(
                                file,
                                at(),
                                rule::STATUS_CODE,
                                format!("unknown payment information status {code:?}"),
                            ));
                        }
                        payment_infos.push(PaymentInfoStatus {
                            pmt_inf_id: id,
                            code: p.sts.clone(),
                            reason: p.reason.build().or_else(|| grp_reason.build()),
                            rows: (rows.len() - p.first_row) as u64,
                            declared_count: p.nb,
                            declared_sum: p.sum,
                        });
                    } else if ends_with(path, &["OrgnlPmtInfAndSts", "PmtInfSts"]) {
                        p.sts = Some(text.to_owned());
                    } else if ends_with(path, &["OrgnlPmtInfAndSts", "OrgnlPmtInfId"]) {
                        p.id = Some(text.to_owned());
                    } else if ends_with(path, &["OrgnlPmtInfAndSts", "OrgnlNbOfTxs"]) {
                        p.nb = Some(text.parse().map_err(|_| {
                            bad(
                                file,
                                at(),
                                rule::RECORD_LAYOUT,
                                "OrgnlNbOfTxs is not a number",
                            )
                        })?);
                    } else if ends_with(path, &["OrgnlPmtInfAndSts", "OrgnlCtrlSum"]) {
                        p.sum = Some(xml::cny_amount(file, path, text)?);
                    } else {
                        p.reason.take(path, text);
                    }
                    return Ok(());
                }
                if ends_with(path, &["GrpHdr", "MsgId"]) {
                    msg_id = Some(text.to_owned());
                } else if ends_with(path, &["OrgnlGrpInfAndSts", "OrgnlMsgId"]) {
                    orgnl_msg_id = Some(text.to_owned());
                } else if ends_with(path, &["OrgnlGrpInfAndSts", "OrgnlNbOfTxs"]) {
                    orgnl_nb = Some(text.parse().map_err(|_| {
                        bad(
                            file,
                            at(),
                            rule::RECORD_LAYOUT,
                            "OrgnlNbOfTxs is not a number",
                        )
                    })?);
                } else if ends_with(path, &["OrgnlGrpInfAndSts", "OrgnlCtrlSum"]) {
                    orgnl_sum = Some(xml::cny_amount(file, path, text)?);
                } else if ends_with(path, &["OrgnlGrpInfAndSts", "GrpSts"]) {
                    grp_sts = Some(text.to_owned());
                } else {
                    grp_reason.take(path, text);
                }
            }
        }
        Ok(())
    })?;
    if !ns.starts_with("urn:iso:std:iso:20022:tech:xsd:pain.002.") {
        return Err(bad(
            file,
            "Document".into(),
            rule::XML_ROOT,
            format!("namespace {ns:?} is not pain.002"),
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
    if orgnl_msg_id.is_none() {
        return Err(bad(
            file,
            "OrgnlGrpInfAndSts".into(),
            rule::REQUIRED_ELEMENT,
            "OrgnlMsgId is missing",
        ));
    }
    if let Some(code) = &grp_sts
        && code != "PART"
        && iso_status(code).is_none()
    {
        return Err(bad(
            file,
            "OrgnlGrpInfAndSts/GrpSts".into(),
            rule::STATUS_CODE,
            format!("unknown group status {code:?}"),
        ));
    }
    check_buckets(file, &grp_buckets, &rows, &mut notes)?;
    let mut seen = std::collections::HashSet::with_capacity(rows.len());
    for r in &rows {
        if !r.receipt.payment_id.is_empty() && !seen.insert(r.receipt.payment_id.as_str()) {
            return Err(bad(
                file,
                r.at.clone(),
                rule::ID_UNIQUE,
                format!(
                    "payment {} has two statuses in one report",
                    r.receipt.payment_id
                ),
            ));
        }
    }
    let row_sum: Money = rows.iter().filter_map(|r| r.receipt.amount).sum();
    if let Some(nb) = orgnl_nb {
        let n = rows.len() as u64;
        if n > nb {
            return Err(BankError::TotalsMismatch {
                file: file.to_owned(),
                location: "OrgnlGrpInfAndSts/OrgnlNbOfTxs".into(),
                what: "transaction count",
                declared: nb.to_string(),
                actual: n.to_string(),
            });
        }
        // A complete report (every transaction, every amount) must also add up, unless it has
        // rejections: their echoed amount (often 0.00) is not the original's; the reader
        // checks every row that says "paid" against its payment, so nothing is lost.
        if let Some(sum) = orgnl_sum
            && n == nb
            && rows.iter().all(|r| r.receipt.amount.is_some())
            && sum != row_sum
        {
            if rows.iter().any(|r| r.code == "RJCT") {
                notes.push(format!(
                    "OrgnlGrpInfAndSts/OrgnlCtrlSum {sum}, rows (rejections echoing other \
                     amounts) add up to {row_sum}"
                ));
            } else {
                return Err(BankError::TotalsMismatch {
                    file: file.to_owned(),
                    location: "OrgnlGrpInfAndSts/OrgnlCtrlSum".into(),
                    what: "control sum",
                    declared: sum.to_string(),
                    actual: row_sum.to_string(),
                });
            }
        }
    }
    let group_status = grp_sts.map(|code| GroupStatus {
        code,
        reason: grp_reason.build(),
    });
    Ok(ReceiptFile {
        file_id,
        original_file_id: orgnl_msg_id,
        group_status,
        totals: Totals {
            declared_count: orgnl_nb,
            declared_sum: orgnl_sum,
            row_count: rows.len() as u64,
            row_sum,
            skipped_entries: 0,
        },
        unidentified: rows.iter().filter_map(|r| r.identity.clone()).collect(),
        rows: rows.into_iter().map(|r| r.receipt).collect(),
        payment_infos,
        amount_checks: Vec::new(),
        notes,
    })
}

/// A status report to render (the bank's side; used by the simulator).
#[derive(Debug, Clone)]
pub struct Report<'a> {
    pub msg_id: &'a str,
    pub created_at: &'a str,
    pub original_msg_id: &'a str,
    pub original_count: u64,
    pub original_sum: Money,
    /// Group status (`PART`, `ACSC`, `RJCT` …) and, for a whole-file rejection, its reason.
    pub group_status: &'a str,
    pub group_reason: Option<&'a ReceiptReason>,
    /// Rows with their ISO status code.
    pub rows: Vec<(&'a Receipt, &'static str)>,
    /// The payment information's own status (`PmtInfSts`) and reason; with no rows the
    /// `OrgnlPmtInfAndSts` block is written all the same (a payment-information-level status).
    pub payment_info_status: Option<(&'a str, Option<&'a ReceiptReason>)>,
    /// Extra `NbOfTxsPerSts` buckets (status, count, sum) for transactions not listed as rows:
    /// an exception-style report.
    pub summarised: Vec<(&'static str, u64, Money)>,
    /// How a row is identified when not by `OrgnlEndToEndId` (payment id → key); rows not in
    /// the map carry their `OrgnlEndToEndId`.
    pub row_ids: BTreeMap<String, RowId>,
}

/// How the bank names a transaction in a row that has no `OrgnlEndToEndId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowId {
    /// `OrgnlInstrId` carrying the payment id (a bank echoing EndToEndId as instruction id).
    InstrId,
    /// Only the original transaction reference: `OrgnlTxRef` with the amount and creditor.
    TxRef { account: String, name: String },
}

impl<'a> Report<'a> {
    /// A plain report: one row per transaction, no payment-information status.
    pub fn new(
        msg_id: &'a str,
        created_at: &'a str,
        original_msg_id: &'a str,
        original_count: u64,
        original_sum: Money,
        group_status: &'a str,
        rows: Vec<(&'a Receipt, &'static str)>,
    ) -> Report<'a> {
        Report {
            msg_id,
            created_at,
            original_msg_id,
            original_count,
            original_sum,
            group_status,
            group_reason: None,
            rows,
            payment_info_status: None,
            summarised: Vec::new(),
            row_ids: BTreeMap::new(),
        }
    }
}

fn reason_xml(w: &mut XmlWriter, r: &ReceiptReason) {
    // ISO `Rsn` is Cd *or* Prtry: the ISO code and the bank's own code travel as two
    // StsRsnInf blocks, the text as AddtlInf (Max105Text each).
    if let Some(cd) = &r.iso_code {
        w.open("StsRsnInf");
        w.open("Rsn");
        w.leaf("Cd", cd);
        w.close("Rsn");
        w.close("StsRsnInf");
    }
    if r.bank_code.is_some() || !r.text.is_empty() {
        w.open("StsRsnInf");
        if let Some(p) = &r.bank_code {
            w.open("Rsn");
            w.leaf("Prtry", p);
            w.close("Rsn");
        }
        if !r.text.is_empty() {
            w.leaf("AddtlInf", &r.text);
        }
        w.close("StsRsnInf");
    }
}

pub fn encode(rep: &Report<'_>) -> Vec<u8> {
    let mut w = XmlWriter::new(1000 + rep.rows.len() * 700);
    w.open_attr("Document", Some(("xmlns", NAMESPACE)));
    w.open("CstmrPmtStsRpt");
    w.open("GrpHdr");
    w.leaf("MsgId", rep.msg_id);
    w.leaf("CreDtTm", rep.created_at);
    w.close("GrpHdr");
    w.open("OrgnlGrpInfAndSts");
    w.leaf("OrgnlMsgId", rep.original_msg_id);
    w.leaf("OrgnlMsgNmId", "pain.001.001.03");
    w.leaf("OrgnlNbOfTxs", &rep.original_count.to_string());
    w.leaf("OrgnlCtrlSum", &rep.original_sum.to_yuan_string());
    w.leaf("GrpSts", rep.group_status);
    if let Some(r) = rep.group_reason {
        reason_xml(&mut w, r);
    }
    let mut codes: Vec<&str> = rep.rows.iter().map(|(_, c)| *c).collect();
    codes.extend(rep.summarised.iter().map(|(c, _, _)| *c));
    codes.sort();
    codes.dedup();
    for code in codes {
        let mine = rep.rows.iter().filter(|(_, c)| *c == code);
        let extra = rep.summarised.iter().filter(|(c, _, _)| *c == code);
        let n = mine.clone().count() as u64 + extra.clone().map(|(_, n, _)| n).sum::<u64>();
        let sum: Money = mine.filter_map(|(r, _)| r.amount).sum::<Money>()
            + extra.map(|(_, _, s)| *s).sum::<Money>();
        w.open("NbOfTxsPerSts");
        w.leaf("DtldNbOfTxs", &n.to_string());
        w.leaf("DtldSts", code);
        w.leaf("DtldCtrlSum", &sum.to_yuan_string());
        w.close("NbOfTxsPerSts");
    }
    w.close("OrgnlGrpInfAndSts");
    if !rep.rows.is_empty() || rep.payment_info_status.is_some() {
        w.open("OrgnlPmtInfAndSts");
        w.leaf("OrgnlPmtInfId", rep.original_msg_id);
        if let Some((code, reason)) = rep.payment_info_status {
            w.leaf("OrgnlNbOfTxs", &rep.original_count.to_string());
            w.leaf("OrgnlCtrlSum", &rep.original_sum.to_yuan_string());
            w.leaf("PmtInfSts", code);
            if let Some(r) = reason {
                reason_xml(&mut w, r);
            }
        }
        for (r, code) in &rep.rows {
            let id = rep.row_ids.get(&r.payment_id);
            w.open("TxInfAndSts");
            match id {
                None => w.leaf("OrgnlEndToEndId", &r.payment_id),
                Some(RowId::InstrId) => w.leaf("OrgnlInstrId", &r.payment_id),
                Some(RowId::TxRef { .. }) => {}
            }
            w.leaf("TxSts", code);
            if let Some(reason) = &r.reason {
                reason_xml(&mut w, reason);
            }
            if let Some(b) = &r.bank_reference {
                w.leaf("AcctSvcrRef", b);
            }
            let creditor = match id {
                Some(RowId::TxRef { account, name }) => Some((account, name)),
                _ => None,
            };
            if r.amount.is_some() || r.value_date.is_some() || creditor.is_some() {
                w.open("OrgnlTxRef");
                if let Some(a) = r.amount {
                    w.open("Amt");
                    w.leaf_attr("InstdAmt", Some(("Ccy", "CNY")), &a.to_yuan_string());
                    w.close("Amt");
                }
                if let Some(d) = r.value_date {
                    w.leaf("IntrBkSttlmDt", &iso_date(d));
                }
                if let Some((account, name)) = creditor {
                    w.open("Cdtr");
                    w.leaf("Nm", name);
                    w.close("Cdtr");
                    w.open("CdtrAcct");
                    w.open("Id");
                    w.open("Othr");
                    w.leaf("Id", account);
                    w.close("Othr");
                    w.close("Id");
                    w.close("CdtrAcct");
                }
                w.close("OrgnlTxRef");
            }
            w.close("TxInfAndSts");
        }
        w.close("OrgnlPmtInfAndSts");
    }
    w.close("CstmrPmtStsRpt");
    w.close("Document");
    w.finish()
}
