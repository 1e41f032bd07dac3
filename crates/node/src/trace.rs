//! Optional trace of what the node stores, for testnets and benchmarks: one line per newly
//! listed object, `<unix millis when listed> <id> <kind>`, appended to `<data_dir>/applied.log`
//! (`NodeConfig::trace_applied`). A runner reads the logs of many nodes after a run to measure
//! when each object reached each listing.

use std::path::PathBuf;

use crate::Listed;
use tokio::io::AsyncWriteExt;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Name of the trace file in the data dir.
pub const APPLIED_LOG: &str = "applied.log";

/// Appends a line per applied object until `stop`. Lines are written with one `write` per
/// burst and no user-space buffer, so a node killed with SIGKILL loses at most the burst being
/// formatted. A receiver that falls behind writes `# lagged <n>` and goes on.
pub(crate) async fn run(
    mut listed: broadcast::Receiver<Listed>,
    path: PathBuf,
    stop: CancellationToken,
) {
    let mut file = match tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .await
    {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot open the applied trace");
            return;
        }
    };
    loop {
        let first = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            received = listed.recv() => received,
        };
        let mut lines = String::new();
        let mut next = Some(first);
        while let Some(received) = next.take() {
            match received {
                Ok(Listed { object, at }) => lines.push_str(&format!(
                    "{} {} {}\n",
                    unix_millis(at),
                    object.id(),
                    object.kind().name()
                )),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    lines.push_str(&format!("# lagged {n}\n"));
                }
                Err(broadcast::error::RecvError::Closed) => {
                    let _ = file.write_all(lines.as_bytes()).await;
                    return;
                }
            }
            next = match listed.try_recv() {
                Ok(object) => Some(Ok(object)),
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    Some(Err(broadcast::error::RecvError::Lagged(n)))
                }
                Err(_) => None,
            };
        }
        if let Err(e) = file.write_all(lines.as_bytes()).await {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the applied trace");
            return;
        }
    }
}

/// The wall-clock time of `at`, in Unix milliseconds.
fn unix_millis(at: std::time::Instant) -> u64 {
    let ago = u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX);
    flashback_types::clock::now_ms().saturating_sub(ago)
}
