//! medsettle-engine: the instant-settlement engine inside the gateway.
//!
//! It wires the pure library `medsettle-settlement` to the durable store `medsettle-store`:
//! - a **journal consumer** ([`Engine::catch_up`]) that feeds every `nhsa.settlement` claim to
//!   the [`DailyAggregator`] and persists what changed — per-claim index row, per-(date,
//!   institution) aggregates, the consumer's offset — in one `engine.progress` journal record
//!   per batch, so closing a day never rescans the journal (layout and sizing: [`state`]);
//! - the **closings**: [`Engine::close_day`] (daily disbursement, IS-D), [`Engine::close_month`]
//!   (IS-M), [`Engine::close_quarter`] (IS-Q-1), [`Engine::close_year`] (IS-A), each posting to
//!   the persisted [`Ledger`], running the auditor (IS-RK-3) and persisting run + ledger +
//!   aggregator changes in **one** journal record — a failed audit persists nothing;
//! - **receipts** ([`Engine::apply_receipts`], IS-D-6/7) and **reconciliation**
//!   ([`Engine::reconcile_3201`], [`Engine::reconcile_3202`], IS-D-9) from the claim index;
//! - **operator suspensions** of an institution's daily disbursement
//!   ([`Engine::suspend_institution`], [`Engine::resume_institution`], [`Engine::suspensions`],
//!   IS-RK-2), journaled like every other state change;
//! - [`Engine::status`] and the pure [`Scheduler`] for the server's background task.
//!
//! `close_day`'s date is the **payment date** (T+1, IS-D-4): the aggregator closes pay dates,
//! and one pay date may cover several settlement dates (weekends, holidays). Callers that think
//! in settlement dates convert with [`Engine::pay_date_for`].
//!
//! Concurrency: one engine per store; every public method takes the engine's lock, so the
//! server's background close and an operator's CLI call in the same process serialize.

mod closes;
pub mod error;
mod recon;
mod scheduler;
pub mod state;
mod suspensions;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use medsettle_canonical::journal::{ExchangeClaim, KIND_SETTLEMENT};
use medsettle_canonical::{BankAccount, Institution, SettledClaim};
use medsettle_settlement::ledger::Ledger;
use medsettle_settlement::{
    Calendar, DailyAggregator, FeedOutcome, Institutions, SettlementPolicy, YearMonth,
    institutions_by_code,
};
use medsettle_store::{JournalRecord, StateWrite, Store};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::Date;

pub use closes::{
    AnnualAmounts, AnnualClose, CLOSED_PERIOD_RULE, DailyClose, MonthlyClose, ProvinceClearingPost,
    ProvincePayment, QuarterlyClose, ReceiptApplied, monthly_inputs_sha256,
};
pub use error::{EngineError, Result};
pub use medsettle_settlement::daily::Suspension;
pub use scheduler::Scheduler;
use state::*;
pub use suspensions::{
    OPERATOR_NAME_CHARS_MAX, SUSPENSION_REASON_CHARS_MAX, SuspensionAction, SuspensionChange,
};

/// Default consumer name under which the engine commits its journal offset.
pub const CONSUMER_NAME_DEFAULT: &str = "settlement-engine";
/// Default for [`EngineTuning::progress_records_max`]: journal records per progress record.
/// Bounds how much is redone after a crash and how large a progress record gets.
pub const PROGRESS_RECORDS_MAX_DEFAULT: usize = 5_000;
/// Default for [`EngineTuning::progress_bytes_max`]: state-write bytes per progress record,
/// small enough that a progress record stays cheap to write and re-read (the store's
/// `record_bytes_max` is far larger).
pub const PROGRESS_BYTES_MAX_DEFAULT: usize = 2 * 1024 * 1024;
/// Default for [`EngineTuning::result_part_bytes`]: a stored close result is split into parts
/// of this size, each in its own journal record, so a million-claim daily detail fits the
/// store's record limit with a wide margin.
pub const RESULT_PART_BYTES_DEFAULT: usize = 2 * 1024 * 1024;
/// Default for [`EngineTuning::read_batch`]: records per `read_from` call.
pub const READ_BATCH_DEFAULT: usize = 1_000;
/// Default for [`EngineTuning::recon_days_max`]: longest 3201/3202 date range, days.
pub const RECON_DAYS_MAX_DEFAULT: u32 = 366;

/// Sizing knobs (all with defaults; none changes a result, only batching).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineTuning {
    pub progress_records_max: usize,
    pub progress_bytes_max: usize,
    pub read_batch: usize,
    pub recon_days_max: u32,
    pub result_part_bytes: usize,
}

impl Default for EngineTuning {
    fn default() -> Self {
        EngineTuning {
            progress_records_max: PROGRESS_RECORDS_MAX_DEFAULT,
            progress_bytes_max: PROGRESS_BYTES_MAX_DEFAULT,
            read_batch: READ_BATCH_DEFAULT,
            recon_days_max: RECON_DAYS_MAX_DEFAULT,
            result_part_bytes: RESULT_PART_BYTES_DEFAULT,
        }
    }
}

/// What the engine is built from.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub policy: SettlementPolicy,
    pub calendar: Calendar,
    pub institutions: Vec<Institution>,
    /// The fund-expenditure account payments are sent from.
    pub debtor: BankAccount,
    /// Consumer name for the store's offset table.
    pub consumer_name: String,
    pub tuning: EngineTuning,
}

impl EngineConfig {
    /// A config with the default consumer name and tuning.
    pub fn new(
        policy: SettlementPolicy,
        calendar: Calendar,
        institutions: Vec<Institution>,
        debtor: BankAccount,
    ) -> EngineConfig {
        EngineConfig {
            policy,
            calendar,
            institutions,
            debtor,
            consumer_name: CONSUMER_NAME_DEFAULT.to_owned(),
            tuning: EngineTuning::default(),
        }
    }
}

/// Parse the canonical institution list (`[[institution]]` tables, `specs/sample/institutions.toml`).
pub fn load_institutions_toml(text: &str) -> Result<Vec<Institution>> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        institution: Vec<Institution>,
    }
    let f: File = toml::from_str(text).map_err(|e| EngineError::Institutions(e.to_string()))?;
    let mut seen = BTreeSet::new();
    for i in &f.institution {
        if !seen.insert(i.fixmedins_code.as_str()) {
            return Err(EngineError::Institutions(format!(
                "{} is listed twice",
                i.fixmedins_code
            )));
        }
    }
    Ok(f.institution)
}

/// What one [`Engine::catch_up`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatchUp {
    /// Journal records read (all kinds).
    pub records_seen: u64,
    /// Claims taken into daily disbursement.
    pub claims_fed: u64,
    /// Claims already known (same setl_id and kind): no effect.
    pub duplicates: u64,
    /// Claims indexed for reconciliation but not disbursed daily (scope, IS-SC-*, or their month
    /// already settled).
    pub out_of_scope: u64,
    /// Progress records written.
    pub progress_records: u64,
    /// The next offset to read afterwards.
    pub next_offset: u64,
}

/// Settlement dates with claims not yet closed into a daily run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenDay {
    pub settlement_date: Date,
    pub pay_date: Option<Date>,
    pub pending_claims: u64,
}

/// [`Engine::status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStatus {
    pub consumer: String,
    /// Next offset per the engine's state (authoritative).
    pub next_offset: u64,
    /// Next offset per the store's consumer table (may trail after a crash).
    pub committed_offset: u64,
    pub durable_offset: Option<u64>,
    /// Durable records not yet consumed.
    pub lag: u64,
    pub open_days: Vec<OpenDay>,
    pub last_daily: Option<Date>,
    pub last_monthly: Option<YearMonth>,
    pub last_quarterly: Option<String>,
    pub last_annual: Option<i32>,
    pub claims_indexed: u64,
    /// Institutions whose daily disbursement an operator suspended (code, reason, by, since),
    /// by code: every daily close skips them until they are resumed.
    #[serde(default)]
    pub suspensions: Vec<Suspension>,
}

/// The in-memory mirror of the persisted state. Dropped (set to `None`) after any failure, so
/// the next call reloads what is durable.
pub(crate) struct Loaded {
    pub agg: DailyAggregator,
    pub ledger: Ledger,
    pub meta: Meta,
    /// What `engine.agg` holds (diffed against at closes).
    pub parts: BTreeMap<String, Vec<u8>>,
    pub claims_indexed: u64,
}

/// The engine. See the crate docs.
pub struct Engine {
    cfg: EngineConfig,
    institutions: Institutions,
    state: Mutex<Option<Loaded>>,
}

type Guard<'a> = MutexGuard<'a, Option<Loaded>>;

impl Engine {
    pub fn new(cfg: EngineConfig) -> Engine {
        let institutions = institutions_by_code(cfg.institutions.clone());
        Engine {
            cfg,
            institutions,
            state: Mutex::new(None),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// IS-D-4/8: the payment date of a settlement date under the policy and calendar.
    pub fn pay_date_for(&self, settlement_date: Date) -> Result<Date> {
        Ok(self
            .cfg
            .policy
            .pay_date_for(&self.cfg.calendar, settlement_date)?)
    }

    pub(crate) fn lock(&self) -> Guard<'_> {
        // A panic while holding the lock leaves possibly half-updated memory: drop it.
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => {
                let mut g = p.into_inner();
                *g = None;
                g
            }
        }
    }

    /// Run `f` on the loaded state; on error drop the in-memory state (it may be ahead of the
    /// store), so the next call reloads from what is durable.
    pub(crate) fn with_state<T>(
        &self,
        store: &dyn Store,
        f: impl FnOnce(&mut Loaded) -> Result<T>,
    ) -> Result<T> {
        let mut g = self.lock();
        if let Some(l) = g.as_ref()
            && stored_version(store)? != l.meta.version
        {
            *g = None;
        }
        if g.is_none() {
            *g = Some(self.load(store)?);
        }
        let r = f(g.as_mut().expect("loaded above"));
        if r.is_err() {
            *g = None;
        }
        r
    }

    fn load(&self, store: &dyn Store) -> Result<Loaded> {
        let meta: Meta = match store.get(SPACE_META, META_KEY)? {
            Some(b) => from_json("engine.meta/core", &b)?,
            None => Meta::default(),
        };
        let mut parts = BTreeMap::new();
        for kv in store.scan_prefix(SPACE_AGG, b"")? {
            let (k, v) = kv?;
            let k = String::from_utf8(k).map_err(|e| EngineError::state("engine.agg", e))?;
            parts.insert(k, v);
        }
        let mut seen = Map::new();
        let mut pending: Vec<(u64, Value)> = Vec::new();
        let mut claims_indexed = 0u64;
        for kv in store.scan_prefix(SPACE_CLAIM, b"")? {
            let (k, v) = kv?;
            claims_indexed += 1;
            let row: ClaimRow = from_json(&String::from_utf8_lossy(&k), &v)?;
            let Some(e) = row.entry else { continue };
            let ratio = serde_json::to_value(e.daily_ratio)
                .map_err(|x| EngineError::state("engine.claim", x))?;
            seen.insert(seen_key(e.kind, &e.setl_id), ratio);
            let consumed = meta
                .buckets
                .get(&dkey(e.settlement_date))
                .map(|b| b.consumed_through)
                .unwrap_or(0);
            if row.seq > consumed {
                let v =
                    serde_json::to_value(&e).map_err(|x| EngineError::state("engine.claim", x))?;
                pending.push((row.seq, v));
            }
        }
        // The aggregator's pending list is in feed order; closes list claims in that order.
        pending.sort_by_key(|p| p.0);
        let agg = assemble_aggregator(&parts, seen, pending.into_iter().map(|(_, v)| v).collect())?;
        let mut chunks = Vec::new();
        for kv in store.scan_prefix(SPACE_LEDGER, b"t/")? {
            let (k, v) = kv?;
            chunks.push(from_json(&String::from_utf8_lossy(&k), &v)?);
        }
        let mut posted = BTreeSet::new();
        for kv in store.scan_prefix(SPACE_LEDGER, b"p/")? {
            let (k, _) = kv?;
            let k = String::from_utf8(k).map_err(|e| EngineError::state("engine.ledger", e))?;
            posted.insert(k[2..].to_owned());
        }
        let ledger = assemble_ledger(chunks, posted)?;
        Ok(Loaded {
            agg,
            ledger,
            meta,
            parts,
            claims_indexed,
        })
    }

    /// The aggregator as the engine holds it (reloaded from the store if needed).
    pub fn aggregator(&self, store: &dyn Store) -> Result<DailyAggregator> {
        self.with_state(store, |s| Ok(s.agg.clone()))
    }

    /// The daily payments (what the daily closes paid and the receipts said), copied out of
    /// the loaded state alone: [`Engine::aggregator`] copies every claim key ever fed with
    /// them, a cost that grows with the journal (the console's overview reads payments only).
    pub fn daily_payments(
        &self,
        store: &dyn Store,
    ) -> Result<Vec<medsettle_settlement::daily::PaymentRecord>> {
        self.with_daily_payments(store, |ps| ps.cloned().collect())
    }

    /// `f` over the daily payments where the engine holds them, nothing copied (a month of
    /// 2,000 institutions' payments copies in ~20 ms; the overview only sums them).
    pub fn with_daily_payments<T>(
        &self,
        store: &dyn Store,
        f: impl FnOnce(&mut dyn Iterator<Item = &medsettle_settlement::daily::PaymentRecord>) -> T,
    ) -> Result<T> {
        self.with_state(store, |s| Ok(f(&mut s.agg.payments())))
    }

    /// The ledger as persisted.
    pub fn ledger(&self, store: &dyn Store) -> Result<Ledger> {
        self.with_state(store, |s| Ok(s.ledger.clone()))
    }

    /// The stored per-(settlement date, institution) aggregates of `date`, by institution.
    pub fn day_aggregates(
        &self,
        store: &dyn Store,
        date: Date,
    ) -> Result<BTreeMap<String, DayAggregate>> {
        let prefix = format!("{}|", dkey(date));
        let mut out = BTreeMap::new();
        for kv in store.scan_prefix(SPACE_DAY, prefix.as_bytes())? {
            let (k, v) = kv?;
            let k = String::from_utf8_lossy(&k).into_owned();
            let a: DayAggregate = from_json(&k, &v)?;
            out.insert(k[prefix.len()..].to_owned(), a);
        }
        Ok(out)
    }

    /// Consume the journal from the engine's offset to the durable end (see the crate docs).
    /// `progress(done, end)` is called after each progress record with journal offsets.
    pub fn catch_up(&self, store: &dyn Store, progress: &dyn Fn(u64, u64)) -> Result<CatchUp> {
        self.with_state(store, |s| self.catch_up_locked(store, s, progress, true))
    }

    /// Test hook for crash simulation: like [`Engine::catch_up`] but never calls
    /// `commit_offset`, as if the process died right after the durable progress record.
    #[doc(hidden)]
    pub fn catch_up_without_commit(&self, store: &dyn Store) -> Result<CatchUp> {
        self.with_state(store, |s| self.catch_up_locked(store, s, &|_, _| {}, false))
    }

    pub(crate) fn catch_up_locked(
        &self,
        store: &dyn Store,
        s: &mut Loaded,
        progress: &dyn Fn(u64, u64),
        commit: bool,
    ) -> Result<CatchUp> {
        let t = &self.cfg.tuning;
        let consumer = self.cfg.consumer_name.as_str();
        // The state's offset is authoritative; the store's committed offset can only trail it
        // (crash between the progress record and commit_offset) — or lead it if someone
        // committed by hand, which we refuse to trust over our own state.
        let committed = store.committed_offset(consumer)?;
        let mut next = s.meta.next_offset;
        if commit && committed != next {
            store.commit_offset(consumer, next)?;
        }
        let end = store.durable_offset().map(|o| o + 1).unwrap_or(0);
        let mut out = CatchUp {
            next_offset: next,
            ..CatchUp::default()
        };
        let mut batch = Batch::default();
        loop {
            let recs = store.read_from(next, t.read_batch.max(1))?;
            if recs.is_empty() {
                break;
            }
            for (offset, rec) in recs {
                out.records_seen += 1;
                next = offset + 1;
                // The engine's own records need no processing; counting them would make every
                // progress record cause another one.
                if rec.kind.starts_with(ENGINE_KIND_PREFIX) {
                    continue;
                }
                batch.records += 1;
                if rec.kind == KIND_SETTLEMENT {
                    let ex: ExchangeClaim = serde_json::from_slice(&rec.payload).map_err(|e| {
                        EngineError::BadRecord {
                            offset,
                            kind: rec.kind.clone(),
                            detail: e.to_string(),
                        }
                    })?;
                    if let Some(claim) = ex.claim {
                        self.take_claim(store, s, &claim, &mut batch, &mut out)?;
                    }
                }
                if batch.records >= t.progress_records_max || batch.bytes >= t.progress_bytes_max {
                    self.flush_progress(store, s, &mut batch, next, commit)?;
                    out.progress_records += 1;
                    progress(next, end);
                }
            }
        }
        if batch.records > 0 {
            self.flush_progress(store, s, &mut batch, next, commit)?;
            out.progress_records += 1;
            progress(next, end);
        } else if next > s.meta.next_offset {
            // Only the engine's own records since the last progress record: move past them in
            // memory (the next state write persists it; a reload before that re-reads and
            // skips them again, which is harmless).
            s.meta.next_offset = next;
            if commit {
                store.commit_offset(consumer, next)?;
            }
        }
        out.next_offset = next;
        Ok(out)
    }

    fn take_claim(
        &self,
        store: &dyn Store,
        s: &mut Loaded,
        claim: &SettledClaim,
        batch: &mut Batch,
        out: &mut CatchUp,
    ) -> Result<()> {
        let date = claim.settlement_date();
        let key = claim_row_key(date, &claim.fixmedins_code, claim.kind, &claim.setl_id);
        let recon = ReconFields {
            mdtrt_id: claim.mdtrt_id.clone(),
            psn_no: claim.psn_no.clone(),
            insutype: claim.insutype.clone(),
            clr_type: claim.clr_type.clone(),
            clr_optins: claim.clr_optins.clone(),
            reverses: claim.reversal_of.as_ref().and_then(|l| l.setl_id.clone()),
            medfee_sumamt: claim.amounts.medfee_sumamt,
            fund_pay_sumamt: claim.amounts.fund_pay_sumamt,
            acct_pay: claim.amounts.acct_pay,
        };
        let mut row = ClaimRow {
            setl_id: claim.setl_id.clone(),
            kind: claim.kind,
            fixmedins_code: claim.fixmedins_code.clone(),
            settlement_date: date,
            seq: 0,
            entry: None,
            not_disbursed: None,
            recon,
        };
        match s.agg.feed(claim, &self.cfg.policy, &self.institutions) {
            FeedOutcome::Duplicate => {
                out.duplicates += 1;
                return Ok(());
            }
            FeedOutcome::Accepted { .. } => {
                let e = s
                    .agg
                    .pending()
                    .last()
                    .cloned()
                    .expect("an accepted claim is pending");
                s.meta.seq += 1;
                row.seq = s.meta.seq;
                let b = s.meta.buckets.entry(dkey(date)).or_insert(DateBucket {
                    date,
                    max_seq: 0,
                    consumed_through: 0,
                });
                b.max_seq = row.seq;
                let d = batch
                    .days
                    .entry(format!("{}|{}", dkey(date), e.fixmedins_code))
                    .or_default();
                match e.kind {
                    medsettle_canonical::ClaimKind::Settlement => d.settlements += 1,
                    medsettle_canonical::ClaimKind::Reversal => d.reversals += 1,
                }
                d.fund_amount += e.fund_amount;
                d.daily_amount += e.daily_amount;
                *batch
                    .fund_fed
                    .entry(fund_fed_part(&e.fixmedins_code, YearMonth::of(date)))
                    .or_default() += e.fund_amount;
                row.entry = Some(e);
                out.claims_fed += 1;
            }
            other => {
                // Not disbursed daily, but reconciliation still needs it. The aggregator keeps
                // no `seen` for these, so dedupe against the index itself.
                if batch.keys.contains(&key) || store.get(SPACE_CLAIM, key.as_bytes())?.is_some() {
                    out.duplicates += 1;
                    return Ok(());
                }
                row.not_disbursed = Some(match other {
                    FeedOutcome::OutOfScope { rule, reason } => format!("[{rule}] {reason}"),
                    FeedOutcome::AfterMonthlyClose { month } => {
                        format!("[IS-RK-3] month {month} already settled monthly")
                    }
                    _ => unreachable!("handled above"),
                });
                out.out_of_scope += 1;
            }
        }
        let bytes = to_json(&key, &row)?;
        batch.bytes += key.len() + bytes.len();
        batch.keys.insert(key.clone());
        batch
            .writes
            .push(StateWrite::put(SPACE_CLAIM, key.into_bytes(), bytes));
        s.claims_indexed += 1;
        Ok(())
    }

    fn flush_progress(
        &self,
        store: &dyn Store,
        s: &mut Loaded,
        batch: &mut Batch,
        next: u64,
        commit: bool,
    ) -> Result<()> {
        let b = std::mem::take(batch);
        let mut writes = b.writes;
        for (k, delta) in &b.days {
            let mut cur: DayAggregate = match store.get(SPACE_DAY, k.as_bytes())? {
                Some(v) => from_json(k, &v)?,
                None => DayAggregate::default(),
            };
            cur.add(delta);
            writes.push(StateWrite::put(SPACE_DAY, k.as_bytes(), to_json(k, &cur)?));
        }
        for (k, delta) in &b.fund_fed {
            let cur: medsettle_canonical::Money = match s.parts.get(k) {
                Some(v) => from_json(k, v)?,
                None => medsettle_canonical::Money::ZERO,
            };
            let v = to_json(k, &(cur + *delta))?;
            s.parts.insert(k.clone(), v.clone());
            writes.push(StateWrite::put(SPACE_AGG, k.as_bytes(), v));
        }
        let from = s.meta.next_offset;
        s.meta.next_offset = next;
        writes.extend(meta_writes(&mut s.meta)?);
        let payload = serde_json::json!({
            "consumer": self.cfg.consumer_name, "from": from, "to": next, "records": b.records,
        });
        let mut rec = JournalRecord::new(KIND_PROGRESS, payload.to_string().into_bytes());
        rec.state_writes = writes;
        let a = store.append(rec)?;
        store.wait_durable_blocking(a.ticket)?;
        if commit {
            // Durable before this: a crash now only means the next run re-reads nothing
            // (the state's offset is ahead) and re-commits.
            store.commit_offset(&self.cfg.consumer_name, next)?;
        }
        Ok(())
    }

    /// Consumer lag, open days, last closes and the operators' suspensions.
    pub fn status(&self, store: &dyn Store) -> Result<EngineStatus> {
        let committed = store.committed_offset(&self.cfg.consumer_name)?;
        let durable = store.durable_offset();
        self.with_state(store, |s| {
            let mut by_date: BTreeMap<Date, u64> = BTreeMap::new();
            for e in s.agg.pending() {
                *by_date.entry(e.settlement_date).or_default() += 1;
            }
            let open_days = by_date
                .into_iter()
                .map(|(d, n)| OpenDay {
                    settlement_date: d,
                    pay_date: self.cfg.policy.pay_date_for(&self.cfg.calendar, d).ok(),
                    pending_claims: n,
                })
                .collect();
            let end = durable.map(|o| o + 1).unwrap_or(0);
            Ok(EngineStatus {
                consumer: self.cfg.consumer_name.clone(),
                next_offset: s.meta.next_offset,
                committed_offset: committed,
                durable_offset: durable,
                lag: end.saturating_sub(s.meta.next_offset),
                open_days,
                last_daily: s.meta.last_daily,
                last_monthly: s.meta.last_monthly,
                last_quarterly: s.meta.last_quarterly.clone(),
                last_annual: s.meta.last_annual,
                claims_indexed: s.claims_indexed,
                suspensions: s.agg.suspensions().cloned().collect(),
            })
        })
    }
}

fn stored_version(store: &dyn Store) -> Result<u64> {
    Ok(match store.get(SPACE_META, VERSION_KEY)? {
        Some(b) => u64::from_be_bytes(
            b.as_slice()
                .try_into()
                .map_err(|_| EngineError::state("engine.meta/version", "not 8 bytes"))?,
        ),
        None => 0,
    })
}

/// What one progress record will carry.
#[derive(Default)]
struct Batch {
    records: usize,
    bytes: usize,
    writes: Vec<StateWrite>,
    keys: BTreeSet<String>,
    days: BTreeMap<String, DayAggregate>,
    fund_fed: BTreeMap<String, medsettle_canonical::Money>,
}
