//! Exact values: amounts as integer fen (no float ever touches money), decimals as text,
//! dates and times in the legacy formats and the national ones.

use crate::error::{LEG_AMOUNT, LEG_DATE, LEG_FIELD, LegacyError, Result};

/// Integer digits an amount may have (`i64` fen holds 16 with room; the national tables say
/// 16,2).
const AMOUNT_INT_DIGITS_MAX: usize = 14;

/// A plain decimal: optional `-`, digits, optional `.` and digits. No `+`, exponent,
/// separators or spaces. Returns (negative, integer digits, fraction digits).
fn split_decimal(s: &str) -> Option<(bool, &str, &str)> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (body.contains('.') && frac.is_empty()) {
        return None;
    }
    Some((neg, int, frac))
}

/// How a legacy amount was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    pub fen: i64,
    /// The text had 3 or 4 decimals whose extra places are zeros (`3.0000`).
    pub wide: bool,
}

/// Parse a legacy amount: at most 2 decimals, or 3–4 whose places beyond the second are
/// zeros. `field` is named in the error.
pub fn parse_legacy_amount(s: &str, field: &str) -> Result<Amount> {
    let bad =
        |why: &str| LegacyError::new(LEG_AMOUNT, field, format!("`{s}` is not an amount: {why}"));
    let (neg, int, frac) =
        split_decimal(s).ok_or_else(|| bad("a plain decimal like 12.34 is expected"))?;
    if frac.len() > 4 {
        return Err(bad("more than 4 decimals"));
    }
    if frac.len() > 2 && frac[2..].bytes().any(|b| b != b'0') {
        return Err(bad(
            "only 2 decimals are money; a 4-decimal amount must end in 00 (3.0000 ok, 3.1234 refused)",
        ));
    }
    let fen = fen_of(neg, int, frac).ok_or_else(|| bad("too large"))?;
    Ok(Amount {
        fen,
        wide: frac.len() > 2,
    })
}

fn fen_of(neg: bool, int: &str, frac: &str) -> Option<i64> {
    let int = int.trim_start_matches('0');
    if int.len() > AMOUNT_INT_DIGITS_MAX {
        return None;
    }
    let mut v: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut cents = 0i64;
    for (i, b) in frac.bytes().take(2).enumerate() {
        cents += i64::from(b - b'0') * if i == 0 { 10 } else { 1 };
    }
    v = v.checked_mul(100)?.checked_add(cents)?;
    Some(if neg { -v } else { v })
}

/// Parse a national amount (a JSON number's text or a decimal string): exact, any number of
/// decimals as long as those beyond the second are zeros.
pub fn parse_national_amount(s: &str) -> Option<i64> {
    let (neg, int, frac) = split_decimal(s)?;
    if frac.len() > 2 && frac[2..].bytes().any(|b| b != b'0') {
        return None;
    }
    fen_of(neg, int, frac)
}

/// Format fen with `decimals` (2 or 4) places.
pub fn format_fen(fen: i64, decimals: u32) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let a = fen.unsigned_abs();
    let s = format!("{sign}{}.{:02}", a / 100, a % 100);
    if decimals > 2 {
        format!("{s}{}", "0".repeat((decimals - 2) as usize))
    } else {
        s
    }
}

/// A decimal with at most `scale` significant decimals (quantities 4, prices 6): returned
/// as text with surplus trailing zeros removed beyond `scale`.
pub fn parse_scaled_decimal(s: &str, scale: usize, field: &str) -> Result<String> {
    let bad = |why: String| LegacyError::new(LEG_FIELD, field, format!("`{s}` {why}"));
    let (_, int, frac) =
        split_decimal(s).ok_or_else(|| bad("is not a plain decimal number".into()))?;
    if int.len() > 16 {
        return Err(bad("is too large".into()));
    }
    let significant = frac.trim_end_matches('0');
    if significant.len() > scale {
        return Err(bad(format!("has more than {scale} decimals")));
    }
    if frac.len() > scale {
        let keep = s.len() - (frac.len() - scale);
        let t = &s[..keep];
        return Ok(t.trim_end_matches('.').to_owned());
    }
    Ok(s.to_owned())
}

/// An integer count.
pub fn parse_count(s: &str, field: &str) -> Result<String> {
    match split_decimal(s) {
        Some((_, int, "")) if int.len() <= 9 => Ok(s.to_owned()),
        _ => Err(LegacyError::new(
            LEG_FIELD,
            field,
            format!("`{s}` is not a whole number"),
        )),
    }
}

/// A date or time format a profile may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFormat {
    /// `yyyy-MM-dd`
    Dashed,
    /// `yyyy-MM-dd HH:mm:ss`
    DashedTime,
    /// `YYYYMMDDHH24MISS`
    Compact,
    /// `YYYYMMDD`
    CompactDate,
}

impl DateFormat {
    pub fn parse_name(s: &str) -> Option<DateFormat> {
        Some(match s {
            "yyyy-MM-dd" => DateFormat::Dashed,
            "yyyy-MM-dd HH:mm:ss" => DateFormat::DashedTime,
            "YYYYMMDDHH24MISS" => DateFormat::Compact,
            "YYYYMMDD" => DateFormat::CompactDate,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            DateFormat::Dashed => "yyyy-MM-dd",
            DateFormat::DashedTime => "yyyy-MM-dd HH:mm:ss",
            DateFormat::Compact => "YYYYMMDDHH24MISS",
            DateFormat::CompactDate => "YYYYMMDD",
        }
    }

    pub fn has_time(self) -> bool {
        matches!(self, DateFormat::DashedTime | DateFormat::Compact)
    }
}

/// A calendar date with an optional time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub y: u32,
    pub mo: u32,
    pub d: u32,
    pub h: u32,
    pub mi: u32,
    pub s: u32,
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => 0,
    }
}

fn num(s: &str, at: usize, len: usize) -> Option<u32> {
    let t = s.get(at..at + len)?;
    if !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// Parse `s` in format `f` (exact length, calendar checked).
pub fn parse_stamp(s: &str, f: DateFormat) -> Option<Stamp> {
    let b = s.as_bytes();
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let st = match f {
        DateFormat::Dashed if s.len() == 10 && at(4, b'-') && at(7, b'-') => Stamp {
            y: num(s, 0, 4)?,
            mo: num(s, 5, 2)?,
            d: num(s, 8, 2)?,
            h: 0,
            mi: 0,
            s: 0,
        },
        DateFormat::DashedTime
            if s.len() == 19
                && at(4, b'-')
                && at(7, b'-')
                && at(10, b' ')
                && at(13, b':')
                && at(16, b':') =>
        {
            Stamp {
                y: num(s, 0, 4)?,
                mo: num(s, 5, 2)?,
                d: num(s, 8, 2)?,
                h: num(s, 11, 2)?,
                mi: num(s, 14, 2)?,
                s: num(s, 17, 2)?,
            }
        }
        DateFormat::Compact if s.len() == 14 => Stamp {
            y: num(s, 0, 4)?,
            mo: num(s, 4, 2)?,
            d: num(s, 6, 2)?,
            h: num(s, 8, 2)?,
            mi: num(s, 10, 2)?,
            s: num(s, 12, 2)?,
        },
        DateFormat::CompactDate if s.len() == 8 => Stamp {
            y: num(s, 0, 4)?,
            mo: num(s, 4, 2)?,
            d: num(s, 6, 2)?,
            h: 0,
            mi: 0,
            s: 0,
        },
        _ => return None,
    };
    let valid = st.y >= 1
        && (1..=12).contains(&st.mo)
        && st.d >= 1
        && st.d <= days_in_month(st.y, st.mo)
        && st.h < 24
        && st.mi < 60
        && st.s < 60;
    valid.then_some(st)
}

/// Format a stamp in `f`.
pub fn format_stamp(t: Stamp, f: DateFormat) -> String {
    match f {
        DateFormat::Dashed => format!("{:04}-{:02}-{:02}", t.y, t.mo, t.d),
        DateFormat::DashedTime => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.y, t.mo, t.d, t.h, t.mi, t.s
        ),
        DateFormat::Compact => format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            t.y, t.mo, t.d, t.h, t.mi, t.s
        ),
        DateFormat::CompactDate => format!("{:04}{:02}{:02}", t.y, t.mo, t.d),
    }
}

/// A legacy date or date-time read with the profile's formats. `want_time`: the national
/// target is a date-time. A date-only value for a date-time target is read as midnight
/// (returned `true` so the caller records the repair).
pub fn parse_legacy_stamp(
    s: &str,
    want_time: bool,
    date_format: DateFormat,
    datetime_format: DateFormat,
    field: &str,
) -> Result<(Stamp, bool)> {
    if want_time {
        if let Some(t) = parse_stamp(s, datetime_format) {
            return Ok((t, false));
        }
        if let Some(t) = parse_stamp(s, date_format) {
            return Ok((t, true));
        }
        return Err(LegacyError::new(
            LEG_DATE,
            field,
            format!(
                "`{s}` is not a date-time `{}` (or a date `{}`)",
                datetime_format.name(),
                date_format.name()
            ),
        ));
    }
    if let Some(t) = parse_stamp(s, date_format) {
        return Ok((t, false));
    }
    // a date-time whose time is midnight is accepted for a date
    if let Some(t) = parse_stamp(s, datetime_format).filter(|t| t.h == 0 && t.mi == 0 && t.s == 0) {
        return Ok((t, true));
    }
    Err(LegacyError::new(
        LEG_DATE,
        field,
        format!("`{s}` is not a date `{}`", date_format.name()),
    ))
}

/// A national date (`yyyy-MM-dd`) or date-time (`yyyy-MM-dd HH:mm:ss`).
pub fn parse_national_stamp(s: &str) -> Option<Stamp> {
    parse_stamp(s, DateFormat::DashedTime).or_else(|| parse_stamp(s, DateFormat::Dashed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact() {
        assert_eq!(parse_legacy_amount("12345.67", "x").unwrap().fen, 1_234_567);
        assert_eq!(
            parse_legacy_amount("3.0000", "x").unwrap(),
            Amount {
                fen: 300,
                wide: true
            }
        );
        assert_eq!(parse_legacy_amount("-25.1", "x").unwrap().fen, -2510);
        assert_eq!(parse_legacy_amount("0", "x").unwrap().fen, 0);
        for bad in [
            "3.1234", "1e3", "+1", "1,000.00", " 1", "", ".5", "5.", "1.23456", "--1",
        ] {
            let e = parse_legacy_amount(bad, "prm_yka055").unwrap_err();
            assert_eq!(
                (e.rule, e.field.as_str()),
                (LEG_AMOUNT, "prm_yka055"),
                "{bad}"
            );
        }
        assert_eq!(format_fen(1_234_567, 2), "12345.67");
        assert_eq!(format_fen(-5, 2), "-0.05");
        assert_eq!(format_fen(300, 4), "3.0000");
        assert_eq!(parse_national_amount("59.50"), Some(5950));
        assert_eq!(parse_national_amount("0.7000"), Some(70));
        assert_eq!(parse_national_amount("0.7001"), None);
    }

    #[test]
    fn stamps() {
        let c = DateFormat::Compact;
        let t = parse_stamp("20240520103000", c).unwrap();
        assert_eq!(
            format_stamp(t, DateFormat::DashedTime),
            "2024-05-20 10:30:00"
        );
        assert!(parse_stamp("20240230103000", c).is_none());
        assert!(parse_stamp("2024-02-29", DateFormat::Dashed).is_some());
        assert!(parse_stamp("2023-02-29", DateFormat::Dashed).is_none());
        assert!(parse_stamp("2024-05-20 24:00:00", DateFormat::DashedTime).is_none());
        let (t, midnight) = parse_legacy_stamp(
            "2024-05-20",
            true,
            DateFormat::Dashed,
            DateFormat::DashedTime,
            "f",
        )
        .unwrap();
        assert!(midnight);
        assert_eq!(t.h, 0);
    }

    #[test]
    fn scaled() {
        assert_eq!(parse_scaled_decimal("2.0000", 4, "f").unwrap(), "2.0000");
        assert_eq!(parse_scaled_decimal("2.000000", 4, "f").unwrap(), "2.0000");
        assert!(parse_scaled_decimal("2.12345", 4, "f").is_err());
        assert_eq!(parse_count("3", "f").unwrap(), "3");
        assert!(parse_count("3.5", "f").is_err());
    }
}
