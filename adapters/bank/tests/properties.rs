//! Property tests: generated batches round-trip through encoder → simulator → decoders and
//! validate against the XSD; arbitrary and mutated bytes never panic a decoder.

mod common;

use std::collections::BTreeMap;

use common::*;
use medsettle_bank::receipts::{self, DecodeLimits, FileKind, ReceiptFormat};
use medsettle_bank::simulator::{
    self, FailReason, Outcome, OutcomePlan, PaymentFileFormat, ReceiptKinds,
};
use medsettle_bank::{
    BankError, BankProfile, Pain001Options, delimited, detect_format, pain001, trigger,
};
use medsettle_canonical::{Money, PaymentBatch, ReceiptStatus};
use proptest::prelude::*;
use time::Date;

fn arb_name() -> impl Strategy<Value = String> {
    // Chinese, ASCII and XML-special characters; never the delimited separator.
    proptest::collection::vec(
        prop::sample::select(vec![
            '医', '院', '药', '房', '深', '圳', 'A', 'b', '&', '<', '>', '"', '\'', ' ', '（',
            '）', '·',
        ]),
        1..30,
    )
    .prop_map(|v| format!("诊所{}店", v.into_iter().collect::<String>()))
}

fn arb_batch() -> impl Strategy<Value = PaymentBatch> {
    proptest::collection::vec(
        (
            arb_name(),
            1i64..10_000_000_000,
            0u8..3,
            proptest::collection::vec(0u16..60, 0..6),
        ),
        1..25,
    )
    .prop_map(|rows| {
        let mut b = batch();
        b.payments = rows
            .into_iter()
            .enumerate()
            .map(|(i, (name, fen, bank, days))| {
                let mut p = payment(&format!("PAY-{i:06}"), &name, fen);
                p.payee.bank_code =
                    ["102584000013", "104584000003", "308584000013"][bank as usize].into();
                p.settlement_dates = days
                    .into_iter()
                    .map(|d| Date::from_ordinal_date(2025, d + 1).unwrap())
                    .collect();
                p
            })
            .collect();
        b
    })
}

fn plan(seed: u64, f: u16, p: u16, r: u16) -> OutcomePlan {
    OutcomePlan {
        failed_per_mille: f,
        pending_per_mille: p,
        returned_per_mille: r,
        receipts: ReceiptKinds {
            pain002: true,
            camt054: true,
            gbk_return: Some(BankProfile::default_gbk()),
        },
        ..OutcomePlan::all_paid(seed)
    }
}

/// Decode every simulator file in order and keep, per payment, the latest status reached by
/// a forward move (what the ingest state machine would do).
fn fold(files: &[(String, Vec<u8>)]) -> BTreeMap<String, ReceiptStatus> {
    let mut state: BTreeMap<String, ReceiptStatus> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for (name, bytes) in files {
        // Ingest is idempotent by file content: a re-delivered file is a no-op.
        if !seen.insert(bytes.clone()) {
            continue;
        }
        let format = match detect_format(bytes).unwrap() {
            FileKind::Pain002 => ReceiptFormat::Pain002,
            FileKind::Camt054 => ReceiptFormat::Camt054,
            FileKind::Delimited => ReceiptFormat::GbkReturn(BankProfile::default_gbk()),
            FileKind::Pain001 => panic!("{name}: the bank does not send pain.001"),
        };
        let f = receipts::decode(bytes, format, &DecodeLimits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(f.totals.row_count as usize, f.rows.len());
        for r in f.rows {
            let next = r.status;
            state
                .entry(r.payment_id)
                .and_modify(|s| {
                    assert!(
                        s.may_move_to(next),
                        "{name}: {s:?} -> {next:?} goes backwards"
                    );
                    *s = next;
                })
                .or_insert(next);
        }
    }
    state
}

fn expected(batch: &PaymentBatch, plan: &OutcomePlan) -> BTreeMap<String, ReceiptStatus> {
    batch
        .payments
        .iter()
        .map(|p| {
            (
                p.payment_id.clone(),
                plan.outcome_for(&p.payment_id).final_status(),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn generated_batches_round_trip_and_validate(b in arb_batch(), seed in any::<u64>(), f in 0u16..400, p in 0u16..300, r in 0u16..300) {
        let plan = plan(seed, f, p, r);
        let xml = pain001::encode(&b, &Pain001Options::default()).unwrap();
        let back = pain001::decode("gen", &xml, &DecodeLimits::default()).unwrap();
        prop_assert_eq!(back.control_sum, b.control_sum());
        prop_assert_eq!(back.payments.iter().map(|p| p.payee_name.clone()).collect::<Vec<_>>(), b.payments.iter().map(|p| p.payee.name.clone()).collect::<Vec<_>>());
        let files = simulator::simulate(&xml, &PaymentFileFormat::Pain001, &plan).unwrap();
        prop_assert_eq!(&files, &simulator::simulate(&xml, &PaymentFileFormat::Pain001, &plan).unwrap(), "simulator is deterministic");
        prop_assert_eq!(fold(&files), expected(&b, &plan));

        let profile = BankProfile::default_gbk();
        let txt = delimited::encode(&b, &profile).unwrap();
        let files = simulator::simulate(&txt, &PaymentFileFormat::Delimited(profile), &plan).unwrap();
        prop_assert_eq!(fold(&files), expected(&b, &plan));
        xsd_validate(&[xml]);
    }

    #[test]
    fn arbitrary_bytes_never_panic_any_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        decode_everything(&bytes);
    }

    #[test]
    fn mutated_valid_files_never_panic(seed in any::<u64>(), edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8)) {
        let b = batch();
        let mut plan = plan(seed, 300, 200, 200);
        plan.truncated_copy = true;
        let xml = pain001::encode(&b, &Pain001Options::default()).unwrap();
        let mut files = simulator::simulate(&xml, &PaymentFileFormat::Pain001, &plan).unwrap();
        files.push(("pain001".into(), xml));
        files.push(("gbk".into(), delimited::encode(&b, &BankProfile::default_gbk()).unwrap()));
        for (_, mut bytes) in files {
            for (idx, byte, op) in &edits {
                if bytes.is_empty() { break; }
                let i = idx.index(bytes.len());
                match op {
                    0 => bytes[i] = *byte,
                    1 => bytes.insert(i, *byte),
                    _ => { bytes.remove(i); }
                }
            }
            decode_everything(&bytes);
        }
    }
}

fn decode_everything(bytes: &[u8]) {
    let limits = DecodeLimits::default();
    let gbk = BankProfile::default_gbk();
    let _ = detect_format(bytes);
    let _ = receipts::decode(bytes, ReceiptFormat::Pain002, &limits);
    let _ = receipts::decode(bytes, ReceiptFormat::Camt054, &limits);
    let _ = receipts::decode(bytes, ReceiptFormat::GbkReturn(gbk.clone()), &limits);
    let _ = pain001::decode("x", bytes, &limits);
    let _ = delimited::decode_payments("x", bytes, &gbk, &limits);
    let _ = trigger::parse(bytes);
    let _ = simulator::simulate(
        bytes,
        &PaymentFileFormat::Pain001,
        &OutcomePlan::all_paid(1),
    );
}

#[test]
fn plan_scenarios_each_come_back_as_planned() {
    let b = batch();
    let ids: Vec<String> = b.payments.iter().map(|p| p.payment_id.clone()).collect();
    let mut plan = plan(7, 0, 0, 0);
    plan.overrides
        .insert(ids[0].clone(), Outcome::PendingThenPaid);
    plan.overrides.insert(
        ids[1].clone(),
        Outcome::PaidThenReturned(FailReason::ClosedAccount),
    );
    plan.overrides
        .insert(ids[2].clone(), Outcome::Failed(FailReason::NameMismatch));
    plan.duplicate_receipt = true;
    plan.truncated_copy = true;
    let xml = pain001::encode(&b, &Pain001Options::default()).unwrap();
    let files = simulator::simulate(&xml, &PaymentFileFormat::Pain001, &plan).unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.iter().any(|n| n.ends_with("_2.xml")),
        "a second generation exists: {names:?}"
    );
    // the duplicate is byte-identical to the first file; the truncated copy is refused
    assert_eq!(files[0], files[files.len() - 2]);
    let (trunc_name, trunc) = files.last().unwrap();
    assert!(trunc_name.starts_with("TRUNC_"));
    assert!(receipts::decode(trunc, ReceiptFormat::Pain002, &DecodeLimits::default()).is_err());
    let state = fold(&files[..files.len() - 1]);
    assert_eq!(state[&ids[0]], ReceiptStatus::Paid);
    assert_eq!(state[&ids[1]], ReceiptStatus::Returned);
    assert_eq!(state[&ids[2]], ReceiptStatus::Failed);
    // the failure reason is realistic and carried through
    let p2 = receipts::decode(
        &files[0].1,
        ReceiptFormat::Pain002,
        &DecodeLimits::default(),
    )
    .unwrap();
    let failed = p2.rows.iter().find(|r| r.payment_id == ids[2]).unwrap();
    let reason = failed.reason.as_ref().unwrap();
    assert_eq!(
        (reason.iso_code.as_deref(), reason.bank_code.as_deref()),
        (Some("BE01"), Some("49"))
    );
    assert_eq!(p2.group_status.unwrap().code, "PART");
}

#[test]
fn simulator_refuses_a_payment_file_whose_totals_lie() {
    let xml =
        String::from_utf8(pain001::encode(&batch(), &Pain001Options::default()).unwrap()).unwrap();
    let bad = xml.replacen("<NbOfTxs>3</NbOfTxs>", "<NbOfTxs>4</NbOfTxs>", 1);
    let e = simulator::simulate(
        bad.as_bytes(),
        &PaymentFileFormat::Pain001,
        &OutcomePlan::all_paid(1),
    )
    .unwrap_err();
    assert!(matches!(e, BankError::TotalsMismatch { .. }), "{e}");
    let bad = xml.replace(
        "<CtrlSum>1333333.37</CtrlSum>",
        "<CtrlSum>1333333.38</CtrlSum>",
    );
    assert!(
        simulator::simulate(
            bad.as_bytes(),
            &PaymentFileFormat::Pain001,
            &OutcomePlan::all_paid(1)
        )
        .is_err()
    );
    let _ = Money::ZERO;
}
