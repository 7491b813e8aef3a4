//! The one retry schedule of the program: exponential delays with jitter, a
//! cap and an optional elapsed budget. Every retrying caller names its own
//! [`BackoffPolicy`] and keeps a [`Backoff`] per run of attempts.

use std::time::{Duration, Instant};

use rand::Rng;

/// How a delay is drawn below its exponential ceiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    /// Anywhere in `[0, ceiling]`: spreads callers most (the default).
    Full,
    /// In `[ceiling / 2, ceiling]`: spread out, yet each wait at least the
    /// half of the one before, so successive waits visibly grow.
    Equal,
    /// Exactly the ceiling (tests and fixed schedules).
    None,
}

/// A named retry schedule: `initial × 2^attempt`, capped at `max`, jittered,
/// and given up once `max_elapsed` has passed since the first failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub jitter: Jitter,
    /// `None`: retry for as long as the caller wants.
    pub max_elapsed: Option<Duration>,
}

impl BackoffPolicy {
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            jitter: Jitter::Full,
            max_elapsed: None,
        }
    }

    pub const fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    pub const fn with_max_elapsed(mut self, budget: Duration) -> Self {
        self.max_elapsed = Some(budget);
        self
    }

    /// The ceiling of the wait after `failures` failures in a row (1-based).
    pub fn ceiling(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.initial.saturating_mul(1 << doublings).min(self.max)
    }

    /// The wait after `failures` failures in a row, jittered.
    pub fn delay(&self, failures: u32) -> Duration {
        self.delay_with(failures, &mut rand::rng())
    }

    /// [`Self::delay`] with the caller's random source (seeded in tests).
    pub fn delay_with(&self, failures: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(failures);
        let share = match self.jitter {
            Jitter::Full => rng.random_range(0.0..=1.0),
            Jitter::Equal => rng.random_range(0.5..=1.0),
            Jitter::None => 1.0,
        };
        ceiling.mul_f64(share)
    }

    pub fn start(self) -> Backoff {
        Backoff {
            policy: self,
            failures: 0,
            first_failure: None,
        }
    }
}

/// One run of attempts under a policy.
#[derive(Clone, Debug)]
pub struct Backoff {
    policy: BackoffPolicy,
    failures: u32,
    first_failure: Option<Instant>,
}

impl Backoff {
    /// The wait before the next attempt, or `None` once the elapsed budget
    /// is spent (the wait would end after it).
    pub fn next_delay(&mut self) -> Option<Duration> {
        self.next_delay_at(Instant::now())
    }

    pub fn next_delay_at(&mut self, now: Instant) -> Option<Duration> {
        let first = *self.first_failure.get_or_insert(now);
        self.failures = self.failures.saturating_add(1);
        let delay = self.policy.delay(self.failures);
        match self.policy.max_elapsed {
            Some(budget) if now.saturating_duration_since(first) + delay > budget => None,
            _ => Some(delay),
        }
    }

    /// Failures in this run so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A success: the next failure starts from `initial` again.
    pub fn reset(&mut self) {
        self.failures = 0;
        self.first_failure = None;
    }
}

#[cfg(test)]
mod tests;
