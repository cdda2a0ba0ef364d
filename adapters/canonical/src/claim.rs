//! The settled claim (结算记录): one settlement of one visit, or its reversal, in fen.
//!
//! Field names follow the national interface (`nhsa-interface.md` §2.4) so that an engineer who
//! knows `setlinfo` knows this record; amounts are [`Money`] (integer fen); times are ISO 8601
//! with the +08:00 offset the platform works in.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, UtcOffset};

use crate::codes::{FundLineKind, fund_line_kind};
use crate::money::{Money, Ratio};
use crate::region::{Admdvs, RegionRelation};
use crate::rules::{RuleId, Violation};

/// China Standard Time, the offset of every settlement time (IS-D-1 dates claims in it).
pub const CHINA_OFFSET: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => panic!("+08:00 is a valid offset"),
};

/// Whether a record settles a visit or reverses an earlier settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    Settlement,
    Reversal,
}

/// What a reversal points at. At least one of the two ids is known: 2208/2305 name the
/// original `setl_id`; 2601 names the original request `msgid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReversalLink {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setl_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msgid: Option<String>,
    /// The transaction number of the original (`oinfno` of 2601), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infno: Option<String>,
}

/// One `setldetail` line: what one fund (or the account, or the hospital) pays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundLine {
    pub fund_pay_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fund_pay_type_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inscp_scp_amt: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crt_payb_lmt_amt: Option<Money>,
    pub fund_payamt: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setl_proc_info: Option<String>,
}

impl FundLine {
    pub fn kind(&self) -> FundLineKind {
        fund_line_kind(&self.fund_pay_type)
    }
}

/// The amounts of `setlinfo`, all in fen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementAmounts {
    pub medfee_sumamt: Money,
    pub fulamt_ownpay_amt: Money,
    pub overlmt_selfpay: Money,
    pub preselfpay_amt: Money,
    pub inscp_scp_amt: Money,
    pub act_pay_dedc: Money,
    pub hifp_pay: Money,
    /// 基本医疗保险统筹基金支付比例, in 1/10 000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_prop_selfpay: Option<Ratio>,
    pub cvlserv_pay: Money,
    pub hifes_pay: Money,
    pub hifmi_pay: Money,
    pub hifob_pay: Money,
    pub maf_pay: Money,
    #[serde(default)]
    pub hifdm_pay: Money,
    pub oth_pay: Money,
    pub fund_pay_sumamt: Money,
    pub psn_part_amt: Money,
    pub acct_pay: Money,
    pub psn_cash_pay: Money,
    pub hosp_part_amt: Money,
    /// Personal-account balance after this settlement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balc: Option<Money>,
    #[serde(default)]
    pub acct_mulaid_pay: Money,
}

impl SettlementAmounts {
    /// Every amount negated: the amounts of the reversal of a settlement (§2.5 item 7).
    pub fn negated(&self) -> SettlementAmounts {
        SettlementAmounts {
            medfee_sumamt: -self.medfee_sumamt,
            fulamt_ownpay_amt: -self.fulamt_ownpay_amt,
            overlmt_selfpay: -self.overlmt_selfpay,
            preselfpay_amt: -self.preselfpay_amt,
            inscp_scp_amt: -self.inscp_scp_amt,
            act_pay_dedc: -self.act_pay_dedc,
            hifp_pay: -self.hifp_pay,
            pool_prop_selfpay: self.pool_prop_selfpay,
            cvlserv_pay: -self.cvlserv_pay,
            hifes_pay: -self.hifes_pay,
            hifmi_pay: -self.hifmi_pay,
            hifob_pay: -self.hifob_pay,
            maf_pay: -self.maf_pay,
            hifdm_pay: -self.hifdm_pay,
            oth_pay: -self.oth_pay,
            fund_pay_sumamt: -self.fund_pay_sumamt,
            psn_part_amt: -self.psn_part_amt,
            acct_pay: -self.acct_pay,
            psn_cash_pay: -self.psn_cash_pay,
            hosp_part_amt: -self.hosp_part_amt,
            // the balance after a reversal is a new balance, not a negated one
            balc: self.balc,
            acct_mulaid_pay: -self.acct_mulaid_pay,
        }
    }
}

/// A settled claim: the canonical record every dialect decodes to and the journal keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettledClaim {
    pub kind: ClaimKind,
    /// The transaction that produced the record (2207, 2304, 2208, 2305, 2601, or a legacy
    /// dialect's own number prefixed with its profile).
    pub infno: String,
    /// The sender's message id of the settling request; the national `medins_setl_id`.
    pub msgid: String,
    pub setl_id: String,
    pub mdtrt_id: String,
    pub psn_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psn_name: Option<String>,
    pub fixmedins_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixmedins_name: Option<String>,
    /// The place of treatment (就医地).
    pub mdtrtarea_admvs: Admdvs,
    /// The insured place (参保地), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insuplc_admdvs: Option<Admdvs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clr_optins: Option<String>,
    pub insutype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psn_type: Option<String>,
    pub med_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clr_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clr_way: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub setl_time: OffsetDateTime,
    #[serde(flatten)]
    pub amounts: SettlementAmounts,
    pub setldetail: Vec<FundLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversal_of: Option<ReversalLink>,
}

impl SettledClaim {
    /// The settlement date in China time (IS-D-1).
    pub fn settlement_date(&self) -> Date {
        self.setl_time.to_offset(CHINA_OFFSET).date()
    }

    /// Local, same-province or cross-province, when the insured place is known.
    pub fn region_relation(&self) -> Option<RegionRelation> {
        self.insuplc_admdvs
            .map(|insured| self.mdtrtarea_admvs.relation_to(&insured))
    }

    /// Sum of `fund_payamt` over the lines whose fund type `in_scope` accepts (IS-SC-2).
    /// Personal-account and hospital-borne lines are never in it, whatever `in_scope` says.
    pub fn fund_amount(&self, in_scope: impl Fn(&str) -> bool) -> Money {
        self.setldetail
            .iter()
            .filter(|l| l.kind() == FundLineKind::Fund && in_scope(&l.fund_pay_type))
            .map(|l| l.fund_payamt)
            .sum()
    }

    /// Build the reversal of this settlement: every amount and line negated, a new `setl_id`,
    /// linked to this record.
    pub fn reversal(
        &self,
        infno: &str,
        msgid: &str,
        setl_id: &str,
        setl_time: OffsetDateTime,
    ) -> SettledClaim {
        SettledClaim {
            kind: ClaimKind::Reversal,
            infno: infno.to_owned(),
            msgid: msgid.to_owned(),
            setl_id: setl_id.to_owned(),
            setl_time,
            amounts: self.amounts.negated(),
            setldetail: self
                .setldetail
                .iter()
                .map(|l| FundLine {
                    fund_payamt: -l.fund_payamt,
                    inscp_scp_amt: l.inscp_scp_amt.map(|m| -m),
                    crt_payb_lmt_amt: l.crt_payb_lmt_amt,
                    ..l.clone()
                })
                .collect(),
            reversal_of: Some(ReversalLink {
                setl_id: Some(self.setl_id.clone()),
                msgid: Some(self.msgid.clone()),
                infno: Some(self.infno.clone()),
            }),
            ..self.clone()
        }
    }
}

/// Which identities are enforced and which only warn (known provincial quirks, `DESIGN.md` §3
/// invariant 7). The default enforces all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityPolicy {
    /// Rule ids reported as warnings instead of errors.
    #[serde(default)]
    pub warn_only: Vec<String>,
}

impl IdentityPolicy {
    pub fn is_warn_only(&self, rule: RuleId) -> bool {
        self.warn_only.iter().any(|r| r == rule.0)
    }
}

/// The outcome of checking a claim: violations that reject it, and those only warned about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityReport {
    pub errors: Vec<Violation>,
    pub warnings: Vec<Violation>,
}

/// Check the arithmetic identities of `nhsa-interface.md` §2.5 on a settled claim.
pub fn check_identities(claim: &SettledClaim, policy: &IdentityPolicy) -> IdentityReport {
    let a = &claim.amounts;
    let mut found = Vec::new();
    let mut expect = |rule: RuleId, path: &str, lhs: Money, rhs: Money, formula: &str| {
        if lhs != rhs {
            found.push(Violation::new(
                rule,
                path,
                format!(
                    "{formula} does not hold: {lhs} ≠ {rhs} (difference {})",
                    lhs - rhs
                ),
            ));
        }
    };
    expect(
        RuleId::NHSA_ID_1,
        "setlinfo.medfee_sumamt",
        a.medfee_sumamt,
        a.fulamt_ownpay_amt + a.overlmt_selfpay + a.preselfpay_amt + a.inscp_scp_amt,
        "medfee_sumamt = fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + inscp_scp_amt",
    );
    expect(
        RuleId::NHSA_ID_2,
        "setlinfo.medfee_sumamt",
        a.medfee_sumamt,
        a.fund_pay_sumamt + a.psn_part_amt + a.hosp_part_amt,
        "medfee_sumamt = fund_pay_sumamt + psn_part_amt + hosp_part_amt",
    );
    expect(
        RuleId::NHSA_ID_3,
        "setlinfo.psn_part_amt",
        a.psn_part_amt,
        a.acct_pay + a.psn_cash_pay,
        "psn_part_amt = acct_pay + psn_cash_pay",
    );
    expect(
        RuleId::NHSA_ID_4,
        "setlinfo.fund_pay_sumamt",
        a.fund_pay_sumamt,
        a.hifp_pay
            + a.cvlserv_pay
            + a.hifes_pay
            + a.hifmi_pay
            + a.hifob_pay
            + a.maf_pay
            + a.oth_pay
            + a.hifdm_pay,
        "fund_pay_sumamt = hifp_pay + cvlserv_pay + hifes_pay + hifmi_pay + hifob_pay + maf_pay + oth_pay + hifdm_pay",
    );
    let by_kind = |kind: FundLineKind| -> (Money, bool) {
        let lines: Vec<_> = claim
            .setldetail
            .iter()
            .filter(|l| l.kind() == kind)
            .collect();
        (lines.iter().map(|l| l.fund_payamt).sum(), !lines.is_empty())
    };
    let (fund_lines, _) = by_kind(FundLineKind::Fund);
    expect(
        RuleId::NHSA_ID_5,
        "setldetail",
        fund_lines,
        a.fund_pay_sumamt,
        "Σ setldetail[fund types].fund_payamt = fund_pay_sumamt",
    );
    // Account and hospital lines are optional in setldetail; when listed they must agree.
    if let (acct, true) = by_kind(FundLineKind::PersonalAccount) {
        expect(
            RuleId::NHSA_ID_5,
            "setldetail",
            acct,
            a.acct_pay,
            "Σ setldetail[personal account].fund_payamt = acct_pay",
        );
    }
    if let (hosp, true) = by_kind(FundLineKind::HospitalBorne) {
        expect(
            RuleId::NHSA_ID_5,
            "setldetail",
            hosp,
            a.hosp_part_amt,
            "Σ setldetail[999996].fund_payamt = hosp_part_amt",
        );
    }
    let sign_ok = match claim.kind {
        ClaimKind::Settlement => !a.medfee_sumamt.is_negative(),
        ClaimKind::Reversal => a.medfee_sumamt.fen() <= 0,
    };
    if !sign_ok {
        found.push(Violation::new(
            RuleId::NHSA_ID_7,
            "setlinfo.medfee_sumamt",
            match claim.kind {
                ClaimKind::Settlement => "a settlement has a negative medfee_sumamt",
                ClaimKind::Reversal => "a reversal must carry the original's amounts negated",
            },
        ));
    }
    if claim.kind == ClaimKind::Reversal
        && claim
            .reversal_of
            .as_ref()
            .is_none_or(|l| l.setl_id.is_none() && l.msgid.is_none())
    {
        found.push(Violation::new(
            RuleId::NHSA_ID_7,
            "reversal_of",
            "a reversal must name the original setl_id or msgid",
        ));
    }
    let mut report = IdentityReport::default();
    for v in found {
        if policy.is_warn_only(v.rule) {
            report.warnings.push(v);
        } else {
            report.errors.push(v);
        }
    }
    report
}

/// Check that `reversal` negates `original` exactly (§2.5 item 7).
pub fn check_reversal_of(original: &SettledClaim, reversal: &SettledClaim) -> Vec<Violation> {
    let mut v = Vec::new();
    let mut expected = original.amounts.negated();
    // the balance after a reversal is the restored balance, not a negation
    expected.balc = reversal.amounts.balc;
    if reversal.amounts != expected {
        v.push(Violation::new(
            RuleId::NHSA_ID_7,
            "setlinfo",
            format!(
                "the reversal's amounts are not the negation of settlement {}",
                original.setl_id
            ),
        ));
    }
    v
}
