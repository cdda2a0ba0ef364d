//! Daily reconciliation detail: the differences `reconcile_detail` finds, and the totals
//! `day_totals` makes.

use medsettle_canonical::Money;
use medsettle_interregion::{
    Difference, DifferenceKind, ReconRow, TxKind, day_totals, reconcile_detail,
};
use time::macros::datetime;

fn row(omsgid: &str, kind: TxKind, medfee: i64, fund: i64) -> ReconRow {
    ReconRow {
        omsgid: omsgid.to_owned(),
        setl_id: format!("S{omsgid}"),
        mdtrt_id: "YD1".to_owned(),
        setl_time: datetime!(2024-05-20 12:00:00),
        medfee_sumamt: Money::from_fen(medfee),
        fund_pay_sumamt: Money::from_fen(fund),
        aaa113: kind,
        fulamt_advpay_flag: false,
    }
}

fn amounts(d: &Difference) -> [Option<i64>; 4] {
    [
        d.sender_medfee_sumamt,
        d.receiver_medfee_sumamt,
        d.sender_fund_pay_sumamt,
        d.receiver_fund_pay_sumamt,
    ]
    .map(|m| m.map(Money::fen))
}

#[test]
fn equal_days_have_no_difference() {
    let rows = vec![
        row("A", TxKind::Forward, 2_560_000, 1_814_000),
        row("A", TxKind::Reversal, -2_560_000, -1_814_000),
        row("B", TxKind::Forward, 100, 0),
    ];
    let mut shuffled = rows.clone();
    shuffled.reverse();
    assert!(reconcile_detail(&rows, &shuffled).is_empty());
    assert!(reconcile_detail(&[], &[]).is_empty());
}

#[test]
fn missing_on_either_side_and_amounts_that_differ() {
    let sender = vec![
        row("A", TxKind::Forward, 1000, 800),
        row("B", TxKind::Forward, 500, 400),
        row("B", TxKind::Reversal, -500, -400),
        row("D", TxKind::Forward, 300, 200),
    ];
    let receiver = vec![
        row("A", TxKind::Forward, 1000, 800),
        row("B", TxKind::Forward, 500, 400),
        row("C", TxKind::Forward, 700, 600),
        row("D", TxKind::Forward, 300, 201),
    ];
    let d = reconcile_detail(&sender, &receiver);
    let seen: Vec<(&str, TxKind, DifferenceKind)> = d
        .iter()
        .map(|d| (d.omsgid.as_str(), d.aaa113, d.kind))
        .collect();
    assert_eq!(
        seen,
        [
            ("B", TxKind::Reversal, DifferenceKind::MissingAtReceiver),
            ("C", TxKind::Forward, DifferenceKind::MissingAtSender),
            ("D", TxKind::Forward, DifferenceKind::AmountDiffers),
        ]
    );
    assert_eq!(amounts(&d[0]), [Some(-500), None, Some(-400), None]);
    assert_eq!(amounts(&d[1]), [None, Some(700), None, Some(600)]);
    assert_eq!(amounts(&d[2]), [Some(300), Some(300), Some(200), Some(201)]);
}

#[test]
fn a_row_kept_twice_shows_as_an_amount_difference() {
    let once = vec![row("A", TxKind::Forward, 1000, 800)];
    let twice = vec![
        row("A", TxKind::Forward, 1000, 800),
        row("A", TxKind::Forward, 1000, 800),
    ];
    let d = reconcile_detail(&once, &twice);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].kind, DifferenceKind::AmountDiffers);
    assert_eq!(
        amounts(&d[0]),
        [Some(1000), Some(2000), Some(800), Some(1600)]
    );
}

#[test]
fn day_totals_split_by_direction() {
    let rows = vec![
        row("A", TxKind::Forward, 2_560_000, 1_814_000),
        row("A", TxKind::Reversal, -2_560_000, -1_814_000),
        row("B", TxKind::Forward, 100, 50),
    ];
    let t = day_totals(&rows);
    assert_eq!((t.fwd_cnt, t.rev_cnt), (2, 1));
    assert_eq!(t.fwd_medfee_sumamt, Money::from_fen(2_560_100));
    assert_eq!(t.fwd_fund_pay_sumamt, Money::from_fen(1_814_050));
    assert_eq!(t.rev_medfee_sumamt, Money::from_fen(-2_560_000));
    assert_eq!(t.rev_fund_pay_sumamt, Money::from_fen(-1_814_000));
    assert_eq!(day_totals(&[]), Default::default());
}

#[test]
fn hostile_sums_are_held_not_overflowed() {
    let huge = row("A", TxKind::Forward, 9_999_999_999_999_999, 0);
    let many = vec![huge.clone(); 2_000];
    let t = day_totals(&many);
    assert_eq!(t.fwd_cnt, 2_000);
    assert_eq!(t.fwd_medfee_sumamt, Money::from_fen(i64::MAX));
    let d = reconcile_detail(&many, &[huge]);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].kind, DifferenceKind::AmountDiffers);
}
