//! The payload of a journal record written for one accepted national-interface request.
//!
//! The gateway journals every accepted request with the answer it sent and, when the request
//! settled or reversed a claim, the canonical settled claim. Consumers (the instant-settlement
//! engine, exports) read this one shape, whatever the dialect the request came in.

use serde::{Deserialize, Serialize};

use crate::claim::SettledClaim;

/// Journal record kind of an accepted request that produced a settled claim or reversal.
pub const KIND_SETTLEMENT: &str = "nhsa.settlement";
/// Journal record kind of any other accepted request (registration, fee detail, 1101 …).
pub const KIND_REQUEST: &str = "nhsa.request";
/// Journal record kind of a forwarded exchange whose outcome upstream is not yet known.
pub const KIND_IN_DOUBT: &str = "nhsa.in_doubt";

/// One accepted request, its answer and its canonical effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeRecord {
    pub infno: String,
    pub fixmedins_code: String,
    pub msgid: String,
    /// The request envelope as received (JSON).
    pub request: serde_json::Value,
    /// The answer envelope as sent (JSON); the exact bytes are kept by the idempotency index.
    pub answer: serde_json::Value,
    /// The settled claim (or reversal) this request produced, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<SettledClaim>,
    /// How the answer was produced: `embedded` (the policy engine) or `forwarded` (upstream).
    pub core: String,
    /// Receive time, ISO 8601 +08:00.
    pub received_at: String,
    /// What was repaired of a provincial shape to read an upstream's answer (a `null` part
    /// derived from the identities, a placeholder element dropped, …): the record says so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repairs: Vec<RecordedRepair>,
}

/// One repair recorded with an exchange (`specs/nhsa-interface.md` §8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRepair {
    /// What was done (`derived`, `placeholder_element`, …).
    pub repair: String,
    /// The field path in the message.
    pub path: String,
    pub detail: String,
}

/// The one part of an [`ExchangeRecord`] a settlement consumer needs. Deserializing this
/// instead of the whole record skips the request and answer envelopes without building them
/// (the instant-settlement engine reads every settlement record of the journal).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExchangeClaim {
    /// The settled claim (or reversal) the request produced, if any.
    #[serde(default)]
    pub claim: Option<SettledClaim>,
}
