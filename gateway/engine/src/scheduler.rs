//! When the daily close is due (pure: the clock is an input), for the server's background task.

use medsettle_canonical::CHINA_OFFSET;
use medsettle_settlement::Calendar;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, Time};

use crate::error::{EngineError, Result};

/// Default `daily_close_at`: 10:00 China time, leaving time to approve and send the batch
/// before the IS-D-5 cutoff (15:00 by default).
pub const DAILY_CLOSE_AT_DEFAULT: Time = match Time::from_hms(10, 0, 0) {
    Ok(t) => t,
    Err(_) => panic!("10:00 is a valid time"),
};

/// The daily-close schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheduler {
    /// Time of day (China time) from which the close of that day's payment date is due.
    pub daily_close_at: Time,
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler {
            daily_close_at: DAILY_CLOSE_AT_DEFAULT,
        }
    }
}

impl Scheduler {
    /// Parse `HH:MM` (China time).
    pub fn from_hhmm(text: &str) -> Result<Scheduler> {
        let bad = || EngineError::Rule {
            rule: "IS-D-5",
            detail: format!("daily_close_at {text:?} is not HH:MM"),
        };
        let (h, m) = text.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let t = Time::from_hms(
            h.parse().map_err(|_| bad())?,
            m.parse().map_err(|_| bad())?,
            0,
        )
        .map_err(|_| bad())?;
        Ok(Scheduler { daily_close_at: t })
    }

    /// The payment date whose daily close is due at `now`, if any: today (China time) when it
    /// is a working day (IS-D-4: money only moves on working days), the close time has passed,
    /// and today is after the last closed payment date. Days skipped while the gateway was down
    /// need no separate close: closing today takes every earlier pending claim.
    pub fn due(
        &self,
        now: OffsetDateTime,
        calendar: &Calendar,
        last_closed: Option<Date>,
    ) -> Result<Option<Date>> {
        let local = now.to_offset(CHINA_OFFSET);
        let today = local.date();
        if local.time() < self.daily_close_at
            || last_closed.is_some_and(|d| d >= today)
            || !calendar.is_working_day(today)?
        {
            return Ok(None);
        }
        Ok(Some(today))
    }
}
