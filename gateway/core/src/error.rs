//! The one error type of the core, [`CoreRefusal`], and its warnings.
//!
//! Every refusal names either a canonical [`RuleId`] (format and identity rules shared with the
//! wire adapters, `specs/rules.toml`) or a core-specific [`RefusalCode`] documented in
//! `specs/policy/README.md`; a test keeps that table and [`RefusalCode::ALL`] in step. Each
//! refusal also carries the field path it is about, so the caller can put both in `err_msg`.

use medsettle_canonical::{Fault, RuleId};
use serde::Serialize;

macro_rules! refusal_codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $fault:ident;)*) => {
        /// Stable codes of core-specific refusals (`specs/policy/README.md`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum RefusalCode {
            $($(#[$doc])* $name,)*
        }

        impl RefusalCode {
            /// Every code, for the documentation test.
            pub const ALL: &'static [RefusalCode] = &[$(RefusalCode::$name),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(RefusalCode::$name => $code,)*
                }
            }

            /// Whose fault a refusal with this code is.
            pub fn fault(self) -> Fault {
                match self {
                    $(RefusalCode::$name => Fault::$fault,)*
                }
            }
        }
    };
}

refusal_codes! {
    /// A policy, catalogue or person-registry file is invalid.
    Config = "CORE-CONFIG", Internal;
    /// No scheme covers the person's pool region, insurance type and date.
    PolicyNone = "CORE-POLICY-NONE", Internal;
    /// The scheme has no benefit row, deductible row or ratio row for this visit.
    PolicyNoBenefit = "CORE-POLICY-NO-BENEFIT", Internal;
    /// No such person in the registry.
    PersonUnknown = "CORE-PERSON-UNKNOWN", Sender;
    /// The ID number in `mdtrt_cert_no` (`mdtrt_cert_type` 02) is not the person's `certno`.
    CertMismatch = "CORE-CERT-MISMATCH", Sender;
    /// The request's insurance type is not the person's.
    InsutypeMismatch = "CORE-INSUTYPE-MISMATCH", Sender;
    /// 9002 names a sign-in that does not exist or is already signed out.
    SigninUnknown = "CORE-SIGNIN-UNKNOWN", Sender;
    /// No such visit (`mdtrt_id`).
    VisitUnknown = "CORE-VISIT-UNKNOWN", Sender;
    /// The visit belongs to another person, institution or kind (outpatient / inpatient).
    VisitMismatch = "CORE-VISIT-MISMATCH", Sender;
    /// The visit was cancelled.
    VisitClosed = "CORE-VISIT-CLOSED", Sender;
    /// The visit has an active settlement that forbids this request.
    VisitSettled = "CORE-VISIT-SETTLED", Sender;
    /// A fee line with this `feedetl_sn` already exists on the visit (or twice in the request).
    FeeDuplicate = "CORE-FEE-DUPLICATE", Sender;
    /// The fee line is part of an active settlement and cannot be cancelled.
    FeeSettled = "CORE-FEE-SETTLED", Sender;
    /// No such fee line on the visit.
    FeeUnknown = "CORE-FEE-UNKNOWN", Sender;
    /// Nothing unsettled to settle.
    NoFeeDetail = "CORE-NO-FEE-DETAIL", Sender;
    /// A total in the settlement request disagrees with the uploaded detail.
    TotalsMismatch = "CORE-TOTALS-MISMATCH", Sender;
    /// The unsettled detail sums to a negative part (refunds larger than charges).
    NegativeTotal = "CORE-NEGATIVE-TOTAL", Sender;
    /// The request msgid already produced a settlement or reversal.
    MsgidReused = "CORE-MSGID-REUSED", Sender;
    /// The request msgid was reversed (2601) before it arrived: it is closed for good.
    MsgidReversed = "CORE-MSGID-REVERSED", Sender;
    /// The id minted from the caller's seed is already in use: the caller's seed is not unique.
    IdCollision = "CORE-ID-COLLISION", Internal;
    /// The settlement to reverse is unknown.
    ReversalUnknown = "CORE-REVERSAL-UNKNOWN", Sender;
    /// The settlement was already reversed.
    ReversalAlready = "CORE-REVERSAL-ALREADY", Sender;
    /// The record named is itself a reversal; reversals are final.
    ReversalOfReversal = "CORE-REVERSAL-OF-REVERSAL", Sender;
    /// The reversal names another person / visit, or uses the other setting's transaction.
    ReversalMismatch = "CORE-REVERSAL-MISMATCH", Sender;
    /// 2601 names an original transaction the core does not reverse.
    ReversalUnsupported = "CORE-REVERSAL-UNSUPPORTED", Sender;
    /// The stored state contradicts itself (e.g. an accumulator would go negative).
    StateInconsistent = "CORE-STATE-INCONSISTENT", Internal;
    /// A request about a person insured in a peer region that only the insured place can
    /// answer (1101), or a cross-region visit settled as if it were local.
    CrossRegion = "CORE-CROSS-REGION", Sender;
    /// The insured place's split does not fit the summary that was sent (another total,
    /// another person), or the visit changed while the insured place was asked.
    PeerSplitMismatch = "CORE-PEER-SPLIT", Internal;
}

impl std::fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the core refused a request or a configuration file. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreRefusal {
    /// A canonical format or identity rule is broken (`specs/rules.toml`).
    #[error("[{rule}] {path}: {message}")]
    Rule {
        rule: RuleId,
        path: String,
        message: String,
    },
    /// A core-specific refusal (`specs/policy/README.md`).
    #[error("[{code}] {path}: {message}")]
    Core {
        code: RefusalCode,
        path: String,
        message: String,
    },
}

impl CoreRefusal {
    pub fn rule(rule: RuleId, path: impl Into<String>, message: impl Into<String>) -> Self {
        CoreRefusal::Rule {
            rule,
            path: path.into(),
            message: message.into(),
        }
    }

    pub fn core(code: RefusalCode, path: impl Into<String>, message: impl Into<String>) -> Self {
        CoreRefusal::Core {
            code,
            path: path.into(),
            message: message.into(),
        }
    }

    /// A configuration-file error at `path` (e.g. `scheme[0].benefit[1].ratios[0].bands`).
    pub fn config(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::core(RefusalCode::Config, path, message)
    }

    /// The stable code: a rule id or a `CORE-…` code.
    pub fn code(&self) -> &'static str {
        match self {
            CoreRefusal::Rule { rule, .. } => rule.0,
            CoreRefusal::Core { code, .. } => code.as_str(),
        }
    }

    pub fn refusal_code(&self) -> Option<RefusalCode> {
        match self {
            CoreRefusal::Core { code, .. } => Some(*code),
            CoreRefusal::Rule { .. } => None,
        }
    }

    pub fn path(&self) -> &str {
        match self {
            CoreRefusal::Rule { path, .. } | CoreRefusal::Core { path, .. } => path,
        }
    }

    pub fn fault(&self) -> Fault {
        match self {
            // format and identity rules are broken by what the sender sent
            CoreRefusal::Rule { rule, .. } if *rule == RuleId::GW_INTERNAL => Fault::Internal,
            CoreRefusal::Rule { .. } => Fault::Sender,
            CoreRefusal::Core { code, .. } => code.fault(),
        }
    }
}

/// Something the caller should know that did not stop the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoreWarning {
    /// `CORE-WARN-…` (`specs/policy/README.md`).
    pub code: &'static str,
    pub path: String,
    pub message: String,
}

/// A fee line's list code is not in the catalogue: it was classified as self-pay.
pub const WARN_UNKNOWN_LIST_CODE: &str = "CORE-WARN-UNKNOWN-LIST-CODE";
/// The request asked to use the personal account but the policy does not allow it here.
pub const WARN_ACCOUNT_NOT_USABLE: &str = "CORE-WARN-ACCOUNT-NOT-USABLE";
/// Every warning code, for the documentation test.
pub const WARNING_CODES: &[&str] = &[WARN_UNKNOWN_LIST_CODE, WARN_ACCOUNT_NOT_USABLE];
