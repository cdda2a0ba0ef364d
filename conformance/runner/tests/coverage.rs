//! Traceability (`medsettle-conformance coverage`): every rule of `specs/rules.toml` and every
//! legacy `LEG-*` rule has a case that must pass and one that must be refused (or a documented
//! exemption for that side), and the table fails when one is missing.

use std::path::Path;
use std::process::Command;

use medsettle_conformance::coverage;

#[test]
fn every_rule_has_a_case_that_passes_and_one_that_is_refused() {
    let rules = coverage::project_rules(&coverage::bundled_rules_toml()).unwrap();
    assert!(rules.len() >= 47, "{} rules", rules.len());
    assert!(rules.iter().any(|r| r == "LEG-NATIONAL") && rules.iter().any(|r| r == "GW-AUTH"));
    let cov = coverage::coverage(
        &medsettle_conformance::bundled_cases_dir(),
        &rules,
        &coverage::bundled_coverage_toml(),
    );
    let text = cov.to_text(false);
    assert!(cov.is_complete(), "{text}");
    // every exemption has its reason printed
    for row in &cov.rows {
        for e in &row.exempt {
            assert!(text.contains(&e.reason), "{}", e.rule);
        }
    }
}

#[test]
fn the_coverage_command_prints_the_table_and_fails_when_a_rule_lacks_a_case() {
    let bin = env!("CARGO_BIN_EXE_medsettle-conformance");
    let out = Command::new(bin)
        .arg("coverage")
        .arg(medsettle_conformance::bundled_cases_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("FMT-RATIO") && stdout.contains("exempt"),
        "{stdout}"
    );

    // a suite of one refused case: every other rule is missing both sides
    let tmp = std::env::temp_dir().join(format!("medsettle-cov-{}", std::process::id()));
    let case = tmp.join("cases/nhsa/001-x");
    std::fs::create_dir_all(&case).unwrap();
    std::fs::write(
        case.join("case.toml"),
        "dialect = \"nhsa\"\nkind = \"request\"\ndescription = \"x\"\n[expected]\noutcome = \"reject\"\nrules = [\"FMT-JSON\"]\n",
    )
    .unwrap();
    std::fs::write(case.join("input.json"), b"not json").unwrap();
    std::fs::write(tmp.join("coverage.toml"), "").unwrap();
    let out = Command::new(bin)
        .arg("coverage")
        .arg(tmp.join("cases"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FMT-JSON") && stdout.contains("MISSING pass"),
        "{stdout}"
    );
    assert!(stdout.contains("MISSING both"), "{stdout}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn a_broken_statement_is_a_problem() {
    let tmp = std::env::temp_dir().join(format!("medsettle-cov2-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let toml = tmp.join("coverage.toml");
    std::fs::write(
        &toml,
        "[exercised]\n\"nhsa/999-no-such-case\" = [\"FMT-JSON\"]\n\"nhsa/056-identity-2\" = [\"NHSA-ID-2\"]\n[[exempt]]\nrule = \"NO-SUCH-RULE\"\nside = \"both\"\nreason = \"\"\n",
    )
    .unwrap();
    let rules = coverage::project_rules(&coverage::bundled_rules_toml()).unwrap();
    let cov = coverage::coverage(
        Path::new(&medsettle_conformance::bundled_cases_dir()),
        &rules,
        &toml,
    );
    let p = cov.problems.join("\n");
    assert!(
        p.contains("no such case") && p.contains("is a refused case"),
        "{p}"
    );
    assert!(
        p.contains("NO-SUCH-RULE") && p.contains("without a reason"),
        "{p}"
    );
    assert!(!cov.is_complete());
    std::fs::remove_dir_all(&tmp).unwrap();
}
