//! The core's state as seen through a read-only [`CoreView`], and the explicit
//! [`StateChange`]s a request produces. The caller journals a request's changes atomically
//! (all or none) and applies them to its store; [`MemView`] does the same in memory.

use std::collections::BTreeMap;

use medsettle_canonical::{Admdvs, InstitutionLevel, Money, Person, SettledClaim};
use serde::{Deserialize, Serialize};

use crate::calc::{Accumulator, AccumulatorDelta};
use crate::catalogue::LineSplit;
use crate::registry::PersonRegistry;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitKind {
    Outpatient,
    Inpatient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitStatus {
    Open,
    Discharged,
    Cancelled,
}

/// A visit (就诊), created by 2201 or 2401.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    pub mdtrt_id: String,
    pub psn_no: String,
    pub insutype: String,
    pub kind: VisitKind,
    pub med_type: Option<String>,
    pub ipt_otp_no: String,
    pub begntime: String,
    pub endtime: Option<String>,
    pub fixmedins_code: String,
    pub inst_level: InstitutionLevel,
    pub mdtrtarea_admvs: Admdvs,
    pub status: VisitStatus,
    /// A visit of a person insured in a peer region (cross-region, F4): the person is not in
    /// this gateway's registry, and the insured place settles it from a fee-category summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_insuplc_admdvs: Option<Admdvs>,
}

/// An uploaded fee line with its classification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeLineRecord {
    pub mdtrt_id: String,
    pub feedetl_sn: String,
    pub chrg_bchno: Option<String>,
    pub init_feedetl_sn: Option<String>,
    pub med_list_codg: String,
    pub medins_list_codg: String,
    pub fee_ocur_time: Option<String>,
    pub split: LineSplit,
    /// The active settlement that covers this line; cleared when it is reversed.
    pub setl_id: Option<String>,
}

/// A settlement or reversal as the core keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementRecord {
    pub claim: SettledClaim,
    /// The accumulator year the settlement counted in (China time of `setl_time`).
    pub year: i32,
    /// What the settlement added to the accumulator (zero for reversals).
    pub delta: AccumulatorDelta,
    /// The fee lines it covered.
    pub feedetl_sn: Vec<String>,
    /// `setl_id` of the reversal, once reversed.
    pub reversed_by: Option<String>,
    /// A settlement split by a peer insured place (cross-region, F4): where, and under which
    /// message and settlement id the peer knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<PeerRef>,
}

/// How the insured place knows a cross-region settlement or reversal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRef {
    /// The insured place (参保地).
    pub insuplc_admdvs: Admdvs,
    /// The peer message that settled (or reversed) it.
    pub msgid: String,
    /// The insured place's own settlement id.
    pub setl_id: String,
}

/// A 9001 sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInRecord {
    pub sign_no: String,
    pub opter_no: String,
    pub fixmedins_code: String,
    pub sign_time: String,
    pub signed_out: bool,
}

/// A reversal that outran its original: 2601 named an `omsgid` the core has no record of, so
/// that `(fixmedins_code, msgid)` is closed. A request that later arrives with it is refused
/// (`CORE-MSGID-REVERSED`) instead of settling behind the back of a HIS that believes it was
/// reversed. Kept for ever, like the idempotency index: the interface sets no limit on how late
/// a HIS may retry a msgid (`specs/gateway.md` §2, "Reversal before its original").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub fixmedins_code: String,
    /// The original's msgid: the 2601's `omsgid`.
    pub msgid: String,
    /// What the 2601 said the original was (`oinfno`).
    pub oinfno: String,
    /// The person the 2601 named.
    pub psn_no: String,
    /// The msgid of the 2601 that closed it.
    pub reversed_by_msgid: String,
    /// When the 2601 was handled (interface time, +08:00).
    pub reversed_at: String,
}

/// One absolute change of state. Puts replace the whole record under its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum StateChange {
    PutVisit(Visit),
    PutFeeLine(FeeLineRecord),
    DeleteFeeLine {
        mdtrt_id: String,
        feedetl_sn: String,
    },
    PutSettlement(Box<SettlementRecord>),
    PutAccumulator(Accumulator),
    PutBalance {
        psn_no: String,
        balc: Money,
    },
    /// `(fixmedins_code, msgid)` → the settlement or reversal that request produced.
    PutMsgidIndex {
        fixmedins_code: String,
        msgid: String,
        setl_id: String,
    },
    PutSignIn(SignInRecord),
    /// `(fixmedins_code, msgid)` was reversed before it arrived ([`Tombstone`]).
    PutTombstone(Tombstone),
}

/// Read-only lookups the core needs. Implemented by the store and by [`MemView`].
pub trait CoreView {
    fn person(&self, psn_no: &str) -> Option<Person>;
    fn person_by_cert(&self, certno: &str) -> Option<Person>;
    /// `emp_name` of the person's registration, for 1101.
    fn emp_name(&self, psn_no: &str) -> Option<String>;
    fn visit(&self, mdtrt_id: &str) -> Option<Visit>;
    /// Every fee line of the visit, settled or not, in `feedetl_sn` order.
    fn fee_lines(&self, mdtrt_id: &str) -> Vec<FeeLineRecord>;
    fn settlement(&self, setl_id: &str) -> Option<SettlementRecord>;
    fn settlement_by_msgid(&self, fixmedins_code: &str, msgid: &str) -> Option<SettlementRecord>;
    /// `None` = nothing settled that year yet.
    fn accumulator(&self, psn_no: &str, year: i32) -> Option<Accumulator>;
    /// `None` = the person has no personal account.
    fn balance(&self, psn_no: &str) -> Option<Money>;
    fn sign_in(&self, sign_no: &str) -> Option<SignInRecord>;
    /// The tombstone a 2601 left for `(fixmedins_code, msgid)` before that msgid arrived.
    fn tombstone(&self, fixmedins_code: &str, msgid: &str) -> Option<Tombstone>;
}

/// An in-memory [`CoreView`] that applies [`StateChange`]s: for tests, and for a caller that
/// mirrors the journal in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemView {
    pub persons: BTreeMap<String, (Person, String)>,
    pub visits: BTreeMap<String, Visit>,
    pub fee_lines: BTreeMap<(String, String), FeeLineRecord>,
    pub settlements: BTreeMap<String, SettlementRecord>,
    pub msgid_index: BTreeMap<(String, String), String>,
    pub accumulators: BTreeMap<(String, i32), Accumulator>,
    pub balances: BTreeMap<String, Money>,
    pub sign_ins: BTreeMap<String, SignInRecord>,
    pub tombstones: BTreeMap<(String, String), Tombstone>,
}

impl MemView {
    pub fn with_registry(registry: &PersonRegistry) -> MemView {
        let mut view = MemView::default();
        for r in &registry.persons {
            view.persons.insert(
                r.person.psn_no.clone(),
                (r.person.clone(), r.emp_name.clone()),
            );
            if let Some(b) = r.balc {
                view.balances.insert(r.person.psn_no.clone(), b);
            }
        }
        view
    }

    pub fn apply(&mut self, changes: &[StateChange]) {
        for c in changes {
            match c {
                StateChange::PutVisit(v) => {
                    self.visits.insert(v.mdtrt_id.clone(), v.clone());
                }
                StateChange::PutFeeLine(l) => {
                    self.fee_lines
                        .insert((l.mdtrt_id.clone(), l.feedetl_sn.clone()), l.clone());
                }
                StateChange::DeleteFeeLine {
                    mdtrt_id,
                    feedetl_sn,
                } => {
                    self.fee_lines
                        .remove(&(mdtrt_id.clone(), feedetl_sn.clone()));
                }
                StateChange::PutSettlement(s) => {
                    self.settlements
                        .insert(s.claim.setl_id.clone(), (**s).clone());
                }
                StateChange::PutAccumulator(a) => {
                    self.accumulators
                        .insert((a.psn_no.clone(), a.year), a.clone());
                }
                StateChange::PutBalance { psn_no, balc } => {
                    self.balances.insert(psn_no.clone(), *balc);
                }
                StateChange::PutMsgidIndex {
                    fixmedins_code,
                    msgid,
                    setl_id,
                } => {
                    self.msgid_index
                        .insert((fixmedins_code.clone(), msgid.clone()), setl_id.clone());
                }
                StateChange::PutSignIn(s) => {
                    self.sign_ins.insert(s.sign_no.clone(), s.clone());
                }
                StateChange::PutTombstone(t) => {
                    self.tombstones
                        .insert((t.fixmedins_code.clone(), t.msgid.clone()), t.clone());
                }
            }
        }
    }
}

impl CoreView for MemView {
    fn person(&self, psn_no: &str) -> Option<Person> {
        self.persons.get(psn_no).map(|(p, _)| p.clone())
    }
    fn person_by_cert(&self, certno: &str) -> Option<Person> {
        self.persons
            .values()
            .find(|(p, _)| p.certno == certno)
            .map(|(p, _)| p.clone())
    }
    fn emp_name(&self, psn_no: &str) -> Option<String> {
        self.persons.get(psn_no).map(|(_, e)| e.clone())
    }
    fn visit(&self, mdtrt_id: &str) -> Option<Visit> {
        self.visits.get(mdtrt_id).cloned()
    }
    fn fee_lines(&self, mdtrt_id: &str) -> Vec<FeeLineRecord> {
        self.fee_lines
            .range((mdtrt_id.to_owned(), String::new())..)
            .take_while(|((m, _), _)| m == mdtrt_id)
            .map(|(_, l)| l.clone())
            .collect()
    }
    fn settlement(&self, setl_id: &str) -> Option<SettlementRecord> {
        self.settlements.get(setl_id).cloned()
    }
    fn settlement_by_msgid(&self, fixmedins_code: &str, msgid: &str) -> Option<SettlementRecord> {
        self.msgid_index
            .get(&(fixmedins_code.to_owned(), msgid.to_owned()))
            .and_then(|id| self.settlements.get(id).cloned())
    }
    fn accumulator(&self, psn_no: &str, year: i32) -> Option<Accumulator> {
        self.accumulators.get(&(psn_no.to_owned(), year)).cloned()
    }
    fn balance(&self, psn_no: &str) -> Option<Money> {
        self.balances.get(psn_no).copied()
    }
    fn sign_in(&self, sign_no: &str) -> Option<SignInRecord> {
        self.sign_ins.get(sign_no).cloned()
    }
    fn tombstone(&self, fixmedins_code: &str, msgid: &str) -> Option<Tombstone> {
        self.tombstones
            .get(&(fixmedins_code.to_owned(), msgid.to_owned()))
            .cloned()
    }
}
