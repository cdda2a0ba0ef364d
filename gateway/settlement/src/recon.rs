//! Daily reconciliation with institutions (日对账, IS-D-9): national transactions 3201 (totals
//! per insutype, clr_type and settlement agency) and 3202 (detail per settlement).
//!
//! Our side is computed from the journal's settled claims the caller passes in. Conventions:
//! - date range: settlement dates (China time, IS-D-1) from `stmt_begndate` to `stmt_enddate`,
//!   both inclusive;
//! - amounts are net: a reversal carries negated amounts and so subtracts;
//! - `fixmedins_setl_cnt` is net too: a settlement counts +1, a reversal −1, so a settled-then-
//!   reversed visit counts 0 — what the institution's own ledger of valid settlements shows;
//! - 3202 keys a settlement by `(setl_id, refd_setl_flag)`; a reversal is keyed by the setl_id
//!   of the settlement it reverses (where known) with flag `1`, as HIS detail files list it.

use std::collections::BTreeMap;

use medsettle_canonical::{ClaimKind, Money, SettledClaim};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::csvin::Table;
use crate::daily::csv_string;
use crate::error::Result;

/// A 3201 request (`data` of 对总账).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stmt3201Request {
    pub fixmedins_code: String,
    pub insutype: String,
    pub clr_type: String,
    pub setl_optins: String,
    pub stmt_begndate: Date,
    pub stmt_enddate: Date,
    pub medfee_sumamt: Money,
    pub fund_pay_sumamt: Money,
    pub acct_pay: Money,
    pub fixmedins_setl_cnt: i64,
}

/// Totals of one group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StmtTotals {
    pub medfee_sumamt: Money,
    pub fund_pay_sumamt: Money,
    pub acct_pay: Money,
    pub fixmedins_setl_cnt: i64,
}

/// The 3201 answer (`stmtinfo`) plus our totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stmt3201Result {
    pub setl_optins: String,
    /// `"0"` balanced (平帐), `"1"` not balanced.
    pub stmt_rslt: String,
    /// ≤ 200 characters: which totals differ and by how much (ours − theirs).
    pub stmt_rslt_dscr: String,
    pub ours: StmtTotals,
}

fn in_range(c: &SettledClaim, from: Date, to: Date) -> bool {
    let d = c.settlement_date();
    from <= d && d <= to
}

/// Our totals for one (institution, insutype, clr_type, setl_optins) group and date range.
pub fn totals_3201<'a>(
    claims: impl IntoIterator<Item = &'a SettledClaim>,
    req: &Stmt3201Request,
) -> StmtTotals {
    let mut t = StmtTotals::default();
    for c in claims.into_iter().filter(|c| {
        c.fixmedins_code == req.fixmedins_code
            && c.insutype == req.insutype
            && c.clr_type.as_deref() == Some(req.clr_type.as_str())
            && c.clr_optins.as_deref() == Some(req.setl_optins.as_str())
            && in_range(c, req.stmt_begndate, req.stmt_enddate)
    }) {
        t.medfee_sumamt += c.amounts.medfee_sumamt;
        t.fund_pay_sumamt += c.amounts.fund_pay_sumamt;
        t.acct_pay += c.amounts.acct_pay;
        t.fixmedins_setl_cnt += match c.kind {
            ClaimKind::Settlement => 1,
            ClaimKind::Reversal => -1,
        };
    }
    t
}

/// IS-D-9: answer a 3201 request from our claims.
pub fn reconcile_3201<'a>(
    claims: impl IntoIterator<Item = &'a SettledClaim>,
    req: &Stmt3201Request,
) -> Stmt3201Result {
    let ours = totals_3201(claims, req);
    let mut diffs = Vec::new();
    for (name, o, t) in [
        ("medfee_sumamt", ours.medfee_sumamt, req.medfee_sumamt),
        ("fund_pay_sumamt", ours.fund_pay_sumamt, req.fund_pay_sumamt),
        ("acct_pay", ours.acct_pay, req.acct_pay),
    ] {
        if o != t {
            diffs.push(format!("{name} 中心{o} 机构{t} 差{}", o - t));
        }
    }
    if ours.fixmedins_setl_cnt != req.fixmedins_setl_cnt {
        diffs.push(format!(
            "fixmedins_setl_cnt 中心{} 机构{}",
            ours.fixmedins_setl_cnt, req.fixmedins_setl_cnt
        ));
    }
    let (stmt_rslt, mut dscr) = if diffs.is_empty() {
        ("0", "平帐".to_owned())
    } else {
        ("1", format!("不平: {}", diffs.join("; ")))
    };
    if dscr.chars().count() > 200 {
        dscr = dscr.chars().take(199).collect::<String>() + "…";
    }
    Stmt3201Result {
        setl_optins: req.setl_optins.clone(),
        stmt_rslt: stmt_rslt.into(),
        stmt_rslt_dscr: dscr,
        ours,
    }
}

/// One row of the institution's 3202 upload file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stmt3202Row {
    pub setl_id: String,
    pub mdtrt_id: String,
    pub psn_no: String,
    pub medfee_sumamt: Money,
    pub fund_pay_sumamt: Money,
    pub acct_pay: Money,
    /// `0` settlement, `1` refunded/reversed.
    pub refd_setl_flag: bool,
}

impl Stmt3202Row {
    /// Columns: `setl_id,mdtrt_id,psn_no,medfee_sumamt,fund_pay_sumamt,acct_pay,refd_setl_flag`.
    /// (The national file's delimiter is unverified; callers convert it to CSV first.)
    pub fn from_csv_str(text: &str) -> Result<Vec<Stmt3202Row>> {
        let t = Table::parse(
            "3202 detail",
            "IS-D-9",
            text,
            &[
                "setl_id",
                "mdtrt_id",
                "psn_no",
                "medfee_sumamt",
                "fund_pay_sumamt",
                "acct_pay",
                "refd_setl_flag",
            ],
            &[],
        )?;
        t.rows()
            .map(|r| {
                Ok(Stmt3202Row {
                    setl_id: r.text("setl_id")?,
                    mdtrt_id: r.text("mdtrt_id")?,
                    psn_no: r.text("psn_no")?,
                    medfee_sumamt: r.money("medfee_sumamt")?,
                    fund_pay_sumamt: r.money("fund_pay_sumamt")?,
                    acct_pay: r.money("acct_pay")?,
                    refd_setl_flag: r.flag("refd_setl_flag")?,
                })
            })
            .collect()
    }

    fn from_claim(c: &SettledClaim) -> Stmt3202Row {
        let reversal = c.kind == ClaimKind::Reversal;
        let setl_id = if reversal {
            c.reversal_of
                .as_ref()
                .and_then(|l| l.setl_id.clone())
                .unwrap_or_else(|| c.setl_id.clone())
        } else {
            c.setl_id.clone()
        };
        Stmt3202Row {
            setl_id,
            mdtrt_id: c.mdtrt_id.clone(),
            psn_no: c.psn_no.clone(),
            medfee_sumamt: c.amounts.medfee_sumamt,
            fund_pay_sumamt: c.amounts.fund_pay_sumamt,
            acct_pay: c.amounts.acct_pay,
            refd_setl_flag: reversal,
        }
    }
}

/// What 3202 found for one settlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "finding")]
pub enum DetailFinding {
    /// Both sides agree.
    Match,
    /// The institution lists it; we have no such settlement.
    MissingOnOurSide,
    /// We have it; the institution did not list it.
    MissingOnTheirSide,
    /// Both have it; these fields differ (`field: ours vs theirs`).
    Differs { fields: Vec<String> },
}

/// One line of the 3202 result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailResult {
    pub setl_id: String,
    pub refd_setl_flag: bool,
    pub ours: Option<Stmt3202Row>,
    pub theirs: Option<Stmt3202Row>,
    pub finding: DetailFinding,
}

/// IS-D-9: compare the institution's detail rows with our claims of `fixmedins_code` settled
/// between `from` and `to` (inclusive). Results are ordered by `setl_id`, then flag.
pub fn reconcile_3202<'a>(
    claims: impl IntoIterator<Item = &'a SettledClaim>,
    fixmedins_code: &str,
    from: Date,
    to: Date,
    theirs: &[Stmt3202Row],
) -> Vec<DetailResult> {
    let ours: BTreeMap<(String, bool), Stmt3202Row> = claims
        .into_iter()
        .filter(|c| c.fixmedins_code == fixmedins_code && in_range(c, from, to))
        .map(Stmt3202Row::from_claim)
        .map(|r| ((r.setl_id.clone(), r.refd_setl_flag), r))
        .collect();
    let theirs: BTreeMap<(String, bool), &Stmt3202Row> = theirs
        .iter()
        .map(|r| ((r.setl_id.clone(), r.refd_setl_flag), r))
        .collect();
    let mut keys: Vec<&(String, bool)> = ours.keys().chain(theirs.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|k| {
            let o = ours.get(k);
            let t = theirs.get(k).copied();
            let finding = match (o, t) {
                (Some(o), Some(t)) => {
                    let mut fields = Vec::new();
                    if o.mdtrt_id != t.mdtrt_id {
                        fields.push(format!("mdtrt_id: {} vs {}", o.mdtrt_id, t.mdtrt_id));
                    }
                    if o.psn_no != t.psn_no {
                        fields.push(format!("psn_no: {} vs {}", o.psn_no, t.psn_no));
                    }
                    for (n, a, b) in [
                        ("medfee_sumamt", o.medfee_sumamt, t.medfee_sumamt),
                        ("fund_pay_sumamt", o.fund_pay_sumamt, t.fund_pay_sumamt),
                        ("acct_pay", o.acct_pay, t.acct_pay),
                    ] {
                        if a != b {
                            fields.push(format!("{n}: {a} vs {b}"));
                        }
                    }
                    if fields.is_empty() {
                        DetailFinding::Match
                    } else {
                        DetailFinding::Differs { fields }
                    }
                }
                (Some(_), None) => DetailFinding::MissingOnTheirSide,
                (None, Some(_)) => DetailFinding::MissingOnOurSide,
                (None, None) => unreachable!("key came from one side"),
            };
            DetailResult {
                setl_id: k.0.clone(),
                refd_setl_flag: k.1,
                ours: o.cloned(),
                theirs: t.cloned(),
                finding,
            }
        })
        .collect()
}

/// The 3202 result as CSV (`setl_id,refd_setl_flag,stmt_rslt,memo`, stmt_rslt 0 = agrees).
pub fn detail_results_csv(results: &[DetailResult]) -> String {
    csv_string(
        &["setl_id", "refd_setl_flag", "stmt_rslt", "memo"],
        results
            .iter()
            .map(|r| {
                let (rslt, memo) = match &r.finding {
                    DetailFinding::Match => ("0", String::new()),
                    DetailFinding::MissingOnOurSide => {
                        ("1", "中心无此结算 (missing on our side)".to_owned())
                    }
                    DetailFinding::MissingOnTheirSide => (
                        "1",
                        "机构未上传 (missing on the institution's side)".to_owned(),
                    ),
                    DetailFinding::Differs { fields } => ("1", fields.join("; ")),
                };
                vec![
                    r.setl_id.clone(),
                    if r.refd_setl_flag { "1" } else { "0" }.into(),
                    rslt.into(),
                    memo,
                ]
            })
            .collect(),
    )
}
