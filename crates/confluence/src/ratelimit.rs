//! The tenant's request pacing: a token bucket (governor) at the configured
//! rate and burst, a cap on concurrent requests, and the server's own
//! feedback. When Confluence says wait (`Retry-After`, or no tokens left in
//! its bucket), the whole tenant waits: a shared "not before" instant that
//! every request honours.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;
use tokio::sync::{Semaphore, SemaphorePermit};

/// A server asking for more than this is misconfigured or hostile; waiting
/// longer than any retry budget would only stall the tenant.
const MAX_SERVER_WAIT: Duration = Duration::from_secs(3600);

const RETRY_AFTER: &str = "retry-after";
const REMAINING: &str = "x-ratelimit-remaining";
const FILL_RATE: &str = "x-ratelimit-fillrate";
const INTERVAL_SECONDS: &str = "x-ratelimit-interval-seconds";

#[derive(Debug)]
pub(crate) struct TenantLimiter {
    bucket: DefaultDirectRateLimiter,
    in_flight: Semaphore,
    not_before: Mutex<Option<Instant>>,
}

impl TenantLimiter {
    /// `requests_per_second` and `burst` are validated positive by the config.
    pub fn new(requests_per_second: f64, burst: u32, max_in_flight: usize) -> Self {
        let period = Duration::try_from_secs_f64(1.0 / requests_per_second.max(f64::MIN_POSITIVE))
            .unwrap_or(Duration::from_secs(1))
            .max(Duration::from_nanos(1));
        // `period` is at least 1ns, the one case `with_period` refuses.
        let quota =
            Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN));
        let quota = quota.allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Self {
            bucket: RateLimiter::direct(quota),
            in_flight: Semaphore::new(max_in_flight.max(1)),
            not_before: Mutex::new(None),
        }
    }

    /// Waits for a free slot, the end of any server-imposed pause and a
    /// token; returns the slot and the time spent waiting on rate limits.
    pub async fn acquire(&self) -> (SemaphorePermit<'_>, Duration) {
        // The semaphore is never closed (nothing calls `close`), so acquiring cannot fail.
        let permit = self
            .in_flight
            .acquire()
            .await
            .expect("the in-flight semaphore is never closed");
        let mut waited = Duration::ZERO;
        loop {
            if let Some(until) = self.pause_until() {
                let started = Instant::now();
                tokio::time::sleep_until(until.into()).await;
                waited += started.elapsed();
            }
            let started = Instant::now();
            self.bucket.until_ready().await;
            waited += started.elapsed();
            // A 429 may have paused the tenant while this request waited for a token.
            if self.pause_until().is_none() {
                break;
            }
        }
        (permit, waited)
    }

    fn pause_until(&self) -> Option<Instant> {
        let guard = self
            .not_before
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.filter(|until| *until > Instant::now())
    }

    /// Makes every request of this tenant wait at least `wait` from now.
    pub fn pause(&self, wait: Duration) {
        let Some(until) = Instant::now().checked_add(wait.min(MAX_SERVER_WAIT)) else {
            return;
        };
        let mut guard = self
            .not_before
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.is_none_or(|current| current < until) {
            *guard = Some(until);
        }
    }

    /// Applies the server's rate-limit headers and returns how long it asked
    /// to wait (`Retry-After`), if it did. `Retry-After: 0` means tokens
    /// remain; `X-RateLimit-Remaining: 0` without it still means the next
    /// request would be refused, so the tenant waits for one refill.
    pub fn observe(&self, headers: &HeaderMap) -> Option<Duration> {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let retry_after =
            header(RETRY_AFTER).and_then(|value| parse_retry_after(value, SystemTime::now()));
        let refill = (header(REMAINING).and_then(|v| v.trim().parse::<f64>().ok()) == Some(0.0))
            .then(|| token_refill_time(header(FILL_RATE), header(INTERVAL_SECONDS)))
            .flatten();
        let wait = match (retry_after, refill) {
            (Some(server), Some(refill)) => Some(server.max(refill)),
            (server, refill) => server.or(refill),
        };
        if let Some(wait) = wait.filter(|wait| !wait.is_zero()) {
            self.pause(wait);
        }
        retry_after
    }
}

/// Time for the server's bucket to gain one token: interval / fill rate.
fn token_refill_time(fill_rate: Option<&str>, interval_seconds: Option<&str>) -> Option<Duration> {
    let fill_rate: f64 = fill_rate?
        .trim()
        .parse()
        .ok()
        .filter(|rate: &f64| *rate > 0.0)?;
    let interval: f64 = interval_seconds
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1.0);
    Duration::try_from_secs_f64(interval / fill_rate)
        .ok()
        .map(|wait| wait.min(MAX_SERVER_WAIT))
}

/// `Retry-After` as delay-seconds (`120`, tolerantly `1.5`) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`), relative to `now`. A date in the past
/// means "now"; absurd values are capped.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds.min(MAX_SERVER_WAIT.as_secs()))
    } else if let Ok(seconds) = value.parse::<f64>() {
        Duration::try_from_secs_f64(seconds).ok()?
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_SERVER_WAIT))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn retry_after_as_seconds() {
        let now = SystemTime::now();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after("99999999999", now), Some(MAX_SERVER_WAIT));
    }

    #[test]
    fn retry_after_as_http_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let later = "Wed, 21 Oct 2015 07:28:07 GMT";
        assert_eq!(parse_retry_after(later, now), Some(Duration::from_secs(7)));
        let earlier = "Wed, 21 Oct 2015 07:27:00 GMT";
        assert_eq!(parse_retry_after(earlier, now), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_garbage_is_ignored() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
    }

    #[test]
    fn empty_server_bucket_pauses_for_one_refill() {
        assert_eq!(
            token_refill_time(Some("10"), Some("1")),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            token_refill_time(Some("2"), None),
            Some(Duration::from_millis(500))
        );
        assert_eq!(token_refill_time(Some("0"), Some("1")), None);
    }

    #[tokio::test]
    async fn a_retry_after_pauses_every_request_of_the_tenant() {
        let limiter = TenantLimiter::new(1000.0, 10, 4);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        assert_eq!(limiter.observe(&headers), Some(Duration::from_secs(1)));
        let started = Instant::now();
        let (_permit, waited) = limiter.acquire().await;
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );
        assert!(waited >= Duration::from_millis(900));
    }

    #[tokio::test]
    async fn retry_after_zero_does_not_pause() {
        let limiter = TenantLimiter::new(1000.0, 10, 4);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("0"));
        headers.insert(REMAINING, HeaderValue::from_static("7"));
        limiter.observe(&headers);
        assert!(limiter.pause_until().is_none());
    }

    #[tokio::test]
    async fn the_bucket_allows_the_burst_then_paces() {
        let limiter = TenantLimiter::new(20.0, 5, 8);
        let started = Instant::now();
        for _ in 0..5 {
            drop(limiter.acquire().await);
        }
        assert!(started.elapsed() < Duration::from_millis(40));
        for _ in 0..4 {
            drop(limiter.acquire().await);
        }
        // Four more tokens at 20/s take about 200 ms.
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "{:?}",
            started.elapsed()
        );
    }
}
