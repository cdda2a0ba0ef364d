//! The insured province's reply to a statement: every line confirmed or refused (the PS
//! workflow "confirm / refuse each line → declare", `reference/legacy-and-cross-region.md`
//! §4.1). Confirmed lines are paid this month; refused lines are carried into the next
//! month's statement with their history. A reply is applied once: the same reply again is a
//! no-op that returns the same outcome, a different one is refused.

use medsettle_canonical::Money;
use time::Date;

use crate::error::{ClearingError, Result};
use crate::statement::{
    AppliedReply, CarriedLine, LineStatus, REASON_CHARS_MAX, Refusal, ReplyLine, ReplyOutcome,
    Statement,
};

impl Statement {
    /// Apply the insured province's reply, received on `replied_on`: every line must be
    /// answered exactly once, and a refusal needs a reason. Applying the same lines again
    /// returns the first outcome (the first `replied_on` stands); other lines are an error.
    pub fn apply_reply(&mut self, reply: &[ReplyLine], replied_on: Date) -> Result<ReplyOutcome> {
        let lines = self.checked_reply(reply)?;
        if let Some(applied) = &self.reply {
            if applied.lines == lines {
                return Ok(applied.outcome.clone());
            }
            return Err(ClearingError::reply(
                &self.stmt_id,
                format!(
                    "a different reply was applied on {}: a reply cannot be changed",
                    applied.outcome.replied_on
                ),
            ));
        }
        if replied_on <= self.month.last_day() {
            return Err(ClearingError::reply(
                &self.stmt_id,
                format!(
                    "replied on {replied_on}, before the month {} is over",
                    self.month
                ),
            ));
        }
        for (line, answer) in self.lines.iter_mut().zip(&lines) {
            assert_eq!(line.seqno, answer.seqno);
            line.status = if answer.confirm {
                LineStatus::Confirmed
            } else {
                LineStatus::Refused
            };
        }
        let outcome = self.outcome(&lines, replied_on);
        self.reply = Some(AppliedReply {
            lines,
            outcome: outcome.clone(),
        });
        Ok(outcome)
    }

    /// The reply ordered by `seqno`, checked against the lines.
    fn checked_reply(&self, reply: &[ReplyLine]) -> Result<Vec<ReplyLine>> {
        let mut lines = reply.to_vec();
        lines.sort();
        let total = self.lines.len();
        let err = |m: String| Err(ClearingError::reply(&self.stmt_id, m));
        for (i, l) in lines.iter().enumerate() {
            if self.line(l.seqno).is_none() {
                return err(format!("seqno {} is not a line (1–{total})", l.seqno));
            }
            if i > 0 && lines[i - 1].seqno == l.seqno {
                return err(format!("seqno {} is answered twice", l.seqno));
            }
            if !l.confirm && l.reason.trim().is_empty() {
                return err(format!("seqno {} is refused without a reason", l.seqno));
            }
            if l.reason.chars().count() > REASON_CHARS_MAX {
                return err(format!(
                    "seqno {}: the reason is over {REASON_CHARS_MAX} characters",
                    l.seqno
                ));
            }
        }
        if lines.len() != total {
            let missing: Vec<String> = (1..=total)
                .filter(|n| lines.binary_search_by_key(n, |l| l.seqno as usize).is_err())
                .take(10)
                .map(|n| n.to_string())
                .collect();
            return err(format!(
                "every line must be answered; unanswered seqno {}{}",
                missing.join(", "),
                if total - lines.len() > missing.len() {
                    ", …"
                } else {
                    ""
                }
            ));
        }
        Ok(lines)
    }

    fn outcome(&self, answers: &[ReplyLine], replied_on: Date) -> ReplyOutcome {
        let mut o = ReplyOutcome {
            stmt_id: self.stmt_id.clone(),
            replied_on,
            confirmed_lines: 0,
            refused_lines: 0,
            confirmed_count: 0,
            confirmed_medfee_sumamt: Money::ZERO,
            confirmed_fund_pay_sumamt: Money::ZERO,
            refused_fund_pay_sumamt: Money::ZERO,
            carried: Vec::new(),
        };
        for (line, answer) in self.lines.iter().zip(answers) {
            if answer.confirm {
                o.confirmed_lines += 1;
                o.confirmed_count += i64::from(line.row.aaa113);
                o.confirmed_medfee_sumamt += line.row.medfee_sumamt;
                o.confirmed_fund_pay_sumamt += line.row.fund_pay_sumamt;
                continue;
            }
            o.refused_lines += 1;
            o.refused_fund_pay_sumamt += line.row.fund_pay_sumamt;
            let mut history = line.history.clone();
            history.push(Refusal {
                month: self.month,
                stmt_id: self.stmt_id.clone(),
                seqno: line.seqno,
                reason: answer.reason.clone(),
                refused_on: replied_on,
            });
            o.carried.push(CarriedLine {
                row: line.row.clone(),
                carried_from: line.carried_from.unwrap_or(self.month),
                history,
            });
        }
        assert_eq!(
            o.confirmed_fund_pay_sumamt + o.refused_fund_pay_sumamt,
            self.fund_pay_sumamt,
            "{}: confirmed + refused = total",
            self.stmt_id
        );
        assert_eq!(o.confirmed_fund_pay_sumamt, self.confirmed_fund());
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::tests::row;
    use crate::statement::clearing_month;
    use medsettle_settlement::YearMonth;
    use time::macros::date;

    fn statement() -> Statement {
        let rows: Vec<_> = (1..=3)
            .map(|i| row(&format!("K{i}"), "880100", "990100", i * 1_000))
            .collect();
        clearing_month(&rows, YearMonth::parse("2024-05").unwrap(), &[])
            .unwrap()
            .remove(0)
    }

    #[test]
    fn confirmed_total_is_the_total_less_the_refused_lines() {
        let mut s = statement();
        let reply = [
            ReplyLine::confirm(1),
            ReplyLine::refuse(2, "duplicate admission"),
            ReplyLine::confirm(3),
        ];
        let o = s.apply_reply(&reply, date!(2024 - 06 - 05)).unwrap();
        assert_eq!(
            o.confirmed_fund_pay_sumamt,
            s.fund_pay_sumamt - Money::from_fen(2_000)
        );
        assert_eq!(o.confirmed_fund_pay_sumamt, Money::from_fen(4_000));
        assert_eq!(
            (o.confirmed_lines, o.refused_lines, o.confirmed_count),
            (2, 1, 2)
        );
        assert_eq!(o.carried.len(), 1);
        assert_eq!(o.carried[0].row.omsgid, "K2");
        assert_eq!(o.carried[0].history[0].reason, "duplicate admission");
        assert_eq!(s.lines[1].status, LineStatus::Refused);
        // The same reply again (in another order, another day) is the same outcome.
        let mut again = reply.to_vec();
        again.reverse();
        assert_eq!(s.apply_reply(&again, date!(2024 - 06 - 07)).unwrap(), o);
        // A different one is refused.
        let changed = [
            ReplyLine::confirm(1),
            ReplyLine::confirm(2),
            ReplyLine::confirm(3),
        ];
        let e = s.apply_reply(&changed, date!(2024 - 06 - 07)).unwrap_err();
        assert!(e.to_string().contains("cannot be changed"), "{e}");
        assert_eq!(s.confirmed_fund(), Money::from_fen(4_000));
    }

    #[test]
    fn bad_replies_are_refused_and_change_nothing() {
        let mut s = statement();
        let on = date!(2024 - 06 - 05);
        for (reply, words) in [
            (vec![ReplyLine::refuse(4, "x")], "not a line"),
            (vec![ReplyLine::confirm(0)], "not a line"),
            (
                vec![
                    ReplyLine::confirm(1),
                    ReplyLine::confirm(1),
                    ReplyLine::confirm(2),
                ],
                "answered twice",
            ),
            (
                vec![
                    ReplyLine::confirm(1),
                    ReplyLine::refuse(2, " "),
                    ReplyLine::confirm(3),
                ],
                "without a reason",
            ),
            (vec![ReplyLine::confirm(1)], "unanswered seqno 2, 3"),
        ] {
            let e = s.apply_reply(&reply, on).unwrap_err();
            assert!(e.to_string().contains(words), "{e}");
            assert_eq!(e.rule(), crate::error::REPLY_RULE);
        }
        let all: Vec<_> = (1..=3).map(ReplyLine::confirm).collect();
        assert!(
            s.apply_reply(&all, date!(2024 - 05 - 31))
                .unwrap_err()
                .to_string()
                .contains("before the month")
        );
        assert!(s.lines.iter().all(|l| l.status == LineStatus::Pending));
        assert!(s.reply.is_none());
    }
}
