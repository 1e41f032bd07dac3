//! Command-line definitions (clap). Only parsing lives here; behaviour is in `cmd`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Flashback: a peer-to-peer marketplace for storage and compute, with no central server.
///
/// Providers run full nodes that gossip signed offers; consumers use light clients that verify
/// every signature, make signed agreements and attest to the quality they receive.
#[derive(Debug, Parser)]
#[command(
    name = "flashback",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create and inspect ed25519 keys (account keys; a node's peer id is derived from its key).
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Generate a new secret key and write it to a key file readable only by you (mode 0600).
    ///
    /// Prints the public key (your account id) and the libp2p peer id a node with this key has.
    Generate(GenerateArgs),
    /// Print the public key and peer id of a key file.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// Where to write the key file. Refuses to overwrite an existing file unless --force.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Replace an existing file at --out (the old key is lost).
    #[arg(long)]
    pub(crate) force: bool,
    /// Print JSON ({"public_key", "peer_id", "path"}) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The key file to read.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// Print JSON ({"public_key", "peer_id", "path"}) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}
