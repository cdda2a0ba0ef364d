//! medsettle-legacy: the legacy provincial HIS dialects (GBK XML of the old provincial
//! interfaces) as **data profiles**, translated to national-interface transaction inputs and
//! answered in the caller's own dialect and encoding.
//!
//! # The design
//! A legacy call does not get a settlement path of its own. [`decode_call`] turns the legacy
//! XML (and the transaction number from the URL path, plus the values a DLL took as
//! arguments) into a [`LegacyCall`]: one or more [`Step`]s, each the `input` object of a
//! national transaction (`infno` 1101, 2201, 2204, 2207, 2304, …) whose field names are the
//! national ones (`reference/legacy-and-cross-region.md` §2). The gateway runs every step
//! through its national pipeline — the same core, journal, idempotency and daily batch as
//! national JSON — and hands the national `output` of each step to [`encode_answer`], which
//! writes the legacy answer in the request's encoding. A later step may need a value only an
//! earlier step's output has (the insurer's `mdtrt_id` after 2201): a [`Carry`] says where to
//! copy it, and the step's input holds `""` at that place until then.
//!
//! # Profiles are data
//! Everything dialect-specific lives in `specs/legacy/<profile>.toml` (format:
//! `specs/legacy/README.md`): the envelope (root, body path, row tags, `prm_` prefix, case,
//! element or attribute values), encodings, date formats, where the status goes in answers,
//! and per transaction the field map (legacy field → `step:/json/pointer` with a type:
//! text, amount, quantity, price, count, date, datetime or a code through a recode table),
//! the defaults for national required fields the dialect lacks (each recorded in
//! [`LegacyCall::derived`] with its reason), carries, and the answer map. Recode tables cite
//! the source of every entry. One reader serves every profile: adding a dialect is a TOML
//! file plus conformance cases, no Rust. The four built-ins: `guizhou` (Yinhai `prm_`, GBK,
//! two-phase commit), `shijiazhuang` (`HOSDATA/REQUESTDATA`, UTF-8), `yunnan` (cross-region
//! upper-case codes, routed by insured area), `mohrss` (金保 SOAP, values in attributes).
//!
//! # Strict by default, named tolerances
//! The declared encoding is honoured; GBK and GB2312 are read with the GB18030 decoder
//! without replacement, and an invalid byte sequence is refused naming its byte offset
//! ([`LEG_ENCODING`]). DOCTYPE/ENTITY are refused before parsing; depth, size, attributes,
//! rows and text length are bounded by [`Limits`]. What real HIS builds send and we accept is
//! recorded in [`LegacyCall::repairs`]: a UTF-8 BOM, CRLF, stray whitespace, empty optional
//! elements, Guizhou's `<proxy>1</proxy>`, a missing declaration, 4-decimal amounts whose last
//! two places are zeros. Money is integer fen inside and 2-decimal strings in the national
//! inputs: no float touches it.
//!
//! Pure: no I/O, no clock, no async.

mod decode;
mod encode;
pub mod error;
pub mod profile;
mod ptr;
pub mod text;
pub mod value;
pub mod xml;

use serde::Serialize;

pub use decode::decode_call;
pub use encode::{
    DecodedAnswer, decode_answer, encode_answer, encode_error, encode_uncertain, legacy_field,
    national_failure,
};
pub use error::{
    LEG_AMOUNT, LEG_DATE, LEG_ENCODING, LEG_ENCODING_DECLARED, LEG_ENVELOPE, LEG_FIELD, LEG_LIMIT,
    LEG_NATIONAL, LEG_RECODE, LEG_TX, LEG_XML, LEG_XML_DOCTYPE, LegacyError, RULES,
};
pub use profile::{Profile, ProfileError};
pub use text::Encoding;

/// Bounds on what a request may make the reader do. All configurable; the defaults are the
/// named constants below. (The element count is bounded too, by the fixed
/// [`xml::ELEMENTS_MAX`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, bytes.
    pub body_bytes_max: usize,
    /// Deepest element nesting (the root is depth 1).
    pub depth_max: usize,
    /// Most attributes on one element.
    pub attributes_max: usize,
    /// Most rows (`<row>`, `<KC22ROW>`, …) in one message.
    pub rows_max: usize,
    /// Longest text of one element or attribute, bytes (UTF-8).
    pub text_bytes_max: usize,
}

impl Limits {
    /// 4 MiB: a fee upload of a few thousand GBK lines fits well inside.
    pub const BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
    /// 16: the deepest dialect (SOAP body → business → resultset → row) needs 5.
    pub const DEPTH_MAX: usize = 16;
    /// 64: the SOAP rows carry one attribute per field; a MOHRSS person row has about 30.
    pub const ATTRIBUTES_MAX: usize = 64;
    /// 5 000 fee lines per call.
    pub const ROWS_MAX: usize = 5_000;
    /// 64 KiB per text node.
    pub const TEXT_BYTES_MAX: usize = 64 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes_max: Limits::BODY_BYTES_MAX,
            depth_max: Limits::DEPTH_MAX,
            attributes_max: Limits::ATTRIBUTES_MAX,
            rows_max: Limits::ROWS_MAX,
            text_bytes_max: Limits::TEXT_BYTES_MAX,
        }
    }
}

/// What a legacy call asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// One or more national transactions ([`LegacyCall::steps`]).
    National,
    /// Yinhai `yh_interface_confirm(jylsh, jyyzm)`: make a provisional call final.
    Confirm { jylsh: String, jyyzm: String },
    /// Yinhai `yh_interface_cancel(jylsh)`: undo a provisional call.
    Cancel { jylsh: String },
    /// Yinhai `yh_interface_getuncertaintytrade(jybh)`: list undecided calls.
    Uncertain { jybh: String },
}

/// One national transaction a legacy call runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub infno: String,
    /// The national `input` object. Carry and lookup targets hold `""` until filled.
    pub input: serde_json::Value,
    /// Values to copy from earlier steps' outputs into this input before running it.
    pub carry: Vec<Carry>,
    /// Values to copy from the outputs of the call [`LegacyCall::reverses`] names (its step
    /// `from_step`): the dialect names the original call only by its sender serial.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lookup: Vec<Carry>,
}

/// Copy `from` (a JSON pointer into step `from_step`'s national output) to `to` (a JSON
/// pointer into this step's input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Carry {
    pub from_step: usize,
    pub from: String,
    pub to: String,
}

/// A repair or a derived value: the field (legacy name; for derived values the national
/// `infno` + pointer) and what was done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub field: String,
    pub what: String,
}

/// A decoded legacy call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyCall {
    pub profile: String,
    /// The legacy transaction as called (`41`, `1108`, `confirm`).
    pub transaction: String,
    /// The profile entry used: the transaction itself, or the entry a route chose
    /// (`14@inpatient`). [`encode_answer`] answers by it.
    pub definition: String,
    /// The request's encoding; answers go back in it.
    pub encoding: Encoding,
    pub kind: CallKind,
    /// Provisional until confirmed (Yinhai 41/48).
    pub two_phase: bool,
    /// The dialect's own call id (Shijiazhuang MSGID, Yunnan SenderSerialNo).
    pub sender_serial: Option<String>,
    /// The sender serial of the call this one reverses (SJZ ORGMSGID, Yunnan
    /// OldSenderSerialNo); the gateway looks that call up to fill [`Step::lookup`].
    pub reverses: Option<String>,
    pub fixmedins_code: Option<String>,
    pub insuplc_admdvs: Option<String>,
    pub mdtrtarea_admvs: Option<String>,
    pub psn_no: Option<String>,
    pub opter: Option<String>,
    pub opter_name: Option<String>,
    pub steps: Vec<Step>,
    /// What was accepted and repaired.
    pub repairs: Vec<Note>,
    /// National values the dialect lacks, filled from the profile's defaults or computed.
    pub derived: Vec<Note>,
}

/// The answer to a call: the body bytes in the caller's encoding and the out-of-band status
/// (Yinhai `appcode`/`appmsg`, the Yunnan DLL's return value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyAnswer {
    pub body: Vec<u8>,
    /// ≥ 0 success, < 0 failure.
    pub appcode: i64,
    pub appmsg: String,
    /// The encoding of `body` (the request's, or GB18030 when a name needed it).
    pub encoding: Encoding,
}

/// One undecided two-phase call, for `getuncertaintytrade`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UncertainRow {
    pub jylsh: String,
    pub jybh: String,
    pub akc190: String,
    /// When the call was made, `yyyy-MM-dd HH:mm:ss`.
    pub time: String,
}
