//! 1101 人员信息获取 — person information query (`nhsa-interface.md` §1; fields from public
//! HIS client models of the national table 表5–8).

use medsettle_canonical::{Admdvs, Money};
use serde_json::Value;
use time::{Date, PrimitiveDateTime};

use crate::field::N1;
use crate::field::kinds::*;
use crate::record;

record! {
    /// 1101 input `data`.
    pub struct Data1101 {
        mdtrt_cert_type: req String = char(3), "就诊凭证类型", "visit credential type: 01 e-voucher, 02 ID card, 03 social security card";
        mdtrt_cert_no: req String = char(50), "就诊凭证编号", "credential number (e-voucher token, ID number or card number)";
        card_sn: opt String = char(32), "卡识别码", "card identification code (required by the platform for type 03)";
        begntime: opt PrimitiveDateTime = DATETIME, "开始时间", "start time (for historical insurance status)";
        psn_cert_type: opt String = char(6), "人员证件类型", "person certificate type";
        certno: opt String = char(50), "证件号码", "certificate number";
        psn_name: opt String = char(50), "人员姓名", "person name";
    }
}

record! {
    /// 1101 input.
    pub struct In1101 {
        data: req (Data1101) = NESTED, "输入", "query";
    }
}

record! {
    /// 1101 output `baseinfo` (表6).
    pub struct BaseInfo1101 {
        psn_no: req String = char(30), "人员编号", "person number";
        psn_cert_type: opt String = char(6), "人员证件类型", "person certificate type";
        certno: opt String = char(50), "证件号码", "certificate number";
        psn_name: opt String = char(50), "人员姓名", "person name";
        gend: opt String = char(6), "性别", "sex";
        naty: opt String = char(3), "民族", "ethnicity";
        brdy: opt Date = DATE, "出生日期", "date of birth";
        age: opt N1 = num(4, 1), "年龄", "age in years";
        exp_content: opt Value = JSON, "字段扩展", "provincial extension";
    }
}

record! {
    /// 1101 output `insuinfo[]` (表7).
    pub struct InsuInfo1101 {
        balc: opt Money = MONEY, "余额", "personal-account balance before settlement";
        insutype: req String = char(6), "险种类型", "insurance type";
        psn_type: opt String = char(6), "人员类别", "person category";
        psn_insu_stas: opt String = char(6), "人员参保状态", "insurance status";
        psn_insu_date: opt Date = DATE, "个人参保日期", "date insured";
        paus_insu_date: opt Date = DATE, "暂停参保日期", "date insurance paused";
        cvlserv_flag: opt String = char(3), "公务员标志", "civil-servant flag";
        insuplc_admdvs: opt Admdvs = ADMDVS, "参保地医保区划", "insured region";
        emp_name: opt String = char(200), "单位名称", "employer name";
    }
}

record! {
    /// 1101 output `idetinfo[]` (表8).
    pub struct IdetInfo1101 {
        psn_idet_type: req String = char(3), "人员身份类别", "identity category";
        psn_type_lv: opt String = char(3), "人员类别等级", "category level (e.g. disability grade)";
        memo: opt String = char(500), "备注", "remark";
        begntime: opt PrimitiveDateTime = DATETIME, "开始时间", "valid from";
        endtime: opt PrimitiveDateTime = DATETIME, "结束时间", "valid until";
    }
}

record! {
    /// 1101 output.
    pub struct Out1101 {
        baseinfo: req (BaseInfo1101) = NESTED, "基本信息", "basic information";
        insuinfo: req [InsuInfo1101] = NESTED, "参保信息列表", "insurance list";
        idetinfo: opt [IdetInfo1101] = NESTED, "身份信息列表", "identity list";
    }
}
