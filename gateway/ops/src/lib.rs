//! medsettle-ops: running the gateway and operating it.
//!
//! - [`config`]: `medsettle.toml`, validated at load with the key named; [`init`] writes a
//!   working one with a development PKI and the sample data set.
//! - [`open`]: the journal, the embedded core, the instant-settlement engine, the calendar and
//!   the bank file drop a configuration names.
//! - [`actions`]: what an operator does (close a day, a month, a quarter, a year; drop a payment
//!   file; apply receipts; reconcile), as typed, idempotent, journaled functions;
//!   [`settle`], [`bank`] and [`journal`] hold their pieces and the text they print.
//! - [`api`]: the same actions and reads on the operator role of mutual TLS (`/ops/…`).
//! - [`gateway`]: `serve` — the running gateway and its [`workers`] (engine consumer and
//!   scheduled close, bank inbox watcher, calendar watch).
//! - [`remote`]: how an operator command finds the gateway running on its configuration.
//!
//! [`perform_as`], [`read`] and [`export`] are what the command line calls: through the running
//! gateway when there is one, on the journal directly when there is none — the same text
//! either way.

pub mod actions;
pub mod api;
pub mod bank;
pub mod certify_api;
pub mod config;
pub mod console;
pub mod console_clearing;
pub mod console_figures;
pub mod console_form;
pub mod console_xlsx;
pub mod error;
pub mod gateway;
pub mod init;
pub mod interregion_api;
pub mod journal;
pub mod open;
pub mod payfile;
pub mod prepayment_books;
pub mod remote;
pub mod settle;
pub mod workers;

use std::sync::Arc;

pub use actions::{Action, ActionError, Operations, Outcome, Performed};
pub use api::Query;
pub use config::Config;
pub use error::{BadInput, is_bad_input};

/// Who performs an action when no gateway runs: the command itself.
pub const LOCAL_OPERATOR: &str = "local";

/// The operations of `config` on its journal, opened by this process (no gateway running).
/// The journal must exist: an operator command never creates one (a mistyped `data_dir`
/// would otherwise report an empty journal); `serve` creates it.
pub fn open_local(config: &Config) -> anyhow::Result<Operations> {
    let dir = config.journal_dir();
    if !dir.is_dir() {
        anyhow::bail!(BadInput::new(format!(
            "no journal at {}: is data_dir right? (`medsettle serve` creates it)",
            dir.display()
        )));
    }
    let store = open::open_store(config)?;
    let engine = Arc::new(open::build_engine(config)?);
    Ok(Operations::new(config.clone(), store, engine))
}

/// How long a command keeps looking for a gateway that is starting, ms: a killed gateway
/// leaves its `gateway.json` behind, and a command that finds nobody listening there opens the
/// journal itself — unless a new gateway has meanwhile taken the journal, which is then asked
/// instead.
pub const GATEWAY_START_WAIT_MS: u64 = 15_000;

/// The gateway's answer, or the journal opened by this process when no gateway runs. A
/// journal that cannot be opened while a `gateway.json` says a gateway runs means one is
/// starting (it holds the lock before it listens): ask it again, within
/// [`GATEWAY_START_WAIT_MS`].
fn via_gateway_or_journal<T>(
    config: &Config,
    mut ask_gateway: impl FnMut() -> anyhow::Result<Option<T>>,
    open_journal: impl Fn() -> anyhow::Result<Operations>,
) -> anyhow::Result<Result<T, Operations>> {
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_millis(GATEWAY_START_WAIT_MS);
    loop {
        if let Some(answer) = ask_gateway()? {
            return Ok(Ok(answer));
        }
        match open_journal() {
            Ok(ops) => return Ok(Err(ops)),
            Err(_)
                if remote::GatewayFile::read(config).is_some()
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Perform `action` under operation `op_id` (the same id again does nothing more): on the
/// running gateway if there is one, else on the journal directly.
pub fn perform_as(config: &Config, op_id: &str, action: &Action) -> anyhow::Result<Performed> {
    match via_gateway_or_journal(
        config,
        || remote::perform(config, op_id, action),
        || open_local(config),
    )? {
        Ok(done) => Ok(done),
        Err(ops) => ops
            .perform(op_id, action, LOCAL_OPERATOR)
            .map_err(ActionError::into_anyhow),
    }
}

/// The text of a read (`settle status`, `bank status`, `journal stats`), from the running
/// gateway if there is one, else from the journal directly.
pub fn read(config: &Config, query: Query) -> anyhow::Result<String> {
    match via_gateway_or_journal(
        config,
        || remote::read(config, query),
        || open_local(config),
    )? {
        Ok(text) => Ok(text),
        Err(ops) => query.answer(&ops),
    }
}

/// `journal export --from FROM` into `out`, from the running gateway if there is one (durable
/// records, page by page), else from the journal directly.
pub fn export(config: &Config, from: u64, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let ops = match via_gateway_or_journal(
        config,
        || Ok(remote::export(config, from, &mut *out)?.then_some(())),
        || open_local(config),
    )? {
        Ok(()) => return Ok(()),
        Err(ops) => ops,
    };
    use medsettle_store::Store;
    for item in ops.store().export(from) {
        serde_json::to_writer(&mut *out, &journal::export_line(item))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
