//! Throughput of rendering and decoding at province scale (run: `cargo bench -p medsettle-bank`).
//! A bench binary, not a test: it prints figures and asserts only correctness.

use std::time::Instant;

use medsettle_bank::receipts::{self, DecodeLimits, ReceiptFormat};
use medsettle_bank::simulator::{self, OutcomePlan, PaymentFileFormat, ReceiptKinds};
use medsettle_bank::{BankProfile, Pain001Options, delimited, pain001};
use medsettle_canonical::{
    Admdvs, BankAccount, Money, PaymentBatch, PaymentInstruction, PaymentPurpose,
};
use time::macros::date;

const N: usize = 100_000;

fn batch() -> PaymentBatch {
    let acct = |name: String, account: String| BankAccount {
        name,
        account,
        bank_code: "102584000013".into(),
        bank_name: "中国工商银行深圳分行".into(),
    };
    PaymentBatch {
        batch_id: "B440300-20250103-0001".into(),
        pool_admdvs: Admdvs::parse("440300").unwrap(),
        pay_date: date!(2025 - 01 - 03),
        debtor: acct(
            "深圳市医疗保障事务中心基金支出户".into(),
            "44201500000052500001".into(),
        ),
        created_at: "2025-01-03T09:30:00+08:00".into(),
        payments: (0..N)
            .map(|i| PaymentInstruction {
                payment_id: format!("PAY-20250103-{i:07}"),
                payee_code: format!("H{i:011}"),
                payee: acct(format!("深圳市第{i}人民医院"), format!("6222{i:015}")),
                amount: Money::from_fen(1 + (i as i64 * 7919) % 100_000_000),
                purpose: PaymentPurpose::Daily,
                settlement_dates: vec![date!(2025 - 01 - 02)],
                replaces_payment_id: None,
            })
            .collect(),
    }
}

fn time<T>(label: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    let ms = t.elapsed().as_millis();
    println!(
        "{label:<44} {ms:>6} ms  ({} per second)",
        (N as u128 * 1000) / ms.max(1)
    );
    out
}

fn main() {
    let b = batch();
    let profile = BankProfile::default_gbk();
    let xml = time("render pain.001 (100k payments)", || {
        pain001::encode(&b, &Pain001Options::default()).unwrap()
    });
    let txt = time("render GBK delimited (100k payments)", || {
        delimited::encode(&b, &profile).unwrap()
    });
    println!(
        "  sizes: pain.001 {} MiB, GBK {} MiB",
        xml.len() >> 20,
        txt.len() >> 20
    );
    let plan = OutcomePlan {
        failed_per_mille: 20,
        receipts: ReceiptKinds {
            pain002: true,
            camt054: false,
            gbk_return: Some(profile.clone()),
        },
        ..OutcomePlan::all_paid(1)
    };
    let files = simulator::simulate(&xml, &PaymentFileFormat::Pain001, &plan).unwrap();
    let (p2, ret) = (&files[0].1, &files[1].1);
    let f = time("decode pain.002 (100k rows)", || {
        receipts::decode(p2, ReceiptFormat::Pain002, &DecodeLimits::default()).unwrap()
    });
    assert_eq!(f.rows.len(), N);
    let f = time("decode GBK return (100k rows)", || {
        receipts::decode(
            ret,
            ReceiptFormat::GbkReturn(profile.clone()),
            &DecodeLimits::default(),
        )
        .unwrap()
    });
    assert_eq!(f.rows.len(), N);
}
