//! `medsettle bank …`: payment files out, receipts in (F6). `export` and `ingest` are operator
//! actions (performed by the running gateway, or on the journal when none runs); `simulate` is
//! the bank's side of the boundary, reading the outbox and writing the inbox.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use medsettle_bank::simulator::OutcomePlan;
use medsettle_ops::{Action, Config, Query};

#[derive(Subcommand)]
pub enum BankCommand {
    /// Approve the daily payment summary of pay date DATE (closing the day first if needed)
    /// and drop its payment file with a trigger file into the outbox.
    Export {
        #[arg(long)]
        date: String,
    },
    /// Apply receipt files now (a running gateway also applies them as they arrive).
    Ingest {
        /// A receipt file (with its .ok trigger beside it) or a directory of them; default the
        /// inbox. A file is never written over: one already in the inbox is read where it is.
        path: Option<PathBuf>,
    },
    /// Batches, their states, payments by status, alerts.
    Status,
    /// Acknowledge an alert `bank status` lists (its id): journaled with who and when.
    Ack {
        #[arg(long)]
        alert: String,
    },
    /// The bank simulator: answers payment files in the outbox with receipts in the inbox.
    Simulate {
        /// Answer what is there and stop (default: keep polling).
        #[arg(long)]
        once: bool,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Per mille of payments that fail (closed account, name mismatch …).
        #[arg(long, default_value_t = 0)]
        failed_per_mille: u16,
        /// Per mille pending, then paid in a second receipt.
        #[arg(long, default_value_t = 0)]
        pending_per_mille: u16,
        /// Per mille paid, then returned in a second receipt.
        #[arg(long, default_value_t = 0)]
        returned_per_mille: u16,
        /// Deliver the first receipt file twice.
        #[arg(long)]
        duplicate: bool,
        /// Also deliver a truncated copy of the first receipt file.
        #[arg(long)]
        truncated: bool,
    },
}

pub fn run(cmd: BankCommand, config: &Config, op_id: Option<String>) -> Result<()> {
    let action = match cmd {
        BankCommand::Status => {
            crate::exit::print(&medsettle_ops::read(config, Query::BankStatus)?)?;
            return Ok(());
        }
        BankCommand::Export { date } => Action::BankExport { date },
        BankCommand::Ack { alert } => Action::BankAck { alert },
        // The gateway reads the path on its own machine, from its own working directory.
        BankCommand::Ingest { path } => Action::BankIngest {
            path: path
                .map(|p| std::path::absolute(&p).with_context(|| format!("{}", p.display())))
                .transpose()?,
        },
        BankCommand::Simulate {
            once,
            seed,
            failed_per_mille,
            pending_per_mille,
            returned_per_mille,
            duplicate,
            truncated,
        } => {
            let cfg = medsettle_ops::open::filedrop_config(config)?;
            let mut plan = OutcomePlan::all_paid(seed);
            plan.failed_per_mille = failed_per_mille;
            plan.pending_per_mille = pending_per_mille;
            plan.returned_per_mille = returned_per_mille;
            plan.duplicate_receipt = duplicate;
            plan.truncated_copy = truncated;
            let r = medsettle_filedrop::simulate_loop(&cfg, &plan, once)?;
            println!(
                "bank: answered {} payment files, refused {}, wrote {} receipt files",
                r.files_answered.len(),
                r.files_refused.len(),
                r.receipts_written.len()
            );
            return Ok(());
        }
    };
    crate::exit::perform(config, &action, op_id)
}
