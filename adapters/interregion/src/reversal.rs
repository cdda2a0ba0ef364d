//! XPRV02 — reversal of a split the insured place applied (the cross-region leg of a
//! 2208/2305 at the hospital). The request names the original twice, by the XPRV01 msgid both
//! sides keep and by the insured place's `setl_id`, so a receiver that finds the two disagree
//! refuses rather than reverses the wrong settlement.

use medsettle_canonical::Money;
use serde_json::Value;
use time::PrimitiveDateTime;

use crate::dates::format_datetime;
use crate::field::{Field, Node, Out, Shape, join, req};
use crate::limits::{ID_CHARS_MAX, MSGID_CHARS_MAX};
use crate::refusal::{Refusal, rule};
use crate::split::Split;

/// Fields of XPRV02 `input`.
pub const REVERSAL_FIELDS: &[Field] = &[
    req("omsgid"),
    req("setl_id"),
    req("mdtrt_id"),
    req("psn_no"),
];

/// Fields of XPRV02 `output`.
pub const REVERSAL_DONE_FIELDS: &[Field] = &[
    req("setl_id"),
    req("osetl_id"),
    req("setl_time"),
    req("medfee_sumamt"),
    req("fund_pay_sumamt"),
];

/// The XPRV02 input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reversal {
    /// The msgid of the XPRV01 that was applied.
    pub omsgid: String,
    /// The insured place's `setl_id` of that split.
    pub setl_id: String,
    pub mdtrt_id: String,
    pub psn_no: String,
}

impl Reversal {
    pub(crate) fn decode_at(v: &Value, root: &str) -> Result<Reversal, Refusal> {
        let n = Node::open(v, root, REVERSAL_FIELDS)?;
        Ok(Reversal {
            omsgid: n.text("omsgid", Shape::Alnum(MSGID_CHARS_MAX))?,
            setl_id: n.text("setl_id", Shape::Id(ID_CHARS_MAX))?,
            mdtrt_id: n.text("mdtrt_id", Shape::Id(ID_CHARS_MAX))?,
            psn_no: n.text("psn_no", Shape::Id(ID_CHARS_MAX))?,
        })
    }

    pub fn to_input(&self) -> Value {
        Out::new()
            .text("omsgid", &self.omsgid)
            .text("setl_id", &self.setl_id)
            .text("mdtrt_id", &self.mdtrt_id)
            .text("psn_no", &self.psn_no)
            .done()
    }
}

/// The XPRV02 output: the reversal the insured place applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalDone {
    /// The reversal's own settlement id.
    pub setl_id: String,
    /// The settlement reversed.
    pub osetl_id: String,
    pub setl_time: PrimitiveDateTime,
    /// The original's total, negated (≤ 0).
    pub medfee_sumamt: Money,
    /// The original's fund part, negated (≤ 0, and not below `medfee_sumamt`).
    pub fund_pay_sumamt: Money,
}

impl ReversalDone {
    pub(crate) fn decode_at(v: &Value, root: &str) -> Result<ReversalDone, Refusal> {
        let n = Node::open(v, root, REVERSAL_DONE_FIELDS)?;
        let done = ReversalDone {
            setl_id: n.text("setl_id", Shape::Id(ID_CHARS_MAX))?,
            osetl_id: n.text("osetl_id", Shape::Id(ID_CHARS_MAX))?,
            setl_time: n.datetime("setl_time")?,
            medfee_sumamt: n.money("medfee_sumamt")?,
            fund_pay_sumamt: n.money("fund_pay_sumamt")?,
        };
        for (name, m) in [
            ("medfee_sumamt", done.medfee_sumamt),
            ("fund_pay_sumamt", done.fund_pay_sumamt),
        ] {
            if m.fen() > 0 {
                return Err(Refusal::new(
                    rule::REV_SIGN,
                    n.at(name),
                    format!("{m} is positive; a reversal carries the original's amounts negated"),
                ));
            }
        }
        if done.fund_pay_sumamt < done.medfee_sumamt {
            return Err(Refusal::new(
                rule::REV_SIGN,
                n.at("fund_pay_sumamt"),
                format!(
                    "{} reverses more fund than the total {}",
                    done.fund_pay_sumamt, done.medfee_sumamt
                ),
            ));
        }
        Ok(done)
    }

    pub fn from_output(output: &Value) -> Result<ReversalDone, Refusal> {
        ReversalDone::decode_at(output, "output")
    }

    pub fn to_output(&self) -> Value {
        Out::new()
            .text("setl_id", &self.setl_id)
            .text("osetl_id", &self.osetl_id)
            .text("setl_time", &format_datetime(self.setl_time))
            .money("medfee_sumamt", self.medfee_sumamt)
            .money("fund_pay_sumamt", self.fund_pay_sumamt)
            .done()
    }

    /// The reversal the insured place owes for `original`: its amounts negated.
    pub fn of(original: &Split, setl_id: &str, setl_time: PrimitiveDateTime) -> ReversalDone {
        ReversalDone {
            setl_id: setl_id.to_owned(),
            osetl_id: original.setl_id.clone(),
            setl_time,
            medfee_sumamt: -original.amounts.medfee_sumamt,
            fund_pay_sumamt: -original.amounts.fund_pay_sumamt,
        }
    }
}

/// Check, at the place of treatment, that `done` reverses what `request` asked and negates
/// `original` (the split it journaled for the XPRV01 `request.omsgid`).
pub fn check_reversal_done(
    request: &Reversal,
    original: &Split,
    done: &ReversalDone,
) -> Result<(), Refusal> {
    let at = |name: &str| join("output", name);
    for expected in [&request.setl_id, &original.setl_id] {
        if &done.osetl_id != expected {
            return Err(Refusal::new(
                rule::REV_NOT_FOR_REQUEST,
                at("osetl_id"),
                format!("reverses {}, but {expected} was asked", done.osetl_id),
            ));
        }
    }
    let pairs = [
        (
            "medfee_sumamt",
            done.medfee_sumamt,
            original.amounts.medfee_sumamt,
        ),
        (
            "fund_pay_sumamt",
            done.fund_pay_sumamt,
            original.amounts.fund_pay_sumamt,
        ),
    ];
    for (name, reversed, settled) in pairs {
        if reversed != -settled {
            return Err(Refusal::new(
                rule::REV_NOT_NEGATION,
                at(name),
                format!("{reversed} is not the negation of the settled {settled}"),
            ));
        }
    }
    Ok(())
}
