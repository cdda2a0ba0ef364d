//! 2208 门诊结算撤销 — reverse an outpatient settlement (`nhsa-interface.md` §2.2, §5.1 D).
//! The output is a [`SettleOutput`](super::settle::SettleOutput) with every amount negated
//! and a new `setl_id`.

use serde_json::Value;

use crate::field::kinds::*;
use crate::record;

record! {
    /// 2208 input `data`.
    pub struct Data2208 {
        setl_id: req String = char(30), "结算ID", "settlement id to reverse";
        mdtrt_id: req String = char(30), "就诊ID", "visit id";
        psn_no: req String = char(30), "人员编号", "person number";
        exp_content: opt Value = JSON, "扩展内容", "provincial extension";
    }
}

record! {
    /// 2208 input.
    pub struct In2208 {
        data: req (Data2208) = NESTED, "输入", "reversal";
    }
}
