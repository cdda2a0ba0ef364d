//! 2201 门诊挂号 — outpatient registration (`nhsa-interface.md` §2.2).

use time::PrimitiveDateTime;

use crate::field::kinds::*;
use crate::record;

record! {
    /// 2201 input `data`.
    pub struct Data2201 {
        psn_no: req String = char(30), "人员编号", "person number";
        insutype: req String = char(6), "险种类型", "insurance type";
        begntime: req PrimitiveDateTime = DATETIME, "开始时间", "registration time";
        mdtrt_cert_type: req String = char(3), "就诊凭证类型", "visit credential type";
        mdtrt_cert_no: req String = char(50), "就诊凭证编号", "credential number";
        ipt_otp_no: req String = char(30), "住院/门诊号", "outpatient number, unique in the hospital";
        atddr_no: req String = char(30), "医师编码", "doctor code";
        dr_name: req String = char(50), "医师姓名", "doctor name";
        dept_code: req String = char(30), "科室编码", "department code";
        dept_name: req String = char(100), "科室名称", "department name";
        caty: req String = char(10), "科别", "clinical specialty";
        psn_cert_type: opt String = char(6), "人员证件类型", "person certificate type (cross-province)";
        certno: opt String = char(50), "证件号码", "certificate number (cross-province)";
        psn_type: opt String = char(6), "人员类别", "person category (cross-province)";
        psn_name: opt String = char(50), "人员姓名", "person name (cross-province)";
    }
}

record! {
    /// 2201 input.
    pub struct In2201 {
        data: req (Data2201) = NESTED, "输入", "registration";
    }
}

record! {
    /// 2201 output `data`.
    pub struct OutData2201 {
        mdtrt_id: req String = char(30), "就诊ID", "visit id issued by the insurer";
        psn_no: req String = char(30), "人员编号", "person number";
        ipt_otp_no: req String = char(30), "住院/门诊号", "outpatient number";
    }
}

record! {
    /// 2201 output.
    pub struct Out2201 {
        data: req (OutData2201) = NESTED, "输出", "registration result";
    }
}
