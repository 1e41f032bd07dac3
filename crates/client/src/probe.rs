//! The QoS prober: the consumer's side of reputation. Per live agreement and per window it
//! stores a random object on the provider's data plane **with the agreement's own
//! credentials** (the access grant, opened with the consumer's key), reads random ranges of it
//! back spread over the window, checks each against blake3, and signs a [`QosAttestation`]
//! with the counts and latencies. Providers' reputations are computed from those attestations.
//!
//! It speaks what [`Plane`] speaks: `s3` (SigV4), `https` and `flashback_blob` (bearer
//! tokens). An agreement it cannot probe (no grant from the provider, a protocol it does not
//! speak, an ended agreement) is reported in [`ProbeReport::skipped`] with the reason, never
//! left out silently.
//!
//! A probe **fails** when the data plane refuses the credentials or the object, loses it,
//! answers anything but 200/206, returns bytes whose blake3 differs from the expected slice's,
//! or does not answer within `request_timeout`. A dead endpoint, or revoked or wrong
//! credentials, are not errors of the prober: they make a window with zero successes, which
//! is exactly what the attestation must say.
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
//! let report = probe_agreements(&client, &consumer, &config, 2).await?;
//! for attestation in &report.attestations {
//!     let a = attestation.body();
//!     println!("{}: {}/{} probes ok", a.subject, a.successes, a.probes);
//! }
//! for skipped in &report.skipped {
//!     println!("not probed: {} ({})", skipped.agreement, skipped.reason);
//! }
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flashback_types::clock::now;
use flashback_types::stats::percentile;
use flashback_types::{
    Agreement, ObjectId, PublicKey, QosAttestation, SecretKey, Signed, Timestamp,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::data::Plane;
use crate::http::StatusCode;
use crate::{Client, ClientError};

/// How long an attestation counts: 30 days from its signing.
pub const ATTESTATION_LIFETIME_SECS: u64 = 30 * 24 * 3600;
/// Largest blob a probe stores.
pub const MAX_BLOB_BYTES: usize = 64 << 20;
/// Most probes in one window.
pub const MAX_PROBES_PER_WINDOW: u32 = 10_000;
/// How long `probe_agreements` waits for an access grant it does not have yet.
const GRANT_WAIT: Duration = Duration::from_secs(5);

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

/// Runs one window on `plane`: stores one random object (named by its blake3 on a
/// content-addressed plane, `flashback-probe-<random>` elsewhere), then makes
/// `probes_per_window` range reads at random moments spread over the window, each a success
/// when the status is 206 (or 200 with the whole object) and the blake3 of the bytes equals
/// that of the expected slice. Returns when the window is over, after deleting the object
/// (best effort).
///
/// Errors only for a bad `config`; failures of the data plane are failed probes.
pub async fn probe_window(
    plane: &Plane,
    config: &ProbeConfig,
) -> Result<WindowResult, ClientError> {
    config.check()?;
    let mut rng = match config.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => rand::make_rng(),
    };
    let mut blob = vec![0u8; config.blob_bytes];
    rng.fill(&mut blob[..]);
    let blob = Bytes::from(blob);
    let name = if plane.content_addressed() {
        blake3::hash(&blob).to_hex().to_string()
    } else {
        format!("flashback-probe-{:016x}", rng.random::<u64>())
    };
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
            // Until the data plane holds the object, each probe tries to store it first (a
            // refusal fails that probe).
            let put =
                tokio::time::timeout(config.request_timeout, plane.put_bytes(&name, blob.clone()))
                    .await;
            stored = matches!(put, Ok(Ok(())));
            if !stored {
                match put {
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "probe failed: the object was not stored")
                    }
                    _ => tracing::debug!("probe failed: storing the object timed out"),
                }
                continue;
            }
        }
        let first = rng.random_range(0..=blob.len() - range_len);
        let last = first + range_len - 1;
        let began = Instant::now();
        let answer = tokio::time::timeout(
            config.request_timeout,
            plane.get_range(&name, first as u64, last as u64, blob.len()),
        )
        .await;
        let expected = match &answer {
            Ok(Ok((StatusCode::PARTIAL_CONTENT, _))) => &blob[first..=last],
            Ok(Ok((StatusCode::OK, _))) => &blob[..],
            _ => &[][..],
        };
        match answer {
            Ok(Ok((StatusCode::PARTIAL_CONTENT | StatusCode::OK, body)))
                if blake3::hash(&body) == blake3::hash(expected) =>
            {
                let took = began.elapsed();
                busy += took;
                bytes_checked += body.len() as u64;
                latencies.push(u32::try_from(took.as_millis()).unwrap_or(u32::MAX));
            }
            Ok(Ok((status, _))) => tracing::debug!(%status, "probe failed"),
            Ok(Err(error)) => tracing::debug!(%error, "probe failed"),
            Err(_) => tracing::debug!("probe failed: no answer in time"),
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
    if stored && let Err(error) = plane.delete(&name).await {
        tracing::debug!(%error, "could not delete the probe object");
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

/// An agreement the prober did not measure, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The agreement.
    pub agreement: ObjectId,
    /// Its provider.
    pub provider: PublicKey,
    /// The data protocol of its grant, when there is one.
    pub protocol: Option<String>,
    /// Why it was not probed.
    pub reason: String,
}

/// What [`probe_agreements`] did: the attestations signed and submitted, and every live
/// agreement it could not probe.
#[derive(Debug, Clone, Default)]
pub struct ProbeReport {
    /// Signed and submitted, one per agreement and window.
    pub attestations: Vec<Signed<QosAttestation>>,
    /// Not probed, with the reason.
    pub skipped: Vec<Skipped>,
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
    /// A live agreement that cannot be probed, and why (also in [`ProbeReport::skipped`]).
    Skipped(Skipped),
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
    pub provider: PublicKey,
    /// The data protocol its grant opens.
    pub protocol: String,
    /// The data-plane endpoint probed (the grant's URL; never its credentials).
    pub endpoint: String,
}

/// Probes every live agreement of `consumer` (started, not ended, not terminated) for
/// `windows` consecutive windows, each on the data plane its access grant opens. In each
/// window the agreements are probed concurrently (at most `config.max_concurrent` at once);
/// when the window is over, one attestation per agreement is signed, submitted through
/// `client`'s node, and collected. Takes `windows × config.window`.
///
/// An agreement without a grant, or whose protocol the prober does not speak, is reported in
/// [`ProbeReport::skipped`]. A refused submission is an error.
pub async fn probe_agreements(
    client: &Client,
    consumer: &SecretKey,
    config: &ProbeConfig,
    windows: u32,
) -> Result<ProbeReport, ClientError> {
    probe_agreements_with(client, consumer, config, windows, |_| {}).await
}

/// [`probe_agreements`], telling `progress` what it does as it goes ([`ProbeEvent`]).
pub async fn probe_agreements_with(
    client: &Client,
    consumer: &SecretKey,
    config: &ProbeConfig,
    windows: u32,
    mut progress: impl FnMut(ProbeEvent),
) -> Result<ProbeReport, ClientError> {
    config.check()?;
    let me = consumer.public();
    let t = now();
    let mut report = ProbeReport::default();
    let mut targets: Vec<(Agreement, Arc<Plane>)> = Vec::new();
    let mut plan: Vec<ProbeTarget> = Vec::new();
    for agreement in client.agreements(Some(me)).await? {
        let proposal = agreement.proposal().body();
        if agreement.consumer() != &me || proposal.start > t || agreement.expires_at() <= t {
            continue;
        }
        let skip = |protocol: Option<String>, reason: String| Skipped {
            agreement: agreement.proposal_id(),
            provider: *agreement.provider(),
            protocol,
            reason,
        };
        let record = client
            .agreement_record(agreement.proposal_id(), GRANT_WAIT)
            .await?;
        if record.termination().is_some() {
            continue;
        }
        let opened = match record.grant() {
            None => Err((None, "the provider delivered no access grant".to_owned())),
            Some(grant) => {
                let protocol = grant.body().protocol.name().to_owned();
                flashback_types::seal::open(grant.body(), consumer)
                    .map_err(|e| ClientError::InvalidInput(e.to_string()))
                    .and_then(|c| {
                        let plane = Plane::open(&c, config.request_timeout)?;
                        Ok((plane, c.endpoint.as_str().to_owned()))
                    })
                    .map(|(plane, endpoint)| (plane, endpoint, protocol.clone()))
                    .map_err(|e| (Some(protocol), e.to_string()))
            }
        };
        match opened {
            Ok((plane, endpoint, protocol)) => {
                plan.push(ProbeTarget {
                    agreement: agreement.proposal_id(),
                    provider: *agreement.provider(),
                    protocol,
                    endpoint,
                });
                targets.push((agreement, Arc::new(plane)));
            }
            Err((protocol, reason)) => {
                let skipped = skip(protocol, reason);
                tracing::warn!(agreement = %skipped.agreement, reason = %skipped.reason, "agreement skipped");
                progress(ProbeEvent::Skipped(skipped.clone()));
                report.skipped.push(skipped);
            }
        }
    }
    progress(ProbeEvent::Plan {
        targets: plan,
        windows,
        window: config.window,
        probes_per_window: config.probes_per_window,
    });

    let slots = Arc::new(Semaphore::new(config.max_concurrent.max(1)));
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
        for (index, (_, plane)) in targets.iter().enumerate() {
            let mut config = config.clone();
            // Distinct objects per agreement and window, still reproducible from one seed.
            config.seed = config.seed.map(|s| {
                s ^ (u64::from(window) << 32 | index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            });
            let (plane, slots) = (plane.clone(), slots.clone());
            running.spawn(async move {
                let _slot = slots.acquire_owned().await;
                (index, probe_window(&plane, &config).await)
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
                .submit(&flashback_types::Object::QosAttestation(
                    attestation.clone(),
                ))
                .await?;
            progress(ProbeEvent::Attested(Box::new(attestation.clone())));
            report.attestations.push(attestation);
        }
    }
    Ok(report)
}

/// `probes` store-and-read-back checks of `plane` ([`check_plane`]), one after the other, each
/// with its own random blob of `blob_bytes`; all must pass. `Err` names the first probe that
/// failed (`probe 2 of 3: …`) and why; the probes after it are not made. Zero probes is an
/// error, never a pass.
pub async fn check_plane_repeatedly(
    plane: &Plane,
    probes: u32,
    blob_bytes: usize,
    timeout: Duration,
) -> Result<(), String> {
    if probes == 0 {
        return Err("no probe to make (at least 1 is needed)".into());
    }
    for k in 1..=probes {
        check_plane(plane, blob_bytes, timeout)
            .await
            .map_err(|why| format!("probe {k} of {probes}: {why}"))?;
    }
    Ok(())
}

/// One store-and-read-back of `blob_bytes` random bytes on `plane`, each request within
/// `timeout`: what a consumer checks of a new agreement before counting on it (the same
/// requests and blake3 check as a window's probe). `Err` says which step failed. The object is
/// deleted afterwards (best effort).
pub async fn check_plane(
    plane: &Plane,
    blob_bytes: usize,
    timeout: Duration,
) -> Result<(), String> {
    let mut blob = vec![0u8; blob_bytes.clamp(1, MAX_BLOB_BYTES)];
    rand::make_rng::<StdRng>().fill(&mut blob[..]);
    let blob = Bytes::from(blob);
    let name = if plane.content_addressed() {
        blake3::hash(&blob).to_hex().to_string()
    } else {
        format!(
            "flashback-check-{:016x}",
            rand::make_rng::<StdRng>().random::<u64>()
        )
    };
    match tokio::time::timeout(timeout, plane.put_bytes(&name, blob.clone())).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("storing a {} B blob failed: {e}", blob.len())),
        Err(_) => {
            return Err(format!(
                "storing a {} B blob got no answer in {timeout:?}",
                blob.len()
            ));
        }
    }
    let last = blob.len() as u64 - 1;
    let read = tokio::time::timeout(timeout, plane.get_range(&name, 0, last, blob.len())).await;
    let outcome = match read {
        Ok(Ok((StatusCode::PARTIAL_CONTENT | StatusCode::OK, body)))
            if blake3::hash(&body) == blake3::hash(&blob) =>
        {
            Ok(())
        }
        Ok(Ok((StatusCode::PARTIAL_CONTENT | StatusCode::OK, _))) => {
            Err("the blob read back differs from the one stored (blake3 mismatch)".into())
        }
        Ok(Ok((status, _))) => Err(format!("reading the blob back answered {status}")),
        Ok(Err(e)) => Err(format!("reading the blob back failed: {e}")),
        Err(_) => Err(format!(
            "reading the blob back got no answer in {timeout:?}"
        )),
    };
    if let Err(error) = plane.delete(&name).await {
        tracing::debug!(%error, "could not delete the check object");
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

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
