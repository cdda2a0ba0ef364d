//! medsettle-bank
