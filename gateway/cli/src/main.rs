//! `medsettle`: the gateway binary and the operator's command line. Each command parses its
//! arguments, calls the libraries (`medsettle_ops` for running and operating the gateway) and
//! prints; nothing here is needed to understand what the gateway does.

mod bank_cmd;
mod calendar_cmd;
mod cert_cmd;
mod demo;
mod exit;
mod interregion_cmd;
mod journal_cmd;
mod prepayment_cmd;
mod settle_cmd;
mod translate;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use medsettle_ops::config::LogFormat;

/// The binary's allocator. The request path allocates a lot of short-lived buffers (JSON
/// values, sled node copies); glibc malloc was ~25 % of the gateway's CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Default configuration file, as `medsettle init --dir .` writes it.
const CONFIG_DEFAULT: &str = "medsettle.toml";

#[derive(Parser)]
#[command(
    name = "medsettle",
    version,
    about = "Medical-insurance settlement gateway: national and legacy HIS interfaces, durable journal, instant settlement, bank file drop"
)]
struct Cli {
    /// Log format on standard error: auto (colours on a terminal, plain otherwise), text or
    /// json. Default: the configuration's `[gateway] log_format`, else auto.
    #[arg(long, value_enum, global = true)]
    log_format: Option<LogFormat>,
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
        /// Pool region of the sample data (6 digits); several gateways of different regions
        /// exchange cross-region settlements (specs/interregion.md).
        #[arg(long, default_value = medsettle_ops::init::SAMPLE_REGION)]
        region: String,
    },
    /// Run the TLS gateway.
    Serve {
        #[arg(long, default_value = CONFIG_DEFAULT)]
        config: PathBuf,
        /// Override the configured address; 127.0.0.1:0 picks a free port.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Inspect the journal of accepted requests (through the running gateway, if any).
    Journal {
        #[arg(long, default_value = CONFIG_DEFAULT, global = true)]
        config: PathBuf,
        #[command(subcommand)]
        cmd: journal_cmd::JournalCommand,
    },
    /// Instant settlement: daily, monthly, quarterly and annual closings.
    Settle {
        #[arg(long, default_value = CONFIG_DEFAULT, global = true)]
        config: PathBuf,
        /// Operation id of the action: the same id again is answered with the first result
        /// and does nothing more (default: a fresh id per run).
        #[arg(long, global = true)]
        op_id: Option<String>,
        #[command(subcommand)]
        cmd: settle_cmd::SettleCommand,
    },
    /// Cross-region exchange with peer regions' gateways: status, daily reconciliation,
    /// exchanges in doubt (specs/interregion.md).
    Interregion {
        #[arg(long, default_value = CONFIG_DEFAULT, global = true)]
        config: PathBuf,
        #[command(subcommand)]
        cmd: interregion_cmd::InterregionCommand,
    },
    /// Vendor certification sessions on the running gateway: open one for an institution and
    /// a scenario, let the vendor's HIS run it, close it for the graded report.
    Cert {
        #[arg(long, default_value = CONFIG_DEFAULT, global = true)]
        config: PathBuf,
        #[command(subcommand)]
        cmd: cert_cmd::CertCommand,
    },
    /// Bank file drop: payment files out, receipts in, status, simulator.
    Bank {
        #[arg(long, default_value = CONFIG_DEFAULT, global = true)]
        config: PathBuf,
        /// Operation id of the action: the same id again is answered with the first result
        /// and does nothing more (default: a fresh id per run).
        #[arg(long, global = true)]
        op_id: Option<String>,
        #[command(subcommand)]
        cmd: bank_cmd::BankCommand,
    },
    /// Working-day calendar: payment dates and working-day counts.
    Calendar {
        /// Calendar files (one per year, see specs/calendar/); default: the embedded ones.
        #[arg(long = "calendar-file", global = true)]
        files: Vec<PathBuf>,
        #[command(subcommand)]
        cmd: calendar_cmd::CalendarCommand,
    },
}

/// Logs to standard error; `MEDSETTLE_LOG` (e.g. `debug`) overrides `level`. Colours only on a
/// terminal: a log file never gets escape codes.
fn init_logging(level: &str, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MEDSETTLE_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Auto => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

fn run(command: Command) -> anyhow::Result<()> {
    let load = medsettle_ops::config::load;
    match command {
        Command::Translate(args) => translate::run(args),
        Command::Init {
            dir,
            listen,
            force,
            region,
        } => medsettle_ops::init::run_for_region(&dir, &listen, force, &region).map(|path| {
            println!("wrote {}", path.display());
            println!("certificates in {}", dir.join("certs").display());
            println!(
                "start the gateway:  medsettle serve --config {}",
                path.display()
            );
        }),
        Command::Serve { config, listen } => {
            load(&config).and_then(|c| medsettle_ops::gateway::run(c, listen))
        }
        Command::Journal { config, cmd } => load(&config).and_then(|c| journal_cmd::run(cmd, &c)),
        Command::Calendar { files, cmd } => calendar_cmd::run(cmd, &files),
        Command::Settle { config, op_id, cmd } => {
            load(&config).and_then(|c| settle_cmd::run(cmd, &c, op_id))
        }
        Command::Bank { config, op_id, cmd } => {
            load(&config).and_then(|c| bank_cmd::run(cmd, &c, op_id))
        }
        Command::Demo(args) => demo::run(args),
        Command::Interregion { config, cmd } => {
            load(&config).and_then(|c| interregion_cmd::run(cmd, &c))
        }
        Command::Cert { config, cmd } => load(&config).and_then(|c| cert_cmd::run(cmd, &c)),
    }
}

/// The log format: the flag, else the configuration's key (read only for `serve`, whose
/// configuration is loaded anyway), else auto.
fn log_format(cli: &Cli) -> LogFormat {
    if let Some(f) = cli.log_format {
        return f;
    }
    match &cli.command {
        Command::Serve { config, .. } => medsettle_ops::config::load(config)
            .map(|c| c.log_format)
            .unwrap_or_default(),
        _ => LogFormat::Auto,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The gateway logs its life; interactive commands only warnings, so their output reads.
    let level = match cli.command {
        Command::Serve { .. } => "info",
        _ => "warn",
    };
    init_logging(level, log_format(&cli));
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if exit::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("medsettle: {e:#}");
            ExitCode::from(if medsettle_ops::is_bad_input(&e) {
                2
            } else {
                1
            })
        }
    }
}
