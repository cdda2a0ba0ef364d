//! 3261 异地清分结果确认 — the hospital answers the month's clearing detail of 3260 line by
//! line: "就医地使用此交易提交…月度结算清分确认结果" (`specs/nhsa/3261.toml`).
//!
//! Input, as the public HIS clients send it (GZSI `RequestGzsiModel3261`, a Java client's
//! `Input3261Data`/`Input3261Detail`, HSA `InsureUnifiedRemoteBOImpl`):
//! `data{trt_year, trt_month, totalrow}` and `detail[]{certno, mdtrt_id, mdtrt_setl_time,
//! setl_sn, medfee_sumamt, optins_pay_sumamt, cnfm_flag}`, `cnfm_flag` 1 = 确认，纳入本次清分,
//! 0 = 不确认，本次不纳入清分.
//!
//! What this gateway reads it as (the reference names no more; the conservative choice):
//! - a 3261 answers exactly the lines it lists; a line of the month it does not list stays
//!   unanswered — nothing is confirmed by default, so `detail` must list at least one line
//!   (`FMT-REQUIRED`; GZSI's "confirm" sends `totalrow` 0 and no lines, and is refused);
//! - `cnfm_flag` is required and 0 or 1 (`FMT-CODE`, [`crate::plausible::ZERO_ONE_FLAGS`]);
//! - `totalrow` is the number of `detail` lines of this call (HSA sends the batch size), and a
//!   message whose count disagrees is refused as truncated or mis-assembled (`FMT-NUMBER`);
//! - the line's amounts are those 3260 gave; whether they still match the gateway's line, and
//!   whether a `setl_sn` is known or listed twice, is the clearing's to judge, not the format's.
//!
//! Output: `result{otransid}`, the confirmation id — the `inf_refmsgid` of this answer, which a
//! public client's 3262 model names as what `otransid` takes ("需要作回退处理的原业务交易接收方
//! 报文ID(inf_refmsgid)"). The clients read no 3261 output; the node is this gateway's choice.

use medsettle_canonical::{Money, RuleId};
use serde_json::Value;
use time::PrimitiveDateTime;

use super::t3260::{TrtMonth, TrtYear};
use crate::field::kinds::*;
use crate::field::{Errors, N0, Record, join};
use crate::record;

record! {
    /// 3261 input `data`: the month and the number of lines answered.
    pub struct Data3261 {
        trt_year: req TrtYear = char(4), "结算年度", "clearing year yyyy";
        trt_month: req TrtMonth = char(2), "结算月份", "clearing month MM, 01-12";
        totalrow: req N0 = num(10, 0), "总行数", "number of detail lines in this call";
    }
}

record! {
    /// One line answered (3261 input `detail[]`): a 3260 line, named by `setl_sn`, with its
    /// amounts as extracted and the answer.
    pub struct Detail3261 {
        certno: opt String = char(50), "证件号码", "certificate number, as extracted";
        mdtrt_id: req String = char(30), "就诊登记号", "visit id, as extracted";
        mdtrt_setl_time: req PrimitiveDateTime = DATETIME, "就诊结算时间", "settlement time, as extracted";
        setl_sn: req String = char(30), "结算流水号", "settlement id of the 3260 line answered";
        medfee_sumamt: req Money = MONEY, "总费用", "total medical fee, as extracted";
        optins_pay_sumamt: req Money = MONEY, "经办机构支付总额", "fund payment, as extracted";
        cnfm_flag: req String = char(3), "确认标志", "1 confirmed (纳入本次清分), 0 refused (本次不纳入清分)";
    }
}

record! {
    /// 3261 input.
    pub struct In3261 {
        data: req (Data3261) = NESTED, "结算信息", "month and line count";
        detail: req [Detail3261] = NESTED, "结算详情", "the lines answered, at least one";
    }
}

record! {
    /// 3261 output `result`.
    pub struct Result3261 {
        otransid: req String = char(30), "确认业务流水号", "confirmation id: this answer's inf_refmsgid, which 3262 takes as otransid";
    }
}

record! {
    /// 3261 output.
    pub struct Out3261 {
        result: req (Result3261) = NESTED, "确认结果", "the confirmation";
    }
}

/// `cnfm_flag` of a confirmed line.
pub const CONFIRMED: &str = "1";
/// `cnfm_flag` of a refused line.
pub const REFUSED: &str = "0";

impl Detail3261 {
    /// Whether the line is confirmed (`cnfm_flag` 1) rather than refused (0; a decoded request
    /// holds no other value).
    pub fn confirmed(&self) -> bool {
        self.cnfm_flag == CONFIRMED
    }
}

impl In3261 {
    /// The rules spanning its nodes: at least one line is answered, and `totalrow` counts the
    /// lines.
    pub(crate) fn check(&self, path: &str, errs: &mut Errors) {
        if self.detail.is_empty() {
            errs.push(
                RuleId::FMT_REQUIRED,
                join(path, "detail"),
                "detail (结算详情) must list at least one line: a 3261 confirms or refuses the lines it lists, nothing by default",
            );
        }
        let lines = i64::try_from(self.detail.len()).expect("a line count fits i64");
        if self.data.totalrow.units() != lines {
            errs.push(
                RuleId::FMT_NUMBER,
                join(&join(path, "data"), "totalrow"),
                format!(
                    "totalrow (总行数) = {} but detail has {lines} lines: totalrow is the number of lines of this call",
                    self.data.totalrow
                ),
            );
        }
    }
}

impl Out3261 {
    /// The output of a confirmation whose id is `otransid` (the answer's `inf_refmsgid`, 30
    /// characters; a longer id is a bug of the caller).
    pub fn new(otransid: impl Into<String>) -> Out3261 {
        let otransid = otransid.into();
        assert!(
            otransid.chars().count() <= 30,
            "otransid is char 30: {otransid}"
        );
        Out3261 {
            result: Result3261 {
                otransid,
                extra: Default::default(),
            },
            extra: Default::default(),
        }
    }

    /// The wire JSON of `output`: `{"result": {"otransid": "…"}}`.
    pub fn encode(&self) -> Value {
        self.to_wire()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::tx::{TxInput, decode_input};

    fn line(setl_sn: &str, flag: &str) -> Value {
        json!({"certno": "990101199001010000", "mdtrt_id": "YD9901202405000007",
               "mdtrt_setl_time": "2024-05-20 10:00:00", "setl_sn": setl_sn,
               "medfee_sumamt": "25600.00", "optins_pay_sumamt": 18140.00, "cnfm_flag": flag})
    }

    fn input(totalrow: Value, detail: Value) -> Result<TxInput, Vec<(String, String)>> {
        let v = json!({"data": {"trt_year": "2024", "trt_month": "05", "totalrow": totalrow},
                       "detail": detail});
        decode_input("3261", &v).map_err(|e| {
            e.violations
                .into_iter()
                .map(|v| (v.rule.0.to_owned(), v.path))
                .collect()
        })
    }

    #[test]
    fn decodes_confirmed_and_refused_lines() {
        let tx = input(json!("2"), json!([line("S0001", "1"), line("S0002", "0")])).unwrap();
        let TxInput::T3261(x) = tx else {
            panic!("{tx:?}")
        };
        let answers: Vec<_> = x
            .detail
            .iter()
            .map(|d| (d.setl_sn.as_str(), d.confirmed()))
            .collect();
        assert_eq!(answers, [("S0001", true), ("S0002", false)]);
        assert_eq!(x.detail[0].optins_pay_sumamt, Money::from_fen(1_814_000));
    }

    #[test]
    fn nothing_is_confirmed_by_default() {
        // GZSI's confirm: totalrow "0" and no lines
        let got = input(json!("0"), json!([])).unwrap_err();
        assert_eq!(
            got,
            [("FMT-REQUIRED".to_owned(), "input.detail".to_owned())]
        );
        let mut no_flag = line("S0001", "1");
        no_flag.as_object_mut().unwrap().remove("cnfm_flag");
        let got = input(json!(1), json!([no_flag])).unwrap_err();
        assert_eq!(
            got,
            [(
                "FMT-REQUIRED".to_owned(),
                "input.detail[0].cnfm_flag".to_owned()
            )]
        );
        let got = input(json!(1), json!([line("S0001", "2")])).unwrap_err();
        assert_eq!(
            got,
            [(
                "FMT-CODE".to_owned(),
                "input.detail[0].cnfm_flag".to_owned()
            )]
        );
    }

    #[test]
    fn totalrow_counts_the_lines() {
        let got = input(json!(3), json!([line("S0001", "1"), line("S0002", "1")])).unwrap_err();
        assert_eq!(
            got,
            [("FMT-NUMBER".to_owned(), "input.data.totalrow".to_owned())]
        );
    }

    #[test]
    fn the_output_is_the_confirmation_id() {
        let out = Out3261::new("440300202406011030160000000001");
        assert_eq!(
            out.encode(),
            json!({"result": {"otransid": "440300202406011030160000000001"}})
        );
        use crate::tx::{OutputShape, TxOutput, decode_output, infer_output_shape};
        assert_eq!(
            decode_output("3261", &out.encode()).unwrap(),
            TxOutput::ClearingConfirm(out.clone())
        );
        assert_eq!(
            infer_output_shape(&out.encode()),
            Some(OutputShape::ClearingConfirm)
        );
        // 2401's `result{mdtrt_id}` is still an admission
        let adm = json!({"result": {"mdtrt_id": "M1"}});
        assert_eq!(infer_output_shape(&adm), Some(OutputShape::Admission));
    }
}
