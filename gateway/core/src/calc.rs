//! The split calculator: one visit's fee totals + the person's year so far + the scheme →
//! `setlinfo` amounts, `setldetail` lines and the accumulator change.
//!
//! Order of operations (`legacy-and-cross-region.md` §4.3):
//! 1. fee totals (already classified per line: self-pay, over-limit, 乙类 pre-self-pay, in scope);
//! 2. deductible consumed: `act_pay_dedc = min(inscp, deductible − consumed)`;
//! 3. the rest of the in-scope amount walks the ratio bands from the band the year has reached;
//! 4. the pooled fund is capped at `pool_cap − paid_ytd`; the in-scope amount beyond the point
//!    where the cap is reached is "over the cap";
//! 5. the large-amount layer (大额/大病) pays its ratio of the over-cap amount after its own
//!    deductible, up to its own annual cap;
//! 6. the civil-servant subsidy pays its ratio of what the person still bears inside the pool;
//! 7. person part = total − funds − hospital part; account = min(person part, balance, rule cap);
//!    cash = the rest.
//!
//! Rounding (half up, to the fen, once per share). The band shares are rounded on the *year's
//! cumulative* amount: this visit's share of band b is `round(cum_after_b × r) −
//! round(cum_before_b × r)`. That is one rounding per band per year, so the shares of a year's
//! visits sum to the share of the year as one visit (the property test checks this), and a
//! visit's share never exceeds its portion of the band.

use medsettle_canonical::codes::fund_pay_type_name;
use medsettle_canonical::{
    FeeCategory, FundLine, InstitutionLevel, Money, Ratio, RegionRelation, RuleId,
    SettlementAmounts,
};
use serde::{Deserialize, Serialize};

use crate::catalogue::LineSplit;
use crate::error::{CoreRefusal, CoreWarning, RefusalCode, WARN_ACCOUNT_NOT_USABLE};
use crate::policy::{Band, DeductibleBasis, LargeField, OverlimitBearer, Scheme};

/// A person's running totals for one calendar year (China time).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accumulator {
    pub psn_no: String,
    pub year: i32,
    /// 起付线累计: deductible consumed.
    pub dedc_used: Money,
    /// In-scope amount (符合范围) settled this year.
    pub inscp_ytd: Money,
    /// 统筹累计: pooled fund paid.
    pub hifp_paid: Money,
    /// In-scope amount above the pooled fund's cap (the large-amount layer's base).
    pub overcap_ytd: Money,
    /// Large-amount layer deductible consumed.
    pub large_dedc_used: Money,
    /// 大额/大病累计: large-amount layer paid.
    pub large_paid: Money,
    /// Civil-servant subsidy paid.
    pub cvlserv_paid: Money,
    /// 本年住院次数: settlements under an admission-based deductible.
    pub admissions: u32,
}

/// What one settlement added to an [`Accumulator`]; its reversal subtracts exactly this.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccumulatorDelta {
    pub dedc_used: Money,
    pub inscp_ytd: Money,
    pub hifp_paid: Money,
    pub overcap_ytd: Money,
    pub large_dedc_used: Money,
    pub large_paid: Money,
    pub cvlserv_paid: Money,
    pub admissions: u32,
}

impl Accumulator {
    pub fn zero(psn_no: &str, year: i32) -> Accumulator {
        Accumulator {
            psn_no: psn_no.to_owned(),
            year,
            ..Accumulator::default()
        }
    }

    /// Where the year stands on the ratio bands: in-scope amount above the deductible so far.
    pub fn pool_position(&self) -> Money {
        self.inscp_ytd - self.dedc_used
    }

    pub fn plus(&self, d: &AccumulatorDelta) -> Accumulator {
        Accumulator {
            psn_no: self.psn_no.clone(),
            year: self.year,
            dedc_used: self.dedc_used + d.dedc_used,
            inscp_ytd: self.inscp_ytd + d.inscp_ytd,
            hifp_paid: self.hifp_paid + d.hifp_paid,
            overcap_ytd: self.overcap_ytd + d.overcap_ytd,
            large_dedc_used: self.large_dedc_used + d.large_dedc_used,
            large_paid: self.large_paid + d.large_paid,
            cvlserv_paid: self.cvlserv_paid + d.cvlserv_paid,
            admissions: self.admissions + d.admissions,
        }
    }

    /// Undo `d`. Refuses (rather than going negative) when the stored state no longer
    /// contains the delta, which would mean the journal lost or duplicated a change.
    pub fn minus(&self, d: &AccumulatorDelta) -> Result<Accumulator, CoreRefusal> {
        let inconsistent = |field: &str| {
            CoreRefusal::core(
                RefusalCode::StateInconsistent,
                format!("accumulator.{field}"),
                format!(
                    "accumulator of {} for {} is smaller than the settlement being reversed",
                    self.psn_no, self.year
                ),
            )
        };
        let sub = |a: Money, b: Money, field: &str| {
            let r = a - b;
            if r.is_negative() {
                Err(inconsistent(field))
            } else {
                Ok(r)
            }
        };
        Ok(Accumulator {
            psn_no: self.psn_no.clone(),
            year: self.year,
            dedc_used: sub(self.dedc_used, d.dedc_used, "dedc_used")?,
            inscp_ytd: sub(self.inscp_ytd, d.inscp_ytd, "inscp_ytd")?,
            hifp_paid: sub(self.hifp_paid, d.hifp_paid, "hifp_paid")?,
            overcap_ytd: sub(self.overcap_ytd, d.overcap_ytd, "overcap_ytd")?,
            large_dedc_used: sub(self.large_dedc_used, d.large_dedc_used, "large_dedc_used")?,
            large_paid: sub(self.large_paid, d.large_paid, "large_paid")?,
            cvlserv_paid: sub(self.cvlserv_paid, d.cvlserv_paid, "cvlserv_paid")?,
            admissions: self
                .admissions
                .checked_sub(d.admissions)
                .ok_or_else(|| inconsistent("admissions"))?,
        })
    }
}

/// The four parts of a visit's fees (§2.5 item 1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeTotals {
    pub medfee_sumamt: Money,
    pub fulamt_ownpay_amt: Money,
    pub overlmt_selfpay: Money,
    pub preselfpay_amt: Money,
    pub inscp_scp_amt: Money,
}

/// One line of a fee-category summary (4101 `iteminfo`, the cross-province summary of §5.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategorySummaryLine {
    pub med_chrgitm: FeeCategory,
    pub amt: Money,
    /// 甲类
    pub claa_sumfee: Money,
    /// 乙类
    pub clab_amt: Money,
    pub fulamt_ownpay_amt: Money,
    pub oth_amt: Money,
}

impl FeeTotals {
    /// Sum classified fee lines.
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a LineSplit>) -> FeeTotals {
        let mut t = FeeTotals::default();
        for l in lines {
            t.medfee_sumamt += l.det_item_fee_sumamt;
            t.fulamt_ownpay_amt += l.fulamt_ownpay_amt;
            t.overlmt_selfpay += l.overlmt_amt;
            t.preselfpay_amt += l.preselfpay_amt;
            t.inscp_scp_amt += l.inscp_scp_amt;
        }
        t
    }

    /// Totals from a fee-category summary: 乙类 pays `preselfpay_prop` first (rounded per
    /// category line), 甲类 and the rest of 乙类 are in scope, self-pay and `oth_amt` are the
    /// person's (a summary says nothing that would put "other" in scope, so it is not guessed).
    pub fn from_summary(
        items: &[CategorySummaryLine],
        preselfpay_prop: Ratio,
    ) -> Result<FeeTotals, CoreRefusal> {
        let mut t = FeeTotals::default();
        for (i, l) in items.iter().enumerate() {
            if l.amt != l.claa_sumfee + l.clab_amt + l.fulamt_ownpay_amt + l.oth_amt {
                return Err(CoreRefusal::rule(
                    RuleId::NHSA_ID_1,
                    format!("iteminfo[{i}].amt"),
                    format!(
                        "amt {} ≠ claa_sumfee + clab_amt + fulamt_ownpay_amt + oth_amt = {}",
                        l.amt,
                        l.claa_sumfee + l.clab_amt + l.fulamt_ownpay_amt + l.oth_amt
                    ),
                ));
            }
            let pre = l.clab_amt.mul_ratio_half_up(preselfpay_prop);
            t.medfee_sumamt += l.amt;
            t.fulamt_ownpay_amt += l.fulamt_ownpay_amt + l.oth_amt;
            t.preselfpay_amt += pre;
            t.inscp_scp_amt += l.claa_sumfee + l.clab_amt - pre;
        }
        Ok(t)
    }

    fn check(&self) -> Result<(), CoreRefusal> {
        let parts = [
            ("fulamt_ownpay_amt", self.fulamt_ownpay_amt),
            ("overlmt_selfpay", self.overlmt_selfpay),
            ("preselfpay_amt", self.preselfpay_amt),
            ("inscp_scp_amt", self.inscp_scp_amt),
        ];
        if let Some((name, v)) = parts.iter().find(|(_, v)| v.is_negative()) {
            return Err(CoreRefusal::core(
                RefusalCode::NegativeTotal,
                *name,
                format!("{name} sums to {v}: refunds exceed charges"),
            ));
        }
        let sum: Money = parts.iter().map(|(_, v)| *v).sum();
        if sum != self.medfee_sumamt {
            return Err(CoreRefusal::rule(
                RuleId::NHSA_ID_1,
                "medfee_sumamt",
                format!(
                    "medfee_sumamt {} ≠ the four parts {sum}",
                    self.medfee_sumamt
                ),
            ));
        }
        Ok(())
    }
}

/// Everything about the visit the calculator needs besides the totals and the year.
#[derive(Debug, Clone)]
pub struct SplitInput<'a> {
    pub scheme: &'a Scheme,
    pub med_type: &'a str,
    pub inst_level: InstitutionLevel,
    pub psn_type: &'a str,
    pub cvlserv_flag: bool,
    /// Place of treatment relative to the insured place (account use depends on it).
    pub relation: RegionRelation,
    /// `acct_used_flag` of the request.
    pub acct_used: bool,
    /// Personal-account balance before the settlement; `None` = no account.
    pub balance: Option<Money>,
}

/// The result of [`compute_split`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub amounts: SettlementAmounts,
    pub setldetail: Vec<FundLine>,
    pub delta: AccumulatorDelta,
    pub warnings: Vec<CoreWarning>,
}

/// Lower bound of band `i`.
fn band_lower(bands: &[Band], i: usize) -> Money {
    if i == 0 {
        Money::ZERO
    } else {
        bands[i - 1]
            .upto
            .expect("validated: only the last band is open")
    }
}

/// The pooled fund's cumulative share at year position `e`, each band rounded once.
fn cumulative_share(bands: &[Band], e: Money) -> Money {
    let mut total = Money::ZERO;
    for (i, b) in bands.iter().enumerate() {
        let lower = band_lower(bands, i);
        if e <= lower {
            break;
        }
        let upper = b.upto.map_or(e, |u| u.min(e));
        total += (upper - lower).mul_ratio_half_up(b.ratio);
    }
    total
}

/// Ratio of the band holding the fen just below `e` (or the first band at 0).
fn band_ratio_at(bands: &[Band], e: Money) -> Ratio {
    bands
        .iter()
        .find(|b| b.upto.is_none_or(|u| e <= u))
        .expect("validated: the last band is open")
        .ratio
}

/// The smallest position `p` in `[from, to]` with `share(p) − share(from) ≥ room`; callers
/// guarantee `share(to) − share(from) ≥ room`. `share` is non-decreasing, so bisect.
fn position_reaching(bands: &[Band], from: Money, to: Money, room: Money) -> Money {
    let base = cumulative_share(bands, from);
    let (mut lo, mut hi) = (from.fen(), to.fen());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if cumulative_share(bands, Money::from_fen(mid)) - base >= room {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Money::from_fen(lo)
}

fn fund_line(code: &str, amount: Money, inscp: Money, limit: Option<Money>) -> FundLine {
    FundLine {
        fund_pay_type: code.to_owned(),
        fund_pay_type_name: fund_pay_type_name(code).map(str::to_owned),
        inscp_scp_amt: Some(inscp),
        crt_payb_lmt_amt: limit,
        fund_payamt: amount,
        setl_proc_info: None,
    }
}

fn no_rule(what: &str, input: &SplitInput<'_>) -> CoreRefusal {
    CoreRefusal::core(
        RefusalCode::PolicyNoBenefit,
        format!("policy.{}", input.scheme.name),
        format!(
            "scheme `{}` has no {what} for med_type {}, level {:?}, psn_type {}",
            input.scheme.name, input.med_type, input.inst_level, input.psn_type
        ),
    )
}

/// Compute the split of one visit with fee `totals` for a person whose year so far is `acc`.
pub fn compute_split(
    input: &SplitInput<'_>,
    totals: &FeeTotals,
    acc: &Accumulator,
) -> Result<Split, CoreRefusal> {
    totals.check()?;
    let scheme = input.scheme;
    let benefit = scheme
        .benefit_for(input.med_type)
        .ok_or_else(|| no_rule("benefit", input))?;
    let bands = benefit
        .bands(input.inst_level, input.psn_type)
        .ok_or_else(|| no_rule("ratio row", input))?;
    let inscp = totals.inscp_scp_amt;

    // 2. deductible
    let admission_no = acc.admissions + 1;
    let standard = benefit
        .deductible(input.inst_level, input.psn_type, admission_no)
        .ok_or_else(|| no_rule("deductible row", input))?;
    let remaining_dedc = match benefit.deductible_basis {
        DeductibleBasis::Year => (standard - acc.dedc_used).max(Money::ZERO),
        DeductibleBasis::Admission => standard,
    };
    let act_pay_dedc = inscp.min(remaining_dedc);

    // 3–4. ratio bands and the pool cap
    let above = inscp - act_pay_dedc;
    let before = acc.pool_position();
    if before.is_negative() {
        return Err(CoreRefusal::core(
            RefusalCode::StateInconsistent,
            "accumulator",
            format!(
                "deductible consumed {} exceeds in-scope amount {} for {}",
                acc.dedc_used, acc.inscp_ytd, acc.psn_no
            ),
        ));
    }
    let after = before + above;
    let pool_share = cumulative_share(bands, after) - cumulative_share(bands, before);
    let pool_room = (scheme.pool_cap - acc.hifp_paid).max(Money::ZERO);
    let hifp_pay = pool_share.min(pool_room);
    let overcap = if pool_share >= pool_room {
        after - position_reaching(bands, before, after, pool_room)
    } else {
        Money::ZERO
    };
    let last_touched = if above.is_zero() {
        before + Money::from_fen(1)
    } else {
        after
    };
    let pool_prop_selfpay = band_ratio_at(bands, last_touched);

    // 5. large-amount layer
    let (mut large_dedc, mut large_pay, mut large_room) = (Money::ZERO, Money::ZERO, None);
    if let Some(large) = &scheme.large {
        let dedc_room = (large.deductible - acc.large_dedc_used).max(Money::ZERO);
        large_dedc = overcap.min(dedc_room);
        let l_before = acc.overcap_ytd - acc.large_dedc_used;
        let l_after = l_before + overcap - large_dedc;
        let share =
            l_after.mul_ratio_half_up(large.ratio) - l_before.mul_ratio_half_up(large.ratio);
        let room = (large.cap - acc.large_paid).max(Money::ZERO);
        large_pay = share.min(room);
        large_room = Some(room);
    }

    // 6. civil-servant subsidy: on what the person bears inside the pool
    let (mut cvlserv_pay, mut cvl_room) = (Money::ZERO, None);
    if let Some(cvl) = &scheme.civil_servant
        && input.cvlserv_flag
    {
        let base = act_pay_dedc + (above - overcap - hifp_pay);
        let room = (cvl.cap - acc.cvlserv_paid).max(Money::ZERO);
        cvlserv_pay = base.mul_ratio_half_up(cvl.ratio).min(room);
        cvl_room = Some(room);
    }

    // 7. person, account, cash
    let hosp_part_amt = match scheme.overlimit_borne_by {
        OverlimitBearer::Person => Money::ZERO,
        OverlimitBearer::Hospital => totals.overlmt_selfpay,
    };
    let (hifob_pay, hifmi_pay) = match scheme.large.as_ref().map(|l| l.pays_into) {
        Some(LargeField::HifobPay) => (large_pay, Money::ZERO),
        Some(LargeField::HifmiPay) => (Money::ZERO, large_pay),
        None => (Money::ZERO, Money::ZERO),
    };
    let fund_pay_sumamt = hifp_pay + large_pay + cvlserv_pay;
    let psn_part_amt = totals.medfee_sumamt - fund_pay_sumamt - hosp_part_amt;
    assert!(
        !psn_part_amt.is_negative(),
        "funds never pay more than the in-scope amount"
    );
    let mut warnings = Vec::new();
    let mut acct_pay = Money::ZERO;
    if input.acct_used {
        match (&scheme.account, input.balance) {
            (Some(rule), Some(balance))
                if rule.allows(input.psn_type, input.med_type, input.relation) =>
            {
                acct_pay = psn_part_amt.min(balance.max(Money::ZERO));
                if let Some(cap) = rule.per_settlement_cap {
                    acct_pay = acct_pay.min(cap);
                }
            }
            _ => warnings.push(CoreWarning {
                code: WARN_ACCOUNT_NOT_USABLE,
                path: "input.data.acct_used_flag".to_owned(),
                message: format!(
                    "the personal account cannot pay here (scheme `{}`, psn_type {}, med_type {}, {:?}); the person pays cash",
                    scheme.name, input.psn_type, input.med_type, input.relation
                ),
            }),
        }
    }
    let psn_cash_pay = psn_part_amt - acct_pay;

    let amounts = SettlementAmounts {
        medfee_sumamt: totals.medfee_sumamt,
        fulamt_ownpay_amt: totals.fulamt_ownpay_amt,
        overlmt_selfpay: totals.overlmt_selfpay,
        preselfpay_amt: totals.preselfpay_amt,
        inscp_scp_amt: inscp,
        act_pay_dedc,
        hifp_pay,
        pool_prop_selfpay: Some(pool_prop_selfpay),
        cvlserv_pay,
        hifes_pay: Money::ZERO,
        hifmi_pay,
        hifob_pay,
        maf_pay: Money::ZERO,
        hifdm_pay: Money::ZERO,
        oth_pay: Money::ZERO,
        fund_pay_sumamt,
        psn_part_amt,
        acct_pay,
        psn_cash_pay,
        hosp_part_amt,
        balc: input.balance.map(|b| b - acct_pay),
        acct_mulaid_pay: Money::ZERO,
    };

    // setldetail: the pool line always (it carries the ratio's base); other lines when they pay
    let mut setldetail = vec![fund_line(
        &scheme.pool_fund_pay_type,
        hifp_pay,
        inscp,
        Some(pool_room),
    )];
    if let Some(large) = &scheme.large
        && !large_pay.is_zero()
    {
        setldetail.push(fund_line(
            &large.fund_pay_type,
            large_pay,
            inscp,
            large_room,
        ));
    }
    if let Some(cvl) = &scheme.civil_servant
        && !cvlserv_pay.is_zero()
    {
        setldetail.push(fund_line(&cvl.fund_pay_type, cvlserv_pay, inscp, cvl_room));
    }
    if !hosp_part_amt.is_zero() {
        setldetail.push(fund_line("999996", hosp_part_amt, inscp, None));
    }
    if let Some(rule) = &scheme.account
        && !acct_pay.is_zero()
    {
        setldetail.push(fund_line(&rule.fund_pay_type, acct_pay, inscp, None));
    }

    let delta = AccumulatorDelta {
        dedc_used: act_pay_dedc,
        inscp_ytd: inscp,
        hifp_paid: hifp_pay,
        overcap_ytd: overcap,
        large_dedc_used: large_dedc,
        large_paid: large_pay,
        cvlserv_paid: cvlserv_pay,
        admissions: u32::from(benefit.deductible_basis == DeductibleBasis::Admission),
    };
    Ok(Split {
        amounts,
        setldetail,
        delta,
        warnings,
    })
}
