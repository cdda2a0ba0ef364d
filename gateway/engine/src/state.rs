//! The engine's persisted state: keyspaces, row shapes, and how the serde form of the
//! [`DailyAggregator`] and [`Ledger`] is split into keys.
//!
//! # Why split, and how
//! The aggregator is plain serde data, so the simplest design stores it whole under one key.
//! That does not hold up: its `seen` map and `pending` list grow by one entry per claim, a
//! journal record (which carries every state write) is capped by `record_bytes_max` (4 MiB
//! when this was measured; 128 MiB now), and rewriting the whole value on every progress record makes catching up
//! quadratic. Measured by `settle-bench`: one pending claim costs ~190 bytes of aggregator JSON,
//! so a whole aggregator passes 4 MiB at ~22,000 claims — a few hours of one city.
//!
//! So the engine persists the aggregator in pieces, each written only when it changes:
//! - `engine.claim` — one row per claim, **written once**, key `yyyymmdd|code|S|setl_id`
//!   (`R` for a reversal). It is the reconciliation index (range scans by date then
//!   institution, IS-D-9), and it rebuilds the aggregator's `seen` (claim key → ratio) and
//!   `pending` (rows whose `seq` is above their date's `consumed_through`, in `seq` order).
//!   Closing a day therefore writes one watermark per settlement date, not one delete per claim.
//! - `engine.day` — per-(settlement date, institution) aggregates (claims, fund amount, daily
//!   amount), absolute values rewritten once per progress record when they change.
//! - `engine.agg` — every other aggregator field, map and set fields one key per entry
//!   (`fund_fed/<code|YYYY-MM>`, `payments/<id>`, `accrued/…`, `committed_runs/…`,
//!   `month_closed/…`, `debt_suspended/…`, `operator_suspended/<code>`) and `carry` whole (a
//!   handful of items). Closings write the entries that differ from the stored ones.
//!   `operator_suspended/<code>` holds an operator's suspension of the institution's daily
//!   disbursement ([`Suspension`](medsettle_settlement::daily::Suspension) as JSON: code,
//!   reason, by, since); it is written by an `engine.suspension` record (suspend: put; resume:
//!   delete) and read by every daily close.
//! - `engine.ledger` — the ledger's transfers as one append-only chunk per posted batch
//!   (`t/<chunk:012>`) and its posted references (`p/<ref>`).
//! - `engine.meta` `core` — [`Meta`]: the consumer's next offset (authoritative: it is written in
//!   the same record as the state it covers), claim sequence, date watermarks, the auditor's
//!   confirmed amounts, debts, non-daily payments, last closes.
//! - `engine.run` — stored closes (`daily/<yyyymmdd>`, `monthly/<YYYY-MM>`, `quarterly/<yyyy>Q<q>`,
//!   `annual/<yyyy>`), so closing twice returns the first result. A result (a daily detail of a
//!   million claims is ~250 MB of JSON) is written as parts `<key>/<nnnnnn>`, one journal record
//!   each, **before** the close record, which carries the manifest under `<key>` together with
//!   the ledger, aggregator and meta writes. Parts without a manifest (a crash in between) are
//!   invisible and overwritten by the retry, which recomputes the same result from the
//!   unchanged state.
//!
//! Unknown aggregator fields are an error, not silently dropped: if the settlement crate adds a
//! field, reloading would otherwise lose it.

use std::collections::{BTreeMap, BTreeSet};

use medsettle_canonical::{ClaimKind, Money, ReceiptStatus};
use medsettle_settlement::daily::ClaimEntry;
use medsettle_settlement::ledger::Ledger;
use medsettle_settlement::{DailyAggregator, YearMonth};
use medsettle_store::StateWrite;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::Date;

use crate::error::{EngineError, Result};

pub const SPACE_META: &str = "engine.meta";
pub const SPACE_CLAIM: &str = "engine.claim";
pub const SPACE_DAY: &str = "engine.day";
pub const SPACE_AGG: &str = "engine.agg";
pub const SPACE_LEDGER: &str = "engine.ledger";
pub const SPACE_RUN: &str = "engine.run";
pub const META_KEY: &[u8] = b"core";
/// `engine.meta` key of the state version, bumped by every engine record: an engine whose
/// in-memory state has another version reloads (another engine instance wrote in between).
pub const VERSION_KEY: &[u8] = b"version";

/// Prefix of every journal record kind the engine writes (all skipped by its own consumer).
pub const ENGINE_KIND_PREFIX: &str = "engine.";
/// Journal record kinds the engine writes.
pub const KIND_PROGRESS: &str = "engine.progress";
pub const KIND_CLOSE: &str = "engine.close";
pub const KIND_RECEIPTS: &str = "engine.receipts";
/// One part of a stored close result, written before the close record that publishes it.
pub const KIND_RESULT_PART: &str = "engine.result_part";
/// An operator suspended or resumed an institution's daily disbursement; its payload says who,
/// when and why, its state writes carry the `operator_suspended/<code>` change.
pub const KIND_SUSPENSION: &str = "engine.suspension";

/// Aggregator fields stored one key per map entry.
const MAP_FIELDS: [&str; 4] = ["fund_fed", "payments", "accrued", "operator_suspended"];
/// Aggregator fields stored one key per set element.
const SET_FIELDS: [&str; 3] = ["committed_runs", "month_closed", "debt_suspended"];
/// Aggregator fields rebuilt from `engine.claim`.
const CLAIM_FIELDS: [&str; 2] = ["seen", "pending"];
const CARRY_FIELD: &str = "carry";

/// `yyyymmdd`, the date part of claim and day keys (sorts by date).
pub fn dkey(d: Date) -> String {
    medsettle_settlement::calendar::compact_date(d)
}

pub fn claim_row_key(d: Date, code: &str, kind: ClaimKind, setl_id: &str) -> String {
    let k = match kind {
        ClaimKind::Settlement => 'S',
        ClaimKind::Reversal => 'R',
    };
    format!("{}|{code}|{k}|{setl_id}", dkey(d))
}

/// The aggregator's `seen` key of a claim (`S|id` / `R|id`).
pub fn seen_key(kind: ClaimKind, setl_id: &str) -> String {
    match kind {
        ClaimKind::Settlement => format!("S|{setl_id}"),
        ClaimKind::Reversal => format!("R|{setl_id}"),
    }
}

/// The aggregator's `fund_fed` part key of an institution and month.
pub fn fund_fed_part(code: &str, month: YearMonth) -> String {
    format!("fund_fed/{code}|{month}")
}

/// The fields 3201/3202 compare (IS-D-9), kept for every claim, in scope or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconFields {
    pub mdtrt_id: String,
    pub psn_no: String,
    pub insutype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clr_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clr_optins: Option<String>,
    /// The setl_id a reversal reverses, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverses: Option<String>,
    pub medfee_sumamt: Money,
    pub fund_pay_sumamt: Money,
    pub acct_pay: Money,
}

/// One row of `engine.claim`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRow {
    pub setl_id: String,
    pub kind: ClaimKind,
    pub fixmedins_code: String,
    pub settlement_date: Date,
    /// Order of acceptance into daily disbursement; 0 when not taken in.
    pub seq: u64,
    /// The aggregator's entry when the claim was taken into daily disbursement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<ClaimEntry>,
    /// Why it was not (`[rule] reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_disbursed: Option<String>,
    pub recon: ReconFields,
}

/// Per-(settlement date, institution) aggregate of claims taken into daily disbursement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayAggregate {
    pub settlements: u64,
    pub reversals: u64,
    pub fund_amount: Money,
    pub daily_amount: Money,
}

impl DayAggregate {
    pub fn add(&mut self, other: &DayAggregate) {
        self.settlements += other.settlements;
        self.reversals += other.reversals;
        self.fund_amount += other.fund_amount;
        self.daily_amount += other.daily_amount;
    }
}

/// Claim sequence watermarks of one settlement date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateBucket {
    pub date: Date,
    /// Highest `seq` of a claim of this date taken in.
    pub max_seq: u64,
    /// Every claim of this date with `seq` ≤ this is consumed by a committed daily run.
    pub consumed_through: u64,
}

/// A monthly, distributor, quarterly or annual payment awaiting receipts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherPayment {
    pub fixmedins_code: String,
    pub payee_code: String,
    pub amount: Money,
    pub status: Option<ReceiptStatus>,
    /// The account the payment was sent from, where failed or returned money goes back;
    /// `None`: the institution's receivable (every payment to an institution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<medsettle_settlement::ledger::Account>,
}

/// The engine's bookkeeping (`engine.meta` / `core`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Bumped by every record the engine writes (see [`VERSION_KEY`]).
    pub version: u64,
    /// The next journal offset to read. Authoritative over the store's committed offset: it is
    /// written in the same record as the state derived from everything below it.
    pub next_offset: u64,
    pub seq: u64,
    /// By `yyyymmdd`.
    pub buckets: BTreeMap<String, DateBucket>,
    /// The auditor's expectation: confirmed amount per institution under the rules.
    pub confirmed: BTreeMap<String, Money>,
    /// IS-M-5 debts still owed, by institution.
    pub debts: BTreeMap<String, Money>,
    pub ledger_chunks: u64,
    pub other_payments: BTreeMap<String, OtherPayment>,
    pub last_daily: Option<Date>,
    pub last_monthly: Option<YearMonth>,
    pub last_quarterly: Option<String>,
    pub last_annual: Option<i32>,
}

pub fn to_json<T: Serialize>(key: &str, v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| EngineError::state(key, e))
}

pub fn from_json<T: for<'a> Deserialize<'a>>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| EngineError::state(key, e))
}

/// The meta writes every engine record carries: bumps the version first.
pub fn meta_writes(meta: &mut Meta) -> Result<Vec<StateWrite>> {
    meta.version += 1;
    Ok(vec![
        StateWrite::put(SPACE_META, META_KEY, to_json("engine.meta/core", meta)?),
        StateWrite::put(SPACE_META, VERSION_KEY, meta.version.to_be_bytes().to_vec()),
    ])
}

/// Split the aggregator (minus `seen`/`pending`) into `engine.agg` parts.
pub fn aggregator_parts(agg: &DailyAggregator) -> Result<BTreeMap<String, Vec<u8>>> {
    let v = serde_json::to_value(agg).map_err(|e| EngineError::state("aggregator", e))?;
    let Value::Object(obj) = v else {
        return Err(EngineError::state("aggregator", "not a JSON object"));
    };
    let mut out = BTreeMap::new();
    for (field, val) in obj {
        let f = field.as_str();
        if CLAIM_FIELDS.contains(&f) {
            continue;
        }
        if f == CARRY_FIELD {
            out.insert(CARRY_FIELD.to_owned(), to_json(f, &val)?);
        } else if MAP_FIELDS.contains(&f) {
            let Value::Object(m) = val else {
                return Err(EngineError::state(f, "expected a map"));
            };
            for (k, x) in m {
                out.insert(format!("{f}/{k}"), to_json(f, &x)?);
            }
        } else if SET_FIELDS.contains(&f) {
            let Value::Array(a) = val else {
                return Err(EngineError::state(f, "expected a set"));
            };
            for x in a {
                let Value::String(s) = x else {
                    return Err(EngineError::state(f, "expected a set of strings"));
                };
                out.insert(format!("{f}/{s}"), b"1".to_vec());
            }
        } else {
            return Err(EngineError::state(
                f,
                "unknown aggregator field: the engine's persisted layout (state.rs) must learn it",
            ));
        }
    }
    Ok(out)
}

/// Rebuild the aggregator from its parts and the claim rows' `seen` and `pending`.
pub fn assemble_aggregator(
    parts: &BTreeMap<String, Vec<u8>>,
    seen: Map<String, Value>,
    pending: Vec<Value>,
) -> Result<DailyAggregator> {
    let mut obj = Map::new();
    for f in MAP_FIELDS {
        obj.insert(f.to_owned(), Value::Object(Map::new()));
    }
    for f in SET_FIELDS {
        obj.insert(f.to_owned(), Value::Array(Vec::new()));
    }
    obj.insert(CARRY_FIELD.to_owned(), Value::Array(Vec::new()));
    for (key, bytes) in parts {
        if key == CARRY_FIELD {
            obj.insert(CARRY_FIELD.to_owned(), from_json(key, bytes)?);
            continue;
        }
        let Some((f, k)) = key.split_once('/') else {
            return Err(EngineError::state(key, "unknown aggregator part"));
        };
        match obj.get_mut(f) {
            Some(Value::Object(m)) => {
                m.insert(k.to_owned(), from_json(key, bytes)?);
            }
            Some(Value::Array(a)) => a.push(Value::String(k.to_owned())),
            _ => return Err(EngineError::state(key, "unknown aggregator part")),
        }
    }
    obj.insert("seen".into(), Value::Object(seen));
    obj.insert("pending".into(), Value::Array(pending));
    serde_json::from_value(Value::Object(obj)).map_err(|e| EngineError::state("aggregator", e))
}

/// Writes that turn the stored parts `old` into `new`.
pub fn diff_parts(
    old: &BTreeMap<String, Vec<u8>>,
    new: &BTreeMap<String, Vec<u8>>,
) -> Vec<StateWrite> {
    let mut out = Vec::new();
    for (k, v) in new {
        if old.get(k) != Some(v) {
            out.push(StateWrite::put(SPACE_AGG, k.as_bytes(), v.clone()));
        }
    }
    for k in old.keys().filter(|k| !new.contains_key(*k)) {
        out.push(StateWrite::delete(SPACE_AGG, k.as_bytes()));
    }
    out
}

/// Rebuild the ledger from its chunks and posted references.
pub fn assemble_ledger(chunks: Vec<Value>, posted: BTreeSet<String>) -> Result<Ledger> {
    let mut transfers = Vec::new();
    for c in chunks {
        let Value::Array(a) = c else {
            return Err(EngineError::state("ledger", "chunk is not a list"));
        };
        transfers.extend(a);
    }
    let mut obj = Map::new();
    obj.insert("transfers".into(), Value::Array(transfers));
    obj.insert(
        "posted".into(),
        Value::Array(posted.into_iter().map(Value::String).collect()),
    );
    serde_json::from_value(Value::Object(obj)).map_err(|e| EngineError::state("ledger", e))
}

/// Writes persisting what `ledger` gained since it had `old_len` transfers: one chunk, and the
/// references posted.
pub fn ledger_writes(
    ledger: &Ledger,
    old_len: usize,
    refs: &[String],
    meta: &mut Meta,
) -> Result<Vec<StateWrite>> {
    let mut out = Vec::new();
    let new = &ledger.transfers()[old_len..];
    if !new.is_empty() {
        out.push(StateWrite::put(
            SPACE_LEDGER,
            format!("t/{:012}", meta.ledger_chunks).into_bytes(),
            to_json("ledger", &new)?,
        ));
        meta.ledger_chunks += 1;
    }
    for r in refs {
        out.push(StateWrite::put(
            SPACE_LEDGER,
            format!("p/{r}").into_bytes(),
            b"1".to_vec(),
        ));
    }
    Ok(out)
}
