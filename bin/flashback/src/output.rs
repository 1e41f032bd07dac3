//! The CLI's output layer: the only place that writes to stdout and stderr.
//!
//! Errors: one line on stderr (`error: …`), or, when the command line has `--json`, one JSON
//! object on **stdout**, `{"error": {"code": "...", "message": "..."}}`, with the stable
//! [`ErrorCode`] of the failure, so that a script reads one stream whether the command worked
//! or not. The exit status is non-zero either way: 2 for a command line the parser refuses,
//! 3 when there was too little data to answer (`too_little_data`), 1 for anything else.
#![allow(clippy::print_stderr)]

use flashback_client::ClientError;
use flashback_types::trust::TrustError;
use flashback_types::{ErrorCode, KeyError};
use serde::Serialize;
use serde_json::json;

/// Writes a line on stdout. A reader that went away (`flashback … | head`) is not an error of
/// ours: the rest of the output is dropped.
fn out(text: impl std::fmt::Display) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// Prints a line of human output.
pub(crate) fn line(text: impl std::fmt::Display) {
    out(text);
}

/// Prints a value as pretty JSON.
pub(crate) fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    out(serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Whether the command line asks for JSON (`--json` before any `--`), read before parsing so
/// that even a command line the parser refuses gets a JSON error.
pub(crate) fn wants_json(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    args.skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// An error with its code, for failures that are not a library's error.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct CodedError {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

/// The stable code of an error: the first error in its chain that knows its code; a plain
/// error of the command line is invalid input.
pub(crate) fn code_of(err: &anyhow::Error) -> ErrorCode {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<ClientError>() {
            return e.code();
        }
        if let Some(e) = cause.downcast_ref::<CodedError>() {
            return e.code;
        }
        if cause.downcast_ref::<KeyError>().is_some() {
            return ErrorCode::InvalidInput;
        }
        if let Some(e) = cause.downcast_ref::<TrustError>() {
            return match e {
                TrustError::UnknownIssuer(_) => ErrorCode::NotFound,
                _ => ErrorCode::InvalidInput,
            };
        }
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return ErrorCode::Io;
        }
    }
    ErrorCode::InvalidInput
}

/// The exit status of a failed command: 3 when there was too little data to answer (the
/// pricing advisor's refusal, which a script may want to tell from a failure), 4 when no
/// provider quoted a demand in time, 5 when a deal ended short of its replicas, 1 otherwise.
pub(crate) fn exit_status(err: &anyhow::Error) -> std::process::ExitCode {
    match code_of(err) {
        ErrorCode::TooLittleData => std::process::ExitCode::from(3),
        ErrorCode::NoQuotes => std::process::ExitCode::from(4),
        ErrorCode::DealShort => std::process::ExitCode::from(5),
        _ => std::process::ExitCode::FAILURE,
    }
}

/// The error and its causes on one line.
fn one_line(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        text.push_str(&format!(": {cause}"));
    }
    text.replace('\n', " ")
}

/// Prints an error: one line on stderr, or the JSON error object on stdout.
pub(crate) fn error(err: &anyhow::Error, as_json: bool) {
    if !as_json {
        eprintln!("error: {}", one_line(err));
        return;
    }
    let mut body = json!({
        "code": code_of(err),
        "message": one_line(err),
    });
    if let Some(ClientError::Ambiguous { matches, .. }) =
        err.chain().find_map(|c| c.downcast_ref::<ClientError>())
    {
        body["matches"] = json!(matches);
    }
    out(json!({ "error": body }));
}

/// A command line the parser refused: help and version are printed as usual (exit 0); an
/// error goes out as [`error`] would, with exit status 2.
pub(crate) fn usage(err: clap::Error, as_json: bool) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    let printed_as_usual = !as_json
        || matches!(
            err.kind(),
            ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );
    if printed_as_usual {
        let _ = err.print();
        return std::process::ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
    }
    let message = err.render().to_string();
    let first = message
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid command line")
        .trim_start_matches("error: ");
    out(json!({ "error": { "code": ErrorCode::InvalidInput, "message": first } }));
    std::process::ExitCode::from(2)
}

/// Prints a warning line on stderr.
pub(crate) fn warn(text: impl std::fmt::Display) {
    eprintln!("warning: {text}");
}

/// Prints a progress line on stderr (long-running commands such as `testnet up`).
pub(crate) fn progress(text: impl std::fmt::Display) {
    eprintln!("{text}");
}
