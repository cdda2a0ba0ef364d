//! The dependency rule of `DESIGN.md` §2, checked against `cargo metadata`:
//! - `adapters/*`, `gateway/core` and `gateway/settlement` never depend (even transitively)
//!   on tokio, hyper, rustls or sled — they are pure libraries;
//! - only `gateway/store` depends directly on sled;
//! - only `gateway/server` and the binary depend directly on hyper or rustls.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

const RUNTIME_CRATES: [&str; 4] = ["tokio", "hyper", "rustls", "sled"];

struct Graph {
    /// package id → package name
    names: BTreeMap<String, String>,
    /// package id → ids of its normal (non-dev, non-build) dependencies
    normal_deps: BTreeMap<String, Vec<String>>,
    /// workspace member name → (id, manifest directory relative to the workspace root)
    members: BTreeMap<String, (String, String)>,
}

fn graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let root = meta["workspace_root"].as_str().unwrap().to_owned();
    let mut names = BTreeMap::new();
    let mut members = BTreeMap::new();
    let member_ids: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for p in meta["packages"].as_array().unwrap() {
        let id = p["id"].as_str().unwrap().to_owned();
        let name = p["name"].as_str().unwrap().to_owned();
        if member_ids.contains(id.as_str()) {
            let manifest = p["manifest_path"].as_str().unwrap();
            let dir = manifest
                .strip_prefix(&root)
                .unwrap()
                .trim_start_matches('/')
                .trim_end_matches("Cargo.toml")
                .trim_end_matches('/')
                .to_owned();
            members.insert(name.clone(), (id.clone(), dir));
        }
        names.insert(id, name);
    }
    let mut normal_deps = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let id = node["id"].as_str().unwrap().to_owned();
        let deps = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| d["pkg"].as_str().unwrap().to_owned())
            .collect();
        normal_deps.insert(id, deps);
    }
    Graph {
        names,
        normal_deps,
        members,
    }
}

impl Graph {
    fn direct(&self, id: &str) -> BTreeSet<String> {
        self.normal_deps[id]
            .iter()
            .map(|d| self.names[d].clone())
            .collect()
    }

    fn transitive(&self, id: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![id.to_owned()];
        while let Some(next) = stack.pop() {
            for d in &self.normal_deps[&next] {
                if seen.insert(d.clone()) {
                    stack.push(d.clone());
                }
            }
        }
        seen.into_iter().map(|d| self.names[&d].clone()).collect()
    }
}

#[test]
fn pure_crates_never_reach_the_runtime() {
    let g = graph();
    let mut checked = 0;
    for (name, (id, dir)) in &g.members {
        let pure =
            dir.starts_with("adapters/") || dir == "gateway/core" || dir == "gateway/settlement";
        if !pure {
            continue;
        }
        checked += 1;
        let reach = g.transitive(id);
        for forbidden in RUNTIME_CRATES {
            assert!(
                !reach.contains(forbidden),
                "{name} ({dir}) depends on {forbidden}: adapters, core and settlement must stay pure"
            );
        }
    }
    assert!(
        checked >= 5,
        "expected the pure crates to be workspace members, found {checked}"
    );
}

#[test]
fn only_the_store_touches_sled() {
    let g = graph();
    for (name, (id, dir)) in &g.members {
        if g.direct(id).contains("sled") {
            assert_eq!(dir, "gateway/store", "{name} depends on sled directly");
        }
    }
}

#[test]
fn only_the_server_and_the_binary_speak_http_and_tls() {
    let g = graph();
    for (name, (id, dir)) in &g.members {
        let direct = g.direct(id);
        for net in ["hyper", "rustls", "tokio-rustls"] {
            if direct.contains(net) {
                assert!(
                    dir == "gateway/server" || dir.is_empty(),
                    "{name} ({dir}) depends on {net} directly"
                );
            }
        }
    }
}
