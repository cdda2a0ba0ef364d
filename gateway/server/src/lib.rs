//! medsettle-server
