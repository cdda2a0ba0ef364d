//! XPRV31 — the yearly prepayment notice (预付金, `legacy-and-cross-region.md` §4.2). The insured
//! province keeps a prepayment with the treatment province, sized to two months of the
//! cross-province fund payments of the prior year, so hospitals are paid at once while the
//! monthly clearing runs behind. The place of treatment, which holds it, states the required
//! amount, the balance it holds, and each movement of it: the top-up or refund that brings the
//! balance to the requirement, or a drawdown for a clearing transfer paid late.

use medsettle_canonical::{Admdvs, Money, money::div_round_half_away};
use serde_json::Value;
use time::Date;

use crate::dates::{YEAR_MAX, YEAR_MIN};
use crate::field::{Field, Node, Out, Shape, req};
use crate::refusal::{Refusal, rule};

/// Fields of XPRV31 `input`.
pub const PREPAYMENT_FIELDS: &[Field] = &[
    req("year"),
    req("insuplc_prov"),
    req("mdtrtarea_prov"),
    req("prior_year_fund_pay_sumamt"),
    req("required_amt"),
    req("balance"),
    req("movement"),
    req("movement_amt"),
    req("balance_after"),
    req("reference"),
    req("due_date"),
];

/// Longest movement reference: a transfer id or `P<year><province><province><n>`.
pub const PREPAYMENT_REFERENCE_LEN_MAX: usize = 40;

/// Fields of XPRV31 `output`.
pub const PREPAYMENT_ACK_FIELDS: &[Field] = &[req("ack")];

/// The prepayment required for a year: two months of the prior year's fund payments,
/// `prior × 2 / 12`, rounded half up to the fen once.
///
/// Once, on the whole expression: rounding a month's share first and doubling it can be a fen
/// off (a prior year of 0.03 gives 0.005 → 0.01 the right way, but 0.0025 → 0.00 doubled the
/// wrong way), and both provinces must arrive at the same fen or the notice is refused.
pub fn prepayment_required(prior_year_fund_pay: Money) -> Money {
    let fen = div_round_half_away(i128::from(prior_year_fund_pay.fen()) * 2, 12);
    Money::from_fen(i64::try_from(fen).expect("a sixth of an i64 fits an i64"))
}

/// What happens to the prepayment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Movement {
    /// `top_up`: the balance is below the required amount; the insured province pays the
    /// difference by `due_date`.
    TopUp,
    /// `refund`: the balance is above it; the place of treatment returns the excess by
    /// `due_date`.
    Refund,
    /// `drawdown`: a clearing transfer from the insured province (`reference`) was not paid by
    /// its due date; the place of treatment drew `movement_amt` (at most the balance) from the
    /// prepayment on `due_date`, and the transfer counts as paid by that amount.
    Drawdown,
    /// `none`: the balance is exactly the required amount.
    Unchanged,
}

const MOVEMENTS: &[(&str, Movement)] = &[
    ("top_up", Movement::TopUp),
    ("refund", Movement::Refund),
    ("drawdown", Movement::Drawdown),
    ("none", Movement::Unchanged),
];

impl Movement {
    pub fn as_str(self) -> &'static str {
        MOVEMENTS
            .iter()
            .find(|(_, m)| *m == self)
            .map(|(w, _)| *w)
            .expect("every movement is in the table")
    }
}

/// The movement (and its amount, ≥ 0) that brings `balance` to `required`.
pub fn prepayment_movement(required: Money, balance: Money) -> (Movement, Money) {
    match required.cmp(&balance) {
        std::cmp::Ordering::Greater => (Movement::TopUp, required - balance),
        std::cmp::Ordering::Less => (Movement::Refund, balance - required),
        std::cmp::Ordering::Equal => (Movement::Unchanged, Money::ZERO),
    }
}

/// The XPRV31 input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepaymentNotice {
    /// The year the prepayment covers.
    pub year: i32,
    pub insuplc_prov: Admdvs,
    pub mdtrtarea_prov: Admdvs,
    /// Cross-province fund payments of `year − 1` between the two provinces.
    pub prior_year_fund_pay_sumamt: Money,
    /// [`prepayment_required`] of the above.
    pub required_amt: Money,
    /// What the place of treatment holds before this movement.
    pub balance: Money,
    pub movement: Movement,
    pub movement_amt: Money,
    /// What it holds after it.
    pub balance_after: Money,
    /// The movement's id: `P<year><insured><treatment><n>`, or the transfer a drawdown covers.
    /// With `movement`, what makes a notice once-only at the receiver.
    pub reference: String,
    pub due_date: Date,
}

impl PrepaymentNotice {
    pub(crate) fn decode_at(v: &Value, root: &str) -> Result<PrepaymentNotice, Refusal> {
        let n = Node::open(v, root, PREPAYMENT_FIELDS)?;
        let year = n.integer("year")?;
        let year = i32::try_from(year)
            .ok()
            .filter(|y| (YEAR_MIN..=YEAR_MAX).contains(y))
            .ok_or_else(|| {
                Refusal::new(
                    rule::FMT_TIME,
                    n.at("year"),
                    format!("{year} is not a year {YEAR_MIN}–{YEAR_MAX}"),
                )
            })?;
        let notice = PrepaymentNotice {
            year,
            insuplc_prov: n.province("insuplc_prov")?,
            mdtrtarea_prov: n.province("mdtrtarea_prov")?,
            prior_year_fund_pay_sumamt: n.money("prior_year_fund_pay_sumamt")?,
            required_amt: n.money("required_amt")?,
            balance: n.money("balance")?,
            movement: n.code("movement", MOVEMENTS)?,
            movement_amt: n.money("movement_amt")?,
            balance_after: n.money("balance_after")?,
            reference: n.text("reference", Shape::Alnum(PREPAYMENT_REFERENCE_LEN_MAX))?,
            due_date: n.date("due_date")?,
        };
        notice.check(&n)?;
        Ok(notice)
    }

    fn check(&self, n: &Node<'_>) -> Result<(), Refusal> {
        if self.insuplc_prov == self.mdtrtarea_prov {
            return Err(Refusal::new(
                rule::PRE_PROVINCE,
                n.at("mdtrtarea_prov"),
                format!(
                    "both provinces are {}: a prepayment is between two provinces",
                    self.insuplc_prov
                ),
            ));
        }
        for (name, m) in [
            (
                "prior_year_fund_pay_sumamt",
                self.prior_year_fund_pay_sumamt,
            ),
            ("required_amt", self.required_amt),
            ("balance", self.balance),
            ("movement_amt", self.movement_amt),
            ("balance_after", self.balance_after),
        ] {
            if m.is_negative() {
                return Err(Refusal::new(
                    rule::PRE_NEGATIVE,
                    n.at(name),
                    format!("{m} is negative"),
                ));
            }
        }
        let required = prepayment_required(self.prior_year_fund_pay_sumamt);
        if self.required_amt != required {
            return Err(Refusal::new(
                rule::PRE_REQUIRED,
                n.at("required_amt"),
                format!(
                    "{} ≠ prior_year_fund_pay_sumamt × 2 / 12 = {required} (half up, once)",
                    self.required_amt
                ),
            ));
        }
        if self.movement == Movement::Drawdown {
            // a drawdown is of what is held, never of more, and never of nothing
            if self.movement_amt.is_zero() || self.movement_amt > self.balance {
                return Err(Refusal::new(
                    rule::PRE_MOVEMENT,
                    n.at("movement_amt"),
                    format!(
                        "a drawdown of {} from a balance of {}: more than 0, at most the balance",
                        self.movement_amt, self.balance
                    ),
                ));
            }
        } else {
            let (movement, amount) = prepayment_movement(self.required_amt, self.balance);
            if (self.movement, self.movement_amt) != (movement, amount) {
                return Err(Refusal::new(
                    rule::PRE_MOVEMENT,
                    n.at("movement"),
                    format!(
                        "required {} against balance {} makes {} {amount}, not {} {}",
                        self.required_amt,
                        self.balance,
                        movement.as_str(),
                        self.movement.as_str(),
                        self.movement_amt
                    ),
                ));
            }
        }
        let after = match self.movement {
            Movement::TopUp => self.balance + self.movement_amt,
            Movement::Refund | Movement::Drawdown => self.balance - self.movement_amt,
            Movement::Unchanged => self.balance,
        };
        if self.balance_after != after {
            return Err(Refusal::new(
                rule::PRE_MOVEMENT,
                n.at("balance_after"),
                format!(
                    "{} {} {} from {} leaves {after}, not {}",
                    self.movement.as_str(),
                    self.movement_amt,
                    if self.movement == Movement::TopUp {
                        "added"
                    } else {
                        "taken"
                    },
                    self.balance,
                    self.balance_after
                ),
            ));
        }
        Ok(())
    }

    pub fn to_input(&self) -> Value {
        Out::new()
            .int("year", i64::from(self.year))
            .text("insuplc_prov", self.insuplc_prov.as_str())
            .text("mdtrtarea_prov", self.mdtrtarea_prov.as_str())
            .money(
                "prior_year_fund_pay_sumamt",
                self.prior_year_fund_pay_sumamt,
            )
            .money("required_amt", self.required_amt)
            .money("balance", self.balance)
            .text("movement", self.movement.as_str())
            .money("movement_amt", self.movement_amt)
            .money("balance_after", self.balance_after)
            .text("reference", &self.reference)
            .date("due_date", self.due_date)
            .done()
    }
}

/// The XPRV31 output: the notice is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrepaymentAck;

const ACKS: &[(&str, PrepaymentAck)] = &[("1", PrepaymentAck)];

impl PrepaymentAck {
    pub(crate) fn decode_at(v: &Value, root: &str) -> Result<PrepaymentAck, Refusal> {
        Node::open(v, root, PREPAYMENT_ACK_FIELDS)?.code("ack", ACKS)
    }

    pub fn from_output(output: &Value) -> Result<PrepaymentAck, Refusal> {
        PrepaymentAck::decode_at(output, "output")
    }

    pub fn to_output(&self) -> Value {
        Out::new().text("ack", "1").done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_months_rounded_once() {
        let fen = |f| Money::from_fen(f);
        // 3 fen × 2 / 12 = 0.5 fen → 1; per month first: 0.25 → 0, × 2 = 0.
        assert_eq!(prepayment_required(fen(3)), fen(1));
        assert_eq!(prepayment_required(fen(2)), fen(0));
        assert_eq!(prepayment_required(fen(9)), fen(2));
        // 12 000 000.00 a year → 2 000 000.00
        assert_eq!(prepayment_required(fen(1_200_000_000)), fen(200_000_000));
        assert_eq!(prepayment_required(fen(0)), fen(0));
        assert_eq!(
            prepayment_movement(fen(10), fen(4)),
            (Movement::TopUp, fen(6))
        );
        assert_eq!(
            prepayment_movement(fen(4), fen(10)),
            (Movement::Refund, fen(6))
        );
        assert_eq!(
            prepayment_movement(fen(4), fen(4)),
            (Movement::Unchanged, fen(0))
        );
    }

    fn notice(movement: Movement, balance: i64, amt: i64, after: i64) -> Value {
        let fen = |f| Money::from_fen(f);
        PrepaymentNotice {
            year: 2027,
            insuplc_prov: Admdvs::parse("330000").unwrap(),
            mdtrtarea_prov: Admdvs::parse("440000").unwrap(),
            prior_year_fund_pay_sumamt: fen(1_200),
            required_amt: fen(200),
            balance: fen(balance),
            movement,
            movement_amt: fen(amt),
            balance_after: fen(after),
            reference: "X202612330000440000".into(),
            due_date: Date::from_calendar_date(2027, time::Month::February, 1).unwrap(),
        }
        .to_input()
    }

    fn decode(v: &Value) -> Result<PrepaymentNotice, Refusal> {
        PrepaymentNotice::decode_at(v, "input")
    }

    #[test]
    fn a_drawdown_is_of_what_is_held_and_every_movement_states_what_it_leaves() {
        // top-up to the requirement, refund of the excess, a drawdown within the balance
        assert!(decode(&notice(Movement::TopUp, 50, 150, 200)).is_ok());
        assert!(decode(&notice(Movement::Refund, 260, 60, 200)).is_ok());
        assert!(decode(&notice(Movement::Drawdown, 200, 120, 80)).is_ok());
        assert!(decode(&notice(Movement::Drawdown, 200, 200, 0)).is_ok());
        assert!(decode(&notice(Movement::Unchanged, 200, 0, 200)).is_ok());
        for (bad, field) in [
            // more than is held, or nothing
            (
                notice(Movement::Drawdown, 200, 201, 0),
                "input.movement_amt",
            ),
            (
                notice(Movement::Drawdown, 200, 0, 200),
                "input.movement_amt",
            ),
            // a refund where the balance is short
            (notice(Movement::Refund, 50, 150, 200), "input.movement"),
            // what it leaves is not what it says
            (notice(Movement::TopUp, 50, 150, 199), "input.balance_after"),
            (
                notice(Movement::Drawdown, 200, 120, 90),
                "input.balance_after",
            ),
        ] {
            let r = decode(&bad).unwrap_err();
            assert_eq!(
                (r.rule, r.path.as_str()),
                (rule::PRE_MOVEMENT, field),
                "{bad}"
            );
        }
        let mut v = notice(Movement::TopUp, 50, 150, 200);
        v["reference"] = Value::from("P-2027");
        assert_eq!(decode(&v).unwrap_err().path, "input.reference");
    }
}
