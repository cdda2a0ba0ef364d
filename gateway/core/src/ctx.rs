//! The context of one request to the core: who asks, where, when, and the seed of the id it
//! may mint. Its own module so that the checks (`crate::plausible`) and the processor share it
//! without importing each other.

use medsettle_canonical::{Admdvs, InstitutionLevel};
use time::OffsetDateTime;

/// Who is asking, where, when; and the seed of the id this request may mint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestCtx {
    pub msgid: String,
    pub fixmedins_code: String,
    pub inst_level: InstitutionLevel,
    /// The place of treatment (就医地).
    pub mdtrtarea_admvs: Admdvs,
    /// Request time; converted to +08:00 for dates and years.
    pub now: OffsetDateTime,
    /// Unique per request (e.g. the journal sequence number). A request mints at most one id
    /// (`mdtrt_id`, `setl_id` or `sign_no`): admdvs(6) + time(14) + seed mod 10¹⁰ (10).
    pub id_seed: u64,
}
