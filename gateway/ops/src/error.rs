//! Whose fault an operator action's failure is: the operator's input (exit code 2, HTTP 400),
//! or anything else (exit code 1, HTTP 500/503).

use std::fmt;

/// An error that is the caller's fault (a file, an argument, a value); the command line exits
/// with 2 and the operator API answers 400.
#[derive(Debug)]
pub struct BadInput(pub String);

impl BadInput {
    pub fn new(msg: impl Into<String>) -> BadInput {
        BadInput(msg.into())
    }
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Whether anything in `e`'s chain is a [`BadInput`].
pub fn is_bad_input(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<BadInput>().is_some())
}
