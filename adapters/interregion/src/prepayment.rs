//! XPRV31 — the yearly prepayment notice (预付金, `legacy-and-cross-region.md` §4.2). The insured
//! province keeps a prepayment with the treatment province, sized to two months of the
//! cross-province fund payments of the prior year, so hospitals are paid at once while the
//! monthly clearing runs behind. The place of treatment, which holds it, states the required
//! amount, the balance it holds, and the movement that brings one to the other.

use medsettle_canonical::{Admdvs, Money, money::div_round_half_away};
use serde_json::Value;
use time::Date;

use crate::dates::{YEAR_MAX, YEAR_MIN};
use crate::field::{Field, Node, Out, req};
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
    req("due_date"),
];

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
    /// `drawdown`: the balance is above it; the place of treatment returns the excess by
    /// `due_date`.
    Drawdown,
    /// `none`: the balance is exactly the required amount.
    Unchanged,
}

const MOVEMENTS: &[(&str, Movement)] = &[
    ("top_up", Movement::TopUp),
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
        std::cmp::Ordering::Less => (Movement::Drawdown, balance - required),
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
    /// What the place of treatment holds now.
    pub balance: Money,
    pub movement: Movement,
    pub movement_amt: Money,
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
            (Movement::Drawdown, fen(6))
        );
        assert_eq!(
            prepayment_movement(fen(4), fen(4)),
            (Movement::Unchanged, fen(0))
        );
    }
}
