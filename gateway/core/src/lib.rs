//! medsettle-core: the embedded settlement core.
//!
//! A pure policy engine that computes the split of a visit as an insured place does
//! (`legacy-and-cross-region.md` §4.3): fee lines are classified against a catalogue
//! ([`catalogue`]), a visit's totals are split by a validated, effective-dated policy
//! ([`policy`], [`calc`]) using the person's year-to-date accumulators, and a transaction
//! processor ([`Core::handle`]) runs the national-interface settlement flow (1101, 9001/9002,
//! 2201/2202, 2401/2402, 2204/2205, 2301/2302, 2206/2207, 2303/2304, 2208/2305, 2601).
//!
//! No I/O: state comes in through the read-only [`CoreView`] and goes out as explicit
//! [`StateChange`]s that the caller journals atomically. Money is integer fen throughout; no
//! float is used anywhere in this crate.

pub mod calc;
pub mod catalogue;
pub mod cross_region;
mod ctx;
pub mod error;
pub mod plausible;
pub mod policy;
pub mod processor;
pub mod registry;
pub mod state;
pub mod txn;

pub use calc::{
    Accumulator, AccumulatorDelta, CategorySummaryLine, FeeTotals, Split, SplitInput, compute_split,
};
pub use catalogue::{Catalogue, CatalogueItem, LineSplit, Quantity, UnitPrice, classify_line};
pub use cross_region::{CrossStep, PeerSplit, ReversalDraft, SummaryDraft, SummaryIn};
pub use error::{CoreRefusal, CoreWarning, RefusalCode};
pub use policy::{PolicyBook, Scheme};
pub use processor::{Core, CoreOutcome, RequestCtx};
pub use registry::{PersonRegistry, RegisteredPerson};
pub use state::{
    CoreView, FeeLineRecord, MemView, PeerRef, SettlementRecord, SignInRecord, StateChange,
    Tombstone, Visit, VisitKind, VisitStatus,
};
pub use txn::{CoreAnswer, CoreRequest, SetlInfo};
