//! `medsettle`: the gateway binary and the operator's command line.

mod bank_cmd;
mod bench;
mod calendar_cmd;
mod config;
mod core_state;
mod demo;
mod exit;
mod file_channel;
#[allow(dead_code)]
mod his;
mod init;
mod journal_cmd;
mod national;
mod seeds;
mod serve;
mod settle_cmd;
mod translate;
mod wire_core;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Default configuration file, as `medsettle init --dir .` writes it.
const CONFIG_DEFAULT: &str = "medsettle.toml";

#[derive(Parser)]
#[command(
    name = "medsettle",
    version,
    about = "Medical-insurance settlement gateway: national and legacy HIS interfaces, durable journal, instant settlement, bank file drop"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Translate one message between the national interface and the canonical schema.
    Translate(translate::TranslateArgs),
    /// Run the main job on the embedded default: gateway, HIS traffic, settlement, summary.
    Demo(demo::DemoArgs),
    /// Write a working configuration, development certificates and sample data into DIR.
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// Address written into the configuration.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: String,
        /// Overwrite an existing configuration (the journal is kept).
        #[arg(long)]
        force: bool,
    },
    /// Run the TLS gateway.
    Serve {
        #[arg(long, default_value = CONFIG_DEFAULT)]
        config: PathBuf,
        /// Override the configured address; 127.0.0.1:0 picks a free port.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Inspect the journal of accepted requests.
    Journal {
        #[arg(long, default_value = CONFIG_DEFAULT, global = true)]
        config: PathBuf,
        #[command(subcommand)]
        cmd: journal_cmd::JournalCommand,
    },
    /// Benchmarks (see BENCHMARKS.md).
    #[command(hide = true)]
    Bench(bench::BenchArgs),
    /// Instant settlement: daily, monthly, quarterly and annual closings.
    Settle {
        #[arg(long, default_value = CONFIG_DEFAULT, global = true)]
        config: PathBuf,
        #[command(subcommand)]
        cmd: settle_cmd::SettleCommand,
    },
    /// Bank file drop: payment files out, receipts in, status, simulator.
    Bank {
        #[arg(long, default_value = CONFIG_DEFAULT, global = true)]
        config: PathBuf,
        #[command(subcommand)]
        cmd: bank_cmd::BankCommand,
    },
    /// Working-day calendar: payment dates and working-day counts.
    Calendar {
        /// Calendar files (one per year, see specs/calendar/); default: the embedded 2025–2026.
        #[arg(long = "calendar-file", global = true)]
        files: Vec<PathBuf>,
        #[command(subcommand)]
        cmd: calendar_cmd::CalendarCommand,
    },
}

/// Structured logs to standard error; `MEDSETTLE_LOG` (e.g. `debug`) overrides `default`.
fn init_logging(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("MEDSETTLE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The gateway logs its life; interactive commands only warnings, so their output reads.
    init_logging(match cli.command {
        Command::Serve { .. } => "info",
        _ => "warn",
    });
    let result = match cli.command {
        Command::Translate(args) => translate::run(args),
        Command::Init { dir, listen, force } => init::run(&dir, &listen, force).map(|path| {
            println!("wrote {}", path.display());
            println!("certificates in {}", dir.join("certs").display());
            println!(
                "start the gateway:  medsettle serve --config {}",
                path.display()
            );
        }),
        Command::Serve { config, listen } => {
            config::load(&config).and_then(|c| serve::run(c, listen))
        }
        Command::Journal { config, cmd } => {
            config::load(&config).and_then(|c| journal_cmd::run(cmd, &c))
        }
        Command::Calendar { files, cmd } => calendar_cmd::run(cmd, &files),
        Command::Settle { config, cmd } => {
            config::load(&config).and_then(|c| settle_cmd::run(cmd, &c))
        }
        Command::Bank { config, cmd } => config::load(&config).and_then(|c| bank_cmd::run(cmd, &c)),
        Command::Bench(args) => bench::run(args),
        Command::Demo(args) => demo::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if exit::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("medsettle: {e:#}");
            if e.chain()
                .any(|c| c.downcast_ref::<exit::BadInput>().is_some())
            {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
