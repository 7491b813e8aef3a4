//! When to retry a Confluence request and how long to wait first: exponential
//! backoff with jitter, bounded in attempts and in total time. Only transient
//! failures are retried (429/502/503/504, connection errors, timeouts, a read
//! whose body came back garbled), never an answer that would come back the
//! same (400/401/403/404/409).

use std::time::{Duration, Instant};

use rand::Rng;

use super::settings::RetryPolicy;
use platform::backoff::{BackoffPolicy, Jitter};

/// Why an attempt is being retried; the `reason` label of the retry metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RetryReason {
    RateLimited,
    ServerBusy,
    Connection,
    Timeout,
    /// A read answered 2xx with a cut or replaced body (truncated JSON, a
    /// proxy's HTML page, nothing).
    Garbled,
}

impl RetryReason {
    pub fn label(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::ServerBusy => "server_unavailable",
            Self::Connection => "connection",
            Self::Timeout => "timeout",
            Self::Garbled => "garbled",
        }
    }

    /// Transient statuses: the rate limiter, or a proxy/node that is
    /// overloaded or restarting. A 500 is not among them: it is a server bug
    /// (or CONFSERVER-99908's disguised 403) and answers the same again.
    pub fn for_status(status: u16) -> Option<Self> {
        match status {
            429 => Some(Self::RateLimited),
            502..=504 => Some(Self::ServerBusy),
            _ => None,
        }
    }
}

/// The wait before retry number `retry` (1 for the first retry): the
/// program's one backoff schedule, `initial * 2^(retry-1)` capped at
/// `max_backoff`, with "equal jitter" so the wait lies in `[base/2, base]`:
/// never zero, never above the cap, and concurrent clients spread out.
pub(crate) fn backoff(policy: &RetryPolicy, retry: u32, rng: &mut impl Rng) -> Duration {
    BackoffPolicy::new(policy.initial_backoff, policy.max_backoff)
        .with_jitter(Jitter::Equal)
        .delay_with(retry, rng)
}

/// The attempts and time one logical request may still spend.
#[derive(Debug)]
pub(crate) struct RetryBudget<'a> {
    policy: &'a RetryPolicy,
    started: Instant,
    attempts: u32,
}

impl<'a> RetryBudget<'a> {
    pub fn start(policy: &'a RetryPolicy) -> Self {
        Self {
            policy,
            started: Instant::now(),
            attempts: 0,
        }
    }

    /// Call before each attempt; returns its number (1-based).
    pub fn begin_attempt(&mut self) -> u32 {
        self.attempts += 1;
        self.attempts
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// How long to wait before the next attempt, or `None` when the budget
    /// is spent. `server_wait` (a `Retry-After`) is honoured when longer than
    /// the backoff; a wait that would overrun the total time gives up now
    /// rather than sleeping only to fail.
    pub fn next_delay(
        &self,
        server_wait: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        if self.attempts >= self.policy.max_attempts {
            return None;
        }
        let delay = backoff(self.policy, self.attempts, rng).max(server_wait.unwrap_or_default());
        (self.started.elapsed() + delay <= self.policy.max_elapsed).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            max_elapsed: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }

    #[test]
    fn backoff_doubles_within_jitter_bounds_and_respects_the_cap() {
        let policy = policy();
        let mut rng = StdRng::seed_from_u64(7);
        for retry in 1..=40 {
            let base = Duration::from_millis(100)
                .saturating_mul(1 << (retry - 1).min(30))
                .min(Duration::from_secs(2));
            for _ in 0..200 {
                let wait = backoff(&policy, retry, &mut rng);
                assert!(
                    wait >= base / 2 && wait <= base,
                    "retry {retry}: {wait:?} vs {base:?}"
                );
            }
        }
    }

    #[test]
    fn jitter_actually_spreads_waits() {
        let policy = policy();
        let mut rng = StdRng::seed_from_u64(1);
        let waits: std::collections::HashSet<_> =
            (0..50).map(|_| backoff(&policy, 3, &mut rng)).collect();
        assert!(waits.len() > 40);
    }

    #[test]
    fn budget_stops_after_max_attempts() {
        let policy = policy();
        let mut rng = StdRng::seed_from_u64(3);
        let mut budget = RetryBudget::start(&policy);
        let attempts = loop {
            let attempt = budget.begin_attempt();
            if budget.next_delay(None, &mut rng).is_none() {
                break attempt;
            }
        };
        assert_eq!(attempts, 5);
    }

    #[test]
    fn a_server_wait_longer_than_the_budget_gives_up_at_once() {
        let policy = policy();
        let mut rng = StdRng::seed_from_u64(3);
        let mut budget = RetryBudget::start(&policy);
        budget.begin_attempt();
        assert_eq!(
            budget.next_delay(Some(Duration::from_secs(120)), &mut rng),
            None
        );
        let delay = budget
            .next_delay(Some(Duration::from_secs(5)), &mut rng)
            .unwrap();
        assert_eq!(delay, Duration::from_secs(5));
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        for status in [429, 502, 503, 504] {
            assert!(RetryReason::for_status(status).is_some(), "{status}");
        }
        for status in [200, 204, 400, 401, 403, 404, 409, 500] {
            assert!(RetryReason::for_status(status).is_none(), "{status}");
        }
    }
}
