//! The consumer's side of a provider's data plane, with the credentials of an access grant:
//! store, read (whole or a range), list and delete objects. The prober measures through it
//! and `flashback data put|get|ls|rm` are built on it. Files stream in bounded memory.
//!
//! | protocol | requests |
//! |---|---|
//! | `s3` | S3 object API, path-style (`<endpoint>/<bucket>/<key>`), each request a SigV4 presigned URL (`rusty-s3`, no payload signing), sent with [`crate::http`] |
//! | `flashback_blob` | the reference blob endpoint, `<endpoint>/blobs/<blake3 hex>` with `Authorization: Bearer <token>`; objects are named by their blake3 |
//! | `https` | `PUT`/`GET` (with `Range`)/`DELETE` of `<endpoint>/<name>` with `Authorization: Bearer <token>` (no listing) |
//!
//! Any other protocol is refused by [`Plane::open`] with an error that names it.

mod s3;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flashback_types::DataProtocol;
use flashback_types::seal::{AccessCredentials, Secret};
use serde::Deserialize;

use crate::ClientError;
use crate::http::{HttpClient, Method, StatusCode};

/// Largest error answer read (an S3 error document, a short text).
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Chunks read from a file while uploading.
const CHUNK: usize = 256 * 1024;
/// Largest single S3 PUT (S3's own limit).
pub const MAX_S3_PUT: u64 = 5 << 30;

/// Called with the number of bytes moved, as they move.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// One object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its name (key).
    pub name: String,
    /// Its size, bytes.
    pub size: u64,
}

/// A data plane opened with an agreement's credentials.
pub struct Plane {
    kind: Kind,
    http: HttpClient,
}

enum Kind {
    Bearer {
        /// Objects are `<base>/<name>`.
        base: String,
        token: Secret,
        /// Names are the blake3 of the content (the blob endpoint).
        content_addressed: bool,
        protocol: DataProtocol,
    },
    S3(s3::S3),
}

impl std::fmt::Debug for Plane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Plane({})", self.protocol().name())
    }
}

/// Checks that `endpoint` is an `http://` or `https://` URL and returns it without a trailing
/// slash.
fn base_url(endpoint: &str) -> Result<String, ClientError> {
    let refuse = |why: &str| {
        Err(ClientError::InvalidInput(format!(
            "data-plane endpoint {endpoint:?} {why}"
        )))
    };
    let Ok(uri) = endpoint.parse::<hyper::Uri>() else {
        return refuse("is not a URL");
    };
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") => {}
        Some(s) if s.eq_ignore_ascii_case("https") => {
            return refuse("uses https, which this client does not speak yet (plain http only)");
        }
        _ => return refuse("is not an http:// URL"),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return refuse("has no host");
    }
    if uri.query().is_some() {
        return refuse("has a query string");
    }
    Ok(endpoint.trim_end_matches('/').to_owned())
}

fn status_error(url_or_what: &str, status: StatusCode, body: &[u8]) -> ClientError {
    let text = String::from_utf8_lossy(body);
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text: String = text.chars().take(300).collect();
    ClientError::Http {
        url: url_or_what.to_owned(),
        detail: format!("answered {status}: {text}"),
    }
}

impl Plane {
    /// Opens the data plane `credentials` give access to; every request waits at most
    /// `timeout` for a byte. Refuses a protocol this client cannot speak, naming it.
    pub fn open(credentials: &AccessCredentials, timeout: Duration) -> Result<Self, ClientError> {
        let http = HttpClient::new(timeout);
        let base = base_url(credentials.endpoint.as_str())?;
        let kind = match &credentials.protocol {
            DataProtocol::FlashbackBlob => Kind::Bearer {
                base: format!("{base}/blobs"),
                token: credentials.secret.clone(),
                content_addressed: true,
                protocol: DataProtocol::FlashbackBlob,
            },
            DataProtocol::Https => Kind::Bearer {
                base,
                token: credentials.secret.clone(),
                content_addressed: false,
                protocol: DataProtocol::Https,
            },
            DataProtocol::S3 => Kind::S3(s3::S3::new(&base, credentials)?),
            other => {
                return Err(ClientError::InvalidInput(format!(
                    "this client cannot speak the {} data protocol (it speaks s3, https and \
                     flashback_blob)",
                    other.name()
                )));
            }
        };
        Ok(Self { kind, http })
    }

    /// The protocol spoken.
    pub fn protocol(&self) -> DataProtocol {
        match &self.kind {
            Kind::Bearer { protocol, .. } => protocol.clone(),
            Kind::S3(_) => DataProtocol::S3,
        }
    }

    /// Whether objects are named by the blake3 of their content (then a name given to
    /// [`Plane::put_file`] must be that).
    pub fn content_addressed(&self) -> bool {
        matches!(
            self.kind,
            Kind::Bearer {
                content_addressed: true,
                ..
            }
        )
    }

    /// The URL and headers of one request (an S3 URL is presigned for an hour).
    fn request(&self, method: &Method, name: &str) -> Result<Prepared, ClientError> {
        check_name(name)?;
        Ok(match &self.kind {
            Kind::Bearer { base, token, .. } => Prepared {
                url: format!("{base}/{}", encode_path(name)),
                headers: vec![("authorization".into(), format!("Bearer {}", token.expose()))],
            },
            Kind::S3(s3) => Prepared {
                url: s3.presign(method, name),
                headers: Vec::new(),
            },
        })
    }

    /// One request with a body held in memory: the status and at most `limit` bytes of the
    /// answer; errors name the URL without its signature.
    async fn call(
        &self,
        method: Method,
        name: &str,
        extra: Option<(&str, String)>,
        body: Bytes,
        limit: usize,
    ) -> Result<(StatusCode, Bytes, Prepared), ClientError> {
        let mut prepared = self.request(&method, name)?;
        if let Some((header, value)) = extra {
            prepared.headers.push((header.to_owned(), value));
        }
        let (status, answer) = self
            .http
            .send(method, &prepared.url, &prepared.pairs(), body, limit)
            .await
            .map_err(|e| redact_error(e, &prepared.url))?;
        Ok((status, answer, prepared))
    }

    /// Stores `data` as `name`.
    pub async fn put_bytes(&self, name: &str, data: Bytes) -> Result<(), ClientError> {
        let (status, body, prepared) = self
            .call(Method::PUT, name, None, data, MAX_ERROR_BODY)
            .await?;
        if !status.is_success() {
            return Err(status_error(&redact(&prepared.url), status, &body));
        }
        Ok(())
    }

    /// Bytes `first..=last` of `name`: the status and the body (200 with the whole object
    /// from servers that ignore ranges). At most `limit` bytes are read.
    pub async fn get_range(
        &self,
        name: &str,
        first: u64,
        last: u64,
        limit: usize,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let range = Some(("range", format!("bytes={first}-{last}")));
        let (status, body, _) = self
            .call(Method::GET, name, range, Bytes::new(), limit)
            .await?;
        Ok((status, body))
    }

    /// Deletes `name`; deleting what is not there is not an error.
    pub async fn delete(&self, name: &str) -> Result<(), ClientError> {
        let (status, body, prepared) = self
            .call(Method::DELETE, name, None, Bytes::new(), MAX_ERROR_BODY)
            .await?;
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(status_error(&redact(&prepared.url), status, &body))
    }

    /// Every object the credentials reach, by name.
    pub async fn list(&self) -> Result<Vec<ObjectInfo>, ClientError> {
        match &self.kind {
            Kind::S3(s3) => s3.list(&self.http).await,
            Kind::Bearer {
                base,
                token,
                content_addressed: true,
                ..
            } => {
                #[derive(Deserialize)]
                struct Listing {
                    objects: Vec<Listed>,
                }
                #[derive(Deserialize)]
                struct Listed {
                    name: String,
                    size: u64,
                }
                let auth = format!("Bearer {}", token.expose());
                let (status, body) = self
                    .http
                    .send(
                        Method::GET,
                        base,
                        &[("authorization", &auth)],
                        Bytes::new(),
                        16 << 20,
                    )
                    .await?;
                if !status.is_success() {
                    return Err(status_error(base, status, &body));
                }
                let listing: Listing =
                    serde_json::from_slice(&body).map_err(|e| ClientError::Http {
                        url: base.clone(),
                        detail: format!("not a blob listing: {e}"),
                    })?;
                Ok(listing
                    .objects
                    .into_iter()
                    .map(|o| ObjectInfo {
                        name: o.name,
                        size: o.size,
                    })
                    .collect())
            }
            Kind::Bearer { .. } => Err(ClientError::InvalidInput(
                "an https data plane has no listing: keep the names you store".into(),
            )),
        }
    }

    /// Stores the file at `path` as `name`, streaming (bounded memory). On a content-addressed
    /// plane `name` is `None` and the blake3 of the file is used (and returned).
    pub async fn put_file(
        &self,
        path: &Path,
        name: Option<&str>,
        progress: Progress,
    ) -> Result<String, ClientError> {
        let io = |e: std::io::Error| {
            ClientError::InvalidInput(format!("cannot read {}: {e}", path.display()))
        };
        let len = tokio::fs::metadata(path).await.map_err(io)?.len();
        let name = match (name, self.content_addressed()) {
            (Some(name), false) => name.to_owned(),
            (None, false) => {
                return Err(ClientError::InvalidInput(
                    "name the object (--name): this data plane does not name objects itself".into(),
                ));
            }
            (given, true) => {
                let hash = blake3_of_file(path).await.map_err(io)?;
                if let Some(given) = given
                    && given != hash
                {
                    return Err(ClientError::InvalidInput(format!(
                        "this data plane names objects by their blake3 ({hash}), not {given:?}"
                    )));
                }
                hash
            }
        };
        if matches!(self.kind, Kind::S3(_)) && len > MAX_S3_PUT {
            return Err(ClientError::InvalidInput(format!(
                "{} is larger than 5 GiB, the most one S3 upload takes; split it",
                path.display()
            )));
        }
        let prepared = self.request(&Method::PUT, &name)?;
        let url = &prepared.url;
        let file = tokio::fs::File::open(path).await.map_err(io)?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file, CHUNK);
        let (status, body) = self
            .http
            .upload(Method::PUT, url, &prepared.pairs(), stream, len, move |n| {
                progress(n)
            })
            .await
            .map_err(|e| redact_error(e, url))?;
        if !status.is_success() {
            return Err(status_error(&redact(url), status, &body));
        }
        Ok(name)
    }

    /// Reads object `name` into the file at `dest`, streaming: written to a temp file beside
    /// it and renamed into place once complete (checked against the name on a
    /// content-addressed plane). Returns the bytes written.
    pub async fn get_file(
        &self,
        name: &str,
        dest: &Path,
        progress: Progress,
    ) -> Result<u64, ClientError> {
        use std::io::Write;
        let prepared = self.request(&Method::GET, name)?;
        let url = &prepared.url;
        let io = |e: std::io::Error| {
            ClientError::InvalidInput(format!("cannot write {}: {e}", dest.display()))
        };
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let part = dir.join(format!(
            ".{}.part-{:016x}",
            dest.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("download"),
            rand::random::<u64>()
        ));
        let mut file = std::fs::File::create(&part).map_err(io)?;
        let mut hasher = blake3::Hasher::new();
        let mut written = 0u64;
        let fetched = self
            .http
            .download(
                Method::GET,
                url,
                &prepared.pairs(),
                MAX_ERROR_BODY,
                |chunk| {
                    hasher.update(&chunk);
                    file.write_all(&chunk).map_err(io)?;
                    written += chunk.len() as u64;
                    progress(chunk.len() as u64);
                    Ok(())
                },
            )
            .await
            .map_err(|e| redact_error(e, url));
        let finish = (|| {
            let (status, body) = fetched?;
            if !status.is_success() {
                return Err(status_error(&redact(url), status, &body));
            }
            if self.content_addressed() && hasher.finalize().to_hex().as_str() != name {
                return Err(ClientError::Http {
                    url: redact(url),
                    detail: "the bytes received do not hash to the object's name".into(),
                });
            }
            file.sync_all().map_err(io)?;
            std::fs::rename(&part, dest).map_err(io)
        })();
        if finish.is_err() {
            let _ = std::fs::remove_file(&part);
        }
        finish.map(|()| written)
    }
}

/// A request ready to send: its URL and headers.
struct Prepared {
    url: String,
    headers: Vec<(String, String)>,
}

impl Prepared {
    fn pairs(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// blake3 of a file, read in chunks.
async fn blake3_of_file(path: &Path) -> std::io::Result<String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(std::fs::File::open(path)?)?;
        Ok(hasher.finalize().to_hex().to_string())
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Object names: 1 to 1024 bytes, no control characters, no `..` segment.
fn check_name(name: &str) -> Result<(), ClientError> {
    if name.is_empty()
        || name.len() > 1024
        || name.chars().any(char::is_control)
        || name.split('/').any(|s| s == ".." || s == ".")
    {
        return Err(ClientError::InvalidInput(format!(
            "{name:?} is not an object name: 1 to 1024 bytes, no control characters, no . or .. \
             segments"
        )));
    }
    Ok(())
}

/// Percent-encodes a name for a URL path, keeping `/`.
fn encode_path(name: &str) -> String {
    const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(name, PATH).to_string()
}

/// A URL fit for an error message: without its query (a presigned URL's signature).
fn redact(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}

fn redact_error(e: ClientError, url: &str) -> ClientError {
    match e {
        ClientError::Http { detail, .. } => ClientError::Http {
            url: redact(url),
            detail,
        },
        other => other,
    }
}
