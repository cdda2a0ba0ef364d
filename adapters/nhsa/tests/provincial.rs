//! Provincial answer shapes (`specs/nhsa-interface.md` §8): repaired and recorded, or refused.

use medsettle_nhsa::{Options, RepairKind, Tolerance, decode, decode_input, to_canonical};
use serde_json::json;

fn cases() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance/cases/nhsa")
}

#[test]
fn derived_part_is_recorded_and_to_canonical_agrees() {
    let bytes = std::fs::read(cases().join("100-provincial-2208-psn-part-null-derived/input.json"))
        .unwrap();
    let d = decode(&bytes, &Options::default()).unwrap();
    assert_eq!(d.derived_fields(), vec!["psn_part_amt".to_owned()]);
    let claim = d.canonical.claim().unwrap();
    assert_eq!(claim.amounts.psn_part_amt.fen(), -4050);
    assert_eq!(
        to_canonical(&bytes, &Options::default()).unwrap(),
        d.canonical
    );
}

#[test]
fn placeholder_elements_are_tolerated_in_answers_only() {
    // a request's placeholder fee line is not silently dropped
    let line = json!({"feedetl_sn": "", "mdtrt_id": "", "psn_no": ""});
    let err = decode_input("2204", &json!({ "feedetail": [line] })).unwrap_err();
    assert!(
        err.violations
            .iter()
            .any(|v| v.path.starts_with("input.feedetail[0]"))
    );
}

#[test]
fn certificate_token_limit_is_configurable() {
    let bytes =
        std::fs::read(cases().join("106-provincial-2207-cert-card-token/input.json")).unwrap();
    let d = decode(&bytes, &Options::default()).unwrap();
    assert_eq!(d.repairs[0].repair, RepairKind::CertificateToken);
    let tight = Options {
        tolerance: Tolerance {
            mdtrt_cert_no_max: 100,
            ..Tolerance::default()
        },
        ..Options::default()
    };
    let e = decode(&bytes, &tight).unwrap_err();
    assert_eq!(e.violations[0].path, "input.data.mdtrt_cert_no");
}
