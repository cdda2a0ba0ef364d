//! The one report model of a conformance run, and its renderers.
//!
//! Pure: no I/O, no clock. The offline runner, the online runner and (later) the gateway's
//! certification sessions fill a [`Report`]; [`Report::to_text`], [`Report::to_junit_xml`],
//! [`Report::to_json`] and [`Report::to_html`] render it. The HTML page is self-contained
//! (inline CSS, no script, no external asset).
//!
//! ```
//! use medsettle_conformance::report::{CaseResult, Report};
//! let mut r = Report::new("medsettle conformance", "1.1.0", "V1.0");
//! r.cases.push(CaseResult::passed("nhsa/001-request-1101", "nhsa"));
//! let mut bad = CaseResult::failed("online/outpatient", "nhsa", "2207: infcode -1");
//! bad.failed_rule = Some("NHSA-ID-2".into());
//! r.cases.push(bad);
//! assert_eq!(r.summary_line(), "1 passed, 1 failed");
//! assert!(!r.is_success());
//! assert!(r.to_junit_xml().contains("<failure"));
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// What happened to a case (or a step of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    /// Not run: outside the suite version asked for, or not selected. The reason is in
    /// `message`.
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// One exchange of a multi-step case (an online flow's step, a session's call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepResult {
    pub name: String,
    pub status: Status,
    /// What was sent (request line and body as text).
    pub sent: String,
    /// What came back (status line and body as text).
    pub received: String,
    /// Why it failed; empty when it passed.
    pub message: String,
}

/// One case (an offline case, an online flow, a session scenario).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseResult {
    /// Unique in the report: `nhsa/001-request-1101`, `online/outpatient-visit`.
    pub name: String,
    /// The group it belongs to: a dialect (`nhsa`, `legacy:guizhou`) or a scenario set.
    pub group: String,
    pub description: String,
    /// The rule ids the case checks (refused with, or exercised by an accepted message).
    pub rules: Vec<String>,
    pub status: Status,
    /// A failed case that is not required is reported but does not fail the run.
    pub required: bool,
    /// What was sent (for a multi-step case: the failing step, else the last one).
    pub sent: String,
    /// What came back.
    pub received: String,
    /// What was expected (text; JSON pretty-printed where it is JSON).
    pub expected: String,
    /// A line diff of expected vs actual (see [`line_diff`]); empty when none applies.
    pub diff: String,
    /// The rule whose check failed, when one is named.
    pub failed_rule: Option<String>,
    /// Why it failed (or was skipped); empty when it passed.
    pub message: String,
    /// Every step of a multi-step case, in order; empty for a single message.
    pub steps: Vec<StepResult>,
    pub duration_ms: u64,
}

impl CaseResult {
    fn new(name: &str, group: &str, status: Status, message: &str) -> CaseResult {
        CaseResult {
            name: name.to_owned(),
            group: group.to_owned(),
            description: String::new(),
            rules: Vec::new(),
            status,
            required: true,
            sent: String::new(),
            received: String::new(),
            expected: String::new(),
            diff: String::new(),
            failed_rule: None,
            message: message.to_owned(),
            steps: Vec::new(),
            duration_ms: 0,
        }
    }

    /// A required case that passed; fill the other fields as needed.
    pub fn passed(name: &str, group: &str) -> CaseResult {
        CaseResult::new(name, group, Status::Passed, "")
    }

    /// A required case that failed, with why.
    pub fn failed(name: &str, group: &str, message: &str) -> CaseResult {
        CaseResult::new(name, group, Status::Failed, message)
    }

    /// A case that was not run, with why.
    pub fn skipped(name: &str, group: &str, reason: &str) -> CaseResult {
        CaseResult::new(name, group, Status::Skipped, reason)
    }

    pub fn is_passed(&self) -> bool {
        self.status == Status::Passed
    }

    pub fn is_failed(&self) -> bool {
        self.status == Status::Failed
    }
}

/// Per rule: the cases that check it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSummary {
    pub passed: usize,
    pub failed: usize,
    pub cases: Vec<String>,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub title: String,
    /// The version of the suite that ran (`conformance/suite.toml`).
    pub suite_version: String,
    /// The interface version it tests (`infver`, e.g. `V1.0`).
    pub interface_version: String,
    /// What was tested: a directory (offline) or `https://HOST:PORT` (online).
    pub target: Option<String>,
    /// When the run started (text the caller chose; the model keeps no clock).
    pub started: Option<String>,
    pub cases: Vec<CaseResult>,
}

impl Report {
    pub fn new(title: &str, suite_version: &str, interface_version: &str) -> Report {
        Report {
            title: title.to_owned(),
            suite_version: suite_version.to_owned(),
            interface_version: interface_version.to_owned(),
            target: None,
            started: None,
            cases: Vec::new(),
        }
    }

    fn count(&self, s: Status) -> usize {
        self.cases.iter().filter(|c| c.status == s).count()
    }

    pub fn passed(&self) -> usize {
        self.count(Status::Passed)
    }

    pub fn failed(&self) -> usize {
        self.count(Status::Failed)
    }

    pub fn skipped(&self) -> usize {
        self.count(Status::Skipped)
    }

    /// Failed cases that are required: the run fails when there is any.
    pub fn required_failures(&self) -> usize {
        self.cases
            .iter()
            .filter(|c| c.is_failed() && c.required)
            .count()
    }

    /// Everything required passed (the exit status 0 of the runner).
    pub fn is_success(&self) -> bool {
        self.required_failures() == 0
    }

    /// `N passed, N failed` (and `, N skipped` when some were).
    pub fn summary_line(&self) -> String {
        let mut s = format!("{} passed, {} failed", self.passed(), self.failed());
        if self.skipped() > 0 {
            let _ = write!(s, ", {} skipped", self.skipped());
        }
        s
    }

    /// Rule id → the cases checking it, with how many passed and failed.
    pub fn by_rule(&self) -> BTreeMap<String, RuleSummary> {
        let mut out: BTreeMap<String, RuleSummary> = BTreeMap::new();
        for c in &self.cases {
            let mut rules: Vec<&String> = c.rules.iter().collect();
            if let Some(r) = &c.failed_rule {
                rules.push(r);
            }
            rules.sort();
            rules.dedup();
            for r in rules {
                let e = out.entry(r.clone()).or_default();
                match c.status {
                    Status::Passed => e.passed += 1,
                    Status::Failed => e.failed += 1,
                    Status::Skipped => {}
                }
                e.cases.push(c.name.clone());
            }
        }
        out
    }

    /// The groups in first-seen order.
    fn groups(&self) -> Vec<&str> {
        let mut g: Vec<&str> = Vec::new();
        for c in &self.cases {
            if !g.contains(&c.group.as_str()) {
                g.push(&c.group);
            }
        }
        g
    }

    /// One `FAIL <case>: <why>` line per failed case (with the failed rule), then
    /// [`Report::summary_line`].
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for c in self.cases.iter().filter(|c| c.is_failed()) {
            let rule = c
                .failed_rule
                .as_deref()
                .map(|r| format!(" [{r}]"))
                .unwrap_or_default();
            let optional = if c.required { "" } else { " (not required)" };
            let _ = writeln!(
                s,
                "FAIL {}{rule}{optional}: {}",
                c.name,
                one_line(&c.message)
            );
        }
        let _ = writeln!(s, "{}", self.summary_line());
        s
    }

    /// JUnit XML in the Ant/Jenkins layout: `<testsuites>` → one `<testsuite>` per group →
    /// `<testcase>` with `<failure>` or `<skipped>`; the suite version and the interface version
    /// are `<property>` elements.
    pub fn to_junit_xml(&self) -> String {
        let secs = |ms: u64| format!("{}.{:03}", ms / 1000, ms % 1000);
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let total_ms: u64 = self.cases.iter().map(|c| c.duration_ms).sum();
        let _ = writeln!(
            x,
            "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\">",
            esc(&format!("{} {}", self.title, self.suite_version)),
            self.cases.len(),
            self.failed(),
            self.skipped(),
            secs(total_ms)
        );
        for (i, g) in self.groups().into_iter().enumerate() {
            let cases: Vec<&CaseResult> = self.cases.iter().filter(|c| c.group == g).collect();
            let count = |s: Status| cases.iter().filter(|c| c.status == s).count();
            let ms: u64 = cases.iter().map(|c| c.duration_ms).sum();
            let _ = write!(
                x,
                "  <testsuite name=\"{}\" id=\"{i}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\"",
                esc(g),
                cases.len(),
                count(Status::Failed),
                count(Status::Skipped),
                secs(ms)
            );
            if let Some(t) = &self.started {
                let _ = write!(x, " timestamp=\"{}\"", esc(t));
            }
            if let Some(t) = &self.target {
                let _ = write!(x, " hostname=\"{}\"", esc(t));
            }
            x.push_str(">\n    <properties>\n");
            for (k, v) in [
                ("suite_version", self.suite_version.as_str()),
                ("interface_version", self.interface_version.as_str()),
                ("target", self.target.as_deref().unwrap_or("")),
            ] {
                let _ = writeln!(x, "      <property name=\"{k}\" value=\"{}\"/>", esc(v));
            }
            x.push_str("    </properties>\n");
            for c in cases {
                let _ = write!(
                    x,
                    "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
                    esc(&c.name),
                    esc(&format!("conformance.{}", c.group)),
                    secs(c.duration_ms)
                );
                let out = case_output(c);
                match c.status {
                    Status::Passed if out.is_empty() => x.push_str("/>\n"),
                    Status::Passed => {
                        let _ = writeln!(
                            x,
                            ">\n      <system-out>{}</system-out>\n    </testcase>",
                            esc(&out)
                        );
                    }
                    Status::Failed => {
                        let ty = c.failed_rule.as_deref().unwrap_or("conformance");
                        let _ = writeln!(
                            x,
                            ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n      <system-out>{}</system-out>\n    </testcase>",
                            esc(&one_line(&c.message)),
                            esc(ty),
                            esc(&failure_text(c)),
                            esc(&out)
                        );
                    }
                    Status::Skipped => {
                        let _ = writeln!(
                            x,
                            ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                            esc(&one_line(&c.message))
                        );
                    }
                }
            }
            x.push_str("  </testsuite>\n");
        }
        x.push_str("</testsuites>\n");
        x
    }

    /// The report as JSON: every field of the model, plus `summary` (counts, success) and
    /// `by_rule`.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            report: &'a Report,
            summary: Summary,
            by_rule: BTreeMap<String, RuleSummary>,
        }
        #[derive(Serialize)]
        struct Summary {
            passed: usize,
            failed: usize,
            skipped: usize,
            required_failures: usize,
            success: bool,
        }
        let out = Out {
            report: self,
            summary: Summary {
                passed: self.passed(),
                failed: self.failed(),
                skipped: self.skipped(),
                required_failures: self.required_failures(),
                success: self.is_success(),
            },
            by_rule: self.by_rule(),
        };
        let mut s = serde_json::to_string_pretty(&out).unwrap_or_else(|e| {
            // serializing plain strings and numbers cannot fail; keep the output JSON anyway
            format!("{{\"error\":{:?}}}", e.to_string())
        });
        s.push('\n');
        s
    }

    /// A self-contained HTML page: the summary, a summary by rule, then per group every case
    /// (failed ones open) with what was sent, what came back, the failed rule and a diff of
    /// expected vs actual.
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(64 * 1024);
        let title = format!("{} — suite {}", self.title, self.suite_version);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{}</title><style>{CSS}</style></head><body>\n",
            esc(&title)
        );
        let verdict = if self.is_success() { "pass" } else { "fail" };
        let _ = write!(
            h,
            "<header class=\"{verdict}\"><h1>{}</h1><p class=\"meta\">suite <b id=\"suite-version\">{}</b> · interface <b>{}</b>",
            esc(&self.title),
            esc(&self.suite_version),
            esc(&self.interface_version)
        );
        if let Some(t) = &self.target {
            let _ = write!(h, " · target <code>{}</code>", esc(t));
        }
        if let Some(t) = &self.started {
            let _ = write!(h, " · started {}", esc(t));
        }
        let _ = write!(
            h,
            "</p><p id=\"summary\" class=\"summary\"><span class=\"n-passed\">{} passed</span> <span class=\"n-failed\">{} failed</span> <span class=\"n-skipped\">{} skipped</span> — <b>{}</b></p></header>",
            self.passed(),
            self.failed(),
            self.skipped(),
            if self.is_success() {
                "everything required passed"
            } else {
                "required cases failed"
            }
        );

        // failed cases first, as links
        let failed: Vec<(usize, &CaseResult)> = self
            .cases
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_failed())
            .collect();
        if !failed.is_empty() {
            h.push_str("<section id=\"failures\"><h2>Failed</h2><ul>\n");
            for (i, c) in &failed {
                let _ = writeln!(
                    h,
                    "<li class=\"failed-case\"><a href=\"#case-{i}\">{}</a>{} — {}</li>",
                    esc(&c.name),
                    c.failed_rule
                        .as_deref()
                        .map(|r| format!(" <span class=\"rule\">{}</span>", esc(r)))
                        .unwrap_or_default(),
                    esc(&one_line(&c.message))
                );
            }
            h.push_str("</ul></section>\n");
        }

        // summary by rule
        h.push_str("<section id=\"by-rule\"><h2>By rule</h2><table><thead><tr><th>rule</th><th>passed</th><th>failed</th><th>cases</th></tr></thead><tbody>\n");
        for (rule, s) in self.by_rule() {
            let class = if s.failed > 0 { " class=\"bad\"" } else { "" };
            let _ = writeln!(
                h,
                "<tr{class}><td class=\"rule\">{}</td><td>{}</td><td>{}</td><td class=\"cases\">{}</td></tr>",
                esc(&rule),
                s.passed,
                s.failed,
                esc(&s.cases.join(", "))
            );
        }
        h.push_str("</tbody></table></section>\n");

        // per group
        for g in self.groups() {
            let _ = writeln!(h, "<section class=\"group\"><h2>{}</h2>", esc(g));
            for (i, c) in self.cases.iter().enumerate().filter(|(_, c)| c.group == g) {
                let st = c.status.as_str();
                let open = if c.is_failed() { " open" } else { "" };
                let _ = write!(
                    h,
                    "<details id=\"case-{i}\" class=\"case {st}\" data-status=\"{st}\"{open}><summary><span class=\"badge {st}\">{st}</span> <span class=\"name\">{}</span>",
                    esc(&c.name)
                );
                if let Some(r) = &c.failed_rule {
                    let _ = write!(h, " <span class=\"rule\">{}</span>", esc(r));
                }
                if !c.required {
                    h.push_str(" <span class=\"optional\">not required</span>");
                }
                h.push_str("</summary>\n");
                if !c.description.is_empty() {
                    let _ = writeln!(h, "<p class=\"desc\">{}</p>", esc(&c.description));
                }
                if !c.rules.is_empty() {
                    let _ = writeln!(h, "<p>rules: <code>{}</code></p>", esc(&c.rules.join(" ")));
                }
                if !c.message.is_empty() {
                    let _ = writeln!(h, "<p class=\"message\">{}</p>", esc(&c.message));
                }
                if !c.steps.is_empty() {
                    h.push_str("<ol class=\"steps\">\n");
                    for s in &c.steps {
                        let ss = s.status.as_str();
                        let _ = write!(
                            h,
                            "<li class=\"step {ss}\"><span class=\"badge {ss}\">{ss}</span> <b>{}</b>",
                            esc(&s.name)
                        );
                        if !s.message.is_empty() {
                            let _ =
                                write!(h, " — <span class=\"message\">{}</span>", esc(&s.message));
                        }
                        let step_open = if s.status == Status::Failed {
                            " open"
                        } else {
                            ""
                        };
                        let _ = writeln!(
                            h,
                            "<details{step_open}><summary>exchange</summary><div class=\"cols\"><div><h4>sent</h4><pre>{}</pre></div><div><h4>received</h4><pre>{}</pre></div></div></details></li>",
                            esc(&s.sent),
                            esc(&s.received)
                        );
                    }
                    h.push_str("</ol>\n");
                }
                if !c.sent.is_empty() || !c.received.is_empty() {
                    let _ = writeln!(
                        h,
                        "<div class=\"cols\"><div><h4>sent</h4><pre class=\"sent\">{}</pre></div><div><h4>received</h4><pre class=\"received\">{}</pre></div></div>",
                        esc(&c.sent),
                        esc(&c.received)
                    );
                }
                if !c.expected.is_empty() {
                    let _ = writeln!(
                        h,
                        "<h4>expected</h4><pre class=\"expected\">{}</pre>",
                        esc(&c.expected)
                    );
                }
                if !c.diff.is_empty() {
                    h.push_str("<h4>diff (− expected, + actual)</h4><pre class=\"diff\">");
                    for line in c.diff.lines() {
                        let class = match line.as_bytes().first() {
                            Some(b'-') => "del",
                            Some(b'+') => "ins",
                            _ => "ctx",
                        };
                        let _ = write!(h, "<span class=\"{class}\">{}</span>", esc(line));
                    }
                    h.push_str("</pre>\n");
                }
                h.push_str("</details>\n");
            }
            h.push_str("</section>\n");
        }
        h.push_str("</body></html>\n");
        h
    }
}

const CSS: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI','Noto Sans CJK SC',sans-serif;margin:0;color:#1d1d1f;background:#f6f7f9}\
header{padding:16px 24px;color:#fff}header.pass{background:#1e7d32}header.fail{background:#b3261e}\
h1{margin:0 0 4px;font-size:22px}h2{font-size:17px;margin:20px 0 8px}h4{margin:8px 0 4px;font-size:13px;color:#555}\
section{margin:0 24px}.meta,.summary{margin:2px 0}.summary span{margin-right:12px}\
table{border-collapse:collapse;background:#fff;width:100%}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}\
tr.bad td{background:#fdecea}td.cases{font-size:12px;color:#555;max-width:700px;word-break:break-all}\
details.case{background:#fff;border:1px solid #ddd;border-left:5px solid #9e9e9e;margin:6px 0;padding:4px 10px}\
details.case.passed{border-left-color:#2e7d32}details.case.failed{border-left-color:#c62828}\
summary{cursor:pointer}.badge{display:inline-block;min-width:52px;text-align:center;border-radius:3px;padding:0 4px;font-size:12px;color:#fff;background:#9e9e9e}\
.badge.passed{background:#2e7d32}.badge.failed{background:#c62828}.rule{font-family:monospace;background:#fff3cd;padding:0 4px;border-radius:3px;color:#000}\
.optional{font-size:12px;color:#777}.message{color:#b3261e}.desc{color:#444}\
pre{background:#f3f3f3;padding:6px;overflow:auto;max-height:360px;white-space:pre-wrap;word-break:break-all;font-size:12px;margin:0}\
.cols{display:grid;grid-template-columns:1fr 1fr;gap:8px}.diff .del{color:#b3261e;background:#fdecea;display:block}.diff .ins{color:#1e7d32;background:#e8f5e9;display:block}.diff .ctx{display:block;color:#555}\
ol.steps{padding-left:20px}li.step{margin:4px 0}#failures li{margin:2px 0}";

/// The failure element's text: the message, the failed rule and the diff.
fn failure_text(c: &CaseResult) -> String {
    let mut s = c.message.clone();
    if let Some(r) = &c.failed_rule {
        let _ = write!(s, "\nrule: {r}");
    }
    for st in c.steps.iter().filter(|s| s.status == Status::Failed) {
        let _ = write!(s, "\nstep {}: {}", st.name, st.message);
    }
    if !c.diff.is_empty() {
        let _ = write!(s, "\n--- expected\n+++ actual\n{}", c.diff);
    }
    s
}

/// `<system-out>`: what was sent and received.
fn case_output(c: &CaseResult) -> String {
    let mut s = String::new();
    for st in &c.steps {
        let _ = write!(
            s,
            "== step {} ({})\n-- sent\n{}\n-- received\n{}\n",
            st.name,
            st.status.as_str(),
            st.sent,
            st.received
        );
    }
    if c.steps.is_empty() && (!c.sent.is_empty() || !c.received.is_empty()) {
        let _ = write!(s, "-- sent\n{}\n-- received\n{}\n", c.sent, c.received);
    }
    s
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Escape text for XML and HTML (content and attribute values). Characters XML 1.0 does not
/// allow (control characters other than tab, LF, CR; lone surrogates cannot occur in `str`)
/// are written as `\u{…}` text so the document stays well-formed.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 16);
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            '\t' | '\n' | '\r' => o.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(o, "\\u{{{:x}}}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

/// Longest texts [`line_diff`] compares line by line (beyond, it shows both ends).
const DIFF_LINES_MAX: usize = 3000;

/// A line diff of `expected` vs `actual`: `  ` unchanged, `- ` only expected, `+ ` only
/// actual (longest common subsequence). Empty when they are equal.
pub fn line_diff(expected: &str, actual: &str) -> String {
    if expected == actual {
        return String::new();
    }
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    if a.len() > DIFF_LINES_MAX || b.len() > DIFF_LINES_MAX {
        let mut s = String::new();
        for l in a.iter().take(20) {
            let _ = writeln!(s, "- {l}");
        }
        s.push_str("  … (too long to diff line by line)\n");
        for l in b.iter().take(20) {
            let _ = writeln!(s, "+ {l}");
        }
        return s;
    }
    // trim the common head and tail, LCS on the middle
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let (n, m) = (am.len(), bm.len());
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i * (m + 1) + j] = if am[i] == bm[j] {
                lcs[(i + 1) * (m + 1) + j + 1] + 1
            } else {
                lcs[(i + 1) * (m + 1) + j].max(lcs[i * (m + 1) + j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let context = 3;
    for l in &a[head.saturating_sub(context)..head] {
        out.push(format!("  {l}"));
    }
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && am[i] == bm[j] {
            out.push(format!("  {}", am[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i * (m + 1) + j + 1] > lcs[(i + 1) * (m + 1) + j]) {
            out.push(format!("+ {}", bm[j]));
            j += 1;
        } else {
            out.push(format!("- {}", am[i]));
            i += 1;
        }
    }
    for l in a[a.len() - tail..].iter().take(context) {
        out.push(format!("  {l}"));
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// JSON text pretty-printed when it parses, else as is: what [`CaseResult`] shows.
pub fn pretty(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_else(|_| text.to_owned()),
        Err(_) => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut r = Report::new("t", "1.1.0", "V1.0");
        r.cases.push(CaseResult::passed("a/1", "nhsa"));
        let mut f = CaseResult::failed("a/2", "nhsa", "wrong <amount> & more\u{1}");
        f.failed_rule = Some("NHSA-ID-2".into());
        f.expected = "{\n  \"x\": 1\n}".into();
        f.diff = line_diff(&f.expected, "{\n  \"x\": 2\n}");
        r.cases.push(f);
        r.cases
            .push(CaseResult::skipped("b/1", "legacy:guizhou", "since 9.0.0"));
        r
    }

    #[test]
    fn counts_and_text() {
        let r = sample();
        assert_eq!(r.summary_line(), "1 passed, 1 failed, 1 skipped");
        assert!(!r.is_success());
        let t = r.to_text();
        assert!(t.starts_with("FAIL a/2 [NHSA-ID-2]: wrong <amount>"), "{t}");
        let mut ok = r.clone();
        ok.cases[1].required = false;
        assert!(ok.is_success());
    }

    #[test]
    fn diff_marks_lines() {
        let d = line_diff("a\nb\nc\n", "a\nx\nc\n");
        assert_eq!(d, "  a\n- b\n+ x\n  c\n");
        assert_eq!(line_diff("same", "same"), "");
    }

    #[test]
    fn renderers_escape() {
        let r = sample();
        let x = r.to_junit_xml();
        assert!(x.contains("&lt;amount&gt; &amp; more\\u{1}"), "{x}");
        assert!(!x.contains('\u{1}'));
        let h = r.to_html();
        assert!(h.contains("data-status=\"failed\" open"));
        assert!(!h.contains("<script") && !h.contains("http://") && !h.contains("https://"));
        let j: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(j["summary"]["failed"], 1);
        assert_eq!(j["suite_version"], "1.1.0");
        assert_eq!(j["by_rule"]["NHSA-ID-2"]["failed"], 1);
    }
}
