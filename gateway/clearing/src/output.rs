//! A statement as CSV, and as the pages of the national 3260 (提取异地清分明细) a treatment
//! institution reads its lines with (`reference/legacy-and-cross-region.md` §4.1): at most
//! [`PAGE_ROWS_MAX`] rows per call, from `startrow`.

use medsettle_canonical::{Admdvs, CHINA_OFFSET, Fault, Money};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{ClearingError, PAGE_RULE, Result};
use crate::statement::{Statement, StatementLine};

/// Rows per 3260 page, at most ("at most 100 rows per call").
pub const PAGE_ROWS_MAX: u32 = 100;

/// The CSV columns, named like the 3260 output where it has the field.
pub const CSV_HEADER: [&str; 12] = [
    "seqno",
    "mdtrtarea",
    "medins_no",
    "mdtrt_id",
    "setl_sn",
    "setl_time",
    "fulamt_advpay_flag",
    "medfee_sumamt",
    "optins_pay_sumamt",
    "aaa113",
    "carried_from",
    "status",
];

/// One row in the 3260 output shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row3260 {
    pub seqno: u32,
    /// The place of treatment (就医地).
    pub mdtrtarea: Admdvs,
    pub medins_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certno: Option<String>,
    pub mdtrt_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub mdtrt_setl_time: OffsetDateTime,
    /// The settlement id (`setl_id`).
    pub setl_sn: String,
    pub fulamt_advpay_flag: bool,
    pub medfee_sumamt: Money,
    pub optins_pay_sumamt: Money,
}

/// One page of one institution's lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub stmt_id: String,
    pub medins_no: String,
    /// 1-based position of the first row among the institution's lines.
    pub startrow: u32,
    pub rows: Vec<Row3260>,
    /// The institution's lines in the statement.
    pub total_rows: u32,
    /// More rows after this page: ask again from `startrow + rows.len()`.
    pub has_more: bool,
}

impl Statement {
    /// The statement as CSV: a header, one row per line, and a `total` row summing
    /// `medfee_sumamt`, `optins_pay_sumamt` and `aaa113` (its status is the statement's:
    /// `pending` or `replied`). Amounts in yuan with two decimals, times in China time.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        push_record(&mut out, CSV_HEADER.iter().map(|h| (*h).to_owned()));
        for l in &self.lines {
            push_record(&mut out, line_record(l));
        }
        let status = if self.is_replied() {
            "replied"
        } else {
            "pending"
        };
        let mut total = vec![String::new(); CSV_HEADER.len()];
        total[0] = "total".into();
        total[7] = self.medfee_sumamt.to_string();
        total[8] = self.fund_pay_sumamt.to_string();
        total[9] = self.count.to_string();
        total[11] = status.into();
        push_record(&mut out, total);
        out
    }

    /// The lines of `medins_no`, in `seqno` order, from the 1-based `startrow`, at most
    /// `max_rows` (capped at [`PAGE_ROWS_MAX`]). A `startrow` past the end gives an empty last
    /// page; `startrow` 0 or `max_rows` 0 is refused.
    pub fn page_for_institution(
        &self,
        medins_no: &str,
        startrow: u32,
        max_rows: u32,
    ) -> Result<Page> {
        if startrow == 0 || max_rows == 0 {
            return Err(ClearingError::rule_err(
                PAGE_RULE,
                Fault::Sender,
                format!(
                    "startrow {startrow}, max_rows {max_rows}: startrow is 1-based and a page has at least one row"
                ),
            ));
        }
        let mine: Vec<&StatementLine> = self
            .lines
            .iter()
            .filter(|l| l.row.medins_no == medins_no)
            .collect();
        let total_rows = u32::try_from(mine.len()).expect("lines are numbered in u32");
        let skip = usize::try_from(startrow - 1).expect("u32 fits usize");
        let take = usize::try_from(max_rows.min(PAGE_ROWS_MAX)).expect("u32 fits usize");
        let rows: Vec<Row3260> = mine
            .iter()
            .skip(skip)
            .take(take)
            .map(|l| row_3260(l))
            .collect();
        Ok(Page {
            stmt_id: self.stmt_id.clone(),
            medins_no: medins_no.to_owned(),
            startrow,
            has_more: skip.saturating_add(rows.len()) < mine.len(),
            rows,
            total_rows,
        })
    }
}

fn row_3260(l: &StatementLine) -> Row3260 {
    Row3260 {
        seqno: l.seqno,
        mdtrtarea: l.row.mdtrtarea_admvs,
        medins_no: l.row.medins_no.clone(),
        certno: l.row.certno.clone(),
        mdtrt_id: l.row.mdtrt_id.clone(),
        mdtrt_setl_time: l.row.setl_time,
        setl_sn: l.row.setl_id.clone(),
        fulamt_advpay_flag: l.row.fulamt_advpay_flag,
        medfee_sumamt: l.row.medfee_sumamt,
        optins_pay_sumamt: l.row.fund_pay_sumamt,
    }
}

fn line_record(l: &StatementLine) -> Vec<String> {
    let t = l.row.setl_time.to_offset(CHINA_OFFSET);
    vec![
        l.seqno.to_string(),
        l.row.mdtrtarea_admvs.to_string(),
        l.row.medins_no.clone(),
        l.row.mdtrt_id.clone(),
        l.row.setl_id.clone(),
        format!(
            "{} {:02}:{:02}:{:02}",
            medsettle_settlement::calendar::iso_date(t.date()),
            t.hour(),
            t.minute(),
            t.second()
        ),
        if l.row.fulamt_advpay_flag { "1" } else { "0" }.to_owned(),
        l.row.medfee_sumamt.to_string(),
        l.row.fund_pay_sumamt.to_string(),
        l.row.aaa113.to_string(),
        l.carried_from.map(|m| m.to_string()).unwrap_or_default(),
        l.status.as_str().to_owned(),
    ]
}

/// One CSV record (RFC 4180): a field with a comma, a quote or a line break is quoted.
fn push_record(out: &mut String, fields: impl IntoIterator<Item = String>) {
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if f.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&f);
        }
    }
    out.push('\n');
}
