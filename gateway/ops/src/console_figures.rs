//! What the console's overview derives from the file drop (its batches and their payments'
//! states) and from the engine's per-day aggregates, kept between renders while the state
//! keyspaces it was derived from are unchanged ([`Store::space_generation`]).
//!
//! Why: those keyspaces grow with every payment ever made (a month of 2,000 institutions is
//! ~26,000 payment states and 21 batch records of ~1,200 payments each) and decoding them took
//! ~250 ms of the overview's ~500 ms at a million journal records (BENCHMARKS.md, "Console
//! overview"). They change a few times a day (a batch dropped, a receipt file applied, the
//! engine's consumer moving a day's aggregates), so a render between two such changes reads
//! nothing but the generations; a render after one recomputes once, exactly as before.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use medsettle_console as page;
use medsettle_engine::Engine;
use medsettle_filedrop::state::{
    BatchState, PaymentOutcome, SPACE_BATCH, SPACE_BATCH_STATE, SPACE_PAYMENT,
};
use medsettle_store::Store;
use time::Date;

/// The generations a value was derived under, one per keyspace read.
type Generations = Vec<(u64, u64)>;

/// A value and the generations it was derived under.
struct Memo<T> {
    generations: Generations,
    value: Arc<T>,
}

fn generations(store: &dyn Store, spaces: &[&str]) -> Result<Generations> {
    spaces
        .iter()
        .map(|s| store.space_generation(s).map_err(anyhow::Error::from))
        .collect()
}

/// The value in `cell` if it was derived under `now`, else `compute()` kept there. The
/// generations are read before `compute` reads the keyspaces (see `Store::space_generation`).
fn memoized<T>(
    cell: &Mutex<Option<Memo<T>>>,
    now: Generations,
    compute: impl FnOnce() -> Result<T>,
) -> Result<Arc<T>> {
    let mut memo = cell.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(m) = memo.as_ref().filter(|m| m.generations == now) {
        return Ok(m.value.clone());
    }
    let value = Arc::new(compute()?);
    *memo = Some(Memo {
        generations: now,
        value: value.clone(),
    });
    Ok(value)
}

/// One daily batch as the instant-share chart reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyBatchFigures {
    pub batch_id: String,
    pub pay_date: Date,
    /// Σ its payments the bank confirmed `paid`, fen.
    pub paid_fen: i64,
    /// The settlement dates its payments pay.
    pub settlement_dates: BTreeSet<Date>,
}

/// What the overview reads of the file drop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BankFigures {
    /// Every batch of the outbox with its state, in `bank status` order.
    pub batches: Vec<(String, Option<BatchState>)>,
    /// The daily batches, in the same order.
    pub daily: Vec<DailyBatchFigures>,
    /// Days to pay by payee (names left empty): one observation per (paid daily payment,
    /// settlement date it pays), the bank's value date − the settlement date.
    pub days_to_pay: BTreeMap<String, page::DaysToPay>,
}

/// The file drop's keyspaces [`BankFigures`] is derived from.
const BANK_SPACES: [&str; 3] = [SPACE_BATCH, SPACE_BATCH_STATE, SPACE_PAYMENT];

static BANK: Mutex<Option<Memo<BankFigures>>> = Mutex::new(None);

/// [`BankFigures`], derived again only when a batch or a payment state changed.
pub fn bank_figures(store: &dyn Store) -> Result<Arc<BankFigures>> {
    memoized(&BANK, generations(store, &BANK_SPACES)?, || {
        derive_bank_figures(store)
    })
}

/// [`BankFigures`] from the file drop's batch records and payment states (what `bank status`
/// reads, in their light forms).
pub fn derive_bank_figures(store: &dyn Store) -> Result<BankFigures> {
    // The file drop's light reads (what a chart needs of each state and batch, nothing more),
    // on two threads: they are independent, and each decodes tens of thousands of JSON values.
    let (outcomes, sketches) = std::thread::scope(|scope| {
        let outcomes = scope.spawn(|| medsettle_filedrop::state::payment_outcomes(store));
        let sketches = medsettle_filedrop::state::batch_sketches(store);
        (outcomes.join(), sketches)
    });
    let outcomes: BTreeMap<String, PaymentOutcome> = outcomes
        .map_err(|_| anyhow::anyhow!("reading the payment states panicked"))??
        .into_iter()
        .collect();
    let mut out = BankFigures::default();
    for (b, state) in sketches? {
        out.batches.push((b.batch_id.clone(), state));
        if page::BatchKind::of(&b.batch_id) != Some(page::BatchKind::Daily) {
            continue;
        }
        let mut daily = DailyBatchFigures {
            batch_id: b.batch_id.clone(),
            pay_date: b.pay_date,
            paid_fen: 0,
            settlement_dates: BTreeSet::new(),
        };
        for p in &b.payments {
            daily
                .settlement_dates
                .extend(p.settlement_dates.iter().copied());
            let Some(o) = outcomes
                .get(&p.payment_id)
                .filter(|o| o.status == medsettle_filedrop::PaymentStatus::Paid)
            else {
                continue;
            };
            daily.paid_fen += p.amount.fen();
            let Some(value_date) = o.receipt.as_ref().and_then(|r| r.value_date) else {
                continue;
            };
            let d = out
                .days_to_pay
                .entry(p.payee_code.clone())
                .or_insert_with(|| page::DaysToPay {
                    fixmedins_code: p.payee_code.clone(),
                    ..page::DaysToPay::default()
                });
            for sd in &p.settlement_dates {
                d.observe((value_date - *sd).whole_days());
            }
        }
        out.daily.push(daily);
    }
    Ok(out)
}

/// The in-scope fund amount of every claim of each settlement date, fen.
type FundByDate = BTreeMap<Date, i64>;

static FUND: Mutex<Option<Memo<FundByDate>>> = Mutex::new(None);

/// The fund amount of each of `dates` (Σ the engine's per-institution aggregates of the
/// date), derived again only when the engine's aggregates changed or a date is new.
pub fn fund_of_dates(
    engine: &Engine,
    store: &dyn Store,
    dates: &BTreeSet<Date>,
) -> Result<Arc<FundByDate>> {
    let now = generations(store, &[medsettle_engine::state::SPACE_DAY])?;
    let derive = || -> Result<FundByDate> {
        dates
            .iter()
            .map(|d| {
                let fund = engine
                    .day_aggregates(store, *d)
                    .map_err(crate::settle::engine_err)?
                    .values()
                    .map(|a| a.fund_amount.fen())
                    .sum();
                Ok((*d, fund))
            })
            .collect()
    };
    let got = memoized(&FUND, now.clone(), derive)?;
    if dates.iter().all(|d| got.contains_key(d)) {
        return Ok(got);
    }
    // Dates the memo does not have (a batch dropped since): derive them all again.
    let mut memo = FUND.lock().unwrap_or_else(|p| p.into_inner());
    let value = Arc::new(derive()?);
    *memo = Some(Memo {
        generations: now,
        value: value.clone(),
    });
    Ok(value)
}

/// Drop the kept figures: the next render derives them again, as the first render after a
/// batch was dropped, a receipt file applied and the engine's consumer moved does
/// (`overview-bench` measures that render this way).
pub fn forget() {
    *BANK.lock().unwrap_or_else(|p| p.into_inner()) = None;
    forget_fund();
}

/// Drop the kept fund amounts only: what a render costs after the engine's consumer moved
/// (which, under traffic, is every few seconds) while the outbox did not change.
pub fn forget_fund() {
    *FUND.lock().unwrap_or_else(|p| p.into_inner()) = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use medsettle_store::{JournalRecord, SledStore, StateWrite, StoreConfig};

    #[test]
    fn a_memo_is_derived_again_exactly_when_its_keyspace_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), StoreConfig::default()).unwrap();
        let cell: Mutex<Option<Memo<u64>>> = Mutex::new(None);
        let derivations = std::cell::Cell::new(0u64);
        let read = |store: &SledStore| {
            let now = generations(store, &["bank.payment"]).unwrap();
            *memoized(&cell, now, || {
                derivations.set(derivations.get() + 1);
                Ok(store.scan_prefix("bank.payment", b"").unwrap().count() as u64)
            })
            .unwrap()
        };
        assert_eq!(read(&store), 0);
        assert_eq!(read(&store), 0);
        assert_eq!(derivations.get(), 1, "unchanged: not derived again");
        let put = |space: &str, key: &str| {
            let a = store
                .append(JournalRecord::new("k", vec![]).with_write(StateWrite::put(
                    space,
                    key,
                    vec![1],
                )))
                .unwrap();
            store.wait_durable_blocking(a.ticket).unwrap();
        };
        put("engine.day", "x");
        assert_eq!(read(&store), 0);
        assert_eq!(derivations.get(), 1, "another keyspace: not derived again");
        put("bank.payment", "p1");
        assert_eq!(read(&store), 1, "the new payment is seen");
        assert_eq!(derivations.get(), 2);
    }
}
