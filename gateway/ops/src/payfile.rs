//! Payment files for the bank: a closing's batch dropped into the outbox (with its trigger),
//! and the lines that say so. Shared by the daily export and the monthly, quarterly and
//! annual closings.

use std::fmt::Write as _;

use anyhow::Result;
use medsettle_filedrop::{DropReport, Outbox};
use medsettle_store::Store;

use crate::config::Config;
use crate::open::filedrop_config;

/// Drop the payment file of a closing's batch (monthly, quarterly, annual) for the bank, as
/// `bank export` does for a day; idempotent (the same batch renders to the same bytes and is
/// dropped once). A batch with nothing to pay drops nothing. Returns the lines to print.
pub fn drop_for_bank(
    config: &Config,
    store: &dyn Store,
    batch: &medsettle_canonical::PaymentBatch,
) -> Result<String> {
    if batch.payments.is_empty() {
        return Ok(String::new());
    }
    let cfg = filedrop_config(config)?;
    Outbox::recover(store, &cfg)?;
    Ok(drop_text(&Outbox::drop_batch(store, &cfg, batch)?))
}

/// The payment file dropped (or found dropped before) and its trigger.
pub fn drop_text(r: &DropReport) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{} {} ({} payments, control sum {}, sha256 {})",
        if r.already_dropped {
            "already dropped"
        } else {
            "dropped"
        },
        r.file_path.display(),
        r.count,
        r.control_sum,
        &r.sha256[..16],
    );
    let _ = writeln!(t, "trigger {}", r.trigger_path.display());
    t
}
