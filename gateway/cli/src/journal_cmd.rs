//! `medsettle journal stats|export`: what the gateway accepted. Through the running gateway
//! when there is one (durable records), else from the journal directly.

use std::io::Write;

use anyhow::Result;
use clap::Subcommand;
use medsettle_ops::{Config, Query};

#[derive(Subcommand)]
pub enum JournalCommand {
    /// Record counts per kind, offsets, consumers, size on disk.
    Stats {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Every record from OFFSET on as canonical JSON, one record per line.
    Export {
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
    /// Legacy two-phase calls (Guizhou 41/48) settled but not yet confirmed or cancelled.
    Pending,
}

pub fn run(cmd: JournalCommand, config: &Config) -> Result<()> {
    match cmd {
        JournalCommand::Stats { json } => {
            crate::exit::print(&medsettle_ops::read(config, Query::JournalStats { json })?)?;
        }
        JournalCommand::Pending => {
            crate::exit::print(&medsettle_ops::read(config, Query::LegacyPending)?)?;
        }
        JournalCommand::Export { from } => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            medsettle_ops::export(config, from, &mut out)?;
            out.flush()?;
        }
    }
    Ok(())
}
