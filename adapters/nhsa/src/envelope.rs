//! The envelope of every request and response (`nhsa-interface.md` §1.1, §1.2).
//!
//! Strict: the required fields, their lengths, `inf_time`, region codes and the `msgid`
//! layout. Tolerated: unknown top-level keys (kept for relay), `null` for optional fields,
//! `infcode` as number or string.

use medsettle_canonical::{Admdvs, RuleId};
use serde_json::{Map, Value};
use time::PrimitiveDateTime;

use crate::error::NhsaError;
use crate::field::kinds::*;
use crate::field::{Errors, FieldPath, FieldSpec, FieldValue, Record, Wire, number};
use crate::json::{ParseError, parse_value};
use crate::record;
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Default of [`DecodeLimits::json_depth_max`]: an envelope nests about 5 levels
/// (envelope → input → feedetail → line → exp_content), so 32 leaves room for provincial
/// extensions and refuses hostile nesting long before serde_json's recursion limit.
pub const JSON_DEPTH_MAX_DEFAULT: usize = 32;

/// Limits applied before and while parsing; configurable by the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Deepest nesting of arrays and objects accepted (the top-level object is depth 1).
    pub json_depth_max: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            json_depth_max: JSON_DEPTH_MAX_DEFAULT,
        }
    }
}

/// Check the nesting depth of JSON text without parsing it (strings and escapes skipped).
/// Linear in the input; `FMT-DEPTH` names the limit.
pub fn check_depth(bytes: &[u8], limits: &DecodeLimits) -> Result<(), NhsaError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limits.json_depth_max {
                    return Err(NhsaError::one(
                        RuleId::FMT_DEPTH,
                        "",
                        format!(
                            "the message nests deeper than json_depth_max = {}",
                            limits.json_depth_max
                        ),
                    ));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parse a message body into a JSON object: depth limit first, then UTF-8, then JSON, in which
/// no object may name a key twice (`FMT-DUPLICATE-KEY`, path of the second one).
pub fn parse_object(bytes: &[u8], limits: &DecodeLimits) -> Result<Map<String, Value>, NhsaError> {
    check_depth(bytes, limits)?;
    let text = std::str::from_utf8(bytes).map_err(|e| {
        NhsaError::one(
            RuleId::FMT_ENCODING,
            "",
            format!("the body is not valid UTF-8 (byte {})", e.valid_up_to()),
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match parse_value(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(NhsaError::one(
            RuleId::FMT_JSON,
            "",
            "the body must be a JSON object",
        )),
        Err(ParseError::Json(e)) => Err(NhsaError::one(
            RuleId::FMT_JSON,
            "",
            format!("the body is not well-formed JSON: {e}"),
        )),
        Err(ParseError::DuplicateKey { path, key }) => Err(NhsaError::one(
            RuleId::FMT_DUPLICATE_KEY,
            path,
            format!(
                "duplicate key `{key}` (键重复): an object names it twice; each field may appear once"
            ),
        )),
    }
}

record! {
    /// The request envelope (§1.1). `input` stays raw JSON until [`decode_input`](crate::decode_input)
    /// types it for the transaction.
    pub struct RequestEnvelope {
        infno: req String = char(6), "交易编号", "transaction number";
        msgid: req String = char(30), "发送方报文ID", "sender message id = fixmedins_code + yyyyMMddHHmmss + 4 digits";
        mdtrtarea_admvs: req Admdvs = ADMDVS, "就医地医保区划", "region of the place of treatment";
        insuplc_admdvs: opt Admdvs = ADMDVS, "参保地医保区划", "insured region (required when input names a psn_no)";
        recer_sys_code: req String = char(10), "接收方系统代码", "receiver system code (free text)";
        dev_no: opt String = char(100), "设备编号", "device number";
        dev_safe_info: opt String = char(2000), "设备安全信息", "device security information";
        cainfo: opt String = char(1024), "数字签名信息", "signature";
        signtype: opt String = char(10), "签名类型", "signature type (SM2, MOCK, empty)";
        infver: req String = char(6), "接口版本号", "interface version";
        opter_type: req String = char(3), "经办人类别", "operator type: 1 staff, 2 kiosk, 3 mobile";
        opter: req String = char(30), "经办人", "operator id";
        opter_name: req String = char(50), "经办人姓名", "operator name";
        inf_time: req PrimitiveDateTime = DATETIME, "交易时间", "transaction time";
        fixmedins_code: req String = char(30), "定点医药机构编号", "institution code";
        fixmedins_name: req String = char(200), "定点医药机构名称", "institution name";
        sign_no: opt String = char(30), "交易签到流水号", "sign-in number from 9001";
        input: req Value = JSON, "交易输入", "transaction input (an object)";
    }
}

/// Initial capacity of an answer's bytes (a settlement answer is ~1.5 KiB).
const ANSWER_BYTES_HINT: usize = 2048;

record! {
    /// The response envelope (§1.2). `output` stays raw JSON until
    /// [`decode_output`](crate::decode_output) types it.
    pub struct ResponseEnvelope {
        infcode: req Infcode = num(4, 0), "交易状态码", "0 success, negative failure (number or text)";
        inf_refmsgid: opt String = char(30), "接收方报文ID", "receiver message id";
        refmsg_time: opt String = char(17), "接收报文时间", "time received yyyyMMddHHmmssSSS";
        respond_time: opt String = char(17), "响应报文时间", "time answered yyyyMMddHHmmssSSS";
        err_msg: opt String = TEXT, "错误信息", "error text (null, empty or 成功 on success)";
        warn_msg: opt String = TEXT, "警告信息", "warning text";
        cainfo: opt String = TEXT, "数字签名信息", "signature";
        signtype: opt String = char(10), "签名类型", "signature type";
        enctype: opt String = char(10), "加密方式", "encryption type";
        output: opt Value = JSON, "交易输出", "transaction output (an object)";
    }
}

/// `infcode`: `0` success, negative failure; sent as number or text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Infcode(pub i64);

impl Infcode {
    pub const SUCCESS: Infcode = Infcode(0);
    pub const FAILURE: Infcode = Infcode(-1);

    pub fn is_success(self) -> bool {
        self.0 == 0
    }
}

impl FieldValue for Infcode {
    fn decode(v: &Value, path: FieldPath<'_>, spec: &FieldSpec, errs: &mut Errors) -> Option<Self> {
        let text = match v {
            Value::Number(n) => n.as_str().to_owned(),
            Value::String(s) => s.trim().to_owned(),
            _ => {
                errs.push(
                    RuleId::FMT_TYPE,
                    path,
                    format!("{} must be a number or text", spec.name),
                );
                return None;
            }
        };
        match text.parse::<i64>() {
            Ok(code) if code <= 0 && code > -10_000 => Some(Infcode(code)),
            _ => {
                errs.push(
                    RuleId::NHSA_ENV_INFCODE,
                    path,
                    format!("infcode `{text}` is neither 0 (success) nor a negative failure code"),
                );
                None
            }
        }
    }

    fn encode(&self, _: &FieldSpec) -> Value {
        number(&self.0.to_string())
    }

    fn canonical(&self) -> Value {
        Value::from(self.0)
    }
}

/// Which `msgid` layout an envelope's decoder checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MsgidLayout {
    /// `fixmedins_code` + `yyyyMMddHHmmss` + 4 digits (§1.1).
    National,
    /// A key the gateway made for a call of another dialect (length only).
    GatewayMade,
}

/// Whether `msgid` is `fixmedins_code` + `yyyyMMddHHmmss` (a real time) + 4 digits.
pub fn check_msgid(msgid: &str, fixmedins_code: &str) -> Result<(), String> {
    let Some(rest) = msgid.strip_prefix(fixmedins_code) else {
        return Err(format!(
            "msgid `{msgid}` does not start with the envelope's fixmedins_code `{fixmedins_code}`"
        ));
    };
    if rest.len() != 18 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "msgid `{msgid}` must be fixmedins_code followed by 18 digits (yyyyMMddHHmmss + 4-digit sequence)"
        ));
    }
    let Some(at) = parse_compact_time(&rest[..14]) else {
        return Err(format!(
            "msgid `{msgid}`: `{}` is not a real time yyyyMMddHHmmss",
            &rest[..14]
        ));
    };
    let window = crate::field::REQUEST_TIME_NOT_BEFORE..crate::field::REQUEST_TIME_BEFORE;
    if !window.contains(&at) {
        return Err(format!(
            "msgid `{msgid}`: time `{}` is outside the plausible window 2000-01-01 … 2099-12-31",
            &rest[..14]
        ));
    }
    Ok(())
}

/// Parse `yyyyMMddHHmmss` (+ optional `SSS`).
pub fn parse_compact_time(s: &str) -> Option<PrimitiveDateTime> {
    if !(s.len() == 14 || s.len() == 17) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    let date = time::Date::from_calendar_date(
        i32::try_from(n(0..4)?).ok()?,
        time::Month::try_from(u8::try_from(n(4..6)?).ok()?).ok()?,
        u8::try_from(n(6..8)?).ok()?,
    )
    .ok()?;
    let t = time::Time::from_hms_milli(
        u8::try_from(n(8..10)?).ok()?,
        u8::try_from(n(10..12)?).ok()?,
        u8::try_from(n(12..14)?).ok()?,
        if s.len() == 17 {
            u16::try_from(n(14..17)?).ok()?
        } else {
            0
        },
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, t))
}

/// Whether the input names a person (`psn_no` in its first-level node or the elements of an
/// array node), which makes `insuplc_admdvs` required (§1.1 #4).
fn input_names_person(input: &Value) -> bool {
    let has = |v: &Value| {
        v.get("psn_no")
            .is_some_and(|p| !p.is_null() && p.as_str() != Some(""))
    };
    input.as_object().is_some_and(|m| {
        m.values().any(|node| match node {
            Value::Array(items) => items.iter().any(has),
            other => has(other),
        })
    })
}

impl RequestEnvelope {
    /// Decode a request envelope from its bytes, collecting every envelope violation.
    /// The input is checked to be an object but not typed; see [`crate::decode_input`].
    ///
    /// The same result as [`Self::from_map`] on the parsed body, but the input object (a
    /// whole fee list, say) is moved into the envelope instead of copied: the field decoder
    /// sees an empty object in its place, the checks see the real one.
    pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<RequestEnvelope, NhsaError> {
        Self::decode_checking(bytes, limits, MsgidLayout::National)
    }

    /// [`Self::decode`] for an envelope the gateway itself made from another dialect's call
    /// (a legacy HIS message): its `msgid` is the gateway's key for that call, not
    /// `fixmedins_code` + time + sequence, so only its length is checked.
    pub fn decode_gateway_made(
        bytes: &[u8],
        limits: &DecodeLimits,
    ) -> Result<RequestEnvelope, NhsaError> {
        Self::decode_checking(bytes, limits, MsgidLayout::GatewayMade)
    }

    fn decode_checking(
        bytes: &[u8],
        limits: &DecodeLimits,
        layout: MsgidLayout,
    ) -> Result<RequestEnvelope, NhsaError> {
        let mut map = parse_object(bytes, limits)?;
        let input = match map.get_mut("input") {
            Some(v @ Value::Object(_)) => std::mem::replace(v, Value::Object(Map::new())),
            _ => return Self::checked(&map, "", map.get("input"), layout),
        };
        let mut env = Self::checked(&map, "", Some(&input), layout)?;
        env.input = input;
        Ok(env)
    }

    /// Decode from a parsed object; violation paths are prefixed with `path`.
    pub fn from_map(map: &Map<String, Value>, path: &str) -> Result<RequestEnvelope, NhsaError> {
        Self::checked(map, path, map.get("input"), MsgidLayout::National)
    }

    /// [`Self::from_map`] for an envelope the gateway made (see [`Self::decode_gateway_made`]).
    pub fn from_map_gateway_made(
        map: &Map<String, Value>,
        path: &str,
    ) -> Result<RequestEnvelope, NhsaError> {
        Self::checked(map, path, map.get("input"), MsgidLayout::GatewayMade)
    }

    /// [`Self::from_map`] with the input the checks look at given apart from `map`.
    fn checked(
        map: &Map<String, Value>,
        path: &str,
        input: Option<&Value>,
        layout: MsgidLayout,
    ) -> Result<RequestEnvelope, NhsaError> {
        let mut errs = Errors::default();
        let env = Self::decode_map(map, path, &mut errs);
        let at = |name: &str| crate::field::join(path, name);
        // msgid layout, checked on the raw text so that it is reported with other errors
        if let (Some(Value::String(msgid)), Some(Value::String(code))) =
            (map.get("msgid"), map.get("fixmedins_code"))
            && !msgid.is_empty()
            && !code.is_empty()
            && layout == MsgidLayout::National
            && let Err(why) = check_msgid(msgid, code)
        {
            errs.push(RuleId::FMT_MSGID, at("msgid"), why);
        }
        match input {
            Some(Value::Object(_)) | None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(_) => errs.push(
                RuleId::NHSA_ENV_INPUT,
                at("input"),
                "input must be a JSON object (an encrypted or text input is not accepted)",
            ),
        }
        if let Some(input) = input {
            let insuplc_absent = matches!(map.get("insuplc_admdvs"), None | Some(Value::Null))
                || map.get("insuplc_admdvs").and_then(Value::as_str) == Some("");
            if insuplc_absent && input_names_person(input) {
                errs.push(
                    RuleId::FMT_REQUIRED,
                    at("insuplc_admdvs"),
                    "insuplc_admdvs (参保地医保区划) is required when the input names a psn_no",
                );
            }
        }
        match env {
            Some(e) if errs.is_empty() => Ok(e),
            _ => Err(NhsaError::new(errs.violations)),
        }
    }

    /// The wire bytes (UTF-8 JSON; unknown keys received are written back after the known ones).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_wire()).expect("a JSON value serializes")
    }
}

impl ResponseEnvelope {
    /// Decode a response envelope from its bytes. The output is checked to be an object or
    /// null but not typed; see [`crate::decode_output`].
    pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<ResponseEnvelope, NhsaError> {
        let map = parse_object(bytes, limits)?;
        Self::from_map(&map, "")
    }

    pub fn from_map(map: &Map<String, Value>, path: &str) -> Result<ResponseEnvelope, NhsaError> {
        let mut errs = Errors::default();
        let env = Self::decode_map(map, path, &mut errs);
        let at = |name: &str| crate::field::join(path, name);
        for name in ["refmsg_time", "respond_time"] {
            if let Some(Value::String(s)) = map.get(name)
                && !s.is_empty()
                && parse_compact_time(s).is_none()
            {
                errs.push(
                    RuleId::FMT_DATETIME,
                    at(name),
                    format!("{name} `{s}` is not a time yyyyMMddHHmmssSSS"),
                );
            }
        }
        match map.get("output") {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(_) => errs.push(
                RuleId::FMT_TYPE,
                at("output"),
                "output must be a JSON object or null (an encrypted output is not accepted)",
            ),
        }
        match env {
            Some(e) if errs.is_empty() => Ok(e),
            _ => Err(NhsaError::new(errs.violations)),
        }
    }

    pub fn is_success(&self) -> bool {
        self.infcode.is_success()
    }

    /// The output object, or `Null` when absent.
    pub fn output_value(&self) -> Value {
        match &self.output {
            Some(Value::String(s)) if s.is_empty() => Value::Null,
            Some(v) => v.clone(),
            None => Value::Null,
        }
    }

    /// The wire bytes: UTF-8 JSON, `infcode` a number, amounts numbers with 2 decimals.
    /// Written straight from the fields ([`Wire`]): the same bytes as serializing
    /// [`Record::to_wire`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(ANSWER_BYTES_HINT);
        serde_json::to_writer(&mut bytes, &Wire(self)).expect("an envelope serializes");
        bytes
    }

    /// The bytes [`Self::to_bytes`] would give with `output` as the envelope's output (whatever
    /// `self.output` holds): a typed output such as [`Wire`] of a settlement is written once,
    /// never built as a `Value` first.
    pub fn to_bytes_with_output<O: Serialize>(&self, output: &O) -> Vec<u8> {
        struct With<'a, O>(&'a ResponseEnvelope, &'a O);
        impl<O: Serialize> Serialize for With<'_, O> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let e = self.0;
                // The envelope's fields in table order (a test holds this to `to_bytes`).
                let texts = [
                    ("inf_refmsgid", &e.inf_refmsgid),
                    ("refmsg_time", &e.refmsg_time),
                    ("respond_time", &e.respond_time),
                    ("err_msg", &e.err_msg),
                    ("warn_msg", &e.warn_msg),
                    ("cainfo", &e.cainfo),
                    ("signtype", &e.signtype),
                    ("enctype", &e.enctype),
                ];
                let mut map = s.serialize_map(None)?;
                map.serialize_entry("infcode", &e.infcode.0)?;
                for (name, value) in texts {
                    if let Some(v) = value {
                        map.serialize_entry(name, v)?;
                    }
                }
                map.serialize_entry("output", self.1)?;
                for (k, v) in &e.extra {
                    // As in `encode_map`: a field written above keeps its value.
                    let written = k == "infcode"
                        || k == "output"
                        || texts.iter().any(|(name, v)| k == name && v.is_some());
                    if !written {
                        map.serialize_entry(k, v)?;
                    }
                }
                map.end()
            }
        }
        let mut bytes = Vec::with_capacity(ANSWER_BYTES_HINT);
        serde_json::to_writer(&mut bytes, &With(self, output)).expect("an envelope serializes");
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medsettle_canonical::Violation;

    /// `decode` moves the input instead of copying it; it must decide exactly as `from_map`.
    #[test]
    fn decode_is_from_map() {
        let head = r#""infno":"2204","msgid":"H44030000001202406011030150001","mdtrtarea_admvs":"440300","recer_sys_code":"YBXT","infver":"V1.0","opter_type":"1","opter":"1","opter_name":"a","inf_time":"2024-06-01 10:30:15","fixmedins_code":"H44030000001","fixmedins_name":"x","sign_no":"""#;
        let bodies = [
            format!(
                r#"{{{head},"insuplc_admdvs":"440300","input":{{"feedetail":[{{"psn_no":"1","x":[1,{{"y":2.50}}]}}]}},"zz":1}}"#
            ),
            format!(r#"{{{head},"input":{{"data":{{"psn_no":"1"}}}}}}"#),
            format!(r#"{{{head},"insuplc_admdvs":"440300","input":"text"}}"#),
            format!(r#"{{{head},"insuplc_admdvs":"440300","input":null}}"#),
            format!(r#"{{{head},"insuplc_admdvs":"440300"}}"#),
            format!(r#"{{{head},"insuplc_admdvs":"440300","input":{{}}}}"#)
                .replace("H44030000001202406011030150001", "bad"),
        ];
        let limits = DecodeLimits::default();
        for body in &bodies {
            let map = parse_object(body.as_bytes(), &limits).unwrap();
            let by_map = RequestEnvelope::from_map(&map, "").map_err(|e| e.violations);
            let decoded =
                RequestEnvelope::decode(body.as_bytes(), &limits).map_err(|e| e.violations);
            assert_eq!(format!("{decoded:?}"), format!("{by_map:?}"), "{body}");
        }
    }

    /// A 2207 output as the gateway answers it (a journaled answer), with an unknown field
    /// kept for relay.
    const SETTLE_OUTPUT: &str = r#"{"setlinfo":{"mdtrt_id":"440300202612021447470000099813","setl_id":"440300202612021447470000099978","psn_no":"44030000000105","psn_name":"丁超","psn_cert_type":"01","certno":"440304198307161057","gend":"2","naty":"01","brdy":"1983-07-16","age":43.0,"insutype":"310","psn_type":"1201","cvlserv_flag":"0","setl_time":"2026-12-02 14:47:47","mdtrt_cert_type":"02","med_type":"11","medfee_sumamt":145.50,"fulamt_ownpay_amt":0.00,"overlmt_selfpay":0.00,"preselfpay_amt":10.05,"inscp_scp_amt":135.45,"act_pay_dedc":0.00,"hifp_pay":81.27,"pool_prop_selfpay":0.6000,"cvlserv_pay":0.00,"hifes_pay":0.00,"hifmi_pay":0.00,"hifob_pay":0.00,"maf_pay":0.00,"hosp_part_amt":0.00,"oth_pay":0.00,"fund_pay_sumamt":81.27,"psn_part_amt":64.23,"acct_pay":0.00,"psn_cash_pay":64.23,"balc":0.00,"acct_mulaid_pay":0.00,"medins_setl_id":"H44030000001202611201120001567","clr_optins":"440300","clr_way":"01","clr_type":"11","hifdm_pay":0.00,"province_extra":{"k":[1,"二"]}},"setldetail":[{"fund_pay_type":"310100","inscp_scp_amt":135.45,"crt_payb_lmt_amt":339554.90,"fund_payamt":81.27,"fund_pay_type_name":"职工基本医疗保险统筹基金"},{"fund_pay_type":"310200","fund_payamt":0.00}]}"#;

    fn settle_output() -> crate::tx::settle::SettleOutput {
        let v: Value = serde_json::from_str(SETTLE_OUTPUT).unwrap();
        let mut errs = Errors::default();
        let out = crate::tx::settle::SettleOutput::decode_value(&v, "output", &mut errs);
        assert!(errs.is_empty(), "{:?}", errs.violations);
        out.unwrap()
    }

    /// Writing a record straight from its fields gives the bytes of serializing its wire map:
    /// field order, nested records and arrays, numbers as their exact text, and extras (one
    /// named like an absent field is written at the end, one named like a present field is not,
    /// as `encode_map` does).
    #[test]
    fn wire_bytes_are_the_wire_maps_bytes() {
        let out = settle_output();
        assert_eq!(
            String::from_utf8(serde_json::to_vec(&Wire(&out)).unwrap()).unwrap(),
            String::from_utf8(serde_json::to_vec(&out.to_wire()).unwrap()).unwrap()
        );
        let body = r#"{"infcode":0,"inf_refmsgid":"440300202611201030150000000001","refmsg_time":"20261120103015123","err_msg":"","output":{"a":1},"extra_key":"kept"}"#;
        let mut e = ResponseEnvelope::decode(body.as_bytes(), &DecodeLimits::default()).unwrap();
        e.extra.insert("cainfo".into(), Value::from("absent field"));
        e.extra
            .insert("err_msg".into(), Value::from("present field"));
        let via_map = serde_json::to_vec(&e.to_wire()).unwrap();
        assert_eq!(
            String::from_utf8(e.to_bytes()).unwrap(),
            String::from_utf8(via_map).unwrap()
        );
        assert!(
            String::from_utf8(e.to_bytes())
                .unwrap()
                .ends_with(r#""extra_key":"kept","cainfo":"absent field"}"#)
        );
    }

    /// An envelope written with a typed output is the envelope holding that output's wire map.
    #[test]
    fn bytes_with_a_typed_output_are_the_envelopes_bytes() {
        let out = settle_output();
        for body in [
            r#"{"infcode":0,"inf_refmsgid":"440300202611201030150000000001","refmsg_time":"20261120103015123","respond_time":"20261120103015125","err_msg":"","warn_msg":"w"}"#,
            r#"{"infcode":-1,"err_msg":"bad","cainfo":"c","signtype":"SM2","enctype":"x","extra_key":"kept"}"#,
        ] {
            let mut e =
                ResponseEnvelope::decode(body.as_bytes(), &DecodeLimits::default()).unwrap();
            e.extra
                .insert("warn_msg".into(), Value::from("named like a field"));
            e.extra
                .insert("output".into(), Value::from("never written"));
            let typed = e.to_bytes_with_output(&Wire(&out));
            e.output = Some(out.to_wire());
            assert_eq!(
                String::from_utf8(typed).unwrap(),
                String::from_utf8(e.to_bytes()).unwrap(),
                "{body}"
            );
        }
    }

    /// Decoded answers (extras, a null output, no output) give back the bytes of their wire map.
    #[test]
    fn decoded_answers_write_their_wire_maps_bytes() {
        for body in [
            r#"{"infcode":0,"inf_refmsgid":"440300202611201030150000000001","refmsg_time":"20261120103015123","respond_time":"20261120103015125","err_msg":"","warn_msg":"w","output":{"setlinfo":{"setl_id":"S1","medfee_sumamt":48.50,"list":[1,2]}},"extra_key":"kept"}"#,
            r#"{"infcode":-1,"inf_refmsgid":"440300202611201030150000000002","refmsg_time":"20261120103015123","respond_time":"20261120103015125","err_msg":"bad","output":null}"#,
            r#"{"infcode":0,"inf_refmsgid":"440300202611201030150000000003","refmsg_time":"20261120103015123","respond_time":"20261120103015125"}"#,
        ] {
            let r = ResponseEnvelope::decode(body.as_bytes(), &DecodeLimits::default()).unwrap();
            assert_eq!(
                String::from_utf8(r.to_bytes()).unwrap(),
                String::from_utf8(serde_json::to_vec(&r.to_wire()).unwrap()).unwrap()
            );
        }
    }

    #[test]
    fn msgid_layout() {
        let code = "H44030000001";
        assert!(check_msgid("H44030000001202406011030150001", code).is_ok());
        assert!(check_msgid("H44030000002202406011030150001", code).is_err());
        assert!(check_msgid("H44030000001202413011030150001", code).is_err()); // month 13
        assert!(check_msgid("H44030000001202402301030150001", code).is_err()); // Feb 30
        assert!(check_msgid("H4403000000120240601103015001", code).is_err()); // 3-digit seq
        assert!(check_msgid("H4403000000120240601103015000A", code).is_err());
    }

    #[test]
    fn depth_is_checked_before_parsing() {
        let limits = DecodeLimits { json_depth_max: 3 };
        assert!(check_depth(br#"{"a":{"b":[1]}}"#, &limits).is_ok());
        let deep = br#"{"a":{"b":[[1]]}}"#;
        assert_eq!(
            check_depth(deep, &limits).unwrap_err().violations[0].rule,
            RuleId::FMT_DEPTH
        );
        // brackets inside strings do not count
        assert!(check_depth(br#"{"a":"[[[[[[\"]]]]"}"#, &limits).is_ok());
        let hostile = "[".repeat(100_000);
        assert!(parse_object(hostile.as_bytes(), &DecodeLimits::default()).is_err());
    }

    /// A key named twice in one object, at any depth, refuses the whole envelope with
    /// `FMT-DUPLICATE-KEY` at the second key's path; equal keys in sibling objects are fine.
    #[test]
    fn duplicate_keys_are_refused_with_their_path() {
        let head = r#""infno":"2204","msgid":"H44030000001202406011030150001","mdtrtarea_admvs":"440300","insuplc_admdvs":"440300","recer_sys_code":"YBXT","infver":"V1.0","opter_type":"1","opter":"1","opter_name":"a","inf_time":"2024-06-01 10:30:15","fixmedins_code":"H44030000001","fixmedins_name":"x""#;
        let limits = DecodeLimits::default();
        let refused = |body: &str| -> Violation {
            let err = RequestEnvelope::decode(body.as_bytes(), &limits).unwrap_err();
            assert_eq!(err.violations.len(), 1, "{body}");
            err.violations[0].clone()
        };
        // top level: the first value is not silently replaced (nor kept)
        let v = refused(&format!(
            r#"{{{head},"input":{{}},"fixmedins_code":"H44030000002"}}"#
        ));
        assert_eq!(v.rule, RuleId::FMT_DUPLICATE_KEY);
        assert_eq!(v.path, "fixmedins_code");
        assert!(v.message.contains("`fixmedins_code`"), "{}", v.message);
        assert!(
            medsettle_canonical::describe(std::slice::from_ref(&v))
                .starts_with("[FMT-DUPLICATE-KEY] fixmedins_code: duplicate key")
        );
        // inside input.data (an amount named twice, equal or not)
        for amount in ["100.00", "1.00"] {
            let v = refused(&format!(
                r#"{{{head},"input":{{"data":{{"psn_no":"1","medfee_sumamt":100.00,"medfee_sumamt":{amount}}}}}}}"#
            ));
            assert_eq!(
                (v.rule, v.path.as_str()),
                (RuleId::FMT_DUPLICATE_KEY, "input.data.medfee_sumamt")
            );
        }
        // inside an array element, deeper than the envelope's records
        let v = refused(&format!(
            r#"{{{head},"input":{{"feedetail":[{{"feedetl_sn":"1"}},{{"feedetl_sn":"2","det_item_fee_sumamt":1.00,"exp_content":{{"a":1,"a":2}}}}]}}}}"#
        ));
        assert_eq!(
            (v.rule, v.path.as_str()),
            (
                RuleId::FMT_DUPLICATE_KEY,
                "input.feedetail[1].exp_content.a"
            )
        );
        // the same key in sibling objects (array elements, nested objects) is fine
        let body = format!(
            r#"{{{head},"input":{{"feedetail":[{{"feedetl_sn":"1","x":{{"feedetl_sn":"1"}}}},{{"feedetl_sn":"2"}}],"data":{{"infno":"x"}}}}}}"#
        );
        assert!(RequestEnvelope::decode(body.as_bytes(), &limits).is_ok());
        // answers too
        let err = ResponseEnvelope::decode(
            br#"{"infcode":0,"output":{"setlinfo":{"setl_id":"S1","setl_id":"S2"}}}"#,
            &limits,
        )
        .unwrap_err();
        assert_eq!(err.rules(), vec![RuleId::FMT_DUPLICATE_KEY]);
        assert_eq!(err.violations[0].path, "output.setlinfo.setl_id");
        // the depth limit still comes first, and malformed JSON stays FMT-JSON
        let shallow = DecodeLimits { json_depth_max: 1 };
        assert_eq!(
            RequestEnvelope::decode(br#"{"a":{},"a":{}}"#, &shallow)
                .unwrap_err()
                .rules(),
            vec![RuleId::FMT_DEPTH]
        );
        assert_eq!(
            RequestEnvelope::decode(br#"{"a":1,"b":}"#, &limits)
                .unwrap_err()
                .rules(),
            vec![RuleId::FMT_JSON]
        );
    }

    #[test]
    fn infcode_as_number_or_text() {
        for (body, code) in [
            (r#"{"infcode":0}"#, 0),
            (r#"{"infcode":"0"}"#, 0),
            (r#"{"infcode":-1}"#, -1),
            (r#"{"infcode":"-1"}"#, -1),
        ] {
            let r = ResponseEnvelope::decode(body.as_bytes(), &DecodeLimits::default()).unwrap();
            assert_eq!(r.infcode.0, code);
        }
        let bad = ResponseEnvelope::decode(br#"{"infcode":"ok"}"#, &DecodeLimits::default());
        assert_eq!(
            bad.unwrap_err().violations[0].rule,
            RuleId::NHSA_ENV_INFCODE
        );
    }
}
