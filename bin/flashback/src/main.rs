//! The `flashback` command: parses the command line and hands off to the library crates.

mod cli;
mod cli_trust;
mod cmd;
mod human;
mod output;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            output::error(&err);
            std::process::ExitCode::FAILURE
        }
    }
}
