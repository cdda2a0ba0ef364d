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
        err_msg: Some(describe(violations)),
        warn_msg: None,
        cainfo: None,
        signtype: None,
        enctype: None,
        output: Some(Value::Null),
        extra: Map::new(),
    }
}
