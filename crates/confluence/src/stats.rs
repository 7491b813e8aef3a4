//! Per-client counters (shared by every clone of one tenant's client), read
//! as a snapshot for the sync summary and `/status`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::retry::RetryReason;

/// A point-in-time copy of a client's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// `429 Too Many Requests` answers received.
    pub rate_limited: u64,
    /// Attempts that were retried after a transient failure.
    pub retries: u64,
    /// Of those, reads retried because their body came back garbled
    /// (truncated or malformed JSON, an HTML page, nothing).
    pub garbled_retries: u64,
    /// Time requests spent waiting on the local limiter and server pauses.
    pub rate_limit_wait: Duration,
}

impl ClientStats {
    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &ClientStats) -> ClientStats {
        ClientStats {
            requests: self.requests.saturating_sub(earlier.requests),
            rate_limited: self.rate_limited.saturating_sub(earlier.rate_limited),
            retries: self.retries.saturating_sub(earlier.retries),
            garbled_retries: self.garbled_retries.saturating_sub(earlier.garbled_retries),
            rate_limit_wait: self.rate_limit_wait.saturating_sub(earlier.rate_limit_wait),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    rate_limited: AtomicU64,
    retries: AtomicU64,
    garbled_retries: AtomicU64,
    rate_limit_wait_micros: AtomicU64,
}

impl Counters {
    pub fn request_sent(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    pub fn retried(&self, reason: RetryReason) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        if reason == RetryReason::Garbled {
            self.garbled_retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn waited(&self, wait: Duration) {
        let micros = u64::try_from(wait.as_micros()).unwrap_or(u64::MAX);
        self.rate_limit_wait_micros
            .fetch_add(micros, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> ClientStats {
        ClientStats {
            requests: self.requests.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            garbled_retries: self.garbled_retries.load(Ordering::Relaxed),
            rate_limit_wait: Duration::from_micros(
                self.rate_limit_wait_micros.load(Ordering::Relaxed),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reflects_every_counter() {
        let counters = Counters::default();
        counters.request_sent();
        counters.request_sent();
        counters.rate_limited();
        counters.retried(RetryReason::Timeout);
        counters.retried(RetryReason::Garbled);
        counters.waited(Duration::from_millis(250));
        counters.waited(Duration::from_millis(250));
        assert_eq!(
            counters.snapshot(),
            ClientStats {
                requests: 2,
                rate_limited: 1,
                retries: 2,
                garbled_retries: 1,
                rate_limit_wait: Duration::from_millis(500)
            }
        );
    }
}
