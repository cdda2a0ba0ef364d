//! Every limit of `interregion/1`, named with its unit last.
//!
//! Most are protocol constants: both gateways must agree on them, so a sender never builds a
//! message its peer refuses. Only the two that protect the receiver's parser (body size and
//! nesting) are configurable, through [`Limits`]; their defaults are the protocol's values and
//! a receiver must accept at least those.

/// Largest request or answer body, in bytes. At the longest field lengths and amounts
/// (`tests/limits.rs` builds them), a page of 500 statement lines is ~175 KB, a page of 500
/// reconciliation rows ~145 KB, an answer of 1 000 differences ~275 KB, and a reply page of
/// 100-character reasons ~620 KB even when a peer writes every character as a 12-byte `\u`
/// surrogate escape. One MiB leaves room and still bounds what a hostile peer can make us
/// buffer.
pub const BODY_BYTES_MAX: usize = 1024 * 1024;

/// Deepest nesting of arrays and objects (the body itself is depth 1). The deepest legitimate
/// message is a status answer carrying a split: answer → output → answer → setldetail → line,
/// depth 5. The scan runs before parsing, so hostile nesting never reaches the parser.
pub const JSON_DEPTH_MAX: usize = 8;

/// Longest `msgid` (and `omsgid`, `inf_refmsgid`), in characters, all ASCII letters or digits.
pub const MSGID_CHARS_MAX: usize = 40;

/// Most fee-category lines in one summary: one per national category 01–14, each at most once.
pub const ITEMINFO_LINES_MAX: usize = 14;

/// Most fund lines in one split. The national fund dictionary has under 20 codes and a split
/// names each at most once; 32 leaves room for local refinements (330101, 310201, …).
pub const SETLDETAIL_LINES_MAX: usize = 32;

/// Most rows in one reconciliation detail message (XPRV12); a longer day spans several
/// messages by `startrow`.
pub const RECON_ROWS_PER_MESSAGE_MAX: usize = 500;

/// Most differences in one reconciliation detail answer: every row of the page could differ,
/// and the last page also carries the rows missing at the sender. A receiver with more reports
/// the first ones in key order; the sender resolves them and reconciles the day again.
pub const DIFFERENCES_PER_ANSWER_MAX: usize = 1000;

/// Most lines in one clearing statement message (XPRV21); a statement spans several messages
/// by `startrow`.
pub const STATEMENT_LINES_PER_MESSAGE_MAX: usize = 500;

/// Most lines in one clearing reply message (XPRV22): the same as a statement page, so one
/// page is answered by one reply.
pub const REPLY_LINES_PER_MESSAGE_MAX: usize = STATEMENT_LINES_PER_MESSAGE_MAX;

/// Largest count (`fwd_cnt`, `cnt`, `startrow`, `seqno`, …). A billion settlements a day or a
/// month between two regions is far beyond reality; the bound keeps `startrow + rows` and
/// every sum of counts inside `u32`/`u64` without overflow checks at each use.
pub const COUNT_MAX: u32 = 1_000_000_000;

/// Amounts are precision 16,2 (as the national interface): the absolute value in fen must be
/// below this. It also keeps every sum the decoders form (at most 1 000 amounts) far from
/// `i64` overflow, so hostile amounts cannot make a checked identity panic.
pub const AMOUNT_FEN_ABS_LIMIT: i64 = 10_000_000_000_000_000;

/// Longest `err_msg` of an answer, in characters. Refusal messages quote at most
/// [`QUOTE_CHARS_MAX`] characters of what the peer sent, so ours stay far below it.
pub const ERR_MSG_CHARS_MAX: usize = 1000;

/// Longest `path` of an answer, in characters.
pub const PATH_CHARS_MAX: usize = 200;

/// Longest `rule` of an answer, in characters.
pub const RULE_CHARS_MAX: usize = 40;

/// Most characters of a peer's own text quoted back in a refusal message or path.
pub const QUOTE_CHARS_MAX: usize = 40;

/// Longest person name (`psn_name`), in characters.
pub const NAME_CHARS_MAX: usize = 50;

/// Longest institution name (`fixmedins_name`), in characters.
pub const INSTITUTION_NAME_CHARS_MAX: usize = 200;

/// Longest refusal reason of a clearing reply line, in characters (see [`BODY_BYTES_MAX`] for
/// why it is short).
pub const REASON_CHARS_MAX: usize = 100;

/// Longest identifier issued by either side (`mdtrt_id`, `setl_id`, `psn_no`, `fixmedins_code`,
/// `medins_no`), in characters, as the national interface's char 30.
pub const ID_CHARS_MAX: usize = 30;

/// Longest certificate number (`certno`), in characters, as the national char 50.
pub const CERTNO_CHARS_MAX: usize = 50;

/// Longest clearing statement id (`stmt_id`), in characters.
pub const STMT_ID_CHARS_MAX: usize = 40;

/// Longest dictionary code (`insutype`, `med_type`, `psn_type`, `hosp_lv`), in characters, as
/// the national char 6.
pub const CODE_CHARS_MAX: usize = 6;

/// The protocol's limits by name, for the spec-table test (`specs/interregion.md`, "Limits").
pub const PROTOCOL_LIMITS: &[(&str, u64)] = &[
    ("BODY_BYTES_MAX", BODY_BYTES_MAX as u64),
    ("JSON_DEPTH_MAX", JSON_DEPTH_MAX as u64),
    ("MSGID_CHARS_MAX", MSGID_CHARS_MAX as u64),
    ("ITEMINFO_LINES_MAX", ITEMINFO_LINES_MAX as u64),
    ("SETLDETAIL_LINES_MAX", SETLDETAIL_LINES_MAX as u64),
    (
        "RECON_ROWS_PER_MESSAGE_MAX",
        RECON_ROWS_PER_MESSAGE_MAX as u64,
    ),
    (
        "DIFFERENCES_PER_ANSWER_MAX",
        DIFFERENCES_PER_ANSWER_MAX as u64,
    ),
    (
        "STATEMENT_LINES_PER_MESSAGE_MAX",
        STATEMENT_LINES_PER_MESSAGE_MAX as u64,
    ),
    (
        "REPLY_LINES_PER_MESSAGE_MAX",
        REPLY_LINES_PER_MESSAGE_MAX as u64,
    ),
    ("COUNT_MAX", COUNT_MAX as u64),
    ("AMOUNT_FEN_ABS_LIMIT", AMOUNT_FEN_ABS_LIMIT as u64),
    ("ERR_MSG_CHARS_MAX", ERR_MSG_CHARS_MAX as u64),
    ("PATH_CHARS_MAX", PATH_CHARS_MAX as u64),
    ("RULE_CHARS_MAX", RULE_CHARS_MAX as u64),
    ("NAME_CHARS_MAX", NAME_CHARS_MAX as u64),
    (
        "INSTITUTION_NAME_CHARS_MAX",
        INSTITUTION_NAME_CHARS_MAX as u64,
    ),
    ("REASON_CHARS_MAX", REASON_CHARS_MAX as u64),
    ("ID_CHARS_MAX", ID_CHARS_MAX as u64),
    ("CERTNO_CHARS_MAX", CERTNO_CHARS_MAX as u64),
    ("STMT_ID_CHARS_MAX", STMT_ID_CHARS_MAX as u64),
    ("CODE_CHARS_MAX", CODE_CHARS_MAX as u64),
];

/// The receiver-side limits applied before and while parsing a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest body accepted, in bytes (`XR-ENV-1`).
    pub body_bytes_max: usize,
    /// Deepest nesting accepted (`XR-ENV-4`).
    pub json_depth_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes_max: BODY_BYTES_MAX,
            json_depth_max: JSON_DEPTH_MAX,
        }
    }
}
