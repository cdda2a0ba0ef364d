//! `SettlementPolicy`: the per-pool-region parameters of instant settlement.
//!
//! Every number in `instant-settlement.md` is a policy parameter with a default, never a
//! constant in code. The TOML is read into a raw struct with `deny_unknown_fields` (a typo is an
//! error, not a silently ignored line), then validated into the resolved policy, which also
//! keeps one explanation line per value saying where it came from (default or file).

use std::collections::{BTreeMap, BTreeSet};

use medsettle_canonical::{
    Admdvs, FundLineKind, Institution, InstitutionLevel, Ratio, SettledClaim, fund_line_kind,
};
use serde::{Deserialize, Serialize};
use time::{Date, Month, Time, Weekday};

use crate::calendar::{Calendar, Dated};
use crate::error::{Result, SettlementError};

/// IS-SC-1 default funds: 职工统筹 310100, 大额 330100, 居民统筹 390100.
pub const DEFAULT_FUNDS_IN_SCOPE: [&str; 3] = ["310100", "330100", "390100"];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    pool_admdvs: String,
    #[serde(default)]
    name: String,
    funds_in_scope: Option<Vec<String>>,
    #[serde(default)]
    scope: RawScope,
    #[serde(default)]
    daily: RawDaily,
    #[serde(default)]
    monthly: RawMonthly,
    #[serde(default)]
    annual: RawAnnual,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScope {
    #[serde(default)]
    clr_types: Vec<String>,
    #[serde(default)]
    med_types: Vec<String>,
    #[serde(default)]
    institution_levels: Vec<String>,
    include_cross_region: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaily {
    ratio: Option<String>,
    #[serde(default)]
    class_ratios: BTreeMap<String, String>,
    #[serde(default)]
    institution_ratios: BTreeMap<String, String>,
    cadence: Option<String>,
    cutoff: Option<String>,
    failed_payment: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMonthly {
    declaration_deadline_day: Option<u8>,
    ratio: Option<String>,
    quality_margin_rate: Option<String>,
    payment_limit_working_days: Option<u32>,
    finance_limit_working_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnnual {
    clearing_deadline: Option<String>,
    #[serde(default)]
    margin_release: Vec<RawRelease>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelease {
    min_score: u32,
    release: String,
}

/// IS-D-8: how often daily disbursement pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    /// Each settlement date is its own period (T+1).
    Daily,
    /// Monday–Sunday periods, paid the first working day after the Sunday.
    Weekly,
    /// 旬: days 1–10, 11–20, 21–end of month, paid the first working day after the period.
    TenDay,
}

impl Cadence {
    /// The last day of the disbursement period `d` belongs to.
    pub fn period_end(self, d: Date) -> Date {
        match self {
            Cadence::Daily => d,
            Cadence::Weekly => {
                let to_sunday = 6 - i64::from(d.weekday().number_days_from_monday());
                d + time::Duration::days(to_sunday)
            }
            Cadence::TenDay => match d.day() {
                1..=10 => d.replace_day(10).expect("day 10 exists"),
                11..=20 => d.replace_day(20).expect("day 20 exists"),
                _ => crate::calendar::YearMonth::of(d).last_day(),
            },
        }
    }
}

/// IS-D-6: what happens to a daily payment the bank failed or returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailedPaymentPolicy {
    /// [NX] not paid again by the daily flow; the monthly settlement pays it, because only
    /// successful daily payments are deducted there.
    NoRetry,
    /// [JL] added to the next daily payment (累计顺延).
    CarryForward,
}

/// IS-SC-3 / IS-SC-5: which claims take part in instant settlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimScope {
    /// Empty = every clr_type.
    pub clr_types: BTreeSet<String>,
    /// Empty = every med_type.
    pub med_types: BTreeSet<String>,
    /// Empty = every level.
    pub institution_levels: BTreeSet<InstitutionLevel>,
    pub include_cross_region: bool,
}

/// IS-D: daily disbursement parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyPolicy {
    pub ratio: Ratio,
    pub class_ratios: BTreeMap<String, Ratio>,
    pub institution_ratios: BTreeMap<String, Ratio>,
    pub cadence: Cadence,
    pub cutoff: Time,
    pub failed_payment: FailedPaymentPolicy,
}

/// IS-M: monthly settlement parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthlyPolicy {
    pub declaration_deadline_day: u8,
    pub ratio: Ratio,
    pub quality_margin_rate: Ratio,
    pub payment_limit_working_days: u32,
    pub finance_limit_working_days: u32,
}

/// IS-A: annual clearing parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnualPolicy {
    /// (month, day) of the following year by which clearing completes (IS-A-3).
    pub clearing_deadline: (u8, u8),
    /// Quality-margin release by assessment score: `(min_score, release ratio)`, descending by
    /// score; the first row whose `min_score <= score` applies. Always has a row for 0.
    pub margin_release: Vec<(u32, Ratio)>,
}

/// A validated policy for one pool region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementPolicy {
    pub pool_admdvs: Admdvs,
    pub name: String,
    pub funds_in_scope: BTreeSet<String>,
    pub scope: ClaimScope,
    pub daily: DailyPolicy,
    pub monthly: MonthlyPolicy,
    pub annual: AnnualPolicy,
    /// One line per parameter: its value and whether it is the rule's default.
    pub explanations: Vec<String>,
}

/// Why a claim is not taken into daily disbursement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutOfScope {
    pub rule: String,
    pub reason: String,
}

fn ratio(rule: &'static str, field: &str, text: &str, max: Ratio) -> Result<Ratio> {
    let r = Ratio::parse(text).map_err(|e| SettlementError::policy(rule, field, e.to_string()))?;
    if r.bp() < 0 || r > max {
        return Err(SettlementError::policy(
            rule,
            field,
            format!("{text} is outside 0..={max}"),
        ));
    }
    Ok(r)
}

impl SettlementPolicy {
    /// Parse and validate a policy TOML text.
    pub fn from_toml_str(text: &str) -> Result<SettlementPolicy> {
        let raw: RawPolicy = toml::from_str(text)
            .map_err(|e| SettlementError::policy("IS-SC-1", "(file)", e.message().to_owned()))?;
        let mut why = Vec::new();
        let mut note = |field: &str, value: String, default: bool| {
            why.push(format!(
                "{field} = {value} ({})",
                if default {
                    "rule default"
                } else {
                    "from policy file"
                }
            ));
        };

        let pool_admdvs = Admdvs::parse(&raw.pool_admdvs)
            .map_err(|e| SettlementError::policy("IS-SC-1", "pool_admdvs", e.to_string()))?;

        // IS-SC-1/2
        let funds_default = raw.funds_in_scope.is_none();
        let funds: Vec<String> = raw
            .funds_in_scope
            .unwrap_or_else(|| DEFAULT_FUNDS_IN_SCOPE.map(String::from).to_vec());
        let mut funds_in_scope = BTreeSet::new();
        for f in funds {
            if f.len() != 6 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(SettlementError::policy(
                    "IS-SC-1",
                    "funds_in_scope",
                    format!("`{f}` is not a 6-digit fund_pay_type"),
                ));
            }
            if fund_line_kind(&f) != FundLineKind::Fund {
                return Err(SettlementError::policy(
                    "IS-SC-2",
                    "funds_in_scope",
                    format!(
                        "`{f}` is a personal-account or hospital-borne line; it is never part of the fund amount"
                    ),
                ));
            }
            if !funds_in_scope.insert(f.clone()) {
                return Err(SettlementError::policy(
                    "IS-SC-1",
                    "funds_in_scope",
                    format!("`{f}` listed twice"),
                ));
            }
        }
        if funds_in_scope.is_empty() {
            return Err(SettlementError::policy(
                "IS-SC-1",
                "funds_in_scope",
                "no fund in scope: nothing would ever be disbursed",
            ));
        }
        note(
            "funds_in_scope",
            format!("{funds_in_scope:?}"),
            funds_default,
        );

        // IS-SC-3/5
        let mut levels = BTreeSet::new();
        for l in &raw.scope.institution_levels {
            levels.insert(InstitutionLevel::parse(l).ok_or_else(|| {
                SettlementError::policy(
                    "IS-SC-3",
                    "scope.institution_levels",
                    format!("`{l}` is not 1, 2, 3 or unrated"),
                )
            })?);
        }
        let scope = ClaimScope {
            clr_types: raw.scope.clr_types.iter().cloned().collect(),
            med_types: raw.scope.med_types.iter().cloned().collect(),
            institution_levels: levels,
            include_cross_region: raw.scope.include_cross_region.unwrap_or(false),
        };
        let all = |s: String| {
            if s == "{}" || s == "[]" {
                "all".to_owned()
            } else {
                s
            }
        };
        note(
            "scope.clr_types",
            all(format!("{:?}", scope.clr_types)),
            scope.clr_types.is_empty(),
        );
        note(
            "scope.med_types",
            all(format!("{:?}", scope.med_types)),
            scope.med_types.is_empty(),
        );
        note(
            "scope.institution_levels",
            all(format!("{:?}", scope.institution_levels)),
            scope.institution_levels.is_empty(),
        );
        note(
            "scope.include_cross_region",
            scope.include_cross_region.to_string(),
            raw.scope.include_cross_region.is_none(),
        );

        // IS-D-2
        let d = &raw.daily;
        let daily_ratio = match &d.ratio {
            Some(t) => ratio("IS-D-2", "daily.ratio", t, Ratio::ONE)?,
            None => Ratio::from_bp(6000),
        };
        note("daily.ratio", daily_ratio.to_string(), d.ratio.is_none());
        let mut class_ratios = BTreeMap::new();
        for (k, v) in &d.class_ratios {
            class_ratios.insert(
                k.clone(),
                ratio("IS-D-2", &format!("daily.class_ratios.{k}"), v, Ratio::ONE)?,
            );
        }
        let mut institution_ratios = BTreeMap::new();
        for (k, v) in &d.institution_ratios {
            institution_ratios.insert(
                k.clone(),
                ratio(
                    "IS-D-2",
                    &format!("daily.institution_ratios.{k}"),
                    v,
                    Ratio::ONE,
                )?,
            );
        }
        if !class_ratios.is_empty() || !institution_ratios.is_empty() {
            note(
                "daily overrides",
                format!("classes {class_ratios:?}, institutions {institution_ratios:?}"),
                false,
            );
        }
        let cadence = match d.cadence.as_deref() {
            None | Some("daily") => Cadence::Daily,
            Some("weekly") => Cadence::Weekly,
            Some("ten_day") => Cadence::TenDay,
            Some(other) => {
                return Err(SettlementError::policy(
                    "IS-D-8",
                    "daily.cadence",
                    format!("`{other}` is not daily, weekly or ten_day"),
                ));
            }
        };
        note("daily.cadence", format!("{cadence:?}"), d.cadence.is_none());
        let cutoff = match &d.cutoff {
            None => Time::from_hms(15, 0, 0).expect("15:00"),
            Some(t) => parse_hhmm(t).ok_or_else(|| {
                SettlementError::policy("IS-D-5", "daily.cutoff", format!("`{t}` is not HH:MM"))
            })?,
        };
        note(
            "daily.cutoff",
            format!("{:02}:{:02}", cutoff.hour(), cutoff.minute()),
            d.cutoff.is_none(),
        );
        let failed_payment = match d.failed_payment.as_deref() {
            None | Some("no_retry") => FailedPaymentPolicy::NoRetry,
            Some("carry_forward") => FailedPaymentPolicy::CarryForward,
            Some(other) => {
                return Err(SettlementError::policy(
                    "IS-D-6",
                    "daily.failed_payment",
                    format!("`{other}` is not no_retry or carry_forward"),
                ));
            }
        };
        note(
            "daily.failed_payment",
            format!("{failed_payment:?}"),
            d.failed_payment.is_none(),
        );

        // IS-M
        let m = &raw.monthly;
        let deadline = m.declaration_deadline_day.unwrap_or(15);
        if !(1..=28).contains(&deadline) {
            return Err(SettlementError::policy(
                "IS-M-1",
                "monthly.declaration_deadline_day",
                format!("{deadline} must be 1..=28 so every month has it"),
            ));
        }
        note(
            "monthly.declaration_deadline_day",
            deadline.to_string(),
            m.declaration_deadline_day.is_none(),
        );
        let monthly_ratio = match &m.ratio {
            Some(t) => ratio("IS-M-3", "monthly.ratio", t, Ratio::ONE)?,
            None => Ratio::ONE,
        };
        note(
            "monthly.ratio",
            monthly_ratio.to_string(),
            m.ratio.is_none(),
        );
        let margin = match &m.quality_margin_rate {
            Some(t) => ratio("IS-M-3", "monthly.quality_margin_rate", t, monthly_ratio)?,
            None => Ratio::ZERO,
        };
        note(
            "monthly.quality_margin_rate",
            margin.to_string(),
            m.quality_margin_rate.is_none(),
        );
        if daily_ratio > Ratio::from_bp(monthly_ratio.bp() - margin.bp()) {
            note(
                "warning",
                format!(
                    "daily.ratio {daily_ratio} exceeds monthly.ratio − quality_margin_rate; monthly settlements will come out negative (IS-M-5)"
                ),
                false,
            );
        }
        let limit = m.payment_limit_working_days.unwrap_or(20);
        let finance = m.finance_limit_working_days.unwrap_or(5);
        if limit == 0 || finance == 0 {
            return Err(SettlementError::policy(
                "IS-M-4",
                "monthly.*_limit_working_days",
                "a time limit of 0 working days cannot be met",
            ));
        }
        note(
            "monthly.payment_limit_working_days",
            limit.to_string(),
            m.payment_limit_working_days.is_none(),
        );
        note(
            "monthly.finance_limit_working_days",
            finance.to_string(),
            m.finance_limit_working_days.is_none(),
        );

        // IS-A
        let a = &raw.annual;
        let clearing_deadline = match &a.clearing_deadline {
            None => (5, 31),
            Some(t) => t
                .split_once('-')
                .and_then(|(mm, dd)| Some((mm.parse::<u8>().ok()?, dd.parse::<u8>().ok()?)))
                .filter(|(mm, dd)| Month::try_from(*mm).is_ok() && (1..=31).contains(dd))
                .ok_or_else(|| {
                    SettlementError::policy(
                        "IS-A-3",
                        "annual.clearing_deadline",
                        format!("`{t}` is not MM-DD"),
                    )
                })?,
        };
        note(
            "annual.clearing_deadline",
            format!("{:02}-{:02}", clearing_deadline.0, clearing_deadline.1),
            a.clearing_deadline.is_none(),
        );
        let mut release = Vec::new();
        for (i, r) in a.margin_release.iter().enumerate() {
            if r.min_score > 100 {
                return Err(SettlementError::policy(
                    "IS-A-2",
                    &format!("annual.margin_release[{i}].min_score"),
                    "scores run 0..=100",
                ));
            }
            release.push((
                r.min_score,
                ratio(
                    "IS-A-2",
                    &format!("annual.margin_release[{i}].release"),
                    &r.release,
                    Ratio::ONE,
                )?,
            ));
        }
        let release_default = release.is_empty();
        if release_default {
            // No assessment table configured: the whole margin is released whatever the score.
            release.push((0, Ratio::ONE));
        }
        release.sort_by_key(|r| std::cmp::Reverse(r.0));
        if release.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(SettlementError::policy(
                "IS-A-2",
                "annual.margin_release",
                "two rows with the same min_score",
            ));
        }
        if release.last().map(|r| r.0) != Some(0) {
            return Err(SettlementError::policy(
                "IS-A-2",
                "annual.margin_release",
                "needs a row with min_score = 0 so every score has a release ratio",
            ));
        }
        if release.windows(2).any(|w| w[0].1 < w[1].1) {
            return Err(SettlementError::policy(
                "IS-A-2",
                "annual.margin_release",
                "a higher score must not release less",
            ));
        }
        note(
            "annual.margin_release",
            format!("{release:?}"),
            release_default,
        );

        Ok(SettlementPolicy {
            pool_admdvs,
            name: raw.name,
            funds_in_scope,
            scope,
            daily: DailyPolicy {
                ratio: daily_ratio,
                class_ratios,
                institution_ratios,
                cadence,
                cutoff,
                failed_payment,
            },
            monthly: MonthlyPolicy {
                declaration_deadline_day: deadline,
                ratio: monthly_ratio,
                quality_margin_rate: margin,
                payment_limit_working_days: limit,
                finance_limit_working_days: finance,
            },
            annual: AnnualPolicy {
                clearing_deadline,
                margin_release: release,
            },
            explanations: why,
        })
    }

    /// IS-D-2: the daily ratio of an institution: its own override, else its class's, else the
    /// region's.
    pub fn daily_ratio_for(&self, inst: &Institution) -> Ratio {
        self.daily
            .institution_ratios
            .get(&inst.fixmedins_code)
            .or_else(|| self.daily.class_ratios.get(&inst.class))
            .copied()
            .unwrap_or(self.daily.ratio)
    }

    /// IS-SC-2: the claim's fund amount over the funds in scope.
    pub fn fund_amount(&self, claim: &SettledClaim) -> medsettle_canonical::Money {
        claim.fund_amount(|t| self.funds_in_scope.contains(t))
    }

    /// IS-SC-3/4/5: whether `claim` at `inst` takes part; `Err` says which rule keeps it out.
    pub fn claim_in_scope(
        &self,
        claim: &SettledClaim,
        inst: &Institution,
    ) -> Result<(), OutOfScope> {
        let out = |rule: &str, reason: String| {
            Err(OutOfScope {
                rule: rule.to_owned(),
                reason,
            })
        };
        if inst.admdvs != self.pool_admdvs {
            return out(
                "IS-SC-4",
                format!(
                    "institution {} belongs to pool region {}, not {}",
                    inst.fixmedins_code, inst.admdvs, self.pool_admdvs
                ),
            );
        }
        if !self.scope.clr_types.is_empty() {
            match &claim.clr_type {
                Some(c) if self.scope.clr_types.contains(c) => {}
                Some(c) => return out("IS-SC-3", format!("clr_type {c} is not in scope")),
                None => {
                    return out(
                        "IS-SC-3",
                        "claim has no clr_type and scope is limited by clr_type".into(),
                    );
                }
            }
        }
        if !self.scope.med_types.is_empty() && !self.scope.med_types.contains(&claim.med_type) {
            return out(
                "IS-SC-3",
                format!("med_type {} is not in scope", claim.med_type),
            );
        }
        if !self.scope.institution_levels.is_empty()
            && !self.scope.institution_levels.contains(&inst.level)
        {
            return out(
                "IS-SC-3",
                format!("institution level {:?} is not in scope", inst.level),
            );
        }
        // IS-SC-5: an unknown insured place is treated as local (local interfaces omit it).
        if !self.scope.include_cross_region
            && let Some(insured) = claim.insuplc_admdvs
            && self.pool_admdvs.relation_to(&insured) != medsettle_canonical::RegionRelation::Local
        {
            return out(
                "IS-SC-5",
                format!("patient insured in {insured}; cross-region claims are not included"),
            );
        }
        Ok(())
    }

    /// IS-D-4 / IS-D-8: the payment date of a settlement date: the first working day after the
    /// end of its disbursement period.
    pub fn pay_date_for(&self, calendar: &Calendar, settlement_date: Date) -> Result<Date> {
        calendar.next_working_day_after(self.daily.cadence.period_end(settlement_date))
    }

    /// [`SettlementPolicy::pay_date_for`], marked provisional when the payment date was found
    /// on a provisional calendar (a year with no official file yet).
    pub fn pay_date_for_dated(
        &self,
        calendar: &Calendar,
        settlement_date: Date,
    ) -> Result<Dated<Date>> {
        calendar.next_working_day_after_dated(self.daily.cadence.period_end(settlement_date))
    }

    /// IS-A-2: the share of the held margin released for an assessment score.
    pub fn margin_release_ratio(&self, score: u32) -> Ratio {
        self.annual
            .margin_release
            .iter()
            .find(|(min, _)| *min <= score)
            .map(|(_, r)| *r)
            .unwrap_or(Ratio::ZERO)
    }
}

fn parse_hhmm(t: &str) -> Option<Time> {
    let (h, m) = t.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::from_hms(h.parse().ok()?, m.parse().ok()?, 0).ok()
}

/// Sunday check used by tests of the weekly cadence.
pub fn is_sunday(d: Date) -> bool {
    d.weekday() == Weekday::Sunday
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    pub(crate) const EXAMPLE: &str = include_str!("../../../specs/settlement/policy-example.toml");

    #[test]
    fn policy_example_loads() {
        let p = SettlementPolicy::from_toml_str(EXAMPLE).unwrap();
        assert_eq!(p.pool_admdvs.as_str(), "640100");
        assert!(p.funds_in_scope.contains("390200"));
        assert_eq!(p.daily.ratio, Ratio::from_bp(6000));
        assert_eq!(p.monthly.quality_margin_rate, Ratio::from_bp(500));
        assert!(
            p.explanations
                .iter()
                .any(|e| e.starts_with("daily.cutoff = 15:00"))
        );
    }

    #[test]
    fn is_sc_1_defaults_apply_to_a_minimal_policy() {
        let p = SettlementPolicy::from_toml_str("pool_admdvs = \"640100\"").unwrap();
        assert_eq!(
            p.funds_in_scope,
            DEFAULT_FUNDS_IN_SCOPE
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
        assert_eq!(p.daily.ratio, Ratio::from_bp(6000)); // IS-D-2
        assert_eq!(p.daily.cadence, Cadence::Daily); // IS-D-8
        assert_eq!(p.daily.cutoff, Time::from_hms(15, 0, 0).unwrap()); // IS-D-5
        assert_eq!(p.daily.failed_payment, FailedPaymentPolicy::NoRetry); // IS-D-6
        assert_eq!(p.monthly.declaration_deadline_day, 15); // IS-M-1
        assert_eq!(p.monthly.ratio, Ratio::ONE); // IS-M-3
        assert_eq!(p.monthly.payment_limit_working_days, 20); // IS-M-4
        assert_eq!(p.annual.clearing_deadline, (5, 31)); // IS-A-3
        assert!(p.explanations.iter().all(|e| e.contains("rule default")));
    }

    #[test]
    fn is_sc_2_personal_account_and_hospital_lines_cannot_be_in_scope() {
        for f in ["310200", "999996"] {
            let e = SettlementPolicy::from_toml_str(&format!(
                "pool_admdvs = \"640100\"\nfunds_in_scope = [\"{f}\"]"
            ))
            .unwrap_err();
            assert_eq!(e.rule(), "IS-SC-2");
        }
    }

    #[test]
    fn policy_rejects_unknown_fields_and_bad_values() {
        let bad = [
            (
                "pool_admdvs = \"640100\"\ndaily_ratio = \"0.6\"",
                "unknown field",
            ),
            (
                "pool_admdvs = \"640100\"\n[daily]\nratio = \"1.2\"",
                "IS-D-2",
            ),
            (
                "pool_admdvs = \"640100\"\n[daily]\nratio = 0.6",
                "invalid type",
            ),
            (
                "pool_admdvs = \"640100\"\n[daily]\ncadence = \"hourly\"",
                "IS-D-8",
            ),
            (
                "pool_admdvs = \"640100\"\n[daily]\ncutoff = \"3pm\"",
                "IS-D-5",
            ),
            (
                "pool_admdvs = \"640100\"\n[daily]\nfailed_payment = \"retry\"",
                "IS-D-6",
            ),
            (
                "pool_admdvs = \"640100\"\n[monthly]\ndeclaration_deadline_day = 31",
                "IS-M-1",
            ),
            (
                "pool_admdvs = \"640100\"\n[monthly]\npayment_limit_working_days = 0",
                "IS-M-4",
            ),
            (
                "pool_admdvs = \"640100\"\n[[annual.margin_release]]\nmin_score = 90\nrelease = \"1\"",
                "min_score = 0",
            ),
            ("pool_admdvs = \"64010\"", "IS-SC-1"),
        ];
        for (text, want) in bad {
            let e = SettlementPolicy::from_toml_str(text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn is_d_8_cadence_periods() {
        // 2025-10-15 is a Wednesday.
        assert_eq!(
            Cadence::Weekly.period_end(date!(2025 - 10 - 15)),
            date!(2025 - 10 - 19)
        );
        assert!(is_sunday(Cadence::Weekly.period_end(date!(2025 - 10 - 19))));
        assert_eq!(
            Cadence::TenDay.period_end(date!(2025 - 10 - 15)),
            date!(2025 - 10 - 20)
        );
        assert_eq!(
            Cadence::TenDay.period_end(date!(2025 - 02 - 21)),
            date!(2025 - 02 - 28)
        );
        let p = SettlementPolicy::from_toml_str(
            "pool_admdvs = \"640100\"\n[daily]\ncadence = \"weekly\"",
        )
        .unwrap();
        let cal = Calendar::embedded();
        // week of 2025-09-22..28 ends on Sunday 09-28, itself not counted (strictly after) → 09-29
        assert_eq!(
            p.pay_date_for(&cal, date!(2025 - 09 - 24)).unwrap(),
            date!(2025 - 09 - 29)
        );
        assert!(
            !p.pay_date_for_dated(&cal, date!(2025 - 09 - 24))
                .unwrap()
                .is_provisional()
        );
        // The week of 2026-12-28 ends on Sunday 2027-01-03, in the provisional 2027.
        let pay = p.pay_date_for_dated(&cal, date!(2026 - 12 - 29)).unwrap();
        assert_eq!(pay.value, date!(2027 - 01 - 04));
        assert!(pay.is_provisional());
    }

    #[test]
    fn is_a_2_margin_release_by_score() {
        let p = SettlementPolicy::from_toml_str(EXAMPLE).unwrap();
        assert_eq!(p.margin_release_ratio(95), Ratio::ONE);
        assert_eq!(p.margin_release_ratio(85), Ratio::from_bp(8000));
        assert_eq!(p.margin_release_ratio(10), Ratio::ZERO);
    }
}
