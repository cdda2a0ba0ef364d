//! Shared fixtures for the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use medsettle_canonical::{
    Admdvs, BankAccount, Money, PaymentBatch, PaymentInstruction, PaymentPurpose,
};
use time::macros::date;

pub fn acct(name: &str, account: &str, code: &str, bank: &str) -> BankAccount {
    BankAccount {
        name: name.into(),
        account: account.into(),
        bank_code: code.into(),
        bank_name: bank.into(),
    }
}

pub fn payment(id: &str, name: &str, fen: i64) -> PaymentInstruction {
    PaymentInstruction {
        payment_id: id.into(),
        payee_code: "H44030000001".into(),
        payee: acct(
            name,
            "6222020200001234567",
            "102584000013",
            "中国工商银行深圳分行",
        ),
        amount: Money::from_fen(fen),
        purpose: PaymentPurpose::Daily,
        settlement_dates: vec![date!(2025 - 01 - 02)],
        replaces_payment_id: None,
    }
}

/// A small batch with the awkward cases: XML specials in a name, several settlement date
/// runs, a re-payment linked to the payment it replaces.
pub fn batch() -> PaymentBatch {
    let mut p2 = payment("PAY-20250103-0002", "深圳市人民医院", 9_876_543);
    p2.settlement_dates = vec![
        date!(2025 - 01 - 02),
        date!(2025 - 01 - 03),
        date!(2025 - 01 - 04),
        date!(2025 - 01 - 07),
    ];
    p2.payee.bank_code = "104584000003".into();
    p2.payee.account = "744400000000123".into();
    let mut p3 = payment("PAY-20250103-0003", "A&B <大药房> \"连锁\"", 5);
    p3.replaces_payment_id = Some("PAY-20241231-0009".into());
    p3.purpose = PaymentPurpose::Distributor;
    PaymentBatch {
        batch_id: "B440300-20250103-0001".into(),
        pool_admdvs: Admdvs::parse("440300").unwrap(),
        pay_date: date!(2025 - 01 - 03),
        debtor: acct(
            "深圳市医疗保障事务中心基金支出户",
            "44201500000052500001",
            "105584000005",
            "中国建设银行深圳分行",
        ),
        created_at: "2025-01-03T09:30:00+08:00".into(),
        payments: vec![
            payment("PAY-20250103-0001", "北京大学深圳医院", 123_456_789),
            p2,
            p3,
        ],
    }
}

pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Compare with a golden file byte for byte; `BLESS=1` rewrites it (review the diff!).
pub fn assert_golden(name: &str, actual: &[u8]) {
    let path = golden_dir().join(name);
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with BLESS=1 once", path.display()));
    assert!(
        expected == actual,
        "{name} differs from the golden file (BLESS=1 to rewrite)\n--- actual ---\n{}",
        String::from_utf8_lossy(actual)
    );
}

pub fn xsd_path() -> PathBuf {
    // CI clones the repository with `shared/` beside it: <repo>/../shared.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/schemas/iso20022/pain.001.001.03.xsd")
}

/// Validate pain.001 documents with xmllint against the official XSD. Missing xmllint fails
/// under CI and skips (loudly) elsewhere.
pub fn xsd_validate(docs: &[Vec<u8>]) {
    let xsd = xsd_path();
    let have_xmllint = Command::new("xmllint").arg("--version").output().is_ok();
    if !have_xmllint {
        if std::env::var_os("CI").is_some() {
            panic!("xmllint is required under CI (apt-get install libxml2-utils)");
        }
        eprintln!(
            "WARNING: xmllint not installed; XSD validation skipped (set CI to make this fatal)"
        );
        return;
    }
    assert!(xsd.exists(), "schema not found at {}", xsd.display());
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let f = dir.path().join(format!("doc{i}.xml"));
        std::fs::write(&f, d).unwrap();
        files.push(f);
    }
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "XSD validation failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
