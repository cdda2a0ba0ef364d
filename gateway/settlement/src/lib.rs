//! medsettle-settlement
