//! The `flashback` command: parses the command line and hands off to the library crates.

mod cli;
mod cmd;
mod human;
mod output;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => match err.downcast_ref::<cmd::Exit>() {
            Some(cmd::Exit(code)) => std::process::ExitCode::from(*code),
            None => {
                output::error(&err);
                std::process::ExitCode::FAILURE
            }
        },
    }
}
