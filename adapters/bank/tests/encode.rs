//! Encoders: golden output, XSD validity, determinism, and every refusal.

mod common;

use common::*;
use medsettle_bank::trigger::{self, TriggerFile};
use medsettle_bank::{BankError, BankProfile, Fault, Pain001Options, delimited, pain001};
use medsettle_canonical::Money;

#[test]
fn pain001_matches_golden_and_validates_against_the_xsd() {
    let xml = pain001::encode(&batch(), &Pain001Options::default()).unwrap();
    assert_golden("pain001_basic.xml", &xml);
    xsd_validate(&[xml]);
}

#[test]
fn same_batch_same_bytes() {
    let a = pain001::encode(&batch(), &Pain001Options::default()).unwrap();
    let b = pain001::encode(&batch().clone(), &Pain001Options::default()).unwrap();
    assert_eq!(a, b);
    let p = BankProfile::default_gbk();
    assert_eq!(
        delimited::encode(&batch(), &p).unwrap(),
        delimited::encode(&batch(), &p).unwrap()
    );
}

#[test]
fn pain001_escapes_and_carries_ids_and_amounts_exactly() {
    let text =
        String::from_utf8(pain001::encode(&batch(), &Pain001Options::default()).unwrap()).unwrap();
    assert!(text.contains("<Nm>A&amp;B &lt;大药房&gt; &quot;连锁&quot;</Nm>"));
    assert!(text.contains("<MsgId>B440300-20250103-0001</MsgId>"));
    assert!(text.contains("<EndToEndId>PAY-20250103-0002</EndToEndId>"));
    assert!(text.contains("<InstdAmt Ccy=\"CNY\">0.05</InstdAmt>"));
    assert!(text.contains("<CtrlSum>1333333.37</CtrlSum>"));
    assert!(text.contains("结算日2025-01-02~2025-01-04,2025-01-07 批次B440300-20250103-0001"));
}

fn expect_batch_error(b: medsettle_canonical::PaymentBatch, rule: &str) -> BankError {
    let e = pain001::encode(&b, &Pain001Options::default()).unwrap_err();
    assert_eq!(e.rule(), rule, "{e}");
    assert_eq!(e.fault(), Fault::Internal);
    // the delimited encoder applies the same checks
    assert_eq!(
        delimited::encode(&b, &BankProfile::default_gbk())
            .unwrap_err()
            .rule(),
        rule
    );
    e
}

#[test]
fn invalid_batches_are_refused_with_the_rule_named() {
    let mut b = batch();
    b.payments[1].payee.bank_code = "10458400000".into();
    let e = expect_batch_error(b, "bank.cnaps_12_digits");
    assert!(e.to_string().contains("PAY-20250103-0002"), "{e}");

    let mut b = batch();
    b.payments[0].amount = Money::ZERO;
    expect_batch_error(b, "bank.amount_positive");

    let mut b = batch();
    b.payments[0].payee.name = "  ".into();
    expect_batch_error(b, "bank.name_required");

    let mut b = batch();
    b.payments[0].payee.name = "北京大学深圳医院 ".into();
    expect_batch_error(b, "bank.text_allowed_chars");

    let mut b = batch();
    b.payments[0].payee.account = "6222 0202".into();
    expect_batch_error(b, "bank.account_format");

    let mut b = batch();
    b.batch_id = "B".repeat(36);
    expect_batch_error(b, "bank.text_max_len");

    let mut b = batch();
    b.payments[2].payment_id = b.payments[0].payment_id.clone();
    expect_batch_error(b, "bank.id_unique");

    let mut b = batch();
    b.payments.clear();
    expect_batch_error(b, "bank.batch_not_empty");

    let mut b = batch();
    b.payments[0].payee.name = "名".repeat(71);
    let e = pain001::encode(&b, &Pain001Options::default()).unwrap_err();
    assert_eq!(e.rule(), "bank.text_max_len");

    let mut b = batch();
    b.created_at = "2025-01-03 09:30".into();
    assert_eq!(
        pain001::encode(&b, &Pain001Options::default())
            .unwrap_err()
            .rule(),
        "bank.datetime_format"
    );
}

#[test]
fn delimited_gbk_matches_golden_and_reads_back() {
    let p = BankProfile::default_gbk();
    let bytes = delimited::encode(&batch(), &p).unwrap();
    assert_golden("delimited_basic_gbk.txt", &bytes);
    let (text, _, had_errors) = encoding_rs::GBK.decode(&bytes);
    assert!(!had_errors);
    assert!(text.starts_with(
        "H|B440300-20250103-0001|B440300-20250103-0001|20250103|44201500000052500001|"
    ));
    assert!(text.contains("|0.05|医保基金配送企业预付 结算日2025-01-02 批次B440300-20250103-0001|替代PAY-20241231-0009|\r\n"));
    assert!(text.ends_with("T|3|1333333.37|\r\n"));
    let back = delimited::decode_payments("f", &bytes, &p, &Default::default()).unwrap();
    assert_eq!(back.payments.len(), 3);
    assert_eq!(back.control_sum, batch().control_sum());
    assert_eq!(back.payments[2].payee_name, "A&B <大药房> \"连锁\"");
    assert_eq!(
        delimited::file_name(&batch(), &p, 1),
        "YBBF_440300_20250103_0001.txt"
    );
}

#[test]
fn gbk_unmappable_payee_name_is_an_error_naming_payment_and_character() {
    let mut b = batch();
    // 𪚥 (U+2A6A5) exists in GB18030 but not in GBK: it must never become '?' or &#...;
    b.payments[1].payee.name = "𪚥记诊所".into();
    let e = delimited::encode(&b, &BankProfile::default_gbk()).unwrap_err();
    match &e {
        BankError::Unencodable {
            payment_id,
            ch,
            field,
            ..
        } => {
            assert_eq!(payment_id, "PAY-20250103-0002");
            assert_eq!(*ch, '𪚥');
            assert_eq!(*field, "payee_name");
        }
        other => panic!("expected Unencodable, got {other}"),
    }
    assert!(e.to_string().contains("U+2A6A5"), "{e}");
    // GB18030 can encode it, so the same batch renders under a GB18030 profile
    let gb18030 = BankProfile::from_toml(
        &medsettle_bank::profile::DEFAULT_PROFILE_TOML
            .replace("encoding = \"GBK\"", "encoding = \"GB18030\""),
    )
    .unwrap();
    assert!(delimited::encode(&b, &gb18030).is_ok());
}

#[test]
fn separator_inside_a_field_is_an_error_not_stripped() {
    let mut b = batch();
    b.payments[0].payee.name = "某某|医院".into();
    let e = delimited::encode(&b, &BankProfile::default_gbk()).unwrap_err();
    assert_eq!(e.rule(), "bank.no_separator_in_field", "{e}");
    assert!(e.to_string().contains("PAY-20250103-0001"));
    // pain.001 has no separator: the same name is fine there (escaped)
    assert!(pain001::encode(&b, &Pain001Options::default()).is_ok());
}

#[test]
fn another_bank_is_configuration_utf8_fen_comma() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../specs/bank/example-fen-utf8.toml"
    ))
    .unwrap();
    let p = BankProfile::from_toml(&text).unwrap();
    let bytes = delimited::encode(&batch(), &p).unwrap();
    assert_golden("delimited_example_fen_utf8.csv", &bytes);
    let s = String::from_utf8(bytes.clone()).unwrap();
    assert!(s.starts_with("HDR,B440300-20250103-0001,3,133333337,2025-01-03,"));
    // the comma-separated date list would break the format, so the summary wording is used
    assert!(s.contains("结算日2025-01-02~2025-01-07共4日"), "{s}");
    let back = delimited::decode_payments("f", &bytes, &p, &Default::default()).unwrap();
    assert_eq!(back.control_sum.fen(), 133_333_337);
}

#[test]
fn bad_profiles_are_refused() {
    let base = medsettle_bank::profile::DEFAULT_PROFILE_TOML;
    for (from, to) in [
        ("encoding = \"GBK\"", "encoding = \"BIG5\""),
        ("separator = \"|\"", "separator = \"||\""),
        ("\"memo\"]", "\"memo\", \"nonsense\"]"),
        ("B = \"returned\"", "B = \"paid\""),
        ("amount_style = \"yuan\"", "amount_style = \"cents\""),
    ] {
        let text = base.replace(from, to);
        assert_ne!(text, base);
        let e = BankProfile::from_toml(&text).unwrap_err();
        assert_eq!(e.fault(), Fault::Internal, "{e}");
    }
    assert!(BankProfile::from_toml(&format!("{base}\nsurprise = 1\n")).is_err());
}

#[test]
fn trigger_renders_deterministically_and_parses_back() {
    let data = delimited::encode(&batch(), &BankProfile::default_gbk()).unwrap();
    let t = TriggerFile::for_file(
        "YBBF_440300_20250103_0001.txt",
        &data,
        3,
        batch().control_sum(),
    );
    let bytes = trigger::render(&t).unwrap();
    assert_eq!(bytes, trigger::render(&t).unwrap());
    assert_eq!(trigger::parse(&bytes).unwrap(), t);
    assert!(t.matches(&data));
    assert!(!t.matches(&data[..data.len() - 1]));
    assert_eq!(t.trigger_name(), "YBBF_440300_20250103_0001.txt.ok");
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.ends_with("count=3\ncontrol_sum=1333333.37\n"));
    // truncated, reordered, non-canonical: refused
    assert!(trigger::parse(&bytes[..bytes.len() - 1]).is_err());
    assert!(trigger::parse(text.replace("1333333.37", "1333333.370").as_bytes()).is_err());
    assert!(trigger::parse(text.replace("count=3", "count=x").as_bytes()).is_err());
    let mut bad = t.clone();
    bad.file_name = "../etc/passwd".into();
    assert!(trigger::render(&bad).is_err());
}
