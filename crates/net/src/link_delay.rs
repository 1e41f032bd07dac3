//! Emulated link latency, jitter and loss, for in-process harnesses and testnets.
//!
//! On the memory transport a byte written by one peer is readable by the other at once, so an
//! in-process harness measures only the CPU work of the peers; and on a machine whose kernel
//! has no `netem` qdisc, a testnet of nodes in network namespaces has links without latency.
//! [`Delayed`] wraps one end of a connection and hands each chunk read from the other end to
//! its reader `delay` after the chunk arrived: a one-way latency per direction, as a link
//! between two machines has. Each chunk keeps its own arrival time, so throughput is not
//! limited by the delay (a link with latency, not a slow one). A chunk's arrival is when the
//! reading connection's task first polls after the write woke it: on a busy machine the task's
//! scheduling delay comes on top of the link's, as if the receiving host were that much slower
//! to take packets in.
//!
//! Jitter adds a uniform draw in `0..=jitter` to each chunk's delay, never reordering bytes (a
//! chunk is released no earlier than the one before it). Loss cannot drop bytes of a reliable
//! stream; what a lost packet costs a TCP stream is a retransmission stall, so a chunk is held
//! one retransmission timeout longer (Linux's: at least 200 ms, here `max(200 ms, 2 × RTT)`)
//! with the probability that at least one of its packets (1448 bytes each) was lost.
//!
//! Set through [`crate::NetConfig::memory_link_delay_ms`] (the memory transport, one delay for
//! every link) or [`crate::NetConfig::links`] (TCP, per destination prefix). QUIC connections
//! are never wrapped.

use std::collections::VecDeque;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{AsyncRead, AsyncWrite};
use libp2p::{Multiaddr, multiaddr::Protocol};
use rand::RngExt as _;
use serde::{Deserialize, Serialize};
use tokio::time::{Instant, Sleep};

/// Bytes read from the other end and not yet handed to the reader, above which reading pauses
/// (the underlying channel then applies its own back-pressure to the writer).
const MAX_IN_FLIGHT: usize = 4 * 1024 * 1024;
/// Size of one read from the underlying channel.
const READ_CHUNK: usize = 16 * 1024;

/// Payload bytes of one TCP segment on an Ethernet path (1500 MTU, IPv4, timestamps).
const SEGMENT_BYTES: usize = 1448;
/// Linux's lowest retransmission timeout.
const MIN_RTO: Duration = Duration::from_millis(200);

/// What one direction of a link does to the bytes crossing it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct LinkShape {
    /// One-way latency.
    pub(crate) delay: Duration,
    /// Upper bound of the uniform extra delay of each chunk.
    pub(crate) jitter: Duration,
    /// Probability (0..=1) that one segment is lost.
    pub(crate) loss: f64,
}

impl LinkShape {
    /// A fixed delay, no jitter, no loss.
    pub(crate) fn delay(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    fn is_none(&self) -> bool {
        self.delay.is_zero() && self.jitter.is_zero() && self.loss <= 0.0
    }

    /// When a chunk of `len` bytes that arrived at `now` is handed to the reader.
    fn release(&self, now: Instant, len: usize) -> Instant {
        let mut at = now + self.delay;
        if !self.jitter.is_zero() {
            at += self.jitter.mul_f64(rand::rng().random::<f64>());
        }
        if self.loss > 0.0 {
            let segments = i32::try_from(len.div_ceil(SEGMENT_BYTES).max(1)).unwrap_or(i32::MAX);
            let lost = 1.0 - (1.0 - self.loss).powi(segments);
            if rand::rng().random::<f64>() < lost {
                at += MIN_RTO.max(self.delay * 4);
            }
        }
        at
    }
}

/// One rule of [`crate::NetConfig::links`]: how the link to every address in `prefix` looks
/// from this node. Meant for testnets that emulate wide-area links on one machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRule {
    /// Remote addresses the rule applies to, in CIDR notation (`10.77.1.7/32`,
    /// `10.78.0.0/16`). The longest matching prefix wins.
    pub prefix: String,
    /// One-way latency added to what this node reads from such a peer, ms (half the round
    /// trip: the peer adds its own half).
    pub delay_ms: u64,
    /// Uniform extra delay of each chunk, `0..=jitter_ms`, ms (bytes are never reordered).
    #[serde(default)]
    pub jitter_ms: u64,
    /// Packet loss in percent (0 to 100), emulated as a retransmission stall (module doc).
    #[serde(default)]
    pub loss_percent: f64,
}

/// [`LinkRule`]s parsed, for lookups by remote address.
#[derive(Debug, Clone, Default)]
pub(crate) struct LinkTable {
    /// (network, prefix length, shape), longest prefix first.
    rules: Vec<(IpAddr, u8, LinkShape)>,
}

impl LinkTable {
    /// Parses the rules; the error names the rule and what is wrong with it.
    pub(crate) fn new(rules: &[LinkRule]) -> Result<Self, String> {
        let mut parsed = Vec::with_capacity(rules.len());
        for rule in rules {
            let (net, len) = parse_cidr(&rule.prefix).ok_or_else(|| {
                format!(
                    "{:?} is not a CIDR prefix such as 10.77.0.0/16",
                    rule.prefix
                )
            })?;
            if !(rule.loss_percent.is_finite() && (0.0..=100.0).contains(&rule.loss_percent)) {
                return Err(format!("{}: loss_percent must be 0 to 100", rule.prefix));
            }
            parsed.push((
                net,
                len,
                LinkShape {
                    delay: Duration::from_millis(rule.delay_ms),
                    jitter: Duration::from_millis(rule.jitter_ms),
                    loss: rule.loss_percent / 100.0,
                },
            ));
        }
        parsed.sort_by_key(|rule| std::cmp::Reverse(rule.1));
        Ok(Self { rules: parsed })
    }

    /// The shape of the link to `remote`: the longest matching rule's; none for an address
    /// without an IP (relayed circuits ride on links that are shaped already) or no match.
    pub(crate) fn shape(&self, remote: &Multiaddr) -> Option<LinkShape> {
        if remote.iter().any(|p| matches!(p, Protocol::P2pCircuit)) {
            return None;
        }
        let ip = remote.iter().find_map(|p| match p {
            Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
            Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
            _ => None,
        })?;
        self.rules
            .iter()
            .find(|(net, len, _)| in_prefix(ip, *net, *len))
            .map(|(_, _, shape)| *shape)
            .filter(|shape| !shape.is_none())
    }
}

fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = text.split_once('/')?;
    let addr: IpAddr = addr.trim().parse().ok()?;
    let len: u8 = len.trim().parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

fn in_prefix(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// One end of a connection whose reads lag the other end's writes by the link's delay.
pub(crate) struct Delayed<S> {
    inner: S,
    shape: LinkShape,
    /// Release instant of the newest chunk: the next one is never released before it.
    last_release: Instant,
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
    pub(crate) fn new(inner: S, shape: LinkShape) -> Self {
        Self {
            inner,
            shape,
            last_release: Instant::now(),
            queue: VecDeque::new(),
            front_offset: 0,
            in_flight: 0,
            ended: false,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
        }
    }
}

impl<S> Delayed<S> {
    /// The release instant of a chunk of `len` bytes arriving now, never before the previous.
    fn release(&mut self, len: usize) -> Instant {
        let at = self
            .shape
            .release(Instant::now(), len)
            .max(self.last_release);
        self.last_release = at;
        at
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
                    let at = self.release(0);
                    self.queue.push_back((at, None));
                }
                Poll::Ready(Ok(n)) => {
                    self.in_flight += n;
                    let chunk = self.scratch.get(..n).unwrap_or_default().to_vec();
                    let at = self.release(n);
                    self.queue.push_back((at, Some(chunk)));
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
        let mut reader = Delayed::new(b, LinkShape::delay(delay));
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

    /// Jitter and loss delay chunks further but never reorder them.
    #[tokio::test(start_paused = true)]
    async fn jitter_and_loss_keep_order() {
        let (a, b) = futures_ringbuf_pair();
        let shape = LinkShape {
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(50),
            loss: 0.5,
        };
        let mut reader = Delayed::new(b, shape);
        let mut writer = a;
        let sent: Vec<u8> = (0..200u8).collect();
        for byte in &sent {
            writer.write_all(&[*byte]).await.expect("write");
            tokio::task::yield_now().await;
        }
        writer.close().await.expect("close");
        let mut got = Vec::new();
        reader.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, sent);
    }

    #[test]
    fn the_longest_matching_prefix_wins() {
        let rule = |prefix: &str, delay_ms| LinkRule {
            prefix: prefix.to_owned(),
            delay_ms,
            jitter_ms: 0,
            loss_percent: 0.0,
        };
        let table = LinkTable::new(&[rule("10.77.0.0/16", 40), rule("10.77.1.7/32", 5)])
            .expect("valid rules");
        let shape = |addr: &str| table.shape(&addr.parse().expect("multiaddr"));
        assert_eq!(
            shape("/ip4/10.77.1.7/tcp/1"),
            Some(LinkShape::delay(Duration::from_millis(5)))
        );
        assert_eq!(
            shape("/ip4/10.77.3.1/tcp/1"),
            Some(LinkShape::delay(Duration::from_millis(40)))
        );
        assert_eq!(shape("/ip4/10.78.0.1/tcp/1"), None);
        assert_eq!(
            shape(
                "/ip4/10.77.1.7/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit"
            ),
            None
        );
        assert!(LinkTable::new(&[rule("10.77.0.0", 1)]).is_err());
        assert!(LinkTable::new(&[rule("10.77.0.0/33", 1)]).is_err());
    }

    /// An in-memory duplex pipe: what one end writes, the other reads.
    fn futures_ringbuf_pair() -> (impl AsyncWrite + Unpin, impl AsyncRead + Unpin) {
        use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};
        let (a, b) = tokio::io::duplex(1024);
        (a.compat_write(), b.compat())
    }
}
