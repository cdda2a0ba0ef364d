//! 2305 住院结算撤销 — reverse an inpatient settlement (`nhsa-interface.md` §2.3). The
//! output is a [`SettleOutput`](super::settle::SettleOutput) with every amount negated;
//! platforms add fields (`setl_type`, `psn_pay`, `ownpay_hosp_part`, …), kept as extras.

use serde_json::Value;

use crate::field::kinds::*;
use crate::record;

record! {
    /// 2305 input `data`.
    pub struct Data2305 {
        mdtrt_id: req String = char(30), "就诊ID", "visit id";
        setl_id: req String = char(30), "结算ID", "settlement id to reverse";
        psn_no: req String = char(30), "人员编号", "person number";
        exp_content: opt Value = JSON, "扩展内容", "provincial extension";
    }
}

record! {
    /// 2305 input.
    pub struct In2305 {
        data: req (Data2305) = NESTED, "输入", "reversal";
    }
}
