//! The instant-settlement closings (IS-D, IS-M, IS-Q, IS-A) and 3202 detail reconciliation as
//! typed operator actions over the journal. Each returns the text `medsettle settle …` prints,
//! so the command line and the operator API (`/ops/settle/…`) say the same thing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use medsettle_canonical::{CHINA_OFFSET, Money};
use medsettle_engine::{AnnualAmounts, CatchUp, DailyClose, Engine};
use medsettle_settlement::YearMonth;
use medsettle_settlement::recon::{DetailFinding, Stmt3202Row, detail_results_csv};
use medsettle_store::Store;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::config::Config;
use crate::error::BadInput;

/// Parse `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<Date, String> {
    Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| format!("`{text}` is not a date YYYY-MM-DD"))
}

/// A date argument, `name` as the operator typed it (`--pay-date`).
pub fn date_arg(name: &str, text: &str) -> Result<Date> {
    parse_date(text).map_err(|e| BadInput::new(format!("{name}: {e}")).into())
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().to_offset(CHINA_OFFSET)
}

/// Write a report under `data/reports`, through a temporary name and a rename, so a reader
/// never sees half a report.
fn write_report(config: &Config, name: &str, text: &str) -> Result<PathBuf> {
    let dir = config.reports_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// An engine error with its rule id in front, once (some messages already start with it).
/// A bad row of an operator's CSV, an unknown institution and a bad operator argument are the
/// operator's to fix ([`BadInput`], exit code 2); a rule refusing the operation now (a
/// payment without its receipt, a day not yet closed) is not.
pub fn engine_err(e: medsettle_engine::EngineError) -> anyhow::Error {
    use medsettle_engine::EngineError;
    use medsettle_settlement::SettlementError;
    let message = e.to_string();
    let tag = format!("[{}]", e.rule());
    let message = if message.starts_with(&tag) {
        message
    } else {
        format!("{tag} {message}")
    };
    match e {
        EngineError::Settlement(SettlementError::Row { .. })
        | EngineError::UnknownInstitution { .. }
        | EngineError::OperatorInput { .. } => BadInput::new(message).into(),
        _ => anyhow::anyhow!(message),
    }
}

/// Catch the engine up with the journal; `progress` sees (records done, records in all).
pub fn catch_up(
    engine: &Engine,
    store: &dyn Store,
    progress: &dyn Fn(u64, u64),
) -> Result<CatchUp> {
    engine.catch_up(store, progress).map_err(engine_err)
}

/// What `settle catch-up` prints.
pub fn catch_up_text(c: &CatchUp) -> String {
    format!(
        "read {} records: {} claims taken in, {} already known, {} outside daily scope; next offset {}\n",
        c.records_seen, c.claims_fed, c.duplicates, c.out_of_scope, c.next_offset
    )
}

/// A closed payment date and where its CSV reports were written.
pub struct ClosedDay {
    pub close: DailyClose,
    /// The pay date or a settlement date lies in a year the calendar only derives
    /// (no official file yet): the dates may move when the official calendar is published.
    pub provisional: bool,
    pub summary_csv: PathBuf,
    pub detail_csv: PathBuf,
    /// The payment summary (支付汇总单) for finance as XLSX, beside the CSV.
    pub summary_xlsx: PathBuf,
}

/// Close payment date `pay_date` and write its CSV reports.
pub fn close_daily(
    config: &Config,
    engine: &Engine,
    store: &dyn Store,
    pay_date: Date,
) -> Result<ClosedDay> {
    // close_day catches up with the journal itself.
    let close = engine
        .close_day(store, pay_date, now())
        .map_err(engine_err)?;
    let calendar = &engine.config().calendar;
    let s = &close.run.summary;
    let provisional = calendar.is_provisional(s.pay_date)
        || s.settlement_dates
            .iter()
            .any(|d| calendar.is_provisional(*d));
    let summary_csv = write_report(
        config,
        &format!("daily-{pay_date}-summary.csv"),
        &with_calendar_column(&close.summary_csv, provisional)?,
    )?;
    let detail_csv = write_report(
        config,
        &format!("daily-{pay_date}-detail.csv"),
        &with_calendar_column(&close.detail_csv, provisional)?,
    )?;
    let summary_xlsx = write_report_bytes(
        config,
        &format!("daily-{pay_date}-summary.xlsx"),
        &daily_summary_xlsx(&close, provisional)?,
    )?;
    Ok(ClosedDay {
        close,
        provisional,
        summary_csv,
        detail_csv,
        summary_xlsx,
    })
}

/// [`write_report`] for bytes (an XLSX workbook).
fn write_report_bytes(config: &Config, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let dir = config.reports_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Name of the XLSX summary's sheet.
pub const XLSX_SUMMARY_SHEET: &str = "支付汇总单";

/// Chinese label of a column of the summary CSV (the CSV's own name follows it in the sheet).
fn summary_label(column: &str) -> &'static str {
    match column {
        "run_id" => "批次号",
        "pool_admdvs" => "统筹区",
        "pay_date" => "支付日期",
        "settlement_dates" => "结算日期",
        "institutions_paid" => "支付机构数",
        "claims" => "结算笔数",
        "claims_total" => "结算金额合计",
        "offsets_in" => "冲抵",
        "failed_in" => "失败结转",
        "carried_out" => "结转下期",
        "pay_total" => "支付总额",
        "institutions_skipped" => "暂缓机构数",
        "skipped_total" => "暂缓金额",
        "send_before" => "发送截止",
        CALENDAR_COLUMN => "工作日历",
        _ => "",
    }
}

/// Columns of the summary that are amounts in yuan.
const SUMMARY_AMOUNTS: &[&str] = &[
    "claims_total",
    "offsets_in",
    "failed_in",
    "carried_out",
    "pay_total",
    "skipped_total",
];

/// The payment summary (支付汇总单) of a closed day as an XLSX workbook: the summary CSV's
/// columns (Chinese label and CSV name), its row, then one row per institution paid. Amounts
/// are the CSV's exact decimal text read as numbers, shown with two decimals (`0.00`); no
/// amount is computed here.
pub fn daily_summary_xlsx(close: &DailyClose, provisional: bool) -> Result<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let xl = |e: rust_xlsxwriter::XlsxError| anyhow::anyhow!("writing the XLSX summary: {e}");
    let csv_text = with_calendar_column(&close.summary_csv, provisional)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(csv_text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<std::result::Result<_, _>>()
        .context("the summary CSV")?;
    let mut book = Workbook::new();
    // Dated by the pay date, not the clock: closing the day again writes the same bytes.
    let d = close.run.summary.pay_date;
    let created = rust_xlsxwriter::ExcelDateTime::from_ymd(
        u16::try_from(d.year()).unwrap_or(1900),
        d.month() as u8,
        d.day(),
    )
    .map_err(xl)?;
    book.set_properties(&rust_xlsxwriter::DocProperties::new().set_creation_datetime(&created));
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("0.00");
    let sheet = book.add_worksheet();
    sheet.set_name(XLSX_SUMMARY_SHEET).map_err(xl)?;
    let number = |text: &str| text.parse::<f64>().ok();
    let mut header: Vec<String> = Vec::new();
    for (r, record) in rows.iter().enumerate() {
        let row = u32::try_from(r).unwrap_or(u32::MAX);
        for (c, field) in record.iter().enumerate() {
            let col = u16::try_from(c).unwrap_or(u16::MAX);
            if r == 0 {
                header.push(field.to_owned());
                let label = format!("{} {field}", summary_label(field));
                sheet
                    .write_with_format(row, col, label.trim(), &bold)
                    .map_err(xl)?;
            } else if SUMMARY_AMOUNTS.contains(&header.get(c).map_or("", String::as_str))
                && let Some(v) = number(field)
            {
                sheet.write_with_format(row, col, v, &money).map_err(xl)?;
            } else {
                sheet.write(row, col, field).map_err(xl)?;
            }
        }
    }
    let first = u32::try_from(rows.len()).unwrap_or(u32::MAX) + 1;
    let columns = [
        "定点医药机构编号 fixmedins_code",
        "定点医药机构名称 fixmedins_name",
        "结算笔数 claims",
        "结算金额 claims_total",
        "冲抵 offsets",
        "支付金额 pay_amount",
        "支付ID payment_id",
    ];
    for (c, name) in columns.iter().enumerate() {
        let col = u16::try_from(c).unwrap_or(u16::MAX);
        sheet
            .write_with_format(first, col, *name, &bold)
            .map_err(xl)?;
    }
    for (i, l) in close.run.lines.iter().enumerate() {
        let row = first + 1 + u32::try_from(i).unwrap_or(u32::MAX - first - 1);
        sheet.write(row, 0, &l.fixmedins_code).map_err(xl)?;
        sheet.write(row, 1, &l.fixmedins_name).map_err(xl)?;
        sheet
            .write(row, 2, u32::try_from(l.claims.len()).unwrap_or(u32::MAX))
            .map_err(xl)?;
        for (col, amount) in [
            (3, l.claims_total),
            (4, l.offset_in + l.failed_in),
            (5, l.pay_amount),
        ] {
            match number(&amount.to_string()) {
                Some(v) => sheet.write_with_format(row, col, v, &money).map_err(xl)?,
                None => sheet.write(row, col, amount.to_string()).map_err(xl)?,
            };
        }
        sheet
            .write(row, 6, l.payment_id.as_deref().unwrap_or(""))
            .map_err(xl)?;
    }
    sheet.set_column_width(0, 22).map_err(xl)?;
    sheet.set_column_width(1, 26).map_err(xl)?;
    book.save_to_buffer().map_err(xl)
}

/// Column appended to the daily reports: which calendar dated them.
pub const CALENDAR_COLUMN: &str = "calendar";

/// A daily report with a last column saying which calendar dated it, `official` or
/// `provisional` (a derived year: the dates may move when the official file is published).
/// Added where the reports are written, so the stored closing stays as it was.
fn with_calendar_column(csv_text: &str, provisional: bool) -> Result<String> {
    let value = if provisional {
        "provisional"
    } else {
        "official"
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(csv_text.as_bytes());
    let mut writer = csv::Writer::from_writer(Vec::new());
    for (i, record) in reader.records().enumerate() {
        let mut record = record.context("a report of the engine")?;
        record.push_field(if i == 0 { CALENDAR_COLUMN } else { value });
        writer.write_record(&record)?;
    }
    Ok(String::from_utf8(writer.into_inner().context("flush")?)?)
}

/// What `settle daily` prints: the payment summary and where its reports are.
pub fn closed_text(day: &ClosedDay) -> String {
    let mut t = daily_text(&day.close);
    if day.provisional {
        let _ = writeln!(
            t,
            "  PROVISIONAL: dated on a calendar derived from the statutory holidays (no official \
             file for the year; adjusted working days unknown): check these dates when the \
             official calendar is published"
        );
    }
    let _ = writeln!(
        t,
        "reports: {} and {}",
        day.summary_csv.display(),
        day.detail_csv.display()
    );
    t
}

/// The daily payment summary (支付汇总单) as a table.
pub fn daily_text(close: &DailyClose) -> String {
    let mut t = String::new();
    let s = &close.run.summary;
    let _ = writeln!(
        t,
        "daily payment summary (支付汇总单) {} for pay date {}{}",
        close.run.run_id,
        s.pay_date,
        if close.already_closed {
            " (closed before; stored result)"
        } else {
            ""
        }
    );
    let dates: Vec<String> = s.settlement_dates.iter().map(ToString::to_string).collect();
    let _ = writeln!(t, "  settlement dates: {}", dates.join(", "));
    let _ = writeln!(t, "  send to the bank before {} (IS-D-5)", s.send_before);
    let _ = writeln!(
        t,
        "  {:<14} {:>7} {:>14} {:>12} {:>14}",
        "institution", "claims", "claims total", "offsets", "pay"
    );
    for l in &close.run.lines {
        let _ = writeln!(
            t,
            "  {:<14} {:>7} {:>14} {:>12} {:>14}",
            l.fixmedins_code,
            l.claims.len(),
            l.claims_total.to_string(),
            (l.offset_in + l.failed_in).to_string(),
            l.pay_amount.to_string()
        );
    }
    for k in &close.run.skipped {
        let _ = writeln!(
            t,
            "  {:<14} skipped [{}] {} ({} withheld)",
            k.fixmedins_code, k.rule, k.reason, k.claims_total
        );
    }
    let _ = writeln!(
        t,
        "  total: {} institutions paid {} for {} claims; carried {}; ledger balanced: {}",
        s.institutions_paid,
        s.pay_total,
        s.claims,
        s.carried_out,
        close.audit.total_debits == close.audit.total_credits
    );
    t
}

/// Monthly settlement inputs (IS-M-3): the CSV texts themselves, so the same action runs in
/// the gateway (uploaded in the request) and in a command with no gateway running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonthInput {
    /// `YYYY-MM`.
    pub period: String,
    pub declarations_csv: String,
    #[serde(default)]
    pub deductions_csv: Option<String>,
    #[serde(default)]
    pub advances_csv: Option<String>,
    /// `YYYY-MM-DD`.
    pub pay_date: String,
}

/// Empty deductions or advances when the operator gives none: the header line alone, the
/// columns the engine reads (`medsettle_settlement::csvin`).
const DEDUCTIONS_HEADER: &str = "fixmedins_code,month,setl_id,amount,reason";
const ADVANCES_HEADER: &str =
    "fixmedins_code,month,distributor_code,account_name,account,bank_code,amount";

/// `settle month`: close the month, write its report, say what was paid.
pub fn month(
    config: &Config,
    engine: &Engine,
    store: &dyn Store,
    m: &MonthInput,
) -> Result<String> {
    let ym = YearMonth::parse(&m.period)
        .ok_or_else(|| BadInput::new(format!("--period: `{}` is not YYYY-MM", m.period)))?;
    let pay_date = date_arg("--pay-date", &m.pay_date)?;
    catch_up(engine, store, &|_, _| {})?;
    let empty = |header: &str| format!("{header}\n");
    let closed = engine
        .close_month(
            store,
            ym,
            &m.declarations_csv,
            &m.deductions_csv
                .clone()
                .unwrap_or_else(|| empty(DEDUCTIONS_HEADER)),
            &m.advances_csv
                .clone()
                .unwrap_or_else(|| empty(ADVANCES_HEADER)),
            pay_date,
            now(),
        )
        .map_err(engine_err)?;
    let path = write_report(config, &format!("monthly-{}.csv", m.period), &closed.csv)?;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "monthly settlement {}: {} payments, total {}; report {}",
        m.period,
        closed.batch.payments.len(),
        closed.batch.control_sum(),
        path.display()
    );
    let _ = writeln!(
        t,
        "ledger balanced: {}",
        closed.audit.total_debits == closed.audit.total_credits
    );
    t.push_str(&crate::payfile::drop_for_bank(
        config,
        store,
        &closed.batch,
    )?);
    Ok(t)
}

/// Quarterly supplements inputs (IS-Q-1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarterInput {
    pub year: i32,
    pub quarter: u8,
    pub cases_csv: String,
    pub pay_date: String,
}

/// `settle quarter`.
pub fn quarter(
    config: &Config,
    engine: &Engine,
    store: &dyn Store,
    q: &QuarterInput,
) -> Result<String> {
    let pay_date = date_arg("--pay-date", &q.pay_date)?;
    catch_up(engine, store, &|_, _| {})?;
    let closed = engine
        .close_quarter(store, q.year, q.quarter, &q.cases_csv, pay_date, now())
        .map_err(engine_err)?;
    let mut t = format!(
        "quarterly supplements {}Q{}: {} lines, {} payments, total {}\n",
        q.year,
        q.quarter,
        closed.lines.len(),
        closed.batch.payments.len(),
        closed.batch.control_sum()
    );
    t.push_str(&crate::payfile::drop_for_bank(
        config,
        store,
        &closed.batch,
    )?);
    Ok(t)
}

/// Annual clearing inputs (IS-A-2/3/4): DIP points, or given amounts per institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YearInput {
    pub year: i32,
    pub as_of: String,
    #[serde(default)]
    pub dip_cases_csv: Option<String>,
    #[serde(default)]
    pub coefficients_csv: Option<String>,
    /// Regional DIP budget in yuan (exact decimal).
    #[serde(default)]
    pub budget: Option<String>,
    /// `(name, text)` of the amounts CSV (`fixmedins_code,amount`).
    #[serde(default)]
    pub amounts_csv: Option<NamedText>,
    /// `(name, text)` of the scores CSV (`fixmedins_code,score`).
    pub scores_csv: NamedText,
    pub pay_date: String,
}

/// A file's text with the name the operator gave it, for messages that point at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedText {
    pub name: String,
    pub text: String,
}

/// `settle year`.
pub fn year(config: &Config, engine: &Engine, store: &dyn Store, y: &YearInput) -> Result<String> {
    catch_up(engine, store, &|_, _| {})?;
    let amounts = match (
        &y.dip_cases_csv,
        &y.coefficients_csv,
        &y.budget,
        &y.amounts_csv,
    ) {
        (Some(c), Some(k), Some(b), None) => AnnualAmounts::Dip {
            cases_csv: c.clone(),
            coefficients_csv: k.clone(),
            regional_budget: Money::parse_yuan(b)
                .map_err(|e| BadInput::new(format!("--budget: {e}")))?,
        },
        (None, None, None, Some(a)) => AnnualAmounts::Given(
            csv_pairs(a)?
                .into_iter()
                .map(|(k, v)| {
                    Ok((
                        k,
                        Money::parse_yuan(&v)
                            .map_err(|e| BadInput::new(format!("{}: {e}", a.name)))?,
                    ))
                })
                .collect::<Result<_>>()?,
        ),
        _ => anyhow::bail!(BadInput::new(
            "give either --dip-cases, --coefficients and --budget, or --amounts"
        )),
    };
    let scores = csv_pairs(&y.scores_csv)?
        .into_iter()
        .map(|(k, v)| {
            Ok((
                k,
                v.parse::<u32>()
                    .map_err(|_| BadInput::new(format!("score `{v}` is not a whole number")))?,
            ))
        })
        .collect::<Result<BTreeMap<_, _>>>()?;
    let closed = engine
        .close_year(
            store,
            y.year,
            date_arg("--as-of", &y.as_of)?,
            &amounts,
            &scores,
            date_arg("--pay-date", &y.pay_date)?,
            now(),
        )
        .map_err(engine_err)?;
    let mut t = format!(
        "annual clearing {}: {} payments, total {}\n",
        y.year,
        closed.batch.payments.len(),
        closed.batch.control_sum()
    );
    t.push_str(&crate::payfile::drop_for_bank(
        config,
        store,
        &closed.batch,
    )?);
    Ok(t)
}

/// Two-column CSV rows (with a header) as code → value.
fn csv_pairs(file: &NamedText) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut r = csv::Reader::from_reader(file.text.as_bytes());
    for (i, row) in r.records().enumerate() {
        let row = row.map_err(|e| BadInput::new(format!("{}: {e}", file.name)))?;
        let (Some(code), Some(v)) = (row.get(0), row.get(1)) else {
            anyhow::bail!(BadInput::new(format!(
                "{} line {}: two columns expected",
                file.name,
                i + 2
            )));
        };
        out.insert(code.to_owned(), v.to_owned());
    }
    Ok(out)
}

/// 3202 detail reconciliation inputs (IS-D-9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileInput {
    pub institution: String,
    pub from: String,
    pub to: String,
    pub rows_csv: String,
}

/// `settle reconcile-detail`: the result file (standard output) and a one-line summary
/// (standard error).
pub fn reconcile_detail(
    engine: &Engine,
    store: &dyn Store,
    r: &ReconcileInput,
) -> Result<(String, String)> {
    let rows = Stmt3202Row::from_csv_str(&r.rows_csv)
        .map_err(|e| BadInput::new(format!("--rows: {e}")))?;
    let results = engine
        .reconcile_3202(
            store,
            &r.institution,
            date_arg("--from", &r.from)?,
            date_arg("--to", &r.to)?,
            &rows,
        )
        .map_err(engine_err)?;
    let differ = results
        .iter()
        .filter(|r| !matches!(r.finding, DetailFinding::Match))
        .count();
    Ok((
        detail_results_csv(&results),
        format!("{} settlements compared, {differ} differ\n", results.len()),
    ))
}

/// The `settle status` text: the engine's consumer, its lag, and the open settlement days.
pub fn status_text(engine: &Engine, store: &dyn Store) -> Result<String> {
    let s = engine.status(store).map_err(engine_err)?;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "consumer {}: next offset {}, lag {} records",
        s.consumer, s.next_offset, s.lag
    );
    let _ = writeln!(t, "claims indexed for reconciliation: {}", s.claims_indexed);
    let _ = writeln!(
        t,
        "last daily close: {}",
        s.last_daily.map_or("-".into(), |d| d.to_string())
    );
    for x in &s.suspensions {
        let _ = writeln!(
            t,
            "suspended {}: {} (by {} since {})",
            x.fixmedins_code, x.reason, x.by, x.since
        );
    }
    for d in &s.open_days {
        let _ = writeln!(
            t,
            "open settlement date {}: {} claims, pay date {}",
            d.settlement_date,
            d.pending_claims,
            d.pay_date.map_or("-".into(), |p| p.to_string())
        );
    }
    Ok(t)
}

/// Suspend or resume an institution's daily disbursement (IS-RK-2): the operator's reason is
/// kept and shown by `settle status` and in every skipped daily close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuspensionInput {
    pub institution: String,
    /// Why (required to suspend; not taken to resume).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `settle suspend|resume`: what changed, in one line.
pub fn suspend_or_resume(
    engine: &Engine,
    store: &dyn Store,
    input: &SuspensionInput,
    suspend: bool,
    by: &str,
) -> Result<String> {
    let change = if suspend {
        let reason = input
            .reason
            .as_deref()
            .ok_or_else(|| BadInput::new("--reason: say why the institution is suspended"))?;
        engine.suspend_institution(store, &input.institution, reason, by, now())
    } else {
        if input.reason.is_some() {
            anyhow::bail!(BadInput::new("--reason: a resumption takes none"));
        }
        engine.resume_institution(store, &input.institution, by, now())
    }
    .map_err(engine_err)?;
    Ok(format!("{change}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_say_which_calendar_dated_them() {
        let report = "run_id,settlement_dates,pay_total\nD1,\"2027-01-01 2027-01-02\",1.00\n";
        let marked = with_calendar_column(report, true).unwrap();
        assert_eq!(
            marked,
            "run_id,settlement_dates,pay_total,calendar\nD1,2027-01-01 2027-01-02,1.00,provisional\n"
        );
        let official = with_calendar_column(report, false).unwrap();
        assert!(official.ends_with(",official\n"), "{official}");
        assert_eq!(
            with_calendar_column("a,b\n", true).unwrap(),
            "a,b,calendar\n"
        );
    }
}
