//! Adaptive concurrency for a tenant whose server sets no rate limit: the
//! number of requests in flight is bounded by a limit that grows while
//! latency stays near its unloaded baseline and shrinks when latency grows or
//! the server answers 502/503/504, times out or resets (additive increase,
//! multiplicative decrease, with a Vegas-style latency signal).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Smoothed latency within this multiple of the baseline (plus noise) counts as unloaded.
const LATENCY_TOLERANCE: f64 = 1.4;
/// Latency differences below this are scheduling noise on a fast network,
/// not queueing at the server.
const LATENCY_NOISE: Duration = Duration::from_millis(5);
/// Weight of a new sample in the smoothed latency.
const SMOOTHING: f64 = 0.2;
/// Share of the limit kept after an overload answer.
const OVERLOAD_BACKOFF: f64 = 0.75;
/// Share of the limit kept when latency has grown.
const LATENCY_BACKOFF: f64 = 0.9;

/// How one request ended, as far as the server's load is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// An answer that says nothing about overload (2xx, 4xx, a 500 bug).
    Answered,
    /// 502/503/504, a timeout or a reset: the server or its proxy is overloaded.
    Overloaded,
    /// Says nothing about concurrency (a 429 is about rate, handled by the bucket).
    Ignored,
}

/// One finished request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub latency: Duration,
    /// Requests in flight when this one was sent, itself included.
    pub in_flight: usize,
    pub outcome: Outcome,
}

/// The limit and what it is computed from; pure, so it is tested without time.
#[derive(Debug)]
pub(crate) struct AimdLimit {
    limit: usize,
    ceiling: usize,
    baseline: Option<Duration>,
    smoothed: Option<f64>,
    /// Samples since the limit last changed: one change per round of `limit` answers.
    since_change: usize,
}

impl AimdLimit {
    pub fn new(initial: usize, ceiling: usize) -> Self {
        let ceiling = ceiling.max(1);
        Self {
            limit: initial.clamp(1, ceiling),
            ceiling,
            baseline: None,
            smoothed: None,
            since_change: 0,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Feeds one sample and returns the new limit.
    pub fn observe(&mut self, sample: Sample) -> usize {
        self.since_change += 1;
        let round_complete = self.since_change >= self.limit;
        match sample.outcome {
            Outcome::Ignored => {}
            Outcome::Overloaded => {
                if round_complete {
                    self.decrease(OVERLOAD_BACKOFF);
                }
            }
            Outcome::Answered => {
                let latency = sample.latency.as_secs_f64();
                let smoothed = self
                    .smoothed
                    .map_or(latency, |old| old + SMOOTHING * (latency - old));
                self.smoothed = Some(smoothed);
                let baseline = self
                    .baseline
                    .map_or(sample.latency, |old| old.min(sample.latency));
                self.baseline = Some(baseline);
                let loaded = smoothed
                    > baseline.as_secs_f64() * LATENCY_TOLERANCE + LATENCY_NOISE.as_secs_f64();
                if loaded && self.limit == 1 {
                    // One request at a time cannot queue at the server: the
                    // server itself got slower, and this is its new baseline.
                    self.baseline = Some(Duration::from_secs_f64(smoothed));
                } else if loaded && round_complete {
                    self.decrease(LATENCY_BACKOFF);
                } else if !loaded && round_complete && sample.in_flight * 2 >= self.limit {
                    // Grows only when the caller uses the limit it has.
                    self.limit = (self.limit + 1).min(self.ceiling);
                    self.since_change = 0;
                }
            }
        }
        self.limit
    }

    fn decrease(&mut self, factor: f64) {
        let reduced = (self.limit as f64 * factor).floor() as usize;
        self.limit = reduced.min(self.limit.saturating_sub(1)).max(1);
        self.since_change = 0;
    }
}

/// A semaphore whose size follows an [`AimdLimit`]. Shrinking forgets
/// permits as they come back instead of waiting for them.
#[derive(Debug)]
pub(crate) struct AdaptiveConcurrency {
    permits: Semaphore,
    limit: Mutex<AimdLimit>,
    /// Permits to forget when they are returned, after a shrink.
    owed: AtomicUsize,
    in_flight: AtomicUsize,
    current: AtomicUsize,
}

/// A slot for one request; dropping it returns (or retires) the permit.
#[derive(Debug)]
pub(crate) struct Slot<'a> {
    permit: Option<SemaphorePermit<'a>>,
    owner: &'a AdaptiveConcurrency,
    /// Requests in flight when the slot was taken, itself included.
    pub in_flight: usize,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.owner.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(permit) = self.permit.take() {
            let retired = self
                .owner
                .owed
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |owed| {
                    owed.checked_sub(1)
                })
                .is_ok();
            if retired {
                permit.forget();
            }
        }
    }
}

impl AdaptiveConcurrency {
    pub fn new(initial: usize, ceiling: usize) -> Self {
        let limit = AimdLimit::new(initial, ceiling);
        let current = limit.limit();
        Self {
            permits: Semaphore::new(current),
            limit: Mutex::new(limit),
            owed: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            current: AtomicUsize::new(current),
        }
    }

    pub fn limit(&self) -> usize {
        self.current.load(Ordering::Relaxed)
    }

    pub async fn acquire(&self) -> Slot<'_> {
        // The semaphore is never closed (nothing calls `close`), so acquiring cannot fail.
        let permit = self
            .permits
            .acquire()
            .await
            .expect("the concurrency semaphore is never closed");
        let in_flight = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        Slot {
            permit: Some(permit),
            owner: self,
            in_flight,
        }
    }

    /// Requests in flight right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Feeds one finished request to the limit and resizes the semaphore.
    pub fn observe(&self, sample: Sample) -> usize {
        let mut limit = self.limit.lock().unwrap_or_else(PoisonError::into_inner);
        let before = limit.limit();
        let after = limit.observe(sample);
        if after > before {
            let mut grow = after - before;
            // Cancel debts first: those permits are still out.
            while grow > 0
                && self
                    .owed
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |owed| {
                        owed.checked_sub(1)
                    })
                    .is_ok()
            {
                grow -= 1;
            }
            self.permits.add_permits(grow);
        } else if after < before {
            let mut shrink = before - after;
            while shrink > 0 {
                match self.permits.try_acquire() {
                    Ok(permit) => permit.forget(),
                    Err(_) => break,
                }
                shrink -= 1;
            }
            self.owed.fetch_add(shrink, Ordering::AcqRel);
        }
        self.current.store(after, Ordering::Relaxed);
        after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(millis: u64, in_flight: usize) -> Sample {
        Sample {
            latency: Duration::from_millis(millis),
            in_flight,
            outcome: Outcome::Answered,
        }
    }

    fn overloaded() -> Sample {
        Sample {
            latency: Duration::from_millis(5),
            in_flight: 4,
            outcome: Outcome::Overloaded,
        }
    }

    #[test]
    fn steady_latency_grows_the_limit_up_to_the_ceiling() {
        let mut limit = AimdLimit::new(4, 16);
        for _ in 0..1000 {
            let in_flight = limit.limit();
            limit.observe(answered(20, in_flight));
        }
        assert_eq!(limit.limit(), 16);
    }

    #[test]
    fn an_idle_caller_does_not_grow_the_limit() {
        let mut limit = AimdLimit::new(4, 16);
        for _ in 0..1000 {
            limit.observe(answered(20, 1));
        }
        assert_eq!(limit.limit(), 4);
    }

    #[test]
    fn overload_answers_shrink_the_limit_to_one_and_no_further() {
        let mut limit = AimdLimit::new(16, 16);
        let mut seen = Vec::new();
        for _ in 0..200 {
            seen.push(limit.observe(overloaded()));
        }
        assert_eq!(limit.limit(), 1);
        assert!(seen.windows(2).all(|pair| pair[1] <= pair[0]), "{seen:?}");
    }

    #[test]
    fn latency_growing_with_load_stops_the_limit_near_the_knee() {
        // A server that serves 6 at once: beyond that, latency grows with load.
        let mut limit = AimdLimit::new(4, 16);
        let mut history = Vec::new();
        for _ in 0..2000 {
            let in_flight = limit.limit();
            let latency = 20.0 * (in_flight as f64 / 6.0).max(1.0);
            limit.observe(answered(latency as u64, in_flight));
            history.push(limit.limit());
        }
        // Past the knee a request takes 20 ms × limit / 6: at 11, under
        // twice the unloaded latency.
        let settled = &history[1000..];
        assert!(
            settled.iter().all(|limit| (6..=11).contains(limit)),
            "{:?}",
            &settled[..50]
        );
    }

    #[test]
    fn a_server_that_got_slower_for_good_becomes_the_new_baseline() {
        let mut limit = AimdLimit::new(8, 16);
        for _ in 0..100 {
            let in_flight = limit.limit();
            limit.observe(answered(5, in_flight));
        }
        let mut lowest = limit.limit();
        for _ in 0..2000 {
            let in_flight = limit.limit();
            limit.observe(answered(100, in_flight));
            lowest = lowest.min(limit.limit());
        }
        assert_eq!(lowest, 1);
        assert!(limit.limit() > 4, "grows again: {}", limit.limit());
    }

    #[test]
    fn the_limit_never_leaves_one_to_the_ceiling() {
        let mut limit = AimdLimit::new(50, 8);
        assert_eq!(limit.limit(), 8);
        let mut state = 7_u64;
        for _ in 0..5000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let sample = match state >> 61 {
                0 => overloaded(),
                1 => answered(200, 8),
                _ => answered(2 + (state >> 59) % 4, limit.limit()),
            };
            let value = limit.observe(sample);
            assert!((1..=8).contains(&value), "{value}");
        }
        assert_eq!(AimdLimit::new(0, 0).limit(), 1);
    }

    #[tokio::test]
    async fn the_semaphore_follows_the_limit_both_ways() {
        let concurrency = AdaptiveConcurrency::new(2, 4);
        let first = concurrency.acquire().await;
        let second = concurrency.acquire().await;
        assert_eq!(second.in_flight, 2);
        assert!(concurrency.permits.try_acquire().is_err());
        // Two full rounds at steady latency grow the limit to 4.
        for _ in 0..10 {
            concurrency.observe(answered(1, 2));
        }
        assert_eq!(concurrency.limit(), 4);
        let third = concurrency.acquire().await;
        let fourth = concurrency.acquire().await;
        for _ in 0..20 {
            concurrency.observe(overloaded());
        }
        assert_eq!(concurrency.limit(), 1);
        drop((first, second, third));
        assert!(concurrency.permits.try_acquire().is_err(), "still full");
        drop(fourth);
        let only = concurrency.acquire().await;
        assert!(concurrency.permits.try_acquire().is_err());
        drop(only);
    }
}
