//! What a request may ask beyond its format (issue 15 item 7), checked by the core because it
//! knows the request time and the sender: the place of treatment is the sender's own region,
//! no event lies in the future, and no fee line or settlement is beyond a plausible amount.
//! The wire adapter refuses the same amounts, and times outside 2000–2099, on the bytes
//! (`medsettle_nhsa::plausible`); the core holds its own copy of the caps because it also
//! computes line totals a request leaves out (`cnt × pric`).

use medsettle_canonical::{Admdvs, Money, RuleId};
use time::macros::format_description;
use time::{Duration, PrimitiveDateTime};

use crate::catalogue::{Quantity, UnitPrice};
use crate::ctx::RequestCtx;
use crate::error::CoreRefusal;
use crate::txn::{CoreRequest, FeeDetailIn, SettleReq};

/// How far past the request time an event of the request (`begntime`, `endtime`,
/// `fee_ocur_time`) may lie: one day, for a HIS clock running ahead. A registration,
/// admission, discharge or charge later than that has not happened.
pub const EVENT_TIME_FUTURE_DAYS_MAX: i64 = 1;

/// The largest fee line, in fen, either sign: 10 million yuan (the adapter's
/// `FEE_LINE_AMOUNT_FEN_MAX`). Applies to `det_item_fee_sumamt` and to `cnt × pric`.
pub const FEE_LINE_AMOUNT_FEN_MAX: i64 = 1_000_000_000;

/// The largest settlement, in fen: 100 million yuan (the adapter's
/// `SETTLEMENT_AMOUNT_FEN_MAX`). Applies to a `medfee_sumamt` the request sends.
pub const SETTLEMENT_AMOUNT_FEN_MAX: i64 = 10_000_000_000;

/// Province codes of the four municipalities, whose districts form one pool.
const MUNICIPALITIES: &[&str] = &["11", "12", "31", "50"];

/// Every check of this module on `req`.
pub fn check_request(req: &CoreRequest, ctx: &RequestCtx) -> Result<(), CoreRefusal> {
    check_sender_region(ctx)?;
    let latest = ctx.now.to_offset(medsettle_canonical::CHINA_OFFSET)
        + Duration::days(EVENT_TIME_FUTURE_DAYS_MAX);
    let latest = PrimitiveDateTime::new(latest.date(), latest.time());
    match req {
        CoreRequest::Register(r) => not_after(&r.begntime, "input.data.begntime", latest),
        CoreRequest::Admit(r) => not_after(&r.begntime, "input.mdtrtinfo.begntime", latest),
        CoreRequest::Discharge(r) => not_after(&r.endtime, "input.dscginfo.endtime", latest),
        CoreRequest::OutpatientFees(lines) | CoreRequest::InpatientFees(lines) => {
            check_fee_lines(lines, latest)
        }
        CoreRequest::OutpatientPreSettle(r)
        | CoreRequest::OutpatientSettle(r)
        | CoreRequest::InpatientPreSettle(r)
        | CoreRequest::InpatientSettle(r) => check_settlement(r),
        _ => Ok(()),
    }
}

/// `mdtrtarea_admvs` must be the region the sender's national `fixmedins_code` names (a
/// letter, the 6-digit region, a 5-digit serial): the same city, or the same municipality.
/// A code of another layout names no region and is not checked.
fn check_sender_region(ctx: &RequestCtx) -> Result<(), CoreRefusal> {
    let code = ctx.fixmedins_code.as_str();
    let b = code.as_bytes();
    let national =
        b.len() == 12 && b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_digit);
    let Some(own) = national.then(|| Admdvs::parse(&code[1..7]).ok()).flatten() else {
        return Ok(());
    };
    let area = &ctx.mdtrtarea_admvs;
    let same = if MUNICIPALITIES.contains(&own.province()) {
        own.province() == area.province()
    } else {
        own.city() == area.city()
    };
    if same {
        return Ok(());
    }
    Err(CoreRefusal::rule(
        RuleId::FMT_ADMDVS,
        "mdtrtarea_admvs",
        format!(
            "mdtrtarea_admvs (就医地医保区划) {} is not the region of institution {code} ({}): a place of treatment is the sender's own",
            area.as_str(),
            own.as_str()
        ),
    ))
}

fn not_after(text: &str, path: &str, latest: PrimitiveDateTime) -> Result<(), CoreRefusal> {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    // The adapter checked the format; a text it let through that does not parse is not ours.
    let Ok(t) = PrimitiveDateTime::parse(text, format) else {
        return Ok(());
    };
    if t <= latest {
        return Ok(());
    }
    Err(CoreRefusal::rule(
        RuleId::FMT_DATETIME,
        path,
        format!(
            "{text} is later than the request time plus {EVENT_TIME_FUTURE_DAYS_MAX} day (EVENT_TIME_FUTURE_DAYS_MAX): it has not happened"
        ),
    ))
}

fn beyond(amount: i128, cap_fen: i64) -> bool {
    amount.abs() > i128::from(cap_fen)
}

fn check_fee_lines(lines: &[FeeDetailIn], latest: PrimitiveDateTime) -> Result<(), CoreRefusal> {
    for (i, line) in lines.iter().enumerate() {
        let at = format!("input.feedetail[{i}]");
        if let Some(t) = &line.fee_ocur_time {
            not_after(t, &format!("{at}.fee_ocur_time"), latest)?;
        }
        let cap = Money::from_fen(FEE_LINE_AMOUNT_FEN_MAX);
        if let Some(sent) = line.det_item_fee_sumamt
            && beyond(i128::from(sent.fen()), FEE_LINE_AMOUNT_FEN_MAX)
        {
            return Err(CoreRefusal::rule(
                RuleId::FMT_MONEY,
                format!("{at}.det_item_fee_sumamt"),
                format!(
                    "{sent} is beyond the plausible {cap} for one fee line (FEE_LINE_AMOUNT_FEN_MAX)"
                ),
            ));
        }
        if beyond(line_fen(line.cnt, line.pric), FEE_LINE_AMOUNT_FEN_MAX) {
            return Err(CoreRefusal::rule(
                RuleId::FMT_MONEY,
                format!("{at}.pric"),
                format!(
                    "cnt {} × pric {} is beyond the plausible {cap} for one fee line (FEE_LINE_AMOUNT_FEN_MAX)",
                    line.cnt, line.pric
                ),
            ));
        }
    }
    Ok(())
}

/// `cnt × pric` in fen, truncated (only compared with a cap).
fn line_fen(cnt: Quantity, pric: UnitPrice) -> i128 {
    // cnt in 1/10 000, pric in 1/1 000 000: the product in 1/10¹⁰ yuan, 1/10⁸ fen.
    i128::from(cnt.units()) * i128::from(pric.units()) / 100_000_000
}

fn check_settlement(r: &SettleReq) -> Result<(), CoreRefusal> {
    match r.medfee_sumamt {
        Some(m) if beyond(i128::from(m.fen()), SETTLEMENT_AMOUNT_FEN_MAX) => {
            Err(CoreRefusal::rule(
                RuleId::FMT_MONEY,
                "input.data.medfee_sumamt",
                format!(
                    "{m} is beyond the plausible {} for one settlement (SETTLEMENT_AMOUNT_FEN_MAX)",
                    Money::from_fen(SETTLEMENT_AMOUNT_FEN_MAX)
                ),
            ))
        }
        _ => Ok(()),
    }
}
