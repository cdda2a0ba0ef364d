//! IS-D-9: 3201 totals and 3202 detail answered from the engine's claim index over a real store.

mod common;

use common::*;
use medsettle_engine::state::ClaimRow;
use medsettle_settlement::recon::{DetailFinding, Stmt3201Request, Stmt3202Row};
use time::macros::date;

fn setup() -> (tempfile::TempDir, medsettle_store::SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let c1 = claim("R1", A, date!(2025 - 10 - 09), 80_000, 5_000); // medfee 850.00
    let c2 = claim("R2", A, date!(2025 - 10 - 10), 20_000, 0); //      medfee 200.00
    let c3 = claim("R3", A, date!(2025 - 10 - 10), 10_000, 1_000); //  medfee 110.00
    let x3 = reverse(&c3, "R3X", date!(2025 - 10 - 10)); //           reversal of R3
    let other_day = claim("R4", A, date!(2025 - 10 - 13), 7_000, 0); // outside the range
    let other_inst = claim("R5", B, date!(2025 - 10 - 10), 9_000, 0);
    let mut out_of_scope = claim("R6", A, date!(2025 - 10 - 10), 3_000, 0);
    out_of_scope.insutype = "390".into(); // another insutype group
    journal(
        &store,
        &[c1, c2, c3, x3, other_day, other_inst, out_of_scope],
    );
    (dir, store)
}

fn req(medfee: i64, fund: i64, acct: i64, cnt: i64) -> Stmt3201Request {
    Stmt3201Request {
        fixmedins_code: A.into(),
        insutype: "310".into(),
        clr_type: "21".into(),
        setl_optins: POOL.into(),
        stmt_begndate: date!(2025 - 10 - 09),
        stmt_enddate: date!(2025 - 10 - 10),
        medfee_sumamt: fen(medfee),
        fund_pay_sumamt: fen(fund),
        acct_pay: fen(acct),
        fixmedins_setl_cnt: cnt,
    }
}

#[test]
fn is_d_9_3201_balanced_and_unbalanced_with_the_difference_explained() {
    let (_d, store) = setup();
    let e = engine();
    // Ours for A, 310/21, 10-09..10-10: R1 + R2 (R3 and its reversal net to zero):
    // medfee 850.00 + 200.00 = 1,050.00; fund 800.00 + 200.00 = 1,000.00; acct 50.00; count 2.
    let r = e
        .reconcile_3201(&store, &req(105_000, 100_000, 5_000, 2))
        .unwrap();
    assert_eq!(
        (r.stmt_rslt.as_str(), r.stmt_rslt_dscr.as_str()),
        ("0", "平帐")
    );
    // The institution missed the reversal: its totals are 110.00 / 100.00 / 10.00 / 1 higher.
    let r = e
        .reconcile_3201(&store, &req(116_000, 110_000, 6_000, 3))
        .unwrap();
    assert_eq!(r.stmt_rslt, "1");
    assert!(
        r.stmt_rslt_dscr
            .contains("fund_pay_sumamt 中心1000.00 机构1100.00 差-100.00"),
        "{}",
        r.stmt_rslt_dscr
    );
    assert!(
        r.stmt_rslt_dscr.contains("fixmedins_setl_cnt 中心2 机构3"),
        "{}",
        r.stmt_rslt_dscr
    );
    assert_eq!(r.ours.fixmedins_setl_cnt, 2);
}

#[test]
fn is_d_9_3202_detail_differences() {
    let (_d, store) = setup();
    let e = engine();
    let row = |id: &str, psn: &str, medfee: i64, fund: i64, acct: i64, refd: bool| Stmt3202Row {
        setl_id: id.into(),
        mdtrt_id: format!("M{id}"),
        psn_no: psn.into(),
        medfee_sumamt: fen(medfee),
        fund_pay_sumamt: fen(fund),
        acct_pay: fen(acct),
        refd_setl_flag: refd,
    };
    let theirs = vec![
        row("R1", "PR1", 85_000, 80_000, 5_000, false), // agrees
        row("R2", "PR2", 20_000, 19_900, 0, false),     // fund differs by 1.00
        row("R3", "PR3", 11_000, 10_000, 1_000, false), // agrees (the settlement)
        // (their file lacks the reversal of R3)
        row("R9", "PR9", 1_000, 1_000, 0, false), // we never settled R9
    ];
    let res = e
        .reconcile_3202(
            &store,
            A,
            date!(2025 - 10 - 09),
            date!(2025 - 10 - 10),
            &theirs,
        )
        .unwrap();
    let got: Vec<(String, bool, DetailFinding)> = res
        .into_iter()
        .map(|r| (r.setl_id, r.refd_setl_flag, r.finding))
        .collect();
    assert_eq!(
        got,
        vec![
            ("R1".into(), false, DetailFinding::Match),
            (
                "R2".into(),
                false,
                DetailFinding::Differs {
                    fields: vec!["fund_pay_sumamt: 200.00 vs 199.00".into()]
                }
            ),
            ("R3".into(), false, DetailFinding::Match),
            ("R3".into(), true, DetailFinding::MissingOnTheirSide),
            ("R6".into(), false, DetailFinding::MissingOnTheirSide),
            ("R9".into(), false, DetailFinding::MissingOnOurSide),
        ]
    );
    // The index keeps every claim of the institution in range, in scope or not.
    let rows: Vec<ClaimRow> = e
        .claims_in_range(&store, A, date!(2025 - 10 - 09), date!(2025 - 10 - 13))
        .unwrap();
    assert_eq!(rows.len(), 6);
    assert!(
        e.claims_in_range(&store, A, date!(2025 - 10 - 10), date!(2025 - 10 - 09))
            .is_err()
    );
}
