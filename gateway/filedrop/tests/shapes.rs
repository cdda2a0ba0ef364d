//! Receipts in the shapes real banks send (issue 20 part 2): never lose a bank's word, never
//! mark the wrong amount paid. Each case hand-written (made-up values, ISO shapes) and/or
//! produced by the simulated bank's `ReceiptShapes`.

mod common;

use common::{Env, batch, put_inbox};
use medsettle_bank::{
    FailReason, Outcome, OutcomePlan, PaymentFileFormat, ReceiptShapes, RowKey, simulator,
};
use medsettle_canonical::Money;
use medsettle_filedrop::state::{InboxOutcome, inbox_files, payment_states};
use medsettle_filedrop::{
    DropReport, IgnoreReason, Inbox, IngestReport, Outbox, PaymentStatus, alerts, rule,
};

/// Batch `B-S`: payments B-S-P1..3 of 10.07, 20.07, 30.07 yuan, all to the same account of
/// 北京大学深圳医院 (so only the amount tells them apart).
fn setup() -> (Env, DropReport) {
    let env = Env::new();
    let r = Outbox::drop_batch(env.store(), &env.cfg, &batch("B-S", 3)).unwrap();
    (env, r)
}

fn state(env: &Env, id: &str) -> medsettle_filedrop::state::PaymentState {
    payment_states(env.store())
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == id)
        .unwrap_or_else(|| panic!("no payment {id}"))
        .1
}

fn status_of(env: &Env, id: &str) -> PaymentStatus {
    state(env, id).status
}

fn scan(env: &Env) -> IngestReport {
    Inbox::scan_once(env.store(), &env.cfg).unwrap()
}

/// The simulated bank's answer, files of generation `generation` only.
fn answer(r: &DropReport, plan: &OutcomePlan, generation: u8) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(&r.file_path).unwrap();
    simulator::simulate(&bytes, &PaymentFileFormat::Pain001, plan)
        .unwrap()
        .into_iter()
        .filter(|(n, _)| n.contains(&format!("_{generation}.")))
        .collect()
}

fn deliver(env: &Env, files: &[(String, Vec<u8>)]) -> IngestReport {
    for (n, b) in files {
        put_inbox(&env.cfg, n, b);
    }
    let rep = scan(env);
    assert_eq!(rep.files_applied.len(), files.len(), "{rep:?}");
    rep
}

fn shapes_plan(shapes: ReceiptShapes, overrides: &[(&str, Outcome)]) -> OutcomePlan {
    let mut p = OutcomePlan::all_paid(5).with_shapes(shapes);
    for (id, o) in overrides {
        p.overrides.insert((*id).to_owned(), *o);
    }
    p
}

/// A pain.002 for batch B-S with `body` inside `CstmrPmtStsRpt` after the group info.
fn pain002(msg_id: &str, grp_sts: &str, body: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03">
  <CstmrPmtStsRpt>
    <GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>2025-01-03T17:00:00+08:00</CreDtTm></GrpHdr>
    <OrgnlGrpInfAndSts>
      <OrgnlMsgId>B-S</OrgnlMsgId>
      <OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId>
      <OrgnlNbOfTxs>3</OrgnlNbOfTxs>
      <OrgnlCtrlSum>60.21</OrgnlCtrlSum>
      <GrpSts>{grp_sts}</GrpSts>
    </OrgnlGrpInfAndSts>
{body}
  </CstmrPmtStsRpt>
</Document>
"#
    )
    .into_bytes()
}

fn pmt_inf_rejected(pmt_inf_id: &str) -> String {
    format!(
        r#"    <OrgnlPmtInfAndSts>
      <OrgnlPmtInfId>{pmt_inf_id}</OrgnlPmtInfId>
      <OrgnlNbOfTxs>3</OrgnlNbOfTxs>
      <OrgnlCtrlSum>60.21</OrgnlCtrlSum>
      <PmtInfSts>RJCT</PmtInfSts>
      <StsRsnInf><Rsn><Cd>AM04</Cd></Rsn><AddtlInf>付款账户余额不足</AddtlInf></StsRsnInf>
    </OrgnlPmtInfAndSts>"#
    )
}

#[test]
fn a_payment_information_rejection_without_rows_fails_every_payment_not_yet_final() {
    let (env, _) = setup();
    // First the bank pays P1 and rejects P2, one row each.
    let first = pain002(
        "RPT-S-1",
        "PART",
        r#"    <OrgnlPmtInfAndSts>
      <OrgnlPmtInfId>B-S</OrgnlPmtInfId>
      <TxInfAndSts><OrgnlEndToEndId>B-S-P1</OrgnlEndToEndId><TxSts>ACSC</TxSts>
        <OrgnlTxRef><Amt><InstdAmt Ccy="CNY">10.07</InstdAmt></Amt></OrgnlTxRef></TxInfAndSts>
      <TxInfAndSts><OrgnlEndToEndId>B-S-P2</OrgnlEndToEndId><TxSts>RJCT</TxSts>
        <StsRsnInf><Rsn><Cd>AC04</Cd></Rsn></StsRsnInf></TxInfAndSts>
    </OrgnlPmtInfAndSts>"#,
    );
    put_inbox(&env.cfg, "B-S_pain002_a.xml", &first);
    assert_eq!(scan(&env).receipts_applied.len(), 2);

    // Then it rejects the whole payment information, listing no transaction.
    put_inbox(
        &env.cfg,
        "B-S_pain002_b.xml",
        &pain002("RPT-S-2", "RJCT", &pmt_inf_rejected("B-S")),
    );
    let rep = scan(&env);
    assert_eq!(rep.files_applied, ["B-S_pain002_b.xml"]);
    let applied: Vec<&str> = rep
        .receipts_applied
        .iter()
        .map(|r| r.payment_id.as_str())
        .collect();
    assert_eq!(applied, ["B-S-P3"], "only the payment not yet final moves");
    assert_eq!(status_of(&env, "B-S-P3"), PaymentStatus::Failed);
    let reason = state(&env, "B-S-P3").receipt.unwrap().reason.unwrap();
    assert_eq!(reason.iso_code.as_deref(), Some("AM04"));
    // P2 was failed already: a repeat, no alert. P1 was paid: a contradiction, an alert.
    assert_eq!(
        rep.ignored_by_reason,
        [(IgnoreReason::Repeated, 1), (IgnoreReason::Backward, 1)].into()
    );
    assert_eq!(rep.row_alerts.len(), 1);
    let a = &rep.row_alerts[0];
    assert_eq!(a.payment_id.as_deref(), Some("B-S-P1"));
    assert_eq!(a.payment_status, Some(PaymentStatus::Paid));
    assert_eq!(a.rule, rule::RECEIPT_FORWARD_ONLY);
    assert_eq!(
        status_of(&env, "B-S-P1"),
        PaymentStatus::Paid,
        "never un-paid"
    );
}

#[test]
fn a_payment_information_rejection_for_one_never_sent_is_an_alert() {
    let (env, _) = setup();
    put_inbox(
        &env.cfg,
        "B-S_pain002_x.xml",
        &pain002("RPT-S-3", "RJCT", &pmt_inf_rejected("B-OTHER")),
    );
    let rep = scan(&env);
    assert!(rep.receipts_applied.is_empty());
    assert_eq!(
        rep.ignored_by_reason,
        [(IgnoreReason::Unidentified, 1)].into()
    );
    let a = &rep.row_alerts[0];
    assert_eq!(a.rule, rule::RECEIPT_IDENTIFIED);
    assert!(
        a.row_reference
            .as_deref()
            .unwrap()
            .contains("OrgnlPmtInfId=B-OTHER"),
        "{a:?}"
    );
    assert_eq!(status_of(&env, "B-S-P1"), PaymentStatus::Sent);
}

#[test]
fn the_simulated_bank_rejecting_the_payment_information_fails_the_batch() {
    let (env, r) = setup();
    let plan = shapes_plan(
        ReceiptShapes {
            payment_info_rejected: Some(FailReason::InsufficientFunds),
            ..Default::default()
        },
        &[],
    );
    let rep = deliver(&env, &answer(&r, &plan, 1));
    assert_eq!(rep.receipts_applied.len(), 3);
    assert!(rep.receipts_ignored.is_empty());
    for id in ["B-S-P1", "B-S-P2", "B-S-P3"] {
        assert_eq!(status_of(&env, id), PaymentStatus::Failed);
    }
}

#[test]
fn an_exception_style_report_applies_its_rows() {
    let (env, r) = setup();
    let plan = shapes_plan(
        ReceiptShapes {
            exception_style: true,
            ..Default::default()
        },
        &[("B-S-P2", Outcome::Failed(FailReason::ClosedAccount))],
    );
    let rep = deliver(&env, &answer(&r, &plan, 1));
    assert!(rep.files_rejected.is_empty());
    assert!(rep.receipts_ignored.is_empty(), "{rep:?}");
    assert_eq!(status_of(&env, "B-S-P1"), PaymentStatus::Paid); // from camt.054
    assert_eq!(status_of(&env, "B-S-P2"), PaymentStatus::Failed); // the listed rejection
    assert_eq!(status_of(&env, "B-S-P3"), PaymentStatus::Paid);
}

#[test]
fn rows_without_end_to_end_id_are_matched_by_instruction_id_or_transaction_reference() {
    let (env, _) = setup();
    let body = r#"    <OrgnlPmtInfAndSts>
      <OrgnlPmtInfId>B-S</OrgnlPmtInfId>
      <TxInfAndSts><OrgnlInstrId>B-S-P1</OrgnlInstrId><TxSts>ACSC</TxSts>
        <OrgnlTxRef><Amt><InstdAmt Ccy="CNY">10.07</InstdAmt></Amt></OrgnlTxRef></TxInfAndSts>
      <TxInfAndSts><TxSts>RJCT</TxSts>
        <StsRsnInf><Rsn><Cd>BE01</Cd></Rsn></StsRsnInf>
        <OrgnlTxRef><Amt><InstdAmt Ccy="CNY">20.07</InstdAmt></Amt>
          <Cdtr><Nm>北京大学深圳医院</Nm></Cdtr>
          <CdtrAcct><Id><Othr><Id>6222020200001234567</Id></Othr></Id></CdtrAcct></OrgnlTxRef></TxInfAndSts>
      <TxInfAndSts><TxSts>ACSC</TxSts>
        <OrgnlTxRef><Amt><InstdAmt Ccy="CNY">99.99</InstdAmt></Amt>
          <CdtrAcct><Id><Othr><Id>6222020200001234567</Id></Othr></Id></CdtrAcct></OrgnlTxRef></TxInfAndSts>
    </OrgnlPmtInfAndSts>"#;
    put_inbox(
        &env.cfg,
        "B-S_pain002_n.xml",
        &pain002("RPT-S-4", "PART", body),
    );
    let rep = scan(&env);
    assert_eq!(
        rep.files_applied.len(),
        1,
        "the file is read, not refused: {rep:?}"
    );
    assert_eq!(status_of(&env, "B-S-P1"), PaymentStatus::Paid); // by OrgnlInstrId
    assert_eq!(status_of(&env, "B-S-P2"), PaymentStatus::Failed); // by account + amount
    assert_eq!(status_of(&env, "B-S-P3"), PaymentStatus::Sent);
    assert_eq!(state(&env, "B-S-P2").receipt.unwrap().payment_id, "B-S-P2");
    // The third matches nothing (three payments to that account, none of 99.99): an alert.
    assert_eq!(
        rep.ignored_by_reason,
        [(IgnoreReason::Unidentified, 1)].into()
    );
    let a = &rep.row_alerts[0];
    assert_eq!(
        (a.row_index, a.rule.as_str()),
        (Some(2), rule::RECEIPT_IDENTIFIED)
    );
    assert_eq!(a.row_amount, Some(Money::from_fen(9_999)));
    assert!(
        a.row_reference
            .as_deref()
            .unwrap()
            .contains("CdtrAcct=6222020200001234567")
    );
    assert!(a.to_string().contains("unidentified"), "{a}");
}

#[test]
fn the_simulated_bank_without_end_to_end_ids_is_understood() {
    let (env, r) = setup();
    let mut plan = shapes_plan(
        ReceiptShapes {
            without_end_to_end_id: [
                ("B-S-P1".to_owned(), RowKey::InstrId),
                ("B-S-P2".to_owned(), RowKey::OriginalTxRef),
            ]
            .into(),
            ..Default::default()
        },
        &[("B-S-P2", Outcome::Failed(FailReason::NameMismatch))],
    );
    plan.receipts.camt054 = false; // pain.002 alone must say it all
    let rep = deliver(&env, &answer(&r, &plan, 1));
    assert!(rep.receipts_ignored.is_empty(), "{rep:?}");
    assert_eq!(status_of(&env, "B-S-P1"), PaymentStatus::Paid);
    assert_eq!(status_of(&env, "B-S-P2"), PaymentStatus::Failed);
    assert_eq!(status_of(&env, "B-S-P3"), PaymentStatus::Paid);
}

#[test]
fn a_rejection_echoing_zero_is_still_a_rejection_with_the_difference_noted() {
    let (env, r) = setup();
    let mut plan = shapes_plan(
        ReceiptShapes {
            rejection_amount_echo: Some(Money::ZERO),
            ..Default::default()
        },
        &[("B-S-P2", Outcome::Failed(FailReason::NoSuchAccount))],
    );
    plan.receipts.camt054 = false;
    let files = answer(&r, &plan, 1);
    let rep = deliver(&env, &files);
    assert!(
        rep.receipts_ignored.is_empty() && rep.row_alerts.is_empty(),
        "{rep:?}"
    );
    let st = state(&env, "B-S-P2");
    assert_eq!(st.status, PaymentStatus::Failed);
    assert_eq!(st.bank_amount, Some(Money::ZERO), "the bank's word is kept");
    assert_eq!(
        st.receipt.unwrap().amount,
        Some(Money::from_fen(2_007)),
        "what failed is the payment's amount"
    );
    assert_eq!(rep.amount_differences.len(), 1);
    let d = &rep.amount_differences[0];
    assert_eq!(
        (d.payment_id.as_str(), d.bank_amount, d.payment_amount),
        ("B-S-P2", Money::ZERO, Money::from_fen(2_007))
    );
    let rec = &inbox_files(env.store()).unwrap()[0].1;
    assert!(matches!(
        rec.outcome,
        InboxOutcome::Applied {
            amount_differences: 1,
            ..
        }
    ));
    assert_eq!(status_of(&env, "B-S-P1"), PaymentStatus::Paid);
}

#[test]
fn camt054_details_without_amounts_are_paid_only_if_the_entry_amount_holds() {
    let only_camt = |off: i64| {
        let mut p = shapes_plan(
            ReceiptShapes {
                camt054_without_tx_amounts: true,
                camt054_entry_amount_off_by_fen: off,
                ..Default::default()
            },
            &[],
        );
        p.receipts.pain002 = false;
        p
    };
    // The entry's Amt equals the payments: paid.
    let (env, r) = setup();
    let rep = deliver(&env, &answer(&r, &only_camt(0), 1));
    assert_eq!(rep.receipts_applied.len(), 3);
    assert!(rep.receipts_ignored.is_empty());
    assert_eq!(status_of(&env, "B-S-P2"), PaymentStatus::Paid);

    // One fen more than the payments: nothing marked paid, one alert per row.
    let (env, r) = setup();
    let rep = deliver(&env, &answer(&r, &only_camt(1), 1));
    assert!(rep.receipts_applied.is_empty(), "{rep:?}");
    assert_eq!(
        rep.ignored_by_reason,
        [(IgnoreReason::EntryAmountMismatch, 3)].into()
    );
    assert_eq!(rep.row_alerts.len(), 3);
    assert!(
        rep.row_alerts
            .iter()
            .all(|a| a.rule == rule::RECEIPT_ENTRY_AMOUNT_MATCHES
                && a.row_reference.as_deref().unwrap().contains("60.22"))
    );
    for id in ["B-S-P1", "B-S-P2", "B-S-P3"] {
        assert_eq!(status_of(&env, id), PaymentStatus::Sent);
    }
}

#[test]
fn a_return_for_a_payment_still_pending_is_an_alert() {
    let (env, r) = setup();
    let plan = shapes_plan(
        ReceiptShapes {
            returned_while_pending: [("B-S-P3".to_owned(), FailReason::ClosedAccount)].into(),
            ..Default::default()
        },
        &[],
    );
    deliver(&env, &answer(&r, &plan, 1));
    assert_eq!(status_of(&env, "B-S-P3"), PaymentStatus::Pending);
    let rep = deliver(&env, &answer(&r, &plan, 2));
    assert!(rep.receipts_applied.is_empty());
    assert_eq!(
        rep.ignored_by_reason,
        [(IgnoreReason::ReturnedUnpaid, 1)].into()
    );
    let a = &rep.row_alerts[0];
    assert_eq!(a.payment_id.as_deref(), Some("B-S-P3"));
    assert_eq!(a.rule, rule::RECEIPT_RETURN_AFTER_PAID);
    assert_eq!(a.payment_status, Some(PaymentStatus::Pending));
    assert_eq!(status_of(&env, "B-S-P3"), PaymentStatus::Pending);
    assert_eq!(alerts(env.store()).unwrap().len(), 1, "durable");
}
