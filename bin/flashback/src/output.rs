//! The CLI's output layer: the only place that writes to stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use serde::Serialize;

/// Prints a line of human output.
pub(crate) fn line(text: impl std::fmt::Display) {
    println!("{text}");
}

/// Prints a value as pretty JSON.
pub(crate) fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints an error as one line: the error and its causes, joined.
pub(crate) fn error(err: &anyhow::Error) {
    let mut text = format!("error: {err}");
    for cause in err.chain().skip(1) {
        text.push_str(&format!(": {cause}"));
    }
    eprintln!("{}", text.replace('\n', " "));
}

/// Prints a warning line on stderr.
pub(crate) fn warn(text: impl std::fmt::Display) {
    eprintln!("warning: {text}");
}

/// Prints a progress line on stderr (long-running commands such as `testnet up`).
pub(crate) fn progress(text: impl std::fmt::Display) {
    eprintln!("{text}");
}
