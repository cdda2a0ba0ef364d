//! The clearing page (`/console/clearing?month=YYYY-MM`): a month's clearing between
//! provinces as the operator API reports it from what this gateway knows
//! (`GET /ops/interregion/clearing?month=…`, nothing sent): each statement with its totals
//! and state, each province's net position, the transfers, the prepayments; links to each
//! statement's CSV and to the month's workbook.

use std::fmt::Write as _;

use crate::{PREFIX, escape, layout, panel, yuan};

/// One statement of the month, as the report shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClearingStatementRow {
    pub stmt_id: String,
    /// `treatment` (this gateway is owed) or `insured` (it owes).
    pub role: String,
    pub insured_province: String,
    pub treatment_province: String,
    /// Σ `aaa113` over the lines (reversals count −1).
    pub count: i64,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub confirmed_fund_fen: i64,
    pub refused_fund_fen: i64,
    pub refused_lines: u32,
    pub lines: usize,
    pub sent: bool,
    pub replied: bool,
    pub statement_due: Option<String>,
    pub transfer_due: Option<String>,
}

/// One net transfer between two provinces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClearingTransferRow {
    pub transfer_id: String,
    pub payer: String,
    pub receiver: String,
    pub amount_fen: i64,
}

/// The prepayment an insured province owes a place of treatment for a year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClearingPrepaymentRow {
    pub insured_province: String,
    pub treatment_province: String,
    pub year: i32,
    pub prior_year_fund_fen: i64,
    pub required_fen: i64,
}

/// The clearing page's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClearingView {
    /// `YYYY-MM`.
    pub month: String,
    pub statements: Vec<ClearingStatementRow>,
    /// Net position per province, receivable positive.
    pub net: Vec<(String, i64)>,
    pub transfers: Vec<ClearingTransferRow>,
    pub prepayments: Vec<ClearingPrepaymentRow>,
    /// Peers not reached, statements not made (the report's errors).
    pub errors: Vec<String>,
}

impl ClearingView {
    /// The month's workbook, rendered on request at `/console/xlsx/<name>`.
    pub fn workbook_name(&self) -> String {
        clearing_workbook_name(&self.month)
    }
}

/// `clearing-<YYYY-MM>.xlsx`.
pub fn clearing_workbook_name(month: &str) -> String {
    format!("clearing-{month}.xlsx")
}

/// Where a statement's CSV downloads: `/console/clearing/<month>/<stmt_id>.csv`.
pub fn statement_csv_path(month: &str, stmt_id: &str) -> String {
    format!("{PREFIX}clearing/{month}/{stmt_id}.csv")
}

fn yes(b: bool) -> &'static str {
    if b { "是 yes" } else { "否 no" }
}

fn statements_table(v: &ClearingView) -> String {
    if v.statements.is_empty() {
        return "<p class=\"note\" id=\"no-statements\">本月无清算单 no statement for this month</p>"
            .into();
    }
    let mut t = String::from(
        "<table id=\"statements\"><tr><th>清算单 stmt_id</th><th>角色 role</th>\
         <th>参保地 insured</th><th>就医地 treatment</th><th class=\"num\">人次 count</th>\
         <th class=\"num\">医疗费总额 medfee_sumamt</th><th class=\"num\">基金支付 fund_pay_sumamt</th>\
         <th class=\"num\">已确认 confirmed</th><th class=\"num\">拒付 refused</th>\
         <th>已发送 sent</th><th>已回复 replied</th><th>到期 due</th><th>CSV</th></tr>",
    );
    for s in &v.statements {
        let _ = write!(
            t,
            "<tr class=\"statement\" data-stmt=\"{id}\" data-fund-fen=\"{fund}\" data-medfee-fen=\"{medfee}\">\
             <td>{id}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{} ({} 行 lines)</td><td>{}</td><td>{}</td><td>{} / {}</td>\
             <td><a class=\"csv\" href=\"{}\" download>CSV</a></td></tr>",
            escape(&s.role),
            escape(&s.insured_province),
            escape(&s.treatment_province),
            s.count,
            yuan(s.medfee_fen),
            yuan(s.fund_fen),
            yuan(s.confirmed_fund_fen),
            yuan(s.refused_fund_fen),
            s.refused_lines,
            yes(s.sent),
            yes(s.replied),
            escape(s.statement_due.as_deref().unwrap_or("-")),
            escape(s.transfer_due.as_deref().unwrap_or("-")),
            escape(&statement_csv_path(&v.month, &s.stmt_id)),
            id = escape(&s.stmt_id),
            fund = s.fund_fen,
            medfee = s.medfee_fen,
        );
    }
    t.push_str("</table>");
    t
}

fn net_table(v: &ClearingView) -> String {
    if v.net.is_empty() {
        return "<p class=\"note\" id=\"no-net\">尚无双方确认的清算单 no statement answered on both \
                sides yet: no net position</p>"
            .into();
    }
    let mut t = String::from(
        "<table id=\"net\"><tr><th>省份 province</th><th class=\"num\">净额 net (应收+ 应付−)</th></tr>",
    );
    for (province, fen) in &v.net {
        let _ = write!(
            t,
            "<tr class=\"net\" data-province=\"{p}\" data-fen=\"{fen}\"><td>{p}</td>\
             <td class=\"num\">{}</td></tr>",
            yuan(*fen),
            p = escape(province),
        );
    }
    t.push_str("</table>");
    t
}

fn transfers_table(v: &ClearingView) -> String {
    if v.transfers.is_empty() {
        return "<p class=\"note\">无划拨 no transfer</p>".into();
    }
    let mut t = String::from(
        "<table id=\"transfers\"><tr><th>划拨 transfer_id</th><th>付款省 payer</th>\
         <th>收款省 receiver</th><th class=\"num\">金额 amount</th></tr>",
    );
    for x in &v.transfers {
        let _ = write!(
            t,
            "<tr class=\"transfer\" data-transfer=\"{id}\" data-fen=\"{}\"><td>{id}</td><td>{}</td>\
             <td>{}</td><td class=\"num\">{}</td></tr>",
            x.amount_fen,
            escape(&x.payer),
            escape(&x.receiver),
            yuan(x.amount_fen),
            id = escape(&x.transfer_id),
        );
    }
    t.push_str("</table>");
    t
}

fn prepayments_table(v: &ClearingView) -> String {
    if v.prepayments.is_empty() {
        return "<p class=\"note\">无预付 no prepayment</p>".into();
    }
    let mut t = String::from(
        "<table id=\"prepayments\"><tr><th>参保地 insured</th><th>就医地 treatment</th>\
         <th>年度 year</th><th class=\"num\">上年基金支付 prior year fund</th>\
         <th class=\"num\">应预付 required</th></tr>",
    );
    for p in &v.prepayments {
        let _ = write!(
            t,
            "<tr class=\"prepayment\"><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            escape(&p.insured_province),
            escape(&p.treatment_province),
            p.year,
            yuan(p.prior_year_fund_fen),
            yuan(p.required_fen),
        );
    }
    t.push_str("</table>");
    t
}

/// The clearing page of a month.
pub fn clearing(generated_at: &str, v: &ClearingView) -> String {
    let month = escape(&v.month);
    let mut body = crate::kind_tabs_clearing();
    body.push_str(&panel(
        &format!("省际清算 Clearing between provinces {month}"),
        "clearing-month",
        &format!(
            "<form method=\"get\" action=\"{PREFIX}clearing\" id=\"month-form\"><label>月份 month \
             <input name=\"month\" value=\"{month}\" size=\"8\"></label> \
             <button type=\"submit\">查看 show</button></form>\
             <p class=\"note\">本网关已知的清算 (未发送任何报文) what this gateway knows; nothing \
             is sent (<code>GET /ops/interregion/clearing?month={month}</code>).</p>\
             <p><a id=\"clearing-xlsx\" class=\"xlsx\" href=\"{PREFIX}xlsx/{book}\" download>{book}</a></p>",
            book = escape(&v.workbook_name()),
        ),
    ));
    body.push_str(&panel(
        "清算单 Statements",
        "statements-panel",
        &statements_table(v),
    ));
    body.push_str(&panel("净额 Net positions", "net-panel", &net_table(v)));
    body.push_str(&panel(
        "划拨 Transfers",
        "transfers-panel",
        &transfers_table(v),
    ));
    body.push_str(&panel(
        "预付 Prepayments",
        "prepayments-panel",
        &prepayments_table(v),
    ));
    if !v.errors.is_empty() {
        let mut t = String::from("<ul id=\"clearing-errors\">");
        for e in &v.errors {
            let _ = write!(t, "<li>{}</li>", escape(e));
        }
        t.push_str("</ul>");
        body.push_str(&panel("问题 Errors", "errors-panel", &t));
    }
    layout(crate::Page::Batches, generated_at, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clearing_page_shows_statements_positions_and_downloads() {
        let v = ClearingView {
            month: "2026-11".into(),
            statements: vec![ClearingStatementRow {
                stmt_id: "CLR-330000-440000-202611".into(),
                role: "treatment".into(),
                count: 3,
                fund_fen: 123_456,
                replied: true,
                ..ClearingStatementRow::default()
            }],
            net: vec![("330000".into(), -123_456), ("440000".into(), 123_456)],
            transfers: vec![ClearingTransferRow {
                transfer_id: "X202611330000440000".into(),
                payer: "330000".into(),
                receiver: "440000".into(),
                amount_fen: 123_456,
            }],
            ..ClearingView::default()
        };
        let html = clearing("t", &v);
        assert!(html.contains(r#"data-stmt="CLR-330000-440000-202611" data-fund-fen="123456""#));
        assert!(html.contains("<td class=\"num\">1234.56</td>"));
        assert!(html.contains(r#"href="/console/xlsx/clearing-2026-11.xlsx""#));
        assert!(html.contains(r#"href="/console/clearing/2026-11/CLR-330000-440000-202611.csv""#));
        assert!(html.contains(r#"data-province="330000" data-fen="-123456""#));
        assert!(html.contains(r#"data-transfer="X202611330000440000" data-fen="123456""#));
        let empty = clearing("t", &ClearingView::default());
        assert!(empty.contains(r#"id="no-statements""#) && empty.contains(r#"id="no-net""#));
    }
}
