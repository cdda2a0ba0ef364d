//! 3203 清算申请 — clearing application (`nhsa-interface.md` §2.6). 3203A (Jilin) drops
//! `clr_way`/`setlym`/`psntime` and adds `clr_optins`; both decode here.

use medsettle_canonical::{Admdvs, Money};
use time::Date;

use crate::field::N0;
use crate::field::kinds::*;
use crate::record;

record! {
    /// 3203 input `data`.
    pub struct Data3203 {
        clr_type: req String = char(6), "清算类别", "clearing type";
        clr_way: opt String = char(6), "清算方式", "clearing method (not validated)";
        setlym: opt String = char(6), "清算年月", "clearing month yyyyMM";
        psntime: opt N0 = num(10, 0), "清算人次", "number of visits";
        medfee_sumamt: req Money = MONEY, "医疗费总额", "total medical fee";
        med_sumfee: req Money = MONEY, "医保认可费用总额", "fees the insurer accepts";
        fund_appy_sum: req Money = MONEY, "基金申报总额", "fund amount applied for";
        cash_payamt: req Money = MONEY, "现金支付金额", "cash payment";
        acct_pay: req Money = MONEY, "个人账户支出", "personal-account payment";
        begndate: req Date = DATE, "开始日期", "period start";
        enddate: req Date = DATE, "结束日期", "period end";
        clr_optins: opt Admdvs = ADMDVS, "清算经办机构", "clearing agency (3203A)";
    }
}

record! {
    /// 3203 input.
    pub struct In3203 {
        data: req (Data3203) = NESTED, "输入", "clearing application";
    }
}

record! {
    /// 3203 output `result`.
    pub struct Result3203 {
        clr_appy_evt_id: req String = char(30), "清算申请事件ID", "clearing application id";
    }
}

record! {
    /// 3203 output.
    pub struct Out3203 {
        result: req (Result3203) = NESTED, "结果", "application result";
    }
}
