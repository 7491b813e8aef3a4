//! The tenant's request pacing: how many requests may be in flight (an
//! adaptive limit, see `concurrency`), how fast they may leave (the server's
//! own bucket once its headers describe it, and the operator's optional
//! ceiling), and the server's explicit pauses. When Confluence says wait
//! (`Retry-After` on a 429), the whole tenant waits: a shared "not before"
//! instant that every request honours.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::HeaderMap;

use super::concurrency::{AdaptiveConcurrency, Outcome, Sample, Slot};
use super::pacing::{Pacing, ServerLimit, TokenBucket};

/// A server asking for more than this is misconfigured or hostile; waiting
/// longer than any retry budget would only stall the tenant.
const MAX_SERVER_WAIT: Duration = Duration::from_secs(3600);

const RETRY_AFTER: &str = "retry-after";

/// The operator's optional ceiling on the request rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateCeiling {
    pub requests_per_second: f64,
    /// Requests allowed at once above the rate.
    pub burst: u32,
}

impl RateCeiling {
    /// A ceiling of `requests_per_second` (finite and positive: the config
    /// checks it) with `burst` at once, one second's worth when not given.
    pub fn new(requests_per_second: f64, burst: Option<u32>) -> Self {
        let one_second = requests_per_second.ceil().clamp(1.0, f64::from(u32::MAX)) as u32;
        Self {
            requests_per_second,
            burst: burst.unwrap_or(one_second).max(1),
        }
    }
}

#[derive(Debug)]
struct Buckets {
    /// The server's bucket, while its headers describe one.
    learned: Option<(ServerLimit, TokenBucket)>,
    ceiling: Option<(RateCeiling, TokenBucket)>,
    not_before: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct TenantLimiter {
    concurrency: AdaptiveConcurrency,
    buckets: Mutex<Buckets>,
    /// The longest the tenant pauses for the server: a longer wait fails the
    /// request (its retry budget is spent) and must not stall the next ones.
    max_pause: Duration,
}

/// A request's place in the tenant's pacing: hold it while the request is
/// sent, then hand it back to [`TenantLimiter::finish`].
#[derive(Debug)]
pub(crate) struct Admission<'a> {
    slot: Slot<'a>,
}

impl TenantLimiter {
    /// `ceiling`, when given, was validated positive by the config.
    pub fn new(
        ceiling: Option<RateCeiling>,
        max_in_flight: usize,
        max_in_flight_ceiling: usize,
        max_pause: Duration,
    ) -> Self {
        let now = Instant::now();
        let ceiling = ceiling.map(|ceiling| {
            let burst = f64::from(ceiling.burst);
            (
                ceiling,
                TokenBucket::new(burst, ceiling.requests_per_second, burst, now),
            )
        });
        Self {
            concurrency: AdaptiveConcurrency::new(max_in_flight, max_in_flight_ceiling),
            buckets: Mutex::new(Buckets {
                learned: None,
                ceiling,
                not_before: None,
            }),
            max_pause: max_pause.min(MAX_SERVER_WAIT),
        }
    }

    fn buckets(&self) -> std::sync::MutexGuard<'_, Buckets> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a free slot, the end of any server-imposed pause and a
    /// token; returns the admission and the time spent waiting on rate limits.
    pub async fn acquire(&self) -> (Admission<'_>, Duration) {
        let slot = self.concurrency.acquire().await;
        let mut waited = Duration::ZERO;
        self.wait_for_pause(&mut waited).await;
        let token_wait = {
            let now = Instant::now();
            let mut buckets = self.buckets();
            let learned = buckets
                .learned
                .as_mut()
                .map_or(Duration::ZERO, |(_, bucket)| bucket.reserve(now));
            let ceiling = buckets
                .ceiling
                .as_mut()
                .map_or(Duration::ZERO, |(_, bucket)| bucket.reserve(now));
            learned.max(ceiling).min(MAX_SERVER_WAIT)
        };
        if !token_wait.is_zero() {
            let started = Instant::now();
            tokio::time::sleep(token_wait).await;
            waited += started.elapsed();
        }
        // A 429 may have paused the tenant while this request waited for a token.
        self.wait_for_pause(&mut waited).await;
        (Admission { slot }, waited)
    }

    async fn wait_for_pause(&self, waited: &mut Duration) {
        while let Some(until) = self.pause_until() {
            let started = Instant::now();
            tokio::time::sleep_until(until.into()).await;
            *waited += started.elapsed();
        }
    }

    pub(crate) fn pause_until(&self) -> Option<Instant> {
        self.buckets()
            .not_before
            .filter(|until| *until > Instant::now())
    }

    /// Makes every request of this tenant wait at least `wait` from now.
    pub fn pause(&self, wait: Duration) {
        let Some(until) = Instant::now().checked_add(wait.min(self.max_pause)) else {
            return;
        };
        let mut buckets = self.buckets();
        if buckets.not_before.is_none_or(|current| current < until) {
            buckets.not_before = Some(until);
        }
    }

    /// Ends a request: feeds its latency and outcome to the concurrency limit.
    pub fn finish(&self, admission: Admission<'_>, latency: Duration, outcome: Outcome) {
        self.concurrency.observe(Sample {
            latency,
            in_flight: admission.slot.in_flight,
            outcome,
        });
        drop(admission);
    }

    /// Applies the server's rate-limit headers and returns how long it asked
    /// to wait (`Retry-After`), if it did. A limiter described by the headers
    /// becomes the tenant's bucket, kept at or below the server's `Remaining`;
    /// an answer without them (and not from a proxy in trouble) means the
    /// limiter is off for this account, and the learned bucket is dropped.
    pub fn observe(&self, status: u16, headers: &HeaderMap) -> Option<Duration> {
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, SystemTime::now()));
        let now = Instant::now();
        let limit = ServerLimit::from_headers(headers);
        // Requests sent after this one was answered have taken their tokens already.
        let others = self.concurrency.in_flight().saturating_sub(1) as f64;
        {
            let mut buckets = self.buckets();
            match (limit, &mut buckets.learned) {
                (Some(limit), Some((known, bucket))) => {
                    if !known.same_bucket(&limit) {
                        bucket.resize(f64::from(limit.capacity), limit.per_second(), now);
                        *known = limit;
                    }
                    if let Some(remaining) = limit.remaining {
                        bucket.at_most(f64::from(remaining), now);
                    }
                }
                (Some(limit), None) => {
                    let tokens =
                        limit.remaining.map_or(f64::from(limit.capacity), f64::from) - others;
                    let bucket = TokenBucket::new(
                        f64::from(limit.capacity),
                        limit.per_second(),
                        tokens,
                        now,
                    );
                    buckets.learned = Some((limit, bucket));
                }
                (None, learned) => {
                    if status < 500 && status != 429 {
                        *learned = None;
                    }
                }
            }
            if status == 429
                && let Some((_, bucket)) = &mut buckets.learned
            {
                bucket.at_most(0.0, now);
            }
        }
        if let Some(wait) = retry_after.filter(|wait| !wait.is_zero()) {
            self.pause(wait);
        }
        retry_after
    }

    /// The pacing in force: the stricter of the server's bucket and the
    /// operator's ceiling, or the adaptive concurrency limit alone.
    pub fn pacing(&self) -> Pacing {
        let concurrency_limit = self.concurrency.limit();
        let buckets = self.buckets();
        let learned = buckets.learned.as_ref().map(|(limit, _)| *limit);
        let ceiling = buckets.ceiling.as_ref().map(|(ceiling, _)| *ceiling);
        match (learned, ceiling) {
            (Some(limit), ceiling)
                if ceiling.is_none_or(|c| c.requests_per_second >= limit.per_second()) =>
            {
                Pacing::Learned {
                    capacity: limit.capacity,
                    fill_rate_per_second: limit.per_second(),
                    concurrency_limit,
                }
            }
            (_, Some(ceiling)) => Pacing::Ceiling {
                requests_per_second: ceiling.requests_per_second,
                burst: ceiling.burst,
                concurrency_limit,
            },
            _ => Pacing::Adaptive { concurrency_limit },
        }
    }
}

/// What a finished attempt says about the server's load.
pub(crate) fn outcome_of_status(status: u16) -> Outcome {
    match status {
        429 => Outcome::Ignored,
        502..=504 => Outcome::Overloaded,
        _ => Outcome::Answered,
    }
}

/// `Retry-After` as delay-seconds (`120`, tolerantly `1.5`) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`), relative to `now`. A date in the past
/// means "now"; absurd values are capped.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds.min(MAX_SERVER_WAIT.as_secs()))
    } else if let Ok(seconds) = value.parse::<f64>() {
        if seconds.is_nan() || seconds < 0.0 {
            return None;
        }
        Duration::try_from_secs_f64(seconds).unwrap_or(MAX_SERVER_WAIT)
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

    fn limiter() -> TenantLimiter {
        TenantLimiter::new(None, 4, 16, Duration::from_secs(300))
    }

    fn limited(capacity: &'static str, fill: &'static str, remaining: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit", HeaderValue::from_static(capacity));
        headers.insert("x-ratelimit-fillrate", HeaderValue::from_static(fill));
        headers.insert(
            "x-ratelimit-interval-seconds",
            HeaderValue::from_static("1"),
        );
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static(remaining));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("0"));
        headers
    }

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
        assert_eq!(parse_retry_after("1e300", now), Some(MAX_SERVER_WAIT));
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

    #[tokio::test]
    async fn a_retry_after_pauses_every_request_of_the_tenant() {
        let limiter = limiter();
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        assert_eq!(limiter.observe(503, &headers), Some(Duration::from_secs(1)));
        let started = Instant::now();
        let (_admission, waited) = limiter.acquire().await;
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );
        assert!(waited >= Duration::from_millis(900));
    }

    #[tokio::test]
    async fn an_absurd_retry_after_pauses_no_longer_than_the_retry_budget() {
        let limiter = TenantLimiter::new(None, 4, 16, Duration::from_secs(2));
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("99999999"));
        assert_eq!(limiter.observe(429, &headers), Some(MAX_SERVER_WAIT));
        let until = limiter.pause_until().expect("paused");
        assert!(
            until <= Instant::now() + Duration::from_secs(2),
            "{until:?}"
        );
    }

    /// The input on which the rate-limit fuzz target first stopped: a
    /// `Retry-After` past the budget on a 200, twice, among junk headers.
    /// The limiter reports what the server asked (the retry logic gives up
    /// on it) and holds the tenant back no longer than the budget.
    #[test]
    fn a_long_retry_after_on_a_success_is_reported_but_pauses_within_the_budget() {
        let limiter = limiter();
        let mut headers = HeaderMap::new();
        headers.insert("x-c", HeaderValue::from_static("2026 2WWW9"));
        headers.append(RETRY_AFTER, HeaderValue::from_static("510"));
        headers.append(RETRY_AFTER, HeaderValue::from_static("5."));
        assert_eq!(
            limiter.observe(200, &headers),
            Some(Duration::from_secs(510))
        );
        let until = limiter.pause_until().expect("paused");
        assert!(
            until <= Instant::now() + Duration::from_secs(300),
            "{until:?}"
        );
        assert!(matches!(limiter.pacing(), Pacing::Adaptive { .. }));
    }

    #[tokio::test]
    async fn retry_after_zero_does_not_pause() {
        let limiter = limiter();
        limiter.observe(200, &limited("50", "10", "7"));
        assert!(limiter.pause_until().is_none());
    }

    #[tokio::test]
    async fn the_servers_headers_become_the_tenants_bucket_until_they_disappear() {
        let limiter = limiter();
        assert_eq!(
            limiter.pacing(),
            Pacing::Adaptive {
                concurrency_limit: 4
            }
        );
        limiter.observe(200, &limited("50", "10", "0"));
        assert_eq!(
            limiter.pacing(),
            Pacing::Learned {
                capacity: 50,
                fill_rate_per_second: 10.0,
                concurrency_limit: 4
            }
        );
        // The server's bucket is empty: the next request waits for a refill.
        let started = Instant::now();
        let (admission, waited) = limiter.acquire().await;
        drop(admission);
        assert!(waited >= Duration::from_millis(80), "{waited:?}");
        assert!(started.elapsed() >= Duration::from_millis(80));
        // A proxy's 503 says nothing about the limiter; a plain answer does.
        limiter.observe(503, &HeaderMap::new());
        assert!(matches!(limiter.pacing(), Pacing::Learned { .. }));
        limiter.observe(200, &HeaderMap::new());
        assert_eq!(
            limiter.pacing(),
            Pacing::Adaptive {
                concurrency_limit: 4
            }
        );
    }

    #[tokio::test]
    async fn a_ceiling_lower_than_the_server_wins() {
        let ceiling = RateCeiling {
            requests_per_second: 20.0,
            burst: 5,
        };
        let limiter = TenantLimiter::new(Some(ceiling), 8, 16, Duration::from_secs(300));
        limiter.observe(200, &limited("50", "100", "49"));
        assert!(matches!(limiter.pacing(), Pacing::Ceiling { .. }));
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
