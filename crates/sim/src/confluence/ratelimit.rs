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
    /// The limit in force when the token was taken, for the headers.
    pub limit: RateLimit,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

struct Buckets {
    /// `None`: "Allow unlimited requests".
    limit: Option<RateLimit>,
    by_user: HashMap<String, Bucket>,
}

/// The limiter; its settings can change while requests are served, as an
/// administrator changes them on the admin page.
pub(crate) struct RateLimiter {
    /// Lower-cased usernames the limit does not apply to.
    exempt: HashSet<String>,
    buckets: Mutex<Buckets>,
}

impl RateLimiter {
    pub fn new(limit: Option<RateLimit>, exempt: &[String]) -> Self {
        Self {
            exempt: exempt.iter().map(|name| name.to_lowercase()).collect(),
            buckets: Mutex::new(Buckets {
                limit,
                by_user: HashMap::new(),
            }),
        }
    }

    fn buckets(&self) -> std::sync::MutexGuard<'_, Buckets> {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn limit(&self) -> Option<RateLimit> {
        self.buckets().limit
    }

    /// New settings from now on; users keep their tokens, up to the new capacity.
    pub fn set_limit(&self, limit: Option<RateLimit>) {
        let mut buckets = self.buckets();
        let now = Instant::now();
        if let Some(old) = buckets.limit {
            for bucket in buckets.by_user.values_mut() {
                refill(&old, bucket, now);
            }
        }
        if let Some(new) = limit {
            let capacity = f64::from(new.capacity);
            for bucket in buckets.by_user.values_mut() {
                bucket.tokens = bucket.tokens.min(capacity);
            }
        }
        buckets.limit = limit;
    }

    /// Takes one token from the user's bucket; `None` if the user is exempt
    /// or rate limiting is off.
    pub fn take(&self, username: &str) -> Option<RateDecision> {
        let folded = username.to_lowercase();
        if self.exempt.contains(&folded) {
            return None;
        }
        let mut buckets = self.buckets();
        let limit = buckets.limit?;
        let now = Instant::now();
        let bucket = buckets.by_user.entry(folded).or_insert(Bucket {
            tokens: f64::from(limit.capacity),
            updated: now,
        });
        refill(&limit, bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Some(RateDecision {
                allowed: true,
                remaining: bucket.tokens as u32,
                retry_after_secs: 0,
                limit,
            });
        }
        let per_second = per_second(&limit);
        let retry_after_secs = if per_second > 0.0 {
            ((1.0 - bucket.tokens) / per_second).ceil().max(1.0) as u64
        } else {
            interval_secs(&limit)
        };
        Some(RateDecision {
            allowed: false,
            remaining: 0,
            retry_after_secs,
            limit,
        })
    }

    pub fn apply_headers(&self, decision: &RateDecision, headers: &mut HeaderMap) {
        let limit = &decision.limit;
        headers.insert("x-ratelimit-limit", HeaderValue::from(limit.capacity));
        headers.insert(
            "x-ratelimit-remaining",
            HeaderValue::from(decision.remaining),
        );
        headers.insert(
            "x-ratelimit-interval-seconds",
            HeaderValue::from(interval_secs(limit)),
        );
        headers.insert("x-ratelimit-fillrate", HeaderValue::from(limit.fill_rate));
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

fn per_second(limit: &RateLimit) -> f64 {
    f64::from(limit.fill_rate) / limit.interval.as_secs_f64().max(f64::MIN_POSITIVE)
}

fn refill(limit: &RateLimit, bucket: &mut Bucket, now: Instant) {
    let elapsed = now.duration_since(bucket.updated).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * per_second(limit)).min(f64::from(limit.capacity));
    bucket.updated = now;
}

/// Whole seconds, as the header carries them.
fn interval_secs(limit: &RateLimit) -> u64 {
    limit.interval.as_secs().max(1)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_bucket_empties_then_refuses_with_a_retry_hint() {
        let limiter = RateLimiter::new(
            Some(RateLimit {
                capacity: 3,
                fill_rate: 1,
                interval: Duration::from_secs(10),
            }),
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
        let limiter = RateLimiter::new(Some(RateLimit::default()), &["Admin".to_owned()]);
        assert_eq!(limiter.take("admin"), None);
    }

    #[test]
    fn new_settings_apply_to_the_next_request() {
        let limiter = RateLimiter::new(None, &[]);
        assert_eq!(limiter.take("jdoe"), None);
        let small = RateLimit {
            capacity: 2,
            fill_rate: 1,
            interval: Duration::from_secs(60),
        };
        limiter.set_limit(Some(RateLimit::default()));
        assert_eq!(limiter.take("jdoe").expect("limited").remaining, 49);
        limiter.set_limit(Some(small));
        let decision = limiter.take("jdoe").expect("limited");
        assert_eq!((decision.remaining, decision.limit), (1, small));
        limiter.set_limit(None);
        assert_eq!(limiter.take("jdoe"), None);
    }
}
