//! The working-day calendar (工作日历) of mainland China, as data (`specs/calendar/cn-YYYY.toml`),
//! with a provisional calendar for the years no file covers yet.
//!
//! A working day is Monday–Friday that is not a public holiday, plus the weekend days the State
//! Council declares working days (调休上班). The schedule is published each November, so it is
//! data an operator edits, never code: a year given by a file is **official**.
//!
//! A year with no file, after the first official year and at most [`PROVISIONAL_YEARS_MAX`]
//! years after the last one, is **provisional**: derived from the statutory holiday rules (the
//! 2024 revision of 全国年节及纪念日放假办法) plus weekends, with lunar dates and solar terms from
//! the `tyme4rs` calendar library. The statutory days of a year are
//!
//! - 元旦 New Year: 1 January;
//! - 春节 Spring Festival: 4 days, New Year's Eve (除夕, the last day of the 12th lunar month,
//!   the 29th or 30th) and the 1st–3rd of the 1st lunar month;
//! - 清明节 Qingming: the day of the Qingming solar term (4–6 April);
//! - 劳动节 Labour Day: 1–2 May;
//! - 端午节 Dragon Boat: the 5th of the 5th lunar month;
//! - 中秋节 Mid-Autumn: the 15th of the 8th lunar month;
//! - 国庆节 National Day: 1–3 October.
//!
//! A provisional non-working day is a Saturday, a Sunday or a statutory day, and every other day
//! is a working day. The adjusted working days (调休) cannot be known before the State Council
//! publishes them, so a provisional calendar **moves nothing**: a statutory day on a weekend is
//! not made up on a weekday, no weekday is bridged into a holiday, and no weekend day becomes a
//! working day. Provisional dates are therefore the best guess the rules allow, not the dates the
//! notice will give; every answer that depends on a provisional day says so ([`Dated`],
//! [`Provenance`]), and [`CalendarCoverage`] keeps telling operators to add the official file.
//! An official file always takes precedence over the derived year. The calendar is pure: adding a
//! file changes the answers for days not yet dated, and re-dates nothing a caller already stored
//! (a payment made on a provisional date stays made on it).
//!
//! A date before the first official year, or beyond the provisional reach, is an error
//! ("calendar has no data for 2037") — including when a search walks past the last covered day.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};

use serde::{Deserialize, Serialize};
use time::{Date, Month, Weekday};

use crate::error::{CALENDAR_RULE, Result, SettlementError};

/// The calendar files shipped with the crate, so the binary works with no files around.
pub const EMBEDDED_CALENDARS: [&str; 2] = [
    include_str!("../../../specs/calendar/cn-2025.toml"),
    include_str!("../../../specs/calendar/cn-2026.toml"),
];

/// How many years after the last official year a provisional calendar is derived for: the
/// default reach of every [`Calendar`], and the most [`Calendar::with_provisional_years`]
/// accepts. With 2025–2026 official, 2027–2036 are provisional and 2037 is an error.
pub const PROVISIONAL_YEARS_MAX: u32 = 10;

/// The [`Calendar::source_of`] of a provisional year.
pub const PROVISIONAL_SOURCE: &str = "provisional: weekends and the statutory holidays of \
     全国年节及纪念日放假办法 (2024 revision), lunar dates and solar terms from tyme4rs; no \
     official notice yet, so no adjusted working days (调休)";

/// Where the working-day status of a day comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provenance {
    /// A calendar file: the State Council notice for the year.
    Official,
    /// Derived from the statutory holiday rules and weekends; the year's 调休 are unknown.
    Provisional,
}

impl Provenance {
    pub fn is_provisional(self) -> bool {
        self == Provenance::Provisional
    }

    /// The provenance of an answer that depends on both: provisional if either is.
    #[must_use]
    pub fn and(self, other: Provenance) -> Provenance {
        self.max(other)
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provenance::Official => "official",
            Provenance::Provisional => "provisional",
        })
    }
}

/// A calendar answer with the provenance of the days it depends on: provisional when any day
/// whose working-day status decided it is in a provisional year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Dated<T> {
    pub value: T,
    pub provenance: Provenance,
}

impl<T> Dated<T> {
    pub fn is_provisional(&self) -> bool {
        self.provenance.is_provisional()
    }
}

/// `2027-01-04`, or `2027-01-04 (provisional)`.
impl<T: fmt::Display> fmt::Display for Dated<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.provenance {
            Provenance::Official => write!(f, "{}", self.value),
            Provenance::Provisional => write!(f, "{} (provisional)", self.value),
        }
    }
}

/// How far the calendar reaches from a given day ([`Calendar::coverage_on`]). A claim settled
/// on the last officially covered day already needs the next year for its T+1 payment date, so
/// the next year's file must be in place before then; the State Council publishes it each
/// November. Until it is, the next year is dated provisionally (when within reach).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarCoverage {
    /// Officially covered through `last`, more than the warning window away; provisionally
    /// covered after it through `provisional_through`, if at all.
    Covered {
        last: Date,
        days_left: i64,
        provisional_through: Option<Date>,
    },
    /// Officially covered through `last`, only `days_left` days away: add the next year's file.
    EndingSoon {
        last: Date,
        days_left: i64,
        provisional_through: Option<Date>,
    },
    /// The day's own year has no official file: payments are dated on the provisional
    /// calendar, through `provisional_through`, and marked provisional. Official coverage
    /// ended on `last_official`. Add the file for `year`.
    Provisional {
        year: i32,
        last_official: Date,
        provisional_through: Date,
    },
    /// The day's own year has no data, official or provisional: no payment can be dated.
    Uncovered { year: i32 },
}

impl CalendarCoverage {
    /// Days of **official** coverage after the day asked about (-1 when its own year has no
    /// official file, even if it is provisionally covered), for a gauge operators can alert on.
    pub fn days_left(self) -> i64 {
        match self {
            CalendarCoverage::Covered { days_left, .. }
            | CalendarCoverage::EndingSoon { days_left, .. } => days_left,
            CalendarCoverage::Provisional { .. } | CalendarCoverage::Uncovered { .. } => -1,
        }
    }

    /// Whether the day asked about is only provisionally covered.
    pub fn is_provisional(self) -> bool {
        matches!(self, CalendarCoverage::Provisional { .. })
    }

    /// The last day that can be dated at all, officially or provisionally (`None`: not even
    /// the day asked about).
    pub fn dated_through(self) -> Option<Date> {
        match self {
            CalendarCoverage::Covered {
                last,
                provisional_through,
                ..
            }
            | CalendarCoverage::EndingSoon {
                last,
                provisional_through,
                ..
            } => Some(provisional_through.unwrap_or(last)),
            CalendarCoverage::Provisional {
                provisional_through,
                ..
            } => Some(provisional_through),
            CalendarCoverage::Uncovered { .. } => None,
        }
    }
}

impl fmt::Display for CalendarCoverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CalendarCoverage::Covered {
                last,
                days_left,
                provisional_through,
            } => {
                write!(
                    f,
                    "the working-day calendar covers through {last} ({days_left} days)"
                )?;
                if let Some(p) = provisional_through {
                    write!(
                        f,
                        ", then provisionally (weekends and statutory holidays only, 调休 \
                         unknown) through {p}"
                    )?;
                }
                Ok(())
            }
            CalendarCoverage::EndingSoon {
                last,
                days_left,
                provisional_through,
            } => {
                let next = last.year() + 1;
                match provisional_through {
                    Some(p) => write!(
                        f,
                        "the official working-day calendar ends on {last}, in {days_left} days: \
                         claims settled from then on get provisional payment dates (weekends and \
                         statutory holidays only, 调休 unknown; provisional through {p}); add the \
                         file for {next} (specs/calendar/cn-{next}.toml format) to [settlement] \
                         calendar"
                    ),
                    None => write!(
                        f,
                        "the working-day calendar ends on {last}, in {days_left} days: claims \
                         settled from then on cannot be given a T+1 payment date; add the file \
                         for {next} (specs/calendar/cn-{next}.toml format) to [settlement] calendar"
                    ),
                }
            }
            CalendarCoverage::Provisional {
                year,
                last_official,
                provisional_through,
            } => write!(
                f,
                "the working-day calendar has no official file for {year} (official coverage \
                 ended on {last_official}): payments are dated on a provisional calendar \
                 (weekends and statutory holidays only, 调休 unknown) through \
                 {provisional_through} and marked provisional; add the file for {year} \
                 (specs/calendar/cn-{year}.toml format) to [settlement] calendar"
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

/// A validated working-day calendar: official years (one file each), and the provisional years
/// derived for the years without a file from the first official year through
/// `provisional_reach` years after the last (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    official: BTreeMap<i32, YearData>,
    provisional: BTreeMap<i32, YearData>,
    provisional_reach: u32,
}

fn is_weekend(d: Date) -> bool {
    matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

fn december_31(year: i32) -> Date {
    Date::from_calendar_date(year, Month::December, 31).expect("a plausible year")
}

impl Calendar {
    /// The calendars shipped in `specs/calendar/` (2025, 2026), compiled in, with the
    /// provisional years 2027–2036.
    pub fn embedded() -> Calendar {
        Calendar::from_toml_strs(&EMBEDDED_CALENDARS).expect("the shipped calendar files are valid")
    }

    /// Parse and validate one TOML text per year. Each file must cover a different year. The
    /// years without a file get a provisional calendar, [`PROVISIONAL_YEARS_MAX`] years out.
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
        let mut cal = Calendar {
            official: years,
            provisional: BTreeMap::new(),
            provisional_reach: 0,
        };
        cal.derive_provisional(PROVISIONAL_YEARS_MAX);
        Ok(cal)
    }

    /// The same official years with a provisional calendar `years` years past the last one
    /// (at most [`PROVISIONAL_YEARS_MAX`]). `0` turns the provisional calendar off, gap years
    /// between official ones included: every year without a file is then an error.
    pub fn with_provisional_years(mut self, years: u32) -> Result<Calendar> {
        if years > PROVISIONAL_YEARS_MAX {
            return Err(SettlementError::Calendar {
                rule: CALENDAR_RULE,
                file: "(provisional)".into(),
                message: format!(
                    "a provisional calendar reaches at most {PROVISIONAL_YEARS_MAX} years past \
                     the last official year, not {years}"
                ),
            });
        }
        self.derive_provisional(years);
        Ok(self)
    }

    fn derive_provisional(&mut self, reach: u32) {
        self.provisional_reach = reach;
        self.provisional.clear();
        if reach == 0 {
            return;
        }
        let (Some(&first), Some(&last)) = (
            self.official.keys().next(),
            self.official.keys().next_back(),
        ) else {
            return;
        };
        let end = last + i32::try_from(reach).expect("at most PROVISIONAL_YEARS_MAX");
        for year in first..=end {
            if !self.official.contains_key(&year) {
                self.provisional.insert(
                    year,
                    YearData {
                        source: PROVISIONAL_SOURCE.to_owned(),
                        holidays: statutory_days(year),
                        working_weekend_days: BTreeSet::new(),
                    },
                );
            }
        }
    }

    /// How many years past the last official year the provisional calendar reaches.
    pub fn provisional_reach(&self) -> u32 {
        self.provisional_reach
    }

    /// The years given by an official file, ascending.
    pub fn years(&self) -> Vec<i32> {
        self.official.keys().copied().collect()
    }

    /// The years given by an official file, ascending (same as [`Calendar::years`]).
    pub fn official_years(&self) -> Vec<i32> {
        self.years()
    }

    /// The years with only a provisional calendar, ascending: the gaps between official years
    /// and the years after the last one, within reach.
    pub fn provisional_years(&self) -> Vec<i32> {
        self.provisional.keys().copied().collect()
    }

    /// Official or provisional data for `year`; `None` when it has none at all.
    pub fn provenance_of_year(&self, year: i32) -> Option<Provenance> {
        if self.official.contains_key(&year) {
            Some(Provenance::Official)
        } else if self.provisional.contains_key(&year) {
            Some(Provenance::Provisional)
        } else {
            None
        }
    }

    /// Whether `d` is dated on official or provisional data. Errors for a year without either.
    pub fn provenance(&self, d: Date) -> Result<Provenance> {
        Ok(self.year(d)?.1)
    }

    /// Whether `d` is only provisionally covered (false for an official or uncovered year).
    pub fn is_provisional(&self, d: Date) -> bool {
        self.provenance_of_year(d.year()) == Some(Provenance::Provisional)
    }

    /// One line for operators: `official: 2025–2026; provisional: 2027–2036 (…)`.
    pub fn describe_years(&self) -> String {
        let provisional = self.provisional_years();
        let mut text = format!("official: {}", year_ranges(&self.years()));
        if provisional.is_empty() {
            text.push_str("; provisional: none");
        } else {
            text.push_str(&format!(
                "; provisional: {} (weekends and statutory holidays only, 调休 unknown, until \
                 the official file is added)",
                year_ranges(&provisional)
            ));
        }
        text
    }

    /// The last day of the run of **officially** covered years that starts with `from`'s year:
    /// every day from `from` through it has official data, the day after does not. `None` when
    /// `from`'s own year has no official file.
    pub fn covered_through(&self, from: Date) -> Option<Date> {
        self.run_end(from, |y| self.official.contains_key(&y))
    }

    /// The last day of the run of covered years, official or provisional, that starts with
    /// `from`'s year: every day from `from` through it can be dated, the day after cannot.
    /// `None` when `from`'s own year has no data at all.
    pub fn datable_through(&self, from: Date) -> Option<Date> {
        self.run_end(from, |y| self.provenance_of_year(y).is_some())
    }

    fn run_end(&self, from: Date, covered: impl Fn(i32) -> bool) -> Option<Date> {
        let mut year = from.year();
        if !covered(year) {
            return None;
        }
        while covered(year + 1) {
            year += 1;
        }
        Some(december_31(year))
    }

    /// What an operator must be told about the calendar on `today`: nothing while more than
    /// `warn_days` days are officially covered after it (see [`CalendarCoverage`]).
    pub fn coverage_on(&self, today: Date, warn_days: u32) -> CalendarCoverage {
        let year = today.year();
        match self.provenance_of_year(year) {
            None => CalendarCoverage::Uncovered { year },
            Some(Provenance::Provisional) => {
                let (Some((&last, _)), Some(through)) = (
                    self.official.range(..year).next_back(),
                    self.datable_through(today),
                ) else {
                    // Provisional years all come after the first official year.
                    return CalendarCoverage::Uncovered { year };
                };
                CalendarCoverage::Provisional {
                    year,
                    last_official: december_31(last),
                    provisional_through: through,
                }
            }
            Some(Provenance::Official) => {
                let last = self
                    .covered_through(today)
                    .expect("the year is officially covered");
                let provisional_through = self.datable_through(today).filter(|p| *p > last);
                let days_left = (last - today).whole_days();
                if days_left <= i64::from(warn_days) {
                    CalendarCoverage::EndingSoon {
                        last,
                        days_left,
                        provisional_through,
                    }
                } else {
                    CalendarCoverage::Covered {
                        last,
                        days_left,
                        provisional_through,
                    }
                }
            }
        }
    }

    fn year(&self, d: Date) -> Result<(&YearData, Provenance)> {
        let y = d.year();
        if let Some(data) = self.official.get(&y) {
            Ok((data, Provenance::Official))
        } else if let Some(data) = self.provisional.get(&y) {
            Ok((data, Provenance::Provisional))
        } else {
            Err(SettlementError::CalendarNoData { year: y })
        }
    }

    /// Whether `d` is a working day, and on which data. Errors for a year without data.
    pub fn is_working_day_dated(&self, d: Date) -> Result<Dated<bool>> {
        let (y, provenance) = self.year(d)?;
        let value = if y.working_weekend_days.contains(&d) {
            true
        } else if y.holidays.contains_key(&d) {
            false
        } else {
            !is_weekend(d)
        };
        Ok(Dated { value, provenance })
    }

    /// Whether `d` is a working day. Errors for a year without data; see
    /// [`Calendar::is_working_day_dated`] for whether the answer is provisional.
    pub fn is_working_day(&self, d: Date) -> Result<bool> {
        Ok(self.is_working_day_dated(d)?.value)
    }

    /// The holiday `d` falls in, if any (for explanations in reports). In a provisional year,
    /// the statutory holiday.
    pub fn holiday_name(&self, d: Date) -> Result<Option<&str>> {
        Ok(self.year(d)?.0.holidays.get(&d).map(String::as_str))
    }

    /// IS-D-4 (T+1): the first working day strictly after `d`, provisional when any day from
    /// the day after `d` through it is. `d` itself must be covered, and so must every day the
    /// search walks through.
    pub fn next_working_day_after_dated(&self, d: Date) -> Result<Dated<Date>> {
        self.year(d)?;
        let mut cur = d;
        let mut provenance = Provenance::Official;
        loop {
            cur = cur
                .next_day()
                .ok_or(SettlementError::CalendarNoData { year: i32::MAX })?;
            let working = self.is_working_day_dated(cur)?;
            provenance = provenance.and(working.provenance);
            if working.value {
                return Ok(Dated {
                    value: cur,
                    provenance,
                });
            }
        }
    }

    /// IS-D-4 (T+1): the first working day strictly after `d` (see
    /// [`Calendar::next_working_day_after_dated`]).
    pub fn next_working_day_after(&self, d: Date) -> Result<Date> {
        Ok(self.next_working_day_after_dated(d)?.value)
    }

    /// The `n`-th working day strictly after `d` (`n = 0` is `d` itself, whatever it is, and
    /// official), provisional when any day walked through is.
    pub fn add_working_days_dated(&self, d: Date, n: u32) -> Result<Dated<Date>> {
        self.year(d)?;
        let mut cur = Dated {
            value: d,
            provenance: Provenance::Official,
        };
        for _ in 0..n {
            let next = self.next_working_day_after_dated(cur.value)?;
            cur = Dated {
                value: next.value,
                provenance: cur.provenance.and(next.provenance),
            };
        }
        Ok(cur)
    }

    /// The `n`-th working day strictly after `d` (`n = 0` is `d` itself, whatever it is), so
    /// `add_working_days(d, 1) == next_working_day_after(d)`.
    pub fn add_working_days(&self, d: Date, n: u32) -> Result<Date> {
        Ok(self.add_working_days_dated(d, n)?.value)
    }

    /// [`Calendar::working_days_between`], provisional when any day of `(from, to]` is.
    pub fn working_days_between_dated(&self, from: Date, to: Date) -> Result<Dated<u32>> {
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
        let mut provenance = Provenance::Official;
        let mut cur = from;
        while cur < to {
            cur = cur.next_day().expect("bounded by `to`");
            let working = self.is_working_day_dated(cur)?;
            provenance = provenance.and(working.provenance);
            if working.value {
                n += 1;
            }
        }
        Ok(Dated {
            value: n,
            provenance,
        })
    }

    /// Number of working days in the half-open interval `(from, to]`: after `from`, up to and
    /// including `to`. So `working_days_between(d, add_working_days(d, n)) == n`, and the count
    /// from a deadline to a payment date is "how many working days the payment took".
    /// `to < from` is an error (a negative span is a caller bug we refuse to hide).
    pub fn working_days_between(&self, from: Date, to: Date) -> Result<u32> {
        Ok(self.working_days_between_dated(from, to)?.value)
    }

    /// Where a year's data came from (the State Council notice, or [`PROVISIONAL_SOURCE`]),
    /// for reports.
    pub fn source_of(&self, year: i32) -> Option<&str> {
        self.official
            .get(&year)
            .or_else(|| self.provisional.get(&year))
            .map(|y| y.source.as_str())
    }
}

/// `2025–2026, 2028`.
fn year_ranges(years: &[i32]) -> String {
    let mut runs: Vec<(i32, i32)> = Vec::new();
    for &y in years {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == y => *end = y,
            _ => runs.push((y, y)),
        }
    }
    if runs.is_empty() {
        return "none".into();
    }
    runs.iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}–{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

const NEW_YEAR: &str = "元旦 New Year";
const SPRING_FESTIVAL: &str = "春节 Spring Festival";
const QINGMING: &str = "清明节 Qingming";
const LABOUR_DAY: &str = "劳动节 Labour Day";
const DRAGON_BOAT: &str = "端午节 Dragon Boat";
const MID_AUTUMN: &str = "中秋节 Mid-Autumn";
const NATIONAL_DAY: &str = "国庆节 National Day";

/// The statutory holiday days of `year` (全国年节及纪念日放假办法, 2024 revision), with their
/// names; a day two holidays share (Mid-Autumn on 1–3 October) is named after both. Days only:
/// no weekend is moved. Derived once per year per process.
fn statutory_days(year: i32) -> BTreeMap<Date, String> {
    static DERIVED: OnceLock<Mutex<BTreeMap<i32, BTreeMap<Date, String>>>> = OnceLock::new();
    let derived = DERIVED.get_or_init(Mutex::default);
    if let Some(days) = derived
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&year)
    {
        return days.clone();
    }
    let days = derive_statutory_days(year);
    derived
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(year, days.clone());
    days
}

fn from_tyme(d: tyme4rs::tyme::solar::SolarDay) -> Date {
    let year = i32::try_from(d.get_year()).expect("a plausible year");
    let month = u8::try_from(d.get_month())
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .expect("a month");
    let day = u8::try_from(d.get_day()).expect("a day of the month");
    Date::from_calendar_date(year, month, day).expect("tyme4rs gives real dates")
}

/// The Gregorian date of day `day` of (non-leap) month `month` of the lunar year that starts in
/// Gregorian `year`.
fn lunar(year: i32, month: isize, day: usize) -> Date {
    let y = isize::try_from(year).expect("a plausible year");
    from_tyme(tyme4rs::tyme::lunar::LunarDay::from_ymd(y, month, day).get_solar_day())
}

/// The day of the Qingming solar term (清明) of `year`.
fn qingming(year: i32) -> Date {
    let y = isize::try_from(year).expect("a plausible year");
    from_tyme(tyme4rs::tyme::solar::SolarTerm::from_name(y, "清明").get_solar_day())
}

fn derive_statutory_days(year: i32) -> BTreeMap<Date, String> {
    let ymd = |month: Month, day: u8| {
        Date::from_calendar_date(year, month, day).expect("a day of the year")
    };
    let mut days: BTreeMap<Date, String> = BTreeMap::new();
    let mut add = |d: Date, name: &str| {
        days.entry(d)
            .and_modify(|n| {
                n.push_str(" + ");
                n.push_str(name);
            })
            .or_insert_with(|| name.to_owned());
    };
    add(ymd(Month::January, 1), NEW_YEAR);
    // 除夕 is the last day of the 12th lunar month (29th or 30th): the day before 初一.
    let chuyi = lunar(year, 1, 1);
    let mut d = chuyi.previous_day().expect("not the first day of time");
    for _ in 0..4 {
        add(d, SPRING_FESTIVAL);
        d = d.next_day().expect("not the last day of time");
    }
    add(qingming(year), QINGMING);
    add(ymd(Month::May, 1), LABOUR_DAY);
    add(ymd(Month::May, 2), LABOUR_DAY);
    add(lunar(year, 5, 5), DRAGON_BOAT);
    for day in 1..=3 {
        add(ymd(Month::October, day), NATIONAL_DAY);
    }
    add(lunar(year, 8, 15), MID_AUTUMN);
    days
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
        // Without a provisional calendar: the official coverage is all there is.
        let c = weekends(&[2026]).with_provisional_years(0).unwrap();
        assert_eq!(
            c.coverage_on(date!(2026 - 10 - 01), 60),
            CalendarCoverage::Covered {
                last: date!(2026 - 12 - 31),
                days_left: 91,
                provisional_through: None,
            }
        );
        let soon = c.coverage_on(date!(2026 - 12 - 02), 60);
        assert_eq!(
            soon,
            CalendarCoverage::EndingSoon {
                last: date!(2026 - 12 - 31),
                days_left: 29,
                provisional_through: None,
            }
        );
        assert!(soon.to_string().contains("add the file for 2027"), "{soon}");
        assert!(soon.to_string().contains("cannot be given"), "{soon}");
        // The window's edge is inclusive: 60 days left warns.
        assert!(matches!(
            c.coverage_on(date!(2026 - 11 - 01), 60),
            CalendarCoverage::EndingSoon { days_left: 60, .. }
        ));
        let none = c.coverage_on(date!(2027 - 01 - 04), 60);
        assert_eq!(none, CalendarCoverage::Uncovered { year: 2027 });
        assert_eq!(none.days_left(), -1);
        assert_eq!(none.dated_through(), None);
        assert!(none.to_string().contains("no data for 2027"), "{none}");
    }

    #[test]
    fn coverage_tells_official_from_provisional() {
        let c = weekends(&[2026]);
        assert_eq!(c.provisional_reach(), PROVISIONAL_YEARS_MAX);
        let covered = c.coverage_on(date!(2026 - 10 - 01), 60);
        assert_eq!(
            covered,
            CalendarCoverage::Covered {
                last: date!(2026 - 12 - 31),
                days_left: 91,
                provisional_through: Some(date!(2036 - 12 - 31)),
            }
        );
        assert!(
            covered
                .to_string()
                .contains("then provisionally (weekends and statutory holidays only"),
            "{covered}"
        );
        // The gauge and the warning still count official days only: the file is still due.
        let soon = c.coverage_on(date!(2026 - 12 - 02), 60);
        assert_eq!(soon.days_left(), 29);
        assert_eq!(soon.dated_through(), Some(date!(2036 - 12 - 31)));
        assert!(soon.to_string().contains("add the file for 2027"), "{soon}");
        assert!(
            soon.to_string().contains("get provisional payment dates"),
            "{soon}"
        );
        let prov = c.coverage_on(date!(2027 - 01 - 04), 60);
        assert_eq!(
            prov,
            CalendarCoverage::Provisional {
                year: 2027,
                last_official: date!(2026 - 12 - 31),
                provisional_through: date!(2036 - 12 - 31),
            }
        );
        assert!(prov.is_provisional());
        assert_eq!(prov.days_left(), -1);
        let text = prov.to_string();
        assert!(text.contains("no official file for 2027"), "{text}");
        assert!(text.contains("marked provisional"), "{text}");
        assert!(text.contains("add the file for 2027"), "{text}");
        // Beyond the reach, and before the first official year: nothing.
        assert_eq!(
            c.coverage_on(date!(2037 - 01 - 01), 60),
            CalendarCoverage::Uncovered { year: 2037 }
        );
        assert_eq!(
            c.coverage_on(date!(2025 - 06 - 01), 60),
            CalendarCoverage::Uncovered { year: 2025 }
        );
        // A gap year is provisional; official coverage resumes after it.
        let gap = weekends(&[2025, 2027]);
        assert_eq!(
            gap.provisional_years(),
            [2026].into_iter().chain(2028..=2037).collect::<Vec<_>>()
        );
        assert_eq!(
            gap.describe_years(),
            "official: 2025, 2027; provisional: 2026, 2028–2037 (weekends and statutory \
             holidays only, 调休 unknown, until the official file is added)"
        );
        assert_eq!(
            gap.coverage_on(date!(2026 - 03 - 01), 60),
            CalendarCoverage::Provisional {
                year: 2026,
                last_official: date!(2025 - 12 - 31),
                provisional_through: date!(2037 - 12 - 31),
            }
        );
        assert!(matches!(
            gap.coverage_on(date!(2025 - 03 - 01), 60),
            CalendarCoverage::Covered { last, .. } if last == date!(2025 - 12 - 31)
        ));
    }

    #[test]
    fn official_and_provisional_years_are_listed() {
        let c = cal();
        assert_eq!(c.official_years(), vec![2025, 2026]);
        assert_eq!(c.provisional_years(), (2027..=2036).collect::<Vec<_>>());
        assert_eq!(
            c.describe_years(),
            "official: 2025–2026; provisional: 2027–2036 (weekends and statutory holidays only, \
             调休 unknown, until the official file is added)"
        );
        assert_eq!(c.provenance_of_year(2026), Some(Provenance::Official));
        assert_eq!(c.provenance_of_year(2027), Some(Provenance::Provisional));
        assert_eq!(c.provenance_of_year(2037), None);
        assert!(c.is_provisional(date!(2027 - 01 - 01)));
        assert!(!c.is_provisional(date!(2026 - 12 - 31)));
        assert!(!c.is_provisional(date!(2040 - 01 - 01)));
        assert_eq!(c.source_of(2027), Some(PROVISIONAL_SOURCE));
        assert_eq!(c.source_of(2037), None);
        let off = c.clone().with_provisional_years(0).unwrap();
        assert!(off.provisional_years().is_empty());
        assert_eq!(
            off.describe_years(),
            "official: 2025–2026; provisional: none"
        );
        let two = c.clone().with_provisional_years(2).unwrap();
        assert_eq!(two.provisional_years(), vec![2027, 2028]);
        let e = c
            .with_provisional_years(PROVISIONAL_YEARS_MAX + 1)
            .unwrap_err();
        assert!(e.to_string().contains("at most 10 years"), "{e}");
        assert_eq!(year_ranges(&[2025, 2026, 2028]), "2025–2026, 2028");
    }

    #[test]
    fn cn_calendar_example_5_uncovered_year_is_an_error_not_a_guess() {
        // The strict calendar of the reference (no provisional years).
        let strict = cal().with_provisional_years(0).unwrap();
        let e = strict
            .next_working_day_after(date!(2027 - 01 - 05))
            .unwrap_err();
        assert_eq!(e.to_string(), "calendar has no data for 2027");
        // walking off the end of the covered years is the same error
        let e = strict
            .next_working_day_after(date!(2026 - 12 - 31))
            .unwrap_err();
        assert_eq!(e.to_string(), "calendar has no data for 2027");
        let e = strict
            .add_working_days(date!(2026 - 12 - 20), 30)
            .unwrap_err();
        assert_eq!(e, SettlementError::CalendarNoData { year: 2027 });
        // With the provisional years (the default), the errors move to their edges: before the
        // first official year, and after the reach.
        let c = cal();
        assert!(c.is_working_day(date!(2024 - 12 - 31)).is_err());
        assert!(c.provenance(date!(2024 - 12 - 31)).is_err());
        let e = c.next_working_day_after(date!(2036 - 12 - 31)).unwrap_err();
        assert_eq!(e.to_string(), "calendar has no data for 2037");
        let e = c.is_working_day(date!(2037 - 01 - 05)).unwrap_err();
        assert_eq!(e, SettlementError::CalendarNoData { year: 2037 });
    }

    // ---- the provisional calendar ------------------------------------------------------------

    fn tyme_day(d: Date) -> tyme4rs::tyme::solar::SolarDay {
        tyme4rs::tyme::solar::SolarDay::from_ymd(
            isize::try_from(d.year()).unwrap(),
            usize::from(u8::from(d.month())),
            usize::from(d.day()),
        )
    }

    /// (lunar month, lunar day) of a Gregorian date, by tyme4rs's solar → lunar conversion
    /// (the other direction from the derivation's lunar → solar).
    fn lunar_of(d: Date) -> (isize, usize) {
        let l = tyme_day(d).get_lunar_day();
        (l.get_month(), l.get_day())
    }

    fn term_of(d: Date) -> String {
        use tyme4rs::tyme::Culture;
        tyme_day(d).get_term().get_name()
    }

    /// The non-working Monday–Friday of a year.
    fn weekday_days_off(c: &Calendar, year: i32) -> Vec<Date> {
        let mut d = Date::from_calendar_date(year, Month::January, 1).unwrap();
        let mut off = Vec::new();
        while d.year() == year {
            if !is_weekend(d) && !c.is_working_day(d).unwrap() {
                off.push(d);
            }
            d = d.next_day().unwrap();
        }
        off
    }

    #[test]
    fn provisional_2027_non_working_weekdays() {
        // Expected, looked up independently of the derivation (tyme4rs solar → lunar and the
        // solar term of each day, below): 2027 Spring Festival 初一 is 2027-02-06 (Sat), and the
        // 12th month of lunar 2026 has 29 days, so 除夕 (腊月廿九) is 2027-02-05 (Fri) and the
        // holiday is 02-05 … 02-08 (Fri–Mon); Qingming 2027-04-05 (Mon); Dragon Boat (五月初五)
        // 2027-06-09 (Wed); Mid-Autumn (八月十五) 2027-09-15 (Wed). New Year 01-01 is a Friday,
        // Labour Day 05-01/02 a Saturday and Sunday (not moved: 调休 unknown), National Day
        // 10-01 … 03 a Friday to Sunday.
        let c = cal();
        assert_eq!(
            weekday_days_off(&c, 2027),
            vec![
                date!(2027 - 01 - 01),
                date!(2027 - 02 - 05),
                date!(2027 - 02 - 08),
                date!(2027 - 04 - 05),
                date!(2027 - 06 - 09),
                date!(2027 - 09 - 15),
                date!(2027 - 10 - 01),
            ]
        );
        assert_eq!(lunar_of(date!(2027 - 02 - 05)), (12, 29));
        assert_eq!(lunar_of(date!(2027 - 02 - 06)), (1, 1));
        assert_eq!(lunar_of(date!(2027 - 02 - 08)), (1, 3));
        assert_eq!(lunar_of(date!(2027 - 06 - 09)), (5, 5));
        assert_eq!(lunar_of(date!(2027 - 09 - 15)), (8, 15));
        assert_eq!(term_of(date!(2027 - 04 - 05)), "清明");
        assert_ne!(term_of(date!(2027 - 04 - 04)), "清明");
        // Every statutory day is named, weekend or not.
        let holidays: Vec<(Date, &str)> = c
            .provisional
            .get(&2027)
            .unwrap()
            .holidays
            .iter()
            .map(|(d, n)| (*d, n.as_str()))
            .collect();
        assert_eq!(
            holidays,
            vec![
                (date!(2027 - 01 - 01), NEW_YEAR),
                (date!(2027 - 02 - 05), SPRING_FESTIVAL),
                (date!(2027 - 02 - 06), SPRING_FESTIVAL),
                (date!(2027 - 02 - 07), SPRING_FESTIVAL),
                (date!(2027 - 02 - 08), SPRING_FESTIVAL),
                (date!(2027 - 04 - 05), QINGMING),
                (date!(2027 - 05 - 01), LABOUR_DAY),
                (date!(2027 - 05 - 02), LABOUR_DAY),
                (date!(2027 - 06 - 09), DRAGON_BOAT),
                (date!(2027 - 09 - 15), MID_AUTUMN),
                (date!(2027 - 10 - 01), NATIONAL_DAY),
                (date!(2027 - 10 - 02), NATIONAL_DAY),
                (date!(2027 - 10 - 03), NATIONAL_DAY),
            ]
        );
        assert_eq!(
            c.holiday_name(date!(2027 - 02 - 08)).unwrap(),
            Some(SPRING_FESTIVAL)
        );
        // No weekend day is a working day in a provisional year.
        assert!(!c.is_working_day(date!(2027 - 02 - 20)).unwrap());
        assert_eq!(
            c.is_working_day_dated(date!(2027 - 02 - 09)).unwrap(),
            Dated {
                value: true,
                provenance: Provenance::Provisional
            }
        );
    }

    #[test]
    fn a_mid_autumn_on_national_day_is_named_after_both() {
        // 2028: 八月十五 is 2028-10-03 (and 2031: 2031-10-01).
        assert_eq!(lunar_of(date!(2028 - 10 - 03)), (8, 15));
        assert_eq!(lunar_of(date!(2031 - 10 - 01)), (8, 15));
        let c = cal();
        assert_eq!(
            c.holiday_name(date!(2028 - 10 - 03)).unwrap(),
            Some("国庆节 National Day + 中秋节 Mid-Autumn")
        );
        assert_eq!(
            c.provisional.get(&2028).unwrap().holidays.len(),
            12,
            "one day fewer: Mid-Autumn shares National Day's third day"
        );
    }

    #[test]
    fn statutory_days_of_2025_and_2026_are_days_off_in_the_official_files() {
        let c = cal();
        for year in [2025, 2026] {
            let days = statutory_days(year);
            assert_eq!(days.len(), 13, "{year}: no statutory days coincide");
            for (d, name) in &days {
                assert_eq!(c.provenance(*d).unwrap(), Provenance::Official);
                assert!(
                    !c.is_working_day(*d).unwrap(),
                    "{d} ({name}) is a working day in the official {year} file"
                );
                // Holidays of the official file, not merely weekends.
                assert!(c.holiday_name(*d).unwrap().is_some(), "{d} ({name})");
            }
        }
        // The lunar and solar-term days themselves.
        let spring: Vec<Date> = statutory_days(2026)
            .into_iter()
            .filter(|(_, n)| n == SPRING_FESTIVAL)
            .map(|(d, _)| d)
            .collect();
        assert_eq!(
            spring,
            vec![
                date!(2026 - 02 - 16),
                date!(2026 - 02 - 17),
                date!(2026 - 02 - 18),
                date!(2026 - 02 - 19)
            ]
        );
        assert_eq!(qingming(2025), date!(2025 - 04 - 04));
        assert_eq!(qingming(2026), date!(2026 - 04 - 05));
        assert_eq!(lunar(2025, 1, 1), date!(2025 - 01 - 29));
        assert_eq!(lunar(2025, 5, 5), date!(2025 - 05 - 31));
        assert_eq!(lunar(2025, 8, 15), date!(2025 - 10 - 06));
        assert_eq!(lunar(2026, 5, 5), date!(2026 - 06 - 19));
        assert_eq!(lunar(2026, 8, 15), date!(2026 - 09 - 25));
    }

    #[test]
    fn the_shipped_files_agree_with_tyme4rs_official_arrangements() {
        // tyme4rs carries the State Council arrangements through 2026: a day it lists is a
        // holiday or a declared working day; any other day follows the weekend rule.
        let c = cal();
        let mut d = date!(2025 - 01 - 01);
        while d.year() <= 2026 {
            let expected = match tyme_day(d).get_legal_holiday() {
                Some(h) => h.is_work(),
                None => !is_weekend(d),
            };
            assert_eq!(c.is_working_day(d).unwrap(), expected, "{d}");
            d = d.next_day().unwrap();
        }
    }

    #[test]
    fn statutory_dates_are_plausible_for_a_century() {
        for year in 2001..=2100 {
            let days = statutory_days(year);
            let chuyi = lunar(year, 1, 1);
            let eve = chuyi.previous_day().unwrap();
            let window = Date::from_calendar_date(year, Month::January, 21).unwrap()
                ..=Date::from_calendar_date(year, Month::February, 20).unwrap();
            assert!(window.contains(&chuyi), "{year}: 初一 {chuyi}");
            // 除夕 is the last day of the 12th month: its 29th or 30th.
            let (m, day) = lunar_of(eve);
            assert!(m == 12 && (day == 29 || day == 30), "{year}: 除夕 {eve}");
            assert_eq!(lunar_of(chuyi), (1, 1));
            let q = qingming(year);
            assert!(
                q.month() == Month::April && (4..=6).contains(&q.day()),
                "{year}: 清明 {q}"
            );
            assert_eq!(term_of(q), "清明");
            assert_ne!(term_of(q.previous_day().unwrap()), "清明");
            assert_eq!(lunar_of(lunar(year, 5, 5)), (5, 5));
            assert_eq!(lunar_of(lunar(year, 8, 15)), (8, 15));
            assert!(days.keys().all(|d| d.year() == year), "{year}");
            // 13 days, or 12 when Mid-Autumn falls on 1–3 October.
            assert!((12..=13).contains(&days.len()), "{year}: {days:?}");
        }
    }

    #[test]
    fn t_plus_1_across_the_last_official_day_is_provisional() {
        let c = cal();
        // Thursday 2026-12-31 (official) → Friday 2027-01-01 is New Year, then a weekend:
        // Monday 2027-01-04, found on the provisional 2027.
        let pay = c
            .next_working_day_after_dated(date!(2026 - 12 - 31))
            .unwrap();
        assert_eq!(
            pay,
            Dated {
                value: date!(2027 - 01 - 04),
                provenance: Provenance::Provisional
            }
        );
        assert_eq!(pay.to_string(), "2027-01-04 (provisional)");
        assert_eq!(
            c.next_working_day_after(date!(2026 - 12 - 31)).unwrap(),
            date!(2027 - 01 - 04)
        );
        // A T+1 inside official days stays official.
        let official = c
            .next_working_day_after_dated(date!(2026 - 02 - 13))
            .unwrap();
        assert_eq!(official.value, date!(2026 - 02 - 14));
        assert!(!official.is_provisional());
        assert_eq!(official.to_string(), "2026-02-14");
        // Spans and additions say so too.
        let span = c
            .working_days_between_dated(date!(2026 - 12 - 30), date!(2027 - 01 - 04))
            .unwrap();
        assert_eq!(
            span,
            Dated {
                value: 2,
                provenance: Provenance::Provisional
            }
        );
        assert!(
            !c.working_days_between_dated(date!(2026 - 12 - 01), date!(2026 - 12 - 31))
                .unwrap()
                .is_provisional()
        );
        let added = c.add_working_days_dated(date!(2026 - 12 - 20), 30).unwrap();
        assert!(added.is_provisional());
        assert_eq!(
            c.working_days_between(date!(2026 - 12 - 20), added.value)
                .unwrap(),
            30
        );
        assert!(
            !c.add_working_days_dated(date!(2026 - 12 - 20), 0)
                .unwrap()
                .is_provisional()
        );
    }

    #[test]
    fn a_date_years_out_is_dated_provisionally() {
        let c = cal();
        // 2031-06-01 is a Sunday; Monday 06-02 is a working day.
        let pay = c
            .next_working_day_after_dated(date!(2031 - 06 - 01))
            .unwrap();
        assert_eq!(pay.value, date!(2031 - 06 - 02));
        assert!(pay.is_provisional());
        assert!(c.is_provisional(date!(2031 - 06 - 01)));
        // 2031: 八月十五 is 10-01, so the days off are 10-01 … 10-03 only, and Tuesday 09-30's
        // T+1 is Monday 10-06 (10-04/05 are a weekend).
        assert_eq!(
            c.next_working_day_after(date!(2031 - 09 - 30)).unwrap(),
            date!(2031 - 10 - 06)
        );
    }

    #[test]
    fn an_official_file_overrides_the_provisional_year() {
        // A made-up notice for 2027: Spring Festival 02-05 … 02-11 with two declared Saturdays.
        const CN_2027: &str = "year = 2027\nsource = \"test: an official 2027\"\n\
            [[holiday]]\nname = \"春节 Spring Festival\"\nfrom = 2027-02-05\nto = 2027-02-11\n\
            working_days = [2027-01-30, 2027-02-20]\n";
        let before = cal();
        let after =
            Calendar::from_toml_strs(&[EMBEDDED_CALENDARS[0], EMBEDDED_CALENDARS[1], CN_2027])
                .unwrap();
        assert_eq!(after.official_years(), vec![2025, 2026, 2027]);
        assert_eq!(after.provisional_years(), (2028..=2037).collect::<Vec<_>>());
        assert_eq!(after.source_of(2027), Some("test: an official 2027"));
        // Provisionally a working Tuesday; officially a holiday.
        assert!(before.is_working_day(date!(2027 - 02 - 09)).unwrap());
        assert_eq!(
            after.is_working_day_dated(date!(2027 - 02 - 09)).unwrap(),
            Dated {
                value: false,
                provenance: Provenance::Official
            }
        );
        // Provisionally a weekend; officially a declared working Saturday.
        assert!(!before.is_working_day(date!(2027 - 02 - 20)).unwrap());
        assert!(after.is_working_day(date!(2027 - 02 - 20)).unwrap());
        // The file has no New Year holiday: the official data is taken as given, not merged.
        assert!(after.is_working_day(date!(2027 - 01 - 01)).unwrap());
        let pay = after
            .next_working_day_after_dated(date!(2027 - 02 - 04))
            .unwrap();
        assert_eq!(
            pay,
            Dated {
                value: date!(2027 - 02 - 12),
                provenance: Provenance::Official
            }
        );
        assert_eq!(
            before
                .next_working_day_after_dated(date!(2027 - 02 - 04))
                .unwrap()
                .value,
            date!(2027 - 02 - 09)
        );
        assert!(matches!(
            after.coverage_on(date!(2027 - 01 - 04), 60),
            CalendarCoverage::Covered { last, days_left: 361, provisional_through: Some(p) }
                if last == date!(2027 - 12 - 31) && p == date!(2037 - 12 - 31)
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 512,
            ..proptest::prelude::ProptestConfig::default()
        })]

        #[test]
        fn provisional_next_working_day_is_a_weekday_and_no_statutory_holiday(
            offset in 0i64..3287, // 2027-01-01 ..= 2035-12-31
        ) {
            let c = cal();
            let d = date!(2027 - 01 - 01) + time::Duration::days(offset);
            let next = c.next_working_day_after_dated(d).unwrap();
            proptest::prop_assert!(next.value > d);
            proptest::prop_assert!(next.is_provisional());
            proptest::prop_assert!(!is_weekend(next.value), "{} is a weekend day", next.value);
            proptest::prop_assert!(
                !statutory_days(next.value.year()).contains_key(&next.value),
                "{} is a statutory holiday", next.value
            );
            // And it is the first such day: every day skipped is a weekend or statutory day.
            let mut cur = d.next_day().unwrap();
            while cur < next.value {
                proptest::prop_assert!(
                    is_weekend(cur) || statutory_days(cur.year()).contains_key(&cur),
                    "{cur} was skipped"
                );
                cur = cur.next_day().unwrap();
            }
        }
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
