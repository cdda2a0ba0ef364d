//! `medsettle calendar`: the working-day calendar that dates every payment (IS-D-4, IS-M-4).

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use medsettle_ops::open::{CALENDAR_WARN_DAYS_DEFAULT, load_calendar as load, today_in_china};
use medsettle_settlement::CalendarCoverage;
use time::Date;

use crate::exit::{BadInput, parse_date, say};

#[derive(Subcommand)]
pub enum CalendarCommand {
    /// Print the T+1 payment date of a claim settled on DATE (first line: the ISO date).
    PayDate {
        /// Settlement date, YYYY-MM-DD.
        date: String,
    },
    /// Count the working days after FROM up to and including TO.
    WorkingDays { from: String, to: String },
    /// Say whether DATE is a working day, and which holiday it is if not.
    Show { date: String },
    /// How far the calendar reaches from DATE (default: today, China time): the last day
    /// that can be dated (first line), and whether the next year's file is due.
    Coverage {
        date: Option<String>,
        /// Say the next year's file is due when at most this many days are left.
        #[arg(long, default_value_t = CALENDAR_WARN_DAYS_DEFAULT)]
        warn_days: u32,
    },
}

fn date_arg(name: &str, text: &str) -> Result<Date> {
    parse_date(text).map_err(|e| BadInput::new(format!("{name}: {e}")).into())
}

pub fn run(cmd: CalendarCommand, files: &[PathBuf]) -> Result<()> {
    let cal = load(files)?;
    // A date the calendar does not cover is the operator's input problem: refuse, never guess.
    let bad = |e: medsettle_settlement::SettlementError| {
        anyhow::Error::from(BadInput::new(e.to_string()))
    };
    match cmd {
        CalendarCommand::PayDate { date } => {
            let d = date_arg("DATE", &date)?;
            let pay = cal.next_working_day_after(d).map_err(bad)?;
            say(format!("{pay}"))?;
            let waited = cal.working_days_between(d, pay).map_err(bad)?;
            say(format!(
                "a claim settled on {d} ({}) is paid on {pay} ({}), T+{waited} working day(s)",
                d.weekday(),
                pay.weekday()
            ))?;
        }
        CalendarCommand::WorkingDays { from, to } => {
            let (f, t) = (date_arg("FROM", &from)?, date_arg("TO", &to)?);
            let n = cal.working_days_between(f, t).map_err(bad)?;
            say(format!("{n}"))?;
            say(format!("working days after {f} up to and including {t}"))?;
        }
        CalendarCommand::Coverage { date, warn_days } => {
            let d = match date {
                Some(text) => date_arg("DATE", &text)?,
                None => today_in_china(),
            };
            match cal.coverage_on(d, warn_days) {
                c @ CalendarCoverage::Uncovered { .. } => {
                    return Err(BadInput::new(c.to_string()).into());
                }
                c @ (CalendarCoverage::Covered { last, .. }
                | CalendarCoverage::EndingSoon { last, .. }
                | CalendarCoverage::Provisional {
                    last_official: last,
                    ..
                }) => {
                    // First line: the last officially covered day (scripts read it).
                    say(format!("{last}"))?;
                    say(format!("{c} (from {d})"))?;
                    say(cal.describe_years())?;
                }
            }
        }
        CalendarCommand::Show { date } => {
            let d = date_arg("DATE", &date)?;
            let working = cal.is_working_day(d).map_err(bad)?;
            match cal.holiday_name(d).map_err(bad)? {
                Some(name) => say(format!("{d} ({}) is a holiday: {name}", d.weekday()))?,
                None if working => say(format!("{d} ({}) is a working day", d.weekday()))?,
                None => say(format!("{d} ({}) is a weekend day", d.weekday()))?,
            }
        }
    }
    Ok(())
}
