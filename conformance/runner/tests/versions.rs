//! The versioned suite: reports name the suite version; `--suite-version` runs the suite as of
//! an earlier version (cases `since` a later one, or `until` an earlier one, are skipped); the
//! command line keeps its offline forms and writes every report format.

use std::process::Command;

use medsettle_conformance::suite::{self, Selection, Version};

#[test]
fn the_suite_has_a_version_tied_to_the_interface() {
    let info = suite::suite_info(&medsettle_conformance::bundled_cases_dir()).unwrap();
    assert_eq!(info.interface, "V1.0");
    assert_eq!(
        Version::parse(&info.version).unwrap(),
        suite::current_version()
    );
    let changelog =
        std::fs::read_to_string(medsettle_conformance::bundled_cases_dir().join("../CHANGELOG.md"))
            .unwrap();
    assert!(
        changelog.contains(&format!("## {}", info.version)),
        "CHANGELOG.md has no section for {}",
        info.version
    );
}

#[test]
fn cases_since_a_later_version_are_skipped() {
    let dir = medsettle_conformance::bundled_cases_dir().join("nhsa");
    let now = suite::offline_report(&dir, &Selection::default());
    assert_eq!(now.skipped(), 0);
    assert!(now.is_success(), "{}", now.to_text());
    let old = Selection {
        version: Version(1, 0, 0),
        ..Selection::default()
    };
    let r = suite::offline_report(&dir, &old);
    assert_eq!(r.suite_version, "1.0.0");
    let skipped: Vec<&str> = r
        .cases
        .iter()
        .filter(|c| c.status == medsettle_conformance::report::Status::Skipped)
        .map(|c| c.name.as_str())
        .collect();
    assert!(
        skipped.contains(&"125-response-2204-ratio-five-decimals"),
        "{skipped:?}"
    );
    assert_eq!(r.passed() + r.skipped(), now.passed());
    // --only a rule
    let only = Selection {
        only: Some("FMT-RATIO".into()),
        ..Selection::default()
    };
    let r = suite::offline_report(&dir, &only);
    assert_eq!(
        r.cases.len(),
        2,
        "{:?}",
        r.cases.iter().map(|c| &c.name).collect::<Vec<_>>()
    );
}

#[test]
fn the_command_line_runs_offline_and_writes_the_reports() {
    let bin = env!("CARGO_BIN_EXE_medsettle-conformance");
    let cases = medsettle_conformance::bundled_cases_dir();
    // the historical form
    let out = Command::new(bin).arg(cases.join("nhsa")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.trim_end().ends_with("passed, 0 failed"), "{stdout}");
    // run, with every report and a selection
    let tmp = std::env::temp_dir().join(format!("medsettle-cli-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let out = Command::new(bin)
        .arg("run")
        .arg(&cases)
        .args(["--suite", "legacy:guizhou", "--suite-version", "1.1.0"])
        .arg("--junit")
        .arg(tmp.join("r.xml"))
        .arg("--json")
        .arg(tmp.join("r.json"))
        .arg("--html")
        .arg(tmp.join("r.html"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.join("r.json")).unwrap()).unwrap();
    assert_eq!(json["suite_version"], "1.1.0");
    assert!(
        json["cases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["group"] == "legacy:guizhou")
    );
    assert!(
        std::fs::read_to_string(tmp.join("r.xml"))
            .unwrap()
            .contains("<testsuites")
    );
    assert!(
        std::fs::read_to_string(tmp.join("r.html"))
            .unwrap()
            .contains("legacy:guizhou")
    );
    // a usage error
    let out = Command::new(bin).args(["run", "--bogus"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&tmp).unwrap();
}
