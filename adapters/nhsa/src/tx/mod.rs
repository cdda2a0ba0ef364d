//! The transactions: a module per transaction, typed input and output nodes with national
//! field names, and the dispatch by `infno`.

pub mod settle;
pub mod t1101;
pub mod t2201;
pub mod t2202;
pub mod t2204;
pub mod t2206;
pub mod t2207;
pub mod t2208;
pub mod t2301;
pub mod t2303;
pub mod t2304;
pub mod t2305;
pub mod t2401;
pub mod t2402;
pub mod t2601;
pub mod t3201;
pub mod t3202;
pub mod t3203;
pub mod t4101;
pub mod t9001;
pub mod t9002;

use medsettle_canonical::RuleId;
use serde_json::{Map, Value};

use crate::error::NhsaError;
use crate::field::{Errors, FieldSpec, Record, join};

/// Every transaction medsettle decodes, by its canonical number.
pub const INFNOS: &[&str] = &[
    "1101", "2201", "2202", "2204", "2205", "2206", "2207", "2208", "2301", "2302", "2303", "2304",
    "2305", "2401", "2402", "2601", "3201", "3202", "3203", "4101", "9001", "9002",
];

/// The national name of a transaction (Chinese — English).
pub fn transaction_name(infno: &str) -> Option<&'static str> {
    Some(match base_infno(infno)? {
        "1101" => "人员信息获取 — person information",
        "2201" => "门诊挂号 — outpatient registration",
        "2202" => "门诊挂号撤销 — cancel outpatient registration",
        "2204" => "门诊费用明细信息上传 — outpatient fee-detail upload",
        "2205" => "门诊费用明细信息撤销 — cancel outpatient fee detail",
        "2206" => "门诊预结算 — outpatient pre-settlement",
        "2207" => "门诊结算 — outpatient settlement",
        "2208" => "门诊结算撤销 — reverse outpatient settlement",
        "2301" => "住院费用明细信息上传 — inpatient fee-detail upload",
        "2302" => "住院费用明细撤销 — cancel inpatient fee detail",
        "2303" => "住院预结算 — inpatient pre-settlement",
        "2304" => "住院结算 — inpatient settlement",
        "2305" => "住院结算撤销 — reverse inpatient settlement",
        "2401" => "入院办理 — admission",
        "2402" => "出院办理 — discharge",
        "2601" => "冲正交易 — reversal by message id",
        "3201" => "医药机构费用结算对总账 — reconcile totals",
        "3202" => "医药机构费用结算对明细账 — reconcile details",
        "3203" => "清算申请 — clearing application",
        "4101" => "医疗保障基金结算清单信息上传 — settlement-list upload",
        "9001" => "签到 — sign in",
        "9002" => "签退 — sign out",
        _ => return None,
    })
}

/// Letter-suffixed variants that share a base transaction's nodes.
pub const ALIASES: &[(&str, &str)] = &[
    ("2206A", "2206"),
    ("2207A", "2207"),
    ("3203A", "3203"),
    ("4101A", "4101"),
];

/// The base transaction of `infno` (`2207A` → `2207`), if medsettle knows it.
pub fn base_infno(infno: &str) -> Option<&'static str> {
    INFNOS
        .iter()
        .copied()
        .find(|i| *i == infno)
        .or_else(|| ALIASES.iter().find(|(a, _)| *a == infno).map(|(_, b)| *b))
}

/// Settling transactions: their successful exchange is a canonical settled claim.
pub fn is_settlement(infno: &str) -> bool {
    matches!(base_infno(infno), Some("2207" | "2304"))
}

/// Reversing transactions: their successful exchange is a canonical reversal.
pub fn is_reversal(infno: &str) -> bool {
    matches!(base_infno(infno), Some("2208" | "2305"))
}

macro_rules! tx_input {
    ($( $variant:ident($ty:ty) = $infno:literal ),* $(,)?) => {
        /// A decoded transaction input, one variant per transaction.
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)] // a decoded message, built once and read
        pub enum TxInput {
            $( $variant($ty), )*
        }

        impl TxInput {
            /// The base transaction number.
            pub fn infno(&self) -> &'static str {
                match self { $( TxInput::$variant(_) => $infno, )* }
            }

            /// The wire JSON of `input`.
            pub fn encode(&self) -> Value {
                match self { $( TxInput::$variant(x) => x.to_wire(), )* }
            }

            /// The canonical JSON of `input` (amounts in fen).
            pub fn canonical(&self) -> Value {
                match self { $( TxInput::$variant(x) => Value::Object(x.canonical_map()), )* }
            }

            fn decode_as(base: &str, v: &Value, path: &str, errs: &mut Errors) -> Option<TxInput> {
                match base {
                    $( $infno => <$ty>::decode_value(v, path, errs).map(TxInput::$variant), )*
                    _ => None,
                }
            }
        }

        /// The field table of a transaction's input node.
        pub fn input_fields(infno: &str) -> Option<&'static [FieldSpec]> {
            match base_infno(infno)? {
                $( $infno => Some(<$ty>::FIELDS), )*
                _ => None,
            }
        }
    };
}

tx_input! {
    T1101(t1101::In1101) = "1101",
    T2201(t2201::In2201) = "2201",
    T2202(t2202::In2202) = "2202",
    T2204(t2204::In2204) = "2204",
    T2205(t2204::In2205) = "2205",
    T2206(t2206::In2206) = "2206",
    T2207(t2207::In2207) = "2207",
    T2208(t2208::In2208) = "2208",
    T2301(t2301::In2301) = "2301",
    T2302(t2301::In2302) = "2302",
    T2303(t2303::In2303) = "2303",
    T2304(t2304::In2304) = "2304",
    T2305(t2305::In2305) = "2305",
    T2401(t2401::In2401) = "2401",
    T2402(t2402::In2402) = "2402",
    T2601(t2601::In2601) = "2601",
    T3201(t3201::In3201) = "3201",
    T3202(t3202::In3202) = "3202",
    T3203(t3203::In3203) = "3203",
    T4101(t4101::In4101) = "4101",
    T9001(t9001::In9001) = "9001",
    T9002(t9002::In9002) = "9002",
}

/// Decode the `input` of transaction `infno`, collecting every violation with its full path
/// (`input.data.medfee_sumamt`, `input.feedetail[3].pric`).
pub fn decode_input(infno: &str, input: &Value) -> Result<TxInput, NhsaError> {
    decode_input_at(infno, input, "input")
}

pub(crate) fn decode_input_at(
    infno: &str,
    input: &Value,
    path: &str,
) -> Result<TxInput, NhsaError> {
    let Some(base) = base_infno(infno) else {
        return Err(NhsaError::one(
            RuleId::NHSA_ENV_INFNO,
            "infno",
            format!("infno `{infno}` is not a transaction medsettle serves"),
        ));
    };
    let mut errs = Errors::default();
    if !input.is_object() {
        errs.push(
            RuleId::NHSA_ENV_INPUT,
            path,
            "input must be a JSON object with the transaction's nodes (encrypted input is not accepted)",
        );
        return Err(NhsaError::new(errs.violations));
    }
    let decoded = TxInput::decode_as(base, input, path, &mut errs);
    match decoded {
        Some(tx) if errs.is_empty() => Ok(tx),
        _ => Err(NhsaError::new(errs.violations)),
    }
}

/// A decoded transaction output, one variant per output shape.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // a decoded message, built once and read
pub enum TxOutput {
    /// 1101.
    PsnInfo(t1101::Out1101),
    /// 2201.
    Register(t2201::Out2201),
    /// 2204, 2301.
    FeeUpload(t2204::FeeUploadOutput),
    /// 2206, 2207, 2208, 2303, 2304, 2305.
    Settlement(settle::SettleOutput),
    /// 2401.
    Admission(t2401::Out2401),
    /// 3201.
    Statement(t3201::Out3201),
    /// 3202.
    DetailStatement(t3202::Out3202),
    /// 3203.
    ClearingApply(t3203::Out3203),
    /// 4101.
    SettleList(t4101::Out4101),
    /// 9001.
    SignIn(t9001::Out9001),
    /// 9002.
    SignOut(t9002::Out9002),
    /// Transactions without business output (2202, 2205, 2302, 2402, 2601): whatever the
    /// platform sent, kept.
    Empty(Map<String, Value>),
}

/// The output shape of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputShape {
    PsnInfo,
    Register,
    FeeUpload,
    Settlement,
    Admission,
    Statement,
    DetailStatement,
    ClearingApply,
    SettleList,
    SignIn,
    SignOut,
    Empty,
}

pub fn output_shape(infno: &str) -> Option<OutputShape> {
    use OutputShape::*;
    Some(match base_infno(infno)? {
        "1101" => PsnInfo,
        "2201" => Register,
        "2204" | "2301" => FeeUpload,
        "2206" | "2207" | "2208" | "2303" | "2304" | "2305" => Settlement,
        "2401" => Admission,
        "3201" => Statement,
        "3202" => DetailStatement,
        "3203" => ClearingApply,
        "4101" => SettleList,
        "9001" => SignIn,
        "9002" => SignOut,
        _ => Empty,
    })
}

/// The field table of a transaction's output node (`None` for transactions without output).
pub fn output_fields(infno: &str) -> Option<&'static [FieldSpec]> {
    use OutputShape::*;
    Some(match output_shape(infno)? {
        PsnInfo => t1101::Out1101::FIELDS,
        Register => t2201::Out2201::FIELDS,
        FeeUpload => t2204::FeeUploadOutput::FIELDS,
        Settlement => settle::SettleOutput::FIELDS,
        Admission => t2401::Out2401::FIELDS,
        Statement => t3201::Out3201::FIELDS,
        DetailStatement => t3202::Out3202::FIELDS,
        ClearingApply => t3203::Out3203::FIELDS,
        SettleList => t4101::Out4101::FIELDS,
        SignIn => t9001::Out9001::FIELDS,
        SignOut => t9002::Out9002::FIELDS,
        Empty => return None,
    })
}

/// Infer the output shape from the node names, for a response whose request is unknown.
pub fn infer_output_shape(output: &Value) -> Option<OutputShape> {
    use OutputShape::*;
    let m = match output {
        Value::Null => return Some(Empty),
        Value::Object(m) => m,
        _ => return None,
    };
    let has = |k: &str| m.contains_key(k);
    Some(if has("setlinfo") {
        Settlement
    } else if has("baseinfo") {
        PsnInfo
    } else if has("signinoutb") {
        SignIn
    } else if has("signoutoutb") {
        SignOut
    } else if has("stmtinfo") {
        Statement
    } else if has("fileinfo") {
        DetailStatement
    } else if has("setl_list_id") {
        SettleList
    } else if let Some(r) = m.get("result") {
        match r {
            Value::Array(_) => FeeUpload,
            Value::Object(o) if o.contains_key("clr_appy_evt_id") => ClearingApply,
            Value::Object(_) => Admission,
            _ => return None,
        }
    } else if m.get("data").is_some_and(|d| d.get("ipt_otp_no").is_some()) {
        Register
    } else if m.is_empty() {
        Empty
    } else {
        return None;
    })
}

impl TxOutput {
    /// The wire JSON of `output`.
    pub fn encode(&self) -> Value {
        match self {
            TxOutput::PsnInfo(x) => x.to_wire(),
            TxOutput::Register(x) => x.to_wire(),
            TxOutput::FeeUpload(x) => x.to_wire(),
            TxOutput::Settlement(x) => x.to_wire(),
            TxOutput::Admission(x) => x.to_wire(),
            TxOutput::Statement(x) => x.to_wire(),
            TxOutput::DetailStatement(x) => x.to_wire(),
            TxOutput::ClearingApply(x) => x.to_wire(),
            TxOutput::SettleList(x) => x.to_wire(),
            TxOutput::SignIn(x) => x.to_wire(),
            TxOutput::SignOut(x) => x.to_wire(),
            TxOutput::Empty(m) => Value::Object(m.clone()),
        }
    }

    /// The canonical JSON of `output` (amounts in fen).
    pub fn canonical(&self) -> Value {
        Value::Object(match self {
            TxOutput::PsnInfo(x) => x.canonical_map(),
            TxOutput::Register(x) => x.canonical_map(),
            TxOutput::FeeUpload(x) => x.canonical_map(),
            TxOutput::Settlement(x) => x.canonical_map(),
            TxOutput::Admission(x) => x.canonical_map(),
            TxOutput::Statement(x) => x.canonical_map(),
            TxOutput::DetailStatement(x) => x.canonical_map(),
            TxOutput::ClearingApply(x) => x.canonical_map(),
            TxOutput::SettleList(x) => x.canonical_map(),
            TxOutput::SignIn(x) => x.canonical_map(),
            TxOutput::SignOut(x) => x.canonical_map(),
            TxOutput::Empty(m) => m.clone(),
        })
    }
}

/// Decode the `output` of a successful response to transaction `infno`.
pub fn decode_output(infno: &str, output: &Value) -> Result<TxOutput, NhsaError> {
    let Some(shape) = output_shape(infno) else {
        return Err(NhsaError::one(
            RuleId::NHSA_ENV_INFNO,
            "infno",
            format!("infno `{infno}` is not a transaction medsettle serves"),
        ));
    };
    decode_output_at(shape, Some(infno), output, "output")
}

pub(crate) fn decode_output_at(
    shape: OutputShape,
    infno: Option<&str>,
    output: &Value,
    path: &str,
) -> Result<TxOutput, NhsaError> {
    let mut errs = Errors::default();
    if shape == OutputShape::Empty {
        return match output {
            Value::Null => Ok(TxOutput::Empty(Map::new())),
            Value::Object(m) => Ok(TxOutput::Empty(m.clone())),
            _ => Err(NhsaError::one(
                RuleId::FMT_TYPE,
                path,
                "output must be an object or null",
            )),
        };
    }
    if output.is_null() {
        errs.push(
            RuleId::FMT_REQUIRED,
            path,
            "a successful response must carry the transaction's output",
        );
        return Err(NhsaError::new(errs.violations));
    }
    // Some platforms wrap the 4101 id in `data`.
    let unwrapped;
    let output = match (shape, output.get("data")) {
        (OutputShape::SettleList, Some(data)) if output.get("setl_list_id").is_none() => {
            unwrapped = data.clone();
            &unwrapped
        }
        _ => output,
    };
    let decoded = match shape {
        OutputShape::PsnInfo => {
            t1101::Out1101::decode_value(output, path, &mut errs).map(TxOutput::PsnInfo)
        }
        OutputShape::Register => {
            t2201::Out2201::decode_value(output, path, &mut errs).map(TxOutput::Register)
        }
        OutputShape::FeeUpload => {
            t2204::FeeUploadOutput::decode_value(output, path, &mut errs).map(TxOutput::FeeUpload)
        }
        OutputShape::Settlement => {
            let out = settle::SettleOutput::decode_value(output, path, &mut errs);
            if infno.is_some_and(|i| is_settlement(i) || is_reversal(i)) {
                require_settled(output, path, &mut errs);
            }
            out.map(TxOutput::Settlement)
        }
        OutputShape::Admission => {
            t2401::Out2401::decode_value(output, path, &mut errs).map(TxOutput::Admission)
        }
        OutputShape::Statement => {
            t3201::Out3201::decode_value(output, path, &mut errs).map(TxOutput::Statement)
        }
        OutputShape::DetailStatement => {
            t3202::Out3202::decode_value(output, path, &mut errs).map(TxOutput::DetailStatement)
        }
        OutputShape::ClearingApply => {
            t3203::Out3203::decode_value(output, path, &mut errs).map(TxOutput::ClearingApply)
        }
        OutputShape::SettleList => {
            t4101::Out4101::decode_value(output, path, &mut errs).map(TxOutput::SettleList)
        }
        OutputShape::SignIn => {
            t9001::Out9001::decode_value(output, path, &mut errs).map(TxOutput::SignIn)
        }
        OutputShape::SignOut => {
            t9002::Out9002::decode_value(output, path, &mut errs).map(TxOutput::SignOut)
        }
        OutputShape::Empty => unreachable!("handled above"),
    };
    match decoded {
        Some(out) if errs.is_empty() => Ok(out),
        _ => Err(NhsaError::new(errs.violations)),
    }
}

/// The `setlinfo` fields a settling transaction must return (pre-settlement need not).
fn require_settled(output: &Value, path: &str, errs: &mut Errors) {
    let Some(Value::Object(setlinfo)) = output.get("setlinfo") else {
        return; // reported by the decoder
    };
    let base = join(path, "setlinfo");
    for name in settle::SETTLED_REQUIRED {
        let absent = match setlinfo.get(*name) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if absent {
            errs.push(
                RuleId::FMT_REQUIRED,
                join(&base, name),
                format!("{name} is required in the result of a settlement or reversal"),
            );
        }
    }
}
