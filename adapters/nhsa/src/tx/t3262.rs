//! 3262 异地清分结果确认回退 — roll a 3261 confirmation back: "就医地使用此交易回退已经提交的
//! …月度结算清分确认结果" (`specs/nhsa/3262.toml`).
//!
//! Input `data{trt_year, trt_month, otransid}`. `otransid` (原交易流水号) is "需要作回退处理的
//! 原业务交易接收方报文ID(inf_refmsgid)。传入'0'时，回退医疗机构该结算周期的所有确认业务" (a
//! Java client's `Input3262Data`): the `inf_refmsgid` of the 3261 answer, or `0` for every
//! confirmation of the institution in the month — which is what all three public clients send.
//!
//! Two of them (GZSI `RequestGzsiModel3262`, HSA `InsureUnifiedRemoteBOImpl`) put the three
//! fields directly in `input`, without the `data` node the Java client and every other
//! transaction use. The gateway reads that shape as `input.data` and records the repair
//! ([`RepairKind::InputWithoutNode`]); violations keep the path as sent (`input.otransid`).
//!
//! No business output: the clients read none, and the gateway answers `{}`.

use serde_json::{Map, Value};

use super::t3260::{TrtMonth, TrtYear};
use crate::field::kinds::*;
use crate::field::{Errors, Record, RepairKind, join};
use crate::record;

record! {
    /// 3262 input `data`.
    pub struct Data3262 {
        trt_year: req TrtYear = char(4), "结算年度", "clearing year yyyy";
        trt_month: req TrtMonth = char(2), "结算月份", "clearing month MM, 01-12";
        otransid: req String = char(30), "原交易流水号", "the 3261 answer's inf_refmsgid; 0: every confirmation of the institution in the month";
    }
}

record! {
    /// 3262 input.
    pub struct In3262 {
        data: req (Data3262) = NESTED, "输入", "month and confirmation";
    }
}

/// `otransid` that rolls back every confirmation of the institution in the month.
pub const ALL_CONFIRMATIONS: &str = "0";

impl Data3262 {
    /// Whether every confirmation of the month is rolled back (`otransid` `0`), not one.
    pub fn rolls_back_all(&self) -> bool {
        self.otransid == ALL_CONFIRMATIONS
    }
}

/// The fields sent directly in `input` instead of `input.data`: an object without `data` that
/// names at least one field of [`Data3262`].
pub(crate) fn is_without_node(input: &Value) -> bool {
    input.as_object().is_some_and(|m| {
        !m.contains_key("data") && Data3262::FIELDS.iter().any(|f| m.contains_key(f.name))
    })
}

/// Decode `input{trt_year, trt_month, otransid}` as `input.data{…}`, recording the repair.
pub(crate) fn decode_without_node(input: &Value, path: &str, errs: &mut Errors) -> Option<In3262> {
    errs.repaired(
        RepairKind::InputWithoutNode,
        path,
        format!(
            "{path} carries trt_year, trt_month and otransid without its node: read as {}",
            join(path, "data")
        ),
    );
    Data3262::decode_value(input, path, errs).map(|data| In3262 {
        data,
        extra: Map::new(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::tx::{TxInput, decode_input};

    fn data(tx: TxInput) -> Data3262 {
        match tx {
            TxInput::T3262(x) => x.data,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decodes_with_and_without_the_data_node() {
        let fields = json!({"trt_year": "2024", "trt_month": "05", "otransid": "0"});
        let nested = data(decode_input("3262", &json!({ "data": fields })).unwrap());
        let flat = decode_input("3262", &fields).unwrap();
        // the same typed input, and the same canonical (and wire) form
        assert_eq!(flat.canonical(), json!({ "data": fields }));
        assert_eq!(data(flat), nested);
        assert!(nested.rolls_back_all());
    }

    #[test]
    fn without_the_node_violations_keep_the_path_as_sent() {
        let e = decode_input("3262", &json!({"trt_year": "2024", "trt_month": "5"})).unwrap_err();
        let got: Vec<_> = e
            .violations
            .iter()
            .map(|v| (v.rule.0, v.path.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("FMT-DATE", "input.trt_month"),
                ("FMT-REQUIRED", "input.otransid")
            ]
        );
        // neither shape: the node is what is missing
        let e = decode_input("3262", &json!({"otrans": "0"})).unwrap_err();
        assert_eq!(e.violations[0].path, "input.data");
    }
}
