//! Money as integer fen, parsed exactly from decimal text.
//!
//! Invariant 1 of `DESIGN.md` §3: no float ever touches money. Wire amounts arrive as JSON
//! number text (`4.52`), decimal strings (`"3.0000"`) or fen integers; they are parsed digit by
//! digit into an `i64` count of fen. A value that cannot be represented exactly in fen (a third
//! non-zero decimal, an exponent that leaves a fraction of a fen, NaN, overflow) is an error and
//! is never rounded. Rounding happens only where a rule computes a share (`mul_ratio_half_up`),
//! once, half away from zero, so a reversal's share is exactly the negation of the original's.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Largest exponent magnitude the parser will consider. Anything larger is either not exact or
/// overflows `i64` fen, and refusing early keeps the parser linear in the input length.
pub const DECIMAL_EXPONENT_ABS_MAX: i64 = 40;

/// Why a piece of decimal text is not an exact amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("empty amount")]
    Empty,
    #[error("`{0}` is not a decimal number")]
    Syntax(String),
    #[error("`{text}` has more than {max_decimals} non-zero decimals; it would need rounding")]
    TooManyDecimals { text: String, max_decimals: u32 },
    #[error("`{0}` is out of range")]
    Overflow(String),
}

/// Parse decimal text into an integer count of `10^-decimals` units, exactly.
///
/// Accepts an optional leading `-` or `+`, digits with an optional fraction, and an optional
/// exponent (`e`/`E`) as JSON numbers allow. Trailing zeros beyond `decimals` are fine
/// (`"3.0000"` is 300 fen); a non-zero digit beyond them is [`DecimalError::TooManyDecimals`].
pub fn parse_scaled(text: &str, decimals: u32) -> Result<i64, DecimalError> {
    let syntax = || DecimalError::Syntax(text.to_owned());
    if text.is_empty() {
        return Err(DecimalError::Empty);
    }
    let bytes = text.as_bytes();
    let (negative, rest) = match bytes[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => {
            let exp_text = &rest[i + 1..];
            let digits = exp_text.strip_prefix(['+', '-']).unwrap_or(exp_text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            // Bound before parsing so a 400-digit exponent is an error, not a panic.
            let exp: i64 = if digits.len() > 6 {
                i64::MAX
            } else {
                digits.parse().map_err(|_| syntax())?
            };
            if exp > DECIMAL_EXPONENT_ABS_MAX {
                // A huge exponent is only exact for zero; treat it as out of range either way.
                return Err(DecimalError::Overflow(text.to_owned()));
            }
            let exp = if exp_text.starts_with('-') { -exp } else { exp };
            (&rest[..i], exp)
        }
        None => (rest, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => {
            if f.is_empty() {
                return Err(syntax());
            }
            (i, f)
        }
        None => (mantissa, ""),
    };
    if int_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(syntax());
    }
    // value = digits × 10^(exponent − frac_len); we want value × 10^decimals.
    let digits: String = [int_part, frac_part].concat();
    let shift = i64::from(decimals) + exponent - frac_part.len() as i64;
    let digits = digits.trim_start_matches('0');
    let unsigned: i64 = if digits.is_empty() {
        0
    } else if shift >= 0 {
        let mut v = parse_digits(digits).ok_or_else(|| DecimalError::Overflow(text.to_owned()))?;
        for _ in 0..shift {
            v = v
                .checked_mul(10)
                .ok_or_else(|| DecimalError::Overflow(text.to_owned()))?;
        }
        v
    } else {
        let drop = (-shift) as usize;
        let (keep, dropped) = if drop >= digits.len() {
            ("", digits)
        } else {
            digits.split_at(digits.len() - drop)
        };
        if dropped.bytes().any(|b| b != b'0') {
            return Err(DecimalError::TooManyDecimals {
                text: text.to_owned(),
                max_decimals: decimals,
            });
        }
        if keep.is_empty() {
            0
        } else {
            parse_digits(keep).ok_or_else(|| DecimalError::Overflow(text.to_owned()))?
        }
    };
    Ok(if negative { -unsigned } else { unsigned })
}

fn parse_digits(digits: &str) -> Option<i64> {
    if digits.len() > 19 {
        return None;
    }
    digits.parse::<i64>().ok()
}

/// Format an integer count of `10^-decimals` units as decimal text with exactly `decimals`
/// decimals (`-1230` with 2 → `"-12.30"`).
pub fn format_scaled(value: i64, decimals: u32) -> String {
    let unit = 10u64.pow(decimals);
    let abs = value.unsigned_abs();
    let sign = if value < 0 { "-" } else { "" };
    if decimals == 0 {
        return format!("{sign}{abs}");
    }
    format!(
        "{sign}{}.{:0width$}",
        abs / unit,
        abs % unit,
        width = decimals as usize
    )
}

/// An amount of money in fen (1/100 yuan). Serialized in canonical JSON as an integer of fen.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_fen(fen: i64) -> Money {
        Money(fen)
    }

    pub const fn fen(self) -> i64 {
        self.0
    }

    /// Parse yuan decimal text (`"4.52"`, `"-25.1"`, `"3.0000"`, `"1.8e2"`) exactly.
    pub fn parse_yuan(text: &str) -> Result<Money, DecimalError> {
        parse_scaled(text, 2).map(Money)
    }

    /// Yuan text with exactly two decimals, as banks and the national interface print it.
    pub fn to_yuan_string(self) -> String {
        format_scaled(self.0, 2)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn abs(self) -> Money {
        Money(self.0.abs())
    }

    pub fn min(self, other: Money) -> Money {
        Money(self.0.min(other.0))
    }

    pub fn max(self, other: Money) -> Money {
        Money(self.0.max(other.0))
    }

    /// `self × ratio`, rounded half away from zero to the fen, once.
    ///
    /// Half away from zero is 四舍五入 for positive amounts and makes the share of a reversal
    /// exactly the negation of the share of the original, so a claim and its reversal net to 0.
    pub fn mul_ratio_half_up(self, ratio: Ratio) -> Money {
        Money(
            div_round_half_away(i128::from(self.0) * i128::from(ratio.0), RATIO_ONE as i128)
                .try_into()
                .expect("a ratio of at most 100x keeps fen within i64"),
        )
    }

    /// Split `self` into `(share, complement)` where `share = self × ratio` rounded half up and
    /// `complement = self − share`, so the two always sum to `self` exactly.
    pub fn split(self, ratio: Ratio) -> (Money, Money) {
        let share = self.mul_ratio_half_up(ratio);
        (share, self - share)
    }

    /// Sum of amounts; panics on overflow, which cannot happen for real money (9e16 yuan).
    pub fn sum<I: IntoIterator<Item = Money>>(items: I) -> Money {
        items.into_iter().fold(Money::ZERO, |a, b| a + b)
    }
}

/// Integer division rounding half away from zero.
pub fn div_round_half_away(numer: i128, denom: i128) -> i128 {
    assert!(denom > 0, "denominator must be positive");
    let q = numer / denom;
    let r = numer % denom;
    if r.abs() * 2 >= denom {
        q + numer.signum()
    } else {
        q
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0.checked_add(rhs.0).expect("money overflow"))
    }
}

impl std::ops::Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0.checked_sub(rhs.0).expect("money overflow"))
    }
}

impl std::ops::Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl std::ops::AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        *self = *self + rhs;
    }
}

impl std::ops::SubAssign for Money {
    fn sub_assign(&mut self, rhs: Money) {
        *self = *self - rhs;
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        Money::sum(iter)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_yuan_string())
    }
}

/// Denominator of [`Ratio`]: ratios carry four decimals, as the national interface's `5,4`.
pub const RATIO_ONE: i64 = 10_000;

/// A ratio in units of 1/10 000 (`0.7000` = 7000). Serialized as that integer.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Ratio(i64);

impl Ratio {
    pub const ZERO: Ratio = Ratio(0);
    pub const ONE: Ratio = Ratio(RATIO_ONE);

    /// A ratio from units of 1/10 000 (basis points of one).
    pub const fn from_bp(bp: i64) -> Ratio {
        Ratio(bp)
    }

    pub const fn bp(self) -> i64 {
        self.0
    }

    /// Parse `"0.7"`, `"0.7000"`, `"60%"`-free decimal text exactly to four decimals.
    pub fn parse(text: &str) -> Result<Ratio, DecimalError> {
        parse_scaled(text, 4).map(Ratio)
    }

    /// Parse a percentage such as `"60"` or `"62.5"` exactly (two decimals of a percent).
    pub fn parse_percent(text: &str) -> Result<Ratio, DecimalError> {
        parse_scaled(text, 2).map(Ratio)
    }

    pub fn to_decimal_string(self) -> String {
        format_scaled(self.0, 4)
    }

    pub fn is_within_unit(self) -> bool {
        (0..=RATIO_ONE).contains(&self.0)
    }

    /// `1 − self`.
    pub fn complement(self) -> Ratio {
        Ratio(RATIO_ONE - self.0)
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_decimal_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fen(s: &str) -> i64 {
        Money::parse_yuan(s).unwrap().fen()
    }

    #[test]
    fn parses_the_interface_shapes_exactly() {
        assert_eq!(fen("4.52"), 452);
        assert_eq!(fen("-25.1"), -2510);
        assert_eq!(fen("0.0"), 0);
        assert_eq!(fen("3.0000"), 300);
        assert_eq!(fen("18785.39"), 1_878_539);
        assert_eq!(fen("100"), 10_000);
        assert_eq!(fen("1.5e2"), 15_000);
        assert_eq!(fen("4.52E0"), 452);
        assert_eq!(fen("452e-2"), 452);
        assert_eq!(fen("45200e-4"), 452);
        assert_eq!(fen("-0"), 0);
        assert_eq!(fen("+7.01"), 701);
        // 16 significant digits, the interface's 16,2
        assert_eq!(fen("12345678901234.56"), 1_234_567_890_123_456);
    }

    #[test]
    fn refuses_what_would_need_rounding_or_is_not_a_number() {
        for bad in [
            "",
            "4.525",
            "0.001",
            "1e-3",
            "NaN",
            "nan",
            "Infinity",
            "-",
            ".5",
            "5.",
            "1..2",
            "1,000.00",
            " 1.00",
            "1.00 ",
            "0x10",
            "1e",
            "1e+",
            "4.52e-1",
            "--1",
            "1e999999999",
        ] {
            assert!(Money::parse_yuan(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(matches!(
            Money::parse_yuan("4.525"),
            Err(DecimalError::TooManyDecimals { .. })
        ));
        assert!(matches!(
            Money::parse_yuan("99999999999999999999"),
            Err(DecimalError::Overflow(_))
        ));
        assert!(matches!(
            Money::parse_yuan("1e30"),
            Err(DecimalError::Overflow(_))
        ));
    }

    #[test]
    fn formats_with_two_decimals() {
        assert_eq!(Money::from_fen(452).to_string(), "4.52");
        assert_eq!(Money::from_fen(-2510).to_string(), "-25.10");
        assert_eq!(Money::from_fen(-5).to_string(), "-0.05");
        assert_eq!(Money::from_fen(0).to_string(), "0.00");
        assert_eq!(
            Money::from_fen(i64::MIN).to_string(),
            "-92233720368547758.08"
        );
    }

    #[test]
    fn ratio_share_rounds_half_up_once_and_parts_sum() {
        let r = Ratio::parse("0.05").unwrap();
        // 4.52 × 0.05 = 0.226 → 0.23 (nhsa-interface §2.5 item 8)
        assert_eq!(
            Money::from_fen(452).mul_ratio_half_up(r),
            Money::from_fen(23)
        );
        let sixty = Ratio::parse_percent("60").unwrap();
        assert_eq!(sixty, Ratio::from_bp(6000));
        // 0.05 × 0.6 = 0.03 exactly; 0.01 × 0.6 = 0.006 → 0.01; 0.025 is not money.
        assert_eq!(
            Money::from_fen(1).mul_ratio_half_up(sixty),
            Money::from_fen(1)
        );
        let (share, rest) = Money::from_fen(12_345).split(sixty);
        assert_eq!(share.fen() + rest.fen(), 12_345);
        assert_eq!(share, Money::from_fen(7_407));
        // symmetric for reversals
        assert_eq!(
            Money::from_fen(-12_345).mul_ratio_half_up(sixty),
            -Money::from_fen(7_407)
        );
        assert_eq!(div_round_half_away(5, 10), 1);
        assert_eq!(div_round_half_away(-5, 10), -1);
        assert_eq!(div_round_half_away(4, 10), 0);
    }

    proptest! {
        #[test]
        fn fen_text_fen_round_trip(f in any::<i64>()) {
            let m = Money::from_fen(f);
            prop_assert_eq!(Money::parse_yuan(&m.to_yuan_string()), Ok(m));
        }

        #[test]
        fn trailing_zero_decimals_and_exponents_are_exact(f in -10_000_000_000_000i64..10_000_000_000_000, zeros in 0usize..6, e in 0u32..4) {
            let text = format!("{}{}", Money::from_fen(f).to_yuan_string(), "0".repeat(zeros));
            prop_assert_eq!(Money::parse_yuan(&text).unwrap().fen(), f);
            // shift the decimal point into the exponent: value × 10^e × 10^-e
            let scaled = format!("{}e-{}", Money::from_fen(f).to_yuan_string().replace('.', ""), 2 + e);
            let scaled_value = Money::parse_yuan(&scaled);
            if e == 0 { prop_assert_eq!(scaled_value.unwrap().fen(), f); }
            else if f % 10i64.pow(e) == 0 { prop_assert_eq!(scaled_value.unwrap().fen(), f / 10i64.pow(e)); }
            else { prop_assert!(scaled_value.is_err()); }
        }

        #[test]
        fn a_third_nonzero_decimal_is_always_refused(f in -1_000_000_000i64..1_000_000_000, d in 1u8..10) {
            let text = format!("{}{}", Money::from_fen(f).to_yuan_string(), d);
            let refused = matches!(Money::parse_yuan(&text), Err(DecimalError::TooManyDecimals { .. }));
            prop_assert!(refused);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,40}") {
            let _ = Money::parse_yuan(&s);
            let _ = Ratio::parse(&s);
        }

        #[test]
        fn split_parts_always_sum(f in -1_000_000_000_000i64..1_000_000_000_000, bp in 0i64..=10_000) {
            let (a, b) = Money::from_fen(f).split(Ratio::from_bp(bp));
            prop_assert_eq!(a + b, Money::from_fen(f));
            prop_assert_eq!(Money::from_fen(-f).mul_ratio_half_up(Ratio::from_bp(bp)), -a);
        }
    }
}
