//! Crash-test helper for `tests/kill9.rs`: on one store and one set of directories under
//! `<base>`, it drops a fixed list of batches, runs the simulated bank and ingests receipts,
//! round after round. `run` loops until killed; `finish` works until a round finds nothing
//! left to do, then prints `done` and exits 0. The batches and the plan are fixed (see
//! [`batch`] and [`plan`]) so the test can recompute what the end state must be.
//!
//! Usage: `filedrop-crash <base> run|finish`

use std::collections::BTreeMap;
use std::path::Path;

use medsettle_bank::{
    FailReason, Outcome, OutcomePlan, Pain001Options, PaymentFileFormat, pain001, simulator,
};
use medsettle_canonical::{
    Admdvs, BankAccount, Money, PaymentBatch, PaymentInstruction, PaymentPurpose,
};
use medsettle_filedrop::{FileDropConfig, Inbox, Outbox, simulate_pass};
use medsettle_store::{Durability, SledStore, Store, StoreConfig};
use time::{Date, Month};

/// Batches the helper drops (ids `CB-0000` …).
const BATCHES: usize = 24;

fn acct(name: &str, account: &str, code: &str) -> BankAccount {
    BankAccount {
        name: name.into(),
        account: account.into(),
        bank_code: code.into(),
        bank_name: "中国工商银行深圳分行".into(),
    }
}

fn batch(i: usize) -> PaymentBatch {
    let day = Date::from_calendar_date(2025, Month::March, 3).expect("date");
    let payments = (0..3 + i % 3)
        .map(|j| PaymentInstruction {
            payment_id: format!("CP-{i:04}-{j}"),
            payee_code: format!("H4403000{:04}", j + 1),
            payee: acct(
                &format!("深圳市第{}人民医院", j + 1),
                "6222020200001234567",
                "102584000013",
            ),
            amount: Money::from_fen(10_000 + (i as i64) * 137 + (j as i64) * 11),
            purpose: PaymentPurpose::Daily,
            settlement_dates: vec![day],
            replaces_payment_id: None,
        })
        .collect();
    PaymentBatch {
        batch_id: format!("CB-{i:04}"),
        pool_admdvs: Admdvs::parse("440300").expect("admdvs"),
        pay_date: day,
        debtor: acct(
            "深圳市医疗保障事务中心基金支出户",
            "44201500000052500001",
            "105584000005",
        ),
        created_at: "2025-03-03T09:30:00+08:00".into(),
        payments,
    }
}

/// Every kind of answer: paid, failed, pending then paid, paid then returned, pending for
/// good; plus a duplicate delivery and a truncated copy of the first receipt file.
fn plan() -> OutcomePlan {
    let mut p = OutcomePlan::all_paid(20250303);
    p.failed_per_mille = 150;
    p.pending_per_mille = 150;
    p.returned_per_mille = 150;
    p.duplicate_receipt = true;
    p.truncated_copy = true;
    p.overrides = BTreeMap::from([
        ("CP-0001-0".to_owned(), Outcome::Pending),
        (
            "CP-0002-1".to_owned(),
            Outcome::Failed(FailReason::ClosedAccount),
        ),
        (
            "CP-0003-2".to_owned(),
            Outcome::PaidThenReturned(FailReason::NameMismatch),
        ),
    ]);
    p
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 2 && args[1] == "--print-fixture" {
        // Lets the test recompute the expected outcome without duplicating the fixture.
        let all: Vec<PaymentBatch> = (0..BATCHES).map(batch).collect();
        let outcomes: BTreeMap<String, String> = all
            .iter()
            .flat_map(|b| b.payments.iter())
            .map(|p| {
                let s = plan().outcome_for(&p.payment_id).final_status();
                (p.payment_id.clone(), format!("{s:?}").to_lowercase())
            })
            .collect();
        // Every receipt file the bank sends for them, except the deliberately truncated copies.
        let mut receipt_files: Vec<String> = Vec::new();
        for b in &all {
            let bytes = pain001::encode(b, &Pain001Options::default()).expect("render");
            for (name, _) in
                simulator::simulate(&bytes, &PaymentFileFormat::Pain001, &plan()).expect("simulate")
            {
                if !name.starts_with("TRUNC_") && !receipt_files.contains(&name) {
                    receipt_files.push(name);
                }
            }
        }
        println!(
            "{}",
            serde_json::json!({
                "batches": all,
                "final_status": outcomes,
                "receipt_files": receipt_files,
            })
        );
        return;
    }
    if args.len() != 3 || !matches!(args[2].as_str(), "run" | "finish") {
        eprintln!("usage: filedrop-crash <base> run|finish | --print-fixture");
        std::process::exit(2);
    }
    let base = Path::new(&args[1]);
    let finish = args[2] == "finish";
    let store = SledStore::open(
        &base.join("store"),
        StoreConfig {
            // Survives kill -9 (the test's fault), and keeps the rounds fast.
            durability: Durability::Flush,
            ..StoreConfig::default()
        },
    )
    .expect("open store");
    let cfg = FileDropConfig::under(base);
    let plan = plan();
    eprintln!("ready");
    Outbox::recover(&store, &cfg).expect("recover outbox");
    loop {
        let mut busy = false;
        for i in 0..BATCHES {
            let r = Outbox::drop_batch(&store, &cfg, &batch(i)).expect("drop batch");
            busy |= !r.already_dropped;
            // Interleave the bank and the inbox with the drops, so kills land in all three.
            if i % 4 == 3 || i == BATCHES - 1 {
                let sim = simulate_pass(&cfg, &plan).expect("simulated bank");
                let ing = Inbox::scan_once(&store, &cfg).expect("inbox scan");
                busy |= !sim.receipts_written.is_empty()
                    || !ing.is_idle()
                    || !ing.files_deferred.is_empty();
            }
        }
        if finish && !busy {
            println!("done");
            return;
        }
    }
}
