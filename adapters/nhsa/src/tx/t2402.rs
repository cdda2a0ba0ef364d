//! 2402 出院办理 — inpatient discharge (national table 表103/104 as public HIS clients carry
//! them). No business output.

use time::{Date, PrimitiveDateTime};

use super::t2401::DiseInfo;
use crate::field::N0;
use crate::field::kinds::*;
use crate::record;

record! {
    /// 2402 input `dscginfo`.
    pub struct DscgInfo2402 {
        mdtrt_id: req String = char(30), "就诊ID", "visit id";
        psn_no: req String = char(30), "人员编号", "person number";
        insutype: req String = char(6), "险种类型", "insurance type";
        endtime: req PrimitiveDateTime = DATETIME, "结束时间", "discharge time";
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
        cop_flag: opt String = char(3), "伴有并发症标志", "complication flag";
        dscg_dept_codg: req String = char(30), "出院科室编码", "discharge department code";
        dscg_dept_name: req String = char(100), "出院科室名称", "discharge department name";
        dscg_bed: opt String = char(30), "出院床位", "bed";
        dscg_way: req String = char(3), "离院方式", "discharge manner";
        die_date: opt Date = DATE, "死亡日期", "date of death";
    }
}

record! {
    /// 2402 input.
    pub struct In2402 {
        dscginfo: req (DscgInfo2402) = NESTED, "出院信息", "discharge";
        diseinfo: req [DiseInfo] = NESTED, "出院诊断信息", "discharge diagnoses";
    }
}
