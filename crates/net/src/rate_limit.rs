//! Per-peer token buckets for inbound requests.

use std::{collections::HashMap, time::Instant};

use libp2p::PeerId;

/// One token bucket per connected peer: `rate` tokens per second, at most `burst` stored.
///
/// Entries are removed when a peer's last connection closes, so the map is bounded by the
/// connection limit.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: HashMap<PeerId, Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    pub(crate) fn new(rate_per_sec: f64, burst: u32) -> Self {
        Self {
            rate: rate_per_sec,
            burst: f64::from(burst),
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `peer` if it has one.
    pub(crate) fn allow(&mut self, peer: PeerId, now: Instant) -> bool {
        let burst = self.burst;
        let bucket = self.buckets.entry(peer).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub(crate) fn forget(&mut self, peer: &PeerId) {
        self.buckets.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn burst_then_refill_at_rate() {
        let mut limiter = RateLimiter::new(10.0, 3);
        let peer = PeerId::random();
        let other = PeerId::random();
        let t0 = Instant::now();
        assert!((0..3).all(|_| limiter.allow(peer, t0)));
        assert!(!limiter.allow(peer, t0), "burst exhausted");
        assert!(limiter.allow(other, t0), "buckets are per peer");
        assert!(
            limiter.allow(peer, t0 + Duration::from_millis(100)),
            "refilled one"
        );
        assert!(!limiter.allow(peer, t0 + Duration::from_millis(100)));
        let later = t0 + Duration::from_secs(60);
        assert_eq!(
            (0..10).filter(|_| limiter.allow(peer, later)).count(),
            3,
            "capped at burst"
        );
        limiter.forget(&peer);
        assert!(!limiter.buckets.contains_key(&peer));
    }
}
