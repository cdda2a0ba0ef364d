//! The transactions: a module per transaction, typed input and output nodes with national
//! field names, and the dispatch by `infno`.

pub mod infno;
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
pub mod t3260;
pub mod t3261;
pub mod t3262;
pub mod t4101;
pub mod t9001;
pub mod t9002;

use medsettle_canonical::{ClaimKind, RuleId};
use serde_json::{Map, Value};

use crate::error::NhsaError;
use crate::field::{Errors, FieldKind, FieldSpec, Record, Repair, Tolerance, join};

pub use infno::{INFNO_COUNT, Infno};

/// The base transaction of `infno` (`2207A` → `2207`), if medsettle decodes it.
pub fn base_infno(infno: &str) -> Option<&'static str> {
    decoded_base(infno).map(Infno::as_str)
}

/// The base of `infno` if the adapter decodes it ([`Infno::is_decoded`]).
fn decoded_base(infno: &str) -> Option<Infno> {
    Infno::parse(infno)
        .filter(|i| i.is_decoded())
        .map(Infno::base)
}

/// The canonical claim a successful exchange of `infno` makes ([`Infno::claim_kind`]).
pub fn claim_kind(infno: &str) -> Option<ClaimKind> {
    Infno::parse(infno).and_then(Infno::claim_kind)
}

/// Settling transactions: their successful exchange is a canonical settled claim.
pub fn is_settlement(infno: &str) -> bool {
    claim_kind(infno) == Some(ClaimKind::Settlement)
}

/// Reversing transactions: their successful exchange is a canonical reversal.
pub fn is_reversal(infno: &str) -> bool {
    claim_kind(infno) == Some(ClaimKind::Reversal)
}

/// One variant per decoded transaction, named as its [`Infno`] (`TxInput::T2207` decodes
/// `Infno::T2207` and its letter variant 2207A).
macro_rules! tx_input {
    ($( $variant:ident($ty:ty) ),* $(,)?) => {
        /// A decoded transaction input, one variant per transaction.
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)] // a decoded message, built once and read
        pub enum TxInput {
            $( $variant($ty), )*
        }

        impl TxInput {
            /// The base transaction.
            pub fn transaction(&self) -> Infno {
                match self { $( TxInput::$variant(_) => Infno::$variant, )* }
            }

            /// The base transaction number.
            pub fn infno(&self) -> &'static str {
                self.transaction().as_str()
            }

            /// The wire JSON of `input`.
            pub fn encode(&self) -> Value {
                match self { $( TxInput::$variant(x) => x.to_wire(), )* }
            }

            /// The canonical JSON of `input` (amounts in fen).
            pub fn canonical(&self) -> Value {
                match self { $( TxInput::$variant(x) => Value::Object(x.canonical_map()), )* }
            }

            fn decode_as(base: Infno, v: &Value, path: &str, errs: &mut Errors) -> Option<TxInput> {
                match base {
                    $( Infno::$variant => <$ty>::decode_value(v, path, errs).map(TxInput::$variant), )*
                    _ => None,
                }
            }
        }

        /// The field table of a base transaction's input node, if the adapter decodes it.
        fn input_fields_of(base: Infno) -> Option<&'static [FieldSpec]> {
            match base {
                $( Infno::$variant => Some(<$ty>::FIELDS), )*
                _ => None,
            }
        }
    };
}

tx_input! {
    T1101(t1101::In1101),
    T2201(t2201::In2201),
    T2202(t2202::In2202),
    T2204(t2204::In2204),
    T2205(t2204::In2205),
    T2206(t2206::In2206),
    T2207(t2207::In2207),
    T2208(t2208::In2208),
    T2301(t2301::In2301),
    T2302(t2301::In2302),
    T2303(t2303::In2303),
    T2304(t2304::In2304),
    T2305(t2305::In2305),
    T2401(t2401::In2401),
    T2402(t2402::In2402),
    T2601(t2601::In2601),
    T3201(t3201::In3201),
    T3202(t3202::In3202),
    T3203(t3203::In3203),
    T3260(t3260::In3260),
    T3261(t3261::In3261),
    T3262(t3262::In3262),
    T4101(t4101::In4101),
    T9001(t9001::In9001),
    T9002(t9002::In9002),
}

/// Decode the `input` of transaction `infno`, collecting every violation with its full path
/// (`input.data.medfee_sumamt`, `input.feedetail[3].pric`).
pub fn decode_input(infno: &str, input: &Value) -> Result<TxInput, NhsaError> {
    decode_input_at(infno, input, "input", Tolerance::default()).map(|(tx, _)| tx)
}

/// The field table of a transaction's input node (`None` if the adapter does not decode it).
pub fn input_fields(infno: &str) -> Option<&'static [FieldSpec]> {
    input_fields_of(decoded_base(infno)?)
}

pub(crate) fn decode_input_at(
    infno: &str,
    input: &Value,
    path: &str,
    tolerance: Tolerance,
) -> Result<(TxInput, Vec<Repair>), NhsaError> {
    let Some(base) = decoded_base(infno) else {
        return Err(NhsaError::one(
            RuleId::NHSA_ENV_INFNO,
            "infno",
            format!("infno `{infno}` is not a transaction medsettle serves"),
        ));
    };
    let mut errs = Errors::with_tolerance(tolerance);
    if !input.is_object() {
        errs.push(
            RuleId::NHSA_ENV_INPUT,
            path,
            "input must be a JSON object with the transaction's nodes (encrypted input is not accepted)",
        );
        return Err(NhsaError::new(errs.violations));
    }
    // 3262 as two public clients send it: its fields directly in `input` (t3262).
    let without_node = base == Infno::T3262 && t3262::is_without_node(input);
    let decoded = if without_node {
        t3262::decode_without_node(input, path, &mut errs).map(TxInput::T3262)
    } else {
        TxInput::decode_as(base, input, path, &mut errs)
    };
    let fields = if without_node {
        Some(t3262::Data3262::FIELDS)
    } else {
        input_fields_of(base)
    };
    if decoded.is_some()
        && errs.is_empty()
        && let Some(fields) = fields
    {
        let settles = matches!(
            base.base(),
            Infno::T2206 | Infno::T2207 | Infno::T2303 | Infno::T2304
        );
        errs.violations
            .extend(crate::plausible::check_input(settles, input, fields, path));
    }
    if let Some(tx) = &decoded {
        check_across_nodes(tx, path, &mut errs);
    }
    match decoded {
        Some(tx) if errs.is_empty() => Ok((tx, errs.repairs)),
        _ => Err(NhsaError::new(errs.violations)),
    }
}

/// The rules of a decoded input that span its fields or nodes (3261: at least one line, and
/// `totalrow` counts them); field by field rules are the decoders'.
fn check_across_nodes(tx: &TxInput, path: &str, errs: &mut Errors) {
    if let TxInput::T3261(x) = tx {
        x.check(path, errs);
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
    /// 3260.
    ClearingDetail(t3260::Out3260),
    /// 3261.
    ClearingConfirm(t3261::Out3261),
    /// 4101.
    SettleList(t4101::Out4101),
    /// 9001.
    SignIn(t9001::Out9001),
    /// 9002.
    SignOut(t9002::Out9002),
    /// Transactions without business output (2202, 2205, 2302, 2402, 2601, 3262): whatever
    /// the platform sent, kept.
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
    ClearingDetail,
    ClearingConfirm,
    SettleList,
    SignIn,
    SignOut,
    Empty,
}

/// The output shape of a decoded transaction (`None` if the adapter does not decode it).
pub fn output_shape(infno: &str) -> Option<OutputShape> {
    use OutputShape::*;
    Some(match decoded_base(infno)? {
        Infno::T1101 => PsnInfo,
        Infno::T2201 => Register,
        Infno::T2204 | Infno::T2301 => FeeUpload,
        Infno::T2206 | Infno::T2207 | Infno::T2208 | Infno::T2303 | Infno::T2304 | Infno::T2305 => {
            Settlement
        }
        Infno::T2401 => Admission,
        Infno::T3201 => Statement,
        Infno::T3202 => DetailStatement,
        Infno::T3203 => ClearingApply,
        Infno::T3260 => ClearingDetail,
        Infno::T3261 => ClearingConfirm,
        Infno::T4101 => SettleList,
        Infno::T9001 => SignIn,
        Infno::T9002 => SignOut,
        _ => Empty,
    })
}

/// The field table of a transaction's output node (`None` for transactions without output).
pub fn output_fields(infno: &str) -> Option<&'static [FieldSpec]> {
    output_fields_of_shape(output_shape(infno)?)
}

/// Infer the output shape from the node names, for a response whose request is unknown.
///
/// A shape is inferred only when the output has exactly that shape's nodes: every node is one
/// of its table's, and its required nodes are there as objects (arrays: an array or a single
/// object). Anything else (`setlinfo` as an array, a query answer with `setlinfo` and
/// `feesttinfo`, …) is a transaction medsettle does not serve: `None`.
pub fn infer_output_shape(output: &Value) -> Option<OutputShape> {
    let shape = guess_output_shape(output)?;
    let (Value::Object(m), Some(fields)) = (output, output_fields_of_shape(shape)) else {
        return Some(shape);
    };
    // 4101 answers may wrap the id in `data`.
    let m = match (shape, m.get("data")) {
        (OutputShape::SettleList, Some(Value::Object(d))) if !m.contains_key("setl_list_id") => d,
        _ => m,
    };
    let known = m
        .keys()
        .all(|k| fields.iter().any(|f| f.name == k.as_str()));
    let required = fields
        .iter()
        .filter(|f| f.required)
        .all(|f| match (f.kind, m.get(f.name)) {
            (FieldKind::Object(_), Some(v)) => v.is_object(),
            (FieldKind::Array(_), Some(v)) => v.is_array() || v.is_object(),
            (_, Some(v)) => !v.is_null(),
            (_, None) => false,
        });
    (known && required).then_some(shape)
}

fn output_fields_of_shape(shape: OutputShape) -> Option<&'static [FieldSpec]> {
    use OutputShape::*;
    Some(match shape {
        PsnInfo => t1101::Out1101::FIELDS,
        Register => t2201::Out2201::FIELDS,
        FeeUpload => t2204::FeeUploadOutput::FIELDS,
        Settlement => settle::SettleOutput::FIELDS,
        Admission => t2401::Out2401::FIELDS,
        Statement => t3201::Out3201::FIELDS,
        DetailStatement => t3202::Out3202::FIELDS,
        ClearingApply => t3203::Out3203::FIELDS,
        ClearingDetail => t3260::Out3260::FIELDS,
        ClearingConfirm => t3261::Out3261::FIELDS,
        SettleList => t4101::Out4101::FIELDS,
        SignIn => t9001::Out9001::FIELDS,
        SignOut => t9002::Out9002::FIELDS,
        Empty => return None,
    })
}

/// The shape the node names point to.
fn guess_output_shape(output: &Value) -> Option<OutputShape> {
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
            Value::Object(o) if o.contains_key("otransid") => ClearingConfirm,
            Value::Object(_) => Admission,
            _ => return None,
        }
    } else if m.get("data").is_some_and(|d| d.get("ipt_otp_no").is_some()) {
        Register
    } else if m.get("data").is_some_and(Value::is_array) {
        ClearingDetail
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
            TxOutput::ClearingDetail(x) => x.to_wire(),
            TxOutput::ClearingConfirm(x) => x.to_wire(),
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
            TxOutput::ClearingDetail(x) => x.canonical_map(),
            TxOutput::ClearingConfirm(x) => x.canonical_map(),
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
    decode_output_at(shape, Some(infno), output, "output", Tolerance::default()).map(|(o, _)| o)
}

pub(crate) fn decode_output_at(
    shape: OutputShape,
    infno: Option<&str>,
    output: &Value,
    path: &str,
    tolerance: Tolerance,
) -> Result<(TxOutput, Vec<Repair>), NhsaError> {
    let mut errs = Errors::with_tolerance(tolerance.for_answers());
    errs.answer = true;
    if shape == OutputShape::Empty {
        return match output {
            Value::Null => Ok((TxOutput::Empty(Map::new()), Vec::new())),
            Value::Object(m) => Ok((TxOutput::Empty(m.clone()), Vec::new())),
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
            let mut out = settle::SettleOutput::decode_value(output, path, &mut errs);
            if let Some(out) = &mut out {
                settle::derive_parts(out, path, &mut errs);
            }
            if infno.is_some_and(|i| is_settlement(i) || is_reversal(i)) {
                require_settled(output, out.as_ref(), path, &mut errs);
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
        OutputShape::ClearingDetail => {
            t3260::Out3260::decode_value(output, path, &mut errs).map(TxOutput::ClearingDetail)
        }
        OutputShape::ClearingConfirm => {
            t3261::Out3261::decode_value(output, path, &mut errs).map(TxOutput::ClearingConfirm)
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
        Some(out) if errs.is_empty() => Ok((out, errs.repairs)),
        _ => Err(NhsaError::new(errs.violations)),
    }
}

/// The `setlinfo` fields a settling transaction must return (pre-settlement need not). A
/// `null` part that [`settle::derive_parts`] derived from the identities is not missing.
fn require_settled(
    output: &Value,
    decoded: Option<&settle::SettleOutput>,
    path: &str,
    errs: &mut Errors,
) {
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
        let derived = decoded.is_some_and(|d| d.setlinfo.amount(name).is_some());
        if absent && !derived {
            errs.push(
                RuleId::FMT_REQUIRED,
                join(&base, name),
                format!("{name} is required in the result of a settlement or reversal"),
            );
        }
    }
}
