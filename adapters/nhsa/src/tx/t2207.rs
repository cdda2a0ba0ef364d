//! 2207 门诊结算 — outpatient settlement (`nhsa-interface.md` §2.2, example §5.1 A/B). The
//! output is a [`SettleOutput`](super::settle::SettleOutput).

use medsettle_canonical::Money;
use serde_json::Value;

use crate::field::kinds::*;
use crate::record;

record! {
    /// 2207 input `data`: 2206 fields plus the invoice and the fee split.
    pub struct Data2207 {
        psn_no: req String = char(30), "人员编号", "person number";
        mdtrt_cert_type: req String = char(3), "就诊凭证类型", "visit credential type";
        mdtrt_cert_no: req String = char(50), "就诊凭证编号", "credential number";
        med_type: req String = char(6), "医疗类别", "medical category (opaque code)";
        medfee_sumamt: req Money = MONEY, "医疗费总额", "total medical fee";
        psn_setlway: req String = char(6), "个人结算方式", "settlement method";
        mdtrt_id: req String = char(30), "就诊ID", "visit id";
        chrg_bchno: req String = char(30), "收费批次号", "charge batch number";
        acct_used_flag: req String = char(3), "个人账户使用标志", "use personal account: 0/1";
        insutype: req String = char(6), "险种类型", "insurance type";
        invono: opt String = char(20), "发票号", "invoice number";
        fulamt_ownpay_amt: opt Money = MONEY, "全自费金额", "fully self-paid amount";
        overlmt_selfpay: opt Money = MONEY, "超限价金额", "self-paid above price caps";
        preselfpay_amt: opt Money = MONEY, "先行自付金额", "pre-self-pay amount";
        inscp_scp_amt: opt Money = MONEY, "符合政策范围金额", "in-scope amount";
        pub_hosp_rfom_flag: opt String = char(3), "公立医院改革标志", "public hospital reform flag (Jiangsu)";
        exp_content: opt Value = JSON, "扩展内容", "provincial extension";
    }
}

record! {
    /// 2207 input.
    pub struct In2207 {
        data: req (Data2207) = NESTED, "输入", "settlement";
    }
}
