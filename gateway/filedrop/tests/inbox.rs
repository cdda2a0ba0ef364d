//! Inbox: receipts applied at least once and never twice; bad files never partially applied.

mod common;

use std::collections::BTreeMap;

use common::{Env, batch, names, put_inbox};
use medsettle_bank::{FailReason, Outcome, OutcomePlan, PaymentFileFormat, simulator};
use medsettle_canonical::ReceiptStatus;
use medsettle_filedrop::state::{
    InboxOutcome, KIND_RECEIPT_FILE, SPACE_PAYMENT, batches, inbox_files, payment_states,
};
use medsettle_filedrop::{
    BatchState, DropReport, FileDropError, IgnoreReason, Inbox, Outbox, PaymentStatus, Step,
    simulate_pass, status,
};
use medsettle_store::Store;

fn plan(overrides: &[(&str, Outcome)]) -> OutcomePlan {
    let mut p = OutcomePlan::all_paid(1);
    p.receipts.camt054 = false; // one pain.002 per generation keeps the file counts obvious
    p.overrides = overrides
        .iter()
        .map(|(id, o)| ((*id).to_owned(), *o))
        .collect::<BTreeMap<_, _>>();
    p
}

/// The bank's answer files for a dropped batch.
fn answer(r: &DropReport, plan: &OutcomePlan) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(&r.file_path).unwrap();
    simulator::simulate(&bytes, &PaymentFileFormat::Pain001, plan).unwrap()
}

fn status_of(env: &Env, id: &str) -> PaymentStatus {
    payment_states(env.store())
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == id)
        .unwrap_or_else(|| panic!("no payment {id}"))
        .1
        .status
}

#[test]
fn receipts_are_applied_once_archived_and_reported() {
    let env = Env::new();
    let r = Outbox::drop_batch(env.store(), &env.cfg, &batch("B-1", 3)).unwrap();
    let plan = plan(&[("B-1-P2", Outcome::Failed(FailReason::ClosedAccount))]);
    let files = answer(&r, &plan);
    assert_eq!(files.len(), 1);
    put_inbox(&env.cfg, &files[0].0, &files[0].1);

    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.files_applied, [files[0].0.clone()]);
    assert_eq!(rep.receipts_applied.len(), 3);
    assert!(rep.receipts_ignored.is_empty());
    assert_eq!(status_of(&env, "B-1-P1"), PaymentStatus::Paid);
    assert_eq!(status_of(&env, "B-1-P2"), PaymentStatus::Failed);
    let failed = rep
        .receipts_applied
        .iter()
        .find(|r| r.payment_id == "B-1-P2")
        .unwrap();
    assert_eq!(
        failed.reason.as_ref().unwrap().iso_code.as_deref(),
        Some("AC04")
    );
    assert!(names(&env.cfg.inbox_dir).is_empty());
    assert_eq!(
        names(&env.cfg.archive_dir),
        [files[0].0.clone(), format!("{}.ok", files[0].0)]
    );
    assert_eq!(
        batches(env.store()).unwrap()[0].1,
        Some(BatchState::Acknowledged)
    );
    assert!(Inbox::scan_once(env.store(), &env.cfg).unwrap().is_idle());

    let st = status(env.store()).unwrap();
    assert_eq!(st.totals[&PaymentStatus::Paid].count, 2);
    assert_eq!(st.totals[&PaymentStatus::Failed].count, 1);
    assert_eq!(st.receipt_files_applied, 1);
}

#[test]
fn the_same_file_twice_is_a_no_op() {
    let env = Env::new();
    let r = Outbox::drop_batch(env.store(), &env.cfg, &batch("B-2", 2)).unwrap();
    let files = answer(&r, &plan(&[]));
    put_inbox(&env.cfg, &files[0].0, &files[0].1);
    Inbox::scan_once(env.store(), &env.cfg).unwrap();
    let before = payment_states(env.store()).unwrap();

    put_inbox(&env.cfg, &files[0].0, &files[0].1);
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.files_duplicate, [files[0].0.clone()]);
    assert!(rep.files_applied.is_empty() && rep.receipts_applied.is_empty());
    assert_eq!(payment_states(env.store()).unwrap(), before);
    assert_eq!(env.records(KIND_RECEIPT_FILE).len(), 1);
    assert!(names(&env.cfg.inbox_dir).is_empty());
}

#[test]
fn different_content_under_a_used_name_is_an_alert_and_applies_nothing() {
    let env = Env::new();
    let r = Outbox::drop_batch(env.store(), &env.cfg, &batch("B-3", 2)).unwrap();
    let good = answer(&r, &plan(&[]));
    put_inbox(&env.cfg, &good[0].0, &good[0].1);
    Inbox::scan_once(env.store(), &env.cfg).unwrap();

    // Same name, other content: a "returned" generation would be a forward move, so only
    // the name rule keeps it out.
    let mut returns = OutcomePlan::all_paid(1);
    returns.overrides.insert(
        "B-3-P1".into(),
        Outcome::PaidThenReturned(FailReason::NameMismatch),
    );
    let other = answer(&r, &returns);
    let bytes = other
        .iter()
        .find(|(n, _)| n.ends_with("camt054_2.xml"))
        .unwrap()
        .1
        .clone();
    assert!(bytes != good[0].1);
    put_inbox(&env.cfg, &good[0].0, &bytes);
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.alerts.len(), 1, "{rep:?}");
    assert!(rep.receipts_applied.is_empty());
    assert!(rep.alerts[0].moved_to.starts_with(&env.cfg.rejected_dir));
    assert!(rep.alerts[0].moved_to.exists());
    assert_eq!(status_of(&env, "B-3-P1"), PaymentStatus::Paid);
    assert!(names(&env.cfg.inbox_dir).is_empty());
    let dest = rep.alerts[0]
        .moved_to
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(
        names(&env.cfg.rejected_dir),
        [
            dest.to_owned(),
            format!("{dest}.ok"),
            format!("{dest}.reason")
        ]
    );
    assert_eq!(status(env.store()).unwrap().alerts, 1);
}

#[test]
fn a_truncated_file_is_rejected_and_nothing_is_applied() {
    let env = Env::new();
    let r = Outbox::drop_batch(env.store(), &env.cfg, &batch("B-4", 3)).unwrap();
    let files = answer(&r, &plan(&[]));
    let (name, bytes) = &files[0];
    put_inbox(&env.cfg, name, &bytes[..bytes.len() * 2 / 3]);
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.files_rejected.len(), 1, "{rep:?}");
    assert_eq!(rep.files_rejected[0].rule, "filedrop.receipt_decodes");
    assert!(rep.receipts_applied.is_empty());
    assert!(
        payment_states(env.store())
            .unwrap()
            .iter()
            .all(|(_, s)| s.status == PaymentStatus::Sent)
    );
    let recs = inbox_files(env.store()).unwrap();
    assert!(matches!(recs[0].1.outcome, InboxOutcome::Rejected { .. }));
    assert!(env.records(KIND_RECEIPT_FILE).is_empty());
    assert!(names(&env.cfg.inbox_dir).is_empty());

    // The bank re-delivers the complete file under the same name: it is applied.
    put_inbox(&env.cfg, name, bytes);
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.receipts_applied.len(), 3, "{rep:?}");
}

#[test]
fn a_trigger_announcing_other_totals_rejects_the_file() {
    let env = Env::new();
    let r = Outbox::drop_batch(env.store(), &env.cfg, &batch("B-4T", 2)).unwrap();
    let files = answer(&r, &plan(&[]));
    let (name, bytes) = &files[0];
    std::fs::create_dir_all(&env.cfg.inbox_dir).unwrap();
    std::fs::write(env.cfg.inbox_dir.join(name), bytes).unwrap();
    let t = medsettle_bank::TriggerFile::for_file(
        name,
        bytes,
        5,
        medsettle_canonical::Money::from_fen(1),
    );
    std::fs::write(
        env.cfg.inbox_dir.join(format!("{name}.ok")),
        medsettle_bank::trigger::render(&t).unwrap(),
    )
    .unwrap();
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.files_rejected[0].rule, "filedrop.trigger_matches");
    assert!(rep.receipts_applied.is_empty());
}

#[test]
fn a_file_without_its_trigger_waits() {
    let env = Env::new();
    let r = Outbox::drop_batch(env.store(), &env.cfg, &batch("B-4W", 2)).unwrap();
    let files = answer(&r, &plan(&[]));
    std::fs::create_dir_all(&env.cfg.inbox_dir).unwrap();
    std::fs::write(env.cfg.inbox_dir.join(&files[0].0), &files[0].1).unwrap();
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.files_waiting, [files[0].0.clone()]);
    assert!(rep.receipts_applied.is_empty());
    assert_eq!(status_of(&env, "B-4W-P1"), PaymentStatus::Sent);
}

#[test]
fn a_backward_status_is_reported_not_applied() {
    let env = Env::new();
    let r = Outbox::drop_batch(env.store(), &env.cfg, &batch("B-5", 2)).unwrap();
    let paid = answer(&r, &plan(&[]));
    put_inbox(&env.cfg, &paid[0].0, &paid[0].1);
    Inbox::scan_once(env.store(), &env.cfg).unwrap();

    // A later file (another name) says pending for a payment already paid.
    let pending = answer(&r, &plan(&[("B-5-P1", Outcome::Pending)]));
    put_inbox(&env.cfg, "B-5_late_status.xml", &pending[0].1);
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.files_applied.len(), 1);
    assert!(rep.receipts_applied.is_empty(), "{rep:?}");
    let reasons: BTreeMap<String, IgnoreReason> = rep
        .receipts_ignored
        .iter()
        .map(|i| (i.receipt.payment_id.clone(), i.reason))
        .collect();
    assert_eq!(reasons["B-5-P1"], IgnoreReason::Backward);
    assert_eq!(reasons["B-5-P2"], IgnoreReason::Repeated);
    assert!(rep.pending_queries.is_empty());
    assert_eq!(status_of(&env, "B-5-P1"), PaymentStatus::Paid);
}

#[test]
fn pending_asks_for_a_status_query_and_later_moves_forward() {
    let env = Env::new();
    let r = Outbox::drop_batch(env.store(), &env.cfg, &batch("B-6", 2)).unwrap();
    let files = answer(&r, &plan(&[("B-6-P2", Outcome::PendingThenPaid)]));
    // Generation 1 first: P2 pending.
    let gen1 = files.iter().find(|(n, _)| n.ends_with("_1.xml")).unwrap();
    put_inbox(&env.cfg, &gen1.0, &gen1.1);
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.pending_queries, ["B-6-P2"]);
    assert_eq!(status_of(&env, "B-6-P2"), PaymentStatus::Pending);
    let gen2 = files.iter().find(|(n, _)| n.ends_with("_2.xml")).unwrap();
    put_inbox(&env.cfg, &gen2.0, &gen2.1);
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.receipts_applied.len(), 1);
    assert_eq!(rep.receipts_applied[0].status, ReceiptStatus::Paid);
    assert_eq!(status_of(&env, "B-6-P2"), PaymentStatus::Paid);
}

#[test]
fn a_crash_between_apply_and_archive_never_applies_twice() {
    let mut env = Env::new();
    let r = Outbox::drop_batch(env.store(), &env.cfg, &batch("B-7", 3)).unwrap();
    let files = answer(&r, &plan(&[]));
    put_inbox(&env.cfg, &files[0].0, &files[0].1);
    let err = Inbox::scan_once_with_hook(env.store(), &env.cfg, &|s| {
        if s == Step::ReceiptsApplied {
            Err(FileDropError::Stopped { step: s })
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert!(matches!(err, FileDropError::Stopped { .. }));
    assert_eq!(names(&env.cfg.inbox_dir).len(), 2, "still in the inbox");
    assert_eq!(status_of(&env, "B-7-P1"), PaymentStatus::Paid);

    env.reopen();
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.files_duplicate, [files[0].0.clone()]);
    assert!(rep.receipts_applied.is_empty());
    assert_eq!(env.records(KIND_RECEIPT_FILE).len(), 1);
    assert!(names(&env.cfg.inbox_dir).is_empty());
    assert_eq!(names(&env.cfg.archive_dir).len(), 2);
}

#[test]
fn an_orphan_trigger_left_by_a_crash_mid_archive_is_tidied() {
    let env = Env::new();
    let r = Outbox::drop_batch(env.store(), &env.cfg, &batch("B-7O", 1)).unwrap();
    let files = answer(&r, &plan(&[]));
    put_inbox(&env.cfg, &files[0].0, &files[0].1);
    Inbox::scan_once(env.store(), &env.cfg).unwrap();
    // Simulate: the data file was archived, the crash came before its trigger moved.
    std::fs::rename(
        env.cfg.archive_dir.join(format!("{}.ok", files[0].0)),
        env.cfg.inbox_dir.join(format!("{}.ok", files[0].0)),
    )
    .unwrap();
    Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert!(names(&env.cfg.inbox_dir).is_empty());
    assert_eq!(names(&env.cfg.archive_dir).len(), 2);
}

#[test]
fn receipts_for_a_batch_not_yet_dropped_wait_for_recovery() {
    let mut env = Env::new();
    let b = batch("B-8", 2);
    let _ = Outbox::drop_batch_with_hook(env.store(), &env.cfg, &b, &|s| {
        if s == Step::TriggerWritten {
            Err(FileDropError::Stopped { step: s })
        } else {
            Ok(())
        }
    });
    // The bank saw the complete file and answered before the gateway journaled `dropped`.
    let sim = simulate_pass(&env.cfg, &plan(&[])).unwrap();
    assert_eq!(sim.files_answered, ["B-8.xml"]);
    env.reopen();
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.files_deferred.len(), 1, "{rep:?}");
    assert!(env.store().get(SPACE_PAYMENT, b"B-8-P1").unwrap().is_none());
    Outbox::recover(env.store(), &env.cfg).unwrap();
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.receipts_applied.len(), 2, "{rep:?}");
}

#[test]
fn a_receipt_for_a_batch_never_sent_is_rejected() {
    let env = Env::new();
    let other = Env::new();
    let r = Outbox::drop_batch(other.store(), &other.cfg, &batch("B-9", 1)).unwrap();
    let files = answer(&r, &plan(&[]));
    put_inbox(&env.cfg, &files[0].0, &files[0].1);
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.files_rejected[0].rule, "filedrop.known_batch");
}

#[test]
fn the_simulated_bank_covers_returns_duplicates_and_truncation_end_to_end() {
    let env = Env::new();
    for id in ["B-10", "B-11"] {
        Outbox::drop_batch(env.store(), &env.cfg, &batch(id, 4)).unwrap();
    }
    let mut p = OutcomePlan::all_paid(9);
    p.overrides.insert(
        "B-10-P1".into(),
        Outcome::PaidThenReturned(FailReason::ClosedAccount),
    );
    p.overrides
        .insert("B-11-P3".into(), Outcome::Failed(FailReason::NameMismatch));
    p.overrides
        .insert("B-11-P4".into(), Outcome::PendingThenPaid);
    p.duplicate_receipt = true;
    p.truncated_copy = true;
    let mut dups = 0;
    let mut rejected = 0;
    for _ in 0..4 {
        simulate_pass(&env.cfg, &p).unwrap();
        let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
        dups += rep.files_duplicate.len();
        rejected += rep.files_rejected.len();
    }
    assert_eq!(dups, 2, "each batch's first receipt file delivered twice");
    assert_eq!(rejected, 2, "each batch's truncated copy");
    assert_eq!(status_of(&env, "B-10-P1"), PaymentStatus::Returned);
    assert_eq!(status_of(&env, "B-11-P3"), PaymentStatus::Failed);
    assert_eq!(status_of(&env, "B-11-P4"), PaymentStatus::Paid);
    assert_eq!(status_of(&env, "B-10-P2"), PaymentStatus::Paid);
    assert!(names(&env.cfg.inbox_dir).is_empty());
}

#[test]
fn a_rejected_file_is_moved_intact_with_its_reason_beside_it() {
    let env = Env::new();
    let r = Outbox::drop_batch(env.store(), &env.cfg, &batch("B-12", 3)).unwrap();
    let files = answer(&r, &plan(&[]));
    let (name, bytes) = &files[0];
    let truncated = &bytes[..bytes.len() / 2];
    put_inbox(&env.cfg, name, truncated);
    let trig = std::fs::read(env.cfg.inbox_dir.join(format!("{name}.ok"))).unwrap();
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    let rej = &rep.files_rejected[0];
    assert_eq!(std::fs::read(&rej.moved_to).unwrap(), truncated);
    let dest = rej
        .moved_to
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        std::fs::read(env.cfg.rejected_dir.join(format!("{dest}.ok"))).unwrap(),
        trig
    );
    let reason =
        std::fs::read_to_string(env.cfg.rejected_dir.join(format!("{dest}.reason"))).unwrap();
    assert!(reason.contains(&format!("file_name: {name}\n")), "{reason}");
    assert!(
        reason.contains(&format!("sha256: {}\n", rej.sha256)),
        "{reason}"
    );
    assert!(
        reason.contains("rule: filedrop.receipt_decodes\n"),
        "{reason}"
    );
    assert!(
        reason.contains(&format!("error: {}", rej.error)),
        "{reason}"
    );

    // The same broken file delivered again: recognised, filed beside the first, whose
    // reason is kept; nothing written over anything.
    put_inbox(&env.cfg, name, truncated);
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.files_duplicate, std::slice::from_ref(name));
    assert_eq!(
        names(&env.cfg.rejected_dir),
        [dest.clone(), format!("{dest}.ok"), format!("{dest}.reason")]
    );
    assert_eq!(std::fs::read(&rej.moved_to).unwrap(), truncated);
    assert!(names(&env.cfg.inbox_dir).is_empty());
}

/// Issue 15 item 6: pairs whose trigger announces other bytes (more of them than a scan
/// handles) sorted before a genuine receipt do not use up the scan's `files_per_scan_max`:
/// the genuine receipt is applied in the first scan, and every bad pair stays where it was,
/// byte for byte (it may be a re-delivery in progress).
#[test]
fn mismatching_triggers_do_not_starve_a_genuine_receipt() {
    let env = Env::new();
    let cap = env.cfg.files_per_scan_max;
    let r = Outbox::drop_batch(env.store(), &env.cfg, &batch("B-13", 2)).unwrap();
    let files = answer(&r, &plan(&[]));
    let (genuine, genuine_bytes) = &files[0];
    std::fs::create_dir_all(&env.cfg.inbox_dir).unwrap();
    let mut bad = Vec::new();
    for i in 0..cap + 10 {
        let name = format!("A-mismatch-{i:05}.xml");
        assert!(name < *genuine, "the bad pairs sort first");
        let data = format!("<data {i:05}/>").into_bytes();
        // Three kinds: another size, the same size with another hash, another name.
        let announced: Vec<u8> = match i % 3 {
            0 => b"<something else entirely/>".to_vec(),
            1 => format!("<DATA {i:05}/>").into_bytes(),
            _ => data.clone(),
        };
        let announced_name = if i % 3 == 2 {
            format!("Z-other-{i:05}.xml")
        } else {
            name.clone()
        };
        let t = medsettle_bank::TriggerFile::for_file(
            &announced_name,
            &announced,
            1,
            medsettle_canonical::Money::from_fen(100),
        );
        let trig = medsettle_bank::trigger::render(&t).unwrap();
        std::fs::write(env.cfg.inbox_dir.join(&name), &data).unwrap();
        std::fs::write(env.cfg.inbox_dir.join(format!("{name}.ok")), &trig).unwrap();
        bad.push((name, data, trig));
    }
    put_inbox(&env.cfg, genuine, genuine_bytes);

    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.files_applied, std::slice::from_ref(genuine));
    assert_eq!(rep.receipts_applied.len(), 2);
    assert_eq!(status_of(&env, "B-13-P1"), PaymentStatus::Paid);
    assert_eq!(rep.files_trigger_mismatch.len(), cap + 10);
    assert_eq!(rep.files_waiting.len(), cap + 10);
    assert!(rep.files_rejected.is_empty() && rep.alerts.is_empty());

    // Every bad pair is still in the inbox, untouched, and stays so scan after scan.
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert!(rep.is_idle(), "{:?}", rep.files_rejected);
    assert_eq!(rep.files_trigger_mismatch.len(), cap + 10);
    for (name, data, trig) in &bad {
        assert_eq!(&std::fs::read(env.cfg.inbox_dir.join(name)).unwrap(), data);
        assert_eq!(
            &std::fs::read(env.cfg.inbox_dir.join(format!("{name}.ok"))).unwrap(),
            trig
        );
    }
    assert_eq!(names(&env.cfg.inbox_dir).len(), 2 * (cap + 10));
    assert!(names(&env.cfg.rejected_dir).is_empty());

    // The bank finishes a re-delivery: the matching trigger arrives and the file is read.
    let (name, data, _) = &bad[0];
    put_inbox(&env.cfg, name, data);
    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(
        rep.files_rejected.len(),
        1,
        "not a receipt: rejected, not waiting"
    );
    assert_eq!(rep.files_trigger_mismatch.len(), cap + 9);
}

/// The console's light reads (`payment_outcomes`, `batch_sketches`) say what the full states
/// and batch records say, before and after the bank's answer.
#[test]
fn outcomes_and_sketches_agree_with_the_full_records() {
    use medsettle_filedrop::state::{batch_sketches, payment_outcomes};
    let env = Env::new();
    let check = |env: &Env| {
        let full: BTreeMap<String, _> = payment_states(env.store())
            .unwrap()
            .into_iter()
            .map(|(k, s)| (s.receipt.as_ref().map_or(k, |r| r.payment_id.clone()), s))
            .collect();
        let light = payment_outcomes(env.store()).unwrap();
        assert_eq!(light.len(), full.len());
        for (id, o) in &light {
            let s = &full[id];
            assert_eq!(o.status, s.status, "{id}");
            assert_eq!(
                o.receipt.as_ref().and_then(|r| r.value_date),
                s.receipt.as_ref().and_then(|r| r.value_date),
                "{id}"
            );
        }
        let sketches = batch_sketches(env.store()).unwrap();
        let records = batches(env.store()).unwrap();
        assert_eq!(sketches.len(), records.len());
        for ((sketch, st), (record, state)) in sketches.iter().zip(&records) {
            assert_eq!((&sketch.batch_id, st), (&record.batch.batch_id, state));
            assert_eq!(sketch.pay_date, record.batch.pay_date);
            let ids = |ps: &mut dyn Iterator<Item = (String, String, i64, Vec<time::Date>)>| {
                ps.collect::<Vec<_>>()
            };
            assert_eq!(
                ids(&mut sketch.payments.iter().map(|p| (
                    p.payment_id.clone(),
                    p.payee_code.clone(),
                    p.amount.fen(),
                    p.settlement_dates.clone()
                ))),
                ids(&mut record.batch.payments.iter().map(|p| (
                    p.payment_id.clone(),
                    p.payee_code.clone(),
                    p.amount.fen(),
                    p.settlement_dates.clone()
                )))
            );
        }
    };
    let r = Outbox::drop_batch(env.store(), &env.cfg, &batch("B-7", 3)).unwrap();
    check(&env);
    let plan = plan(&[("B-7-P2", Outcome::Failed(FailReason::ClosedAccount))]);
    for (name, bytes) in answer(&r, &plan) {
        put_inbox(&env.cfg, &name, &bytes);
    }
    Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(status_of(&env, "B-7-P2"), PaymentStatus::Failed);
    check(&env);
    let outcomes = payment_outcomes(env.store()).unwrap();
    assert!(
        outcomes
            .iter()
            .any(|(_, o)| o.receipt.as_ref().is_some_and(|r| r.value_date.is_some()))
    );
}
