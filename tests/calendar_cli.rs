//! `medsettle calendar coverage`: how far the working-day calendar reaches, with the real binary.

mod common;

use common::{run, run_ok};

fn spec(year: i32) -> String {
    format!(
        "{}/specs/calendar/cn-{year}.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn coverage_names_the_last_day_and_when_the_next_year_is_due() {
    let far = run_ok(&["calendar", "coverage", "2026-06-01"]);
    let mut lines = far.lines();
    assert_eq!(lines.next(), Some("2026-12-31"), "{far}");
    assert!(
        lines
            .next()
            .unwrap()
            .contains("covers through 2026-12-31 (213 days)"),
        "{far}"
    );

    let soon = run_ok(&["calendar", "coverage", "2026-12-02"]);
    assert!(soon.starts_with("2026-12-31\n"), "{soon}");
    assert!(
        soon.contains("ends on 2026-12-31, in 29 days") && soon.contains("add the file for 2027"),
        "{soon}"
    );
    // A narrower window says nothing is due yet.
    let quiet = run_ok(&["calendar", "coverage", "2026-12-02", "--warn-days", "10"]);
    assert!(
        quiet.contains("covers through 2026-12-31 (29 days)"),
        "{quiet}"
    );
}

#[test]
fn a_next_year_file_extends_coverage_and_an_uncovered_year_is_provisional_then_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // Test data, not the State Council's schedule: weekends only.
    let next = dir.path().join("test-2027.toml");
    std::fs::write(&next, "year = 2027\nsource = \"test: weekends only\"\n").unwrap();
    let (y25, y26, y27) = (spec(2025), spec(2026), next.to_str().unwrap().to_owned());
    let out = run_ok(&[
        "calendar",
        "coverage",
        "2026-12-02",
        "--calendar-file",
        &y25,
        "--calendar-file",
        &y26,
        "--calendar-file",
        &y27,
    ]);
    assert!(out.starts_with("2027-12-31\n"), "{out}");
    assert!(
        out.contains("covers through 2027-12-31 (394 days)"),
        "{out}"
    );

    // Without 2027's file, 2027 is dated on the provisional calendar, and coverage says so:
    // first line the last officially covered day, then which years are provisional.
    let out = run_ok(&["calendar", "coverage", "2027-01-04"]);
    assert!(out.starts_with("2026-12-31\n"), "{out}");
    assert!(out.contains("provisional"), "{out}");
    assert!(out.contains("official: 2025"), "{out}");
    // Past the provisional reach nothing can be dated: an error, nothing on stdout.
    let out = run(&["calendar", "coverage", "2040-01-04"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no data for 2040"), "{err}");
    assert!(out.stdout.is_empty(), "nothing on stdout: {out:?}");
}
