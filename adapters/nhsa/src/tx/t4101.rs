//! 4101 医疗保障基金结算清单信息上传 — settlement-list upload (`nhsa-interface.md` §2.7;
//! national tables 154–160 as public HIS clients carry them). 4101A (without `payinfo` and
//! `iteminfo`, with `bldinfo`) decodes here too.

use medsettle_canonical::Money;
use time::{Date, PrimitiveDateTime};

use crate::field::kinds::*;
use crate::field::{N0, N1, N2};
use crate::record;

record! {
    /// 4101 input `setlinfo` (表154).
    pub struct SetlInfo4101 {
        mdtrt_id: req String = char(30), "就诊ID", "visit id";
        setl_id: req String = char(30), "结算ID", "settlement id";
        fixmedins_name: req String = char(200), "定点医药机构名称", "institution name";
        fixmedins_code: req String = char(12), "定点医药机构编号", "institution code";
        hi_setl_lv: opt String = char(3), "医保结算等级", "settlement level";
        hi_no: opt String = char(30), "医保编号", "insurance number of the person";
        medcasno: req String = char(40), "病案号", "medical record number";
        dcla_time: opt PrimitiveDateTime = DATETIME, "申报时间", "time of declaration";
        psn_name: req String = char(50), "人员姓名", "person name";
        gend: req String = char(6), "性别", "sex";
        brdy: req Date = DATE, "出生日期", "date of birth";
        age: opt N1 = num(4, 1), "年龄", "age in years";
        ntly: req String = char(6), "国籍", "nationality";
        nwb_age: opt N0 = num(3, 0), "（年龄不足1周岁）年龄", "age in days under one year";
        naty: req String = char(3), "民族", "ethnicity";
        patn_cert_type: req String = char(3), "患者证件类别", "certificate type";
        certno: req String = char(50), "证件号码", "certificate number";
        prfs: req String = char(6), "职业", "occupation";
        curr_addr: opt String = char(200), "现住址", "address";
        emp_name: opt String = char(200), "单位名称", "employer";
        emp_addr: opt String = char(200), "单位地址", "employer address";
        emp_tel: opt String = char(50), "单位电话", "employer phone";
        poscode: opt String = char(6), "邮编", "postcode";
        coner_name: req String = char(50), "联系人姓名", "contact name";
        patn_rlts: req String = char(6), "与患者关系", "relation to patient";
        coner_addr: req String = char(200), "联系人地址", "contact address";
        coner_tel: req String = char(50), "联系人电话", "contact phone";
        hi_type: req String = char(3), "医保类型", "insurance kind";
        insuplc: req String = char(6), "参保地", "insured place";
        sp_psn_type: opt String = char(6), "特殊人员类型", "special person type";
        nwb_adm_type: opt String = char(3), "新生儿入院类型", "newborn admission type";
        nwb_bir_wt: opt N2 = num(6, 2), "新生儿出生体重", "newborn birth weight (g)";
        nwb_adm_wt: opt N2 = num(6, 2), "新生儿入院体重", "newborn admission weight (g)";
        opsp_diag_caty: opt String = char(50), "门诊慢特病诊断科别", "chronic-disease department";
        opsp_mdtrt_date: opt Date = DATE, "门诊慢特病就诊日期", "chronic-disease visit date";
        ipt_med_type: req String = char(3), "住院医疗类型", "inpatient type";
        adm_way: opt String = char(3), "入院途径", "admission route";
        trt_type: opt String = char(3), "治疗类别", "treatment type";
        adm_time: opt PrimitiveDateTime = DATETIME, "入院时间", "admission time";
        adm_caty: req String = char(6), "入院科别", "admission department";
        refldept_dept: opt String = char(6), "转科科别", "transfer department";
        dscg_time: opt PrimitiveDateTime = DATETIME, "出院时间", "discharge time";
        dscg_caty: req String = char(6), "出院科别", "discharge department";
        act_ipt_days: opt N0 = num(3, 0), "实际住院天数", "days in hospital";
        otp_wm_dise: opt String = char(200), "门（急）诊西医诊断", "outpatient western diagnosis";
        wm_dise_code: opt String = char(20), "西医诊断疾病代码", "western diagnosis code";
        otp_tcm_dise: opt String = char(200), "门（急）诊中医诊断", "outpatient TCM diagnosis";
        tcm_dise_code: opt String = char(20), "中医诊断代码", "TCM diagnosis code";
        diag_code_cnt: opt N0 = num(3, 0), "诊断代码计数", "number of diagnoses";
        maindiag_flag: req String = char(3), "主诊断标志", "main diagnosis flag";
        oprn_oprt_code_cnt: opt N0 = num(3, 0), "手术操作代码计数", "number of operations";
        vent_used_dura: opt String = char(10), "呼吸机使用时长", "ventilator time d/h/m";
        pwcry_bfadm_coma_dura: opt String = char(10), "颅脑损伤患者入院前昏迷时长", "coma before admission d/h/m";
        pwcry_afadm_coma_dura: opt String = char(10), "颅脑损伤患者入院后昏迷时长", "coma after admission d/h/m";
        bld_cat: opt String = char(3), "输血品种", "blood product";
        bld_amt: opt N0 = num(6, 0), "输血量", "blood amount";
        bld_unt: opt String = char(3), "输血计量单位", "blood unit";
        spga_nurscare_days: opt N0 = num(3, 0), "特级护理天数", "special-grade nursing days";
        lv1_nurscare_days: opt N0 = num(3, 0), "一级护理天数", "grade-1 nursing days";
        scd_nurscare_days: opt N0 = num(3, 0), "二级护理天数", "grade-2 nursing days";
        lv3_nurscare_days: opt N0 = num(3, 0), "三级护理天数", "grade-3 nursing days";
        dscg_way: opt String = char(3), "离院方式", "discharge manner";
        acp_medins_name: opt String = char(100), "拟接收机构名称", "receiving institution name";
        acp_optins_code: opt String = char(30), "拟接收机构代码", "receiving institution code";
        bill_code: req String = char(50), "票据代码", "invoice code";
        bill_no: req String = char(30), "票据号码", "invoice number";
        biz_sn: req String = char(50), "业务流水号", "business serial number";
        days_rinp_flag_31: opt String = char(3), "出院31天内再住院计划标志", "readmission within 31 days planned";
        days_rinp_pup_31: opt String = char(200), "出院31天内再住院目的", "readmission purpose";
        chfpdr_name: opt String = char(50), "主诊医师姓名", "chief doctor name";
        chfpdr_code: opt String = char(30), "主诊医师代码", "chief doctor code";
        setl_begn_date: req Date = DATE, "结算开始日期", "settlement period start";
        setl_end_date: req Date = DATE, "结算结束日期", "settlement period end";
        psn_selfpay: req Money = MONEY, "个人自付", "person's co-payment";
        psn_ownpay: req Money = MONEY, "个人自费", "person's own payment";
        acct_pay: req Money = MONEY, "个人账户支出", "personal-account payment";
        psn_cashpay: req Money = MONEY, "个人现金支付", "cash payment";
        hi_paymtd: req String = char(3), "医保支付方式", "payment method";
        hsorg: req String = char(100), "医保机构", "insurance agency";
        hsorg_opter: req String = char(50), "医保机构经办人", "agency operator";
        medins_fill_dept: req String = char(100), "医疗机构填报部门", "filing department";
        medins_fill_psn: req String = char(50), "医疗机构填报人", "filing person";
    }
}

record! {
    /// 4101 `payinfo[]` (表155).
    pub struct PayInfo4101 {
        fund_pay_type: req String = char(6), "基金支付类型", "fund type";
        fund_payamt: req Money = MONEY, "基金支付金额", "fund amount";
    }
}

record! {
    /// 4101 `opspdiseinfo[]` (表156).
    pub struct OpspDiseInfo4101 {
        diag_name: req String = char(100), "诊断名称", "diagnosis name";
        diag_code: req String = char(20), "诊断代码", "diagnosis code";
        oprn_oprt_name: opt String = char(500), "手术操作名称", "operation name";
        oprn_oprt_code: opt String = char(30), "手术操作代码", "operation code";
    }
}

record! {
    /// 4101 `diseinfo[]` (表157).
    pub struct DiseInfo4101 {
        diag_type: req String = char(3), "诊断类别", "diagnosis type";
        diag_code: req String = char(20), "诊断代码", "diagnosis code";
        diag_name: req String = char(100), "诊断名称", "diagnosis name";
        adm_cond_type: opt String = char(3), "入院病情类型", "condition on admission";
        maindiag_flag: opt String = char(3), "主诊断标志", "main diagnosis flag";
    }
}

record! {
    /// 4101 `iteminfo[]` (表158): totals per fee category.
    pub struct ItemInfo4101 {
        med_chrgitm: req String = char(6), "医疗收费项目", "fee category 01-14";
        amt: req Money = MONEY, "金额", "amount";
        claa_sumfee: req Money = MONEY, "甲类费用合计", "class A total";
        clab_amt: req Money = MONEY, "乙类金额", "class B amount";
        fulamt_ownpay_amt: req Money = MONEY, "全自费金额", "fully self-paid";
        oth_amt: req Money = MONEY, "其他金额", "other";
    }
}

record! {
    /// 4101 `oprninfo[]` (表159).
    pub struct OprnInfo4101 {
        oprn_oprt_type: req String = char(3), "手术操作类别", "operation type";
        oprn_oprt_name: req String = char(500), "手术操作名称", "operation name";
        oprn_oprt_code: req String = char(30), "手术操作代码", "operation code";
        oprn_oprt_date: req Date = DATE, "手术操作日期", "operation date";
        anst_way: opt String = char(6), "麻醉方式", "anaesthesia";
        oper_dr_name: req String = char(50), "术者医师姓名", "surgeon name";
        oper_dr_code: req String = char(20), "术者医师代码", "surgeon code";
        anst_dr_name: opt String = char(50), "麻醉医师姓名", "anaesthetist name";
        anst_dr_code: opt String = char(20), "麻醉医师代码", "anaesthetist code";
        oprn_oprt_begntime: opt PrimitiveDateTime = DATETIME, "手术开始时间", "operation start (4101A)";
        oprn_oprt_endtime: opt PrimitiveDateTime = DATETIME, "手术结束时间", "operation end (4101A)";
    }
}

record! {
    /// 4101 `icuinfo[]` (表160).
    pub struct IcuInfo4101 {
        scs_cutd_ward_type: req String = char(6), "重症监护病房类型", "ICU type";
        scs_cutd_inpool_time: req PrimitiveDateTime = DATETIME, "重症监护进入时间", "ICU entry";
        scs_cutd_exit_time: req PrimitiveDateTime = DATETIME, "重症监护退出时间", "ICU exit";
        scs_cutd_sum_dura: req String = char(10), "重症监护合计时长", "ICU duration d/h/m";
    }
}

record! {
    /// 4101A `bldinfo[]`.
    pub struct BldInfo4101 {
        bld_cat: req String = char(3), "输血品种", "blood product";
        bld_amt: req N2 = num(8, 2), "输血量", "blood amount";
        bld_unt: req String = char(3), "输血计量单位", "blood unit";
    }
}

record! {
    /// 4101 / 4101A input.
    pub struct In4101 {
        setlinfo: req (SetlInfo4101) = NESTED, "结算清单信息", "settlement list";
        payinfo: opt [PayInfo4101] = NESTED, "基金支付信息", "fund payments (4101 only)";
        opspdiseinfo: opt [OpspDiseInfo4101] = NESTED, "门诊慢特病诊断信息", "chronic-disease diagnoses";
        diseinfo: req [DiseInfo4101] = NESTED, "住院诊断信息", "inpatient diagnoses";
        iteminfo: opt [ItemInfo4101] = NESTED, "收费项目信息", "fee categories (4101 only)";
        oprninfo: opt [OprnInfo4101] = NESTED, "手术操作信息", "operations";
        icuinfo: opt [IcuInfo4101] = NESTED, "重症监护信息", "intensive care";
        bldinfo: opt [BldInfo4101] = NESTED, "输血信息", "transfusions (4101A)";
    }
}

record! {
    /// 4101 output. Some platforms wrap the id in `data`; that node is kept as an extra.
    pub struct Out4101 {
        setl_list_id: req String = char(30), "清单流水号", "settlement list id";
    }
}
