//! Reconciliation answers (IS-D-9, national 3201 totals and 3202 detail) from the engine's
//! claim index. The comparison itself is the settlement crate's (`recon`); the engine only
//! supplies the claims of one institution and date range, read by key range (`yyyymmdd|code|`
//! per day) instead of rescanning the journal.

use medsettle_canonical::{ReversalLink, SettledClaim, SettlementAmounts};
use medsettle_settlement::recon::{
    self, DetailResult, Stmt3201Request, Stmt3201Result, Stmt3202Row,
};
use medsettle_store::Store;
use time::{Date, PrimitiveDateTime, Time};

use crate::Engine;
use crate::error::{EngineError, Result};
use crate::state::*;

/// Settlement time used for index rows: midnight China time of the settlement date, so the row's
/// `settlement_date()` is its date whatever the original time was.
const INDEX_ROW_TIME: Time = Time::MIDNIGHT;

impl Engine {
    /// Claims of `code` settled from `from` to `to` (inclusive), as the index keeps them.
    pub fn claims_in_range(
        &self,
        store: &dyn Store,
        code: &str,
        from: Date,
        to: Date,
    ) -> Result<Vec<ClaimRow>> {
        if to < from || (to - from).whole_days() >= i64::from(self.cfg.tuning.recon_days_max) {
            return Err(EngineError::Rule {
                rule: "IS-D-9",
                detail: format!(
                    "reconciliation range {from}..{to} must be ascending and at most {} days",
                    self.cfg.tuning.recon_days_max
                ),
            });
        }
        let mut out = Vec::new();
        let mut d = from;
        loop {
            let prefix = format!("{}|{code}|", dkey(d));
            for kv in store.scan_prefix(SPACE_CLAIM, prefix.as_bytes())? {
                let (k, v) = kv?;
                out.push(from_json(&String::from_utf8_lossy(&k), &v)?);
            }
            if d >= to {
                break;
            }
            d = d.next_day().expect("bounded range");
        }
        Ok(out)
    }

    /// IS-D-9 / 3201: compare the institution's declared totals with ours. Catches up first so
    /// the answer covers every durable settlement.
    pub fn reconcile_3201(
        &self,
        store: &dyn Store,
        req: &Stmt3201Request,
    ) -> Result<Stmt3201Result> {
        self.catch_up(store, &|_, _| {})?;
        let claims = self.shells(
            store,
            &req.fixmedins_code,
            req.stmt_begndate,
            req.stmt_enddate,
        )?;
        Ok(recon::reconcile_3201(&claims, req))
    }

    /// IS-D-9 / 3202: compare the institution's detail rows with ours, one result per
    /// `(setl_id, refd_setl_flag)`.
    pub fn reconcile_3202(
        &self,
        store: &dyn Store,
        fixmedins_code: &str,
        from: Date,
        to: Date,
        rows: &[Stmt3202Row],
    ) -> Result<Vec<DetailResult>> {
        self.catch_up(store, &|_, _| {})?;
        let claims = self.shells(store, fixmedins_code, from, to)?;
        Ok(recon::reconcile_3202(
            &claims,
            fixmedins_code,
            from,
            to,
            rows,
        ))
    }

    /// Index rows turned back into the [`SettledClaim`] fields the recon functions read.
    fn shells(
        &self,
        store: &dyn Store,
        code: &str,
        from: Date,
        to: Date,
    ) -> Result<Vec<SettledClaim>> {
        let pool = self.cfg.policy.pool_admdvs;
        Ok(self
            .claims_in_range(store, code, from, to)?
            .into_iter()
            .map(|r| SettledClaim {
                kind: r.kind,
                infno: String::new(),
                msgid: String::new(),
                setl_id: r.setl_id,
                mdtrt_id: r.recon.mdtrt_id,
                psn_no: r.recon.psn_no,
                psn_name: None,
                fixmedins_code: r.fixmedins_code,
                fixmedins_name: None,
                mdtrtarea_admvs: pool,
                insuplc_admdvs: None,
                clr_optins: r.recon.clr_optins,
                insutype: r.recon.insutype,
                psn_type: None,
                med_type: String::new(),
                clr_type: r.recon.clr_type,
                clr_way: None,
                setl_time: PrimitiveDateTime::new(r.settlement_date, INDEX_ROW_TIME)
                    .assume_offset(medsettle_canonical::CHINA_OFFSET),
                amounts: SettlementAmounts {
                    medfee_sumamt: r.recon.medfee_sumamt,
                    fund_pay_sumamt: r.recon.fund_pay_sumamt,
                    acct_pay: r.recon.acct_pay,
                    ..SettlementAmounts::default()
                },
                setldetail: Vec::new(),
                reversal_of: r.recon.reverses.map(|id| ReversalLink {
                    setl_id: Some(id),
                    msgid: None,
                    infno: None,
                }),
            })
            .collect())
    }
}
