//! `medsettle settle …`: the instant-settlement closings (IS-D, IS-M, IS-Q, IS-A) over the
//! journal. The gateway must be stopped (sled allows one process); `serve` runs the same
//! engine in the background (journal consumer and the scheduled daily close).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use medsettle_canonical::{CHINA_OFFSET, Money};
use medsettle_engine::{AnnualAmounts, DailyClose, Engine, EngineConfig};
use medsettle_settlement::{SettlementPolicy, YearMonth};
use medsettle_store::Store;
use time::{Date, OffsetDateTime};

use crate::config::{Config, read};
use crate::exit::{BadInput, parse_date};

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
    /// Consumer lag, open days, last closings.
    Status,
}

/// The instant-settlement engine of the configured pool region.
pub fn build_engine(config: &Config) -> Result<Engine> {
    let policy = SettlementPolicy::from_toml_str(&read(&config.settlement.policy)?)
        .map_err(|e| BadInput::new(format!("{}: {e}", config.settlement.policy.display())))?;
    let calendar = crate::calendar_cmd::load(&config.settlement.calendar)?;
    Ok(Engine::new(EngineConfig::new(
        policy,
        calendar,
        config.institutions()?,
        config.settlement.debtor.clone(),
    )))
}

fn date(name: &str, text: &str) -> Result<Date> {
    parse_date(text).map_err(|e| BadInput::new(format!("{name}: {e}")).into())
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().to_offset(CHINA_OFFSET)
}

fn write_report(config: &Config, name: &str, text: &str) -> Result<PathBuf> {
    let dir = config.reports_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn engine_err(e: medsettle_engine::EngineError) -> anyhow::Error {
    anyhow::anyhow!("[{}] {e}", e.rule())
}

/// Catch the engine up with the journal, drawing a progress bar for long runs.
pub fn catch_up(engine: &Engine, store: &dyn Store) -> Result<medsettle_engine::CatchUp> {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("reading the journal {bar:40} {pos}/{len} records")
            .expect("template"),
    );
    let result = engine
        .catch_up(store, &|done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .map_err(engine_err);
    bar.finish_and_clear();
    result
}

/// A closed payment date and where its CSV reports were written.
pub struct ClosedDay {
    pub close: DailyClose,
    pub summary_csv: PathBuf,
    pub detail_csv: PathBuf,
}

/// Close payment date `pay_date` and write its CSV reports. Prints nothing: the CLI prints
/// ([`print_closed`]), `serve` logs (its standard output carries only the address line).
pub fn close_daily(
    config: &Config,
    engine: &Engine,
    store: &dyn Store,
    pay_date: Date,
) -> Result<ClosedDay> {
    // close_day catches up with the journal itself.
    let close = engine
        .close_day(store, pay_date, now())
        .map_err(engine_err)?;
    let summary_csv = write_report(
        config,
        &format!("daily-{pay_date}-summary.csv"),
        &close.summary_csv,
    )?;
    let detail_csv = write_report(
        config,
        &format!("daily-{pay_date}-detail.csv"),
        &close.detail_csv,
    )?;
    Ok(ClosedDay {
        close,
        summary_csv,
        detail_csv,
    })
}

pub fn print_closed(day: &ClosedDay) {
    print_daily(&day.close);
    println!(
        "reports: {} and {}",
        day.summary_csv.display(),
        day.detail_csv.display()
    );
}

pub fn print_daily(close: &DailyClose) {
    let s = &close.run.summary;
    println!(
        "daily payment summary (支付汇总单) {} for pay date {}{}",
        close.run.run_id,
        s.pay_date,
        if close.already_closed {
            " (closed before; stored result)"
        } else {
            ""
        }
    );
    let dates: Vec<String> = s.settlement_dates.iter().map(ToString::to_string).collect();
    println!("  settlement dates: {}", dates.join(", "));
    println!("  send to the bank before {} (IS-D-5)", s.send_before);
    println!(
        "  {:<14} {:>7} {:>14} {:>12} {:>14}",
        "institution", "claims", "claims total", "offsets", "pay"
    );
    for l in &close.run.lines {
        println!(
            "  {:<14} {:>7} {:>14} {:>12} {:>14}",
            l.fixmedins_code,
            l.claims.len(),
            l.claims_total.to_string(),
            (l.offset_in + l.failed_in).to_string(),
            l.pay_amount.to_string()
        );
    }
    for k in &close.run.skipped {
        println!(
            "  {:<14} skipped [{}] {} ({} withheld)",
            k.fixmedins_code, k.rule, k.reason, k.claims_total
        );
    }
    println!(
        "  total: {} institutions paid {} for {} claims; carried {}; ledger balanced: {}",
        s.institutions_paid,
        s.pay_total,
        s.claims,
        s.carried_out,
        close.audit.total_debits == close.audit.total_credits
    );
}

fn read_opt(p: &Option<PathBuf>, header: &str) -> Result<String> {
    match p {
        Some(p) => read(p),
        None => Ok(format!("{header}\n")),
    }
}

fn csv_pairs(path: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    for (i, row) in r.records().enumerate() {
        let row = row?;
        let (Some(code), Some(v)) = (row.get(0), row.get(1)) else {
            anyhow::bail!(BadInput::new(format!(
                "{} line {}: two columns expected",
                path.display(),
                i + 2
            )));
        };
        out.insert(code.to_owned(), v.to_owned());
    }
    Ok(out)
}

pub fn run(cmd: SettleCommand, config: &Config) -> Result<()> {
    let store = crate::serve::open_store(config)?;
    let engine = build_engine(config)?;
    match cmd {
        SettleCommand::CatchUp => {
            let c = catch_up(&engine, store.as_ref())?;
            println!(
                "read {} records: {} claims taken in, {} already known, {} outside daily scope; next offset {}",
                c.records_seen, c.claims_fed, c.duplicates, c.out_of_scope, c.next_offset
            );
        }
        SettleCommand::Daily { date: d } => {
            let pay_date = date("--date", &d)?;
            catch_up(&engine, store.as_ref())?;
            print_closed(&close_daily(config, &engine, store.as_ref(), pay_date)?);
        }
        SettleCommand::Month {
            period,
            declarations,
            deductions,
            advances,
            pay_date,
        } => {
            let ym = YearMonth::parse(&period)
                .ok_or_else(|| BadInput::new(format!("--period: `{period}` is not YYYY-MM")))?;
            catch_up(&engine, store.as_ref())?;
            let m = engine
                .close_month(
                    store.as_ref(),
                    ym,
                    &read(&declarations)?,
                    &read_opt(&deductions, "fixmedins_code,month,amount,reason")?,
                    &read_opt(&advances, "fixmedins_code,month,distributor_code,amount")?,
                    date("--pay-date", &pay_date)?,
                    now(),
                )
                .map_err(engine_err)?;
            let path = write_report(config, &format!("monthly-{period}.csv"), &m.csv)?;
            println!(
                "monthly settlement {period}: {} payments, total {}; report {}",
                m.batch.payments.len(),
                m.batch.control_sum(),
                path.display()
            );
            println!(
                "ledger balanced: {}",
                m.audit.total_debits == m.audit.total_credits
            );
        }
        SettleCommand::Quarter {
            year,
            quarter,
            cases,
            pay_date,
        } => {
            catch_up(&engine, store.as_ref())?;
            let q = engine
                .close_quarter(
                    store.as_ref(),
                    year,
                    quarter,
                    &read(&cases)?,
                    date("--pay-date", &pay_date)?,
                    now(),
                )
                .map_err(engine_err)?;
            println!(
                "quarterly supplements {year}Q{quarter}: {} lines, {} payments, total {}",
                q.lines.len(),
                q.batch.payments.len(),
                q.batch.control_sum()
            );
        }
        SettleCommand::Year {
            year,
            as_of,
            dip_cases,
            coefficients,
            budget,
            amounts,
            scores,
            pay_date,
        } => {
            catch_up(&engine, store.as_ref())?;
            let amounts = match (dip_cases, coefficients, budget, amounts) {
                (Some(c), Some(k), Some(b), None) => AnnualAmounts::Dip {
                    cases_csv: read(&c)?,
                    coefficients_csv: read(&k)?,
                    regional_budget: Money::parse_yuan(&b)
                        .map_err(|e| BadInput::new(format!("--budget: {e}")))?,
                },
                (None, None, None, Some(a)) => AnnualAmounts::Given(
                    csv_pairs(&a)?
                        .into_iter()
                        .map(|(k, v)| {
                            Ok((
                                k,
                                Money::parse_yuan(&v)
                                    .map_err(|e| BadInput::new(format!("{}: {e}", a.display())))?,
                            ))
                        })
                        .collect::<Result<_>>()?,
                ),
                _ => anyhow::bail!(BadInput::new(
                    "give either --dip-cases, --coefficients and --budget, or --amounts"
                )),
            };
            let scores = csv_pairs(&scores)?
                .into_iter()
                .map(|(k, v)| {
                    Ok((
                        k,
                        v.parse::<u32>().map_err(|_| {
                            BadInput::new(format!("score `{v}` is not a whole number"))
                        })?,
                    ))
                })
                .collect::<Result<BTreeMap<_, _>>>()?;
            let a = engine
                .close_year(
                    store.as_ref(),
                    year,
                    date("--as-of", &as_of)?,
                    &amounts,
                    &scores,
                    date("--pay-date", &pay_date)?,
                    now(),
                )
                .map_err(engine_err)?;
            println!(
                "annual clearing {year}: {} payments, total {}",
                a.batch.payments.len(),
                a.batch.control_sum()
            );
        }
        SettleCommand::ReconcileDetail {
            institution,
            from,
            to,
            rows,
        } => {
            let rows = medsettle_settlement::recon::Stmt3202Row::from_csv_str(&read(&rows)?)
                .map_err(|e| BadInput::new(format!("--rows: {e}")))?;
            let results = engine
                .reconcile_3202(
                    store.as_ref(),
                    &institution,
                    date("--from", &from)?,
                    date("--to", &to)?,
                    &rows,
                )
                .map_err(engine_err)?;
            let differ = results
                .iter()
                .filter(|r| !matches!(r.finding, medsettle_settlement::recon::DetailFinding::Match))
                .count();
            print!(
                "{}",
                medsettle_settlement::recon::detail_results_csv(&results)
            );
            eprintln!("{} settlements compared, {differ} differ", results.len());
        }
        SettleCommand::Status => print!("{}", status_text(&engine, store.as_ref())?),
    }
    Ok(())
}

/// The `settle status` text: the engine's consumer, its lag, and the open settlement days.
pub fn status_text(engine: &Engine, store: &dyn Store) -> Result<String> {
    use std::fmt::Write as _;
    let s = engine.status(store).map_err(engine_err)?;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "consumer {}: next offset {}, lag {} records",
        s.consumer, s.next_offset, s.lag
    );
    let _ = writeln!(t, "claims indexed for reconciliation: {}", s.claims_indexed);
    let _ = writeln!(
        t,
        "last daily close: {}",
        s.last_daily.map_or("-".into(), |d| d.to_string())
    );
    for d in &s.open_days {
        let _ = writeln!(
            t,
            "open settlement date {}: {} claims, pay date {}",
            d.settlement_date,
            d.pending_claims,
            d.pay_date.map_or("-".into(), |p| p.to_string())
        );
    }
    Ok(t)
}
