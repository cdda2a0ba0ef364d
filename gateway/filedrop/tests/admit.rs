//! `admit_to_inbox`: an operator-named receipt file reaches the inbox intact, and a file
//! already there is left alone (copying a file onto itself truncates it).

mod common;

use std::path::Path;

use common::{Env, batch, names, put_inbox};
use medsettle_bank::{OutcomePlan, PaymentFileFormat, simulator};
use medsettle_filedrop::{Admitted, FileDropError, Inbox, Outbox, admit_to_inbox};
use sha2::{Digest, Sha256};

fn sha(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// A dropped batch `id` (2 payments) and the bank's pain.002 answering it.
fn receipt(env: &Env, id: &str) -> (String, Vec<u8>) {
    let r = Outbox::drop_batch(env.store(), &env.cfg, &batch(id, 2)).unwrap();
    let mut plan = OutcomePlan::all_paid(1);
    plan.receipts.camt054 = false;
    let bytes = std::fs::read(&r.file_path).unwrap();
    simulator::simulate(&bytes, &PaymentFileFormat::Pain001, &plan)
        .unwrap()
        .remove(0)
}

#[test]
fn a_file_already_in_the_inbox_is_left_intact_and_then_applied_intact() {
    let env = Env::new();
    let (name, bytes) = receipt(&env, "B-AD1");
    put_inbox(&env.cfg, &name, &bytes);
    let data = env.cfg.inbox_dir.join(&name);
    let trig = env.cfg.inbox_dir.join(format!("{name}.ok"));
    let (data_sha, trig_bytes) = (sha(&data), std::fs::read(&trig).unwrap());

    let got = admit_to_inbox(&env.cfg, &data).unwrap();
    assert_eq!(
        got,
        Admitted::AlreadyInInbox {
            path: data.clone(),
            trigger: Some(trig.clone())
        }
    );
    // The same file spelled another way is still the same file.
    let detour = env.cfg.inbox_dir.join("..").join("inbox").join(&name);
    assert!(matches!(
        admit_to_inbox(&env.cfg, &detour).unwrap(),
        Admitted::AlreadyInInbox { .. }
    ));
    assert_eq!(std::fs::read(&data).unwrap(), bytes);
    assert_eq!(std::fs::read(&trig).unwrap(), trig_bytes);
    assert_eq!(
        names(&env.cfg.inbox_dir),
        [name.clone(), format!("{name}.ok")]
    );

    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.files_applied, std::slice::from_ref(&name));
    assert_eq!(rep.receipts_applied.len(), 2);
    let archived = env.cfg.archive_dir.join(&name);
    assert_eq!(sha(&archived), data_sha);
    assert_eq!(
        std::fs::read(env.cfg.archive_dir.join(format!("{name}.ok"))).unwrap(),
        trig_bytes
    );
}

#[test]
fn a_file_elsewhere_is_copied_in_data_then_trigger_and_its_source_is_untouched() {
    let env = Env::new();
    let (name, bytes) = receipt(&env, "B-AD2");
    // The bank's pair, put somewhere else by an operator.
    let elsewhere = env.dir.path().join("downloads");
    let mut stage = env.cfg.clone();
    stage.inbox_dir = elsewhere.clone();
    put_inbox(&stage, &name, &bytes);
    let src = elsewhere.join(&name);
    let src_trig = elsewhere.join(format!("{name}.ok"));
    let trig_bytes = std::fs::read(&src_trig).unwrap();

    let got = admit_to_inbox(&env.cfg, &src).unwrap();
    let data = env.cfg.inbox_dir.join(&name);
    let trig = env.cfg.inbox_dir.join(format!("{name}.ok"));
    assert_eq!(
        got,
        Admitted::Placed {
            path: data.clone(),
            copied: true,
            trigger: Some(trig.clone())
        }
    );
    assert_eq!(std::fs::read(&data).unwrap(), bytes);
    assert_eq!(std::fs::read(&trig).unwrap(), trig_bytes);
    // Admitting again finds the same bytes: nothing written, no temp left behind.
    let again = admit_to_inbox(&env.cfg, &src).unwrap();
    assert!(matches!(again, Admitted::Placed { copied: false, .. }));
    assert_eq!(
        names(&env.cfg.inbox_dir),
        [name.clone(), format!("{name}.ok")]
    );
    assert_eq!(std::fs::read(&src).unwrap(), bytes);
    assert_eq!(std::fs::read(&src_trig).unwrap(), trig_bytes);

    let rep = Inbox::scan_once(env.store(), &env.cfg).unwrap();
    assert_eq!(rep.files_applied, std::slice::from_ref(&name));
    assert_eq!(
        std::fs::read(env.cfg.archive_dir.join(&name)).unwrap(),
        bytes
    );
    assert_eq!(names(&elsewhere), [name.clone(), format!("{name}.ok")]);
}

#[test]
fn another_file_under_the_name_in_the_inbox_is_never_overwritten() {
    let env = Env::new();
    let (name, bytes) = receipt(&env, "B-AD3");
    put_inbox(&env.cfg, &name, b"the bank's own, different file");
    let in_inbox = std::fs::read(env.cfg.inbox_dir.join(&name)).unwrap();
    let elsewhere = env.dir.path().join("downloads");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let src = elsewhere.join(&name);
    std::fs::write(&src, &bytes).unwrap();

    let err = admit_to_inbox(&env.cfg, &src).unwrap_err();
    assert!(matches!(err, FileDropError::NameTaken { .. }), "{err}");
    assert_eq!(
        std::fs::read(env.cfg.inbox_dir.join(&name)).unwrap(),
        in_inbox
    );
    assert_eq!(std::fs::read(&src).unwrap(), bytes);
    assert_eq!(
        names(&env.cfg.inbox_dir),
        [name.clone(), format!("{name}.ok")]
    );
}

#[test]
fn a_trigger_an_in_flight_name_or_a_missing_file_is_refused() {
    let env = Env::new();
    let dir = env.dir.path().join("downloads");
    std::fs::create_dir_all(&dir).unwrap();
    for n in ["X.xml.ok", ".X.xml", "X.xml.tmp"] {
        std::fs::write(dir.join(n), b"x").unwrap();
        assert!(
            matches!(
                admit_to_inbox(&env.cfg, &dir.join(n)),
                Err(FileDropError::AdmitRefused { .. })
            ),
            "{n}"
        );
    }
    assert!(matches!(
        admit_to_inbox(&env.cfg, &dir.join("absent.xml")),
        Err(FileDropError::Io { .. })
    ));
    assert!(matches!(
        admit_to_inbox(&env.cfg, &dir),
        Err(FileDropError::AdmitRefused { .. })
    ));
    assert!(names(&env.cfg.inbox_dir).is_empty());
}
