//! medsettle-core
