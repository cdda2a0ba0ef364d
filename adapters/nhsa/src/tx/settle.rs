//! The settlement result shared by 2206/2207/2208 and 2303/2304/2305: `setlinfo` (one
//! object) and `setldetail[]` (`nhsa-interface.md` §2.4).
//!
//! Pre-settlement (2206/2303) returns no `setl_id`, `setl_time` or clearing fields, so those
//! are optional here; the settling transactions require them (see [`SETTLED_REQUIRED`]).

use medsettle_canonical::{Admdvs, FundLineKind, Money, Ratio, fund_line_kind};
use serde_json::Value;
use time::{Date, PrimitiveDateTime};

use crate::field::kinds::*;
use crate::field::{Errors, N1, RepairKind, join};
use crate::record;

/// `setlinfo` fields a settling transaction (2207, 2304, 2208, 2305) must return although
/// pre-settlement does not.
pub const SETTLED_REQUIRED: &[&str] = &[
    "setl_id",
    "setl_time",
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
];

record! {
    /// `setlinfo`: the settlement of one visit, amounts 16,2.
    pub struct SetlInfo {
        mdtrt_id: req String = char(30), "就诊ID", "visit id";
        setl_id: opt String = char(30), "结算ID", "settlement id (insurer)";
        psn_no: opt String = char(30), "人员编号", "person number";
        psn_name: opt String = char(50), "人员姓名", "person name";
        psn_cert_type: opt String = char(6), "人员证件类型", "certificate type";
        certno: opt String = char(50), "证件号码", "certificate number";
        gend: opt String = char(6), "性别", "sex";
        naty: opt String = char(3), "民族", "ethnicity";
        brdy: opt Date = DATE, "出生日期", "date of birth";
        age: opt N1 = num(4, 1), "年龄", "age in years";
        insutype: opt String = char(6), "险种类型", "insurance type";
        psn_type: opt String = char(6), "人员类别", "person category";
        cvlserv_flag: opt String = char(3), "公务员标志", "civil-servant flag";
        setl_time: opt PrimitiveDateTime = DATETIME, "结算时间", "settlement time";
        mdtrt_cert_type: opt String = char(3), "就诊凭证类型", "visit credential type";
        med_type: opt String = char(6), "医疗类别", "medical category (opaque code)";
        medfee_sumamt: req Money = MONEY, "医疗费总额", "total medical fee";
        fulamt_ownpay_amt: opt Money = MONEY, "全自费金额", "fully self-paid amount";
        overlmt_selfpay: opt Money = MONEY, "超限价自费费用", "self-paid above price caps";
        preselfpay_amt: opt Money = MONEY, "先行自付金额", "pre-self-pay amount";
        inscp_scp_amt: opt Money = MONEY, "符合政策范围金额", "in-scope amount";
        act_pay_dedc: opt Money = MONEY, "实际支付起付线", "deductible consumed";
        hifp_pay: opt Money = MONEY, "基本医疗保险统筹基金支出", "basic pooled fund";
        pool_prop_selfpay: opt Ratio = RATIO, "基本医疗保险统筹基金支付比例", "pooled fund ratio";
        cvlserv_pay: opt Money = MONEY, "公务员医疗补助资金支出", "civil-servant subsidy";
        hifes_pay: opt Money = MONEY, "企业补充医疗保险基金支出", "enterprise supplementary fund";
        hifmi_pay: opt Money = MONEY, "居民大病保险资金支出", "residents' serious-illness insurance";
        hifob_pay: opt Money = MONEY, "职工大额医疗费用补助基金支出", "employees' large-amount fund";
        maf_pay: opt Money = MONEY, "医疗救助基金支出", "medical assistance fund";
        hosp_part_amt: opt Money = MONEY, "医院负担金额", "hospital-borne amount";
        oth_pay: opt Money = MONEY, "其他支出", "other payments";
        fund_pay_sumamt: opt Money = MONEY, "基金支付总额", "total fund payment";
        psn_part_amt: opt Money = MONEY, "个人负担总金额", "total borne by the person";
        acct_pay: opt Money = MONEY, "个人账户支出", "personal-account payment";
        psn_cash_pay: opt Money = MONEY, "个人现金支出", "cash payment";
        balc: opt Money = MONEY, "余额", "personal-account balance after settlement";
        acct_mulaid_pay: opt Money = MONEY, "个人账户共济支付金额", "account mutual-aid payment";
        medins_setl_id: opt String = char(30), "医药机构结算ID", "institution settlement id = request msgid";
        clr_optins: opt Admdvs = ADMDVS, "清算经办机构", "clearing agency (region code)";
        clr_way: opt String = char(6), "清算方式", "clearing method (provincial codes; not validated)";
        clr_type: opt String = char(6), "清算类别", "clearing type";
        hifdm_pay: opt Money = MONEY, "伤残人员医疗保障基金支出", "disabled persons' fund (newer versions)";
        exp_content: opt Value = JSON, "扩展内容", "provincial extension";
    }
}

record! {
    /// `setldetail[]`: what one fund, the account or the hospital pays.
    pub struct SetlDetail {
        fund_pay_type: req String = char(6), "基金支付类型", "fund type code";
        inscp_scp_amt: opt Money = MONEY, "符合政策范围金额", "in-scope amount";
        crt_payb_lmt_amt: opt Money = MONEY, "本次可支付限额金额", "payable limit this time";
        fund_payamt: req Money = MONEY, "基金支付金额", "amount paid by this fund";
        fund_pay_type_name: opt String = char(200), "基金支付类型名称", "fund type name";
        setl_proc_info: opt String = char(4000), "结算过程信息", "settlement process information";
    }
}

record! {
    /// The output of 2206/2207/2208/2303/2304/2305.
    pub struct SettleOutput {
        setlinfo: req (SetlInfo) = NESTED, "结算信息", "settlement";
        setldetail: req [SetlDetail] = NESTED, "结算基金分项信息", "fund lines";
    }
}

impl SetlInfo {
    /// The decoded value of one of the [`SETTLED_REQUIRED`] amounts, by name.
    pub fn amount(&self, name: &str) -> Option<Money> {
        match name {
            "fund_pay_sumamt" => self.fund_pay_sumamt,
            "psn_part_amt" => self.psn_part_amt,
            "acct_pay" => self.acct_pay,
            "psn_cash_pay" => self.psn_cash_pay,
            "hosp_part_amt" => self.hosp_part_amt,
            _ => None,
        }
    }
}

/// Fill the parts a provincial answer leaves `null` although the settlement identities
/// (§2.5) determine them from independent fields, recording each as a repair:
/// - `psn_part_amt` = `acct_pay` + `psn_cash_pay` (item 3), when both are sent;
/// - `hosp_part_amt` = Σ `setldetail[999996].fund_payamt` (item 5), when such lines are sent.
///
/// Nothing is derived from identity 2 (`medfee_sumamt = fund + psn + hosp`): that would make
/// the identity unfalsifiable. The identities then run as usual on the repaired amounts.
pub fn derive_parts(out: &mut SettleOutput, path: &str, errs: &mut Errors) {
    let base = join(path, "setlinfo");
    let s = &mut out.setlinfo;
    if s.psn_part_amt.is_none()
        && let (Some(acct), Some(cash)) = (s.acct_pay, s.psn_cash_pay)
    {
        let v = acct + cash;
        s.psn_part_amt = Some(v);
        errs.repaired(
            RepairKind::Derived,
            join(&base, "psn_part_amt"),
            format!("psn_part_amt null: derived {v} = acct_pay {acct} + psn_cash_pay {cash}"),
        );
    }
    let hospital: Vec<Money> = out
        .setldetail
        .iter()
        .filter(|l| fund_line_kind(&l.fund_pay_type) == FundLineKind::HospitalBorne)
        .map(|l| l.fund_payamt)
        .collect();
    if s.hosp_part_amt.is_none() && !hospital.is_empty() {
        let v: Money = hospital.into_iter().sum();
        s.hosp_part_amt = Some(v);
        errs.repaired(
            RepairKind::Derived,
            join(&base, "hosp_part_amt"),
            format!("hosp_part_amt null: derived {v} = Σ setldetail[999996].fund_payamt"),
        );
    }
}
