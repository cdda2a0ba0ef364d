//! 3201 医药机构费用结算对总账 — reconcile totals (`nhsa-interface.md` §2.6, §5.1 E).

use medsettle_canonical::{Admdvs, Money};
use time::Date;

use crate::field::N0;
use crate::field::kinds::*;
use crate::record;

record! {
    /// 3201 input `data`: one (insutype, clr_type, setl_optins) group.
    pub struct Data3201 {
        insutype: req String = char(6), "险种", "insurance type";
        clr_type: req String = char(6), "清算类别", "clearing type";
        setl_optins: req Admdvs = ADMDVS, "结算经办机构", "settlement agency (clr_optins at settlement)";
        stmt_begndate: req Date = DATE, "对账开始日期", "statement start date";
        stmt_enddate: req Date = DATE, "对账结束日期", "statement end date";
        medfee_sumamt: req Money = MONEY, "医疗费总额", "total medical fee";
        fund_pay_sumamt: req Money = MONEY, "基金支付总额", "total fund payment";
        acct_pay: req Money = MONEY, "个人账户支付金额", "personal-account payment";
        fixmedins_setl_cnt: req N0 = num(10, 0), "定点医药机构结算笔数", "number of settlements";
        refd_setl_flag: opt String = char(3), "退费结算标志", "refund flag";
    }
}

record! {
    /// 3201 input.
    pub struct In3201 {
        data: req (Data3201) = NESTED, "输入", "statement totals";
    }
}

record! {
    /// 3201 output `stmtinfo`.
    pub struct StmtInfo3201 {
        setl_optins: req Admdvs = ADMDVS, "结算经办机构", "settlement agency";
        stmt_rslt: req String = char(6), "对账结果", "result: 0 balanced, other = not balanced";
        stmt_rslt_dscr: opt String = char(200), "对账结果说明", "result text";
    }
}

record! {
    /// 3201 output.
    pub struct Out3201 {
        stmtinfo: req (StmtInfo3201) = NESTED, "对账结果", "statement result";
    }
}
