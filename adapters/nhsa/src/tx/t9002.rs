//! 9002 签退 — operator sign-out (`nhsa-interface.md` §2.1).

use time::PrimitiveDateTime;

use crate::field::kinds::*;
use crate::record;

record! {
    /// 9002 input `signOut`.
    pub struct SignOut9002 {
        sign_no: req String = char(30), "签到编号", "sign-in number to close";
        opter_no: req String = char(20), "操作员编号", "operator number";
    }
}

record! {
    /// 9002 input.
    pub struct In9002 {
        signOut: req (SignOut9002) = NESTED, "签退", "sign-out";
    }
}

record! {
    /// 9002 output `signoutoutb`.
    pub struct SignOutOut9002 {
        sign_time: req PrimitiveDateTime = DATETIME, "签退时间", "sign-out time";
    }
}

record! {
    /// 9002 output.
    pub struct Out9002 {
        signoutoutb: req (SignOutOut9002) = NESTED, "签退结果", "sign-out result";
    }
}
