//! The overview's charts (`specs/console.md`, "Charts"): inline SVG rendered on the server,
//! no script. Geometry is integer pixels computed from integer fen, days, permille and
//! counts; no floating point anywhere. Every bar is a `<g>` carrying its figure as
//! `data-key` / `data-value` (the integer the bar is drawn from) and a `<title>` with the
//! figure as text, and every chart is followed by a table of the same figures, so a chart
//! reads without colour (the stacked segments also differ by pattern and are named in the
//! table and the tooltip).

use std::fmt::Write as _;

use crate::{escape, yuan};

/// One institution level's part of a day's disbursement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelPart {
    /// `一级 level 1`, …
    pub level: String,
    pub amount_fen: i64,
    pub payments: u64,
}

/// One pay date's daily disbursement, stacked by institution level (every level of the
/// chart, in the same order, zero where none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayStack {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub parts: Vec<LevelPart>,
}

impl DayStack {
    pub fn total_fen(&self) -> i64 {
        self.parts.iter().map(|p| p.amount_fen).sum()
    }
    pub fn payments(&self) -> u64 {
        self.parts.iter().map(|p| p.payments).sum()
    }
}

/// Days from settlement to the bank's value date, over one institution's paid daily
/// payments: one observation per (payment, settlement date it pays).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaysToPay {
    pub fixmedins_code: String,
    pub fixmedins_name: String,
    pub observations: u64,
    pub total_days: i64,
    pub min_days: i64,
    pub max_days: i64,
}

impl DaysToPay {
    pub fn observe(&mut self, days: i64) {
        if self.observations == 0 {
            self.min_days = days;
            self.max_days = days;
        }
        self.min_days = self.min_days.min(days);
        self.max_days = self.max_days.max(days);
        self.observations += 1;
        self.total_days += days;
    }

    /// The mean in tenths of a day, rounded half up (`15` = 1.5 days).
    pub fn mean_tenths(&self) -> i64 {
        let n = i64::try_from(self.observations).unwrap_or(i64::MAX).max(1);
        (self.total_days * 20 + n) / (2 * n)
    }
}

/// The instant share of one daily batch: what the bank confirmed paid in it against the
/// fund amount of the claims of its settlement dates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstantShare {
    pub pay_date: String,
    pub batch_id: String,
    /// Σ amount of the batch's payments the bank confirmed `paid`.
    pub paid_fen: i64,
    /// Σ in-scope fund amount of the claims of the batch's settlement dates.
    pub fund_fen: i64,
}

impl InstantShare {
    /// `paid / fund` in permille, rounded half up; `None` with no fund amount.
    pub fn permille(&self) -> Option<i64> {
        (self.fund_fen > 0).then(|| {
            let n = i128::from(self.paid_fen) * 2000 + i128::from(self.fund_fen);
            i64::try_from(n / (2 * i128::from(self.fund_fen))).unwrap_or(i64::MAX)
        })
    }
}

/// Permille as a percentage with one decimal: `875` → `87.5%`.
pub fn percent(permille: i64) -> String {
    let sign = if permille < 0 { "-" } else { "" };
    let a = permille.unsigned_abs();
    format!("{sign}{}.{}%", a / 10, a % 10)
}

/// Tenths as a decimal: `15` → `1.5`.
pub fn tenths(t: i64) -> String {
    let sign = if t < 0 { "-" } else { "" };
    let a = t.unsigned_abs();
    format!("{sign}{}.{}", a / 10, a % 10)
}

/// One transaction's requests over the traffic window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrafficRow {
    pub infno: String,
    pub requests: u64,
    /// Requests per minute over the window, in tenths.
    pub per_minute_tenths: u64,
    /// This transaction's p99 latency over the window, as the upper bound of its histogram
    /// bucket (`0.05`, seconds; `+Inf`), from `medsettle_request_duration_by_infno_seconds`;
    /// `None` when the gateway does not expose it or nothing was observed.
    pub p99_le: Option<String>,
}

/// Requests per transaction and the p99 latency over a window of the gateway's `/metrics`
/// (two samples of the same registry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic {
    /// The window's length, seconds.
    pub window_seconds: u64,
    /// Where the window starts (`gateway start` or the sample's time).
    pub since: String,
    pub rows: Vec<TrafficRow>,
    /// The p99 over the window, as the upper bound of its histogram bucket (`≤ 0.05 s`).
    pub p99: Option<String>,
    pub requests: u64,
}

/// One latency histogram series: cumulative bucket counts by `le`, in order, and its count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencySample {
    pub buckets: Vec<(String, u64)>,
    pub count: u64,
}

/// The counters of one `/metrics` text the console reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSample {
    /// `medsettle_requests_total` summed over outcomes, by `infno`.
    pub requests: std::collections::BTreeMap<String, u64>,
    /// `medsettle_request_duration_seconds_bucket` cumulative counts, by `le`, in order.
    pub buckets: Vec<(String, u64)>,
    pub count: u64,
    /// `medsettle_request_duration_by_infno_seconds`, by `infno`.
    pub latency_by_infno: std::collections::BTreeMap<String, LatencySample>,
}

/// The per-transaction latency family the traffic chart reads its p99s from.
const BY_INFNO: &str = "medsettle_request_duration_by_infno_seconds";

/// Parse the counters the console shows from a Prometheus text exposition.
pub fn parse_metrics(text: &str) -> MetricsSample {
    let mut s = MetricsSample::default();
    for line in text.lines() {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(n) = value.parse::<u64>() else {
            continue;
        };
        if let Some(labels) = series.strip_prefix("medsettle_requests_total{") {
            let infno = crate::label(labels, "infno").unwrap_or_else(|| "-".into());
            *s.requests.entry(infno).or_default() += n;
        } else if let Some(labels) =
            series.strip_prefix("medsettle_request_duration_seconds_bucket{")
        {
            if let Some(le) = crate::label(labels, "le") {
                s.buckets.push((le, n));
            }
        } else if series == "medsettle_request_duration_seconds_count" {
            s.count = n;
        } else if let Some(rest) = series.strip_prefix(BY_INFNO) {
            let (part, labels) = rest.split_once('{').unwrap_or((rest, ""));
            let Some(infno) = crate::label(labels, "infno") else {
                continue;
            };
            let l = s.latency_by_infno.entry(infno).or_default();
            match part {
                "_bucket" => {
                    if let Some(le) = crate::label(labels, "le") {
                        l.buckets.push((le, n));
                    }
                }
                "_count" => l.count = n,
                _ => {}
            }
        }
    }
    s
}

/// The upper bound (`le`) of the bucket holding the 99th percentile of `count` observations.
fn p99_le(buckets: &[(String, u64)], count: u64) -> Option<String> {
    (count > 0)
        .then(|| {
            buckets
                .iter()
                .find(|(_, cumulative)| u128::from(*cumulative) * 100 >= u128::from(count) * 99)
                .map(|(le, _)| le.clone())
        })
        .flatten()
}

/// The histogram observed between `before` (`None`: none yet) and `now`; a count that went
/// down (a restarted gateway) counts from zero.
fn latency_delta(before: Option<&LatencySample>, now: &LatencySample) -> LatencySample {
    let restarted = before.is_some_and(|b| now.count < b.count);
    let before = before.filter(|_| !restarted);
    let earlier = |le: &str| {
        before
            .and_then(|b| b.buckets.iter().find(|(l, _)| l == le))
            .map_or(0, |(_, v)| *v)
    };
    LatencySample {
        buckets: now
            .buckets
            .iter()
            .map(|(le, n)| (le.clone(), n.saturating_sub(earlier(le))))
            .collect(),
        count: now.count - before.map_or(0, |b| b.count),
    }
}

/// The p99 bucket of cumulative counts `buckets` over `count` requests.
pub fn p99_bucket(buckets: &[(String, u64)], count: u64) -> Option<String> {
    p99_le(buckets, count).map(|le| format!("≤ {le} s"))
}

/// The traffic between `earlier` (`None`: the gateway's start, every counter zero) and
/// `now`, `window_ms` apart. A counter that went down (a restarted gateway) counts from zero.
pub fn traffic(
    earlier: Option<&MetricsSample>,
    now: &MetricsSample,
    window_ms: u64,
    since: &str,
) -> Traffic {
    let zero = MetricsSample::default();
    let before = earlier.unwrap_or(&zero);
    let delta = |a: u64, b: u64| if a >= b { a - b } else { a };
    let ms = window_ms.max(1);
    let mut rows = Vec::new();
    for (infno, n) in &now.requests {
        let d = delta(*n, before.requests.get(infno).copied().unwrap_or(0));
        if d > 0 {
            let latency = now
                .latency_by_infno
                .get(infno)
                .map(|l| latency_delta(before.latency_by_infno.get(infno), l));
            rows.push(TrafficRow {
                infno: infno.clone(),
                p99_le: latency.and_then(|l| p99_le(&l.buckets, l.count)),
                requests: d,
                // requests × 60 000 ms/min × 10 tenths / window ms, rounded half up.
                per_minute_tenths: u64::try_from(
                    (u128::from(d) * 1_200_000 + u128::from(ms)) / (2 * u128::from(ms)),
                )
                .unwrap_or(u64::MAX),
            });
        }
    }
    let all = |m: &MetricsSample| LatencySample {
        buckets: m.buckets.clone(),
        count: m.count,
    };
    let total = latency_delta(Some(&all(before)), &all(now));
    Traffic {
        window_seconds: window_ms / 1000,
        since: since.to_owned(),
        requests: rows.iter().map(|r| r.requests).sum(),
        rows,
        p99: p99_bucket(&total.buckets, total.count),
    }
}

/// Everything the overview charts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Charts {
    pub disbursement: Vec<DayStack>,
    pub days_to_pay: Vec<DaysToPay>,
    pub instant_share: Vec<InstantShare>,
    /// `None` when the gateway's `/metrics` could not be read.
    pub traffic: Option<Traffic>,
}

/// Height of the vertical charts' plot area, px.
pub const CHART_HEIGHT: i64 = 160;
/// Width of one day's bar slot, px.
pub const CHART_SLOT: i64 = 56;
/// Width of a horizontal bar at the largest value, px.
pub const HBAR_WIDTH: i64 = 320;
/// Height of one horizontal bar's row, px.
pub const HBAR_ROW: i64 = 22;

/// `value × scale / max`, in integers (0 for a value ≤ 0; `max` ≥ 1).
fn scaled(value: i64, scale: i64, max: i64) -> i64 {
    i64::try_from(i128::from(value.max(0)) * i128::from(scale) / i128::from(max.max(1)))
        .unwrap_or(scale)
}

/// Fill patterns of the stacked segments, so levels differ by more than colour.
const PATTERNS: [(&str, &str); 4] = [
    ("solid", r##"<rect width="6" height="6" fill="#2f6ea5"/>"##),
    (
        "hatch",
        r##"<rect width="6" height="6" fill="#9cc3e4"/><path d="M0,6 L6,0" stroke="#12395b" stroke-width="1.5"/>"##,
    ),
    (
        "dots",
        r##"<rect width="6" height="6" fill="#e8eef4"/><circle cx="3" cy="3" r="1.4" fill="#12395b"/>"##,
    ),
    (
        "cross",
        r##"<rect width="6" height="6" fill="#f4d9a6"/><path d="M0,3 H6 M3,0 V6" stroke="#6b4a00" stroke-width="1"/>"##,
    ),
];

fn pattern_defs() -> String {
    let mut t = String::from("<defs>");
    for (name, inner) in PATTERNS {
        let _ = write!(
            t,
            r#"<pattern id="pat-{name}" width="6" height="6" patternUnits="userSpaceOnUse">{inner}</pattern>"#
        );
    }
    t.push_str("</defs>");
    t
}

/// Daily disbursement per pay date, stacked by institution level: an inline SVG and the
/// table of its figures.
pub fn disbursement_chart(days: &[DayStack]) -> String {
    if days.is_empty() {
        return "<p class=\"note\" id=\"chart-empty\">尚无日结支付 no daily payments yet</p>"
            .into();
    }
    let max = days
        .iter()
        .map(DayStack::total_fen)
        .max()
        .unwrap_or(0)
        .max(1);
    let n = i64::try_from(days.len()).unwrap_or(i64::MAX);
    let width = 40 + n.saturating_mul(CHART_SLOT);
    let top = 20;
    let base = top + CHART_HEIGHT;
    let mut t = format!(
        r#"<svg id="chart-daily" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" viewBox="0 0 {width} {h}" role="img" aria-label="每日拨付 daily disbursement, stacked by institution level">{defs}"#,
        h = base + 34,
        defs = pattern_defs(),
    );
    let _ = write!(
        t,
        r##"<line x1="30" y1="{base}" x2="{width}" y2="{base}" stroke="#566574"/>"##
    );
    for (i, d) in days.iter().enumerate() {
        let i = i64::try_from(i).unwrap_or(0);
        let x = 40 + i * CHART_SLOT;
        let total = d.total_fen();
        let amount = yuan(total);
        let _ = write!(
            t,
            r#"<g class="day" data-date="{date}" data-amount="{amount}" data-value="{total}">"#,
            date = escape(&d.date),
        );
        // Segments stacked from the base by cumulative sums, so the heights add up to the
        // bar of the total (no rounding gap between segments).
        let mut below = 0i64;
        for (k, p) in d.parts.iter().enumerate() {
            if p.amount_fen <= 0 {
                continue;
            }
            let y_low = base - scaled(below, CHART_HEIGHT, max);
            below += p.amount_fen;
            let y_high = base - scaled(below, CHART_HEIGHT, max);
            let _ = write!(
                t,
                r##"<rect class="seg" data-level="{level}" data-value="{v}" x="{x}" y="{y_high}" width="{w}" height="{h}" fill="url(#pat-{pat})" stroke="#12395b" stroke-width="0.5"><title>{date} {level} {a} ({n} 笔)</title></rect>"##,
                level = escape(&p.level),
                v = p.amount_fen,
                w = CHART_SLOT - 12,
                h = y_low - y_high,
                pat = PATTERNS[k % PATTERNS.len()].0,
                date = escape(&d.date),
                a = yuan(p.amount_fen),
                n = p.payments,
            );
        }
        let ly = (base - scaled(total, CHART_HEIGHT, max) - 4).max(10);
        let _ = write!(
            t,
            r#"<title>{date} {amount} ({n} 笔)</title><text x="{x}" y="{ly}">{amount}</text><text x="{x}" y="{dy}">{date}</text></g>"#,
            date = escape(&d.date),
            n = d.payments(),
            dy = base + 14,
        );
    }
    t.push_str("</svg>");
    // The figures as a table: levels as columns (pattern named), days as rows.
    let levels: Vec<&str> = days[0].parts.iter().map(|p| p.level.as_str()).collect();
    let mut table = String::from(
        "<table class=\"chart-data\" id=\"chart-daily-data\"><tr><th>支付日 pay date</th>",
    );
    for (k, l) in levels.iter().enumerate() {
        let _ = write!(
            table,
            "<th class=\"num\">{} <span class=\"note\">({})</span></th>",
            escape(l),
            PATTERNS[k % PATTERNS.len()].0
        );
    }
    table.push_str("<th class=\"num\">合计 total</th></tr>");
    for d in days {
        let _ = write!(table, "<tr><td>{}</td>", escape(&d.date));
        for p in &d.parts {
            let _ = write!(table, "<td class=\"num\">{}</td>", yuan(p.amount_fen));
        }
        let _ = write!(table, "<td class=\"num\">{}</td></tr>", yuan(d.total_fen()));
    }
    table.push_str("</table>");
    t + &table
}

/// One bar of a horizontal bar chart.
struct HBar {
    key: String,
    label: String,
    value: i64,
    text: String,
}

/// A horizontal bar chart: one row per bar, its label left, its figure right of the bar.
fn hbar_chart(id: &str, aria: &str, bars: &[HBar]) -> String {
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let label_w = 190;
    let n = i64::try_from(bars.len()).unwrap_or(i64::MAX);
    let width = label_w + HBAR_WIDTH + 120;
    let h = 8 + n.saturating_mul(HBAR_ROW);
    let mut t = format!(
        r#"<svg id="{id}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" viewBox="0 0 {width} {h}" role="img" aria-label="{aria}">"#,
        aria = escape(aria),
    );
    for (i, b) in bars.iter().enumerate() {
        let i = i64::try_from(i).unwrap_or(0);
        let y = 4 + i * HBAR_ROW;
        let w = scaled(b.value, HBAR_WIDTH, max);
        let _ = write!(
            t,
            r#"<g class="bar-row" data-key="{key}" data-value="{v}"><title>{label}: {text}</title><text x="0" y="{ty}">{label}</text><rect class="bar" x="{label_w}" y="{y}" width="{w}" height="{bh}"/><text x="{tx}" y="{ty}">{text}</text></g>"#,
            key = escape(&b.key),
            v = b.value,
            label = escape(&b.label),
            text = escape(&b.text),
            ty = y + 13,
            bh = HBAR_ROW - 6,
            tx = label_w + w + 6,
        );
    }
    t.push_str("</svg>");
    t
}

/// Days to pay per institution: the mean as the bar (tenths of a day), min–max beside it.
pub fn days_to_pay_chart(rows: &[DaysToPay]) -> String {
    if rows.is_empty() {
        return "<p class=\"note\" id=\"days-to-pay-empty\">尚无银行确认的支付 no payment confirmed by the bank yet</p>".into();
    }
    let bars: Vec<HBar> = rows
        .iter()
        .map(|r| HBar {
            key: r.fixmedins_code.clone(),
            label: format!("{} {}", r.fixmedins_code, r.fixmedins_name),
            value: r.mean_tenths(),
            text: format!(
                "{} 天 days (min {}, max {}; n={})",
                tenths(r.mean_tenths()),
                r.min_days,
                r.max_days,
                r.observations
            ),
        })
        .collect();
    let mut t = hbar_chart(
        "chart-days-to-pay",
        "结算到到账天数 days from settlement to payment, per institution",
        &bars,
    );
    t.push_str(
        "<table class=\"chart-data\" id=\"days-to-pay-data\"><tr><th>机构编号 <code>fixmedins_code</code></th>\
         <th class=\"num\">平均 mean</th><th class=\"num\">最短 min</th><th class=\"num\">最长 max</th>\
         <th class=\"num\">观测 n</th></tr>",
    );
    for r in rows {
        let _ = write!(
            t,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&r.fixmedins_code),
            tenths(r.mean_tenths()),
            r.min_days,
            r.max_days,
            r.observations
        );
    }
    t.push_str("</table>");
    t
}

/// The instant share per daily batch (permille as the bar).
pub fn instant_share_chart(rows: &[InstantShare]) -> String {
    if rows.is_empty() {
        return "<p class=\"note\" id=\"instant-share-empty\">尚无日结批次 no daily batch yet</p>"
            .into();
    }
    let bars: Vec<HBar> = rows
        .iter()
        .map(|r| HBar {
            key: r.pay_date.clone(),
            label: format!("{} {}", r.pay_date, r.batch_id),
            value: r.permille().unwrap_or(0),
            text: format!(
                "{} ({} / {})",
                r.permille().map_or("-".into(), percent),
                yuan(r.paid_fen),
                yuan(r.fund_fen)
            ),
        })
        .collect();
    let mut t = hbar_chart(
        "chart-instant-share",
        "即时结算占比 instant share: paid in the daily batch vs the claims' fund amount",
        &bars,
    );
    t.push_str(
        "<table class=\"chart-data\" id=\"instant-share-data\"><tr><th>支付日 pay date</th><th>批次 batch</th>\
         <th class=\"num\">已支付 paid</th><th class=\"num\">基金支付 fund amount</th><th class=\"num\">占比 share</th></tr>",
    );
    for r in rows {
        let _ = write!(
            t,
            "<tr class=\"share\" data-date=\"{d}\" data-paid=\"{p}\" data-fund=\"{f}\"><td>{d}</td><td>{}</td><td class=\"num\">{p}</td><td class=\"num\">{f}</td><td class=\"num\">{}</td></tr>",
            escape(&r.batch_id),
            r.permille().map_or("-".into(), percent),
            d = escape(&r.pay_date),
            p = yuan(r.paid_fen),
            f = yuan(r.fund_fen),
        );
    }
    t.push_str("</table>");
    t
}

/// Requests per transaction over the window (count as the bar, rate beside it) and the p99.
pub fn traffic_chart(t: &Traffic) -> String {
    let mut out = format!(
        "<p>窗口 window: 自 since {} ({} s) · 请求 requests <span id=\"traffic-requests\">{}</span> · \
         p99 延迟 latency (所有交易 all transactions): <span id=\"traffic-p99\">{}</span></p>",
        escape(&t.since),
        t.window_seconds,
        t.requests,
        escape(t.p99.as_deref().unwrap_or("-")),
    );
    if t.rows.is_empty() {
        out.push_str(
            "<p class=\"note\" id=\"traffic-empty\">窗口内无请求 no requests in the window</p>",
        );
        return out;
    }
    let p99 = |r: &TrafficRow| {
        r.p99_le
            .as_ref()
            .map_or("-".into(), |le| format!("≤ {le} s"))
    };
    let bars: Vec<HBar> = t
        .rows
        .iter()
        .map(|r| HBar {
            key: r.infno.clone(),
            label: format!("infno {}", r.infno),
            value: i64::try_from(r.requests).unwrap_or(i64::MAX),
            text: format!(
                "{} ({} /min) · p99 {}",
                r.requests,
                tenths(i64::try_from(r.per_minute_tenths).unwrap_or(i64::MAX)),
                p99(r)
            ),
        })
        .collect();
    out.push_str(&hbar_chart(
        "chart-traffic",
        "按交易请求与p99延迟 requests and p99 latency per transaction",
        &bars,
    ));
    out.push_str(
        "<table class=\"chart-data\" id=\"traffic-data\"><tr><th>交易 <code>infno</code></th>\
         <th class=\"num\">请求 requests</th><th class=\"num\">每分钟 per minute</th>\
         <th class=\"num\">p99 延迟 latency</th></tr>",
    );
    for r in &t.rows {
        let _ = write!(
            out,
            "<tr class=\"traffic\" data-infno=\"{infno}\" data-p99-le=\"{le}\"><td>{infno}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            r.requests,
            tenths(i64::try_from(r.per_minute_tenths).unwrap_or(i64::MAX)),
            escape(&p99(r)),
            infno = escape(&r.infno),
            le = escape(r.p99_le.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</table>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(level: &str, fen: i64) -> LevelPart {
        LevelPart {
            level: level.into(),
            amount_fen: fen,
            payments: 1,
        }
    }

    #[test]
    fn stacked_segments_add_up_to_the_bar_of_the_total() {
        let days = [
            DayStack {
                date: "2026-12-01".into(),
                parts: vec![part("L1", 3_333), part("L3", 6_667)],
            },
            DayStack {
                date: "2026-12-02".into(),
                parts: vec![part("L1", 0), part("L3", 5_000)],
            },
        ];
        let svg = disbursement_chart(&days);
        // Day 1: 10 000 fen is the max → 160 px; L1 is 53 px (3333×160/10000 = 53.3), L3 the
        // rest up to the top.
        assert!(
            svg.contains(r#"data-value="3333" x="40" y="127" width="44" height="53""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"data-value="6667" x="40" y="20" width="44" height="107""#),
            "{svg}"
        );
        assert!(svg.contains(r#"data-date="2026-12-02" data-amount="50.00" data-value="5000""#));
        // A zero segment is not drawn; the table still names it.
        assert_eq!(svg.matches(r#"class="seg""#).count(), 3);
        assert!(svg.contains("<td>2026-12-02</td><td class=\"num\">0.00</td><td class=\"num\">50.00</td><td class=\"num\">50.00</td>"));
        assert!(svg.contains("pat-hatch"));
        assert!(disbursement_chart(&[]).contains("chart-empty"));
    }

    #[test]
    fn days_to_pay_mean_is_rounded_tenths() {
        let mut d = DaysToPay::default();
        for days in [1, 1, 2] {
            d.observe(days);
        }
        assert_eq!(d.mean_tenths(), 13); // 4/3 = 1.33
        assert_eq!((d.min_days, d.max_days), (1, 2));
        d.observe(3); // 7/4 = 1.75 → 1.8
        assert_eq!(d.mean_tenths(), 18);
        let svg = days_to_pay_chart(&[DaysToPay {
            fixmedins_code: "H1".into(),
            ..d
        }]);
        assert!(svg.contains(r#"data-key="H1" data-value="18""#), "{svg}");
        assert!(svg.contains("1.8 天 days (min 1, max 3; n=4)"));
    }

    #[test]
    fn instant_share_is_permille_of_the_fund_amount() {
        let s = InstantShare {
            pay_date: "2026-12-02".into(),
            batch_id: "D1".into(),
            paid_fen: 8_751,
            fund_fen: 10_000,
        };
        assert_eq!(s.permille(), Some(875));
        assert_eq!(percent(875), "87.5%");
        assert_eq!(InstantShare::default().permille(), None);
        let html = instant_share_chart(&[s]);
        assert!(
            html.contains(r#"data-key="2026-12-02" data-value="875""#),
            "{html}"
        );
        assert!(html.contains(r#"data-paid="87.51" data-fund="100.00""#));
    }

    #[test]
    fn traffic_is_the_difference_of_two_samples() {
        let a = parse_metrics(
            "medsettle_requests_total{infno=\"1101\",outcome=\"ok\"} 4\n\
             medsettle_request_duration_seconds_bucket{le=\"0.001\"} 4\n\
             medsettle_request_duration_seconds_bucket{le=\"0.01\"} 4\n\
             medsettle_request_duration_seconds_count 4\n",
        );
        let b = parse_metrics(
            "medsettle_requests_total{infno=\"1101\",outcome=\"ok\"} 10\n\
             medsettle_requests_total{infno=\"2207\",outcome=\"ok\"} 3\n\
             medsettle_request_duration_seconds_bucket{le=\"0.001\"} 5\n\
             medsettle_request_duration_seconds_bucket{le=\"0.01\"} 13\n\
             medsettle_request_duration_seconds_count 13\n",
        );
        let t = traffic(Some(&a), &b, 120_000, "x");
        assert_eq!(t.requests, 9);
        assert_eq!(
            t.rows,
            vec![
                TrafficRow {
                    infno: "1101".into(),
                    requests: 6,
                    per_minute_tenths: 30,
                    p99_le: None,
                },
                TrafficRow {
                    infno: "2207".into(),
                    requests: 3,
                    per_minute_tenths: 15,
                    p99_le: None,
                },
            ]
        );
        // 9 in the window, 1 of them ≤ 1 ms: the p99 is the 10 ms bucket.
        assert_eq!(t.p99.as_deref(), Some("≤ 0.01 s"));
        // From the start: the counters themselves.
        let t = traffic(None, &b, 60_000, "start");
        assert_eq!(t.requests, 13);
        let html = traffic_chart(&t);
        assert!(html.contains(r#"data-key="2207" data-value="3""#), "{html}");
        assert!(html.contains("3 (3.0 /min) · p99 -"), "{html}");
    }

    /// A registry of the gateway (`medsettle_server::metrics`) after a window in which 1101
    /// was fast and 2207 slow: each row's p99 comes from its own series, not from the total.
    #[test]
    fn each_transaction_has_the_p99_of_its_own_histogram() {
        let sample = |fast: u64, slow: u64, slow_late: u64| {
            let total = fast + slow;
            parse_metrics(&format!(
                "medsettle_requests_total{{infno=\"1101\",outcome=\"ok\"}} {fast}\n\
                 medsettle_requests_total{{infno=\"2207\",outcome=\"ok\"}} {slow}\n\
                 medsettle_request_duration_seconds_bucket{{le=\"0.001\"}} {fast}\n\
                 medsettle_request_duration_seconds_bucket{{le=\"0.05\"}} {}\n\
                 medsettle_request_duration_seconds_bucket{{le=\"+Inf\"}} {total}\n\
                 medsettle_request_duration_seconds_count {total}\n\
                 {BY_INFNO}_bucket{{infno=\"1101\",le=\"0.001\"}} {fast}\n\
                 {BY_INFNO}_bucket{{infno=\"1101\",le=\"0.05\"}} {fast}\n\
                 {BY_INFNO}_bucket{{infno=\"1101\",le=\"+Inf\"}} {fast}\n\
                 {BY_INFNO}_sum{{infno=\"1101\"}} 0.1\n\
                 {BY_INFNO}_count{{infno=\"1101\"}} {fast}\n\
                 {BY_INFNO}_bucket{{infno=\"2207\",le=\"0.001\"}} 0\n\
                 {BY_INFNO}_bucket{{infno=\"2207\",le=\"0.05\"}} {}\n\
                 {BY_INFNO}_bucket{{infno=\"2207\",le=\"+Inf\"}} {slow}\n\
                 {BY_INFNO}_count{{infno=\"2207\"}} {slow}\n",
                total - slow_late,
                slow - slow_late,
            ))
        };
        let earlier = sample(100, 10, 0);
        assert_eq!(
            earlier.latency_by_infno["2207"],
            LatencySample {
                buckets: vec![
                    ("0.001".into(), 0),
                    ("0.05".into(), 10),
                    ("+Inf".into(), 10)
                ],
                count: 10
            }
        );
        // In the window: 1,000 more of 1101 under 1 ms, 50 more of 2207 of which 5 over 50 ms.
        let now = sample(1_100, 60, 5);
        let t = traffic(Some(&earlier), &now, 60_000, "x");
        let p99s: Vec<(&str, Option<&str>)> = t
            .rows
            .iter()
            .map(|r| (r.infno.as_str(), r.p99_le.as_deref()))
            .collect();
        assert_eq!(p99s, vec![("1101", Some("0.001")), ("2207", Some("+Inf"))]);
        // Over all transactions the slow ones are under 1 %: the total p99 hides them.
        assert_eq!(t.p99.as_deref(), Some("≤ 0.05 s"));
        let html = traffic_chart(&t);
        assert!(
            html.contains("1000 (1000.0 /min) · p99 ≤ 0.001 s"),
            "{html}"
        );
        assert!(
            html.contains(r#"<tr class="traffic" data-infno="2207" data-p99-le="+Inf">"#),
            "{html}"
        );
        // A restarted gateway (counts went down) counts its series from zero.
        let t = traffic(Some(&now), &sample(10, 2, 0), 60_000, "x");
        assert_eq!(t.rows[1].p99_le.as_deref(), Some("0.05"));
    }
}
