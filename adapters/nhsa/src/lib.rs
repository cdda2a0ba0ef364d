//! medsettle-nhsa: the national JSON interface (医疗保障信息平台 定点医药机构接口) ↔ canonical.
//!
//! Pure: no I/O, no async. Entry points:
//! - [`to_canonical`]: bytes of a request, response or exchange → [`Canonical`];
//! - [`RequestEnvelope::decode`] / [`ResponseEnvelope::decode`] and [`decode_input`] /
//!   [`decode_output`]: the typed pieces, each collecting every violation with its rule id
//!   and full field path;
//! - [`answer_for_claim`] / [`error_answer`] → [`ResponseEnvelope`] → `to_bytes()`.
//!
//! [`Infno`] is the transaction table: every transaction number medsettle serves, with the
//! facts the gateway derives its routes, core transactions and in-doubt set from.
//!
//! Amounts are read from the JSON number text (never through `f64`) into
//! [`Money`](medsettle_canonical::Money) fen. The field tables in `specs/nhsa/*.toml` describe
//! every node; `tests/spec_tables.rs` checks this crate against them.

pub mod answer;
pub mod canonical;
pub mod envelope;
pub mod error;
pub mod field;
mod json;
pub mod plausible;
pub mod settlement;
pub mod tx;

pub use answer::{
    AnswerContext, answer_for_claim, answer_parts_for_claim, error_answer, success_envelope,
};
pub use canonical::{
    Canonical, CanonicalRequest, CanonicalResponse, Decoded, ExchangeOutcome, Options,
    check_fee_lines, decode, to_canonical,
};
pub use envelope::{
    DecodeLimits, Infcode, JSON_DEPTH_MAX_DEFAULT, RequestEnvelope, ResponseEnvelope,
};
pub use error::NhsaError;
pub use field::{
    FieldKind, FieldSpec, MDTRT_CERT_NO_MAX_DEFAULT, Record, Repair, RepairKind, Scaled, Tolerance,
    Wire,
};
pub use settlement::{PersonExtras, claim_from_exchange, settle_output_for_claim};
pub use tx::{Infno, TxInput, TxOutput, decode_input, decode_output, input_fields, output_fields};
