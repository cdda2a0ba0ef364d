//! The key a receiver is idempotent by (§7). Its own module: the status query names the key
//! of the message it asks about, and the envelope makes the key of every message.

use medsettle_canonical::Admdvs;

use crate::field::quote;
use crate::infno::Infno;
use crate::refusal::{Refusal, rule};

/// What a receiver is idempotent by: the same key with the same bytes gets the stored answer;
/// the same key with other bytes is refused ([`IdempotencyKey::conflict`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey {
    pub sender: Admdvs,
    pub infno: Infno,
    pub msgid: String,
}

impl IdempotencyKey {
    /// The refusal for other bytes under a used key.
    pub fn conflict(&self) -> Refusal {
        Refusal::new(
            rule::ENV_MSGID_REUSED,
            "msgid",
            format!(
                "msgid {} was already used by {} for {} with different bytes",
                quote(&self.msgid),
                self.sender,
                self.infno
            ),
        )
    }

    /// The refusal for a message whose key an earlier XPRV03 sealed.
    pub fn sealed(&self) -> Refusal {
        Refusal::new(
            rule::STAT_SEALED,
            "msgid",
            format!(
                "{} {} from {} was sealed by a status query and will never be applied",
                self.infno,
                quote(&self.msgid),
                self.sender
            ),
        )
    }
}
