//! Outbox: one file per batch, byte-identical on every run, whatever step a crash hits.

mod common;

use common::{Env, batch, names, xsd_validate};
use medsettle_bank::trigger;
use medsettle_filedrop::state::{KIND_BATCH_DROPPED, KIND_BATCH_RENDERED, batches, payment_states};
use medsettle_filedrop::{BatchState, FileDropError, FormatConfig, Outbox, PaymentStatus, Step};

#[test]
fn same_batch_twice_gives_one_file_with_the_same_bytes() {
    let env = Env::new();
    let b = batch("B-0001", 3);
    let first = Outbox::drop_batch(env.store(), &env.cfg, &b).unwrap();
    let bytes1 = std::fs::read(&first.file_path).unwrap();
    let second = Outbox::drop_batch(env.store(), &env.cfg, &b).unwrap();
    assert!(!first.already_dropped && second.already_dropped);
    assert_eq!(first.sha256, second.sha256);
    assert_eq!(std::fs::read(&second.file_path).unwrap(), bytes1);
    assert_eq!(names(&env.cfg.outbox_dir), ["B-0001.xml", "B-0001.xml.ok"]);
    assert_eq!(first.count, 3);
    assert_eq!(first.control_sum, b.control_sum());

    // The trigger announces exactly this file.
    let t = trigger::parse(&std::fs::read(&first.trigger_path).unwrap()).unwrap();
    assert!(t.matches(&bytes1));
    assert_eq!((t.count, t.control_sum), (3, b.control_sum()));

    assert_eq!(env.records(KIND_BATCH_RENDERED).len(), 1);
    assert_eq!(env.records(KIND_BATCH_DROPPED).len(), 1);
    let states = payment_states(env.store()).unwrap();
    assert_eq!(states.len(), 3);
    assert!(states.iter().all(|(_, s)| s.status == PaymentStatus::Sent));
}

const STEPS: [Step; 6] = [
    Step::RenderedJournaled,
    Step::DataTmpWritten,
    Step::DataRenamed,
    Step::TriggerTmpWritten,
    Step::TriggerWritten,
    Step::DroppedJournaled,
];

#[test]
fn a_crash_after_any_step_then_a_rerun_gives_the_identical_single_file() {
    let reference = Env::new();
    let b = batch("B-0002", 4);
    let want = Outbox::drop_batch(reference.store(), &reference.cfg, &b).unwrap();
    let want_bytes = std::fs::read(&want.file_path).unwrap();
    let want_trigger = std::fs::read(&want.trigger_path).unwrap();

    for step in STEPS {
        let mut env = Env::new();
        let err = Outbox::drop_batch_with_hook(env.store(), &env.cfg, &b, &|s| {
            if s == step {
                Err(FileDropError::Stopped { step: s })
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert!(
            matches!(err, FileDropError::Stopped { .. }),
            "{step:?}: {err}"
        );
        let left = names(&env.cfg.outbox_dir);
        // The crash really came where we think: a temp file exists only at the temp steps.
        let tmp_left = left.iter().any(|n| n.ends_with(".tmp"));
        assert_eq!(
            tmp_left,
            matches!(step, Step::DataTmpWritten | Step::TriggerTmpWritten),
            "{step:?}: {left:?}"
        );

        env.reopen();
        let r = Outbox::drop_batch(env.store(), &env.cfg, &b).unwrap();
        assert_eq!(
            r.already_dropped,
            step == Step::DroppedJournaled,
            "{step:?}"
        );
        assert_eq!(
            names(&env.cfg.outbox_dir),
            ["B-0002.xml", "B-0002.xml.ok"],
            "{step:?}"
        );
        assert_eq!(std::fs::read(&r.file_path).unwrap(), want_bytes, "{step:?}");
        assert_eq!(
            std::fs::read(&r.trigger_path).unwrap(),
            want_trigger,
            "{step:?}"
        );
        let all = batches(env.store()).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].1, Some(BatchState::Dropped), "{step:?}");
        assert_eq!(env.records(KIND_BATCH_RENDERED).len(), 1, "{step:?}");
        assert_eq!(env.records(KIND_BATCH_DROPPED).len(), 1, "{step:?}");
    }
}

#[test]
fn recover_finishes_a_batch_left_rendered() {
    let mut env = Env::new();
    let b = batch("B-0003", 2);
    let _ = Outbox::drop_batch_with_hook(env.store(), &env.cfg, &b, &|s| {
        if s == Step::DataRenamed {
            Err(FileDropError::Stopped { step: s })
        } else {
            Ok(())
        }
    });
    env.reopen();
    let done = Outbox::recover(env.store(), &env.cfg).unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].state, BatchState::Dropped);
    assert_eq!(names(&env.cfg.outbox_dir), ["B-0003.xml", "B-0003.xml.ok"]);
    assert!(Outbox::recover(env.store(), &env.cfg).unwrap().is_empty());
}

#[test]
fn a_different_existing_file_is_an_error_and_is_not_overwritten() {
    let env = Env::new();
    let b = batch("B-0004", 2);
    // Journal the batch, then find someone else's file under its name.
    let _ = Outbox::drop_batch_with_hook(env.store(), &env.cfg, &b, &|s| {
        if s == Step::RenderedJournaled {
            Err(FileDropError::Stopped { step: s })
        } else {
            Ok(())
        }
    });
    let path = env.cfg.outbox_dir.join("B-0004.xml");
    std::fs::create_dir_all(&env.cfg.outbox_dir).unwrap();
    std::fs::write(&path, b"<tampered/>").unwrap();
    let err = Outbox::drop_batch(env.store(), &env.cfg, &b).unwrap_err();
    assert!(
        matches!(err, FileDropError::ExistingFileDiffers { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("filedrop.never_overwrite"));
    assert_eq!(std::fs::read(&path).unwrap(), b"<tampered/>");
    assert_eq!(names(&env.cfg.outbox_dir), ["B-0004.xml"]);
    assert!(env.records(KIND_BATCH_DROPPED).is_empty());
}

#[test]
fn a_batch_id_is_bound_to_one_content_and_a_payment_to_one_batch() {
    let env = Env::new();
    let b = batch("B-0005", 2);
    Outbox::drop_batch(env.store(), &env.cfg, &b).unwrap();
    let mut changed = b.clone();
    changed.payments[0].amount = medsettle_canonical::Money::from_fen(1);
    let err = Outbox::drop_batch(env.store(), &env.cfg, &changed).unwrap_err();
    assert!(matches!(err, FileDropError::BatchConflict { .. }), "{err}");

    let mut other = batch("B-0006", 1);
    other.payments[0].payment_id = "B-0005-P2".into();
    let err = Outbox::drop_batch(env.store(), &env.cfg, &other).unwrap_err();
    match err {
        FileDropError::PaymentConflict {
            payment_id,
            other_batch_id,
            ..
        } => assert_eq!(
            (payment_id.as_str(), other_batch_id.as_str()),
            ("B-0005-P2", "B-0005")
        ),
        e => panic!("{e}"),
    }
    assert_eq!(names(&env.cfg.outbox_dir), ["B-0005.xml", "B-0005.xml.ok"]);
}

#[test]
fn every_dropped_pain001_validates_against_the_xsd() {
    let env = Env::new();
    let mut files = Vec::new();
    for (i, n) in [1usize, 3, 7].into_iter().enumerate() {
        let r = Outbox::drop_batch(env.store(), &env.cfg, &batch(&format!("B-X{i}"), n)).unwrap();
        files.push(r.file_path);
    }
    xsd_validate(&files);
}

#[test]
fn delimited_files_take_the_profile_name_with_a_free_sequence_number() {
    let mut env = Env::new();
    env.cfg.format = FormatConfig::Delimited { profile: None };
    let a = Outbox::drop_batch(env.store(), &env.cfg, &batch("B-D1", 2)).unwrap();
    let b = Outbox::drop_batch(env.store(), &env.cfg, &batch("B-D2", 2)).unwrap();
    let again = Outbox::drop_batch(env.store(), &env.cfg, &batch("B-D1", 2)).unwrap();
    let name = |p: &std::path::Path| p.file_name().unwrap().to_str().unwrap().to_owned();
    assert_eq!(name(&a.file_path), "YBBF_440300_20250103_0001.txt");
    assert_eq!(name(&b.file_path), "YBBF_440300_20250103_0002.txt");
    assert_eq!(again.file_path, a.file_path);
    assert_eq!(names(&env.cfg.outbox_dir).len(), 4);
}
