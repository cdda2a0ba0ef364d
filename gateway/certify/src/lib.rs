//! medsettle-certify: vendor certification sessions (联调测试), pure.
//!
//! An operator opens a session for one institution and one [`Scenario`]. While it is open the
//! gateway records every exchange of that institution ([`Exchange`], made by [`record`] from
//! the request and answer bytes) and injects the scenario's [`Fault`] once, on the first
//! request the scenario aims it at. When the operator closes the session, [`grade`] turns the
//! recorded traffic into graded steps — what the HIS did right and, for what it did wrong, the
//! rule it broke ([`RULES`]). The step list is the certificate evidence; `specs/certification.md`
//! describes the scenarios and the rules for vendors.
//!
//! No I/O, no clock: the gateway passes the receive time in.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Version of the scenarios and rules a session grades (named in its reports).
pub const VERSION: &str = "1.0.0";
/// The national interface version the scenarios speak.
pub const INTERFACE_VERSION: &str = "V1.0";

/// Every request's `msgid` is `fixmedins_code` + `yyyyMMddHHmmss` + 4 digits.
pub const CERT_MSGID_FORMAT: &str = "CERT-MSGID-FORMAT";
/// A `msgid` is never sent again with another body (a new request needs a new msgid).
pub const CERT_MSGID_UNIQUE: &str = "CERT-MSGID-UNIQUE";
/// `inf_time` is within [`INF_TIME_SKEW_MAX_SECONDS`] of the gateway's clock.
pub const CERT_INF_TIME: &str = "CERT-INF-TIME";
/// A visit's requests name a visit this session registered, after it was registered.
pub const CERT_SEQUENCE: &str = "CERT-SEQUENCE";
/// After a lost answer or a 503, the same request (same msgid, same bytes) is sent again.
pub const CERT_RETRY_SAME: &str = "CERT-RETRY-SAME";
/// After a settlement timed out, it is reversed with 2601 naming its msgid.
pub const CERT_REVERSE: &str = "CERT-REVERSE";
/// A business refusal is shown to the cashier, not sent again.
pub const CERT_NO_RETRY_REFUSAL: &str = "CERT-NO-RETRY-REFUSAL";
/// The scenario's business steps were all made and answered.
pub const CERT_SCENARIO: &str = "CERT-SCENARIO";
/// A request that broke no rule (a passed step).
pub const CERT_REQUEST: &str = "CERT-REQUEST";

/// The rules a session grades, with what each asks of the HIS.
pub const RULES: &[(&str, &str)] = &[
    (
        CERT_MSGID_FORMAT,
        "msgid = fixmedins_code + yyyyMMddHHmmss + 4 digits",
    ),
    (
        CERT_MSGID_UNIQUE,
        "a msgid is never sent again with another body",
    ),
    (
        CERT_INF_TIME,
        "inf_time within 5 minutes of the gateway's clock",
    ),
    (
        CERT_SEQUENCE,
        "fees, pre-settlement and settlement name a visit registered before",
    ),
    (
        CERT_RETRY_SAME,
        "after a lost answer or a 503: the same msgid and bytes again",
    ),
    (
        CERT_REVERSE,
        "after a settlement timed out: 2601 naming its msgid",
    ),
    (
        CERT_NO_RETRY_REFUSAL,
        "a business refusal is not sent again",
    ),
    (
        CERT_SCENARIO,
        "the scenario's business steps were made and answered",
    ),
];

/// Largest accepted difference between `inf_time` and the gateway's clock, seconds.
pub const INF_TIME_SKEW_MAX_SECONDS: i64 = 300;
/// Default delay of [`Fault::Delay`], ms: beyond the 30 s a HIS is expected to wait.
pub const FAULT_DELAY_MS_DEFAULT: u64 = 40_000;
/// Rule a [`Fault::BusinessRefusal`] answers with (a business code, HTTP 200, infcode -1).
pub const INJECTED_REFUSAL_RULE: &str = "CORE-CERT-INJECTED";

/// What an operator certifies a HIS for, one session each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// An outpatient visit paid partly from the personal account (2201, 2204, 2207 with
    /// `acct_pay` > 0).
    OutpatientAccount,
    /// Upload fees, cancel one line, settle (2204, 2205, 2207 on one visit).
    FeesCancelSettle,
    /// The settlement's answer is lost: the HIS sends the same request again.
    LostAnswer,
    /// The gateway answers 503: the HIS sends the same request again later.
    Unavailable,
    /// The settlement times out: the HIS reverses it with 2601.
    TimeoutReverse,
    /// A business refusal: shown to the cashier, not retried.
    RefusalNotRetried,
    /// An inpatient stay across midnight (2401 and 2402 on different days, settled by 2304).
    InpatientAcrossMidnight,
    /// A Guizhou (Yinhai `prm_`) outpatient settlement in the legacy dialect, confirmed: 48,
    /// then `confirm` with the answer's `jylsh` (`specs/legacy.md` §4).
    LegacyTwoPhase,
}

impl Scenario {
    pub const ALL: [Scenario; 8] = [
        Scenario::OutpatientAccount,
        Scenario::FeesCancelSettle,
        Scenario::LostAnswer,
        Scenario::Unavailable,
        Scenario::TimeoutReverse,
        Scenario::RefusalNotRetried,
        Scenario::InpatientAcrossMidnight,
        Scenario::LegacyTwoPhase,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::OutpatientAccount => "outpatient-account",
            Scenario::FeesCancelSettle => "fees-cancel-settle",
            Scenario::LostAnswer => "lost-answer",
            Scenario::Unavailable => "unavailable",
            Scenario::TimeoutReverse => "timeout-reverse",
            Scenario::RefusalNotRetried => "refusal-not-retried",
            Scenario::InpatientAcrossMidnight => "inpatient-across-midnight",
            Scenario::LegacyTwoPhase => "legacy-two-phase",
        }
    }

    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn description(self) -> &'static str {
        match self {
            Scenario::OutpatientAccount => {
                "an outpatient visit paid partly from the personal account"
            }
            Scenario::FeesCancelSettle => "upload fees, cancel one line, settle",
            Scenario::LostAnswer => "the settlement answer is lost: retry with the same msgid",
            Scenario::Unavailable => "the gateway answers 503: retry later with the same msgid",
            Scenario::TimeoutReverse => "the gateway times out: reverse with 2601",
            Scenario::RefusalNotRetried => {
                "a business refusal is shown to the cashier and not retried"
            }
            Scenario::InpatientAcrossMidnight => "an inpatient stay across midnight",
            Scenario::LegacyTwoPhase => {
                "a Guizhou legacy outpatient settlement (48) confirmed by the HIS"
            }
        }
    }

    /// The fault the gateway injects, once, on the first outpatient settlement (2207).
    pub fn fault(self, delay_ms: u64) -> Option<Fault> {
        match self {
            Scenario::LostAnswer => Some(Fault::DropAnswer),
            Scenario::Unavailable => Some(Fault::Unavailable),
            Scenario::TimeoutReverse => Some(Fault::Delay { ms: delay_ms }),
            Scenario::RefusalNotRetried => Some(Fault::BusinessRefusal),
            _ => None,
        }
    }
}

/// The transaction a scenario's fault is aimed at.
pub const FAULT_INFNO: &str = "2207";

/// What the gateway does to one request on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Fault {
    /// Process the request, then end the connection without answering.
    DropAnswer,
    /// Answer 503 without processing.
    Unavailable,
    /// Process, then answer only after `ms`.
    Delay { ms: u64 },
    /// Answer a business refusal (HTTP 200, infcode -1) without processing.
    BusinessRefusal,
}

/// One certification session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub institution: String,
    pub scenario: Scenario,
    pub fault: Option<Fault>,
    /// RFC 3339.
    pub opened_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
}

/// What is kept of one exchange of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    pub seq: u64,
    /// RFC 3339, the gateway's receive time.
    pub received_at: String,
    pub path: String,
    pub status: u16,
    pub body_sha256: String,
    #[serde(default)]
    pub infno: Option<String>,
    #[serde(default)]
    pub msgid: Option<String>,
    #[serde(default)]
    pub fixmedins_code: Option<String>,
    #[serde(default)]
    pub inf_time: Option<String>,
    #[serde(default)]
    pub infcode: Option<i64>,
    #[serde(default)]
    pub err_msg: Option<String>,
    #[serde(default)]
    pub fault: Option<Fault>,
    /// 2601: the msgid it reverses.
    #[serde(default)]
    pub omsgid: Option<String>,
    /// The visit the request names (input), or the one a 2201/2401 answer registered.
    #[serde(default)]
    pub mdtrt_id: Option<String>,
    /// 2201/2401: the visit the answer registered.
    #[serde(default)]
    pub registered: Option<String>,
    /// Settlements: `acct_pay` of the answer, fen.
    #[serde(default)]
    pub acct_pay_fen: Option<i64>,
    /// 2401 `begntime` / 2402 `endtime`, as sent.
    #[serde(default)]
    pub visit_time: Option<String>,
    /// The request and answer text as exchanged (evidence).
    pub request: String,
    pub answer: String,
}

/// Read what grading needs from one exchange's bytes.
pub fn record(
    seq: u64,
    received_at: OffsetDateTime,
    path: &str,
    request: &[u8],
    status: u16,
    answer: &[u8],
    fault: Option<Fault>,
) -> Exchange {
    let req: Value = serde_json::from_slice(request).unwrap_or(Value::Null);
    let ans: Value = serde_json::from_slice(answer).unwrap_or(Value::Null);
    let text = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let infno = text(&req, "/infno");
    let registered = match infno.as_deref() {
        Some("2201") => text(&ans, "/output/data/mdtrt_id"),
        Some("2401") => text(&ans, "/output/result/mdtrt_id"),
        _ => None,
    };
    let mdtrt_id = text(&req, "/input/data/mdtrt_id")
        .or_else(|| text(&req, "/input/feedetail/0/mdtrt_id"))
        .or_else(|| text(&req, "/input/dscginfo/mdtrt_id"))
        .or_else(|| registered.clone());
    let visit_time =
        text(&req, "/input/mdtrtinfo/begntime").or_else(|| text(&req, "/input/dscginfo/endtime"));
    let acct_pay_fen = ans
        .pointer("/output/setlinfo/acct_pay")
        .and_then(|v| match v {
            Value::Number(n) => medsettle_canonical::Money::parse_yuan(&n.to_string()).ok(),
            Value::String(s) => medsettle_canonical::Money::parse_yuan(s).ok(),
            _ => None,
        })
        .map(|m| m.fen());
    let infcode = match ans.get("infcode") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    Exchange {
        seq,
        received_at: received_at.format(&Rfc3339).unwrap_or_default(),
        path: path.to_owned(),
        status,
        body_sha256: sha256_hex(request),
        msgid: text(&req, "/msgid"),
        fixmedins_code: text(&req, "/fixmedins_code"),
        inf_time: text(&req, "/inf_time"),
        infcode,
        err_msg: text(&ans, "/err_msg").filter(|s| !s.is_empty()),
        fault,
        omsgid: text(&req, "/input/data/omsgid"),
        mdtrt_id,
        registered,
        acct_pay_fen,
        visit_time,
        infno,
        request: String::from_utf8_lossy(request).into_owned(),
        answer: String::from_utf8_lossy(answer).into_owned(),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// One graded step of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What was graded: `request 3 (2207 H44…0001)`, `fault reaction`, `scenario`.
    pub name: String,
    /// The rule graded ([`RULES`]); [`CERT_REQUEST`] for a request that broke none.
    pub rule: String,
    pub passed: bool,
    pub message: String,
    /// The exchange it is about, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

impl Step {
    fn pass(name: String, rule: &str, message: impl Into<String>, seq: Option<u64>) -> Step {
        Step {
            name,
            rule: rule.to_owned(),
            passed: true,
            message: message.into(),
            seq,
        }
    }

    fn fail(name: String, rule: &str, message: impl Into<String>, seq: Option<u64>) -> Step {
        Step {
            passed: false,
            ..Step::pass(name, rule, message, seq)
        }
    }
}

/// Grade a session's traffic: one step per request (each rule it broke, or one passed step),
/// one for the reaction to the injected fault, one for the scenario's business steps.
pub fn grade(session: &Session, traffic: &[Exchange]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut bodies: std::collections::HashMap<&str, &str> = Default::default();
    let mut registered: std::collections::HashSet<&str> = Default::default();
    for e in traffic {
        let name = format!(
            "request {} ({} {})",
            e.seq,
            e.infno.as_deref().unwrap_or(&e.path),
            e.msgid.as_deref().unwrap_or("-")
        );
        let mut broken = Vec::new();
        if let (Some(msgid), Some(code)) = (&e.msgid, &e.fixmedins_code) {
            if let Err(why) = medsettle_nhsa::envelope::check_msgid(msgid, code) {
                broken.push((CERT_MSGID_FORMAT, why));
            }
            match bodies.get(msgid.as_str()) {
                Some(first) if *first != e.body_sha256 => broken.push((
                    CERT_MSGID_UNIQUE,
                    format!("msgid {msgid} was sent before with another body"),
                )),
                _ => {
                    bodies.insert(msgid, &e.body_sha256);
                }
            }
        }
        if let Some(skew) = inf_time_skew(e)
            && skew.abs() > INF_TIME_SKEW_MAX_SECONDS
        {
            broken.push((
                CERT_INF_TIME,
                format!(
                    "inf_time {} is {skew} s from the gateway's clock (at most {INF_TIME_SKEW_MAX_SECONDS})",
                    e.inf_time.as_deref().unwrap_or_default()
                ),
            ));
        }
        if matches!(
            e.infno.as_deref(),
            Some("2204" | "2205" | "2206" | "2207" | "2301" | "2303" | "2304" | "2402")
        ) && let Some(visit) = e.mdtrt_id.as_deref()
            && !registered.contains(visit)
        {
            broken.push((
                CERT_SEQUENCE,
                format!("visit {visit} was not registered in this session before"),
            ));
        }
        if let Some(r) = e.registered.as_deref() {
            registered.insert(r);
        }
        if broken.is_empty() {
            steps.push(Step::pass(
                name.clone(),
                CERT_REQUEST,
                "as the interface asks",
                Some(e.seq),
            ));
        }
        for (rule, why) in broken {
            steps.push(Step::fail(name.clone(), rule, why, Some(e.seq)));
        }
    }
    if let Some(step) = fault_reaction(session, traffic) {
        steps.push(step);
    }
    steps.push(scenario_step(session, traffic));
    steps
}

/// Seconds between `inf_time` (China time, `yyyy-MM-dd HH:mm:ss`) and the receive time.
fn inf_time_skew(e: &Exchange) -> Option<i64> {
    let sent = time::PrimitiveDateTime::parse(
        e.inf_time.as_deref()?,
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    )
    .ok()?
    .assume_offset(medsettle_canonical::CHINA_OFFSET);
    let received = OffsetDateTime::parse(&e.received_at, &Rfc3339).ok()?;
    Some((sent - received).whole_seconds())
}

fn fault_reaction(session: &Session, traffic: &[Exchange]) -> Option<Step> {
    let fault = session.fault?;
    let name = "fault reaction".to_owned();
    // Never met: the scenario step says so.
    let hit = traffic.iter().find(|e| e.fault.is_some())?;
    let after = traffic.iter().filter(|e| e.seq > hit.seq);
    let same = |e: &&Exchange| e.msgid == hit.msgid && e.body_sha256 == hit.body_sha256;
    let msgid = hit.msgid.as_deref().unwrap_or("-");
    Some(match fault {
        Fault::DropAnswer | Fault::Unavailable => match after.clone().find(same) {
            Some(e) => Step::pass(
                name,
                CERT_RETRY_SAME,
                format!("request {} sent {msgid} again with the same bytes", e.seq),
                Some(e.seq),
            ),
            None => Step::fail(
                name,
                CERT_RETRY_SAME,
                format!("the answer to {msgid} was lost and it was never sent again unchanged"),
                Some(hit.seq),
            ),
        },
        Fault::Delay { .. } => match after
            .clone()
            .find(|e| e.infno.as_deref() == Some("2601") && e.omsgid.as_deref() == Some(msgid))
        {
            Some(e) => Step::pass(
                name,
                CERT_REVERSE,
                format!("request {} reversed {msgid} with 2601", e.seq),
                Some(e.seq),
            ),
            None => Step::fail(
                name,
                CERT_REVERSE,
                format!("{msgid} timed out and was never reversed with 2601"),
                Some(hit.seq),
            ),
        },
        Fault::BusinessRefusal => match after.clone().find(same) {
            Some(e) => Step::fail(
                name,
                CERT_NO_RETRY_REFUSAL,
                format!("request {} sent the refused {msgid} again", e.seq),
                Some(e.seq),
            ),
            None => Step::pass(
                name,
                CERT_NO_RETRY_REFUSAL,
                format!("the refusal of {msgid} was not retried"),
                Some(hit.seq),
            ),
        },
    })
}

fn scenario_step(session: &Session, traffic: &[Exchange]) -> Step {
    let ok = |infno: &str| {
        traffic
            .iter()
            .filter(|e| {
                e.infno.as_deref() == Some(infno) && e.status == 200 && e.infcode == Some(0)
            })
            .collect::<Vec<_>>()
    };
    let name = format!("scenario {}", session.scenario.name());
    let missing = |what: &str| {
        Step::fail(
            name.clone(),
            CERT_SCENARIO,
            format!("{}: {what}", session.scenario.description()),
            None,
        )
    };
    let done = Step::pass(
        name.clone(),
        CERT_SCENARIO,
        session.scenario.description(),
        None,
    );
    match session.scenario {
        Scenario::OutpatientAccount => {
            if ok("2207")
                .iter()
                .any(|e| e.acct_pay_fen.is_some_and(|f| f > 0))
            {
                done
            } else {
                missing("no settled 2207 paid from the personal account")
            }
        }
        Scenario::FeesCancelSettle => {
            let visit_of = |v: Vec<&Exchange>| {
                v.into_iter()
                    .filter_map(|e| e.mdtrt_id.clone())
                    .collect::<std::collections::HashSet<_>>()
            };
            let (up, cancel, settle) = (
                visit_of(ok("2204")),
                visit_of(ok("2205")),
                visit_of(ok("2207")),
            );
            if up.iter().any(|v| cancel.contains(v) && settle.contains(v)) {
                done
            } else {
                missing(
                    "no visit with fees uploaded (2204), a line cancelled (2205) and settled (2207)",
                )
            }
        }
        // The reaction to the fault is graded on its own (fault reaction); here only that the
        // HIS met it.
        Scenario::LostAnswer
        | Scenario::Unavailable
        | Scenario::TimeoutReverse
        | Scenario::RefusalNotRetried => {
            if traffic.iter().any(|e| e.fault.is_some()) {
                done
            } else {
                missing(&format!(
                    "no {FAULT_INFNO} was sent, so the fault was never met"
                ))
            }
        }
        Scenario::InpatientAcrossMidnight => {
            let day = |e: &&Exchange| {
                e.visit_time
                    .as_deref()
                    .map(|t| t.get(..10).unwrap_or(t).to_owned())
            };
            let admitted: Vec<_> = ok("2401").iter().filter_map(day).collect();
            let discharged: Vec<_> = ok("2402").iter().filter_map(day).collect();
            let across = admitted.iter().any(|a| discharged.iter().any(|d| d > a));
            if across && !ok("2304").is_empty() {
                done
            } else {
                missing(
                    "no stay admitted (2401) one day, discharged (2402) a later day and settled (2304)",
                )
            }
        }
        Scenario::LegacyTwoPhase => {
            let answered = |tx: &str| {
                traffic
                    .iter()
                    .any(|e| e.path.ends_with(&format!("/legacy/guizhou/{tx}")) && e.status == 200)
            };
            if answered("48") && answered("confirm") {
                done
            } else {
                missing("no 48 settled and confirmed in the Guizhou dialect")
            }
        }
    }
}

/// The steps as text: one line each, then `N passed, N failed`.
pub fn report_text(session: &Session, steps: &[Step]) -> String {
    use std::fmt::Write as _;
    let mut t = format!(
        "certification session {} — institution {}, scenario {} ({})\n",
        session.id,
        session.institution,
        session.scenario.name(),
        session.scenario.description()
    );
    for s in steps {
        let _ = writeln!(
            t,
            "{} {:<44} [{}] {}",
            if s.passed { "PASS" } else { "FAIL" },
            s.name,
            s.rule,
            s.message
        );
    }
    let failed = steps.iter().filter(|s| !s.passed).count();
    let _ = writeln!(t, "{} passed, {failed} failed", steps.len() - failed);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(scenario: Scenario) -> Session {
        Session {
            id: "C1".into(),
            institution: "H44030000001".into(),
            scenario,
            fault: scenario.fault(1_000),
            opened_at: "2026-12-05T10:00:00+08:00".into(),
            closed_at: None,
        }
    }

    fn request(seq: u64, infno: &str, msgid: &str, inf_time: &str, extra: &str) -> Vec<u8> {
        format!(
            r#"{{"infno":"{infno}","msgid":"{msgid}","fixmedins_code":"H44030000001","inf_time":"{inf_time}","input":{{"data":{{"seq":{seq}{extra}}}}}}}"#
        )
        .into_bytes()
    }

    fn at(t: &str) -> OffsetDateTime {
        OffsetDateTime::parse(t, &Rfc3339).unwrap()
    }

    #[test]
    fn a_clock_an_hour_off_and_a_reused_msgid_fail_their_rules_only() {
        let received = at("2026-12-05T10:00:00+08:00");
        let ok = br#"{"infcode":0,"output":{}}"#;
        let traffic = vec![
            record(
                0,
                received,
                "/",
                &request(
                    0,
                    "1101",
                    "H44030000001202612051000000001",
                    "2026-12-05 10:00:30",
                    "",
                ),
                200,
                ok,
                None,
            ),
            record(
                1,
                received,
                "/",
                &request(
                    1,
                    "1101",
                    "H44030000001202612051000000002",
                    "2026-12-05 11:00:00",
                    "",
                ),
                200,
                ok,
                None,
            ),
            record(
                2,
                received,
                "/",
                &request(
                    2,
                    "1101",
                    "H44030000001202612051000000001",
                    "2026-12-05 10:00:30",
                    "",
                ),
                409,
                ok,
                None,
            ),
            record(
                3,
                received,
                "/",
                &request(
                    3,
                    "1101",
                    "H4403000000120261205100000001",
                    "2026-12-05 10:00:30",
                    "",
                ),
                400,
                ok,
                None,
            ),
        ];
        let steps = grade(&session(Scenario::OutpatientAccount), &traffic);
        let failed: Vec<(&str, Option<u64>)> = steps
            .iter()
            .filter(|s| !s.passed)
            .map(|s| (s.rule.as_str(), s.seq))
            .collect();
        assert_eq!(
            failed,
            vec![
                (CERT_INF_TIME, Some(1)),
                (CERT_MSGID_UNIQUE, Some(2)),
                (CERT_MSGID_FORMAT, Some(3)),
                (CERT_SCENARIO, None),
            ]
        );
        assert!(steps.iter().any(|s| s.passed && s.seq == Some(0)));
    }

    #[test]
    fn the_reaction_to_each_fault_is_graded() {
        let received = at("2026-12-05T10:00:00+08:00");
        let t = "2026-12-05 10:00:00";
        let settle = request(0, "2207", "H44030000001202612051000000001", t, "");
        let reverse = request(
            1,
            "2601",
            "H44030000001202612051000000002",
            t,
            r#","omsgid":"H44030000001202612051000000001""#,
        );
        let refused = br#"{"infcode":-1,"err_msg":"[CORE-CERT-INJECTED] x"}"#;
        let ok = br#"{"infcode":0,"output":{}}"#;
        let reaction = |scenario: Scenario, second: Option<&[u8]>| {
            let s = session(scenario);
            let mut traffic = vec![record(0, received, "/", &settle, 200, refused, s.fault)];
            if let Some(b) = second {
                traffic.push(record(1, received, "/", b, 200, ok, None));
            }
            grade(&s, &traffic)
                .into_iter()
                .find(|s| s.name == "fault reaction")
                .map(|s| (s.rule, s.passed))
        };
        let r = |rule: &str, passed| Some((rule.to_owned(), passed));
        assert_eq!(
            reaction(Scenario::LostAnswer, Some(&settle)),
            r(CERT_RETRY_SAME, true)
        );
        assert_eq!(
            reaction(Scenario::LostAnswer, None),
            r(CERT_RETRY_SAME, false)
        );
        assert_eq!(
            reaction(Scenario::TimeoutReverse, Some(&reverse)),
            r(CERT_REVERSE, true)
        );
        assert_eq!(
            reaction(Scenario::TimeoutReverse, Some(&settle)),
            r(CERT_REVERSE, false)
        );
        assert_eq!(
            reaction(Scenario::RefusalNotRetried, None),
            r(CERT_NO_RETRY_REFUSAL, true)
        );
        assert_eq!(
            reaction(Scenario::RefusalNotRetried, Some(&settle)),
            r(CERT_NO_RETRY_REFUSAL, false)
        );
    }
}
