//! Confluence Data Center rate limiting: one token bucket per user, the
//! `X-RateLimit-*` and `Retry-After` headers on every authenticated response,
//! and `429` with `{"message":"Rate limit exceeded."}` when the bucket is empty
//! (docs/confluence-api-notes.md §9).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use super::errors::json_response;
use super::options::RateLimit;

/// The outcome of taking a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RateDecision {
    pub allowed: bool,
    pub remaining: u32,
    /// `0` while tokens remain.
    pub retry_after_secs: u64,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub(crate) struct RateLimiter {
    limit: RateLimit,
    /// Lower-cased usernames the limit does not apply to.
    exempt: HashSet<String>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit, exempt: &[String]) -> Self {
        Self {
            limit,
            exempt: exempt.iter().map(|name| name.to_lowercase()).collect(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from the user's bucket; `None` if the user is exempt.
    pub fn take(&self, username: &str) -> Option<RateDecision> {
        let folded = username.to_lowercase();
        if self.exempt.contains(&folded) {
            return None;
        }
        let capacity = f64::from(self.limit.capacity);
        let interval = self.limit.interval.as_secs_f64().max(f64::MIN_POSITIVE);
        let per_second = f64::from(self.limit.fill_rate) / interval;
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(folded).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Some(RateDecision {
                allowed: true,
                remaining: bucket.tokens as u32,
                retry_after_secs: 0,
            });
        }
        let retry_after_secs = if per_second > 0.0 {
            ((1.0 - bucket.tokens) / per_second).ceil().max(1.0) as u64
        } else {
            self.interval_secs()
        };
        Some(RateDecision {
            allowed: false,
            remaining: 0,
            retry_after_secs,
        })
    }

    /// Whole seconds, as the header carries them.
    fn interval_secs(&self) -> u64 {
        self.limit.interval.as_secs().max(1)
    }

    pub fn apply_headers(&self, decision: &RateDecision, headers: &mut HeaderMap) {
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit.capacity));
        headers.insert(
            "x-ratelimit-remaining",
            HeaderValue::from(decision.remaining),
        );
        headers.insert(
            "x-ratelimit-interval-seconds",
            HeaderValue::from(self.interval_secs()),
        );
        headers.insert(
            "x-ratelimit-fillrate",
            HeaderValue::from(self.limit.fill_rate),
        );
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from(decision.retry_after_secs),
        );
    }

    pub fn rejection(&self, decision: &RateDecision) -> Response {
        let mut response =
            json_response(429, &serde_json::json!({"message": "Rate limit exceeded."}));
        self.apply_headers(decision, response.headers_mut());
        response
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_bucket_empties_then_refuses_with_a_retry_hint() {
        let limiter = RateLimiter::new(
            RateLimit {
                capacity: 3,
                fill_rate: 1,
                interval: Duration::from_secs(10),
            },
            &[],
        );
        let remaining: Vec<u32> = (0..3)
            .map(|_| limiter.take("jdoe").expect("limited").remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.take("jdoe").expect("limited");
        assert!(!refused.allowed);
        assert!((1..=10).contains(&refused.retry_after_secs), "{refused:?}");
        assert!(limiter.take("other").expect("own bucket").allowed);
    }

    #[test]
    fn exempt_users_are_not_limited() {
        let limiter = RateLimiter::new(RateLimit::default(), &["Admin".to_owned()]);
        assert_eq!(limiter.take("admin"), None);
    }
}
