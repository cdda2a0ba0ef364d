//! 2301 住院费用明细上传 — inpatient fee-detail upload, and 2302 明细撤销 — cancel it
//! (`nhsa-interface.md` §2.3). The output of 2301 is
//! [`FeeUploadOutput`](super::t2204::FeeUploadOutput).

use medsettle_canonical::Money;
use serde_json::Value;
use time::PrimitiveDateTime;

use crate::field::kinds::*;
use crate::field::{P6, Q4};
use crate::record;

record! {
    /// 2301 input `feedetail[]`. `cnt` is negative on a refund line.
    pub struct FeeDetail2301 {
        feedetl_sn: req String = char(30), "费用明细流水号", "fee line serial number";
        init_feedetl_sn: opt String = char(30), "原费用流水号", "original serial number (refunds)";
        mdtrt_id: req String = char(30), "就诊ID", "visit id";
        drord_no: opt String = char(30), "医嘱号", "doctor's order number";
        psn_no: req String = char(30), "人员编号", "person number";
        med_type: req String = char(6), "医疗类别", "medical category (opaque code)";
        fee_ocur_time: req PrimitiveDateTime = DATETIME, "费用发生时间", "time the fee occurred";
        med_list_codg: req String = char(50), "医疗目录编码", "national catalogue code";
        medins_list_codg: req String = char(150), "医药机构目录编码", "hospital catalogue code";
        det_item_fee_sumamt: req Money = MONEY, "明细项目费用总额", "line total";
        cnt: req Q4 = num(16, 4), "数量", "quantity (negative on refund)";
        pric: req P6 = num(16, 6), "单价", "unit price";
        bilg_dept_codg: req String = char(30), "开单科室编码", "ordering department code";
        bilg_dept_name: req String = char(100), "开单科室名称", "ordering department name";
        bilg_dr_codg: req String = char(30), "开单医生编码", "ordering doctor code";
        bilg_dr_name: req String = char(50), "开单医师姓名", "ordering doctor name";
        acord_dept_codg: opt String = char(30), "受单科室编码", "executing department code";
        acord_dept_name: opt String = char(100), "受单科室名称", "executing department name";
        orders_dr_code: opt String = char(30), "受单医生编码", "executing doctor code";
        orders_dr_name: opt String = char(50), "受单医生姓名", "executing doctor name";
        hosp_appr_flag: opt String = char(3), "医院审批标志", "hospital approval flag";
        tcmdrug_used_way: opt String = char(6), "中药使用方式", "TCM usage";
        etip_flag: opt String = char(3), "外检标志", "external test flag";
        etip_hosp_code: opt String = char(30), "外检医院编码", "external test hospital";
        dscg_tkdrug_flag: opt String = char(3), "出院带药标志", "discharge medication flag";
        matn_fee_flag: opt String = char(3), "生育费用标志", "maternity fee flag";
        memo: opt String = char(500), "备注", "remark";
        exp_content: opt Value = JSON, "扩展内容", "provincial extension";
    }
}

record! {
    /// 2301 input.
    pub struct In2301 {
        feedetail: req [FeeDetail2301] = NESTED, "费用明细", "fee lines";
    }
}

record! {
    /// 2302 input `data[]` (an array in this transaction).
    pub struct Data2302 {
        feedetl_sn: req String = char(30), "费用明细流水号", "fee line serial number (`0000` = all)";
        mdtrt_id: req String = char(30), "就诊ID", "visit id";
        psn_no: req String = char(30), "人员编号", "person number";
        exp_content: opt Value = JSON, "扩展内容", "provincial extension";
    }
}

record! {
    /// 2302 input.
    pub struct In2302 {
        data: req [Data2302] = NESTED, "输入", "lines to cancel";
    }
}
