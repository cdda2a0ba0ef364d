//! Quarterly supplements (IS-Q-1), annual clearing (IS-A-2/3) and DIP points (IS-A-4).

use std::collections::{BTreeMap, BTreeSet};

use medsettle_canonical::{Fault, Money, Ratio, money::div_round_half_away};
use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::csvin::Table;
use crate::error::{Result, SettlementError};
use crate::policy::SettlementPolicy;

/// IS-Q-1: one special case (特例单议) after expert review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialCase {
    pub fixmedins_code: String,
    pub year: i32,
    pub quarter: u8,
    pub case_id: String,
    pub amount: Money,
    pub approved: bool,
}

impl SpecialCase {
    /// Columns: `fixmedins_code,year,quarter,case_id,amount,approved` (approved 0/1).
    pub fn from_csv_str(text: &str) -> Result<Vec<SpecialCase>> {
        let t = Table::parse(
            "special cases",
            "IS-Q-1",
            text,
            &[
                "fixmedins_code",
                "year",
                "quarter",
                "case_id",
                "amount",
                "approved",
            ],
            &[],
        )?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for r in t.rows() {
            let quarter: u8 = r
                .text("quarter")?
                .parse()
                .ok()
                .filter(|q| (1..=4).contains(q))
                .ok_or_else(|| r.err("quarter", "not 1..=4"))?;
            let c = SpecialCase {
                fixmedins_code: r.code("fixmedins_code")?,
                year: r
                    .text("year")?
                    .parse()
                    .map_err(|_| r.err("year", "not a year"))?,
                quarter,
                case_id: r.text("case_id")?,
                amount: r.positive_money("amount")?,
                approved: r.flag("approved")?,
            };
            if !seen.insert(c.case_id.clone()) {
                return Err(r.err("case_id", format!("case {} listed twice", c.case_id)));
            }
            out.push(c);
        }
        Ok(out)
    }
}

/// One institution's quarterly supplement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarterlyLine {
    pub fixmedins_code: String,
    pub cases: Vec<String>,
    pub amount: Money,
    /// `Q{yyyy}{q}{fixmedins_code}`.
    pub payment_id: String,
}

/// IS-Q-1: approved special-case amounts of a quarter, per institution. Rejected cases are not
/// paid; cases of other quarters are ignored.
pub fn quarterly_supplements(year: i32, quarter: u8, cases: &[SpecialCase]) -> Vec<QuarterlyLine> {
    let mut by: BTreeMap<&str, (Vec<String>, Money)> = BTreeMap::new();
    for c in cases
        .iter()
        .filter(|c| c.year == year && c.quarter == quarter && c.approved)
    {
        let e = by.entry(&c.fixmedins_code).or_default();
        e.0.push(c.case_id.clone());
        e.1 += c.amount;
    }
    by.into_iter()
        .map(|(code, (cases, amount))| QuarterlyLine {
            fixmedins_code: code.to_owned(),
            cases,
            amount,
            payment_id: format!("Q{year}{quarter}{code}"),
        })
        .collect()
}

/// Inputs of one institution's annual clearing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnualInput {
    pub fixmedins_code: String,
    /// IS-A-1: the confirmed fund expenditure of the year (DIP/DRG, bed-days, items…).
    pub annual_clearing_amount: Money,
    /// Everything the bank confirmed paid in the year for this institution: daily, monthly,
    /// quarterly, and procurement advances paid to distributors on its behalf.
    pub paid_in_year: Money,
    /// Quality margin held over the year (Σ monthly `quality_margin`).
    pub quality_margin_held: Money,
    /// Annual assessment score 0..=100.
    pub assessment_score: u32,
}

/// One institution's annual clearing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnualLine {
    pub fixmedins_code: String,
    pub annual_clearing_amount: Money,
    pub paid_in_year: Money,
    pub quality_margin_held: Money,
    pub release_ratio: Ratio,
    /// `round_half_up(held × release_ratio)`.
    pub quality_margin_released: Money,
    /// The complement `held − released`, so the two parts sum to the held margin exactly.
    pub quality_margin_forfeited: Money,
    /// IS-A-2: `annual_clearing_amount − paid_in_year − quality_margin_forfeited` before the floor.
    pub computed: Money,
    pub payable: Money,
    /// What the institution owes back (≥ 0), booked as a debt (IS-A-3: never left in suspense).
    pub owed_to_fund: Money,
    /// `A{yyyy}{fixmedins_code}` when something is paid.
    pub payment_id: Option<String>,
}

/// The annual clearing of a year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnualRun {
    pub year: i32,
    /// IS-A-3: the date clearing must be complete by.
    pub deadline: Date,
    pub lines: Vec<AnnualLine>,
    pub warnings: Vec<String>,
}

/// IS-A-2/3: annual clearing. `as_of` is today's date (an input: no clock here) and only
/// produces a warning when past the deadline — the clearing must still be booked.
pub fn annual_clearing(
    policy: &SettlementPolicy,
    year: i32,
    as_of: Date,
    inputs: &[AnnualInput],
) -> Result<AnnualRun> {
    let (mm, dd) = policy.annual.clearing_deadline;
    let deadline = Date::from_calendar_date(year + 1, Month::try_from(mm).expect("validated"), dd)
        .map_err(|e| {
            SettlementError::policy("IS-A-3", "annual.clearing_deadline", e.to_string())
        })?;
    let mut warnings = Vec::new();
    if as_of > deadline {
        warnings.push(format!(
            "[IS-A-3] clearing of {year} is late: due {deadline}, computed {as_of}"
        ));
    }
    let mut seen = BTreeSet::new();
    let mut lines = Vec::new();
    for i in inputs {
        if !seen.insert(&i.fixmedins_code) {
            return Err(SettlementError::rule_err(
                "IS-A-2",
                Fault::Sender,
                format!("{} cleared twice", i.fixmedins_code),
            ));
        }
        if i.assessment_score > 100 || i.quality_margin_held.is_negative() {
            return Err(SettlementError::rule_err(
                "IS-A-2",
                Fault::Sender,
                format!(
                    "{}: score must be 0..=100 and the held margin ≥ 0",
                    i.fixmedins_code
                ),
            ));
        }
        let release_ratio = policy.margin_release_ratio(i.assessment_score);
        let (released, forfeited) = i.quality_margin_held.split(release_ratio);
        let computed = i.annual_clearing_amount - i.paid_in_year - forfeited;
        let (payable, owed) = if computed.is_negative() {
            (Money::ZERO, -computed)
        } else {
            (computed, Money::ZERO)
        };
        lines.push(AnnualLine {
            fixmedins_code: i.fixmedins_code.clone(),
            annual_clearing_amount: i.annual_clearing_amount,
            paid_in_year: i.paid_in_year,
            quality_margin_held: i.quality_margin_held,
            release_ratio,
            quality_margin_released: released,
            quality_margin_forfeited: forfeited,
            computed,
            payable,
            owed_to_fund: owed,
            payment_id: (payable > Money::ZERO).then(|| format!("A{year}{}", i.fixmedins_code)),
        });
    }
    lines.sort_by(|a, b| a.fixmedins_code.cmp(&b.fixmedins_code));
    Ok(AnnualRun {
        year,
        deadline,
        lines,
        warnings,
    })
}

/// One DIP case from the imported points file (points as exact 1/10 000).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DipCase {
    pub fixmedins_code: String,
    pub setl_id: String,
    /// Points in 1/10 000 of a point.
    pub points_e4: i64,
}

impl DipCase {
    /// Columns: `fixmedins_code,setl_id,points` (points: exact decimal, ≤ 4 decimals, > 0).
    pub fn from_csv_str(text: &str) -> Result<Vec<DipCase>> {
        let t = Table::parse(
            "DIP points",
            "IS-A-4",
            text,
            &["fixmedins_code", "setl_id", "points"],
            &[],
        )?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for r in t.rows() {
            let c = DipCase {
                fixmedins_code: r.code("fixmedins_code")?,
                setl_id: r.text("setl_id")?,
                points_e4: r.scaled4("points")?,
            };
            if c.points_e4 <= 0 {
                return Err(r.err("points", "must be greater than zero"));
            }
            if !seen.insert(c.setl_id.clone()) {
                return Err(r.err("setl_id", format!("case {} listed twice", c.setl_id)));
            }
            out.push(c);
        }
        Ok(out)
    }
}

/// Institution coefficients (`fixmedins_code,coefficient`, coefficient ≤ 4 decimals, > 0).
pub fn dip_coefficients_from_csv_str(text: &str) -> Result<BTreeMap<String, Ratio>> {
    let t = Table::parse(
        "DIP coefficients",
        "IS-A-4",
        text,
        &["fixmedins_code", "coefficient"],
        &[],
    )?;
    let mut out = BTreeMap::new();
    for r in t.rows() {
        let code = r.code("fixmedins_code")?;
        let c = r.ratio("coefficient")?;
        if c.bp() <= 0 || c.bp() > 10 * medsettle_canonical::money::RATIO_ONE {
            return Err(r.err("coefficient", "must be in (0, 10]"));
        }
        if out.insert(code, c).is_some() {
            return Err(r.err("fixmedins_code", "listed twice"));
        }
    }
    Ok(out)
}

/// The exact DIP point value `regional_budget / total_points`, in fen per point, as a reduced
/// fraction (never a float, never rounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointValue {
    pub fen_numer: i128,
    pub denom: i128,
}

impl PointValue {
    /// The point value in yuan with `decimals` decimals, rounded half up — for display only.
    pub fn to_yuan_string(&self, decimals: u32) -> String {
        let scale = 10i128.pow(decimals);
        let v = div_round_half_away(self.fen_numer * scale, self.denom * 100);
        medsettle_canonical::money::format_scaled(i64::try_from(v).unwrap_or(i64::MAX), decimals)
    }
}

/// One case's DIP amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DipCaseAmount {
    pub setl_id: String,
    pub points_e4: i64,
    pub amount: Money,
}

/// One institution's DIP amount and its cases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DipInstitution {
    pub fixmedins_code: String,
    pub coefficient: Ratio,
    pub points_e4: i64,
    pub amount: Money,
    pub cases: Vec<DipCaseAmount>,
}

/// The DIP allocation of a regional budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DipAllocation {
    pub regional_budget: Money,
    pub total_points_e4: i64,
    pub point_value: PointValue,
    /// Σ institution amounts: `round_half_up(Σ exact case amounts)`, equal to the budget when
    /// every coefficient is 1.
    pub total: Money,
    pub institutions: Vec<DipInstitution>,
}

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// Distribute `total` fen over parts proportional to the exact numerators `numers / denom`:
/// each part gets its floor, then the leftover fen go one each to the largest remainders, ties
/// broken by position (callers order parts by code, so the result is deterministic). The parts
/// sum to `total` exactly.
fn largest_remainder(total: i128, numers: &[i128], denom: i128) -> Vec<i128> {
    let mut parts: Vec<i128> = numers.iter().map(|n| n.div_euclid(denom)).collect();
    let mut left = total - parts.iter().sum::<i128>();
    let mut order: Vec<usize> = (0..numers.len()).collect();
    order.sort_by(|a, b| {
        numers[*b]
            .rem_euclid(denom)
            .cmp(&numers[*a].rem_euclid(denom))
            .then(a.cmp(b))
    });
    let mut i = 0;
    while left > 0 && !order.is_empty() {
        parts[order[i % order.len()]] += 1;
        left -= 1;
        i += 1;
    }
    parts
}

/// IS-A-4: `point_value = regional_budget / total_points`; a case pays
/// `points × point_value × institution_coefficient`.
///
/// Exact integer arithmetic throughout: the exact amount of a case is the fraction
/// `budget_fen × points × coefficient / (total_points × 10 000)`. Rounding happens **once, at the
/// top**: the region's total is the exact sum rounded half up; it is split over institutions and
/// then over each institution's cases by largest remainder. Why: the institution amount is what
/// is paid and booked, so it must be one rounding of its exact value plus at most one fen of
/// remainder, and case amounts (informational, for appeals) must add up to what was paid —
/// rounding each case separately would make the parts drift from the whole by up to half a fen
/// per case. With all coefficients 1 the institutions sum to the budget exactly.
pub fn dip_allocate(
    regional_budget: Money,
    cases: &[DipCase],
    coefficients: &BTreeMap<String, Ratio>,
) -> Result<DipAllocation> {
    if cases.is_empty() || regional_budget.is_negative() {
        return Err(SettlementError::rule_err(
            "IS-A-4",
            Fault::Sender,
            "DIP needs cases and a non-negative budget",
        ));
    }
    let total_points_e4: i64 = cases.iter().map(|c| c.points_e4).sum();
    let budget = i128::from(regional_budget.fen());
    let t = i128::from(total_points_e4);
    let g = gcd(budget * 10_000, t).max(1);
    let point_value = PointValue {
        fen_numer: budget * 10_000 / g,
        denom: t / g,
    };
    let mut by_inst: BTreeMap<&str, Vec<&DipCase>> = BTreeMap::new();
    for c in cases {
        by_inst.entry(&c.fixmedins_code).or_default().push(c);
    }
    let denom = t * i128::from(medsettle_canonical::money::RATIO_ONE);
    let mut codes = Vec::new();
    let mut numers = Vec::new();
    for (code, cs) in &by_inst {
        let coef = coefficients.get(*code).copied().ok_or_else(|| {
            SettlementError::rule_err(
                "IS-A-4",
                Fault::Sender,
                format!("no coefficient for {code}"),
            )
        })?;
        let pts: i128 = cs.iter().map(|c| i128::from(c.points_e4)).sum();
        codes.push((*code, coef));
        numers.push(budget * pts * i128::from(coef.bp()));
    }
    let total = div_round_half_away(numers.iter().sum(), denom);
    let inst_amounts = largest_remainder(total, &numers, denom);
    let mut institutions = Vec::new();
    for ((code, coef), amount) in codes.into_iter().zip(inst_amounts) {
        let cs = &by_inst[code];
        let mut sorted: Vec<&&DipCase> = cs.iter().collect();
        sorted.sort_by(|a, b| a.setl_id.cmp(&b.setl_id));
        let case_numers: Vec<i128> = sorted
            .iter()
            .map(|c| budget * i128::from(c.points_e4) * i128::from(coef.bp()))
            .collect();
        let case_amounts = largest_remainder(amount, &case_numers, denom);
        institutions.push(DipInstitution {
            fixmedins_code: code.to_owned(),
            coefficient: coef,
            points_e4: sorted.iter().map(|c| c.points_e4).sum(),
            amount: Money::from_fen(i64::try_from(amount).expect("fen fit i64")),
            cases: sorted
                .iter()
                .zip(case_amounts)
                .map(|(c, a)| DipCaseAmount {
                    setl_id: c.setl_id.clone(),
                    points_e4: c.points_e4,
                    amount: Money::from_fen(i64::try_from(a).expect("fen fit i64")),
                })
                .collect(),
        });
    }
    Ok(DipAllocation {
        regional_budget,
        total_points_e4,
        point_value,
        total: Money::from_fen(i64::try_from(total).expect("fen fit i64")),
        institutions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> SettlementPolicy {
        SettlementPolicy::from_toml_str(include_str!(
            "../../../specs/settlement/policy-example.toml"
        ))
        .unwrap()
    }

    #[test]
    fn is_q_1_only_approved_cases_of_the_quarter_are_paid() {
        let csv = "fixmedins_code,year,quarter,case_id,amount,approved\nH1,2025,4,C1,100.00,1\nH1,2025,4,C2,50.00,0\nH1,2025,3,C3,7.00,1\nH2,2025,4,C4,0.01,1\nH1,2025,4,C5,0.99,1\n";
        let cases = SpecialCase::from_csv_str(csv).unwrap();
        let q = quarterly_supplements(2025, 4, &cases);
        assert_eq!(q.len(), 2);
        assert_eq!(q[0].amount, Money::from_fen(10_099));
        assert_eq!(q[0].cases, vec!["C1", "C5"]);
        assert_eq!(q[0].payment_id, "Q20254H1");
        assert!(
            SpecialCase::from_csv_str(
                "fixmedins_code,year,quarter,case_id,amount,approved\nH1,2025,5,C1,1.00,1\n"
            )
            .unwrap_err()
            .to_string()
            .contains("line 2, column `quarter`")
        );
    }

    #[test]
    fn is_a_2_annual_payable_releases_margin_by_score() {
        let p = policy();
        // Confirmed 1,000,000.00; paid 950,000.00; margin held 50,000.00; score 85 → release 80 %.
        // released = 40,000.00, forfeited = 10,000.00
        // annual_payable = 1,000,000.00 − 950,000.00 − 10,000.00 = 40,000.00
        let i = AnnualInput {
            fixmedins_code: "H1".into(),
            annual_clearing_amount: Money::from_fen(100_000_000),
            paid_in_year: Money::from_fen(95_000_000),
            quality_margin_held: Money::from_fen(5_000_000),
            assessment_score: 85,
        };
        let run = annual_clearing(
            &p,
            2025,
            time::macros::date!(2026 - 05 - 20),
            std::slice::from_ref(&i),
        )
        .unwrap();
        let l = &run.lines[0];
        assert_eq!(l.quality_margin_forfeited, Money::from_fen(1_000_000));
        assert_eq!(l.payable, Money::from_fen(4_000_000));
        assert_eq!(l.payment_id.as_deref(), Some("A2025H1"));
        assert!(run.warnings.is_empty());
        // IS-A-3: late clearing is flagged, still computed; an overrun paid shows as owed.
        let late = annual_clearing(
            &p,
            2025,
            time::macros::date!(2026 - 06 - 01),
            &[AnnualInput {
                paid_in_year: Money::from_fen(100_500_000),
                ..i
            }],
        )
        .unwrap();
        assert_eq!(late.warnings.len(), 1);
        assert_eq!(late.lines[0].owed_to_fund, Money::from_fen(1_500_000));
        assert_eq!(late.lines[0].payable, Money::ZERO);
    }

    #[test]
    fn is_a_4_dip_point_value_is_exact_and_parts_sum_to_the_budget() {
        // Budget 100.00 yuan = 10,000 fen over 3 points: point value 33.333… yuan, exact 10000/3 fen.
        let cases =
            DipCase::from_csv_str("fixmedins_code,setl_id,points\nH1,a,1\nH2,b,1\nH3,c,1\n")
                .unwrap();
        let coef: BTreeMap<String, Ratio> = ["H1", "H2", "H3"]
            .iter()
            .map(|c| (c.to_string(), Ratio::ONE))
            .collect();
        let a = dip_allocate(Money::from_fen(10_000), &cases, &coef).unwrap();
        assert_eq!(
            a.point_value,
            PointValue {
                fen_numer: 10_000,
                denom: 3
            }
        );
        assert_eq!(a.point_value.to_yuan_string(4), "33.3333");
        // 3333.33… each; floors 3333 × 3 = 9999; the leftover fen goes to the first by code.
        let amounts: Vec<i64> = a.institutions.iter().map(|i| i.amount.fen()).collect();
        assert_eq!(amounts, vec![3334, 3333, 3333]);
        assert_eq!(a.total, Money::from_fen(10_000));
    }

    #[test]
    fn is_a_4_dip_coefficient_scales_once() {
        // Budget 1,000.00 over 2 + 3 = 5 points → 200.00 per point.
        // H1: 2 × 200 × 1.1 = 440.00; H2: 3 × 200 × 0.95 = 570.00. Total 1,010.00.
        let cases =
            DipCase::from_csv_str("fixmedins_code,setl_id,points\nH1,a,1.5\nH1,b,0.5\nH2,c,3\n")
                .unwrap();
        let coef =
            dip_coefficients_from_csv_str("fixmedins_code,coefficient\nH1,1.1\nH2,0.95\n").unwrap();
        let a = dip_allocate(Money::from_fen(100_000), &cases, &coef).unwrap();
        assert_eq!(a.institutions[0].amount, Money::from_fen(44_000));
        assert_eq!(
            a.institutions[0]
                .cases
                .iter()
                .map(|c| c.amount.fen())
                .collect::<Vec<_>>(),
            vec![33_000, 11_000]
        );
        assert_eq!(a.institutions[1].amount, Money::from_fen(57_000));
        assert_eq!(a.total, Money::from_fen(101_000));
        assert!(dip_allocate(Money::from_fen(1), &cases, &BTreeMap::new()).is_err());
    }

    proptest! {
        #[test]
        fn is_a_4_dip_parts_always_sum(budget in 0i64..10_000_000_000, pts in proptest::collection::vec((0usize..5, 1i64..50_000_000), 1..40)) {
            let cases: Vec<DipCase> = pts.iter().enumerate().map(|(i, (inst, p))| DipCase { fixmedins_code: format!("H{inst}"), setl_id: format!("s{i}"), points_e4: *p }).collect();
            let coef: BTreeMap<String, Ratio> = (0..5).map(|i| (format!("H{i}"), Ratio::ONE)).collect();
            let a = dip_allocate(Money::from_fen(budget), &cases, &coef).unwrap();
            let sum: Money = a.institutions.iter().map(|i| i.amount).sum();
            prop_assert_eq!(sum, Money::from_fen(budget));
            for i in &a.institutions {
                prop_assert_eq!(i.cases.iter().map(|c| c.amount).sum::<Money>(), i.amount);
            }
        }
    }
}
