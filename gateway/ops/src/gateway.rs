//! `medsettle serve`: the running gateway. Opens the journal (and owns it while it runs),
//! builds the embedded core, the national request service and the operator API, binds, writes
//! where it listens (for the operator commands, [`crate::remote`]), prints `listening on
//! https://ADDR` as the first line of standard output, starts the workers, serves until
//! SIGTERM/SIGINT, then drains in-flight requests, stops the workers and makes a final flush.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};
use medsettle_nhsa::DecodeLimits;
use medsettle_server::upstream::UpstreamClient;
use medsettle_server::{
    BoxFuture, Metrics, OperatorRequest, Server, Service, ServicePaths, ServiceRequest,
    ServiceResponse,
};
use medsettle_service::{Forwarder, HisService, NationalService};
use medsettle_store::Store;

use crate::actions::Operations;
use crate::config::Config;
use crate::error::BadInput;
use crate::open::{CALENDAR_WARN_DAYS_DEFAULT, build_engine, load_core, open_store};
use crate::workers::{CalendarWatch, EngineWorker, InboxWatcher};

/// The service the transport calls: national requests to the request service, `/ops/…` to
/// the operator API.
pub struct Gateway {
    his: Arc<HisService>,
    ops: Arc<Operations>,
}

impl Service for Gateway {
    fn call(&self, req: ServiceRequest) -> BoxFuture<'_, ServiceResponse> {
        self.his.call(req)
    }

    fn national_paths(&self) -> ServicePaths {
        self.his.national_paths()
    }

    fn operator(&self, req: OperatorRequest) -> BoxFuture<'_, ServiceResponse> {
        // The console's paths arrive whole (`/console/…`); `/ops/` paths without the prefix.
        if req.path.starts_with(crate::console::PREFIX) {
            return Box::pin(crate::console::answer(
                self.ops.clone(),
                self.his.clone(),
                req,
            ));
        }
        if req.path.starts_with(crate::interregion_api::PREFIX) {
            return Box::pin(crate::interregion_api::answer(
                self.his.clone(),
                self.ops.clone(),
                req,
            ));
        }
        if req.path.starts_with(crate::certify_api::PREFIX) {
            return Box::pin(crate::certify_api::answer(self.his.clone(), req));
        }
        Box::pin(crate::api::answer(self.ops.clone(), req))
    }
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
    let engine = Arc::new(build_engine(&config)?);
    let ops = Arc::new(Operations::new(
        config.clone(),
        store.clone(),
        engine.clone(),
    ));
    medsettle_server::routes::set_receiver_admdvs(config.receiver_admdvs.as_str());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async {
        let (bound, addr) = Server::bind(&server_config)
            .await
            .map_err(|e| BadInput::new(format!("server: {e}")))?;
        let metrics = bound.metrics();
        let mut national = NationalService::new(
            store.clone(),
            core,
            persons,
            institutions,
            DecodeLimits {
                json_depth_max: config.json_depth_max,
            },
            config.receiver_admdvs,
            metrics.clone(),
        )?
        .with_engine(engine.clone());
        let (batch, latency) = flush_histograms(&metrics);
        store.set_flush_observer(Arc::new(move |writes, took| {
            batch.observe(writes);
            latency.observe(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        }));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut workers = Vec::new();
        for (i, f) in config.forward.iter().enumerate() {
            let client = UpstreamClient::new(&f.upstream)
                .map_err(|e| BadInput::new(format!("forward[{i}].upstream: {e}")))?;
            let mut settings = f.settings.clone();
            settings
                .identity_warn_only
                .extend(config.identity_warn_only.iter().cloned());
            let forwarder = Arc::new(Forwarder::new(client, settings)?);
            national = national.with_forwarder(f.admdvs.clone(), forwarder.clone());
            // Finish exchanges left in doubt (also by a crash), then keep checking.
            let (store, mut stop) = (store.clone(), stop_rx.clone());
            workers.push(tokio::spawn(async move {
                forwarder
                    .run_resolver(store.as_ref(), async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
            }));
            tracing::info!(regions = ?f.admdvs, url = %f.upstream.url, "forwarding upstream");
        }
        let mut resolver_interval_ms = None;
        for (i, p) in config.peer.iter().enumerate() {
            let client = UpstreamClient::new(&p.upstream)
                .map_err(|e| BadInput::new(format!("peer[{i}].upstream: {e}")))?;
            national = national.with_peer(Arc::new(medsettle_service::interregion::Peer::new(
                p.name.clone(),
                p.admdvs.clone(),
                client,
                p.settings.clone(),
            )));
            resolver_interval_ms = Some(
                resolver_interval_ms.map_or(p.settings.resolver_interval_ms, |m: u64| {
                    m.min(p.settings.resolver_interval_ms)
                }),
            );
            tracing::info!(peer = %p.name, regions = ?p.admdvs, url = %p.upstream.url, "cross-region peer");
        }
        let engine_worker = EngineWorker::new(ops.clone(), &metrics)?;
        let inbox_watcher = InboxWatcher::new(ops.clone(), config.inbox_poll_ms, &metrics);
        let mut calendar_watch = CalendarWatch::new(
            engine.config().calendar.clone(),
            config
                .settlement
                .calendar_warn_days
                .unwrap_or(CALENDAR_WARN_DAYS_DEFAULT),
            &metrics,
        );
        // Checked once before serving, so the first scrape already has the gauge.
        calendar_watch.check(crate::open::today_in_china());
        // Handlers first: a SIGTERM right after the address line is a graceful stop too.
        let shutdown = shutdown_signal()?;
        let gateway_file = crate::remote::GatewayFile::write(&config, addr)?;
        // The first line of standard output is the address: scripts and tests read it.
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on https://{addr}")?;
        out.flush()?;
        drop(out);
        tracing::info!(%addr, "medsettle gateway serving");
        workers.push(tokio::spawn(engine_worker.run(stop_rx.clone())));
        workers.push(tokio::spawn(inbox_watcher.run(stop_rx.clone())));
        workers.push(tokio::spawn(calendar_watch.run(stop_rx.clone())));
        let readiness_store = store.clone();
        let readiness = Arc::new(move || readiness_store.is_writable());
        let his = Arc::new(HisService::new(national)?.with_legacy(config.legacy.clone()));
        workers.push(tokio::spawn(legacy_window(
            his.clone(),
            config.legacy.confirm_window,
            stop_rx.clone(),
        )));
        if let Some(ms) = resolver_interval_ms {
            workers.push(tokio::spawn(peer_resolver(
                his.clone(),
                std::time::Duration::from_millis(ms),
                stop_rx.clone(),
            )));
        }
        let gateway = Gateway { his, ops };
        let report = bound.serve(Arc::new(gateway), readiness, shutdown).await;
        tracing::info!(
            drained = report.drained,
            cancelled = report.requests_cancelled,
            "stopped accepting; in-flight requests done"
        );
        let _ = stop_tx.send(true);
        for w in workers {
            let _ = w.await;
        }
        gateway_file.remove();
        anyhow::Ok(())
    });
    // Final flush: everything acknowledged already is durable; this covers offsets and state.
    store.sync().context("final flush")?;
    tracing::info!("journal flushed; bye");
    result
}

/// Resolves cross-region exchanges left in doubt (by a crash, or a peer that stayed silent):
/// at start, then every `interval` (`medsettle_service::interregion`).
async fn peer_resolver(
    his: Arc<HisService>,
    interval: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match his.national().resolve_peer_markers().await {
            Ok((0, 0)) => {}
            Ok((resolved, left)) => {
                tracing::info!(resolved, left, "cross-region exchanges in doubt checked")
            }
            Err(e) => {
                tracing::warn!(error = %e, "cross-region markers could not be read; will retry")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Cancels two-phase legacy calls left unconfirmed past the window (`specs/legacy.md` §4),
/// at start (a crash may have left some) and then every [`LEGACY_WINDOW_CHECKS`]th of the
/// window.
async fn legacy_window(
    his: Arc<HisService>,
    window: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let gateway = Arc::new(medsettle_server::ClientIdentity {
        name: "gateway (confirm window)".into(),
        role: medsettle_server::Role::Operator,
        fixmedins_codes: Vec::new(),
        regions: Vec::new(),
        fingerprint_sha256: String::new(),
    });
    let every = (window / LEGACY_WINDOW_CHECKS).max(std::time::Duration::from_secs(1));
    loop {
        match his.resolve_expired_legacy(gateway.clone()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                cancelled = n,
                "unconfirmed legacy calls past the window cancelled"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "the confirm window could not be checked; will retry")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// How often per confirm window the gateway looks for expired calls: a call is cancelled at
/// most a tenth of the window late.
const LEGACY_WINDOW_CHECKS: u32 = 10;

/// The group-commit histograms of `/metrics`: writes per commit, and commit duration in µs
/// (rendered in seconds). The ingest benchmark reads them back around each measured window.
pub fn flush_histograms(
    metrics: &Metrics,
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

/// Bucket bounds of the group-commit batch-size histogram (writes per flush).
pub const FLUSH_BATCH_BOUNDS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
/// Bucket bounds of the group-commit latency histogram, microseconds.
pub const FLUSH_LATENCY_BOUNDS_US: &[u64] = &[
    250, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 500_000,
];

/// Installs the SIGTERM and SIGINT handlers now; the future resolves on either.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
    })
}
