//! medsettle-store
