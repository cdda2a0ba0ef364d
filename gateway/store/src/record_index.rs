//! The record index: how the operator console's message browser finds journal records by
//! institution, msgid, transaction, person, visit, settlement and receive time without
//! scanning the journal (issue 18; `specs/console.md`).
//!
//! ## Entries
//! One sled tree, [`TREE_INDEX`], of value-less keys:
//!
//! ```text
//! entry = field:u8 len:u16be term[len] time:u64be offset:u64be
//! ```
//!
//! `time` is the record's receive time as Unix milliseconds with the sign bit flipped, so
//! that the big-endian bytes sort as the times do ([`sortable_ms`]); a record without one has
//! [`TIME_NONE`], below every real time. The length prefix keeps the terms `H1` and `H12`
//! apart (a separator byte could occur inside a term taken from hostile JSON). So the entries
//! of one term are contiguous and ordered by (time, offset): a page newest first is a reverse
//! range scan of one prefix bounded by the time range, and every further condition of a query
//! is a point lookup of the exact key `(field, term, time, offset)` — never a read of the
//! record. Only the rows shown are read from the journal.
//!
//! What a record is indexed under is derived from the record alone ([`RecordTerms::of`]), so
//! an append, a replay and the backfill write exactly the same entries:
//!
//! | field | taken from |
//! |---|---|
//! | [`IndexField::Time`] | no term: every record with a receive time |
//! | [`IndexField::Institution`], [`IndexField::Msgid`] | the record's key `(fixmedins_code, msgid)` |
//! | [`IndexField::Infno`] | the payload's top-level `infno` string |
//! | [`IndexField::PsnNo`], [`IndexField::MdtrtId`], [`IndexField::SetlId`] | every value of that name anywhere in the payload's JSON (a string, or a number as written) |
//!
//! The receive time is the payload's top-level `received_at` (RFC 3339, as the exchange
//! records write it). A payload that is not JSON, or is larger than
//! [`INDEX_PAYLOAD_BYTES_MAX`], is indexed by its key only. These rules, and the limits below,
//! are part of the format: changing one means a new tree name, which rebuilds the index.
//!
//! ## Consistent with the journal after a crash
//! The entries are written like the idempotency entry: after the record's journal insert
//! (sled's log keeps insert order, so no entry reaches the disk without its record) and before
//! the append counts as complete, so the `applied_through` marker never passes a record whose
//! entries are not in; replay writes the entries of the records after the marker again.
//! Entries are value-less puts, so writing one twice is harmless.
//!
//! ## Written behind the acknowledgement (the default)
//! With [`crate::StoreConfig::record_index_inline`] off, an append writes no entries: a
//! background indexer reads the durable records after [`META_INDEXED_BELOW`] in order, writes
//! their entries and moves the marker past them (entries before the marker in sled's log, so
//! after a crash the marker never names a record whose entries are lost). A page first reads
//! the records the indexer has not reached — the newest, by offset — and checks its conditions
//! on each ([`RecordTerms::holds`]), then continues in the index. So what an append costs is
//! the same as with the index off, the index is never missing a record, and the indexer's CPU
//! is spent when the gateway has it to spare ([`crate::StoreConfig::record_index_busy_share_percent`]).
//!
//! ## Built once for the records journaled before it existed
//! Meta key [`META_INDEXED_BELOW`] holds an offset below which every record has its entries,
//! or [`INDEXED_LIVE`]: every record has them, and every append writes them. A store from
//! before the index has no such key (read as 0): the first open with the index on writes the
//! entries of every record from there to the end, logging its progress and saving the offset
//! reached every [`BACKFILL_STEP_RECORDS`] records (an interrupted build resumes), then marks
//! the index live. An open with the index off ([`crate::StoreConfig::record_index`]) records
//! where the indexed prefix ends, and the next open with it on builds from there.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::error::StoreError;
use crate::record::JournalRecord;

/// The sled tree of the index entries; the suffix is the format's version.
pub(crate) const TREE_INDEX: &str = "record_index.1";
/// Meta key: every record below this offset has its entries ([`INDEXED_LIVE`]: all of them).
pub(crate) const META_INDEXED_BELOW: &[u8] = b"record_index.1.indexed_below";
/// [`META_INDEXED_BELOW`] when every record, and every append, is indexed.
pub(crate) const INDEXED_LIVE: u64 = u64::MAX;
/// The time of a record without a (parsable) receive time: below every real time.
pub(crate) const TIME_NONE: u64 = 0;
/// Largest payload whose JSON is read for terms, bytes: 4 MiB holds an exchange record at the
/// gateway's default 1 MiB request body (request, answer and claim). Larger records are the
/// bank file drop's batches and receipt files (tens of MB, `config.rs`), which carry no person
/// or receive time, and reading them on the write path would cost tens of milliseconds.
pub const INDEX_PAYLOAD_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Longest term indexed, bytes (the national `psn_no` is 30, `setl_id` 30): a longer value
/// (hostile JSON) is not indexed rather than making keys of any size.
pub const TERM_BYTES_MAX: usize = 128;
/// Most distinct values indexed per field and record, in document order: a reconciliation
/// request listing thousands of `setl_id`s must not write thousands of entries. A settlement
/// or reversal names its person, visit and settlement once or twice.
pub const TERMS_PER_FIELD_MAX: usize = 16;
/// The backfill logs its progress and saves the offset it reached this often, records.
pub const BACKFILL_STEP_RECORDS: u64 = 100_000;
/// Bytes of an entry after its term: time and offset.
const ENTRY_TAIL_BYTES: usize = 16;
/// The background indexer ([`crate::StoreConfig::record_index_inline`] off) indexes this many
/// records between two looks at whether it should pause.
pub const INDEXER_CHUNK_RECORDS: u64 = 256;
/// Default of [`crate::StoreConfig::record_index_busy_share_percent`]: while appends arrive,
/// the background indexer works at most this share of its time (it sleeps after each chunk in
/// proportion), so acknowledgements keep the CPU at a peak; when appends pause it works
/// without pausing, and catches up.
pub const INDEXER_BUSY_SHARE_PERCENT_DEFAULT: u32 = 10;
/// Most records not indexed yet that one page reads (the newest): about two seconds of a peak
/// of ingest, which the background indexer is never that far behind except while it builds
/// the index of a journal from before it (then `RecordPage::tail_unread` says how many were
/// not looked at).
pub const TAIL_READ_MAX: u64 = 20_000;
/// How often a caught-up background indexer looks for new durable records, milliseconds.
pub const INDEXER_IDLE_POLL_MS: u64 = 20;

/// What a record can be found by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IndexField {
    /// Every record with a receive time (no term): the time-range listing.
    Time,
    /// 定点医药机构编号 `fixmedins_code` of the record's key.
    Institution,
    /// 报文ID `msgid` of the record's key.
    Msgid,
    /// 交易编号 `infno`, top level of the payload.
    Infno,
    /// 人员编号 `psn_no`, anywhere in the payload.
    PsnNo,
    /// 就诊ID `mdtrt_id`, anywhere in the payload.
    MdtrtId,
    /// 结算ID `setl_id`, anywhere in the payload.
    SetlId,
}

impl IndexField {
    /// Every field, in the order a query prefers to drive its scan by: the most selective
    /// first (a msgid names one exchange, an institution thousands a day).
    pub const BY_SELECTIVITY: [IndexField; 7] = [
        IndexField::Msgid,
        IndexField::SetlId,
        IndexField::MdtrtId,
        IndexField::PsnNo,
        IndexField::Institution,
        IndexField::Infno,
        IndexField::Time,
    ];

    /// The byte that starts this field's entries (fixed by the format).
    fn tag(self) -> u8 {
        match self {
            IndexField::Time => 1,
            IndexField::Institution => 2,
            IndexField::Msgid => 3,
            IndexField::Infno => 4,
            IndexField::PsnNo => 5,
            IndexField::MdtrtId => 6,
            IndexField::SetlId => 7,
        }
    }

    /// The national field name.
    pub fn as_str(self) -> &'static str {
        match self {
            IndexField::Time => "received_at",
            IndexField::Institution => "fixmedins_code",
            IndexField::Msgid => "msgid",
            IndexField::Infno => "infno",
            IndexField::PsnNo => "psn_no",
            IndexField::MdtrtId => "mdtrt_id",
            IndexField::SetlId => "setl_id",
        }
    }

    /// The field looked for anywhere in a payload under this JSON name.
    fn anywhere(name: &str) -> Option<IndexField> {
        match name {
            "psn_no" => Some(IndexField::PsnNo),
            "mdtrt_id" => Some(IndexField::MdtrtId),
            "setl_id" => Some(IndexField::SetlId),
            _ => None,
        }
    }
}

impl fmt::Display for IndexField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Unix milliseconds as 8 bytes that sort as the times do (sign bit flipped).
pub(crate) fn sortable_ms(ms: i64) -> u64 {
    (ms as u64) ^ (1 << 63)
}

/// The Unix milliseconds of an RFC 3339 time, floored; `None` if it does not parse.
pub fn rfc3339_ms(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

/// Everything a record is indexed under.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RecordTerms {
    /// [`sortable_ms`] of the receive time, or [`TIME_NONE`].
    pub(crate) time: u64,
    /// Distinct (field, term) pairs; never [`IndexField::Time`].
    pub(crate) terms: BTreeSet<(IndexField, String)>,
}

impl RecordTerms {
    /// The terms of `record` (see the module docs for the rules).
    pub(crate) fn of(record: &JournalRecord) -> RecordTerms {
        let mut found = Found::default();
        if let Some((code, msgid)) = &record.key {
            found.add(IndexField::Institution, code);
            found.add(IndexField::Msgid, msgid);
        }
        let mut time = TIME_NONE;
        let mut json = Found::default();
        if read_json(&record.payload, &mut json) {
            time = json
                .received_at
                .as_deref()
                .and_then(rfc3339_ms)
                .map_or(TIME_NONE, sortable_ms);
            if let Some(infno) = &json.infno {
                found.add(IndexField::Infno, infno);
            }
            found.terms.extend(json.terms);
        }
        RecordTerms {
            time,
            terms: found.terms,
        }
    }

    /// Whether a record with these terms meets every condition of `q` (its terms and time
    /// range): what the entries would answer, for a record not indexed yet.
    pub(crate) fn holds(&self, q: &RecordQuery) -> bool {
        if q.timed() && self.time == TIME_NONE {
            return false;
        }
        if q.received_from_ms
            .is_some_and(|ms| self.time < sortable_ms(ms))
            || q.received_before_ms
                .is_some_and(|ms| self.time >= sortable_ms(ms))
        {
            return false;
        }
        q.terms
            .iter()
            .all(|(f, t)| self.terms.contains(&(*f, t.clone())))
    }

    /// The index keys of these terms for the record at `offset`.
    pub(crate) fn keys(&self, offset: u64) -> Vec<Vec<u8>> {
        let mut keys = Vec::with_capacity(self.terms.len() + 1);
        if self.time != TIME_NONE {
            keys.push(entry_key(IndexField::Time, "", self.time, offset));
        }
        for (field, term) in &self.terms {
            keys.push(entry_key(*field, term, self.time, offset));
        }
        keys
    }
}

/// `field:u8 len:u16be term` — the prefix every entry of one term shares.
pub(crate) fn term_prefix(field: IndexField, term: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + term.len() + ENTRY_TAIL_BYTES);
    k.push(field.tag());
    // Terms are at most TERM_BYTES_MAX (or id_bytes_max ≤ u16::MAX for key fields).
    let len = u16::try_from(term.len()).expect("an indexed term fits a u16 length");
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(term.as_bytes());
    k
}

/// The whole key of one entry.
pub(crate) fn entry_key(field: IndexField, term: &str, time: u64, offset: u64) -> Vec<u8> {
    let mut k = term_prefix(field, term);
    k.extend_from_slice(&time.to_be_bytes());
    k.extend_from_slice(&offset.to_be_bytes());
    k
}

/// The (time, offset) at the end of an entry key.
pub(crate) fn entry_tail(key: &[u8]) -> Result<(u64, u64), StoreError> {
    let n = key.len();
    if n < 3 + ENTRY_TAIL_BYTES {
        return Err(StoreError::CorruptIndex {
            what: "record index",
            reason: format!("entry of {n} bytes is shorter than its fixed parts"),
        });
    }
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&key[at..at + 8]);
        u64::from_be_bytes(b)
    };
    Ok((word(n - 16), word(n - 8)))
}

/// Terms collected from a payload.
#[derive(Default)]
struct Found {
    terms: BTreeSet<(IndexField, String)>,
    infno: Option<String>,
    received_at: Option<String>,
}

impl Found {
    fn add(&mut self, field: IndexField, term: &str) {
        // The key's fields were validated by the store (1..=id_bytes_max bytes, one each).
        let key_field = matches!(field, IndexField::Institution | IndexField::Msgid);
        if term.is_empty() || (!key_field && term.len() > TERM_BYTES_MAX) {
            return;
        }
        let held = self.terms.iter().filter(|(f, _)| *f == field).count();
        if key_field || held < TERMS_PER_FIELD_MAX {
            self.terms.insert((field, term.to_owned()));
        }
    }

    /// `field: v`, and whatever `v` holds further down.
    fn value(&mut self, field: IndexField, v: &Value) {
        match v {
            Value::String(s) => self.add(field, s),
            Value::Number(n) => self.add(field, &n.to_string()),
            _ => {}
        }
        self.nested(v);
    }

    fn nested(&mut self, v: &Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match IndexField::anywhere(k) {
                        Some(field) => self.value(field, x),
                        None => self.nested(x),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| self.nested(x)),
            _ => {}
        }
    }
}

/// Collect the payload's JSON terms into `found`; false (and nothing collected) when the
/// payload is not one JSON value or is over [`INDEX_PAYLOAD_BYTES_MAX`].
///
/// The payload is walked with serde's visitor rather than parsed into a `serde_json::Value`:
/// everything but the few named fields is skipped without building it, which is what keeps
/// the index cheap on the write path (BENCHMARKS.md, "Message browser").
fn read_json(payload: &[u8], found: &mut Found) -> bool {
    if payload.len() > INDEX_PAYLOAD_BYTES_MAX {
        return false;
    }
    // Only objects and arrays can hold named fields; skip the rest (a bank batch id…) unread.
    if !matches!(
        payload.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    ) {
        return false;
    }
    let mut walked = Found::default();
    let mut de = serde_json::Deserializer::from_slice(payload);
    let ok = Walk {
        top: true,
        found: &mut walked,
    }
    .deserialize(&mut de)
    .is_ok()
        && de.end().is_ok();
    if ok {
        *found = walked;
    }
    ok
}

/// A JSON value being skipped over, collecting the named fields it holds.
struct Walk<'a> {
    /// The payload's top-level value (`infno` and `received_at` count only there).
    top: bool,
    found: &'a mut Found,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Walk {
                top: false,
                found: &mut *self.found,
            })?
            .is_some()
        {}
        Ok(())
    }

    // With serde_json's `arbitrary_precision` (on in this workspace) a number arrives here as
    // a one-entry map of a private key to its text; that key is no named field, so the number
    // is skipped like any other value.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key_seed(KeyName)? {
            match name {
                Some(Named::Anywhere(field)) => {
                    let v: Value = map.next_value()?;
                    self.found.value(field, &v);
                }
                Some(Named::Infno | Named::ReceivedAt) if !self.top => {
                    map.next_value_seed(Walk {
                        top: false,
                        found: &mut *self.found,
                    })?;
                }
                Some(top @ (Named::Infno | Named::ReceivedAt)) => {
                    let v: Value = map.next_value()?;
                    if let Value::String(s) = &v {
                        let slot = if top == Named::Infno {
                            &mut self.found.infno
                        } else {
                            &mut self.found.received_at
                        };
                        *slot = Some(s.clone());
                    }
                    self.found.nested(&v);
                }
                None => {
                    map.next_value_seed(Walk {
                        top: false,
                        found: &mut *self.found,
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// A map key the walk cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    Anywhere(IndexField),
    Infno,
    ReceivedAt,
}

/// Reads a map key into [`Named`] without keeping it.
struct KeyName;

impl<'de> DeserializeSeed<'de> for KeyName {
    type Value = Option<Named>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Named>, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyName {
    type Value = Option<Named>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object key")
    }
    fn visit_str<E>(self, s: &str) -> Result<Option<Named>, E> {
        Ok(match s {
            "infno" => Some(Named::Infno),
            "received_at" => Some(Named::ReceivedAt),
            other => IndexField::anywhere(other).map(Named::Anywhere),
        })
    }
}

/// A search of the journal through the record index: every condition given must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordQuery {
    /// `(field, term)` conditions, exact; [`IndexField::Time`] is not a term (use the range).
    pub terms: Vec<(IndexField, String)>,
    /// Received at or after, Unix ms.
    pub received_from_ms: Option<i64>,
    /// Received before, Unix ms (exclusive).
    pub received_before_ms: Option<i64>,
    /// Continue after this record: only records older than it in the page's order (the
    /// `next_before` of the previous page).
    pub before: Option<u64>,
    /// Most records one page returns.
    pub rows_max: usize,
    /// Most index entries (or, without any condition, journal records) one page looks at:
    /// bounds a page whose conditions rarely hold together.
    pub examine_max: usize,
}

impl Default for RecordQuery {
    fn default() -> Self {
        RecordQuery {
            terms: Vec::new(),
            received_from_ms: None,
            received_before_ms: None,
            before: None,
            rows_max: 50,
            examine_max: 50_000,
        }
    }
}

impl RecordQuery {
    pub(crate) fn timed(&self) -> bool {
        self.received_from_ms.is_some() || self.received_before_ms.is_some()
    }

    /// The condition the page scans by (the most selective given), and the others.
    pub(crate) fn driver(&self) -> (Option<Condition<'_>>, Vec<Condition<'_>>) {
        let mut terms: Vec<Condition<'_>> =
            self.terms.iter().map(|(f, t)| (*f, t.as_str())).collect();
        terms.sort_by_key(|(f, _)| {
            IndexField::BY_SELECTIVITY
                .iter()
                .position(|x| x == f)
                .unwrap_or(usize::MAX)
        });
        if terms.is_empty() {
            return (self.timed().then_some((IndexField::Time, "")), Vec::new());
        }
        let first = terms.remove(0);
        (Some(first), terms)
    }
}

/// One condition of a query: a field and the term it must hold.
pub(crate) type Condition<'a> = (IndexField, &'a str);

/// One page found by [`crate::Store::find_records`]: newest first (receive time, then
/// offset; without any condition, offset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordPage {
    pub records: Vec<(u64, JournalRecord)>,
    /// Offsets found whose record failed its checksum (listed, not skipped silently).
    pub corrupt: Vec<u64>,
    /// Index entries (or journal records) looked at.
    pub examined: u64,
    /// Where the next page starts ([`RecordQuery::before`]), when there may be more.
    pub next_before: Option<u64>,
    /// The last offset a page may show: durable records only.
    pub through: Option<u64>,
    /// Records not indexed yet that the page did not read ([`TAIL_READ_MAX`]): 0 unless the
    /// background indexer is far behind (building the index of an older journal).
    pub tail_unread: u64,
}

/// Reads one journal record (the store's frames are checksummed: a mismatch is an `Err`).
fn read_record(journal: &sled::Tree, offset: u64) -> Result<Option<JournalRecord>, StoreError> {
    match journal.get(offset.to_be_bytes())? {
        None => Ok(None),
        Some(frame) => JournalRecord::decode(offset, &frame).map(Some),
    }
}

/// Checks a query's conditions; `Err` names the first one that cannot be looked up.
fn validate(q: &RecordQuery) -> Result<(), StoreError> {
    for (field, term) in &q.terms {
        if *field == IndexField::Time {
            return Err(StoreError::InvalidRecord(
                "the receive time is a range (received_from_ms, received_before_ms), not a term"
                    .into(),
            ));
        }
        if term.is_empty() || term.len() > usize::from(u16::MAX) {
            return Err(StoreError::InvalidRecord(format!(
                "a {field} to look for must be 1..=65535 bytes, got {}",
                term.len()
            )));
        }
    }
    Ok(())
}

/// One page of `q` (see [`crate::Store::find_records`]); `through` is the last offset a page
/// may show.
pub(crate) fn find(
    index: &sled::Tree,
    journal: &sled::Tree,
    through: Option<u64>,
    indexed_below: u64,
    q: &RecordQuery,
) -> Result<RecordPage, StoreError> {
    validate(q)?;
    let mut page = RecordPage {
        through,
        ..RecordPage::default()
    };
    let Some(through) = through else {
        return Ok(page);
    };
    // Where the previous page stopped, in the page's order: the record's own (time, offset).
    let before = match q.before {
        None => None,
        Some(offset) => {
            let record = read_record(journal, offset)?.ok_or_else(|| {
                StoreError::InvalidRecord(format!("no journal record at offset {offset}"))
            })?;
            Some((RecordTerms::of(&record).time, offset))
        }
    };
    let (driver, others) = q.driver();
    let Some((field, term)) = driver else {
        find_in_journal(journal, through, before.map(|b| b.1), q, &mut page)?;
        return Ok(page);
    };
    // The records the background indexer has not reached (the newest), read one by one and
    // merged into the page in its order; the index answers only for the records below them.
    let indexed_end = indexed_below.min(through.saturating_add(1));
    let mut tail = tail_matches(journal, indexed_end, through, before, q, &mut page)?;
    let prefix = term_prefix(field, term);
    let at = |time: u64, offset: u64| {
        let mut k = prefix.clone();
        k.extend_from_slice(&time.to_be_bytes());
        k.extend_from_slice(&offset.to_be_bytes());
        k
    };
    // A time range leaves out the records without a time, as a comparison with none would.
    let time_low = match q.received_from_ms {
        Some(ms) => sortable_ms(ms),
        None if q.timed() => TIME_NONE + 1,
        None => TIME_NONE,
    };
    let start = at(time_low, 0);
    let mut end = at(u64::MAX, u64::MAX);
    if let Some(ms) = q.received_before_ms {
        end = end.min(at(sortable_ms(ms), 0));
    }
    if let Some((time, offset)) = before {
        end = end.min(at(time, offset));
    }
    let full = |page: &RecordPage| page.records.len() >= q.rows_max;
    if start < end {
        for item in index.range(start..end).rev() {
            let (key, _) = item?;
            let (time, offset) = entry_tail(&key)?;
            if offset >= indexed_end {
                // written by the indexer ahead of its marker (or not durable yet): the record
                // is in the tail, and found there
                continue;
            }
            // the records not indexed yet that come first in the page's order
            if emit_tail_above(&mut tail, Some((time, offset)), &mut page, q) {
                return Ok(page);
            }
            page.examined += 1;
            let mut holds = true;
            for (f, t) in &others {
                if !holds {
                    break;
                }
                holds = index.contains_key(entry_key(*f, t, time, offset))?;
            }
            if holds {
                take(journal, offset, &mut page)?;
            }
            if full(&page) || page.examined >= q.examine_max as u64 {
                page.next_before = Some(offset);
                return Ok(page);
            }
        }
    }
    emit_tail_above(&mut tail, None, &mut page, q);
    Ok(page)
}

/// The records `from..=through` (not indexed yet) that meet `q` and come after `before` in
/// the page's order, ordered as the page is (newest first, then by offset), the first last.
/// At most [`TAIL_READ_MAX`] records are read, the newest; `page.tail_unread` counts the rest.
fn tail_matches(
    journal: &sled::Tree,
    from: u64,
    through: u64,
    before: Option<(u64, u64)>,
    q: &RecordQuery,
    page: &mut RecordPage,
) -> Result<Vec<(u64, u64, JournalRecord)>, StoreError> {
    let mut found = Vec::new();
    if through < from {
        return Ok(found);
    }
    let unread = (through - from + 1).saturating_sub(TAIL_READ_MAX);
    page.tail_unread = unread;
    // the newest TAIL_READ_MAX of them
    for item in journal
        .range((from + unread).to_be_bytes()..=through.to_be_bytes())
        .rev()
    {
        let (key, frame) = item?;
        let offset = parse_journal_key(&key)?;
        match JournalRecord::decode(offset, &frame) {
            Ok(record) => {
                let terms = RecordTerms::of(&record);
                if terms.holds(q) && before.is_none_or(|b| (terms.time, offset) < b) {
                    found.push((terms.time, offset, record));
                }
            }
            Err(StoreError::Corrupt { .. }) => page.corrupt.push(offset),
            Err(e) => return Err(e),
        }
    }
    // popped from the end: the first of the page's order last
    found.sort_by_key(|(time, offset, _)| (*time, *offset));
    Ok(found)
}

/// Moves the tail's records that come before `bound` in the page's order (all of them for
/// `None`) into the page; `true` when the page is full (its `next_before` set).
fn emit_tail_above(
    tail: &mut Vec<(u64, u64, JournalRecord)>,
    bound: Option<(u64, u64)>,
    page: &mut RecordPage,
    q: &RecordQuery,
) -> bool {
    while tail
        .last()
        .is_some_and(|(time, offset, _)| bound.is_none_or(|b| (*time, *offset) > b))
    {
        let (_, offset, record) = tail.pop().expect("just looked");
        page.records.push((offset, record));
        if page.records.len() >= q.rows_max {
            page.next_before = Some(offset);
            return true;
        }
    }
    false
}

fn parse_journal_key(key: &[u8]) -> Result<u64, StoreError> {
    Ok(u64::from_be_bytes(key.try_into().map_err(|_| {
        StoreError::CorruptIndex {
            what: "journal key",
            reason: format!("expected 8 bytes, found {}", key.len()),
        }
    })?))
}

/// Writes the entries of the records `from..=to` (those that exist); a record that fails its
/// checksum cannot be indexed and is logged and passed (`journal stats` lists it). Returns
/// the records read.
pub(crate) fn index_records(
    journal: &sled::Tree,
    index: &sled::Tree,
    from: u64,
    to: u64,
) -> Result<u64, StoreError> {
    let mut done = 0;
    for item in journal.range(from.to_be_bytes()..=to.to_be_bytes()) {
        let (k, frame) = item?;
        let offset = parse_journal_key(&k)?;
        match JournalRecord::decode(offset, &frame) {
            Ok(record) => write_entries(index, &RecordTerms::of(&record), offset)?,
            Err(e @ StoreError::Corrupt { .. }) => {
                tracing::warn!(offset, error = %e, "record index: a corrupt record is not indexed");
            }
            Err(e) => return Err(e),
        }
        done += 1;
    }
    Ok(done)
}

/// A page without conditions: the journal itself, from its end (or `before`) backwards.
fn find_in_journal(
    journal: &sled::Tree,
    through: u64,
    before: Option<u64>,
    q: &RecordQuery,
    page: &mut RecordPage,
) -> Result<(), StoreError> {
    let end = before.map_or(through.saturating_add(1), |b| {
        b.min(through.saturating_add(1))
    });
    for item in journal.range(..end.to_be_bytes()).rev() {
        let (key, frame) = item?;
        let offset = parse_journal_key(&key)?;
        page.examined += 1;
        match JournalRecord::decode(offset, &frame) {
            Ok(record) => page.records.push((offset, record)),
            Err(StoreError::Corrupt { .. }) => page.corrupt.push(offset),
            Err(e) => return Err(e),
        }
        if page.records.len() >= q.rows_max || page.examined >= q.examine_max as u64 {
            page.next_before = (offset > 0).then_some(offset);
            break;
        }
    }
    Ok(())
}

/// Adds the record at `offset` (found through an entry) to the page.
fn take(journal: &sled::Tree, offset: u64, page: &mut RecordPage) -> Result<(), StoreError> {
    match read_record(journal, offset) {
        Ok(Some(record)) => page.records.push((offset, record)),
        // Entries are written after their record and never without it (module docs).
        Ok(None) => {
            return Err(StoreError::CorruptIndex {
                what: "record index",
                reason: format!("an entry names offset {offset}, which has no journal record"),
            });
        }
        Err(StoreError::Corrupt { .. }) => page.corrupt.push(offset),
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Writes the entries of `record` at `offset`.
pub(crate) fn write_entries(
    index: &sled::Tree,
    terms: &RecordTerms,
    offset: u64,
) -> Result<(), StoreError> {
    for key in terms.keys(offset) {
        index.insert(key, &[])?;
    }
    Ok(())
}

/// Where the indexed prefix ends ([`META_INDEXED_BELOW`]; 0 when the store predates the index).
pub(crate) fn indexed_below(meta: &sled::Tree) -> Result<u64, StoreError> {
    match meta.get(META_INDEXED_BELOW)? {
        None => Ok(0),
        Some(v) => {
            let b: [u8; 8] = v
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::CorruptIndex {
                    what: "record index marker",
                    reason: format!("expected 8 bytes, found {}", v.len()),
                })?;
            Ok(u64::from_be_bytes(b))
        }
    }
}

/// Writes the entries of every record from `from` to the journal's end (the records journaled
/// before the index existed, or while it was off), then marks the index live. Idempotent:
/// entries are value-less puts, so a build interrupted and run again writes the same keys.
/// Progress is logged and saved (with a flush: the open's own flusher is not running yet)
/// every [`BACKFILL_STEP_RECORDS`]. A record that fails its checksum cannot be indexed; it is
/// logged and passed (`journal stats` lists it), so one bad old record does not stop the
/// store opening. Returns the records indexed.
pub(crate) fn backfill(
    db: &sled::Db,
    journal: &sled::Tree,
    index: &sled::Tree,
    meta: &sled::Tree,
    from: u64,
) -> Result<u64, StoreError> {
    let last = match journal.last()? {
        Some((k, _)) => Some(parse_journal_key(&k)?),
        None => None,
    };
    let mut done = 0u64;
    if let Some(last) = last.filter(|l| *l >= from) {
        let total = last - from + 1;
        let started = std::time::Instant::now();
        tracing::info!(
            from,
            last,
            records = total,
            "record index: writing the entries of records journaled before it existed (once)"
        );
        let mut next = from;
        while next <= last {
            let to = last.min(next.saturating_add(BACKFILL_STEP_RECORDS - 1));
            done += index_records(journal, index, next, to)?;
            next = to + 1;
            if next <= last {
                meta.insert(META_INDEXED_BELOW, &next.to_be_bytes())?;
                db.flush()?;
                tracing::info!(
                    done,
                    records = total,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "record index: building"
                );
            }
        }
        tracing::info!(
            records = done,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "record index: built"
        );
    }
    meta.insert(META_INDEXED_BELOW, &INDEXED_LIVE.to_be_bytes())?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(payload: &str) -> RecordTerms {
        RecordTerms::of(&JournalRecord::new("k", payload.as_bytes().to_vec()).with_key("H1", "m1"))
    }

    fn has(t: &RecordTerms, field: IndexField, term: &str) -> bool {
        t.terms.contains(&(field, term.to_owned()))
    }

    #[test]
    fn terms_come_from_the_key_the_top_level_and_anywhere_below() {
        let t = terms(
            r#"{"infno":"2207","received_at":"2026-12-05T10:00:00.5+08:00",
                "request":{"infno":"9999","input":{"data":{"psn_no":"P1","mdtrt_id":7}}},
                "answer":{"output":{"setlinfo":{"setl_id":"S1","psn_no":"P1"}}},
                "claim":[{"setl_id":"S2","x":{"received_at":"1999-01-01T00:00:00Z"}}]}"#,
        );
        assert!(has(&t, IndexField::Institution, "H1") && has(&t, IndexField::Msgid, "m1"));
        assert!(has(&t, IndexField::Infno, "2207"));
        assert!(
            !has(&t, IndexField::Infno, "9999"),
            "infno counts at the top only"
        );
        assert!(has(&t, IndexField::PsnNo, "P1"));
        assert!(has(&t, IndexField::MdtrtId, "7"), "a number as written");
        assert!(has(&t, IndexField::SetlId, "S1") && has(&t, IndexField::SetlId, "S2"));
        assert_eq!(t.terms.len(), 7, "{t:?}");
        let ms = rfc3339_ms("2026-12-05T02:00:00.5Z").unwrap();
        assert_eq!(t.time, sortable_ms(ms));
        assert_eq!(t.keys(9).len(), 8, "the time entry and one per term");
    }

    #[test]
    fn numbers_keep_their_text_and_escaped_names_count() {
        let t = terms(r#"{"a":[1.50,{"psn\u005fno":12345678901234567890123}],"setl_id":"1.0"}"#);
        assert!(
            has(&t, IndexField::PsnNo, "12345678901234567890123"),
            "{t:?}"
        );
        assert!(has(&t, IndexField::SetlId, "1.0"));
        assert_eq!(t.time, TIME_NONE);
    }

    #[test]
    fn payloads_that_are_not_json_are_indexed_by_key_only() {
        for p in [
            "D440300",
            "{\"psn_no\":\"P1\"",
            "{\"psn_no\":\"P1\"} x",
            "\u{feff}{}",
            "",
        ] {
            let t = terms(p);
            assert_eq!(t.terms.len(), 2, "{p:?}: {t:?}");
            assert_eq!(t.time, TIME_NONE);
        }
        let big = format!(
            "{{\"psn_no\":\"P1\",\"pad\":\"{}\"}}",
            "x".repeat(INDEX_PAYLOAD_BYTES_MAX)
        );
        assert_eq!(terms(&big).terms.len(), 2);
        // A receive time that does not parse is no time.
        assert_eq!(terms(r#"{"received_at":"yesterday"}"#).time, TIME_NONE);
    }

    #[test]
    fn terms_are_bounded_in_length_and_number() {
        let long = "p".repeat(TERM_BYTES_MAX + 1);
        let t = terms(&format!(r#"{{"psn_no":"{long}","setl_id":""}}"#));
        assert_eq!(t.terms.len(), 2, "too long and empty are not indexed");
        let many: Vec<String> = (0..100)
            .map(|i| format!(r#"{{"setl_id":"S{i}"}}"#))
            .collect();
        let t = terms(&format!("[{}]", many.join(",")));
        let setl = t
            .terms
            .iter()
            .filter(|(f, _)| *f == IndexField::SetlId)
            .count();
        assert_eq!(setl, TERMS_PER_FIELD_MAX);
        assert!(has(&t, IndexField::SetlId, "S0"), "kept in document order");
    }

    #[test]
    fn keys_sort_by_term_then_time_then_offset() {
        let early = sortable_ms(-5);
        let late = sortable_ms(1_000);
        assert!(TIME_NONE < early && early < late);
        let a = entry_key(IndexField::Institution, "H1", late, 1);
        let b = entry_key(IndexField::Institution, "H1", late, 2);
        let c = entry_key(IndexField::Institution, "H12", early, 0);
        let d = entry_key(IndexField::Institution, "H1", early, 9);
        assert!(d < a && a < b, "time, then offset");
        assert!(!c.starts_with(&term_prefix(IndexField::Institution, "H1")));
        assert_eq!(entry_tail(&b).unwrap(), (late, 2));
        assert!(entry_tail(&[1, 0]).is_err());
    }

    #[test]
    fn the_most_selective_condition_drives_the_scan() {
        let q = RecordQuery {
            terms: vec![
                (IndexField::Institution, "H1".into()),
                (IndexField::PsnNo, "P1".into()),
            ],
            ..RecordQuery::default()
        };
        let (driver, rest) = q.driver();
        assert_eq!(driver, Some((IndexField::PsnNo, "P1")));
        assert_eq!(rest, vec![(IndexField::Institution, "H1")]);
        let timed = RecordQuery {
            received_from_ms: Some(0),
            ..RecordQuery::default()
        };
        assert_eq!(timed.driver(), (Some((IndexField::Time, "")), vec![]));
        assert_eq!(RecordQuery::default().driver(), (None, vec![]));
    }
}
