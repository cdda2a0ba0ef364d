//! XPRV03 — what became of a message the sender is in doubt about (no answer, a broken
//! connection, an answer it could not read), and optionally a seal: "if you never applied it,
//! never apply it". After a sealed answer the sender knows for certain the original will not
//! take effect and may send the business again under a new msgid, which is what makes a
//! timeout safe to recover from without ever settling a claim twice.

use medsettle_canonical::Admdvs;
use serde_json::Value;

use crate::field::{Field, Node, Out, Shape, cond, quote, req};
use crate::infno::Infno;
use crate::key::IdempotencyKey;
use crate::limits::MSGID_CHARS_MAX;
use crate::refusal::{Refusal, rule};

/// Fields of XPRV03 `input`.
pub const STATUS_QUERY_FIELDS: &[Field] = &[req("oinfno"), req("omsgid"), req("seal")];

/// Fields of XPRV03 `output`.
pub const STATUS_ANSWER_FIELDS: &[Field] = &[req("state"), cond("answer")];

/// The XPRV03 input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusQuery {
    /// The infno of the message in doubt: one that changes state.
    pub oinfno: Infno,
    /// Its msgid.
    pub omsgid: String,
    /// `seal` "1": if the receiver never applied it, it records that it never will.
    pub seal: bool,
}

const FLAGS: &[(&str, bool)] = &[("0", false), ("1", true)];

impl StatusQuery {
    pub(crate) fn decode_at(v: &Value, root: &str) -> Result<StatusQuery, Refusal> {
        let n = Node::open(v, root, STATUS_QUERY_FIELDS)?;
        let text = n.text("oinfno", Shape::Alnum(MSGID_CHARS_MAX))?;
        let oinfno = Infno::parse(&text)
            .filter(|i| i.changes_state())
            .ok_or_else(|| {
                Refusal::new(
                    rule::STAT_OINFNO,
                    n.at("oinfno"),
                    format!(
                        "{} is not a message that changes state (XPRV01, XPRV02, XPRV21, XPRV22, XPRV31)",
                        quote(&text)
                    ),
                )
            })?;
        Ok(StatusQuery {
            oinfno,
            omsgid: n.text("omsgid", Shape::Alnum(MSGID_CHARS_MAX))?,
            seal: n.code("seal", FLAGS)?,
        })
    }

    pub fn to_input(&self) -> Value {
        Out::new()
            .text("oinfno", self.oinfno.as_str())
            .text("omsgid", &self.omsgid)
            .text("seal", if self.seal { "1" } else { "0" })
            .done()
    }

    /// The key of the message asked about, sent by `sender` (the query's own sender: a side
    /// only asks about its own messages).
    pub fn target(&self, sender: Admdvs) -> IdempotencyKey {
        IdempotencyKey {
            sender,
            infno: self.oinfno,
            msgid: self.omsgid.clone(),
        }
    }
}

/// What the receiver knows of the message asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusState {
    /// Applied; `answer` is the output it was answered with.
    Applied,
    /// An XPRV01 that was applied and later reversed by XPRV02; `answer` is the split.
    Reversed,
    /// Never applied, and not sealed: it may still arrive and be applied.
    Absent,
    /// Never applied, and never will be: a late original is refused (`XR-STAT-4`).
    Sealed,
}

const STATES: &[(&str, StatusState)] = &[
    ("applied", StatusState::Applied),
    ("reversed", StatusState::Reversed),
    ("absent", StatusState::Absent),
    ("sealed", StatusState::Sealed),
];

impl StatusState {
    pub fn as_str(self) -> &'static str {
        STATES
            .iter()
            .find(|(_, s)| *s == self)
            .map(|(w, _)| *w)
            .expect("every state is in the table")
    }

    /// Whether the original took effect (and so the answer carries its output).
    pub fn took_effect(self) -> bool {
        matches!(self, StatusState::Applied | StatusState::Reversed)
    }
}

/// The XPRV03 output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusAnswer {
    pub state: StatusState,
    /// The original answer's output object, when the original took effect.
    pub answer: Option<Value>,
}

impl StatusAnswer {
    pub(crate) fn decode_at(v: &Value, root: &str) -> Result<StatusAnswer, Refusal> {
        let n = Node::open(v, root, STATUS_ANSWER_FIELDS)?;
        let state = n.code("state", STATES)?;
        let answer = n.opt_raw_object("answer")?.cloned();
        if state.took_effect() != answer.is_some() {
            let why = if answer.is_some() {
                format!("state {} carries no answer", state.as_str())
            } else {
                format!("state {} carries the original's answer", state.as_str())
            };
            return Err(Refusal::new(
                rule::STAT_ANSWER_PRESENCE,
                n.at("answer"),
                why,
            ));
        }
        Ok(StatusAnswer { state, answer })
    }

    pub fn from_output(output: &Value) -> Result<StatusAnswer, Refusal> {
        StatusAnswer::decode_at(output, "output")
    }

    pub fn to_output(&self) -> Value {
        let out = Out::new().text("state", self.state.as_str());
        match &self.answer {
            Some(a) => out.value("answer", a.clone()),
            None => out,
        }
        .done()
    }
}
