//! The sample institution registry loads, and a duplicate code is refused (IS-SC-4).

use medsettle_canonical::EnrolmentStatus;
use medsettle_engine::load_institutions_toml;

#[test]
fn is_sc_4_sample_institutions_load_and_duplicates_are_refused() {
    let text = include_str!("../../../specs/sample/institutions.toml");
    let list = load_institutions_toml(text).unwrap();
    assert!(list.len() >= 4);
    assert!(list.iter().any(|i| i.status == EnrolmentStatus::Suspended));
    let first = text.find("[[institution]]").unwrap();
    let second = text[first + 1..].find("[[institution]]").unwrap() + first + 1;
    let doubled = format!("{text}\n{}", &text[first..second]);
    let e = load_institutions_toml(&doubled).unwrap_err();
    assert_eq!(e.rule(), "IS-SC-4");
    assert!(e.to_string().contains("listed twice"), "{e}");
}
