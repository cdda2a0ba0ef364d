//! `medsettle-bench`: parses its arguments and runs the benchmark library against the
//! `medsettle` binary (`--gateway`, default: the one beside this executable).

use clap::Parser;
use medsettle_bench::{Cli, run, sibling_gateway};
use medsettle_ops::BadInput;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let gateway = match cli.gateway.map_or_else(sibling_gateway, Ok) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("medsettle-bench: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(cli.args, &gateway) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("medsettle-bench: {e:#}");
            let bad = e.chain().any(|c| c.downcast_ref::<BadInput>().is_some());
            std::process::ExitCode::from(if bad { 2 } else { 1 })
        }
    }
}
