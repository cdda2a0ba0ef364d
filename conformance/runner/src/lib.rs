//! medsettle-conformance
