//! Command-line definitions of the gateway API commands.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub(crate) enum ApiCommand {
    /// Give the node an account key to sign with over the HTTP API (`POST /api/v1/offers`,
    /// `POST /api/v1/offers/{id}/withdraw`, `POST /api/v1/proposals`): copied to
    /// <data-dir>/accounts/<name>.key (0600).
    ImportKey(ApiImportKeyArgs),
    /// Print where the node's HTTP API is served and the path of its token file.
    Info(ApiInfoArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ApiImportKeyArgs {
    /// The account's name in API requests (1 to 64 of A-Z a-z 0-9 . _ -).
    #[arg(long, value_name = "NAME")]
    pub(crate) name: String,
    /// The key file to import.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// The node's data dir. Default: the default data dir.
    #[arg(long, value_name = "DIR", env = "FLASHBACK_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Replace an account of that name.
    #[arg(long)]
    pub(crate) force: bool,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ApiInfoArgs {
    /// The node's data dir. Default: the default data dir.
    #[arg(long, value_name = "DIR", env = "FLASHBACK_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}
