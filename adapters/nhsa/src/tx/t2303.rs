//! 2303 住院预结算 — inpatient pre-settlement (`nhsa-interface.md` §2.3). The output is a
//! [`SettleOutput`](super::settle::SettleOutput) without `setl_id`.

use medsettle_canonical::Money;

use crate::field::kinds::*;
use crate::record;

record! {
    /// 2303 input `data`. The local `dscgTime` some provinces add is kept as an extra.
    pub struct Data2303 {
        psn_no: req String = char(30), "人员编号", "person number";
        mdtrt_cert_type: req String = char(3), "就诊凭证类型", "visit credential type";
        mdtrt_cert_no: req String = char(50), "就诊凭证编号", "credential number";
        medfee_sumamt: req Money = MONEY, "医疗费总额", "total medical fee";
        psn_setlway: req String = char(6), "个人结算方式", "settlement method";
        mdtrt_id: req String = char(30), "就诊ID", "visit id";
        acct_used_flag: req String = char(3), "个人账户使用标志", "use personal account: 0/1";
        insutype: req String = char(6), "险种类型", "insurance type";
        invono: opt String = char(20), "发票号", "invoice number";
        mid_setl_flag: req String = char(3), "中途结算标志", "interim settlement flag: 0/1";
        fulamt_ownpay_amt: opt Money = MONEY, "全自费金额", "fully self-paid amount";
        overlmt_selfpay: opt Money = MONEY, "超限价金额", "self-paid above price caps";
        preselfpay_amt: opt Money = MONEY, "先行自付金额", "pre-self-pay amount";
        inscp_scp_amt: opt Money = MONEY, "符合政策范围金额", "in-scope amount";
    }
}

record! {
    /// 2303 input.
    pub struct In2303 {
        data: req (Data2303) = NESTED, "输入", "pre-settlement";
    }
}
