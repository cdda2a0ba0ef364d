//! One cross-province settlement or reversal as a gateway journals it for clearing (the PS
//! `OutAccountBizDTO` row, `reference/legacy-and-cross-region.md` §4.1, in national names).

use medsettle_canonical::{Admdvs, CHINA_OFFSET, Money};
use medsettle_settlement::YearMonth;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{ClearingError, REVERSAL_RULE, ROW_RULE, Result};

/// `aaa113` of a forward settlement (交易类型 正交易).
pub const AAA113_FORWARD: i8 = 1;
/// `aaa113` of a reversal (冲正/退费): its amounts are the forward's, negated.
pub const AAA113_REVERSAL: i8 = -1;
/// Longest id (`omsgid`, `setl_id`, `mdtrt_id`, `medins_no`, `certno`) a row may carry, in
/// characters. The national fields are 30–50 long; this bound keeps statements and CSVs sane.
pub const ID_CHARS_MAX: usize = 64;

/// One cross-region settlement (`aaa113` = +1) or reversal (−1), keyed by `omsgid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearingRow {
    /// The msgid of the peer summary the forward was settled under: the key both provinces
    /// share. A reversal carries the `omsgid` of the forward it reverses (2601 reverses by
    /// `omsgid`), so `(omsgid, aaa113)` is unique.
    pub omsgid: String,
    /// 结算ID; printed as `setl_sn` in the 3260 shape. A reversal has its own.
    pub setl_id: String,
    /// 就诊ID
    pub mdtrt_id: String,
    /// The institution of treatment (定点医疗机构编号, `medins_no` of 3260).
    pub medins_no: String,
    /// The insured person's certificate number, where the journal has it (3260 `certno`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certno: Option<String>,
    /// 参保地: the insured place.
    pub insuplc_admdvs: Admdvs,
    /// 就医地: the place of treatment.
    pub mdtrtarea_admvs: Admdvs,
    /// 结算时间; the clearing month is its month in China time.
    #[serde(with = "time::serde::rfc3339")]
    pub setl_time: OffsetDateTime,
    /// 医疗费总额 (negative for a reversal).
    pub medfee_sumamt: Money,
    /// 基金支付总额 (`optins_pay_sumamt` of 3260): what the insured province owes for it.
    pub fund_pay_sumamt: Money,
    /// +1 forward, −1 reversal.
    pub aaa113: i8,
    /// 全额垫付标志: the person paid in full and claims back at home.
    pub fulamt_advpay_flag: bool,
}

/// The province of a region code: its first two digits and `0000`.
/// The ledger party of a province: its province code.
pub fn province_entity(province: Admdvs) -> String {
    province.to_string()
}

pub fn province_of(region: Admdvs) -> Admdvs {
    Admdvs::parse(&format!("{}0000", region.province()))
        .expect("a region's province code is a region code")
}

impl ClearingRow {
    pub fn is_reversal(&self) -> bool {
        self.aaa113 == AAA113_REVERSAL
    }

    /// The key both sides share: `(omsgid, aaa113)`.
    pub fn key(&self) -> (&str, i8) {
        (&self.omsgid, self.aaa113)
    }

    pub fn insured_province(&self) -> Admdvs {
        province_of(self.insuplc_admdvs)
    }

    pub fn treatment_province(&self) -> Admdvs {
        province_of(self.mdtrtarea_admvs)
    }

    /// The month the row is cleared in: the month of `setl_time` in China time.
    pub fn month(&self) -> YearMonth {
        YearMonth::of(self.setl_time.to_offset(CHINA_OFFSET).date())
    }

    /// Check the row's own rules ([`ROW_RULE`]).
    pub fn validate(&self) -> Result<()> {
        let err = |field, message: String| {
            Err(ClearingError::row(ROW_RULE, &self.omsgid, field, message))
        };
        for (field, value) in [
            ("omsgid", self.omsgid.as_str()),
            ("setl_id", self.setl_id.as_str()),
            ("mdtrt_id", self.mdtrt_id.as_str()),
            ("medins_no", self.medins_no.as_str()),
            ("certno", self.certno.as_deref().unwrap_or("-")),
        ] {
            let chars = value.chars().count();
            if chars == 0 || chars > ID_CHARS_MAX || value.chars().any(char::is_control) {
                return err(
                    field,
                    format!("must be 1–{ID_CHARS_MAX} printable characters"),
                );
            }
        }
        let sign_ok = match self.aaa113 {
            AAA113_FORWARD => {
                !self.medfee_sumamt.is_negative() && !self.fund_pay_sumamt.is_negative()
            }
            AAA113_REVERSAL => {
                self.medfee_sumamt <= Money::ZERO && self.fund_pay_sumamt <= Money::ZERO
            }
            other => {
                return err(
                    "aaa113",
                    format!("{other} is neither 1 (forward) nor -1 (reversal)"),
                );
            }
        };
        if !sign_ok {
            return err(
                "medfee_sumamt",
                format!(
                    "amounts {} / {} have the wrong sign for aaa113 {}",
                    self.medfee_sumamt, self.fund_pay_sumamt, self.aaa113
                ),
            );
        }
        if self.fund_pay_sumamt.abs() > self.medfee_sumamt.abs() {
            return err(
                "fund_pay_sumamt",
                format!(
                    "{} exceeds medfee_sumamt {}",
                    self.fund_pay_sumamt, self.medfee_sumamt
                ),
            );
        }
        if self.insured_province() == self.treatment_province() {
            return err(
                "insuplc_admdvs",
                format!(
                    "{} and place of treatment {} are in one province: not 跨省, not cleared between provinces",
                    self.insuplc_admdvs, self.mdtrtarea_admvs
                ),
            );
        }
        Ok(())
    }

    /// Check that `self`, a reversal, mirrors `forward` ([`REVERSAL_RULE`]): the same place,
    /// institution and visit, every amount negated, and not before it.
    pub fn check_reverses(&self, forward: &ClearingRow) -> Result<()> {
        assert!(self.is_reversal() && !forward.is_reversal() && self.omsgid == forward.omsgid);
        let err = |field, message: String| {
            Err(ClearingError::row(
                REVERSAL_RULE,
                &self.omsgid,
                field,
                message,
            ))
        };
        if self.insuplc_admdvs != forward.insuplc_admdvs
            || self.mdtrtarea_admvs != forward.mdtrtarea_admvs
            || self.medins_no != forward.medins_no
            || self.mdtrt_id != forward.mdtrt_id
        {
            return err(
                "medins_no",
                "the reversal names another place, institution or visit than its forward".into(),
            );
        }
        if self.medfee_sumamt != -forward.medfee_sumamt
            || self.fund_pay_sumamt != -forward.fund_pay_sumamt
        {
            return err(
                "fund_pay_sumamt",
                format!(
                    "reverses {} / {} but the forward is {} / {}: a reversal negates every amount",
                    self.medfee_sumamt,
                    self.fund_pay_sumamt,
                    forward.medfee_sumamt,
                    forward.fund_pay_sumamt
                ),
            );
        }
        if self.setl_time < forward.setl_time {
            return err(
                "setl_time",
                format!(
                    "the reversal at {} precedes its forward at {}",
                    self.setl_time, forward.setl_time
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use time::macros::datetime;

    /// A forward row of the §5.3 fixture shape, with made-up ids.
    pub(crate) fn row(omsgid: &str, insured: &str, treatment: &str, fund_fen: i64) -> ClearingRow {
        ClearingRow {
            omsgid: omsgid.into(),
            setl_id: format!("S-{omsgid}"),
            mdtrt_id: format!("M-{omsgid}"),
            medins_no: "H99010000001".into(),
            certno: None,
            insuplc_admdvs: Admdvs::parse(insured).unwrap(),
            mdtrtarea_admvs: Admdvs::parse(treatment).unwrap(),
            setl_time: datetime!(2024-05-20 10:00 +8),
            medfee_sumamt: Money::from_fen(fund_fen * 2),
            fund_pay_sumamt: Money::from_fen(fund_fen),
            aaa113: AAA113_FORWARD,
            fulamt_advpay_flag: false,
        }
    }

    #[test]
    fn rows_are_checked() {
        let ok = row("A", "880100", "990100", 100);
        ok.validate().unwrap();
        assert_eq!(ok.insured_province().as_str(), "880000");
        assert_eq!(ok.treatment_province().as_str(), "990000");
        let same = row("A", "880100", "889900", 100);
        assert!(
            same.validate()
                .unwrap_err()
                .to_string()
                .contains("not 跨省")
        );
        let mut bad = ok.clone();
        bad.aaa113 = 0;
        assert_eq!(bad.validate().unwrap_err().rule(), ROW_RULE);
        bad.aaa113 = AAA113_REVERSAL;
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("wrong sign")
        );
        let mut big = ok.clone();
        big.fund_pay_sumamt = Money::from_fen(201);
        assert!(big.validate().unwrap_err().to_string().contains("exceeds"));
        let mut empty = ok.clone();
        empty.setl_id = String::new();
        assert!(
            empty
                .validate()
                .unwrap_err()
                .to_string()
                .contains("`setl_id`")
        );
        // The month is China's: 2024-05-31 20:00 UTC is June 1st in Beijing.
        let mut late = ok;
        late.setl_time = datetime!(2024-05-31 20:00 UTC);
        assert_eq!(late.month().to_string(), "2024-06");
    }
}
