//! The field lists of every node, by the name their table has in `specs/interregion.md`
//! (`Fields of \`…\`:`). A test reads the spec and holds it to this list, so a field cannot be
//! added, dropped or made optional in one without the other.

use crate::clearing::{
    REPLY_ANSWER_FIELDS, REPLY_FIELDS, REPLY_LINE_FIELDS, STATEMENT_FIELDS, STATEMENT_LINE_FIELDS,
    STATEMENT_RECEIPT_FIELDS,
};
use crate::envelope::{ANSWER_FIELDS, REQUEST_FIELDS};
use crate::field::Field;
use crate::prepayment::{PREPAYMENT_ACK_FIELDS, PREPAYMENT_FIELDS};
use crate::recon::{
    DIFFERENCE_FIELDS, RECON_DETAIL_ANSWER_FIELDS, RECON_DETAIL_FIELDS, RECON_ROW_FIELDS,
    RECON_TOTALS_ANSWER_FIELDS, RECON_TOTALS_FIELDS,
};
use crate::reversal::{REVERSAL_DONE_FIELDS, REVERSAL_FIELDS};
use crate::split::{FUND_LINE_FIELDS, SETLINFO_FIELDS, SPLIT_OUTPUT_FIELDS};
use crate::status::{STATUS_ANSWER_FIELDS, STATUS_QUERY_FIELDS};
use crate::summary::{CATEGORY_LINE_FIELDS, SUMMARY_HEADER_FIELDS, SUMMARY_INPUT_FIELDS};

/// Every node of the protocol and its fields.
pub const FIELD_TABLES: &[(&str, &[Field])] = &[
    ("request envelope", REQUEST_FIELDS),
    ("answer envelope", ANSWER_FIELDS),
    ("XPRV01 input", SUMMARY_INPUT_FIELDS),
    ("XPRV01 input.summary", SUMMARY_HEADER_FIELDS),
    ("XPRV01 input.iteminfo[]", CATEGORY_LINE_FIELDS),
    ("XPRV01 output", SPLIT_OUTPUT_FIELDS),
    ("XPRV01 output.setlinfo", SETLINFO_FIELDS),
    ("XPRV01 output.setldetail[]", FUND_LINE_FIELDS),
    ("XPRV02 input", REVERSAL_FIELDS),
    ("XPRV02 output", REVERSAL_DONE_FIELDS),
    ("XPRV03 input", STATUS_QUERY_FIELDS),
    ("XPRV03 output", STATUS_ANSWER_FIELDS),
    ("XPRV11 input", RECON_TOTALS_FIELDS),
    ("XPRV11 output", RECON_TOTALS_ANSWER_FIELDS),
    ("XPRV12 input", RECON_DETAIL_FIELDS),
    ("XPRV12 input.rows[]", RECON_ROW_FIELDS),
    ("XPRV12 output", RECON_DETAIL_ANSWER_FIELDS),
    ("XPRV12 output.differences[]", DIFFERENCE_FIELDS),
    ("XPRV21 input", STATEMENT_FIELDS),
    ("XPRV21 input.lines[]", STATEMENT_LINE_FIELDS),
    ("XPRV21 output", STATEMENT_RECEIPT_FIELDS),
    ("XPRV22 input", REPLY_FIELDS),
    ("XPRV22 input.lines[]", REPLY_LINE_FIELDS),
    ("XPRV22 output", REPLY_ANSWER_FIELDS),
    ("XPRV31 input", PREPAYMENT_FIELDS),
    ("XPRV31 output", PREPAYMENT_ACK_FIELDS),
];
