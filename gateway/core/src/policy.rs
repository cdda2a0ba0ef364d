//! The insured place's policy (`legacy-and-cross-region.md` §4.3) as validated configuration.
//!
//! The file is TOML (`specs/policy/example.toml` documents every key). It is read into raw
//! structs that refuse unknown keys, then [`PolicyBook::from_toml_str`] validates it into the
//! resolved types below, explaining each problem with the path of the offending key. No policy
//! number lives in code: the calculator only reads these types.

use medsettle_canonical::codes::{FundLineKind, fund_line_kind};
use medsettle_canonical::{Admdvs, InstitutionLevel, Money, Ratio};
use serde::Deserialize;
use time::Date;
use time::macros::format_description;

use crate::error::CoreRefusal;

/// Most tiers a ratio table may have (Shijiazhuang returns 6 segments, §4.3).
pub const RATIO_BANDS_MAX: usize = 6;

// ---------------------------------------------------------------- raw file

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicyFile {
    scheme: Vec<RawScheme>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScheme {
    name: String,
    admdvs: String,
    insutype: String,
    valid_from: String,
    valid_to: Option<String>,
    pool_fund_pay_type: String,
    pool_cap: String,
    preselfpay_prop_default: String,
    overlimit_borne_by: Option<String>,
    benefit: Vec<RawBenefit>,
    large: Option<RawLarge>,
    civil_servant: Option<RawCivilServant>,
    account: Option<RawAccount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBenefit {
    #[serde(default)]
    med_types: Vec<String>,
    deductible_basis: String,
    deductible: Vec<RawDeductible>,
    #[serde(default)]
    admission_factor: Vec<RawAdmissionFactor>,
    ratios: Vec<RawRatioRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeductible {
    #[serde(default)]
    inst_levels: Vec<String>,
    #[serde(default)]
    psn_types: Vec<String>,
    amount: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmissionFactor {
    from_admission: u32,
    ratio: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRatioRow {
    #[serde(default)]
    inst_levels: Vec<String>,
    #[serde(default)]
    psn_types: Vec<String>,
    bands: Vec<RawBand>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    upto: Option<String>,
    ratio: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLarge {
    fund_pay_type: String,
    pays_into: String,
    deductible: String,
    ratio: String,
    cap: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCivilServant {
    fund_pay_type: String,
    ratio: String,
    cap: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    fund_pay_type: String,
    #[serde(default)]
    psn_types: Vec<String>,
    #[serde(default)]
    med_types: Vec<String>,
    same_province: Option<bool>,
    cross_province: Option<bool>,
    per_settlement_cap: Option<String>,
}

// ---------------------------------------------------------------- resolved policy

/// All schemes of all pool regions this core settles for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyBook {
    schemes: Vec<Scheme>,
}

/// One pool region's rules for one insurance type over one validity period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheme {
    pub name: String,
    /// The pool region (统筹区) whose insured persons this scheme covers.
    pub admdvs: Admdvs,
    /// 险种: 310 employees, 390 residents, …
    pub insutype: String,
    pub valid_from: Date,
    /// Inclusive; `None` = open-ended.
    pub valid_to: Option<Date>,
    /// The `setldetail` code of the pooled fund (310100 employees, 390100 residents).
    pub pool_fund_pay_type: String,
    /// Annual cap of the pooled fund's payments per person (统筹最高支付限额).
    pub pool_cap: Money,
    /// 乙类 pre-self-pay proportion for catalogue items that carry none of their own.
    pub preselfpay_prop_default: Ratio,
    pub overlimit_borne_by: OverlimitBearer,
    /// Tried in order; the first whose `med_types` match the visit applies.
    pub benefits: Vec<Benefit>,
    pub large: Option<LargeLayer>,
    pub civil_servant: Option<CivilServantLayer>,
    /// `None`: no personal account under this scheme.
    pub account: Option<AccountRule>,
}

/// Who bears the part of a price above the catalogue's cap (超限价).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverlimitBearer {
    /// The person pays it (part of `psn_part_amt`).
    Person,
    /// The hospital absorbs it: `hosp_part_amt` and a `999996` line.
    Hospital,
}

/// Whether the deductible is paid once a year or once per admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeductibleBasis {
    /// Once per calendar year, across visits (typical for outpatient pools).
    Year,
    /// Once per admission; the n-th admission of the year may pay a reduced share of it.
    /// Each settlement under this basis counts as one admission.
    Admission,
}

/// Which visits a deductible or ratio row applies to. Empty lists match everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    pub inst_levels: Vec<InstitutionLevel>,
    pub psn_types: Vec<String>,
}

impl Selector {
    pub fn matches(&self, level: InstitutionLevel, psn_type: &str) -> bool {
        (self.inst_levels.is_empty() || self.inst_levels.contains(&level))
            && (self.psn_types.is_empty() || self.psn_types.iter().any(|p| p == psn_type))
    }

    fn is_catch_all(&self) -> bool {
        self.inst_levels.is_empty() && self.psn_types.is_empty()
    }
}

/// The benefit rules for a set of medical types (门诊, 住院 …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Benefit {
    /// Empty = every med_type not matched by an earlier benefit.
    pub med_types: Vec<String>,
    pub deductible_basis: DeductibleBasis,
    /// First matching row wins.
    pub deductibles: Vec<DeductibleRow>,
    /// Ascending by `from_admission`; only used with [`DeductibleBasis::Admission`].
    pub admission_factors: Vec<AdmissionFactor>,
    /// First matching row wins.
    pub ratios: Vec<RatioRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeductibleRow {
    pub applies_to: Selector,
    pub amount: Money,
}

/// From the `from_admission`-th admission of the year on, the deductible is `ratio` of the
/// standard amount (e.g. 2nd admission 50 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionFactor {
    pub from_admission: u32,
    pub ratio: Ratio,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatioRow {
    pub applies_to: Selector,
    pub bands: Vec<Band>,
}

/// One tier: applies to the year-to-date amount above the deductible up to `upto`
/// (cumulative, in yuan of in-scope expense); the last band has no upper bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Band {
    pub upto: Option<Money>,
    pub ratio: Ratio,
}

/// Which `setlinfo` field the large-amount layer pays into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LargeField {
    /// 职工大额医疗费用补助 (330100).
    HifobPay,
    /// 城乡居民大病保险 (390200).
    HifmiPay,
}

/// The layer above the pooled fund's cap (大额 / 大病).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LargeLayer {
    pub fund_pay_type: String,
    pub pays_into: LargeField,
    /// Annual deductible on the in-scope amount above the pool cap.
    pub deductible: Money,
    pub ratio: Ratio,
    /// Annual cap of this layer's payments.
    pub cap: Money,
}

/// 公务员医疗补助: pays `ratio` of the in-scope amount the person still bears inside the pool
/// (the deductible consumed plus the pool's self-pay share), up to an annual cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CivilServantLayer {
    pub fund_pay_type: String,
    pub ratio: Ratio,
    pub cap: Money,
}

/// Who may pay their part from the personal account, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRule {
    pub fund_pay_type: String,
    /// Empty = every person type of the scheme.
    pub psn_types: Vec<String>,
    /// Empty = every med_type.
    pub med_types: Vec<String>,
    pub same_province: bool,
    pub cross_province: bool,
    pub per_settlement_cap: Option<Money>,
}

// ---------------------------------------------------------------- validation

/// Parse `yyyy-MM-dd`.
pub fn parse_date(path: &str, text: &str) -> Result<Date, CoreRefusal> {
    Date::parse(text, format_description!("[year]-[month]-[day]"))
        .map_err(|e| CoreRefusal::config(path, format!("`{text}` is not a date yyyy-MM-dd: {e}")))
}

pub(crate) fn parse_money(path: &str, text: &str) -> Result<Money, CoreRefusal> {
    let m = Money::parse_yuan(text)
        .map_err(|e| CoreRefusal::config(path, format!("not an exact amount in yuan: {e}")))?;
    if m.is_negative() {
        return Err(CoreRefusal::config(
            path,
            "an amount here cannot be negative",
        ));
    }
    Ok(m)
}

pub(crate) fn parse_unit_ratio(path: &str, text: &str) -> Result<Ratio, CoreRefusal> {
    let r = Ratio::parse(text).map_err(|e| {
        CoreRefusal::config(path, format!("not a ratio with at most 4 decimals: {e}"))
    })?;
    if !r.is_within_unit() {
        return Err(CoreRefusal::config(
            path,
            format!("ratio {r} must be between 0 and 1 (write 85 % as \"0.85\")"),
        ));
    }
    Ok(r)
}

fn check_fund_code(path: &str, code: &str, want: FundLineKind) -> Result<(), CoreRefusal> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CoreRefusal::config(
            path,
            format!("`{code}` is not a 6-digit fund_pay_type"),
        ));
    }
    if fund_line_kind(code) != want {
        return Err(CoreRefusal::config(
            path,
            format!(
                "`{code}` is a {:?} code, this key needs a {want:?} code (3102xx = personal account, 999996 = hospital-borne)",
                fund_line_kind(code)
            ),
        ));
    }
    Ok(())
}

fn parse_levels(path: &str, raw: &[String]) -> Result<Vec<InstitutionLevel>, CoreRefusal> {
    raw.iter()
        .enumerate()
        .map(|(i, t)| {
            InstitutionLevel::parse(t).ok_or_else(|| {
                CoreRefusal::config(
                    format!("{path}[{i}]"),
                    format!("`{t}` is not an institution level (1, 2, 3 or unrated)"),
                )
            })
        })
        .collect()
}

fn selector(path: &str, levels: &[String], psn_types: &[String]) -> Result<Selector, CoreRefusal> {
    Ok(Selector {
        inst_levels: parse_levels(&format!("{path}.inst_levels"), levels)?,
        psn_types: psn_types.to_vec(),
    })
}

/// Refuse rows that can never match because a catch-all row precedes them.
fn check_reachable<'a>(
    path: &str,
    catch_all: impl Iterator<Item = bool> + 'a,
) -> Result<(), CoreRefusal> {
    let flags: Vec<bool> = catch_all.collect();
    if let Some(first) = flags.iter().position(|c| *c)
        && first + 1 < flags.len()
    {
        return Err(CoreRefusal::config(
            format!("{path}[{}]", first + 1),
            format!(
                "unreachable: row {first} matches everything, so rows after it never apply (put the catch-all last)"
            ),
        ));
    }
    Ok(())
}

fn validate_bands(path: &str, raw: &[RawBand]) -> Result<Vec<Band>, CoreRefusal> {
    if raw.is_empty() || raw.len() > RATIO_BANDS_MAX {
        return Err(CoreRefusal::config(
            path,
            format!(
                "a ratio table needs 1 to {RATIO_BANDS_MAX} bands, found {}",
                raw.len()
            ),
        ));
    }
    let mut bands = Vec::with_capacity(raw.len());
    let mut previous = Money::ZERO;
    for (i, b) in raw.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let ratio = parse_unit_ratio(&format!("{p}.ratio"), &b.ratio)?;
        let last = i + 1 == raw.len();
        let upto = match (&b.upto, last) {
            (Some(_), true) => {
                return Err(CoreRefusal::config(
                    format!("{p}.upto"),
                    "the last band is open-ended: leave `upto` out (the annual cap limits it)",
                ));
            }
            (None, false) => {
                return Err(CoreRefusal::config(
                    format!("{p}.upto"),
                    "every band but the last needs `upto`",
                ));
            }
            (Some(t), false) => {
                let u = parse_money(&format!("{p}.upto"), t)?;
                if u <= previous {
                    return Err(CoreRefusal::config(
                        format!("{p}.upto"),
                        format!("bands must rise: {u} is not above the previous bound {previous}"),
                    ));
                }
                previous = u;
                Some(u)
            }
            (None, true) => None,
        };
        bands.push(Band { upto, ratio });
    }
    Ok(bands)
}

fn validate_benefit(path: &str, raw: &RawBenefit) -> Result<Benefit, CoreRefusal> {
    let deductible_basis = match raw.deductible_basis.as_str() {
        "year" => DeductibleBasis::Year,
        "admission" => DeductibleBasis::Admission,
        other => {
            return Err(CoreRefusal::config(
                format!("{path}.deductible_basis"),
                format!("`{other}` is neither \"year\" nor \"admission\""),
            ));
        }
    };
    if raw.deductible.is_empty() {
        return Err(CoreRefusal::config(
            format!("{path}.deductible"),
            "at least one deductible row is needed (amount \"0.00\" for none)",
        ));
    }
    if raw.ratios.is_empty() {
        return Err(CoreRefusal::config(
            format!("{path}.ratios"),
            "at least one ratio row is needed",
        ));
    }
    let deductibles = raw
        .deductible
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let p = format!("{path}.deductible[{i}]");
            Ok(DeductibleRow {
                applies_to: selector(&p, &d.inst_levels, &d.psn_types)?,
                amount: parse_money(&format!("{p}.amount"), &d.amount)?,
            })
        })
        .collect::<Result<Vec<_>, CoreRefusal>>()?;
    check_reachable(
        &format!("{path}.deductible"),
        deductibles.iter().map(|d| d.applies_to.is_catch_all()),
    )?;
    let mut admission_factors = Vec::new();
    let mut last_from = 1;
    for (i, f) in raw.admission_factor.iter().enumerate() {
        let p = format!("{path}.admission_factor[{i}]");
        if deductible_basis != DeductibleBasis::Admission {
            return Err(CoreRefusal::config(
                p,
                "admission factors only apply with deductible_basis = \"admission\"",
            ));
        }
        if f.from_admission <= last_from {
            return Err(CoreRefusal::config(
                format!("{p}.from_admission"),
                format!(
                    "must be at least 2 and rise strictly (previous {last_from}); the first admission always pays the full deductible"
                ),
            ));
        }
        last_from = f.from_admission;
        admission_factors.push(AdmissionFactor {
            from_admission: f.from_admission,
            ratio: parse_unit_ratio(&format!("{p}.ratio"), &f.ratio)?,
        });
    }
    let ratios = raw
        .ratios
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let p = format!("{path}.ratios[{i}]");
            Ok(RatioRow {
                applies_to: selector(&p, &r.inst_levels, &r.psn_types)?,
                bands: validate_bands(&format!("{p}.bands"), &r.bands)?,
            })
        })
        .collect::<Result<Vec<_>, CoreRefusal>>()?;
    check_reachable(
        &format!("{path}.ratios"),
        ratios.iter().map(|r| r.applies_to.is_catch_all()),
    )?;
    Ok(Benefit {
        med_types: raw.med_types.clone(),
        deductible_basis,
        deductibles,
        admission_factors,
        ratios,
    })
}

fn validate_scheme(path: &str, raw: &RawScheme) -> Result<Scheme, CoreRefusal> {
    let admdvs = Admdvs::parse(&raw.admdvs)
        .map_err(|e| CoreRefusal::config(format!("{path}.admdvs"), e.to_string()))?;
    if raw.insutype.is_empty()
        || raw.insutype.len() > 6
        || !raw.insutype.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(CoreRefusal::config(
            format!("{path}.insutype"),
            format!("`{}` is not an insutype code (3–6 digits)", raw.insutype),
        ));
    }
    let valid_from = parse_date(&format!("{path}.valid_from"), &raw.valid_from)?;
    let valid_to = raw
        .valid_to
        .as_deref()
        .map(|t| parse_date(&format!("{path}.valid_to"), t))
        .transpose()?;
    if let Some(to) = valid_to
        && to < valid_from
    {
        return Err(CoreRefusal::config(
            format!("{path}.valid_to"),
            format!("{to} is before valid_from {valid_from}"),
        ));
    }
    check_fund_code(
        &format!("{path}.pool_fund_pay_type"),
        &raw.pool_fund_pay_type,
        FundLineKind::Fund,
    )?;
    let overlimit_borne_by = match raw.overlimit_borne_by.as_deref() {
        None | Some("person") => OverlimitBearer::Person,
        Some("hospital") => OverlimitBearer::Hospital,
        Some(other) => {
            return Err(CoreRefusal::config(
                format!("{path}.overlimit_borne_by"),
                format!("`{other}` is neither \"person\" nor \"hospital\""),
            ));
        }
    };
    if raw.benefit.is_empty() {
        return Err(CoreRefusal::config(
            format!("{path}.benefit"),
            "a scheme needs at least one [[scheme.benefit]]",
        ));
    }
    let benefits = raw
        .benefit
        .iter()
        .enumerate()
        .map(|(i, b)| validate_benefit(&format!("{path}.benefit[{i}]"), b))
        .collect::<Result<Vec<_>, CoreRefusal>>()?;
    check_reachable(
        &format!("{path}.benefit"),
        benefits.iter().map(|b| b.med_types.is_empty()),
    )?;
    let large = raw
        .large
        .as_ref()
        .map(|l| {
            let p = format!("{path}.large");
            check_fund_code(
                &format!("{p}.fund_pay_type"),
                &l.fund_pay_type,
                FundLineKind::Fund,
            )?;
            let pays_into = match l.pays_into.as_str() {
                "hifob_pay" => LargeField::HifobPay,
                "hifmi_pay" => LargeField::HifmiPay,
                other => {
                    return Err(CoreRefusal::config(
                        format!("{p}.pays_into"),
                        format!(
                            "`{other}` is neither \"hifob_pay\" (大额) nor \"hifmi_pay\" (大病)"
                        ),
                    ));
                }
            };
            Ok(LargeLayer {
                fund_pay_type: l.fund_pay_type.clone(),
                pays_into,
                deductible: parse_money(&format!("{p}.deductible"), &l.deductible)?,
                ratio: parse_unit_ratio(&format!("{p}.ratio"), &l.ratio)?,
                cap: parse_money(&format!("{p}.cap"), &l.cap)?,
            })
        })
        .transpose()?;
    let civil_servant = raw
        .civil_servant
        .as_ref()
        .map(|c| {
            let p = format!("{path}.civil_servant");
            check_fund_code(
                &format!("{p}.fund_pay_type"),
                &c.fund_pay_type,
                FundLineKind::Fund,
            )?;
            Ok(CivilServantLayer {
                fund_pay_type: c.fund_pay_type.clone(),
                ratio: parse_unit_ratio(&format!("{p}.ratio"), &c.ratio)?,
                cap: parse_money(&format!("{p}.cap"), &c.cap)?,
            })
        })
        .transpose()?;
    let account = raw
        .account
        .as_ref()
        .map(|a| {
            let p = format!("{path}.account");
            check_fund_code(
                &format!("{p}.fund_pay_type"),
                &a.fund_pay_type,
                FundLineKind::PersonalAccount,
            )?;
            Ok(AccountRule {
                fund_pay_type: a.fund_pay_type.clone(),
                psn_types: a.psn_types.clone(),
                med_types: a.med_types.clone(),
                same_province: a.same_province.unwrap_or(true),
                // cross-province use of the account is off unless the policy says so
                cross_province: a.cross_province.unwrap_or(false),
                per_settlement_cap: a
                    .per_settlement_cap
                    .as_deref()
                    .map(|t| parse_money(&format!("{p}.per_settlement_cap"), t))
                    .transpose()?,
            })
        })
        .transpose()?;
    let distinct_codes = [
        Some(raw.pool_fund_pay_type.as_str()),
        large.as_ref().map(|l| l.fund_pay_type.as_str()),
        civil_servant.as_ref().map(|c| c.fund_pay_type.as_str()),
    ];
    let present: Vec<&str> = distinct_codes.iter().flatten().copied().collect();
    for (i, c) in present.iter().enumerate() {
        if present[..i].contains(c) {
            return Err(CoreRefusal::config(
                path,
                format!("fund_pay_type {c} is used by two layers; each layer needs its own line"),
            ));
        }
    }
    Ok(Scheme {
        name: raw.name.clone(),
        admdvs,
        insutype: raw.insutype.clone(),
        valid_from,
        valid_to,
        pool_fund_pay_type: raw.pool_fund_pay_type.clone(),
        pool_cap: parse_money(&format!("{path}.pool_cap"), &raw.pool_cap)?,
        preselfpay_prop_default: parse_unit_ratio(
            &format!("{path}.preselfpay_prop_default"),
            &raw.preselfpay_prop_default,
        )?,
        overlimit_borne_by,
        benefits,
        large,
        civil_servant,
        account,
    })
}

impl PolicyBook {
    /// Parse and validate a policy file.
    pub fn from_toml_str(text: &str) -> Result<PolicyBook, CoreRefusal> {
        let raw: RawPolicyFile = toml::from_str(text)
            .map_err(|e| CoreRefusal::config("policy", format!("not a valid policy file: {e}")))?;
        let schemes = raw
            .scheme
            .iter()
            .enumerate()
            .map(|(i, s)| validate_scheme(&format!("scheme[{i}]"), s))
            .collect::<Result<Vec<_>, CoreRefusal>>()?;
        PolicyBook::new(schemes)
    }

    /// Build from already-resolved schemes (tests, generated policies), checking overlaps.
    pub fn new(schemes: Vec<Scheme>) -> Result<PolicyBook, CoreRefusal> {
        for (i, a) in schemes.iter().enumerate() {
            for (j, b) in schemes[..i].iter().enumerate() {
                let overlap = a.admdvs == b.admdvs
                    && a.insutype == b.insutype
                    && b.valid_to.is_none_or(|end| a.valid_from <= end)
                    && a.valid_to.is_none_or(|end| b.valid_from <= end);
                if overlap {
                    return Err(CoreRefusal::config(
                        format!("scheme[{i}]"),
                        format!(
                            "`{}` overlaps `{}` (scheme[{j}]) for region {} insutype {}: validity periods of one region and insurance type must not overlap",
                            a.name, b.name, a.admdvs, a.insutype
                        ),
                    ));
                }
            }
        }
        Ok(PolicyBook { schemes })
    }

    pub fn schemes(&self) -> &[Scheme] {
        &self.schemes
    }

    /// The scheme of pool region `admdvs` and insurance type `insutype` in force on `date`.
    pub fn find(&self, admdvs: &Admdvs, insutype: &str, date: Date) -> Option<&Scheme> {
        self.schemes.iter().find(|s| {
            s.admdvs == *admdvs
                && s.insutype == insutype
                && s.valid_from <= date
                && s.valid_to.is_none_or(|end| date <= end)
        })
    }
}

impl Scheme {
    /// The benefit rules for `med_type`: the first benefit listing it, else the catch-all.
    pub fn benefit_for(&self, med_type: &str) -> Option<&Benefit> {
        self.benefits
            .iter()
            .find(|b| b.med_types.is_empty() || b.med_types.iter().any(|m| m == med_type))
    }
}

impl Benefit {
    /// The deductible for this visit before what was already consumed: the standard amount of
    /// the first matching row, reduced for the `admission_no`-th admission of the year.
    pub fn deductible(
        &self,
        level: InstitutionLevel,
        psn_type: &str,
        admission_no: u32,
    ) -> Option<Money> {
        let standard = self
            .deductibles
            .iter()
            .find(|d| d.applies_to.matches(level, psn_type))?
            .amount;
        if self.deductible_basis == DeductibleBasis::Year {
            return Some(standard);
        }
        let factor = self
            .admission_factors
            .iter()
            .rev()
            .find(|f| admission_no >= f.from_admission)
            .map(|f| f.ratio);
        Some(match factor {
            Some(r) => standard.mul_ratio_half_up(r),
            None => standard,
        })
    }

    pub fn bands(&self, level: InstitutionLevel, psn_type: &str) -> Option<&[Band]> {
        self.ratios
            .iter()
            .find(|r| r.applies_to.matches(level, psn_type))
            .map(|r| r.bands.as_slice())
    }
}

impl AccountRule {
    /// Whether a person of `psn_type` may use the account for `med_type` at a place related to
    /// the insured place as `relation`.
    pub fn allows(
        &self,
        psn_type: &str,
        med_type: &str,
        relation: medsettle_canonical::RegionRelation,
    ) -> bool {
        use medsettle_canonical::RegionRelation::*;
        let place_ok = match relation {
            Local => true,
            SameProvince => self.same_province,
            CrossProvince => self.cross_province,
        };
        place_ok
            && (self.psn_types.is_empty() || self.psn_types.iter().any(|p| p == psn_type))
            && (self.med_types.is_empty() || self.med_types.iter().any(|m| m == med_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[[scheme]]
name = "t"
admdvs = "990100"
insutype = "310"
valid_from = "2024-01-01"
valid_to = "2024-12-31"
pool_fund_pay_type = "310100"
pool_cap = "150000.00"
preselfpay_prop_default = "0.10"
[[scheme.benefit]]
deductible_basis = "year"
[[scheme.benefit.deductible]]
amount = "800.00"
[[scheme.benefit.ratios]]
bands = [{ ratio = "0.85" }]
"#;

    fn err(text: &str) -> CoreRefusal {
        PolicyBook::from_toml_str(text).expect_err("must be refused")
    }

    #[test]
    fn minimal_policy_loads() {
        let book = PolicyBook::from_toml_str(MINIMAL).unwrap();
        let s = &book.schemes()[0];
        assert_eq!(s.pool_cap, Money::from_fen(15_000_000));
        assert_eq!(s.overlimit_borne_by, OverlimitBearer::Person);
        let d = Date::from_calendar_date(2024, time::Month::June, 1).unwrap();
        assert!(book.find(&s.admdvs, "310", d).is_some());
        assert!(book.find(&s.admdvs, "390", d).is_none());
        let next_year = Date::from_calendar_date(2025, time::Month::January, 1).unwrap();
        assert!(book.find(&s.admdvs, "310", next_year).is_none());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = err(&MINIMAL.replace("pool_cap =", "pool_kap = \"1\"\npool_cap ="));
        assert_eq!(e.code(), "CORE-CONFIG");
        assert!(e.to_string().contains("pool_kap"), "{e}");
    }

    #[test]
    fn ratios_above_one_are_refused_with_the_path() {
        let e = err(&MINIMAL.replace("\"0.85\"", "\"85\""));
        assert_eq!(e.path(), "scheme[0].benefit[0].ratios[0].bands[0].ratio");
    }

    #[test]
    fn bands_must_rise_and_end_open() {
        let e = err(&MINIMAL.replace(
            "bands = [{ ratio = \"0.85\" }]",
            "bands = [{ upto = \"100.00\", ratio = \"0.85\" }, { upto = \"50.00\", ratio = \"0.9\" }, { ratio = \"0.9\" }]",
        ));
        assert_eq!(e.path(), "scheme[0].benefit[0].ratios[0].bands[1].upto");
        let e = err(&MINIMAL.replace(
            "bands = [{ ratio = \"0.85\" }]",
            "bands = [{ upto = \"100.00\", ratio = \"0.85\" }]",
        ));
        assert_eq!(e.path(), "scheme[0].benefit[0].ratios[0].bands[0].upto");
        let seven = (1..=7)
            .map(|i| {
                if i == 7 {
                    "{ ratio = \"0.9\" }".to_owned()
                } else {
                    format!("{{ upto = \"{i}00.00\", ratio = \"0.9\" }}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let e = err(&MINIMAL.replace(
            "bands = [{ ratio = \"0.85\" }]",
            &format!("bands = [{seven}]"),
        ));
        assert!(e.to_string().contains("1 to 6 bands"), "{e}");
    }

    #[test]
    fn overlapping_validity_is_refused() {
        let second = MINIMAL
            .replace("valid_from = \"2024-01-01\"", "valid_from = \"2024-12-31\"")
            .replace("valid_to = \"2024-12-31\"", "");
        let e = err(&format!("{MINIMAL}\n{second}"));
        assert_eq!(e.path(), "scheme[1]");
        // adjacent periods are fine
        let adjacent = MINIMAL
            .replace("valid_from = \"2024-01-01\"", "valid_from = \"2025-01-01\"")
            .replace("valid_to = \"2024-12-31\"", "");
        PolicyBook::from_toml_str(&format!("{MINIMAL}\n{adjacent}")).unwrap();
    }

    #[test]
    fn rows_after_a_catch_all_are_unreachable() {
        let text = MINIMAL.replace(
            "amount = \"800.00\"",
            "amount = \"800.00\"\n[[scheme.benefit.deductible]]\ninst_levels = [\"3\"]\namount = \"1200.00\"",
        );
        let e = err(&text);
        assert_eq!(e.path(), "scheme[0].benefit[0].deductible[1]");
    }

    #[test]
    fn account_code_must_be_an_account_code() {
        let text = format!("{MINIMAL}\n[scheme.account]\nfund_pay_type = \"310100\"\n");
        let e = err(&text);
        assert_eq!(e.path(), "scheme[0].account.fund_pay_type");
    }

    #[test]
    fn admission_factor_reduces_the_deductible() {
        let text = MINIMAL.replace("\"year\"", "\"admission\"").replace(
            "[[scheme.benefit.ratios]]",
            "[[scheme.benefit.admission_factor]]\nfrom_admission = 2\nratio = \"0.5\"\n[[scheme.benefit.admission_factor]]\nfrom_admission = 4\nratio = \"0\"\n[[scheme.benefit.ratios]]",
        );
        let book = PolicyBook::from_toml_str(&text).unwrap();
        let b = &book.schemes()[0].benefits[0];
        let d = |n| b.deductible(InstitutionLevel::Level3, "1101", n).unwrap();
        assert_eq!(d(1), Money::from_fen(80_000));
        assert_eq!(d(2), Money::from_fen(40_000));
        assert_eq!(d(3), Money::from_fen(40_000));
        assert_eq!(d(4), Money::ZERO);
    }
}
