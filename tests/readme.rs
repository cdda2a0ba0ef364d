//! The README's quick start, as a newcomer types it: `init`, `serve`, and the `curl` call with
//! a client certificate against the national single endpoint.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

#[test]
fn init_serve_and_the_readme_curl_call() {
    let ws = Workspace::init();
    let gw = ws.serve(&[]);
    let dir = ws.path();
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(dir.join("certs/ca.pem"))
        .arg("--cert")
        .arg(dir.join("certs/clients/H44030000001.pem"))
        .arg("--key")
        .arg(dir.join("certs/clients/H44030000001.key"))
        .args(["-H", "content-type: application/json", "-d"])
        .arg(format!("@{}", dir.join("samples/1101.json").display()))
        .arg(format!(
            "https://{}/fsi/api/rsfComIfsService/callService",
            gw.addr
        ))
        .output()
        .expect("curl is on the machine (Debian's curl package)");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["infcode"], 0, "{answer}");
    assert_eq!(answer["output"]["baseinfo"]["psn_no"], "44030000000001");
    // Without a client certificate the same call gets nothing.
    let refused = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(dir.join("certs/ca.pem"))
        .arg(format!("https://{}/healthz", gw.addr))
        .output()
        .unwrap();
    assert!(!refused.status.success() || refused.stdout.is_empty());
    assert!(gw.terminate().success());
    let stats = run_ok(&[
        "journal",
        "stats",
        "--config",
        ws.config().to_str().unwrap(),
    ]);
    assert!(stats.contains("records        1"), "{stats}");
}
