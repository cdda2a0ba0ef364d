//! `medsettle serve`: the TLS gateway. Opens the journal, builds the embedded core from the
//! configured policy files, binds, prints `listening on https://ADDR` as the first line of
//! standard output, serves until SIGTERM/SIGINT, then drains in-flight requests and makes a
//! final flush before exiting.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};
use medsettle_core::{Catalogue, Core, PersonRegistry, PolicyBook};
use medsettle_nhsa::DecodeLimits;
use medsettle_server::Server;
use medsettle_server::forward::Forwarder;
use medsettle_server::upstream::UpstreamClient;
use medsettle_store::{SledStore, Store};

use crate::config::{Config, read};
use crate::core_state::PersonIndex;
use crate::exit::BadInput;
use crate::national::NationalService;

/// Open the journal of `config`, saying clearly when another process holds it.
pub fn open_store(config: &Config) -> Result<Arc<SledStore>> {
    let dir = config.journal_dir();
    SledStore::open(&dir, config.store.clone()).map(Arc::new).map_err(|e| {
        anyhow::anyhow!(
            "cannot open the journal at {}: {e} (is another medsettle process, e.g. `serve`, using it? \
             A running gateway answers an operator certificate at GET /ops/journal/stats, \
             /ops/journal/export?from=OFFSET, /ops/settle/status and /ops/bank/status)",
            dir.display()
        )
    })
}

/// The embedded core and person index from the configured files.
pub fn load_core(config: &Config) -> Result<(Core, PersonIndex)> {
    let bad = |what: &str, e: medsettle_core::CoreRefusal| {
        anyhow::Error::from(BadInput::new(format!("{what}: {e}")))
    };
    let policy = PolicyBook::from_toml_str(&read(&config.core.policy)?)
        .map_err(|e| bad(&config.core.policy.display().to_string(), e))?;
    let catalogue = Catalogue::from_toml_str(&read(&config.core.catalogue)?)
        .map_err(|e| bad(&config.core.catalogue.display().to_string(), e))?;
    let persons = PersonRegistry::from_toml_str(&read(&config.core.persons)?)
        .map_err(|e| bad(&config.core.persons.display().to_string(), e))?;
    Ok((Core::new(policy, catalogue), PersonIndex::new(&persons)))
}

pub fn run(config: Config, listen: Option<String>) -> Result<()> {
    let mut server_config = config.server.clone();
    if let Some(l) = listen {
        server_config.listen = l;
    }
    let store = open_store(&config)?;
    tracing::info!(durability = ?config.store.durability, journal = %config.journal_dir().display(), "journal open");
    let (core, persons) = load_core(&config)?;
    let institutions = config.institutions()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async {
        let (bound, addr) = Server::bind(&server_config)
            .await
            .map_err(|e| BadInput::new(format!("server: {e}")))?;
        let mut service = NationalService::new(
            store.clone(),
            core,
            persons,
            institutions,
            DecodeLimits {
                json_depth_max: config.json_depth_max,
            },
            config.receiver_admdvs,
            bound.metrics(),
        )?;
        let (batch, latency) = flush_histograms(&bound.metrics());
        store.set_flush_observer(Arc::new(move |writes, took| {
            batch.observe(writes);
            latency.observe(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        }));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let engine = Arc::new(crate::settle_cmd::build_engine(&config)?);
        service = service.with_engine(engine.clone());
        let mut resolvers = Vec::new();
        for (i, f) in config.forward.iter().enumerate() {
            let client = UpstreamClient::new(&f.upstream)
                .map_err(|e| BadInput::new(format!("forward[{i}].upstream: {e}")))?;
            let mut settings = f.settings.clone();
            settings
                .identity_warn_only
                .extend(config.identity_warn_only.iter().cloned());
            let forwarder = Arc::new(Forwarder::new(client, settings)?);
            service = service.with_forwarder(f.admdvs.clone(), forwarder.clone());
            // Finish exchanges left in doubt (also by a crash), then keep checking.
            let (store, mut stop) = (store.clone(), stop_rx.clone());
            resolvers.push(tokio::spawn(async move {
                forwarder
                    .run_resolver(store.as_ref(), async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
            }));
            tracing::info!(regions = ?f.admdvs, url = %f.upstream.url, "forwarding upstream");
        }
        // The first line of standard output is the address: scripts and tests read it.
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on https://{addr}")?;
        out.flush()?;
        drop(out);
        tracing::info!(%addr, "medsettle gateway serving");
        let background = tokio::spawn(engine_loop(
            config.clone(),
            engine.clone(),
            store.clone(),
            stop_rx.clone(),
        ));
        // Checked once before serving, so the first scrape already has the gauge.
        let mut watch = CalendarWatch::new(
            engine.config().calendar.clone(),
            config
                .settlement
                .calendar_warn_days
                .unwrap_or(crate::calendar_cmd::CALENDAR_WARN_DAYS_DEFAULT),
            &bound.metrics(),
        );
        watch.check(crate::calendar_cmd::today_in_china());
        let calendar_watch = tokio::spawn(watch.run(stop_rx.clone()));
        let readiness_store = store.clone();
        let readiness = Arc::new(move || readiness_store.is_writable());
        let report = bound
            .serve(Arc::new(service), readiness, shutdown_signal())
            .await;
        tracing::info!(
            drained = report.drained,
            cancelled = report.requests_cancelled,
            "stopped accepting; in-flight requests done"
        );
        let _ = stop_tx.send(true);
        let _ = background.await;
        let _ = calendar_watch.await;
        for r in resolvers {
            let _ = r.await;
        }
        anyhow::Ok(())
    });
    // Final flush: everything acknowledged already is durable; this covers offsets and state.
    store.sync().context("final flush")?;
    tracing::info!("journal flushed; bye");
    result
}

/// The group-commit histograms of `/metrics`: writes per commit, and commit duration in µs
/// (rendered in seconds). `bench ingest` reads them back around each measured window.
pub fn flush_histograms(
    metrics: &medsettle_server::Metrics,
) -> (
    Arc<medsettle_server::Histogram>,
    Arc<medsettle_server::Histogram>,
) {
    let batch = metrics.histogram(
        medsettle_server::metrics::METRIC_FLUSH_BATCH_SIZE,
        "Writes made durable by one group commit",
        FLUSH_BATCH_BOUNDS,
        1,
    );
    let duration = metrics.histogram(
        medsettle_server::metrics::METRIC_FLUSH_DURATION,
        "Duration of one group commit (sled flush + fdatasync)",
        FLUSH_LATENCY_BOUNDS_US,
        1_000_000,
    );
    (batch, duration)
}

/// How often `serve` re-checks how far the working-day calendar reaches, ms.
pub const CALENDAR_CHECK_MS: u64 = 3_600_000;

/// Keeps `medsettle_calendar_days_left` current and tells the operator, once per day, when the
/// calendar is about to end (warning) or has ended (error): a claim settled on a day the
/// calendar cannot date gets no T+1 payment date, and the daily close refuses to guess one.
struct CalendarWatch {
    calendar: medsettle_settlement::Calendar,
    warn_days: u32,
    gauge: Arc<medsettle_server::Gauge>,
    told_on: Option<time::Date>,
}

impl CalendarWatch {
    fn new(
        calendar: medsettle_settlement::Calendar,
        warn_days: u32,
        metrics: &medsettle_server::Metrics,
    ) -> CalendarWatch {
        let gauge = metrics.gauge(
            "medsettle_calendar_days_left",
            "Days the working-day calendar covers after today, China time (-1: not even today)",
        );
        CalendarWatch {
            calendar,
            warn_days,
            gauge,
            told_on: None,
        }
    }

    /// Set the gauge for `today`; the first check of a day also logs the coverage, and returns
    /// what it logged.
    fn check(&mut self, today: time::Date) -> Option<medsettle_settlement::CalendarCoverage> {
        use medsettle_settlement::CalendarCoverage;
        let coverage = self.calendar.coverage_on(today, self.warn_days);
        self.gauge.set(coverage.days_left());
        if self.told_on == Some(today) {
            return None;
        }
        self.told_on = Some(today);
        match coverage {
            CalendarCoverage::Covered { .. } => tracing::info!("{coverage}"),
            CalendarCoverage::EndingSoon { .. } => tracing::warn!("{coverage}"),
            CalendarCoverage::Uncovered { .. } => tracing::error!("{coverage}"),
        }
        Some(coverage)
    }

    /// Check again every [`CALENDAR_CHECK_MS`] until `stop`.
    async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(CALENDAR_CHECK_MS)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            self.check(crate::calendar_cmd::today_in_china());
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}

/// Bucket bounds of the group-commit batch-size histogram (writes per flush).
pub const FLUSH_BATCH_BOUNDS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
/// Bucket bounds of the group-commit latency histogram, microseconds.
pub const FLUSH_LATENCY_BOUNDS_US: &[u64] = &[
    250, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 500_000,
];

/// How often `serve` feeds new settled claims to the instant-settlement engine (IS-D), ms.
/// Short, so each catch-up is a small slice of work: at 1,000 ms the engine took one core for
/// ~250 ms once a second under load, and the requests queued behind it set the p99
/// (BENCHMARKS.md, sixth pass).
pub const ENGINE_POLL_MS: u64 = 200;

/// The engine inside the gateway: a journal consumer that keeps the per-institution, per-day
/// aggregates current, and — when `settlement.daily_close_at` is set — the scheduled daily
/// close, which also drops that day's payment file for the bank.
async fn engine_loop(
    config: Config,
    engine: Arc<medsettle_engine::Engine>,
    store: Arc<SledStore>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let scheduler = match config
        .settlement
        .daily_close_at
        .as_deref()
        .map(medsettle_engine::Scheduler::from_hhmm)
    {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            tracing::error!(error = %e, "settlement.daily_close_at is invalid: no scheduled close");
            None
        }
        None => None,
    };
    // A crash between a scheduled close and its file drop would leave the day closed with no
    // file: at start, re-drop the last closed day (idempotent: same batch, same bytes).
    let mut redrop_last_close = true;
    loop {
        let (config, engine, store) = (config.clone(), engine.clone(), store.clone());
        let redrop = std::mem::take(&mut redrop_last_close);
        let work = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let c = engine
                .catch_up(store.as_ref(), &|_, _| {})
                .map_err(|e| anyhow::anyhow!("[{}] {e}", e.rule()))?;
            if c.claims_fed > 0 {
                tracing::info!(
                    claims = c.claims_fed,
                    next_offset = c.next_offset,
                    "settlement engine caught up"
                );
            }
            if let Some(s) = scheduler {
                let status = engine
                    .status(store.as_ref())
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if redrop && let Some(last) = status.last_daily {
                    log_export(&crate::bank_cmd::export(
                        &config,
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
                    log_export(&crate::bank_cmd::export(
                        &config,
                        &engine,
                        store.as_ref(),
                        pay_date,
                    )?);
                }
            }
            Ok(())
        });
        match work.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "settlement engine step failed; retrying"),
            Err(e) => tracing::error!(error = %e, "settlement engine task failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(ENGINE_POLL_MS)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The binary's allocator. The request path allocates a lot of short-lived buffers (JSON
/// values, sled node copies); glibc malloc was ~25 % of the gateway's CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What a scheduled close did, as a log line (standard output is only the address line).
fn log_export(e: &crate::bank_cmd::Exported) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use medsettle_settlement::CalendarCoverage;
    use time::macros::date;

    #[test]
    fn the_calendar_watch_keeps_the_gauge_current_and_tells_once_a_day() {
        let metrics = medsettle_server::Metrics::new(64);
        // A weekends-only 2026: the test must not change when 2027's file is shipped.
        let calendar = medsettle_settlement::Calendar::from_toml_strs(&[
            "year = 2026\nsource = \"test: weekends only\"\n",
        ])
        .unwrap();
        let mut watch = CalendarWatch::new(calendar, 60, &metrics);
        let gauge = |m: &medsettle_server::Metrics| {
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
        assert_eq!(
            watch.check(date!(2027 - 01 - 04)),
            Some(CalendarCoverage::Uncovered { year: 2027 })
        );
        assert_eq!(gauge(&metrics).as_deref(), Some("-1"));
    }
}
