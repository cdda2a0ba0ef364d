//! 2204 门诊费用明细信息上传 — outpatient fee-detail upload, and 2205 明细撤销 — cancel it
//! (`nhsa-interface.md` §2.2). The output `result[]` is shared with 2301.

use medsettle_canonical::{Money, Ratio};
use serde_json::Value;
use time::PrimitiveDateTime;

use crate::field::kinds::*;
use crate::field::{N2, P6, Q4};
use crate::record;

record! {
    /// 2204 input `feedetail[]`: one charged item.
    pub struct FeeDetail2204 {
        feedetl_sn: req String = char(30), "费用明细流水号", "fee line serial number, unique within the visit";
        mdtrt_id: req String = char(30), "就诊ID", "visit id";
        psn_no: req String = char(30), "人员编号", "person number";
        chrg_bchno: req String = char(30), "收费批次号", "charge batch number";
        dise_codg: opt String = char(30), "病种编码", "disease code of the batch";
        rxno: opt String = char(30), "处方号", "prescription number";
        rx_circ_flag: req String = char(3), "外购处方标志", "external-prescription flag";
        fee_ocur_time: req PrimitiveDateTime = DATETIME, "费用发生时间", "time the fee occurred";
        med_list_codg: req String = char(50), "医疗目录编码", "national catalogue code";
        medins_list_codg: req String = char(150), "医药机构目录编码", "hospital catalogue code";
        det_item_fee_sumamt: req Money = MONEY, "明细项目费用总额", "line total";
        cnt: req Q4 = num(16, 4), "数量", "quantity";
        pric: req P6 = num(16, 6), "单价", "unit price";
        sin_dos_dscr: opt String = char(200), "单次剂量描述", "single dose";
        used_frqu_dscr: opt String = char(200), "使用频次描述", "frequency";
        prd_days: opt N2 = num(4, 2), "周期天数", "days";
        medc_way_dscr: opt String = char(200), "用药途径描述", "route of administration";
        bilg_dept_codg: req String = char(30), "开单科室编码", "ordering department code";
        bilg_dept_name: req String = char(100), "开单科室名称", "ordering department name";
        bilg_dr_codg: req String = char(30), "开单医生编码", "ordering doctor code";
        bilg_dr_name: req String = char(50), "开单医师姓名", "ordering doctor name";
        acord_dept_codg: opt String = char(30), "受单科室编码", "executing department code";
        acord_dept_name: opt String = char(100), "受单科室名称", "executing department name";
        orders_dr_code: opt String = char(30), "受单医生编码", "executing doctor code";
        orders_dr_name: opt String = char(50), "受单医生姓名", "executing doctor name";
        hosp_appr_flag: req String = char(3), "医院审批标志", "hospital approval flag";
        tcmdrug_used_way: opt String = char(6), "中药使用方式", "TCM usage";
        etip_flag: opt String = char(3), "外检标志", "external test flag";
        etip_hosp_code: opt String = char(30), "外检医院编码", "external test hospital";
        dscg_tkdrug_flag: opt String = char(3), "出院带药标志", "discharge medication flag";
        matn_fee_flag: opt String = char(3), "生育费用标志", "maternity fee flag";
        exp_content: opt Value = JSON, "扩展内容", "provincial extension";
    }
}

record! {
    /// 2204 input.
    pub struct In2204 {
        feedetail: req [FeeDetail2204] = NESTED, "费用明细", "fee lines";
    }
}

record! {
    /// 2204 / 2301 output `result[]`: how the platform classified one fee line.
    pub struct FeeResult {
        feedetl_sn: req String = char(30), "费用明细流水号", "fee line serial number";
        det_item_fee_sumamt: req Money = MONEY, "明细项目费用总额", "line total";
        cnt: req Q4 = num(16, 4), "数量", "quantity";
        pric: req P6 = num(16, 6), "单价", "unit price";
        pric_uplmt_amt: opt P6 = num(16, 6), "定价上限金额", "price cap";
        selfpay_prop: opt Ratio = RATIO, "自付比例", "pre-self-pay ratio";
        fulamt_ownpay_amt: opt Money = MONEY, "全自费金额", "fully self-paid part";
        overlmt_amt: opt Money = MONEY, "超限价金额", "part above the price cap";
        preselfpay_amt: opt Money = MONEY, "先行自付金额", "pre-self-pay part";
        inscp_scp_amt: opt Money = MONEY, "符合政策范围金额", "in-scope part";
        chrgitm_lv: opt String = char(3), "收费项目等级", "charge level (甲/乙/自费)";
        med_chrgitm_type: opt String = char(6), "医疗收费项目类别", "fee category 01-14";
        bas_medn_flag: opt String = char(3), "基本药物标志", "essential drug flag";
        hi_nego_drug_flag: opt String = char(3), "医保谈判药品标志", "negotiated drug flag";
        chld_medc_flag: opt String = char(3), "儿童用药标志", "paediatric drug flag";
        list_sp_item_flag: opt String = char(3), "目录特项标志", "catalogue special item flag";
        lmt_used_flag: opt String = char(3), "限制使用标志", "restricted use flag";
        drt_reim_flag: opt String = char(3), "直报标志", "direct reimbursement flag";
        memo: opt String = char(500), "备注", "remark";
    }
}

record! {
    /// 2204 / 2301 output.
    pub struct FeeUploadOutput {
        result: req [FeeResult] = NESTED, "结果", "one result per uploaded line";
    }
}

record! {
    /// 2205 input `data`.
    pub struct Data2205 {
        mdtrt_id: req String = char(30), "就诊ID", "visit id";
        chrg_bchno: req String = char(30), "收费批次号", "charge batch (`0000` deletes all unsettled lines)";
        psn_no: req String = char(30), "人员编号", "person number";
    }
}

record! {
    /// 2205 input.
    pub struct In2205 {
        data: req (Data2205) = NESTED, "输入", "cancellation";
    }
}
