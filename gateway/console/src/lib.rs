//! medsettle-console: the operator console's pages (`specs/console.md`), as HTML strings
//! rendered from plain data structs. No I/O here: the gateway's operator API
//! (`medsettle-ops`, `console.rs`) reads the same functions the `/ops` reads use, fills these
//! structs and serves the strings at `/console/…` on the operator role of mutual TLS.
//!
//! Every page is one self-contained document: the stylesheet and the script are embedded in
//! the binary ([`CSS`], [`JS`]) and inlined, so the console works on a closed network (no CDN)
//! and a page saved to disk renders the same. Labels are Chinese first, with the national
//! field code where staff cross-check against the interface (`fixmedins_code`, …). Amounts
//! are integer fen, shown in yuan with two decimals ([`yuan`]); no floating point anywhere.
//! Actions are buttons that ask for confirmation and then `POST` to the existing operator
//! actions (`/ops/institutions/suspend|resume`, `/ops/bank/ack`) with a fresh
//! `Idempotency-Key`: the console is never a second path to the state.

use std::fmt::Write as _;

mod charts;
mod clearing;
mod closings;
pub use charts::*;
pub use clearing::*;
pub use closings::*;

/// The console's stylesheet, embedded.
pub const CSS: &str = include_str!("../assets/console.css");
/// The console's script (confirmation, then the `/ops` action), embedded.
pub const JS: &str = include_str!("../assets/console.js");

/// Where the console is served.
pub const PREFIX: &str = "/console/";

/// The pages, in the order of the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Overview,
    Institutions,
    Batches,
    Alerts,
    Messages,
}

impl Page {
    pub const ALL: [Page; 5] = [
        Page::Overview,
        Page::Institutions,
        Page::Batches,
        Page::Alerts,
        Page::Messages,
    ];

    /// The path under [`PREFIX`] (`""` for the overview).
    pub fn path(self) -> &'static str {
        match self {
            Page::Overview => "",
            Page::Institutions => "institutions",
            Page::Batches => "batches",
            Page::Alerts => "alerts",
            Page::Messages => "messages",
        }
    }

    /// The page a path under [`PREFIX`] names.
    pub fn from_path(path: &str) -> Option<Page> {
        match path.trim_end_matches('/') {
            "" | "overview" => Some(Page::Overview),
            "institutions" => Some(Page::Institutions),
            "batches" => Some(Page::Batches),
            "alerts" => Some(Page::Alerts),
            "messages" => Some(Page::Messages),
            _ => None,
        }
    }

    /// Chinese first, then English.
    pub fn title(self) -> &'static str {
        match self {
            Page::Overview => "总览 Overview",
            Page::Institutions => "定点医药机构 Institutions",
            Page::Batches => "批次与支付 Batches and payments",
            Page::Alerts => "告警 Alerts",
            Page::Messages => "报文查询 Messages",
        }
    }
}

/// Integer fen as yuan with two decimals: `123456` → `1234.56`, `-5` → `-0.05`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A payment or batch status in Chinese, then the word the interface and `bank status` use.
pub fn status_label(status: &str) -> String {
    let zh = match status {
        "sent" => "已发送",
        "accepted" => "银行已受理",
        "pending" => "处理中",
        "paid" => "已支付",
        "failed" => "失败",
        "returned" => "已退回",
        "rendered" => "已生成",
        "dropped" => "已投递",
        "acknowledged" => "已回执",
        _ => "",
    };
    if zh.is_empty() {
        escape(status)
    } else {
        format!("{zh} {}", escape(status))
    }
}

/// A whole page: header, navigation, `body`, the result line of actions, the inlined assets.
fn layout(page: Page, generated_at: &str, body: &str) -> String {
    let mut nav = String::new();
    for p in Page::ALL {
        let _ = write!(
            nav,
            r#"<a href="{PREFIX}{}"{}>{}</a>"#,
            p.path(),
            if p == page { r#" class="active""# } else { "" },
            p.title()
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · medsettle</title><style>{CSS}</style></head>\
         <body data-page=\"{path}\"><header><h1>医保结算网关 medsettle 操作台</h1><nav>{nav}</nav>\
         <span class=\"note\">生成时间 {at}</span></header><main>{body}\
         <section class=\"panel\"><h2>操作结果 Action result</h2><div id=\"result\"></div></section>\
         </main><script>{JS}</script></body></html>\n",
        title = page.title(),
        path = page.path(),
        at = escape(generated_at),
    )
}

fn panel(title: &str, id: &str, inner: &str) -> String {
    format!(r#"<section class="panel" id="{id}"><h2>{title}</h2>{inner}</section>"#)
}

fn kv(rows: &[(&str, String)]) -> String {
    let mut t = String::from(r#"<dl class="kv">"#);
    for (k, v) in rows {
        let _ = write!(t, "<dt>{k}</dt><dd>{v}</dd>");
    }
    t.push_str("</dl>");
    t
}

/// An action button: asks for confirmation (and a reason when `ask_reason` is given), then
/// `POST /ops/<action>` with `fields` (a JSON object) and a fresh `Idempotency-Key`.
fn action_button(
    label: &str,
    action: &str,
    fields_json: &str,
    confirm: &str,
    ask_reason: Option<&str>,
) -> String {
    format!(
        r#"<button class="act" data-action="{}" data-fields="{}" data-confirm="{}"{}>{}</button>"#,
        escape(action),
        escape(fields_json),
        escape(confirm),
        ask_reason.map_or(String::new(), |r| format!(
            r#" data-ask-reason="{}""#,
            escape(r)
        )),
        label
    )
}

/// A JSON string literal (for the buttons' fields).
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// Overview
// ---------------------------------------------------------------------------------------------

/// A settlement date not yet closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDay {
    pub settlement_date: String,
    pub pay_date: Option<String>,
    pub pending_claims: u64,
}

/// Everything the overview shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overview {
    pub generated_at: String,
    pub journal_records: u64,
    pub journal_disk_bytes: u64,
    pub journal_writable: bool,
    /// The settlement engine's consumer, its next offset and its lag (durable records unread).
    pub consumer: String,
    pub next_offset: u64,
    pub consumer_lag: u64,
    /// Today (China time) and the pay date of today's settlements.
    pub today: String,
    pub today_pay_date: Option<String>,
    /// Send before (IS-D-5): the pay date at the daily cutoff.
    pub deadline: Option<String>,
    /// The batch of that pay date, if closed: id and state.
    pub today_batch: Option<(String, String)>,
    pub last_daily: Option<String>,
    pub open_days: Vec<OpenDay>,
    pub alerts_open: u64,
    pub alerts_total: u64,
    pub calendar_official_years: Vec<i32>,
    pub calendar_provisional_years: Vec<i32>,
    /// Whether today's pay date lies on a provisional (derived) calendar.
    pub today_provisional: bool,
    pub legacy_undecided: u64,
    pub suspended: u64,
    /// Requests by transaction, when the operator API can read the metrics registry; `None`
    /// when it cannot, and [`Overview::metrics_note`] says why.
    pub requests_by_infno: Option<Vec<(String, u64)>>,
    /// The 99th percentile of request latency over all transactions, as the upper bound of its
    /// histogram bucket (`≤ 0.05 s`), when the registry was read.
    pub request_p99: Option<String>,
    pub metrics_note: String,
    pub charts: Charts,
}

fn years(list: &[i32]) -> String {
    if list.is_empty() {
        "-".into()
    } else {
        list.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The overview page.
pub fn overview(o: &Overview) -> String {
    let mut body = String::new();
    body.push_str(&panel(
        "日志与消费 Journal and consumer",
        "journal",
        &kv(&[
            ("日志记录数 records", o.journal_records.to_string()),
            ("磁盘字节 disk bytes", o.journal_disk_bytes.to_string()),
            ("可写 writable", o.journal_writable.to_string()),
            ("消费者 consumer", escape(&o.consumer)),
            ("下一偏移 next offset", o.next_offset.to_string()),
            (
                "消费滞后 lag (records)",
                format!(r#"<span id="consumer-lag">{}</span>"#, o.consumer_lag),
            ),
        ]),
    ));
    let batch = o.today_batch.as_ref().map_or_else(
        || "未关闭 not closed".to_owned(),
        |(id, state)| format!("{} · {}", escape(id), status_label(state)),
    );
    let mut open = String::new();
    for d in &o.open_days {
        let _ = write!(
            open,
            "{} → {}: {} 笔; ",
            escape(&d.settlement_date),
            escape(d.pay_date.as_deref().unwrap_or("-")),
            d.pending_claims
        );
    }
    body.push_str(&panel(
        "今日批次 Today's batch",
        "today",
        &kv(&[
            ("今日 today", escape(&o.today)),
            (
                "支付日 pay date",
                escape(o.today_pay_date.as_deref().unwrap_or("-")),
            ),
            (
                "截止 send before (IS-D-5)",
                format!(
                    r#"<span id="deadline">{}</span>"#,
                    escape(o.deadline.as_deref().unwrap_or("-"))
                ),
            ),
            ("批次 batch", batch),
            (
                "最近日结 last daily close",
                escape(o.last_daily.as_deref().unwrap_or("-")),
            ),
            (
                "未结结算日 open settlement dates",
                if open.is_empty() { "-".into() } else { open },
            ),
        ]),
    ));
    body.push_str(&panel(
        "告警与状态 Alerts and state",
        "state",
        &kv(&[
            (
                "未确认告警 open alerts",
                format!(
                    r#"<a href="{PREFIX}alerts" id="alerts-open">{}</a> / {}"#,
                    o.alerts_open, o.alerts_total
                ),
            ),
            ("暂停机构 suspended institutions", o.suspended.to_string()),
            (
                "待确认旧接口调用 legacy calls undecided",
                o.legacy_undecided.to_string(),
            ),
            (
                "工作日历 calendar",
                format!(
                    "官方 official {} · 推算 provisional {} · 今日支付日{}",
                    years(&o.calendar_official_years),
                    years(&o.calendar_provisional_years),
                    if o.today_provisional {
                        "为推算 provisional"
                    } else {
                        "为官方 official"
                    }
                ),
            ),
        ]),
    ));
    let requests = match &o.requests_by_infno {
        Some(rows) if rows.is_empty() => "<p class=\"note\">尚无请求 no requests yet</p>".into(),
        Some(rows) => {
            let mut t = format!(
                "<p>p99 延迟 latency (所有交易 all transactions, 自启动 since start): \
                 <span id=\"request-p99\">{}</span></p>",
                escape(o.request_p99.as_deref().unwrap_or("-"))
            );
            t.push_str(
                "<table><tr><th>交易 <code>infno</code></th><th class=\"num\">请求数 requests</th></tr>",
            );
            for (infno, n) in rows {
                let _ = write!(
                    t,
                    "<tr><td>{}</td><td class=\"num\">{n}</td></tr>",
                    escape(infno)
                );
            }
            t.push_str("</table>");
            t
        }
        None => format!(
            "<p class=\"note\" id=\"metrics-note\">{}</p>",
            escape(&o.metrics_note)
        ),
    };
    body.push_str(&panel(
        "按交易请求 Requests by transaction",
        "requests",
        &requests,
    ));
    let c = &o.charts;
    body.push_str(&panel(
        "每日拨付 Daily disbursement by institution level (金额 yuan)",
        "chart",
        &disbursement_chart(&c.disbursement),
    ));
    body.push_str(&panel(
        "结算到到账 Days to pay (结算日 → 银行起息日 settlement date → value date)",
        "days-to-pay",
        &days_to_pay_chart(&c.days_to_pay),
    ));
    body.push_str(&panel(
        "即时结算占比 Instant share (日结已支付 / 基金支付 paid daily / fund amount)",
        "instant-share",
        &instant_share_chart(&c.instant_share),
    ));
    body.push_str(&panel(
        "请求速率与延迟 Request rate and latency (最近一小时 last hour)",
        "traffic",
        &c.traffic.as_ref().map_or_else(
            || {
                format!(
                    "<p class=\"note\" id=\"traffic-note\">{}</p>",
                    escape(&o.metrics_note)
                )
            },
            traffic_chart,
        ),
    ));
    layout(Page::Overview, &o.generated_at, &body)
}

/// Requests by transaction (`medsettle_requests_total` summed over outcomes, by `infno`) and
/// the p99 latency bucket (`medsettle_request_duration_seconds`) of a Prometheus text
/// exposition. Counts only; no arithmetic on floating point.
pub fn requests_from_metrics(text: &str) -> (Vec<(String, u64)>, Option<String>) {
    let s = parse_metrics(text);
    let p99 = p99_bucket(&s.buckets, s.count);
    (s.requests.into_iter().collect(), p99)
}

/// The value of label `name` in `a="x",b="y"}`.
pub(crate) fn label(labels: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = labels.find(&key)? + key.len();
    let end = labels[start..].find('"')?;
    Some(labels[start..start + end].to_owned())
}

// ---------------------------------------------------------------------------------------------
// Institutions
// ---------------------------------------------------------------------------------------------

/// An operator's suspension of an institution's daily disbursement (IS-RK-2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspensionView {
    pub reason: String,
    pub by: String,
    pub since: String,
}

/// Count and amount of payments in one state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub amount_fen: i64,
}

impl Tally {
    pub fn add(&mut self, amount_fen: i64) {
        self.count += 1;
        self.amount_fen += amount_fen;
    }
}

/// One institution's row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstitutionRow {
    pub fixmedins_code: String,
    pub fixmedins_name: String,
    pub level: String,
    pub suspension: Option<SuspensionView>,
    pub paid: Tally,
    pub failed: Tally,
    /// Sent, accepted or pending: the bank has not said paid or failed.
    pub pending: Tally,
}

/// The rule an operator's suspension applies.
pub const SUSPENSION_RULE: &str = "IS-RK-2";

fn tally(t: Tally) -> String {
    format!("{} ({} 笔)", yuan(t.amount_fen), t.count)
}

/// The institutions page.
pub fn institutions(generated_at: &str, rows: &[InstitutionRow]) -> String {
    let mut t = String::from(
        "<table id=\"institutions\"><tr><th>机构编号 <code>fixmedins_code</code></th>\
         <th>机构名称 <code>fixmedins_name</code></th><th>等级 level</th>\
         <th>状态 status</th><th class=\"num\">已支付 paid 金额</th>\
         <th class=\"num\">失败 failed 金额</th><th class=\"num\">待回执 pending 金额</th>\
         <th>操作 action</th></tr>",
    );
    for r in rows {
        let code = escape(&r.fixmedins_code);
        let fields = format!("{{\"institution\":{}}}", json_string(&r.fixmedins_code));
        let (status, button) = match &r.suspension {
            None => (
                "<span class=\"status-active\">正常 active</span>".to_owned(),
                action_button(
                    "暂停 suspend",
                    "institutions/suspend",
                    &fields,
                    &format!(
                        "暂停 {} 的日结拨付? Suspend the daily disbursement of {}?",
                        r.fixmedins_code, r.fixmedins_code
                    ),
                    Some("暂停原因 reason for the suspension"),
                ),
            ),
            Some(s) => (
                format!(
                    "<span class=\"status-suspended\">已暂停 suspended</span> [{SUSPENSION_RULE}] \
                     {}<br><span class=\"note\">由 {} 于 {}</span>",
                    escape(&s.reason),
                    escape(&s.by),
                    escape(&s.since)
                ),
                action_button(
                    "恢复 resume",
                    "institutions/resume",
                    &fields,
                    &format!(
                        "恢复 {} 的日结拨付? Resume the daily disbursement of {}?",
                        r.fixmedins_code, r.fixmedins_code
                    ),
                    None,
                ),
            ),
        };
        let _ = write!(
            t,
            "<tr class=\"institution\" data-code=\"{code}\"><td>{code}</td><td>{}</td><td>{}</td>\
             <td>{status}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{button}</td></tr>",
            escape(&r.fixmedins_name),
            escape(&r.level),
            tally(r.paid),
            tally(r.failed),
            tally(r.pending),
        );
    }
    t.push_str(
        "</table><p class=\"note\">金额为日结拨付 (daily disbursement) 的支付, 单位元; \
                暂停/恢复调用 <code>POST /ops/institutions/suspend|resume</code>。</p>",
    );
    layout(
        Page::Institutions,
        generated_at,
        &panel("定点医药机构 Institutions", "institutions-panel", &t),
    )
}

// ---------------------------------------------------------------------------------------------
// Batches and payments
// ---------------------------------------------------------------------------------------------

/// One payment of a batch, with what the bank said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentRow {
    pub payment_id: String,
    /// From the engine's daily payments; empty when the payment is not a daily one.
    pub fixmedins_code: String,
    pub amount_fen: i64,
    pub status: String,
    pub bank_reference: Option<String>,
    pub value_date: Option<String>,
    /// ISO 20022 reason code, the bank's own code and text.
    pub iso_code: Option<String>,
    pub bank_code: Option<String>,
    pub bank_text: Option<String>,
    pub receipt_file: Option<String>,
    /// The amount the bank echoed when it differs.
    pub bank_amount_fen: Option<i64>,
}

/// One batch of the outbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchRow {
    pub batch_id: String,
    pub file_name: String,
    pub state: String,
    pub count: u64,
    pub control_sum_fen: i64,
    pub payments: Vec<PaymentRow>,
}

/// The kinds of batch the outbox holds, by the first letter of the batch id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchKind {
    /// `D…`: daily disbursement (IS-D).
    Daily,
    /// `M…`: monthly settlement (IS-M).
    Monthly,
    /// `Q…`: quarterly supplements (IS-Q).
    Quarterly,
    /// `A…`: annual clearing (IS-A).
    Annual,
}

impl BatchKind {
    pub const ALL: [BatchKind; 4] = [
        BatchKind::Daily,
        BatchKind::Monthly,
        BatchKind::Quarterly,
        BatchKind::Annual,
    ];

    pub fn of(batch_id: &str) -> Option<BatchKind> {
        match batch_id.as_bytes().first() {
            Some(b'D') => Some(BatchKind::Daily),
            Some(b'M') => Some(BatchKind::Monthly),
            Some(b'Q') => Some(BatchKind::Quarterly),
            Some(b'A') => Some(BatchKind::Annual),
            _ => None,
        }
    }

    /// The `kind=` parameter of the batches page.
    pub fn param(self) -> &'static str {
        match self {
            BatchKind::Daily => "daily",
            BatchKind::Monthly => "monthly",
            BatchKind::Quarterly => "quarterly",
            BatchKind::Annual => "annual",
        }
    }

    pub fn from_param(p: &str) -> Option<BatchKind> {
        BatchKind::ALL.into_iter().find(|k| k.param() == p)
    }

    pub fn label(self) -> &'static str {
        match self {
            BatchKind::Daily => "日结 daily",
            BatchKind::Monthly => "月结 monthly",
            BatchKind::Quarterly => "季度 quarterly",
            BatchKind::Annual => "年度清算 annual",
        }
    }
}

/// Where the console's action forms post: `/console/act/<action>` (the action's path under
/// `/ops/`); the gateway performs the same action as `POST /ops/<action>`.
pub const ACT_PREFIX: &str = "act/";

/// A button that posts a form to an operator action. The operation id is fixed when the page
/// is rendered, so submitting the same form twice performs the action once (the second
/// answer is the stored one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionForm {
    /// The action's path under `/ops/` (`bank/export`).
    pub action: String,
    /// The action's fields, as form fields.
    pub fields: Vec<(String, String)>,
    pub op_id: String,
    pub label: String,
    pub confirm: String,
}

/// An [`ActionForm`] as HTML: a `POST` form with hidden fields and one submit button.
pub fn action_form(f: &ActionForm) -> String {
    let mut t = format!(
        r#"<form method="post" class="act-form" action="{PREFIX}{ACT_PREFIX}{a}" data-action="{a}" data-confirm="{c}"><input type="hidden" name="op_id" value="{op}">"#,
        a = escape(&f.action),
        c = escape(&f.confirm),
        op = escape(&f.op_id),
    );
    for (k, v) in &f.fields {
        let _ = write!(
            t,
            r#"<input type="hidden" name="{}" value="{}">"#,
            escape(k),
            escape(v)
        );
    }
    let _ = write!(t, r#"<button type="submit">{}</button></form>"#, f.label);
    t
}

/// A pay date whose daily batch is not in the outbox yet: approve its payment summary and
/// drop its payment file (`bank/export`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approval {
    pub pay_date: String,
    /// What is waiting (`已日结 closed, 2 payments` / `3 claims open`).
    pub what: String,
    pub form: ActionForm,
}

/// The batches page's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchesView {
    /// The kind shown; `None` for every batch.
    pub kind: Option<BatchKind>,
    pub batches: Vec<BatchRow>,
    pub approvals: Vec<Approval>,
    /// Apply the receipts in the bank's inbox now (`bank/ingest`).
    pub ingest: ActionForm,
    /// File names under the reports directory, downloadable at `/console/reports/<name>`.
    pub reports: Vec<String>,
    /// Workbooks rendered on request at `/console/xlsx/<name>`.
    pub workbooks: Vec<String>,
    /// The closing of the kind shown (monthly, quarterly, annual): its form.
    pub close: Option<CloseForm>,
}

fn batch_panel(b: &BatchRow, detail: bool) -> String {
    let mut t = format!(
        "<p>文件 file <code>{}</code> · 状态 state {} · 笔数 count {} · 金额合计 control sum {}</p>\
         <table class=\"payments\"><tr><th>支付ID payment id</th>\
         <th>机构编号 <code>fixmedins_code</code></th><th class=\"num\">金额 amount</th>\
         <th>状态 status</th><th>银行流水 bank reference</th><th>起息日 value date</th>\
         <th>原因 reason (ISO / bank)</th><th>回执文件 receipt file</th></tr>",
        escape(&b.file_name),
        status_label(&b.state),
        b.count,
        yuan(b.control_sum_fen)
    );
    for p in &b.payments {
        let reason = [
            p.iso_code.as_deref(),
            p.bank_code.as_deref(),
            p.bank_text.as_deref(),
        ]
        .into_iter()
        .flatten()
        .map(escape)
        .collect::<Vec<_>>()
        .join(" · ");
        let echoed = p.bank_amount_fen.map_or(String::new(), |a| {
            format!(
                "<br><span class=\"note\">银行回显 bank says {}</span>",
                yuan(a)
            )
        });
        let _ = write!(
            t,
            "<tr class=\"payment\" data-payment=\"{id}\"><td>{id}</td><td>{}</td>\
             <td class=\"num\">{}{echoed}</td><td class=\"status-{st}\">{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            escape(&p.fixmedins_code),
            yuan(p.amount_fen),
            status_label(&p.status),
            escape(p.bank_reference.as_deref().unwrap_or("-")),
            escape(p.value_date.as_deref().unwrap_or("-")),
            if reason.is_empty() {
                "-".into()
            } else {
                reason
            },
            escape(p.receipt_file.as_deref().unwrap_or("-")),
            id = escape(&p.payment_id),
            st = escape(&p.status),
        );
    }
    t.push_str("</table>");
    let id = escape(&b.batch_id);
    let title = if detail {
        format!("批次 batch {id}")
    } else {
        format!(r#"批次 batch {id} <a class="detail" href="{PREFIX}batches/{id}">详情 detail</a>"#)
    };
    panel(&title, &format!("batch-{id}"), &t)
}

/// Which tab of the batches area is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Batches(Option<BatchKind>),
    Clearing,
}

fn tabs(active: Tab) -> String {
    let class = |t: Tab| {
        if t == active {
            r#" class="active""#
        } else {
            ""
        }
    };
    let mut t = String::from("<p class=\"tabs\" id=\"batch-kinds\">");
    let _ = write!(
        t,
        r#"<a href="{PREFIX}batches"{}>全部 all</a> "#,
        class(Tab::Batches(None))
    );
    for k in BatchKind::ALL {
        let _ = write!(
            t,
            r#"<a href="{PREFIX}batches?kind={}"{}>{}</a> "#,
            k.param(),
            class(Tab::Batches(Some(k))),
            k.label()
        );
    }
    let _ = write!(
        t,
        r#"<a href="{PREFIX}clearing" id="clearing-tab"{}>省际清算 clearing</a>"#,
        class(Tab::Clearing)
    );
    t.push_str("</p>");
    t
}

fn kind_tabs(kind: Option<BatchKind>) -> String {
    tabs(Tab::Batches(kind))
}

/// The batches area's tabs with the clearing tab shown.
pub(crate) fn kind_tabs_clearing() -> String {
    tabs(Tab::Clearing)
}

fn downloads(reports: &[String], workbooks: &[String]) -> String {
    let mut r = String::from("<ul id=\"reports\">");
    for name in reports {
        let n = escape(name);
        let _ = write!(
            r,
            r#"<li><a href="{PREFIX}reports/{n}" download>{n}</a></li>"#
        );
    }
    for name in workbooks {
        let n = escape(name);
        let _ = write!(
            r,
            r#"<li><a class="xlsx" href="{PREFIX}xlsx/{n}" download>{n}</a></li>"#
        );
    }
    r.push_str("</ul>");
    if reports.is_empty() && workbooks.is_empty() {
        r = "<p class=\"note\">尚无报表 no reports yet</p>".into();
    }
    r
}

/// The batches page: the kinds, the pay dates waiting for approval, the batches of the kind
/// shown with their payments, the receipts action, the reports.
pub fn batches(generated_at: &str, v: &BatchesView) -> String {
    let mut body = kind_tabs(v.kind);
    if let Some(f) = &v.close {
        body.push_str(&panel(
            &format!(
                "审批 Approve: {} (<code>POST /ops/{}</code>, 财务 CSV finance's files)",
                f.label, f.action
            ),
            "close-panel",
            &close_form(f),
        ));
    }
    if matches!(v.kind, None | Some(BatchKind::Daily)) {
        let mut t = String::new();
        if v.approvals.is_empty() {
            t.push_str(
                "<p class=\"note\" id=\"no-approvals\">无待批准的支付日 no pay date waiting</p>",
            );
        } else {
            t.push_str("<table id=\"approvals\"><tr><th>支付日 pay date</th><th>待批 waiting</th><th>操作 action</th></tr>");
            for a in &v.approvals {
                let _ = write!(
                    t,
                    "<tr class=\"approval\" data-date=\"{d}\"><td>{d}</td><td>{}</td><td>{}</td></tr>",
                    escape(&a.what),
                    action_form(&a.form),
                    d = escape(&a.pay_date),
                );
            }
            t.push_str("</table>");
        }
        body.push_str(&panel(
            "待批准 Approve and export (支付汇总单 → 支付文件 payment file)",
            "approvals-panel",
            &t,
        ));
    }
    body.push_str(&panel(
        "银行回执 Bank receipts",
        "ingest-panel",
        &format!(
            "<p class=\"note\">立即读取回执目录 apply the receipts in the bank's inbox now \
             (<code>bank/ingest</code>)</p>{}",
            action_form(&v.ingest)
        ),
    ));
    for b in &v.batches {
        body.push_str(&batch_panel(b, false));
    }
    if v.batches.is_empty() {
        body.push_str(&panel(
            "批次 Batches",
            "no-batches",
            "<p class=\"note\">尚无批次 no batch yet</p>",
        ));
    }
    body.push_str(&panel(
        "报表下载 Reports (支付汇总单 / 明细 / 月结 / 年度清算, CSV / XLSX)",
        "reports-panel",
        &downloads(&v.reports, &v.workbooks),
    ));
    layout(Page::Batches, generated_at, &body)
}

/// One batch: its payments, its actions, its workbooks.
pub fn batch_detail(
    generated_at: &str,
    b: &BatchRow,
    forms: &[ActionForm],
    workbooks: &[String],
) -> String {
    let mut body = kind_tabs(BatchKind::of(&b.batch_id));
    body.push_str(&batch_panel(b, true));
    let mut acts = String::new();
    for f in forms {
        acts.push_str(&action_form(f));
    }
    body.push_str(&panel("操作 Actions", "batch-actions", &acts));
    body.push_str(&panel(
        "下载 Downloads (XLSX)",
        "reports-panel",
        &downloads(&[], workbooks),
    ));
    layout(Page::Batches, generated_at, &body)
}

/// What an action posted from a form did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionResult {
    pub action: String,
    pub op_id: String,
    /// The answer is the stored one of an earlier submit of the same form: nothing was done
    /// again.
    pub replayed: bool,
    pub stdout: String,
    pub stderr: String,
    /// The refusal, when the action was not performed.
    pub error: Option<String>,
    /// Where to go back to.
    pub back: String,
}

/// The page an action form's submit answers with.
pub fn action_result(generated_at: &str, r: &ActionResult) -> String {
    let outcome = match (&r.error, r.replayed) {
        (Some(_), _) => "未执行 not performed",
        (None, true) => {
            "已执行过, 未重复执行 done before under this operation id; nothing done twice"
        }
        (None, false) => "已执行 performed",
    };
    let mut t = format!(
        "<p id=\"action-outcome\" data-action=\"{a}\" data-op-id=\"{op}\" data-replayed=\"{rep}\" data-ok=\"{ok}\">\
         <code>{a}</code> · 操作ID operation id <code>{op}</code> · {outcome}</p>",
        a = escape(&r.action),
        op = escape(&r.op_id),
        rep = r.replayed,
        ok = r.error.is_none(),
    );
    if let Some(e) = &r.error {
        let _ = write!(t, "<pre id=\"action-error\">{}</pre>", escape(e));
    }
    if !r.stdout.is_empty() {
        let _ = write!(t, "<pre id=\"action-stdout\">{}</pre>", escape(&r.stdout));
    }
    if !r.stderr.is_empty() {
        let _ = write!(t, "<pre id=\"action-stderr\">{}</pre>", escape(&r.stderr));
    }
    let _ = write!(
        t,
        r#"<p><a id="back" href="{}">返回 back</a></p>"#,
        escape(&r.back)
    );
    layout(
        Page::Batches,
        generated_at,
        &panel("操作结果 Action result", "action-result", &t),
    )
}

// ---------------------------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------------------------

/// One alert of the bank file drop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertRow {
    pub id: String,
    pub rule: String,
    pub file_name: String,
    /// What happened, as `bank status` says it.
    pub text: String,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<String>,
}

/// The alerts page.
pub fn alerts(generated_at: &str, alerts: &[AlertRow]) -> String {
    let mut t = String::from(
        "<table id=\"alerts\"><tr><th>规则 rule</th><th>文件 file</th><th>内容 what</th>\
         <th>确认 acknowledged</th><th>操作 action</th></tr>",
    );
    for a in alerts {
        let (ack, button) = match &a.acknowledged_by {
            Some(by) => (
                format!(
                    "已确认 by <span class=\"ack-by\">{}</span> {}",
                    escape(by),
                    escape(a.acknowledged_at.as_deref().unwrap_or(""))
                ),
                String::new(),
            ),
            None => (
                "<span class=\"alert-open\">未确认 open</span>".to_owned(),
                action_button(
                    "确认 acknowledge",
                    "bank/ack",
                    &format!("{{\"alert\":{}}}", json_string(&a.id)),
                    &format!("确认告警 Acknowledge alert {}?", a.id),
                    None,
                ),
            ),
        };
        let _ = write!(
            t,
            "<tr class=\"alert\" data-alert=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{ack}</td>\
             <td>{button}</td></tr>",
            escape(&a.id),
            escape(&a.rule),
            escape(&a.file_name),
            escape(&a.text),
        );
    }
    t.push_str("</table>");
    if alerts.is_empty() {
        t = "<p class=\"note\" id=\"no-alerts\">无告警 no alerts</p>".into();
    }
    layout(
        Page::Alerts,
        generated_at,
        &panel("银行文件告警 Bank file-drop alerts", "alerts-panel", &t),
    )
}

// ---------------------------------------------------------------------------------------------
// Message browser
// ---------------------------------------------------------------------------------------------

/// A search of the journal: every field optional, all given must match. Answered through the
/// store's record index (`gateway/store/src/record_index.rs`), newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageQuery {
    /// 报文ID `msgid`, exact.
    pub msgid: String,
    /// 定点医药机构编号 `fixmedins_code`, exact.
    pub institution: String,
    /// 交易编号 `infno`, exact.
    pub infno: String,
    /// 人员编号 `psn_no`, exact, anywhere in the request, answer or claim.
    pub psn_no: String,
    /// 就诊ID `mdtrt_id`, exact.
    pub mdtrt_id: String,
    /// 结算ID `setl_id`, exact.
    pub setl_id: String,
    /// Received at or after (China time, to the year, month, day, hour, minute or second:
    /// `2026-12-05` or `2026-12-05T09:30`).
    pub from_time: String,
    /// Received at or before (same form; it takes in the whole day, minute … it names).
    pub to_time: String,
    /// Continue after this journal offset (the previous page's last): older records only.
    pub before: Option<u64>,
}

/// The query fields, in form order: (parameter, label).
pub const MESSAGE_FIELDS: [(&str, &str); 8] = [
    ("msgid", "报文ID <code>msgid</code>"),
    ("institution", "机构编号 <code>fixmedins_code</code>"),
    ("infno", "交易 <code>infno</code>"),
    ("psn_no", "人员编号 <code>psn_no</code>"),
    ("mdtrt_id", "就诊ID <code>mdtrt_id</code>"),
    ("setl_id", "结算ID <code>setl_id</code>"),
    ("from_time", "起 from (2026-12-05T09:00)"),
    ("to_time", "止 to"),
];

impl MessageQuery {
    /// Parse `a=b&c=d` (form encoding: `+` and `%XX`); unknown parameters are refused.
    pub fn parse(query: Option<&str>) -> Result<MessageQuery, String> {
        let mut q = MessageQuery::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value)
                .ok_or_else(|| format!("`{name}`: not valid form encoding"))?
                .trim()
                .to_owned();
            match name {
                "msgid" => q.msgid = value,
                "institution" => q.institution = value,
                "infno" => q.infno = value,
                "psn_no" => q.psn_no = value,
                "mdtrt_id" => q.mdtrt_id = value,
                "setl_id" => q.setl_id = value,
                "from_time" => q.from_time = value,
                "to_time" => q.to_time = value,
                "before" => {
                    q.before = Some(
                        value
                            .parse()
                            .map_err(|_| format!("before: `{value}` is not a journal offset"))?,
                    )
                }
                other => return Err(format!("`{other}` is not a search field")),
            }
        }
        q.time_range_ms()?;
        Ok(q)
    }

    fn get(&self, name: &str) -> &str {
        match name {
            "msgid" => &self.msgid,
            "institution" => &self.institution,
            "infno" => &self.infno,
            "psn_no" => &self.psn_no,
            "mdtrt_id" => &self.mdtrt_id,
            "setl_id" => &self.setl_id,
            "from_time" => &self.from_time,
            "to_time" => &self.to_time,
            _ => "",
        }
    }

    /// The exact-match fields given: (parameter, value), in form order.
    pub fn terms(&self) -> Vec<(&'static str, &str)> {
        [
            "msgid",
            "institution",
            "infno",
            "psn_no",
            "mdtrt_id",
            "setl_id",
        ]
        .into_iter()
        .map(|name| (name, self.get(name)))
        .filter(|(_, v)| !v.is_empty())
        .collect()
    }

    /// The receive-time range as Unix milliseconds: from the start of what `from_time` names
    /// (inclusive) to the end of what `to_time` names (exclusive). `Err` names a bound that is
    /// not a China time.
    pub fn time_range_ms(&self) -> Result<(Option<i64>, Option<i64>), String> {
        let bound = |name: &str, text: &str| {
            if text.is_empty() {
                return Ok(None);
            }
            china_time_span_ms(text).map(Some).map_err(|why| {
                format!(
                    "{name}: `{text}` is not a time like 2026-12-05 or 2026-12-05T09:30 ({why})"
                )
            })
        };
        let from = bound("from_time", &self.from_time)?.map(|(start, _)| start);
        let to = bound("to_time", &self.to_time)?.map(|(_, end)| end);
        Ok((from, to))
    }

    /// This query as a link to the page after offset `before`.
    pub fn link(&self, before: u64) -> String {
        let mut t = format!("{PREFIX}messages?");
        for (name, _) in MESSAGE_FIELDS {
            let v = self.get(name);
            if !v.is_empty() {
                let _ = write!(t, "{name}={}&", percent_encode(v));
            }
        }
        let _ = write!(t, "before={before}");
        t
    }
}

/// China's offset from UTC, seconds (no daylight saving).
const CHINA_OFFSET_SECONDS: i64 = 8 * 3600;

/// The span of China time a prefix of `YYYY-MM-DDTHH:MM:SS` names (a year, month, day, hour,
/// minute or second; `T` or a space before the hour), as Unix milliseconds `[start, end)`.
pub fn china_time_span_ms(text: &str) -> Result<(i64, i64), String> {
    // Fixed positions and separators of the full form; a prefix must stop after a part.
    const PARTS: [(usize, usize, &str); 6] = [
        (0, 4, ""),
        (5, 7, "-"),
        (8, 10, "-"),
        (11, 13, "T "),
        (14, 16, ":"),
        (17, 19, ":"),
    ];
    let b = text.as_bytes();
    // Which part the text stops after, by its length.
    let given = PARTS
        .iter()
        .position(|(_, end, _)| *end == b.len())
        .map(|i| i + 1)
        .ok_or("it must stop after a year, month, day, hour, minute or second")?;
    let mut v = [0i64, 1, 1, 0, 0, 0];
    for (i, (start, end, seps)) in PARTS[..given].iter().enumerate() {
        if i > 0 && !seps.as_bytes().contains(&b[start - 1]) {
            return Err(format!(
                "`{}` where {seps:?} goes",
                char::from(b[start - 1])
            ));
        }
        let part = text
            .get(*start..*end)
            .filter(|p| p.bytes().all(|c| c.is_ascii_digit()))
            .ok_or("digits expected")?;
        v[i] = part.parse::<i64>().map_err(|e| e.to_string())?;
    }
    let [year, month, day, hour, minute, second] = v;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err("no such date".into());
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("no such time of day".into());
    }
    let at = |y: i64, m: i64, d: i64, seconds: i64| {
        (days_from_civil(y, m, d) * 86_400 + seconds - CHINA_OFFSET_SECONDS) * 1000
    };
    let seconds = hour * 3600 + minute * 60 + second;
    let start = at(year, month, day, seconds);
    let end = match given {
        1 => at(year + 1, 1, 1, 0),
        2 if month == 12 => at(year + 1, 1, 1, 0),
        2 => at(year, month + 1, 1, 0),
        3 => start + 86_400_000,
        4 => start + 3_600_000,
        5 => start + 60_000,
        _ => start + 1000,
    };
    Ok((start, end))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `%XX` and `+` decoding of a form value; `None` if not UTF-8 or a bad escape.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// One journal record found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageRow {
    pub offset: u64,
    pub kind: String,
    pub infno: String,
    pub fixmedins_code: String,
    pub msgid: String,
    pub received_at: String,
    /// The answer's `infcode` (0 accepted), when the record has an answer.
    pub infcode: Option<String>,
}

/// One page of a search: the rows found (newest first), how far it looked, where to go on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessagePage {
    pub rows: Vec<MessageRow>,
    /// Index entries (without any condition: journal records) this page looked at.
    pub examined: u64,
    /// The offset to continue after (`before=`), when there may be older records.
    pub next_before: Option<u64>,
    /// The last durable offset (the search never shows a record a crash could take back).
    pub durable: Option<u64>,
    /// Offsets found whose record failed its checksum.
    pub corrupt: Vec<u64>,
    /// Why the page could not be searched, when it could not (shown instead of rows).
    pub note: Option<String>,
}

/// The message browser: the search form and one page of results.
pub fn messages(generated_at: &str, q: &MessageQuery, page: &MessagePage) -> String {
    let mut form = format!(r#"<form method="get" action="{PREFIX}messages" id="search">"#);
    for (name, label) in MESSAGE_FIELDS {
        let _ = write!(
            form,
            r#"<label>{label} <input name="{name}" value="{}" size="24"></label> "#,
            escape(q.get(name))
        );
    }
    form.push_str(r#"<button type="submit">查询 search</button></form>"#);
    let mut t = String::from(
        "<table id=\"messages\"><tr><th>偏移 offset</th><th>类型 kind</th><th>交易 <code>infno</code></th>\
         <th>机构编号 <code>fixmedins_code</code></th><th>报文ID <code>msgid</code></th>\
         <th>接收时间 received</th><th><code>infcode</code></th></tr>",
    );
    for r in &page.rows {
        let _ = write!(
            t,
            "<tr class=\"message\" data-offset=\"{o}\"><td><a href=\"{PREFIX}messages/{o}\">{o}</a></td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.kind),
            escape(&r.infno),
            escape(&r.fixmedins_code),
            escape(&r.msgid),
            escape(&r.received_at),
            escape(r.infcode.as_deref().unwrap_or("-")),
            o = r.offset,
        );
    }
    t.push_str("</table>");
    if let Some(note) = &page.note {
        let _ = write!(
            t,
            "<p class=\"note\" id=\"search-note\">{}</p>",
            escape(note)
        );
    }
    let _ = write!(
        t,
        "<p class=\"note\" id=\"examined\">新到旧 newest first{} · 查看 examined {} 条索引项 index \
         entries, 找到 found {}; 已持久至 durable through {}.</p>",
        q.before.map_or(String::new(), |b| format!(
            ", 早于偏移 older than offset {b}"
        )),
        page.examined,
        page.rows.len(),
        page.durable.map_or("-".into(), |d| d.to_string())
    );
    if !page.corrupt.is_empty() {
        let _ = write!(
            t,
            "<p class=\"note\" id=\"corrupt\">校验失败 failed their checksum: offsets {}</p>",
            page.corrupt
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(next) = page.next_before {
        let _ = write!(
            t,
            r#"<p><a id="next" href="{}">下一页 next page (older than offset {next})</a></p>"#,
            escape(&q.link(next))
        );
    }
    let body = panel("报文查询 Search the journal", "search-panel", &form)
        + &panel("结果 Results", "results", &t);
    layout(Page::Messages, generated_at, &body)
}

/// One record: the request as received, the answer as sent, the canonical claim, side by
/// side (pretty JSON texts; `None` for a part the record does not have).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageDetail {
    pub row: MessageRow,
    pub request: Option<String>,
    pub answer: Option<String>,
    pub claim: Option<String>,
    /// The whole payload, for records of other kinds.
    pub payload: Option<String>,
}

/// The page of one record.
pub fn message_detail(generated_at: &str, d: &MessageDetail) -> String {
    let r = &d.row;
    let head = kv(&[
        ("偏移 offset", r.offset.to_string()),
        ("类型 kind", escape(&r.kind)),
        ("交易 <code>infno</code>", escape(&r.infno)),
        (
            "机构编号 <code>fixmedins_code</code>",
            escape(&r.fixmedins_code),
        ),
        ("报文ID <code>msgid</code>", escape(&r.msgid)),
        ("接收时间 received", escape(&r.received_at)),
    ]);
    let pre = |t: &Option<String>| {
        t.as_deref().map_or("<p class=\"note\">-</p>".into(), |t| {
            format!("<pre>{}</pre>", escape(t))
        })
    };
    let mut body = panel(&format!("记录 record {}", r.offset), "record", &head);
    let _ = write!(
        body,
        "<div style=\"display:grid;grid-template-columns:1fr 1fr 1fr;gap:1em\">{}{}{}</div>",
        panel("请求 request as received", "request", &pre(&d.request)),
        panel("应答 answer as sent", "answer", &pre(&d.answer)),
        panel("规范结算 canonical claim", "claim", &pre(&d.claim)),
    );
    if d.payload.is_some() {
        body.push_str(&panel("内容 payload", "payload", &pre(&d.payload)));
    }
    layout(Page::Messages, generated_at, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_has_two_decimals_from_integer_fen() {
        assert_eq!(yuan(0), "0.00");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(yuan(123_456), "1234.56");
        assert_eq!(yuan(-5), "-0.05");
        assert_eq!(yuan(-100), "-1.00");
        assert_eq!(yuan(i64::MIN), "-92233720368547758.08");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(json_string("a\"b\\\n"), r#""a\"b\\\u000a""#);
    }

    #[test]
    fn pages_are_self_contained_and_named() {
        for p in Page::ALL {
            assert_eq!(Page::from_path(p.path()), Some(p));
        }
        assert_eq!(Page::from_path("nope"), None);
        let html = institutions("t", &[]);
        assert!(html.contains(CSS) && html.contains(JS));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    #[test]
    fn institutions_show_status_rule_and_the_matching_action() {
        let rows = vec![
            InstitutionRow {
                fixmedins_code: "H1".into(),
                fixmedins_name: "一院<".into(),
                paid: Tally {
                    count: 2,
                    amount_fen: 12_345,
                },
                ..InstitutionRow::default()
            },
            InstitutionRow {
                fixmedins_code: "H2".into(),
                suspension: Some(SuspensionView {
                    reason: "欠款".into(),
                    by: "operator".into(),
                    since: "2026-12-01T10:00:00+08:00".into(),
                }),
                ..InstitutionRow::default()
            },
        ];
        let html = institutions("t", &rows);
        assert!(html.contains("一院&lt;"));
        assert!(html.contains("123.45 (2 笔)"));
        assert!(html.contains(r#"data-action="institutions/suspend""#));
        assert!(html.contains(r#"data-fields="{&quot;institution&quot;:&quot;H1&quot;}""#));
        assert!(html.contains("[IS-RK-2] 欠款"));
        assert!(html.contains(r#"data-action="institutions/resume""#));
    }

    #[test]
    fn alerts_offer_acknowledge_only_while_open() {
        let html = alerts(
            "t",
            &[
                AlertRow {
                    id: "file-conflict/a/1".into(),
                    ..AlertRow::default()
                },
                AlertRow {
                    id: "b".into(),
                    acknowledged_by: Some("operator".into()),
                    ..AlertRow::default()
                },
            ],
        );
        assert_eq!(html.matches(r#"data-action="bank/ack""#).count(), 1);
        assert!(html.contains("&quot;alert&quot;:&quot;file-conflict/a/1&quot;"));
        assert!(html.contains(r#"<span class="ack-by">operator</span>"#));
    }

    #[test]
    fn requests_are_counted_by_transaction_from_the_exposition() {
        let text = "# TYPE medsettle_requests_total counter\n\
            medsettle_requests_total{infno=\"1101\",outcome=\"ok\"} 4\n\
            medsettle_requests_total{infno=\"1101\",outcome=\"rejected\"} 1\n\
            medsettle_requests_total{infno=\"2207\",outcome=\"ok\"} 2\n\
            medsettle_request_duration_seconds_bucket{le=\"0.001\"} 1\n\
            medsettle_request_duration_seconds_bucket{le=\"0.005\"} 6\n\
            medsettle_request_duration_seconds_bucket{le=\"+Inf\"} 7\n\
            medsettle_request_duration_seconds_count 7\n";
        let (rows, p99) = requests_from_metrics(text);
        assert_eq!(rows, vec![("1101".into(), 5), ("2207".into(), 2)]);
        assert_eq!(p99.as_deref(), Some("≤ +Inf s"));
        let (rows, p99) = requests_from_metrics("");
        assert!(rows.is_empty() && p99.is_none());
    }

    #[test]
    fn message_queries_parse_link_and_bound_time() {
        let q = MessageQuery::parse(Some(
            "msgid=H1%2020261205&psn_no=P+1&infno=2207&from_time=2026-12-05T09%3A00&to_time=2026-12-05&before=7",
        ))
        .unwrap();
        assert_eq!(q.msgid, "H1 20261205");
        assert_eq!(q.psn_no, "P 1");
        assert_eq!(q.before, Some(7));
        assert_eq!(
            q.terms(),
            vec![
                ("msgid", "H1 20261205"),
                ("infno", "2207"),
                ("psn_no", "P 1")
            ]
        );
        // 2026-12-05T09:00+08:00 is 01:00Z; the day ends at 2026-12-05T16:00Z.
        assert_eq!(
            q.time_range_ms().unwrap(),
            (Some(1_796_432_400_000), Some(1_796_486_400_000))
        );
        let again = MessageQuery::parse(Some(&q.link(9)[PREFIX.len() + 9..])).unwrap();
        assert_eq!(again.before, Some(9));
        assert_eq!((again.msgid, again.infno), (q.msgid, q.infno));
        assert!(MessageQuery::parse(Some("sql=1")).is_err());
        assert!(MessageQuery::parse(Some("msgid=%zz")).is_err());
        assert!(MessageQuery::parse(Some("before=x")).is_err());
        assert!(MessageQuery::parse(Some("from_time=yesterday")).is_err());
    }

    #[test]
    fn a_time_prefix_names_a_span_of_china_time() {
        let ms = |t: &str| china_time_span_ms(t).unwrap();
        let day = ms("2026-12-05");
        assert_eq!(day.1 - day.0, 86_400_000);
        assert_eq!(ms("2026-12-05T09").0, day.0 + 9 * 3_600_000);
        assert_eq!(
            ms("2026-12-05 09:30"),
            (day.0 + 34_200_000, day.0 + 34_260_000)
        );
        assert_eq!(
            ms("2026-12-05T09:30:15").1 - ms("2026-12-05T09:30:15").0,
            1000
        );
        assert_eq!(ms("2026-12").1, ms("2027-01").0);
        assert_eq!(ms("2026").1, ms("2027-01-01").0);
        assert_eq!(ms("2024-02").1, ms("2024-03-01").0);
        assert_eq!(ms("1970-01-01T08").0, 0, "08:00 in China is the epoch");
        for bad in [
            "2026-12-5",
            "2026-13",
            "2025-02-29",
            "2026-12-05T24",
            "2026/12/05",
            "2026-12-05T09:",
            "twenty",
            "2026-12-05T09:30+08:00",
            "２０２６",
        ] {
            assert!(china_time_span_ms(bad).is_err(), "{bad}");
        }
        assert!(china_time_span_ms("2024-02-29").is_ok());
    }

    #[test]
    fn a_messages_page_links_to_the_older_page_and_says_why_it_has_no_rows() {
        let q = MessageQuery {
            institution: "H1".into(),
            ..MessageQuery::default()
        };
        let page = MessagePage {
            rows: vec![MessageRow {
                offset: 12,
                ..MessageRow::default()
            }],
            examined: 1,
            next_before: Some(12),
            durable: Some(40),
            ..MessagePage::default()
        };
        let html = messages("t", &q, &page);
        assert!(
            html.contains(r#"href="/console/messages?institution=H1&amp;before=12""#),
            "{html}"
        );
        assert!(html.contains(r#"data-offset="12""#));
        let html = messages(
            "t",
            &q,
            &MessagePage {
                note: Some("the record index is off".into()),
                ..MessagePage::default()
            },
        );
        assert!(
            html.contains(r#"id="search-note">the record index is off<"#),
            "{html}"
        );
        assert!(!html.contains(r#"id="next""#));
    }

    #[test]
    fn the_overview_says_when_metrics_are_not_reachable() {
        let o = Overview {
            metrics_note: "metrics not reachable".into(),
            consumer_lag: 7,
            ..Overview::default()
        };
        let html = overview(&o);
        assert!(html.contains(r#"<p class="note" id="metrics-note">metrics not reachable</p>"#));
        assert!(html.contains(r#"<span id="consumer-lag">7</span>"#));
    }
}
