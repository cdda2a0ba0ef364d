//! `medsettle settle …`: the instant-settlement closings (IS-D, IS-M, IS-Q, IS-A) and 3202
//! detail reconciliation. Each is an operator action of `medsettle_ops`: performed by the
//! gateway running on the configuration, or on the journal directly when none runs.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use medsettle_ops::settle::{
    MonthInput, NamedText, QuarterInput, ReconcileInput, SuspensionInput, YearInput,
};
use medsettle_ops::{Action, Config, Query};

use crate::exit::BadInput;

#[derive(Subcommand)]
pub enum SettleCommand {
    /// Read new settled claims from the journal into the daily aggregates.
    CatchUp,
    /// Close payment date DATE (T+1 of the claims' settlement dates; holiday dates accumulate
    /// onto the next working day) and approve its payment summary.
    Daily {
        /// The payment date, YYYY-MM-DD.
        #[arg(long)]
        date: String,
    },
    /// Monthly settlement (IS-M-3) from the institutions' declarations, audit deductions and
    /// procurement advances (CSV files; formats in specs/instant-settlement.md).
    Month {
        /// YYYY-MM
        #[arg(long)]
        period: String,
        #[arg(long)]
        declarations: PathBuf,
        #[arg(long)]
        deductions: Option<PathBuf>,
        #[arg(long)]
        advances: Option<PathBuf>,
        /// Payment date of the monthly amounts, YYYY-MM-DD.
        #[arg(long)]
        pay_date: String,
    },
    /// Quarterly supplements (IS-Q-1) from approved special cases.
    Quarter {
        #[arg(long)]
        year: i32,
        #[arg(long)]
        quarter: u8,
        #[arg(long)]
        cases: PathBuf,
        #[arg(long)]
        pay_date: String,
    },
    /// Annual clearing (IS-A-2/3/4): DIP points, or given amounts per institution.
    Year {
        #[arg(long)]
        year: i32,
        #[arg(long)]
        as_of: String,
        /// DIP cases CSV (fixmedins_code,setl_id,points) — with --coefficients and --budget.
        #[arg(long)]
        dip_cases: Option<PathBuf>,
        #[arg(long)]
        coefficients: Option<PathBuf>,
        /// Regional DIP budget in yuan (exact decimal).
        #[arg(long)]
        budget: Option<String>,
        /// Or: annual clearing amounts per institution (CSV fixmedins_code,amount).
        #[arg(long)]
        amounts: Option<PathBuf>,
        /// Annual assessment scores (CSV fixmedins_code,score).
        #[arg(long)]
        scores: PathBuf,
        #[arg(long)]
        pay_date: String,
    },
    /// 3202 detail reconciliation (IS-D-9): compare an institution's detail rows
    /// (`setl_id,mdtrt_id,psn_no,medfee_sumamt,fund_pay_sumamt,acct_pay,refd_setl_flag`)
    /// with the journal; prints the result file (national columns, CSV).
    ReconcileDetail {
        #[arg(long)]
        institution: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// The institution's rows (CSV with a header).
        #[arg(long)]
        rows: PathBuf,
    },
    /// Suspend an institution's daily disbursement (IS-RK-2) until resumed; its claims are
    /// then paid by the monthly settlement.
    Suspend {
        #[arg(long)]
        institution: String,
        /// Why (kept, shown by `settle status` and in every skipped close).
        #[arg(long)]
        reason: String,
    },
    /// Resume an institution's daily disbursement.
    Resume {
        #[arg(long)]
        institution: String,
    },
    /// Consumer lag, open days, suspensions, last closings.
    Status,
    /// Monthly clearing between provinces (cross-region, specs/interregion.md): send this
    /// month's statements to the peers, answer theirs line by line, apply their answers, net;
    /// `clearing status` reports without sending. Needs the running gateway.
    Clearing {
        /// `status`: report only.
        #[arg(value_parser = ["status"])]
        status: Option<String>,
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// Write each statement as CSV into this directory (`<stmt_id>.csv`).
        #[arg(long)]
        csv_dir: Option<PathBuf>,
        /// Write the month's clearing as a workbook into this directory
        /// (`clearing-YYYY-MM.xlsx`: a summary sheet and one sheet per statement).
        #[arg(long)]
        xlsx_dir: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The prepayment between provinces (预付金, specs/interregion.md §6.8): as place of
    /// treatment, size each peer province's prepayment for the year from the prior year's
    /// payments and send the top-up, refund or unchanged notice; post every acknowledged
    /// movement and pay what this province owes (a top-up it was asked for, a refund it owes).
    /// `status` reports without sending; `draw` draws an insured province's overdue transfer
    /// of a month's clearing from its prepayment held here. Needs the running gateway.
    Prepayment {
        /// `status`: report only; `draw`: draw an overdue transfer (with --month, --insured).
        #[arg(value_parser = ["status", "draw"])]
        action: Option<String>,
        /// The year the prepayment covers, YYYY (run and status).
        #[arg(long, required_unless_present = "month")]
        year: Option<i32>,
        /// The month whose transfer is overdue, YYYY-MM (draw).
        #[arg(long, requires = "insured", conflicts_with = "year")]
        month: Option<String>,
        /// The insured province (or any of its region codes) that did not pay (draw).
        #[arg(long, requires = "month")]
        insured: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// An input file's text; a file that cannot be read is the operator's to fix.
pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| BadInput::new(format!("reading {}: {e}", path.display())).into())
}

fn read_opt(path: Option<&PathBuf>) -> Result<Option<String>> {
    path.map(|p| read(p)).transpose()
}

fn named(path: &Path) -> Result<NamedText> {
    Ok(NamedText {
        name: path.display().to_string(),
        text: read(path)?,
    })
}

/// The action a command asks for, its input files read here (they travel in the request).
fn action(cmd: SettleCommand) -> Result<Action> {
    Ok(match cmd {
        SettleCommand::CatchUp => Action::SettleCatchUp,
        SettleCommand::Clearing { .. } | SettleCommand::Prepayment { .. } => {
            unreachable!("answered by the running gateway")
        }
        SettleCommand::Daily { date } => Action::SettleDaily { date },
        SettleCommand::Month {
            period,
            declarations,
            deductions,
            advances,
            pay_date,
        } => Action::SettleMonth(MonthInput {
            period,
            declarations_csv: read(&declarations)?,
            deductions_csv: read_opt(deductions.as_ref())?,
            advances_csv: read_opt(advances.as_ref())?,
            pay_date,
        }),
        SettleCommand::Quarter {
            year,
            quarter,
            cases,
            pay_date,
        } => Action::SettleQuarter(QuarterInput {
            year,
            quarter,
            cases_csv: read(&cases)?,
            pay_date,
        }),
        SettleCommand::Year {
            year,
            as_of,
            dip_cases,
            coefficients,
            budget,
            amounts,
            scores,
            pay_date,
        } => Action::SettleYear(YearInput {
            year,
            as_of,
            dip_cases_csv: read_opt(dip_cases.as_ref())?,
            coefficients_csv: read_opt(coefficients.as_ref())?,
            budget,
            amounts_csv: amounts.as_deref().map(named).transpose()?,
            scores_csv: named(&scores)?,
            pay_date,
        }),
        SettleCommand::ReconcileDetail {
            institution,
            from,
            to,
            rows,
        } => Action::SettleReconcileDetail(ReconcileInput {
            institution,
            from,
            to,
            rows_csv: read(&rows)?,
        }),
        SettleCommand::Suspend {
            institution,
            reason,
        } => Action::InstitutionSuspend(SuspensionInput {
            institution,
            reason: Some(reason),
        }),
        SettleCommand::Resume { institution } => Action::InstitutionResume(SuspensionInput {
            institution,
            reason: None,
        }),
        SettleCommand::Status => unreachable!("a read, not an action"),
    })
}

pub fn run(cmd: SettleCommand, config: &Config, op_id: Option<String>) -> Result<()> {
    if let SettleCommand::Status = cmd {
        crate::exit::print(&medsettle_ops::read(config, Query::SettleStatus)?)?;
        return Ok(());
    }
    if let SettleCommand::Clearing {
        status,
        month,
        csv_dir,
        xlsx_dir,
        json,
    } = cmd
    {
        let out = crate::interregion_cmd::ClearingFiles { csv_dir, xlsx_dir };
        return crate::interregion_cmd::clearing(config, &month, status.is_some(), out, json);
    }
    if let SettleCommand::Prepayment {
        action,
        year,
        month,
        insured,
        json,
    } = cmd
    {
        use crate::prepayment_cmd::{PrepaymentAsk, prepayment};
        let ask = match (action.as_deref(), year, month, insured) {
            (Some("draw"), None, Some(month), Some(insured)) => {
                PrepaymentAsk::Draw { month, insured }
            }
            (Some("draw"), ..) => {
                return Err(BadInput::new("draw takes --month and --insured").into());
            }
            (status, Some(year), None, None) => PrepaymentAsk::Year {
                year,
                status_only: status == Some("status"),
            },
            _ => {
                return Err(BadInput::new(
                    "--year for a run or status; draw --month M --insured P",
                )
                .into());
            }
        };
        return prepayment(config, ask, json);
    }
    crate::exit::perform(config, &action(cmd)?, op_id)
}
