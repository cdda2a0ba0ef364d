//! The README's main command: `medsettle demo --dir DIR` runs the whole flow end to end —
//! gateway, HIS traffic, settlements, daily close, payment file, simulated bank, receipts —
//! and leaves a directory every operator command works on.

mod common;

use common::*;

#[test]
fn the_demo_runs_the_whole_flow_and_leaves_a_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("demo");
    // The demo pays today's claims on the next working day: a calendar that reaches it.
    run_ok(&["init", "--dir", d.to_str().unwrap()]);
    use_test_calendar(&d);
    let out = run_ok(&["demo", "--dir", d.to_str().unwrap(), "--visits", "8"]);
    for step in [
        "step 1/6", "step 2/6", "step 3/6", "step 4/6", "step 5/6", "step 6/6",
    ] {
        assert!(out.contains(step), "missing {step}:\n{out}");
    }
    // Part of the traffic came in the Guizhou legacy dialect and settled into the same batch.
    let legacy_visits: u64 = out
        .split(" visits in the Guizhou legacy dialect")
        .next()
        .and_then(|head| head.rsplit(['(', ' ']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no legacy count in:\n{out}"));
    assert!(legacy_visits > 0, "{out}");
    let export = run_ok(&[
        "journal",
        "export",
        "--config",
        d.join("medsettle.toml").to_str().unwrap(),
    ]);
    let confirmed = export
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| {
            r["kind"] == "nhsa.settlement"
                && r["record"]["request"]["legacy"]["transaction"] == "confirm"
        })
        .count();
    assert_eq!(
        confirmed as u64, legacy_visits,
        "every legacy visit was confirmed into a settlement"
    );
    // The simulated bank pays one institution, fails one (closed account), leaves one pending.
    assert!(out.contains(" paid "), "{out}");
    assert!(out.contains(" failed ") && out.contains("AC04"), "{out}");
    assert!(out.contains(" pending"), "{out}");
    let outbox: Vec<_> = std::fs::read_dir(d.join("data/bank/outbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        outbox.iter().any(|n| n.ends_with(".xml")) && outbox.iter().any(|n| n.ends_with(".xml.ok")),
        "{outbox:?}"
    );
    let config = d.join("medsettle.toml");
    let config = config.to_str().unwrap();
    let status = run_ok(&["bank", "status", "--config", config]);
    assert!(
        status.contains("Paid 1") && status.contains("Failed 1") && status.contains("Pending 1"),
        "{status}"
    );
    let stats = run_ok(&["journal", "stats", "--config", config]);
    assert!(stats.contains("corrupt        none"), "{stats}");
    // A second run reuses the directory and adds traffic to the same journal.
    run_ok(&["demo", "--dir", d.to_str().unwrap(), "--visits", "2"]);
}

/// A calendar that cannot date today's payment stops the demo before any traffic, with the
/// calendar's own message, and nothing is journaled.
#[test]
fn the_demo_refuses_up_front_when_todays_payment_cannot_be_dated() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("demo");
    run_ok(&["init", "--dir", d.to_str().unwrap()]);
    // A calendar for one far year only (test data: weekends only): today is not covered.
    let far = d.join("test-calendar-2099.toml");
    std::fs::write(&far, "year = 2099\nsource = \"test: weekends only\"\n").unwrap();
    let config = d.join("medsettle.toml");
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "\ncalendar = []\n",
        &format!("\ncalendar = [{:?}]\n", far.to_str().unwrap()),
        1,
    );
    std::fs::write(&config, text).unwrap();
    let out = run(&["demo", "--dir", d.to_str().unwrap(), "--visits", "2"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("which cannot be computed: [")
            && err.contains(&format!("has no data for {}", today_in_china().year())),
        "{err}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("step 1/6"), "{stdout}");
    assert!(!d.join("data/journal").exists(), "nothing journaled");
}

/// Issue 20: the main job works on days no official calendar covers yet — the shipped files
/// end with 2026; 2027 and 2031 are dated on the provisional calendar (statutory holidays and
/// weekends), and the day's close says so. The clock is set with libfaketime (Debian's
/// `faketime`, installed by `.ci/test`), preloaded into the demo and the gateway it starts.
#[test]
fn the_demo_runs_on_days_no_official_calendar_covers() {
    let lib = std::path::Path::new("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1");
    assert!(
        lib.is_file(),
        "libfaketime is not installed (.ci/test installs it)"
    );
    // 02:00 UTC is 10:00 in China. 2027-02-10 is in the Spring Festival week's aftermath.
    for day in ["2027-01-04", "2027-02-10", "2031-06-01"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("demo");
        let out = std::process::Command::new(bin())
            .args(["demo", "--dir", d.to_str().unwrap(), "--visits", "3"])
            .env("LD_PRELOAD", lib)
            .env("FAKETIME", format!("@{day} 02:00:00"))
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "demo on {day}: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("step 6/6"), "{day}: {text}");
        assert!(
            text.contains(&format!("claims settled {day} are paid on")),
            "{day}: {text}"
        );
        assert!(
            text.contains("PROVISIONAL"),
            "{day}: the close says so: {text}"
        );
    }
}
