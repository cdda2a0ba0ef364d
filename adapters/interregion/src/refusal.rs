//! Why a message is refused: a rule id, the path of the field, and words the peer can act on.
//!
//! Every refusal of this crate is the sender's fault (the bytes are what the peer sent, or the
//! answer is what it answered). The ids are listed, with their meaning, in the rule table of
//! `specs/interregion.md`; a test checks that table against [`rule::ALL`].

use std::fmt;

use medsettle_canonical::{RuleId, Violation};

/// A message (or a part of one) this side will not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The rule broken, e.g. `XR-SUM-2` (one of [`rule::ALL`]).
    pub rule: &'static str,
    /// Where: `input.iteminfo[3].amt`, `output.setlinfo.fund_pay_sumamt`, `msgid`; empty for
    /// the body as a whole.
    pub path: String,
    /// What is wrong, quoting at most a few characters of what was sent.
    pub message: String,
}

impl Refusal {
    pub fn new(rule: &'static str, path: impl Into<String>, message: impl Into<String>) -> Self {
        debug_assert!(rule::ALL.contains(&rule), "{rule} is not in rule::ALL");
        Refusal {
            rule,
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same refusal as a canonical violation, for the gateway's logs and journal.
    pub fn to_violation(&self) -> Violation {
        Violation::new(RuleId(self.rule), self.path.clone(), self.message.clone())
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "[{}] {}", self.rule, self.message)
        } else {
            write!(f, "[{}] {}: {}", self.rule, self.path, self.message)
        }
    }
}

impl std::error::Error for Refusal {}

/// The rule ids of `interregion/1`. Names say what the rule is about; the id is what goes on
/// the wire and never changes meaning.
pub mod rule {
    /// Declares each rule once: its constant, and its place in [`ALL`] and [`NAMES`].
    macro_rules! rules {
        ($($(#[$doc:meta])* $name:ident = $id:literal;)*) => {
            $($(#[$doc])* pub const $name: &str = $id;)*

            /// Every rule id, in the order of the spec's table.
            pub const ALL: &[&str] = &[$($name),*];

            /// Every rule as (constant name, id), for the spec-table test.
            pub const NAMES: &[(&str, &str)] = &[$((stringify!($name), $id)),*];
        };
    }

    rules! {
        // Field syntax, in any message (envelope, input, output).
        /// A required field is missing, `null` or `""`.
        FMT_REQUIRED = "XR-FMT-1";
        /// A field has the wrong JSON type.
        FMT_TYPE = "XR-FMT-2";
        /// Text too long, empty where it may not be, or with characters outside its field's set.
        FMT_TEXT = "XR-FMT-3";
        /// An amount or ratio that is not exact (a third decimal, not a number) or out of range.
        FMT_AMOUNT = "XR-FMT-4";
        /// A count or integer that is not a whole number within its range.
        FMT_COUNT = "XR-FMT-5";
        /// A date, date-time, month or year that is not real, not in its layout, or outside
        /// 2000–2099.
        FMT_TIME = "XR-FMT-6";
        /// A region code that is not 6 digits with a province 11–99, or a province code that does
        /// not end in 0000.
        FMT_REGION = "XR-FMT-7";
        /// A coded field with a value outside its list.
        FMT_CODE = "XR-FMT-8";
        /// A field this version does not define.
        FMT_UNKNOWN_FIELD = "XR-FMT-9";

        // The envelope and the exchange.
        /// The body is larger than `body_bytes_max`.
        ENV_SIZE = "XR-ENV-1";
        /// The body is not UTF-8.
        ENV_UTF8 = "XR-ENV-2";
        /// The body is not well-formed JSON, or not a JSON object.
        ENV_JSON = "XR-ENV-3";
        /// The body nests deeper than `json_depth_max`.
        ENV_DEPTH = "XR-ENV-4";
        /// An object names a key twice.
        ENV_DUPLICATE_KEY = "XR-ENV-5";
        /// `ver` is not a version this side speaks.
        ENV_VERSION = "XR-ENV-6";
        /// `infno` is not a message of this version (or not the one the input is for).
        ENV_INFNO = "XR-ENV-7";
        /// The place of treatment and the insured place are the same region.
        ENV_SAME_REGION = "XR-ENV-8";
        /// The sender region is not one the peer's certificate may speak for.
        ENV_SENDER = "XR-ENV-9";
        /// The msgid was already used by this sender for this infno with different bytes.
        ENV_MSGID_REUSED = "XR-ENV-10";
        /// An answer envelope is inconsistent: `infcode` not 0/-1, a done answer without an output
        /// object or with error fields, a refusal without `rule`/`err_msg` or with an output.
        ENV_ANSWER = "XR-ENV-11";

        // XPRV01 input: the fee-category summary.
        /// `iteminfo` has no line or more than 14.
        SUM_LINE_COUNT = "XR-SUM-1";
        /// A line's `amt` is not `claa_sumfee + clab_amt + fulamt_ownpay_amt + oth_amt`.
        SUM_LINE_PARTS = "XR-SUM-2";
        /// A negative amount in a summary.
        SUM_NEGATIVE = "XR-SUM-3";
        /// `med_chrgitm` is not a national fee category 01–14.
        SUM_CATEGORY = "XR-SUM-4";
        /// A fee category appears on two lines.
        SUM_CATEGORY_REPEATED = "XR-SUM-5";
        /// `Σ iteminfo.amt` is not `medfee_sumamt`.
        SUM_TOTAL = "XR-SUM-6";
        /// `endtime` is missing for an inpatient `med_type`.
        SUM_ENDTIME_REQUIRED = "XR-SUM-7";
        /// `endtime` is before `begntime`.
        SUM_ENDTIME_ORDER = "XR-SUM-8";

        // XPRV01 output: the split.
        /// `fund_pay_sumamt` is not the sum of the fund lines of `setldetail` (or the listed
        /// account lines do not sum to `acct_pay`, or hospital lines to `hosp_part_amt`).
        SPLIT_FUND_LINES = "XR-SPLIT-1";
        /// `psn_part_amt` is not `medfee_sumamt − fund_pay_sumamt`.
        SPLIT_PERSON_PART = "XR-SPLIT-2";
        /// `acct_pay + psn_cash_pay` is not `psn_part_amt`.
        SPLIT_ACCOUNT_CASH = "XR-SPLIT-3";
        /// The split does not answer the summary: `medfee_sumamt`, `mdtrt_id` or `psn_no` differ.
        SPLIT_NOT_FOR_SUMMARY = "XR-SPLIT-4";
        /// `medfee_sumamt` is not `fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt +
        /// inscp_scp_amt`.
        SPLIT_SCOPE_PARTS = "XR-SPLIT-5";
        /// `fund_pay_sumamt` is not the sum of the fund parts (`hifp_pay` … `hifdm_pay`).
        SPLIT_FUND_PARTS = "XR-SPLIT-6";
        /// `hosp_part_amt` is not zero.
        SPLIT_HOSPITAL_PART = "XR-SPLIT-7";
        /// A negative amount, or `pool_prop_selfpay` outside 0–1.
        SPLIT_RANGE = "XR-SPLIT-8";
        /// `setldetail` has more than 32 lines, or names a fund type twice.
        SPLIT_DETAIL_LINES = "XR-SPLIT-9";
        /// `acct_pay` is not zero although the summary said `acct_used_flag` "0".
        SPLIT_ACCOUNT_NOT_ALLOWED = "XR-SPLIT-10";

        // XPRV02: reversal.
        /// A reversal's amounts are positive, or its fund part exceeds its total.
        REV_SIGN = "XR-REV-1";
        /// The reversal answer does not answer the request: `osetl_id` is not the `setl_id` sent.
        REV_NOT_FOR_REQUEST = "XR-REV-2";
        /// The reversal's amounts are not the negation of the original split's.
        REV_NOT_NEGATION = "XR-REV-3";

        // XPRV03: status.
        /// `oinfno` is not a message that changes state (XPRV01, 02, 21, 22, 31).
        STAT_OINFNO = "XR-STAT-1";
        /// `answer` is missing for state applied/reversed, or present for absent/sealed.
        STAT_ANSWER_PRESENCE = "XR-STAT-2";
        /// State `reversed` for a message other than XPRV01.
        STAT_REVERSED_KIND = "XR-STAT-3";
        /// The msgid was sealed by an earlier status query: it will never be applied.
        STAT_SEALED = "XR-STAT-4";

        // XPRV11 / XPRV12: daily reconciliation.
        /// More rows (or differences) than one message may carry.
        REC_ROW_COUNT = "XR-REC-1";
        /// An amount with the wrong sign for its direction, a fund part above its total, or a
        /// zero count with non-zero sums.
        REC_SIGN = "XR-REC-2";
        /// Rows (or differences) not in strictly ascending `(omsgid, aaa113)` order: unsorted or
        /// repeated.
        REC_ORDER = "XR-REC-3";
        /// A row's `setl_time` is not on `recon_date`.
        REC_DATE = "XR-REC-4";
        /// `startrow` below 1, or rows beyond `rows_total`.
        REC_PAGING = "XR-REC-5";
        /// `stmt_rslt` disagrees with the figures it comes with.
        REC_RESULT = "XR-REC-6";
        /// A difference's `kind` disagrees with the amounts it carries.
        REC_DIFFERENCE = "XR-REC-7";

        // XPRV21 / XPRV22: monthly clearing.
        /// More lines than one message may carry.
        CLR_LINE_COUNT = "XR-CLR-1";
        /// A province is not the envelope region's province, or the two provinces are the same.
        CLR_PROVINCE = "XR-CLR-2";
        /// `seqno` is not `startrow + i`, `startrow` is below 1, or lines go beyond `cnt`.
        CLR_SEQNO = "XR-CLR-3";
        /// A line amount with the wrong sign for `aaa113`, a fund part above its total, or a
        /// zero `cnt` with non-zero totals.
        CLR_SIGN = "XR-CLR-4";
        /// `carried_from` is not before `clr_month`, or a line's `setl_time` is not in its month.
        CLR_MONTH = "XR-CLR-5";
        /// `stmt_due_date` not after `clr_month`, or `pay_due_date` before `stmt_due_date`.
        CLR_DUE_DATES = "XR-CLR-6";
        /// A line (`omsgid` + `aaa113`) or a reply `seqno` appears twice in one message.
        CLR_DUPLICATE = "XR-CLR-7";
        /// A statement's lines do not make the statement: totals, count or header differ.
        CLR_INCOMPLETE = "XR-CLR-8";
        /// A refused reply line without `reason`.
        CLR_REASON = "XR-CLR-9";
        /// An answer's figures are not those of the message it answers.
        CLR_ANSWER = "XR-CLR-10";
        /// A reply names a `seqno` the statement does not have.
        CLR_UNKNOWN_SEQNO = "XR-CLR-11";

        // XPRV31: prepayment.
        /// `required_amt` is not `prior_year_fund_pay_sumamt × 2 / 12`, half up.
        PRE_REQUIRED = "XR-PRE-1";
        /// `movement` / `movement_amt` are not what `required_amt − balance` makes them (a
        /// drawdown: not within the balance), or `balance_after` is not what the movement leaves.
        PRE_MOVEMENT = "XR-PRE-2";
        /// A negative amount in a prepayment notice.
        PRE_NEGATIVE = "XR-PRE-3";
        /// A province is not the envelope region's province, or the two provinces are the same.
        PRE_PROVINCE = "XR-PRE-4";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for id in rule::ALL {
            assert!(seen.insert(*id), "{id} listed twice");
            let mut parts = id.split('-');
            assert_eq!(parts.next(), Some("XR"), "{id}");
            assert!(
                parts
                    .next()
                    .is_some_and(|f| f.bytes().all(|b| b.is_ascii_uppercase())),
                "{id}"
            );
            assert!(
                parts
                    .next()
                    .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 1)),
                "{id}"
            );
        }
    }

    #[test]
    fn displays_rule_path_and_message() {
        let r = Refusal::new(
            rule::SUM_LINE_PARTS,
            "input.iteminfo[3].amt",
            "does not sum",
        );
        assert_eq!(
            r.to_string(),
            "[XR-SUM-2] input.iteminfo[3].amt: does not sum"
        );
        let whole = Refusal::new(rule::ENV_JSON, "", "not JSON");
        assert_eq!(whole.to_string(), "[XR-ENV-3] not JSON");
        assert_eq!(r.to_violation().rule.0, "XR-SUM-2");
    }
}
