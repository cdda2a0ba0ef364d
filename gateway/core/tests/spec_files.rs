//! The shipped files under `specs/policy/` load, and the README documents exactly the codes the
//! code can produce (so spec and code cannot drift).

mod common;

use common::*;
use medsettle_core::RefusalCode;
use medsettle_core::error::WARNING_CODES;

#[test]
fn example_files_load() {
    let book = policy();
    assert_eq!(book.schemes().len(), 3);
    assert!(catalogue().len() >= 5);
    let reg = registry();
    assert_eq!(reg.persons.len(), 4);
    assert!(
        reg.persons.iter().any(|p| p.balc.is_none()),
        "a person without an account"
    );
}

#[test]
fn readme_documents_every_code_and_only_those() {
    let readme = spec("README.md");
    let documented: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| CORE-"))
        .map(|rest| rest.split(' ').next().unwrap())
        .collect();
    let mut in_code: Vec<String> = RefusalCode::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .chain(WARNING_CODES.iter().map(|w| (*w).to_owned()))
        .collect();
    in_code.sort();
    let mut documented: Vec<String> = documented.iter().map(|d| format!("CORE-{d}")).collect();
    documented.sort();
    assert_eq!(documented, in_code);
}

#[test]
fn a_broken_policy_names_its_key() {
    let text = spec("example.toml").replacen("ratio = \"0.50\"", "ratio = \"1.50\"", 1);
    let e = medsettle_core::PolicyBook::from_toml_str(&text).unwrap_err();
    assert_eq!(e.code(), "CORE-CONFIG");
    assert_eq!(e.path(), "scheme[0].benefit[0].admission_factor[0].ratio");
}
