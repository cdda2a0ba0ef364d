//! The two-phase commit of the Yinhai dialects (reference §1A, `specs/legacy.md` §4).
//!
//! A financial legacy call (Guizhou 41, 48) settles in the core like any other — accumulators,
//! visit state and the answer are journaled before the HIS hears of it — but the record is
//! [`KIND_PROVISIONAL`], not a settlement: the instant-settlement engine does not read it.
//! The answer carries `jylsh` (the call's receiver message id) and `jyyzm` (a code derived
//! from the answer's bytes, so only a holder of the answer knows it). Then:
//! - **confirm** (`jylsh`, `jyyzm`) journals the claim again, as a settlement record the
//!   engine pays; the pending entry goes in the same record;
//! - **cancel** (`jylsh`) reverses the settlement in the core (2305 for a 2304, 2208 for a
//!   2207), journaled provisional too, so neither side ever reaches a batch;
//! - a call neither confirmed nor cancelled within the confirm window is cancelled by the
//!   gateway ([`crate::NationalService::resolve_expired_legacy`]), as a forwarded call in doubt
//!   is reversed; `getuncertaintytrade` lists the undecided ones until then.
//!
//! Decisions are serialized by one lock and recorded under [`SPACE_DECIDED`], so a repeated
//! confirm or cancel is answered the same way and the two can never both happen.

use medsettle_canonical::SettledClaim;
use medsettle_store::StateWrite;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A settlement of a two-phase call, waiting for its confirm.
pub const KIND_PROVISIONAL: &str = "legacy.provisional";
/// A confirm's record: the claim, now a settlement for the engine.
pub use medsettle_canonical::journal::KIND_SETTLEMENT as KIND_CONFIRMED;
/// `jylsh` → [`PendingEntry`] of every undecided call.
pub const SPACE_PENDING: &str = "legacy.pending";
/// `setl_id` → `jylsh` of every undecided call (a 42 of a pending settlement is refused).
pub const SPACE_PENDING_SETL: &str = "legacy.pending_setl";
/// `jylsh` → [`Decided`] of every decided call.
pub const SPACE_DECIDED: &str = "legacy.decided";
/// Call key (hex) → how many times a two-phase call with these bytes was cancelled (u32, big
/// endian). A HIS whose own database write failed cancels and then sends the very same bytes
/// again: that is a new call, so its key includes this count.
pub const SPACE_GENERATION: &str = "legacy.generation";

/// Confirm or cancel of a `jylsh` this gateway never issued.
pub const RULE_UNKNOWN: &str = "LEG-COMMIT-UNKNOWN";
/// A confirm whose `jyyzm` is not the one answered with the call.
pub const RULE_CODE: &str = "LEG-COMMIT-CODE";
/// Confirm of a cancelled call, cancel of a confirmed one.
pub const RULE_DECIDED: &str = "LEG-COMMIT-DECIDED";
/// A settlement reversal (42) of a call still waiting for its confirm: cancel it instead.
pub const RULE_PENDING: &str = "LEG-COMMIT-PENDING";
/// Digits of a `jyyzm`.
const JYYZM_DIGITS: u32 = 6;

/// What a provisional record is, given to the pipeline ([`crate::national`]).
#[derive(Debug, Clone)]
pub enum Provisional {
    /// The settling step of a two-phase call: its record holds the pending entry.
    Settle {
        profile: String,
        jybh: String,
        /// The call's key before its generation (hex) and the generation it ran under.
        call_key: String,
        generation: u32,
    },
    /// The reversal that cancels `jylsh`: its record holds the decision and moves the call's
    /// key to its next generation.
    Cancel {
        jylsh: String,
        reason: String,
        call_key: String,
        next_generation: u32,
    },
}

/// An undecided call, as stored under [`SPACE_PENDING`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingEntry {
    pub jylsh: String,
    pub jyyzm: String,
    pub profile: String,
    /// The legacy transaction (41, 48).
    pub jybh: String,
    pub fixmedins_code: String,
    pub psn_no: String,
    pub mdtrt_id: String,
    pub setl_id: String,
    /// The national transaction that settled (2207 or 2304).
    pub infno: String,
    pub msgid: String,
    /// ISO 8601 +08:00.
    pub received_at: String,
    pub claim: SettledClaim,
    /// The settling answer (JSON), journaled again with the confirm.
    pub answer: serde_json::Value,
    /// The call's key before its generation (hex), and its generation ([`SPACE_GENERATION`]).
    #[serde(default)]
    pub call_key: String,
    #[serde(default)]
    pub generation: u32,
}

/// How a call was decided, as stored under [`SPACE_DECIDED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decided {
    /// `confirmed` or `cancelled`.
    pub decision: String,
    /// ISO 8601 +08:00.
    pub at: String,
    /// Why it was cancelled (`his` for the HIS's cancel, `window` for the gateway's).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// Every undecided call, optionally only of legacy transaction `jybh`, in `jylsh` order.
pub fn undecided(
    store: &dyn medsettle_store::Store,
    jybh: Option<&str>,
) -> Result<Vec<PendingEntry>, medsettle_store::StoreError> {
    let mut out = Vec::new();
    for item in store.scan_prefix(SPACE_PENDING, b"")? {
        let (_, v) = item?;
        // Written by this module only; one that does not read is skipped, not fatal.
        let Ok(entry) = serde_json::from_slice::<PendingEntry>(&v) else {
            continue;
        };
        if jybh.is_none_or(|j| j == entry.jybh) {
            out.push(entry);
        }
    }
    Ok(out)
}

/// The operator's view of [`undecided`]: one line per call, oldest first.
pub fn undecided_text(entries: &[PendingEntry]) -> String {
    use std::fmt::Write as _;
    let mut t = format!(
        "{} legacy call(s) waiting for their confirm\n",
        entries.len()
    );
    if !entries.is_empty() {
        let _ = writeln!(
            t,
            "{:<32} {:<13} {:<5} {:<14} {:<32} {:>12}  since",
            "jylsh", "profile", "jybh", "institution", "setl_id", "fund pays"
        );
    }
    let mut sorted: Vec<&PendingEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.received_at.cmp(&b.received_at));
    for e in sorted {
        let _ = writeln!(
            t,
            "{:<32} {:<13} {:<5} {:<14} {:<32} {:>12}  {}",
            e.jylsh,
            e.profile,
            e.jybh,
            e.fixmedins_code,
            e.setl_id,
            e.claim.amounts.fund_pay_sumamt.to_string(),
            e.received_at
        );
    }
    t
}

/// The `jylsh` of a settling answer: its `inf_refmsgid`.
pub fn jylsh_of(answer: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(answer).ok()?;
    v.get("inf_refmsgid")?.as_str().map(str::to_owned)
}

/// The `jyyzm` of a settling answer: six digits of its SHA-256, so only a holder of the
/// answer can confirm the call.
pub fn jyyzm_of(answer: &[u8]) -> String {
    let d = Sha256::digest(answer);
    let n = u64::from_be_bytes(d[..8].try_into().expect("8 bytes of a digest"));
    format!(
        "{:0width$}",
        n % 10u64.pow(JYYZM_DIGITS),
        width = JYYZM_DIGITS as usize
    )
}

/// The state writes journaled with a provisional record: the pending entry of a settling
/// step, or the decision of a cancel.
pub(crate) fn pending_writes(
    p: &Provisional,
    answer_bytes: &[u8],
    claim: &SettledClaim,
    received_at: &str,
) -> Vec<StateWrite> {
    match p {
        Provisional::Settle {
            profile,
            jybh,
            call_key,
            generation,
        } => {
            let Some(jylsh) = jylsh_of(answer_bytes) else {
                return Vec::new();
            };
            let entry = PendingEntry {
                jyyzm: jyyzm_of(answer_bytes),
                profile: profile.clone(),
                jybh: jybh.clone(),
                fixmedins_code: claim.fixmedins_code.clone(),
                psn_no: claim.psn_no.clone(),
                mdtrt_id: claim.mdtrt_id.clone(),
                setl_id: claim.setl_id.clone(),
                infno: claim.infno.clone(),
                msgid: claim.msgid.clone(),
                received_at: received_at.to_owned(),
                claim: claim.clone(),
                answer: serde_json::from_slice(answer_bytes).unwrap_or(serde_json::Value::Null),
                jylsh: jylsh.clone(),
                call_key: call_key.clone(),
                generation: *generation,
            };
            vec![
                StateWrite::put(
                    SPACE_PENDING,
                    jylsh.as_bytes(),
                    serde_json::to_vec(&entry).expect("a pending entry serializes"),
                ),
                StateWrite::put(SPACE_PENDING_SETL, claim.setl_id.as_bytes(), jylsh),
            ]
        }
        Provisional::Cancel {
            jylsh,
            reason,
            call_key,
            next_generation,
        } => {
            // The reversal names the settlement it cancels.
            let setl_id = claim
                .reversal_of
                .as_ref()
                .and_then(|l| l.setl_id.clone())
                .unwrap_or_default();
            let mut writes = decision_writes(jylsh, &setl_id, "cancelled", reason, received_at);
            if !call_key.is_empty() {
                writes.push(StateWrite::put(
                    SPACE_GENERATION,
                    call_key.as_bytes(),
                    next_generation.to_be_bytes().to_vec(),
                ));
            }
            writes
        }
    }
}

/// The writes that decide `jylsh`: the pending entries go, the decision stays.
pub(crate) fn decision_writes(
    jylsh: &str,
    setl_id: &str,
    decision: &str,
    reason: &str,
    at: &str,
) -> Vec<StateWrite> {
    let decided = Decided {
        decision: decision.to_owned(),
        at: at.to_owned(),
        reason: reason.to_owned(),
    };
    vec![
        StateWrite::delete(SPACE_PENDING, jylsh.as_bytes()),
        StateWrite::delete(SPACE_PENDING_SETL, setl_id.as_bytes()),
        StateWrite::put(
            SPACE_DECIDED,
            jylsh.as_bytes(),
            serde_json::to_vec(&decided).expect("a decision serializes"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jyyzm_is_six_digits_and_depends_on_the_answer() {
        let a = jyyzm_of(br#"{"infcode":0,"inf_refmsgid":"1"}"#);
        let b = jyyzm_of(br#"{"infcode":0,"inf_refmsgid":"2"}"#);
        assert_eq!(a.len(), 6);
        assert!(a.bytes().all(|c| c.is_ascii_digit()));
        assert_ne!(a, b);
        assert_eq!(a, jyyzm_of(br#"{"infcode":0,"inf_refmsgid":"1"}"#));
    }

    #[test]
    fn jylsh_is_the_receiver_message_id() {
        assert_eq!(
            jylsh_of(br#"{"infcode":0,"inf_refmsgid":"520100202405201030000000000001"}"#)
                .as_deref(),
            Some("520100202405201030000000000001")
        );
        assert_eq!(jylsh_of(b"not json"), None);
    }
}
