//! A small metrics registry with Prometheus text exposition (format 0.0.4), written by hand:
//! the server needs counters, gauges and histograms with integer values, and owning the
//! format keeps floats out entirely (values are integers scaled by a power of ten, e.g.
//! microseconds rendered as seconds).
//!
//! The server records `medsettle_requests_total{infno,outcome}`,
//! `medsettle_request_duration_seconds` (all transactions),
//! `medsettle_request_duration_by_infno_seconds{infno}` (the same observations per
//! transaction), connection gauges and refusal counters; the service
//! registers its own (journal offset, flush batch size, flush latency) through
//! [`Metrics::gauge`], [`Metrics::counter`] and [`Metrics::histogram`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Suggested name for the service's journal-offset gauge.
pub const METRIC_JOURNAL_OFFSET: &str = "medsettle_journal_offset";
/// Suggested name for the service's group-commit batch-size histogram.
pub const METRIC_FLUSH_BATCH_SIZE: &str = "medsettle_flush_batch_size";
/// Suggested name for the service's group-commit duration histogram (seconds: flush + fdatasync).
pub const METRIC_FLUSH_DURATION: &str = "medsettle_flush_duration_seconds";
/// Histogram bounds for latencies, in microseconds (render with [`MICROS_PER_SECOND`]).
pub const LATENCY_BUCKETS_MICROS: &[u64] = &[
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000, 30_000_000,
];
/// Histogram bounds for batch sizes (records per flush).
pub const BATCH_SIZE_BUCKETS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
/// Divisor that renders microseconds as seconds.
pub const MICROS_PER_SECOND: u64 = 1_000_000;
/// Label value used once a family has `metric_series_max` label sets.
pub const LABEL_OVERFLOW: &str = "other";
/// The request-latency histogram over all transactions (kept unlabelled: scrapes and alerts
/// written against it keep their meaning).
pub const METRIC_REQUEST_DURATION: &str = "medsettle_request_duration_seconds";
/// The request-latency histogram per transaction, label `infno`: the same observations as
/// [`METRIC_REQUEST_DURATION`], so its series sum to it bucket by bucket.
pub const METRIC_REQUEST_DURATION_BY_INFNO: &str = "medsettle_request_duration_by_infno_seconds";

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn add(&self, v: i64) {
        self.0.fetch_add(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that only goes up.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, v: u64) {
        self.0.fetch_add(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A histogram over integer observations. Bounds and observations share a unit (e.g.
/// microseconds); `divisor` (a power of ten) converts to the exposed unit (e.g. seconds).
#[derive(Debug)]
pub struct Histogram {
    bounds: Vec<u64>,
    divisor: u64,
    /// One per bound plus the +Inf bucket; not cumulative (cumulated when rendered).
    counts: Vec<AtomicU64>,
    sum: AtomicU64,
}

impl Histogram {
    /// # Panics
    /// If the bounds are not strictly increasing or the divisor is not a power of ten: both
    /// are programming errors in a constant.
    pub fn new(bounds: &[u64], divisor: u64) -> Self {
        assert!(
            bounds.windows(2).all(|w| w[0] < w[1]),
            "histogram bounds must increase"
        );
        assert!(is_power_of_ten(divisor), "divisor must be a power of ten");
        Histogram {
            bounds: bounds.to_vec(),
            divisor,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, v: u64) {
        let i = self.bounds.partition_point(|b| *b < v);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
    }

    /// Observe a duration in microseconds (for histograms built on microsecond bounds).
    pub fn observe_duration(&self, d: Duration) {
        self.observe(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn render(&self, out: &mut String, name: &str) {
        self.render_labelled(out, name, "");
    }

    /// Renders the series with `labels` (`infno="2207"`, already escaped; empty for none)
    /// before `le` on the buckets and alone on the sum and count.
    fn render_labelled(&self, out: &mut String, name: &str, labels: &str) {
        let (bucket_labels, own) = if labels.is_empty() {
            (String::new(), String::new())
        } else {
            (format!("{labels},"), format!("{{{labels}}}"))
        };
        let mut cumulative = 0u64;
        for (i, bound) in self.bounds.iter().enumerate() {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            let le = scaled(*bound, self.divisor);
            let _ = writeln!(
                out,
                "{name}_bucket{{{bucket_labels}le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += self.counts[self.bounds.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{bucket_labels}le=\"+Inf\"}} {cumulative}"
        );
        let sum = scaled(self.sum.load(Ordering::Relaxed), self.divisor);
        let _ = writeln!(out, "{name}_sum{own} {sum}");
        let _ = writeln!(out, "{name}_count{own} {cumulative}");
    }
}

fn is_power_of_ten(mut d: u64) -> bool {
    if d == 0 {
        return false;
    }
    while d.is_multiple_of(10) {
        d /= 10;
    }
    d == 1
}

/// `v / divisor` as exact decimal text (`1500`, `1000` → `1.5`).
fn scaled(v: u64, divisor: u64) -> String {
    let whole = v / divisor;
    let frac = v % divisor;
    if frac == 0 {
        return whole.to_string();
    }
    let width = divisor.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// A counter family with labels, capped in the number of label sets.
#[derive(Debug)]
struct LabelledCounter {
    label_names: &'static [&'static str],
    series: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl LabelledCounter {
    fn new(label_names: &'static [&'static str]) -> Self {
        LabelledCounter {
            label_names,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    fn inc(&self, values: &[&str], series_max: usize) {
        debug_assert_eq!(values.len(), self.label_names.len());
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        let key = if series.contains_key(&key) || series.len() < series_max {
            key
        } else {
            // Cardinality guard: values a hostile client controls must not grow the page.
            vec![LABEL_OVERFLOW.to_owned(); values.len()]
        };
        *series.entry(key).or_insert(0) += 1;
    }

    fn get(&self, values: &[&str]) -> u64 {
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        series.get(&key).copied().unwrap_or(0)
    }

    fn render(&self, out: &mut String, name: &str) {
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        for (values, n) in series.iter() {
            let labels: Vec<String> = self
                .label_names
                .iter()
                .zip(values)
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            let _ = writeln!(out, "{name}{{{}}} {n}", labels.join(","));
        }
    }
}

/// A histogram family with one label, capped in the number of label values like
/// [`LabelledCounter`].
#[derive(Debug)]
struct LabelledHistogram {
    label_name: &'static str,
    bounds: &'static [u64],
    divisor: u64,
    series: Mutex<BTreeMap<String, Arc<Histogram>>>,
}

impl LabelledHistogram {
    fn new(label_name: &'static str, bounds: &'static [u64], divisor: u64) -> Self {
        LabelledHistogram {
            label_name,
            bounds,
            divisor,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// The histogram of `value` (of [`LABEL_OVERFLOW`] once `series_max` values are held).
    fn series(&self, value: &str, series_max: usize) -> Arc<Histogram> {
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = series.get(value) {
            return h.clone();
        }
        let value = if series.len() < series_max {
            value
        } else {
            LABEL_OVERFLOW
        };
        series
            .entry(value.to_owned())
            .or_insert_with(|| Arc::new(Histogram::new(self.bounds, self.divisor)))
            .clone()
    }

    fn count(&self, value: &str) -> u64 {
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        series.get(value).map_or(0, |h| h.count())
    }

    fn render(&self, out: &mut String, name: &str) {
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        for (value, h) in series.iter() {
            let labels = format!("{}=\"{}\"", self.label_name, escape_label(value));
            h.render_labelled(out, name, &labels);
        }
    }
}

#[derive(Debug, Clone)]
enum Registered {
    Gauge(Arc<Gauge>),
    Counter(Arc<Counter>),
    Histogram(Arc<Histogram>),
}

impl Registered {
    fn kind(&self) -> &'static str {
        match self {
            Registered::Gauge(_) => "gauge",
            Registered::Counter(_) => "counter",
            Registered::Histogram(_) => "histogram",
        }
    }
}

/// The metrics of one server; shared by the server and its service.
#[derive(Debug)]
pub struct Metrics {
    series_max: usize,
    requests: LabelledCounter,
    request_duration: Histogram,
    request_duration_by_infno: LabelledHistogram,
    connections_open: Gauge,
    connections_refused: LabelledCounter,
    custom: Mutex<Vec<(String, String, Registered)>>,
}

impl Metrics {
    /// `series_max`: label sets per labelled family before labels collapse to `other`.
    pub fn new(series_max: usize) -> Self {
        Metrics {
            series_max,
            requests: LabelledCounter::new(&["infno", "outcome"]),
            request_duration: Histogram::new(LATENCY_BUCKETS_MICROS, MICROS_PER_SECOND),
            request_duration_by_infno: LabelledHistogram::new(
                "infno",
                LATENCY_BUCKETS_MICROS,
                MICROS_PER_SECOND,
            ),
            connections_open: Gauge::default(),
            connections_refused: LabelledCounter::new(&["reason"]),
            custom: Mutex::new(Vec::new()),
        }
    }

    /// Count one answered request. `infno` is `none` when no transaction was identified; the
    /// server passes only a transaction the service recognised or the route named (never a
    /// client's text), and the label is capped at `series_max` values besides.
    pub fn record_request(&self, infno: &str, outcome: &str, duration: Duration) {
        self.requests.inc(&[infno, outcome], self.series_max);
        self.request_duration.observe_duration(duration);
        self.request_duration_by_infno
            .series(infno, self.series_max)
            .observe_duration(duration);
    }

    /// Latency observations counted for transaction `infno` (for tests and health tooling).
    pub fn request_durations_total(&self, infno: &str) -> u64 {
        self.request_duration_by_infno.count(infno)
    }

    /// How many requests were counted with these labels (for tests and health tooling).
    pub fn requests_total(&self, infno: &str, outcome: &str) -> u64 {
        self.requests.get(&[infno, outcome])
    }

    pub(crate) fn connection_opened(&self) {
        self.connections_open.add(1);
    }

    pub(crate) fn connection_closed(&self) {
        self.connections_open.add(-1);
    }

    /// Count a connection refused before any request was served.
    pub(crate) fn connection_refused(&self, reason: &'static str) {
        self.connections_refused.inc(&[reason], self.series_max);
    }

    /// Refused connections with this reason so far.
    pub fn connections_refused_total(&self, reason: &str) -> u64 {
        self.connections_refused.get(&[reason])
    }

    /// Register (or fetch, if registered before) a gauge.
    pub fn gauge(&self, name: &str, help: &str) -> Arc<Gauge> {
        match self.register(name, help, || Registered::Gauge(Arc::default())) {
            Registered::Gauge(g) => g,
            other => panic!("metric {name} is already a {}", other.kind()),
        }
    }

    /// Register (or fetch) a counter. Prometheus convention: the name ends in `_total`.
    pub fn counter(&self, name: &str, help: &str) -> Arc<Counter> {
        match self.register(name, help, || Registered::Counter(Arc::default())) {
            Registered::Counter(c) => c,
            other => panic!("metric {name} is already a {}", other.kind()),
        }
    }

    /// Register (or fetch) a histogram; see [`Histogram::new`] for `bounds` and `divisor`.
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        bounds: &[u64],
        divisor: u64,
    ) -> Arc<Histogram> {
        match self.register(name, help, || {
            Registered::Histogram(Arc::new(Histogram::new(bounds, divisor)))
        }) {
            Registered::Histogram(h) => h,
            other => panic!("metric {name} is already a {}", other.kind()),
        }
    }

    fn register(&self, name: &str, help: &str, make: impl FnOnce() -> Registered) -> Registered {
        // Names are constants in code, so a bad one is a bug, not input.
        assert!(valid_metric_name(name), "invalid metric name `{name}`");
        assert!(
            !name.starts_with("medsettle_requests_")
                && !name.starts_with("medsettle_request_duration_")
                && !name.starts_with("medsettle_connections_"),
            "metric name `{name}` is reserved by the server"
        );
        let mut custom = self.custom.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, _, r)) = custom.iter().find(|(n, _, _)| n == name) {
            return r.clone();
        }
        let r = make();
        custom.push((name.to_owned(), help.replace('\n', " "), r.clone()));
        r
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP medsettle_requests_total Requests answered, by transaction and outcome.\n",
        );
        out.push_str("# TYPE medsettle_requests_total counter\n");
        self.requests.render(&mut out, "medsettle_requests_total");
        out.push_str(
            "# HELP medsettle_request_duration_seconds Time from request head to answer.\n",
        );
        out.push_str("# TYPE medsettle_request_duration_seconds histogram\n");
        self.request_duration
            .render(&mut out, METRIC_REQUEST_DURATION);
        let _ = writeln!(
            out,
            "# HELP {METRIC_REQUEST_DURATION_BY_INFNO} Time from request head to answer, by \
             transaction (`none`: none identified; `{LABEL_OVERFLOW}`: past metric_series_max)."
        );
        let _ = writeln!(out, "# TYPE {METRIC_REQUEST_DURATION_BY_INFNO} histogram");
        self.request_duration_by_infno
            .render(&mut out, METRIC_REQUEST_DURATION_BY_INFNO);
        out.push_str("# HELP medsettle_connections_open Client connections currently open.\n");
        out.push_str("# TYPE medsettle_connections_open gauge\n");
        let _ = writeln!(
            out,
            "medsettle_connections_open {}",
            self.connections_open.get()
        );
        out.push_str(
            "# HELP medsettle_connections_refused_total Connections refused before serving, by reason.\n",
        );
        out.push_str("# TYPE medsettle_connections_refused_total counter\n");
        self.connections_refused
            .render(&mut out, "medsettle_connections_refused_total");
        let custom = self.custom.lock().unwrap_or_else(|p| p.into_inner());
        for (name, help, r) in custom.iter() {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {}", r.kind());
            match r {
                Registered::Gauge(g) => {
                    let _ = writeln!(out, "{name} {}", g.get());
                }
                Registered::Counter(c) => {
                    let _ = writeln!(out, "{name} {}", c.get());
                }
                Registered::Histogram(h) => h.render(&mut out, name),
            }
        }
        out
    }
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_renders_exact_decimals() {
        assert_eq!(scaled(1_500_000, MICROS_PER_SECOND), "1.5");
        assert_eq!(scaled(500, MICROS_PER_SECOND), "0.0005");
        assert_eq!(scaled(2_000_000, MICROS_PER_SECOND), "2");
        assert_eq!(scaled(7, 1), "7");
    }

    #[test]
    fn histogram_is_cumulative_with_inf() {
        let m = Metrics::new(10);
        let h = m.histogram(METRIC_FLUSH_BATCH_SIZE, "records per flush", &[1, 4, 16], 1);
        for v in [1, 3, 4, 100] {
            h.observe(v);
        }
        let text = m.render();
        assert!(
            text.contains("medsettle_flush_batch_size_bucket{le=\"1\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("medsettle_flush_batch_size_bucket{le=\"4\"} 3\n"));
        assert!(text.contains("medsettle_flush_batch_size_bucket{le=\"16\"} 3\n"));
        assert!(text.contains("medsettle_flush_batch_size_bucket{le=\"+Inf\"} 4\n"));
        assert!(text.contains("medsettle_flush_batch_size_sum 108\n"));
        assert!(text.contains("# TYPE medsettle_flush_batch_size histogram\n"));
    }

    #[test]
    fn labels_are_escaped_and_capped() {
        let m = Metrics::new(2);
        m.record_request("2207", "ok", Duration::from_millis(3));
        m.record_request("a\"b", "ok", Duration::from_millis(3));
        m.record_request("9999", "ok", Duration::from_millis(3));
        m.record_request("2207", "ok", Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains("medsettle_requests_total{infno=\"2207\",outcome=\"ok\"} 2\n"));
        assert!(text.contains("infno=\"a\\\"b\""), "{text}");
        assert!(
            text.contains("{infno=\"other\",outcome=\"other\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("medsettle_request_duration_seconds_count 4\n"));
        assert!(text.contains("medsettle_request_duration_seconds_sum 0.012\n"));
    }

    #[test]
    fn request_latency_has_a_histogram_per_transaction_that_sums_to_the_total() {
        let m = Metrics::new(3);
        m.record_request("2207", "ok", Duration::from_micros(800));
        m.record_request("2207", "ok", Duration::from_millis(30));
        m.record_request("1101", "ok", Duration::from_micros(300));
        m.record_request("none", "route", Duration::from_micros(300));
        // Past series_max (3) transactions: counted under `other`.
        m.record_request("9001", "ok", Duration::from_millis(2));
        m.record_request("2208", "ok", Duration::from_millis(2));
        let text = m.render();
        let name = METRIC_REQUEST_DURATION_BY_INFNO;
        for line in [
            format!("# TYPE {name} histogram"),
            format!("{name}_bucket{{infno=\"2207\",le=\"0.0005\"}} 0"),
            format!("{name}_bucket{{infno=\"2207\",le=\"0.001\"}} 1"),
            format!("{name}_bucket{{infno=\"2207\",le=\"0.05\"}} 2"),
            format!("{name}_bucket{{infno=\"2207\",le=\"+Inf\"}} 2"),
            format!("{name}_sum{{infno=\"2207\"}} 0.0308"),
            format!("{name}_count{{infno=\"2207\"}} 2"),
            format!("{name}_bucket{{infno=\"1101\",le=\"0.0005\"}} 1"),
            format!("{name}_count{{infno=\"none\"}} 1"),
            format!("{name}_count{{infno=\"other\"}} 2"),
            // The total is unchanged and still unlabelled.
            "medsettle_request_duration_seconds_count 6".to_owned(),
        ] {
            assert!(text.contains(&format!("{line}\n")), "{line}: {text}");
        }
        assert!(!text.contains("infno=\"9001\",le"), "{text}");
        assert_eq!(m.request_durations_total("2207"), 2);
        assert_eq!(m.request_durations_total("other"), 2);
        // Bucket by bucket, the series add up to the total histogram.
        let bucket = |labels: &str| -> u64 {
            text.lines()
                .filter(|l| l.starts_with(&format!("{name}_bucket{{")) && l.contains(labels))
                .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
                .sum()
        };
        assert_eq!(bucket("le=\"0.0025\""), 5);
        assert!(text.contains("medsettle_request_duration_seconds_bucket{le=\"0.0025\"} 5\n"));
    }

    #[test]
    fn registering_twice_returns_the_same_metric() {
        let m = Metrics::new(10);
        let a = m.gauge(METRIC_JOURNAL_OFFSET, "last journal offset");
        let b = m.gauge(METRIC_JOURNAL_OFFSET, "last journal offset");
        a.set(41);
        b.add(1);
        assert!(m.render().contains("medsettle_journal_offset 42\n"));
    }

    #[test]
    #[should_panic(expected = "already a gauge")]
    fn kind_conflicts_are_bugs() {
        let m = Metrics::new(10);
        m.gauge("x_total", "x");
        m.counter("x_total", "x");
    }
}
