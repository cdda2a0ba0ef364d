//! Exit codes: 0 success, 2 bad input (the caller's file, argument or message), 1 anything else.

use std::fmt;

pub use medsettle_ops::BadInput;
pub use medsettle_ops::settle::parse_date;

/// Print one line to standard output. A closed pipe (`medsettle calendar pay-date D | head -1`)
/// is not a failure of the command: it surfaces as an `io::Error` that `main` treats as success.
pub fn say(line: impl fmt::Display) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{line}")
}

/// Print text as it is (it ends with its own newline).
pub fn print(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::io::stdout().lock().write_all(text.as_bytes())
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

/// Print what an operator action printed, standard output and standard error.
pub fn print_outcome(o: &medsettle_ops::Outcome) -> std::io::Result<()> {
    print(&o.stdout)?;
    eprint!("{}", o.stderr);
    Ok(())
}

/// Perform an operator action under `op_id` (or a fresh one) and print what it printed.
pub fn perform(
    config: &medsettle_ops::Config,
    action: &medsettle_ops::Action,
    op_id: Option<String>,
) -> anyhow::Result<()> {
    let op_id = op_id.unwrap_or_else(|| medsettle_ops::actions::new_op_id(action));
    let done = medsettle_ops::perform_as(config, &op_id, action)?;
    print_outcome(&done.outcome)?;
    Ok(())
}
