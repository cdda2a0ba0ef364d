//! XPRV21 / XPRV22 — monthly clearing between provinces (按月全额清算, `legacy-and-cross-region.md`
//! §4.2). The place of treatment, which advanced the fund's part to its hospitals, states each
//! month what the insured province owes, line by line; the insured place confirms or refuses
//! each line against its own splits, and its province pays the confirmed total. A refused line
//! is disputed and may come back in a later month's statement, marked `carried_from`.

use std::collections::HashSet;

use medsettle_canonical::{Admdvs, Money};
use serde_json::Value;
use time::{Date, PrimitiveDateTime};

use crate::dates::{YearMonth, format_date};
use crate::field::{Field, Node, Out, Shape, check_len, cond, index, join, opt, req};
use crate::limits::{
    ID_CHARS_MAX, MSGID_CHARS_MAX, REASON_CHARS_MAX, REPLY_LINES_PER_MESSAGE_MAX,
    STATEMENT_LINES_PER_MESSAGE_MAX, STMT_ID_CHARS_MAX,
};
use crate::recon::{TX_KINDS, TxKind, check_direction};
use crate::refusal::{Refusal, rule};

/// Fields of XPRV21 `input`.
pub const STATEMENT_FIELDS: &[Field] = &[
    req("stmt_id"),
    req("clr_month"),
    req("insuplc_prov"),
    req("mdtrtarea_prov"),
    req("cnt"),
    req("medfee_sumamt"),
    req("fund_pay_sumamt"),
    req("stmt_due_date"),
    req("pay_due_date"),
    req("startrow"),
    req("lines"),
];

/// Fields of one XPRV21 `input.lines[]` line.
pub const STATEMENT_LINE_FIELDS: &[Field] = &[
    req("seqno"),
    req("omsgid"),
    req("setl_id"),
    req("mdtrt_id"),
    req("medins_no"),
    req("setl_time"),
    req("medfee_sumamt"),
    req("fund_pay_sumamt"),
    req("aaa113"),
    opt("carried_from"),
];

/// Fields of XPRV21 `output`.
pub const STATEMENT_RECEIPT_FIELDS: &[Field] = &[req("received_rows")];

/// Fields of XPRV22 `input`.
pub const REPLY_FIELDS: &[Field] = &[req("stmt_id"), req("clr_month"), req("lines")];

/// Fields of one XPRV22 `input.lines[]` line.
pub const REPLY_LINE_FIELDS: &[Field] = &[req("seqno"), req("flag"), cond("reason")];

/// Fields of XPRV22 `output`.
pub const REPLY_ANSWER_FIELDS: &[Field] = &[
    req("confirmed_cnt"),
    req("refused_cnt"),
    req("confirmed_fund_pay_sumamt"),
];

/// One line of a statement: one applied XPRV01 or XPRV02.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    /// 1-based position in the whole statement.
    pub seqno: u32,
    /// The XPRV01 msgid.
    pub omsgid: String,
    /// The insured place's `setl_id` (of the settlement, or of the reversal).
    pub setl_id: String,
    pub mdtrt_id: String,
    /// The hospital at the place of treatment.
    pub medins_no: String,
    pub setl_time: PrimitiveDateTime,
    pub medfee_sumamt: Money,
    pub fund_pay_sumamt: Money,
    pub aaa113: TxKind,
    /// The month whose statement first carried this line, when it was disputed there.
    pub carried_from: Option<YearMonth>,
}

impl StatementLine {
    fn read(n: &Node<'_>, clr_month: YearMonth) -> Result<StatementLine, Refusal> {
        let line = StatementLine {
            seqno: n.count("seqno")?,
            omsgid: n.text("omsgid", Shape::Alnum(MSGID_CHARS_MAX))?,
            setl_id: n.text("setl_id", Shape::Id(ID_CHARS_MAX))?,
            mdtrt_id: n.text("mdtrt_id", Shape::Id(ID_CHARS_MAX))?,
            medins_no: n.text("medins_no", Shape::Id(ID_CHARS_MAX))?,
            setl_time: n.datetime("setl_time")?,
            medfee_sumamt: n.money("medfee_sumamt")?,
            fund_pay_sumamt: n.money("fund_pay_sumamt")?,
            aaa113: n.int_code("aaa113", TX_KINDS)?,
            carried_from: n.opt_month("carried_from")?,
        };
        check_direction(
            line.aaa113,
            line.medfee_sumamt,
            line.fund_pay_sumamt,
            &|f| n.at(f),
            rule::CLR_SIGN,
        )?;
        if let Some(from) = line.carried_from.filter(|from| *from >= clr_month) {
            return Err(Refusal::new(
                rule::CLR_MONTH,
                n.at("carried_from"),
                format!("{from} is not before clr_month {clr_month}"),
            ));
        }
        let month = line.carried_from.unwrap_or(clr_month);
        if YearMonth::of(line.setl_time.date()) != month {
            return Err(Refusal::new(
                rule::CLR_MONTH,
                n.at("setl_time"),
                format!("is not in {month}, the month this line is cleared for"),
            ));
        }
        Ok(line)
    }

    fn write(&self) -> Value {
        Out::new()
            .int("seqno", i64::from(self.seqno))
            .text("omsgid", &self.omsgid)
            .text("setl_id", &self.setl_id)
            .text("mdtrt_id", &self.mdtrt_id)
            .text("medins_no", &self.medins_no)
            .datetime("setl_time", self.setl_time)
            .money("medfee_sumamt", self.medfee_sumamt)
            .money("fund_pay_sumamt", self.fund_pay_sumamt)
            .int("aaa113", self.aaa113.wire())
            .opt_month("carried_from", self.carried_from)
            .done()
    }
}

/// The XPRV21 input: one page of a month's statement. The header (everything but `startrow`
/// and `lines`) is that of the whole statement and the same on every page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearingStatement {
    pub stmt_id: String,
    pub clr_month: YearMonth,
    pub insuplc_prov: Admdvs,
    pub mdtrtarea_prov: Admdvs,
    /// Lines in the whole statement.
    pub cnt: u32,
    /// Net totals of the whole statement (reversals negative).
    pub medfee_sumamt: Money,
    pub fund_pay_sumamt: Money,
    /// By when the agencies submit the statement to finance.
    pub stmt_due_date: Date,
    /// By when the insured province pays.
    pub pay_due_date: Date,
    /// 1-based `seqno` of `lines[0]`.
    pub startrow: u32,
    pub lines: Vec<StatementLine>,
}

impl ClearingStatement {
    pub(crate) fn decode_at(v: &Value, root: &str) -> Result<ClearingStatement, Refusal> {
        let n = Node::open(v, root, STATEMENT_FIELDS)?;
        let mut s = ClearingStatement {
            stmt_id: n.text("stmt_id", Shape::Id(STMT_ID_CHARS_MAX))?,
            clr_month: n.month("clr_month")?,
            insuplc_prov: n.province("insuplc_prov")?,
            mdtrtarea_prov: n.province("mdtrtarea_prov")?,
            cnt: n.count("cnt")?,
            medfee_sumamt: n.money("medfee_sumamt")?,
            fund_pay_sumamt: n.money("fund_pay_sumamt")?,
            stmt_due_date: n.date("stmt_due_date")?,
            pay_due_date: n.date("pay_due_date")?,
            startrow: n.count("startrow")?,
            lines: Vec::new(),
        };
        s.check_header(&n)?;
        s.lines = s.read_lines(&n)?;
        if s.startrow == 1 && s.lines.len() as u64 == u64::from(s.cnt) {
            check_statement_complete(std::slice::from_ref(&s)).map_err(|r| rebase(r, root))?;
        }
        Ok(s)
    }

    /// The page's lines: within `cnt`, numbered on from `startrow`, each key once.
    fn read_lines(&self, n: &Node<'_>) -> Result<Vec<StatementLine>, Refusal> {
        let items = n.array("lines")?;
        let lines_path = n.at("lines");
        check_len(
            items,
            &lines_path,
            0,
            STATEMENT_LINES_PER_MESSAGE_MAX,
            rule::CLR_LINE_COUNT,
        )?;
        // Counts are at most COUNT_MAX and pages at most 500 lines: no overflow in u64.
        let first = u64::from(self.startrow);
        let last = first + items.len() as u64;
        if first < 1 || last - 1 > u64::from(self.cnt) {
            return Err(Refusal::new(
                rule::CLR_SEQNO,
                n.at("startrow"),
                format!(
                    "lines {first}..{} do not fit a statement of cnt {} (startrow counts from 1)",
                    last.saturating_sub(1),
                    self.cnt
                ),
            ));
        }
        let mut lines = Vec::with_capacity(items.len());
        let mut keys = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let path = index(&lines_path, i);
            let line = StatementLine::read(
                &Node::open(item, &path, STATEMENT_LINE_FIELDS)?,
                self.clr_month,
            )?;
            let expected = first + i as u64;
            if u64::from(line.seqno) != expected {
                return Err(Refusal::new(
                    rule::CLR_SEQNO,
                    join(&path, "seqno"),
                    format!(
                        "is {}, but lines are numbered on from startrow: {expected}",
                        line.seqno
                    ),
                ));
            }
            if !keys.insert((line.omsgid.clone(), line.aaa113)) {
                return Err(Refusal::new(
                    rule::CLR_DUPLICATE,
                    join(&path, "omsgid"),
                    "this omsgid and aaa113 are already on an earlier line of the message",
                ));
            }
            lines.push(line);
        }
        Ok(lines)
    }

    /// Header rules that need no line: provinces apart, totals of an empty statement zero,
    /// due dates after the month and in order.
    fn check_header(&self, n: &Node<'_>) -> Result<(), Refusal> {
        if self.insuplc_prov == self.mdtrtarea_prov {
            return Err(Refusal::new(
                rule::CLR_PROVINCE,
                n.at("mdtrtarea_prov"),
                format!(
                    "both provinces are {}: clearing is between two provinces",
                    self.insuplc_prov
                ),
            ));
        }
        if self.cnt == 0 && !(self.medfee_sumamt.is_zero() && self.fund_pay_sumamt.is_zero()) {
            return Err(Refusal::new(
                rule::CLR_SIGN,
                n.at("cnt"),
                "is 0 but the totals are not",
            ));
        }
        if self.stmt_due_date <= self.clr_month.last_day() {
            return Err(Refusal::new(
                rule::CLR_DUE_DATES,
                n.at("stmt_due_date"),
                format!(
                    "{} is not after the month {} it states",
                    format_date(self.stmt_due_date),
                    self.clr_month
                ),
            ));
        }
        if self.pay_due_date < self.stmt_due_date {
            return Err(Refusal::new(
                rule::CLR_DUE_DATES,
                n.at("pay_due_date"),
                format!(
                    "{} is before stmt_due_date {}",
                    format_date(self.pay_due_date),
                    format_date(self.stmt_due_date)
                ),
            ));
        }
        Ok(())
    }

    pub fn to_input(&self) -> Value {
        Out::new()
            .text("stmt_id", &self.stmt_id)
            .month("clr_month", self.clr_month)
            .text("insuplc_prov", self.insuplc_prov.as_str())
            .text("mdtrtarea_prov", self.mdtrtarea_prov.as_str())
            .int("cnt", i64::from(self.cnt))
            .money("medfee_sumamt", self.medfee_sumamt)
            .money("fund_pay_sumamt", self.fund_pay_sumamt)
            .date("stmt_due_date", self.stmt_due_date)
            .date("pay_due_date", self.pay_due_date)
            .int("startrow", i64::from(self.startrow))
            .value(
                "lines",
                Value::Array(self.lines.iter().map(StatementLine::write).collect()),
            )
            .done()
    }

    /// The header fields every page must repeat unchanged, by wire name.
    fn header(&self) -> [(&'static str, String); 9] {
        [
            ("stmt_id", self.stmt_id.clone()),
            ("clr_month", self.clr_month.to_string()),
            ("insuplc_prov", self.insuplc_prov.to_string()),
            ("mdtrtarea_prov", self.mdtrtarea_prov.to_string()),
            ("cnt", self.cnt.to_string()),
            ("medfee_sumamt", self.medfee_sumamt.to_string()),
            ("fund_pay_sumamt", self.fund_pay_sumamt.to_string()),
            ("stmt_due_date", format_date(self.stmt_due_date)),
            ("pay_due_date", format_date(self.pay_due_date)),
        ]
    }
}

/// A refusal of [`check_statement_complete`] (paths under `input`) moved under `root`.
fn rebase(mut r: Refusal, root: &str) -> Refusal {
    if let Some(rest) = r.path.strip_prefix("input") {
        r.path = format!("{root}{rest}");
    }
    r
}

/// Check that the pages received make the whole statement: the same header on each, every
/// `seqno` 1..=cnt exactly once, no line twice, and the lines summing to the totals. Paths
/// name the field of the input (the page is the caller's to name).
pub fn check_statement_complete(pages: &[ClearingStatement]) -> Result<(), Refusal> {
    let Some(first) = pages.first() else {
        return Err(Refusal::new(
            rule::CLR_INCOMPLETE,
            "input",
            "no page of the statement was received",
        ));
    };
    check_same_header(first, &pages[1..])?;
    let mut seqnos = HashSet::new();
    let mut keys = HashSet::new();
    // Sums in i128: a statement may have up to COUNT_MAX lines of up to 16 digits each.
    let (mut medfee, mut fund) = (0i128, 0i128);
    for line in pages.iter().flat_map(|p| &p.lines) {
        if !(1..=first.cnt).contains(&line.seqno) || !seqnos.insert(line.seqno) {
            return Err(Refusal::new(
                rule::CLR_INCOMPLETE,
                "input.lines",
                format!(
                    "seqno {} is repeated or beyond cnt {}",
                    line.seqno, first.cnt
                ),
            ));
        }
        if !keys.insert((line.omsgid.as_str(), line.aaa113)) {
            return Err(Refusal::new(
                rule::CLR_DUPLICATE,
                "input.lines",
                format!(
                    "line {} repeats an earlier line's omsgid and aaa113",
                    line.seqno
                ),
            ));
        }
        medfee += i128::from(line.medfee_sumamt.fen());
        fund += i128::from(line.fund_pay_sumamt.fen());
    }
    if seqnos.len() as u64 != u64::from(first.cnt) {
        return Err(Refusal::new(
            rule::CLR_INCOMPLETE,
            "input.cnt",
            format!("{} lines of {} were received", seqnos.len(), first.cnt),
        ));
    }
    for (name, total, sum) in [
        ("medfee_sumamt", first.medfee_sumamt, medfee),
        ("fund_pay_sumamt", first.fund_pay_sumamt, fund),
    ] {
        if i128::from(total.fen()) != sum {
            return Err(Refusal::new(
                rule::CLR_INCOMPLETE,
                join("input", name),
                format!(
                    "{total} is not the sum of the lines, {}",
                    i64::try_from(sum)
                        .map_or(format!("{sum} fen"), |f| Money::from_fen(f).to_string())
                ),
            ));
        }
    }
    Ok(())
}

/// Every page repeats the first page's header unchanged.
fn check_same_header(
    first: &ClearingStatement,
    others: &[ClearingStatement],
) -> Result<(), Refusal> {
    for page in others {
        for ((name, ours), (_, theirs)) in first.header().into_iter().zip(page.header()) {
            if ours != theirs {
                return Err(Refusal::new(
                    rule::CLR_INCOMPLETE,
                    join("input", name),
                    format!(
                        "pages of statement {} disagree: {ours} and {theirs}",
                        first.stmt_id
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The XPRV21 output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementReceipt {
    /// Lines received in the message answered.
    pub received_rows: u32,
}

impl StatementReceipt {
    pub(crate) fn decode_at(v: &Value, root: &str) -> Result<StatementReceipt, Refusal> {
        let n = Node::open(v, root, STATEMENT_RECEIPT_FIELDS)?;
        Ok(StatementReceipt {
            received_rows: n.count("received_rows")?,
        })
    }

    pub fn from_output(output: &Value) -> Result<StatementReceipt, Refusal> {
        StatementReceipt::decode_at(output, "output")
    }

    pub fn to_output(&self) -> Value {
        Out::new()
            .int("received_rows", i64::from(self.received_rows))
            .done()
    }
}

/// Check that a receipt acknowledges every line of the page sent.
pub fn check_statement_receipt(
    sent: &ClearingStatement,
    receipt: &StatementReceipt,
) -> Result<(), Refusal> {
    if receipt.received_rows as usize == sent.lines.len() {
        Ok(())
    } else {
        Err(Refusal::new(
            rule::CLR_ANSWER,
            "output.received_rows",
            format!(
                "{} lines acknowledged, {} sent",
                receipt.received_rows,
                sent.lines.len()
            ),
        ))
    }
}

/// `flag` of a reply line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyFlag {
    /// "1": the insured place recognises the line and will pay it.
    Confirm,
    /// "0": disputed; `reason` says why.
    Refuse,
}

const REPLY_FLAGS: &[(&str, ReplyFlag)] = &[("1", ReplyFlag::Confirm), ("0", ReplyFlag::Refuse)];

/// One reply line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyLine {
    pub seqno: u32,
    pub flag: ReplyFlag,
    /// Required when refusing.
    pub reason: Option<String>,
}

/// The XPRV22 input: the insured place's verdict on statement lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearingReply {
    pub stmt_id: String,
    pub clr_month: YearMonth,
    pub lines: Vec<ReplyLine>,
}

impl ClearingReply {
    pub(crate) fn decode_at(v: &Value, root: &str) -> Result<ClearingReply, Refusal> {
        let n = Node::open(v, root, REPLY_FIELDS)?;
        let stmt_id = n.text("stmt_id", Shape::Id(STMT_ID_CHARS_MAX))?;
        let clr_month = n.month("clr_month")?;
        let items = n.array("lines")?;
        let lines_path = n.at("lines");
        check_len(
            items,
            &lines_path,
            1,
            REPLY_LINES_PER_MESSAGE_MAX,
            rule::CLR_LINE_COUNT,
        )?;
        let mut lines: Vec<ReplyLine> = Vec::with_capacity(items.len());
        let mut seqnos = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let ln = Node::open(item, &index(&lines_path, i), REPLY_LINE_FIELDS)?;
            let line = ReplyLine {
                seqno: ln.count("seqno")?,
                flag: ln.code("flag", REPLY_FLAGS)?,
                reason: ln.opt_text("reason", Shape::Words(REASON_CHARS_MAX))?,
            };
            if line.seqno == 0 {
                return Err(Refusal::new(
                    rule::CLR_SEQNO,
                    ln.at("seqno"),
                    "seqno counts from 1",
                ));
            }
            if !seqnos.insert(line.seqno) {
                return Err(Refusal::new(
                    rule::CLR_DUPLICATE,
                    ln.at("seqno"),
                    format!("line {} is answered twice", line.seqno),
                ));
            }
            if line.flag == ReplyFlag::Refuse && line.reason.is_none() {
                return Err(Refusal::new(
                    rule::CLR_REASON,
                    ln.at("reason"),
                    "a refused line says why",
                ));
            }
            lines.push(line);
        }
        Ok(ClearingReply {
            stmt_id,
            clr_month,
            lines,
        })
    }

    pub fn to_input(&self) -> Value {
        let lines = self
            .lines
            .iter()
            .map(|l| {
                Out::new()
                    .int("seqno", i64::from(l.seqno))
                    .text(
                        "flag",
                        if l.flag == ReplyFlag::Confirm {
                            "1"
                        } else {
                            "0"
                        },
                    )
                    .opt_text("reason", l.reason.as_deref())
                    .done()
            })
            .collect();
        Out::new()
            .text("stmt_id", &self.stmt_id)
            .month("clr_month", self.clr_month)
            .value("lines", Value::Array(lines))
            .done()
    }
}

/// The XPRV22 output: what the reply confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyAnswer {
    pub confirmed_cnt: u32,
    pub refused_cnt: u32,
    /// Net fund amount of the confirmed lines (reversal lines count negative).
    pub confirmed_fund_pay_sumamt: Money,
}

impl ReplyAnswer {
    pub(crate) fn decode_at(v: &Value, root: &str) -> Result<ReplyAnswer, Refusal> {
        let n = Node::open(v, root, REPLY_ANSWER_FIELDS)?;
        Ok(ReplyAnswer {
            confirmed_cnt: n.count("confirmed_cnt")?,
            refused_cnt: n.count("refused_cnt")?,
            confirmed_fund_pay_sumamt: n.money("confirmed_fund_pay_sumamt")?,
        })
    }

    pub fn from_output(output: &Value) -> Result<ReplyAnswer, Refusal> {
        ReplyAnswer::decode_at(output, "output")
    }

    pub fn to_output(&self) -> Value {
        Out::new()
            .int("confirmed_cnt", i64::from(self.confirmed_cnt))
            .int("refused_cnt", i64::from(self.refused_cnt))
            .money("confirmed_fund_pay_sumamt", self.confirmed_fund_pay_sumamt)
            .done()
    }
}

/// The answer the statement's sender gives to `reply`, from the statement `lines` it sent.
/// A reply naming a line the statement does not have is refused.
pub fn reply_answer(
    lines: &[StatementLine],
    reply: &ClearingReply,
) -> Result<ReplyAnswer, Refusal> {
    let mut answer = ReplyAnswer {
        confirmed_cnt: 0,
        refused_cnt: 0,
        confirmed_fund_pay_sumamt: Money::ZERO,
    };
    for (i, r) in reply.lines.iter().enumerate() {
        let Some(line) = lines.iter().find(|l| l.seqno == r.seqno) else {
            return Err(Refusal::new(
                rule::CLR_UNKNOWN_SEQNO,
                join(&index("input.lines", i), "seqno"),
                format!("statement {} has no line {}", reply.stmt_id, r.seqno),
            ));
        };
        match r.flag {
            ReplyFlag::Confirm => {
                answer.confirmed_cnt += 1;
                answer.confirmed_fund_pay_sumamt += line.fund_pay_sumamt;
            }
            ReplyFlag::Refuse => answer.refused_cnt += 1,
        }
    }
    Ok(answer)
}

/// Check, at the insured place, that the answer to its reply is what the statement says.
pub fn check_reply_answer(
    lines: &[StatementLine],
    reply: &ClearingReply,
    answer: &ReplyAnswer,
) -> Result<(), Refusal> {
    let expected = reply_answer(lines, reply)?;
    let pairs = [
        (
            "confirmed_cnt",
            expected.confirmed_cnt.to_string(),
            answer.confirmed_cnt.to_string(),
        ),
        (
            "refused_cnt",
            expected.refused_cnt.to_string(),
            answer.refused_cnt.to_string(),
        ),
        (
            "confirmed_fund_pay_sumamt",
            expected.confirmed_fund_pay_sumamt.to_string(),
            answer.confirmed_fund_pay_sumamt.to_string(),
        ),
    ];
    for (name, ours, theirs) in pairs {
        if ours != theirs {
            return Err(Refusal::new(
                rule::CLR_ANSWER,
                join("output", name),
                format!("is {theirs}; the statement's lines make it {ours}"),
            ));
        }
    }
    Ok(())
}
