//! A real S3-compatible server for Flashback's tests and examples: the S3 protocol of `s3s`
//! (SigV4 signatures, presigned URLs and `Range` reads checked as S3 does), objects kept as
//! files by `s3s-fs`, and access keys read from a **key directory**, one file per key:
//!
//! ```text
//! <keys>/<ACCESS_KEY>.json   {"secret": "<secret access key>", "bucket": "<the one bucket it opens>"}
//! ```
//!
//! A provider's access hook creates such a file to give a consumer a key to one bucket, and
//! deletes it to revoke the key: the server reads the directory on every request, so both take
//! effect at once. A key opens its own bucket only; listing buckets and anonymous requests are
//! refused. `docs/examples/provisioners/s3-keydir.py` is such a hook.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let dir = std::path::Path::new("/tmp/s3dev");
//! let server = flashback_s3dev::start(&dir.join("data"), &dir.join("keys"), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("S3 endpoint: {}", server.url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::service::S3ServiceBuilder;
use s3s::{S3Result, s3_error};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// One access key's file.
#[derive(Deserialize)]
struct KeyFile {
    secret: String,
    bucket: String,
}

/// The key directory: S3 authentication and per-bucket authorisation.
#[derive(Clone)]
struct KeyDir {
    dir: PathBuf,
}

impl KeyDir {
    /// The key's file, read now (so a deleted file is a revoked key at once).
    async fn read(&self, access_key: &str) -> Option<KeyFile> {
        // An access key names a file: letters and digits only, so no path can escape the dir.
        if access_key.is_empty()
            || access_key.len() > 128
            || !access_key.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return None;
        }
        let path = self.dir.join(format!("{access_key}.json"));
        let text = tokio::fs::read(&path).await.ok()?;
        serde_json::from_slice(&text).ok()
    }
}

#[async_trait::async_trait]
impl S3Auth for KeyDir {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.read(access_key).await {
            Some(key) => Ok(SecretKey::from(key.secret)),
            None => Err(s3_error!(InvalidAccessKeyId, "no such access key")),
        }
    }
}

#[async_trait::async_trait]
impl S3Access for KeyDir {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "a signed request is required"));
        };
        let Some(key) = self.read(&credentials.access_key).await else {
            return Err(s3_error!(InvalidAccessKeyId, "no such access key"));
        };
        match cx.s3_path() {
            S3Path::Bucket { bucket } | S3Path::Object { bucket, .. }
                if bucket.as_ref() == key.bucket =>
            {
                Ok(())
            }
            _ => Err(s3_error!(AccessDenied, "this key opens another bucket")),
        }
    }
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its endpoint URL, `http://<addr>` (path-style buckets).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, and waits for the server task.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Starts a server on `listen` keeping buckets (directories) under `root` and reading access
/// keys from `keys`; both directories are created.
pub async fn start(root: &Path, keys: &Path, listen: SocketAddr) -> std::io::Result<Server> {
    std::fs::create_dir_all(root)?;
    std::fs::create_dir_all(keys)?;
    let fs = s3s_fs::FileSystem::new(root).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    let key_dir = KeyDir {
        dir: keys.to_path_buf(),
    };
    let service = {
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(key_dir.clone());
        builder.set_access(key_dir);
        builder.build()
    };
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    let task = tokio::spawn(async move {
        let http = ConnBuilder::new(TokioExecutor::new());
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        loop {
            let socket = tokio::select! {
                biased;
                () = stopped.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((socket, _)) => socket,
                    Err(e) => {
                        tracing::warn!(error = %e, "s3dev: accept failed");
                        continue;
                    }
                },
            };
            let conn = http.serve_connection(TokioIo::new(socket), service.clone());
            let conn = graceful.watch(conn.into_owned());
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
        // Connections in flight get a moment to finish; the process (or test) is ending.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
    });
    Ok(Server { addr, stop, task })
}
