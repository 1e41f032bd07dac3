//! Command implementations.

mod keys;

use crate::cli::{Cli, Command};

/// Runs one parsed command.
pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keys(cmd) => keys::run(cmd),
    }
}
