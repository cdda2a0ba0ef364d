#![allow(dead_code)]
//! Builders shared by the engine's integration tests: a real sled store in a temp dir, claims,
//! and journal records shaped exactly as the gateway writes them.

use std::path::Path;

use medsettle_canonical::journal::{ExchangeRecord, KIND_REQUEST, KIND_SETTLEMENT};
use medsettle_canonical::{
    Admdvs, BankAccount, ClaimKind, EnrolmentStatus, FundLine, Institution, InstitutionLevel,
    Money, SettledClaim, SettlementAmounts,
};
use medsettle_engine::{Engine, EngineConfig};
use medsettle_settlement::{Calendar, SettlementPolicy};
use medsettle_store::{Durability, JournalRecord, SledStore, Store, StoreConfig};
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

pub const POOL: &str = "640100";
pub const A: &str = "H64010000001";
pub const B: &str = "H64010000002";
pub const S: &str = "H64010000003";

pub const POLICY: &str = r#"
pool_admdvs = "640100"
name = "engine tests"
[daily]
ratio = "0.60"
cutoff = "15:00"
failed_payment = "no_retry"
[daily.institution_ratios]
H64010000002 = "0.50"
[monthly]
quality_margin_rate = "0.05"
[[annual.margin_release]]
min_score = 90
release = "1.00"
[[annual.margin_release]]
min_score = 80
release = "0.80"
[[annual.margin_release]]
min_score = 0
release = "0"
"#;

pub fn fen(f: i64) -> Money {
    Money::from_fen(f)
}

/// A bank receipt of `amount` fen for payment `id`.
pub fn receipt(
    id: &str,
    status: medsettle_canonical::ReceiptStatus,
    amount: i64,
) -> medsettle_canonical::Receipt {
    medsettle_canonical::Receipt {
        payment_id: id.into(),
        batch_id: None,
        status,
        amount: Some(fen(amount)),
        bank_reference: None,
        value_date: None,
        reason: None,
    }
}

pub fn open(dir: &Path) -> SledStore {
    SledStore::open(
        dir,
        StoreConfig {
            durability: Durability::Flush,
            ..StoreConfig::default()
        },
    )
    .unwrap()
}

fn account(code: &str) -> BankAccount {
    BankAccount {
        name: format!("{code} 医院"),
        account: format!("6222{code}"),
        bank_code: "102871000011".into(),
        bank_name: "工商银行".into(),
    }
}

pub fn institution(code: &str, status: EnrolmentStatus) -> Institution {
    Institution {
        fixmedins_code: code.into(),
        fixmedins_name: format!("{code} 医院"),
        admdvs: Admdvs::parse(POOL).unwrap(),
        level: InstitutionLevel::Level3,
        class: "hospital".into(),
        status,
        account: account(code),
    }
}

pub fn institutions() -> Vec<Institution> {
    vec![
        institution(A, EnrolmentStatus::Enrolled),
        institution(B, EnrolmentStatus::Enrolled),
        institution(S, EnrolmentStatus::Suspended),
    ]
}

pub fn config() -> EngineConfig {
    EngineConfig::new(
        SettlementPolicy::from_toml_str(POLICY).unwrap(),
        Calendar::embedded(),
        institutions(),
        account("FUND640100"),
    )
}

pub fn engine() -> Engine {
    Engine::new(config())
}

pub fn at(d: Date, hour: u8) -> OffsetDateTime {
    PrimitiveDateTime::new(d, Time::from_hms(hour, 0, 0).unwrap())
        .assume_offset(medsettle_canonical::CHINA_OFFSET)
}

/// A settlement paying `fund` fen from the employee pooled fund and `acct` from the account.
pub fn claim(setl_id: &str, code: &str, d: Date, fund: i64, acct: i64) -> SettledClaim {
    let line = |t: &str, f: i64| FundLine {
        fund_pay_type: t.into(),
        fund_pay_type_name: None,
        inscp_scp_amt: None,
        crt_payb_lmt_amt: None,
        fund_payamt: fen(f),
        setl_proc_info: None,
    };
    let mut setldetail = vec![line("310100", fund)];
    if acct != 0 {
        setldetail.push(line("310200", acct));
    }
    SettledClaim {
        kind: ClaimKind::Settlement,
        infno: "2304".into(),
        msgid: format!("{code}{setl_id}"),
        setl_id: setl_id.into(),
        mdtrt_id: format!("M{setl_id}"),
        psn_no: format!("P{setl_id}"),
        psn_name: None,
        fixmedins_code: code.into(),
        fixmedins_name: None,
        mdtrtarea_admvs: Admdvs::parse(POOL).unwrap(),
        insuplc_admdvs: Some(Admdvs::parse(POOL).unwrap()),
        clr_optins: Some(POOL.into()),
        insutype: "310".into(),
        psn_type: None,
        med_type: "21".into(),
        clr_type: Some("21".into()),
        clr_way: None,
        setl_time: at(d, 10),
        amounts: SettlementAmounts {
            medfee_sumamt: fen(fund + acct),
            inscp_scp_amt: fen(fund + acct),
            hifp_pay: fen(fund),
            fund_pay_sumamt: fen(fund),
            psn_part_amt: fen(acct),
            acct_pay: fen(acct),
            ..Default::default()
        },
        setldetail,
        reversal_of: None,
    }
}

pub fn reverse(orig: &SettledClaim, setl_id: &str, d: Date) -> SettledClaim {
    orig.reversal("2305", &format!("R{setl_id}"), setl_id, at(d, 11))
}

/// Append claims as the gateway journals them and wait until they are durable (consumers only
/// see durable records).
pub fn journal(store: &dyn Store, claims: &[SettledClaim]) {
    for c in claims {
        let ex = ExchangeRecord {
            infno: c.infno.clone(),
            fixmedins_code: c.fixmedins_code.clone(),
            msgid: c.msgid.clone(),
            request: serde_json::json!({"infno": c.infno}),
            answer: serde_json::json!({"infcode": 0}),
            claim: Some(c.clone()),
            core: "embedded".into(),
            received_at: "2025-10-09T10:00:00+08:00".into(),
            repairs: Vec::new(),
        };
        let rec = JournalRecord::new(KIND_SETTLEMENT, serde_json::to_vec(&ex).unwrap())
            .with_key(&c.fixmedins_code, &c.msgid);
        store.append(rec).unwrap();
    }
    store.wait_durable_blocking(store.current_ticket()).unwrap();
}

/// A record of another kind (registration etc.), which the engine must skip.
pub fn journal_other(store: &dyn Store) {
    store
        .append(JournalRecord::new(KIND_REQUEST, b"{}".to_vec()))
        .unwrap();
    store.wait_durable_blocking(store.current_ticket()).unwrap();
}
