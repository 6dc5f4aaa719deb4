//! Token buckets for per-peer inbound rates. A dozen lines of arithmetic, so no crate: the
//! well-known ones (governor) bring clocks and generics this needs none of.

use std::time::Instant;

#[derive(Debug)]
pub(crate) struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// Starts full, so a peer may send one burst right after connecting.
    pub fn new(per_sec: u64, capacity: u64, now: Instant) -> Self {
        Self {
            capacity: capacity as f64,
            per_sec: per_sec as f64,
            tokens: capacity as f64,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.last = now;
    }

    fn has(&mut self, amount: u64, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= amount as f64
    }

    fn take(&mut self, amount: u64) {
        self.tokens -= amount as f64;
    }
}

/// One peer's inbound allowance: messages and bytes, taken together or not at all.
#[derive(Debug)]
pub(crate) struct PeerRate {
    messages: TokenBucket,
    bytes: TokenBucket,
}

impl PeerRate {
    pub fn new(limits: &crate::Limits, now: Instant) -> Self {
        Self {
            messages: TokenBucket::new(
                limits.messages_per_sec.into(),
                limits.message_burst.into(),
                now,
            ),
            bytes: TokenBucket::new(limits.bytes_per_sec, limits.byte_burst, now),
        }
    }

    /// Whether one message of `bytes` fits; if so it is charged.
    pub fn admit(&mut self, bytes: u64, now: Instant) -> bool {
        if self.messages.has(1, now) && self.bytes.has(bytes, now) {
            self.messages.take(1);
            self.bytes.take(bytes);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_burst_then_refills_at_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 5, t0);
        for _ in 0..5 {
            assert!(b.has(1, t0));
            b.take(1);
        }
        assert!(!b.has(1, t0));
        // 0.25 s at 10/s gives 2.5 tokens: two more messages, not three.
        let t1 = t0 + Duration::from_millis(250);
        assert!(b.has(2, t1));
        assert!(!b.has(3, t1));
        // Never above capacity however long the pause.
        let t2 = t0 + Duration::from_secs(3600);
        assert!(b.has(5, t2));
        assert!(!b.has(6, t2));
    }

    #[test]
    fn peer_rate_charges_both_or_neither() {
        let t0 = Instant::now();
        let limits = crate::Limits {
            messages_per_sec: 1,
            message_burst: 3,
            bytes_per_sec: 1,
            byte_burst: 100,
            ..crate::Limits::default()
        };
        let mut rate = PeerRate::new(&limits, t0);
        assert!(rate.admit(60, t0));
        // 60 more bytes do not fit: refused, and no message token is spent on it.
        assert!(!rate.admit(60, t0));
        assert!(rate.admit(40, t0));
        assert!(rate.admit(0, t0));
        assert!(!rate.admit(0, t0), "only 3 messages in the burst");
        assert_eq!(rate.messages.tokens, 0.0);
        assert_eq!(rate.bytes.tokens, 0.0);
    }
}
