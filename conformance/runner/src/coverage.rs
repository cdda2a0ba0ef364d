//! Traceability: every rule id the project defines → the cases that must pass and the cases
//! that must be refused (`medsettle-conformance coverage`).
//!
//! - The rules: every `[[rule]] id` of `specs/rules.toml` and every legacy rule
//!   (`medsettle_legacy::RULES`, the `LEG-*` constants).
//! - **Must be refused** by a rule: an offline case with `outcome = "reject"` listing it in
//!   `rules`, or an online step whose `expect.rule` names it.
//! - **Must pass** for a rule: an accepted offline case that lists it in `rules_exercised`
//!   (its input carries the field, transaction or construct the rule checks, validly), an entry
//!   of `[exercised]` in `conformance/coverage.toml` (the same statement for generated cases,
//!   kept outside their `case.toml` so the generators can re-write them), or an online flow
//!   listing it in `rules_exercised` (every step of the flow must be accepted).
//! - A rule that truly cannot be provoked offline or online is listed under `[[exempt]]` in
//!   `conformance/coverage.toml` with the side (`passes`, `refused` or `both`) and a reason;
//!   the table prints the reason. Nothing is left out silently.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Outcome, find_cases, read_case};

/// `conformance/coverage.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageFile {
    /// Case name (`nhsa/043-exchange-2207-example-a-b`) → the rules its accepted input
    /// exercises.
    #[serde(default)]
    pub exercised: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub exempt: Vec<Exempt>,
}

/// A side of a rule no case can provoke, and why.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Exempt {
    pub rule: String,
    /// `passes`, `refused` or `both`.
    pub side: String,
    pub reason: String,
}

impl Exempt {
    fn covers(&self, side: &str) -> bool {
        self.side == side || self.side == "both"
    }
}

/// One row of the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleRow {
    pub rule: String,
    /// Cases that must pass (accepted, exercising the rule).
    pub passes: Vec<String>,
    /// Cases that must be refused naming the rule.
    pub refused: Vec<String>,
    pub exempt: Vec<Exempt>,
}

impl RuleRow {
    pub fn passes_ok(&self) -> bool {
        !self.passes.is_empty() || self.exempt.iter().any(|e| e.covers("passes"))
    }

    pub fn refused_ok(&self) -> bool {
        !self.refused.is_empty() || self.exempt.iter().any(|e| e.covers("refused"))
    }

    pub fn complete(&self) -> bool {
        self.passes_ok() && self.refused_ok()
    }
}

/// The rule → cases table and what is wrong with it.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    pub rows: Vec<RuleRow>,
    /// Rule ids the cases name that are not project rules (business rules of a target such as
    /// `CORE-…`, `IS-…`): listed, not required.
    pub other_rules: BTreeMap<String, Vec<String>>,
    /// Broken references: an `[exercised]` entry naming no case or a refused case, an exemption
    /// of an unknown rule, an unreadable case.
    pub problems: Vec<String>,
}

impl Coverage {
    /// Complete: every rule has both sides (or an exemption for the side) and nothing is broken.
    pub fn is_complete(&self) -> bool {
        self.problems.is_empty() && self.rows.iter().all(RuleRow::complete)
    }

    pub fn incomplete(&self) -> Vec<&RuleRow> {
        self.rows.iter().filter(|r| !r.complete()).collect()
    }

    /// The table as text: one line per rule, then exemptions with their reasons and problems.
    pub fn to_text(&self, verbose: bool) -> String {
        let show = |cases: &[String]| {
            if cases.is_empty() {
                return "—".to_owned();
            }
            if verbose || cases.len() <= 2 {
                return cases.join(", ");
            }
            format!("{}, {} (+{} more)", cases[0], cases[1], cases.len() - 2)
        };
        let width = self.rows.iter().map(|r| r.rule.len()).max().unwrap_or(4);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:width$}  {:>4} {:>4}  status      must pass | must be refused",
            "rule", "pass", "refd"
        );
        for r in &self.rows {
            let status = if r.complete() {
                if r.exempt.is_empty() {
                    "ok"
                } else {
                    "ok (exempt)"
                }
            } else if !r.passes_ok() && !r.refused_ok() {
                "MISSING both"
            } else if !r.passes_ok() {
                "MISSING pass"
            } else {
                "MISSING refused"
            };
            let _ = writeln!(
                s,
                "{:width$}  {:>4} {:>4}  {status:<11} {} | {}",
                r.rule,
                r.passes.len(),
                r.refused.len(),
                show(&r.passes),
                show(&r.refused)
            );
        }
        let exempt: Vec<&Exempt> = self.rows.iter().flat_map(|r| &r.exempt).collect();
        if !exempt.is_empty() {
            s.push_str("\nexempt (no case can provoke it):\n");
            for e in exempt {
                let _ = writeln!(s, "  {} ({}): {}", e.rule, e.side, e.reason);
            }
        }
        if !self.other_rules.is_empty() {
            s.push_str("\nother rule ids named by cases (the target's business rules):\n");
            for (r, cases) in &self.other_rules {
                let _ = writeln!(s, "  {r}: {}", show(cases));
            }
        }
        for p in &self.problems {
            let _ = writeln!(s, "PROBLEM {p}");
        }
        let incomplete = self.incomplete().len();
        let _ = writeln!(
            s,
            "\n{} rules, {} complete, {} incomplete, {} problems",
            self.rows.len(),
            self.rows.len() - incomplete,
            incomplete,
            self.problems.len()
        );
        s
    }
}

/// The project's rule ids: `specs/rules.toml` and the legacy `LEG-*` rules, sorted.
pub fn project_rules(rules_toml: &Path) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct Rules {
        rule: Vec<Rule>,
    }
    #[derive(Deserialize)]
    struct Rule {
        id: String,
    }
    let text = std::fs::read_to_string(rules_toml)
        .map_err(|e| format!("{}: {e}", rules_toml.display()))?;
    let rules: Rules =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", rules_toml.display()))?;
    let mut out: BTreeSet<String> = rules.rule.into_iter().map(|r| r.id).collect();
    out.extend(medsettle_legacy::RULES.iter().map(|r| (*r).to_owned()));
    Ok(out.into_iter().collect())
}

/// `specs/rules.toml` of this source tree.
pub fn bundled_rules_toml() -> PathBuf {
    crate::bundled_cases_dir().join("../../specs/rules.toml")
}

/// `conformance/coverage.toml` of this source tree.
pub fn bundled_coverage_toml() -> PathBuf {
    crate::bundled_cases_dir().join("../coverage.toml")
}

/// Build the table for `rules` from the offline cases and online flows under `cases_dir` and
/// the statements of `coverage_toml`.
pub fn coverage(cases_dir: &Path, rules: &[String], coverage_toml: &Path) -> Coverage {
    let mut cov = Coverage::default();
    let file: CoverageFile = match std::fs::read_to_string(coverage_toml) {
        Ok(t) => match toml::from_str(&t) {
            Ok(f) => f,
            Err(e) => {
                cov.problems
                    .push(format!("{}: {e}", coverage_toml.display()));
                CoverageFile::default()
            }
        },
        Err(e) => {
            cov.problems
                .push(format!("{}: {e}", coverage_toml.display()));
            CoverageFile::default()
        }
    };
    let mut passes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut refused: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut accepted: BTreeSet<String> = BTreeSet::new();
    let mut all: BTreeSet<String> = BTreeSet::new();

    for dir in find_cases(cases_dir) {
        let name = crate::suite::case_name(cases_dir, &dir);
        let case = match read_case(&dir) {
            Ok(c) => c,
            Err(e) => {
                cov.problems.push(format!("{name}: {e}"));
                continue;
            }
        };
        all.insert(name.clone());
        match case.expected.outcome {
            Outcome::Reject => {
                for r in &case.expected.rules {
                    refused.entry(r.clone()).or_default().push(name.clone());
                }
                if !case.rules_exercised.is_empty() {
                    cov.problems.push(format!(
                        "{name}: a refused case lists rules_exercised (only accepted cases prove a rule passes)"
                    ));
                }
            }
            Outcome::Accept => {
                accepted.insert(name.clone());
                for r in &case.rules_exercised {
                    passes.entry(r.clone()).or_default().push(name.clone());
                }
            }
        }
    }
    for (name, rs) in &file.exercised {
        if !accepted.contains(name) {
            cov.problems.push(if all.contains(name) {
                format!("coverage.toml [exercised] `{name}` is a refused case")
            } else {
                format!("coverage.toml [exercised] `{name}`: no such case")
            });
            continue;
        }
        for r in rs {
            passes.entry(r.clone()).or_default().push(name.clone());
        }
    }
    match crate::online::load_flows(&cases_dir.join("online")) {
        Ok(flows) => {
            for f in flows {
                let name = format!("online/{}", f.name);
                for r in &f.file.rules_exercised {
                    passes.entry(r.clone()).or_default().push(name.clone());
                }
                for s in &f.file.step {
                    if let Some(r) = &s.expect.rule {
                        refused
                            .entry(r.clone())
                            .or_default()
                            .push(format!("{name}#{}", s.name));
                    }
                }
            }
        }
        Err(e) => cov.problems.push(format!("online flows: {e}")),
    }

    let known: BTreeSet<&String> = rules.iter().collect();
    for e in &file.exempt {
        if !known.contains(&e.rule) {
            cov.problems.push(format!(
                "coverage.toml exempts `{}`, not a project rule",
                e.rule
            ));
        }
        if !matches!(e.side.as_str(), "passes" | "refused" | "both") {
            cov.problems.push(format!(
                "coverage.toml exempts `{}` on side `{}` (passes, refused or both)",
                e.rule, e.side
            ));
        }
        if e.reason.trim().is_empty() {
            cov.problems.push(format!(
                "coverage.toml exempts `{}` without a reason",
                e.rule
            ));
        }
    }
    for rule in rules {
        cov.rows.push(RuleRow {
            rule: rule.clone(),
            passes: passes.remove(rule).unwrap_or_default(),
            refused: refused.remove(rule).unwrap_or_default(),
            exempt: file
                .exempt
                .iter()
                .filter(|e| &e.rule == rule)
                .cloned()
                .collect(),
        });
    }
    for (r, cases) in passes.into_iter().chain(refused) {
        cov.other_rules.entry(r).or_default().extend(cases);
    }
    cov
}
