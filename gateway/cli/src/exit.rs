//! Exit codes: 0 success, 2 bad input (the caller's file, argument or message), 1 anything else.

use std::fmt;

use time::Date;
use time::macros::format_description;

/// An error that is the caller's fault; `main` maps it to exit code 2.
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

/// Parse `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<Date, String> {
    Date::parse(text, format_description!("[year]-[month]-[day]"))
        .map_err(|_| format!("`{text}` is not a date YYYY-MM-DD"))
}
