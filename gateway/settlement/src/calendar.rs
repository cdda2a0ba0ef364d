//! The working-day calendar (工作日历) of mainland China, as data (`specs/calendar/cn-YYYY.toml`).
//!
//! A working day is Monday–Friday that is not a public holiday, plus the weekend days the State
//! Council declares working days (调休上班). The schedule is published each November, so it is
//! data an operator edits, never code. A date in a year the calendar has no file for is an error
//! ("calendar has no data for 2027") — including when a search walks past the last covered day —
//! because a payment date that is a guess is worse than no payment date (IS-D-4, IS-M-4).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Month, Weekday};

use crate::error::{CALENDAR_RULE, Result, SettlementError};

/// The calendar files shipped with the crate, so the binary works with no files around.
pub const EMBEDDED_CALENDARS: [&str; 2] = [
    include_str!("../../../specs/calendar/cn-2025.toml"),
    include_str!("../../../specs/calendar/cn-2026.toml"),
];

/// How far the calendar reaches from a given day ([`Calendar::coverage_on`]). A claim settled
/// on the last covered day already needs the next year for its T+1 payment date, so the next
/// year's file must be in place before then; the State Council publishes it each November.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarCoverage {
    /// Covered through `last`, more than the warning window away.
    Covered { last: Date, days_left: i64 },
    /// Covered through `last`, only `days_left` days away: add the next year's file.
    EndingSoon { last: Date, days_left: i64 },
    /// The day's own year has no data: no payment can be dated.
    Uncovered { year: i32 },
}

impl CalendarCoverage {
    /// Days covered after the day asked about (-1 when its own year is not covered), for a
    /// gauge operators can alert on.
    pub fn days_left(self) -> i64 {
        match self {
            CalendarCoverage::Covered { days_left, .. }
            | CalendarCoverage::EndingSoon { days_left, .. } => days_left,
            CalendarCoverage::Uncovered { .. } => -1,
        }
    }
}

impl fmt::Display for CalendarCoverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalendarCoverage::Covered { last, days_left } => {
                write!(
                    f,
                    "the working-day calendar covers through {last} ({days_left} days)"
                )
            }
            CalendarCoverage::EndingSoon { last, days_left } => write!(
                f,
                "the working-day calendar ends on {last}, in {days_left} days: claims settled from \
                 then on cannot be given a T+1 payment date; add the file for {} \
                 (specs/calendar/cn-{}.toml format) to [settlement] calendar",
                last.year() + 1,
                last.year() + 1
            ),
            CalendarCoverage::Uncovered { year } => write!(
                f,
                "the working-day calendar has no data for {year}: no payment can be dated; add \
                 the file for {year} (specs/calendar/cn-{year}.toml format) to [settlement] calendar"
            ),
        }
    }
}

/// A calendar month, written `YYYY-MM` (the settlement period of IS-M).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YearMonth {
    pub year: i32,
    pub month: Month,
}

impl YearMonth {
    pub fn of(date: Date) -> YearMonth {
        YearMonth {
            year: date.year(),
            month: date.month(),
        }
    }

    pub fn first_day(self) -> Date {
        Date::from_calendar_date(self.year, self.month, 1).expect("day 1 exists")
    }

    pub fn last_day(self) -> Date {
        self.next()
            .first_day()
            .previous_day()
            .expect("not the first day of time")
    }

    pub fn next(self) -> YearMonth {
        if self.month == Month::December {
            YearMonth {
                year: self.year + 1,
                month: Month::January,
            }
        } else {
            YearMonth {
                year: self.year,
                month: self.month.next(),
            }
        }
    }

    /// Parse `YYYY-MM`.
    pub fn parse(text: &str) -> Option<YearMonth> {
        let (y, m) = text.split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        let year: i32 = y.parse().ok()?;
        let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
        Some(YearMonth { year, month })
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, u8::from(self.month))
    }
}

impl Serialize for YearMonth {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for YearMonth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        YearMonth::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not YYYY-MM")))
    }
}

/// Format a date as `yyyymmdd` (payment ids, batch ids).
pub fn compact_date(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Format a date as `yyyy-MM-dd` (reports).
pub fn iso_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Parse `yyyy-MM-dd`.
pub fn parse_iso_date(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year: i32 = text[0..4].parse().ok()?;
    let month: u8 = text[5..7].parse().ok()?;
    let day: u8 = text[8..10].parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYear {
    year: i32,
    #[serde(default)]
    source: String,
    #[serde(default)]
    holiday: Vec<RawHoliday>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    name: String,
    from: toml::value::Datetime,
    to: toml::value::Datetime,
    #[serde(default)]
    working_days: Vec<toml::value::Datetime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct YearData {
    source: String,
    /// Days off, with the name of the holiday they belong to.
    holidays: BTreeMap<Date, String>,
    /// Weekend days declared working days.
    working_weekend_days: BTreeSet<Date>,
}

/// A validated working-day calendar covering a set of whole years.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    years: BTreeMap<i32, YearData>,
}

fn is_weekend(d: Date) -> bool {
    matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

impl Calendar {
    /// The calendars shipped in `specs/calendar/` (2025, 2026), compiled in.
    pub fn embedded() -> Calendar {
        Calendar::from_toml_strs(&EMBEDDED_CALENDARS).expect("the shipped calendar files are valid")
    }

    /// Parse and validate one TOML text per year. Each file must cover a different year.
    pub fn from_toml_strs(texts: &[&str]) -> Result<Calendar> {
        let mut years = BTreeMap::new();
        for (i, text) in texts.iter().enumerate() {
            let label = format!("#{}", i + 1);
            let raw: RawYear = toml::from_str(text).map_err(|e| SettlementError::Calendar {
                rule: CALENDAR_RULE,
                file: label.clone(),
                message: format!("not a calendar file: {e}"),
            })?;
            let file = format!("{label} ({})", raw.year);
            let data = validate_year(&raw, &file)?;
            if years.insert(raw.year, data).is_some() {
                return Err(SettlementError::Calendar {
                    rule: CALENDAR_RULE,
                    file,
                    message: format!("year {} is given by more than one file", raw.year),
                });
            }
        }
        if years.is_empty() {
            return Err(SettlementError::Calendar {
                rule: CALENDAR_RULE,
                file: "(none)".into(),
                message: "no calendar file given".into(),
            });
        }
        Ok(Calendar { years })
    }

    /// The years with data, ascending.
    pub fn years(&self) -> Vec<i32> {
        self.years.keys().copied().collect()
    }

    /// The last day of the run of covered years that starts with `from`'s year: every day
    /// from `from` through it can be dated, the day after cannot. `None` when `from`'s own
    /// year has no data.
    pub fn covered_through(&self, from: Date) -> Option<Date> {
        let mut year = from.year();
        if !self.years.contains_key(&year) {
            return None;
        }
        while self.years.contains_key(&(year + 1)) {
            year += 1;
        }
        Date::from_calendar_date(year, Month::December, 31).ok()
    }

    /// What an operator must be told about the calendar on `today`: nothing while more than
    /// `warn_days` days are covered after it (see [`CalendarCoverage`]).
    pub fn coverage_on(&self, today: Date, warn_days: u32) -> CalendarCoverage {
        match self.covered_through(today) {
            None => CalendarCoverage::Uncovered { year: today.year() },
            Some(last) => {
                let days_left = (last - today).whole_days();
                if days_left <= i64::from(warn_days) {
                    CalendarCoverage::EndingSoon { last, days_left }
                } else {
                    CalendarCoverage::Covered { last, days_left }
                }
            }
        }
    }

    fn year(&self, d: Date) -> Result<&YearData> {
        self.years
            .get(&d.year())
            .ok_or(SettlementError::CalendarNoData { year: d.year() })
    }

    /// Whether `d` is a working day. Errors for a year without data.
    pub fn is_working_day(&self, d: Date) -> Result<bool> {
        let y = self.year(d)?;
        Ok(if y.working_weekend_days.contains(&d) {
            true
        } else if y.holidays.contains_key(&d) {
            false
        } else {
            !is_weekend(d)
        })
    }

    /// The holiday `d` falls in, if any (for explanations in reports).
    pub fn holiday_name(&self, d: Date) -> Result<Option<&str>> {
        Ok(self.year(d)?.holidays.get(&d).map(String::as_str))
    }

    /// IS-D-4 (T+1): the first working day strictly after `d`. `d` itself must be covered, and
    /// so must every day the search walks through.
    pub fn next_working_day_after(&self, d: Date) -> Result<Date> {
        self.year(d)?;
        let mut cur = d;
        loop {
            cur = cur
                .next_day()
                .ok_or(SettlementError::CalendarNoData { year: i32::MAX })?;
            if self.is_working_day(cur)? {
                return Ok(cur);
            }
        }
    }

    /// The `n`-th working day strictly after `d` (`n = 0` is `d` itself, whatever it is), so
    /// `add_working_days(d, 1) == next_working_day_after(d)`.
    pub fn add_working_days(&self, d: Date, n: u32) -> Result<Date> {
        self.year(d)?;
        let mut cur = d;
        for _ in 0..n {
            cur = self.next_working_day_after(cur)?;
        }
        Ok(cur)
    }

    /// Number of working days in the half-open interval `(from, to]`: after `from`, up to and
    /// including `to`. So `working_days_between(d, add_working_days(d, n)) == n`, and the count
    /// from a deadline to a payment date is "how many working days the payment took".
    /// `to < from` is an error (a negative span is a caller bug we refuse to hide).
    pub fn working_days_between(&self, from: Date, to: Date) -> Result<u32> {
        self.year(from)?;
        self.year(to)?;
        if to < from {
            return Err(SettlementError::rule_err(
                CALENDAR_RULE,
                medsettle_canonical::Fault::Internal,
                format!("working_days_between: {to} is before {from}"),
            ));
        }
        let mut n = 0;
        let mut cur = from;
        while cur < to {
            cur = cur.next_day().expect("bounded by `to`");
            if self.is_working_day(cur)? {
                n += 1;
            }
        }
        Ok(n)
    }
}

fn toml_date(v: &toml::value::Datetime, file: &str, what: &str) -> Result<Date> {
    let err = |m: String| SettlementError::Calendar {
        rule: CALENDAR_RULE,
        file: file.to_owned(),
        message: m,
    };
    match (&v.date, &v.time, &v.offset) {
        (Some(d), None, None) => Month::try_from(d.month)
            .ok()
            .and_then(|m| Date::from_calendar_date(i32::from(d.year), m, d.day).ok())
            .ok_or_else(|| err(format!("{what}: {v} is not a date"))),
        _ => Err(err(format!(
            "{what}: {v} must be a plain date like 2025-10-01"
        ))),
    }
}

fn validate_year(raw: &RawYear, file: &str) -> Result<YearData> {
    let err = |m: String| SettlementError::Calendar {
        rule: CALENDAR_RULE,
        file: file.to_owned(),
        message: m,
    };
    if !(2000..=2100).contains(&raw.year) {
        return Err(err(format!("year {} is not plausible", raw.year)));
    }
    let mut holidays: BTreeMap<Date, String> = BTreeMap::new();
    let mut working: BTreeSet<Date> = BTreeSet::new();
    for h in &raw.holiday {
        if h.name.trim().is_empty() {
            return Err(err("a holiday has no name".into()));
        }
        let from = toml_date(&h.from, file, &format!("{}.from", h.name))?;
        let to = toml_date(&h.to, file, &format!("{}.to", h.name))?;
        for (d, what) in [(from, "from"), (to, "to")] {
            if d.year() != raw.year {
                return Err(err(format!(
                    "{} {what} {d} is outside the file's year {}",
                    h.name, raw.year
                )));
            }
        }
        if to < from {
            return Err(err(format!(
                "{}: `to` {to} is before `from` {from}",
                h.name
            )));
        }
        let mut d = from;
        loop {
            if let Some(other) = holidays.insert(d, h.name.clone()) {
                return Err(err(format!(
                    "{d} is listed under both {other} and {}",
                    h.name
                )));
            }
            if d == to {
                break;
            }
            d = d.next_day().expect("bounded by `to`");
        }
        for w in &h.working_days {
            let w = toml_date(w, file, &format!("{}.working_days", h.name))?;
            if w.year() != raw.year {
                return Err(err(format!(
                    "{}: declared working day {w} is outside the file's year {}",
                    h.name, raw.year
                )));
            }
            if !is_weekend(w) {
                return Err(err(format!(
                    "{}: declared working day {w} is a {}, not a weekend day; only weekend days can be swapped into working days",
                    h.name,
                    w.weekday()
                )));
            }
            if !working.insert(w) {
                return Err(err(format!("declared working day {w} is listed twice")));
            }
        }
    }
    if let Some(both) = working.iter().find(|w| holidays.contains_key(w)) {
        return Err(err(format!(
            "{both} is both a holiday and a declared working day"
        )));
    }
    // A holiday season must actually take a working day off, or it is a typo (e.g. a wrong
    // year that puts the whole range on a weekend).
    for name in holidays.values().collect::<BTreeSet<_>>() {
        if !holidays.iter().any(|(d, n)| n == name && !is_weekend(*d)) {
            return Err(err(format!(
                "holiday {name} falls entirely on weekend days; it takes no working day off"
            )));
        }
    }
    Ok(YearData {
        source: raw.source.clone(),
        holidays,
        working_weekend_days: working,
    })
}

impl Calendar {
    /// Where a year's data came from (the State Council notice), for reports.
    pub fn source_of(&self, year: i32) -> Option<&str> {
        self.years.get(&year).map(|y| y.source.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn cal() -> Calendar {
        Calendar::embedded()
    }

    #[test]
    fn cn_calendar_example_1_friday_before_declared_saturday() {
        assert_eq!(
            cal().next_working_day_after(date!(2026 - 02 - 13)).unwrap(),
            date!(2026 - 02 - 14)
        );
    }

    #[test]
    fn cn_calendar_example_2_declared_saturday_before_spring_festival() {
        assert_eq!(
            cal().next_working_day_after(date!(2026 - 02 - 14)).unwrap(),
            date!(2026 - 02 - 24)
        );
    }

    #[test]
    fn cn_calendar_example_3_national_day_holiday() {
        assert_eq!(
            cal().next_working_day_after(date!(2025 - 10 - 01)).unwrap(),
            date!(2025 - 10 - 09)
        );
    }

    #[test]
    fn cn_calendar_example_4_declared_sunday() {
        assert_eq!(
            cal().next_working_day_after(date!(2025 - 09 - 26)).unwrap(),
            date!(2025 - 09 - 28)
        );
    }

    /// Weekends-only test calendars for `years`: coverage tests must not change when the
    /// next year's official file is shipped.
    fn weekends(years: &[i32]) -> Calendar {
        let texts: Vec<String> = years
            .iter()
            .map(|y| format!("year = {y}\nsource = \"test: weekends only\"\n"))
            .collect();
        Calendar::from_toml_strs(&texts.iter().map(String::as_str).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn coverage_runs_through_consecutive_years_only() {
        let c = weekends(&[2025, 2026]);
        assert_eq!(
            c.covered_through(date!(2025 - 03 - 01)),
            Some(date!(2026 - 12 - 31))
        );
        assert_eq!(c.covered_through(date!(2027 - 01 - 01)), None);
        // A gap ends the run: 2025 and 2027 without 2026 covers 2025 only.
        let gap = weekends(&[2025, 2027]);
        assert_eq!(
            gap.covered_through(date!(2025 - 06 - 01)),
            Some(date!(2025 - 12 - 31))
        );
    }

    #[test]
    fn coverage_warns_inside_the_window_and_fails_outside_the_years() {
        let c = weekends(&[2026]);
        assert_eq!(
            c.coverage_on(date!(2026 - 10 - 01), 60),
            CalendarCoverage::Covered {
                last: date!(2026 - 12 - 31),
                days_left: 91
            }
        );
        let soon = c.coverage_on(date!(2026 - 12 - 02), 60);
        assert_eq!(
            soon,
            CalendarCoverage::EndingSoon {
                last: date!(2026 - 12 - 31),
                days_left: 29
            }
        );
        assert!(soon.to_string().contains("add the file for 2027"), "{soon}");
        // The window's edge is inclusive: 60 days left warns.
        assert!(matches!(
            c.coverage_on(date!(2026 - 11 - 01), 60),
            CalendarCoverage::EndingSoon { days_left: 60, .. }
        ));
        let none = c.coverage_on(date!(2027 - 01 - 04), 60);
        assert_eq!(none, CalendarCoverage::Uncovered { year: 2027 });
        assert_eq!(none.days_left(), -1);
        assert!(none.to_string().contains("no data for 2027"), "{none}");
    }

    #[test]
    fn cn_calendar_example_5_uncovered_year_is_an_error_not_a_guess() {
        let e = cal()
            .next_working_day_after(date!(2027 - 01 - 05))
            .unwrap_err();
        assert_eq!(e.to_string(), "calendar has no data for 2027");
        // walking off the end of the covered years is the same error
        let e = cal()
            .next_working_day_after(date!(2026 - 12 - 31))
            .unwrap_err();
        assert_eq!(e.to_string(), "calendar has no data for 2027");
        let e = cal()
            .add_working_days(date!(2026 - 12 - 20), 30)
            .unwrap_err();
        assert_eq!(e, SettlementError::CalendarNoData { year: 2027 });
        assert!(cal().is_working_day(date!(2024 - 12 - 31)).is_err());
    }

    #[test]
    fn is_d_4_working_days_and_spans() {
        let c = cal();
        assert!(!c.is_working_day(date!(2025 - 10 - 04)).unwrap()); // holiday Saturday
        assert!(c.is_working_day(date!(2025 - 10 - 11)).unwrap()); // declared Saturday
        assert!(!c.is_working_day(date!(2025 - 10 - 12)).unwrap()); // ordinary Sunday
        assert_eq!(
            c.holiday_name(date!(2025 - 10 - 03)).unwrap(),
            Some("国庆节 + 中秋节 National Day and Mid-Autumn")
        );
        // (2025-09-30, 2025-10-12]: 10-09, 10-10, 10-11 are working days.
        assert_eq!(
            c.working_days_between(date!(2025 - 09 - 30), date!(2025 - 10 - 12))
                .unwrap(),
            3
        );
        assert_eq!(
            c.working_days_between(date!(2025 - 10 - 01), date!(2025 - 10 - 01))
                .unwrap(),
            0
        );
        assert!(
            c.working_days_between(date!(2025 - 10 - 02), date!(2025 - 10 - 01))
                .is_err()
        );
        for n in 0..40 {
            let d = c.add_working_days(date!(2025 - 12 - 24), n).unwrap();
            assert_eq!(c.working_days_between(date!(2025 - 12 - 24), d).unwrap(), n);
        }
        // crossing the year boundary: 2025-12-31 (Wed) → 2026-01-05 (Mon)? No: 01-04 (Sun) is
        // a declared working day.
        assert_eq!(
            c.next_working_day_after(date!(2025 - 12 - 31)).unwrap(),
            date!(2026 - 01 - 04)
        );
    }

    fn one(body: &str) -> Result<Calendar> {
        Calendar::from_toml_strs(&[&format!("year = 2025\n{body}")])
    }

    #[test]
    fn calendar_files_are_validated() {
        let both = one(
            "[[holiday]]\nname='x'\nfrom=2025-10-01\nto=2025-10-08\nworking_days=[2025-10-04]\n",
        );
        assert!(
            both.unwrap_err()
                .to_string()
                .contains("both a holiday and a declared working day")
        );
        let weekday = one(
            "[[holiday]]\nname='x'\nfrom=2025-10-01\nto=2025-10-08\nworking_days=[2025-09-30]\n",
        );
        assert!(
            weekday
                .unwrap_err()
                .to_string()
                .contains("not a weekend day")
        );
        let other_year = one("[[holiday]]\nname='x'\nfrom=2026-10-01\nto=2026-10-02\n");
        assert!(
            other_year
                .unwrap_err()
                .to_string()
                .contains("outside the file's year")
        );
        let backwards = one("[[holiday]]\nname='x'\nfrom=2025-10-05\nto=2025-10-01\n");
        assert!(backwards.unwrap_err().to_string().contains("before"));
        let weekend_only = one("[[holiday]]\nname='x'\nfrom=2025-10-04\nto=2025-10-05\n");
        assert!(
            weekend_only
                .unwrap_err()
                .to_string()
                .contains("entirely on weekend")
        );
        let overlap = one(
            "[[holiday]]\nname='x'\nfrom=2025-10-01\nto=2025-10-02\n[[holiday]]\nname='y'\nfrom=2025-10-02\nto=2025-10-03\n",
        );
        assert!(overlap.unwrap_err().to_string().contains("both x and y"));
        let unknown = one("mystery = 1\n");
        assert!(unknown.unwrap_err().to_string().contains("unknown field"));
        let with_time = one("[[holiday]]\nname='x'\nfrom=2025-10-01T00:00:00\nto=2025-10-02\n");
        assert!(with_time.unwrap_err().to_string().contains("plain date"));
        let twice = Calendar::from_toml_strs(&[EMBEDDED_CALENDARS[0], EMBEDDED_CALENDARS[0]]);
        assert!(
            twice
                .unwrap_err()
                .to_string()
                .contains("more than one file")
        );
        assert_eq!(cal().years(), vec![2025, 2026]);
    }

    #[test]
    fn year_month_round_trips() {
        let ym = YearMonth::parse("2025-12").unwrap();
        assert_eq!(ym.to_string(), "2025-12");
        assert_eq!(ym.next().to_string(), "2026-01");
        assert_eq!(ym.last_day(), date!(2025 - 12 - 31));
        assert!(YearMonth::parse("2025-13").is_none());
        assert_eq!(parse_iso_date("2025-02-29"), None);
        assert_eq!(compact_date(date!(2025 - 02 - 03)), "20250203");
    }
}
