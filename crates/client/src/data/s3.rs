//! S3 through presigned URLs: `rusty-s3` signs each request (SigV4, query-string
//! authentication, payload unsigned), [`crate::http`] sends it. Path-style bucket URLs, so any
//! S3-compatible server on any host name works.

use std::time::Duration;

use bytes::Bytes;
use flashback_types::seal::AccessCredentials;
use rusty_s3::actions::{ListObjectsV2, S3Action};
use rusty_s3::{Bucket, Credentials, UrlStyle};

use super::{MAX_ERROR_BODY, ObjectInfo, status_error};
use crate::ClientError;
use crate::http::{HttpClient, Method};

/// How long a presigned URL is valid: longer than any one request of ours.
const PRESIGN: Duration = Duration::from_secs(3600);
/// Largest listing page read.
const MAX_LIST_PAGE: usize = 8 << 20;
/// Most pages of a listing followed (1000 keys each).
const MAX_LIST_PAGES: usize = 1000;

/// One bucket and the keys that open it.
pub(super) struct S3 {
    bucket: Bucket,
    credentials: Credentials,
}

impl S3 {
    pub(super) fn new(base: &str, c: &AccessCredentials) -> Result<Self, ClientError> {
        let bad = |detail: String| ClientError::InvalidInput(format!("S3 access: {detail}"));
        if c.bucket.is_empty() || c.access_key.is_empty() {
            return Err(bad(
                "the grant names no bucket or no access key: the provider's hook answered \
                 incomplete S3 credentials"
                    .into(),
            ));
        }
        let endpoint: url::Url = base
            .parse()
            .map_err(|e| bad(format!("endpoint {base:?}: {e}")))?;
        let region = if c.region.is_empty() {
            "us-east-1".to_owned()
        } else {
            c.region.to_string()
        };
        let bucket = Bucket::new(endpoint, UrlStyle::Path, c.bucket.to_string(), region)
            .map_err(|e| bad(format!("bucket {:?}: {e}", c.bucket.as_str())))?;
        Ok(Self {
            bucket,
            credentials: Credentials::new(c.access_key.to_string(), c.secret.expose()),
        })
    }

    /// A presigned URL for `method` on object `name`.
    pub(super) fn presign(&self, method: &Method, name: &str) -> String {
        let creds = Some(&self.credentials);
        let url = match *method {
            Method::PUT => self.bucket.put_object(creds, name).sign(PRESIGN),
            Method::DELETE => self.bucket.delete_object(creds, name).sign(PRESIGN),
            _ => self.bucket.get_object(creds, name).sign(PRESIGN),
        };
        url.to_string()
    }

    /// Every object of the bucket (ListObjectsV2, page by page).
    pub(super) async fn list(&self, http: &HttpClient) -> Result<Vec<ObjectInfo>, ClientError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let mut action = self.bucket.list_objects_v2(Some(&self.credentials));
            if let Some(t) = &token {
                action.with_continuation_token(t.clone());
            }
            let url = action.sign(PRESIGN).to_string();
            let shown = self.bucket.base_url().to_string();
            let (status, body) = http
                .send(Method::GET, &url, &[], Bytes::new(), MAX_LIST_PAGE)
                .await
                .map_err(|e| super::redact_error(e, &url))?;
            if !status.is_success() {
                return Err(status_error(
                    &shown,
                    status,
                    &body.slice(..body.len().min(MAX_ERROR_BODY)),
                ));
            }
            let text = String::from_utf8_lossy(&body);
            let page = ListObjectsV2::parse_response(&text).map_err(|e| ClientError::Http {
                url: shown.clone(),
                detail: format!("not an S3 listing: {e}"),
            })?;
            out.extend(page.contents.into_iter().map(|o| ObjectInfo {
                name: o.key,
                size: o.size.unwrap_or(0),
            }));
            match page.next_continuation_token {
                Some(next) => token = Some(next),
                None => return Ok(out),
            }
        }
        Ok(out)
    }
}
