//! 2202 门诊挂号撤销 — cancel an outpatient registration (`nhsa-interface.md` §2.2). No
//! business output.

use crate::field::kinds::*;
use crate::record;

record! {
    /// 2202 input `data`.
    pub struct Data2202 {
        psn_no: req String = char(30), "人员编号", "person number";
        mdtrt_id: req String = char(30), "就诊ID", "visit id";
        ipt_otp_no: req String = char(30), "住院/门诊号", "outpatient number";
    }
}

record! {
    /// 2202 input.
    pub struct In2202 {
        data: req (Data2202) = NESTED, "输入", "cancellation";
    }
}
