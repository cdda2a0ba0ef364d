//! medsettle-interregion: `interregion/1`, the protocol between two regions' gateways for
//! cross-region settlement and clearing (`specs/interregion.md`).
//!
//! The place of treatment sends the insured place a fee-category summary (XPRV01) and gets its
//! split back; it can reverse a split (XPRV02), ask what became of a message it is in doubt
//! about and seal it (XPRV03), reconcile each day (XPRV11 totals, XPRV12 detail), state each
//! month's clearing (XPRV21, answered line by line with XPRV22), and give notice of the yearly
//! prepayment (XPRV31).
//!
//! Pure: no I/O, no async. Bytes in, typed messages out, and back:
//! - [`RequestEnvelope::decode`] / [`RequestEnvelope::encode`], then [`decode_input`] /
//!   [`PeerRequest::to_input`] (or [`decode_request`] for all three steps);
//! - [`AnswerEnvelope::decode`] / [`AnswerEnvelope::encode`], then [`decode_output`] /
//!   [`PeerAnswer::to_output`];
//! - the checks that need two messages: [`check_split_against`], [`check_reversal_done`],
//!   [`check_status_answer`], [`check_totals_answer`], [`check_statement_receipt`],
//!   [`check_reply_answer`], [`check_statement_complete`];
//! - the computations both sides must agree on: [`reconcile_detail`], [`day_totals`],
//!   [`reply_answer`], [`prepayment_required`], [`prepayment_movement`].
//!
//! Every refusal is a [`Refusal`] naming a rule id ([`rule`]) and the field's path. Money is
//! integer fen ([`Money`](medsettle_canonical::Money)), parsed exactly, never through a float.

pub mod clearing;
pub mod dates;
pub mod envelope;
pub mod field;
pub mod infno;
mod json;
pub mod key;
pub mod limits;
pub mod message;
pub mod prepayment;
pub mod recon;
pub mod refusal;
pub mod reversal;
pub mod spec;
pub mod split;
pub mod status;
pub mod summary;

pub use clearing::{
    ClearingReply, ClearingStatement, ReplyAnswer, ReplyFlag, ReplyLine, StatementLine,
    StatementReceipt, check_reply_answer, check_statement_complete, check_statement_receipt,
    reply_answer,
};
pub use dates::{YearMonth, china_datetime};
pub use envelope::{
    AnswerContext, AnswerEnvelope, RequestEnvelope, SUPPORTED_VERSIONS, VERSION, region_permitted,
};
pub use infno::{Infno, Side};
pub use key::IdempotencyKey;
pub use limits::*;
pub use message::{
    PeerAnswer, PeerRequest, check_status_answer, decode_input, decode_output, decode_request,
    province_of,
};
pub use prepayment::{
    Movement, PrepaymentAck, PrepaymentNotice, prepayment_movement, prepayment_required,
};
pub use recon::{
    DayTotals, Difference, DifferenceKind, ReconDetail, ReconDetailAnswer, ReconRow, ReconTotals,
    ReconTotalsAnswer, StmtResult, TxKind, check_totals_answer, day_totals, reconcile_detail,
};
pub use refusal::{Refusal, rule};
pub use reversal::{Reversal, ReversalDone, check_reversal_done};
pub use split::{Split, check_split_against};
pub use status::{StatusAnswer, StatusQuery, StatusState};
pub use summary::{CategoryLine, SetlKind, Summary, SummaryHeader, is_inpatient};
