#![allow(dead_code)]
//! Builders shared by the integration tests.

use medsettle_canonical::{
    Admdvs, BankAccount, ClaimKind, EnrolmentStatus, FundLine, Institution, InstitutionLevel,
    Money, SettledClaim, SettlementAmounts,
};
use medsettle_settlement::{Institutions, SettlementPolicy, institutions_by_code};
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

pub const POOL: &str = "640100";

pub fn at(d: Date, hour: u8) -> OffsetDateTime {
    PrimitiveDateTime::new(d, Time::from_hms(hour, 0, 0).unwrap())
        .assume_offset(medsettle_canonical::CHINA_OFFSET)
}

/// A settled claim with the given `setldetail` lines (fund_pay_type, fen).
pub fn claim(setl_id: &str, code: &str, d: Date, lines: &[(&str, i64)]) -> SettledClaim {
    let setldetail: Vec<FundLine> = lines
        .iter()
        .map(|(t, f)| FundLine {
            fund_pay_type: t.to_string(),
            fund_pay_type_name: None,
            inscp_scp_amt: None,
            crt_payb_lmt_amt: None,
            fund_payamt: Money::from_fen(*f),
            setl_proc_info: None,
        })
        .collect();
    let fund: Money = setldetail
        .iter()
        .filter(|l| !l.fund_pay_type.starts_with("3102") && l.fund_pay_type != "999996")
        .map(|l| l.fund_payamt)
        .sum();
    let acct: Money = setldetail
        .iter()
        .filter(|l| l.fund_pay_type.starts_with("3102"))
        .map(|l| l.fund_payamt)
        .sum();
    let amounts = SettlementAmounts {
        medfee_sumamt: fund + acct,
        inscp_scp_amt: fund + acct,
        hifp_pay: fund,
        fund_pay_sumamt: fund,
        psn_part_amt: acct,
        acct_pay: acct,
        ..Default::default()
    };
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
        amounts,
        setldetail,
        reversal_of: None,
    }
}

/// A claim paying `fen` from the employee pooled fund only.
pub fn simple(setl_id: &str, code: &str, d: Date, fen: i64) -> SettledClaim {
    claim(setl_id, code, d, &[("310100", fen)])
}

pub fn reverse(orig: &SettledClaim, setl_id: &str, d: Date) -> SettledClaim {
    orig.reversal("2305", &format!("R{setl_id}"), setl_id, at(d, 11))
}

pub fn inst(code: &str, level: InstitutionLevel, status: EnrolmentStatus) -> Institution {
    Institution {
        fixmedins_code: code.into(),
        fixmedins_name: format!("医院{code}"),
        admdvs: Admdvs::parse(POOL).unwrap(),
        level,
        class: "hospital".into(),
        status,
        account: BankAccount {
            name: format!("医院{code}"),
            account: format!("62220000{}", &code[code.len() - 4..]),
            bank_code: "102871000011".into(),
            bank_name: "工商银行".into(),
        },
    }
}

pub fn three_institutions() -> Institutions {
    institutions_by_code([
        inst(
            "H64010000001",
            InstitutionLevel::Level3,
            EnrolmentStatus::Enrolled,
        ),
        inst(
            "H64010000002",
            InstitutionLevel::Level2,
            EnrolmentStatus::Enrolled,
        ),
        inst(
            "H64010000003",
            InstitutionLevel::Level2,
            EnrolmentStatus::Enrolled,
        ),
    ])
}

pub fn policy(extra: &str) -> SettlementPolicy {
    SettlementPolicy::from_toml_str(&format!("pool_admdvs = \"{POOL}\"\n{extra}")).unwrap()
}

pub fn debtor() -> BankAccount {
    BankAccount {
        name: "银川市医疗保障基金支出户".into(),
        account: "1234567890".into(),
        bank_code: "102871000011".into(),
        bank_name: "工商银行".into(),
    }
}
