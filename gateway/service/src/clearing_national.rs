//! The hospitals' side of cross-province clearing in the national interface (issue 19 item 6):
//! 3260 extracts the month's cross-province clearing detail of the calling institution (at most
//! 100 rows from `startrow`), 3261 confirms or refuses lines of it, 3262 rolls a confirmation
//! back. The detail is this gateway's clearing as place of treatment: the month's rows with
//! reversals netted (`medsettle_clearing::clearing_month`), the institution's lines numbered
//! 1… in statement order; `setl_sn` is the settlement id the hospital was given (2207/2304).
//!
//! A confirmation is kept (`xr.hosp_confirm`) with its lines and shown to the operator; the
//! provinces' clearing itself is settled between the agencies (`crate::interregion_clearing`).

use medsettle_canonical::{RuleId, Violation};
use medsettle_clearing as clr;
use medsettle_nhsa::tx::t3260::{self, Detail3260, Out3260};
use medsettle_nhsa::tx::t3261::{In3261, Out3261};
use medsettle_nhsa::tx::t3262::In3262;
use medsettle_settlement::YearMonth;
use medsettle_store::{StateWrite, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::interregion::ledger_rows;
use crate::national::NationalService;

/// State keyspace of the hospitals' confirmations: key `<fixmedins_code>\0<YYYY-MM>\0<otransid>`,
/// value a [`HospitalConfirmation`].
pub const SPACE_XR_HOSP_CONFIRM: &str = "xr.hosp_confirm";

/// One 3261, as kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HospitalConfirmation {
    pub fixmedins_code: String,
    pub month: String,
    pub otransid: String,
    /// `(setl_sn, confirmed)` per line answered.
    pub lines: Vec<(String, bool)>,
    /// Rolled back by 3262.
    pub rolled_back: bool,
}

fn month_of(year: i32, month: u8) -> Option<YearMonth> {
    YearMonth::parse(&format!("{year:04}-{month:02}"))
}

fn confirm_key(code: &str, month: YearMonth, otransid: &str) -> Vec<u8> {
    format!("{code}\0{month}\0{otransid}").into_bytes()
}

impl NationalService {
    /// The institution's lines of the month's cross-province clearing, numbered from 1.
    fn clearing_lines(&self, code: &str, month: YearMonth) -> Result<Vec<Detail3260>, Violation> {
        let unavailable = |e: medsettle_store::StoreError| {
            Violation::new(RuleId::GW_UNAVAILABLE, "", e.to_string())
        };
        let rows = ledger_rows(self.store.as_ref()).map_err(unavailable)?;
        let mine: Vec<_> = rows
            .iter()
            .filter(|r| r.side == "treatment" && r.medins_no == code)
            .collect();
        let clearing: Vec<clr::ClearingRow> = mine
            .iter()
            .filter_map(|r| crate::interregion_clearing::clearing_row_of(r))
            .collect();
        let statements = clr::clearing_month(&clearing, month, &[])
            .map_err(|e| Violation::new(RuleId::GW_INTERNAL, "", e.to_string()))?;
        let mut out = Vec::new();
        for s in &statements {
            for l in &s.lines {
                // the hospital knows its own settlement id (the one its 2207/2304 got)
                let local = mine
                    .iter()
                    .find(|r| r.msgid == l.row.omsgid || r.omsgid == l.row.omsgid)
                    .filter(|r| !r.setl_id.is_empty())
                    .map_or_else(|| l.row.setl_id.clone(), |r| r.setl_id.clone());
                out.push(Detail3260 {
                    seqno: medsettle_nhsa::Scaled(i64::try_from(out.len() + 1).unwrap_or(0)),
                    mdtrtarea: l.row.mdtrtarea_admvs,
                    medins_no: l.row.medins_no.clone(),
                    certno: l.row.certno.clone(),
                    mdtrt_id: l.row.mdtrt_id.clone(),
                    mdtrt_setl_time: Detail3260::china_time(l.row.setl_time),
                    setl_sn: local,
                    fulamt_advpay_flag: Detail3260::advpay_flag(l.row.fulamt_advpay_flag),
                    medfee_sumamt: l.row.medfee_sumamt,
                    optins_pay_sumamt: l.row.fund_pay_sumamt,
                    extra: Default::default(),
                });
            }
        }
        Ok(out)
    }

    /// 3260: one page of the institution's clearing detail.
    pub(crate) fn clearing_3260(
        &self,
        code: &str,
        input: &t3260::In3260,
    ) -> Result<Value, Violation> {
        let d = &input.data;
        let month = month_of(d.trt_year.get(), d.trt_month.number()).ok_or_else(|| {
            Violation::new(RuleId::FMT_DATE, "input.data.trt_month", "not a month")
        })?;
        let lines = self.clearing_lines(code, month)?;
        let range = t3260::page_range(d.startrow, lines.len());
        Ok(Out3260::new(lines[range].to_vec()).encode())
    }

    /// 3261: the confirmation kept under `otransid` (the answer's own `inf_refmsgid`).
    pub(crate) fn clearing_3261(
        &self,
        code: &str,
        input: &In3261,
        otransid: &str,
    ) -> Result<(Value, Vec<StateWrite>), Violation> {
        let d = &input.data;
        let month = month_of(d.trt_year.get(), d.trt_month.number()).ok_or_else(|| {
            Violation::new(RuleId::FMT_DATE, "input.data.trt_month", "not a month")
        })?;
        let known = self.clearing_lines(code, month)?;
        for (i, l) in input.detail.iter().enumerate() {
            if !known.iter().any(|k| k.setl_sn == l.setl_sn) {
                return Err(Violation::new(
                    RuleId::FMT_CODE,
                    format!("input.detail[{i}].setl_sn"),
                    format!(
                        "{} is not a line of {code}'s cross-province clearing for {month} (3260)",
                        l.setl_sn
                    ),
                ));
            }
        }
        let kept = HospitalConfirmation {
            fixmedins_code: code.to_owned(),
            month: month.to_string(),
            otransid: otransid.to_owned(),
            lines: input
                .detail
                .iter()
                .map(|l| (l.setl_sn.clone(), l.confirmed()))
                .collect(),
            rolled_back: false,
        };
        Ok((
            Out3261::new(otransid).encode(),
            vec![StateWrite::put(
                SPACE_XR_HOSP_CONFIRM,
                confirm_key(code, month, otransid),
                serde_json::to_vec(&kept).expect("a confirmation serializes"),
            )],
        ))
    }

    /// 3262: roll back one confirmation of the month (or every one, `otransid` 0).
    pub(crate) fn clearing_3262(
        &self,
        code: &str,
        input: &In3262,
    ) -> Result<(Value, Vec<StateWrite>), Violation> {
        let d = &input.data;
        let month = month_of(d.trt_year.get(), d.trt_month.number()).ok_or_else(|| {
            Violation::new(RuleId::FMT_DATE, "input.data.trt_month", "not a month")
        })?;
        let prefix = format!("{code}\0{month}\0").into_bytes();
        let mut writes = Vec::new();
        let items = self
            .store
            .scan_prefix(SPACE_XR_HOSP_CONFIRM, &prefix)
            .map_err(|e| Violation::new(RuleId::GW_UNAVAILABLE, "", e.to_string()))?;
        for item in items {
            let (key, v) =
                item.map_err(|e| Violation::new(RuleId::GW_UNAVAILABLE, "", e.to_string()))?;
            let Ok(mut c) = serde_json::from_slice::<HospitalConfirmation>(&v) else {
                continue;
            };
            if c.rolled_back || !(d.rolls_back_all() || c.otransid == d.otransid) {
                continue;
            }
            c.rolled_back = true;
            writes.push(StateWrite::put(
                SPACE_XR_HOSP_CONFIRM,
                key,
                serde_json::to_vec(&c).expect("a confirmation serializes"),
            ));
        }
        if writes.is_empty() {
            return Err(Violation::new(
                RuleId::FMT_CODE,
                "input.data.otransid",
                format!(
                    "no confirmation {} of {code} for {month} to roll back",
                    d.otransid
                ),
            ));
        }
        Ok((serde_json::json!({}), writes))
    }
}
