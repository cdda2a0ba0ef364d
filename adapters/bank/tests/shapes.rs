//! Receipts in the shapes real banks send beyond one tidy row per payment: hand-written golden
//! inputs → what the decoder keeps for the inbox, and the simulator producing each shape.

mod common;

use std::collections::BTreeMap;

use common::golden_dir;
use medsettle_bank::receipts::{self, DecodeLimits, ReceiptFile, ReceiptFormat};
use medsettle_bank::{
    FailReason, Outcome, OutcomePlan, PaymentFileFormat, ReceiptShapes, RowIdentity, RowKey,
    pain001, simulator,
};
use medsettle_canonical::{Money, ReceiptStatus};

const BATCH: &str = "B440300-20250103-0001";
const P1: &str = "PAY-20250103-0001";
const P2: &str = "PAY-20250103-0002";
const P3: &str = "PAY-20250103-0003";

fn golden(name: &str, format: ReceiptFormat) -> ReceiptFile {
    let bytes = std::fs::read(golden_dir().join(name)).unwrap();
    receipts::decode(&bytes, format, &DecodeLimits::default()).unwrap()
}

#[test]
fn payment_information_rejected_without_rows_is_kept_as_a_status() {
    let f = golden("pain002_pmtinf_rejected.xml", ReceiptFormat::Pain002);
    assert!(f.rows.is_empty());
    assert_eq!(f.group_status.as_ref().unwrap().code, "RJCT");
    assert_eq!(f.payment_infos.len(), 1);
    let p = &f.payment_infos[0];
    assert_eq!(p.pmt_inf_id, BATCH);
    assert_eq!(p.code.as_deref(), Some("RJCT"));
    assert_eq!(p.rows, 0);
    assert_eq!(p.declared_count, Some(3));
    assert_eq!(p.declared_sum, Some(Money::from_fen(133_333_337)));
    let r = p.reason.as_ref().unwrap();
    assert_eq!(r.iso_code.as_deref(), Some("AM04"));
    assert_eq!(r.bank_code.as_deref(), Some("46"));
    assert_eq!(r.text, "付款账户余额不足");
}

#[test]
fn an_exception_style_report_is_read_not_refused() {
    let f = golden("pain002_exception.xml", ReceiptFormat::Pain002);
    assert_eq!(f.rows.len(), 1, "only the rejection is listed");
    assert_eq!(f.rows[0].payment_id, P2);
    assert_eq!(f.rows[0].status, ReceiptStatus::Failed);
    assert_eq!(f.totals.declared_count, Some(3));
    assert_eq!(f.totals.row_count, 1);
    assert_eq!(f.payment_infos[0].rows, 1);
    assert!(f.notes.is_empty(), "{:?}", f.notes);

    // A bucket of which rows are listed must still match them.
    let text = std::fs::read_to_string(golden_dir().join("pain002_exception.xml")).unwrap();
    let bad = text.replace(
        "<DtldNbOfTxs>1</DtldNbOfTxs>\n        <DtldSts>RJCT",
        "<DtldNbOfTxs>2</DtldNbOfTxs>\n        <DtldSts>RJCT",
    );
    assert_ne!(bad, text);
    let e = receipts::decode(
        bad.as_bytes(),
        ReceiptFormat::Pain002,
        &DecodeLimits::default(),
    )
    .unwrap_err();
    assert_eq!(e.rule(), "bank.totals_match_rows", "{e}");
}

#[test]
fn rows_without_end_to_end_id_keep_the_keys_they_carry() {
    let f = golden("pain002_without_end_to_end_id.xml", ReceiptFormat::Pain002);
    assert_eq!(f.rows.len(), 3);
    assert!(f.rows.iter().all(|r| r.payment_id.is_empty()));
    assert_eq!(f.rows[1].amount, Some(Money::from_fen(9_876_543)));
    assert_eq!(
        f.unidentified,
        vec![
            RowIdentity {
                row: 0,
                instr_id: Some(P1.into()),
                pmt_inf_id: Some(BATCH.into()),
                creditor_account: None,
                creditor_name: None,
            },
            RowIdentity {
                row: 1,
                instr_id: None,
                pmt_inf_id: Some(BATCH.into()),
                creditor_account: Some("744400000000123".into()),
                creditor_name: Some("深圳市人民医院".into()),
            },
            RowIdentity {
                row: 2,
                pmt_inf_id: Some(BATCH.into()),
                ..Default::default()
            },
        ]
    );
    assert!(
        f.unidentified[1]
            .describe()
            .contains("CdtrAcct=744400000000123")
    );
}

#[test]
fn a_rejection_echoing_zero_is_read_with_the_difference_noted() {
    let f = golden("pain002_rejected_zero_amount.xml", ReceiptFormat::Pain002);
    assert_eq!(f.rows.len(), 3);
    assert_eq!(f.rows[1].status, ReceiptStatus::Failed);
    assert_eq!(f.rows[1].amount, Some(Money::ZERO));
    assert_eq!(f.notes.len(), 2, "{:?}", f.notes); // RJCT bucket sum and OrgnlCtrlSum
    assert!(f.notes.iter().any(|n| n.contains("OrgnlCtrlSum")));

    // Without a rejection among the rows the control sum still refuses the file.
    let text =
        std::fs::read_to_string(golden_dir().join("pain002_rejected_zero_amount.xml")).unwrap();
    let bad = text.replace("<TxSts>RJCT</TxSts>", "<TxSts>ACSC</TxSts>");
    let e = receipts::decode(
        bad.as_bytes(),
        ReceiptFormat::Pain002,
        &DecodeLimits::default(),
    )
    .unwrap_err();
    assert_eq!(e.rule(), "bank.totals_match_rows", "{e}");
}

#[test]
fn camt054_details_without_amounts_are_covered_by_the_entry_amount() {
    let f = golden("camt054_without_tx_amounts.xml", ReceiptFormat::Camt054);
    assert_eq!(f.rows.len(), 3);
    assert!(f.rows.iter().all(|r| r.amount.is_none()));
    assert!(f.rows.iter().all(|r| r.status == ReceiptStatus::Paid));
    assert_eq!(f.amount_checks.len(), 2, "{:?}", f.amount_checks);
    for c in &f.amount_checks {
        assert_eq!(c.declared, Money::from_fen(133_333_337));
        assert_eq!(c.rows, vec![0, 1, 2]);
        assert_eq!((c.others_known, c.others_unknown), (Money::ZERO, 0));
    }
    assert!(f.amount_checks[0].location.ends_with("Btch/TtlAmt"));
    assert!(f.amount_checks[1].location.ends_with("/Amt"));
}

// ---- the simulator produces each shape ----

fn payment_file() -> Vec<u8> {
    pain001::encode(&common::batch(), &pain001::Pain001Options::default()).unwrap()
}

fn simulate(shapes: ReceiptShapes) -> BTreeMap<String, ReceiptFile> {
    simulate_plan(OutcomePlan::all_paid(3).with_shapes(shapes))
}

fn simulate_plan(plan: OutcomePlan) -> BTreeMap<String, ReceiptFile> {
    let files = simulator::simulate(&payment_file(), &PaymentFileFormat::Pain001, &plan).unwrap();
    files
        .into_iter()
        .map(|(name, bytes)| {
            let format = if name.contains("pain002") {
                ReceiptFormat::Pain002
            } else {
                ReceiptFormat::Camt054
            };
            let f = receipts::decode_named(&name, &bytes, &format, &DecodeLimits::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let kind = name.trim_start_matches(BATCH).to_owned();
            (kind, f)
        })
        .collect()
}

#[test]
fn simulator_rejects_the_payment_information_without_rows() {
    let plan = OutcomePlan::all_paid(3).with_shapes(ReceiptShapes {
        payment_info_rejected: Some(FailReason::InsufficientFunds),
        ..Default::default()
    });
    assert_eq!(
        plan.outcome_for(P1),
        Outcome::Failed(FailReason::InsufficientFunds)
    );
    let files = simulate_plan(plan);
    assert_eq!(files.keys().collect::<Vec<_>>(), ["_pain002_1.xml"]);
    let f = &files["_pain002_1.xml"];
    assert!(f.rows.is_empty());
    assert_eq!(f.group_status.as_ref().unwrap().code, "RJCT");
    let p = &f.payment_infos[0];
    assert_eq!(
        (p.pmt_inf_id.as_str(), p.code.as_deref(), p.rows),
        (BATCH, Some("RJCT"), 0)
    );
    assert_eq!(p.reason.as_ref().unwrap().iso_code.as_deref(), Some("AM04"));
}

#[test]
fn simulator_writes_an_exception_style_report() {
    let mut plan = OutcomePlan::all_paid(3).with_shapes(ReceiptShapes {
        exception_style: true,
        ..Default::default()
    });
    plan.overrides
        .insert(P2.into(), Outcome::Failed(FailReason::ClosedAccount));
    let files = simulate_plan(plan);
    let f = &files["_pain002_1.xml"];
    assert_eq!(f.rows.len(), 1);
    assert_eq!(
        (f.rows[0].payment_id.as_str(), f.rows[0].status),
        (P2, ReceiptStatus::Failed)
    );
    assert_eq!(f.totals.declared_count, Some(3));
    // the paid ones are in the camt.054
    assert_eq!(files["_camt054_1.xml"].rows.len(), 2);
}

#[test]
fn simulator_writes_rows_without_end_to_end_id() {
    let mut plan = OutcomePlan::all_paid(3).with_shapes(ReceiptShapes {
        without_end_to_end_id: [
            (P1.to_owned(), RowKey::InstrId),
            (P2.to_owned(), RowKey::OriginalTxRef),
        ]
        .into(),
        ..Default::default()
    });
    plan.overrides
        .insert(P2.into(), Outcome::Failed(FailReason::NameMismatch));
    let files = simulate_plan(plan);
    let f = &files["_pain002_1.xml"];
    assert_eq!(f.rows.iter().filter(|r| r.payment_id.is_empty()).count(), 2);
    assert_eq!(f.unidentified.len(), 2);
    let by_instr = f
        .unidentified
        .iter()
        .find(|i| i.instr_id.is_some())
        .unwrap();
    assert_eq!(by_instr.instr_id.as_deref(), Some(P1));
    let by_ref = f
        .unidentified
        .iter()
        .find(|i| i.instr_id.is_none())
        .unwrap();
    assert_eq!(by_ref.creditor_account.as_deref(), Some("744400000000123"));
    assert_eq!(by_ref.creditor_name.as_deref(), Some("深圳市人民医院"));
    assert_eq!(f.rows[by_ref.row].amount, Some(Money::from_fen(9_876_543)));
}

#[test]
fn simulator_echoes_zero_on_rejections() {
    let mut plan = OutcomePlan::all_paid(3).with_shapes(ReceiptShapes {
        rejection_amount_echo: Some(Money::ZERO),
        ..Default::default()
    });
    plan.overrides
        .insert(P2.into(), Outcome::Failed(FailReason::NoSuchAccount));
    let files = simulate_plan(plan);
    let f = &files["_pain002_1.xml"];
    let rejected = f.rows.iter().find(|r| r.payment_id == P2).unwrap();
    assert_eq!(rejected.amount, Some(Money::ZERO));
    let paid = f.rows.iter().find(|r| r.payment_id == P1).unwrap();
    assert_eq!(paid.amount, Some(Money::from_fen(123_456_789)));
    assert!(!f.notes.is_empty());
}

#[test]
fn simulator_leaves_amounts_out_of_camt054_details_and_can_be_off() {
    let f = &simulate(ReceiptShapes {
        camt054_without_tx_amounts: true,
        ..Default::default()
    })["_camt054_1.xml"];
    assert!(f.rows.iter().all(|r| r.amount.is_none()));
    assert!(
        f.amount_checks
            .iter()
            .all(|c| c.declared == Money::from_fen(133_333_337))
    );
    let f = &simulate(ReceiptShapes {
        camt054_without_tx_amounts: true,
        camt054_entry_amount_off_by_fen: 100,
        ..Default::default()
    })["_camt054_1.xml"];
    assert!(
        f.amount_checks
            .iter()
            .all(|c| c.declared == Money::from_fen(133_333_437))
    );
}

#[test]
fn simulator_returns_a_payment_it_only_reported_pending() {
    let plan = OutcomePlan::all_paid(3).with_shapes(ReceiptShapes {
        returned_while_pending: [(P3.to_owned(), FailReason::ClosedAccount)].into(),
        ..Default::default()
    });
    assert_eq!(plan.outcome_for(P3), Outcome::Pending);
    let files = simulate_plan(plan);
    let g1 = &files["_pain002_1.xml"];
    let p3 = g1.rows.iter().find(|r| r.payment_id == P3).unwrap();
    assert_eq!(p3.status, ReceiptStatus::Pending);
    assert!(
        !files["_camt054_1.xml"]
            .rows
            .iter()
            .any(|r| r.payment_id == P3),
        "never reported paid"
    );
    let g2 = &files["_camt054_2.xml"];
    assert_eq!(g2.rows.len(), 1);
    assert_eq!(
        (g2.rows[0].payment_id.as_str(), g2.rows[0].status),
        (P3, ReceiptStatus::Returned)
    );
    assert!(!files.contains_key("_pain002_2.xml"));
}
