//! `medsettle cert open|close|report|sessions`: vendor certification sessions on the running
//! gateway (`specs/certification.md`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use medsettle_ops::Config;
use medsettle_ops::certify_api::Graded;

use crate::exit::BadInput;

#[derive(Subcommand)]
pub enum CertCommand {
    /// Open a session for an institution: its traffic is recorded and the scenario's fault
    /// injected once; prints the session id.
    Open {
        #[arg(long)]
        institution: String,
        /// outpatient-account, fees-cancel-settle, lost-answer, unavailable,
        /// timeout-reverse, refusal-not-retried, inpatient-across-midnight.
        #[arg(long)]
        scenario: String,
        /// How long the timeout-reverse fault holds the answer, ms (default 40000).
        #[arg(long)]
        delay_ms: Option<u64>,
    },
    /// Close a session and print its graded report; exit 1 when a step failed.
    Close {
        session: String,
        /// Also write the report as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Also write the report as JUnit XML (for the vendor's CI).
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Also write the report as a self-contained HTML page (steps with what was sent and
        /// what came back).
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// A session's report so far (text).
    Report { session: String },
    /// Every session.
    Sessions,
}

fn ok_text(status: u16, body: &[u8]) -> Result<String> {
    let text = String::from_utf8_lossy(body).into_owned();
    match status {
        200 => Ok(text),
        400 => Err(BadInput::new(text.trim_end().to_owned()).into()),
        _ => anyhow::bail!("the gateway answered {status}: {}", text.trim_end()),
    }
}

pub fn run(cmd: CertCommand, config: &Config) -> Result<()> {
    use medsettle_ops::remote::running_only;
    match cmd {
        CertCommand::Open {
            institution,
            scenario,
            delay_ms,
        } => {
            let body = serde_json::json!({"institution": institution, "scenario": scenario, "delay_ms": delay_ms});
            let (status, answer) =
                running_only(config, "cert/open", Some(body.to_string().into_bytes()))?;
            let session: medsettle_certify::Session =
                serde_json::from_str(&ok_text(status, &answer)?)
                    .context("the gateway's session")?;
            println!("{}", session.id);
            println!(
                "session open for {}: {} ({})",
                session.institution,
                session.scenario.name(),
                session.scenario.description()
            );
        }
        CertCommand::Close {
            session,
            json,
            junit,
            html,
        } => {
            let body = serde_json::json!({ "session": session });
            let (status, answer) =
                running_only(config, "cert/close", Some(body.to_string().into_bytes()))?;
            let graded: Graded =
                serde_json::from_str(&ok_text(status, &answer)?).context("the gateway's report")?;
            print!("{}", graded.text);
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&graded)?;
                medsettle_conformance::write_report_file(&path, &text)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            let report = report_of(&graded);
            for (path, text) in [(junit, report.to_junit_xml()), (html, report.to_html())] {
                if let Some(path) = path {
                    medsettle_conformance::write_report_file(&path, &text)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
            }
            if graded.steps.iter().any(|s| !s.passed) {
                anyhow::bail!("the session has failed steps");
            }
        }
        CertCommand::Report { session } => {
            let (status, answer) =
                running_only(config, &format!("cert/report?session={session}"), None)?;
            print!("{}", ok_text(status, &answer)?);
        }
        CertCommand::Sessions => {
            let (status, answer) = running_only(config, "cert/sessions", None)?;
            print!("{}", ok_text(status, &answer)?);
        }
    }
    Ok(())
}

/// A session's graded steps in the conformance suite's report model: one case per step, with
/// the exchange it is about (what was sent, what came back).
fn report_of(g: &Graded) -> medsettle_conformance::report::Report {
    use medsettle_conformance::report::{CaseResult, Report};
    let mut report = Report::new(
        &format!(
            "certification session {} — {} — {}",
            g.session.id,
            g.session.institution,
            g.session.scenario.description()
        ),
        medsettle_certify::VERSION,
        medsettle_certify::INTERFACE_VERSION,
    );
    for (n, step) in g.steps.iter().enumerate() {
        let name = format!("{:03} {}", n + 1, step.name);
        let group = g.session.scenario.name();
        let mut case = if step.passed {
            CaseResult::passed(&name, group)
        } else {
            let mut c = CaseResult::failed(&name, group, &step.message);
            c.failed_rule = Some(step.rule.clone());
            c
        };
        case.description = step.message.clone();
        case.rules = vec![step.rule.clone()];
        if let Some(e) = step
            .seq
            .and_then(|seq| g.traffic.iter().find(|e| e.seq == seq))
        {
            case.sent = format!("POST {}\n{}", e.path, e.request);
            case.received = format!("HTTP {}\n{}", e.status, e.answer);
        }
        report.cases.push(case);
    }
    report
}
