//! IS-D-9 reconciliation (3201 totals, 3202 detail).

mod common;

use common::*;
use medsettle_canonical::Money;
use medsettle_settlement::recon::*;
use time::macros::date;

const A: &str = "H64010000001";

#[test]
fn is_d_9_3201_balanced_and_unbalanced_with_differences() {
    let c1 = claim(
        "S1",
        A,
        date!(2025 - 10 - 09),
        &[("310100", 10_000), ("310200", 2_000)],
    );
    let c2 = simple("S2", A, date!(2025 - 10 - 10), 5_000);
    let c2r = reverse(&c2, "S2R", date!(2025 - 10 - 10));
    let outside = simple("S3", A, date!(2025 - 10 - 12), 7_000);
    let claims = [c1, c2, c2r, outside];
    let mut req = Stmt3201Request {
        fixmedins_code: A.into(),
        insutype: "310".into(),
        clr_type: "21".into(),
        setl_optins: POOL.into(),
        stmt_begndate: date!(2025 - 10 - 09),
        stmt_enddate: date!(2025 - 10 - 11),
        medfee_sumamt: Money::from_fen(12_000),
        fund_pay_sumamt: Money::from_fen(10_000),
        acct_pay: Money::from_fen(2_000),
        fixmedins_setl_cnt: 1,
    };
    let ok = reconcile_3201(&claims, &req);
    assert_eq!(
        (ok.stmt_rslt.as_str(), ok.stmt_rslt_dscr.as_str()),
        ("0", "平帐")
    );
    req.fund_pay_sumamt = Money::from_fen(9_000);
    req.fixmedins_setl_cnt = 2;
    let bad = reconcile_3201(&claims, &req);
    assert_eq!(bad.stmt_rslt, "1");
    assert_eq!(
        bad.stmt_rslt_dscr,
        "不平: fund_pay_sumamt 中心100.00 机构90.00 差10.00; fixmedins_setl_cnt 中心1 机构2"
    );
}

#[test]
fn is_d_9_3202_names_the_missing_side_and_differing_fields() {
    let c1 = simple("S1", A, date!(2025 - 10 - 09), 10_000);
    let c2 = simple("S2", A, date!(2025 - 10 - 09), 5_000);
    let c2r = reverse(&c2, "S2R", date!(2025 - 10 - 09));
    let claims = [c1, c2, c2r];
    let theirs = Stmt3202Row::from_csv_str(
        "setl_id,mdtrt_id,psn_no,medfee_sumamt,fund_pay_sumamt,acct_pay,refd_setl_flag\n\
         S1,MS1,PS1,100.00,100.00,0.00,0\n\
         S2,MS2,PS2,50.00,49.00,0.00,0\n\
         S9,MS9,PS9,1.00,1.00,0.00,0\n",
    )
    .unwrap();
    let r = reconcile_3202(
        &claims,
        A,
        date!(2025 - 10 - 09),
        date!(2025 - 10 - 09),
        &theirs,
    );
    let f: Vec<(&str, bool, &DetailFinding)> = r
        .iter()
        .map(|x| (x.setl_id.as_str(), x.refd_setl_flag, &x.finding))
        .collect();
    assert_eq!(f[0], ("S1", false, &DetailFinding::Match));
    assert_eq!(
        f[1],
        (
            "S2",
            false,
            &DetailFinding::Differs {
                fields: vec!["fund_pay_sumamt: 50.00 vs 49.00".into()]
            }
        )
    );
    assert_eq!(f[2], ("S2", true, &DetailFinding::MissingOnTheirSide));
    assert_eq!(f[3], ("S9", false, &DetailFinding::MissingOnOurSide));
    let csv = detail_results_csv(&r);
    assert!(csv.starts_with("setl_id,refd_setl_flag,stmt_rslt,memo\nS1,0,0,\n"));
    assert!(Stmt3202Row::from_csv_str("setl_id,mdtrt_id,psn_no,medfee_sumamt,fund_pay_sumamt,acct_pay,refd_setl_flag\nS1,M,P,1.00,1.00,0.00,2\n").unwrap_err().to_string().contains("line 2, column `refd_setl_flag`"));
}

/// Every IS-… id cited in the crate's source is listed in specs/instant-settlement-rules.toml,
/// and every listed id is cited somewhere: spec and code cannot drift.
#[test]
fn every_cited_rule_is_listed() {
    let root = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../specs/instant-settlement-rules.toml"
    );
    let table: toml::Table = toml::from_str(&std::fs::read_to_string(root).unwrap()).unwrap();
    let listed: std::collections::BTreeSet<String> = table["rule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let mut cited = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("IS-") {
            let id: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            let id = id.trim_end_matches('-').to_owned();
            if id.matches('-').count() == 2 {
                cited.insert(id);
            }
            rest = &rest[i + 3..];
        }
    }
    for id in &cited {
        assert!(
            listed.contains(id),
            "{id} is cited in src/ but not in specs/instant-settlement-rules.toml"
        );
    }
    for id in &listed {
        assert!(cited.contains(id), "{id} is listed but never cited in src/");
    }
}
