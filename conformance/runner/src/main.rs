//! `medsettle-conformance [DIR]`: run the conformance cases under DIR (default
//! `conformance/cases`, or the suite bundled with this source tree) offline. Prints one line
//! per failing case, then `N passed, N failed`; exits 1 if any case failed.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = match std::env::args_os().nth(1) {
        Some(d) if d == "-h" || d == "--help" => {
            println!(
                "usage: medsettle-conformance [DIR]\n\nRuns every conformance case (a directory with case.toml) under DIR,\ndefault ./conformance/cases or the suite bundled with the source."
            );
            return ExitCode::SUCCESS;
        }
        Some(d) => PathBuf::from(d),
        None => {
            let local = PathBuf::from("conformance/cases");
            if local.is_dir() {
                local
            } else {
                medsettle_conformance::bundled_cases_dir()
            }
        }
    };
    let summary = medsettle_conformance::run_dir(&dir);
    for f in &summary.failures {
        println!("FAIL {f}");
    }
    println!("{summary}");
    if summary.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
