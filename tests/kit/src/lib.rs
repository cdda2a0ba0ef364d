//! medsettle-testkit: test doubles for the far side of medsettle's boundaries, shared by the
//! crates' tests and the end-to-end tests (one place, no `#[path]` includes).

pub mod peer_proxy;
pub mod upstream_double;
