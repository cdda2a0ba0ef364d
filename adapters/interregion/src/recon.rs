//! XPRV11 / XPRV12 — daily reconciliation between the place of treatment and the insured
//! place: first the day's totals, then (when they differ) the day's rows page by page, so
//! both sides find the claim one of them is missing before money moves at month end.
//!
//! A row is keyed by the XPRV01 msgid both sides keep (`omsgid`) and its direction
//! (`aaa113`): a settlement and its reversal are two rows under one msgid. A row belongs to
//! the day of its `setl_time`, the insured place's time, which both sides have from the split.

use std::collections::BTreeMap;

use medsettle_canonical::Money;
use serde_json::Value;
use time::{Date, PrimitiveDateTime};

use crate::dates::format_date;
use crate::field::{Field, Node, Out, Shape, check_len, cond, index, join, req};
use crate::limits::{
    DIFFERENCES_PER_ANSWER_MAX, ID_CHARS_MAX, MSGID_CHARS_MAX, RECON_ROWS_PER_MESSAGE_MAX,
};
use crate::refusal::{Refusal, rule};

/// Fields of XPRV11 `input`.
pub const RECON_TOTALS_FIELDS: &[Field] = &[
    req("recon_date"),
    req("fwd_cnt"),
    req("fwd_medfee_sumamt"),
    req("fwd_fund_pay_sumamt"),
    req("rev_cnt"),
    req("rev_medfee_sumamt"),
    req("rev_fund_pay_sumamt"),
];

/// Fields of XPRV11 `output`.
pub const RECON_TOTALS_ANSWER_FIELDS: &[Field] = &[
    req("stmt_rslt"),
    req("fwd_cnt"),
    req("fwd_medfee_sumamt"),
    req("fwd_fund_pay_sumamt"),
    req("rev_cnt"),
    req("rev_medfee_sumamt"),
    req("rev_fund_pay_sumamt"),
];

/// Fields of XPRV12 `input`.
pub const RECON_DETAIL_FIELDS: &[Field] = &[
    req("recon_date"),
    req("rows_total"),
    req("startrow"),
    req("rows"),
];

/// Fields of one XPRV12 `input.rows[]` row.
pub const RECON_ROW_FIELDS: &[Field] = &[
    req("omsgid"),
    req("setl_id"),
    req("mdtrt_id"),
    req("setl_time"),
    req("medfee_sumamt"),
    req("fund_pay_sumamt"),
    req("aaa113"),
    req("fulamt_advpay_flag"),
];

/// Fields of XPRV12 `output`.
pub const RECON_DETAIL_ANSWER_FIELDS: &[Field] = &[req("differences")];

/// Fields of one XPRV12 `output.differences[]` entry.
pub const DIFFERENCE_FIELDS: &[Field] = &[
    req("omsgid"),
    req("aaa113"),
    req("kind"),
    cond("sender_medfee_sumamt"),
    cond("receiver_medfee_sumamt"),
    cond("sender_fund_pay_sumamt"),
    cond("receiver_fund_pay_sumamt"),
];

/// `aaa113` 交易类型: a settlement or the reversal of one. Forward sorts first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxKind {
    /// `1`: amounts ≥ 0.
    Forward,
    /// `-1`: amounts ≤ 0 (the original's, negated).
    Reversal,
}

pub(crate) const TX_KINDS: &[(i64, TxKind)] = &[(1, TxKind::Forward), (-1, TxKind::Reversal)];

impl TxKind {
    pub fn wire(self) -> i64 {
        match self {
            TxKind::Forward => 1,
            TxKind::Reversal => -1,
        }
    }
}

const FLAGS: &[(&str, bool)] = &[("0", false), ("1", true)];

/// Refuse amounts whose sign does not fit `kind`, or whose fund part exceeds the total.
pub(crate) fn check_direction(
    kind: TxKind,
    medfee: Money,
    fund: Money,
    path: &dyn Fn(&str) -> String,
    rule_id: &'static str,
) -> Result<(), Refusal> {
    let (medfee_s, fund_s) = match kind {
        TxKind::Forward => (medfee, fund),
        TxKind::Reversal => (-medfee, -fund),
    };
    let direction = match kind {
        TxKind::Forward => "a forward row (aaa113 1) has amounts ≥ 0",
        TxKind::Reversal => "a reversal row (aaa113 -1) has amounts ≤ 0",
    };
    if medfee_s.is_negative() {
        return Err(Refusal::new(
            rule_id,
            path("medfee_sumamt"),
            format!("{medfee}: {direction}"),
        ));
    }
    if fund_s.is_negative() {
        return Err(Refusal::new(
            rule_id,
            path("fund_pay_sumamt"),
            format!("{fund}: {direction}"),
        ));
    }
    if fund_s > medfee_s {
        return Err(Refusal::new(
            rule_id,
            path("fund_pay_sumamt"),
            format!("{fund} is more fund than the total {medfee}"),
        ));
    }
    Ok(())
}

/// One day's figures on one side: counts and sums of forward and reversal rows. Reversal
/// sums are ≤ 0, so forward + reversal is the day's net.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayTotals {
    pub fwd_cnt: u32,
    pub fwd_medfee_sumamt: Money,
    pub fwd_fund_pay_sumamt: Money,
    pub rev_cnt: u32,
    pub rev_medfee_sumamt: Money,
    pub rev_fund_pay_sumamt: Money,
}

impl DayTotals {
    fn read(n: &Node<'_>) -> Result<DayTotals, Refusal> {
        let t = DayTotals {
            fwd_cnt: n.count("fwd_cnt")?,
            fwd_medfee_sumamt: n.money("fwd_medfee_sumamt")?,
            fwd_fund_pay_sumamt: n.money("fwd_fund_pay_sumamt")?,
            rev_cnt: n.count("rev_cnt")?,
            rev_medfee_sumamt: n.money("rev_medfee_sumamt")?,
            rev_fund_pay_sumamt: n.money("rev_fund_pay_sumamt")?,
        };
        let sides = [
            (
                "fwd_",
                TxKind::Forward,
                t.fwd_cnt,
                t.fwd_medfee_sumamt,
                t.fwd_fund_pay_sumamt,
            ),
            (
                "rev_",
                TxKind::Reversal,
                t.rev_cnt,
                t.rev_medfee_sumamt,
                t.rev_fund_pay_sumamt,
            ),
        ];
        for (prefix, kind, cnt, medfee, fund) in sides {
            let path = |name: &str| n.at(&format!("{prefix}{name}"));
            check_direction(kind, medfee, fund, &path, rule::REC_SIGN)?;
            if cnt == 0 && !(medfee.is_zero() && fund.is_zero()) {
                return Err(Refusal::new(
                    rule::REC_SIGN,
                    path("cnt"),
                    "is 0 but the sums are not",
                ));
            }
        }
        Ok(t)
    }

    fn write(&self, out: Out) -> Out {
        out.int("fwd_cnt", i64::from(self.fwd_cnt))
            .money("fwd_medfee_sumamt", self.fwd_medfee_sumamt)
            .money("fwd_fund_pay_sumamt", self.fwd_fund_pay_sumamt)
            .int("rev_cnt", i64::from(self.rev_cnt))
            .money("rev_medfee_sumamt", self.rev_medfee_sumamt)
            .money("rev_fund_pay_sumamt", self.rev_fund_pay_sumamt)
    }
}

/// `a + b`, held at the ends of the range instead of overflowing. Sums over a whole day are
/// formed from rows a peer sent (page after page, possibly repeating a key); a sum beyond
/// ±92 233 billion yuan is hostile input, and a figure held at the end still differs from the
/// other side's, which is all reconciliation needs of it.
fn add_held(a: Money, b: Money) -> Money {
    a.checked_add(b).unwrap_or(if b.is_negative() {
        Money::from_fen(i64::MIN)
    } else {
        Money::from_fen(i64::MAX)
    })
}

/// The totals of a day's rows.
pub fn day_totals(rows: &[ReconRow]) -> DayTotals {
    let mut t = DayTotals::default();
    for r in rows {
        let (cnt, medfee, fund) = match r.aaa113 {
            TxKind::Forward => (
                &mut t.fwd_cnt,
                &mut t.fwd_medfee_sumamt,
                &mut t.fwd_fund_pay_sumamt,
            ),
            TxKind::Reversal => (
                &mut t.rev_cnt,
                &mut t.rev_medfee_sumamt,
                &mut t.rev_fund_pay_sumamt,
            ),
        };
        *cnt = cnt.saturating_add(1);
        *medfee = add_held(*medfee, r.medfee_sumamt);
        *fund = add_held(*fund, r.fund_pay_sumamt);
    }
    t
}

/// The XPRV11 input: the sender's totals of `recon_date`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconTotals {
    pub recon_date: Date,
    pub totals: DayTotals,
}

impl ReconTotals {
    pub(crate) fn decode_at(v: &Value, root: &str) -> Result<ReconTotals, Refusal> {
        let n = Node::open(v, root, RECON_TOTALS_FIELDS)?;
        Ok(ReconTotals {
            recon_date: n.date("recon_date")?,
            totals: DayTotals::read(&n)?,
        })
    }

    pub fn to_input(&self) -> Value {
        self.totals
            .write(Out::new().date("recon_date", self.recon_date))
            .done()
    }
}

/// `stmt_rslt`: whether the two sides' figures agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StmtResult {
    /// "0"
    Agree,
    /// "1"
    Differ,
}

const STMT_RESULTS: &[(&str, StmtResult)] = &[("0", StmtResult::Agree), ("1", StmtResult::Differ)];

/// The XPRV11 output: the verdict and the receiver's own six figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconTotalsAnswer {
    pub stmt_rslt: StmtResult,
    pub totals: DayTotals,
}

impl ReconTotalsAnswer {
    /// The receiver's answer to `sent`, given its own totals of the day.
    pub fn compare(sent: &ReconTotals, ours: &DayTotals) -> ReconTotalsAnswer {
        ReconTotalsAnswer {
            stmt_rslt: if *ours == sent.totals {
                StmtResult::Agree
            } else {
                StmtResult::Differ
            },
            totals: *ours,
        }
    }

    pub(crate) fn decode_at(v: &Value, root: &str) -> Result<ReconTotalsAnswer, Refusal> {
        let n = Node::open(v, root, RECON_TOTALS_ANSWER_FIELDS)?;
        Ok(ReconTotalsAnswer {
            stmt_rslt: n.code("stmt_rslt", STMT_RESULTS)?,
            totals: DayTotals::read(&n)?,
        })
    }

    pub fn from_output(output: &Value) -> Result<ReconTotalsAnswer, Refusal> {
        ReconTotalsAnswer::decode_at(output, "output")
    }

    pub fn to_output(&self) -> Value {
        let rslt = match self.stmt_rslt {
            StmtResult::Agree => "0",
            StmtResult::Differ => "1",
        };
        self.totals.write(Out::new().text("stmt_rslt", rslt)).done()
    }
}

/// Check that the verdict of `answer` is what its figures say against what was `sent`.
pub fn check_totals_answer(sent: &ReconTotals, answer: &ReconTotalsAnswer) -> Result<(), Refusal> {
    let agree = answer.totals == sent.totals;
    if agree == (answer.stmt_rslt == StmtResult::Agree) {
        Ok(())
    } else {
        Err(Refusal::new(
            rule::REC_RESULT,
            "output.stmt_rslt",
            if agree {
                "says the figures differ, but they equal those sent"
            } else {
                "says the figures agree, but they differ from those sent"
            },
        ))
    }
}

/// One row of a day: one applied XPRV01 (forward) or XPRV02 (reversal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconRow {
    /// The XPRV01 msgid (also for its reversal's row).
    pub omsgid: String,
    /// The insured place's `setl_id` of the settlement, or of the reversal.
    pub setl_id: String,
    pub mdtrt_id: String,
    pub setl_time: PrimitiveDateTime,
    pub medfee_sumamt: Money,
    pub fund_pay_sumamt: Money,
    pub aaa113: TxKind,
    /// 全额垫付: the person paid in full and claims later.
    pub fulamt_advpay_flag: bool,
}

impl ReconRow {
    /// The key both sides share.
    pub fn key(&self) -> (&str, TxKind) {
        (&self.omsgid, self.aaa113)
    }

    fn read(n: &Node<'_>, recon_date: Date) -> Result<ReconRow, Refusal> {
        let row = ReconRow {
            omsgid: n.text("omsgid", Shape::Alnum(MSGID_CHARS_MAX))?,
            setl_id: n.text("setl_id", Shape::Id(ID_CHARS_MAX))?,
            mdtrt_id: n.text("mdtrt_id", Shape::Id(ID_CHARS_MAX))?,
            setl_time: n.datetime("setl_time")?,
            medfee_sumamt: n.money("medfee_sumamt")?,
            fund_pay_sumamt: n.money("fund_pay_sumamt")?,
            aaa113: n.int_code("aaa113", TX_KINDS)?,
            fulamt_advpay_flag: n.code("fulamt_advpay_flag", FLAGS)?,
        };
        check_direction(
            row.aaa113,
            row.medfee_sumamt,
            row.fund_pay_sumamt,
            &|f| n.at(f),
            rule::REC_SIGN,
        )?;
        if row.setl_time.date() != recon_date {
            return Err(Refusal::new(
                rule::REC_DATE,
                n.at("setl_time"),
                format!("is not on recon_date {}", format_date(recon_date)),
            ));
        }
        Ok(row)
    }

    fn write(&self) -> Value {
        Out::new()
            .text("omsgid", &self.omsgid)
            .text("setl_id", &self.setl_id)
            .text("mdtrt_id", &self.mdtrt_id)
            .datetime("setl_time", self.setl_time)
            .money("medfee_sumamt", self.medfee_sumamt)
            .money("fund_pay_sumamt", self.fund_pay_sumamt)
            .int("aaa113", self.aaa113.wire())
            .text(
                "fulamt_advpay_flag",
                if self.fulamt_advpay_flag { "1" } else { "0" },
            )
            .done()
    }
}

/// The XPRV12 input: one page of the sender's rows of `recon_date`, in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconDetail {
    pub recon_date: Date,
    /// How many rows the day has in all pages.
    pub rows_total: u32,
    /// 1-based position of `rows[0]` in the day.
    pub startrow: u32,
    pub rows: Vec<ReconRow>,
}

impl ReconDetail {
    pub(crate) fn decode_at(v: &Value, root: &str) -> Result<ReconDetail, Refusal> {
        let n = Node::open(v, root, RECON_DETAIL_FIELDS)?;
        let recon_date = n.date("recon_date")?;
        let rows_total = n.count("rows_total")?;
        let startrow = n.count("startrow")?;
        let items = n.array("rows")?;
        let rows_path = n.at("rows");
        check_len(
            items,
            &rows_path,
            0,
            RECON_ROWS_PER_MESSAGE_MAX,
            rule::REC_ROW_COUNT,
        )?;
        // Counts are at most COUNT_MAX and pages at most 500 rows: no overflow in u64.
        let last = u64::from(startrow) + items.len() as u64;
        if startrow < 1 || last - 1 > u64::from(rows_total) {
            return Err(Refusal::new(
                rule::REC_PAGING,
                n.at("startrow"),
                format!(
                    "rows {startrow}..{} do not fit a day of rows_total {rows_total} (startrow counts from 1)",
                    last.saturating_sub(1)
                ),
            ));
        }
        let mut rows: Vec<ReconRow> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = index(&rows_path, i);
            let row = ReconRow::read(&Node::open(item, &path, RECON_ROW_FIELDS)?, recon_date)?;
            if rows.last().is_some_and(|prev| prev.key() >= row.key()) {
                return Err(Refusal::new(
                    rule::REC_ORDER,
                    join(&path, "omsgid"),
                    format!(
                        "rows are in strictly ascending (omsgid, aaa113) order; this one is not after rows[{}]",
                        i - 1
                    ),
                ));
            }
            rows.push(row);
        }
        Ok(ReconDetail {
            recon_date,
            rows_total,
            startrow,
            rows,
        })
    }

    pub fn to_input(&self) -> Value {
        Out::new()
            .date("recon_date", self.recon_date)
            .int("rows_total", i64::from(self.rows_total))
            .int("startrow", i64::from(self.startrow))
            .value(
                "rows",
                Value::Array(self.rows.iter().map(ReconRow::write).collect()),
            )
            .done()
    }

    /// Whether this page ends the day: its answer then also carries the rows missing at the
    /// sender (found over all pages with [`reconcile_detail`]).
    pub fn is_last_page(&self) -> bool {
        u64::from(self.startrow).saturating_sub(1) + self.rows.len() as u64
            == u64::from(self.rows_total)
    }
}

/// How one key differs between the two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DifferenceKind {
    /// The sender has the row, the receiver does not.
    MissingAtReceiver,
    /// The receiver has the row, the sender does not.
    MissingAtSender,
    /// Both have it, with different amounts.
    AmountDiffers,
}

const DIFFERENCE_KINDS: &[(&str, DifferenceKind)] = &[
    ("missing_at_receiver", DifferenceKind::MissingAtReceiver),
    ("missing_at_sender", DifferenceKind::MissingAtSender),
    ("amount_differs", DifferenceKind::AmountDiffers),
];

impl DifferenceKind {
    pub fn as_str(self) -> &'static str {
        DIFFERENCE_KINDS
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(w, _)| *w)
            .expect("every kind is in the table")
    }
}

/// One difference: a key and each side's amounts (absent on the side that lacks the row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub omsgid: String,
    pub aaa113: TxKind,
    pub kind: DifferenceKind,
    pub sender_medfee_sumamt: Option<Money>,
    pub receiver_medfee_sumamt: Option<Money>,
    pub sender_fund_pay_sumamt: Option<Money>,
    pub receiver_fund_pay_sumamt: Option<Money>,
}

impl Difference {
    fn read(n: &Node<'_>) -> Result<Difference, Refusal> {
        let d = Difference {
            omsgid: n.text("omsgid", Shape::Alnum(MSGID_CHARS_MAX))?,
            aaa113: n.int_code("aaa113", TX_KINDS)?,
            kind: n.code("kind", DIFFERENCE_KINDS)?,
            sender_medfee_sumamt: n.opt_money("sender_medfee_sumamt")?,
            receiver_medfee_sumamt: n.opt_money("receiver_medfee_sumamt")?,
            sender_fund_pay_sumamt: n.opt_money("sender_fund_pay_sumamt")?,
            receiver_fund_pay_sumamt: n.opt_money("receiver_fund_pay_sumamt")?,
        };
        let sender = d.sender_medfee_sumamt.is_some() && d.sender_fund_pay_sumamt.is_some();
        let sender_none = d.sender_medfee_sumamt.is_none() && d.sender_fund_pay_sumamt.is_none();
        let receiver = d.receiver_medfee_sumamt.is_some() && d.receiver_fund_pay_sumamt.is_some();
        let receiver_none =
            d.receiver_medfee_sumamt.is_none() && d.receiver_fund_pay_sumamt.is_none();
        let consistent = match d.kind {
            DifferenceKind::MissingAtReceiver => sender && receiver_none,
            DifferenceKind::MissingAtSender => sender_none && receiver,
            DifferenceKind::AmountDiffers => {
                sender
                    && receiver
                    && (d.sender_medfee_sumamt != d.receiver_medfee_sumamt
                        || d.sender_fund_pay_sumamt != d.receiver_fund_pay_sumamt)
            }
        };
        if !consistent {
            return Err(Refusal::new(
                rule::REC_DIFFERENCE,
                n.at("kind"),
                format!(
                    "{} does not fit the amounts: each side present carries both amounts, the side missing none, and amount_differs carries unequal ones",
                    d.kind.as_str()
                ),
            ));
        }
        Ok(d)
    }

    fn write(&self) -> Value {
        Out::new()
            .text("omsgid", &self.omsgid)
            .int("aaa113", self.aaa113.wire())
            .text("kind", self.kind.as_str())
            .opt_money("sender_medfee_sumamt", self.sender_medfee_sumamt)
            .opt_money("receiver_medfee_sumamt", self.receiver_medfee_sumamt)
            .opt_money("sender_fund_pay_sumamt", self.sender_fund_pay_sumamt)
            .opt_money("receiver_fund_pay_sumamt", self.receiver_fund_pay_sumamt)
            .done()
    }

    fn key(&self) -> (&str, TxKind) {
        (&self.omsgid, self.aaa113)
    }
}

/// The XPRV12 output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconDetailAnswer {
    /// In ascending key order; empty when the page (and, on the last page, the day) agrees.
    pub differences: Vec<Difference>,
}

impl ReconDetailAnswer {
    pub(crate) fn decode_at(v: &Value, root: &str) -> Result<ReconDetailAnswer, Refusal> {
        let n = Node::open(v, root, RECON_DETAIL_ANSWER_FIELDS)?;
        let items = n.array("differences")?;
        let path = n.at("differences");
        check_len(
            items,
            &path,
            0,
            DIFFERENCES_PER_ANSWER_MAX,
            rule::REC_ROW_COUNT,
        )?;
        let mut differences: Vec<Difference> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = index(&path, i);
            let d = Difference::read(&Node::open(item, &at, DIFFERENCE_FIELDS)?)?;
            if differences.last().is_some_and(|p| p.key() >= d.key()) {
                return Err(Refusal::new(
                    rule::REC_ORDER,
                    join(&at, "omsgid"),
                    "differences are in strictly ascending (omsgid, aaa113) order",
                ));
            }
            differences.push(d);
        }
        Ok(ReconDetailAnswer { differences })
    }

    pub fn from_output(output: &Value) -> Result<ReconDetailAnswer, Refusal> {
        ReconDetailAnswer::decode_at(output, "output")
    }

    pub fn to_output(&self) -> Value {
        Out::new()
            .value(
                "differences",
                Value::Array(self.differences.iter().map(Difference::write).collect()),
            )
            .done()
    }
}

/// Compare the sender's rows of a day with the receiver's, by key. A key listed twice on one
/// side is summed, so a duplicate shows up as an amount difference rather than hiding behind
/// its twin. The result is in ascending key order.
pub fn reconcile_detail(sender_rows: &[ReconRow], receiver_rows: &[ReconRow]) -> Vec<Difference> {
    type Sums = BTreeMap<(String, TxKind), (Money, Money)>;
    let sums = |rows: &[ReconRow]| -> Sums {
        let mut m = Sums::new();
        for r in rows {
            let e = m.entry((r.omsgid.clone(), r.aaa113)).or_default();
            *e = (
                add_held(e.0, r.medfee_sumamt),
                add_held(e.1, r.fund_pay_sumamt),
            );
        }
        m
    };
    let (sender, receiver) = (sums(sender_rows), sums(receiver_rows));
    let mut keys: Vec<&(String, TxKind)> = sender.keys().chain(receiver.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let (s, r) = (sender.get(key), receiver.get(key));
            let kind = match (s, r) {
                (Some(_), None) => DifferenceKind::MissingAtReceiver,
                (None, Some(_)) => DifferenceKind::MissingAtSender,
                (Some(s), Some(r)) if s != r => DifferenceKind::AmountDiffers,
                _ => return None,
            };
            Some(Difference {
                omsgid: key.0.clone(),
                aaa113: key.1,
                kind,
                sender_medfee_sumamt: s.map(|s| s.0),
                receiver_medfee_sumamt: r.map(|r| r.0),
                sender_fund_pay_sumamt: s.map(|s| s.1),
                receiver_fund_pay_sumamt: r.map(|r| r.1),
            })
        })
        .collect()
}
