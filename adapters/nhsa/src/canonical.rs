//! [`to_canonical`]: any national message or exchange → canonical JSON.
//!
//! The bytes are auto-detected: an object with `request` and `response` is an exchange, one
//! with `infno` a request, one with `infcode` a response.

use medsettle_canonical::money::div_round_half_away;
use medsettle_canonical::{IdentityPolicy, Money, RuleId, SettledClaim, Violation};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::envelope::{DecodeLimits, RequestEnvelope, ResponseEnvelope, parse_object};
use crate::error::NhsaError;
use crate::field::{Record, Repair, RepairKind, Tolerance, join};
use crate::settlement::claim_from_exchange;
use crate::tx::t2204::FeeUploadOutput;
use crate::tx::{
    TxInput, TxOutput, decode_input_at, decode_output_at, infer_output_shape, is_reversal,
    is_settlement, output_shape,
};

/// How [`to_canonical`] decodes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    pub limits: DecodeLimits,
    /// Which identities only warn (default: all enforced).
    pub identity_policy: IdentityPolicy,
    /// The transaction a lone response answers (a response does not carry its infno). When
    /// absent the output shape is inferred from its node names and `infno` is `null`; an
    /// output whose nodes are not exactly a served transaction's is refused as not served.
    pub infno: Option<String>,
    /// What is tolerated of provincial shapes (`mdtrt_cert_no_max`, …). Placeholder array
    /// elements are always tolerated in answers, never in requests.
    pub tolerance: Tolerance,
}

/// A decoded message with the repairs applied to provincial shapes on the way
/// (`specs/nhsa-interface.md` §8). Its JSON is the canonical JSON plus, when anything was
/// repaired, `"repairs": [{"repair", "path", "detail"}, …]` and, for a claim whose amounts
/// were derived, `"derived": ["psn_part_amt", …]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub canonical: Canonical,
    pub repairs: Vec<Repair>,
}

impl Decoded {
    /// The names of the amounts derived from the identities.
    pub fn derived_fields(&self) -> Vec<String> {
        self.repairs
            .iter()
            .filter(|r| r.repair == RepairKind::Derived)
            .map(|r| r.path.rsplit('.').next().unwrap_or(&r.path).to_owned())
            .collect()
    }

    /// The canonical JSON with the repairs recorded.
    pub fn to_json(&self) -> Value {
        let mut v = self.canonical.to_json();
        if let Value::Object(m) = &mut v
            && !self.repairs.is_empty()
        {
            let derived = self.derived_fields();
            if !derived.is_empty() && matches!(self.canonical, Canonical::Claim(_)) {
                m.insert("derived".into(), derived.into());
            }
            m.insert(
                "repairs".into(),
                serde_json::to_value(&self.repairs).expect("repairs serialize"),
            );
        }
        v
    }
}

impl Serialize for Decoded {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// Why a decoded exchange is not a settled claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeOutcome {
    /// The response is a failure (`infcode` ≠ 0).
    Failed,
    /// The transaction does not settle or reverse a claim (2206, 2301, 9001, …).
    NotSettlement,
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq)]
pub struct CanonicalRequest {
    pub envelope: RequestEnvelope,
    pub input: TxInput,
}

/// A decoded response. `output` is typed for a success whose transaction is known or
/// inferable; a failure keeps its raw output, if any, in `envelope.output`.
#[derive(Debug, Clone, PartialEq)]
pub struct CanonicalResponse {
    pub infno: Option<String>,
    pub envelope: ResponseEnvelope,
    pub output: Option<TxOutput>,
}

/// What [`to_canonical`] produces.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // a decoded message, built once and read
pub enum Canonical {
    /// A successful 2207/2304 (settlement) or 2208/2305 (reversal) exchange.
    Claim(SettledClaim),
    Request(CanonicalRequest),
    Response(CanonicalResponse),
    /// An exchange that does not settle a claim.
    Exchange {
        outcome: ExchangeOutcome,
        request: CanonicalRequest,
        response: CanonicalResponse,
    },
}

impl CanonicalRequest {
    pub fn to_json(&self) -> Value {
        let mut env = self.envelope.canonical_map();
        env.remove("infno");
        env.remove("input");
        let mut m = Map::new();
        m.insert("kind".into(), "request".into());
        m.insert("infno".into(), self.envelope.infno.clone().into());
        m.extend(env);
        m.insert("input".into(), self.input.canonical());
        Value::Object(m)
    }
}

impl CanonicalResponse {
    pub fn to_json(&self) -> Value {
        let mut env = self.envelope.canonical_map();
        env.remove("output");
        let mut m = Map::new();
        m.insert("kind".into(), "response".into());
        m.insert(
            "infno".into(),
            self.infno.clone().map_or(Value::Null, Value::String),
        );
        m.extend(env);
        let output = match &self.output {
            Some(o) => o.canonical(),
            None => self.envelope.output_value(),
        };
        m.insert("output".into(), output);
        Value::Object(m)
    }
}

impl Canonical {
    /// The canonical JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Canonical::Claim(c) => serde_json::to_value(c).expect("a claim serializes"),
            Canonical::Request(r) => r.to_json(),
            Canonical::Response(r) => r.to_json(),
            Canonical::Exchange {
                outcome,
                request,
                response,
            } => {
                let mut m = Map::new();
                m.insert("kind".into(), "exchange".into());
                m.insert(
                    "outcome".into(),
                    serde_json::to_value(outcome).expect("an outcome serializes"),
                );
                m.insert("infno".into(), request.envelope.infno.clone().into());
                m.insert("infcode".into(), response.envelope.infcode.0.into());
                if let Some(e) = &response.envelope.err_msg {
                    m.insert("err_msg".into(), e.clone().into());
                }
                m.insert("request".into(), request.to_json());
                m.insert("response".into(), response.to_json());
                Value::Object(m)
            }
        }
    }

    /// Pretty canonical JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.to_json()).expect("a JSON value serializes")
    }

    pub fn claim(&self) -> Option<&SettledClaim> {
        match self {
            Canonical::Claim(c) => Some(c),
            _ => None,
        }
    }
}

impl Serialize for Canonical {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// Decode a request, a response or an exchange (auto-detected) into its canonical form.
/// The repairs applied on the way are not returned: [`decode`] returns them too.
pub fn to_canonical(bytes: &[u8], opts: &Options) -> Result<Canonical, NhsaError> {
    decode(bytes, opts).map(|d| d.canonical)
}

/// [`to_canonical`] with the repairs of provincial shapes it applied.
pub fn decode(bytes: &[u8], opts: &Options) -> Result<Decoded, NhsaError> {
    let map = parse_object(bytes, &opts.limits)?;
    let mut repairs = Vec::new();
    let canonical = if map.contains_key("request") && map.contains_key("response") {
        decode_exchange(&map, opts, &mut repairs)
    } else if map.contains_key("infno") {
        decode_request(&map, "", opts.tolerance, &mut repairs).map(Canonical::Request)
    } else if map.contains_key("infcode") {
        decode_response(&map, opts.infno.as_deref(), "", opts, &mut repairs)
            .map(Canonical::Response)
    } else {
        Err(NhsaError::one(
            RuleId::NHSA_ENV_INFNO,
            "infno",
            "not a national-interface message: no infno (request), infcode (response) or request+response (exchange)",
        ))
    }?;
    Ok(Decoded { canonical, repairs })
}

fn decode_request(
    map: &Map<String, Value>,
    path: &str,
    tolerance: Tolerance,
    repairs: &mut Vec<Repair>,
) -> Result<CanonicalRequest, NhsaError> {
    // envelope and input violations are reported together
    let envelope = if tolerance.gateway_made_msgid {
        RequestEnvelope::from_map_gateway_made(map, path)
    } else {
        RequestEnvelope::from_map(map, path)
    };
    let envelope = envelope.and_then(|e| {
        match crate::plausible::check_sender_region(&e.fixmedins_code, &e.mdtrtarea_admvs, path) {
            Some(v) => Err(NhsaError::new(vec![v])),
            None => Ok(e),
        }
    });
    let infno = map.get("infno").and_then(Value::as_str).unwrap_or_default();
    let input = map
        .get("input")
        .filter(|v| v.is_object())
        .map(|v| decode_input_at(infno, v, &join(path, "input"), tolerance));
    match (envelope, input) {
        (Ok(envelope), Some(Ok((input, fixed)))) => {
            repairs.extend(fixed);
            Ok(CanonicalRequest { envelope, input })
        }
        (env, input) => {
            let mut v = Vec::new();
            if let Err(e) = env {
                v.extend(e.violations);
            }
            if let Some(Err(e)) = input {
                // an unknown infno is reported once, at the envelope
                for x in e.violations {
                    let x = if x.rule == RuleId::NHSA_ENV_INFNO {
                        Violation {
                            path: join(path, "infno"),
                            ..x
                        }
                    } else {
                        x
                    };
                    if !v.contains(&x) {
                        v.push(x);
                    }
                }
            }
            Err(NhsaError::new(v))
        }
    }
}

fn decode_response(
    map: &Map<String, Value>,
    infno: Option<&str>,
    path: &str,
    opts: &Options,
    repairs: &mut Vec<Repair>,
) -> Result<CanonicalResponse, NhsaError> {
    let policy = &opts.identity_policy;
    let envelope = ResponseEnvelope::from_map(map, path)?;
    if !envelope.is_success() {
        return Ok(CanonicalResponse {
            infno: infno.map(str::to_owned),
            envelope,
            output: None,
        });
    }
    let raw = envelope.output_value();
    let shape = match infno {
        Some(i) => output_shape(i).ok_or_else(|| {
            NhsaError::one(
                RuleId::NHSA_ENV_INFNO,
                "infno",
                format!("infno `{i}` is not a transaction medsettle serves"),
            )
        })?,
        None => infer_output_shape(&raw).ok_or_else(|| {
            let nodes = match &raw {
                Value::Object(m) => m.keys().cloned().collect::<Vec<_>>().join(", "),
                _ => String::new(),
            };
            NhsaError::one(
                RuleId::NHSA_ENV_INFNO,
                join(path, "output"),
                format!(
                    "transaction not served: the output's nodes ({nodes}) are not those of a transaction medsettle serves; name the transaction (infno) if it is one"
                ),
            )
        })?,
    };
    let (output, fixed) =
        decode_output_at(shape, infno, &raw, &join(path, "output"), opts.tolerance)?;
    repairs.extend(fixed);
    if let TxOutput::FeeUpload(fees) = &output {
        let v = check_fee_lines(fees, &join(path, "output"));
        let errors: Vec<_> = v
            .into_iter()
            .filter(|x| !policy.is_warn_only(x.rule))
            .collect();
        if !errors.is_empty() {
            return Err(NhsaError::new(errors));
        }
    }
    Ok(CanonicalResponse {
        infno: infno.map(str::to_owned),
        envelope,
        output: Some(output),
    })
}

fn decode_exchange(
    map: &Map<String, Value>,
    opts: &Options,
    repairs: &mut Vec<Repair>,
) -> Result<Canonical, NhsaError> {
    let mut violations = Vec::new();
    let obj = |name: &str, v: &mut Vec<Violation>| match map.get(name) {
        Some(Value::Object(m)) => Some(m.clone()),
        _ => {
            v.push(Violation::new(
                RuleId::NHSA_ENV_EXCHANGE,
                name,
                format!("an exchange's {name} must be a JSON object"),
            ));
            None
        }
    };
    let req_map = obj("request", &mut violations);
    let resp_map = obj("response", &mut violations);
    let (Some(req_map), Some(resp_map)) = (req_map, resp_map) else {
        return Err(NhsaError::new(violations));
    };
    let request = decode_request(&req_map, "request", opts.tolerance, repairs);
    let infno = req_map.get("infno").and_then(Value::as_str);
    // the response is typed by the request's infno when that is a known transaction
    let infno = infno.filter(|i| output_shape(i).is_some());
    let response = decode_response(&resp_map, infno, "response", opts, repairs);
    let (request, response) = match (request, response) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            if let Err(e) = a {
                violations.extend(e.violations);
            }
            if let Err(e) = b {
                violations.extend(e.violations);
            }
            return Err(NhsaError::new(violations));
        }
    };
    if !response.envelope.is_success() {
        return Ok(Canonical::Exchange {
            outcome: ExchangeOutcome::Failed,
            request,
            response,
        });
    }
    let infno = request.envelope.infno.as_str();
    if !(is_settlement(infno) || is_reversal(infno)) {
        return Ok(Canonical::Exchange {
            outcome: ExchangeOutcome::NotSettlement,
            request,
            response,
        });
    }
    let Some(TxOutput::Settlement(out)) = &response.output else {
        unreachable!("a successful settling response decodes to a settlement output");
    };
    claim_from_exchange(
        &request.envelope,
        &request.input,
        out,
        &opts.identity_policy,
    )
    .map(Canonical::Claim)
}

/// `NHSA-ID-8` on the result lines of 2204/2301: `det_item_fee_sumamt = cnt × pric`
/// (rounded half up to the fen) and, when the platform returns all four parts,
/// `= fulamt_ownpay_amt + overlmt_amt + preselfpay_amt + inscp_scp_amt`.
pub fn check_fee_lines(out: &FeeUploadOutput, path: &str) -> Vec<Violation> {
    let mut v = Vec::new();
    for (i, line) in out.result.iter().enumerate() {
        let at = format!("{}[{i}]", join(path, "result"));
        // cnt (1e-4) × pric (1e-6) = 1e-10 yuan; fen = 1e-2 yuan
        let product = i128::from(line.cnt.units()) * i128::from(line.pric.units());
        let fen = div_round_half_away(product, 100_000_000);
        if fen != i128::from(line.det_item_fee_sumamt.fen()) {
            v.push(Violation::new(
                RuleId::NHSA_ID_8,
                join(&at, "det_item_fee_sumamt"),
                format!(
                    "det_item_fee_sumamt {} ≠ cnt {} × pric {} (= {} rounded to the fen)",
                    line.det_item_fee_sumamt,
                    line.cnt,
                    line.pric,
                    Money::from_fen(i64::try_from(fen).unwrap_or(i64::MAX))
                ),
            ));
        }
        if let (Some(a), Some(b), Some(c), Some(d)) = (
            line.fulamt_ownpay_amt,
            line.overlmt_amt,
            line.preselfpay_amt,
            line.inscp_scp_amt,
        ) && a + b + c + d != line.det_item_fee_sumamt
        {
            v.push(Violation::new(
                    RuleId::NHSA_ID_8,
                    join(&at, "det_item_fee_sumamt"),
                    format!(
                        "det_item_fee_sumamt {} ≠ fulamt_ownpay_amt + overlmt_amt + preselfpay_amt + inscp_scp_amt = {}",
                        line.det_item_fee_sumamt,
                        a + b + c + d
                    ),
                ));
        }
    }
    v
}
