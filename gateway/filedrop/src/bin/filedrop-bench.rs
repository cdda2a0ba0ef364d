//! Benchmark (issue 6): a 100,000-payment batch through the real file drop and store, and
//! its 100,000-row pain.002 receipt file back in.
//!
//! A fresh sled store in `fsync` mode in a temp directory; `Outbox::drop_batch` (render,
//! journal, write + fsync file and trigger, journal `dropped`) timed; the simulated bank
//! (all paid, pain.002 only) answers; `Inbox::scan_once` (read, hash, decode, check every
//! row against its payment state, journal every move durably, archive) timed. Then a
//! re-open of the store (replay) is timed and every payment is checked `paid`.
//!
//! Usage: `filedrop-bench [payments]` (default 100000). Run it in release:
//! `cargo run --release -p medsettle-filedrop --bin filedrop-bench`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use medsettle_bank::receipts::decode_named;
use medsettle_bank::{DecodeLimits, OutcomePlan, Pain001Options, ReceiptFormat, pain001};
use medsettle_canonical::{
    Admdvs, BankAccount, Money, PaymentBatch, PaymentInstruction, PaymentPurpose,
};
use medsettle_filedrop::{FileDropConfig, Inbox, Outbox, PaymentStatus, simulate_pass};
use medsettle_store::{Durability, SledStore, StateWrite, Store, StoreConfig};
use time::{Date, Month};

/// Real CNAPS codes of large-bank branches (ICBC, ABC, BOC, CCB, BoCom, CMB in Shenzhen).
const BANKS: [(&str, &str); 6] = [
    ("102584000013", "中国工商银行深圳分行"),
    ("103584000012", "中国农业银行深圳分行"),
    ("104584000003", "中国银行深圳分行"),
    ("105584000005", "中国建设银行深圳分行"),
    ("301584000016", "交通银行深圳分行"),
    ("308584000013", "招商银行深圳分行"),
];
const DISTRICTS: [&str; 6] = ["福田区", "罗湖区", "南山区", "宝安区", "龙岗区", "龙华区"];
const KINDS: [&str; 5] = [
    "人民医院",
    "中医院",
    "妇幼保健院",
    "社区健康服务中心",
    "大药房",
];

fn batch(n: usize) -> PaymentBatch {
    let day = Date::from_calendar_date(2025, Month::March, 3).expect("date");
    let payments = (0..n)
        .map(|i| {
            let (code, bank) = BANKS[i % BANKS.len()];
            PaymentInstruction {
                payment_id: format!("BP-20250303-{i:06}"),
                payee_code: format!("H44030{i:06}"),
                payee: BankAccount {
                    name: format!(
                        "深圳市{}第{}{}",
                        DISTRICTS[i % DISTRICTS.len()],
                        i / 30 + 1,
                        KINDS[i % KINDS.len()]
                    ),
                    account: format!("6222{:015}", 20_200_000_000 + i as u64 * 7),
                    bank_code: code.into(),
                    bank_name: bank.into(),
                },
                // 100.00 to ~1,000,000.00 yuan, deterministic, in fen.
                amount: Money::from_fen(10_000 + (i as i64 * 7_919_977) % 99_990_000),
                purpose: PaymentPurpose::Daily,
                settlement_dates: vec![day],
                replaces_payment_id: None,
            }
        })
        .collect();
    PaymentBatch {
        batch_id: "BB-20250303-0001".into(),
        pool_admdvs: Admdvs::parse("440300").expect("admdvs"),
        pay_date: day,
        debtor: BankAccount {
            name: "深圳市医疗保障事务中心基金支出户".into(),
            account: "44201500000052500001".into(),
            bank_code: "105584000005".into(),
            bank_name: "中国建设银行深圳分行".into(),
        },
        created_at: "2025-03-03T09:30:00+08:00".into(),
        payments,
    }
}

fn dir_bytes(p: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

// Integer arithmetic only (the workspace denies floating point).
fn secs(d: Duration) -> String {
    let ms = d.as_millis();
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}

fn mb(bytes: u64) -> String {
    format!("{}.{} MB", bytes / 1_000_000, bytes % 1_000_000 / 100_000)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("payments: a number"))
        .unwrap_or(100_000);
    let base: PathBuf = std::env::temp_dir().join(format!("filedrop-bench-{}", std::process::id()));
    std::fs::create_dir_all(&base).expect("temp dir");
    let store_cfg = StoreConfig {
        durability: Durability::Fsync,
        ..StoreConfig::default()
    };
    let cfg = FileDropConfig::under(&base);
    let b = batch(n);
    let batch_json_bytes = serde_json::to_vec(&b).expect("batch json").len();

    // The pure encoder alone, for comparison with the whole drop.
    let t = Instant::now();
    let rendered = pain001::encode(&b, &Pain001Options::default()).expect("render");
    let t_render = t.elapsed();
    drop(rendered);

    let store = SledStore::open(&base.join("store"), store_cfg.clone()).expect("open store");
    let t = Instant::now();
    let dropped = Outbox::drop_batch(&store, &cfg, &b).expect("drop batch");
    let t_drop = t.elapsed();

    let mut plan = OutcomePlan::all_paid(20250303);
    plan.receipts.camt054 = false;
    let t = Instant::now();
    let sim = simulate_pass(&cfg, &plan).expect("simulated bank");
    let t_sim = t.elapsed();
    assert_eq!(sim.receipts_written.len(), 1, "one pain.002 file");
    let receipt_bytes = std::fs::metadata(cfg.inbox_dir.join(&sim.receipts_written[0]))
        .expect("receipt file")
        .len();

    // The pure decoder alone, for comparison with the whole ingest.
    let receipt = std::fs::read(cfg.inbox_dir.join(&sim.receipts_written[0])).expect("receipt");
    let t = Instant::now();
    let decoded = decode_named(
        &sim.receipts_written[0],
        &receipt,
        &ReceiptFormat::Pain002,
        &DecodeLimits::default(),
    )
    .expect("decode");
    let t_decode = t.elapsed();
    assert_eq!(decoded.rows.len(), n);
    drop((decoded, receipt));

    let t = Instant::now();
    let ing = Inbox::scan_once(&store, &cfg).expect("inbox scan");
    let t_ingest = t.elapsed();
    assert_eq!(ing.files_applied.len(), 1, "{ing:?}");
    assert_eq!(ing.receipts_applied.len(), n);
    let store_bytes = dir_bytes(&base.join("store"));
    drop(store);

    let t = Instant::now();
    let store = SledStore::open(&base.join("store"), store_cfg).expect("reopen store");
    let t_reopen = t.elapsed();
    let states = medsettle_filedrop::state::payment_states(&store).expect("payment states");
    assert_eq!(states.len(), n);
    assert!(states.iter().all(|(_, s)| s.status == PaymentStatus::Paid));
    // Size of each journal record (payload plus state writes), to compare with
    // `record_bytes_max`.
    let mut record_sizes = Vec::new();
    for item in store.export(0) {
        let (_, r) = item.expect("journal record");
        let writes: usize = r
            .state_writes
            .iter()
            .map(|w| match w {
                StateWrite::Put { space, key, value } => space.len() + key.len() + value.len(),
                StateWrite::Delete { space, key } => space.len() + key.len(),
            })
            .sum();
        record_sizes.push((r.kind.clone(), r.payload.len() + writes));
    }
    drop(store);
    std::fs::remove_dir_all(&base).expect("remove temp dir");

    let per = |d: Duration| {
        let ns = d.as_nanos() / n.max(1) as u128;
        format!("{}.{:02} µs", ns / 1000, ns % 1000 / 10)
    };
    println!(
        "filedrop-bench: {n} payments, sled store in fsync mode under {}",
        base.display()
    );
    println!(
        "batch JSON {} (journaled twice in bank.batch.rendered: payload + state)",
        mb(batch_json_bytes as u64)
    );
    for (kind, bytes) in &record_sizes {
        println!("journal record {kind}: about {}", mb(*bytes as u64));
    }
    println!("| step | time | per row | size |");
    println!("|---|---:|---:|---:|");
    println!(
        "| drop_batch (render pain.001 + journal + file/trigger fsync) | {} | {} | {} file |",
        secs(t_drop),
        per(t_drop),
        mb(dropped.bytes as u64)
    );
    println!(
        "| of which pain.001 render alone (outside the store) | {} | {} | |",
        secs(t_render),
        per(t_render)
    );
    println!(
        "| simulated bank (read, validate, answer pain.002) | {} | {} | {} file |",
        secs(t_sim),
        per(t_sim),
        mb(receipt_bytes as u64)
    );
    println!(
        "| scan_once (decode + apply {n} rows durably + archive) | {} | {} | |",
        secs(t_ingest),
        per(t_ingest)
    );
    println!(
        "| of which pain.002 decode alone (outside the store) | {} | {} | |",
        secs(t_decode),
        per(t_decode)
    );
    println!(
        "| store re-open + read {n} states | {} | {} | {} store dir |",
        secs(t_reopen),
        per(t_reopen),
        mb(store_bytes as u64)
    );
}
