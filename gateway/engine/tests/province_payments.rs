//! Payments a province sends through clearing between provinces (a month's transfer, a
//! prepayment top-up) are registered with their postings, so their bank receipts post to the
//! ledger like any other payment's — and never stop the receipts of the day's payments.

mod common;

use std::collections::BTreeMap;

use common::*;
use medsettle_canonical::{Money, ReceiptStatus};
use medsettle_engine::{EngineError, ProvincePayment};
use medsettle_settlement::ledger::{Account, Transfer};

const ZHEJIANG: &str = "330000";
const GUANGDONG: &str = "440000";

fn pc(counter: &str) -> Account {
    Account::ProvinceClearing {
        inst: ZHEJIANG.into(),
        counter: counter.into(),
    }
}

/// Zhejiang tops up its prepayment held by Guangdong: 200.00 from its prepayment account.
fn post_top_up(e: &medsettle_engine::Engine, store: &dyn medsettle_store::Store) {
    let transit = Account::BankInTransit {
        inst: ZHEJIANG.into(),
        payee: GUANGDONG.into(),
    };
    let postings = vec![Transfer {
        debit: pc("prepayment:440000"),
        credit: transit,
        amount: fen(20_000),
        reference: "prepayment:P2027330000440000001".into(),
    }];
    let payment = ProvincePayment {
        payment_id: "P2027330000440000001".into(),
        payer: ZHEJIANG.into(),
        payee: GUANGDONG.into(),
        amount: fen(20_000),
        source: pc("prepayment:440000"),
    };
    e.post_province_clearing(
        store,
        "prepayment/P2027330000440000001/top_up",
        postings,
        BTreeMap::from([(ZHEJIANG.to_owned(), Money::ZERO)]),
        vec![payment],
    )
    .unwrap();
}

fn balance(e: &medsettle_engine::Engine, store: &dyn medsettle_store::Store, a: &Account) -> i64 {
    e.ledger(store)
        .unwrap()
        .transfers()
        .iter()
        .map(|t| {
            (if t.debit == *a { t.amount.fen() } else { 0 })
                - (if t.credit == *a { t.amount.fen() } else { 0 })
        })
        .sum()
}

#[test]
fn a_province_payments_receipts_post_back_to_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let e = engine();
    post_top_up(&e, &store);
    let prepayment = pc("prepayment:440000");
    let paid = Account::Paid {
        inst: ZHEJIANG.into(),
        payee: GUANGDONG.into(),
    };
    assert_eq!(balance(&e, &store, &prepayment), 20_000);

    // failed: the money is back on the prepayment account it left
    e.apply_receipts(
        &store,
        &[receipt(
            "P2027330000440000001",
            ReceiptStatus::Failed,
            20_000,
        )],
    )
    .unwrap();
    assert_eq!(balance(&e, &store, &prepayment), 0);
    assert_eq!(balance(&e, &store, &paid), 0);

    // a second payment of the movement, paid then returned
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    post_top_up(&e, &store);
    e.apply_receipts(
        &store,
        &[receipt("P2027330000440000001", ReceiptStatus::Paid, 20_000)],
    )
    .unwrap();
    assert_eq!(balance(&e, &store, &paid), -20_000);
    assert_eq!(balance(&e, &store, &prepayment), 20_000);
    // the same receipt again posts nothing
    e.apply_receipts(
        &store,
        &[receipt("P2027330000440000001", ReceiptStatus::Paid, 20_000)],
    )
    .unwrap();
    assert_eq!(balance(&e, &store, &paid), -20_000);
    e.apply_receipts(
        &store,
        &[receipt(
            "P2027330000440000001",
            ReceiptStatus::Returned,
            20_000,
        )],
    )
    .unwrap();
    assert_eq!(balance(&e, &store, &paid), 0);
    assert_eq!(balance(&e, &store, &prepayment), 0);

    // another amount than was sent is refused, nothing applied
    let err = e
        .apply_receipts(
            &store,
            &[receipt("P2027330000440000001", ReceiptStatus::Paid, 1)],
        )
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Rule { .. } | EngineError::Settlement(_)),
        "{err}"
    );
}

#[test]
fn an_unregistered_province_payment_is_still_refused() {
    // before the payments were registered, a clearing transfer's receipt was refused as an
    // unknown payment — and with it every receipt of the same call
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let e = engine();
    let err = e
        .apply_receipts(
            &store,
            &[receipt("X202612330000440000", ReceiptStatus::Paid, 100)],
        )
        .unwrap_err();
    assert!(err.to_string().contains("unknown payment"), "{err}");
    post_top_up(&e, &store);
    e.apply_receipts(
        &store,
        &[receipt("P2027330000440000001", ReceiptStatus::Paid, 20_000)],
    )
    .unwrap();
}
