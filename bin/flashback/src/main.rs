//! The `flashback` command: parses the command line and hands off to the library crates.

mod cli;
mod cli_api;
mod cli_deal;
mod cli_pay;
mod cli_price;
mod cli_sla;
mod cli_trust;
mod cmd;
mod output;
mod table;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let json = output::wants_json(std::env::args_os());
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return output::usage(err, json),
    };
    match cmd::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => match err.downcast_ref::<cmd::Exit>() {
            Some(cmd::Exit(code)) => std::process::ExitCode::from(*code),
            None => {
                output::error(&err, json);
                output::exit_status(&err)
            }
        },
    }
}
