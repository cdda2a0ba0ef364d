//! 2401 入院办理 — inpatient admission (fields from the national table 表100/101 as public
//! HIS clients carry them). The diagnosis node [`DiseInfo`] is shared with 2402.

use serde_json::Value;
use time::{Date, PrimitiveDateTime};

use crate::field::N0;
use crate::field::kinds::*;
use crate::record;

record! {
    /// 2401 input `mdtrtinfo`.
    pub struct MdtrtInfo2401 {
        psn_no: req String = char(30), "人员编号", "person number";
        insutype: req String = char(6), "险种类型", "insurance type";
        coner_name: opt String = char(50), "联系人姓名", "contact name";
        tel: opt String = char(50), "联系电话", "contact phone";
        begntime: req PrimitiveDateTime = DATETIME, "开始时间", "admission time";
        mdtrt_cert_type: req String = char(3), "就诊凭证类型", "visit credential type";
        mdtrt_cert_no: req String = char(50), "就诊凭证编号", "credential number";
        med_type: req String = char(6), "医疗类别", "medical category (opaque code)";
        ipt_no: req String = char(30), "住院号", "inpatient number";
        medrcdno: opt String = char(30), "病历号", "medical record number";
        atddr_no: req String = char(30), "主治医生编码", "attending doctor code";
        chfpdr_name: req String = char(50), "主诊医师姓名", "chief doctor name";
        adm_diag_dscr: req String = char(200), "入院诊断描述", "admission diagnosis";
        adm_dept_codg: req String = char(30), "入院科室编码", "admission department code";
        adm_dept_name: req String = char(100), "入院科室名称", "admission department name";
        adm_bed: req String = char(30), "入院床位", "bed";
        dscg_maindiag_code: req String = char(20), "住院主诊断代码", "main diagnosis code";
        dscg_maindiag_name: req String = char(300), "住院主诊断名称", "main diagnosis name";
        main_cond_dscr: opt String = char(1000), "主要病情描述", "condition";
        dise_codg: opt String = char(30), "病种编码", "disease (payment group) code";
        dise_name: opt String = char(500), "病种名称", "disease name";
        oprn_oprt_code: opt String = char(30), "手术操作代码", "operation code";
        oprn_oprt_name: opt String = char(500), "手术操作名称", "operation name";
        fpsc_no: opt String = char(50), "计划生育服务证号", "family-planning certificate";
        matn_type: opt String = char(6), "生育类别", "maternity type";
        birctrl_type: opt String = char(6), "计划生育手术类别", "family-planning operation type";
        latechb_flag: opt String = char(3), "晚育标志", "late childbirth flag";
        geso_val: opt N0 = num(2, 0), "孕周数", "weeks of gestation";
        fetts: opt N0 = num(3, 0), "胎次", "parity";
        fetus_cnt: opt N0 = num(3, 0), "胎儿数", "number of fetuses";
        pret_flag: opt String = char(3), "早产标志", "premature flag";
        birctrl_matn_date: opt Date = DATE, "计划生育手术或生育日期", "operation or birth date";
        dise_type_code: opt String = char(6), "病种类型", "disease type";
        exp_content: opt Value = JSON, "扩展内容", "provincial extension";
    }
}

record! {
    /// 2401/2402 input `diseinfo[]`: one diagnosis.
    pub struct DiseInfo {
        mdtrt_id: opt String = char(30), "就诊ID", "visit id (discharge diagnoses)";
        psn_no: req String = char(30), "人员编号", "person number";
        diag_type: req String = char(3), "诊断类别", "diagnosis type";
        maindiag_flag: req String = char(3), "主诊断标志", "main diagnosis flag";
        diag_srt_no: req N0 = num(2, 0), "诊断排序号", "diagnosis order";
        diag_code: req String = char(20), "诊断代码", "diagnosis code";
        diag_name: req String = char(100), "诊断名称", "diagnosis name";
        adm_cond: opt String = char(500), "入院病情", "condition on admission";
        diag_dept: req String = char(50), "诊断科室", "diagnosing department";
        dise_dor_no: req String = char(30), "诊断医生编码", "diagnosing doctor code";
        dise_dor_name: req String = char(50), "诊断医生姓名", "diagnosing doctor name";
        diag_time: req PrimitiveDateTime = DATETIME, "诊断时间", "diagnosis time";
    }
}

record! {
    /// 2401 input.
    pub struct In2401 {
        mdtrtinfo: req (MdtrtInfo2401) = NESTED, "就诊信息", "admission";
        diseinfo: req [DiseInfo] = NESTED, "入院诊断信息", "admission diagnoses";
    }
}

record! {
    /// 2401 output `result`.
    pub struct Result2401 {
        mdtrt_id: req String = char(30), "就诊ID", "visit id issued by the insurer";
    }
}

record! {
    /// 2401 output.
    pub struct Out2401 {
        result: req (Result2401) = NESTED, "结果", "admission result";
    }
}
