//! The request and answer envelopes, and the facts of the exchange the gateway checks around
//! them: who sent a message, whether its certificate may speak for that region, and the key a
//! message is idempotent by.

use medsettle_canonical::Admdvs;
use serde_json::Value;

use crate::dates::format_datetime;
use crate::field::{Field, Node, Out, Shape, cond, opt, quote, req, wrong_type};
use crate::infno::{Infno, Side};
use crate::json::parse_body;
use crate::key::IdempotencyKey;
use crate::limits::{ERR_MSG_CHARS_MAX, Limits, MSGID_CHARS_MAX, PATH_CHARS_MAX, RULE_CHARS_MAX};
use crate::refusal::{Refusal, rule};
use crate::status::StatusQuery;

/// The version this crate speaks, as `ver` carries it.
pub const VERSION: &str = "1";

/// Every version this crate accepts; a refusal for any other names them.
pub const SUPPORTED_VERSIONS: &[&str] = &[VERSION];

/// Fields of the request envelope.
pub const REQUEST_FIELDS: &[Field] = &[
    opt("ver"),
    req("infno"),
    req("msgid"),
    req("mdtrtarea_admvs"),
    req("insuplc_admdvs"),
    opt("send_time"),
    req("input"),
];

/// Fields of the answer envelope.
pub const ANSWER_FIELDS: &[Field] = &[
    opt("ver"),
    req("infcode"),
    req("inf_refmsgid"),
    req("refmsg_time"),
    req("respond_time"),
    cond("err_msg"),
    cond("rule"),
    cond("path"),
    cond("output"),
];

/// Read `ver` before anything else: a message of another version may have other fields, and
/// the useful refusal is the version, not its first unknown field. An absent `ver` is version
/// 1 (the reference fixture predates the field); every later version must send it.
fn version(body: &Value) -> Result<String, Refusal> {
    let Value::Object(map) = body else {
        return Err(Refusal::new(
            rule::ENV_JSON,
            "",
            "the body must be a JSON object",
        ));
    };
    match map.get("ver") {
        None | Some(Value::Null) => Ok(VERSION.to_owned()),
        Some(Value::String(s)) if s.is_empty() || SUPPORTED_VERSIONS.contains(&s.as_str()) => {
            Ok(VERSION.to_owned())
        }
        Some(Value::String(s)) => Err(Refusal::new(
            rule::ENV_VERSION,
            "ver",
            format!(
                "version {} is not supported; this side speaks ver {} (interregion/1)",
                quote(s),
                SUPPORTED_VERSIONS
                    .iter()
                    .map(|v| format!("\"{v}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        Some(other) => Err(wrong_type("ver", other, "text")),
    }
}

/// A request as it arrives: the envelope typed, `input` kept raw until
/// [`decode_input`](crate::decode_input) types it for `infno`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestEnvelope {
    /// Protocol version, `"1"`.
    pub ver: String,
    pub infno: Infno,
    /// The sender's message id: 1–40 ASCII letters or digits, unique per sender and infno.
    pub msgid: String,
    /// The place of treatment (就医地).
    pub mdtrtarea_admvs: Admdvs,
    /// The insured place (参保地).
    pub insuplc_admdvs: Admdvs,
    /// `YYYY-MM-DD HH:MM:SS`, China time; empty when the sender left it out.
    pub send_time: String,
    /// The message's input object.
    pub input: Value,
}

impl RequestEnvelope {
    /// Decode a request body: the limits, the JSON, then the envelope's fields. The input is
    /// only checked to be an object.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<RequestEnvelope, Refusal> {
        let mut body = parse_body(bytes, limits)?;
        let ver = version(&body)?;
        let mut envelope = {
            let node = Node::open(&body, "", REQUEST_FIELDS)?;
            let infno_text = node.text("infno", Shape::Words(MSGID_CHARS_MAX))?;
            let infno = Infno::parse(&infno_text).ok_or_else(|| {
                Refusal::new(
                    rule::ENV_INFNO,
                    "infno",
                    format!("{} is not an interregion/1 message", quote(&infno_text)),
                )
            })?;
            let msgid = node.text("msgid", Shape::Alnum(MSGID_CHARS_MAX))?;
            let mdtrtarea_admvs = node.region("mdtrtarea_admvs")?;
            let insuplc_admdvs = node.region("insuplc_admdvs")?;
            let send_time = node.opt_datetime("send_time")?.map(format_datetime);
            node.raw_object("input")?;
            if mdtrtarea_admvs == insuplc_admdvs {
                return Err(Refusal::new(
                    rule::ENV_SAME_REGION,
                    "insuplc_admdvs",
                    format!(
                        "the insured place is the place of treatment ({mdtrtarea_admvs}): not a cross-region message"
                    ),
                ));
            }
            RequestEnvelope {
                ver,
                infno,
                msgid,
                mdtrtarea_admvs,
                insuplc_admdvs,
                send_time: send_time.unwrap_or_default(),
                input: Value::Null,
            }
        };
        // Moved, not copied: a statement page's input is most of the body.
        if let Value::Object(map) = &mut body {
            envelope.input = map
                .remove("input")
                .expect("input was checked to be an object");
        }
        Ok(envelope)
    }

    /// The bytes: UTF-8 JSON, fields in table order, amounts as text. Deterministic, so
    /// encoding the same envelope again gives the same bytes (a re-send stays idempotent).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Out::new()
            .text("ver", &self.ver)
            .text("infno", self.infno.as_str())
            .text("msgid", &self.msgid)
            .text("mdtrtarea_admvs", self.mdtrtarea_admvs.as_str())
            .text("insuplc_admdvs", self.insuplc_admdvs.as_str());
        if !self.send_time.is_empty() {
            out = out.text("send_time", &self.send_time);
        }
        let body = out.value("input", self.input.clone()).done();
        serde_json::to_vec(&body).expect("a JSON value serializes")
    }

    /// The region of one side of this message.
    pub fn region_of(&self, side: Side) -> Admdvs {
        match side {
            Side::Treatment => self.mdtrtarea_admvs,
            Side::Insured => self.insuplc_admdvs,
        }
    }

    /// Which side sent this message. For XPRV03 it is the sender of the message asked about,
    /// so the input is read (and refused if it does not say).
    pub fn sender_side(&self) -> Result<Side, Refusal> {
        match self.infno.sender() {
            Some(side) => Ok(side),
            None => {
                let query = StatusQuery::decode_at(&self.input, "input")?;
                Ok(query
                    .oinfno
                    .sender()
                    .expect("a status query only asks about messages with a fixed sender"))
            }
        }
    }

    /// The sender's region: `mdtrtarea_admvs` for what the place of treatment sends,
    /// `insuplc_admdvs` for what the insured place sends.
    pub fn sender_region(&self) -> Result<Admdvs, Refusal> {
        self.sender_side().map(|s| self.region_of(s))
    }

    /// Refuse the message unless its sender region is one the peer's certificate may speak
    /// for (`speaks_for`: 6-digit regions or shorter prefixes of them).
    pub fn check_sender<S: AsRef<str>>(&self, speaks_for: &[S]) -> Result<(), Refusal> {
        let side = self.sender_side()?;
        let region = self.region_of(side);
        if region_permitted(&region, speaks_for) {
            return Ok(());
        }
        let field = match side {
            Side::Treatment => "mdtrtarea_admvs",
            Side::Insured => "insuplc_admdvs",
        };
        Err(Refusal::new(
            rule::ENV_SENDER,
            field,
            format!("the peer's certificate may not speak for region {region}"),
        ))
    }

    /// The key this message is idempotent by: (sender region, infno, msgid).
    pub fn idempotency_key(&self) -> Result<IdempotencyKey, Refusal> {
        Ok(IdempotencyKey {
            sender: self.sender_region()?,
            infno: self.infno,
            msgid: self.msgid.clone(),
        })
    }
}

/// Whether `region` is covered by one of `speaks_for`: a whole code or a prefix of 1–6 digits.
/// Anything else (an empty entry, letters) covers nothing, so a configuration slip never
/// opens every region.
pub fn region_permitted<S: AsRef<str>>(region: &Admdvs, speaks_for: &[S]) -> bool {
    speaks_for.iter().any(|entry| {
        let entry = entry.as_ref();
        (1..=6).contains(&entry.len())
            && entry.bytes().all(|b| b.is_ascii_digit())
            && region.as_str().starts_with(entry)
    })
}

/// The receiver's ids and times an answer carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnswerContext {
    /// The receiver's id for this exchange: 1–40 ASCII letters or digits.
    pub inf_refmsgid: String,
    /// When the request arrived, `YYYY-MM-DD HH:MM:SS`.
    pub refmsg_time: String,
    /// When the answer was made, `YYYY-MM-DD HH:MM:SS`.
    pub respond_time: String,
}

/// An answer: done (`infcode` 0, with the output) or refused (`infcode` -1, with the rule,
/// path and message, and no output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerEnvelope {
    /// Protocol version, `"1"`.
    pub ver: String,
    pub infcode: i32,
    pub inf_refmsgid: String,
    pub refmsg_time: String,
    pub respond_time: String,
    pub err_msg: String,
    pub rule: String,
    pub path: String,
    pub output: Option<Value>,
}

impl AnswerEnvelope {
    pub const DONE: i32 = 0;
    pub const REFUSED: i32 = -1;

    /// A done answer carrying `output` (an object).
    pub fn done(output: Value, ctx: &AnswerContext) -> AnswerEnvelope {
        assert!(output.is_object(), "an answer's output is an object");
        AnswerEnvelope {
            ver: VERSION.to_owned(),
            infcode: Self::DONE,
            inf_refmsgid: ctx.inf_refmsgid.clone(),
            refmsg_time: ctx.refmsg_time.clone(),
            respond_time: ctx.respond_time.clone(),
            err_msg: String::new(),
            rule: String::new(),
            path: String::new(),
            output: Some(output),
        }
    }

    /// A refusal. `err_msg` is the whole refusal as one line (`[rule] path: message`), so a
    /// log line of it alone is enough; `err_msg` and `path` are cut to the answer's limits so
    /// the peer's decoder never refuses our refusal.
    pub fn refusal(refusal: &Refusal, ctx: &AnswerContext) -> AnswerEnvelope {
        let printable = |s: String, max: usize| -> String {
            s.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(max)
                .collect()
        };
        AnswerEnvelope {
            ver: VERSION.to_owned(),
            infcode: Self::REFUSED,
            inf_refmsgid: ctx.inf_refmsgid.clone(),
            refmsg_time: ctx.refmsg_time.clone(),
            respond_time: ctx.respond_time.clone(),
            err_msg: printable(refusal.to_string(), ERR_MSG_CHARS_MAX),
            rule: refusal.rule.to_owned(),
            path: printable(refusal.path.clone(), PATH_CHARS_MAX),
            output: None,
        }
    }

    pub fn is_done(&self) -> bool {
        self.infcode == Self::DONE
    }

    /// The bytes, fields in table order; a refusal writes `"output":null`.
    pub fn encode(&self) -> Vec<u8> {
        let body = Out::new()
            .text("ver", &self.ver)
            .int("infcode", i64::from(self.infcode))
            .text("inf_refmsgid", &self.inf_refmsgid)
            .text("refmsg_time", &self.refmsg_time)
            .text("respond_time", &self.respond_time)
            .text("err_msg", &self.err_msg)
            .text("rule", &self.rule)
            .text("path", &self.path)
            .value("output", self.output.clone().unwrap_or(Value::Null))
            .done();
        serde_json::to_vec(&body).expect("a JSON value serializes")
    }

    /// Decode a peer's answer under the protocol's limits. The output stays raw until
    /// [`decode_output`](crate::decode_output) types it for the request's infno.
    ///
    /// Unlike a request, an answer is read by this side's own client, which has no limits of
    /// its own to configure: the protocol's are the ones a peer writes to.
    pub fn decode(bytes: &[u8]) -> Result<AnswerEnvelope, Refusal> {
        AnswerEnvelope::decode_with_limits(bytes, &Limits::default())
    }

    /// [`AnswerEnvelope::decode`] under other limits.
    pub fn decode_with_limits(bytes: &[u8], limits: &Limits) -> Result<AnswerEnvelope, Refusal> {
        let body = parse_body(bytes, limits)?;
        let ver = version(&body)?;
        let node = Node::open(&body, "", ANSWER_FIELDS)?;
        let code = node.integer("infcode")?;
        let infcode = match code {
            0 => Self::DONE,
            -1 => Self::REFUSED,
            other => {
                return Err(Refusal::new(
                    rule::ENV_ANSWER,
                    "infcode",
                    format!("{other} is neither 0 (done) nor -1 (refused)"),
                ));
            }
        };
        let answer = AnswerEnvelope {
            ver,
            infcode,
            inf_refmsgid: node.text("inf_refmsgid", Shape::Alnum(MSGID_CHARS_MAX))?,
            refmsg_time: format_datetime(node.datetime("refmsg_time")?),
            respond_time: format_datetime(node.datetime("respond_time")?),
            err_msg: node
                .opt_text("err_msg", Shape::Words(ERR_MSG_CHARS_MAX))?
                .unwrap_or_default(),
            rule: node
                .opt_text("rule", Shape::Id(RULE_CHARS_MAX))?
                .unwrap_or_default(),
            path: node
                .opt_text("path", Shape::Words(PATH_CHARS_MAX))?
                .unwrap_or_default(),
            output: node.opt_raw_object("output")?.cloned(),
        };
        answer.consistent()?;
        Ok(answer)
    }

    /// A done answer has an output and no error fields; a refusal the reverse.
    fn consistent(&self) -> Result<(), Refusal> {
        let refuse = |path: &str, why: &str| Err(Refusal::new(rule::ENV_ANSWER, path, why));
        if self.is_done() {
            if self.output.is_none() {
                return refuse(
                    "output",
                    "a done answer (infcode 0) carries an output object",
                );
            }
            for (name, value) in [
                ("err_msg", &self.err_msg),
                ("rule", &self.rule),
                ("path", &self.path),
            ] {
                if !value.is_empty() {
                    return refuse(
                        name,
                        "a done answer (infcode 0) leaves the error fields empty",
                    );
                }
            }
        } else {
            if self.output.is_some() {
                return refuse("output", "a refusal (infcode -1) carries no output");
            }
            if self.rule.is_empty() {
                return refuse("rule", "a refusal (infcode -1) names its rule");
            }
            if self.err_msg.is_empty() {
                return refuse("err_msg", "a refusal (infcode -1) says why");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = r#""infno":"XPRV02","msgid":"M1","mdtrtarea_admvs":"990100","insuplc_admdvs":"880100","send_time":"2024-05-20 12:00:00""#;

    fn decode(body: &str) -> Result<RequestEnvelope, Refusal> {
        RequestEnvelope::decode(body.as_bytes(), &Limits::default())
    }

    #[test]
    fn request_round_trip_and_version() {
        let body = format!(r#"{{"ver":"1",{HEAD},"input":{{"a":1}}}}"#);
        let env = decode(&body).unwrap();
        assert_eq!(env.encode(), body.as_bytes());
        assert_eq!(env.sender_region().unwrap().as_str(), "990100");
        // absent ver is version 1, and is written on re-encoding
        let env2 = decode(&format!(r#"{{{HEAD},"input":{{"a":1}}}}"#)).unwrap();
        assert_eq!(env2, env);
        let r = decode(&format!(r#"{{"ver":"2",{HEAD},"input":{{}},"new":1}}"#)).unwrap_err();
        assert_eq!((r.rule, r.path.as_str()), (rule::ENV_VERSION, "ver"));
        assert!(r.message.contains("\"1\""), "{}", r.message);
    }

    #[test]
    fn request_refusals() {
        let cases = [
            (
                r#"{"ver":"1","infno":"XPRV99","msgid":"M1","mdtrtarea_admvs":"990100","insuplc_admdvs":"880100","input":{}}"#,
                rule::ENV_INFNO,
                "infno",
            ),
            (
                r#"{"infno":"XPRV02","msgid":"M-1","mdtrtarea_admvs":"990100","insuplc_admdvs":"880100","input":{}}"#,
                rule::FMT_TEXT,
                "msgid",
            ),
            (
                r#"{"infno":"XPRV02","msgid":"M1","mdtrtarea_admvs":"990100","insuplc_admdvs":"990100","input":{}}"#,
                rule::ENV_SAME_REGION,
                "insuplc_admdvs",
            ),
            (
                r#"{"infno":"XPRV02","msgid":"M1","mdtrtarea_admvs":"99010","insuplc_admdvs":"880100","input":{}}"#,
                rule::FMT_REGION,
                "mdtrtarea_admvs",
            ),
            (
                r#"{"infno":"XPRV02","msgid":"M1","mdtrtarea_admvs":"990100","insuplc_admdvs":"880100","input":[]}"#,
                rule::FMT_TYPE,
                "input",
            ),
            (
                r#"{"infno":"XPRV02","msgid":"M1","mdtrtarea_admvs":"990100","insuplc_admdvs":"880100"}"#,
                rule::FMT_REQUIRED,
                "input",
            ),
            (
                r#"{"infno":"XPRV02","msgid":"M1","mdtrtarea_admvs":"990100","insuplc_admdvs":"880100","send_time":"2024-05-20","input":{}}"#,
                rule::FMT_TIME,
                "send_time",
            ),
            (r#"[1]"#, rule::ENV_JSON, ""),
        ];
        for (body, rule_id, path) in cases {
            let r = decode(body).unwrap_err();
            assert_eq!((r.rule, r.path.as_str()), (rule_id, path), "{body}: {r}");
        }
    }

    #[test]
    fn senders_and_keys() {
        let env = decode(&format!(r#"{{{HEAD},"input":{{}}}}"#)).unwrap();
        assert!(env.check_sender(&["99"]).is_ok());
        assert!(env.check_sender(&["990100"]).is_ok());
        let r = env.check_sender(&["880100", "", "9901x"]).unwrap_err();
        assert_eq!(
            (r.rule, r.path.as_str()),
            (rule::ENV_SENDER, "mdtrtarea_admvs")
        );
        let key = env.idempotency_key().unwrap();
        assert_eq!(key.conflict().rule, rule::ENV_MSGID_REUSED);
        assert_eq!(key.sealed().rule, rule::STAT_SEALED);
        // a status query is sent by the side that sent the message it asks about
        let q = decode(r#"{"infno":"XPRV03","msgid":"Q1","mdtrtarea_admvs":"990100","insuplc_admdvs":"880100","input":{"oinfno":"XPRV22","omsgid":"R1","seal":"1"}}"#).unwrap();
        assert_eq!(q.sender_region().unwrap().as_str(), "880100");
    }

    fn ctx() -> AnswerContext {
        AnswerContext {
            inf_refmsgid: "A1".into(),
            refmsg_time: "2024-05-20 12:00:01".into(),
            respond_time: "2024-05-20 12:00:02".into(),
        }
    }

    #[test]
    fn answers_round_trip() {
        let done = AnswerEnvelope::done(serde_json::json!({"ack":"1"}), &ctx());
        let bytes = done.encode();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"{"ver":"1","infcode":0,"inf_refmsgid":"A1","refmsg_time":"2024-05-20 12:00:01","respond_time":"2024-05-20 12:00:02","err_msg":"","rule":"","path":"","output":{"ack":"1"}}"#
        );
        assert_eq!(AnswerEnvelope::decode(&bytes).unwrap(), done);
        let hostile = Refusal::new(rule::FMT_UNKNOWN_FIELD, "input.a\u{7}b", "x".repeat(5000));
        let refused = AnswerEnvelope::refusal(&hostile, &ctx());
        let back = AnswerEnvelope::decode(&refused.encode()).unwrap();
        assert_eq!(back, refused);
        assert_eq!(back.rule, "XR-FMT-9");
        assert!(!back.is_done());
    }

    #[test]
    fn answer_refusals() {
        let head = r#""inf_refmsgid":"A1","refmsg_time":"2024-05-20 12:00:01","respond_time":"2024-05-20 12:00:02""#;
        for (body, path) in [
            (
                format!(r#"{{"infcode":1,{head},"output":{{}}}}"#),
                "infcode",
            ),
            (format!(r#"{{"infcode":0,{head}}}"#), "output"),
            (
                format!(r#"{{"infcode":0,{head},"rule":"XR-SUM-2","output":{{}}}}"#),
                "rule",
            ),
            (
                format!(r#"{{"infcode":-1,{head},"err_msg":"x","output":{{}}}}"#),
                "output",
            ),
            (format!(r#"{{"infcode":-1,{head},"err_msg":"x"}}"#), "rule"),
            (
                format!(r#"{{"infcode":-1,{head},"rule":"XR-SUM-2","output":null}}"#),
                "err_msg",
            ),
        ] {
            let r = AnswerEnvelope::decode(body.as_bytes()).unwrap_err();
            assert_eq!(
                (r.rule, r.path.as_str()),
                (rule::ENV_ANSWER, path),
                "{body}"
            );
        }
    }
}
