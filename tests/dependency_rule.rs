//! The dependency rule of `DESIGN.md` §2, checked against `cargo metadata`:
//! - `adapters/*`, `gateway/core` and `gateway/settlement` never depend (even transitively)
//!   on tokio, hyper, rustls or sled — they are pure libraries;
//! - only `gateway/store` depends directly on sled;
//! - only the transport (`gateway/server`), the clients of a gateway (`gateway/client`), the
//!   benchmark that drives one (`gateway/bench`), the test doubles (`tests/kit`) and the
//!   binary depend directly on hyper or rustls;
//! - the transport knows nothing of the journal or the national interface's transactions
//!   (no store, no adapter): what a request means is the service's business;
//! - no crate's modules import each other in a circle (`crate::a` ↔ `crate::b`).

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

/// Test and benchmark tools (random numbers, temporary directories) stay out of what runs in
/// production: only the benchmark binaries and the test doubles use them as normal
/// dependencies.
#[test]
fn production_crates_take_no_test_tools() {
    let g = graph();
    let mut checked = 0;
    for (name, (id, dir)) in &g.members {
        if dir == "gateway/bench" || dir == "tests/kit" {
            continue;
        }
        checked += 1;
        let direct = g.direct(id);
        for tool in ["rand", "tempfile", "proptest"] {
            assert!(
                !direct.contains(tool),
                "{name} ({dir}) depends on {tool} outside its tests"
            );
        }
    }
    assert!(checked >= 14, "{checked}");
}

/// Crates that may speak HTTP and TLS themselves.
const NETWORK_DIRS: [&str; 5] = [
    "gateway/server",
    "gateway/client",
    "gateway/bench",
    "tests/kit",
    "",
];

#[test]
fn only_the_transport_and_the_clients_speak_http_and_tls() {
    let g = graph();
    for (name, (id, dir)) in &g.members {
        let direct = g.direct(id);
        for net in ["hyper", "rustls", "tokio-rustls"] {
            if direct.contains(net) {
                assert!(
                    NETWORK_DIRS.contains(&dir.as_str()),
                    "{name} ({dir}) depends on {net} directly"
                );
            }
        }
    }
}

#[test]
fn the_transport_is_transport_only() {
    let g = graph();
    let (id, _) = &g.members["medsettle-server"];
    let direct = g.direct(id);
    for domain in [
        "medsettle-store",
        "medsettle-nhsa",
        "medsettle-core",
        "medsettle-engine",
        "medsettle-service",
        "medsettle-ops",
    ] {
        assert!(
            !direct.contains(domain),
            "medsettle-server depends on {domain}: the transport must not know the domain"
        );
    }
}

/// The top-level module a `crate::…` path names, for each source file of a crate: `src/x.rs`
/// and `src/x/…` are module `x`; `lib.rs` and `main.rs` are the root (not counted).
fn module_imports(src: &std::path::Path) -> BTreeMap<String, BTreeSet<String>> {
    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "bin") {
                    files(&p, out);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut all = Vec::new();
    files(src, &mut all);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in all {
        let rel = f.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let uses = graph.entry(module.clone()).or_default();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    uses.insert(name);
                }
            }
        }
    }
    graph
}

/// A cycle in `graph`, if there is one (depth-first search).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            // Only modules of this crate (a re-exported item at the root is not a module).
            if graph.contains_key(next)
                && let Some(c) = visit(graph, next, path, done)
            {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(graph, node, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_crate_imports_its_own_modules_in_a_circle() {
    let g = graph();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cycles = Vec::new();
    for (name, (_, dir)) in &g.members {
        let src = if dir.is_empty() {
            root.join("gateway/cli/src")
        } else {
            root.join(dir).join("src")
        };
        if let Some(c) = find_cycle(&module_imports(&src)) {
            cycles.push(format!("{name}: {}", c.join(" → ")));
        }
    }
    assert!(
        cycles.is_empty(),
        "module import circles:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let g = |edges: &[(&str, &str)]| {
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            m.entry((*a).into()).or_default().insert((*b).into());
            m.entry((*b).into()).or_default();
        }
        m
    };
    assert_eq!(find_cycle(&g(&[("a", "b"), ("b", "c")])), None);
    let c = find_cycle(&g(&[("a", "b"), ("b", "c"), ("c", "a")])).unwrap();
    assert_eq!(c.first(), c.last());
    assert_eq!(c.len(), 4);
}
