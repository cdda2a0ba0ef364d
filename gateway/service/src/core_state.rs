//! The embedded core's state in the store.
//!
//! The core is pure: it reads through [`CoreView`] and returns absolute [`StateChange`]s. Here
//! those changes become store state writes carried inside the same journal record as the
//! request and its answer, so a crash can never keep a settlement without its accumulators or
//! the other way round (the store replays a record's writes on open).

use std::cell::RefCell;
use std::collections::HashMap;

use medsettle_canonical::{Money, Person};
use medsettle_core::{
    Accumulator, CoreView, FeeLineRecord, PersonRegistry, SettlementRecord, SignInRecord,
    StateChange, Tombstone, Visit,
};
use medsettle_store::{StateWrite, Store};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Keyspaces of the core's state. Keys join their parts with NUL, which no id contains.
pub mod space {
    pub const VISIT: &str = "core.visit";
    /// A visit's fee lines, one value per visit (`mdtrt_id` → JSON array ordered by
    /// `feedetl_sn`): a settlement reads them all with one lookup instead of a prefix scan,
    /// and an upload of n lines is one write instead of n.
    pub const FEE_LINES: &str = "core.fee_lines";
    pub const SETTLEMENT: &str = "core.settlement";
    pub const MSGID: &str = "core.msgid";
    pub const ACCUMULATOR: &str = "core.accumulator";
    pub const BALANCE: &str = "core.balance";
    pub const SIGN_IN: &str = "core.sign_in";
    /// `(fixmedins_code, msgid)` a 2601 reversed before it arrived → its [`Tombstone`] (JSON).
    /// Never deleted: see `specs/gateway.md` §2, "Reversal before its original".
    pub const TOMBSTONE: &str = "core.tombstone";
}

fn key(parts: &[&str]) -> Vec<u8> {
    parts.join("\0").into_bytes()
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("core state serializes")
}

/// Turn the core's changes into store writes (absolute puts and deletes: replay-safe).
///
/// Fee-line changes are merged into their visit's whole list, read through `view` — the state
/// the core computed from, under the same lock — so the write stays absolute. A read that
/// fails is recorded in the view; the caller checks [`StoreCoreView::failure`] after this.
pub fn state_writes(changes: &[StateChange], view: &StoreCoreView<'_>) -> Vec<StateWrite> {
    let mut writes = Vec::new();
    // Visits whose lines changed, in the order first touched, with their merged lists.
    let mut fee_lists: Vec<(String, Vec<FeeLineRecord>)> = Vec::new();
    fn list_of<'l>(
        lists: &'l mut Vec<(String, Vec<FeeLineRecord>)>,
        view: &StoreCoreView<'_>,
        mdtrt_id: &str,
    ) -> &'l mut Vec<FeeLineRecord> {
        let i = match lists.iter().position(|(id, _)| id == mdtrt_id) {
            Some(i) => i,
            None => {
                lists.push((mdtrt_id.to_owned(), view.fee_lines(mdtrt_id)));
                lists.len() - 1
            }
        };
        &mut lists[i].1
    }
    for c in changes {
        match c {
            StateChange::PutVisit(v) => {
                writes.push(StateWrite::put(space::VISIT, key(&[&v.mdtrt_id]), json(v)))
            }
            StateChange::PutFeeLine(l) => {
                let lines = list_of(&mut fee_lists, view, &l.mdtrt_id);
                match lines.binary_search_by(|x| x.feedetl_sn.cmp(&l.feedetl_sn)) {
                    Ok(at) => lines[at] = l.clone(),
                    Err(at) => lines.insert(at, l.clone()),
                }
            }
            StateChange::DeleteFeeLine {
                mdtrt_id,
                feedetl_sn,
            } => {
                list_of(&mut fee_lists, view, mdtrt_id).retain(|x| &x.feedetl_sn != feedetl_sn);
            }
            StateChange::PutSettlement(s) => writes.push(StateWrite::put(
                space::SETTLEMENT,
                key(&[&s.claim.setl_id]),
                json(s),
            )),
            StateChange::PutAccumulator(a) => writes.push(StateWrite::put(
                space::ACCUMULATOR,
                key(&[&a.psn_no, &a.year.to_string()]),
                json(a),
            )),
            StateChange::PutBalance { psn_no, balc } => {
                writes.push(StateWrite::put(space::BALANCE, key(&[psn_no]), json(balc)))
            }
            StateChange::PutMsgidIndex {
                fixmedins_code,
                msgid,
                setl_id,
            } => writes.push(StateWrite::put(
                space::MSGID,
                key(&[fixmedins_code, msgid]),
                setl_id.as_bytes().to_vec(),
            )),
            StateChange::PutSignIn(s) => {
                writes.push(StateWrite::put(space::SIGN_IN, key(&[&s.sign_no]), json(s)))
            }
            StateChange::PutTombstone(t) => writes.push(StateWrite::put(
                space::TOMBSTONE,
                key(&[&t.fixmedins_code, &t.msgid]),
                json(t),
            )),
        }
    }
    for (mdtrt_id, lines) in fee_lists {
        writes.push(if lines.is_empty() {
            StateWrite::delete(space::FEE_LINES, key(&[&mdtrt_id]))
        } else {
            StateWrite::put(space::FEE_LINES, key(&[&mdtrt_id]), json(&lines))
        });
    }
    writes
}

/// A [`CoreView`] over the store, with the person registry (a file) as the starting state.
pub struct StoreCoreView<'a> {
    store: &'a dyn Store,
    persons: &'a PersonIndex,
    /// The first state the view could not read. The core's lookups cannot fail, so a failure
    /// is recorded here and the caller must check [`StoreCoreView::failure`] before trusting
    /// (or journaling) anything the core computed.
    failure: RefCell<Option<ViewFailure>>,
    /// The last visit's fee lines read: a fee upload and a settlement read them once to compute
    /// and once more to merge their changes ([`state_writes`]). Exact for the view's life: it
    /// serves one request, under that person's apply lock, before any of its writes.
    fee_lines_read: RefCell<Option<(String, Vec<FeeLineRecord>)>>,
}

/// Why the view could not read the core's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewFailure {
    /// The store could not be read (disk): retrying later may succeed.
    Store(String),
    /// A stored state does not decode: a bug or damage, never the sender's fault.
    Corrupt(String),
}

/// The person registry indexed for lookups.
pub struct PersonIndex {
    by_psn_no: HashMap<String, (Person, String, Option<Money>)>,
    psn_no_by_cert: HashMap<String, String>,
}

impl PersonIndex {
    pub fn new(registry: &PersonRegistry) -> PersonIndex {
        let mut by_psn_no = HashMap::new();
        let mut psn_no_by_cert = HashMap::new();
        for r in &registry.persons {
            psn_no_by_cert.insert(r.person.certno.clone(), r.person.psn_no.clone());
            by_psn_no.insert(
                r.person.psn_no.clone(),
                (r.person.clone(), r.emp_name.clone(), r.balc),
            );
        }
        PersonIndex {
            by_psn_no,
            psn_no_by_cert,
        }
    }
}

impl<'a> StoreCoreView<'a> {
    pub fn new(store: &'a dyn Store, persons: &'a PersonIndex) -> StoreCoreView<'a> {
        StoreCoreView {
            store,
            persons,
            failure: RefCell::new(None),
            fee_lines_read: RefCell::new(None),
        }
    }

    /// The first read that failed, if any: then nothing the core computed may be used.
    pub fn failure(&self) -> Option<ViewFailure> {
        self.failure.borrow().clone()
    }

    fn fail(&self, f: ViewFailure) {
        self.failure.borrow_mut().get_or_insert(f);
    }

    fn raw(&self, space: &str, key: &[u8]) -> Option<Vec<u8>> {
        match self.store.get(space, key) {
            Ok(v) => v,
            Err(e) => {
                self.fail(ViewFailure::Store(format!("reading {space}: {e}")));
                None
            }
        }
    }

    fn decode<T: DeserializeOwned>(&self, space: &str, bytes: &[u8]) -> Option<T> {
        match serde_json::from_slice(bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(ViewFailure::Corrupt(format!("{space}: {e}")));
                None
            }
        }
    }

    fn get<T: DeserializeOwned>(&self, space: &str, key: &[u8]) -> Option<T> {
        let bytes = self.raw(space, key)?;
        self.decode(space, &bytes)
    }
}

impl CoreView for StoreCoreView<'_> {
    fn person(&self, psn_no: &str) -> Option<Person> {
        self.persons
            .by_psn_no
            .get(psn_no)
            .map(|(p, _, _)| p.clone())
    }

    fn person_by_cert(&self, certno: &str) -> Option<Person> {
        self.persons
            .psn_no_by_cert
            .get(certno)
            .and_then(|psn_no| self.person(psn_no))
    }

    fn emp_name(&self, psn_no: &str) -> Option<String> {
        self.persons
            .by_psn_no
            .get(psn_no)
            .map(|(_, e, _)| e.clone())
    }

    fn visit(&self, mdtrt_id: &str) -> Option<Visit> {
        self.get(space::VISIT, &key(&[mdtrt_id]))
    }

    fn fee_lines(&self, mdtrt_id: &str) -> Vec<FeeLineRecord> {
        if let Some((id, lines)) = self.fee_lines_read.borrow().as_ref()
            && id == mdtrt_id
        {
            return lines.clone();
        }
        // Stored ordered by feedetl_sn (see `state_writes`).
        let lines: Vec<FeeLineRecord> = self
            .get(space::FEE_LINES, &key(&[mdtrt_id]))
            .unwrap_or_default();
        *self.fee_lines_read.borrow_mut() = Some((mdtrt_id.to_owned(), lines.clone()));
        lines
    }

    fn settlement(&self, setl_id: &str) -> Option<SettlementRecord> {
        self.get(space::SETTLEMENT, &key(&[setl_id]))
    }

    fn settlement_by_msgid(&self, fixmedins_code: &str, msgid: &str) -> Option<SettlementRecord> {
        let setl_id = self.raw(space::MSGID, &key(&[fixmedins_code, msgid]))?;
        match std::str::from_utf8(&setl_id) {
            Ok(id) => self.settlement(id),
            Err(e) => {
                self.fail(ViewFailure::Corrupt(format!("{}: {e}", space::MSGID)));
                None
            }
        }
    }

    fn accumulator(&self, psn_no: &str, year: i32) -> Option<Accumulator> {
        self.get(space::ACCUMULATOR, &key(&[psn_no, &year.to_string()]))
    }

    fn balance(&self, psn_no: &str) -> Option<Money> {
        self.get(space::BALANCE, &key(&[psn_no]))
            .or_else(|| self.persons.by_psn_no.get(psn_no).and_then(|(_, _, b)| *b))
    }

    fn sign_in(&self, sign_no: &str) -> Option<SignInRecord> {
        self.get(space::SIGN_IN, &key(&[sign_no]))
    }

    fn tombstone(&self, fixmedins_code: &str, msgid: &str) -> Option<Tombstone> {
        self.get(space::TOMBSTONE, &key(&[fixmedins_code, msgid]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medsettle_store::{Durability, JournalRecord, SledStore, StoreConfig};

    fn put(store: &SledStore, space: &str, key: Vec<u8>, value: &[u8]) {
        let record = JournalRecord::new("test.state", b"{}".to_vec()).with_write(StateWrite::put(
            space,
            key,
            value.to_vec(),
        ));
        store.append(record).expect("append");
    }

    /// A view reads a visit's fee lines from the store once: the second read (the merge in
    /// `state_writes`) is served from the first, and another view reads afresh.
    #[test]
    fn a_view_reads_a_visits_fee_lines_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(
            dir.path(),
            StoreConfig {
                durability: Durability::None,
                ..StoreConfig::default()
            },
        )
        .unwrap();
        let persons = PersonIndex::new(&medsettle_core::PersonRegistry { persons: vec![] });
        put(&store, space::FEE_LINES, key(&["M1"]), b"[]");
        put(&store, space::FEE_LINES, key(&["M2"]), b"[]");

        let view = StoreCoreView::new(&store, &persons);
        assert!(view.fee_lines("M1").is_empty());
        // Damage the stored value: a second read from the store would now fail to decode.
        put(&store, space::FEE_LINES, key(&["M1"]), b"not json");
        assert!(view.fee_lines("M1").is_empty());
        assert_eq!(view.failure(), None, "the second read went to the store");
        // Another visit is read from the store.
        assert!(view.fee_lines("M2").is_empty());
        assert_eq!(view.failure(), None);

        let fresh = StoreCoreView::new(&store, &persons);
        assert!(fresh.fee_lines("M1").is_empty());
        assert!(
            matches!(fresh.failure(), Some(ViewFailure::Corrupt(_))),
            "a new view reads the store: {:?}",
            fresh.failure()
        );
    }
}
