//! Shared fixtures: batches, a real sled store in a temp dir, inbox helpers, XSD validation.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use medsettle_bank::receipts::decode_named;
use medsettle_bank::{BankProfile, FileKind, ReceiptFormat, TriggerFile, detect_format, trigger};
use medsettle_canonical::{
    Admdvs, BankAccount, Money, PaymentBatch, PaymentInstruction, PaymentPurpose,
};
use medsettle_filedrop::FileDropConfig;
use medsettle_store::{Durability, SledStore, Store, StoreConfig};
use time::macros::date;

/// Bound on store reopen retries (see [`Env::reopen`]).
const REOPEN_ATTEMPTS_MAX: u32 = 100;

pub struct Env {
    pub dir: tempfile::TempDir,
    pub cfg: FileDropConfig,
    pub store: Option<SledStore>,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let cfg = FileDropConfig::under(dir.path());
        let mut e = Env {
            dir,
            cfg,
            store: None,
        };
        e.reopen();
        e
    }

    pub fn store(&self) -> &SledStore {
        self.store.as_ref().unwrap()
    }

    /// Closes and reopens the store, as a restarted process would. sled's background I/O
    /// threads may hold the database (and its file lock) for a moment after the handle is
    /// dropped, so a lock conflict is retried a bounded number of times.
    pub fn reopen(&mut self) {
        self.store = None;
        let path = self.dir.path().join("store");
        let mut attempts = 0;
        loop {
            match SledStore::open(
                &path,
                StoreConfig {
                    durability: Durability::Flush,
                    ..StoreConfig::default()
                },
            ) {
                Ok(s) => {
                    self.store = Some(s);
                    return;
                }
                Err(e) if attempts < REOPEN_ATTEMPTS_MAX && e.to_string().contains("lock") => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("reopen store: {e}"),
            }
        }
    }

    /// Journal records of `kind`, payloads as text.
    pub fn records(&self, kind: &str) -> Vec<String> {
        self.store()
            .export(0)
            .map(|r| r.unwrap().1)
            .filter(|r| r.kind == kind)
            .map(|r| String::from_utf8_lossy(&r.payload).into_owned())
            .collect()
    }
}

pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn acct(name: &str, account: &str, code: &str) -> BankAccount {
    BankAccount {
        name: name.into(),
        account: account.into(),
        bank_code: code.into(),
        bank_name: "中国工商银行深圳分行".into(),
    }
}

pub fn payment(id: &str, fen: i64) -> PaymentInstruction {
    PaymentInstruction {
        payment_id: id.into(),
        payee_code: "H44030000001".into(),
        payee: acct("北京大学深圳医院", "6222020200001234567", "102584000013"),
        amount: Money::from_fen(fen),
        purpose: PaymentPurpose::Daily,
        settlement_dates: vec![date!(2025 - 01 - 02)],
        replaces_payment_id: None,
    }
}

/// A batch `id` with payments `<id>-P1..=n`.
pub fn batch(id: &str, n: usize) -> PaymentBatch {
    PaymentBatch {
        batch_id: id.into(),
        pool_admdvs: Admdvs::parse("440300").unwrap(),
        pay_date: date!(2025 - 01 - 03),
        debtor: acct(
            "深圳市医疗保障事务中心基金支出户",
            "44201500000052500001",
            "105584000005",
        ),
        created_at: "2025-01-03T09:30:00+08:00".into(),
        payments: (1..=n)
            .map(|i| payment(&format!("{id}-P{i}"), 1_000 * i as i64 + 7))
            .collect(),
    }
}

/// Puts a receipt file and a trigger announcing its own totals into the inbox, as a bank
/// would (plain writes are fine here: nothing scans concurrently).
pub fn put_inbox(cfg: &FileDropConfig, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(&cfg.inbox_dir).unwrap();
    let (count, sum) = match detect_format(bytes) {
        Some(k @ (FileKind::Pain002 | FileKind::Camt054 | FileKind::Delimited)) => {
            let f = match k {
                FileKind::Pain002 => ReceiptFormat::Pain002,
                FileKind::Camt054 => ReceiptFormat::Camt054,
                _ => ReceiptFormat::GbkReturn(BankProfile::default_gbk()),
            };
            decode_named(name, bytes, &f, &Default::default())
                .map(|f| (f.totals.row_count, f.totals.row_sum))
                .unwrap_or((0, Money::ZERO))
        }
        _ => (0, Money::ZERO),
    };
    std::fs::write(cfg.inbox_dir.join(name), bytes).unwrap();
    let t = TriggerFile::for_file(name, bytes, count, sum);
    std::fs::write(
        cfg.inbox_dir.join(format!("{name}.ok")),
        trigger::render(&t).unwrap(),
    )
    .unwrap();
}

pub fn xsd_path() -> PathBuf {
    // CI checks the repository out with `shared/` beside it.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/schemas/iso20022/pain.001.001.03.xsd")
}

/// Validates files with `xmllint --schema`; without xmllint: fatal under CI, else a loud skip.
pub fn xsd_validate(files: &[PathBuf]) {
    if Command::new("xmllint").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "xmllint is required under CI (apt-get install libxml2-utils)"
        );
        eprintln!("WARNING: xmllint not installed; pain.001 XSD validation skipped");
        return;
    }
    let xsd = xsd_path();
    assert!(xsd.exists(), "schema missing at {}", xsd.display());
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "XSD validation failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
