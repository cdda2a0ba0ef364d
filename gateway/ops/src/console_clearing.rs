//! The console's clearing view (`specs/console.md`, "Clearing"): a month's clearing between
//! provinces from the same function `GET /ops/interregion/clearing?month=YYYY-MM` answers from
//! (`NationalService::run_clearing(month, false)`: what this gateway knows, nothing sent),
//! as a page, each statement's CSV and the month's workbook
//! ([`crate::console_xlsx::clearing_xlsx`]).

use medsettle_console as page;
use medsettle_service::interregion_clearing::ClearingReport;
use medsettle_settlement::YearMonth;

/// What a clearing path under `/console/` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClearingAsk {
    /// `clearing?month=YYYY-MM` (the month before `today` when none is given).
    Page,
    /// `clearing/<YYYY-MM>/<stmt_id>.csv`.
    StatementCsv { stmt_id: String },
    /// `xlsx/clearing-<YYYY-MM>.xlsx`.
    Workbook,
}

/// The month before the one `today` is in: the month a clearing is run for.
pub fn last_month(today: time::Date) -> YearMonth {
    let first = today.replace_day(1).expect("day 1 exists");
    YearMonth::of(first.previous_day().expect("a day before the 1st"))
}

fn month_arg(text: &str) -> Result<YearMonth, String> {
    YearMonth::parse(text).ok_or_else(|| format!("month `{text}`: YYYY-MM"))
}

/// The clearing `rest` (the path under `/console/`) and `query` ask for, if it is one; `Err`
/// for a month that does not parse or another parameter.
pub fn route(
    rest: &str,
    query: Option<&str>,
    today: time::Date,
) -> Option<Result<(ClearingAsk, YearMonth), String>> {
    if rest.trim_end_matches('/') == "clearing" {
        let month = match query.filter(|q| !q.is_empty()) {
            None => Ok(last_month(today)),
            Some(q) => match q.strip_prefix("month=") {
                Some(m) => month_arg(m),
                None => Err("the clearing page takes month=YYYY-MM".into()),
            },
        };
        return Some(month.map(|m| (ClearingAsk::Page, m)));
    }
    if let Some(tail) = rest.strip_prefix("clearing/") {
        let (month, file) = tail.split_once('/')?;
        let stmt_id = file.strip_suffix(".csv")?.to_owned();
        return Some(month_arg(month).map(|m| (ClearingAsk::StatementCsv { stmt_id }, m)));
    }
    let month = rest
        .strip_prefix("xlsx/clearing-")
        .and_then(|r| r.strip_suffix(".xlsx"))?;
    Some(month_arg(month).map(|m| (ClearingAsk::Workbook, m)))
}

/// The page's content from the report (amounts as integer fen; nothing computed).
pub fn view(report: &ClearingReport) -> page::ClearingView {
    page::ClearingView {
        month: report.month.clone(),
        statements: report
            .statements
            .iter()
            .map(|s| page::ClearingStatementRow {
                stmt_id: s.stmt_id.clone(),
                role: s.role.clone(),
                insured_province: s.insured_province.clone(),
                treatment_province: s.treatment_province.clone(),
                count: s.count,
                medfee_fen: s.medfee_sumamt.fen(),
                fund_fen: s.fund_pay_sumamt.fen(),
                confirmed_fund_fen: s.confirmed_fund_pay_sumamt.fen(),
                refused_fund_fen: s.refused_fund_pay_sumamt.fen(),
                refused_lines: s.refused_lines,
                lines: s.lines,
                sent: s.sent,
                replied: s.replied,
                statement_due: s.statement_due.clone(),
                transfer_due: s.transfer_due.clone(),
            })
            .collect(),
        net: report
            .net
            .iter()
            .map(|(p, m)| (p.clone(), m.fen()))
            .collect(),
        transfers: report
            .transfers
            .iter()
            .map(|t| page::ClearingTransferRow {
                transfer_id: t.transfer_id.clone(),
                payer: t.payer.to_string(),
                receiver: t.receiver.to_string(),
                amount_fen: t.amount.fen(),
            })
            .collect(),
        prepayments: report
            .prepayments
            .iter()
            .map(|p| page::ClearingPrepaymentRow {
                insured_province: p.insured_province.clone(),
                treatment_province: p.treatment_province.clone(),
                year: p.year,
                prior_year_fund_fen: p.prior_year_fund_pay_sumamt.fen(),
                required_fen: p.required.fen(),
            })
            .collect(),
        errors: report.errors.clone(),
    }
}

/// A statement's CSV as the report carries it.
pub fn statement_csv<'a>(report: &'a ClearingReport, stmt_id: &str) -> Option<&'a str> {
    report
        .statements
        .iter()
        .find(|s| s.stmt_id == stmt_id)
        .map(|s| s.csv.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn clearing_paths_name_a_month() {
        let today = date!(2026 - 01 - 05);
        let ym = |t: &str| YearMonth::parse(t).unwrap();
        assert_eq!(
            route("clearing", None, today),
            Some(Ok((ClearingAsk::Page, ym("2025-12"))))
        );
        assert_eq!(
            route("clearing", Some("month=2026-11"), today),
            Some(Ok((ClearingAsk::Page, ym("2026-11"))))
        );
        assert!(matches!(
            route("clearing", Some("month=11"), today),
            Some(Err(_))
        ));
        assert!(matches!(
            route("clearing", Some("x=1"), today),
            Some(Err(_))
        ));
        assert_eq!(
            route("clearing/2026-11/CLR-1.csv", None, today),
            Some(Ok((
                ClearingAsk::StatementCsv {
                    stmt_id: "CLR-1".into()
                },
                ym("2026-11")
            )))
        );
        assert_eq!(
            route("xlsx/clearing-2026-11.xlsx", None, today),
            Some(Ok((ClearingAsk::Workbook, ym("2026-11"))))
        );
        assert_eq!(route("xlsx/batch-D1.xlsx", None, today), None);
        assert_eq!(route("batches", None, today), None);
        assert_eq!(last_month(date!(2026 - 03 - 31)), ym("2026-02"));
    }
}
