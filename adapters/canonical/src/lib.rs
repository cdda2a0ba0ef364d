//! The canonical schema of medsettle: what every wire dialect decodes to and encodes from.
//!
//! Pure data and validation; no I/O. Money is integer fen ([`Money`]); ratios are 1/10 000
//! ([`Ratio`]); every rejection names a [`RuleId`] listed in `specs/rules.toml`.

pub mod claim;
pub mod codes;
pub mod journal;
pub mod money;
pub mod party;
pub mod payment;
pub mod region;
pub mod rules;

pub use claim::{
    CHINA_OFFSET, ClaimKind, FundLine, IdentityPolicy, IdentityReport, ReversalLink, SettledClaim,
    SettlementAmounts, check_identities, check_reversal_of,
};
pub use codes::{ChargeLevel, FeeCategory, FundLineKind, fund_line_kind};
pub use journal::{ExchangeRecord, RecordedRepair};
pub use money::{DecimalError, Money, Ratio};
pub use party::{BankAccount, EnrolmentStatus, Institution, InstitutionLevel, Person};
pub use payment::{
    PaymentBatch, PaymentInstruction, PaymentPurpose, Receipt, ReceiptReason, ReceiptStatus,
};
pub use region::{Admdvs, AdmdvsError, RegionRelation};
pub use rules::{Fault, RuleId, Violation, describe};

#[cfg(test)]
mod spec_tests {
    use super::RuleId;

    /// Every rule id in code is documented in `specs/rules.toml`, and every documented id
    /// exists in code: the spec and the code cannot drift.
    #[test]
    fn rule_ids_match_the_spec_table() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../specs/rules.toml"
        ))
        .expect("specs/rules.toml");
        let table: toml::Table = toml::from_str(&text).expect("rules.toml parses");
        let rules = table["rule"].as_array().expect("[[rule]] entries");
        let documented: Vec<&str> = rules
            .iter()
            .map(|r| r["id"].as_str().expect("id"))
            .collect();
        for r in rules {
            assert!(
                r.get("meaning")
                    .and_then(|m| m.as_str())
                    .is_some_and(|m| !m.is_empty()),
                "rule {} has no meaning",
                r["id"]
            );
        }
        for id in RuleId::ALL {
            assert!(
                documented.contains(&id.0),
                "{id} is not in specs/rules.toml"
            );
        }
        for id in &documented {
            if id.starts_with("IS-") {
                continue; // instant-settlement ids are cited by the settlement crate
            }
            assert!(
                RuleId::lookup(id).is_some(),
                "{id} is documented but unknown to code"
            );
        }
    }
}
