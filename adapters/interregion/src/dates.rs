//! The three time layouts of `interregion/1`, all China time (+08:00) without an offset:
//! `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DD` and the month `YYYYMM`.
//!
//! Parsed digit by digit rather than through a format description, so exactly one spelling is
//! accepted (no sign, no 5-digit year, no padding variants): one message, one byte form.
//! Years outside 2000–2099 are refused as implausible, which catches `0001-01-01` placeholders
//! and mistyped centuries before they reach a statement.

use std::fmt;

use medsettle_canonical::CHINA_OFFSET;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// First year accepted anywhere in the protocol.
pub const YEAR_MIN: i32 = 2000;
/// Last year accepted anywhere in the protocol.
pub const YEAR_MAX: i32 = 2099;

/// A calendar month, `YYYYMM` on the wire (`clr_month`, `carried_from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct YearMonth {
    year: i32,
    month: u8,
}

impl YearMonth {
    /// A month of a plausible year, or `None`.
    pub fn new(year: i32, month: u8) -> Option<YearMonth> {
        ((YEAR_MIN..=YEAR_MAX).contains(&year) && (1..=12).contains(&month))
            .then_some(YearMonth { year, month })
    }

    /// Parse `YYYYMM`.
    pub fn parse(text: &str) -> Option<YearMonth> {
        if text.len() != 6 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        YearMonth::new(number(&text[..4])?, u8::try_from(number(&text[4..])?).ok()?)
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u8 {
        self.month
    }

    /// The month a date falls in.
    pub fn of(date: Date) -> YearMonth {
        YearMonth {
            year: date.year(),
            month: u8::from(date.month()),
        }
    }

    /// The last day of the month.
    pub fn last_day(self) -> Date {
        let month = Month::try_from(self.month).expect("a YearMonth holds a month 1–12");
        Date::from_calendar_date(self.year, month, month.length(self.year))
            .expect("the last day of a real month")
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}{:02}", self.year, self.month)
    }
}

fn number(digits: &str) -> Option<i32> {
    digits.parse().ok()
}

/// Parse `YYYY-MM-DD` (a real date of a plausible year).
pub fn parse_date(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| {
        let part = &text[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| number(part))
            .flatten()
    };
    let year = digits(0..4)?;
    if !(YEAR_MIN..=YEAR_MAX).contains(&year) {
        return None;
    }
    let month = Month::try_from(u8::try_from(digits(5..7)?).ok()?).ok()?;
    Date::from_calendar_date(year, month, u8::try_from(digits(8..10)?).ok()?).ok()
}

/// Parse `YYYY-MM-DD HH:MM:SS` (a real time of a plausible year).
pub fn parse_datetime(text: &str) -> Option<PrimitiveDateTime> {
    let b = text.as_bytes();
    if b.len() != 19 || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let date = parse_date(&text[..10])?;
    let field = |r: std::ops::Range<usize>| {
        let part = &text[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse::<u8>().ok())
            .flatten()
    };
    let time = Time::from_hms(field(11..13)?, field(14..16)?, field(17..19)?).ok()?;
    Some(PrimitiveDateTime::new(date, time))
}

/// An instant as the protocol writes times: China time (+08:00), whole seconds.
pub fn china_datetime(at: OffsetDateTime) -> PrimitiveDateTime {
    let local = at.to_offset(CHINA_OFFSET);
    let time = Time::from_hms(local.hour(), local.minute(), local.second())
        .expect("the fields of a time are a time");
    PrimitiveDateTime::new(local.date(), time)
}

/// `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// `YYYY-MM-DD HH:MM:SS`.
pub fn format_datetime(t: PrimitiveDateTime) -> String {
    format!(
        "{} {:02}:{:02}:{:02}",
        format_date(t.date()),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spelling_per_time() {
        let t = parse_datetime("2024-05-20 12:00:00").unwrap();
        assert_eq!(format_datetime(t), "2024-05-20 12:00:00");
        for bad in [
            "2024-05-20T12:00:00",
            "2024-5-20 12:00:00",
            "2024-05-20 24:00:00",
            "2024-02-30 12:00:00",
            "1999-12-31 23:59:59",
            "2100-01-01 00:00:00",
            "+024-05-20 12:00:00",
            "2024-05-20 12:00:0a",
            "2024-05-20 12:00:00 ",
            "２０２４-05-20 12:00",
        ] {
            assert!(parse_datetime(bad).is_none(), "{bad}");
        }
        assert_eq!(format_date(parse_date("2024-02-29").unwrap()), "2024-02-29");
        assert!(parse_date("2023-02-29").is_none());
        assert!(parse_date("2024-00-10").is_none());
    }

    #[test]
    fn instants_in_china_time() {
        let utc = time::macros::datetime!(2024-05-20 16:30:05.900 UTC);
        assert_eq!(format_datetime(china_datetime(utc)), "2024-05-21 00:30:05");
    }

    #[test]
    fn months() {
        let m = YearMonth::parse("202402").unwrap();
        assert_eq!(m.to_string(), "202402");
        assert_eq!(format_date(m.last_day()), "2024-02-29");
        assert!(YearMonth::parse("202413").is_none());
        assert!(YearMonth::parse("202400").is_none());
        assert!(YearMonth::parse("20245").is_none());
        assert!(YearMonth::parse("199912").is_none());
        assert!(YearMonth::parse("2024-5").is_none());
        assert!(YearMonth::parse("202401").unwrap() < m);
        assert_eq!(YearMonth::of(parse_date("2024-02-10").unwrap()), m);
    }
}
