//! Exponential backoff with jitter: the one restart/retry delay helper every
//! supervisor in the hub uses.

use std::time::Duration;

use rand::Rng;

#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The next delay: `initial × 2^attempt`, capped, with ±20 % jitter so
    /// tenants restarted together do not retry in lockstep.
    pub fn next_delay(&mut self) -> Duration {
        let exponential = self.initial.saturating_mul(1u32 << self.attempt.min(16));
        self.attempt = self.attempt.saturating_add(1);
        let capped = exponential.min(self.max);
        capped
            .mul_f64(rand::rng().random_range(0.8..=1.2))
            .min(self.max)
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_cap_and_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let first = backoff.next_delay();
        assert!((80..=120).contains(&first.as_millis()), "{first:?}");
        let second = backoff.next_delay();
        assert!((160..=240).contains(&second.as_millis()), "{second:?}");
        for _ in 0..20 {
            assert!(backoff.next_delay() <= Duration::from_secs(2));
        }
        assert_eq!(backoff.attempts(), 22);
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(120));
    }
}
