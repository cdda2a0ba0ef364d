//! `/ops/interregion/…`: cross-region exchange on the running gateway (`specs/interregion.md`).
//! The peers, the exchanges in doubt and the ledger rows live in the request service, so these
//! endpoints answer from it directly.
//!
//! - `GET /ops/interregion/status` → peers, exchanges in doubt, reconciliation alerts (JSON);
//! - `POST /ops/interregion/reconcile` `{"date", "peer"?}` → one report per peer (JSON);
//! - `POST /ops/interregion/resolve` → resolve exchanges in doubt now: `{"resolved", "left"}`;
//! - `POST /ops/interregion/clearing` `{"month"}` → a clearing run (statements sent, replies
//!   made and applied, netting) and its report; `GET …/clearing?month=YYYY-MM` → the report
//!   from what is known here, nothing sent.
//! - `POST /ops/interregion/prepayment` `{"year"}` → a prepayment run (notices sent as holder,
//!   each acknowledged movement posted and paid by the side that pays) and its report;
//!   `GET …/prepayment?year=YYYY` → the report from what is known here, nothing sent;
//! - `POST /ops/interregion/prepayment/draw` `{"month", "insured"}` → draw the insured
//!   province's overdue transfer of the month from its prepayment held here.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use medsettle_server::{CONTENT_TYPE_JSON, CONTENT_TYPE_TEXT, OperatorRequest, ServiceResponse};
use medsettle_service::HisService;
use serde::Deserialize;

/// The path prefix these endpoints answer under `/ops/`.
pub const PREFIX: &str = "interregion/";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconcileRequest {
    date: String,
    #[serde(default)]
    peer: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClearingRequest {
    month: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrepaymentRequest {
    year: i32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DrawRequest {
    month: String,
    insured: String,
}

/// The first and last year a prepayment notice may name (the protocol's `XR-FMT-6`).
const PREPAYMENT_YEAR_FIRST: i32 = 2000;
const PREPAYMENT_YEAR_LAST: i32 = 2099;

fn prepayment_year(year: i32) -> Option<i32> {
    (PREPAYMENT_YEAR_FIRST..=PREPAYMENT_YEAR_LAST)
        .contains(&year)
        .then_some(year)
}

fn respond(status: u16, content_type: &str, body: Vec<u8>) -> ServiceResponse {
    ServiceResponse {
        status,
        content_type: content_type.to_owned(),
        body: Bytes::from(body),
        outcome: if status == 200 { "ok" } else { "rejected" },
        infno: None,
        headers: Vec::new(),
        abort: false,
    }
}

fn text(status: u16, body: String) -> ServiceResponse {
    respond(status, CONTENT_TYPE_TEXT, body.into_bytes())
}

fn json<T: serde::Serialize>(value: &T) -> ServiceResponse {
    respond(
        200,
        CONTENT_TYPE_JSON,
        serde_json::to_vec(value).expect("a report serializes"),
    )
}

/// `yyyy-MM-dd`, a real date.
fn parse_date(d: &str) -> Option<time::Date> {
    time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

/// Answer one `/ops/interregion/…` request (`req.path` is after `/ops/`).
pub async fn answer(
    his: Arc<HisService>,
    ops: Arc<crate::Operations>,
    req: OperatorRequest,
) -> ServiceResponse {
    let path = req.path.strip_prefix(PREFIX).unwrap_or("");
    let national = his.national();
    match (&req.method, path) {
        (&Method::GET, "status") => match national.interregion_status() {
            Ok(s) => json(&s),
            Err(e) => text(503, format!("{e}\n")),
        },
        (&Method::POST, "reconcile") => {
            let r: ReconcileRequest = match serde_json::from_slice(&req.body) {
                Ok(r) => r,
                Err(e) => return text(400, format!("interregion/reconcile: {e}\n")),
            };
            let Some(date) = parse_date(&r.date) else {
                return text(400, format!("date `{}`: yyyy-MM-dd\n", r.date));
            };
            match national.reconcile_with_peers(date, r.peer.as_deref()).await {
                Ok(reports) if reports.is_empty() => text(
                    400,
                    format!(
                        "no peer {}is configured\n",
                        r.peer.map(|p| format!("`{p}` ")).unwrap_or_default()
                    ),
                ),
                Ok(reports) => json(&reports),
                Err(e) => text(503, format!("{e}\n")),
            }
        }
        (&Method::POST, "clearing") | (&Method::GET, "clearing") => {
            let query = req.query.as_deref().unwrap_or("");
            let month = if req.method == Method::POST {
                serde_json::from_slice::<ClearingRequest>(&req.body)
                    .map(|r| r.month)
                    .unwrap_or_default()
            } else {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("month="))
                    .unwrap_or_default()
                    .to_owned()
            };
            let Some(month) = medsettle_settlement::YearMonth::parse(&month) else {
                return text(400, format!("month `{month}`: YYYY-MM\n"));
            };
            let exchange = req.method == Method::POST;
            match national.run_clearing(month, exchange).await {
                Ok(report) => {
                    let books = if exchange {
                        Some(books(&ops, &report, month))
                    } else {
                        None
                    };
                    let mut v = serde_json::to_value(&report).expect("a report serializes");
                    v["books"] = serde_json::to_value(&books).expect("books serialize");
                    json(&v)
                }
                Err(e) => text(503, format!("{e}\n")),
            }
        }
        (&Method::POST, "prepayment") | (&Method::GET, "prepayment") => {
            let year = if req.method == Method::POST {
                serde_json::from_slice::<PrepaymentRequest>(&req.body)
                    .map(|r| r.year)
                    .ok()
            } else {
                req.query
                    .as_deref()
                    .unwrap_or("")
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("year="))
                    .and_then(|y| y.parse().ok())
            };
            let Some(year) = year.and_then(prepayment_year) else {
                return text(400, "year: YYYY, 2000–2099\n".into());
            };
            let exchange = req.method == Method::POST;
            match national.run_prepayment(year, exchange).await {
                Ok(report) => {
                    let books =
                        exchange.then(|| crate::prepayment_books::books(&ops, &report.accounts));
                    let mut v = serde_json::to_value(&report).expect("a report serializes");
                    v["books"] = serde_json::to_value(&books).expect("books serialize");
                    json(&v)
                }
                Err(e) => text(503, format!("{e}\n")),
            }
        }
        (&Method::POST, "prepayment/draw") => {
            let r: DrawRequest = match serde_json::from_slice(&req.body) {
                Ok(r) => r,
                Err(e) => return text(400, format!("interregion/prepayment/draw: {e}\n")),
            };
            let Some(month) = medsettle_settlement::YearMonth::parse(&r.month) else {
                return text(400, format!("month `{}`: YYYY-MM\n", r.month));
            };
            let Ok(insured) = medsettle_canonical::Admdvs::parse(&r.insured) else {
                return text(
                    400,
                    format!("insured `{}`: a 6-digit region code\n", r.insured),
                );
            };
            match national.draw_prepayment(month, insured).await {
                Ok(account) => {
                    let books =
                        crate::prepayment_books::books(&ops, std::slice::from_ref(&account));
                    let mut v = serde_json::to_value(&account).expect("an account serializes");
                    v["books"] = serde_json::to_value(&books).expect("books serialize");
                    json(&v)
                }
                // refused by the rules (not overdue, nothing held, no such transfer)
                Err(e) => text(409, format!("{e}\n")),
            }
        }
        (&Method::POST, "resolve") => match national.resolve_peer_markers().await {
            Ok((resolved, left)) => json(&serde_json::json!({"resolved": resolved, "left": left})),
            Err(e) => text(503, format!("{e}\n")),
        },
        _ => text(
            404,
            format!("no interregion endpoint {} /ops/{}\n", req.method, req.path),
        ),
    }
}

/// What a clearing run put in the books: the ledger postings of this province and, when it
/// pays, the payment file of its transfers.
#[derive(Debug, Default, serde::Serialize)]
pub struct ClearingBooks {
    pub posted: Option<medsettle_engine::ProvinceClearingPost>,
    pub payment_batch: Option<String>,
    pub payment_file: Option<String>,
    pub notes: Vec<String>,
}

/// Post the month's clearing for this province and drop its transfers as a payment file —
/// only once every statement of the month is answered on both sides.
fn books(
    ops: &crate::Operations,
    report: &medsettle_service::interregion_clearing::ClearingReport,
    month: medsettle_settlement::YearMonth,
) -> ClearingBooks {
    let mut b = ClearingBooks::default();
    if !report.errors.is_empty() || report.answered.is_empty() {
        b.notes
            .push("not every statement is answered yet: nothing posted or paid".into());
        return b;
    }
    if report.statements.iter().any(|s| !s.replied) {
        b.notes
            .push("a statement is still unanswered: nothing posted or paid".into());
        return b;
    }
    let config = ops.config();
    let engine = ops.engine();
    let calendar = &engine.config().calendar;
    let mc = match medsettle_clearing::MonthClearing::bilateral(month, &report.answered, calendar) {
        Ok(mc) => mc,
        Err(e) => {
            b.notes.push(format!("netting: {e}"));
            return b;
        }
    };
    let ours = medsettle_clearing::province_of(config.receiver_admdvs);
    let entity = medsettle_clearing::province_entity(ours);
    let postings: Vec<_> = medsettle_clearing::clearing_postings(&mc)
        .into_iter()
        .filter(|t| t.debit.institution() == entity || t.credit.institution() == entity)
        .collect();
    let expected = mc
        .expected_expenditure()
        .into_iter()
        .filter(|(e, _)| *e == entity)
        .collect();
    // the transfers this province sends, so their bank receipts post like any payment's
    let payments = mc
        .transfers_from(ours)
        .map(|t| medsettle_engine::ProvincePayment {
            payment_id: t.transfer_id.clone(),
            payer: entity.clone(),
            payee: t.receiver.to_string(),
            amount: t.amount,
            source: medsettle_clearing::transfer_source(month, t),
        })
        .collect();
    match engine.post_province_clearing(
        ops.store().as_ref(),
        &format!("clearing/{month}"),
        postings,
        expected,
        payments,
    ) {
        Ok(p) => b.posted = Some(p),
        Err(e) => {
            b.notes.push(format!("ledger: {e}"));
            return b;
        }
    }
    if mc.transfers_from(ours).next().is_none() {
        return b;
    }
    let accounts = crate::prepayment_books::province_accounts(config);
    let batch = match mc.to_payment_batch(
        ours,
        &accounts,
        config.settlement.debtor.clone(),
        mc.transfer_due.value,
        // approved when the last statement was confirmed: a rerun makes the same batch, which
        // the outbox then recognises as already dropped
        mc.confirmed_on
            .midnight()
            .assume_offset(medsettle_canonical::CHINA_OFFSET),
    ) {
        Ok(batch) => batch,
        Err(e) => {
            b.notes.push(format!("payment file: {e}"));
            return b;
        }
    };
    let dropped = crate::open::filedrop_config(config).and_then(|cfg| {
        medsettle_filedrop::Outbox::drop_batch(ops.store().as_ref(), &cfg, &batch)
            .map_err(anyhow::Error::from)
    });
    match dropped {
        Ok(report) => {
            b.payment_batch = Some(batch.batch_id.clone());
            b.payment_file = Some(format!("{report:?}"));
        }
        Err(e) => b.notes.push(format!("payment file: {e}")),
    }
    b
}
