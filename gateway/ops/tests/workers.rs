//! The workers as units: each step is a plain function (the gateway only repeats it), with
//! its own metrics; configuration a worker cannot honour stops the start.

use std::sync::Arc;

use medsettle_ops::workers::{EngineWorker, InboxWatcher};
use medsettle_server::Metrics;

fn sample() -> (tempfile::TempDir, medsettle_ops::Config) {
    let dir = tempfile::tempdir().unwrap();
    let path = medsettle_ops::init::run(dir.path(), "127.0.0.1:0", false).unwrap();
    let config = medsettle_ops::config::load(&path).unwrap();
    (dir, config)
}

fn metric(metrics: &Metrics, name: &str) -> Option<String> {
    metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_owned))
}

#[test]
fn an_invalid_close_time_is_refused_at_load_naming_the_key() {
    let (dir, _) = sample();
    let path = dir.path().join("medsettle.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen(
        "[settlement]\n",
        "[settlement]\ndaily_close_at = \"25:00\"\n",
        1,
    );
    std::fs::write(&path, text).unwrap();
    let e = medsettle_ops::config::load(&path).expect_err("refused");
    assert!(medsettle_ops::is_bad_input(&e), "{e:#}");
    assert!(
        format!("{e:#}").contains("settlement.daily_close_at"),
        "{e:#}"
    );
}

#[test]
fn an_invalid_close_time_stops_the_start_instead_of_never_closing() {
    let (_dir, mut config) = sample();
    config.settlement.daily_close_at = Some("25:00".into());
    let ops = Arc::new(open_local(&config));
    let e = EngineWorker::new(ops, &Metrics::new(64))
        .err()
        .expect("refused");
    assert!(medsettle_ops::is_bad_input(&e), "{e:#}");
    assert!(format!("{e:#}").contains("daily_close_at"), "{e:#}");
}

#[test]
fn the_engine_step_catches_up_and_counts() {
    let (_dir, config) = sample();
    let ops = Arc::new(open_local(&config));
    let metrics = Metrics::new(64);
    let mut worker = EngineWorker::new(ops, &metrics).unwrap();
    worker.step().unwrap();
    assert_eq!(
        metric(&metrics, "medsettle_engine_claims_fed_total").as_deref(),
        Some("0")
    );
}

#[test]
fn the_inbox_step_reads_an_empty_inbox_and_keeps_files_it_cannot_judge() {
    let (dir, config) = sample();
    let ops = Arc::new(open_local(&config));
    let metrics = Metrics::new(64);
    let watcher = InboxWatcher::new(ops, 50, &metrics);
    let report = watcher.step().unwrap();
    assert!(report.is_idle());
    // A file without its trigger waits where it is, untouched.
    let inbox = dir.path().join("data/bank/inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("R1.xml"), b"<partial").unwrap();
    let report = watcher.step().unwrap();
    assert_eq!(report.files_waiting, vec!["R1.xml".to_owned()]);
    assert_eq!(std::fs::read(inbox.join("R1.xml")).unwrap(), b"<partial");
    assert_eq!(metric(&metrics, "medsettle_alerts").as_deref(), Some("0"));
    assert_eq!(
        metric(&metrics, "medsettle_receipt_files_applied_total").as_deref(),
        Some("0")
    );
}

/// The operations on the journal of `config`, created first as `serve` would (an operator
/// command never creates one).
fn open_local(config: &medsettle_ops::Config) -> medsettle_ops::Operations {
    drop(medsettle_ops::open::open_store(config).unwrap());
    medsettle_ops::open_local(config).unwrap()
}

/// Issue 15: every configuration value is checked at start, the key named.
#[test]
fn configuration_values_are_checked_at_load() {
    for (from, to, key) in [
        (
            "json_depth_max = 32\n",
            "json_depth_max = 0\n",
            "gateway.json_depth_max",
        ),
        (
            "format = \"pain001\"\n",
            "format = \"swift\"\n",
            "bank.format",
        ),
    ] {
        let (dir, _) = sample();
        let path = dir.path().join("medsettle.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from} in the sample configuration");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let e = medsettle_ops::config::load(&path).expect_err("refused");
        assert!(medsettle_ops::is_bad_input(&e), "{e:#}");
        assert!(format!("{e:#}").contains(key), "{key}: {e:#}");
    }
}

/// Issue 15: an operator command on a mistyped `data_dir` says so instead of creating an
/// empty journal and reporting nothing in it.
#[test]
fn an_operator_command_never_creates_a_journal() {
    let (dir, config) = sample();
    let e = medsettle_ops::read(&config, medsettle_ops::Query::JournalStats { json: false })
        .expect_err("no journal yet");
    assert!(medsettle_ops::is_bad_input(&e), "{e:#}");
    assert!(format!("{e:#}").contains("no journal at"), "{e:#}");
    assert!(!dir.path().join("data/journal").exists(), "nothing created");
}
