//! The workers inside a running gateway, each a small unit with its own metrics that stops
//! when told: the settlement-engine consumer with the scheduled daily close and file drop
//! ([`EngineWorker`]), the bank inbox watcher ([`InboxWatcher`]) and the calendar watch
//! ([`CalendarWatch`]). (The in-doubt resolver of each upstream is the forwarder's own,
//! `medsettle_service::Forwarder::run_resolver`.) Each step is a plain function a test calls;
//! `run` only repeats it until stopped.

use std::sync::Arc;
use std::time::Duration;

use medsettle_server::{Counter, Gauge, Metrics};
use tokio::sync::watch;

use crate::actions::Operations;

/// How often the engine consumer feeds new settled claims to the instant-settlement engine
/// (IS-D), ms. Short, so each catch-up is a small slice of work: at 1,000 ms the engine took
/// one core for ~250 ms once a second under load, and the requests queued behind it set the
/// p99 (BENCHMARKS.md, sixth pass).
pub const ENGINE_POLL_MS: u64 = 200;

/// Sleep `ms` or until `stop` turns true; true when stopped.
async fn pause(ms: u64, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(ms)) => false,
        _ = stop.wait_for(|s| *s) => true,
    }
}

/// The settlement engine inside the gateway: a journal consumer that keeps the per-institution,
/// per-day aggregates current, and — when `settlement.daily_close_at` is set — the scheduled
/// daily close, which also drops that day's payment file for the bank.
pub struct EngineWorker {
    ops: Arc<Operations>,
    scheduler: Option<medsettle_engine::Scheduler>,
    /// A crash between a scheduled close and its file drop would leave the day closed with no
    /// file: the first step re-drops the last closed day (idempotent: same batch, same bytes).
    redrop_last_close: bool,
    claims_fed: Arc<Counter>,
    failures: Arc<Counter>,
}

impl EngineWorker {
    pub fn new(ops: Arc<Operations>, metrics: &Metrics) -> anyhow::Result<EngineWorker> {
        let scheduler = ops
            .config()
            .settlement
            .daily_close_at
            .as_deref()
            .map(medsettle_engine::Scheduler::from_hhmm)
            .transpose()
            .map_err(|e| crate::error::BadInput::new(format!("settlement.daily_close_at: {e}")))?;
        Ok(EngineWorker {
            ops,
            scheduler,
            redrop_last_close: true,
            claims_fed: metrics.counter(
                "medsettle_engine_claims_fed_total",
                "Settled claims the instant-settlement engine took in from the journal",
            ),
            failures: metrics.counter(
                "medsettle_engine_step_failures_total",
                "Engine consumer steps that failed (retried at the next poll)",
            ),
        })
    }

    /// One step: catch up; if a close is scheduled, re-drop the last close once, then close
    /// and drop whatever day is due. Blocking.
    pub fn step(&mut self) -> anyhow::Result<()> {
        let (engine, store) = (self.ops.engine().clone(), self.ops.store().clone());
        let c = crate::settle::catch_up(&engine, store.as_ref(), &|_, _| {})?;
        self.claims_fed.add(c.claims_fed);
        if c.claims_fed > 0 {
            tracing::debug!(
                claims = c.claims_fed,
                next_offset = c.next_offset,
                "engine caught up"
            );
        }
        let Some(s) = self.scheduler else {
            return Ok(());
        };
        let redrop = std::mem::take(&mut self.redrop_last_close);
        self.ops.exclusive(|ops| {
            let status = engine
                .status(store.as_ref())
                .map_err(crate::settle::engine_err)?;
            if redrop && let Some(last) = status.last_daily {
                log_export(&crate::bank::export(
                    ops.config(),
                    &engine,
                    store.as_ref(),
                    last,
                )?);
            }
            let now = time::OffsetDateTime::now_utc();
            if let Some(pay_date) = s
                .due(now, &engine.config().calendar, status.last_daily)
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                tracing::info!(%pay_date, "scheduled daily close");
                log_export(&crate::bank::export(
                    ops.config(),
                    &engine,
                    store.as_ref(),
                    pay_date,
                )?);
            }
            Ok(())
        })
    }

    /// Step every [`ENGINE_POLL_MS`] until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut worker = Some(self);
        loop {
            let Some(mut w) = worker.take() else { return };
            let done = tokio::task::spawn_blocking(move || {
                let r = w.step();
                (w, r)
            })
            .await;
            match done {
                Ok((w, r)) => {
                    if let Err(e) = r {
                        w.failures.inc();
                        tracing::error!(error = %format!("{e:#}"), "settlement engine step failed; retrying");
                    }
                    worker = Some(w);
                }
                Err(e) => {
                    tracing::error!(error = %e, "settlement engine task failed; the worker stops");
                    return;
                }
            }
            if pause(ENGINE_POLL_MS, &mut stop).await {
                return;
            }
        }
    }
}

/// What a scheduled close did, as a log line (standard output is only the address line).
fn log_export(e: &crate::bank::Exported) {
    let s = &e.day.close.run.summary;
    tracing::info!(
        pay_date = %s.pay_date,
        institutions_paid = s.institutions_paid,
        pay_total = %s.pay_total,
        skipped = s.institutions_skipped,
        file = %e.drop.file_path.display(),
        already_dropped = e.drop.already_dropped,
        summary_csv = %e.day.summary_csv.display(),
        "daily close approved and payment file dropped"
    );
}

/// The bank inbox watcher: applies receipt files as they arrive (complete when their `.ok`
/// trigger announces their bytes; each (name, SHA-256) once; archived or rejected intact
/// afterwards), and brings the engine up to the payment states they moved. Rows not applied
/// are counted by reason; every reason but an exact duplicate is an alert.
pub struct InboxWatcher {
    ops: Arc<Operations>,
    poll_ms: u64,
    files_applied: Arc<Counter>,
    files_rejected: Arc<Counter>,
    receipts_applied: Arc<Counter>,
    rows_not_applied: Vec<(medsettle_filedrop::IgnoreReason, Arc<Counter>)>,
    alerts: Arc<Gauge>,
    failures: Arc<Counter>,
    /// The engine has been brought up to the payment states since the start. Until then every
    /// step tells it (a crash may have come between applying a file and telling the engine);
    /// afterwards only a step that applied something does: telling the engine and counting
    /// the alerts read every payment, too much for a poll of an empty inbox.
    engine_told: std::sync::atomic::AtomicBool,
}

impl InboxWatcher {
    pub fn new(ops: Arc<Operations>, poll_ms: u64, metrics: &Metrics) -> InboxWatcher {
        use medsettle_filedrop::IgnoreReason;
        let rows_not_applied = IgnoreReason::ALL
            .iter()
            .map(|&r| {
                let name = format!("medsettle_receipt_rows_{}_total", r.as_str());
                (
                    r,
                    metrics.counter(&name, "Receipt rows not applied, by this reason"),
                )
            })
            .collect();
        InboxWatcher {
            ops,
            poll_ms,
            files_applied: metrics.counter(
                "medsettle_receipt_files_applied_total",
                "Receipt files applied by the inbox watcher",
            ),
            files_rejected: metrics.counter(
                "medsettle_receipt_files_rejected_total",
                "Receipt files moved to rejected/ by the inbox watcher",
            ),
            receipts_applied: metrics.counter(
                "medsettle_receipts_applied_total",
                "Receipt rows that moved a payment forward",
            ),
            rows_not_applied,
            alerts: metrics.gauge(
                "medsettle_alerts",
                "Operator alerts raised by the bank file drop (conflicting files, receipt rows not applied)",
            ),
            failures: metrics.counter(
                "medsettle_inbox_scan_failures_total",
                "Inbox scans that failed (retried at the next poll)",
            ),
            engine_told: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// One scan of the inbox, with the operator actions held off meanwhile. Blocking.
    pub fn step(&self) -> anyhow::Result<medsettle_filedrop::IngestReport> {
        use std::sync::atomic::Ordering;
        let (report, moved) = self.ops.exclusive(|ops| -> anyhow::Result<_> {
            let store = ops.store().as_ref();
            let report = crate::bank::scan_inbox(ops.config(), store, None)?;
            let moved = !report.is_idle() || !self.engine_told.load(Ordering::SeqCst);
            if moved {
                crate::bank::tell_engine(ops.engine(), store)?;
                self.engine_told.store(true, Ordering::SeqCst);
            }
            Ok((report, moved))
        })?;
        self.files_applied.add(report.files_applied.len() as u64);
        self.files_rejected.add(report.files_rejected.len() as u64);
        self.receipts_applied
            .add(report.receipts_applied.len() as u64);
        for (reason, counter) in &self.rows_not_applied {
            counter.add(report.ignored_by_reason.get(reason).copied().unwrap_or(0));
        }
        if !report.is_idle() {
            tracing::info!(
                applied = report.files_applied.len(),
                duplicate = report.files_duplicate.len(),
                rejected = report.files_rejected.len(),
                receipts = report.receipts_applied.len(),
                not_applied = report.receipts_ignored.len(),
                "receipt files read from the inbox"
            );
        }
        if moved {
            let status = medsettle_filedrop::status(self.ops.store().as_ref())?;
            self.alerts
                .set(i64::try_from(status.alerts).unwrap_or(i64::MAX));
        }
        Ok(report)
    }

    /// Scan every `poll_ms` until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let me = Arc::new(self);
        loop {
            let w = me.clone();
            match tokio::task::spawn_blocking(move || w.step()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    me.failures.inc();
                    tracing::error!(error = %format!("{e:#}"), "inbox scan failed; retrying");
                }
                Err(e) => {
                    tracing::error!(error = %e, "inbox task failed; the watcher stops");
                    return;
                }
            }
            if pause(me.poll_ms, &mut stop).await {
                return;
            }
        }
    }
}

/// How often `serve` re-checks how far the working-day calendar reaches, ms.
pub const CALENDAR_CHECK_MS: u64 = 3_600_000;

/// Keeps `medsettle_calendar_days_left` current and tells the operator, once per day, when the
/// calendar is about to end (warning) or has ended (error): a claim settled on a day the
/// calendar cannot date gets no T+1 payment date, and the daily close refuses to guess one.
pub struct CalendarWatch {
    /// 1 while today is dated only provisionally (no official file for its year).
    provisional: Arc<Gauge>,
    calendar: medsettle_settlement::Calendar,
    warn_days: u32,
    gauge: Arc<Gauge>,
    told_on: Option<time::Date>,
}

impl CalendarWatch {
    pub fn new(
        calendar: medsettle_settlement::Calendar,
        warn_days: u32,
        metrics: &Metrics,
    ) -> CalendarWatch {
        let gauge = metrics.gauge(
            "medsettle_calendar_days_left",
            "Days the working-day calendar covers after today, China time (-1: not even today)",
        );
        CalendarWatch {
            calendar,
            warn_days,
            gauge,
            provisional: metrics.gauge(
                "medsettle_calendar_provisional",
                "1 while today's payment dates come from the provisional calendar (no official file for the year)",
            ),
            told_on: None,
        }
    }

    /// Set the gauge for `today`; the first check of a day also logs the coverage, and returns
    /// what it logged.
    pub fn check(&mut self, today: time::Date) -> Option<medsettle_settlement::CalendarCoverage> {
        use medsettle_settlement::CalendarCoverage;
        let coverage = self.calendar.coverage_on(today, self.warn_days);
        self.gauge.set(coverage.days_left());
        self.provisional.set(i64::from(coverage.is_provisional()));
        if self.told_on == Some(today) {
            return None;
        }
        self.told_on = Some(today);
        match coverage {
            CalendarCoverage::Covered { .. } => tracing::info!("{coverage}"),
            CalendarCoverage::EndingSoon { .. } | CalendarCoverage::Provisional { .. } => {
                tracing::warn!("{coverage}")
            }
            CalendarCoverage::Uncovered { .. } => tracing::error!("{coverage}"),
        }
        Some(coverage)
    }

    /// Check again every [`CALENDAR_CHECK_MS`] until `stop`.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(CALENDAR_CHECK_MS)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            self.check(crate::open::today_in_china());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medsettle_settlement::CalendarCoverage;
    use time::macros::date;

    #[test]
    fn the_calendar_watch_keeps_the_gauge_current_and_tells_once_a_day() {
        let metrics = Metrics::new(64);
        // A weekends-only 2026: the test must not change when 2027's file is shipped.
        let calendar = medsettle_settlement::Calendar::from_toml_strs(&[
            "year = 2026\nsource = \"test: weekends only\"\n",
        ])
        .unwrap();
        let mut watch = CalendarWatch::new(calendar, 60, &metrics);
        let gauge = |m: &Metrics| {
            m.render()
                .lines()
                .find_map(|l| l.strip_prefix("medsettle_calendar_days_left "))
                .map(str::to_owned)
        };
        assert!(matches!(
            watch.check(date!(2026 - 10 - 01)),
            Some(CalendarCoverage::Covered { days_left: 91, .. })
        ));
        assert_eq!(gauge(&metrics).as_deref(), Some("91"));
        // Checked again the same day: the gauge is set, nothing is told twice.
        assert_eq!(watch.check(date!(2026 - 10 - 01)), None);
        assert!(matches!(
            watch.check(date!(2026 - 12 - 02)),
            Some(CalendarCoverage::EndingSoon { days_left: 29, .. })
        ));
        assert_eq!(gauge(&metrics).as_deref(), Some("29"));
        // 2027 has no file: it is dated provisionally, and the gauge (official coverage)
        // says so with -1 until the file is added.
        let provisional = |m: &Metrics| {
            m.render()
                .lines()
                .find_map(|l| l.strip_prefix("medsettle_calendar_provisional "))
                .map(str::to_owned)
        };
        assert_eq!(provisional(&metrics).as_deref(), Some("0"));
        assert!(matches!(
            watch.check(date!(2027 - 01 - 04)),
            Some(CalendarCoverage::Provisional { year: 2027, .. })
        ));
        assert_eq!(gauge(&metrics).as_deref(), Some("-1"));
        assert_eq!(provisional(&metrics).as_deref(), Some("1"));
        // Beyond the provisional reach nothing can be dated at all.
        assert_eq!(
            watch.check(date!(2040 - 01 - 04)),
            Some(CalendarCoverage::Uncovered { year: 2040 })
        );
        assert_eq!(gauge(&metrics).as_deref(), Some("-1"));
    }
}
