//! The versioned suite: its version (`conformance/suite.toml`), the selection of cases a run
//! makes (`--suite`, `--only`, `--suite-version`) and the offline run as a [`Report`].
//!
//! ```toml
//! # conformance/suite.toml
//! version = "1.1.0"     # the suite's own version (semantic: MAJOR.MINOR.PATCH)
//! interface = "V1.0"    # the national interface version (`infver`) it tests
//! ```
//! A case may say `since = "1.1.0"` (first version holding it, inclusive) and `until =
//! "2.0.0"` (the version that dropped it, exclusive); a run for `--suite-version V` skips the
//! cases outside `since <= V < until`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Deserialize;

use crate::report::{CaseResult, Report, Status};

/// A suite version `MAJOR.MINOR.PATCH` (a missing part is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    pub fn parse(text: &str) -> Result<Version, String> {
        let t = text.trim().trim_start_matches(['v', 'V']);
        let parts: Vec<&str> = t.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return Err(format!("`{text}` is not a version MAJOR.MINOR.PATCH"));
        }
        let mut n = [0u32; 3];
        for (i, p) in parts.iter().enumerate() {
            n[i] = p
                .parse()
                .map_err(|_| format!("`{text}` is not a version MAJOR.MINOR.PATCH"))?;
        }
        Ok(Version(n[0], n[1], n[2]))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// `conformance/suite.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    pub version: String,
    pub interface: String,
}

/// The suite file of this source tree.
pub fn bundled_suite_file() -> PathBuf {
    crate::bundled_cases_dir().join("../suite.toml")
}

/// The suite description: `suite.toml` next to (or above) `dir`, else the bundled one.
pub fn suite_info(dir: &Path) -> Result<SuiteFile, String> {
    let mut candidates: Vec<PathBuf> = dir
        .ancestors()
        .take(4)
        .map(|d| d.join("suite.toml"))
        .collect();
    candidates.push(bundled_suite_file());
    let path = candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or("no suite.toml")?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let s: SuiteFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Version::parse(&s.version)?;
    Ok(s)
}

/// The version of the bundled suite.
pub fn current_version() -> Version {
    suite_info(&crate::bundled_cases_dir())
        .and_then(|s| Version::parse(&s.version))
        .unwrap_or(Version(1, 1, 0))
}

/// What a run selects.
#[derive(Debug, Clone)]
pub struct Selection {
    /// `--suite`: groups to run (`nhsa`, `legacy` = every legacy profile, `legacy:guizhou`);
    /// empty: all.
    pub suites: Vec<String>,
    /// `--only`: a rule id (cases checking it) or part of a case name.
    pub only: Option<String>,
    /// `--suite-version`: cases outside `since <= version < until` are skipped.
    pub version: Version,
}

impl Default for Selection {
    fn default() -> Selection {
        Selection {
            suites: Vec::new(),
            only: None,
            version: current_version(),
        }
    }
}

impl Selection {
    /// Whether a case of `group` is in the suites asked for.
    pub fn wants_group(&self, group: &str) -> bool {
        self.suites.is_empty()
            || self.suites.iter().any(|s| {
                s == group
                    || (s == "legacy" && group.starts_with("legacy:"))
                    || group.strip_prefix("legacy:") == Some(s.as_str())
            })
    }

    /// Whether `--only` selects a case named `name` checking `rules`.
    pub fn wants(&self, name: &str, rules: &[String]) -> bool {
        match &self.only {
            None => true,
            Some(o) => rules.iter().any(|r| r == o) || name.contains(o.as_str()),
        }
    }

    /// `None` when the case belongs to the version asked for, else why not.
    pub fn version_skip(&self, since: Option<&str>, until: Option<&str>) -> Option<String> {
        if let Some(s) = since {
            match Version::parse(s) {
                Ok(v) if v > self.version => {
                    return Some(format!("since {v}, suite version {}", self.version));
                }
                Ok(_) => {}
                Err(e) => return Some(format!("since: {e}")),
            }
        }
        if let Some(u) = until {
            match Version::parse(u) {
                Ok(v) if v <= self.version => {
                    return Some(format!("until {v}, suite version {}", self.version));
                }
                Ok(_) => {}
                Err(e) => return Some(format!("until: {e}")),
            }
        }
        None
    }
}

/// The name of a case in reports: its path under `root` (or the path itself).
pub fn case_name(root: &Path, case: &Path) -> String {
    case.strip_prefix(root)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(case)
        .display()
        .to_string()
}

/// Run the offline cases under `dir` that `sel` selects; cases outside the version are
/// reported as skipped, cases not selected are left out.
pub fn run_offline(dir: &Path, sel: &Selection) -> Vec<CaseResult> {
    let mut out = Vec::new();
    for case_dir in crate::find_cases(dir) {
        let name = case_name(dir, &case_dir);
        let case = match crate::read_case(&case_dir) {
            Ok(c) => c,
            Err(e) => {
                out.push(CaseResult::failed(&name, "unreadable", &e));
                continue;
            }
        };
        let mut rules = case.expected.rules.clone();
        rules.extend(case.rules_exercised.iter().cloned());
        if !sel.wants_group(&case.dialect) || !sel.wants(&name, &rules) {
            continue;
        }
        if let Some(why) = sel.version_skip(case.since.as_deref(), case.until.as_deref()) {
            let mut r = CaseResult::skipped(&name, &case.dialect, &why);
            r.description = case.description.clone();
            r.rules = rules;
            out.push(r);
            continue;
        }
        let started = Instant::now();
        let checked = crate::check_case(&case_dir);
        let mut r = match &checked.result {
            Ok(()) => CaseResult::passed(&name, &case.dialect),
            Err(why) => CaseResult::failed(&name, &case.dialect, why),
        };
        r.description = case.description.clone();
        r.rules = rules;
        r.sent = checked.sent;
        r.received = checked.received;
        r.expected = checked.expected;
        r.diff = checked.diff;
        r.failed_rule = if r.status == Status::Failed {
            checked.failed_rule
        } else {
            None
        };
        r.duration_ms = started.elapsed().as_millis() as u64;
        out.push(r);
    }
    out
}

/// The offline run of `dir` as a report naming the suite version.
pub fn offline_report(dir: &Path, sel: &Selection) -> Report {
    let info = suite_info(dir).unwrap_or(SuiteFile {
        version: sel.version.to_string(),
        interface: "V1.0".into(),
    });
    let mut r = Report::new(
        "medsettle conformance (offline)",
        &sel.version.to_string(),
        &info.interface,
    );
    r.target = Some(dir.display().to_string());
    r.cases = run_offline(dir, sel);
    if r.cases.is_empty() {
        r.cases.push(CaseResult::failed(
            &dir.display().to_string(),
            "suite",
            "no conformance cases found (or none selected)",
        ));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_and_select() {
        assert!(Version::parse("1.10.0").unwrap() > Version::parse("1.9.3").unwrap());
        assert_eq!(Version::parse("2").unwrap(), Version(2, 0, 0));
        assert!(Version::parse("1.x").is_err());
        let sel = Selection {
            suites: vec!["legacy".into()],
            only: None,
            version: Version(1, 1, 0),
        };
        assert!(sel.version_skip(Some("1.1.0"), None).is_none());
        assert!(sel.version_skip(Some("1.2.0"), None).is_some());
        assert!(sel.version_skip(None, Some("1.1.0")).is_some());
        assert!(sel.version_skip(Some("1.0.0"), Some("1.1.1")).is_none());
        assert!(sel.wants_group("legacy:guizhou") && !sel.wants_group("nhsa"));
    }
}
