//! `medsettle interregion status|reconcile|resolve`: cross-region exchange with peer regions'
//! gateways, on the running gateway (`specs/interregion.md`).

use anyhow::{Context, Result};
use clap::Subcommand;
use medsettle_ops::Config;
use medsettle_ops::remote::running_only;
use medsettle_service::interregion::{InterregionStatus, ReconReport};
use medsettle_service::interregion_clearing::ClearingReport;

use crate::exit::BadInput;

#[derive(Subcommand)]
pub enum InterregionCommand {
    /// Peers, exchanges in doubt and reconciliation alerts.
    Status {
        /// Print the JSON the gateway answers instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Reconcile one day with the peers (totals, then the detail when they differ); every
    /// difference is raised as an alert. Exit 1 when a peer differs or cannot be asked.
    Reconcile {
        /// The day, yyyy-MM-dd.
        #[arg(long)]
        date: String,
        /// Only this peer (its `[[peer]] name`).
        #[arg(long)]
        peer: Option<String>,
    },
    /// Resolve exchanges in doubt now (the gateway also does it on its own).
    Resolve,
}

pub(crate) fn ok_body(status: u16, body: &[u8]) -> Result<String> {
    let text = String::from_utf8_lossy(body).into_owned();
    match status {
        200 => Ok(text),
        400 => Err(BadInput::new(text.trim_end().to_owned()).into()),
        _ => anyhow::bail!("the gateway answered {status}: {}", text.trim_end()),
    }
}

pub fn run(cmd: InterregionCommand, config: &Config) -> Result<()> {
    match cmd {
        InterregionCommand::Status { json } => {
            let (status, body) = running_only(config, "interregion/status", None)?;
            let text = ok_body(status, &body)?;
            if json {
                println!("{text}");
                return Ok(());
            }
            let s: InterregionStatus =
                serde_json::from_str(&text).context("the gateway's status")?;
            println!("{} peer(s)", s.peers.len());
            for p in &s.peers {
                println!(
                    "  {:<16} {:<24} {:>8} rows treated, fund {}",
                    p.name,
                    p.admdvs.join(","),
                    p.treated_rows,
                    p.treated_fund_pay_sumamt
                );
            }
            println!("{} exchange(s) in doubt", s.in_doubt.len());
            for p in &s.in_doubt {
                println!(
                    "  {} {} {} → {} ({}), since {}",
                    p.fixmedins_code, p.msgid, p.infno, p.peer, p.peer_msgid, p.written_at
                );
            }
            println!("{} reconciliation alert(s)", s.alerts.len());
            for a in &s.alerts {
                println!(
                    "  {} {} {} {:?} aaa113 {}",
                    a.peer, a.date, a.difference.omsgid, a.difference.kind, a.difference.aaa113
                );
            }
        }
        InterregionCommand::Reconcile { date, peer } => {
            let body = serde_json::json!({"date": date, "peer": peer});
            let (status, answer) = running_only(
                config,
                "interregion/reconcile",
                Some(body.to_string().into_bytes()),
            )?;
            let reports: Vec<ReconReport> = serde_json::from_str(&ok_body(status, &answer)?)
                .context("the gateway's reports")?;
            let mut clean = true;
            for r in &reports {
                match (&r.error, r.agree) {
                    (Some(e), _) => {
                        clean = false;
                        println!("{} {}: not reconciled: {e}", r.peer, r.date);
                    }
                    (None, true) => println!(
                        "{} {}: no difference ({} forward, {} reversal; fund {})",
                        r.peer,
                        r.date,
                        r.ours.fwd_cnt,
                        r.ours.rev_cnt,
                        r.ours.fwd_fund_pay_sumamt + r.ours.rev_fund_pay_sumamt
                    ),
                    (None, false) => {
                        clean = false;
                        println!(
                            "{} {}: {} difference(s)",
                            r.peer,
                            r.date,
                            r.differences.len()
                        );
                        for d in &r.differences {
                            println!("  {} aaa113 {} {:?}", d.omsgid, d.aaa113, d.kind);
                        }
                    }
                }
            }
            if !clean {
                anyhow::bail!("reconciliation found differences");
            }
        }
        InterregionCommand::Resolve => {
            let (status, body) = running_only(config, "interregion/resolve", Some(b"{}".to_vec()))?;
            println!("{}", ok_body(status, &body)?);
        }
    }
    Ok(())
}

/// Where `settle clearing` writes the month's statements as files.
pub struct ClearingFiles {
    pub csv_dir: Option<std::path::PathBuf>,
    pub xlsx_dir: Option<std::path::PathBuf>,
}

/// `settle clearing [status] --month M`: one clearing run (or the report only) and its text.
pub fn clearing(
    config: &Config,
    month: &str,
    status_only: bool,
    files: ClearingFiles,
    json: bool,
) -> Result<()> {
    let (status, body) = if status_only {
        running_only(config, &format!("interregion/clearing?month={month}"), None)?
    } else {
        let body = serde_json::json!({ "month": month });
        running_only(
            config,
            "interregion/clearing",
            Some(body.to_string().into_bytes()),
        )?
    };
    let text = ok_body(status, &body)?;
    if json {
        println!("{text}");
    }
    let r: ClearingReport = serde_json::from_str(&text).context("the gateway's report")?;
    if let Some(dir) = &files.csv_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for s in &r.statements {
            let path = dir.join(format!("{}-{}.csv", s.stmt_id, s.role));
            medsettle_conformance::write_report_file(&path, &s.csv)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if let Some(dir) = &files.xlsx_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let book = medsettle_ops::console_xlsx::clearing_xlsx(&r)?;
        let path = dir.join(medsettle_ops::console_xlsx::clearing_workbook_name(
            &r.month,
        ));
        // a temporary name renamed into place: an earlier workbook is replaced whole or kept
        medsettle_conformance::write_report_file(&path, book)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if json {
        return Ok(());
    }
    println!("clearing {}: {} statement(s)", r.month, r.statements.len());
    for s in &r.statements {
        println!(
            "  {} ({}): {} line(s), count {}, medical {}, fund {}; {}{}, confirmed {}, refused {} ({} line(s)); statement due {}, transfer due {}",
            s.stmt_id,
            s.role,
            s.lines,
            s.count,
            s.medfee_sumamt,
            s.fund_pay_sumamt,
            if s.sent { "sent" } else { "not sent" },
            if s.replied {
                ", answered"
            } else {
                ", not answered"
            },
            s.confirmed_fund_pay_sumamt,
            s.refused_fund_pay_sumamt,
            s.refused_lines,
            s.statement_due.as_deref().unwrap_or("-"),
            s.transfer_due.as_deref().unwrap_or("-"),
        );
    }
    if !r.net.is_empty() {
        println!("net positions (receivable +, payable -):");
        for (p, v) in &r.net {
            println!("  {p} {v}");
        }
        for t in &r.transfers {
            println!(
                "  transfer {}: {} pays {} {}",
                t.transfer_id, t.payer, t.receiver, t.amount
            );
        }
    }
    for p in &r.prepayments {
        println!(
            "prepayment {} → {} for {}: prior year fund {}, required {}",
            p.insured_province,
            p.treatment_province,
            p.year,
            p.prior_year_fund_pay_sumamt,
            p.required
        );
    }
    for e in &r.errors {
        println!("error: {e}");
    }
    if !r.errors.is_empty() {
        anyhow::bail!("the clearing run met errors");
    }
    Ok(())
}
