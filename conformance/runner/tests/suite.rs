//! The whole bundled suite passes, and it is big enough to mean something.

#[test]
fn bundled_suite_passes() {
    let dir = medsettle_conformance::bundled_cases_dir();
    let summary = medsettle_conformance::run_dir(&dir);
    for f in &summary.failures {
        eprintln!("FAIL {f}");
    }
    assert_eq!(summary.failed, 0, "{summary}");
    let nhsa = medsettle_conformance::find_cases(&dir.join("nhsa")).len();
    assert!(nhsa >= 60, "only {nhsa} nhsa cases");
    for profile in medsettle_legacy::Profile::builtin_names() {
        let n = medsettle_conformance::find_cases(&dir.join(format!("legacy-{profile}"))).len();
        assert!(n >= 40, "only {n} legacy-{profile} cases");
    }
    // issue 17: at least 300 cases in all, offline and online
    let online = medsettle_conformance::online::load_flows(&dir.join("online"))
        .unwrap()
        .len();
    let all = medsettle_conformance::find_cases(&dir).len() + online;
    assert!(all >= 300, "only {all} cases");
}

#[test]
fn a_wrong_expectation_fails() {
    // a case that expects the wrong rule must fail, so the suite cannot pass vacuously
    let tmp = std::env::temp_dir().join(format!("medsettle-conf-{}", std::process::id()));
    let case = tmp.join("nhsa/001-wrong");
    std::fs::create_dir_all(&case).unwrap();
    std::fs::write(
        case.join("case.toml"),
        "dialect = \"nhsa\"\nkind = \"request\"\ndescription = \"x\"\n[expected]\noutcome = \"reject\"\nrules = [\"FMT-MONEY\"]\n",
    )
    .unwrap();
    std::fs::write(case.join("input.json"), b"{\"infno\": 1}").unwrap();
    let s = medsettle_conformance::run_dir(&tmp);
    assert_eq!((s.passed, s.failed), (0, 1), "{:?}", s.failures);
    std::fs::write(case.join("input.json"), b"not json").unwrap();
    std::fs::write(
        case.join("case.toml"),
        "dialect = \"nhsa\"\nkind = \"request\"\ndescription = \"x\"\n[expected]\noutcome = \"reject\"\nrules = [\"FMT-JSON\"]\n",
    )
    .unwrap();
    let s = medsettle_conformance::run_dir(&tmp);
    assert_eq!((s.passed, s.failed), (1, 0), "{:?}", s.failures);
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn a_wrong_legacy_expectation_fails() {
    let tmp = std::env::temp_dir().join(format!("medsettle-conf-legacy-{}", std::process::id()));
    let case = tmp.join("legacy-guizhou/001-wrong");
    std::fs::create_dir_all(&case).unwrap();
    let body = b"<input><prm_akc190>1</prm_akc190></input>";
    std::fs::write(case.join("input.xml"), body).unwrap();
    let toml = |field: &str| {
        format!(
            "dialect = \"legacy:guizhou\"\nkind = \"request\"\ntransaction = \"41\"\ndescription = \"x\"\n[expected]\noutcome = \"reject\"\nrules = [\"LEG-FIELD\"]\nfields = [\"{field}\"]\n"
        )
    };
    std::fs::write(case.join("case.toml"), toml("prm_hisfyze")).unwrap();
    let s = medsettle_conformance::run_dir(&tmp);
    assert_eq!((s.passed, s.failed), (0, 1), "{:?}", s.failures);
    std::fs::write(case.join("case.toml"), toml("prm_aac001")).unwrap();
    let s = medsettle_conformance::run_dir(&tmp);
    assert_eq!((s.passed, s.failed), (1, 0), "{:?}", s.failures);
    std::fs::remove_dir_all(&tmp).unwrap();
}
