//! medsettle-service: what the gateway does with one request, without the transport.
//!
//! The server (`medsettle-server`) authenticates, limits and routes; this crate answers. A
//! national-interface request runs through the stages of [`national`] — decode → authorize →
//! replay → route → compute → journal → await durable — each a function testable without TLS.
//!
//! Modules, one job each: [`national`] (the pipeline and its [`NationalService`]),
//! [`wire_core`] (national typed inputs ↔ the embedded core's requests and answers),
//! [`core_state`] (the core's state in the store), [`seeds`] (id seeds reserved in blocks),
//! [`file_channel`] (9101 upload, 3202 detail reconciliation, 9102 download), [`forward`]
//! (settling a pool region upstream, journaled, with in-doubt resolution by 2601) and
//! [`paths`] (the per-service paths, from the adapter's transaction table), [`legacy`] (the
//! provincial XML dialects as steps of the national pipeline) and [`legacy_commit`] (their
//! two-phase commit: provisional settlements, confirm, cancel, the confirm window).

pub mod certification;
pub mod clearing_national;
pub mod core_state;
pub mod file_channel;
pub mod forward;
pub mod his;
pub mod interregion;
pub mod interregion_clearing;
pub mod interregion_peer;
pub mod interregion_prepayment;
pub mod legacy;
pub mod legacy_commit;
pub mod national;
pub mod paths;
pub mod peer;
pub mod seeds;
pub mod wire_core;

pub use core_state::PersonIndex;
pub use forward::{
    Disposition, ForwardError, ForwardOutcome, ForwardRequest, ForwardSettings, Forwarder,
    InDoubtEntry, ResolveReport,
};
pub use his::HisService;
pub use legacy::LegacySettings;
pub use legacy_commit::PendingEntry;
pub use national::NationalService;
pub use paths::national_paths;
