//! Command-line definitions of the agreement commands (`sla`) and the data commands (`data`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::NodeAddr;

#[derive(Debug, Subcommand)]
pub(crate) enum SlaCommand {
    /// Sign a proposal for an offer and wait for the provider's decision.
    ///
    /// The proposal travels by gossip to the provider's node, which answers with a signed
    /// decision; no direct connection to the provider is needed. Proposal + acceptance is the
    /// agreement, stored by every node. A rejection shows its reason (e.g. capacity, price).
    /// On acceptance, also says whether the provider delivered access (`sla access`).
    ///
    /// Exit status: 0 accepted, 3 rejected, 4 no decision within --wait, 1 any other error.
    Propose(ProposeArgs),
    /// List agreements with their status (where --party is consumer or provider, or --mine
    /// with --key; all the node knows otherwise).
    ///
    /// With --mine and a provider's key, also what each of its offers has committed and what
    /// is free.
    List(SlaListArgs),
    /// An agreement's status: proposed, rejected, active, expired or terminated, and its access.
    Status(SlaIdArgs),
    /// Show the access an agreement's provider delivered, opened with your key.
    ///
    /// Prints the protocol, endpoint, bucket and access key; the secret only with
    /// --show-secret, or written to a file readable by you alone with --secret-file.
    Access(SlaAccessArgs),
    /// End an agreement now (signed, with a reason): the provider's capacity is released and
    /// your access revoked. The consumer or the provider may terminate.
    Terminate(SlaTerminateArgs),
    /// Propose the continuation of an agreement: same volume, the provider's current version
    /// of the same offer, starting when it ends. The provider keeps your data's access.
    ///
    /// Exits like `sla propose`.
    Renew(SlaRenewArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SlaIdArgs {
    /// The agreement (its proposal's id, or any unique start of it: 8+ hex).
    #[arg(value_name = "AGREEMENT")]
    pub(crate) agreement: String,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SlaAccessArgs {
    /// The agreement (its proposal's id, or any unique start of it: 8+ hex).
    #[arg(value_name = "AGREEMENT")]
    pub(crate) agreement: String,
    /// Your key file (the agreement's consumer: the grant is sealed to it).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// How long to wait for the provider's grant.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub(crate) wait: String,
    /// Print the secret too (on stdout: mind your terminal's scrollback and logs).
    #[arg(long)]
    pub(crate) show_secret: bool,
    /// Write the secret to this file, readable by you only (0600); refuses to replace one.
    #[arg(long, value_name = "FILE")]
    pub(crate) secret_file: Option<PathBuf>,
    /// Print JSON (the secret only with --show-secret).
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SlaTerminateArgs {
    /// The agreement (its proposal's id, or any unique start of it: 8+ hex).
    #[arg(value_name = "AGREEMENT")]
    pub(crate) agreement: String,
    /// Your key file (the agreement's consumer or provider).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// Why, in words (kept in the signed termination).
    #[arg(long, value_name = "TEXT")]
    pub(crate) reason: String,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SlaRenewArgs {
    /// The agreement to continue (its proposal's id, or any unique start of it: 8+ hex).
    #[arg(value_name = "AGREEMENT")]
    pub(crate) agreement: String,
    /// Your key file (the agreement's consumer).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// Duration of the continuation (default: the agreement's).
    #[arg(long, value_name = "DURATION")]
    pub(crate) duration: Option<String>,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// How long to wait for the decision.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub(crate) wait: String,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DataCommand {
    /// Upload a file (named --name; on flashback_blob, by its blake3, which is printed).
    Put(DataPutArgs),
    /// Download an object to a file (written whole or not at all).
    Get(DataGetArgs),
    /// List your objects.
    Ls(DataArgs),
    /// Delete an object.
    Rm(DataRmArgs),
}

/// What every data command needs: the agreement, your key, the node.
#[derive(Debug, Args)]
pub(crate) struct DataArgs {
    /// The agreement whose access to use (its proposal's id, or any unique start of it: 8+ hex).
    #[arg(long, value_name = "ID")]
    pub(crate) agreement: String,
    /// Your key file (the agreement's consumer).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Give up on a transfer when no byte moves for this long.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub(crate) timeout: String,
    /// Print JSON (and no progress bar).
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DataPutArgs {
    /// The file to upload.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// The object's name (default: the file's name). On flashback_blob objects are named by
    /// their blake3: leave it out (a name that is not the file's blake3 is refused).
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    #[command(flatten)]
    pub(crate) data: DataArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DataGetArgs {
    /// The object's name.
    #[arg(value_name = "NAME")]
    pub(crate) name: String,
    /// Where to write it (default: its name's last part, in the current directory).
    #[arg(long, short, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Replace --out if it exists.
    #[arg(long)]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) data: DataArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DataRmArgs {
    /// The object's name.
    #[arg(value_name = "NAME")]
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) data: DataArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ProposeArgs {
    /// Your key file (the consumer's key).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// The offer: its id, or any unique start of it (at least 8 hex characters, as `listing
    /// query` prints).
    #[arg(long, value_name = "ID")]
    pub(crate) offer: String,
    /// Volume: a size for storage ("100 GiB"), a unit count for compute.
    #[arg(long, value_name = "SIZE")]
    pub(crate) volume: String,
    /// Duration of service, e.g. 30d, 1h 30m, "1 month" (30 days, as billing counts it).
    #[arg(long, value_name = "DURATION")]
    pub(crate) duration: String,
    /// How long to wait for the decision.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub(crate) wait: String,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SlaListArgs {
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Only agreements where this key is the consumer or the provider: a public key, any
    /// unique start of one (8+ hex characters), or a key file.
    #[arg(long, value_name = "KEY|FILE", conflicts_with = "mine")]
    pub(crate) party: Option<String>,
    /// Only your agreements (--key); for a provider's key, also its commitments and free
    /// capacity per offer.
    #[arg(long, requires = "key")]
    pub(crate) mine: bool,
    /// Your key file (with --mine).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}
