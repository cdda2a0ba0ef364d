//! Code tables of the national interface (`nhsa-interface.md` §3). Codes are kept as the text
//! the sender used (provinces extend every dictionary); these functions name the known ones and
//! classify fund types, which is what money depends on.

use serde::{Deserialize, Serialize};

/// What a `setldetail[].fund_pay_type` line is, for the identities of §2.5 item 5 and for the
/// fund amount of a claim (IS-SC-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FundLineKind {
    /// Paid by a fund: counts toward `fund_pay_sumamt`.
    Fund,
    /// The person's own account (310200 and local refinements 3102xx): part of `acct_pay`.
    PersonalAccount,
    /// Borne by the hospital (999996): part of `hosp_part_amt`.
    HospitalBorne,
}

/// Classify a fund type code. Local refinements keep their national prefix (310201 is a
/// personal-account line, 330101 a large-amount fund line).
pub fn fund_line_kind(fund_pay_type: &str) -> FundLineKind {
    if fund_pay_type.starts_with("3102") {
        FundLineKind::PersonalAccount
    } else if fund_pay_type == "999996" {
        FundLineKind::HospitalBorne
    } else {
        FundLineKind::Fund
    }
}

/// The national name of a fund type, where it is one of the national codes.
pub fn fund_pay_type_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "310100" => "职工基本医疗保险统筹基金",
        "310200" => "职工基本医疗保险个人账户基金",
        "320100" => "公务员医疗补助基金",
        "330100" => "大额医疗费用补助基金",
        "330200" => "职工意外伤害基金",
        "340100" => "离休人员医疗保障基金",
        "350100" => "一至六级残疾军人医疗补助基金",
        "370100" => "企业补充医疗保险基金",
        "390100" => "城乡居民基本医疗保险基金",
        "390200" => "城乡居民大病医疗保险基金",
        "390400" => "居民意外伤害基金",
        "510100" => "生育基金",
        "610100" => "医疗救助基金",
        "610200" => "优抚对象医疗补助基金",
        "620100" => "特惠保补偿金",
        "630100" => "医院减免金额",
        "640100" => "政府兜底基金",
        "999996" => "医院垫付基金",
        "999997" => "其他基金",
        _ => return None,
    })
}

/// The national name of an insurance type (险种类型).
pub fn insutype_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "310" => "职工基本医疗保险",
        "320" => "公务员医疗补助",
        "330" => "大额医疗费用补助",
        "340" => "离休人员医疗保障",
        "350" => "一至六级残废军人医疗补助",
        "360" => "老红军医疗保障",
        "370" => "企业补充医疗保险",
        "380" => "新型农村合作医疗",
        "390" => "城乡居民基本医疗保险",
        "391" => "城镇居民基本医疗保险",
        "392" => "城乡居民大病医疗保险",
        "399" => "其他特殊人员医疗保障",
        "410" => "长期照护保险",
        "510" => "生育保险",
        _ => return None,
    })
}

/// Clearing type (清算类别): 11 outpatient, 21 inpatient, 41 pharmacy, 99 other; provinces add
/// second-level codes, which are kept as sent.
pub fn clr_type_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "11" => "门诊",
        "21" => "住院",
        "41" => "药店购药",
        "99" => "其他",
        _ => return None,
    })
}

/// National fee categories (医疗收费项目类别 / 大类费用, `med_chrgitm_type`) 01–14.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeeCategory(u8);

impl FeeCategory {
    pub const ALL_CODES: [&'static str; 14] = [
        "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14",
    ];

    pub fn parse(code: &str) -> Option<FeeCategory> {
        let n: u8 = code.parse().ok()?;
        (code.len() == 2 && (1..=14).contains(&n)).then_some(FeeCategory(n))
    }

    pub fn code(&self) -> &'static str {
        Self::ALL_CODES[usize::from(self.0 - 1)]
    }

    pub fn name(&self) -> &'static str {
        [
            "床位费",
            "诊察费",
            "检查费",
            "化验费",
            "治疗费",
            "手术费",
            "护理费",
            "卫生材料费",
            "西药费",
            "中药饮片费",
            "中成药费",
            "一般诊疗费",
            "挂号费",
            "其他费",
        ][usize::from(self.0 - 1)]
    }
}

impl Serialize for FeeCategory {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for FeeCategory {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FeeCategory::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not a fee category 01–14")))
    }
}

/// 收费项目等级: 甲类 (fully in scope), 乙类 (in scope after a pre-self-pay share), 自费.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeLevel {
    ClassA,
    ClassB,
    SelfPay,
}

impl ChargeLevel {
    /// Parse the wire code: `1`/`01` 甲, `2`/`02` 乙, `3`/`03` 自费 (both spellings occur).
    pub fn parse(code: &str) -> Option<ChargeLevel> {
        match code.trim_start_matches('0') {
            "1" => Some(ChargeLevel::ClassA),
            "2" => Some(ChargeLevel::ClassB),
            "3" => Some(ChargeLevel::SelfPay),
            _ => None,
        }
    }

    pub fn wire_code(&self) -> &'static str {
        match self {
            ChargeLevel::ClassA => "01",
            ChargeLevel::ClassB => "02",
            ChargeLevel::SelfPay => "03",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fund_lines_classify_like_the_2304_sample() {
        assert_eq!(fund_line_kind("330101"), FundLineKind::Fund);
        assert_eq!(fund_line_kind("999996"), FundLineKind::HospitalBorne);
        assert_eq!(fund_line_kind("310201"), FundLineKind::PersonalAccount);
        assert_eq!(fund_line_kind("310200"), FundLineKind::PersonalAccount);
        assert_eq!(fund_line_kind("310100"), FundLineKind::Fund);
    }

    #[test]
    fn fee_categories_are_01_to_14() {
        assert!(FeeCategory::parse("00").is_none());
        assert!(FeeCategory::parse("15").is_none());
        assert!(FeeCategory::parse("1").is_none());
        assert_eq!(FeeCategory::parse("09").unwrap().name(), "西药费");
        assert_eq!(FeeCategory::parse("14").unwrap().code(), "14");
        assert_eq!(ChargeLevel::parse("01"), Some(ChargeLevel::ClassA));
        assert_eq!(ChargeLevel::parse("2"), Some(ChargeLevel::ClassB));
    }
}
