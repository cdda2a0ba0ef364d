//! 2206 门诊预结算 — outpatient pre-settlement (`nhsa-interface.md` §2.2). The output is a
//! [`SettleOutput`](super::settle::SettleOutput) without `setl_id`/`setl_time`.

use medsettle_canonical::Money;

use crate::field::kinds::*;
use crate::record;

record! {
    /// 2206 input `data`.
    pub struct Data2206 {
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
    }
}

record! {
    /// 2206 input.
    pub struct In2206 {
        data: req (Data2206) = NESTED, "输入", "pre-settlement";
    }
}
