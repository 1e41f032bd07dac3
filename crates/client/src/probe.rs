//! The QoS prober: the consumer's side of reputation. Per live agreement and per window it
//! stores a random blob at the provider's data-plane endpoint, reads random ranges of it back
//! spread over the window, checks each against blake3, and signs a [`QosAttestation`] with the
//! counts and latencies. Providers' reputations are computed from those attestations.
//!
//! The endpoint is the agreement's offer's `endpoint` (an `http://` URL of a node's reference
//! blob endpoint, protocol `flashback_blob`; see [`endpoint_of`]).
//!
//! A probe **fails** when the endpoint refuses or loses the blob, answers anything but 200/206,
//! returns bytes whose blake3 differs from the expected slice's, or does not answer within
//! `request_timeout`. A dead endpoint is not an error of the prober: it is a window with zero
//! successes, which is exactly what the attestation must say.
//!
//! ```no_run
//! # async fn run() -> Result<(), flashback_client::ClientError> {
//! use std::time::Duration;
//! use flashback_client::Client;
//! use flashback_client::probe::{ProbeConfig, probe_agreements};
//! use flashback_types::SecretKey;
//!
//! let consumer = SecretKey::generate(); // in practice: the key that signed the proposals
//! let client = Client::connect(&["/ip4/127.0.0.1/tcp/4077/p2p/12D3KooW...".to_owned()]).await?;
//! let config = ProbeConfig { window: Duration::from_secs(10), ..ProbeConfig::default() };
//! // Two windows over every live agreement of `consumer`; each attestation is signed and
//! // submitted through the node, and returned.
//! for attestation in probe_agreements(&client, &consumer, &config, 2).await? {
//!     let a = attestation.body();
//!     println!("{}: {}/{} probes ok", a.subject, a.successes, a.probes);
//! }
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flashback_types::clock::now;
use flashback_types::stats::percentile;
use flashback_types::{
    Agreement, DataProtocol, Object, ObjectId, Offer, QosAttestation, SecretKey, Signed, Timestamp,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::http::{HttpClient, Method, StatusCode};
use crate::{Client, ClientError};

/// How long an attestation counts: 30 days from its signing.
pub const ATTESTATION_LIFETIME_SECS: u64 = 30 * 24 * 3600;
/// Largest blob a probe stores.
pub const MAX_BLOB_BYTES: usize = 64 << 20;
/// Most probes in one window.
pub const MAX_PROBES_PER_WINDOW: u32 = 10_000;
/// Largest answer read to a PUT or DELETE (only the status matters).
const MAX_STATUS_BODY: usize = 64 * 1024;

/// How the prober measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Length of a measurement window (at least 1 s). Default 1 h; testnets use seconds.
    pub window: Duration,
    /// Range reads per window, spread over it at random moments (one per equal slot).
    pub probes_per_window: u32,
    /// Size of the random blob stored per window and agreement.
    pub blob_bytes: usize,
    /// Size of each range read back (at most `blob_bytes`).
    pub range_bytes: usize,
    /// Deadline of each HTTP request (connect included); later answers count as failures.
    pub request_timeout: Duration,
    /// Agreements probed at the same time.
    pub max_concurrent: usize,
    /// Seed for blob contents, ranges and timing (reproducible runs); random when unset.
    pub seed: Option<u64>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(3600),
            probes_per_window: 20,
            blob_bytes: 256 * 1024,
            range_bytes: 16 * 1024,
            request_timeout: Duration::from_secs(10),
            max_concurrent: 16,
            seed: None,
        }
    }
}

impl ProbeConfig {
    fn check(&self) -> Result<(), ClientError> {
        let bad = |what: String| Err(ClientError::InvalidInput(format!("probe config: {what}")));
        if self.window < Duration::from_secs(1) {
            return bad(format!(
                "window must be at least 1 s, got {:?}",
                self.window
            ));
        }
        if self.probes_per_window == 0 || self.probes_per_window > MAX_PROBES_PER_WINDOW {
            return bad(format!(
                "probes_per_window must be 1 to {MAX_PROBES_PER_WINDOW}, got {}",
                self.probes_per_window
            ));
        }
        if self.blob_bytes == 0 || self.blob_bytes > MAX_BLOB_BYTES {
            return bad(format!(
                "blob_bytes must be 1 to {MAX_BLOB_BYTES}, got {}",
                self.blob_bytes
            ));
        }
        if self.range_bytes == 0 {
            return bad("range_bytes must be positive".into());
        }
        if self.request_timeout.is_zero() {
            return bad("request_timeout must be positive".into());
        }
        Ok(())
    }
}

/// What one window measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowResult {
    /// Probes made.
    pub probes: u32,
    /// Probes whose bytes came back and matched.
    pub successes: u32,
    /// Median latency of successful probes, ms (0 when none succeeded).
    pub latency_p50_ms: u32,
    /// 95th-percentile latency of successful probes, ms (0 when none succeeded).
    pub latency_p95_ms: u32,
    /// Bytes checked divided by the time spent in successful reads.
    pub throughput_bytes_per_sec: u64,
    /// Bytes read back and found correct.
    pub bytes_checked: u64,
    /// Unix seconds when the window started.
    pub window_start: Timestamp,
    /// Unix seconds when it ended (after `window_start`).
    pub window_end: Timestamp,
}

/// The data-plane base URL of `offer` for the prober: its `endpoint`, which must be a plain
/// `http://` URL, on an offer that declares the `flashback_blob` protocol.
pub fn endpoint_of(offer: &Offer) -> Result<String, ClientError> {
    let base = http_base(offer.endpoint.as_str())?;
    if !offer.protocols.contains(&DataProtocol::FlashbackBlob) {
        return Err(ClientError::InvalidInput(format!(
            "offer {:?} does not declare the flashback_blob protocol: the prober only speaks \
             the reference blob API",
            offer.offer_key.as_str()
        )));
    }
    Ok(base)
}

/// Checks that `endpoint` is a plain `http://host[:port][/prefix]` URL and returns it without
/// a trailing slash.
fn http_base(endpoint: &str) -> Result<String, ClientError> {
    let refuse = |why: &str| {
        Err(ClientError::InvalidInput(format!(
            "endpoint {endpoint:?} {why}; the prober needs the plain http:// URL of a \
             flashback_blob endpoint"
        )))
    };
    let Ok(uri) = endpoint.parse::<hyper::Uri>() else {
        return refuse("is not a URL");
    };
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") => {}
        Some(s) if s.eq_ignore_ascii_case("https") => {
            return refuse("uses https, which the prober does not support yet");
        }
        Some(other) => return refuse(&format!("uses the {other:?} scheme")),
        None => return refuse("has no scheme"),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return refuse("has no host");
    }
    if uri.query().is_some() {
        return refuse("has a query string");
    }
    Ok(endpoint.trim_end_matches('/').to_owned())
}

/// Runs one window against `endpoint` (a base URL as from [`endpoint_of`]): stores one random
/// blob (addressed by its blake3), then makes `probes_per_window` range reads at random moments
/// spread over the window, each a success when the status is 206 (or 200 with the whole blob)
/// and the blake3 of the bytes equals that of the expected slice. Returns when the window is
/// over, after deleting the blob (best effort).
///
/// Errors only for a bad `config` or `endpoint`; failures of the endpoint are failed probes.
pub async fn probe_window(
    endpoint: &str,
    config: &ProbeConfig,
) -> Result<WindowResult, ClientError> {
    config.check()?;
    let base = http_base(endpoint)?;
    let mut rng = match config.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => rand::make_rng(),
    };
    let mut blob = vec![0u8; config.blob_bytes];
    rng.fill(&mut blob[..]);
    let blob = Bytes::from(blob);
    let url = format!("{base}/blobs/{}", blake3::hash(&blob).to_hex());
    let http = HttpClient::new(config.request_timeout);
    let range_len = config.range_bytes.min(blob.len());

    let window_start = now();
    let t0 = Instant::now();
    let slot = config.window / config.probes_per_window;
    let mut stored = false;
    let mut latencies = Vec::new();
    let (mut bytes_checked, mut busy) = (0u64, Duration::ZERO);
    for i in 0..config.probes_per_window {
        // One probe at a random moment of each slot: regular coverage, unpredictable timing.
        let jitter = slot.mul_f64(rng.random_range(0.0..1.0));
        tokio::time::sleep_until(t0 + slot * i + jitter).await;
        if !stored {
            // Until the endpoint holds the blob, each probe tries to store it first (a refusal
            // fails that probe).
            stored = matches!(
                http.send(Method::PUT, &url, &[], blob.clone(), MAX_STATUS_BODY)
                    .await,
                Ok((StatusCode::OK | StatusCode::CREATED, _))
            );
            if !stored {
                tracing::debug!(%url, "probe failed: the endpoint did not store the blob");
                continue;
            }
        }
        let first = rng.random_range(0..=blob.len() - range_len);
        let last = first + range_len - 1;
        let began = Instant::now();
        let range = format!("bytes={first}-{last}");
        let answer = http
            .send(
                Method::GET,
                &url,
                &[("range", &range)],
                Bytes::new(),
                blob.len(),
            )
            .await;
        let expected = match &answer {
            Ok((StatusCode::PARTIAL_CONTENT, _)) => &blob[first..=last],
            Ok((StatusCode::OK, _)) => &blob[..],
            _ => &[][..],
        };
        match answer {
            Ok((StatusCode::PARTIAL_CONTENT | StatusCode::OK, body))
                if blake3::hash(&body) == blake3::hash(expected) =>
            {
                let took = began.elapsed();
                busy += took;
                bytes_checked += body.len() as u64;
                latencies.push(u32::try_from(took.as_millis()).unwrap_or(u32::MAX));
            }
            Ok((status, _)) => tracing::debug!(%url, %status, "probe failed"),
            Err(error) => tracing::debug!(%url, %error, "probe failed"),
        }
    }
    tokio::time::sleep_until(t0 + config.window).await;
    // Whole seconds: the window must end strictly after it started. The monotonic window is
    // at least 1 s, so this waits only when the wall clock lags it (bounded: 2 s).
    let mut window_end = now();
    for _ in 0..40 {
        if window_end > window_start {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        window_end = now();
    }
    if stored
        && let Err(error) = http
            .send(Method::DELETE, &url, &[], Bytes::new(), MAX_STATUS_BODY)
            .await
    {
        tracing::debug!(%url, %error, "could not delete the probe blob");
    }

    latencies.sort_unstable();
    let throughput = u128::from(bytes_checked) * 1_000_000 / busy.as_micros().max(1);
    Ok(WindowResult {
        probes: config.probes_per_window,
        successes: u32::try_from(latencies.len()).unwrap_or(u32::MAX),
        latency_p50_ms: percentile(&latencies, 0.5).unwrap_or(0),
        latency_p95_ms: percentile(&latencies, 0.95).unwrap_or(0),
        throughput_bytes_per_sec: u64::try_from(throughput).unwrap_or(u64::MAX),
        bytes_checked,
        window_start,
        window_end,
    })
}

/// The attestation for `agreement` from a window result, signed by `consumer`, which must be
/// the agreement's consumer. `window_end` must not be after `now`; the attestation is created
/// at `now` and counts for [`ATTESTATION_LIFETIME_SECS`].
pub fn attest(
    consumer: &SecretKey,
    agreement: &Agreement,
    result: &WindowResult,
    now: Timestamp,
) -> Result<Signed<QosAttestation>, ClientError> {
    if agreement.consumer() != &consumer.public() {
        return Err(ClientError::InvalidInput(format!(
            "only the agreement's consumer {} can attest it, not {}",
            agreement.consumer().fmt_short(),
            consumer.public().fmt_short()
        )));
    }
    if result.window_end > now {
        return Err(ClientError::InvalidInput(format!(
            "the window ends at {}, after now ({now}): attest a window once it is over",
            result.window_end
        )));
    }
    let body = QosAttestation {
        attester: consumer.public(),
        subject: *agreement.provider(),
        agreement: Some(agreement.proposal_id()),
        window_start: result.window_start,
        window_end: result.window_end,
        probes: result.probes,
        successes: result.successes,
        latency_p50_ms: result.latency_p50_ms,
        latency_p95_ms: result.latency_p95_ms,
        throughput_bytes_per_sec: result.throughput_bytes_per_sec,
        bytes_checked: result.bytes_checked,
        created_at: now,
        expires_at: now.saturating_add(ATTESTATION_LIFETIME_SECS),
    };
    Signed::sign(body, consumer)
        .map_err(|e| ClientError::InvalidInput(format!("attestation is not valid: {}", e.detail)))
}

/// What [`probe_agreements_with`] reports as it goes, for a person watching a run that may
/// last hours.
#[derive(Debug, Clone)]
pub enum ProbeEvent {
    /// What will be probed, and how; sent once, before the first window.
    Plan {
        /// The agreements probed, with their endpoints.
        targets: Vec<ProbeTarget>,
        /// Windows to run.
        windows: u32,
        /// Length of each window.
        window: Duration,
        /// Reads per window and agreement.
        probes_per_window: u32,
    },
    /// A live agreement that cannot be probed, and why.
    Skipped {
        /// The agreement.
        agreement: ObjectId,
        /// Why.
        reason: String,
    },
    /// A window starts now; it is measured until `ends_at`.
    WindowStarted {
        /// Its number, from 1.
        window: u32,
        /// Windows in all.
        of: u32,
        /// When it ends (Unix seconds).
        ends_at: Timestamp,
    },
    /// An attestation was signed and accepted by the node.
    Attested(Box<Signed<QosAttestation>>),
}

/// One agreement the prober measures.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    /// The agreement (its proposal's id).
    pub agreement: ObjectId,
    /// The provider measured.
    pub provider: flashback_types::PublicKey,
    /// The data-plane endpoint probed.
    pub endpoint: String,
}

/// Probes every live agreement of `consumer` (started, not ended) for `windows` consecutive
/// windows. In each window the agreements are probed concurrently (at most
/// `config.max_concurrent` at once); when the window is over, one attestation per agreement is
/// signed, submitted through `client`'s node, and collected. Takes `windows × config.window`.
///
/// Agreements whose offer the node no longer serves (expired or superseded and collected), or
/// whose endpoint the prober cannot speak to ([`endpoint_of`]), are skipped with a warning.
/// A refused submission is an error.
pub async fn probe_agreements(
    client: &Client,
    consumer: &SecretKey,
    config: &ProbeConfig,
    windows: u32,
) -> Result<Vec<Signed<QosAttestation>>, ClientError> {
    probe_agreements_with(client, consumer, config, windows, |_| {}).await
}

/// [`probe_agreements`], telling `progress` what it does as it goes ([`ProbeEvent`]).
pub async fn probe_agreements_with(
    client: &Client,
    consumer: &SecretKey,
    config: &ProbeConfig,
    windows: u32,
    mut progress: impl FnMut(ProbeEvent),
) -> Result<Vec<Signed<QosAttestation>>, ClientError> {
    config.check()?;
    let me = consumer.public();
    let t = now();
    let mut targets: Vec<(Agreement, String)> = Vec::new();
    let mut endpoints: HashMap<ObjectId, Result<String, String>> = HashMap::new();
    for agreement in client.agreements(Some(me)).await? {
        let proposal = agreement.proposal().body();
        if agreement.consumer() != &me || proposal.start > t || agreement.expires_at() <= t {
            continue;
        }
        let offer_id = proposal.offer_id;
        let endpoint = match endpoints.entry(offer_id) {
            Entry::Occupied(known) => known.get().clone(),
            Entry::Vacant(new) => new
                .insert(offer_endpoint(client, offer_id, agreement.provider()).await)
                .clone(),
        };
        match endpoint {
            Ok(endpoint) => targets.push((agreement, endpoint)),
            Err(reason) => {
                tracing::warn!(agreement = %agreement.proposal_id(), %reason, "agreement skipped");
                progress(ProbeEvent::Skipped {
                    agreement: agreement.proposal_id(),
                    reason,
                });
            }
        }
    }
    progress(ProbeEvent::Plan {
        targets: targets
            .iter()
            .map(|(a, endpoint)| ProbeTarget {
                agreement: a.proposal_id(),
                provider: *a.provider(),
                endpoint: endpoint.clone(),
            })
            .collect(),
        windows,
        window: config.window,
        probes_per_window: config.probes_per_window,
    });

    let slots = Arc::new(Semaphore::new(config.max_concurrent.max(1)));
    let mut attestations = Vec::new();
    for window in 0..windows {
        let started = now();
        targets.retain(|(a, _)| a.expires_at() > started);
        if targets.is_empty() {
            break;
        }
        progress(ProbeEvent::WindowStarted {
            window: window + 1,
            of: windows,
            ends_at: started.saturating_add(config.window.as_secs()),
        });
        let mut running = tokio::task::JoinSet::new();
        for (index, (_, endpoint)) in targets.iter().enumerate() {
            let mut config = config.clone();
            // Distinct blobs per agreement and window, still reproducible from one seed.
            config.seed = config.seed.map(|s| {
                s ^ (u64::from(window) << 32 | index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            });
            let (endpoint, slots) = (endpoint.clone(), slots.clone());
            running.spawn(async move {
                let _slot = slots.acquire_owned().await;
                (index, probe_window(&endpoint, &config).await)
            });
        }
        let mut results = Vec::with_capacity(targets.len());
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok((index, Ok(result))) => results.push((index, result)),
                Ok((index, Err(e))) => {
                    tracing::warn!(agreement = %targets[index].0.proposal_id(), error = %e, "probe window failed");
                }
                Err(e) => return Err(ClientError::Node(format!("probe task failed: {e}"))),
            }
        }
        results.sort_unstable_by_key(|(index, _)| *index);
        let now = now();
        for (index, result) in results {
            let attestation = attest(consumer, &targets[index].0, &result, now)?;
            client
                .submit(&Object::QosAttestation(attestation.clone()))
                .await?;
            progress(ProbeEvent::Attested(Box::new(attestation.clone())));
            attestations.push(attestation);
        }
    }
    Ok(attestations)
}

/// The endpoint of the offer an agreement was made on, or why it cannot be probed.
async fn offer_endpoint(
    client: &Client,
    offer_id: ObjectId,
    provider: &flashback_types::PublicKey,
) -> Result<String, String> {
    let offer = client
        .get(&[offer_id])
        .await
        .map_err(|e| format!("cannot fetch its offer {offer_id}: {e}"))?
        .into_iter()
        .find_map(|o| match o {
            Object::Offer(o) if o.id() == offer_id && &o.body().provider == provider => Some(o),
            _ => None,
        })
        .ok_or_else(|| format!("the node no longer serves its offer {offer_id}"))?;
    endpoint_of(offer.body()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases() {
        assert_eq!(
            http_base("http://127.0.0.1:8080/").expect("http"),
            "http://127.0.0.1:8080"
        );
        assert!(http_base("http://[::1]:80/prefix").is_ok());
        for bad in [
            "https://x",
            "s3://bucket",
            "ftp://x",
            "/blobs",
            "",
            "http://x/?q=1",
        ] {
            assert!(http_base(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_bounds() {
        assert!(ProbeConfig::default().check().is_ok());
        for bad in [
            ProbeConfig {
                window: Duration::from_millis(500),
                ..ProbeConfig::default()
            },
            ProbeConfig {
                probes_per_window: 0,
                ..ProbeConfig::default()
            },
            ProbeConfig {
                blob_bytes: 0,
                ..ProbeConfig::default()
            },
            ProbeConfig {
                range_bytes: 0,
                ..ProbeConfig::default()
            },
            ProbeConfig {
                request_timeout: Duration::ZERO,
                ..ProbeConfig::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
