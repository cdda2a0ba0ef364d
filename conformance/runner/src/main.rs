//! `medsettle-conformance`: the vendor conformance suite.
//!
//! ```text
//! medsettle-conformance [DIR]                                  offline, as before
//! medsettle-conformance run [DIR] [REPORT FLAGS] [SELECTION]   offline, with reports
//! medsettle-conformance run --target https://HOST:PORT --cert C --key K --ca CA
//!     [--institution CODE] [--persons FILE] [--data FILE] [--interface-only]
//!     [--flows DIR] [REPORT FLAGS] [SELECTION]                 online flows against a server
//! medsettle-conformance coverage [DIR] [--verbose]             the rule → cases table
//!
//! SELECTION:    --suite nhsa,legacy:guizhou,…  --only RULE|CASE  --suite-version X.Y.Z
//! REPORT FLAGS: --junit FILE  --json FILE  --html FILE
//! ```
//! Exit status: 0 when every required case passed (coverage: the table is complete), 1 when
//! not, 2 on a usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use medsettle_conformance::report::Report;
use medsettle_conformance::suite::{Selection, Version};
use medsettle_conformance::{coverage, online, suite};

const USAGE: &str = "usage:
  medsettle-conformance [DIR]
      run every offline case under DIR (default ./conformance/cases or the bundled suite)
  medsettle-conformance run [DIR] [options]
      the same, with reports and selection
  medsettle-conformance run --target https://HOST:PORT --cert C --key K --ca CA [options]
      run the online flows (conformance/cases/online) against a live endpoint
  medsettle-conformance coverage [DIR] [--verbose]
      print the rule -> cases table; exit 1 when a rule lacks a case that must pass or one
      that must be refused

options:
  --suite LIST           groups to run: nhsa, legacy, legacy:<profile> (comma-separated)
  --only RULE|CASE       only the cases checking RULE, or whose name contains CASE
  --suite-version X.Y.Z  run the suite as of that version (cases' since/until)
  --junit FILE           write a JUnit XML report
  --json FILE            write a JSON report
  --html FILE            write a self-contained HTML report
online options:
  --institution CODE     fixmedins_code of the certificate (default: data.toml)
  --persons FILE         insured persons of the target ([[person]] registry format)
  --data FILE            the target's data (default: <flows>/data.toml)
  --flows DIR            the online flows (default: the bundled conformance/cases/online)
  --interface-only       check only what the national interface defines (no HTTP status
                         other than 200, no medsettle rule ids in err_msg)
";

fn default_cases() -> PathBuf {
    let local = PathBuf::from("conformance/cases");
    if local.is_dir() {
        local
    } else {
        medsettle_conformance::bundled_cases_dir()
    }
}

#[derive(Default)]
struct Args {
    dir: Option<PathBuf>,
    target: Option<String>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    ca: Option<PathBuf>,
    institution: Option<String>,
    persons: Option<PathBuf>,
    data: Option<PathBuf>,
    flows: Option<PathBuf>,
    interface_only: bool,
    suites: Vec<String>,
    only: Option<String>,
    version: Option<String>,
    junit: Option<PathBuf>,
    json: Option<PathBuf>,
    html: Option<PathBuf>,
    verbose: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args::default();
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        let mut value = || {
            i += 1;
            args.get(i)
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--target" => a.target = Some(value()?),
            "--cert" => a.cert = Some(value()?.into()),
            "--key" => a.key = Some(value()?.into()),
            "--ca" => a.ca = Some(value()?.into()),
            "--institution" => a.institution = Some(value()?),
            "--persons" => a.persons = Some(value()?.into()),
            "--data" => a.data = Some(value()?.into()),
            "--flows" => a.flows = Some(value()?.into()),
            "--interface-only" => a.interface_only = true,
            "--suite" => a.suites.extend(
                value()?
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
            "--only" => a.only = Some(value()?),
            "--suite-version" => a.version = Some(value()?),
            "--junit" => a.junit = Some(value()?.into()),
            "--json" => a.json = Some(value()?.into()),
            "--html" => a.html = Some(value()?.into()),
            "--verbose" | "-v" => a.verbose = true,
            f if f.starts_with('-') => return Err(format!("unknown option {f}")),
            d => {
                if a.dir.is_some() {
                    return Err(format!("unexpected argument {d}"));
                }
                a.dir = Some(d.into());
            }
        }
        i += 1;
    }
    Ok(a)
}

fn selection(a: &Args) -> Result<Selection, String> {
    Ok(Selection {
        suites: a.suites.clone(),
        only: a.only.clone(),
        version: match &a.version {
            Some(v) => Version::parse(v)?,
            None => suite::current_version(),
        },
    })
}

fn write_reports(r: &Report, a: &Args) -> Result<(), String> {
    for (path, text) in [
        (&a.junit, r.to_junit_xml()),
        (&a.json, r.to_json()),
        (&a.html, r.to_html()),
    ] {
        if let Some(p) = path {
            medsettle_conformance::write_report_file(p, &text)
                .map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    Ok(())
}

fn run(a: &Args) -> Result<ExitCode, String> {
    let sel = selection(a)?;
    let report = match &a.target {
        Some(target) => {
            let need = |v: &Option<PathBuf>, f: &str| {
                v.clone()
                    .ok_or_else(|| format!("--target needs {f} (mutual TLS)"))
            };
            if a.dir.is_some() {
                return Err("online mode takes --flows DIR, not a positional DIR".into());
            }
            online::run_online(online::OnlineConfig {
                target: target.clone(),
                cert: need(&a.cert, "--cert")?,
                key: need(&a.key, "--key")?,
                ca: need(&a.ca, "--ca")?,
                flows_dir: a
                    .flows
                    .clone()
                    .unwrap_or_else(|| medsettle_conformance::bundled_cases_dir().join("online")),
                data: a.data.clone(),
                institution: a.institution.clone(),
                persons: a.persons.clone(),
                interface_only: a.interface_only,
                selection: sel,
            })?
        }
        None => {
            let dir = a.dir.clone().unwrap_or_else(default_cases);
            suite::offline_report(&dir, &sel)
        }
    };
    print!("{}", report.to_text());
    write_reports(&report, a)?;
    Ok(if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn coverage_cmd(a: &Args) -> Result<ExitCode, String> {
    let dir = a.dir.clone().unwrap_or_else(default_cases);
    let rules = coverage::project_rules(&coverage::bundled_rules_toml())?;
    let toml = dir.join("../coverage.toml");
    let toml = if toml.is_file() {
        toml
    } else {
        coverage::bundled_coverage_toml()
    };
    let cov = coverage::coverage(&dir, &rules, &toml);
    print!("{}", cov.to_text(a.verbose));
    Ok(if cov.is_complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (command, rest) = match args.first().map(String::as_str) {
        Some("run") => ("run", &args[1..]),
        Some("coverage") => ("coverage", &args[1..]),
        _ => ("legacy", &args[..]),
    };
    let parsed = match parse(rest) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("medsettle-conformance: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        "coverage" => coverage_cmd(&parsed),
        _ => run(&parsed),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("medsettle-conformance: {e}");
            ExitCode::from(2)
        }
    }
}
