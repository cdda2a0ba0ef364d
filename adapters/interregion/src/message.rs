//! Typed inputs and outputs by infno: decode, encode, and the checks that need the envelope
//! and the input together.

use serde_json::Value;

use crate::clearing::{ClearingReply, ClearingStatement, ReplyAnswer, StatementReceipt};
use crate::envelope::RequestEnvelope;
use crate::infno::Infno;
use crate::limits::Limits;
use crate::prepayment::{PrepaymentAck, PrepaymentNotice};
use crate::recon::{ReconDetail, ReconDetailAnswer, ReconTotals, ReconTotalsAnswer};
use crate::refusal::{Refusal, rule};
use crate::reversal::{Reversal, ReversalDone};
use crate::split::Split;
use crate::status::{StatusAnswer, StatusQuery};
use crate::summary::Summary;
use medsettle_canonical::Admdvs;

/// A request's input, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerRequest {
    Summary(Summary),
    Reversal(Reversal),
    Status(StatusQuery),
    ReconTotals(ReconTotals),
    ReconDetail(ReconDetail),
    Statement(ClearingStatement),
    Reply(ClearingReply),
    Prepayment(PrepaymentNotice),
}

impl PeerRequest {
    pub fn infno(&self) -> Infno {
        match self {
            PeerRequest::Summary(_) => Infno::Xprv01,
            PeerRequest::Reversal(_) => Infno::Xprv02,
            PeerRequest::Status(_) => Infno::Xprv03,
            PeerRequest::ReconTotals(_) => Infno::Xprv11,
            PeerRequest::ReconDetail(_) => Infno::Xprv12,
            PeerRequest::Statement(_) => Infno::Xprv21,
            PeerRequest::Reply(_) => Infno::Xprv22,
            PeerRequest::Prepayment(_) => Infno::Xprv31,
        }
    }

    /// The input object.
    pub fn to_input(&self) -> Value {
        match self {
            PeerRequest::Summary(m) => m.to_input(),
            PeerRequest::Reversal(m) => m.to_input(),
            PeerRequest::Status(m) => m.to_input(),
            PeerRequest::ReconTotals(m) => m.to_input(),
            PeerRequest::ReconDetail(m) => m.to_input(),
            PeerRequest::Statement(m) => m.to_input(),
            PeerRequest::Reply(m) => m.to_input(),
            PeerRequest::Prepayment(m) => m.to_input(),
        }
    }

    /// The checks that need the envelope: the input is for the envelope's infno, and the
    /// provinces a clearing statement or prepayment names are those of the envelope's regions.
    pub fn check_against_envelope(&self, env: &RequestEnvelope) -> Result<(), Refusal> {
        if self.infno() != env.infno {
            return Err(Refusal::new(
                rule::ENV_INFNO,
                "infno",
                format!(
                    "the envelope says {}, the input is a {}",
                    env.infno,
                    self.infno()
                ),
            ));
        }
        let (insuplc, mdtrtarea, rule_id) = match self {
            PeerRequest::Statement(s) => (s.insuplc_prov, s.mdtrtarea_prov, rule::CLR_PROVINCE),
            PeerRequest::Prepayment(p) => (p.insuplc_prov, p.mdtrtarea_prov, rule::PRE_PROVINCE),
            _ => return Ok(()),
        };
        for (name, prov, region) in [
            ("input.insuplc_prov", insuplc, env.insuplc_admdvs),
            ("input.mdtrtarea_prov", mdtrtarea, env.mdtrtarea_admvs),
        ] {
            if prov != province_of(region) {
                return Err(Refusal::new(
                    rule_id,
                    name,
                    format!("{prov} is not the province of the envelope's region {region}"),
                ));
            }
        }
        Ok(())
    }
}

/// The province (`xx0000`) a region belongs to.
pub fn province_of(region: Admdvs) -> Admdvs {
    Admdvs::parse(&format!("{}0000", region.province())).expect("a region's province is a region")
}

/// Type `input` as the input of `infno`; refusals name `input.…`.
pub fn decode_input(infno: Infno, input: &Value) -> Result<PeerRequest, Refusal> {
    let root = "input";
    Ok(match infno {
        Infno::Xprv01 => PeerRequest::Summary(Summary::decode_at(input, root)?),
        Infno::Xprv02 => PeerRequest::Reversal(Reversal::decode_at(input, root)?),
        Infno::Xprv03 => PeerRequest::Status(StatusQuery::decode_at(input, root)?),
        Infno::Xprv11 => PeerRequest::ReconTotals(ReconTotals::decode_at(input, root)?),
        Infno::Xprv12 => PeerRequest::ReconDetail(ReconDetail::decode_at(input, root)?),
        Infno::Xprv21 => PeerRequest::Statement(ClearingStatement::decode_at(input, root)?),
        Infno::Xprv22 => PeerRequest::Reply(ClearingReply::decode_at(input, root)?),
        Infno::Xprv31 => PeerRequest::Prepayment(PrepaymentNotice::decode_at(input, root)?),
    })
}

/// Decode a whole request: the envelope, its input, and the checks between them.
pub fn decode_request(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(RequestEnvelope, PeerRequest), Refusal> {
    let env = RequestEnvelope::decode(bytes, limits)?;
    let request = decode_input(env.infno, &env.input)?;
    request.check_against_envelope(&env)?;
    Ok((env, request))
}

/// An answer's output, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // a decoded message, built once and read; boxing buys nothing
pub enum PeerAnswer {
    Split(Split),
    ReversalDone(ReversalDone),
    Status(StatusAnswer),
    ReconTotals(ReconTotalsAnswer),
    ReconDetail(ReconDetailAnswer),
    StatementReceipt(StatementReceipt),
    Reply(ReplyAnswer),
    Prepayment(PrepaymentAck),
}

impl PeerAnswer {
    pub fn infno(&self) -> Infno {
        match self {
            PeerAnswer::Split(_) => Infno::Xprv01,
            PeerAnswer::ReversalDone(_) => Infno::Xprv02,
            PeerAnswer::Status(_) => Infno::Xprv03,
            PeerAnswer::ReconTotals(_) => Infno::Xprv11,
            PeerAnswer::ReconDetail(_) => Infno::Xprv12,
            PeerAnswer::StatementReceipt(_) => Infno::Xprv21,
            PeerAnswer::Reply(_) => Infno::Xprv22,
            PeerAnswer::Prepayment(_) => Infno::Xprv31,
        }
    }

    /// The output object.
    pub fn to_output(&self) -> Value {
        match self {
            PeerAnswer::Split(m) => m.to_output(),
            PeerAnswer::ReversalDone(m) => m.to_output(),
            PeerAnswer::Status(m) => m.to_output(),
            PeerAnswer::ReconTotals(m) => m.to_output(),
            PeerAnswer::ReconDetail(m) => m.to_output(),
            PeerAnswer::StatementReceipt(m) => m.to_output(),
            PeerAnswer::Reply(m) => m.to_output(),
            PeerAnswer::Prepayment(m) => m.to_output(),
        }
    }
}

/// Type `output` as the output of `infno`; refusals name `output.…`.
pub fn decode_output(infno: Infno, output: &Value) -> Result<PeerAnswer, Refusal> {
    decode_output_at(infno, output, "output")
}

pub(crate) fn decode_output_at(
    infno: Infno,
    output: &Value,
    root: &str,
) -> Result<PeerAnswer, Refusal> {
    Ok(match infno {
        Infno::Xprv01 => PeerAnswer::Split(Split::decode_at(output, root)?),
        Infno::Xprv02 => PeerAnswer::ReversalDone(ReversalDone::decode_at(output, root)?),
        Infno::Xprv03 => PeerAnswer::Status(StatusAnswer::decode_at(output, root)?),
        Infno::Xprv11 => PeerAnswer::ReconTotals(ReconTotalsAnswer::decode_at(output, root)?),
        Infno::Xprv12 => PeerAnswer::ReconDetail(ReconDetailAnswer::decode_at(output, root)?),
        Infno::Xprv21 => PeerAnswer::StatementReceipt(StatementReceipt::decode_at(output, root)?),
        Infno::Xprv22 => PeerAnswer::Reply(ReplyAnswer::decode_at(output, root)?),
        Infno::Xprv31 => PeerAnswer::Prepayment(PrepaymentAck::decode_at(output, root)?),
    })
}

/// Check a status answer against the query it answers and type the original's answer:
/// `reversed` only for XPRV01, and the embedded answer must decode as `oinfno`'s output
/// (refusals name `output.answer.…`).
pub fn check_status_answer(
    query: &crate::status::StatusQuery,
    answer: &crate::status::StatusAnswer,
) -> Result<Option<PeerAnswer>, Refusal> {
    if answer.state == crate::status::StatusState::Reversed && query.oinfno != Infno::Xprv01 {
        return Err(Refusal::new(
            rule::STAT_REVERSED_KIND,
            "output.state",
            format!("only an XPRV01 can be reversed, not {}", query.oinfno),
        ));
    }
    answer
        .answer
        .as_ref()
        .map(|a| decode_output_at(query.oinfno, a, "output.answer"))
        .transpose()
}
