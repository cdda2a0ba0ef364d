//! Workbooks for finance, rendered by the console on request (`GET /console/xlsx/<name>`,
//! `specs/console.md`, "XLSX for finance"): the per-claim detail (明细) of a closed pay date,
//! any batch of the outbox with its payments and what the bank said, the monthly settlement
//! and the annual clearing (their batches, with the monthly report's rows when it exists).
//! Read through the same functions as `bank status` (the file drop's batch records and
//! payment states) and the reports the closing actions wrote; nothing is computed that those
//! do not say. Totals are summed in integer fen ([`Money`]); an amount enters the sheet as
//! the number its exact decimal text names (the float is the cell's storage only, never
//! added to anything), formatted `0.00`.

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
        let csv = std::fs::read_to_string(
            ops.config()
                .reports_dir()
                .join(format!("monthly-{period}.csv")),
        )
        .ok();
        (find(BatchKind::Monthly, period), csv)
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

/// The workbooks there are: every batch's, the monthly and annual ones by period, and the
/// detail of every closed pay date whose detail report is among `reports` (the reports
/// directory's names, `crate::console::reports`: passed in, so this module does not import the
/// console module that imports it).
pub fn workbook_names(batch_ids: &[String], reports: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    for id in batch_ids {
        match BatchKind::of(id) {
            Some(BatchKind::Monthly) if id.len() >= 7 => {
                names.push(format!("monthly-{}.xlsx", &id[id.len() - 7..]));
            }
            Some(BatchKind::Annual) if id.len() >= 4 => {
                names.push(format!("annual-{}.xlsx", &id[id.len() - 4..]));
            }
            _ => {}
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
