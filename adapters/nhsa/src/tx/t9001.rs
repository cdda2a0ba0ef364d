//! 9001 签到 — operator sign-in (`nhsa-interface.md` §2.1, §5.1 F).

use time::PrimitiveDateTime;

use crate::field::kinds::*;
use crate::record;

record! {
    /// 9001 input `signIn`.
    pub struct SignIn9001 {
        opter_no: req String = char(20), "操作员编号", "operator number";
        mac: req String = char(20), "签到MAC地址", "MAC address";
        ip: req String = char(20), "签到IP地址", "IP address";
    }
}

record! {
    /// 9001 input.
    pub struct In9001 {
        signIn: req (SignIn9001) = NESTED, "签到", "sign-in";
    }
}

record! {
    /// 9001 output `signinoutb`.
    pub struct SignInOut9001 {
        sign_time: req PrimitiveDateTime = DATETIME, "签到时间", "sign-in time";
        sign_no: req String = char(30), "签到编号", "sign-in number (the envelope's later sign_no)";
    }
}

record! {
    /// 9001 output.
    pub struct Out9001 {
        signinoutb: req (SignInOut9001) = NESTED, "签到结果", "sign-in result";
    }
}
