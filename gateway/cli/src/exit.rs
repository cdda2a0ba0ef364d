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

/// Print one line to standard output. A closed pipe (`medsettle calendar pay-date D | head -1`)
/// is not a failure of the command: it surfaces as an `io::Error` that `main` treats as success.
pub fn say(line: impl fmt::Display) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{line}")
}

/// Whether an error is only the reader having closed our standard output.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(BrokenPipe))
    })
}
