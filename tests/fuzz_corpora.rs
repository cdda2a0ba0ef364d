//! The fuzz corpora replayed as ordinary tests: every file of `tests/fuzz/corpus/<target>/`
//! (minimized by `tests/fuzz/run.sh`) goes through the same harness function as the cargo-fuzz
//! target of that name (`tests/fuzz/src/lib.rs`, compiled here as a module), without
//! libFuzzer; so does every reproducer of a finding (`tests/fuzz/artifacts/<target>/`), without
//! the harness's known-bug guard, so `fuzz_findings_are_fixed` fails until they are fixed. A
//! panic on any file fails the test and names the file.
//!
//! This is the short version of the fuzzing that CI runs (`cargo test`); the long runs and
//! their figures are in RELIABILITY.md, "Fuzzing".

use std::path::{Path, PathBuf};

#[path = "fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n == ".gitkeep" || n == "README.md")
        })
        .collect();
    out.sort();
    out
}

/// Run `inputs` through `f`, collecting the panics by file name.
fn panics(inputs: &[PathBuf], f: impl Fn(&[u8]) + std::panic::RefUnwindSafe) -> Vec<String> {
    let mut failed = Vec::new();
    for file in inputs {
        let data = std::fs::read(file).expect("read a corpus file");
        if let Err(e) = std::panic::catch_unwind(|| f(&data)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failed.push(format!("{}: {msg}", file.display()));
        }
    }
    failed
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz")
}

/// The saved corpus of `target`, through the harness (which skips the shapes of known,
/// reported bugs: `harness::KNOWN_BUGS`).
fn replay(target: &str) {
    let corpus = files(&fuzz_dir().join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "tests/fuzz/corpus/{target}/ is empty or missing: run tests/fuzz/run.sh"
    );
    let failed = panics(&corpus, |data| harness::run(target, data));
    assert!(
        failed.is_empty(),
        "{target}: {} of {} corpus inputs panic:\n{}",
        failed.len(),
        corpus.len(),
        failed.join("\n")
    );
}

/// Every reproducer of a finding (`tests/fuzz/artifacts/<target>/`), without the known-bug
/// guard: this test fails until every finding is fixed.
#[test]
fn fuzz_findings_are_fixed() {
    let mut failed = Vec::new();
    let mut n = 0;
    for target in harness::TARGETS {
        let inputs = files(&fuzz_dir().join("artifacts").join(target));
        n += inputs.len();
        failed.extend(panics(&inputs, |data| harness::run_unguarded(target, data)));
    }
    assert!(
        failed.is_empty(),
        "{} of {n} fuzz findings still panic (see RELIABILITY.md, Fuzzing, Findings):\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn every_target_has_a_test() {
    // Keep the tests below in step with the harness's list.
    assert_eq!(
        harness::TARGETS,
        [
            "nhsa",
            "upload_9101",
            "bank_receipts",
            "trigger",
            "config",
            "legacy",
            "settlement_csv",
            "money"
        ]
    );
}

#[test]
fn nhsa() {
    replay("nhsa");
}

#[test]
fn upload_9101() {
    replay("upload_9101");
}

#[test]
fn bank_receipts() {
    replay("bank_receipts");
}

#[test]
fn trigger() {
    replay("trigger");
}

#[test]
fn config() {
    replay("config");
}

#[test]
fn legacy() {
    replay("legacy");
}

#[test]
fn settlement_csv() {
    replay("settlement_csv");
}

#[test]
fn money() {
    replay("money");
}
