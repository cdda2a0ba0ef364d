//! Workbooks for finance, rendered by the console on request (`GET /console/xlsx/<name>`,
//! `specs/console.md`, "XLSX for finance"): the per-claim detail (明细) of a closed pay date,
//! any batch of the outbox with its payments and what the bank said, the monthly settlement
//! and the annual clearing (their batches, with the monthly report's rows when it exists).
//! Read through the same functions as `bank status` (the file drop's batch records and
//! payment states) and the reports the closing actions wrote; nothing is computed that those
//! do not say. Totals are summed in integer fen ([`Money`]); an amount enters the sheet as
//! the number its exact decimal text names (the float is the cell's storage only, never
//! added to anything), formatted `0.00`.

/// The workbook name of a month's clearing, as the console serves it and the CLI writes it.
pub use medsettle_console::clearing_workbook_name;
use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use medsettle_canonical::Money;
use medsettle_console::BatchKind;
use medsettle_filedrop::state::{BatchRecord, PaymentState};
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use crate::actions::Operations;

/// The label of the totals row of every workbook.
pub const TOTAL_LABEL: &str = "合计 total";
/// Sheet of the per-claim detail.
pub const DETAIL_SHEET: &str = "明细";
/// Sheet of a batch's payments.
pub const BATCH_SHEET: &str = "支付明细";
/// Sheet of the monthly report's rows.
pub const MONTHLY_SHEET: &str = "月结算单";

fn xl(e: XlsxError) -> anyhow::Error {
    anyhow::anyhow!("writing the XLSX: {e}")
}

fn row_no(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

fn col_no(i: usize) -> u16 {
    u16::try_from(i).unwrap_or(u16::MAX)
}

/// Write an amount: the number its decimal text names (storage only), shown with two
/// decimals; text when it is not a number.
fn write_amount(sheet: &mut Worksheet, row: u32, col: u16, text: &str, f: &Format) -> Result<()> {
    match text.parse::<f64>() {
        Ok(v) => sheet.write_with_format(row, col, v, f).map_err(xl)?,
        Err(_) => sheet.write(row, col, text).map_err(xl)?,
    };
    Ok(())
}

/// A CSV report as a sheet: header labelled, rows as they are, `amount_columns` as numbers;
/// then a totals row summing those columns in fen. Returns the totals by column name.
fn csv_sheet(
    sheet: &mut Worksheet,
    csv_text: &str,
    amount_columns: &[&str],
) -> Result<BTreeMap<String, Money>> {
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("0.00");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(csv_text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<std::result::Result<_, _>>()
        .context("the report CSV")?;
    let Some(header) = rows.first() else {
        return Ok(BTreeMap::new());
    };
    let header: Vec<String> = header.iter().map(str::to_owned).collect();
    let mut totals: BTreeMap<String, Money> = BTreeMap::new();
    for (c, name) in header.iter().enumerate() {
        sheet
            .write_with_format(0, col_no(c), name.as_str(), &bold)
            .map_err(xl)?;
        if amount_columns.contains(&name.as_str()) {
            totals.insert(name.clone(), Money::ZERO);
        }
    }
    for (r, record) in rows.iter().enumerate().skip(1) {
        for (c, field) in record.iter().enumerate() {
            let name = header.get(c).map_or("", String::as_str);
            if let Some(t) = totals.get_mut(name) {
                let m = Money::parse_yuan(field)
                    .map_err(|e| anyhow::anyhow!("{name} `{field}` line {}: {e}", r + 1))?;
                *t += m;
                write_amount(sheet, row_no(r), col_no(c), field, &money)?;
            } else {
                sheet.write(row_no(r), col_no(c), field).map_err(xl)?;
            }
        }
    }
    let total_row = row_no(rows.len());
    sheet
        .write_with_format(total_row, 0, TOTAL_LABEL, &bold)
        .map_err(xl)?;
    for (c, name) in header.iter().enumerate() {
        if let Some(t) = totals.get(name) {
            write_amount(sheet, total_row, col_no(c), &t.to_string(), &money)?;
        }
    }
    Ok(totals)
}

/// The per-claim detail (明细) of a closed pay date as a workbook: the detail CSV's rows
/// with a totals row (fund amount, daily amount), then the pay total over the institutions'
/// lines (each line's pay amount once, by payment id).
pub fn detail_xlsx(detail_csv: &str) -> Result<Vec<u8>> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(DETAIL_SHEET).map_err(xl)?;
    csv_sheet(sheet, detail_csv, &["fund_amount", "daily_amount"])?;
    // The pay total: each institution line's pay amount once.
    let mut reader = csv::Reader::from_reader(detail_csv.as_bytes());
    let headers = reader.headers().context("the detail CSV")?.clone();
    let col = |n: &str| headers.iter().position(|h| h == n);
    let (Some(pid), Some(pay)) = (col("payment_id"), col("line_pay_amount")) else {
        anyhow::bail!("the detail CSV has no payment_id / line_pay_amount column");
    };
    let mut seen = BTreeSet::new();
    let mut pay_total = Money::ZERO;
    let mut rows = 0usize;
    for record in reader.records() {
        let record = record.context("the detail CSV")?;
        rows += 1;
        let id = record.get(pid).unwrap_or("");
        if !id.is_empty() && seen.insert(id.to_owned()) {
            pay_total += Money::parse_yuan(record.get(pay).unwrap_or(""))
                .map_err(|e| anyhow::anyhow!("line_pay_amount: {e}"))?;
        }
    }
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("0.00");
    let r = row_no(rows + 2);
    sheet
        .write_with_format(r, 0, "支付合计 pay_total", &bold)
        .map_err(xl)?;
    write_amount(sheet, r, 1, &pay_total.to_string(), &money)?;
    sheet
        .write(r, 2, format!("{} payments", seen.len()))
        .map_err(xl)?;
    book.save_to_buffer().map_err(xl)
}

/// A batch's payments and what the bank said, with a totals row (count and amount in fen,
/// which equal the batch's control sum) and the totals by payment status.
fn batch_sheet(
    sheet: &mut Worksheet,
    record: &BatchRecord,
    states: &BTreeMap<String, PaymentState>,
) -> Result<()> {
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("0.00");
    let b = &record.batch;
    sheet
        .write_with_format(0, 0, "批次 batch_id", &bold)
        .map_err(xl)?;
    sheet.write(0, 1, b.batch_id.as_str()).map_err(xl)?;
    sheet
        .write_with_format(0, 2, "支付日 pay_date", &bold)
        .map_err(xl)?;
    sheet.write(0, 3, b.pay_date.to_string()).map_err(xl)?;
    sheet
        .write_with_format(0, 4, "文件 file", &bold)
        .map_err(xl)?;
    sheet.write(0, 5, record.file_name.as_str()).map_err(xl)?;
    let columns = [
        "支付ID payment_id",
        "收款机构 payee_code",
        "用途 purpose",
        "金额 amount",
        "状态 status",
        "银行流水 bank_reference",
        "起息日 value_date",
        "原因 reason",
    ];
    for (c, name) in columns.iter().enumerate() {
        sheet
            .write_with_format(2, col_no(c), *name, &bold)
            .map_err(xl)?;
    }
    let mut total = Money::ZERO;
    let mut by_status: BTreeMap<String, (u64, Money)> = BTreeMap::new();
    for (i, p) in b.payments.iter().enumerate() {
        let r = row_no(i + 3);
        let state = states.get(&p.payment_id);
        let status = state.map_or("-".to_owned(), |s| s.status.as_str().to_owned());
        let receipt = state.and_then(|s| s.receipt.as_ref());
        total += p.amount;
        let e = by_status.entry(status.clone()).or_insert((0, Money::ZERO));
        e.0 += 1;
        e.1 += p.amount;
        sheet.write(r, 0, p.payment_id.as_str()).map_err(xl)?;
        sheet.write(r, 1, p.payee_code.as_str()).map_err(xl)?;
        sheet.write(r, 2, format!("{:?}", p.purpose)).map_err(xl)?;
        write_amount(sheet, r, 3, &p.amount.to_string(), &money)?;
        sheet.write(r, 4, status.as_str()).map_err(xl)?;
        sheet
            .write(
                r,
                5,
                receipt
                    .and_then(|x| x.bank_reference.as_deref())
                    .unwrap_or(""),
            )
            .map_err(xl)?;
        sheet
            .write(
                r,
                6,
                receipt
                    .and_then(|x| x.value_date)
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
            )
            .map_err(xl)?;
        let reason = receipt
            .and_then(|x| x.reason.as_ref())
            .map(|x| {
                [
                    x.iso_code.as_deref(),
                    x.bank_code.as_deref(),
                    Some(x.text.as_str()),
                ]
                .into_iter()
                .flatten()
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" · ")
            })
            .unwrap_or_default();
        sheet.write(r, 7, reason).map_err(xl)?;
    }
    let r = row_no(b.payments.len() + 3);
    sheet
        .write_with_format(r, 0, TOTAL_LABEL, &bold)
        .map_err(xl)?;
    sheet
        .write(r, 1, format!("{} payments", b.payments.len()))
        .map_err(xl)?;
    write_amount(sheet, r, 3, &total.to_string(), &money)?;
    for (i, (status, (n, amount))) in by_status.iter().enumerate() {
        let r = r + 1 + row_no(i);
        sheet.write(r, 0, format!("{status} ({n})")).map_err(xl)?;
        write_amount(sheet, r, 3, &amount.to_string(), &money)?;
    }
    sheet.set_column_width(0, 26).map_err(xl)?;
    Ok(())
}

/// A batch as a workbook; a monthly batch also carries the monthly report's rows
/// (`monthly_csv`) on a second sheet with their totals.
pub fn batch_xlsx(
    record: &BatchRecord,
    states: &BTreeMap<String, PaymentState>,
    monthly_csv: Option<&str>,
) -> Result<Vec<u8>> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(BATCH_SHEET).map_err(xl)?;
    batch_sheet(sheet, record, states)?;
    if let Some(text) = monthly_csv {
        let sheet = book.add_worksheet();
        sheet.set_name(MONTHLY_SHEET).map_err(xl)?;
        let header = text.lines().next().unwrap_or("");
        let amounts: Vec<&str> = header
            .split(',')
            .filter(|c| c.contains("amount") || c.ends_with("_total") || c.contains("payable"))
            .collect();
        csv_sheet(sheet, text, &amounts)?;
    }
    book.save_to_buffer().map_err(xl)
}

/// The file drop's batch records and payment states (what `bank status` reads).
fn outbox(ops: &Operations) -> Result<(Vec<BatchRecord>, BTreeMap<String, PaymentState>)> {
    let store = ops.store().as_ref();
    let records = medsettle_filedrop::state::batches(store)?
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let states = medsettle_filedrop::state::payment_states(store)?
        .into_iter()
        .map(|(k, s)| {
            let id = s.receipt.as_ref().map_or(k, |r| r.payment_id.clone());
            (id, s)
        })
        .collect();
    Ok((records, states))
}

/// The workbook `name` names, or `None` when there is none.
pub fn workbook(ops: &Operations, name: &str) -> Result<Option<Vec<u8>>> {
    let Some(stem) = name.strip_suffix(".xlsx") else {
        return Ok(None);
    };
    if let Some(date) = stem
        .strip_prefix("daily-")
        .and_then(|s| s.strip_suffix("-detail"))
    {
        if crate::settle::parse_date(date).is_err() {
            return Ok(None);
        }
        let path = ops
            .config()
            .reports_dir()
            .join(format!("daily-{date}-detail.csv"));
        return match std::fs::read_to_string(&path) {
            Ok(text) => detail_xlsx(&text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        };
    }
    let (records, states) = outbox(ops)?;
    let find = |kind: BatchKind, suffix: &str| {
        records.iter().find(|r| {
            BatchKind::of(&r.batch.batch_id) == Some(kind) && r.batch.batch_id.ends_with(suffix)
        })
    };
    let (record, monthly) = if let Some(id) = stem.strip_prefix("batch-") {
        (records.iter().find(|r| r.batch.batch_id == id), None)
    } else if let Some(period) = stem.strip_prefix("monthly-") {
        // `monthly-YYYY-MM`: the batch `M<pool><YYYYMM>` and the report `monthly-YYYY-MM.csv`.
        if medsettle_settlement::YearMonth::parse(period).is_none() {
            return Ok(None);
        }
        let csv = std::fs::read_to_string(
            ops.config()
                .reports_dir()
                .join(format!("monthly-{period}.csv")),
        )
        .ok();
        (find(BatchKind::Monthly, &period.replace('-', "")), csv)
    } else if let Some(year) = stem.strip_prefix("annual-") {
        (find(BatchKind::Annual, year), None)
    } else {
        (None, None)
    };
    let Some(record) = record else {
        return Ok(None);
    };
    batch_xlsx(record, &states, monthly.as_deref()).map(Some)
}

/// The workbook named by its period of a monthly or annual batch: `M<pool:6><YYYYMM>` →
/// `monthly-YYYY-MM.xlsx`, `A<pool:6><YYYY>` → `annual-YYYY.xlsx`; none for other batches.
pub fn period_workbook(batch_id: &str) -> Option<String> {
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let tail = |n: usize| {
        batch_id
            .get(batch_id.len().checked_sub(n)?..)
            .filter(|t| digits(t))
    };
    match BatchKind::of(batch_id)? {
        BatchKind::Monthly => tail(6).map(|p| format!("monthly-{}-{}.xlsx", &p[..4], &p[4..])),
        BatchKind::Annual => tail(4).map(|y| format!("annual-{y}.xlsx")),
        BatchKind::Daily | BatchKind::Quarterly => None,
    }
}

/// The workbooks there are: every batch's, the monthly and annual ones by period, and the
/// detail of every closed pay date whose detail report is among `reports` (the reports
/// directory's names, `crate::console::reports`: passed in, so this module does not import the
/// console module that imports it).
pub fn workbook_names(batch_ids: &[String], reports: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    for id in batch_ids {
        names.extend(period_workbook(id));
        names.push(format!("batch-{id}.xlsx"));
    }
    for r in reports {
        if let Some(date) = r
            .strip_prefix("daily-")
            .and_then(|s| s.strip_suffix("-detail.csv"))
        {
            names.push(format!("daily-{date}-detail.xlsx"));
        }
    }
    names
}

// ---------------------------------------------------------------------------------------------
// The month's clearing between provinces
// ---------------------------------------------------------------------------------------------

/// Sheet of the month's clearing summary (statements, net positions, transfers, prepayments).
pub const CLEARING_SUMMARY_SHEET: &str = "清算汇总";
/// The amount columns of a statement's CSV (`medsettle_clearing::CSV_HEADER`).
pub const STATEMENT_AMOUNTS: [&str; 2] = ["medfee_sumamt", "optins_pay_sumamt"];
/// The statement CSV's column of `aaa113` (+1 a settlement, −1 a reversal; the total row
/// holds the statement's count there).
const STATEMENT_COUNT: &str = "aaa113";
/// The first column's value on the statement CSV's total row.
const STATEMENT_TOTAL: &str = "total";
/// Excel's limit on a sheet name, characters.
const SHEET_NAME_CHARS_MAX: usize = 31;

/// One statement as its sheet shows it (read from the report; nothing computed but the sums
/// of its lines, which must equal the CSV's total row).
#[derive(Debug, Clone, Default)]
pub struct StatementSheet {
    pub stmt_id: String,
    pub role: String,
    pub insured_province: String,
    pub treatment_province: String,
    pub count: i64,
    pub medfee_sumamt: Money,
    pub fund_pay_sumamt: Money,
    pub confirmed_fund_pay_sumamt: Money,
    pub refused_fund_pay_sumamt: Money,
    pub sent: bool,
    pub replied: bool,
    pub statement_due: Option<String>,
    pub transfer_due: Option<String>,
    /// The statement as CSV (`Statement::to_csv`): header, lines, total row.
    pub csv: String,
}

/// A net transfer between two provinces.
#[derive(Debug, Clone, Default)]
pub struct TransferLine {
    pub transfer_id: String,
    pub payer: String,
    pub receiver: String,
    pub amount: Money,
}

/// A prepayment an insured province owes a place of treatment.
#[derive(Debug, Clone, Default)]
pub struct PrepaymentLine {
    pub insured_province: String,
    pub treatment_province: String,
    pub year: i32,
    pub prior_year_fund_pay_sumamt: Money,
    pub required: Money,
}

/// A month's clearing as the workbook shows it.
#[derive(Debug, Clone, Default)]
pub struct ClearingBook {
    pub month: String,
    pub statements: Vec<StatementSheet>,
    /// Net position per province, receivable positive.
    pub net: Vec<(String, Money)>,
    pub transfers: Vec<TransferLine>,
    pub prepayments: Vec<PrepaymentLine>,
    pub errors: Vec<String>,
}

impl ClearingBook {
    /// What the workbook shows of a clearing report (`GET /ops/interregion/clearing`,
    /// `NationalService::run_clearing`).
    pub fn of(report: &medsettle_service::interregion_clearing::ClearingReport) -> ClearingBook {
        ClearingBook {
            month: report.month.clone(),
            statements: report
                .statements
                .iter()
                .map(|s| StatementSheet {
                    stmt_id: s.stmt_id.clone(),
                    role: s.role.clone(),
                    insured_province: s.insured_province.clone(),
                    treatment_province: s.treatment_province.clone(),
                    count: s.count,
                    medfee_sumamt: s.medfee_sumamt,
                    fund_pay_sumamt: s.fund_pay_sumamt,
                    confirmed_fund_pay_sumamt: s.confirmed_fund_pay_sumamt,
                    refused_fund_pay_sumamt: s.refused_fund_pay_sumamt,
                    sent: s.sent,
                    replied: s.replied,
                    statement_due: s.statement_due.clone(),
                    transfer_due: s.transfer_due.clone(),
                    csv: s.csv.clone(),
                })
                .collect(),
            net: report.net.clone(),
            transfers: report
                .transfers
                .iter()
                .map(|t| TransferLine {
                    transfer_id: t.transfer_id.clone(),
                    payer: t.payer.to_string(),
                    receiver: t.receiver.to_string(),
                    amount: t.amount,
                })
                .collect(),
            prepayments: report
                .prepayments
                .iter()
                .map(|p| PrepaymentLine {
                    insured_province: p.insured_province.clone(),
                    treatment_province: p.treatment_province.clone(),
                    year: p.year,
                    prior_year_fund_pay_sumamt: p.prior_year_fund_pay_sumamt,
                    required: p.required,
                })
                .collect(),
            errors: report.errors.clone(),
        }
    }
}

/// A month's clearing between provinces as a workbook (the console's
/// `clearing-<YYYY-MM>.xlsx`; the command line's `settle clearing --xlsx-dir`): a summary
/// sheet ([`CLEARING_SUMMARY_SHEET`]: the statements with their totals, each province's net
/// position, the transfers, the prepayments, the report's errors), then one sheet per
/// statement, named by its `stmt_id`: its lines as the statement's CSV has them, each amount
/// in yuan (two decimals) and in fen, and a `合计 total` row. A statement's totals are summed
/// from its lines in fen and must equal its CSV's total row to the fen, else `Err` (the CSV
/// contradicts itself; no workbook is made from it).
pub fn clearing_xlsx(
    report: &medsettle_service::interregion_clearing::ClearingReport,
) -> Result<Vec<u8>> {
    clearing_book_xlsx(&ClearingBook::of(report))
}

/// [`clearing_xlsx`] of a [`ClearingBook`].
pub fn clearing_book_xlsx(book: &ClearingBook) -> Result<Vec<u8>> {
    let mut wb = Workbook::new();
    let summary = wb.add_worksheet();
    summary.set_name(CLEARING_SUMMARY_SHEET).map_err(xl)?;
    clearing_summary(summary, book)?;
    let mut used = BTreeSet::new();
    used.insert(CLEARING_SUMMARY_SHEET.to_owned());
    for s in &book.statements {
        let sheet = wb.add_worksheet();
        sheet
            .set_name(sheet_name(&s.stmt_id, &mut used))
            .map_err(xl)?;
        statement_sheet(sheet, s)
            .with_context(|| format!("statement {} of {}", s.stmt_id, book.month))?;
    }
    wb.save_to_buffer().map_err(xl)
}

/// A sheet name for `stmt_id`: Excel refuses `[]:*?/\` and names over 31 characters; a name
/// already used gets `~2`, `~3`….
fn sheet_name(stmt_id: &str, used: &mut BTreeSet<String>) -> String {
    let clean: String = stmt_id
        .chars()
        .map(|c| if "[]:*?/\\'".contains(c) { '_' } else { c })
        .take(SHEET_NAME_CHARS_MAX)
        .collect();
    let clean = if clean.is_empty() {
        "statement".to_owned()
    } else {
        clean
    };
    let mut name = clean.clone();
    let mut n = 1;
    while !used.insert(name.clone()) {
        n += 1;
        let suffix = format!("~{n}");
        let keep = SHEET_NAME_CHARS_MAX - suffix.chars().count();
        name = clean.chars().take(keep).collect::<String>() + &suffix;
    }
    name
}

/// An amount in two cells: yuan (the number its exact decimal text names, `0.00`) and fen
/// (the integer).
fn write_yuan_fen(sheet: &mut Worksheet, row: u32, col: u16, m: Money) -> Result<()> {
    let money = Format::new().set_num_format("0.00");
    write_amount(sheet, row, col, &m.to_string(), &money)?;
    sheet.write(row, col + 1, m.fen()).map_err(xl)?;
    Ok(())
}

fn bold_row(sheet: &mut Worksheet, row: u32, labels: &[&str]) -> Result<()> {
    let bold = Format::new().set_bold();
    for (c, l) in labels.iter().enumerate() {
        sheet
            .write_with_format(row, col_no(c), *l, &bold)
            .map_err(xl)?;
    }
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b { "是 yes" } else { "否 no" }
}

/// The summary sheet; returns nothing but the cells.
fn clearing_summary(sheet: &mut Worksheet, book: &ClearingBook) -> Result<()> {
    bold_row(sheet, 0, &["月份 month"])?;
    sheet.write(0, 1, book.month.as_str()).map_err(xl)?;
    let mut r = summary_statements(sheet, 2, &book.statements)?;
    r = summary_net(sheet, r + 1, &book.net)?;
    r = summary_transfers(sheet, r + 1, &book.transfers)?;
    r = summary_prepayments(sheet, r + 1, &book.prepayments)?;
    if !book.errors.is_empty() {
        bold_row(sheet, r + 1, &["问题 errors"])?;
        for (i, e) in book.errors.iter().enumerate() {
            sheet.write(r + 2 + row_no(i), 0, e.as_str()).map_err(xl)?;
        }
    }
    sheet.set_column_width(0, 28).map_err(xl)?;
    Ok(())
}

/// The statements table from `row`; returns the row after its total.
fn summary_statements(sheet: &mut Worksheet, row: u32, list: &[StatementSheet]) -> Result<u32> {
    bold_row(sheet, row, &["清算单 statements"])?;
    bold_row(
        sheet,
        row + 1,
        &[
            "清算单 stmt_id",
            "角色 role",
            "参保地 insured",
            "就医地 treatment",
            "人次 count",
            "医疗费总额 medfee_sumamt (元)",
            "(分 fen)",
            "基金支付 fund_pay_sumamt (元)",
            "(分 fen)",
            "已确认 confirmed (元)",
            "(分 fen)",
            "拒付 refused (元)",
            "(分 fen)",
            "已发送 sent",
            "已回复 replied",
            "对账截止 statement_due",
            "划拨截止 transfer_due",
        ],
    )?;
    let (mut count, mut medfee, mut fund, mut confirmed, mut refused) =
        (0i64, Money::ZERO, Money::ZERO, Money::ZERO, Money::ZERO);
    for (i, s) in list.iter().enumerate() {
        let r = row + 2 + row_no(i);
        for (c, text) in [
            &s.stmt_id,
            &s.role,
            &s.insured_province,
            &s.treatment_province,
        ]
        .into_iter()
        .enumerate()
        {
            sheet.write(r, col_no(c), text.as_str()).map_err(xl)?;
        }
        sheet.write(r, 4, s.count).map_err(xl)?;
        write_yuan_fen(sheet, r, 5, s.medfee_sumamt)?;
        write_yuan_fen(sheet, r, 7, s.fund_pay_sumamt)?;
        write_yuan_fen(sheet, r, 9, s.confirmed_fund_pay_sumamt)?;
        write_yuan_fen(sheet, r, 11, s.refused_fund_pay_sumamt)?;
        sheet.write(r, 13, yes_no(s.sent)).map_err(xl)?;
        sheet.write(r, 14, yes_no(s.replied)).map_err(xl)?;
        sheet
            .write(r, 15, s.statement_due.as_deref().unwrap_or(""))
            .map_err(xl)?;
        sheet
            .write(r, 16, s.transfer_due.as_deref().unwrap_or(""))
            .map_err(xl)?;
        count += s.count;
        medfee += s.medfee_sumamt;
        fund += s.fund_pay_sumamt;
        confirmed += s.confirmed_fund_pay_sumamt;
        refused += s.refused_fund_pay_sumamt;
    }
    let r = row + 2 + row_no(list.len());
    bold_row(sheet, r, &[TOTAL_LABEL])?;
    sheet.write(r, 4, count).map_err(xl)?;
    write_yuan_fen(sheet, r, 5, medfee)?;
    write_yuan_fen(sheet, r, 7, fund)?;
    write_yuan_fen(sheet, r, 9, confirmed)?;
    write_yuan_fen(sheet, r, 11, refused)?;
    Ok(r + 1)
}

/// The net positions from `row`; returns the row after their total.
fn summary_net(sheet: &mut Worksheet, row: u32, net: &[(String, Money)]) -> Result<u32> {
    bold_row(sheet, row, &["净额 net positions (应收+ 应付−)"])?;
    bold_row(
        sheet,
        row + 1,
        &["省份 province", "净额 net (元)", "(分 fen)"],
    )?;
    let mut total = Money::ZERO;
    for (i, (province, m)) in net.iter().enumerate() {
        let r = row + 2 + row_no(i);
        sheet.write(r, 0, province.as_str()).map_err(xl)?;
        write_yuan_fen(sheet, r, 1, *m)?;
        total += *m;
    }
    let r = row + 2 + row_no(net.len());
    bold_row(sheet, r, &[TOTAL_LABEL])?;
    write_yuan_fen(sheet, r, 1, total)?;
    Ok(r + 1)
}

/// The transfers from `row`; returns the row after their total.
fn summary_transfers(sheet: &mut Worksheet, row: u32, list: &[TransferLine]) -> Result<u32> {
    bold_row(sheet, row, &["划拨 transfers"])?;
    bold_row(
        sheet,
        row + 1,
        &[
            "划拨 transfer_id",
            "付款省 payer",
            "收款省 receiver",
            "金额 amount (元)",
            "(分 fen)",
        ],
    )?;
    let mut total = Money::ZERO;
    for (i, t) in list.iter().enumerate() {
        let r = row + 2 + row_no(i);
        sheet.write(r, 0, t.transfer_id.as_str()).map_err(xl)?;
        sheet.write(r, 1, t.payer.as_str()).map_err(xl)?;
        sheet.write(r, 2, t.receiver.as_str()).map_err(xl)?;
        write_yuan_fen(sheet, r, 3, t.amount)?;
        total += t.amount;
    }
    let r = row + 2 + row_no(list.len());
    bold_row(sheet, r, &[TOTAL_LABEL])?;
    write_yuan_fen(sheet, r, 3, total)?;
    Ok(r + 1)
}

/// The prepayments from `row`; returns the row after them.
fn summary_prepayments(sheet: &mut Worksheet, row: u32, list: &[PrepaymentLine]) -> Result<u32> {
    bold_row(sheet, row, &["预付 prepayments"])?;
    bold_row(
        sheet,
        row + 1,
        &[
            "参保地 insured",
            "就医地 treatment",
            "年度 year",
            "上年基金支付 prior year fund (元)",
            "(分 fen)",
            "应预付 required (元)",
            "(分 fen)",
        ],
    )?;
    for (i, p) in list.iter().enumerate() {
        let r = row + 2 + row_no(i);
        sheet.write(r, 0, p.insured_province.as_str()).map_err(xl)?;
        sheet
            .write(r, 1, p.treatment_province.as_str())
            .map_err(xl)?;
        sheet.write(r, 2, p.year).map_err(xl)?;
        write_yuan_fen(sheet, r, 3, p.prior_year_fund_pay_sumamt)?;
        write_yuan_fen(sheet, r, 5, p.required)?;
    }
    Ok(row + 2 + row_no(list.len()))
}

/// A statement's CSV: its header, its lines, its total row.
struct StatementCsv {
    header: Vec<String>,
    lines: Vec<csv::StringRecord>,
    total: csv::StringRecord,
}

fn read_statement_csv(text: &str) -> Result<StatementCsv> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<std::result::Result<_, _>>()
        .context("the statement CSV")?;
    let total = match rows.pop() {
        Some(t) if t.get(0) == Some(STATEMENT_TOTAL) && !rows.is_empty() => t,
        _ => anyhow::bail!("the statement CSV has no header or no `{STATEMENT_TOTAL}` row last"),
    };
    let header = rows.remove(0).iter().map(str::to_owned).collect();
    Ok(StatementCsv {
        header,
        lines: rows,
        total,
    })
}

/// Column `name`'s value of `record` as money.
fn money_at(header: &[String], record: &csv::StringRecord, name: &str) -> Result<Money> {
    let i = header
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| anyhow::anyhow!("the statement CSV has no `{name}` column"))?;
    let text = record.get(i).unwrap_or("");
    Money::parse_yuan(text).map_err(|e| anyhow::anyhow!("{name} `{text}`: {e}"))
}

/// Column `name`'s value of `record` as a whole number.
fn int_at(header: &[String], record: &csv::StringRecord, name: &str) -> Result<i64> {
    let i = header
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| anyhow::anyhow!("the statement CSV has no `{name}` column"))?;
    let text = record.get(i).unwrap_or("");
    text.parse()
        .map_err(|_| anyhow::anyhow!("{name} `{text}` is not a whole number"))
}

/// One statement's sheet: what it is, its lines (amounts in yuan and fen), its total row.
fn statement_sheet(sheet: &mut Worksheet, s: &StatementSheet) -> Result<()> {
    let csv = read_statement_csv(&s.csv)?;
    let facts: [(&str, String); 6] = [
        ("清算单 stmt_id", s.stmt_id.clone()),
        ("角色 role", s.role.clone()),
        ("参保地 insured", s.insured_province.clone()),
        ("就医地 treatment", s.treatment_province.clone()),
        ("已发送 sent", yes_no(s.sent).to_owned()),
        ("已回复 replied", yes_no(s.replied).to_owned()),
    ];
    for (i, (label, value)) in facts.iter().enumerate() {
        let c = col_no(i * 2);
        sheet
            .write_with_format(0, c, *label, &Format::new().set_bold())
            .map_err(xl)?;
        sheet.write(0, c + 1, value.as_str()).map_err(xl)?;
    }
    // The columns: the CSV's, each amount followed by its fen.
    let mut labels: Vec<String> = Vec::new();
    for name in &csv.header {
        labels.push(name.clone());
        if STATEMENT_AMOUNTS.contains(&name.as_str()) {
            labels.push(format!("{name}_fen"));
        }
    }
    let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
    bold_row(sheet, 2, &refs)?;
    let mut sums = [Money::ZERO; 2];
    let mut count = 0i64;
    for (i, line) in csv.lines.iter().enumerate() {
        let r = 3 + row_no(i);
        let mut c = 0u16;
        for (k, name) in csv.header.iter().enumerate() {
            let field = line.get(k).unwrap_or("");
            match STATEMENT_AMOUNTS.iter().position(|a| a == name) {
                Some(a) => {
                    let m = money_at(&csv.header, line, name)
                        .with_context(|| format!("line {}", i + 2))?;
                    sums[a] += m;
                    write_yuan_fen(sheet, r, c, m)?;
                    c += 2;
                }
                None => {
                    sheet.write(r, c, field).map_err(xl)?;
                    c += 1;
                }
            }
        }
        count += int_at(&csv.header, line, STATEMENT_COUNT)
            .with_context(|| format!("line {}", i + 2))?;
    }
    check_totals(&csv, sums, count)?;
    statement_total_row(sheet, &csv, 3 + row_no(csv.lines.len()), sums, count)
}

/// The sums of the lines against the CSV's total row, to the fen.
fn check_totals(csv: &StatementCsv, sums: [Money; 2], count: i64) -> Result<()> {
    for (a, name) in STATEMENT_AMOUNTS.iter().enumerate() {
        let stated = money_at(&csv.header, &csv.total, name).context("the total row")?;
        if stated != sums[a] {
            anyhow::bail!(
                "the CSV's total {name} {stated} is not the sum of its lines {}",
                sums[a]
            );
        }
    }
    let stated = int_at(&csv.header, &csv.total, STATEMENT_COUNT).context("the total row")?;
    if stated != count {
        anyhow::bail!(
            "the CSV's total count {stated} is not the sum of its lines' {STATEMENT_COUNT} {count}"
        );
    }
    Ok(())
}

/// The `合计 total` row: the sums in yuan and fen, the count, the statement's status.
fn statement_total_row(
    sheet: &mut Worksheet,
    csv: &StatementCsv,
    r: u32,
    sums: [Money; 2],
    count: i64,
) -> Result<()> {
    let bold = Format::new().set_bold();
    let mut c = 0u16;
    for (k, name) in csv.header.iter().enumerate() {
        if k == 0 {
            sheet
                .write_with_format(r, 0, TOTAL_LABEL, &bold)
                .map_err(xl)?;
        } else if let Some(a) = STATEMENT_AMOUNTS.iter().position(|x| x == name) {
            write_yuan_fen(sheet, r, c, sums[a])?;
            c += 1;
        } else if name == STATEMENT_COUNT {
            sheet.write(r, c, count).map_err(xl)?;
        } else if let Some(v) = csv.total.get(k).filter(|v| !v.is_empty()) {
            sheet.write(r, c, v).map_err(xl)?;
        }
        c += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of sheet `n` (1-based) of an XLSX, read back with the zip reader: each cell's
    /// text (shared strings resolved, numbers as written), empty cells "".
    fn sheet_rows(xlsx: &[u8], n: usize) -> Vec<Vec<String>> {
        use std::io::Read;
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).expect("a zip");
        let mut part = |name: &str| {
            let mut s = String::new();
            if let Ok(mut f) = zip.by_name(name) {
                f.read_to_string(&mut s).unwrap();
            }
            s
        };
        let unescape = |t: &str| {
            t.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&amp;", "&")
        };
        let strings: Vec<String> = part("xl/sharedStrings.xml")
            .split("<si>")
            .skip(1)
            .map(|si| {
                let t = &si[si.find("<t").unwrap()..];
                let t = &t[t.find('>').unwrap() + 1..];
                unescape(&t[..t.find("</t>").unwrap()])
            })
            .collect();
        let sheet = part(&format!("xl/worksheets/sheet{n}.xml"));
        let col = |r: &str| {
            r.bytes()
                .take_while(u8::is_ascii_uppercase)
                .fold(0usize, |n, b| n * 26 + usize::from(b - b'A' + 1))
                - 1
        };
        let mut rows: Vec<Vec<String>> = Vec::new();
        for row in sheet.split("<row ").skip(1) {
            // Rows by their number (`r="3"`): empty rows are not written.
            let n: usize = row
                .split("r=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            rows.resize(n - 1, Vec::new());
            rows.push({
                let mut cells: Vec<String> = Vec::new();
                for c in row.split("<c ").skip(1) {
                    let head = &c[..c.find('>').unwrap()];
                    let r = head.split("r=\"").nth(1).unwrap();
                    let i = col(&r[..r.find('"').unwrap()]);
                    let v = c
                        .split("<v>")
                        .nth(1)
                        .map(|v| v[..v.find("</v>").unwrap()].to_owned())
                        .unwrap_or_default();
                    let v = if head.contains("t=\"s\"") {
                        strings[v.parse::<usize>().unwrap()].clone()
                    } else {
                        v
                    };
                    if cells.len() <= i {
                        cells.resize(i + 1, String::new());
                    }
                    cells[i] = v;
                }
                cells
            });
        }
        rows
    }

    /// A yuan number as the sheet wrote it (`1234.5`, `-0.05`, `12`) in fen, no float.
    fn fen_of(text: &str) -> i64 {
        Money::parse_yuan(text)
            .unwrap_or_else(|e| panic!("`{text}`: {e}"))
            .fen()
    }

    /// A statement CSV as `medsettle_clearing` writes it: a settlement, a reversal, a line
    /// carried from the month before; the total row.
    const STATEMENT: &str = "seqno,mdtrtarea,medins_no,mdtrt_id,setl_sn,setl_time,fulamt_advpay_flag,medfee_sumamt,optins_pay_sumamt,aaa113,carried_from,status\n\
        1,440300,H44030000001,MD1,S-1,2026-11-03 09:00:00,0,300.10,200.05,1,,confirmed\n\
        2,440300,H44030000001,MD1,S-1,2026-11-04 10:00:00,0,-300.10,-200.05,-1,,confirmed\n\
        3,440300,H44030000002,MD2,S-2,2026-10-30 11:00:00,0,1000.01,800.99,1,2026-10,confirmed\n\
        total,,,,,,,1000.01,800.99,1,,replied\n";

    fn book() -> ClearingBook {
        ClearingBook {
            month: "2026-11".into(),
            statements: vec![StatementSheet {
                stmt_id: "CLR-330000-440000-202611".into(),
                role: "treatment".into(),
                insured_province: "330000".into(),
                treatment_province: "440000".into(),
                count: 1,
                medfee_sumamt: Money::from_fen(100_001),
                fund_pay_sumamt: Money::from_fen(80_099),
                confirmed_fund_pay_sumamt: Money::from_fen(80_099),
                replied: true,
                sent: true,
                csv: STATEMENT.into(),
                ..StatementSheet::default()
            }],
            net: vec![
                ("330000".into(), Money::from_fen(-80_099)),
                ("440000".into(), Money::from_fen(80_099)),
            ],
            transfers: vec![TransferLine {
                transfer_id: "X202611330000440000".into(),
                payer: "330000".into(),
                receiver: "440000".into(),
                amount: Money::from_fen(80_099),
            }],
            ..ClearingBook::default()
        }
    }

    #[test]
    fn the_clearing_workbook_totals_equal_the_statement_csv_to_the_fen() {
        let xlsx = clearing_book_xlsx(&book()).unwrap();
        // The statement's sheet: its total row in yuan and in fen equals the CSV's total row.
        let rows = sheet_rows(&xlsx, 2);
        assert_eq!(rows[0][1], "CLR-330000-440000-202611");
        let header = &rows[2];
        let at = |name: &str| header.iter().position(|h| h == name).unwrap();
        assert_eq!(at("medfee_sumamt_fen"), at("medfee_sumamt") + 1);
        let total = rows
            .iter()
            .find(|r| r.first().map(String::as_str) == Some(TOTAL_LABEL))
            .unwrap();
        let csv_total: Vec<&str> = STATEMENT.lines().last().unwrap().split(',').collect();
        for (name, csv_col) in [("medfee_sumamt", 7), ("optins_pay_sumamt", 8)] {
            let want = fen_of(csv_total[csv_col]);
            assert_eq!(fen_of(&total[at(name)]), want, "{name} in yuan");
            assert_eq!(
                total[at(&format!("{name}_fen"))],
                want.to_string(),
                "{name} in fen"
            );
        }
        assert_eq!(total[at("aaa113")], "1");
        assert_eq!(total[at("status")], "replied");
        // Three lines, each amount in yuan and fen alike; the reversal negative.
        let lines: Vec<&Vec<String>> = rows[3..].iter().filter(|r| r[0] != TOTAL_LABEL).collect();
        assert_eq!(lines.len(), 3);
        for l in &lines {
            let (y, f) = (&l[at("optins_pay_sumamt")], &l[at("optins_pay_sumamt_fen")]);
            assert_eq!(fen_of(y).to_string(), *f);
        }
        assert_eq!(lines[1][at("optins_pay_sumamt_fen")], "-20005");
        assert_eq!(lines[2][at("carried_from")], "2026-10");
        // The summary: the statement's totals, the net positions summing to zero, the transfer.
        let rows = sheet_rows(&xlsx, 1);
        let find = |label: &str| {
            rows.iter()
                .position(|r| r.first().map(String::as_str) == Some(label))
                .unwrap()
        };
        let stmt = &rows[find("CLR-330000-440000-202611")];
        assert_eq!((stmt[6].as_str(), stmt[8].as_str()), ("100001", "80099"));
        let net_total = &rows[find("440000") + 1];
        assert_eq!(
            (net_total[0].as_str(), net_total[2].as_str()),
            (TOTAL_LABEL, "0")
        );
        let transfer = &rows[find("X202611330000440000")];
        assert_eq!(
            (fen_of(&transfer[3]), transfer[4].as_str()),
            (80_099, "80099")
        );
    }

    #[test]
    fn a_statement_whose_total_is_not_its_lines_makes_no_workbook() {
        let mut b = book();
        b.statements[0].csv =
            STATEMENT.replace("total,,,,,,,1000.01,800.99", "total,,,,,,,1000.01,801.00");
        let e = clearing_book_xlsx(&b).unwrap_err();
        assert!(
            format!("{e:#}")
                .contains("optins_pay_sumamt 801.00 is not the sum of its lines 800.99"),
            "{e:#}"
        );
        let mut b = book();
        b.statements[0].csv = STATEMENT.replace(",1,,replied", ",2,,replied");
        assert!(clearing_book_xlsx(&b).is_err());
        // A second statement of the same id gets a sheet of its own.
        let mut b = book();
        b.statements.push(b.statements[0].clone());
        let xlsx = clearing_book_xlsx(&b).unwrap();
        assert_eq!(sheet_rows(&xlsx, 3)[0][1], "CLR-330000-440000-202611");
    }

    #[test]
    fn monthly_and_annual_workbooks_are_named_by_their_period() {
        assert_eq!(
            period_workbook("M440300202611").as_deref(),
            Some("monthly-2026-11.xlsx")
        );
        assert_eq!(
            period_workbook("A4403002026").as_deref(),
            Some("annual-2026.xlsx")
        );
        assert_eq!(period_workbook("D4403002026120700"), None);
        assert_eq!(period_workbook("M1"), None);
        assert_eq!(
            workbook_names(&["M440300202611".into()], &[]),
            vec!["monthly-2026-11.xlsx", "batch-M440300202611.xlsx"]
        );
    }

    #[test]
    fn the_detail_sums_in_fen_and_pays_each_line_once() {
        let csv = "fixmedins_code,fixmedins_name,payment_id,setl_id,kind,settlement_date,fund_amount,daily_ratio,daily_amount,line_pay_amount,note\n\
                   H1,一院,P1,S1,settlement,2026-12-01,100.10,0.9,90.09,180.18,\n\
                   H1,一院,P1,S2,settlement,2026-12-01,100.10,0.9,90.09,180.18,\n\
                   H2,二院,,S3,settlement,2026-12-01,0.01,0.9,0.01,0.00,skipped\n";
        let book = detail_xlsx(csv).unwrap();
        assert!(book.starts_with(b"PK"));
        // Sums in fen: 100.10 + 100.10 + 0.01 = 200.21 (no float drift), pay 180.18 once.
        let mut sheet = csv_sheet(
            Workbook::new().add_worksheet(),
            csv,
            &["fund_amount", "daily_amount"],
        )
        .unwrap();
        assert_eq!(sheet.remove("fund_amount"), Some(Money::from_fen(20_021)));
        assert_eq!(sheet.remove("daily_amount"), Some(Money::from_fen(18_019)));
        assert!(
            csv_sheet(
                Workbook::new().add_worksheet(),
                "a,amount\nx,1.2.3\n",
                &["amount"]
            )
            .is_err()
        );
    }
}
