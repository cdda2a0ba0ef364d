//! `medsettle`: the gateway binary and the operator's command line.

mod calendar_cmd;
mod exit;
#[allow(dead_code)]
mod his;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "medsettle", version, about = "Medical-insurance settlement gateway: national and legacy HIS interfaces, durable journal, instant settlement, bank file drop")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Working-day calendar: payment dates and working-day counts.
    Calendar {
        /// Calendar files (one per year, see specs/calendar/); default: the embedded 2025–2026.
        #[arg(long = "calendar-file", global = true)]
        files: Vec<PathBuf>,
        #[command(subcommand)]
        cmd: calendar_cmd::CalendarCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Calendar { files, cmd } => calendar_cmd::run(cmd, &files),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("medsettle: {e:#}");
            if e.downcast_ref::<exit::BadInput>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
