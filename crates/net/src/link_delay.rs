//! Simulated link latency for the in-process memory transport.
//!
//! On the memory transport a byte written by one peer is readable by the other at once, so an
//! in-process harness measures only the CPU work of the peers. [`Delayed`] wraps one end of a
//! connection and hands each chunk read from the other end to its reader `delay` after the
//! chunk arrived: a one-way latency per direction, as a link between two machines has. Each
//! chunk keeps its own arrival time, so throughput is not limited by the delay (a link with
//! latency, not a slow one). A chunk's arrival is when the reading connection's task first
//! polls after the write woke it: on a busy machine the task's scheduling delay comes on top
//! of the link's, as if the receiving host were that much slower to take packets in.
//!
//! Set through [`crate::NetConfig::memory_link_delay_ms`]; TCP and QUIC never use it.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};

/// Bytes read from the other end and not yet handed to the reader, above which reading pauses
/// (the underlying channel then applies its own back-pressure to the writer).
const MAX_IN_FLIGHT: usize = 4 * 1024 * 1024;
/// Size of one read from the underlying channel.
const READ_CHUNK: usize = 16 * 1024;

/// One end of a connection whose reads lag the other end's writes by a fixed delay.
pub(crate) struct Delayed<S> {
    inner: S,
    delay: Duration,
    /// Chunks received and their release instants, oldest first; `None` marks the end of the
    /// stream.
    queue: VecDeque<(Instant, Option<Vec<u8>>)>,
    /// Bytes of the front chunk already handed out.
    front_offset: usize,
    in_flight: usize,
    ended: bool,
    timer: Pin<Box<Sleep>>,
    scratch: Box<[u8]>,
}

impl<S> Delayed<S> {
    pub(crate) fn new(inner: S, delay: Duration) -> Self {
        Self {
            inner,
            delay,
            queue: VecDeque::new(),
            front_offset: 0,
            in_flight: 0,
            ended: false,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
        }
    }
}

impl<S: AsyncRead + Unpin> Delayed<S> {
    /// Moves everything the other end has sent so far into the queue, stamped with its release
    /// instant. Registers the task's waker with the inner stream unless reading is paused.
    fn pull(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        while !self.ended && self.in_flight < MAX_IN_FLIGHT {
            match Pin::new(&mut self.inner).poll_read(cx, &mut self.scratch) {
                Poll::Ready(Ok(0)) => {
                    self.ended = true;
                    self.queue.push_back((Instant::now() + self.delay, None));
                }
                Poll::Ready(Ok(n)) => {
                    self.in_flight += n;
                    let chunk = self.scratch.get(..n).unwrap_or_default().to_vec();
                    self.queue
                        .push_back((Instant::now() + self.delay, Some(chunk)));
                }
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => break,
            }
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Delayed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.pull(cx) {
            return Poll::Ready(Err(e));
        }
        loop {
            let Some((release, chunk)) = this.queue.front() else {
                return Poll::Pending;
            };
            let release = *release;
            if release > Instant::now() {
                this.timer.as_mut().reset(release);
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                continue;
            }
            let Some(chunk) = chunk else {
                return Poll::Ready(Ok(0));
            };
            let rest = chunk.get(this.front_offset..).unwrap_or_default();
            let n = rest.len().min(buf.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
                dst.copy_from_slice(src);
            }
            this.front_offset += n;
            if this.front_offset >= chunk.len() {
                this.in_flight -= chunk.len();
                this.front_offset = 0;
                this.queue.pop_front();
            }
            return Poll::Ready(Ok(n));
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Delayed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{AsyncReadExt, AsyncWriteExt};

    /// Bytes come out in order and whole, and not before the delay has passed since they were
    /// written; the end of the stream is delayed too.
    #[tokio::test(start_paused = true)]
    async fn reads_lag_writes_by_the_delay_and_keep_order() {
        let (a, b) = futures_ringbuf_pair();
        let delay = Duration::from_millis(20);
        let mut reader = Delayed::new(b, delay);
        let mut writer = a;

        let start = Instant::now();
        writer.write_all(b"hello ").await.expect("write");
        writer.write_all(b"world").await.expect("write");
        writer.close().await.expect("close");

        let mut got = Vec::new();
        reader.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, b"hello world");
        assert!(
            Instant::now() - start >= delay,
            "read finished before the delay"
        );
    }

    /// An in-memory duplex pipe: what one end writes, the other reads.
    fn futures_ringbuf_pair() -> (impl AsyncWrite + Unpin, impl AsyncRead + Unpin) {
        use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};
        let (a, b) = tokio::io::duplex(1024);
        (a.compat_write(), b.compat())
    }
}
