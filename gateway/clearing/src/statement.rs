//! Monthly statements (清算单): one per (insured province, treatment province, month), with
//! reversals netted and disputed lines carried from earlier months.
//!
//! Which row goes where:
//! - a row is cleared in the month of its `setl_time` in China time. The exchange is
//!   synchronous (both sides journal before answering), so every row of a month exists once
//!   the month is over, and the statement is built then;
//! - a forward and its reversal in the same month cancel: neither is a line (`cancelled_pairs`
//!   counts them);
//! - a reversal of an earlier month's forward is a negative line of its own month;
//! - a reversal of a forward that was refused and is still carried resolves the dispute: both
//!   leave the clearing (`resolved`), nothing is paid for either;
//! - lines refused earlier ([`CarriedLine`]) are stated again in the next month's statement of
//!   their province pair, with `carried_from` and their refusal history.
//!
//! Lines are ordered by institution, settlement time, `omsgid` and forward before reversal,
//! and numbered `seqno` 1.. in that order; statements by (insured, treatment) province.

use std::collections::BTreeMap;

use medsettle_canonical::{Admdvs, Money};
use medsettle_settlement::YearMonth;
use serde::{Deserialize, Serialize};
use time::Date;

use crate::error::{CARRY_RULE, ClearingError, REVERSAL_RULE, Result};
use crate::row::{AAA113_FORWARD, AAA113_REVERSAL, ClearingRow};

/// Where a line stands in the insured province's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    /// Not answered yet.
    Pending,
    /// Confirmed: paid in this month's transfer.
    Confirmed,
    /// Refused: not paid, carried into the next month.
    Refused,
}

impl LineStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LineStatus::Pending => "pending",
            LineStatus::Confirmed => "confirmed",
            LineStatus::Refused => "refused",
        }
    }
}

/// One refusal of a line, kept with the line while it is carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub month: YearMonth,
    pub stmt_id: String,
    pub seqno: u32,
    pub reason: String,
    pub refused_on: Date,
}

/// A refused line, carried into the next month's statement of its province pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedLine {
    pub row: ClearingRow,
    /// The month the line was first stated in (its row's month).
    pub carried_from: YearMonth,
    /// Every refusal so far, oldest first (never empty).
    pub history: Vec<Refusal>,
}

/// One line of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    pub seqno: u32,
    pub row: ClearingRow,
    /// `Some(month first stated)` for a line carried from an earlier month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried_from: Option<YearMonth>,
    /// Earlier refusals of a carried line, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Refusal>,
    pub status: LineStatus,
}

/// The statement of one (insured province, treatment province, month).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// `CLR-<insured province>-<treatment province>-<YYYYMM>`: stable, the key of the reply.
    pub stmt_id: String,
    pub insured_province: Admdvs,
    pub treatment_province: Admdvs,
    pub month: YearMonth,
    pub lines: Vec<StatementLine>,
    /// Net settlements: Σ `aaa113` over the lines (a cross-month reversal counts −1).
    pub count: i64,
    /// Σ `medfee_sumamt` over the lines.
    pub medfee_sumamt: Money,
    /// Σ `fund_pay_sumamt` over the lines: what the insured province owes if it confirms all.
    pub fund_pay_sumamt: Money,
    /// Forward/reversal pairs of the month that cancelled each other (no line).
    pub cancelled_pairs: u32,
    /// Carried lines a reversal of this month resolved: neither is paid or carried further.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved: Vec<CarriedLine>,
    /// The reply applied ([`Statement::apply_reply`]), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<AppliedReply>,
}

/// The statement id of a province pair and month.
pub fn stmt_id(insured: Admdvs, treatment: Admdvs, month: YearMonth) -> String {
    format!("CLR-{insured}-{treatment}-{}", compact_month(month))
}

/// `YYYYMM`.
pub fn compact_month(month: YearMonth) -> String {
    format!("{:04}{:02}", month.year, u8::from(month.month))
}

type Key = (String, i8);

/// One statement per (insured province, treatment province) with lines in `month`: the
/// month's rows (`rows` may hold other months too: they are used to match reversals) with
/// reversals netted, plus the lines `carried` from earlier months. Deterministic: the same
/// input gives the same statements, whatever the order of `rows` and `carried`. A row that
/// arrives twice identically (at-least-once delivery) counts once.
pub fn clearing_month(
    rows: &[ClearingRow],
    month: YearMonth,
    carried: &[CarriedLine],
) -> Result<Vec<Statement>> {
    let index = index_rows(rows)?;
    let mut open = index_carried(carried, month)?;
    let mut groups: BTreeMap<(Admdvs, Admdvs), Group> = BTreeMap::new();
    for &row in index.values().filter(|r| r.month() == month) {
        let group = groups
            .entry((row.insured_province(), row.treatment_province()))
            .or_default();
        let other = (row.omsgid.clone(), -row.aaa113);
        let twin_this_month = index.get(&other).is_some_and(|t| t.month() == month);
        if twin_this_month {
            // Same-month forward and reversal: count the pair once, at the reversal.
            group.cancelled_pairs += u32::from(row.is_reversal());
        } else if row.is_reversal()
            && let Some(disputed) = open.remove(&(row.omsgid.clone(), AAA113_FORWARD))
        {
            row.check_reverses(&disputed.row)?;
            group.resolved.push(disputed.clone());
        } else {
            group.lines.push((row.clone(), None, Vec::new()));
        }
    }
    for c in open.into_values() {
        let group = groups
            .entry((c.row.insured_province(), c.row.treatment_province()))
            .or_default();
        group
            .lines
            .push((c.row.clone(), Some(c.carried_from), c.history.clone()));
    }
    Ok(groups
        .into_iter()
        .filter(|(_, g)| !g.lines.is_empty() || !g.resolved.is_empty())
        .map(|((insured, treatment), g)| g.into_statement(insured, treatment, month))
        .collect())
}

#[derive(Default)]
struct Group {
    lines: Vec<(ClearingRow, Option<YearMonth>, Vec<Refusal>)>,
    resolved: Vec<CarriedLine>,
    cancelled_pairs: u32,
}

impl Group {
    fn into_statement(mut self, insured: Admdvs, treatment: Admdvs, month: YearMonth) -> Statement {
        self.lines.sort_by(|(a, _, _), (b, _, _)| {
            (&a.medins_no, a.setl_time, &a.omsgid, -a.aaa113).cmp(&(
                &b.medins_no,
                b.setl_time,
                &b.omsgid,
                -b.aaa113,
            ))
        });
        self.resolved
            .sort_by(|a, b| (&a.row.omsgid, a.row.aaa113).cmp(&(&b.row.omsgid, b.row.aaa113)));
        let lines: Vec<StatementLine> = self
            .lines
            .into_iter()
            .enumerate()
            .map(|(i, (row, carried_from, history))| StatementLine {
                seqno: u32::try_from(i + 1).expect("fewer than 4 billion lines"),
                row,
                carried_from,
                history,
                status: LineStatus::Pending,
            })
            .collect();
        let s = Statement {
            stmt_id: stmt_id(insured, treatment, month),
            insured_province: insured,
            treatment_province: treatment,
            month,
            count: lines.iter().map(|l| i64::from(l.row.aaa113)).sum(),
            medfee_sumamt: lines.iter().map(|l| l.row.medfee_sumamt).sum(),
            fund_pay_sumamt: lines.iter().map(|l| l.row.fund_pay_sumamt).sum(),
            lines,
            cancelled_pairs: self.cancelled_pairs,
            resolved: self.resolved,
            reply: None,
        };
        s.assert_totals();
        s
    }
}

/// Validate every row and index it by `(omsgid, aaa113)`; identical repeats collapse, a
/// repeat with other content is refused; every reversal whose forward is present mirrors it.
fn index_rows(rows: &[ClearingRow]) -> Result<BTreeMap<Key, &ClearingRow>> {
    let mut index: BTreeMap<Key, &ClearingRow> = BTreeMap::new();
    for row in rows {
        row.validate()?;
        let key = (row.omsgid.clone(), row.aaa113);
        if let Some(seen) = index.insert(key, row)
            && seen != row
        {
            return Err(ClearingError::row(
                REVERSAL_RULE,
                &row.omsgid,
                "omsgid",
                format!("aaa113 {} arrives twice with different content", row.aaa113),
            ));
        }
    }
    for ((omsgid, aaa113), reversal) in &index {
        if *aaa113 == AAA113_REVERSAL
            && let Some(forward) = index.get(&(omsgid.clone(), AAA113_FORWARD))
        {
            reversal.check_reverses(forward)?;
        }
    }
    Ok(index)
}

/// Check the carried lines belong before `month` and index them by key.
fn index_carried(carried: &[CarriedLine], month: YearMonth) -> Result<BTreeMap<Key, &CarriedLine>> {
    let mut open: BTreeMap<Key, &CarriedLine> = BTreeMap::new();
    for c in carried {
        c.row.validate()?;
        let err = |message: String| {
            Err(ClearingError::row(
                CARRY_RULE,
                &c.row.omsgid,
                "carried_from",
                message,
            ))
        };
        let Some(last) = c.history.last() else {
            return err("a carried line has no refusal in its history".into());
        };
        if c.carried_from >= month || last.month >= month || c.row.month() >= month {
            return err(format!(
                "carried from {} (last refused in {}) cannot be stated in {month}",
                c.carried_from, last.month
            ));
        }
        let key = (c.row.omsgid.clone(), c.row.aaa113);
        if let Some(seen) = open.insert(key, c)
            && seen != c
        {
            return err("the same line is carried twice with different content".into());
        }
    }
    Ok(open)
}

impl Statement {
    /// Whether the insured province's reply has been applied.
    pub fn is_replied(&self) -> bool {
        self.reply.is_some()
    }

    /// What the confirmed lines add up to: the amount transferred for this statement (0 before
    /// a reply).
    pub fn confirmed_fund(&self) -> Money {
        self.lines
            .iter()
            .filter(|l| l.status == LineStatus::Confirmed)
            .map(|l| l.row.fund_pay_sumamt)
            .sum()
    }

    /// The refused lines' fund total.
    pub fn refused_fund(&self) -> Money {
        self.lines
            .iter()
            .filter(|l| l.status == LineStatus::Refused)
            .map(|l| l.row.fund_pay_sumamt)
            .sum()
    }

    pub fn line(&self, seqno: u32) -> Option<&StatementLine> {
        let i = usize::try_from(seqno).ok()?.checked_sub(1)?;
        self.lines.get(i).filter(|l| l.seqno == seqno)
    }

    /// The totals are the sums of the lines, and the lines are numbered 1.. (a broken
    /// statement is a bug).
    pub(crate) fn assert_totals(&self) {
        let fund: Money = self.lines.iter().map(|l| l.row.fund_pay_sumamt).sum();
        let medfee: Money = self.lines.iter().map(|l| l.row.medfee_sumamt).sum();
        let count: i64 = self.lines.iter().map(|l| i64::from(l.row.aaa113)).sum();
        assert_eq!(
            (fund, medfee, count),
            (self.fund_pay_sumamt, self.medfee_sumamt, self.count),
            "{}",
            self.stmt_id
        );
        for (i, l) in self.lines.iter().enumerate() {
            assert_eq!(
                usize::try_from(l.seqno).ok(),
                Some(i + 1),
                "{}",
                self.stmt_id
            );
            assert_eq!(
                (l.row.insured_province(), l.row.treatment_province()),
                (self.insured_province, self.treatment_province),
                "{}",
                self.stmt_id
            );
        }
    }
}

// The reply's data (its rules are `crate::reply`'s): kept here, with the statement that
// holds it, so that the two modules do not import each other.

/// Longest refusal reason, in characters.
pub const REASON_CHARS_MAX: usize = 200;

/// The answer to one line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReplyLine {
    pub seqno: u32,
    pub confirm: bool,
    /// Why a line is refused (required then); a note on a confirmed line is kept as given.
    #[serde(default)]
    pub reason: String,
}

impl ReplyLine {
    pub fn confirm(seqno: u32) -> ReplyLine {
        ReplyLine {
            seqno,
            confirm: true,
            reason: String::new(),
        }
    }

    pub fn refuse(seqno: u32, reason: &str) -> ReplyLine {
        ReplyLine {
            seqno,
            confirm: false,
            reason: reason.to_owned(),
        }
    }
}

/// What a reply decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyOutcome {
    pub stmt_id: String,
    pub replied_on: Date,
    pub confirmed_lines: u32,
    pub refused_lines: u32,
    /// Σ `aaa113` of the confirmed lines.
    pub confirmed_count: i64,
    pub confirmed_medfee_sumamt: Money,
    /// What is transferred for the statement: its total less the refused lines.
    pub confirmed_fund_pay_sumamt: Money,
    pub refused_fund_pay_sumamt: Money,
    /// The refused lines, for the next month's [`crate::clearing_month`].
    pub carried: Vec<CarriedLine>,
}

/// The reply a statement keeps, to answer a repeat and refuse a contradiction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedReply {
    /// The lines as answered, ordered by `seqno`.
    pub lines: Vec<ReplyLine>,
    pub outcome: ReplyOutcome,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::tests::row;
    use time::macros::{date, datetime};

    fn may() -> YearMonth {
        YearMonth::parse("2024-05").unwrap()
    }

    fn reversal_of(f: &ClearingRow, at: time::OffsetDateTime) -> ClearingRow {
        ClearingRow {
            setl_id: format!("R-{}", f.setl_id),
            setl_time: at,
            medfee_sumamt: -f.medfee_sumamt,
            fund_pay_sumamt: -f.fund_pay_sumamt,
            aaa113: AAA113_REVERSAL,
            ..f.clone()
        }
    }

    #[test]
    fn same_month_reversal_cancels_and_cross_month_reversal_is_a_negative_line() {
        let a = row("A", "880100", "990100", 10_000);
        let b = row("B", "880100", "990100", 20_000);
        let mut april = row("C", "880200", "990300", 5_000);
        april.setl_time = datetime!(2024-04-28 09:00 +8);
        let rows = vec![
            a.clone(),
            reversal_of(&a, datetime!(2024-05-25 09:00 +8)),
            b.clone(),
            reversal_of(&april, datetime!(2024-05-02 09:00 +8)),
            april.clone(),
            b.clone(), // delivered twice
        ];
        let s = clearing_month(&rows, may(), &[]).unwrap();
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!(s.stmt_id, "CLR-880000-990000-202405");
        assert_eq!(s.cancelled_pairs, 1);
        let keys: Vec<(&str, i8)> = s.lines.iter().map(|l| l.row.key()).collect();
        assert_eq!(keys, vec![("C", -1), ("B", 1)]);
        assert_eq!(s.count, 0);
        assert_eq!(s.fund_pay_sumamt, Money::from_fen(15_000));
        assert_eq!(s.medfee_sumamt, Money::from_fen(30_000));
        // April's own statement still has the forward.
        let april_s = clearing_month(&rows, YearMonth::parse("2024-04").unwrap(), &[]).unwrap();
        assert_eq!(april_s[0].fund_pay_sumamt, Money::from_fen(5_000));
    }

    #[test]
    fn reversals_must_mirror_their_forward_and_keys_must_not_conflict() {
        let a = row("A", "880100", "990100", 10_000);
        let mut r = reversal_of(&a, datetime!(2024-05-25 09:00 +8));
        r.fund_pay_sumamt = Money::from_fen(-9_999);
        let e = clearing_month(&[a.clone(), r], may(), &[]).unwrap_err();
        assert_eq!(e.rule(), REVERSAL_RULE);
        let early = reversal_of(&a, datetime!(2024-05-01 09:00 +8));
        assert!(
            clearing_month(&[a.clone(), early], may(), &[])
                .unwrap_err()
                .to_string()
                .contains("precedes")
        );
        let mut other = a.clone();
        other.fund_pay_sumamt = Money::from_fen(1);
        assert!(
            clearing_month(&[a, other], may(), &[])
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }

    #[test]
    fn carried_lines_join_their_pair_and_a_reversal_resolves_them() {
        let mut old = row("OLD", "880100", "990100", 7_000);
        old.setl_time = datetime!(2024-04-10 09:00 +8);
        let refusal = Refusal {
            month: YearMonth::parse("2024-04").unwrap(),
            stmt_id: "CLR-880000-990000-202404".into(),
            seqno: 3,
            reason: "no referral".into(),
            refused_on: date!(2024 - 05 - 08),
        };
        let carried = CarriedLine {
            row: old.clone(),
            carried_from: refusal.month,
            history: vec![refusal.clone()],
        };
        let s = clearing_month(&[], may(), std::slice::from_ref(&carried)).unwrap();
        assert_eq!(s[0].lines[0].carried_from, Some(refusal.month));
        assert_eq!(s[0].lines[0].history, vec![refusal.clone()]);
        assert_eq!(s[0].fund_pay_sumamt, Money::from_fen(7_000));
        let rev = reversal_of(&old, datetime!(2024-05-15 09:00 +8));
        let s = clearing_month(&[old.clone(), rev], may(), std::slice::from_ref(&carried)).unwrap();
        assert!(s[0].lines.is_empty());
        assert_eq!(s[0].resolved, vec![carried.clone()]);
        assert_eq!(s[0].fund_pay_sumamt, Money::ZERO);
        // A line cannot be carried into its own month or earlier.
        let e = clearing_month(&[], refusal.month, &[carried]).unwrap_err();
        assert_eq!(e.rule(), CARRY_RULE);
    }

    #[test]
    fn output_does_not_depend_on_input_order() {
        let rows: Vec<ClearingRow> = (0..9)
            .map(|i| {
                let mut r = row(
                    &format!("K{i}"),
                    ["880100", "770100", "990100"][i % 3],
                    ["990100", "880100"][i % 2],
                    100 + i as i64,
                );
                r.medins_no = format!("H{}", i % 4);
                r
            })
            .filter(|r| r.validate().is_ok())
            .collect();
        let a = clearing_month(&rows, may(), &[]).unwrap();
        let mut reversed = rows.clone();
        reversed.reverse();
        assert_eq!(a, clearing_month(&reversed, may(), &[]).unwrap());
        let pairs: Vec<(&str, &str)> = a
            .iter()
            .map(|s| (s.insured_province.as_str(), s.treatment_province.as_str()))
            .collect();
        let mut sorted = pairs.clone();
        sorted.sort();
        assert_eq!(pairs, sorted);
    }
}
