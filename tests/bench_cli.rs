//! `medsettle-bench ingest`, briefly, with the real binaries: the report has its table row,
//! the gateway's group commits of the measured window, and the verdict on the target.

mod common;

/// `medsettle-bench ARGS…` (its library, exactly what the binary runs) against the
/// `medsettle` binary under test.
fn run_bench(args: &[&str]) {
    medsettle_bench::run_args(args, &common::bin()).expect("medsettle-bench ingest");
}

#[test]
fn a_short_ingest_run_reports_acks_latency_and_group_commits() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.md");
    run_bench(&[
        "ingest",
        "--seconds",
        "1",
        "--warmup",
        "0",
        "--connections",
        "2",
        "--skip-postgres",
        "--out",
        out.to_str().unwrap(),
    ]);
    let report = std::fs::read_to_string(&out).unwrap();
    let row = report
        .lines()
        .find(|l| l.starts_with("| medsettle fsync (mTLS) | 2 |"))
        .unwrap_or_else(|| panic!("no row for 2 connections:\n{report}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    let acks: u64 = cells[3].parse().unwrap();
    assert!(acks > 0, "{row}");
    assert_eq!(cells[9], "0", "no errors: {row}");
    let commits = report
        .lines()
        .find(|l| l.starts_with("- medsettle at 2: "))
        .unwrap_or_else(|| panic!("no group-commit line:\n{report}"));
    let n: u64 = commits
        .trim_start_matches("- medsettle at 2: ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{commits}: {e}"));
    assert!(n > 0, "{commits}");
    assert!(
        commits.contains("writes each, mean ") && commits.contains(" over 100 ms"),
        "{commits}"
    );
    assert!(report.contains("PostgreSQL reference skipped"), "{report}");
}
