//! `flashback-s3dev`: runs the key-directory S3 server until Ctrl-C.
//!
//! ```sh
//! cargo run -p flashback-s3dev -- --root /tmp/s3/data --keys /tmp/s3/keys --listen 127.0.0.1:9000
//! ```
#![allow(clippy::print_stdout)] // the one line that tells where it listens

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let mut root = None;
    let mut keys = None;
    let mut listen: SocketAddr = "127.0.0.1:9000".parse()?;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--root" => root = Some(PathBuf::from(value()?)),
            "--keys" => keys = Some(PathBuf::from(value()?)),
            "--listen" => listen = value()?.parse().context("--listen takes host:port")?,
            _ => anyhow::bail!(
                "usage: flashback-s3dev --root <DIR> --keys <DIR> [--listen 127.0.0.1:9000]"
            ),
        }
    }
    let root = root.context("--root <DIR> is required (where buckets are kept)")?;
    let keys = keys.context("--keys <DIR> is required (where access keys are read from)")?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let server = flashback_s3dev::start(&root, &keys, listen).await?;
            println!("{}", server.url());
            tokio::signal::ctrl_c().await?;
            server.shutdown().await;
            anyhow::Ok(())
        })
}
