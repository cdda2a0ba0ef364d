//! Answers in the national dialect: the success envelope for a settled claim, and the
//! failure envelope naming every violation.

use medsettle_canonical::{SettledClaim, Violation, describe};
use serde_json::{Map, Value};

use crate::envelope::{Infcode, ResponseEnvelope};
use crate::field::Record;
use crate::settlement::{PersonExtras, settle_output_for_claim};
use crate::tx::settle::SettleOutput;

/// What an answer needs besides the claim: the receiver's ids and times.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnswerContext {
    /// Receiver message id: receiver admdvs(6) + yyyyMMddHHmmss(14) + serial(10).
    pub inf_refmsgid: String,
    /// Time the request was received, `yyyyMMddHHmmssSSS`.
    pub refmsg_time: String,
    /// Time the answer is sent, `yyyyMMddHHmmssSSS`.
    pub respond_time: String,
    /// Person fields of `setlinfo` that the claim does not keep.
    pub person: Option<PersonExtras>,
}

/// The success answer (2207/2304/2208/2305 output) for a settled claim.
pub fn answer_for_claim(claim: &SettledClaim, ctx: &AnswerContext) -> ResponseEnvelope {
    let (mut envelope, output) = answer_parts_for_claim(claim, ctx);
    envelope.output = Some(output.to_wire());
    envelope
}

/// [`answer_for_claim`] as its envelope without the output and the typed output, for a caller
/// that writes the bytes at once ([`ResponseEnvelope::to_bytes_with_output`] with
/// [`crate::field::Wire`]) instead of building the output as a `Value`.
pub fn answer_parts_for_claim(
    claim: &SettledClaim,
    ctx: &AnswerContext,
) -> (ResponseEnvelope, SettleOutput) {
    let output = settle_output_for_claim(claim, ctx.person.as_ref());
    (success_envelope(ctx), output)
}

/// A success envelope with no output yet.
pub fn success_envelope(ctx: &AnswerContext) -> ResponseEnvelope {
    ResponseEnvelope {
        infcode: Infcode::SUCCESS,
        inf_refmsgid: Some(ctx.inf_refmsgid.clone()),
        refmsg_time: Some(ctx.refmsg_time.clone()),
        respond_time: Some(ctx.respond_time.clone()),
        err_msg: Some(String::new()),
        warn_msg: Some(String::new()),
        cainfo: None,
        signtype: None,
        enctype: None,
        output: None,
        extra: Map::new(),
    }
}

/// The violations with each rule id and path said once: a message made from an error that
/// already starts with its own `[rule] path: ` (a core refusal, an engine error put into a
/// violation whole) would otherwise read `[CORE-X] p: [CORE-X] p: …` in `err_msg`.
fn tagged_once(violations: &[Violation]) -> Vec<Violation> {
    violations
        .iter()
        .map(|v| {
            let tag = format!("[{}] ", v.rule);
            let Some(rest) = v.message.strip_prefix(&tag) else {
                return v.clone();
            };
            let rest = if v.path.is_empty() {
                rest
            } else {
                rest.strip_prefix(&format!("{}: ", v.path)).unwrap_or(rest)
            };
            Violation::new(v.rule, v.path.clone(), rest)
        })
        .collect()
}

/// The failure answer: `infcode` -1 and `err_msg` naming each violation's rule id and field
/// path, first violation first. The full text is sent even beyond the 200 characters of the
/// spec's `err_msg`; a client that cuts at 200 still sees the first violation whole when it
/// fits (see `specs/nhsa-interface.md`, "err_msg").
pub fn error_answer(violations: &[Violation], ctx: &AnswerContext) -> ResponseEnvelope {
    ResponseEnvelope {
        infcode: Infcode::FAILURE,
        inf_refmsgid: Some(ctx.inf_refmsgid.clone()),
        refmsg_time: Some(ctx.refmsg_time.clone()),
        respond_time: Some(ctx.respond_time.clone()),
        err_msg: Some(describe(&tagged_once(violations))),
        warn_msg: None,
        cainfo: None,
        signtype: None,
        enctype: None,
        output: Some(Value::Null),
        extra: Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use medsettle_canonical::RuleId;

    use super::*;

    /// Issue 15 item 7: the gateway put a core refusal's whole text (`[CODE] path: message`)
    /// into a violation of the same code and path, and `err_msg` said both twice.
    #[test]
    fn err_msg_names_each_rule_once() {
        let ctx = AnswerContext::default();
        let core = Violation::new(
            RuleId("CORE-PERSON-UNKNOWN"),
            "input.data.psn_no",
            "[CORE-PERSON-UNKNOWN] input.data.psn_no: no insured person 99",
        );
        let engine = Violation::new(
            RuleId("IS-D-9"),
            "input.data",
            "[IS-D-9] statement dates 2026-12-01..2026-11-30 are reversed",
        );
        let unavailable = Violation::new(
            RuleId::GW_UNAVAILABLE,
            "",
            "[GW-UNAVAILABLE] : the journal cannot be written",
        );
        let plain = Violation::new(
            RuleId::FMT_MONEY,
            "input.data.medfee_sumamt",
            "too many decimals",
        );
        let answer = error_answer(&[core, engine, unavailable, plain], &ctx);
        assert_eq!(
            answer.err_msg.unwrap(),
            "[CORE-PERSON-UNKNOWN] input.data.psn_no: no insured person 99; \
             [IS-D-9] input.data: statement dates 2026-12-01..2026-11-30 are reversed; \
             [GW-UNAVAILABLE] : the journal cannot be written; \
             [FMT-MONEY] input.data.medfee_sumamt: too many decimals"
        );
    }
}
