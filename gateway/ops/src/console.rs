//! The operator console (`specs/console.md`): `GET /console/…` on the operator role of mutual
//! TLS. The pages are rendered by `medsettle-console` from data read here through the same
//! functions the `/ops` reads use — the engine's status and daily payments, the file drop's
//! status and payment states, the legacy two-phase calls left undecided, the cross-region
//! clearing report — never a second path to the state. Actions on the pages are
//! `POST /ops/<action>` requests ([`crate::api`]) or forms performing the same actions.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;
use bytes::Bytes;
use http::Method;
use medsettle_canonical::{CHINA_OFFSET, ReceiptStatus};
use medsettle_console as page;
use medsettle_server::{CONTENT_TYPE_TEXT, OperatorRequest, ServiceResponse};
use medsettle_service::HisService;
use medsettle_store::{IndexField, RecordQuery, Store};

use crate::actions::Operations;
use crate::settle::engine_err;

/// Where the console is served (the server passes the whole path through).
pub const PREFIX: &str = page::PREFIX;

/// Content type of the pages.
pub const CONTENT_TYPE_HTML: &str = "text/html; charset=utf-8";
/// Content type of an XLSX report.
pub const CONTENT_TYPE_XLSX: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/// Content type of a CSV report.
pub const CONTENT_TYPE_CSV: &str = "text/csv; charset=utf-8";

/// What the overview says when the gateway's own `/metrics` could not be read.
pub const METRICS_NOTE: &str = "按交易请求数暂不可读 requests by transaction unavailable: \
    the console could not read the gateway's GET /metrics";

fn response(status: u16, content_type: &str, body: impl Into<Bytes>) -> ServiceResponse {
    ServiceResponse {
        status,
        content_type: content_type.to_owned(),
        body: body.into(),
        outcome: if status == 200 { "ok" } else { "rejected" },
        infno: None,
        headers: Vec::new(),
        abort: false,
    }
}

/// Answer one `/console/…` request; `req.path` is the whole path (`/console/alerts`). `his` is
/// the request service, whose cross-region clearing the clearing view reads.
pub async fn answer(
    ops: Arc<Operations>,
    his: Arc<HisService>,
    req: OperatorRequest,
) -> ServiceResponse {
    let act_prefix = format!("{PREFIX}{}", page::ACT_PREFIX);
    if req.method == Method::POST && req.path.starts_with(&act_prefix) {
        return act(ops, req).await;
    }
    if !matches!(req.method, Method::GET | Method::HEAD) {
        return response(
            405,
            CONTENT_TYPE_TEXT,
            "the console is read with GET; its forms POST to /console/act/<action> \
             (and its buttons to /ops/<action>)\n",
        );
    }
    let rest = req.path.strip_prefix(PREFIX).unwrap_or("").to_owned();
    let today = crate::open::today_in_china();
    match crate::console_clearing::route(&rest, req.query.as_deref(), today) {
        Some(Ok((ask, month))) => return clearing(&his, ask, month).await,
        Some(Err(why)) => return response(400, CONTENT_TYPE_TEXT, why + "\n"),
        None => {}
    }
    let metrics = if page::Page::from_path(&rest) == Some(page::Page::Overview) {
        Some(own_metrics(ops.config()).await)
    } else {
        None
    };
    let query = req.query.clone();
    let done =
        tokio::task::spawn_blocking(move || render(&ops, &rest, query.as_deref(), metrics)).await;
    match done {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => response(
            503,
            CONTENT_TYPE_TEXT,
            format!("cannot be read now: {e:#}\n"),
        ),
        Err(e) => response(500, CONTENT_TYPE_TEXT, format!("internal error: {e}\n")),
    }
}

/// How long the overview waits for the gateway's own `/metrics`.
pub const METRICS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The gateway's `/metrics` text, read as a client of itself: the registry belongs to the
/// transport and the operator API is not handed it, so the console asks the address the
/// gateway published (`gateway.json`) with the configured operator certificate. `Err` says
/// why it could not.
pub async fn own_metrics(config: &crate::config::Config) -> Result<String, String> {
    let Some(file) = crate::remote::GatewayFile::read(config) else {
        return Err("no gateway.json: the gateway's address is not known".into());
    };
    let Some(op) = &config.operator else {
        return Err("no [operator] section: the console cannot read /metrics".into());
    };
    let tls = medsettle_client::his::client_tls(&op.ca, &op.cert, &op.key)
        .map_err(|e| format!("operator certificate: {e:#}"))?;
    let fetch = async {
        let mut conn = medsettle_client::his::HisConnection::connect(file.addr, tls).await?;
        conn.get(medsettle_server::routes::PATH_METRICS).await
    };
    match tokio::time::timeout(METRICS_TIMEOUT, fetch).await {
        Ok(Ok((200, body))) => Ok(String::from_utf8_lossy(&body).into_owned()),
        Ok(Ok((status, _))) => Err(format!("GET /metrics answered {status}")),
        Ok(Err(e)) => Err(format!("GET /metrics: {e:#}")),
        Err(_) => Err(format!(
            "GET /metrics: no answer within {METRICS_TIMEOUT:?}"
        )),
    }
}

/// The clearing view of `month` (`crate::console_clearing`): the report
/// `GET /ops/interregion/clearing?month=` answers, from the same function, as a page, a
/// statement's CSV or the month's workbook.
async fn clearing(
    his: &HisService,
    ask: crate::console_clearing::ClearingAsk,
    month: medsettle_settlement::YearMonth,
) -> ServiceResponse {
    use crate::console_clearing::{ClearingAsk, statement_csv, view};
    let report = match his.national().run_clearing(month, false).await {
        Ok(r) => r,
        Err(e) => {
            return response(
                503,
                CONTENT_TYPE_TEXT,
                format!("the clearing of {month} cannot be read now: {e}\n"),
            );
        }
    };
    match ask {
        ClearingAsk::Page => response(
            200,
            CONTENT_TYPE_HTML,
            page::clearing(&generated_at(), &view(&report)),
        ),
        ClearingAsk::StatementCsv { stmt_id } => match statement_csv(&report, &stmt_id) {
            Some(csv) => response(200, CONTENT_TYPE_CSV, csv.to_owned()),
            None => response(
                404,
                CONTENT_TYPE_TEXT,
                format!("no statement `{stmt_id}` in the clearing of {month}\n"),
            ),
        },
        ClearingAsk::Workbook => {
            let book =
                tokio::task::spawn_blocking(move || crate::console_xlsx::clearing_xlsx(&report))
                    .await;
            match book {
                Ok(Ok(bytes)) => response(200, CONTENT_TYPE_XLSX, bytes),
                Ok(Err(e)) => response(
                    500,
                    CONTENT_TYPE_TEXT,
                    format!("the clearing workbook of {month}: {e:#}\n"),
                ),
                Err(e) => response(500, CONTENT_TYPE_TEXT, format!("internal error: {e}\n")),
            }
        }
    }
}

/// The page or report at `rest` (the path under [`PREFIX`]); `metrics` is the gateway's
/// `/metrics` text for the overview. Blocking.
pub fn render(
    ops: &Operations,
    rest: &str,
    query: Option<&str>,
    metrics: Option<Result<String, String>>,
) -> Result<ServiceResponse> {
    if let Some(name) = rest.strip_prefix("reports/") {
        return Ok(report(ops, name));
    }
    if let Some(name) = rest.strip_prefix("xlsx/") {
        return Ok(match crate::console_xlsx::workbook(ops, name)? {
            Some(bytes) => response(200, CONTENT_TYPE_XLSX, bytes),
            None => response(
                404,
                CONTENT_TYPE_TEXT,
                format!("no workbook named `{name}`\n"),
            ),
        });
    }
    if let Some(id) = rest.strip_prefix("batches/") {
        return batch_page(ops, id);
    }
    if let Some(offset) = rest.strip_prefix("messages/") {
        let detail = offset
            .parse::<u64>()
            .ok()
            .and_then(|o| message_detail(ops.store().as_ref(), o));
        return Ok(match detail {
            Some(d) => response(
                200,
                CONTENT_TYPE_HTML,
                page::message_detail(&generated_at(), &d),
            ),
            None => response(
                404,
                CONTENT_TYPE_TEXT,
                format!("no durable journal record at offset `{offset}`\n"),
            ),
        });
    }
    let Some(p) = page::Page::from_path(rest) else {
        return Ok(response(
            404,
            CONTENT_TYPE_TEXT,
            format!("no console page at {PREFIX}{rest}\n"),
        ));
    };
    let html = match p {
        page::Page::Overview => {
            let mut o = overview(ops)?;
            match metrics {
                Some(Ok(text)) => {
                    let (rows, p99) = page::requests_from_metrics(&text);
                    o.requests_by_infno = Some(rows);
                    o.request_p99 = p99;
                    o.charts.traffic = Some(traffic_window(ops.config(), &text));
                }
                Some(Err(why)) => o.metrics_note = format!("{METRICS_NOTE} ({why})"),
                None => {}
            }
            page::overview(&o)
        }
        page::Page::Institutions => page::institutions(&generated_at(), &institutions(ops)?),
        page::Page::Batches => {
            let kind = match query.filter(|q| !q.is_empty()) {
                None => None,
                Some(q) => match q
                    .strip_prefix("kind=")
                    .and_then(page::BatchKind::from_param)
                {
                    Some(k) => Some(k),
                    None => {
                        return Ok(response(
                            400,
                            CONTENT_TYPE_TEXT,
                            "the batches page takes kind=daily|monthly|quarterly|annual\n",
                        ));
                    }
                },
            };
            page::batches(&generated_at(), &batches_view(ops, kind)?)
        }
        page::Page::Alerts => page::alerts(&generated_at(), &alerts(ops)?),
        page::Page::Messages => {
            let q = match page::MessageQuery::parse(query) {
                Ok(q) => q,
                Err(why) => return Ok(response(400, CONTENT_TYPE_TEXT, why + "\n")),
            };
            page::messages(&generated_at(), &q, &search(ops.store().as_ref(), &q))
        }
    };
    Ok(response(200, CONTENT_TYPE_HTML, html))
}

fn generated_at() -> String {
    china_time(time::OffsetDateTime::now_utc())
}

/// `YYYY-MM-DD HH:MM:SS +08:00`, to the second.
fn china_time(t: time::OffsetDateTime) -> String {
    t.to_offset(CHINA_OFFSET)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] +08:00"
        ))
        .unwrap_or_default()
}

/// An institution's level, Chinese first.
fn level_label(level: medsettle_canonical::InstitutionLevel) -> &'static str {
    use medsettle_canonical::InstitutionLevel as L;
    match level {
        L::Level1 => "一级 level 1",
        L::Level2 => "二级 level 2",
        L::Level3 => "三级 level 3",
        L::Unrated => "未定级 unrated",
    }
}

/// The overview's figures.
pub fn overview(ops: &Operations) -> Result<page::Overview> {
    let store = ops.store().as_ref();
    let engine = ops.engine();
    // The summary, not `stats`: stats decodes every record of the journal (seconds over a
    // million); the overview needs the count, which the offsets give (BENCHMARKS.md,
    // "Console overview").
    let journal = store.summary()?;
    let status = engine.status(store).map_err(engine_err)?;
    // The batches' states from the kept figures, the alerts as `bank status` counts them:
    // not `medsettle_filedrop::status`, which decodes every payment state of the outbox.
    let bank = crate::console_figures::bank_figures(store)?;
    let alerts = medsettle_filedrop::alerts(store)?;
    let today = crate::open::today_in_china();
    let pay = engine.pay_date_for(today).ok();
    let cutoff = engine.config().policy.daily.cutoff;
    let calendar = &engine.config().calendar;
    let today_batch = pay.and_then(|p| {
        let compact = medsettle_settlement::calendar::compact_date(p);
        bank.batches
            .iter()
            .rfind(|(id, _)| id.starts_with('D') && id.contains(&compact))
            .map(|(id, state)| {
                (
                    id.clone(),
                    state.map_or("-".into(), |s| snake(&format!("{s:?}"))),
                )
            })
    });
    Ok(page::Overview {
        generated_at: generated_at(),
        journal_records: journal.record_count,
        journal_disk_bytes: journal.disk_bytes,
        journal_writable: journal.writable,
        consumer: status.consumer.clone(),
        next_offset: status.next_offset,
        consumer_lag: status.lag,
        today: today.to_string(),
        today_pay_date: pay.map(|p| p.to_string()),
        deadline: pay.map(|p| format!("{p} {:02}:{:02}", cutoff.hour(), cutoff.minute())),
        today_batch,
        last_daily: status.last_daily.map(|d| d.to_string()),
        open_days: status
            .open_days
            .iter()
            .map(|d| page::OpenDay {
                settlement_date: d.settlement_date.to_string(),
                pay_date: d.pay_date.map(|p| p.to_string()),
                pending_claims: d.pending_claims,
            })
            .collect(),
        alerts_open: alerts.iter().filter(|a| !a.is_acknowledged()).count() as u64,
        alerts_total: alerts.len() as u64,
        calendar_official_years: calendar.official_years(),
        calendar_provisional_years: calendar.provisional_years(),
        today_provisional: pay.is_some_and(|p| calendar.is_provisional(p)),
        legacy_undecided: medsettle_service::legacy_commit::undecided(store, None)?.len() as u64,
        suspended: status.suspensions.len() as u64,
        requests_by_infno: None,
        request_p99: None,
        metrics_note: METRICS_NOTE.to_owned(),
        charts: charts(ops)?,
    })
}

/// The levels the disbursement chart stacks, in order.
const LEVELS: [medsettle_canonical::InstitutionLevel; 4] = [
    medsettle_canonical::InstitutionLevel::Level3,
    medsettle_canonical::InstitutionLevel::Level2,
    medsettle_canonical::InstitutionLevel::Level1,
    medsettle_canonical::InstitutionLevel::Unrated,
];

/// The overview's charts, read through what `settle status` and `bank status` read: the
/// engine's daily payments and per-date aggregates, the file drop's batch records and
/// payment states (the last two kept between renders while unchanged,
/// [`crate::console_figures`]).
pub fn charts(ops: &Operations) -> Result<page::Charts> {
    let store = ops.store().as_ref();
    let engine = ops.engine();
    let institutions: BTreeMap<&str, &medsettle_canonical::Institution> = engine
        .config()
        .institutions
        .iter()
        .map(|i| (i.fixmedins_code.as_str(), i))
        .collect();
    let level_of = |code: &str| {
        institutions
            .get(code)
            .map_or(medsettle_canonical::InstitutionLevel::Unrated, |i| i.level)
    };

    // Daily disbursement per pay date, stacked by level: the engine's daily payments (what the
    // daily reports pay; the day's batch control sum).
    let mut by_day: BTreeMap<time::Date, [page::Tally; 4]> = BTreeMap::new();
    engine
        .with_daily_payments(store, |payments| {
            for p in payments {
                let k = LEVELS
                    .iter()
                    .position(|l| *l == level_of(&p.fixmedins_code))
                    .unwrap_or(3);
                by_day.entry(p.pay_date).or_default()[k].add(p.amount.fen());
            }
        })
        .map_err(engine_err)?;
    let disbursement = by_day
        .into_iter()
        .map(|(date, tallies)| page::DayStack {
            date: date.to_string(),
            parts: LEVELS
                .iter()
                .zip(tallies)
                .map(|(l, t)| page::LevelPart {
                    level: level_label(*l).to_owned(),
                    amount_fen: t.amount_fen,
                    payments: t.count,
                })
                .collect(),
        })
        .collect();

    // Days to pay and the instant share: the daily batches of the outbox, their payments'
    // states (the bank's value date), the fund amounts of their settlement dates.
    let bank = crate::console_figures::bank_figures(store)?;
    let dates = bank
        .daily
        .iter()
        .flat_map(|b| b.settlement_dates.iter().copied())
        .collect();
    let fund = crate::console_figures::fund_of_dates(engine, store, &dates)?;
    let instant_share = bank
        .daily
        .iter()
        .map(|b| page::InstantShare {
            pay_date: b.pay_date.to_string(),
            batch_id: b.batch_id.clone(),
            paid_fen: b.paid_fen,
            fund_fen: b
                .settlement_dates
                .iter()
                .map(|d| fund.get(d).copied().unwrap_or(0))
                .sum(),
        })
        .collect();
    let days_to_pay = bank
        .days_to_pay
        .values()
        .map(|d| page::DaysToPay {
            fixmedins_name: institutions
                .get(d.fixmedins_code.as_str())
                .map(|i| i.fixmedins_name.clone())
                .unwrap_or_default(),
            ..d.clone()
        })
        .collect();
    Ok(page::Charts {
        disbursement,
        days_to_pay,
        instant_share,
        traffic: None,
    })
}

/// How far back the traffic chart looks.
pub const TRAFFIC_WINDOW_MS: u64 = 3_600_000;

/// `/metrics` samples the overview took, with their time (Unix ms): the registry counts from
/// the gateway's start, so a rate is the difference of two samples. Kept in this process
/// (the gateway serving the console), at most one hour of them.
static SAMPLES: std::sync::Mutex<std::collections::VecDeque<(u64, page::MetricsSample)>> =
    std::sync::Mutex::new(std::collections::VecDeque::new());

fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Requests per transaction and the p99 over the last hour: from the gateway's start (when it
/// published `gateway.json`, every counter zero) if that is within the hour, else from the
/// oldest sample of the hour.
pub fn traffic_window(config: &crate::config::Config, metrics_text: &str) -> page::Traffic {
    let now = unix_ms(std::time::SystemTime::now());
    let sample = page::parse_metrics(metrics_text);
    let started = std::fs::metadata(config.gateway_file())
        .and_then(|m| m.modified())
        .map(unix_ms)
        .ok();
    let mut samples = SAMPLES.lock().unwrap_or_else(|p| p.into_inner());
    while samples
        .front()
        .is_some_and(|(at, _)| now.saturating_sub(*at) > TRAFFIC_WINDOW_MS)
    {
        samples.pop_front();
    }
    let traffic = match started.filter(|s| now.saturating_sub(*s) <= TRAFFIC_WINDOW_MS) {
        Some(start) => page::traffic(
            None,
            &sample,
            now.saturating_sub(start),
            "网关启动 gateway start",
        ),
        None => match samples.front() {
            Some((at, earlier)) => page::traffic(
                Some(earlier),
                &sample,
                now.saturating_sub(*at),
                &china_time(
                    time::OffsetDateTime::from_unix_timestamp(
                        i64::try_from(*at / 1000).unwrap_or(0),
                    )
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
                ),
            ),
            None => page::Traffic {
                since: "首次采样 first sample (reload for a rate)".into(),
                p99: page::p99_bucket(&sample.buckets, sample.count),
                ..page::Traffic::default()
            },
        },
    };
    samples.push_back((now, sample));
    traffic
}

/// The batches page's content: the batches of `kind` (all when `None`), the pay dates
/// waiting for approval, the forms.
pub fn batches_view(ops: &Operations, kind: Option<page::BatchKind>) -> Result<page::BatchesView> {
    let all = batches(ops)?;
    let ids: Vec<String> = all.iter().map(|b| b.batch_id.clone()).collect();
    let reports = reports(ops);
    let store = ops.store().as_ref();
    let engine = ops.engine();
    // Pay dates with daily payments or open claims whose daily batch is not in the outbox.
    let dropped: std::collections::BTreeSet<String> =
        ids.iter().filter_map(|id| daily_pay_date(id)).collect();
    let mut waiting: BTreeMap<String, (u64, i64, u64)> = BTreeMap::new();
    for p in engine.daily_payments(store).map_err(engine_err)? {
        let w = waiting.entry(p.pay_date.to_string()).or_default();
        w.0 += 1;
        w.1 += p.amount.fen();
    }
    for d in engine.status(store).map_err(engine_err)?.open_days {
        if let Some(pay) = d.pay_date {
            waiting.entry(pay.to_string()).or_default().2 += d.pending_claims;
        }
    }
    let approvals = waiting
        .into_iter()
        .filter(|(date, _)| !dropped.contains(date))
        .map(|(date, (n, fen, open))| page::Approval {
            what: format!(
                "已日结 closed: {n} 笔支付 payments, {}; 未日结 open: {open} 笔结算 claims",
                page::yuan(fen)
            ),
            form: export_form(&date, "批准并导出 approve and export"),
            pay_date: date,
        })
        .collect();
    Ok(page::BatchesView {
        kind,
        batches: all
            .into_iter()
            .filter(|b| kind.is_none() || page::BatchKind::of(&b.batch_id) == kind)
            .collect(),
        approvals,
        ingest: ingest_form(),
        workbooks: crate::console_xlsx::workbook_names(&ids, &reports),
        reports,
        close: kind.and_then(|k| page::CloseForm::of(k, form_op_id())),
    })
}

/// The pay date (`YYYY-MM-DD`) of a daily batch id (`D{admdvs:6}{yyyymmdd}{seq:02}`).
pub fn daily_pay_date(batch_id: &str) -> Option<String> {
    let d = batch_id.strip_prefix('D')?.get(6..14)?;
    d.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..]))
}

/// A fresh operation id for a form rendered now: the time, this process and a counter, so no
/// two rendered forms share one; the same form submitted twice does.
fn form_op_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "console-{}-{}-{n}",
        unix_ms(std::time::SystemTime::now()),
        std::process::id()
    )
}

fn export_form(pay_date: &str, label: &str) -> page::ActionForm {
    page::ActionForm {
        action: "bank/export".into(),
        fields: vec![("date".into(), pay_date.to_owned())],
        op_id: form_op_id(),
        label: label.to_owned(),
        confirm: format!(
            "批准 {pay_date} 的支付汇总单并导出支付文件? Approve the payment summary of {pay_date} \
             and drop its payment file?"
        ),
    }
}

fn ingest_form() -> page::ActionForm {
    page::ActionForm {
        action: "bank/ingest".into(),
        fields: Vec::new(),
        op_id: form_op_id(),
        label: "立即读取回执 ingest receipts now".into(),
        confirm: "立即读取银行回执? Apply the bank's receipts now?".into(),
    }
}

/// The actions a console form may post: the small forms (form encoding) and the closings
/// (`multipart/form-data` with finance's CSV files, `page::CloseForm`).
pub const FORM_ACTIONS: [&str; 9] = [
    "bank/export",
    "bank/ingest",
    "settle/daily",
    "bank/ack",
    "institutions/suspend",
    "institutions/resume",
    "settle/month",
    "settle/quarter",
    "settle/year",
];

/// The operation id and the action's fields of a form post: a closing's multipart body read
/// by its inputs, any other form's url-encoded fields.
fn form_fields(
    action: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<crate::console_form::FormFields, String> {
    use crate::console_form::{boundary, closing_fields, parse_multipart, urlencoded_fields};
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match (page::CloseForm::inputs_of(action), boundary(content_type)) {
        (Some(inputs), Some(b)) => closing_fields(inputs, &parse_multipart(&b, body)?),
        (Some(_), None) => Err(format!(
            "`{action}` takes finance's files: post its form as multipart/form-data"
        )),
        (None, Some(_)) => Err(format!("`{action}` is posted with form encoding")),
        (None, None) => urlencoded_fields(body),
    }
}

/// Where an action's result page links back to.
fn back_link(action: &str) -> String {
    let kind = match action {
        "settle/month" => Some(page::BatchKind::Monthly),
        "settle/quarter" => Some(page::BatchKind::Quarterly),
        "settle/year" => Some(page::BatchKind::Annual),
        _ => None,
    };
    match (kind, action) {
        (Some(k), _) => format!("{PREFIX}batches?kind={}", k.param()),
        (None, a) if a.starts_with("institutions/") => format!("{PREFIX}institutions"),
        (None, "bank/ack") => format!("{PREFIX}alerts"),
        _ => format!("{PREFIX}batches"),
    }
}

/// Whether a form post comes from the console's own pages: a browser says where a request
/// comes from (`Sec-Fetch-Site`, `Origin`); a page of another site must not make the
/// operator's browser (which presents the operator certificate by itself) perform an action.
fn same_origin(headers: &http::HeaderMap) -> Result<(), String> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(site) = h("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Err(format!("a form of another site (Sec-Fetch-Site: {site})"));
    }
    if let (Some(origin), Some(host)) = (h("origin"), h("host"))
        && origin != format!("https://{host}")
    {
        return Err(format!(
            "a form of another origin ({origin}, this is {host})"
        ));
    }
    Ok(())
}

/// `POST /console/act/<action>`: a form of the console, `application/x-www-form-urlencoded`
/// with `op_id` and the action's fields (a closing's: `multipart/form-data` with finance's
/// files, [`form_fields`]), performed by [`Operations::perform`] exactly like
/// `POST /ops/<action>` with that operation id (a second submit of the same form answers the
/// stored result and does nothing twice). Answered with a page saying what was done.
async fn act(ops: Arc<Operations>, req: OperatorRequest) -> ServiceResponse {
    let action_path = req
        .path
        .strip_prefix(PREFIX)
        .and_then(|r| r.strip_prefix(page::ACT_PREFIX))
        .unwrap_or("")
        .to_owned();
    let mut result = page::ActionResult {
        action: action_path.clone(),
        back: format!("{PREFIX}batches"),
        ..page::ActionResult::default()
    };
    let refuse = |status: u16, mut r: page::ActionResult, why: String| {
        r.error = Some(why);
        response(
            status,
            CONTENT_TYPE_HTML,
            page::action_result(&generated_at(), &r),
        )
    };
    if let Err(why) = same_origin(&req.headers) {
        return refuse(403, result, why);
    }
    if !FORM_ACTIONS.contains(&action_path.as_str()) {
        return refuse(
            404,
            result,
            format!("`{action_path}` is not an action of the console's forms"),
        );
    }
    result.back = back_link(&action_path);
    let (op_id, fields) = match form_fields(&action_path, &req.headers, &req.body) {
        Ok(f) => f,
        Err(why) => return refuse(400, result, why),
    };
    result.op_id = op_id.clone();
    let body = serde_json::to_vec(&fields).expect("a JSON object serializes");
    let action = match crate::actions::Action::from_request(&action_path, &body) {
        Ok(a) => a,
        Err(why) => return refuse(400, result, why),
    };
    let by = req.identity.name.clone();
    let done = tokio::task::spawn_blocking(move || ops.perform(&op_id, &action, &by)).await;
    match done {
        Ok(Ok(performed)) => {
            result.replayed = performed.replayed;
            result.stdout = performed.outcome.stdout;
            result.stderr = performed.outcome.stderr;
            response(
                200,
                CONTENT_TYPE_HTML,
                page::action_result(&generated_at(), &result),
            )
        }
        Ok(Err(e)) => refuse(e.http_status(), result, e.to_string()),
        Err(e) => refuse(500, result, format!("the action's task failed: {e}")),
    }
}

/// One batch's page: its payments, its actions, its workbooks.
fn batch_page(ops: &Operations, id: &str) -> Result<ServiceResponse> {
    let view = batches_view(ops, None)?;
    let Some(b) = view.batches.iter().find(|b| b.batch_id == id) else {
        return Ok(response(
            404,
            CONTENT_TYPE_TEXT,
            format!("no batch `{id}` in the outbox\n"),
        ));
    };
    let mut forms = vec![ingest_form()];
    let pay_date = daily_pay_date(id);
    if let Some(date) = &pay_date {
        // Exporting a dropped day again does nothing more and says so (same batch, same file).
        forms.insert(0, export_form(date, "再次导出 export again"));
    }
    let mine = |w: &str| {
        w == format!("batch-{id}.xlsx")
            || pay_date
                .as_deref()
                .is_some_and(|d| w == format!("daily-{d}-detail.xlsx"))
            || crate::console_xlsx::period_workbook(id).is_some_and(|p| w == p)
    };
    let books: Vec<String> = view.workbooks.iter().filter(|w| mine(w)).cloned().collect();
    Ok(response(
        200,
        CONTENT_TYPE_HTML,
        page::batch_detail(&generated_at(), b, &forms, &books),
    ))
}

/// `PaymentStatus::Paid` → `paid`.
fn snake(debug: &str) -> String {
    let mut out = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Every configured institution with its suspension and its daily payments by outcome.
pub fn institutions(ops: &Operations) -> Result<Vec<page::InstitutionRow>> {
    let store = ops.store().as_ref();
    let engine = ops.engine();
    let status = engine.status(store).map_err(engine_err)?;
    let payments = engine.daily_payments(store).map_err(engine_err)?;
    let mut rows: BTreeMap<String, page::InstitutionRow> = BTreeMap::new();
    for i in &engine.config().institutions {
        rows.insert(
            i.fixmedins_code.clone(),
            page::InstitutionRow {
                fixmedins_code: i.fixmedins_code.clone(),
                fixmedins_name: i.fixmedins_name.clone(),
                level: level_label(i.level).to_owned(),
                ..page::InstitutionRow::default()
            },
        );
    }
    for p in &payments {
        let row = rows
            .entry(p.fixmedins_code.clone())
            .or_insert_with(|| page::InstitutionRow {
                fixmedins_code: p.fixmedins_code.clone(),
                ..page::InstitutionRow::default()
            });
        let fen = p.amount.fen();
        match p.status {
            Some(ReceiptStatus::Paid) => row.paid.add(fen),
            Some(ReceiptStatus::Failed | ReceiptStatus::Returned) => row.failed.add(fen),
            _ => row.pending.add(fen),
        }
    }
    for s in &status.suspensions {
        if let Some(row) = rows.get_mut(&s.fixmedins_code) {
            row.suspension = Some(page::SuspensionView {
                reason: s.reason.clone(),
                by: s.by.clone(),
                since: china_time(s.since),
            });
        }
    }
    Ok(rows.into_values().collect())
}

/// Every batch of the outbox with its payments and what the bank answered.
pub fn batches(ops: &Operations) -> Result<Vec<page::BatchRow>> {
    let store = ops.store().as_ref();
    let bank = medsettle_filedrop::status(store)?;
    let payee: BTreeMap<String, String> = ops
        .engine()
        .daily_payments(store)
        .map_err(engine_err)?
        .into_iter()
        .map(|p| (p.payment_id, p.fixmedins_code))
        .collect();
    let mut payments: BTreeMap<String, Vec<page::PaymentRow>> = BTreeMap::new();
    for (key, p) in medsettle_filedrop::state::payment_states(store)? {
        let receipt = p.receipt.as_ref();
        let reason = receipt.and_then(|r| r.reason.as_ref());
        let payment_id = receipt.map_or(key, |r| r.payment_id.clone());
        payments
            .entry(p.batch_id.clone())
            .or_default()
            .push(page::PaymentRow {
                fixmedins_code: payee.get(&payment_id).cloned().unwrap_or_default(),
                payment_id,
                amount_fen: p.amount.fen(),
                status: snake(&format!("{:?}", p.status)),
                bank_reference: receipt.and_then(|r| r.bank_reference.clone()),
                value_date: receipt.and_then(|r| r.value_date.map(|d| d.to_string())),
                iso_code: reason.and_then(|r| r.iso_code.clone()),
                bank_code: reason.and_then(|r| r.bank_code.clone()),
                bank_text: reason.map(|r| r.text.clone()).filter(|t| !t.is_empty()),
                receipt_file: p.receipt_file.clone(),
                bank_amount_fen: p.bank_amount.map(|a| a.fen()),
            });
    }
    Ok(bank
        .batches
        .into_iter()
        .map(|b| page::BatchRow {
            payments: payments.remove(&b.batch_id).unwrap_or_default(),
            state: b.state.map_or("-".into(), |s| snake(&format!("{s:?}"))),
            batch_id: b.batch_id,
            file_name: b.file_name,
            count: b.count,
            control_sum_fen: b.control_sum.fen(),
        })
        .collect())
}

/// Every alert of the bank file drop, acknowledged ones included.
pub fn alerts(ops: &Operations) -> Result<Vec<page::AlertRow>> {
    Ok(medsettle_filedrop::alerts(ops.store().as_ref())?
        .into_iter()
        .map(|a| page::AlertRow {
            text: a.to_string(),
            id: a.id,
            rule: a.rule,
            file_name: a.file_name,
            acknowledged_by: a.acknowledged_by,
            acknowledged_at: a.acknowledged_at,
        })
        .collect())
}

/// Most index entries one page of a search looks at. A page is a range scan of the store's
/// record index (`medsettle_store::Store::find_records`), one entry per candidate plus a point
/// lookup per further condition; this bounds a page whose conditions rarely hold together
/// (about 50 ms on the benchmark machine, BENCHMARKS.md "Message browser"). The page links on.
pub const SEARCH_EXAMINE_MAX: usize = 50_000;
/// Most rows one page of a search shows.
pub const SEARCH_ROWS_MAX: usize = 50;

/// The store's query for a console search. `Err` when the query's times do not parse (the
/// page refuses such a query before it gets here).
pub fn record_query(q: &page::MessageQuery) -> Result<RecordQuery, String> {
    let (received_from_ms, received_before_ms) = q.time_range_ms()?;
    let terms = q
        .terms()
        .into_iter()
        .map(|(name, value)| {
            let field = match name {
                "msgid" => IndexField::Msgid,
                "institution" => IndexField::Institution,
                "infno" => IndexField::Infno,
                "psn_no" => IndexField::PsnNo,
                "mdtrt_id" => IndexField::MdtrtId,
                "setl_id" => IndexField::SetlId,
                other => unreachable!("`{other}` is not one of MessageQuery::terms"),
            };
            (field, value.to_owned())
        })
        .collect();
    Ok(RecordQuery {
        terms,
        received_from_ms,
        received_before_ms,
        before: q.before,
        rows_max: SEARCH_ROWS_MAX,
        examine_max: SEARCH_EXAMINE_MAX,
    })
}

/// One page of a journal search, newest first, through the store's record index: the durable
/// records whose key (institution, msgid), top-level `infno`, `psn_no` / `mdtrt_id` /
/// `setl_id` anywhere in the payload, and receive time match — never a scan of the journal.
/// At most [`SEARCH_ROWS_MAX`] rows, [`SEARCH_EXAMINE_MAX`] index entries looked at.
pub fn search(store: &dyn Store, q: &page::MessageQuery) -> page::MessagePage {
    let mut out = page::MessagePage {
        durable: store.durable_offset(),
        ..page::MessagePage::default()
    };
    let found = record_query(q).and_then(|query| {
        store
            .find_records(&query)
            .map_err(|e| format!("the journal cannot be searched now: {e}"))
    });
    match found {
        Ok(found) => {
            out.rows = found
                .records
                .iter()
                .map(|(offset, record)| {
                    let payload: serde_json::Value =
                        serde_json::from_slice(&record.payload).unwrap_or(serde_json::Value::Null);
                    row(*offset, record, &payload)
                })
                .collect();
            out.examined = found.examined;
            out.next_before = found.next_before;
            out.durable = found.through;
            out.corrupt = found.corrupt;
            if found.tail_unread > 0 {
                // the background indexer is far behind (a long peak, or the first build)
                out.note = Some(format!(
                    "索引追赶中 the record index is catching up: {} records it has not reached were \
                     not searched (only the newest {} are read directly); search again later",
                    found.tail_unread,
                    medsettle_store::TAIL_READ_MAX
                ));
            }
        }
        Err(why) => out.note = Some(why),
    }
    out
}

fn row(
    offset: u64,
    record: &medsettle_store::JournalRecord,
    payload: &serde_json::Value,
) -> page::MessageRow {
    let (code, msgid) = record.key.clone().unwrap_or_default();
    let infcode = &payload["answer"]["infcode"];
    page::MessageRow {
        offset,
        kind: record.kind.clone(),
        infno: payload["infno"].as_str().unwrap_or("").to_owned(),
        fixmedins_code: code,
        msgid,
        received_at: payload["received_at"].as_str().unwrap_or("").to_owned(),
        infcode: match infcode {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        },
    }
}

/// The durable record at `offset`, split into request, answer and claim when it is an
/// exchange.
pub fn message_detail(store: &dyn Store, offset: u64) -> Option<page::MessageDetail> {
    if store.durable_offset().is_none_or(|d| offset > d) {
        return None;
    }
    let (at, record) = store.export(offset).next()?.ok()?;
    if at != offset {
        return None;
    }
    let payload: serde_json::Value = serde_json::from_slice(&record.payload).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&record.payload).into_owned())
    });
    let pretty = |v: &serde_json::Value| {
        (!v.is_null()).then(|| serde_json::to_string_pretty(v).unwrap_or_default())
    };
    let exchange = payload.get("request").is_some() && payload.get("answer").is_some();
    Some(page::MessageDetail {
        row: row(offset, &record, &payload),
        request: pretty(&payload["request"]),
        answer: pretty(&payload["answer"]),
        claim: pretty(&payload["claim"]),
        payload: if exchange { None } else { pretty(&payload) },
    })
}

/// Whether `name` may be served from the reports directory: a plain file name of
/// `[A-Za-z0-9._-]`, not hidden, a CSV or XLSX report.
pub fn is_report_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && (name.ends_with(".csv") || name.ends_with(".xlsx"))
}

/// The reports written so far (CSV and XLSX), by name.
pub fn reports(ops: &Operations) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(ops.config().reports_dir())
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_report_name(n))
        .collect();
    names.sort();
    names
}

fn report(ops: &Operations, name: &str) -> ServiceResponse {
    if !is_report_name(name) {
        return response(
            404,
            CONTENT_TYPE_TEXT,
            format!("no report named `{name}`\n"),
        );
    }
    match std::fs::read(ops.config().reports_dir().join(name)) {
        Ok(bytes) => response(
            200,
            if name.ends_with(".xlsx") {
                CONTENT_TYPE_XLSX
            } else {
                CONTENT_TYPE_CSV
            },
            bytes,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => response(
            404,
            CONTENT_TYPE_TEXT,
            format!("no report named `{name}`\n"),
        ),
        Err(e) => response(
            503,
            CONTENT_TYPE_TEXT,
            format!("report {name} cannot be read now: {e}\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medsettle_store::{JournalRecord, SledStore, StoreConfig};

    #[test]
    fn only_plain_report_names_are_served() {
        assert!(is_report_name("daily-2026-12-07-summary.xlsx"));
        assert!(is_report_name("monthly-2026-11.csv"));
        assert!(!is_report_name("../medsettle.toml"));
        assert!(!is_report_name(".daily.csv.tmp"));
        assert!(!is_report_name("a/b.csv"));
        assert!(!is_report_name("journal.db"));
        assert!(!is_report_name(""));
    }

    /// Exchange records as the national service journals them: 1,000 of four institutions
    /// and seven persons, one a second from 09:00 China time.
    fn journal_of_exchanges(dir: &std::path::Path, record_index: bool) -> SledStore {
        let store = SledStore::open(
            dir,
            StoreConfig {
                record_index,
                ..StoreConfig::default()
            },
        )
        .unwrap();
        if store.durable_offset().is_none() {
            let start = time::macros::datetime!(2026-12-05 09:00 +08:00);
            for i in 0..1000i64 {
                let (code, msgid) = (format!("H{}", i % 4), format!("M{i:05}"));
                let received = start + time::Duration::seconds(i);
                let payload = serde_json::json!({
                    "infno": if i % 3 == 0 { "2207" } else { "2206" },
                    "fixmedins_code": code, "msgid": msgid,
                    "request": {"input": {"data": {"psn_no": format!("P{}", i % 7)}}},
                    "answer": {"infcode": 0},
                    "received_at": received
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap(),
                });
                let record =
                    JournalRecord::new("nhsa.settlement", serde_json::to_vec(&payload).unwrap())
                        .with_key(code, msgid);
                store.append(record).unwrap();
            }
            store.sync().unwrap();
        }
        store
    }

    /// Every page of `query`, following the pages' `next` links.
    fn all_rows(store: &SledStore, query: &str) -> (Vec<u64>, Vec<page::MessagePage>) {
        let mut q = page::MessageQuery::parse(Some(query)).unwrap();
        let (mut offsets, mut pages) = (Vec::new(), Vec::new());
        loop {
            let p = search(store, &q);
            assert_eq!(p.note, None);
            offsets.extend(p.rows.iter().map(|r| r.offset));
            let next = p.next_before;
            pages.push(p);
            match next {
                Some(before) => {
                    // The page's own link to the next page.
                    let link = q.link(before);
                    q = page::MessageQuery::parse(link.split_once('?').map(|(_, q)| q)).unwrap();
                }
                None => return (offsets, pages),
            }
        }
    }

    #[test]
    fn the_message_browser_pages_through_the_store_index_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = journal_of_exchanges(dir.path(), true);
        // Institution and person: what a scan of the journal finds, newest first.
        let expected: Vec<u64> = (0..1000u64)
            .rev()
            .filter(|i| i % 4 == 2 && i % 7 == 3)
            .collect();
        // (what the background indexer has not reached is read directly: let it finish)
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while store.record_index_lag().unwrap() > 0 {
            assert!(std::time::Instant::now() < deadline, "the index catches up");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let (found, pages) = all_rows(&store, "institution=H2&psn_no=P3");
        assert_eq!(found, expected);
        // The index drove the page: it looked at the person's entries (one in seven records),
        // never at the other records of the journal.
        let examined: u64 = pages.iter().map(|p| p.examined).sum();
        assert_eq!(examined, (0..1000).filter(|i| i % 7 == 3).count() as u64);
        // A time range, China time: 09:05:00 to 09:06:59, 120 records, in pages of 50.
        let (found, pages) = all_rows(
            &store,
            "from_time=2026-12-05T09:05&to_time=2026-12-05T09:06",
        );
        assert_eq!(found, (300..420u64).rev().collect::<Vec<_>>());
        assert_eq!(pages[0].rows.len(), SEARCH_ROWS_MAX);
        assert_eq!(pages[0].rows[0].received_at, "2026-12-05T09:06:59+08:00");
        // A msgid, and a transaction within an institution.
        let (found, _) = all_rows(&store, "msgid=M00421");
        assert_eq!(found, vec![421]);
        let (found, _) = all_rows(&store, "infno=2207&institution=H1");
        let expected: Vec<u64> = (0..1000u64)
            .rev()
            .filter(|i| i % 3 == 0 && i % 4 == 1)
            .collect();
        assert_eq!(found, expected);
        let row = &search(
            &store,
            &page::MessageQuery::parse(Some("msgid=M00421")).unwrap(),
        )
        .rows[0];
        assert_eq!(
            (
                row.fixmedins_code.as_str(),
                row.infno.as_str(),
                row.infcode.as_deref()
            ),
            ("H1", "2206", Some("0"))
        );
    }

    #[test]
    fn with_the_store_index_off_the_browser_says_so_and_does_not_scan() {
        let dir = tempfile::tempdir().unwrap();
        drop(journal_of_exchanges(dir.path(), true));
        let store = journal_of_exchanges(dir.path(), false);
        let p = search(
            &store,
            &page::MessageQuery::parse(Some("institution=H1")).unwrap(),
        );
        assert!(p.rows.is_empty() && p.examined == 0, "{p:?}");
        assert!(p.note.unwrap().contains("record index is off"));
    }

    #[test]
    fn debug_names_become_the_words_the_interface_uses() {
        assert_eq!(snake("Paid"), "paid");
        assert_eq!(snake("ReceiptsApplied"), "receipts_applied");
    }
}
