//! 2601 冲正交易 — reverse a transaction whose outcome is unknown, by its original `msgid`
//! (`nhsa-interface.md` §2.1). No business output.

use crate::field::kinds::*;
use crate::record;

record! {
    /// 2601 input `data`.
    pub struct Data2601 {
        psn_no: req String = char(30), "人员编号", "person number";
        omsgid: req String = char(30), "原发送方报文ID", "msgid of the original request";
        oinfno: req String = char(6), "原交易编号", "infno of the original request";
    }
}

record! {
    /// 2601 input.
    pub struct In2601 {
        data: req (Data2601) = NESTED, "输入", "reversal";
    }
}
