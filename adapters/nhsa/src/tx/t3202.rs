//! 3202 医药机构费用结算对明细账 — reconcile details against an uploaded file
//! (`nhsa-interface.md` §2.6).

use medsettle_canonical::{Admdvs, Money};
use time::{Date, PrimitiveDateTime};

use crate::field::N0;
use crate::field::kinds::*;
use crate::record;

record! {
    /// 3202 input `data`.
    pub struct Data3202 {
        setl_optins: req Admdvs = ADMDVS, "结算经办机构", "settlement agency";
        file_qury_no: req String = char(30), "文件查询号", "file query number from 9101";
        stmt_begndate: req Date = DATE, "对账开始日期", "statement start date";
        stmt_enddate: req Date = DATE, "对账结束日期", "statement end date";
        medfee_sumamt: req Money = MONEY, "医疗费总额", "total medical fee";
        fund_pay_sumamt: req Money = MONEY, "基金支付总额", "total fund payment";
        cash_payamt: req Money = MONEY, "现金支付金额", "cash payment";
        fixmedins_setl_cnt: req N0 = num(10, 0), "定点医药机构结算笔数", "number of settlements";
        clr_type: opt String = char(6), "清算类别", "clearing type";
        refd_setl_flag: opt String = char(3), "退费结算标志", "refund flag";
    }
}

record! {
    /// 3202 input.
    pub struct In3202 {
        data: req (Data3202) = NESTED, "输入", "statement details";
    }
}

record! {
    /// 3202 output `fileinfo`.
    pub struct FileInfo3202 {
        file_qury_no: req String = char(30), "文件查询号", "file query number of the result";
        filename: req String = char(200), "文件名称", "file name";
        dld_endtime: req PrimitiveDateTime = DATETIME, "下载截止时间", "download deadline";
    }
}

record! {
    /// 3202 output.
    pub struct Out3202 {
        fileinfo: req (FileInfo3202) = NESTED, "文件信息", "result file";
    }
}
