//! Command-line definitions of the certificate, trust, register and compliance commands.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::NodeAddr;

#[derive(Debug, Subcommand)]
pub(crate) enum CertCommand {
    /// Sign a certificate about a key with your certifier key and publish it through a node.
    ///
    /// Nodes that trust your key for the claims (`flashback trust add`) count it: listing
    /// badges, registers, the --certified filter and recommendations.
    Issue(CertIssueArgs),
    /// Revoke one of your certificates (a signed revocation, spread like every object).
    Revoke(CertRevokeArgs),
    /// List certificates the node holds, each with its status under the node's trust store.
    List(CertListArgs),
    /// Show one certificate: its claims, evidence, dates and status (and why).
    Show(CertShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CertIssueArgs {
    /// Your certifier key file.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// The key certified (64 hex).
    #[arg(long, value_name = "KEY")]
    pub(crate) subject: String,
    /// A claim, name=value (repeatable), e.g. iso27001=certified, region=eu-west, tier=2.
    #[arg(long = "claim", value_name = "NAME=VALUE", required = true)]
    pub(crate) claims: Vec<String>,
    /// How long it is valid, e.g. 365d (at most 1830d).
    #[arg(long, value_name = "DURATION", default_value = "365d")]
    pub(crate) expires: String,
    /// The evidence behind the claims: a file (its blake3 is signed) or a blake3 (64 hex).
    #[arg(long, value_name = "FILE|BLAKE3")]
    pub(crate) evidence: Option<String>,
    /// Your serial number for it (default: the issuing time).
    #[arg(long, value_name = "N")]
    pub(crate) serial: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CertRevokeArgs {
    /// The certificate's id (64 hex).
    #[arg(value_name = "ID")]
    pub(crate) id: String,
    /// The key file of the certificate's issuer.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// Why (shown with the certificate's status).
    #[arg(long, value_name = "TEXT")]
    pub(crate) reason: String,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CertListArgs {
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Only certificates about this key.
    #[arg(long, value_name = "KEY")]
    pub(crate) subject: Option<String>,
    /// Only certificates by this issuer: a key, or a name in the node's trust store.
    #[arg(long, value_name = "KEY|NAME")]
    pub(crate) issuer: Option<String>,
    /// Only certificates stating this claim (name or name=value).
    #[arg(long, value_name = "CLAIM")]
    pub(crate) claim: Option<String>,
    /// Only certificates from issuers in the node's trust store.
    #[arg(long)]
    pub(crate) trusted: bool,
    /// Most certificates shown.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub(crate) limit: usize,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CertShowArgs {
    /// The certificate's id (64 hex).
    #[arg(value_name = "ID")]
    pub(crate) id: String,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TrustCommand {
    /// Trust an issuer key under a name, in roles, for claims (schemes).
    ///
    /// A certifier's certificates count for the claims of its schemes (--scheme iso27001,
    /// --scheme region, or * for any claim); an auditor's `auditor` certificates make their
    /// subject's attestations count for reputation; an arbiter may rule on disputes. A running
    /// node reads the change within `trust.reload_ms` (a second by default).
    Add(TrustAddArgs),
    /// Stop trusting the issuer of this name.
    Remove(TrustRemoveArgs),
    /// Set how many trusted issuers a claim needs: any (the default), all, or a number.
    Require(TrustRequireArgs),
    /// Show the trust store (the file's, or a running node's with --node).
    List(TrustListArgs),
}

/// Which trust file a `trust` command edits.
#[derive(Debug, Args, Clone)]
pub(crate) struct TrustFileArgs {
    /// The node's data dir: the file is <DIR>/trust.toml. Default: the default data dir.
    #[arg(long, value_name = "DIR", env = "FLASHBACK_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// The trust file itself (when the node's `trust.file` puts it elsewhere).
    #[arg(long, value_name = "FILE", conflicts_with = "data_dir")]
    pub(crate) file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct TrustAddArgs {
    #[command(flatten)]
    pub(crate) file: TrustFileArgs,
    /// Your name for the issuer (1-64 of A-Za-z0-9._-), used by `register --issuer`.
    #[arg(long, value_name = "NAME")]
    pub(crate) name: String,
    /// The issuer's public key (64 hex).
    #[arg(long, value_name = "KEY")]
    pub(crate) key: String,
    /// A role (repeatable): certifier, auditor, arbiter.
    #[arg(long = "role", value_name = "ROLE", required = true)]
    pub(crate) roles: Vec<String>,
    /// A claim a certifier may certify (repeatable), e.g. iso27001, region; * for any.
    #[arg(long = "scheme", value_name = "CLAIM")]
    pub(crate) schemes: Vec<String>,
    /// Replace an issuer with the same name or key.
    #[arg(long)]
    pub(crate) replace: bool,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TrustRemoveArgs {
    #[command(flatten)]
    pub(crate) file: TrustFileArgs,
    /// The issuer's name.
    #[arg(value_name = "NAME")]
    pub(crate) name: String,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TrustRequireArgs {
    #[command(flatten)]
    pub(crate) file: TrustFileArgs,
    /// The claim name, e.g. iso27001.
    #[arg(value_name = "CLAIM")]
    pub(crate) scheme: String,
    /// any, all, or the number of distinct trusted issuers that must state the claim.
    #[arg(value_name = "any|all|N")]
    pub(crate) requirement: String,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TrustListArgs {
    #[command(flatten)]
    pub(crate) file: TrustFileArgs,
    /// Show this running node's trust store instead (multiaddr ending in /p2p/<peer id>): the
    /// file as it last read it, plus deprecated store settings.
    #[arg(long, value_name = "MADDR")]
    pub(crate) node: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RegisterCommand {
    /// Certified providers (keys with a live offer), each with its certificates.
    Providers(RegisterArgs),
    /// Certified consumers (keys that are the consumer of an agreement the node holds).
    Consumers(RegisterArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Only keys holding this claim: a name (iso27001) or name=value (region=eu-west).
    #[arg(long, value_name = "CLAIM")]
    pub(crate) claim: Option<String>,
    /// Only keys certified by the issuer of this name in the node's trust store.
    #[arg(long, value_name = "NAME")]
    pub(crate) issuer: Option<String>,
    /// Also keys whose certificates from trusted issuers all fail (expired, revoked, outside
    /// the issuer's scheme), with their statuses.
    #[arg(long)]
    pub(crate) all: bool,
    /// Most keys shown.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub(crate) limit: usize,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ComplianceCommand {
    /// Fetch every compliance document a provider's live offers declare and check its blake3
    /// against the signed digest; show the declared jurisdictions and the verified ones
    /// (jurisdiction and region claims from trusted issuers). Exits non-zero, naming the
    /// documents, when one differs or cannot be fetched.
    Verify(ComplianceVerifyArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ComplianceVerifyArgs {
    /// The provider's public key (64 hex).
    #[arg(value_name = "KEY")]
    pub(crate) provider: String,
    #[command(flatten)]
    pub(crate) node: NodeAddr,
    /// Largest document fetched, e.g. "16 MiB".
    #[arg(long, value_name = "SIZE", default_value = "16 MiB")]
    pub(crate) max_size: String,
    /// Longest wait for each document.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub(crate) timeout: String,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}
