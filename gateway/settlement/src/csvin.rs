//! CSV imports (declarations, audit deductions, procurement advances, special cases, DIP
//! points and coefficients). Strict: a header row is required, every listed column must be
//! there and no other, and a bad cell is an error naming the input, line and column — an import
//! that half-works would settle money on guesses.

use std::collections::{BTreeMap, BTreeSet};

use medsettle_canonical::{BankAccount, Money, Ratio};
use serde::{Deserialize, Serialize};

use crate::calendar::YearMonth;
use crate::error::{Result, SettlementError};

/// The largest amount one row of an operator's CSV may carry, in fen: 10 billion yuan
/// (100 亿元). A whole pool region's fund spends a few hundred billion yuan a year; one
/// institution's month, one deduction or one advance above this is a typing error (a
/// misplaced decimal point, an amount in fen typed as yuan), never a real figure. Raise the
/// constant (and rebuild) for a pool whose real figures come near it.
pub const ROW_AMOUNT_FEN_MAX: i64 = 1_000_000_000_000;

/// A parsed table: column index by name, then rows with their 1-based line numbers.
pub(crate) struct Table {
    input: &'static str,
    rule: &'static str,
    columns: BTreeMap<String, usize>,
    rows: Vec<(u64, Vec<String>)>,
}

pub(crate) struct Row<'a> {
    table: &'a Table,
    pub line: u64,
    cells: &'a [String],
}

impl Table {
    pub(crate) fn parse(
        input: &'static str,
        rule: &'static str,
        text: &str,
        required: &[&str],
        optional: &[&str],
    ) -> Result<Table> {
        let err = |line: u64, column: &str, message: String| SettlementError::Row {
            rule,
            input,
            line,
            column: column.to_owned(),
            message,
        };
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let header = r
            .headers()
            .map_err(|e| err(1, "(header)", e.to_string()))?
            .clone();
        let mut columns = BTreeMap::new();
        for (i, h) in header.iter().enumerate() {
            let h = h.trim_start_matches('\u{feff}');
            if !required.contains(&h) && !optional.contains(&h) {
                return Err(err(
                    1,
                    h,
                    format!("unknown column; expected {}", required.join(",")),
                ));
            }
            if columns.insert(h.to_owned(), i).is_some() {
                return Err(err(1, h, "column given twice".into()));
            }
        }
        for c in required {
            if !columns.contains_key(*c) {
                return Err(err(1, c, "required column is missing".into()));
            }
        }
        let mut rows = Vec::new();
        for rec in r.records() {
            let rec = rec.map_err(|e| {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                err(line, "(row)", e.to_string())
            })?;
            let line = rec.position().map(|p| p.line()).unwrap_or(0);
            rows.push((line, rec.iter().map(str::to_owned).collect()));
        }
        Ok(Table {
            input,
            rule,
            columns,
            rows,
        })
    }

    pub(crate) fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|(line, cells)| Row {
            table: self,
            line: *line,
            cells,
        })
    }
}

impl Row<'_> {
    pub(crate) fn err(&self, column: &str, message: impl Into<String>) -> SettlementError {
        SettlementError::Row {
            rule: self.table.rule,
            input: self.table.input,
            line: self.line,
            column: column.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn opt(&self, column: &str) -> Option<&str> {
        self.table
            .columns
            .get(column)
            .and_then(|i| self.cells.get(*i))
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    pub(crate) fn text(&self, column: &str) -> Result<String> {
        self.opt(column)
            .map(str::to_owned)
            .ok_or_else(|| self.err(column, "empty"))
    }

    pub(crate) fn code(&self, column: &str) -> Result<String> {
        let t = self.text(column)?;
        if t.len() > 30 || !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(self.err(
                column,
                format!("`{t}` is not a code (ASCII letters and digits, at most 30)"),
            ));
        }
        Ok(t)
    }

    pub(crate) fn money(&self, column: &str) -> Result<Money> {
        let t = self.text(column)?;
        Money::parse_yuan(&t).map_err(|e| self.err(column, e.to_string()))
    }

    pub(crate) fn positive_money(&self, column: &str) -> Result<Money> {
        let m = self.bounded_money(column)?;
        if m <= Money::ZERO {
            return Err(self.err(column, format!("{m} must be greater than zero")));
        }
        Ok(m)
    }

    /// An amount of at most [`ROW_AMOUNT_FEN_MAX`] either way.
    pub(crate) fn bounded_money(&self, column: &str) -> Result<Money> {
        let m = self.money(column)?;
        let max = Money::from_fen(ROW_AMOUNT_FEN_MAX);
        if m > max || m < -max {
            return Err(self.err(
                column,
                format!("{m} is beyond the plausible {max} for one row (ROW_AMOUNT_FEN_MAX)"),
            ));
        }
        Ok(m)
    }

    /// An amount of zero or more, at most [`ROW_AMOUNT_FEN_MAX`].
    pub(crate) fn non_negative_money(&self, column: &str) -> Result<Money> {
        let m = self.bounded_money(column)?;
        if m.is_negative() {
            return Err(self.err(column, format!("{m} must not be negative")));
        }
        Ok(m)
    }

    pub(crate) fn month(&self, column: &str) -> Result<YearMonth> {
        let t = self.text(column)?;
        YearMonth::parse(&t).ok_or_else(|| self.err(column, format!("`{t}` is not YYYY-MM")))
    }

    /// The row's month, which must be `period` when one is given: a row of another month in
    /// a month's file is a wrong file or a wrong row, never something to skip silently.
    pub(crate) fn month_of(&self, column: &str, period: Option<YearMonth>) -> Result<YearMonth> {
        let m = self.month(column)?;
        match period {
            Some(p) if p != m => Err(self.err(
                column,
                format!("{m} is not the period settled ({p}); a file holds one month's rows"),
            )),
            _ => Ok(m),
        }
    }

    pub(crate) fn ratio(&self, column: &str) -> Result<Ratio> {
        let t = self.text(column)?;
        Ratio::parse(&t).map_err(|e| self.err(column, e.to_string()))
    }

    /// Exact decimal with up to 4 decimals as an integer count of 1/10 000.
    pub(crate) fn scaled4(&self, column: &str) -> Result<i64> {
        let t = self.text(column)?;
        medsettle_canonical::money::parse_scaled(&t, 4).map_err(|e| self.err(column, e.to_string()))
    }

    pub(crate) fn flag(&self, column: &str) -> Result<bool> {
        match self.text(column)?.as_str() {
            "1" => Ok(true),
            "0" => Ok(false),
            other => Err(self.err(column, format!("`{other}` is not 0 or 1"))),
        }
    }
}

/// IS-M-1: an institution's declaration of a month (its reconciled totals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declaration {
    pub fixmedins_code: String,
    pub month: YearMonth,
    /// Σ in-scope fund amounts of the month's reconciled claims (IS-SC-2).
    pub fund_amount: Money,
    pub claim_count: u64,
}

impl Declaration {
    /// Columns: `fixmedins_code,month,fund_amount,claim_count`. One row per institution and
    /// month; the fund amount is zero or more (a negative declaration is no debt to record)
    /// and at most [`ROW_AMOUNT_FEN_MAX`].
    pub fn from_csv_str(text: &str) -> Result<Vec<Declaration>> {
        Self::parse(text, None)
    }

    /// [`Self::from_csv_str`] for the settlement of `period`: every row must be of `period`.
    pub fn from_csv_str_of(text: &str, period: YearMonth) -> Result<Vec<Declaration>> {
        Self::parse(text, Some(period))
    }

    fn parse(text: &str, period: Option<YearMonth>) -> Result<Vec<Declaration>> {
        let t = Table::parse(
            "declarations",
            "IS-M-1",
            text,
            &["fixmedins_code", "month", "fund_amount", "claim_count"],
            &[],
        )?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for r in t.rows() {
            let d = Declaration {
                fixmedins_code: r.code("fixmedins_code")?,
                month: r.month_of("month", period)?,
                fund_amount: r.non_negative_money("fund_amount")?,
                claim_count: r
                    .text("claim_count")?
                    .parse()
                    .map_err(|_| r.err("claim_count", "not a count"))?,
            };
            if !seen.insert((d.fixmedins_code.clone(), d.month)) {
                return Err(r.err(
                    "fixmedins_code",
                    format!("second declaration of {} for {}", d.fixmedins_code, d.month),
                ));
            }
            out.push(d);
        }
        Ok(out)
    }
}

/// IS-M-2: an audit deduction (审核扣款), final after appeal and review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deduction {
    pub fixmedins_code: String,
    pub month: YearMonth,
    pub setl_id: String,
    pub amount: Money,
    pub reason: String,
}

impl Deduction {
    /// Columns: `fixmedins_code,month,setl_id,amount,reason`. Amounts are positive, at most
    /// [`ROW_AMOUNT_FEN_MAX`].
    pub fn from_csv_str(text: &str) -> Result<Vec<Deduction>> {
        Self::parse(text, None)
    }

    /// [`Self::from_csv_str`] for the settlement of `period`: every row must be of `period`.
    pub fn from_csv_str_of(text: &str, period: YearMonth) -> Result<Vec<Deduction>> {
        Self::parse(text, Some(period))
    }

    fn parse(text: &str, period: Option<YearMonth>) -> Result<Vec<Deduction>> {
        let t = Table::parse(
            "audit deductions",
            "IS-M-2",
            text,
            &["fixmedins_code", "month", "setl_id", "amount", "reason"],
            &[],
        )?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for r in t.rows() {
            let d = Deduction {
                fixmedins_code: r.code("fixmedins_code")?,
                month: r.month_of("month", period)?,
                setl_id: r.text("setl_id")?,
                amount: r.positive_money("amount")?,
                reason: r.opt("reason").unwrap_or_default().to_owned(),
            };
            if !seen.insert((d.fixmedins_code.clone(), d.month, d.setl_id.clone())) {
                return Err(r.err("setl_id", format!("{} is deducted twice", d.setl_id)));
            }
            out.push(d);
        }
        Ok(out)
    }
}

/// IS-M-6: a procurement advance (药耗招采垫付) paid to a distributor on an institution's behalf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advance {
    pub fixmedins_code: String,
    pub month: YearMonth,
    pub distributor_code: String,
    pub distributor: BankAccount,
    pub amount: Money,
}

impl Advance {
    /// Columns: `fixmedins_code,month,distributor_code,account_name,account,bank_code,amount`
    /// (+ optional `bank_name`). Distributor codes are at most 16 characters so payment ids fit
    /// the bank's 35-character end-to-end id. Amounts are positive, at most
    /// [`ROW_AMOUNT_FEN_MAX`].
    pub fn from_csv_str(text: &str) -> Result<Vec<Advance>> {
        Self::parse(text, None)
    }

    /// [`Self::from_csv_str`] for the settlement of `period`: every row must be of `period`.
    pub fn from_csv_str_of(text: &str, period: YearMonth) -> Result<Vec<Advance>> {
        Self::parse(text, Some(period))
    }

    fn parse(text: &str, period: Option<YearMonth>) -> Result<Vec<Advance>> {
        let t = Table::parse(
            "procurement advances",
            "IS-M-6",
            text,
            &[
                "fixmedins_code",
                "month",
                "distributor_code",
                "account_name",
                "account",
                "bank_code",
                "amount",
            ],
            &["bank_name"],
        )?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for r in t.rows() {
            let distributor_code = r.code("distributor_code")?;
            if distributor_code.len() > 16 {
                return Err(r.err("distributor_code", "longer than 16 characters"));
            }
            let account = BankAccount {
                name: r.text("account_name")?,
                account: r.text("account")?,
                bank_code: r.text("bank_code")?,
                bank_name: r.opt("bank_name").unwrap_or_default().to_owned(),
            };
            if !account.has_valid_cnaps() {
                return Err(r.err(
                    "bank_code",
                    format!("`{}` is not a 12-digit CNAPS code", account.bank_code),
                ));
            }
            let a = Advance {
                fixmedins_code: r.code("fixmedins_code")?,
                month: r.month_of("month", period)?,
                distributor_code,
                distributor: account,
                amount: r.positive_money("amount")?,
            };
            if !seen.insert((
                a.fixmedins_code.clone(),
                a.month,
                a.distributor_code.clone(),
            )) {
                return Err(r.err(
                    "distributor_code",
                    "one row per institution, month and distributor",
                ));
            }
            out.push(a);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_m_1_declarations_parse_and_bad_rows_name_line_and_column() {
        let ok = "fixmedins_code,month,fund_amount,claim_count\nH64010000001,2025-10,1234.56,3\n";
        let d = Declaration::from_csv_str(ok).unwrap();
        assert_eq!(d[0].fund_amount, Money::from_fen(123_456));
        let bad = "fixmedins_code,month,fund_amount,claim_count\nH64010000001,2025-10,1.00,1\nH64010000002,2025-10,12.345,1\n";
        let e = Declaration::from_csv_str(bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            "[IS-M-1] declarations line 3, column `fund_amount`: `12.345` has more than 2 non-zero decimals; it would need rounding"
        );
        let missing = "fixmedins_code,month,fund_amount\nH1,2025-10,1\n";
        assert!(
            Declaration::from_csv_str(missing)
                .unwrap_err()
                .to_string()
                .contains("column `claim_count`: required column is missing")
        );
        let extra = "fixmedins_code,month,fund_amount,claim_count,x\n";
        assert!(
            Declaration::from_csv_str(extra)
                .unwrap_err()
                .to_string()
                .contains("unknown column")
        );
        let dup = "fixmedins_code,month,fund_amount,claim_count\nH1,2025-10,1,1\nH1,2025-10,2,1\n";
        assert!(
            Declaration::from_csv_str(dup)
                .unwrap_err()
                .to_string()
                .contains("line 3")
        );
        let month = "fixmedins_code,month,fund_amount,claim_count\nH1,2025/10,1,1\n";
        assert!(
            Declaration::from_csv_str(month)
                .unwrap_err()
                .to_string()
                .contains("column `month`")
        );
    }

    /// Issue 15 item 5: a negative declaration recorded a debt that suspended the hospital's
    /// daily payments; an absurd one settled. Both are refused at their cell.
    #[test]
    fn is_m_1_declarations_are_neither_negative_nor_absurd() {
        let head = "fixmedins_code,month,fund_amount,claim_count\n";
        let negative = format!("{head}H1,2025-10,1.00,1\nH2,2025-10,-500.00,1\n");
        let e = Declaration::from_csv_str(&negative).unwrap_err();
        assert_eq!(
            e.to_string(),
            "[IS-M-1] declarations line 3, column `fund_amount`: -500.00 must not be negative"
        );
        let absurd = format!("{head}H1,2025-10,10000000000.01,1\n");
        let e = Declaration::from_csv_str(&absurd).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "[IS-M-1] declarations line 2, column `fund_amount`: 10000000000.01 is beyond"
            ),
            "{e}"
        );
        let at_cap = format!("{head}H1,2025-10,10000000000.00,1\nH2,2025-10,0.00,0\n");
        let d = Declaration::from_csv_str(&at_cap).unwrap();
        assert_eq!(d[0].fund_amount, Money::from_fen(ROW_AMOUNT_FEN_MAX));
        assert_eq!(d[1].fund_amount, Money::ZERO);
        let deduction =
            "fixmedins_code,month,setl_id,amount,reason\nH1,2025-10,S1,15000000000.00,x\n";
        assert!(
            Deduction::from_csv_str(deduction)
                .unwrap_err()
                .to_string()
                .contains("line 2, column `amount`")
        );
    }

    /// Issue 15 item 5: rows of another month than the period settled were silently skipped.
    #[test]
    fn rows_of_another_month_than_the_period_are_refused() {
        let period = YearMonth::parse("2025-10").unwrap();
        let decl =
            "fixmedins_code,month,fund_amount,claim_count\nH1,2025-10,1.00,1\nH2,2025-09,2.00,1\n";
        assert_eq!(Declaration::from_csv_str(decl).unwrap().len(), 2);
        let e = Declaration::from_csv_str_of(decl, period).unwrap_err();
        assert_eq!(
            e.to_string(),
            "[IS-M-1] declarations line 3, column `month`: 2025-09 is not the period settled (2025-10); a file holds one month's rows"
        );
        let ded = "fixmedins_code,month,setl_id,amount,reason\nH1,2025-11,S1,5.00,x\n";
        let e = Deduction::from_csv_str_of(ded, period).unwrap_err();
        assert_eq!(e.rule(), "IS-M-2");
        assert!(e.to_string().contains("line 2, column `month`"), "{e}");
        let adv = "fixmedins_code,month,distributor_code,account_name,account,bank_code,amount\nH1,2025-09,DIST01,某医药公司,6222000011112222,102871000011,100.00\n";
        let e = Advance::from_csv_str_of(adv, period).unwrap_err();
        assert_eq!(e.rule(), "IS-M-6");
        assert!(e.to_string().contains("line 2, column `month`"), "{e}");
    }

    #[test]
    fn is_m_2_deductions_must_be_positive() {
        let bad = "fixmedins_code,month,setl_id,amount,reason\nH1,2025-10,S1,-5.00,x\n";
        let e = Deduction::from_csv_str(bad).unwrap_err();
        assert_eq!(e.rule(), "IS-M-2");
        assert!(e.to_string().contains("line 2, column `amount`"));
    }

    #[test]
    fn is_m_6_advances_need_a_valid_distributor_account() {
        let ok = "fixmedins_code,month,distributor_code,account_name,account,bank_code,amount\nH1,2025-10,DIST01,某医药公司,6222000011112222,102871000011,100.00\n";
        assert_eq!(
            Advance::from_csv_str(ok).unwrap()[0].amount,
            Money::from_fen(10_000)
        );
        let bad = ok.replace("102871000011", "1028");
        assert!(
            Advance::from_csv_str(&bad)
                .unwrap_err()
                .to_string()
                .contains("column `bank_code`")
        );
    }
}
