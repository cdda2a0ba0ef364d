//! The error of this crate: every violation of a message, each with its rule id and the full
//! path of the field.

use std::fmt;

use medsettle_canonical::{Fault, RuleId, Violation};

/// A message medsettle will not accept. Decoding collects every violation of the message,
/// not just the first. Bad input is always the sender's fault ([`Fault::Sender`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NhsaError {
    pub violations: Vec<Violation>,
}

impl NhsaError {
    pub fn new(violations: Vec<Violation>) -> NhsaError {
        assert!(
            !violations.is_empty(),
            "an NhsaError names at least one violation"
        );
        NhsaError { violations }
    }

    pub fn one(rule: RuleId, path: impl Into<String>, message: impl Into<String>) -> NhsaError {
        NhsaError::new(vec![Violation::new(rule, path, message)])
    }

    /// Whose fault: always the sender's (the bytes are what they sent).
    pub fn fault(&self) -> Fault {
        Fault::Sender
    }

    /// The distinct rule ids, in order of first appearance.
    pub fn rules(&self) -> Vec<RuleId> {
        let mut out: Vec<RuleId> = Vec::new();
        for v in &self.violations {
            if !out.contains(&v.rule) {
                out.push(v.rule);
            }
        }
        out
    }

    /// Prefix every path (`input.data.x` → `request.input.data.x`).
    pub fn prefixed(mut self, prefix: &str) -> NhsaError {
        for v in &mut self.violations {
            v.path = if v.path.is_empty() {
                prefix.to_owned()
            } else {
                format!("{prefix}.{}", v.path)
            };
        }
        self
    }
}

impl fmt::Display for NhsaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.violations.len();
        write!(f, "{n} violation{}:", if n == 1 { "" } else { "s" })?;
        for v in &self.violations {
            write!(f, "\n  {v}")?;
        }
        Ok(())
    }
}

impl std::error::Error for NhsaError {}
