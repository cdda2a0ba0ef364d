//! Operator actions are idempotent by operation id and journaled: the same id again is
//! answered with the first result and does nothing more, also after the process is gone; the
//! same id for another action is refused; a refused action journals nothing. A real sled
//! journal in a temporary directory, the sample configuration `init` writes.

use medsettle_ops::actions::KIND_OPERATOR_ACTION;
use medsettle_ops::{Action, ActionError};
use medsettle_store::Store;

fn actions_journaled(ops: &medsettle_ops::Operations) -> u64 {
    ops.store()
        .stats()
        .unwrap()
        .per_kind
        .get(KIND_OPERATOR_ACTION)
        .copied()
        .unwrap_or(0)
}

#[test]
fn an_operation_id_does_its_action_once_and_durably() {
    let dir = tempfile::tempdir().unwrap();
    let path = medsettle_ops::init::run(dir.path(), "127.0.0.1:0", false).unwrap();
    let config = medsettle_ops::config::load(&path).unwrap();

    let ops = open_local(&config);
    let catch_up = Action::SettleCatchUp;
    let first = ops.perform("op-1", &catch_up, "tester").unwrap();
    assert!(!first.replayed);
    assert!(first.outcome.stdout.starts_with("read "), "{first:?}");
    let again = ops.perform("op-1", &catch_up, "tester").unwrap();
    assert!(again.replayed, "the stored answer, not a second run");
    assert_eq!(again.outcome, first.outcome);
    assert_eq!(actions_journaled(&ops), 1);

    // The same id for something else is the operator's mistake, and changes nothing.
    let other = Action::SettleDaily {
        date: "2026-11-23".into(),
    };
    match ops.perform("op-1", &other, "tester") {
        Err(ActionError::Conflict(m)) => assert!(m.contains("op-1"), "{m}"),
        x => panic!("expected a conflict, got {x:?}"),
    }
    // A refused action journals nothing; ids are checked.
    let bad = Action::SettleDaily {
        date: "2026-02-30".into(),
    };
    match ops.perform("op-2", &bad, "tester") {
        Err(ActionError::BadInput(m)) => assert!(m.contains("--date"), "{m}"),
        x => panic!("expected bad input, got {x:?}"),
    }
    assert!(matches!(
        ops.perform("op 3", &catch_up, "tester"),
        Err(ActionError::BadInput(_))
    ));
    assert_eq!(actions_journaled(&ops), 1);
    drop(ops);

    // A new process on the same journal: the id is still taken, with its first answer.
    let ops = open_local(&config);
    let later = ops.perform("op-1", &catch_up, "someone else").unwrap();
    assert!(later.replayed);
    assert_eq!(later.outcome, first.outcome);
    assert_eq!(actions_journaled(&ops), 1);
}

/// The operations on the journal of `config`, created first as `serve` would (an operator
/// command never creates one).
fn open_local(config: &medsettle_ops::Config) -> medsettle_ops::Operations {
    drop(medsettle_ops::open::open_store(config).unwrap());
    medsettle_ops::open_local(config).unwrap()
}
